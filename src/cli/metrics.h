#ifndef METRICS_H
#define METRICS_H

#include <stddef.h>
#include <stdint.h>

/* One host's figures for the metrics file (what run's result holds). */
struct host_metrics {
	const char *name;
	int have; /* a result exists */
	int ok;	  /* the last run succeeded */
	int64_t started, finished, last_ok, drilled, oldest_proven;
	double elapsed; /* seconds the last run took, 0 if unknown */
	uint64_t files, changed, inc_bytes, source_bytes;
	unsigned warnings;
	double drill_share; /* the configured share, 1 for all, 0 none */
	const char *repo;   /* local repository, or NULL */
	int vault;	    /* a vault is configured */
	int64_t vault_ok;   /* when it last held every session, 0 never */
};

/*
 * metrics_write(path, hosts, n, run_start, run_end, failed, shard,
 * shards): the file Prometheus' node exporter reads (textfile collector),
 * written to a temporary beside ${path} and renamed over it, mode 0644.
 * Returns 0, or -1 with errno set.
 */
int metrics_write(const char *path, const struct host_metrics *hosts, size_t n,
    int64_t run_start, int64_t run_end, unsigned failed, unsigned shard,
    unsigned shards);

#endif
