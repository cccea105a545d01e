#ifndef HASHBEHIND_H
#define HASHBEHIND_H

#include <stdint.h>
#include <openssl/evp.h>

/*
 * Hashing behind the writes: a second thread computes the SHA-1 of a file
 * while it is still being received, reading back what was written (from
 * the page cache), so that on two cores the digest costs the receiving
 * thread nothing.  One file at a time per process; the thread is started
 * on first use, inside the caller's sandbox, whose seccomp filter,
 * Landlock domain and capabilities it inherits.
 *
 *	hb_begin(fd, sha, hashed)	the thread takes over ${sha}, which
 *					holds the first ${hashed} bytes
 *	hb_written(end)			[0, end) of fd may now be read
 *	hb_end(end, &err)		wait for [0, end) to be hashed;
 *					${sha} is the caller's again
 *	hb_abandon()			stop, wait, ${sha} is the caller's
 *
 * ${fd} must be open for reading and stay open until hb_end/hb_abandon.
 */

/* hb_begin: 0, or -1 if no thread can be had (hash in line instead). */
int hb_begin(int fd, EVP_MD_CTX *sha, uint64_t hashed);
void hb_written(uint64_t end);
/* hb_end: 0, or -1 with *err the errno of a read that failed (EIO: the
 * file ended before ${end}). */
int hb_end(uint64_t end, int *err);
void hb_abandon(void);

#endif
