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
#include "index/epoch.h"

/* Bytes up to the next multiple of 64. */
static size_t line_up(size_t x)
{
    return (x + 63) & ~(size_t)63;
}

cairn_node *cairn_node_alloc(unsigned level, uint32_t n, size_t key_bytes)
{
    size_t groups = ((size_t)n + CAIRN_NODE_GROUP - 1) / CAIRN_NODE_GROUP;
    size_t tops_end = sizeof(cairn_node) + groups * sizeof(uint64_t) + (groups + 1) * sizeof(uint32_t);
    /* heads start on a line wherever malloc puts the block: 63 bytes of
     * slack, so that mem_len depends on the shape alone */
    size_t heads_len = line_up((size_t)n * sizeof(uint64_t));
    size_t swz_len = level ? line_up((size_t)n * sizeof(cairn_node *)) : 0;
    size_t kids_len = level ? (size_t)n * sizeof(cairn_kid) : 0;
    size_t offs_len = ((size_t)n + 1) * sizeof(uint32_t);
    size_t len = tops_end + 63 + heads_len + swz_len + kids_len + offs_len + key_bytes;
    cairn_node *node;
    char *at;
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
    node->gofs = (uint32_t *)(node->tops + groups);
    at = (char *)node + tops_end;
    at += (64 - (uintptr_t)at % 64) % 64;
    node->heads = (uint64_t *)at;
    at += heads_len;
    if (level) {
        node->swz = (_Atomic(cairn_node *) *)at;
        for (uint32_t i = 0; i < n; i++)
            atomic_init(&node->swz[i], NULL);
    }
    at += swz_len;
    node->kids = level ? (cairn_kid *)at : NULL;
    at += kids_len;
    node->offs = (uint32_t *)at;
    node->offs[0] = 0;
    node->keys = (uint8_t *)at + offs_len;
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
    if (n->level)
        cairn_nodecache__unswizzle_all(n);
    if (atomic_load_explicit(&n->swizzled, memory_order_relaxed))
        cairn_epoch_retire(n);  /* a reader may still be in it */
    else
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

/* The prefix every key of n shares (that of its first and last key). */
static uint32_t common_prefix(const cairn_node *n)
{
    size_t flen, llen, p = 0;
    const uint8_t *first = cairn_node_key(n, 0, &flen), *last = cairn_node_key(n, n->n - 1, &llen);
    while (p < flen && p < llen && first[p] == last[p])
        p++;
    return (uint32_t)p;
}

/* Sets the prefix copy and the group heads and offsets from plen and heads. */
static void finish_groups(cairn_node *n)
{
    uint32_t g;
    memset(n->pfx, 0, sizeof n->pfx);
    memcpy(n->pfx, n->keys, n->plen < sizeof n->pfx ? n->plen : sizeof n->pfx);
    for (g = 0; g * CAIRN_NODE_GROUP < n->n; g++) {
        n->tops[g] = n->heads[g * CAIRN_NODE_GROUP];
        n->gofs[g] = n->offs[g * CAIRN_NODE_GROUP];
    }
    n->gofs[g] = n->offs[n->n];
}

void cairn_node_finish(cairn_node *n)
{
    uint32_t p = common_prefix(n);
    n->plen = p;
    for (uint32_t i = 0; i < n->n; i++)
        n->heads[i] = head_of(n->keys + n->offs[i], p, n->offs[i + 1] - n->offs[i]);
    finish_groups(n);
}

/*
 * A leaf's few changes (the common case of a small transaction: a handful of
 * keys into a leaf of hundreds) without taking the leaf apart: runs of
 * untouched keys are copied with one memcpy each, and so are their search
 * heads when the shared prefix stays the same. The result is the node
 * cairn_node_build makes from the merged keys, byte for byte.
 */
cairn_node *cairn_node_splice_leaf(const cairn_node *old, const cairn_node_edit *ed, size_t k, uint32_t n,
                                   size_t bytes)
{
    cairn_node *node;
    uint32_t i = 0, o = 0;
    size_t at = 0;
    assert(old->level == 0 && n >= 1);
    if (!(node = cairn_node_alloc(0, n, bytes)))
        return NULL;
    node->total = n;
    /* keys and offsets */
    for (size_t e = 0;; e++) {
        uint32_t to = e < k ? ed[e].pos : old->n;
        if (to > i) {
            uint32_t base = old->offs[i];
            memcpy(node->keys + at, old->keys + base, old->offs[to] - base);
            for (uint32_t x = i; x < to; x++)
                node->offs[++o] = (uint32_t)(at + old->offs[x + 1] - base);
            at += old->offs[to] - base;
            i = to;
        }
        if (e == k)
            break;
        if (ed[e].del) {
            i++;
            continue;
        }
        memcpy(node->keys + at, ed[e].key, ed[e].len);
        at += ed[e].len;
        node->offs[++o] = (uint32_t)at;
    }
    assert(o == n && at == bytes);
    node->plen = common_prefix(node);
    if (node->plen != old->plen) {
        cairn_node_finish(node);
        return node;
    }
    /* same prefix: the old keys keep their heads */
    i = o = 0;
    for (size_t e = 0;; e++) {
        uint32_t to = e < k ? ed[e].pos : old->n;
        if (to > i) {
            memcpy(node->heads + o, old->heads + i, (size_t)(to - i) * sizeof *node->heads);
            o += to - i;
            i = to;
        }
        if (e == k)
            break;
        if (ed[e].del) {
            i++;
            continue;
        }
        node->heads[o] = head_of(node->keys + node->offs[o], node->plen, node->offs[o + 1] - node->offs[o]);
        o++;
    }
    finish_groups(node);
    return node;
}

/* Compares key[0..m) with the node's prefix (m <= plen). */
static int prefix_cmp(const cairn_node *n, const uint8_t *key, size_t m)
{
    if (m == 0)
        return 0;
    return memcmp(key, m <= sizeof n->pfx ? n->pfx : n->keys, m);
}

/* Equal heads read one by one before galloping: a run of keys that differ
 * only after their head is usually short (the datoms of one entity). */
#define RUN_SCAN 16

/*
 * The entries whose head is h: [*lo, *hi), *lo being the first head >= h
 * and *hi the first head > h. Two steps of one line each (node.h): the group
 * heads find the group, a scan of its line finds lo. While that line comes
 * in, the lines of child slots and key offsets the caller reads next are
 * asked for beside it.
 */
static void head_range(const cairn_node *n, uint64_t h, uint32_t *lo_out, uint32_t *hi_out)
{
    uint32_t len = (n->n + CAIRN_NODE_GROUP - 1) / CAIRN_NODE_GROUP, lo = 0, at, hi, a, b;
    const uint64_t *base = n->tops;
    /* the groups whose first head is < h: a branch-free binary search */
    while (len > 1) {
        uint32_t half = len / 2;
        base = base[half - 1] < h ? base + half : base;
        len -= half;
    }
    len = (uint32_t)(base - n->tops) + (*base < h);
    at = len ? (len - 1) * CAIRN_NODE_GROUP : 0;
    if (n->swz)
        __builtin_prefetch(n->swz + at);
    __builtin_prefetch(n->offs + at);
    if (!n->level) {
        /* a leaf search ends comparing keys of this group or the next */
        uint32_t g = at / CAIRN_NODE_GROUP, groups = (n->n + CAIRN_NODE_GROUP - 1) / CAIRN_NODE_GROUP;
        const char *p = (const char *)n->keys + n->gofs[g];
        const char *end = (const char *)n->keys + n->gofs[CAIRN_MIN(g + 2, groups)];
        for (; p < end; p += 64)
            __builtin_prefetch(p);
    }
    if (len > 0) {
        /* heads[at] < h, and the next group's first head is >= h */
        const uint64_t *line = n->heads + at;
        uint32_t end = CAIRN_MIN(n->n - at, CAIRN_NODE_GROUP);
        lo = at + 1;
        for (uint32_t i = 1; i < end; i++)
            lo += line[i] < h;
    }
    /* heads[lo] >= h; at the start of a group it is in tops, already read */
    hi = lo;
    if (lo < n->n && (lo % CAIRN_NODE_GROUP ? n->heads[lo] : n->tops[lo / CAIRN_NODE_GROUP]) == h) {
        uint32_t next = (lo | (CAIRN_NODE_GROUP - 1)) + 1;
        if (next < n->n) {
            /* the run may go on in the next group */
            __builtin_prefetch(n->heads + next);
            __builtin_prefetch(n->offs + next);
            if (n->swz)
                __builtin_prefetch(n->swz + next);
        }
        do
            hi++;
        while (hi < n->n && hi - lo < RUN_SCAN && n->heads[hi] == h);
        if (hi < n->n && n->heads[hi] == h) {
            /* a long run: gallop, then search the last stride */
            a = hi + 1;
            b = n->n;
            for (uint32_t step = 1; hi + step < n->n; step *= 2) {
                if (n->heads[hi + step] > h) {
                    b = hi + step;
                    break;
                }
                a = hi + step + 1;
            }
            while (a < b) {
                uint32_t mid = a + (b - a) / 2;
                if (n->heads[mid] <= h)
                    a = mid + 1;
                else
                    b = mid;
            }
            hi = a;
        }
    }
    *lo_out = lo;
    *hi_out = hi;
}

/*
 * Narrows a search for key to the entries whose head equals key's: entries
 * before *lo are < key, entries from *hi on are > key; only [*lo, *hi) need
 * whole-key comparisons (none when key lies outside the shared prefix). The
 * key bytes of the first RUN_SCAN of those are asked for at once, so the
 * comparisons do not wait for them one after another.
 */
static void narrow(const cairn_node *n, const uint8_t *key, size_t len, uint32_t *lo_out, uint32_t *hi_out)
{
    int c = prefix_cmp(n, key, len < n->plen ? len : n->plen);
    if (c != 0 || len < n->plen) {
        /* key is outside the shared prefix: before every key, or after */
        *lo_out = *hi_out = (c > 0) ? n->n : 0;
        return;
    }
    head_range(n, head_of(key, n->plen, len), lo_out, hi_out);
    if (*hi_out - *lo_out > 1) {
        const char *p = (const char *)n->keys + n->offs[*lo_out];
        const char *end = (const char *)n->keys + n->offs[CAIRN_MIN(*hi_out, *lo_out + RUN_SCAN)];
        for (; p < end; p += 64)
            __builtin_prefetch(p);
    }
}

/* The first entry of [lo, hi) whose key is >= key (upper 0) or > key
 * (upper 1: then "compares < 1" means "compares <= 0"). */
static uint32_t key_search(const cairn_node *n, const void *key, size_t len, uint32_t lo, uint32_t hi, int upper)
{
    while (lo < hi) {
        uint32_t mid = lo + (hi - lo) / 2;
        if (cairn_key_cmp(n->keys + n->offs[mid], n->offs[mid + 1] - n->offs[mid], key, len) < upper)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

uint32_t cairn_node_lower_bound(const cairn_node *n, const void *key, size_t len)
{
    uint32_t lo, hi;
    narrow(n, key, len, &lo, &hi);
    return key_search(n, key, len, lo, hi, 0);
}

uint32_t cairn_node_upper_bound(const cairn_node *n, const void *key, size_t len)
{
    uint32_t lo, hi;
    narrow(n, key, len, &lo, &hi);
    return key_search(n, key, len, lo, hi, 1);
}

int cairn_node_child(cairn_node **out, cairn_nodecache *cache, const cairn_node *n, uint32_t i)
{
    const cairn_kid *k = &n->kids[i];
    cairn_node *c = NULL;
    int rc;
    assert(n->level > 0 && i < n->n);
    if (k->node) {
        *out = cairn_node_ref(k->node);
        return 0;
    }
    if (n->clean && cairn_epoch_enter()) {
        if ((c = cairn_node_swizzled(n, i)) != NULL && !cairn_node_try_ref(c))
            c = NULL;  /* evicted and unreferenced since: ask the cache */
        cairn_epoch_exit();
        if (c) {
            *out = c;
            return 0;
        }
    }
    /* the swizzled slots are the cache's fields of n, writable under its
     * rules even in a node nothing else may change (see node.h) */
    if ((rc = cairn_nodecache_get(out, cache, &k->addr)) == 0 && n->clean)
        cairn_nodecache__swizzle(cache, (cairn_node *)n, i, *out);
    return rc;
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
    size_t groups = ((size_t)n->n + CAIRN_NODE_GROUP - 1) / CAIRN_NODE_GROUP;
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
    /* the derived search fields too: recomputing them reads every key */
    memcpy(c->heads, n->heads, (size_t)n->n * sizeof *n->heads);
    memcpy(c->tops, n->tops, groups * sizeof *n->tops);
    memcpy(c->gofs, n->gofs, (groups + 1) * sizeof *n->gofs);
    memcpy(c->pfx, n->pfx, sizeof c->pfx);
    c->plen = n->plen;
    c->total = n->total;
    return c;
}
