/*
 * Whole-tree passes: the invariant checker (tidwall's btree_sane, SQLite's
 * integrity_check) and the walk over every node address.
 *
 * The checker reads every node and checks what the rest of src/index
 * assumes, so a test that runs it after each change catches a broken
 * invariant at the change that broke it, not at a wrong answer much later.
 * For each committed node it reads the bytes the store holds under the
 * node's address (the store checks they hash to it) and compares them with
 * the node's encoding. Recomputing the address instead was the first
 * version, and it broke when the store began to compress frames: the frame,
 * hence the address, of one payload can differ between zstd versions and
 * when compression runs out of memory, so "the address a commit would give"
 * is not one value. Each node object is checked once: clean nodes never
 * change, so the node remembers that it passed (node.h), and checking a tree
 * after each small change reads only the nodes that change made.
 */
#include <inttypes.h>

#include "base/alloc.h"
#include "base/err.h"
#include "index/btree.h"
#include "index/node.h"

typedef struct check_ctx {
    const cairn_btree *t;        /* the tree */
    cairn_node_limits lim;       /* its fill limits */
    cairn_error *err;            /* where a finding goes (may be NULL) */
    cairn_buf last;              /* the last leaf key seen, in key order */
    int have_last;               /* last holds a key */
    cairn_buf enc;               /* encoding scratch */
} check_ctx;

static int fail(check_ctx *cx, const cairn_node *n, const char *what)
{
    char hex[2 * CAIRN_ADDR_LEN + 1] = "(in memory)";
    if (n && n->clean)
        cairn_addr_hex(hex, &n->addr);
    cairn_error_set(cx->err, CAIRN_ECORRUPT, ":index/check", "index check: %s (level %u node %s)", what,
                    n ? n->level : 0u, hex);
    return CAIRN_CORRUPT_BKPT;
}

/*
 * Checks that the store holds n under its address: the store verifies that
 * the stored frame hashes to the address, and the payload must be n's
 * encoding, byte for byte.
 */
static int check_stored(check_ctx *cx, const cairn_node *n)
{
    void *data = NULL;
    size_t len = 0;
    int rc;
    cairn_buf_clear(&cx->enc);
    if ((rc = cairn_node_encode(&cx->enc, n)) < 0)
        return rc;
    rc = cairn_store_get_node(cairn_nodecache_store(cx->t->cache), &n->addr, &data, &len);
    if (rc == CAIRN_ENOTFOUND || rc == CAIRN_ECORRUPT)
        return fail(cx, n, rc == CAIRN_ENOTFOUND ? "node missing from the store" : "stored node fails its hash");
    if (rc < 0)
        return rc;
    rc = len != cx->enc.len || memcmp(data, cx->enc.ptr, len) != 0;
    cairn_free(data);
    return rc ? fail(cx, n, "stored bytes differ from the node's encoding") : 0;
}

/* Layout and order inside one node. */
static int check_local(check_ctx *cx, const cairn_node *n, int is_root)
{
    size_t w = cairn_node_weight(n);
    if (n->n == 0 || n->offs[0] != 0 || n->offs[n->n] != n->key_bytes)
        return fail(cx, n, "bad key offsets");
    for (uint32_t i = 0; i < n->n; i++) {
        size_t alen, blen;
        const uint8_t *a, *b;
        if (n->offs[i + 1] < n->offs[i])
            return fail(cx, n, "bad key offsets");
        if (i == 0)
            continue;
        a = cairn_node_key(n, i - 1, &alen);
        b = cairn_node_key(n, i, &blen);
        if (cairn_key_cmp(a, alen, b, blen) >= 0)
            return fail(cx, n, "keys out of order");
    }
    for (uint32_t i = 0; i < n->n; i++) {
        size_t len;
        const uint8_t *k = cairn_node_key(n, i, &len);
        /* the search heads agree with the keys */
        if (cairn_node_lower_bound(n, k, len) != i || cairn_node_upper_bound(n, k, len) != i + 1)
            return fail(cx, n, "search heads disagree with the keys");
    }
    if (w > cx->lim.max)
        return fail(cx, n, "node over the fill maximum");
    if (!is_root && w < cx->lim.min)
        return fail(cx, n, "node under the fill minimum");
    if (is_root && n->level && n->n < 2)
        return fail(cx, n, "root branch with one child");
    return 0;
}

/* Leaf keys continue the order of the leaves before. */
static int check_leaf(check_ctx *cx, const cairn_node *n)
{
    size_t len;
    const uint8_t *k = cairn_node_key(n, 0, &len);
    if (cx->have_last && cairn_key_cmp(cx->last.ptr, cx->last.len, k, len) >= 0)
        return fail(cx, n, "leaf keys not after the previous leaf");
    k = cairn_node_key(n, n->n - 1, &len);
    cairn_buf_clear(&cx->last);
    if (cairn_buf_put(&cx->last, k, len) < 0)
        return CAIRN_ENOMEM;
    cx->have_last = 1;
    if (n->total != n->n)
        return fail(cx, n, "leaf count wrong");
    return 0;
}

static int check_node(check_ctx *cx, const cairn_node *n, unsigned level, int is_root)
{
    uint64_t sum = 0;
    int rc;
    if (n->level != level)
        return fail(cx, n, "node at the wrong level");
    if ((rc = check_local(cx, n, is_root)) < 0)
        return rc;
    if (n->clean) {
        for (uint32_t i = 0; n->level && i < n->n; i++)
            if (n->kids[i].node)
                return fail(cx, n, "clean node holds an in-memory child");
        if (!atomic_load_explicit(&((cairn_node *)n)->verified, memory_order_relaxed)) {
            if ((rc = check_stored(cx, n)) < 0)
                return rc;
            atomic_store_explicit(&((cairn_node *)n)->verified, 1, memory_order_relaxed);
        }
    }
    if (!n->level)
        return check_leaf(cx, n);
    for (uint32_t i = 0; i < n->n; i++) {
        cairn_node *c;
        size_t elen, flen;
        const uint8_t *e = cairn_node_key(n, i, &elen), *f;
        if ((rc = cairn_node_child(&c, cx->t->cache, n, i)) < 0)
            return rc;
        f = cairn_node_key(c, 0, &flen);
        if (c->level + 1u != n->level)
            rc = fail(cx, c, "child at the wrong level");
        else if (cairn_key_cmp(e, elen, f, flen) != 0)
            rc = fail(cx, n, "branch key differs from the child's first key");
        else if ((rc = check_node(cx, c, level - 1, 0)) == 0 && c->total != n->kids[i].count)
            rc = fail(cx, n, "branch count differs from the child's count");
        sum += c->total;
        cairn_node_unref(c);
        if (rc < 0)
            return rc;
    }
    if (sum != n->total)
        return fail(cx, n, "branch total differs from its children's");
    return 0;
}

int cairn_btree_check(const cairn_btree *t, cairn_error *err)
{
    check_ctx cx;
    int rc = 0;
    memset(&cx, 0, sizeof cx);
    cx.t = t;
    cx.err = err;
    cairn_node_limits_init(&cx.lim, t->node_bytes, t->fill_pct);
    if (!t->root) {
        if (t->count || t->depth)
            return fail(&cx, NULL, "empty tree with a count or depth");
        return 0;
    }
    if (t->depth != t->root->level + 1u || t->count != t->root->total)
        return fail(&cx, t->root, "tree count or depth differs from its root");
    rc = check_node(&cx, t->root, t->root->level, 1);
    cairn_buf_dispose(&cx.last);
    cairn_buf_dispose(&cx.enc);
    return rc;
}

/* ---- walk ------------------------------------------------------------------------ */

static int walk_node(const cairn_btree *t, const cairn_node *n, cairn_btree_walk_cb cb, void *payload)
{
    int rc = 0;
    for (uint32_t i = 0; i < n->n && rc == 0; i++) {
        cairn_node *c;
        rc = cb(&n->kids[i].addr, n->level - 1u, payload);
        if (rc == CAIRN_BTREE_WALK_SKIP) {
            rc = 0;
            continue;
        }
        if (rc != 0 || n->level == 1)
            continue;
        if ((rc = cairn_nodecache_get(&c, t->cache, &n->kids[i].addr)) < 0)
            break;
        rc = walk_node(t, c, cb, payload);
        cairn_node_unref(c);
    }
    return rc;
}

int cairn_btree_walk(const cairn_btree *t, cairn_btree_walk_cb cb, void *payload)
{
    int rc;
    if (!t->root)
        return 0;
    if (!t->root->clean)
        return CAIRN_EINVALID;
    rc = cb(&t->root->addr, t->root->level, payload);
    if (rc == CAIRN_BTREE_WALK_SKIP)
        return 0;
    if (rc != 0 || !t->root->level)
        return rc;
    return walk_node(t, t->root, cb, payload);
}
