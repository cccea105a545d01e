#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cb_err.h"
#include "timefmt.h"
#include "timespec.h"

/*
 * Time specifications (docs/rdiff-backup-format.md section 2.4) and the
 * session list of a repository.  Expected values were cross-checked with
 * rdiff-backup 2.2.2's Time.genstrtotime.
 */

#define NOW	 1700000250 /* 2023-11-14T22:17:30Z */
#define WINTER	 1700000000 /* a wall clock in CET (+01:00) */
#define SUMMER	 1690000000 /* 2023-07-22T04:26:40Z, CEST (+02:00) */
#define MIDNIGHT 1699920000 /* 2023-11-14T00:00:00Z */

static const int64_t g_sess[4] = { 1700000000, 1700000100, 1700000200,
	1700000300 };

static char g_dir[64];

static void
set_tz(const char *tz)
{
	assert_int_equal(setenv("TZ", tz, 1), 0);
	tzset();
}

/* Parse with the wall clock ${wall}; assert success, return the time. */
static int64_t
parse_w(const char *s, int64_t wall)
{
	int64_t t = -42;

	assert_int_equal(timespec_parse_wall(s, NOW, wall, g_sess, 4, &t), 0);
	return t;
}

static int64_t
parse(const char *s)
{
	return parse_w(s, WINTER);
}

static void
assert_bad(const char *s)
{
	int64_t t = -42;

	if (timespec_parse_wall(s, NOW, WINTER, g_sess, 4, &t) !=
		CB_ERR_BAD_VALUE ||
	    t != -42 ||
	    timespec_parse(s, NOW, g_sess, 4, &t) != CB_ERR_BAD_VALUE)
		fail_msg("accepted bad time string '%s'", s);
}

/* UTC offset in seconds of the local zone at ${t}. */
static int64_t
gmtoff_at(int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	assert_non_null(localtime_r(&tt, &tm));
	return tm.tm_gmtoff;
}

/* ---- the forms, one by one ---- */

static void
check_zone_free_forms(void)
{
	/* "now", epoch seconds (leading zeros allowed), full timestamps */
	assert_int_equal(parse("now"), NOW);
	assert_int_equal(parse("1700000150"), 1700000150);
	assert_int_equal(parse("0"), 0);
	assert_int_equal(parse("00017"), 17);
	assert_int_equal(parse("9223372036854775807"), INT64_MAX);
	assert_int_equal(parse("2023-11-14T22:15:50Z"), 1700000150);
	assert_int_equal(parse("2023-11-14T23:15:50+01:00"), 1700000150);
	assert_int_equal(parse("2023-11-14T23-15-50+01-00"), 1700000150);
	assert_int_equal(parse("2023-11-14T18:45:50-04:30"), 1700000150);
	/* "<n>B": 0B = newest, beyond the oldest -> the oldest */
	assert_int_equal(parse("0B"), 1700000300);
	assert_int_equal(parse("1B"), 1700000200);
	assert_int_equal(parse("3B"), 1700000000);
	assert_int_equal(parse("4B"), 1700000000);
	assert_int_equal(parse("5B"), 1700000000);
	assert_int_equal(parse("99999999999999999999999999B"), 1700000000);
	/* intervals, now minus */
	assert_int_equal(parse("10s"), NOW - 10);
	assert_int_equal(parse("0s"), NOW);
	assert_int_equal(parse("2h30m"), NOW - 9000);
	assert_int_equal(parse("1D2h"), NOW - 86400 - 7200);
	assert_int_equal(parse("1h1h"), NOW - 7200);
	assert_int_equal(parse("1W"), NOW - 7 * 86400);
	assert_int_equal(parse("1M"), NOW - 30 * 86400);
	assert_int_equal(parse("1Y"), NOW - 365 * 86400);
	assert_int_equal(parse("3D64s"), NOW - 3 * 86400 - 64);
}

static void
test_forms_utc(void **state)
{
	(void)state;
	set_tz("UTC");
	check_zone_free_forms();
	/* timestamp without zone: local (= UTC) */
	assert_int_equal(parse("2023-11-14T22:15:50"), 1700000150);
	assert_int_equal(parse("2023-11-14T22-15-50"), 1700000150);
	/* asctime */
	assert_int_equal(parse("Tue Nov 14 22:15:50 2023"), 1700000150);
	assert_int_equal(parse("tue NOV 14 22:15:50 2023"), 1700000150);
	assert_int_equal(parse("Wed Nov 14 22:15:50 2023"), 1700000150);
	assert_int_equal(parse("Tue  Nov\t14   22:15:50 2023"), 1700000150);
	assert_int_equal(parse("Sat Nov  4 02:05:05 2023"), 1699063505);
	assert_int_equal(parse("Sat Nov 4 2:5:5 2023"), 1699063505);
	assert_int_equal(parse("Sat Nov 04 02:05:05 2023"), 1699063505);
	assert_int_equal(parse("Tue Nov 14 22:15:61 2023"), 1700000161);
	assert_int_equal(parse("Thu Feb 29 00:00:00 2024"), 1709164800);
	/* dates: midnight */
	assert_int_equal(parse("2023-11-14"), MIDNIGHT);
	assert_int_equal(parse("2023/11/14"), MIDNIGHT);
	assert_int_equal(parse("11-14-2023"), MIDNIGHT);
	assert_int_equal(parse("11/14/2023"), MIDNIGHT);
	assert_int_equal(parse("2023-11/14"), MIDNIGHT);
	assert_int_equal(parse("2023-1-5"), 1672876800);
	assert_int_equal(parse("1/5/2023"), 1672876800);
	/* day overflow normalised as timegm does */
	assert_int_equal(parse("2023-02-31"), 1677801600);
	/* the wall clock makes no difference in UTC */
	assert_int_equal(parse_w("2023-11-14", SUMMER), MIDNIGHT);
}

static void
test_forms_berlin(void **state)
{
	int64_t t, off;

	(void)state;
	set_tz("Europe/Berlin");
	check_zone_free_forms();
	/* zone-less timestamps and dates take the offset of the wall clock */
	assert_int_equal(parse_w("2023-11-14T23:15:50", WINTER), 1700000150);
	assert_int_equal(parse_w("2023-11-14T23:15:50", SUMMER),
	    1700000150 - 3600);
	assert_int_equal(parse_w("2023-11-14", WINTER), MIDNIGHT - 3600);
	assert_int_equal(parse_w("11/14/2023", WINTER), MIDNIGHT - 3600);
	assert_int_equal(parse_w("2023/11/14", SUMMER), MIDNIGHT - 7200);
	/* timespec_parse uses the real wall clock */
	off = gmtoff_at((int64_t)time(NULL));
	assert_int_equal(timespec_parse("2023-11-14", NOW, g_sess, 4, &t), 0);
	assert_int_equal(t, MIDNIGHT - off);
	assert_int_equal(timespec_parse("2023-11-14T22:15:50", NOW, g_sess, 4,
			     &t),
	    0);
	assert_int_equal(t, 1700000150 - off);
	/* asctime: local time with the DST of that date */
	assert_int_equal(parse("Tue Nov 14 23:15:50 2023"), 1700000150);
	assert_int_equal(parse("Sat Jul 22 06:26:40 2023"), SUMMER);
	assert_int_equal(parse_w("Sat Jul 22 06:26:40 2023", WINTER), SUMMER);
	/* zone-carrying timestamps ignore TZ */
	assert_int_equal(parse("2023-11-14T22:15:50Z"), 1700000150);
	/* the epoch exactly is rdiff-backup's "false" result: rejected */
	assert_int_equal(timespec_parse_wall("1970-01-01T01:00:00", NOW, WINTER,
			     g_sess, 4, &t),
	    CB_ERR_BAD_VALUE);
	assert_int_equal(parse("1970-01-01T00:00:00"), -3600);
}

static void
test_forms_st_johns(void **state)
{
	(void)state;
	/* -03:30: the designator is written -04:30 and read back right */
	set_tz("America/St_Johns");
	assert_int_equal(parse_w("2023-11-14T18:45:50", WINTER), 1700000150);
	assert_int_equal(parse_w("2023-11-14", WINTER), MIDNIGHT + 12600);
}

static void
test_bad_strings(void **state)
{
	static const char *const bad[] = {
		"",
		"yesterday",
		"Now",
		"now ",
		"-5",
		"+5",
		"1.5h",
		"1x",
		"h",
		"1h2",
		"2h 30m",
		"B",
		"1b",
		"12B3",
		/* Python's integers never overflow; ours refuse */
		"9223372036854775808",
		"99999999999999999999h",
		"106751991167301D",
		"2023-13-01",
		"2023-00-10",
		"1899-01-01",
		"2100-01-01",
		"123-11-14",
		"2023-111-14",
		"11-14-23",
		"2023.11.14",
		"2023-11-14T25:00:00Z",
		"2023-11-14T22:15:50+1:00",
		"2023-11-14T22:15:50Z ",
		"2023-11-14T22:15:5",
		"2023-11-14T22:15",
		"1970-01-01T00:00:00Z",
		"Tue Nov 14 22:15:62 2023",
		"Tue Nov 14 24:15:50 2023",
		"Tue Feb 29 22:15:50 2023",
		"Tue Nov 31 22:15:50 2023",
		"Tue Nov 00 22:15:50 2023",
		"Tue Nov 14 22:15:50 2023 ",
		" Tue Nov 14 22:15:50 2023",
		"Tue Nov 14 22:15:50 20231",
		"Tue Nov 14 22:15:50 0000",
		"Tuesday Nov 14 22:15:50 2023",
		"Tue November 14 22:15:50 2023",
		"Tue Nov 14 22:15 2023",
	};
	size_t i;

	(void)state;
	set_tz("UTC");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_bad(bad[i]);
}

static void
test_sessions_empty(void **state)
{
	int64_t t = -42;

	(void)state;
	assert_int_equal(timespec_parse("0B", NOW, NULL, 0, &t),
	    CB_ERR_BAD_VALUE);
	assert_int_equal(t, -42);
	/* other forms do not need sessions */
	assert_int_equal(timespec_parse("now", NOW, NULL, 0, &t), 0);
	assert_int_equal(t, NOW);
	assert_int_equal(timespec_round_down(12345, NULL, 0), 12345);
}

static void
test_round_down(void **state)
{
	static const int64_t unsorted[4] = { 1700000200, 1700000000, 1700000300,
		1700000100 };

	(void)state;
	assert_int_equal(timespec_round_down(1700000150, g_sess, 4),
	    1700000100);
	assert_int_equal(timespec_round_down(1700000100, g_sess, 4),
	    1700000100);
	assert_int_equal(timespec_round_down(1700000299, g_sess, 4),
	    1700000200);
	assert_int_equal(timespec_round_down(1800000000, g_sess, 4),
	    1700000300);
	assert_int_equal(timespec_round_down(1600000000, g_sess, 4),
	    1700000000);
	assert_int_equal(timespec_round_down(INT64_MIN, g_sess, 4), 1700000000);
	assert_int_equal(timespec_round_down(1700000150, unsorted, 4),
	    1700000100);
	assert_int_equal(timespec_round_down(1, unsorted, 4), 1700000000);
}

/* The example of section 2.4, under both zones. */
static void
test_section_2_4_example(void **state)
{
	static const char *const zones[] = { "UTC", "Europe/Berlin" };
	int64_t t;
	size_t z;

	(void)state;
	for (z = 0; z < 2; z++) {
		set_tz(zones[z]);
		assert_int_equal(timespec_parse("1700000150", NOW, g_sess, 4,
				     &t),
		    0);
		assert_int_equal(timespec_round_down(t, g_sess, 4), 1700000100);
		assert_int_equal(timespec_parse("2023/11/14", NOW, g_sess, 4,
				     &t),
		    0);
		assert_true(t < g_sess[0]);
		assert_int_equal(timespec_round_down(t, g_sess, 4), 1700000000);
		assert_int_equal(timespec_parse("5B", NOW, g_sess, 4, &t), 0);
		assert_int_equal(timespec_round_down(t, g_sess, 4), 1700000000);
	}
}

/* ---- repo_sessions on hand-made data directories ---- */

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(g_dir, sizeof(g_dir), "/tmp/test_timespec.XXXXXX");
	return mkdtemp(g_dir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
	return system(cmd) == 0 ? 0 : -1;
}

/* A fresh empty data directory named ${name}; returns an fd to it. */
static int
make_datadir(const char *name)
{
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", g_dir, name);
	assert_int_equal(mkdir(path, 0700), 0);
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static void
touch(int dfd, const char *name, const char *content)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL, 0600);

	assert_true(fd >= 0);
	if (content != NULL)
		assert_int_equal(write(fd, content, strlen(content)),
		    (ssize_t)strlen(content));
	close(fd);
}

static void
assert_times(const int64_t *got, size_t n, const int64_t *want, size_t nw)
{
	size_t i;

	assert_int_equal(n, nw);
	for (i = 0; i < n; i++)
		assert_int_equal(got[i], want[i]);
}

static void
test_repo_sessions(void **state)
{
	static const int64_t all[] = { 1700000000, 1700000100, 1700000150,
		1700000200 };
	static const int64_t incs[] = { 1700000000, 1700000100, 1700000200 };
	int64_t *t = NULL, out;
	size_t n = 99;
	int dfd;

	(void)state;
	dfd = make_datadir("plain");
	touch(dfd, "chars_to_quote", NULL);
	touch(dfd, "current_mirror.2023-11-14T22:16:40Z.data", "PID 1\n");
	touch(dfd, "increments.2023-11-14T22:13:20Z.dir", NULL);
	/* the same second spelled in another zone */
	touch(dfd, "increments.2023-11-14T23:15:00+01:00.dir", NULL);
	touch(dfd, "mirror_metadata.2023-11-14T22:13:20Z.diff.gz", "x");
	touch(dfd, "mirror_metadata.2023-11-14T22:15:00Z.diff.gz", "x");
	/* the no-change session: metadata only, no root marker */
	touch(dfd, "mirror_metadata.2023-11-14T22:15:50Z.diff", NULL);
	touch(dfd, "mirror_metadata.2023-11-14T22:16:40Z.snapshot.gz", "x");
	/* names that must not count */
	touch(dfd, "session_statistics.2023-11-14T22:30:00Z.data", NULL);
	touch(dfd, "error_log.2023-11-14T22:31:00Z.data", NULL);
	touch(dfd, "file_statistics.2023-11-14T22:32:00Z.data.gz", NULL);
	touch(dfd, "extended_attributes.2023-11-14T22:33:00Z.snapshot", NULL);
	touch(dfd, "mirror_metadata.bogus.snapshot.gz", NULL);
	touch(dfd, "mirror_metadata.2023-11-14T22:34:00Z.txt", NULL);
	touch(dfd, "mirror_metadata.2023-11-14T22:35:00Z", NULL);
	touch(dfd, "mirror_metadata.2023-11-14T22:36:00Z.gz", NULL);
	touch(dfd, "increments.2023-13-14T22:13:20Z.dir", NULL);
	touch(dfd, "xincrements.2023-11-14T22:37:00Z.dir", NULL);
	touch(dfd, "increments.x.2023-11-14T22:38:00Z.dir", NULL);
	touch(dfd, "mirror_metadata.2023-11-14;08422:39:00Z.diff", NULL);
	touch(dfd, "backup.log", NULL);
	assert_int_equal(mkdirat(dfd, "increments", 0700), 0);
	assert_int_equal(mkdirat(dfd, "long_filename_data", 0700), 0);

	assert_int_equal(repo_sessions(dfd, &t, &n), 0);
	assert_times(t, n, all, 4);
	/* "--at nB" counts the no-change session */
	assert_int_equal(timespec_parse("1B", NOW, t, n, &out), 0);
	assert_int_equal(out, 1700000150);
	free(t);
	assert_int_equal(repo_inc_sessions(dfd, &t, &n), 0);
	assert_times(t, n, incs, 3);
	free(t);

	/* a second current_mirror (interrupted session) adds its time */
	touch(dfd, "current_mirror.2023-11-14T22:40:00Z.data", "PID 2\n");
	assert_int_equal(repo_sessions(dfd, &t, &n), 0);
	assert_int_equal(n, 5);
	assert_int_equal(t[4], 1700001600);
	free(t);
	assert_int_equal(repo_inc_sessions(dfd, &t, &n), 0);
	assert_int_equal(n, 4);
	free(t);
	close(dfd);
}

static void
test_repo_sessions_no_mirror(void **state)
{
	int64_t *t = (int64_t *)&t;
	size_t n = 99;
	int dfd;

	(void)state;
	dfd = make_datadir("nomirror");
	touch(dfd, "mirror_metadata.2023-11-14T22:16:40Z.snapshot.gz", "x");
	touch(dfd, "increments.2023-11-14T22:13:20Z.dir", NULL);
	/* a directory named like a marker is not a marker file ... */
	assert_int_equal(repo_sessions(dfd, &t, &n), CB_ERR_CORRUPT);
	assert_null(t);
	assert_int_equal(n, 0);
	assert_int_equal(repo_inc_sessions(dfd, &t, &n), CB_ERR_CORRUPT);
	/* ... but rdiff-backup lists any entry type, so do we */
	assert_int_equal(mkdirat(dfd,
			     "current_mirror.2023-11-14T22:16:40Z.data", 0700),
	    0);
	assert_int_equal(repo_sessions(dfd, &t, &n), 0);
	assert_int_equal(n, 2);
	free(t);
	close(dfd);

	/* not a directory */
	assert_int_equal(repo_sessions(-1, &t, &n), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
}

static void
test_repo_sessions_quoted(void **state)
{
	static const int64_t want[] = { 1700000000, 1700000100 };
	struct repo_entry *e;
	int64_t *t;
	size_t n, i, nmeta = 0;
	int dfd;

	(void)state;
	/* ctq "A-Z:": T and Z quoted, compatible timestamps */
	dfd = make_datadir("quoted");
	touch(dfd, "chars_to_quote", "A-Z:");
	touch(dfd, "current_mirror.2023-11-14;08422-15-00;090.data", NULL);
	touch(dfd, "increments.2023-11-14;08422-13-20;090.dir", NULL);
	touch(dfd, "mirror_metadata.2023-11-14;08422-13-20;090.diff.gz", "x");
	touch(dfd, "mirror_metadata.2023-11-14;08422-15-00;090.snapshot.gz",
	    "x");
	touch(dfd, "mirror_metadata.2023-11-14;08422-15-00;09.snapshot", "x");
	assert_int_equal(repo_sessions(dfd, &t, &n), 0);
	assert_times(t, n, want, 2);
	free(t);
	assert_int_equal(repo_scan(dfd, &e, &n), 0);
	assert_int_equal(n, 4);
	for (i = 0; i < n; i++) {
		if (e[i].base != RB_MIRROR_METADATA)
			continue;
		nmeta++;
		/* the stored (quoted) name is kept for opening */
		assert_non_null(strstr(e[i].name, ";084"));
	}
	assert_int_equal(nmeta, 2);
	repo_scan_free(e, n);
	close(dfd);

	/* without chars_to_quote the quoted names mean nothing */
	dfd = make_datadir("unquoted");
	touch(dfd, "current_mirror.2023-11-14;08422-15-00;090.data", NULL);
	assert_int_equal(repo_sessions(dfd, &t, &n), CB_ERR_CORRUPT);
	close(dfd);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forms_utc),
		cmocka_unit_test(test_forms_berlin),
		cmocka_unit_test(test_forms_st_johns),
		cmocka_unit_test(test_bad_strings),
		cmocka_unit_test(test_sessions_empty),
		cmocka_unit_test(test_round_down),
		cmocka_unit_test(test_section_2_4_example),
		cmocka_unit_test(test_repo_sessions),
		cmocka_unit_test(test_repo_sessions_no_mirror),
		cmocka_unit_test(test_repo_sessions_quoted),
	};

	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}
