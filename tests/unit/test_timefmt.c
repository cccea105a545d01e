#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "cb_err.h"
#include "timefmt.h"

static int64_t
parse_ok(const char *s)
{
	int64_t t = -1;

	assert_int_equal(timefmt_parse(s, strlen(s), &t), 0);
	return t;
}

static void
parse_bad(const char *s)
{
	int64_t t = 42;

	assert_int_equal(timefmt_parse(s, strlen(s), &t), CB_ERR_BAD_VALUE);
	assert_int_equal(t, 42);
}

static void
test_utc(void **state)
{
	char buf[TIMEFMT_LEN];

	(void)state;
	assert_int_equal(timefmt_utc(1700000000, buf), 0);
	assert_string_equal(buf, "2023-11-14T22:13:20Z");
	assert_int_equal(timefmt_utc(0, buf), 0);
	assert_string_equal(buf, "1970-01-01T00:00:00Z");
	assert_int_equal(timefmt_utc(-1, buf), 0);
	assert_string_equal(buf, "1969-12-31T23:59:59Z");
	assert_int_equal(timefmt_utc(951782400, buf), 0);
	assert_string_equal(buf, "2000-02-29T00:00:00Z");
	assert_int_equal(timefmt_utc(-2177452800LL, buf), 0);
	assert_string_equal(buf, "1901-01-01T00:00:00Z");
	assert_int_equal(timefmt_utc(4102444799LL, buf), 0);
	assert_string_equal(buf, "2099-12-31T23:59:59Z");
	assert_int_equal(timefmt_utc(-2177452801LL, buf), CB_ERR_BAD_VALUE);
	assert_int_equal(timefmt_utc(4102444800LL, buf), CB_ERR_BAD_VALUE);
	assert_int_equal(timefmt_utc(INT64_MIN, buf), CB_ERR_BAD_VALUE);
	assert_int_equal(timefmt_utc(INT64_MAX, buf), CB_ERR_BAD_VALUE);
}

static void
test_utc_roundtrip(void **state)
{
	char buf[TIMEFMT_LEN];
	int64_t t;

	(void)state;
	for (t = -2177452800LL; t < 4102444800LL; t += 7777777) {
		assert_int_equal(timefmt_utc(t, buf), 0);
		assert_int_equal(parse_ok(buf), t);
	}
}

static void
test_parse_examples(void **state)
{
	(void)state;
	assert_int_equal(parse_ok("2023-11-14T22:13:20Z"), 1700000000);
	assert_int_equal(parse_ok("2023-11-14T23:13:20+01:00"), 1700000000);
	assert_int_equal(parse_ok("2023-11-14T23-13-20+01-00"), 1700000000);
	assert_int_equal(parse_ok("2023-11-14T23-13-20+01:00"), 1700000000);
	assert_int_equal(parse_ok("2023-11-14T17:13:20-05:00"), 1700000000);
	/* St John's (-03:30) as rdiff-backup writes it */
	assert_int_equal(parse_ok("2023-11-14T22:20:00-04:30"), 1700013000);
	assert_int_equal(parse_ok("2023-11-14T22-20-00-04-30"), 1700013000);
	/* the quirk: "-03:30" reads one hour off */
	assert_int_equal(parse_ok("2023-11-14T22:20:00-03:30"),
	    1700013000 - 3600);
	/* India +05:30 is symmetric */
	assert_int_equal(parse_ok("2023-11-15T03:43:20+05:30"), 1700000000);
	/* leap second and day overflow are accepted like timegm() */
	assert_int_equal(parse_ok("2023-11-14T22:13:60Z"), 1700000040);
	assert_int_equal(parse_ok("2023-02-31T00:00:00Z"),
	    parse_ok("2023-03-03T00:00:00Z"));
	assert_int_equal(parse_ok("1901-01-01T00:00:00Z"), -2177452800LL);
	assert_int_equal(parse_ok("2099-12-31T23:59:59Z"), 4102444799LL);
}

static void
test_parse_bad(void **state)
{
	(void)state;
	parse_bad("");
	parse_bad("2023-11-14T22:13:20");
	parse_bad("2023-11-14T22:13:2Z");
	parse_bad("2023-11-14T22:13:20z");
	parse_bad("2023-11-14T22:13:20+0100");
	parse_bad("2023-11-14T22:13:20+01:000");
	parse_bad("2023-11-14T22:13:20 01:00");
	parse_bad("2023-11-14T22:13:20+01.00");
	parse_bad("2023-11-14T22:13:20+0a:00");
	parse_bad("2023-11-14T22:13:20+01:0x");
	parse_bad("2023-11-14T22:13:20ZZ");
	parse_bad("2023-11-14 22:13:20Z");
	parse_bad("2023-11-14X22:13:20Z");
	parse_bad("1900-11-14T22:13:20Z");
	parse_bad("2100-01-01T00:00:00Z");
	parse_bad("2023-13-14T22:13:20Z");
	parse_bad("2023-00-14T22:13:20Z");
	parse_bad("2023-11-00T22:13:20Z");
	parse_bad("2023-11-32T22:13:20Z");
	parse_bad("2023-11-14T24:13:20Z");
	parse_bad("2023-11-14T22:60:20Z");
	parse_bad("2023-11-14T22:13:62Z");
	parse_bad("2023-11-14T22::3:20Z");
	parse_bad("2023-11-14T2:13:20:1Z");
	parse_bad("+023-11-14T22:13:20Z");
	parse_bad("now");
	parse_bad("1700000000");
}

static void
inc_ok(const char *name, size_t baselen, int64_t t, enum incname_ext ext,
    int gz)
{
	struct incname in;

	memset(&in, 0xff, sizeof(in));
	assert_int_equal(incname_parse(name, strlen(name), &in), 0);
	assert_int_equal(in.baselen, baselen);
	assert_int_equal(in.time, t);
	assert_int_equal(in.ext, ext);
	assert_int_equal(in.gz, gz);
}

static void
inc_bad(const char *name)
{
	struct incname in;

	assert_int_equal(incname_parse(name, strlen(name), &in),
	    CB_ERR_BAD_VALUE);
}

static void
test_incname(void **state)
{
	(void)state;
	inc_ok("a.txt.2023-11-14T23:13:20+01:00.diff.gz", 5, 1700000000,
	    INC_DIFF, 1);
	inc_ok("x.2001-01-01T00:00:00Z.dir.2023-11-14T22:13:20Z.diff.gz", 26,
	    1700000000, INC_DIFF, 1);
	inc_ok("x.2001-01-01T00:00:00Z.dir", 1, 978307200, INC_DIR, 0);
	inc_ok("increments.2023-11-14T23:13:20+01:00.dir", 10, 1700000000,
	    INC_DIR, 0);
	inc_ok("mirror_metadata.2023-11-14T23:18:20+01:00.snapshot.gz", 15,
	    1700000300, INC_SNAPSHOT, 1);
	inc_ok("mirror_metadata.2023-11-14T23:16:40+01:00.diff", 15, 1700000200,
	    INC_DIFF, 0);
	inc_ok("current_mirror.2023-11-14T23-18-20+01-00.data", 14, 1700000300,
	    INC_DATA, 0);
	inc_ok("gone.2023-11-14T22:13:20Z.missing", 4, 1700000000, INC_MISSING,
	    0);
	inc_ok("f.2023-11-14T22:13:20Z.snapshot", 1, 1700000000, INC_SNAPSHOT,
	    0);
	inc_ok(".2023-11-14T22:13:20Z.diff", 0, 1700000000, INC_DIFF, 0);
	inc_ok("a..2023-11-14T22:13:20Z.diff", 2, 1700000000, INC_DIFF, 0);
	inc_ok("st.2023-11-14T22:20:00-04:30.dir", 2, 1700013000, INC_DIR, 0);

	inc_bad("");
	inc_bad("a.txt");
	inc_bad("a.txt.gz");
	inc_bad("2023-11-14T22:13:20Z.diff");
	inc_bad("2023-11-14T22:13:20Z.diff.gz");
	inc_bad("a.2023-11-14T22:13:20Z.gz");
	inc_bad("a.2023-11-14T22:13:20Z.diff.bz2");
	inc_bad("a.2023-11-14T22:13:20Z.Diff");
	inc_bad("a.2023-11-14T22:13:20Z.diffs");
	inc_bad("a.2023-11-14T22:13:20Z.diff.gz.gz");
	inc_bad("a.2023-11-14T22:13:20.diff");
	inc_bad("a.2023-11-14T22:13:20Z..diff");
	inc_bad("a.notatime.snapshot");
	inc_bad("a.1700000000.dir");
	inc_bad("a.2023-11-14T22:13:20Z.dir.");
	inc_bad(".gz");
	inc_bad("...");
	assert_int_equal(incname_parse("a.2023-11-14T22:13:20Z\0.dir", 26,
			     &(struct incname){ 0, 0, 0, 0 }),
	    CB_ERR_BAD_VALUE);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utc),
		cmocka_unit_test(test_utc_roundtrip),
		cmocka_unit_test(test_parse_examples),
		cmocka_unit_test(test_parse_bad),
		cmocka_unit_test(test_incname),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
