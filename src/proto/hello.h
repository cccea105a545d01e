#ifndef HELLO_H
#define HELLO_H

#include <stdint.h>

struct frame_in;
struct frame_out;

/*
 * hello_exchange(in, out, myrole, myflags, peerrole, peername):
 * Send our HELLO (with ${myflags}, enum msg_hello_flags), then read and
 * check the peer's (magic, version, role); returns the peer's flags.
 * For role mains only: on any failure it prints one message naming
 * ${peername} and exits 1; a peer that closed the stream before its HELLO
 * (it failed and said why) makes it exit 1 silently.
 */
uint32_t hello_exchange(struct frame_in *in, struct frame_out *out,
    uint8_t myrole, uint32_t myflags, uint8_t peerrole, const char *peername);

#endif
