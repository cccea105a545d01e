#ifndef TIMESPEC_H
#define TIMESPEC_H

#include <stddef.h>
#include <stdint.h>

#include "timefmt.h"

/*
 * Time specifications of the command line (--at, --changed-since,
 * --older-than) and the session list of a repository
 * (docs/rdiff-backup-format.md sections 2.4 and 9), as rdiff-backup 2.2
 * computes them (Time.genstrtotime, MirrorStruct.get_increment_times).
 */

/*
 * timespec_parse(s, now, sessions, nsessions, out):
 * Convert the time string ${s} to epoch seconds in *out, trying in order:
 *  1. "now" -> ${now};
 *  2. all digits -> that many seconds since the epoch;
 *  3. a full timestamp (timefmt_parse), else ${s} followed by the zone
 *     designator of the local zone at the wall clock (so
 *     "2023-11-14T23:15:59" is local time);
 *  4. "<n>B" -> sessions[nsessions - 1 - n], the oldest session when n is
 *     beyond it; ${sessions} must be sorted ascending (repo_sessions);
 *  5. an asctime string "Tue Nov 14 23:16:41 2023" (English names, any
 *     case), local time with the DST of that date (mktime);
 *  6. one or more "<int><unit>", unit s m h D W M Y (M = 30 days,
 *     Y = 365 days) -> ${now} minus that interval;
 *  7. "YYYY-MM-DD", "YYYY/MM/DD", "MM-DD-YYYY", "MM/DD/YYYY" (separators
 *     may be mixed, month and day 1 or 2 digits) -> midnight of that day
 *     in the local zone.
 * Local time follows the process TZ (tzset() after changing it).  As in
 * rdiff-backup, forms 3 and 7 apply the UTC offset in effect at the wall
 * clock, not at the date given (so in summer "2023-11-14" means
 * 2023-11-14T00:00:00+02:00 in Europe/Berlin), and a form-3 result of
 * exactly 0 counts as a failure.
 * Returns 0, or CB_ERR_BAD_VALUE for anything else ("Bad time string"),
 * including "<n>B" with no sessions and numbers beyond int64_t.
 */
int timespec_parse(const char *s, int64_t now, const int64_t *sessions,
    size_t nsessions, int64_t *out);

/*
 * timespec_parse_wall(s, now, wall, sessions, nsessions, out):
 * timespec_parse with the wall clock given as ${wall} instead of
 * time(NULL) (it only selects the UTC offset used by forms 3 and 7).
 */
int timespec_parse_wall(const char *s, int64_t now, int64_t wall,
    const int64_t *sessions, size_t nsessions, int64_t *out);

/*
 * timespec_round_down(t, sessions, n):
 * The newest session time <= ${t}, or the oldest session when ${t} is
 * older than all of them (how restore, list, verify and compare round
 * --at).  ${sessions} need not be sorted.  Returns ${t} when n == 0.
 */
int64_t timespec_round_down(int64_t t, const int64_t *sessions, size_t n);

/* ---- increment-style names in rdiff-backup-data ---- */

enum repo_base {
	RB_OTHER = 0,	    /* any other <base>.<T>.<ext>[.gz] */
	RB_CURRENT_MIRROR,  /* current_mirror */
	RB_INCREMENTS,	    /* increments (root markers) */
	RB_MIRROR_METADATA, /* mirror_metadata */
	RB_EA,		    /* extended_attributes */
	RB_ACL,		    /* access_control_lists */
};

struct repo_entry {
	char *name; /* owned: the directory entry as stored (quoted) */
	enum repo_base base;
	struct incname inc; /* parsed from the unquoted name */
};

/*
 * repo_scan(datafd, out, n):
 * List the increment-style names (section 2.3) directly beneath
 * ${datafd} (rdiff-backup-data), of any file type, in directory order.
 * When rdiff-backup-data/chars_to_quote is non-empty the names are
 * unquoted first (";NNN" -> the character NNN, UTF-8 encoded as
 * rdiff-backup does), so that e.g. "mirror_metadata.2023-11-14;08422-13-20
 * ;090.snapshot.gz" is recognised.  Other names are skipped.  Returns 0 and
 * an array in *out (free with repo_scan_free; NULL when *n == 0), or
 * CB_ERR_SYS, CB_ERR_NOMEM.
 */
int repo_scan(int datafd, struct repo_entry **out, size_t *n);

void repo_scan_free(struct repo_entry *e, size_t n);

/*
 * repo_sessions(datafd, out, n):
 * The sorted, de-duplicated session times of a repository: the time(s) of
 * current_mirror.<T>.* together with the times of increments.<T>.* and
 * mirror_metadata.<T>.* (what "--at <n>B" counts and what --at rounds
 * to).  Returns 0 and a malloc'd array in *out (caller frees), or
 * CB_ERR_CORRUPT when there is no current_mirror marker ("Could not get
 * time of current mirror"), CB_ERR_SYS, CB_ERR_NOMEM.
 */
int repo_sessions(int datafd, int64_t **out, size_t *n);

/* times_sort_unique(t, n): ${t} sorted ascending without repeats; the
 * count left. */
size_t times_sort_unique(int64_t *t, size_t n);

/*
 * repo_session_span(repo, oldest, newest): how many sessions the local
 * repository whose top is ${repo} keeps, and the oldest's and newest's
 * times (either pointer may be NULL); 0 when it is not one or cannot be
 * read.
 */
size_t repo_session_span(const char *repo, int64_t *oldest, int64_t *newest);

/*
 * repo_session_stat(datafd, t, key): the value of ${key} ("SourceFiles",
 * "SourceFileSize") in session ${t}'s statistics file (what a progress
 * line's ETA counts toward), 0 if unknown.
 */
uint64_t repo_session_stat(int datafd, int64_t t, const char *key);

/*
 * repo_inc_sessions(datafd, out, n):
 * As repo_sessions, but only the root markers increments.<T>.* plus the
 * mirror time(s): the sessions "rdiff-backup list increments" shows and
 * "remove increments" can select (sessions without changes have no root
 * marker).
 */
int repo_inc_sessions(int datafd, int64_t **out, size_t *n);

#endif
