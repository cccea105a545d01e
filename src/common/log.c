#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <unistd.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

static const char *log_prefix = "capback";
static int log_level = 3;

void
log_init(const char *prefix, int verbosity)
{
	log_prefix = prefix;
	log_level = verbosity;
}

int
log_verbosity(void)
{
	return log_level;
}

static void __attribute__((format(printf, 1, 0)))
log_vmsg(const char *fmt, va_list ap)
{
	char line[4096];
	int n;

	n = vsnprintf(line, sizeof(line), fmt, ap);
	if (n < 0)
		return;
	fprintf(stderr, "%s: %s\n", log_prefix, line);
}

void
log_msg(int level, const char *fmt, ...)
{
	va_list ap;

	if (level > log_level)
		return;
	va_start(ap, fmt);
	log_vmsg(fmt, ap);
	va_end(ap);
}

void
fatal(const char *fmt, ...)
{
	va_list ap;

	if (log_level >= 1) {
		va_start(ap, fmt);
		log_vmsg(fmt, ap);
		va_end(ap);
	}
	exit(1);
}

/*
 * The length of the valid UTF-8 sequence at ${p} (${n} bytes left, its
 * character in *${cpp}), else 0: no overlong forms, surrogates or values
 * beyond U+10FFFF.
 */
static size_t
utf8_decode(const unsigned char *p, size_t n, unsigned long *cpp)
{
	size_t len, i;
	unsigned long cp;

	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1fu;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0fu;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3fu);
	}
	if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
	    cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return 0;
	*cpp = cp;
	return len;
}

/*
 * utf8_decode's length if the character is one a terminal shows as such,
 * else 0: not C1 controls (U+0080..U+009F, which some terminals obey), not
 * the bidi controls that reorder what follows (U+202A..U+202E,
 * U+2066..U+2069).
 */
static size_t
utf8_shown(const unsigned char *p, size_t n)
{
	unsigned long cp;
	size_t len = utf8_decode(p, n, &cp);

	if (len == 0 || cp < 0xa0 || (cp >= 0x202a && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069))
		return 0;
	return len;
}

#define Q_UTF8	    1 /* keep what utf8_shown accepts */
#define Q_BACKSLASH 2 /* keep '\' (text whose names are quoted already) */

/*
 * ${p} into ${out} (${cap} bytes, at least 8): printable ASCII as it is,
 * and what ${how} keeps; every other byte (and '\') as \xNN; "..." at the
 * end when it does not fit.
 */
static const char *
quote_into(char *out, size_t cap, const char *p, size_t len, int how)
{
	const unsigned char *u = (const unsigned char *)p;
	size_t o = 0, i = 0, k;
	int utf8 = how & Q_UTF8;

	while (i < len && o + 8 < cap) {
		if (u[i] >= 0x20 && u[i] < 0x7f &&
		    (u[i] != '\\' || (how & Q_BACKSLASH)))
			out[o++] = (char)u[i++];
		else if (utf8 && (k = utf8_shown(u + i, len - i)) > 0) {
			memcpy(out + o, p + i, k);
			o += k;
			i += k;
		} else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", u[i++]);
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}

const char *
log_quote(const char *p, unsigned long len)
{
	static char bufs[4][4010];
	static int which;

	return quote_into(bufs[which++ & 3], sizeof(bufs[0]), p, len, 0);
}

const char *
log_name(const char *p, unsigned long len)
{
	/* a whole path of 4096 bytes, every byte escaped */
	static char bufs[4][4 * 4096 + 8 + 4];
	static int which;

	return quote_into(bufs[which++ & 3], sizeof(bufs[0]), p, len, Q_UTF8);
}

const char *
log_text(const char *p, unsigned long len)
{
	static char bufs[2][4 * 4096 + 8 + 4];
	static int which;

	return quote_into(bufs[which++ & 1], sizeof(bufs[0]), p, len,
	    Q_UTF8 | Q_BACKSLASH);
}

/* ${t} double-quoted, '"' and '\\' escaped: a JSON string, and a YAML
 * double-quoted scalar, of text log_name made safe. */
static void
put_quoted(FILE *f, const char *t)
{
	fputc('"', f);
	for (; *t != '\0'; t++) {
		if (*t == '"' || *t == '\\')
			fputc('\\', f);
		fputc(*t, f);
	}
	fputc('"', f);
}

void
log_json_str(FILE *f, const char *p, unsigned long len)
{
	const unsigned char *u = (const unsigned char *)p;
	unsigned long cp;
	size_t i = 0, k;

	/* JSON's own escapes where it has them, so that every name reads
	 * back as its bytes: the controls log_name would not show as \u
	 * escapes of their characters, a byte that is not UTF-8 as the
	 * surrogate U+DC00 + byte (as Python's surrogateescape reads it) */
	fputc('"', f);
	while (i < len) {
		if (u[i] == '"' || u[i] == '\\') {
			fputc('\\', f);
			fputc(u[i++], f);
		} else if (u[i] < 0x20 || u[i] == 0x7f)
			fprintf(f, "\\u%04x", u[i++]);
		else if (u[i] < 0x80)
			fputc(u[i++], f);
		else if ((k = utf8_shown(u + i, len - i)) > 0) {
			fwrite(p + i, 1, k, f);
			i += k;
		} else if ((k = utf8_decode(u + i, len - i, &cp)) > 0) {
			fprintf(f, "\\u%04lx",
			    cp); /* C1, bidi: all < U+10000 */
			i += k;
		} else
			fprintf(f, "\\udc%02x", u[i++]);
	}
	fputc('"', f);
}

void
log_json_text(FILE *f, const char *p, unsigned long len)
{
	put_quoted(f, log_text(p, len));
}

static double
mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

const char *
log_bytes(char *buf, size_t len, unsigned long long b)
{
	static const char *const u[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)b;
	int i = 0;

	while (v >= 1024 && i < 4) {
		v /= 1024;
		i++;
	}
	snprintf(buf, len, i ? "%.1f %s" : "%.0f %s", v, u[i]);
	return buf;
}

void
log_progress_start(struct log_progress *p, unsigned long long total)
{
	memset(p, 0, sizeof(*p));
	p->start = mono_now();
	p->total = total;
}

void
log_progress(struct log_progress *p, unsigned long long files,
    unsigned long long bytes, const char *what, const char *path,
    unsigned long len)
{
	double now = mono_now(), el = now - p->start;
	char b[32], r[32], eta[48] = "";
	const char *shown;
	size_t sl;

	if (now - p->last < 0.5)
		return;
	p->last = now;
	if (p->total_bytes > bytes && bytes > 0)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
		    el * (double)(p->total_bytes - bytes) / (double)bytes);
	else if (p->total > files && files > 0)
		snprintf(eta, sizeof(eta), ", ETA %.0f s",
		    el * (double)(p->total - files) / (double)files);
	shown = log_name(path, len);
	sl = strlen(shown);
	dprintf(2, "\r\033[K%llu files, %s %s (%s/s)%s  %s%s", files,
	    log_bytes(b, sizeof(b), bytes), what,
	    /* over half a second at least: a rate over the first
	     * milliseconds said 43 GiB/s (new-user review) */
	    log_bytes(r, sizeof(r),
		(unsigned long long)((double)bytes / (el > 0.5 ? el : 0.5))),
	    eta, sl > 40 ? "..." : "", sl > 40 ? shown + sl - 40 : shown);
	p->drawn = 1;
}

void
log_progress_end(struct log_progress *p)
{
	if (p->drawn)
		(void)!write(2, "\r\033[K", 4);
	p->drawn = 0;
}

void
log_yaml_scalar(FILE *f, const char *s, unsigned long len)
{
	static const char *const words[] = { "null", "~", "true", "false",
		"yes", "no", "on", "off", "y", "n" };
	const char *t = log_name(s, len);
	size_t tl = strlen(t), i;
	int quote = tl == 0 || t[0] == ' ' || t[tl - 1] == ' ' ||
	    strchr("-?:,[]{}#&*!|>'\"%@`", t[0]) != NULL ||
	    strstr(t, ": ") != NULL || strstr(t, " #") != NULL ||
	    t[tl - 1] == ':' || strchr(t, '\\') != NULL;
	char *end;

	for (i = 0; !quote && i < sizeof(words) / sizeof(words[0]); i++)
		quote = strcasecmp(t, words[i]) == 0;
	if (!quote) {
		(void)strtod(t, &end);
		quote = *end == '\0'; /* a number */
	}
	if (quote)
		put_quoted(f, t);
	else
		fputs(t, f);
}
