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
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/par.h"
#include "base/varint.h"
#include "db/db.h"
#include "index/node.h"

struct cairn_delta {
    _Atomic uint32_t refcnt;    /* references */
    cairn_delta *prev;          /* the delta applied before this one, or NULL */
    uint64_t keys;              /* key changes in this delta */
    cairn_btree_change *idx[3]; /* its changes to EAVT AEVT AVET in key order, one
                                   per key (keys point into bytes; cairn_delta_index) */
    size_t idx_n[3];            /* changes per tree */
    int indexed;                /* cairn_delta_index made idx */
    size_t len;                 /* bytes */
    uint8_t bytes[];            /* the encoding above */
};

int cairn_delta_new(cairn_delta **out, cairn_delta *prev, const void *bytes, size_t len, uint64_t keys)
{
    cairn_delta *d = len < SIZE_MAX - sizeof *d ? cairn_malloc(sizeof *d + len) : NULL;
    if (!d)
        return CAIRN_ENOMEM;
    atomic_init(&d->refcnt, 1);
    memset(d->idx, 0, sizeof d->idx);
    memset(d->idx_n, 0, sizeof d->idx_n);
    d->indexed = 0;
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
        for (int t = 0; t < 3; t++)
            cairn_free(d->idx[t]);
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

/* The changes of deltas, gathered per tree in the order they were made. */
struct gathered {
    cairn_btree_change *v[CAIRN_T_COUNT_];  /* changes */
    size_t n[CAIRN_T_COUNT_];               /* used */
    size_t cap[CAIRN_T_COUNT_];             /* room */
};

static void gathered_dispose(struct gathered *g)
{
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        cairn_free(g->v[t]);
}

/* Appends one delta's changes to g (keys borrowed from bytes). */
static int gather(struct gathered *g, const uint8_t *bytes, size_t len, cairn_error *err)
{
    const uint8_t *p = bytes, *end = p + len;
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        uint64_t n, klen;
        size_t k = cairn_varint_get(p, (size_t)(end - p), &n);
        if (!k || n > (uint64_t)(end - p - k) / 2)
            return bad_delta(err);
        p += k;
        if (g->n[t] + n > g->cap[t]) {
            size_t cap = CAIRN_MAX(g->cap[t] * 2, g->n[t] + (size_t)n);
            cairn_btree_change *c = cairn_realloc(g->v[t], cairn_mul_size(cap, sizeof *c));
            if (!c)
                return CAIRN_ENOMEM;
            g->v[t] = c;
            g->cap[t] = cap;
        }
        for (uint64_t i = 0; i < n; i++) {
            cairn_btree_change *c = &g->v[t][g->n[t]];
            if (p == end || (*p != CAIRN_BTREE_INSERT && *p != CAIRN_BTREE_DELETE))
                return bad_delta(err);
            c->op = *p++;
            if (!(k = cairn_varint_get(p, (size_t)(end - p), &klen)) || klen == 0 || klen > (uint64_t)(end - p - k))
                return bad_delta(err);
            p += k;
            c->key = p;
            c->len = (size_t)klen;
            p += klen;
            g->n[t]++;
        }
    }
    return p == end ? 0 : bad_delta(err);
}

/*
 * The trees are independent, so a big batch applies them on two threads or
 * more: each tree's batch is sorted and merged alone, and the node cache and
 * allocator are thread-safe. Bulk load of the benchmark's 100k people, 1000
 * per transaction: EAVT, AEVT and AVET took 122, 127 and 183 ms of the 1.93 s
 * in one thread. AVET (random values) goes first so that the two cheap
 * append-like trees share the other thread. Below CAIRN_PAR_MIN_KEYS changes
 * a thread would cost more than it saves.
 */
#define CAIRN_PAR_MIN_KEYS 4096

static const int par_order[CAIRN_T_COUNT_] = { CAIRN_T_AVET, CAIRN_T_TAVET, CAIRN_T_EAVT,
                                               CAIRN_T_AEVT, CAIRN_T_TEAVT, CAIRN_T_TAEVT };

struct par_apply {
    cairn_db *db;
    const struct gathered *g;
    cairn_error errs[CAIRN_T_COUNT_];   /* per tree */
};

static int par_apply_job(void *ctx, size_t i)
{
    struct par_apply *pa = ctx;
    int t = par_order[i];
    return apply_changes(&pa->db->trees[t], pa->g->v[t], pa->g->n[t], &pa->errs[t]);
}

/* Applies what g gathered, one batch per tree (a later change to a key wins). */
static int apply_gathered(cairn_db *db, const struct gathered *g, cairn_error *err)
{
    struct par_apply *pa;
    size_t keys = 0, busy = 0, failed = 0;
    int rc = 0;
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        keys += g->n[t];
        busy += g->n[t] != 0;
    }
    if (keys < CAIRN_PAR_MIN_KEYS || busy < 2 || cairn_cpu_count() < 2) {
        for (int t = 0; t < CAIRN_T_COUNT_ && rc == 0; t++)
            rc = apply_changes(&db->trees[t], g->v[t], g->n[t], err);
        return rc;
    }
    if (!(pa = cairn_malloc(sizeof *pa)))
        return CAIRN_ENOMEM;
    memset(pa, 0, sizeof *pa);
    pa->db = db;
    pa->g = g;
    rc = cairn_parallel_for(CAIRN_MIN(cairn_cpu_count(), 3), CAIRN_T_COUNT_, par_apply_job, pa, &failed);
    if (rc < 0 && err && pa->errs[par_order[failed]].code)
        cairn_error_copy(err, &pa->errs[par_order[failed]]);
    cairn_free(pa);
    return rc;
}

int cairn_db__apply_delta(cairn_db *db, const void *bytes, size_t len, cairn_error *err)
{
    struct gathered g;
    int rc;
    memset(&g, 0, sizeof g);
    if ((rc = gather(&g, bytes, len, err)) == 0)
        rc = apply_gathered(db, &g, err);
    gathered_dispose(&g);
    return rc;
}

int cairn_db__apply_tail(cairn_db *db, const void *bytes, size_t len, cairn_error *err)
{
    const uint8_t *p = bytes, *end = p + len;
    uint64_t n, dlen;
    size_t k = cairn_varint_get(p, len, &n);
    struct gathered g;
    int rc = 0;
    if (!k)
        return bad_delta(err);
    p += k;
    /* the commit's transactions in one batch per tree, as its writer applied them */
    memset(&g, 0, sizeof g);
    for (uint64_t i = 0; i < n && rc == 0; i++) {
        if (!(k = cairn_varint_get(p, (size_t)(end - p), &dlen)) || dlen > (uint64_t)(end - p - k)) {
            rc = bad_delta(err);
            break;
        }
        p += k;
        rc = gather(&g, p, (size_t)dlen, err);
        p += dlen;
    }
    if (rc == 0 && p != end)
        rc = bad_delta(err);
    if (rc == 0)
        rc = apply_gathered(db, &g, err);
    gathered_dispose(&g);
    return rc;
}

/* ---- deltas not yet applied -------------------------------------------------------- */

/*
 * The writer defers applying the deltas of a group's transactions when no
 * caller wants their values (cairn_db__apply_deferred): a value then keeps
 * its newest `unapplied` deltas beside its trees, and applies them all at
 * once, one batch per tree, when the group is sealed or the deltas grow past
 * a bound (cairn_db__materialize). Sixteen single-entity transactions then
 * rebuild each touched leaf and branch once instead of sixteen times. Until
 * then the transaction engine reads such a value through
 * cairn_db__scan_prefix and cairn_db__count_prefix, which merge the deltas
 * over the trees (cairn_db__overlay). Such a value never leaves the writer.
 */

/* Key order; the same key twice: the later change (further into the
 * delta's bytes) last. */
static int change_pos_cmp(const void *a, const void *b)
{
    const cairn_btree_change *x = a, *y = b;
    int c = cairn_key_cmp(x->key, x->len, y->key, y->len);
    return c ? c : (const uint8_t *)x->key < (const uint8_t *)y->key ? -1 : x->key != y->key;
}

int cairn_delta_index(cairn_delta *d, cairn_error *err)
{
    struct gathered g;
    int rc;
    memset(&g, 0, sizeof g);
    if ((rc = gather(&g, d->bytes, d->len, err)) == 0) {
        for (int t = 0; t < 3; t++) {
            cairn_btree_change *v = g.v[t];
            size_t m = 0;
            if (g.n[t] > 1)
                qsort(v, g.n[t], sizeof *v, change_pos_cmp);
            for (size_t i = 0; i < g.n[t]; i++)
                if (i + 1 == g.n[t] || cairn_key_cmp(v[i].key, v[i].len, v[i + 1].key, v[i + 1].len))
                    v[m++] = v[i]; /* the later change to a key wins */
            d->idx[t] = v;
            d->idx_n[t] = m;
            g.v[t] = NULL;
        }
        d->indexed = 1;
    }
    gathered_dispose(&g);
    return rc;
}

static int ovl_cmp(const void *a, const void *b)
{
    const cairn_ovl_key *x = a, *y = b;
    int c = cairn_key_cmp(x->key, x->len, y->key, y->len);
    return c ? c : (x->age > y->age) - (x->age < y->age);
}

static int has_prefix(const uint8_t *key, size_t len, const uint8_t *prefix, size_t plen)
{
    return len >= plen && !memcmp(key, prefix, plen);
}

int cairn_db__overlay(cairn_ovl *o, const cairn_db *db, int tree, const uint8_t *prefix, size_t plen)
{
    const cairn_delta *d = db->pending;
    size_t m = 0;
    o->n = 0;
    for (uint32_t age = 0; age < db->unapplied && d; age++, d = d->prev) {
        const cairn_btree_change *v = d->idx[tree];
        size_t lo = 0, hi = d->idx_n[tree];
        if (!d->indexed)
            return CAIRN_EINVALID; /* deferred without its index: a bug */
        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;
            if (cairn_key_cmp(v[mid].key, v[mid].len, prefix, plen) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        for (; lo < d->idx_n[tree] && has_prefix(v[lo].key, v[lo].len, prefix, plen); lo++) {
            if (o->n == o->cap) {
                size_t cap = o->cap ? o->cap * 2 : 16;
                cairn_ovl_key *nv = cairn_realloc(o->v, cairn_mul_size(cap, sizeof *nv));
                if (!nv)
                    return CAIRN_ENOMEM;
                o->v = nv;
                o->cap = cap;
            }
            o->v[o->n].key = v[lo].key;
            o->v[o->n].len = v[lo].len;
            o->v[o->n].op = v[lo].op;
            o->v[o->n].age = age;
            o->n++;
        }
    }
    if (o->n > 1)
        qsort(o->v, o->n, sizeof *o->v, ovl_cmp);
    for (size_t i = 0; i < o->n; i++)
        if (!m || cairn_key_cmp(o->v[m - 1].key, o->v[m - 1].len, o->v[i].key, o->v[i].len))
            o->v[m++] = o->v[i]; /* the newest change of each key comes first */
    o->n = m;
    return 0;
}

void cairn_ovl_dispose(cairn_ovl *o)
{
    cairn_free(o->v);
    o->v = NULL;
    o->n = o->cap = 0;
}

int cairn_db__materialize(cairn_db **inout, cairn_error *err)
{
    cairn_db *db = *inout, *m = NULL;
    const cairn_delta **v;
    const cairn_delta *d = db->pending;
    struct gathered g;
    uint32_t n = db->unapplied;
    int rc = 0;
    if (!n)
        return 0;
    if (!(v = cairn_malloc(cairn_mul_size(n, sizeof *v))))
        return cairn_error_oom(err);
    for (uint32_t i = 0; i < n; i++, d = d->prev)
        v[n - 1 - i] = d;
    memset(&g, 0, sizeof g);
    for (uint32_t i = 0; i < n && rc == 0; i++)
        rc = gather(&g, v[i]->bytes, v[i]->len, err);
    if (rc == 0 && (rc = cairn_db__with_view(&m, db, db->view, db->view_tx)) == 0 &&
        (rc = apply_gathered(m, &g, err)) == 0) {
        m->unapplied = 0;
        m->unapplied_keys = 0;
        cairn_db_release(db);
        *inout = m;
        m = NULL;
    }
    cairn_db_release(m);
    gathered_dispose(&g);
    cairn_free(v);
    return cairn_error_code(err, rc);
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
