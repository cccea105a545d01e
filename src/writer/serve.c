/*
 * The repository side of a restore: stream the newest state (metadata
 * merged with the EA and ACL snapshots, file data from the mirror) to a
 * restorer.  Read-only on the repository.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "linkmap.h"
#include "hello.h"
#include "log.h"
#include "history.h"
#include "mdfile.h"
#include "mdhist.h"
#include "timespec.h"
#include "msg.h"
#include "wire.h"
#include "writer.h"
#include "xfer.h"

static long
serve_max(uint8_t type)
{
	return (type == MSG_DONE || type == MSG_HELLO) ? msg_max_payload(type) :
							 -1;
}

static void
send_entry(struct frame_out *out, const struct msg_entry *e)
{
	struct wire_wr wr;
	int r;

	wire_wr_init(&wr, MSG_ENTRY_MAX);
	if ((r = msg_entry_encode(&wr, e)) != 0 ||
	    (r = frame_put(out, MSG_ENTRY, wr.p, wr.len)) != 0)
		fatal("encoding '%s': %s",
		    log_quote(e->rec.path, e->rec.pathlen), cb_strerror(r));
	wire_wr_release(&wr);
}

/* Where a restore reads from: the current mirror or an older session. */
struct source {
	struct repo *repo;
	struct snapsrc ss;
	struct hist_dir hdir;
};

/* Sending to the restorer failed: one that went away said why on its own
 * standard error ("restorer did not finish" after it would be noise). */
static void
send_failed(int rc)
{
	if (rc == CB_ERR_SYS && (errno == EPIPE || errno == ECONNRESET)) {
		log_debug("the restorer went away");
		exit(1);
	}
	fatal("sending to restorer: %s",
	    rc == CB_ERR_SYS ? strerror(errno) : cb_strerror(rc));
}

static void
send_content(struct source *src, struct frame_out *out,
    const struct meta_rec *r, uint64_t seq)
{
	struct repo *repo = src->repo;
	struct stat st;
	int fd, rc;

	if (src->ss.snap != NULL)
		fd = hist_mirror_open(repo->rootfd, repo->datafd, r);
	else if ((rc = hist_file_at(&src->hdir, repo->rootfd, repo->datafd, r,
		      src->ss.t, &fd)) != 0) {
		if (rc == CB_ERR_TOO_LARGE)
			log_error("cannot rebuild '%s' as of the session: its "
				  "increments make more than its recorded "
				  "%llu bytes",
			    log_quote(r->path, r->pathlen),
			    (unsigned long long)r->size);
		else
			log_error("cannot rebuild '%s' as of the session: %s",
			    log_quote(r->path, r->pathlen),
			    rc == CB_ERR_SYS ? strerror(errno) :
					       cb_strerror(rc));
		fd = -1;
		errno = EIO;
	}

	if (fd < 0) {
		log_error("cannot open mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
		rc = xfer_send_failed(out, seq, errno);
	} else if (fstat(fd, &st) != 0 || (uint64_t)st.st_size > r->size) {
		/* The restorer takes no more than the recorded size. */
		log_error("mirror file '%s' holds more than its recorded %llu "
			  "bytes: not sent",
		    log_quote(r->path, r->pathlen),
		    (unsigned long long)r->size);
		close(fd);
		rc = xfer_send_failed(out, seq, EIO);
	} else {
		rc = xfer_send_file(out, fd, seq, &st, 0);
		close(fd);
	}
	if (rc != 0)
		send_failed(rc);
}

static uint64_t
fnv1a(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	while (n-- > 0)
		h = (h ^ *b++) * 0x100000001b3ull;
	return h;
}

uint64_t
sample_slot(const struct meta_rec *r, uint64_t m)
{
	uint64_t h = 0xcbf29ce484222325ull;

	if (r->type == META_REG && r->nlink > 1) {
		h = fnv1a(h, &r->devloc, sizeof(r->devloc));
		h = fnv1a(h, &r->inode, sizeof(r->inode));
	} else
		h = fnv1a(h, r->path, r->pathlen);
	return m > 0 ? h % m : 0;
}

/* In a drill's sample: every directory (the tree's frame), and the
 * entries of slot R. */
static int
in_sample(const struct writer_opts *o, const struct meta_rec *r)
{
	return o->sample_m == 0 || r->type == META_DIR ||
	    sample_slot(r, o->sample_m) == o->sample_r;
}

/* The session asked for: --at rounded down to a session time. */
int64_t
writer_pick_time(struct repo *repo, const struct writer_opts *o)
{
	int64_t *sessions = NULL, t;
	size_t n = 0;
	int r;

	if (o->at == NULL)
		return repo->cur_time;
	if ((r = repo_sessions(repo->datafd, &sessions, &n)) != 0)
		fatal("cannot list the sessions of '%s': %s", repo->path,
		    cb_strerror(r));
	if (timespec_parse(o->at, o->now, sessions, n, &t) != 0)
		fatal("bad time string '%s' (try now, an epoch, a date, 3D, "
		      "2W or 5B)",
		    o->at);
	t = timespec_round_down(t, sessions, n);
	free(sessions);
	if (t > repo->cur_time)
		t = repo->cur_time;
	return t;
}

static void
source_open(struct source *src, struct repo *repo, const struct writer_opts *o)
{
	memset(src, 0, sizeof(*src));
	src->repo = repo;
	hist_dir_init(&src->hdir);
	snapsrc_open(&src->ss, repo, o);
	if (src->ss.t != repo->cur_time) {
		char ts[TIMEFMT_LEN];

		timefmt_utc(src->ss.t, ts);
		log_info("restoring the session of %s", ts);
	}
}

int
writer_serve_restore(struct repo *repo, const struct writer_opts *o)
{
	struct frame_in in;
	struct frame_out out;
	struct source src;
	struct linkmap *links = NULL;
	struct msg_entry e;
	uint64_t seq = 0, v;
	const uint8_t *p;
	size_t len;
	uint8_t type;
	uint32_t status;
	int r, rc = 0;

	frame_in_init(&in, 0, serve_max);
	frame_out_init(&out, 1);
	msg_entry_init(&e);
	source_open(&src, repo, o);
	if (linkmap_new(&links) != 0)
		fatal("out of memory");
	(void)hello_exchange(&in, &out, ROLE_REPO_SOURCE, 0, ROLE_RESTORER,
	    "restorer");
	while ((r = snapsrc_next(&src.ss, &e.rec)) == 0) {
		const char *first = NULL, *orig = e.rec.path;
		size_t origlen = e.rec.pathlen;

		if (!in_sample(o, &e.rec)) {
			msg_entry_clear(&e);
			continue;
		}
		seq++;
		/* The restorer sees paths relative to the sub-tree. */
		if (o->sublen == 1 && o->sub[0] == '.')
			; /* the whole repository */
		else if (e.rec.pathlen == o->sublen) {
			e.rec.path = (char *)".";
			e.rec.pathlen = 1;
		} else {
			e.rec.path += o->sublen + 1;
			e.rec.pathlen -= o->sublen + 1;
		}
		if (e.rec.type == META_REG && e.rec.nlink > 1 &&
		    linkmap_visit(links, e.rec.devloc, e.rec.inode, e.rec.nlink,
			e.rec.path, &first) != 0)
			fatal("out of memory");
		if (first != NULL) {
			if ((e.link_to = strdup(first)) == NULL)
				fatal("out of memory");
			e.link_len = strlen(first);
		}
		send_entry(&out, &e);
		e.rec.path = (char *)orig;
		e.rec.pathlen = origlen;
		if (e.rec.type == META_REG && first == NULL)
			send_content(&src, &out, &e.rec, seq);
		else if (frame_out_pending(&out) >= 65536 &&
		    frame_out_flush(&out) != 0)
			send_failed(CB_ERR_SYS);
		msg_entry_clear(&e);
	}
	snapsrc_end(&src.ss, r);
	/* a selection that left out all but the top is most likely a
	 * mistake in it (rdiff-backup restores nothing, in silence) */
	if (src.ss.sel != NULL && src.ss.count == 1 && src.ss.seen > 1) {
		int whole = o->sublen == 1 && o->sub[0] == '.';
		unsigned long long n = src.ss.seen - 1;

		log_warn("the selection matched nothing beneath %s%s%s (%llu "
			 "%s left out): only the top was restored",
		    whole ? "the top" : "'",
		    whole ? "" : log_quote(o->sub, o->sublen), whole ? "" : "'",
		    n, n == 1 ? "entry" : "entries");
		rc = 2;
	}
	{
		uint8_t b[8];
		int i;

		for (i = 0; i < 8; i++)
			b[i] = (uint8_t)(seq >> (56 - 8 * i));
		if (frame_put(&out, MSG_ENTRIES_END, b, 8) != 0 ||
		    frame_out_flush(&out) != 0)
			send_failed(CB_ERR_SYS);
	}
	if ((r = frame_in_get(&in, &type, &p, &len)) == CB_ERR_EOF) {
		log_debug("the restorer ended without DONE");
		exit(1); /* it said why */
	}
	if (r != 0 || type != MSG_DONE ||
	    msg_u32pair_decode(p, len, &status, &v) != 0)
		fatal("restorer did not finish: %s",
		    r ? cb_strerror(r) : "unexpected message");
	snapsrc_close(&src.ss);
	hist_dir_release(&src.hdir);
	linkmap_free(links);
	frame_in_release(&in);
	frame_out_release(&out);
	return rc;
}
