/*
 * The node codec: index nodes to bytes and back. These bytes are the payload
 * the store frames, hashes and keeps (store.c); the address of a node is the
 * hash of its frame, so the encoding must be canonical: one node, one byte
 * string. The decoder therefore accepts exactly the strings the encoder
 * produces and refuses everything else as CAIRN_ECORRUPT.
 *
 * Node format, version 1 (all varints are unsigned LEB128, base/varint.h,
 * shortest form only):
 *
 *   offset  size  field
 *   0       1     format version: 1
 *   1       1     level: 0 = leaf, 1..31 = branch, height above the leaves
 *   2       v     n: number of entries, >= 1
 *   ...           n entries, each:
 *   +0      v       shared: length of the prefix shared with the previous key
 *                   (0 in the first entry), and exactly the longest common
 *                   prefix of the two keys
 *   +v      v       suffix_len: bytes of the key after the shared prefix;
 *                   >= 1 except in the first entry
 *   +v      s       the suffix bytes
 *           (branch entries only:)
 *   +s      16      the child's address
 *   +16     v       keys in the child's subtree, >= 1
 *   end           nothing may follow the last entry
 *
 * A leaf's keys are the keys of the tree; a branch's keys are the first keys
 * of its children. Keys are strictly increasing in memcmp order, which the
 * decoder checks (with a canonical shared length the check is one byte: the
 * first suffix byte must exceed the previous key's byte at that position, or
 * the previous key must be a prefix). A key is at most 64 KiB and a node
 * expands to at most 4 MiB of key bytes, so a small corrupt node cannot make
 * the decoder allocate much. The tree's own fill limits are not the codec's
 * business: cairn_btree_check() checks those.
 *
 * Design notes. Prefix compression is the whole compression: datom keys of
 * one entity or attribute share their leading 8 to 16 bytes, and the store
 * frame may add general-purpose compression later. Restart points (LevelDB)
 * were considered and left out: a node is decoded once into the cache, and
 * every search runs on the decoded form with its offset array, so a restart
 * array would only add bytes. Decoding takes two passes: the first checks
 * every length against the input and sums the key bytes without allocating,
 * the second allocates the node once and fills it.
 */
#include "index/node.h"

#include "base/varint.h"

/* Length of the common prefix of a[0..alen) and b[0..blen). */
static size_t common_prefix(const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
    size_t n = alen < blen ? alen : blen, i = 0;
    while (i + 8 <= n) {
        uint64_t x, y;
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y)
            return i + (size_t)(__builtin_ctzll(x ^ y) >> 3);
        i += 8;
    }
    while (i < n && a[i] == b[i])
        i++;
    return i;
}

int cairn_node_encode(cairn_buf *out, const cairn_node *n)
{
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    uint8_t tmp[2 * CAIRN_VARINT_MAX];
    size_t t;
    /* upper bound of the size, so the loop below never grows the buffer */
    size_t bound = 2 + CAIRN_VARINT_MAX + n->key_bytes +
                   (size_t)n->n * (2 * CAIRN_VARINT_MAX + (n->level ? CAIRN_ADDR_LEN + CAIRN_VARINT_MAX : 0));
    uint8_t *p;
    if (cairn_buf_grow(out, bound) < 0)
        return CAIRN_ENOMEM;
    p = (uint8_t *)out->ptr + out->len;
    *p++ = CAIRN_NODE_VERSION;
    *p++ = n->level;
    p += cairn_varint_put(p, n->n);
    for (uint32_t i = 0; i < n->n; i++) {
        size_t len, shared;
        const uint8_t *key = cairn_node_key(n, i, &len);
        shared = i ? common_prefix(prev, prev_len, key, len) : 0;
        t = cairn_varint_put(tmp, shared);
        t += cairn_varint_put(tmp + t, len - shared);
        memcpy(p, tmp, t);
        p += t;
        if (len > shared)
            memcpy(p, key + shared, len - shared);
        p += len - shared;
        if (n->level) {
            memcpy(p, n->kids[i].addr.bytes, CAIRN_ADDR_LEN);
            p += CAIRN_ADDR_LEN;
            p += cairn_varint_put(p, n->kids[i].count);
        }
        prev = key;
        prev_len = len;
    }
    out->len = (size_t)(p - (uint8_t *)out->ptr);
    assert(out->len < out->cap);
    out->ptr[out->len] = 0;
    return 0;
}

/* Reads a varint at *pos of data[0..len); 0 when malformed or truncated. */
static int get_varint(const uint8_t *data, size_t len, size_t *pos, uint64_t *v)
{
    size_t k = cairn_varint_get(data + *pos, len - *pos, v);
    *pos += k;
    return k != 0;
}

/* Pass 1: checks the shape and sums the key bytes. */
static int scan(const uint8_t *data, size_t len, unsigned level, uint64_t n, size_t pos, size_t *key_bytes_out)
{
    uint64_t prev_len = 0, sum = 0, total = 0;
    for (uint64_t i = 0; i < n; i++) {
        uint64_t shared, suffix, count;
        if (!get_varint(data, len, &pos, &shared) || !get_varint(data, len, &pos, &suffix))
            return CAIRN_CORRUPT_BKPT;
        if (shared > prev_len || (i == 0 && shared != 0) || (i > 0 && suffix == 0))
            return CAIRN_CORRUPT_BKPT;
        if (suffix > len - pos || shared + suffix > CAIRN_NODE_KEY_LIMIT)
            return CAIRN_CORRUPT_BKPT;
        pos += suffix;
        prev_len = shared + suffix;
        sum += prev_len;
        if (sum > CAIRN_NODE_DECODED_MAX)
            return CAIRN_CORRUPT_BKPT;
        if (level) {
            if (len - pos < CAIRN_ADDR_LEN)
                return CAIRN_CORRUPT_BKPT;
            pos += CAIRN_ADDR_LEN;
            if (!get_varint(data, len, &pos, &count) || count == 0 || count > INT64_MAX - total)
                return CAIRN_CORRUPT_BKPT;
            total += count;
        }
    }
    if (pos != len)
        return CAIRN_CORRUPT_BKPT;
    *key_bytes_out = (size_t)sum;
    return 0;
}

/* Pass 2: fills node from entries already checked by scan; checks order. */
static int fill(cairn_node *node, const uint8_t *data, size_t len, size_t pos)
{
    size_t at = 0;
    uint64_t total = 0;
    for (uint32_t i = 0; i < node->n; i++) {
        uint64_t shared, suffix, count = 1;
        size_t prev_at = i ? node->offs[i - 1] : 0, prev_len = at - prev_at;
        pos += cairn_varint_get(data + pos, len - pos, &shared);
        pos += cairn_varint_get(data + pos, len - pos, &suffix);
        if (i > 0 && shared < prev_len && data[pos] <= node->keys[prev_at + shared])
            return CAIRN_CORRUPT_BKPT;  /* not increasing, or shared not the longest */
        if (shared)
            memcpy(node->keys + at, node->keys + prev_at, shared);
        if (suffix)
            memcpy(node->keys + at + shared, data + pos, suffix);
        pos += suffix;
        at += shared + suffix;
        node->offs[i + 1] = (uint32_t)at;
        if (node->level) {
            cairn_kid *k = &node->kids[i];
            memcpy(k->addr.bytes, data + pos, CAIRN_ADDR_LEN);
            pos += CAIRN_ADDR_LEN;
            pos += cairn_varint_get(data + pos, len - pos, &count);
            k->count = count;
            k->node = NULL;
        }
        total += count;
    }
    node->total = total;
    cairn_node_finish(node);
    return 0;
}

int cairn_node_decode(cairn_node **out, const uint8_t *data, size_t len)
{
    size_t pos = 2, key_bytes = 0;
    uint64_t n;
    unsigned level;
    cairn_node *node;
    int rc;
    if (len < 3 || data[0] != CAIRN_NODE_VERSION || data[1] > CAIRN_NODE_LEVEL_MAX)
        return CAIRN_CORRUPT_BKPT;
    level = data[1];
    if (!get_varint(data, len, &pos, &n) || n == 0 || n > (len - pos) / 2)
        return CAIRN_CORRUPT_BKPT;
    if ((rc = scan(data, len, level, n, pos, &key_bytes)) < 0)
        return rc;
    node = cairn_node_alloc(level, (uint32_t)n, key_bytes);
    if (!node)
        return CAIRN_ENOMEM;
    node->clean = 1;  /* also tells unref that kids hold no references */
    if ((rc = fill(node, data, len, pos)) < 0) {
        cairn_node_unref(node);
        return rc;
    }
    *out = node;
    return 0;
}
