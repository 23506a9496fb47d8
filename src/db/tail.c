/*
 * Deltas and tails: how a commit can be written without rewriting its index
 * nodes (docs/format.md, "Commit tails").
 *
 * Every change to a value's trees is a delta: the key insertions and
 * deletions one transaction makes in each of the six trees. cairn_db__apply
 * encodes the delta first and then applies it with cairn_db__apply_delta, so
 * the code that replays a stored delta is the code every transaction runs.
 *
 * A value keeps the deltas applied since its last commit (pending, newest
 * first, shared between values). A commit may then store those deltas in its
 * record instead of the dirty index nodes: a *tail commit*, whose record
 * names the roots of the last commit that did write its trees (the base), the
 * previous commit of the tail, and its own deltas. Opening it reads the base
 * roots and replays the tail, oldest first. The writer flushes (writes the
 * nodes, empties the tail) when the tail reaches CAIRN_TAIL_MAX_COMMITS
 * commits or CAIRN_TAIL_MAX_KEYS key changes, so a cold reader replays a
 * bounded amount, and each small commit writes one record instead of a path
 * of nodes in each of six trees. 256 commits, not 64: a flush writes a few
 * hundred node files and was more than half of the writer's I/O time with
 * single-entity transactions (tx-entity-16t 3.4k -> 4.1-4.5k tx/s on the file
 * store, interleaved runs), while a cold `cairn q` over a tail of 251
 * single-entity commits still took 10 ms in all.
 *
 * Delta bytes (one transaction), "var" an unsigned LEB128 varint:
 *
 *   for each tree t = EAVT AEVT AVET TEAVT TAEVT TAVET:
 *     var   n, the changes to tree t
 *     n x { 1 byte op: 1 insert, 2 delete; var key length; key bytes }
 *
 * A commit's deltas: var count, then count x { var length; delta bytes },
 * oldest first.
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/varint.h"
#include "db/db.h"

struct cairn_delta {
    _Atomic uint32_t refcnt;    /* references */
    cairn_delta *prev;          /* the delta applied before this one, or NULL */
    uint64_t keys;              /* key changes in this delta */
    size_t len;                 /* bytes */
    uint8_t bytes[];            /* the encoding above */
};

int cairn_delta_new(cairn_delta **out, cairn_delta *prev, const void *bytes, size_t len, uint64_t keys)
{
    cairn_delta *d = len < SIZE_MAX - sizeof *d ? cairn_malloc(sizeof *d + len) : NULL;
    if (!d)
        return CAIRN_ENOMEM;
    atomic_init(&d->refcnt, 1);
    d->prev = cairn_delta_retain(prev);
    d->keys = keys;
    d->len = len;
    memcpy(d->bytes, bytes, len);
    *out = d;
    return 0;
}

cairn_delta *cairn_delta_retain(cairn_delta *d)
{
    if (d)
        atomic_fetch_add_explicit(&d->refcnt, 1, memory_order_relaxed);
    return d;
}

void cairn_delta_release(cairn_delta *d)
{
    while (d && atomic_fetch_sub_explicit(&d->refcnt, 1, memory_order_acq_rel) == 1) {
        cairn_delta *prev = d->prev;
        cairn_free(d);
        d = prev;
    }
}

int cairn_delta_encode(cairn_buf *b, const cairn_delta *pending, uint64_t *keys_out)
{
    const cairn_delta **v;
    size_t n = 0, i = 0;
    uint64_t keys = 0;
    for (const cairn_delta *d = pending; d; d = d->prev)
        n++;
    if (!(v = cairn_malloc(cairn_mul_size(n ? n : 1, sizeof *v))))
        return CAIRN_ENOMEM;
    for (const cairn_delta *d = pending; d; d = d->prev)
        v[n - 1 - i++] = d;
    cairn_buf_put_varint(b, n);
    for (i = 0; i < n; i++) {
        cairn_buf_put_varint(b, v[i]->len);
        cairn_buf_put(b, v[i]->bytes, v[i]->len);
        keys += v[i]->keys;
    }
    cairn_free(v);
    *keys_out = keys;
    return b->oom ? CAIRN_ENOMEM : 0;
}

/* ---- replay ------------------------------------------------------------------- */

static int bad_delta(cairn_error *err)
{
    cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "a commit's tail holds a malformed delta");
    return CAIRN_CORRUPT_BKPT;
}

/* Applies n changes to tree t (replacing it with the new value). */
static int apply_changes(cairn_btree *t, const cairn_btree_change *ch, size_t n, cairn_error *err)
{
    cairn_btree_transient *tt;
    int rc;
    if (!n)
        return 0;
    rc = cairn_btree_transient_new(&tt, t);
    if (rc == 0) {
        rc = cairn_btree_transient_apply(tt, ch, n, 0, NULL);
        if (rc == 0) {
            cairn_btree_dispose(t);
            cairn_btree_transient_persist(t, tt);
        }
        cairn_btree_transient_free(tt);
    }
    if (rc == CAIRN_ELIMIT)
        cairn_error_set(err, CAIRN_ELIMIT, ":transact/max-length",
                        "a datom is too large for the index (values are limited to about %zu bytes)",
                        cairn_btree_key_max(t) - 32);
    return rc;
}

int cairn_db__apply_delta(cairn_db *db, const void *bytes, size_t len, cairn_error *err)
{
    const uint8_t *p = bytes, *end = p + len;
    cairn_btree_change *ch = NULL;
    size_t cap = 0;
    int rc = 0;
    for (int t = 0; t < CAIRN_T_COUNT_ && rc == 0; t++) {
        uint64_t n, klen;
        size_t k = cairn_varint_get(p, (size_t)(end - p), &n);
        if (!k || n > (uint64_t)(end - p - k) / 2) {
            rc = bad_delta(err);
            break;
        }
        p += k;
        if (n > cap) {
            cairn_btree_change *c = cairn_realloc(ch, cairn_mul_size((size_t)n, sizeof *c));
            if (!c) {
                rc = CAIRN_ENOMEM;
                break;
            }
            ch = c;
            cap = (size_t)n;
        }
        for (uint64_t i = 0; i < n && rc == 0; i++) {
            if (p == end || (*p != CAIRN_BTREE_INSERT && *p != CAIRN_BTREE_DELETE)) {
                rc = bad_delta(err);
                break;
            }
            ch[i].op = *p++;
            if (!(k = cairn_varint_get(p, (size_t)(end - p), &klen)) || klen == 0 || klen > (uint64_t)(end - p - k)) {
                rc = bad_delta(err);
                break;
            }
            p += k;
            ch[i].key = p;
            ch[i].len = (size_t)klen;
            p += klen;
        }
        if (rc == 0)
            rc = apply_changes(&db->trees[t], ch, (size_t)n, err);
    }
    cairn_free(ch);
    if (rc == 0 && p != end)
        rc = bad_delta(err);
    return rc;
}

int cairn_db__apply_tail(cairn_db *db, const void *bytes, size_t len, cairn_error *err)
{
    const uint8_t *p = bytes, *end = p + len;
    uint64_t n, dlen;
    size_t k = cairn_varint_get(p, len, &n);
    int rc = 0;
    if (!k)
        return bad_delta(err);
    p += k;
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        if (!(k = cairn_varint_get(p, (size_t)(end - p), &dlen)) || dlen > (uint64_t)(end - p - k))
            return bad_delta(err);
        p += k;
        rc = cairn_db__apply_delta(db, p, (size_t)dlen, err);
        p += dlen;
    }
    if (rc == 0 && p != end)
        rc = bad_delta(err);
    return rc;
}

/* ---- the memo ------------------------------------------------------------------- */

static void memo_free(cairn_tail_memo *memo, size_t n)
{
    for (size_t i = 0; i < n; i++)
        for (int t = 0; t < CAIRN_T_COUNT_; t++)
            cairn_btree_dispose(&memo[i].trees[t]);
    cairn_free(memo);
}

int cairn_tail_memo_get(cairn_dbctx *ctx, const cairn_addr *commit, cairn_btree trees[CAIRN_T_COUNT_])
{
    int found = 0;
    pthread_mutex_lock(&ctx->memo_mu);
    for (size_t i = 0; i < ctx->memo_count && !found; i++) {
        if (cairn_addr_equal(&ctx->memo[i].commit, commit)) {
            for (int t = 0; t < CAIRN_T_COUNT_; t++)
                cairn_btree_copy(&trees[t], &ctx->memo[i].trees[t]);
            found = 1;
        }
    }
    pthread_mutex_unlock(&ctx->memo_mu);
    return found;
}

void cairn_tail_memo_set(cairn_dbctx *ctx, cairn_tail_memo *memo, size_t n)
{
    cairn_tail_memo *old;
    size_t old_n;
    pthread_mutex_lock(&ctx->memo_mu);
    old = ctx->memo;
    old_n = ctx->memo_count;
    ctx->memo = memo;
    ctx->memo_count = memo ? n : 0;
    pthread_mutex_unlock(&ctx->memo_mu);
    memo_free(old, old_n);
}
