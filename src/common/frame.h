#ifndef FRAME_H
#define FRAME_H

#include <stddef.h>
#include <stdint.h>

/*
 * Framing of the byte stream between two roles:
 *
 *	u32 length | u8 type | payload[length]
 *
 * (length counts the payload only, big-endian).  The maximum payload of a
 * frame depends on its type and is checked as soon as the 5-byte header is
 * buffered, before any buffer grows (a peer cannot make us allocate more
 * than the largest maximum of any type).
 */

/*
 * A callback saying the largest payload a frame of ${type} may carry, or
 * -1 if the type is unknown to the receiving role.
 */
typedef long (*frame_max_fn)(uint8_t type);

#define FRAME_HDR_LEN 5
/* No frame of any type may exceed this, whatever the table says. */
#define FRAME_ABS_MAX (4u * 1024 * 1024)

struct frame_in {
	int fd;
	frame_max_fn maxfn;
	uint8_t *buf; /* owned */
	size_t cap;
	size_t start; /* first unconsumed byte */
	size_t end;   /* one past the last buffered byte */
	int eof;
};

/*
 * frame_in_init(fi, fd, maxfn): buffered frame reader on ${fd} (not
 * owned, may be -1 when bytes are supplied by frame_in_push only).
 * frame_in_release(fi) frees the buffer.
 */
void frame_in_init(struct frame_in *fi, int fd, frame_max_fn maxfn);
void frame_in_release(struct frame_in *fi);

/*
 * frame_in_push(fi, p, n): append ${n} bytes (copied) as if read from
 * the fd.  Returns 0 or CB_ERR_NOMEM / CB_ERR_TOO_LARGE (what is
 * buffered plus ${n} would exceed FRAME_ABS_MAX + FRAME_HDR_LEN).
 * Invalidates payloads borrowed from earlier frames.
 */
int frame_in_push(struct frame_in *fi, const void *p, size_t n);

/*
 * frame_in_fill(fi): one read(2) from the fd into the buffer.  Returns the
 * number of bytes read (> 0), 0 at end of file (fi->eof is set),
 * CB_ERR_NOMEM, or CB_ERR_SYS (errno EAGAIN for a non-blocking fd with
 * nothing to read; ENOBUFS when the buffer is full of frames nobody
 * took).  EINTR is retried.  Invalidates borrowed payloads.
 */
long frame_in_fill(struct frame_in *fi);

/*
 * frame_in_next(fi, type, payload, len):
 * If a complete frame is buffered, consume it and return 0 with *payload
 * borrowing from the buffer (valid until the next call on ${fi}); on
 * failure *type, *payload and *len are zeroed.
 * Returns CB_ERR_TRUNCATED when more bytes are needed (nothing consumed),
 * CB_ERR_PROTO for a type the maxfn does not know, CB_ERR_TOO_LARGE for a
 * length beyond the type's maximum (both decided from the header alone).
 */
int frame_in_next(struct frame_in *fi, uint8_t *type, const uint8_t **payload,
    size_t *len);

/*
 * frame_in_get(fi, type, payload, len):
 * Blocking: frame_in_next, reading from the fd as needed.  Returns as
 * frame_in_next, or CB_ERR_EOF if the stream ends cleanly between frames,
 * CB_ERR_TRUNCATED if it ends inside a frame, CB_ERR_SYS on read errors.
 */
int frame_in_get(struct frame_in *fi, uint8_t *type, const uint8_t **payload,
    size_t *len);

/* frame_in_buffered(fi): bytes buffered and not yet consumed. */
size_t frame_in_buffered(const struct frame_in *fi);

struct frame_out {
	int fd;
	uint8_t *buf; /* owned */
	size_t cap;
	size_t start;
	size_t end;
	int lent;    /* frame_out_sendfile moved bytes since frame_out_settle */
	int settles; /* frame_out_settle waits: set by the caller, 0 at init */
};

/* frame_out_init(fo, fd) / frame_out_release(fo). */
void frame_out_init(struct frame_out *fo, int fd);
void frame_out_release(struct frame_out *fo);

/*
 * frame_put(fo, type, payload, len): queue one frame (copied).  Returns 0,
 * CB_ERR_TOO_LARGE (len > FRAME_ABS_MAX) or CB_ERR_NOMEM.
 */
int
frame_put(struct frame_out *fo, uint8_t type, const void *payload, size_t len);

/*
 * frame_put_space(fo, max, &payload) / frame_put_commit(fo, type, n):
 * queue a frame whose payload is written in place (read(2) straight into
 * the queue, no copy).  frame_put_space makes room for a payload of up to
 * ${max} bytes and points ${payload} at it (0, CB_ERR_TOO_LARGE or
 * CB_ERR_NOMEM); frame_put_commit then queues the frame with the first
 * ${n} <= max bytes.  Nothing may be queued in between.
 */
int frame_put_space(struct frame_out *fo, size_t max, uint8_t **payload);
void frame_put_commit(struct frame_out *fo, uint8_t type, size_t n);

/*
 * frame_out_sendfile(fo, type, fd, off, n, &got, &ferr):
 * Write what is queued, then a frame of ${n} bytes whose payload is
 * [off, off + n) of the regular file ${fd}, moved by the kernel
 * (sendfile(2): no copy through our memory).  Should ${fd} end or fail
 * first, the rest is read with pread(2) and, if that fails too, filled
 * with zeros: the frame is always whole.  *got counts the bytes that are
 * the file's, and *ferr is 0, or the errno of the read that failed (0
 * with *got < n: the file ended).  Returns 0 or CB_ERR_SYS (the *stream*
 * failed), CB_ERR_TOO_LARGE, CB_ERR_NOMEM.
 */
int frame_out_sendfile(struct frame_out *fo, uint8_t type, int fd, uint64_t off,
    size_t n, size_t *got, int *ferr);

/*
 * frame_out_settle(fo): wait until the receiver has taken everything that
 * frame_out_sendfile moved since the last call.  sendfile(2) into a pipe
 * or a unix socket lends the file's page-cache pages rather than copying
 * them (splice), so the receiver copies the bytes only when it reads: a
 * file changed before that reaches it as changed.  A sender that checks
 * the file afterwards (xfer_send_file: "did it change while it was
 * read?") settles first, so that no change can fall between its check and
 * the receiver's copy.  Waits while the pipe (FIONREAD) or socket
 * (SIOCOUTQ) holds bytes not yet read, and the receiver is still there;
 * any other descriptor, or an ioctl that fails, is not waited for.  Only
 * with fo->settles set (the reader): the writer sending a restore reads
 * a locked repository, and the restorer checks every file's digest, so
 * its waits would only cost time (6% of a restore of the debian tree).
 */
void frame_out_settle(struct frame_out *fo);

/* frame_out_pending(fo): bytes queued and not yet written. */
size_t frame_out_pending(const struct frame_out *fo);

/*
 * frame_out_flush(fo): write everything queued, blocking (EINTR retried,
 * EAGAIN waited out with poll).  Returns 0 or CB_ERR_SYS (EPIPE when the
 * peer is gone -- callers must ignore SIGPIPE to see it).
 */
int frame_out_flush(struct frame_out *fo);

/*
 * frame_out_write_some(fo): one write(2) of queued bytes.  Returns 0 (some
 * or no progress: EAGAIN is not an error) or CB_ERR_SYS.
 */
int frame_out_write_some(struct frame_out *fo);

#endif
