#ifndef MDHIST_H
#define MDHIST_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

/*
 * The history of mirror_metadata in rdiff-backup-data: snapshots, the
 * diffs that replace older snapshots, the chain rule that decides which
 * snapshots stay, and reading the metadata as it was at a session time
 * (docs/rdiff-backup-format.md sections 4.5 and 4.6).  Metadata files are
 * found with repo_scan (timespec.h), so quoted data directories work.
 */

/* rdiff-backup's max_diff_chain: keep a snapshot once the chain is this long. */
#define MDHIST_MAX_CHAIN 9

/* Most metadata files one reader merges (each holds a descriptor). */
#define MDHIST_MAX_FILES 512

/*
 * mdhist_write_diff(datafd, old_snapshot, new_snapshot, diff_name,
 *     compress):
 * Write ${diff_name} (e.g. "mirror_metadata.<old T>.diff", no ".gz")
 * beneath ${datafd}: the diff of the metadata file ${old_snapshot}
 * relative to ${new_snapshot}, as rdiff-backup writes it.  For every path
 * in record order: in the old file only, or with a record that differs
 * (byte-wise, as meta_format prints it) -> the old record; in the new file
 * only -> "File <path>\n  Type None\n"; identical -> nothing.  With
 * ${compress} the file is "${diff_name}.gz" unless the diff is empty, which
 * gives an empty uncompressed ${diff_name} (md_writer's MaybeGzip rule).
 * The file is fsync'd, then the directory.  Returns 0, or an error of
 * md_reader_next / md_writer_* (CB_ERR_CORRUPT for a malformed input,
 * CB_ERR_SYS with EEXIST when the target exists, ...), and then no new
 * file is left behind.
 */
int mdhist_write_diff(int datafd, const char *old_snapshot,
    const char *new_snapshot, const char *diff_name, int compress);

/*
 * mdhist_keep_snapshot(datafd, old_time, keep):
 * The chain rule, asked after the new session's snapshot was written:
 * list the mirror_metadata files newest first, find the one of
 * ${old_time}; the chain length is 1 + the number of consecutive diff
 * files that follow it (older ones).  *keep = 1 when the chain length is
 * >= MDHIST_MAX_CHAIN (the old snapshot stays a snapshot) or when no newer
 * metadata file exists (nothing to diff against), else 0 (replace it with
 * a diff).  Returns 0, CB_ERR_SYS with ENOENT when there is no metadata
 * file of ${old_time}, CB_ERR_CORRUPT when two metadata files have the same
 * time, CB_ERR_SYS, CB_ERR_NOMEM.
 */
int mdhist_keep_snapshot(int datafd, int64_t old_time, int *keep);
/* mdhist_keep_snapshot_ahead: the same asked before the new session's
 * snapshot is written (the writer's diff is made as the session goes):
 * a newer metadata file is taken to exist. */
int mdhist_keep_snapshot_ahead(int datafd, int64_t old_time, int *keep);

struct mdhist;

/*
 * mdhist_open(datafd, t, out):
 * Prepare to read the metadata at session time ${t}: the mirror_metadata
 * file of time ${t}, then the newer ones in ascending time up to and
 * including the first snapshot, merged so that for each path the record
 * of the oldest file that has it wins and a winning "Type None" hides the
 * path.  Extended attributes and ACLs come from extended_attributes.<t>.*
 * and access_control_lists.<t>.* when those exist.  The merge streams:
 * memory grows with the number of files, not with the tree.
 * Returns 0 and a reader in *out (free with mdhist_free), or
 * CB_ERR_SYS with ENOENT when no metadata file has time ${t},
 * CB_ERR_CORRUPT when two metadata files share a time (rdiff-backup:
 * "duplicate timestamp") or no snapshot follows ${t},
 * CB_ERR_TOO_LARGE beyond MDHIST_MAX_FILES files, CB_ERR_SYS, CB_ERR_NOMEM.
 */
int mdhist_open(int datafd, int64_t t, struct mdhist **out);

/*
 * mdhist_next(h, rec): the next record present at time t, in record
 * order, with xattrs/ACL attached (${rec} is cleared first).  Returns 0,
 * CB_ERR_EOF after the last one, or an error of md_reader_next (then the
 * reader stays failed); CB_ERR_CORRUPT too for an EA/ACL record whose path
 * is not present at t.
 */
int mdhist_next(struct mdhist *h, struct meta_rec *rec);

/* mdhist_nfiles(h): number of metadata files merged (1 = a snapshot). */
size_t mdhist_nfiles(const struct mdhist *h);

void mdhist_free(struct mdhist *h);

/*
 * One path followed through the sessions ("capback versions"): each
 * metadata file is read once, only as far as the path's record
 * (md_reader_seek: the records before it are framed, not parsed), and what
 * it holds for the path is kept while later sessions' chains still reach
 * it; so a session costs its own metadata file, not the chain of diffs up
 * to its snapshot.  Memory: one record per metadata file of the chain.
 */
struct mdhist_path;

/*
 * mdhist_path_new(datafd, path, pathlen, out):
 * Prepare to follow ${path} (borrowed, as ${datafd}, until
 * mdhist_path_free).  Returns 0 and *out, or CB_ERR_NOMEM.
 */
int mdhist_path_new(int datafd, const char *path, size_t pathlen,
    struct mdhist_path **out);

/*
 * mdhist_path_open(p, t):
 * Select session time ${t} as mdhist_open reads it: the files it would
 * open are opened (but those already read for an earlier session) in its
 * order, with its errors.  The metadata files are listed at the first
 * call, and that listing (or its error) serves the later ones.  Sessions
 * are best taken oldest first: files older than ${t}'s are let go.
 */
int mdhist_path_open(struct mdhist_path *p, int64_t t);

/*
 * mdhist_path_open_snap(p, meta_name, ea_name, acl_name):
 * Select the snapshot that md_snap_open reads with these names (ea_name
 * and acl_name may be NULL): there a "Type None" record is a record, not
 * an absence.  Errors as md_snap_open.
 */
int mdhist_path_open_snap(struct mdhist_path *p, const char *meta_name,
    const char *ea_name, const char *acl_name);

/*
 * mdhist_path_get(p, rec):
 * The path's record in the session selected last, as mdhist_next (or
 * md_snap_next) returns it: 0 and ${rec} (cleared first) with its xattrs
 * and ACL; CB_ERR_EOF when the path is not in that session;
 * CB_ERR_CORRUPT for an EA or ACL record of the path when it is not
 * there; or an error of md_reader_seek.  Damage in other paths' records
 * may go unnoticed (they are not parsed).  Ends the selection.
 */
int mdhist_path_get(struct mdhist_path *p, struct meta_rec *rec);

/* mdhist_path_free(p): NULL-safe. */
void mdhist_path_free(struct mdhist_path *p);

#endif
