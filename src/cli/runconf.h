#ifndef RUNCONF_H
#define RUNCONF_H

#include <stddef.h>
#include <stdint.h>

/* capback.conf (capback.conf(5)): what "capback run", "status" and
 * "check" read. */

#define MAX_HOSTS      256
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
	char *rules[2 * MAX_RULES]; /* "--include", "X", ... */
	size_t nrules;
	long drill_max; /* --max-duration of the drill, seconds */
};

struct config {
	const char *path;
	long parallel;
	char *mail_to, *mail_from, *mail_when, *after, *state, *schema;
	char *sendmail, *overdue, *timeout;
	char *metrics;		  /* the textfile collector's file, or NULL */
	const char *current_time; /* capback --current-time, or NULL */
	struct host *hosts;
	size_t n;
	char why[512]; /* why the line config_load stopped at was refused */
	char section[80]; /* the section of the last key read */
};

/*
 * config_load(c, path): read ${path} into ${c}; fatal, naming the file,
 * the line, the key and what it allows, on anything it does not take.
 * config_free(c) releases it.
 */
void config_load(struct config *c, const char *path);
void config_free(struct config *c);

/* A time span ("10s", "30m", "6h", "2D") in seconds; 0 if it is none. */
int64_t span_seconds(const char *v);

/* strdup, fatal when out of memory. */
char *xstrdup(const char *s);

#endif
