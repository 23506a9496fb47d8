/*
 * A word-at-a-time multiply-xorshift hash. Each 8-byte word is mixed by a
 * 64x64->128 multiply folded to 64 bits, a construction with good avalanche
 * for its cost; the tail is read as a partial word so no byte is read past
 * the end. Rejected: FNV (slow on long keys, weak on short), importing a hash
 * library (a dependency for 40 lines).
 */
#include "base/hash.h"

#include <string.h>

#define K0 0xa0761d6478bd642fULL
#define K1 0xe7037ed1a0b428dbULL
#define K2 0x8ebc6af09c88c6e3ULL

static inline uint64_t fold_mul(uint64_t a, uint64_t b)
{
    __uint128_t r = (__uint128_t)a * b;
    return (uint64_t)r ^ (uint64_t)(r >> 64);
}

static inline uint64_t read64(const unsigned char *p)
{
    uint64_t v;
    memcpy(&v, p, 8);
    return v;
}

uint64_t cairn_hash_bytes(const void *data, size_t len, uint64_t seed)
{
    const unsigned char *p = data;
    uint64_t h = seed ^ K0 ^ (uint64_t)len;
    size_t i = 0;
    for (; i + 16 <= len; i += 16)
        h = fold_mul(read64(p + i) ^ K1 ^ h, read64(p + i + 8) ^ K2);
    if (i + 8 <= len) {
        h = fold_mul(read64(p + i) ^ K1, h ^ K2);
        i += 8;
    }
    if (i < len) {
        uint64_t t = 0;
        memcpy(&t, p + i, len - i);
        h = fold_mul(t ^ K2, h ^ K1);
    }
    return cairn_hash_mix(h ^ (uint64_t)len);
}
