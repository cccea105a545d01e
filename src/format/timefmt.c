#include "timefmt.h"

#include <math.h>
#include <time.h>
#include <stdio.h>
#include <string.h>

#include "cb_err.h"

/*
 * Session timestamps as rdiff-backup 2.2 writes and parses them, with
 * calendar arithmetic done here (proleptic Gregorian, no time zone
 * database) so that results never depend on the process's TZ.
 */

#define TS_DATE_LEN 19 /* "YYYY-MM-DDTHH:MM:SS" */

/* Days since 1970-01-01 of y-m-d; d may exceed the month like timegm. */
static int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void
civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = yoe + era * 400 + (*m <= 2);
}

int
timefmt_utc(int64_t t, char buf[TIMEFMT_LEN])
{
	int64_t days, secs, y;
	int m, d;

	/* 1901-01-01T00:00:00Z .. 2099-12-31T23:59:59Z */
	if (t < -2177452800LL || t > 4102444799LL)
		return CB_ERR_BAD_VALUE;
	days = t / 86400;
	secs = t % 86400;
	if (secs < 0) {
		secs += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	snprintf(buf, TIMEFMT_LEN, "%04d-%02d-%02dT%02d:%02d:%02dZ", (int)y, m,
	    d, (int)(secs / 3600), (int)(secs / 60 % 60), (int)(secs % 60));
	return 0;
}

/* A field of ASCII digits (Python's int() on a split part, minus its
 * leniency for signs, spaces and underscores). */
static int
parse_digits(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (len == 0 || len > 18)
		return CB_ERR_BAD_VALUE;
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return CB_ERR_BAD_VALUE;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/* The first 19 characters split on 'T', ':' and '-' into six numbers. */
static int
parse_date(const char *s, int64_t f[6])
{
	size_t i, start = 0, n = 0;

	for (i = 0; i <= TS_DATE_LEN; i++) {
		if (i < TS_DATE_LEN && s[i] != 'T' && s[i] != ':' &&
		    s[i] != '-')
			continue;
		if (n == 6 || parse_digits(s + start, i - start, &f[n]) != 0)
			return CB_ERR_BAD_VALUE;
		n++;
		start = i + 1;
	}
	if (n != 6)
		return CB_ERR_BAD_VALUE;
	if (!(f[0] > 1900 && f[0] < 2100 && f[1] >= 1 && f[1] <= 12 &&
		f[2] >= 1 && f[2] <= 31 && f[3] <= 23 && f[4] <= 59 &&
		f[5] <= 61))
		return CB_ERR_BAD_VALUE;
	return 0;
}

/*
 * Zone designator: "Z" or "+HH:MM" / "-HH-MM" etc.  The correction is
 * -60 * (60 * int(sign HH) + int(MM)), minutes added unsigned (2.2).
 */
static int
parse_zone(const char *z, size_t len, int64_t *corr)
{
	int64_t hh, mm;

	if (len == 1 && z[0] == 'Z') {
		*corr = 0;
		return 0;
	}
	if (len != 6 || (z[0] != '+' && z[0] != '-') ||
	    (z[3] != ':' && z[3] != '-'))
		return CB_ERR_BAD_VALUE;
	if (parse_digits(z + 1, 2, &hh) != 0 ||
	    parse_digits(z + 4, 2, &mm) != 0)
		return CB_ERR_BAD_VALUE;
	if (z[0] == '-')
		hh = -hh;
	*corr = -60 * (60 * hh + mm);
	return 0;
}

int
timefmt_parse(const char *s, size_t len, int64_t *t)
{
	int64_t f[6], corr;

	if (len < TS_DATE_LEN || memchr(s, '\0', len) != NULL)
		return CB_ERR_BAD_VALUE;
	if (parse_date(s, f) != 0 ||
	    parse_zone(s + TS_DATE_LEN, len - TS_DATE_LEN, &corr) != 0)
		return CB_ERR_BAD_VALUE;
	*t = days_from_civil(f[0], f[1], f[2]) * 86400 + f[3] * 3600 +
	    f[4] * 60 + f[5] + corr;
	return 0;
}

static int
parse_ext(const char *s, size_t len, enum incname_ext *ext)
{
	static const struct {
		const char *name;
		enum incname_ext ext;
	} exts[] = {
		{ "snapshot", INC_SNAPSHOT },
		{ "diff", INC_DIFF },
		{ "dir", INC_DIR },
		{ "missing", INC_MISSING },
		{ "data", INC_DATA },
	};
	size_t i;

	for (i = 0; i < sizeof(exts) / sizeof(exts[0]); i++) {
		if (strlen(exts[i].name) == len &&
		    memcmp(exts[i].name, s, len) == 0) {
			*ext = exts[i].ext;
			return 0;
		}
	}
	return CB_ERR_BAD_VALUE;
}

/* Position of the last '.' in s[0..end), or -1. */
static long
last_dot(const char *s, size_t end)
{
	const char *p = memrchr(s, '.', end);

	return p == NULL ? -1 : (long)(p - s);
}

int
incname_parse(const char *name, size_t len, struct incname *out)
{
	struct incname in = { 0, 0, 0, 0 };
	long dext, dtime;
	size_t end = len;

	if (memchr(name, '\0', len) != NULL)
		return CB_ERR_BAD_VALUE;
	if (len >= 3 && memcmp(name + len - 3, ".gz", 3) == 0) {
		in.gz = 1;
		end = len - 3;
	}
	/* "<base>.<time>.<ext>": the base may be empty but needs its dot. */
	if ((dext = last_dot(name, end)) < 0 ||
	    (dtime = last_dot(name, (size_t)dext)) < 0)
		return CB_ERR_BAD_VALUE;
	if (parse_ext(name + dext + 1, end - (size_t)dext - 1, &in.ext) != 0)
		return CB_ERR_BAD_VALUE;
	if (timefmt_parse(name + dtime + 1, (size_t)(dext - dtime - 1),
		&in.time) != 0)
		return CB_ERR_BAD_VALUE;
	in.baselen = (size_t)dtime;
	*out = in;
	return 0;
}

/* rdiff-backup's Time.inttopretty of a float: "2 hours 1 minute 3.50
 * seconds". */
const char *
timefmt_span_pretty(double secs, char *buf, size_t len)
{
	double h = floor(secs / 3600), m;
	size_t n = 0;

	buf[0] = '\0';
	secs -= h * 3600;
	m = floor(secs / 60);
	secs -= m * 60;
	if (h > 1)
		n += (size_t)snprintf(buf + n, len - n, "%.0f hours", h);
	else if (h == 1)
		n += (size_t)snprintf(buf + n, len - n, "1 hour");
	if (m >= 1 && n < len)
		n += (size_t)snprintf(buf + n, len - n, "%s%.0f minute%s",
		    n ? " " : "", m, m > 1 ? "s" : "");
	if (n < len && secs == 1)
		snprintf(buf + n, len - n, "%s1 second", n ? " " : "");
	else if (n < len && (n == 0 || secs > 1))
		snprintf(buf + n, len - n, "%s%.2f seconds", n ? " " : "",
		    secs);
	return buf;
}

const char *
timefmt_byte_summary(double b, char *buf, size_t len)
{
	static const struct {
		double unit;
		const char *name;
	} u[] = { { 1099511627776.0, "TB" }, { 1073741824.0, "GB" },
		{ 1048576.0, "MB" }, { 1024.0, "KB" } };
	const char *sign = b < 0 ? "-" : "";
	size_t i;

	b = fabs(b);
	for (i = 0; i < sizeof(u) / sizeof(u[0]); i++)
		if (b >= u[i].unit) {
			double v = b / u[i].unit;

			snprintf(buf, len, "%s%.*f %s", sign,
			    v >= 100	? 0 :
				v >= 10 ? 1 :
					  2,
			    v, u[i].name);
			return buf;
		}
	b = nearbyint(b); /* Python's round: half to even */
	snprintf(buf, len, b == 1 ? "%s1 byte" : "%s%.0f bytes", sign, b);
	return buf;
}

const char *
timefmt_pretty(int64_t t, char *buf, size_t len)
{
	time_t tt = (time_t)t;
	struct tm tm;

	localtime_r(&tt, &tm);
	strftime(buf, len, "%a %b %e %H:%M:%S %Y", &tm);
	return buf;
}
