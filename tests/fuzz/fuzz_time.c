/*
 * Time strings (--at, --older-than: forms of rdiff-backup's "time
 * spec"), session times and increment file names, as a user or a
 * repository may give them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "timefmt.h"
#include "timespec.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const int64_t sessions[] = { 1600000000, 1650000000,
		1700000000 };
	char *s = malloc(size + 1);
	struct incname in;
	int64_t t;

	if (s == NULL)
		return 0;
	memcpy(s, data, size);
	s[size] = '\0';
	if (timespec_parse_wall(s, 1700000500, 1700000500, sessions, 3, &t) ==
	    0)
		(void)timespec_round_down(t, sessions, 3);
	(void)timespec_parse_wall(s, 1700000500, 1700000500, NULL, 0, &t);
	if (timefmt_parse(s, size, &t) == 0) {
		char buf[TIMEFMT_LEN];

		(void)timefmt_utc(t, buf);
	}
	(void)incname_parse(s, size, &in);
	free(s);
	return 0;
}
