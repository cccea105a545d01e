#include "numparse.h"

#include <errno.h>
#include <stdlib.h>

int
parse_fraction(const char *s, double *out)
{
	char *end;
	double v;

	errno = 0;
	v = strtod(s, &end);
	if (errno != 0 || end == s || *end != '\0' || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}
