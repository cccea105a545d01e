#ifndef IDMAP_H
#define IDMAP_H

#include <stdint.h>

/*
 * The user and group databases, read once (idmap_load) before a role
 * confines itself: inside the sandbox the files behind NSS may not be
 * readable, and a file replaced meanwhile (useradd renames a new
 * /etc/group into place) would be outside a Landlock rule made for the
 * old one.  Names and ids are those of that moment.
 */

/* idmap_load(): enumerate users and groups; fatal only without memory. */
void idmap_load(void);

/* The name of ${id}, or NULL if it has none. */
const char *idmap_user_name(uint32_t id);
const char *idmap_group_name(uint32_t id);

/* The id named ${name}: 0 and *id, or -1 if there is none. */
int idmap_user_id(const char *name, uint32_t *id);
int idmap_group_id(const char *name, uint32_t *id);

/*
 * idmap_acl_qual_id(is_group, q, arg): the local id an ACL entry's
 * qualifier names (a number, else a user or group name), -1 if none
 * (aclblob_id_fn: as a restore sets it).
 */
int64_t idmap_acl_qual_id(int is_group, const char *q, void *arg);

#endif
