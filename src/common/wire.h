#ifndef WIRE_H
#define WIRE_H

#include <stddef.h>
#include <stdint.h>

/*
 * Bounded serialisation of protocol fields.  This is the only module that
 * does arithmetic on untrusted wire bytes; everything else calls it.
 *
 * Integers are big-endian.  A blob is a u32 length followed by that many
 * bytes.  Every getter is all-or-nothing: on failure the read position is
 * unchanged and outputs are zeroed / NULLed.  Lengths are compared against
 * what remains (n > len - off), never by computing off + n.
 */

struct wire_rd {
	const uint8_t *p; /* borrowed */
	size_t len;
	size_t off;
};

struct wire_wr {
	uint8_t *p; /* owned */
	size_t len;
	size_t cap;
	size_t max; /* hard limit on len */
};

/* wire_rd_init(rd, p, len): read ${len} bytes at ${p} (borrowed). */
void wire_rd_init(struct wire_rd *rd, const void *p, size_t len);

/* wire_rd_remaining(rd): bytes not yet consumed. */
size_t wire_rd_remaining(const struct wire_rd *rd);

/*
 * wire_get_u8/u16/u32/u64(rd, out):
 * Read one big-endian integer.  Returns 0 or CB_ERR_TRUNCATED (*out = 0,
 * nothing consumed).
 */
int wire_get_u8(struct wire_rd *rd, uint8_t *out);
int wire_get_u16(struct wire_rd *rd, uint16_t *out);
int wire_get_u32(struct wire_rd *rd, uint32_t *out);
int wire_get_u64(struct wire_rd *rd, uint64_t *out);

/*
 * wire_get_raw(rd, n, out):
 * Consume ${n} bytes; *out borrows from rd's buffer.  Returns 0 or
 * CB_ERR_TRUNCATED (*out = NULL, nothing consumed).
 */
int wire_get_raw(struct wire_rd *rd, size_t n, const uint8_t **out);

/*
 * wire_get_blob(rd, maxlen, out, outlen):
 * Read a u32 length and that many bytes; *out borrows from rd's buffer.
 * Returns 0, CB_ERR_TRUNCATED, or CB_ERR_TOO_LARGE (length > ${maxlen});
 * on failure nothing is consumed and *out and *outlen are NULL and 0.
 */
int wire_get_blob(struct wire_rd *rd, size_t maxlen, const uint8_t **out,
    size_t *outlen);

/*
 * wire_get_str(rd, maxlen, out, outlen):
 * As wire_get_blob, but additionally refuses (CB_ERR_BAD_VALUE) a blob
 * containing a NUL byte, and returns a heap copy with a terminating NUL
 * in *out (owned by the caller, free()).  CB_ERR_NOMEM possible.
 */
int wire_get_str(struct wire_rd *rd, size_t maxlen, char **out, size_t *outlen);

/* wire_rd_end(rd): 0 if everything was consumed, else CB_ERR_TRAILING. */
int wire_rd_end(const struct wire_rd *rd);

/*
 * wire_wr_init(wr, max): empty writer that will never hold more than
 * ${max} bytes.  wire_wr_release(wr) frees the buffer (NULL-safe contents).
 * wire_wr_reset(wr) empties it and keeps the allocation.
 */
void wire_wr_init(struct wire_wr *wr, size_t max);
void wire_wr_release(struct wire_wr *wr);
void wire_wr_reset(struct wire_wr *wr);

/*
 * wire_put_u8, _u16, _u32, _u64, _raw, _blob(wr, ...):
 * Append; returns 0, CB_ERR_TOO_LARGE (would exceed max, or a blob longer
 * than UINT32_MAX) or CB_ERR_NOMEM.  On failure wr->len is unchanged.
 */
int wire_put_u8(struct wire_wr *wr, uint8_t v);
int wire_put_u16(struct wire_wr *wr, uint16_t v);
int wire_put_u32(struct wire_wr *wr, uint32_t v);
int wire_put_u64(struct wire_wr *wr, uint64_t v);
int wire_put_raw(struct wire_wr *wr, const void *p, size_t n);
int wire_put_blob(struct wire_wr *wr, const void *p, size_t n);

#endif
