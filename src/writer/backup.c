/*
 * The writer's backup session: merge-join the reader's entry stream with
 * the previous metadata, fetch what changed, update the mirror and write
 * the new metadata snapshot.  Everything the reader sends is untrusted:
 * paths are checked for order and structure before use, and every mirror
 * operation is relative to an open directory fd with a single validated
 * name (no path resolution through the mirror).
 */
#include <errno.h>
#include <math.h>
#include <signal.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "credit.h"
#include "fsutil.h"
#include "linkmap.h"
#include "hello.h"
#include "incscan.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "pathcheck.h"
#include "msg.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"
#include "wire.h"
#include "writer.h"
#include "xfer.h"
#include "backup_internal.h"

static struct session *cleanup_session;

/* On any fatal exit: remove what this session created and not finished. */
static void
session_cleanup(void)
{
	struct session *s = cleanup_session;

	if (s == NULL)
		return;
	cleanup_session = NULL;
	if (s->receiving && s->ddepth > 0)
		unlinkat(s->dstack[s->ddepth - 1].fd, s->tmpname, 0);
	batch_abort(s);
	md_writer_abort(s->wmeta);
	md_writer_abort(s->wea);
	md_writer_abort(s->wacl);
	md_writer_abort(s->wdiff);
	if (!s->repo->exists)
		repo_destroy_new(s->repo);
	else if (s->marker_written)
		log_error("'%s' now holds an unfinished session; 'capback "
			  "regress %s' (or the next backup) returns it to the "
			  "previous backup",
		    s->repo->path, s->repo->path);
}

void
note_error(struct session *s, const char *path, size_t len, const char *what,
    int err)
{
	const char *q = log_quote(path, len);

	log_error("%s '%s': %s", what, q, strerror(err));
	s->st.errors++;
	strbuf_addf(&s->errlog, "UpdateError: '%s' %s: %s\n", q, what,
	    strerror(err));
}

/* ---- previous metadata ------------------------------------------------ */

static void
prev_advance(struct session *s)
{
	int r;

	s->prec_valid = 0;
	if (s->prev == NULL)
		return;
	r = md_snap_next(s->prev, &s->prec);
	if (r == CB_ERR_EOF) {
		md_snap_free(s->prev);
		s->prev = NULL;
		return;
	}
	if (r != 0)
		fatal("reading previous metadata of '%s': %s", s->repo->path,
		    cb_strerror(r));
	s->prec_valid = 1;
	s->st.mirror_files++;
	if (s->prec.type == META_REG)
		s->st.mirror_size += s->prec.size;
}

/* ---- the action queue ------------------------------------------------- */

static struct action *
q_at(struct session *s, size_t i)
{
	return &s->q[(s->qhead + i) % s->qcap];
}

static struct action *
q_push(struct session *s, enum act_kind kind)
{
	struct action *a;

	if (s->qcount == s->qcap) {
		size_t ncap = s->qcap ? s->qcap * 2 : 256, i;
		struct action *nq = calloc(ncap, sizeof(*nq));

		if (nq == NULL)
			fatal("out of memory");
		for (i = 0; i < s->qcount; i++)
			nq[i] = *q_at(s, i);
		free(s->q);
		s->q = nq;
		s->qhead = 0;
		s->qcap = ncap;
	}
	a = q_at(s, s->qcount++);
	memset(a, 0, sizeof(*a));
	a->kind = kind;
	a->bytes = sizeof(*a);
	s->qbytes += a->bytes;
	msg_entry_init(&a->e);
	meta_rec_init(&a->prev);
	return a;
}

void
q_pop_head(struct session *s)
{
	struct action *a = q_at(s, 0);

	if (a->kind == ACT_ENTRY) {
		s->qentries--;
		s->popped_seq = a->seq;
	}
	s->qbytes -= a->bytes;
	msg_entry_clear(&a->e);
	meta_rec_clear(&a->prev);
	free(a->link_to);
	s->qhead = (s->qhead + 1) % s->qcap;
	s->qcount--;
}

/* Bytes of ${r} held in memory beyond its struct. */
static size_t
rec_bytes(const struct meta_rec *r)
{
	size_t n = r->pathlen + r->symlen, i;

	for (i = 0; i < r->nxattrs; i++)
		n += strlen(r->xattrs[i].name) + r->xattrs[i].vlen;
	for (i = 0; i < r->nacl; i++)
		n += r->acl[i].qual != NULL ? strlen(r->acl[i].qual) : 0;
	return n;
}

/* Take the current previous record into ${a} and advance. */
static void
take_prev(struct session *s, struct action *a)
{
	a->prev = s->prec;
	a->has_prev = 1;
	a->bytes += rec_bytes(&a->prev);
	s->qbytes += rec_bytes(&a->prev);
	meta_rec_init(&s->prec);
	prev_advance(s);
}

/*
 * The queue is full: entries wait to be joined (their credit held) until
 * applying it makes room.  Deletions and kept records of the previous
 * session are queued as entries are joined, as many as the previous
 * session had between two entries: this bounds them too.
 */
static int
q_full(const struct session *s)
{
	return s->qcount >= Q_JOIN_MAX || s->qbytes >= Q_JOIN_BYTES;
}

/* The previous record queued as ${kind} (a deletion or one kept). */
static void
take_prev_as(struct session *s, enum act_kind kind)
{
	if (kind == ACT_DELETE) {
		s->st.deleted_files++;
		if (log_verbosity() >= 4) /* -v 4: a line a file */
			log_info("deleted: %s",
			    log_name(s->prec.path, s->prec.pathlen));
		if (s->prec.type == META_REG)
			s->st.deleted_size += s->prec.size;
	}
	take_prev(s, q_push(s, kind));
}

/*
 * Previous records sorting before ${path} no longer exist: delete them.
 * A deleted directory's former children come next in record order and
 * are deleted one by one, so each gets its own increment.  Returns 1
 * when done, 0 if the queue filled first (call again).
 */
static int
prev_delete_before(struct session *s, const char *path, size_t len)
{
	while (s->prec_valid &&
	    (path == NULL ||
		meta_path_cmp(s->prec.path, s->prec.pathlen, path, len) < 0)) {
		if (q_full(s))
			return 0;
		take_prev_as(s, ACT_DELETE);
	}
	return 1;
}

/*
 * The previous records beneath ${path} as ${kind}: a directory replaced
 * by a file is deleted, an unreadable one kept.  1 when done, 0 if the
 * queue filled first.
 */
static int
prev_subtree(struct session *s, const char *path, size_t len,
    enum act_kind kind)
{
	while (s->prec_valid &&
	    meta_path_is_child(path, len, s->prec.path, s->prec.pathlen)) {
		if (q_full(s))
			return 0;
		take_prev_as(s, kind);
	}
	return 1;
}

/* ---- output ----------------------------------------------------------- */

static void
send_frame(struct session *s, uint8_t type, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	if (frame_put(&s->out, type, b, 8) != 0)
		fatal("out of memory");
}

/* The name the previous session's metadata diff is written under until
 * the commit, with this session's time: a name of the session, so the
 * regress of a killed one removes it, rdiff-backup's as capback's (they
 * remove every "<base>.<time>.<ext>" of the failed time). */
#define DIFF_TMP "capback-metadata-diff.%s.data"

/* Append ${r} formatted to the diff's buffer, writing it out in 64 KiB. */
static void
diff_put(struct session *s, const struct meta_rec *r)
{
	int e;

	if ((e = meta_format(&s->dbuf, r)) != 0)
		fatal("cannot record '%s' in the previous session's "
		      "metadata: %s",
		    log_quote(r->path, r->pathlen), cb_strerror(e));
	/* a difference: the new snapshot is not the previous one again */
	if (s->meta_held) {
		s->meta_held = 0;
		if ((e = md_writer_release(s->wmeta)) != 0)
			fatal("writing metadata: %s", cb_strerror(e));
	}
	if (s->dbuf.len >= 65536) {
		if ((e = md_writer_write(s->wdiff, s->dbuf.buf, s->dbuf.len)) !=
		    0)
			fatal("writing the previous session's metadata: %s",
			    cb_strerror(e));
		strbuf_reset(&s->dbuf);
	}
}

void
diff_deleted(struct session *s, const struct meta_rec *old)
{
	if (s->wdiff != NULL)
		diff_put(s, old);
}

/*
 * The diff entry of a path this session records as ${text} (${r}): the
 * previous record when its text differs, a None record when there was
 * none (as mdhist_write_diff makes them from the two files).
 */
static void
diff_record(struct session *s, const struct meta_rec *r,
    const struct meta_rec *old, const char *text, size_t len)
{
	struct meta_rec none;
	int e;

	if (s->wdiff == NULL)
		return;
	if (old == NULL) {
		if (s->dreplaced) {
			s->dreplaced = 0;
			return; /* its previous record is in already */
		}
		meta_rec_init(&none);
		none.path = r->path;
		none.pathlen = r->pathlen;
		none.type = META_NONE;
		diff_put(s, &none);
		return;
	}
	strbuf_reset(&s->dtmp);
	if ((e = meta_format(&s->dtmp, old)) != 0)
		fatal("cannot record '%s' in the previous session's "
		      "metadata: %s",
		    log_quote(r->path, r->pathlen), cb_strerror(e));
	if (s->dtmp.len != len || memcmp(s->dtmp.buf, text, len) != 0)
		diff_put(s, old);
}

/* The most of a new snapshot held in memory while it may be the previous
 * one again (350 000 unchanged files or so): beyond, it is
 * compressed as it comes. */
#define META_HOLD_MAX ((size_t)64 << 20)

/* Open the diff if the previous snapshot is to become one. */
static void
diff_open(struct session *s)
{
	char name[128];
	int keep = 1, r;

	if (!s->incs)
		return;
	if ((r = mdhist_keep_snapshot_ahead(s->repo->datafd, s->repo->cur_time,
		 &keep)) != 0)
		fatal("examining older metadata: %s", cb_strerror(r));
	if (keep || strstr(s->repo->meta_name, ".snapshot") == NULL)
		return;
	snprintf(name, sizeof(name), DIFF_TMP, s->nowts);
	if ((r = md_writer_open(s->repo->datafd, name, 1, &s->wdiff)) != 0)
		fatal("cannot create %s: %s", name, cb_strerror(r));
	/*
	 * Most sessions of most hosts change nothing: their snapshot is the
	 * previous one again, byte for byte.  It is held (not compressed)
	 * until the diff gets its first entry; held to the end, and found the
	 * same as the previous snapshot's bytes by its gzip trailer (CRC-32
	 * and length), it is that file under the new name (a hard link; the
	 * old name becomes the empty diff as always).  Compressing it was a
	 * fifth of an unchanged backup's CPU.
	 */
	if (strstr(s->repo->meta_name, ".snapshot.gz") != NULL &&
	    md_writer_hold(s->wmeta, META_HOLD_MAX) == 0)
		s->meta_held = 1;
}

void
write_record(struct session *s, const struct meta_rec *r,
    const struct meta_rec *old)
{
	pending_poll(s);
	write_record_only(s, r, old);
}

void
write_record_only(struct session *s, const struct meta_rec *r,
    const struct meta_rec *old)
{
	struct leftout_path *lp;
	int e;

	if ((lp = leftout_find(&s->lo, r->path, r->pathlen)) != NULL)
		lp->taken = 1;
	/* Not always memory: a record the format cannot carry is named. */
	strbuf_reset(&s->fmt);
	if ((e = meta_format(&s->fmt, r)) != 0)
		fatal("cannot record '%s': %s", log_quote(r->path, r->pathlen),
		    cb_strerror(e));
	diff_record(s, r, old, s->fmt.buf, s->fmt.len);
	if ((e = pending_meta(s, s->fmt.buf, s->fmt.len)) != 0)
		fatal("writing metadata: %s", cb_strerror(e));
	if (r->nxattrs > 0) {
		strbuf_reset(&s->fmt);
		if ((e = meta_format_ea(&s->fmt, r)) != 0)
			fatal("cannot record the xattrs of '%s': %s",
			    log_quote(r->path, r->pathlen), cb_strerror(e));
		if ((e = md_writer_write(s->wea, s->fmt.buf, s->fmt.len)) != 0)
			fatal("writing extended attributes: %s",
			    cb_strerror(e));
	}
	if (r->nacl > 0 && !meta_acl_is_basic(r)) {
		strbuf_reset(&s->fmt);
		if ((e = meta_format_acl(&s->fmt, r)) != 0)
			fatal("cannot record the ACL of '%s': %s",
			    log_quote(r->path, r->pathlen), cb_strerror(e));
		if ((e = md_writer_write(s->wacl, s->fmt.buf, s->fmt.len)) != 0)
			fatal("writing ACLs: %s", cb_strerror(e));
	}
}

/* ---- receipt: order, structure, decisions ------------------------------ */

/* Order and structure of the reader's stream (see pathcheck.h). */
static void
check_structure(struct session *s, const struct msg_entry *e)
{
	const struct meta_rec *r = &e->rec;
	int rc = pathcheck_add(&s->pc, r->path, r->pathlen,
	    r->type == META_DIR && !(e->flags & ENTRY_ERROR));

	if (rc == CB_ERR_NOMEM)
		fatal("out of memory");
	if (rc != 0)
		fatal("protocol: reader sent '%s' out of order or outside any "
		      "directory it sent",
		    log_quote(r->path, r->pathlen));
	/* The repository's own data directory cannot be overwritten. */
	if (strcmp(r->path, "rdiff-backup-data") == 0)
		fatal("protocol: reader sent the name rdiff-backup-data at the "
		      "top of the tree");
}

static int
content_same(const struct meta_rec *n, const struct meta_rec *p)
{
	if (p->type != META_REG || p->size != n->size || p->mtime != n->mtime)
		return 0;
	if (n->nlink > 1)
		return p->nlink > 1 && p->inode == n->inode &&
		    p->devloc == n->devloc;
	/* a name that left a hard-link group may be another file now of
	 * the same size and time (rdiff-backup reads it again too) */
	return p->nlink <= 1;
}

static void
decide_regular(struct session *s, struct action *a)
{
	const struct meta_rec *n = &a->e.rec;
	int same = a->has_prev && content_same(n, &a->prev);
	const char *first = NULL;

	/* a replica knows each file's digest: a content change that kept
	 * size and time is one too */
	if (same && s->o->replica && n->has_sha1 &&
	    (!a->prev.has_sha1 || memcmp(n->sha1, a->prev.sha1, 20) != 0))
		same = 0;

	if (n->nlink > 1) {
		if (linkmap_visit(s->links, n->devloc, n->inode, n->nlink,
			n->path, &first) != 0)
			fatal("out of memory");
	}
	if (first != NULL) {
		/* A later link of a group: share the first path's file. */
		if (same && !a->prev.has_sha1)
			a->dec = D_NONE;
		else {
			a->dec = D_LINK;
			if ((a->link_to = strdup(first)) == NULL)
				fatal("out of memory");
		}
		return;
	}
	a->dec =
	    (same && (n->nlink <= 1 || a->prev.has_sha1)) ? D_NONE : D_DATA;
	/* --check-unchanged: the content is read and its SHA-1 compared
	 * with the recorded one (bit rot on the source, or a tool that
	 * puts mtimes back, shows as a difference). */
	if (a->dec == D_NONE && s->o->rehash && a->prev.has_sha1) {
		a->dec = D_DATA;
		a->rehash = 1;
	}
}

static void
count_entry(struct session *s, struct action *a)
{
	const struct meta_rec *n = &a->e.rec;

	s->st.source_files++;
	if (n->type == META_REG)
		s->st.source_size += n->size;
	/* --progress: the bytes of new and changed files, not the
	 * unchanged ones a backup only looks at */
	if (s->o->progress && (s->st.source_files & 31) == 0)
		log_progress(&s->prog, s->st.source_files,
		    s->st.new_size + s->st.changed_src_size, "new or changed",
		    n->path, n->pathlen);
	if (a->replaces_dir) {
		/* a directory became this: changed, as rdiff-backup counts it */
		s->st.changed_files++;
		if (n->type == META_REG)
			s->st.changed_src_size += n->size;
		if (log_verbosity() >= 4)
			log_info("changed: %s (a directory before)",
			    log_name(n->path, n->pathlen));
	} else if (!a->has_prev && !s->incs && n->pathlen == 1 &&
	    n->path[0] == '.') {
		/* a first backup: rdiff-backup makes the root first and counts
		 * it as in the mirror and changed */
		s->st.mirror_files++;
		s->st.changed_files++;
		s->st.changed_as_rdiff++;
	} else if (!a->has_prev) {
		s->st.new_files++;
		if (n->type == META_REG)
			s->st.new_size += n->size;
		if (log_verbosity() >= 4) /* -v 4: a line a file */
			log_info("new: %s", log_name(n->path, n->pathlen));
	} else if (!meta_attr_equal(n, &a->prev) ||
	    (a->dec != D_NONE && !a->rehash)) {
		/* (a file read again only for --check-unchanged counts as
		 * changed once its content is found to differ) */
		if (a->rehash)
			a->rehash = 2; /* counted here already */
		s->st.changed_files++;
		if (n->type == META_REG)
			s->st.changed_src_size += n->size;
		if (a->prev.type == META_REG)
			s->st.changed_mirror_size += a->prev.size;
		if (log_verbosity() >= 4)
			log_info("changed: %s%s", log_name(n->path, n->pathlen),
			    a->dec == D_NONE ? " (attributes)" : "");
	} else if (log_verbosity() >= 5) { /* -v 5: every file */
		log_debug("unchanged: %s", log_name(n->path, n->pathlen));
	}
}

static int
sig_put(void *arg, const uint8_t *p, size_t n)
{
	struct session *s = arg;

	if (s->sig.len + n > DELTA_WIRE_SIG_MAX)
		return CB_ERR_TOO_LARGE;
	return strbuf_add(&s->sig, (const char *)p, n) == 0 ? 0 : CB_ERR_NOMEM;
}

/*
 * ask_delta(s, a): ask for ${a}'s content as a delta against its mirror
 * copy, sending the signature; 0 if it must come whole instead.
 */
static int
ask_delta(struct session *s, struct action *a)
{
	size_t off, n;
	int fd, r;

	if (!s->o->delta || !a->has_prev || a->prev.type != META_REG ||
	    a->prev.size < DELTA_MIN_SIZE)
		return 0;
	fd = fs_open_beneath(s->repo->rootfd, a->e.rec.path,
	    O_RDONLY | O_NOFOLLOW | O_NOCTTY | O_CLOEXEC, 0);
	if (fd < 0)
		return 0; /* the whole file will do */
	strbuf_reset(&s->sig);
	r = delta_signature(fd, sig_put, s);
	close(fd);
	if (r != 0 || s->sig.len > SIG_INFLIGHT_MAX - s->sig_inflight)
		return 0;
	if (xfer_put_u64pair(&s->out, MSG_WANT_DELTA, a->seq, s->sig.len) != 0)
		fatal("out of memory");
	for (off = 0; off < s->sig.len; off += n) {
		n = s->sig.len - off > MSG_DATA_MAX ? MSG_DATA_MAX :
						      s->sig.len - off;
		if (frame_put(&s->out, MSG_DATA,
			(const uint8_t *)s->sig.buf + off, n) != 0)
			fatal("out of memory");
	}
	a->siglen = s->sig.len;
	s->sig_inflight += a->siglen;
	s->st.sig_bytes += a->siglen;
	return 1;
}

/* Queue the entry ${d} (taken over), after the previous records before
 * it were queued; ${replaces_dir}: a directory stood at its path. */
static void
push_entry(struct session *s, struct deferred *d, int replaces_dir)
{
	int match = !replaces_dir && s->prec_valid &&
	    meta_path_cmp(s->prec.path, s->prec.pathlen, d->e.rec.path,
		d->e.rec.pathlen) == 0;
	struct action *a = q_push(s, ACT_ENTRY);

	s->qentries++;
	a->seq = d->seq;
	a->e = d->e; /* transferred */
	a->replaces_dir = replaces_dir;
	a->bytes += rec_bytes(&a->e.rec);
	s->qbytes += rec_bytes(&a->e.rec);
	if (match)
		take_prev(s, a);
	if (a->e.rec.type == META_REG)
		decide_regular(s, a);
	if (a->dec == D_DATA && !ask_delta(s, a))
		send_frame(s, MSG_WANT, a->seq);
	count_entry(s, a);
}

/* Done with the oldest waiting entry; with ${clear} it was not queued. */
static void
dq_pop(struct session *s, int clear)
{
	if (clear)
		msg_entry_clear(&s->dq[s->dqhead].e);
	s->dqhead = (s->dqhead + 1) % s->dqcap;
	s->dqcount--;
	s->jstep = J_BEFORE;
	s->jreplaces = 0;
}

/*
 * Join the oldest waiting entry with the previous metadata, as far as the
 * queue has room: 1 once it is joined, 0 if the queue filled first (the
 * step reached is kept in s->jstep).  An unreadable entry keeps what the
 * repository had: its previous record and subtree stay, records and
 * mirror alike.  A directory replaced by a file goes first, with its
 * increments.
 */
static int
join_one(struct session *s)
{
	struct deferred *d = &s->dq[s->dqhead];
	const struct meta_rec *r = &d->e.rec;
	int err = (d->e.flags & ENTRY_ERROR) != 0, match;

	if (s->jstep == J_BEFORE) {
		if (!prev_delete_before(s, r->path, r->pathlen))
			return 0;
		match = s->prec_valid &&
		    meta_path_cmp(s->prec.path, s->prec.pathlen, r->path,
			r->pathlen) == 0;
		s->jstep = J_PUSH;
		if (err) {
			note_error(s, r->path, r->pathlen, "cannot read",
			    (int)d->e.err);
			if (!match) { /* new and unreadable: nothing to keep */
				dq_pop(s, 1);
				return 1;
			}
			take_prev_as(s, ACT_KEEP);
			s->jkind = ACT_KEEP;
			s->jstep = J_SUBTREE;
		} else if (match && s->prec.type == META_DIR &&
		    r->type != META_DIR) {
			/* counted with its new self as changed (count_entry),
			 * as rdiff-backup counts it; its children as deleted */
			take_prev(s, q_push(s, ACT_DELETE));
			s->jkind = ACT_DELETE;
			s->jstep = J_SUBTREE;
			s->jreplaces = 1;
		}
	}
	if (s->jstep == J_SUBTREE) {
		if (!prev_subtree(s, r->path, r->pathlen, s->jkind))
			return 0;
		if (err) {
			dq_pop(s, 1);
			return 1;
		}
	}
	push_entry(s, d, s->jreplaces);
	dq_pop(s, 0);
	return 1;
}

/*
 * Join the waiting entries, then after ENTRIES_END the records left, as
 * far as the queue has room, and apply what is ready.
 */
static void
join_ready(struct session *s)
{
	for (;;) {
		int done;

		if (s->dqcount > 0)
			done = join_one(s);
		else if (s->entries_done && !s->end_joined)
			done = s->end_joined = prev_delete_before(s, NULL, 0);
		else
			break;
		apply_ready(s);
		if (!done && q_full(s))
			return; /* until the queue head's content arrived */
	}
	apply_ready(s);
}

/* Keep a received entry until it can be joined. */
static void
dq_push(struct session *s, struct msg_entry *e)
{
	struct deferred *d;

	if (s->dqcount == s->dqcap) {
		size_t ncap = s->dqcap ? s->dqcap * 2 : 64, i;
		struct deferred *nd = calloc(ncap, sizeof(*nd));

		if (nd == NULL)
			fatal("out of memory");
		for (i = 0; i < s->dqcount; i++)
			nd[i] = s->dq[(s->dqhead + i) % s->dqcap];
		free(s->dq);
		s->dq = nd;
		s->dqhead = 0;
		s->dqcap = ncap;
	}
	d = &s->dq[(s->dqhead + s->dqcount++) % s->dqcap];
	d->e = *e; /* transferred */
	d->seq = s->seq;
}

void
session_charge(struct session *s, uint64_t n, const struct meta_rec *r)
{
	char q[32], c[32];

	if (s->o->quota == 0)
		return;
	s->charged += n < UINT64_MAX - s->charged ? n : UINT64_MAX - s->charged;
	if (s->charged <= s->o->quota)
		return;
	log_bytes(q, sizeof(q), (unsigned long long)s->o->quota);
	log_bytes(c, sizeof(c), (unsigned long long)s->charged);
	fatal("the session passes this vault's quota of %s a session at '%s' "
	      "(%s so far): refused, the vault's sessions are kept as they "
	      "were",
	    q, log_quote(r->path, r->pathlen), c);
}

static void
handle_entry(struct session *s, const uint8_t *p, size_t len)
{
	struct msg_entry e;
	int r;

	if (s->entries_done)
		fatal("protocol: ENTRY after ENTRIES_END");
	credit_receive(&s->cr, len, "reader");
	if ((r = msg_entry_decode(p, len, &e)) != 0)
		fatal("protocol: bad ENTRY from reader: %s", cb_strerror(r));
	if (e.link_to != NULL)
		fatal("protocol: reader may not send hard-link targets");
	if (s->seq == 0 && strcmp(e.rec.path, ".") != 0)
		fatal("protocol: first entry is not the root");
	if (s->seq == 0 && (e.rec.type != META_DIR || (e.flags & ENTRY_ERROR)))
		fatal("source root is not a readable directory: %s",
		    strerror((int)e.err));
	if (!s->o->replica)
		e.rec.has_sha1 = 0; /* a reader's digest is not recorded */
	else if (e.flags & ENTRY_ERROR)
		/* a replica is the primary's session whole, or not made */
		fatal("replica: the primary could not send '%s' (%s): the "
		      "session is not made",
		    log_quote(e.rec.path, e.rec.pathlen), strerror((int)e.err));
	check_structure(s, &e);
	session_charge(s, len, &e.rec);
	s->seq++;
	dq_push(s, &e);
	join_ready(s);
}

/*
 * Return credit (PROGRESS) for the entries no longer waiting in the
 * queue: every PROGRESS_EVERY entries, or with ${all} whatever is due if
 * the reader has used up its window (before the writer waits for input:
 * the reader must not be left waiting too).  Entries still queued keep
 * their credit: the queue is bounded by the window.
 */
static void
grant_credit(struct session *s, int all)
{
	uint64_t upto = s->seq; /* nothing queued, nothing waiting */

	if (s->qentries > 0)
		upto = s->popped_seq;
	else if (s->dqcount > 0)
		upto = s->dq[s->dqhead].seq - 1;

	if (upto <= s->progress_sent ||
	    (upto - s->progress_sent < PROGRESS_EVERY &&
		(!all || credit_may_send(&s->cr))))
		return;
	send_frame(s, MSG_PROGRESS, upto);
	s->progress_sent = upto;
	if (credit_grant(&s->cr, upto) != 0)
		fatal("internal: PROGRESS %llu beyond %llu entries",
		    (unsigned long long)upto, (unsigned long long)s->seq);
}

static void
handle_entries_end(struct session *s, const uint8_t *p, size_t len)
{
	uint64_t n;

	if (s->entries_done || msg_u64_decode(p, len, &n) != 0 || n != s->seq)
		fatal("protocol: bad ENTRIES_END from reader");
	if (s->seq == 0)
		fatal("protocol: reader sent no entries");
	s->entries_done = 1;
	/* No PROGRESS for what is not decided yet: entries still waiting
	 * to be joined (the queue was full behind a file being received)
	 * may be asked for, and the reader forgets what PROGRESS passed
	 * (a WANT for one ended the session).  grant_credit says how far
	 * it may; the last PROGRESS comes with DONE. */
	join_ready(s);
	grant_credit(s, 1);
}

static void
handle_frame(struct session *s, uint8_t type, const uint8_t *p, size_t len)
{
	uint64_t a, b;
	uint32_t err;
	uint8_t sha1[20];
	int r;

	switch (type) {
	case MSG_ENTRY: handle_entry(s, p, len); break;
	case MSG_ENTRIES_END: handle_entries_end(s, p, len); break;
	case MSG_FILE:
	case MSG_DELTA:
		if (msg_u64pair_decode(p, len, &a, &b) != 0)
			fatal("protocol: bad %s", msg_name(type));
		if (b > INT64_MAX) /* bounds DATA and HOLE (xfer_sink) */
			fatal("protocol: %s of %llu bytes, more than a file "
			      "holds",
			    msg_name(type), (unsigned long long)b);
		apply_file_begin(s, a, b, type == MSG_DELTA);
		break;
	case MSG_DATA:
		if (!s->receiving)
			fatal("protocol: DATA outside a file");
		apply_file_data(s, p, len);
		break;
	case MSG_HOLE:
		if (!s->receiving || s->patcher != NULL ||
		    msg_u64_decode(p, len, &a) != 0)
			fatal("protocol: bad HOLE");
		if ((r = xfer_sink_hole(&s->sink, a)) != 0)
			fatal("protocol: bad HOLE: %s", cb_strerror(r));
		break;
	case MSG_FILE_END:
		r = xfer_decode_file_end(p, len, &err, &a,
		    s->src_digests ? sha1 : NULL);
		if (!s->receiving || s->patcher != NULL || r < 0)
			fatal("protocol: bad FILE_END");
		/* the digest asked for comes with every file read whole */
		if (s->src_digests && r == 0 && err == 0)
			fatal("protocol: FILE_END without the file's digest");
		apply_file_end(s, err, a, NULL, r == 1 ? sha1 : NULL);
		break;
	case MSG_DELTA_END:
		if (!s->receiving || s->patcher == NULL ||
		    msg_delta_end_decode(p, len, &err, &a, sha1) != 0)
			fatal("protocol: bad DELTA_END");
		apply_file_end(s, err, a, sha1, NULL);
		break;
	default: fatal("protocol: unexpected %s from reader", msg_name(type));
	}
}

/* Event loop: read the reader's stream, write our small requests. */
static void
run_stream(struct session *s)
{
	struct pollfd pfd[2];
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int r;

	fs_set_nonblock(0, 1);
	fs_set_nonblock(1, 1);
	while (!(s->end_joined && s->qcount == 0)) {
		while ((r = frame_in_next(&s->in, &type, &p, &len)) == 0) {
			handle_frame(s, type, p, len);
			if (s->dqcount > 0 ||
			    (s->entries_done && !s->end_joined))
				join_ready(s);
			if (s->end_joined && s->qcount == 0)
				return;
			grant_credit(s, 0);
		}
		if (r != CB_ERR_TRUNCATED)
			fatal("protocol: %s from reader", cb_strerror(r));
		grant_credit(s, 1);
		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[1].fd = 1;
		pfd[1].events = frame_out_pending(&s->out) ? POLLOUT : 0;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		if (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP) &&
		    frame_out_pending(&s->out) &&
		    frame_out_write_some(&s->out) != 0)
			fatal("reader connection: %s", strerror(errno));
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			long n = frame_in_fill(&s->in);

			if (n == 0)
				fatal("the reader ended the session early");
			if (n < 0 && errno != EAGAIN)
				fatal("reading from reader: %s",
				    strerror(errno));
		}
	}
}

/* ---- session start and end -------------------------------------------- */

static void
open_outputs(struct session *s, const char *ts)
{
	char name[128];
	int r;

	snprintf(name, sizeof(name), "mirror_metadata.%s.snapshot", ts);
	if ((r = md_writer_open(s->repo->datafd, name, 1, &s->wmeta)) != 0 ||
	    (r = md_writer_threaded(s->wmeta)) != 0)
		fatal("cannot create %s: %s", name, cb_strerror(r));
	snprintf(name, sizeof(name), "extended_attributes.%s.snapshot", ts);
	if ((r = md_writer_open(s->repo->datafd, name, 1, &s->wea)) != 0)
		fatal("cannot create %s: %s", name, cb_strerror(r));
	snprintf(name, sizeof(name), "access_control_lists.%s.snapshot", ts);
	if ((r = md_writer_open(s->repo->datafd, name, 1, &s->wacl)) != 0)
		fatal("cannot create %s: %s", name, cb_strerror(r));
	diff_open(s);
}

static void
close_outputs(struct session *s)
{
	int r;

	if ((r = s->meta_held ? md_writer_close_as(s->wmeta, s->repo->meta_name,
				    s->new_meta, sizeof(s->new_meta)) :
				md_writer_close(s->wmeta, s->new_meta,
				    sizeof(s->new_meta))) != 0) {
		s->wmeta = NULL;
		fatal("writing metadata: %s", cb_strerror(r));
	}
	s->wmeta = NULL;
	if ((r = md_writer_close(s->wea, NULL, 0)) != 0) {
		s->wea = NULL;
		fatal("writing extended attributes: %s", cb_strerror(r));
	}
	s->wea = NULL;
	if ((r = md_writer_close(s->wacl, NULL, 0)) != 0) {
		s->wacl = NULL;
		fatal("writing ACLs: %s", cb_strerror(r));
	}
	s->wacl = NULL;
}

static void
stat_line(struct strbuf *sb, const char *key, uint64_t v, int bytes)
{
	char h[48];

	/* "4933 (4.82 KB)": rdiff-backup's byte summary */
	if (bytes)
		strbuf_addf(sb, "%s %llu (%s)\n", key, (unsigned long long)v,
		    timefmt_byte_summary((double)v, h, sizeof(h)));
	else
		strbuf_addf(sb, "%s %llu\n", key, (unsigned long long)v);
}

static void
write_statistics(struct session *s, const char *ts)
{
	char p1[64], p2[64], p3[128];
	struct strbuf sb = STRBUF_INIT;
	char name[128];
	struct timespec now;
	double end;
	/* rdiff-backup's sum (statistics.py): what came in and what the
	 * increments take, less what went (it left the increments out) */
	int64_t change = (int64_t)s->st.new_size +
	    (int64_t)s->st.changed_src_size + (int64_t)s->st.inc_size -
	    (int64_t)s->st.deleted_size - (int64_t)s->st.changed_mirror_size;

	clock_gettime(CLOCK_REALTIME, &now);
	end = (double)now.tv_sec + (double)now.tv_nsec / 1e9;
	/* with rdiff-backup's readable forms, as it writes them */
	strbuf_addf(&sb, "StartTime %lld.00 (%s)\n", (long long)s->o->now,
	    timefmt_pretty(s->o->now, p1, sizeof(p1)));
	strbuf_addf(&sb, "EndTime %.2f (%s)\n", end,
	    timefmt_pretty((int64_t)end, p2, sizeof(p2)));
	strbuf_addf(&sb, "ElapsedTime %.2f (%s)\n", end - (double)s->o->now,
	    timefmt_span_pretty(end - (double)s->o->now, p3, sizeof(p3)));
	stat_line(&sb, "SourceFiles", s->st.source_files, 0);
	stat_line(&sb, "SourceFileSize", s->st.source_size, 1);
	stat_line(&sb, "MirrorFiles", s->st.mirror_files, 0);
	stat_line(&sb, "MirrorFileSize", s->st.mirror_size, 1);
	stat_line(&sb, "NewFiles", s->st.new_files, 0);
	stat_line(&sb, "NewFileSize", s->st.new_size, 1);
	stat_line(&sb, "DeletedFiles", s->st.deleted_files, 0);
	stat_line(&sb, "DeletedFileSize", s->st.deleted_size, 1);
	stat_line(&sb, "ChangedFiles", s->st.changed_files, 0);
	stat_line(&sb, "ChangedSourceSize", s->st.changed_src_size, 1);
	stat_line(&sb, "ChangedMirrorSize", s->st.changed_mirror_size, 1);
	stat_line(&sb, "IncrementFiles", s->st.inc_files, 0);
	stat_line(&sb, "IncrementFileSize", s->st.inc_size, 1);
	strbuf_addf(&sb, "TotalDestinationSizeChange %lld (%s)\n",
	    (long long)change,
	    timefmt_byte_summary((double)change, p3, sizeof(p3)));
	stat_line(&sb, "Errors", s->st.errors, 0);
	snprintf(name, sizeof(name), "session_statistics.%s.data", ts);
	if (sb.buf == NULL ||
	    fs_create_file_at(s->repo->datafd, name, sb.buf, sb.len) != 0)
		log_warn("cannot write %s: %s", name, strerror(errno));
	strbuf_release(&sb);
	/* the -v 4 lines' own count: what was named, one line each */
	if (log_verbosity() >= 4 || s->o->verbosity >= 4)
		log_info("%llu file%s, %llu new, %llu changed, %llu deleted, "
			 "%llu error%s",
		    (unsigned long long)s->st.source_files,
		    s->st.source_files == 1 ? "" : "s",
		    (unsigned long long)(s->st.new_files +
			(s->incs ? 0 : s->st.changed_as_rdiff)),
		    (unsigned long long)(s->st.changed_files -
			s->st.changed_as_rdiff),
		    (unsigned long long)s->st.deleted_files,
		    (unsigned long long)s->st.errors,
		    s->st.errors == 1 ? "" : "s");
}

static void
write_error_log(struct session *s, const char *ts)
{
	struct md_writer *w = NULL;
	char name[128];

	snprintf(name, sizeof(name), "error_log.%s.data", ts);
	if (md_writer_open(s->repo->datafd, name, 1, &w) != 0 ||
	    (s->errlog.len > 0 &&
		md_writer_write(w, s->errlog.buf, s->errlog.len) != 0) ||
	    md_writer_close(w, NULL, 0) != 0)
		log_warn("cannot write %s: %s", name, strerror(errno));
}

/*
 * rdiff-backup takes a repository whose increments directory is empty for
 * a new one (inc_hold): after a first session it is, and a second that
 * failed before any increment landed (a full disk, a kill) was undone by
 * capback alone.  So before its marker a session holds an empty one, and
 * lets go once the old marker is gone.
 */
static void
hold_increments(struct session *s)
{
	if (inc_hold(s->repo->datafd, s->nowts, 1, s->holder,
		sizeof(s->holder)) != 0)
		fatal("cannot write in the increments directory: %s",
		    strerror(errno));
}

/*
 * current_mirror.<now>.data: written first in a session that changes an
 * existing repository (two markers then say "unfinished", and the
 * increments already written allow a regress), last in a first backup.
 */
static void
write_marker(struct session *s, const char *ts)
{
	char pid[32];
	int n;

	snprintf(s->marker, sizeof(s->marker), "current_mirror.%s.data", ts);
	n = snprintf(pid, sizeof(pid), "PID %ld\n", (long)getpid());
	if (fs_create_file_at(s->repo->datafd, s->marker, pid, (size_t)n) != 0)
		fatal("writing %s: %s", s->marker, strerror(errno));
	if (fsync(s->repo->datafd) != 0)
		fatal("syncing repository data: %s", strerror(errno));
	s->marker_written = 1;
}

/*
 * The lock keeps capback's own writers out, and rdiff-backup refuses a
 * repository whose newer marker names a live process, but its --force
 * regresses the session under us.  Before each batch of mirror changes
 * and before the old marker goes, this session's files must still be
 * there: otherwise it stops, leaving the previous marker (a session
 * that completed over a forced regress lost its metadata and left a
 * repository neither tool could read).
 */
void
session_stands(struct session *s, const char *file)
{
	const char *gone = NULL;
	struct stat st;

	if (!s->marker_written)
		return;
	if (fstatat(s->repo->datafd, s->marker, &st, AT_SYMLINK_NOFOLLOW) != 0)
		gone = s->marker;
	else if (file != NULL &&
	    fstatat(s->repo->datafd, file, &st, AT_SYMLINK_NOFOLLOW) != 0)
		gone = file;
	if (gone == NULL)
		return;
	if (errno != ENOENT)
		fatal("cannot look at %s: %s", gone, strerror(errno));
	s->marker_written = 0; /* not "now holds an unfinished session" */
	fatal("this session's %s is gone: another program changed the "
	      "repository during this session (rdiff-backup --force does "
	      "not see capback's lock); the session stops here, the "
	      "previous backup stays the current one: check '%s' with "
	      "'capback verify' (and 'capback regress' if it says so)",
	    gone, s->repo->path);
}

/*
 * The previous session's metadata snapshot becomes a diff against the
 * new one, except every ninth (the chain rule of rdiff-backup).  The diff
 * is named beside the snapshot; the snapshot goes only once the new
 * session stands (commit_session): a session stopped before that leaves
 * the previous one whole (a snapshot and a diff of one time: the
 * snapshot is read, regress removes the diff).  1: the snapshot is to go.
 */
static int
convert_old_snapshot(struct session *s)
{
	char diff[256], made[256], *ext;
	int r;

	if (s->wdiff == NULL)
		return 0;
	snprintf(diff, sizeof(diff), "%s", s->repo->meta_name);
	ext = strstr(diff, ".snapshot"); /* (diff_open) */
	if (s->dbuf.len > 0 &&
	    (r = md_writer_write(s->wdiff, s->dbuf.buf, s->dbuf.len)) != 0)
		fatal("writing the previous session's metadata: %s",
		    cb_strerror(r));
	r = md_writer_close(s->wdiff, made, sizeof(made));
	s->wdiff = NULL;
	if (r != 0)
		fatal("writing the previous session's metadata: %s",
		    cb_strerror(r));
	/* ".diff", and ".gz" if the writer compressed (it does not an
	 * empty file); both shorter than ".snapshot[.gz]" */
	snprintf(ext, sizeof(diff) - (size_t)(ext - diff), ".diff%s",
	    strcmp(made + strlen(made) - 3, ".gz") == 0 ? ".gz" : "");
	if (renameat(s->repo->datafd, made, s->repo->datafd, diff) != 0) {
		int e = errno;

		unlinkat(s->repo->datafd, made, 0);
		fatal("naming %s: %s", diff, strerror(e));
	}
	if (fsync(s->repo->datafd) != 0)
		fatal("syncing repository data: %s", strerror(errno));
	return 1;
}

/*
 * A session of rdiff-backup that continued this repository may have left
 * paths out of itself (leftout.c): said before this session takes them
 * again, and after, which it took.
 */
static void
leftout_begin(struct session *s)
{
	int r = leftout_load(s->repo->datafd, s->repo->cur_time, &s->lo);

	if (r != 0)
		log_warn("cannot read the error log of the session of %s: %s",
		    s->prevts,
		    r == CB_ERR_SYS ? strerror(errno) : cb_strerror(r));
	else if (s->lo.n > 0) {
		size_t n = s->lo.n + s->lo.more;

		log_warn("rdiff-backup's session of %s left out %zu file%s it "
			 "could not update (its error_log names %s): a restore "
			 "as of then lacks %s; this session takes again what "
			 "the source still has",
		    s->prevts, n, n == 1 ? "" : "s", n == 1 ? "it" : "them",
		    n == 1 ? "it" : "them");
	}
}

static void
leftout_end(struct session *s)
{
	size_t i, extra = s->lo.n > 100 ? s->lo.n - 100 : 0;

	for (i = 0; i < s->lo.n && i < 100; i++) {
		struct leftout_path *p = &s->lo.p[i];

		if (p->taken)
			log_warn("'%s': taken again by this session",
			    log_name(p->path, p->len));
		else
			log_warn("'%s': not in this session by this name "
				 "(gone from the source, excluded, or a name "
				 "rdiff-backup's log cannot spell: it writes a "
				 "newline as a space, a byte that is not UTF-8 "
				 "as U+FFFD)",
			    log_name(p->path, p->len));
	}
	if (extra + s->lo.more > 0)
		log_warn("... and %zu more left out by rdiff-backup's session "
			 "of %s",
		    extra + s->lo.more, s->prevts);
	leftout_free(&s->lo);
}

/* The new state is complete: make it the current mirror. */
static void
commit_session(struct session *s, const char *ts)
{
	int snap_goes;

	if (syncfs(s->repo->rootfd) != 0)
		fatal("syncing repository: %s", strerror(errno));
	if (!s->repo->exists) {
		write_marker(s, ts);
		repo_first_done(s->repo);
		cleanup_session = NULL;
		return;
	}
	/* undone under us meanwhile (closing and syncing take seconds on a
	 * large repository): stopped before anything of the previous
	 * session changes */
	session_stands(s, s->new_meta);
	snap_goes = convert_old_snapshot(s);
	if (syncfs(s->repo->rootfd) != 0)
		fatal("syncing repository: %s", strerror(errno));
	session_stands(s, s->new_meta);
	/* The previous marker goes last: now the new session stands. */
	if (unlinkat(s->repo->datafd, s->repo->marker, 0) != 0)
		fatal("cannot remove %s: %s", s->repo->marker, strerror(errno));
	if (fsync(s->repo->datafd) != 0)
		fatal("syncing repository data: %s", strerror(errno));
	/* its diff stands in for the previous snapshot now */
	if (snap_goes &&
	    unlinkat(s->repo->datafd, s->repo->meta_name, 0) != 0 &&
	    errno != ENOENT)
		log_warn("cannot remove %s (its diff replaces it): %s",
		    s->repo->meta_name, strerror(errno));
	/* one marker now: the hold may go (left by a crash, it is litter:
	 * a temporary's name with the newest session's time) */
	inc_unhold(s->repo->datafd, s->holder);
	s->holder[0] = '\0';
	cleanup_session = NULL; /* from here on the new session stands */
	if (s->fixfd >= 0) {
		/* only a regress of this session needed its digest fixes */
		char fn[128];

		close(s->fixfd);
		s->fixfd = -1;
		snprintf(fn, sizeof(fn), DIGEST_FIXES, s->nowts);
		unlinkat(s->repo->datafd, fn, 0);
	}
}

static void
session_init(struct session *s, struct repo *repo, const struct writer_opts *o)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->repo = repo;
	s->o = o;
	pathcheck_init(&s->pc);
	strbuf_init(&s->fmt);
	strbuf_init(&s->errlog);
	meta_rec_init(&s->prec);
	frame_in_init(&s->in, 0, msg_backup_stream_max);
	if (credit_init(&s->cr) != 0)
		fatal("out of memory");
	strbuf_init(&s->sig);
	strbuf_init(&s->mpend);
	s->basisfd = -1;
	s->fixfd = -1;
	s->incs = repo->exists;
	s->altfd = -1;
	if (repo->exists && timefmt_utc(repo->cur_time, s->prevts) != 0)
		fatal("current mirror time %lld out of range",
		    (long long)repo->cur_time);
	if (timefmt_utc(o->now, s->nowts) != 0)
		fatal("session time %lld out of range", (long long)o->now);
	/* temporaries' numbers a source cannot guess (a source file of
	 * that name is backed up all the same, but rdiff-backup's regress
	 * could not tell them apart): 40 random bits */
	if (getrandom(&s->tmpcount, sizeof(s->tmpcount), 0) !=
	    sizeof(s->tmpcount))
		fatal("getrandom: %s", strerror(errno));
	s->tmpcount &= 0xffffffffffULL;
	frame_out_init(&s->out, 1);
	if (linkmap_new(&s->links) != 0)
		fatal("out of memory");
	/* which received files are checked: unknown to the reader */
	s->check_at = (uint64_t)(o->check_received * 4294967296.0);
	if (getrandom(&s->rng, sizeof(s->rng), 0) != sizeof(s->rng))
		fatal("getrandom: %s", strerror(errno));
	s->rng |= 1; /* xorshift: never 0 */
	if (repo->exists) {
		r = md_snap_open(repo->datafd, repo->meta_name,
		    repo->ea_name[0] ? repo->ea_name : NULL,
		    repo->acl_name[0] ? repo->acl_name : NULL, &s->prev);
		if (r != 0)
			fatal("cannot open previous metadata '%s': %s",
			    repo->meta_name, cb_strerror(r));
		prev_advance(s);
		leftout_begin(s);
	}
}

int
writer_backup(struct repo *repo, const struct writer_opts *o)
{
	struct session s;
	char ts[TIMEFMT_LEN];
	if (timefmt_utc(o->now, ts) != 0)
		fatal("session time %lld out of range", (long long)o->now);
	if (o->latest != 0 && o->now > o->latest) {
		char lim[TIMEFMT_LEN];

		timefmt_utc(o->latest, lim);
		fatal("the session time %s is later than this vault accepts "
		      "(%s: its clock and --max-skew): refused, a session "
		      "from the future would block every later one",
		    ts, lim);
	}
	if (repo->exists && o->now <= repo->cur_time) {
		char cur[TIMEFMT_LEN];

		timefmt_utc(repo->cur_time, cur);
		fatal("the session time %s is not later than the current "
		      "mirror's, %s: %s",
		    ts, cur,
		    o->replica ? "a replica's sessions come after its newest" :
				 "the last backup is not in the past");
	}
	session_init(&s, repo, o);
	if (o->progress)
		log_progress_start(&s.prog,
		    repo->exists ? repo_session_stat(repo->datafd,
				       repo->cur_time, "SourceFiles") :
				   0);
	/* Digests at the source (a pull): used only when the reader can;
	 * a replica's entries carry the primary's, checked on every file. */
	s.src_digests =
	    (hello_exchange(&s.in, &s.out, ROLE_WRITER,
		 o->source_digests && !o->replica ? HELLO_DIGESTS : 0,
		 ROLE_READER, "reader") &
		HELLO_DIGESTS) != 0 &&
	    o->source_digests && !o->replica;
	{
		/* a forced command's deadline for the hello (main.c) is
		 * met: the rest of the session is not bounded by it */
		sigset_t al;

		sigemptyset(&al);
		sigaddset(&al, SIGALRM);
		sigprocmask(SIG_BLOCK, &al, NULL);
	}
	/* Only now, with a live reader, is anything created. */
	if (!repo->exists) {
		repo_create(repo);
		writer_confine_created(repo);
	}
	cleanup_session = &s;
	atexit(session_cleanup);
	if (repo->exists) {
		writer_tidy(repo);
		hold_increments(&s);
		write_marker(&s, ts);
	}
	open_outputs(&s, ts);
	run_stream(&s);
	apply_finish(&s);
	close_outputs(&s);
	commit_session(&s, ts);
	leftout_end(&s);
	write_error_log(&s, ts);
	if (o->progress)
		log_progress_end(&s.prog);
	write_statistics(&s, ts);
	log_info("transferred %llu %s whole (%llu byte%s) and %llu by "
		 "delta (%llu bytes for %llu; signatures %llu bytes)",
	    (unsigned long long)s.st.whole_files,
	    s.st.whole_files == 1 ? "file" : "files",
	    (unsigned long long)s.st.whole_bytes,
	    s.st.whole_bytes == 1 ? "" : "s",
	    (unsigned long long)s.st.delta_files,
	    (unsigned long long)s.st.delta_bytes,
	    (unsigned long long)s.st.delta_size,
	    (unsigned long long)s.st.sig_bytes);
	if (s.src_digests)
		log_info("digests from the source: %llu %s, %llu of them "
			 "checked against what was written",
		    (unsigned long long)s.st.src_digests,
		    s.st.src_digests == 1 ? "file" : "files",
		    (unsigned long long)s.st.src_checked);
	if (s.st.in_place_files > 0)
		log_info("%llu large mirror files updated in place (only "
			 "their changed ranges written)",
		    (unsigned long long)s.st.in_place_files);
	if (s.native_fixed > 0)
		log_warn("unchanged mirror files given their recorded owner "
			 "and mode (the mirror keeps native owners): %llu",
		    (unsigned long long)s.native_fixed);
	if (o->rehash)
		log_warn("--check-unchanged: %llu file%s changed although "
			 "%s size and modification time did not",
		    (unsigned long long)s.rehash_changed,
		    s.rehash_changed == 1 ? "" : "s",
		    s.rehash_changed == 1 ? "its" : "their");
	if (s.progress_sent < s.seq) /* everything is decided now */
		send_frame(&s, MSG_PROGRESS, s.seq);
	{
		uint8_t b[12] = { 0 };
		int k;

		for (k = 0; k < 8; k++)
			b[4 + k] = (uint8_t)(s.st.errors >> (56 - 8 * k));
		if (frame_put(&s.out, MSG_DONE, b, 12) != 0)
			fatal("out of memory");
	}
	fs_set_nonblock(1, 0);
	if (frame_out_flush(&s.out) != 0)
		log_warn("reader connection: %s", strerror(errno));
	if (s.altfd >= 0)
		close(s.altfd);
	pathcheck_release(&s.pc);
	free(s.q);
	free(s.dq);
	free(s.dstack);
	linkmap_free(s.links);
	batch_free(&s);
	md_snap_free(s.prev);
	meta_rec_clear(&s.prec);
	strbuf_release(&s.fmt);
	strbuf_release(&s.dbuf);
	strbuf_release(&s.dtmp);
	strbuf_release(&s.mpend);
	strbuf_release(&s.errlog);
	strbuf_release(&s.sig);
	frame_in_release(&s.in);
	frame_out_release(&s.out);
	credit_release(&s.cr);
	/* rdiff-backup's bits: 2 warning (a failed session was undone),
	 * 4 some files failed. */
	return (s.st.errors > 0 ? 4 : 0) | (repo->regressed ? 2 : 0);
}
