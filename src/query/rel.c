/*
 * Relations of cells, variable sets, and the hash structures every join,
 * dedup, semi- and anti-join is made of.
 *
 * A relation is one row-major array: a join writes rows by appending, a
 * probe reads a row with one pointer, and hashing a key is a few multiplies
 * over 64-bit words. The hash multimap (qindex) reads keys from the rows it
 * indexes instead of copying them, keeps chains in insertion order (so
 * results are deterministic), and can grow with its relation, which the
 * rule fixpoint needs (answers arrive round after round).
 *
 * Rejected: columnar storage (every operator here reads whole rows); a
 * generic hash table of boxed keys (an allocation per key).
 */
#include "query/query.h"

#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"

/* ---- variable sets --------------------------------------------------------- */

#define QW (QMAX_VARS / 64)

void qv_clear(qvset *s)
{
    memset(s, 0, sizeof *s);
}

void qv_union(qvset *a, const qvset *b)
{
    for (int i = 0; i < QW; i++)
        a->w[i] |= b->w[i];
}

void qv_inter(qvset *a, const qvset *b)
{
    for (int i = 0; i < QW; i++)
        a->w[i] &= b->w[i];
}

void qv_minus(qvset *a, const qvset *b)
{
    for (int i = 0; i < QW; i++)
        a->w[i] &= ~b->w[i];
}

int qv_subset(const qvset *a, const qvset *b)
{
    for (int i = 0; i < QW; i++)
        if (a->w[i] & ~b->w[i])
            return 0;
    return 1;
}

int qv_meets(const qvset *a, const qvset *b)
{
    for (int i = 0; i < QW; i++)
        if (a->w[i] & b->w[i])
            return 1;
    return 0;
}

int qv_empty(const qvset *a)
{
    for (int i = 0; i < QW; i++)
        if (a->w[i])
            return 0;
    return 1;
}

int qv_count(const qvset *a)
{
    int n = 0;
    for (int i = 0; i < QW; i++)
        n += __builtin_popcountll(a->w[i]);
    return n;
}

int qv_equal(const qvset *a, const qvset *b)
{
    return memcmp(a, b, sizeof *a) == 0;
}

int qv_next(const qvset *s, int from)
{
    for (int v = from < 0 ? 0 : from; v < QMAX_VARS;) {
        uint64_t w = s->w[v >> 6] >> (v & 63);
        if (w)
            return v + __builtin_ctzll(w);
        v = (v | 63) + 1;
    }
    return -1;
}

/* ---- relations ------------------------------------------------------------------ */

qcell qrel__none[1];

int qrel_init(qrel *r, int ncols, const int *vars)
{
    memset(r, 0, sizeof *r);
    r->ncols = ncols;
    if (ncols > 0) {
        r->vars = cairn_malloc((size_t)ncols * sizeof *r->vars);
        if (!r->vars)
            return CAIRN_ENOMEM;
        if (vars)
            memcpy(r->vars, vars, (size_t)ncols * sizeof *r->vars);
    }
    return 0;
}

int qrel_unit(qrel *r)
{
    memset(r, 0, sizeof *r);
    r->nrows = 1;
    r->distinct = 1;
    return 0;
}

void qrel_dispose(qrel *r)
{
    cairn_free(r->rows);
    cairn_free(r->vars);
    memset(r, 0, sizeof *r);
}

int qrel_reserve(qrel *r, size_t n)
{
    size_t want, cap;
    qcell *p;
    if (r->ncols == 0)
        return 0;
    if (n > QREL_MAX_ROWS - r->nrows)
        return CAIRN_ELIMIT;
    want = r->nrows + n;
    if (want <= r->cap)
        return 0;
    cap = r->cap ? r->cap : 16;
    while (cap < want)
        cap = cap > QREL_MAX_ROWS / 2 ? QREL_MAX_ROWS : cap * 2;
    p = cairn_realloc(r->rows, cairn_mul_size(cap, (size_t)r->ncols * sizeof *p));
    if (!p)
        return CAIRN_ENOMEM;
    r->rows = p;
    r->cap = cap;
    return 0;
}

qcell *qrel_add(qrel *r)
{

    if (r->ncols == 0) {
        if (r->nrows >= QREL_MAX_ROWS)
            return NULL;
        r->nrows++;
        return qrel__none;
    }
    if (r->nrows == r->cap && qrel_reserve(r, 1) < 0)
        return NULL;
    return r->rows + (r->nrows++) * (size_t)r->ncols;
}

int qrel_push(qrel *r, const qcell *row)
{
    qcell *dst = qrel_add(r);
    if (!dst)
        return r->nrows >= QREL_MAX_ROWS ? CAIRN_ELIMIT : CAIRN_ENOMEM;
    if (r->ncols)
        memcpy(dst, row, (size_t)r->ncols * sizeof *row);
    return 0;
}

int qrel_col(const qrel *r, int var)
{
    for (int i = 0; i < r->ncols; i++)
        if (r->vars[i] == var)
            return i;
    return -1;
}

void qrel_move(qrel *dst, qrel *src)
{
    if (dst == src)
        return;
    qrel_dispose(dst);
    *dst = *src;
    memset(src, 0, sizeof *src);
}

uint64_t qhash_cells(const qcell *row, const int *cols, int n)
{
    uint64_t h = 0x51ed27f1c3a5b9d3ULL;
    for (int i = 0; i < n; i++)
        h = (h ^ row[cols ? cols[i] : i]) * 0x9e3779b97f4a7c15ULL, h ^= h >> 29;
    return cairn_hash_mix(h);
}

int qrel_dedup(qrel *r)
{
    qrowset s;
    size_t keep = 0;
    int rc;
    if (r->ncols == 0) {
        if (r->nrows > 1)
            r->nrows = 1;
        return 0;
    }
    if (r->nrows < 2)
        return 0;
    if ((rc = qrowset_init(&s, r->ncols, r->vars)) < 0)
        return rc;
    for (size_t i = 0; i < r->nrows; i++) {
        qcell *row = qrel_row(r, i);
        if ((rc = qrowset_add(&s, row)) < 0)
            break;
        if (rc == 1) {
            if (keep != i)
                memmove(qrel_row(r, keep), row, (size_t)r->ncols * sizeof *row);
            keep++;
        }
        rc = 0;
    }
    qrowset_dispose(&s);
    if (rc == 0) {
        r->nrows = keep;
        r->distinct = 1;
    }
    return rc;
}

int qrel_project(qrel *out, const qrel *in, const int *vars, int nvars, int distinct)
{
    int cols[QMAX_VARS], rc;
    qrowset seen;
    int use_set = distinct && nvars > 0 && in->nrows > 1 && !(in->distinct && nvars == in->ncols);
    if ((rc = qrel_init(out, nvars, vars)) < 0)
        return rc;
    for (int i = 0; i < nvars; i++) {
        cols[i] = qrel_col(in, vars[i]);
        assert(cols[i] >= 0);
    }
    if (nvars == 0) {
        out->nrows = in->nrows ? (distinct ? 1 : in->nrows) : 0;
        out->distinct = distinct || in->nrows <= 1;
        return 0;
    }
    /* keeping every column keeps distinctness */
    out->distinct = in->distinct && nvars == in->ncols;
    if (use_set && (rc = qrowset_init(&seen, nvars, vars)) < 0) {
        qrel_dispose(out);
        return rc;
    }
    if (!use_set && (rc = qrel_reserve(out, in->nrows)) < 0) {
        qrel_dispose(out);
        return rc;
    }
    for (size_t i = 0; i < in->nrows && rc == 0; i++) {
        const qcell *src = qrel_row(in, i);
        qcell row[QMAX_VARS];
        for (int j = 0; j < nvars; j++)
            row[j] = src[cols[j]];
        if (use_set) {
            rc = qrowset_add(&seen, row);
            rc = rc < 0 ? rc : 0;
        } else {
            rc = qrel_push(out, row);
        }
    }
    if (use_set) {
        if (rc == 0) {
            qrel_dispose(out);
            qrel_move(out, &seen.rel);
        }
        qrowset_dispose(&seen);
    }
    if (distinct)
        out->distinct = 1;
    if (rc < 0)
        qrel_dispose(out);
    return rc;
}

/* ---- hash multimap --------------------------------------------------------------- */

int qindex_init(qindex *ix, const int *cols, int ncols)
{
    memset(ix, 0, sizeof *ix);
    ix->ncols = ncols;
    if (ncols) {
        ix->cols = cairn_malloc((size_t)ncols * sizeof *ix->cols);
        if (!ix->cols)
            return CAIRN_ENOMEM;
        memcpy(ix->cols, cols, (size_t)ncols * sizeof *cols);
    }
    return 0;
}

void qindex_dispose(qindex *ix)
{
    cairn_free(ix->heads);
    cairn_free(ix->tails);
    cairn_free(ix->next);
    cairn_free(ix->hashes);
    cairn_free(ix->cols);
    memset(ix, 0, sizeof *ix);
}

static void link_row(qindex *ix, uint32_t row)
{
    size_t b = ix->hashes[row] & (ix->nb - 1);
    ix->next[row] = 0;
    if (ix->tails[b])
        ix->next[ix->tails[b] - 1] = row + 1;
    else
        ix->heads[b] = row + 1;
    ix->tails[b] = row + 1;
}

static int rebucket(qindex *ix, size_t nb)
{
    uint32_t *h = cairn_malloc(nb * sizeof *h), *t = cairn_malloc(nb * sizeof *t);
    if (!h || !t) {
        cairn_free(h);
        cairn_free(t);
        return CAIRN_ENOMEM;
    }
    memset(h, 0, nb * sizeof *h);
    memset(t, 0, nb * sizeof *t);
    cairn_free(ix->heads);
    cairn_free(ix->tails);
    ix->heads = h;
    ix->tails = t;
    ix->nb = nb;
    for (size_t i = 0; i < ix->nrows; i++)
        link_row(ix, (uint32_t)i);
    return 0;
}

int qindex_add(qindex *ix, const qrel *r)
{
    size_t n = r->nrows;
    int rc;
    if (n <= ix->nrows)
        return 0;
    if (n > ix->room) {
        size_t room = ix->room ? ix->room : 16;
        uint32_t *nx;
        uint64_t *hs;
        while (room < n)
            room *= 2;
        nx = cairn_realloc(ix->next, room * sizeof *nx);
        if (!nx)
            return CAIRN_ENOMEM;
        ix->next = nx;
        hs = cairn_realloc(ix->hashes, room * sizeof *hs);
        if (!hs)
            return CAIRN_ENOMEM;
        ix->hashes = hs;
        ix->room = room;
    }
    for (size_t i = ix->nrows; i < n; i++)
        ix->hashes[i] = qhash_cells(qrel_row(r, i), ix->cols, ix->ncols);
    if (n > ix->nb) {
        size_t nb = ix->nb ? ix->nb : 16;
        while (nb < n)
            nb *= 2;
        ix->nrows = n;
        if ((rc = rebucket(ix, nb)) < 0) {
            ix->nrows = 0;
            return rc;
        }
        return 0;
    }
    for (size_t i = ix->nrows; i < n; i++)
        link_row(ix, (uint32_t)i);
    ix->nrows = n;
    return 0;
}

static int key_eq(const qindex *ix, const qcell *row, const qcell *key)
{
    for (int i = 0; i < ix->ncols; i++)
        if (row[ix->cols[i]] != key[i])
            return 0;
    return 1;
}

uint32_t qindex_find(const qindex *ix, const qrel *r, const qcell *key, uint64_t hash)
{
    uint32_t at;
    if (!ix->nb)
        return 0;
    for (at = ix->heads[hash & (ix->nb - 1)]; at; at = ix->next[at - 1])
        if (ix->hashes[at - 1] == hash && key_eq(ix, qrel_row(r, at - 1), key))
            return at;
    return 0;
}

uint32_t qindex_next(const qindex *ix, const qrel *r, uint32_t at, const qcell *key)
{
    uint64_t hash = ix->hashes[at - 1];
    for (at = ix->next[at - 1]; at; at = ix->next[at - 1])
        if (ix->hashes[at - 1] == hash && key_eq(ix, qrel_row(r, at - 1), key))
            return at;
    return 0;
}

/* ---- row sets -------------------------------------------------------------------------- */

int qrowset_init(qrowset *s, int ncols, const int *vars)
{
    int cols[QMAX_VARS], rc;
    memset(s, 0, sizeof *s);
    for (int i = 0; i < ncols; i++)
        cols[i] = i;
    if ((rc = qrel_init(&s->rel, ncols, vars)) < 0)
        return rc;
    s->rel.distinct = 1;
    if ((rc = qindex_init(&s->ix, cols, ncols)) < 0) {
        qrel_dispose(&s->rel);
        return rc;
    }
    return 0;
}

void qrowset_dispose(qrowset *s)
{
    qrel_dispose(&s->rel);
    qindex_dispose(&s->ix);
}

int qrowset_has(const qrowset *s, const qcell *row)
{
    if (s->rel.ncols == 0)
        return s->rel.nrows > 0;
    return qindex_find(&s->ix, &s->rel, row, qhash_cells(row, NULL, s->rel.ncols)) != 0;
}

int qrowset_add(qrowset *s, const qcell *row)
{
    int rc;
    if (qrowset_has(s, row))
        return 0;
    if ((rc = qrel_push(&s->rel, row)) < 0)
        return rc;
    if (s->rel.ncols && (rc = qindex_add(&s->ix, &s->rel)) < 0) {
        s->rel.nrows--;
        return rc;
    }
    return 1;
}
