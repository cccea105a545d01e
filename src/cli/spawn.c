#include "spawn.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "log.h"

const char *
spawn_libexec_dir(void)
{
	static char dir[PATH_MAX];
	const char *env = getenv("CAPBACK_LIBEXEC");
	ssize_t n;
	char *slash;

	if (env != NULL && env[0] != '\0')
		return env;
	if (dir[0] != '\0')
		return dir;
	n = readlink("/proc/self/exe", dir, sizeof(dir) - 1);
	if (n <= 0)
		fatal("cannot locate the capback binaries: %s",
		    strerror(errno));
	dir[n] = '\0';
	if ((slash = strrchr(dir, '/')) != NULL)
		*slash = '\0';
	return dir;
}

/*
 * Start ${argv} with ${fd} (if >= 0) as its stdin and stdout and our
 * descriptor ${fd3} (if >= 0) as its fd 3.
 */
static pid_t
start(char *const argv[], int fd, int fd3)
{
	char path[PATH_MAX + 64];
	pid_t pid;

	/* A role by name lives beside us; an absolute path (the shell that
	 * runs a remote schema) is run as it is. */
	if (argv[0][0] == '/')
		snprintf(path, sizeof(path), "%s", argv[0]);
	else
		snprintf(path, sizeof(path), "%s/%s", spawn_libexec_dir(),
		    argv[0]);
	if (access(path, X_OK) != 0)
		fatal("cannot run '%s': %s", path, strerror(errno));
	pid = fork();
	if (pid < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		/* Out of the way first: ${fd} may be 3, ${fd3} may be 1. */
		int extra = fd3 >= 0 ? fcntl(fd3, F_DUPFD_CLOEXEC, 10) : -1;

		if (fd3 >= 0 && extra < 0)
			_exit(127);
		if (fd >= 0 && (dup2(fd, 0) < 0 || dup2(fd, 1) < 0))
			_exit(127);
		if (fd > 1)
			close(fd);
		if (extra >= 0 && dup2(extra, 3) < 0)
			_exit(127);
		signal(SIGPIPE, SIG_DFL);
		execv(path, argv);
		fprintf(stderr, "capback: cannot execute %s: %s\n", path,
		    strerror(errno));
		_exit(127);
	}
	return pid;
}

static int
wait_status(pid_t pid)
{
	int st;

	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return 127;
	if (WIFEXITED(st))
		return WEXITSTATUS(st);
	if (WIFSIGNALED(st))
		return 128 + WTERMSIG(st);
	return 127;
}

int
spawn_one(char *const argv[], int *st)
{
	pid_t p = start(argv, -1, -1);

	*st = wait_status(p);
	return 0;
}

int
spawn_pair(char *const argv_a[], char *const argv_b[], int *st_a, int *st_b)
{
	return spawn_pair_out(argv_a, argv_b, -1, st_a, st_b);
}

int
spawn_pair_out(char *const argv_a[], char *const argv_b[], int out_b, int *st_a,
    int *st_b)
{
	int sv[2];
	pid_t a, b;

	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
		return -1;
	/* The children get their end without CLOEXEC via dup2. */
	a = start(argv_a, sv[0], -1);
	b = start(argv_b, sv[1], out_b);
	close(sv[0]);
	close(sv[1]);
	*st_a = wait_status(a);
	*st_b = wait_status(b);
	return 0;
}
