#ifndef SANDBOX_H
#define SANDBOX_H

#include <stdint.h>

/*
 * Confinement of the roles (docs/design.md, least-privilege-facts 5-7):
 * Landlock restricts the file system to the role's tree, seccomp to the
 * system calls of its job.  Order: capabilities dropped, no_new_privs,
 * then sandbox_enter(), before the first byte from the peer is read.
 */

enum sandbox_role {
	SB_READER,   /* read beneath the tree; write only fds 1 and 2 */
	SB_WRITER,   /* read and write beneath the tree (the repository) */
	SB_RESTORER, /* read and write beneath the tree (the destination) */
	SB_MOUNTER,  /* capback mount: the writer's calls; Landlock gives it
		      * the repository to read and only its cache to write */
};

/* Landlock rights (abstract; mapped to what the kernel's ABI knows). */
#define SB_FS_READ  0x1u /* read files and list directories */
#define SB_FS_WRITE 0x2u /* create, write, remove, rename, link */
#define SB_FS_RMDIR 0x4u /* only remove directories (the tree's parent) */

struct sandbox_rule {
	int fd; /* a directory or file; borrowed */
	unsigned rights;
};

/*
 * sandbox_enter(role, rules, n):
 * Apply Landlock (every right handled, only ${rules} granted; TCP and,
 * from ABI 6, abstract sockets and signals scoped) and the role's seccomp
 * allow-list: exec and ptrace kill the process, sockets fail with EPERM,
 * any other call not on the list fails with EPERM; path-based chmod,
 * chown, utimes and xattr changes are not on the writer's and reader's
 * lists.  Sets no_new_privs.  Fatal if a step fails where the kernel
 * supports it; a kernel without Landlock is logged once ("not
 * confined by Landlock") and the role goes on under seccomp.  Returns the
 * Landlock ABI in force (0 for none).
 */
int
sandbox_enter(enum sandbox_role role, const struct sandbox_rule *rules, int n);

/*
 * sandbox_narrow(rules, n): after sandbox_enter, a further Landlock layer
 * (the allowed accesses are those of both): the writer narrows to the
 * repository once it has created it, the restorer to the destination.
 */
void sandbox_narrow(const struct sandbox_rule *rules, int n);

/*
 * sandbox_keep_caps(keep, n): keep at most the capabilities ${keep} (those
 * of them we hold), drop every other one from the permitted, effective,
 * inheritable, ambient and (if we may) bounding sets; no core dumps, not
 * dumpable.  Started as root (CAP_SETPCAP in effect) it also locks the
 * securebits (NOROOT, NO_SETUID_FIXUP, KEEP_CAPS, NO_CAP_AMBIENT_RAISE)
 * and empties the bounding set.  Fatal if the kernel refuses.
 */
void sandbox_keep_caps(const int *keep, int n);

/*
 * sandbox_chroot(dirfd): make ${dirfd} the root directory and the working
 * directory, then drop CAP_SYS_CHROOT for good.  Every path the process
 * names from then on, absolute, relative, through "..", a symlink or
 * a renamed directory, resolves beneath it; /proc is out of reach.  This
 * is what bounds the restorer's path-based metadata calls, which neither
 * seccomp nor Landlock (ABI <= 7) can see.  Needs CAP_SYS_CHROOT (EPERM
 * without).  0, or -1 with errno (ENOSYS in builds without the sandbox).
 */
int sandbox_chroot(int dirfd);

/*
 * sandbox_clear_env(keep): empty the environment (HOME, LANG, PATH, LD_*,
 * ...: nothing of it is used), keeping only the test suite's permission
 * for builds without the sandbox and, if asked in ${keep}, a TZ that is a
 * zone name or POSIX rule (no file path, no "..") and a TMPDIR that is an
 * absolute directory owned by us or root and closed to others (or
 * sticky).  A value that fails its check is dropped with a warning.
 */
#define SB_ENV_TZ     0x1u
#define SB_ENV_TMPDIR 0x2u
void sandbox_clear_env(unsigned keep);

/* sandbox_close_fds(first): close every descriptor from ${first} up. */
void sandbox_close_fds(int first);

/* sandbox_landlock_abi(): the kernel's Landlock ABI, 0 if none. */
int sandbox_landlock_abi(void);

/*
 * sandbox_selftest(role, rules, n, inside, outside, victim):
 * For each attack, fork; the child confines itself exactly as
 * sandbox_enter(role, rules, n) does and tries it (inside: a directory
 * beneath the tree, outside: one beyond it, victim: a process of the
 * same user).  Prints one line per attack, "ACTION: denied (HOW)" or
 * "ACTION: ALLOWED", and returns how many were allowed that must not be.
 */
int sandbox_selftest(enum sandbox_role role, const struct sandbox_rule *rules,
    int n, const char *inside, const char *outside, int victim);

/*
 * sandbox_selftest_exit(role, rules, n, inside, arg): the roles'
 * --sandbox-test OUTSIDE:PID: run sandbox_selftest and exit with 0 if no
 * attack got through, else 1.
 */
void
sandbox_selftest_exit(enum sandbox_role role, const struct sandbox_rule *rules,
    int n, const char *inside, const char *arg) __attribute__((noreturn));

#endif
