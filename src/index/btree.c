/*
 * Tree values and everything that reads them: membership, range counts and
 * iterators. Changes live in edit.c, bulk loads in build.c, the checker and
 * walks in check.c, nodes in node.c, bytes in codec.c.
 *
 * A tree is a B+tree: keys live in leaves; a branch entry holds a child's
 * address, its first key and its subtree count. Every search, count and scan
 * here is one pattern: a position in key order is described as the set of
 * keys that lie before it (a monotone predicate over sorted keys), a binary
 * search in each node finds how many entries lie before it, and the descent
 * goes into the child that starts last before the position. Ranks add up the
 * subtree counts of the children passed over, which is what makes range
 * counts O(depth * log fanout).
 *
 * Nodes are reached through the cache by address unless a dirty parent holds
 * them in memory (node.h), or the cache has swizzled them into their clean
 * parent (cache.c): lookups and counts then descend by pointer inside an
 * epoch section, taking no reference and no lock (step_down). The root is
 * held by the tree value, so an open tree reads only its root, and a lookup
 * only its path.
 *
 * NODE SIZE. node_bytes bounds a node's decoded weight (key bytes + 4 per
 * key, + 36 per branch entry); the index's encoding is about half that
 * (prefix compression) and the store's zstd frame smaller again. The
 * default, 8 KiB, was chosen by measurement: bench/index_bench.c, EAVT datom
 * keys of 33 to 40 bytes, :mem store, one core, CPU time (the machine was
 * shared, load 10 on 2 cores, so elapsed time measured the scheduler);
 * `build/rel/bench/index_bench --keys N --node-bytes B --quick`, 3 runs at
 * 10^6 keys and 2 at 10^7, interleaved, best run shown (medians within 10%):
 *
 *   node size                        4 KiB     8 KiB    16 KiB    32 KiB
 *   10^6 keys: depth                     4         3         3         3
 *     bulk build, M keys/s             6.1       7.8       8.7       9.8
 *     cached lookup, ns               1030      1170      1250       890
 *     cached lookup in key order, ns   417       350       313       311
 *     cold lookup, us                 12.6      19.2      32.2      52.2
 *     scan (batches), M keys/s         223       335       478       572
 *     insert batch of 1000 + commit,
 *       k keys/s                        49        39        26        18
 *   10^7 keys: depth                     4         4         3         3
 *     bulk build, M keys/s             5.8       7.4       8.6       9.5
 *     cached lookup, ns               2270      2040      1910      1920
 *     cached lookup in key order, ns   923       802       661       566
 *     cold lookup, us                 13.9      26.7      32.7      57.1
 *     scan (batches), M keys/s         167       250       366       494
 *     scan (next), M keys/s            115       146       176       194
 *     insert batch of 1000 + commit,
 *       k keys/s                        29        25        19        13
 *   bytes per key, index encoding     23.0      22.7      22.5      22.4
 *   bytes per key, zstd frames         5.7       4.5       3.8       3.3
 *
 * Batched random inserts, the transaction path, rewrite each touched leaf
 * whole (copy, encode, compress, hash), so they favour small nodes; cached
 * lookups cost about the same at every size (4 KiB needs an extra level);
 * scans and bulk builds favour big nodes but run far above any need at every
 * size; cold reads favour small nodes; big nodes compress better. 8 KiB
 * gives up 7% of lookup speed and 16% of disk to 16 KiB for 1.3 to 1.5 times
 * the insert throughput, and writes half the bytes per touched leaf
 * (Datahike's 512-way nodes of ~40-byte keys would be ~20 KiB). The price is
 * a 2012-byte key limit by default; trees for longer keys take bigger nodes.
 *
 * At 10^7 keys a cached lookup misses the CPU caches on nearly every line it
 * touches: on the test machine (a KVM guest) a dependent random read costs
 * 300 ns at 32 MB and 700 to 950 ns at 512 MB. The search heads and
 * prefetching of node.c and CLOCK in the cache exist to touch fewer such
 * lines (before them a cached lookup took 7.5 us at 10^6 keys and 16 KiB
 * nodes, in elapsed time on the loaded machine; 1 to 2 us after, same way).
 *
 * Then swizzled child pointers (cache.c) took the cache's table, lock and
 * reference counts off the descent, and the two-step node search (node.h)
 * made the misses within a node overlap. Cached random lookups at 10^7 keys
 * and 8 KiB nodes went from 1.57-1.70 us to 0.90-1.08 us, and in key order
 * from 435-467 ns to 222-248 ns, with the old and the new code taking turns
 * (`index_bench --keys 10000000`, CPU time, load 1.4 to 3.2 with other
 * work; unloaded, the old code measured 1.25-1.33 us); at 10^6 keys from
 * 1.02-1.06 us to 0.58-0.59 us. The price is 5% more bytes per decoded
 * node (475 to 498 MB at 10^7 keys: group heads and offsets, heads on
 * whole lines, a pointer per child in branches). The table above predates
 * both. What is left is memory: two waits in each node below the root (its
 * header with the group heads; then a line of heads with the swizzled
 * pointer, or in a leaf the offsets and keys, it leads to), three when a
 * run of equal heads crosses into the next group; in the leaf and often the
 * branch above it each wait is a TLB miss on a random page of 500 MB (a
 * page walk, nested in the guest) and a DRAM access, and a dependent random
 * read over 512 MB measured 170 to 270 ns in CPU time. perf puts most
 * samples on the first touch of each node's lines.
 */
#include "index/btree.h"

#include "base/alloc.h"
#include "index/epoch.h"
#include "index/node.h"

const cairn_addr CAIRN_BTREE_EMPTY_ROOT = { { 0 } };

/* ---- tree values ----------------------------------------------------------- */

int cairn_btree__opts_resolve(const cairn_btree_opts *opts, uint32_t *node_bytes_out, uint32_t *fill_pct_out)
{
    uint32_t nb = CAIRN_BTREE_NODE_BYTES_DEFAULT, fill = CAIRN_BTREE_FILL_DEFAULT;
    if (opts) {
        if (opts->version != CAIRN_BTREE_OPTS_VERSION)
            return CAIRN_EINVALID;
        if (opts->node_bytes)
            nb = opts->node_bytes;
        if (opts->fill_pct)
            fill = opts->fill_pct;
    }
    if (nb < CAIRN_BTREE_NODE_BYTES_MIN || nb > CAIRN_BTREE_NODE_BYTES_MAX || fill < 70 || fill > 100)
        return CAIRN_EINVALID;
    *node_bytes_out = nb;
    *fill_pct_out = fill;
    return 0;
}

void cairn_btree_init(cairn_btree *out, cairn_nodecache *cache, const cairn_btree_opts *opts)
{
    memset(out, 0, sizeof *out);
    out->cache = cache;
    if (cairn_btree__opts_resolve(opts, &out->node_bytes, &out->fill_pct) < 0) {
        assert(0 && "bad cairn_btree_opts");
        out->node_bytes = CAIRN_BTREE_NODE_BYTES_DEFAULT;
        out->fill_pct = CAIRN_BTREE_FILL_DEFAULT;
    }
}

int cairn_btree_open(cairn_btree *out, cairn_nodecache *cache, const cairn_addr *root,
                     const cairn_btree_opts *opts)
{
    cairn_btree t;
    int rc;
    memset(&t, 0, sizeof t);
    t.cache = cache;
    if ((rc = cairn_btree__opts_resolve(opts, &t.node_bytes, &t.fill_pct)) < 0)
        return rc;
    if (root && !cairn_addr_equal(root, &CAIRN_BTREE_EMPTY_ROOT)) {
        if ((rc = cairn_nodecache_get(&t.root, cache, root)) < 0)
            return rc;
        t.count = t.root->total;
        t.depth = t.root->level + 1u;
    }
    *out = t;
    return 0;
}

void cairn_btree_copy(cairn_btree *out, const cairn_btree *t)
{
    *out = *t;
    if (out->root)
        cairn_node_ref(out->root);
}

void cairn_btree_dispose(cairn_btree *t)
{
    if (!t)
        return;
    cairn_node_unref(t->root);
    t->root = NULL;
    t->count = 0;
    t->depth = 0;
}

int cairn_btree_is_committed(const cairn_btree *t)
{
    return !t->root || t->root->clean;
}

int cairn_btree_root(cairn_addr *out, const cairn_btree *t)
{
    if (!cairn_btree_is_committed(t))
        return CAIRN_EINVALID;
    *out = t->root ? t->root->addr : CAIRN_BTREE_EMPTY_ROOT;
    return 0;
}

static size_t dirty_bytes(const cairn_node *n)
{
    size_t sum;
    if (!n || n->clean)
        return 0;
    sum = n->mem_len;
    if (n->level)
        for (uint32_t i = 0; i < n->n; i++)
            sum += dirty_bytes(n->kids[i].node);
    return sum;
}

size_t cairn_btree_dirty_bytes(const cairn_btree *t)
{
    return dirty_bytes(t->root);
}

size_t cairn_btree_key_max(const cairn_btree *t)
{
    return t->node_bytes / 4 - CAIRN_NODE_BRANCH_OVERHEAD;
}

/*
 * One step of a descent inside an epoch section (fast: it is open): *n
 * becomes its child i, swizzled (borrowed) or read through the cache (a new
 * reference, which replaces the one in *held).
 */
static int step_down(cairn_node **n, cairn_node **held, const cairn_btree *t, uint32_t i, int fast)
{
    cairn_node *c = fast ? cairn_node_swizzled(*n, i) : NULL;
    int rc;
    if (!c) {
        if ((rc = cairn_node_child(&c, t->cache, *n, i)) < 0)
            return rc;
        cairn_node_unref(*held);
        *held = c;
    }
    *n = c;
    return 0;
}

int cairn_btree_contains(const cairn_btree *t, const void *key, size_t len)
{
    cairn_node *n = t->root, *held = NULL;
    int rc = 0, fast;
    uint32_t i;
    if (!n)
        return 0;
    fast = cairn_epoch_enter();
    while (n->level) {
        i = cairn_node_upper_bound(n, key, len);
        if (i == 0)
            goto done;  /* before the tree's first key */
        if ((rc = step_down(&n, &held, t, i - 1, fast)) < 0)
            goto done;
    }
    i = cairn_node_lower_bound(n, key, len);
    if (i < n->n) {
        size_t klen;
        const uint8_t *k = cairn_node_key(n, i, &klen);
        rc = cairn_key_cmp(k, klen, key, len) == 0;
    }
done:
    cairn_node_unref(held);
    if (fast)
        cairn_epoch_exit();
    return rc;
}

/* ---- positions ---------------------------------------------------------------- */

/* A cut in key order, as which keys lie before it. */
enum { BEFORE_NONE, BEFORE_ALL, BEFORE_LT, BEFORE_LE, BEFORE_PFX };

typedef struct cut {
    const uint8_t *key;  /* the cut's key (borrowed) */
    size_t len;          /* bytes in key */
    int mode;            /* BEFORE_*: keys < key, <= key, <= key's prefix range */
} cut;

/* A position: keys before cut a, and (both) or (!both) before cut b. */
typedef struct pos_pred {
    cut a;     /* first cut */
    cut b;     /* second cut */
    int both;  /* 1: before both cuts; 0: before either */
} pos_pred;

static int cut_before(const cut *c, const uint8_t *k, size_t klen)
{
    size_t m;
    switch (c->mode) {
    case BEFORE_NONE:
        return 0;
    case BEFORE_ALL:
        return 1;
    case BEFORE_LT:
        return cairn_key_cmp(k, klen, c->key, c->len) < 0;
    case BEFORE_LE:
        return cairn_key_cmp(k, klen, c->key, c->len) <= 0;
    default:
        m = klen < c->len ? klen : c->len;
        return m == 0 || memcmp(k, c->key, m) <= 0;
    }
}

/* Entries of n before cut c. */
static uint32_t cut_partition(const cairn_node *n, const cut *c)
{
    uint32_t lo = 0, hi = n->n;
    switch (c->mode) {
    case BEFORE_NONE:
        return 0;
    case BEFORE_ALL:
        return n->n;
    case BEFORE_LT:
        return cairn_node_lower_bound(n, c->key, c->len);
    case BEFORE_LE:
        return cairn_node_upper_bound(n, c->key, c->len);
    default:
        while (lo < hi) {
            uint32_t mid = lo + (hi - lo) / 2;
            if (cut_before(c, n->keys + n->offs[mid], n->offs[mid + 1] - n->offs[mid]))
                lo = mid + 1;
            else
                hi = mid;
        }
        return lo;
    }
}

/*
 * Entries of n that lie before the position. Each cut's "before" set is a
 * prefix of the sorted entries, so "before both" is the shorter of the two
 * prefixes and "before either" the longer.
 */
static uint32_t partition(const cairn_node *n, const pos_pred *p)
{
    uint32_t a = cut_partition(n, &p->a), b = cut_partition(n, &p->b);
    return p->both ? CAIRN_MIN(a, b) : CAIRN_MAX(a, b);
}

/* The keys before a range's lower bound. */
static cut lo_cut(const cairn_btree_bound *b)
{
    cut c = { b->key, b->len, BEFORE_NONE };
    if (b->kind == CAIRN_BOUND_INCL || b->kind == CAIRN_BOUND_PREFIX)
        c.mode = BEFORE_LT;
    else if (b->kind == CAIRN_BOUND_EXCL)
        c.mode = BEFORE_LE;
    return c;
}

/* The keys not past a range's upper bound. */
static cut hi_cut(const cairn_btree_bound *b)
{
    cut c = { b->key, b->len, BEFORE_ALL };
    if (b->kind == CAIRN_BOUND_INCL)
        c.mode = BEFORE_LE;
    else if (b->kind == CAIRN_BOUND_EXCL)
        c.mode = BEFORE_LT;
    else if (b->kind == CAIRN_BOUND_PREFIX)
        c.mode = BEFORE_PFX;
    return c;
}

static pos_pred pred_one(cut c)
{
    pos_pred p = { c, { NULL, 0, BEFORE_NONE }, 0 };
    return p;
}

/* Keys of t before the position. */
static int rank(uint64_t *out, const cairn_btree *t, const pos_pred *p)
{
    cairn_node *n = t->root, *held = NULL;
    uint64_t sum = 0;
    int rc = 0, fast;
    if (!n) {
        *out = 0;
        return 0;
    }
    fast = cairn_epoch_enter();
    while (n->level) {
        uint32_t c = partition(n, p);
        if (c == 0)
            goto done;
        for (uint32_t i = 0; i + 1 < c; i++)
            sum += n->kids[i].count;
        if ((rc = step_down(&n, &held, t, c - 1, fast)) < 0)
            goto done;
    }
    sum += partition(n, p);
done:
    cairn_node_unref(held);
    if (fast)
        cairn_epoch_exit();
    *out = sum;
    return rc;
}

int cairn_btree_count_range(uint64_t *out, const cairn_btree *t, const cairn_btree_range *r)
{
    uint64_t lo = 0, hi = t->count;
    pos_pred p;
    int rc;
    if (r && r->lo.kind != CAIRN_BOUND_NONE) {
        p = pred_one(lo_cut(&r->lo));
        if ((rc = rank(&lo, t, &p)) < 0)
            return rc;
    }
    if (r && r->hi.kind != CAIRN_BOUND_NONE) {
        p = pred_one(hi_cut(&r->hi));
        if ((rc = rank(&hi, t, &p)) < 0)
            return rc;
    }
    *out = hi > lo ? hi - lo : 0;
    return 0;
}

/* ---- iterators ----------------------------------------------------------------
 *
 * The path holds a reference to each node from the root to the current leaf.
 * In a branch, pos is the child on the path. In the leaf, a forward iterator's
 * pos is the next key to return and limit the first key past the upper bound;
 * a reverse iterator returns key pos - 1 next and stops at limit, the number
 * of keys before the lower bound. Moving to the next leaf first looks at the
 * next child's first key in its parent, so a scan that ends at a leaf boundary
 * never reads the leaf after it.
 */

enum { IT_FRESH = 0, IT_ON = 1, IT_DONE = 2 };

void cairn_btree_iter_init(cairn_btree_iter *it, const cairn_btree *t, const cairn_btree_range *r,
                           unsigned flags)
{
    cairn_btree_range all = CAIRN_BTREE_RANGE_ALL;
    it->tree = t;
    it->range = r ? *r : all;
    it->flags = flags;
    it->state = IT_FRESH;
    it->depth = 0;
    it->limit = 0;
}

static void path_release(cairn_btree_iter *it)
{
    for (uint32_t i = 0; i < it->depth; i++)
        cairn_node_unref(it->path[i].node);
    it->depth = 0;
}

void cairn_btree_iter_dispose(cairn_btree_iter *it)
{
    path_release(it);
    it->state = IT_DONE;
}

static int reverse(const cairn_btree_iter *it)
{
    return (it->flags & CAIRN_BTREE_REVERSE) != 0;
}

/* Sets limit for the leaf now at the end of the path. */
static void leaf_limit(cairn_btree_iter *it)
{
    const cairn_node *leaf = it->path[it->depth - 1].node;
    size_t len;
    const uint8_t *k;
    if (!reverse(it)) {
        cut c = hi_cut(&it->range.hi);
        pos_pred p = pred_one(c);
        k = cairn_node_key(leaf, leaf->n - 1, &len);
        it->limit = cut_before(&c, k, len) ? leaf->n : partition(leaf, &p);
    } else {
        cut c = lo_cut(&it->range.lo);
        pos_pred p = pred_one(c);
        k = cairn_node_key(leaf, 0, &len);
        it->limit = cut_before(&c, k, len) ? partition(leaf, &p) : 0;
    }
}

/*
 * Descends from the root to the position p: forward, to the child starting
 * last before it; reverse, to the child holding the last key before it.
 */
static int descend(cairn_btree_iter *it, const pos_pred *p)
{
    const cairn_btree *t = it->tree;
    cairn_node *n;
    int rc;
    path_release(it);
    if (!t->root) {
        it->state = IT_DONE;
        return 0;
    }
    n = cairn_node_ref(t->root);
    for (;;) {
        uint32_t c = partition(n, p);
        it->path[it->depth].node = n;
        it->depth++;
        if (!n->level) {
            it->path[it->depth - 1].pos = c;
            break;
        }
        if (c == 0 && reverse(it)) {
            it->state = IT_DONE;  /* every key lies after the position */
            return 0;
        }
        it->path[it->depth - 1].pos = c ? c - 1 : 0;
        if ((rc = cairn_node_child(&n, t->cache, n, c ? c - 1 : 0)) < 0)
            return it->state = rc;
    }
    leaf_limit(it);
    it->state = IT_ON;
    return 0;
}

/* Positions a fresh iterator at the start of its range. */
static int start(cairn_btree_iter *it)
{
    pos_pred p = reverse(it) ? pred_one(hi_cut(&it->range.hi)) : pred_one(lo_cut(&it->range.lo));
    return descend(it, &p);
}

int cairn_btree_iter_seek(cairn_btree_iter *it, const void *key, size_t len)
{
    pos_pred p;
    if (it->state < 0)
        return it->state;
    if (!reverse(it)) {
        cut c = { key, len, BEFORE_LT };
        p.a = lo_cut(&it->range.lo);
        p.b = c;
        p.both = 0;
    } else {
        cut c = { key, len, BEFORE_LE };
        p.a = hi_cut(&it->range.hi);
        p.b = c;
        p.both = 1;
    }
    return descend(it, &p);
}

/*
 * Moves the path to the next (or previous) leaf. Returns 1 when there is one
 * within the range, 0 at the end, or a read error.
 */
static int step_leaf(cairn_btree_iter *it)
{
    int rev = reverse(it), found = 0, rc;
    uint32_t l = it->depth - 1;  /* the leaf's place in the path */
    while (!found && l > 0) {
        cairn_node *n = it->path[--l].node;
        uint32_t pos = it->path[l].pos;
        size_t klen;
        const uint8_t *k;
        if (!rev && pos + 1 < n->n) {
            cut c = hi_cut(&it->range.hi);
            k = cairn_node_key(n, pos + 1, &klen);
            if (!cut_before(&c, k, klen))
                return 0;  /* the next subtree starts past the range */
            it->path[l].pos = pos + 1;
            found = 1;
        } else if (rev && pos > 0) {
            cut c = lo_cut(&it->range.lo);
            k = cairn_node_key(n, pos, &klen);
            if (c.mode != BEFORE_NONE && cairn_key_cmp(k, klen, c.key, c.len) <= 0)
                return 0;  /* everything before this subtree is below the range */
            it->path[l].pos = pos - 1;
            found = 1;
        }
    }
    if (!found)
        return 0;
    for (l = l + 1; l < it->depth; l++) {
        cairn_node *parent = it->path[l - 1].node, *child;
        if ((rc = cairn_node_child(&child, it->tree->cache, parent, it->path[l - 1].pos)) < 0)
            return rc;
        cairn_node_unref(it->path[l].node);
        it->path[l].node = child;
        it->path[l].pos = rev ? (child->level ? child->n - 1 : child->n) : 0;
    }
    leaf_limit(it);
    return 1;
}

/* Makes sure the current leaf has a key to return; 1, 0 at the end, or an error. */
static int ready(cairn_btree_iter *it)
{
    int rc;
    if (it->state == IT_FRESH && (rc = start(it)) < 0)
        return rc;
    for (;;) {
        const cairn_node *leaf;
        uint32_t pos;
        if (it->state != IT_ON)
            return it->state == IT_DONE ? 0 : it->state;
        leaf = it->path[it->depth - 1].node;
        pos = it->path[it->depth - 1].pos;
        if (!reverse(it) ? pos < it->limit : pos > it->limit)
            return 1;
        if (!reverse(it) ? it->limit < leaf->n : it->limit > 0)
            it->state = IT_DONE;  /* the range ends inside this leaf */
        else if ((rc = step_leaf(it)) <= 0)
            it->state = rc < 0 ? rc : IT_DONE;
    }
}

int cairn_btree_iter_next(cairn_btree_iter *it, cairn_btree_key *key_out)
{
    int rc = ready(it);
    cairn_node *leaf;
    uint32_t *pos;
    if (rc <= 0)
        return rc;
    leaf = it->path[it->depth - 1].node;
    pos = &it->path[it->depth - 1].pos;
    if (!reverse(it))
        key_out->data = cairn_node_key(leaf, (*pos)++, &key_out->len);
    else
        key_out->data = cairn_node_key(leaf, --(*pos), &key_out->len);
    return 1;
}

int cairn_btree_iter_next_batch(cairn_btree_iter *it, cairn_btree_key *keys, size_t max)
{
    int rc = ready(it);
    cairn_node *leaf;
    uint32_t pos, n = 0;
    if (rc <= 0)
        return rc;
    leaf = it->path[it->depth - 1].node;
    pos = it->path[it->depth - 1].pos;
    if (!reverse(it)) {
        for (; pos < it->limit && n < max; pos++, n++) {
            keys[n].data = leaf->keys + leaf->offs[pos];
            keys[n].len = leaf->offs[pos + 1] - leaf->offs[pos];
        }
    } else {
        for (; pos > it->limit && n < max; n++) {
            pos--;
            keys[n].data = leaf->keys + leaf->offs[pos];
            keys[n].len = leaf->offs[pos + 1] - leaf->offs[pos];
        }
    }
    it->path[it->depth - 1].pos = pos;
    return (int)n;
}
