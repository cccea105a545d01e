#ifndef HASHBEHIND_H
#define HASHBEHIND_H

#include <stdint.h>
#include <openssl/evp.h>

/*
 * Hashing behind the writes: a second thread computes the SHA-1 of files
 * while they are still being received, reading back what was written
 * (from the page cache), so that on two cores the digest costs the
 * receiving thread nothing.  Up to HB_SLOTS files are in its hands at
 * once, hashed in the order they were begun: the caller may go on to the
 * next file while the last ones are hashed.  The thread is started on
 * first use, inside the caller's sandbox, whose seccomp filter, Landlock
 * domain and capabilities it inherits.  Only one thread may call these.
 *
 *	k = hb_begin(fd, sha, hashed)	the thread takes over ${sha}, which
 *					holds the first ${hashed} bytes
 *	hb_written(k, end)		[0, end) of fd may now be read
 *	hb_done(k)			1 if hb_end would not wait
 *	hb_end(k, end, &err)		wait for [0, end) to be hashed;
 *					${sha} is the caller's again
 *	hb_abandon(k)			stop, wait, ${sha} is the caller's
 *
 * ${fd} must be open for reading and stay open until hb_end/hb_abandon.
 */
#define HB_SLOTS 16

/* hb_begin: a slot (>= 0), or -1 if none is free or no thread can be had
 * (hash in line instead). */
int hb_begin(int fd, EVP_MD_CTX *sha, uint64_t hashed);
void hb_written(int k, uint64_t end);
/* hb_done: 1 if all that hb_written gave is hashed (or a read failed). */
int hb_done(int k);
/* hb_end: 0, or -1 with *err the errno of a read that failed (EIO: the
 * file ended before ${end}). */
int hb_end(int k, uint64_t end, int *err);
void hb_abandon(int k);

#endif
