#ifndef DELTA_H
#define DELTA_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/*
 * librsync deltas and whole-file gzip, as rdiff-backup's increments need
 * them.  This is the only module that includes <librsync.h>; everything
 * else in capback sees file descriptors and cb_err codes.
 *
 * Conventions shared by every function below:
 * - Input descriptors are read with pread(2) from offset 0 (their file
 *   offset is neither used nor moved), falling back to read(2) from the
 *   current offset when the descriptor is not seekable (a pipe).
 * - Output descriptors are written with write(2) at their current offset,
 *   so the output may go to a pipe.  On failure the output holds an
 *   unspecified prefix of the result: the caller discards it.
 * - Descriptors are borrowed: never closed, never fsync'ed.  They must be
 *   in blocking mode (EAGAIN is reported as CB_ERR_SYS).
 * - Returns 0 or a negative cb_err: CB_ERR_SYS (errno is set and preserved)
 *   for a failed system call, CB_ERR_NOMEM, and the codes named per
 *   function.  Nothing is ever printed: delta_reverse and delta_patch turn
 *   librsync's own logging off (rs_trace_to(NULL), process-wide; nothing
 *   else in capback uses librsync).  librsync aborts the process if it
 *   runs out of memory inside its own allocations (acceptable in a
 *   disposable role process, see house style 3.3).
 * - Compressed output is a single gzip member (zlib, level 6); compressed
 *   input may be any valid gzip file, including several concatenated
 *   members.  Zero-length or truncated gzip input is CB_ERR_CORRUPT.
 */

/* No bound on the size of the output of delta_patch / delta_gunzip_copy. */
#define DELTA_NO_LIMIT UINT64_MAX

/*
 * delta_block_len(size):
 * The signature block length rdiff-backup uses for a basis of ${size}
 * bytes (Rdiff._find_blocksize): 64 if size < 10240, else
 * (size >> (bitlen(size) / 2 + 4)) << 4.  Always a multiple of 16 in
 * [64, 2^32 - 16].
 */
uint32_t delta_block_len(uint64_t size);

/*
 * delta_reverse(newfd, oldfd, outfd, compress):
 * Write to ${outfd} a librsync delta (RS_DELTA_MAGIC stream) that turns the
 * content of ${newfd} into the content of ${oldfd}: rdiff-backup's reverse
 * increment, to be applied later with the new file as basis.  Both files
 * are local, so no signature is made: the files are compared at the same
 * offsets first (an edit in place becomes a LITERAL of the bytes that
 * differ), then the old file is searched for the new file's blocks
 * (block length delta_block_len(size of newfd)) with a rolling hash, and
 * every match is checked byte for byte (revdelta.c).  Memory: a few
 * blocks of each file plus 8 bytes per block of the new file (at most
 * about 12, only when the search runs).  If ${compress} is non-zero the
 * delta is written gzip-compressed (for a ".diff.gz" increment).
 * ${newfd} must be a regular file (read with pread; otherwise
 * CB_ERR_BAD_VALUE); ${oldfd} may be any readable descriptor, read once
 * from start to end.  Returns 0, CB_ERR_SYS (errno EIO if the new file
 * got shorter while it was read), CB_ERR_NOMEM or CB_ERR_BAD_VALUE.
 */
int delta_reverse(int newfd, int oldfd, int outfd, int compress);

/*
 * Where an old file differs from the new one, if it was edited in place:
 * delta_reverse_ranges fills this as it makes the delta.  in_place is 1
 * when every COPY of the delta is from the offset it fills (nothing
 * moved) and at most DELTA_RANGES_MAX LITERAL ranges were needed; r[] are
 * then those ranges, old offsets [start, end) in order, and every byte
 * of the old file outside them, below the smaller of the two sizes,
 * equals the new file's byte at the same offset.  Such a delta re-creates
 * the old file from any mix of old and new bytes inside the ranges.
 */
#define DELTA_RANGES_MAX 256
struct delta_ranges {
	int in_place;
	size_t n;
	uint64_t r[DELTA_RANGES_MAX][2];
};

/* delta_reverse, also filling ${rg} (if not NULL). */
int delta_reverse_ranges(int newfd, int oldfd, int outfd, int compress,
    struct delta_ranges *rg);

/*
 * delta_patch(basisfd, deltafd, deltagz, outfd, max_out):
 * Apply the librsync delta read from ${deltafd} (gzip-compressed if
 * ${deltagz} is non-zero, raw otherwise) to the basis ${basisfd}, writing
 * the result to ${outfd} as it goes.  The delta is untrusted (patch.c
 * parses it, not librsync): COPY commands are read from the basis with
 * pread(2) and refused if any part lies outside [0, size of basisfd at
 * the call); empty commands are refused; at most ${max_out} bytes are ever
 * written to ${outfd}.  ${basisfd} must be seekable.
 * Returns 0 once the whole delta (and, if compressed, the gzip trailer,
 * with its CRC) has been consumed and nothing follows it;
 * CB_ERR_CORRUPT for a delta that is malformed, truncated, has bytes after
 * its END command, or copies from outside the basis, and for gzip errors;
 * CB_ERR_TOO_LARGE if the result would exceed ${max_out} bytes;
 * CB_ERR_SYS (errno EIO if the basis got shorter while being read) or
 * CB_ERR_NOMEM.
 */
int
delta_patch(int basisfd, int deltafd, int deltagz, int outfd, uint64_t max_out);

/*
 * A chain applies several deltas in turn (an older version from the
 * mirror: the newest increment first) in one pass.  Each delta is parsed,
 * as by delta_patch, into a map of the version it makes: pieces of the
 * basis, and literal bytes kept in the store ${litfd} (an empty, seekable
 * scratch file the caller owns).  delta_chain_write then writes the last
 * version once, rather than every version between.
 * - delta_chain_new(&c, basefd, litfd): the basis (seekable; COPY is held
 *   to its size now).  0, CB_ERR_SYS or CB_ERR_NOMEM.
 * - delta_chain_add(c, deltafd, gz, max_out): apply the next delta; its
 *   COPY commands are held to the size of the version before it, the
 *   version it makes to ${max_out}.  Returns what delta_patch does, and
 *   CB_ERR_TOO_LARGE also when the map would need more than
 *   DELTA_CHAIN_PIECES_MAX pieces (deltas that scatter copies: the caller
 *   can apply them one at a time instead).  After a failure only
 *   delta_chain_free may follow.
 * - delta_chain_write(c, outfd): write the last version to ${outfd} (at
 *   its offset, as write(2) does).  0, CB_ERR_SYS (EIO if the basis or
 *   the store got shorter) or CB_ERR_NOMEM.
 * Memory: 24 bytes per piece, at most twice DELTA_CHAIN_PIECES_MAX.
 */
#define DELTA_CHAIN_PIECES_MAX ((size_t)1 << 19)
struct delta_chain;
int delta_chain_new(struct delta_chain **cp, int basefd, int litfd);
int
delta_chain_add(struct delta_chain *c, int deltafd, int gz, uint64_t max_out);
int delta_chain_write(struct delta_chain *c, int outfd);
void delta_chain_free(struct delta_chain *c);

/*
 * Reading the last version at any offset without writing it (capback
 * mount): delta_chain_seal(c) once after the last delta_chain_add (the
 * store is written out, what only adding needs is freed: 0 or
 * CB_ERR_SYS); then delta_chain_pread(c, buf, n, off) reads like
 * pread(2) from the version, one pread of the basis or the store per
 * piece it spans: the bytes read (0 at or past the end), or -1 with errno
 * (EIO if the basis or the store got shorter).  delta_chain_size(c) is
 * the version's size.
 */
int delta_chain_seal(struct delta_chain *c);
ssize_t delta_chain_pread(const struct delta_chain *c, uint8_t *buf, size_t n,
    uint64_t off);
uint64_t delta_chain_size(const struct delta_chain *c);

/*
 * delta_gzip_copy(infd, outfd):
 * Write to ${outfd} the gzip compression of everything in ${infd} (for a
 * ".snapshot.gz" increment).  Returns 0, CB_ERR_SYS or CB_ERR_NOMEM.
 */
int delta_gzip_copy(int infd, int outfd);

/*
 * delta_gunzip_copy(infd, outfd, max_out):
 * Decompress the gzip file ${infd} into ${outfd}, writing at most
 * ${max_out} bytes.  Returns 0, CB_ERR_CORRUPT (not gzip, bad data or
 * CRC, truncated, or trailing bytes that are not another gzip member),
 * CB_ERR_TOO_LARGE (the content exceeds ${max_out}), CB_ERR_SYS or
 * CB_ERR_NOMEM.
 */
int delta_gunzip_copy(int infd, int outfd, uint64_t max_out);

/* ---- deltas over the wire ------------------------------------------------
 *
 * A changed file crosses the link as a delta: the writer sends the
 * signature of its mirror copy, the reader answers with the delta that
 * turns it into the source file, the writer patches.  The wire signature
 * has rdiff-backup's block length for the basis size and BLAKE2 sums cut
 * to DELTA_WIRE_STRONG bytes, as rsync cuts its own: a false block match
 * needs the 32-bit rolling sum and 64 bits of BLAKE2 to agree, and the
 * whole file's SHA-1, sent beside the delta, still catches it.
 */

/* Receives output; returns 0 or a cb_err, which ends the job with it. */
typedef int (*delta_out_fn)(void *arg, const uint8_t *p, size_t n);
/* Sees every byte read from a source, in order (e.g. to hash it). */
typedef void (*delta_tap_fn)(void *arg, const uint8_t *p, size_t n);

#define DELTA_WIRE_STRONG    8
#define DELTA_WIRE_BLOCK_MAX (64u * 1024 * 1024)
/* Largest signature accepted.  We send 12 bytes per block (e.g. 32 KiB
 * blocks of a 1 GiB file make 384 KiB); a peer may use up to 36, and
 * 64 MiB covers files of several TiB either way. */
#define DELTA_WIRE_SIG_MAX (64u * 1024 * 1024)

/*
 * delta_signature(basisfd, out, arg):
 * Give ${out} the wire signature of the regular file ${basisfd} (its
 * bytes up to the size fstat reports at the start).  Returns 0,
 * CB_ERR_SYS, CB_ERR_NOMEM, CB_ERR_BAD_VALUE (not a regular file) or what
 * ${out} returned.
 */
int delta_signature(int basisfd, delta_out_fn out, void *arg);

/*
 * delta_signature_check(sig, len): 0 if ${sig} has the header of a wire
 * signature (BLAKE2 magic, block length in [1, DELTA_WIRE_BLOCK_MAX],
 * strong sums of 8..32 bytes) and a whole number of blocks, else
 * CB_ERR_BAD_VALUE.  Untrusted signatures are checked before librsync
 * sees them.
 */
int delta_signature_check(const uint8_t *sig, size_t len);

/*
 * delta_from_signature(sig, siglen, newfd, size, out, oarg, tap, targ):
 * Give ${out} the delta that turns the file ${sig} describes into the
 * first ${size} bytes of ${newfd} (fewer if it ends sooner); ${tap}, if
 * not NULL, sees every byte of ${newfd} that was read.  Returns 0,
 * CB_ERR_BAD_VALUE (signature refused), CB_ERR_CORRUPT (librsync refused
 * it), CB_ERR_SYS (reading ${newfd}), CB_ERR_NOMEM, or what ${out}
 * returned.
 */
int delta_from_signature(const uint8_t *sig, size_t siglen, int newfd,
    uint64_t size, delta_out_fn out, void *oarg, delta_tap_fn tap, void *targ);

/*
 * A patcher applies a delta that arrives in pieces to the basis
 * ${basisfd} (seekable, read with pread), giving the result to ${out}.
 * The delta is untrusted, as in delta_patch.  feed and finish return 0,
 * CB_ERR_CORRUPT, CB_ERR_SYS (basis read), CB_ERR_NOMEM, or what ${out}
 * returned; finish fails unless the delta ended with its END command.
 */
struct delta_patcher;
int delta_patcher_new(struct delta_patcher **pp, int basisfd, delta_out_fn out,
    void *arg);
int delta_patcher_feed(struct delta_patcher *p, const uint8_t *data, size_t n);
int delta_patcher_finish(struct delta_patcher *p);
void delta_patcher_free(struct delta_patcher *p);

#endif
