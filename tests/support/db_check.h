/*
 * The batch workload of the process tests: each transaction writes one
 * batch entity {:batch/id k :batch/n m} and its m items {:item/batch k}.
 * A snapshot is consistent when every batch has exactly its m items and the
 * transaction ids are gapless; a writer reports each acknowledged batch.
 */
#ifndef CAIRN_TEST_DB_CHECK_H
#define CAIRN_TEST_DB_CHECK_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"

#define DBCHECK_SCHEMA                                                                                    \
    "[{:db/ident :batch/id :db/valueType :db.type/long :db/cardinality :db.cardinality/one"             \
    "  :db/unique :db.unique/identity}"                                                                 \
    " {:db/ident :batch/n :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"             \
    " {:db/ident :item/batch :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"          \
    " {:db/ident :item/v :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]"

/* The transaction data of batch k (m = 1 + k % 5 items). */
void dbcheck_batch_tx(char *buf, size_t cap, int64_t k);

typedef struct dbcheck_result {
    int64_t batches;      /* batch entities present */
    int64_t max_batch;    /* largest batch id present */
    int64_t max_tx;       /* the value's max tx */
    char problem[256];    /* first inconsistency, empty when none */
} dbcheck_result;

/*
 * Checks a snapshot: every batch complete, tx ids gapless with an instant
 * each. If have is not NULL, have[k] is set for every batch k < have_len
 * present. Returns 0 when consistent, -1 (and problem) when not.
 */
int dbcheck_snapshot(dbcheck_result *out, const cairn_db *db, uint8_t *have, size_t have_len);

#endif
