/*
 * librsync input that crosses a trust boundary, through our checks:
 * a signature a writer sends to a reader (byte 0 even), and a delta
 * from a repository applied to a basis (byte 0 odd: raw, or gzip when
 * bit 1 is set; by delta_patch, or twice in a delta_chain when bit 2 is).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "delta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int basis = -1;

static int
sink(void *arg, const uint8_t *p, size_t n)
{
	(void)arg;
	(void)p;
	(void)n;
	return 0;
}

static int
memfd_with(const void *p, size_t n)
{
	int fd = memfd_create("fuzz", 0);

	if (fd < 0 || write(fd, p, n) != (ssize_t)n)
		abort();
	return fd;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	int in, out;

	if (size == 0)
		return 0;
	if (basis < 0) {
		char text[8192];

		for (size_t i = 0; i < sizeof(text); i++)
			text[i] = (char)("capback basis "[i % 14]);
		basis = memfd_with(text, sizeof(text));
	}
	if ((data[0] & 1) == 0) {
		if (delta_signature_check(data + 1, size - 1) == 0)
			(void)delta_from_signature(data + 1, size - 1, basis,
			    8192, sink, NULL, NULL, NULL);
		return 0;
	}
	in = memfd_with(data + 1, size - 1);
	out = memfd_create("out", 0);
	lseek(in, 0, SEEK_SET);
	if ((data[0] & 4) == 0)
		(void)delta_patch(basis, in, (data[0] & 2) != 0, out, 1 << 20);
	else {
		/* The same delta twice in a chain: the second is held to
		 * what the first made. */
		struct delta_chain *c;
		int lit = memfd_create("lit", 0), gz = (data[0] & 2) != 0;

		if (lit < 0 || delta_chain_new(&c, basis, lit) != 0)
			abort();
		if (delta_chain_add(c, in, gz, 1 << 20) == 0 &&
		    delta_chain_add(c, in, gz, 1 << 20) == 0)
			(void)delta_chain_write(c, out);
		delta_chain_free(c);
		close(lit);
	}
	close(in);
	close(out);
	return 0;
}
