/*
 * Reverse increments (docs/rdiff-backup-format.md section 3): before the
 * mirror changes, what it held is kept in rdiff-backup-data/increments
 * under the previous session's time: reverse deltas for changed files,
 * snapshots of deleted or replaced objects, .missing markers for new
 * paths and .dir markers for directories that took part.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "backup_internal.h"
#include "cb_err.h"
#include "delta.h"
#include "fsutil.h"
#include "incscan.h"
#include "log.h"
#include "timefmt.h"

/* rdiff-backup's --not-compressed-regexp default: already compressed. */
static int
inc_compress(const char *name)
{
	static const char *const exts[] = { "7z", "aac", "arj", "asc", "avi",
		"bik", "bz", "bz2", "deb", "docx", "flac", "flv", "gif", "gpg",
		"gz", "jp2", "jpeg", "jpg", "jsonlz4", "lharc", "lz4", "lzh",
		"lzma", "lzo", "m4a", "m4v", "mdf", "mkv", "mov", "mozlz4",
		"mp3", "mp4", "mpeg", "mpg", "oga", "ogg", "ogm", "ogv", "opus",
		"pgp", "pk3", "png", "rar", "rm", "rpm", "rz", "shn", "tgz",
		"tzst", "vob", "webm", "webp", "wma", "wmv", "xlsx", "xz", "z",
		"zip", "zoo", "zst" };
	const char *dot = strrchr(name, '.');
	size_t i;

	if (dot == NULL)
		return 1;
	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++)
		if (strcasecmp(dot + 1, exts[i]) == 0)
			return 0;
	return 1;
}

static const char *
basename_of(const struct meta_rec *r)
{
	const char *slash = memrchr(r->path, '/', r->pathlen);

	return slash ? slash + 1 : r->path;
}

int
inc_dirfd(struct session *s, size_t level)
{
	struct dlevel *l = &s->dstack[level];
	int parent;
	const char *name;

	if (l->incfd >= 0)
		return l->incfd;
	if (level == 0) {
		parent = s->repo->datafd;
		name = "increments";
	} else {
		parent = inc_dirfd(s, level - 1);
		name = basename_of(&l->rec);
	}
	if (mkdirat(parent, name, 0700) != 0 && errno != EEXIST)
		fatal("cannot create increments directory for '%s': %s",
		    log_quote(l->rec.path, l->rec.pathlen), strerror(errno));
	l->incfd = openat(parent, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (l->incfd < 0)
		fatal("cannot open increments directory for '%s': %s",
		    log_quote(l->rec.path, l->rec.pathlen), strerror(errno));
	return l->incfd;
}

int
inc_dir_for(struct session *s, size_t level, uint64_t alt)
{
	return alt != 0 ? -1 : inc_dirfd(s, level);
}

int
inc_below_inc_name(const char *path, size_t len)
{
	const char *p = path, *slash;
	struct incname in;

	while ((slash = memchr(p, '/', len - (size_t)(p - path))) != NULL) {
		if (incname_parse(p, (size_t)(slash - p), &in) == 0)
			return 1;
		p = slash + 1;
	}
	return 0;
}

void
inc_changed(struct session *s)
{
	if (s->ddepth > 0)
		s->dstack[s->ddepth - 1].changed = 1;
}

/* "<name>.<T>.<ext>[.gz]" or -1 (ENAMETOOLONG and such: warned). */
static int
inc_name(struct session *s, const char *name, const char *ext, int gz,
    char *out, size_t cap)
{
	int n = snprintf(out, cap, "%s.%s.%s%s", name, s->prevts, ext,
	    gz ? ".gz" : "");

	if (n < 0 || (size_t)n >= cap || n > 255) {
		/* Only names not recorded with an AlternateIncrementName:
		 * those of repositories written without one. */
		log_warn("no increment kept for '%s': name too long", name);
		return -1;
	}
	return 0;
}

/* long_filename_data, created when first needed. */
static int
alt_dirfd(struct session *s)
{
	if (s->altfd >= 0)
		return s->altfd;
	if (mkdirat(s->repo->datafd, "long_filename_data", 0700) != 0 &&
	    errno != EEXIST)
		fatal("cannot create long_filename_data: %s", strerror(errno));
	s->altfd = openat(s->repo->datafd, "long_filename_data",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (s->altfd < 0)
		fatal("cannot open long_filename_data: %s", strerror(errno));
	return s->altfd;
}

/*
 * Where an increment goes: ${incdir} under ${name}, or for a long name
 * with AlternateIncrementName ${alt}, long_filename_data under "<alt>".
 */
static int
inc_where(struct session *s, int *incdir, const char **name, uint64_t alt,
    char *buf, size_t cap)
{
	if (alt == 0)
		return 0;
	*incdir = alt_dirfd(s);
	snprintf(buf, cap, "%llu", (unsigned long long)alt);
	*name = buf;
	return 0;
}

uint64_t
inc_alloc_alt(struct session *s)
{
	char buf[32];
	int fd = alt_dirfd(s), n;
	size_t len;
	uint64_t v;

	if (s->next_free == 0) {
		/* next_free, or 1 + the largest number used (7.3). */
		n = fs_read_small_at(fd, "next_free", buf, sizeof(buf), &len);
		if (n == 0 &&
		    sscanf(buf, "%llu", (unsigned long long *)&v) == 1 && v > 0)
			s->next_free = v;
		else {
			char **names;
			size_t cnt, i;

			s->next_free = 1;
			if (fs_list_names(fd, &names, &cnt) != 0)
				fatal("cannot list long_filename_data: %s",
				    strerror(errno));
			for (i = 0; i < cnt; i++) {
				v = strtoull(names[i], NULL, 10);
				if (v >= s->next_free)
					s->next_free = v + 1;
			}
			fs_free_names(names, cnt);
		}
	}
	v = s->next_free++;
	n = snprintf(buf, sizeof(buf), "%llu",
	    (unsigned long long)s->next_free);
	unlinkat(fd, "next_free.new", 0);
	if (fs_create_file_at(fd, "next_free.new", buf, (size_t)n) != 0 ||
	    renameat(fd, "next_free.new", fd, "next_free") != 0)
		fatal("cannot write long_filename_data/next_free: %s",
		    strerror(errno));
	return v;
}

static int
inc_create(struct session *s, int incdir, const char *name, const char *ext,
    int gz)
{
	char fn[512];
	int fd;

	if (inc_name(s, name, ext, gz, fn, sizeof(fn)) != 0)
		return -1;
	fd = openat(incdir, fn,
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		fatal("cannot create increment '%s': %s", fn, strerror(errno));
	s->st.inc_files++;
	return fd;
}

int
inc_open(struct session *s, int incdir, const char *name, const char *ext,
    int gz)
{
	int fd;

	if (inc_name(s, name, ext, gz, s->inc_final, sizeof(s->inc_final)) != 0)
		return -1;
	/* Named so that either tool's regress removes it (incscan.h), in
	 * the top of the increments tree: rdiff-backup's regress walks
	 * neither long_filename_data nor the increments directory of a
	 * directory that has an alternate name (it looks for its children's
	 * increments in long_filename_data/<N>/). */
	s->inc_tmpdir = inc_dirfd(s, 0);
	do {
		snprintf(s->inc_tmp, sizeof(s->inc_tmp),
		    INC_TMP_PREFIX "%llu.%s.missing",
		    (unsigned long long)++s->tmpcount, s->nowts);
		fd = openat(s->inc_tmpdir, s->inc_tmp,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	} while (fd < 0 && errno == EEXIST);
	if (fd < 0)
		fatal("cannot create increment '%s': %s", s->inc_final,
		    strerror(errno));
	s->inc_dir = incdir;
	s->st.inc_files++;
	return fd;
}

static void
inc_count_size(struct session *s, int fd)
{
	struct stat st;

	if (fstat(fd, &st) == 0)
		s->st.inc_size += (uint64_t)st.st_size;
}

/* The increment is written: it becomes durable, under its own name, in
 * the next flush, before the mirror change it describes. */
void
inc_close(struct session *s, int fd)
{
	inc_count_size(s, fd);
	batch_inc(s, fd, s->inc_tmpdir, s->inc_tmp, s->inc_dir, s->inc_final);
}

void
inc_close_now(struct session *s, int fd)
{
	inc_count_size(s, fd);
	if (fsync(fd) != 0 || close(fd) != 0)
		fatal("writing an increment: %s", strerror(errno));
	inc_install(s->repo, s->inc_tmpdir, s->inc_tmp, s->inc_dir,
	    s->inc_final);
}

/*
 * Never over an increment that is there: one of this name holds an older
 * state no other file holds (rdiff-backup 2.2.2's regress leaves the
 * increments of a failed session below long directory names, named with
 * the time this session's carry).  The session stops instead; regress
 * rebuilds the mirror from it (SHA-1 proven) and removes it after.
 */
void
inc_install(const struct repo *repo, int tmpdir, const char *tmp, int dirfd,
    const char *final)
{
	struct stat st;

	if (renameat2(tmpdir, tmp, dirfd, final, RENAME_NOREPLACE) == 0)
		return;
	/* a file system without RENAME_NOREPLACE: the lock keeps other
	 * writers out, so a check first is enough */
	if (errno == EINVAL &&
	    fstatat(dirfd, final, &st, AT_SYMLINK_NOFOLLOW) != 0 &&
	    errno == ENOENT && renameat(tmpdir, tmp, dirfd, final) == 0)
		return;
	if (errno == EINVAL)
		errno = EEXIST;
	if (errno == EEXIST)
		fatal("an increment '%s' is already there (a regress that did "
		      "not finish left it): 'capback regress %s' proves and "
		      "repairs it",
		    log_name(final, strlen(final)), repo->path);
	fatal("cannot create increment '%s': %s",
	    log_name(final, strlen(final)), strerror(errno));
}

void
inc_marker(struct session *s, int incdir, const char *name, const char *ext,
    uint64_t alt)
{
	char altname[32];
	int fd;

	inc_where(s, &incdir, &name, alt, altname, sizeof(altname));
	fd = inc_create(s, incdir, name, ext, 0);

	if (fd >= 0 && close(fd) != 0)
		fatal("writing an increment marker: %s", strerror(errno));
}

static int
copy_fd(int in, int out)
{
	char buf[65536];
	ssize_t n;

	while ((n = read(in, buf, sizeof(buf))) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || fs_write_all(out, buf, (size_t)n) != 0)
			return CB_ERR_SYS;
	}
	return 0;
}

/*
 * The mirror file ${name} could not be opened to keep its old content: a
 * mirror damaged by hand (gone, or not a file) loses only that; any
 * other failure (out of descriptors or memory, I/O) stops the session
 * before the old content is replaced without its increment.
 */
static void
mirror_damaged(const char *name)
{
	if (errno != ENOENT && errno != ELOOP && errno != ENOTDIR)
		fatal("cannot keep the old content of '%s': %s", name,
		    strerror(errno));
	log_warn("no increment kept for '%s': mirror file: %s", name,
	    strerror(errno));
}

/* The old regular file's content, gzipped where rdiff-backup would. */
static void
snapshot_regular(struct session *s, int incdir, const char *incname, int pfd,
    const char *name)
{
	int gz = inc_compress(name), in, out, r;

	in = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (in < 0) {
		mirror_damaged(name);
		return;
	}
	if ((out = inc_open(s, incdir, incname, "snapshot", gz)) >= 0) {
		r = gz ? delta_gzip_copy(in, out) : copy_fd(in, out);
		if (r != 0)
			fatal("writing a snapshot of '%s': %s", name,
			    cb_strerror(r));
		inc_close(s, out);
	}
	close(in);
}

void
inc_old_object(struct session *s, int pfd, const char *name,
    const struct meta_rec *old)
{
	int incdir, fd, rc = 0;
	char fn[512], altname[32];
	const char *incname = name;

	inc_changed(s);
	if (!s->incs)
		return;
	incdir = inc_dir_for(s, s->ddepth - 1, old->alt_inc);
	inc_where(s, &incdir, &incname, old->alt_inc, altname, sizeof(altname));
	switch (old->type) {
	case META_REG: snapshot_regular(s, incdir, incname, pfd, name); return;
	case META_DIR: return; /* its .dir marker is written when it closes */
	case META_SYM:
	case META_FIFO:
	case META_SOCK:
		if (inc_name(s, incname, "snapshot", 0, fn, sizeof(fn)) != 0)
			return;
		unlinkat(incdir, fn, 0);
		if (old->type == META_SYM)
			rc = symlinkat(old->symdata, incdir, fn);
		else if (old->type == META_FIFO)
			rc = mkfifoat(incdir, fn, 0600);
		else
			rc = mknodat(incdir, fn, S_IFSOCK | 0600, 0);
		if (rc != 0)
			fatal("cannot create increment '%s': %s", fn,
			    strerror(errno));
		s->st.inc_files++;
		return;
	default:
		/* A device: an empty file, as rdiff-backup does without mknod. */
		if ((fd = inc_create(s, incdir, incname, "snapshot", 0)) >= 0)
			close(fd);
		return;
	}
}

int
inc_reverse_diff(struct session *s, int newfd, int pfd, const char *name,
    uint64_t alt, struct delta_ranges *rg, int now)
{
	int gz = inc_compress(name), old, out, r, incdir, written = 0;
	const char *incname = name;
	char altname[32];

	inc_changed(s);
	if (!s->incs)
		return 0;
	old = openat(pfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (old < 0) {
		mirror_damaged(name);
		return 0;
	}
	incdir = inc_dir_for(s, s->ddepth - 1, alt);
	inc_where(s, &incdir, &incname, alt, altname, sizeof(altname));
	out = inc_open(s, incdir, incname, "diff", gz);
	if (out >= 0) {
		if ((r = delta_reverse_ranges(newfd, old, out, gz, rg)) != 0)
			fatal("computing the increment of '%s': %s", name,
			    cb_strerror(r));
		if (now)
			inc_close_now(s, out);
		else
			inc_close(s, out);
		written = 1;
	}
	close(old);
	return written;
}
