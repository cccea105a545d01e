#ifndef REPOLOC_H
#define REPOLOC_H

#include <sys/types.h>

/*
 * Where a repository is.  The one function every action uses to turn a
 * location the user gave (REPOSITORY or REPOSITORY/PATH) into a
 * repository and a path inside it.
 *
 * A repository's mirror is named by the host it backs up, so nothing
 * beneath a repository's top may steer the search: the path is walked
 * from its start (the root, or the current directory made absolute by
 * getcwd) one component at a time, the symlinks of the way there (the
 * admin's own, like /backups -> /srv/backups) resolved by hand, and the
 * first (outermost) directory that holds a directory rdiff-backup-data
 * is the repository.  The rest of the path is never opened here: it is
 * a path inside the mirror, found in the metadata records and opened
 * beneath the repository.  A rdiff-backup-data below a repository's top
 * is data, not a repository.
 */

struct repo_loc {
	char *repo;   /* found, or the location is a directory: its path,
		     * absolute and without symlinks; the location's last
		     * component is missing (a repository to be made): its
		     * directory's such path and the name; else the
		     * location as given */
	char *sub;    /* the path inside the repository, normalised; "."
		     * for its top (always "." when not found) */
	int rootfd;   /* the directory the walk ended at (the repository's
		     * top when found), O_RDONLY|O_DIRECTORY; -1 if none */
	int parentfd; /* the location's last component is missing: the
		       * directory it is to be made in (O_PATH); else -1 */
	int found;    /* 1: a repository holds the location */
	int err;      /* errno of the component the walk stopped at
		     * (ENOENT, ENOTDIR, EACCES, ELOOP...); 0 when the whole
		     * location is a directory */
	int err_last; /* err is about the location's last component */
};

/*
 * repo_locate(arg, loc): fill ${loc} for ${arg}.  Returns 0, or a
 * negative cb_err for out of memory or a ".." inside a repository (the
 * message logged).  Free with repo_loc_release.
 */
int repo_locate(const char *arg, struct repo_loc *loc);
void repo_loc_release(struct repo_loc *loc);

/*
 * repo_locate_or_die(arg, loc): repo_locate, fatal on its errors.
 * repo_open_top(arg, loc): the same, and fatal unless ${arg} is the top
 * of a repository ("... is inside the repository ..." otherwise).
 */
void repo_locate_or_die(const char *arg, struct repo_loc *loc);
/* repo_fatal_access(arg, err): "cannot open repository", or for EACCES
 * on another account's directory, whose it is and what to do. */
void repo_fatal_access(const char *arg, int err) __attribute__((noreturn));
/* repo_fatal_owner(path, uid): the refusal for another account's
 * repository, with that account named, and what to do: repo_owner_advice
 * when set (capback mount: root is no way there), else run it as that
 * account or as root. */
extern const char *repo_owner_advice;
void repo_fatal_owner(const char *path, uid_t uid) __attribute__((noreturn));
void repo_open_top(const char *arg, struct repo_loc *loc);

/*
 * repo_refuse_inside(path, what): fatal when ${path} (a restore's
 * destination, a scratch directory: ${what}) lies inside a repository,
 * whose mirror the backed-up host names.
 */
void repo_refuse_inside(const char *path, const char *what);

/*
 * repo_open_data(path): rdiff-backup-data of the repository whose top is
 * ${path} (O_RDONLY|O_DIRECTORY), or -1 when ${path} is not such a top.
 */
int repo_open_data(const char *path);

/*
 * repo_split(arg, sub): the repository holding ${arg} and the path inside
 * it (both malloc'd), for a caller that hands them to a writer, which
 * opens the repository itself with repo_open_top.  Not found: ${arg} and
 * "." (the writer then says what is wrong).  Fatal on errors.
 */
char *repo_split(const char *arg, char **sub);

#endif
