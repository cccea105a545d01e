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
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"
#include "xfer.h"

static const char *
ctime_of(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(buf, cap, "%a %b %e %H:%M:%S %Y", &tm);
	return buf;
}

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
	DIR *d = NULL;
	int fd;

	snprintf(dir, sizeof(dir), "increments%s%.*s", slash ? "/" : "",
	    slash ? (int)(slash - o->sub) : 0, o->sub);
	fd = fs_open_beneath(repo->datafd, dir,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0);
	if (fd < 0 && errno != ENOENT && errno != ENOTDIR)
		fatal("cannot open '%s': %s", dir, strerror(errno));
	if (fd >= 0 && (d = fdopendir(fd)) == NULL)
		fatal("cannot list '%s': %s", dir, strerror(errno));
	while (d != NULL && (errno = 0, de = readdir(d)) != NULL) {
		size_t len = strlen(de->d_name);

		if (incname_parse(de->d_name, len, &in) != 0 ||
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
	if (d != NULL)
		closedir(d);
	if (n > 1)
		qsort(items, n, sizeof(*items), inc_item_cmp);
	printf("Found %zu increments:\n", n);
	for (i = 0; i < n; i++) {
		printf("    %s   %s\n", items[i].name,
		    ctime_of(items[i].t, when, sizeof(when)));
		free(items[i].name);
	}
	free(items);
	printf("Current mirror: %s\n",
	    ctime_of(repo->cur_time, when, sizeof(when)));
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
entry_time_cmp(const void *a, const void *b)
{
	const struct repo_entry *x = *(const struct repo_entry *const *)a;
	const struct repo_entry *y = *(const struct repo_entry *const *)b;

	return (x->inc.time > y->inc.time) - (x->inc.time < y->inc.time);
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
	printf("Found %zu increments:\n", k);
	for (i = 0; i < k; i++)
		printf("    %s   %s\n", sel[i]->name,
		    ctime_of(sel[i]->inc.time, when, sizeof(when)));
	printf("Current mirror: %s\n",
	    ctime_of(repo->cur_time, when, sizeof(when)));
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
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		fwrite(r.path, 1, r.pathlen, stdout);
		putchar('\n');
	}
	snapsrc_end(&q, rc);
	meta_rec_clear(&r);
	snapsrc_close(&q);
	return fflush(stdout) == 0 ? 0 : 1;
}

static void
print_change(const char *what, const struct meta_rec *r)
{
	printf("%-7s ", what);
	fwrite(r->path, 1, r->pathlen, stdout);
	putchar('\n');
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
	struct snapsrc a, b;
	struct meta_rec ra, rb;
	int ea, eb;

	cur.at = NULL;
	snapsrc_open(&a, repo, o);
	snapsrc_open(&b, repo, &cur);
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
			print_change("deleted", &ra);
			ea = snapsrc_next(&a, &ra);
		} else if (c > 0) {
			print_change("new", &rb);
			eb = snapsrc_next(&b, &rb);
		} else {
			if (!meta_attr_equal(&ra, &rb))
				print_change("changed", &rb);
			ea = snapsrc_next(&a, &ra);
			eb = snapsrc_next(&b, &rb);
		}
	}
	if (ea != CB_ERR_EOF || eb != CB_ERR_EOF)
		fatal("reading metadata: %s",
		    cb_strerror(ea != CB_ERR_EOF ? ea : eb));
	if (a.count == 0 && b.count == 0)
		snapsrc_end(&b, eb); /* the path was never there */
	meta_rec_clear(&ra);
	meta_rec_clear(&rb);
	snapsrc_close(&a);
	snapsrc_close(&b);
	return fflush(stdout) == 0 ? 0 : 1;
}

/*
 * verify: rebuild every regular file of the session as a restore would
 * and compare its SHA-1 with the recorded one.  Exit 2 (rdiff-backup's
 * code) when any differs or cannot be rebuilt.
 */
int
writer_verify(struct repo *repo, const struct writer_opts *o)
{
	struct snapsrc q;
	struct hist_dir hd;
	struct meta_rec r;
	unsigned long ok = 0, bad = 0, nohash = 0;
	uint8_t sum[20];
	int rc, fd;

	snapsrc_open(&q, repo, o);
	hist_dir_init(&hd);
	meta_rec_init(&r);
	while ((rc = snapsrc_next(&q, &r)) == 0) {
		if (r.type != META_REG)
			continue;
		if (!r.has_sha1) {
			nohash++;
			continue;
		}
		rc =
		    hist_file_at(&hd, repo->rootfd, repo->datafd, &r, q.t, &fd);
		if (rc != 0 || xfer_sha1_fd(fd, sum) != 0) {
			log_error("could not rebuild '%s': %s",
			    log_quote(r.path, r.pathlen),
			    rc == CB_ERR_SYS || rc == 0 ? strerror(errno) :
							  cb_strerror(rc));
			bad++;
		} else if (memcmp(sum, r.sha1, 20) != 0) {
			log_error("computed SHA1 digest of '%s' does not match "
				  "the recorded one",
			    log_quote(r.path, r.pathlen));
			bad++;
		} else
			ok++;
		if (rc == 0)
			close(fd);
	}
	snapsrc_end(&q, rc);
	meta_rec_clear(&r);
	hist_dir_release(&hd);
	snapsrc_close(&q);
	if (nohash > 0)
		log_warn("%lu files have no recorded SHA-1 and were not "
			 "checked",
		    nohash);
	if (bad > 0) {
		log_error("%lu of %lu files failed verification", bad,
		    bad + ok);
		return 2;
	}
	printf("All %lu files verified successfully\n", ok);
	return 0;
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
	free(all);
	if (cand == 0) {
		free(inc);
		log_warn("no increments older than %s found", o->at);
		return 2;
	}
	if (cand > 1 && !o->force) {
		log_error("found %zu increments older than %s; use --force to "
			  "remove them all:",
		    cand, o->at);
		for (i = 0; i < ninc; i++)
			if (inc[i] < t && inc[i] != repo->cur_time &&
			    timefmt_utc(inc[i], ts) == 0)
				log_error("    %s", ts);
		free(inc);
		return 1;
	}
	free(inc);
	timefmt_utc(newest, ts);
	log_info("removing increments up to %s", ts);
	inc_tree_remove(repo->datafd, INT64_MIN, newest + 1, 0);
	if ((fd = openat(repo->datafd, "increments",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		if (inc_tree_remove(fd, INT64_MIN, newest + 1, 1))
			unlinkat(repo->datafd, "increments", AT_REMOVEDIR);
		close(fd);
	}
	if ((fd = openat(repo->datafd, "long_filename_data",
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		inc_tree_remove(fd, INT64_MIN, newest + 1, 0);
		close(fd);
	}
	if (syncfs(repo->datafd) != 0)
		fatal("syncing: %s", strerror(errno));
	return 0;
}
