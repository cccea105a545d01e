/*
 * A byte stream from a peer, framed and decoded as the restorer and the
 * writer's backup side take it: frames bounded by the role's limits, each
 * payload through its message decoder.
 */
#include <stdint.h>
#include <stdlib.h>

#include "frame.h"
#include "msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
decode(uint8_t type, const uint8_t *p, size_t len)
{
	struct msg_entry e;
	uint64_t a, b;
	uint32_t u, err;
	uint8_t sha1[20];

	switch (type) {
	case MSG_ENTRY:
		msg_entry_init(&e);
		(void)msg_entry_decode(p, len, &e);
		msg_entry_clear(&e);
		break;
	case MSG_DELTA_END:
		(void)msg_delta_end_decode(p, len, &err, &a, sha1);
		break;
	case MSG_DONE: (void)msg_u32pair_decode(p, len, &u, &a); break;
	default: (void)msg_u64pair_decode(p, len, &a, &b); break;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct frame_in in;
	const uint8_t *p;
	size_t len;
	uint8_t type;
	int pass;

	if (size == 0)
		return 0;
	for (pass = 0; pass < 2; pass++) {
		frame_in_init(&in, -1,
		    pass ? msg_backup_stream_max : msg_entry_stream_max);
		if (frame_in_push(&in, data + 1, size - 1) == 0)
			while (frame_in_next(&in, &type, &p, &len) == 0)
				decode(type, p, len);
		frame_in_release(&in);
	}
	return 0;
}
