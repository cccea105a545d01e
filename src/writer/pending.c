/*
 * New files whose SHA-1 the hashing thread still computes.
 *
 * A new file of the mirror needs its digest only for its metadata
 * record.  Waiting for the digest at the end of each file made the
 * receiving thread wait for the hashing one, file after file: on a
 * Debian tree, hashing took as long in wall time as in CPU time, as if
 * there were one core.  Instead the file is handed over as it is (its
 * content, owner, mode and time in place, its descriptor open for the
 * thread to read back) and the receiving thread goes on.  Its record, and
 * every metadata record after it, waits in s->mpend until the digest is
 * known, so that the metadata file keeps its order; the extended
 * attribute and ACL files hold no digests and are written at once.
 *
 * The digests are collected, oldest first, whenever a record is written,
 * so the waiting text stays short; all of them before the metadata file
 * is closed.  A session that dies leaves the new files under their own
 * names, which regress removes as it removes any new path.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backup_internal.h"
#include "cb_err.h"
#include "log.h"

/* Waiting metadata text beyond which the oldest digest is waited for. */
#define MPEND_MAX ((size_t)1024 * 1024)

static const char digest_field[] = "\n  SHA1Digest ";

/* The oldest pending file: wait for its digest if ${wait}, else only if
 * it is known.  Its record and all before the next pending one then go
 * out.  1 if it was done. */
static int
finish_oldest(struct session *s, int wait)
{
	struct pending *pf = &s->pend[s->pend_head];
	size_t out;
	uint8_t sha1[20];
	int e;

	if (!wait && !xfer_sink_done(&pf->sink))
		return 0;
	if (xfer_sink_finish(&pf->sink, sha1) != 0)
		fatal("reading back mirror file '%s' for its SHA-1: %s",
		    log_quote(pf->path, strlen(pf->path)), strerror(errno));
	xfer_sink_release(&pf->sink);
	if (close(pf->fd) != 0)
		fatal("writing mirror file '%s': %s",
		    log_quote(pf->path, strlen(pf->path)), strerror(errno));
	meta_sha1_hex(sha1, s->mpend.buf + pf->sha_off);
	free(pf->path);
	s->pend_head = (s->pend_head + 1) % PENDING_MAX;
	s->npend--;
	out = s->npend > 0 ? s->pend[s->pend_head].rec_off : s->mpend.len;
	if ((e = md_writer_write(s->wmeta, s->mpend.buf, out)) != 0)
		fatal("writing metadata: %s", cb_strerror(e));
	memmove(s->mpend.buf, s->mpend.buf + out, s->mpend.len - out);
	s->mpend.len -= out;
	for (size_t i = 0; i < s->npend; i++) {
		pf = &s->pend[(s->pend_head + i) % PENDING_MAX];
		pf->rec_off -= out;
		pf->sha_off -= out;
	}
	return 1;
}

void
pending_poll(struct session *s)
{
	while (s->npend > 0 && finish_oldest(s, s->mpend.len > MPEND_MAX))
		;
}

void
pending_add(struct session *s, const struct meta_rec *r, int fd)
{
	struct pending *pf;
	const char *f;

	pending_poll(s);
	if (s->npend == PENDING_MAX)
		finish_oldest(s, 1);
	pf = &s->pend[(s->pend_head + s->npend) % PENDING_MAX];
	if ((pf->path = strndup(r->path, r->pathlen)) == NULL)
		fatal("out of memory");
	xfer_sink_move(&pf->sink, &s->sink);
	pf->fd = fd;
	pf->rec_off = s->mpend.len;
	s->npend++;
	write_record_only(s, r, NULL); /* into s->mpend: npend > 0; a new
					* file, no previous record */
	f = memmem(s->mpend.buf + pf->rec_off, s->mpend.len - pf->rec_off,
	    digest_field, sizeof(digest_field) - 1);
	if (f == NULL) /* meta_format writes one for has_sha1 */
		fatal("internal error: a record without its SHA-1");
	pf->sha_off = (size_t)(f - s->mpend.buf) + sizeof(digest_field) - 1;
}

int
pending_meta(struct session *s, const char *text, size_t len)
{
	if (s->npend == 0)
		return md_writer_write(s->wmeta, text, len);
	return strbuf_add(&s->mpend, text, len);
}

void
pending_finish_all(struct session *s)
{
	while (s->npend > 0)
		finish_oldest(s, 1);
}
