#include "aclblob.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_err.h"

#define ACL_XATTR_VERSION 2
#define ACL_UNDEFINED_ID  0xffffffffu

static uint32_t
get_le32(const uint8_t *p)
{
	return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 |
	    (uint32_t)p[3] << 24;
}

static uint16_t
get_le16(const uint8_t *p)
{
	return (uint16_t)(p[0] | p[1] << 8);
}

static int
tag_valid(uint16_t tag)
{
	return tag == ACLT_USER_OBJ || tag == ACLT_USER ||
	    tag == ACLT_GROUP_OBJ || tag == ACLT_GROUP || tag == ACLT_MASK ||
	    tag == ACLT_OTHER;
}

int
aclblob_parse(const uint8_t *p, size_t len, int is_default,
    aclblob_name_fn namefn, void *arg, struct meta_rec *r)
{
	size_t n, i;
	struct meta_acl_entry *na;

	if (len < 4 || (len - 4) % 8 != 0 || get_le32(p) != ACL_XATTR_VERSION)
		return CB_ERR_CORRUPT;
	n = (len - 4) / 8;
	if (n > META_ACL_ENTRIES_MAX || r->nacl + n > META_ACL_ENTRIES_MAX)
		return CB_ERR_CORRUPT;
	if (n == 0)
		return 0;
	na = realloc(r->acl, (r->nacl + n) * sizeof(*na));
	if (na == NULL)
		return CB_ERR_NOMEM;
	r->acl = na;
	for (i = 0; i < n; i++) {
		const uint8_t *e = p + 4 + 8 * i;
		struct meta_acl_entry *a = &r->acl[r->nacl];
		uint16_t tag = get_le16(e), perm = get_le16(e + 2);
		uint32_t id = get_le32(e + 4);

		if (!tag_valid(tag) || perm > 7)
			return CB_ERR_CORRUPT;
		memset(a, 0, sizeof(*a));
		a->is_default = is_default ? 1 : 0;
		a->tag = (uint8_t)tag;
		a->perm = (uint8_t)perm;
		if (tag == ACLT_USER || tag == ACLT_GROUP) {
			const char *nm =
			    namefn ? namefn(tag == ACLT_GROUP, id, arg) : NULL;
			char num[16];

			if (nm == NULL) {
				snprintf(num, sizeof(num), "%u", id);
				nm = num;
			}
			if ((a->qual = strdup(nm)) == NULL)
				return CB_ERR_NOMEM;
		}
		r->nacl++;
	}
	return 0;
}

struct kent {
	uint16_t tag;
	uint16_t perm;
	uint32_t id;
};

static int
kent_cmp(const void *a, const void *b)
{
	const struct kent *x = a, *y = b;

	if (x->tag != y->tag)
		return x->tag < y->tag ? -1 : 1;
	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	return 0;
}

int
aclblob_build(const struct meta_rec *r, int is_default, aclblob_id_fn idfn,
    void *arg, uint8_t **out, size_t *outlen, unsigned *dropped)
{
	struct kent *k = NULL;
	size_t n = 0, i, j;
	uint8_t *b;

	*out = NULL;
	*outlen = 0;
	if (r->nacl == 0)
		return 0;
	if ((k = calloc(r->nacl, sizeof(*k))) == NULL)
		return CB_ERR_NOMEM;
	for (i = 0; i < r->nacl; i++) {
		const struct meta_acl_entry *a = &r->acl[i];

		if ((a->is_default != 0) != (is_default != 0))
			continue;
		k[n].tag = a->tag;
		k[n].perm = a->perm;
		k[n].id = ACL_UNDEFINED_ID;
		if (a->tag == ACLT_USER || a->tag == ACLT_GROUP) {
			int64_t id = idfn(a->tag == ACLT_GROUP, a->qual, arg);

			if (id < 0 || id >= ACL_UNDEFINED_ID) {
				(*dropped)++;
				continue;
			}
			k[n].id = (uint32_t)id;
		}
		n++;
	}
	if (n == 0) {
		free(k);
		return 0;
	}
	qsort(k, n, sizeof(*k), kent_cmp);
	if ((b = malloc(4 + 8 * n)) == NULL) {
		free(k);
		return CB_ERR_NOMEM;
	}
	b[0] = ACL_XATTR_VERSION;
	b[1] = b[2] = b[3] = 0;
	for (i = 0; i < n; i++) {
		uint8_t *e = b + 4 + 8 * i;

		e[0] = (uint8_t)k[i].tag;
		e[1] = (uint8_t)(k[i].tag >> 8);
		e[2] = (uint8_t)k[i].perm;
		e[3] = 0;
		for (j = 0; j < 4; j++)
			e[4 + j] = (uint8_t)(k[i].id >> (8 * j));
	}
	free(k);
	*out = b;
	*outlen = 4 + 8 * n;
	return 0;
}
