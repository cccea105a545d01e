/*
 * Which entries of the increments tree are increments (incscan.h): one
 * test for every walk of the tree, so that a source directory named
 * "victim.2099-01-01T00:00:00Z.missing" is never taken for an increment
 * of "victim" by a restore, a regress or a removal.
 */
#include "incscan.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "fsutil.h"
#include "log.h"
#include "timespec.h"

/*
 * An increment is named with the time of the session it goes back to,
 * and written by the session after it: an unfinished session has none.
 * A name carrying its time is its temporary (inc_open) or what one left,
 * never an increment.  A finished newest session has none either, but
 * what a regress that did not finish left with its time is history.
 */
size_t
inc_markers(const struct repo_entry *e, size_t ne, int64_t *newest)
{
	size_t i, markers = 0;

	*newest = INT64_MIN;
	for (i = 0; i < ne; i++)
		if (e[i].base == RB_CURRENT_MIRROR) {
			markers++;
			if (e[i].inc.time > *newest)
				*newest = e[i].inc.time;
		}
	return markers;
}

int
inc_times_load(int datafd, struct inc_times *s)
{
	struct repo_entry *e = NULL;
	size_t ne = 0, markers;
	int64_t newest;
	int r;

	s->t = NULL;
	s->n = 0;
	if ((r = repo_scan(datafd, &e, &ne)) != 0)
		return r;
	markers = inc_markers(e, ne, &newest);
	repo_scan_free(e, ne);
	if (markers < 2)
		newest = INT64_MAX; /* no unfinished session */
	if ((r = repo_sessions(datafd, &s->t, &s->n)) != 0)
		return r;
	while (s->n > 0 && s->t[s->n - 1] >= newest)
		s->n--;
	return 0;
}

int
inc_is_tmp_base(const char *name, size_t len)
{
	size_t p = sizeof(INC_TMP_PREFIX) - 1, i;

	if (len <= p || memcmp(name, INC_TMP_PREFIX, p) != 0)
		return 0;
	for (i = p; i < len; i++)
		if (name[i] < '0' || name[i] > '9')
			return 0;
	return 1;
}

int
inc_is_litter(const char *name, enum inc_class c, const struct incname *in,
    int is_dir, const struct inc_times *times)
{
	if (is_dir)
		return 0;
	if (inc_is_tmp_base(name, strlen(name)))
		return 1; /* a capback before 0.22's temporary */
	if (in->ext != INC_MISSING || in->gz ||
	    !inc_is_tmp_base(name, in->baselen))
		return 0;
	return c == INC_FOREIGN ||
	    (c == INC_REAL && times->n > 0 &&
		in->time >= times->t[times->n - 1]);
}

void
inc_times_release(struct inc_times *s)
{
	free(s->t);
	s->t = NULL;
	s->n = 0;
}

static int
i64_cmp(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

/*
 * The file types an increment of its kind can have (format section 3.1):
 * a regular file, but for an uncompressed snapshot, which holds a special
 * file as itself (a symlink, fifo, socket or device node).  Never a
 * directory, never what is neither of these (a .data file).
 */
static int
type_fits(const struct incname *in, unsigned char d_type)
{
	if (in->ext == INC_DATA)
		return 0;
	if (d_type == DT_REG)
		return 1;
	return in->ext == INC_SNAPSHOT && !in->gz &&
	    (d_type == DT_LNK || d_type == DT_FIFO || d_type == DT_SOCK ||
		d_type == DT_BLK || d_type == DT_CHR);
}

enum inc_class
inc_classify(int dirfd, const char *name, unsigned char d_type,
    const struct inc_times *s, struct incname *out)
{
	struct incname in;
	struct stat st;

	if (incname_parse(name, strlen(name), &in) != 0)
		return INC_NOT;
	if (d_type == DT_UNKNOWN)
		d_type = fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 ?
		    (unsigned char)IFTODT(st.st_mode) :
		    DT_UNKNOWN;
	if (out != NULL)
		*out = in;
	if (!type_fits(&in, d_type) ||
	    bsearch(&in.time, s->t, s->n, sizeof(*s->t), i64_cmp) == NULL)
		return INC_FOREIGN;
	return INC_REAL;
}

/* One entry of the walk: visited, then walked into if a directory. */
static int
walk_entry(int fd, const char *name, struct inc_walk *w)
{
	struct incname in;
	struct stat st;
	enum inc_class c;
	size_t plen = w->path.len;
	int is_dir, sub, empty, gone;

	if (fstatat(fd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return errno == ENOENT;
	is_dir = S_ISDIR(st.st_mode);
	c = inc_classify(fd, name, (unsigned char)IFTODT(st.st_mode), w->times,
	    &in);
	if ((plen > 0 && strbuf_addch(&w->path, '/') != 0) ||
	    strbuf_addstr(&w->path, name) != 0)
		fatal("out of memory");
	gone = w->visit(w, fd, name, c, &in, is_dir);
	if (!gone && is_dir) {
		sub = openat(fd, name,
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		empty = sub >= 0 && inc_tree_walk(sub, w);
		if (sub >= 0)
			close(sub);
		gone =
		    empty && w->rmdirs && unlinkat(fd, name, AT_REMOVEDIR) == 0;
	}
	w->path.len = plen;
	w->path.buf[plen] = '\0';
	return gone;
}

int
inc_tree_walk(int fd, struct inc_walk *w)
{
	char **names;
	size_t n, i, left = 0;

	if (fs_list_names(fd, &names, &n) != 0)
		fatal("cannot list a directory of the increments: %s",
		    strerror(errno));
	for (i = 0; i < n; i++) {
		if (!walk_entry(fd, names[i], w))
			left++;
		free(names[i]);
	}
	free(names);
	return left == 0;
}

void
inc_walk_all(int datafd, struct inc_walk *w)
{
	static const char *const tops[] = { "increments",
		"long_filename_data" };
	int i, fd;

	for (i = 0; i < 2; i++) {
		fd = openat(datafd, tops[i],
		    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			continue;
		strbuf_reset(&w->path);
		if (strbuf_addstr(&w->path, tops[i]) != 0)
			fatal("out of memory");
		inc_tree_walk(fd, w);
		close(fd);
	}
	strbuf_release(&w->path);
}

int
inc_hold(int datafd, const char *ts, int if_empty, char *name, size_t cap)
{
	uint64_t n;
	int fd, f, e;

	name[0] = '\0';
	if (mkdirat(datafd, "increments", 0700) != 0 && errno != EEXIST)
		return -1;
	fd = openat(datafd, "increments",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (if_empty && (e = fs_dir_is_empty(fd)) <= 0) {
		e = e < 0 ? errno : 0;
		close(fd);
		errno = e;
		return e ? -1 : 0;
	}
	/* a random name, as the session's temporaries (backup.c): no
	 * fallback that could repeat one name forever on EEXIST */
	do {
		if (getrandom(&n, sizeof(n), 0) != sizeof(n)) {
			f = -1;
			break;
		}
		snprintf(name, cap, INC_TMP_PREFIX "%llu.%s.missing",
		    (unsigned long long)(n & 0xffffffffffULL), ts);
		f = openat(fd, name,
		    O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
	} while (f < 0 && errno == EEXIST);
	if (f < 0 || close(f) != 0 || fsync(fd) != 0) {
		e = errno;
		if (f >= 0)
			unlinkat(fd, name, 0);
		close(fd);
		name[0] = '\0';
		errno = e;
		return -1;
	}
	close(fd);
	return 0;
}

void
inc_unhold(int datafd, const char *name)
{
	int fd;

	if (name[0] == '\0')
		return;
	fd = openat(datafd, "increments",
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		/* not durable: one left is litter to the next tidy */
		unlinkat(fd, name, 0);
		close(fd);
	}
}
