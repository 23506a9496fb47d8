/*
 * Non-cryptographic hashing for in-memory tables (the content addresses of
 * stored nodes use SHA-256, in src/store). 64-bit, seeded, fast on short keys.
 */
#ifndef CAIRN_BASE_HASH_H
#define CAIRN_BASE_HASH_H

#include <stddef.h>
#include <stdint.h>

uint64_t cairn_hash_bytes(const void *data, size_t len, uint64_t seed);

/* A strong 64-bit finalizer (splitmix64's). */
static inline uint64_t cairn_hash_mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/* Order-dependent combination of two hashes. */
static inline uint64_t cairn_hash_combine(uint64_t h, uint64_t x)
{
    return cairn_hash_mix(h * 0x9e3779b97f4a7c15ULL + x + 0x632be59bd9b4e019ULL);
}

#endif
