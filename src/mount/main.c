/*
 * capback-mount: every finished session of a repository as a read-only
 * file system (docs/design.md, "capback mount").  Runs as the repository's
 * owner through fusermount3 with no capability; once mounted it confines
 * itself (Landlock: the repository to read, its cache to write; seccomp:
 * no exec, no sockets) before the first request is read.  The repository
 * is hostile input: a bad index, increment or size fails that entry with
 * EIO and is logged, never the mount.
 *
 * Node ids: 1 the root, 2 "latest", and (slot + 1) << 32 | (entry + 1)
 * for entry ${entry} of the session in ${slot} (slots are never reused
 * while mounted, so an id always means the same file).
 */
#define FUSE_USE_VERSION 35
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fuse_lowlevel.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "delta.h"
#include "fsutil.h"
#include "history.h"
#include "idmap.h"
#include "incscan.h"
#include "index.h"
#include "log.h"
#include "mdhist.h"
#include "repoloc.h"
#include "sandbox.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"

#define LATEST_INO   2
#define SESSION_TTL  3600.0 /* a finished session never changes */
#define ROOT_TTL     1.0
#define REFRESH_SECS 1

struct sess {
	int64_t t;
	char name[TIMEFMT_LEN];
	int alive;
	int has;   /* --path in it: 1 (shown), 0 (not shown), -1 not known */
	int state; /* 0 not opened, 1 open, -1 failed */
	struct idx ix;
	uint32_t top; /* the entry of --path, UINT32_MAX when absent */
	int have_root; /* root: the root's record, before any index */
	struct idx_ent root;
	struct meta_rec rootrec;
};

static struct {
	struct repo repo;
	const char *sub;
	size_t sublen;
	int cachefd;
	struct sess *s;
	size_t ns, cap;
	time_t refreshed;
	struct hist_dir hd;
	uid_t uid;
	gid_t gid;
	unsigned long errors;
	int allow_other;
} M;

/* An open file: the version as a view (history.c). */
struct ofile {
	struct hist_view v;
	uint64_t size;
	/* the view reads the mirror file (its base): what it was at open */
	int on_mirror;
	struct timespec mtime;
	uint64_t msize;
	char *path;  /* for the log */
	size_t slot; /* what it is a view of */
	uint32_t ent;
};

static fuse_ino_t
node(size_t slot, uint32_t ent)
{
	return ((fuse_ino_t)(slot + 1) << 32) | ((fuse_ino_t)ent + 1);
}

/* The session slot and entry of node ${ino}; 0, or -1 if it is none. */
static int
unnode(fuse_ino_t ino, size_t *slot, uint32_t *ent)
{
	uint64_t hi = ino >> 32, lo = ino & 0xffffffffu;

	if (hi == 0 || lo == 0 || hi - 1 >= M.ns)
		return -1;
	*slot = (size_t)(hi - 1);
	*ent = (uint32_t)(lo - 1);
	return 0;
}

/* ---- sessions ---------------------------------------------------------- */

static void
sess_forget(struct sess *s)
{
	meta_rec_clear(&s->rootrec);
	s->have_root = 0;
	if (s->state == 1)
		idx_close(&s->ix);
	s->state = 0;
	s->alive = 0;
}

/* Is session ${i} shown: alive, with --path in it? */
static int
shown(size_t i)
{
	return M.s[i].alive && M.s[i].has == 1;
}

/* The newest session alive, or with ${only_shown} the newest shown (what
 * "latest" names); -1 if none. */
static long
newest_session(int only_shown)
{
	long best = -1;

	for (size_t i = 0; i < M.ns; i++)
		if ((only_shown ? shown(i) : M.s[i].alive) &&
		    (best < 0 || M.s[i].t > M.s[best].t))
			best = (long)i;
	return best;
}

static int transient(int rc);

/*
 * With REPOSITORY/PATH, only the sessions that have PATH are shown: for
 * each session not known yet (oldest first), whether its metadata has
 * PATH (mdhist_path: each file's records only as far as the path).  Only
 * under the shared lock (the caller holds it): a session that ended while
 * a writer holds the repository stays unknown, so not shown, until then.
 * A session whose metadata cannot be read is shown (it fails with EIO).
 */
static void
sub_check(void)
{
	struct mdhist_path *ph = NULL;
	struct meta_rec r;
	int rc;

	for (size_t i = 0; i < M.ns; i++) {
		if (!M.s[i].alive || M.s[i].has >= 0)
			continue;
		if (ph == NULL &&
		    mdhist_path_new(M.repo.datafd, M.sub, M.sublen, &ph) != 0)
			return;
		meta_rec_init(&r);
		rc = mdhist_path_open(ph, M.s[i].t);
		if (rc == 0)
			rc = mdhist_path_get(ph, &r);
		meta_rec_clear(&r);
		if (rc == 0 || rc == CB_ERR_EOF || !transient(rc))
			M.s[i].has = rc != CB_ERR_EOF;
	}
	mdhist_path_free(ph);
}

/*
 * The finished sessions of the repository into *it, from one listing of
 * rdiff-backup-data, which a writer may be changing meanwhile: a name
 * that stays through the listing is seen, one added or removed during it
 * may or may not be.  The newest session that stands always has its
 * current_mirror marker, there before the listing began; so a time newer
 * than the newest marker seen is never a finished session (a backup's
 * marker not seen), nor is the newer of two markers' (a backup at work, a
 * failed one, a regress of it: regress removes the marker last).  A
 * backup's new session stands once the old marker is gone, and is taken
 * only if that marker was not seen.  0 or repo_scan's error.
 */
static int
finished_sessions(struct inc_times *it)
{
	struct repo_entry *e = NULL;
	size_t ne = 0, i, markers;
	int64_t newest;
	int r;

	it->t = NULL;
	it->n = 0;
	if ((r = repo_scan(M.repo.datafd, &e, &ne)) != 0)
		return r;
	markers = inc_markers(e, ne, &newest);
	if (markers == 0 || (it->t = malloc(ne * sizeof(*it->t))) == NULL) {
		repo_scan_free(e, ne);
		return markers == 0 ? CB_ERR_CORRUPT : CB_ERR_NOMEM;
	}
	for (i = 0; i < ne; i++) {
		int64_t t = e[i].inc.time;

		if ((e[i].base != RB_CURRENT_MIRROR &&
			e[i].base != RB_INCREMENTS &&
			e[i].base != RB_MIRROR_METADATA) ||
		    t > newest || (markers > 1 && t == newest))
			continue;
		it->t[it->n++] = t;
	}
	repo_scan_free(e, ne);
	it->n = times_sort_unique(it->t, it->n);
	return 0;
}

/*
 * The finished sessions, read again at most once a second.  While a
 * backup, regress or removal holds the repository (its shared lock is
 * not to be had), only sessions newer than the newest shown are added (a
 * session that ended before the backup now at work began; a session being
 * removed never appears again) and none goes: a removed one goes at the
 * first refresh with the lock free.
 */
static void
refresh(int force)
{
	struct inc_times it;
	time_t now = time(NULL);
	size_t i, j;
	int lk, busy, changed = 0;
	long l;

	if (!force && now - M.refreshed < REFRESH_SECS)
		return;
	M.refreshed = now;
	lk = repo_lock_try_shared(M.repo.datafd);
	busy = lk == -1;
	if (finished_sessions(&it) != 0) {
		if (lk >= 0)
			close(lk);
		return;
	}
	for (i = 0; i < M.ns && !busy; i++) {
		int found = 0;

		for (j = 0; j < it.n && !found; j++)
			found = it.t[j] == M.s[i].t;
		if (M.s[i].alive && !found) {
			log_info("session %s is gone from the repository",
			    M.s[i].name);
			sess_forget(&M.s[i]);
			changed = 1;
		}
	}
	l = newest_session(0);
	for (j = 0; j < it.n; j++) {
		if (busy && l >= 0 && it.t[j] <= M.s[l].t)
			continue;
		for (i = 0; i < M.ns && !(M.s[i].alive && M.s[i].t == it.t[j]);
		     i++)
			;
		if (i < M.ns)
			continue;
		if (M.ns == M.cap) {
			size_t cap = M.cap ? 2 * M.cap : 64;
			struct sess *n = realloc(M.s, cap * sizeof(*n));

			if (n == NULL)
				break;
			M.s = n;
			M.cap = cap;
		}
		changed = 1;
		memset(&M.s[M.ns], 0, sizeof(M.s[M.ns]));
		M.s[M.ns].t = it.t[j];
		M.s[M.ns].ix.fd = -1;
		M.s[M.ns].alive = 1;
		M.s[M.ns].has = M.sublen == 1 && M.sub[0] == '.' ? 1 : -1;
		if (timefmt_utc(it.t[j], M.s[M.ns].name) != 0)
			snprintf(M.s[M.ns].name, sizeof(M.s[M.ns].name),
			    "%" PRId64, it.t[j]);
		M.ns++;
	}
	inc_times_release(&it);
	if (!busy)
		sub_check();
	if (lk >= 0)
		close(lk);
	if (changed) {
		/* the sessions an increment's name may carry changed too */
		hist_dir_release(&M.hd);
		M.hd.recheck = 1;
	}
}

/* The entry of --path in session ${s}'s index. */
static uint32_t
find_top(struct sess *s)
{
	uint32_t cur;

	return idx_walk(&s->ix, M.sub, M.sublen, &cur) == 0 ? cur : UINT32_MAX;
}

/* Is ${rc} (errno with CB_ERR_SYS) a failure of this process's means,
 * not of the repository? */
static int
transient(int rc)
{
	return rc == CB_ERR_NOMEM ||
	    (rc == CB_ERR_SYS &&
		(errno == EMFILE || errno == ENFILE || errno == ENOSPC ||
		    errno == EDQUOT || errno == ENOMEM || errno == EINTR));
}

/* Open session ${slot}'s index if the cache has it, building nothing;
 * 1 when it is open. */
static int
sess_cached(size_t slot)
{
	struct sess *s = &M.s[slot];
	char name[64];
	uint64_t key[4];

	if (s->state != 0)
		return s->state == 1;
	snprintf(name, sizeof(name), "%" PRId64 ".idx", s->t);
	if (idx_key(M.repo.datafd, s->t, key) != 0 ||
	    idx_open(&s->ix, M.cachefd, name, s->t, key) != 0)
		return 0;
	s->state = 1;
	s->top = find_top(s);
	return 1;
}

/*
 * Session ${slot}'s index, built now if the cache has none for its
 * metadata: 0, or an errno (EAGAIN while a writer holds the repository
 * and there is no index yet, EIO when it cannot be built).
 */
static int
sess_open(size_t slot)
{
	struct sess *s = &M.s[slot];
	char name[64];
	uint64_t key[4];
	unsigned long bad = 0;
	int rc, lk;

	if (!s->alive)
		return ENOENT;
	if (sess_cached(slot))
		return 0;
	if (s->state < 0)
		return EIO;
	/* metadata files change only under the lock */
	if ((lk = repo_lock_try_shared(M.repo.datafd)) == -1)
		return EAGAIN;
	snprintf(name, sizeof(name), "%" PRId64 ".idx", s->t);
	if ((rc = idx_key(M.repo.datafd, s->t, key)) != 0) {
		log_error("session %s has no metadata: %s", s->name,
		    strerror(errno));
		if (lk >= 0)
			close(lk);
		if (!transient(rc))
			s->state = -1;
		return EIO;
	}
	rc = idx_build(M.repo.datafd, s->t, key, M.cachefd, name, &bad);
	if (lk >= 0)
		close(lk);
	if (rc == 0)
		rc = idx_open(&s->ix, M.cachefd, name, s->t, key);
	if (rc != 0) {
		log_error("cannot index session %s: %s", s->name,
		    cb_strerror(rc));
		M.errors++;
		/* out of descriptors, memory or cache space: the next try
		 * may work; a session that does not parse never */
		if (!transient(rc))
			s->state = -1;
		return EIO;
	}
	if (bad > 0) {
		log_error("session %s: %lu records out of place in the "
			  "metadata were left out",
		    s->name, bad);
		M.errors++;
	}
	log_info("indexed session %s (%" PRIu64 " entries)", s->name,
	    s->ix.h.nent);
	s->state = 1;
	s->top = find_top(s);
	return 0;
}

/* ---- attributes -------------------------------------------------------- */

static void
attr_of(const struct idx_ent *e, fuse_ino_t ino, struct stat *st)
{
	memset(st, 0, sizeof(*st));
	st->st_ino = ino;
	st->st_mode = e->mode;
	st->st_nlink = e->nlink;
	st->st_uid = e->uid;
	st->st_gid = e->gid;
	st->st_size = (off_t)e->size;
	st->st_blocks = (blkcnt_t)((e->size + 511) / 512);
	st->st_blksize = 65536;
	st->st_rdev = makedev(e->rdev_major, e->rdev_minor);
	st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec = e->mtime;
}

static void
attr_root(struct stat *st)
{
	long l = newest_session(1);

	memset(st, 0, sizeof(*st));
	st->st_ino = FUSE_ROOT_ID;
	st->st_mode = S_IFDIR | 0555;
	st->st_nlink = 2;
	for (size_t i = 0; i < M.ns; i++)
		st->st_nlink += (nlink_t)shown(i);
	st->st_uid = M.uid;
	st->st_gid = M.gid;
	if (l >= 0)
		st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec =
		    M.s[l].t;
}

static int
attr_latest(struct stat *st)
{
	long l = newest_session(1);

	attr_root(st);
	if (l < 0)
		return ENOENT;
	st->st_ino = LATEST_INO;
	st->st_mode = S_IFLNK | 0777;
	st->st_nlink = 1;
	st->st_size = (off_t)strlen(M.s[l].name);
	return 0;
}

/* A session's top directory when --path is not in it: empty. */
static void
attr_absent(size_t slot, struct stat *st)
{
	attr_root(st);
	st->st_ino = node(slot, UINT32_MAX - 1);
	st->st_mtim.tv_sec = st->st_atim.tv_sec = st->st_ctim.tv_sec =
	    M.s[slot].t;
}

/*
 * The attributes of a session's top before its index is built (listing
 * the root with ls -l builds none): with the whole tree mounted, the
 * record of "." read from the metadata (mdhist_path: up to the first
 * record of each file it needs), kept for the session.  0, or -1 when it
 * is not to be had that way (then the index is).
 */
static int
root_attr(size_t slot, struct stat *st)
{
	struct sess *s = &M.s[slot];
	struct mdhist_path *ph = NULL;
	struct meta_rec r;
	int rc, lk;

	if (!(M.sublen == 1 && M.sub[0] == '.') || !s->alive || s->state == 1)
		return -1; /* the index, once there, answers (link count too) */
	if (!s->have_root && sess_cached(slot))
		return -1; /* an index from an earlier mount: it answers */
	if (!s->have_root) {
		if ((lk = repo_lock_try_shared(M.repo.datafd)) == -1)
			return -1;
		meta_rec_init(&r);
		rc = mdhist_path_new(M.repo.datafd, ".", 1, &ph);
		if (rc == 0)
			rc = mdhist_path_open(ph, s->t);
		if (rc == 0)
			rc = mdhist_path_get(ph, &r);
		if (rc == 0 && r.type == META_DIR) {
			idx_ent_of(&r, &s->root);
			s->rootrec = r; /* kept for its xattrs and ACLs */
			meta_rec_init(&r);
			s->have_root = 1;
		}
		meta_rec_clear(&r);
		mdhist_path_free(ph);
		if (lk >= 0)
			close(lk);
		if (!s->have_root)
			return -1;
	}
	attr_of(&s->root, node(slot, 0), st);
	return 0;
}

/* Attributes of node ${ino}: 0 or an errno. */
static int
attr_node(fuse_ino_t ino, struct stat *st)
{
	struct idx_ent e;
	size_t slot;
	uint32_t ent;
	int rc;

	if (ino == FUSE_ROOT_ID) {
		refresh(0);
		attr_root(st);
		return 0;
	}
	if (ino == LATEST_INO)
		return attr_latest(st);
	if (unnode(ino, &slot, &ent) != 0)
		return ENOENT;
	if (ent == 0 && root_attr(slot, st) == 0) {
		st->st_ino = ino;
		return 0;
	}
	if ((rc = sess_open(slot)) != 0)
		return rc;
	if (ent == UINT32_MAX - 1 && M.s[slot].top == UINT32_MAX) {
		attr_absent(slot, st);
		return 0;
	}
	if (idx_ent(&M.s[slot].ix, ent, &e) != 0)
		return EIO;
	attr_of(&e, ino, st);
	return 0;
}

/* ---- requests ---------------------------------------------------------- */

static void
reply_entry(fuse_req_t req, fuse_ino_t ino, const struct stat *st, double ttl)
{
	struct fuse_entry_param ep;

	memset(&ep, 0, sizeof(ep));
	ep.ino = ino;
	ep.attr = *st;
	ep.attr_timeout = ttl;
	ep.entry_timeout = ttl;
	fuse_reply_entry(req, &ep);
}

/* The session top of slot ${slot}: its node id. */
static fuse_ino_t
top_node(size_t slot)
{
	uint32_t top = M.s[slot].top;

	return node(slot, top == UINT32_MAX ? UINT32_MAX - 1 : top);
}

static void
op_lookup(fuse_req_t req, fuse_ino_t parent, const char *name)
{
	struct stat st;
	struct idx_ent e;
	size_t slot;
	uint32_t ent, kid;
	int rc;

	if (parent == FUSE_ROOT_ID) {
		refresh(0);
		if (strcmp(name, "latest") == 0) {
			rc = attr_latest(&st);
			if (rc != 0)
				fuse_reply_err(req, rc);
			else
				reply_entry(req, LATEST_INO, &st, ROOT_TTL);
			return;
		}
		for (slot = 0; slot < M.ns; slot++)
			if (shown(slot) && strcmp(M.s[slot].name, name) == 0)
				break;
		if (slot == M.ns) {
			fuse_reply_err(req, ENOENT);
			return;
		}
		if (root_attr(slot, &st) == 0) {
			reply_entry(req, node(slot, 0), &st, ROOT_TTL);
			return;
		}
		if ((rc = sess_open(slot)) != 0 ||
		    (rc = attr_node(top_node(slot), &st)) != 0) {
			fuse_reply_err(req, rc);
			return;
		}
		reply_entry(req, top_node(slot), &st, ROOT_TTL);
		return;
	}
	if (unnode(parent, &slot, &ent) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((rc = sess_open(slot)) != 0) {
		fuse_reply_err(req, rc);
		return;
	}
	if (ent == UINT32_MAX - 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	rc = idx_lookup(&M.s[slot].ix, ent, name, strlen(name), &kid);
	if (rc == 1) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if (rc != 0 || idx_ent(&M.s[slot].ix, kid, &e) != 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	/* a hard link is its group's first entry: one node, many names */
	kid = e.link;
	if (idx_ent(&M.s[slot].ix, kid, &e) != 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	attr_of(&e, node(slot, kid), &st);
	reply_entry(req, node(slot, kid), &st, SESSION_TTL);
}

static void
op_getattr(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct stat st;
	int rc;

	(void)fi;
	if ((rc = attr_node(ino, &st)) != 0)
		fuse_reply_err(req, rc);
	else
		fuse_reply_attr(req, &st,
		    ino == FUSE_ROOT_ID || ino == LATEST_INO ? ROOT_TTL :
							       SESSION_TTL);
}

static void
op_readlink(fuse_req_t req, fuse_ino_t ino)
{
	struct idx_blob b;
	struct idx_ent e;
	size_t slot;
	uint32_t ent;
	char *t;
	long l;

	if (ino == LATEST_INO) {
		if ((l = newest_session(1)) < 0)
			fuse_reply_err(req, ENOENT);
		else
			fuse_reply_readlink(req, M.s[l].name);
		return;
	}
	if (unnode(ino, &slot, &ent) != 0 || sess_open(slot) != 0 ||
	    idx_ent(&M.s[slot].ix, ent, &e) != 0 || !S_ISLNK(e.mode) ||
	    idx_blob(&M.s[slot].ix, &e, &b) != 0) {
		fuse_reply_err(req, EIO);
		return;
	}
	if ((t = strndup(b.target, b.targetlen)) == NULL)
		fuse_reply_err(req, ENOMEM);
	else
		fuse_reply_readlink(req, t);
	free(t);
	idx_blob_free(&b);
}

/*
 * Add one directory entry to ${buf} at ${pos}; its size (more than what
 * is left: it did not fit).  With ${plus}, the attributes go too when
 * ${attrs}, else only the name (the kernel looks it up when it needs it).
 */
static size_t
add_dirent(fuse_req_t req, char *buf, size_t cap, size_t pos, const char *name,
    const struct stat *st, off_t next, int plus, int attrs, double ttl)
{
	struct fuse_entry_param ep;

	if (!plus)
		return fuse_add_direntry(req, buf + pos, cap - pos, name, st,
		    next);
	memset(&ep, 0, sizeof(ep));
	ep.ino = attrs ? st->st_ino : 0;
	ep.attr = *st;
	ep.attr_timeout = ttl;
	ep.entry_timeout = ttl;
	return fuse_add_direntry_plus(req, buf + pos, cap - pos, name, &ep,
	    next);
}

/* The root: ".", "..", "latest", the sessions; offsets count them. */
static size_t
readdir_root(fuse_req_t req, char *buf, size_t cap, off_t off, int plus)
{
	struct stat st;
	size_t pos = 0, n, slot;
	off_t i = off;

	refresh(0);
	for (;; i++) {
		const char *name;

		if (i == 0 || i == 1) {
			attr_root(&st);
			name = i == 0 ? "." : "..";
		} else if (i == 2) {
			if (attr_latest(&st) != 0)
				continue;
			name = "latest";
		} else {
			slot = (size_t)(i - 3);
			if (slot >= M.ns)
				break;
			if (!shown(slot))
				continue;
			/* names only: listing the root builds no index */
			attr_absent(slot, &st);
			st.st_ino = top_node(slot);
			name = M.s[slot].name;
		}
		n = add_dirent(req, buf, cap, pos, name, &st, i + 1, plus,
		    i == 2, ROOT_TTL);
		if (n > cap - pos)
			break;
		pos += n;
	}
	return pos;
}

#define KBATCH 512 /* children's numbers read at once */

static void
op_readdir_any(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off, int plus)
{
	uint32_t kids[KBATCH];
	uint64_t kfrom = 0;
	size_t nk = 0;
	struct idx_ent d, e;
	struct stat st;
	char *buf, name[META_NAME_MAX + 1];
	size_t pos = 0, n, slot;
	uint32_t ent, kid;
	off_t i;
	int rc;

	if ((buf = malloc(size)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	if (ino == FUSE_ROOT_ID) {
		pos = readdir_root(req, buf, size, off, plus);
		goto out;
	}
	if (unnode(ino, &slot, &ent) != 0) {
		free(buf);
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((rc = sess_open(slot)) != 0) {
		free(buf);
		fuse_reply_err(req, rc);
		return;
	}
	if (ent == UINT32_MAX - 1)
		memset(&d, 0, sizeof(d)); /* --path absent: "." and ".." */
	else if (idx_ent(&M.s[slot].ix, ent, &d) != 0 || !S_ISDIR(d.mode)) {
		free(buf);
		fuse_reply_err(req, EIO);
		return;
	}
	for (i = off;; i++) {
		const char *nm = name;
		fuse_ino_t kino;

		if (i < 2) {
			if (attr_node(ino, &st) != 0)
				break;
			nm = i == 0 ? "." : "..";
			n = add_dirent(req, buf, size, pos, nm, &st, i + 1,
			    plus, 0, 0);
		} else {
			if ((uint64_t)(i - 2) >= d.nkids)
				break;
			/* the children's numbers a batch at a time */
			if ((uint64_t)(i - 2) < kfrom ||
			    (uint64_t)(i - 2) >= kfrom + nk) {
				kfrom = (uint64_t)(i - 2);
				nk = d.nkids - kfrom < KBATCH ?
				    (size_t)(d.nkids - kfrom) :
				    KBATCH;
				if (idx_kids(&M.s[slot].ix, &d, (uint32_t)kfrom,
					nk, kids) != 0) {
					M.errors++;
					break;
				}
			}
			kid = kids[i - 2 - kfrom];
			if (idx_ent(&M.s[slot].ix, kid, &e) != 0 ||
			    idx_name(&M.s[slot].ix, &e, name) < 0) {
				M.errors++;
				break;
			}
			kino = node(slot, e.link);
			if (e.link != kid &&
			    idx_ent(&M.s[slot].ix, e.link, &e) != 0)
				break;
			attr_of(&e, kino, &st);
			n = add_dirent(req, buf, size, pos, nm, &st, i + 1,
			    plus, 1, SESSION_TTL);
		}
		if (n > size - pos)
			break;
		pos += n;
	}
out:
	fuse_reply_buf(req, buf, pos);
	free(buf);
}

static void
op_readdir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	op_readdir_any(req, ino, size, off, 0);
}

static void
op_readdirplus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	(void)fi;
	op_readdir_any(req, ino, size, off, 1);
}

/* Does a writer hold the repository now? */
static int
writer_active(void)
{
	int lk = repo_lock_try_shared(M.repo.datafd);

	if (lk >= 0)
		close(lk);
	return lk == -1;
}

/* Does the mirror file ${fd} hold the version recorded in ${e}? */
static int
mirror_holds(int fd, const struct idx_ent *e)
{
	struct stat st;

	return fd >= 0 && fstat(fd, &st) == 0 && S_ISREG(st.st_mode) &&
	    (uint64_t)st.st_size == e->size && st.st_mtim.tv_sec == e->mtime;
}

/*
 * What the mirror file holds decides which increments apply: the newest
 * session's version (it matches that session's record), or, when a
 * backup has replaced it and not finished, the version of the session
 * being written, whose increments named with the newest time are then
 * the way back.  So a file opened during a backup is right either way.
 * Into *until: the newest session's time in the first case, INT64_MAX in
 * the second (and when the newest session's index cannot be built); 0,
 * or EAGAIN when its record is not to be had now (never indexed, and a
 * writer holds the repository).
 */
static int
increments_until(const char *path, size_t plen, int mfd, int64_t *until)
{
	long l = newest_session(0);
	struct sess *s;
	struct idx_ent e;
	uint32_t cur;
	int rc;

	*until = INT64_MAX;
	if (l < 0)
		return 0;
	/* a session that cannot be indexed at all: as before, all apply */
	if ((rc = sess_open((size_t)l)) != 0)
		return rc == EAGAIN ? rc : 0;
	s = &M.s[l];
	if (idx_walk(&s->ix, path, plen, &cur) != 0)
		return 0;
	if (idx_ent(&s->ix, cur, &e) == 0 && S_ISREG(e.mode) &&
	    mirror_holds(mfd, &e))
		*until = s->t;
	return 0;
}

/*
 * The view of entry ${ent} of session ${slot} into ${of} (its slot and
 * entry kept there, for a view made again): 0, or an errno.
 */
static int
view_open(size_t slot, uint32_t ent, struct ofile *of)
{
	char path[META_PATH_MAX + 1];
	struct meta_rec r;
	struct idx_blob b;
	struct idx_ent e;
	struct stat st, mst;
	uint64_t key[4];
	int64_t until;
	ssize_t plen;
	long l;
	int mfd, rc;

	of->slot = slot;
	of->ent = ent;
	of->on_mirror = 0;
	if (sess_open(slot) != 0 || idx_ent(&M.s[slot].ix, ent, &e) != 0 ||
	    !S_ISREG(e.mode) ||
	    (plen = idx_path(&M.s[slot].ix, ent, path, sizeof(path))) < 0 ||
	    idx_blob(&M.s[slot].ix, &e, &b) != 0)
		return EIO;
	meta_rec_init(&r);
	r.path = path;
	r.pathlen = (size_t)plen;
	r.type = META_REG;
	r.size = e.size;
	r.alt_mirror = b.alt_mirror;
	r.alt_inc = b.alt_inc;
	idx_blob_free(&b);
	free(of->path);
	if ((of->path = strndup(path, (size_t)plen)) == NULL)
		return ENOMEM;
	/*
	 * No lock: what the mirror file holds decides the increments
	 * (increments_until), the listing is loaded again when it changed,
	 * and a version must come out at its recorded size; a reader
	 * holding the lock while it rebuilds would fail a backup starting.
	 */
	mfd = hist_mirror_open(M.repo.rootfd, M.repo.datafd, &r);
	if (mfd >= 0 && fstat(mfd, &mst) != 0) {
		close(mfd);
		mfd = -1;
	}
	if (mfd >= 0 && mst.st_mtim.tv_sec <= 1 && e.mtime > 1 &&
	    writer_active()) {
		/* update_in_place's mark: a backup is writing it now */
		log_error("'%s' at %s: its mirror file is being updated by a "
			  "backup; open it again when the backup has ended",
		    log_quote(path, (size_t)plen), M.s[slot].name);
		close(mfd);
		return EAGAIN;
	}
	M.hd.recheck = 1;
	/* no version before this one may be a bomb: a legitimate one is
	 * not many times larger than both ends of the chain */
	M.hd.step_cap = (mfd >= 0 && (uint64_t)mst.st_size > e.size ?
				(uint64_t)mst.st_size :
				e.size) *
		4 +
	    ((uint64_t)64 << 20);
	/* Increments named with the newest session's time come only from
	 * a backup at work (or a regress's leftovers): only then must the
	 * mirror file be judged against the newest record, which may cost
	 * that session's index.  If one appears while the view is made, it
	 * is made again, judged. */
	until = INT64_MAX;
	if ((l = newest_session(0)) >= 0 &&
	    hist_incs_from(&M.hd, M.repo.datafd, &r, M.s[l].t, NULL) != 0 &&
	    (rc = increments_until(path, (size_t)plen, mfd, &until)) != 0)
		goto unjudged;
	rc = hist_file_view(&M.hd, M.repo.datafd, mfd, &r, M.s[slot].t, until,
	    &of->v);
	if (rc == 0 && until == INT64_MAX && l >= 0 &&
	    hist_incs_from(&M.hd, M.repo.datafd, &r, M.s[l].t, NULL) != 0) {
		hist_view_close(&of->v);
		if ((rc = increments_until(path, (size_t)plen, mfd, &until)) !=
		    0)
			goto unjudged;
		rc = hist_file_view(&M.hd, M.repo.datafd, mfd, &r, M.s[slot].t,
		    until, &of->v);
	}
	if (rc == 0 && mfd >= 0 && fstat(of->v.base, &st) == 0 &&
	    st.st_dev == mst.st_dev && st.st_ino == mst.st_ino) {
		of->on_mirror = 1;
		of->mtime = mst.st_mtim;
		of->msize = (uint64_t)mst.st_size;
		if (st.st_mtim.tv_sec != mst.st_mtim.tv_sec ||
		    st.st_mtim.tv_nsec != mst.st_mtim.tv_nsec ||
		    st.st_size != mst.st_size)
			rc = CB_ERR_CORRUPT; /* changed while it was read */
	}
	if (mfd >= 0)
		close(mfd);
	/* a removal takes a session's metadata before its increments: if
	 * the metadata is still there, every increment read was whole (a
	 * chain missing the session's own would make the next session's
	 * version, often of the same size) */
	if (rc == 0 && idx_key(M.repo.datafd, M.s[slot].t, key) != 0) {
		log_error("'%s' at %s: the session was removed from the "
			  "repository",
		    log_quote(path, (size_t)plen), M.s[slot].name);
		hist_view_close(&of->v);
		return ENOENT;
	}
	if (rc == 0) {
		if (of->v.chain != NULL)
			of->size = delta_chain_size(of->v.chain);
		else if (fstat(of->v.base, &st) == 0)
			of->size = (uint64_t)st.st_size;
		if (of->size != e.size)
			rc = CB_ERR_CORRUPT;
	}
	if (rc != 0) {
		log_error("'%s' at %s: %s", log_quote(path, (size_t)plen),
		    M.s[slot].name,
		    rc == CB_ERR_CORRUPT ?
			"its version does not have the recorded size (a "
			"damaged increment, or the repository changed while "
			"it was read)" :
			cb_strerror(rc));
		M.errors++;
		hist_view_close(&of->v);
		return EIO;
	}
	/* read front to back, mostly: a wider read-ahead of the mirror */
	if (of->v.chain == NULL)
		posix_fadvise(of->v.base, 0, 0, POSIX_FADV_SEQUENTIAL);
	return 0;
unjudged:
	/* without the newest session's record, whether its increments
	 * apply is not known: never guessed */
	if (mfd >= 0)
		close(mfd);
	if (rc == EAGAIN)
		log_error("'%s' at %s: a backup is changing it, and the "
			  "newest session %s is not indexed yet; open it "
			  "again when the backup has ended",
		    log_quote(path, (size_t)plen), M.s[slot].name, M.s[l].name);
	return rc;
}

static void
op_open(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofile *of;
	size_t slot;
	uint32_t ent;
	int rc;

	if ((fi->flags & O_ACCMODE) != O_RDONLY) {
		fuse_reply_err(req, EROFS);
		return;
	}
	refresh(0); /* which session is the newest decides the increments */
	if (unnode(ino, &slot, &ent) != 0) {
		fuse_reply_err(req, ENOENT);
		return;
	}
	if ((of = calloc(1, sizeof(*of))) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	of->v.base = of->v.lit = -1;
	if ((rc = view_open(slot, ent, of)) != 0) {
		free(of->path);
		free(of);
		fuse_reply_err(req, rc);
		return;
	}
	fi->fh = (uint64_t)(uintptr_t)of;
	fi->keep_cache = 1; /* a session's file never changes */
	fuse_reply_open(req, fi);
}

/*
 * A view on the mirror file: has the file changed since it was opened (a
 * backup updating it in place)?  Then what was just read may be of the
 * new version.
 */
static int
mirror_changed(const struct ofile *of)
{
	struct stat st;

	/* by its mtime (update_in_place marks it first), not its ctime,
	 * which an unlink changes (a mirror file replaced by rename: what
	 * was opened stays as it was) */
	return of->on_mirror &&
	    (fstat(of->v.base, &st) != 0 ||
		st.st_mtim.tv_sec != of->mtime.tv_sec ||
		st.st_mtim.tv_nsec != of->mtime.tv_nsec ||
		(uint64_t)st.st_size != of->msize);
}

/* Read ${size} bytes at ${off} of ${of}'s view into ${buf}; the bytes
 * read, -1 on an error or when the mirror file changed meanwhile. */
static ssize_t
view_read(struct ofile *of, uint8_t *buf, size_t size, off_t off)
{
	ssize_t n;

	if (of->v.chain == NULL)
		n = fs_pread_all(of->v.base, buf, size, (uint64_t)off) == 0 ?
		    (ssize_t)size :
		    -1;
	else
		n = delta_chain_pread(of->v.chain, buf, size, (uint64_t)off);
	return n < 0 || mirror_changed(of) ? -1 : n;
}

static void
op_read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t off,
    struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;
	uint8_t *buf;
	ssize_t n;

	(void)ino;
	if ((uint64_t)off >= of->size) {
		fuse_reply_buf(req, NULL, 0);
		return;
	}
	if ((uint64_t)size > of->size - (uint64_t)off)
		size = (size_t)(of->size - (uint64_t)off);
	if ((buf = malloc(size ? size : 1)) == NULL) {
		fuse_reply_err(req, ENOMEM);
		return;
	}
	n = view_read(of, buf, size, off);
	if (n < 0 && mirror_changed(of)) {
		/*
		 * A backup updated the mirror file in place: once it has
		 * ended, the same version is made again from what the
		 * repository holds now (its new increment), and the read
		 * done again; while it runs, the read fails.
		 */
		struct ofile again = { .v = { .base = -1, .lit = -1 } };

		if (writer_active() || view_open(of->slot, of->ent, &again)) {
			log_error("'%s': its mirror file changed while it "
				  "was open (a backup updating it in place); "
				  "read it again when the backup has ended",
			    log_quote(of->path, strlen(of->path)));
			free(again.path);
		} else {
			hist_view_close(&of->v);
			free(of->path);
			*of = again;
			n = view_read(of, buf, size, off);
		}
	}
	if (n < 0)
		fuse_reply_err(req, EIO);
	else
		fuse_reply_buf(req, (const char *)buf, (size_t)n);
	free(buf);
}

static void
op_release(fuse_req_t req, fuse_ino_t ino, struct fuse_file_info *fi)
{
	struct ofile *of = (struct ofile *)(uintptr_t)fi->fh;

	(void)ino;
	hist_view_close(&of->v);
	free(of->path);
	free(of);
	fuse_reply_err(req, 0);
}

/* The xattrs of node ${ino} into *b: 0 or an errno. */
static int
xattrs_of(fuse_ino_t ino, struct idx_blob *b)
{
	struct idx_ent e;
	size_t slot;
	uint32_t ent;

	memset(b, 0, sizeof(*b));
	if (ino == FUSE_ROOT_ID || ino == LATEST_INO)
		return 0;
	if (unnode(ino, &slot, &ent) != 0)
		return ENOENT;
	if (ent == 0 && M.s[slot].state != 1 && M.s[slot].have_root)
		return idx_blob_of(&M.s[slot].rootrec, M.cachefd, b) == 0 ? 0 :
									    EIO;
	if (sess_open(slot) != 0)
		return ENOENT;
	if (ent == UINT32_MAX - 1)
		return 0;
	if (idx_ent(&M.s[slot].ix, ent, &e) != 0 ||
	    idx_blob(&M.s[slot].ix, &e, b) != 0)
		return EIO;
	return 0;
}

static const char *const acl_names[2] = { "system.posix_acl_access",
	"system.posix_acl_default" };

/* Reply with ${n} bytes of ${p} as getxattr/listxattr do for ${size}. */
static void
reply_sized(fuse_req_t req, size_t size, const void *p, size_t n)
{
	if (size == 0)
		fuse_reply_xattr(req, n);
	else if (n > size)
		fuse_reply_err(req, ERANGE);
	else
		fuse_reply_buf(req, p, n);
}

static void
op_getxattr(fuse_req_t req, fuse_ino_t ino, const char *name, size_t size)
{
	struct idx_blob b;
	const char *xn;
	const uint8_t *xv;
	size_t nl, vl, pos = 0, want = strlen(name);
	int rc;

	if ((rc = xattrs_of(ino, &b)) != 0) {
		fuse_reply_err(req, rc);
		return;
	}
	for (int def = 0; def <= 1; def++)
		if (strcmp(name, acl_names[def]) == 0) {
			if (b.acl[def] == NULL)
				fuse_reply_err(req, ENODATA);
			else
				reply_sized(req, size, b.acl[def],
				    b.acllen[def]);
			idx_blob_free(&b);
			return;
		}
	while (idx_xattr_next(&b, &pos, &xn, &nl, &xv, &vl))
		if (nl == want && memcmp(xn, name, nl) == 0) {
			reply_sized(req, size, xv, vl);
			idx_blob_free(&b);
			return;
		}
	idx_blob_free(&b);
	fuse_reply_err(req, ENODATA);
}

static void
op_listxattr(fuse_req_t req, fuse_ino_t ino, size_t size)
{
	struct idx_blob b;
	const char *xn;
	const uint8_t *xv;
	size_t nl, vl, pos = 0, n = 0;
	char *out;
	int rc;

	if ((rc = xattrs_of(ino, &b)) != 0) {
		fuse_reply_err(req, rc);
		return;
	}
	/* each name and its NUL: at most the blob's size plus the ACLs' */
	if ((out = malloc(b.xattrslen + 64)) == NULL) {
		idx_blob_free(&b);
		fuse_reply_err(req, ENOMEM);
		return;
	}
	while (idx_xattr_next(&b, &pos, &xn, &nl, &xv, &vl)) {
		memcpy(out + n, xn, nl);
		n += nl;
		out[n++] = '\0';
	}
	for (int def = 0; def <= 1; def++)
		if (b.acl[def] != NULL) {
			memcpy(out + n, acl_names[def],
			    strlen(acl_names[def]) + 1);
			n += strlen(acl_names[def]) + 1;
		}
	reply_sized(req, size, out, n);
	free(out);
	idx_blob_free(&b);
}

static void
op_statfs(fuse_req_t req, fuse_ino_t ino)
{
	struct statvfs sv;

	(void)ino;
	memset(&sv, 0, sizeof(sv));
	sv.f_bsize = sv.f_frsize = 4096;
	sv.f_namemax = META_NAME_MAX;
	sv.f_flag = ST_RDONLY;
	fuse_reply_statfs(req, &sv);
}

static void
op_init(void *data, struct fuse_conn_info *conn)
{
	(void)data;
	/* With --allow-other the kernel checks the recorded modes and ACLs
	 * (default_permissions); asking for ACLs turns that check on, so
	 * the owner alone, who may read the whole repository anyway, gets
	 * them as plain xattrs. */
	if (M.allow_other && (conn->capable & FUSE_CAP_POSIX_ACL))
		conn->want |= FUSE_CAP_POSIX_ACL;
	if (conn->capable & FUSE_CAP_READDIRPLUS)
		conn->want |= FUSE_CAP_READDIRPLUS;
	conn->want &= ~(unsigned)FUSE_CAP_READDIRPLUS_AUTO;
}

static const struct fuse_lowlevel_ops ops = {
	.init = op_init,
	.lookup = op_lookup,
	.getattr = op_getattr,
	.readlink = op_readlink,
	.open = op_open,
	.read = op_read,
	.release = op_release,
	.readdir = op_readdir,
	.readdirplus = op_readdirplus,
	.getxattr = op_getxattr,
	.listxattr = op_listxattr,
	.statfs = op_statfs,
};

/* ---- setting up ---------------------------------------------------------- */

static volatile sig_atomic_t watched;
static struct fuse_session *volatile kept_session; /* see the end of main */

/* The watcher passes an ending signal on to the file system's process. */
static void
pass_on(int sig)
{
	if (watched > 0)
		kill((pid_t)watched, sig);
}

/* Wait for ${child} to end (signals to end it are passed on); its exit
 * status, 1 when it was killed. */
static int
watch(pid_t child)
{
	struct sigaction sa;
	int st = 0;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = pass_on;
	watched = child;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while (waitpid(child, &st, 0) < 0 && errno == EINTR)
		;
	if (WIFSIGNALED(st))
		log_error("the file system's process ended by signal %d; "
			  "unmounted",
		    WTERMSIG(st));
	return WIFEXITED(st) ? WEXITSTATUS(st) : 1;
}

static void
usage(void)
{
	fprintf(stderr,
	    "usage: capback-mount [-v N] [--cache DIR] [--allow-other] "
	    "[--foreground] REPOSITORY[/PATH] MOUNTPOINT\n");
	exit(2);
}

static int cache_made; /* open_cache made the directory */

/* Is ${p} ${dir} or beneath it (both absolute, resolved)? */
static int
path_within(const char *p, const char *dir)
{
	size_t n = strlen(dir);

	return strncmp(p, dir, n) == 0 &&
	    (p[n] == '\0' || p[n] == '/' || (n == 1 && dir[0] == '/'));
}

/* Is the resolved ${mnt} a mount of capback mount (/proc/mounts, which
 * writes ' ', tab, newline and '\\' in a path as \ooo)? */
static int
capback_mount_at(const char *mnt)
{
	char pt[4096];
	FILE *f = fopen("/proc/mounts", "re");
	int found = 0;

	while (f != NULL && !found &&
	    fs_mount_next(f, "fuse.capback", pt, sizeof(pt), NULL, 0))
		found = strcmp(pt, mnt) == 0;
	if (f != NULL)
		fclose(f);
	return found;
}

/*
 * The mount point, resolved (the process leaves its working directory):
 * an empty directory, not a mount point already, not in the repository.
 */
static char *
check_mountpoint(const char *arg, const char *repo)
{
	char *mnt = realpath(arg, NULL), *top, *up;
	struct stat st, pst;

	if (mnt == NULL && errno == ENOTCONN)
		fatal("'%s' is a mount point whose file system has ended: "
		      "capback umount %s first",
		    arg, arg);
	if (mnt == NULL)
		fatal("the mount point '%s': %s", arg, strerror(errno));
	if (stat(mnt, &st) != 0 || !S_ISDIR(st.st_mode))
		fatal("the mount point '%s' is not a directory", arg);
	if (asprintf(&up, "%s/..", mnt) < 0)
		fatal("out of memory");
	if (stat(up, &pst) == 0 && pst.st_dev != st.st_dev) {
		if (capback_mount_at(mnt))
			fatal("'%s' is a mount point already (capback umount "
			      "%s, or choose another directory)",
			    arg, arg);
		fatal("'%s' is a mount point already: choose another "
		      "directory",
		    arg);
	}
	free(up);
	{
		int fd = open(mnt, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

		if (fd < 0 || fs_dir_is_empty(fd) != 1)
			fatal("the mount point '%s' is not empty (or cannot "
			      "be read): what is in it would be hidden",
			    arg);
		close(fd);
	}
	top = realpath(repo, NULL);
	if (top != NULL && path_within(mnt, top))
		fatal("the mount point '%s' is inside the repository '%s'", arg,
		    repo);
	free(top);
	return mnt;
}

/* The cache is the mount's to write: never inside the repository. */
static void
check_cache(int cachefd, const char *repo)
{
	char link[64], cache[PATH_MAX], *top = realpath(repo, NULL);
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/self/fd/%d", cachefd);
	n = readlink(link, cache, sizeof(cache) - 1);
	if (n <= 0 || top == NULL)
		fatal("cannot resolve the cache or the repository: %s",
		    strerror(errno));
	cache[n] = '\0';
	if (path_within(cache, top) && cache_made)
		rmdir(cache); /* made just now: leave no trace */
	if (path_within(cache, top))
		fatal("the cache '%s' is inside the repository '%s': give "
		      "--cache a directory of its own",
		    cache, repo);
	free(top);
}

/*
 * The indexes in the cache of sessions no longer in the repository (a
 * removal's) go: only regular files named as an index (<T>.idx), in the
 * cache itself.  With the session list just read under the shared lock,
 * so complete (no session ends or goes meanwhile).
 */
static void
tidy_cache(void)
{
	struct dirent *de;
	struct stat st;
	DIR *d;
	int fd = openat(M.cachefd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		const char *p = de->d_name;
		char *end;
		long long t;
		size_t i;

		if (p[p[0] == '-'] < '0' || p[p[0] == '-'] > '9')
			continue;
		errno = 0;
		t = strtoll(p, &end, 10);
		if (errno != 0 || strcmp(end, ".idx") != 0)
			continue;
		for (i = 0; i < M.ns && !(M.s[i].alive && M.s[i].t == t); i++)
			;
		if (i < M.ns ||
		    fstatat(dirfd(d), p, &st, AT_SYMLINK_NOFOLLOW) != 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (unlinkat(dirfd(d), p, 0) == 0)
			log_info("removed '%s' from the cache: its session is "
				 "no longer in the repository",
			    p);
	}
	closedir(d);
}

/* The cache directory: --cache, else $XDG_CACHE_HOME or ~/.cache, then
 * capback/mount/<device>-<inode of rdiff-backup-data>; made 0700. */
static int
open_cache(const char *dir)
{
	char path[PATH_MAX];
	struct stat st;
	const char *base = getenv("XDG_CACHE_HOME"), *home = getenv("HOME");
	int fd;

	if (fstat(M.repo.datafd, &st) != 0)
		fatal("cannot stat the repository: %s", strerror(errno));
	if (dir == NULL) {
		if (base != NULL && base[0] == '/')
			snprintf(path, sizeof(path), "%s/capback/mount/%lx-%lx",
			    base, (unsigned long)st.st_dev,
			    (unsigned long)st.st_ino);
		else if (home != NULL && home[0] == '/')
			snprintf(path, sizeof(path),
			    "%s/.cache/capback/mount/%lx-%lx", home,
			    (unsigned long)st.st_dev, (unsigned long)st.st_ino);
		else
			fatal("no cache directory: set HOME or give --cache "
			      "DIR");
		/* each level private to this user */
		for (char *p = strchr(path + 1, '/'); p != NULL;
		     p = strchr(p + 1, '/')) {
			*p = '\0';
			if (mkdir(path, 0700) != 0 && errno != EEXIST)
				fatal("cannot make '%s': %s", path,
				    strerror(errno));
			*p = '/';
		}
		dir = path;
	}
	if (mkdir(dir, 0700) == 0)
		cache_made = 1;
	else if (errno != EEXIST)
		fatal("cannot make the cache '%s': %s", dir, strerror(errno));
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) != 0)
		fatal("cannot open the cache '%s': %s", dir, strerror(errno));
	if (st.st_uid != geteuid() || (st.st_mode & 0077) != 0)
		fatal("the cache '%s' must be a directory of this user's, "
		      "mode 0700 (it is %04o, owner %u)",
		    dir, (unsigned)(st.st_mode & 07777), (unsigned)st.st_uid);
	return fd;
}

int
main(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "cache", required_argument, NULL, 'c' },
		{ "allow-other", no_argument, NULL, 'a' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "verbosity", required_argument, NULL, 'v' },
		{ NULL, 0, NULL, 0 },
	};
	struct fuse_args args = FUSE_ARGS_INIT(0, NULL);
	struct fuse_session *se;
	struct sandbox_rule rules[2];
	const char *cache = NULL;
	char *mnt;
	char *repo_path, *sub;
	int c, other = 0, fg = 0, verb = 3, rc;
	struct stat st;
	pid_t child;

	while ((c = getopt_long(argc, argv, "v:f", lo, NULL)) != -1) {
		switch (c) {
		case 'c': cache = optarg; break;
		case 'a': other = 1; break;
		case 'f': fg = 1; break;
		case 'v': verb = atoi(optarg); break;
		default: usage();
		}
	}
	if (argc - optind != 2)
		usage();
	M.allow_other = other;
	{
		/* an index per session in use and two files per open one */
		struct rlimit rl;

		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur < rl.rlim_max) {
			rl.rlim_cur = rl.rlim_max;
			setrlimit(RLIMIT_NOFILE, &rl);
		}
	}
	log_init("capback mount", verb);
	/* root mounts only root's repositories */
	repo_owner_advice = "mount it as that account (a mount is seen by the "
			    "account that mounts it; with --allow-other by "
			    "others too, as the recorded modes allow)";
	mnt = argv[optind + 1];
	repo_path = repo_split(argv[optind], &sub);
	M.sub = sub;
	M.sublen = strlen(sub);
	M.uid = getuid();
	M.gid = getgid();
	if (geteuid() == 0 && stat(repo_path, &st) == 0 && st.st_uid != 0)
		repo_fatal_owner(repo_path, st.st_uid);
	if (strcmp(sub, "rdiff-backup-data") == 0 ||
	    strncmp(sub, "rdiff-backup-data/", 18) == 0)
		fatal("'%s' is the repository's own data, not a backed-up "
		      "path",
		    argv[optind]);
	/* waits while a regress or removal holds the repository, as every
	 * reader; a backup's session is not shown (refresh, as while it
	 * runs after the mount): its finished sessions are mounted at once
	 * (a mount waiting for a night's backup helped nobody) */
	repo_lock_wait = REPO_LOCK_UNLESS_BACKUP;
	repo_open_existing(repo_path, &M.repo, 1, 0, "mount");
	mnt = check_mountpoint(mnt, repo_path);
	M.cachefd = open_cache(cache);
	check_cache(M.cachefd, repo_path);
	history_scratch_dirfd = M.cachefd;
	hist_dir_init(&M.hd);
	M.hd.recheck = 1; /* a writer may change increments meanwhile */
	idmap_load();
	tzset();
	refresh(1);
	if (newest_session(0) >= 0)
		tidy_cache();
	repo_unlock(); /* from now on only for a moment, never waiting */
	if (newest_session(0) < 0)
		fatal("'%s' holds no finished session", repo_path);
	if (newest_session(1) < 0)
		fatal("'%s' is in no session of '%s'", M.sub, repo_path);

	if (fuse_opt_add_arg(&args, "capback-mount") != 0 ||
	    fuse_opt_add_arg(&args, "-o") != 0 ||
	    fuse_opt_add_arg(&args,
		other ? "ro,fsname=capback,subtype=capback,auto_unmount,"
			"allow_other,default_permissions" :
			"ro,fsname=capback,subtype=capback,auto_unmount") != 0)
		fatal("out of memory");
	se = fuse_session_new(&args, &ops, sizeof(ops), NULL);
	if (se == NULL)
		fatal("cannot start the file system");
	if (fuse_session_mount(se, mnt) != 0)
		fatal("cannot mount on '%s' (see above)", mnt);
	/* Mounted: the descriptor of /dev/fuse is all that is needed from
	 * outside.  The repository to read, the cache to write. */
	rules[0] = (struct sandbox_rule){ M.repo.rootfd, SB_FS_READ };
	rules[1] = (struct sandbox_rule){ M.cachefd, SB_FS_READ | SB_FS_WRITE };
	if (!fg) {
		char link[64], cache_path[PATH_MAX];
		ssize_t n;

		snprintf(link, sizeof(link), "/proc/self/fd/%d", M.cachefd);
		n = readlink(link, cache_path, sizeof(cache_path) - 1);
		cache_path[n > 0 ? n : 0] = '\0';
		size_t nshown = 0;

		for (size_t i = 0; i < M.ns; i++)
			nshown += (size_t)shown(i);
		log_msg(3,
		    "%zu sessions of '%s' on '%s'; messages go to "
		    "%s/mount.log",
		    nshown, repo_path, mnt, cache_path);
	}
	if (fuse_daemonize(fg) != 0)
		fatal("cannot go to the background");
	if (!fg) {
		/* what goes wrong is added to the cache's log, which is
		 * begun again (the old one kept as mount.log.1) once it is
		 * over 1 MiB */
		struct stat lst;
		int lfd;

		if (fstatat(M.cachefd, "mount.log", &lst,
			AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(lst.st_mode) && lst.st_size > (off_t)1 << 20)
			renameat(M.cachefd, "mount.log", M.cachefd,
			    "mount.log.1");
		lfd = openat(M.cachefd, "mount.log",
		    O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC,
		    0600);

		if (lfd >= 0 && lfd != 2) {
			dup2(lfd, 2);
			close(lfd);
		}
	}
	/*
	 * Two processes: the file system, confined, and its parent, which
	 * only waits for it to end (a signal, an unmount, a crash) and then
	 * unmounts (fusermount3 -u, which the confined one may not run).
	 * auto_unmount stays as the fallback when both are killed.
	 */
	if ((child = fork()) < 0)
		fatal("cannot fork: %s", strerror(errno));
	if (child > 0) {
		/*
		 * It keeps the device open, so that unmounting asks about
		 * this mount only: unmounted already (capback umount), the
		 * device says so and nothing is run; else (the file system
		 * killed) it is still this mount, never one made since on
		 * the same directory.
		 */
		rc = watch(child);
		fuse_session_unmount(se);
		fuse_session_destroy(se);
		fuse_opt_free_args(&args);
		free(repo_path);
		free(sub);
		free(mnt);
		return rc;
	}
	if (fuse_set_signal_handlers(se) != 0)
		fatal("cannot set the signal handlers");
	sandbox_enter(SB_MOUNTER, rules, 2);
	rc = fuse_session_loop(se);
	fuse_remove_signal_handlers(se);
	/* The session is not destroyed here: its mount point's name is let
	 * go only by an unmount, which this process may not run (the
	 * parent does); it stays reachable until the exit. */
	kept_session = se;
	fuse_opt_free_args(&args);
	free(repo_path);
	free(mnt);
	return rc == 0 ? 0 : 1;
}
