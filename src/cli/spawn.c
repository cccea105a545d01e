#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "strbuf.h"

/*
 * Where the roles are: CAPBACK_LIBEXEC if set; beside this program when
 * it runs uninstalled from its meson build directory (which holds
 * meson-private/); otherwise the directory it was installed with
 * (CAPBACK_LIBEXECDIR, /usr/libexec/capback in the packages).  Never
 * PATH, and never beside an installed program: a role copied next to
 * /usr/bin/capback is not run.
 */
const char *
spawn_installed_libexec_dir(void)
{
	const char *env = getenv("CAPBACK_LIBEXEC");

	return env != NULL && env[0] != '\0' ? env : CAPBACK_LIBEXECDIR;
}

const char *
spawn_libexec_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("CAPBACK_LIBEXEC");
	char probe[PATH_MAX + 32];
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] != '\0')
		return env;
	if (dir[0] != '\0')
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n > 0) {
		dir[n] = '\0';
		if ((slash = strrchr(dir, '/')) != NULL)
			*slash = '\0';
		snprintf(probe, sizeof(probe), "%s/meson-private", dir);
		if (access(probe, F_OK) == 0)
			return dir;
	}
	snprintf(dir, sizeof(dir), "%s", CAPBACK_LIBEXECDIR);
	return dir;
}

/*
 * What a remote role writes to stderr is the other host's to choose (ssh
 * passes it on byte for byte): it reaches ours through a relay process
 * that shows control characters escaped (log_text), line by line, so a
 * host can neither write to the admin's terminal nor forge a line.
 */
#define RELAY_MAX 2
static pid_t relays[RELAY_MAX];
static int nrelays;

/* Copy ${fd} to our stderr, a line (or 4 KiB of one) at a time. */
static void
relay_lines(int fd)
{
	char buf[4096];
	size_t have = 0, i, start;
	ssize_t n;

	for (;;) {
		n = read(fd, buf + have, sizeof(buf) - have);
		if (n < 0 && errno == EINTR)
			continue;
		if (n > 0)
			have += (size_t)n;
		for (start = 0, i = 0; i < have; i++)
			if (buf[i] == '\n') {
				dprintf(2, "%s\n",
				    log_text(buf + start, i - start));
				start = i + 1;
			}
		if (start > 0) {
			memmove(buf, buf + start, have - start);
			have -= start;
		}
		if (have > 0 && (n <= 0 || have == sizeof(buf))) {
			dprintf(2, "%s\n", log_text(buf, have));
			have = 0;
		}
		if (n <= 0)
			return;
	}
}

/* A relay for a remote role's stderr: the descriptor to give it as its
 * fd 2, or -1 (it then shares ours). */
static int
start_relay(void)
{
	int p[2];
	pid_t pid;

	if (nrelays == RELAY_MAX || pipe2(p, O_CLOEXEC) != 0)
		return -1;
	if ((pid = fork()) < 0) {
		close(p[0]);
		close(p[1]);
		return -1;
	}
	if (pid == 0) {
		/* nothing of ours but the pipe and stderr: a role's end of
		 * a stream held here would never see the other end close */
		if (dup2(p[0], 0) < 0)
			_exit(1);
		close(1);
		syscall(SYS_close_range, 3u, ~0u, 0);
		signal(SIGPIPE, SIG_DFL);
		relay_lines(0);
		_exit(0);
	}
	close(p[0]);
	relays[nrelays++] = pid;
	return p[1];
}

/*
 * Wait for the relays once the roles are gone: up to 2 s, as something
 * the remote schema left behind (an ssh ControlPersist master) may hold
 * the pipe open; then they are ended.
 */
static void
end_relays(void)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int left = 200, st;

	while (nrelays > 0) {
		pid_t p = relays[nrelays - 1];
		pid_t r = waitpid(p, &st, left > 0 ? WNOHANG : 0);

		if (r == 0) {
			nanosleep(&tick, NULL);
			if (--left == 0)
				kill(p, SIGTERM);
			continue;
		}
		if (r < 0 && errno == EINTR)
			continue;
		nrelays--;
	}
}

/*
 * Start ${argv} with ${in} (if >= 0) as its stdin, ${out} (if >= 0) as
 * its stdout and our descriptor ${fd3} (if >= 0) as its fd 3; a remote
 * role's stderr through a relay.
 */
static pid_t
start(char *const argv[], int in, int out, int fd3)
{
	char path[PATH_MAX + 64];
	pid_t pid, self;
	int err = -1;

	/* A role by name lives beside us; an absolute path (the shell that
	 * runs a remote schema) is run as it is. */
	if (argv[0][0] == '/')
		snprintf(path, sizeof(path), "%s", argv[0]);
	else
		snprintf(path, sizeof(path), "%s/%s", spawn_libexec_dir(),
		    argv[0]);
	if (access(path, X_OK) != 0) {
		if (errno == EACCES && strstr(argv[0], "reader") != NULL)
			fatal("cannot run '%s': %s (only root and the group "
			      "it belongs to may run the reader, as it can "
			      "read every file: capback doctor --role reader)",
			    path, strerror(errno));
		fatal("cannot run '%s': %s%s", path, strerror(errno),
		    errno != ENOENT		     ? "" :
			strstr(argv[0], "reader") != NULL ?
					     " (the reader is in the "
					     "package capback-agent; roles "
					     "are looked for there only)" :
					     " (is capback installed? roles "
					     "are looked for there only)");
	}
	if (log_verbosity() >= 5) { /* -v 5: what runs */
		struct strbuf cmd = STRBUF_INIT;

		for (int k = 0; argv[k] != NULL; k++)
			if ((k > 0 && strbuf_addch(&cmd, ' ') != 0) ||
			    strbuf_addstr(&cmd, argv[k]) != 0)
				fatal("out of memory");
		log_debug("running %s", log_text(cmd.buf, cmd.len));
		strbuf_release(&cmd);
	}
	if (argv[0][0] == '/')
		err = start_relay();
	self = getpid();
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Out of the way first (above 9, closed at exec): any of
		 * them may be 0, 1 or 3. */
		int fds[4] = { in, out, fd3, err }, k;

		/* A CLI that dies takes its roles with it: the writer stops
		 * (its session is regressed by the next operation), and its
		 * peer sees the stream close.  (Cleared by the exec of a
		 * binary with file capabilities: that reader ends when the
		 * writer's end of the stream closes.) */
		if (prctl(PR_SET_PDEATHSIG, SIGTERM) != 0 || getppid() != self)
			_exit(127);

		for (k = 0; k < 4; k++)
			if (fds[k] >= 0 &&
			    (fds[k] = fcntl(fds[k], F_DUPFD_CLOEXEC, 10)) < 0)
				_exit(127);
		if ((fds[0] >= 0 && dup2(fds[0], 0) < 0) ||
		    (fds[1] >= 0 && dup2(fds[1], 1) < 0) ||
		    (fds[2] >= 0 && dup2(fds[2], 3) < 0) ||
		    (fds[3] >= 0 && dup2(fds[3], 2) < 0))
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execv(path, argv);
		fprintf(stderr, "capback: cannot execute %s: %s\n", path,
		    strerror(errno));
		_exit(127);
	}
	if (err >= 0)
		close(err);
	return pid;
}

/* A role's exit status, 128 + N for signal N; a role killed by a signal
 * (but SIGPIPE: its peer ended, and says why) is named, as it could not
 * say why itself. */
static int
wait_status(pid_t pid, const char *name)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st)) {
		if (WTERMSIG(st) != SIGPIPE)
			log_error("%s was killed by signal %d (%s)", name,
			    WTERMSIG(st), strsignal(WTERMSIG(st)));
		return 128 + WTERMSIG(st);
	}
	return 127;
}

int
spawn_one(char *const argv[], int *st)
{
	pid_t p = start(argv, -1, -1, -1);

	*st = wait_status(p, argv[0]);
	end_relays();
	return 0;
}

char *
spawn_capture(char *const argv[], size_t max, size_t *len, int *st)
{
	int p[2];
	pid_t pid;
	char *buf = malloc(max + 1);
	size_t n = 0;
	ssize_t r;

	if (buf == NULL || pipe2(p, O_CLOEXEC) != 0)
		fatal("cannot start %s: %s", argv[0], strerror(errno));
	pid = start(argv, -1, p[1], -1);
	close(p[1]);
	while ((r = read(p[0], buf + n, max - n)) != 0) {
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			fatal("reading what %s printed: %s", argv[0],
			    strerror(errno));
		if ((n += (size_t)r) == max)
			fatal("%s printed more than %zu bytes", argv[0], max);
	}
	close(p[0]);
	*st = wait_status(pid, argv[0]);
	end_relays();
	buf[n] = '\0';
	*len = n;
	return buf;
}

int
spawn_pair(char *const argv_a[], char *const argv_b[], int *st_a, int *st_b)
{
	return spawn_pair_out(argv_a, argv_b, -1, st_a, st_b);
}

/*
 * The two roles talk over two pipes, one each way.  Each holds up to
 * SPAWN_PIPE bytes (F_SETPIPE_SZ, which any user may ask for up to
 * fs.pipe-max-size, 1 MiB by default).  A socketpair's buffer is
 * net.core.wmem_default, 208 KiB, and only root may raise it past
 * net.core.wmem_max: with it, the sender filled it every three frames
 * of content and waited for the receiver, and the two took turns on the
 * CPUs.  sendfile(2) into a pipe also lends the page cache's pages
 * instead of copying them.  A pipe that cannot grow keeps its 64 KiB:
 * slower, still correct.
 */
#define SPAWN_PIPE (1 << 20)

static int
roomy_pipe(int p[2])
{
	if (pipe2(p, O_CLOEXEC) != 0)
		return -1;
	(void)fcntl(p[1], F_SETPIPE_SZ, SPAWN_PIPE);
	return 0;
}

int
spawn_pair_out(char *const argv_a[], char *const argv_b[], int out_b, int *st_a,
    int *st_b)
{
	int ab[2], ba[2];
	pid_t a, b;

	if (roomy_pipe(ab) != 0)
		return -1;
	if (roomy_pipe(ba) != 0) {
		close(ab[0]);
		close(ab[1]);
		return -1;
	}
	a = start(argv_a, ba[0], ab[1], -1);
	b = start(argv_b, ab[0], ba[1], out_b);
	close(ab[0]);
	close(ab[1]);
	close(ba[0]);
	close(ba[1]);
	*st_a = wait_status(a, argv_a[0]);
	*st_b = wait_status(b, argv_b[0]);
	end_relays();
	return 0;
}

/* ${s} as one word for a POSIX shell. */
static void
sh_quote(struct strbuf *out, const char *s)
{
	if (strbuf_addch(out, '\'') != 0)
		fatal("out of memory");
	for (; *s != '\0'; s++) {
		if (*s == '\'' ? strbuf_addstr(out, "'\\''") != 0 :
				 strbuf_addch(out, *s) != 0)
			fatal("out of memory");
	}
	if (strbuf_addch(out, '\'') != 0)
		fatal("out of memory");
}

char **
spawn_remote_argv(const char *schema, const char *host, char *const argv[])
{
	const char *p;
	struct strbuf remote = STRBUF_INIT, cmd = STRBUF_INIT;
	char **out = calloc(4, sizeof(*out));
	int placed = 0;
	size_t i;

	if (out == NULL)
		fatal("out of memory");
	for (i = 0; argv[i] != NULL; i++) {
		if (i > 0 && strbuf_addch(&remote, ' ') != 0)
			fatal("out of memory");
		if (i == 0 ? strbuf_addstr(&remote, argv[0]) != 0 :
			     (sh_quote(&remote, argv[i]), 0))
			fatal("out of memory");
	}
	for (p = schema; *p != '\0'; p++) {
		if ((p[0] == '{' && p[1] == 'h' && p[2] == '}') ||
		    (p[0] == '%' && p[1] == 's')) {
			sh_quote(&cmd, host);
			p += p[0] == '{' ? 2 : 1;
			placed = 1;
		} else if (strbuf_addch(&cmd, *p) != 0)
			fatal("out of memory");
	}
	if (!placed)
		fatal("--remote-schema needs {h} (or %%s) for the host");
	if (strbuf_addch(&cmd, ' ') != 0)
		fatal("out of memory");
	sh_quote(&cmd, remote.buf != NULL ? remote.buf : "");
	out[0] = (char *)"/bin/sh";
	out[1] = (char *)"-c";
	out[2] = cmd.buf;
	strbuf_release(&remote);
	return out;
}
