/* Unit tests for the protocol messages (src/proto/msg.c). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "msg.h"
#include "wire.h"

static void
sample_entry(struct msg_entry *e)
{
	struct meta_rec *r = &e->rec;

	msg_entry_init(e);
	r->path = strdup("dir/f\nname");
	r->pathlen = strlen(r->path);
	r->type = META_REG;
	r->perms = 04755;
	r->uid = 1000;
	r->gid = 54321;
	r->uname = strdup("alice");
	r->mtime = 1700000000;
	r->size = 12345;
	r->nlink = 2;
	r->inode = 99;
	r->devloc = 65024;
	r->has_sha1 = 1;
	memset(r->sha1, 0xab, 20);
	r->nxattrs = 2;
	r->xattrs = calloc(2, sizeof(*r->xattrs));
	r->xattrs[0].name = strdup("security.capability");
	r->xattrs[0].value = malloc(3);
	memcpy(r->xattrs[0].value, "\x01\x00\x02", 3);
	r->xattrs[0].vlen = 3;
	r->xattrs[1].name = strdup("user.empty");
	r->nacl = 2;
	r->acl = calloc(2, sizeof(*r->acl));
	r->acl[0].tag = ACLT_USER_OBJ;
	r->acl[0].perm = 7;
	r->acl[1].tag = ACLT_USER;
	r->acl[1].perm = 4;
	r->acl[1].qual = strdup("nobody");
}

static void
encode(const struct msg_entry *e, struct wire_wr *wr)
{
	wire_wr_init(wr, MSG_ENTRY_MAX);
	assert_int_equal(msg_entry_encode(wr, e), 0);
}

static void
test_entry_roundtrip(void **state)
{
	struct msg_entry e, d;
	struct wire_wr wr;

	(void)state;
	sample_entry(&e);
	encode(&e, &wr);
	assert_int_equal(msg_entry_decode(wr.p, wr.len, &d), 0);
	assert_string_equal(d.rec.path, "dir/f\nname");
	assert_int_equal(d.rec.type, META_REG);
	assert_int_equal(d.rec.perms, 04755);
	assert_int_equal(d.rec.gid, 54321);
	assert_string_equal(d.rec.uname, "alice");
	assert_null(d.rec.gname);
	assert_int_equal(d.rec.size, 12345);
	assert_int_equal(d.rec.nlink, 2);
	assert_int_equal(d.rec.has_sha1, 1);
	assert_memory_equal(d.rec.sha1, e.rec.sha1, 20);
	assert_int_equal(d.rec.nxattrs, 2);
	assert_int_equal(d.rec.xattrs[0].vlen, 3);
	assert_memory_equal(d.rec.xattrs[0].value, "\x01\x00\x02", 3);
	assert_int_equal(d.rec.xattrs[1].vlen, 0);
	assert_int_equal(d.rec.nacl, 2);
	assert_string_equal(d.rec.acl[1].qual, "nobody");
	msg_entry_clear(&d);
	msg_entry_clear(&e);
	wire_wr_release(&wr);
}

/* Every proper prefix, in an exact-size heap block, must be refused. */
static void
test_entry_prefixes(void **state)
{
	struct msg_entry e, d;
	struct wire_wr wr;
	size_t n;

	(void)state;
	sample_entry(&e);
	encode(&e, &wr);
	for (n = 0; n < wr.len; n++) {
		uint8_t *p = malloc(n ? n : 1);

		memcpy(p, wr.p, n);
		assert_int_not_equal(msg_entry_decode(p, n, &d), 0);
		assert_null(d.rec.path);
		free(p);
	}
	/* And a trailing byte. */
	assert_int_equal(wire_put_u8(&wr, 0), 0);
	assert_int_equal(msg_entry_decode(wr.p, wr.len, &d), CB_ERR_TRAILING);
	msg_entry_clear(&e);
	wire_wr_release(&wr);
}

/* Hostile values the decoder must refuse. */
static void
expect_bad(struct msg_entry *e)
{
	struct msg_entry d;
	struct wire_wr wr;

	encode(e, &wr);
	assert_int_not_equal(msg_entry_decode(wr.p, wr.len, &d), 0);
	wire_wr_release(&wr);
	msg_entry_clear(e);
}

static void
set_path(struct msg_entry *e, const char *p)
{
	free(e->rec.path);
	e->rec.path = strdup(p);
	e->rec.pathlen = strlen(p);
}

static void
test_entry_hostile(void **state)
{
	static const char *bad_paths[] = { "../etc", "a/../b", "/etc", "a//b",
		"a/", "", "./a", "a/." };
	struct msg_entry e;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad_paths) / sizeof(bad_paths[0]); i++) {
		sample_entry(&e);
		set_path(&e, bad_paths[i]);
		expect_bad(&e);
	}
	sample_entry(&e); /* NUL inside the path */
	e.rec.path[1] = '\0';
	expect_bad(&e);
	sample_entry(&e);
	e.rec.perms = 010000;
	expect_bad(&e);
	sample_entry(&e);
	e.rec.type = (enum meta_type)9;
	expect_bad(&e);
	sample_entry(&e); /* ACLs travel separately, never as system.* */
	free(e.rec.xattrs[1].name);
	e.rec.xattrs[1].name = strdup("system.posix_acl_access");
	expect_bad(&e);
	sample_entry(&e); /* xattrs unsorted */
	free(e.rec.xattrs[1].name);
	e.rec.xattrs[1].name = strdup("a.first");
	expect_bad(&e);
	sample_entry(&e); /* a user name that would break a metadata line */
	free(e.rec.uname);
	e.rec.uname = strdup("bad\nname");
	expect_bad(&e);
	/* ACL qualifiers the ACL file cannot carry: the writer died of
	 * them ("out of memory") when they passed the decoder */
	{
		static const char *bad_quals[] = { "a#b", "#", "a b", "a:b",
			"a\x1b[2Jb", "a\nb", "" };

		for (i = 0; i < sizeof(bad_quals) / sizeof(bad_quals[0]); i++) {
			sample_entry(&e);
			free(e.rec.acl[1].qual);
			e.rec.acl[1].qual = strdup(bad_quals[i]);
			expect_bad(&e);
		}
	}
	sample_entry(&e); /* named ACL entry without a qualifier */
	free(e.rec.acl[1].qual);
	e.rec.acl[1].qual = NULL;
	expect_bad(&e);
	sample_entry(&e); /* hard-link target that escapes */
	e.link_to = strdup("../x");
	e.link_len = 4;
	expect_bad(&e);
	sample_entry(&e); /* symlink target on a regular file */
	e.rec.symdata = strdup("x");
	e.rec.symlen = 1;
	expect_bad(&e);
}

/* ${e} with ${n} xattrs of ${vlen} bytes each ("user.xNN"). */
static void
big_xattrs(struct msg_entry *e, size_t n, size_t vlen)
{
	struct meta_rec *r = &e->rec;
	char name[16];

	msg_entry_init(e);
	r->path = strdup("f");
	r->pathlen = 1;
	r->type = META_REG;
	r->nxattrs = n;
	r->xattrs = calloc(n, sizeof(*r->xattrs));
	for (size_t i = 0; i < n; i++) {
		snprintf(name, sizeof(name), "user.x%02zu", i);
		r->xattrs[i].name = strdup(name);
		r->xattrs[i].value = calloc(1, vlen);
		r->xattrs[i].vlen = vlen;
	}
}

/*
 * Names and values of an entry's xattrs at most MSG_XATTRS_TOTAL_MAX, its
 * ACL qualifiers at most MSG_ACL_QUALS_MAX: both sides refuse more (the
 * encoder so that a reader sends such a file as unreadable).
 */
static void
test_entry_totals(void **state)
{
	size_t nlen = strlen("user.x00");
	struct msg_entry e, d;
	struct wire_wr wr;
	struct wire_wr raw;

	(void)state;
	/* four values and their names fill it exactly */
	big_xattrs(&e, 4, MSG_XATTRS_TOTAL_MAX / 4 - nlen);
	encode(&e, &wr);
	assert_int_equal(msg_entry_decode(wr.p, wr.len, &d), 0);
	msg_entry_clear(&d);
	wire_wr_release(&wr);
	/* one byte more: refused by the encoder, and by the decoder */
	e.rec.xattrs[3].vlen++;
	e.rec.xattrs[3].value =
	    realloc(e.rec.xattrs[3].value, e.rec.xattrs[3].vlen);
	wire_wr_init(&raw, MSG_ENTRY_MAX);
	assert_int_equal(msg_entry_encode(&raw, &e), CB_ERR_TOO_LARGE);
	wire_wr_release(&raw);
	e.rec.xattrs[3].vlen--;
	encode(&e, &wr);
	{
		/* a hostile peer's frame: the last value one byte longer */
		const uint8_t *nm = memmem(wr.p, wr.len, "user.x03", nlen);
		size_t off = (size_t)(nm - wr.p) + nlen, vlen;
		uint8_t *b = malloc(wr.len + 1);

		assert_non_null(nm);
		vlen = (size_t)nm[nlen] << 24 | (size_t)nm[nlen + 1] << 16 |
		    (size_t)nm[nlen + 2] << 8 | nm[nlen + 3];
		assert_int_equal(vlen, e.rec.xattrs[3].vlen);
		memcpy(b, wr.p, off + 4 + vlen);
		b[off + 3]++; /* no carry: vlen ends in ...f8 */
		b[off + 4 + vlen] = 0;
		memcpy(b + off + 5 + vlen, wr.p + off + 4 + vlen,
		    wr.len - off - 4 - vlen);
		assert_int_equal(msg_entry_decode(b, wr.len + 1, &d),
		    CB_ERR_TOO_LARGE);
		free(b);
	}
	wire_wr_release(&wr);
	msg_entry_clear(&e);
	/* ACL: 300 named entries of 255-byte names */
	sample_entry(&e);
	free(e.rec.acl[1].qual);
	e.rec.acl[1].qual = NULL;
	e.rec.nacl = 300;
	e.rec.acl = realloc(e.rec.acl, 300 * sizeof(*e.rec.acl));
	for (size_t i = 1; i < 300; i++) {
		e.rec.acl[i].is_default = 0;
		e.rec.acl[i].tag = ACLT_USER;
		e.rec.acl[i].perm = 4;
		e.rec.acl[i].qual = malloc(256);
		memset(e.rec.acl[i].qual, 'u', 255);
		e.rec.acl[i].qual[255] = '\0';
	}
	wire_wr_init(&raw, MSG_ENTRY_MAX);
	assert_int_equal(msg_entry_encode(&raw, &e), CB_ERR_TOO_LARGE);
	wire_wr_release(&raw);
	msg_entry_clear(&e);
}

static void
test_table(void **state)
{
	(void)state;
	assert_int_equal(msg_max_payload(0), -1);
	assert_int_equal(msg_max_payload(MSG_TYPE_MAX + 1), -1);
	assert_int_equal(msg_max_payload(MSG_DATA), MSG_DATA_MAX);
	assert_string_equal(msg_name(MSG_WANT), "WANT");
}

static void
test_hello(void **state)
{
	struct msg_hello h = { MSG_MAGIC, MSG_PROTO_VERSION, ROLE_READER, 0,
		"capback test" },
			 d;
	struct wire_wr wr;
	size_t n;

	(void)state;
	wire_wr_init(&wr, 128);
	assert_int_equal(msg_hello_encode(&wr, &h), 0);
	assert_int_equal(msg_hello_decode(wr.p, wr.len, &d), 0);
	assert_int_equal(d.magic, MSG_MAGIC);
	assert_string_equal(d.software, "capback test");
	for (n = 0; n < wr.len; n++)
		assert_int_not_equal(msg_hello_decode(wr.p, n, &d), 0);
	wire_wr_release(&wr);
}

static void
test_delta_end(void **state)
{
	uint8_t sha[20], got[20];
	struct wire_wr wr;
	uint64_t flags;
	uint32_t err;
	size_t n;

	(void)state;
	memset(sha, 0xab, sizeof(sha));
	wire_wr_init(&wr, 64);
	assert_int_equal(msg_delta_end_encode(&wr, 5, FILE_CHANGED, sha), 0);
	assert_int_equal(wr.len, (size_t)msg_max_payload(MSG_DELTA_END));
	assert_int_equal(msg_delta_end_decode(wr.p, wr.len, &err, &flags, got),
	    0);
	assert_int_equal(err, 5);
	assert_int_equal(flags, FILE_CHANGED);
	assert_memory_equal(got, sha, 20);
	for (n = 0; n < wr.len; n++)
		assert_int_not_equal(msg_delta_end_decode(wr.p, n, &err, &flags,
					 got),
		    0);
	/* unknown flags are refused */
	wire_wr_reset(&wr);
	assert_int_equal(msg_delta_end_encode(&wr, 0, 2, sha), 0);
	assert_int_equal(msg_delta_end_decode(wr.p, wr.len, &err, &flags, got),
	    CB_ERR_BAD_VALUE);
	wire_wr_release(&wr);
	/* the backup stream accepts deltas; the plain entry stream does not */
	assert_true(msg_backup_stream_max(MSG_DELTA) == 16);
	assert_true(msg_entry_stream_max(MSG_DELTA) < 0);
	assert_true(msg_backup_stream_max(MSG_WANT_DELTA) < 0);
	assert_string_equal(msg_name(MSG_DELTA_END), "DELTA_END");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_entry_roundtrip),
		cmocka_unit_test(test_entry_prefixes),
		cmocka_unit_test(test_entry_hostile),
		cmocka_unit_test(test_entry_totals),
		cmocka_unit_test(test_table),
		cmocka_unit_test(test_hello),
		cmocka_unit_test(test_delta_end),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
