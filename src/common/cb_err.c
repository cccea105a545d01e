#include "cb_err.h"

#include <errno.h>
#include <string.h>

const char *
cb_strerror(int err)
{
	switch (err) {
	case CB_OK: return "success";
	case CB_ERR_TRUNCATED: return "truncated input";
	case CB_ERR_TOO_LARGE: return "length exceeds limit";
	case CB_ERR_TRAILING: return "trailing bytes after message";
	case CB_ERR_NOMEM: return "out of memory";
	case CB_ERR_BAD_VALUE: return "invalid value";
	case CB_ERR_PROTO: return "protocol violation";
	case CB_ERR_PERM: return "not permitted";
	case CB_ERR_CORRUPT: return "corrupt data";
	case CB_ERR_SYS: return strerror(errno);
	case CB_ERR_EOF: return "unexpected end of stream";
	case CB_ERR_VERSION: return "protocol version mismatch";
	}
	return "unknown error";
}
