/*
 * Transaction application: Datahike transaction data in, a set of index
 * changes plus the transaction report out. Pure with respect to storage: it
 * reads the db-before value and writes nothing; the db layer turns the
 * changes into new trees (db/apply.c) and the connection layer commits them.
 */
#ifndef CAIRN_TX_TX_H
#define CAIRN_TX_TX_H

#include "base/buf.h"
#include "db/db.h"

/* One net change to the indices. */
typedef struct cairn_change {
    int64_t e;           /* entity */
    int64_t a;           /* attribute id */
    size_t v_off;        /* encoded value: offset into cairn_tx_out.values */
    size_t v_len;        /* its bytes */
    int64_t tx;          /* ADD: the new tx; DEL: the tx the datom was asserted in */
    uint8_t add;         /* 1 insert into current indices, 0 remove from them */
    uint8_t avet;        /* the attribute is in AVET */
    uint8_t history;     /* also write the history twins (DEL only) */
} cairn_change;

/* A datom of the report's :tx-data, in the order Datahike reports them. */
typedef struct cairn_report_datom {
    int64_t e;           /* entity */
    int64_t a;           /* attribute id */
    cairn_val v;         /* value (owned) */
    int64_t tx;          /* transaction */
    uint8_t added;       /* assertion or retraction */
} cairn_report_datom;

typedef struct cairn_tx_out {
    int64_t tx;                    /* the transaction id */
    int64_t instant;               /* its :db/txInstant, ms */
    int64_t max_eid;               /* entity counter after the tx */
    cairn_schema *schema;          /* schema after the tx (owned reference) */
    cairn_change *changes;         /* net changes, unsorted */
    size_t change_count;
    cairn_buf values;              /* bytes of encoded values of changes */
    cairn_report_datom *report;    /* report datoms */
    size_t report_count;
    cairn_val tempids;             /* map tempid -> id (incl. :db/current-tx) */
    cairn_val tx_meta;             /* map: user meta + :db/txInstant */
} cairn_tx_out;

/*
 * Applies tx_data (a vector or list; nil elements skipped) with tx_meta (map
 * or nil) to db (a current-view value) as transaction tx, or max_tx + 1 when
 * tx is 0, at instant now_ms (raised to last_instant + 1 when not later, so
 * instants strictly increase). A given tx must be a transaction id above
 * max_tx (":transact/tx-id" otherwise). On failure out is left empty and err
 * carries Datahike's keyword.
 */
int cairn_tx_apply(cairn_tx_out *out, const cairn_db *db, int64_t tx, cairn_val tx_data, cairn_val tx_meta,
                   int64_t now_ms, cairn_error *err);
void cairn_tx_out_dispose(cairn_tx_out *out);

#endif
