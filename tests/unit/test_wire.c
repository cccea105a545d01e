#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "wire.h"

/* A sample message using every field kind. */
#define S_U8  0xfeu
#define S_U16 0xbeefu
#define S_U32 0xdeadbeefu
#define S_U64 0x0123456789abcdefull
#define S_RAW "xyz"
#define S_STR "hello"
#define S_MAX 64

static const uint8_t s_blob[] = { 0x01, 0x00, 0x02, 0xff, 0x03 };

/* The exact encoding of the sample, written out by hand. */
static const uint8_t s_enc[] = {
	0xfe,						/* u8 */
	0xbe, 0xef,					/* u16 */
	0xde, 0xad, 0xbe, 0xef,				/* u32 */
	0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef, /* u64 */
	'x', 'y', 'z',					/* raw[3] */
	0, 0, 0, 5, 0x01, 0x00, 0x02, 0xff, 0x03,	/* blob */
	0, 0, 0, 0,					/* empty blob */
	0, 0, 0, 5, 'h', 'e', 'l', 'l', 'o',		/* str */
	0, 0, 0, 0,					/* empty str */
};

static void
encode_sample(struct wire_wr *wr)
{
	assert_int_equal(wire_put_u8(wr, S_U8), 0);
	assert_int_equal(wire_put_u16(wr, S_U16), 0);
	assert_int_equal(wire_put_u32(wr, S_U32), 0);
	assert_int_equal(wire_put_u64(wr, S_U64), 0);
	assert_int_equal(wire_put_raw(wr, S_RAW, 3), 0);
	assert_int_equal(wire_put_blob(wr, s_blob, sizeof(s_blob)), 0);
	assert_int_equal(wire_put_blob(wr, NULL, 0), 0);
	assert_int_equal(wire_put_blob(wr, S_STR, strlen(S_STR)), 0);
	assert_int_equal(wire_put_blob(wr, "", 0), 0);
}

/*
 * If ${r} is a failure, check that the position did not move, then stop
 * decoding with ${r}; every output was checked zeroed by the caller.
 */
#define STEP(rd, off0, r, zeroed)                            \
	do {                                                 \
		if ((r) != 0) {                              \
			assert_int_equal((rd)->off, (off0)); \
			assert_true(zeroed);                 \
			return (r);                          \
		}                                            \
	} while (0)

/*
 * decode_sample(rd, full):
 * Decode the sample; on the first failing getter check that it left the
 * position unchanged and its outputs zeroed, and return its status.  With
 * ${full}, check every value and wire_rd_end().
 */
static int
decode_sample(struct wire_rd *rd, int full)
{
	uint8_t u8 = 1;
	uint16_t u16 = 1;
	uint32_t u32 = 1;
	uint64_t u64 = 1;
	const uint8_t *b = (const uint8_t *)"x";
	char *s = (char *)"x";
	size_t len = 1, off;
	int r;

	off = rd->off;
	r = wire_get_u8(rd, &u8);
	STEP(rd, off, r, u8 == 0);
	off = rd->off;
	r = wire_get_u16(rd, &u16);
	STEP(rd, off, r, u16 == 0);
	off = rd->off;
	r = wire_get_u32(rd, &u32);
	STEP(rd, off, r, u32 == 0);
	off = rd->off;
	r = wire_get_u64(rd, &u64);
	STEP(rd, off, r, u64 == 0);
	if (full) {
		assert_int_equal(u8, S_U8);
		assert_int_equal(u16, S_U16);
		assert_int_equal(u32, S_U32);
		assert_true(u64 == S_U64);
	}

	b = (const uint8_t *)"x";
	off = rd->off;
	r = wire_get_raw(rd, 3, &b);
	STEP(rd, off, r, b == NULL);
	if (full)
		assert_memory_equal(b, S_RAW, 3);

	b = (const uint8_t *)"x";
	len = 1;
	off = rd->off;
	r = wire_get_blob(rd, S_MAX, &b, &len);
	STEP(rd, off, r, b == NULL && len == 0);
	if (full) {
		assert_int_equal(len, sizeof(s_blob));
		assert_memory_equal(b, s_blob, len);
	}

	b = (const uint8_t *)"x";
	len = 1;
	off = rd->off;
	r = wire_get_blob(rd, S_MAX, &b, &len);
	STEP(rd, off, r, b == NULL && len == 0);
	if (full)
		assert_int_equal(len, 0);

	len = 1;
	off = rd->off;
	r = wire_get_str(rd, S_MAX, &s, &len);
	STEP(rd, off, r, s == NULL && len == 0);
	if (full) {
		assert_int_equal(len, strlen(S_STR));
		assert_string_equal(s, S_STR);
	}
	free(s);

	s = (char *)"x";
	len = 1;
	off = rd->off;
	r = wire_get_str(rd, S_MAX, &s, &len);
	STEP(rd, off, r, s == NULL && len == 0);
	if (full) {
		assert_int_equal(len, 0);
		assert_string_equal(s, "");
	}
	free(s);

	return wire_rd_end(rd);
}

static void
test_encoding_is_big_endian(void **state)
{
	struct wire_wr wr;

	(void)state;
	wire_wr_init(&wr, SIZE_MAX);
	encode_sample(&wr);
	assert_int_equal(wr.len, sizeof(s_enc));
	assert_memory_equal(wr.p, s_enc, sizeof(s_enc));
	wire_wr_release(&wr);
	assert_null(wr.p);
	assert_int_equal(wr.len, 0);
	wire_wr_release(&wr); /* twice is harmless */
}

static void
test_round_trip(void **state)
{
	struct wire_wr wr;
	struct wire_rd rd;

	(void)state;
	wire_wr_init(&wr, 1024);
	encode_sample(&wr);
	wire_rd_init(&rd, wr.p, wr.len);
	assert_int_equal(wire_rd_remaining(&rd), wr.len);
	assert_int_equal(decode_sample(&rd, 1), 0);
	assert_int_equal(wire_rd_remaining(&rd), 0);
	wire_wr_release(&wr);
}

/*
 * Every proper prefix, each in an exact-size heap block so that ASan
 * reports any read past its end, fails with CB_ERR_TRUNCATED.
 */
static void
test_every_prefix_truncated(void **state)
{
	struct wire_rd rd;
	uint8_t *p;
	size_t k;

	(void)state;
	for (k = 0; k < sizeof(s_enc); k++) {
		/* malloc(0) may be NULL, which wire_rd_init accepts for 0. */
		p = malloc(k);
		assert_true(p != NULL || k == 0);
		if (k > 0)
			memcpy(p, s_enc, k);
		wire_rd_init(&rd, p, k);
		assert_int_equal(decode_sample(&rd, 0), CB_ERR_TRUNCATED);
		free(p);
	}
	/* The whole message, likewise in an exact block, decodes. */
	p = malloc(sizeof(s_enc));
	assert_non_null(p);
	memcpy(p, s_enc, sizeof(s_enc));
	wire_rd_init(&rd, p, sizeof(s_enc));
	assert_int_equal(decode_sample(&rd, 1), 0);
	free(p);
}

static void
test_trailing_byte(void **state)
{
	struct wire_wr wr;
	struct wire_rd rd;

	(void)state;
	wire_wr_init(&wr, 1024);
	encode_sample(&wr);
	assert_int_equal(wire_put_u8(&wr, 0), 0);
	wire_rd_init(&rd, wr.p, wr.len);
	assert_int_equal(decode_sample(&rd, 1), CB_ERR_TRAILING);
	assert_int_equal(wire_rd_remaining(&rd), 1);
	wire_wr_release(&wr);
}

static void
test_empty_reader(void **state)
{
	struct wire_rd rd;
	const uint8_t *b = (const uint8_t *)"x";
	uint8_t u8 = 1;

	(void)state;
	wire_rd_init(&rd, NULL, 0);
	assert_int_equal(wire_rd_end(&rd), 0);
	assert_int_equal(wire_rd_remaining(&rd), 0);
	assert_int_equal(wire_get_u8(&rd, &u8), CB_ERR_TRUNCATED);
	assert_int_equal(u8, 0);
	assert_int_equal(wire_get_raw(&rd, 1, &b), CB_ERR_TRUNCATED);
	assert_null(b);
	assert_int_equal(wire_get_raw(&rd, 0, &b), 0);
	assert_int_equal(rd.off, 0);
}

/* Huge n must be compared against what remains, not added to off. */
static void
test_raw_huge_length(void **state)
{
	static const uint8_t buf[4] = { 1, 2, 3, 4 };
	struct wire_rd rd;
	const uint8_t *b;
	uint8_t u8;

	(void)state;
	wire_rd_init(&rd, buf, sizeof(buf));
	assert_int_equal(wire_get_u8(&rd, &u8), 0);
	assert_int_equal(wire_get_raw(&rd, SIZE_MAX, &b), CB_ERR_TRUNCATED);
	assert_null(b);
	assert_int_equal(wire_get_raw(&rd, SIZE_MAX - 1, &b), CB_ERR_TRUNCATED);
	assert_int_equal(wire_get_raw(&rd, 4, &b), CB_ERR_TRUNCATED);
	assert_int_equal(rd.off, 1);
	assert_int_equal(wire_get_raw(&rd, 3, &b), 0);
	assert_ptr_equal(b, buf + 1);
	assert_int_equal(wire_rd_end(&rd), 0);
}

static void
test_blob_oversize_not_consumed(void **state)
{
	static const uint8_t huge[4] = { 0xff, 0xff, 0xff, 0xff };
	struct wire_wr wr;
	struct wire_rd rd;
	const uint8_t *b;
	uint8_t body[100];
	char *s;
	size_t len;

	(void)state;
	memset(body, 'a', sizeof(body));
	wire_wr_init(&wr, 1024);
	assert_int_equal(wire_put_blob(&wr, body, sizeof(body)), 0);
	wire_rd_init(&rd, wr.p, wr.len);

	b = body;
	len = 1;
	assert_int_equal(wire_get_blob(&rd, 99, &b, &len), CB_ERR_TOO_LARGE);
	assert_null(b);
	assert_int_equal(len, 0);
	assert_int_equal(rd.off, 0);
	s = (char *)"x";
	len = 1;
	assert_int_equal(wire_get_str(&rd, 99, &s, &len), CB_ERR_TOO_LARGE);
	assert_null(s);
	assert_int_equal(len, 0);
	assert_int_equal(rd.off, 0);

	/* Exactly at the limit is fine. */
	assert_int_equal(wire_get_blob(&rd, 100, &b, &len), 0);
	assert_int_equal(len, 100);
	assert_ptr_equal(b, wr.p + 4);
	assert_int_equal(wire_rd_end(&rd), 0);
	wire_wr_release(&wr);

	/* A 4 GiB claim: too large for the field, truncated for the buffer. */
	wire_rd_init(&rd, huge, sizeof(huge));
	assert_int_equal(wire_get_blob(&rd, 1u << 20, &b, &len),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(wire_get_blob(&rd, SIZE_MAX, &b, &len),
	    CB_ERR_TRUNCATED);
	assert_null(b);
	assert_int_equal(len, 0);
	assert_int_equal(rd.off, 0);
}

static void
test_str_rejects_nul(void **state)
{
	static const uint8_t enc[] = { 0, 0, 0, 4, 'a', 'b', 0, 'c' };
	struct wire_rd rd;
	char *s = (char *)"x";
	size_t len = 1;

	(void)state;
	wire_rd_init(&rd, enc, sizeof(enc));
	assert_int_equal(wire_get_str(&rd, 64, &s, &len), CB_ERR_BAD_VALUE);
	assert_null(s);
	assert_int_equal(len, 0);
	assert_int_equal(rd.off, 0);
	/* The same bytes are a fine blob. */
	{
		const uint8_t *b;

		assert_int_equal(wire_get_blob(&rd, 64, &b, &len), 0);
		assert_int_equal(len, 4);
	}
}

static void
test_str_copy_is_owned(void **state)
{
	static const uint8_t enc[] = { 0, 0, 0, 3, 'a', 'b', 'c', 0xee };
	uint8_t *p;
	struct wire_rd rd;
	char *s;
	size_t len;

	(void)state;
	p = malloc(sizeof(enc));
	assert_non_null(p);
	memcpy(p, enc, sizeof(enc));
	wire_rd_init(&rd, p, sizeof(enc));
	assert_int_equal(wire_get_str(&rd, 3, &s, &len), 0);
	assert_int_equal(len, 3);
	assert_int_equal(wire_rd_remaining(&rd), 1);
	free(p); /* the copy does not borrow from the reader */
	assert_string_equal(s, "abc");
	free(s);
}

static void
test_writer_max(void **state)
{
	struct wire_wr wr;
	uint8_t junk[16];

	(void)state;
	memset(junk, 0x5a, sizeof(junk));
	wire_wr_init(&wr, 10);
	assert_int_equal(wire_put_u64(&wr, 1), 0);
	assert_int_equal(wire_put_u32(&wr, 2), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.len, 8);
	assert_int_equal(wire_put_u64(&wr, 2), CB_ERR_TOO_LARGE);
	assert_int_equal(wire_put_raw(&wr, junk, 3), CB_ERR_TOO_LARGE);
	assert_int_equal(wire_put_blob(&wr, NULL, 0), CB_ERR_TOO_LARGE);
	assert_int_equal(wire_put_raw(&wr, junk, SIZE_MAX), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.len, 8);
	assert_int_equal(wire_put_u16(&wr, 0x1234), 0);
	assert_int_equal(wr.len, 10);
	assert_int_equal(wire_put_u8(&wr, 3), CB_ERR_TOO_LARGE);
	assert_int_equal(wire_put_raw(&wr, junk, 1), CB_ERR_TOO_LARGE);
	assert_int_equal(wire_put_raw(&wr, NULL, 0), 0);
	assert_int_equal(wr.len, 10);
	assert_true(wr.cap <= 10);
	assert_memory_equal(wr.p, "\x00\x00\x00\x00\x00\x00\x00\x01\x12\x34",
	    10);

	/* Reset keeps the allocation; a blob that fits exactly. */
	wire_wr_reset(&wr);
	assert_int_equal(wr.len, 0);
	assert_non_null(wr.p);
	assert_int_equal(wire_put_blob(&wr, junk, 7), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.len, 0);
	assert_int_equal(wire_put_blob(&wr, junk, 6), 0);
	assert_int_equal(wire_put_blob(&wr, NULL, 0), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.len, 10);
	wire_wr_release(&wr);

	/* max 0: nothing at all fits. */
	wire_wr_init(&wr, 0);
	assert_int_equal(wire_put_u8(&wr, 1), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.len, 0);
	wire_wr_release(&wr);
}

/* Growth across many puts keeps every byte. */
static void
test_writer_growth(void **state)
{
	struct wire_wr wr;
	struct wire_rd rd;
	uint32_t i, v;

	(void)state;
	wire_wr_init(&wr, 4 * 10000);
	for (i = 0; i < 10000; i++)
		assert_int_equal(wire_put_u32(&wr, i * 2654435761u), 0);
	assert_int_equal(wire_put_u8(&wr, 0), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.cap, 4 * 10000);
	wire_rd_init(&rd, wr.p, wr.len);
	for (i = 0; i < 10000; i++) {
		assert_int_equal(wire_get_u32(&rd, &v), 0);
		assert_int_equal(v, i * 2654435761u);
	}
	assert_int_equal(wire_rd_end(&rd), 0);
	wire_wr_release(&wr);
}

/* A blob longer than a u32 can describe is refused before any copy. */
static void
test_blob_longer_than_u32(void **state)
{
	struct wire_wr wr;
	uint8_t junk[8] = { 0 };

	(void)state;
	if ((uint64_t)SIZE_MAX <= UINT32_MAX)
		skip();
	wire_wr_init(&wr, SIZE_MAX);
	assert_int_equal(wire_put_u8(&wr, 1), 0);
	/* junk is far too short: the check must come before the memcpy. */
	assert_int_equal(wire_put_blob(&wr, junk, (size_t)UINT32_MAX + 1),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(wire_put_blob(&wr, junk, SIZE_MAX), CB_ERR_TOO_LARGE);
	assert_int_equal(wr.len, 1);
	wire_wr_release(&wr);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding_is_big_endian),
		cmocka_unit_test(test_round_trip),
		cmocka_unit_test(test_every_prefix_truncated),
		cmocka_unit_test(test_trailing_byte),
		cmocka_unit_test(test_empty_reader),
		cmocka_unit_test(test_raw_huge_length),
		cmocka_unit_test(test_blob_oversize_not_consumed),
		cmocka_unit_test(test_str_rejects_nul),
		cmocka_unit_test(test_str_copy_is_owned),
		cmocka_unit_test(test_writer_max),
		cmocka_unit_test(test_writer_growth),
		cmocka_unit_test(test_blob_longer_than_u32),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
