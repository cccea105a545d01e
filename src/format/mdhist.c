#include "mdhist.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cb_err.h"
#include "mdfile.h"
#include "meta.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"

/*
 * mirror_metadata history: diffs between snapshots, the chain rule and the
 * reader of the metadata at an older session time, following rdiff-backup
 * 2.2's rdiffbackup/meta_mgr.py (PatchDiffMan).
 */

#define DIFF_FLUSH 65536 /* bytes buffered before md_writer_write */

/* ---- listing the metadata files ---- */

struct mdfile {
	const char *name; /* borrowed from the scan */
	int64_t time;
	enum incname_ext ext;
};

struct mdlist {
	struct repo_entry *scan;
	size_t nscan;
	struct mdfile *f; /* mirror_metadata files, ascending time */
	size_t n;
};

static int
mdfile_cmp(const void *a, const void *b)
{
	int64_t x = ((const struct mdfile *)a)->time;
	int64_t y = ((const struct mdfile *)b)->time;

	return (x > y) - (x < y);
}

static void
mdlist_free(struct mdlist *l)
{
	repo_scan_free(l->scan, l->nscan);
	free(l->f);
	memset(l, 0, sizeof(*l));
}

/*
 * All mirror_metadata.<T>.* of ${datafd}, sorted by time; two with the
 * same time are CB_ERR_CORRUPT (rdiff-backup refuses them unless told
 * --allow-duplicate-timestamps).
 */
static int
mdlist_load(int datafd, struct mdlist *l)
{
	size_t i, o;
	int r;

	memset(l, 0, sizeof(*l));
	if ((r = repo_scan(datafd, &l->scan, &l->nscan)) != 0)
		goto out;
	r = CB_ERR_NOMEM;
	if ((l->f = calloc(l->nscan > 0 ? l->nscan : 1, sizeof(*l->f))) == NULL)
		goto out;
	for (i = 0; i < l->nscan; i++) {
		if (l->scan[i].base != RB_MIRROR_METADATA)
			continue;
		l->f[l->n].name = l->scan[i].name;
		l->f[l->n].time = l->scan[i].inc.time;
		l->f[l->n].ext = l->scan[i].inc.ext;
		l->n++;
	}
	qsort(l->f, l->n, sizeof(*l->f), mdfile_cmp);
	/*
	 * A snapshot and a diff of the same time: a backup was stopped while
	 * turning that snapshot into a diff (the diff may be partial).  The
	 * snapshot is whole; regress removes the diff.
	 */
	r = CB_ERR_CORRUPT;
	for (i = 1, o = 1; i < l->n; i++) {
		if (l->f[o - 1].time != l->f[i].time) {
			l->f[o++] = l->f[i];
			continue;
		}
		if (l->f[i].ext == INC_SNAPSHOT &&
		    l->f[o - 1].ext != INC_SNAPSHOT)
			l->f[o - 1] = l->f[i];
		else if (l->f[o - 1].ext != INC_SNAPSHOT ||
		    l->f[i].ext == INC_SNAPSHOT)
			goto out; /* two diffs or two snapshots */
	}
	if (l->n > 0)
		l->n = o;
	r = 0;
out:
	if (r != 0)
		mdlist_free(l);
	return r;
}

/* Index of the file of time ${t}, or -1. */
static long
mdlist_find(const struct mdlist *l, int64_t t)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		if (l->f[i].time == t)
			return (long)i;
	}
	return -1;
}

/* The scan entry of ${base} with time ${t}, or NULL. */
static const char *
scan_find(const struct mdlist *l, enum repo_base base, int64_t t)
{
	size_t i;

	for (i = 0; i < l->nscan; i++) {
		if (l->scan[i].base == base && l->scan[i].inc.time == t)
			return l->scan[i].name;
	}
	return NULL;
}

static int
keep_snapshot(int datafd, int64_t old_time, int ahead, int *keep)
{
	struct mdlist l;
	size_t chain = 1;
	long i, k;
	int r;

	*keep = 1;
	if ((r = mdlist_load(datafd, &l)) != 0)
		return r;
	if ((i = mdlist_find(&l, old_time)) < 0) {
		mdlist_free(&l);
		errno = ENOENT;
		return CB_ERR_SYS;
	}
	if (ahead || (size_t)i + 1 < l.n) {
		for (k = i - 1; k >= 0 && l.f[k].ext == INC_DIFF; k--)
			chain++;
		*keep = chain >= MDHIST_MAX_CHAIN;
	}
	mdlist_free(&l);
	return 0;
}

int
mdhist_keep_snapshot(int datafd, int64_t old_time, int *keep)
{
	return keep_snapshot(datafd, old_time, 0, keep);
}

int
mdhist_keep_snapshot_ahead(int datafd, int64_t old_time, int *keep)
{
	return keep_snapshot(datafd, old_time, 1, keep);
}

/* ---- writing a diff ---- */

struct dside {
	struct md_reader *rd;
	struct meta_rec rec;
	int have; /* rec holds the next record */
	int done; /* the file is exhausted */
};

static int
dside_peek(struct dside *s)
{
	int r;

	if (s->have || s->done)
		return 0;
	r = md_reader_next(s->rd, &s->rec);
	if (r == CB_ERR_EOF) {
		s->done = 1;
		return 0;
	}
	if (r == 0)
		s->have = 1;
	return r;
}

static void
dside_drop(struct dside *s)
{
	meta_rec_clear(&s->rec);
	s->have = 0;
}

/* Append the diff entry of the current step to ${out}; advance sides. */
static int
diff_step(struct dside *o, struct dside *n, struct strbuf *out,
    struct strbuf *tmp)
{
	struct meta_rec none;
	size_t mark;
	int c, r;

	if (o->have && n->have)
		c = meta_path_cmp(o->rec.path, o->rec.pathlen, n->rec.path,
		    n->rec.pathlen);
	else
		c = o->have ? -1 : 1;
	if (c < 0) {
		r = meta_format(out, &o->rec);
		dside_drop(o);
		return r;
	}
	if (c > 0) {
		meta_rec_init(&none);
		none.path = n->rec.path;
		none.pathlen = n->rec.pathlen;
		none.type = META_NONE;
		r = meta_format(out, &none);
		dside_drop(n);
		return r;
	}
	mark = out->len;
	strbuf_reset(tmp);
	if ((r = meta_format(out, &o->rec)) != 0 ||
	    (r = meta_format(tmp, &n->rec)) != 0)
		return r;
	if (out->len - mark == tmp->len &&
	    memcmp(out->buf + mark, tmp->buf, tmp->len) == 0) {
		out->len = mark;
		out->buf[mark] = '\0';
	}
	dside_drop(o);
	dside_drop(n);
	return 0;
}

int
mdhist_write_diff(int datafd, const char *old_snapshot,
    const char *new_snapshot, const char *diff_name, int compress)
{
	struct dside o = { NULL, { 0 }, 0, 0 }, n = { NULL, { 0 }, 0, 0 };
	struct strbuf out = STRBUF_INIT, tmp = STRBUF_INIT;
	struct md_writer *w = NULL;
	char made[256];
	int r, saved;

	meta_rec_init(&o.rec);
	meta_rec_init(&n.rec);
	made[0] = '\0';
	if ((r = md_reader_open(datafd, old_snapshot, MD_META, &o.rd)) != 0 ||
	    (r = md_reader_open(datafd, new_snapshot, MD_META, &n.rd)) != 0 ||
	    (r = md_writer_open(datafd, diff_name, compress, &w)) != 0)
		goto out;
	for (;;) {
		if ((r = dside_peek(&o)) != 0 || (r = dside_peek(&n)) != 0)
			goto out;
		if (!o.have && !n.have)
			break;
		if ((r = diff_step(&o, &n, &out, &tmp)) != 0)
			goto out;
		if (out.len >= DIFF_FLUSH) {
			if ((r = md_writer_write(w, out.buf, out.len)) != 0)
				goto out;
			strbuf_reset(&out);
		}
	}
	if (out.len > 0 && (r = md_writer_write(w, out.buf, out.len)) != 0)
		goto out;
	r = md_writer_close(w, made, sizeof(made));
	w = NULL;
	if (r != 0)
		goto out;
	if (fsync(datafd) != 0) {
		r = CB_ERR_SYS;
		saved = errno;
		unlinkat(datafd, made, 0);
		errno = saved;
	}
out:
	md_writer_abort(w);
	saved = errno;
	md_reader_free(o.rd);
	md_reader_free(n.rd);
	meta_rec_clear(&o.rec);
	meta_rec_clear(&n.rec);
	strbuf_release(&out);
	strbuf_release(&tmp);
	errno = saved;
	return r;
}

/* ---- reading the metadata at a time ---- */

struct msrc {
	struct md_reader *rd;
	struct meta_rec rec;
	int have;
	int done;
};

struct mdhist {
	struct msrc *src; /* src[0]: the file of t (oldest, wins ties) */
	size_t n;
	struct msrc ea, acl; /* rd NULL: no such file */
	int err;
};

static int
msrc_peek(struct msrc *s)
{
	int r;

	if (s->rd == NULL)
		s->done = 1;
	if (s->have || s->done)
		return 0;
	r = md_reader_next(s->rd, &s->rec);
	if (r == CB_ERR_EOF) {
		s->done = 1;
		return 0;
	}
	if (r == 0)
		s->have = 1;
	return r;
}

void
mdhist_free(struct mdhist *h)
{
	size_t i;

	if (h == NULL)
		return;
	for (i = 0; i < h->n; i++) {
		md_reader_free(h->src[i].rd);
		meta_rec_clear(&h->src[i].rec);
	}
	free(h->src);
	md_reader_free(h->ea.rd);
	md_reader_free(h->acl.rd);
	meta_rec_clear(&h->ea.rec);
	meta_rec_clear(&h->acl.rec);
	free(h);
}

size_t
mdhist_nfiles(const struct mdhist *h)
{
	return h->n;
}

/* Open the EA or ACL snapshot of time ${t} into ${s}, if there is one. */
static int
open_side(int datafd, const struct mdlist *l, enum repo_base base,
    enum md_kind kind, int64_t t, struct msrc *s)
{
	const char *name = scan_find(l, base, t);

	if (name == NULL)
		return 0;
	return md_reader_open(datafd, name, kind, &s->rd);
}

/*
 * The metadata files of time ${t}: l->f[*first .. *last], from the file of
 * ${t} to the first snapshot.  0, or the errors of mdhist_open.
 */
static int
mdlist_chain(const struct mdlist *l, int64_t t, size_t *first, size_t *last)
{
	long i;

	if ((i = mdlist_find(l, t)) < 0) {
		errno = ENOENT;
		return CB_ERR_SYS;
	}
	*first = (size_t)i;
	for (*last = *first; *last < l->n; (*last)++) {
		if (l->f[*last].ext == INC_SNAPSHOT)
			break;
	}
	if (*last == l->n)
		return CB_ERR_CORRUPT;
	if (*last - *first + 1 > MDHIST_MAX_FILES)
		return CB_ERR_TOO_LARGE;
	return 0;
}

int
mdhist_open(int datafd, int64_t t, struct mdhist **out)
{
	struct mdhist *h = NULL;
	struct mdlist l;
	size_t first, last, i;
	int r, saved;

	*out = NULL;
	if ((r = mdlist_load(datafd, &l)) != 0)
		return r;
	if ((r = mdlist_chain(&l, t, &first, &last)) != 0)
		goto out;
	r = CB_ERR_NOMEM;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		goto out;
	meta_rec_init(&h->ea.rec);
	meta_rec_init(&h->acl.rec);
	if ((h->src = calloc(last - first + 1, sizeof(*h->src))) == NULL)
		goto out;
	for (i = first; i <= last; i++) {
		meta_rec_init(&h->src[h->n].rec);
		if ((r = md_reader_open(datafd, l.f[i].name, MD_META,
			 &h->src[h->n].rd)) != 0)
			goto out;
		h->n++;
	}
	if ((r = open_side(datafd, &l, RB_EA, MD_EA, t, &h->ea)) != 0 ||
	    (r = open_side(datafd, &l, RB_ACL, MD_ACL, t, &h->acl)) != 0)
		goto out;
	*out = h;
	h = NULL;
	r = 0;
out:
	saved = errno;
	mdhist_free(h);
	mdlist_free(&l);
	errno = saved;
	return r;
}

/* Attach the EA or ACL data of rec->path from ${s}, if it has any. */
static int
side_attach(struct msrc *s, struct meta_rec *rec, int is_ea)
{
	int c, r;

	if ((r = msrc_peek(s)) != 0 || !s->have)
		return r;
	c = meta_path_cmp(s->rec.path, s->rec.pathlen, rec->path, rec->pathlen);
	if (c < 0)
		return CB_ERR_CORRUPT; /* a path not present at t */
	if (c > 0)
		return 0;
	if (is_ea) {
		rec->xattrs = s->rec.xattrs;
		rec->nxattrs = s->rec.nxattrs;
		s->rec.xattrs = NULL;
		s->rec.nxattrs = 0;
	} else {
		rec->acl = s->rec.acl;
		rec->nacl = s->rec.nacl;
		s->rec.acl = NULL;
		s->rec.nacl = 0;
	}
	meta_rec_clear(&s->rec);
	s->have = 0;
	return 0;
}

/* The EA and ACL files must hold nothing after the last record. */
static int
sides_finish(struct mdhist *h)
{
	int r;

	if ((r = msrc_peek(&h->ea)) != 0 || (r = msrc_peek(&h->acl)) != 0)
		return r;
	return h->ea.have || h->acl.have ? CB_ERR_CORRUPT : CB_ERR_EOF;
}

static int
hist_read(struct mdhist *h, struct meta_rec *rec)
{
	struct msrc *w;
	size_t i;
	int r;

	for (;;) {
		w = NULL;
		for (i = 0; i < h->n; i++) {
			if ((r = msrc_peek(&h->src[i])) != 0)
				return r;
			/* strictly smaller: on a tie the older file wins */
			if (h->src[i].have &&
			    (w == NULL ||
				meta_path_cmp(h->src[i].rec.path,
				    h->src[i].rec.pathlen, w->rec.path,
				    w->rec.pathlen) < 0))
				w = &h->src[i];
		}
		if (w == NULL)
			return sides_finish(h);
		*rec = w->rec;
		meta_rec_init(&w->rec);
		w->have = 0;
		for (i = 0; i < h->n; i++) {
			if (h->src[i].have &&
			    meta_path_cmp(h->src[i].rec.path,
				h->src[i].rec.pathlen, rec->path,
				rec->pathlen) == 0) {
				meta_rec_clear(&h->src[i].rec);
				h->src[i].have = 0;
			}
		}
		if (rec->type != META_NONE)
			break;
		meta_rec_clear(rec);
	}
	if ((r = side_attach(&h->ea, rec, 1)) != 0 ||
	    (r = side_attach(&h->acl, rec, 0)) != 0)
		return r;
	return 0;
}

int
mdhist_next(struct mdhist *h, struct meta_rec *rec)
{
	int r;

	meta_rec_clear(rec);
	if (h->err != 0)
		return h->err;
	if ((r = hist_read(h, rec)) != 0) {
		h->err = r;
		meta_rec_clear(rec);
	}
	return r;
}

/* ---- following one path ---- */

struct pfile {
	struct md_reader *rd; /* opened for the selected session, unread */
	int read;	      /* ${found} and ${rec} say what the file holds */
	int found;
	struct meta_rec rec; /* the path's record in the file, when found */
};

struct mdhist_path {
	int datafd;
	const char *path;
	size_t pathlen;
	int listed; /* l and f are loaded, or lerr says why not */
	int lerr, lerrno;
	struct mdlist l;
	struct pfile *f;   /* one per l.f[] */
	size_t low;	   /* f[..low) hold nothing */
	struct pfile own;  /* a snapshot that is not in the listing */
	struct pfile *sel; /* the selected session's files, oldest first */
	size_t nsel;
	int none_hides; /* mdhist's merge, not md_snap's file */
	struct md_reader *ea, *acl;
};

static void
pfile_drop(struct pfile *pf)
{
	md_reader_free(pf->rd);
	pf->rd = NULL;
	meta_rec_clear(&pf->rec);
	pf->read = pf->found = 0;
}

/* Forget the selection: close what it opened and did not read. */
static void
path_unselect(struct mdhist_path *p)
{
	int saved = errno;
	size_t i;

	for (i = 0; i < p->nsel; i++) {
		md_reader_free(p->sel[i].rd);
		p->sel[i].rd = NULL;
	}
	p->sel = NULL;
	p->nsel = 0;
	md_reader_free(p->ea);
	md_reader_free(p->acl);
	p->ea = p->acl = NULL;
	errno = saved;
}

int
mdhist_path_new(int datafd, const char *path, size_t pathlen,
    struct mdhist_path **out)
{
	struct mdhist_path *p;

	if ((*out = p = calloc(1, sizeof(*p))) == NULL)
		return CB_ERR_NOMEM;
	p->datafd = datafd;
	p->path = path;
	p->pathlen = pathlen;
	meta_rec_init(&p->own.rec);
	return 0;
}

void
mdhist_path_free(struct mdhist_path *p)
{
	size_t i;

	if (p == NULL)
		return;
	path_unselect(p);
	for (i = 0; i < p->l.n; i++)
		pfile_drop(&p->f[i]);
	pfile_drop(&p->own);
	free(p->f);
	mdlist_free(&p->l);
	free(p);
}

/* The listing of the metadata files, made at the first call. */
static int
path_list(struct mdhist_path *p)
{
	size_t i;

	if (!p->listed) {
		p->listed = 1;
		p->lerr = mdlist_load(p->datafd, &p->l);
		if (p->lerr == 0 && p->l.n > 0 &&
		    (p->f = calloc(p->l.n, sizeof(*p->f))) == NULL) {
			mdlist_free(&p->l);
			p->lerr = CB_ERR_NOMEM;
		}
		p->lerrno = errno;
		for (i = 0; i < p->l.n; i++)
			meta_rec_init(&p->f[i].rec);
	}
	errno = p->lerrno;
	return p->lerr;
}

/* Open the EA or ACL file ${name} (NULL: none) into *rd. */
static int
path_open_side(struct mdhist_path *p, const char *name, enum md_kind kind,
    struct md_reader **rd)
{
	return name == NULL ? 0 : md_reader_open(p->datafd, name, kind, rd);
}

int
mdhist_path_open(struct mdhist_path *p, int64_t t)
{
	size_t first, last, i;
	int r;

	path_unselect(p);
	if ((r = path_list(p)) != 0 ||
	    (r = mdlist_chain(&p->l, t, &first, &last)) != 0)
		return r;
	/* the sessions come oldest first: older files are done with */
	for (; p->low < first; p->low++)
		pfile_drop(&p->f[p->low]);
	p->sel = &p->f[first];
	p->nsel = last - first + 1;
	p->none_hides = 1;
	/* what mdhist_open opens, in its order: the files, EA, ACL */
	for (i = first; i <= last; i++) {
		if (!p->f[i].read &&
		    (r = md_reader_open(p->datafd, p->l.f[i].name, MD_META,
			 &p->f[i].rd)) != 0)
			goto fail;
	}
	if ((r = path_open_side(p, scan_find(&p->l, RB_EA, t), MD_EA,
		 &p->ea)) != 0 ||
	    (r = path_open_side(p, scan_find(&p->l, RB_ACL, t), MD_ACL,
		 &p->acl)) != 0)
		goto fail;
	return 0;
fail:
	path_unselect(p);
	return r;
}

int
mdhist_path_open_snap(struct mdhist_path *p, const char *meta_name,
    const char *ea_name, const char *acl_name)
{
	struct pfile *pf = NULL;
	size_t i;
	int r;

	path_unselect(p);
	/* read already if an older session's chain ended with it */
	for (i = 0; p->listed && i < p->l.n && pf == NULL; i++) {
		if (strcmp(p->l.f[i].name, meta_name) == 0)
			pf = &p->f[i];
	}
	if (pf == NULL) {
		pf = &p->own;
		pfile_drop(pf);
	}
	p->sel = pf;
	p->nsel = 1;
	p->none_hides = 0;
	r = pf->read ? 0 :
		       md_reader_open(p->datafd, meta_name, MD_META, &pf->rd);
	if (r == 0)
		r = path_open_side(p, ea_name, MD_EA, &p->ea);
	if (r == 0)
		r = path_open_side(p, acl_name, MD_ACL, &p->acl);
	if (r != 0)
		path_unselect(p);
	return r;
}

/*
 * The EA or ACL record of the path from *rd (NULL: no such file) onto
 * ${rec}; one for a path that is not ${present} is CB_ERR_CORRUPT, as
 * side_attach finds it.
 */
static int
path_side(struct mdhist_path *p, struct md_reader *rd, int present,
    struct meta_rec *rec, int is_ea)
{
	struct meta_rec s;
	int r;

	if (rd == NULL)
		return 0;
	meta_rec_init(&s);
	r = md_reader_seek(rd, p->path, p->pathlen, &s);
	if (r == CB_ERR_EOF)
		return 0;
	if (r == 0 && !present)
		r = CB_ERR_CORRUPT;
	if (r == 0 && is_ea) {
		rec->xattrs = s.xattrs;
		rec->nxattrs = s.nxattrs;
		s.xattrs = NULL;
		s.nxattrs = 0;
	} else if (r == 0) {
		rec->acl = s.acl;
		rec->nacl = s.nacl;
		s.acl = NULL;
		s.nacl = 0;
	}
	meta_rec_clear(&s);
	return r;
}

int
mdhist_path_get(struct mdhist_path *p, struct meta_rec *rec)
{
	struct pfile *pf, *w = NULL;
	size_t i;
	int r = 0, present;

	meta_rec_clear(rec);
	for (i = 0; i < p->nsel; i++) {
		pf = &p->sel[i];
		if (!pf->read) {
			r = md_reader_seek(pf->rd, p->path, p->pathlen,
			    &pf->rec);
			if (r != 0 && r != CB_ERR_EOF)
				goto out;
			md_reader_free(pf->rd);
			pf->rd = NULL;
			pf->read = 1;
			pf->found = r == 0;
		}
		/* the oldest file that has the path wins */
		if (w == NULL && pf->found)
			w = pf;
	}
	present = w != NULL && !(p->none_hides && w->rec.type == META_NONE);
	if ((present && (r = meta_rec_copy(rec, &w->rec)) != 0) ||
	    (r = path_side(p, p->ea, present, rec, 1)) != 0 ||
	    (r = path_side(p, p->acl, present, rec, 0)) != 0)
		goto out;
	r = present ? 0 : CB_ERR_EOF;
out:
	path_unselect(p);
	if (r != 0)
		meta_rec_clear(rec);
	return r;
}
