/*
 * compare: the source tree (the reader's ENTRY stream) against the backup
 * of one session, reported the way rdiff-backup 2.2's "compare" reports
 * it.  Read-only on the repository: nothing is created, locked or
 * changed in it; rebuilt older content lives in unlinked scratch files.
 *
 * The session's records and the reader's entries are merge-joined in
 * record order.  Each path gets at most one line on the report stream
 * (fd 3, the CLI's stdout):
 *
 *	new: PATH        in the source only
 *	deleted: PATH    in the backup only
 *	changed: PATH    attributes differ (rdiff-backup's RORPath equality,
 *	                 the source as "self", see attrs_equal)
 *	metadata changed|the same, data changed|the same: PATH
 *	                 --method hash|full, both regular files
 *
 * hash asks the reader for the SHA-1 of a regular file whose size is the
 * recorded one (WANT_DIGEST: the reader hashes it where it is, and only
 * the digest travels; WANT, the content, from a reader without
 * HELLO_WANT_DIGEST) and compares it with the recorded digest (of the
 * first link for a hard-link group); full asks for it and compares its
 * bytes with the content rebuilt from the repository at that session.
 * Lines stay in record order: those behind a file still on its way wait
 * in a queue of at most CMP_QUEUE_MAX, after which the join pauses; the
 * reader's credit bounds the entries received meanwhile.  Memory does not
 * grow with the tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "credit.h"
#include "fsutil.h"
#include "hello.h"
#include "history.h"
#include "linkmap.h"
#include "log.h"
#include "msg.h"
#include "pathcheck.h"
#include "timefmt.h"
#include "writer.h"
#include "xfer.h"

/* Where the report goes: the CLI hands its stdout to us as fd 3. */
#define CMP_REPORT_FD 3

/* PROGRESS credit goes back to the reader every this many entries. */
#define CMP_PROGRESS_EVERY 128

/* Report lines held back behind a file being compared, at most. */
#define CMP_QUEUE_MAX 4096

enum cmp_method { CMP_META, CMP_HASH, CMP_FULL };

/* A report line that must wait for the content of an earlier file. */
struct cmp_item {
	char *path; /* owned */
	size_t pathlen;
	const char *reason; /* NULL: nothing to report */
	int waiting;	    /* its content was asked for (WANT seq) */
	uint64_t seq;
	int meta_changed;
	uint8_t sha1[20];    /* hash: the recorded digest */
	uint64_t alt_mirror; /* full: where a long name's data and */
	uint64_t alt_inc;    /* increments are kept (long_filename_data) */
	uint64_t size;	     /* full: the recorded size (bounds the rebuild) */
};

struct cmp {
	struct repo *repo;
	enum cmp_method method;
	int digests;	 /* hash: the reader answers WANT_DIGEST */
	const char *sub; /* the sub-tree compared, "." for all */
	size_t sublen;
	FILE *report;
	struct frame_in in;
	struct frame_out out;
	/* the session's records */
	struct snapsrc src;
	struct meta_rec mrec;
	int mvalid;
	struct linkmap *groups; /* hash: hard-link group -> digest (hex) */
	struct hist_dir hdir;	/* full: increments of one directory */
	/* reader entries received and not yet joined (ring) */
	struct pathcheck pc;
	struct msg_entry *in_q;
	size_t ihead, icount, icap;
	uint64_t seq, joined, progress_sent;
	struct credit cr; /* the reader's window, enforced */
	int entries_done;
	/* report lines in record order (ring) */
	struct cmp_item *q;
	size_t qhead, qcount, qcap;
	/* the content of the queue head, arriving */
	int receiving;
	struct xfer_sink sink;
	int repofd; /* full: the content rebuilt from the repository */
	uint64_t repo_size;
	int differs;
	uint8_t *buf;
	/* outcome */
	uint64_t ndiff, nerr;
};

/* ---- equality ------------------------------------------------------------ */

/*
 * Extended attributes and ACL equal (an ACL of only the three basic
 * entries equals none): meta_attr_equal of two records that differ in
 * nothing else.
 */
static int
ea_acl_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	struct meta_rec x, y;

	meta_rec_init(&x);
	meta_rec_init(&y);
	x.type = y.type = META_DIR;
	x.xattrs = a->xattrs;
	x.nxattrs = a->nxattrs;
	x.acl = a->acl;
	x.nacl = a->nacl;
	y.xattrs = b->xattrs;
	y.nxattrs = b->nxattrs;
	y.acl = b->acl;
	y.nacl = b->nacl;
	return meta_attr_equal(&x, &y); /* borrowed: not cleared */
}

/* A recorded owner name that is unknown (":" or "None") matches anything. */
static int
name_equal(const char *src, const char *rec)
{
	if (rec == NULL || strcmp(rec, "None") == 0)
		return 1;
	return src != NULL && strcmp(src, rec) == 0;
}

/*
 * rdiff-backup's comparison of a source path ${s} with the record ${m}:
 * every attribute the source has is compared, except the link count,
 * size (not a regular file), mtime (symlinks and devices), owners
 * (symlinks), inode and device (unless ${s} is a regular file with more
 * than one link).  A fifo, socket or device may stand as an empty
 * regular file in the record.
 */
static int
attrs_equal(const struct meta_rec *s, const struct meta_rec *m)
{
	int special =
	    s->type == META_DEV || s->type == META_FIFO || s->type == META_SOCK;

	if (s->type != m->type &&
	    !(special && m->type == META_REG && m->size == 0))
		return 0;
	if (s->perms != m->perms)
		return 0;
	switch (s->type) {
	case META_REG:
		if (s->size != m->size)
			return 0;
		if (s->nlink > 1 &&
		    (m->nlink <= 1 || s->inode != m->inode ||
			s->devloc != m->devloc))
			return 0;
		break;
	case META_SYM:
		return s->symlen == m->symlen &&
		    (s->symlen == 0 ||
			memcmp(s->symdata, m->symdata, s->symlen) == 0) &&
		    ea_acl_equal(s, m);
	case META_DEV:
		if (m->type != META_DEV || s->dev_kind != m->dev_kind ||
		    s->dev_major != m->dev_major ||
		    s->dev_minor != m->dev_minor)
			return 0;
		break;
	default: break;
	}
	if (s->type != META_DEV && s->mtime != m->mtime)
		return 0;
	return s->uid == m->uid && s->gid == m->gid &&
	    name_equal(s->uname, m->uname) && name_equal(s->gname, m->gname) &&
	    ea_acl_equal(s, m);
}

/* ---- the report ---------------------------------------------------------- */

static void
emit(struct cmp *c, const char *reason, const char *path, size_t len)
{
	c->ndiff++;
	fprintf(c->report, "%s: %s\n", reason, log_name(path, len));
}

static struct cmp_item *
q_at(struct cmp *c, size_t i)
{
	return &c->q[(c->qhead + i) % c->qcap];
}

static struct cmp_item *
q_push(struct cmp *c, const char *path, size_t len)
{
	struct cmp_item *it;

	if (c->qcount == c->qcap) {
		size_t ncap = c->qcap ? c->qcap * 2 : 64, i;
		struct cmp_item *nq = calloc(ncap, sizeof(*nq));

		if (nq == NULL)
			fatal("out of memory");
		for (i = 0; i < c->qcount; i++)
			nq[i] = *q_at(c, i);
		free(c->q);
		c->q = nq;
		c->qhead = 0;
		c->qcap = ncap;
	}
	it = q_at(c, c->qcount++);
	memset(it, 0, sizeof(*it));
	if ((it->path = strndup(path, len)) == NULL)
		fatal("out of memory");
	it->pathlen = len;
	return it;
}

/* A line whose place in the order has come: print it now or queue it. */
static void
report(struct cmp *c, const char *reason, const char *path, size_t len)
{
	if (c->qcount == 0)
		emit(c, reason, path, len);
	else
		q_push(c, path, len)->reason = reason;
}

/* Print the queued lines whose turn came. */
static void
flush_ready(struct cmp *c)
{
	while (c->qcount > 0 && !q_at(c, 0)->waiting) {
		struct cmp_item *it = q_at(c, 0);

		if (it->reason != NULL)
			emit(c, it->reason, it->path, it->pathlen);
		free(it->path);
		c->qhead = (c->qhead + 1) % c->qcap;
		c->qcount--;
	}
}

static const char *
data_reason(int meta_changed, int data_changed)
{
	if (!meta_changed && !data_changed)
		return NULL;
	if (meta_changed)
		return data_changed ? "metadata changed, data changed" :
				      "metadata changed, data the same";
	return "metadata the same, data changed";
}

/* ---- the session's records ----------------------------------------------- */

static int
whole_repo(const struct cmp *c)
{
	return c->sublen == 1 && c->sub[0] == '.';
}

/* The next record, its path relative to the sub-tree as the reader's are. */
static void
m_advance(struct cmp *c)
{
	struct meta_rec *m = &c->mrec;
	int r = snapsrc_next(&c->src, m);

	c->mvalid = r == 0;
	if (r != 0 && r != CB_ERR_EOF)
		fatal("reading the metadata of '%s': %s", c->repo->path,
		    cb_strerror(r));
	if (!c->mvalid || whole_repo(c))
		return;
	if (m->pathlen == c->sublen) {
		memcpy(m->path, ".", 2);
		m->pathlen = 1;
	} else {
		m->pathlen -= c->sublen + 1;
		memmove(m->path, m->path + c->sublen + 1, m->pathlen + 1);
	}
}

/* The record ${path} and every record beneath it, unreported. */
static void
m_skip_subtree(struct cmp *c, const char *path, size_t len)
{
	m_advance(c);
	while (c->mvalid &&
	    meta_path_is_child(path, len, c->mrec.path, c->mrec.pathlen))
		m_advance(c);
}

/* ---- joining entries with records ---------------------------------------- */

static void
send_u64(struct cmp *c, uint8_t type, uint64_t v)
{
	uint8_t b[8];
	int i;

	for (i = 0; i < 8; i++)
		b[i] = (uint8_t)(v >> (56 - 8 * i));
	if (frame_put(&c->out, type, b, 8) != 0)
		fatal("out of memory");
}

/* Two regular files, --method hash or full: ask for the content or decide. */
static void
join_regular(struct cmp *c, const struct msg_entry *e)
{
	const struct meta_rec *s = &e->rec, *m = &c->mrec;
	struct cmp_item *it;
	int meta_changed = !attrs_equal(s, m), data_changed = 0;
	uint8_t digest[20];

	if (c->method == CMP_HASH &&
	    !hist_recorded_digest(c->groups, m, digest)) {
		/* not compared is not "the same": exit status 4 */
		log_warn("the metadata has no digest for '%s', unable to "
			 "compare its data",
		    log_quote(m->path, m->pathlen));
		c->nerr++;
	} else if (s->size != m->size)
		data_changed = 1;
	else {
		it = q_push(c, s->path, s->pathlen);
		it->waiting = 1;
		it->seq = c->joined;
		it->meta_changed = meta_changed;
		memcpy(it->sha1, digest, sizeof(digest));
		it->alt_mirror = m->alt_mirror;
		it->alt_inc = m->alt_inc;
		it->size = m->size;
		send_u64(c, c->digests ? MSG_WANT_DIGEST : MSG_WANT, it->seq);
		return;
	}
	if (data_reason(meta_changed, data_changed) != NULL)
		report(c, data_reason(meta_changed, data_changed), s->path,
		    s->pathlen);
}

/* Join the entry ${e} with the current record if it has ${e}'s path. */
static void
join_entry(struct cmp *c, const struct msg_entry *e)
{
	const struct meta_rec *s = &e->rec, *m = &c->mrec;
	int match = c->mvalid &&
	    meta_path_cmp(m->path, m->pathlen, s->path, s->pathlen) == 0;

	c->joined++;
	if (e->flags & ENTRY_ERROR) {
		/* Present, but its attributes (and subtree) are unknown. */
		log_error("cannot read '%s': %s",
		    log_quote(s->path, s->pathlen), strerror((int)e->err));
		c->nerr++;
		if (match)
			m_skip_subtree(c, s->path, s->pathlen);
		else
			report(c, "new", s->path, s->pathlen);
		return;
	}
	if (!match)
		report(c, "new", s->path, s->pathlen);
	else if (c->method != CMP_META && s->type == META_REG &&
	    m->type == META_REG)
		join_regular(c, e);
	else if (!attrs_equal(s, m))
		report(c, "changed", s->path, s->pathlen);
	if (match)
		m_advance(c);
}

static struct msg_entry *
in_at(struct cmp *c, size_t i)
{
	return &c->in_q[(c->ihead + i) % c->icap];
}

/* Does the current record sort before the entry ${s}? */
static int
m_before(const struct cmp *c, const struct meta_rec *s)
{
	return meta_path_cmp(c->mrec.path, c->mrec.pathlen, s->path,
		   s->pathlen) < 0;
}

/* PROGRESS for the entries joined: credit goes back to the reader. */
static void
give_credit(struct cmp *c)
{
	send_u64(c, MSG_PROGRESS, c->joined);
	c->progress_sent = c->joined;
	if (credit_grant(&c->cr, c->joined) != 0)
		fatal("internal: PROGRESS beyond the entries received");
}

/*
 * Join what can be joined: records before the next entry are deleted
 * paths; after the last entry every remaining record is.  Pauses while
 * CMP_QUEUE_MAX lines wait behind a file being compared.
 */
static void
pump(struct cmp *c)
{
	for (;;) {
		struct msg_entry *e = c->icount > 0 ? in_at(c, 0) : NULL;

		flush_ready(c); /* lines done free their place first */
		if (c->qcount >= CMP_QUEUE_MAX)
			break;
		if (c->mvalid &&
		    (e != NULL ? m_before(c, &e->rec) : c->entries_done)) {
			report(c, "deleted", c->mrec.path, c->mrec.pathlen);
			m_advance(c);
			continue;
		}
		if (e == NULL)
			break;
		join_entry(c, e);
		msg_entry_clear(e);
		c->ihead = (c->ihead + 1) % c->icap;
		c->icount--;
	}
	if (c->joined - c->progress_sent >= CMP_PROGRESS_EVERY)
		give_credit(c);
}

static void
handle_entry(struct cmp *c, const uint8_t *p, size_t len)
{
	struct msg_entry e;
	int r;

	if (c->entries_done)
		fatal("protocol: ENTRY after ENTRIES_END");
	credit_receive(&c->cr, len, "reader");
	if ((r = msg_entry_decode(p, len, &e)) != 0)
		fatal("protocol: bad ENTRY from reader: %s", cb_strerror(r));
	if (e.link_to != NULL)
		fatal("protocol: reader may not send hard-link targets");
	if (c->seq == 0 && strcmp(e.rec.path, ".") != 0)
		fatal("protocol: first entry is not the root");
	if (c->seq == 0 && (e.rec.type != META_DIR || (e.flags & ENTRY_ERROR)))
		fatal("source root is not a readable directory: %s",
		    strerror((int)e.err));
	r = pathcheck_add(&c->pc, e.rec.path, e.rec.pathlen,
	    e.rec.type == META_DIR && !(e.flags & ENTRY_ERROR));
	if (r == CB_ERR_NOMEM)
		fatal("out of memory");
	if (r != 0)
		fatal("protocol: reader sent '%s' out of order or outside any "
		      "directory it sent",
		    log_quote(e.rec.path, e.rec.pathlen));
	c->seq++;
	if (c->icount == c->icap) {
		size_t ncap = c->icap ? c->icap * 2 : 256, i;
		struct msg_entry *nq = calloc(ncap, sizeof(*nq));

		if (nq == NULL)
			fatal("out of memory");
		for (i = 0; i < c->icount; i++)
			nq[i] = *in_at(c, i);
		free(c->in_q);
		c->in_q = nq;
		c->ihead = 0;
		c->icap = ncap;
	}
	*in_at(c, c->icount++) = e; /* transferred */
}

/* ---- content of the file at the queue head ------------------------------- */

static void
file_begin(struct cmp *c, uint64_t seq, uint64_t size)
{
	struct cmp_item *it = c->qcount > 0 ? q_at(c, 0) : NULL;
	struct meta_rec v;
	struct stat st;
	char *full = NULL;
	int r;

	if (c->receiving || c->digests || it == NULL || !it->waiting ||
	    it->seq != seq)
		fatal("protocol: FILE %llu was not asked for now",
		    (unsigned long long)seq);
	if (xfer_sink_init(&c->sink, -1, size) != 0)
		fatal("out of memory");
	c->receiving = 1;
	c->differs = 0;
	c->repofd = -1;
	if (c->method != CMP_FULL)
		return;
	meta_rec_init(&v); /* borrows the item's path in the repository */
	v.path = it->path;
	v.pathlen = it->pathlen;
	if (!whole_repo(c)) {
		if (asprintf(&full, "%s/%s", c->sub, it->path) < 0)
			fatal("out of memory");
		v.path = full;
		v.pathlen = strlen(full);
	}
	v.type = META_REG;
	v.size = it->size;
	v.alt_mirror = it->alt_mirror;
	v.alt_inc = it->alt_inc;
	r = hist_file_at(&c->hdir, c->repo->rootfd, c->repo->datafd, &v,
	    c->src.t, &c->repofd);
	free(full);
	if (r == 0 && fstat(c->repofd, &st) != 0)
		r = CB_ERR_SYS;
	if (r != 0) {
		log_error("cannot rebuild '%s' from the backup: %s",
		    log_quote(it->path, it->pathlen), cb_strerror(r));
		c->nerr++;
		c->differs = 1;
		if (c->repofd >= 0)
			close(c->repofd);
		c->repofd = -1;
		return;
	}
	c->repo_size = (uint64_t)st.st_size;
}

/* full: do the ${n} bytes of the backup at ${off} hold ${p} (NULL: zeros)? */
static void
compare_bytes(struct cmp *c, uint64_t off, const uint8_t *p, uint64_t n)
{
	while (n > 0 && !c->differs) {
		size_t want = n > MSG_DATA_MAX ? MSG_DATA_MAX : (size_t)n, i;
		ssize_t got = pread(c->repofd, c->buf, want, (off_t)off);

		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0) {
			if (got < 0)
				log_error("reading '%s' from the backup: %s",
				    log_quote(q_at(c, 0)->path,
					q_at(c, 0)->pathlen),
				    strerror(errno));
			c->differs = 1;
			break;
		}
		if (p != NULL) {
			c->differs = memcmp(c->buf, p, (size_t)got) != 0;
			p += got;
		} else {
			for (i = 0; i < (size_t)got && c->buf[i] == 0; i++)
				;
			c->differs = i < (size_t)got;
		}
		off += (uint64_t)got;
		n -= (uint64_t)got;
	}
}

static void
file_data(struct cmp *c, const uint8_t *p, uint64_t n, int hole)
{
	uint64_t off = c->sink.off;
	int r;

	if (!c->receiving)
		fatal("protocol: %s outside a file", hole ? "HOLE" : "DATA");
	r = hole ? xfer_sink_hole(&c->sink, n) :
		   xfer_sink_data(&c->sink, p, (size_t)n);
	if (r != 0)
		fatal("protocol: bad content of '%s': %s",
		    log_quote(q_at(c, 0)->path, q_at(c, 0)->pathlen),
		    cb_strerror(r));
	if (c->method == CMP_FULL && !c->differs)
		compare_bytes(c, off, hole ? NULL : p, n);
}

/* The queue head's content was read by the reader with ${err} and
 * ${flags}: its SHA-1 is ${sum} (hash), or full compared its bytes. */
static void
file_decided(struct cmp *c, uint32_t err, uint64_t flags, const uint8_t *sum)
{
	struct cmp_item *it = q_at(c, 0);
	int data_changed;

	if (err == XFER_ERR_SHRANK) {
		log_warn("'%s' shrank while it was being read",
		    log_quote(it->path, it->pathlen));
		data_changed = 1;
	} else if (err != 0) {
		/* As rdiff-backup: what cannot be read is not the same. */
		log_error("cannot read '%s': %s",
		    log_quote(it->path, it->pathlen), strerror((int)err));
		c->nerr++;
		data_changed = 1;
	} else if (c->method == CMP_HASH)
		data_changed = memcmp(sum, it->sha1, 20) != 0;
	else
		data_changed = c->differs || c->sink.off != c->repo_size;
	if (flags & FILE_CHANGED)
		log_warn("'%s' changed while it was being read",
		    log_quote(it->path, it->pathlen));
	if (c->repofd >= 0)
		close(c->repofd);
	c->repofd = -1;
	it->reason = data_reason(it->meta_changed, data_changed);
	it->waiting = 0;
	pump(c);
}

static void
file_end(struct cmp *c, uint32_t err, uint64_t flags)
{
	uint8_t sum[20];

	if (xfer_sink_finish(&c->sink, sum) != 0)
		fatal("internal: finishing a digest");
	xfer_sink_release(&c->sink);
	c->receiving = 0;
	file_decided(c, err, flags, sum);
}

/* DIGEST: the SHA-1 the reader took of the file at the queue head. */
static void
file_digest(struct cmp *c, const uint8_t *p, size_t len)
{
	struct cmp_item *it = c->qcount > 0 ? q_at(c, 0) : NULL;
	uint8_t sum[20];
	uint64_t seq, flags;
	uint32_t err;

	if (msg_digest_decode(p, len, &seq, &err, &flags, sum) != 0)
		fatal("protocol: bad DIGEST");
	if (!c->digests || c->receiving || it == NULL || !it->waiting ||
	    it->seq != seq)
		fatal("protocol: DIGEST %llu was not asked for now",
		    (unsigned long long)seq);
	file_decided(c, err, flags, sum);
}

/* The reader's frames: an entry stream's, and DIGEST. */
static long
cmp_stream_max(uint8_t type)
{
	return type == MSG_DIGEST ? msg_max_payload(type) :
				    msg_entry_stream_max(type);
}

/* ---- the stream ---------------------------------------------------------- */

static void
handle_frame(struct cmp *c, uint8_t type, const uint8_t *p, size_t len)
{
	uint64_t a, b;
	uint32_t err;

	switch (type) {
	case MSG_ENTRY: handle_entry(c, p, len); break;
	case MSG_ENTRIES_END:
		if (c->entries_done || msg_u64_decode(p, len, &a) != 0 ||
		    a != c->seq || a == 0)
			fatal("protocol: bad ENTRIES_END from reader");
		c->entries_done = 1;
		break;
	case MSG_FILE:
		if (msg_u64pair_decode(p, len, &a, &b) != 0)
			fatal("protocol: bad FILE");
		file_begin(c, a, b);
		break;
	case MSG_DATA: file_data(c, p, len, 0); break;
	case MSG_HOLE:
		if (msg_u64_decode(p, len, &a) != 0)
			fatal("protocol: bad HOLE");
		file_data(c, NULL, a, 1);
		break;
	case MSG_FILE_END:
		if (!c->receiving ||
		    xfer_decode_file_end(p, len, &err, &b, NULL) != 0)
			fatal("protocol: bad FILE_END");
		file_end(c, err, b);
		return;
	case MSG_DIGEST: file_digest(c, p, len); return;
	default: fatal("protocol: unexpected %s from reader", msg_name(type));
	}
	pump(c);
}

static int
finished(const struct cmp *c)
{
	return c->entries_done && c->icount == 0 && !c->mvalid &&
	    c->qcount == 0;
}

/*
 * As the backup's event loop: never block on output, always keep
 * reading.  Before waiting, all credit earned goes back to the reader.
 */
static void
run_stream(struct cmp *c)
{
	struct pollfd pfd[2];
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int r;

	fs_set_nonblock(0, 1);
	fs_set_nonblock(1, 1);
	while (!finished(c)) {
		while ((r = frame_in_next(&c->in, &type, &p, &len)) == 0) {
			handle_frame(c, type, p, len);
			if (finished(c))
				return;
		}
		if (r != CB_ERR_TRUNCATED)
			fatal("protocol: %s from reader", cb_strerror(r));
		if (c->joined > c->progress_sent)
			give_credit(c);
		pfd[0].fd = 0;
		pfd[0].events = POLLIN;
		pfd[1].fd = 1;
		pfd[1].events = frame_out_pending(&c->out) ? POLLOUT : 0;
		if (poll(pfd, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		if (pfd[1].revents & (POLLOUT | POLLERR | POLLHUP) &&
		    frame_out_pending(&c->out) &&
		    frame_out_write_some(&c->out) != 0)
			fatal("reader connection: %s", strerror(errno));
		if (pfd[0].revents & (POLLIN | POLLHUP | POLLERR)) {
			long n = frame_in_fill(&c->in);

			if (n == 0)
				fatal("the reader ended the session early");
			if (n < 0 && errno != EAGAIN)
				fatal("reading from reader: %s",
				    strerror(errno));
		}
	}
}

static void
send_done(struct cmp *c, int status)
{
	uint8_t b[12];
	int k;

	if (c->seq > c->progress_sent)
		send_u64(c, MSG_PROGRESS, c->seq);
	for (k = 0; k < 4; k++)
		b[k] = (uint8_t)((uint32_t)status >> (24 - 8 * k));
	for (k = 0; k < 8; k++)
		b[4 + k] = (uint8_t)(c->nerr >> (56 - 8 * k));
	if (frame_put(&c->out, MSG_DONE, b, 12) != 0)
		fatal("out of memory");
	fs_set_nonblock(1, 0);
	if (frame_out_flush(&c->out) != 0)
		log_warn("reader connection: %s", strerror(errno));
}

static enum cmp_method
parse_method(const char *s)
{
	if (strcmp(s, "meta") == 0)
		return CMP_META;
	if (strcmp(s, "hash") == 0)
		return CMP_HASH;
	if (strcmp(s, "full") == 0)
		return CMP_FULL;
	fatal("unknown compare method '%s' (meta, hash or full)", s);
}

int
writer_compare(const char *method, const char *path,
    const struct writer_opts *o)
{
	struct cmp c;
	struct repo repo;
	char ts[TIMEFMT_LEN];
	uint32_t peer;
	int status;

	memset(&c, 0, sizeof(c));
	c.method = parse_method(method);
	c.sub = o->sub;
	c.sublen = o->sublen;
	/* Claimed before anything is opened, so it cannot be another file. */
	if (fcntl(CMP_REPORT_FD, F_GETFD) < 0 ||
	    (c.report = fdopen(CMP_REPORT_FD, "w")) == NULL)
		fatal("compare reports on fd %d, which is not open "
		      "(capback-writer is started by capback)",
		    CMP_REPORT_FD);
	repo_open_existing(path, &repo, 0, 0, "compare");
	writer_confine(&repo, 0);
	c.repo = &repo;
	c.repofd = -1;
	snapsrc_open(&c.src, &repo, o);
	if (timefmt_utc(c.src.t, ts) != 0)
		fatal("session time %lld out of range", (long long)c.src.t);
	log_info("comparing with the backup of %s", ts);
	meta_rec_init(&c.mrec);
	pathcheck_init(&c.pc);
	hist_dir_init(&c.hdir);
	if (linkmap_new(&c.groups) != 0 ||
	    (c.buf = malloc(MSG_DATA_MAX)) == NULL)
		fatal("out of memory");
	frame_in_init(&c.in, 0, cmp_stream_max);
	if (credit_init(&c.cr) != 0)
		fatal("out of memory");
	frame_out_init(&c.out, 1);
	m_advance(&c);
	peer = hello_exchange(&c.in, &c.out, ROLE_WRITER, 0, ROLE_READER,
	    "reader");
	c.digests = c.method == CMP_HASH && (peer & HELLO_WANT_DIGEST) != 0;
	run_stream(&c);
	if (c.ndiff == 0 && c.nerr == 0 && o->verbosity >= 3)
		fputs("NOTE: No changes found. Directory matches archive "
		      "data.\n",
		    c.report);
	if (fflush(c.report) != 0 || ferror(c.report))
		fatal("writing the report: %s", strerror(errno));
	status = (c.ndiff > 0 ? 8 : 0) | (c.nerr > 0 ? 4 : 0);
	if (c.ndiff > 0)
		log_warn("the source differs from the backup of %s (%llu "
			 "difference%s)",
		    ts, (unsigned long long)c.ndiff, c.ndiff > 1 ? "s" : "");
	else if (c.nerr > 0)
		log_warn("no difference found, but %llu path%s could not be "
			 "compared",
		    (unsigned long long)c.nerr, c.nerr > 1 ? "s" : "");
	send_done(&c, status);
	fclose(c.report);
	free(c.buf);
	free(c.q);
	free(c.in_q);
	linkmap_free(c.groups);
	hist_dir_release(&c.hdir);
	pathcheck_release(&c.pc);
	meta_rec_clear(&c.mrec);
	snapsrc_close(&c.src);
	frame_in_release(&c.in);
	credit_release(&c.cr);
	frame_out_release(&c.out);
	return status;
}
