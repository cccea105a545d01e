#include "meta.h"

#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "strbuf.h"

/*
 * Records of rdiff-backup's metadata files: lifecycle, path order and
 * validation, change detection and the text encoders.  The decoders live
 * in mdfile.c.
 */

void
meta_rec_init(struct meta_rec *r)
{
	memset(r, 0, sizeof(*r));
}

void
meta_rec_clear(struct meta_rec *r)
{
	size_t i;

	free(r->path);
	free(r->symdata);
	free(r->uname);
	free(r->gname);
	for (i = 0; i < r->nxattrs; i++) {
		free(r->xattrs[i].name);
		free(r->xattrs[i].value);
	}
	free(r->xattrs);
	for (i = 0; i < r->nacl; i++)
		free(r->acl[i].qual);
	free(r->acl);
	meta_rec_init(r);
}

/* Copy ${n} bytes plus a terminating NUL; NULL stays NULL. */
static int
dup_bytes(char **dst, const char *src, size_t n)
{
	*dst = NULL;
	if (src == NULL)
		return 0;
	if ((*dst = malloc(n + 1)) == NULL)
		return CB_ERR_NOMEM;
	memcpy(*dst, src, n);
	(*dst)[n] = '\0';
	return 0;
}

static int
dup_str(char **dst, const char *src)
{
	return dup_bytes(dst, src, src == NULL ? 0 : strlen(src));
}

static int
copy_xattrs(struct meta_rec *dst, const struct meta_rec *src)
{
	const struct meta_xattr *s;
	struct meta_xattr *d;
	size_t i;

	if (src->nxattrs == 0)
		return 0;
	dst->xattrs = calloc(src->nxattrs, sizeof(*dst->xattrs));
	if (dst->xattrs == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < src->nxattrs; i++) {
		s = &src->xattrs[i];
		d = &dst->xattrs[i];
		dst->nxattrs = i + 1;
		if (dup_str(&d->name, s->name) != 0)
			return CB_ERR_NOMEM;
		if (s->vlen > 0) {
			if ((d->value = malloc(s->vlen)) == NULL)
				return CB_ERR_NOMEM;
			memcpy(d->value, s->value, s->vlen);
		}
		d->vlen = s->vlen;
	}
	return 0;
}

static int
copy_acl(struct meta_rec *dst, const struct meta_rec *src)
{
	size_t i;

	if (src->nacl == 0)
		return 0;
	if ((dst->acl = calloc(src->nacl, sizeof(*dst->acl))) == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < src->nacl; i++) {
		dst->nacl = i + 1;
		dst->acl[i] = src->acl[i];
		dst->acl[i].qual = NULL;
		if (dup_str(&dst->acl[i].qual, src->acl[i].qual) != 0)
			return CB_ERR_NOMEM;
	}
	return 0;
}

int
meta_rec_copy(struct meta_rec *dst, const struct meta_rec *src)
{
	int r = CB_ERR_NOMEM;

	meta_rec_clear(dst);
	*dst = *src;
	dst->path = dst->symdata = dst->uname = dst->gname = NULL;
	dst->xattrs = NULL;
	dst->nxattrs = 0;
	dst->acl = NULL;
	dst->nacl = 0;
	if (dup_bytes(&dst->path, src->path, src->pathlen) != 0 ||
	    dup_bytes(&dst->symdata, src->symdata, src->symlen) != 0 ||
	    dup_str(&dst->uname, src->uname) != 0 ||
	    dup_str(&dst->gname, src->gname) != 0)
		goto out;
	if (copy_xattrs(dst, src) != 0 || copy_acl(dst, src) != 0)
		goto out;
	r = 0;
out:
	if (r != 0)
		meta_rec_clear(dst);
	return r;
}

static int
is_root(const char *p, size_t len)
{
	return len == 1 && p[0] == '.';
}

/*
 * Component-wise comparison is plain byte-wise comparison with '/' ranked
 * below every other byte (paths hold no NUL), a proper prefix first.
 */
int
meta_path_cmp(const char *a, size_t alen, const char *b, size_t blen)
{
	unsigned int ca, cb;
	size_t i;

	if (is_root(a, alen) || is_root(b, blen))
		return is_root(b, blen) - is_root(a, alen);
	for (i = 0; i < alen && i < blen; i++) {
		ca = (unsigned char)a[i];
		cb = (unsigned char)b[i];
		if (ca == cb)
			continue;
		ca = ca == '/' ? 0 : ca + 1;
		cb = cb == '/' ? 0 : cb + 1;
		return ca < cb ? -1 : 1;
	}
	if (alen == blen)
		return 0;
	return alen < blen ? -1 : 1;
}

int
meta_path_within(const char *sub, size_t slen, const char *path, size_t len)
{
	int c = meta_path_cmp(path, len, sub, slen);

	if (c == 0 || (c > 0 && meta_path_is_child(sub, slen, path, len)))
		return 0;
	return c;
}

int
meta_path_is_child(const char *parent, size_t plen, const char *path,
    size_t len)
{
	if (is_root(path, len))
		return 0;
	if (is_root(parent, plen))
		return 1;
	return len > plen && path[plen] == '/' &&
	    memcmp(parent, path, plen) == 0;
}

int
meta_name_ok(const char *name, size_t len)
{
	if (len == 0 || len > META_NAME_MAX)
		return 0;
	if (memchr(name, '/', len) != NULL || memchr(name, '\0', len) != NULL)
		return 0;
	if (name[0] == '.' && (len == 1 || (len == 2 && name[1] == '.')))
		return 0;
	return 1;
}

int
meta_relpath_ok(const char *path, size_t len)
{
	const char *p, *end, *slash;

	if (len == 0 || len > META_PATH_MAX)
		return 0;
	if (is_root(path, len))
		return 1;
	p = path;
	end = path + len;
	for (;;) {
		slash = memchr(p, '/', (size_t)(end - p));
		if (slash == NULL)
			return meta_name_ok(p, (size_t)(end - p));
		if (!meta_name_ok(p, (size_t)(slash - p)))
			return 0;
		p = slash + 1;
	}
}

/* Strings equal, both NULL counting as equal. */
static int
opt_str_eq(const char *a, const char *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return strcmp(a, b) == 0;
}

static int
xattrs_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	const struct meta_xattr *x, *y;
	size_t i;

	if (a->nxattrs != b->nxattrs)
		return 0;
	for (i = 0; i < a->nxattrs; i++) {
		x = &a->xattrs[i];
		y = &b->xattrs[i];
		if (strcmp(x->name, y->name) != 0 || x->vlen != y->vlen)
			return 0;
		if (x->vlen > 0 && memcmp(x->value, y->value, x->vlen) != 0)
			return 0;
	}
	return 1;
}

static int
acl_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	const struct meta_acl_entry *x, *y;
	size_t i;

	if (meta_acl_is_basic(a) || meta_acl_is_basic(b))
		return meta_acl_is_basic(a) && meta_acl_is_basic(b);
	if (a->nacl != b->nacl)
		return 0;
	for (i = 0; i < a->nacl; i++) {
		x = &a->acl[i];
		y = &b->acl[i];
		if (x->is_default != y->is_default || x->tag != y->tag ||
		    x->perm != y->perm || !opt_str_eq(x->qual, y->qual))
			return 0;
	}
	return 1;
}

/* Type-specific part of meta_attr_equal: both records have type ${a->type}. */
static int
type_attrs_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	switch (a->type) {
	case META_REG:
		if (a->size != b->size)
			return 0;
		if (a->nlink > 1 || b->nlink > 1) {
			if (a->nlink <= 1 || b->nlink <= 1 ||
			    a->inode != b->inode || a->devloc != b->devloc)
				return 0;
		}
		break;
	case META_SYM:
		if (a->symlen != b->symlen ||
		    (a->symlen > 0 &&
			memcmp(a->symdata, b->symdata, a->symlen) != 0))
			return 0;
		return 1; /* owner and mtime are not compared */
	case META_DEV:
		return a->dev_kind == b->dev_kind &&
		    a->dev_major == b->dev_major &&
		    a->dev_minor == b->dev_minor && a->uid == b->uid &&
		    a->gid == b->gid;
	default: break;
	}
	return a->mtime == b->mtime && a->uid == b->uid && a->gid == b->gid;
}

int
meta_attr_equal(const struct meta_rec *a, const struct meta_rec *b)
{
	if (a->type != b->type)
		return 0;
	if (a->type == META_NONE)
		return 1;
	if (a->perms != b->perms || !type_attrs_equal(a, b))
		return 0;
	if (a->type != META_SYM) {
		if (a->uname != NULL && b->uname != NULL &&
		    strcmp(a->uname, b->uname) != 0)
			return 0;
		if (a->gname != NULL && b->gname != NULL &&
		    strcmp(a->gname, b->gname) != 0)
			return 0;
	}
	return xattrs_equal(a, b) && acl_equal(a, b);
}

int
meta_acl_is_basic(const struct meta_rec *r)
{
	size_t i, naccess = 0;

	for (i = 0; i < r->nacl; i++) {
		if (r->acl[i].is_default)
			return 0;
		naccess++;
	}
	return naccess <= 3;
}

/* ---- mirror_metadata encoder ---- */

/* Path quoting of section 4.1: '\' -> "\\", newline -> "\n". */
static int
add_path_quoted(struct strbuf *out, const char *p, size_t len)
{
	size_t i, start = 0;
	int r;

	for (i = 0; i < len; i++) {
		if (p[i] != '\\' && p[i] != '\n')
			continue;
		if ((r = strbuf_add(out, p + start, i - start)) != 0 ||
		    (r = strbuf_add(out, p[i] == '\\' ? "\\\\" : "\\n", 2)) !=
			0)
			return r;
		start = i + 1;
	}
	return strbuf_add(out, p + start, len - start);
}

static const char *
type_name(enum meta_type t)
{
	switch (t) {
	case META_NONE: return "None";
	case META_REG: return "reg";
	case META_DIR: return "dir";
	case META_SYM: return "sym";
	case META_DEV: return "dev";
	case META_FIFO: return "fifo";
	case META_SOCK: return "sock";
	}
	return NULL;
}

/* A user or group name fits on one field line and reads back the same. */
static int
owner_name_ok(const char *s)
{
	size_t len;

	if (s == NULL)
		return 1;
	len = strlen(s);
	return len > 0 && len <= META_UNAME_MAX && strchr(s, '\n') == NULL;
}

static int
rec_format_ok(const struct meta_rec *r)
{
	if (r->path == NULL || !meta_relpath_ok(r->path, r->pathlen) ||
	    type_name(r->type) == NULL)
		return 0;
	if (r->type == META_NONE)
		return 1;
	if (r->type == META_SYM &&
	    (r->symdata == NULL || r->symlen == 0 ||
		r->symlen > META_PATH_MAX ||
		memchr(r->symdata, '\0', r->symlen) != NULL))
		return 0;
	if (r->type == META_DEV && r->dev_kind != 'c' && r->dev_kind != 'b')
		return 0;
	return owner_name_ok(r->uname) && owner_name_ok(r->gname) &&
	    r->perms <= 07777;
}

void
meta_sha1_hex(const uint8_t sha1[20], char out[40])
{
	static const char hex[] = "0123456789abcdef";

	for (int i = 0; i < 20; i++) {
		out[2 * i] = hex[sha1[i] >> 4];
		out[2 * i + 1] = hex[sha1[i] & 15];
	}
}

/* "${key}${v}\n" (${key} a literal: its spaces, name and one space). */
#define ADD_U(out, key, v)                                                 \
	(strbuf_add((out), key, sizeof(key) - 1) != 0 ||                   \
		    strbuf_add_u64((out), (unsigned long long)(v)) != 0 || \
		    strbuf_addch((out), '\n') != 0 ?                       \
		CB_ERR_NOMEM :                                             \
		0)

static int
format_reg(struct strbuf *out, const struct meta_rec *r)
{
	char line[13 + 40 + 1];
	int rc;

	if ((rc = ADD_U(out, "  Size ", r->size)) != 0)
		return rc;
	if (r->nlink > 1 &&
	    ((rc = ADD_U(out, "  NumHardLinks ", r->nlink)) != 0 ||
		(rc = ADD_U(out, "  Inode ", r->inode)) != 0 ||
		(rc = ADD_U(out, "  DeviceLoc ", r->devloc)) != 0))
		return rc;
	if (!r->has_sha1)
		return 0;
	memcpy(line, "  SHA1Digest ", 13);
	meta_sha1_hex(r->sha1, line + 13);
	line[53] = '\n';
	return strbuf_add(out, line, sizeof(line));
}

static int
format_fields(struct strbuf *out, const struct meta_rec *r)
{
	int rc = 0;

	if (r->type == META_REG)
		rc = format_reg(out, r);
	else if (r->type == META_SYM) {
		if ((rc = strbuf_addstr(out, "  SymData ")) == 0 &&
		    (rc = add_path_quoted(out, r->symdata, r->symlen)) == 0)
			rc = strbuf_addch(out, '\n');
	} else if (r->type == META_DEV)
		rc = strbuf_addf(out, "  DeviceNum %c %lu %lu\n", r->dev_kind,
		    (unsigned long)r->dev_major, (unsigned long)r->dev_minor);
	if (rc == 0 && r->type != META_SYM && r->type != META_DEV &&
	    (strbuf_add(out, "  ModTime ", 10) != 0 ||
		strbuf_add_i64(out, (long long)r->mtime) != 0 ||
		strbuf_addch(out, '\n') != 0))
		rc = CB_ERR_NOMEM;
	if (rc == 0 &&
	    ((rc = ADD_U(out, "  Uid ", r->uid)) != 0 ||
		(rc = strbuf_add(out, "  Uname ", 8)) != 0 ||
		(rc = strbuf_addstr(out, r->uname ? r->uname : ":")) != 0 ||
		(rc = ADD_U(out, "\n  Gid ", r->gid)) != 0 ||
		(rc = strbuf_add(out, "  Gname ", 8)) != 0 ||
		(rc = strbuf_addstr(out, r->gname ? r->gname : ":")) != 0 ||
		(rc = ADD_U(out, "\n  Permissions ", r->perms)) != 0))
		return rc;
	if (rc == 0 && r->alt_mirror != 0)
		rc = ADD_U(out, "  AlternateMirrorName ", r->alt_mirror);
	else if (rc == 0 && r->alt_inc != 0)
		rc = ADD_U(out, "  AlternateIncrementName ", r->alt_inc);
	return rc;
}

int
meta_format(struct strbuf *out, const struct meta_rec *r)
{
	size_t oldlen = out->len;
	int rc;

	if (!rec_format_ok(r))
		return CB_ERR_BAD_VALUE;
	if ((rc = strbuf_addstr(out, "File ")) != 0 ||
	    (rc = add_path_quoted(out, r->path, r->pathlen)) != 0 ||
	    (rc = strbuf_add(out, "\n  Type ", 8)) != 0 ||
	    (rc = strbuf_addstr(out, type_name(r->type))) != 0 ||
	    (rc = strbuf_addch(out, '\n')) != 0)
		goto out;
	if (r->type != META_NONE && (rc = format_fields(out, r)) != 0)
		goto out;
	rc = 0;
out:
	if (rc != 0 && out->buf != NULL) {
		out->len = oldlen;
		out->buf[oldlen] = '\0';
	}
	return rc;
}

/* ---- extended_attributes / access_control_lists encoders ---- */

/* Quoting of section 5: anything but 0x21..0x7e, '\' and '=' as \ooo. */
static int
add_acl_quoted(struct strbuf *out, const char *p, size_t len)
{
	unsigned char c;
	size_t i;
	int r;

	for (i = 0; i < len; i++) {
		c = (unsigned char)p[i];
		if (c < 0x21 || c > 0x7e || c == '\\' || c == '=')
			r = strbuf_addf(out, "\\%03o", c);
		else
			r = strbuf_addch(out, c);
		if (r != 0)
			return r;
	}
	return 0;
}

static int
add_file_header(struct strbuf *out, const struct meta_rec *r)
{
	int rc;

	if ((rc = strbuf_addstr(out, "# file: ")) != 0 ||
	    (rc = add_acl_quoted(out, r->path, r->pathlen)) != 0)
		return rc;
	return strbuf_addch(out, '\n');
}

static int
add_base64(struct strbuf *out, const uint8_t *p, size_t n)
{
	static const char tab[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char q[4];
	uint32_t v;
	size_t i, k;
	int r;

	for (i = 0; i < n; i += 3) {
		k = n - i < 3 ? n - i : 3;
		v = (uint32_t)p[i] << 16;
		if (k > 1)
			v |= (uint32_t)p[i + 1] << 8;
		if (k > 2)
			v |= p[i + 2];
		q[0] = tab[(v >> 18) & 63];
		q[1] = tab[(v >> 12) & 63];
		q[2] = k > 1 ? tab[(v >> 6) & 63] : '=';
		q[3] = k > 2 ? tab[v & 63] : '=';
		if ((r = strbuf_add(out, q, 4)) != 0)
			return r;
	}
	return 0;
}

/*
 * rdiff-backup writes the name of an empty-valued attribute unquoted.  We
 * do the same whenever the bare name reads back unchanged (no whitespace,
 * '=', '\' or leading '#'); other names are quoted so that a hostile name
 * cannot break the record structure.
 */
static int
bare_name_ok(const char *name)
{
	const char *p;

	if (name[0] == '#')
		return 0;
	for (p = name; *p != '\0'; p++) {
		if (strchr(" \t\n\r\v\f=\\", *p) != NULL)
			return 0;
	}
	return 1;
}

static int
xattr_ok(const struct meta_xattr *x)
{
	size_t len;

	if (x->name == NULL)
		return 0;
	len = strlen(x->name);
	return len > 0 && len <= META_XATTR_NAME_MAX &&
	    strncmp(x->name, "system.", 7) != 0 &&
	    x->vlen <= META_XATTR_VALUE_MAX &&
	    (x->vlen == 0 || x->value != NULL);
}

static int
format_xattr(struct strbuf *out, const struct meta_xattr *x)
{
	int rc;

	if (x->vlen == 0 && bare_name_ok(x->name))
		rc = strbuf_addstr(out, x->name);
	else if ((rc = add_acl_quoted(out, x->name, strlen(x->name))) == 0 &&
	    (rc = strbuf_addstr(out, "=0s")) == 0)
		rc = add_base64(out, x->value, x->vlen);
	if (rc == 0)
		rc = strbuf_addch(out, '\n');
	return rc;
}

int
meta_format_ea(struct strbuf *out, const struct meta_rec *r)
{
	size_t i, oldlen = out->len;
	int rc = 0;

	if (r->nxattrs == 0)
		return 0;
	if (r->path == NULL || !meta_relpath_ok(r->path, r->pathlen) ||
	    r->nxattrs > META_XATTRS_MAX)
		return CB_ERR_BAD_VALUE;
	for (i = 0; i < r->nxattrs; i++) {
		if (!xattr_ok(&r->xattrs[i]))
			return CB_ERR_BAD_VALUE;
	}
	if ((rc = add_file_header(out, r)) != 0)
		goto out;
	for (i = 0; i < r->nxattrs; i++) {
		if ((rc = format_xattr(out, &r->xattrs[i])) != 0)
			goto out;
	}
out:
	if (rc != 0 && out->buf != NULL) {
		out->len = oldlen;
		out->buf[oldlen] = '\0';
	}
	return rc;
}

int
meta_acl_qual_ok(const char *q)
{
	size_t len = strlen(q);
	const unsigned char *p;

	if (len == 0 || len > META_UNAME_MAX)
		return 0;
	for (p = (const unsigned char *)q; *p != '\0'; p++) {
		if (*p <= 0x20 || *p == 0x7f || *p == ':' || *p == '#')
			return 0;
	}
	return 1;
}

static int
acl_entry_ok(const struct meta_acl_entry *e)
{
	int named = e->tag == ACLT_USER || e->tag == ACLT_GROUP;

	switch (e->tag) {
	case ACLT_USER_OBJ:
	case ACLT_USER:
	case ACLT_GROUP_OBJ:
	case ACLT_GROUP:
	case ACLT_MASK:
	case ACLT_OTHER: break;
	default: return 0;
	}
	if (e->perm > 7)
		return 0;
	return named ? e->qual != NULL && meta_acl_qual_ok(e->qual) : 1;
}

static int
format_acl_entry(struct strbuf *out, const struct meta_acl_entry *e)
{
	const char *tag = "other";
	char perm[4];

	switch (e->tag) {
	case ACLT_USER_OBJ:
	case ACLT_USER: tag = "user"; break;
	case ACLT_GROUP_OBJ:
	case ACLT_GROUP: tag = "group"; break;
	case ACLT_MASK: tag = "mask"; break;
	default: break;
	}
	perm[0] = (e->perm & 4) ? 'r' : '-';
	perm[1] = (e->perm & 2) ? 'w' : '-';
	perm[2] = (e->perm & 1) ? 'x' : '-';
	perm[3] = '\0';
	return strbuf_addf(out, "%s%s:%s:%s\n", e->is_default ? "default:" : "",
	    tag, e->qual != NULL ? e->qual : "", perm);
}

int
meta_format_acl(struct strbuf *out, const struct meta_rec *r)
{
	size_t i, oldlen = out->len;
	int rc = 0;

	if (r->nacl == 0 || meta_acl_is_basic(r))
		return 0;
	if (r->path == NULL || !meta_relpath_ok(r->path, r->pathlen) ||
	    r->nacl > META_ACL_ENTRIES_MAX)
		return CB_ERR_BAD_VALUE;
	for (i = 0; i < r->nacl; i++) {
		if (!acl_entry_ok(&r->acl[i]))
			return CB_ERR_BAD_VALUE;
	}
	if ((rc = add_file_header(out, r)) != 0)
		goto out;
	for (i = 0; i < r->nacl; i++) {
		if ((rc = format_acl_entry(out, &r->acl[i])) != 0)
			goto out;
	}
out:
	if (rc != 0 && out->buf != NULL) {
		out->len = oldlen;
		out->buf[oldlen] = '\0';
	}
	return rc;
}
