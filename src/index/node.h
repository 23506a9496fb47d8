/*
 * Index nodes as they live in memory, shared by the B+tree (btree.c, edit.c,
 * build.c, check.c), the node codec (codec.c) and the node cache (cache.c).
 * Only src/index includes this header; everything else uses btree.h.
 *
 * A node is one allocation: this header, then the group heads (tops) and
 * group key offsets (gofs), then the n search heads starting on a 64-byte
 * line, then for a branch n
 * swizzled child pointers and n child slots, then n + 1 key offsets, then
 * the key bytes back to back. Keys are stored whole, not prefix-compressed:
 * a decoded node is searched many times and decoded once, so the codec pays
 * for compression and lookups pay nothing. A key pointer handed out by an
 * iterator points into this block.
 *
 * Search heads ("poor man's normalized keys", Graefe): all keys of a node
 * share the prefix of its first and last key, plen bytes long; head i is the
 * 8 bytes of key i after that prefix, zero-padded, as a big-endian integer.
 * Heads are ordered like the keys, so a search runs over 8-byte integers and
 * compares whole keys only among equal heads. On datom keys, where a leaf's
 * keys share their entity id, heads (with the prefetching search in node.c
 * and CLOCK in cache.c) took cached lookups at 10^6 keys from 7.5 us to 1 to
 * 2 us (btree.c).
 *
 * The search is laid out for the memory, not the instructions: at 10^7 keys
 * nearly every line a lookup touches is a cache miss (btree.c), and what
 * counts is how many misses wait on one another. Heads come in groups of 8,
 * one 64-byte line each; the group heads (head 0, 8, 16, ...: 24 for a full
 * 8 KiB leaf) follow the header, so the prefetches issued as soon as a
 * node's pointer is known (cairn_node_prefetch) fetch the header and all
 * that the first step reads; the second step reads one line of heads, and
 * the lines of swizzled pointers and key offsets it leads to are fetched
 * beside it. In a leaf, where a lookup always ends comparing whole keys,
 * the first step also gives where the keys of its group start (gofs), and
 * those key bytes are fetched with the heads line too, instead of after the
 * offsets; so are the keys of a run of equal heads (the datoms of one entity
 * in an EAVT leaf) before they are compared. The first 16 bytes of the
 * shared prefix are copied into the header, so checking a key against it
 * reads no key bytes. The binary search over all the heads that this
 * replaced waited for one line after another.
 *
 * Two kinds of node share the struct:
 *
 *  - clean: addr is the address of the node's encoding; no child slot holds
 *    an in-memory pointer (children are found by address, through the
 *    cache). Clean nodes come from the store (decode) or from a commit, and
 *    are what the cache holds.
 *  - dirty: built by a transient tree and not yet committed; addr is unset,
 *    and a child slot may point at an in-memory child (dirty or clean).
 *
 * Main invariant: a node is never modified once another thread or tree can
 * reach it. In fact no function modifies a node after building it (edits
 * build new nodes and drop old ones), except the cache's fields (the CLOCK
 * bit and ring, the swizzled pointers and their links), which follow the
 * rules of cache.c, and `verified`, an atomic flag the checker sets so it
 * hashes each clean node once, not on every check.
 *
 * Reference counts start at 1 (the creator's reference) and are atomic.
 * Holders: tree values (their root), parent nodes (child slots with node set),
 * iterators (their path), the cache (each cached node). Freeing a node drops
 * its child references.
 *
 * Swizzled children: a clean branch has, beside each child's address, a slot
 * that the cache may point at the decoded child (cairn_node_swizzled), so a
 * descent through cached nodes needs neither the cache's table and locks nor
 * reference counts. Such a pointer is not a reference: the cache sets it only
 * while the child is cached and clears it when it evicts the child, and a
 * reader follows it only inside an epoch section (epoch.h), which keeps the
 * child's memory until the reader is done. The rules are in cache.c.
 */
#ifndef CAIRN_INDEX_NODE_H
#define CAIRN_INDEX_NODE_H

#include <stdatomic.h>
#include <string.h>

#include "base/buf.h"
#include "base/common.h"
#include "index/cache.h"
#include "store/store.h"

#define CAIRN_NODE_VERSION 1           /* byte 0 of every encoded node */
#define CAIRN_NODE_LEVEL_MAX 31        /* highest level the codec accepts */
#define CAIRN_NODE_KEY_LIMIT 65536     /* longest key the codec accepts */
#define CAIRN_NODE_DECODED_MAX (4u << 20)  /* most key bytes one node may expand to */

typedef struct cairn_node cairn_node;

/* A branch's reference to one child. */
typedef struct cairn_kid {
    cairn_addr addr;    /* the child's address; meaningless while node is dirty */
    uint64_t count;     /* keys in the child's subtree (>= 1) */
    cairn_node *node;   /* in-memory child (a reference), or NULL: load addr */
} cairn_kid;

#define CAIRN_NODE_GROUP 8        /* heads per group: one 64-byte line */
#define CAIRN_NODE_PFX_INLINE 16  /* prefix bytes copied into the header */

struct cairn_node {
    /* read by every search: kept together in the first 64 bytes */
    uint32_t n;               /* keys (leaf) or children (branch), >= 1 */
    uint32_t plen;            /* bytes every key of the node starts with */
    uint8_t level;            /* 0 = leaf, else height above the leaves */
    uint8_t clean;            /* 1: addr holds; no kid has node set */
    _Atomic uint8_t referenced; /* CLOCK bit: used since the hand last passed (cache.c) */
    uint64_t *heads;          /* n search heads on 64-byte lines, see cairn_node_finish */
    uint32_t *offs;           /* n + 1 offsets: key i is keys[offs[i] .. offs[i + 1]) */
    uint8_t *keys;            /* key bytes */
    _Atomic(cairn_node *) *swz; /* branch: n swizzled children, see cairn_node_swizzled */
    uint8_t pfx[CAIRN_NODE_PFX_INLINE]; /* the prefix's first min(plen, 16) bytes */
    /* the rest */
    cairn_kid *kids;          /* branch: n children; leaf: NULL */
    uint32_t *gofs;           /* after tops: offs[8 g] for each group g, then key_bytes */
    cairn_addr addr;          /* the encoding's address, when clean */
    _Atomic uint32_t refs;    /* references, see the file comment */
    _Atomic uint8_t verified; /* cairn_btree_check found addr right (see below) */
    uint8_t in_cache;         /* held by a cache shard (shard lock) */
    _Atomic uint8_t swizzled; /* was the target of a swizzled pointer: freed through epoch.c */
    _Atomic uint8_t dying;    /* its references are gone: nothing may be swizzled into it */
    uint32_t swz_slot;        /* the slot of swz_parent that points here (cache shard lock) */
    _Atomic uint32_t swz_links; /* slots of swz set now */
    size_t key_bytes;         /* bytes in keys */
    size_t mem_len;           /* bytes of this allocation, for the cache */
    uint64_t total;           /* keys in this subtree (leaf: n) */
    cairn_node *clock_prev;   /* cache CLOCK ring: previous node (shard lock) */
    cairn_node *clock_next;   /* cache CLOCK ring: next node (shard lock); epoch.c's list */
    cairn_node *swz_parent;   /* the node whose swz slot points here, or NULL (cache shard lock) */
    _Atomic(cairn_nodecache *) swz_cache; /* the cache whose shard locks guard swz */
    uint64_t retired;         /* epoch.c: the epoch it was retired in */
    uint64_t tops[];          /* ceil(n / 8) group heads: tops[g] = heads[8 g] */
};

/* ---- fill accounting ------------------------------------------------------ */

/*
 * The fill of a node is its weight: the bytes its entries take in memory, a
 * key plus its offset, plus a child slot in a branch (the 8-byte search head
 * of each key is derived and left out, so the fill rule does not depend on
 * how nodes are searched). Weights, not encoded sizes, because a key's
 * encoded size depends on its neighbour (prefix compression), which would
 * make every split change the sizes it splits by. Encoded nodes are smaller
 * than their weight.
 */
#define CAIRN_NODE_LEAF_OVERHEAD 4u
#define CAIRN_NODE_BRANCH_OVERHEAD (4u + (unsigned)sizeof(cairn_kid))

static inline size_t cairn_node_entry_weight(unsigned level, size_t key_len)
{
    return key_len + (level ? CAIRN_NODE_BRANCH_OVERHEAD : CAIRN_NODE_LEAF_OVERHEAD);
}

static inline size_t cairn_node_weight(const cairn_node *n)
{
    return n->key_bytes + (size_t)n->n * (n->level ? CAIRN_NODE_BRANCH_OVERHEAD : CAIRN_NODE_LEAF_OVERHEAD);
}

/* ---- keys ------------------------------------------------------------------- */

static inline const uint8_t *cairn_node_key(const cairn_node *n, uint32_t i, size_t *len_out)
{
    assert(i < n->n);
    *len_out = n->offs[i + 1] - n->offs[i];
    return n->keys + n->offs[i];
}

/* memcmp order of byte strings; a proper prefix sorts first. */
static inline int cairn_key_cmp(const void *a, size_t alen, const void *b, size_t blen)
{
    size_t m = alen < blen ? alen : blen;
    int c = m ? memcmp(a, b, m) : 0;
    return c ? c : (alen > blen) - (alen < blen);
}

/*
 * Fills plen, pfx, heads and tops once offs and keys are final; every
 * function that builds a node calls it.
 */
void cairn_node_finish(cairn_node *n);

/* Index of the first key of n that is >= key (lower) or > key (upper); n->n
 * when there is none. */
uint32_t cairn_node_lower_bound(const cairn_node *n, const void *key, size_t len);
uint32_t cairn_node_upper_bound(const cairn_node *n, const void *key, size_t len);

/*
 * Asks the memory for the lines a search of the node at p reads first: its
 * header and the group heads and key offsets of up to 24 groups (a full
 * 8 KiB leaf), so that they arrive
 * together. Reads nothing, so it may be given a node pointer as soon as the
 * pointer is loaded. (Fetching the node's first 2 KiB, all its heads, did
 * not measure faster.)
 */
static inline void cairn_node_prefetch(const void *p)
{
    const char *at = p, *end = at + sizeof(cairn_node) + 24 * (sizeof(uint64_t) + sizeof(uint32_t));
    for (; at < end; at += 64)
        __builtin_prefetch(at);
    __builtin_prefetch(end - 1);
}

/* ---- life cycle ------------------------------------------------------------- */

/*
 * Child i of branch n if the cache has swizzled it in: a borrowed pointer
 * valid until the caller's epoch section (epoch.h) ends, or NULL. Starts
 * fetching the child's first lines and marks it used for the cache's CLOCK.
 */
static inline cairn_node *cairn_node_swizzled(const cairn_node *n, uint32_t i)
{
    cairn_node *c = atomic_load_explicit(&n->swz[i], memory_order_seq_cst);
    if (c) {
        cairn_node_prefetch(c);
        if (!atomic_load_explicit(&c->referenced, memory_order_relaxed))
            atomic_store_explicit(&c->referenced, 1, memory_order_relaxed);
    }
    return c;
}

/*
 * Allocates a dirty node of level with room for n entries and key_bytes key
 * bytes; offs[0] is 0, everything else is for the caller to fill. NULL when
 * out of memory.
 */
cairn_node *cairn_node_alloc(unsigned level, uint32_t n, size_t key_bytes);

static inline cairn_node *cairn_node_ref(cairn_node *n)
{
    atomic_fetch_add_explicit(&n->refs, 1, memory_order_relaxed);
    return n;
}

/* A new reference to n unless its last one is already gone (n is then
 * dying, and only an epoch section keeps its memory): 1, or 0. */
static inline int cairn_node_try_ref(cairn_node *n)
{
    uint32_t r = atomic_load_explicit(&n->refs, memory_order_relaxed);
    while (r != 0)
        if (atomic_compare_exchange_weak_explicit(&n->refs, &r, r + 1, memory_order_relaxed, memory_order_relaxed))
            return 1;
    return 0;
}

/* Drops one reference; the last one frees the node (through epoch.c if it
 * was ever swizzled) and its child references. */
void cairn_node_unref(cairn_node *n);

/*
 * Child i of branch n as a new reference: the in-memory child, the swizzled
 * one, or the node at its address read through cache (which then swizzles it
 * into n, when n is clean and the child cached).
 */
int cairn_node_child(cairn_node **out, cairn_nodecache *cache, const cairn_node *n, uint32_t i);

/* ---- building nodes from entry sequences ---------------------------------- */

/*
 * Fill limits of one tree, all in weight units. A node weighs at most max;
 * a node other than the root weighs at least min (else it is merged with a
 * sibling); a key is at most max / 4 - CAIRN_NODE_BRANCH_OVERHEAD bytes, so
 * any entry weighs at most max / 4. Those three numbers are what make
 * cairn_node_pack always succeed: see the proof in node.c.
 */
typedef struct cairn_node_limits {
    size_t max;      /* heaviest node */
    size_t min;      /* lightest node other than the root: max / 8 */
    size_t target;   /* fill aimed at when many entries are packed at once */
    size_t key_max;  /* longest key */
} cairn_node_limits;

void cairn_node_limits_init(cairn_node_limits *out, size_t node_bytes, unsigned fill_pct);

/* One entry of a sequence to be cut into nodes. */
typedef struct cairn_node_ent {
    const uint8_t *key;   /* the key (leaf) or the child's first key (branch), borrowed */
    size_t len;           /* bytes in key */
    uint64_t count;       /* branch: keys in the child's subtree */
    cairn_node *node;     /* branch: in-memory child, or NULL (borrowed) */
    cairn_addr addr;      /* branch: the child's address when node is NULL or clean */
} cairn_node_ent;

/* The entry for slot i of node n. */
void cairn_node_ent_of(cairn_node_ent *out, const cairn_node *n, uint32_t i);
/* The entry pointing at child node c (its first key, count, address). */
void cairn_node_ent_child(cairn_node_ent *out, cairn_node *c);

/*
 * Cuts e[0..n) (n >= 1) into pieces: writes the end index of each piece to
 * cuts (room for n) and returns how many. Each piece weighs at most lim->max
 * and, when the whole weighs at least lim->min, at least lim->min, provided
 * no entry weighs over lim->max / 4.
 */
size_t cairn_node_pack(size_t *cuts, const cairn_node_ent *e, size_t n, unsigned level,
                       const cairn_node_limits *lim);

/* A new dirty node of level holding e[0..n); takes a reference on each
 * e[i].node. NULL when out of memory. */
cairn_node *cairn_node_build(unsigned level, const cairn_node_ent *e, size_t n);

/* One change to a leaf for cairn_node_splice_leaf: insert key before old
 * key pos, or (del) remove old key pos. Edits are in key order. */
typedef struct cairn_node_edit {
    uint32_t pos;            /* position in the old leaf */
    int del;                 /* 1: remove key pos; 0: insert key before it */
    const uint8_t *key;      /* the inserted key */
    size_t len;              /* its length */
} cairn_node_edit;

/* The leaf old with edits ed[0..k) applied: n keys of bytes key bytes in
 * all, within one node's limits (the caller checked). NULL: out of memory. */
cairn_node *cairn_node_splice_leaf(const cairn_node *old, const cairn_node_edit *ed, size_t k, uint32_t n,
                                   size_t bytes);

/* A clean copy of a dirty node: same entries, children by address only
 * (the caller fills kids[i].addr of children that were in memory). */
cairn_node *cairn_node_clone_clean(const cairn_node *n);

/* ---- codec (codec.c) -------------------------------------------------------- */

/*
 * Appends n's encoding (format in codec.c) to out. Every child's addr must be
 * valid. 0 or CAIRN_ENOMEM.
 */
int cairn_node_encode(cairn_buf *out, const cairn_node *n);

/*
 * Decodes a node into a new clean node (addr is left for the caller to set).
 * @return 0, CAIRN_ECORRUPT (bytes break any rule of the format; never reads
 * outside data[0..len)), CAIRN_ENOMEM.
 */
int cairn_node_decode(cairn_node **out, const uint8_t *data, size_t len);

#endif
