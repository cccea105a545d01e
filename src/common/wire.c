#include "wire.h"

#include <stdlib.h>
#include <string.h>

#include "cb_err.h"

/* Smallest allocation a writer makes, to avoid many tiny reallocs. */
#define WIRE_WR_MINCAP 64

/*
 * Buffer internals are a security invariant: if they are inconsistent,
 * every bounds check below is meaningless, so abort in every build.
 */
static void
rd_check(const struct wire_rd *rd)
{
	if (rd->off > rd->len || (rd->p == NULL && rd->len != 0))
		abort();
}

static void
wr_check(const struct wire_wr *wr)
{
	if (wr->len > wr->cap || wr->len > wr->max ||
	    (wr->p == NULL && wr->cap != 0))
		abort();
}

static uint16_t
be16(const uint8_t *b)
{
	return (uint16_t)((unsigned)b[0] << 8 | (unsigned)b[1]);
}

static uint32_t
be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static uint64_t
be64(const uint8_t *b)
{
	return (uint64_t)be32(b) << 32 | (uint64_t)be32(b + 4);
}

static void
put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

void
wire_rd_init(struct wire_rd *rd, const void *p, size_t len)
{
	rd->p = p;
	rd->len = len;
	rd->off = 0;
	rd_check(rd);
}

size_t
wire_rd_remaining(const struct wire_rd *rd)
{
	rd_check(rd);
	return rd->len - rd->off;
}

/*
 * rd_peek(rd, n):
 * Pointer to the next ${n} bytes, or NULL if fewer remain.  Consumes
 * nothing.  The comparison is against what remains, so a huge ${n} from
 * the wire cannot overflow.
 */
static const uint8_t *
rd_peek(const struct wire_rd *rd, size_t n)
{
	rd_check(rd);
	if (n > rd->len - rd->off)
		return NULL;
	return rd->p + rd->off;
}

int
wire_get_u8(struct wire_rd *rd, uint8_t *out)
{
	const uint8_t *b;

	*out = 0;
	if ((b = rd_peek(rd, 1)) == NULL)
		return CB_ERR_TRUNCATED;
	*out = b[0];
	rd->off += 1;
	return 0;
}

int
wire_get_u16(struct wire_rd *rd, uint16_t *out)
{
	const uint8_t *b;

	*out = 0;
	if ((b = rd_peek(rd, 2)) == NULL)
		return CB_ERR_TRUNCATED;
	*out = be16(b);
	rd->off += 2;
	return 0;
}

int
wire_get_u32(struct wire_rd *rd, uint32_t *out)
{
	const uint8_t *b;

	*out = 0;
	if ((b = rd_peek(rd, 4)) == NULL)
		return CB_ERR_TRUNCATED;
	*out = be32(b);
	rd->off += 4;
	return 0;
}

int
wire_get_u64(struct wire_rd *rd, uint64_t *out)
{
	const uint8_t *b;

	*out = 0;
	if ((b = rd_peek(rd, 8)) == NULL)
		return CB_ERR_TRUNCATED;
	*out = be64(b);
	rd->off += 8;
	return 0;
}

int
wire_get_raw(struct wire_rd *rd, size_t n, const uint8_t **out)
{
	*out = NULL;
	/* n == 0 on an empty reader: p may be NULL, and NULL + 0 is UB. */
	if (n == 0) {
		rd_check(rd);
		*out = rd->p == NULL ? NULL : rd->p + rd->off;
		return 0;
	}
	if ((*out = rd_peek(rd, n)) == NULL)
		return CB_ERR_TRUNCATED;
	rd->off += n;
	return 0;
}

/*
 * rd_blob_peek(rd, maxlen, out, outlen):
 * Validate the blob at the read position without consuming it; on success
 * *out and *outlen describe its body.  The length is checked against ${maxlen}
 * before it is checked against what is buffered, so an oversize claim is
 * reported as such even when the body has not arrived.
 */
static int
rd_blob_peek(const struct wire_rd *rd, size_t maxlen, const uint8_t **out,
    size_t *outlen)
{
	const uint8_t *b;
	uint32_t n;

	*out = NULL;
	*outlen = 0;
	if ((b = rd_peek(rd, 4)) == NULL)
		return CB_ERR_TRUNCATED;
	n = be32(b);
	/* Untrusted length: bound it by the caller's per-field maximum. */
	if ((uint64_t)n > (uint64_t)maxlen)
		return CB_ERR_TOO_LARGE;
	/* 4 bytes are known to remain, so (len - off - 4) cannot wrap. */
	if ((size_t)n > rd->len - rd->off - 4)
		return CB_ERR_TRUNCATED;
	*out = b + 4;
	*outlen = n;
	return 0;
}

int
wire_get_blob(struct wire_rd *rd, size_t maxlen, const uint8_t **out,
    size_t *outlen)
{
	int r;

	if ((r = rd_blob_peek(rd, maxlen, out, outlen)) != 0)
		return r;
	rd->off += 4 + *outlen;
	return 0;
}

int
wire_get_str(struct wire_rd *rd, size_t maxlen, char **out, size_t *outlen)
{
	const uint8_t *b;
	size_t n;
	char *s;
	int r;

	*out = NULL;
	*outlen = 0;
	if ((r = rd_blob_peek(rd, maxlen, &b, &n)) != 0)
		return r;
	/* A NUL would silently shorten the string for every C consumer. */
	if (memchr(b, '\0', n) != NULL)
		return CB_ERR_BAD_VALUE;
	/* n <= len - off - 4, so n + 1 cannot wrap. */
	if ((s = malloc(n + 1)) == NULL)
		return CB_ERR_NOMEM;
	if (n > 0)
		memcpy(s, b, n);
	s[n] = '\0';
	rd->off += 4 + n;
	*out = s;
	*outlen = n;
	return 0;
}

int
wire_rd_end(const struct wire_rd *rd)
{
	rd_check(rd);
	return rd->off == rd->len ? 0 : CB_ERR_TRAILING;
}

void
wire_wr_init(struct wire_wr *wr, size_t max)
{
	wr->p = NULL;
	wr->len = 0;
	wr->cap = 0;
	wr->max = max;
}

void
wire_wr_release(struct wire_wr *wr)
{
	free(wr->p);
	wire_wr_init(wr, wr->max);
}

void
wire_wr_reset(struct wire_wr *wr)
{
	wr->len = 0;
}

/*
 * wr_reserve(wr, n):
 * Make room for ${n} more bytes and return where they go, without changing
 * wr->len; NULL with *err set to CB_ERR_TOO_LARGE (beyond wr->max) or
 * CB_ERR_NOMEM.  Growth is geometric but never beyond wr->max.
 */
static uint8_t *
wr_reserve(struct wire_wr *wr, size_t n, int *err)
{
	size_t need, ncap;
	uint8_t *p;

	wr_check(wr);
	if (n > wr->max - wr->len) {
		*err = CB_ERR_TOO_LARGE;
		return NULL;
	}
	need = wr->len + n;
	if (need > wr->cap) {
		ncap = wr->cap < WIRE_WR_MINCAP ? WIRE_WR_MINCAP : wr->cap;
		while (ncap < need)
			ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
		if (ncap > wr->max)
			ncap = wr->max;
		if ((p = realloc(wr->p, ncap)) == NULL) {
			*err = CB_ERR_NOMEM;
			return NULL;
		}
		wr->p = p;
		wr->cap = ncap;
	}
	return wr->p + wr->len;
}

int
wire_put_u8(struct wire_wr *wr, uint8_t v)
{
	uint8_t *b;
	int r;

	if ((b = wr_reserve(wr, 1, &r)) == NULL)
		return r;
	b[0] = v;
	wr->len += 1;
	return 0;
}

int
wire_put_u16(struct wire_wr *wr, uint16_t v)
{
	uint8_t *b;
	int r;

	if ((b = wr_reserve(wr, 2, &r)) == NULL)
		return r;
	b[0] = (uint8_t)(v >> 8);
	b[1] = (uint8_t)v;
	wr->len += 2;
	return 0;
}

int
wire_put_u32(struct wire_wr *wr, uint32_t v)
{
	uint8_t *b;
	int r;

	if ((b = wr_reserve(wr, 4, &r)) == NULL)
		return r;
	put_be32(b, v);
	wr->len += 4;
	return 0;
}

int
wire_put_u64(struct wire_wr *wr, uint64_t v)
{
	uint8_t *b;
	int r;

	if ((b = wr_reserve(wr, 8, &r)) == NULL)
		return r;
	put_be32(b, (uint32_t)(v >> 32));
	put_be32(b + 4, (uint32_t)v);
	wr->len += 8;
	return 0;
}

int
wire_put_raw(struct wire_wr *wr, const void *p, size_t n)
{
	uint8_t *b;
	int r;

	/* Nothing to do; also avoids memcpy/arithmetic on NULL pointers. */
	if (n == 0) {
		wr_check(wr);
		return 0;
	}
	if ((b = wr_reserve(wr, n, &r)) == NULL)
		return r;
	memcpy(b, p, n);
	wr->len += n;
	return 0;
}

int
wire_put_blob(struct wire_wr *wr, const void *p, size_t n)
{
	uint8_t *b;
	int r;

	/* The length prefix is a u32; also keeps 4 + n from wrapping. */
	if ((uint64_t)n > UINT32_MAX || n > SIZE_MAX - 4)
		return CB_ERR_TOO_LARGE;
	if ((b = wr_reserve(wr, 4 + n, &r)) == NULL)
		return r;
	put_be32(b, (uint32_t)n);
	if (n > 0)
		memcpy(b + 4, p, n);
	wr->len += 4 + n;
	return 0;
}
