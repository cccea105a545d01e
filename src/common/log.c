#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

const char *
log_quote(const char *p, unsigned long len)
{
	static char bufs[4][4100];
	static int which;
	char *out = bufs[which++ & 3];
	size_t o = 0;
	unsigned long i;

	for (i = 0; i < len && o < 4000; i++) {
		unsigned char c = (unsigned char)p[i];

		if (c >= 0x20 && c < 0x7f && c != '\\')
			out[o++] = (char)c;
		else
			o += (size_t)snprintf(out + o, 5, "\\x%02x", c);
	}
	if (i < len) {
		memcpy(out + o, "...", 3);
		o += 3;
	}
	out[o] = '\0';
	return out;
}
