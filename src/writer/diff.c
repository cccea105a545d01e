/*
 * capback diff: what changed between two sessions and how, from their
 * metadata alone (no file is rebuilt): new, deleted, or changed with the
 * attributes that differ (content by the recorded SHA-1).  Text, a line
 * a path in record order, or JSON.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "log.h"
#include "mdhist.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"

static int
xattrs_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	size_t i;

	if (a->nxattrs != b->nxattrs)
		return 0;
	for (i = 0; i < a->nxattrs; i++)
		if (strcmp(a->xattrs[i].name, b->xattrs[i].name) != 0 ||
		    a->xattrs[i].vlen != b->xattrs[i].vlen ||
		    (a->xattrs[i].vlen > 0 &&
			memcmp(a->xattrs[i].value, b->xattrs[i].value,
			    a->xattrs[i].vlen) != 0))
			return 0;
	return 1;
}

static int
acl_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	size_t i;

	if (a->nacl != b->nacl)
		return 0;
	for (i = 0; i < a->nacl; i++) {
		const struct meta_acl_entry *x = &a->acl[i], *y = &b->acl[i];

		if (x->is_default != y->is_default || x->tag != y->tag ||
		    x->perm != y->perm ||
		    (x->qual == NULL) != (y->qual == NULL) ||
		    (x->qual != NULL && strcmp(x->qual, y->qual) != 0))
			return 0;
	}
	return 1;
}

/* What differs between two records of one path, comma separated. */
static void
what_changed(const struct meta_rec *a, const struct meta_rec *b,
    struct strbuf *w)
{
#define ADD(cond, name)                                            \
	do {                                                       \
		if ((cond) &&                                      \
		    ((w->len > 0 && strbuf_addstr(w, ",") != 0) || \
			strbuf_addstr(w, name) != 0))              \
			fatal("out of memory");                    \
	} while (0)
	strbuf_reset(w);
	ADD(a->type != b->type, "type");
	if (a->type == b->type) {
		ADD(a->type == META_REG &&
			(a->size != b->size ||
			    (a->has_sha1 && b->has_sha1 &&
				memcmp(a->sha1, b->sha1, 20) != 0)),
		    "content");
		ADD(a->type == META_REG && a->size != b->size, "size");
		ADD(a->type == META_SYM &&
			(a->symlen != b->symlen ||
			    memcmp(a->symdata, b->symdata, a->symlen) != 0),
		    "target");
		ADD(a->type == META_DEV &&
			(a->dev_kind != b->dev_kind ||
			    a->dev_major != b->dev_major ||
			    a->dev_minor != b->dev_minor),
		    "device");
	}
	ADD(a->type != META_SYM && a->type != META_DEV && b->type != META_SYM &&
		b->type != META_DEV && a->mtime != b->mtime,
	    "mtime");
	ADD(a->perms != b->perms, "mode");
	ADD(a->uid != b->uid || a->gid != b->gid, "owner");
	ADD(!xattrs_equal(a, b), "xattrs");
	ADD(!acl_equal(a, b), "acl");
	ADD((a->nlink > 1 || b->nlink > 1) &&
		(a->nlink != b->nlink || a->inode != b->inode),
	    "links");
#undef ADD
}

static void
emit(FILE *f, const struct writer_opts *o, int *first, const char *change,
    const struct meta_rec *r, const char *what)
{
	if (!o->json) {
		fprintf(f, "%s: %s%s%s%s\n", change,
		    log_name(r->path, r->pathlen), what ? " (" : "",
		    what ? what : "", what ? ")" : "");
		return;
	}
	fprintf(f, "%s\n    {\"path\": ", *first ? "" : ",");
	*first = 0;
	log_json_str(f, r->path, r->pathlen);
	fprintf(f, ", \"change\": \"%s\"", change);
	if (what != NULL) {
		const char *p = what;

		fprintf(f, ", \"what\": [");
		while (*p != '\0') {
			size_t n = strcspn(p, ",");

			fprintf(f, "%s\"%.*s\"", p == what ? "" : ", ", (int)n,
			    p);
			p += n + (p[n] == ',');
		}
		fprintf(f, "]");
	}
	fprintf(f, "}");
}

/*
 * diff_walk(repo, oa, ob, fn, arg): the sessions of ${oa} and ${ob} side
 * by side in record order; ${fn} is called for each path new in b,
 * deleted from a, or changed (${what}: what differs, or NULL when only
 * rdiff-backup's test of list files --changed-since is wanted, with
 * ${detail} 0).  Returns how many paths the two sessions had together.
 */
typedef void (*diff_fn)(void *arg, const char *change, const struct meta_rec *r,
    const char *what);

static size_t
diff_walk(struct repo *repo, const struct writer_opts *oa,
    const struct writer_opts *ob, int detail, diff_fn fn, void *arg,
    int64_t *ta, int64_t *tb)
{
	struct snapsrc a, b;
	struct meta_rec ra, rb;
	struct strbuf w = STRBUF_INIT;
	size_t seen;
	int ea, eb;

	snapsrc_open(&a, repo, oa);
	snapsrc_open(&b, repo, ob);
	*ta = a.t;
	*tb = b.t;
	meta_rec_init(&ra);
	meta_rec_init(&rb);
	ea = snapsrc_next(&a, &ra);
	eb = snapsrc_next(&b, &rb);
	while (ea == 0 || eb == 0) {
		int c = ea != 0 ?
		    1 :
		    eb != 0 ?
		    -1 :
		    meta_path_cmp(ra.path, ra.pathlen, rb.path, rb.pathlen);

		if (c < 0) {
			fn(arg, "deleted", &ra, NULL);
			ea = snapsrc_next(&a, &ra);
		} else if (c > 0) {
			fn(arg, "new", &rb, NULL);
			eb = snapsrc_next(&b, &rb);
		} else {
			if (detail) {
				what_changed(&ra, &rb, &w);
				if (w.len > 0)
					fn(arg, "changed", &rb, w.buf);
			} else if (!meta_attr_equal(&ra, &rb))
				fn(arg, "changed", &rb, NULL);
			ea = snapsrc_next(&a, &ra);
			eb = snapsrc_next(&b, &rb);
		}
	}
	if (ea != CB_ERR_EOF || eb != CB_ERR_EOF)
		fatal("reading metadata: %s",
		    cb_strerror(ea != CB_ERR_EOF ? ea : eb));
	seen = a.count + b.count;
	if (seen == 0)
		snapsrc_end(&b, eb); /* the path was never there: fatal */
	meta_rec_clear(&ra);
	meta_rec_clear(&rb);
	strbuf_release(&w);
	snapsrc_close(&a);
	snapsrc_close(&b);
	return seen;
}

struct diff_out {
	FILE *f;
	const struct writer_opts *o;
	int first;
	unsigned long counts[3]; /* new, deleted, changed */
};

static void
diff_emit(void *arg, const char *change, const struct meta_rec *r,
    const char *what)
{
	struct diff_out *d = arg;

	d->counts[change[0] == 'n' ? 0 : change[0] == 'd' ? 1 : 2]++;
	emit(d->f, d->o, &d->first, change, r, what);
}

int
writer_diff(struct repo *repo, const struct writer_opts *o)
{
	struct writer_opts to = *o;
	struct diff_out d = { stdout, o, 1, { 0, 0, 0 } };
	char t1[TIMEFMT_LEN], t2[TIMEFMT_LEN];
	int64_t ta, tb;

	to.at = o->at2;
	if (o->json) {
		/* the sessions' times are known once they are opened: the
		 * changes go to a buffer first */
		char *buf = NULL;
		size_t len = 0;
		FILE *mem = open_memstream(&buf, &len);

		if (mem == NULL)
			fatal("out of memory");
		d.f = mem;
		diff_walk(repo, o, &to, 1, diff_emit, &d, &ta, &tb);
		fclose(mem);
		timefmt_utc(ta, t1);
		timefmt_utc(tb, t2);
		printf(
		    "{\"from\": \"%s\", \"from_time\": %lld, \"to\": \"%s\", "
		    "\"to_time\": %lld, \"changes\": [%s%s],\n \"new\": %lu, "
		    "\"deleted\": %lu, \"changed\": %lu}\n",
		    t1, (long long)ta, t2, (long long)tb, buf ? buf : "",
		    d.first ? "" : "\n", d.counts[0], d.counts[1], d.counts[2]);
		free(buf);
	} else
		diff_walk(repo, o, &to, 1, diff_emit, &d, &ta, &tb);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void
changed_line(void *arg, const char *change, const struct meta_rec *r,
    const char *what)
{
	(void)arg;
	(void)what;
	printf("%-7s %s\n", change, log_name(r->path, r->pathlen));
}

/*
 * list files --changed-since T: the session T rounds to against the
 * newest, as rdiff-backup prints it: "new", "deleted" or "changed" and
 * the path, in record order.
 */
int
writer_list_changed(struct repo *repo, const struct writer_opts *o)
{
	struct writer_opts cur = *o;
	int64_t ta, tb;

	cur.at = NULL;
	if (o->json) { /* diff's JSON, from T to the newest */
		cur = *o;
		cur.at2 = NULL;
		return writer_diff(repo, &cur);
	}
	diff_walk(repo, o, &cur, 0, changed_line, NULL, &ta, &tb);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * capback versions REPO/PATH: each session in which PATH changed (new,
 * changed with what, deleted), oldest first, with its type, size and
 * recorded SHA-1, from each session's metadata.  Each metadata file is
 * read once and only up to PATH's record (snapsrc_path_at).
 */
int
writer_versions(struct repo *repo, const struct writer_opts *o)
{
	struct writer_opts one = *o;
	struct meta_rec prev, cur;
	struct mdhist_path *ph = NULL;
	struct strbuf w = STRBUF_INIT;
	int64_t *times = NULL, t;
	size_t n = 0, i;
	int have_prev = 0, first = 1, ever = 0;
	char at[32], ts[TIMEFMT_LEN], sha[41];

	if (o->sublen == 1 && o->sub[0] == '.')
		fatal("versions needs REPOSITORY/PATH: the path to follow");
	if (repo_sessions(repo->datafd, &times, &n) != 0)
		fatal("cannot list the sessions of '%s'", repo->path);
	if (mdhist_path_new(repo->datafd, o->sub, o->sublen, &ph) != 0)
		fatal("out of memory");
	meta_rec_init(&prev);
	meta_rec_init(&cur);
	if (o->json) {
		printf("{\"path\": ");
		log_json_str(stdout, o->sub, o->sublen);
		printf(", \"versions\": [");
	}
	for (i = 0; i < n; i++) {
		int here;
		const char *change = NULL;

		snprintf(at, sizeof(at), "%lld", (long long)times[i]);
		one.at = at;
		here = snapsrc_path_at(ph, repo, &one, &t, &cur);
		strbuf_reset(&w);
		if (here && !have_prev)
			change = "new";
		else if (!here && have_prev)
			change = "deleted";
		else if (here) {
			what_changed(&prev, &cur, &w);
			if (w.len > 0)
				change = "changed";
		}
		if (change != NULL) {
			const struct meta_rec *r = here ? &cur : &prev;
			static const char *const types[] = { "?", "regular",
				"directory", "symlink", "device", "fifo",
				"socket" };
			const char *type =
			    (size_t)r->type < sizeof(types) / sizeof(types[0]) ?
			    types[r->type] :
			    "?";

			timefmt_utc(times[i], ts);
			sha[0] = '\0';
			if (here && r->type == META_REG && r->has_sha1)
				for (int k = 0; k < 20; k++)
					snprintf(sha + 2 * k, 3, "%02x",
					    r->sha1[k]);
			ever = 1;
			if (o->json) {
				printf("%s\n    {\"time\": %lld, \"at\": "
				       "\"%s\", "
				       "\"change\": \"%s\"",
				    first ? "" : ",", (long long)times[i], ts,
				    change);
				first = 0;
				if (here)
					printf(", \"type\": \"%s\"", type);
				if (here && r->type == META_REG)
					printf(", \"size\": %llu",
					    (unsigned long long)r->size);
				if (sha[0])
					printf(", \"sha1\": \"%s\"", sha);
				if (w.len > 0) {
					const char *p = w.buf;

					printf(", \"what\": [");
					while (*p != '\0') {
						size_t k = strcspn(p, ",");

						printf("%s\"%.*s\"",
						    p == w.buf ? "" : ", ",
						    (int)k, p);
						p += k + (p[k] == ',');
					}
					printf("]");
				}
				printf("}");
			} else if (here && r->type == META_REG)
				printf("%s  %-7s  %s  %llu byte%s%s%s%s%s%s\n",
				    ts, change, type,
				    (unsigned long long)r->size,
				    r->size == 1 ? "" : "s",
				    sha[0] ? "  sha1 " : "", sha,
				    w.len ? "  (" : "", w.len ? w.buf : "",
				    w.len ? ")" : "");
			else
				printf("%s  %-7s%s%s%s%s%s\n", ts, change,
				    here ? "  " : "", here ? type : "",
				    w.len ? "  (" : "", w.len ? w.buf : "",
				    w.len ? ")" : "");
		}
		if (here) {
			meta_rec_clear(&prev);
			if (meta_rec_copy(&prev, &cur) != 0)
				fatal("out of memory");
		}
		have_prev = here;
		meta_rec_clear(&cur);
	}
	if (o->json)
		printf("%s]}\n", first ? "" : "\n");
	free(times);
	mdhist_path_free(ph);
	meta_rec_clear(&prev);
	strbuf_release(&w);
	if (!ever)
		fatal("'%s' is in no session of %s",
		    log_name(o->sub, o->sublen), repo->path);
	return fflush(stdout) == 0 ? 0 : 1;
}
