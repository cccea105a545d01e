/*
 * Prometheus metrics of a run, in the text exposition format, for the
 * node exporter's textfile collector.  Names follow Prometheus'
 * conventions: one capback_ prefix, base units (_seconds, _bytes),
 * _timestamp_seconds for points in time, no _total (these are the last
 * run's figures, gauges), one label: the host's name (a word of
 * [A-Za-z0-9._-], checked by the configuration).
 */
#include "metrics.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/random.h>
#include <unistd.h>

#include "log.h"

#include "repoloc.h"
#include "strbuf.h"
#include "timespec.h"

/* What a local repository keeps: its sessions, and the bytes of its
 * increments as its session statistics count them. */
static int
repo_figures(const char *repo, size_t *sessions, uint64_t *inc_bytes)
{
	int dfd, fd;
	DIR *d;
	struct dirent *e;

	*sessions = 0;
	*inc_bytes = 0;
	if (repo == NULL || (dfd = repo_open_data(repo)) < 0)
		return -1;
	*sessions = repo_session_span(repo, NULL, NULL);
	if ((fd = dup(dfd)) < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		close(dfd);
		return 0;
	}
	while ((e = readdir(d)) != NULL) {
		char line[256];
		FILE *f;
		int sf;
		size_t k = 0;

		if (strncmp(e->d_name, "session_statistics.", 19) != 0 ||
		    (sf = openat(dfd, e->d_name,
			 O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC)) < 0)
			continue;
		if ((f = fdopen(sf, "r")) == NULL) {
			close(sf);
			continue;
		}
		/* a statistics file is some thirty short lines */
		while (k++ < 64 && fgets(line, sizeof(line), f) != NULL) {
			unsigned long long v;

			if (sscanf(line, "IncrementFileSize %llu", &v) == 1)
				*inc_bytes += v;
		}
		fclose(f);
	}
	closedir(d);
	close(dfd);
	return 0;
}

/*
 * Write ${len} bytes of ${buf} to ${path} whole or not at all: a new
 * temporary beside it (O_EXCL, a random name not ending in .prom, so the
 * collector never reads half and no one can plant it), then renamed over
 * it, both through one descriptor of the directory.  A directory others
 * may write without the sticky bit is refused (another account could
 * replace the file between runs).  Returns 0 or an errno.
 */
static int
write_beside(const char *path, const char *buf, size_t len)
{
	char dir[4096], tmp[300];
	const char *base = strrchr(path, '/') + 1;
	struct stat st;
	uint8_t rnd[8];
	int dfd, fd, e = 0;

	snprintf(dir, sizeof(dir), "%.*s", (int)(base - path), path);
	if ((dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return errno;
	if (fstat(dfd, &st) != 0 ||
	    ((st.st_mode & 022) && !(st.st_mode & S_ISVTX))) {
		close(dfd);
		log_error("%s may be written by others than its owner: the "
			  "metrics file needs a directory only the owner "
			  "writes (or a sticky one)",
		    dir);
		return EPERM;
	}
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
		close(dfd);
		return EIO;
	}
	snprintf(tmp, sizeof(tmp), ".%.200s.%02x%02x%02x%02x%02x%02x%02x%02x",
	    base, rnd[0], rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6],
	    rnd[7]);
	fd = openat(dfd, tmp,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC,
	    0644);
	if (fd < 0) {
		e = errno;
		close(dfd);
		return e;
	}
	if (fchmod(fd, 0644) != 0 || write(fd, buf, len) != (ssize_t)len ||
	    fsync(fd) != 0)
		e = errno ? errno : EIO;
	if (close(fd) != 0 && e == 0)
		e = errno;
	if (e == 0 && renameat(dfd, tmp, dfd, base) != 0)
		e = errno;
	if (e != 0)
		unlinkat(dfd, tmp, 0);
	close(dfd);
	return e;
}

struct family {
	const char *name, *help;
};

/* ${v} in as few digits as read back the same (0.064, not the
 * 0.064000000000000001 of %.17g) */
static const char *
shortest(char *buf, size_t cap, double v)
{
	for (int prec = 15; prec <= 17; prec++) {
		snprintf(buf, cap, "%.*g", prec, v);
		if (strtod(buf, NULL) == v)
			break;
	}
	return buf;
}

static void
head(struct strbuf *sb, const char *name, const char *help)
{
	strbuf_addf(sb, "# HELP %s %s\n# TYPE %s gauge\n", name, help, name);
}

int
metrics_write(const char *path, const struct host_metrics *hosts, size_t n,
    int64_t run_start, int64_t run_end, unsigned failed, unsigned shard,
    unsigned shards)
{
	static const struct family fam[] = {
		{ "capback_host_last_run_success",
		    "1 if the host's last run succeeded, else 0." },
		{ "capback_host_last_run_start_timestamp_seconds",
		    "When the host's last run started." },
		{ "capback_host_last_run_duration_seconds",
		    "How long the host's last run took." },
		{ "capback_host_last_success_timestamp_seconds",
		    "When the host's last successful run ended." },
		{ "capback_host_files",
		    "Entries in the host's newest session." },
		{ "capback_host_changed_files",
		    "Entries the last session found changed, as rdiff-backup "
		    "counts them (directories holding a change too)." },
		{ "capback_host_changed_bytes",
		    "Bytes the last session stored as increments." },
		{ "capback_host_source_bytes",
		    "Bytes of the host's source tree at the last session." },
		{ "capback_host_warnings",
		    "Warnings of the last run (files that could not be read, "
		    "retention that failed)." },
		{ "capback_host_sessions",
		    "Sessions kept in the host's repository." },
		{ "capback_host_repository_bytes",
		    "The repository's size: the mirror (source bytes) and the "
		    "increments of every kept session." },
		{ "capback_host_oldest_proven_timestamp_seconds",
		    "The oldest point in time a drill proved restorable." },
		{ "capback_host_last_drill_timestamp_seconds",
		    "When the host's repository was last drilled." },
		{ "capback_host_drill_ratio",
		    "The share of a session's entries each drill restores." },
		{ "capback_host_vault_last_success_timestamp_seconds",
		    "When the host's vault last held every session of its "
		    "repository (hosts with a vault; 0: never)." },
	};
	struct strbuf sb = STRBUF_INIT;
	char num[32];
	size_t i, k;
	int e;

	for (k = 0; k < sizeof(fam) / sizeof(fam[0]); k++) {
		head(&sb, fam[k].name, fam[k].help);
		for (i = 0; i < n; i++) {
			const struct host_metrics *h = &hosts[i];
			size_t sessions = 0;
			uint64_t incs = 0;
			double v;

			if (!h->have)
				continue;
			switch (k) {
			case 0: v = h->ok; break;
			case 1: v = (double)h->started; break;
			case 2:
				/* to the tenth, as the report: whole seconds
				 * made a quick run 0 */
				v = h->elapsed > 0 ?
				    h->elapsed :
				    (double)(h->finished - h->started);
				break;
			case 3:
				if (h->last_ok == 0)
					continue;
				v = (double)h->last_ok;
				break;
			case 4: v = (double)h->files; break;
			case 5: v = (double)h->changed; break;
			case 6: v = (double)h->inc_bytes; break;
			case 7: v = (double)h->source_bytes; break;
			case 8: v = h->warnings; break;
			case 9:
			case 10:
				if (repo_figures(h->repo, &sessions, &incs) !=
				    0)
					continue;
				v = k == 9 ? (double)sessions :
					     (double)(h->source_bytes + incs);
				break;
			case 11:
				if (h->oldest_proven == 0)
					continue;
				v = (double)h->oldest_proven;
				break;
			case 12:
				if (h->drilled == 0)
					continue;
				v = (double)h->drilled;
				break;
			case 13: v = h->drill_share; break;
			default:
				/* 0: never (an alert on its age fires) */
				if (!h->vault)
					continue;
				v = (double)h->vault_ok;
				break;
			}
			strbuf_addf(&sb, "%s{host=\"%s\"} %s\n", fam[k].name,
			    h->name, shortest(num, sizeof(num), v));
		}
	}
	head(&sb, "capback_run_start_timestamp_seconds",
	    "When the last capback run started.");
	strbuf_addf(&sb, "capback_run_start_timestamp_seconds %lld\n",
	    (long long)run_start);
	head(&sb, "capback_run_end_timestamp_seconds",
	    "When the last capback run ended.");
	strbuf_addf(&sb, "capback_run_end_timestamp_seconds %lld\n",
	    (long long)run_end);
	head(&sb, "capback_run_hosts", "Hosts in the last run.");
	strbuf_addf(&sb, "capback_run_hosts %zu\n", n);
	head(&sb, "capback_run_failed_hosts", "Hosts the last run failed on.");
	strbuf_addf(&sb, "capback_run_failed_hosts %u\n", failed);
	head(&sb, "capback_run_shard",
	    "This server's shard of the hosts: I of capback_run_shards.");
	strbuf_addf(&sb, "capback_run_shard %u\n", shard);
	head(&sb, "capback_run_shards",
	    "Servers the hosts are shared among (shard = I/N).");
	strbuf_addf(&sb, "capback_run_shards %u\n", shards);
	if (sb.buf == NULL) {
		errno = ENOMEM;
		return -1;
	}
	e = write_beside(path, sb.buf, sb.len);
	strbuf_release(&sb);
	if (e != 0) {
		errno = e;
		return -1;
	}
	return 0;
}
