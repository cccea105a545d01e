/* Unit tests for names printed for a person (src/common/log.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <string.h>

#include "log.h"

static void
check_name(const char *in, const char *want)
{
	assert_string_equal(log_name(in, strlen(in)), want);
}

static void
test_name_controls(void **state)
{
	(void)state;
	check_name("plain/path.txt", "plain/path.txt");
	/* a newline cannot start a line of its own, nor ESC a sequence */
	check_name("a\nb", "a\\x0ab");
	check_name("a\rnew: forged", "a\\x0dnew: forged");
	check_name("e\x1b[31mred", "e\\x1b[31mred");
	check_name("tab\there\x7f", "tab\\x09here\\x7f");
	/* the escape itself is escaped: "\x0a" in a name stays apart */
	check_name("back\\x0a", "back\\x5cx0a");
	/* UTF-8 stays readable; C1 controls and bidi overrides do not */
	check_name("caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80",
	    "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80");
	check_name("c1\xc2\x9bx", "c1\\xc2\\x9bx");
	check_name("rl\xe2\x80\xaeo", "rl\\xe2\\x80\\xaeo");
	check_name("iso\x9b\xe9", "iso\\x9b\\xe9");
	/* not UTF-8: overlong, surrogate, truncated, beyond U+10FFFF */
	check_name("\xc0\xaf", "\\xc0\\xaf");
	check_name("\xed\xa0\x80", "\\xed\\xa0\\x80");
	check_name("\xe2\x82", "\\xe2\\x82");
	check_name("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80");
}

static void
test_name_long(void **state)
{
	char in[4097];
	const char *out;

	(void)state;
	/* a whole path of escaped bytes is never cut short */
	memset(in, '\n', 4096);
	out = log_name(in, 4096);
	assert_int_equal(strlen(out), 4 * 4096);
	assert_string_equal(out + 4 * 4095, "\\x0a");
	/* log_text (a line whose names are quoted): '\' kept */
	assert_string_equal(log_text("'a\\x0ab'\x1b[2J\r\xc3\xa9", 15),
	    "'a\\x0ab'\\x1b[2J\\x0d\xc3\xa9");
	/* log_quote (messages) still escapes every non-ASCII byte */
	assert_string_equal(log_quote("\xc3\xa9\n", 3), "\\xc3\\xa9\\x0a");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_name_controls),
		cmocka_unit_test(test_name_long),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
