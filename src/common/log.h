#ifndef LOG_H
#define LOG_H

/*
 * Messages to stderr for role mains and the CLI (library layers never
 * print).  Every line starts with the program prefix set by log_init.
 * Verbosity follows rdiff-backup: 0 silent, 1 fatal, 2 errors,
 * 3 warnings/notes (default), 4 info, 5+ debug.
 */

void log_init(const char *prefix, int verbosity);
int log_verbosity(void);
void
log_msg(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#define log_error(...) log_msg(2, __VA_ARGS__)
#define log_warn(...)  log_msg(3, __VA_ARGS__)
#define log_info(...)  log_msg(4, __VA_ARGS__)
#define log_debug(...) log_msg(5, __VA_ARGS__)

/* fatal(fmt, ...): print at level 1 and exit(1).  Role mains and CLI only. */
void
fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/*
 * log_quote(p, len): a printable rendering of the byte string for
 * messages (non-printable bytes as \xNN).  Returns a pointer to one of a
 * few rotating static buffers; truncated beyond 1000 bytes.
 */
const char *log_quote(const char *p, unsigned long len);

#endif
