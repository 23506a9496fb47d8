/*
 * Database values (struct cairn_db): an immutable snapshot of the six index
 * trees, the schema and the id counters, plus the view it presents (current,
 * history, as-of, since). Everything above this layer (tx, query, pull, conn,
 * the public API) reads datoms through the functions here.
 *
 * A value holds references to its store context (store handle, node cache,
 * config), its schema and its tree roots; all are immutable or thread-safe, so
 * a value may be read by many threads at once and outlives newer commits.
 */
#ifndef CAIRN_DB_DB_H
#define CAIRN_DB_DB_H

#include <pthread.h>
#include <stdatomic.h>

#include "base/buf.h"
#include "db/ids.h"
#include "db/key.h"
#include "db/schema.h"
#include "index/btree.h"
#include "store/store.h"

/* The six trees of a value. */
enum {
    CAIRN_T_EAVT = 0,
    CAIRN_T_AEVT,
    CAIRN_T_AVET,
    CAIRN_T_TEAVT,   /* history twins: retracted assertions and retractions */
    CAIRN_T_TAEVT,
    CAIRN_T_TAVET,
    CAIRN_T_COUNT_
};

typedef enum cairn_view {
    CAIRN_VIEW_CURRENT = 0,
    CAIRN_VIEW_HISTORY,
    CAIRN_VIEW_AS_OF,   /* datoms with tx <= t */
    CAIRN_VIEW_SINCE    /* datoms with tx > t */
} cairn_view;

/* Per-store state shared by every connection and value of one database. */
typedef struct cairn_dbctx {
    _Atomic uint32_t refcnt;     /* references */
    cairn_store *store;          /* the backend */
    cairn_nodecache *cache;      /* decoded nodes, bounded in bytes */
    cairn_btree_opts tree_opts;  /* node size and fill of every tree */
    cairn_val config;            /* normalized config map */
    cairn_val store_config;      /* its :store map */
    char branch[CAIRN_HEAD_NAME_MAX + 1];  /* head name of the branch */
    int keep_history;            /* :keep-history? */
    int read_flex;               /* :schema-flexibility :read */
    uint32_t tail_max_commits;   /* :tail-commits, longest tail a commit may end */
    uint64_t tail_max_keys;      /* most key changes a tail may hold */
    size_t tail_max_dirty;       /* most bytes of unstored nodes a tail may leave the writer holding */
    pthread_mutex_t memo_mu;     /* guards the two below */
    struct cairn_tail_memo *memo; /* trees of the commits of the tail replayed last (tail.c) */
    size_t memo_count;           /* entries */
} cairn_dbctx;

/* The key changes of one transaction, shared by the values after it (tail.c). */
typedef struct cairn_delta cairn_delta;

/* Tails stay below these; then the writer stores the trees (tail.c). */
#define CAIRN_TAIL_MAX_COMMITS 256
#define CAIRN_TAIL_MAX_KEYS 65536
#define CAIRN_TAIL_DEPTH_MAX 100000  /* :tail-commits bound; deeper tails are corrupt */
#define CAIRN_TAIL_MAX_DIRTY ((size_t)64 << 20) /* see tail_fits (commit.c) */
#define CAIRN_TAIL_DIRTY_EVERY 16    /* commits between two measures of those bytes */

struct cairn_db {
    _Atomic uint32_t refcnt;           /* references */
    cairn_dbctx *ctx;                  /* store context */
    cairn_btree trees[CAIRN_T_COUNT_]; /* index trees (values holding their roots) */
    cairn_schema *schema;              /* attribute definitions */
    int64_t max_eid;                   /* largest entity id in use */
    int64_t max_tx;                    /* last transaction id */
    int64_t last_instant;              /* :db/txInstant of max_tx (ms) */
    int has_commit;                    /* read from (or written as) a commit */
    int schema_stored;                 /* schema_addr holds the schema node */
    cairn_addr schema_addr;            /* address of the schema node */
    cairn_addr commit;                 /* that commit's address */
    cairn_addr config_addr;            /* its config node (when has_commit) */
    cairn_addr *parents;               /* its parent commits */
    size_t parent_count;               /* number of parents */
    cairn_view view;                   /* what the value shows */
    int64_t view_tx;                   /* AS_OF / SINCE bound (a tx id) */
    int has_base;                      /* base_roots name stored trees */
    cairn_addr base_roots[CAIRN_T_COUNT_]; /* the stored trees these extend */
    uint32_t tail_depth;               /* commits since base_roots: 0 = trees stored */
    uint64_t tail_keys;                /* key changes in those commits */
    cairn_addr tail_prev;              /* previous commit of the tail (depth > 1) */
    cairn_delta *pending;              /* changes since the commit, newest first */
    uint32_t unapplied;                /* the newest of them not in trees yet (only the
                                          writer's values: tail.c, "deltas not yet applied") */
    uint64_t unapplied_keys;           /* their key changes */
};

/* ---- construction ----------------------------------------------------- */

/* The empty database of a context (no commit). */
int cairn_db__new_empty(cairn_db **out, cairn_dbctx *ctx, cairn_schema *schema);
/* A copy of db's header (trees, schema shared) with another view. */
int cairn_db__with_view(cairn_db **out, const cairn_db *db, cairn_view view, int64_t view_tx);

cairn_dbctx *cairn_dbctx_retain(cairn_dbctx *ctx);
void cairn_dbctx_release(cairn_dbctx *ctx);

/* ---- deltas (tail.c) ------------------------------------------------------ */

/* A delta of len bytes (keys key changes) applied after prev (retained). */
int cairn_delta_new(cairn_delta **out, cairn_delta *prev, const void *bytes, size_t len, uint64_t keys);
cairn_delta *cairn_delta_retain(cairn_delta *d);
void cairn_delta_release(cairn_delta *d);
/* Appends the chain ending at pending, oldest first, as a commit's deltas;
 * *keys_out is their key changes. */
int cairn_delta_encode(cairn_buf *b, const cairn_delta *pending, uint64_t *keys_out);
/* Applies one transaction's delta / a commit's deltas to db's trees (db must
 * not be shared yet). */
int cairn_db__apply_delta(cairn_db *db, const void *bytes, size_t len, cairn_error *err);
int cairn_db__apply_tail(cairn_db *db, const void *bytes, size_t len, cairn_error *err);

/* Deltas not yet applied (tail.c). A value with unapplied deltas is read only
 * through cairn_db__scan_prefix and cairn_db__count_prefix, and only by the
 * writer; cairn_db__materialize replaces it with one whose trees hold them. */
#define CAIRN_DEFER_MAX_DELTAS 64    /* more unapplied deltas than this are applied */
#define CAIRN_DEFER_MAX_KEYS 4096    /* and so are more key changes than this */

/* Sorts d's changes to EAVT AEVT AVET for cairn_db__overlay. 0, CAIRN_ENOMEM
 * or CAIRN_ECORRUPT (a malformed delta, as replay refuses it). */
int cairn_delta_index(cairn_delta *d, cairn_error *err);

/* An unapplied change as the overlay gives it (key borrowed from its delta). */
typedef struct cairn_ovl_key {
    const uint8_t *key;     /* key bytes */
    size_t len;             /* their length */
    int op;                 /* CAIRN_BTREE_INSERT or _DELETE */
    uint32_t age;           /* 0 for the newest delta */
} cairn_ovl_key;

typedef struct cairn_ovl {
    cairn_ovl_key *v;       /* in key order, one (the newest change) per key */
    size_t n;               /* used */
    size_t cap;             /* room */
} cairn_ovl;

/* The unapplied changes to tree (EAVT, AEVT or AVET) of keys starting with
 * prefix, into o (reused between calls; cairn_ovl_dispose frees it). */
int cairn_db__overlay(cairn_ovl *o, const cairn_db *db, int tree, const uint8_t *prefix, size_t plen);
void cairn_ovl_dispose(cairn_ovl *o);
/* Applies *inout's unapplied deltas: *inout is released and replaced by the
 * new value, or left as it was on failure. */
int cairn_db__materialize(cairn_db **inout, cairn_error *err);

/*
 * The tail memo: the trees of every commit a replay passed through, so that
 * opening the commits of one tail newest first (`cairn log`, `cairn check`,
 * commit-as-db walking parents) replays each tail once instead of once per
 * commit. One tail per context; entries share their nodes.
 */
typedef struct cairn_tail_memo {
    cairn_addr commit;                 /* the commit */
    cairn_btree trees[CAIRN_T_COUNT_]; /* its trees */
} cairn_tail_memo;

/* Copies the memo's trees of commit into trees: 1, or 0 when not there. */
int cairn_tail_memo_get(cairn_dbctx *ctx, const cairn_addr *commit, cairn_btree trees[CAIRN_T_COUNT_]);
/* Replaces the memo with memo[0..n) (taken over). */
void cairn_tail_memo_set(cairn_dbctx *ctx, cairn_tail_memo *memo, size_t n);

/* ---- datom access for the layers above ----------------------------------- */

/* A datom as stored: ids, the encoded value (borrowed), tx and op. */
typedef struct cairn_raw_datom {
    int64_t e;              /* entity */
    int64_t a;              /* attribute id */
    const uint8_t *v;       /* encoded value, valid until the next step */
    size_t v_len;           /* bytes */
    int64_t tx;             /* transaction */
    int added;              /* 1 assertion, 0 retraction (history views) */
} cairn_raw_datom;

/*
 * A cursor over the datoms of one index under the value's view: key order,
 * forward or reverse, from a byte prefix or a seek key. The current view reads
 * one tree; the other views merge the current tree with its history twin and
 * filter by tx.
 */
typedef struct cairn_cursor cairn_cursor;

typedef struct cairn_cursor_opts {
    cairn_index_kind index;  /* EAVT, AEVT or AVET */
    cairn_btree_range range; /* key range (bytes copied by cairn_cursor_open) */
    int reverse;             /* iterate from the high end down */
} cairn_cursor_opts;

int cairn_cursor_open(cairn_cursor **out, const cairn_db *db, const cairn_cursor_opts *opts);
/* 0 and *out filled; CAIRN_ENOTFOUND at the end; or an error. */
int cairn_cursor_next(cairn_cursor *c, cairn_raw_datom *out);
void cairn_cursor_close(cairn_cursor *c);

/* Calls cb for each datom of index with the given key prefix (current view
 * semantics of db). cb returns 0 to go on, nonzero to stop (returned). */
typedef int (*cairn_datom_cb)(const cairn_raw_datom *d, void *payload);
int cairn_db__scan_prefix(const cairn_db *db, cairn_index_kind index, const uint8_t *prefix, size_t len,
                          cairn_datom_cb cb, void *payload);

/* Estimated (exact for the current view) number of datoms with this prefix. */
int cairn_db__count_prefix(const cairn_db *db, cairn_index_kind index, const uint8_t *prefix, size_t len,
                           uint64_t *out);

/* ---- ids and values ---------------------------------------------------------- */

/* The attribute of an ident keyword (NULL if unknown). */
const cairn_attr *cairn_db__attr(const cairn_db *db, cairn_val ident);
/* Entity id of a :db/ident keyword (0 if none). */
int cairn_db__ident_eid(const cairn_db *db, cairn_val ident, int64_t *out);
/*
 * Resolves an entity reference: an id (INT), a lookup ref [unique-attr v], or
 * an ident keyword. *out = 0 when it names nothing.
 */
int cairn_db__entid(const cairn_db *db, cairn_val ref, int64_t *out, cairn_error *err);

/* Decodes a raw datom's value; refs stay INT. */
int cairn_db__value(cairn_val *out, const cairn_raw_datom *d);

#endif
