#include "fsutil.h"
#include "walk.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "aclblob.h"
#include "cb_err.h"
#include "idmap.h"
#include "log.h"
#include "select.h"
#include "strbuf.h"

#define WALK_XATTR_LIST_MAX 65536

struct wframe {
	int fd;
	char **names;
	size_t n;
	size_t i;
	size_t pathlen; /* length of this dir's path in w->path ("" for root) */
	int pending;	/* scanned: its entry is held back in pent */
	struct msg_entry pent; /* until something inside is selected */
};

#define IDCACHE_SIZE 1024

struct idcache_ent {
	int valid;
	uint32_t id;
	char *name; /* NULL: no such id */
};

struct walk {
	int rootfd;
	int cwdfd; /* the working directory (fchdir), or -1 */
	unsigned flags;
	int started;
	struct wframe *stack;
	size_t depth;
	size_t cap;
	struct strbuf path;
	struct select *sel;    /* borrowed; NULL: everything */
	struct msg_entry held; /* selected while scanned parents were due */
	int has_held;
	struct idcache_ent users[IDCACHE_SIZE];
	struct idcache_ent groups[IDCACHE_SIZE];
};

/* Names of ids, looked up once each (NSS is slow). */
static const char *
id_name(struct walk *w, int is_group, uint32_t id)
{
	struct idcache_ent *c =
	    &(is_group ? w->groups : w->users)[id % IDCACHE_SIZE];
	const char *nm = NULL;

	if (c->valid && c->id == id)
		return c->name;
	free(c->name);
	c->name = NULL;
	nm = is_group ? idmap_group_name(id) : idmap_user_name(id);
	c->valid = 1;
	c->id = id;
	/* Only names the metadata format can carry. */
	if (nm != NULL && nm[0] != '\0' && strpbrk(nm, " \t\n:") == NULL &&
	    strlen(nm) <= 256)
		c->name = strdup(nm);
	return c->name;
}

/* A name the ACL file cannot carry ('#' starts a comment there): the
 * number instead. */
static const char *
acl_name_cb(int is_group, uint32_t id, void *arg)
{
	const char *nm = id_name(arg, is_group, id);

	return nm != NULL && meta_acl_qual_ok(nm) ? nm : NULL;
}

int
walk_open(int rootfd, unsigned flags, struct walk **out)
{
	struct walk *w;

	if ((w = calloc(1, sizeof(*w))) == NULL)
		return CB_ERR_NOMEM;
	w->rootfd = rootfd;
	w->cwdfd = -1;
	w->flags = flags;
	strbuf_init(&w->path);
	msg_entry_init(&w->held);
	*out = w;
	return 0;
}

void
walk_set_select(struct walk *w, struct select *sel)
{
	w->sel = sel;
}

void
walk_free(struct walk *w)
{
	size_t i;

	if (w == NULL)
		return;
	while (w->depth > 0) {
		struct wframe *f = &w->stack[--w->depth];

		if (f->fd != w->rootfd)
			close(f->fd);
		fs_free_names(f->names, f->n);
		msg_entry_clear(&f->pent);
	}
	msg_entry_clear(&w->held);
	free(w->stack);
	strbuf_release(&w->path);
	for (i = 0; i < IDCACHE_SIZE; i++) {
		free(w->users[i].name);
		free(w->groups[i].name);
	}
	free(w);
}

static int
xattr_cmp(const void *a, const void *b)
{
	return strcmp(((const struct meta_xattr *)a)->name,
	    ((const struct meta_xattr *)b)->name);
}

/* One attribute's value; ENODATA (vanished) gives *skip = 1. */
static int
get_one_xattr(const char *path, const char *name, struct meta_xattr *x,
    int *skip)
{
	ssize_t n;
	uint8_t *v;

	*skip = 0;
	n = lgetxattr(path, name, NULL, 0);
	if (n < 0 && errno == ENODATA) {
		*skip = 1;
		return 0;
	}
	if (n < 0)
		return CB_ERR_SYS;
	if (n > META_XATTR_VALUE_MAX) {
		errno = E2BIG;
		return CB_ERR_SYS;
	}
	if ((v = malloc((size_t)n + 1)) == NULL)
		return CB_ERR_NOMEM;
	n = lgetxattr(path, name, v, (size_t)n);
	if (n < 0) {
		free(v);
		if (errno == ENODATA) {
			*skip = 1;
			return 0;
		}
		return CB_ERR_SYS;
	}
	if ((x->name = strdup(name)) == NULL) {
		free(v);
		return CB_ERR_NOMEM;
	}
	x->value = v;
	x->vlen = (size_t)n;
	return 0;
}

static int
add_acl(struct walk *w, const char *path, const char *name, int is_default,
    struct meta_rec *r)
{
	uint8_t buf[4 + 8 * 256];
	ssize_t n = lgetxattr(path, name, buf, sizeof(buf));

	if (n < 0)
		return errno == ENODATA ? 0 : CB_ERR_SYS;
	return aclblob_parse(buf, (size_t)n, is_default, acl_name_cb, w, r);
}

/*
 * A directory with only a default ACL: its access ACL is the mode, but
 * the ACL record lists it explicitly (as rdiff-backup and getfacl do).
 * (fill_stat has set r->perms before this runs.)
 */
static int
add_basic_acl(struct meta_rec *r)
{
	static const uint8_t tags[3] = { ACLT_USER_OBJ, ACLT_GROUP_OBJ,
		ACLT_OTHER };
	struct meta_acl_entry *na;
	size_t i;

	na = realloc(r->acl, (r->nacl + 3) * sizeof(*na));
	if (na == NULL)
		return CB_ERR_NOMEM;
	r->acl = na;
	for (i = 0; i < 3; i++) {
		struct meta_acl_entry *a = &r->acl[r->nacl++];

		memset(a, 0, sizeof(*a));
		a->tag = tags[i];
		a->perm = (uint8_t)((r->perms >> (6 - 3 * i)) & 7);
	}
	return 0;
}

/*
 * Extended attributes and ACLs of ${path} (a /proc/self/fd/N/name path:
 * the directory is pinned by its fd, the last component not followed).
 */
static int
read_xattrs(struct walk *w, const char *path, struct meta_rec *r)
{
	char *list = NULL, *p;
	ssize_t len;
	size_t cnt = 0;
	int has_acc = 0, has_def = 0, skip, rv = 0;

	len = llistxattr(path, NULL, 0);
	if (len < 0)
		return (errno == ENOTSUP) ? 0 : CB_ERR_SYS;
	if (len == 0)
		return 0;
	if (len > WALK_XATTR_LIST_MAX) {
		errno = E2BIG;
		return CB_ERR_SYS;
	}
	if ((list = malloc((size_t)len + 1)) == NULL)
		return CB_ERR_NOMEM;
	if ((len = llistxattr(path, list, (size_t)len)) < 0) {
		rv = CB_ERR_SYS;
		goto out;
	}
	list[len] = '\0';
	for (p = list; p < list + len; p += strlen(p) + 1)
		cnt++;
	if (cnt > META_XATTRS_MAX) {
		errno = E2BIG;
		rv = CB_ERR_SYS;
		goto out;
	}
	if ((r->xattrs = calloc(cnt ? cnt : 1, sizeof(*r->xattrs))) == NULL) {
		rv = CB_ERR_NOMEM;
		goto out;
	}
	for (p = list; p < list + len; p += strlen(p) + 1) {
		if (strcmp(p, "system.posix_acl_access") == 0)
			has_acc = 1;
		else if (strcmp(p, "system.posix_acl_default") == 0)
			has_def = 1;
		if (strncmp(p, "system.", 7) == 0 || p[0] == '\0' ||
		    (w->flags & WALK_NO_EAS))
			continue;
		if ((rv = get_one_xattr(path, p, &r->xattrs[r->nxattrs],
			 &skip)) != 0)
			goto out;
		if (!skip)
			r->nxattrs++;
	}
	qsort(r->xattrs, r->nxattrs, sizeof(*r->xattrs), xattr_cmp);
	if (w->flags & WALK_NO_ACLS)
		has_acc = has_def = 0;
	if (has_acc &&
	    (rv = add_acl(w, path, "system.posix_acl_access", 0, r)) != 0)
		goto out;
	if (!has_acc && has_def && (rv = add_basic_acl(r)) != 0)
		goto out;
	if (has_def &&
	    (rv = add_acl(w, path, "system.posix_acl_default", 1, r)) != 0)
		goto out;
out:
	free(list);
	return rv;
}

/* Fill the stat-derived fields of ${r}. */
static void
fill_stat(struct walk *w, const struct stat *st, struct meta_rec *r)
{
	const char *nm;

	if (S_ISREG(st->st_mode))
		r->type = META_REG;
	else if (S_ISDIR(st->st_mode))
		r->type = META_DIR;
	else if (S_ISLNK(st->st_mode))
		r->type = META_SYM;
	else if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
		r->type = META_DEV;
	else if (S_ISFIFO(st->st_mode))
		r->type = META_FIFO;
	else
		r->type = META_SOCK;
	r->perms = (uint32_t)(st->st_mode & 07777);
	r->uid = st->st_uid;
	r->gid = st->st_gid;
	r->mtime = (int64_t)st->st_mtim.tv_sec;
	if (r->type == META_REG) {
		r->size = (uint64_t)st->st_size;
		if (st->st_nlink > 1) {
			r->nlink = st->st_nlink;
			r->inode = st->st_ino;
			r->devloc = st->st_dev;
		}
	}
	if (r->type == META_DEV) {
		r->dev_kind = S_ISCHR(st->st_mode) ? 'c' : 'b';
		r->dev_major = major(st->st_rdev);
		r->dev_minor = minor(st->st_rdev);
	}
	if ((nm = id_name(w, 0, st->st_uid)) != NULL)
		r->uname = strdup(nm);
	if ((nm = id_name(w, 1, st->st_gid)) != NULL)
		r->gname = strdup(nm);
}

static int
push_dir(struct walk *w, int fd, size_t pathlen)
{
	struct wframe *f;
	int r;

	if (w->depth == w->cap) {
		size_t ncap = w->cap ? w->cap * 2 : 16;
		struct wframe *ns = realloc(w->stack, ncap * sizeof(*ns));

		if (ns == NULL)
			return CB_ERR_NOMEM;
		w->stack = ns;
		w->cap = ncap;
	}
	f = &w->stack[w->depth];
	memset(f, 0, sizeof(*f));
	msg_entry_init(&f->pent);
	f->fd = fd;
	f->pathlen = pathlen;
	if ((r = fs_list_names(fd, &f->names, &f->n)) != 0)
		return r;
	w->depth++;
	return 0;
}

static void
set_error(struct msg_entry *e, int err)
{
	e->flags |= ENTRY_ERROR;
	e->err = (uint32_t)err;
}

/* examine's answers besides 0 and errors */
#define EXAMINE_SKIP 1 /* not selected */
#define EXAMINE_SCAN 2 /* a scanned directory, pushed, entry held back */

static int
selected(struct walk *w, int dirfd, const char *name, const struct stat *st)
{
	struct select_entry se;

	if (w->sel == NULL)
		return SEL_INCLUDE;
	se.rel = w->path.buf;
	se.rlen = w->path.len;
	se.st = st;
	se.dirfd = dirfd;
	se.name = name;
	return select_eval(w->sel, &se);
}

/* Describe ${name} in the directory ${dirfd}; descend into directories. */
static int
examine(struct walk *w, int dirfd, const char *name, struct msg_entry *e)
{
	struct meta_rec *r = &e->rec;
	char pp[64 + 256];
	struct stat st;
	int fd, rv, sel;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) != 0) {
		if (selected(w, dirfd, name, NULL) != SEL_INCLUDE)
			return EXAMINE_SKIP;
		set_error(e, errno);
		return 0;
	}
	sel = selected(w, dirfd, name, &st);
	if (sel == SEL_EXCLUDE || (sel == SEL_SCAN && !S_ISDIR(st.st_mode)))
		return EXAMINE_SKIP;
	fill_stat(w, &st, r);
	/* The directory is pinned by its fd; made the working directory
	 * (once per directory), its entries resolve by their bare name. */
	if (w->cwdfd != dirfd && fchdir(dirfd) == 0)
		w->cwdfd = dirfd;
	if (w->cwdfd == dirfd)
		snprintf(pp, sizeof(pp), "%s", name);
	else
		snprintf(pp, sizeof(pp), "/proc/self/fd/%d/%s", dirfd, name);
	if (r->type == META_SYM) {
		char target[META_PATH_MAX + 1];
		ssize_t n = readlinkat(dirfd, name, target, sizeof(target));

		if (n <= 0 || (size_t)n > META_PATH_MAX) {
			set_error(e, n < 0 ? errno : ENAMETOOLONG);
			return 0;
		}
		if ((r->symdata = malloc((size_t)n + 1)) == NULL)
			return CB_ERR_NOMEM;
		memcpy(r->symdata, target, (size_t)n);
		r->symdata[n] = '\0';
		r->symlen = (size_t)n;
	}
	if ((rv = read_xattrs(w, pp, r)) != 0) {
		if (rv == CB_ERR_NOMEM)
			return rv;
		set_error(e, errno);
		return 0;
	}
	if (r->type != META_DIR)
		return 0;
	fd = openat(dirfd, name,
	    O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (sel == SEL_SCAN)
			return EXAMINE_SKIP;
		set_error(e, errno);
		return 0;
	}
	if ((rv = push_dir(w, fd, w->path.len)) != 0) {
		close(fd);
		if (rv == CB_ERR_NOMEM)
			return rv;
		if (sel == SEL_SCAN)
			return EXAMINE_SKIP;
		set_error(e, errno);
		return 0;
	}
	return sel == SEL_SCAN ? EXAMINE_SCAN : 0;
}

static int
walk_root(struct walk *w, struct msg_entry *e)
{
	struct stat st;
	char pp[64];
	int rv;

	w->started = 1;
	if ((rv = strbuf_addstr(&w->path, ".")) != 0)
		return rv;
	if ((e->rec.path = strdup(".")) == NULL)
		return CB_ERR_NOMEM;
	e->rec.pathlen = 1;
	if (fstat(w->rootfd, &st) != 0) {
		set_error(e, errno);
		return 0;
	}
	fill_stat(w, &st, &e->rec);
	snprintf(pp, sizeof(pp), "/proc/self/fd/%d", w->rootfd);
	if ((rv = read_xattrs(w, pp, &e->rec)) != 0 ||
	    (rv = push_dir(w, w->rootfd, 0)) != 0) {
		if (rv == CB_ERR_NOMEM)
			return rv;
		set_error(e, errno);
	}
	strbuf_reset(&w->path);
	return 0;
}

/* Move an entry without copying its allocations. */
static void
entry_move(struct msg_entry *dst, struct msg_entry *src)
{
	*dst = *src;
	msg_entry_init(src);
}

/* The outermost scanned directory still held back, or NULL. */
static struct wframe *
first_pending(struct walk *w)
{
	size_t i;

	for (i = 0; i < w->depth; i++)
		if (w->stack[i].pending)
			return &w->stack[i];
	return NULL;
}

int
walk_next(struct walk *w, struct msg_entry *e)
{
	struct wframe *f;
	const char *name;
	size_t base;
	int rv;

	msg_entry_clear(e);
	if (!w->started)
		return walk_root(w, e);
	/* Scanned directories go out before what was selected inside. */
	if (w->has_held) {
		if ((f = first_pending(w)) != NULL) {
			entry_move(e, &f->pent);
			f->pending = 0;
			return 0;
		}
		entry_move(e, &w->held);
		w->has_held = 0;
		return 0;
	}
	for (;;) {
		f = w->depth ? &w->stack[w->depth - 1] : NULL;
		if (f == NULL)
			return CB_ERR_EOF;
		if (f->i == f->n) {
			if (f->fd == w->cwdfd)
				w->cwdfd = -1; /* its number may come back */
			if (f->fd != w->rootfd)
				close(f->fd);
			fs_free_names(f->names, f->n);
			msg_entry_clear(&f->pent); /* nothing inside: dropped */
			w->depth--;
			continue;
		}
		name = f->names[f->i++];
		/* The repository's own data directory is never backed up. */
		if (w->depth == 1 && strcmp(name, "rdiff-backup-data") == 0)
			continue;
		w->path.len = f->pathlen;
		base = f->pathlen;
		if (base > 0 && (rv = strbuf_addch(&w->path, '/')) != 0)
			return rv;
		if ((rv = strbuf_addstr(&w->path, name)) != 0)
			return rv;
		if (w->path.len > META_PATH_MAX) {
			log_warn("skipping '%s': path longer than %d bytes",
			    log_quote(w->path.buf, w->path.len), META_PATH_MAX);
			continue;
		}
		if ((e->rec.path = malloc(w->path.len + 1)) == NULL)
			return CB_ERR_NOMEM;
		memcpy(e->rec.path, w->path.buf, w->path.len + 1);
		e->rec.pathlen = w->path.len;
		rv = examine(w, f->fd, name, e);
		if (rv < 0)
			return rv;
		if (rv == EXAMINE_SKIP) {
			msg_entry_clear(e);
			continue;
		}
		if (rv == EXAMINE_SCAN) {
			f = &w->stack[w->depth - 1]; /* its own, just pushed */
			entry_move(&f->pent, e);
			f->pending = 1;
			continue;
		}
		break;
	}
	if (first_pending(w) == NULL)
		return 0;
	entry_move(&w->held, e);
	w->has_held = 1;
	return walk_next(w, e);
}
