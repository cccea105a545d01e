#ifndef HELLO_H
#define HELLO_H

#include <stdint.h>

struct frame_in;
struct frame_out;

/*
 * hello_exchange(in, out, myrole, peerrole, peername):
 * Send our HELLO, then read and check the peer's (magic, version, role).
 * For role mains only: on any failure it prints one message naming
 * ${peername} and exits 1; a peer that closed the stream before its HELLO
 * (it failed and said why) makes it exit 1 silently.
 */
void hello_exchange(struct frame_in *in, struct frame_out *out, uint8_t myrole,
    uint8_t peerrole, const char *peername);

#endif
