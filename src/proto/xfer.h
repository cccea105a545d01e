#ifndef XFER_H
#define XFER_H

#include <errno.h>
#include <stdint.h>
#include <stddef.h>
#include <openssl/evp.h>

struct frame_out;

/*
 * Moving one file's content over the stream:
 *	FILE(seq, size)  { DATA | HOLE }*  FILE_END(errno, flags [, SHA-1])
 * FILE_END carries the SHA-1 of the content sent when both HELLOs set
 * HELLO_DIGESTS (a pull: the host hashes what it reads anyway).
 */

/* Queued bytes at which xfer_send_file flushes; callers flush the rest
 * before they wait for their peer. */
#define XFER_FLUSH_AT (64u * 1024)

/* Pieces of a file at least this long are sent by sendfile(2). */
#define XFER_SENDFILE_MIN (64u * 1024)

/*
 * The error FILE_END reports when the file ended inside a DATA frame sent
 * by sendfile: the frame was filled up with zeros, so the content must not
 * be used (the file shrank while it was read).
 */
#define XFER_ERR_SHRANK ENODATA

/*
 * xfer_send_file(fo, fd, seq, st, digest):
 * Queue FILE, the content of ${fd} from offset 0 to its end (holes found
 * with SEEK_DATA/SEEK_HOLE travel as HOLE frames, probed only when the
 * file's blocks do not cover its size) and FILE_END; flush once
 * XFER_FLUSH_AT bytes are queued.  ${st} is fstat of ${fd} when the
 * caller has it, else NULL.  A read error ends the content early and is
 * reported in FILE_END (errno), so the peer never mistakes a partial file
 * for a whole one.  With ${digest}, every byte passes through our memory
 * (no sendfile) and FILE_END carries the SHA-1 of what was sent, holes as
 * zeros.  Returns 0, CB_ERR_NOMEM, or CB_ERR_SYS when the *stream*
 * failed.
 */
struct stat;
int xfer_send_file(struct frame_out *fo, int fd, uint64_t seq,
    const struct stat *st, int digest);

/*
 * xfer_send_digest(fo, fd, seq): queue DIGEST(seq, errno, flags, SHA-1)
 * of the whole content of ${fd} (holes read as zeros), FILE_CHANGED when
 * it changed while read; ${fd} < 0: DIGEST with errno (from errno), the
 * SHA-1 zeros.  Returns 0, CB_ERR_NOMEM, or CB_ERR_SYS when the *stream*
 * failed.
 */
int xfer_send_digest(struct frame_out *fo, int fd, uint64_t seq);

/* xfer_put_u64pair(fo, type, a, b): queue a frame of two u64 fields. */
int
xfer_put_u64pair(struct frame_out *fo, uint8_t type, uint64_t a, uint64_t b);

/*
 * xfer_send_delta(fo, fd, seq, sig, siglen):
 *	DELTA(seq, size)  DATA*  DELTA_END(errno, flags, SHA-1)
 * The delta turns the file the wire signature ${sig} (from the peer,
 * untrusted) describes into the content of ${fd}; the SHA-1 is that of
 * the bytes read.  A read error is reported in DELTA_END.  Returns 0,
 * CB_ERR_BAD_VALUE or CB_ERR_CORRUPT for a signature that is refused,
 * CB_ERR_NOMEM, or CB_ERR_SYS when the *stream* failed.
 */
int xfer_send_delta(struct frame_out *fo, int fd, uint64_t seq,
    const uint8_t *sig, size_t siglen);

/* xfer_send_failed(fo, seq, err): FILE + FILE_END(err) for an unopenable file. */
int xfer_send_failed(struct frame_out *fo, uint64_t seq, int err);

/*
 * The receiving side: content is written to ${fd} (positioned writes
 * from 0; holes are left unwritten) and hashed with SHA-1, beyond
 * XFER_BEHIND_MIN bytes by a second thread when ${fd} is open O_RDWR.  With ${fd}
 * -1 the content is only hashed and counted (compare --method hash).
 */
struct xfer_sink {
	int fd;
	uint64_t off;
	uint64_t written; /* end of the last pwrite (fd new and empty) */
	uint64_t limit;	  /* refuse content beyond this (bytes) */
	EVP_MD_CTX *sha;  /* owned */
	int readable;	  /* fd is open for reading too (-1: not asked) */
	int slot;	  /* sha is with the hashing thread (hashbehind.h)
			   * in this slot; -1: hashed in line */
	int nohash;	  /* xfer_sink_nohash: content is not hashed */
};

/* Content at which the SHA-1 of a file being received moves to a second
 * thread that reads it back (hashbehind.h), if the file can be read. */
#define XFER_BEHIND_MIN ((uint64_t)64 * 1024)

/* xfer_sink_init: ${fd} is a new, empty file (or -1: digest only).
 * 0 or CB_ERR_NOMEM; xfer_sink_release frees (always call). */
int xfer_sink_init(struct xfer_sink *s, int fd, uint64_t limit);
void xfer_sink_release(struct xfer_sink *s);
/* xfer_sink_nohash(s): before any content: write it without hashing it
 * (the sender's digest is taken); xfer_sink_finish gives zeros. */
void xfer_sink_nohash(struct xfer_sink *s);
/* xfer_sink_data / xfer_sink_hole: 0, CB_ERR_SYS (write), CB_ERR_TOO_LARGE. */
int xfer_sink_data(struct xfer_sink *s, const uint8_t *p, size_t n);
int xfer_sink_hole(struct xfer_sink *s, uint64_t n);
/*
 * xfer_sink_seal(s): the content is complete: set the file's length and
 * let the hashing thread finish on its own; xfer_sink_finish then only
 * waits for the digest.  The caller may go on with other work (and other
 * sinks, hashed in line while this one is behind) meanwhile; ${fd} must
 * stay open until xfer_sink_finish.  0 or CB_ERR_SYS.
 */
int xfer_sink_seal(struct xfer_sink *s);
/* xfer_sink_done(s): 1 if xfer_sink_finish would not wait for the
 * hashing thread (call after xfer_sink_seal). */
int xfer_sink_done(const struct xfer_sink *s);
/* xfer_sink_finish(s, sha1): set the file length, return the digest. */
int xfer_sink_finish(struct xfer_sink *s, uint8_t sha1[20]);
/* xfer_sink_move(to, from): ${to} takes over ${from}, which is left
 * released (xfer_sink_init it again to reuse it). */
void xfer_sink_move(struct xfer_sink *to, struct xfer_sink *from);

/*
 * xfer_decode_file_end(p, len, err, flags, sha1): 0 for a FILE_END
 * without a digest, 1 with one (into ${sha1}; refused, CB_ERR_TOO_LARGE,
 * when ${sha1} is NULL: not asked for), or an error (CB_ERR_*).
 */
int xfer_decode_file_end(const uint8_t *p, size_t len, uint32_t *err,
    uint64_t *flags, uint8_t *sha1);

/*
 * xfer_sha1_fd(fd, out): the SHA-1 of the whole content of ${fd} (read
 * with pread from offset 0).  0, CB_ERR_NOMEM or CB_ERR_SYS (errno).
 */
int xfer_sha1_fd(int fd, uint8_t out[20]);

#endif
