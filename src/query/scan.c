/*
 * Data patterns: [e a v tx added] against a database or a collection, joined
 * with the relation built so far, plus the cardinality estimates the planner
 * orders patterns by.
 *
 * Access paths, chosen from what is constant or bound when the step runs:
 *
 *   a constant, e bound      probe AEVT: the bound entities are sorted, and
 *                            one forward cursor over the attribute seeks to
 *                            each (a seek inside the current leaf is a binary
 *                            search, so dense probes cost a merge join and
 *                            sparse ones a few descents);
 *   a constant, v bound      probe AVET the same way, when the attribute is in
 *                            AVET (unique, indexed, ref);
 *   a constant, otherwise    scan AEVT (or AVET for a constant v), filter
 *                            constants on the encoded bytes, and join the
 *                            bound positions through a hash index on the
 *                            input rows (the scan streams, nothing of it is
 *                            materialized);
 *   a variable, e bound      probe EAVT;
 *   otherwise                scan EAVT.
 *
 * Values at bound positions that name entities (e, and v of a ref attribute)
 * may be lookup refs or idents from the inputs; they are resolved against the
 * pattern's database before probing or hashing, while the relation keeps the
 * value as given.
 *
 * Rejected: a probe per input row from the root (a mutex-protected cache
 * lookup per level per row, 10x slower than the sorted forward cursor on the
 * benchmark's joins); materializing the scan and running a generic hash
 * join (twice the memory traffic for the common case of a small input).
 */
#include "query/query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "db/key.h"
#include "db/kw.h"

/* ---- scanners over one index of a db value ---------------------------------- */

#define QSCAN_BATCH 128

typedef struct qscan {
    const cairn_db *db;              /* the value */
    cairn_index_kind ix;             /* the index */
    int fast;                        /* current view: read the tree directly */
    cairn_buf lo;                    /* the range prefix (owned) */
    size_t prefix_len;               /* its length */
    cairn_btree_range range;         /* over lo */
    cairn_btree_iter it;             /* fast: the iterator */
    cairn_btree_key keys[QSCAN_BATCH];  /* fast: the current batch */
    int nkeys, pos;                  /* batch size and next */
    cairn_cursor *cur;               /* slow: a view cursor */
    cairn_buf seek;                  /* slow: the seek key */
    cairn_buf hi_store;              /* range scans: the upper bound */
} qscan;

static int scan_open_cursor(qscan *s, const uint8_t *from, size_t from_len)
{
    cairn_cursor_opts o;
    memset(&o, 0, sizeof o);
    o.index = s->ix;
    o.reverse = 0;
    if (s->prefix_len)
        o.range = s->range;
    else
        o.range = (cairn_btree_range)CAIRN_BTREE_RANGE_ALL;
    if (from) {
        o.range.lo.key = from;
        o.range.lo.len = from_len;
        o.range.lo.kind = CAIRN_BOUND_INCL;
    }
    return cairn_cursor_open(&s->cur, s->db, &o);
}

static int scan_open(qscan *s, const cairn_db *db, cairn_index_kind ix, const uint8_t *prefix, size_t len)
{
    memset(s, 0, sizeof *s);
    s->db = db;
    s->ix = ix;
    s->fast = db->view == CAIRN_VIEW_CURRENT;
    if (cairn_buf_put(&s->lo, prefix, len) < 0 || cairn_buf_grow(&s->lo, 0) < 0) {
        cairn_buf_dispose(&s->lo);
        return CAIRN_ENOMEM;
    }
    s->prefix_len = len;
    s->range = cairn_btree_range_prefix(s->lo.ptr, len);
    if (s->fast) {
        cairn_btree_iter_init(&s->it, &db->trees[ix], len ? &s->range : NULL, 0);
        return 0;
    }
    return scan_open_cursor(s, NULL, 0);
}

/* A scanner over [lo, hi-prefix]: every key >= lo and not past keys
 * starting with hi. */
static int scan_open_range(qscan *s, const cairn_db *db, cairn_index_kind ix, const uint8_t *lo, size_t lolen,
                           const uint8_t *hi, size_t hilen)
{
    memset(s, 0, sizeof *s);
    s->db = db;
    s->ix = ix;
    s->fast = db->view == CAIRN_VIEW_CURRENT;
    if (cairn_buf_put(&s->lo, lo, lolen) < 0 || cairn_buf_grow(&s->lo, 0) < 0 || cairn_buf_put(&s->seek, hi, hilen) < 0 ||
        cairn_buf_grow(&s->seek, 0) < 0) {
        cairn_buf_dispose(&s->lo);
        cairn_buf_dispose(&s->seek);
        return CAIRN_ENOMEM;
    }
    /* the hi bytes live in s->hi_store: s->seek is reused by slow seeks */
    if (cairn_buf_put(&s->hi_store, hi, hilen) < 0 || cairn_buf_grow(&s->hi_store, 0) < 0) {
        cairn_buf_dispose(&s->lo);
        cairn_buf_dispose(&s->seek);
        return CAIRN_ENOMEM;
    }
    cairn_buf_clear(&s->seek);
    s->prefix_len = lolen ? lolen : 1;  /* a bounded range */
    s->range.lo.key = s->lo.ptr;
    s->range.lo.len = lolen;
    s->range.lo.kind = CAIRN_BOUND_INCL;
    s->range.hi.key = s->hi_store.ptr;
    s->range.hi.len = hilen;
    s->range.hi.kind = CAIRN_BOUND_PREFIX;
    if (s->fast) {
        cairn_btree_iter_init(&s->it, &db->trees[ix], &s->range, 0);
        return 0;
    }
    return scan_open_cursor(s, NULL, 0);
}

static void scan_close(qscan *s)
{
    if (s->fast)
        cairn_btree_iter_dispose(&s->it);
    else
        cairn_cursor_close(s->cur);
    cairn_buf_dispose(&s->lo);
    cairn_buf_dispose(&s->seek);
    cairn_buf_dispose(&s->hi_store);
    s->cur = NULL;
}

/*
 * A datom read from an index, decoded lazily: a scan tests constants on the
 * encoded bytes and decodes only what a passing datom needs. (Splitting
 * every key in full was two thirds of a constant-value scan.) The layout
 * of each index is a sequence of four components; `stage` says how many
 * are decoded, `pos` where the next one starts.
 */
enum { C_E = 0, C_A, C_V, C_TX };

static const int layout_of[3][4] = {
    { C_E, C_A, C_V, C_TX },  /* EAVT */
    { C_A, C_E, C_V, C_TX },  /* AEVT */
    { C_A, C_V, C_E, C_TX },  /* AVET */
};

typedef struct ldatom {
    const uint8_t *k;        /* key bytes (fast path) */
    size_t len;              /* their length */
    int ix;                  /* cairn_index_kind */
    int stage;               /* components decoded */
    size_t pos;              /* where the next one starts */
    size_t voff;             /* offset of v once reached */
    int64_t e, a, tx;        /* ids */
    const uint8_t *v;        /* value bytes */
    size_t v_len;            /* their length */
    int added;               /* op */
} ldatom;

static size_t get_u(const uint8_t *p, size_t len, int64_t *out)
{
    size_t n;
    uint64_t x = 0;
    if (len < 1 || p[0] > 8 || (size_t)p[0] + 1 > len)
        return 0;
    n = p[0];
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | p[1 + i];
    *out = (int64_t)x;
    return n + 1;
}

/* Length of an encoded value; strings take the memchr path. */
static size_t vlen(const uint8_t *p, size_t len)
{
    uint8_t t;
    if (len < 1)
        return 0;
    t = p[0];
    if (t >= CAIRN_VTAG_INT_MIN && t <= CAIRN_VTAG_INT_MAX) {
        size_t n = t >= CAIRN_VTAG_INT_ZERO ? (size_t)(t - CAIRN_VTAG_INT_ZERO) : (size_t)(CAIRN_VTAG_INT_ZERO - t);
        return len >= n + 1 ? n + 1 : 0;
    }
    if (t == CAIRN_VTAG_STRING) {
        const uint8_t *q = p + 1, *end = p + len;
        while (q < end) {
            const uint8_t *z = memchr(q, 0, (size_t)(end - q));
            if (!z || z + 1 >= end)
                return 0;
            if (z[1] == 0)
                return (size_t)(z + 2 - p);
            if (z[1] != 0xff)
                return 0;
            q = z + 2;
        }
        return 0;
    }
    return cairn_key_value_len(p, len);
}

/* Decodes components up to (and including) the one at stage `upto - 1`. */
static int ld_upto(ldatom *d, int upto)
{
    while (d->stage < upto) {
        int c = layout_of[d->ix][d->stage];
        size_t n;
        if (c == C_V) {
            d->voff = d->pos;
            n = vlen(d->k + d->pos, d->len - d->pos);
            d->v = d->k + d->pos;
            d->v_len = n;
        } else {
            int64_t x = 0;
            n = get_u(d->k + d->pos, d->len - d->pos, &x);
            if (c == C_E)
                d->e = x;
            else if (c == C_A)
                d->a = x;
            else
                d->tx = x;
        }
        if (!n)
            return CAIRN_CORRUPT_BKPT;
        d->pos += n;
        d->stage++;
    }
    return 0;
}

static int stage_of(const ldatom *d, int comp)
{
    const int *l = layout_of[d->ix];
    return l[0] == comp ? 1 : l[1] == comp ? 2 : l[2] == comp ? 3 : 4;
}

/* The component comp decoded (0 or corrupt). */
static inline int ld_need(ldatom *d, int comp)
{
    int st = stage_of(d, comp);
    return d->stage >= st ? 0 : ld_upto(d, st);
}

/* 1 when the value is exactly the encoding enc (no length needed: encodings
 * are prefix-free). */
static int ld_v_is(ldatom *d, const uint8_t *enc, size_t len)
{
    if (d->stage >= stage_of(d, C_V))
        return d->v_len == len && memcmp(d->v, enc, len) == 0;
    if (ld_upto(d, stage_of(d, C_V) - 1) < 0)
        return 0;
    return d->len - d->pos >= len && memcmp(d->k + d->pos, enc, len) == 0;
}

/* 1 with a datom, 0 at the end, or an error. */
static int scan_next(qscan *s, ldatom *d)
{
    int rc;
    d->ix = (int)s->ix;
    if (!s->fast) {
        cairn_raw_datom r;
        rc = cairn_cursor_next(s->cur, &r);
        if (rc < 0)
            return rc == CAIRN_ENOTFOUND ? 0 : rc;
        d->k = NULL;
        d->len = 0;
        d->stage = 4;
        d->e = r.e;
        d->a = r.a;
        d->v = r.v;
        d->v_len = r.v_len;
        d->tx = r.tx;
        d->added = r.added;
        return 1;
    }
    if (s->pos == s->nkeys) {
        int n = cairn_btree_iter_next_batch(&s->it, s->keys, QSCAN_BATCH);
        if (n <= 0)
            return n;
        s->nkeys = n;
        s->pos = 0;
    }
    d->k = s->keys[s->pos].data;
    d->len = s->keys[s->pos].len;
    s->pos++;
    d->stage = 0;
    d->pos = 0;
    d->added = 1;
    return 1;
}

/* Gives back the datom just read (the next scan_next returns it again).
 * Only the fast path needs it: a slow scanner reopens its cursor on seek. */
static void scan_unread(qscan *s)
{
    if (s->fast && s->pos > 0)
        s->pos--;
}

static int key_cmp(const uint8_t *a, size_t al, const uint8_t *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    return c ? c : (al > bl) - (al < bl);
}

/* Positions s at the first key >= key (key lies within the prefix). */
static int scan_seek(qscan *s, const uint8_t *key, size_t len)
{
    if (!s->fast) {
        cairn_cursor_close(s->cur);
        s->cur = NULL;
        cairn_buf_clear(&s->seek);
        if (cairn_buf_put(&s->seek, key, len) < 0 || cairn_buf_grow(&s->seek, 0) < 0)
            return CAIRN_ENOMEM;
        return scan_open_cursor(s, (const uint8_t *)s->seek.ptr, len);
    }
    if (s->pos < s->nkeys && key_cmp(s->keys[s->pos].data, s->keys[s->pos].len, key, len) >= 0)
        return 0;  /* the next key is already there: dense probes never search */
    if (s->pos < s->nkeys && key_cmp(s->keys[s->nkeys - 1].data, s->keys[s->nkeys - 1].len, key, len) >= 0) {
        int lo = s->pos, hi = s->nkeys - 1;
        while (lo < hi) {
            int mid = (lo + hi) / 2;
            if (key_cmp(s->keys[mid].data, s->keys[mid].len, key, len) < 0)
                lo = mid + 1;
            else
                hi = mid;
        }
        s->pos = lo;
        return 0;
    }
    s->nkeys = s->pos = 0;
    return cairn_btree_iter_seek(&s->it, key, len);
}

/* ---- statistics for estimates -------------------------------------------------- */

#define SAMPLE 128

typedef struct astat {
    int src;                 /* source */
    int64_t aid;             /* attribute */
    uint64_t n;              /* datoms of the attribute */
    int ns;                  /* datoms sampled */
    int de;                  /* distinct entities in the sample */
    int dv;                  /* distinct values in the sample */
    const uint8_t **vb;      /* sampled values (arena copies) */
    size_t *vl;              /* their lengths */
    struct astat *next;      /* list */
} astat;

static astat *stats_list(qx *x)
{
    return (astat *)x->stats;
}

static int vcmp(const void *a, const void *b, void *payload)
{
    const astat *st = payload;
    int i = *(const int *)a, j = *(const int *)b;
    return key_cmp(st->vb[i], st->vl[i], st->vb[j], st->vl[j]);
}

/* The attribute's count (cheap: subtree counts); the sample comes later,
 * only when an estimate needs it (attr_sample). */
static int attr_stat(qx *x, int src, const cairn_db *db, int64_t aid, astat **out)
{
    astat *st;
    uint8_t prefix[CAIRN_KEY_U_MAX];
    size_t plen;
    int rc;
    for (st = stats_list(x); st; st = st->next)
        if (st->src == src && st->aid == aid) {
            *out = st;
            return 0;
        }
    st = cairn_arena_calloc(x->arena, 1, sizeof *st);
    if (!st)
        return qx_oom(x);
    st->src = src;
    st->aid = aid;
    st->ns = -1;
    plen = cairn_key_u(prefix, (uint64_t)aid);
    if ((rc = cairn_db__count_prefix(db, CAIRN_IX_AEVT, prefix, plen, &st->n)) < 0)
        return cairn_error_code(x->err, rc);
    st->next = stats_list(x);
    x->stats = st;
    *out = st;
    return 0;
}

/* Reads the first SAMPLE datoms of the attribute (once). */
static int attr_sample(qx *x, const cairn_db *db, astat *st)
{
    uint8_t prefix[CAIRN_KEY_U_MAX];
    size_t plen;
    qscan sc;
    ldatom d;
    int64_t last_e = -1;
    int rc, idx[SAMPLE];
    if (st->ns >= 0)
        return 0;
    st->ns = 0;
    if (!(st->vb = cairn_arena_calloc(x->arena, SAMPLE, sizeof *st->vb)) ||
        !(st->vl = cairn_arena_calloc(x->arena, SAMPLE, sizeof *st->vl)))
        return qx_oom(x);
    plen = cairn_key_u(prefix, (uint64_t)st->aid);
    if ((rc = scan_open(&sc, db, CAIRN_IX_AEVT, prefix, plen)) < 0)
        return cairn_error_code(x->err, rc);
    while (st->ns < SAMPLE && (rc = scan_next(&sc, &d)) == 1) {
        uint8_t *copy;
        if ((rc = ld_upto(&d, 3)) < 0)
            break;
        copy = cairn_arena_alloc(x->arena, d.v_len ? d.v_len : 1);
        if (!copy) {
            rc = CAIRN_ENOMEM;
            break;
        }
        memcpy(copy, d.v, d.v_len);
        st->vb[st->ns] = copy;
        st->vl[st->ns] = d.v_len;
        if (d.e != last_e)
            st->de++;
        last_e = d.e;
        st->ns++;
    }
    scan_close(&sc);
    if (rc < 0)
        return cairn_error_code(x->err, rc);
    for (int i = 0; i < st->ns; i++)
        idx[i] = i;
    qsort_r(idx, (size_t)st->ns, sizeof idx[0], vcmp, st);
    for (int i = 0; i < st->ns; i++)
        if (i == 0 || vcmp(&idx[i - 1], &idx[i], st) != 0)
            st->dv++;
    return 0;
}

/* Fraction of the sample whose value is enc (smoothed). */
static double sample_sel(const astat *st, const uint8_t *enc, size_t len)
{
    int m = 0;
    if (st->ns == 0)
        return 1.0;
    for (int i = 0; i < st->ns; i++)
        if (st->vl[i] == len && memcmp(st->vb[i], enc, len) == 0)
            m++;
    if (st->ns < SAMPLE && (uint64_t)st->ns == st->n)
        return (double)m / st->ns;  /* the sample is the whole attribute */
    return (m + 0.5) / (st->ns + 1.0);
}

/* Rows per distinct value (when v is bound). */
static double value_fanout(const astat *st)
{
    if (st->ns == 0 || st->dv == 0)
        return 1.0;
    if ((uint64_t)st->ns == st->n)
        return (double)st->ns / st->dv;
    if (st->dv <= st->ns / 2)
        return (double)st->n / st->dv;  /* few values: they repeat across the attribute */
    return (double)st->ns / st->dv;
}

static double entity_fanout(const astat *st)
{
    if (st->de == 0)
        return 1.0;
    return (double)st->ns / st->de;
}

static int64_t total_datoms(qsource *s)
{
    if (s->datoms < 0) {
        uint64_t n = 0;
        if (cairn_db__count_prefix(s->db, CAIRN_IX_EAVT, NULL, 0, &n) < 0)
            n = 1000;
        s->datoms = (int64_t)n;
    }
    return s->datoms;
}

/* ---- resolving pattern constants ------------------------------------------------ */

enum { P_BLANK = 0, P_CONST, P_BOUND, P_FREE, P_DUP };

typedef struct pat {
    qx *x;                   /* query */
    const qstep *s;          /* the step (range bounds) */
    const qclause *c;        /* the pattern */
    qsource *src;            /* its source */
    int np;                  /* positions used (nterms) */
    int kind[5];             /* P_* per position */
    int col[5];              /* BOUND: input column; DUP: position of the first occurrence */
    qcell cval[5];           /* CONST: the cell (e resolved to an id) */
    int64_t aid;             /* CONST a: attribute id */
    const cairn_attr *attr;  /* CONST a: the attribute */
    int ref_v;               /* v holds entities (ref attribute) */
    cairn_buf venc;          /* CONST v: its encoding */
    int has_venc;            /* venc is set */
    int empty;               /* can never match */
    const qrel *in;          /* input rows */
    qrel *out;               /* output */
    int nkeep;               /* input columns kept */
    int *keep;               /* their positions in the input */
    int nnew;                /* new columns */
    int newpos[5];           /* positions they come from */
    qcell tcell, fcell;      /* true / false */
    qcell last[5];           /* previous candidate's cells (dedup) */
    int has_last;            /* last is valid */
    qcell *res[5];           /* BOUND entity positions: resolved cells per input row, or NULL */
} pat;

static int is_ent_pos(const pat *P, int pos)
{
    return pos == 0 || (pos == 2 && P->ref_v) || pos == 3;
}

/* Resolves a constant or bound cell used as an entity: the id cell, or
 * QCELL_NONE when it names nothing. */
static int ent_cell(qx *x, const qsource *src, qcell c, qcell *out)
{
    int64_t id;
    int rc;
    if (qcell_is_int(c)) {
        *out = c;
        return 0;
    }
    if ((rc = qx_entid(x, &id, src, c)) < 0)
        return rc;
    *out = id > 0 ? qcell_of_int(id) : QCELL_NONE;
    return 0;
}

static int setup_consts(pat *P)
{
    qx *x = P->x;
    const qterm *t = P->c->terms;
    int rc;
    /* attribute first: it says whether v holds entities */
    if (P->kind[1] == P_CONST) {
        cairn_val a = t[1].val;
        P->attr = NULL;
        if (P->src->db) {
            if (cairn_type_of(a) == CAIRN_KEYWORD)
                P->attr = cairn_db__attr(P->src->db, a);
            else if (cairn_type_of(a) == CAIRN_INT)
                P->attr = cairn_schema_by_id(P->src->db->schema, cairn_int_value(a));
            if (!P->attr) {
                P->empty = 1;  /* an undeclared attribute matches nothing */
                return 0;
            }
            P->aid = P->attr->id;
            P->ref_v = P->attr->type == CAIRN_VT_REF;
        }
    }
    for (int i = 0; i < P->np; i++) {
        qcell cell;
        if (P->kind[i] != P_CONST)
            continue;
        if ((rc = qdict_cell(&x->dict, &cell, t[i].val)) < 0)
            return qx_oom(x);
        if (P->src->db && is_ent_pos(P, i) && i != 3) {
            if ((rc = ent_cell(x, P->src, cell, &cell)) < 0)
                return rc;
            if (cell == QCELL_NONE) {
                P->empty = 1;
                return 0;
            }
        }
        P->cval[i] = cell;
        if (i == 1 && P->src->db)
            P->cval[i] = cell;  /* compared by id, see a_matches */
        if (i == 2 && P->src->db) {
            cairn_buf_clear(&P->venc);
            rc = qdict_enc(&x->dict, cell, &P->venc);
            if (rc == CAIRN_EINVALID) {
                P->empty = 1;  /* nil is never stored */
                return 0;
            }
            if (rc < 0)
                return qx_oom(x);
            P->has_venc = 1;
        }
    }
    return 0;
}

static int pat_init(pat *P, qx *x, const qstep *s, const qrel *in, qrel *out)
{
    const qclause *c = s->c;
    int vars[QMAX_VARS], n = 0, rc;
    memset(P, 0, sizeof *P);
    P->x = x;
    P->s = s;
    P->c = c;
    P->src = &x->srcs[s->src];
    P->np = c->nterms;
    P->in = in;
    P->out = out;
    for (int i = 0; i < 5; i++) {
        const qterm *t = &c->terms[i];
        P->kind[i] = P_BLANK;
        if (i >= c->nterms)
            continue;
        if (t->kind == QT_CONST) {
            P->kind[i] = P_CONST;
        } else if (t->kind == QT_VAR) {
            int col = qrel_col(in, t->id), first = -1;
            for (int j = 0; j < i; j++)
                if (c->terms[j].kind == QT_VAR && c->terms[j].id == t->id)
                    first = first < 0 ? j : first;
            if (col >= 0) {
                P->kind[i] = P_BOUND;
                P->col[i] = col;
            } else if (first >= 0) {
                P->kind[i] = P_DUP;
                P->col[i] = first;
            } else {
                P->kind[i] = P_FREE;
            }
        }
    }
    /* a variable that is neither kept nor repeated is a blank */
    for (int i = 0; i < 5; i++) {
        int dup_ref = 0;
        if (P->kind[i] != P_FREE || qv_has(&s->keep, c->terms[i].id))
            continue;
        for (int j = i + 1; j < 5; j++)
            dup_ref |= P->kind[j] == P_DUP && P->col[j] == i;
        if (!dup_ref)
            P->kind[i] = P_BLANK;
    }
    if ((rc = qdict_bool(&x->dict, &P->tcell, 1)) < 0 || (rc = qdict_bool(&x->dict, &P->fcell, 0)) < 0)
        return qx_oom(x);
    /* output layout: kept input columns, then new variables */
    P->keep = cairn_arena_alloc(x->arena, (size_t)(in->ncols + 1) * sizeof *P->keep);
    if (!P->keep)
        return qx_oom(x);
    for (int i = 0; i < in->ncols; i++)
        if (qv_has(&s->keep, in->vars[i])) {
            P->keep[P->nkeep++] = i;
            vars[n++] = in->vars[i];
        }
    for (int i = 0; i < 5; i++)
        if (P->kind[i] == P_FREE && qv_has(&s->keep, c->terms[i].id)) {
            P->newpos[P->nnew++] = i;
            vars[n++] = c->terms[i].id;
        }
    if ((rc = qrel_init(out, n, vars)) < 0)
        return qx_oom(x);
    /* each output row is one (input row, datom) pair when no input column
     * is dropped and e, a, v are each fixed or output: datoms of the current
     * view are unique by (e, a, v) */
    out->distinct = in->distinct && P->nkeep == in->ncols && P->src->db && P->src->db->view == CAIRN_VIEW_CURRENT &&
                    P->kind[0] != P_BLANK && P->kind[1] != P_BLANK && P->kind[2] != P_BLANK;
    return setup_consts(P);
}

static void pat_dispose(pat *P)
{
    cairn_buf_dispose(&P->venc);
    for (int i = 0; i < 5; i++)
        cairn_free(P->res[i]);
}

/* ---- candidates ------------------------------------------------------------------- */

typedef struct cand {
    qcell cell[5];    /* cells by position */
    unsigned have;    /* bit i: cell[i] computed */
    ldatom *d;        /* datom (db sources) */
} cand;

static int cand_cell(pat *P, cand *k, int pos, qcell *out)
{
    qx *x = P->x;
    int rc;
    if (k->have & (1u << pos)) {
        *out = k->cell[pos];
        return 0;
    }
    if (pos < 4 && (rc = ld_need(k->d, pos == 0 ? C_E : pos == 1 ? C_A : pos == 2 ? C_V : C_TX)) < 0)
        return cairn_error_code(x->err, rc);
    switch (pos) {
    case 0: k->cell[0] = qcell_of_int(k->d->e); break;
    case 1:
        if ((rc = qx_attr_cell(x, &k->cell[1], P->src->db, k->d->a)) < 0)
            return rc;
        break;
    case 2:
        if ((rc = qdict_cell_enc(&x->dict, &k->cell[2], k->d->v, k->d->v_len)) < 0)
            return rc == CAIRN_ENOMEM ? qx_oom(x) : cairn_error_code(x->err, rc);
        break;
    case 3: k->cell[3] = qcell_of_int(k->d->tx); break;
    default: k->cell[4] = k->d->added ? P->tcell : P->fcell; break;
    }
    k->have |= 1u << pos;
    *out = k->cell[pos];
    return 0;
}

/* Constant and repeated-variable checks of a datom: 1 = passes. */
static int datom_consts(pat *P, cand *k, int skip_v, int *ok)
{
    ldatom *d = k->d;
    int rc;
    *ok = 0;
    /* the value first: the cheapest and most selective test */
    if (P->kind[2] == P_CONST && !skip_v && !ld_v_is(d, (const uint8_t *)P->venc.ptr, P->venc.len))
        return 0;
    for (int i = 0; i < P->np; i++) {
        if (P->kind[i] == P_CONST) {
            switch (i) {
            case 0:
                if ((rc = ld_need(d, C_E)) < 0)
                    return cairn_error_code(P->x->err, rc);
                if (d->e != qcell_int(P->cval[0]))
                    return 0;
                break;
            case 1:
                if ((rc = ld_need(d, C_A)) < 0)
                    return cairn_error_code(P->x->err, rc);
                if (d->a != P->aid)
                    return 0;
                break;
            case 2:
                break;
            case 3:
                if ((rc = ld_need(d, C_TX)) < 0)
                    return cairn_error_code(P->x->err, rc);
                if (!qcell_is_int(P->cval[3]) || d->tx != qcell_int(P->cval[3]))
                    return 0;
                break;
            default:
                if ((d->added ? P->tcell : P->fcell) != P->cval[4])
                    return 0;
                break;
            }
        } else if (P->kind[i] == P_DUP) {
            qcell a, b;
            if ((rc = cand_cell(P, k, i, &a)) < 0 || (rc = cand_cell(P, k, P->col[i], &b)) < 0)
                return rc;
            if (a != b)
                return 0;
        }
    }
    *ok = 1;
    return 0;
}

static int emit(pat *P, size_t row, const qcell *cells)
{
    qcell *dst = qrel_add(P->out);
    const qcell *src;
    if (!dst)
        return qx_oom(P->x);
    src = P->in->ncols ? qrel_row(P->in, row) : NULL;
    for (int i = 0; i < P->nkeep; i++)
        *dst++ = src[P->keep[i]];
    for (int i = 0; i < P->nnew; i++)
        *dst++ = cells[P->newpos[i]];
    return 0;
}

/* The cell of bound position pos for input row r (resolved for entities). */
static qcell bound_cell(const pat *P, size_t r, int pos)
{
    if (P->res[pos])
        return P->res[pos][r];
    return qrel_row(P->in, r)[P->col[pos]];
}

/* Resolves the entity cells of bound entity positions once per input row. */
static int resolve_bound(pat *P)
{
    for (int pos = 0; pos < 5; pos++) {
        int need = 0;
        if (P->kind[pos] != P_BOUND || !P->src->db || !is_ent_pos(P, pos) || pos == 3)
            continue;
        for (size_t r = 0; r < P->in->nrows && !need; r++)
            need = !qcell_is_int(qrel_row(P->in, r)[P->col[pos]]);
        if (!need)
            continue;
        P->res[pos] = cairn_malloc(cairn_mul_size(P->in->nrows ? P->in->nrows : 1, sizeof *P->res[pos]));
        if (!P->res[pos])
            return qx_oom(P->x);
        for (size_t r = 0; r < P->in->nrows; r++) {
            int rc = ent_cell(P->x, P->src, qrel_row(P->in, r)[P->col[pos]], &P->res[pos][r]);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Cells that decide a candidate's output: new and bound positions. */
static int cand_key(pat *P, cand *k, qcell *key, int *n)
{
    int rc;
    *n = 0;
    for (int i = 0; i < 5; i++) {
        if (P->kind[i] == P_BOUND || P->kind[i] == P_FREE) {
            if ((rc = cand_cell(P, k, i, &key[*n])) < 0)
                return rc;
            (*n)++;
        }
    }
    return 0;
}

/* 1 when the candidate repeats the previous one exactly (skip it). */
static int repeat(pat *P, const qcell *key, int n)
{
    if (P->has_last && memcmp(P->last, key, (size_t)n * sizeof *key) == 0)
        return 1;
    memcpy(P->last, key, (size_t)n * sizeof *key);
    P->has_last = 1;
    return 0;
}

/* ---- streaming: every candidate against every matching input row -------------------- */

typedef struct stream {
    qindex ix;        /* on the input's bound positions (resolved) */
    qrel keys;        /* those key cells, one row per input row */
    int nb;           /* bound positions */
    int bpos[5];      /* which */
} stream;

static int stream_init(pat *P, stream *S)
{
    int cols[5], rc;
    memset(S, 0, sizeof *S);
    for (int i = 0; i < 5; i++)
        if (P->kind[i] == P_BOUND)
            S->bpos[S->nb++] = i;
    if (!S->nb)
        return 0;
    if ((rc = resolve_bound(P)) < 0)
        return rc;
    if ((rc = qrel_init(&S->keys, S->nb, NULL)) < 0 || (rc = qrel_reserve(&S->keys, P->in->nrows)) < 0)
        return qx_oom(P->x);
    for (size_t r = 0; r < P->in->nrows; r++) {
        qcell *row = qrel_add(&S->keys);
        for (int j = 0; j < S->nb; j++)
            row[j] = bound_cell(P, r, S->bpos[j]);
    }
    for (int j = 0; j < S->nb; j++)
        cols[j] = j;
    if ((rc = qindex_init(&S->ix, cols, S->nb)) < 0 || (rc = qindex_add(&S->ix, &S->keys)) < 0)
        return qx_oom(P->x);
    return 0;
}

static void stream_dispose(stream *S)
{
    qindex_dispose(&S->ix);
    qrel_dispose(&S->keys);
}

/* Joins one candidate (constants already checked) with the input. */
static int stream_cand(pat *P, stream *S, cand *k)
{
    qcell key[5], kk[5];
    int nk, rc;
    if ((rc = cand_key(P, k, kk, &nk)) < 0)
        return rc;
    if (repeat(P, kk, nk))
        return 0;
    if (!S->nb) {
        for (size_t r = 0; r < P->in->nrows; r++)
            if ((rc = emit(P, r, k->cell)) < 0 || (rc = qx_poll(P->x)) < 0)
                return rc;
        return 0;
    }
    for (int j = 0; j < S->nb; j++)
        if ((rc = cand_cell(P, k, S->bpos[j], &key[j])) < 0)
            return rc;
    for (uint32_t at = qindex_find(&S->ix, &S->keys, key, qhash_cells(key, NULL, S->nb)); at;
         at = qindex_next(&S->ix, &S->keys, at, key))
        if ((rc = emit(P, at - 1, k->cell)) < 0)
            return rc;
    return 0;
}

/* Scans index ix under prefix, every datom a candidate. */
#define PREFILTER_MAX 8

/*
 * When v is bound to a few distinct values (an input scalar, a small
 * relation), their encodings filter the scan on bytes, as a constant
 * would, before any value is looked up in the dictionary.
 */
static int prefilter_init(pat *P, const stream *S, cairn_buf *encs, size_t *offs, int *n)
{
    qcell seen[PREFILTER_MAX];
    int j = -1;
    *n = 0;
    for (int b = 0; b < S->nb; b++)
        if (S->bpos[b] == 2)
            j = b;
    if (j < 0 || P->kind[2] != P_BOUND)
        return 0;
    for (size_t r = 0; r < S->keys.nrows; r++) {
        qcell c = qrel_row(&S->keys, r)[j];
        int found = 0;
        for (int i = 0; i < *n && !found; i++)
            found = seen[i] == c;
        if (found || c == QCELL_NONE)
            continue;
        if (*n == PREFILTER_MAX) {
            *n = 0;  /* too many: no prefilter */
            return 0;
        }
        seen[*n] = c;
        offs[*n] = encs->len;
        if (qdict_enc(&P->x->dict, c, encs) == CAIRN_ENOMEM)
            return qx_oom(P->x);
        offs[++*n] = encs->len;
    }
    return 0;
}

static int prefilter_pass(ldatom *d, const cairn_buf *encs, const size_t *offs, int n)
{
    for (int i = 0; i < n; i++)
        if (ld_v_is(d, (const uint8_t *)encs->ptr + offs[i], offs[i + 1] - offs[i]))
            return 1;
    return 0;
}

static int stream_db(pat *P, cairn_index_kind ix, const uint8_t *prefix, size_t len, int skip_v)
{
    stream S;
    qscan sc;
    ldatom d;
    cairn_buf encs = CAIRN_BUF_INIT;
    size_t offs[PREFILTER_MAX + 1];
    int rc, ok, npre = 0;
    if ((rc = stream_init(P, &S)) < 0) {
        stream_dispose(&S);
        return rc;
    }
    if (S.nb && S.keys.nrows == 0) {
        stream_dispose(&S);
        return 0;
    }
    if ((rc = prefilter_init(P, &S, &encs, offs, &npre)) < 0) {
        cairn_buf_dispose(&encs);
        stream_dispose(&S);
        return rc;
    }
    if ((rc = scan_open(&sc, P->src->db, ix, prefix, len)) < 0) {
        stream_dispose(&S);
        return qx_oom(P->x);
    }
    P->has_last = 0;
    while ((rc = scan_next(&sc, &d)) == 1) {
        cand k;
        k.have = 0;
        k.d = &d;
        if ((rc = qx_poll(P->x)) < 0)
            break;
        if (npre && !prefilter_pass(&d, &encs, offs, npre))
            continue;
        if ((rc = datom_consts(P, &k, skip_v, &ok)) < 0)
            break;
        if (ok && (rc = stream_cand(P, &S, &k)) < 0)
            break;
    }
    if (rc < 0 && rc != CAIRN_ECANCELED && rc != CAIRN_ENOMEM && !P->x->err->code)
        cairn_error_code(P->x->err, rc);
    scan_close(&sc);
    cairn_buf_dispose(&encs);
    stream_dispose(&S);
    return rc < 0 ? rc : 0;
}

/* ---- probing: sorted bound keys, forward seeks ------------------------------------- */

typedef struct pkey {
    qcell key;     /* resolved key cell */
    uint32_t row;  /* input row */
    uint32_t enc;  /* AVET: offset of its encoding in the key buffer */
} pkey;

static int pkey_cmp_int(const void *a, const void *b)
{
    int64_t x = qcell_int(((const pkey *)a)->key), y = qcell_int(((const pkey *)b)->key);
    if (x != y)
        return x < y ? -1 : 1;
    return (((const pkey *)a)->row > ((const pkey *)b)->row) - (((const pkey *)a)->row < ((const pkey *)b)->row);
}

/* Radix sort by the int value of key (non-negative keys only). */
static int radix_sort(pkey *k, size_t n)
{
    pkey *tmp;
    uint64_t all_or = 0;
    if (n < 64) {
        qsort(k, n, sizeof *k, pkey_cmp_int);
        return 0;
    }
    tmp = cairn_malloc(n * sizeof *tmp);
    if (!tmp)
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < n; i++)
        all_or |= (uint64_t)qcell_int(k[i].key);
    for (int shift = 0; shift < 64 && (all_or >> shift); shift += 8) {
        size_t count[257];
        memset(count, 0, sizeof count);
        for (size_t i = 0; i < n; i++)
            count[(((uint64_t)qcell_int(k[i].key) >> shift) & 0xff) + 1]++;
        for (int b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            tmp[count[((uint64_t)qcell_int(k[i].key) >> shift) & 0xff]++] = k[i];
        memcpy(k, tmp, n * sizeof *k);
    }
    cairn_free(tmp);
    return 0;
}

static int pkey_cmp_enc(const void *a, const void *b, void *payload)
{
    const char *buf = payload;
    const pkey *x = a, *y = b;
    uint32_t xl, yl;
    memcpy(&xl, buf + x->enc, 4);
    memcpy(&yl, buf + y->enc, 4);
    {
        int c = key_cmp((const uint8_t *)buf + x->enc + 4, xl, (const uint8_t *)buf + y->enc + 4, yl);
        if (c)
            return c;
    }
    return (x->row > y->row) - (x->row < y->row);
}

/*
 * Probes index ix (prefix: the constant part) at position ppos of the
 * pattern: for each distinct bound key, seeks prefix + key and joins the
 * datoms found with the rows holding that key.
 */
/* The probe keys of a step: the resolved bound cells at position ppos with
 * their rows, sorted in index order (numerically for ids and integer
 * values, by encoding otherwise). */
typedef struct pkeys {
    pkey *k;            /* keys */
    size_t n;           /* count */
    int by_int;         /* 1: sorted as integers; else by encoding (encs) */
    cairn_buf encs;     /* per key: 4-byte length + encoding */
} pkeys;

static int probe_keys(pat *P, int ppos, pkeys *K)
{
    qx *x = P->x;
    size_t nin = P->in->nrows;
    int rc;
    K->by_int = 1;
    K->k = cairn_malloc(cairn_mul_size(nin ? nin : 1, sizeof *K->k));
    if (!K->k)
        return qx_oom(x);
    for (size_t r = 0; r < nin; r++) {
        qcell c = bound_cell(P, r, ppos);
        if (c == QCELL_NONE)
            continue;
        if (ppos != 2 && (!qcell_is_int(c) || qcell_int(c) < 0))
            continue;  /* not an entity id: matches nothing */
        /* values: integers sort as numbers (their encoding's order), other
         * types and negative numbers by encoding */
        if (ppos == 2 && (!qcell_is_int(c) || qcell_int(c) < 0))
            K->by_int = 0;
        K->k[K->n].key = c;
        K->k[K->n].row = (uint32_t)r;
        K->k[K->n].enc = 0;
        K->n++;
    }
    if (K->by_int) {
        int sorted = 1;
        for (size_t i = 1; i < K->n && sorted; i++)
            sorted = qcell_int(K->k[i - 1].key) <= qcell_int(K->k[i].key);
        if (!sorted && radix_sort(K->k, K->n) < 0)
            return qx_oom(x);
        return 0;
    }
    for (size_t i = 0; i < K->n; i++) {
        size_t at = K->encs.len;
        uint32_t l;
        if (cairn_buf_put(&K->encs, "\0\0\0\0", 4) < 0)
            return qx_oom(x);
        rc = qdict_enc(&x->dict, K->k[i].key, &K->encs);
        if (rc == CAIRN_EINVALID) {
            /* nil: never stored, matches nothing */
            cairn_buf_truncate(&K->encs, at);
            K->k[i].key = QCELL_NONE;
            continue;
        }
        if (rc < 0)
            return qx_oom(x);
        l = (uint32_t)(K->encs.len - at - 4);
        memcpy(K->encs.ptr + at, &l, 4);
        K->k[i].enc = (uint32_t)at;
    }
    {
        size_t m = 0;
        for (size_t i = 0; i < K->n; i++)
            if (K->k[i].key != QCELL_NONE)
                K->k[m++] = K->k[i];
        K->n = m;
    }
    qsort_r(K->k, K->n, sizeof *K->k, pkey_cmp_enc, K->encs.ptr);
    return 0;
}

/* The seek key of group g: prefix + the key (u(e) or its encoding). */
static int probe_seek_key(pat *P, const pkeys *K, size_t g, int ppos, const uint8_t *prefix, size_t len,
                          cairn_buf *seek, uint32_t *klen)
{
    cairn_buf_clear(seek);
    cairn_buf_put(seek, prefix, len);
    *klen = 0;
    if (ppos != 2) {
        cairn_key_put_u(seek, (uint64_t)qcell_int(K->k[g].key));
    } else if (K->by_int) {
        if (qdict_enc(&P->x->dict, K->k[g].key, seek) < 0)
            return qx_oom(P->x);
        *klen = (uint32_t)(seek->len - len);
    } else {
        memcpy(klen, K->encs.ptr + K->k[g].enc, 4);
        cairn_buf_put(seek, K->encs.ptr + K->k[g].enc + 4, *klen);
    }
    return seek->oom ? qx_oom(P->x) : 0;
}

/* Joins the datoms under one key with the rows [g, end) holding it. */
static int probe_group(pat *P, qscan *sc, cairn_index_kind ix, int ppos, const pkeys *K, size_t g, size_t end,
                       const uint8_t *kenc, uint32_t klen)
{
    qx *x = P->x;
    ldatom d;
    int rc;
    P->has_last = 0;
    while ((rc = scan_next(sc, &d)) == 1) {
        cand k;
        int ok, nk;
        qcell kk[5];
        if ((rc = ld_need(&d, ppos == 2 ? C_A : C_E)) < 0 || (ix == CAIRN_IX_AEVT && (rc = ld_need(&d, C_A)) < 0))
            return cairn_error_code(x->err, rc);
        if (ppos == 2 ? d.a != P->aid || !ld_v_is(&d, kenc, klen)
                      : d.e != qcell_int(K->k[g].key) || (ix == CAIRN_IX_AEVT && d.a != P->aid)) {
            scan_unread(sc);  /* the next group may start here */
            return 0;
        }
        k.have = 0;
        k.d = &d;
        if ((rc = qx_poll(x)) < 0 || (rc = datom_consts(P, &k, ppos == 2, &ok)) < 0)
            return rc;
        if (!ok)
            continue;
        if ((rc = cand_key(P, &k, kk, &nk)) < 0)
            return rc;
        if (repeat(P, kk, nk))
            continue;
        for (size_t i = g; i < end; i++) {
            size_t r = K->k[i].row;
            int match = 1;
            for (int pos = 0; pos < 5 && match; pos++) {
                qcell dc;
                if (P->kind[pos] != P_BOUND || pos == ppos)
                    continue;
                if ((rc = cand_cell(P, &k, pos, &dc)) < 0)
                    return rc;
                match = bound_cell(P, r, pos) == dc;
            }
            if (match && (rc = emit(P, r, k.cell)) < 0)
                return rc;
        }
    }
    return rc;
}

/*
 * Probes index ix (prefix: the constant part) at position ppos of the
 * pattern: for each distinct bound key, seeks prefix + key and joins the
 * datoms found with the rows holding that key.
 */
static int probe_db(pat *P, cairn_index_kind ix, const uint8_t *prefix, size_t len, int ppos)
{
    qx *x = P->x;
    pkeys K;
    cairn_buf seek = CAIRN_BUF_INIT;
    qscan sc;
    int rc, scan_opened = 0;
    memset(&K, 0, sizeof K);
    if ((rc = resolve_bound(P)) < 0 || (rc = probe_keys(P, ppos, &K)) < 0 || K.n == 0)
        goto done;
    if ((rc = scan_open(&sc, P->src->db, ix, prefix, len)) < 0) {
        rc = qx_oom(x);
        goto done;
    }
    scan_opened = 1;
    for (size_t g = 0, end; g < K.n && rc >= 0; g = end) {
        uint32_t klen;
        for (end = g + 1; end < K.n && K.k[end].key == K.k[g].key; end++)
            ;
        if ((rc = probe_seek_key(P, &K, g, ppos, prefix, len, &seek, &klen)) < 0 ||
            (rc = scan_seek(&sc, (const uint8_t *)seek.ptr, seek.len)) < 0)
            break;
        rc = probe_group(P, &sc, ix, ppos, &K, g, end, (const uint8_t *)seek.ptr + len, klen);
    }
done:
    if (rc < 0 && rc != CAIRN_ECANCELED && rc != CAIRN_ENOMEM && !x->err->code)
        cairn_error_code(x->err, rc);
    if (scan_opened)
        scan_close(&sc);
    cairn_free(K.k);
    cairn_buf_dispose(&K.encs);
    cairn_buf_dispose(&seek);
    return rc < 0 ? rc : 0;
}

/* ---- the access path ---------------------------------------------------------------- */

typedef enum access {
    AX_EMPTY = 0,       /* nothing can match */
    AX_AEVT_E,          /* AEVT prefix a|e (constant e) */
    AX_AEVT_PROBE,      /* AEVT a, probe bound e */
    AX_AVET_V,          /* AVET prefix a|v (constant v) */
    AX_AVET_PROBE,      /* AVET a, probe bound v */
    AX_AEVT_SCAN,       /* AEVT a, scan */
    AX_EAVT_E,          /* EAVT prefix e */
    AX_EAVT_PROBE,      /* EAVT, probe bound e */
    AX_EAVT_SCAN,       /* EAVT, everything */
    AX_ATTR_GROUPS,     /* the attribute is a bound variable: per attribute */
    AX_COLL,            /* a collection source */
    AX_AVET_RANGE       /* AVET a, v within range bounds */
} access;

static const char *access_name[] = {
    "empty", "AEVT a+e", "AEVT probe e", "AVET a+v", "AVET probe v", "AEVT scan a", "EAVT e",
    "EAVT probe e", "EAVT scan", "per bound attribute", "collection scan", "AVET range v",
};

/* First and last tag of the value type an attribute's range can be read
 * in encoding order (0 when none: untyped, refs, keywords...). */
static int range_tags(const cairn_attr *a, uint8_t *first, uint8_t *last)
{
    switch (a->type) {
    case CAIRN_VT_LONG: *first = CAIRN_VTAG_INT_MIN; *last = CAIRN_VTAG_INT_MAX; return 1;
    case CAIRN_VT_DOUBLE: *first = *last = CAIRN_VTAG_DOUBLE; return 1;
    case CAIRN_VT_STRING: *first = *last = CAIRN_VTAG_STRING; return 1;
    case CAIRN_VT_INSTANT: *first = *last = CAIRN_VTAG_INST; return 1;
    default: return 0;
    }
}

/* A bound value as an encoded range bound of the attribute's type: 1 and
 * bytes appended to b, 0 when it does not fit the type. */
static int bound_enc(qx *x, const cairn_attr *a, cairn_val v, cairn_buf *b)
{
    cairn_val conv = v;
    int ok;
    switch (a->type) {
    case CAIRN_VT_LONG: ok = cairn_type_of(v) == CAIRN_INT; break;
    case CAIRN_VT_DOUBLE:
        ok = cairn_type_of(v) == CAIRN_DOUBLE || cairn_type_of(v) == CAIRN_INT;
        if (cairn_type_of(v) == CAIRN_INT)
            conv = cairn_double((double)cairn_int_value(v));
        break;
    case CAIRN_VT_STRING: ok = cairn_type_of(v) == CAIRN_STRING; break;
    case CAIRN_VT_INSTANT: ok = cairn_type_of(v) == CAIRN_INST; break;
    default: ok = 0; break;
    }
    if (!ok || (cairn_type_of(conv) == CAIRN_DOUBLE && isnan(cairn_double_value(conv))))
        return 0;
    if (cairn_key_put_value(b, conv) < 0)
        return qx_oom(x);
    return 1;
}

static access choose(const pat *P)
{
    if (P->empty)
        return AX_EMPTY;
    if (!P->src->db)
        return AX_COLL;
    if (P->kind[1] == P_CONST) {
        if (P->kind[0] == P_CONST)
            return AX_AEVT_E;
        if (P->kind[0] == P_BOUND)
            return AX_AEVT_PROBE;
        if (P->kind[2] == P_CONST && cairn_attr_avet(P->attr))
            return AX_AVET_V;
        if (P->kind[2] == P_BOUND && cairn_attr_avet(P->attr))
            return AX_AVET_PROBE;
        if (P->s && (P->s->lo || P->s->hi) && P->kind[2] == P_FREE && cairn_attr_avet(P->attr)) {
            uint8_t f, l;
            if (range_tags(P->attr, &f, &l))
                return AX_AVET_RANGE;
        }
        return AX_AEVT_SCAN;
    }
    if (P->kind[1] == P_BOUND)
        return AX_ATTR_GROUPS;
    if (P->kind[0] == P_CONST)
        return AX_EAVT_E;
    if (P->kind[0] == P_BOUND)
        return AX_EAVT_PROBE;
    return AX_EAVT_SCAN;
}

/* The value of a range bound term: a constant, or a variable with one value
 * in every input row. 1 and *out, or 0. */
static int bound_value(pat *P, const qterm *t, cairn_val *out)
{
    int col;
    qcell c;
    if (t->kind == QT_CONST) {
        *out = t->val;
        return 1;
    }
    if (t->kind != QT_VAR || (col = qrel_col(P->in, t->id)) < 0 || P->in->nrows == 0)
        return 0;
    c = qrel_row(P->in, 0)[col];
    for (size_t r = 1; r < P->in->nrows; r++)
        if (qrel_row(P->in, r)[col] != c)
            return 0;
    *out = qdict_val(&P->x->dict, c);
    return 1;
}

/* AVET keys for the step's range: lo (inclusive), hi (as a prefix).
 * 1 when they could be made, 0 to fall back to a scan. */
static int range_keys(qx *x, const cairn_attr *a, const qterm *lo, const qterm *hi, cairn_val lov, cairn_val hiv,
                      cairn_buf *klo, cairn_buf *khi)
{
    uint8_t first, last;
    int rc;
    if (!range_tags(a, &first, &last))
        return 0;
    if (cairn_key_put_u(klo, (uint64_t)a->id) < 0 || cairn_key_put_u(khi, (uint64_t)a->id) < 0)
        return qx_oom(x);
    if (lo) {
        if ((rc = bound_enc(x, a, lov, klo)) <= 0)
            return rc;
    } else if (cairn_buf_putc(klo, (char)first) < 0) {
        return qx_oom(x);
    }
    if (hi) {
        if ((rc = bound_enc(x, a, hiv, khi)) <= 0)
            return rc;
    } else if (cairn_buf_putc(khi, (char)last) < 0) {
        return qx_oom(x);
    }
    return 1;
}

static int run_range(pat *P)
{
    cairn_val lov = cairn_nil(), hiv = cairn_nil();
    cairn_buf klo = CAIRN_BUF_INIT, khi = CAIRN_BUF_INIT;
    uint8_t pre[CAIRN_KEY_U_MAX];
    int rc = 1, used;
    if ((P->s->lo && !bound_value(P, P->s->lo, &lov)) || (P->s->hi && !bound_value(P, P->s->hi, &hiv)))
        rc = 0;
    if (rc == 1)
        rc = range_keys(P->x, P->attr, P->s->lo, P->s->hi, lov, hiv, &klo, &khi);
    used = rc == 1;
    if (rc == 1) {
        stream S;
        qscan sc;
        ldatom d;
        int ok;
        if ((rc = stream_init(P, &S)) == 0 &&
            (rc = scan_open_range(&sc, P->src->db, CAIRN_IX_AVET, (const uint8_t *)klo.ptr, klo.len,
                                  (const uint8_t *)khi.ptr, khi.len)) == 0) {
            P->has_last = 0;
            while ((rc = scan_next(&sc, &d)) == 1) {
                cand k;
                k.have = 0;
                k.d = &d;
                if ((rc = qx_poll(P->x)) < 0 || (rc = datom_consts(P, &k, 0, &ok)) < 0)
                    break;
                if (ok && (rc = stream_cand(P, &S, &k)) < 0)
                    break;
            }
            scan_close(&sc);
        } else if (rc < 0) {
            rc = qx_oom(P->x);
        }
        stream_dispose(&S);
        if (rc < 0 && rc != CAIRN_ECANCELED && rc != CAIRN_ENOMEM && !P->x->err->code)
            cairn_error_code(P->x->err, rc);
    }
    cairn_buf_dispose(&klo);
    cairn_buf_dispose(&khi);
    if (used || rc < 0)
        return rc < 0 ? rc : 0;
    /* the bounds cannot be used (several values, another type): scan */
    return stream_db(P, CAIRN_IX_AEVT, pre, cairn_key_u(pre, (uint64_t)P->aid), 0);
}

static int run_db(pat *P)
{
    uint8_t pre[2 * CAIRN_KEY_U_MAX];
    size_t n = 0;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc;
    switch (choose(P)) {
    case AX_EMPTY:
        return 0;
    case AX_AEVT_E:
        n = cairn_key_u(pre, (uint64_t)P->aid);
        n += cairn_key_u(pre + n, (uint64_t)qcell_int(P->cval[0]));
        return stream_db(P, CAIRN_IX_AEVT, pre, n, 0);
    case AX_AEVT_PROBE:
        n = cairn_key_u(pre, (uint64_t)P->aid);
        return probe_db(P, CAIRN_IX_AEVT, pre, n, 0);
    case AX_AVET_V:
        if (cairn_key_put_u(&b, (uint64_t)P->aid) < 0 || cairn_buf_put(&b, P->venc.ptr, P->venc.len) < 0) {
            cairn_buf_dispose(&b);
            return qx_oom(P->x);
        }
        rc = stream_db(P, CAIRN_IX_AVET, (const uint8_t *)b.ptr, b.len, 1);
        cairn_buf_dispose(&b);
        return rc;
    case AX_AVET_PROBE:
        n = cairn_key_u(pre, (uint64_t)P->aid);
        return probe_db(P, CAIRN_IX_AVET, pre, n, 2);
    case AX_AEVT_SCAN:
        n = cairn_key_u(pre, (uint64_t)P->aid);
        return stream_db(P, CAIRN_IX_AEVT, pre, n, 0);
    case AX_AVET_RANGE:
        return run_range(P);
    case AX_EAVT_E:
        n = cairn_key_u(pre, (uint64_t)qcell_int(P->cval[0]));
        return stream_db(P, CAIRN_IX_EAVT, pre, n, 0);
    case AX_EAVT_PROBE:
        return probe_db(P, CAIRN_IX_EAVT, NULL, 0, 0);
    case AX_EAVT_SCAN:
        return stream_db(P, CAIRN_IX_EAVT, NULL, 0, 0);
    default:
        return 0;
    }
}

/* The attribute is a bound variable: run once per distinct attribute. */
static int run_attr_groups(pat *P)
{
    qx *x = P->x;
    const qrel *in = P->in;
    int acol = P->col[1], rc = 0;
    char *done = cairn_malloc(in->nrows ? in->nrows : 1);
    if (!done)
        return qx_oom(x);
    memset(done, 0, in->nrows ? in->nrows : 1);
    for (size_t r = 0; r < in->nrows && rc == 0; r++) {
        qcell a;
        qrel sub;
        pat Q;
        if (done[r])
            continue;
        a = qrel_row(in, r)[acol];
        if ((rc = qrel_init(&sub, in->ncols, in->vars)) < 0) {
            rc = qx_oom(x);
            break;
        }
        for (size_t s = r; s < in->nrows && rc == 0; s++)
            if (!done[s] && qrel_row(in, s)[acol] == a) {
                done[s] = 1;
                if (qrel_push(&sub, qrel_row(in, s)) < 0)
                    rc = qx_oom(x);
            }
        if (rc == 0) {
            Q = *P;
            memset(Q.res, 0, sizeof Q.res);
            memset(&Q.venc, 0, sizeof Q.venc);
            Q.in = &sub;
            Q.kind[1] = P_CONST;
            Q.attr = NULL;
            Q.has_venc = 0;
            {
                cairn_val av = qdict_val(&x->dict, a);
                if (cairn_type_of(av) == CAIRN_KEYWORD)
                    Q.attr = cairn_db__attr(P->src->db, av);
                else if (cairn_type_of(av) == CAIRN_INT)
                    Q.attr = cairn_schema_by_id(P->src->db->schema, cairn_int_value(av));
            }
            if (Q.attr) {
                Q.aid = Q.attr->id;
                Q.ref_v = Q.attr->type == CAIRN_VT_REF;
                if (Q.kind[2] == P_CONST) {
                    cairn_buf_clear(&Q.venc);
                    if (cairn_buf_put(&Q.venc, P->venc.ptr, P->venc.len) < 0)
                        rc = qx_oom(x);
                }
                if (rc == 0)
                    rc = run_db(&Q);
            }
            pat_dispose(&Q);
        }
        qrel_dispose(&sub);
    }
    cairn_free(done);
    return rc;
}

/* A collection source: each element a tuple matched position by position. */
static int run_coll(pat *P)
{
    qx *x = P->x;
    cairn_val coll = P->src->coll;
    stream S;
    size_t n = cairn_count(coll);
    int rc;
    if ((rc = stream_init(P, &S)) < 0) {
        stream_dispose(&S);
        return rc;
    }
    P->has_last = 0;
    for (size_t i = 0; i < n && rc == 0; i++) {
        cairn_val t = cairn_coll_get(coll, i);
        cand k;
        int ok = 1;
        if (cairn_type_of(coll) == CAIRN_MAP)
            break;
        if (!cairn_val_is_seq(t) || cairn_count(t) < (size_t)P->np)
            continue;
        k.have = 0;
        k.d = NULL;
        for (int p = 0; p < P->np && ok; p++) {
            if (P->kind[p] == P_BLANK)
                continue;
            if ((rc = qdict_cell(&x->dict, &k.cell[p], cairn_coll_get(t, (size_t)p))) < 0) {
                rc = qx_oom(x);
                break;
            }
            k.have |= 1u << p;
            if (P->kind[p] == P_CONST)
                ok = k.cell[p] == P->cval[p];
        }
        for (int p = 0; p < P->np && ok && rc == 0; p++)
            if (P->kind[p] == P_DUP)
                ok = k.cell[p] == k.cell[P->col[p]];
        if (rc == 0 && ok)
            rc = stream_cand(P, &S, &k);
    }
    stream_dispose(&S);
    return rc;
}

int cairn_query__pattern(qx *x, const qstep *s, qrel *in, qrel *out)
{
    pat P;
    int rc = pat_init(&P, x, s, in, out);
    if (rc == 0 && !P.empty && in->nrows > 0) {
        if (!P.src->db)
            rc = run_coll(&P);
        else if (P.kind[1] == P_BOUND)
            rc = run_attr_groups(&P);
        else
            rc = run_db(&P);
    }
    pat_dispose(&P);
    return rc;
}

/* ---- estimates ------------------------------------------------------------------------ */

static int term_state(const qterm *t, const qvset *bound)
{
    if (t->kind == QT_CONST)
        return P_CONST;
    if (t->kind == QT_VAR)
        return qv_has(bound, t->id) ? P_BOUND : P_FREE;
    return P_BLANK;
}

double cairn_query__pattern_estimate(qx *x, const qclause *c, int srci, const qvset *bound, double rows_in)
{
    qsource *src = &x->srcs[srci];
    int st[5];
    double per, total;
    int any_bound = 0;
    for (int i = 0; i < 5; i++) {
        st[i] = i < c->nterms ? term_state(&c->terms[i], bound) : P_BLANK;
        any_bound |= st[i] == P_BOUND;
    }
    if (!src->db) {
        double n = src->present ? (double)cairn_count(src->coll) : 0;
        for (int i = 0; i < c->nterms; i++)
            if (st[i] == P_CONST || st[i] == P_BOUND)
                n *= 0.25;
        return any_bound ? rows_in * (n < 1 ? 1 : n) : rows_in * n;
    }
    total = (double)total_datoms(src);
    if (st[1] == P_CONST) {
        const cairn_attr *attr = NULL;
        cairn_val a = c->terms[1].val;
        astat *as = NULL;
        if (cairn_type_of(a) == CAIRN_KEYWORD)
            attr = cairn_db__attr(src->db, a);
        if (!attr)
            return 0;
        if (attr_stat(x, srci, src->db, attr->id, &as) < 0)
            return rows_in * 1000;
        if (as->n == 0)
            return 0;
        if (st[0] == P_CONST || st[0] == P_BOUND) {
            /* card-one: at most one value per entity; no sample needed */
            if (!attr->many && st[2] != P_CONST && st[2] != P_BOUND)
                per = 1;
            else if (attr_sample(x, src->db, as) < 0)
                per = 1;
            else {
                per = entity_fanout(as);
                if (st[2] == P_CONST || st[2] == P_BOUND)
                    per = per / (as->dv ? as->dv : 1) < 0.05 ? 0.05 : per / (as->dv ? as->dv : 1);
            }
        } else if (st[2] == P_BOUND && attr->unique) {
            per = 1;  /* a unique value names one entity */
        } else if (st[2] == P_CONST) {
            cairn_buf b = CAIRN_BUF_INIT;
            uint64_t cnt = 0;
            per = (double)as->n * 0.1;
            if (cairn_key_put_value(&b, c->terms[2].val) == 0) {
                if (cairn_attr_avet(attr)) {
                    cairn_buf pre = CAIRN_BUF_INIT;
                    if (cairn_key_put_u(&pre, (uint64_t)attr->id) == 0 &&
                        cairn_buf_put(&pre, b.ptr, b.len) == 0 &&
                        cairn_db__count_prefix(src->db, CAIRN_IX_AVET, (const uint8_t *)pre.ptr, pre.len, &cnt) == 0)
                        per = (double)cnt;
                    cairn_buf_dispose(&pre);
                } else if (attr_sample(x, src->db, as) == 0) {
                    per = (double)as->n * sample_sel(as, (const uint8_t *)b.ptr, b.len);
                }
            }
            cairn_buf_dispose(&b);
        } else if (st[2] == P_BOUND && attr->type == CAIRN_VT_REF) {
            /* refs: as many referrers per entity as references per referrer */
            per = attr_sample(x, src->db, as) == 0 ? entity_fanout(as) : 2;
        } else if (st[2] == P_BOUND) {
            per = attr_sample(x, src->db, as) == 0 ? value_fanout(as) : 10;
        } else {
            per = (double)as->n;
        }
    } else if (st[1] == P_BOUND) {
        per = (st[0] == P_CONST || st[0] == P_BOUND) ? 1.5 : total / 20;
    } else {
        per = (st[0] == P_CONST || st[0] == P_BOUND) ? 10 : total;
        if (st[2] == P_CONST || st[2] == P_BOUND)
            per *= 0.05;
    }
    if (st[3] == P_CONST || st[3] == P_BOUND)
        per *= 0.1;
    if (st[4] == P_CONST)
        per *= 0.9;
    if (any_bound || st[0] == P_CONST)
        return rows_in * per;
    return rows_in * per;
}

const char *cairn_query__pattern_access(qx *x, const qclause *c, int srci, const qvset *bound, const qterm *lo,
                                        const qterm *hi)
{
    pat P;
    qstep st;
    memset(&P, 0, sizeof P);
    memset(&st, 0, sizeof st);
    st.lo = lo;
    st.hi = hi;
    P.s = &st;
    P.x = x;
    P.c = c;
    P.src = &x->srcs[srci];
    P.np = c->nterms;
    for (int i = 0; i < 5; i++)
        P.kind[i] = i < c->nterms ? term_state(&c->terms[i], bound) : P_BLANK;
    if (P.src->db && P.kind[1] == P_CONST) {
        cairn_val a = c->terms[1].val;
        P.attr = cairn_type_of(a) == CAIRN_KEYWORD ? cairn_db__attr(P.src->db, a) : NULL;
        if (!P.attr)
            P.empty = 1;
    }
    return access_name[choose(&P)];
}

double cairn_query__range_estimate(qx *x, const qclause *c, int srci, const qvset *bound, const qterm *lo,
                                   const qterm *hi, double rows_in)
{
    qsource *src = &x->srcs[srci];
    const cairn_attr *a;
    cairn_buf klo = CAIRN_BUF_INIT, khi = CAIRN_BUF_INIT;
    uint64_t n = 0, h = 0;
    double est = -1;
    (void)bound;
    if (!src->db || c->terms[1].kind != QT_CONST || cairn_type_of(c->terms[1].val) != CAIRN_KEYWORD ||
        !(a = cairn_db__attr(src->db, c->terms[1].val)) || !cairn_attr_avet(a))
        return -1;
    if ((lo && lo->kind != QT_CONST) || (hi && hi->kind != QT_CONST)) {
        /* a bound variable: its value is known only when the step runs */
        astat *as = NULL;
        if (attr_stat(x, srci, src->db, a->id, &as) < 0)
            return -1;
        return rows_in * (double)as->n / ((lo && hi) ? 9 : 3);
    }
    if (range_keys(x, a, lo, hi, lo ? lo->val : cairn_nil(), hi ? hi->val : cairn_nil(), &klo, &khi) == 1) {
        cairn_btree_range r;
        r.lo.key = klo.ptr;
        r.lo.len = klo.len;
        r.lo.kind = CAIRN_BOUND_INCL;
        r.hi.key = khi.ptr;
        r.hi.len = khi.len;
        r.hi.kind = CAIRN_BOUND_PREFIX;
        if (cairn_btree_count_range(&n, &src->db->trees[CAIRN_IX_AVET], &r) == 0) {
            if (src->db->view == CAIRN_VIEW_HISTORY || src->db->view == CAIRN_VIEW_AS_OF)
                cairn_btree_count_range(&h, &src->db->trees[CAIRN_T_TAVET], &r);
            est = rows_in * (double)(n + h);
        }
    }
    cairn_buf_dispose(&klo);
    cairn_buf_dispose(&khi);
    return est;
}
