#ifndef STRBUF_H
#define STRBUF_H

#include <stddef.h>

/*
 * A growable byte buffer, always NUL-terminated after its contents
 * (buf may hold NULs itself).  Owned by the struct.
 */
struct strbuf {
	char *buf;
	size_t len;
	size_t cap;
};

#define STRBUF_INIT        \
	{                  \
		NULL, 0, 0 \
	}

void strbuf_init(struct strbuf *sb);
void strbuf_release(struct strbuf *sb);
/* strbuf_reset(sb): length 0, keeps the allocation. */
void strbuf_reset(struct strbuf *sb);
/* All return 0 or CB_ERR_NOMEM (contents unchanged on failure). */
int strbuf_add(struct strbuf *sb, const void *p, size_t n);
int strbuf_addstr(struct strbuf *sb, const char *s);
int strbuf_addch(struct strbuf *sb, int c);
int strbuf_addf(struct strbuf *sb, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* strbuf_add_u64 / strbuf_add_i64: a number in decimal (no printf: the
 * metadata writer formats millions of them). */
int strbuf_add_u64(struct strbuf *sb, unsigned long long v);
int strbuf_add_i64(struct strbuf *sb, long long v);
/* strbuf_detach(sb, len): hand the buffer out (caller frees), re-init. */
char *strbuf_detach(struct strbuf *sb, size_t *len);

/*
 * array_grow(p, cap, n, elem): make room in the array ${p} of *cap
 * elements of ${elem} bytes for element ${n} (doubling, from 32).
 * Returns the array (maybe moved; *cap updated), or NULL out of memory
 * (${p} still valid).
 */
void *array_grow(void *p, size_t *cap, size_t n, size_t elem);

#endif
