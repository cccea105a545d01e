#include "xfer.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "delta.h"
#include "frame.h"
#include "fsutil.h"
#include "hashbehind.h"
#include "msg.h"
#include "wire.h"

int
xfer_put_u64pair(struct frame_out *fo, uint8_t type, uint64_t a, uint64_t b)
{
	uint8_t buf[16];
	int i;

	for (i = 0; i < 8; i++) {
		buf[i] = (uint8_t)(a >> (56 - 8 * i));
		buf[8 + i] = (uint8_t)(b >> (56 - 8 * i));
	}
	return frame_put(fo, type, buf, 16);
}

/* FILE_END; with ${sha1} (not NULL) the digest too. */
static int
put_file_end(struct frame_out *fo, uint32_t err, uint64_t flags,
    const uint8_t *sha1)
{
	uint8_t buf[32];
	int i;

	for (i = 0; i < 4; i++)
		buf[i] = (uint8_t)(err >> (24 - 8 * i));
	for (i = 0; i < 8; i++)
		buf[4 + i] = (uint8_t)(flags >> (56 - 8 * i));
	if (sha1 != NULL)
		memcpy(buf + 12, sha1, 20);
	return frame_put(fo, MSG_FILE_END, buf, sha1 != NULL ? 32 : 12);
}

int
xfer_send_failed(struct frame_out *fo, uint64_t seq, int err)
{
	int r;

	if ((r = xfer_put_u64pair(fo, MSG_FILE, seq, 0)) != 0 ||
	    (r = put_file_end(fo, (uint32_t)err, 0, NULL)) != 0)
		return r;
	/* Flushed as xfer_send_file's are: at XFER_FLUSH_AT, and by every
	 * caller before it waits for its peer. */
	if (frame_out_pending(fo) >= XFER_FLUSH_AT)
		r = frame_out_flush(fo);
	return r;
}

/*
 * Send [off, end) as DATA frames: pieces of XFER_SENDFILE_MIN bytes or
 * more by sendfile(2), the rest read straight into the output queue.
 * (sendfile spares the sender two copies of every byte: into our memory,
 * and from it into the socket or pipe.)  With ${sha} every piece is read
 * into the queue and hashed there.
 * Returns 0, or errno of a read error (>0): XFER_ERR_SHRANK if the file
 * ended inside a frame already announced.
 */
static int
send_range(struct frame_out *fo, int fd, uint64_t off, uint64_t end,
    uint64_t *sent, int *stream_err, EVP_MD_CTX *sha)
{
	while (off < end) {
		size_t want = end - off > MSG_DATA_MAX ? MSG_DATA_MAX :
							 (size_t)(end - off);
		uint8_t *p;
		ssize_t n;
		struct stat st;
		size_t got;
		int ferr;

		/* The frame is announced before its bytes are moved: only
		 * when the file still holds them all (else the piece is read
		 * below, where a file that shrank ends it cleanly). */
		if (sha == NULL && want >= XFER_SENDFILE_MIN &&
		    fstat(fd, &st) == 0 && (uint64_t)st.st_size >= off + want) {
			if ((*stream_err = frame_out_sendfile(fo, MSG_DATA, fd,
				 off, want, &got, &ferr)) != 0)
				return 0;
			if (got < want)
				return ferr != 0 ? ferr : XFER_ERR_SHRANK;
			off += want;
			*sent = off;
			continue;
		}
		if ((*stream_err = frame_put_space(fo, want, &p)) != 0)
			return 0;
		n = pread(fd, p, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return errno;
		if (n == 0)
			break; /* shrank while reading */
		if (sha != NULL)
			EVP_DigestUpdate(sha, p, (size_t)n);
		frame_put_commit(fo, MSG_DATA, (size_t)n);
		if (frame_out_pending(fo) >= 4 * MSG_DATA_MAX &&
		    (*stream_err = frame_out_flush(fo)) != 0)
			return 0;
		off += (uint64_t)n;
		*sent = off;
	}
	return 0;
}

/* SHA-1 over ${n} zeros (a hole's content). */
static void
hash_zeros(EVP_MD_CTX *sha, uint64_t n)
{
	static const uint8_t zeros[65536];

	while (n > 0) {
		size_t c = n > sizeof(zeros) ? sizeof(zeros) : (size_t)n;

		EVP_DigestUpdate(sha, zeros, c);
		n -= c;
	}
}

static int
send_hole(struct frame_out *fo, uint64_t len, EVP_MD_CTX *sha)
{
	uint8_t buf[8];
	int i;

	if (sha != NULL)
		hash_zeros(sha, len);
	for (i = 0; i < 8; i++)
		buf[i] = (uint8_t)(len >> (56 - 8 * i));
	return frame_put(fo, MSG_HOLE, buf, 8);
}

/*
 * Did the file change while it was read?  Size or mtime (grew, shrank,
 * rewritten), or ctime and link count (removed, or replaced by a rename:
 * the descriptor still reads the old file, which is then no longer what
 * the tree holds).  A file that had no name to begin with (a version a
 * repository rebuilt into an unnamed scratch file) was not removed.
 */
static int
stat_changed(const struct stat *a, const struct stat *b)
{
	return a->st_size != b->st_size ||
	    a->st_mtim.tv_sec != b->st_mtim.tv_sec ||
	    a->st_mtim.tv_nsec != b->st_mtim.tv_nsec ||
	    a->st_ctim.tv_sec != b->st_ctim.tv_sec ||
	    a->st_ctim.tv_nsec != b->st_ctim.tv_nsec ||
	    (a->st_nlink > 0 && b->st_nlink == 0);
}

/*
 * Can ${st} have holes?  Not when its blocks cover its size: then the
 * SEEK_DATA/SEEK_HOLE probes are skipped (two system calls a file).
 */
static int
may_be_sparse(const struct stat *st)
{
	return (uint64_t)st->st_blocks * 512 < (uint64_t)st->st_size;
}

int
xfer_send_file(struct frame_out *fo, int fd, uint64_t seq,
    const struct stat *st, int digest)
{
	struct stat st0, st1;
	uint64_t off = 0, sent = 0, size;
	uint64_t flags = 0;
	int err = 0, r = 0, sparse;
	EVP_MD_CTX *sha = NULL;
	uint8_t sha1[20];
	unsigned int dlen = 0;

	if (st != NULL)
		st0 = *st;
	else if (fstat(fd, &st0) != 0)
		return xfer_send_failed(fo, seq, errno);
	size = (uint64_t)st0.st_size;
	sparse = may_be_sparse(&st0);
	if (digest &&
	    ((sha = EVP_MD_CTX_new()) == NULL ||
		EVP_DigestInit_ex(sha, EVP_sha1(), NULL) != 1)) {
		EVP_MD_CTX_free(sha);
		return CB_ERR_NOMEM;
	}
	if ((r = xfer_put_u64pair(fo, MSG_FILE, seq, size)) != 0)
		goto out;
	while (off < size && err == 0 && r == 0) {
		off_t d =
		    sparse ? lseek(fd, (off_t)off, SEEK_DATA) : (off_t)off;
		off_t h;

		if (d < 0 && errno == ENXIO)
			d = (off_t)size; /* only a hole remains */
		else if (d < 0) {
			d = (off_t)off; /* no SEEK_DATA support: all data */
		}
		if ((uint64_t)d > size)
			d = (off_t)size;
		if ((uint64_t)d > off) {
			if ((r = send_hole(fo, (uint64_t)d - off, sha)) != 0)
				break;
			off = (uint64_t)d;
			sent = off;
			continue;
		}
		h = sparse ? lseek(fd, (off_t)off, SEEK_HOLE) : (off_t)size;
		if (h < 0 || (uint64_t)h > size)
			h = (off_t)size;
		err = send_range(fo, fd, off, (uint64_t)h, &sent, &r, sha);
		if (sent < (uint64_t)h && err == 0 && r == 0) {
			flags |= FILE_CHANGED; /* shrank */
			break;
		}
		off = (uint64_t)h;
	}
	if (r != 0)
		goto out;
	frame_out_settle(fo); /* the receiver has copied the bytes lent */
	if (err == 0 && (fstat(fd, &st1) != 0 || stat_changed(&st0, &st1)))
		flags |= FILE_CHANGED;
	if (sha != NULL)
		EVP_DigestFinal_ex(sha, sha1, &dlen);
	if ((r = put_file_end(fo, (uint32_t)err, flags,
		 sha != NULL ? sha1 : NULL)) != 0)
		goto out;
	if (frame_out_pending(fo) >= XFER_FLUSH_AT)
		r = frame_out_flush(fo);
out:
	EVP_MD_CTX_free(sha);
	return r;
}

/* State of one delta being sent. */
struct delta_send {
	struct frame_out *fo;
	EVP_MD_CTX *sha;
	uint64_t read;	/* source bytes read */
	int stream_err; /* the stream failed (not the file) */
};

static int
delta_send_out(void *arg, const uint8_t *p, size_t n)
{
	struct delta_send *ds = arg;
	int r;

	if ((r = frame_put(ds->fo, MSG_DATA, p, n)) == 0 &&
	    frame_out_pending(ds->fo) >= 4 * MSG_DATA_MAX)
		r = frame_out_flush(ds->fo);
	if (r != 0)
		ds->stream_err = r;
	return r;
}

static void
delta_send_tap(void *arg, const uint8_t *p, size_t n)
{
	struct delta_send *ds = arg;

	EVP_DigestUpdate(ds->sha, p, n);
	ds->read += n;
}

int
xfer_send_delta(struct frame_out *fo, int fd, uint64_t seq, const uint8_t *sig,
    size_t siglen)
{
	struct delta_send ds = { .fo = fo };
	struct stat st0, st1;
	struct wire_wr wr;
	uint8_t sha1[20];
	unsigned int dlen = 0;
	uint64_t flags = 0;
	uint32_t err = 0;
	int r;

	if (fstat(fd, &st0) != 0)
		return xfer_send_failed(fo, seq, errno);
	if ((ds.sha = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(ds.sha, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(ds.sha);
		return CB_ERR_NOMEM;
	}
	if ((r = xfer_put_u64pair(fo, MSG_DELTA, seq, (uint64_t)st0.st_size)) !=
	    0)
		goto out;
	r = delta_from_signature(sig, siglen, fd, (uint64_t)st0.st_size,
	    delta_send_out, &ds, delta_send_tap, &ds);
	if (ds.stream_err != 0) {
		r = ds.stream_err;
		goto out;
	}
	if (r == CB_ERR_SYS) {
		err = (uint32_t)errno; /* reading the file: the peer skips it */
		r = 0;
	} else if (r != 0)
		goto out; /* a signature we refuse, or no memory */
	if (err == 0 &&
	    (ds.read != (uint64_t)st0.st_size || fstat(fd, &st1) != 0 ||
		stat_changed(&st0, &st1)))
		flags |= FILE_CHANGED;
	EVP_DigestFinal_ex(ds.sha, sha1, &dlen);
	wire_wr_init(&wr, 64);
	if ((r = msg_delta_end_encode(&wr, err, flags, sha1)) == 0)
		r = frame_put(fo, MSG_DELTA_END, wr.p, wr.len);
	wire_wr_release(&wr);
	if (r == 0)
		r = frame_out_flush(fo);
out:
	EVP_MD_CTX_free(ds.sha);
	return r;
}

int
xfer_sink_init(struct xfer_sink *s, int fd, uint64_t limit)
{
	s->fd = fd;
	s->off = 0;
	s->written = 0;
	s->limit = limit;
	s->readable = fd >= 0 ? -1 : 0; /* asked when it matters */
	s->slot = -1;
	s->nohash = 0;
	if ((s->sha = EVP_MD_CTX_new()) == NULL)
		return CB_ERR_NOMEM;
	if (EVP_DigestInit_ex(s->sha, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(s->sha);
		s->sha = NULL;
		return CB_ERR_NOMEM;
	}
	return 0;
}

void
xfer_sink_release(struct xfer_sink *s)
{
	if (s->slot >= 0) {
		hb_abandon(s->slot);
		s->slot = -1;
	}
	EVP_MD_CTX_free(s->sha);
	s->sha = NULL;
}

void
xfer_sink_nohash(struct xfer_sink *s)
{
	s->nohash = 1;
}

/* Can the hashing thread read the file back? */
static int
readable(struct xfer_sink *s)
{
	int fl;

	if (s->readable < 0) {
		fl = fcntl(s->fd, F_GETFL);
		s->readable = fl >= 0 && (fl & O_ACCMODE) == O_RDWR;
	}
	return s->readable;
}

int
xfer_sink_data(struct xfer_sink *s, const uint8_t *p, size_t n)
{
	if (n > s->limit - s->off)
		return CB_ERR_TOO_LARGE;
	/* (nohash: the sender's digest is taken) */
	if (!s->nohash && s->slot < 0 && s->off + n >= XFER_BEHIND_MIN &&
	    readable(s))
		s->slot = hb_begin(s->fd, s->sha, s->off); /* -1: in line */
	if (!s->nohash && s->slot < 0)
		EVP_DigestUpdate(s->sha, p, n);
	if (s->fd >= 0 && fs_pwrite_all(s->fd, p, n, s->off) != 0)
		return CB_ERR_SYS;
	s->off += n;
	if (s->fd >= 0)
		s->written = s->off;
	if (s->slot >= 0)
		hb_written(s->slot, s->written);
	return 0;
}

int
xfer_sink_hole(struct xfer_sink *s, uint64_t n)
{
	if (n > s->limit - s->off)
		return CB_ERR_TOO_LARGE;
	/* With the thread, the hole is read back as zeros (the file is
	 * extended to its length before the end). */
	if (s->slot < 0 && !s->nohash)
		hash_zeros(s->sha, n);
	s->off += n;
	return 0;
}

int
xfer_sink_seal(struct xfer_sink *s)
{
	/* The file was new and empty: only a trailing hole needs a length. */
	if (s->fd >= 0 && s->written != s->off) {
		if (ftruncate(s->fd, (off_t)s->off) != 0)
			return CB_ERR_SYS;
		s->written = s->off; /* once: a truncate sets the times */
	}
	if (s->slot >= 0)
		hb_written(s->slot, s->off);
	return 0;
}

int
xfer_sink_done(const struct xfer_sink *s)
{
	return s->slot < 0 || hb_done(s->slot);
}

void
xfer_sink_move(struct xfer_sink *to, struct xfer_sink *from)
{
	*to = *from;
	from->sha = NULL;
	from->slot = -1;
}

int
xfer_sink_finish(struct xfer_sink *s, uint8_t sha1[20])
{
	unsigned int dlen = 0;
	int e, k;

	if (xfer_sink_seal(s) != 0)
		return CB_ERR_SYS;
	if (s->slot >= 0) {
		k = s->slot;
		s->slot = -1;
		if (hb_end(k, s->off, &e) != 0) {
			errno = e;
			return CB_ERR_SYS;
		}
	}
	if (s->nohash)
		memset(sha1, 0, 20);
	else
		EVP_DigestFinal_ex(s->sha, sha1, &dlen);
	return 0;
}

int
xfer_decode_file_end(const uint8_t *p, size_t len, uint32_t *err,
    uint64_t *flags, uint8_t *sha1)
{
	int r;

	if (len == 32 && sha1 != NULL) {
		r = msg_delta_end_decode(p, len, err, flags, sha1);
		return r == 0 ? 1 : r;
	}
	if (len > 12)
		return CB_ERR_TOO_LARGE;
	r = msg_u32pair_decode(p, len, err, flags);
	if (r == 0 && (*flags & ~(uint64_t)FILE_CHANGED) != 0)
		return CB_ERR_BAD_VALUE;
	return r;
}

/*
 * The SHA-1 of ${fd} from offset 0, up to ${size} bytes (UINT64_MAX: to
 * its end), the bytes read in *${got}.  0, CB_ERR_NOMEM, or an errno
 * (> 0) of a read that failed, taken before anything can change it.
 */
static int
sha1_upto(int fd, uint64_t size, uint8_t out[20], uint64_t *got)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[65536];
	unsigned int len = 0;
	uint64_t off = 0;
	ssize_t n = 0;
	int err = 0;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return CB_ERR_NOMEM;
	}
	while (off < size) {
		size_t want = size - off < sizeof(buf) ? (size_t)(size - off) :
							 sizeof(buf);

		n = pread(fd, buf, want, (off_t)off);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += (uint64_t)n;
	}
	if (n < 0)
		err = errno;
	EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	*got = off;
	return err;
}

int
xfer_sha1_fd(int fd, uint8_t out[20])
{
	uint64_t got;
	int r = sha1_upto(fd, UINT64_MAX, out, &got);

	if (r > 0) {
		errno = r;
		return CB_ERR_SYS;
	}
	return r;
}

/*
 * The SHA-1 of the first ${size} bytes of ${fd}, as xfer_send_file sends
 * that much: more behind them (a file that grows, or a procfs one that
 * says 0) sets FILE_CHANGED, never an endless read.  0, CB_ERR_NOMEM, or
 * an errno (> 0) of a read that failed.
 */
static int
sha1_to_size(int fd, uint64_t size, uint8_t out[20], uint64_t *flags)
{
	uint8_t one;
	uint64_t got;
	int r = sha1_upto(fd, size, out, &got);

	if (r != 0)
		return r;
	if (got < size)
		*flags |= FILE_CHANGED; /* shrank */
	else if (pread(fd, &one, 1, (off_t)got) > 0)
		*flags |= FILE_CHANGED; /* grew */
	return 0;
}

int
xfer_send_digest(struct frame_out *fo, int fd, uint64_t seq)
{
	struct stat st0, st1;
	uint8_t sha1[20] = { 0 };
	uint64_t flags = 0;
	uint32_t err = 0;
	struct wire_wr wr;
	int r;

	if (fd < 0 || fstat(fd, &st0) != 0)
		err = errno != 0 ? (uint32_t)errno : EIO;
	else if ((r = sha1_to_size(fd, (uint64_t)st0.st_size, sha1, &flags)) ==
	    CB_ERR_NOMEM)
		return r;
	else if (r > 0)
		err = (uint32_t)r;
	else if (fstat(fd, &st1) != 0 || stat_changed(&st0, &st1))
		flags |= FILE_CHANGED;
	if (err != 0)
		memset(sha1, 0, sizeof(sha1));
	wire_wr_init(&wr, 64);
	if ((r = msg_digest_encode(&wr, seq, err, flags, sha1)) == 0)
		r = frame_put(fo, MSG_DIGEST, wr.p, wr.len);
	wire_wr_release(&wr);
	if (r == 0 && frame_out_pending(fo) >= XFER_FLUSH_AT)
		r = frame_out_flush(fo);
	return r;
}
