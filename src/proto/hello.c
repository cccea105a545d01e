#include "hello.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "frame.h"
#include "log.h"
#include "msg.h"
#include "wire.h"

uint32_t
hello_exchange(struct frame_in *in, struct frame_out *out, uint8_t myrole,
    uint32_t myflags, uint8_t peerrole, const char *peername)
{
	struct msg_hello h = { MSG_MAGIC, MSG_PROTO_VERSION, myrole, myflags,
		"capback " CAPBACK_VERSION };
	struct wire_wr wr;
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int r;

	wire_wr_init(&wr, 128);
	if (msg_hello_encode(&wr, &h) != 0 ||
	    frame_put(out, MSG_HELLO, wr.p, wr.len) != 0 ||
	    frame_out_flush(out) != 0) {
		/* A peer that is already gone said why itself. */
		if (errno == EPIPE || errno == ECONNRESET)
			exit(1);
		fatal("cannot send HELLO to the %s: %s", peername,
		    strerror(errno));
	}
	wire_wr_release(&wr);
	if ((r = frame_in_get(in, &type, &p, &len)) != 0) {
		if (r == CB_ERR_EOF || (r == CB_ERR_SYS && errno == ECONNRESET))
			exit(1);
		{
			/* A login shell or a missing program answers in text:
		 * show it, that names the problem. */
			const uint8_t *b = in->buf + in->start;
			size_t n = in->end - in->start, i, k = 0;
			char text[160];

			for (i = 0; i < n && k + 1 < sizeof(text); i++) {
				if (b[i] == '\n' || b[i] == '\r') {
					if (k > 0 && text[k - 1] != ' ')
						text[k++] = ' ';
				} else if (b[i] >= 0x20 && b[i] < 0x7f)
					text[k++] = (char)b[i];
				else
					break;
			}
			text[k] = '\0';
			if (n >= 4 && i == n && k >= 4)
				fatal("the %s sent text, not capback's HELLO: "
				      "\"%s\" (is "
				      "capback installed there, and the "
				      "account usable?)",
				    peername, text);
			fatal("no HELLO from the %s: %s", peername,
			    cb_strerror(r));
		}
	}
	if (type != MSG_HELLO || msg_hello_decode(p, len, &h) != 0 ||
	    h.magic != MSG_MAGIC)
		fatal("protocol: expected HELLO from the %s", peername);
	if (h.version != MSG_PROTO_VERSION)
		fatal("the %s speaks protocol %u, this program %u (%s): "
		      "install the same capback version on both sides",
		    peername, h.version, MSG_PROTO_VERSION,
		    log_quote(h.software, strlen(h.software)));
	if (h.role != peerrole)
		fatal("protocol: the peer is not a %s (role %u)", peername,
		    h.role);
	return h.flags;
}
