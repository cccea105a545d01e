#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "incscan.h"
#include "meta.h"

/*
 * The increments of one directory, loaded when a restore enters it: only
 * the entries inc_classify takes for increments (the sessions are listed
 * at the first load).
 */
struct hist_dir {
	char *path; /* the mirror directory these increments belong to */
	int fd;	    /* its increments directory, -1 if there is none */
	struct hinc *incs;
	size_t n, cap;
	struct inc_times times;
	int have_times;
	/* set by a reader that does not hold the lock (capback mount): a
	 * directory loaded is loaded again once it has changed (its mtime),
	 * or when it was missing */
	int recheck;
	struct timespec mtime;
	/* 0, or the most a version before the one asked for may make (a
	 * bomb in the middle of a chain: hist_file_view's caller sets it);
	 * recheck also makes a directory that cannot be opened (but for
	 * ENOENT) an error rather than one without increments */
	uint64_t step_cap;
};

void hist_dir_init(struct hist_dir *d);
void hist_dir_release(struct hist_dir *d);

/*
 * hist_file_at(d, rootfd, datafd, r, t, outfd):
 * Rebuild the content regular file ${r} had at session time ${t} (older
 * than the mirror): *outfd is an unlinked file holding it (caller closes)
 * or the mirror file itself when no increment applies.  ${d} caches the
 * increments listing of the current directory.  The version is never
 * made larger than ${r}'s recorded size.  Returns 0, CB_ERR_SYS,
 * CB_ERR_CORRUPT (a bad delta or gzip), CB_ERR_TOO_LARGE (it would be
 * larger than recorded), CB_ERR_NOMEM.
 */
int hist_file_at(struct hist_dir *d, int rootfd, int datafd,
    const struct meta_rec *r, int64_t t, int *outfd);

/*
 * hist_mirror_open(rootfd, datafd, r):
 * Open the mirror file that holds the newest data of the regular file
 * ${r}, as a restore of the newest session reads it (the one place it is
 * opened): long_filename_data/N for an alternate mirror name, else its
 * path beneath ${rootfd}, never through a symlink.  The descriptor, or
 * -1 with errno set.
 */
int hist_mirror_open(int rootfd, int datafd, const struct meta_rec *r);

/*
 * hist_incs_from(d, datafd, r, t, one):
 * How many increments of ${r} are named with the time ${t} or later (at
 * the newest session of a repository with one current_mirror marker:
 * what a regress that did not finish left behind).  With ${one}, *one
 * borrows the name of one of them (valid until ${d} loads another
 * directory; NULL if none).  A negative CB_ERR_* if its increments
 * cannot be listed.
 */
int hist_incs_from(struct hist_dir *d, int datafd, const struct meta_rec *r,
    int64_t t, const char **one);

/*
 * hist_remove_from(d, datafd, r, t):
 * Remove those increments and sync their directory.  The number removed,
 * or CB_ERR_SYS (errno set; what was not removed stays listed in ${d}).
 */
int hist_remove_from(struct hist_dir *d, int datafd, const struct meta_rec *r,
    int64_t t);

/*
 * A version read at any offset (capback mount): ${base} alone when
 * ${chain} is NULL, else the map ${chain} over ${base} and the store
 * ${lit} (delta_chain_pread).  Every descriptor is the view's own, so a
 * mirror file replaced or an increment removed afterwards changes nothing
 * in it.
 */
struct delta_chain;
struct hist_view {
	int base, lit;
	struct delta_chain *chain;
};

/*
 * hist_file_view(d, datafd, mirrorfd, r, t, until, v):
 * The content the regular file ${r} had at session time ${t}, from the
 * increments named with a time in [t, until) applied to ${mirrorfd}
 * (borrowed; the caller opened the mirror file and judged which sessions
 * it holds; -1 if there is none) or to the older snapshot they reach.
 * Diffs are composed into a map of pieces, not written out (a snapshot
 * increment is decompressed whole: gzip has no access points), and
 * copies too scattered for the map fall back to a rebuild in a scratch
 * file.  Errors as hist_file_at; ${v} is empty then.
 */
int hist_file_view(struct hist_dir *d, int datafd, int mirrorfd,
    const struct meta_rec *r, int64_t t, int64_t until, struct hist_view *v);
void hist_view_close(struct hist_view *v);

struct linkmap;

/*
 * hist_recorded_digest(groups, m, out):
 * The recorded digest of the regular file ${m}: rdiff-backup stores it
 * with the first link of a hard-link group only, and reads it from there
 * for every later link, so call this for every regular record of a pass,
 * in record order, with one ${groups} (linkmap_new) for the pass.  1 and
 * the digest in ${out} (2 for a later link of a group: a restore links it
 * to the first and sends none of its content), or 0 if there is none.  Fatal when out of memory.
 */
int hist_recorded_digest(struct linkmap *groups, const struct meta_rec *m,
    uint8_t out[20]);

/*
 * history_scratch_init(): pick the directory for the unnamed scratch
 * files that rebuilding older versions needs ($TMPDIR, /var/tmp, /tmp: the
 * first where O_TMPFILE works) and return an O_PATH descriptor of it, or
 * -1.  Done before the writer confines itself (it is one of its rules).
 */
int history_scratch_init(void);
extern int history_scratch_dirfd; /* -1 until chosen */

#endif
