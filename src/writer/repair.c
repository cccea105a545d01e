/*
 * Repair: the check-and-repair "capback regress" does on a repository
 * with one current_mirror marker (docs/design.md, "Regress").
 *
 * Increments named with the newest session's time belong to no finished
 * session: a backup writes them under the previous session's time, and
 * its regress removes them with the session.  Where they are left, a
 * regress did not finish its work (rdiff-backup 2.2.2's misses the
 * children of a directory with an AlternateIncrementName): the mirror
 * file may still hold the failed session's data while the metadata
 * records the good session's.  The metadata's SHA-1 is the proof:
 *
 * - a mirror file with the recorded SHA-1 is right; the increments left
 *   with its time hold nothing it needs (every older version is rebuilt
 *   from this one) and are removed;
 * - else the rebuild from those increments replaces the mirror file only
 *   if it has the recorded SHA-1, and the increments go after it is on
 *   disk;
 * - else nothing is changed for that file (exit 1).
 *
 * Each file is named with what was done.  Interrupted, it can run again:
 * a replaced mirror file with its increments still there is the first
 * case.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "history.h"
#include "incscan.h"
#include "linkmap.h"
#include "log.h"
#include "strbuf.h"
#include "timefmt.h"
#include "writer.h"
#include "xfer.h"

struct repair {
	struct repo *repo;
	struct hist_dir hd;
	uint64_t tmpcount;
	unsigned long repaired, unproven;
	int in_regress; /* the failed session's own increments: say less */
};

/* A .missing increment left with the newest time, under increments/. */
struct lmissing {
	char *rec;   /* the path it is the increment of */
	char *path;  /* its own, relative to rdiff-backup-data */
	int present; /* the newest metadata has a record for rec */
};

struct leftovers {
	int64_t t;
	unsigned long n;
	struct lmissing *m;
	size_t nm, cap;
};

#define INC_TOP "increments/"

/* inc_tree_walk's visit: count the increments named with the newest
 * time or later, and note the .missing ones below increments/. */
static int
count_visit(struct inc_walk *w, int dirfd, const char *name, enum inc_class c,
    const struct incname *in, int is_dir)
{
	struct leftovers *l = w->arg;
	struct lmissing *nm;
	size_t top = sizeof(INC_TOP) - 1, dlen;

	(void)dirfd;
	(void)is_dir;
	if (c != INC_REAL || in->time < l->t)
		return 0;
	l->n++;
	if (in->ext != INC_MISSING || w->path.len <= top ||
	    strncmp(w->path.buf, INC_TOP, top) != 0)
		return 0;
	if ((nm = array_grow(l->m, &l->cap, l->nm, sizeof(*nm))) == NULL)
		fatal("out of memory");
	l->m = nm;
	dlen = w->path.len - strlen(name) - top; /* "dir/" of the record */
	nm = &l->m[l->nm++];
	nm->present = 0;
	if ((nm->rec = strndup(w->path.buf + top, dlen + in->baselen)) ==
		NULL ||
	    (nm->path = strdup(w->path.buf)) == NULL)
		fatal("out of memory");
	return 0;
}

static int
lmissing_cmp(const void *a, const void *b)
{
	const struct lmissing *x = a, *y = b;

	return strcmp(x->rec, y->rec);
}

/* How many increments are named with the newest session's time or later
 * (increments/ and long_filename_data), into ${l}. */
static void
find_leftovers(struct repo *repo, const struct inc_times *times,
    struct leftovers *l)
{
	struct inc_walk w = { times, count_visit, 0, STRBUF_INIT, l };

	memset(l, 0, sizeof(*l));
	l->t = repo->cur_time;
	inc_walk_all(repo->datafd, &w);
	if (l->nm > 1)
		qsort(l->m, l->nm, sizeof(*l->m), lmissing_cmp);
}

/* The record ${r} is in the newest metadata: its .missing leftovers
 * are not the "absent" they say. */
static void
mark_present(struct leftovers *l, const struct meta_rec *r)
{
	struct lmissing key = { (char *)r->path, NULL, 0 }, *m;

	if (l->nm == 0 ||
	    (m = bsearch(&key, l->m, l->nm, sizeof(*m), lmissing_cmp)) == NULL)
		return;
	/* the same record path may have several (bsearch finds one) */
	while (m > l->m && strcmp(m[-1].rec, r->path) == 0)
		m--;
	for (; m < l->m + l->nm && strcmp(m->rec, r->path) == 0; m++)
		m->present = 1;
}

/*
 * A .missing increment with the newest time, of a path the newest
 * metadata does not have: it says what the metadata says (absent then)
 * and holds no data, but the next session must write that very name
 * (rdiff-backup stops there: "shouldn't exist").  Removed.
 */
static unsigned long
drop_absent(struct repo *repo, struct leftovers *l)
{
	unsigned long n = 0;
	size_t i;

	for (i = 0; i < l->nm; i++) {
		const char *slash = strrchr(l->m[i].path, '/');
		char *parent;
		int fd;

		if (l->m[i].present || slash == NULL)
			continue;
		if ((parent = strndup(l->m[i].path,
			 (size_t)(slash - l->m[i].path))) == NULL)
			fatal("out of memory");
		fd = fs_open_beneath(repo->datafd, parent,
		    O_RDONLY | O_DIRECTORY, 0);
		free(parent);
		if (fd < 0 ||
		    (unlinkat(fd, slash + 1, 0) != 0 && errno != ENOENT) ||
		    fsync(fd) != 0)
			fatal("cannot remove '%s': %s",
			    log_quote(l->m[i].path, strlen(l->m[i].path)),
			    strerror(errno));
		close(fd);
		log_warn("'%s': not in the newest session; removed its "
			 "increment '%s' (a .missing named with that session's "
			 "time, left over by a regress that did not finish)",
		    log_quote(l->m[i].rec, strlen(l->m[i].rec)),
		    log_quote(slash + 1, strlen(slash + 1)));
		n++;
	}
	return n;
}

static void
leftovers_release(struct leftovers *l)
{
	for (size_t i = 0; i < l->nm; i++) {
		free(l->m[i].rec);
		free(l->m[i].path);
	}
	free(l->m);
}

/*
 * The mirror directory holding ${r}'s entry, opened beneath the
 * repository; *name its name there (borrowed from ${r} or ${alt}).
 */
static int
open_mirror_dir(struct repo *repo, const struct meta_rec *r, char alt[32],
    const char **name)
{
	const char *slash = memrchr(r->path, '/', r->pathlen);
	char *parent;
	int fd;

	if (r->alt_mirror != 0) {
		snprintf(alt, 32, "%llu", (unsigned long long)r->alt_mirror);
		*name = alt;
		return fs_open_beneath(repo->datafd, "long_filename_data",
		    O_RDONLY | O_DIRECTORY, 0);
	}
	if (slash == NULL) {
		*name = r->path;
		return openat(repo->rootfd, ".",
		    O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	}
	*name = slash + 1;
	if ((parent = strndup(r->path, (size_t)(slash - r->path))) == NULL)
		fatal("out of memory");
	fd = fs_open_beneath(repo->rootfd, parent, O_RDONLY | O_DIRECTORY, 0);
	free(parent);
	return fd;
}

/* Remove ${r}'s increments named with the newest time; how many. */
static int
drop_leftovers(struct repair *p, const struct meta_rec *r)
{
	int n = hist_remove_from(&p->hd, p->repo->datafd, r, p->repo->cur_time);

	if (n < 0)
		fatal("cannot remove the increments of '%s' named with the "
		      "newest session's time: %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	return n;
}

/* The SHA-1 of ${fd} as hex into ${hex} (41 bytes); 0 or -1. */
static int
sha1_hex(int fd, uint8_t sum[20], char hex[41])
{
	if (xfer_sha1_fd(fd, sum) != 0)
		return -1;
	meta_sha1_hex(sum, hex);
	hex[40] = '\0';
	return 0;
}

/* The rebuild is proven: it replaces the mirror file, then the
 * increments go. */
static void
replace_mirror_file(struct repair *p, const struct meta_rec *r, int in,
    const char *was, const char *want)
{
	const char *name;
	char alt[32];
	int dirfd = open_mirror_dir(p->repo, r, alt, &name), n;

	if (dirfd < 0)
		fatal("cannot open the mirror directory of '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	regress_install(&p->tmpcount, dirfd, name, r, in);
	if (fsync(dirfd) != 0)
		fatal("syncing the mirror directory of '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	close(dirfd);
	n = drop_leftovers(p, r);
	log_warn("repaired '%s': its mirror file held other data (SHA-1 %s) "
		 "than the newest metadata records; replaced by its rebuild "
		 "from the increments named with that session's time, which "
		 "has the recorded SHA-1 %s; %d increment(s) removed",
	    log_quote(r->path, r->pathlen), was, want, n);
	p->repaired++;
}

/* A regular file with leftovers; ${digest} its recorded SHA-1 or NULL. */
static void
repair_regular(struct repair *p, const struct meta_rec *r,
    const uint8_t *digest)
{
	struct repo *repo = p->repo;
	char want[41], was[64], got[41];
	uint8_t sum[20];
	int fd, in, rc, n;

	if (digest == NULL && p->in_regress)
		return; /* nothing to prove it by: regress rebuilt it as before */
	if (digest == NULL) {
		log_error("'%s': increments named with the newest session's "
			  "time are left over, but its record has no SHA-1 "
			  "to prove a version by: left as it is",
		    log_quote(r->path, r->pathlen));
		p->unproven++;
		return;
	}
	meta_sha1_hex(digest, want);
	want[40] = '\0';
	fd = hist_mirror_open(repo->rootfd, repo->datafd, r);
	if (fd < 0)
		snprintf(was, sizeof(was), "none: %s", strerror(errno));
	else if (sha1_hex(fd, sum, was) != 0)
		fatal("cannot read the mirror file of '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (fd >= 0)
		close(fd);
	if (fd >= 0 &&
	    (memcmp(sum, digest, 20) == 0 ||
		(p->in_regress && digest_fixed(repo, want, was)))) {
		n = drop_leftovers(p, r);
		if (p->in_regress)
			return; /* what the failed session wrote, undone */
		log_warn("'%s': its mirror file has the recorded SHA-1; "
			 "removed %d increment(s) named with the newest "
			 "session's time, left over by a regress that did "
			 "not finish",
		    log_quote(r->path, r->pathlen), n);
		p->repaired++;
		return;
	}
	rc = hist_file_at(&p->hd, repo->rootfd, repo->datafd, r, repo->cur_time,
	    &in);
	if (rc != 0) {
		log_error("'%s': its mirror file does not have the recorded "
			  "SHA-1 %s (it has %s), and the increments named with "
			  "the newest session's time do not rebuild it: %s; "
			  "the mirror file and the increments are left as they "
			  "are",
		    log_quote(r->path, r->pathlen), want, was,
		    rc == CB_ERR_SYS ? strerror(errno) : cb_strerror(rc));
		p->unproven++;
		return;
	}
	if (sha1_hex(in, sum, got) != 0)
		fatal("cannot read the rebuilt '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (memcmp(sum, digest, 20) != 0) {
		log_error(
		    "'%s': neither its mirror file (SHA-1 %s) nor its "
		    "rebuild from the increments named with the newest "
		    "session's time (SHA-1 %s) has the SHA-1 the metadata "
		    "records (%s): nothing is proven, the mirror file and "
		    "the increments are left as they are",
		    log_quote(r->path, r->pathlen), was, got, want);
		close(in);
		p->unproven++;
		return;
	}
	replace_mirror_file(p, r, in, was, want);
	close(in);
}

/* Another entry with leftovers: its data is in the metadata; the mirror
 * entry must stand for it. */
static void
repair_other(struct repair *p, const struct meta_rec *r)
{
	const char *name;
	char alt[32];
	int dirfd = open_mirror_dir(p->repo, r, alt, &name), ok, n;

	ok = dirfd >= 0 && regress_matches(dirfd, name, r, 1);
	if (dirfd >= 0)
		close(dirfd);
	if (!ok) {
		log_error("'%s': increments named with the newest session's "
			  "time are left over, and the mirror does not hold "
			  "what its record describes: left as they are",
		    log_quote(r->path, r->pathlen));
		p->unproven++;
		return;
	}
	n = drop_leftovers(p, r);
	log_warn("'%s': the mirror holds what its record describes; removed "
		 "%d increment(s) named with the newest session's time, left "
		 "over by a regress that did not finish",
	    log_quote(r->path, r->pathlen), n);
	p->repaired++;
}

/*
 * Check every entry of the newest session that has increments named with
 * its time (${lo}) against its record, and repair what the record proves.
 * Returns how many such increments belonged to an entry.
 */
static unsigned long
repair_scan(struct repo *repo, struct repair *p, struct leftovers *lo)
{
	struct writer_opts o;
	struct snapsrc q;
	struct linkmap *groups = NULL;
	struct meta_rec r;
	unsigned long matched = 0;
	uint8_t digest[20];
	int rc, have = 0, k;

	memset(&o, 0, sizeof(o));
	o.sub = ".";
	o.sublen = 1;
	p->repo = repo;
	hist_dir_init(&p->hd);
	if (linkmap_new(&groups) != 0)
		fatal("out of memory");
	meta_rec_init(&r);
	snapsrc_open(&q, repo, &o);
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		mark_present(lo, &r);
		/* every regular record: later links find their group's */
		if (r.type == META_REG)
			have = hist_recorded_digest(groups, &r, digest);
		k = hist_incs_from(&p->hd, repo->datafd, &r, repo->cur_time,
		    NULL);
		if (k < 0)
			fatal("cannot list the increments of '%s': %s",
			    log_quote(r.path, r.pathlen), cb_strerror(k));
		if (k == 0)
			continue;
		matched += (unsigned long)k;
		if (r.type == META_REG)
			repair_regular(p, &r, have ? digest : NULL);
		else if (!p->in_regress)
			repair_other(p, &r);
	}
	snapsrc_end(&q, rc);
	snapsrc_close(&q);
	meta_rec_clear(&r);
	linkmap_free(groups);
	hist_dir_release(&p->hd);
	if (syncfs(repo->rootfd) != 0)
		fatal("syncing: %s", strerror(errno));
	return matched;
}

/*
 * In a regress, after the mirror is merged with the good metadata and
 * before the failed session's increments go: a regular file that has one
 * must have its recorded SHA-1 (the size and time regress compares can
 * agree with other data: the failed session's written under the old
 * ones, or a file rdiff-backup's unfinished regress left), else its
 * rebuild from them replaces it, proven; what no record proves stops the
 * regress with everything kept.
 */
void
regress_prove(struct repo *repo)
{
	struct repair p;
	struct inc_times times;
	struct leftovers lo;

	if (inc_times_load(repo->datafd, &times) != 0)
		fatal("cannot list the sessions of '%s'", repo->path);
	find_leftovers(repo, &times, &lo);
	inc_times_release(&times);
	memset(&p, 0, sizeof(p));
	p.in_regress = 1;
	if (lo.n > 0)
		repair_scan(repo, &p, &lo);
	leftovers_release(&lo);
	if (p.unproven > 0)
		fatal("%lu files could not be proven: regress stops with the "
		      "unfinished session, its increments and both markers "
		      "kept; 'capback verify --all %s' tells which versions "
		      "are intact",
		    p.unproven, log_quote(repo->path, strlen(repo->path)));
}

int
writer_repair(struct repo *repo)
{
	struct repair p;
	struct inc_times times;
	char ts[TIMEFMT_LEN];
	struct leftovers lo;
	unsigned long matched, absent;

	if (inc_times_load(repo->datafd, &times) != 0)
		fatal("cannot list the sessions of '%s'", repo->path);
	find_leftovers(repo, &times, &lo);
	inc_times_release(&times);
	if (lo.n == 0) {
		log_warn("'%s' has no unfinished session: nothing to regress",
		    log_quote(repo->path, strlen(repo->path)));
		return 0;
	}
	timefmt_utc(repo->cur_time, ts);
	log_warn("'%s' has no unfinished session, but %lu increments named "
		 "with the time of its newest session (%s) are left over: "
		 "checking the files they belong to against its metadata",
	    log_quote(repo->path, strlen(repo->path)), lo.n, ts);
	memset(&p, 0, sizeof(p));
	matched = repair_scan(repo, &p, &lo);
	absent = drop_absent(repo, &lo);
	p.repaired += absent;
	if (matched + absent < lo.n)
		log_warn("%lu increments named with the newest session's time "
			 "belong to no entry of it: left as they are",
		    lo.n - matched - absent);
	leftovers_release(&lo);
	log_info("regress: %lu entries repaired, %lu left unproven", p.repaired,
	    p.unproven);
	if (p.unproven > 0) {
		log_error("%lu entries could not be proven and are as they "
			  "were; 'capback verify --all %s' tells which "
			  "versions are intact",
		    p.unproven, log_quote(repo->path, strlen(repo->path)));
		return 1;
	}
	return p.repaired > 0 ? 2 : 0;
}
