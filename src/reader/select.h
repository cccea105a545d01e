#ifndef SELECT_H
#define SELECT_H

#include <stddef.h>
#include <sys/stat.h>

/*
 * File selection with rdiff-backup 2.2's options and rules: selection
 * functions in command-line order, the first with an opinion decides;
 * none: included.  A directory may be "scanned": kept only if something
 * inside it is kept.  Globs and regexps match the path as the user wrote
 * it (SOURCE + "/" + relative path); filelists and plain paths match by
 * components relative to SOURCE.
 */
struct select;

enum select_result {
	SEL_EXCLUDE = 0,
	SEL_INCLUDE = 1,
	SEL_SCAN = 2, /* directories only: keep if anything inside is kept */
};

/* select_new(base, out): selection for the tree at ${base} as written. */
int select_new(const char *base, struct select **out);
void select_free(struct select *s);

/*
 * select_add(s, opt, arg, err, errcap): append one selection option,
 * ${opt} without its leading "--" (e.g. "exclude", "include-regexp",
 * "exclude-filelist", "exclude-device-files"), ${arg} its argument or
 * NULL.  Filelists are given by content (${arg}, ${arglen} bytes,
 * entries separated by '\n' or, with ${nul_sep}, by NUL).  Returns 0, or
 * CB_ERR_BAD_VALUE with a message in ${err}.
 */
int select_add(struct select *s, const char *opt, const char *arg,
    size_t arglen, int nul_sep, char *err, size_t errcap);

/* select_option(i, noarg): the name of option ${i} (without "--"), NULL
 * past the last; *noarg is 1 for the switches. */
const char *select_option(size_t i, int *noarg);

/* select_is_option(opt): 1 if ${opt} (without "--") is one select_add
 * takes, 2 if it takes no argument. */
int select_is_option(const char *opt);

/*
 * select_finish(s, root_dev, err, errcap): after the last option: the
 * checks rdiff-backup makes (the last option must be able to exclude).
 * ${root_dev} is the source's st_dev (for --exclude-other-filesystems).
 */
int select_finish(struct select *s, dev_t root_dev, char *err, size_t errcap);

/* What selection needs to know of one entry below the root. */
struct select_entry {
	const char *rel; /* relative path, "a/b" */
	size_t rlen;
	const struct stat *st; /* NULL if it could not be examined */
	int dirfd;	       /* its parent directory */
	const char *name;      /* its name there */
};

/* select_eval(s, e): SEL_EXCLUDE, SEL_INCLUDE or SEL_SCAN. */
int select_eval(struct select *s, const struct select_entry *e);

/* select_active(s): 1 if any option was given. */
int select_active(const struct select *s);

/*
 * select_build(base, root_dev, sels, inl, n, nul_sep, files): a selection
 * from a role's arguments: ${n} options in order, each "NAME" or
 * "NAME=ARG"; where ${inl}[i] is set, ARG is a filelist's content in hex
 * (--select-inline), else a filelist ARG is a file read here (refused
 * without ${files}).  Fatal with a message on a bad option.
 */
struct select *select_build(const char *base, dev_t root_dev,
    const char *const *sels, const char *inl, size_t n, int nul_sep, int files);

#endif
