/*
 * Read-only questions about a repository, answered on stdout the way
 * rdiff-backup answers them: list increments, list files, verify.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "history.h"
#include "incscan.h"
#include "linkmap.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "strbuf.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"
#include "xfer.h"

struct inc_item {
	int64_t t;
	char *name;
};

static int
inc_item_cmp(const void *a, const void *b)
{
	const struct inc_item *x = a, *y = b;

	return (x->t > y->t) - (x->t < y->t);
}

static int path_increments_machine(struct repo *repo,
    const struct writer_opts *o, struct inc_item *items, size_t n, int dfd);

/*
 * The increments of one path: increments/<dir>/<name>.<T>.<ext>[.gz], as
 * rdiff-backup lists them for "list increments REPO/path".
 */
static int
list_path_increments(struct repo *repo, const struct writer_opts *o)
{
	const char *slash = memrchr(o->sub, '/', o->sublen);
	const char *base = slash ? slash + 1 : o->sub;
	size_t blen = o->sublen - (size_t)(base - o->sub), n = 0, cap = 0, i;
	struct inc_item *items = NULL;
	char dir[META_PATH_MAX + 16], when[64];
	struct dirent *de;
	struct incname in;
	struct inc_times times;
	DIR *d = NULL;
	int fd, mfd;

	if (inc_times_load(repo->datafd, &times) != 0)
		fatal("cannot list the sessions of '%s'", repo->path);
	snprintf(dir, sizeof(dir), "increments%s%.*s", slash ? "/" : "",
	    slash ? (int)(slash - o->sub) : 0, o->sub);
	fd = fs_open_beneath(repo->datafd, dir,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
		fatal("cannot open '%s': %s", dir, strerror(errno));
	if (fd >= 0 && (d = fdopendir(fd)) == NULL)
		fatal("cannot list '%s': %s", dir, strerror(errno));
	while (d != NULL && (errno = 0, de = readdir(d)) != NULL) {
		if (inc_classify(fd, de->d_name, de->d_type, &times, &in) !=
			INC_REAL ||
		    in.baselen != blen || memcmp(de->d_name, base, blen) != 0)
			continue;
		if (n == cap) {
			cap = cap ? 2 * cap : 16;
			if ((items = realloc(items, cap * sizeof(*items))) ==
			    NULL)
				fatal("out of memory");
		}
		items[n].t = in.time;
		if ((items[n++].name = strdup(de->d_name)) == NULL)
			fatal("out of memory");
	}
	if (d != NULL && errno != 0)
		fatal("cannot list '%s': %s", dir, strerror(errno));
	/* the machine forms look at snapshot increments' own types */
	mfd = (o->parsable || o->json) && d != NULL ? dup(fd) : -1;
	if (d != NULL)
		closedir(d);
	inc_times_release(&times);
	if (n > 1)
		qsort(items, n, sizeof(*items), inc_item_cmp);
	if (o->parsable || o->json)
		return path_increments_machine(repo, o, items, n, mfd);
	printf("Found %zu increments:\n", n);
	for (i = 0; i < n; i++) {
		printf("    %s   %s\n",
		    log_name(items[i].name, strlen(items[i].name)),
		    timefmt_pretty(items[i].t, when, sizeof(when)));
		free(items[i].name);
	}
	free(items);
	printf("Current mirror: %s\n",
	    timefmt_pretty(repo->cur_time, when, sizeof(when)));
	return fflush(stdout) == 0 ? 0 : 1;
}

/* The last component of ${path} (rdiff-backup's "base" of the mirror)
 * as a YAML scalar. */
static void
repo_base_yaml(const char *path)
{
	size_t n = strlen(path);
	const char *p;

	while (n > 1 && path[n - 1] == '/')
		n--;
	for (p = path + n; p > path && p[-1] != '/'; p--)
		;
	log_yaml_scalar(stdout, p, (size_t)(path + n - p));
}

static int
entry_time_cmp(const void *a, const void *b)
{
	const struct repo_entry *x = *(const struct repo_entry *const *)a;
	const struct repo_entry *y = *(const struct repo_entry *const *)b;

	return (x->inc.time > y->inc.time) - (x->inc.time < y->inc.time);
}

/* rdiff-backup's type of what an increment ${name} (in ${dfd}) holds. */
static const char *
inc_type(int dfd, const char *name)
{
	const char *ext = strrchr(name, '.');
	struct stat st;

	if (ext != NULL && strcmp(ext, ".gz") == 0)
		for (ext--; ext > name && *ext != '.'; ext--)
			;
	if (ext == NULL)
		return "special";
	if (strncmp(ext, ".dir", 4) == 0)
		return "directory";
	if (strncmp(ext, ".diff", 5) == 0)
		return "regular";
	if (strncmp(ext, ".missing", 8) == 0)
		return "missing";
	/* a snapshot: the type of the increment file itself */
	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return "missing";
	return S_ISDIR(st.st_mode) ? "directory" :
	    S_ISREG(st.st_mode)	   ? "regular" :
				     "special";
}

/*
 * list increments REPO/PATH in rdiff-backup's machine forms (API 200:
 * "TIME TYPE" lines; 201: YAML of base, time, type) or JSON: each
 * increment, then the mirror's entry, typed by its current record.
 */
static int
path_increments_machine(struct repo *repo, const struct writer_opts *o,
    struct inc_item *items, size_t n, int dfd)
{
	struct writer_opts cur = *o;
	struct mdhist_path *ph = NULL;
	struct meta_rec rec;
	const char *mtype = "missing", *slash = memrchr(o->sub, '/', o->sublen);
	const char *base = slash ? slash + 1 : o->sub;
	char ts[TIMEFMT_LEN];
	int64_t t;

	meta_rec_init(&rec);
	cur.at = NULL;
	if (mdhist_path_new(repo->datafd, o->sub, o->sublen, &ph) != 0)
		fatal("out of memory");
	if (snapsrc_path_at(ph, repo, &cur, &t, &rec))
		mtype = rec.type == META_DIR ? "directory" :
		    rec.type == META_REG     ? "regular" :
					       "special";
	meta_rec_clear(&rec);
	mdhist_path_free(ph);
	if (o->parsable == 2)
		printf("---\n");
	if (o->json) {
		printf("{\"path\": ");
		log_json_str(stdout, o->sub, o->sublen);
		printf(", \"increments\": [");
	}
	for (size_t i = 0; i <= n; i++) {
		int64_t it = i < n ? items[i].t : repo->cur_time;
		const char *ty = i < n ? inc_type(dfd, items[i].name) : mtype;
		const char *nm = i < n ? items[i].name : base;
		size_t nl =
		    i < n ? strlen(nm) : o->sublen - (size_t)(base - o->sub);

		if (o->json) {
			timefmt_utc(it, ts);
			printf("%s\n  {\"time\": %lld, \"at\": \"%s\", "
			       "\"type\": \"%s\", \"current\": %s, "
			       "\"base\": ",
			    i ? "," : "", (long long)it, ts, ty,
			    i < n ? "false" : "true");
			log_json_str(stdout, nm, nl);
			printf("}");
		} else if (o->parsable == 1)
			printf("%lld %s\n", (long long)it, ty);
		else {
			printf("- base: ");
			log_yaml_scalar(stdout, nm, nl);
			printf("\n  time: %lld\n  type: %s\n", (long long)it,
			    ty);
		}
		if (i < n)
			free(items[i].name);
	}
	if (o->parsable == 2)
		printf("...\n\n");
	if (o->json)
		printf("\n]}\n");
	free(items);
	if (dfd >= 0)
		close(dfd);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * The sessions with increments, as rdiff-backup lists them: the root
 * markers increments.<T>.dir by their stored names (a session written
 * under another time zone keeps that zone's offset in its name).
 */
int
writer_list_increments(struct repo *repo, const struct writer_opts *o)
{
	struct repo_entry *e = NULL, **sel = NULL;
	size_t n = 0, k = 0, i;
	char when[64];
	int r;

	if (!(o->sublen == 1 && o->sub[0] == '.'))
		return list_path_increments(repo, o);
	if ((r = repo_scan(repo->datafd, &e, &n)) != 0)
		fatal("cannot list the sessions of '%s': %s", repo->path,
		    cb_strerror(r));
	if (n > 0 && (sel = calloc(n, sizeof(*sel))) == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++)
		if (e[i].base == RB_INCREMENTS &&
		    e[i].inc.time != repo->cur_time)
			sel[k++] = &e[i];
	qsort(sel, k, sizeof(*sel), entry_time_cmp);
	if (o->json) {
		/* every session, as restore --at takes them: one in which
		 * nothing changed has no root marker, and the text (as
		 * rdiff-backup's) leaves it out; "increments" says which */
		char ts[TIMEFMT_LEN];
		int64_t *all = NULL;
		size_t na = 0, j = 0;

		if ((r = repo_sessions(repo->datafd, &all, &na)) != 0)
			fatal("cannot list the sessions of '%s': %s",
			    repo->path, cb_strerror(r));
		printf("{\"sessions\": [");
		for (i = 0; i < na; i++) {
			int inc = 0;

			while (j < k && sel[j]->inc.time < all[i])
				j++;
			inc = j < k && sel[j]->inc.time == all[i];
			timefmt_utc(all[i], ts);
			printf("%s\n  {\"time\": %lld, \"at\": \"%s\", "
			       "\"current\": %s, \"increments\": %s}",
			    i ? "," : "", (long long)all[i], ts,
			    all[i] == repo->cur_time ? "true" : "false",
			    inc ? "true" : "false");
		}
		printf("\n]}\n");
		free(all);
		free(sel);
		repo_scan_free(e, n);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	if (o->parsable == 1) { /* rdiff-backup's API 200 */
		for (i = 0; i < k; i++)
			printf("%lld directory\n", (long long)sel[i]->inc.time);
		printf("%lld directory\n", (long long)repo->cur_time);
	} else if (o->parsable == 2) { /* API 201: YAML */
		printf("---\n");
		for (i = 0; i < k; i++) {
			printf("- base: ");
			log_yaml_scalar(stdout, sel[i]->name,
			    strlen(sel[i]->name));
			printf("\n  time: %lld\n  type: directory\n",
			    (long long)sel[i]->inc.time);
		}
		printf("- base: ");
		repo_base_yaml(repo->path);
		printf("\n  time: %lld\n  type: directory\n...\n\n",
		    (long long)repo->cur_time);
	}
	if (o->parsable) {
		free(sel);
		repo_scan_free(e, n);
		return fflush(stdout) == 0 ? 0 : 1;
	}
	printf("Found %zu increments:\n", k);
	for (i = 0; i < k; i++)
		printf("    %s   %s\n",
		    log_name(sel[i]->name, strlen(sel[i]->name)),
		    timefmt_pretty(sel[i]->inc.time, when, sizeof(when)));
	printf("Current mirror: %s\n",
	    timefmt_pretty(repo->cur_time, when, sizeof(when)));
	free(sel);
	repo_scan_free(e, n);
	return fflush(stdout) == 0 ? 0 : 1;
}

int
writer_list_files(struct repo *repo, const struct writer_opts *o)
{
	struct snapsrc q;
	struct meta_rec r;
	int rc;

	snapsrc_open(&q, repo, o);
	meta_rec_init(&r);
	/* names are the source's: escaped (log_name), no line forged */
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		if (!o->json) {
			puts(log_name(r.path, r.pathlen));
			continue;
		}
		if (q.count == 1) { /* the path is there: the object opens */
			char ts[TIMEFMT_LEN];

			timefmt_utc(q.t, ts);
			printf("{\"time\": %lld, \"at\": \"%s\", \"paths\": [",
			    (long long)q.t, ts);
		}
		printf("%s\n  ", q.count > 1 ? "," : "");
		log_json_str(stdout, r.path, r.pathlen);
	}
	/* damage part-way still leaves one JSON object, marked */
	if (o->json && q.count > 0)
		printf("\n], \"count\": %llu, \"complete\": %s}\n",
		    (unsigned long long)q.count,
		    rc == CB_ERR_EOF ? "true" : "false");
	fflush(stdout);
	snapsrc_end(&q, rc);
	meta_rec_clear(&r);
	snapsrc_close(&q);
	return fflush(stdout) == 0 ? 0 : 1;
}

#define SHA_DIFFERS "its SHA-1 does not match the recorded one"
#define MIRROR_HEAD "its mirror file does not have the recorded SHA-1: "
#define MIRROR_DIFFERS \
	MIRROR_HEAD "restore of the newest session would write wrong data"
#define MIRROR_LEFTOVER                                                   \
	MIRROR_DIFFERS "; increments named with that session's time are " \
		       "left over (a regress that did not finish)"

/* A file that did not rebuild right, and as of which session. */
struct damage {
	char *what; /* a path, or "" for the session's metadata */
	int64_t t;
	char *why;
};

struct vstats {
	unsigned long ok, bad, nohash;
	unsigned long leftover; /* MIRROR_LEFTOVER damage */
	struct damage *d;
	size_t nd, cap;
	int quiet; /* --all: the report comes at the end, grouped */
	int progress; /* --progress: a line on stderr */
	struct log_progress prog;
	uint64_t bytes; /* of the files checked */
};

static void
damage(struct vstats *v, const char *path, size_t len, int64_t t,
    const char *why)
{
	struct damage *nd;

	if (!v->quiet && len == 0)
		log_error("cannot read the metadata: %s", why);
	else if (!v->quiet && strcmp(why, SHA_DIFFERS) == 0)
		log_error("computed SHA1 digest of '%s' does not match the "
			  "recorded one",
		    log_quote(path, len));
	else if (!v->quiet &&
	    strncmp(why, MIRROR_HEAD, sizeof(MIRROR_HEAD) - 1) == 0)
		log_error("computed SHA1 digest of '%s' does not match the "
			  "recorded one: %s",
		    log_quote(path, len), why + sizeof(MIRROR_HEAD) - 1);
	else if (!v->quiet)
		log_error("could not rebuild '%s': %s", log_quote(path, len),
		    why);
	if ((nd = array_grow(v->d, &v->cap, v->nd, sizeof(*nd))) == NULL)
		fatal("out of memory");
	v->d = nd;
	if ((v->d[v->nd].what = strndup(path, len)) == NULL ||
	    (v->d[v->nd].why = strdup(why)) == NULL)
		fatal("out of memory");
	v->d[v->nd++].t = t;
	v->bad++;
	if (strcmp(why, MIRROR_LEFTOVER) == 0)
		v->leftover++;
}

/*
 * What a restore of session ${q}->t writes for ${r}: the mirror file for
 * the newest session (hist_mirror_open, as serve.c reads it: increments
 * never apply there), else the rebuild from the increments.
 */
static int
restored_content(struct repo *repo, struct hist_dir *hd,
    const struct snapsrc *q, const struct meta_rec *r, int *fd)
{
	if (q->snap == NULL)
		return hist_file_at(hd, repo->rootfd, repo->datafd, r, q->t,
		    fd);
	*fd = hist_mirror_open(repo->rootfd, repo->datafd, r);
	return *fd < 0 ? CB_ERR_SYS : 0;
}

/* Why the newest session's ${r} does not verify: its mirror file, and
 * are there increments left with the session's time?  A later link of
 * a group (${later}) is not what a restore writes (it links the first). */
static const char *
newest_differs(struct repo *repo, struct hist_dir *hd, const struct snapsrc *q,
    const struct meta_rec *r, int later)
{
	if (q->snap == NULL || later)
		return SHA_DIFFERS;
	return hist_incs_from(hd, repo->datafd, r, q->t, NULL) > 0 ?
	    MIRROR_LEFTOVER :
	    MIRROR_DIFFERS;
}

/*
 * Rebuild every regular file of session ${t} as a restore would (the
 * same records, read by snapsrc, and the same content) and compare its
 * SHA-1 with the recorded one; what fails is noted in ${v}.  Unreadable
 * metadata is damage too, never fatal here.
 */
static void
verify_session(struct repo *repo, const struct writer_opts *o, int64_t t,
    struct vstats *v)
{
	struct writer_opts one = *o;
	struct snapsrc q;
	struct hist_dir hd;
	struct linkmap *groups = NULL;
	struct meta_rec r;
	char at[32];
	uint8_t sum[20], want[20];
	int rc, fd, have;

	snprintf(at, sizeof(at), "%lld", (long long)t);
	one.at = at;
	if ((rc = snapsrc_try_open(&q, repo, &one)) != 0) {
		damage(v, "", 0, t, cb_strerror(rc));
		return;
	}
	hist_dir_init(&hd);
	if (linkmap_new(&groups) != 0)
		fatal("out of memory");
	meta_rec_init(&r);
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		if (r.type != META_REG)
			continue;
		/* a later hard link: its group's digest, on the first link */
		if ((have = hist_recorded_digest(groups, &r, want)) == 0) {
			v->nohash++;
			continue;
		}
		rc = restored_content(repo, &hd, &q, &r, &fd);
		if (rc != 0 || xfer_sha1_fd(fd, sum) != 0)
			damage(v, r.path, r.pathlen, t,
			    rc == CB_ERR_SYS || rc == 0 ? strerror(errno) :
							  cb_strerror(rc));
		else if (memcmp(sum, want, 20) != 0)
			damage(v, r.path, r.pathlen, t,
			    newest_differs(repo, &hd, &q, &r, have == 2));
		else
			v->ok++;
		if (rc == 0)
			close(fd);
		v->bytes += r.size;
		if (v->progress && ((v->ok + v->bad) & 31) == 0)
			log_progress(&v->prog, v->ok + v->bad, v->bytes,
			    "checked", r.path, r.pathlen);
	}
	if (rc != CB_ERR_EOF)
		damage(v, "", 0, t, cb_strerror(rc));
	else if (!v->quiet)
		snapsrc_end(&q, rc); /* a path not in the session: fatal */
	meta_rec_clear(&r);
	hist_dir_release(&hd);
	linkmap_free(groups);
	snapsrc_close(&q);
}

/* What to run for MIRROR_LEFTOVER damage, and what it breaks. */
static void
explain_leftover(const struct repo *repo, unsigned long n)
{
	const char *p = log_quote(repo->path, strlen(repo->path));

	log_error("%lu files of the newest session: their mirror files hold "
		  "other data than its metadata records, and increments named "
		  "with its time are left over.  A regress did not finish "
		  "(rdiff-backup 2.2.2's misses the files below a directory "
		  "named with over 205 bytes).  A capback restore of the "
		  "newest session writes the mirror's data and exits 4 naming "
		  "them; an rdiff-backup restore writes it without a word "
		  "(rdiff-backup verify reports it); older sessions restore "
		  "right.  Run 'capback regress %s': it rebuilds each from "
		  "those increments when the rebuild has the recorded SHA-1",
	    n, p);
}

/*
 * verify: one session (--at, default the newest).  Exit 2 (rdiff-backup's
 * code) when any file differs or cannot be rebuilt.
 */
int
writer_verify(struct repo *repo, const struct writer_opts *o)
{
	struct vstats v;

	int64_t t = writer_pick_time(repo, o);

	memset(&v, 0, sizeof(v));
	v.quiet = o->json; /* the damage goes into the JSON */
	if ((v.progress = o->progress)) {
		/* the ETA: by the bytes of the whole session's files */
		log_progress_start(&v.prog, 0);
		if (o->sublen == 1 && o->sub[0] == '.')
			v.prog.total_bytes = repo_session_stat(repo->datafd, t,
			    "SourceFileSize");
	}
	verify_session(repo, o, t, &v);
	if (v.progress)
		log_progress_end(&v.prog);
	if (o->json) {
		char ts[TIMEFMT_LEN];

		timefmt_utc(t, ts);
		printf("{\"time\": %lld, \"at\": \"%s\", \"verified\": %lu, "
		       "\"failed\": %lu, \"without_sha1\": %lu, \"damage\": [",
		    (long long)t, ts, v.ok, v.bad, v.nohash);
		for (size_t i = 0; i < v.nd; i++) {
			printf("%s\n    {\"path\": ", i ? "," : "");
			log_json_str(stdout, v.d[i].what, strlen(v.d[i].what));
			printf(", \"why\": ");
			log_json_str(stdout, v.d[i].why, strlen(v.d[i].why));
			printf("}");
		}
		printf("%s], \"ok\": %s}\n", v.nd ? "\n" : "",
		    v.bad == 0 && v.nd == 0 ? "true" : "false");
	}
	if (v.nohash > 0)
		log_warn("%lu files have no recorded SHA-1 and were not "
			 "checked",
		    v.nohash);
	for (size_t i = 0; i < v.nd; i++) {
		free(v.d[i].what);
		free(v.d[i].why);
	}
	free(v.d);
	if (v.leftover > 0)
		explain_leftover(repo, v.leftover);
	if (v.bad > 0) {
		log_error("%lu of %lu files failed verification", v.bad,
		    v.bad + v.ok);
		return 2;
	}
	if (!o->json)
		printf("All %lu file%s verified successfully\n", v.ok,
		    v.ok == 1 ? "" : "s");
	return 0;
}

static int
damage_cmp(const void *a, const void *b)
{
	const struct damage *x = a, *y = b;
	int c = strcmp(x->what, y->what);

	return c ? c : (x->t > y->t) - (x->t < y->t);
}

static void
print_time(int64_t t)
{
	char ts[TIMEFMT_LEN];

	timefmt_utc(t, ts);
	fputs(ts, stdout);
}

/* foreign_visit: an entry named like an increment that is none. */
static int
foreign_visit(struct inc_walk *w, int dirfd, const char *name, enum inc_class c,
    const struct incname *in, int is_dir)
{
	unsigned long *count = w->arg;

	(void)dirfd;
	(void)name;
	(void)in;
	if (c == INC_FOREIGN) {
		log_warn("foreign entry in the increments, not an increment "
			 "(ignored): '%s' (%s)",
		    log_quote(w->path.buf, w->path.len),
		    is_dir ? "a directory" : "not a regular file of a session");
		(*count)++;
	}
	return 0;
}

/*
 * Name the entries of increments/ and long_filename_data that are named
 * like increments but are none (inc_classify): a source's directories
 * named so, or anything not written by a session.  A warning, not damage:
 * every walk ignores them.
 */
static void
report_foreign(struct repo *repo, int64_t *sessions, size_t n)
{
	struct inc_times times = { sessions, n };
	unsigned long count = 0;
	struct inc_walk w = { &times, foreign_visit, 0, STRBUF_INIT, &count };

	inc_walk_all(repo->datafd, &w);
	if (count > 0)
		log_warn("%lu foreign entries in the increments: no restore, "
			 "regress or removal uses them",
		    count);
}

/*
 * verify --all: every session, newest first; then the damage grouped by
 * file with the points in time it spoils, and which points are intact.
 */
int
writer_verify_all(struct repo *repo, const struct writer_opts *o)
{
	struct vstats v;
	int64_t *sessions = NULL;
	size_t n = 0, i, j, shown = 0;
	unsigned char *hit;
	int r;

	memset(&v, 0, sizeof(v));
	v.quiet = 1;
	if ((r = repo_sessions(repo->datafd, &sessions, &n)) != 0)
		fatal("cannot list the sessions of '%s': %s", repo->path,
		    cb_strerror(r));
	if ((hit = calloc(n ? n : 1, 1)) == NULL)
		fatal("out of memory");
	for (i = n; i-- > 0;) {
		unsigned long ok0 = v.ok, bad0 = v.bad;

		verify_session(repo, o, sessions[i], &v);
		printf("session ");
		print_time(sessions[i]);
		if (v.bad > bad0) {
			hit[i] = 1;
			printf(": DAMAGED, %lu of %lu files\n", v.bad - bad0,
			    v.bad - bad0 + v.ok - ok0);
		} else
			printf(": %lu file%s verified\n", v.ok - ok0,
			    v.ok - ok0 == 1 ? "" : "s");
		fflush(stdout);
	}
	if (v.nd > 0)
		qsort(v.d, v.nd, sizeof(*v.d), damage_cmp);
	if (v.nd > 0)
		printf("damage:\n");
	for (i = 0; i < v.nd; i = j) {
		for (j = i; j < v.nd && strcmp(v.d[j].what, v.d[i].what) == 0;
		     j++)
			;
		if (shown++ < 200) {
			if (v.d[i].what[0] == '\0')
				printf("  the metadata (%s) spoils",
				    v.d[i].why);
			else
				printf("  '%s' (%s) does not restore as of",
				    log_name(v.d[i].what, strlen(v.d[i].what)),
				    v.d[i].why);
			for (size_t k = i; k < j; k++) {
				putchar(' ');
				print_time(v.d[k].t);
			}
			putchar('\n');
		}
	}
	if (shown > 200)
		printf("  ... and %zu more damaged files\n", shown - 200);
	printf("points in time intact:");
	for (i = n, j = 0; i-- > 0;)
		if (!hit[i]) {
			putchar(' ');
			print_time(sessions[i]);
			j++;
		}
	printf(j ? "\n" : " none\n");
	printf("points in time damaged:");
	for (i = n, j = 0; i-- > 0;)
		if (hit[i]) {
			putchar(' ');
			print_time(sessions[i]);
			j++;
		}
	printf(j ? "\n" : " none\n");
	if (v.nohash > 0)
		log_warn("%lu file versions have no recorded SHA-1 and were "
			 "not checked",
		    v.nohash);
	report_foreign(repo, sessions, n);
	if (v.leftover > 0)
		explain_leftover(repo, v.leftover);
	rbstates_report(repo, o, sessions, n);
	for (i = 0; i < v.nd; i++) {
		free(v.d[i].what);
		free(v.d[i].why);
	}
	free(v.d);
	free(hit);
	free(sessions);
	return v.bad > 0 ? 2 : 0;
}

/* A file at the top of rdiff-backup-data, by its time. */
struct topname {
	int64_t t;
	int rank; /* within a time: what lists the session goes first */
	const char *name;
};

/*
 * Within one time, increments.<T>.* goes first, then mirror_metadata.<T>.*
 * (after which the session is no longer listed), then the rest: a
 * session that is still listed has all its metadata, EAs and ACLs.
 */
static int
top_rank(const char *name)
{
	if (strncmp(name, "increments.", 11) == 0)
		return 0;
	if (strncmp(name, "mirror_metadata.", 16) == 0)
		return 1;
	return 2;
}

static int
topname_cmp(const void *a, const void *b)
{
	const struct topname *x = a, *y = b;

	if (x->t != y->t)
		return (x->t > y->t) - (x->t < y->t);
	return x->rank - y->rank;
}

/* Remove the files at the top of rdiff-backup-data named with a time up
 * to ${upto}, in ascending order of time, then sync. */
static void
remove_top_upto(int datafd, int64_t upto)
{
	struct topname *top;
	char **names;
	size_t n, i, k = 0;

	if (fs_list_names(datafd, &names, &n) != 0)
		fatal("cannot list rdiff-backup-data: %s", strerror(errno));
	if ((top = calloc(n ? n : 1, sizeof(*top))) == NULL)
		fatal("out of memory");
	for (i = 0; i < n; i++) {
		struct incname in;
		struct stat st;

		if (incname_parse(names[i], strlen(names[i]), &in) == 0 &&
		    in.time <= upto &&
		    fstatat(datafd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    !S_ISDIR(st.st_mode))
			top[k++] = (struct topname){ in.time,
				top_rank(names[i]), names[i] };
	}
	qsort(top, k, sizeof(*top), topname_cmp);
	for (i = 0; i < k; i++)
		if (unlinkat(datafd, top[i].name, 0) != 0 && errno != ENOENT)
			fatal("cannot remove '%s': %s", top[i].name,
			    strerror(errno));
	if (fsync(datafd) != 0)
		fatal("syncing: %s", strerror(errno));
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	free(top);
}

/*
 * remove increments --older-than TIME (docs/rdiff-backup-format.md 9):
 * the candidates are the root markers older than TIME; the current mirror
 * has none, so it and its metadata always stay.  Everything named with a
 * time up to the newest candidate goes, and the directories left empty.
 * The walk covers rdiff-backup-data only, never the mirror.
 */
int
writer_remove_older(struct repo *repo, const struct writer_opts *o)
{
	int64_t *all = NULL, *inc = NULL, t, newest = 0;
	size_t nall = 0, ninc = 0, i, cand = 0;
	struct inc_times times;
	char ts[TIMEFMT_LEN];
	int r, fd;

	if ((r = repo_sessions(repo->datafd, &all, &nall)) != 0 ||
	    (r = repo_inc_sessions(repo->datafd, &inc, &ninc)) != 0)
		fatal("cannot list the sessions of '%s': %s", repo->path,
		    cb_strerror(r));
	if (timespec_parse(o->at, o->now, all, nall, &t) != 0)
		fatal("bad time string '%s'", o->at);
	for (i = 0; i < ninc; i++) {
		if (inc[i] < t && inc[i] != repo->cur_time) {
			cand++;
			if (inc[i] > newest)
				newest = inc[i];
		}
	}
	/* the time TIME stood for, as people read it */
	timefmt_utc(t, ts);
	if (cand == 0) {
		free(all);
		free(inc);
		log_warn("no increments older than %s (%s) found", ts, o->at);
		return 2;
	}
	if (cand > 1 && !o->force) {
		log_error("found %zu increments older than %s (%s); use "
			  "--force "
			  "to remove them all:",
		    cand, ts, o->at);
		for (i = 0; i < ninc; i++)
			if (inc[i] < t && inc[i] != repo->cur_time &&
			    timefmt_utc(inc[i], ts) == 0)
				log_error("    %s", ts);
		free(all);
		free(inc);
		return 1;
	}
	/* what goes, as rdiff-backup names it (at the default level) */
	log_msg(3,
	    "removing the increments of the session%s:", cand == 1 ? "" : "s");
	for (i = 0; i < ninc; i++)
		if (inc[i] < t && inc[i] != repo->cur_time &&
		    timefmt_utc(inc[i], ts) == 0)
			log_msg(3, "    %s", ts);
	free(inc);
	timefmt_utc(newest, ts);
	/* First the sessions' own files at the top (markers, metadata,
	 * statistics), oldest first: once they are gone the sessions are
	 * no longer listed, so a removal stopped halfway never leaves a
	 * listed session whose increments are half gone.  Then the
	 * increments themselves. */
	times.t = all;
	times.n = nall;
	remove_top_upto(repo->datafd, newest);
	if ((fd = openat(repo->datafd, "increments",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		if (inc_tree_remove(fd, &times, INT64_MIN, newest + 1, 1))
			unlinkat(repo->datafd, "increments", AT_REMOVEDIR);
		close(fd);
	}
	/* as rdiff-backup's removal (manage.py), which deletes every
	 * directory of rdiff-backup-data it leaves empty: the increments
	 * directories of long-named directories (long_filename_data/<N>) */
	if ((fd = openat(repo->datafd, "long_filename_data",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		if (inc_tree_remove(fd, &times, INT64_MIN, newest + 1, 1))
			unlinkat(repo->datafd, "long_filename_data",
			    AT_REMOVEDIR);
		close(fd);
	}
	free(all);
	if (syncfs(repo->datafd) != 0)
		fatal("syncing: %s", strerror(errno));
	return 0;
}

/*
 * list-sessions: every session's time, one a line, oldest first; an
 * unfinished newest session as "TIME unfinished" (capback replicate
 * copies the finished ones).
 */
int
writer_list_sessions(struct repo *repo, const struct writer_opts *o)
{
	int64_t *t = NULL;
	size_t n = 0;
	int r;

	(void)o;
	if ((r = repo_sessions(repo->datafd, &t, &n)) != 0)
		fatal("cannot list the sessions of '%s': %s", repo->path,
		    cb_strerror(r));
	for (size_t i = 0; i < n; i++)
		printf("%lld%s\n", (long long)t[i],
		    repo->unfinished && t[i] == repo->failed_time ?
			" unfinished" :
			"");
	free(t);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * session-digest (--at T): the SHA-256 of the session's records as
 * rdiff-backup's metadata writes them, but the names of long-named
 * files' stand-ins (AlternateMirrorName, AlternateIncrementName: each
 * repository numbers its own); two repositories hold the same session
 * when these agree (capback replicate).
 */
int
writer_session_digest(struct repo *repo, const struct writer_opts *o)
{
	struct snapsrc q;
	struct meta_rec r;
	struct strbuf sb = STRBUF_INIT;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	int rc;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
		fatal("out of memory");
	snapsrc_open(&q, repo, o);
	meta_rec_init(&r);
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		r.alt_mirror = r.alt_inc = 0;
		strbuf_reset(&sb);
		if (meta_format(&sb, &r) != 0 || meta_format_ea(&sb, &r) != 0 ||
		    meta_format_acl(&sb, &r) != 0 ||
		    EVP_DigestUpdate(ctx, sb.buf, sb.len) != 1)
			fatal("out of memory");
	}
	snapsrc_end(&q, rc);
	meta_rec_clear(&r);
	snapsrc_close(&q);
	strbuf_release(&sb);
	if (EVP_DigestFinal_ex(ctx, md, &mdlen) != 1)
		fatal("cannot compute a digest");
	EVP_MD_CTX_free(ctx);
	for (unsigned int i = 0; i < mdlen; i++)
		printf("%02x", md[i]);
	printf("\n");
	return fflush(stdout) == 0 ? 0 : 1;
}
