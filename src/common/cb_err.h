#ifndef CB_ERR_H
#define CB_ERR_H

/*
 * The closed set of status codes used by every library layer of capback.
 * Functions that can fail return 0 on success or one of these (negative).
 * CB_ERR_SYS means "errno is set and preserved"; every other code leaves
 * errno unspecified.  Library layers never print; role mains and the CLI
 * print once, with context.
 */
enum cb_err {
	CB_OK = 0,
	CB_ERR_TRUNCATED = -1, /* input ended inside a field or frame */
	CB_ERR_TOO_LARGE = -2, /* a length exceeds its named maximum */
	CB_ERR_TRAILING = -3,  /* bytes left over after a complete decode */
	CB_ERR_NOMEM = -4,     /* allocation failed */
	CB_ERR_BAD_VALUE = -5, /* a field holds a value outside its domain */
	CB_ERR_PROTO = -6,     /* message not allowed here / out of order */
	CB_ERR_PERM = -7,      /* operation refused by policy */
	CB_ERR_CORRUPT = -8,   /* on-disk data does not parse */
	CB_ERR_SYS = -9,       /* see errno */
	CB_ERR_EOF = -10,      /* clean end of stream */
	CB_ERR_VERSION = -11,  /* peer speaks another protocol version */
};

/*
 * cb_strerror(err):
 * Return a static description of ${err}; for CB_ERR_SYS the text of the
 * current errno.
 */
const char *cb_strerror(int err);

#endif
