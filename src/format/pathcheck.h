#ifndef PATHCHECK_H
#define PATHCHECK_H

#include <stddef.h>

#include "strbuf.h"

/*
 * Structural checks on a stream of records received from an untrusted
 * peer: paths strictly increasing in record order, "." first, and every
 * path's parent a directory that was sent before (and is still open).
 * This is what lets the receiver apply each record with one name relative
 * to an already open directory fd.
 */
struct pathcheck {
	struct strbuf last;
	char **stack; /* owned paths of open directories */
	size_t depth;
	size_t cap;
	unsigned long count;
};

void pathcheck_init(struct pathcheck *pc);
void pathcheck_release(struct pathcheck *pc);

/*
 * pathcheck_add(pc, path, len, is_dir):
 * Accept the next record's path.  Returns 0, CB_ERR_PROTO (out of order,
 * no open parent, first record not "."), CB_ERR_NOMEM.  A directory
 * becomes a possible parent of later paths only with ${is_dir}.
 */
int
pathcheck_add(struct pathcheck *pc, const char *path, size_t len, int is_dir);

#endif
