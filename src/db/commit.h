/*
 * Commit records and branch heads (format in commit.c).
 */
#ifndef CAIRN_DB_COMMIT_H
#define CAIRN_DB_COMMIT_H

#include "db/db.h"

/*
 * Adds db's new nodes, its schema node (if changed), its config node and a
 * commit record naming parents to batch, and gives the committed value (its
 * trees committed, commit address set). Nothing is durable until the batch is
 * written; the caller then moves the head.
 */
int cairn_db__commit(cairn_db **out, const cairn_db *db, const cairn_addr *parents, size_t nparents,
                     cairn_store_batch *batch, cairn_error *err);

/* Reads the commit record at commit and opens its trees and schema,
 * replaying its tail if it has one. */
int cairn_db__open_commit(cairn_db **out, cairn_dbctx *ctx, const cairn_addr *commit, cairn_error *err);
/* The same; when hint (may be NULL) is an earlier commit of the same tail,
 * only the commits after it are read and replayed. */
int cairn_db__open_commit_hint(cairn_db **out, cairn_dbctx *ctx, const cairn_addr *commit, const cairn_db *hint,
                               cairn_error *err);

/* The settings a commit was written with: keep-history and schema-on-read. */
int cairn_db__commit_flags(cairn_dbctx *ctx, const cairn_addr *commit, int *keep_history, int *read_flex,
                           cairn_error *err);

/* What a commit record names, for garbage collection (conn/gc.c). */
typedef struct cairn_commit_refs {
    void *data;                        /* the record; cairn_free it */
    int64_t instant;                   /* :db/txInstant of its last transaction (ms) */
    size_t nparents;                   /* parent commits */
    const uint8_t *parents;            /* nparents x CAIRN_ADDR_LEN, into data */
    cairn_addr roots[CAIRN_T_COUNT_];  /* its trees, or its tail's base */
    cairn_btree_opts opts;             /* their shape */
    cairn_addr schema_addr, config_addr;
    uint32_t tail_depth;               /* 0: its trees are stored */
    cairn_addr tail_prev;              /* the previous commit of its tail (depth > 1) */
} cairn_commit_refs;
/* Reads commit's record (CAIRN_ENOTFOUND when the store lacks it). */
int cairn_db__commit_refs(cairn_commit_refs *out, cairn_dbctx *ctx, const cairn_addr *commit, cairn_error *err);
/* Reads the branch head of ctx: its commit, max-tx and (if raw) its bytes. */
int cairn_db__read_head(cairn_addr *commit, int64_t *max_tx, cairn_buf *raw, cairn_dbctx *ctx, cairn_error *err);

int cairn_head_encode(cairn_buf *out, const cairn_addr *commit, int64_t max_tx);
int cairn_head_decode(cairn_addr *commit, int64_t *max_tx, const void *data, size_t len);

#endif
