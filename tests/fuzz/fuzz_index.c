/*
 * capback mount's session index (src/mount/index.h) as a hostile cache
 * may hold it: the input is the file; every entry, child, blob, xattr,
 * lookup and path is read as the mount reads them.  Nothing may crash or
 * read out of bounds, whatever the head says.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "index.h"
#include "meta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct idx ix;
	struct idx_ent e;
	struct idx_blob b;
	char path[META_PATH_MAX + 1];
	uint32_t kid, found;
	int fd = memfd_create("idx", MFD_CLOEXEC);

	if (fd < 0)
		abort();
	if (size > 0 && write(fd, data, size) != (ssize_t)size)
		abort();
	if (idx_from_fd(&ix, fd) != 0)
		return 0;
	/* at most a bounded walk: a head may claim 2^31 entries */
	for (uint64_t i = 0; i < ix.h.nent && i < 4096; i++) {
		if (idx_ent(&ix, i, &e) != 0)
			continue;
		(void)idx_path(&ix, (uint32_t)i, path, sizeof(path));
		if (idx_blob(&ix, &e, &b) == 0) {
			char nm[META_NAME_MAX + 1]; /* as readdir copies it */
			const char *n;
			const uint8_t *v;
			size_t nl, vl, pos = 0;

			memcpy(nm, b.name, b.namelen);
			nm[b.namelen] = '\0';
			while (idx_xattr_next(&b, &pos, &n, &nl, &v, &vl))
				;
			if (S_ISDIR(e.mode) && b.namelen > 0)
				(void)idx_lookup(&ix, e.parent, b.name,
				    b.namelen, &found);
			idx_blob_free(&b);
		}
		for (uint32_t k = 0; S_ISDIR(e.mode) && k < e.nkids && k < 64;
		     k++)
			(void)idx_kid(&ix, &e, k, &kid);
		if (S_ISDIR(e.mode)) {
			uint32_t kids[16];

			(void)idx_kids(&ix, &e, 0, e.nkids < 16 ? e.nkids : 16,
			    kids);
			(void)idx_lookup(&ix, (uint32_t)i, "a", 1, &found);
		}
		(void)idx_name(&ix, &e, path);
	}
	idx_close(&ix);
	return 0;
}
