#ifndef LOG_H
#define LOG_H

#include <stdio.h>

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

/*
 * log_name(p, len): a name from a source or a repository as a person
 * reads it (list files, compare's and run's reports, ...): printable
 * ASCII and UTF-8 as they are; control characters (C0, DEL, C1), the
 * bidi controls, bytes that are not UTF-8 and '\' itself as \xNN, so a
 * name can neither move the cursor nor start a line of its own.  Never
 * truncated for a path of up to 4096 bytes.  Rotating static buffers,
 * as log_quote.
 */
const char *log_name(const char *p, unsigned long len);

/*
 * log_text(p, len): a line of text that came from another program (a
 * role's log, a peer's message) as log_name shows a name, but '\' kept:
 * the names in it were quoted by its writer.
 */
const char *log_text(const char *p, unsigned long len);

/*
 * log_json_str(f, p, len): ${p} as a JSON string on ${f} that reads back
 * as its bytes: '"', '\', control characters and the characters log_name
 * would not show (C1, bidi controls) as JSON escapes, other UTF-8 as it
 * is, a byte that is not UTF-8 as the escape \udcNN (the lone surrogate
 * U+DC00 + byte, as Python's surrogateescape decodes it).
 */
void log_json_str(FILE *f, const char *p, unsigned long len);

/* log_bytes(buf, len, b): "512 B", "1.5 KiB", ... "3.2 TiB"; ${buf}. */
const char *log_bytes(char *buf, size_t len, unsigned long long b);

/* log_json_text(f, p, len): ${p} as a JSON string, shown as log_text
 * shows a peer's text. */
void log_json_text(FILE *f, const char *p, unsigned long len);

/*
 * log_yaml_scalar(f, s): ${s} (shown as log_name shows a name) as a YAML
 * scalar on ${f}: plain when YAML reads it back as that string, else
 * double-quoted.  No newline.
 */
void log_yaml_scalar(FILE *f, const char *s, unsigned long len);

/*
 * A progress line on stderr (for a terminal): log_progress redraws
 * "N files, SIZE WHAT (RATE/s), ETA  PATH" in place at most twice a
 * second (the ETA when ${total} files are expected, 0: none);
 * log_progress_end clears it.  Roles call them when asked (--progress).
 */
struct log_progress {
	double start, last;
	unsigned long long total;	/* files expected, 0 unknown */
	unsigned long long total_bytes; /* or bytes (set after start) */
	int drawn;
};
void log_progress_start(struct log_progress *p, unsigned long long total);
void log_progress(struct log_progress *p, unsigned long long files,
    unsigned long long bytes, const char *what, const char *path,
    unsigned long len);
void log_progress_end(struct log_progress *p);

#endif
