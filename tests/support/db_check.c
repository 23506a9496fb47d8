/* The batch workload and its consistency check; see db_check.h. */
#include "db_check.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void dbcheck_batch_tx(char *buf, size_t cap, int64_t k)
{
    int m = 1 + (int)(k % 5);
    size_t n = (size_t)snprintf(buf, cap, "[{:batch/id %lld :batch/n %d}", (long long)k, m);
    for (int j = 0; j < m && n < cap; j++)
        n += (size_t)snprintf(buf + n, cap - n, " {:item/batch %lld :item/v %d}", (long long)k, j);
    if (n < cap)
        snprintf(buf + n, cap - n, "]");
}

static int kw(cairn_val *out, const char *text)
{
    return cairn_keyword(out, text, strlen(text));
}

/* Calls fn for each datom of attribute attr (AEVT). */
static int each(const cairn_db *db, const char *attr, void (*fn)(const cairn_datom *d, void *p), void *p)
{
    cairn_val comps, a;
    cairn_datoms *it;
    cairn_datom d;
    int rc;
    if ((rc = kw(&a, attr)) != 0 || (rc = cairn_vector_new(&comps, 1)) != 0)
        return rc;
    cairn_coll_push(&comps, a);
    rc = cairn_datoms_open(&it, db, CAIRN_INDEX_AEVT, comps, NULL);
    cairn_release(comps);
    if (rc != 0)
        return rc;
    while ((rc = cairn_datoms_next(it, &d)) == 0)
        fn(&d, p);
    cairn_datoms_close(it);
    return rc == CAIRN_ENOTFOUND ? 0 : rc;
}

struct counts {
    int64_t *want;      /* :batch/n by batch id */
    int64_t *got;       /* items seen by batch id */
    size_t len;         /* room */
    int64_t batches;    /* batch entities */
    int64_t max_batch;  /* largest id */
    int overflow;       /* an id past len */
    int64_t next_tx;    /* expected next tx id */
    int gap;            /* a tx id was missing */
};

static int grow(struct counts *c, int64_t k)
{
    if (k < 0)
        return -1;
    if ((size_t)k >= c->len) {
        size_t len = c->len ? c->len : 1024;
        while (len <= (size_t)k)
            len *= 2;
        c->want = realloc(c->want, len * sizeof *c->want);
        c->got = realloc(c->got, len * sizeof *c->got);
        memset(c->want + c->len, 0, (len - c->len) * sizeof *c->want);
        memset(c->got + c->len, 0, (len - c->len) * sizeof *c->got);
        c->len = len;
    }
    return 0;
}

/* entity -> batch id, from :batch/id datoms (entities in AEVT order) */
struct ent_map {
    int64_t *e;     /* batch entities */
    int64_t *k;     /* their ids */
    size_t n, cap;  /* count, room */
};

static void on_batch_id(const cairn_datom *d, void *p)
{
    struct ent_map *m = p;
    if (m->n == m->cap) {
        m->cap = m->cap ? m->cap * 2 : 1024;
        m->e = realloc(m->e, m->cap * sizeof *m->e);
        m->k = realloc(m->k, m->cap * sizeof *m->k);
    }
    m->e[m->n] = d->e;
    m->k[m->n] = cairn_int_value(d->v);
    m->n++;
}

struct n_ctx {
    struct ent_map *m;  /* batch entities (sorted by e) */
    struct counts *c;   /* counts */
    size_t pos;         /* merge position */
};

static void on_batch_n(const cairn_datom *d, void *p)
{
    struct n_ctx *x = p;
    while (x->pos < x->m->n && x->m->e[x->pos] < d->e)
        x->pos++;
    if (x->pos < x->m->n && x->m->e[x->pos] == d->e) {
        int64_t k = x->m->k[x->pos];
        if (grow(x->c, k) == 0)
            x->c->want[k] = cairn_int_value(d->v);
    }
}

static void on_item(const cairn_datom *d, void *p)
{
    struct counts *c = p;
    int64_t k = cairn_int_value(d->v);
    if (grow(c, k) == 0)
        c->got[k]++;
}

static void on_instant(const cairn_datom *d, void *p)
{
    struct counts *c = p;
    if (d->e != c->next_tx)
        c->gap = 1;
    c->next_tx = d->e + 1;
}

int dbcheck_snapshot(dbcheck_result *out, const cairn_db *db, uint8_t *have, size_t have_len)
{
    struct counts c;
    struct ent_map m;
    struct n_ctx x;
    int rc = 0;
    memset(&c, 0, sizeof c);
    memset(&m, 0, sizeof m);
    memset(out, 0, sizeof *out);
    out->max_tx = cairn_db_max_tx(db);
    c.next_tx = 536870913;
    if ((rc = each(db, "batch/id", on_batch_id, &m)) != 0)
        goto done;
    x.m = &m;
    x.c = &c;
    x.pos = 0;
    if ((rc = each(db, "batch/n", on_batch_n, &x)) != 0 || (rc = each(db, "item/batch", on_item, &c)) != 0 ||
        (rc = each(db, "db/txInstant", on_instant, &c)) != 0)
        goto done;
    for (size_t i = 0; i < m.n; i++) {
        int64_t k = m.k[i];
        if (grow(&c, k) != 0)
            continue;
        out->batches++;
        if (k > out->max_batch)
            out->max_batch = k;
        if (have && (size_t)k < have_len)
            have[k] = 1;
        if (!out->problem[0] && c.got[k] != c.want[k])
            snprintf(out->problem, sizeof out->problem, "batch %lld has %lld of %lld items", (long long)k,
                     (long long)c.got[k], (long long)c.want[k]);
    }
    for (size_t k = 0; k < c.len && !out->problem[0]; k++)
        if (c.got[k] && !c.want[k])
            snprintf(out->problem, sizeof out->problem, "items of batch %zu without their batch", k);
    if (!out->problem[0] && c.gap)
        snprintf(out->problem, sizeof out->problem, "transaction ids have a gap");
    if (!out->problem[0] && c.next_tx != out->max_tx + 1)
        snprintf(out->problem, sizeof out->problem, "last transaction %lld has no instant (max-tx %lld)",
                 (long long)c.next_tx - 1, (long long)out->max_tx);
done:
    free(c.want);
    free(c.got);
    free(m.e);
    free(m.k);
    if (rc != 0)
        snprintf(out->problem, sizeof out->problem, "reading failed: %s", cairn_strerror(rc));
    return out->problem[0] ? -1 : 0;
}
