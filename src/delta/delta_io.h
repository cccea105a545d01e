#ifndef DELTA_IO_H
#define DELTA_IO_H

/*
 * Private to src/delta: the byte sources and sinks delta.c streams
 * through, shared with the reverse-delta engine (revdelta.c).
 */

#include <stddef.h>
#include <stdint.h>

#define ZLIB_CONST
#include <zlib.h>

#include "delta.h"

/* Size of every I/O buffer (rdiff-backup also streams in 64 KiB pieces). */
#define DELTA_BUF ((size_t)64 * 1024)

/* A byte source: a descriptor (or the gzip file it holds), or memory. */
struct source {
	int fd;
	const uint8_t *mem; /* if set, read from here instead of fd */
	size_t memlen;
	uint64_t limit;	  /* raw bytes to read at most (DELTA_NO_LIMIT) */
	delta_tap_fn tap; /* if set, sees every raw byte read */
	void *tap_arg;
	int seekable;	/* pread works; cleared on ESPIPE at offset 0 */
	uint64_t off;	/* next byte to pread */
	int gz;		/* decompress what fd holds */
	int zinit;	/* z needs inflateEnd */
	int raw_eof;	/* fd has no more bytes */
	int member_end; /* inflate finished a gzip member */
	z_stream z;
	uint8_t *zbuf; /* compressed bytes, DELTA_BUF */
};

/*
 * A byte sink: a descriptor (optionally through gzip) or a callback.
 */
struct sink {
	int fd;
	delta_out_fn fn; /* if set, bytes go here */
	void *fn_arg;
	int gz;	   /* compress into fd */
	int zinit; /* z needs deflateEnd */
	z_stream z;
	uint8_t *zbuf;	/* compressed bytes, DELTA_BUF */
	uint64_t max;	/* bound on total */
	uint64_t total; /* bytes accepted so far (before compression) */
};

/* source_init(src, fd, gz): read ${fd}, decompressing if ${gz}. */
int source_init(struct source *src, int fd, int gz);
/* source_read(src, buf, cap, got): next bytes; *got = 0 at the end. */
int source_read(struct source *src, uint8_t *buf, size_t cap, size_t *got);
/* source_release(src): free src's buffers; safe on a zeroed source. */
void source_release(struct source *src);

/*
 * sink_init_fd(s, fd, gz, max):
 * Write to ${fd}, gzip-compressed if ${gz}, at most ${max} bytes before
 * compression.
 */
int sink_init_fd(struct sink *s, int fd, int gz, uint64_t max);
/* sink_put(s, p, n): accept ${n} (<= DELTA_BUF) bytes, within s->max. */
int sink_put(struct sink *s, uint8_t *p, size_t n);
/* sink_finish(s): end the gzip stream; nothing for a raw fd. */
int sink_finish(struct sink *s);
/* sink_release(s): free s's buffers; safe on a zeroed sink. */
void sink_release(struct sink *s);

/*
 * buf_append(buf, len, cap, p, n, flush, arg):
 * Copy ${n} bytes to the end of ${buf} (holding *len of ${cap}), calling
 * flush(arg) whenever it is full; flush must empty it (*len = 0).
 * Returns 0 or what flush returned.
 */
int buf_append(uint8_t *buf, size_t *len, size_t cap, const uint8_t *p,
    size_t n, int (*flush)(void *), void *arg);

/*
 * rev_delta(newfd, newsize, old, out, rg):
 * Write to ${out} (not finished) the librsync delta that turns the first
 * ${newsize} bytes of the regular file ${newfd} into everything ${old}
 * gives, read once from start to end.  Matches are checked by comparing
 * the bytes of both files, never by a hash alone.  Returns 0, CB_ERR_SYS
 * (errno EIO if ${newfd} is shorter than ${newsize}), CB_ERR_NOMEM or
 * what ${out} returned.  ${rg}, if not NULL, is filled as
 * delta_reverse_ranges describes.
 */
int rev_delta(int newfd, uint64_t newsize, struct source *old, struct sink *out,
    struct delta_ranges *rg);

#endif
