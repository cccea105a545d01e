#include "repoloc.h"

#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <linux/magic.h>
#include <unistd.h>

#include "cb_err.h"
#include "log.h"

#define DATA_DIR  "rdiff-backup-data"
#define MAX_LINKS 40 /* as the kernel's path walk */

void
repo_loc_release(struct repo_loc *loc)
{
	free(loc->repo);
	free(loc->sub);
	if (loc->rootfd >= 0)
		close(loc->rootfd);
	if (loc->parentfd >= 0)
		close(loc->parentfd);
	loc->repo = loc->sub = NULL;
	loc->rootfd = loc->parentfd = -1;
}

/*
 * Does the directory ${cur} open at ${fd} hold rdiff-backup-data?  1 a
 * directory, 0 nothing of that name; any other entry of that name (a
 * symlink most of all) stops the walk: CB_ERR_BAD_VALUE, logged.
 */
static int
holds_repo(int fd, const char *cur)
{
	struct stat st;

	if (fstatat(fd, DATA_DIR, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : CB_ERR_SYS;
	if (S_ISDIR(st.st_mode))
		return 1;
	log_error("'%s%s%s' is %s, not a directory: refused as a "
		  "repository (its data directory must be a directory in it)",
	    cur, strcmp(cur, "/") == 0 ? "" : "/", DATA_DIR,
	    S_ISLNK(st.st_mode) ? "a symlink" : "no directory");
	return CB_ERR_BAD_VALUE;
}

/*
 * The rest of the location inside a repository, component by component:
 * no empty or "." ones.  It is looked up in the metadata records, never
 * in the mirror, so ".." takes back the component before it (as a shell
 * does); one that would leave the repository is refused.
 */
static int
normalise_sub(const char *arg, const char *p, char **out)
{
	size_t len = strlen(p), i = 0, o = 0;
	char *rest = malloc(len + 2);

	if (rest == NULL)
		return CB_ERR_NOMEM;
	while (i < len) {
		size_t n;

		while (i < len && p[i] == '/')
			i++;
		n = strcspn(p + i, "/");
		if (n == 2 && p[i] == '.' && p[i + 1] == '.') {
			if (o == 0) {
				log_error("'%s': '..' would leave the "
					  "repository it is in",
				    arg);
				free(rest);
				return CB_ERR_BAD_VALUE;
			}
			while (o > 0 && rest[o - 1] != '/')
				o--;
			if (o > 0)
				o--;
			i += n;
			continue;
		}
		if (n > 0 && !(n == 1 && p[i] == '.')) {
			if (o > 0)
				rest[o++] = '/';
			memcpy(rest + o, p + i, n);
			o += n;
		}
		i += n;
	}
	if (o == 0)
		rest[o++] = '.';
	rest[o] = '\0';
	*out = rest;
	return 0;
}

/* The walk's state: where it is (a canonical path and its O_PATH
 * descriptor) and what is left to walk. */
struct walk {
	char cur[PATH_MAX];
	size_t curlen;
	int fd;
	char *rest; /* malloc'd; the unwalked part starts at rest + pos */
	size_t pos;
	size_t last, lastlen; /* the component taken last, in rest */
	int links;
};

static int
walk_reset_root(struct walk *w)
{
	int fd = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -1;
	if (w->fd >= 0)
		close(w->fd);
	w->fd = fd;
	w->cur[0] = '/';
	w->cur[1] = '\0';
	w->curlen = 1;
	return 0;
}

/* Continue with ${target} (a symlink's text) followed by what is left. */
static int
walk_splice(struct walk *w, const char *target)
{
	const char *left = w->rest + w->pos;
	size_t tl = strlen(target), ll = strlen(left);
	char *n;

	if (++w->links > MAX_LINKS) {
		errno = ELOOP;
		return -1;
	}
	if ((n = malloc(tl + ll + 2)) == NULL)
		return CB_ERR_NOMEM;
	memcpy(n, target, tl);
	n[tl] = '/';
	memcpy(n + tl + 1, left, ll + 1);
	free(w->rest);
	w->rest = n;
	w->pos = 0;
	if (target[0] == '/')
		return walk_reset_root(w);
	return 0;
}

/*
 * May the walk follow the symlink ${name} (${lst}) of the directory it is
 * in?  Not in /proc: its magic links (/proc/PID/root, fd/N) name objects
 * their text does not reach.  Not one in a sticky world-writable
 * directory that neither the directory's owner nor this user owns (the
 * kernel's fs.protected_symlinks, kept whatever the sysctl says: another
 * user's link in /tmp must not choose where a repository is).  0 with
 * errno set and the reason logged when not.
 */
static int
may_follow(const struct walk *w, const char *name, const struct stat *lst)
{
	struct statfs fs;
	struct stat dst;

	if (fstatfs(w->fd, &fs) == 0 && fs.f_type == PROC_SUPER_MAGIC) {
		log_error("'%s/%s': symlinks in /proc are not followed", w->cur,
		    name);
		errno = EPERM;
		return 0;
	}
	if (fstat(w->fd, &dst) == 0 && (dst.st_mode & S_ISVTX) &&
	    (dst.st_mode & S_IWOTH) && lst->st_uid != dst.st_uid &&
	    lst->st_uid != geteuid()) {
		log_error("'%s/%s': a symlink of another user (uid %lu) in a "
			  "sticky world-writable directory is not followed",
		    w->cur, name, (unsigned long)lst->st_uid);
		errno = EACCES;
		return 0;
	}
	return 1;
}

/*
 * One step: take the next component and go there.  Returns 1 when moved
 * (or nothing to do for "." / empty), 0 at the end of the location, -1
 * with errno when the component cannot be entered, CB_ERR_NOMEM.
 */
static int
walk_step(struct walk *w)
{
	char name[NAME_MAX + 1], target[PATH_MAX];
	const char *p = w->rest + w->pos;
	size_t n;
	struct stat st;
	ssize_t tl;
	int fd;

	while (*p == '/')
		p++;
	if (*p == '\0')
		return 0;
	n = strcspn(p, "/");
	w->last = (size_t)(p - w->rest);
	w->lastlen = n;
	w->pos = w->last + n;
	if (n == 1 && p[0] == '.')
		return 1;
	if (n == 2 && p[0] == '.' && p[1] == '.') {
		/* the current path has no symlinks: its parent is lexical */
		while (w->curlen > 1 && w->cur[w->curlen - 1] != '/')
			w->curlen--;
		if (w->curlen > 1)
			w->curlen--;
		w->cur[w->curlen] = '\0';
		if ((fd = openat(w->fd, "..",
			 O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
			return -1;
		close(w->fd);
		w->fd = fd;
		return 1;
	}
	if (n > NAME_MAX) {
		errno = ENAMETOOLONG;
		return -1;
	}
	memcpy(name, p, n);
	name[n] = '\0';
	if (fstatat(w->fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return -1;
	if (S_ISLNK(st.st_mode)) {
		if (!may_follow(w, name, &st))
			return -1;
		if ((tl = readlinkat(w->fd, name, target, sizeof(target))) < 0)
			return -1;
		if ((size_t)tl >= sizeof(target) || tl == 0) {
			errno = tl == 0 ? ENOENT : ENAMETOOLONG;
			return -1;
		}
		target[tl] = '\0';
		return walk_splice(w, target) == 0 ? 1 : -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		errno = ENOTDIR;
		return -1;
	}
	if (w->curlen + 1 + n >= sizeof(w->cur)) {
		errno = ENAMETOOLONG;
		return -1;
	}
	if ((fd = openat(w->fd, name,
		 O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0)
		return -1;
	close(w->fd);
	w->fd = fd;
	if (w->curlen > 1)
		w->cur[w->curlen++] = '/';
	memcpy(w->cur + w->curlen, name, n + 1);
	w->curlen += n;
	return 1;
}

/* Is nothing but "/" and "." components left of the location? */
static int
walk_at_end(const struct walk *w)
{
	const char *p = w->rest + w->pos;

	for (;;) {
		size_t n;

		p += strspn(p, "/");
		if (*p == '\0')
			return 1;
		n = strcspn(p, "/");
		if (!(n == 1 && p[0] == '.'))
			return 0;
		p += n;
	}
}

/*
 * The current directory as the user reached it.  getcwd() names the
 * directory itself, so after "cd /backups/host1/srv/data" through a
 * symlink that host1 put in its mirror it names host2's repository.  The
 * shell's $PWD keeps the way the user took; it is used when it is
 * absolute, has no "." or ".." component and is the current directory
 * (same device and inode); otherwise getcwd().
 */
static const char *
logical_cwd(char *buf, size_t cap)
{
	const char *pwd = getenv("PWD"), *p;
	struct stat a, b;

	if (pwd == NULL || pwd[0] != '/' || strlen(pwd) >= cap)
		return getcwd(buf, cap);
	for (p = pwd; *p != '\0';) {
		size_t n;

		p += strspn(p, "/");
		n = strcspn(p, "/");
		if ((n == 1 && p[0] == '.') ||
		    (n == 2 && p[0] == '.' && p[1] == '.'))
			return getcwd(buf, cap);
		p += n;
	}
	if (stat(pwd, &a) != 0 || stat(".", &b) != 0 || a.st_dev != b.st_dev ||
	    a.st_ino != b.st_ino)
		return getcwd(buf, cap);
	return pwd;
}

int
repo_locate(const char *arg, struct repo_loc *loc)
{
	struct walk w;
	int r = 0, s, at_dir = 0, stuck = 0;

	memset(loc, 0, sizeof(*loc));
	loc->rootfd = loc->parentfd = -1;
	memset(&w, 0, sizeof(w));
	w.fd = -1;
	if (arg[0] == '/')
		w.rest = strdup(arg);
	else {
		char buf[PATH_MAX];
		const char *cwd = logical_cwd(buf, sizeof(buf));

		if (cwd == NULL) {
			log_error("cannot find the current directory: %s",
			    strerror(errno));
			return CB_ERR_SYS;
		}
		if ((w.rest = malloc(strlen(cwd) + strlen(arg) + 2)) != NULL)
			sprintf(w.rest, "%s/%s", cwd, arg);
	}
	if (w.rest == NULL)
		return CB_ERR_NOMEM;
	if (walk_reset_root(&w) != 0) {
		loc->err = errno;
		goto as_given;
	}
	for (;;) {
		if ((s = holds_repo(w.fd, w.cur)) == CB_ERR_SYS) {
			/* cannot look into it (not ours, say) */
			loc->err = errno;
			if (walk_at_end(&w))
				stuck = 1;
			break;
		}
		if (s != 0) {
			if (s < 0) {
				r = s;
				break;
			}
			loc->found = at_dir = 1;
			r = normalise_sub(arg, w.rest + w.pos, &loc->sub);
			break;
		}
		if ((s = walk_step(&w)) == CB_ERR_NOMEM) {
			r = s;
			break;
		}
		if (s == 0) {
			at_dir = 1; /* a directory, but no repository */
			break;
		}
		if (s < 0) {
			loc->err = errno;
			loc->err_last = walk_at_end(&w);
			break;
		}
	}
	if (r != 0)
		goto out;
	if (stuck)
		loc->repo = strdup(w.cur); /* the location, unreadable */
	else if (at_dir) {
		/* The very directory the walk checked, not its name again. */
		loc->repo = strdup(w.cur);
		if ((loc->rootfd = openat(w.fd, ".",
			 O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
			loc->found = 0;
			loc->err = errno;
			loc->err_last = 1;
		}
	} else if (loc->err_last && w.lastlen > 0 &&
	    (loc->repo = malloc(w.curlen + w.lastlen + 2)) != NULL) {
		/* the directory it is to be made in, and its name */
		sprintf(loc->repo, "%s%s%.*s", w.cur, w.curlen > 1 ? "/" : "",
		    (int)w.lastlen, w.rest + w.last);
		loc->parentfd =
		    openat(w.fd, ".", O_PATH | O_DIRECTORY | O_CLOEXEC);
	} else
		goto as_given;
	if (loc->sub == NULL)
		loc->sub = strdup(".");
	if (loc->repo == NULL || loc->sub == NULL)
		r = CB_ERR_NOMEM;
	goto out;
as_given:
	loc->repo = strdup(arg);
	loc->sub = strdup(".");
	if (loc->repo == NULL || loc->sub == NULL)
		r = CB_ERR_NOMEM;
out:
	if (w.fd >= 0)
		close(w.fd);
	free(w.rest);
	if (r != 0)
		repo_loc_release(loc);
	return r;
}

const char *repo_owner_advice;

void
repo_fatal_owner(const char *path, uid_t uid)
{
	struct passwd *pw = getpwuid(uid);

	fatal("'%s' belongs to %s (uid %lu): %s", path,
	    pw != NULL ? pw->pw_name : "another account", (unsigned long)uid,
	    repo_owner_advice != NULL ?
		repo_owner_advice :
		"run this as that account, or as root (capback then works "
		"as that account)");
}

void
repo_fatal_access(const char *arg, int err)
{
	struct stat st;

	if (err == EACCES && stat(arg, &st) == 0 && st.st_uid != geteuid())
		repo_fatal_owner(arg, st.st_uid);
	fatal("cannot open repository '%s': %s", arg, strerror(err));
}

void
repo_locate_or_die(const char *arg, struct repo_loc *loc)
{
	int r = repo_locate(arg, loc);

	if (r == CB_ERR_NOMEM)
		fatal("out of memory");
	if (r != 0)
		exit(1); /* the reason is logged */
}

void
repo_open_top(const char *arg, struct repo_loc *loc)
{
	repo_locate_or_die(arg, loc);
	if (!loc->found) {
		if (loc->err != 0)
			repo_fatal_access(arg, loc->err);
		fatal("'%s' is not a backup repository (no %s)", arg, DATA_DIR);
	}
	if (strcmp(loc->sub, ".") != 0)
		fatal("'%s' is inside the repository '%s': this works on a "
		      "whole repository, give '%s'",
		    arg, loc->repo, loc->repo);
}

char *
repo_split(const char *arg, char **sub)
{
	struct repo_loc loc;
	char *repo;

	repo_locate_or_die(arg, &loc);
	repo = loc.repo;
	*sub = loc.sub;
	loc.repo = loc.sub = NULL;
	repo_loc_release(&loc);
	return repo;
}

int
repo_open_data(const char *path)
{
	struct repo_loc loc;
	int fd = -1;

	if (repo_locate(path, &loc) != 0)
		return -1;
	if (loc.found && strcmp(loc.sub, ".") == 0)
		fd = openat(loc.rootfd, DATA_DIR,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	repo_loc_release(&loc);
	return fd;
}

void
repo_refuse_inside(const char *path, const char *what)
{
	struct repo_loc loc;

	repo_locate_or_die(path, &loc);
	if (loc.found)
		fatal("%s '%s' is inside the repository '%s': a backed-up host "
		      "names what is there, so nothing is written into it",
		    what, path, loc.repo);
	repo_loc_release(&loc);
}
