/*
 * Database values and reading them: contexts, views, cursors over the
 * views, entity-id resolution.
 *
 * Views. The current view reads one tree per index. The history twins hold
 * what left the current trees: each retracted assertion (with its original
 * tx) and each retraction (op byte 0). The views then are:
 *
 *   history  current and twin merged in key order: every assertion ever made
 *            and every retraction, as Datahike's history db;
 *   as-of t  per (e, a, v), the merged events with tx <= t; the datom is
 *            visible when the last of them is an assertion (inclusive, as
 *            Datahike's as-of);
 *   since t  current datoms with tx > t (exclusive, as Datahike's since).
 *
 * All layouts end with u(tx) (and the op byte in the twins), so the events
 * of one (e, a, v) are neighbours in every index and the merge needs no
 * sorting. Rejected: keeping every assertion in the twins too (history =
 * twin alone), which doubles the stored datoms for a simpler as-of.
 */
#include "db/db.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"
#include "index/node.h"

/* ---- contexts and values ------------------------------------------------- */

cairn_dbctx *cairn_dbctx_retain(cairn_dbctx *ctx)
{
    if (ctx)
        atomic_fetch_add_explicit(&ctx->refcnt, 1, memory_order_relaxed);
    return ctx;
}

void cairn_dbctx_release(cairn_dbctx *ctx)
{
    if (!ctx || atomic_fetch_sub_explicit(&ctx->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    cairn_tail_memo_set(ctx, NULL, 0);
    pthread_mutex_destroy(&ctx->memo_mu);
    cairn_nodecache_free(ctx->cache);
    cairn_store_close(ctx->store);
    cairn_release(ctx->config);
    cairn_release(ctx->store_config);
    cairn_free(ctx);
}

static cairn_db *db_alloc(cairn_dbctx *ctx)
{
    cairn_db *db = cairn_malloc(sizeof *db);
    if (!db)
        return NULL;
    memset(db, 0, sizeof *db);
    atomic_init(&db->refcnt, 1);
    db->ctx = cairn_dbctx_retain(ctx);
    for (int i = 0; i < CAIRN_T_COUNT_; i++)
        cairn_btree_init(&db->trees[i], ctx->cache, &ctx->tree_opts);
    return db;
}

int cairn_db__new_empty(cairn_db **out, cairn_dbctx *ctx, cairn_schema *schema)
{
    cairn_db *db = db_alloc(ctx);
    if (!db)
        return CAIRN_ENOMEM;
    db->schema = cairn_schema_retain(schema);
    db->max_eid = 0;
    db->max_tx = CAIRN_TX0;
    *out = db;
    return 0;
}

int cairn_db__with_view(cairn_db **out, const cairn_db *src, cairn_view view, int64_t view_tx)
{
    cairn_db *db = db_alloc(src->ctx);
    if (!db)
        return CAIRN_ENOMEM;
    for (int i = 0; i < CAIRN_T_COUNT_; i++) {
        cairn_btree_dispose(&db->trees[i]);
        cairn_btree_copy(&db->trees[i], &src->trees[i]);
    }
    db->schema = cairn_schema_retain(src->schema);
    db->max_eid = src->max_eid;
    db->max_tx = src->max_tx;
    db->last_instant = src->last_instant;
    db->has_commit = src->has_commit;
    db->commit = src->commit;
    db->config_addr = src->config_addr;
    db->schema_stored = src->schema_stored;
    db->schema_addr = src->schema_addr;
    if (src->parent_count) {
        db->parents = cairn_malloc(cairn_mul_size(src->parent_count, sizeof *db->parents));
        if (!db->parents) {
            cairn_db_release(db);
            return CAIRN_ENOMEM;
        }
        memcpy(db->parents, src->parents, src->parent_count * sizeof *db->parents);
        db->parent_count = src->parent_count;
    }
    db->view = view;
    db->view_tx = view_tx;
    db->has_base = src->has_base;
    memcpy(db->base_roots, src->base_roots, sizeof db->base_roots);
    db->tail_depth = src->tail_depth;
    db->tail_keys = src->tail_keys;
    db->tail_prev = src->tail_prev;
    db->pending = cairn_delta_retain(src->pending);
    db->unapplied = src->unapplied;
    db->unapplied_keys = src->unapplied_keys;
    *out = db;
    return 0;
}

cairn_db *cairn_db_retain(cairn_db *db)
{
    if (db)
        atomic_fetch_add_explicit(&db->refcnt, 1, memory_order_relaxed);
    return db;
}

void cairn_db_release(cairn_db *db)
{
    if (!db || atomic_fetch_sub_explicit(&db->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    for (int i = 0; i < CAIRN_T_COUNT_; i++)
        cairn_btree_dispose(&db->trees[i]);
    cairn_schema_release(db->schema);
    cairn_free(db->parents);
    cairn_delta_release(db->pending);
    cairn_dbctx_release(db->ctx);
    cairn_free(db);
}

/* ---- cursors ----------------------------------------------------------------- */

struct event {
    size_t off;        /* key bytes in the cursor's group buffer */
    size_t len;        /* key length */
    int hist;          /* from the history twin */
};

struct cairn_cursor {
    const cairn_db *db;          /* borrowed: must outlive the cursor */
    cairn_index_kind index;      /* which index */
    int reverse;                 /* direction */
    int merge;                   /* reads the history twin too */
    cairn_buf lo, hi;            /* copies of the range keys */
    cairn_btree_range range;     /* pointing into lo/hi */
    cairn_btree_iter cur;        /* current tree */
    cairn_btree_iter hist;       /* history twin */
    cairn_btree_key kc, kh;      /* lookahead of each */
    int has_c, has_h;            /* lookahead valid */
    int started;                 /* lookaheads primed */
    cairn_buf out;               /* bytes of the datom handed out */
    cairn_buf group;             /* as-of: the events of one (e, a, v) */
    struct event *events;        /* as-of: those events */
    size_t nev, capev;
    cairn_buf pend;              /* as-of: first event of the next group */
    int pend_hist;               /* ... from the twin */
    int has_pend;                /* pend holds an event */
};

int cairn_cursor_open(cairn_cursor **out, const cairn_db *db, const cairn_cursor_opts *opts)
{
    cairn_cursor *c = cairn_malloc(sizeof *c);
    int rc = 0;
    if (!c)
        return CAIRN_ENOMEM;
    memset(c, 0, sizeof *c);
    c->db = db;
    c->index = opts->index;
    c->reverse = opts->reverse;
    c->merge = db->view == CAIRN_VIEW_HISTORY || db->view == CAIRN_VIEW_AS_OF;
    c->range = opts->range;
    if (opts->range.lo.key) {
        if ((rc = cairn_buf_put(&c->lo, opts->range.lo.key, opts->range.lo.len)) < 0 ||
            (rc = cairn_buf_grow(&c->lo, 0)) < 0)
            goto fail;
        c->range.lo.key = c->lo.ptr;
    }
    if (opts->range.hi.key) {
        if ((rc = cairn_buf_put(&c->hi, opts->range.hi.key, opts->range.hi.len)) < 0 ||
            (rc = cairn_buf_grow(&c->hi, 0)) < 0)
            goto fail;
        c->range.hi.key = c->hi.ptr;
    }
    cairn_btree_iter_init(&c->cur, &db->trees[opts->index], &c->range, opts->reverse ? CAIRN_BTREE_REVERSE : 0);
    if (c->merge)
        cairn_btree_iter_init(&c->hist, &db->trees[opts->index + 3], &c->range,
                              opts->reverse ? CAIRN_BTREE_REVERSE : 0);
    *out = c;
    return 0;
fail:
    cairn_buf_dispose(&c->lo);
    cairn_buf_dispose(&c->hi);
    cairn_free(c);
    return rc;
}

void cairn_cursor_close(cairn_cursor *c)
{
    if (!c)
        return;
    cairn_btree_iter_dispose(&c->cur);
    if (c->merge)
        cairn_btree_iter_dispose(&c->hist);
    cairn_buf_dispose(&c->lo);
    cairn_buf_dispose(&c->hi);
    cairn_buf_dispose(&c->out);
    cairn_buf_dispose(&c->group);
    cairn_buf_dispose(&c->pend);
    cairn_free(c->events);
    cairn_free(c);
}

static int to_raw(cairn_raw_datom *out, cairn_index_kind index, int hist, const uint8_t *key, size_t len)
{
    cairn_key_parts p;
    int rc = cairn_key_split(&p, index, hist, key, len);
    if (rc < 0)
        return rc;
    out->e = (int64_t)p.e;
    out->a = (int64_t)p.a;
    out->v = p.v;
    out->v_len = p.v_len;
    out->tx = (int64_t)p.tx;
    out->added = p.added;
    return 0;
}

static int key_cmp(const cairn_btree_key *a, const cairn_btree_key *b)
{
    int c = memcmp(a->data, b->data, CAIRN_MIN(a->len, b->len));
    if (c)
        return c;
    return (a->len > b->len) - (a->len < b->len);
}

/* Next event of the merged stream: key bytes and whether from the twin. */
static int merged_next(cairn_cursor *c, cairn_btree_key *key, int *hist)
{
    int rc, take_c;
    if (!c->started) {
        if ((rc = cairn_btree_iter_next(&c->cur, &c->kc)) < 0)
            return rc;
        c->has_c = rc;
        if ((rc = cairn_btree_iter_next(&c->hist, &c->kh)) < 0)
            return rc;
        c->has_h = rc;
        c->started = 1;
    }
    if (!c->has_c && !c->has_h)
        return 0;
    if (!c->has_h)
        take_c = 1;
    else if (!c->has_c)
        take_c = 0;
    else
        take_c = c->reverse ? key_cmp(&c->kc, &c->kh) > 0 : key_cmp(&c->kc, &c->kh) < 0;
    /* copy out: the lookahead is replaced below */
    cairn_buf_clear(&c->out);
    if (take_c) {
        if (cairn_buf_put(&c->out, c->kc.data, c->kc.len) < 0)
            return CAIRN_ENOMEM;
        *hist = 0;
        if ((rc = cairn_btree_iter_next(&c->cur, &c->kc)) < 0)
            return rc;
        c->has_c = rc;
    } else {
        if (cairn_buf_put(&c->out, c->kh.data, c->kh.len) < 0)
            return CAIRN_ENOMEM;
        *hist = 1;
        if ((rc = cairn_btree_iter_next(&c->hist, &c->kh)) < 0)
            return rc;
        c->has_h = rc;
    }
    key->data = (const uint8_t *)c->out.ptr;
    key->len = c->out.len;
    return 1;
}

/* Bytes of a key before its u(tx) (and op byte). */
static size_t group_len(cairn_index_kind index, int hist, const uint8_t *key, size_t len)
{
    cairn_key_parts p;
    size_t txlen = 1;
    if (cairn_key_split(&p, index, hist, key, len) < 0)
        return len;
    for (uint64_t t = p.tx; t; t >>= 8)
        txlen++;
    return len - txlen - (hist ? 1 : 0);
}

static int push_event(cairn_cursor *c, const cairn_btree_key *k, int hist)
{
    if (c->nev == c->capev) {
        size_t cap = c->capev ? c->capev * 2 : 8;
        struct event *p = cairn_realloc(c->events, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        c->events = p;
        c->capev = cap;
    }
    c->events[c->nev].off = c->group.len;
    c->events[c->nev].len = k->len;
    c->events[c->nev].hist = hist;
    c->nev++;
    return cairn_buf_put(&c->group, k->data, k->len);
}

/* As-of: reads the events of the next (e, a, v) group and decides it. */
static int as_of_next(cairn_cursor *c, cairn_raw_datom *out)
{
    cairn_btree_key k;
    int hist, rc;
    for (;;) {
        size_t glen;
        long pick = -1;
        int64_t best_tx = -1;
        c->nev = 0;
        cairn_buf_clear(&c->group);
        if (!c->has_pend) {
            if ((rc = merged_next(c, &k, &hist)) < 0)
                return rc;
            if (rc == 0)
                return CAIRN_ENOTFOUND;
        } else {
            k.data = (const uint8_t *)c->pend.ptr;
            k.len = c->pend.len;
            hist = c->pend_hist;
        }
        if ((rc = push_event(c, &k, hist)) < 0)
            return rc;
        c->has_pend = 0;
        glen = group_len(c->index, hist, (const uint8_t *)c->group.ptr, c->group.len);
        for (;;) {
            const uint8_t *first = (const uint8_t *)c->group.ptr;
            if ((rc = merged_next(c, &k, &hist)) < 0)
                return rc;
            if (rc == 0)
                break;
            if (group_len(c->index, hist, k.data, k.len) != glen || memcmp(k.data, first, glen) != 0) {
                cairn_buf_clear(&c->pend);
                if (cairn_buf_put(&c->pend, k.data, k.len) < 0)
                    return CAIRN_ENOMEM;
                c->pend_hist = hist;
                c->has_pend = 1;
                break;
            }
            if ((rc = push_event(c, &k, hist)) < 0)
                return rc;
        }
        for (size_t i = 0; i < c->nev; i++) {
            cairn_raw_datom d;
            if ((rc = to_raw(&d, c->index, c->events[i].hist, (const uint8_t *)c->group.ptr + c->events[i].off,
                             c->events[i].len)) < 0)
                return rc;
            if (d.tx <= c->db->view_tx && (d.tx > best_tx || (d.tx == best_tx && !d.added))) {
                best_tx = d.tx;
                pick = (long)i;
            }
        }
        if (pick >= 0) {
            struct event *ev = &c->events[pick];
            if ((rc = to_raw(out, c->index, ev->hist, (const uint8_t *)c->group.ptr + ev->off, ev->len)) < 0)
                return rc;
            if (out->added)
                return 0;
        }
    }
}

int cairn_cursor_next(cairn_cursor *c, cairn_raw_datom *out)
{
    cairn_btree_key k;
    int hist, rc;
    switch (c->db->view) {
    case CAIRN_VIEW_AS_OF:
        return as_of_next(c, out);
    case CAIRN_VIEW_HISTORY:
        if ((rc = merged_next(c, &k, &hist)) < 0)
            return rc;
        if (rc == 0)
            return CAIRN_ENOTFOUND;
        return to_raw(out, c->index, hist, k.data, k.len);
    default:
        for (;;) {
            if ((rc = cairn_btree_iter_next(&c->cur, &k)) < 0)
                return rc;
            if (rc == 0)
                return CAIRN_ENOTFOUND;
            if ((rc = to_raw(out, c->index, 0, k.data, k.len)) < 0)
                return rc;
            if (c->db->view != CAIRN_VIEW_SINCE || out->tx > c->db->view_tx)
                return 0;
        }
    }
}

/*
 * scan_prefix of a writer's value with unapplied deltas (tail.c): the tree's
 * keys merged with the deltas' changes, the newest change of a key deciding
 * whether it is there.
 */
static int scan_overlay(const cairn_db *db, cairn_index_kind index, const uint8_t *prefix, size_t len,
                        cairn_datom_cb cb, void *payload)
{
    cairn_btree_range r = cairn_btree_range_prefix(prefix, len);
    cairn_btree_iter it;
    cairn_btree_key keys[64];
    cairn_raw_datom d;
    cairn_ovl o = { NULL, 0, 0 };
    size_t j = 0;
    int rc = cairn_db__overlay(&o, db, (int)index, prefix, len);
    if (rc < 0)
        return rc;
    cairn_btree_iter_init(&it, &db->trees[index], &r, 0);
    for (;;) {
        int n = cairn_btree_iter_next_batch(&it, keys, CAIRN_ARRAY_LEN(keys));
        if (n < 0) {
            rc = n;
            goto done;
        }
        if (n == 0)
            break;
        for (int i = 0; i < n; i++) {
            int c = 1;
            /* the changes of keys before this one: only insertions show */
            while (j < o.n && (c = cairn_key_cmp(o.v[j].key, o.v[j].len, keys[i].data, keys[i].len)) < 0) {
                if (o.v[j].op == CAIRN_BTREE_INSERT &&
                    ((rc = to_raw(&d, index, 0, o.v[j].key, o.v[j].len)) < 0 || (rc = cb(&d, payload)) != 0))
                    goto done;
                j++;
            }
            if (j < o.n && c == 0 && o.v[j++].op == CAIRN_BTREE_DELETE)
                continue; /* deleted since the trees */
            if ((rc = to_raw(&d, index, 0, keys[i].data, keys[i].len)) < 0 || (rc = cb(&d, payload)) != 0)
                goto done;
        }
    }
    for (; j < o.n; j++)
        if (o.v[j].op == CAIRN_BTREE_INSERT &&
            ((rc = to_raw(&d, index, 0, o.v[j].key, o.v[j].len)) < 0 || (rc = cb(&d, payload)) != 0))
            goto done;
done:
    cairn_btree_iter_dispose(&it);
    cairn_ovl_dispose(&o);
    return rc;
}

int cairn_db__scan_prefix(const cairn_db *db, cairn_index_kind index, const uint8_t *prefix, size_t len,
                          cairn_datom_cb cb, void *payload)
{
    cairn_cursor_opts o;
    cairn_cursor *c;
    cairn_raw_datom d;
    int rc;
    if (db->unapplied && index <= CAIRN_IX_AVET)
        return scan_overlay(db, index, prefix, len, cb, payload);
    if (db->view == CAIRN_VIEW_CURRENT) {
        /* the hot path of transactions and lookups: no cursor, batches */
        cairn_btree_range r = cairn_btree_range_prefix(prefix, len);
        cairn_btree_iter it;
        cairn_btree_key keys[64];
        cairn_btree_iter_init(&it, &db->trees[index], &r, 0);
        for (;;) {
            int n = cairn_btree_iter_next_batch(&it, keys, CAIRN_ARRAY_LEN(keys));
            if (n <= 0) {
                rc = n;
                break;
            }
            for (int i = 0; i < n; i++) {
                if ((rc = to_raw(&d, index, 0, keys[i].data, keys[i].len)) < 0 || (rc = cb(&d, payload)) != 0)
                    goto done;
            }
        }
    done:
        cairn_btree_iter_dispose(&it);
        return rc;
    }
    o.index = index;
    o.range = cairn_btree_range_prefix(prefix, len);
    o.reverse = 0;
    if ((rc = cairn_cursor_open(&c, db, &o)) < 0)
        return rc;
    while ((rc = cairn_cursor_next(c, &d)) == 0)
        if ((rc = cb(&d, payload)) != 0)
            break;
    cairn_cursor_close(c);
    return rc == CAIRN_ENOTFOUND ? 0 : rc;
}

int cairn_db__count_prefix(const cairn_db *db, cairn_index_kind index, const uint8_t *prefix, size_t len,
                           uint64_t *out)
{
    cairn_btree_range r = cairn_btree_range_prefix(prefix, len);
    uint64_t n = 0, h = 0;
    int rc = cairn_btree_count_range(&n, &db->trees[index], len ? &r : NULL);
    if (rc < 0)
        return rc;
    if (db->unapplied && index <= CAIRN_IX_AVET) {
        /* the unapplied changes that add or remove a key (tail.c) */
        cairn_ovl o = { NULL, 0, 0 };
        if ((rc = cairn_db__overlay(&o, db, (int)index, prefix, len)) == 0) {
            for (size_t i = 0; i < o.n && rc >= 0; i++) {
                if ((rc = cairn_btree_contains(&db->trees[index], o.v[i].key, o.v[i].len)) >= 0)
                    n += o.v[i].op == CAIRN_BTREE_INSERT ? !rc : -(uint64_t)rc;
            }
        }
        cairn_ovl_dispose(&o);
        if (rc < 0)
            return rc;
    }
    if (db->view == CAIRN_VIEW_HISTORY || db->view == CAIRN_VIEW_AS_OF) {
        if ((rc = cairn_btree_count_range(&h, &db->trees[index + 3], len ? &r : NULL)) < 0)
            return rc;
        n += h;
    }
    *out = n;
    return 0;
}

/* ---- ids ------------------------------------------------------------------------ */

const cairn_attr *cairn_db__attr(const cairn_db *db, cairn_val ident)
{
    return cairn_schema_by_ident(db->schema, ident);
}

struct first {
    int64_t e;   /* entity found */
};

static int first_cb(const cairn_raw_datom *d, void *payload)
{
    ((struct first *)payload)->e = d->e;
    return 1;
}

/* The entity holding unique value v of attribute a (0 if none). */
static int unique_lookup(const cairn_db *db, const cairn_attr *a, cairn_val v, int64_t *out)
{
    cairn_buf prefix = CAIRN_BUF_INIT;
    struct first f = { 0 };
    int rc = cairn_key_put_u(&prefix, (uint64_t)a->id);
    if (rc == 0)
        rc = cairn_key_put_value(&prefix, v);
    if (rc == 0) {
        rc = cairn_db__scan_prefix(db, CAIRN_IX_AVET, (uint8_t *)prefix.ptr, prefix.len, first_cb, &f);
        if (rc > 0)
            rc = 0;
    }
    cairn_buf_dispose(&prefix);
    *out = f.e;
    return rc == CAIRN_EINVALID ? 0 : rc;
}

int cairn_db__ident_eid(const cairn_db *db, cairn_val ident, int64_t *out)
{
    const cairn_attr *ia = cairn_schema_by_id(db->schema, CAIRN_SYS_ID(CAIRN_SYS_IDENT));
    const cairn_attr *a;
    int rc = unique_lookup(db, ia, ident, out);
    if (rc == 0 && !*out && (a = cairn_schema_by_ident(db->schema, ident)) != NULL)
        *out = a->id;
    return rc;
}

int cairn_db__entid(const cairn_db *db, cairn_val ref, int64_t *out, cairn_error *err)
{
    *out = 0;
    switch (cairn_type_of(ref)) {
    case CAIRN_INT:
        *out = cairn_int_value(ref);
        return 0;
    case CAIRN_KEYWORD:
        return cairn_db__ident_eid(db, ref, out);
    case CAIRN_VECTOR:
    case CAIRN_LIST: {
        const cairn_attr *a;
        cairn_val v;
        if (cairn_count(ref) != 2)
            break;
        if (!(a = cairn_schema_by_ident(db->schema, cairn_coll_get(ref, 0))))
            return cairn_error_set(err, CAIRN_EINVALID, ":lookup-ref/syntax", "lookup ref attribute %s is not defined",
                                   cairn_ident_get(cairn_coll_get(ref, 0), NULL) ? cairn_ident_get(cairn_coll_get(ref, 0), NULL)
                                                                                 : "?");
        if (!a->unique)
            return cairn_error_set(err, CAIRN_EINVALID, ":lookup-ref/unique",
                                   "lookup ref attribute should be marked as :db/unique: %s", cairn_ident_get(a->ident, NULL));
        v = cairn_coll_get(ref, 1);
        if (a->type == CAIRN_VT_REF && cairn_type_of(v) != CAIRN_INT) {
            int64_t id;
            int rc = cairn_db__entid(db, v, &id, err);
            if (rc < 0)
                return rc;
            v = cairn_int(id);
        }
        if (cairn_type_of(v) == CAIRN_NIL)
            return 0;
        return unique_lookup(db, a, v, out);
    }
    default:
        break;
    }
    return cairn_error_set(err, CAIRN_EINVALID, ":entity-id/syntax",
                           "expected an entity id, a lookup ref or an ident");
}

int cairn_db__value(cairn_val *out, const cairn_raw_datom *d)
{
    return cairn_key_get_value(out, d->v, d->v_len);
}
