/*
 * Turning a transaction's net changes into the trees of db-after.
 *
 * Each change becomes keys for the trees it touches: EAVT and AEVT always,
 * AVET when the attribute is indexed there, and for a retraction with
 * history on, the retracted assertion and the retraction itself in the
 * twins. Each tree then gets one batch apply through a transient (which sorts
 * the batch and rebuilds every touched leaf once) and the result is persisted
 * as an immutable in-memory value: db-after is readable at once, and its new
 * nodes reach the store only when the writer commits its group.
 */
#include "tx/apply.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"

struct keyset {
    cairn_buf bytes;                 /* all key bytes */
    size_t *offs;                    /* start of each key */
    size_t *lens;                    /* length of each key */
    uint8_t *ops;                    /* CAIRN_BTREE_INSERT / DELETE */
    size_t count, cap;               /* keys */
};

static int keyset_add(struct keyset *k, const cairn_buf *key, int op)
{
    if (k->count == k->cap) {
        size_t cap = k->cap ? k->cap * 2 : 256;
        size_t *o = cairn_realloc(k->offs, cairn_mul_size(cap, sizeof *o));
        size_t *l;
        uint8_t *p;
        if (!o)
            return CAIRN_ENOMEM;
        k->offs = o;
        if (!(l = cairn_realloc(k->lens, cairn_mul_size(cap, sizeof *l))))
            return CAIRN_ENOMEM;
        k->lens = l;
        if (!(p = cairn_realloc(k->ops, cap)))
            return CAIRN_ENOMEM;
        k->ops = p;
        k->cap = cap;
    }
    k->offs[k->count] = k->bytes.len;
    k->lens[k->count] = key->len;
    k->ops[k->count] = (uint8_t)op;
    k->count++;
    return cairn_buf_put(&k->bytes, key->ptr, key->len);
}

static void keyset_dispose(struct keyset *k)
{
    cairn_buf_dispose(&k->bytes);
    cairn_free(k->offs);
    cairn_free(k->lens);
    cairn_free(k->ops);
}

/* Applies a keyset to tree t (replacing it with the new value). */
static int apply_keys(cairn_btree *t, const struct keyset *k, cairn_error *err)
{
    cairn_btree_transient *tt;
    cairn_btree_change *ch;
    int rc;
    if (!k->count)
        return 0;
    if (!(ch = cairn_malloc(cairn_mul_size(k->count, sizeof *ch))))
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < k->count; i++) {
        ch[i].key = k->bytes.ptr + k->offs[i];
        ch[i].len = k->lens[i];
        ch[i].op = k->ops[i];
    }
    rc = cairn_btree_transient_new(&tt, t);
    if (rc == 0) {
        rc = cairn_btree_transient_apply(tt, ch, k->count, 0, NULL);
        if (rc == 0) {
            cairn_btree_dispose(t);
            cairn_btree_transient_persist(t, tt);
        }
        cairn_btree_transient_free(tt);
    }
    cairn_free(ch);
    if (rc == CAIRN_ELIMIT)
        cairn_error_set(err, CAIRN_ELIMIT, ":transact/max-length",
                        "a datom is too large for the index (values are limited to about %zu bytes)",
                        cairn_btree_key_max(t) - 32);
    return rc;
}

int cairn_db__apply(cairn_db **out, const cairn_db *before, const cairn_tx_out *tx, cairn_error *err)
{
    struct keyset ks[CAIRN_T_COUNT_];
    cairn_buf key = CAIRN_BUF_INIT;
    cairn_db *db = NULL;
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
    if (rc == 0 && (rc = cairn_db__with_view(&db, before, CAIRN_VIEW_CURRENT, 0)) == 0) {
        for (int t = 0; t < CAIRN_T_COUNT_ && rc == 0; t++)
            rc = apply_keys(&db->trees[t], &ks[t], err);
    }
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        keyset_dispose(&ks[t]);
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
