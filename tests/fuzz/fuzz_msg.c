/*
 * The peer's messages, as every role decodes them: the first byte picks
 * the decoder, the rest is the payload.  What decodes must encode back
 * and decode to the same thing.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cb_err.h"
#include "meta.h"
#include "msg.h"
#include "strbuf.h"
#include "wire.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
entry_roundtrip(const struct msg_entry *e)
{
	struct wire_wr wr;
	struct msg_entry again;

	wire_wr_init(&wr, 1u << 26);
	if (msg_entry_encode(&wr, e) != 0) {
		wire_wr_release(&wr);
		return;
	}
	msg_entry_init(&again);
	if (msg_entry_decode(wr.p, wr.len, &again) != 0 ||
	    again.rec.pathlen != e->rec.pathlen ||
	    memcmp(again.rec.path, e->rec.path, e->rec.pathlen) != 0 ||
	    again.rec.type != e->rec.type || again.rec.size != e->rec.size)
		abort();
	msg_entry_clear(&again);
	wire_wr_release(&wr);
}

/*
 * What a peer may send, the writer must be able to record: an entry the
 * decoder takes and the metadata files cannot carry killed the writer
 * (an ACL qualifier with '#').
 */
static void
entry_formats(const struct msg_entry *e)
{
	struct strbuf sb = STRBUF_INIT;

	if (meta_format(&sb, &e->rec) == CB_ERR_BAD_VALUE ||
	    meta_format_ea(&sb, &e->rec) == CB_ERR_BAD_VALUE ||
	    meta_format_acl(&sb, &e->rec) == CB_ERR_BAD_VALUE)
		abort();
	strbuf_release(&sb);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const uint8_t *p = data + 1;
	size_t n = size - 1;

	if (size == 0)
		return 0;
	switch (data[0] % 6) {
	case 0: {
		struct msg_hello h;

		(void)msg_hello_decode(p, n, &h);
		break;
	}
	case 1: {
		struct msg_entry e;

		msg_entry_init(&e);
		if (msg_entry_decode(p, n, &e) == 0) {
			entry_roundtrip(&e);
			entry_formats(&e);
		}
		msg_entry_clear(&e);
		break;
	}
	case 2: {
		uint64_t v;

		(void)msg_u64_decode(p, n, &v);
		break;
	}
	case 3: {
		uint64_t a, b;

		(void)msg_u64pair_decode(p, n, &a, &b);
		break;
	}
	case 4: {
		uint32_t a;
		uint64_t b;

		(void)msg_u32pair_decode(p, n, &a, &b);
		break;
	}
	default: {
		uint32_t err;
		uint64_t flags;
		uint8_t sha1[20];

		(void)msg_delta_end_decode(p, n, &err, &flags, sha1);
		break;
	}
	}
	return 0;
}
