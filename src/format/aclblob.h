#ifndef ACLBLOB_H
#define ACLBLOB_H

#include <stddef.h>
#include <stdint.h>

#include "meta.h"

/*
 * The kernel's POSIX ACL xattr value (system.posix_acl_access /
 * system.posix_acl_default): u32 version 2, then 8-byte entries
 * {u16 tag, u16 perm, u32 id}, little-endian.
 */

/* Callbacks mapping ids to names (return NULL: unknown, print number). */
typedef const char *(*aclblob_name_fn)(int is_group, uint32_t id, void *arg);

/*
 * aclblob_parse(p, len, is_default, namefn, arg, r):
 * Append the entries of one blob to r->acl (qualifiers as names where
 * namefn knows them, else decimal ids).  Returns 0, CB_ERR_CORRUPT,
 * CB_ERR_NOMEM.
 */
int aclblob_parse(const uint8_t *p, size_t len, int is_default,
    aclblob_name_fn namefn, void *arg, struct meta_rec *r);

/* Callback mapping a qualifier (name or number) to a local id; -1 = drop. */
typedef int64_t (*aclblob_id_fn)(int is_group, const char *qual, void *arg);

/*
 * aclblob_build(r, is_default, idfn, arg, out, outlen):
 * Build the blob for the access (is_default 0) or default entries of
 * ${r}, sorted as the kernel requires; named entries whose qualifier
 * idfn cannot map are dropped (*dropped counts them).  *out is malloc'd;
 * *outlen 0 and *out NULL when there are no such entries.
 */
int aclblob_build(const struct meta_rec *r, int is_default, aclblob_id_fn idfn,
    void *arg, uint8_t **out, size_t *outlen, unsigned *dropped);

#endif
