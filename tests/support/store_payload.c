/*
 * Index-leaf payload generator (see store_payload.h). The leaf layout is a
 * stand-in for the index layer's codec: a count, then per key the length it
 * shares with the previous key, the suffix length and the suffix, all as
 * LEB128 varints. What matters for compression is the key material, and that
 * follows DESIGN.md section 3. Test support allocates with libc, not the
 * cairn seam, so allocation-failure tests count only library allocations.
 */
#include "store_payload.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define KEY_MAX 128

static const char *const words[] = {
    "alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
    "mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "yolanda",
    "active", "pending", "archived", "admin", "member", "guest", "berlin", "paris", "oslo", "lisbon",
};

struct rng {
    uint64_t s;  /* splitmix64 state */
};

static uint64_t next(struct rng *r)
{
    uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static size_t put_be64(uint8_t *p, uint64_t v)
{
    for (int i = 7; i >= 0; i--, v >>= 8)
        p[i] = (uint8_t)v;
    return 8;
}

static size_t put_varint(uint8_t *p, uint64_t v)
{
    size_t n = 0;
    while (v >= 0x80) {
        p[n++] = (uint8_t)(v | 0x80);
        v >>= 7;
    }
    p[n++] = (uint8_t)v;
    return n;
}

/* The value part of a key: a type tag, then an order-preserving encoding. */
static size_t put_value(uint8_t *p, struct rng *r, uint64_t attr, uint64_t e)
{
    size_t n = 0;
    switch (attr % 7) {
    case 0: { /* string: a name or an e-mail, escaped, 0x00 0x00 terminated */
        const char *w = words[next(r) % 20];
        char tmp[64];
        int len = (attr % 2) ? snprintf(tmp, sizeof tmp, "%s%u@example.com", w, (unsigned)(e % 10000))
                             : snprintf(tmp, sizeof tmp, "%s %s", w, words[next(r) % 20]);
        p[n++] = 0x09;
        memcpy(p + n, tmp, (size_t)len);
        n += (size_t)len;
        p[n++] = 0;
        p[n++] = 0;
        return n;
    }
    case 1: /* small int, sign bit flipped */
        p[n++] = 0x05;
        return n + put_be64(p + n, (next(r) % 100) ^ (1ULL << 63));
    case 2: /* ref to a nearby entity */
        p[n++] = 0x0e;
        return n + put_be64(p + n, e + next(r) % 64);
    case 3: /* instant, ms around 2024 */
        p[n++] = 0x0d;
        return n + put_be64(p + n, (1700000000000ULL + next(r) % 100000000ULL) ^ (1ULL << 63));
    case 4: { /* keyword from a small enum */
        const char *w = words[20 + next(r) % 4];
        p[n++] = 0x0b;
        memcpy(p + n, ":status/", 8);
        n += 8;
        memcpy(p + n, w, strlen(w));
        n += strlen(w);
        p[n++] = 0;
        p[n++] = 0;
        return n;
    }
    case 5: /* double */
        p[n++] = 0x06;
        return n + put_be64(p + n, 0x4000000000000000ULL | (next(r) & 0xfffffffffffULL));
    default: /* uuid: incompressible */
        p[n++] = 0x0c;
        n += put_be64(p + n, next(r));
        return n + put_be64(p + n, next(r));
    }
}

struct datom {
    uint64_t e, a, tx;       /* ids */
    uint8_t v[64];           /* encoded value */
    size_t vlen;             /* its length */
};

static size_t encode_key(uint8_t *k, const struct datom *d, enum store_payload_index index)
{
    size_t n = 0;
    if (index == STORE_PAYLOAD_EAVT) {
        n += put_be64(k + n, d->e);
        n += put_be64(k + n, d->a);
        memcpy(k + n, d->v, d->vlen);
        n += d->vlen;
    } else if (index == STORE_PAYLOAD_AEVT) {
        n += put_be64(k + n, d->a);
        n += put_be64(k + n, d->e);
        memcpy(k + n, d->v, d->vlen);
        n += d->vlen;
    } else {
        n += put_be64(k + n, d->a);
        memcpy(k + n, d->v, d->vlen);
        n += d->vlen;
        n += put_be64(k + n, d->e);
    }
    return n + put_be64(k + n, d->tx);
}

static int key_cmp(const void *x, const void *y)
{
    const uint8_t *a = x, *b = y;
    return memcmp(a, b, KEY_MAX);
}

size_t store_payload_leaf(uint8_t *out, size_t cap, uint64_t seed, enum store_payload_index index,
                          size_t target_len)
{
    struct rng r = { seed * 0x2545f4914f6cdd1dULL + 1 };
    size_t want = target_len / 24 + 8, count = 0, n = 0, prev_len = 0;
    uint8_t(*keys)[KEY_MAX] = calloc(want, KEY_MAX);
    uint8_t prev[KEY_MAX] = { 0 };
    uint64_t e = 1000 + next(&r) % 100000, attr_base = 10 + next(&r) % 40;
    if (!keys)
        return 0;
    while (count < want) {
        struct datom d;
        uint64_t nattr = 3 + next(&r) % 8;
        for (uint64_t i = 0; i < nattr && count < want; i++) {
            d.e = e;
            d.a = index == STORE_PAYLOAD_EAVT ? attr_base + i * 3 : attr_base;
            d.tx = 536870913 + e / 7 + next(&r) % 3;
            d.vlen = put_value(d.v, &r, d.a, e);
            memset(keys[count], 0, KEY_MAX);
            encode_key(keys[count], &d, index);
            count++;
        }
        e += 1 + next(&r) % 3;
    }
    qsort(keys, count, KEY_MAX, key_cmp);
    n += put_varint(out + n, count);
    for (size_t i = 0; i < count; i++) {
        size_t len = KEY_MAX, shared = 0;
        while (len > 0 && keys[i][len - 1] == 0 && len > 8)
            len--;
        while (shared < len && shared < prev_len && keys[i][shared] == prev[shared])
            shared++;
        if (n + 2 * 10 + (len - shared) > cap || n >= target_len)
            break;
        n += put_varint(out + n, shared);
        n += put_varint(out + n, len - shared);
        memcpy(out + n, keys[i] + shared, len - shared);
        n += len - shared;
        memcpy(prev, keys[i], len);
        prev_len = len;
    }
    free(keys);
    return n;
}
