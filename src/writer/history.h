#ifndef HISTORY_H
#define HISTORY_H

#include <stddef.h>
#include <stdint.h>

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
