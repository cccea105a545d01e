/*
 * replica-source: one session of a repository as a reader would send a
 * tree (feed.h), for a vault's writer that makes the same session from
 * it (capback replicate).  Read-only on the repository: the records of
 * the session, each regular file's content rebuilt as for a restore,
 * and the recorded SHA-1 in each file's entry, which the vault's writer
 * checks what it received against.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "feed.h"
#include "history.h"
#include "log.h"
#include "msg.h"
#include "writer.h"

/* Entries whose content may still be asked for: twice the credit
 * window, as the feed's own pending ring. */
#define RING (2u * MSG_CREDIT_ENTRIES + 1)

struct replsrc {
	struct repo *repo;
	struct snapsrc ss;
	struct hist_dir hdir;
	uint64_t seq;	       /* entries handed to the feed */
	struct meta_rec *ring; /* regular files, by seq % RING */
	uint64_t *ringseq;
};

static int
repl_next(void *ctx, struct msg_entry *e)
{
	struct replsrc *s = ctx;
	int rc;

	msg_entry_clear(e);
	if ((rc = snapsrc_next(&s->ss, &e->rec)) != 0)
		return rc;
	s->seq++;
	if (e->rec.type == META_REG) {
		struct meta_rec *k = &s->ring[s->seq % RING];

		/* what rebuilding needs: no xattrs or ACL held */
		meta_rec_clear(k);
		*k = e->rec;
		k->path = strdup(e->rec.path);
		k->symdata = NULL;
		k->uname = k->gname = NULL;
		k->xattrs = NULL;
		k->nxattrs = 0;
		k->acl = NULL;
		k->nacl = 0;
		if (k->path == NULL)
			fatal("out of memory");
		s->ringseq[s->seq % RING] = s->seq;
	}
	return 0;
}

static int
repl_open(void *ctx, uint64_t seq, const char *path)
{
	struct replsrc *s = ctx;
	struct repo *repo = s->repo;
	struct meta_rec *r = &s->ring[seq % RING];
	struct stat st;
	int fd, rc;

	if (s->ringseq[seq % RING] != seq || r->path == NULL ||
	    strcmp(r->path, path) != 0)
		fatal("internal: no record for entry %llu",
		    (unsigned long long)seq);
	if (s->ss.snap != NULL)
		fd = hist_mirror_open(repo->rootfd, repo->datafd, r);
	else if ((rc = hist_file_at(&s->hdir, repo->rootfd, repo->datafd, r,
		      s->ss.t, &fd)) != 0) {
		log_error("cannot rebuild '%s' as of the session: %s",
		    log_quote(r->path, r->pathlen),
		    rc == CB_ERR_TOO_LARGE ? "its increments make more than "
					     "its recorded size" :
			rc == CB_ERR_SYS   ? strerror(errno) :
					     cb_strerror(rc));
		errno = EIO;
		return -1;
	}
	if (fd < 0) {
		log_error("cannot open mirror file '%s': %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != r->size) {
		log_error("mirror file '%s' does not hold its recorded %llu "
			  "bytes: not sent",
		    log_quote(r->path, r->pathlen),
		    (unsigned long long)r->size);
		close(fd);
		errno = EIO;
		return -1;
	}
	return fd;
}

static void
repl_done(void *ctx, uint64_t seq)
{
	struct replsrc *s = ctx;

	if (s->ringseq[seq % RING] == seq)
		meta_rec_clear(&s->ring[seq % RING]);
}

static const struct feed_ops repl_ops = { repl_next, repl_open, repl_done,
	"reading the session" };

int
writer_serve_replica(struct repo *repo, const struct writer_opts *o)
{
	struct replsrc s;

	memset(&s, 0, sizeof(s));
	s.repo = repo;
	hist_dir_init(&s.hdir);
	if ((s.ring = calloc(RING, sizeof(*s.ring))) == NULL ||
	    (s.ringseq = calloc(RING, sizeof(*s.ringseq))) == NULL)
		fatal("out of memory");
	snapsrc_open(&s.ss, repo, o);
	feed_run(0, 1, &repl_ops, &s, 0);
	for (size_t i = 0; i < RING; i++)
		meta_rec_clear(&s.ring[i]);
	free(s.ring);
	free(s.ringseq);
	snapsrc_close(&s.ss);
	hist_dir_release(&s.hdir);
	return 0;
}
