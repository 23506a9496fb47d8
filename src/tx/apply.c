/*
 * Turning a transaction's net changes into the trees of db-after.
 *
 * Each change becomes keys for the trees it touches: EAVT and AEVT always,
 * AVET when the attribute is indexed there, and for a retraction with
 * history on, the retracted assertion and the retraction itself in the
 * twins. The keys are encoded as the transaction's delta (db/tail.c), which
 * cairn_db__apply_delta applies: one batch per tree through a transient
 * (which sorts the batch and rebuilds every touched leaf once), persisted as
 * an immutable in-memory value. db-after is readable at once; it keeps the
 * delta, and the writer's commit stores either the deltas of its group (a
 * tail commit) or the new nodes.
 */
#include "tx/apply.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

/* The changes to one tree, encoded as in a delta (db/tail.c). */
struct keyset {
    cairn_buf bytes;                 /* op, key length, key; for each key */
    size_t count;                    /* keys */
};

static int keyset_add(struct keyset *k, const cairn_buf *key, int op)
{
    k->count++;
    cairn_buf_putc(&k->bytes, (char)op);
    cairn_buf_put_varint(&k->bytes, key->len);
    return cairn_buf_put(&k->bytes, key->ptr, key->len);
}

int cairn_db__apply(cairn_db **out, const cairn_db *before, const cairn_tx_out *tx, cairn_error *err)
{
    return cairn_db__apply_deferred(out, before, tx, 0, err);
}

int cairn_db__apply_deferred(cairn_db **out, const cairn_db *before, const cairn_tx_out *tx, int defer,
                             cairn_error *err)
{
    struct keyset ks[CAIRN_T_COUNT_];
    cairn_buf key = CAIRN_BUF_INIT;
    cairn_db *db = NULL;
    uint64_t nkeys = 0;
    int rc = 0;
    memset(ks, 0, sizeof ks);
    for (size_t i = 0; i < tx->change_count && rc == 0; i++) {
        const cairn_change *c = &tx->changes[i];
        const uint8_t *v = (const uint8_t *)tx->values.ptr + c->v_off;
        int op = c->add ? CAIRN_BTREE_INSERT : CAIRN_BTREE_DELETE;
        for (int t = 0; t < 3 && rc == 0; t++) {
            if (t == CAIRN_T_AVET && !c->avet)
                continue;
            cairn_buf_clear(&key);
            if ((rc = cairn_key_datom(&key, (cairn_index_kind)t, (uint64_t)c->e, (uint64_t)c->a, v, c->v_len,
                                      (uint64_t)c->tx, 0, 1)) == 0)
                rc = keyset_add(&ks[t], &key, op);
            if (rc == 0 && !c->add && c->history) {
                /* the twin keeps the old assertion and records the retraction */
                cairn_buf_clear(&key);
                if ((rc = cairn_key_datom(&key, (cairn_index_kind)t, (uint64_t)c->e, (uint64_t)c->a, v, c->v_len,
                                          (uint64_t)c->tx, 1, 1)) == 0)
                    rc = keyset_add(&ks[t + 3], &key, CAIRN_BTREE_INSERT);
                cairn_buf_clear(&key);
                if (rc == 0 && (rc = cairn_key_datom(&key, (cairn_index_kind)t, (uint64_t)c->e, (uint64_t)c->a, v,
                                                     c->v_len, (uint64_t)tx->tx, 1, 0)) == 0)
                    rc = keyset_add(&ks[t + 3], &key, CAIRN_BTREE_INSERT);
            }
        }
    }
    /* the delta, applied by the code that replays stored tails */
    cairn_buf_clear(&key);
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        cairn_buf_put_varint(&key, ks[t].count);
        cairn_buf_put(&key, ks[t].bytes.ptr, ks[t].bytes.len);
        nkeys += ks[t].count;
    }
    if (rc == 0 && key.oom)
        rc = CAIRN_ENOMEM;
    if (rc == 0 && (rc = cairn_db__with_view(&db, before, CAIRN_VIEW_CURRENT, 0)) == 0 && nkeys) {
        cairn_delta *d;
        if ((rc = cairn_delta_new(&d, before->pending, key.ptr, key.len, nkeys)) == 0) {
            cairn_delta_release(db->pending);
            db->pending = d;
            defer = defer && before->unapplied < CAIRN_DEFER_MAX_DELTAS &&
                    before->unapplied_keys + nkeys <= CAIRN_DEFER_MAX_KEYS;
            if (defer || before->unapplied) {
                db->unapplied++;
                db->unapplied_keys += nkeys;
            }
            if (defer)
                rc = cairn_delta_index(d, err);
            else if (before->unapplied)
                rc = cairn_db__materialize(&db, err); /* the earlier ones and this one, at once */
            else
                rc = cairn_db__apply_delta(db, key.ptr, key.len, err);
        }
    }
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        cairn_buf_dispose(&ks[t].bytes);
    cairn_buf_dispose(&key);
    if (rc < 0) {
        cairn_db_release(db);
        return cairn_error_code(err, rc);
    }
    cairn_schema_release(db->schema);
    db->schema = cairn_schema_retain(tx->schema);
    if (db->schema != before->schema)
        db->schema_stored = 0;
    db->max_eid = tx->max_eid;
    db->max_tx = tx->tx;
    db->last_instant = tx->instant;
    db->has_commit = 0;
    *out = db;
    return 0;
}
