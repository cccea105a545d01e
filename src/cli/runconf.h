#ifndef RUNCONF_H
#define RUNCONF_H

#include <stddef.h>
#include <stdint.h>

/* capback.conf (capback.conf(5)): what "capback run", "status" and
 * "check" read. */

#define MAX_HOSTS      100000
#define MAX_RULES      64
#define DEFAULT_CONFIG "/etc/capback/capback.conf"
/* The schema of a run (no one at a terminal to answer a prompt; a host
 * that stops answering is given up, not waited for forever). */
#define RUN_SCHEMA                                      \
	"ssh -C -o BatchMode=yes -o ConnectTimeout=30 " \
	"-o ServerAliveInterval=60 -o ServerAliveCountMax=5 {h}"

struct host {
	char *name;
	char *source, *repo, *keep, *drill, *before, *after, *schema;
	char *replicate_from;	    /* a vault's host: replicate from there, not
			       * back up (then source is NULL) */
	char *vault;		    /* after each backup, replicate to there */
	char *timeout;		    /* NULL: the global one */
	char *check_received;	    /* NULL: the global one */
	char *rules[2 * MAX_RULES]; /* "--include", "X", ... */
	size_t nrules;
	long drill_max; /* --max-duration of the drill, seconds */
};

/* Host indexes by name or repository (runconf.c: config_load checks
 * that none is repeated, in linear time). */
struct hostset {
	size_t *slot, cap;
};

struct config {
	const char *path;
	long parallel;		/* set, or from the machine (parallel_why) */
	char parallel_why[160]; /* "", or how the default was chosen */
	unsigned shard, shards; /* this server's share: hosts of shard
				 * I of N (1/1: all) */
	size_t n_all;		/* hosts in the file, all shards */
	int64_t jitter;		/* seconds: each host starts up to this
				 * late (0: none) */
	char *mail_to, *mail_from, *mail_when, *after, *state, *schema;
	char *sendmail, *overdue, *timeout;
	char *metrics;		  /* the textfile collector's file, or NULL */
	char *check_received;	  /* backup --check-received, or NULL */
	const char *current_time; /* capback --current-time, or NULL */
	struct host *hosts;
	size_t n, hcap;
	struct hostset names; /* while loading: the sections seen */
	char why[512]; /* why the line config_load stopped at was refused */
	char section[80]; /* the section of the last key read */
};

/*
 * config_load(c, path, shard): read ${path} into ${c}; fatal, naming the
 * file, the line, the key and what it allows, on anything it does not
 * take.  Only the hosts of this server's shard are kept: ${shard} ("I/N",
 * --shard) or the file's shard key (default 1/1, all).  config_free(c)
 * releases it.
 */
void config_load(struct config *c, const char *path, const char *shard);

/*
 * shard_of(name, n): which of ${n} servers (1..n) backs up the host
 * ${name}: rendezvous hashing, the server with the highest score of
 * (name, server number).  Adding server n+1 moves only the hosts it now
 * wins; no other changes hands.  The hash is part of the file format:
 * every server of a fleet must compute the same.
 */
unsigned shard_of(const char *name, unsigned n);

/* parse_shard(v, i, n): "I/N", 1 <= I <= N <= 1000; 0 or -1. */
int parse_shard(const char *v, unsigned *i, unsigned *n);

/* Concurrent writers per disk of local repositories that a default
 * 'parallel' allows (capback.conf(5)). */
#define RUN_WRITERS_PER_DISK 4
void config_free(struct config *c);

/* A time span ("10s", "30m", "6h", "2D") in seconds; 0 if it is none. */
int64_t span_seconds(const char *v);

/* strdup, fatal when out of memory. */
char *xstrdup(const char *s);

#endif
