/*
 * Changing trees: transients, batch apply, commit.
 *
 * A batch is sorted and deduplicated, then applied in one recursive pass: the
 * changes are split among the children of each branch by their first keys,
 * every touched leaf is rebuilt once by merging its keys with its changes (or,
 * for up to 64 changes that leave it one node, by splicing them in between
 * runs of untouched keys copied whole: batch apply of 1000 random keys into
 * 10^6 went from 181-188k to 288-301k keys/s, and single-entity
 * transactions on the memory store from ~10k to 16-18k tx/s at 16 threads), and
 * each touched branch is rebuilt once from its untouched entries and the new
 * pieces its touched children came back as. A piece lighter than the fill
 * minimum is merged with a sibling (and cut again if the pair is too heavy),
 * a node heavier than the maximum is cut into pieces (node.c proves both always
 * land within the limits), and a root that split grows a new root above it,
 * while a root branch left with one child gives way to that child. A branch
 * left with a single child that is too light counts as too light itself, so
 * its parent merges it with a sibling and the child finds siblings again
 * (must_merge); without that, small nodes could hide under one-child
 * branches, which the model tests found.
 *
 * The vectors of entries each level of the recursion needs live in the
 * transient and are reused from node to node and batch to batch: allocating
 * and freeing a node's worth of entries for every touched node cost 45% of a
 * batch of 1000 random inserts (33.6 ms to 18.7 ms per batch on 10^6 keys).
 *
 * No existing node is ever modified: every change builds new nodes and
 * references the untouched children of the old ones. That is path copying in
 * its plainest form, and it buys two properties the database relies on: a
 * failed apply (out of memory, an unreadable node) leaves the transient
 * exactly as it was, so one failing transaction in a group commit does not
 * poison the others; and any tree value persisted earlier stays valid in
 * other threads with no locking. Rejected: editing nodes in place when their
 * reference count shows them exclusive to the transient (tidwall/btree,
 * Clojure transients). It saves a copy of each touched node when one
 * transient takes many small batches, but makes a failure leave a half-applied
 * tree, and batches are the hot path here, where each node is rebuilt once per
 * batch anyway.
 *
 * Commit encodes the dirty nodes bottom-up into the caller's store batch. It
 * builds clean copies rather than marking the dirty nodes clean in place: if
 * the batch is never written (the database commit fails later), the dirty tree
 * must still know those nodes are not in the store.
 */
#include "index/btree.h"

#include "base/alloc.h"
#include "base/par.h"
#include "index/node.h"

/* ---- entry vectors ---------------------------------------------------------- */

typedef struct entvec {
    cairn_node_ent *v;  /* entries */
    size_t n;           /* used */
    size_t cap;         /* allocated */
} entvec;

static int entvec_reserve(entvec *e, size_t extra)
{
    size_t cap;
    cairn_node_ent *v;
    if (e->n + extra <= e->cap)
        return 0;
    cap = e->cap ? e->cap : 16;
    while (cap < e->n + extra)
        cap *= 2;
    v = cairn_realloc(e->v, cairn_mul_size(cap, sizeof *v));
    if (!v)
        return CAIRN_ENOMEM;
    e->v = v;
    e->cap = cap;
    return 0;
}

/* Empties the vector, dropping the node references its entries own. */
static void entvec_drop(entvec *e)
{
    for (size_t i = 0; i < e->n; i++)
        cairn_node_unref(e->v[i].node);
    e->n = 0;
}

/* Frees the vector, dropping the node references its entries own. */
static void entvec_release(entvec *e)
{
    entvec_drop(e);
    cairn_free(e->v);
    memset(e, 0, sizeof *e);
}

/* Frees the vector only (entries borrow their nodes). */
static void entvec_dispose(entvec *e)
{
    cairn_free(e->v);
    memset(e, 0, sizeof *e);
}

/*
 * Vectors one level of the recursion needs, kept in the transient so a batch
 * reuses them from leaf to leaf and from batch to batch instead of allocating
 * and freeing a node's worth of entries for each touched node.
 */
typedef struct level_scratch {
    entvec ents;    /* apply_branch: the node's new entries */
    entvec fresh;   /* apply_branch: new children it owns until it is built */
    entvec seq;     /* merge_pair: the entries of two merged siblings */
} level_scratch;

struct cairn_btree_transient {
    cairn_btree tree;             /* the current state (holds the root) */
    cairn_node_limits lim;        /* fill limits from the tree's opts */
    cairn_btree_change *sorted;   /* scratch: the batch, sorted */
    cairn_btree_change *tmp;      /* scratch: the merge sort's other half */
    size_t cap;                   /* entries in each scratch array */
    entvec merged;                /* scratch: apply_leaf's merged keys */
    size_t *cuts;                 /* scratch for cairn_node_pack */
    size_t cuts_cap;              /* entries in cuts */
    level_scratch lv[CAIRN_NODE_LEVEL_MAX + 1];  /* scratch per level */
};

/* ---- applying a batch ---------------------------------------------------------- */

typedef struct apply_ctx {
    cairn_nodecache *cache;           /* for children not in memory */
    const cairn_node_limits *lim;     /* fill limits */
    const cairn_btree_change *ops;    /* the batch, sorted, one change per key */
    uint64_t added;                   /* keys inserted so far */
    uint64_t removed;                 /* keys deleted so far */
    cairn_btree_transient *tt;        /* owner of the scratch vectors */
} apply_ctx;

/* Cuts e[0..n) into new nodes of level, appended to out as owned entries. */
static int emit(apply_ctx *cx, unsigned level, const cairn_node_ent *e, size_t n, entvec *out)
{
    size_t k, from = 0;
    cairn_btree_transient *tt = cx->tt;
    if (n > tt->cuts_cap) {
        size_t *c = cairn_realloc(tt->cuts, cairn_mul_size(n, sizeof *c));
        if (!c)
            return CAIRN_ENOMEM;
        tt->cuts = c;
        tt->cuts_cap = n;
    }
    k = cairn_node_pack(tt->cuts, e, n, level, cx->lim);
    if (entvec_reserve(out, k) < 0)
        return CAIRN_ENOMEM;
    for (size_t p = 0; p < k; p++) {
        cairn_node_ent x;
        cairn_node *node = cairn_node_build(level, e + from, tt->cuts[p] - from);
        if (!node)
            return CAIRN_ENOMEM;
        cairn_node_ent_child(&x, node);
        out->v[out->n++] = x;
        from = tt->cuts[p];
    }
    return 0;
}

static int apply_node(apply_ctx *cx, cairn_node *node, size_t lo, size_t hi, entvec *out);
static int fix_underflow(apply_ctx *cx, unsigned level, entvec *ents, entvec *fresh);

/*
 * A few changes to a leaf that stays one node: found by search and spliced
 * in (cairn_node_splice_leaf), instead of merging every key of the leaf. A
 * one-entity transaction changes a handful of keys per leaf it touches, and
 * rebuilding those leaves key by key was most of a small transaction's time.
 * Returns 1 (changed, the new leaf appended to out), 0 (nothing changed),
 * CAIRN_ENOMEM, or 2 when the result does not fit one node (the caller
 * merges instead).
 */
#define SPLICE_MAX 64
static int splice_leaf(apply_ctx *cx, cairn_node *leaf, size_t lo, size_t hi, entvec *out)
{
    cairn_node_edit ed[SPLICE_MAX];
    size_t k = 0, bytes = leaf->key_bytes;
    uint64_t added = 0, removed = 0;
    uint32_t n;
    cairn_node *node;
    for (size_t j = lo; j < hi; j++) {
        const cairn_btree_change *op = &cx->ops[j];
        uint32_t pos = cairn_node_lower_bound(leaf, op->key, op->len);
        size_t len = 0;
        const uint8_t *at = pos < leaf->n ? cairn_node_key(leaf, pos, &len) : NULL;
        int found = at && cairn_key_cmp(at, len, op->key, op->len) == 0;
        if (op->op == CAIRN_BTREE_DELETE) {
            if (!found)
                continue;
            ed[k].pos = pos;
            ed[k].del = 1;
            ed[k].key = NULL;
            ed[k++].len = 0;
            bytes -= len;
            removed++;
        } else {
            if (found)
                continue;
            ed[k].pos = pos;
            ed[k].del = 0;
            ed[k].key = op->key;
            ed[k++].len = op->len;
            bytes += op->len;
            added++;
        }
    }
    if (!k)
        return 0;
    n = (uint32_t)(leaf->n + added - removed);
    if (n && bytes + (size_t)n * CAIRN_NODE_LEAF_OVERHEAD > cx->lim->max)
        return 2;
    if (n) {
        cairn_node_ent x;
        if (entvec_reserve(out, 1) < 0 || !(node = cairn_node_splice_leaf(leaf, ed, k, n, bytes)))
            return CAIRN_ENOMEM;
        cairn_node_ent_child(&x, node);
        out->v[out->n++] = x;
    }
    cx->added += added;
    cx->removed += removed;
    return 1;
}

/* Merges leaf's keys (leaf may be NULL: the empty tree) with ops[lo..hi). */
static int apply_leaf(apply_ctx *cx, cairn_node *leaf, size_t lo, size_t hi, entvec *out)
{
    uint32_t n = leaf ? leaf->n : 0, i = 0;
    size_t j = lo;
    entvec *merged = &cx->tt->merged;
    cairn_node_ent x = { 0 };
    int changed = 0, rc;
    if (leaf && hi - lo <= SPLICE_MAX && (rc = splice_leaf(cx, leaf, lo, hi, out)) != 2)
        return rc;
    merged->n = 0;
    if ((rc = entvec_reserve(merged, n + (hi - lo))) < 0)
        return rc;
    while (i < n || j < hi) {
        const cairn_btree_change *op = j < hi ? &cx->ops[j] : NULL;
        int cmp;
        if (i < n)
            x.key = cairn_node_key(leaf, i, &x.len);
        cmp = i == n ? 1 : !op ? -1 : cairn_key_cmp(x.key, x.len, op->key, op->len);
        if (cmp < 0) {
            merged->v[merged->n++] = x;
            i++;
            continue;
        }
        if (cmp == 0) {
            if (op->op == CAIRN_BTREE_DELETE) {
                cx->removed++;
                changed = 1;
            } else {
                merged->v[merged->n++] = x;
            }
            i++;
        } else if (op->op == CAIRN_BTREE_INSERT) {
            x.key = op->key;
            x.len = op->len;
            merged->v[merged->n++] = x;
            cx->added++;
            changed = 1;
        }
        j++;
    }
    rc = changed;
    if (changed && merged->n)
        rc = emit(cx, 0, merged->v, merged->n, out) < 0 ? CAIRN_ENOMEM : 1;
    return rc;
}

/* The node an entry points at, as a new reference. */
static int ent_node(cairn_node **out, apply_ctx *cx, const cairn_node_ent *e)
{
    if (e->node) {
        *out = cairn_node_ref(e->node);
        return 0;
    }
    return cairn_nodecache_get(out, cx->cache, &e->addr);
}

/*
 * Merges ents->v[a] and ents->v[a + 1] (children of level) into one or two
 * new nodes, owned by fresh, that replace them in ents.
 */
static int merge_pair(apply_ctx *cx, unsigned level, entvec *ents, size_t a, entvec *fresh)
{
    cairn_node *l = NULL, *r = NULL;
    entvec *seq = &cx->tt->lv[level].seq;
    size_t mark, m;
    int rc;
    seq->n = 0;
    if ((rc = ent_node(&l, cx, &ents->v[a])) < 0 || (rc = ent_node(&r, cx, &ents->v[a + 1])) < 0)
        goto done;
    if ((rc = entvec_reserve(seq, (size_t)l->n + r->n)) < 0)
        goto done;
    for (uint32_t i = 0; i < l->n; i++)
        cairn_node_ent_of(&seq->v[seq->n++], l, i);
    for (uint32_t i = 0; i < r->n; i++)
        cairn_node_ent_of(&seq->v[seq->n++], r, i);
    /* l's last child and r's first become siblings: a child left alone
     * under the minimum (its parent had no other) can merge now */
    if (level && (rc = fix_underflow(cx, level - 1u, seq, fresh)) < 0)
        goto done;
    mark = fresh->n;
    if ((rc = emit(cx, level, seq->v, seq->n, fresh)) < 0)
        goto done;
    m = fresh->n - mark;  /* 1 or 2 pieces replace 2 entries */
    if ((rc = entvec_reserve(ents, m)) < 0)
        goto done;
    memmove(&ents->v[a + m], &ents->v[a + 2], (ents->n - a - 2) * sizeof *ents->v);
    memcpy(&ents->v[a], &fresh->v[mark], m * sizeof *ents->v);
    ents->n = ents->n + m - 2;
done:
    seq->n = 0;
    cairn_node_unref(l);
    cairn_node_unref(r);
    return rc;
}

/*
 * Whether a new node must merge with a sibling: it is under the fill
 * minimum, or it is a branch whose only child must. The second case hides an
 * underfull node from its grandparent (a one-entry branch can outweigh the
 * minimum on its own); merging the branch with a sibling gives the child
 * siblings again (merge_pair). Clean nodes always meet the minimum: only
 * checked trees are committed.
 */
static int must_merge(const apply_ctx *cx, const cairn_node *n)
{
    while (n && !n->clean) {
        if (cairn_node_weight(n) < cx->lim->min)
            return 1;
        if (n->level == 0 || n->n > 1)
            return 0;
        n = n->kids[0].node;
    }
    return 0;
}

/*
 * Restores the fill minimum among the children in ents (of level): a new
 * child that must merge is merged with its right sibling (left, for the last
 * one) until none is left or only one child remains.
 */
static int fix_underflow(apply_ctx *cx, unsigned level, entvec *ents, entvec *fresh)
{
    size_t k = 0;
    int rc;
    while (k < ents->n && ents->n > 1) {
        size_t a;
        if (!must_merge(cx, ents->v[k].node)) {
            k++;
            continue;
        }
        a = k + 1 < ents->n ? k : k - 1;
        if ((rc = merge_pair(cx, level, ents, a, fresh)) < 0)
            return rc;
        k = a;
    }
    return 0;
}

/* Applies ops[lo..hi) below branch node. */
static int apply_branch(apply_ctx *cx, cairn_node *node, size_t lo, size_t hi, entvec *out)
{
    level_scratch *ls = &cx->tt->lv[node->level];
    entvec *ents = &ls->ents, *fresh = &ls->fresh;
    uint32_t next = 0;  /* first child not yet copied to ents */
    size_t j = lo;
    int changed = 0, rc;
    assert(ents->n == 0 && fresh->n == 0);
    if ((rc = entvec_reserve(ents, node->n)) < 0)
        return rc;
    while (j < hi) {
        const cairn_btree_change *op = &cx->ops[j];
        uint32_t c = cairn_node_upper_bound(node, op->key, op->len);
        size_t end = hi, mark = fresh->n;
        cairn_node *child;
        c = c ? c - 1 : 0;
        if (c + 1 < node->n) {
            /* the first change at or after the next child's first key */
            size_t klen, a = j, b = hi;
            const uint8_t *k = cairn_node_key(node, c + 1, &klen);
            while (a < b) {
                size_t mid = a + (b - a) / 2;
                if (cairn_key_cmp(cx->ops[mid].key, cx->ops[mid].len, k, klen) < 0)
                    a = mid + 1;
                else
                    b = mid;
            }
            end = a;
        }
        for (; next < c; next++)
            cairn_node_ent_of(&ents->v[ents->n++], node, next);
        if ((rc = cairn_node_child(&child, cx->cache, node, c)) < 0)
            goto done;
        rc = apply_node(cx, child, j, end, fresh);
        cairn_node_unref(child);
        if (rc < 0)
            goto done;
        if (rc == 0) {
            cairn_node_ent_of(&ents->v[ents->n++], node, c);
        } else {
            changed = 1;
            /* room for the pieces and every old entry still to come */
            if ((rc = entvec_reserve(ents, fresh->n - mark + (node->n - c - 1))) < 0)
                goto done;
            if (fresh->n > mark)
                memcpy(&ents->v[ents->n], &fresh->v[mark], (fresh->n - mark) * sizeof *ents->v);
            ents->n += fresh->n - mark;
        }
        next = c + 1;
        j = end;
    }
    if (!changed) {
        rc = 0;
        goto done;
    }
    if ((rc = entvec_reserve(ents, node->n - next)) < 0)
        goto done;
    for (; next < node->n; next++)
        cairn_node_ent_of(&ents->v[ents->n++], node, next);
    if ((rc = fix_underflow(cx, node->level - 1u, ents, fresh)) < 0)
        goto done;
    rc = 1;
    if (ents->n && emit(cx, node->level, ents->v, ents->n, out) < 0)
        rc = CAIRN_ENOMEM;
done:
    ents->n = 0;
    entvec_drop(fresh);
    return rc;
}

/*
 * Applies ops[lo..hi) to the subtree at node. Returns 0 when nothing changed,
 * 1 when the subtree is replaced by the pieces appended to out (owned; none
 * when it became empty), or an error (out may then hold some pieces).
 */
static int apply_node(apply_ctx *cx, cairn_node *node, size_t lo, size_t hi, entvec *out)
{
    if (!node || node->level == 0)
        return apply_leaf(cx, node, lo, hi, out);
    return apply_branch(cx, node, lo, hi, out);
}

/*
 * Turns the pieces of the old root (owned, at level) into the new root:
 * grows levels while there is more than one piece, and lets a root branch
 * with a single child give way to it.
 */
static int finish_root(apply_ctx *cx, unsigned level, entvec *pieces, cairn_node **root_out)
{
    cairn_node *root, *child;
    int rc;
    while (pieces->n > 1) {
        entvec up = { 0 };
        if (level + 1 > CAIRN_NODE_LEVEL_MAX)
            return CAIRN_ELIMIT;
        rc = emit(cx, level + 1, pieces->v, pieces->n, &up);
        entvec_release(pieces);
        *pieces = up;
        if (rc < 0)
            return rc;
        level++;
    }
    if (pieces->n == 0) {
        *root_out = NULL;
        return 0;
    }
    root = pieces->v[0].node;
    pieces->n = 0;
    while (root->level && root->n == 1) {
        rc = cairn_node_child(&child, cx->cache, root, 0);
        cairn_node_unref(root);
        if (rc < 0)
            return rc;
        root = child;
    }
    *root_out = root;
    return 0;
}

/* ---- sorting a batch ----------------------------------------------------------- */

static int change_cmp(const cairn_btree_change *a, const cairn_btree_change *b)
{
    return cairn_key_cmp(a->key, a->len, b->key, b->len);
}

/* Stable merge sort of v[0..n) using tmp[0..n). */
static void sort_changes(cairn_btree_change *v, cairn_btree_change *tmp, size_t n)
{
    size_t mid = n / 2, i = 0, j = mid, k = 0;
    if (n < 16) {
        for (size_t a = 1; a < n; a++) {
            cairn_btree_change x = v[a];
            size_t b = a;
            for (; b > 0 && change_cmp(&v[b - 1], &x) > 0; b--)
                v[b] = v[b - 1];
            v[b] = x;
        }
        return;
    }
    sort_changes(v, tmp, mid);
    sort_changes(v + mid, tmp, n - mid);
    if (change_cmp(&v[mid - 1], &v[mid]) <= 0)
        return;  /* already in order: common for datoms of one entity */
    while (i < mid && j < n)
        tmp[k++] = change_cmp(&v[j], &v[i]) < 0 ? v[j++] : v[i++];
    while (i < mid)
        tmp[k++] = v[i++];
    memcpy(v, tmp, k * sizeof *v);
}

/* Sorts changes into tt's scratch, keeping the last change of each key. */
static int prepare(cairn_btree_transient *tt, const cairn_btree_change *changes, size_t n, size_t *m_out)
{
    size_t m = 0;
    if (n > tt->cap) {
        cairn_btree_change *a = cairn_malloc(cairn_mul_size(n, sizeof *a));
        cairn_btree_change *b = cairn_malloc(cairn_mul_size(n, sizeof *b));
        if (!a || !b) {
            cairn_free(a);
            cairn_free(b);
            return CAIRN_ENOMEM;
        }
        cairn_free(tt->sorted);
        cairn_free(tt->tmp);
        tt->sorted = a;
        tt->tmp = b;
        tt->cap = n;
    }
    memcpy(tt->sorted, changes, n * sizeof *changes);
    sort_changes(tt->sorted, tt->tmp, n);
    for (size_t i = 0; i < n; i++) {
        if (i + 1 < n && change_cmp(&tt->sorted[i], &tt->sorted[i + 1]) == 0)
            continue;  /* a later change to the same key wins */
        tt->sorted[m++] = tt->sorted[i];
    }
    *m_out = m;
    return 0;
}

/* ---- transients -------------------------------------------------------------------- */

int cairn_btree_transient_new(cairn_btree_transient **out, const cairn_btree *base)
{
    cairn_btree_transient *tt = cairn_malloc(sizeof *tt);
    if (!tt)
        return CAIRN_ENOMEM;
    memset(tt, 0, sizeof *tt);
    cairn_btree_copy(&tt->tree, base);
    cairn_node_limits_init(&tt->lim, base->node_bytes, base->fill_pct);
    *out = tt;
    return 0;
}

void cairn_btree_transient_free(cairn_btree_transient *tt)
{
    if (!tt)
        return;
    cairn_btree_dispose(&tt->tree);
    cairn_free(tt->sorted);
    cairn_free(tt->tmp);
    cairn_free(tt->cuts);
    entvec_dispose(&tt->merged);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(tt->lv); i++) {
        entvec_dispose(&tt->lv[i].ents);
        entvec_dispose(&tt->lv[i].fresh);
        entvec_dispose(&tt->lv[i].seq);
    }
    cairn_free(tt);
}

const cairn_btree *cairn_btree_transient_tree(const cairn_btree_transient *tt)
{
    return &tt->tree;
}

void cairn_btree_transient_persist(cairn_btree *out, const cairn_btree_transient *tt)
{
    cairn_btree_copy(out, &tt->tree);
}

/* Checks ops and key lengths, and order when the caller says sorted. */
static int validate(const cairn_btree_transient *tt, const cairn_btree_change *c, size_t n, unsigned flags)
{
    for (size_t i = 0; i < n; i++) {
        if (c[i].op != CAIRN_BTREE_INSERT && c[i].op != CAIRN_BTREE_DELETE)
            return CAIRN_EINVALID;
        if ((c[i].len && !c[i].key) || (c[i].op == CAIRN_BTREE_INSERT && c[i].len > tt->lim.key_max))
            return c[i].len > tt->lim.key_max ? CAIRN_ELIMIT : CAIRN_EINVALID;
        if ((flags & CAIRN_BTREE_SORTED) && i > 0 && change_cmp(&c[i - 1], &c[i]) >= 0)
            return CAIRN_EINVALID;
    }
    return 0;
}

int cairn_btree_transient_apply(cairn_btree_transient *tt, const cairn_btree_change *changes, size_t n,
                                unsigned flags, size_t *changed_out)
{
    apply_ctx cx;
    entvec pieces = { 0 };
    cairn_node *root = NULL, *old = tt->tree.root;
    size_t m = n;
    int rc;
    if (changed_out)
        *changed_out = 0;
    if ((rc = validate(tt, changes, n, flags)) < 0 || n == 0)
        return rc;
    memset(&cx, 0, sizeof cx);
    cx.cache = tt->tree.cache;
    cx.lim = &tt->lim;
    cx.ops = changes;
    cx.tt = tt;
    if (!(flags & CAIRN_BTREE_SORTED)) {
        if ((rc = prepare(tt, changes, n, &m)) < 0)
            return rc;
        cx.ops = tt->sorted;
    }
    rc = apply_node(&cx, old, 0, m, &pieces);
    if (rc > 0)
        rc = finish_root(&cx, old ? old->level : 0, &pieces, &root);
    entvec_release(&pieces);
    if (rc < 0)
        return rc;
    if (cx.added + cx.removed == 0)
        return 0;
    tt->tree.root = root;
    tt->tree.count = tt->tree.count + cx.added - cx.removed;
    tt->tree.depth = root ? root->level + 1u : 0;
    assert(!root || root->total == tt->tree.count);
    cairn_node_unref(old);
    if (changed_out)
        *changed_out = (size_t)(cx.added + cx.removed);
    return 0;
}

static int apply_one(cairn_btree_transient *tt, const void *key, size_t len, int op)
{
    cairn_btree_change c = { key, len, op };
    size_t changed = 0;
    int rc = cairn_btree_transient_apply(tt, &c, 1, CAIRN_BTREE_SORTED, &changed);
    return rc < 0 ? rc : changed != 0;
}

int cairn_btree_transient_insert(cairn_btree_transient *tt, const void *key, size_t len)
{
    return apply_one(tt, key, len, CAIRN_BTREE_INSERT);
}

int cairn_btree_transient_delete(cairn_btree_transient *tt, const void *key, size_t len)
{
    return apply_one(tt, key, len, CAIRN_BTREE_DELETE);
}

/* ---- commit -------------------------------------------------------------------------- */

/*
 * Framing a leaf (encode, zstd, SHA-256) is most of a commit's time, and
 * leaves depend on nothing but their keys, so a commit with many dirty
 * leaves frames them first on several threads, in the order commit_node will
 * meet them, and commit_node then takes each leaf's frame instead of making
 * it. Branches (about one per fifty leaves) wait for their children's
 * addresses and are framed as before. Bulk load of the benchmark's 100k
 * people, 1000 per transaction: the 26 flushes framed 28,700 leaves, 596 ms
 * of the 1.93 s in one thread.
 */
#define PREFRAME_MIN 16 /* dirty leaves below which threads cost more than they save */

typedef struct preframed {
    cairn_node **leaves;    /* the dirty leaves, in commit order */
    uint8_t **frames;       /* their frames (owned until taken), NULL where none */
    size_t *lens;           /* frame lengths */
    cairn_addr *addrs;      /* frame addresses */
    size_t n;               /* leaves */
    size_t cap;             /* room */
    size_t next;            /* the next leaf commit_node takes */
} preframed;

static void preframed_dispose(preframed *p)
{
    for (size_t i = p->next; p->frames && i < p->n; i++)
        cairn_free(p->frames[i]);
    cairn_free(p->leaves);
    cairn_free(p->frames);
    cairn_free(p->lens);
    cairn_free(p->addrs);
}

/* Appends the dirty leaves under n, in commit_node's order. */
static int collect_leaves(preframed *p, cairn_node *n)
{
    int rc;
    if (n->clean)
        return 0;
    if (n->level) {
        for (uint32_t i = 0; i < n->n; i++)
            if (n->kids[i].node && (rc = collect_leaves(p, n->kids[i].node)) < 0)
                return rc;
        return 0;
    }
    if (p->n == p->cap) {
        size_t cap = p->cap ? p->cap * 2 : 64;
        cairn_node **v = cairn_realloc(p->leaves, cairn_mul_size(cap, sizeof *v));
        if (!v)
            return CAIRN_ENOMEM;
        p->leaves = v;
        p->cap = cap;
    }
    p->leaves[p->n++] = n;
    return 0;
}

static int frame_job(void *ctx, size_t i)
{
    preframed *p = ctx;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = cairn_node_encode(&b, p->leaves[i]);
    if (rc == 0)
        rc = cairn_store_frame_node(&p->frames[i], &p->lens[i], &p->addrs[i], b.ptr, b.len);
    cairn_buf_dispose(&b);
    return rc;
}

/* Frames the dirty leaves of trees[0..n) ahead, when there are enough. */
static int preframe(preframed *p, const cairn_btree *trees, size_t n)
{
    unsigned threads = CAIRN_MIN(cairn_cpu_count(), 4);
    int rc;
    memset(p, 0, sizeof *p);
    if (threads < 2)
        return 0;
    for (size_t t = 0; t < n; t++)
        if (trees[t].root && (rc = collect_leaves(p, trees[t].root)) < 0)
            return rc;
    if (p->n < PREFRAME_MIN) {
        p->n = 0;
        return 0;
    }
    if ((p->frames = cairn_malloc(cairn_mul_size(p->n, sizeof *p->frames))) != NULL)
        memset(p->frames, 0, p->n * sizeof *p->frames);
    p->lens = cairn_malloc(cairn_mul_size(p->n, sizeof *p->lens));
    p->addrs = cairn_malloc(cairn_mul_size(p->n, sizeof *p->addrs));
    if (!p->frames || !p->lens || !p->addrs)
        return CAIRN_ENOMEM;
    return cairn_parallel_for(threads, p->n, frame_job, p, NULL);
}

typedef struct commit_ctx {
    cairn_nodecache *cache;     /* gets the new clean nodes */
    cairn_store_batch *batch;   /* gets their encodings */
    cairn_buf buf;              /* encoding scratch */
    preframed *pre;             /* leaves framed ahead, or NULL */
} commit_ctx;

/* Adds the clean copy c of n to the batch, framed ahead or here. */
static int commit_frame(commit_ctx *cx, const cairn_node *n, cairn_node *c)
{
    preframed *p = cx->pre;
    int rc;
    if (p && p->next < p->n && p->leaves[p->next] == n) {
        uint8_t *frame = p->frames[p->next];
        p->frames[p->next] = NULL;
        c->addr = p->addrs[p->next];
        return cairn_store_batch_add_frame(cx->batch, frame, p->lens[p->next++], &c->addr);
    }
    cairn_buf_clear(&cx->buf);
    if ((rc = cairn_node_encode(&cx->buf, c)) < 0)
        return rc;
    return cairn_store_batch_add(cx->batch, cx->buf.ptr, cx->buf.len, &c->addr);
}

/* The clean version of n (a new reference): n itself, or an encoded copy. */
static int commit_node(commit_ctx *cx, cairn_node *n, cairn_node **out)
{
    cairn_node *c, *k;
    int rc;
    if (n->clean) {
        *out = cairn_node_ref(n);
        return 0;
    }
    if (!(c = cairn_node_clone_clean(n)))
        return CAIRN_ENOMEM;
    for (uint32_t i = 0; n->level && i < n->n; i++) {
        if (!n->kids[i].node)
            continue;
        if ((rc = commit_node(cx, n->kids[i].node, &k)) < 0)
            goto fail;
        c->kids[i].addr = k->addr;
        cairn_node_unref(k);
    }
    if ((rc = commit_frame(cx, n, c)) < 0)
        goto fail;
    c->clean = 1;
    cairn_nodecache_put(cx->cache, c);
    *out = c;
    return 0;
fail:
    cairn_node_unref(c);
    return rc;
}

int cairn_btree_commit_many(cairn_btree *out, const cairn_btree *trees, size_t n, cairn_store_batch *batch)
{
    preframed pre;
    size_t done = 0;
    int rc = preframe(&pre, trees, n);
    for (; rc == 0 && done < n; done++) {
        const cairn_btree *t = &trees[done];
        commit_ctx cx = { t->cache, batch, CAIRN_BUF_INIT, &pre };
        cairn_node *root;
        if (!t->root || t->root->clean) {
            cairn_btree_copy(&out[done], t);
            continue;
        }
        rc = commit_node(&cx, t->root, &root);
        cairn_buf_dispose(&cx.buf);
        if (rc < 0)
            break;
        out[done] = *t;
        out[done].root = root;
    }
    preframed_dispose(&pre);
    if (rc < 0)
        while (done > 0)
            cairn_btree_dispose(&out[--done]);
    return rc;
}

int cairn_btree_commit(cairn_btree *out, const cairn_btree *t, cairn_store_batch *batch)
{
    return cairn_btree_commit_many(out, t, 1, batch);
}

int cairn_btree_transient_commit(cairn_btree *out, cairn_btree_transient *tt, cairn_store_batch *batch)
{
    cairn_btree done;
    int rc = cairn_btree_commit(&done, &tt->tree, batch);
    if (rc < 0)
        return rc;
    cairn_btree_dispose(&tt->tree);
    cairn_btree_copy(&tt->tree, &done);
    *out = done;
    return 0;
}
