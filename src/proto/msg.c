#include "msg.h"

#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "wire.h"

/*
 * Central table of frame types: name and maximum payload.  The length
 * check against this table happens in frame_in_next() before any buffer
 * grows; which role accepts which type is decided by each role's
 * dispatcher.
 */
static const struct {
	const char *name;
	long max;
} msg_table[MSG_TYPE_MAX + 1] = {
	[MSG_HELLO] = { "HELLO", 128 },
	[MSG_ENTRY] = { "ENTRY", MSG_ENTRY_MAX },
	[MSG_ENTRIES_END] = { "ENTRIES_END", 8 },
	[MSG_WANT] = { "WANT", 8 },
	[MSG_PROGRESS] = { "PROGRESS", 8 },
	[MSG_FILE] = { "FILE", 16 },
	[MSG_DATA] = { "DATA", MSG_DATA_MAX },
	[MSG_HOLE] = { "HOLE", 8 },
	[MSG_FILE_END] = { "FILE_END", 32 },
	[MSG_DONE] = { "DONE", 12 },
	[MSG_WANT_DELTA] = { "WANT_DELTA", 16 },
	[MSG_DELTA] = { "DELTA", 16 },
	[MSG_DELTA_END] = { "DELTA_END", 32 },
	[MSG_WANT_DIGEST] = { "WANT_DIGEST", 8 },
	[MSG_DIGEST] = { "DIGEST", 40 },
};

long
msg_max_payload(uint8_t type)
{
	if (type == 0 || type > MSG_TYPE_MAX || msg_table[type].name == NULL)
		return -1;
	return msg_table[type].max;
}

const char *
msg_name(uint8_t type)
{
	if (msg_max_payload(type) < 0)
		return "UNKNOWN";
	return msg_table[type].name;
}

void
msg_entry_init(struct msg_entry *e)
{
	memset(e, 0, sizeof(*e));
	meta_rec_init(&e->rec);
}

void
msg_entry_clear(struct msg_entry *e)
{
	meta_rec_clear(&e->rec);
	free(e->link_to);
	msg_entry_init(e);
}

int
msg_hello_encode(struct wire_wr *wr, const struct msg_hello *h)
{
	int r;
	size_t slen = strnlen(h->software, sizeof(h->software) - 1);

	if ((r = wire_put_u32(wr, h->magic)) != 0 ||
	    (r = wire_put_u16(wr, h->version)) != 0 ||
	    (r = wire_put_u8(wr, h->role)) != 0 ||
	    (r = wire_put_u32(wr, h->flags)) != 0 ||
	    (r = wire_put_blob(wr, h->software, slen)) != 0)
		return r;
	return 0;
}

int
msg_hello_decode(const uint8_t *p, size_t len, struct msg_hello *h)
{
	struct wire_rd rd;
	const uint8_t *sw;
	size_t swlen;
	int r;

	memset(h, 0, sizeof(*h));
	wire_rd_init(&rd, p, len);
	if ((r = wire_get_u32(&rd, &h->magic)) != 0 ||
	    (r = wire_get_u16(&rd, &h->version)) != 0 ||
	    (r = wire_get_u8(&rd, &h->role)) != 0 ||
	    (r = wire_get_u32(&rd, &h->flags)) != 0 ||
	    (r = wire_get_blob(&rd, sizeof(h->software) - 1, &sw, &swlen)) !=
		0 ||
	    (r = wire_rd_end(&rd)) != 0) {
		memset(h, 0, sizeof(*h));
		return r;
	}
	if (memchr(sw, '\0', swlen) != NULL) {
		memset(h, 0, sizeof(*h));
		return CB_ERR_BAD_VALUE;
	}
	memcpy(h->software, sw, swlen);
	return 0;
}

int
msg_u64_encode(struct wire_wr *wr, uint64_t v)
{
	return wire_put_u64(wr, v);
}

int
msg_u64_decode(const uint8_t *p, size_t len, uint64_t *v)
{
	struct wire_rd rd;
	int r;

	wire_rd_init(&rd, p, len);
	if ((r = wire_get_u64(&rd, v)) != 0 || (r = wire_rd_end(&rd)) != 0) {
		*v = 0;
		return r;
	}
	return 0;
}

int
msg_u64pair_encode(struct wire_wr *wr, uint64_t a, uint64_t b)
{
	int r;

	if ((r = wire_put_u64(wr, a)) != 0)
		return r;
	return wire_put_u64(wr, b);
}

int
msg_u64pair_decode(const uint8_t *p, size_t len, uint64_t *a, uint64_t *b)
{
	struct wire_rd rd;
	int r;

	wire_rd_init(&rd, p, len);
	if ((r = wire_get_u64(&rd, a)) != 0 ||
	    (r = wire_get_u64(&rd, b)) != 0 || (r = wire_rd_end(&rd)) != 0) {
		*a = *b = 0;
		return r;
	}
	return 0;
}

int
msg_u32pair_encode(struct wire_wr *wr, uint32_t a, uint64_t b)
{
	int r;

	if ((r = wire_put_u32(wr, a)) != 0)
		return r;
	return wire_put_u64(wr, b);
}

int
msg_u32pair_decode(const uint8_t *p, size_t len, uint32_t *a, uint64_t *b)
{
	struct wire_rd rd;
	int r;

	wire_rd_init(&rd, p, len);
	if ((r = wire_get_u32(&rd, a)) != 0 ||
	    (r = wire_get_u64(&rd, b)) != 0 || (r = wire_rd_end(&rd)) != 0) {
		*a = 0;
		*b = 0;
		return r;
	}
	return 0;
}

/* Optional string: empty blob means NULL. */
static int
put_optstr(struct wire_wr *wr, const char *s)
{
	return wire_put_blob(wr, s, s == NULL ? 0 : strlen(s));
}

static int
entry_encode_xattrs(struct wire_wr *wr, const struct meta_rec *m)
{
	size_t i, total = 0;
	int r;

	if (m->nxattrs > META_XATTRS_MAX || m->nacl > META_ACL_ENTRIES_MAX)
		return CB_ERR_TOO_LARGE;
	for (i = 0; i < m->nxattrs; i++)
		total += strlen(m->xattrs[i].name) + m->xattrs[i].vlen;
	if (total > MSG_XATTRS_TOTAL_MAX)
		return CB_ERR_TOO_LARGE;
	for (i = 0, total = 0; i < m->nacl; i++)
		total += m->acl[i].qual != NULL ? strlen(m->acl[i].qual) : 0;
	if (total > MSG_ACL_QUALS_MAX)
		return CB_ERR_TOO_LARGE;
	if ((r = wire_put_u32(wr, (uint32_t)m->nxattrs)) != 0)
		return r;
	for (i = 0; i < m->nxattrs; i++) {
		const struct meta_xattr *x = &m->xattrs[i];

		if ((r = wire_put_blob(wr, x->name, strlen(x->name))) != 0 ||
		    (r = wire_put_blob(wr, x->value, x->vlen)) != 0)
			return r;
	}
	if ((r = wire_put_u32(wr, (uint32_t)m->nacl)) != 0)
		return r;
	for (i = 0; i < m->nacl; i++) {
		const struct meta_acl_entry *a = &m->acl[i];

		if ((r = wire_put_u8(wr, a->is_default)) != 0 ||
		    (r = wire_put_u8(wr, a->tag)) != 0 ||
		    (r = wire_put_u8(wr, a->perm)) != 0 ||
		    (r = put_optstr(wr, a->qual)) != 0)
			return r;
	}
	return 0;
}

int
msg_entry_encode(struct wire_wr *wr, const struct msg_entry *e)
{
	const struct meta_rec *m = &e->rec;
	int r;

	if ((r = wire_put_blob(wr, m->path, m->pathlen)) != 0 ||
	    (r = wire_put_u8(wr, (uint8_t)m->type)) != 0 ||
	    (r = wire_put_u32(wr, m->perms)) != 0 ||
	    (r = wire_put_u32(wr, m->uid)) != 0 ||
	    (r = wire_put_u32(wr, m->gid)) != 0 ||
	    (r = put_optstr(wr, m->uname)) != 0 ||
	    (r = put_optstr(wr, m->gname)) != 0 ||
	    (r = wire_put_u64(wr, (uint64_t)m->mtime)) != 0 ||
	    (r = wire_put_u64(wr, m->size)) != 0 ||
	    (r = wire_put_u64(wr, m->nlink)) != 0 ||
	    (r = wire_put_u64(wr, m->inode)) != 0 ||
	    (r = wire_put_u64(wr, m->devloc)) != 0 ||
	    (r = wire_put_u8(wr, m->has_sha1 ? 1 : 0)) != 0 ||
	    (m->has_sha1 && (r = wire_put_raw(wr, m->sha1, 20)) != 0) ||
	    (r = wire_put_blob(wr, m->symdata, m->symlen)) != 0 ||
	    (r = wire_put_u8(wr, (uint8_t)m->dev_kind)) != 0 ||
	    (r = wire_put_u32(wr, m->dev_major)) != 0 ||
	    (r = wire_put_u32(wr, m->dev_minor)) != 0 ||
	    (r = entry_encode_xattrs(wr, m)) != 0 ||
	    (r = wire_put_u32(wr, e->flags)) != 0 ||
	    (r = wire_put_u32(wr, e->err)) != 0 ||
	    (r = wire_put_blob(wr, e->link_to, e->link_len)) != 0)
		return r;
	return 0;
}

/*
 * A user or group name as the peer sends it: stored verbatim in
 * metadata lines, so no newline, no NUL, no ':' ambiguity with the
 * "unknown" marker, no whitespace.
 */
static int
uname_ok(const char *s, size_t len)
{
	size_t i;

	if (len == 1 && s[0] == ':')
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c <= 0x20 || c == 0x7f || c == ':')
			return 0;
	}
	return 1;
}

static int
get_optname(struct wire_rd *rd, char **out)
{
	char *s = NULL;
	size_t len;
	int r;

	*out = NULL;
	if ((r = wire_get_str(rd, META_UNAME_MAX, &s, &len)) != 0)
		return r;
	if (len == 0) {
		free(s);
		return 0;
	}
	if (!uname_ok(s, len)) {
		free(s);
		return CB_ERR_BAD_VALUE;
	}
	*out = s;
	return 0;
}

static int
decode_xattrs(struct wire_rd *rd, struct meta_rec *m)
{
	uint32_t n, i;
	size_t total = 0, len;
	const uint8_t *v;
	int r;

	if ((r = wire_get_u32(rd, &n)) != 0)
		return r;
	if (n > META_XATTRS_MAX)
		return CB_ERR_TOO_LARGE;
	if (n > 0 && (m->xattrs = calloc(n, sizeof(*m->xattrs))) == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		struct meta_xattr *x = &m->xattrs[i];

		if ((r = wire_get_str(rd, META_XATTR_NAME_MAX, &x->name,
			 &len)) != 0)
			return r;
		m->nxattrs = i + 1;
		total += len;
		/* system.* (ACLs) travel separately; names must be real. */
		if (len == 0 || strncmp(x->name, "system.", 7) == 0 ||
		    strchr(x->name, '.') == NULL)
			return CB_ERR_BAD_VALUE;
		if (i > 0 && strcmp(m->xattrs[i - 1].name, x->name) >= 0)
			return CB_ERR_BAD_VALUE; /* sorted, unique */
		if ((r = wire_get_blob(rd, META_XATTR_VALUE_MAX, &v, &len)) !=
		    0)
			return r;
		total += len;
		if (total > MSG_XATTRS_TOTAL_MAX)
			return CB_ERR_TOO_LARGE;
		if (len > 0) {
			if ((x->value = malloc(len)) == NULL)
				return CB_ERR_NOMEM;
			memcpy(x->value, v, len);
		}
		x->vlen = len;
	}
	return 0;
}

static int
acl_tag_ok(uint8_t tag)
{
	return tag == ACLT_USER_OBJ || tag == ACLT_USER ||
	    tag == ACLT_GROUP_OBJ || tag == ACLT_GROUP || tag == ACLT_MASK ||
	    tag == ACLT_OTHER;
}

static int
decode_acl(struct wire_rd *rd, struct meta_rec *m)
{
	uint32_t n, i;
	size_t quals = 0;
	int r;

	if ((r = wire_get_u32(rd, &n)) != 0)
		return r;
	if (n > META_ACL_ENTRIES_MAX)
		return CB_ERR_TOO_LARGE;
	if (n > 0 && (m->acl = calloc(n, sizeof(*m->acl))) == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < n; i++) {
		struct meta_acl_entry *a = &m->acl[i];
		int named;

		if ((r = wire_get_u8(rd, &a->is_default)) != 0 ||
		    (r = wire_get_u8(rd, &a->tag)) != 0 ||
		    (r = wire_get_u8(rd, &a->perm)) != 0 ||
		    (r = get_optname(rd, &a->qual)) != 0)
			return r;
		m->nacl = i + 1;
		quals += a->qual != NULL ? strlen(a->qual) : 0;
		if (quals > MSG_ACL_QUALS_MAX)
			return CB_ERR_TOO_LARGE;
		named = a->tag == ACLT_USER || a->tag == ACLT_GROUP;
		/* only qualifiers the ACL file carries (a '#' there
		 * starts a comment) */
		if (a->is_default > 1 || !acl_tag_ok(a->tag) || a->perm > 7 ||
		    named != (a->qual != NULL) ||
		    (named && !meta_acl_qual_ok(a->qual)))
			return CB_ERR_BAD_VALUE;
	}
	return 0;
}

static int
decode_rec_fields(struct wire_rd *rd, struct meta_rec *m)
{
	const uint8_t *p;
	uint8_t type, has_sha1, kind;
	uint64_t mtime;
	int r;

	if ((r = wire_get_str(rd, META_PATH_MAX, &m->path, &m->pathlen)) != 0)
		return r;
	if (!meta_relpath_ok(m->path, m->pathlen))
		return CB_ERR_BAD_VALUE;
	if ((r = wire_get_u8(rd, &type)) != 0 ||
	    (r = wire_get_u32(rd, &m->perms)) != 0 ||
	    (r = wire_get_u32(rd, &m->uid)) != 0 ||
	    (r = wire_get_u32(rd, &m->gid)) != 0 ||
	    (r = get_optname(rd, &m->uname)) != 0 ||
	    (r = get_optname(rd, &m->gname)) != 0 ||
	    (r = wire_get_u64(rd, &mtime)) != 0 ||
	    (r = wire_get_u64(rd, &m->size)) != 0 ||
	    (r = wire_get_u64(rd, &m->nlink)) != 0 ||
	    (r = wire_get_u64(rd, &m->inode)) != 0 ||
	    (r = wire_get_u64(rd, &m->devloc)) != 0 ||
	    (r = wire_get_u8(rd, &has_sha1)) != 0)
		return r;
	if (type > META_SOCK || m->perms > 07777 || has_sha1 > 1 ||
	    (has_sha1 && type != META_REG) || m->size > INT64_MAX)
		return CB_ERR_BAD_VALUE;
	m->type = (enum meta_type)type;
	m->mtime = (int64_t)mtime;
	m->has_sha1 = has_sha1;
	if (has_sha1) {
		if ((r = wire_get_raw(rd, 20, &p)) != 0)
			return r;
		memcpy(m->sha1, p, 20);
	}
	if ((r = wire_get_str(rd, META_PATH_MAX, &m->symdata, &m->symlen)) != 0)
		return r;
	if ((type == META_SYM) != (m->symlen > 0))
		return CB_ERR_BAD_VALUE;
	if (m->symlen == 0) {
		free(m->symdata);
		m->symdata = NULL;
	}
	if ((r = wire_get_u8(rd, &kind)) != 0 ||
	    (r = wire_get_u32(rd, &m->dev_major)) != 0 ||
	    (r = wire_get_u32(rd, &m->dev_minor)) != 0)
		return r;
	if (type == META_DEV ? (kind != 'c' && kind != 'b') : kind != 0)
		return CB_ERR_BAD_VALUE;
	m->dev_kind = (char)kind;
	if ((r = decode_xattrs(rd, m)) != 0 || (r = decode_acl(rd, m)) != 0)
		return r;
	return 0;
}

int
msg_entry_decode(const uint8_t *p, size_t len, struct msg_entry *e)
{
	struct wire_rd rd;
	int r;

	msg_entry_init(e);
	wire_rd_init(&rd, p, len);
	if ((r = decode_rec_fields(&rd, &e->rec)) != 0 ||
	    (r = wire_get_u32(&rd, &e->flags)) != 0 ||
	    (r = wire_get_u32(&rd, &e->err)) != 0 ||
	    (r = wire_get_str(&rd, META_PATH_MAX, &e->link_to, &e->link_len)) !=
		0 ||
	    (r = wire_rd_end(&rd)) != 0)
		goto fail;
	if ((e->flags & ~(uint32_t)ENTRY_ERROR) != 0 ||
	    (e->rec.type == META_NONE && !(e->flags & ENTRY_ERROR))) {
		r = CB_ERR_BAD_VALUE;
		goto fail;
	}
	if (e->link_len == 0) {
		free(e->link_to);
		e->link_to = NULL;
	} else if (!meta_relpath_ok(e->link_to, e->link_len) ||
	    e->rec.type != META_REG) {
		r = CB_ERR_BAD_VALUE;
		goto fail;
	}
	return 0;
fail:
	msg_entry_clear(e);
	return r;
}

long
msg_entry_stream_max(uint8_t type)
{
	switch (type) {
	case MSG_HELLO:
	case MSG_ENTRY:
	case MSG_ENTRIES_END:
	case MSG_FILE:
	case MSG_DATA:
	case MSG_HOLE:
	case MSG_FILE_END: return msg_max_payload(type);
	default: return -1;
	}
}

long
msg_backup_stream_max(uint8_t type)
{
	if (type == MSG_DELTA || type == MSG_DELTA_END)
		return msg_max_payload(type);
	return msg_entry_stream_max(type);
}

int
msg_delta_end_encode(struct wire_wr *wr, uint32_t err, uint64_t flags,
    const uint8_t sha1[20])
{
	int r;

	if ((r = wire_put_u32(wr, err)) != 0 ||
	    (r = wire_put_u64(wr, flags)) != 0)
		return r;
	return wire_put_raw(wr, sha1, 20);
}

int
msg_delta_end_decode(const uint8_t *p, size_t len, uint32_t *err,
    uint64_t *flags, uint8_t sha1[20])
{
	struct wire_rd rd;
	int r;

	const uint8_t *sum;

	wire_rd_init(&rd, p, len);
	if ((r = wire_get_u32(&rd, err)) != 0 ||
	    (r = wire_get_u64(&rd, flags)) != 0 ||
	    (r = wire_get_raw(&rd, 20, &sum)) != 0 ||
	    (r = wire_rd_end(&rd)) != 0)
		return r;
	memcpy(sha1, sum, 20);
	if ((*flags & ~(uint64_t)FILE_CHANGED) != 0)
		return CB_ERR_BAD_VALUE;
	return 0;
}

int
msg_digest_encode(struct wire_wr *wr, uint64_t seq, uint32_t err,
    uint64_t flags, const uint8_t sha1[20])
{
	int r = wire_put_u64(wr, seq);

	return r != 0 ? r : msg_delta_end_encode(wr, err, flags, sha1);
}

int
msg_digest_decode(const uint8_t *p, size_t len, uint64_t *seq, uint32_t *err,
    uint64_t *flags, uint8_t sha1[20])
{
	struct wire_rd rd;
	int r;

	wire_rd_init(&rd, p, len);
	if ((r = wire_get_u64(&rd, seq)) != 0)
		return r;
	return msg_delta_end_decode(p + 8, len - 8, err, flags, sha1);
}
