/*
 * Regress: undo an unfinished session (docs/rdiff-backup-format.md 8.3).
 * The writer keeps what the mirror held in increments named with the last
 * good session's time before changing anything, so the mirror can be
 * brought back to exactly the metadata of that session: rebuild what
 * differs, remove what is new, then remove the session's increments, its
 * metadata and finally its marker.  Interrupted, it can simply run again.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "history.h"
#include "incscan.h"
#include "linkmap.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"
#include "xfer.h"

struct regress {
	struct repo *repo;
	struct mdhist *h;
	struct meta_rec rec; /* lookahead */
	int valid;
	struct hist_dir hdir;
	struct linkmap *groups; /* hard-link groups: their digest */
	unsigned long fixed, removed;
	uint64_t tmpcount;
};

static void
advance(struct regress *g)
{
	int r = mdhist_next(g->h, &g->rec);

	if (r == CB_ERR_EOF) {
		g->valid = 0;
		return;
	}
	if (r != 0)
		fatal("reading the metadata of the last good session: %s",
		    cb_strerror(r));
	g->valid = 1;
}

/* Sorted names of the directory at ${fd} (caller frees each and the array). */
static char **
list_dir(int fd, size_t *n, int skip_data)
{
	char **names;
	size_t i, o = 0;

	if (fs_list_names(fd, &names, n) != 0)
		fatal("cannot list a directory of the repository: %s",
		    strerror(errno));
	for (i = 0; i < *n; i++) {
		if (skip_data && strcmp(names[i], "rdiff-backup-data") == 0)
			free(names[i]);
		else
			names[o++] = names[i];
	}
	*n = o;
	return names;
}

static int
copy_content(int in, int out)
{
	char buf[65536];
	off_t off = 0;
	ssize_t n;

	while ((n = pread(in, buf, sizeof(buf), off)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || fs_write_all(out, buf, (size_t)n) != 0)
			return CB_ERR_SYS;
		off += n;
	}
	return 0;
}

static void
set_mtime(int fd, int64_t mtime)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)mtime, 0 } };

	if (futimens(fd, ts) != 0)
		fatal("setting a time in the mirror: %s", strerror(errno));
}

int
digest_fixed(struct repo *repo, const char *want, const char *got)
{
	char fn[128], ts[TIMEFMT_LEN], line[128];
	int fd, found = 0;
	FILE *f;

	if (repo->failed_time == 0 || timefmt_utc(repo->failed_time, ts) != 0)
		return 0;
	snprintf(fn, sizeof(fn), DIGEST_FIXES, ts);
	fd = openat(repo->datafd, fn,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0 || (f = fdopen(fd, "r")) == NULL) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while (!found && fgets(line, sizeof(line), f) != NULL)
		found = strlen(line) == 82 && memcmp(line, want, 40) == 0 &&
		    line[40] == ' ' && memcmp(line + 41, got, 40) == 0;
	fclose(f);
	return found;
}

/*
 * Nothing is replaced on an unproven rebuild: the content rebuilt for ${r}
 * (open at ${fd}) must have the SHA-1 its metadata records, else regress
 * stops here, before it replaces the mirror file or removes an increment.
 * ${digest} is the recorded one (hist_recorded_digest), NULL where there
 * is none (older repositories): that cannot be checked.
 */
static void
check_rebuilt(const struct regress *g, int fd, const struct meta_rec *r,
    const uint8_t *digest)
{
	char want[41], got[41], ts[TIMEFMT_LEN];
	uint8_t sum[20];

	if (digest == NULL)
		return;
	if (xfer_sha1_fd(fd, sum) != 0)
		fatal("cannot read the rebuilt '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (memcmp(sum, digest, sizeof(sum)) == 0)
		return;
	meta_sha1_hex(digest, want);
	meta_sha1_hex(sum, got);
	want[40] = got[40] = '\0';
	if (digest_fixed(g->repo, want, got)) {
		log_warn("'%s': rebuilt as the unfinished session found its "
			 "copy, whose SHA-1 is not the one recorded (the "
			 "host's digest was false, or the disk changed it)",
		    log_quote(r->path, r->pathlen));
		return;
	}
	timefmt_utc(g->repo->cur_time, ts);
	fatal("regress stopped: '%s' rebuilt from the mirror and the "
	      "increments as of %s has SHA-1 %s, its metadata records %s; "
	      "nothing more was changed (the mirror file and the increments "
	      "are as they were, the unfinished session stays); 'capback "
	      "verify --all' tells which versions are intact",
	    log_quote(r->path, r->pathlen), ts, got, want);
}

void
regress_install(uint64_t *tmpcount, int dirfd, const char *name,
    const struct meta_rec *r, int in)
{
	char tmp[64];
	int out;

	do {
		snprintf(tmp, sizeof(tmp), "rdiff-backup.tmp.r%llu",
		    (unsigned long long)++*tmpcount);
		out = openat(dirfd, tmp,
		    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	} while (out < 0 && errno == EEXIST);
	if (out >= 0)
		mirror_chown(out, r);
	if (out < 0 || copy_content(in, out) != 0 ||
	    fchmod(out, mirror_mode(r)) != 0 || fsync(out) != 0)
		fatal("cannot rebuild '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	set_mtime(out, r->mtime);
	close(out);
	/* The mirror file is the basis of the rebuild: it goes only by
	 * being replaced, in one step (killed before, the next regress
	 * rebuilds from it again).  A directory standing there is removed
	 * first. */
	if (renameat(dirfd, tmp, dirfd, name) != 0 &&
	    ((errno != EISDIR && errno != ENOTEMPTY && errno != EEXIST) ||
		fs_remove_at(dirfd, name) != 0 ||
		renameat(dirfd, tmp, dirfd, name) != 0))
		fatal("cannot replace '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
}

/* Put the regular file of ${r} back as it was at the good session. */
static void
rebuild_regular(struct regress *g, int dirfd, const char *name,
    const struct meta_rec *r, const uint8_t *digest)
{
	int in, rc;

	rc = hist_file_at(&g->hdir, g->repo->rootfd, g->repo->datafd, r,
	    g->repo->cur_time, &in);
	if (rc != 0)
		fatal("cannot rebuild '%s': %s", log_quote(r->path, r->pathlen),
		    rc == CB_ERR_SYS ? strerror(errno) : cb_strerror(rc));
	check_rebuilt(g, in, r, digest);
	regress_install(&g->tmpcount, dirfd, name, r, in);
	close(in);
	g->fixed++;
}

/* A special file as the mirror represents it (devices: an empty file). */
static void
recreate_special(struct regress *g, int dirfd, const char *name,
    const struct meta_rec *r)
{
	int rc = 0, fd;

	if (fs_remove_at(dirfd, name) != 0)
		fatal("cannot replace '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	if (r->type == META_SYM)
		rc = symlinkat(r->symdata, dirfd, name);
	else if (r->type == META_FIFO)
		rc = mkfifoat(dirfd, name, 0600);
	else if (r->type == META_SOCK)
		rc = mknodat(dirfd, name, S_IFSOCK | 0600, 0);
	else if ((fd = openat(dirfd, name,
		      O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, 0600)) >= 0)
		close(fd);
	else
		rc = -1;
	if (rc != 0)
		fatal("cannot recreate '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	g->fixed++;
}

int
regress_matches(int dirfd, const char *name, const struct meta_rec *r,
    int exists)
{
	struct stat st;
	char target[4097];
	ssize_t n;

	if (!exists || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	switch (r->type) {
	case META_DIR: return S_ISDIR(st.st_mode);
	case META_REG:
		return S_ISREG(st.st_mode) && (uint64_t)st.st_size == r->size &&
		    (int64_t)st.st_mtim.tv_sec == r->mtime;
	case META_SYM:
		if (!S_ISLNK(st.st_mode))
			return 0;
		n = readlinkat(dirfd, name, target, sizeof(target) - 1);
		return n >= 0 && (size_t)n == r->symlen &&
		    memcmp(target, r->symdata, r->symlen) == 0;
	case META_FIFO: return S_ISFIFO(st.st_mode);
	case META_SOCK: return S_ISSOCK(st.st_mode);
	case META_DEV: return S_ISREG(st.st_mode) && st.st_size == 0;
	default: return 0;
	}
}

static void regress_dir(struct regress *g, int dirfd, const char *path,
    size_t plen, int is_root);

static void
fix_entry(struct regress *g, int dirfd, const char *name, struct meta_rec *r,
    int exists)
{
	uint8_t digest[20];
	int fd, have = 0;

	/* every regular record, so that later links find their group's */
	if (r->type == META_REG)
		have = hist_recorded_digest(g->groups, r, digest);
	if (!regress_matches(dirfd, name, r, exists)) {
		if (r->type == META_REG)
			rebuild_regular(g, dirfd, name, r,
			    have ? digest : NULL);
		else if (r->type == META_DIR) {
			if (fs_remove_at(dirfd, name) != 0 ||
			    mkdirat(dirfd, name, 0700) != 0)
				fatal("cannot recreate directory '%s': %s",
				    log_quote(r->path, r->pathlen),
				    strerror(errno));
			g->fixed++;
		} else
			recreate_special(g, dirfd, name, r);
	}
	if (r->type != META_DIR)
		return;
	fd = openat(dirfd, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		fatal("cannot open '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	if (fchmod(fd, 0700) != 0)
		fatal("cannot open up '%s': %s", log_quote(r->path, r->pathlen),
		    strerror(errno));
	regress_dir(g, fd, r->path, r->pathlen, 0);
	mirror_chown(fd, r);
	if (fchmod(fd, mirror_mode(r)) != 0)
		fatal("cannot set the mode of '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	set_mtime(fd, r->mtime);
	close(fd);
}

/* Is the lookahead record a direct child of ${path}? */
static int
is_child(const struct regress *g, const char *path, size_t plen, int is_root)
{
	const char *slash;

	if (!g->valid)
		return 0;
	slash = memrchr(g->rec.path, '/', g->rec.pathlen);
	if (is_root)
		return slash == NULL;
	return slash != NULL && (size_t)(slash - g->rec.path) == plen &&
	    memcmp(g->rec.path, path, plen) == 0;
}

/* Merge the directory's sorted names with its children in the metadata. */
static void
regress_dir(struct regress *g, int dirfd, const char *path, size_t plen,
    int is_root)
{
	size_t n, i = 0;
	char **names = list_dir(dirfd, &n, is_root);

	while (is_child(g, path, plen, is_root)) {
		struct meta_rec r;
		const char *slash = memrchr(g->rec.path, '/', g->rec.pathlen);
		const char *base = slash ? slash + 1 : g->rec.path;
		int cmp = i < n ? strcmp(names[i], base) : 1;

		if (cmp <
		    0) { /* not in the metadata: new in the failed session */
			if (fs_remove_at(dirfd, names[i]) != 0)
				fatal("cannot remove '%s': %s", names[i],
				    strerror(errno));
			g->removed++;
			free(names[i++]);
			continue;
		}
		r = g->rec; /* transferred */
		meta_rec_init(&g->rec);
		advance(g);
		if (cmp == 0)
			free(names[i++]);
		fix_entry(g, dirfd, slash ? slash + 1 : r.path, &r, cmp == 0);
		meta_rec_clear(&r);
	}
	for (; i < n; i++) {
		if (fs_remove_at(dirfd, names[i]) != 0)
			fatal("cannot remove '%s': %s", names[i],
			    strerror(errno));
		g->removed++;
		free(names[i]);
	}
	free(names);
}

/* What inc_tree_remove removes: real increments of [lo, hi), and what
 * killed sessions left, but ${keep} in the top directory. */
struct remove_range {
	int64_t lo, hi;
	const char *keep;
};

/* inc_tree_remove's visit: a real increment of [lo, hi), or a killed
 * session's temporary (never a source file's increment of that name). */
static int
remove_visit(struct inc_walk *w, int dirfd, const char *name, enum inc_class c,
    const struct incname *in, int is_dir)
{
	const struct remove_range *rr = w->arg;

	if (rr->keep != NULL && strcmp(w->path.buf, rr->keep) == 0)
		return 0; /* (the path from the top: a name there) */
	if ((c == INC_REAL && in->time >= rr->lo && in->time < rr->hi) ||
	    inc_is_litter(name, c, in, is_dir, w->times)) {
		if (fs_remove_at(dirfd, name) != 0)
			fatal("cannot remove increment '%s': %s", name,
			    strerror(errno));
		return 1;
	}
	return 0;
}

static int
tree_remove_keeping(int fd, const struct inc_times *times, int64_t lo,
    int64_t hi, int rmdirs, const char *keep)
{
	struct remove_range rr = { lo, hi, keep };
	struct inc_walk w = { times, remove_visit, rmdirs, STRBUF_INIT, &rr };
	int empty = inc_tree_walk(fd, &w);

	strbuf_release(&w.path);
	return empty;
}

int
inc_tree_remove(int fd, const struct inc_times *times, int64_t lo, int64_t hi,
    int rmdirs)
{
	return tree_remove_keeping(fd, times, lo, hi, rmdirs, NULL);
}

/*
 * Remove the top-level files of rdiff-backup-data named with time ${t}
 * (all but ${keep}), or with ${meta_diffs} only its mirror_metadata diffs
 * and root markers increments.<t>.dir: those the failed session wrote,
 * with whatever spelling of the time (an rdiff-backup session under
 * another zone writes "+01:00"; one left behind made a second marker of
 * that time once the next session wrote its own, which rdiff-backup's
 * restore, verify and backup then fail on).
 */
static void
remove_top(struct repo *repo, int64_t t, const char *keep, int meta_diffs)
{
	size_t n, i;
	char **names = list_dir(repo->datafd, &n, 0);

	for (i = 0; i < n; i++) {
		struct incname in;
		int is_meta, is_root;

		if (incname_parse(names[i], strlen(names[i]), &in) != 0 ||
		    in.time != t || strcmp(names[i], keep) == 0) {
			free(names[i]);
			continue;
		}
		is_meta = in.baselen == 15 &&
		    strncmp(names[i], "mirror_metadata", 15) == 0;
		is_root = in.baselen == 10 &&
		    strncmp(names[i], "increments", 10) == 0 &&
		    in.ext == INC_DIR;
		if (!meta_diffs || (is_meta && in.ext == INC_DIFF) || is_root) {
			/* a directory of that name is not the session's */
			if (unlinkat(repo->datafd, names[i], 0) != 0 &&
			    errno != ENOENT && !(is_root && errno == EISDIR))
				fatal("cannot remove '%s': %s", names[i],
				    strerror(errno));
		}
		free(names[i]);
	}
	free(names);
}

/*
 * The good session must have a metadata snapshot of its own before the
 * failed session's files go: rebuild it from its diff and the newer
 * snapshot if the failed session already converted it.
 */
static void
ensure_snapshot(struct repo *repo)
{
	struct md_writer *w = NULL;
	struct mdhist *h = NULL;
	struct meta_rec r;
	struct strbuf sb = STRBUF_INIT;
	char ts[TIMEFMT_LEN], name[128];
	int rc;

	if (repo->meta_name[0] != '\0')
		return;
	if (timefmt_utc(repo->cur_time, ts) != 0)
		fatal("time out of range");
	snprintf(name, sizeof(name), "mirror_metadata.%s.snapshot", ts);
	meta_rec_init(&r);
	if ((rc = mdhist_open(repo->datafd, repo->cur_time, &h)) != 0 ||
	    (rc = md_writer_open(repo->datafd, name, 1, &w)) != 0)
		fatal("cannot rebuild %s: %s", name, cb_strerror(rc));
	while ((rc = mdhist_next(h, &r)) == 0) {
		strbuf_reset(&sb);
		if (meta_format(&sb, &r) != 0 ||
		    md_writer_write(w, sb.buf, sb.len) != 0)
			fatal("cannot write %s", name);
	}
	if (rc != CB_ERR_EOF ||
	    md_writer_close(w, repo->meta_name, sizeof(repo->meta_name)) != 0)
		fatal("cannot rebuild %s: %s", name, cb_strerror(rc));
	meta_rec_clear(&r);
	strbuf_release(&sb);
	mdhist_free(h);
}

/* A process that exists and is not a zombie (a killed, unreaped backup). */
int
process_alive(long pid)
{
	char path[64], buf[512], *p;
	FILE *f;
	int alive = 1;

	/* EPERM: it exists but may not be signalled by us (another user's,
	 * or outside our Landlock domain's signal scope): alive */
	if (kill((pid_t)pid, 0) != 0 && errno != EPERM)
		return 0;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return 1;
	if (fgets(buf, sizeof(buf), f) != NULL &&
	    (p = strrchr(buf, ')')) != NULL && p[1] == ' ' && p[2] == 'Z')
		alive = 0;
	fclose(f);
	return alive;
}

long
marker_pid(int datafd, const char *name)
{
	char buf[64];
	size_t len;
	long pid;

	if (fs_read_small_at(datafd, name, buf, sizeof(buf), &len) != 0 ||
	    sscanf(buf, "PID %ld", &pid) != 1 || pid <= 0)
		return 0;
	return pid;
}

long
unfinished_owner(struct repo *repo)
{
	long pid;

	if (!repo->unfinished ||
	    (pid = marker_pid(repo->datafd, repo->failed_marker)) == 0 ||
	    pid == getpid())
		return 0;
	/* Its writer held the repository lock we hold now: it is gone
	 * (a capback session; its PID may be another process's by now). */
	if (pid == repo_lock_prev_pid())
		return 0;
	return process_alive(pid) ? pid : 0;
}

static void
check_not_running(struct repo *repo, int force)
{
	long pid = repo->owner;

	if (pid != 0 && !force)
		fatal("the unfinished session of '%s' was started by PID %ld, "
		      "which is still running on this host (rdiff-backup, or "
		      "a capback older than the repository lock): wait for "
		      "it to end.  If that PID is another program now, use "
		      "--force",
		    repo->path, pid);
}

void
writer_regress(struct repo *repo, int force)
{
	struct regress g;
	struct inc_times times;
	char hold[96];
	int incs;

	if (!repo->unfinished)
		return;
	check_not_running(repo, force);
	{
		char good[TIMEFMT_LEN], bad[TIMEFMT_LEN];

		if (timefmt_utc(repo->cur_time, good) != 0 ||
		    timefmt_utc(repo->failed_time, bad) != 0)
			fatal("time out of range");
		log_warn("regressing '%s' to the session of %s (undoing the "
			 "unfinished one of %s)",
		    repo->path, good, bad);
	}
	ensure_snapshot(repo);
	if (inc_times_load(repo->datafd, &times) != 0)
		fatal("cannot list the sessions of '%s'", repo->path);
	memset(&g, 0, sizeof(g));
	g.repo = repo;
	hist_dir_init(&g.hdir);
	if (linkmap_new(&g.groups) != 0)
		fatal("out of memory");
	meta_rec_init(&g.rec);
	if (mdhist_open(repo->datafd, repo->cur_time, &g.h) != 0)
		fatal("cannot read the metadata of the last good session");
	advance(&g);
	if (!g.valid || strcmp(g.rec.path, ".") != 0)
		fatal("the metadata of the last good session has no root");
	meta_rec_clear(&g.rec);
	advance(&g);
	regress_dir(&g, repo->rootfd, ".", 1, 1);
	mdhist_free(g.h);
	hist_dir_release(&g.hdir);
	linkmap_free(g.groups);
	regress_prove(repo);
	/* Only now the failed session's increments and files can go; the
	 * increments directory is held while both markers stand (inc_hold:
	 * emptied, rdiff-backup would neither regress nor back up) */
	{
		char ts[TIMEFMT_LEN];

		timefmt_utc(repo->failed_time, ts);
		if (inc_hold(repo->datafd, ts, 0, hold, sizeof(hold)) != 0)
			fatal("cannot write in the increments directory: %s",
			    strerror(errno));
	}
	if ((incs = openat(repo->datafd, "increments",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		tree_remove_keeping(incs, &times, repo->cur_time,
		    repo->cur_time + 1, 0, hold);
		close(incs);
	}
	if ((incs = openat(repo->datafd, "long_filename_data",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		inc_tree_remove(incs, &times, repo->cur_time,
		    repo->cur_time + 1, 0);
		close(incs);
	}
	/* the good time's metadata diff and root markers */
	remove_top(repo, repo->cur_time, "", 1);
	remove_top(repo, repo->failed_time, repo->failed_marker, 0);
	inc_times_release(&times);
	if (syncfs(repo->rootfd) != 0)
		fatal("syncing: %s", strerror(errno));
	if (unlinkat(repo->datafd, repo->failed_marker, 0) != 0)
		fatal("cannot remove '%s': %s", repo->failed_marker,
		    strerror(errno));
	fsync(repo->datafd);
	inc_unhold(repo->datafd, hold); /* left, it is litter (failed time) */
	repo->unfinished = 0;
	log_info("regress: %lu entries rebuilt, %lu removed", g.fixed,
	    g.removed);
}

/*
 * Remove in the directory ${fd} (taken), and with ${recurse} below it,
 * what killed sessions left (inc_is_litter).  It reads only the
 * directories' entries (their d_type) and looks closer only at names
 * with the temporaries' prefix.
 */
static void
litter_walk(int fd, const struct inc_times *times, int recurse, int depth)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;

	if (d == NULL) {
		close(fd);
		fatal("cannot list a directory of the increments: %s",
		    strerror(errno));
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		unsigned char t = de->d_type;
		struct incname in;
		struct stat st;
		enum inc_class c;
		int sub;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (t == DT_UNKNOWN)
			t = fstatat(dirfd(d), de->d_name, &st,
				AT_SYMLINK_NOFOLLOW) == 0 ?
			    (unsigned char)IFTODT(st.st_mode) :
			    DT_UNKNOWN;
		if (t == DT_DIR) {
			if (!recurse)
				continue;
			if (depth >= 4096)
				fatal("the increments tree is too deep");
			sub = openat(dirfd(d), de->d_name,
			    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (sub >= 0)
				litter_walk(sub, times, 1, depth + 1);
			continue;
		}
		if (strncmp(de->d_name, INC_TMP_PREFIX,
			sizeof(INC_TMP_PREFIX) - 1) != 0 ||
		    t != DT_REG)
			continue;
		c = inc_classify(dirfd(d), de->d_name, t, times, &in);
		if (!inc_is_litter(de->d_name, c, &in, 0, times))
			continue;
		if (unlinkat(dirfd(d), de->d_name, 0) != 0 && errno != ENOENT)
			fatal("cannot remove '%s': %s", de->d_name,
			    strerror(errno));
	}
	if (errno != 0)
		fatal("cannot list a directory of the increments: %s",
		    strerror(errno));
	closedir(d);
}

/*
 * The root markers increments.<T>.dir: none of the current mirror's time
 * (only the session after it writes that one: it is left by a failed
 * session), and one per time.  Each is an empty file, and a time keeps
 * at least one, so nothing is lost whichever goes; capback's own
 * spelling is kept (the first name else).
 */
static void
tidy_root_markers(struct repo *repo)
{
	struct repo_entry *e = NULL;
	size_t ne = 0, i, j;
	char ts[TIMEFMT_LEN], mine[128];

	if (repo_scan(repo->datafd, &e, &ne) != 0)
		fatal("cannot list rdiff-backup-data: %s", strerror(errno));
	for (i = 0; i < ne; i++) {
		struct stat st;
		int drop = 0;

		if (e[i].base != RB_INCREMENTS || e[i].inc.ext != INC_DIR ||
		    fstatat(repo->datafd, e[i].name, &st,
			AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode)) {
			e[i].base = RB_OTHER; /* not a marker: left alone */
			continue;
		}
		if (e[i].inc.time == repo->cur_time)
			drop = 1;
		else if (timefmt_utc(e[i].inc.time, ts) == 0) {
			snprintf(mine, sizeof(mine), "increments.%s.dir", ts);
			/* another marker of this time that stays? */
			for (j = 0; j < ne && !drop; j++)
				drop = j != i && e[j].base == RB_INCREMENTS &&
				    e[j].inc.ext == INC_DIR &&
				    e[j].inc.time == e[i].inc.time &&
				    strcmp(e[i].name, mine) != 0 &&
				    (strcmp(e[j].name, mine) == 0 || j < i);
		}
		if (!drop)
			continue;
		log_info("removing '%s': %s", e[i].name,
		    e[i].inc.time == repo->cur_time ?
			"a failed session's marker of the current mirror" :
			"a second marker of its time");
		if (unlinkat(repo->datafd, e[i].name, 0) != 0 &&
		    errno != ENOENT)
			fatal("cannot remove '%s': %s", e[i].name,
			    strerror(errno));
		e[i].base = RB_OTHER;
	}
	repo_scan_free(e, ne);
}

/* Marks a repository whose increments trees hold no older capback's
 * temporaries (writer_tidy); rdiff-backup ignores it. */
#define TMPNAMES_MARK "capback-tmpnames"
#define TMPNAMES_TEXT "temporaries of increments: only in increments/\n"

/*
 * rdiff-backup probes the file system of a repository in a directory
 * rdiff-backup-data/rdiff-backup.tmp.<N> it removes at once
 * (fs_abilities); killed in between, it leaves it, and never removes it
 * later.  One older than PROBE_AGE is no live rdiff-backup's.
 */
#define PROBE_AGE 600

static void
tidy_rdiff_probes(struct repo *repo)
{
	static const char prefix[] = "rdiff-backup.tmp.";
	size_t plen = sizeof(prefix) - 1, n, i, k;
	struct stat st;
	char **names;

	if (fs_list_names(repo->datafd, &names, &n) != 0)
		return;
	for (i = 0; i < n; i++) {
		const char *nm = names[i];

		if (strncmp(nm, prefix, plen) != 0 || nm[plen] == '\0')
			continue;
		for (k = plen; nm[k] >= '0' && nm[k] <= '9'; k++)
			;
		if (nm[k] != '\0' ||
		    fstatat(repo->datafd, nm, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISDIR(st.st_mode) ||
		    st.st_mtim.tv_sec > time(NULL) - PROBE_AGE)
			continue;
		if (fs_remove_at(repo->datafd, nm) != 0)
			log_warn("cannot remove rdiff-backup's probe '%s': %s",
			    log_name(nm, strlen(nm)), strerror(errno));
		else
			log_info("removed '%s', left by an rdiff-backup that "
				 "was killed while it probed the file system",
			    log_name(nm, strlen(nm)));
	}
	fs_free_names(names, n);
}

void
writer_tidy(struct repo *repo)
{
	static const char *const trees[] = { "increments",
		"long_filename_data" };
	struct inc_times times;
	size_t i;
	int fd, all;

	tidy_root_markers(repo);
	tidy_rdiff_probes(repo);
	if (inc_times_load(repo->datafd, &times) != 0)
		fatal("cannot list the sessions of '%s'", repo->path);
	/* Temporaries are made in the top of the increments tree only; an
	 * older capback made them anywhere below it and below
	 * long_filename_data: those are looked for once (9 800 entries in
	 * 1 025 directories took 18 to 70 ms on a busy machine), and the
	 * repository marked. */
	all = faccessat(repo->datafd, TMPNAMES_MARK, F_OK,
		  AT_SYMLINK_NOFOLLOW) != 0;
	for (i = 0; i < (all ? 2 : 1); i++)
		if ((fd = openat(repo->datafd, trees[i],
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0)
			litter_walk(fd, &times, all, 0);
	inc_times_release(&times);
	if (all &&
	    fs_create_file_at(repo->datafd, TMPNAMES_MARK, TMPNAMES_TEXT,
		sizeof(TMPNAMES_TEXT) - 1) != 0 &&
	    errno != EEXIST)
		log_warn("cannot write %s: %s", TMPNAMES_MARK, strerror(errno));
}
