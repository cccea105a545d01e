#ifndef XORSHIFT_H
#define XORSHIFT_H

#include <stdint.h>

/*
 * xorshift64_next(x): the next state of Marsaglia's 64-bit xorshift
 * generator (13, 7, 17), never 0 when ${x} is not.  The writer's sample
 * of received files to check and the runner's start jitter draw from it,
 * each seeded from getrandom; nothing here needs more than that.
 */
static inline uint64_t
xorshift64_next(uint64_t x)
{
	x ^= x << 13;
	x ^= x >> 7;
	x ^= x << 17;
	return x;
}

#endif
