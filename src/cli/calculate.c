/*
 * capback calculate [--method average] STATISTIC_FILE...: rdiff-backup's
 * calculate, which averages session statistics files and prints them as
 * its StatsObj does (Python's float repr, its byte summaries).
 */
#include "actions.h"
#include "calculate.h"

#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "timefmt.h"

/* The attributes rdiff-backup reads and averages, in its print order. */
enum {
	A_ELAPSED,
	A_SRC_FILES,
	A_SRC_SIZE,
	A_MIR_FILES,
	A_MIR_SIZE,
	A_NEW_FILES,
	A_NEW_SIZE,
	A_DEL_FILES,
	A_DEL_SIZE,
	A_CHG_FILES,
	A_CHG_SRC,
	A_CHG_MIR,
	A_INC_FILES,
	A_INC_SIZE,
	A_ERRORS,
	A_N
};

static const struct {
	const char *name;
	int bytes;
} attr[A_N] = { { "ElapsedTime", 0 }, { "SourceFiles", 0 },
	{ "SourceFileSize", 1 }, { "MirrorFiles", 0 }, { "MirrorFileSize", 1 },
	{ "NewFiles", 0 }, { "NewFileSize", 1 }, { "DeletedFiles", 0 },
	{ "DeletedFileSize", 1 }, { "ChangedFiles", 0 },
	{ "ChangedSourceSize", 1 }, { "ChangedMirrorSize", 1 },
	{ "IncrementFiles", 0 }, { "IncrementFileSize", 1 }, { "Errors", 0 } };

/* Python's repr of a float: the shortest digits that read back. */
static const char *
py_float(double v, char *buf, size_t len)
{
	char e[64], digits[32];
	int p, exp10, nd, k;
	char *m;

	if (v == 0) {
		snprintf(buf, len, "%s", signbit(v) ? "-0.0" : "0.0");
		return buf;
	}
	for (p = 1; p <= 17; p++) {
		snprintf(e, sizeof(e), "%.*e", p - 1, v);
		if (strtod(e, NULL) == v)
			break;
	}
	/* e = [-]d.ddde[+-]XX */
	m = e + (e[0] == '-');
	exp10 = atoi(strchr(m, 'e') + 1);
	for (nd = 0, k = 0; m[k] != 'e'; k++)
		if (m[k] != '.')
			digits[nd++] = m[k];
	while (nd > 1 && digits[nd - 1] == '0')
		nd--;
	digits[nd] = '\0';
	if (exp10 >= 16 || exp10 < -4) {
		snprintf(buf, len, "%s%c%s%s%se%c%02d", e[0] == '-' ? "-" : "",
		    digits[0], nd > 1 ? "." : "", nd > 1 ? digits + 1 : "", "",
		    exp10 < 0 ? '-' : '+', abs(exp10));
		return buf;
	}
	{
		char out[64];
		size_t o = 0;

		if (e[0] == '-')
			out[o++] = '-';
		if (exp10 < 0) {
			out[o++] = '0';
			out[o++] = '.';
			for (k = 0; k < -exp10 - 1; k++)
				out[o++] = '0';
			for (k = 0; k < nd; k++)
				out[o++] = digits[k];
		} else {
			for (k = 0; k <= exp10; k++)
				out[o++] = k < nd ? digits[k] : '0';
			out[o++] = '.';
			if (nd > exp10 + 1)
				for (k = exp10 + 1; k < nd; k++)
					out[o++] = digits[k];
			else
				out[o++] = '0';
		}
		out[o] = '\0';
		snprintf(buf, len, "%s", out);
	}
	return buf;
}

/* One statistics file's values into ${v} (NAN where absent): "Key
 * number ..." lines as Python's float() takes them, finite, bounded. */
static void
read_stats(const char *path, double *v)
{
	char line[4098];
	size_t n = 0;
	ssize_t got;
	struct stat st;
	FILE *f;
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);

	for (int k = 0; k < A_N; k++)
		v[k] = NAN;
	if (fd < 0 || fstat(fd, &st) != 0)
		fatal("calculate: cannot read %s: %s", path, strerror(errno));
	/* a directory, a FIFO, /dev/zero: refused, not read as empty */
	if (!S_ISREG(st.st_mode))
		fatal("calculate: %s is not a regular file", path);
	if ((f = fdopen(fd, "r")) == NULL)
		fatal("calculate: cannot read %s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f) != NULL) {
		/* rdiff-backup's other keys: taken, not averaged */
		static const char *const other[] = { "Filename", "StartTime",
			"EndTime", "TotalDestinationSizeChange" };
		char key[64], *num, *end;
		double d;
		int k, known = 0;

		got = (ssize_t)strlen(line);
		if (++n > 256)
			fatal("calculate: %s: more than 256 lines, not a "
			      "statistics file",
			    path);
		if (strspn(line, " \t\n") == (size_t)got)
			continue; /* an empty line */
		num = line + strspn(line, " \t");
		num += strcspn(num, " \t\n");
		num += strspn(num, " \t");
		/* as rdiff-backup: a key and a value, the key one it knows */
		if (got > 4096 || sscanf(line, "%63s", key) != 1 ||
		    *num == '\0' || *num == '\n')
			fatal("calculate: %s, line %zu: not a statistics line",
			    path, n);
		for (k = 0; k < A_N; k++)
			known |= strcmp(key, attr[k].name) == 0;
		for (k = 0; k < (int)(sizeof(other) / sizeof(other[0])); k++)
			known |= strcmp(key, other[k]) == 0;
		if (!known)
			fatal("calculate: %s, line %zu: no statistic is called "
			      "'%s'",
			    path, n, log_name(key, strlen(key)));
		/* decimal only: Python's float() takes no hex */
		if (strcspn(num, "xX") < strcspn(num, " \t\n"))
			fatal("calculate: %s, line %zu: %s is not a number",
			    path, n, key);
		errno = 0;
		d = strtod(num, &end);
		if (end == num || !isfinite(d) || errno == ERANGE ||
		    fabs(d) > 1e18 ||
		    (*end != '\0' && *end != ' ' && *end != '\n' &&
			*end != '\t'))
			fatal("calculate: %s, line %zu: %s is not a finite "
			      "number (at most 1e18)",
			    path, n, key);
		for (k = 0; k < A_N; k++)
			if (strcmp(key, attr[k].name) == 0)
				v[k] = d;
	}
	if (ferror(f))
		fatal("calculate: cannot read %s: %s", path, strerror(errno));
	fclose(f);
}

int
calculate_main(int argc, char **argv)
{
	double sum[A_N], v[A_N];
	char a[64], b[64], header[80];
	int i, k, first, c;

	action_begin(argv);
	while ((c = action_next(action_get(ACT_CALCULATE), argc, argv)) != -1)
		if (c == 'm' && strcmp(optarg, "average") != 0)
			fatal("calculate: --method average is the one there "
			      "is, "
			      "not '%s'",
			    optarg);
	first = optind;
	if (first >= argc)
		fatal("calculate needs at least one STATISTIC_FILE");
	for (k = 0; k < A_N; k++)
		sum[k] = 0;
	for (i = first; i < argc; i++) {
		read_stats(argv[i], v);
		for (k = 0; k < A_N; k++)
			sum[k] =
			    isnan(v[k]) || isnan(sum[k]) ? NAN : v[k] + sum[k];
	}
	for (k = 0; k < A_N; k++)
		sum[k] /= (double)(argc - first);
	snprintf(header, sizeof(header),
	    "--------------[ Average of %d stat files ]--------------",
	    argc - first);
	printf("%s\n", header);
	if (!isnan(sum[A_ELAPSED]) && sum[A_ELAPSED] != 0)
		printf("ElapsedTime %.2f (%s)\n", sum[A_ELAPSED],
		    timefmt_span_pretty(sum[A_ELAPSED], b, sizeof(b)));
	for (k = A_SRC_FILES; k <= A_INC_SIZE; k++) {
		if (isnan(sum[k]))
			continue;
		if (attr[k].bytes)
			printf("%s %s (%s)\n", attr[k].name,
			    py_float(sum[k], a, sizeof(a)),
			    timefmt_byte_summary(sum[k], b, sizeof(b)));
		else
			printf("%s %s\n", attr[k].name,
			    py_float(sum[k], a, sizeof(a)));
	}
	{
		double t =
		    ((sum[A_NEW_SIZE] + sum[A_CHG_SRC]) + sum[A_INC_SIZE]) -
		    (sum[A_DEL_SIZE] + sum[A_CHG_MIR]);

		if (!isnan(t))
			printf("TotalDestinationSizeChange %s (%s)\n",
			    py_float(t, a, sizeof(a)),
			    timefmt_byte_summary(t, b, sizeof(b)));
	}
	if (!isnan(sum[A_ERRORS]))
		printf("Errors %lld\n", (long long)sum[A_ERRORS]);
	for (size_t j = strlen(header); j > 0; j--)
		putchar('-');
	printf("\n\n");
	return fflush(stdout) == 0 ? 0 : 1;
}
