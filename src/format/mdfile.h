#ifndef MDFILE_H
#define MDFILE_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

/*
 * Reading and writing the record files of rdiff-backup-data:
 * mirror_metadata, extended_attributes and access_control_lists
 * (docs/rdiff-backup-format.md sections 1.2, 4 and 5).  Files may be gzip
 * or plain; readers accept both whatever the name says.  The repository
 * is treated as untrusted input: every field is bounded (meta.h limits),
 * a malformed file gives CB_ERR_CORRUPT, never a crash.
 */

enum md_kind {
	MD_META = 0, /* mirror_metadata.<T>.{snapshot,diff}[.gz] */
	MD_EA,	     /* extended_attributes.<T>.snapshot[.gz] */
	MD_ACL,	     /* access_control_lists.<T>.snapshot[.gz] */
};

struct md_reader;

/*
 * md_reader_open(dirfd, name, kind, out):
 * Open ${name} beneath ${dirfd} (no symlinks followed) for streaming.
 * Returns 0 and a reader in *out (free with md_reader_free), or
 * CB_ERR_SYS (errno ENOENT etc.), CB_ERR_NOMEM.
 */
int md_reader_open(int dirfd, const char *name, enum md_kind kind,
    struct md_reader **out);

/*
 * md_reader_next(rd, rec):
 * Parse the next record into ${rec}, which is cleared first.  For MD_META
 * all mirror_metadata fields; for MD_EA only path + xattrs (names
 * unquoted, values decoded, sorted by name); for MD_ACL only path + acl.
 * Returns 0, CB_ERR_EOF after the last record, CB_ERR_CORRUPT (the
 * reader is then unusable), CB_ERR_SYS, CB_ERR_NOMEM.  Records must come
 * in strictly increasing meta_path_cmp order, else CB_ERR_CORRUPT.
 */
int md_reader_next(struct md_reader *rd, struct meta_rec *rec);

/*
 * md_reader_seek(rd, path, pathlen, rec):
 * Move on to the record of ${path} and parse it into ${rec} (cleared
 * first) as md_reader_next does.  The records before it are framed but
 * not parsed: their header lines are unquoted, checked and held to the
 * record order as md_reader_next does, every line is bounded and NUL-free,
 * their body lines are not looked at.  Returns 0; CB_ERR_EOF when the file
 * has no record of ${path} (the reader stays usable: it stopped at the
 * end or before the first record past ${path}, which md_reader_next or a
 * later md_reader_seek reads next); or an error as md_reader_next, and
 * then the reader is unusable.
 */
int md_reader_seek(struct md_reader *rd, const char *path, size_t pathlen,
    struct meta_rec *rec);

/* md_reader_line(rd): 1-based line number of the last record read (for errors). */
unsigned long md_reader_line(const struct md_reader *rd);

void md_reader_free(struct md_reader *rd);

struct md_writer;

/*
 * md_writer_open(dirfd, name, compress, out):
 * Prepare to write ${name} (e.g. "mirror_metadata.<T>.snapshot") beneath
 * ${dirfd}.  With ${compress} the data goes to "${name}.gz" (gzip), but
 * the file is only created when the first byte is written; a writer that
 * saw no bytes creates an empty uncompressed ${name} at close (the
 * "MaybeGzip" rule).  Files are created mode 0600 with O_EXCL.
 */
int md_writer_open(int dirfd, const char *name, int compress,
    struct md_writer **out);

/*
 * md_writer_threaded(w): before the first write: compress in a second
 * thread (two buffers of MD_THREAD_BUF handed over), so the caller does
 * not wait for zlib.  0 or CB_ERR_NOMEM; nothing for an uncompressed
 * writer.
 */
int md_writer_threaded(struct md_writer *w);
#define MD_THREAD_BUF (1u << 20)

/* md_writer_write(w, p, n): append bytes.  0, CB_ERR_SYS, CB_ERR_NOMEM. */
int md_writer_write(struct md_writer *w, const void *p, size_t n);

/*
 * md_writer_close(w, final_name, cap):
 * Finish and fsync the file, free ${w}.  Copies the name of the file
 * actually written (with or without ".gz") into final_name[cap] when
 * final_name is not NULL.  Returns 0, CB_ERR_SYS (e.g. ENOSPC) -- on
 * failure the partial file is removed.
 */
int md_writer_close(struct md_writer *w, char *final_name, size_t cap);

/*
 * md_writer_hold(w, max): before the first write of a compressed writer:
 * keep what is written in memory (at most ${max} bytes, then written on
 * as usual), compressing nothing, so that md_writer_close_as can find it
 * the same as an older file and take that file's bytes instead.
 * md_writer_release(w): write what is held and hold no more (0 or
 * md_writer_write's error).
 */
int md_writer_hold(struct md_writer *w, size_t max);
int md_writer_release(struct md_writer *w);

/*
 * md_writer_close_as(w, old, final_name, cap): as md_writer_close, but a
 * writer still holding what the gzip file ${old} (a name beneath the same
 * directory) holds, by its trailer's CRC-32 and length, gets ${old}'s
 * bytes under its own name by a hard link: nothing compressed or written.
 */
int md_writer_close_as(struct md_writer *w, const char *old, char *final_name,
    size_t cap);

/* md_writer_abort(w): remove whatever was created, free ${w}; NULL-safe. */
void md_writer_abort(struct md_writer *w);

/*
 * A full snapshot at one session time: mirror_metadata merged with the EA
 * and ACL snapshots of the same time (either may be missing: then empty).
 */
struct md_snap;

/*
 * md_snap_open(datafd, meta_name, ea_name, acl_name, out):
 * Open the three files beneath ${datafd} (rdiff-backup-data); ea_name /
 * acl_name may be NULL.  Returns 0 or an error as md_reader_open.
 */
int md_snap_open(int datafd, const char *meta_name, const char *ea_name,
    const char *acl_name, struct md_snap **out);

/*
 * md_snap_next(s, rec): next full record (mirror_metadata order, xattrs
 * and ACL attached from the EA/ACL files).  EA/ACL records for paths not
 * in the metadata are CB_ERR_CORRUPT.  Returns as md_reader_next.
 */
int md_snap_next(struct md_snap *s, struct meta_rec *rec);

void md_snap_free(struct md_snap *s);

#endif
