/*
 * The records of one session, newest or older, restricted to a sub-tree:
 * what restore, list files and verify read.  Read-only.
 */
#include <stdio.h>
#include <string.h>

#include "cb_err.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "writer.h"

void
snapsrc_open(struct snapsrc *s, struct repo *repo, const struct writer_opts *o)
{
	int r = snapsrc_try_open(s, repo, o);

	if (r != 0)
		fatal("cannot read the metadata of session %lld: %s",
		    (long long)s->t, cb_strerror(r));
}

int
snapsrc_try_open(struct snapsrc *s, struct repo *repo,
    const struct writer_opts *o)
{
	int r;

	memset(s, 0, sizeof(*s));
	s->sub = o->sub;
	s->sublen = o->sublen;
	s->t = writer_pick_time(repo, o);
	if (s->t == repo->cur_time)
		r = md_snap_open(repo->datafd, repo->meta_name,
		    repo->ea_name[0] ? repo->ea_name : NULL,
		    repo->acl_name[0] ? repo->acl_name : NULL, &s->snap);
	else
		r = mdhist_open(repo->datafd, s->t, &s->hist);
	return r;
}

int
snapsrc_next(struct snapsrc *s, struct meta_rec *r)
{
	int rc, w;

	if (s->past)
		return CB_ERR_EOF;
	for (;;) {
		meta_rec_clear(r); /* what a skipped record held */
		rc = s->snap ? md_snap_next(s->snap, r) :
			       mdhist_next(s->hist, r);
		if (rc != 0)
			return rc;
		w = meta_path_within(s->sub, s->sublen, r->path, r->pathlen);
		if (w >= 0)
			break;
	}
	if (w > 0) {
		meta_rec_clear(r);
		s->past = 1; /* the sub-tree is one run: stop reading */
		return CB_ERR_EOF;
	}
	s->count++;
	return 0;
}

int
snapsrc_path_at(struct mdhist_path *ph, struct repo *repo,
    const struct writer_opts *o, int64_t *t, struct meta_rec *rec)
{
	int r;

	/* the session and files snapsrc_try_open picks */
	*t = writer_pick_time(repo, o);
	if (*t == repo->cur_time)
		r = mdhist_path_open_snap(ph, repo->meta_name,
		    repo->ea_name[0] ? repo->ea_name : NULL,
		    repo->acl_name[0] ? repo->acl_name : NULL);
	else
		r = mdhist_path_open(ph, *t);
	if (r != 0)
		fatal("cannot read the metadata of session %lld: %s",
		    (long long)*t, cb_strerror(r));
	r = mdhist_path_get(ph, rec);
	if (r != 0 && r != CB_ERR_EOF)
		fatal("reading metadata: %s", cb_strerror(r));
	return r == 0;
}

void
snapsrc_end(struct snapsrc *s, int rc)
{
	if (rc != CB_ERR_EOF)
		fatal("reading metadata: %s", cb_strerror(rc));
	if (s->count == 0)
		fatal("'%s' is not in the backup of that time",
		    log_quote(s->sub, s->sublen));
}

void
snapsrc_close(struct snapsrc *s)
{
	md_snap_free(s->snap);
	mdhist_free(s->hist);
	s->snap = NULL;
	s->hist = NULL;
}
