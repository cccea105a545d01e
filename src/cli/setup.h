#ifndef SETUP_H
#define SETUP_H

/* What `capback setup` sets up; every field is a plain word. */
struct setup_opts {
	const char *role;  /* "reader" (a host) or "writer" (the server) */
	const char *user;  /* the account */
	const char *group; /* reader: the group that may run the reader */
	const char *home;  /* the account's home */
	const char *restrict_path; /* reader: the forced command's limit */
	const char *from;	   /* reader: the server's address(es) */
	const char *key;      /* reader: the server's public key, or NULL */
	const char *repo_dir; /* writer: where repositories live */
	const char *source;   /* writer: HOST::/PATH for a unit, or NULL */
	const char *name;     /* writer: the unit's name */
	int apply;
};

/*
 * setup(o): print the shell script that configures ${o->role} for
 * ${o->user} (idempotent commands), or with ${o->apply} run it as root.
 * Returns the exit status.
 */
int setup(const struct setup_opts *o);

#endif
