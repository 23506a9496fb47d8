/*
 * db-after from db-before and a transaction's net changes (see apply.c).
 */
#ifndef CAIRN_TX_APPLY_H
#define CAIRN_TX_APPLY_H

#include "tx/tx.h"

/*
 * Builds db-after: new in-memory trees (shared with before where unchanged),
 * the transaction's schema, counters and instant. Nothing is stored.
 */
int cairn_db__apply(cairn_db **out, const cairn_db *before, const cairn_tx_out *tx, cairn_error *err);

/*
 * The writer's apply: with defer, db-after may keep the transaction's delta
 * (and those of the transactions before it) unapplied, for the writer's
 * next transaction only (db.h, "deltas not yet applied"); it must be given
 * to cairn_db__materialize before anyone else sees it. defer 0 is
 * cairn_db__apply, and applies any unapplied deltas of before as well.
 */
int cairn_db__apply_deferred(cairn_db **out, const cairn_db *before, const cairn_tx_out *tx, int defer,
                             cairn_error *err);

#endif
