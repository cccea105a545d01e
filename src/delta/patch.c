/*
 * Applying reverse deltas from a repository, which is not trusted.
 *
 * One parser reads librsync's delta format (magic, LITERAL and COPY
 * commands, END) and holds every command to the size of what it copies
 * from and to a bound on what it makes.  Two users:
 * - delta_patch applies one delta, streaming: COPY is pread from the
 *   basis, LITERAL written as it is read;
 * - a delta_chain applies several (the increments from the mirror back to
 *   an older session) in one pass: each delta is parsed into a map of the
 *   version it makes, whose pieces point into the basis or into a store of
 *   the literal bytes; a COPY from the previous version is looked up in
 *   that version's map.  The version asked for is then written once,
 *   instead of every version between.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "delta_io.h"
#include "fsutil.h"

/* librsync's delta format (its prototab.h). */
#define PT_MAGIC	 0x72730236u
#define PT_OP_LITERAL_64 0x40
#define PT_OP_COPY_N8_N8 0x54
#define PT_OP_LITERAL_N1 0x41
#define PT_OP_COPY_N1_N1 0x45
/* librsync keeps positions and lengths signed. */
#define PT_FIELD_MAX ((uint64_t)INT64_MAX)
/* Bytes moved per pread/write when writing a result. */
#define PT_COPY_BUF ((size_t)256 * 1024)

/* ---- the parser -------------------------------------------------------- */

struct pt_ops {
	/* COPY [pos, pos + len) of the input: inside it, len > 0. */
	int (*copy)(void *arg, uint64_t pos, uint64_t len);
	/* The next ${n} bytes of a LITERAL (a command may come in pieces). */
	int (*literal)(void *arg, const uint8_t *p, size_t n);
};

struct pt_reader {
	struct source *src;
	uint8_t *buf;
	size_t pos, len;
};

/* At least one byte buffered, or CB_ERR_CORRUPT: the delta ended early. */
static int
rd_fill(struct pt_reader *rd)
{
	size_t got;
	int r;

	if (rd->pos < rd->len)
		return 0;
	if ((r = source_read(rd->src, rd->buf, DELTA_BUF, &got)) != 0)
		return r;
	rd->pos = 0;
	rd->len = got;
	return got > 0 ? 0 : CB_ERR_CORRUPT;
}

/* A big-endian unsigned field of ${w} bytes. */
static int
rd_uint(struct pt_reader *rd, unsigned w, uint64_t *v)
{
	int r;

	*v = 0;
	while (w-- > 0) {
		if ((r = rd_fill(rd)) != 0)
			return r;
		*v = *v << 8 | rd->buf[rd->pos++];
	}
	return 0;
}

/* The bytes of a LITERAL of ${n}, piece by piece to ops->literal. */
static int
rd_literal(struct pt_reader *rd, uint64_t n, const struct pt_ops *ops,
    void *arg)
{
	size_t k;
	int r;

	while (n > 0) {
		if ((r = rd_fill(rd)) != 0)
			return r;
		k = rd->len - rd->pos;
		if (k > n)
			k = (size_t)n;
		if ((r = ops->literal(arg, rd->buf + rd->pos, k)) != 0)
			return r;
		rd->pos += k;
		n -= k;
	}
	return 0;
}

/* After END: nothing may follow (and a gzip trailer must check out). */
static int
rd_end(struct pt_reader *rd)
{
	size_t got;
	int r;

	if (rd->pos < rd->len)
		return CB_ERR_CORRUPT;
	if ((r = source_read(rd->src, rd->buf, DELTA_BUF, &got)) != 0)
		return r;
	return got == 0 ? 0 : CB_ERR_CORRUPT;
}

/*
 * parse_delta(src, insize, max_out, ops, arg):
 * Read the delta ${src} holds to its end, giving its commands to ${ops}.
 * COPY must lie inside [0, insize); everything made is held to
 * ${max_out}, checked before a command is passed on.  Returns 0,
 * CB_ERR_CORRUPT (bad magic or command, truncated, bytes after END, a COPY
 * outside the input, an empty command), CB_ERR_TOO_LARGE, CB_ERR_NOMEM,
 * CB_ERR_SYS, or what ${ops} returned.
 */
static int
parse_delta(struct source *src, uint64_t insize, uint64_t max_out,
    const struct pt_ops *ops, void *arg)
{
	struct pt_reader rd = { .src = src };
	uint64_t v, pos, len, out = 0;
	unsigned op;
	int r, copy;

	if ((rd.buf = malloc(DELTA_BUF)) == NULL)
		return CB_ERR_NOMEM;
	if ((r = rd_uint(&rd, 4, &v)) != 0 || v != PT_MAGIC) {
		r = r ? r : CB_ERR_CORRUPT;
		goto out;
	}
	for (;;) {
		if ((r = rd_uint(&rd, 1, &v)) != 0)
			goto out;
		op = (unsigned)v;
		pos = 0;
		len = op;
		copy = op >= PT_OP_COPY_N1_N1;
		if (op == 0) {
			r = rd_end(&rd);
			goto out;
		}
		if (op > PT_OP_COPY_N8_N8)
			r = CB_ERR_CORRUPT; /* a reserved command byte */
		else if (copy) {
			op -= PT_OP_COPY_N1_N1;
			if ((r = rd_uint(&rd, 1u << (op / 4), &pos)) == 0)
				r = rd_uint(&rd, 1u << (op % 4), &len);
		} else if (op > PT_OP_LITERAL_64)
			r = rd_uint(&rd, 1u << (op - PT_OP_LITERAL_N1), &len);
		if (r != 0)
			goto out;
		/* Inside the input, compared without computing pos + len;
		 * never empty (librsync would spin on it). */
		if (len == 0 || len > PT_FIELD_MAX ||
		    (copy && (pos > insize || len > insize - pos))) {
			r = CB_ERR_CORRUPT;
			goto out;
		}
		if (len > max_out - out) {
			r = CB_ERR_TOO_LARGE; /* before any of it is made */
			goto out;
		}
		out += len;
		r = copy ? ops->copy(arg, pos, len) :
			   rd_literal(&rd, len, ops, arg);
		if (r != 0)
			goto out;
	}
out:
	free(rd.buf);
	return r;
}

/* copy_range(in, off, len, outfd, buf): [off, off + len) of in to out. */
static int
copy_range(int in, uint64_t off, uint64_t len, int outfd, uint8_t *buf)
{
	return fs_copy_range(in, off, len, outfd, -1, buf, PT_COPY_BUF);
}

/* The size a basis offers to COPY: only a regular file has one. */
static int
basis_size(int fd, uint64_t *size)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0)
		return CB_ERR_SYS;
	*size =
	    S_ISREG(sb.st_mode) && sb.st_size > 0 ? (uint64_t)sb.st_size : 0;
	return 0;
}

/* ---- one delta, streaming ---------------------------------------------- */

struct pt_stream {
	int basisfd, outfd;
	uint8_t *buf; /* PT_COPY_BUF */
};

static int
stream_copy(void *arg, uint64_t pos, uint64_t len)
{
	struct pt_stream *st = arg;

	return copy_range(st->basisfd, pos, len, st->outfd, st->buf);
}

static int
stream_literal(void *arg, const uint8_t *p, size_t n)
{
	struct pt_stream *st = arg;

	return fs_write_all(st->outfd, p, n);
}

int
delta_patch(int basisfd, int deltafd, int deltagz, int outfd, uint64_t max_out)
{
	static const struct pt_ops ops = { stream_copy, stream_literal };
	struct pt_stream st = { .basisfd = basisfd, .outfd = outfd };
	struct source in = { .fd = -1 };
	uint64_t size;
	int r, e;

	if ((r = basis_size(basisfd, &size)) != 0)
		return r;
	if ((st.buf = malloc(PT_COPY_BUF)) == NULL)
		return CB_ERR_NOMEM;
	if ((r = source_init(&in, deltafd, deltagz)) == 0)
		r = parse_delta(&in, size, max_out, &ops, &st);
	e = errno;
	source_release(&in);
	free(st.buf);
	errno = e;
	return r;
}

/* ---- a chain of deltas, in one pass ------------------------------------ */

/* A piece of a version: ${len} bytes at ${off} that come from ${src} in
 * the basis, or in the literal store if PT_LIT is set in src. */
struct seg {
	uint64_t off, len, src;
};
#define PT_LIT ((uint64_t)1 << 63)

struct delta_chain {
	int basefd, litfd;
	uint64_t litsize; /* bytes in the store, with those in lbuf */
	uint64_t litdone; /* bytes written to litfd */
	uint8_t *lbuf;	  /* the store's tail, not yet written */
	size_t llen;
	struct seg *cur, *nxt; /* the last version; the one being made */
	size_t ncur, nnxt, capcur, capnxt;
	uint64_t cursize, nxtsize;
};

int
delta_chain_new(struct delta_chain **cp, int basefd, int litfd)
{
	struct delta_chain *c;
	uint64_t size;
	int r;

	*cp = NULL;
	if ((r = basis_size(basefd, &size)) != 0)
		return r;
	if ((c = calloc(1, sizeof(*c))) == NULL ||
	    (c->lbuf = malloc(DELTA_BUF)) == NULL ||
	    (c->cur = malloc(sizeof(*c->cur))) == NULL) {
		delta_chain_free(c);
		return CB_ERR_NOMEM;
	}
	c->basefd = basefd;
	c->litfd = litfd;
	c->capcur = 1;
	c->cursize = size;
	if (size > 0) {
		c->cur[0] = (struct seg){ 0, size, 0 };
		c->ncur = 1;
	}
	*cp = c;
	return 0;
}

void
delta_chain_free(struct delta_chain *c)
{
	if (c == NULL)
		return;
	free(c->lbuf);
	free(c->cur);
	free(c->nxt);
	free(c);
}

/* Add a piece to the version being made, joined to the last if it can. */
static int
push(struct delta_chain *c, uint64_t len, uint64_t src)
{
	struct seg *last = c->nnxt > 0 ? &c->nxt[c->nnxt - 1] : NULL;
	struct seg *p;
	size_t cap;

	if (last != NULL && last->src + last->len == src &&
	    (last->src & PT_LIT) == (src & PT_LIT)) {
		last->len += len;
		c->nxtsize += len;
		return 0;
	}
	if (c->nnxt == c->capnxt) {
		cap = c->capnxt ? 2 * c->capnxt : 64;
		if (cap > DELTA_CHAIN_PIECES_MAX)
			cap = DELTA_CHAIN_PIECES_MAX;
		if (c->nnxt == cap)
			return CB_ERR_TOO_LARGE;
		if ((p = realloc(c->nxt, cap * sizeof(*p))) == NULL)
			return CB_ERR_NOMEM;
		c->nxt = p;
		c->capnxt = cap;
	}
	c->nxt[c->nnxt++] = (struct seg){ c->nxtsize, len, src };
	c->nxtsize += len;
	return 0;
}

/* COPY from the last version: the pieces of it that [pos, +len) spans. */
static int
chain_copy(void *arg, uint64_t pos, uint64_t len)
{
	struct delta_chain *c = arg;
	size_t lo = 0, hi = c->ncur, mid;
	uint64_t skip, k;
	int r;

	/* The last piece that starts at or before pos: the pieces cover
	 * the version without gaps, and parse_delta checked pos < size. */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (c->cur[mid].off <= pos)
			lo = mid;
		else
			hi = mid;
	}
	for (; len > 0; lo++) {
		skip = pos - c->cur[lo].off;
		k = c->cur[lo].len - skip < len ? c->cur[lo].len - skip : len;
		if ((r = push(c, k, c->cur[lo].src + skip)) != 0)
			return r;
		pos += k;
		len -= k;
	}
	return 0;
}

/* Write the store's buffered tail. */
static int
lit_flush(void *arg)
{
	struct delta_chain *c = arg;
	int r;

	if ((r = fs_pwrite_all(c->litfd, c->lbuf, c->llen, c->litdone)) != 0)
		return r;
	c->litdone += c->llen;
	c->llen = 0;
	return 0;
}

/* LITERAL: its bytes go to the store, the version points at them. */
static int
chain_literal(void *arg, const uint8_t *p, size_t n)
{
	struct delta_chain *c = arg;
	int r;

	if (c->litsize > PT_FIELD_MAX - n)
		return CB_ERR_TOO_LARGE;
	if ((r = push(c, n, PT_LIT | c->litsize)) != 0)
		return r;
	c->litsize += n;
	return buf_append(c->lbuf, &c->llen, DELTA_BUF, p, n, lit_flush, c);
}

int
delta_chain_add(struct delta_chain *c, int deltafd, int gz, uint64_t max_out)
{
	static const struct pt_ops ops = { chain_copy, chain_literal };
	struct source in = { .fd = -1 };
	struct seg *t;
	size_t tc;
	int r, e;

	c->nnxt = 0;
	c->nxtsize = 0;
	if ((r = source_init(&in, deltafd, gz)) == 0)
		r = parse_delta(&in, c->cursize, max_out, &ops, c);
	e = errno;
	source_release(&in);
	errno = e;
	if (r != 0)
		return r;
	/* The new version is the input of the next delta. */
	t = c->cur;
	c->cur = c->nxt;
	c->nxt = t;
	tc = c->capcur;
	c->capcur = c->capnxt;
	c->capnxt = tc;
	c->ncur = c->nnxt;
	c->cursize = c->nxtsize;
	return 0;
}

int
delta_chain_write(struct delta_chain *c, int outfd)
{
	const struct seg *s;
	uint8_t *buf;
	int r;

	if ((r = lit_flush(c)) != 0)
		return r;
	if ((buf = malloc(PT_COPY_BUF)) == NULL)
		return CB_ERR_NOMEM;
	for (size_t i = 0; i < c->ncur && r == 0; i++) {
		s = &c->cur[i];
		if (s->src & PT_LIT)
			r = copy_range(c->litfd, s->src & ~PT_LIT, s->len,
			    outfd, buf);
		else
			r = copy_range(c->basefd, s->src, s->len, outfd, buf);
	}
	free(buf);
	return r;
}

uint64_t
delta_chain_size(const struct delta_chain *c)
{
	return c->cursize;
}

int
delta_chain_seal(struct delta_chain *c)
{
	int r;

	if ((r = lit_flush(c)) != 0)
		return r;
	/* only the last version is read from now on */
	free(c->nxt);
	free(c->lbuf);
	c->nxt = NULL;
	c->lbuf = NULL;
	c->capnxt = 0;
	return 0;
}

ssize_t
delta_chain_pread(const struct delta_chain *c, uint8_t *buf, size_t n,
    uint64_t off)
{
	size_t lo = 0, hi = c->ncur, mid, done = 0;

	if (off >= c->cursize || n == 0)
		return 0;
	if (n > c->cursize - off)
		n = (size_t)(c->cursize - off);
	/* the piece that holds ${off}: the pieces cover the version */
	while (hi - lo > 1) {
		mid = lo + (hi - lo) / 2;
		if (c->cur[mid].off <= off)
			lo = mid;
		else
			hi = mid;
	}
	for (; done < n && lo < c->ncur; lo++) {
		const struct seg *s = &c->cur[lo];
		uint64_t skip = off + done - s->off;
		size_t k = s->len - skip < n - done ? (size_t)(s->len - skip) :
						      n - done;
		int fd = (s->src & PT_LIT) ? c->litfd : c->basefd;

		if (fs_pread_all(fd, buf + done, k,
			(s->src & ~PT_LIT) + skip) != 0)
			return -1; /* EIO: the basis or the store got shorter */
		done += k;
	}
	return (ssize_t)done;
}
