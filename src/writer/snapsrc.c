/*
 * The records of one session, newest or older, restricted to a sub-tree:
 * what restore, list files and verify read.  Read-only.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cb_err.h"
#include "history.h"
#include "linkmap.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "select.h"
#include "strbuf.h"
#include "timefmt.h"
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
	s->sel = o->sel;
	s->t = writer_pick_time(repo, o);
	if (s->t == repo->cur_time)
		r = md_snap_open(repo->datafd, repo->meta_name,
		    repo->ea_name[0] ? repo->ea_name : NULL,
		    repo->acl_name[0] ? repo->acl_name : NULL, &s->snap);
	else
		r = mdhist_open(repo->datafd, s->t, &s->hist);
	return r;
}

/*
 * rdiff-backup records a hard-link group's digest with its first link
 * only: when the first is not returned (before the sub-tree, or left out
 * by the selection), a later link returned gets the group's digest, so
 * that what a restore sends and compare reads is still checked.
 */
static void
group_digest(struct snapsrc *s, struct meta_rec *r)
{
	uint8_t d[20];

	if (r->type != META_REG || r->nlink < 2 ||
	    ((s->sublen == 1 && s->sub[0] == '.') && s->sel == NULL))
		return; /* every record is returned: nothing to carry */
	if (s->groups == NULL && linkmap_new(&s->groups) != 0)
		fatal("out of memory");
	if (hist_recorded_digest(s->groups, r, d) && !r->has_sha1) {
		memcpy(r->sha1, d, sizeof(d));
		r->has_sha1 = 1;
	}
}

/* The next record of the sub-tree, unselected. */
static int
next_raw(struct snapsrc *s, struct meta_rec *r)
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
		group_digest(s, r);
		w = meta_path_within(s->sub, s->sublen, r->path, r->pathlen);
		if (w >= 0)
			break;
	}
	if (w > 0) {
		meta_rec_clear(r);
		s->past = 1; /* the sub-tree is one run: stop reading */
		return CB_ERR_EOF;
	}
	return 0;
}

/* 1 if ${path} lies strictly beneath the directory ${dir}. */
static int
beneath(const char *dir, size_t dlen, const char *path, size_t plen)
{
	return plen > dlen && path[dlen] == '/' && memcmp(dir, path, dlen) == 0;
}

/* The selection's answer for ${r}, a record below the sub-tree's top. */
static int
select_rec(struct snapsrc *s, const struct meta_rec *r)
{
	static const mode_t fmt[] = { [META_REG] = S_IFREG,
		[META_DIR] = S_IFDIR,
		[META_SYM] = S_IFLNK,
		[META_FIFO] = S_IFIFO,
		[META_SOCK] = S_IFSOCK };
	struct select_entry e;
	struct stat st;
	size_t off = s->sublen == 1 && s->sub[0] == '.' ? 0 : s->sublen + 1;
	const char *slash;

	memset(&st, 0, sizeof(st));
	st.st_mode =
	    (r->type == META_DEV ? (r->dev_kind == 'b' ? S_IFBLK : S_IFCHR) :
		    r->type < sizeof(fmt) / sizeof(fmt[0]) ? fmt[r->type] :
							     0) |
	    (r->perms & 07777);
	st.st_size = (off_t)r->size;
	e.rel = r->path + off;
	e.rlen = r->pathlen - off;
	e.st = &st;
	e.dirfd = -1; /* no file system: --exclude-if-present never matches */
	slash = memrchr(e.rel, '/', e.rlen);
	e.name = slash ? slash + 1 : e.rel;
	return select_eval(s->sel, &e);
}

/* The bytes a held record keeps beyond its struct. */
static size_t
rec_bytes(const struct meta_rec *r)
{
	size_t n = r->pathlen + r->symlen;

	for (size_t i = 0; i < r->nxattrs; i++)
		n += strlen(r->xattrs[i].name) + r->xattrs[i].vlen;
	for (size_t i = 0; i < r->nacl; i++)
		n += r->acl[i].qual ? strlen(r->acl[i].qual) : 0;
	return n + sizeof(*r);
}

/* Take ${r} (moved) onto ${*arr}. */
static void
push_rec(struct meta_rec **arr, size_t *n, size_t *cap, struct meta_rec *r)
{
	struct meta_rec *na = array_grow(*arr, cap, *n, sizeof(**arr));

	if (na == NULL)
		fatal("out of memory");
	*arr = na;
	na[(*n)++] = *r;
	meta_rec_init(r);
}

/*
 * snapsrc_next with a selection, as the reader's walk applies it to a
 * tree: an excluded directory is not looked into; a scanned one is
 * returned only before the first record selected inside it.
 */
int
snapsrc_next(struct snapsrc *s, struct meta_rec *r)
{
	int rc, v;

	for (;;) {
		if (s->nextdue < s->ndue) {
			meta_rec_clear(r);
			*r = s->due[s->nextdue];
			meta_rec_init(&s->due[s->nextdue++]);
			s->count++;
			return 0;
		}
		s->ndue = s->nextdue = 0;
		if ((rc = next_raw(s, r)) != 0)
			return rc;
		s->seen++;
		if (s->sel == NULL ||
		    (s->sublen == 1 && s->sub[0] == '.' ?
			    r->pathlen == 1 && r->path[0] == '.' :
			    r->pathlen == s->sublen)) {
			s->count++; /* the top is always there */
			return 0;
		}
		if (s->skip != NULL &&
		    beneath(s->skip, s->skiplen, r->path, r->pathlen))
			continue;
		free(s->skip);
		s->skip = NULL;
		/* scanned directories this is not inside kept nothing */
		while (s->nheld > 0 &&
		    !beneath(s->held[s->nheld - 1].path,
			s->held[s->nheld - 1].pathlen, r->path, r->pathlen)) {
			s->held_bytes -= rec_bytes(&s->held[s->nheld - 1]);
			meta_rec_clear(&s->held[--s->nheld]);
		}
		v = select_rec(s, r);
		if (v == SEL_SCAN && r->type != META_DIR)
			continue; /* as the reader's walk: only a directory */
		if (v == SEL_EXCLUDE) {
			if (r->type == META_DIR) {
				if ((s->skip = strdup(r->path)) == NULL)
					fatal("out of memory");
				s->skiplen = r->pathlen;
			}
			continue;
		}
		if (v == SEL_SCAN) {
			/* a hostile repository nests 2048 directories of
			 * 320 KiB of attributes each: bounded */
			if ((s->held_bytes += rec_bytes(r)) > SNAPSRC_HELD_MAX)
				fatal("the selection looks into directories "
				      "nested around '%s' whose records hold "
				      "more than %u MiB: select them by path "
				      "instead",
				    log_name(r->path, r->pathlen),
				    SNAPSRC_HELD_MAX >> 20);
			push_rec(&s->held, &s->nheld, &s->capheld, r);
			continue;
		}
		if (s->nheld == 0) {
			s->count++;
			return 0;
		}
		for (size_t i = 0; i < s->nheld; i++)
			push_rec(&s->due, &s->ndue, &s->capdue, &s->held[i]);
		s->nheld = 0;
		s->held_bytes = 0;
		push_rec(&s->due, &s->ndue, &s->capdue, r);
	}
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
	if (s->count == 0) {
		char when[TIMEFMT_LEN];

		timefmt_utc(s->t, when);
		fatal("'%s' is not in the session of %s (list files --at %s "
		      "REPOSITORY shows what is)",
		    log_quote(s->sub, s->sublen), when, when);
	}
}

void
snapsrc_close(struct snapsrc *s)
{
	md_snap_free(s->snap);
	mdhist_free(s->hist);
	for (size_t i = 0; i < s->nheld; i++)
		meta_rec_clear(&s->held[i]);
	for (size_t i = s->nextdue; i < s->ndue; i++)
		meta_rec_clear(&s->due[i]);
	free(s->held);
	free(s->due);
	free(s->skip);
	linkmap_free(s->groups);
	s->groups = NULL;
	s->held = s->due = NULL;
	s->nheld = s->ndue = s->nextdue = 0;
	s->skip = NULL;
	s->snap = NULL;
	s->hist = NULL;
}
