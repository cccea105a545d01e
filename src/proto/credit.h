#ifndef CREDIT_H
#define CREDIT_H

#include <stddef.h>
#include <stdint.h>

/*
 * The credit window of an entry stream (docs/protocol.md, "Pipelining"):
 * the sender of ENTRY frames may run at most MSG_CREDIT_ENTRIES entries
 * and MSG_CREDIT_BYTES bytes of ENTRY payload ahead of the last PROGRESS
 * of its peer.  Both sides keep the same account: the sender to stay
 * inside it (credit_may_send), the receiver to enforce it (credit_take).
 * The sender's PROGRESS is never newer than the receiver's, so a sender
 * inside its own account is inside the receiver's.
 *
 * The byte account is only checked before an entry, against room for the
 * largest one (MSG_ENTRY_MAX): a sender need not know an entry's size
 * before it decides to read it.
 */
struct credit {
	uint64_t sent;	  /* entries sent (receiver: received) */
	uint64_t granted; /* the last PROGRESS */
	uint64_t bytes;	  /* payload of entries (granted, sent] */
	uint32_t *len;	  /* payload of entry s at s % MSG_CREDIT_ENTRIES */
};

/* credit_init(c): an empty account.  0 or CB_ERR_NOMEM; credit_release
 * frees (always call). */
int credit_init(struct credit *c);
void credit_release(struct credit *c);

/* credit_may_send(c): 1 if one more entry (of any size) fits. */
int credit_may_send(const struct credit *c);

/*
 * credit_take(c, len): an entry of ${len} payload bytes was sent or
 * received.  Returns 0, or CB_ERR_PROTO (nothing counted) if it lay
 * beyond the window: the receiver's named protocol error.
 */
int credit_take(struct credit *c, size_t len);

/*
 * credit_receive(c, len, peer): the receiver's credit_take; an entry
 * beyond the window is fatal, the message naming ${peer} and the bound.
 */
void credit_receive(struct credit *c, size_t len, const char *peer);

/*
 * credit_grant(c, upto): PROGRESS ${upto} was sent (receiver) or received
 * (sender).  Returns 0, or CB_ERR_PROTO if ${upto} goes back or beyond
 * the entries sent.
 */
int credit_grant(struct credit *c, uint64_t upto);

#endif
