#include "idmap.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

struct ident {
	uint32_t id;
	char *name;
};

struct idtable {
	struct ident *v;
	size_t n, cap;
};

static struct idtable users, groups;
static int loaded;

static void
add(struct idtable *t, uint32_t id, const char *name)
{
	if (t->n == t->cap) {
		t->cap = t->cap ? 2 * t->cap : 64;
		if ((t->v = realloc(t->v, t->cap * sizeof(*t->v))) == NULL)
			fatal("out of memory");
	}
	t->v[t->n].id = id;
	if ((t->v[t->n].name = strdup(name)) == NULL)
		fatal("out of memory");
	t->n++;
}

void
idmap_load(void)
{
	struct passwd *pw;
	struct group *gr;

	if (loaded)
		return;
	loaded = 1;
	setpwent();
	while ((pw = getpwent()) != NULL)
		add(&users, (uint32_t)pw->pw_uid, pw->pw_name);
	endpwent();
	setgrent();
	while ((gr = getgrent()) != NULL)
		add(&groups, (uint32_t)gr->gr_gid, gr->gr_name);
	endgrent();
}

/* First entry wins, as with getpwuid on a database with duplicates. */
static const char *
by_id(const struct idtable *t, uint32_t id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (t->v[i].id == id)
			return t->v[i].name;
	return NULL;
}

static int
by_name(const struct idtable *t, const char *name, uint32_t *id)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->v[i].name, name) == 0) {
			*id = t->v[i].id;
			return 0;
		}
	return -1;
}

const char *
idmap_user_name(uint32_t id)
{
	struct passwd *pw;

	if (loaded)
		return by_id(&users, id);
	pw = getpwuid((uid_t)id);
	return pw ? pw->pw_name : NULL;
}

const char *
idmap_group_name(uint32_t id)
{
	struct group *gr;

	if (loaded)
		return by_id(&groups, id);
	gr = getgrgid((gid_t)id);
	return gr ? gr->gr_name : NULL;
}

int
idmap_user_id(const char *name, uint32_t *id)
{
	struct passwd *pw;

	if (loaded)
		return by_name(&users, name, id);
	if ((pw = getpwnam(name)) == NULL)
		return -1;
	*id = (uint32_t)pw->pw_uid;
	return 0;
}

int
idmap_group_id(const char *name, uint32_t *id)
{
	struct group *gr;

	if (loaded)
		return by_name(&groups, name, id);
	if ((gr = getgrnam(name)) == NULL)
		return -1;
	*id = (uint32_t)gr->gr_gid;
	return 0;
}

int64_t
idmap_acl_qual_id(int is_group, const char *q, void *arg)
{
	char *end;
	unsigned long v;
	uint32_t id;

	(void)arg;
	errno = 0;
	v = strtoul(q, &end, 10);
	if (*q != '\0' && *end == '\0' && errno == 0 && v < 0xffffffffUL)
		return (int64_t)v;
	if ((is_group ? idmap_group_id(q, &id) : idmap_user_id(q, &id)) != 0)
		return -1;
	return (int64_t)id;
}
