#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cb_err.h"
#include "delta.h"

#define MIB ((size_t)1024 * 1024)

/* The temporary directory of the running test (setup/teardown). */
static char tdir[PATH_MAX];

/* xorshift64: deterministic, incompressible test content. */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static uint8_t *
rand_buf(size_t len, uint64_t seed)
{
	uint8_t *p = malloc(len > 0 ? len : 1);
	uint64_t s = seed * 0x9e3779b97f4a7c15ull + 1;
	size_t i;

	assert_non_null(p);
	for (i = 0; i < len; i++)
		p[i] = (uint8_t)(rnd(&s) >> 24);
	return p;
}

/* Compressible, text-like content. */
static uint8_t *
text_buf(size_t len, uint64_t seed)
{
	static const char *words[] = { "alpha ", "beta ", "gamma\n", "delta ",
		"rdiff ", "backup ", "increment\n", "mirror " };
	uint8_t *p = malloc(len > 0 ? len : 1);
	uint64_t s = seed + 7;
	size_t i = 0, n;
	const char *w;

	assert_non_null(p);
	while (i < len) {
		w = words[rnd(&s) % 8];
		n = strlen(w);
		if (n > len - i)
			n = len - i;
		memcpy(p + i, w, n);
		i += n;
	}
	return p;
}

static void
path_of(char *buf, size_t cap, const char *name)
{
	int n = snprintf(buf, cap, "%s/%s", tdir, name);

	assert_true(n > 0 && (size_t)n < cap);
}

/* Create (or truncate) tdir/name holding ${len} bytes; returns an O_RDWR fd
 * whose offset is left at the end, as a writer would leave it. */
static int
tfile(const char *name, const void *data, size_t len)
{
	char path[PATH_MAX];
	const uint8_t *p = data;
	ssize_t w;
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	assert_true(fd >= 0);
	while (len > 0) {
		w = write(fd, p, len);
		assert_true(w > 0);
		p += w;
		len -= (size_t)w;
	}
	return fd;
}

static int
topen(const char *name, int flags)
{
	char path[PATH_MAX];
	int fd;

	path_of(path, sizeof(path), name);
	fd = open(path, flags | O_CLOEXEC);
	assert_true(fd >= 0);
	return fd;
}

static size_t
fsize(int fd)
{
	struct stat sb;

	assert_int_equal(fstat(fd, &sb), 0);
	return (size_t)sb.st_size;
}

/* The whole content of fd (from offset 0); *len its length. */
static uint8_t *
slurp(int fd, size_t *len)
{
	size_t n = fsize(fd), done = 0;
	uint8_t *p = malloc(n > 0 ? n : 1);
	ssize_t r;

	assert_non_null(p);
	while (done < n) {
		r = pread(fd, p + done, n - done, (off_t)done);
		assert_true(r > 0);
		done += (size_t)r;
	}
	*len = n;
	return p;
}

static void
assert_content(int fd, const uint8_t *want, size_t wantlen)
{
	size_t len;
	uint8_t *got = slurp(fd, &len);

	assert_int_equal(len, wantlen);
	if (wantlen > 0)
		assert_memory_equal(got, want, wantlen);
	free(got);
}

/* Empty an output file and rewind it (outputs are written at the offset). */
static void
reset_fd(int fd)
{
	assert_int_equal(ftruncate(fd, 0), 0);
	assert_int_equal(lseek(fd, 0, SEEK_SET), 0);
}

static int
setup(void **state)
{
	const char *t = getenv("TMPDIR");
	int n;

	(void)state;
	n = snprintf(tdir, sizeof(tdir), "%s/test_delta.XXXXXX",
	    t != NULL && *t != '\0' ? t : "/tmp");
	if (n < 0 || (size_t)n >= sizeof(tdir) || mkdtemp(tdir) == NULL)
		return -1;
	return 0;
}

static int
teardown(void **state)
{
	DIR *d;
	struct dirent *de;

	(void)state;
	if ((d = opendir(tdir)) == NULL)
		return -1;
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") != 0 &&
		    strcmp(de->d_name, "..") != 0)
			(void)unlinkat(dirfd(d), de->d_name, 0);
	}
	closedir(d);
	return rmdir(tdir);
}

/* Is ${prog} an executable somewhere in $PATH? */
static int
have_prog(const char *prog)
{
	const char *path = getenv("PATH");
	char dir[PATH_MAX], full[PATH_MAX + 64];
	size_t n;
	const char *p, *e;

	if (path == NULL)
		path = "/usr/bin:/bin";
	for (p = path; *p != '\0'; p = *e != '\0' ? e + 1 : e) {
		e = strchr(p, ':');
		if (e == NULL)
			e = p + strlen(p);
		n = (size_t)(e - p);
		if (n == 0 || n >= sizeof(dir))
			continue;
		memcpy(dir, p, n);
		dir[n] = '\0';
		snprintf(full, sizeof(full), "%s/%s", dir, prog);
		if (access(full, X_OK) == 0)
			return 1;
	}
	return 0;
}

/* Run argv (no shell), stdout to tdir/${outname} if not NULL; exit status. */
static int
run(const char *const argv[], const char *outname)
{
	char path[PATH_MAX];
	pid_t pid;
	int st, fd;

	if (outname != NULL)
		path_of(path, sizeof(path), outname);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		if (outname != NULL) {
			fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
			if (fd < 0 || dup2(fd, 1) < 0)
				_exit(126);
		}
		execvp(argv[0], (char *const *)argv);
		_exit(127);
	}
	assert_int_equal(waitpid(pid, &st, 0), pid);
	return WIFEXITED(st) ? WEXITSTATUS(st) : 128;
}

/*
 * cmocka 1.1.5 reports skip() as "not ok N # SKIP", which meson's TAP
 * parser counts as a failure; a missing tool is a TAP comment instead.
 */
static void
skip_quietly(const char *why)
{
	printf("# skipped: %s\n", why);
}

/*
 * roundtrip(old, oldlen, new, newlen, gz):
 * Reverse delta new -> old through real files, applied with the new file
 * as basis; also checks the exact max_out boundary.  Returns the size of
 * the delta file.
 */
static size_t
roundtrip(const uint8_t *oldp, size_t oldlen, const uint8_t *newp,
    size_t newlen, int gz)
{
	static const uint8_t rsmagic[4] = { 0x72, 0x73, 0x02, 0x36 };
	static const uint8_t gzmagic[2] = { 0x1f, 0x8b };
	int newfd = tfile("new", newp, newlen);
	int oldfd = tfile("old", oldp, oldlen);
	int dfd = tfile("delta", NULL, 0), outfd = tfile("out", NULL, 0);
	uint8_t head[4];
	size_t dlen;

	assert_int_equal(delta_reverse(newfd, oldfd, dfd, gz), 0);
	dlen = fsize(dfd);
	assert_true(dlen >= 4);
	assert_int_equal(pread(dfd, head, 4, 0), 4);
	if (gz)
		assert_memory_equal(head, gzmagic, 2);
	else
		assert_memory_equal(head, rsmagic, 4);

	/* Apply it with exactly enough room. */
	assert_int_equal(delta_patch(newfd, dfd, gz, outfd, oldlen), 0);
	assert_content(outfd, oldp, oldlen);
	/* One byte less is refused, and nothing beyond the bound is written. */
	if (oldlen > 0) {
		reset_fd(outfd);
		assert_int_equal(delta_patch(newfd, dfd, gz, outfd, oldlen - 1),
		    CB_ERR_TOO_LARGE);
		assert_true(fsize(outfd) <= oldlen - 1);
	}
	close(newfd);
	close(oldfd);
	close(dfd);
	close(outfd);
	return dlen;
}

/* Both the raw and the compressed round trip; sizes in sz[0] and sz[1]. */
static void
roundtrip2(const uint8_t *oldp, size_t oldlen, const uint8_t *newp,
    size_t newlen, size_t sz[2])
{
	sz[0] = roundtrip(oldp, oldlen, newp, newlen, 0);
	sz[1] = roundtrip(oldp, oldlen, newp, newlen, 1);
}

static void
report(const char *what, size_t len, const size_t sz[2])
{
	printf("# %s (%zu bytes): delta %zu raw, %zu gzip\n", what, len, sz[0],
	    sz[1]);
}

static void
test_block_len(void **state)
{
	(void)state;
	/* The examples of the format document, section 6. */
	assert_int_equal(delta_block_len(10240), 80);
	assert_int_equal(delta_block_len(65536), 256);
	assert_int_equal(delta_block_len(1 * MIB), 1024);
	assert_int_equal(delta_block_len(3 * MIB), 1536);
	assert_int_equal(delta_block_len(8288890), 4032);
	assert_int_equal(delta_block_len(1ull << 30), 32768);
	assert_int_equal(delta_block_len(1ull << 40), 1 * MIB);
	/* Edges of the rule. */
	assert_int_equal(delta_block_len(0), 64);
	assert_int_equal(delta_block_len(1), 64);
	assert_int_equal(delta_block_len(10239), 64);
	assert_int_equal(delta_block_len(16383), 112);
	assert_int_equal(delta_block_len(16384), 128);
	/* Not monotonic: the shift grows by one at every other bit length
	 * (values checked against Python's int.bit_length()). */
	assert_int_equal(delta_block_len(32767), 240);
	assert_int_equal(delta_block_len(32768), 128);
	assert_int_equal(delta_block_len(UINT64_MAX), 0xfffffff0u);
}

static void
test_identical(void **state)
{
	uint8_t *a = rand_buf(1 * MIB, 1);
	size_t sz[2];

	(void)state;
	roundtrip2(a, 1 * MIB, a, 1 * MIB, sz);
	report("identical", 1 * MIB, sz);
	/* One COPY command, or a handful. */
	assert_true(sz[0] < 64);
	free(a);
}

static void
test_edit_middle(void **state)
{
	size_t len = 4 * MIB, sz[2];
	uint8_t *nw = rand_buf(len, 2), *old = malloc(len);

	(void)state;
	assert_non_null(old);
	memcpy(old, nw, len);
	memset(old + len / 2 + 123, 'x', 100);
	roundtrip2(old, len, nw, len, sz);
	report("4 MiB, 100 bytes edited", len, sz);
	/* Block length 2048: about two literal blocks plus a few commands. */
	assert_true(sz[0] < 8192);
	assert_true(sz[1] < 8192);
	free(nw);
	free(old);
}

static void
test_append_truncate(void **state)
{
	size_t len = 1 * MIB, extra = 10000, sz[2];
	uint8_t *big = rand_buf(len + extra, 3);

	(void)state;
	/* The new file has data appended: the old one is a prefix. */
	roundtrip2(big, len, big, len + extra, sz);
	report("appended 10000", len, sz);
	assert_true(sz[0] < 64);
	/* The new file was truncated: the delta holds the lost tail. */
	roundtrip2(big, len + extra, big, len, sz);
	report("truncated 10000", len + extra, sz);
	assert_true(sz[0] >= extra && sz[0] < extra + 2048);
	/* Data inserted at the front of the new file. */
	roundtrip2(big + extra, len, big, len + extra, sz);
	report("prepended 10000", len, sz);
	/* Up to the first block boundary of the new file is literal. */
	assert_true(sz[0] < 1024 + 64);
	free(big);
}

static void
test_completely_different(void **state)
{
	size_t len = 1 * MIB, sz[2];
	uint8_t *a = rand_buf(len, 4), *b = rand_buf(len + 77, 5);
	uint8_t *t1 = text_buf(len, 1), *t2 = text_buf(len, 2);

	(void)state;
	roundtrip2(a, len, b, len + 77, sz);
	report("different random", len, sz);
	assert_true(sz[0] >= len && sz[0] < len + len / 100);
	/* Text compresses: the .gz delta is much smaller than the raw one. */
	roundtrip2(t1, len, t2, len, sz);
	report("different text", len, sz);
	assert_true(sz[1] < sz[0] / 2);
	free(a);
	free(b);
	free(t1);
	free(t2);
}

static void
test_empty_and_tiny(void **state)
{
	uint8_t *a = rand_buf(5000, 6);
	size_t sz[2];

	(void)state;
	roundtrip2(a, 5000, NULL, 0, sz); /* empty new */
	report("empty new", 5000, sz);
	roundtrip2(NULL, 0, a, 5000, sz); /* empty old */
	report("empty old", 0, sz);
	assert_int_equal(sz[0], 5);	  /* magic + END */
	roundtrip2(NULL, 0, NULL, 0, sz); /* both empty */
	roundtrip2((const uint8_t *)"a", 1, (const uint8_t *)"a", 1, sz);
	report("1 byte, same", 1, sz);
	roundtrip2((const uint8_t *)"a", 1, (const uint8_t *)"b", 1, sz);
	roundtrip2((const uint8_t *)"a", 1, NULL, 0, sz);
	roundtrip2(NULL, 0, (const uint8_t *)"a", 1, sz);
	/* Sizes around one block (64 bytes below 10240). */
	roundtrip2(a, 63, a, 64, sz);
	roundtrip2(a, 64, a, 65, sz);
	roundtrip2(a + 1, 128, a, 129, sz);
	free(a);
}

static void
test_ten_mib(void **state)
{
	size_t len = 10 * MIB, sz[2];
	uint8_t *nw = rand_buf(len, 7), *old = malloc(len + 4096);

	(void)state;
	assert_non_null(old);
	/* old = new with a hole punched out, a block rewritten, a tail added */
	memcpy(old, nw, 3 * MIB);
	memcpy(old + 3 * MIB, nw + 3 * MIB + 5000, len - 3 * MIB - 5000);
	memset(old + 7 * MIB, 0, 3000);
	memcpy(old + len - 5000, nw, 9096);
	roundtrip2(old, len + 4096, nw, len, sz);
	report("10 MiB, 3 edits", len, sz);
	assert_true(sz[0] < 40000);
	free(nw);
	free(old);
}

/*
 * mutate(src, len, &olen, s): a copy of src with a few edits of the kinds
 * files see: bytes overwritten, inserted or deleted (shifting the rest),
 * a range copied elsewhere, zeroed, appended to or truncated.
 */
static uint8_t *
mutate(const uint8_t *src, size_t len, size_t *olen, uint64_t *s)
{
	size_t cap = len + 64 * 1024, n = len, edits = 1 + rnd(s) % 6;
	uint8_t *p = malloc(cap);

	assert_non_null(p);
	memcpy(p, src, len);
	for (size_t e = 0; e < edits; e++) {
		size_t at = n > 0 ? rnd(s) % n : 0, k = 1 + rnd(s) % 5000;
		size_t from;

		if (k > cap - n)
			k = cap - n;
		switch (rnd(s) % 7) {
		case 0: /* overwrite */
			if (k > n - at)
				k = n - at;
			for (size_t i = 0; i < k; i++)
				p[at + i] = (uint8_t)rnd(s);
			break;
		case 1: /* insert */
			memmove(p + at + k, p + at, n - at);
			for (size_t i = 0; i < k; i++)
				p[at + i] = (uint8_t)rnd(s);
			n += k;
			break;
		case 2: /* delete */
			if (k > n - at)
				k = n - at;
			memmove(p + at, p + at + k, n - at - k);
			n -= k;
			break;
		case 3: /* copy a range over another place */
			from = n > 0 ? rnd(s) % n : 0;
			if (k > n - at)
				k = n - at;
			if (k > n - from)
				k = n - from;
			memmove(p + at, p + from, k);
			break;
		case 4: /* zero */
			if (k > n - at)
				k = n - at;
			memset(p + at, 0, k);
			break;
		case 5: /* append */
			for (size_t i = 0; i < k; i++)
				p[n + i] = (uint8_t)rnd(s);
			n += k;
			break;
		default: /* truncate */ n = at; break;
		}
	}
	*olen = n;
	return p;
}

/*
 * The size of the reverse delta rdiff(1) makes the way rdiff-backup does
 * (BLAKE2 signature of the new file, its block length, then a rolling
 * search of the old file) for tdir/new -> tdir/old.
 */
static size_t
rdiff_size(size_t newlen)
{
	char pn[PATH_MAX], po[PATH_MAX], ps[PATH_MAX], pd[PATH_MAX], b[32];
	int fd;
	size_t n;

	path_of(pn, sizeof(pn), "new");
	path_of(po, sizeof(po), "old");
	path_of(ps, sizeof(ps), "rsig");
	path_of(pd, sizeof(pd), "rdelta");
	snprintf(b, sizeof(b), "%u", delta_block_len(newlen));
	const char *sg[] = { "rdiff", "-f", "-H", "blake2", "-b", b,
		"signature", pn, ps, NULL };
	const char *dl[] = { "rdiff", "-f", "delta", ps, po, pd, NULL };
	assert_int_equal(run(sg, NULL), 0);
	assert_int_equal(run(dl, NULL), 0);
	fd = topen("rdelta", O_RDONLY);
	n = fsize(fd);
	close(fd);
	return n;
}

/*
 * Many files, from a few bytes to 3 MiB (block lengths 64 to 1536), of
 * random, text and zero runs, each with a few random edits: every reverse
 * delta re-creates the old file exactly (roundtrip), and is never
 * larger than librsync's own, as rdiff-backup makes it, beyond a block or
 * two of slack.
 */
static void
test_random_edits(void **state)
{
	static const size_t sizes[] = { 0, 1, 63, 64, 200, 9000, 10240, 70000,
		300000, 1 * MIB, 3 * MIB };
	uint64_t s = 20261130, ours = 0, theirs = 0;
	int rdiff = have_prog("rdiff");

	(void)state;
	for (unsigned it = 0; it < 66; it++) {
		size_t len = sizes[it % 11], olen, k, sz;
		uint8_t *nw = malloc(len > 0 ? len : 1), *old, *r;

		assert_non_null(nw);
		/* runs of random bytes, text and zeros */
		for (size_t i = 0; i < len; i += k) {
			k = 1 + rnd(&s) % 20000;
			if (k > len - i)
				k = len - i;
			if (rnd(&s) % 3 == 0)
				memset(nw + i, 0, k);
			else {
				r = rnd(&s) % 2 ? rand_buf(k, rnd(&s)) :
						  text_buf(k, rnd(&s));
				memcpy(nw + i, r, k);
				free(r);
			}
		}
		old = mutate(nw, len, &olen, &s);
		sz = roundtrip(old, olen, nw, len, it % 5 == 0);
		if (rdiff && it % 5 != 0) {
			size_t rs = rdiff_size(len);

			ours += sz;
			theirs += rs;
			if (sz > rs + rs / 50 + 2 * delta_block_len(len) + 64)
				fail_msg("case %u (%zu -> %zu bytes): ours "
					 "%zu, "
					 "rdiff %zu",
				    it, len, olen, sz, rs);
		}
		free(nw);
		free(old);
	}
	if (rdiff)
		printf("# random edits: our deltas %llu bytes, rdiff's %llu\n",
		    (unsigned long long)ours, (unsigned long long)theirs);
	else
		skip_quietly("rdiff not installed: sizes not compared");
}

/*
 * An edit in place (bytes overwritten, a tail appended or cut) gives a
 * delta_ranges with in_place set, and then the delta re-creates the old
 * file from the new one with any of its ranges already put back to the
 * old bytes, or half done, as an update in place killed midway leaves
 * it (the writer's regress relies on this).  An insertion, which moves
 * content, is not in place.
 */
static void
test_in_place_ranges(void **state)
{
	uint64_t s = 4242;
	struct delta_ranges rg;

	(void)state;
	for (unsigned it = 0; it < 40; it++) {
		size_t len = 100000 + (size_t)(rnd(&s) % 3000000), olen = len;
		uint8_t *nw = rand_buf(len + 70000, it), *old, *mix;
		int nfd, ofd, dfd, mfd, outfd, edits = 1 + (int)(rnd(&s) % 5);

		old = malloc(len + 70000);
		assert_non_null(old);
		memcpy(old, nw, len + 70000); /* beyond len: what a cut drops */
		for (int e = 0; e < edits; e++) {
			size_t at = (size_t)(rnd(&s) % (len - 5000));
			size_t k = 1 + (size_t)(rnd(&s) % 4000);

			for (size_t i = 0; i < k; i++)
				old[at + i] = (uint8_t)rnd(&s);
		}
		if (it % 3 == 1)
			olen =
			    len - (size_t)(rnd(&s) % 5000); /* new appended */
		else if (it % 3 == 2) /* new cut short: old has more */
			olen = len + (size_t)(rnd(&s) % 60000);
		nfd = tfile("new", nw, len);
		ofd = tfile("old", old, olen);
		dfd = tfile("delta", NULL, 0);
		assert_int_equal(delta_reverse_ranges(nfd, ofd, dfd, 0, &rg),
		    0);
		assert_int_equal(rg.in_place, 1);
		assert_true(rg.n >= 1 || olen < len);
		/* a mix: each range old, new, or half and half */
		mix = malloc(len > olen ? len : olen);
		assert_non_null(mix);
		memcpy(mix, nw, len);
		for (size_t i = 0; i < rg.n; i++) {
			uint64_t a = rg.r[i][0], b = rg.r[i][1];

			if (b > len)
				b = len;
			if (a >= b || rnd(&s) % 3 == 0)
				continue;
			if (rnd(&s) % 2)
				b = a + (b - a) / 2;
			memcpy(mix + a, old + a, (size_t)(b - a));
		}
		mfd = tfile("mix", mix, len);
		outfd = tfile("out", NULL, 0);
		assert_int_equal(delta_patch(mfd, dfd, 0, outfd, olen), 0);
		assert_content(outfd, old, olen);
		close(nfd);
		close(ofd);
		close(dfd);
		close(mfd);
		close(outfd);
		free(nw);
		free(old);
		free(mix);
	}
	/* Content inserted into the new file moves the rest: not in place. */
	{
		size_t len = 1 * MIB;
		uint8_t *nw = rand_buf(len + 7, 99);
		int nfd = tfile("new", nw, len + 7), ofd, dfd;

		memmove(nw + 5000, nw + 5007, len - 5000);
		ofd = tfile("old", nw, len);
		dfd = tfile("delta", NULL, 0);
		assert_int_equal(delta_reverse_ranges(nfd, ofd, dfd, 1, &rg),
		    0);
		assert_int_equal(rg.in_place, 0);
		close(nfd);
		close(ofd);
		close(dfd);
		free(nw);
	}
}

/*
 * Hash collisions made on purpose must not become matches.  The rolling
 * hash is a polynomial modulo 2^64, which the Thue-Morse sequence defeats
 * for any multiplier: a block of 'b's and the same block with its last
 * 2048 bytes turned into 'a'/'c' by that sequence hash alike.  The new
 * file holds the altered block; every position of the old file ('b's
 * only) hits it in the table, and memcmp must refuse each one (after
 * 2048 equal bytes, so the search's budget is what keeps this linear).
 */
static void
test_forged_collisions(void **state)
{
	size_t len = 16 * MIB, blen = delta_block_len(len), olen = 4 * MIB;
	uint8_t *nw = calloc(1, len), *old = malloc(olen);
	size_t sz;

	(void)state;
	assert_int_equal(blen, 4096);
	assert_non_null(nw);
	assert_non_null(old);
	memset(nw, 'b', blen);
	for (size_t i = 0; i < 2048; i++) /* Thue-Morse: parity of bits */
		nw[blen - 2048 + i] = __builtin_parityll(i) ? 'a' : 'c';
	memset(old, 'b', olen);
	sz = roundtrip(old, olen, nw, len, 0);
	printf("# forged collisions: %zu-byte delta for %zu bytes\n", sz, olen);
	/* Nothing in the new file is a run of 'b's: all of it is LITERAL. */
	assert_true(sz >= olen - blen && sz < olen + olen / 100);
	free(nw);
	free(old);
}

/* ---- interoperability with the rdiff tool and gzip ---- */

static void
test_rdiff_applies_ours(void **state)
{
	size_t len = 300000;
	uint8_t *nw, *old;
	char pn[PATH_MAX], pd[PATH_MAX], po[PATH_MAX], praw[PATH_MAX];
	int gz, newfd, oldfd, dfd, outfd;

	(void)state;
	if (!have_prog("rdiff") || !have_prog("gzip")) {
		skip_quietly("rdiff or gzip not installed");
		return;
	}
	nw = text_buf(len, 9);
	old = malloc(len);
	assert_non_null(old);
	memcpy(old, nw, len);
	memset(old + 1000, 'R', 21);
	memmove(old + 200000, old + 150000, 50000);
	path_of(pn, sizeof(pn), "new");
	path_of(pd, sizeof(pd), "delta");
	path_of(po, sizeof(po), "out");
	path_of(praw, sizeof(praw), "delta.raw");
	for (gz = 0; gz <= 1; gz++) {
		newfd = tfile("new", nw, len);
		oldfd = tfile("old", old, len);
		dfd = tfile("delta", NULL, 0);
		assert_int_equal(delta_reverse(newfd, oldfd, dfd, gz), 0);
		if (gz) {
			/* gzip(1) reads our stream; rdiff the result. */
			const char *g[] = { "gzip", "-dc", pd, NULL };

			assert_int_equal(run(g, "delta.raw"), 0);
		} else {
			const char *c[] = { "cp", pd, praw, NULL };

			assert_int_equal(run(c, NULL), 0);
		}
		const char *a[] = { "rdiff", "-f", "patch", pn, praw, po,
			NULL };
		assert_int_equal(run(a, NULL), 0);
		outfd = topen("out", O_RDONLY);
		assert_content(outfd, old, len);
		close(outfd);
		close(newfd);
		close(oldfd);
		close(dfd);
	}
	free(nw);
	free(old);
}

static void
test_we_apply_rdiffs(void **state)
{
	size_t len = 200000;
	uint8_t *basis, *target;
	char pb[PATH_MAX], ps[PATH_MAX], pt[PATH_MAX], pd[PATH_MAX];
	int v, gz, bfd, tfd, dfd, outfd;

	(void)state;
	if (!have_prog("rdiff") || !have_prog("gzip")) {
		skip_quietly("rdiff or gzip not installed");
		return;
	}
	basis = rand_buf(len, 10);
	target = malloc(len + 3);
	assert_non_null(target);
	memcpy(target, basis + 100, len - 100);
	memset(target + len - 100, 'x', 3);
	memcpy(target + len - 97, basis, 100);
	path_of(pb, sizeof(pb), "basis");
	path_of(ps, sizeof(ps), "sig");
	path_of(pt, sizeof(pt), "target");
	path_of(pd, sizeof(pd), "delta");
	bfd = tfile("basis", basis, len);
	tfd = tfile("target", target, len + 3);
	/* rdiff's defaults, then rdiff-backup's own MD4/8-byte parameters. */
	for (v = 0; v < 2; v++) {
		const char *s0[] = { "rdiff", "-f", "signature", pb, ps, NULL };
		const char *s1[] = { "rdiff", "-f", "-H", "md4", "-R",
			"rollsum", "-S", "8", "-b", "512", "signature", pb, ps,
			NULL };
		const char *d[] = { "rdiff", "-f", "delta", ps, pt, pd, NULL };
		const char *z[] = { "gzip", "-9", "-f", "-k", pd, NULL };

		assert_int_equal(run(v == 0 ? s0 : s1, NULL), 0);
		assert_int_equal(run(d, NULL), 0);
		assert_int_equal(run(z, NULL), 0);
		for (gz = 0; gz <= 1; gz++) {
			dfd = topen(gz ? "delta.gz" : "delta", O_RDONLY);
			outfd = tfile("out", NULL, 0);
			assert_int_equal(delta_patch(bfd, dfd, gz, outfd,
					     DELTA_NO_LIMIT),
			    0);
			assert_content(outfd, target, len + 3);
			close(outfd);
			close(dfd);
		}
	}
	close(bfd);
	close(tfd);
	free(basis);
	free(target);
}

/* ---- hostile deltas ---- */

/* A hand-made delta. */
struct dbuf {
	uint8_t p[4096];
	size_t n;
};

static void
db_u(struct dbuf *d, uint64_t v, int width)
{
	int i;

	assert_true(d->n + (size_t)width <= sizeof(d->p));
	for (i = width - 1; i >= 0; i--)
		d->p[d->n++] = (uint8_t)(v >> (8 * i));
}

static void
db_start(struct dbuf *d)
{
	d->n = 0;
	db_u(d, 0x72730236, 4);
}

static uint64_t
width_idx(int w)
{
	return w == 1 ? 0 : w == 2 ? 1 : w == 4 ? 2 : 3;
}

/* COPY with ${pw}-byte position and ${lw}-byte length fields. */
static void
db_copy(struct dbuf *d, uint64_t pos, int pw, uint64_t len, int lw)
{
	db_u(d, 0x45 + width_idx(pw) * 4 + width_idx(lw), 1);
	db_u(d, pos, pw);
	db_u(d, len, lw);
}

/* LITERAL with a ${lw}-byte length field, ${n} bytes of data follow. */
static void
db_lit(struct dbuf *d, uint64_t len, int lw, const void *data, size_t n)
{
	db_u(d, 0x41 + width_idx(lw), 1);
	db_u(d, len, lw);
	assert_true(d->n + n <= sizeof(d->p));
	memcpy(d->p + d->n, data, n);
	d->n += n;
}

/*
 * chain_of(bfd, dfds, gzs, n, max, same):
 * Apply the ${n} deltas to ${bfd} as one delta_chain into "chained"; on
 * success its content must be that of ${same} (if >= 0).  Returns what
 * the chain returned; nothing is written unless it all parses.
 */
static int
chain_of(int bfd, const int *dfds, const int *gzs, size_t n, uint64_t max,
    int same)
{
	struct delta_chain *c;
	int lit = tfile("lit", NULL, 0), out = tfile("chained", NULL, 0), r;
	size_t alen, blen;
	uint8_t *a, *b;

	assert_int_equal(delta_chain_new(&c, bfd, lit), 0);
	r = 0;
	for (size_t i = 0; i < n && r == 0; i++)
		r = delta_chain_add(c, dfds[i], gzs[i], max);
	if (r == 0)
		r = delta_chain_write(c, out);
	else
		assert_int_equal(fsize(out), 0);
	delta_chain_free(c);
	if (r == 0 && same >= 0) {
		a = slurp(out, &alen);
		b = slurp(same, &blen);
		assert_int_equal(alen, blen);
		assert_memory_equal(a, b, alen);
		free(a);
		free(b);
	}
	close(lit);
	close(out);
	return r;
}

/* Patch ${basis} with the delta ${d}; the output goes to "out". */
static int
patch_buf(const uint8_t *basis, size_t blen, const uint8_t *delta, size_t dlen,
    int gz, uint64_t max, size_t *outlen)
{
	int bfd = tfile("basis", basis, blen), dfd = tfile("d", delta, dlen);
	int outfd = tfile("out", NULL, 0), r;

	r = delta_patch(bfd, dfd, gz, outfd, max);
	if (outlen != NULL)
		*outlen = fsize(outfd);
	/* Never more than max, whatever happened. */
	assert_true(fsize(outfd) <= max);
	/* A chain of this one delta reads it alike, and makes the same. */
	assert_int_equal(chain_of(bfd, &dfd, &gz, 1, max, outfd), r);
	close(bfd);
	close(dfd);
	close(outfd);
	return r;
}

static int
patch_db(const uint8_t *basis, size_t blen, struct dbuf *d, uint64_t max)
{
	return patch_buf(basis, blen, d->p, d->n, 0, max, NULL);
}

/* Make a small delta (COPY, LITERAL, COPY) between related random files;
 * *dlen its length, *old the expected output (owned by caller). */
static uint8_t *
small_delta(int gz, size_t *dlen, uint8_t **nwp, uint8_t **oldp)
{
	uint8_t *nw = rand_buf(3000, 11), *old = malloc(3003), *d;
	int newfd, oldfd, dfd;

	assert_non_null(old);
	memcpy(old, nw, 1000);
	memset(old + 1000, 'X', 3);
	memcpy(old + 1003, nw + 1000, 2000);
	newfd = tfile("new", nw, 3000);
	oldfd = tfile("old", old, 3003);
	dfd = tfile("delta", NULL, 0);
	assert_int_equal(delta_reverse(newfd, oldfd, dfd, gz), 0);
	d = slurp(dfd, dlen);
	close(newfd);
	close(oldfd);
	close(dfd);
	*nwp = nw;
	*oldp = old;
	return d;
}

static void
test_truncated_every_length(void **state)
{
	uint8_t *d, *nw, *old;
	size_t dlen, l, outlen;
	int gz;

	(void)state;
	for (gz = 0; gz <= 1; gz++) {
		d = small_delta(gz, &dlen, &nw, &old);
		if (!gz) /* literal + at least two copies + END */
			assert_true(dlen > 4 + 1 + 3 + 2 * 3 + 1);
		/* The full delta works... */
		assert_int_equal(patch_buf(nw, 3000, d, dlen, gz, 3003,
				     &outlen),
		    0);
		assert_int_equal(outlen, 3003);
		/* ...and every proper prefix is refused. */
		for (l = 0; l < dlen; l++)
			assert_int_equal(patch_buf(nw, 3000, d, l, gz, 3003,
					     NULL),
			    CB_ERR_CORRUPT);
		printf("# %s delta of %zu bytes: all %zu prefixes refused\n",
		    gz ? "gzip" : "raw", dlen, dlen);
		free(d);
		free(nw);
		free(old);
	}
}

static void
test_copy_outside_basis(void **state)
{
	uint8_t *basis = rand_buf(100, 12);
	struct dbuf d;
	size_t outlen;

	(void)state;
	/* Reaching exactly the end is fine. */
	db_start(&d);
	db_copy(&d, 96, 1, 4, 1);
	db_copy(&d, 0, 8, 100, 8);
	db_u(&d, 0, 1);
	assert_int_equal(patch_buf(basis, 100, d.p, d.n, 0, 1000, &outlen), 0);
	assert_int_equal(outlen, 104);

	/* One byte past it is not, however the fields are written. */
	db_start(&d);
	db_copy(&d, 97, 1, 4, 1);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	db_start(&d);
	db_copy(&d, 100, 2, 1, 4);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	db_start(&d);
	db_copy(&d, 0, 4, 101, 2);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	/* A good copy first: the error still comes, after some output. */
	db_start(&d);
	db_copy(&d, 0, 1, 50, 1);
	db_copy(&d, 60, 1, 41, 1);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	/* Huge, negative and overflowing positions and lengths. */
	db_start(&d);
	db_copy(&d, INT64_MAX, 8, 1, 1);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	db_start(&d);
	db_copy(&d, UINT64_MAX, 8, 1, 1);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	db_start(&d);
	db_copy(&d, 1ull << 62, 8, 1ull << 62, 8);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	db_start(&d);
	db_copy(&d, 50, 1, UINT64_MAX, 8);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	db_start(&d);
	db_copy(&d, 50, 1, 0, 1); /* empty copy */
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 100, &d, 1000), CB_ERR_CORRUPT);
	/* Any copy from an empty basis. */
	db_start(&d);
	db_copy(&d, 0, 1, 1, 1);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 0, &d, 1000), CB_ERR_CORRUPT);
	free(basis);
}

static void
test_output_bound(void **state)
{
	uint8_t *lit = rand_buf(1000, 13), *basis = rand_buf(65536, 14);
	struct dbuf d;
	size_t outlen, i;
	int bfd, dfd, outfd;
	uint8_t buf[9];

	(void)state;
	/* A literal of 1000 bytes against max_out 999 and 1000. */
	db_start(&d);
	db_lit(&d, 1000, 2, lit, 1000);
	db_u(&d, 0, 1);
	assert_int_equal(patch_buf(NULL, 0, d.p, d.n, 0, 999, &outlen),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(patch_buf(NULL, 0, d.p, d.n, 0, 1000, &outlen), 0);
	assert_int_equal(outlen, 1000);
	assert_int_equal(patch_buf(NULL, 0, d.p, d.n, 0, 0, &outlen),
	    CB_ERR_TOO_LARGE);
	assert_int_equal(outlen, 0);
	/* A literal that claims 2^40 bytes but has ten. */
	db_start(&d);
	db_lit(&d, 1ull << 40, 8, lit, 10);
	assert_int_equal(patch_db(NULL, 0, &d, DELTA_NO_LIMIT), CB_ERR_CORRUPT);
	assert_int_equal(patch_db(NULL, 0, &d, 5), CB_ERR_TOO_LARGE);
	/* A negative literal length, and a zero one. */
	db_start(&d);
	db_lit(&d, UINT64_MAX, 8, lit, 10);
	assert_int_equal(patch_db(NULL, 0, &d, DELTA_NO_LIMIT), CB_ERR_CORRUPT);
	db_start(&d);
	db_lit(&d, 0, 1, lit, 0);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(NULL, 0, &d, DELTA_NO_LIMIT), CB_ERR_CORRUPT);

	/* Amplification: 200 copies of a 64 KiB basis from a 1.2 kB delta
	 * make 12.5 MiB; the bound stops it at 1 MiB. */
	bfd = tfile("basis", basis, 65536);
	dfd = tfile("d", NULL, 0);
	db_start(&d);
	assert_int_equal(write(dfd, d.p, d.n), (ssize_t)d.n);
	for (i = 0; i < 200; i++) {
		d.n = 0;
		db_copy(&d, 0, 1, 65536, 4);
		assert_int_equal(d.n, 6);
		memcpy(buf, d.p, 6);
		assert_int_equal(write(dfd, buf, 6), 6);
	}
	assert_int_equal(write(dfd, "", 1), 1);
	outfd = tfile("out", NULL, 0);
	assert_int_equal(delta_patch(bfd, dfd, 0, outfd, 1 * MIB),
	    CB_ERR_TOO_LARGE);
	assert_true(fsize(outfd) <= 1 * MIB);
	reset_fd(outfd);
	assert_int_equal(delta_patch(bfd, dfd, 0, outfd, 200ull * 65536), 0);
	assert_int_equal(fsize(outfd), 200ull * 65536);
	close(bfd);
	close(dfd);
	close(outfd);
	free(lit);
	free(basis);
}

static void
test_garbage(void **state)
{
	uint8_t *basis = rand_buf(5000, 15), *g;
	struct dbuf d;
	size_t len;
	unsigned c;
	uint64_t seed;
	int r;

	(void)state;
	/* Random bytes: no magic. */
	for (seed = 0; seed < 100; seed++) {
		len = (size_t)(seed * 37 % 700);
		g = rand_buf(len, 1000 + seed);
		assert_int_equal(patch_buf(basis, 5000, g, len, 0, 100000,
				     NULL),
		    CB_ERR_CORRUPT);
		assert_int_equal(patch_buf(basis, 5000, g, len, 1, 100000,
				     NULL),
		    CB_ERR_CORRUPT);
		free(g);
	}
	/* Random bytes after the magic: an error or a bounded result. */
	for (seed = 0; seed < 200; seed++) {
		len = (size_t)(seed * 13 % 500);
		g = rand_buf(len, 2000 + seed);
		db_start(&d);
		memcpy(d.p + d.n, g, len);
		d.n += len;
		r = patch_db(basis, 5000, &d, 100000);
		assert_true(
		    r == 0 || r == CB_ERR_CORRUPT || r == CB_ERR_TOO_LARGE);
		free(g);
	}
	/* Every reserved command byte. */
	for (c = 0x55; c <= 0xff; c++) {
		db_start(&d);
		db_u(&d, c, 1);
		db_u(&d, 0, 8);
		db_u(&d, 0, 1);
		assert_int_equal(patch_db(basis, 5000, &d, 100000),
		    CB_ERR_CORRUPT);
	}
	/* A signature is not a delta; nothing may follow END. */
	db_start(&d);
	d.p[3] = 0x37;
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 5000, &d, 100000), CB_ERR_CORRUPT);
	db_start(&d);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 5000, &d, 100000), 0);
	db_u(&d, 0, 1);
	assert_int_equal(patch_db(basis, 5000, &d, 100000), CB_ERR_CORRUPT);
	free(basis);
}

/* Random mutations of a valid delta: an error or a bounded result. */
static void
test_mutations(void **state)
{
	uint8_t *d, *nw, *old, *m;
	size_t dlen, i, outlen, pos;
	uint64_t s = 42;
	int gz, k, r, ok = 0, iters;

	(void)state;
	for (gz = 0; gz <= 1; gz++) {
		d = small_delta(gz, &dlen, &nw, &old);
		m = malloc(dlen + 16);
		assert_non_null(m);
		iters = gz ? 300 : 1500;
		for (i = 0; i < (size_t)iters; i++) {
			memcpy(m, d, dlen);
			for (k = 0; k < 1 + (int)(rnd(&s) % 3); k++) {
				pos = (size_t)(rnd(&s) % dlen);
				m[pos] = (uint8_t)rnd(&s);
			}
			r = patch_buf(nw, 3000, m, dlen, gz, 8000, &outlen);
			assert_true(r == 0 || r == CB_ERR_CORRUPT ||
			    r == CB_ERR_TOO_LARGE);
			if (r == 0)
				ok++;
		}
		free(m);
		free(d);
		free(nw);
		free(old);
	}
	printf("# mutations: %d of 1800 still decoded (all bounded)\n", ok);
}

/*
 * Older versions from a chain of reverse deltas: the mirror V0 and older
 * versions V1..Vk, each an edit of the one after it, the delta i turning
 * V(i-1) into Vi.  The chain applied in one pass gives exactly Vk, for
 * every k, raw and gzip deltas mixed, files from empty to 1 MiB.
 */
static void
test_chain_versions(void **state)
{
	static const size_t sizes[] = { 0, 100, 9000, 70000, 1 * MIB };
	uint64_t s = 77;
	char name[32];

	(void)state;
	for (unsigned it = 0; it < 20; it++) {
		size_t len[7], k = 1 + it % 6;
		uint8_t *v[7];
		int dfd[6], gz[6], vfd, bfd;

		len[0] = sizes[it % 5];
		v[0] = rand_buf(len[0], it);
		for (size_t i = 1; i <= k; i++)
			v[i] = mutate(v[i - 1], len[i - 1], &len[i], &s);
		bfd = tfile("v0", v[0], len[0]);
		for (size_t i = 1; i <= k; i++) {
			int nf = tfile("vn", v[i - 1], len[i - 1]);
			int of = tfile("vo", v[i], len[i]);

			snprintf(name, sizeof(name), "d%zu", i);
			gz[i - 1] = (int)((it + i) % 2);
			dfd[i - 1] = tfile(name, NULL, 0);
			assert_int_equal(delta_reverse(nf, of, dfd[i - 1],
					     gz[i - 1]),
			    0);
			close(nf);
			close(of);
		}
		vfd = tfile("vk", v[k], len[k]);
		assert_int_equal(chain_of(bfd, dfd, gz, k, DELTA_NO_LIMIT, vfd),
		    0);
		/* The bound holds for every version on the way. */
		if (len[k] > 0)
			assert_int_equal(chain_of(bfd, dfd, gz, k, len[k] - 1,
					     -1),
			    CB_ERR_TOO_LARGE);
		close(vfd);
		close(bfd);
		for (size_t i = 0; i < k; i++)
			close(dfd[i]);
		for (size_t i = 0; i <= k; i++)
			free(v[i]);
	}
}

/* The file ${name} holding a delta of one COPY (a 1-byte length). */
static int
one_copy(const char *name, uint64_t pos, int pw, uint64_t len)
{
	struct dbuf d;

	db_start(&d);
	db_copy(&d, pos, pw, len, 1);
	db_u(&d, 0, 1);
	return tfile(name, d.p, d.n);
}

/*
 * The second delta of a chain is held to the size of the version the
 * first made, not to the basis; a map that would need more than
 * DELTA_CHAIN_PIECES_MAX pieces is refused (the caller patches in turn).
 */
static void
test_chain_bounds(void **state)
{
	uint8_t *basis = rand_buf(1000, 18), *big;
	static const uint8_t magic[4] = { 0x72, 0x73, 0x02, 0x36 };
	int bfd, dfd[2], gz[2] = { 0, 0 }, fd;
	size_t n;

	(void)state;
	bfd = tfile("basis", basis, 1000);
	dfd[0] = one_copy("d1", 500, 2, 10); /* version 1: 10 basis bytes */
	dfd[1] = one_copy("d2", 0, 1, 10);
	fd = tfile("want", basis + 500, 10);
	assert_int_equal(chain_of(bfd, dfd, gz, 2, 1000, fd), 0);
	close(fd);
	close(dfd[1]);
	dfd[1] = one_copy("d2", 0, 1, 11); /* one byte past version 1 */
	assert_int_equal(chain_of(bfd, dfd, gz, 2, 1000, -1), CB_ERR_CORRUPT);
	close(dfd[1]);
	dfd[1] = one_copy("d2", 1, 1, 9); /* ...but inside is fine */
	fd = tfile("want", basis + 501, 9);
	assert_int_equal(chain_of(bfd, dfd, gz, 2, 1000, fd), 0);
	close(fd);
	close(dfd[1]);

	/* One byte of the basis, then the byte before it, again and again:
	 * no two pieces join. */
	n = DELTA_CHAIN_PIECES_MAX + 1;
	big = malloc(4 + 3 * n + 1);
	assert_non_null(big);
	memcpy(big, magic, 4);
	for (size_t i = 0; i < n; i++) {
		big[4 + 3 * i] = 0x45;
		big[4 + 3 * i + 1] = (uint8_t)(i % 2 ? 7 : 9);
		big[4 + 3 * i + 2] = 1;
	}
	big[4 + 3 * n] = 0;
	close(dfd[0]);
	dfd[0] = tfile("d1", big, 4 + 3 * n + 1);
	assert_int_equal(chain_of(bfd, dfd, gz, 1, DELTA_NO_LIMIT, -1),
	    CB_ERR_TOO_LARGE);
	/* One piece fewer fits. */
	big[4 + 3 * (n - 1)] = 0;
	close(dfd[0]);
	dfd[0] = tfile("d1", big, 4 + 3 * (n - 1) + 1);
	assert_int_equal(chain_of(bfd, dfd, gz, 1, DELTA_NO_LIMIT, -1), 0);
	close(dfd[0]);
	close(bfd);
	free(big);
	free(basis);
}

/* ---- gzip ---- */

static void
gzip_both_ways(const uint8_t *p, size_t len)
{
	int in = tfile("plain", p, len), gz = tfile("plain.gz", NULL, 0);
	int out = tfile("out", NULL, 0);
	char pgz[PATH_MAX];
	uint8_t head[2];

	assert_int_equal(delta_gzip_copy(in, gz), 0);
	assert_int_equal(pread(gz, head, 2, 0), 2);
	assert_int_equal(head[0], 0x1f);
	assert_int_equal(head[1], 0x8b);
	assert_int_equal(delta_gunzip_copy(gz, out, len), 0);
	assert_content(out, p, len);
	if (len > 0) {
		reset_fd(out);
		assert_int_equal(delta_gunzip_copy(gz, out, len - 1),
		    CB_ERR_TOO_LARGE);
		assert_true(fsize(out) <= len - 1);
	}
	close(out);
	/* gzip(1) reads ours. */
	if (have_prog("gzip")) {
		path_of(pgz, sizeof(pgz), "plain.gz");
		const char *a[] = { "gzip", "-dc", pgz, NULL };
		assert_int_equal(run(a, "out"), 0);
		out = topen("out", O_RDONLY);
		assert_content(out, p, len);
		close(out);
	}
	close(in);
	close(gz);
}

static void
test_gzip_round_trip(void **state)
{
	uint8_t *r = rand_buf(200000, 16), *t = text_buf(1 * MIB, 3);
	char pp[PATH_MAX];
	int gzfd, out;

	(void)state;
	gzip_both_ways(NULL, 0);
	gzip_both_ways((const uint8_t *)"x", 1);
	gzip_both_ways(r, 200000);
	gzip_both_ways(t, 1 * MIB);
	/* We read gzip(1)'s output. */
	if (have_prog("gzip")) {
		close(tfile("plain", t, 1 * MIB));
		path_of(pp, sizeof(pp), "plain");
		const char *a[] = { "gzip", "-9c", pp, NULL };
		assert_int_equal(run(a, "plain.gz"), 0);
		gzfd = topen("plain.gz", O_RDONLY);
		out = tfile("out", NULL, 0);
		assert_int_equal(delta_gunzip_copy(gzfd, out, 1 * MIB), 0);
		assert_content(out, t, 1 * MIB);
		close(gzfd);
		close(out);
	}
	free(r);
	free(t);
}

/* gzip ${len} bytes into a buffer with delta_gzip_copy. */
static uint8_t *
gz_buf(const uint8_t *p, size_t len, size_t *gzlen)
{
	int in = tfile("plain", p, len), gz = tfile("plain.gz", NULL, 0);
	uint8_t *g;

	assert_int_equal(delta_gzip_copy(in, gz), 0);
	g = slurp(gz, gzlen);
	close(in);
	close(gz);
	return g;
}

static int
gunzip_buf(const uint8_t *g, size_t glen, uint64_t max, size_t *outlen)
{
	int in = tfile("in.gz", g, glen), out = tfile("out", NULL, 0), r;

	r = delta_gunzip_copy(in, out, max);
	if (outlen != NULL)
		*outlen = fsize(out);
	assert_true(fsize(out) <= max);
	close(in);
	close(out);
	return r;
}

static void
test_gunzip_hostile(void **state)
{
	uint8_t *t = text_buf(20000, 5), *g, *g2, *z;
	size_t glen, l, outlen, zlen;

	(void)state;
	g = gz_buf(t, 20000, &glen);
	/* Every proper prefix is truncated. */
	for (l = 0; l < glen; l++)
		assert_int_equal(gunzip_buf(g, l, DELTA_NO_LIMIT, NULL),
		    CB_ERR_CORRUPT);
	/* CRC, length, data, header. */
	g[glen - 6] ^= 1;
	assert_int_equal(gunzip_buf(g, glen, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	g[glen - 6] ^= 1;
	g[glen - 2] ^= 1;
	assert_int_equal(gunzip_buf(g, glen, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	g[glen - 2] ^= 1;
	g[glen / 2] ^= 0x55;
	assert_int_equal(gunzip_buf(g, glen, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	g[glen / 2] ^= 0x55;
	g[2] = 7; /* compression method */
	assert_int_equal(gunzip_buf(g, glen, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	g[2] = 8;
	assert_int_equal(gunzip_buf(g, glen, DELTA_NO_LIMIT, &outlen), 0);
	assert_int_equal(outlen, 20000);
	/* Not gzip at all; a zlib stream is not gzip either. */
	assert_int_equal(gunzip_buf(t, 20000, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	{
		static const uint8_t zl[] = { 0x78, 0x9c, 0x03, 0x00, 0x00,
			0x00, 0x00, 0x01 };

		assert_int_equal(gunzip_buf(zl, sizeof(zl), DELTA_NO_LIMIT,
				     NULL),
		    CB_ERR_CORRUPT);
	}
	/* Two members are one file; garbage after a member is not. */
	g2 = malloc(2 * glen + 1);
	assert_non_null(g2);
	memcpy(g2, g, glen);
	memcpy(g2 + glen, g, glen);
	assert_int_equal(gunzip_buf(g2, 2 * glen, DELTA_NO_LIMIT, &outlen), 0);
	assert_int_equal(outlen, 40000);
	assert_int_equal(gunzip_buf(g2, 2 * glen, 39999, NULL),
	    CB_ERR_TOO_LARGE);
	g2[glen] = 'X';
	assert_int_equal(gunzip_buf(g2, glen + 1, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	g2[glen] = 0;
	assert_int_equal(gunzip_buf(g2, glen + 1, DELTA_NO_LIMIT, NULL),
	    CB_ERR_CORRUPT);
	/* A bomb: 20 MiB of zeros in about 20 kB, bounded at 1 MiB. */
	z = calloc(1, 20 * MIB);
	assert_non_null(z);
	free(g);
	g = gz_buf(z, 20 * MIB, &zlen);
	printf("# 20 MiB of zeros gzip to %zu bytes\n", zlen);
	assert_int_equal(gunzip_buf(g, zlen, 1 * MIB, &outlen),
	    CB_ERR_TOO_LARGE);
	assert_true(outlen <= 1 * MIB);
	free(z);
	free(g);
	free(g2);
	free(t);
}

/* A compressed delta split across two gzip members is still one delta. */
static void
test_multi_member_delta(void **state)
{
	uint8_t *d, *nw, *old, *g1, *g2, *all;
	size_t dlen, l1, l2, outlen;

	(void)state;
	d = small_delta(0, &dlen, &nw, &old);
	g1 = gz_buf(d, dlen / 2, &l1);
	g2 = gz_buf(d + dlen / 2, dlen - dlen / 2, &l2);
	all = malloc(l1 + l2);
	assert_non_null(all);
	memcpy(all, g1, l1);
	memcpy(all + l1, g2, l2);
	assert_int_equal(patch_buf(nw, 3000, all, l1 + l2, 1, 3003, &outlen),
	    0);
	assert_int_equal(outlen, 3003);
	/* Raw delta given as gzip, gzip given as raw. */
	assert_int_equal(patch_buf(nw, 3000, d, dlen, 1, 3003, NULL),
	    CB_ERR_CORRUPT);
	assert_int_equal(patch_buf(nw, 3000, all, l1 + l2, 0, 3003, NULL),
	    CB_ERR_CORRUPT);
	/* Bytes after END inside the gzip stream. */
	free(g1);
	free(all);
	all = malloc(dlen + 1);
	assert_non_null(all);
	memcpy(all, d, dlen);
	all[dlen] = 0;
	g1 = gz_buf(all, dlen + 1, &l1);
	assert_int_equal(patch_buf(nw, 3000, g1, l1, 1, 3003, NULL),
	    CB_ERR_CORRUPT);
	free(g2);
	free(all);
	free(g1);
	free(d);
	free(nw);
	free(old);
}

/* ---- descriptors ---- */

static void
test_pipes(void **state)
{
	uint8_t *d, *nw, *old, *g;
	size_t dlen, glen;
	int p[2], bfd, outfd, newfd;

	(void)state;
	d = small_delta(0, &dlen, &nw, &old);
	/* The delta can come from a pipe (fits the pipe buffer). */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], d, dlen), (ssize_t)dlen);
	close(p[1]);
	bfd = tfile("basis", nw, 3000);
	outfd = tfile("out", NULL, 0);
	assert_int_equal(delta_patch(bfd, p[0], 0, outfd, 3003), 0);
	assert_content(outfd, old, 3003);
	close(p[0]);
	/* So can gzip input, and the old file of delta_reverse. */
	g = gz_buf(old, 3003, &glen);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], g, glen), (ssize_t)glen);
	close(p[1]);
	reset_fd(outfd);
	assert_int_equal(delta_gunzip_copy(p[0], outfd, 3003), 0);
	assert_content(outfd, old, 3003);
	close(p[0]);
	assert_int_equal(pipe(p), 0);
	assert_int_equal(write(p[1], old, 3003), 3003);
	close(p[1]);
	reset_fd(outfd);
	newfd = tfile("new", nw, 3000);
	assert_int_equal(delta_reverse(newfd, p[0], outfd, 0), 0);
	close(p[0]);
	/* ...and the output can go to a pipe. */
	assert_int_equal(pipe(p), 0);
	assert_int_equal(delta_patch(bfd, outfd, 0, p[1], 3003), 0);
	close(p[1]);
	{
		uint8_t buf[4000];
		size_t got = 0;
		ssize_t n;

		while ((n = read(p[0], buf + got, sizeof(buf) - got)) > 0)
			got += (size_t)n;
		assert_int_equal(got, 3003);
		assert_memory_equal(buf, old, 3003);
	}
	close(p[0]);
	/* The new file must be regular: its size picks the block length. */
	assert_int_equal(pipe(p), 0);
	close(p[1]);
	assert_int_equal(delta_reverse(p[0], newfd, outfd, 0),
	    CB_ERR_BAD_VALUE);
	close(p[0]);
	close(bfd);
	close(outfd);
	close(newfd);
	free(d);
	free(g);
	free(nw);
	free(old);
}

static void
test_sys_errors(void **state)
{
	uint8_t *d, *nw, *old;
	size_t dlen;
	int bfd, dfd, ro, dir;

	(void)state;
	d = small_delta(0, &dlen, &nw, &old);
	bfd = tfile("basis", nw, 3000);
	dfd = tfile("d", d, dlen);
	ro = topen("basis", O_RDONLY);
	/* Unwritable output. */
	errno = 0;
	assert_int_equal(delta_patch(bfd, dfd, 0, ro, 3003), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(delta_reverse(bfd, bfd, ro, 1), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(delta_gzip_copy(bfd, ro), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
	/* Bad inputs. */
	errno = 0;
	assert_int_equal(delta_patch(-1, dfd, 0, ro, 3003), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
	errno = 0;
	assert_int_equal(delta_reverse(-1, bfd, ro, 0), CB_ERR_SYS);
	assert_int_equal(errno, EBADF);
	dir = open(tdir, O_RDONLY | O_DIRECTORY);
	assert_true(dir >= 0);
	errno = 0;
	assert_int_equal(delta_gunzip_copy(dir, bfd, 100), CB_ERR_SYS);
	assert_int_equal(errno, EISDIR);
	close(dir);
	close(ro);
	close(bfd);
	close(dfd);
	free(d);
	free(nw);
	free(old);
}

/* COPY commands are held to the size of the basis at the call. */
static void
test_basis_size(void **state)
{
	uint8_t *basis = rand_buf(1000, 17);
	struct dbuf d;
	int bfd, dfd, outfd;

	(void)state;
	bfd = tfile("basis", basis, 1000);
	db_start(&d);
	db_copy(&d, 0, 1, 1000, 2);
	db_u(&d, 0, 1);
	dfd = tfile("d", d.p, d.n);
	outfd = tfile("out", NULL, 0);
	assert_int_equal(delta_patch(bfd, dfd, 0, outfd, 1000), 0);
	assert_int_equal(ftruncate(bfd, 999), 0);
	reset_fd(outfd);
	assert_int_equal(delta_patch(bfd, dfd, 0, outfd, 1000), CB_ERR_CORRUPT);
	close(bfd);
	close(dfd);
	close(outfd);
	free(basis);
}

/* ---- deltas over the wire ---------------------------------------------- */

struct membuf {
	uint8_t *p;
	size_t n, cap;
	size_t fail_after; /* return CB_ERR_SYS once this much is held */
};

static int
mb_put(void *arg, const uint8_t *p, size_t n)
{
	struct membuf *m = arg;

	if (m->fail_after != 0 && m->n + n > m->fail_after)
		return CB_ERR_SYS;
	if (m->n + n > m->cap) {
		m->cap = (m->n + n) * 2;
		m->p = realloc(m->p, m->cap);
		assert_non_null(m->p);
	}
	memcpy(m->p + m->n, p, n);
	m->n += n;
	return 0;
}

static void
mb_tap(void *arg, const uint8_t *p, size_t n)
{
	assert_int_equal(mb_put(arg, p, n), 0);
}

/* Patch ${delta} onto ${bfd} in pieces of 1..${maxpiece} bytes. */
static int
patch_in_pieces(int bfd, const struct membuf *delta, size_t maxpiece,
    struct membuf *out)
{
	struct delta_patcher *pt;
	uint64_t seed = 99;
	size_t off = 0, n;
	int r;

	assert_int_equal(delta_patcher_new(&pt, bfd, mb_put, out), 0);
	while (off < delta->n) {
		n = 1 + (size_t)(rnd(&seed) % maxpiece);
		if (n > delta->n - off)
			n = delta->n - off;
		if ((r = delta_patcher_feed(pt, delta->p + off, n)) != 0) {
			delta_patcher_free(pt);
			return r;
		}
		off += n;
	}
	r = delta_patcher_finish(pt);
	delta_patcher_free(pt);
	return r;
}

/* One round trip: signature of old, delta to new, patch; checks the result. */
static void
wire_round_trip(const uint8_t *old, size_t oldlen, const uint8_t *new,
    size_t newlen, size_t maxpiece, size_t *deltalen)
{
	struct membuf sig = { 0 }, delta = { 0 }, out = { 0 }, seen = { 0 };
	int bfd = tfile("basis", old, oldlen);
	int nfd = tfile("new", new, newlen);

	assert_int_equal(delta_signature(bfd, mb_put, &sig), 0);
	assert_int_equal(delta_signature_check(sig.p, sig.n), 0);
	assert_int_equal(delta_from_signature(sig.p, sig.n, nfd,
			     (uint64_t)newlen, mb_put, &delta, mb_tap, &seen),
	    0);
	/* The tap saw exactly the source, once. */
	assert_int_equal(seen.n, newlen);
	if (newlen > 0)
		assert_memory_equal(seen.p, new, newlen);
	assert_int_equal(patch_in_pieces(bfd, &delta, maxpiece, &out), 0);
	assert_int_equal(out.n, newlen);
	if (newlen > 0)
		assert_memory_equal(out.p, new, newlen);
	*deltalen = delta.n;
	close(bfd);
	close(nfd);
	free(sig.p);
	free(delta.p);
	free(out.p);
	free(seen.p);
}

static void
test_wire_round_trip(void **state)
{
	size_t len = MIB, dlen;
	uint8_t *old = rand_buf(len, 1), *new = malloc(len + 100);

	(void)state;
	assert_non_null(new);
	/* Two small writes and an append: the delta stays small. */
	memcpy(new, old, len);
	memset(new + 300000, 'X', 100);
	memset(new + 800000, 'Y', 7);
	memset(new + len, 'Z', 100);
	wire_round_trip(old, len, new, len + 100, 70000, &dlen);
	assert_true(dlen < 12000);
	/* Pieces of a single byte work as well. */
	wire_round_trip(old, 50000, new, 40000, 1, &dlen);
	/* Shifted by 5 bytes: still found. */
	wire_round_trip(old, 100000, new + 5, 100000, 4096, &dlen);
	assert_true(dlen < 5000);
	/* Nothing in common, empty on either side. */
	free(new);
	new = rand_buf(100000, 2);
	wire_round_trip(old, 100000, new, 100000, 4096, &dlen);
	assert_true(dlen > 100000);
	wire_round_trip(old, 0, new, 5000, 4096, &dlen);
	wire_round_trip(old, 5000, new, 0, 4096, &dlen);
	free(old);
	free(new);
}

/* The source grew after its size was taken: only that size is read. */
static void
test_wire_size_bound(void **state)
{
	struct membuf sig = { 0 }, delta = { 0 }, out = { 0 }, seen = { 0 };
	uint8_t *data = rand_buf(300000, 5);
	int bfd, nfd;

	(void)state;
	bfd = tfile("basis", data, 100000);
	nfd = tfile("new", data, 300000);
	assert_int_equal(delta_signature(bfd, mb_put, &sig), 0);
	assert_int_equal(delta_from_signature(sig.p, sig.n, nfd, 200000, mb_put,
			     &delta, mb_tap, &seen),
	    0);
	assert_int_equal(seen.n, 200000);
	assert_int_equal(patch_in_pieces(bfd, &delta, 10000, &out), 0);
	assert_int_equal(out.n, 200000);
	assert_memory_equal(out.p, data, 200000);
	/* An output that fails ends the job with its error. */
	delta.n = 0;
	delta.fail_after = 10;
	assert_int_equal(delta_from_signature(sig.p, sig.n, nfd, 200000, mb_put,
			     &delta, NULL, NULL),
	    CB_ERR_SYS);
	close(bfd);
	close(nfd);
	free(sig.p);
	free(delta.p);
	free(out.p);
	free(seen.p);
	free(data);
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* Signatures from a hostile peer are refused before librsync sees them. */
static void
test_wire_bad_signatures(void **state)
{
	struct membuf sig = { 0 }, delta = { 0 };
	uint8_t *data = rand_buf(50000, 9), *bad;
	int bfd, nfd;

	(void)state;
	bfd = tfile("basis", data, 50000);
	nfd = tfile("new", data, 50000);
	assert_int_equal(delta_signature(bfd, mb_put, &sig), 0);
	bad = malloc(sig.n);
	assert_non_null(bad);
#define REFUSED(len)                                                          \
	do {                                                                  \
		assert_int_equal(delta_signature_check(bad, (len)),           \
		    CB_ERR_BAD_VALUE);                                        \
		assert_int_equal(delta_from_signature(bad, (len), nfd, 50000, \
				     mb_put, &delta, NULL, NULL),             \
		    CB_ERR_BAD_VALUE);                                        \
		memcpy(bad, sig.p, sig.n);                                    \
	} while (0)
	memcpy(bad, sig.p, sig.n);
	REFUSED(11);		   /* no whole header */
	REFUSED(sig.n - 1);	   /* not a whole number of blocks */
	put_be32(bad, 0x72730136); /* MD4 */
	REFUSED(sig.n);
	put_be32(bad + 4, 0); /* block length 0 */
	REFUSED(sig.n);
	put_be32(bad + 4, 0x80000000u); /* 2 GiB blocks */
	REFUSED(sig.n);
	put_be32(bad + 8, 4); /* strong sums too short */
	REFUSED(sig.n);
	put_be32(bad + 8, 33); /* longer than BLAKE2's */
	REFUSED(sig.n);
	assert_int_equal(delta_signature_check(bad, DELTA_WIRE_SIG_MAX + 20),
	    CB_ERR_BAD_VALUE);
	/* Well-formed header, any block sums: a valid (large) delta. */
	memset(bad + 12, 0xa5, sig.n - 12);
	assert_int_equal(delta_from_signature(bad, sig.n, nfd, 50000, mb_put,
			     &delta, NULL, NULL),
	    0);
#undef REFUSED
	close(bfd);
	close(nfd);
	free(bad);
	free(sig.p);
	free(delta.p);
	free(data);
}

/* Deltas from a hostile peer: truncated, trailing bytes, outside the basis. */
static void
test_wire_bad_deltas(void **state)
{
	struct membuf sig = { 0 }, delta = { 0 }, out = { 0 }, cut;
	uint8_t *data = rand_buf(100000, 3);
	struct dbuf d;
	int bfd, nfd;
	size_t k;

	(void)state;
	bfd = tfile("basis", data, 60000);
	nfd = tfile("new", data, 100000);
	assert_int_equal(delta_signature(bfd, mb_put, &sig), 0);
	assert_int_equal(delta_from_signature(sig.p, sig.n, nfd, 100000, mb_put,
			     &delta, NULL, NULL),
	    0);
	for (k = 0; k < delta.n; k += 1 + delta.n / 40) {
		cut = delta;
		cut.n = k;
		out.n = 0;
		assert_int_equal(patch_in_pieces(bfd, &cut, 500, &out),
		    CB_ERR_CORRUPT);
	}
	assert_true(mb_put(&delta, (const uint8_t *)"x", 1) == 0);
	out.n = 0;
	assert_int_equal(patch_in_pieces(bfd, &delta, 500, &out),
	    CB_ERR_CORRUPT);
	/* COPY beyond the basis's end. */
	db_start(&d);
	db_copy(&d, 59000, 4, 2000, 4);
	db_u(&d, 0, 1);
	cut.p = d.p;
	cut.n = d.n;
	out.n = 0;
	assert_int_equal(patch_in_pieces(bfd, &cut, 3, &out), CB_ERR_CORRUPT);
	close(bfd);
	close(nfd);
	free(sig.p);
	free(delta.p);
	free(out.p);
	free(data);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_block_len),
		cmocka_unit_test_setup_teardown(test_wire_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wire_size_bound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wire_bad_signatures, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_wire_bad_deltas, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_identical, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_edit_middle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_append_truncate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_completely_different,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_empty_and_tiny, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_ten_mib, setup, teardown),
		cmocka_unit_test_setup_teardown(test_random_edits, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_forged_collisions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_in_place_ranges, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chain_versions, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_chain_bounds, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rdiff_applies_ours, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_we_apply_rdiffs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_truncated_every_length,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_copy_outside_basis, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_output_bound, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_garbage, setup, teardown),
		cmocka_unit_test_setup_teardown(test_mutations, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gzip_round_trip, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_gunzip_hostile, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_multi_member_delta, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_pipes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sys_errors, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_basis_size, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
