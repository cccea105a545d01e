#include "sandbox.h"

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/capability.h>
#include <sys/ioctl.h>
#include <sys/prctl.h>
#include <sys/sendfile.h>
#include <sys/resource.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <netinet/in.h>
#include <arpa/inet.h>
#include <linux/sockios.h>
#include <unistd.h>

#include <seccomp.h>

#include "log.h"

/* securebits as libcap's PURE1E_INIT sets them: NOROOT, NO_SETUID_FIXUP,
 * KEEP_CAPS locked, NO_CAP_AMBIENT_RAISE, each with its lock (0xef). */
#define SANDBOX_SECBITS_LOCKED 0xefu

/* Landlock, from the kernel's UAPI (Debian's headers stop at ABI 2). */
#define LL_CREATE_RULESET_VERSION (1u << 0)
#define LL_RULE_PATH_BENEATH	  1
#define LL_FS_EXECUTE		  (1ull << 0)
#define LL_FS_WRITE_FILE	  (1ull << 1)
#define LL_FS_READ_FILE		  (1ull << 2)
#define LL_FS_READ_DIR		  (1ull << 3)
#define LL_FS_REMOVE_DIR	  (1ull << 4)
#define LL_FS_REMOVE_FILE	  (1ull << 5)
#define LL_FS_MAKE_CHAR		  (1ull << 6)
#define LL_FS_MAKE_DIR		  (1ull << 7)
#define LL_FS_MAKE_REG		  (1ull << 8)
#define LL_FS_MAKE_SOCK		  (1ull << 9)
#define LL_FS_MAKE_FIFO		  (1ull << 10)
#define LL_FS_MAKE_BLOCK	  (1ull << 11)
#define LL_FS_MAKE_SYM		  (1ull << 12)
#define LL_FS_REFER		  (1ull << 13) /* ABI 2 */
#define LL_FS_TRUNCATE		  (1ull << 14) /* ABI 3 */
#define LL_FS_IOCTL_DEV		  (1ull << 15) /* ABI 5 */
#define LL_NET_BIND_TCP		  (1ull << 0)  /* ABI 4 */
#define LL_NET_CONNECT_TCP	  (1ull << 1)
#define LL_SCOPE_ABSTRACT_UNIX	  (1ull << 0) /* ABI 6 */
#define LL_SCOPE_SIGNAL		  (1ull << 1)
/* Rights that apply to a file (not a directory) in a rule. */
#define LL_FS_FILE_RIGHTS                                                      \
	(LL_FS_EXECUTE | LL_FS_WRITE_FILE | LL_FS_READ_FILE | LL_FS_TRUNCATE | \
	    LL_FS_IOCTL_DEV)

#ifndef SYS_landlock_create_ruleset
#define SYS_landlock_create_ruleset 444
#define SYS_landlock_add_rule	    445
#define SYS_landlock_restrict_self  446
#endif

struct ll_ruleset_attr {
	uint64_t handled_access_fs;
	uint64_t handled_access_net;
	uint64_t scoped;
};

struct ll_path_beneath_attr {
	uint64_t allowed_access;
	int32_t parent_fd;
} __attribute__((packed));

void
sandbox_keep_caps(const int *keep, int n)
{
	cap_t caps = cap_get_proc(), want = cap_init();
	struct rlimit rl = { 0, 0 };
	cap_flag_value_t setpcap = CAP_CLEAR;
	cap_value_t v;
	int i;

	if (caps == NULL || want == NULL)
		fatal("cannot read capabilities: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		cap_flag_value_t has = CAP_CLEAR;
		cap_value_t c = (cap_value_t)keep[i];

		cap_get_flag(caps, c, CAP_PERMITTED, &has);
		if (has == CAP_SET) {
			cap_set_flag(want, CAP_PERMITTED, 1, &c, CAP_SET);
			cap_set_flag(want, CAP_EFFECTIVE, 1, &c, CAP_SET);
		}
	}
	cap_get_flag(caps, CAP_SETPCAP, CAP_EFFECTIVE, &setpcap);
	if (setpcap == CAP_SET) {
		/* A root start: uid 0 brings no capabilities to anything
		 * (NOROOT, NO_SETUID_FIXUP, no ambient raise), locked; then
		 * the bounding set goes, all of it (what we keep stays in
		 * the permitted set; with no_new_privs nothing is gained by
		 * exec anyway). */
		if (prctl(PR_SET_SECUREBITS, SANDBOX_SECBITS_LOCKED, 0, 0, 0) !=
		    0)
			fatal("cannot lock the securebits: %s",
			    strerror(errno));
		for (v = 0; v <= CAP_LAST_CAP; v++)
			if (cap_get_bound(v) == 1 && cap_drop_bound(v) != 0)
				fatal("cannot drop capability %d from the "
				      "bounding set: %s",
				    (int)v, strerror(errno));
	}
	if (cap_set_proc(want) != 0)
		fatal("cannot drop capabilities: %s", strerror(errno));
	if (CAP_AMBIENT_SUPPORTED())
		cap_reset_ambient();
	cap_free(caps);
	cap_free(want);
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
}

void
sandbox_selftest_exit(enum sandbox_role role, const struct sandbox_rule *rules,
    int n, const char *inside, const char *arg)
{
	char out[4096], *colon;
	int bad;

	if (strlen(arg) >= sizeof(out))
		fatal("--sandbox-test OUTSIDE:PID: too long");
	strcpy(out, arg);
	if ((colon = strrchr(out, ':')) == NULL)
		fatal("--sandbox-test OUTSIDE:PID");
	*colon = '\0';
	bad = sandbox_selftest(role, rules, n, inside, out, atoi(colon + 1));
	fflush(stdout);
	exit(bad > 0);
}

/* A zone name or a POSIX TZ rule; never a file path of the caller's. */
static int
tz_ok(const char *tz)
{
	size_t n = strlen(tz);

	if (n == 0 || n > 64 || tz[0] == '/' || strncmp(tz, ":/", 2) == 0 ||
	    strstr(tz, "..") != NULL)
		return 0;
	return strspn(tz,
		   "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
		   "0123456789_+-:,./<>") == n;
}

/* An absolute directory that only we (or root) control, or sticky. */
static int
tmpdir_ok(const char *dir)
{
	struct stat st;

	if (dir[0] != '/' || strlen(dir) >= 4096 || lstat(dir, &st) != 0 ||
	    !S_ISDIR(st.st_mode))
		return 0;
	if (st.st_uid != 0 && st.st_uid != geteuid())
		return 0;
	return (st.st_mode & (S_IWGRP | S_IWOTH)) == 0 ||
	    (st.st_mode & S_ISVTX) != 0;
}

void
sandbox_clear_env(unsigned keep)
{
	static char tz[80], tmp[4096];
	const char *v;
	int allow = getenv("CAPBACK_ALLOW_UNSANDBOXED_ROOT") != NULL;

	tz[0] = tmp[0] = '\0';
	if ((keep & SB_ENV_TZ) && (v = getenv("TZ")) != NULL) {
		if (tz_ok(v))
			snprintf(tz, sizeof(tz), "%s", v);
		else
			log_warn("ignoring TZ: '%s' is not a time zone name "
				 "(the system's zone is used)",
			    log_quote(v, strlen(v)));
	}
	if ((keep & SB_ENV_TMPDIR) && (v = getenv("TMPDIR")) != NULL &&
	    v[0] != '\0') {
		if (tmpdir_ok(v))
			snprintf(tmp, sizeof(tmp), "%s", v);
		else
			log_warn("ignoring TMPDIR: '%s' is not an absolute "
				 "directory owned by this user or root and "
				 "closed to others (or sticky)",
			    log_quote(v, strlen(v)));
	}
	clearenv();
	if (allow)
		setenv("CAPBACK_ALLOW_UNSANDBOXED_ROOT", "1", 1);
	if (tz[0] != '\0')
		setenv("TZ", tz, 1);
	if (tmp[0] != '\0')
		setenv("TMPDIR", tmp, 1);
}

void
sandbox_close_fds(int first)
{
	if (syscall(SYS_close_range, (unsigned)first, ~0u, 0) != 0) {
		int fd;

		for (fd = first; fd < 1024; fd++)
			close(fd);
	}
}

int
sandbox_landlock_abi(void)
{
	long abi = syscall(SYS_landlock_create_ruleset, NULL, 0,
	    LL_CREATE_RULESET_VERSION);

	return abi > 0 ? (int)abi : 0;
}

#ifdef CAPBACK_NO_SANDBOX
/*
 * Sanitizer and valgrind builds: no Landlock, no seccomp (they would stop
 * the checkers themselves).  Such a build refuses root unless the test
 * suite says so explicitly.
 */
int
sandbox_enter(enum sandbox_role role, const struct sandbox_rule *rules, int n)
{
	(void)role;
	(void)rules;
	(void)n;
	if (geteuid() == 0 && getenv("CAPBACK_ALLOW_UNSANDBOXED_ROOT") == NULL)
		fatal("this build has no sandbox (it is for sanitizer runs) "
		      "and does not run as root");
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("cannot set no_new_privs: %s", strerror(errno));
	return 0;
}

int
sandbox_selftest(enum sandbox_role role, const struct sandbox_rule *rules,
    int n, const char *inside, const char *outside, int victim)
{
	(void)role;
	(void)rules;
	(void)n;
	(void)inside;
	(void)outside;
	(void)victim;
	printf("no sandbox in this build\n");
	fflush(stdout);
	return 1;
}

void
sandbox_narrow(const struct sandbox_rule *rules, int n)
{
	(void)rules;
	(void)n;
}
int
sandbox_chroot(int dirfd)
{
	(void)dirfd;
	errno = ENOSYS;
	return -1;
}
#else

int
sandbox_chroot(int dirfd)
{
	cap_t caps;
	cap_value_t c = CAP_SYS_CHROOT;
	int rc;

	if (fchdir(dirfd) != 0 || chroot(".") != 0)
		return -1;
	/* The capability goes at once: a second chroot is the classic
	 * way out of the first. */
	if ((caps = cap_get_proc()) == NULL)
		return -1;
	rc = cap_set_flag(caps, CAP_EFFECTIVE, 1, &c, CAP_CLEAR) != 0 ||
		cap_set_flag(caps, CAP_PERMITTED, 1, &c, CAP_CLEAR) != 0 ||
		cap_set_proc(caps) != 0 ?
	    -1 :
	    0;
	cap_free(caps);
	return rc;
}

/* Every file-system right the kernel's ABI knows. */
static uint64_t
fs_rights(int abi)
{
	uint64_t r = (LL_FS_MAKE_SYM << 1) - 1;

	if (abi >= 2)
		r |= LL_FS_REFER;
	if (abi >= 3)
		r |= LL_FS_TRUNCATE;
	if (abi >= 5)
		r |= LL_FS_IOCTL_DEV;
	return r;
}

static uint64_t
map_rights(unsigned rights, int abi)
{
	uint64_t r = 0;

	if (rights & SB_FS_READ)
		r |= LL_FS_READ_FILE | LL_FS_READ_DIR;
	if (rights & SB_FS_WRITE)
		r |= fs_rights(abi) &
		    ~(LL_FS_EXECUTE | LL_FS_IOCTL_DEV | LL_FS_READ_FILE |
			LL_FS_READ_DIR);
	if (rights & SB_FS_RMDIR)
		r |= LL_FS_REMOVE_DIR;
	return r & fs_rights(abi);
}

/* Landlock as far as the kernel goes; returns the ABI used (0: none). */
static int
apply_landlock(const struct sandbox_rule *rules, int n)
{
	struct ll_ruleset_attr attr;
	int abi = sandbox_landlock_abi(), rfd, i;
	size_t size = sizeof(attr);

	if (abi == 0)
		return 0;
	memset(&attr, 0, sizeof(attr));
	attr.handled_access_fs = fs_rights(abi);
	if (abi >= 4)
		attr.handled_access_net = LL_NET_BIND_TCP | LL_NET_CONNECT_TCP;
	else
		size = sizeof(uint64_t); /* older kernels know only fs */
	if (abi >= 6)
		attr.scoped = LL_SCOPE_ABSTRACT_UNIX | LL_SCOPE_SIGNAL;
	else if (abi >= 4)
		size = 2 * sizeof(uint64_t);
	rfd = (int)syscall(SYS_landlock_create_ruleset, &attr, size, 0);
	if (rfd < 0)
		fatal("Landlock: cannot create a ruleset: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		struct ll_path_beneath_attr pb;
		struct stat st;

		if (fstat(rules[i].fd, &st) != 0)
			fatal("Landlock: %s", strerror(errno));
		pb.allowed_access = map_rights(rules[i].rights, abi);
		if (!S_ISDIR(st.st_mode))
			pb.allowed_access &= LL_FS_FILE_RIGHTS;
		pb.parent_fd = rules[i].fd;
		if (pb.allowed_access != 0 &&
		    syscall(SYS_landlock_add_rule, rfd, LL_RULE_PATH_BENEATH,
			&pb, 0) != 0)
			fatal("Landlock: cannot add a rule: %s",
			    strerror(errno));
	}
	if (syscall(SYS_landlock_restrict_self, rfd, 0) != 0)
		fatal("Landlock: cannot confine: %s", strerror(errno));
	close(rfd);
	return abi;
}

#define ALLOW(name) \
	(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 0) != 0)
#define ALLOW1(name, cmp) \
	(seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(name), 1, cmp) != 0)

/* Add ${act} for each of the ${n} system calls ${sys}; non-zero on error. */
static int
add_all(scmp_filter_ctx ctx, uint32_t act, const int *sys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (seccomp_rule_add(ctx, act, sys[i], 0) != 0)
			return 1;
	return 0;
}

#define NELEM(a) (sizeof(a) / sizeof((a)[0]))

static void
apply_seccomp(enum sandbox_role role)
{
	static const int common[] = {
		SCMP_SYS(read),
		SCMP_SYS(readv),
		SCMP_SYS(pread64),
		SCMP_SYS(preadv),
		SCMP_SYS(close),
		SCMP_SYS(lseek),
		SCMP_SYS(fstat),
		SCMP_SYS(newfstatat),
		SCMP_SYS(statx),
		SCMP_SYS(getdents64),
		SCMP_SYS(readlinkat),
		SCMP_SYS(brk),
		SCMP_SYS(munmap),
		SCMP_SYS(mremap),
		SCMP_SYS(madvise),
		SCMP_SYS(futex),
		SCMP_SYS(exit),
		SCMP_SYS(exit_group),
		SCMP_SYS(rt_sigreturn),
		SCMP_SYS(rt_sigaction),
		SCMP_SYS(rt_sigprocmask),
		SCMP_SYS(poll),
		SCMP_SYS(ppoll),
		SCMP_SYS(pselect6),
		SCMP_SYS(clock_gettime),
		SCMP_SYS(clock_getres),
		SCMP_SYS(gettimeofday),
		SCMP_SYS(nanosleep),
		SCMP_SYS(clock_nanosleep),
		SCMP_SYS(getpid),
		SCMP_SYS(gettid),
		SCMP_SYS(getuid),
		SCMP_SYS(geteuid),
		SCMP_SYS(getgid),
		SCMP_SYS(getegid),
		SCMP_SYS(getgroups),
		SCMP_SYS(getrandom),
		SCMP_SYS(fcntl),
		SCMP_SYS(dup),
		SCMP_SYS(dup2),
		SCMP_SYS(dup3),
		SCMP_SYS(sched_yield),
		SCMP_SYS(sched_getaffinity),
		SCMP_SYS(uname),
		SCMP_SYS(prlimit64),
		SCMP_SYS(getrlimit),
		SCMP_SYS(fadvise64),
		SCMP_SYS(flistxattr),
		SCMP_SYS(fgetxattr),
		SCMP_SYS(llistxattr),
		SCMP_SYS(lgetxattr),
		SCMP_SYS(listxattr),
		SCMP_SYS(getxattr),
		SCMP_SYS(capget),
		SCMP_SYS(umask),
		SCMP_SYS(restart_syscall),
		SCMP_SYS(fstatfs),
		/* into a directory already open: names relative to it are
		 * shorter to resolve than /proc/self/fd/N/name */
		SCMP_SYS(fchdir),
	};
	static const int writing[] = {
		SCMP_SYS(write),
		SCMP_SYS(writev),
		SCMP_SYS(pwrite64),
		SCMP_SYS(pwritev),
		SCMP_SYS(openat),
		SCMP_SYS(openat2),
		SCMP_SYS(mkdirat),
		SCMP_SYS(unlinkat),
		SCMP_SYS(renameat),
		SCMP_SYS(renameat2),
		SCMP_SYS(linkat),
		SCMP_SYS(symlinkat),
		SCMP_SYS(mknodat),
		SCMP_SYS(ftruncate),
		SCMP_SYS(fsync),
		SCMP_SYS(fdatasync),
		SCMP_SYS(syncfs),
		SCMP_SYS(sync_file_range),
		SCMP_SYS(fchmod),
		SCMP_SYS(fchown),
		/* the same by path from the working directory (Landlock
		 * sees every one of them) */
		SCMP_SYS(mkdir),
		SCMP_SYS(rmdir),
		SCMP_SYS(unlink),
		SCMP_SYS(rename),
		/* a further Landlock layer can only take rights away */
		SCMP_SYS(landlock_create_ruleset),
		SCMP_SYS(landlock_add_rule),
		SCMP_SYS(landlock_restrict_self),
	};
	static const int restoring[] = {
		/* owners, modes, times and xattrs of symlinks and devices,
		 * by name in their directory: the restorer has made the
		 * destination its root directory (sandbox_chroot) first */
		SCMP_SYS(fchownat),
		SCMP_SYS(fchmodat),
		SCMP_SYS(utimensat),
		SCMP_SYS(fsetxattr),
		SCMP_SYS(lsetxattr),
		/* that chroot, once; then CAP_SYS_CHROOT is dropped */
		SCMP_SYS(chroot),
		SCMP_SYS(capset),
	};
	/*
	 * Never allowed (the default answer, EPERM), named here because
	 * they are CAP_DAC_READ_SEARCH's other power: open_by_handle_at
	 * opens any file of a mount from a handle an attacker can guess
	 * (inode and generation), beneath no directory and no path, and
	 * the reader holds that capability.  name_to_handle_at makes such
	 * handles.  The self-test tries both in every role.
	 */
	static const int killed[] = {
		SCMP_SYS(execve),
		SCMP_SYS(execveat),
		SCMP_SYS(ptrace),
		SCMP_SYS(process_vm_readv),
		SCMP_SYS(process_vm_writev),
	};
	/* The kernel's O_TMPFILE bit alone (glibc's includes O_DIRECTORY). */
	const unsigned write_flags =
	    O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND | 020000000;
	scmp_filter_ctx ctx = seccomp_init(SCMP_ACT_ERRNO(EPERM));
	pid_t me = getpid();
	int bad = ctx == NULL;

	/* A binary search over the syscall numbers, not a chain of tests:
	 * every system call passes the filter (best effort). */
	if (ctx != NULL)
		(void)seccomp_attr_set(ctx, SCMP_FLTATR_CTL_OPTIMIZE, 2);

	bad = bad || add_all(ctx, SCMP_ACT_ALLOW, common, NELEM(common)) ||
	    add_all(ctx, SCMP_ACT_KILL_PROCESS, killed, NELEM(killed));
	/* Memory may never become executable. */
	bad = bad || ALLOW1(mmap, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0)) ||
	    ALLOW1(mprotect, SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0));
	/* Signals to ourselves only (abort). */
	bad = bad || ALLOW1(kill, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)me)) ||
	    ALLOW1(tgkill, SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)me));
	/*
	 * Threads (hashbehind.c), never processes: clone only with
	 * CLONE_THREAD; clone3's flags cannot be seen, so it fails with
	 * ENOSYS and glibc falls back to clone.
	 */
	bad = bad ||
	    ALLOW1(clone,
		SCMP_A0(SCMP_CMP_MASKED_EQ, CLONE_THREAD, CLONE_THREAD)) ||
	    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS), SCMP_SYS(clone3),
		0) != 0 ||
	    ALLOW(set_robust_list) || ALLOW(rseq);
	/* File content to the stream, moved by the kernel; how much of it
	 * the stream still holds (frame_out_settle). */
	bad = bad || ALLOW1(sendfile, SCMP_A0(SCMP_CMP_EQ, 1)) ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
		SCMP_A0(SCMP_CMP_EQ, 1), SCMP_A1(SCMP_CMP_EQ, FIONREAD)) != 0 ||
	    seccomp_rule_add(ctx, SCMP_ACT_ALLOW, SCMP_SYS(ioctl), 2,
		SCMP_A0(SCMP_CMP_EQ, 1), SCMP_A1(SCMP_CMP_EQ, SIOCOUTQ)) != 0;
	/* Reading the state of our own process; nothing that sets it. */
	bad = bad || ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_GET_DUMPABLE)) ||
	    ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_GET_NO_NEW_PRIVS)) ||
	    ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_GET_SECUREBITS)) ||
	    ALLOW1(prctl, SCMP_A0(SCMP_CMP_EQ, PR_CAPBSET_READ));
	if (role == SB_READER) {
		/* Reads only; the stream and the log are the only output. */
		bad = bad ||
		    ALLOW1(openat,
			SCMP_A2(SCMP_CMP_MASKED_EQ, write_flags, 0)) ||
		    ALLOW1(write, SCMP_A0(SCMP_CMP_EQ, 1)) ||
		    ALLOW1(write, SCMP_A0(SCMP_CMP_EQ, 2)) ||
		    ALLOW1(writev, SCMP_A0(SCMP_CMP_EQ, 2));
		/* openat2's flags cannot be seen: callers fall back. */
		bad = bad ||
		    seccomp_rule_add(ctx, SCMP_ACT_ERRNO(ENOSYS),
			SCMP_SYS(openat2), 0) != 0;
	} else {
		bad = bad ||
		    add_all(ctx, SCMP_ACT_ALLOW, writing, NELEM(writing));
		if (role == SB_WRITER || role == SB_MOUNTER)
			/* times only through a descriptor (futimens) */
			bad = bad || ALLOW1(utimensat, SCMP_A1(SCMP_CMP_EQ, 0));
		else
			bad = bad ||
			    add_all(ctx, SCMP_ACT_ALLOW, restoring,
				NELEM(restoring));
	}
	if (bad)
		fatal("seccomp: cannot build the filter");
	if (seccomp_load(ctx) != 0)
		fatal("seccomp: cannot load the filter");
	seccomp_release(ctx);
}

static int warned;

void
sandbox_narrow(const struct sandbox_rule *rules, int n)
{
	apply_landlock(rules, n);
}

int
sandbox_enter(enum sandbox_role role, const struct sandbox_rule *rules, int n)
{
	int abi;

	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		fatal("cannot set no_new_privs: %s", strerror(errno));
	abi = apply_landlock(rules, n);
	if (abi == 0 && !warned) {
		log_warn("this kernel has no Landlock: not confined to the "
			 "tree by Landlock, only by seccomp and permissions");
		warned = 1;
	}
	apply_seccomp(role);
	return abi;
}

/* ---- self-test ----------------------------------------------------------- */

#define WRITERS ((1u << SB_WRITER) | (1u << SB_RESTORER))

/* The attacks, in the order of attack()'s cases. */
static const struct {
	const char *name;
	unsigned job; /* roles for which it is their job (bit per role) */
	int by_name;  /* a metadata call by name: only chroot bounds it */
} attacks[] = {
	{ "read beyond the tree", 0, 0 },
	{ "open for write beyond the tree", 0, 0 },
	{ "open for write inside the tree", WRITERS, 0 },
	{ "mkdir beyond", 0, 0 },
	{ "unlink beyond", 0, 0 },
	{ "rename beyond", 0, 0 },
	{ "chmod beyond", 0, 1 },
	{ "chown beyond", 0, 1 },
	{ "utimensat beyond", 0, 1 },
	{ "setxattr beyond", 0, 1 },
	{ "O_PATH + chmod via /proc/self/fd", 0, 1 },
	{ "chmod beyond through ../..", 0, 1 },
	{ "chroot escape (chroot, then ..)", 0, 0 },
	{ "execve /bin/true", 0, 0 },
	{ "socket + connect 127.0.0.1:22", 0, 0 },
	{ "kill a same-uid process", 0, 0 },
	{ "ptrace a same-uid process", 0, 0 },
	{ "mmap PROT_EXEC", 0, 0 },
	{ "sendfile to another descriptor", 0, 0 },
	{ "fork (clone without CLONE_THREAD)", 0, 0 },
	{ "ioctl TIOCSTI (type into a terminal)", 0, 0 },
	{ "name_to_handle_at beyond", 0, 0 },
	{ "open_by_handle_at beyond", 0, 0 },
};

/* The index of "open_by_handle_at beyond": its handle is made first. */
#define ATTACK_BY_HANDLE 22

/*
 * A handle of the victim and a descriptor on its mount, made before the
 * child is confined (an attacker could guess one: inode and generation
 * on ext4), and whether it opens unconfined (so the row is not vacuous).
 */
static struct {
	struct file_handle fh;
	unsigned char room[MAX_HANDLE_SZ];
} victim_handle;
static int victim_mountfd = -1;

static void
make_victim_handle(const char *in, const char *out)
{
	char p[4096];
	int mid, fd;

	snprintf(p, sizeof(p), "%s/victim", out);
	victim_handle.fh.handle_bytes = MAX_HANDLE_SZ;
	if (name_to_handle_at(AT_FDCWD, p, &victim_handle.fh, &mid, 0) != 0) {
		printf("(no handle: %s) ", strerror(errno));
		return;
	}
	/* any descriptor on the same file system will do */
	victim_mountfd = open(in, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	fd = open_by_handle_at(victim_mountfd, &victim_handle.fh, O_RDONLY);
	if (fd < 0)
		printf("(unconfined, the handle does not open either: %s) ",
		    strerror(errno));
	else
		close(fd);
	fflush(stdout);
}

/* One attack, run in a confined child: 0 if it worked, else errno. */
static int
attack(int which, const char *in, const char *out, int victim)
{
	char p[4096];
	int fd, s;
	struct sockaddr_in sa;

	switch (which) {
	case 0: /* read a file beyond the tree */
		snprintf(p, sizeof(p), "%s/victim", out);
		fd = open(p, O_RDONLY);
		return fd >= 0 ? 0 : errno;
	case 1: /* write beyond */
		snprintf(p, sizeof(p), "%s/new", out);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		return fd >= 0 ? 0 : errno;
	case 2: /* write inside (only the reader is refused) */
		snprintf(p, sizeof(p), "%s/new", in);
		fd = open(p, O_WRONLY | O_CREAT, 0600);
		if (fd >= 0)
			unlink(p);
		return fd >= 0 ? 0 : errno;
	case 3:
		snprintf(p, sizeof(p), "%s/dir", out);
		return mkdir(p, 0700) == 0 ? 0 : errno;
	case 4:
		snprintf(p, sizeof(p), "%s/victim", out);
		return unlink(p) == 0 ? 0 : errno;
	case 5: {
		char q[4096];

		snprintf(p, sizeof(p), "%s/victim", out);
		snprintf(q, sizeof(q), "%s/renamed", out);
		return rename(p, q) == 0 ? 0 : errno;
	}
	case 6:
		snprintf(p, sizeof(p), "%s/victim", out);
		return chmod(p, 0777) == 0 ? 0 : errno;
	case 7:
		snprintf(p, sizeof(p), "%s/victim", out);
		return fchownat(AT_FDCWD, p, getuid(), getgid(),
			   AT_SYMLINK_NOFOLLOW) == 0 ?
		    0 :
		    errno;
	case 8:
		snprintf(p, sizeof(p), "%s/victim", out);
		return utimensat(AT_FDCWD, p, NULL, 0) == 0 ? 0 : errno;
	case 9:
		snprintf(p, sizeof(p), "%s/victim", out);
		return lsetxattr(p, "user.sbx", "1", 1, 0) == 0 ? 0 : errno;
	case 10: /* O_PATH handle, then chmod through /proc */
		snprintf(p, sizeof(p), "%s/victim", out);
		if ((fd = open(p, O_PATH)) < 0)
			return errno;
		snprintf(p, sizeof(p), "/proc/self/fd/%d", fd);
		return fchmodat(AT_FDCWD, p, 0777, 0) == 0 ? 0 : errno;
	case 11: { /* enough ".." to reach / from anywhere, then down */
		size_t k = 0;

		for (int d = 0; d < 64 && k + 4 < sizeof(p); d++)
			k += (size_t)snprintf(p + k, sizeof(p) - k, "../");
		snprintf(p + k, sizeof(p) - k, "%s/victim", out + 1);
		return fchmodat(AT_FDCWD, p, 0777, 0) == 0 ? 0 : errno;
	}
	case 12: { /* the classic: a new root below, then walk up */
		struct stat st;

		snprintf(p, sizeof(p), "%s/jail", in);
		if (mkdir(p, 0700) != 0 && errno != EEXIST)
			return errno;
		if (chroot(p) != 0)
			return errno;
		for (int d = 0; d < 64; d++)
			if (chdir("..") != 0)
				return errno;
		snprintf(p, sizeof(p), ".%s/victim", out);
		return stat(p, &st) == 0 && chmod(p, 0777) == 0 ? 0 : errno;
	}
	case 13: {
		char *argv[] = { (char *)"/bin/true", NULL };

		execv(argv[0], argv);
		return errno;
	}
	case 14:
		if ((s = socket(AF_INET, SOCK_STREAM, 0)) < 0)
			return errno;
		memset(&sa, 0, sizeof(sa));
		sa.sin_family = AF_INET;
		sa.sin_port = htons(22);
		sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return connect(s, (struct sockaddr *)&sa, sizeof(sa)) == 0 ||
			errno == ECONNREFUSED ?
		    0 :
		    errno;
	case 15: return kill(victim, SIGTERM) == 0 ? 0 : errno;
	case 16:
		return ptrace(PTRACE_ATTACH, victim, NULL, NULL) == 0 ? 0 :
									errno;
	case 17: {
		void *m = mmap(NULL, 4096, PROT_READ | PROT_EXEC,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);

		return m != MAP_FAILED ? 0 : errno;
	}
	case 18: { /* the stream (fd 1) is its only destination */
		off_t o = 0;

		if ((fd = dup(2)) < 0)
			return errno;
		/* Any answer but the filter's means the call ran. */
		return sendfile(fd, 0, &o, 1) < 0 && errno == EPERM ? EPERM : 0;
	}
	case 19: {
		pid_t pid = fork();

		if (pid == 0)
			_exit(0);
		if (pid < 0)
			return errno;
		waitpid(pid, NULL, 0);
		return 0;
	}
	case 20: { /* the stream's fill level is the only ioctl */
		char c = 'x';

		/* Any answer but the filter's (ENOTTY: not a terminal)
		 * means the call ran. */
		return ioctl(2, TIOCSTI, &c) < 0 && errno == EPERM ? EPERM : 0;
	}
	case 21: { /* make a handle of a file beyond */
		struct {
			struct file_handle fh;
			unsigned char room[MAX_HANDLE_SZ];
		} h;
		int mid;

		snprintf(p, sizeof(p), "%s/victim", out);
		h.fh.handle_bytes = MAX_HANDLE_SZ;
		return name_to_handle_at(AT_FDCWD, p, &h.fh, &mid, 0) == 0 ?
		    0 :
		    errno;
	}
	case ATTACK_BY_HANDLE: /* open it by the handle made unconfined */
		fd = open_by_handle_at(victim_mountfd, &victim_handle.fh,
		    O_RDONLY);
		return fd >= 0 ? 0 : errno;
	default: return EINVAL;
	}
}

int
sandbox_selftest(enum sandbox_role role, const struct sandbox_rule *rules,
    int n, const char *inside, const char *outside, int victim)
{
	int bad = 0, nbound = 0, rooted = 0;
	size_t i;
	cap_t caps = cap_get_proc();
	char *text = caps != NULL ? cap_to_text(caps, NULL) : NULL;
	cap_value_t v;
	cap_flag_value_t chroot_cap = CAP_CLEAR;

	/* The restorer roots itself at its destination when it may. */
	if (caps != NULL && role == SB_RESTORER) {
		cap_get_flag(caps, CAP_SYS_CHROOT, CAP_PERMITTED, &chroot_cap);
		rooted = chroot_cap == CAP_SET;
	}

	/* The state the role's own drop left (before its sandbox). */
	for (v = 0; v <= CAP_LAST_CAP; v++)
		nbound += cap_get_bound(v) == 1;
	printf("state: uid %u, capabilities \"%s\", bounding set %d, "
	       "securebits 0x%x\n",
	    (unsigned)getuid(), text != NULL ? text : "?", nbound,
	    (unsigned)prctl(PR_GET_SECUREBITS, 0, 0, 0, 0));
	cap_free(text);
	cap_free(caps);
	if (role == SB_RESTORER && !rooted)
		printf("not rooted at the destination: no CAP_SYS_CHROOT (an "
		       "ordinary user's restore)\n");
	for (i = 0; i < sizeof(attacks) / sizeof(attacks[0]); i++) {
		const char *name = attacks[i].name;
		unsigned me = 1u << role;
		pid_t pid;
		int st;

		fflush(stdout);
		if ((pid = fork()) < 0)
			fatal("fork: %s", strerror(errno));
		if (pid == 0) {
			int fd2 = open("/dev/null", O_WRONLY);
			int root = -1;
			const char *in = inside;

			/* quiet: no landlock warning per child */
			if (fd2 >= 0)
				dup2(fd2, 2);
			if (i == ATTACK_BY_HANDLE)
				make_victim_handle(inside, outside);
			if (rooted &&
			    (root = open(inside,
				 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
				_exit(errno & 0xff);
			sandbox_enter(role, rules, n);
			/* the restorer, as it does at its root entry */
			if (root >= 0) {
				if (sandbox_chroot(root) != 0) {
					printf("(cannot chroot: %s) ",
					    strerror(errno));
					fflush(stdout);
				} else
					in = "/";
			}
			_exit(attack((int)i, in, outside, victim) & 0xff);
		}
		if (waitpid(pid, &st, 0) < 0)
			fatal("waitpid: %s", strerror(errno));
		if (WIFSIGNALED(st))
			printf("%-34s denied (killed by signal %d%s)\n", name,
			    WTERMSIG(st),
			    WTERMSIG(st) == SIGSYS ? ", SIGSYS" : "");
		else if (WEXITSTATUS(st) != 0)
			printf("%-34s denied (%s)\n", name,
			    strerror(WEXITSTATUS(st)));
		else if (attacks[i].job & me)
			printf("%-34s allowed (the role's job)\n", name);
		else if (attacks[i].by_name && role == SB_RESTORER && !rooted &&
		    getuid() != 0)
			printf("%-34s allowed (not rooted: this user's own "
			       "files only)\n",
			    name);
		else {
			printf("%-34s ALLOWED\n", name);
			bad++;
		}
	}
	return bad;
}
#endif /* CAPBACK_NO_SANDBOX */
