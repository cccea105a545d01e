#include "writer.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <grp.h>
#include <pwd.h>
#include <sys/capability.h>

#include <openssl/crypto.h>

#include "cb_err.h"
#include "fsutil.h"
#include "history.h"
#include "log.h"
#include "repoloc.h"
#include "sandbox.h"
#include "timespec.h"
#include "timefmt.h"

#define DATA_DIR "rdiff-backup-data"

int mirror_native;

mode_t
mirror_mode(const struct meta_rec *r)
{
	if (mirror_native)
		return (mode_t)(r->perms & 07777);
	return (
	    mode_t)((r->perms & 0777) | (r->type == META_DIR ? 0700 : 0600));
}

void
mirror_chown(int fd, const struct meta_rec *r)
{
	if (mirror_native && fchown(fd, (uid_t)r->uid, (gid_t)r->gid) != 0)
		log_warn("cannot give '%s' its owner in the mirror: %s",
		    log_quote(r->path, r->pathlen), strerror(errno));
}

/* Find the marker(s) and the current time's metadata files. */
static void
scan_data_dir(struct repo *repo)
{
	DIR *d;
	struct dirent *de;
	int dfd, markers = 0, metas = 0;
	int64_t times[2] = { 0, 0 };
	char names[2][256];

	if ((dfd = dup(repo->datafd)) < 0 || (d = fdopendir(dfd)) == NULL)
		fatal("cannot list '%s/%s': %s", repo->path, DATA_DIR,
		    strerror(errno));
	rewinddir(d); /* the dup shares its offset with datafd */
	while ((de = readdir(d)) != NULL) {
		struct incname in;
		size_t len = strlen(de->d_name);

		if (incname_parse(de->d_name, len, &in) != 0)
			continue;
		if (in.ext == INC_DATA && in.baselen == 14 &&
		    strncmp(de->d_name, "current_mirror", 14) == 0) {
			if (markers < 2) {
				times[markers] = in.time;
				snprintf(names[markers], sizeof(names[0]), "%s",
				    de->d_name);
			}
			markers++;
		}
		if (in.baselen == 15 &&
		    strncmp(de->d_name, "mirror_metadata", 15) == 0)
			metas++;
	}
	closedir(d);
	repo->unfinished = 0;
	if (markers == 0 && metas <= 1) {
		repo->exists = 0; /* a failed initial backup: start over */
		return;
	}
	if (markers == 0)
		fatal("'%s' has no current_mirror marker but older metadata: "
		      "not a usable repository",
		    repo->path);
	if (markers > 2)
		fatal("'%s' has %d current_mirror markers: not a usable "
		      "repository",
		    repo->path, markers);
	/* With two, the older is the last good state, the newer unfinished. */
	int good = markers == 2 && times[1] < times[0] ? 1 : 0;

	repo->exists = 1;
	repo->cur_time = times[good];
	_Static_assert(sizeof(repo->marker) == sizeof(names[0]) &&
		sizeof(repo->failed_marker) == sizeof(names[0]),
	    "marker buffers");
	memcpy(repo->marker, names[good], sizeof(repo->marker));
	if (markers == 2) {
		if (times[0] == times[1])
			fatal("'%s': two current_mirror markers with the same "
			      "time",
			    repo->path);
		repo->unfinished = 1;
		repo->failed_time = times[1 - good];
		memcpy(repo->failed_marker, names[1 - good],
		    sizeof(repo->failed_marker));
	}
}

/* Locate kind.<T>.snapshot[.gz] for the current time. */
static void
find_time_file(struct repo *repo, const char *base, char *out, size_t cap)
{
	char ts[TIMEFMT_LEN];
	DIR *d;
	struct dirent *de;
	int dfd;

	out[0] = '\0';
	if ((dfd = dup(repo->datafd)) < 0 || (d = fdopendir(dfd)) == NULL)
		fatal("cannot list repository data: %s", strerror(errno));
	(void)ts;
	rewinddir(d); /* the dup shares its offset with datafd */
	while ((de = readdir(d)) != NULL) {
		struct incname in;
		size_t blen = strlen(base);

		if (strncmp(de->d_name, base, blen) != 0 ||
		    incname_parse(de->d_name, strlen(de->d_name), &in) != 0 ||
		    in.baselen != blen || in.time != repo->cur_time ||
		    in.ext != INC_SNAPSHOT)
			continue;
		snprintf(out, cap, "%s", de->d_name);
		break;
	}
	closedir(d);
}

static void
find_current_files(struct repo *repo)
{
	find_time_file(repo, "mirror_metadata", repo->meta_name,
	    sizeof(repo->meta_name));
	find_time_file(repo, "extended_attributes", repo->ea_name,
	    sizeof(repo->ea_name));
	find_time_file(repo, "access_control_lists", repo->acl_name,
	    sizeof(repo->acl_name));
}

/*
 * Find ${path} with repo_locate (the one lookup of every action): the
 * repository's path and top are the walk's, never a second lookup by
 * name.  The located path stays alive (for repo->path) until the next
 * call.
 */
char *repo_located; /* external: leak checkers see it reachable */

/* The last component of repo->path: the name a new repository gets in
 * repo->parentfd. */
static const char *
repo_name(const struct repo *repo)
{
	const char *slash = strrchr(repo->path, '/');

	return slash != NULL ? slash + 1 : repo->path;
}

/* Drop what was kept only for become_owner: CAP_SETUID and CAP_SETGID,
 * and unless the mirror keeps native owners CAP_CHOWN and CAP_FSETID. */
static void
drop_setid_caps(void)
{
	static const cap_value_t c[] = { CAP_SETUID, CAP_SETGID, CAP_CHOWN,
		CAP_FSETID };
	int n = mirror_native ? 2 : 4;
	cap_t caps = cap_get_proc();

	if (caps == NULL ||
	    cap_set_flag(caps, CAP_EFFECTIVE, n, c, CAP_CLEAR) != 0 ||
	    cap_set_flag(caps, CAP_PERMITTED, n, c, CAP_CLEAR) != 0 ||
	    cap_set_proc(caps) != 0)
		fatal("cannot drop capabilities: %s", strerror(errno));
	cap_free(caps);
}

int
native_possible(void)
{
	cap_t pc = cap_get_proc();
	cap_flag_value_t v = CAP_CLEAR;

	if (pc != NULL)
		cap_get_flag(pc, CAP_CHOWN, CAP_PERMITTED, &v);
	cap_free(pc);
	return v == CAP_SET;
}

/*
 * A repository made with --native-owners says so in this file, so that
 * regress, removals and later backups keep its mirror's true owners
 * without being told (and without root refuse to change it).
 */
#define NATIVE_NAME "capback-native-owners"

static void
native_from_repo(const struct repo *repo, int change)
{
	struct stat st;

	if (repo->rootfd < 0 ||
	    fstatat(repo->rootfd, DATA_DIR "/" NATIVE_NAME, &st,
		AT_SYMLINK_NOFOLLOW) != 0 ||
	    mirror_native)
		return;
	if (native_possible()) {
		mirror_native = 1;
		log_info("'%s' keeps native owners (%s/%s)", repo->path,
		    DATA_DIR, NATIVE_NAME);
	} else if (change)
		fatal("'%s' keeps the true owners in its mirror (it was made "
		      "with --native-owners): changing it takes CAP_CHOWN, "
		      "CAP_FOWNER and CAP_DAC_OVERRIDE (run this as root)",
		    repo->path);
}

/*
 * A first session into a new or empty directory says so in this file
 * until its marker is written: if it is killed (nothing removes what it
 * made then), the next backup knows that everything in the root but
 * rdiff-backup-data is its debris, and starts over without it.
 */
#define FIRST_NAME "capback-first-session"

static int
first_unfinished(const struct repo *repo)
{
	struct stat st;

	return fstatat(repo->datafd, FIRST_NAME, &st, AT_SYMLINK_NOFOLLOW) ==
	    0;
}

static void
first_start_over(struct repo *repo)
{
	char **names;
	size_t n;

	log_warn("'%s': its first backup did not finish; what it left is "
		 "removed and the backup starts over",
	    repo->path);
	if (fs_list_names(repo->rootfd, &names, &n) != 0)
		fatal("cannot list '%s': %s", repo->path, strerror(errno));
	for (size_t i = 0; i < n; i++)
		if (strcmp(names[i], DATA_DIR) != 0 &&
		    fs_remove_at(repo->rootfd, names[i]) != 0)
			fatal("cannot remove '%s' of the unfinished first "
			      "backup of '%s': %s",
			    log_quote(names[i], strlen(names[i])), repo->path,
			    strerror(errno));
	fs_free_names(names, n);
	repo->was_empty = 1;
}

void
repo_first_done(struct repo *repo)
{
	if (unlinkat(repo->datafd, FIRST_NAME, 0) != 0 && errno != ENOENT)
		fatal("cannot remove '%s/%s/%s': %s", repo->path, DATA_DIR,
		    FIRST_NAME, strerror(errno));
}

/* Record that ${repo} keeps native owners (once). */
static void
native_note(const struct repo *repo)
{
	if (!mirror_native || repo->datafd < 0)
		return;
	if (fs_create_file_at(repo->datafd, NATIVE_NAME, "", 0) != 0 &&
	    errno != EEXIST)
		fatal("cannot write '%s/%s/%s': %s", repo->path, DATA_DIR,
		    NATIVE_NAME, strerror(errno));
}

/*
 * Work as the owner of the repository (or of the directory it is made in)
 * at ${fd}.  Root that ran backup, regress or even a restore of a backup
 * account's repository left root-owned files there (the next run as the
 * account failed: "cannot open previous metadata: Permission denied"),
 * so a writer started by root becomes the owner before it touches
 * anything: its groups, gid and uid, and no capability at all.  Not for
 * --native-owners, whose mirror holds every owner and wants root.  An
 * account that cannot switch gets a clear refusal for a change.
 */
static void
become_owner(const struct repo *repo, int fd, int change)
{
	struct stat st;
	struct passwd *pw;
	cap_t none;
	gid_t gid;

	if (fd < 0 || fstat(fd, &st) != 0 || st.st_uid == geteuid()) {
		drop_setid_caps();
		return;
	}
	if (geteuid() != 0 || mirror_native) {
		if (change && !mirror_native)
			repo_fatal_owner(repo->path, st.st_uid);
		drop_setid_caps();
		return;
	}
	pw = getpwuid(st.st_uid);
	gid = pw != NULL ? pw->pw_gid : st.st_gid;
	if ((pw != NULL ? initgroups(pw->pw_name, gid) : setgroups(1, &gid)) !=
		0 ||
	    setresgid(gid, gid, gid) != 0 ||
	    setresuid(st.st_uid, st.st_uid, st.st_uid) != 0)
		fatal("cannot become %s (uid %lu), the owner of '%s': %s",
		    pw != NULL ? pw->pw_name : "the owner",
		    (unsigned long)st.st_uid, repo->path, strerror(errno));
	/* the locked securebits keep capabilities across setuid */
	if ((none = cap_init()) == NULL || cap_set_proc(none) != 0)
		fatal("cannot drop capabilities: %s", strerror(errno));
	cap_free(none);
	log_info("working as %s (uid %lu), the owner of '%s'",
	    pw != NULL ? pw->pw_name : "its owner", (unsigned long)st.st_uid,
	    repo->path);
}

static void
repo_take(struct repo *repo, struct repo_loc *loc, int change)
{
	free(repo_located);
	repo->path = repo_located = loc->repo;
	repo->rootfd = loc->rootfd;
	repo->parentfd = loc->parentfd;
	loc->repo = NULL;
	loc->rootfd = loc->parentfd = -1;
	repo_loc_release(loc);
	native_from_repo(repo, change);
	become_owner(repo, repo->rootfd >= 0 ? repo->rootfd : repo->parentfd,
	    change);
}

void
repo_check_for_backup(const char *path, int force, struct repo *repo)
{
	struct repo_loc loc;
	int e;

	memset(repo, 0, sizeof(*repo));
	repo->rootfd = repo->datafd = repo->parentfd = -1;
	repo_locate_or_die(path, &loc);
	if (loc.found && strcmp(loc.sub, ".") != 0)
		fatal("cannot back up into '%s': it is inside the repository "
		      "'%s' (a repository cannot be made inside another's "
		      "mirror)",
		    path, loc.repo);
	if (!loc.found && loc.err != 0) {
		if (loc.err == ENOENT && loc.err_last) {
			repo_take(repo, &loc, 1);
			return; /* created later by repo_create */
		}
		if (loc.err == ENOTDIR && loc.err_last)
			fatal("repository path '%s' exists and is not a "
			      "directory",
			    path);
		if (loc.err == ENOENT || loc.err == ENOTDIR)
			fatal("cannot create repository '%s': its parent "
			      "directory does not exist (on this machine, "
			      "backup --create-full-path makes it)",
			    path);
		repo_fatal_access(path, loc.err);
	}
	repo_take(repo, &loc, 1);
	path = repo->path;
	repo->datafd = openat(repo->rootfd, DATA_DIR,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (repo->datafd < 0) {
		if (errno != ENOENT)
			fatal("cannot open '%s/%s': %s", path, DATA_DIR,
			    strerror(errno));
		e = fs_dir_is_empty(repo->rootfd);
		if (e < 0)
			fatal("cannot list '%s': %s", path, strerror(errno));
		repo->was_empty = e == 1;
		if (e == 0 && !force)
			fatal("'%s' exists, is not empty and is not a backup "
			      "repository (capback --force backup ... backs "
			      "up into it anyway)",
			    path);
		return;
	}
	repo_lock(repo, 1, "backup");
	native_note(repo);
	scan_data_dir(repo);
	if (!repo->exists && first_unfinished(repo))
		first_start_over(repo);
	repo->owner = unfinished_owner(repo);
	if (repo->exists)
		find_current_files(repo);
	if (repo->unfinished) {
		/* As rdiff-backup does: undo the failed session, go on. */
		writer_regress(repo, force);
		repo->regressed = 1;
		find_current_files(repo);
	}
}

int
repo_has_sessions(const char *path)
{
	struct repo_loc loc;
	struct stat st;
	int fd, r = 1;

	repo_locate_or_die(path, &loc);
	if (!loc.found && loc.err == ENOENT && loc.err_last)
		r = 0; /* to be made */
	else if (!loc.found && loc.err == 0 && loc.rootfd >= 0 &&
	    fs_dir_is_empty(loc.rootfd) == 1)
		r = 0; /* an empty directory */
	else if (loc.found && strcmp(loc.sub, ".") == 0 &&
	    (fd = openat(loc.rootfd, DATA_DIR,
		 O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) >= 0) {
		/* stopped in its first session, none finished */
		if (fstatat(fd, FIRST_NAME, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    S_ISREG(st.st_mode) &&
		    repo_session_span(loc.repo, NULL, NULL) == 0)
			r = 0;
		close(fd);
	}
	repo_loc_release(&loc);
	return r;
}

void
repo_open_existing(const char *path, struct repo *repo, int allow_unfinished,
    int excl, const char *action)
{
	struct repo_loc loc;

	memset(repo, 0, sizeof(*repo));
	repo_open_top(path, &loc);
	repo_take(repo, &loc, excl);
	path = repo->path;
	repo->datafd = openat(repo->rootfd, DATA_DIR,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (repo->datafd < 0)
		fatal("'%s' is not a backup repository (no %s): %s", path,
		    DATA_DIR, strerror(errno));
	repo_lock(repo, excl, action);
	scan_data_dir(repo);
	if (!repo->exists && first_unfinished(repo))
		fatal("'%s' holds no finished backup: its first backup did not "
		      "finish (the next backup removes what it left and starts "
		      "over)",
		    path);
	if (!repo->exists)
		fatal("'%s' holds no finished backup", path);
	repo->owner = unfinished_owner(repo);
	if (repo->unfinished && !allow_unfinished) {
		long pid = repo->owner;

		if (pid != 0)
			fatal("'%s' is being backed up by PID %ld (not "
			      "capback: rdiff-backup, or an older capback); "
			      "try again when it has ended",
			    path, pid);
		fatal("'%s' holds an unfinished backup session, whose process "
		      "has ended: run 'capback regress %s' first",
		    path, path);
	}
	find_current_files(repo);
	if (repo->meta_name[0] == '\0' && !repo->unfinished)
		fatal("'%s': no mirror_metadata snapshot for the current "
		      "mirror (restoring without metadata is not supported)",
		    path);
}

/* Does the repository's root hold nothing but rdiff-backup-data? */
static int
root_holds_only_data(const struct repo *repo)
{
	char **names;
	size_t n, i;
	int only;

	if (fs_list_names(repo->rootfd, &names, &n) != 0)
		fatal("cannot list '%s': %s", repo->path, strerror(errno));
	only = 1;
	for (i = 0; i < n; i++)
		if (strcmp(names[i], DATA_DIR) != 0)
			only = 0;
	fs_free_names(names, n);
	return only;
}

void
repo_create(struct repo *repo)
{
	if (repo->rootfd < 0) {
		if (mkdirat(repo->parentfd, repo_name(repo), 0700) != 0)
			fatal("cannot create repository '%s': %s", repo->path,
			    strerror(errno));
		repo->created_root = 1;
		repo->rootfd = openat(repo->parentfd, repo_name(repo),
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (repo->rootfd < 0)
			fatal("cannot open repository '%s': %s", repo->path,
			    strerror(errno));
	}
	if (fchmod(repo->rootfd, 0700) != 0)
		fatal("cannot chmod repository '%s': %s", repo->path,
		    strerror(errno));
	if (repo->datafd >= 0) {
		/* Leftovers of a failed initial backup (its lock file with
		 * them: the new one is locked below). */
		close(repo->datafd);
		repo->datafd = -1;
		repo_unlock();
		if (fs_remove_at(repo->rootfd, DATA_DIR) != 0)
			fatal("cannot remove stale '%s/%s': %s", repo->path,
			    DATA_DIR, strerror(errno));
	}
	if (mkdirat(repo->rootfd, DATA_DIR, 0700) != 0)
		fatal("cannot create '%s/%s': %s", repo->path, DATA_DIR,
		    strerror(errno));
	repo->datafd = openat(repo->rootfd, DATA_DIR,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (repo->datafd >= 0) {
		repo_lock(repo, 1, "backup");
		/* Empty when looked at (before the peer said hello, which may
		 * take its time): still empty now, under the lock, but for
		 * what this session made?  Else another has put something
		 * there since (a repository, a session pushed beneath it):
		 * that is not this session's to remove. */
		if (repo->was_empty && !repo->created_root &&
		    !root_holds_only_data(repo)) {
			/* ours: made just now; the rest is left alone */
			fs_remove_at(repo->rootfd, DATA_DIR);
			fatal("'%s' was empty and is not any more (written "
			      "since "
			      "this backup looked at it): nothing of it is "
			      "touched",
			    repo->path);
		}
		native_note(repo);
		/* what is in the root from now on is this session's */
		if ((repo->created_root || repo->was_empty) &&
		    fs_create_file_at(repo->datafd, FIRST_NAME, "", 0) != 0)
			fatal("cannot write '%s/%s/%s': %s", repo->path,
			    DATA_DIR, FIRST_NAME, strerror(errno));
	}
	if (repo->datafd < 0 ||
	    mkdirat(repo->datafd, "increments", 0700) != 0 ||
	    fs_create_file_at(repo->datafd, "chars_to_quote", "", 0) != 0 ||
	    fs_create_file_at(repo->datafd, "special_escapes", "", 0) != 0)
		fatal("cannot initialise '%s/%s': %s", repo->path, DATA_DIR,
		    strerror(errno));
}

void
repo_destroy_new(struct repo *repo)
{
	DIR *d;
	struct dirent *de;
	int dfd;

	if (repo->rootfd < 0)
		return;
	if (repo->created_root) {
		if (fs_remove_at(repo->parentfd, repo_name(repo)) != 0)
			log_error("cannot remove partial repository '%s': %s",
			    repo->path, strerror(errno));
		return;
	}
	if (!repo->was_empty) {
		/* --force into a directory with user files: keep them. */
		fs_remove_at(repo->rootfd, DATA_DIR);
		return;
	}
	/* It was an empty directory: empty it again. */
	if ((dfd = dup(repo->rootfd)) < 0 || (d = fdopendir(dfd)) == NULL)
		return;
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (fs_remove_at(repo->rootfd, de->d_name) == 0)
			rewinddir(d);
	}
	closedir(d);
}

const char *writer_sbtest;

/* The directory that holds the repository, as an O_PATH handle. */
static int
repo_parent(const struct repo *repo)
{
	int fd = repo->parentfd >= 0 ?
	    fcntl(repo->parentfd, F_DUPFD_CLOEXEC, 3) :
	    fs_open_parent(repo->path);

	if (fd < 0)
		fatal("cannot open the directory of '%s': %s", repo->path,
		    strerror(errno));
	return fd;
}

void
writer_confine(const struct repo *repo, int write)
{
	struct sandbox_rule r[2];
	int pfd = -1, n = 1, sfd = history_scratch_init();

	/* Read now what is read once, not in the sandbox: the local time
	 * zone and OpenSSL's configuration. */
	tzset();
	OPENSSL_init_crypto(OPENSSL_INIT_LOAD_CONFIG, NULL);
	if (repo->rootfd >= 0)
		r[0] = (struct sandbox_rule){ repo->rootfd,
			SB_FS_READ | (write ? SB_FS_WRITE : 0) };
	else
		r[0] = (struct sandbox_rule){ pfd = repo_parent(repo),
			SB_FS_READ | SB_FS_WRITE };
	/* Unnamed scratch files for older versions (history.c). */
	if (sfd >= 0)
		r[n++] = (struct sandbox_rule){ sfd, SB_FS_READ | SB_FS_WRITE };
	if (writer_sbtest != NULL)
		sandbox_selftest_exit(SB_WRITER, r, n, repo->path,
		    writer_sbtest);
	sandbox_enter(SB_WRITER, r, n);
	if (pfd >= 0)
		close(pfd);
}

void
writer_confine_created(const struct repo *repo)
{
	struct sandbox_rule r[3] = {
		{ repo->rootfd, SB_FS_READ | SB_FS_WRITE },
		{ -1, SB_FS_RMDIR },
		{ history_scratch_dirfd, SB_FS_READ | SB_FS_WRITE },
	};

	if (!repo->created_root)
		return; /* confined to the repository already */
	r[1].fd = repo_parent(repo);
	sandbox_narrow(r, history_scratch_dirfd >= 0 ? 3 : 2);
	close(r[1].fd);
}
