#include "linkmap.h"

#include <stdlib.h>
#include <string.h>

#include "cb_err.h"

struct lm_ent {
	uint64_t dev;
	uint64_t ino;
	uint64_t left; /* links not seen yet; 0 = free slot */
	char *path;
};

struct linkmap {
	struct lm_ent *tab;
	size_t cap; /* power of two */
	size_t used;
	char *retired; /* path of the last group completed, kept one call */
};

int
linkmap_new(struct linkmap **out)
{
	struct linkmap *m = calloc(1, sizeof(*m));

	if (m == NULL || (m->tab = calloc(64, sizeof(*m->tab))) == NULL) {
		free(m);
		return CB_ERR_NOMEM;
	}
	m->cap = 64;
	*out = m;
	return 0;
}

void
linkmap_free(struct linkmap *m)
{
	size_t i;

	if (m == NULL)
		return;
	for (i = 0; i < m->cap; i++)
		free(m->tab[i].path);
	free(m->retired);
	free(m->tab);
	free(m);
}

static size_t
lm_hash(uint64_t dev, uint64_t ino)
{
	uint64_t h = ino * 0x9e3779b97f4a7c15ull ^ dev * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h ^ (h >> 29));
}

static struct lm_ent *
lm_find(struct linkmap *m, uint64_t dev, uint64_t ino)
{
	size_t i = lm_hash(dev, ino) & (m->cap - 1);

	while (m->tab[i].left != 0) {
		if (m->tab[i].dev == dev && m->tab[i].ino == ino)
			return &m->tab[i];
		i = (i + 1) & (m->cap - 1);
	}
	return &m->tab[i];
}

static int
lm_grow(struct linkmap *m)
{
	struct lm_ent *old = m->tab;
	size_t oldcap = m->cap, i;

	if ((m->tab = calloc(oldcap * 2, sizeof(*m->tab))) == NULL) {
		m->tab = old;
		return CB_ERR_NOMEM;
	}
	m->cap = oldcap * 2;
	for (i = 0; i < oldcap; i++)
		if (old[i].left != 0)
			*lm_find(m, old[i].dev, old[i].ino) = old[i];
	free(old);
	return 0;
}

/* Remove the slot ${e} keeping linear probing chains intact. */
static void
lm_delete(struct linkmap *m, struct lm_ent *e)
{
	size_t i = (size_t)(e - m->tab), j = i;

	m->tab[i].left = 0;
	for (;;) {
		size_t k;

		j = (j + 1) & (m->cap - 1);
		if (m->tab[j].left == 0)
			break;
		k = lm_hash(m->tab[j].dev, m->tab[j].ino) & (m->cap - 1);
		if ((i <= j) ? (i < k && k <= j) : (i < k || k <= j))
			continue;
		m->tab[i] = m->tab[j];
		m->tab[j].left = 0;
		m->tab[j].path = NULL;
		i = j;
	}
	m->used--;
}

int
linkmap_visit(struct linkmap *m, uint64_t dev, uint64_t ino, uint64_t nlink,
    const char *path, const char **first)
{
	struct lm_ent *e;
	int r;

	*first = NULL;
	free(m->retired);
	m->retired = NULL;
	e = lm_find(m, dev, ino);
	if (e->left != 0) {
		*first = e->path;
		if (--e->left == 0) {
			m->retired = e->path;
			e->path = NULL;
			e->left = 1; /* occupied until deleted */
			lm_delete(m, e);
		}
		return 0;
	}
	if (nlink < 2)
		return 0;
	if ((m->used + 1) * 2 > m->cap) {
		if ((r = lm_grow(m)) != 0)
			return r;
		e = lm_find(m, dev, ino);
	}
	if ((e->path = strdup(path)) == NULL)
		return CB_ERR_NOMEM;
	e->dev = dev;
	e->ino = ino;
	e->left = nlink - 1;
	m->used++;
	return 0;
}
