/*
 * The index: a persistent copy-on-write B+tree that is a SET OF BYTE KEYS
 * in memcmp order (DESIGN.md section 5). There are no values: a datom is
 * entirely in its key, and EAVT, AEVT, AVET and their history twins are all
 * instances of this one tree.
 *
 * Pieces, and who uses them:
 *
 *   cairn_nodecache   one per open store: decoded nodes under a byte bound
 *                     (CLOCK eviction, an LRU approximation), shared by
 *                     every thread and tree value (cache.h)
 *   cairn_btree       an immutable tree value: a referenced root node plus
 *                     count and depth. Readable from any number of threads.
 *                     Committed (every node in the store, root address
 *                     known) or not (some nodes only in memory, e.g. the
 *                     db-after of a transaction whose group has not been
 *                     committed yet).
 *   cairn_btree_transient
 *                     a mutable handle for one writer: insert, delete and
 *                     batch apply copy the paths they touch and leave every
 *                     node they did not create alone; persist hands out
 *                     immutable values; commit encodes the new nodes into a
 *                     caller's store batch.
 *   cairn_btree_builder
 *                     bulk load from sorted keys, leaves filled directly.
 *   cairn_btree_iter  forward or reverse scans of a key range, with
 *                     borrowed keys, batches of keys, and seeks.
 *
 * Ownership and threads: a cairn_btree struct is a small value that holds a
 * reference to its root; copy it with cairn_btree_copy and drop it with
 * cairn_btree_dispose. Reading functions take `const cairn_btree *` and may
 * run in many threads on the same tree at once. The cache must outlive every
 * tree, transient, builder and iterator made with it.
 *
 * The empty tree has no node: its depth and count are 0, and its root address
 * is the all-zero address (CAIRN_BTREE_EMPTY_ROOT), which commit returns and
 * open accepts.
 *
 * Errors: functions that may read nodes return CAIRN_ENOTFOUND (a node is
 * missing from the store), CAIRN_ECORRUPT, CAIRN_EIO or CAIRN_ENOMEM as
 * well as what they document.
 */
#ifndef CAIRN_INDEX_BTREE_H
#define CAIRN_INDEX_BTREE_H

#include "base/common.h"
#include "index/cache.h"
#include "store/store.h"

#define CAIRN_BTREE_MAX_DEPTH 32              /* levels; far beyond any real tree */
#define CAIRN_BTREE_NODE_BYTES_DEFAULT 8192   /* chosen by measurement, see btree.c */
#define CAIRN_BTREE_NODE_BYTES_MIN 256
#define CAIRN_BTREE_NODE_BYTES_MAX 262144
#define CAIRN_BTREE_FILL_DEFAULT 90           /* percent, see cairn_btree_opts */

/* ------------------------------------------------------------------------ */
/* Tree values                                                              */
/* ------------------------------------------------------------------------ */

/**
 * Shape of a tree. Not stored in the nodes: the database records it with its
 * other settings and passes it to every open. A tree opened with other
 * limits than it was built with reads correctly; only its fill differs.
 */
typedef struct cairn_btree_opts {
    unsigned version;     /* CAIRN_BTREE_OPTS_VERSION */
    uint32_t node_bytes;  /* heaviest node, in decoded bytes (key bytes + 4 per
                             key, + 32 per child in branches); 0 = default */
    uint32_t fill_pct;    /* fill of nodes made from many new keys at once
                             (bulk build, large batches), 70..100; 0 = default */
} cairn_btree_opts;

#define CAIRN_BTREE_OPTS_VERSION 1
#define CAIRN_BTREE_OPTS_INIT { CAIRN_BTREE_OPTS_VERSION, 0, 0 }

typedef struct cairn_btree {
    cairn_nodecache *cache;    /* where clean nodes are loaded from (borrowed) */
    cairn_node *root;          /* a reference; NULL for the empty tree */
    uint64_t count;            /* keys in the tree */
    uint32_t depth;            /* levels: 0 empty, 1 the root is a leaf */
    uint32_t node_bytes;       /* heaviest node (from the opts) */
    uint32_t fill_pct;         /* fill of nodes made in bulk (from the opts) */
} cairn_btree;

extern const cairn_addr CAIRN_BTREE_EMPTY_ROOT;  /* all zero */

/** An empty tree reading through cache. opts may be NULL. Cannot fail. */
void cairn_btree_init(cairn_btree *out, cairn_nodecache *cache, const cairn_btree_opts *opts);

/**
 * Opens the committed tree whose root node is at root (CAIRN_BTREE_EMPTY_ROOT:
 * the empty tree). Reads the root node and nothing else. opts may be NULL.
 * @return 0, CAIRN_EINVALID (bad opts), or a read error.
 */
int cairn_btree_open(cairn_btree *out, cairn_nodecache *cache, const cairn_addr *root,
                     const cairn_btree_opts *opts);

/** out becomes another holder of t (one reference more). Cannot fail. */
void cairn_btree_copy(cairn_btree *out, const cairn_btree *t);

/** Drops t's reference; t becomes the empty tree. NULL-safe. */
void cairn_btree_dispose(cairn_btree *t);

static inline uint64_t cairn_btree_count(const cairn_btree *t) { return t->count; }
static inline uint32_t cairn_btree_depth(const cairn_btree *t) { return t->depth; }

/** 1 when every node of t is in the store (so cairn_btree_root works). */
int cairn_btree_is_committed(const cairn_btree *t);

/** t's root address. @return 0, or CAIRN_EINVALID when t is not committed. */
int cairn_btree_root(cairn_addr *out, const cairn_btree *t);
/** Bytes of the tree's nodes not yet committed (held only in memory). */
size_t cairn_btree_dirty_bytes(const cairn_btree *t);

/* Checks opts (NULL: defaults) and gives the limits they mean. 0 or
 * CAIRN_EINVALID. */
int cairn_btree__opts_resolve(const cairn_btree_opts *opts, uint32_t *node_bytes_out, uint32_t *fill_pct_out);

/** Longest key t accepts: node_bytes / 4 - 36 (2012 bytes by default). */
size_t cairn_btree_key_max(const cairn_btree *t);

/** @return 1 when key is in t, 0 when not, or a negative read error. */
int cairn_btree_contains(const cairn_btree *t, const void *key, size_t len);

/* ------------------------------------------------------------------------ */
/* Ranges, counts, iteration                                                */
/* ------------------------------------------------------------------------ */

typedef enum cairn_btree_bound_kind {
    CAIRN_BOUND_NONE = 0,  /* unbounded */
    CAIRN_BOUND_INCL,      /* includes the key */
    CAIRN_BOUND_EXCL,      /* excludes the key */
    CAIRN_BOUND_PREFIX     /* as an upper bound: includes every key that starts
                              with these bytes; as a lower bound: same as INCL */
} cairn_btree_bound_kind;

typedef struct cairn_btree_bound {
    const void *key;   /* borrowed; must stay valid while the range is in use */
    size_t len;        /* bytes in key */
    int kind;          /* cairn_btree_bound_kind */
} cairn_btree_bound;

/** The keys k with lo <= k <= hi (or <, per bound kind). */
typedef struct cairn_btree_range {
    cairn_btree_bound lo;  /* lower bound */
    cairn_btree_bound hi;  /* upper bound */
} cairn_btree_range;

#define CAIRN_BTREE_RANGE_ALL { { NULL, 0, CAIRN_BOUND_NONE }, { NULL, 0, CAIRN_BOUND_NONE } }

/** The keys starting with prefix[0..len). */
static inline cairn_btree_range cairn_btree_range_prefix(const void *prefix, size_t len)
{
    cairn_btree_range r = { { prefix, len, CAIRN_BOUND_INCL }, { prefix, len, CAIRN_BOUND_PREFIX } };
    return r;
}

/**
 * Counts the keys of t in range r in O(depth * log(fanout)) from the subtree
 * counts kept in branch nodes: it reads at most the two root-to-leaf paths of
 * the range's ends. r NULL counts everything. This is the query planner's
 * cardinality estimate, and it is exact.
 */
int cairn_btree_count_range(uint64_t *out, const cairn_btree *t, const cairn_btree_range *r);

#define CAIRN_BTREE_REVERSE 1u  /* iterate from the high end down */

/** A key handed out by an iterator: borrowed, see the iterator functions. */
typedef struct cairn_btree_key {
    const uint8_t *data;   /* the key bytes */
    size_t len;            /* bytes */
} cairn_btree_key;

/**
 * An iterator over a range of a tree. It holds a reference to every node on
 * its current path, so it stays valid when the cache evicts them; the tree
 * value and the range's key bytes are borrowed and must outlive it. One
 * iterator belongs to one thread; any number may read one tree at once.
 */
typedef struct cairn_btree_iter {
    const cairn_btree *tree;      /* borrowed */
    cairn_btree_range range;      /* bounds (key bytes borrowed) */
    unsigned flags;               /* CAIRN_BTREE_REVERSE */
    int state;                    /* internal: 0 unpositioned, 1 positioned, 2 done, <0 error */
    uint32_t depth;               /* nodes on the path */
    uint32_t limit;               /* leaf index where the range stops (forward: first
                                     past hi; reverse: last before lo, plus one) */
    struct {
        cairn_node *node;         /* a reference */
        uint32_t pos;             /* branch: child on the path; leaf: see btree.c */
    } path[CAIRN_BTREE_MAX_DEPTH];
} cairn_btree_iter;

/** Sets it up over range r of t (NULL: everything); nothing is read yet. */
void cairn_btree_iter_init(cairn_btree_iter *it, const cairn_btree *t, const cairn_btree_range *r,
                           unsigned flags);

/**
 * The next key in iteration order. key_out stays valid until the next call
 * on it (or dispose).
 * @return 1 with a key, 0 at the end of the range, or a negative read error
 * (which then sticks).
 */
int cairn_btree_iter_next(cairn_btree_iter *it, cairn_btree_key *key_out);

/**
 * Up to max (>= 1) next keys, all from the current leaf, for scans that want
 * to work in batches; the keys stay valid until the next call on it.
 * @return the number of keys (0 at the end) or a negative read error.
 */
int cairn_btree_iter_next_batch(cairn_btree_iter *it, cairn_btree_key *keys, size_t max);

/**
 * Repositions it: a forward iterator then returns the first key >= key, a
 * reverse one the last key <= key, always within the range.
 * @return 0 or a read error.
 */
int cairn_btree_iter_seek(cairn_btree_iter *it, const void *key, size_t len);

/** Releases the nodes the iterator holds. It may be initialised again. */
void cairn_btree_iter_dispose(cairn_btree_iter *it);

/* ------------------------------------------------------------------------ */
/* Changes: transients                                                      */
/* ------------------------------------------------------------------------ */

typedef enum cairn_btree_op { CAIRN_BTREE_INSERT = 1, CAIRN_BTREE_DELETE = 2 } cairn_btree_op;

typedef struct cairn_btree_change {
    const void *key;   /* borrowed for the call */
    size_t len;        /* bytes in key */
    int op;            /* cairn_btree_op */
} cairn_btree_change;

#define CAIRN_BTREE_SORTED 1u  /* apply: changes are strictly increasing by key */

typedef struct cairn_btree_transient cairn_btree_transient;

/**
 * A transient tree starting from base (which it shares and never changes).
 * @return 0 or CAIRN_ENOMEM.
 */
int cairn_btree_transient_new(cairn_btree_transient **out, const cairn_btree *base);

/**
 * Applies a batch of changes in one pass over the tree: each leaf and branch
 * that changes is rebuilt once. Without CAIRN_BTREE_SORTED the changes are
 * sorted first, and when a key appears more than once the last change wins.
 * Inserting a present key and deleting an absent one change nothing.
 * changed_out (may be NULL) gets the number of keys actually added or removed.
 * On failure the transient is exactly as before the call.
 * @return 0, CAIRN_ELIMIT (a key over cairn_btree_key_max), CAIRN_EINVALID
 * (a bad op, or SORTED changes that are not sorted), or a read error.
 */
int cairn_btree_transient_apply(cairn_btree_transient *tt, const cairn_btree_change *changes, size_t n,
                                unsigned flags, size_t *changed_out);

/** One-change applies. @return 1 when the tree changed, 0 when not, or an error. */
int cairn_btree_transient_insert(cairn_btree_transient *tt, const void *key, size_t len);
int cairn_btree_transient_delete(cairn_btree_transient *tt, const void *key, size_t len);

/**
 * The transient's current tree, borrowed: read it with the functions above
 * (from the writer's thread) until the next change or free.
 */
const cairn_btree *cairn_btree_transient_tree(const cairn_btree_transient *tt);

/** out becomes an immutable value of the current state (shared, not copied):
 * give it to other threads; later changes to tt do not affect it. */
void cairn_btree_transient_persist(cairn_btree *out, const cairn_btree_transient *tt);

/**
 * Commits the current state: see cairn_btree_commit. The transient carries on
 * from the committed tree.
 */
int cairn_btree_transient_commit(cairn_btree *out, cairn_btree_transient *tt, cairn_store_batch *batch);

void cairn_btree_transient_free(cairn_btree_transient *tt);

/**
 * Commits tree t: encodes every node not yet in the store, bottom-up, adds
 * them to batch (caller-supplied, so the database can put the nodes of all
 * its indexes and its commit record in one durable write), and sets out to
 * the committed tree, whose root address cairn_btree_root() gives. Nodes
 * already in the store are never encoded again: an unchanged subtree keeps
 * its address. Nothing in t changes, so on failure t is intact; the batch may
 * then hold some of the new nodes (harmless if written, or discard it).
 * The new nodes also go to the cache, but out may only be read by other
 * processes, or after the cache drops them, once the batch is written.
 * @return 0, CAIRN_ENOMEM, CAIRN_ELIMIT (from the batch).
 */
int cairn_btree_commit(cairn_btree *out, const cairn_btree *t, cairn_store_batch *batch);

/**
 * cairn_btree_commit for trees[0..n) into out[0..n), their nodes added to
 * batch tree by tree in that order; with many dirty leaves, the leaves of all
 * of them are encoded and compressed on several threads first (edit.c). On
 * failure out holds nothing.
 */
int cairn_btree_commit_many(cairn_btree *out, const cairn_btree *trees, size_t n, cairn_store_batch *batch);

/* ------------------------------------------------------------------------ */
/* Bulk build                                                               */
/* ------------------------------------------------------------------------ */

typedef struct cairn_btree_builder cairn_btree_builder;

/**
 * A builder of a committed tree from keys given in strictly increasing order.
 * Leaves and branches are filled directly to opts' fill and encoded as soon as
 * they are full, into batch; the caller may write the batch
 * (cairn_store_batch_commit) at any point to bound memory.
 * @return 0, CAIRN_EINVALID (bad opts), CAIRN_ENOMEM.
 */
int cairn_btree_builder_new(cairn_btree_builder **out, cairn_nodecache *cache, const cairn_btree_opts *opts,
                            cairn_store_batch *batch);

/**
 * Adds the next key (copied). Errors stick: after one, only free is allowed.
 * @return 0, CAIRN_EINVALID (not greater than the previous key),
 * CAIRN_ELIMIT (too long), CAIRN_ENOMEM.
 */
int cairn_btree_builder_add(cairn_btree_builder *b, const void *key, size_t len);

/** Ends the build: out is the committed tree (its last nodes are in the batch). */
int cairn_btree_builder_finish(cairn_btree *out, cairn_btree_builder *b);

void cairn_btree_builder_free(cairn_btree_builder *b);

/* ------------------------------------------------------------------------ */
/* Whole-tree walks                                                         */
/* ------------------------------------------------------------------------ */

#define CAIRN_BTREE_WALK_SKIP 1  /* a walk callback's "do not descend here" */

/** Called with a node address and its level (0 = leaf). Return 0 to go on,
 * CAIRN_BTREE_WALK_SKIP to skip the node's children, anything else to stop
 * the walk (that value is returned). */
typedef int (*cairn_btree_walk_cb)(const cairn_addr *addr, unsigned level, void *payload);

/**
 * Calls cb for every node address reachable from t's root, parents before
 * children, left to right; reads branch nodes only (leaf addresses come from
 * their parents). For `cairn check`, garbage collection and replication: a
 * replicator returns CAIRN_BTREE_WALK_SKIP for subtrees the target already
 * has.
 * @return 0, CAIRN_EINVALID (t not committed), cb's value, or a read error.
 */
int cairn_btree_walk(const cairn_btree *t, cairn_btree_walk_cb cb, void *payload);

/**
 * Checks every invariant of t, reading every node: keys strictly increasing
 * within and across nodes; every node within the fill limits (non-root nodes
 * at least node_bytes / 8, all at most node_bytes); a branch root has two
 * children or more; every leaf at the same depth and every child one level
 * below its parent; each branch entry's key equal to its child's first key and
 * its count equal to the child's real count; the tree's count and depth;
 * every committed node stored under its address (the store verifies the
 * hash) as exactly its encoding. Run it once the commit's batch is written.
 * @return 0, CAIRN_ECORRUPT with err (may be NULL) saying what and where, or a
 * read error.
 */
int cairn_btree_check(const cairn_btree *t, cairn_error *err);

#endif
