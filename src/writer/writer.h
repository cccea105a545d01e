#ifndef WRITER_H
#define WRITER_H

#include <stdint.h>
#include <sys/types.h>

#include "meta.h"

#include "frame.h"

struct select;
struct linkmap;

/* The repository as the writer sees it. */
struct repo {
	const char *path;
	int rootfd;	     /* the mirror root = REPO */
	int parentfd;	     /* REPO is to be made: its directory (O_PATH),
			      * as the location's walk found it; else -1 */
	int datafd;	     /* REPO/rdiff-backup-data, -1 if absent */
	int created_root;    /* this process created REPO */
	int exists;	     /* a repository with a current mirror */
	int was_empty;	     /* REPO was an empty directory */
	int64_t cur_time;    /* current mirror time (exists) */
	char marker[256];    /* current_mirror.<T>.data */
	char meta_name[256]; /* metadata snapshot of cur_time, "" if none */
	char ea_name[256];
	char acl_name[256];
	int unfinished;		 /* a second, newer marker exists */
	int64_t failed_time;	 /* its time */
	char failed_marker[256]; /* its name */
	int regressed;		 /* this run undid an unfinished session */
	long owner; /* unfinished: the PID that started it, if it runs on
		     * this host (unfinished_owner, looked at before the
		     * sandbox, where /proc and signals are out of reach) */
};

/* The share of files received with the reader's digest that the writer
 * hashes again and compares (--check-received): a sample that finds
 * systematic damage within a night, at a fiftieth of the cost. */
#define WRITER_CHECK_RECEIVED 0.02

/* The digest fixes of a session (backup_internal.h check_old_digest;
 * regress.c): "capback-digest-fixes.<session time>.data". */
#define DIGEST_FIXES "capback-digest-fixes.%s.data"

/*
 * digest_fixed(repo, want, got): did the unfinished session find a mirror
 * copy whose record said ${want} (hex) and whose content has ${got}
 * (DIGEST_FIXES, written by check_old_digest)?  Then that copy is what a
 * rebuild must give (regress.c, repair.c).
 */
struct repo;
int digest_fixed(struct repo *repo, const char *want, const char *got);

struct writer_opts {
	int force;
	int64_t now; /* session time */
	int compress;
	int delta;  /* backup: ask for deltas of changed files (remote links) */
	int rehash; /* backup: read files whose size and mtime are the same
		     * too, and report those whose content changed anyway */
	int verbosity;
	const char *at;	 /* restore: --at time spec, NULL = newest */
	const char *sub; /* --path: a sub-tree of the repository, "." = all */
	size_t sublen;
	/* restore-source --sample M:R (drills): directories, and the other
	 * entries whose sample_slot() is R of M; M = 0: everything */
	uint64_t sample_m, sample_r;
	/* list increments: rdiff-backup's --parsable-output, 1 as API 200
	 * prints it ("TIME TYPE" lines), 2 as API 201 (YAML) */
	int parsable;
	const char *at2; /* diff: the second session, NULL = the newest */
	int json;	 /* diff: JSON instead of text */
	int progress;	 /* backup: a progress line on stderr (a terminal) */
	int replica;	 /* backup: the peer is a replica-source (capback
			  * replicate): its files' digests are checked */
	/* backup: ask the reader for each file's SHA-1 (HELLO_DIGESTS) and
	 * check this share of them (0..1) against what was written */
	int source_digests;
	double check_received; /* default WRITER_CHECK_RECEIVED */
	/* backup through an append-only vault's forced command: the bytes
	 * a session may add (entries' encodings and the sizes of the files
	 * it writes, holes counted: an increment writes them out; 0: no
	 * bound), and the latest session time it accepts (0: any) */
	uint64_t quota;
	int64_t latest;
	struct select *sel; /* restore, compare: the records selected (the
			     * paths relative to --path), NULL: all */
};

/*
 * sample_slot(r, m): which of ${m} slots the record ${r} falls in, stable
 * across sessions: by path (FNV-1a), and for a hard-linked file by its
 * inode (devloc, inode), so that all links of one file go together.
 */
uint64_t sample_slot(const struct meta_rec *r, uint64_t m);

/*
 * repo_check_for_backup(path, force, repo):
 * Examine ${path} without changing anything: absent (parent must exist),
 * empty directory, or an existing repository with exactly one
 * current_mirror marker.  Fatal (with a message) otherwise.
 */
void repo_check_for_backup(const char *path, int force, struct repo *repo);

/*
 * repo_has_sessions(path): 0 when ${path} holds no session yet: it is
 * absent (its directory there), an empty directory, or a repository
 * whose first backup did not finish (the next one starts over); else 1
 * (open it to see).  Fatal on a location it cannot walk.
 */
int repo_has_sessions(const char *path);

/*
 * repo_open_existing(path, repo, allow_unfinished, excl, action): open a
 * repository and take its lock (exclusive for an ${action} that changes
 * it, else shared) before anything in it is read; fatal if unusable, or
 * if it holds an unfinished session and ${allow_unfinished} is 0.
 */
void repo_open_existing(const char *path, struct repo *repo,
    int allow_unfinished, int excl, const char *action);

/*
 * repo_lock(repo, excl, action): take the repository lock (lock.c),
 * exclusive or shared, held until the process ends.  Busy: fatal naming
 * the holder, or wait, as repo_lock_wait says (-2: the default, no wait
 * for an exclusive lock and no limit for a shared one; -1 no limit; N
 * seconds; REPO_LOCK_UNLESS_BACKUP, shared only: go on without the lock
 * while a capback backup holds it, else no limit: the mount, which reads
 * a busy repository's finished sessions).  repo_lock_prev_pid(): the PID the previous exclusive holder
 * recorded (a writer that is gone, since we hold the lock), 0 if none.
 */
extern int64_t repo_lock_wait;

/* process_alive(pid): a process that exists and is no zombie (regress.c) */
int process_alive(long pid);
/* marker_pid(datafd, name): the PID a current_mirror marker names ("PID
 * N", as rdiff-backup and capback write it), or 0 (regress.c) */
long marker_pid(int datafd, const char *name);
#define REPO_LOCK_UNLESS_BACKUP (-3)
void repo_lock(struct repo *repo, int excl, const char *action);
long repo_lock_prev_pid(void);
/* repo_unlock(): let go (before the locked file itself is removed). */
void repo_unlock(void);
/*
 * repo_lock_try_shared(datafd): the shared lock now or not at all, for a
 * reader that must never wait for a writer (capback mount): a descriptor
 * holding it (close it to let go), -1 while a writer holds it, -2 when
 * there is no lock file this process may open (nobody coordinates).
 */
int repo_lock_try_shared(int datafd);

/*
 * writer_regress(repo, force): undo the unfinished session of ${repo}
 * (docs/rdiff-backup-format.md 8.3) so that it is exactly as after the
 * last good one.  Fatal on failure; may be run again.
 */
void writer_regress(struct repo *repo, int force);

/*
 * writer_repair(repo): the check-and-repair of a repository with one
 * current_mirror marker (regress.c's job when there is no unfinished
 * session; docs/design.md "Repair"): for each record of the newest
 * session that still has increments named with its time, prove the
 * mirror file by the recorded SHA-1 (and remove those increments), or
 * replace it by the rebuild from them when that has the recorded SHA-1;
 * nothing else is changed.  Each file is named on stderr.  Returns 0
 * when there was nothing to repair, 2 when everything found was
 * repaired, 1 when a file could not be proven (it is left as it was).
 */
/* regress_prove(repo): in writer_regress, before the failed session's
 * increments go (repair.c); fatal when a file cannot be proven. */
void regress_prove(struct repo *repo);
int writer_repair(struct repo *repo);

/*
 * regress_install(tmpcount, dirfd, name, r, in): put the content open at
 * ${in} (read from offset 0) in place of ${name} in the mirror directory
 * ${dirfd}, with ${r}'s mirror mode, owner and mtime: a temporary file
 * (rdiff-backup.tmp.rN, N from *tmpcount) written and synced, then
 * renamed over it.  Fatal on failure (the mirror file is then as it
 * was).
 */
void regress_install(uint64_t *tmpcount, int dirfd, const char *name,
    const struct meta_rec *r, int in);

/*
 * regress_matches(dirfd, name, r, exists): does the mirror entry ${name}
 * stand for ${r} (type; a regular file's size and mtime, a symlink's
 * target)?  0 when ${exists} is 0.
 */
int regress_matches(int dirfd, const char *name, const struct meta_rec *r,
    int exists);

/*
 * unfinished_owner(repo): the PID of the process that started ${repo}'s
 * unfinished session if it still runs on this host (rdiff-backup's
 * session, say: a capback writer holds the repository lock), else 0.
 */
long unfinished_owner(struct repo *repo);

/*
 * writer_tidy(repo): before a session changes the finished ${repo}:
 * remove what killed sessions left (inc_is_litter) below increments and
 * long_filename_data, root markers of the current mirror's time, and
 * all but one root marker of any other time.  Fatal on errors.
 */
void writer_tidy(struct repo *repo);

struct inc_times;

/*
 * inc_tree_remove(fd, times, lo, hi, rmdirs): remove the increments below
 * ${fd} (inc_classify with the sessions ${times}: nothing a source
 * named) with a time in [lo, hi), and the temporaries of increments a
 * killed session left (inc_is_litter), and with ${rmdirs} the
 * directories that become empty.  Returns 1 if ${fd} is empty afterwards.
 * Fatal on errors.
 */
int inc_tree_remove(int fd, const struct inc_times *times, int64_t lo,
    int64_t hi, int rmdirs);

/*
 * writer_remove_older(repo, o): "remove increments --older-than o->at"
 * with rdiff-backup's rules.  Returns the exit status.
 */
int writer_remove_older(struct repo *repo, const struct writer_opts *o);

/*
 * mirror_mode(r): the defanged mode of ${r}'s mirror object: no set-id or
 * sticky bits, always readable and writable (and searchable) by the
 * writer.  The true mode is in the metadata.
 */
mode_t mirror_mode(const struct meta_rec *r);

/*
 * Native owners (writer --native-owners, with CAP_CHOWN, CAP_FOWNER and
 * CAP_DAC_OVERRIDE): mirror files and directories get their true owner
 * and mode, set-id bits included, as rdiff-backup run as root leaves
 * them; mirror_mode() then returns the true mode.  mirror_chown(fd, r)
 * gives ${fd} ${r}'s owner (before the mode: chown clears set-id bits);
 * it does nothing unless native.  Only descriptor calls are used: the
 * writer's sandbox has no path-based chown or chmod.
 */
extern int mirror_native;
/* native_possible(): may this process keep native owners (CAP_CHOWN
 * permitted)? */
int native_possible(void);
void mirror_chown(int fd, const struct meta_rec *r);

/* repo_first_done(repo): the first session is complete (repo.c). */
void repo_first_done(struct repo *repo);

/* repo_create(repo): create REPO (if needed) and rdiff-backup-data. */
void repo_create(struct repo *repo);

/*
 * writer_confine(repo, write): Landlock and seccomp for the writer: read
 * (and with ${write}, change) beneath the repository only; for a backup
 * into a repository not yet created, beneath its parent until
 * writer_confine_created() narrows it.
 */
void writer_confine(const struct repo *repo, int write);
/* --sandbox-test OUTSIDE:PID: writer_confine runs the attacks and exits. */
extern const char *writer_sbtest;
void writer_confine_created(const struct repo *repo);

/* repo_destroy_new(repo): undo repo_create after a failed first backup. */
void repo_destroy_new(struct repo *repo);

int writer_backup(struct repo *repo, const struct writer_opts *o);
/* session-digest REPO (--at T): the SHA-256 of the session's records. */
int writer_session_digest(struct repo *repo, const struct writer_opts *o);
/* list-sessions REPO: each session's time a line ("T unfinished"). */
int writer_list_sessions(struct repo *repo, const struct writer_opts *o);
/* replica-source REPO: the session (--at) fed to a vault's writer. */
int writer_serve_replica(struct repo *repo, const struct writer_opts *o);
int writer_serve_restore(struct repo *repo, const struct writer_opts *o);

/* writer_pick_time(repo, o): o->at rounded down to a session (fatal if bad). */
int64_t writer_pick_time(struct repo *repo, const struct writer_opts *o);

/* The records of the session o->at picks, inside the sub-tree o->sub. */
struct md_snap;
struct mdhist;
struct snapsrc {
	int64_t t;	      /* the session */
	struct md_snap *snap; /* t is the current mirror */
	struct mdhist *hist;  /* t is older */
	const char *sub;
	size_t sublen;
	int past;	/* beyond the sub-tree */
	uint64_t count; /* records returned */
	uint64_t seen;	/* records read, returned or not */
	/* selection (o->sel): the directories kept only if something
	 * inside is (SEL_SCAN), not returned yet, outermost first; the
	 * records due before the next one read; an excluded directory
	 * whose records are skipped */
	struct select *sel;
	struct meta_rec *held, *due;
	size_t nheld, capheld, ndue, capdue, nextdue, held_bytes;
	char *skip;
	size_t skiplen;
	struct linkmap *groups; /* hard-link digests (group_digest) */
};

/* What the held directories of a selection may keep (bytes). */
#define SNAPSRC_HELD_MAX (64u << 20)

/* snapsrc_open(s, repo, o): fatal (with a message) if unreadable;
 * snapsrc_try_open returns the error (CB_ERR_*) instead. */
void
snapsrc_open(struct snapsrc *s, struct repo *repo, const struct writer_opts *o);
int snapsrc_try_open(struct snapsrc *s, struct repo *repo,
    const struct writer_opts *o);

/* snapsrc_next(s, r): 0, CB_ERR_EOF after the last, or an error. */
int snapsrc_next(struct snapsrc *s, struct meta_rec *r);
void snapsrc_close(struct snapsrc *s);

/*
 * snapsrc_path_at(ph, repo, o, t, rec): the record of o->sub alone (not
 * its sub-tree) in the session of o->at, from the files snapsrc_open
 * reads, through ${ph} (mdhist_path_new on o->sub; one for all the
 * sessions asked, oldest first, so each metadata file is read once).
 * *t is the session; 1 and ${rec}, or 0 when the path is not in it.
 * Fatal, with snapsrc_open's and snapsrc_next's messages, when the
 * metadata cannot be read.
 */
struct mdhist_path;
int snapsrc_path_at(struct mdhist_path *ph, struct repo *repo,
    const struct writer_opts *o, int64_t *t, struct meta_rec *rec);

/* snapsrc_end(s, rc): after the last snapsrc_next returned ${rc}: fatal
 * on a read error or when the sub-tree was not in the session. */
void snapsrc_end(struct snapsrc *s, int rc);

/*
 * writer_compare(method, path, o): compare the reader's tree with the
 * backup in ${path} of the session o->at ("meta", "hash" or "full", as
 * rdiff-backup's compare --method), report on fd 3.  Read-only on the
 * repository.  Returns rdiff-backup's bits: 0 the same, 8 differences
 * reported, 4 some paths could not be compared; fatal on errors.
 */
int writer_compare(const char *method, const char *path,
    const struct writer_opts *o);

/* query.c: answers on stdout, as rdiff-backup prints them. */
int writer_list_increments(struct repo *repo, const struct writer_opts *o);
/* diff between the sessions o->at and o->at2 (src/writer/diff.c). */
int writer_diff(struct repo *repo, const struct writer_opts *o);
/* versions of the path o->sub across all sessions (src/writer/diff.c). */
int writer_versions(struct repo *repo, const struct writer_opts *o);
/* list increments --size (src/writer/sizes.c). */
int writer_list_sizes(struct repo *repo, const struct writer_opts *o);
int writer_list_files(struct repo *repo, const struct writer_opts *o);
int writer_list_changed(struct repo *repo, const struct writer_opts *o);
int writer_verify(struct repo *repo, const struct writer_opts *o);
/* verify --all: every session; damage grouped by file with the points in
 * time it spoils.  0, or 2 when anything is damaged. */
/*
 * rbstates_report(repo, o, sessions, n): for verify --all, print the file
 * versions rdiff-backup restores wrong and capback right (rbstates.c);
 * returns how many were named.
 */
size_t rbstates_report(struct repo *repo, const struct writer_opts *o,
    const int64_t *sessions, size_t n);
int writer_verify_all(struct repo *repo, const struct writer_opts *o);

#endif
