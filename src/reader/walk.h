#ifndef WALK_H
#define WALK_H

#include <stdint.h>

#include "msg.h"

/*
 * The reader's tree walk: entries in rdiff-backup record order (a
 * depth-first walk with each directory's names sorted bytewise), one
 * directory listing per level held in memory, every lookup relative to
 * an open directory fd without following symlinks.
 */
struct walk;

enum walk_flags {
	WALK_NO_EAS = (1 << 0),	 /* skip extended attributes */
	WALK_NO_ACLS = (1 << 1), /* skip POSIX ACLs */
};

/* walk_open(rootfd, flags, out): walk the tree at ${rootfd} (borrowed). */
int walk_open(int rootfd, unsigned flags, struct walk **out);

/*
 * walk_next(w, e):
 * Fill ${e} (cleared first) with the next entry.  An entry that cannot be
 * examined is returned with ENTRY_ERROR and e->err set (the walk goes
 * on; an unreadable directory is not descended).  Returns 0, CB_ERR_EOF
 * at the end, CB_ERR_NOMEM.
 */
int walk_next(struct walk *w, struct msg_entry *e);

/* walk_set_select(w, sel): keep only what ${sel} selects (borrowed). */
struct select;
void walk_set_select(struct walk *w, struct select *sel);

void walk_free(struct walk *w);

#endif
