#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "cb_err.h"
#include "hashbehind.h"
#include "xfer.h"

/* A new, empty, unlinked file opened with ${flags}. */
static int
tmpfile_fd(int flags)
{
	char path[] = "/tmp/test_xfer.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	close(fd);
	fd = open(path, flags | O_CLOEXEC);
	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static void
sha1_of(const uint8_t *p, size_t n, uint8_t out[20])
{
	unsigned int len = 0;

	assert_int_equal(EVP_Digest(p, n, out, &len, EVP_sha1(), NULL), 1);
}

/*
 * One file of ${size} bytes through a sink on a file opened ${flags}
 * (or none), in random pieces of data and holes (a trailing hole when
 * ${tail}); the digest and the file must be the content's.
 */
static void
through_sink(size_t size, int flags, int tail, unsigned seed)
{
	uint8_t *want = calloc(1, size + 1), *got = malloc(size + 1);
	uint8_t d1[20], d2[20];
	struct xfer_sink s;
	size_t off = 0, n;
	int fd = flags < 0 ? -1 : tmpfile_fd(flags);

	assert_non_null(want);
	assert_non_null(got);
	srandom(seed);
	assert_int_equal(xfer_sink_init(&s, fd, size), 0);
	while (off < size) {
		n = 1 + (size_t)random() % (300 * 1024);
		if (n > size - off || (tail && off + n + 70000 > size))
			n = size - off;
		if (random() % 4 == 0 || (tail && off + n == size)) {
			assert_int_equal(xfer_sink_hole(&s, n), 0);
		} else {
			for (size_t i = 0; i < n; i++)
				want[off + i] = (uint8_t)random();
			assert_int_equal(xfer_sink_data(&s, want + off, n), 0);
		}
		off += n;
	}
	/* Nothing beyond the limit. */
	assert_int_equal(xfer_sink_data(&s, want, 1), CB_ERR_TOO_LARGE);
	assert_int_equal(xfer_sink_finish(&s, d1), 0);
	xfer_sink_release(&s);
	sha1_of(want, size, d2);
	assert_memory_equal(d1, d2, 20);
	assert_int_equal(s.off, size);
	if (fd >= 0) {
		assert_int_equal(lseek(fd, 0, SEEK_END), (off_t)size);
		if (flags == O_RDWR) {
			assert_int_equal(pread(fd, got, size + 1, 0),
			    (ssize_t)size);
			assert_memory_equal(got, want, size);
		}
		close(fd);
	}
	free(want);
	free(got);
}

/* Behind (O_RDWR) and in line (O_WRONLY, none) give the same digests,
 * holes inside and at the end included. */
static void
test_sink_digests(void **state)
{
	static const size_t sizes[] = { 0, 1000, (1u << 20) - 1, 1u << 20,
		(3u << 20) + 17, 9u << 20 };

	(void)state;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		for (int tail = 0; tail < 2; tail++) {
			through_sink(sizes[i], O_RDWR, tail, (unsigned)i);
			through_sink(sizes[i], O_WRONLY, tail, (unsigned)i);
			through_sink(sizes[i], -1, tail, (unsigned)i);
		}
}

/* A file abandoned halfway (a write failed, the peer went away) leaves
 * the thread ready for the next one. */
static void
test_sink_abandon(void **state)
{
	uint8_t *buf = malloc(1u << 20);
	struct xfer_sink s;
	int fd = tmpfile_fd(O_RDWR);

	(void)state;
	assert_non_null(buf);
	memset(buf, 'x', 1u << 20);
	for (int round = 0; round < 3; round++) {
		assert_int_equal(xfer_sink_init(&s, fd, 8u << 20), 0);
		for (int k = 0; k < 4; k++)
			assert_int_equal(xfer_sink_data(&s, buf, 1u << 20), 0);
		assert_true(s.slot >= 0);
		xfer_sink_release(&s);
		assert_int_equal(ftruncate(fd, 0), 0);
	}
	close(fd);
	free(buf);
	through_sink(5u << 20, O_RDWR, 0, 99);
}

/* The thread reads back what was written: a file that ends before the
 * length it was told is an error (EIO), not a digest of less. */
static void
test_behind_file_ends(void **state)
{
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();
	uint8_t buf[1000];
	int fd = tmpfile_fd(O_RDWR), err = 0, k;

	(void)state;
	memset(buf, 'y', sizeof(buf));
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	assert_non_null(ctx);
	assert_int_equal(EVP_DigestInit_ex(ctx, EVP_sha1(), NULL), 1);
	assert_true((k = hb_begin(fd, ctx, 0)) >= 0);
	hb_written(k, sizeof(buf));
	assert_int_equal(hb_end(k, 5000, &err), -1);
	assert_int_equal(err, EIO);
	/* A descriptor it cannot read: that errno. */
	close(fd);
	fd = tmpfile_fd(O_WRONLY);
	assert_int_equal(write(fd, buf, sizeof(buf)), sizeof(buf));
	assert_true((k = hb_begin(fd, ctx, 0)) >= 0);
	assert_int_equal(hb_end(k, sizeof(buf), &err), -1);
	assert_int_equal(err, EBADF);
	close(fd);
	EVP_MD_CTX_free(ctx);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_sink_digests),
		cmocka_unit_test(test_sink_abandon),
		cmocka_unit_test(test_behind_file_ends),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
