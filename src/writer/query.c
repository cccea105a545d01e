/*
 * Read-only questions about a repository, answered on stdout the way
 * rdiff-backup answers them: list increments, list files, verify.
 */
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "history.h"
#include "log.h"
#include "mdfile.h"
#include "mdhist.h"
#include "timefmt.h"
#include "timespec.h"
#include "writer.h"

static const char *
ctime_of(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(buf, cap, "%a %b %e %H:%M:%S %Y", &tm);
	return buf;
}

int
writer_list_increments(struct repo *repo)
{
	int64_t *s = NULL;
	size_t n = 0, i;
	char ts[TIMEFMT_LEN], when[64];
	int r;

	if ((r = repo_inc_sessions(repo->datafd, &s, &n)) != 0)
		fatal("cannot list the sessions of '%s': %s", repo->path,
		    cb_strerror(r));
	printf("Found %zu increments:\n", n > 0 ? n - 1 : 0);
	for (i = 0; i < n; i++) {
		if (s[i] == repo->cur_time)
			continue;
		timefmt_utc(s[i], ts);
		printf("    increments.%s.dir   %s\n", ts,
		    ctime_of(s[i], when, sizeof(when)));
	}
	printf("Current mirror: %s\n",
	    ctime_of(repo->cur_time, when, sizeof(when)));
	free(s);
	return 0;
}

/* The records of the session ${o->at} rounds to, one at a time. */
struct qsource {
	int64_t t;
	struct md_snap *snap;
	struct mdhist *hist;
};

static void
qsource_open(struct qsource *q, struct repo *repo, const struct writer_opts *o)
{
	int r;

	memset(q, 0, sizeof(*q));
	q->t = writer_pick_time(repo, o);
	if (q->t == repo->cur_time)
		r = md_snap_open(repo->datafd, repo->meta_name,
		    repo->ea_name[0] ? repo->ea_name : NULL,
		    repo->acl_name[0] ? repo->acl_name : NULL, &q->snap);
	else
		r = mdhist_open(repo->datafd, q->t, &q->hist);
	if (r != 0)
		fatal("cannot read the metadata of session %lld: %s",
		    (long long)q->t, cb_strerror(r));
}

static int
qsource_next(struct qsource *q, struct meta_rec *r)
{
	return q->snap ? md_snap_next(q->snap, r) : mdhist_next(q->hist, r);
}

static void
qsource_close(struct qsource *q)
{
	md_snap_free(q->snap);
	mdhist_free(q->hist);
}

int
writer_list_files(struct repo *repo, const struct writer_opts *o)
{
	struct qsource q;
	struct meta_rec r;
	int rc;

	qsource_open(&q, repo, o);
	meta_rec_init(&r);
	while ((rc = qsource_next(&q, &r)) == 0) {
		fwrite(r.path, 1, r.pathlen, stdout);
		putchar('\n');
	}
	if (rc != CB_ERR_EOF)
		fatal("reading metadata: %s", cb_strerror(rc));
	meta_rec_clear(&r);
	qsource_close(&q);
	return fflush(stdout) == 0 ? 0 : 1;
}

static int
sha1_fd(int fd, uint8_t out[20])
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[65536];
	unsigned int len = 0;
	off_t off = 0;
	ssize_t n;

	if (ctx == NULL || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1) {
		EVP_MD_CTX_free(ctx);
		return CB_ERR_NOMEM;
	}
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		EVP_DigestUpdate(ctx, buf, (size_t)n);
		off += n;
	}
	EVP_DigestFinal_ex(ctx, out, &len);
	EVP_MD_CTX_free(ctx);
	return n < 0 ? CB_ERR_SYS : 0;
}

/*
 * verify: rebuild every regular file of the session as a restore would
 * and compare its SHA-1 with the recorded one.  Exit 2 (rdiff-backup's
 * code) when any differs or cannot be rebuilt.
 */
int
writer_verify(struct repo *repo, const struct writer_opts *o)
{
	struct qsource q;
	struct hist_dir hd;
	struct meta_rec r;
	unsigned long ok = 0, bad = 0, nohash = 0;
	uint8_t sum[20];
	int rc, fd;

	qsource_open(&q, repo, o);
	hist_dir_init(&hd);
	meta_rec_init(&r);
	while ((rc = qsource_next(&q, &r)) == 0) {
		if (r.type != META_REG)
			continue;
		if (!r.has_sha1) {
			nohash++;
			continue;
		}
		rc =
		    hist_file_at(&hd, repo->rootfd, repo->datafd, &r, q.t, &fd);
		if (rc != 0 || sha1_fd(fd, sum) != 0) {
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
	if (rc != CB_ERR_EOF)
		fatal("reading metadata: %s", cb_strerror(rc));
	meta_rec_clear(&r);
	hist_dir_release(&hd);
	qsource_close(&q);
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
