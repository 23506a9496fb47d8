/*
 * Transaction reports: the public cairn_tx_report built from a transaction's
 * output, and Datahike's `with` (apply without storing).
 */
#ifndef CAIRN_TX_REPORT_H
#define CAIRN_TX_REPORT_H

#include "tx/tx.h"

struct cairn_tx_report {
    cairn_db *before;      /* db-before */
    cairn_db *after;       /* db-after */
    cairn_val tx_data;     /* vector of [e a v tx added] */
    cairn_val tempids;     /* map */
    cairn_val tx_meta;     /* map */
};

/* Builds the public report of a transaction (db references are taken). */
int cairn_tx_report_build(cairn_tx_report **out, cairn_db *before, cairn_db *after, const cairn_tx_out *tx);

#endif
