/*
 * The increments' durability, one wait for many files.
 *
 * An increment must be on disk before the mirror change it describes:
 * otherwise a crash could leave the new mirror file and no way back to
 * the old one.  Waiting for the disk once per increment (an fsync each)
 * made a daily backup of many small changes wait for thousands of
 * journal commits.  Instead, increments are closed under their temporary
 * names and the mirror changes that depend on them (a file renamed over
 * its old version, an object removed, a directory's attributes, which
 * those renames would change, a deleted directory's removal) wait here,
 * in order.  A flush makes all waiting increments durable together, gives
 * them their own names, then makes the changes.
 *
 * Nothing else changes while a change waits: a new path is made under its
 * own name at once (regress removes what is new), and so are increments
 * that describe nothing a waiting change destroys (markers, snapshots of
 * symlinks, which the journal orders before the renames as it did
 * before).  A hard link to a file whose new version waits is made to
 * that version.  A file becoming a directory flushes first.  The
 * increment of a large file that may be updated in place is made durable
 * on its own (inc_close_now): a flush (syncfs) would also write out the
 * file's received copy, which an update in place never writes.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "backup_internal.h"
#include "fsutil.h"
#include "log.h"
#include "strbuf.h"

/*
 * A flush comes at the latest after this many increments or changes, or
 * when the waiting directories hold a number of descriptors (each keeps
 * its own and maybe its increments directory's until the flush) that
 * leaves FD_RESERVE of the soft RLIMIT_NOFILE, which the writer raises
 * towards the hard one for that (up to FD_WANT).
 */
#define BATCH_INCS 1024
#define BATCH_OPS  4096
#define FD_RESERVE 256
#define FD_WANT	   8192

enum op_kind { OP_INSTALL, OP_REMOVE, OP_DIR };

struct batch_inc {
	int tmpdir, dirfd; /* where its temporary is, where it goes */
	char *tmp, *final;
};

struct batch_op {
	enum op_kind kind;
	int dirfd;  /* borrowed: a directory still open, or closed later */
	char *name; /* the mirror entry (OP_INSTALL, OP_REMOVE) */
	char *tmp;  /* OP_INSTALL: its new version */
	char *path; /* OP_INSTALL, OP_REMOVE: the whole path */
	struct dlevel dir; /* OP_DIR: the finished level, owned */
	int is_root;
};

struct batch {
	struct batch_inc *inc;
	size_t ninc, capinc;
	struct batch_op *op;
	size_t nop, capop;
	size_t nfd;   /* descriptors the waiting directories hold */
	size_t maxfd; /* flush when they hold this many */
};

static void *
grow(void *p, size_t *cap, size_t n, size_t size)
{
	if ((p = array_grow(p, cap, n, size)) == NULL)
		fatal("out of memory");
	return p;
}

static char *
dupstr(const char *p)
{
	char *d = strdup(p);

	if (d == NULL)
		fatal("out of memory");
	return d;
}

/* Descriptors the waiting directories may hold (at least 32). */
static size_t
fd_budget(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return 32;
	if (rl.rlim_cur < FD_WANT && rl.rlim_cur < rl.rlim_max) {
		struct rlimit want = rl;

		want.rlim_cur = rl.rlim_max < FD_WANT ? rl.rlim_max : FD_WANT;
		if (setrlimit(RLIMIT_NOFILE, &want) == 0)
			rl = want;
	}
	if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur > FD_WANT)
		rl.rlim_cur = FD_WANT;
	return rl.rlim_cur > FD_RESERVE + 32 ? rl.rlim_cur - FD_RESERVE : 32;
}

static struct batch *
batch_of(struct session *s)
{
	if (s->batch == NULL) {
		if ((s->batch = calloc(1, sizeof(*s->batch))) == NULL)
			fatal("out of memory");
		s->batch->maxfd = fd_budget();
	}
	return s->batch;
}

int
batch_pending(const struct session *s)
{
	return s->batch != NULL && (s->batch->ninc > 0 || s->batch->nop > 0);
}

static void
flush_if_full(struct session *s)
{
	if (s->batch->ninc >= BATCH_INCS || s->batch->nop >= BATCH_OPS ||
	    s->batch->nfd >= s->batch->maxfd)
		batch_flush(s);
}

void
batch_inc(struct session *s, int fd, int tmpdir, const char *tmp, int dirfd,
    const char *final)
{
	struct batch *b = batch_of(s);
	struct batch_inc *i;

	/* The disk may start on it now; the flush waits for it. */
	(void)sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WRITE);
	if (close(fd) != 0)
		fatal("writing an increment: %s", strerror(errno));
	b->inc = grow(b->inc, &b->capinc, b->ninc, sizeof(*b->inc));
	i = &b->inc[b->ninc++];
	i->tmpdir = tmpdir;
	i->dirfd = dirfd;
	i->tmp = dupstr(tmp);
	i->final = dupstr(final);
	flush_if_full(s);
}

/* A waiting change; ${name} and ${path} (if not NULL) are copied. */
static struct batch_op *
new_op(struct session *s, enum op_kind kind, int dirfd, const char *name,
    const char *path, size_t pathlen)
{
	struct batch *b = batch_of(s);
	struct batch_op *o;

	b->op = grow(b->op, &b->capop, b->nop, sizeof(*b->op));
	o = &b->op[b->nop++];
	memset(o, 0, sizeof(*o));
	o->kind = kind;
	o->dirfd = dirfd;
	if (name != NULL) {
		o->name = dupstr(name);
		if ((o->path = strndup(path, pathlen)) == NULL)
			fatal("out of memory");
	}
	return o;
}

void
mirror_install(struct session *s, int dirfd, const char *tmp, const char *name,
    const char *path, size_t pathlen)
{
	if (!batch_pending(s)) {
		install_tmp(dirfd, tmp, name);
		return;
	}
	new_op(s, OP_INSTALL, dirfd, name, path, pathlen)->tmp = dupstr(tmp);
	flush_if_full(s);
}

static void
remove_entry(int dirfd, const char *name, const char *path, size_t pathlen)
{
	if (fs_remove_at(dirfd, name) != 0)
		fatal("cannot remove '%s' from the mirror: %s",
		    log_quote(path, pathlen), strerror(errno));
}

void
mirror_remove(struct session *s, int dirfd, const char *name, const char *path,
    size_t pathlen)
{
	if (!batch_pending(s)) {
		remove_entry(dirfd, name, path, pathlen);
		return;
	}
	new_op(s, OP_REMOVE, dirfd, name, path, pathlen);
	flush_if_full(s);
}

void
mirror_dir_done(struct session *s, struct dlevel *l, int pfd, int is_root)
{
	struct batch_op *o;

	if (!batch_pending(s)) {
		dir_finish(l, pfd, is_root);
		return;
	}
	o = new_op(s, OP_DIR, pfd, NULL, NULL, 0);
	o->dir = *l; /* its descriptors and record are the op's now */
	o->is_root = is_root;
	s->batch->nfd += 1 + (l->incfd >= 0);
	l->fd = l->incfd = -1;
	meta_rec_init(&l->rec);
	flush_if_full(s);
}

int
batch_waiting(const struct session *s, const char *path, int *dirfd,
    const char **tmp)
{
	if (s->batch == NULL)
		return 0;
	for (size_t i = s->batch->nop; i-- > 0;) {
		const struct batch_op *o = &s->batch->op[i];

		if (o->kind == OP_INSTALL && strcmp(o->path, path) == 0) {
			*dirfd = o->dirfd;
			*tmp = o->tmp;
			return 1;
		}
	}
	return 0;
}

void
batch_flush(struct session *s)
{
	struct batch *b = s->batch;
	size_t i;

	if (!batch_pending(s))
		return;
	/* One wait for the disk, not one per increment: an fsync of each,
	 * even of a file whose data and inode a previous fsync's journal
	 * commit already wrote, makes the disk flush its cache again
	 * (0.5 ms each here, 3 569 in a daily backup of 100k files).
	 * syncfs reports writeback errors since Linux 5.8. */
	if (b->ninc > 0 && syncfs(s->repo->rootfd) != 0)
		fatal("writing increments: %s", strerror(errno));
	session_stands(s, NULL);
	for (i = 0; i < b->ninc; i++) {
		struct batch_inc *n = &b->inc[i];

		inc_install(s->repo, n->tmpdir, n->tmp, n->dirfd, n->final);
		free(n->tmp);
		free(n->final);
		n->tmp = n->final = NULL; /* done, for batch_abort */
	}
	b->ninc = 0;
	for (i = 0; i < b->nop; i++) {
		struct batch_op *o = &b->op[i];

		switch (o->kind) {
		case OP_INSTALL: install_tmp(o->dirfd, o->tmp, o->name); break;
		case OP_REMOVE:
			remove_entry(o->dirfd, o->name, o->path,
			    strlen(o->path));
			break;
		case OP_DIR: dir_finish(&o->dir, o->dirfd, o->is_root); break;
		}
		free(o->tmp);
		free(o->name);
		free(o->path);
		o->tmp = o->name = o->path = NULL; /* done, for batch_abort */
	}
	b->nop = 0;
	b->nfd = 0;
}

/*
 * A session that fails: the temporaries of what still waits go, so that
 * a full disk gets its space back at once rather than at the regress.
 * Nothing that waits has been done, so nothing depends on them: the
 * mirror holds the old versions, and an increment not yet under its name
 * describes a change not made.  What a flush already did has no
 * temporary left (NULL).
 */
void
batch_abort(struct session *s)
{
	struct batch *b = s->batch;
	size_t i;

	if (b == NULL)
		return;
	for (i = 0; i < b->ninc; i++)
		if (b->inc[i].tmp != NULL)
			unlinkat(b->inc[i].tmpdir, b->inc[i].tmp, 0);
	for (i = 0; i < b->nop; i++)
		if (b->op[i].kind == OP_INSTALL && b->op[i].tmp != NULL)
			unlinkat(b->op[i].dirfd, b->op[i].tmp, 0);
}

void
batch_free(struct session *s)
{
	if (s->batch == NULL)
		return;
	free(s->batch->inc);
	free(s->batch->op);
	free(s->batch);
	s->batch = NULL;
}
