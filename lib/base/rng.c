/* Seeded pseudo-random numbers: splitmix64.  Its output function is also the
 * mixer that hashes a key (an id, an index with a seed), so the same few
 * lines serve the generators, the id maps and the RANDOM strategy's keys. */
#include "base/base.h"

/* splitmix64's output function: a bijection of 64-bit words in which every
 * input bit reaches every output bit. */
uint64_t hitl__mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= UINT64_C(0xbf58476d1ce4e5b9);
    x ^= x >> 27;
    x *= UINT64_C(0x94d049bb133111eb);
    return x ^ (x >> 31);
}

void hitl__rng_seed(hitl__rng *r, uint64_t seed, uint64_t stream)
{
    r->s = hitl__mix64(seed ^ hitl__mix64(stream ^ UINT64_C(0x6a09e667f3bcc909)));
}

uint64_t hitl__rng_next(hitl__rng *r)
{
    r->s += UINT64_C(0x9e3779b97f4a7c15);
    return hitl__mix64(r->s);
}

double hitl__rng_unit(hitl__rng *r)
{
    return (double)(hitl__rng_next(r) >> 11) * 0x1.0p-53;
}

/* 53 bits of a hash of (seed, i): a uniform key in [0, 1) that depends on
 * nothing else, so a random order of items is the same however they are
 * visited. */
double hitl__rng_key(uint64_t seed, size_t i)
{
    return (double)(hitl__mix64(seed ^ hitl__mix64((uint64_t)i)) >> 11) * 0x1.0p-53;
}
