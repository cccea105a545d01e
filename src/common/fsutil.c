#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "cb_err.h"
#include "log.h"

/*
 * The same walk by hand, one component at a time, for kernels (and
 * valgrind) without openat2: no "..", no absolute path, no symlink in
 * any component.
 */
static int
open_beneath_walk(int dirfd, const char *path, int flags, mode_t mode)
{
	char comp[256];
	const char *p = path, *slash;
	int cur = dirfd, next, e;

	if (*p == '/' || *p == '\0') {
		errno = EXDEV;
		return -1;
	}
	for (;;) {
		size_t len;

		slash = strchr(p, '/');
		len = slash ? (size_t)(slash - p) : strlen(p);
		if (len == 0 || len >= sizeof(comp) ||
		    (len == 2 && p[0] == '.' && p[1] == '.')) {
			errno = len >= sizeof(comp) ? ENAMETOOLONG : EXDEV;
			next = -1;
			break;
		}
		memcpy(comp, p, len);
		comp[len] = '\0';
		if (slash == NULL) {
			next = openat(cur, comp, flags | O_NOFOLLOW | O_CLOEXEC,
			    mode);
			break;
		}
		next = openat(cur, comp,
		    O_PATH | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (cur != dirfd) {
			e = errno;
			close(cur);
			errno = e;
		}
		if (next < 0)
			return -1;
		cur = next;
		p = slash + 1;
	}
	if (cur != dirfd) {
		e = errno;
		close(cur);
		errno = e;
	}
	return next;
}

int
fs_open_beneath(int dirfd, const char *path, int flags, mode_t mode)
{
	/* Once ENOSYS (an old kernel, valgrind, or the reader's seccomp
	 * filter, which cannot see openat2's flags), always: not asked
	 * again for every file. */
	static int no_openat2;
	struct open_how how;

	if (no_openat2)
		return open_beneath_walk(dirfd, path, flags, mode);
	memset(&how, 0, sizeof(how));
	how.flags = (unsigned long long)(flags | O_CLOEXEC);
	how.mode = (flags & O_CREAT) ? mode : 0;
	how.resolve =
	    RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS;
	for (;;) {
		long fd = syscall(SYS_openat2, dirfd, path, &how, sizeof(how));

		if (fd >= 0 || errno != EINTR) {
			if (fd < 0 && errno == ENOSYS) {
				no_openat2 = 1;
				return open_beneath_walk(dirfd, path, flags,
				    mode);
			}
			return (int)fd;
		}
	}
}

/* Remove the contents of the directory open at ${fd} (consumed). */
static int
fs_empty_dir(int fd)
{
	DIR *d;
	struct dirent *de;
	int r = 0;

	if ((d = fdopendir(fd)) == NULL) {
		close(fd);
		return CB_ERR_SYS;
	}
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if ((r = fs_remove_at(dirfd(d), de->d_name)) != 0)
			break;
		rewinddir(d);
	}
	if (r == 0 && errno != 0)
		r = CB_ERR_SYS;
	closedir(d);
	return r;
}

int
fs_remove_at(int dirfd, const char *name)
{
	int fd, r;

	struct stat st;

	/* A directory is not unlinked first: under Landlock that is EACCES
	 * (no right to remove files there), not EISDIR. */
	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT ? 0 : CB_ERR_SYS;
	if (!S_ISDIR(st.st_mode)) {
		if (unlinkat(dirfd, name, 0) == 0 || errno == ENOENT)
			return 0;
		if (errno != EISDIR && errno != EPERM)
			return CB_ERR_SYS;
	}
	fd = openat(dirfd, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? 0 : CB_ERR_SYS;
	/* Our own mirror dirs may be 0500 after a defanged chmod. */
	fchmod(fd, 0700);
	if ((r = fs_empty_dir(fd)) != 0)
		return r;
	if (unlinkat(dirfd, name, AT_REMOVEDIR) != 0 && errno != ENOENT)
		return CB_ERR_SYS;
	return 0;
}

/* write(2), or pwrite(2) at ${off} if it is not negative, to the end. */
static int
write_all_at(int fd, const void *p, size_t n, int64_t off)
{
	const char *c = p;

	while (n > 0) {
		ssize_t w =
		    off < 0 ? write(fd, c, n) : pwrite(fd, c, n, (off_t)off);

		if (w < 0) {
			if (errno == EINTR)
				continue;
			return CB_ERR_SYS;
		}
		if (w == 0) {
			errno = EIO;
			return CB_ERR_SYS;
		}
		c += w;
		n -= (size_t)w;
		if (off >= 0)
			off += w;
	}
	return 0;
}

int
fs_write_all(int fd, const void *p, size_t n)
{
	return write_all_at(fd, p, n, -1);
}

int
fs_pwrite_all(int fd, const void *p, size_t n, uint64_t off)
{
	if (off > INT64_MAX) {
		errno = EINVAL;
		return CB_ERR_SYS;
	}
	return write_all_at(fd, p, n, (int64_t)off);
}

int
fs_pread_all(int fd, void *p, size_t n, uint64_t off)
{
	char *c = p;
	ssize_t k;

	while (n > 0) {
		k = pread(fd, c, n, (off_t)off);
		if (k < 0 && errno == EINTR)
			continue;
		if (k <= 0) {
			if (k == 0)
				errno = EIO; /* the file ends before */
			return CB_ERR_SYS;
		}
		c += k;
		n -= (size_t)k;
		off += (uint64_t)k;
	}
	return 0;
}

int
fs_copy_range(int in, uint64_t off, uint64_t len, int out, int64_t outoff,
    void *buf, size_t cap)
{
	size_t k;
	int r;

	while (len > 0) {
		k = len < cap ? (size_t)len : cap;
		if ((r = fs_pread_all(in, buf, k, off)) != 0 ||
		    (r = write_all_at(out, buf, k, outoff)) != 0)
			return r;
		off += k;
		len -= k;
		if (outoff >= 0)
			outoff += (int64_t)k;
	}
	return 0;
}

int
fs_create_file_at(int dirfd, const char *name, const void *p, size_t n)
{
	int fd, e;

	fd = openat(dirfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return CB_ERR_SYS;
	if (fs_write_all(fd, p, n) != 0 || fsync(fd) != 0) {
		e = errno;
		close(fd);
		unlinkat(dirfd, name, 0);
		errno = e;
		return CB_ERR_SYS;
	}
	if (close(fd) != 0) {
		e = errno;
		unlinkat(dirfd, name, 0);
		errno = e;
		return CB_ERR_SYS;
	}
	return 0;
}

int
fs_read_small_at(int dirfd, const char *name, char *buf, size_t cap,
    size_t *len)
{
	int fd;
	size_t got = 0;

	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return CB_ERR_SYS;
	while (got + 1 < cap) {
		ssize_t n = read(fd, buf + got, cap - 1 - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			int e = errno;

			close(fd);
			errno = e;
			return CB_ERR_SYS;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	*len = got;
	return 0;
}

int
fs_dir_is_empty(int dirfd)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;
	int empty = 1;

	if (fd < 0 || (d = fdopendir(fd)) == NULL) {
		if (fd >= 0)
			close(fd);
		return CB_ERR_SYS;
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0) {
			empty = 0;
			break;
		}
	}
	closedir(d);
	return empty;
}

int
fs_set_nonblock(int fd, int on)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0)
		return CB_ERR_SYS;
	fl = on ? (fl | O_NONBLOCK) : (fl & ~O_NONBLOCK);
	if (fcntl(fd, F_SETFL, fl) < 0)
		return CB_ERR_SYS;
	return 0;
}

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

void
fs_free_names(char **names, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

int
fs_list_names(int fd, char ***out, size_t *outn)
{
	DIR *d;
	struct dirent *de;
	char **names = NULL, **nn;
	size_t n = 0, cap = 0;
	int dfd, r = 0;

	*out = NULL;
	*outn = 0;
	if ((dfd = dup(fd)) < 0)
		return CB_ERR_SYS;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return CB_ERR_SYS;
	}
	rewinddir(d); /* the offset is shared with ${fd}: start at the top */
	while ((errno = 0, de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (n == cap) {
			cap = cap ? cap * 2 : 32;
			if ((nn = realloc(names, cap * sizeof(*nn))) == NULL) {
				r = CB_ERR_NOMEM;
				break;
			}
			names = nn;
		}
		if ((names[n] = strdup(de->d_name)) == NULL) {
			r = CB_ERR_NOMEM;
			break;
		}
		n++;
	}
	if (r == 0 && errno != 0)
		r = CB_ERR_SYS;
	closedir(d);
	if (r != 0) {
		fs_free_names(names, n);
		return r;
	}
	if (n > 1)
		qsort(names, n, sizeof(*names), name_cmp);
	*out = names;
	*outn = n;
	return 0;
}

int
fs_open_parent(const char *path)
{
	char *copy = strdup(path), *slash;
	size_t len;
	int fd, e;

	if (copy == NULL)
		return -1;
	len = strlen(copy);
	while (len > 1 && copy[len - 1] == '/')
		copy[--len] = '\0';
	slash = strrchr(copy, '/');
	if (slash == NULL)
		strcpy(copy, ".");
	else if (slash == copy)
		slash[1] = '\0';
	else
		*slash = '\0';
	fd = open(copy, O_PATH | O_DIRECTORY | O_CLOEXEC);
	e = errno;
	free(copy);
	errno = e;
	return fd;
}

int
fs_mount_next(FILE *f, const char *type, char *point, size_t pcap, char *opts,
    size_t ocap)
{
	char line[12288], pt[4096], ty[64], op[4096], *o, *p;

	while (fgets(line, sizeof(line), f) != NULL) {
		if (sscanf(line, "%*s %4095s %63s %4095s", pt, ty, op) != 3 ||
		    strcmp(ty, type) != 0)
			continue;
		for (o = p = pt; *p != '\0'; p++)
			if (p[0] == '\\' && p[1] >= '0' && p[1] <= '3' &&
			    p[2] >= '0' && p[2] <= '7' && p[3] >= '0' &&
			    p[3] <= '7') {
				*o++ = (char)((p[1] - '0') << 6 |
				    (p[2] - '0') << 3 | (p[3] - '0'));
				p += 3;
			} else
				*o++ = *p;
		*o = '\0';
		snprintf(point, pcap, "%s", pt);
		if (opts != NULL)
			snprintf(opts, ocap, "%s", op);
		return 1;
	}
	return 0;
}
