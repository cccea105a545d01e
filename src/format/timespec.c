#include "timespec.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "repoloc.h"
#include "strbuf.h"
#include "timefmt.h"

/*
 * Time strings as rdiff-backup 2.2's Time.genstrtotime reads them, and the
 * session list of a repository.  Local time is whatever the process TZ
 * says; the zone designator used for strings without one is taken at the
 * wall clock, as rdiff-backup's Time._get_tzd() does.
 */

#define TZD_LEN	   8  /* "+HH:MM" + NUL, or "Z" */
#define GENSTR_MAX 64 /* longest string worth trying as a timestamp */

static int
is_digit(char c)
{
	return c >= '0' && c <= '9';
}

/* Number of leading ASCII digits of ${s}. */
static size_t
count_digits(const char *s)
{
	size_t n = 0;

	while (is_digit(s[n]))
		n++;
	return n;
}

/* s[0..len) as a non-negative decimal; CB_ERR_BAD_VALUE beyond INT64_MAX. */
static int
parse_dec(const char *s, size_t len, int64_t *out)
{
	int64_t v = 0;
	size_t i;

	if (len == 0)
		return CB_ERR_BAD_VALUE;
	for (i = 0; i < len; i++) {
		if (!is_digit(s[i]) || v > (INT64_MAX - (s[i] - '0')) / 10)
			return CB_ERR_BAD_VALUE;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

/*
 * Zone designator of the local zone at ${wall}: "Z" for offset 0, else
 * "+HH:MM" / "-HH:MM" with the offset in minutes floor-divided by 60 (the
 * rdiff-backup quirk for negative half-hour zones, section 2.1; the
 * parser undoes it).
 */
static void
local_tzd(int64_t wall, char buf[TZD_LEN])
{
	time_t tt = (time_t)wall;
	struct tm tm;
	long o = 0, h, m;

	if (localtime_r(&tt, &tm) != NULL && tm.tm_gmtoff > -86400 &&
	    tm.tm_gmtoff < 86400)
		o = tm.tm_gmtoff / 60;
	if (o == 0) {
		memcpy(buf, "Z", 2);
		return;
	}
	h = o >= 0 ? o / 60 : -((-o + 59) / 60);
	m = o - 60 * h;
	if (h < 0)
		h = -h;
	buf[0] = o > 0 ? '+' : '-';
	buf[1] = (char)('0' + h / 10);
	buf[2] = (char)('0' + h % 10);
	buf[3] = ':';
	buf[4] = (char)('0' + m / 10);
	buf[5] = (char)('0' + m % 10);
	buf[6] = '\0';
}

/* timefmt_parse of ${s} followed by ${suffix}; a result of 0 fails. */
static int
parse_stamp(const char *s, size_t len, const char *suffix, int64_t *out)
{
	char buf[GENSTR_MAX + TZD_LEN];
	size_t slen = strlen(suffix);
	int64_t t;

	if (len > GENSTR_MAX)
		return CB_ERR_BAD_VALUE;
	memcpy(buf, s, len);
	memcpy(buf + len, suffix, slen);
	if (timefmt_parse(buf, len + slen, &t) != 0 || t == 0)
		return CB_ERR_BAD_VALUE;
	*out = t;
	return 0;
}

/* "<n>B": session n back from the newest, the oldest when too few. */
static int
parse_session(const char *s, size_t len, const int64_t *sessions,
    size_t nsessions, int64_t *out)
{
	size_t n = 0, i;

	if (nsessions == 0)
		return CB_ERR_BAD_VALUE;
	for (i = 0; i + 1 < len && n < nsessions; i++)
		n = n * 10 + (size_t)(s[i] - '0');
	*out = n >= nsessions ? sessions[0] : sessions[nsessions - 1 - n];
	return 0;
}

/* ---- asctime strings: Python's time.strptime(s) + time.mktime ---- */

/* Python's "\s" (ASCII part): space, \t \n \v \f \r and \x1c..\x1f. */
static int
is_pyspace(char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r') ||
	    (c >= '\x1c' && c <= '\x1f');
}

/* One or more whitespace characters ("\s+" between directives). */
static int
skip_ws(const char **p)
{
	const char *s = *p;

	while (is_pyspace(*s))
		s++;
	if (s == *p)
		return CB_ERR_BAD_VALUE;
	*p = s;
	return 0;
}

/* An abbreviated English name from ${names}, case-insensitive. */
static int
match_name(const char **p, const char *const *names, int n, int *idx)
{
	int i;

	for (i = 0; i < n; i++) {
		if (strncasecmp(*p, names[i], 3) == 0) {
			*p += 3;
			*idx = i;
			return 0;
		}
	}
	return CB_ERR_BAD_VALUE;
}

/*
 * A one- or two-digit field: two digits must lie in [lo2, hi2], one digit
 * in [lo1, 9].  This is what Python's alternations (e.g. "%d":
 * 3[01]|[12]\d|0[1-9]|[1-9]) accept when a non-digit follows.
 */
static int
match_num(const char **p, int lo2, int hi2, int lo1, int *v)
{
	size_t n = count_digits(*p);
	const char *s = *p;

	if (n == 2) {
		*v = (s[0] - '0') * 10 + (s[1] - '0');
		if (*v < lo2 || *v > hi2)
			return CB_ERR_BAD_VALUE;
	} else if (n == 1) {
		*v = s[0] - '0';
		if (*v < lo1)
			return CB_ERR_BAD_VALUE;
	} else
		return CB_ERR_BAD_VALUE;
	*p += n;
	return 0;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int y, int m)
{
	static const int mdays[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };

	return m == 2 && is_leap(y) ? 29 : mdays[m - 1];
}

/* "%a %b %d %H:%M:%S %Y" in the C locale, the whole string. */
static int
parse_asctime(const char *s, int64_t *out)
{
	static const char *const wdays[7] = { "mon", "tue", "wed", "thu", "fri",
		"sat", "sun" };
	static const char *const months[12] = { "jan", "feb", "mar", "apr",
		"may", "jun", "jul", "aug", "sep", "oct", "nov", "dec" };
	const char *p = s;
	int wday, mon, day, hh, mm, ss;
	int64_t year;
	struct tm tm;
	time_t t;

	if (match_name(&p, wdays, 7, &wday) || skip_ws(&p) ||
	    match_name(&p, months, 12, &mon) || skip_ws(&p) ||
	    match_num(&p, 1, 31, 1, &day) || skip_ws(&p) ||
	    match_num(&p, 0, 23, 0, &hh) || *p++ != ':' ||
	    match_num(&p, 0, 59, 0, &mm) || *p++ != ':' ||
	    match_num(&p, 0, 61, 0, &ss) || skip_ws(&p))
		return CB_ERR_BAD_VALUE;
	if (count_digits(p) != 4 || p[4] != '\0' || parse_dec(p, 4, &year) != 0)
		return CB_ERR_BAD_VALUE;
	/* strptime validates the date through datetime.date. */
	if (year < 1 || day > days_in_month((int)year, mon + 1))
		return CB_ERR_BAD_VALUE;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)year - 1900;
	tm.tm_mon = mon;
	tm.tm_mday = day;
	tm.tm_hour = hh;
	tm.tm_min = mm;
	tm.tm_sec = ss;
	tm.tm_isdst = -1;
	tm.tm_wday = -1;
	t = mktime(&tm);
	if (t == (time_t)-1 && tm.tm_wday == -1)
		return CB_ERR_BAD_VALUE;
	(void)wday; /* parsed, but as in Python never checked */
	*out = (int64_t)t;
	return 0;
}

/* ---- intervals and dates ---- */

static int
unit_seconds(char u, int64_t *secs)
{
	switch (u) {
	case 's': *secs = 1; return 0;
	case 'm': *secs = 60; return 0;
	case 'h': *secs = 3600; return 0;
	case 'D': *secs = 86400; return 0;
	case 'W': *secs = 7 * 86400; return 0;
	case 'M': *secs = 30 * 86400; return 0;
	case 'Y': *secs = 365 * 86400; return 0;
	}
	return CB_ERR_BAD_VALUE;
}

/* One or more "<int><unit>"; ${now} minus the total. */
static int
parse_interval(const char *s, size_t len, int64_t now, int64_t *out)
{
	int64_t total = 0, num, unit;
	size_t n;

	if (len < 2)
		return CB_ERR_BAD_VALUE;
	while (*s != '\0') {
		n = count_digits(s);
		if (n == 0 || parse_dec(s, n, &num) != 0 ||
		    unit_seconds(s[n], &unit) != 0)
			return CB_ERR_BAD_VALUE;
		if (num > (INT64_MAX - total) / unit)
			return CB_ERR_BAD_VALUE;
		total += num * unit;
		s += n + 1;
	}
	if (now < INT64_MIN + total)
		return CB_ERR_BAD_VALUE;
	*out = now - total;
	return 0;
}

/* Fields of a date "YYYY[-/]M[M][-/]D[D]" or "M[M][-/]D[D][-/]YYYY". */
static int
match_date(const char *s, int64_t *y, int64_t *m, int64_t *d)
{
	size_t n[3], i;
	const char *f[3];
	const char *p = s;
	int64_t v[3];

	for (i = 0; i < 3; i++) {
		f[i] = p;
		n[i] = count_digits(p);
		p += n[i];
		if (i < 2 && *p != '-' && *p != '/')
			return CB_ERR_BAD_VALUE;
		if (i < 2)
			p++;
	}
	if (*p != '\0')
		return CB_ERR_BAD_VALUE;
	for (i = 0; i < 3; i++) {
		if (n[i] == 0 || n[i] > 4 || parse_dec(f[i], n[i], &v[i]))
			return CB_ERR_BAD_VALUE;
	}
	if (n[0] == 4 && n[1] <= 2 && n[2] <= 2) {
		*y = v[0];
		*m = v[1];
		*d = v[2];
	} else if (n[0] <= 2 && n[1] <= 2 && n[2] == 4) {
		*m = v[0];
		*d = v[1];
		*y = v[2];
	} else
		return CB_ERR_BAD_VALUE;
	return 0;
}

/* Midnight of the date, with the zone designator of the wall clock. */
static int
parse_date(const char *s, const char *tzd, int64_t *out)
{
	char buf[GENSTR_MAX];
	int64_t y, m, d, t;
	int len;

	if (match_date(s, &y, &m, &d) != 0)
		return CB_ERR_BAD_VALUE;
	len = snprintf(buf, sizeof(buf), "%04lld-%02lld-%02lldT00:00:00%s",
	    (long long)y, (long long)m, (long long)d, tzd);
	if (len < 0 || (size_t)len >= sizeof(buf) ||
	    timefmt_parse(buf, (size_t)len, &t) != 0)
		return CB_ERR_BAD_VALUE;
	*out = t;
	return 0;
}

int
timespec_parse_wall(const char *s, int64_t now, int64_t wall,
    const int64_t *sessions, size_t nsessions, int64_t *out)
{
	char tzd[TZD_LEN];
	size_t len = strlen(s);
	int64_t t;
	int r = CB_ERR_BAD_VALUE;

	local_tzd(wall, tzd);
	if (strcmp(s, "now") == 0) {
		t = now;
		r = 0;
	} else if (len > 0 && count_digits(s) == len)
		r = parse_dec(s, len, &t);
	else if (parse_stamp(s, len, "", &t) == 0 ||
	    parse_stamp(s, len, tzd, &t) == 0)
		r = 0;
	else if (len > 1 && s[len - 1] == 'B' && count_digits(s) == len - 1)
		/* "<n>B" never falls through to the later forms */
		r = parse_session(s, len, sessions, nsessions, &t);
	else if (parse_asctime(s, &t) == 0 ||
	    parse_interval(s, len, now, &t) == 0 || parse_date(s, tzd, &t) == 0)
		r = 0;
	if (r == 0)
		*out = t;
	return r;
}

int
timespec_parse(const char *s, int64_t now, const int64_t *sessions,
    size_t nsessions, int64_t *out)
{
	return timespec_parse_wall(s, now, (int64_t)time(NULL), sessions,
	    nsessions, out);
}

int64_t
timespec_round_down(int64_t t, const int64_t *sessions, size_t n)
{
	int64_t best = 0, oldest = 0;
	int have_best = 0;
	size_t i;

	if (n == 0)
		return t;
	for (i = 0; i < n; i++) {
		if (i == 0 || sessions[i] < oldest)
			oldest = sessions[i];
		if (sessions[i] <= t && (!have_best || sessions[i] > best)) {
			best = sessions[i];
			have_best = 1;
		}
	}
	return have_best ? best : oldest;
}

/* ---- the rdiff-backup-data listing ---- */

/* 1 when rdiff-backup-data/chars_to_quote exists and is not empty. */
static int
quoting_active(int datafd, int *active)
{
	struct stat st;
	int fd, r = 0;

	*active = 0;
	fd = openat(datafd, "chars_to_quote",
	    O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return errno == ENOENT ? 0 : CB_ERR_SYS;
	if (fstat(fd, &st) != 0)
		r = CB_ERR_SYS;
	else
		*active = S_ISREG(st.st_mode) && st.st_size > 0;
	close(fd);
	return r;
}

/*
 * rdiff-backup's unquoting: ";NNN" (three decimal digits) becomes the
 * character NNN, encoded as UTF-8.
 */
static int
unquote_name(struct strbuf *out, const char *s)
{
	unsigned int v;
	int r = 0;

	strbuf_reset(out);
	while (*s != '\0' && r == 0) {
		if (s[0] == ';' && is_digit(s[1]) && is_digit(s[2]) &&
		    is_digit(s[3])) {
			v = (unsigned)(s[1] - '0') * 100 +
			    (unsigned)(s[2] - '0') * 10 +
			    (unsigned)(s[3] - '0');
			if (v < 0x80)
				r = strbuf_addch(out, (int)v);
			else if ((r = strbuf_addch(out, 0xc0 | (v >> 6))) == 0)
				r = strbuf_addch(out, 0x80 | (v & 0x3f));
			s += 4;
		} else
			r = strbuf_addch(out, *s++);
	}
	return r;
}

static enum repo_base
base_kind(const char *name, size_t len)
{
	static const struct {
		const char *name;
		enum repo_base base;
	} bases[] = {
		{ "current_mirror", RB_CURRENT_MIRROR },
		{ "increments", RB_INCREMENTS },
		{ "mirror_metadata", RB_MIRROR_METADATA },
		{ "extended_attributes", RB_EA },
		{ "access_control_lists", RB_ACL },
	};
	size_t i;

	for (i = 0; i < sizeof(bases) / sizeof(bases[0]); i++) {
		if (strlen(bases[i].name) == len &&
		    memcmp(bases[i].name, name, len) == 0)
			return bases[i].base;
	}
	return RB_OTHER;
}

static int
scan_add(struct repo_entry **arr, size_t *n, size_t *cap, const char *name,
    const char *plain, const struct incname *inc)
{
	struct repo_entry *tmp;
	size_t ncap;

	if (*n == *cap) {
		ncap = *cap == 0 ? 32 : *cap * 2;
		if ((tmp = realloc(*arr, ncap * sizeof(**arr))) == NULL)
			return CB_ERR_NOMEM;
		*arr = tmp;
		*cap = ncap;
	}
	if (((*arr)[*n].name = strdup(name)) == NULL)
		return CB_ERR_NOMEM;
	(*arr)[*n].base = base_kind(plain, inc->baselen);
	(*arr)[*n].inc = *inc;
	(*n)++;
	return 0;
}

int
repo_scan(int datafd, struct repo_entry **out, size_t *n)
{
	struct strbuf plain = STRBUF_INIT;
	struct repo_entry *arr = NULL;
	size_t cnt = 0, cap = 0;
	struct incname inc;
	struct dirent *de;
	DIR *dir = NULL;
	int fd, quoted, r, saved;
	const char *nm;

	*out = NULL;
	*n = 0;
	if ((r = quoting_active(datafd, &quoted)) != 0)
		goto out;
	r = CB_ERR_SYS;
	fd = openat(datafd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		goto out;
	if ((dir = fdopendir(fd)) == NULL) {
		saved = errno;
		close(fd);
		errno = saved;
		goto out;
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(dir)) == NULL) {
			r = errno != 0 ? CB_ERR_SYS : 0;
			break;
		}
		nm = de->d_name;
		if (quoted && strchr(nm, ';') != NULL) {
			if ((r = unquote_name(&plain, nm)) != 0)
				break;
			nm = plain.buf;
		}
		if (incname_parse(nm, strlen(nm), &inc) != 0)
			continue;
		if ((r = scan_add(&arr, &cnt, &cap, de->d_name, nm, &inc)) != 0)
			break;
	}
	if (r != 0)
		goto out;
	*out = arr;
	*n = cnt;
	arr = NULL;
	cnt = 0;
out:
	saved = errno;
	if (dir != NULL)
		closedir(dir);
	repo_scan_free(arr, cnt);
	strbuf_release(&plain);
	errno = saved;
	return r;
}

void
repo_scan_free(struct repo_entry *e, size_t n)
{
	size_t i;

	if (e == NULL)
		return;
	for (i = 0; i < n; i++)
		free(e[i].name);
	free(e);
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

size_t
times_sort_unique(int64_t *t, size_t n)
{
	size_t i, j;

	qsort(t, n, sizeof(*t), cmp_i64);
	for (i = 0, j = 0; i < n; i++)
		if (j == 0 || t[j - 1] != t[i])
			t[j++] = t[i];
	return j;
}

/* Times of the entries with the wanted bases, sorted and unique. */
static int
collect_sessions(int datafd, int with_metadata, int64_t **out, size_t *n)
{
	struct repo_entry *e = NULL;
	int64_t *t = NULL;
	size_t ne = 0, nt = 0, i;
	int r, have_mirror = 0;

	*out = NULL;
	*n = 0;
	if ((r = repo_scan(datafd, &e, &ne)) != 0)
		goto out;
	r = CB_ERR_NOMEM;
	if ((t = malloc((ne > 0 ? ne : 1) * sizeof(*t))) == NULL)
		goto out;
	for (i = 0; i < ne; i++) {
		if (e[i].base == RB_CURRENT_MIRROR)
			have_mirror = 1;
		if (e[i].base == RB_CURRENT_MIRROR ||
		    e[i].base == RB_INCREMENTS ||
		    (with_metadata && e[i].base == RB_MIRROR_METADATA))
			t[nt++] = e[i].inc.time;
	}
	r = CB_ERR_CORRUPT;
	if (!have_mirror)
		goto out;
	*out = t;
	*n = times_sort_unique(t, nt);
	t = NULL;
	r = 0;
out:
	free(t);
	repo_scan_free(e, ne);
	return r;
}

int
repo_sessions(int datafd, int64_t **out, size_t *n)
{
	return collect_sessions(datafd, 1, out, n);
}

int
repo_inc_sessions(int datafd, int64_t **out, size_t *n)
{
	return collect_sessions(datafd, 0, out, n);
}

size_t
repo_session_span(const char *repo, int64_t *oldest, int64_t *newest)
{
	int64_t *s = NULL;
	size_t n = 0;
	int dfd = repo_open_data(repo);

	if (dfd < 0)
		return 0;
	if (repo_sessions(dfd, &s, &n) != 0)
		n = 0;
	if (oldest != NULL && n > 0)
		*oldest = s[0];
	if (newest != NULL && n > 0)
		*newest = s[n - 1];
	free(s);
	close(dfd);
	return n;
}

uint64_t
repo_session_stat(int datafd, int64_t t, const char *key)
{
	struct repo_entry *e = NULL;
	size_t n = 0, i;
	uint64_t v = 0;

	if (datafd < 0 || repo_scan(datafd, &e, &n) != 0)
		return 0;
	for (i = 0; i < n; i++)
		if (strncmp(e[i].name, "session_statistics.", 19) == 0 &&
		    e[i].inc.time == t) {
			int fd = openat(datafd, e[i].name,
			    O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
			char buf[2048], k[64];
			ssize_t got =
			    fd >= 0 ? read(fd, buf, sizeof(buf) - 1) : -1;
			const char *p;

			if (fd >= 0)
				close(fd);
			snprintf(k, sizeof(k), "\n%s ", key);
			if (got > 0) {
				buf[got] = '\0';
				if ((p = strstr(buf, k)) != NULL)
					v = strtoull(p + strlen(k), NULL, 10);
			}
			break;
		}
	repo_scan_free(e, n);
	return v;
}
