/*
 * The reverse increment, computed where both files are at hand.
 *
 * rdiff-backup makes it with librsync: a BLAKE2 signature of the new file,
 * then a rolling search of the old file against it, a strong hash for
 * every block that matches.  Here both files are local, so a match is
 * proven by comparing the bytes themselves, and the usual case (a file
 * edited in place, or appended to) is found by comparing the two files at
 * the same offsets before any search:
 *
 * 1. Old and new are compared block by block at the offsets where the
 *    last match leaves them; equal runs become COPY commands.
 * 2. At a difference, the next block is compared at the same offsets;
 *    if it is equal, only the bytes before it that differ become a
 *    LITERAL.
 * 3. Otherwise the old file is searched byte by byte for the new file's
 *    blocks, rsync-fashion, with a 64-bit rolling hash over a table of
 *    the new file's block-aligned blocks (built on first need).  A hash
 *    hit is checked with memcmp before it counts.
 *
 * The result is an ordinary librsync delta (RS_DELTA_MAGIC, COPY and
 * LITERAL commands) that rdiff-backup and delta_patch apply.  Its matches
 * are those of rdiff-backup's (old regions equal to a block-aligned block
 * of the new file), plus finer literals where a file was edited in place.
 *
 * Work is linear: a hash hit that memcmp disproves costs up to a block,
 * and such failures may cost at most the old file's size plus
 * RV_SPARE_BUDGET bytes in all; past that the search stops and what is
 * left is compared at the same offsets only (still a correct delta).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_err.h"
#include "delta_io.h"
#include "fsutil.h"

/* Read-ahead of both windows beyond the blocks they must hold. */
#define RV_AHEAD ((size_t)1024 * 1024)
/* Bytes that disproved hash hits may cost beyond the old file's size. */
#define RV_SPARE_BUDGET ((uint64_t)64 * 1024 * 1024)
/* Multiplier of the rolling hash (odd: every power of it is odd). */
#define RV_BASE 0x100000001b3ull
/* Output is gathered into this much before it goes to the sink. */
#define RV_OUTBUF DELTA_BUF

/* librsync's delta format (its prototab.h). */
#define RV_MAGIC	  0x72730236u
#define RV_OP_END	  0x00
#define RV_OP_LITERAL_N1  0x41
#define RV_OP_COPY_N1_N1  0x45
#define RV_LITERAL_INLINE 64

struct rv {
	struct source *old;
	struct sink *out;
	int newfd;
	uint64_t nsize;
	size_t blen;

	/* Window on the old file: bytes [ows, ows + olen) of it. */
	uint8_t *ob;
	size_t obcap, olen;
	uint64_t ows;
	int old_eof; /* the window reaches the end of the old file */

	/* Window on the new file: bytes [nws, nws + nlen) of it. */
	uint8_t *nb;
	size_t nbcap, nlen;
	uint64_t nws;

	/* The new file's full blocks by hash: open addressing, no
	 * repeated hashes (the first block with a hash stands for all). */
	uint32_t *tkey; /* high half of the hash */
	uint32_t *tblk; /* block index + 1; 0: empty slot */
	uint64_t tmask;
	unsigned tbits;
	int table;    /* built */
	int searched; /* the search may still run (budget left) */
	uint64_t budget;
	uint64_t bpow; /* RV_BASE^(blen - 1) */

	/* What is decided and not yet written. */
	uint64_t cpos, clen; /* a COPY from the new file */
	uint64_t lit;	     /* old offset where the pending LITERAL starts */
	struct delta_ranges *rg; /* filled if not NULL */
	uint8_t *wb;		 /* output buffer, RV_OUTBUF */
	size_t wlen;
};

/* ---- output ------------------------------------------------------------ */

static int
out_flush(void *arg)
{
	struct rv *rv = arg;
	int r;

	if (rv->wlen == 0)
		return 0;
	r = sink_put(rv->out, rv->wb, rv->wlen);
	rv->wlen = 0;
	return r;
}

/* out_bytes(rv, p, n): append ${n} bytes to the delta. */
static int
out_bytes(struct rv *rv, const uint8_t *p, size_t n)
{
	return buf_append(rv->wb, &rv->wlen, RV_OUTBUF, p, n, out_flush, rv);
}

/* Width code of an integer in a command: 0..3 for 1, 2, 4, 8 bytes. */
static unsigned
width_code(uint64_t v)
{
	return v <= 0xff ? 0 : v <= 0xffff ? 1 : v <= 0xffffffffu ? 2 : 3;
}

/* Put ${v} big-endian in 1 << ${code} bytes at ${p}; returns the end. */
static uint8_t *
put_be(uint8_t *p, uint64_t v, unsigned code)
{
	unsigned n = 1u << code;

	for (unsigned i = 0; i < n; i++)
		p[i] = (uint8_t)(v >> (8 * (n - 1 - i)));
	return p + n;
}

/* Note the LITERAL [a, b) among the ranges where old and new differ. */
static void
note_range(struct delta_ranges *rg, uint64_t a, uint64_t b)
{
	if (rg == NULL || !rg->in_place)
		return;
	if (rg->n > 0 && rg->r[rg->n - 1][1] == a) {
		rg->r[rg->n - 1][1] = b; /* a LITERAL split by the window */
		return;
	}
	if (rg->n == DELTA_RANGES_MAX) {
		rg->in_place = 0;
		return;
	}
	rg->r[rg->n][0] = a;
	rg->r[rg->n][1] = b;
	rg->n++;
}

/* Write the pending COPY, if any. */
static int
emit_copy(struct rv *rv)
{
	uint8_t cmd[17], *e;
	unsigned pc, lc;

	if (rv->clen == 0)
		return 0;
	pc = width_code(rv->cpos);
	lc = width_code(rv->clen);
	cmd[0] = (uint8_t)(RV_OP_COPY_N1_N1 + 4 * pc + lc);
	e = put_be(cmd + 1, rv->cpos, pc);
	e = put_be(e, rv->clen, lc);
	rv->clen = 0;
	return out_bytes(rv, cmd, (size_t)(e - cmd));
}

/*
 * flush_literal(rv, pos): write what is pending, ending with the old
 * bytes [lit, pos) as a LITERAL; they are in the old window.
 */
static int
flush_literal(struct rv *rv, uint64_t pos)
{
	uint64_t n = pos - rv->lit;
	uint8_t cmd[9], *e = cmd + 1;
	unsigned c;
	int r;

	if (n == 0)
		return 0;
	if ((r = emit_copy(rv)) != 0)
		return r;
	if (n <= RV_LITERAL_INLINE)
		cmd[0] = (uint8_t)n;
	else {
		c = width_code(n);
		cmd[0] = (uint8_t)(RV_OP_LITERAL_N1 + c);
		e = put_be(cmd + 1, n, c);
	}
	if ((r = out_bytes(rv, cmd, (size_t)(e - cmd))) != 0 ||
	    (r = out_bytes(rv, rv->ob + (rv->lit - rv->ows), (size_t)n)) != 0)
		return r;
	note_range(rv->rg, rv->lit, pos);
	rv->lit = pos;
	return 0;
}

/* copy_to(rv, pos, noff, n): old [pos, pos + n) is new [noff, ...). */
static int
copy_to(struct rv *rv, uint64_t pos, uint64_t noff, uint64_t n)
{
	int r;

	if ((r = flush_literal(rv, pos)) != 0)
		return r;
	if (rv->rg != NULL && noff != pos)
		rv->rg->in_place = 0; /* content moved */
	rv->lit = pos + n;
	if (rv->clen > 0 && rv->cpos + rv->clen == noff) {
		rv->clen += n;
		return 0;
	}
	if ((r = emit_copy(rv)) != 0)
		return r;
	rv->cpos = noff;
	rv->clen = n;
	return 0;
}

/* ---- the two windows --------------------------------------------------- */

/*
 * old_at(rv, pos, want, &p, &avail):
 * Make the old window hold [pos, pos + want) or up to the end of the old
 * file; *p points at pos and *avail counts the bytes from there (at least
 * ${want} unless the file ends sooner).  Sliding the window writes the
 * pending LITERAL first.  ${want} <= obcap - RV_AHEAD.
 */
static int
old_at(struct rv *rv, uint64_t pos, size_t want, const uint8_t **p,
    size_t *avail)
{
	size_t keep, got;
	int r;

	if (pos + want > rv->ows + rv->olen && !rv->old_eof) {
		if ((r = flush_literal(rv, pos)) != 0)
			return r;
		keep = (size_t)(rv->ows + rv->olen - pos);
		memmove(rv->ob, rv->ob + (pos - rv->ows), keep);
		rv->ows = pos;
		rv->olen = keep;
		while (rv->olen < rv->obcap) {
			if ((r = source_read(rv->old, rv->ob + rv->olen,
				 rv->obcap - rv->olen, &got)) != 0)
				return r;
			if (got == 0) {
				rv->old_eof = 1;
				break;
			}
			rv->olen += got;
		}
	}
	*p = rv->ob + (pos - rv->ows);
	*avail = (size_t)(rv->ows + rv->olen - pos);
	return 0;
}

/*
 * new_at(rv, noff, n, &p): make the new window hold [noff, noff + n),
 * which lies inside the new file; ${n} <= nbcap.
 */
static int
new_at(struct rv *rv, uint64_t noff, size_t n, const uint8_t **p)
{
	uint64_t left;
	size_t want;

	if (noff < rv->nws || noff + n > rv->nws + rv->nlen) {
		left = rv->nsize - noff;
		want = left < rv->nbcap ? (size_t)left : rv->nbcap;
		rv->nws = noff;
		rv->nlen = 0;
		if (fs_pread_all(rv->newfd, rv->nb, want, noff) != 0)
			return CB_ERR_SYS;
		rv->nlen = want;
	}
	*p = rv->nb + (noff - rv->nws);
	return 0;
}

/*
 * same_prefix(rv, noff, p, n, &len): *len = how many of the ${n} old bytes
 * at ${p} equal the new file's from ${noff} on.
 */
static int
same_prefix(struct rv *rv, uint64_t noff, const uint8_t *p, size_t n,
    size_t *len)
{
	const uint8_t *q;
	size_t i = 0;
	int r;

	*len = 0;
	if (noff >= rv->nsize)
		return 0;
	if (n > rv->nsize - noff)
		n = (size_t)(rv->nsize - noff);
	if ((r = new_at(rv, noff, n, &q)) != 0)
		return r;
	if (memcmp(p, q, n) == 0) {
		*len = n;
		return 0;
	}
	while (p[i] == q[i])
		i++;
	*len = i;
	return 0;
}

/* ---- the table of the new file's blocks -------------------------------- */

/* The hash of a block, its length a multiple of 4: four lanes at once. */
static uint64_t
block_hash(const uint8_t *p, size_t n)
{
	const uint64_t b4 = RV_BASE * RV_BASE * RV_BASE * RV_BASE;
	uint64_t l0 = 0, l1 = 0, l2 = 0, l3 = 0;

	for (size_t i = 0; i < n; i += 4) {
		l0 = l0 * b4 + p[i];
		l1 = l1 * b4 + p[i + 1];
		l2 = l2 * b4 + p[i + 2];
		l3 = l3 * b4 + p[i + 3];
	}
	return ((l0 * RV_BASE + l1) * RV_BASE + l2) * RV_BASE + l3;
}

/* ${b} to the power ${e}, modulo 2^64. */
static uint64_t
power(uint64_t b, uint64_t e)
{
	uint64_t r = 1;

	for (; e > 0; e >>= 1, b *= b)
		if (e & 1)
			r *= b;
	return r;
}

/* The hash of the window one byte on: ${out} leaves, ${in} enters. */
static inline uint64_t
roll(const struct rv *rv, uint64_t h, uint8_t out, uint8_t in)
{
	return (h - out * rv->bpow) * RV_BASE + in;
}

static inline uint64_t
slot_of(const struct rv *rv, uint64_t h)
{
	return (h * 0x9e3779b97f4a7c15ull) >> (64 - rv->tbits);
}

/* The block whose hash is ${h}, as index + 1, or 0. */
static inline uint32_t
lookup(const struct rv *rv, uint64_t h)
{
	uint32_t key = (uint32_t)(h >> 32);

	for (uint64_t i = slot_of(rv, h);; i = (i + 1) & rv->tmask) {
		if (rv->tblk[i] == 0 || rv->tkey[i] == key)
			return rv->tblk[i];
	}
}

static void
insert(struct rv *rv, uint64_t h, uint32_t blk)
{
	uint32_t key = (uint32_t)(h >> 32);
	uint64_t i = slot_of(rv, h);

	for (; rv->tblk[i] != 0; i = (i + 1) & rv->tmask)
		if (rv->tkey[i] == key)
			return; /* an earlier block stands for it */
	rv->tkey[i] = key;
	rv->tblk[i] = blk + 1;
}

/* Hash every full block of the new file into the table. */
static int
build_table(struct rv *rv)
{
	uint64_t nblk = rv->nsize / rv->blen, b = 0;
	size_t per = rv->nbcap / rv->blen, k;
	const uint8_t *p;
	int r;

	if (nblk == 0 || nblk >= UINT32_MAX) {
		rv->searched = 0; /* nothing to find, or too much to index */
		return 0;
	}
	rv->tbits = 4;
	while (((uint64_t)1 << rv->tbits) < nblk + nblk / 3)
		rv->tbits++;
	rv->tmask = ((uint64_t)1 << rv->tbits) - 1;
	rv->tkey = malloc((rv->tmask + 1) * sizeof(*rv->tkey));
	rv->tblk = calloc(rv->tmask + 1, sizeof(*rv->tblk));
	if (rv->tkey == NULL || rv->tblk == NULL)
		return CB_ERR_NOMEM;
	while (b < nblk) {
		k = nblk - b < per ? (size_t)(nblk - b) : per;
		if ((r = new_at(rv, b * rv->blen, k * rv->blen, &p)) != 0)
			return r;
		for (size_t i = 0; i < k; i++, b++)
			insert(rv, block_hash(p + i * rv->blen, rv->blen),
			    (uint32_t)b);
	}
	rv->table = 1;
	return 0;
}

/* ---- the three steps --------------------------------------------------- */

/*
 * realign(rv, &pos, &q, &found): old[pos] differs from new[q].  If the
 * next block is equal at the same offsets (an edit in place), move pos
 * and q back from it over the bytes that are equal too, leaving only the
 * ones that differ to the LITERAL.  Only one block is looked at: equal
 * blocks further on may be chance (runs of zeros in a file whose content
 * moved), and the search does better there.
 */
static int
realign(struct rv *rv, uint64_t *pos, uint64_t *q, int *found)
{
	size_t avail, no, nn, back, blen = rv->blen;
	const uint8_t *p, *np;
	int r;

	*found = 0;
	if ((r = old_at(rv, *pos, 2 * blen, &p, &avail)) != 0)
		return r;
	if (blen >= avail || *q + blen >= rv->nsize)
		return 0;
	no = avail - blen < blen ? avail - blen : blen;
	nn = rv->nsize - (*q + blen) < blen ?
	    (size_t)(rv->nsize - (*q + blen)) :
	    blen;
	/* A short block matches only where both files end. */
	if (no != nn)
		return 0;
	if ((r = new_at(rv, *q, blen + no, &np)) != 0)
		return r;
	if (memcmp(p + blen, np + blen, no) != 0)
		return 0;
	back = blen;
	while (p[back - 1] == np[back - 1])
		back--; /* stops at 1 at the latest: p[0] != np[0] */
	*pos += back;
	*q += back;
	*found = 1;
	return 0;
}

/*
 * search(rv, &pos, &q, &found): roll through the old file from pos for a
 * block of the new one; on a proven match, pos and q are where it starts
 * in each file.  If none is found, pos is where the search stopped: the
 * last full block of the old file, or where the budget ran out.
 */
static int
search(struct rv *rv, uint64_t *pos, uint64_t *q, int *found)
{
	const uint8_t *p, *np;
	size_t avail, blen = rv->blen;
	uint64_t h, noff, at = *pos;
	uint32_t blk;
	int r;

	*found = 0;
	if (!rv->searched)
		return 0;
	if ((r = old_at(rv, at, blen + 1, &p, &avail)) != 0)
		return r;
	if (avail < blen)
		return 0;
	if (!rv->table && (r = build_table(rv)) != 0)
		return r;
	if (!rv->searched)
		return 0; /* the new file has no full block */
	h = block_hash(p, blen);
	for (;;) {
		if ((blk = lookup(rv, h)) != 0) {
			noff = (uint64_t)(blk - 1) * blen;
			if ((r = new_at(rv, noff, blen, &np)) != 0)
				return r;
			if (memcmp(p, np, blen) == 0) {
				*pos = at;
				*q = noff;
				*found = 1;
				return 0;
			}
			if (rv->budget < blen) {
				rv->searched = 0; /* see the top of the file */
				break;
			}
			rv->budget -= blen;
		}
		if (avail == blen)
			break; /* the old file ends with this block */
		h = roll(rv, h, p[0], p[blen]);
		p++;
		avail--;
		at++;
		rv->budget++;
		if (avail == blen &&
		    (r = old_at(rv, at, blen + 1, &p, &avail)) != 0)
			return r;
	}
	*pos = at;
	return 0;
}

/*
 * step(rv, &pos, &q): decide the old bytes from pos on; pos moves at
 * least one byte unless the old file has ended (*done).
 */
static int
step(struct rv *rv, uint64_t *pos, uint64_t *q, int *done)
{
	const uint8_t *p;
	size_t avail, n, len;
	int r, found;

	if ((r = old_at(rv, *pos, rv->blen, &p, &avail)) != 0)
		return r;
	if (avail == 0) {
		*done = 1;
		return 0;
	}
	n = avail < rv->blen ? avail : rv->blen;
	if ((r = same_prefix(rv, *q, p, n, &len)) != 0)
		return r;
	if (len > 0) {
		r = copy_to(rv, *pos, *q, len);
		*pos += len;
		*q += len;
		return r;
	}
	if ((r = realign(rv, pos, q, &found)) != 0 || found)
		return r;
	if ((r = search(rv, pos, q, &found)) != 0 || found)
		return r;
	/* Nothing here: a block of LITERAL, the offsets kept in step. */
	if ((r = old_at(rv, *pos, rv->blen, &p, &avail)) != 0)
		return r;
	n = avail < rv->blen ? avail : rv->blen;
	*pos += n;
	*q += n;
	return 0;
}

int
rev_delta(int newfd, uint64_t newsize, struct source *old, struct sink *out,
    struct delta_ranges *rg)
{
	struct rv rv;
	uint8_t head[4];
	uint64_t pos = 0, q = 0;
	int r, done = 0;

	memset(&rv, 0, sizeof(rv));
	rv.old = old;
	rv.out = out;
	rv.rg = rg;
	if (rg != NULL) {
		rg->in_place = 1;
		rg->n = 0;
	}
	rv.newfd = newfd;
	rv.nsize = newsize;
	rv.blen = delta_block_len(newsize);
	rv.obcap = 2 * rv.blen + RV_AHEAD;
	rv.nbcap = 2 * rv.blen + RV_AHEAD;
	rv.searched = 1;
	rv.budget = RV_SPARE_BUDGET;
	rv.bpow = power(RV_BASE, rv.blen - 1);
	rv.ob = malloc(rv.obcap);
	rv.nb = malloc(rv.nbcap);
	rv.wb = malloc(RV_OUTBUF);
	if (rv.ob == NULL || rv.nb == NULL || rv.wb == NULL) {
		r = CB_ERR_NOMEM;
		goto out;
	}
	put_be(head, RV_MAGIC, 2);
	if ((r = out_bytes(&rv, head, sizeof(head))) != 0)
		goto out;
	while (!done) {
		if ((r = step(&rv, &pos, &q, &done)) != 0)
			goto out;
	}
	head[0] = RV_OP_END;
	if ((r = flush_literal(&rv, pos)) != 0 || (r = emit_copy(&rv)) != 0 ||
	    (r = out_bytes(&rv, head, 1)) != 0)
		goto out;
	r = out_flush(&rv);
out:
	free(rv.ob);
	free(rv.nb);
	free(rv.wb);
	free(rv.tkey);
	free(rv.tblk);
	return r;
}
