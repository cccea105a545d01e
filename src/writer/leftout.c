/*
 * What an rdiff-backup session left out: the paths its error_log names
 * with "UpdateError: '<path>' Updated mirror temp file '<tmp>' does not
 * match source".  rdiff-backup writes that when the file it made for a
 * path differs from the source after all; it then keeps neither the file
 * nor a record of it, and exits 0.  A capback mirror that rdiff-backup
 * continues does this to every path that joins an unchanged hard-link
 * group (docs/design.md "rdiff-backup after capback").
 *
 * The error_log is repository text: bounded here (lines, paths, bytes
 * read), and shown only through log_name.  Entries end with a newline,
 * or with --null-separator a NUL (leftout_load).
 */

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "cb_err.h"
#include "fsutil.h"
#include "leftout.h"
#include "timefmt.h"

#define LINE_MAX_BYTES	  8192
#define READ_MAX_BYTES	  (64u << 20)
#define LEFTOUT_MAX_PATHS 100000

static const char PREFIX[] = "UpdateError: '";
static const char MIDDLE[] = "' Updated mirror temp file '";
static const char SUFFIX[] = "' does not match source";

/* The name of session ${t}'s error_log in ${datafd}, any spelling. */
static int
find_log(int datafd, int64_t t, char *name, size_t cap)
{
	struct incname in;
	char **names;
	size_t n, i, len;
	int r, found = 0;

	if ((r = fs_list_names(datafd, &names, &n)) != 0)
		return r;
	for (i = 0; i < n && !found; i++) {
		len = strlen(names[i]);
		if (len < cap && strncmp(names[i], "error_log.", 10) == 0 &&
		    incname_parse(names[i], len, &in) == 0 &&
		    in.ext == INC_DATA && in.baselen == 9 && in.time == t) {
			memcpy(name, names[i], len + 1);
			found = 1;
		}
	}
	fs_free_names(names, n);
	return found ? 0 : CB_ERR_EOF;
}

static int
add_path(struct leftout *lo, const char *p, size_t n)
{
	char *c;

	if (lo->n >= LEFTOUT_MAX_PATHS) {
		lo->more++;
		return 0;
	}
	if (lo->n == lo->cap) {
		size_t cap = lo->cap ? lo->cap * 2 : 16;
		struct leftout_path *np = realloc(lo->p, cap * sizeof(*lo->p));

		if (np == NULL)
			return CB_ERR_NOMEM;
		lo->p = np;
		lo->cap = cap;
	}
	if ((c = malloc(n + 1)) == NULL)
		return CB_ERR_NOMEM;
	memcpy(c, p, n);
	c[n] = '\0';
	lo->p[lo->n].len = n;
	lo->p[lo->n].path = c;
	lo->p[lo->n].taken = 0;
	lo->n++;
	return 0;
}

/* One line of the log (without its newline): a left-out path, if any. */
static int
parse_line(struct leftout *lo, const char *l, size_t n)
{
	size_t pre = sizeof(PREFIX) - 1, suf = sizeof(SUFFIX) - 1;
	size_t mid = sizeof(MIDDLE) - 1, i;

	if (n < pre + mid + suf || memcmp(l, PREFIX, pre) != 0 ||
	    memcmp(l + n - suf, SUFFIX, suf) != 0)
		return 0;
	/* the temporary's name never holds MIDDLE: the last one ends the
	 * path, which may hold anything */
	for (i = n - suf - mid + 1; i-- > pre;)
		if (memcmp(l + i, MIDDLE, mid) == 0)
			return i > pre ? add_path(lo, l + pre, i - pre) : 0;
	return 0;
}

static int
path_cmp(const void *a, const void *b)
{
	const struct leftout_path *x = a, *y = b;
	size_t n = x->len < y->len ? x->len : y->len;
	int c = memcmp(x->path, y->path, n);

	return c ? c : (x->len > y->len) - (x->len < y->len);
}

int
leftout_load(int datafd, int64_t t, struct leftout *lo)
{
	char name[256], line[LINE_MAX_BYTES];
	struct stat st;
	size_t total = 0, len = 0, k, w;
	int fd, r = 0, c = -1, skip = 0, sep;
	gzFile gz;

	memset(lo, 0, sizeof(*lo));
	lo->t = t;
	if ((r = find_log(datafd, t, name, sizeof(name))) != 0)
		return r == CB_ERR_EOF ? 0 : r;
	fd = openat(datafd, name,
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0)
		return CB_ERR_SYS;
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return CB_ERR_SYS;
	}
	if ((gz = gzdopen(fd, "rb")) == NULL) {
		close(fd);
		return CB_ERR_NOMEM;
	}
	/* rdiff-backup --null-separator ends each entry with a NUL and
	 * keeps a newline of a path as it is (else it writes a space): a
	 * log with a NUL is split at NULs only */
	while (total < READ_MAX_BYTES && (c = gzgetc(gz)) != -1 && c != 0)
		total++;
	sep = c == 0 ? '\0' : '\n';
	total = 0;
	if (gzrewind(gz) != 0) {
		gzclose(gz);
		errno = EIO;
		return CB_ERR_SYS;
	}
	/* lines longer than LINE_MAX_BYTES are no entry of ours: skipped */
	while (r == 0 && total < READ_MAX_BYTES && (c = gzgetc(gz)) != -1) {
		total++;
		if (c != sep) {
			if (len < sizeof(line))
				line[len++] = (char)c;
			else
				skip = 1;
			continue;
		}
		if (!skip)
			r = parse_line(lo, line, len);
		len = 0;
		skip = 0;
	}
	if (r == 0 && len > 0 && !skip)
		r = parse_line(lo, line, len);
	gzclose(gz);
	if (r != 0) {
		leftout_free(lo);
		return r;
	}
	if (lo->n == 0)
		return 0;
	qsort(lo->p, lo->n, sizeof(*lo->p), path_cmp);
	/* one path named twice is one left out */
	for (k = w = 0; k < lo->n; k++) {
		if (w > 0 && path_cmp(&lo->p[w - 1], &lo->p[k]) == 0) {
			free(lo->p[k].path);
			continue;
		}
		lo->p[w++] = lo->p[k];
	}
	lo->n = w;
	return 0;
}

struct leftout_path *
leftout_find(const struct leftout *lo, const char *path, size_t len)
{
	struct leftout_path key;

	if (lo->n == 0)
		return NULL;
	key.path = (char *)path;
	key.len = len;
	return bsearch(&key, lo->p, lo->n, sizeof(*lo->p), path_cmp);
}

void
leftout_free(struct leftout *lo)
{
	for (size_t i = 0; i < lo->n; i++)
		free(lo->p[i].path);
	free(lo->p);
	memset(lo, 0, sizeof(*lo));
}
