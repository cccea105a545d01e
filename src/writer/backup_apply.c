/*
 * Applying the queued actions to the mirror, strictly in record order.
 * The mirror is "defanged": owned by the writer, no setuid/setgid/sticky
 * bits, no device nodes, owner always able to read and write; the true
 * attributes live only in the metadata files.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_internal.h"
#include "cb_err.h"
#include "fsutil.h"
#include "log.h"
#include "xorshift.h"

static void
set_times(int fd, int64_t mtime)
{
	struct timespec ts[2] = { { 0, UTIME_OMIT }, { (time_t)mtime, 0 } };

	/* A file system that cannot keep a time (EIO) cannot be trusted
	 * with the session either: it stops here, to be regressed. */
	if (futimens(fd, ts) != 0)
		fatal("setting a time in the mirror: %s", strerror(errno));
}

static const char *
base_of(const struct meta_rec *r)
{
	const char *slash = memrchr(r->path, '/', r->pathlen);

	return slash ? slash + 1 : r->path;
}

void
dir_finish(struct dlevel *l, int pfd, int is_root)
{
	if (l->deleted) {
		const char *name = base_of(&l->rec);

		close(l->fd);
		if (unlinkat(pfd, name, AT_REMOVEDIR) != 0 &&
		    fs_remove_at(pfd, name) != 0)
			fatal("cannot remove '%s' from the mirror: %s",
			    log_quote(l->rec.path, l->rec.pathlen),
			    strerror(errno));
	} else {
		if (!is_root)
			mirror_chown(l->fd, &l->rec);
		if (fchmod(l->fd, is_root ? 0700 : mirror_mode(&l->rec)) != 0)
			log_warn("cannot chmod mirror directory '%s': %s",
			    log_quote(l->rec.path, l->rec.pathlen),
			    strerror(errno));
		set_times(l->fd, l->rec.mtime);
		close(l->fd);
	}
	if (l->incfd >= 0)
		close(l->incfd);
	meta_rec_clear(&l->rec);
}

/*
 * Finish the innermost open directory: its increment marker if it took
 * part in this session, then its attributes (once the changes in it are
 * done: they would change its time).
 */
static void
dir_pop(struct session *s)
{
	struct dlevel *l = &s->dstack[s->ddepth - 1];
	int is_root = s->ddepth == 1;
	int took_part = l->changed || l->marker == MARK_MISSING || l->deleted;

	/* rdiff-backup counts a directory that took part as changed (it
	 * has an increment), whatever its own attributes did */
	if (took_part && !l->counted && !l->deleted) {
		s->st.changed_files++;
		s->st.changed_as_rdiff++;
	}

	if (s->incs && took_part && l->marker != MARK_NONE) {
		if (is_root)
			inc_marker(s, s->repo->datafd, "increments", "dir", 0);
		else
			inc_marker(s,
			    inc_dir_for(s, s->ddepth - 2, l->rec.alt_inc),
			    base_of(&l->rec),
			    l->marker == MARK_MISSING ? "missing" : "dir",
			    l->rec.alt_inc);
	}
	mirror_dir_done(s, l, is_root ? -1 : s->dstack[s->ddepth - 2].fd,
	    is_root);
	s->ddepth--;
	if (took_part && s->ddepth > 0)
		s->dstack[s->ddepth - 1].changed = 1;
}

static void
dir_push(struct session *s, int fd, const struct meta_rec *r)
{
	struct meta_rec bare;
	struct dlevel *l;

	if (s->ddepth == s->dcap) {
		size_t ncap = s->dcap ? s->dcap * 2 : 16;
		struct dlevel *nd = realloc(s->dstack, ncap * sizeof(*nd));

		if (nd == NULL)
			fatal("out of memory");
		s->dstack = nd;
		s->dcap = ncap;
	}
	l = &s->dstack[s->ddepth++];
	memset(l, 0, sizeof(*l));
	l->fd = fd;
	l->incfd = -1;
	l->marker = MARK_DIR;
	meta_rec_init(&l->rec);
	/* The mirror keeps no xattrs or ACLs: open directories (up to 2048
	 * deep) and those waiting in the batch hold none of theirs. */
	bare = *r;
	bare.xattrs = NULL;
	bare.nxattrs = 0;
	bare.acl = NULL;
	bare.nacl = 0;
	if (meta_rec_copy(&l->rec, &bare) != 0)
		fatal("out of memory");
}

/*
 * Close directories until the innermost is the parent of ${path}; return
 * its fd and point *name at the last component.  The receipt checks made
 * sure the parent was opened before.
 */
static int
parent_of(struct session *s, const char *path, size_t len, const char **name)
{
	const char *slash = memrchr(path, '/', len);
	size_t plen = slash ? (size_t)(slash - path) : 0;

	*name = slash ? slash + 1 : path;
	while (s->ddepth > 1) {
		const struct meta_rec *top = &s->dstack[s->ddepth - 1].rec;

		if (top->pathlen == plen && memcmp(top->path, path, plen) == 0)
			break;
		dir_pop(s);
	}
	if (s->ddepth == 0 || (plen == 0) != (s->ddepth == 1))
		fatal("internal: no open parent directory for '%s'",
		    log_quote(path, len));
	return s->dstack[s->ddepth - 1].fd;
}

void
check_old_digest(struct session *s, int pfd, const char *name,
    struct meta_rec *old)
{
	char line[84], fn[128];
	uint8_t sum[20];
	struct stat st;
	int fd;

	if (!s->src_digests || !s->incs || old->type != META_REG ||
	    !old->has_sha1)
		return;
	fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return; /* no copy: nothing for regress to rebuild from */
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) ||
	    xfer_sha1_fd(fd, sum) != 0 || memcmp(sum, old->sha1, 20) == 0) {
		close(fd);
		return;
	}
	close(fd);
	log_warn("'%s': its mirror copy does not have the SHA-1 recorded for "
		 "it (the host's digest was false, or this disk changed the "
		 "file): the previous session's record is corrected to the "
		 "copy",
	    log_quote(old->path, old->pathlen));
	if (s->fixfd < 0) {
		snprintf(fn, sizeof(fn), DIGEST_FIXES, s->nowts);
		s->fixfd = openat(s->repo->datafd, fn,
		    O_WRONLY | O_CREAT | O_APPEND | O_NOFOLLOW | O_CLOEXEC,
		    0600);
		if (s->fixfd < 0 || fsync(s->repo->datafd) != 0)
			fatal("cannot create %s: %s", fn, strerror(errno));
	}
	meta_sha1_hex(old->sha1, line);
	line[40] = ' ';
	meta_sha1_hex(sum, line + 41);
	line[81] = '\n';
	if (write(s->fixfd, line, 82) != 82 || fsync(s->fixfd) != 0)
		fatal("writing %s's digest fix: %s", name, strerror(errno));
	memcpy(old->sha1, sum, 20);
}

/* A new file ${name} in the mirror, private until it is complete. */
static int
create_new(int dirfd, const char *name)
{
	return openat(dirfd, name,
	    O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
}

/* A fresh temporary name in ${dirfd}; returns the fd (O_RDWR) or -1. */
static int
create_tmp(struct session *s, int dirfd, char *name, size_t cap)
{
	for (;;) {
		int fd;

		snprintf(name, cap, "rdiff-backup.tmp.%llu",
		    (unsigned long long)++s->tmpcount);
		fd = create_new(dirfd, name);
		if (fd >= 0 || errno != EEXIST)
			return fd;
	}
}

/* Move ${tmp} over ${name}, removing a directory that stands there. */
void
install_tmp(int dirfd, const char *tmp, const char *name)
{
	if (renameat(dirfd, tmp, dirfd, name) == 0)
		return;
	if (errno == EISDIR || errno == ENOTEMPTY || errno == EEXIST) {
		if (fs_remove_at(dirfd, name) == 0 &&
		    renameat(dirfd, tmp, dirfd, name) == 0)
			return;
	}
	{
		int e = errno;

		unlinkat(dirfd, tmp, 0);
		fatal("cannot update mirror entry '%s': %s", name, strerror(e));
	}
}

/*
 * What the path held before this session goes into the increments:
 * nothing new (".missing"), or the old object when it is replaced.
 */
static void
note_old(struct session *s, struct action *a, int pfd, const char *name)
{
	if (a->has_prev) {
		check_old_digest(s, pfd, name, &a->prev);
		inc_old_object(s, pfd, name, &a->prev);
	} else if (!a->replaces_dir) {
		inc_changed(s);
		if (s->incs)
			inc_marker(s,
			    inc_dir_for(s, s->ddepth - 1, a->e.rec.alt_inc),
			    name, "missing", a->e.rec.alt_inc);
	}
}

static void
apply_dir(struct session *s, struct action *a)
{
	const struct meta_rec *r = &a->e.rec;
	const char *name;
	int pfd, fd, made;

	if (r->pathlen == 1 && r->path[0] == '.') {
		if ((fd = dup(s->repo->rootfd)) < 0)
			fatal("dup: %s", strerror(errno));
		dir_push(s, fd, r);
		if (a->has_prev && !meta_attr_equal(r, &a->prev))
			s->dstack[0].changed = 1;
		s->dstack[0].counted = s->dstack[0].changed || !a->has_prev;
		return;
	}
	pfd = parent_of(s, r->path, r->pathlen, &name);
	if (a->has_prev && a->prev.type != META_DIR) {
		/* A file became a directory: keep the file, then replace. */
		check_old_digest(s, pfd, name, &a->prev);
		inc_old_object(s, pfd, name, &a->prev);
		batch_flush(s);
		if (fs_remove_at(pfd, name) != 0)
			fatal("cannot replace '%s' in the mirror: %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
	}
	/* A new path: made first, not after an open that fails.  Only
	 * EEXIST (something stands there after all) goes the way below. */
	made = !a->has_prev && mkdirat(pfd, name, 0700) == 0;
	if (!a->has_prev && !made && errno != EEXIST)
		fatal("cannot create mirror directory '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	fd = openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno != ENOENT && fs_remove_at(pfd, name) != 0)
			fatal("cannot replace '%s' in the mirror: %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
		if (mkdirat(pfd, name, 0700) != 0)
			fatal("cannot create mirror directory '%s': %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
		fd = openat(pfd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			fatal("cannot open mirror directory '%s': %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
	} else if (!made && fchmod(fd, 0700) != 0) /* children before mode */
		fatal("cannot open up mirror directory '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	dir_push(s, fd, r);
	if (!a->has_prev)
		s->dstack[s->ddepth - 1].marker = MARK_MISSING;
	else if (a->prev.type != META_DIR)
		s->dstack[s->ddepth - 1].marker = MARK_NONE;
	if (!a->has_prev || !meta_attr_equal(r, &a->prev))
		s->dstack[s->ddepth - 1].changed =
		    s->dstack[s->ddepth - 1].counted = 1;
}

/* A deleted directory: its children's deletions come next, inside it. */
static void
delete_dir(struct session *s, const struct meta_rec *old, int pfd,
    const char *name)
{
	int fd =
	    openat(pfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (fd < 0) {
		/* Not in the mirror (damaged): nothing to keep, still removed. */
		log_warn("'%s' was missing from the mirror",
		    log_quote(old->path, old->pathlen));
		fs_remove_at(pfd, name);
		if (mkdirat(pfd, name, 0700) != 0 ||
		    (fd = openat(pfd, name,
			 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
			fatal("cannot recreate '%s': %s",
			    log_quote(old->path, old->pathlen),
			    strerror(errno));
	}
	if (fchmod(fd, 0700) != 0)
		fatal("cannot open up mirror directory '%s': %s",
		    log_quote(old->path, old->pathlen), strerror(errno));
	dir_push(s, fd, old);
	s->dstack[s->ddepth - 1].deleted = 1;
}

static int
special_same(const struct meta_rec *r, const struct meta_rec *p)
{
	if (p->type != r->type)
		return 0;
	if (r->type == META_SYM)
		return strcmp(p->symdata, r->symdata) == 0;
	if (r->type == META_DEV)
		return p->dev_kind == r->dev_kind &&
		    p->dev_major == r->dev_major &&
		    p->dev_minor == r->dev_minor;
	return 1;
}

/* Make the symlink, fifo or socket ${r} as ${name} in ${pfd}: 0 or -1. */
static int
make_special(int pfd, const char *name, const struct meta_rec *r)
{
	if (r->type == META_SYM)
		return symlinkat(r->symdata, pfd, name);
	if (r->type == META_FIFO)
		return mkfifoat(pfd, name, 0600);
	return mknodat(pfd, name, S_IFSOCK | 0600, 0);
}

/* Symlinks, fifos, sockets, devices: recreated when anything differs. */
static void
apply_special(struct session *s, struct action *a)
{
	const struct meta_rec *r = &a->e.rec, *p = &a->prev;
	char tmp[64];
	const char *name;
	int pfd, fd;

	pfd = parent_of(s, r->path, r->pathlen, &name);
	if (a->has_prev && special_same(r, p)) {
		if (!meta_attr_equal(r, p))
			inc_changed(s); /* attributes only: in the metadata */
		return; /* the mirror object still stands for it */
	}
	note_old(s, a, pfd, name);
	/* A new path under its own name, as a new file (apply_file_begin);
	 * should something stand there after all, the way below replaces
	 * it. */
	if (r->type != META_DEV && !a->has_prev && !a->replaces_dir) {
		if (make_special(pfd, name, r) == 0)
			return;
		if (errno != EEXIST)
			fatal("cannot create '%s' in the mirror: %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
	}
	if ((fd = create_tmp(s, pfd, tmp, sizeof(tmp))) < 0)
		fatal("cannot create in mirror: %s", strerror(errno));
	close(fd);
	if (r->type != META_DEV) { /* a device: defanged, an empty file */
		unlinkat(pfd, tmp, 0);
		if (make_special(pfd, tmp, r) != 0)
			fatal("cannot create '%s' in the mirror: %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
	}
	mirror_install(s, pfd, tmp, name, r->path, r->pathlen);
}

static void
apply_link(struct session *s, struct action *a)
{
	const struct meta_rec *r = &a->e.rec;
	char tmp[64], proc[64];
	const char *name, *wtmp;
	int pfd, src, fd, wdir;

	pfd = parent_of(s, r->path, r->pathlen, &name);
	if (batch_waiting(s, a->link_to, &wdir, &wtmp)) /* not yet in place */
		src = openat(wdir, wtmp, O_PATH | O_NOFOLLOW | O_CLOEXEC);
	else
		src = fs_open_beneath(s->repo->rootfd, a->link_to,
		    O_PATH | O_NOFOLLOW, 0);
	if (src < 0)
		fatal("cannot open '%s' in the mirror to link it: %s",
		    log_quote(a->link_to, strlen(a->link_to)), strerror(errno));
	note_old(s, a, pfd, name);
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", src);
	if (!a->has_prev && !a->replaces_dir) {
		if (linkat(AT_FDCWD, proc, pfd, name, AT_SYMLINK_FOLLOW) == 0) {
			close(src); /* a new path: under its own name */
			return;
		}
		if (errno != EEXIST)
			fatal("cannot hard-link '%s' in the mirror: %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
	}
	if ((fd = create_tmp(s, pfd, tmp, sizeof(tmp))) < 0)
		fatal("cannot create in mirror: %s", strerror(errno));
	close(fd);
	unlinkat(pfd, tmp, 0);
	if (linkat(AT_FDCWD, proc, pfd, tmp, AT_SYMLINK_FOLLOW) != 0)
		fatal("cannot hard-link '%s' in the mirror: %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	close(src);
	mirror_install(s, pfd, tmp, name, r->path, r->pathlen);
}

static void
apply_unchanged_reg(struct session *s, struct action *a)
{
	struct meta_rec *r = &a->e.rec;
	const char *name;
	struct stat st;
	int pfd, fd;

	r->has_sha1 = a->prev.has_sha1;
	memcpy(r->sha1, a->prev.sha1, sizeof(r->sha1));
	if (!meta_attr_equal(r, &a->prev)) {
		/* its own directory took part: reached first (the one open
		 * may be one whose subtree came before; it got a .dir
		 * increment for nothing, the right one none) */
		parent_of(s, r->path, r->pathlen, &name);
		inc_changed(s); /* attributes only: in the metadata */
	}
	if (!mirror_native && mirror_mode(r) == mirror_mode(&a->prev))
		return;
	pfd = parent_of(s, r->path, r->pathlen, &name);
	/*
	 * A native mirror is checked against the record, not the previous
	 * one: a repository a default session wrote holds the writer's
	 * owner and modes until a native session gives them back, and
	 * rdiff-backup drops a new hard link to a group whose file is not
	 * the source's ("rdiff-backup after capback" in docs/design.md).
	 */
	if (mirror_native &&
	    fstatat(pfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		if (!S_ISREG(st.st_mode)) { /* changed by hand: not opened */
			log_warn("mirror file '%s' is no regular file: its "
				 "owner and mode are left",
			    log_quote(r->path, r->pathlen));
			return;
		}
		if ((st.st_mode & 07777) == mirror_mode(r) &&
		    st.st_uid == r->uid && st.st_gid == r->gid)
			return;
		s->native_fixed++;
	}
	fd = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd >= 0)
		mirror_chown(fd, r);
	if (fd < 0 || fchmod(fd, mirror_mode(r)) != 0)
		log_warn("cannot chmod mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (fd >= 0)
		close(fd);
}

static void
apply_delete(struct session *s, struct meta_rec *old)
{
	const char *name;
	int pfd = parent_of(s, old->path, old->pathlen, &name);

	if (old->type == META_DIR) {
		diff_deleted(s, old);
		delete_dir(s, old, pfd, name);
		return;
	}
	check_old_digest(s, pfd, name, old);
	diff_deleted(s, old);
	inc_old_object(s, pfd, name, old);
	mirror_remove(s, pfd, name, old->path, old->pathlen);
}

/*
 * The AlternateIncrementName of the entry: kept from the previous record,
 * or a new number at a long name's first backup (7.3), or below a
 * directory named like an increment (inc_below_inc_name).  Called in
 * record order, so the numbers come out as rdiff-backup gives them.
 */
static void
take_alt(struct session *s, struct action *a)
{
	struct meta_rec *r = &a->e.rec;

	if (a->has_prev)
		r->alt_inc = a->prev.alt_inc;
	else if (r->pathlen - (size_t)(base_of(r) - r->path) > INC_NAME_MAX ||
	    inc_below_inc_name(r->path, r->pathlen))
		r->alt_inc = inc_alloc_alt(s);
}

static void
apply_action(struct session *s, struct action *a)
{
	switch (a->kind) {
	case ACT_KEEP: write_record(s, &a->prev, &a->prev); return;
	case ACT_DELETE: apply_delete(s, &a->prev); return;
	case ACT_ENTRY: break;
	}
	take_alt(s, a);
	switch (a->e.rec.type) {
	case META_DIR: apply_dir(s, a); break;
	case META_REG:
		if (a->dec == D_LINK)
			apply_link(s, a);
		else
			apply_unchanged_reg(s, a);
		break;
	default: apply_special(s, a); break;
	}
	s->dreplaced = a->replaces_dir;
	write_record(s, &a->e.rec, a->has_prev ? &a->prev : NULL);
}

void
apply_ready(struct session *s)
{
	while (s->qcount > 0 && !s->receiving) {
		struct action *a = &s->q[s->qhead];

		if (a->kind == ACT_ENTRY && a->dec == D_DATA)
			return; /* its content is on the way */
		apply_action(s, a);
		q_pop_head(s);
	}
}

/*
 * A changed mirror file of at least IN_PLACE_MIN bytes whose reverse delta
 * says it was edited in place is updated in place: only its changed
 * ranges are written, not the whole file, when they are at most
 * 1/IN_PLACE_PART of it.  It costs one fsync (the marker below), so small
 * files are rewritten whole as before.
 */
#define IN_PLACE_MIN  ((uint64_t)4 * 1024 * 1024)
#define IN_PLACE_PART 8
#define IN_PLACE_BUF  ((size_t)256 * 1024)

/*
 * Writeback of a file being received is started every EARLY_FLUSH bytes,
 * so that the disk writes while the session goes on and the final syncfs
 * finds little left to do (the kernel would otherwise wait until dirty
 * pages are 10% of memory).
 */
#define EARLY_FLUSH ((uint64_t)8 * 1024 * 1024)

/* May the mirror file of ${a} be updated in place (update_in_place)? */
static int
in_place_candidate(const struct action *a)
{
	return a->has_prev && a->prev.type == META_REG &&
	    a->prev.size >= IN_PLACE_MIN;
}

static void
early_flush(struct session *s)
{
	uint64_t off = s->sink.off;

	if (s->flushed == UINT64_MAX || off - s->flushed < EARLY_FLUSH)
		return;
	/* Advisory: a failure to write shows at the syncfs. */
	(void)sync_file_range(s->tmpfd, (off_t)s->flushed,
	    (off_t)(off - s->flushed), SYNC_FILE_RANGE_WRITE);
	s->flushed = off;
}

/* The patcher's output: into the temporary file, hashed. */
static int
patch_out(void *arg, const uint8_t *p, size_t n)
{
	struct session *s = arg;
	int r = xfer_sink_data(&s->sink, p, n);

	early_flush(s);
	return r;
}

void
apply_file_begin(struct session *s, uint64_t seq, uint64_t size, int delta)
{
	struct action *a = s->qcount ? &s->q[s->qhead] : NULL;
	const char *name;
	int pfd, r;

	if (s->receiving || a == NULL || a->kind != ACT_ENTRY ||
	    a->dec != D_DATA || a->seq != seq || (delta && a->siglen == 0))
		fatal("protocol: %s %llu was not asked for now",
		    delta ? "DELTA" : "FILE", (unsigned long long)seq);
	s->sig_inflight -= a->siglen; /* answered (FILE: could not open) */
	/* The size declared, holes and all: the sink takes no more, and
	 * holes become written zeros once the file goes into an increment
	 * (a later session's deletion, a regress). */
	session_charge(s, size, &a->e.rec);
	take_alt(s, a);
	pfd = parent_of(s, a->e.rec.path, a->e.rec.pathlen, &name);
	if (delta) {
		/* The basis: the mirror copy the signature was made from. */
		s->basisfd =
		    openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
		if (s->basisfd < 0)
			fatal("cannot open mirror file '%s' for a delta: %s",
			    log_quote(a->e.rec.path, a->e.rec.pathlen),
			    strerror(errno));
		if ((r = delta_patcher_new(&s->patcher, s->basisfd, patch_out,
			 s)) != 0)
			fatal("delta of '%s': %s",
			    log_quote(a->e.rec.path, a->e.rec.pathlen),
			    cb_strerror(r));
	}
	/*
	 * A path the last session did not have is written under its own
	 * name: should the session not finish, regress removes what is new.
	 * Anything else goes to a temporary name, renamed over the old.
	 */
	s->direct = 0;
	if (!delta && !a->has_prev && !a->replaces_dir) {
		s->tmpfd = create_new(pfd, name);
		s->direct = s->tmpfd >= 0;
		if (s->direct) /* a name of the mirror: at most NAME_MAX */
			snprintf(s->tmpname, sizeof(s->tmpname), "%s", name);
	}
	if (!s->direct)
		s->tmpfd = create_tmp(s, pfd, s->tmpname, sizeof(s->tmpname));
	if (s->tmpfd < 0)
		fatal("cannot create a file in the mirror: %s",
		    strerror(errno));
	if (xfer_sink_init(&s->sink, s->tmpfd, size) != 0)
		fatal("out of memory");
	/* With the reader's digest, hashed here only when picked for a
	 * check (a delta's result always is: its digest proves it). */
	if (s->src_digests && !delta) {
		s->rng = xorshift64_next(s->rng);
		if ((s->rng >> 32) >= s->check_at)
			xfer_sink_nohash(&s->sink);
	}
	/* Not a file that may be updated in place: its temporary copy
	 * would then never be written at all. */
	s->flushed = in_place_candidate(a) ? UINT64_MAX : 0;
	s->receiving = 1;
}

void
apply_file_data(struct session *s, const uint8_t *p, size_t n)
{
	const struct meta_rec *r = &s->q[s->qhead].e.rec;
	int rc;

	if (s->patcher != NULL) {
		s->st.delta_bytes += n;
		rc = delta_patcher_feed(s->patcher, p, n);
	} else {
		s->st.whole_bytes += n;
		rc = xfer_sink_data(&s->sink, p, n);
		early_flush(s);
	}
	if (rc == CB_ERR_SYS)
		fatal("writing '%s' into the mirror: %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (rc != 0)
		fatal("protocol: bad content from the reader for '%s': %s",
		    log_quote(r->path, r->pathlen), cb_strerror(rc));
}

/*
 * End a delta: the patch must be complete and give the source's digest
 * (sha1 from the reader); 0 or the errno to report the file with.
 */
static uint32_t
finish_delta(struct session *s, uint32_t err)
{
	const struct meta_rec *r = &s->q[s->qhead].e.rec;
	int rc = 0;

	if (err == 0 && (rc = delta_patcher_finish(s->patcher)) != 0) {
		if (rc == CB_ERR_SYS)
			fatal("writing '%s' into the mirror: %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
		fatal("protocol: bad delta from the reader for '%s': %s",
		    log_quote(r->path, r->pathlen), cb_strerror(rc));
	}
	delta_patcher_free(s->patcher);
	s->patcher = NULL;
	close(s->basisfd);
	s->basisfd = -1;
	return err;
}

/* [off, off + len) of ${in} to the same offsets of ${out}, or fatal. */
static void
copy_same_offsets(int in, int out, uint64_t off, uint64_t len, void *buf)
{
	if (fs_copy_range(in, off, len, out, (int64_t)off, buf, IN_PLACE_BUF) !=
	    0)
		fatal("updating a mirror file in place: %s",
		    errno == EIO ? "the new content is shorter" :
				   strerror(errno));
}

/* Bytes the in-place update of ${rg} would write. */
static uint64_t
in_place_bytes(const struct delta_ranges *rg, uint64_t oldsize,
    uint64_t newsize)
{
	uint64_t lo = oldsize < newsize ? oldsize : newsize, n = 0;

	for (size_t i = 0; i < rg->n && rg->r[i][0] < lo; i++)
		n += (rg->r[i][1] < lo ? rg->r[i][1] : lo) - rg->r[i][0];
	return n + (newsize > oldsize ? newsize - oldsize : 0);
}

/*
 * update_in_place(s, pfd, name, r, prev, rg): make the mirror file
 * ${name} (the content of ${prev}) hold the received file s->tmpfd
 * (${r}) by writing only the ranges of ${rg}; 0 if it does not qualify
 * (nothing done).  The increment is already on disk.  The file's mtime
 * is first set to one that is not ${prev}'s and made durable (after the
 * increment: in_place_candidate): from then
 * on, a crash leaves a file that regress does not take for ${prev}'s and
 * rebuilds from the increment, which re-creates ${prev} from any mix of
 * old and new bytes in the ranges (delta_reverse_ranges).
 */
static int
update_in_place(struct session *s, int pfd, const char *name,
    const struct meta_rec *r, const struct meta_rec *prev,
    const struct delta_ranges *rg)
{
	uint64_t lo = prev->size < r->size ? prev->size : r->size;
	struct stat st;
	void *buf;
	int fd;

	if (!rg->in_place || prev->size < IN_PLACE_MIN ||
	    prev->mtime == r->mtime ||
	    in_place_bytes(rg, prev->size, r->size) >
		prev->size / IN_PLACE_PART)
		return 0;
	fd = openat(pfd, name, O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return 0;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    (uint64_t)st.st_size != prev->size) {
		close(fd); /* a hard link, or not what the metadata says */
		return 0;
	}
	if ((buf = malloc(IN_PLACE_BUF)) == NULL)
		fatal("out of memory");
	set_times(fd, prev->mtime != 0 ? 0 : 1);
	if (fsync(fd) != 0)
		fatal("marking mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	for (size_t i = 0; i < rg->n && rg->r[i][0] < lo; i++)
		copy_same_offsets(s->tmpfd, fd, rg->r[i][0],
		    (rg->r[i][1] < lo ? rg->r[i][1] : lo) - rg->r[i][0], buf);
	if (r->size > prev->size)
		copy_same_offsets(s->tmpfd, fd, prev->size,
		    r->size - prev->size, buf);
	else if (r->size < prev->size && ftruncate(fd, (off_t)r->size) != 0)
		fatal("updating a mirror file in place: %s", strerror(errno));
	free(buf);
	mirror_chown(fd, r);
	if (fchmod(fd, mirror_mode(r)) != 0)
		fatal("chmod in mirror: %s", strerror(errno));
	set_times(fd, r->mtime);
	if (close(fd) != 0)
		fatal("writing mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	s->st.in_place_files++;
	return 1;
}

void
apply_file_end(struct session *s, uint32_t err, uint64_t flags,
    const uint8_t *sha1, const uint8_t *src)
{
	struct action *a = &s->q[s->qhead];
	struct meta_rec *r = &a->e.rec;
	int pfd = s->dstack[s->ddepth - 1].fd;
	const char *slash = memrchr(r->path, '/', r->pathlen);
	const char *name = slash ? slash + 1 : r->path;
	struct delta_ranges rg;
	int rc, in_place = 0, later, taken = s->sink.nohash;

	/* a replica's entry carries the primary's recorded digest: what
	 * arrives must have it */
	uint8_t want[20];
	int check_want = s->o->replica && r->has_sha1;

	memcpy(want, r->sha1, sizeof(want));
	if (s->patcher != NULL)
		err = finish_delta(s, err);
	/* A new file, whole: its digest is needed for its record only. */
	later = err == 0 && sha1 == NULL && src == NULL && s->direct &&
	    !a->has_prev && s->sink.slot >= 0 && !check_want;
	if (later) {
		rc = xfer_sink_seal(&s->sink);
		memset(r->sha1, 0, sizeof(r->sha1)); /* pending_add */
	} else {
		rc = xfer_sink_finish(&s->sink, r->sha1);
		xfer_sink_release(&s->sink);
	}
	if (rc != 0)
		fatal("writing mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (s->o->replica && err != 0)
		fatal("replica: the primary could not send the content of "
		      "'%s' (%s): the session is not made",
		    log_quote(r->path, r->pathlen),
		    err == XFER_ERR_SHRANK ? "it shrank" : strerror((int)err));
	if (err == 0 && check_want && memcmp(want, r->sha1, 20) != 0)
		fatal("replica: the content sent for '%s' does not have the "
		      "SHA-1 the primary's metadata records (damage on the "
		      "primary or the link): the session is not made",
		    log_quote(r->path, r->pathlen));
	if (err == 0 && sha1 != NULL && memcmp(sha1, r->sha1, 20) != 0) {
		/* Only a false block match can do this: the next backup
		 * tries again. */
		log_warn("'%s': the delta did not give the source file "
			 "(SHA-1 differs); the old version is kept",
		    log_quote(r->path, r->pathlen));
		err = EIO;
	}
	if (err == 0 && src != NULL && taken && a->has_prev &&
	    a->prev.type == META_REG && a->prev.has_sha1 &&
	    memcmp(a->prev.sha1, src, 20) == 0) {
		/* "The same content as before" means no increment is kept:
		 * never on the host's word alone (a lie would replace the
		 * old version with no copy of it left). */
		if (xfer_sha1_fd(s->tmpfd, r->sha1) != 0)
			fatal("reading back mirror file '%s': %s",
			    log_quote(r->path, r->pathlen), strerror(errno));
		taken = 0;
	}
	if (err == 0 && src != NULL && taken) {
		memcpy(r->sha1, src, 20); /* the host's: checked by drills */
		s->st.src_digests++;
	} else if (err == 0 && src != NULL) {
		s->st.src_digests++;
		s->st.src_checked++;
		if (memcmp(src, r->sha1, 20) != 0) {
			log_warn("'%s': what was written does not have the "
				 "SHA-1 the host read (damage on the link or "
				 "on this server's disk); %s",
			    log_quote(r->path, r->pathlen),
			    a->has_prev ? "the old version is kept" :
					  "it is left out of this backup");
			err = EIO;
		}
	}
	if (err == 0 && sha1 != NULL) {
		s->st.delta_files++;
		s->st.delta_size += s->sink.off;
	} else if (err == 0)
		s->st.whole_files++;
	if (err != 0) {
		close(s->tmpfd);
		unlinkat(pfd, s->tmpname, 0);
		s->receiving = 0;
		if (err == XFER_ERR_SHRANK)
			log_warn("'%s' shrank while it was being read: %s",
			    log_quote(r->path, r->pathlen),
			    a->has_prev ?
				"its previous version is kept, the next "
				"backup reads it again" :
				"it is left out of this backup, the next "
				"one reads it again");
		else
			note_error(s, r->path, r->pathlen, "cannot read",
			    (int)err);
		if (a->has_prev)
			write_record(s, &a->prev,
			    &a->prev); /* keep the old version */
		q_pop_head(s);
		apply_ready(s);
		return;
	}
	r->has_sha1 = 1;
	r->size = s->sink.off;
	if (a->rehash && memcmp(a->prev.sha1, r->sha1, 20) != 0) {
		if (a->rehash == 1) { /* its attributes were the same */
			s->st.changed_files++;
			s->st.changed_src_size += r->size;
			s->st.changed_mirror_size += a->prev.size;
		}
		log_warn("'%s': the content changed but the size and "
			 "modification time did not (bit rot, or a tool that "
			 "sets times back); the new content is backed up, the "
			 "old one kept as an increment",
		    log_quote(r->path, r->pathlen));
		s->rehash_changed++;
	}
	if (flags & FILE_CHANGED)
		log_warn("'%s' changed while it was being read (it grew, "
			 "shrank, was rewritten, removed or replaced): what "
			 "was read is kept, the next backup reads it again",
		    log_quote(r->path, r->pathlen));
	mirror_chown(s->tmpfd, r);
	if (fchmod(s->tmpfd, mirror_mode(r)) != 0)
		fatal("chmod in mirror: %s", strerror(errno));
	set_times(s->tmpfd, r->mtime);
	if (a->has_prev && a->prev.type == META_REG) {
		check_old_digest(s, pfd, name, &a->prev);
		if (!a->prev.has_sha1 || memcmp(a->prev.sha1, r->sha1, 20) != 0)
			in_place =
			    inc_reverse_diff(s, s->tmpfd, pfd, name,
				a->prev.alt_inc, &rg, in_place_candidate(a)) &&
			    update_in_place(s, pfd, name, r, &a->prev, &rg);
		else if (!meta_attr_equal(r, &a->prev))
			inc_changed(s); /* same content: attributes only */
	} else
		note_old(s, a, pfd, name);
	if (later) {
		s->receiving = 0;
		pending_add(s, r, s->tmpfd);
		q_pop_head(s);
		apply_ready(s);
		return;
	}
	if (close(s->tmpfd) != 0)
		fatal("writing mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
	if (in_place) {
		/* Never synced: its pages go unwritten.  Left behind, it
		 * would be a stray file in the mirror. */
		if (unlinkat(pfd, s->tmpname, 0) != 0)
			fatal("removing '%s' from the mirror: %s", s->tmpname,
			    strerror(errno));
	} else if (!s->direct)
		mirror_install(s, pfd, s->tmpname, name, r->path, r->pathlen);
	s->receiving = 0;
	s->dreplaced = a->replaces_dir;
	write_record(s, r, a->has_prev ? &a->prev : NULL);
	q_pop_head(s);
	apply_ready(s);
}

void
apply_finish(struct session *s)
{
	pending_finish_all(s);
	while (s->ddepth > 0)
		dir_pop(s);
	batch_flush(s);
}
