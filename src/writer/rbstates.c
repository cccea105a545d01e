/*
 * verify --all: the states of a repository that rdiff-backup 2.2.2 gets
 * wrong and capback right (docs/design.md "rdiff-backup after capback"),
 * each named with the session it spoils, the tool it breaks and what to
 * run.  Nothing here is damage: every file restores with capback.
 *
 * - a session of rdiff-backup that left files out of itself (leftout.c):
 *   no tool restores them as of that session;
 * - an xattr whose name rdiff-backup quotes ('=', '\', bytes up to ' ' and
 *   from DEL on): its restore sets the quoted name ("user.sp\040ace"),
 *   and when rdiff-backup wrote an empty one with a '=' in its name, it
 *   reads none of that file's xattrs;
 * - a name over 205 bytes (its increments in long_filename_data) that a
 *   later session deleted and that sorts last in its directory: restoring
 *   a session that holds it, rdiff-backup loops for ever.
 */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backup_internal.h"
#include "cb_err.h"
#include "leftout.h"
#include "log.h"
#include "timefmt.h"
#include "writer.h"

#define SHOW_MAX      200
#define CANDIDATE_MAX 10000

struct rbstates {
	size_t shown, left_out, quoted, hangs;
};

static void
say(struct rbstates *st, int64_t t, const char *path, size_t len,
    const char *what)
{
	char ts[TIMEFMT_LEN];

	if (st->shown++ >= SHOW_MAX)
		return;
	timefmt_utc(t, ts);
	printf("  '%s' as of %s: %s\n", log_name(path, len), ts, what);
}

/* rdiff-backup's acl_quote changes the name. */
static int
xattr_name_quoted(const char *name)
{
	const unsigned char *p;

	for (p = (const unsigned char *)name; *p; p++)
		if (*p <= ' ' || *p >= 0x7f || *p == '=' || *p == '\\')
			return 1;
	return 0;
}

static size_t
parent_len(const char *path, size_t len)
{
	while (len > 0 && path[len - 1] != '/')
		len--;
	return len; /* with the '/', 0 at the top */
}

static int
same_parent(const char *a, size_t alen, const char *b, size_t blen)
{
	size_t n = parent_len(a, alen);

	return n == parent_len(b, blen) && memcmp(a, b, n) == 0;
}

struct cand {
	char *path;
	size_t len;
	int64_t t;
};

struct candidates {
	struct cand *c;
	size_t n;
};

/*
 * In the stream of a session's records: a candidate (a long name) that a
 * later sibling follows is not last in its directory; in the newest
 * session's, one that is still there is not deleted either.
 */
static void
cand_sibling(struct candidates *cs, size_t from, const struct meta_rec *r,
    int in_newest)
{
	for (size_t i = from; i < cs->n;) {
		struct cand *c = &cs->c[i];
		int cmp = meta_path_cmp(r->path, r->pathlen, c->path, c->len);

		if ((in_newest && cmp == 0) ||
		    (cmp > 0 &&
			same_parent(r->path, r->pathlen, c->path, c->len))) {
			free(c->path);
			*c = cs->c[--cs->n];
		} else
			i++;
	}
}

static int
long_name(const struct meta_rec *r)
{
	return r->pathlen - parent_len(r->path, r->pathlen) > INC_NAME_MAX;
}

/* One older session: its names that rdiff-backup misreads. */
static void
scan_session(struct repo *repo, const struct writer_opts *o, int64_t t,
    int newest, struct rbstates *st, struct candidates *cs)
{
	struct writer_opts one = *o;
	struct snapsrc q;
	struct meta_rec r;
	char at[32];
	size_t first = cs->n, i;
	int rc;

	snprintf(at, sizeof(at), "%lld", (long long)t);
	one.at = at;
	if (snapsrc_try_open(&q, repo, &one) != 0)
		return; /* verify has named it as damage */
	meta_rec_init(&r);
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		for (i = 0; i < r.nxattrs; i++)
			if (xattr_name_quoted(r.xattrs[i].name))
				break;
		if (i < r.nxattrs) {
			st->quoted++;
			say(st, t, r.path, r.pathlen,
			    "rdiff-backup restores its xattrs wrong (a name it "
			    "quotes comes back quoted, e.g. 'user.sp\\040ace'; "
			    "a '=' in the name of an empty one it wrote loses "
			    "them all): restore it with capback");
		}
		/* the newest drops what it holds; an older session, its
		 * own candidates that a later sibling follows */
		cand_sibling(cs, newest ? 0 : first, &r, newest);
		if (!newest && long_name(&r) && cs->n < CANDIDATE_MAX) {
			struct cand *c = &cs->c[cs->n];

			if ((c->path = malloc(r.pathlen)) == NULL)
				fatal("out of memory");
			memcpy(c->path, r.path, r.pathlen);
			c->len = r.pathlen;
			c->t = t;
			cs->n++;
		}
	}
	meta_rec_clear(&r);
	snapsrc_close(&q);
}

size_t
rbstates_report(struct repo *repo, const struct writer_opts *o,
    const int64_t *sessions, size_t n)
{
	struct rbstates st = { 0, 0, 0, 0 };
	struct candidates cs = { NULL, 0 };
	struct leftout lo;
	size_t i, k;
	int r;

	if (n == 0)
		return 0;
	if ((cs.c = calloc(CANDIDATE_MAX, sizeof(*cs.c))) == NULL)
		fatal("out of memory");
	printf("what rdiff-backup restores wrong (capback restores it "
	       "right):\n");
	for (i = 0; i < n; i++) {
		if ((r = leftout_load(repo->datafd, sessions[i], &lo)) != 0)
			log_warn("cannot read an error log: %s",
			    r == CB_ERR_SYS ? strerror(errno) : cb_strerror(r));
		for (k = 0; k < lo.n; k++)
			say(&st, sessions[i], lo.p[k].path, lo.p[k].len,
			    "left out of that session of rdiff-backup (its "
			    "error_log: not updated): no tool restores it as "
			    "of then; a capback backup takes it again");
		st.left_out += lo.n + lo.more;
		leftout_free(&lo);
		scan_session(repo, o, sessions[i], i + 1 == n, &st, &cs);
	}
	/* what is left: deleted by the newest, last in its directory */
	for (k = 0; k < cs.n; k++) {
		st.hangs++;
		say(&st, cs.c[k].t, cs.c[k].path, cs.c[k].len,
		    "a deleted name over 205 bytes that sorts last in its "
		    "directory: rdiff-backup's restore of that session loops "
		    "for ever; restore it with capback");
		free(cs.c[k].path);
	}
	free(cs.c);
	if (st.shown > SHOW_MAX)
		printf("  ... and %zu more\n", st.shown - SHOW_MAX);
	if (st.shown == 0)
		printf("  nothing\n");
	if (st.left_out > 0)
		log_warn("%zu files were left out by sessions of rdiff-backup "
			 "(a path that joined a hard-link group unchanged "
			 "since "
			 "a capback session): no tool restores them as of "
			 "those sessions",
		    st.left_out);
	if (st.quoted + st.hangs > 0)
		log_warn("%zu file versions restore right only with capback",
		    st.quoted + st.hangs);
	return st.shown;
}
