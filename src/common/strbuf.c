#include "strbuf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_err.h"

void
strbuf_init(struct strbuf *sb)
{
	sb->buf = NULL;
	sb->len = 0;
	sb->cap = 0;
}

void
strbuf_release(struct strbuf *sb)
{
	free(sb->buf);
	strbuf_init(sb);
}

void
strbuf_reset(struct strbuf *sb)
{
	sb->len = 0;
	if (sb->buf != NULL)
		sb->buf[0] = '\0';
}

/* Make room for ${n} more bytes plus the terminating NUL. */
static int
strbuf_grow(struct strbuf *sb, size_t n)
{
	size_t need, ncap;
	char *p;

	if (n > SIZE_MAX - sb->len - 1)
		return CB_ERR_NOMEM;
	need = sb->len + n + 1;
	if (need <= sb->cap)
		return 0;
	ncap = sb->cap < 64 ? 64 : sb->cap;
	while (ncap < need)
		ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
	if ((p = realloc(sb->buf, ncap)) == NULL)
		return CB_ERR_NOMEM;
	sb->buf = p;
	sb->cap = ncap;
	return 0;
}

int
strbuf_add(struct strbuf *sb, const void *p, size_t n)
{
	int r;

	if ((r = strbuf_grow(sb, n)) != 0)
		return r;
	if (n > 0)
		memcpy(sb->buf + sb->len, p, n);
	sb->len += n;
	sb->buf[sb->len] = '\0';
	return 0;
}

int
strbuf_add_u64(struct strbuf *sb, unsigned long long v)
{
	char d[24];
	size_t i = sizeof(d);

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return strbuf_add(sb, d + i, sizeof(d) - i);
}

int
strbuf_add_i64(struct strbuf *sb, long long v)
{
	int r;

	if (v >= 0)
		return strbuf_add_u64(sb, (unsigned long long)v);
	if ((r = strbuf_addch(sb, '-')) != 0)
		return r;
	/* -(v + 1) + 1: LLONG_MIN has no positive counterpart */
	return strbuf_add_u64(sb, (unsigned long long)(-(v + 1)) + 1);
}

int
strbuf_addstr(struct strbuf *sb, const char *s)
{
	return strbuf_add(sb, s, strlen(s));
}

int
strbuf_addch(struct strbuf *sb, int c)
{
	char ch = (char)c;

	return strbuf_add(sb, &ch, 1);
}

int
strbuf_addf(struct strbuf *sb, const char *fmt, ...)
{
	va_list ap;
	size_t avail = sb->cap > sb->len ? sb->cap - sb->len : 0;
	int n, r;

	/* Straight into the room there is; measured and grown only when
	 * it does not fit (one vsnprintf instead of two, mostly). */
	va_start(ap, fmt);
	n = vsnprintf(avail ? sb->buf + sb->len : NULL, avail, fmt, ap);
	va_end(ap);
	if (n < 0) {
		if (avail)
			sb->buf[sb->len] = '\0';
		return CB_ERR_BAD_VALUE;
	}
	if ((size_t)n >= avail) {
		if ((r = strbuf_grow(sb, (size_t)n)) != 0) {
			if (avail)
				sb->buf[sb->len] = '\0';
			return r;
		}
		va_start(ap, fmt);
		vsnprintf(sb->buf + sb->len, (size_t)n + 1, fmt, ap);
		va_end(ap);
	}
	sb->len += (size_t)n;
	return 0;
}

char *
strbuf_detach(struct strbuf *sb, size_t *len)
{
	char *p;

	if (strbuf_grow(sb, 0) != 0)
		return NULL;
	p = sb->buf;
	if (len != NULL)
		*len = sb->len;
	strbuf_init(sb);
	return p;
}

void *
array_grow(void *p, size_t *cap, size_t n, size_t elem)
{
	size_t nc = *cap ? *cap : 32;
	void *np;

	if (n < *cap)
		return p;
	while (nc <= n)
		nc *= 2;
	if ((np = realloc(p, nc * elem)) == NULL)
		return NULL;
	*cap = nc;
	return np;
}
