/*
 * The repository lock (docs/design.md, "One repository lock"): an open
 * file description lock (fcntl F_OFD_SETLK) on
 * rdiff-backup-data/capback.lock, which rdiff-backup ignores.  Every
 * action that changes a repository holds it exclusively for its whole
 * run, from before it looks at the session markers; every action that
 * reads one holds it shared.  It goes with the process (a killed writer
 * leaves no stale lock), and it is taken before the sandbox is entered
 * (a new repository's, inside it: fcntl and files beneath the
 * repository are allowed there).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "incscan.h"
#include "log.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"

#define LOCK_NAME "capback.lock"

int64_t repo_lock_wait = -2;
static int lock_fd = -1;
static long lock_prev_pid; /* the PID the last exclusive holder wrote */

/* What the file says of its last exclusive holder, for a person (the
 * repository's to say: control characters escaped). */
static void
holder(int fd, char *buf, size_t cap)
{
	ssize_t n = pread(fd, buf, cap - 1, 0);

	buf[n > 0 ? n : 0] = '\0';
	buf[strcspn(buf, "\n")] = '\0';
	if (buf[0] == '\0')
		snprintf(buf, cap, "another capback process");
	else
		snprintf(buf, cap, "%s", log_text(buf, strlen(buf)));
}

/* Is the lock free for ${type}?  Else fill ${who} with the holder. */
static int
try_lock(int fd, short type, char *who, size_t cap)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_SETLK, &fl) == 0)
		return 1;
	if (errno != EAGAIN && errno != EACCES)
		fatal("cannot lock the repository: %s", strerror(errno));
	memset(&fl, 0, sizeof(fl));
	fl.l_type = type;
	fl.l_whence = SEEK_SET;
	if (fcntl(fd, F_OFD_GETLK, &fl) == 0 && fl.l_type == F_RDLCK)
		snprintf(who, cap,
		    "capback reading it (a restore, list, verify, compare "
		    "or drill)");
	else
		holder(fd, who, cap);
	return 0;
}

/*
 * Is the exclusive holder ${who} ("capback backup PID N ...") a backup in
 * its session: alive, and the newer of two markers its own?  Not a
 * backup that regresses a killed session first (its holder line says
 * backup too), nor a regress or removal that took the lock a moment ago
 * and has not written its line yet (the line is the last holder's).
 */
static int
backup_in_session(int datafd, const char *who)
{
	struct repo_entry *e = NULL;
	size_t ne = 0, i;
	int64_t newest;
	long pid;
	int yes = 0;

	if (strncmp(who, "capback backup PID ", 19) != 0 ||
	    sscanf(who + 19, "%ld", &pid) != 1 || pid <= 0 ||
	    !process_alive(pid) || repo_scan(datafd, &e, &ne) != 0)
		return 0;
	if (inc_markers(e, ne, &newest) == 2)
		for (i = 0; i < ne && !yes; i++)
			yes = e[i].base == RB_CURRENT_MIRROR &&
			    e[i].inc.time == newest &&
			    marker_pid(datafd, e[i].name) == pid;
	repo_scan_free(e, ne);
	return yes;
}

void
repo_lock(struct repo *repo, int excl, const char *action)
{
	char who[256], since[TIMEFMT_LEN], info[512], host[128] = "";
	int64_t wait = repo_lock_wait == -2 ? (excl ? 0 : -1) : repo_lock_wait;
	int unless_backup = wait == REPO_LOCK_UNLESS_BACKUP && !excl;
	struct timespec t0, now, tick = { 0, 100 * 1000 * 1000 };
	short type = excl ? F_WRLCK : F_RDLCK;
	int fd, said = 0, n;

	if (lock_fd >= 0)
		return;
	fd = openat(repo->datafd, LOCK_NAME,
	    O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0 && !excl && (errno == EACCES || errno == EROFS))
		fd = openat(repo->datafd, LOCK_NAME,
		    O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (excl)
			fatal("cannot open '%s/rdiff-backup-data/%s' to lock "
			      "the repository: %s",
			    repo->path, LOCK_NAME, strerror(errno));
		/* a reader that may not create it: it cannot coordinate,
		 * and finds a session in progress as unfinished */
		log_debug("reading '%s' without its lock: %s", repo->path,
		    strerror(errno));
		return;
	}
	if (wait == REPO_LOCK_UNLESS_BACKUP)
		wait = -1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	while (!try_lock(fd, type, who, sizeof(who))) {
		if (unless_backup && backup_in_session(repo->datafd, who)) {
			log_warn("'%s' is being backed up (%s): its finished "
				 "sessions are read without waiting, its new "
				 "one appears when it ends",
			    repo->path, who);
			close(fd);
			return;
		}
		clock_gettime(CLOCK_MONOTONIC, &now);
		if (wait == 0)
			fatal("'%s' is in use: %s.  Try again later, or wait "
			      "for it: capback --wait[=SECONDS] ACTION ...",
			    repo->path, who);
		if (wait > 0 &&
		    (now.tv_sec - t0.tv_sec) * 1000000000LL +
			    (now.tv_nsec - t0.tv_nsec) >=
			wait * 1000000000LL)
			fatal("'%s' is still in use after %" PRId64 " s: %s",
			    repo->path, wait, who);
		if (!said++)
			log_warn("'%s' is in use: %s; waiting for it to end",
			    repo->path, who);
		nanosleep(&tick, NULL);
	}
	if (said)
		log_info("'%s' is free now: %s goes on", repo->path, action);
	lock_fd = fd;
	if (!excl)
		return;
	holder(fd, who, sizeof(who));
	if (strncmp(who, "capback ", 8) == 0 && strstr(who, " PID ") != NULL)
		lock_prev_pid = strtol(strstr(who, " PID ") + 5, NULL, 10);
	gethostname(host, sizeof(host) - 1);
	if (timefmt_utc((int64_t)time(NULL), since) != 0)
		snprintf(since, sizeof(since), "?");
	n = snprintf(info, sizeof(info), "capback %s PID %ld on %s since %s\n",
	    action, (long)getpid(), host, since);
	if (ftruncate(fd, 0) != 0 || pwrite(fd, info, (size_t)n, 0) != n)
		log_warn("cannot note the lock's holder in '%s': %s",
		    repo->path, strerror(errno));
}

void
repo_unlock(void)
{
	if (lock_fd >= 0)
		close(lock_fd);
	lock_fd = -1;
}

long
repo_lock_prev_pid(void)
{
	return lock_prev_pid;
}

int
repo_lock_try_shared(int datafd)
{
	struct flock fl = { .l_type = F_RDLCK, .l_whence = SEEK_SET };
	int fd = openat(datafd, LOCK_NAME, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0)
		return errno == ENOENT || errno == EACCES ? -2 : -1;
	if (fcntl(fd, F_OFD_SETLK, &fl) != 0) {
		close(fd);
		return -1;
	}
	return fd;
}
