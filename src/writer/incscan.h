#ifndef INCSCAN_H
#define INCSCAN_H

#include <stddef.h>
#include <stdint.h>

#include "strbuf.h"
#include "timefmt.h"

/*
 * Which entries of the increments tree are increments.  The tree below
 * rdiff-backup-data/increments has a directory for every directory of the
 * source, named as the source names it, so a name that parses as an
 * increment (docs/rdiff-backup-format.md 2.3) proves nothing: an entry is
 * an increment only if it is a regular file (an uncompressed snapshot
 * may also be the special file it keeps: symlink, fifo, socket, device;
 * never a directory), its name parses with an increment kind (snapshot,
 * diff, dir, missing) and its time is one of the repository's sessions.
 * Every walk of the tree asks inc_classify.
 */

/*
 * The name of an increment while it is written (inc_open):
 * "rdiff-backup.tmp.i<N>.<T>.missing", where <T> is the writing
 * session's own time, which no increment ever carries (an increment is
 * named with the time of the session before), and <N> a number.  So it
 * is an increment of a path "rdiff-backup.tmp.i<N>" newer than any
 * session it could be regressed to: rdiff-backup's regress deletes it
 * (a path with neither mirror file nor metadata), and capback never takes
 * it for one (see inc_times_load).  An older capback named it
 * "rdiff-backup.tmp.i<N>", which rdiff-backup's regress left behind.
 */
#define INC_TMP_PREFIX "rdiff-backup.tmp.i"

/*
 * The repository's session times that increments may carry, sorted:
 * repo_sessions, less an unfinished session's time (that of the newer of
 * two current_mirror markers) and any later one: the session that would
 * name increments with it has not happened, so a name carrying it is a
 * temporary.  The time of a finished newest session stays: increments
 * named with it are a regress's leftovers (repair.c), and may be the
 * only copy of an older version.
 */
struct inc_times {
	int64_t *t;
	size_t n;
};

/*
 * inc_times_load(datafd, s): the sessions of the repository whose
 * rdiff-backup-data is open at ${datafd} into *s (inc_times_release).
 * Returns 0 or repo_sessions' error; *s is empty on failure.
 */
int inc_times_load(int datafd, struct inc_times *s);

/*
 * inc_markers(e, ne, &newest): how many current_mirror markers a listing
 * of rdiff-backup-data (repo_scan) holds, and the newest one's time.
 */
struct repo_entry;
size_t inc_markers(const struct repo_entry *e, size_t ne, int64_t *newest);

/*
 * inc_hold(datafd, ts, if_empty, name, cap): rdiff-backup takes a
 * repository whose increments directory is empty (or missing) for a new
 * one, which then needs no regress whatever its markers say, and refuses
 * to back up into it.  While two markers stand, an empty temporary
 * "rdiff-backup.tmp.i<N>.<ts>.missing" (N random, ${ts} the unfinished
 * session's time: litter to either tool's regress and to capback's tidy
 * once that session is gone) keeps it from being empty.  With
 * ${if_empty}, made only in an empty directory.  Durable when it returns;
 * its name in name[cap] ("" if none was made).  0, or -1 with errno.
 * inc_unhold(datafd, name): remove it (nothing for "").
 */
int inc_hold(int datafd, const char *ts, int if_empty, char *name, size_t cap);
void inc_unhold(int datafd, const char *name);
void inc_times_release(struct inc_times *s);

/* inc_is_tmp_base(name, len): is ${name} INC_TMP_PREFIX and digits? */
int inc_is_tmp_base(const char *name, size_t len);

enum inc_class {
	INC_NOT = 0, /* not an increment-style name at all */
	INC_FOREIGN, /* named like one, but no increment (see above) */
	INC_REAL,
};

/*
 * inc_classify(dirfd, name, d_type, s, out):
 * The class of the entry ${name} of the increments directory ${dirfd};
 * ${d_type} is its DT_* type from readdir, or DT_UNKNOWN to have it
 * looked up (fstatat, a symlink not followed).  For INC_REAL, *out is
 * the parsed name (${out} may be NULL); also for INC_FOREIGN.
 */
enum inc_class inc_classify(int dirfd, const char *name, unsigned char d_type,
    const struct inc_times *s, struct incname *out);

/*
 * inc_is_litter(name, c, in, is_dir, times): is the entry ${name} of an
 * increments tree, of class ${c} (with *${in} parsed, for INC_FOREIGN
 * too), a temporary of a session that was killed: not a directory, and
 * named "rdiff-backup.tmp.i<N>" (an older capback's) or, foreign by its time,
 * "rdiff-backup.tmp.i<N>.<T>.missing"; or so named with the newest
 * session's time of ${times}: a session's hold on an empty increments
 * directory (hold_increments in backup.c) that its end did not remove.
 * A source file of that name has increments with the times of the
 * sessions before the newest (a regress's leftovers aside: only a
 * ".missing" one, which holds nothing, could go).
 */
int inc_is_litter(const char *name, enum inc_class c, const struct incname *in,
    int is_dir, const struct inc_times *times);

/*
 * The walk of an increments tree (inc_tree_walk): ${visit} is called for
 * every entry of every directory below, with its class and its path
 * relative to the top in w->path; it returns 1 when it removed the entry.
 * A directory it leaves is walked in turn, and with ${rmdirs} removed
 * when that leaves it empty.
 */
struct inc_walk {
	const struct inc_times *times;
	int (*visit)(struct inc_walk *w, int dirfd, const char *name,
	    enum inc_class c, const struct incname *in, int is_dir);
	int rmdirs;
	struct strbuf path;
	void *arg;
};

/*
 * inc_tree_walk(fd, w): walk the directory ${fd} (borrowed) as above.
 * Returns 1 when ${fd} is empty afterwards.  Fatal when a directory
 * cannot be listed.
 */
int inc_tree_walk(int fd, struct inc_walk *w);

/*
 * inc_walk_all(datafd, w): inc_tree_walk of rdiff-backup-data's
 * increments and long_filename_data (those present), w->path starting
 * with their names.  Releases w->path.
 */
void inc_walk_all(int datafd, struct inc_walk *w);

#endif
