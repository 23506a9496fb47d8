/*
 * Bulk build: a committed tree from keys in increasing order, with no
 * per-key insert. Each level keeps the entries of at most two nodes: `prev`, a
 * full node waiting to see whether it is the level's last, and `cur`, the node
 * being filled. Entries are appended to cur until the next one would take it
 * past the target fill; then prev is built, encoded into the store batch, and
 * its entry (first key, address, count) appended to the level above, and cur
 * becomes prev. At the end each level's prev and cur are cut again together
 * (cairn_node_pack), so the last node of a level is never a sliver: it and
 * its left neighbour share the remainder. The first level that made only one
 * node holds the root.
 *
 * Nodes are encoded as soon as they are complete, so memory stays at two
 * nodes per level plus whatever the caller lets the store batch collect. The
 * built nodes go to the cache too (the build already has them decoded).
 *
 * Rejected: building the whole tree in memory first and committing it (a
 * 10^7-key import would hold every node twice); inserting sorted batches (each
 * leaf would be rebuilt once per batch it meets).
 */
#include "index/btree.h"

#include "base/alloc.h"
#include "index/node.h"

typedef struct pending {
    size_t off;        /* key's offset in the level's key buffer */
    size_t len;        /* key bytes */
    uint64_t count;    /* branch: keys under the child */
    cairn_addr addr;   /* branch: the child's address */
} pending;

typedef struct level {
    cairn_buf keys;    /* key bytes of the pending entries */
    pending *v;        /* pending entries: prev's, then cur's */
    size_t n;          /* entries */
    size_t cap;        /* room in v */
    size_t prev_n;     /* entries [0, prev_n) are prev */
    size_t cur_weight; /* weight of entries [prev_n, n) */
    uint64_t emitted;  /* nodes this level has built */
} level;

struct cairn_btree_builder {
    cairn_nodecache *cache;        /* gets the built nodes */
    cairn_store_batch *batch;      /* gets their encodings */
    cairn_node_limits lim;         /* fill limits */
    uint32_t node_bytes;           /* opts, for the finished tree */
    uint32_t fill_pct;             /* opts, for the finished tree */
    int err;                       /* sticky error */
    uint64_t count;                /* keys added */
    unsigned nlevels;              /* levels with entries */
    level levels[CAIRN_BTREE_MAX_DEPTH];
    cairn_buf enc;                 /* encoding scratch */
    cairn_node_ent *ents;          /* scratch: entries of one node */
    size_t *cuts;                  /* scratch: pack's cuts */
    size_t scratch_cap;            /* room in ents and cuts */
};

int cairn_btree_builder_new(cairn_btree_builder **out, cairn_nodecache *cache, const cairn_btree_opts *opts,
                            cairn_store_batch *batch)
{
    cairn_btree_builder *b;
    uint32_t nb, fill;
    int rc;
    if ((rc = cairn_btree__opts_resolve(opts, &nb, &fill)) < 0)
        return rc;
    if (!(b = cairn_malloc(sizeof *b)))
        return CAIRN_ENOMEM;
    memset(b, 0, sizeof *b);
    b->cache = cache;
    b->batch = batch;
    b->node_bytes = nb;
    b->fill_pct = fill;
    cairn_node_limits_init(&b->lim, nb, fill);
    *out = b;
    return 0;
}

void cairn_btree_builder_free(cairn_btree_builder *b)
{
    if (!b)
        return;
    for (unsigned i = 0; i < CAIRN_BTREE_MAX_DEPTH; i++) {
        cairn_buf_dispose(&b->levels[i].keys);
        cairn_free(b->levels[i].v);
    }
    cairn_buf_dispose(&b->enc);
    cairn_free(b->ents);
    cairn_free(b->cuts);
    cairn_free(b);
}

static int scratch_reserve(cairn_btree_builder *b, size_t n)
{
    cairn_node_ent *e;
    size_t *c;
    if (n <= b->scratch_cap)
        return 0;
    n = n < 2 * b->scratch_cap ? 2 * b->scratch_cap : n;
    if (!(e = cairn_realloc(b->ents, cairn_mul_size(n, sizeof *e))))
        return CAIRN_ENOMEM;
    b->ents = e;
    if (!(c = cairn_realloc(b->cuts, cairn_mul_size(n, sizeof *c))))
        return CAIRN_ENOMEM;
    b->cuts = c;
    b->scratch_cap = n;
    return 0;
}

static int add_entry(cairn_btree_builder *b, unsigned lvl, const uint8_t *key, size_t len, uint64_t count,
                     const cairn_addr *addr);

/*
 * Builds the node of level lvl holding pending entries [from, to), encodes it
 * into the batch and, unless it is the root (root_out not NULL), passes its
 * entry up.
 */
static int make_node(cairn_btree_builder *b, unsigned lvl, size_t from, size_t to, cairn_node **root_out)
{
    level *L = &b->levels[lvl];
    cairn_node *node;
    size_t klen;
    const uint8_t *k;
    int rc;
    if ((rc = scratch_reserve(b, to - from)) < 0)
        return rc;
    for (size_t i = from; i < to; i++) {
        cairn_node_ent *e = &b->ents[i - from];
        e->key = (const uint8_t *)L->keys.ptr + L->v[i].off;
        e->len = L->v[i].len;
        e->count = L->v[i].count;
        e->node = NULL;
        e->addr = L->v[i].addr;
    }
    if (!(node = cairn_node_build(lvl, b->ents, to - from)))
        return CAIRN_ENOMEM;
    cairn_buf_clear(&b->enc);
    if ((rc = cairn_node_encode(&b->enc, node)) < 0 ||
        (rc = cairn_store_batch_add(b->batch, b->enc.ptr, b->enc.len, &node->addr)) < 0) {
        cairn_node_unref(node);
        return rc;
    }
    node->clean = 1;
    cairn_nodecache_put(b->cache, node);
    L->emitted++;
    if (root_out) {
        *root_out = node;
        return 0;
    }
    k = cairn_node_key(node, 0, &klen);
    rc = add_entry(b, lvl + 1, k, klen, node->total, &node->addr);
    cairn_node_unref(node);
    return rc;
}

/* Drops pending entries [0, k) of a level, keeping the rest in order. */
static void level_shift(level *L, size_t k)
{
    size_t cut = k < L->n ? L->v[k].off : L->keys.len;
    memmove(L->keys.ptr, L->keys.ptr + cut, L->keys.len - cut);
    L->keys.len -= cut;
    memmove(L->v, L->v + k, (L->n - k) * sizeof *L->v);
    L->n -= k;
    for (size_t i = 0; i < L->n; i++)
        L->v[i].off -= cut;
}

static int add_entry(cairn_btree_builder *b, unsigned lvl, const uint8_t *key, size_t len, uint64_t count,
                     const cairn_addr *addr)
{
    level *L;
    size_t w = cairn_node_entry_weight(lvl, len);
    int rc;
    if (lvl > CAIRN_NODE_LEVEL_MAX)
        return CAIRN_ELIMIT;
    L = &b->levels[lvl];
    if (lvl + 1 > b->nlevels)
        b->nlevels = lvl + 1;
    if (L->n > L->prev_n && L->cur_weight + w > b->lim.target) {
        /* cur is complete: prev is not the level's last node, build it */
        if (L->prev_n) {
            if ((rc = make_node(b, lvl, 0, L->prev_n, NULL)) < 0)
                return rc;
            level_shift(L, L->prev_n);
        }
        L->prev_n = L->n;
        L->cur_weight = 0;
    }
    if (L->n == L->cap) {
        size_t cap = L->cap ? 2 * L->cap : 64;
        pending *v = cairn_realloc(L->v, cairn_mul_size(cap, sizeof *v));
        if (!v)
            return CAIRN_ENOMEM;
        L->v = v;
        L->cap = cap;
    }
    L->v[L->n].off = L->keys.len;
    L->v[L->n].len = len;
    L->v[L->n].count = count;
    if (addr)
        L->v[L->n].addr = *addr;
    if (cairn_buf_put(&L->keys, key, len) < 0)
        return CAIRN_ENOMEM;
    L->n++;
    L->cur_weight += w;
    return 0;
}

int cairn_btree_builder_add(cairn_btree_builder *b, const void *key, size_t len)
{
    level *L = &b->levels[0];
    if (b->err)
        return b->err;
    if (len && !key)
        return b->err = CAIRN_EINVALID;
    if (len > b->lim.key_max)
        return b->err = CAIRN_ELIMIT;
    if (L->n) {
        const pending *last = &L->v[L->n - 1];
        if (cairn_key_cmp(L->keys.ptr + last->off, last->len, key, len) >= 0)
            return b->err = CAIRN_EINVALID;
    }
    if ((b->err = add_entry(b, 0, key, len, 1, NULL)) < 0)
        return b->err;
    b->count++;
    return 0;
}

/* Builds what a level still holds; sets *root_out if it is the root level. */
static int finish_level(cairn_btree_builder *b, unsigned lvl, cairn_node **root_out)
{
    level *L = &b->levels[lvl];
    size_t k, from = 0;
    int rc;
    if ((rc = scratch_reserve(b, L->n)) < 0)
        return rc;
    for (size_t i = 0; i < L->n; i++) {
        b->ents[i].key = (const uint8_t *)L->keys.ptr + L->v[i].off;
        b->ents[i].len = L->v[i].len;
    }
    k = cairn_node_pack(b->cuts, b->ents, L->n, lvl, &b->lim);
    if (k == 1 && L->emitted == 0)
        return make_node(b, lvl, 0, L->n, root_out);
    /* make_node overwrites ents and may move cuts, but keeps its contents:
     * nothing but this function packs */
    for (size_t p = 0; p < k; p++) {
        size_t to = b->cuts[p];
        if ((rc = make_node(b, lvl, from, to, NULL)) < 0)
            return rc;
        from = to;
    }
    L->n = 0;
    L->prev_n = 0;
    L->keys.len = 0;
    return 0;
}

int cairn_btree_builder_finish(cairn_btree *out, cairn_btree_builder *b)
{
    cairn_node *root = NULL;
    int rc;
    if (b->err)
        return b->err;
    for (unsigned lvl = 0; lvl < b->nlevels && !root; lvl++)
        if ((rc = finish_level(b, lvl, &root)) < 0)
            return b->err = rc;
    memset(out, 0, sizeof *out);
    out->cache = b->cache;
    out->root = root;
    out->count = b->count;
    out->depth = root ? root->level + 1u : 0;
    out->node_bytes = b->node_bytes;
    out->fill_pct = b->fill_pct;
    assert(!root || root->total == b->count);
    return 0;
}
