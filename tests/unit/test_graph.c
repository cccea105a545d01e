/*
 * Unit tests for the receiver-side structure helpers: pathcheck (order and
 * parent checks on untrusted streams), linkmap (hard-link groups) and
 * aclblob (kernel ACL xattr values).
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "aclblob.h"
#include "cb_err.h"
#include "linkmap.h"
#include "meta.h"
#include "pathcheck.h"

static int
add(struct pathcheck *pc, const char *p, int is_dir)
{
	return pathcheck_add(pc, p, strlen(p), is_dir);
}

static void
test_pathcheck_order(void **state)
{
	struct pathcheck pc;

	(void)state;
	pathcheck_init(&pc);
	/* The order trap: a, a/b, a-b, a.b, a0 (not plain string order). */
	assert_int_equal(add(&pc, ".", 1), 0);
	assert_int_equal(add(&pc, "A", 0), 0);
	assert_int_equal(add(&pc, "a", 1), 0);
	assert_int_equal(add(&pc, "a/b", 0), 0);
	assert_int_equal(add(&pc, "a-b", 0), 0);
	assert_int_equal(add(&pc, "a.b", 0), 0);
	assert_int_equal(add(&pc, "a0", 0), 0);
	/* Going back is refused, so is a repeat. */
	assert_int_equal(add(&pc, "a0", 0), CB_ERR_PROTO);
	assert_int_equal(add(&pc, "a/c", 0), CB_ERR_PROTO);
	pathcheck_release(&pc);
}

static void
test_pathcheck_parents(void **state)
{
	struct pathcheck pc;

	(void)state;
	pathcheck_init(&pc);
	assert_int_equal(add(&pc, "x", 0), CB_ERR_PROTO); /* root first */
	pathcheck_release(&pc);
	pathcheck_init(&pc);
	assert_int_equal(add(&pc, ".", 1), 0);
	/* A symlink "l" was sent (not a directory): nothing may go below it. */
	assert_int_equal(add(&pc, "l", 0), 0);
	assert_int_equal(add(&pc, "l/passwd", 0), CB_ERR_PROTO);
	pathcheck_release(&pc);
	pathcheck_init(&pc);
	assert_int_equal(add(&pc, ".", 1), 0);
	/* A child of a directory never sent. */
	assert_int_equal(add(&pc, "d/e", 0), CB_ERR_PROTO);
	pathcheck_release(&pc);
	pathcheck_init(&pc);
	assert_int_equal(add(&pc, ".", 1), 0);
	assert_int_equal(add(&pc, "d", 1), 0);
	assert_int_equal(add(&pc, "d/e", 1), 0);
	assert_int_equal(add(&pc, "d/e/f", 0), 0);
	assert_int_equal(add(&pc, "d/g", 0), 0);
	/* d/e was closed when d/g came: nothing may go back inside it. */
	assert_int_equal(add(&pc, "d/e/h", 0), CB_ERR_PROTO);
	pathcheck_release(&pc);
}

static void
test_linkmap(void **state)
{
	struct linkmap *m;
	const char *first;
	char name[32];
	int i;

	(void)state;
	assert_int_equal(linkmap_new(&m), 0);
	assert_int_equal(linkmap_visit(m, 1, 10, 3, "a", &first), 0);
	assert_null(first);
	assert_int_equal(linkmap_visit(m, 1, 10, 3, "b", &first), 0);
	assert_string_equal(first, "a");
	/* Same inode on another device is another group. */
	assert_int_equal(linkmap_visit(m, 2, 10, 2, "c", &first), 0);
	assert_null(first);
	assert_int_equal(linkmap_visit(m, 1, 10, 3, "d", &first), 0);
	assert_string_equal(first, "a");
	/* The group is complete: a fourth link starts a new group. */
	assert_int_equal(linkmap_visit(m, 1, 10, 3, "e", &first), 0);
	assert_null(first);
	/* Many groups force growth and deletion with probing. */
	for (i = 0; i < 5000; i++) {
		snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(linkmap_visit(m, 7, (uint64_t)i, 2, name,
				     &first),
		    0);
		assert_null(first);
	}
	for (i = 0; i < 5000; i += 2) {
		snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(linkmap_visit(m, 7, (uint64_t)i, 2, "x",
				     &first),
		    0);
		assert_string_equal(first, name);
	}
	for (i = 1; i < 5000; i += 2) {
		snprintf(name, sizeof(name), "g%d", i);
		assert_int_equal(linkmap_visit(m, 7, (uint64_t)i, 2, "x",
				     &first),
		    0);
		assert_string_equal(first, name);
	}
	/* Files with one link never enter the map. */
	assert_int_equal(linkmap_visit(m, 9, 9, 1, "single", &first), 0);
	assert_int_equal(linkmap_visit(m, 9, 9, 1, "single", &first), 0);
	assert_null(first);
	linkmap_free(m);
}

static const char *
names(int is_group, uint32_t id, void *arg)
{
	(void)arg;
	if (!is_group && id == 65534)
		return "nobody";
	return NULL;
}

static int64_t
ids(int is_group, const char *q, void *arg)
{
	(void)arg;
	(void)is_group;
	if (strcmp(q, "nobody") == 0)
		return 65534;
	if (strcmp(q, "ghost") == 0)
		return -1;
	return strtol(q, NULL, 10);
}

static void
test_aclblob(void **state)
{
	/* user::rw- user:65534:r-- user:1234:rwx group::r-- mask::rwx other::--- */
	static const uint8_t blob[] = { 2, 0, 0, 0, /* version */
		1, 0, 6, 0, 0xff, 0xff, 0xff, 0xff, 2, 0, 4, 0, 0xfe, 0xff, 0,
		0, 2, 0, 7, 0, 0xd2, 4, 0, 0, 4, 0, 4, 0, 0xff, 0xff, 0xff,
		0xff, 16, 0, 7, 0, 0xff, 0xff, 0xff, 0xff, 32, 0, 0, 0, 0xff,
		0xff, 0xff, 0xff };
	struct meta_rec r;
	uint8_t *out;
	size_t outlen;
	unsigned dropped = 0;

	(void)state;
	meta_rec_init(&r);
	assert_int_equal(aclblob_parse(blob, sizeof(blob), 0, names, NULL, &r),
	    0);
	assert_int_equal(r.nacl, 6);
	assert_string_equal(r.acl[1].qual, "nobody");
	assert_string_equal(r.acl[2].qual, "1234");
	/* Building it back (ids from names) gives the kernel's sorted blob. */
	assert_int_equal(aclblob_build(&r, 0, ids, NULL, &out, &outlen,
			     &dropped),
	    0);
	assert_int_equal(dropped, 0);
	assert_int_equal(outlen, sizeof(blob));
	/* Sorted by id: 1234 before 65534. */
	assert_int_equal(out[4 + 8 + 4], 0xd2);
	free(out);
	/* An unknown name is dropped, not mapped to some id. */
	free(r.acl[1].qual);
	r.acl[1].qual = strdup("ghost");
	assert_int_equal(aclblob_build(&r, 0, ids, NULL, &out, &outlen,
			     &dropped),
	    0);
	assert_int_equal(dropped, 1);
	assert_int_equal(outlen, sizeof(blob) - 8);
	free(out);
	/* No default entries: no default blob. */
	assert_int_equal(aclblob_build(&r, 1, ids, NULL, &out, &outlen,
			     &dropped),
	    0);
	assert_null(out);
	meta_rec_clear(&r);
	/* Corrupt blobs. */
	meta_rec_init(&r);
	assert_int_equal(aclblob_parse(blob, 7, 0, names, NULL, &r),
	    CB_ERR_CORRUPT);
	{
		uint8_t bad[sizeof(blob)];

		memcpy(bad, blob, sizeof(blob));
		bad[0] = 3; /* version */
		assert_int_equal(aclblob_parse(bad, sizeof(bad), 0, names, NULL,
				     &r),
		    CB_ERR_CORRUPT);
		memcpy(bad, blob, sizeof(blob));
		bad[4] = 64; /* tag */
		assert_int_equal(aclblob_parse(bad, sizeof(bad), 0, names, NULL,
				     &r),
		    CB_ERR_CORRUPT);
	}
	meta_rec_clear(&r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pathcheck_order),
		cmocka_unit_test(test_pathcheck_parents),
		cmocka_unit_test(test_linkmap),
		cmocka_unit_test(test_aclblob),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
