#ifndef LEFTOUT_H
#define LEFTOUT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The paths an rdiff-backup session left out of itself: its error_log's
 * "UpdateError ... does not match source" entries (leftout.c).
 */
struct leftout_path {
	char *path;
	size_t len;
	int taken; /* a capback session recorded it again */
};

struct leftout {
	int64_t t;		/* the session */
	struct leftout_path *p; /* sorted by bytes, no duplicates */
	size_t n, cap;
	unsigned long more; /* named beyond the bound, not kept */
};

/*
 * leftout_load(datafd, t, lo): read session ${t}'s error_log (plain or
 * gzip, any spelling of ${t}).  A session without one leaves nothing out.
 * Returns 0, or CB_ERR_SYS / CB_ERR_NOMEM (${lo} then empty).
 */
int leftout_load(int datafd, int64_t t, struct leftout *lo);

/* leftout_find(lo, path, len): the entry for ${path}, or NULL. */
struct leftout_path *
leftout_find(const struct leftout *lo, const char *path, size_t len);

void leftout_free(struct leftout *lo);

#endif
