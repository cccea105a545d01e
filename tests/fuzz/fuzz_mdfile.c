/*
 * The repository's record files (mirror_metadata, extended_attributes,
 * access_control_lists; plain or gzip) as a hostile repository may hold
 * them: the first byte picks the kind, the rest is the file; read whole,
 * then one path sought (md_reader_seek).  Also the ACL xattr blobs a
 * source's files may carry.
 */
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "aclblob.h"
#include "mdfile.h"
#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int dirfd_ = -1;
static char dir[64];

static void
cleanup(void)
{
	unlinkat(dirfd_, "f", 0);
	rmdir(dir);
}

static void
setup(void)
{
	/* memory, not disk: one file is written per input */
	snprintf(dir, sizeof(dir), "%s/fuzz-mdfile.XXXXXX",
	    access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp");
	if (mkdtemp(dir) == NULL ||
	    (dirfd_ = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
		abort();
	atexit(cleanup);
}

/*
 * md_reader_seek of the record ${want} (read whole by md_reader_next) or,
 * when it is NULL, of a path: the same record, or an error.  A record read
 * whole must be found whole.
 */
static void
check_seek(enum md_kind kind, const struct meta_rec *want)
{
	struct md_reader *rd;
	struct meta_rec r;
	int rc;

	if (md_reader_open(dirfd_, "f", kind, &rd) != 0)
		abort();
	meta_rec_init(&r);
	rc = want != NULL ? md_reader_seek(rd, want->path, want->pathlen, &r) :
			    md_reader_seek(rd, "a/b", 3, &r);
	if (want != NULL &&
	    (rc != 0 || r.pathlen != want->pathlen ||
		memcmp(r.path, want->path, r.pathlen) != 0 ||
		r.type != want->type || !meta_attr_equal(&r, want)))
		abort();
	meta_rec_clear(&r);
	md_reader_free(rd);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct md_reader *rd;
	struct meta_rec r, pick;
	int fd, i, n;

	if (size == 0)
		return 0;
	if (dirfd_ < 0)
		setup();
	if (data[0] >= 0xf0) { /* an ACL blob */
		meta_rec_init(&r);
		(void)aclblob_parse(data + 1, size - 1, data[0] & 1, NULL, NULL,
		    &r);
		meta_rec_clear(&r);
		return 0;
	}
	fd = openat(dirfd_, "f", O_RDWR | O_CREAT | O_TRUNC, 0600);
	if (fd < 0 || write(fd, data + 1, size - 1) != (ssize_t)(size - 1))
		abort();
	close(fd);
	if (md_reader_open(dirfd_, "f", (enum md_kind)(data[0] % 3), &rd) != 0)
		abort();
	meta_rec_init(&r);
	meta_rec_init(&pick);
	n = data[0] / 3 % 8; /* the record whose path is sought */
	for (i = 0; i < 100000 && md_reader_next(rd, &r) == 0; i++) {
		if (i == n && meta_rec_copy(&pick, &r) != 0)
			abort();
	}
	meta_rec_clear(&r);
	md_reader_free(rd);
	check_seek((enum md_kind)(data[0] % 3),
	    pick.path != NULL ? &pick : NULL);
	meta_rec_clear(&pick);
	return 0;
}
