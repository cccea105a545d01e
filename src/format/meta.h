#ifndef META_H
#define META_H

#include <stddef.h>
#include <stdint.h>

/*
 * One path's record in rdiff-backup's metadata files
 * (docs/rdiff-backup-format.md sections 4 and 5): the mirror_metadata
 * fields plus the extended attributes and the POSIX ACL of the path.
 * Paths are raw byte strings relative to the repository root, '/'-separated,
 * "." for the root; they never contain NUL.
 */

enum meta_type {
	META_NONE = 0, /* "Type None": did not exist (diffs only) */
	META_REG,
	META_DIR,
	META_SYM,
	META_DEV, /* dev_kind says 'c' or 'b' */
	META_FIFO,
	META_SOCK,
};

/* Limits applied when parsing files and decoding messages. */
#define META_PATH_MAX	     4096 /* bytes in a relative path */
#define META_NAME_MAX	     255  /* bytes in one path component */
#define META_UNAME_MAX	     256  /* user / group name */
#define META_XATTR_NAME_MAX  255
#define META_XATTR_VALUE_MAX 65536
#define META_XATTRS_MAX	     1024 /* attributes per path */
#define META_ACL_ENTRIES_MAX 1024

struct meta_xattr {
	char *name;	/* owned, NUL-terminated, unquoted */
	uint8_t *value; /* owned, may be NULL when vlen == 0 */
	size_t vlen;
};

enum meta_acl_tag {
	ACLT_USER_OBJ = 1,
	ACLT_USER = 2,
	ACLT_GROUP_OBJ = 4,
	ACLT_GROUP = 8,
	ACLT_MASK = 16,
	ACLT_OTHER = 32,
};

struct meta_acl_entry {
	uint8_t is_default; /* 1 for "default:" entries */
	uint8_t tag;	    /* enum meta_acl_tag */
	uint8_t perm;	    /* bits 4=r 2=w 1=x */
	char *qual; /* owned; name or decimal id for USER/GROUP, else NULL */
};

struct meta_rec {
	char *path; /* owned, NUL-terminated */
	size_t pathlen;
	enum meta_type type;
	uint64_t size;	 /* META_REG */
	uint64_t nlink;	 /* NumHardLinks; 0 or 1 = field absent */
	uint64_t inode;	 /* valid when nlink > 1 */
	uint64_t devloc; /* valid when nlink > 1 */
	int has_sha1;
	uint8_t sha1[20];
	char *symdata; /* META_SYM: owned target, NUL-terminated */
	size_t symlen;
	char dev_kind; /* META_DEV: 'c' or 'b' */
	uint32_t dev_major;
	uint32_t dev_minor;
	int64_t mtime; /* not written for META_SYM, META_DEV */
	uint32_t uid;
	uint32_t gid;
	char *uname;		   /* owned; NULL = unknown (":") */
	char *gname;		   /* owned; NULL = unknown */
	uint32_t perms;		   /* st_mode & 07777 */
	uint64_t alt_mirror;	   /* AlternateMirrorName, 0 = none */
	uint64_t alt_inc;	   /* AlternateIncrementName, 0 = none */
	struct meta_xattr *xattrs; /* owned array, sorted by name */
	size_t nxattrs;
	struct meta_acl_entry *acl; /* owned array, access entries first */
	size_t nacl;
};

/* meta_rec_init(r): all zero.  meta_rec_clear(r): free contents, re-init. */
void meta_rec_init(struct meta_rec *r);
void meta_rec_clear(struct meta_rec *r);

/* meta_rec_copy(dst, src): deep copy into an initialised ${dst}. */
int meta_rec_copy(struct meta_rec *dst, const struct meta_rec *src);

/*
 * meta_path_cmp(a, alen, b, blen):
 * Compare two relative paths in rdiff-backup's record order: split on '/',
 * compare component by component as unsigned bytes, a proper prefix first.
 * "." (the root) sorts before everything.  Returns <0, 0, >0.
 */
int meta_path_cmp(const char *a, size_t alen, const char *b, size_t blen);

/*
 * meta_path_within(sub, slen, path, len): where ${path} lies relative to
 * the sub-tree rooted at ${sub} in record order: <0 before it, 0 inside
 * it (${sub} itself or below), >0 after it.  The sub-tree is contiguous.
 */
int
meta_path_within(const char *sub, size_t slen, const char *path, size_t len);

/*
 * meta_path_is_child(parent, plen, path, len): 1 if ${path} lies strictly
 * beneath ${parent} ("." is the parent of every other path), else 0.
 */
int meta_path_is_child(const char *parent, size_t plen, const char *path,
    size_t len);

/*
 * meta_name_ok(name, len): 1 if ${name} is usable as one path component:
 * 1..META_NAME_MAX bytes, no '/', no NUL, not "." or "..".
 */
int meta_name_ok(const char *name, size_t len);

/*
 * meta_relpath_ok(path, len): 1 if ${path} is "." or a sequence of
 * components separated by single '/', each meta_name_ok, at most
 * META_PATH_MAX bytes.
 */
int meta_relpath_ok(const char *path, size_t len);

/*
 * meta_attr_equal(a, b): 1 if the two records describe the same file for
 * change detection (section 4.7): type, perms, uid, gid, mtime (not for
 * sym/dev), size (reg only), symdata, device numbers, inode/devloc (reg
 * with nlink > 1), xattrs and ACL.  Names are compared only when both are
 * present.
 */
int meta_attr_equal(const struct meta_rec *a, const struct meta_rec *b);

/*
 * Text codec of the mirror_metadata record (section 4).  meta_format
 * appends one record ("File ...\n  Type ...\n...") to ${out}; EA and ACL
 * are not part of it.  Returns 0 or CB_ERR_NOMEM.
 */
struct strbuf;
int meta_format(struct strbuf *out, const struct meta_rec *r);
/* meta_sha1_hex(sha1, out): the 40 lower-case hex digits of a digest, as
 * SHA1Digest holds them (no NUL). */
void meta_sha1_hex(const uint8_t sha1[20], char out[40]);

/*
 * EA file record (section 5.1): "# file: <q>\n" + one line per xattr.
 * Appends nothing when r->nxattrs == 0.  System.* attributes must not be in
 * r->xattrs.  ACL file record (5.2) likewise, nothing when r->nacl == 0.
 */
int meta_format_ea(struct strbuf *out, const struct meta_rec *r);
int meta_format_acl(struct strbuf *out, const struct meta_rec *r);

/*
 * meta_acl_qual_ok(q): 1 when ${q} can be the qualifier of a named ACL
 * entry in access_control_lists and be read back unchanged: 1..256
 * bytes, no whitespace or control character, no ':' (the field
 * separator) and no '#' (a comment starts there).
 */
int meta_acl_qual_ok(const char *q);

/*
 * meta_acl_is_basic(r): 1 when the ACL holds only the three owner/group/
 * other access entries and no default entries (then no ACL record).
 */
int meta_acl_is_basic(const struct meta_rec *r);

#endif
