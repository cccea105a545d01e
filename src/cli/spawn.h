#ifndef SPAWN_H
#define SPAWN_H

#include <stddef.h>

/*
 * spawn_pair(argv_a, argv_b):
 * Run two role programs joined by two pipes, one each way (each reads
 * the other's output on its stdin; stderr is shared with us, a remote
 * role's (argv[0] an absolute path: the schema's shell) through a relay
 * that escapes control characters), wait for both and return their exit
 * statuses in *st_a, *st_b (128+signal when killed).
 * argv[0] of each is a role binary name, looked up next to this program
 * (or in $CAPBACK_LIBEXEC).  Returns 0 or -1 (could not start).
 */
int
spawn_pair(char *const argv_a[], char *const argv_b[], int *st_a, int *st_b);

/*
 * spawn_pair_out(argv_a, argv_b, out_b, st_a, st_b): as spawn_pair, and
 * the second role also gets our descriptor ${out_b} (e.g. 1, our stdout)
 * as its fd 3; the first role does not.
 */
int spawn_pair_out(char *const argv_a[], char *const argv_b[], int out_b,
    int *st_a, int *st_b);

/* spawn_libexec_dir(): the directory holding the role binaries. */
const char *spawn_libexec_dir(void);

/* spawn_installed_libexec_dir(): where the installed roles are
 * (CAPBACK_LIBEXEC, else the configured directory), even when this
 * program runs from its build directory: what setup configures. */
const char *spawn_installed_libexec_dir(void);

/* spawn_one(argv, st): run one role with our stdio; its status in *st. */
int spawn_one(char *const argv[], int *st);

/*
 * spawn_capture(argv, max, len, st): run one role (or a remote one) and
 * return what it printed on standard output (NUL-terminated, *len
 * bytes, malloc'd); fatal beyond ${max} bytes.  Its exit status in *st.
 */
char *spawn_capture(char *const argv[], size_t max, size_t *len, int *st);

/*
 * spawn_remote_argv(schema, host, argv): the role ${argv} run on ${host}
 * through the remote schema ("{h}" or "%s" stands for the host, the
 * role's command is appended, quoted): a new argv for /bin/sh -c,
 * allocated (out[2] too).  On the host the role is found in PATH, or its
 * SSH key's forced command takes the request.  Fatal without {h}.
 */
char **
spawn_remote_argv(const char *schema, const char *host, char *const argv[]);

#endif
