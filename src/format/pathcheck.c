#include "pathcheck.h"

#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "meta.h"

void
pathcheck_init(struct pathcheck *pc)
{
	memset(pc, 0, sizeof(*pc));
	strbuf_init(&pc->last);
}

void
pathcheck_release(struct pathcheck *pc)
{
	while (pc->depth > 0)
		free(pc->stack[--pc->depth]);
	free(pc->stack);
	strbuf_release(&pc->last);
	pathcheck_init(pc);
}

static int
is_root(const char *p, size_t len)
{
	return len == 1 && p[0] == '.';
}

int
pathcheck_add(struct pathcheck *pc, const char *path, size_t len, int is_dir)
{
	const char *slash;
	size_t plen;
	int r;

	if (pc->count == 0 ?
		!is_root(path, len) :
		meta_path_cmp(pc->last.buf, pc->last.len, path, len) >= 0)
		return CB_ERR_PROTO;
	if (pc->count > 0) {
		slash = memrchr(path, '/', len);
		plen = slash ? (size_t)(slash - path) : 0;
		while (pc->depth > 0) {
			const char *top = pc->stack[pc->depth - 1];
			size_t tlen = strlen(top);

			if (plen == 0 ?
				is_root(top, tlen) :
				(tlen == plen && memcmp(top, path, plen) == 0))
				break;
			free(pc->stack[--pc->depth]);
		}
		if (pc->depth == 0)
			return CB_ERR_PROTO;
	}
	strbuf_reset(&pc->last);
	if ((r = strbuf_add(&pc->last, path, len)) != 0)
		return r;
	pc->count++;
	if (!is_dir)
		return 0;
	if (pc->depth == pc->cap) {
		size_t ncap = pc->cap ? pc->cap * 2 : 16;
		char **ns = realloc(pc->stack, ncap * sizeof(*ns));

		if (ns == NULL)
			return CB_ERR_NOMEM;
		pc->stack = ns;
		pc->cap = ncap;
	}
	if ((pc->stack[pc->depth] = malloc(len + 1)) == NULL)
		return CB_ERR_NOMEM;
	memcpy(pc->stack[pc->depth], path, len);
	pc->stack[pc->depth][len] = '\0';
	pc->depth++;
	return 0;
}
