#ifndef TIMEFMT_H
#define TIMEFMT_H

#include <stddef.h>
#include <stdint.h>

/*
 * rdiff-backup session timestamps (docs/rdiff-backup-format.md section 2).
 */

#define TIMEFMT_LEN 32

/*
 * timefmt_utc(t, buf): write "YYYY-MM-DDTHH:MM:SSZ" for ${t} into
 * buf[TIMEFMT_LEN].  Returns 0 or CB_ERR_BAD_VALUE (year out of
 * 1901..2099).
 */
int timefmt_utc(int64_t t, char buf[TIMEFMT_LEN]);

/*
 * timefmt_pretty(t, buf, len): ${t} in local time as rdiff-backup's
 * Time.timetopretty (asctime) prints it: "Tue Nov 14 22:13:20 2023".
 */
const char *timefmt_pretty(int64_t t, char *buf, size_t len);

/*
 * timefmt_span_pretty(secs, buf, len): a duration as rdiff-backup's
 * Time.inttopretty prints a float: "2 hours 1 minute 3.50 seconds".
 */
const char *timefmt_span_pretty(double secs, char *buf, size_t len);

/*
 * timefmt_byte_summary(b, buf, len): a byte count as rdiff-backup's
 * StatsObj.get_byte_summary_string prints it: "7.23 GB", three
 * significant figures, or "N bytes" (rounded half to even), "1 byte".
 */
const char *timefmt_byte_summary(double b, char *buf, size_t len);

/*
 * timefmt_parse(s, len, t):
 * Parse a timestamp string as rdiff-backup 2.2 does (section 2.2, with the
 * negative-offset quirk, "-" separators allowed).  Returns 0 and *t, or
 * CB_ERR_BAD_VALUE.
 */
int timefmt_parse(const char *s, size_t len, int64_t *t);

enum incname_ext {
	INC_SNAPSHOT = 1,
	INC_DIFF,
	INC_DIR,
	INC_MISSING,
	INC_DATA,
};

struct incname {
	size_t baselen; /* bytes of the name before ".<time>" */
	int64_t time;
	enum incname_ext ext;
	int gz;
};

/*
 * incname_parse(name, len, out):
 * Recognise an increment-style file name "<base>.<T>.<ext>[.gz]"
 * (section 2.3).  Returns 0 and *out, or CB_ERR_BAD_VALUE.
 */
int incname_parse(const char *name, size_t len, struct incname *out);

#endif
