#ifndef FORCED_H
#define FORCED_H

/*
 * Roles run as an SSH forced command ("--serve"): the client's request
 * comes from SSH_ORIGINAL_COMMAND and is parsed here, never by a shell,
 * and the one path it names must lie beneath the key's restrict path.
 */

/*
 * forced_request(role, what, argc):
 * The words of SSH_ORIGINAL_COMMAND: plain words of safe characters and
 * single-quoted strings (with \' between), nothing a shell would expand.
 * The first word must be ${role} (any directory before it is ignored).
 * Fatal, naming the problem, on anything else or a missing request (the
 * key "only serves capback ${what}"), and on a request longer than
 * FORCED_REQUEST_MAX.  The words stay allocated until exit.
 */
char **forced_request(const char *role, const char *what, int *argc);
/*
 * The longest request taken, in bytes (the kernel passes at most 128 KiB
 * in one environment string).  Parsing holds one copy of it, plus a
 * pointer per word.
 */
#define FORCED_REQUEST_MAX (64u * 1024)

/*
 * forced_open_beneath(restrict_path, path, base):
 * ${path} must be absolute, without "." or ".." components, and lie
 * beneath ${restrict_path}; every component is then opened without
 * following a symlink.  With ${base} NULL: returns a directory fd of
 * ${path} itself.  Otherwise ${path} must lie strictly beneath it (it is
 * to be made or replaced): returns a directory fd of its parent and sets
 * *base to the last component, one name, which need not exist.
 * Fatal with a message on any violation.
 */
int forced_open_beneath(const char *restrict_path, const char *path,
    const char **base);

#endif
