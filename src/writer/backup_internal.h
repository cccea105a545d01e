#ifndef BACKUP_INTERNAL_H
#define BACKUP_INTERNAL_H

#include <stdint.h>

#include "credit.h"
#include "delta.h"
#include "frame.h"
#include "hashbehind.h"
#include "leftout.h"
#include "linkmap.h"
#include "log.h"
#include "mdfile.h"
#include "msg.h"
#include "pathcheck.h"
#include "strbuf.h"
#include "log.h"
#include "writer.h"
#include "xfer.h"

/* PROGRESS credit is returned to the reader every this many entries. */
#define PROGRESS_EVERY 128

enum act_kind { ACT_ENTRY, ACT_DELETE, ACT_KEEP };
enum decision { D_NONE, D_DATA, D_LINK };

struct action {
	enum act_kind kind;
	enum decision dec;
	uint64_t seq;
	struct msg_entry e;   /* ACT_ENTRY: the new state */
	struct meta_rec prev; /* previous record (has_prev) */
	int has_prev;
	char *link_to;	  /* D_LINK: first path of the hard-link group */
	size_t siglen;	  /* D_DATA asked by WANT_DELTA: signature bytes */
	int replaces_dir; /* a directory stood here: no .missing marker */
	int rehash;	  /* read although size and mtime are the same (2:
			   * counted as changed for its attributes) */
	size_t bytes;	  /* held in memory, counted in session.qbytes */
};

/* An entry received, waiting to be joined while the queue is full. */
struct deferred {
	struct msg_entry e;
	uint64_t seq;
};

/* How far the join of the oldest waiting entry got. */
enum join_step {
	J_BEFORE,  /* the previous records before it are being deleted */
	J_SUBTREE, /* its previous subtree is being deleted (or kept) */
	J_PUSH,	   /* it goes into the queue */
};

/*
 * The queue of actions waiting to be applied (behind a file whose
 * content is on its way) holds at most about this many actions and bytes
 * of records: beyond, received entries wait to be joined, their credit
 * held (docs/protocol.md, "Bounds").
 */
#define Q_JOIN_MAX   4096
#define Q_JOIN_BYTES (8u * 1024 * 1024)

enum dir_marker {
	MARK_DIR,     /* existed before: "<name>.<T>.dir" if anything changed */
	MARK_MISSING, /* new: "<name>.<T>.missing" */
	MARK_NONE,    /* replaced a file whose snapshot was written */
};

struct dlevel {
	int fd;
	struct meta_rec rec; /* the directory's new record (attrs at pop) */
	int incfd;	     /* its directory in increments/, -1 until needed */
	int changed;	     /* something at or below it took part */
	enum dir_marker marker;
	int deleted; /* a deleted directory being emptied */
	int counted; /* in the statistics as new or changed by itself */
};

struct stats {
	uint64_t source_files, source_size, mirror_files, mirror_size;
	uint64_t new_files, new_size, deleted_files, deleted_size;
	uint64_t changed_files, changed_src_size, changed_mirror_size;
	/* of changed_files, the directories counted only as rdiff-backup
	 * counts them (something below took part; a first backup's root) */
	uint64_t changed_as_rdiff;
	uint64_t errors;
	uint64_t inc_files, inc_size;
	/* what crossed the link (not in session_statistics) */
	uint64_t whole_files, whole_bytes;
	uint64_t delta_files, delta_bytes, delta_size, sig_bytes;
	uint64_t in_place_files; /* mirror files updated in place */
	/* digests at the source: files whose digest was taken from the
	 * reader, and those of them checked against what was written */
	uint64_t src_digests, src_checked;
};

struct batch;

/* Files whose digest may still be in the hashing thread's hands: one of
 * its slots stays free for the file being received. */
#define PENDING_MAX (HB_SLOTS - 1)

/* A new mirror file whose record waits for its SHA-1 (pending.c). */
struct pending {
	struct xfer_sink sink;
	int fd;		/* open until the digest is known */
	char *path;	/* for messages */
	size_t rec_off; /* its record in s->mpend */
	size_t sha_off; /* the 40 hex digits of its digest there */
};

struct session {
	/* --progress (a terminal); the previous session's SourceFiles
	 * for an ETA */
	struct log_progress prog;
	uint64_t rehash_changed; /* --check-unchanged found these */
	uint64_t native_fixed;	 /* unchanged files given their owner, mode */
	uint64_t charged;	 /* bytes counted against o->quota */
	struct repo *repo;
	const struct writer_opts *o;
	struct frame_in in;
	struct frame_out out;
	/* previous metadata */
	struct md_snap *prev;
	struct meta_rec prec;
	int prec_valid;
	struct leftout
	    lo; /* what the previous (rdiff-backup) session left out */
	/* receipt side: order and structure checks */
	struct pathcheck pc;
	uint64_t seq, progress_sent;
	struct credit cr; /* the reader's window, enforced */
	int entries_done;
	/* apply side */
	struct action *q; /* ring */
	size_t qhead, qcount, qcap;
	size_t qentries;     /* ACT_ENTRY actions in q */
	size_t qbytes;	     /* the actions' bytes (action.bytes) */
	uint64_t popped_seq; /* seq of the last ACT_ENTRY taken from q */
	/* entries received and not joined yet (ring), and the join */
	struct deferred *dq;
	size_t dqhead, dqcount, dqcap;
	enum join_step jstep;
	enum act_kind jkind; /* J_SUBTREE: ACT_DELETE or ACT_KEEP */
	int jreplaces;	     /* the entry replaces a directory */
	int end_joined;	     /* after ENTRIES_END, every record joined */
	struct dlevel *dstack;
	size_t ddepth, dcap;
	struct linkmap *links;
	/* file being received */
	int receiving;
	int tmpfd;
	int direct;	   /* tmpname is the new file's own name */
	char tmpname[256]; /* removed when the session dies */
	struct xfer_sink sink;
	/* HELLO_DIGESTS agreed: FILE_END carries the reader's digest, and
	 * a file is checked against it with chance check_at / 2^32 (the
	 * state of a xorshift generator seeded from getrandom) */
	int src_digests;
	uint64_t check_at, rng;
	int fixfd;	  /* DIGEST_FIXES of this session, -1 until needed */
	uint64_t flushed; /* writeback started up to here (-1: never) */
	uint64_t tmpcount;
	/* The content increment being written (inc_open .. inc_close). */
	int inc_dir, inc_tmpdir; /* its directory, its temporary's */
	char inc_tmp[96], inc_final[512];
	struct delta_patcher *patcher; /* the file comes as a delta */
	int basisfd;		       /* its basis, the mirror file */
	/* deltas asked for */
	struct strbuf sig;     /* signature being made */
	uint64_t sig_inflight; /* signature bytes the reader may hold */
	/* outputs */
	struct md_writer *wmeta, *wea, *wacl;
	/* The previous session's metadata snapshot becomes a diff against
	 * this one (unless it stays a snapshot, mdhist_keep_snapshot):
	 * written as records are (wdiff, under DIFF_TMP until the commit
	 * renames it), from each previous record and what replaced it;
	 * dbuf waits to be written, dtmp is scratch; dreplaced: the record
	 * being written replaces a directory, whose record the diff has
	 * from its deletion already. */
	struct md_writer *wdiff;
	/* the new snapshot is held while it is the previous one again
	 * (meta_hold in backup.c) */
	int meta_held;
	struct strbuf dbuf, dtmp;
	int dreplaced;
	struct strbuf fmt;
	struct strbuf errlog;
	struct stats st;
	/* increments: named with the previous session's time */
	int incs; /* 0 for a first backup */
	int marker_written;
	char marker[64];    /* this session's current_mirror marker */
	char new_meta[256]; /* the new metadata snapshot's file name */
	char prevts[32];
	char nowts[32]; /* this session's time: its increments' temporaries */
	/* a temporary that keeps increments/ from being empty while the
	 * session is unfinished (hold_increments), "" if none was needed */
	char holder[96];
	/* long_filename_data (7.3): increments of names too long to carry a
	 * ".<time>.<ext>" suffix, named by number instead */
	int altfd;	     /* -1 until needed */
	uint64_t next_free;  /* 0 until read */
	struct batch *batch; /* increments and changes waiting (batch.c) */
	/* new files waiting for their digests, and the metadata text from
	 * the oldest one's record on (pending.c) */
	struct pending pend[PENDING_MAX];
	size_t pend_head, npend;
	struct strbuf mpend;
};

/* Files smaller than this in the mirror cross whole, never as deltas. */
#define DELTA_MIN_SIZE (16u * 1024)
/* Signature bytes sent and not yet answered, at most. */
#define SIG_INFLIGHT_MAX (16u * 1024 * 1024)

/* Names longer than this get an AlternateIncrementName (7.3). */
#define INC_NAME_MAX 205

/* backup.c */
void note_error(struct session *s, const char *path, size_t len,
    const char *what, int err);
/* write_record(s, r, old): the record into the metadata files (after the
 * digests already known are collected: pending_poll); ${old}: the
 * previous session's record of that path, or NULL (the previous
 * session's metadata diff, diff_record). */
void write_record(struct session *s, const struct meta_rec *r,
    const struct meta_rec *old);
void write_record_only(struct session *s, const struct meta_rec *r,
    const struct meta_rec *old);
/* diff_deleted(s, old): the previous record of a path this session
 * deletes, into the previous session's metadata diff. */
void diff_deleted(struct session *s, const struct meta_rec *old);

/*
 * Digests from the host are recorded unchecked (but for a sample); a
 * false one must not stop regress, which holds a rebuilt file to its
 * record.  So in a pull, before the mirror copy of a regular file goes
 * into an increment (replaced, deleted), check_old_digest(s, pfd, name,
 * old) hashes it; on a mismatch the pair (recorded, actual) goes into
 * DIGEST_FIXES of this session first (synced), which regress of this
 * session accepts a rebuild by, and ${old} is corrected (the previous
 * session's metadata diff takes it).  Fatal only on a write error.
 */
void check_old_digest(struct session *s, int pfd, const char *name,
    struct meta_rec *old);
void q_pop_head(struct session *s);

/* backup_apply.c: mirror updates, in record order. */
void apply_ready(struct session *s);
/* session_charge(s, n, r): ${n} more bytes of this session (for ${r}),
 * fatal past an append-only vault's --quota. */
void session_charge(struct session *s, uint64_t n, const struct meta_rec *r);
void
apply_file_begin(struct session *s, uint64_t seq, uint64_t size, int delta);
/* apply_file_data(s, p, n): content (or delta) bytes of the file. */
void apply_file_data(struct session *s, const uint8_t *p, size_t n);
/*
 * apply_file_end(s, err, flags, sha1, src): the file is complete; with
 * ${sha1} (a delta) the result must have that digest.  ${src}: the
 * reader's digest of a file sent whole (digests at the source): recorded,
 * and compared with what was written if the file was picked for a check.
 */
void apply_file_end(struct session *s, uint32_t err, uint64_t flags,
    const uint8_t *sha1, const uint8_t *src);
void apply_finish(struct session *s);

/*
 * dir_finish(l, pfd, is_root): a directory's last step: its attributes
 * set (or, deleted, its removal from ${pfd}), its descriptors closed.
 */
void dir_finish(struct dlevel *l, int pfd, int is_root);
/* install_tmp(dirfd, tmp, name): ${tmp} renamed over ${name}, or fatal. */
void install_tmp(int dirfd, const char *tmp, const char *name);

/*
 * batch.c: mirror changes wait until the increments describing what they
 * replace are durable; one flush makes many durable together.
 */
/*
 * batch_inc(s, fd, tmpdir, tmp, dirfd, final): the increment written to
 * ${fd} (it closes it) as ${tmp} in ${tmpdir} is to be renamed to
 * ${final} in ${dirfd} once durable.
 */
void batch_inc(struct session *s, int fd, int tmpdir, const char *tmp,
    int dirfd, const char *final);
int batch_pending(const struct session *s);
/*
 * batch_waiting(s, path, &dirfd, &tmp): 1 if the new version of ${path}
 * waits as ${tmp} in ${dirfd} to be put in place.
 */
int batch_waiting(const struct session *s, const char *path, int *dirfd,
    const char **tmp);
/* Make the waiting increments durable, then do the waiting changes. */
void batch_flush(struct session *s);
/* session_stands(s): fatal unless this session's marker (and ${file},
 * not NULL: its metadata) is still in rdiff-backup-data */
void session_stands(struct session *s, const char *file);
/* A failed session: remove the temporaries of what still waits. */
void batch_abort(struct session *s);
void batch_free(struct session *s);
/* The changes, done now if nothing waits, else after the next flush. */
void mirror_install(struct session *s, int dirfd, const char *tmp,
    const char *name, const char *path, size_t pathlen);
void mirror_remove(struct session *s, int dirfd, const char *name,
    const char *path, size_t pathlen);
/* Takes l's descriptors and record. */
void mirror_dir_done(struct session *s, struct dlevel *l, int pfd, int is_root);

/* increments.c: reverse increments of one session. */
int inc_dirfd(struct session *s, size_t level);
/*
 * inc_dir_for(s, level, alt): inc_dirfd, or -1 for an entry whose
 * increments go to long_filename_data (${alt} != 0): the directory is
 * then not made.
 */
int inc_dir_for(struct session *s, size_t level, uint64_t alt);
/*
 * inc_below_inc_name(path, len): 1 when a directory above ${path} is named
 * like an increment (incname_parse).  Its directory in the increments tree
 * would stand next to real increments under that name, so the writer
 * never makes it: the entries below get an AlternateIncrementName.
 */
int inc_below_inc_name(const char *path, size_t len);

/*
 * inc_marker(s, incdir, name, ext, alt): an empty "<name>.<T>.<ext>" in
 * ${incdir}, or "<alt>.<T>.<ext>" in long_filename_data when ${alt}.
 */
void inc_marker(struct session *s, int incdir, const char *name,
    const char *ext, uint64_t alt);
/*
 * inc_open(s, incdir, name, ext, gz): a content increment, written under
 * a temporary name (INC_TMP_PREFIX) until it is durable and renamed to
 * its own (inc_close(s, fd) hands it to the batch): a writer killed
 * midway leaves no partial increment, which rdiff-backup's regress would
 * try to apply.  Regress removes the temporaries.
 */
int inc_open(struct session *s, int incdir, const char *name, const char *ext,
    int gz);
void inc_close(struct session *s, int fd);
/* inc_close_now(s, fd): durable and under its own name on return. */
void inc_close_now(struct session *s, int fd);
/* inc_install(repo, tmpdir, tmp, dirfd, final): rename into place, never
 * over an existing increment (fatal then, naming regress). */
void inc_install(const struct repo *repo, int tmpdir, const char *tmp,
    int dirfd, const char *final);
void inc_old_object(struct session *s, int pfd, const char *name,
    const struct meta_rec *old);
/*
 * inc_reverse_diff(s, newfd, pfd, name, alt, rg, now): the increment of
 * the mirror file ${name} about to be replaced by ${newfd}, written and
 * waiting in the batch, or with ${now} durable on return; ${rg} (if not
 * NULL) says where the two differ (delta_reverse_ranges).  Returns 1 once
 * the increment is written, 0 if none was kept (increments off, or the
 * mirror file gone).
 */
int inc_reverse_diff(struct session *s, int newfd, int pfd, const char *name,
    uint64_t alt, struct delta_ranges *rg, int now);

/* inc_alloc_alt(s): a new AlternateIncrementName number. */
uint64_t inc_alloc_alt(struct session *s);
void inc_changed(struct session *s);

/*
 * pending.c: a new file whose SHA-1 the hashing thread still computes.
 *
 * pending_add(s, r, fd): the file received for ${r} (s->sink, sealed, is
 * taken over; ${fd} is closed once the digest is known) is complete but
 * for its digest: its record is written with it when it is known.
 * pending_poll(s): collect the digests known, oldest first.
 * pending_meta(s, text, len): metadata text, held while a file is
 * pending; 0 or a cb_err.
 * pending_finish_all(s): wait for every digest; all metadata written.
 */
void pending_add(struct session *s, const struct meta_rec *r, int fd);
void pending_poll(struct session *s);
int pending_meta(struct session *s, const char *text, size_t len);
void pending_finish_all(struct session *s);

#endif
