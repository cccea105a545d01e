#include "delta.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include <librsync.h>

#include "cb_err.h"
#include "delta_io.h"
#include "fsutil.h"
/* Level of the gzip streams we write; any level reads back everywhere. */
#define DELTA_GZ_LEVEL 6
/* zlib windowBits: 32 KiB window, gzip wrapper (and only gzip on input). */
#define DELTA_GZ_WBITS (15 + 16)
/* Signature type of our reverse deltas; never MD4 (house style 3.7). */
#define DELTA_SIG_MAGIC RS_BLAKE2_SIG_MAGIC

/* The basis of delta_patch, as seen by basis_copy. */
struct basis {
	int fd;
	uint64_t size; /* COPY commands must stay inside [0, size) */
	int err;       /* cb_err recorded by a failed basis_copy */
	int saved_errno;
};

/* librsync must not print either: drop its log (process-wide, idempotent). */
static void
quiet_librsync(void)
{
	rs_trace_to(NULL);
}

/* Map a librsync failure to a cb_err. */
static int
rs_to_cb(rs_result rr)
{
	if (rr == RS_MEM_ERROR)
		return CB_ERR_NOMEM;
	/* Bad magic, bad command, input ended, no progress, ... */
	return CB_ERR_CORRUPT;
}

/*
 * raw_read(src, buf, cap, got):
 * Read up to ${cap} bytes of src's descriptor; *got = 0 at end of file.
 */
static int
raw_read(struct source *src, uint8_t *buf, size_t cap, size_t *got)
{
	ssize_t n;

	*got = 0;
	if (cap > src->limit - src->off)
		cap = (size_t)(src->limit - src->off);
	if (src->mem != NULL) {
		size_t left = src->memlen - (size_t)src->off;

		n = (ssize_t)(cap < left ? cap : left);
		memcpy(buf, src->mem + src->off, (size_t)n);
		src->off += (uint64_t)n;
		*got = (size_t)n;
		return 0;
	}
	if (cap == 0)
		return 0;
	for (;;) {
		if (src->seekable)
			n = pread(src->fd, buf, cap, (off_t)src->off);
		else
			n = read(src->fd, buf, cap);
		if (n >= 0)
			break;
		if (errno == EINTR)
			continue;
		if (errno == ESPIPE && src->seekable && src->off == 0) {
			src->seekable = 0; /* a pipe: read it as it comes */
			continue;
		}
		return CB_ERR_SYS;
	}
	src->off += (uint64_t)n;
	*got = (size_t)n;
	if (src->tap != NULL && n > 0)
		src->tap(src->tap_arg, buf, (size_t)n);
	return 0;
}

/* Refill the compressed input of src once it is used up. */
static int
gz_refill(struct source *src)
{
	size_t n;
	int r;

	if (src->z.avail_in > 0 || src->raw_eof)
		return 0;
	if ((r = raw_read(src, src->zbuf, DELTA_BUF, &n)) != 0)
		return r;
	src->z.next_in = src->zbuf;
	src->z.avail_in = (uInt)n;
	src->raw_eof = n == 0;
	return 0;
}

/*
 * gz_read(src, buf, cap, got):
 * Decompress up to ${cap} (<= DELTA_BUF) bytes; *got = 0 only at the clean
 * end of the last gzip member.  CB_ERR_CORRUPT for anything that is not a
 * complete, valid series of gzip members.
 */
static int
gz_read(struct source *src, uint8_t *buf, size_t cap, size_t *got)
{
	int r, zr;

	*got = 0;
	for (;;) {
		if ((r = gz_refill(src)) != 0)
			return r;
		if (src->member_end) {
			/*
			 * The end of the file (gz_refill read nothing more),
			 * or another member follows (RFC 1952 2.2).
			 */
			if (src->z.avail_in == 0)
				return 0;
			if (inflateReset(&src->z) != Z_OK)
				return CB_ERR_CORRUPT;
			src->member_end = 0;
		}
		src->z.next_out = buf;
		src->z.avail_out = (uInt)cap;
		zr = inflate(&src->z, Z_NO_FLUSH);
		*got = cap - src->z.avail_out;
		if (zr == Z_MEM_ERROR)
			return CB_ERR_NOMEM;
		/*
		 * Z_BUF_ERROR means no progress was possible, and we always
		 * give output space and input unless the file has ended:
		 * the file is truncated (or empty).  Anything else but
		 * Z_OK is a data, header or CRC error.
		 */
		if (zr == Z_BUF_ERROR && src->raw_eof && src->z.avail_in == 0)
			zr = Z_DATA_ERROR;
		if (zr != Z_OK && zr != Z_BUF_ERROR && zr != Z_STREAM_END)
			return CB_ERR_CORRUPT;
		src->member_end = zr == Z_STREAM_END;
		if (*got > 0)
			return 0;
	}
}

/* source_read(src, buf, cap, got): next bytes; *got = 0 at the end. */
int
source_read(struct source *src, uint8_t *buf, size_t cap, size_t *got)
{
	if (src->gz)
		return gz_read(src, buf, cap, got);
	return raw_read(src, buf, cap, got);
}

/* source_init(src, fd, gz): read ${fd}, decompressing if ${gz}. */
int
source_init(struct source *src, int fd, int gz)
{
	memset(src, 0, sizeof(*src));
	src->fd = fd;
	src->seekable = 1;
	src->limit = DELTA_NO_LIMIT;
	src->gz = gz != 0;
	if (!src->gz)
		return 0;
	if ((src->zbuf = malloc(DELTA_BUF)) == NULL)
		return CB_ERR_NOMEM;
	if (inflateInit2(&src->z, DELTA_GZ_WBITS) != Z_OK)
		return CB_ERR_NOMEM;
	src->zinit = 1;
	return 0;
}

/* source_release(src): free src's buffers; safe on a zeroed source. */
void
source_release(struct source *src)
{
	if (src->zinit)
		inflateEnd(&src->z);
	free(src->zbuf);
	memset(src, 0, sizeof(*src));
}

/*
 * job_feed(job, p, n, eof):
 * Give ${n} bytes to ${job}, a job that produces no output (loadsig), and
 * if ${eof} tell it that nothing follows; it must then complete.
 */
static int
job_feed(rs_job_t *job, uint8_t *p, size_t n, int eof)
{
	rs_buffers_t b;
	rs_result rr;
	size_t before;

	memset(&b, 0, sizeof(b));
	b.next_in = (char *)p;
	b.avail_in = n;
	b.eof_in = eof;
	for (;;) {
		before = b.avail_in;
		rr = rs_job_iter(job, &b);
		if (rr == RS_DONE)
			return b.avail_in == 0 && eof ? 0 : CB_ERR_CORRUPT;
		if (rr != RS_BLOCKED)
			return rs_to_cb(rr);
		if (b.avail_in == 0 && !eof)
			return 0;
		if (b.avail_in == before)
			return CB_ERR_CORRUPT; /* stalled */
	}
}

/*
 * sink_deflate(s, flush):
 * Run deflate over s->z's input and write what it produces; with Z_FINISH
 * until the gzip trailer is out.
 */
static int
sink_deflate(struct sink *s, int flush)
{
	size_t n;
	int r, zr;

	for (;;) {
		s->z.next_out = s->zbuf;
		s->z.avail_out = DELTA_BUF;
		zr = deflate(&s->z, flush);
		if (zr == Z_STREAM_ERROR)
			abort(); /* inconsistent zlib state: a bug here */
		n = DELTA_BUF - s->z.avail_out;
		if (n > 0 && (r = fs_write_all(s->fd, s->zbuf, n)) != 0)
			return r;
		if (flush == Z_FINISH && zr == Z_STREAM_END)
			return 0;
		/* Without Z_FINISH, stop once deflate has all the input and
		 * had room to spare (it may keep some output pending). */
		if (flush != Z_FINISH && s->z.avail_in == 0 &&
		    s->z.avail_out > 0)
			return 0;
	}
}

/* sink_put(s, p, n): accept ${n} (<= DELTA_BUF) bytes, within s->max. */
int
sink_put(struct sink *s, uint8_t *p, size_t n)
{
	/* The bound holds before any byte reaches the descriptor. */
	if (n > s->max - s->total)
		return CB_ERR_TOO_LARGE;
	s->total += n;
	if (s->fn != NULL)
		return s->fn(s->fn_arg, p, n);
	if (!s->gz)
		return fs_write_all(s->fd, p, n);
	s->z.next_in = p;
	s->z.avail_in = (uInt)n;
	return sink_deflate(s, Z_NO_FLUSH);
}

/* sink_finish(s): end the gzip stream; nothing for a raw fd. */
int
sink_finish(struct sink *s)
{
	if (!s->gz)
		return 0;
	s->z.next_in = NULL;
	s->z.avail_in = 0;
	return sink_deflate(s, Z_FINISH);
}

/*
 * sink_init_fd(s, fd, gz, max):
 * Write to ${fd}, gzip-compressed if ${gz}, at most ${max} bytes before
 * compression.
 */
int
sink_init_fd(struct sink *s, int fd, int gz, uint64_t max)
{
	int zr;

	memset(s, 0, sizeof(*s));
	s->fd = fd;
	s->gz = gz != 0;
	s->max = max;
	if (!s->gz)
		return 0;
	if ((s->zbuf = malloc(DELTA_BUF)) == NULL)
		return CB_ERR_NOMEM;
	zr = deflateInit2(&s->z, DELTA_GZ_LEVEL, Z_DEFLATED, DELTA_GZ_WBITS, 8,
	    Z_DEFAULT_STRATEGY);
	if (zr != Z_OK)
		return CB_ERR_NOMEM;
	s->zinit = 1;
	return 0;
}

/* sink_init_fn(s, fn, arg): give everything to ${fn}, unbounded. */
static void
sink_init_fn(struct sink *s, delta_out_fn fn, void *arg)
{
	memset(s, 0, sizeof(*s));
	s->fd = -1;
	s->fn = fn;
	s->fn_arg = arg;
	s->max = DELTA_NO_LIMIT;
}

/* sink_release(s): free s's buffers; safe on a zeroed sink. */
void
sink_release(struct sink *s)
{
	if (s->zinit)
		deflateEnd(&s->z);
	free(s->zbuf);
	memset(s, 0, sizeof(*s));
}

/*
 * pump_fill(in, b, ibuf, fresh):
 * Move the unconsumed input to the front of ${ibuf} and read more behind
 * it; *fresh tells whether b changed (new bytes, or end of input seen).
 */
static int
pump_fill(struct source *in, rs_buffers_t *b, uint8_t *ibuf, int *fresh)
{
	size_t got;
	int r;

	*fresh = 0;
	if (b->eof_in || b->avail_in >= DELTA_BUF)
		return 0;
	if (b->avail_in > 0)
		memmove(ibuf, b->next_in, b->avail_in);
	b->next_in = (char *)ibuf;
	if ((r = source_read(in, ibuf + b->avail_in, DELTA_BUF - b->avail_in,
		 &got)) != 0)
		return r;
	b->avail_in += got;
	b->eof_in = got == 0;
	*fresh = 1;
	return 0;
}

/*
 * pump_end(in, b, ibuf):
 * After the job completed, refuse anything left in the input: bytes after
 * a delta's END command, or a gzip trailer that does not check out.
 */
static int
pump_end(struct source *in, const rs_buffers_t *b, uint8_t *ibuf)
{
	size_t got;
	int r;

	if (b->avail_in > 0)
		return CB_ERR_CORRUPT;
	if (b->eof_in)
		return 0;
	if ((r = source_read(in, ibuf, DELTA_BUF, &got)) != 0)
		return r;
	return got == 0 ? 0 : CB_ERR_CORRUPT;
}

/*
 * pump(job, in, out):
 * Run ${job} over everything ${in} holds, giving its output to ${out}, and
 * finish ${out}.  A job that stops making progress is CB_ERR_CORRUPT,
 * never a hang.
 */
static int
pump(rs_job_t *job, struct source *in, struct sink *out)
{
	uint8_t *ibuf = NULL, *obuf = NULL;
	rs_buffers_t b;
	rs_result rr;
	size_t before, made;
	int r, fresh;

	memset(&b, 0, sizeof(b));
	if ((ibuf = malloc(DELTA_BUF)) == NULL ||
	    (obuf = malloc(DELTA_BUF)) == NULL) {
		r = CB_ERR_NOMEM;
		goto out;
	}
	b.next_in = (char *)ibuf;
	for (;;) {
		if ((r = pump_fill(in, &b, ibuf, &fresh)) != 0)
			goto out;
		before = b.avail_in;
		b.next_out = (char *)obuf;
		b.avail_out = DELTA_BUF;
		rr = rs_job_iter(job, &b);
		made = DELTA_BUF - b.avail_out;
		if (made > 0 && (r = sink_put(out, obuf, made)) != 0)
			goto out;
		if (rr == RS_DONE)
			break;
		if (rr != RS_BLOCKED) {
			r = rs_to_cb(rr);
			goto out;
		}
		if (!fresh && made == 0 && b.avail_in == before) {
			r = CB_ERR_CORRUPT; /* blocked with nothing to give */
			goto out;
		}
	}
	if ((r = pump_end(in, &b, ibuf)) != 0)
		goto out;
	r = sink_finish(out);
out:
	free(ibuf);
	free(obuf);
	return r;
}

/*
 * basis_copy(arg, pos, len, buf):
 * rs_copy_cb for delta_patch: read *len bytes at ${pos} of the basis into
 * *buf (librsync's output buffer, at least *len bytes).
 */
static rs_result
basis_copy(void *arg, rs_long_t pos, size_t *len, void **buf)
{
	struct basis *bs = arg;
	uint8_t *p = *buf;
	size_t want = *len;

	/*
	 * The delta is untrusted: the whole range must lie inside the basis
	 * (compared without computing pos + len).  An empty request would
	 * make librsync spin, so it is refused as well.
	 */
	if (pos < 0 || (uint64_t)pos > bs->size ||
	    want > bs->size - (uint64_t)pos || want == 0) {
		bs->err = CB_ERR_CORRUPT;
		return RS_CORRUPT;
	}
	if (fs_pread_all(bs->fd, p, want, (uint64_t)pos) != 0) {
		bs->err = CB_ERR_SYS;
		bs->saved_errno = errno;
		return RS_IO_ERROR;
	}
	*len = want; /* all of it */
	return RS_DONE;
}

uint32_t
delta_block_len(uint64_t size)
{
	unsigned bitlen;

	if (size < 10240)
		return 64;
	/* Python's int.bit_length(); size > 0 here. */
	bitlen = 64u - (unsigned)__builtin_clzll(size);
	/* < 2^(64 - 36) << 4: always fits */
	return (uint32_t)((size >> (bitlen / 2 + 4)) << 4);
}

int
delta_reverse(int newfd, int oldfd, int outfd, int compress)
{
	return delta_reverse_ranges(newfd, oldfd, outfd, compress, NULL);
}

int
delta_reverse_ranges(int newfd, int oldfd, int outfd, int compress,
    struct delta_ranges *rg)
{
	struct source in = { .fd = -1 };
	struct sink out = { .fd = -1 };
	struct stat sb;
	int r, e;

	if (fstat(newfd, &sb) != 0)
		return CB_ERR_SYS;
	/* The size picks the block length and bounds every COPY. */
	if (!S_ISREG(sb.st_mode) || sb.st_size < 0)
		return CB_ERR_BAD_VALUE;
	if ((r = source_init(&in, oldfd, 0)) == 0 &&
	    (r = sink_init_fd(&out, outfd, compress, DELTA_NO_LIMIT)) == 0 &&
	    (r = rev_delta(newfd, (uint64_t)sb.st_size, &in, &out, rg)) == 0)
		r = sink_finish(&out);
	e = errno;
	source_release(&in);
	sink_release(&out);
	errno = e;
	return r;
}

int
buf_append(uint8_t *buf, size_t *len, size_t cap, const uint8_t *p, size_t n,
    int (*flush)(void *), void *arg)
{
	size_t k;
	int r;

	while (n > 0) {
		if (*len == cap && (r = flush(arg)) != 0)
			return r;
		k = cap - *len < n ? cap - *len : n;
		memcpy(buf + *len, p, k);
		*len += k;
		p += k;
		n -= k;
	}
	return 0;
}

/* copy_stream(in, out): everything from ${in} to ${out}, then finish. */
static int
copy_stream(struct source *in, struct sink *out)
{
	uint8_t *buf;
	size_t got;
	int r;

	if ((buf = malloc(DELTA_BUF)) == NULL)
		return CB_ERR_NOMEM;
	for (;;) {
		if ((r = source_read(in, buf, DELTA_BUF, &got)) != 0)
			break;
		if (got == 0) {
			r = sink_finish(out);
			break;
		}
		if ((r = sink_put(out, buf, got)) != 0)
			break;
	}
	free(buf);
	return r;
}

int
delta_gzip_copy(int infd, int outfd)
{
	struct source in = { .fd = -1 };
	struct sink out = { .fd = -1 };
	int r, e;

	if ((r = source_init(&in, infd, 0)) != 0 ||
	    (r = sink_init_fd(&out, outfd, 1, DELTA_NO_LIMIT)) != 0)
		goto out;
	r = copy_stream(&in, &out);
out:
	e = errno;
	source_release(&in);
	sink_release(&out);
	errno = e;
	return r;
}

int
delta_gunzip_copy(int infd, int outfd, uint64_t max_out)
{
	struct source in = { .fd = -1 };
	struct sink out = { .fd = -1 };
	int r, e;

	if ((r = source_init(&in, infd, 1)) != 0 ||
	    (r = sink_init_fd(&out, outfd, 0, max_out)) != 0)
		goto out;
	r = copy_stream(&in, &out);
out:
	e = errno;
	source_release(&in);
	sink_release(&out);
	errno = e;
	return r;
}

/* ---- deltas over the wire ------------------------------------------------ */

int
delta_signature(int basisfd, delta_out_fn out, void *arg)
{
	rs_magic_number magic = DELTA_SIG_MAGIC;
	struct source in = { .fd = -1 };
	struct sink sk = { .fd = -1 };
	struct stat sb;
	size_t blen, slen = DELTA_WIRE_STRONG;
	rs_job_t *job = NULL;
	int r, e;

	quiet_librsync();
	if (fstat(basisfd, &sb) != 0)
		return CB_ERR_SYS;
	if (!S_ISREG(sb.st_mode) || sb.st_size < 0)
		return CB_ERR_BAD_VALUE;
	blen = delta_block_len((uint64_t)sb.st_size);
	if (blen > DELTA_WIRE_BLOCK_MAX ||
	    rs_sig_args((rs_long_t)sb.st_size, &magic, &blen, &slen) != RS_DONE)
		return CB_ERR_BAD_VALUE;
	if ((r = source_init(&in, basisfd, 0)) != 0)
		goto out;
	in.limit = (uint64_t)sb.st_size; /* what the signature describes */
	sink_init_fn(&sk, out, arg);
	job = rs_sig_begin(blen, slen, magic);
	r = pump(job, &in, &sk);
out:
	e = errno;
	if (job != NULL)
		rs_job_free(job);
	source_release(&in);
	sink_release(&sk);
	errno = e;
	return r;
}

/* Big-endian u32 at ${p}. */
static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

int
delta_signature_check(const uint8_t *sig, size_t len)
{
	uint32_t blen, slen;

	if (len < 12 || len > DELTA_WIRE_SIG_MAX)
		return CB_ERR_BAD_VALUE;
	blen = get_be32(sig + 4);
	slen = get_be32(sig + 8);
	if (get_be32(sig) != DELTA_SIG_MAGIC || blen == 0 ||
	    blen > DELTA_WIRE_BLOCK_MAX || slen < 8 || slen > 32 ||
	    (len - 12) % (4 + slen) != 0)
		return CB_ERR_BAD_VALUE;
	return 0;
}

int
delta_from_signature(const uint8_t *sig, size_t siglen, int newfd,
    uint64_t size, delta_out_fn out, void *oarg, delta_tap_fn tap, void *targ)
{
	rs_signature_t *sumset = NULL;
	rs_job_t *load = NULL, *job = NULL;
	struct source in = { .fd = -1 };
	struct sink sk = { .fd = -1 };
	int r, e;

	quiet_librsync();
	/* The signature came from the peer: its header is checked first. */
	if ((r = delta_signature_check(sig, siglen)) != 0)
		return r;
	load = rs_loadsig_begin(&sumset);
	if ((r = job_feed(load, (uint8_t *)(uintptr_t)sig, siglen, 1)) != 0)
		goto out;
	if (rs_build_hash_table(sumset) != RS_DONE) {
		r = CB_ERR_NOMEM;
		goto out;
	}
	if ((r = source_init(&in, newfd, 0)) != 0)
		goto out;
	in.limit = size;
	in.tap = tap;
	in.tap_arg = targ;
	sink_init_fn(&sk, out, oarg);
	job = rs_delta_begin(sumset);
	r = pump(job, &in, &sk);
out:
	e = errno;
	if (job != NULL)
		rs_job_free(job);
	if (load != NULL)
		rs_job_free(load);
	if (sumset != NULL)
		rs_free_sumset(sumset);
	source_release(&in);
	sink_release(&sk);
	errno = e;
	return r;
}

struct delta_patcher {
	rs_job_t *job;
	struct basis bs;
	delta_out_fn out;
	void *arg;
	uint8_t *obuf;
	int done; /* the delta's END command was seen */
};

int
delta_patcher_new(struct delta_patcher **pp, int basisfd, delta_out_fn out,
    void *arg)
{
	struct delta_patcher *p;
	struct stat sb;

	quiet_librsync();
	*pp = NULL;
	if (fstat(basisfd, &sb) != 0)
		return CB_ERR_SYS;
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->obuf = malloc(DELTA_BUF)) == NULL) {
		free(p);
		return CB_ERR_NOMEM;
	}
	p->bs.fd = basisfd;
	if (S_ISREG(sb.st_mode) && sb.st_size > 0)
		p->bs.size = (uint64_t)sb.st_size;
	p->out = out;
	p->arg = arg;
	p->job = rs_patch_begin(basis_copy, &p->bs);
	*pp = p;
	return 0;
}

/* Run the patch job over ${b} until it needs more input (or is done). */
static int
patcher_run(struct delta_patcher *p, rs_buffers_t *b)
{
	rs_result rr;
	size_t before, made;
	int r;

	for (;;) {
		before = b->avail_in;
		b->next_out = (char *)p->obuf;
		b->avail_out = DELTA_BUF;
		rr = rs_job_iter(p->job, b);
		made = DELTA_BUF - b->avail_out;
		if (made > 0 && (r = p->out(p->arg, p->obuf, made)) != 0)
			return r;
		if (rr == RS_DONE) {
			p->done = 1;
			return b->avail_in == 0 ? 0 : CB_ERR_CORRUPT;
		}
		if (rr != RS_BLOCKED) {
			if (p->bs.err != 0) {
				errno = p->bs.saved_errno;
				return p->bs.err;
			}
			return rs_to_cb(rr);
		}
		if (made == DELTA_BUF)
			continue; /* more output may be waiting */
		if (b->avail_in == 0 && !b->eof_in)
			return 0;
		if (b->avail_in == before && made == 0)
			return CB_ERR_CORRUPT; /* stalled, or truncated */
	}
}

int
delta_patcher_feed(struct delta_patcher *p, const uint8_t *data, size_t n)
{
	rs_buffers_t b;

	if (p->done)
		return n == 0 ? 0 : CB_ERR_CORRUPT; /* bytes after END */
	memset(&b, 0, sizeof(b));
	b.next_in = (char *)(uintptr_t)data;
	b.avail_in = n;
	return patcher_run(p, &b);
}

int
delta_patcher_finish(struct delta_patcher *p)
{
	rs_buffers_t b;
	int r;

	if (p->done)
		return 0;
	memset(&b, 0, sizeof(b));
	b.eof_in = 1;
	if ((r = patcher_run(p, &b)) != 0)
		return r;
	return p->done ? 0 : CB_ERR_CORRUPT;
}

void
delta_patcher_free(struct delta_patcher *p)
{
	if (p == NULL)
		return;
	if (p->job != NULL)
		rs_job_free(p->job);
	free(p->obuf);
	free(p);
}
