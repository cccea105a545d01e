#ifndef SETUP_H
#define SETUP_H

/* What `capback setup` sets up; every field is a plain word. */
struct setup_opts {
	const char *role; /* "reader", "restorer" (a host), "server", "vault" */
	const char *user;	   /* the account (capback) */
	const char *group;	   /* reader: the group that may run it */
	const char *home;	   /* server: the account's home and state */
	const char *restrict_path; /* reader, restorer: the limit */
	const char *from;	   /* reader, restorer: the server's address */
	const char *key;      /* reader, restorer: the server's key, or NULL */
	const char *repo_dir; /* server: where repositories live */
	const char *config;   /* server: capback.conf */
	const char *host;     /* server: a [host NAME] to add, or NULL */
	const char *source;   /* server: that host's USER@HOST::/PATH */
	const char *max_skew; /* vault: --max-skew of its forced command */
	const char *quota;    /* vault: --quota of it, or NULL */
	int apply;
};

/*
 * setup(o): print the shell script that configures ${o->role} for
 * ${o->user} (idempotent commands), or with ${o->apply} run it as root.
 * Returns the exit status.
 */
int setup(const struct setup_opts *o);

#endif
