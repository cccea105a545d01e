#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include "cb_err.h"
#include "credit.h"
#include "msg.h"

/* The entry count: exactly MSG_CREDIT_ENTRIES past PROGRESS, no more. */
static void
test_entries(void **state)
{
	struct credit c;
	uint64_t i;

	(void)state;
	assert_int_equal(credit_init(&c), 0);
	for (i = 0; i < MSG_CREDIT_ENTRIES; i++) {
		assert_true(credit_may_send(&c));
		assert_int_equal(credit_take(&c, 10), 0);
	}
	assert_false(credit_may_send(&c));
	assert_int_equal(credit_take(&c, 10), CB_ERR_PROTO);
	assert_int_equal(c.sent, MSG_CREDIT_ENTRIES); /* nothing counted */
	assert_int_equal(credit_grant(&c, 1), 0);
	assert_int_equal(credit_take(&c, 10), 0);
	assert_int_equal(credit_take(&c, 10), CB_ERR_PROTO);
	assert_int_equal(c.bytes, 10 * MSG_CREDIT_ENTRIES);
	credit_release(&c);
}

/* The bytes: the next entry only while a whole MSG_ENTRY_MAX still fits;
 * PROGRESS gives back exactly what the entries it covers took. */
static void
test_bytes(void **state)
{
	struct credit c;
	uint64_t n = 0;

	(void)state;
	assert_int_equal(credit_init(&c), 0);
	while (credit_may_send(&c)) {
		assert_int_equal(credit_take(&c, MSG_ENTRY_MAX), 0);
		n++;
	}
	assert_int_equal(n, MSG_CREDIT_BYTES / MSG_ENTRY_MAX);
	assert_true(c.bytes <= MSG_CREDIT_BYTES);
	assert_int_equal(credit_take(&c, 1), CB_ERR_PROTO);
	assert_int_equal(credit_grant(&c, 1), 0);
	assert_int_equal(c.bytes, (n - 1) * MSG_ENTRY_MAX);
	assert_int_equal(credit_take(&c, 100), 0);
	assert_int_equal(credit_grant(&c, c.sent), 0);
	assert_int_equal(c.bytes, 0);
	/* an entry larger than any ENTRY frame is never taken */
	assert_int_equal(credit_take(&c, MSG_ENTRY_MAX + 1), CB_ERR_PROTO);
	credit_release(&c);
}

/* PROGRESS may not go back, nor beyond the entries sent. */
static void
test_grant_bounds(void **state)
{
	struct credit c;

	(void)state;
	assert_int_equal(credit_init(&c), 0);
	assert_int_equal(credit_take(&c, 5), 0);
	assert_int_equal(credit_take(&c, 7), 0);
	assert_int_equal(credit_grant(&c, 3), CB_ERR_PROTO);
	assert_int_equal(credit_grant(&c, 1), 0);
	assert_int_equal(c.bytes, 7);
	assert_int_equal(credit_grant(&c, 0), CB_ERR_PROTO);
	assert_int_equal(credit_grant(&c, 1), 0); /* the same again */
	credit_release(&c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entries),
		cmocka_unit_test(test_bytes),
		cmocka_unit_test(test_grant_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
