/*
 * The per-session index of capback mount (index.h): built by one pass of
 * mdhist over the session's records, read with pread and bounds-checked.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "aclblob.h"
#include "cb_err.h"
#include "fsutil.h"
#include "idmap.h"
#include "index.h"
#include "mdhist.h"
#include "meta.h"
#include "timespec.h"

_Static_assert(sizeof(struct idx_head) == 88, "index head layout");
_Static_assert(sizeof(struct idx_ent) == 72, "index entry layout");

#define WBUF	  ((size_t)1 << 16)
#define ENT_NONE  UINT32_MAX
#define ENTS_MAX  ((uint64_t)1 << 31)
#define BLOB_MAX  ((uint32_t)1 << 27) /* 1024 xattrs of 64 KiB, names */
#define IDX_DEPTH \
	2050 /* the root and the 2048 directories a path of
			* 4096 bytes can cross, and one to spare */

/* ---- the key --------------------------------------------------------- */

/* Fold the identity of ${name} beneath ${datafd} into ${key}. */
static int
key_add(int datafd, const char *name, unsigned tag, uint64_t key[4])
{
	struct stat st;

	if (fstatat(datafd, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
		return 0;
	/* folded so that the order of the listing does not count */
	key[0] += (uint64_t)st.st_ino * 0x9e3779b97f4a7c15ULL;
	key[1] += (uint64_t)st.st_size ^ ((uint64_t)tag << 56);
	key[2] += (uint64_t)st.st_mtim.tv_sec;
	key[3] += (uint64_t)st.st_mtim.tv_nsec + (uint64_t)st.st_dev;
	return 1;
}

int
idx_key(int datafd, int64_t t, uint64_t key[4])
{
	static const char stats[] = "session_statistics.";
	struct repo_entry *scan;
	size_t n, i, found = 0, meta = 0;
	int r;

	memset(key, 0, 4 * sizeof(*key));
	if ((r = repo_scan(datafd, &scan, &n)) != 0)
		return r;
	/*
	 * A session's statistics file is written once, at its end: its
	 * identity stays when the next backup turns the session's metadata
	 * snapshot into a diff (which would otherwise cost a rebuild each
	 * night).  Without one (an older rdiff-backup), the metadata files.
	 */
	for (i = 0; i < n && !found; i++)
		if (scan[i].inc.time == t &&
		    strncmp(scan[i].name, stats, sizeof(stats) - 1) == 0)
			found = key_add(datafd, scan[i].name, 15, key);
	for (i = 0; i < n; i++) {
		if ((scan[i].base != RB_MIRROR_METADATA &&
			scan[i].base != RB_EA && scan[i].base != RB_ACL) ||
		    scan[i].inc.time != t)
			continue;
		meta += scan[i].base == RB_MIRROR_METADATA;
		if (!found)
			key_add(datafd, scan[i].name, (unsigned)scan[i].base,
			    key);
	}
	repo_scan_free(scan, n);
	if (meta == 0) {
		errno = ENOENT;
		return CB_ERR_SYS;
	}
	return 0;
}

/* ---- writing ----------------------------------------------------------- */

/* A file written through a buffer; entries already written may be
 * patched (a directory's, once its children are known). */
struct wfile {
	int fd;
	uint8_t *buf;
	size_t len;
	uint64_t flushed;
};

static int
w_flush(struct wfile *w)
{
	if (w->len > 0 && fs_pwrite_all(w->fd, w->buf, w->len, w->flushed) != 0)
		return CB_ERR_SYS;
	w->flushed += w->len;
	w->len = 0;
	return 0;
}

static int
w_put(struct wfile *w, const void *p, size_t n)
{
	const uint8_t *s = p;

	while (n > 0) {
		size_t k = WBUF - w->len < n ? WBUF - w->len : n;

		memcpy(w->buf + w->len, s, k);
		w->len += k;
		s += k;
		n -= k;
		if (w->len == WBUF && w_flush(w) != 0)
			return CB_ERR_SYS;
	}
	return 0;
}

static uint64_t
w_size(const struct wfile *w)
{
	return w->flushed + w->len;
}

/* Overwrite ${n} bytes at ${off} (< w_size), in the buffer or the file. */
static int
w_patch(struct wfile *w, uint64_t off, const void *p, size_t n)
{
	const uint8_t *s = p;
	size_t k;

	if (off < w->flushed) {
		/* the part already written; the rest is in the buffer, which
		 * would write its old bytes over the file's at the next flush */
		k = w->flushed - off < n ? (size_t)(w->flushed - off) : n;
		if (fs_pwrite_all(w->fd, s, k, off) != 0)
			return CB_ERR_SYS;
		s += k;
		n -= k;
		off += k;
	}
	memcpy(w->buf + (off - w->flushed), s, n);
	return 0;
}

/* A directory whose children are still coming. */
struct frame {
	uint32_t ent;
	struct idx_ent e;
	char *path;
	size_t plen;
	uint32_t *kids;
	size_t nk, capk;
	uint32_t nsub; /* subdirectories: its link count */
	char *last;    /* the last child's name, for the order */
	size_t lastlen;
};

/* A hard-link group: (devloc, inode) to its first entry and size. */
struct lslot {
	uint64_t devloc, inode;
	uint32_t first, count;
	int used;
};

struct builder {
	struct wfile ents, kids, heap;
	struct frame stack[IDX_DEPTH];
	size_t depth;
	uint64_t nent;
	struct lslot *links;
	size_t nlinks, caplinks;
	unsigned long bad;
};

static void
frame_free(struct frame *f)
{
	free(f->path);
	free(f->kids);
	free(f->last);
	memset(f, 0, sizeof(*f));
}

static uint64_t
link_hash(uint64_t devloc, uint64_t inode)
{
	uint64_t h = devloc * 0x9e3779b97f4a7c15ULL ^ inode;

	return h ^ (h >> 29);
}

/* The group of (devloc, inode): its slot, added if new (first = ent). */
static struct lslot *
link_visit(struct builder *b, uint64_t devloc, uint64_t inode, uint32_t ent)
{
	size_t i;

	if (2 * (b->nlinks + 1) > b->caplinks) {
		size_t cap = b->caplinks ? 2 * b->caplinks : 1024;
		struct lslot *n = calloc(cap, sizeof(*n));

		if (n == NULL)
			return NULL;
		for (i = 0; i < b->caplinks; i++) {
			size_t j;

			if (!b->links[i].used)
				continue;
			j = link_hash(b->links[i].devloc, b->links[i].inode) &
			    (cap - 1);
			while (n[j].used)
				j = (j + 1) & (cap - 1);
			n[j] = b->links[i];
		}
		free(b->links);
		b->links = n;
		b->caplinks = cap;
	}
	i = link_hash(devloc, inode) & (b->caplinks - 1);
	while (b->links[i].used &&
	    (b->links[i].devloc != devloc || b->links[i].inode != inode))
		i = (i + 1) & (b->caplinks - 1);
	if (!b->links[i].used) {
		b->links[i] = (struct lslot){ devloc, inode, ent, 0, 1 };
		b->nlinks++;
	}
	b->links[i].count++;
	return &b->links[i];
}

static uint32_t
map_uid(const struct meta_rec *r)
{
	uint32_t id;

	return r->uname && idmap_user_id(r->uname, &id) == 0 ? id : r->uid;
}

static uint32_t
map_gid(const struct meta_rec *r)
{
	uint32_t id;

	return r->gname && idmap_group_id(r->gname, &id) == 0 ? id : r->gid;
}

static int
put_u16(struct wfile *w, size_t v)
{
	uint16_t x = (uint16_t)v;

	return w_put(w, &x, sizeof(x));
}

static int
put_u32(struct wfile *w, size_t v)
{
	uint32_t x = (uint32_t)v;

	return w_put(w, &x, sizeof(x));
}

static int
put_u64(struct wfile *w, uint64_t v)
{
	return w_put(w, &v, sizeof(v));
}

/* Does ${r} have access entries beyond owner, group and other? */
static int
acl_access_extended(const struct meta_rec *r)
{
	for (size_t i = 0; i < r->nacl; i++)
		if (!r->acl[i].is_default &&
		    (r->acl[i].tag == ACLT_USER ||
			r->acl[i].tag == ACLT_GROUP ||
			r->acl[i].tag == ACLT_MASK))
			return 1;
	return 0;
}

/* The blob of ${r} (name ${name}) appended to the heap. */
static int
put_blob(struct builder *b, const struct meta_rec *r, const char *name,
    size_t nlen)
{
	struct wfile *h = &b->heap;
	int rc = 0;

	rc = rc ? rc : put_u16(h, nlen);
	rc = rc ? rc : w_put(h, name, nlen);
	rc = rc ? rc : put_u32(h, r->type == META_SYM ? r->symlen : 0);
	if (r->type == META_SYM)
		rc = rc ? rc : w_put(h, r->symdata, r->symlen);
	rc = rc ? rc : put_u64(h, r->alt_mirror);
	rc = rc ? rc : put_u64(h, r->alt_inc);
	rc = rc ? rc : put_u32(h, r->nxattrs);
	for (size_t i = 0; rc == 0 && i < r->nxattrs; i++) {
		size_t kl = strlen(r->xattrs[i].name);

		rc = put_u16(h, kl);
		rc = rc ? rc : w_put(h, r->xattrs[i].name, kl);
		rc = rc ? rc : put_u32(h, r->xattrs[i].vlen);
		rc = rc ? rc : w_put(h, r->xattrs[i].value, r->xattrs[i].vlen);
	}
	for (int def = 0; rc == 0 && def <= 1; def++) {
		uint8_t *blob = NULL;
		size_t blen = 0;
		unsigned dropped = 0;

		if ((def || acl_access_extended(r)) &&
		    aclblob_build(r, def, idmap_acl_qual_id, NULL, &blob, &blen,
			&dropped) != 0)
			return CB_ERR_NOMEM;
		rc = put_u32(h, blen);
		rc = rc ? rc : w_put(h, blob, blen);
		free(blob);
	}
	return rc;
}

static uint32_t
rec_mode(const struct meta_rec *r)
{
	switch (r->type) {
	case META_REG: return S_IFREG | r->perms;
	case META_DIR: return S_IFDIR | r->perms;
	case META_SYM: return S_IFLNK | 0777;
	case META_DEV:
		return (r->dev_kind == 'b' ? S_IFBLK : S_IFCHR) | r->perms;
	case META_FIFO: return S_IFIFO | r->perms;
	case META_SOCK: return S_IFSOCK | r->perms;
	default: return 0;
	}
}

void
idx_ent_of(const struct meta_rec *r, struct idx_ent *e)
{
	memset(e, 0, sizeof(*e));
	e->size = r->type == META_REG ? r->size :
	    r->type == META_SYM	      ? r->symlen :
					0;
	e->mtime = r->mtime;
	e->mode = rec_mode(r);
	e->uid = map_uid(r);
	e->gid = map_gid(r);
	e->nlink = r->type == META_DIR ? 2 : 1;
	e->rdev_major = r->dev_major;
	e->rdev_minor = r->dev_minor;
	e->flags = r->has_sha1 ? IDX_HAS_SHA1 : 0;
}

/* Close the directory on top: its children and link count. */
static int
pop_dir(struct builder *b)
{
	struct frame *f = &b->stack[--b->depth];
	int rc = 0;

	f->e.kids = (uint32_t)(w_size(&b->kids) / sizeof(uint32_t));
	f->e.nkids = (uint32_t)f->nk;
	f->e.nlink = 2 + f->nsub;
	if (f->nk > 0)
		rc = w_put(&b->kids, f->kids, f->nk * sizeof(uint32_t));
	if (rc == 0)
		rc = w_patch(&b->ents, (uint64_t)f->ent * sizeof(f->e), &f->e,
		    sizeof(f->e));
	frame_free(f);
	return rc;
}

/* Is ${a} before ${b} as sibling names (bytes, shorter first on a tie)? */
static int
name_before(const char *a, size_t al, const char *b, size_t bl)
{
	int c = memcmp(a, b, al < bl ? al : bl);

	return c < 0 || (c == 0 && al < bl);
}

static int
add_rec(struct builder *b, const struct meta_rec *r)
{
	const char *slash = memrchr(r->path, '/', r->pathlen);
	const char *name = slash ? slash + 1 : r->path;
	size_t nlen = r->pathlen - (size_t)(name - r->path);
	size_t plen = slash ? (size_t)(slash - r->path) : 1;
	const char *parent = slash ? r->path : ".";
	int root = r->pathlen == 1 && r->path[0] == '.';
	struct idx_ent e = { 0 };
	struct frame *top = NULL;
	uint32_t me;
	int rc;

	if (rec_mode(r) == 0 || b->nent >= ENTS_MAX)
		goto bad;
	if (root != (b->nent == 0))
		goto bad; /* the root first, and once */
	/* the parent is on the stack: close the directories it is not in */
	while (!root && b->depth > 0) {
		top = &b->stack[b->depth - 1];
		if (top->plen == plen && memcmp(top->path, parent, plen) == 0)
			break;
		if ((rc = pop_dir(b)) != 0)
			return rc;
		top = NULL;
	}
	if (!root && top == NULL)
		goto bad;
	if (top != NULL && top->last != NULL &&
	    !name_before(top->last, top->lastlen, name, nlen))
		goto bad; /* out of order or twice */
	me = (uint32_t)b->nent;
	idx_ent_of(r, &e);
	e.heap = w_size(&b->heap);
	e.parent = top ? top->ent : 0;
	e.link = me;
	if (r->type == META_REG && r->nlink > 1) {
		struct lslot *s = link_visit(b, r->devloc, r->inode, me);

		if (s == NULL)
			return CB_ERR_NOMEM;
		e.link = s->first;
		e.flags |= IDX_LINKED;
	}
	if ((rc = put_blob(b, r, root ? "" : name, root ? 0 : nlen)) != 0)
		return rc;
	if (w_size(&b->heap) - e.heap > BLOB_MAX)
		return CB_ERR_TOO_LARGE;
	e.heaplen = (uint32_t)(w_size(&b->heap) - e.heap);
	if (top != NULL) {
		if (top->nk == top->capk) {
			size_t cap = top->capk ? 2 * top->capk : 16;
			uint32_t *k = realloc(top->kids, cap * sizeof(*k));

			if (k == NULL)
				return CB_ERR_NOMEM;
			top->kids = k;
			top->capk = cap;
		}
		top->kids[top->nk++] = me;
		free(top->last);
		if ((top->last = malloc(nlen ? nlen : 1)) == NULL)
			return CB_ERR_NOMEM;
		memcpy(top->last, name, nlen);
		top->lastlen = nlen;
		if (r->type == META_DIR)
			top->nsub++;
	}
	if ((rc = w_put(&b->ents, &e, sizeof(e))) != 0)
		return rc;
	b->nent++;
	if (r->type == META_DIR) {
		struct frame *f;

		if (b->depth == IDX_DEPTH) {
			b->bad++; /* listed, its children left out */
			return 0;
		}
		f = &b->stack[b->depth++];
		memset(f, 0, sizeof(*f));
		f->ent = me;
		f->e = e;
		if ((f->path = malloc(r->pathlen)) == NULL)
			return CB_ERR_NOMEM;
		memcpy(f->path, r->path, r->pathlen);
		f->plen = r->pathlen;
	}
	return 0;
bad:
	b->bad++;
	return 0;
}

static int
first_cmp(const void *a, const void *b)
{
	const struct lslot *x = a, *y = b;

	return (x->first > y->first) - (x->first < y->first);
}

/* Hard-link counts: the links of each group present in the session. */
static int
fix_links(struct builder *b)
{
	struct idx_ent e;
	size_t n = 0, lo, hi, mid;

	if (b->nlinks == 0)
		return 0;
	/* the groups by first entry, for a binary search per link */
	for (size_t j = 0; j < b->caplinks; j++)
		if (b->links[j].used)
			b->links[n++] = b->links[j];
	qsort(b->links, n, sizeof(*b->links), first_cmp);
	for (uint64_t i = 0; i < b->nent; i++) {
		uint64_t off = i * sizeof(e);

		if (fs_pread_all(b->ents.fd, &e, sizeof(e), off) != 0)
			return CB_ERR_SYS;
		if (!(e.flags & IDX_LINKED))
			continue;
		for (lo = 0, hi = n; hi - lo > 1;) {
			mid = lo + (hi - lo) / 2;
			if (b->links[mid].first <= e.link)
				lo = mid;
			else
				hi = mid;
		}
		e.nlink = b->links[lo].count;
		if (fs_pwrite_all(b->ents.fd, &e, sizeof(e), off) != 0)
			return CB_ERR_SYS;
	}
	return 0;
}

static int
scratch(int cachefd, struct wfile *w)
{
	w->fd = openat(cachefd, ".", O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
	w->buf = malloc(WBUF);
	w->len = 0;
	w->flushed = 0;
	if (w->fd < 0 || w->buf == NULL)
		return w->fd < 0 ? CB_ERR_SYS : CB_ERR_NOMEM;
	return 0;
}

static void
wfile_release(struct wfile *w)
{
	if (w->fd >= 0)
		close(w->fd);
	free(w->buf);
	w->fd = -1;
	w->buf = NULL;
}

/* ${h} and the three parts into ${name} beneath ${cachefd}. */
static int
assemble(struct builder *b, struct idx_head *h, int cachefd, const char *name)
{
	char tmp[300];
	uint8_t *buf;
	int fd, rc = 0;

	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", name, (long)getpid());
	fd = openat(cachefd, tmp,
	    O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC, 0600);
	if (fd < 0)
		return CB_ERR_SYS;
	if ((buf = malloc(WBUF)) == NULL) {
		close(fd);
		unlinkat(cachefd, tmp, 0);
		return CB_ERR_NOMEM;
	}
	if (fs_write_all(fd, h, sizeof(*h)) != 0 ||
	    fs_copy_range(b->ents.fd, 0, w_size(&b->ents), fd, -1, buf, WBUF) !=
		0 ||
	    fs_copy_range(b->kids.fd, 0, w_size(&b->kids), fd, -1, buf, WBUF) !=
		0 ||
	    fs_copy_range(b->heap.fd, 0, w_size(&b->heap), fd, -1, buf, WBUF) !=
		0)
		rc = CB_ERR_SYS;
	free(buf);
	if (close(fd) != 0 && rc == 0)
		rc = CB_ERR_SYS;
	if (rc == 0 && renameat(cachefd, tmp, cachefd, name) != 0)
		rc = CB_ERR_SYS;
	if (rc != 0)
		unlinkat(cachefd, tmp, 0);
	return rc;
}

int
idx_build(int datafd, int64_t t, const uint64_t key[4], int cachefd,
    const char *name, unsigned long *bad)
{
	struct builder *b;
	struct mdhist *mh = NULL;
	struct meta_rec rec;
	struct idx_head h = { .magic = IDX_MAGIC };
	int rc;

	*bad = 0;
	if ((b = calloc(1, sizeof(*b))) == NULL)
		return CB_ERR_NOMEM;
	b->ents.fd = b->kids.fd = b->heap.fd = -1;
	meta_rec_init(&rec);
	if ((rc = scratch(cachefd, &b->ents)) == 0 &&
	    (rc = scratch(cachefd, &b->kids)) == 0 &&
	    (rc = scratch(cachefd, &b->heap)) == 0)
		rc = mdhist_open(datafd, t, &mh);
	while (rc == 0 && (rc = mdhist_next(mh, &rec)) == 0)
		rc = add_rec(b, &rec);
	if (rc == CB_ERR_EOF)
		rc = b->nent > 0 ? 0 : CB_ERR_CORRUPT;
	while (rc == 0 && b->depth > 0)
		rc = pop_dir(b);
	if (rc == 0 && (rc = w_flush(&b->ents)) == 0 &&
	    (rc = w_flush(&b->kids)) == 0 && (rc = w_flush(&b->heap)) == 0)
		rc = fix_links(b);
	if (rc == 0) {
		h.time = t;
		memcpy(h.key, key, sizeof(h.key));
		h.nent = b->nent;
		h.nkids = w_size(&b->kids) / sizeof(uint32_t);
		h.heaplen = w_size(&b->heap);
		h.off_kids = sizeof(h) + b->nent * sizeof(struct idx_ent);
		h.off_heap = h.off_kids + h.nkids * sizeof(uint32_t);
		rc = assemble(b, &h, cachefd, name);
	}
	*bad = b->bad;
	meta_rec_clear(&rec);
	mdhist_free(mh);
	while (b->depth > 0)
		frame_free(&b->stack[--b->depth]);
	wfile_release(&b->ents);
	wfile_release(&b->kids);
	wfile_release(&b->heap);
	free(b->links);
	free(b);
	return rc;
}

/* ---- reading ----------------------------------------------------------- */

int
idx_from_fd(struct idx *ix, int fd)
{
	struct stat st;
	const struct idx_head *h = &ix->h;

	ix->fd = fd;
	if (fs_pread_all(fd, &ix->h, sizeof(ix->h), 0) != 0 ||
	    fstat(fd, &st) != 0) {
		idx_close(ix);
		return CB_ERR_CORRUPT;
	}
	/* every part where the head says, and the file no longer */
	if (memcmp(h->magic, IDX_MAGIC, 8) != 0 || h->nent == 0 ||
	    h->nent > ENTS_MAX || h->nkids > ENTS_MAX ||
	    h->heaplen > (uint64_t)st.st_size ||
	    h->off_kids != sizeof(*h) + h->nent * sizeof(struct idx_ent) ||
	    h->off_heap != h->off_kids + h->nkids * sizeof(uint32_t) ||
	    h->off_heap + h->heaplen != (uint64_t)st.st_size) {
		idx_close(ix);
		return CB_ERR_CORRUPT;
	}
	return 0;
}

int
idx_open(struct idx *ix, int cachefd, const char *name, int64_t t,
    const uint64_t key[4])
{
	int fd = openat(cachefd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC);
	int rc;

	if (fd < 0) {
		ix->fd = -1;
		return CB_ERR_SYS;
	}
	if ((rc = idx_from_fd(ix, fd)) != 0)
		return rc;
	if (ix->h.time != t ||
	    (key != NULL && memcmp(ix->h.key, key, sizeof(ix->h.key)) != 0)) {
		idx_close(ix);
		return CB_ERR_CORRUPT;
	}
	return 0;
}

void
idx_close(struct idx *ix)
{
	if (ix->fd >= 0)
		close(ix->fd);
	ix->fd = -1;
}

int
idx_ent(const struct idx *ix, uint64_t i, struct idx_ent *e)
{
	if (i >= ix->h.nent ||
	    fs_pread_all(ix->fd, e, sizeof(*e),
		sizeof(ix->h) + i * sizeof(*e)) != 0)
		return CB_ERR_CORRUPT;
	if (e->parent >= ix->h.nent || e->link >= ix->h.nent ||
	    (uint64_t)e->kids + e->nkids > ix->h.nkids ||
	    e->heap > ix->h.heaplen || e->heaplen > ix->h.heaplen - e->heap ||
	    e->heaplen > BLOB_MAX)
		return CB_ERR_CORRUPT;
	return 0;
}

int
idx_kid(const struct idx *ix, const struct idx_ent *e, uint32_t k,
    uint32_t *out)
{
	if (k >= e->nkids ||
	    fs_pread_all(ix->fd, out, sizeof(*out),
		ix->h.off_kids + ((uint64_t)e->kids + k) * sizeof(*out)) != 0 ||
	    *out >= ix->h.nent)
		return CB_ERR_CORRUPT;
	return 0;
}

int
idx_kids(const struct idx *ix, const struct idx_ent *e, uint32_t from, size_t n,
    uint32_t *out)
{
	if ((uint64_t)from + n > e->nkids ||
	    fs_pread_all(ix->fd, out, n * sizeof(*out),
		ix->h.off_kids + ((uint64_t)e->kids + from) * sizeof(*out)) !=
		0)
		return CB_ERR_CORRUPT;
	for (size_t i = 0; i < n; i++)
		if (out[i] >= ix->h.nent)
			return CB_ERR_CORRUPT;
	return 0;
}

ssize_t
idx_name(const struct idx *ix, const struct idx_ent *e, char *buf)
{
	uint8_t b[2 + META_NAME_MAX];
	size_t want = e->heaplen < sizeof(b) ? e->heaplen : sizeof(b);
	uint16_t nl;

	if (want < 2 ||
	    fs_pread_all(ix->fd, b, want, ix->h.off_heap + e->heap) != 0)
		return -1;
	memcpy(&nl, b, 2);
	if (nl > META_NAME_MAX || (size_t)nl + 2 > want)
		return -1;
	memcpy(buf, b + 2, nl);
	buf[nl] = '\0';
	return nl;
}

/* A cursor over a blob: each take checks what is left. */
struct cur {
	const uint8_t *p;
	size_t left;
};

static const uint8_t *
take(struct cur *c, size_t n)
{
	const uint8_t *p = c->p;

	if (n > c->left)
		return NULL;
	c->p += n;
	c->left -= n;
	return p;
}

static int
take_num(struct cur *c, void *out, size_t n)
{
	const uint8_t *p = take(c, n);

	if (p == NULL)
		return 0;
	memcpy(out, p, n);
	return 1;
}

/* Parse the ${len} bytes of ${b->buf} into ${b}'s parts (freed on error). */
static int
blob_parse(struct idx_blob *b, size_t len)
{
	struct cur c;
	uint16_t nl;
	uint32_t tl, al;

	c = (struct cur){ b->buf, len };
	if (!take_num(&c, &nl, 2) ||
	    (b->name = (const char *)take(&c, nl)) == NULL ||
	    !take_num(&c, &tl, 4) ||
	    (b->target = (const char *)take(&c, tl)) == NULL ||
	    !take_num(&c, &b->alt_mirror, 8) || !take_num(&c, &b->alt_inc, 8) ||
	    !take_num(&c, &b->nxattrs, 4))
		goto bad;
	if (nl > META_NAME_MAX || tl > META_PATH_MAX)
		goto bad;
	b->namelen = nl;
	b->targetlen = tl;
	b->xattrs = c.p;
	for (uint32_t i = 0; i < b->nxattrs; i++) {
		if (!take_num(&c, &nl, 2) || nl == 0 ||
		    nl > META_XATTR_NAME_MAX || take(&c, nl) == NULL ||
		    !take_num(&c, &tl, 4) || tl > META_XATTR_VALUE_MAX ||
		    take(&c, tl) == NULL)
			goto bad;
	}
	b->xattrslen = (size_t)(c.p - b->xattrs);
	for (int def = 0; def <= 1; def++) {
		if (!take_num(&c, &al, 4) ||
		    (b->acl[def] = take(&c, al)) == NULL)
			goto bad;
		b->acllen[def] = al;
		if (al == 0)
			b->acl[def] = NULL;
	}
	return 0;
bad:
	idx_blob_free(b);
	return CB_ERR_CORRUPT;
}

int
idx_blob(const struct idx *ix, const struct idx_ent *e, struct idx_blob *b)
{
	memset(b, 0, sizeof(*b));
	if ((b->buf = malloc(e->heaplen ? e->heaplen : 1)) == NULL)
		return CB_ERR_NOMEM;
	if (fs_pread_all(ix->fd, b->buf, e->heaplen,
		ix->h.off_heap + e->heap) != 0) {
		idx_blob_free(b);
		return CB_ERR_CORRUPT;
	}
	return blob_parse(b, e->heaplen);
}

int
idx_blob_of(const struct meta_rec *r, int scratchdir, struct idx_blob *b)
{
	struct builder *bd;
	uint64_t n;
	int rc;

	memset(b, 0, sizeof(*b));
	if ((bd = calloc(1, sizeof(*bd))) == NULL)
		return CB_ERR_NOMEM;
	rc = scratch(scratchdir, &bd->heap);
	if (rc == 0)
		rc = put_blob(bd, r, "", 0);
	if (rc == 0)
		rc = w_flush(&bd->heap);
	n = w_size(&bd->heap);
	if (rc == 0 && n > BLOB_MAX)
		rc = CB_ERR_TOO_LARGE;
	if (rc == 0 && (b->buf = malloc(n ? n : 1)) == NULL)
		rc = CB_ERR_NOMEM;
	if (rc == 0 && fs_pread_all(bd->heap.fd, b->buf, n, 0) != 0)
		rc = CB_ERR_SYS;
	wfile_release(&bd->heap);
	free(bd);
	if (rc != 0) {
		idx_blob_free(b);
		return rc;
	}
	return blob_parse(b, n);
}

void
idx_blob_free(struct idx_blob *b)
{
	free(b->buf);
	memset(b, 0, sizeof(*b));
}

int
idx_xattr_next(const struct idx_blob *b, size_t *pos, const char **name,
    size_t *nlen, const uint8_t **val, size_t *vlen)
{
	struct cur c;
	uint16_t nl;
	uint32_t vl;

	if (*pos >= b->xattrslen)
		return 0;
	c = (struct cur){ b->xattrs + *pos, b->xattrslen - *pos };
	/* idx_blob walked them: these takes succeed */
	if (!take_num(&c, &nl, 2) ||
	    (*name = (const char *)take(&c, nl)) == NULL ||
	    !take_num(&c, &vl, 4) || (*val = take(&c, vl)) == NULL)
		return 0;
	*nlen = nl;
	*vlen = vl;
	*pos = (size_t)(c.p - b->xattrs);
	return 1;
}

/* The name of entry ${i} into ${buf} (NAME_MAX + 1); its length or -1. */
static ssize_t
ent_name(const struct idx *ix, uint32_t i, char *buf)
{
	struct idx_ent e;
	uint16_t nl;

	if (idx_ent(ix, i, &e) != 0 || e.heaplen < 2 ||
	    fs_pread_all(ix->fd, &nl, 2, ix->h.off_heap + e.heap) != 0 ||
	    nl > META_NAME_MAX || (size_t)nl + 2 > e.heaplen ||
	    fs_pread_all(ix->fd, buf, nl, ix->h.off_heap + e.heap + 2) != 0)
		return -1;
	return nl;
}

int
idx_lookup(const struct idx *ix, uint32_t dir, const char *name, size_t nlen,
    uint32_t *out)
{
	struct idx_ent e;
	char kn[META_NAME_MAX + 1];
	uint32_t lo = 0, hi, mid, k;
	ssize_t kl;

	if (idx_ent(ix, dir, &e) != 0 || !S_ISDIR(e.mode))
		return CB_ERR_CORRUPT;
	hi = e.nkids;
	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (idx_kid(ix, &e, mid, &k) != 0 ||
		    (kl = ent_name(ix, k, kn)) < 0)
			return CB_ERR_CORRUPT;
		if ((size_t)kl == nlen && memcmp(kn, name, nlen) == 0) {
			*out = k;
			return 0;
		}
		if (name_before(kn, (size_t)kl, name, nlen))
			lo = mid + 1;
		else
			hi = mid;
	}
	return 1;
}

int
idx_walk(const struct idx *ix, const char *path, size_t plen, uint32_t *out)
{
	const char *p = path, *end = path + plen, *slash;
	uint32_t cur = 0;
	int rc;

	while (p < end && !(plen == 1 && path[0] == '.')) {
		slash = memchr(p, '/', (size_t)(end - p));
		if (slash == NULL)
			slash = end;
		if ((rc = idx_lookup(ix, cur, p, (size_t)(slash - p), &cur)) !=
		    0)
			return rc;
		p = slash + 1;
	}
	*out = cur;
	return 0;
}

ssize_t
idx_path(const struct idx *ix, uint32_t i, char *buf, size_t cap)
{
	char name[META_NAME_MAX + 1];
	size_t pos = cap, depth = 0;
	struct idx_ent e;
	ssize_t nl;

	if (i == 0) {
		if (cap < 2)
			return -1;
		memcpy(buf, ".", 2);
		return 1;
	}
	/* from the entry up, written from the end of ${buf} */
	while (i != 0) {
		if (depth++ > IDX_DEPTH || idx_ent(ix, i, &e) != 0 ||
		    (nl = ent_name(ix, i, name)) < 0 || (size_t)nl + 1 >= pos)
			return -1;
		pos -= (size_t)nl;
		memcpy(buf + pos, name, (size_t)nl);
		if (e.parent != 0)
			buf[--pos] = '/';
		if (e.parent >= i)
			return -1; /* parents come first */
		i = e.parent;
	}
	memmove(buf, buf + pos, cap - pos);
	buf[cap - pos] = '\0';
	return (ssize_t)(cap - pos);
}
