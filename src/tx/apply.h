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

#endif
