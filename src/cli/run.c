/*
 * capback run: the backup server's job (what sysadmins write cron scripts
 * around rdiff-backup for).  From one INI file: back up every host, with
 * a bound on how many run at once and a lock per host; then per host the
 * retention (remove increments older than "keep") and a drill; then one
 * plain-text report, by mail through sendmail if asked; then the global
 * "after" hook (a shutdown, say), once the report has been handed over.
 *
 * Each host's work runs in a child process (a worker) that calls this
 * same program for backup, remove increments and drill, with the
 * host's lock held; it leaves its result in STATE/hosts/NAME.result,
 * which the report and "capback status" read.
 */
#include "actions.h"
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <ini.h>

#include "fsutil.h"
#include "log.h"
#include "repoloc.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"
#include "metrics.h"
#include "runconf.h"
#include "xorshift.h"

/* What a worker found, as kept in STATE/hosts/NAME.result. */
struct result {
	char status[16]; /* ok, failed, skipped, timeout */
	char why[4200];
	int64_t started, finished;
	uint64_t files, changed, inc_bytes, source_bytes;
	uint64_t new_files, deleted_files; /* changed: ChangedFiles only */
	uint64_t changed_bytes;		   /* NewFileSize + ChangedSourceSize */
	double elapsed;	 /* seconds the host's work took in this run */
	double backup_s; /* of which its backup (the run's order) */
	char oldest_proven[512];
	int64_t drilled; /* when the last drill ran */
	int64_t last_ok; /* when the last successful run ended */
	char retention[160];
	unsigned nwarn;
	char vault[16];	  /* the copy to the vault: "", ok or failed */
	int64_t vault_ok; /* when the vault last held every session */
};

/* ---- results ---------------------------------------------------------- */

static void
state_path(const struct config *c, char *buf, size_t len, const char *sub,
    const char *name, const char *ext)
{
	snprintf(buf, len, "%s/%s/%s%s", c->state, sub, name, ext);
}

static void
mkdirs(const struct config *c)
{
	static const char *subs[] = { "", "/hosts", "/locks", "/logs" };
	char p[4096];

	for (size_t i = 0; i < 4; i++) {
		snprintf(p, sizeof(p), "%s%s", c->state, subs[i]);
		if (mkdir(p, 0750) != 0 && errno != EEXIST)
			fatal("cannot make the state directory %s: %s", p,
			    strerror(errno));
	}
}

static void
result_save(const struct config *c, const struct host *h,
    const struct result *r)
{
	char path[4096], tmp[4200];
	FILE *f;

	state_path(c, path, sizeof(path), "hosts", h->name, ".result");
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	if ((f = fopen(tmp, "w")) == NULL)
		fatal("cannot write %s: %s", tmp, strerror(errno));
	fprintf(f,
	    "status %s\nstarted %lld\nfinished %lld\nfiles %" PRIu64
	    "\nchanged %" PRIu64 "\nincrement-bytes %" PRIu64
	    "\nsource-bytes %" PRIu64 "\nwarnings %u\ndrilled %lld\n"
	    "oldest-proven %s\nretention %s\nlast-success %lld\n"
	    "new %" PRIu64 "\ndeleted %" PRIu64 "\nelapsed %.3f\n"
	    "changed-bytes %" PRIu64 "\nvault %s\nvault-success %lld\n"
	    "backup-seconds %.3f\nwhy %s\n",
	    r->status, (long long)r->started, (long long)r->finished, r->files,
	    r->changed, r->inc_bytes, r->source_bytes, r->nwarn,
	    (long long)r->drilled, r->oldest_proven, r->retention,
	    (long long)(strcmp(r->status, "ok") == 0 ? r->finished :
						       r->last_ok),
	    r->new_files, r->deleted_files, r->elapsed, r->changed_bytes,
	    r->vault[0] ? r->vault : "-", (long long)r->vault_ok, r->backup_s,
	    r->why);
	if (fclose(f) != 0 || rename(tmp, path) != 0)
		fatal("cannot write %s: %s", path, strerror(errno));
}

/* 0 and ${r} filled, or -1 if the host has no result yet. */
/*
 * result_fresh(r, last, started): a new result of this run, started at
 * ${started}; the last drill (of ${last}, if any) stays known until this
 * run drills.
 */
static void
result_fresh(struct result *r, const struct result *last, int64_t started)
{
	memset(r, 0, sizeof(*r));
	r->started = started;
	if (last != NULL) {
		r->drilled = last->drilled;
		r->last_ok = last->last_ok;
		r->vault_ok = last->vault_ok;
		memcpy(r->oldest_proven, last->oldest_proven,
		    sizeof(r->oldest_proven));
	}
}

static int
result_load(const struct config *c, const struct host *h, struct result *r)
{
	char path[4096], line[4400];
	FILE *f;

	memset(r, 0, sizeof(*r));
	state_path(c, path, sizeof(path), "hosts", h->name, ".result");
	if ((f = fopen(path, "r")) == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *sp = strchr(line, ' '), *nl = strchr(line, '\n');
		long long v;

		if (sp == NULL)
			continue;
		if (nl != NULL)
			*nl = '\0';
		*sp++ = '\0';
		v = atoll(sp);
		if (strcmp(line, "status") == 0)
			snprintf(r->status, sizeof(r->status), "%s", sp);
		else if (strcmp(line, "why") == 0)
			snprintf(r->why, sizeof(r->why), "%s", sp);
		else if (strcmp(line, "oldest-proven") == 0)
			snprintf(r->oldest_proven, sizeof(r->oldest_proven),
			    "%s", sp);
		else if (strcmp(line, "retention") == 0)
			snprintf(r->retention, sizeof(r->retention), "%s", sp);
		else if (strcmp(line, "started") == 0)
			r->started = v;
		else if (strcmp(line, "finished") == 0)
			r->finished = v;
		else if (strcmp(line, "files") == 0)
			r->files = (uint64_t)v;
		else if (strcmp(line, "changed") == 0)
			r->changed = (uint64_t)v;
		else if (strcmp(line, "increment-bytes") == 0)
			r->inc_bytes = (uint64_t)v;
		else if (strcmp(line, "source-bytes") == 0)
			r->source_bytes = (uint64_t)v;
		else if (strcmp(line, "warnings") == 0)
			r->nwarn = (unsigned)v;
		else if (strcmp(line, "drilled") == 0)
			r->drilled = v;
		else if (strcmp(line, "last-success") == 0)
			r->last_ok = v;
		else if (strcmp(line, "new") == 0)
			r->new_files = (uint64_t)v;
		else if (strcmp(line, "deleted") == 0)
			r->deleted_files = (uint64_t)v;
		else if (strcmp(line, "elapsed") == 0)
			r->elapsed = atof(sp);
		else if (strcmp(line, "changed-bytes") == 0)
			r->changed_bytes = (uint64_t)v;
		else if (strcmp(line, "vault") == 0 && strcmp(sp, "-") != 0)
			snprintf(r->vault, sizeof(r->vault), "%s", sp);
		else if (strcmp(line, "vault-success") == 0)
			r->vault_ok = v;
		else if (strcmp(line, "backup-seconds") == 0)
			r->backup_s = atof(sp);
	}
	fclose(f);
	return 0;
}

/* ---- running commands -------------------------------------------------- */

/*
 * Run ${argv} (argv[0] a path) with stdout and stderr appended to
 * ${logfd} (or /dev/null); its exit status, 128+signal, or -1.
 */
static int
run_argv(char *const argv[], int logfd)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int nul = open("/dev/null", O_RDWR);

		dup2(nul, 0);
		dup2(logfd >= 0 ? logfd : nul, 1);
		dup2(logfd >= 0 ? logfd : nul, 2);
		execv(argv[0], argv);
		_exit(127);
	}
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

/* A hook from the configuration: the administrator's shell command. */
static int
run_hook(const char *cmd, int logfd)
{
	char *argv[] = { (char *)"/bin/sh", (char *)"-c", (char *)cmd, NULL };

	return run_argv(argv, logfd);
}

static char self[4096];

/* This program, for its own actions. */
static void
find_self(void)
{
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);

	if (n <= 0)
		fatal("cannot find this program: %s", strerror(errno));
	self[n] = '\0';
}

/* ---- one host's work ----------------------------------------------------- */

static void __attribute__((format(printf, 2, 3)))
logline(int fd, const char *fmt, ...)
{
	char buf[1024];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > 0)
		(void)!write(fd, buf,
		    (size_t)n < sizeof(buf) ? (size_t)n : sizeof(buf) - 1);
}

/* The newest session's statistics of a local repository (by the time
 * in their names: a zone offset in one does not make it sort last). */
static void
read_stats(const char *repo, struct result *r)
{
	struct repo_entry *e = NULL;
	char line[256];
	size_t n = 0, i, best = 0;
	int dfd, fd = -1, found = 0;
	uint64_t mirror = 0;
	FILE *f;

	if ((dfd = repo_open_data(repo)) < 0)
		return;
	if (repo_scan(dfd, &e, &n) == 0) {
		for (i = 0; i < n; i++)
			if (strncmp(e[i].name, "session_statistics.", 19) ==
				0 &&
			    (!found || e[i].inc.time > e[best].inc.time)) {
				best = i;
				found = 1;
			}
		if (found)
			fd = openat(dfd, e[best].name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		repo_scan_free(e, n);
	}
	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		if (fd >= 0)
			close(fd);
		close(dfd);
		return;
	}
	while (fgets(line, sizeof(line), f) != NULL) {
		unsigned long long v;
		char key[64];

		if (sscanf(line, "%63s %llu", key, &v) != 2)
			continue;
		if (strcmp(key, "SourceFiles") == 0)
			r->files = v;
		else if (strcmp(key, "ChangedFiles") == 0)
			r->changed = v;
		else if (strcmp(key, "NewFiles") == 0)
			r->new_files = v;
		else if (strcmp(key, "DeletedFiles") == 0)
			r->deleted_files = v;
		else if (strcmp(key, "IncrementFileSize") == 0)
			r->inc_bytes = v;
		else if (strcmp(key, "NewFileSize") == 0 ||
		    strcmp(key, "ChangedSourceSize") == 0)
			r->changed_bytes += v;
		else if (strcmp(key, "SourceFileSize") == 0)
			r->source_bytes = v;
		else if (strcmp(key, "MirrorFiles") == 0)
			mirror = v;
	}
	/* A first backup: rdiff-backup (and capback, as it) counts the root
	 * as in the mirror and changed; for people it is new like the rest. */
	if (mirror == 1 && r->changed >= 1 && r->new_files + 1 == r->files &&
	    repo_session_span(repo, NULL, NULL) == 1) {
		r->changed--;
		r->new_files++;
	}
	fclose(f);
	close(dfd);
}

/* Lines of the host's log that are warnings or errors of this run. */
static unsigned
count_warnings(const char *log, off_t from)
{
	char line[2048];
	unsigned n = 0;
	FILE *f = fopen(log, "r");

	if (f == NULL)
		return 0;
	fseeko(f, from, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "capback: ", 9) == 0)
			n++;
	fclose(f);
	return n;
}

static int
is_remote(const char *loc)
{
	return strstr(loc, "::") != NULL;
}

/*
 * After a backup, the host's sessions to its vault (vault = ...): a
 * failure is a warning of the host's run (its backup stands), and the
 * vault's lag grows from the last complete copy.
 */
static void
host_push(const struct config *c, const struct host *h, const char *vb,
    const char *schema, int logfd, const char *logpath, struct result *r)
{
	char *argv[] = { self, (char *)"-v", (char *)vb,
		(char *)"--remote-schema", (char *)schema, (char *)"--wait",
		(char *)"replicate", (char *)"--", h->repo, h->vault, NULL };
	int st;
	off_t start = lseek(logfd, 0, SEEK_END);

	(void)c;
	logline(logfd, "== replicate %s -> %s\n", h->repo, h->vault);
	st = run_argv(argv, logfd);
	if (st == 0) {
		snprintf(r->vault, sizeof(r->vault), "ok");
		r->vault_ok = (int64_t)time(NULL);
	} else {
		snprintf(r->vault, sizeof(r->vault), "failed");
		logline(logfd,
		    "capback: the copy to the vault %s failed (status %d)\n",
		    h->vault, st);
	}
	r->nwarn += count_warnings(logpath, start);
}

/* Phase 1: before, backup, after.  Returns the worker's exit status. */
static int
host_backup(const struct config *c, const struct host *h, const char *vb,
    int logfd, const char *logpath, struct result *r)
{
	char *argv[16 + 2 * MAX_RULES];
	const char *schema = h->schema ? h->schema :
	    c->schema		       ? c->schema :
					 RUN_SCHEMA;
	int n = 0, st;
	off_t start = lseek(logfd, 0, SEEK_END);

	if (h->before != NULL) {
		logline(logfd, "== before: %s\n", h->before);
		if ((st = run_hook(h->before, logfd)) != 0) {
			snprintf(r->status, sizeof(r->status), "failed");
			snprintf(r->why, sizeof(r->why),
			    "the before command failed (status %d)", st);
			return 1;
		}
	}
	argv[n++] = self;
	argv[n++] = (char *)"-v";
	argv[n++] = (char *)vb;
	argv[n++] = (char *)"--remote-schema";
	argv[n++] = (char *)schema;
	/* a repository in use (a backup by hand) is waited for, within
	 * the host's timeout */
	argv[n++] = (char *)"--wait";
	if (c->current_time != NULL) {
		argv[n++] = (char *)"--current-time";
		argv[n++] = (char *)c->current_time;
	}
	if (h->replicate_from != NULL) {
		/* a vault's host: its primary's new sessions */
		argv[n++] = (char *)"replicate";
		argv[n++] = (char *)"--";
		argv[n++] = h->replicate_from;
		argv[n++] = h->repo;
		argv[n] = NULL;
		logline(logfd, "== replicate %s -> %s\n", h->replicate_from,
		    h->repo);
	} else {
		argv[n++] = (char *)"backup";
		for (size_t i = 0; i < h->nrules; i++)
			argv[n++] = h->rules[i];
		/* digests come from the host only in a pull */
		if (is_remote(h->source) &&
		    (h->check_received || c->check_received)) {
			argv[n++] = (char *)"--check-received";
			argv[n++] = h->check_received ? h->check_received :
							c->check_received;
		}
		argv[n++] = (char *)"--";
		argv[n++] = h->source;
		argv[n++] = h->repo;
		argv[n] = NULL;
		logline(logfd, "== backup %s -> %s\n", h->source, h->repo);
	}
	st = run_argv(argv, logfd);
	r->nwarn = count_warnings(logpath, start);
	/* rdiff-backup's bits: 2 warnings, 4 files that could not be
	 * read (named in the log); 1 or worse: no session */
	if (st >= 0 && st < 8 && (st & 1) == 0) {
		snprintf(r->status, sizeof(r->status), "ok");
		if (!is_remote(h->repo))
			read_stats(h->repo, r);
	} else {
		snprintf(r->status, sizeof(r->status), "failed");
		snprintf(r->why, sizeof(r->why),
		    "the %s failed (status %d): see %s",
		    h->replicate_from ? "copy from the primary" : "backup", st,
		    logpath);
	}
	if (h->vault != NULL && strcmp(r->status, "ok") == 0)
		host_push(c, h, vb, schema, logfd, logpath, r);
	if (h->after != NULL) {
		logline(logfd, "== after: %s\n", h->after);
		if ((st = run_hook(h->after, logfd)) != 0) {
			r->nwarn++;
			logline(logfd,
			    "capback: the after command failed "
			    "(status %d)\n",
			    st);
		}
	}
	return strcmp(r->status, "ok") != 0;
}

/* An age ("5m", "3h", "2D") of ${t} at ${now}; "never" for 0. */
static void
age(char *buf, size_t len, int64_t now, int64_t t)
{
	long long d = (long long)(now - t);

	if (t == 0)
		snprintf(buf, len, "never");
	else if (d < 3600)
		snprintf(buf, len, "%lldm", d / 60);
	else if (d < 172800)
		snprintf(buf, len, "%lldh", d / 3600);
	else
		snprintf(buf, len, "%lldD", d / 86400);
}

/* The "oldest point in time proven restorable" line of a drill. */
static void
drill_oldest(const char *log, off_t from, struct result *r)
{
	char line[512];
	FILE *f = fopen(log, "r");
	static const char key[] = "oldest point in time proven restorable: ";

	if (f == NULL)
		return;
	fseeko(f, from, SEEK_SET);
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, sizeof(key) - 1) == 0) {
			char *nl = strchr(line, '\n');

			if (nl != NULL)
				*nl = '\0';
			snprintf(r->oldest_proven, sizeof(r->oldest_proven),
			    "%s", line + sizeof(key) - 1);
		}
	fclose(f);
}

/* How many sessions a local repository keeps (and the oldest's time in
 * *${oldest}); 0 for a remote one. */
static size_t
session_count(const char *repo, int64_t *oldest)
{
	return is_remote(repo) ? 0 : repo_session_span(repo, oldest, NULL);
}

/* Phase 2: retention, then the drill (local repositories). */
static void
host_keep_and_drill(const struct config *c, const struct host *h,
    const char *vb, int logfd, const char *logpath, struct result *r)
{
	char maxd[32];
	int st;

	if (h->keep != NULL) {
		char *argv[16];
		int n = 0;

		argv[n++] = self;
		argv[n++] = (char *)"-v";
		argv[n++] = (char *)vb;
		if (c->current_time != NULL) {
			argv[n++] = (char *)"--current-time";
			argv[n++] = (char *)c->current_time;
		}
		argv[n++] = (char *)"--force";
		argv[n++] = (char *)"--wait";
		argv[n++] = (char *)"remove";
		argv[n++] = (char *)"increments";
		argv[n++] = (char *)"--older-than";
		argv[n++] = h->keep;
		argv[n++] = h->repo;
		argv[n] = NULL;

		size_t before = session_count(h->repo, NULL), after;
		int64_t oldest = 0;
		char ts[TIMEFMT_LEN];

		logline(logfd, "== remove increments older than %s\n", h->keep);
		st = run_argv(argv, logfd);
		after = session_count(h->repo, &oldest);
		timefmt_utc(oldest, ts);
		if (st == 0 && before > after)
			snprintf(r->retention, sizeof(r->retention),
			    "%zu %s older than %s removed, %zu kept (the "
			    "oldest from %s)",
			    before - after,
			    before - after == 1 ? "session" : "sessions",
			    h->keep, after, ts);
		else if (st == 0 || st == 2)
			snprintf(r->retention, sizeof(r->retention),
			    "nothing older than %s to remove", h->keep);
		else
			snprintf(r->retention, sizeof(r->retention),
			    "FAILED (see the log)");
		if (st != 0 && st != 2)
			r->nwarn++;
	}
	if (strcmp(h->drill, "none") == 0 || is_remote(h->repo))
		return;
	{
		off_t start = lseek(logfd, 0, SEEK_END);
		char *argv[12];
		int n = 0;

		snprintf(maxd, sizeof(maxd), "%ld", h->drill_max);
		argv[n++] = self;
		argv[n++] = (char *)"-v";
		argv[n++] = (char *)vb;
		argv[n++] = (char *)"drill";
		if (strcmp(h->drill, "all") == 0)
			argv[n++] = (char *)"--all";
		else {
			argv[n++] = (char *)"--sample";
			argv[n++] = h->drill;
		}
		argv[n++] = (char *)"--max-duration";
		argv[n++] = maxd;
		argv[n++] = h->repo;
		argv[n] = NULL;
		logline(logfd, "== drill\n");
		st = run_argv(argv, logfd);
		r->drilled = (int64_t)time(NULL);
		drill_oldest(logpath, start, r);
		if (st != 0) {
			snprintf(r->status, sizeof(r->status), "failed");
			snprintf(r->why, sizeof(r->why),
			    "the drill found damage (status %d): see %s", st,
			    logpath);
		}
	}
}

/*
 * A worker: one host's phase (1: before, backup, after; 2: retention and
 * drill), in a process group of its own (a timeout ends all of it).  The
 * run holds the host's lock for both phases (run_lock_hosts).  Exit
 * status 0 ok, 1 failed.
 */
static int
worker(const struct config *c, const struct host *h, const char *vb, int phase)
{
	char logpath[4096];
	struct result r, last;
	int logfd, rc = 0, has_last;
	struct timespec t0, t1;

	state_path(c, logpath, sizeof(logpath), "logs", h->name, ".log");
	has_last = result_load(c, h, &last) == 0;
	if ((logfd = open(logpath,
		 O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC |
		     (phase == 1 ? O_TRUNC : 0),
		 0640)) < 0)
		fatal("cannot open %s: %s", logpath, strerror(errno));
	clock_gettime(CLOCK_MONOTONIC, &t0);
	if (phase == 1) {
		result_fresh(&r, has_last ? &last : NULL, (int64_t)time(NULL));
		rc = host_backup(c, h, vb, logfd, logpath, &r);
	} else {
		if (!has_last || strcmp(last.status, "ok") != 0)
			return 0; /* nothing to keep or drill after a failure */
		r = last;
		host_keep_and_drill(c, h, vb, logfd, logpath, &r);
		rc = strcmp(r.status, "ok") != 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	r.elapsed += (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	if (phase == 1)
		r.backup_s = r.elapsed;
	r.finished = (int64_t)time(NULL);
	result_save(c, h, &r);
	close(logfd);
	return rc;
}

/*
 * Take every host's lock (STATE/locks/NAME.lock, flock) for the whole run,
 * from its before command to the end of its drill, and write our PID in
 * it.  A host whose lock another run holds is left out of this one:
 * ${skip}[i] is set and ${skipped}[i] says "skipped (running in PID n)",
 * which is no failure (its result file stays the other run's).  The descriptors stay open until we exit.
 */
static void
run_lock_hosts(const struct config *c, char *skip, struct result *skipped)
{
	for (size_t i = 0; i < c->n; i++) {
		const struct host *h = &c->hosts[i];
		char lock[4096], buf[32] = "";
		struct result r, last;
		ssize_t n;
		int fd;

		state_path(c, lock, sizeof(lock), "locks", h->name, ".lock");
		if ((fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0640)) < 0)
			fatal("cannot open %s: %s", lock, strerror(errno));
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			n = snprintf(buf, sizeof(buf), "%ld\n", (long)getpid());
			if (ftruncate(fd, 0) != 0 ||
			    pwrite(fd, buf, (size_t)n, 0) != n)
				log_warn("cannot note our PID in %s: %s", lock,
				    strerror(errno));
			continue;
		}
		skip[i] = 1;
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		buf[n > 0 ? n : 0] = '\0';
		buf[strspn(buf, "0123456789")] = '\0'; /* a PID, or nothing */
		close(fd);
		result_fresh(&r, result_load(c, h, &last) == 0 ? &last : NULL,
		    (int64_t)time(NULL));
		r.finished = r.started;
		snprintf(r.status, sizeof(r.status), "skipped");
		snprintf(r.why, sizeof(r.why),
		    "another run is still on this host (running in PID %s)",
		    buf[0] ? buf : "?");
		/* for this run's report only: the host's result file is the
		 * other run's to write */
		skipped[i] = r;
		log_warn("host %s: skipped, %s", h->name, r.why);
	}
}

/* ---- the report ------------------------------------------------------ */

/*
 * A line of a host's log into the report, indented: what a remote role
 * printed (a host's reader over ssh) is the host's to choose, so control
 * characters are shown escaped and cannot forge a line of the report.
 */
static void
add_log_line(struct strbuf *sb, const char *line)
{
	size_t n = strlen(line);

	if (n > 0 && line[n - 1] == '\n')
		n--;
	strbuf_addf(sb, "      %s\n", log_text(line, n));
}

/* The warning lines of a host's log (at most ${max}). */
static void
add_warnings(struct strbuf *sb, const struct config *c, const struct host *h,
    unsigned max)
{
	char path[4096], line[2048];
	unsigned n = 0, more = 0;
	FILE *f;

	state_path(c, path, sizeof(path), "logs", h->name, ".log");
	if ((f = fopen(path, "r")) == NULL)
		return;
	/* every warning and error line but retention's routine note (it
	 * is no warning of the run: remove increments says it, exit 2) */
	while (fgets(line, sizeof(line), f) != NULL) {
		if (strncmp(line, "capback: ", 9) != 0 ||
		    strncmp(line + 9, "no increments older than ", 25) == 0)
			continue;
		if (n++ < max)
			add_log_line(sb, line + 9);
		else
			more++;
	}
	if (more > 0)
		strbuf_addf(sb, "      ... and %u more (in %s)\n", more, path);
	fclose(f);
}

/* The last lines of a failed host's log (not the "==" step lines). */
static void
add_log_tail(struct strbuf *sb, const struct config *c, const struct host *h,
    unsigned max)
{
	char path[4096], line[2048], ring[8][2048];
	unsigned n = 0;
	FILE *f;

	if (max > 8)
		max = 8;
	state_path(c, path, sizeof(path), "logs", h->name, ".log");
	if ((f = fopen(path, "r")) == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "== ", 3) != 0)
			memcpy(ring[n++ % max], line, sizeof(line));
	fclose(f);
	for (unsigned i = n > max ? n - max : 0; i < n; i++)
		add_log_line(sb, ring[i % max]);
}

/* A duration for a person: "2.6 s", "95 s", "12 min 5 s". */
static const char *
span_text(double s, char *buf, size_t len)
{
	if (s < 10)
		snprintf(buf, len, "%.1f s", s);
	else if (s < 600)
		snprintf(buf, len, "%.0f s", s);
	else
		snprintf(buf, len, "%lld min %lld s", (long long)s / 60,
		    (long long)s % 60);
	return buf;
}

static unsigned
build_report(const struct config *c, struct strbuf *sb, int64_t began,
    const char *skip, const struct result *skipped)
{
	unsigned failed = 0;
	char ts[TIMEFMT_LEN];

	timefmt_utc(began, ts);
	strbuf_addf(sb, "capback run of %s, started %s (%s)\n", c->path, ts,
	    "UTC");
	if (c->shards > 1)
		strbuf_addf(sb, "shard %u/%u: %zu of the %zu hosts\n", c->shard,
		    c->shards, c->n, c->n_all);
	strbuf_addstr(sb, "\n");
	for (size_t i = 0; i < c->n; i++) {
		const struct host *h = &c->hosts[i];
		struct result r;
		char inc[32], src[32], took[48];

		if (skip[i])
			r = skipped[i];
		else if (result_load(c, h, &r) != 0 || r.finished < began) {
			strbuf_addf(sb, "%-16s NO RESULT\n", h->name);
			failed++;
			continue;
		}
		if (strcmp(r.status, "ok") != 0 &&
		    strcmp(r.status, "skipped") != 0)
			failed++;
		log_bytes(inc, sizeof(inc), r.inc_bytes);
		log_bytes(src, sizeof(src), r.source_bytes);
		strbuf_addf(sb, "%-16s %s in %s\n", h->name,
		    strcmp(r.status, "ok") == 0		 ? "OK" :
			strcmp(r.status, "skipped") == 0 ? "SKIPPED" :
			strcmp(r.status, "timeout") == 0 ? "TIMED OUT" :
							   "FAILED",
		    span_text(r.elapsed > 0 ? r.elapsed :
					      (double)(r.finished - r.started),
			took, sizeof(took)));
		if (r.why[0] != '\0')
			strbuf_addf(sb, "    %s\n", r.why);
		if (strcmp(r.status, "failed") == 0 ||
		    strcmp(r.status, "timeout") == 0)
			add_log_tail(sb, c, h, 6);
		if (strcmp(r.status, "skipped") != 0 && strcmp(r.why, "") == 0)
			strbuf_addf(sb,
			    "    %" PRIu64 " %s (%s): %" PRIu64 " new, %" PRIu64
			    " changed, %" PRIu64 " deleted; increment %s\n",
			    r.files, r.files == 1 ? "file" : "files", src,
			    r.new_files, r.changed, r.deleted_files, inc);
		if (h->vault != NULL && r.vault[0] != '\0') {
			char at[TIMEFMT_LEN] = "never";

			if (r.vault_ok != 0)
				timefmt_utc(r.vault_ok, at);
			if (strcmp(r.vault, "ok") == 0)
				strbuf_addf(sb,
				    "    vault: every session copied\n");
			else
				strbuf_addf(sb,
				    "    vault: COPY FAILED (the last complete "
				    "copy: %s)\n",
				    at);
		}
		if (r.retention[0] != '\0')
			strbuf_addf(sb, "    retention: %s\n", r.retention);
		strbuf_addf(sb, "    oldest point proven restorable: %s\n",
		    r.oldest_proven[0] ? r.oldest_proven : "none yet");
		/* a failed host's log tail is above: its lines are not
		 * repeated as warnings */
		if (r.nwarn > 0 && strcmp(r.status, "failed") != 0 &&
		    strcmp(r.status, "timeout") != 0) {
			strbuf_addf(sb, "    %u %s:\n", r.nwarn,
			    r.nwarn == 1 ? "warning" : "warnings");
			add_warnings(sb, c, h, 20);
		}
	}
	strbuf_addf(sb, "\n%zu %s, %u failed\n", c->n,
	    c->n == 1 ? "host" : "hosts", failed);
	return failed;
}

/* Hand the report to sendmail; 0 once it accepted it. */
static int
send_report(const struct config *c, const struct strbuf *report,
    unsigned failed)
{
	char date[64], host[256] = "localhost";
	struct strbuf msg = STRBUF_INIT;
	time_t now = time(NULL);
	int p[2], st;
	pid_t pid;

	gethostname(host, sizeof(host) - 1);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S +0000",
	    gmtime(&now));
	if (c->mail_from != NULL)
		strbuf_addf(&msg, "From: %s\n", c->mail_from);
	strbuf_addf(&msg,
	    "To: %s\nSubject: capback on %s: %zu %s, %u failed\n"
	    "Date: %s\nMIME-Version: 1.0\n"
	    "Content-Type: text/plain; charset=utf-8\n\n",
	    c->mail_to, host, c->n, c->n == 1 ? "host" : "hosts", failed, date);
	strbuf_addf(&msg, "%s", report->buf);
	if (pipe(p) != 0 || (pid = fork()) < 0)
		fatal("cannot start %s: %s", c->sendmail, strerror(errno));
	if (pid == 0) {
		char *argv[8];
		int n = 0;

		dup2(p[0], 0);
		close(p[0]);
		close(p[1]);
		argv[n++] = c->sendmail;
		argv[n++] = (char *)"-oi";
		argv[n++] = (char *)"-t";
		if (c->mail_from != NULL) {
			argv[n++] = (char *)"-f";
			argv[n++] = c->mail_from;
		}
		argv[n] = NULL;
		execv(argv[0], argv);
		_exit(127);
	}
	close(p[0]);
	signal(SIGPIPE, SIG_IGN);
	st = fs_write_all(p[1], msg.buf, msg.len);
	close(p[1]);
	strbuf_release(&msg);
	while (waitpid(pid, &st, 0) < 0)
		if (errno != EINTR)
			return -1;
	if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
		log_error("%s did not take the report (status %d)", c->sendmail,
		    WIFEXITED(st) ? WEXITSTATUS(st) : -1);
		return -1;
	}
	return 0;
}

/* ---- capback run ------------------------------------------------------- */

/*
 * A host whose phase outlived its timeout: end its process group (TERM,
 * then KILL after 10 s), and once it is reaped, say so in its result.
 */
static void
timed_out(const struct config *c, const struct host *h, int phase,
    int64_t started, int64_t limit)
{
	struct result r, last;
	int has_last = result_load(c, h, &last) == 0;

	/* phase 1: what this run's worker had, nothing of the last run's */
	if (phase == 1)
		result_fresh(&r, has_last ? &last : NULL, started);
	else if (has_last)
		r = last;
	else
		memset(&r, 0, sizeof(r));
	if (phase == 1 || strcmp(r.status, "ok") == 0) {
		snprintf(r.status, sizeof(r.status), "timeout");
		snprintf(r.why, sizeof(r.why),
		    "%s ended after %lld s (timeout = %s): see %s/logs/%s.log",
		    phase == 2		  ? "retention and the drill" :
			h->replicate_from ? "the copy from the primary" :
					    "the backup",
		    (long long)limit, h->timeout ? h->timeout : c->timeout,
		    c->state, h->name);
	}
	r.finished = (int64_t)time(NULL);
	result_save(c, h, &r);
	log_error("host %s: timed out after %lld s", h->name, (long long)limit);
}

/* One host's phase being run (a worker process). */
struct job {
	pid_t pid; /* 0: the slot is free */
	size_t host;
	int phase;
	int64_t start, limit;
	int ended; /* SIGTERM sent (1), then SIGKILL (2) */
};

/*
 * The run's schedule.  Backups go longest first (by the host's last
 * backup; a host never backed up first of all), each not before its
 * start jitter; a host's retention and drill (phase 2) is queued when its
 * backup ends and runs beside later backups, at most drill_budget at
 * once while backups remain (the drills read repositories hard), then
 * with every slot.  At most c->parallel workers run.
 */
struct sched {
	const struct config *c;
	const char *vb;
	int tty;
	int64_t began;
	size_t *order; /* the backups not started yet, in order */
	size_t norder;
	int64_t *notbefore; /* per host: the jitter's start (ms) */
	size_t *q2, n2, next2;
	struct job *jobs; /* c->parallel slots */
	size_t running, running2, drill_budget;
	size_t done1, done2, total;
	uint64_t files, bytes; /* of the backups done: progress */
};

/* The last backup's seconds (unknown: -1), for the order. */
static double *order_key;

static int
longest_first(const void *a, const void *b)
{
	size_t x = *(const size_t *)a, y = *(const size_t *)b;
	double kx = order_key[x], ky = order_key[y];

	if (kx < 0 && ky >= 0)
		return -1;
	if (ky < 0 && kx >= 0)
		return 1;
	if (kx != ky)
		return kx > ky ? -1 : 1;
	return x < y ? -1 : x > y; /* the configuration's order */
}

static void
sched_init(struct sched *s, const struct config *c, const char *skip,
    const char *vb, int tty, int64_t began)
{
	uint64_t rnd = 0;

	memset(s, 0, sizeof(*s));
	s->c = c;
	s->vb = vb;
	s->tty = tty;
	s->began = began;
	if ((s->order = calloc(c->n + 1, sizeof(*s->order))) == NULL ||
	    (s->notbefore = calloc(c->n + 1, sizeof(*s->notbefore))) == NULL ||
	    (s->q2 = calloc(c->n + 1, sizeof(*s->q2))) == NULL ||
	    (s->jobs = calloc((size_t)c->parallel, sizeof(*s->jobs))) == NULL ||
	    (order_key = calloc(c->n + 1, sizeof(*order_key))) == NULL)
		fatal("out of memory");
	if (c->jitter > 0 && getrandom(&rnd, sizeof(rnd), 0) != sizeof(rnd))
		fatal("getrandom: %s", strerror(errno));
	for (size_t i = 0; i < c->n; i++) {
		struct result last;

		if (skip[i])
			continue;
		order_key[i] = -1;
		if (result_load(c, &c->hosts[i], &last) == 0)
			order_key[i] = last.backup_s > 0 ? last.backup_s :
			    last.elapsed > 0		 ? last.elapsed :
							   -1;
		if (c->jitter > 0) {
			rnd = xorshift64_next(rnd | 1); /* the jitter's draws */
			s->notbefore[i] = began * 1000 +
			    (int64_t)(rnd % ((uint64_t)c->jitter * 1000));
		}
		s->order[s->norder++] = i;
	}
	qsort(s->order, s->norder, sizeof(*s->order), longest_first);
	free(order_key);
	order_key = NULL;
	s->total = s->norder;
	s->drill_budget =
	    (size_t)c->parallel / 4 > 0 ? (size_t)c->parallel / 4 : 1;
}

static void
sched_free(struct sched *s)
{
	free(s->order);
	free(s->notbefore);
	free(s->q2);
	free(s->jobs);
}

static void
progress(const struct sched *s)
{
	struct strbuf sb = STRBUF_INIT;
	long secs = (long)(time(NULL) - s->began);
	char b[32], rate[32];

	/* the rate of what was read and stored: new and changed files'
	 * bytes, not the unchanged ones a backup only looked at */
	log_bytes(b, sizeof(b), s->bytes);
	log_bytes(rate, sizeof(rate), secs > 0 ? s->bytes / (uint64_t)secs : 0);
	strbuf_addf(&sb,
	    "\r\033[Kbackups %zu/%zu hosts, drills %zu, %" PRIu64
	    " files, %s new or changed, %s/s;",
	    s->done1, s->total, s->done2, s->files, b, rate);
	for (size_t k = 0; k < (size_t)s->c->parallel && sb.len < 400; k++)
		if (s->jobs[k].pid > 0)
			strbuf_addf(&sb, " %s%s",
			    s->c->hosts[s->jobs[k].host].name,
			    s->jobs[k].phase == 2 ? " (drill)" : "");
	(void)!write(2, sb.buf, sb.len);
	strbuf_release(&sb);
}

/* Start host ${i}'s phase in a free slot. */
static void
sched_start(struct sched *s, size_t i, int phase)
{
	const struct config *c = s->c;
	struct job *j = NULL;
	pid_t pid;

	for (size_t k = 0; k < (size_t)c->parallel && j == NULL; k++)
		if (s->jobs[k].pid == 0)
			j = &s->jobs[k];
	if (j == NULL)
		fatal("internal: no free slot");
	if ((pid = fork()) < 0)
		fatal("fork: %s", strerror(errno));
	if (pid == 0) {
		sigset_t none;

		sigemptyset(&none);
		sigprocmask(SIG_SETMASK, &none, NULL);
		setpgid(0, 0);
		_exit(worker(c, &c->hosts[i], s->vb, phase));
	}
	setpgid(pid, pid);
	j->pid = pid;
	j->host = i;
	j->phase = phase;
	j->start = (int64_t)time(NULL);
	j->limit = span_seconds(
	    c->hosts[i].timeout ? c->hosts[i].timeout : c->timeout);
	j->ended = 0;
	s->running++;
	if (phase == 2)
		s->running2++;
}

/* The next backup due now (0 and its index), or -1 (*wake: the
 * soonest a jittered one is due). */
static int
next_backup(struct sched *s, int64_t now, int64_t *wake, size_t *out)
{
	for (size_t k = 0; k < s->norder; k++) {
		size_t i = s->order[k];

		if (s->notbefore[i] > now) {
			if (*wake == 0 || s->notbefore[i] < *wake)
				*wake = s->notbefore[i];
			continue;
		}
		memmove(&s->order[k], &s->order[k + 1],
		    (s->norder - k - 1) * sizeof(*s->order));
		s->norder--;
		*out = i;
		return 0;
	}
	return -1;
}

/* The time in milliseconds (the schedule's clock). */
static int64_t
now_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Fill free slots; returns the soonest time (ms) a jittered backup is
 * due (0: none waits). */
static int64_t
sched_fill(struct sched *s)
{
	int64_t now = now_ms(), wake = 0;
	size_t i;

	while (s->running < (size_t)s->c->parallel) {
		int backups_left = s->norder > 0 || s->running > s->running2;

		if (s->next2 < s->n2 &&
		    s->running2 < (backups_left ? s->drill_budget :
						  (size_t)s->c->parallel)) {
			sched_start(s, s->q2[s->next2++], 2);
			continue;
		}
		wake = 0;
		if (next_backup(s, now, &wake, &i) != 0)
			break;
		sched_start(s, i, 1);
	}
	return wake;
}

/* A worker ended: its slot is free; a backup's drill is queued. */
static void
sched_reaped(struct sched *s, struct job *j, int st)
{
	const struct config *c = s->c;
	const struct host *h = &c->hosts[j->host];
	int failed = !WIFEXITED(st) || WEXITSTATUS(st) != 0;

	s->running--;
	if (j->phase == 2)
		s->running2--;
	if (s->tty)
		(void)!write(2, "\r\033[K", 4);
	if (j->ended)
		timed_out(c, h, j->phase, j->start, j->limit);
	else if (failed)
		log_error("host %s: %s failed (see %s/logs/%s.log)", h->name,
		    j->phase == 2	  ? "the drill" :
			h->replicate_from ? "the copy" :
					    "the backup",
		    c->state, h->name);
	if (j->phase == 1) {
		struct result r;

		s->done1++;
		if (result_load(c, h, &r) == 0 && r.finished >= s->began) {
			s->files += r.files;
			s->bytes += r.changed_bytes;
		}
		/* retention and the drill follow a backup that stands */
		if (!j->ended && !failed)
			s->q2[s->n2++] = j->host;
	} else
		s->done2++;
	j->pid = 0;
}

/* End the workers past their timeout (TERM, then KILL 10 s later);
 * returns the soonest time (ms) one will be due. */
static int64_t
sched_timeouts(struct sched *s)
{
	int64_t now = now_ms(), wake = 0;

	for (size_t k = 0; k < (size_t)s->c->parallel; k++) {
		struct job *j = &s->jobs[k];
		int64_t due;

		if (j->pid <= 0 || j->ended >= 2)
			continue;
		due = (j->start + j->limit + (j->ended ? 10 : 0)) * 1000;
		if (now >= due) {
			kill(-j->pid, j->ended ? SIGKILL : SIGTERM);
			j->ended++;
			due = (j->start + j->limit + 10) * 1000;
		}
		if (j->ended < 2 && (wake == 0 || due < wake))
			wake = due;
	}
	return wake;
}

static void
on_sigchld(int sig)
{
	(void)sig; /* only to be woken by it */
}

/* Run every host not skipped: backups, then each one's retention and
 * drill, as the schedule says (struct sched). */
static void
run_hosts(const struct config *c, const char *skip, const char *vb, int tty,
    int64_t began)
{
	struct sched s;
	sigset_t chld, old;
	struct sigaction sa, oldsa;

	sched_init(&s, c, skip, vb, tty, began);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_sigchld;
	sigaction(SIGCHLD, &sa, &oldsa);
	sigemptyset(&chld);
	sigaddset(&chld, SIGCHLD);
	sigprocmask(SIG_BLOCK, &chld, &old);
	for (;;) {
		int64_t wake = sched_fill(&s), due = sched_timeouts(&s), now,
			wait;
		struct timespec ts = { 0, 0 };
		pid_t pid;
		int st;

		if (s.running == 0 && s.norder == 0 && s.next2 == s.n2)
			break;
		if (tty)
			progress(&s);
		if (due != 0 && (wake == 0 || due < wake))
			wake = due;
		now = now_ms();
		wait = wake == 0 ? 60000 : wake > now ? wake - now : 1;
		if (tty && wait > 1000)
			wait = 1000; /* the progress line's clock */
		ts.tv_sec = wait / 1000;
		ts.tv_nsec = (long)(wait % 1000) * 1000000;
		if (s.running > 0 || wake != 0)
			(void)sigtimedwait(&chld, NULL, &ts);
		while ((pid = waitpid(-1, &st, WNOHANG)) > 0)
			for (size_t k = 0; k < (size_t)c->parallel; k++)
				if (s.jobs[k].pid == pid)
					sched_reaped(&s, &s.jobs[k], st);
	}
	if (tty)
		(void)!write(2, "\r\033[K", 4);
	sigprocmask(SIG_SETMASK, &old, NULL);
	sigaction(SIGCHLD, &oldsa, NULL);
	sched_free(&s);
}

/* The time of an "oldest point proven restorable" text, 0 if none. */
static int64_t
proven_time(const char *text)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	end = strptime(text, "%Y-%m-%dT%H:%M:%SZ", &tm);
	return end == NULL ? 0 : (int64_t)timegm(&tm);
}

/* The metrics file of this run ([global] metrics); 0 once written. */
static int
run_metrics(const struct config *c, int64_t began, const char *skip,
    const struct result *skipped, unsigned failed)
{
	struct host_metrics *hm = calloc(c->n, sizeof(*hm));
	struct result *rs = calloc(c->n, sizeof(*rs));
	int rc;

	if (hm == NULL || rs == NULL)
		fatal("out of memory");
	for (size_t i = 0; i < c->n; i++) {
		const struct host *h = &c->hosts[i];
		struct result *r = &rs[i];

		if (skip[i])
			*r = skipped[i];
		hm[i].name = h->name;
		hm[i].have = skip[i] || result_load(c, h, r) == 0;
		hm[i].ok = strcmp(r->status, "ok") == 0;
		hm[i].started = r->started;
		hm[i].finished = r->finished;
		hm[i].elapsed = r->elapsed;
		hm[i].last_ok = hm[i].ok ? r->finished : r->last_ok;
		hm[i].drilled = r->drilled;
		hm[i].oldest_proven = proven_time(r->oldest_proven);
		hm[i].files = r->files;
		hm[i].changed = r->changed + r->new_files + r->deleted_files;
		hm[i].inc_bytes = r->inc_bytes;
		hm[i].source_bytes = r->source_bytes;
		hm[i].warnings = r->nwarn;
		hm[i].drill_share = strcmp(h->drill, "all") == 0 ? 1.0 :
		    strcmp(h->drill, "none") == 0		 ? 0.0 :
								   atof(h->drill);
		hm[i].repo = is_remote(h->repo) ? NULL : h->repo;
		hm[i].vault = h->vault != NULL;
		hm[i].vault_ok = r->vault_ok;
	}
	rc = metrics_write(c->metrics, hm, c->n, began, (int64_t)time(NULL),
	    failed, c->shard, c->shards);
	if (rc != 0)
		log_error("cannot write the metrics file %s: %s", c->metrics,
		    strerror(errno));
	free(hm);
	free(rs);
	return rc;
}

int
run_main(int argc, char **argv, const char *verbosity, const char *current_time)
{
	const struct action *a = action_get(ACT_RUN);
	struct config c;
	struct strbuf report = STRBUF_INIT;
	char *skip;
	struct result *skipped;
	int64_t began = (int64_t)time(NULL);
	int opt, print = isatty(1), tty = isatty(2), rc = 0;
	const char *shard = NULL;
	unsigned failed;

	action_begin(argv);
	while ((opt = action_next(a, argc, argv)) != -1)
		if (opt == 'r')
			print = 1;
		else if (opt == 's')
			shard = optarg;
	if (argc - optind > 1)
		return action_misuse(a, "run takes one CONFIG at most");
	config_load(&c, optind < argc ? argv[optind] : DEFAULT_CONFIG, shard);
	c.current_time = current_time;
	{
		/* root by mistake (sudo capback run): the account's state
		 * would get root's files, its hosts root's ssh key */
		struct stat st;

		if (geteuid() == 0 && stat(c.state, &st) == 0 &&
		    st.st_uid != 0) {
			struct passwd *pw = getpwuid(st.st_uid);

			if (pw != NULL)
				fatal("run: the state directory '%s' is %s's: "
				      "run it as that account (runuser -u %s "
				      "-- capback run): as root it would leave "
				      "root's files there and use root's ssh "
				      "key",
				    c.state, pw->pw_name, pw->pw_name);
			fatal("run: the state directory '%s' belongs to uid "
			      "%ld: run it as that account, not as root",
			    c.state, (long)st.st_uid);
		}
	}
	find_self();
	mkdirs(&c);
	if ((skip = calloc(c.n + 1, 1)) == NULL ||
	    (skipped = calloc(c.n, sizeof(*skipped))) == NULL)
		fatal("out of memory");
	log_info("at most %ld hosts at once (%s%s)", c.parallel,
	    c.parallel_why[0] ? "parallel from the machine: " :
				"parallel in the configuration",
	    c.parallel_why);
	if (c.shards > 1)
		log_info("shard %u/%u: %zu of the %zu hosts", c.shard, c.shards,
		    c.n, c.n_all);
	run_lock_hosts(&c, skip, skipped);
	fflush(NULL);
	/* The hosts' roles log at most warnings (-v 3): their logs' lines
	 * are counted and shown as the hosts' warnings; -v 4 and 5 are for
	 * the run's own decisions. */
	run_hosts(&c, skip, atoi(verbosity) > 3 ? "3" : verbosity, tty, began);
	failed = build_report(&c, &report, began, skip, skipped);
	if (print)
		fputs(report.buf, stdout);
	fflush(stdout);
	{
		char path[4096];
		FILE *f;

		snprintf(path, sizeof(path), "%s/last-report.txt", c.state);
		if ((f = fopen(path, "w")) != NULL) {
			fputs(report.buf, f);
			fclose(f);
		}
	}
	if (c.mail_to != NULL && strcmp(c.mail_when, "never") != 0 &&
	    (strcmp(c.mail_when, "always") == 0 || failed > 0)) {
		if (send_report(&c, &report, failed) != 0)
			rc = 1;
		else
			log_info("report handed to %s for %s", c.sendmail,
			    c.mail_to);
	}
	if (c.metrics != NULL &&
	    run_metrics(&c, began, skip, skipped, failed) != 0)
		rc = 1;
	/* Only now: the report is with sendmail (a shutdown may follow). */
	if (c.after != NULL) {
		int st = run_hook(c.after, 2);

		if (st != 0)
			log_error("the after command failed (status %d): %s",
			    st, c.after);
	}
	strbuf_release(&report);
	free(skip);
	free(skipped);
	config_free(&c);
	return failed > 0 ? 1 : rc;
}

/* ---- capback status ------------------------------------------------------ */

/* The time of a local repository's newest session, 0 if unknown. */
static int64_t
newest_backup(const char *repo)
{
	int64_t t = 0;

	if (!is_remote(repo))
		repo_session_span(repo, NULL, &t);
	return t;
}

static void
json_str(FILE *f, const char *s)
{
	log_json_str(f, s, strlen(s));
}

/* A time (or an age) in JSON: its number, or null for 0 (never). */
static void
json_time(int64_t t)
{
	if (t == 0)
		printf("null");
	else
		printf("%lld", (long long)t);
}

/* status --json's one object when it cannot answer: {"error": WHAT,
 * KEY: PATH, "reason": strerror(ERR)} */
static void
json_error(const char *what, const char *key, const char *path, int err)
{
	printf("{\"error\": ");
	json_str(stdout, what);
	printf(", \"%s\": ", key);
	json_str(stdout, path);
	printf(", \"reason\": ");
	json_str(stdout, strerror(err));
	printf("}\n");
}

int
status_main(int argc, char **argv)
{
	const struct action *a = action_get(ACT_STATUS);
	struct config c;
	int64_t now = (int64_t)time(NULL), limit;
	int opt, json = 0, bad = 0;
	const char *shard = NULL;

	action_begin(argv);
	while ((opt = action_next(a, argc, argv)) != -1)
		if (opt == 'j')
			json = 1;
		else if (opt == 's')
			shard = optarg;
	if (argc - optind > 1)
		return action_misuse(a, "status takes one CONFIG at most");
	if (json) {
		/* a monitor parses stdout: a configuration it may not read
		 * is said there too, as a state directory it may not */
		const char *cf = optind < argc ? argv[optind] : DEFAULT_CONFIG;
		int fd = open(cf, O_RDONLY | O_CLOEXEC);

		if (fd < 0) {
			int e = errno;

			log_error("cannot read the configuration %s: %s", cf,
			    strerror(e));
			json_error("cannot read the configuration", "config",
			    cf, e);
			return 2;
		}
		close(fd);
	}
	config_load(&c, optind < argc ? argv[optind] : DEFAULT_CONFIG, shard);
	if (timespec_parse(c.overdue, now, NULL, 0, &limit) != 0)
		fatal("%s: overdue = %s is not a time span", c.path, c.overdue);
	{
		/* An account that may not read the results would call every
		 * host "never / OVERDUE": a false alarm.  Say so instead
		 * (absent is fine: no run yet). */
		char hosts[4096];
		int fd;

		snprintf(hosts, sizeof(hosts), "%s/hosts", c.state);
		fd = open(hosts, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0 && errno != ENOENT) {
			int e = errno;

			log_error("cannot read the state directory %s: %s (run "
				  "status as the account that runs the "
				  "backups, or give this one read access)",
			    hosts, strerror(e));
			if (json) /* a monitor parses stdout: there too */
				json_error("cannot read the state directory",
				    "state_dir", hosts, e);
			config_free(&c);
			return 2;
		}
		if (fd >= 0)
			close(fd);
	}
	if (json)
		printf("{\"hosts\": [");
	else {
		if (c.shards > 1)
			printf("shard %u/%u: %zu of the %zu hosts\n", c.shard,
			    c.shards, c.n, c.n_all);
		printf("%-16s %-8s %-8s %-8s %s\n", "HOST", "LAST", "BACKUP",
		    "DRILL", "OLDEST PROVEN");
	}
	for (size_t i = 0; i < c.n; i++) {
		const struct host *h = &c.hosts[i];
		struct result r;
		int64_t newest = newest_backup(h->repo);
		int has = result_load(&c, h, &r) == 0;
		int overdue = newest == 0 || newest < limit;
		char a1[32], a2[32];

		if (!has)
			snprintf(r.status, sizeof(r.status), "none");
		bad |= overdue || strcmp(r.status, "failed") == 0 || !has ||
		    (h->vault != NULL && strcmp(r.vault, "ok") != 0);
		age(a1, sizeof(a1), now, newest);
		age(a2, sizeof(a2), now, r.drilled);
		if (json) {
			printf("%s\n  {\"host\": ", i ? "," : "");
			json_str(stdout, h->name);
			printf(", \"last\": ");
			json_str(stdout, r.status);
			printf(", \"why\": ");
			json_str(stdout, r.why);
			/* what never happened is null, not 0 or -1 */
			printf(", \"last_finished\": ");
			json_time(r.finished);
			printf(", \"newest_backup\": ");
			json_time(newest);
			if (newest != 0) /* an age of 0 s is an age */
				printf(", \"backup_age_s\": %lld",
				    (long long)(now - newest));
			else
				printf(", \"backup_age_s\": null");
			printf(", \"last_drill\": ");
			json_time(r.drilled);
			printf(", \"oldest_proven\": ");
			/* the time alone, and how it was proven apart */
			if (proven_time(r.oldest_proven) == 0)
				printf("null, \"oldest_proven_time\": null, "
				       "\"oldest_proven_by\": null");
			else {
				const char *by = strchr(r.oldest_proven, '(');

				printf("\"%.20s\", \"oldest_proven_time\": "
				       "%lld, \"oldest_proven_by\": ",
				    r.oldest_proven,
				    (long long)proven_time(r.oldest_proven));
				if (by != NULL) {
					char how[64];

					snprintf(how, sizeof(how), "%.*s",
					    (int)strcspn(by + 1, ")"), by + 1);
					json_str(stdout, how);
				} else
					printf("\"all\"");
			}
			printf(", \"overdue\": %s", overdue ? "true" : "false");
			/* files that could not be read and the like: the
			 * backup stands, without them */
			printf(", \"warnings\": %u", has ? r.nwarn : 0);
			printf(", \"vault\": ");
			if (h->vault == NULL)
				printf("null");
			else {
				printf("{\"last\": ");
				json_str(stdout, r.vault[0] ? r.vault : "none");
				printf(", \"last_complete\": ");
				json_time(r.vault_ok);
				printf("}");
			}
			printf("}");
		} else {
			printf("%-16s %-8s %-8s %-8s %s%s\n", h->name, r.status,
			    a1, a2, r.oldest_proven[0] ? r.oldest_proven : "-",
			    overdue ? "  OVERDUE" : "");
			if (r.why[0] != '\0' && strcmp(r.status, "ok") != 0)
				printf("    %s\n", r.why);
			else if (has && r.nwarn > 0) {
				char lp[4096];

				state_path(&c, lp, sizeof(lp), "logs", h->name,
				    ".log");
				printf("    %u %s in the last run (%s names "
				       "them)\n",
				    r.nwarn,
				    r.nwarn == 1 ? "warning" : "warnings", lp);
			}
			if (h->vault != NULL) {
				age(a1, sizeof(a1), now, r.vault_ok);
				printf("    vault %s: %s, last complete copy "
				       "%s%s\n",
				    h->vault, r.vault[0] ? r.vault : "none", a1,
				    r.vault_ok ? " ago" : "");
			}
		}
	}
	if (json)
		printf("\n], \"shard\": \"%u/%u\", \"ok\": %s}\n", c.shard,
		    c.shards, bad ? "false" : "true");
	config_free(&c);
	return bad ? 1 : 0;
}
