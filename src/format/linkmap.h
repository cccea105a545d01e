#ifndef LINKMAP_H
#define LINKMAP_H

#include <stddef.h>
#include <stdint.h>

/*
 * Hard-link groups seen so far in one pass: (device, inode) -> the first
 * path of the group.  An entry is dropped once all its links were seen,
 * so memory is bounded by the number of partially seen groups.
 */
struct linkmap;

int linkmap_new(struct linkmap **out);
void linkmap_free(struct linkmap *m);

/*
 * linkmap_visit(m, dev, ino, nlink, path, first):
 * Record one link of the group.  If the group is new, ${path} is stored
 * and *first is NULL; else *first borrows the stored first path (valid
 * until the next call).  Returns 0 or CB_ERR_NOMEM.
 */
int linkmap_visit(struct linkmap *m, uint64_t dev, uint64_t ino, uint64_t nlink,
    const char *path, const char **first);

#endif
