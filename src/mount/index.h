#ifndef MOUNT_INDEX_H
#define MOUNT_INDEX_H

/*
 * The index of one session for capback mount (docs/design.md, "capback
 * mount"): the tree as of that session, decoded once from the metadata
 * chain into a file of the mount's cache, and read from there with pread
 * (nothing of it is held in memory).  Layout, in the host's byte order
 * (the cache is local and derived: a file that does not check out is
 * rebuilt):
 *   head   struct idx_head
 *   ents   struct idx_ent[nent], in record order (a directory before
 *          what it holds; entry 0 is the root ".")
 *   kids   uint32_t entry numbers: each directory's children, sorted by
 *          name, at [kids, kids + nkids) of its entry
 *   heap   each entry's blob: u16 name length, name, u32 symlink target
 *          length, target, u64 alternate mirror number, u64 alternate
 *          increment number, u32 xattr count, then per xattr u16 name
 *          length, name, u32 value length, value; u32 length and the
 *          access ACL's xattr value, u32 length and the default ACL's
 * Every number read back is checked against the file's sizes.
 */
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define IDX_MAGIC "CBMIDX01"

struct idx_head {
	char magic[8];
	int64_t time;
	uint64_t key[4]; /* the session's metadata files, as idx_key */
	uint64_t nent, nkids, heaplen;
	uint64_t off_kids, off_heap;
};

struct idx_ent {
	uint64_t size; /* regular files */
	int64_t mtime; /* seconds */
	uint64_t heap; /* offset of the blob in the heap */
	uint32_t heaplen;
	uint32_t mode;	   /* S_IFMT | permissions */
	uint32_t uid, gid; /* as restore --at sets them (owners by name) */
	uint32_t nlink;	   /* as restore --at makes them */
	uint32_t rdev_major, rdev_minor;
	uint32_t parent;
	uint32_t kids, nkids; /* directories */
	uint32_t link;	      /* the first entry of its hard-link group */
	uint32_t flags;
};

/* idx_ent.flags */
#define IDX_HAS_SHA1 0x1u
#define IDX_LINKED   0x2u /* one of a hard-link group */

struct idx {
	int fd;
	struct idx_head h;
};

/*
 * idx_key(datafd, t, key): what identifies session ${t} (inode, size and
 * modification time of its statistics file, written once at its end; of
 * its metadata files where it has none, folded): a cached index whose key
 * differs is built again.  0, or CB_ERR_SYS with ENOENT when session ${t}
 * has no metadata file.
 */
int idx_key(int datafd, int64_t t, uint64_t key[4]);

/*
 * idx_ent_of(r, e): the attributes of record ${r} as the index keeps them
 * (owners mapped by name as restore maps them); the index's own fields
 * (heap, parent, kids, link) zero, a directory's link count 2.
 */
struct meta_rec;
void idx_ent_of(const struct meta_rec *r, struct idx_ent *e);

/*
 * idx_build(datafd, t, key, cachefd, name, bad):
 * Decode session ${t} (mdhist_open) into the index file ${name} beneath
 * ${cachefd} (written aside, renamed into place).  Records that cannot be
 * placed in the tree (no parent, out of order) are left out and counted
 * in *bad.  0, or an error of mdhist or CB_ERR_SYS.
 */
int idx_build(int datafd, int64_t t, const uint64_t key[4], int cachefd,
    const char *name, unsigned long *bad);

/*
 * idx_open(ix, cachefd, name, t, key): open the index if it is one of
 * session ${t} with ${key} (key NULL: any); 0, CB_ERR_SYS (ENOENT: none),
 * CB_ERR_CORRUPT (a stale or damaged one: build it again).
 */
int idx_open(struct idx *ix, int cachefd, const char *name, int64_t t,
    const uint64_t key[4]);
/* idx_from_fd(ix, fd): the same for an open file (fd owned), no key. */
int idx_from_fd(struct idx *ix, int fd);
void idx_close(struct idx *ix);

/* idx_ent(ix, i, e): entry ${i}; 0 or CB_ERR_CORRUPT. */
int idx_ent(const struct idx *ix, uint64_t i, struct idx_ent *e);

/* idx_kid(ix, e, k, out): the ${k}th child of directory ${e}. */
int idx_kid(const struct idx *ix, const struct idx_ent *e, uint32_t k,
    uint32_t *out);

/* idx_kids(ix, e, from, n, out): ${n} children of ${e} from the
 * ${from}th, in one read; 0 or CB_ERR_CORRUPT. */
int idx_kids(const struct idx *ix, const struct idx_ent *e, uint32_t from,
    size_t n, uint32_t *out);

/* idx_name(ix, e, buf): ${e}'s name into ${buf} (META_NAME_MAX + 1
 * bytes, NUL-terminated) in one read; its length or -1. */
ssize_t idx_name(const struct idx *ix, const struct idx_ent *e, char *buf);

/*
 * idx_blob(ix, e, buf): the blob of ${e} into ${buf} (malloc'd, caller
 * frees) and its parts into *b.  0, CB_ERR_CORRUPT, CB_ERR_NOMEM.
 */
struct idx_blob {
	uint8_t *buf;
	const char *name;
	size_t namelen;
	const char *target;
	size_t targetlen;
	uint64_t alt_mirror, alt_inc;
	uint32_t nxattrs;
	const uint8_t *xattrs; /* as stored; idx_xattr_next walks them */
	size_t xattrslen;
	const uint8_t *acl[2]; /* access, default; NULL when none */
	size_t acllen[2];
};
int idx_blob(const struct idx *ix, const struct idx_ent *e, struct idx_blob *b);
void idx_blob_free(struct idx_blob *b);

/*
 * idx_blob_of(r, scratchdir, b): the blob record ${r} would have in an
 * index (its name empty), made through an unnamed file in ${scratchdir}:
 * a session's root before its index is built.  As idx_blob, and
 * CB_ERR_SYS.
 */
int idx_blob_of(const struct meta_rec *r, int scratchdir, struct idx_blob *b);

/*
 * idx_xattr_next(b, pos, name, nlen, val, vlen): the xattr at *pos of
 * ${b}'s list (start with 0), *pos moved past it; 1, 0 at the end.
 */
int idx_xattr_next(const struct idx_blob *b, size_t *pos, const char **name,
    size_t *nlen, const uint8_t **val, size_t *vlen);

/*
 * idx_lookup(ix, dir, name, nlen, out): the child ${name} of directory
 * entry ${dir} (binary search of its sorted children).  0 and *out, 1 if
 * there is none, CB_ERR_CORRUPT.
 */
int idx_lookup(const struct idx *ix, uint32_t dir, const char *name,
    size_t nlen, uint32_t *out);

/*
 * idx_walk(ix, path, plen, out): the entry of the relative ${path} ("."
 * the root), a lookup per component; as idx_lookup.
 */
int
idx_walk(const struct idx *ix, const char *path, size_t plen, uint32_t *out);

/*
 * idx_path(ix, i, buf, cap): the relative path of entry ${i} ("." for
 * the root) into ${buf}; its length, or -1 (too long, a loop).
 */
ssize_t idx_path(const struct idx *ix, uint32_t i, char *buf, size_t cap);

#endif
