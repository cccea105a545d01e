/*
 * The sending side of an entry stream (feed.h), the reader's exchange
 * with a writer: what the reader and a repository's read-only side share.
 */
#include <errno.h>
#include <signal.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "credit.h"
#include "delta.h"
#include "feed.h"
#include "frame.h"
#include "hello.h"
#include "log.h"
#include "msg.h"
#include "wire.h"
#include "xfer.h"

/*
 * Entries the reader may run ahead of the writer's decisions: the credit
 * window (credit.h), MSG_CREDIT_ENTRIES entries and MSG_CREDIT_BYTES of
 * them.  Large enough that a link with a long round trip stays busy: the
 * writer returns credit every PROGRESS_EVERY entries, so the walk stalls
 * only when a whole window is in flight.  The writer enforces it.
 */
#define FEED_WINDOW MSG_CREDIT_ENTRIES
/* Signature bytes the reader holds at most (files asked for by delta). */
#define FEED_SIG_TOTAL (128u * 1024 * 1024)

static long
feed_max(uint8_t type)
{
	switch (type) {
	case MSG_HELLO:
	case MSG_WANT:
	case MSG_WANT_DELTA:
	case MSG_WANT_DIGEST:
	case MSG_DATA:
	case MSG_PROGRESS:
	case MSG_DONE: return msg_max_payload(type);
	default: return -1;
	}
}

/* A regular file sent as an entry whose fate the writer has not decided. */
struct pending {
	uint64_t seq;
	char *path;
	int wanted;
	int digest_only; /* WANT_DIGEST: its SHA-1, not its content */
	uint8_t *sig;	 /* WANT_DELTA: the mirror's signature */
	size_t siglen, sigfill;
};

struct reader {
	const struct feed_ops *ops;
	void *ctx;
	struct frame_in in;
	struct frame_out out;
	uint64_t seq;	/* entries sent */
	uint64_t acked; /* writer's PROGRESS */
	struct credit cr;
	int walk_done;
	int done;
	struct pending *pend; /* ring, ordered by seq */
	size_t phead, pcount, pcap;
	struct pending *sigrx; /* signature being received */
	size_t sigbytes;       /* signature bytes held */
	size_t nwanted;	       /* pending entries wanted and not served */
	uint64_t wfirst;       /* no entry before this seq is wanted */
	unsigned unpolled;     /* loop turns since the input was looked at */
	int digests;	       /* FILE_END carries the SHA-1 (HELLO_DIGESTS) */
};

static struct pending *
pend_at(struct reader *rd, size_t i)
{
	return &rd->pend[(rd->phead + i) % rd->pcap];
}

static void
pend_push(struct reader *rd, uint64_t seq, const char *path)
{
	struct pending *p;

	if (rd->pcount == rd->pcap)
		fatal("internal: pending window overflow");
	p = pend_at(rd, rd->pcount++);
	p->seq = seq;
	p->wanted = 0;
	p->digest_only = 0;
	p->sig = NULL;
	p->siglen = p->sigfill = 0;
	if ((p->path = strdup(path)) == NULL)
		fatal("out of memory");
}

/*
 * The index of the first pending entry whose seq is ${seq} or more
 * (pcount: none).  Entries are pushed in seq order and keep their seq
 * when served, so the window is sorted: a lookup costs a few probes, not
 * a walk through up to 2 * FEED_WINDOW entries per file.
 */
static size_t
pend_lower(struct reader *rd, uint64_t seq)
{
	size_t lo = 0, hi = rd->pcount;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (pend_at(rd, mid)->seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

/* Drop served files, and undecided-and-unwanted ones the writer has
 * passed. */
static void
pend_trim(struct reader *rd)
{
	while (rd->pcount > 0) {
		struct pending *p = pend_at(rd, 0);

		if (p->wanted || (p->path != NULL && p->seq > rd->acked))
			break;
		if (p->path != NULL && rd->ops->done != NULL)
			rd->ops->done(rd->ctx, p->seq); /* passed, unasked */
		free(p->path);
		rd->phead = (rd->phead + 1) % rd->pcap;
		rd->pcount--;
	}
}

static struct pending *
handle_want(struct reader *rd, uint64_t seq)
{
	size_t i = pend_lower(rd, seq);
	struct pending *p = i < rd->pcount ? pend_at(rd, i) : NULL;

	/* Served (path NULL), already wanted, or never sent as a file. */
	if (p == NULL || p->seq != seq || p->wanted || p->path == NULL)
		fatal("protocol: WANT for %llu, which is not a pending file",
		    (unsigned long long)seq);
	p->wanted = 1;
	rd->nwanted++;
	if (seq < rd->wfirst)
		rd->wfirst = seq;
	return p;
}

/* WANT_DELTA(seq, len): the signature follows as DATA frames. */
static void
handle_want_delta(struct reader *rd, const uint8_t *p, size_t len)
{
	uint64_t seq, siglen;
	struct pending *pd;

	if (msg_u64pair_decode(p, len, &seq, &siglen) != 0 || rd->sigrx != NULL)
		fatal("protocol: bad WANT_DELTA");
	if (siglen < 12 || siglen > DELTA_WIRE_SIG_MAX ||
	    siglen > FEED_SIG_TOTAL - rd->sigbytes)
		fatal("protocol: WANT_DELTA with a signature of %llu bytes "
		      "(at most %u, %zu held)",
		    (unsigned long long)siglen, DELTA_WIRE_SIG_MAX,
		    rd->sigbytes);
	pd = handle_want(rd, seq);
	if ((pd->sig = malloc((size_t)siglen)) == NULL)
		fatal("out of memory");
	pd->siglen = (size_t)siglen;
	pd->sigfill = 0;
	rd->sigbytes += pd->siglen;
	rd->sigrx = pd;
}

static void
handle_sig_data(struct reader *rd, const uint8_t *p, size_t len)
{
	struct pending *pd = rd->sigrx;

	if (pd == NULL || len > pd->siglen - pd->sigfill)
		fatal("protocol: DATA from the writer outside a signature");
	memcpy(pd->sig + pd->sigfill, p, len);
	pd->sigfill += len;
	if (pd->sigfill == pd->siglen)
		rd->sigrx = NULL;
}

static void
handle_frame(struct reader *rd, uint8_t type, const uint8_t *p, size_t len)
{
	uint64_t v;
	uint32_t st;

	switch (type) {
	case MSG_WANT:
		if (msg_u64_decode(p, len, &v) != 0)
			fatal("protocol: bad WANT");
		(void)handle_want(rd, v);
		break;
	case MSG_WANT_DIGEST:
		if (msg_u64_decode(p, len, &v) != 0)
			fatal("protocol: bad WANT_DIGEST");
		handle_want(rd, v)->digest_only = 1;
		break;
	case MSG_WANT_DELTA: handle_want_delta(rd, p, len); break;
	case MSG_DATA: handle_sig_data(rd, p, len); break;
	case MSG_PROGRESS:
		if (msg_u64_decode(p, len, &v) != 0 || v < rd->acked ||
		    v > rd->seq || credit_grant(&rd->cr, v) != 0)
			fatal("protocol: bad PROGRESS");
		rd->acked = v;
		pend_trim(rd);
		break;
	case MSG_DONE:
		if (msg_u32pair_decode(p, len, &st, &v) != 0)
			fatal("protocol: bad DONE");
		rd->done = 1;
		break;
	default: fatal("protocol: unexpected %s from writer", msg_name(type));
	}
}

/* Process every complete frame buffered; read more if ${block}. */
static void
pump_input(struct reader *rd, int block)
{
	struct pollfd pfd = { .fd = rd->in.fd, .events = POLLIN };
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int r;

	for (;;) {
		while ((r = frame_in_next(&rd->in, &type, &p, &len)) == 0) {
			handle_frame(rd, type, p, len);
			block = 0;
		}
		if (r != CB_ERR_TRUNCATED)
			fatal("protocol: %s from writer", cb_strerror(r));
		if (rd->done)
			return;
		if (poll(&pfd, 1, block ? -1 : 0) < 0) {
			if (errno == EINTR)
				continue;
			fatal("poll: %s", strerror(errno));
		}
		if (!(pfd.revents & (POLLIN | POLLHUP | POLLERR)))
			return;
		if (frame_in_fill(&rd->in) == 0) {
			/* The writer failed and said why; nothing to add. */
			log_debug("writer closed the connection");
			exit(1);
		}
	}
}

static void flush_or_exit(struct reader *rd);

static void
serve_wanted(struct reader *rd)
{
	struct pending *p = NULL;
	struct stat st;
	size_t i;
	int fd, r;

	if (rd->nwanted == 0)
		return;
	for (i = pend_lower(rd, rd->wfirst); i < rd->pcount; i++) {
		if (pend_at(rd, i)->wanted) {
			p = pend_at(rd, i);
			break;
		}
	}
	if (p == NULL)
		fatal("internal: no wanted file pending");
	/* The whole signature first (it follows its WANT_DELTA). */
	while (p->sig != NULL && p->sigfill < p->siglen) {
		flush_or_exit(rd);
		pump_input(rd, 1);
	}
	fd = rd->ops->open(rd->ctx, p->seq, p->path);
	if (fd >= 0) {
		if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
			close(fd);
			fd = -1;
			errno = ESTALE; /* replaced while we were walking */
		}
	}
	if (p->digest_only) {
		r = xfer_send_digest(&rd->out, fd, p->seq);
		if (fd >= 0)
			close(fd);
	} else if (fd < 0)
		r = xfer_send_failed(&rd->out, p->seq, errno);
	else if (p->sig != NULL) {
		r = xfer_send_delta(&rd->out, fd, p->seq, p->sig, p->siglen);
		if (r == CB_ERR_BAD_VALUE || r == CB_ERR_CORRUPT)
			fatal("protocol: the writer sent a bad signature for "
			      "'%s'",
			    log_quote(p->path, strlen(p->path)));
		close(fd);
	} else {
		r = xfer_send_file(&rd->out, fd, p->seq, &st, rd->digests);
		close(fd);
	}
	if (r != 0) {
		if (errno == EPIPE || errno == ECONNRESET)
			exit(1); /* the writer failed and said why */
		fatal("sending file: %s", cb_strerror(r));
	}
	if (p->sig != NULL) {
		rd->sigbytes -= p->siglen;
		free(p->sig);
		p->sig = NULL;
	}
	p->wanted = 0;
	rd->nwanted--;
	rd->wfirst = p->seq + 1; /* p was the first wanted */
	if (rd->ops->done != NULL)
		rd->ops->done(rd->ctx, p->seq);
	free(p->path);
	p->path = NULL; /* served */
	pend_trim(rd);
}

/* Send what is queued; a writer that went away has said why already. */
static void
flush_or_exit(struct reader *rd)
{
	if (frame_out_flush(&rd->out) == 0)
		return;
	if (errno == EPIPE || errno == ECONNRESET)
		exit(1);
	fatal("write to writer: %s", strerror(errno));
}

static void
send_entry(struct reader *rd, struct msg_entry *e)
{
	struct wire_wr wr;
	int r;

	wire_wr_init(&wr, MSG_ENTRY_MAX);
	if ((r = msg_entry_encode(&wr, e)) == CB_ERR_TOO_LARGE) {
		/* Attributes too large to carry: send it as unreadable. */
		struct msg_entry small;

		msg_entry_init(&small);
		small.rec.path = e->rec.path;
		small.rec.pathlen = e->rec.pathlen;
		small.rec.type = e->rec.type;
		small.flags = ENTRY_ERROR;
		small.err = E2BIG;
		wire_wr_reset(&wr);
		r = msg_entry_encode(&wr, &small);
		e->flags |= ENTRY_ERROR;
	}
	if (r != 0)
		fatal("encode entry: %s", cb_strerror(r));
	if (frame_put(&rd->out, MSG_ENTRY, wr.p, wr.len) != 0)
		fatal("out of memory");
	if (credit_take(&rd->cr, wr.len) != 0)
		fatal("internal: an entry beyond the credit window");
	wire_wr_release(&wr);
	rd->seq++;
	if (e->rec.type == META_REG && !(e->flags & ENTRY_ERROR))
		pend_push(rd, rd->seq, e->rec.path);
	if (frame_out_pending(&rd->out) >= 65536)
		flush_or_exit(rd);
}

static void
run(struct reader *rd)
{
	struct msg_entry e;
	int r;

	msg_entry_init(&e);
	/* We can send digests: the writer says whether it wants them. */
	rd->digests =
	    (hello_exchange(&rd->in, &rd->out, ROLE_READER,
		 HELLO_DIGESTS | HELLO_WANT_DIGEST, ROLE_WRITER, "writer") &
		HELLO_DIGESTS) != 0;
	{
		/* a forced command's deadline for the hello (the
		 * primary's read-only key) is met: not the rest */
		sigset_t al;

		sigemptyset(&al);
		sigaddset(&al, SIGALRM);
		sigprocmask(SIG_BLOCK, &al, NULL);
	}
	while (!rd->done) {
		/* Look at the input now and then: WANTs answer what was
		 * flushed, and a poll per entry costs as much as its stat. */
		if (++rd->unpolled >= 16) {
			rd->unpolled = 0;
			pump_input(rd, 0);
		}
		if (rd->done)
			break;
		if (rd->nwanted > 0) {
			serve_wanted(rd);
			continue;
		}
		if (!rd->walk_done && credit_may_send(&rd->cr)) {
			r = rd->ops->next(rd->ctx, &e);
			if (r == CB_ERR_EOF) {
				uint8_t b[8];
				int i;

				for (i = 0; i < 8; i++)
					b[i] =
					    (uint8_t)(rd->seq >> (56 - 8 * i));
				if (frame_put(&rd->out, MSG_ENTRIES_END, b, 8))
					fatal("out of memory");
				rd->walk_done = 1;
			} else if (r != 0)
				fatal("%s: %s", rd->ops->source,
				    cb_strerror(r));
			else
				send_entry(rd, &e);
			continue;
		}
		flush_or_exit(rd);
		pump_input(rd, 1);
	}
	msg_entry_clear(&e);
	frame_out_flush(&rd->out);
}

void
feed_run(int in, int out, const struct feed_ops *ops, void *ctx, int settles)
{
	struct reader rd;

	memset(&rd, 0, sizeof(rd));
	rd.ops = ops;
	rd.ctx = ctx;
	frame_in_init(&rd.in, in, feed_max);
	frame_out_init(&rd.out, out);
	rd.out.settles = settles;
	rd.pcap = 2 * FEED_WINDOW + 1;
	if ((rd.pend = calloc(rd.pcap, sizeof(*rd.pend))) == NULL ||
	    credit_init(&rd.cr) != 0)
		fatal("out of memory");
	run(&rd);
	frame_in_release(&rd.in);
	frame_out_release(&rd.out);
	credit_release(&rd.cr);
	while (rd.pcount > 0) {
		struct pending *p = pend_at(&rd, 0);

		free(p->path);
		free(p->sig);
		rd.phead = (rd.phead + 1) % rd.pcap;
		rd.pcount--;
	}
	free(rd.pend);
}
