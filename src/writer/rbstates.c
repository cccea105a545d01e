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
	int headed; /* the heading of the right-only-with-capback lines */
};

static const char HEADING[] = "restored right only by capback (rdiff-backup "
			      "restores these wrong):\n";

static void
say(struct rbstates *st, int64_t t, const char *path, size_t len,
    const char *what)
{
	char ts[TIMEFMT_LEN];

	if (!st->headed++)
		fputs(HEADING, stdout);
	if (st->shown++ >= SHOW_MAX)
		return;
	timefmt_utc(t, ts);
	printf("  '%s' as of %s: %s\n", log_name(path, len), ts, what);
}

static const char *
plural(size_t n)
{
	return n == 1 ? "" : "s";
}

/*
 * The files sessions of rdiff-backup left out of themselves: no tool
 * restores them as of such a session, which is incomplete, not damaged.
 */
static void
report_left_out(struct repo *repo, const int64_t *sessions, size_t n,
    struct rbstates *st)
{
	struct leftout lo;
	char ts[TIMEFMT_LEN];
	size_t i, k, shown = 0;
	int r;

	for (i = n; i-- > 0;) {
		if ((r = leftout_load(repo->datafd, sessions[i], &lo)) != 0) {
			log_warn("cannot read an error log: %s",
			    r == CB_ERR_SYS ? strerror(errno) : cb_strerror(r));
			continue;
		}
		if (lo.n + lo.more > 0) {
			timefmt_utc(sessions[i], ts);
			printf("session %s is incomplete: rdiff-backup left "
			       "out %zu file%s it could not update (its "
			       "error_log: \"does not match source\"); no tool "
			       "restores them as of then:\n",
			    ts, lo.n + lo.more, plural(lo.n + lo.more));
		}
		for (k = 0; k < lo.n; k++)
			if (shown++ < SHOW_MAX)
				printf("  '%s'\n",
				    log_name(lo.p[k].path, lo.p[k].len));
		if (lo.more > 0 && shown < SHOW_MAX)
			printf("  ... and %lu more\n", lo.more);
		st->left_out += lo.n + lo.more;
		leftout_free(&lo);
	}
	if (shown > SHOW_MAX)
		printf("  ... and %zu more left out\n", shown - SHOW_MAX);
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
	int gone; /* the newest session holds it, or a later sibling */
};

/*
 * The candidates: long names of older sessions, last in their directory
 * there (${c}, ${n}), and a stack of those whose directory the record
 * stream has not left yet (${stk}, ${ns}): their parents are each a
 * prefix of the next one's, so a record compares with the few on the
 * stack, never with all (a source with thousands of deleted long names
 * made verify --all quadratic: minutes).  At most CANDIDATE_MAX in all.
 */
struct candidates {
	struct cand *c, *stk;
	size_t n, ns;
	unsigned long more; /* beyond CANDIDATE_MAX: not looked at */
};

/* Is the directory of ${c} one that holds ${path} (at any depth)? */
static int
holds(const struct cand *c, const char *path, size_t len)
{
	size_t n = parent_len(c->path, c->len);

	return len >= n && memcmp(path, c->path, n) == 0;
}

/* The stream is at ${path}: the candidates of directories it has left
 * are final (to ${cs}->c, in an older session; kept, in the newest). */
static void
leave_dirs(struct candidates *cs, const char *path, size_t len)
{
	while (cs->ns > 0 && !holds(&cs->stk[cs->ns - 1], path, len))
		cs->c[cs->n++] = cs->stk[--cs->ns];
}

/* A record at ${path}: the candidates on the stack in its directory are
 * followed by it (or are it) and go. */
static void
followed_by(struct candidates *cs, const char *path, size_t len, int mark)
{
	leave_dirs(cs, path, len);
	while (cs->ns > 0 &&
	    same_parent(path, len, cs->stk[cs->ns - 1].path,
		cs->stk[cs->ns - 1].len)) {
		struct cand *c = &cs->stk[--cs->ns];

		if (mark) { /* the newest: kept in ${cs}->c, marked */
			c->gone = 1;
			cs->c[cs->n++] = *c;
		} else
			free(c->path);
	}
}

static int
long_name(const struct meta_rec *r)
{
	return r->pathlen - parent_len(r->path, r->pathlen) > INC_NAME_MAX;
}

static int
cand_cmp(const void *a, const void *b)
{
	const struct cand *x = a, *y = b;

	return meta_path_cmp(x->path, x->len, y->path, y->len);
}

/*
 * The newest session's records in turn: the candidates up to each (in
 * record order) are pushed as the stream passes them; a record then
 * removes those in its directory.
 */
static void
newest_prepare(struct candidates *cs, size_t *next)
{
	if (cs->n > 1)
		qsort(cs->c, cs->n, sizeof(*cs->c), cand_cmp);
	*next = 0;
}

static void
newest_record(struct candidates *cs, struct cand *sorted, size_t nsorted,
    size_t *next, const struct meta_rec *r)
{
	while (*next < nsorted &&
	    meta_path_cmp(sorted[*next].path, sorted[*next].len, r->path,
		r->pathlen) <= 0) {
		struct cand *c = &sorted[(*next)++];

		leave_dirs(cs, c->path, c->len);
		cs->stk[cs->ns++] = *c;
	}
	followed_by(cs, r->path, r->pathlen, 1);
}

/* One session: its names that rdiff-backup misreads. */
static void
scan_session(struct repo *repo, const struct writer_opts *o, int64_t t,
    int newest, struct rbstates *st, struct candidates *cs)
{
	struct writer_opts one = *o;
	struct snapsrc q;
	struct meta_rec r;
	struct cand *sorted = NULL;
	char at[32];
	size_t i, next = 0, nsorted = 0;
	int rc;

	snprintf(at, sizeof(at), "%lld", (long long)t);
	one.at = at;
	if (snapsrc_try_open(&q, repo, &one) != 0)
		return; /* verify has named it as damage */
	if (newest) {
		/* the final candidates become the input; ${cs}->c fills
		 * again with each as it is decided */
		newest_prepare(cs, &next);
		sorted = cs->c;
		nsorted = cs->n;
		if ((cs->c = calloc(CANDIDATE_MAX, sizeof(*cs->c))) == NULL)
			fatal("out of memory");
		cs->n = 0;
	}
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
		if (newest) {
			newest_record(cs, sorted, nsorted, &next, &r);
			continue;
		}
		followed_by(cs, r.path, r.pathlen, 0);
		if (!long_name(&r))
			continue;
		if (cs->n + cs->ns >= CANDIDATE_MAX) {
			cs->more++;
			continue;
		}
		struct cand *c = &cs->stk[cs->ns++];

		if ((c->path = malloc(r.pathlen)) == NULL)
			fatal("out of memory");
		memcpy(c->path, r.path, r.pathlen);
		c->len = r.pathlen;
		c->t = t;
		c->gone = 0;
	}
	meta_rec_clear(&r);
	snapsrc_close(&q);
	/* the end of the stream leaves every directory */
	while (cs->ns > 0)
		cs->c[cs->n++] = cs->stk[--cs->ns];
	if (newest) {
		while (next < nsorted)
			cs->c[cs->n++] = sorted[next++];
		free(sorted);
	}
}

size_t
rbstates_report(struct repo *repo, const struct writer_opts *o,
    const int64_t *sessions, size_t n)
{
	struct rbstates st = { 0, 0, 0, 0, 0 };
	struct candidates cs = { NULL, NULL, 0, 0, 0 };
	size_t i, k;

	if (n == 0)
		return 0;
	if ((cs.c = calloc(CANDIDATE_MAX, sizeof(*cs.c))) == NULL ||
	    (cs.stk = calloc(CANDIDATE_MAX, sizeof(*cs.stk))) == NULL)
		fatal("out of memory");
	report_left_out(repo, sessions, n, &st);
	for (i = 0; i < n; i++)
		scan_session(repo, o, sessions[i], i + 1 == n, &st, &cs);
	/* what is left: deleted by the newest, last in its directory */
	if (cs.n > 1)
		qsort(cs.c, cs.n, sizeof(*cs.c), cand_cmp);
	for (k = 0; k < cs.n; k++) {
		if (!cs.c[k].gone) {
			st.hangs++;
			say(&st, cs.c[k].t, cs.c[k].path, cs.c[k].len,
			    "a deleted name over 205 bytes that sorts last in "
			    "its directory: rdiff-backup's restore of that "
			    "session loops for ever; restore it with capback");
		}
		free(cs.c[k].path);
	}
	free(cs.c);
	free(cs.stk);
	if (cs.more > 0)
		log_warn("%lu names over 205 bytes beyond the first %d were "
			 "not checked for rdiff-backup's endless restore",
		    cs.more, CANDIDATE_MAX);
	if (st.shown > SHOW_MAX)
		printf("  ... and %zu more\n", st.shown - SHOW_MAX);
	if (st.left_out > 0)
		log_warn("%zu file%s left out by sessions of rdiff-backup (a "
			 "path that joined a hard-link group whose mirror file "
			 "capback wrote, see capback(1)): no tool restores "
			 "them as of those sessions; a capback backup takes "
			 "again those the source still has",
		    st.left_out, plural(st.left_out));
	if (st.quoted + st.hangs > 0)
		log_warn("%zu file version%s restore right only with capback",
		    st.quoted + st.hangs, plural(st.quoted + st.hangs));
	return st.shown + st.left_out;
}
