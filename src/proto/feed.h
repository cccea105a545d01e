#ifndef FEED_H
#define FEED_H

#include <stdint.h>

struct msg_entry;

/*
 * The sending side of an entry stream (docs/protocol.md, "Backup
 * exchange"): HELLO as a reader, ENTRY frames inside the credit window,
 * WANT, WANT_DELTA and WANT_DIGEST answered in seq order while entries
 * keep going, ENTRIES_END, until the receiver's DONE.  What the entries and the
 * files' content are comes from the caller: the reader walks a tree, a
 * repository's read-only side (a vault's pull) reads a session.
 */
struct feed_ops {
	/* next(ctx, e): the next entry into ${e} (cleared first by the
	 * callee as it needs); 0, CB_ERR_EOF at the end, or an error */
	int (*next)(void *ctx, struct msg_entry *e);
	/* open(ctx, seq, path): the content of the regular file sent as
	 * entry ${seq}: a descriptor open for reading, or -1 with errno */
	int (*open)(void *ctx, uint64_t seq, const char *path);
	/* done(ctx, seq): entry ${seq}'s content was sent or refused, or
	 * the receiver passed it without asking (may be NULL) */
	void (*done)(void *ctx, uint64_t seq);
	const char *source; /* "walking the source": for error messages */
};

/*
 * feed_run(in, out, ops, ctx, settles): the whole exchange on ${in} and
 * ${out}; ${settles} as frame_out's (the file may change while it is
 * read: asked after the receiver has the bytes).  Fatal on a protocol
 * error; exit(1) when the receiver went away (it said why).
 */
void
feed_run(int in, int out, const struct feed_ops *ops, void *ctx, int settles);

#endif
