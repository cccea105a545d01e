/*
 * Reading an older session: the regular file content at time T is the
 * mirror (or an older snapshot) patched by the reverse deltas back to T
 * (docs/rdiff-backup-format.md section 3.5).  Repository content is not
 * trusted: names are parsed, deltas bounded by delta_patch.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cb_err.h"
#include "delta.h"
#include "fsutil.h"
#include "history.h"
#include "incscan.h"
#include "linkmap.h"
#include "log.h"
#include "timefmt.h"

struct hinc {
	char *name; /* file name in the increments directory */
	size_t baselen;
	int64_t time;
	enum incname_ext ext;
	int gz;
};

void
hist_dir_init(struct hist_dir *d)
{
	memset(d, 0, sizeof(*d));
	d->fd = -1;
}

/* Forget the directory loaded, keep the sessions. */
static void
hist_dir_drop(struct hist_dir *d)
{
	size_t i;

	for (i = 0; i < d->n; i++)
		free(d->incs[i].name);
	free(d->incs);
	free(d->path);
	if (d->fd >= 0)
		close(d->fd);
	d->incs = NULL;
	d->path = NULL;
	d->n = d->cap = 0;
	d->fd = -1;
}

void
hist_dir_release(struct hist_dir *d)
{
	hist_dir_drop(d);
	inc_times_release(&d->times);
	hist_dir_init(d);
}

/* The key of long_filename_data in hist_dir (no path can be empty). */
#define ALT_KEY ""

/*
 * Load the increments directory that holds ${parent}'s children, or with
 * the key ALT_KEY long_filename_data (section 7.3).
 */
static int
hist_dir_load(struct hist_dir *d, int datafd, const char *parent, size_t plen)
{
	char rel[4200];
	DIR *dir;
	struct dirent *de;
	int dfd, rc;

	hist_dir_drop(d);
	if (!d->have_times) {
		if ((rc = inc_times_load(datafd, &d->times)) != 0)
			return rc;
		d->have_times = 1;
	}
	if ((d->path = strndup(parent, plen)) == NULL)
		return CB_ERR_NOMEM;
	if (plen == 0)
		snprintf(rel, sizeof(rel), "long_filename_data");
	else if (plen == 1 && parent[0] == '.')
		snprintf(rel, sizeof(rel), "increments");
	else
		snprintf(rel, sizeof(rel), "increments/%.*s", (int)plen,
		    parent);
	d->fd = fs_open_beneath(datafd, rel, O_RDONLY | O_DIRECTORY, 0);
	if (d->fd < 0 && d->recheck && errno != ENOENT && errno != ENOTDIR)
		return CB_ERR_SYS; /* there may be increments: not "none" */
	if (d->fd < 0)
		return 0; /* no increments below this directory */
	if (d->recheck) {
		struct stat st;

		/* before the listing: a change during it loads it again */
		if (fstat(d->fd, &st) != 0)
			return CB_ERR_SYS;
		d->mtime = st.st_mtim;
	}
	if ((dfd = dup(d->fd)) < 0 || (dir = fdopendir(dfd)) == NULL)
		return CB_ERR_SYS;
	while ((de = readdir(dir)) != NULL) {
		struct incname in;
		struct hinc *ni;

		if (inc_classify(d->fd, de->d_name, de->d_type, &d->times,
			&in) != INC_REAL)
			continue;
		if (d->n == d->cap) {
			size_t ncap = d->cap ? d->cap * 2 : 32;

			if ((ni = realloc(d->incs, ncap * sizeof(*ni))) ==
			    NULL) {
				closedir(dir);
				return CB_ERR_NOMEM;
			}
			d->incs = ni;
			d->cap = ncap;
		}
		ni = &d->incs[d->n];
		if ((ni->name = strdup(de->d_name)) == NULL) {
			closedir(dir);
			return CB_ERR_NOMEM;
		}
		ni->baselen = in.baselen;
		ni->time = in.time;
		ni->ext = in.ext;
		ni->gz = in.gz;
		d->n++;
	}
	closedir(dir);
	return 0;
}

static int
hinc_cmp(const void *a, const void *b)
{
	const struct hinc *x = *(const struct hinc *const *)a;
	const struct hinc *y = *(const struct hinc *const *)b;

	return x->time < y->time ? -1 : x->time > y->time;
}

/* The directory for scratch files (O_PATH), chosen before confinement. */
int history_scratch_dirfd = -1;

int
history_scratch_init(void)
{
	const char *dirs[] = { getenv("TMPDIR"), "/var/tmp", "/tmp" };
	size_t i;
	int fd;

	for (i = 0; i < 3 && history_scratch_dirfd < 0; i++) {
		if (dirs[i] == NULL || dirs[i][0] != '/')
			continue;
		/* Only a directory where an unnamed file can be made. */
		fd = open(dirs[i], O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
		if (fd < 0)
			continue;
		close(fd);
		history_scratch_dirfd =
		    open(dirs[i], O_PATH | O_DIRECTORY | O_CLOEXEC);
	}
	return history_scratch_dirfd;
}

/* A scratch file for intermediate versions: never linked anywhere. */
static int
scratch_fd(void)
{
	if (history_scratch_dirfd < 0 && history_scratch_init() < 0) {
		errno = ENOENT;
		return -1;
	}
	return openat(history_scratch_dirfd, ".",
	    O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
}

/* Open increment ${h} for reading. */
static int
open_inc(const struct hist_dir *d, const struct hinc *h)
{
	return openat(d->fd, h->name,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
}

/* What a step of a rebuild may make: the last (chain[0], the version
 * at the session asked for) no more than its recorded ${size}, those
 * before it no more than d->step_cap when it is set. */
static uint64_t
step_max(const struct hist_dir *d, size_t k, uint64_t size)
{
	if (k == 0)
		return size;
	return d->step_cap != 0 ? d->step_cap : INT64_MAX;
}

/*
 * Apply the diffs chain[k - 1] .. chain[0] to ${base} (borrowed) in one
 * pass (delta_chain); *outfd the result in a scratch file of at most
 * ${size} bytes.
 */
static int
patch_at_once(const struct hist_dir *d, struct hinc **chain, size_t k, int base,
    uint64_t size, int *outfd)
{
	struct delta_chain *c = NULL;
	int lit, out = -1, dfd, rc;

	if ((lit = scratch_fd()) < 0)
		return CB_ERR_SYS;
	rc = delta_chain_new(&c, base, lit);
	while (rc == 0 && k-- > 0) {
		if ((dfd = open_inc(d, chain[k])) < 0) {
			rc = CB_ERR_SYS;
			break;
		}
		rc =
		    delta_chain_add(c, dfd, chain[k]->gz, step_max(d, k, size));
		close(dfd);
	}
	if (rc == 0 && (out = scratch_fd()) < 0)
		rc = CB_ERR_SYS;
	if (rc == 0)
		rc = delta_chain_write(c, out);
	delta_chain_free(c);
	close(lit);
	if (rc != 0 && out >= 0) {
		close(out);
		out = -1;
	}
	*outfd = out;
	return rc;
}

/*
 * The same one diff at a time, each version in a scratch file; ${cur}
 * (the base, owned) is closed.
 */
static int
patch_in_turn(const struct hist_dir *d, struct hinc **chain, size_t k, int cur,
    uint64_t size, int *outfd)
{
	int next, dfd, rc = 0;

	if (cur < 0)
		return CB_ERR_SYS;
	while (k-- > 0) {
		if ((dfd = open_inc(d, chain[k])) < 0 ||
		    (next = scratch_fd()) < 0) {
			rc = CB_ERR_SYS;
			if (dfd >= 0)
				close(dfd);
			break;
		}
		rc = delta_patch(cur, dfd, chain[k]->gz, next,
		    step_max(d, k, size));
		close(dfd);
		close(cur);
		cur = next;
		if (rc != 0)
			break;
	}
	if (rc != 0) {
		close(cur);
		cur = -1;
	}
	*outfd = cur;
	return rc;
}

/* With d->recheck: has the directory loaded changed since (or was it
 * missing)? */
static int
hist_dir_changed(const struct hist_dir *d)
{
	struct stat st;

	if (!d->recheck)
		return 0;
	if (d->fd < 0 || fstat(d->fd, &st) != 0)
		return 1;
	return st.st_mtim.tv_sec != d->mtime.tv_sec ||
	    st.st_mtim.tv_nsec != d->mtime.tv_nsec;
}

/*
 * Where the increments of ${r} are: load the directory that holds them
 * into ${d} (if not loaded) and set *name, *nlen to their base name.
 * ${altname} (32 bytes) holds the base of an alternate name.
 */
static int
hist_locate(struct hist_dir *d, int datafd, const struct meta_rec *r,
    char altname[32], const char **name, size_t *nlen)
{
	const char *slash = memrchr(r->path, '/', r->pathlen);
	const char *parent = slash ? r->path : ".";
	size_t plen = slash ? (size_t)(slash - r->path) : 1;

	*name = slash ? slash + 1 : r->path;
	*nlen = r->pathlen - (size_t)(*name - r->path);
	if (r->alt_inc != 0 || r->alt_mirror != 0) {
		/* increments named by number in long_filename_data */
		snprintf(altname, 32, "%llu",
		    (unsigned long long)(r->alt_mirror ? r->alt_mirror :
							 r->alt_inc));
		*name = altname;
		*nlen = strlen(altname);
		parent = ALT_KEY;
		plen = 0;
	}
	if (d->path == NULL || strlen(d->path) != plen ||
	    memcmp(d->path, parent, plen) != 0 || hist_dir_changed(d))
		return hist_dir_load(d, datafd, parent, plen);
	return 0;
}

/* Is ${h} an increment of the base ${name} named with ${t} or later? */
static int
hinc_from(const struct hinc *h, const char *name, size_t nlen, int64_t t)
{
	return h->baselen == nlen && memcmp(h->name, name, nlen) == 0 &&
	    h->time >= t;
}

int
hist_mirror_open(int rootfd, int datafd, const struct meta_rec *r)
{
	char alt[64];

	if (r->alt_mirror != 0) {
		snprintf(alt, sizeof(alt), "long_filename_data/%llu",
		    (unsigned long long)r->alt_mirror);
		return fs_open_beneath(datafd, alt,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
	}
	return fs_open_beneath(rootfd, r->path,
	    O_RDONLY | O_NOFOLLOW | O_NONBLOCK, 0);
}

int
hist_incs_from(struct hist_dir *d, int datafd, const struct meta_rec *r,
    int64_t t, const char **one)
{
	char altname[32];
	const char *name;
	size_t nlen, i;
	int n = 0, rc;

	if (one != NULL)
		*one = NULL;
	if ((rc = hist_locate(d, datafd, r, altname, &name, &nlen)) != 0)
		return rc;
	for (i = 0; i < d->n; i++)
		if (hinc_from(&d->incs[i], name, nlen, t)) {
			if (one != NULL && *one == NULL)
				*one = d->incs[i].name;
			n++;
		}
	return n;
}

int
hist_remove_from(struct hist_dir *d, int datafd, const struct meta_rec *r,
    int64_t t)
{
	char altname[32];
	const char *name;
	size_t nlen, i, o = 0;
	int n = 0, rc;

	if ((rc = hist_locate(d, datafd, r, altname, &name, &nlen)) != 0)
		return rc;
	for (i = 0; i < d->n; i++) {
		if (!hinc_from(&d->incs[i], name, nlen, t)) {
			d->incs[o++] = d->incs[i];
			continue;
		}
		if (unlinkat(d->fd, d->incs[i].name, 0) != 0 &&
		    errno != ENOENT) {
			/* keep what is left listed */
			for (; i < d->n; i++)
				d->incs[o++] = d->incs[i];
			d->n = o;
			return CB_ERR_SYS;
		}
		free(d->incs[i].name);
		n++;
	}
	d->n = o;
	if (n > 0 && fsync(d->fd) != 0)
		return CB_ERR_SYS;
	return n;
}

int
hist_file_at(struct hist_dir *d, int rootfd, int datafd,
    const struct meta_rec *r, int64_t t, int *outfd)
{
	const char *name;
	size_t nlen;
	char altname[32];
	struct hinc **chain = NULL;
	size_t n = 0, i, k;
	int base = -1, rc = 0;

	*outfd = -1;
	if ((rc = hist_locate(d, datafd, r, altname, &name, &nlen)) != 0)
		return rc;
	if (d->n > 0 && (chain = calloc(d->n, sizeof(*chain))) == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < d->n; i++)
		if (hinc_from(&d->incs[i], name, nlen, t))
			chain[n++] = &d->incs[i];
	if (n > 1)
		qsort(chain, n, sizeof(*chain), hinc_cmp);
	/* Diffs from the oldest; the first non-diff (or the mirror) is the base. */
	for (k = 0; k < n && chain[k]->ext == INC_DIFF; k++)
		;
	if (k < n) {
		if (chain[k]->ext != INC_SNAPSHOT) {
			/* A .missing or .dir: rdiff-backup gives an empty file. */
			free(chain);
			*outfd = scratch_fd();
			return *outfd < 0 ? CB_ERR_SYS : 0;
		}
		base = openat(d->fd, chain[k]->name,
		    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
		if (base >= 0 && chain[k]->gz) {
			int un = scratch_fd();

			if (un < 0 ||
			    (rc = delta_gunzip_copy(base, un,
				 step_max(d, k, r->size))) != 0) {
				rc = rc ? rc : CB_ERR_SYS;
				close(base);
				if (un >= 0)
					close(un);
				free(chain);
				return rc;
			}
			close(base);
			base = un;
		}
	} else
		base = hist_mirror_open(rootfd, datafd, r);
	if (base < 0) {
		free(chain);
		return CB_ERR_SYS;
	}
	/* Newest diff first, back to the one named with time t: in one pass
	 * if the map of pieces stays small, else one diff at a time. */
	if (k > 1)
		rc = patch_at_once(d, chain, k, base, r->size, outfd);
	if (k <= 1 || rc == CB_ERR_TOO_LARGE)
		rc = patch_in_turn(d, chain, k, dup(base), r->size, outfd);
	close(base);
	free(chain);
	return rc;
}

static int
unhex(const char *s, uint8_t out[20])
{
	int i;

	for (i = 0; i < 20; i++) {
		unsigned v;

		if (sscanf(s + 2 * i, "%2x", &v) != 1)
			return 0;
		out[i] = (uint8_t)v;
	}
	return 1;
}

int
hist_recorded_digest(struct linkmap *groups, const struct meta_rec *m,
    uint8_t out[20])
{
	char hex[41] = "";
	const char *first = NULL;

	if (m->nlink > 1) {
		if (m->has_sha1) {
			meta_sha1_hex(m->sha1, hex);
			hex[40] = '\0';
		}
		if (linkmap_visit(groups, m->devloc, m->inode, m->nlink, hex,
			&first) != 0)
			fatal("out of memory");
		if (first != NULL)
			return first[0] != '\0' && unhex(first, out) ? 2 : 0;
	}
	memcpy(out, m->sha1, 20);
	return m->has_sha1;
}

void
hist_view_close(struct hist_view *v)
{
	delta_chain_free(v->chain);
	if (v->base >= 0)
		close(v->base);
	if (v->lit >= 0)
		close(v->lit);
	v->chain = NULL;
	v->base = v->lit = -1;
}

/* The chain of ${r}'s increments named with a time in [t, until), oldest
 * first, in *chain (caller frees) and *n. */
static int
hist_chain(struct hist_dir *d, int datafd, const struct meta_rec *r, int64_t t,
    int64_t until, struct hinc ***chain, size_t *n)
{
	const char *name;
	size_t nlen, i;
	char altname[32];
	int rc;

	*chain = NULL;
	*n = 0;
	if ((rc = hist_locate(d, datafd, r, altname, &name, &nlen)) != 0)
		return rc;
	if (d->n > 0 && (*chain = calloc(d->n, sizeof(**chain))) == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < d->n; i++)
		if (hinc_from(&d->incs[i], name, nlen, t) &&
		    d->incs[i].time < until)
			(*chain)[(*n)++] = &d->incs[i];
	if (*n > 1)
		qsort(*chain, *n, sizeof(**chain), hinc_cmp);
	return 0;
}

int
hist_file_view(struct hist_dir *d, int datafd, int mirrorfd,
    const struct meta_rec *r, int64_t t, int64_t until, struct hist_view *v)
{
	struct hinc **chain;
	size_t n, k, i;
	int rc, fd, whole;

	v->chain = NULL;
	v->base = v->lit = -1;
	if ((rc = hist_chain(d, datafd, r, t, until, &chain, &n)) != 0)
		return rc;
	for (k = 0; k < n && chain[k]->ext == INC_DIFF; k++)
		;
	if (k < n && chain[k]->ext != INC_SNAPSHOT) {
		/* A .missing or .dir: rdiff-backup gives an empty file. */
		free(chain);
		v->base = scratch_fd();
		return v->base < 0 ? CB_ERR_SYS : 0;
	}
	if (k < n) {
		fd = open_inc(d, chain[k]);
		if (fd >= 0 && chain[k]->gz) {
			/* no access points in gzip: the snapshot whole */
			if ((v->base = scratch_fd()) < 0 ||
			    (rc = delta_gunzip_copy(fd, v->base,
				 step_max(d, k, r->size))) != 0)
				rc = rc ? rc : CB_ERR_SYS;
			close(fd);
		} else
			v->base = fd;
	} else if (mirrorfd >= 0)
		v->base = dup(mirrorfd);
	if (rc == 0 && v->base < 0)
		rc = CB_ERR_SYS;
	if (rc == 0 && k > 0 && (v->lit = scratch_fd()) < 0)
		rc = CB_ERR_SYS;
	if (rc == 0 && k > 0)
		rc = delta_chain_new(&v->chain, v->base, v->lit);
	for (i = k; rc == 0 && i-- > 0;) {
		if ((fd = open_inc(d, chain[i])) < 0) {
			rc = CB_ERR_SYS;
			break;
		}
		rc = delta_chain_add(v->chain, fd, chain[i]->gz,
		    step_max(d, i, r->size));
		close(fd);
	}
	if (rc == 0 && v->chain != NULL)
		rc = delta_chain_seal(v->chain);
	if (rc == CB_ERR_TOO_LARGE && v->chain != NULL) {
		/* copies too scattered for a map: the version whole, one
		 * diff at a time */
		delta_chain_free(v->chain);
		close(v->lit);
		v->chain = NULL;
		v->lit = -1;
		whole = dup(v->base);
		rc = patch_in_turn(d, chain, k, whole, r->size, &fd);
		close(v->base);
		v->base = fd;
	}
	free(chain);
	if (rc != 0)
		hist_view_close(v);
	return rc;
}
