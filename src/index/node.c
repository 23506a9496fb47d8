/*
 * Index nodes in memory: allocation, reference counting, and cutting a sorted
 * sequence of entries into nodes that respect the fill limits. The layout is
 * described in node.h; the byte format in codec.c.
 *
 * Fill rule, and why cairn_node_pack cannot fail. Let M be the heaviest node
 * (lim->max), E = M / 4 the heaviest entry (keys are limited so that even a
 * branch entry fits), and W = M / 8 the lightest node other than the root.
 * Weights, not entry counts, because keys range from a few bytes to a few KiB:
 * a fanout of 512 entries of 4 KiB keys would be 2 MiB nodes.
 *
 * A sequence of total weight w <= M is one node. Otherwise it is cut into
 * k = max(ceil(w / (M - e)), ceil(w / T)) pieces, e being its heaviest entry
 * and T the target fill (at least 0.7 M), cutting piece p after the first
 * entry where the running weight reaches (p + 1) w / k. Each piece then weighs
 * less than w / k + e <= M, and more than w / k - e: since w > M and
 * T >= 0.7 M, w / k > min(0.75 M * M / 1.75 M, T M / (M + T)) >= 0.41 M, so a
 * piece weighs more than 0.41 M - 0.25 M > M / 8 = W.
 *
 * Merging a node lighter than W with a sibling (at most M) gives a sequence
 * under M + W = 1.125 M, which is one node, or (k = 2 since
 * 1.125 M / 0.75 M < 2) two nodes above W. That is how edit.c restores the
 * rule after deletes.
 *
 * Rejected: a classic count-based fanout (Datahike's 512): variable-length
 * keys make node bytes unbounded; a byte size of the encoding: depends on
 * neighbours through prefix compression; "no two adjacent siblings fit in one
 * node" as the fill rule (SQLite-like): merging two branches then creates a
 * new adjacency one level down, and the repair recurses down the seam.
 */
#include "index/node.h"

#include "base/alloc.h"
#include "index/cache.h"

cairn_node *cairn_node_alloc(unsigned level, uint32_t n, size_t key_bytes)
{
    size_t offs_len = ((size_t)n + 1) * sizeof(uint32_t);
    size_t heads_at = (sizeof(cairn_node) + offs_len + 7) & ~(size_t)7;
    size_t kids_at = heads_at + (size_t)n * sizeof(uint64_t);
    size_t kids_len = level ? (size_t)n * sizeof(cairn_kid) : 0;
    size_t len = kids_at + kids_len + key_bytes;
    cairn_node *node;
    assert(n >= 1 && level <= CAIRN_NODE_LEVEL_MAX);
    if (key_bytes > UINT32_MAX)
        return NULL;
    node = cairn_malloc(len);
    if (!node)
        return NULL;
    memset(node, 0, sizeof *node);
    atomic_init(&node->refs, 1);
    node->level = (uint8_t)level;
    node->n = n;
    node->key_bytes = key_bytes;
    node->mem_len = len;
    node->offs = (uint32_t *)(node + 1);
    node->offs[0] = 0;
    node->heads = (uint64_t *)((char *)node + heads_at);
    node->kids = level ? (cairn_kid *)((char *)node + kids_at) : NULL;
    node->keys = (uint8_t *)node + kids_at + kids_len;
    return node;
}

void cairn_node_unref(cairn_node *n)
{
    if (!n || atomic_fetch_sub_explicit(&n->refs, 1, memory_order_acq_rel) != 1)
        return;
    assert(!n->in_cache);
    if (n->level && !n->clean)
        for (uint32_t i = 0; i < n->n; i++)
            cairn_node_unref(n->kids[i].node);
    cairn_free(n);
}

/* The head of key[from..len): 8 bytes, zero-padded, big-endian. */
static uint64_t head_of(const uint8_t *key, size_t from, size_t len)
{
    uint8_t b[8] = { 0 };
    if (len > from)
        memcpy(b, key + from, len - from < 8 ? len - from : 8);
    return cairn_get_be64(b);
}

void cairn_node_finish(cairn_node *n)
{
    size_t flen, llen, p = 0;
    const uint8_t *first = cairn_node_key(n, 0, &flen), *last = cairn_node_key(n, n->n - 1, &llen);
    while (p < flen && p < llen && first[p] == last[p])
        p++;
    n->plen = (uint32_t)p;
    for (uint32_t i = 0; i < n->n; i++)
        n->heads[i] = head_of(n->keys + n->offs[i], p, n->offs[i + 1] - n->offs[i]);
}

/*
 * Narrows a search for key to the entries whose head equals key's: entries
 * before *lo are < key, entries from *hi on are > key; only [*lo, *hi) need
 * whole-key comparisons (none when key lies outside the shared prefix).
 */
static void narrow(const cairn_node *n, const uint8_t *key, size_t len, uint32_t *lo_out, uint32_t *hi_out)
{
    uint32_t lo = 0, hi = n->n, a, b;
    uint64_t h;
    size_t m = len < n->plen ? len : n->plen;
    int c = m ? memcmp(key, n->keys, m) : 0;
    if (c != 0 || len < n->plen) {
        /* key is outside the shared prefix: before every key, or after */
        lo = hi = (c > 0) ? n->n : 0;
        *lo_out = lo;
        *hi_out = hi;
        return;
    }
    h = head_of(key, n->plen, len);
    /* first head >= h: a branch-free search that prefetches both places the
     * next step may look at, so the cache misses of successive steps overlap
     * instead of following one another */
    {
        const uint64_t *base = n->heads;
        uint32_t len_left = hi;
        while (len_left > 1) {
            uint32_t half = len_left / 2;
            __builtin_prefetch(base + half / 2);
            __builtin_prefetch(base + half + half / 2);
            base = base[half - 1] < h ? base + half : base;
            len_left -= half;
        }
        a = (uint32_t)(base - n->heads) + (len_left == 1 && *base < h);
    }
    lo = a;
    /* first head > h: runs of equal heads are short, so gallop from lo
     * (staying near lines already read), then search the last stride */
    a = b = lo;
    if (lo < hi && n->heads[lo] <= h) {
        a = lo + 1;
        b = hi;
        for (uint32_t step = 1; lo + step < hi; step *= 2) {
            if (n->heads[lo + step] > h) {
                b = lo + step;
                break;
            }
            a = lo + step + 1;
        }
    }
    while (a < b) {
        uint32_t mid = a + (b - a) / 2;
        if (n->heads[mid] <= h)
            a = mid + 1;
        else
            b = mid;
    }
    *lo_out = lo;
    *hi_out = a;
}

uint32_t cairn_node_lower_bound(const cairn_node *n, const void *key, size_t len)
{
    uint32_t lo, hi;
    narrow(n, key, len, &lo, &hi);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cairn_key_cmp(n->keys + n->offs[mid], n->offs[mid + 1] - n->offs[mid], key, len) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t cairn_node_upper_bound(const cairn_node *n, const void *key, size_t len)
{
    uint32_t lo, hi;
    narrow(n, key, len, &lo, &hi);
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cairn_key_cmp(n->keys + n->offs[mid], n->offs[mid + 1] - n->offs[mid], key, len) <= 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

int cairn_node_child(cairn_node **out, cairn_nodecache *cache, const cairn_node *n, uint32_t i)
{
    const cairn_kid *k = &n->kids[i];
    assert(n->level > 0 && i < n->n);
    if (k->node) {
        *out = cairn_node_ref(k->node);
        return 0;
    }
    return cairn_nodecache_get(out, cache, &k->addr);
}

void cairn_node_limits_init(cairn_node_limits *out, size_t node_bytes, unsigned fill_pct)
{
    assert(fill_pct >= 70 && fill_pct <= 100);
    out->max = node_bytes;
    out->min = node_bytes / 8;
    out->target = node_bytes * fill_pct / 100;
    out->key_max = node_bytes / 4 - CAIRN_NODE_BRANCH_OVERHEAD;
}

void cairn_node_ent_of(cairn_node_ent *out, const cairn_node *n, uint32_t i)
{
    out->key = cairn_node_key(n, i, &out->len);
    if (n->level) {
        out->count = n->kids[i].count;
        out->node = n->kids[i].node;
        out->addr = n->kids[i].addr;
    } else {
        out->count = 1;
        out->node = NULL;
    }
}

void cairn_node_ent_child(cairn_node_ent *out, cairn_node *c)
{
    out->key = cairn_node_key(c, 0, &out->len);
    out->count = c->total;
    out->node = c;
    if (c->clean)
        out->addr = c->addr;
    else
        memset(&out->addr, 0, sizeof out->addr);
}

size_t cairn_node_pack(size_t *cuts, const cairn_node_ent *e, size_t n, unsigned level,
                       const cairn_node_limits *lim)
{
    uint64_t w = 0, emax = 0, run = 0, k, k1, k2, room;
    size_t pieces = 0;
    assert(n >= 1);
    for (size_t i = 0; i < n; i++) {
        uint64_t ew = cairn_node_entry_weight(level, e[i].len);
        w += ew;
        emax = ew > emax ? ew : emax;
    }
    if (w <= lim->max) {
        cuts[0] = n;
        return 1;
    }
    /* Entries over max / 4 only come from nodes written with bigger limits;
     * fall back to halves so the arithmetic stays sane. */
    room = lim->max > 2 * emax ? lim->max - emax : lim->max / 2;
    k1 = (w + room - 1) / room;
    k2 = (w + lim->target - 1) / lim->target;
    k = k1 > k2 ? k1 : k2;
    if (k > n)
        k = n;
    for (size_t i = 0; i < n && pieces + 1 < k; i++) {
        uint64_t goal = ((pieces + 1) * w + k - 1) / k;
        run += cairn_node_entry_weight(level, e[i].len);
        /* cut here when the goal is reached, or when exactly enough entries
         * remain for one entry per remaining piece */
        if (run >= goal || n - (i + 1) == k - (pieces + 1))
            cuts[pieces++] = i + 1;
    }
    cuts[pieces++] = n;
    return pieces;
}

cairn_node *cairn_node_build(unsigned level, const cairn_node_ent *e, size_t n)
{
    size_t bytes = 0, at = 0;
    cairn_node *node;
    uint64_t total = 0;
    for (size_t i = 0; i < n; i++)
        bytes += e[i].len;
    node = cairn_node_alloc(level, (uint32_t)n, bytes);
    if (!node)
        return NULL;
    for (size_t i = 0; i < n; i++) {
        if (e[i].len)
            memcpy(node->keys + at, e[i].key, e[i].len);
        at += e[i].len;
        node->offs[i + 1] = (uint32_t)at;
        if (level) {
            node->kids[i].addr = e[i].addr;
            node->kids[i].count = e[i].count;
            node->kids[i].node = e[i].node ? cairn_node_ref(e[i].node) : NULL;
            total += e[i].count;
        }
    }
    node->total = level ? total : n;
    cairn_node_finish(node);
    return node;
}

cairn_node *cairn_node_clone_clean(const cairn_node *n)
{
    cairn_node *c = cairn_node_alloc(n->level, n->n, n->key_bytes);
    if (!c)
        return NULL;
    memcpy(c->offs, n->offs, ((size_t)n->n + 1) * sizeof *n->offs);
    if (n->key_bytes)
        memcpy(c->keys, n->keys, n->key_bytes);
    if (n->level) {
        memcpy(c->kids, n->kids, (size_t)n->n * sizeof *n->kids);
        for (uint32_t i = 0; i < n->n; i++)
            c->kids[i].node = NULL;
    }
    memcpy(c->heads, n->heads, (size_t)n->n * sizeof *n->heads);
    c->plen = n->plen;
    c->total = n->total;
    return c;
}
