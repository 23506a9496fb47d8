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

/* Reads the branch head of ctx: its commit, max-tx and (if raw) its bytes. */
int cairn_db__read_head(cairn_addr *commit, int64_t *max_tx, cairn_buf *raw, cairn_dbctx *ctx, cairn_error *err);

int cairn_head_encode(cairn_buf *out, const cairn_addr *commit, int64_t max_tx);
int cairn_head_decode(cairn_addr *commit, int64_t *max_tx, const void *data, size_t len);

#endif
