#include "frame.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"

/* Preferred read size, and the buffer a reader may keep without a frame. */
#define FRAME_CHUNK (64u * 1024)
/* Smallest allocation of an output buffer. */
#define FRAME_OUT_MINCAP 256u
/* Bytes read at a time when a sent file is read after all (fo_fill). */
#define FO_FILL_CHUNK (64u * 1024)
/* Largest input buffer frame_in_push may create. */
#define FRAME_IN_PUSH_MAX ((size_t)FRAME_ABS_MAX + FRAME_HDR_LEN)

static uint32_t
be32(const uint8_t *b)
{
	return (uint32_t)b[0] << 24 | (uint32_t)b[1] << 16 |
	    (uint32_t)b[2] << 8 | (uint32_t)b[3];
}

static void
put_be32(uint8_t *b, uint32_t v)
{
	b[0] = (uint8_t)(v >> 24);
	b[1] = (uint8_t)(v >> 16);
	b[2] = (uint8_t)(v >> 8);
	b[3] = (uint8_t)v;
}

static size_t
min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static size_t
max_size(size_t a, size_t b)
{
	return a > b ? a : b;
}

/*
 * Buffer internals are a security invariant (every bound below relies on
 * them), so an inconsistency aborts in every build.
 */
static void
fi_check(const struct frame_in *fi)
{
	if (fi->start > fi->end || fi->end > fi->cap ||
	    (fi->buf == NULL && fi->cap != 0))
		abort();
}

static void
fo_check(const struct frame_out *fo)
{
	if (fo->start > fo->end || fo->end > fo->cap ||
	    (fo->buf == NULL && fo->cap != 0))
		abort();
}

void
frame_in_init(struct frame_in *fi, int fd, frame_max_fn maxfn)
{
	fi->fd = fd;
	fi->maxfn = maxfn;
	fi->buf = NULL;
	fi->cap = 0;
	fi->start = 0;
	fi->end = 0;
	fi->eof = 0;
}

void
frame_in_release(struct frame_in *fi)
{
	free(fi->buf);
	frame_in_init(fi, fi->fd, fi->maxfn);
}

size_t
frame_in_buffered(const struct frame_in *fi)
{
	fi_check(fi);
	return fi->end - fi->start;
}

/* Move the unconsumed bytes to the front of the buffer. */
static void
fi_compact(struct frame_in *fi)
{
	size_t n = fi->end - fi->start;

	if (fi->start == 0)
		return;
	if (n > 0)
		memmove(fi->buf, fi->buf + fi->start, n);
	fi->start = 0;
	fi->end = n;
}

/* Resize the buffer to ${ncap} (> cap) bytes.  0 or CB_ERR_NOMEM. */
static int
fi_resize(struct frame_in *fi, size_t ncap)
{
	uint8_t *p;

	if ((p = realloc(fi->buf, ncap)) == NULL)
		return CB_ERR_NOMEM;
	fi->buf = p;
	fi->cap = ncap;
	return 0;
}

/*
 * fi_hdr_check(fi, type, len):
 * Decode and validate the header at fi->start (FRAME_HDR_LEN bytes must be
 * buffered).  Returns 0, CB_ERR_PROTO or CB_ERR_TOO_LARGE.
 */
static int
fi_hdr_check(const struct frame_in *fi, uint8_t *type, size_t *len)
{
	const uint8_t *h = fi->buf + fi->start;
	uint32_t n = be32(h);
	long max;

	*type = h[4];
	*len = 0;
	/* The peer is untrusted: the type decides the bound on the length. */
	if ((max = fi->maxfn(h[4])) < 0)
		return CB_ERR_PROTO;
	if ((unsigned long)n > (unsigned long)max || n > FRAME_ABS_MAX)
		return CB_ERR_TOO_LARGE;
	*len = n;
	return 0;
}

/*
 * fi_frame_need(fi):
 * Total bytes (header included) of the frame at fi->start: FRAME_HDR_LEN
 * while the header is incomplete, 0 if the header is invalid (nothing may
 * be allocated on its behalf).
 */
static size_t
fi_frame_need(const struct frame_in *fi)
{
	uint8_t type;
	size_t len;

	if (fi->end - fi->start < FRAME_HDR_LEN)
		return FRAME_HDR_LEN;
	if (fi_hdr_check(fi, &type, &len) != 0)
		return 0;
	return FRAME_HDR_LEN + len;
}

/*
 * fi_room(fi, low, want, lim):
 * Ensure at least ${low} free bytes after fi->end: compact first, then
 * grow geometrically, to at least fi->end + ${want} (>= ${low}) but never
 * to more than ${lim} bytes (callers guarantee buffered + want <= lim).
 * 0 or CB_ERR_NOMEM.
 */
static int
fi_room(struct frame_in *fi, size_t low, size_t want, size_t lim)
{
	if (fi->start == fi->end)
		fi->start = fi->end = 0;
	if (low <= fi->cap - fi->end)
		return 0;
	fi_compact(fi);
	if (low <= fi->cap - fi->end)
		return 0;
	return fi_resize(fi,
	    min_size(max_size(fi->cap * 2, fi->end + want), lim));
}

/*
 * fi_limit(fi):
 * The largest buffer the current state justifies: FRAME_CHUNK, or the
 * whole current frame if larger (its header already validated).
 */
static size_t
fi_limit(const struct frame_in *fi)
{
	return max_size(fi_frame_need(fi), FRAME_CHUNK);
}

int
frame_in_push(struct frame_in *fi, const void *p, size_t n)
{
	size_t buffered;
	int r;

	fi_check(fi);
	if (n == 0)
		return 0;
	buffered = fi->end - fi->start;
	if (buffered > FRAME_IN_PUSH_MAX || n > FRAME_IN_PUSH_MAX - buffered)
		return CB_ERR_TOO_LARGE;
	/* The caller's bytes must all be kept, whatever the frame needs. */
	r = fi_room(fi, n, n, max_size(fi_limit(fi), buffered + n));
	if (r != 0)
		return r;
	memcpy(fi->buf + fi->end, p, n);
	fi->end += n;
	return 0;
}

/*
 * fi_make_room(fi):
 * Arrange free space for the next read.  Within fi_limit() the buffer
 * grows geometrically, so a peer claiming a large frame must actually send
 * the bytes before we allocate for them; an invalid header justifies no
 * growth at all.  Returns 0, CB_ERR_NOMEM, or CB_ERR_SYS (ENOBUFS: the
 * buffer is full of frames nobody consumed).
 */
static int
fi_make_room(struct frame_in *fi)
{
	size_t buffered = fi->end - fi->start, need, lim, want;
	int r;

	need = fi_frame_need(fi);
	lim = need == 0 ? fi->cap : max_size(need, FRAME_CHUNK);
	want = lim > buffered ? min_size(lim - buffered, FRAME_CHUNK) : 0;
	/*
	 * Half of what we would like is enough to read into: a frame must
	 * fill most of the buffer before it grows.
	 */
	if ((r = fi_room(fi, (want + 1) / 2, want, lim)) != 0)
		return r;
	if (fi->cap == fi->end)
		fi_compact(fi);
	if (fi->cap == fi->end) {
		errno = ENOBUFS;
		return CB_ERR_SYS;
	}
	return 0;
}

long
frame_in_fill(struct frame_in *fi)
{
	ssize_t n;
	int r;

	fi_check(fi);
	if ((r = fi_make_room(fi)) != 0)
		return r;
	do
		n = read(fi->fd, fi->buf + fi->end, fi->cap - fi->end);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return CB_ERR_SYS;
	if (n == 0)
		fi->eof = 1;
	fi->end += (size_t)n;
	return (long)n;
}

int
frame_in_next(struct frame_in *fi, uint8_t *type, const uint8_t **payload,
    size_t *len)
{
	uint8_t t;
	size_t n;
	int r;

	fi_check(fi);
	*type = 0;
	*payload = NULL;
	*len = 0;
	if (fi->end - fi->start < FRAME_HDR_LEN)
		return CB_ERR_TRUNCATED;
	/* Decide from the header alone, before anything grows. */
	if ((r = fi_hdr_check(fi, &t, &n)) != 0)
		return r;
	if (n > fi->end - fi->start - FRAME_HDR_LEN)
		return CB_ERR_TRUNCATED;
	*type = t;
	*payload = fi->buf + fi->start + FRAME_HDR_LEN;
	*len = n;
	fi->start += FRAME_HDR_LEN + n;
	return 0;
}

/* Wait until ${fd} is ready for ${events}.  0 or CB_ERR_SYS. */
static int
wait_fd(int fd, short events)
{
	struct pollfd pfd;

	pfd.fd = fd;
	pfd.events = events;
	pfd.revents = 0;
	while (poll(&pfd, 1, -1) < 0)
		if (errno != EINTR)
			return CB_ERR_SYS;
	if (pfd.revents & POLLNVAL) {
		errno = EBADF;
		return CB_ERR_SYS;
	}
	/* POLLERR / POLLHUP: the next read or write reports what happened. */
	return 0;
}

int
frame_in_get(struct frame_in *fi, uint8_t *type, const uint8_t **payload,
    size_t *len)
{
	long n;
	int r;

	for (;;) {
		r = frame_in_next(fi, type, payload, len);
		if (r != CB_ERR_TRUNCATED)
			return r;
		if (fi->eof)
			return frame_in_buffered(fi) == 0 ? CB_ERR_EOF :
							    CB_ERR_TRUNCATED;
		if ((n = frame_in_fill(fi)) >= 0)
			continue;
		if (n != CB_ERR_SYS ||
		    (errno != EAGAIN && errno != EWOULDBLOCK))
			return (int)n;
		/* Non-blocking fd with nothing to read: wait for it. */
		if ((r = wait_fd(fi->fd, POLLIN)) != 0)
			return r;
	}
}

void
frame_out_init(struct frame_out *fo, int fd)
{
	fo->fd = fd;
	fo->buf = NULL;
	fo->cap = 0;
	fo->start = 0;
	fo->end = 0;
	fo->lent = 0;
	fo->settles = 0;
}

void
frame_out_release(struct frame_out *fo)
{
	free(fo->buf);
	frame_out_init(fo, fo->fd);
}

size_t
frame_out_pending(const struct frame_out *fo)
{
	fo_check(fo);
	return fo->end - fo->start;
}

/*
 * fo_reserve(fo, n):
 * Make room for ${n} more bytes at fo->end, reusing the space of bytes
 * already written before growing.  0 or CB_ERR_NOMEM.
 */
static int
fo_reserve(struct frame_out *fo, size_t n)
{
	size_t pending = fo->end - fo->start, ncap;
	uint8_t *p;

	if (n <= fo->cap - fo->end)
		return 0;
	if (fo->start > 0) {
		if (pending > 0)
			memmove(fo->buf, fo->buf + fo->start, pending);
		fo->start = 0;
		fo->end = pending;
		if (n <= fo->cap - fo->end)
			return 0;
	}
	if (n > SIZE_MAX - fo->end)
		return CB_ERR_NOMEM;
	ncap = fo->cap < FRAME_OUT_MINCAP ? FRAME_OUT_MINCAP : fo->cap;
	while (ncap < fo->end + n)
		ncap = ncap > SIZE_MAX / 2 ? fo->end + n : ncap * 2;
	if ((p = realloc(fo->buf, ncap)) == NULL)
		return CB_ERR_NOMEM;
	fo->buf = p;
	fo->cap = ncap;
	return 0;
}

int
frame_put(struct frame_out *fo, uint8_t type, const void *payload, size_t len)
{
	uint8_t *p;
	int r;

	if ((r = frame_put_space(fo, len, &p)) != 0)
		return r;
	if (len > 0)
		memcpy(p, payload, len);
	frame_put_commit(fo, type, len);
	return 0;
}

int
frame_put_space(struct frame_out *fo, size_t max, uint8_t **payload)
{
	int r;

	fo_check(fo);
	*payload = NULL;
	if (max > FRAME_ABS_MAX)
		return CB_ERR_TOO_LARGE;
	if ((r = fo_reserve(fo, FRAME_HDR_LEN + max)) != 0)
		return r;
	*payload = fo->buf + fo->end + FRAME_HDR_LEN;
	return 0;
}

void
frame_put_commit(struct frame_out *fo, uint8_t type, size_t n)
{
	uint8_t *h = fo->buf + fo->end;

	put_be32(h, (uint32_t)n);
	h[4] = type;
	fo->end += FRAME_HDR_LEN + n;
	fo_check(fo);
}

/*
 * fo_write(fo):
 * One write(2) of pending bytes, EINTR retried.  Returns the count
 * written or -1 with errno set.
 */
static ssize_t
fo_write(struct frame_out *fo)
{
	ssize_t n;

	do
		n = write(fo->fd, fo->buf + fo->start, fo->end - fo->start);
	while (n < 0 && errno == EINTR);
	if (n > 0) {
		fo->start += (size_t)n;
		/* Drained: reuse the buffer from the front. */
		if (fo->start == fo->end)
			fo->start = fo->end = 0;
	}
	return n;
}

int
frame_out_flush(struct frame_out *fo)
{
	ssize_t n;

	fo_check(fo);
	while (fo->end > fo->start) {
		n = fo_write(fo);
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fo->fd, POLLOUT) != 0)
				return CB_ERR_SYS;
		} else if (n < 0) {
			return CB_ERR_SYS;
		} else if (n == 0) {
			/* No progress and no error: do not spin forever. */
			errno = EPIPE;
			return CB_ERR_SYS;
		}
	}
	return 0;
}

/*
 * fo_fill(fo, fd, off, n, got, ferr):
 * The last ${n} bytes of a frame through our memory: read with pread(2)
 * while the file gives bytes (they count in *got), zeros once it ends or
 * fails (*ferr), each piece written out at once.
 */
static int
fo_fill(struct frame_out *fo, int fd, uint64_t off, size_t n, size_t *got,
    int *ferr)
{
	int reading = 1, r;
	size_t want;
	ssize_t k;

	while (n > 0) {
		want = min_size(n, FO_FILL_CHUNK);
		if ((r = fo_reserve(fo, want)) != 0)
			return r;
		k = reading ? pread(fd, fo->buf + fo->end, want, (off_t)off) :
			      0;
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0)
			*ferr = errno;
		if (k > 0)
			*got += (size_t)k;
		else {
			reading = 0;
			memset(fo->buf + fo->end, 0, want);
			k = (ssize_t)want;
		}
		fo->end += (size_t)k;
		off += (uint64_t)k;
		n -= (size_t)k;
		if ((r = frame_out_flush(fo)) != 0)
			return r;
	}
	return 0;
}

int
frame_out_sendfile(struct frame_out *fo, uint8_t type, int fd, uint64_t off,
    size_t n, size_t *got, int *ferr)
{
	off_t o = (off_t)off;
	ssize_t k;
	int r;

	fo_check(fo);
	*got = 0;
	*ferr = 0;
	if (n > FRAME_ABS_MAX)
		return CB_ERR_TOO_LARGE;
	if ((r = fo_reserve(fo, FRAME_HDR_LEN)) != 0)
		return r;
	put_be32(fo->buf + fo->end, (uint32_t)n);
	fo->buf[fo->end + 4] = type;
	fo->end += FRAME_HDR_LEN;
	if ((r = frame_out_flush(fo)) != 0)
		return r;
	while (*got < n) {
		k = sendfile(fo->fd, fd, &o, n - *got);
		if (k > 0) {
			fo->lent = 1;
			*got += (size_t)k;
			continue;
		}
		if (k < 0 && errno == EINTR)
			continue;
		if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (wait_fd(fo->fd, POLLOUT) != 0)
				return CB_ERR_SYS;
			continue;
		}
		/*
		 * The file ended, or sendfile failed on one side or the
		 * other: the rest goes through our memory, where a read
		 * that fails is the file's and a write that fails the
		 * stream's.
		 */
		return fo_fill(fo, fd, off + *got, n - *got, got, ferr);
	}
	return 0;
}

void
frame_out_settle(struct frame_out *fo)
{
	struct stat st;
	unsigned long req;
	long pause_ns = 10000;
	int left;

	if (!fo->lent || !fo->settles) {
		fo->lent = 0;
		return;
	}
	fo->lent = 0;
	if (fstat(fo->fd, &st) != 0)
		return;
	if (S_ISFIFO(st.st_mode))
		req = FIONREAD;
	else if (S_ISSOCK(st.st_mode))
		req = SIOCOUTQ;
	else
		return;
	/* No event says "empty": look, then pause, 10 us growing to 1 ms
	 * (a receiver takes the 1 MiB a pipe holds in about a ms).  The
	 * pause is a poll for no event, which ends it early if the receiver
	 * is gone (POLLERR, POLLHUP): then nothing will ever be taken. */
	while (ioctl(fo->fd, req, &left) == 0 && left > 0) {
		struct timespec ts = { 0, pause_ns };
		struct pollfd pfd = { fo->fd, 0, 0 };
		int n = ppoll(&pfd, 1, &ts, NULL);

		if (n > 0 || (n < 0 && errno != EINTR))
			return;
		if (pause_ns < 1000000)
			pause_ns *= 2;
	}
}

int
frame_out_write_some(struct frame_out *fo)
{
	ssize_t n;

	fo_check(fo);
	if (fo->end == fo->start)
		return 0;
	n = fo_write(fo);
	if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
		return CB_ERR_SYS;
	return 0;
}
