/*
 * Results: the :find projection, aggregates, pull, and the shapes Datahike
 * returns (a set of tuples, a scalar, a collection, one tuple, maps for
 * :keys/:strs/:syms).
 *
 * Semantics (Datomic's, which Datahike and DataScript share): the relation
 * is first projected on the find variables plus the :with variables and made
 * a set; aggregates then see, per group of the non-aggregate elements, the
 * values of that set, duplicates across :with variables included. So
 * (sum ?a) adds distinct ages and (sum ?a) :with ?e adds one per entity.
 *
 * Numbers follow Datahike's aggregate code: sum is (reduce + 0 xs), avg is
 * (/ sum count) (a ratio for integers), median sorts with compare and
 * averages the middle pair, variance is the population variance computed
 * exactly over ratios, stddev its square root as a double; min and max use
 * compare, (min n ?x) and (max n ?x) return sorted vectors.
 */
#include "query/query.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "pull/pull.h"

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static const qagg aggs[] = {
    { "count", 0, 0 },     { "count-distinct", 0, 0 }, { "distinct", 0, 0 }, { "sum", 0, 0 },
    { "min", 1, 1 },       { "max", 1, 1 },            { "avg", 0, 0 },      { "median", 0, 0 },
    { "variance", 0, 0 },  { "stddev", 0, 0 },         { "rand", 1, 1 },     { "sample", 1, 0 },
};

const qagg *cairn_query__aggregate(cairn_val sym)
{
    size_t len;
    const char *t;
    if (cairn_type_of(sym) != CAIRN_SYMBOL)
        return NULL;
    t = cairn_ident_get(sym, &len);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(aggs); i++)
        if (strlen(aggs[i].name) == len && memcmp(aggs[i].name, t, len) == 0)
            return &aggs[i];
    return NULL;
}

static int agg_is(const qagg *a, const char *name)
{
    return a && strcmp(a->name, name) == 0;
}

/* ---- aggregate functions over a group's values --------------------------------------- */

typedef struct vals {
    cairn_val *v;    /* borrowed values */
    size_t n;        /* count */
} vals;

static int cmp_vals(const void *a, const void *b)
{
    int rc;
    int c = cairn_query__compare(*(const cairn_val *)a, *(const cairn_val *)b, &rc);
    if (rc < 0)
        return cairn_compare(*(const cairn_val *)a, *(const cairn_val *)b);
    return c;
}

static int sum_of(qx *x, const vals *g, cairn_val *out)
{
    cairn_val acc = cairn_int(0);
    for (size_t i = 0; i < g->n; i++) {
        cairn_val next;
        int rc = cairn_query__arith(&next, x, OP_ADD, acc, g->v[i]);
        if (rc < 0) {
            cairn_release(acc);
            return rc;
        }
        cairn_release(acc);
        acc = next;
    }
    *out = acc;
    return 0;
}

static int avg_of(qx *x, const vals *g, cairn_val *out)
{
    cairn_val s;
    int rc;
    if ((rc = sum_of(x, g, &s)) < 0)
        return rc;
    rc = cairn_query__arith(out, x, OP_DIV, s, cairn_int((int64_t)g->n));
    cairn_release(s);
    return rc;
}

static int variance_of(qx *x, const vals *g, cairn_val *out)
{
    cairn_val mean, acc = cairn_int(0);
    int rc;
    if ((rc = avg_of(x, g, &mean)) < 0)
        return rc;
    for (size_t i = 0; i < g->n && rc == 0; i++) {
        cairn_val d, sq, next;
        if ((rc = cairn_query__arith(&d, x, OP_SUB, g->v[i], mean)) < 0)
            break;
        rc = cairn_query__arith(&sq, x, OP_MUL, d, d);
        cairn_release(d);
        if (rc < 0)
            break;
        rc = cairn_query__arith(&next, x, OP_ADD, acc, sq);
        cairn_release(sq);
        if (rc < 0)
            break;
        cairn_release(acc);
        acc = next;
    }
    cairn_release(mean);
    if (rc == 0)
        rc = cairn_query__arith(out, x, OP_DIV, acc, cairn_int((int64_t)g->n));
    cairn_release(acc);
    return rc;
}

static double to_double(cairn_val v)
{
    if (cairn_type_of(v) == CAIRN_INT)
        return (double)cairn_int_value(v);
    if (cairn_type_of(v) == CAIRN_DOUBLE || cairn_type_of(v) == CAIRN_FLOAT)
        return cairn_double_value(v);
    if (cairn_type_of(v) == CAIRN_RATIO) {
        int64_t n, d;
        cairn_ratio_parts(v, &n, &d);
        return (double)n / (double)d;
    }
    return (double)cairn_number_approx(v);
}

static uint64_t next_rand(qx *x)
{
    x->rand_state = x->rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
    return x->rand_state >> 17;
}

/* Sorted copy of the values (by compare). */
static int sorted(qx *x, const vals *g, cairn_val **out)
{
    cairn_val *s = cairn_malloc((g->n ? g->n : 1) * sizeof *s);
    if (!s)
        return qx_oom(x);
    memcpy(s, g->v, g->n * sizeof *s);
    qsort(s, g->n, sizeof *s, cmp_vals);
    *out = s;
    return 0;
}

static int vector_of(qx *x, const cairn_val *v, size_t n, cairn_val *out)
{
    if (cairn_vector_new(out, n) < 0)
        return qx_oom(x);
    for (size_t i = 0; i < n; i++)
        if (cairn_coll_push(out, v[i]) < 0) {
            cairn_release(*out);
            return qx_oom(x);
        }
    return 0;
}

static int check_comparable(qx *x, const vals *g)
{
    for (size_t i = 1; i < g->n; i++) {
        int rc;
        cairn_query__compare(g->v[0], g->v[i], &rc);
        if (rc < 0)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "aggregate over values that do not compare");
    }
    return 0;
}

/* min, max and sum over integers only: no boxing, no type dispatch. */
static int int_aggregate(qx *x, const qagg *a, const vals *g, cairn_val *out, int *done)
{
    int64_t lo, hi, sum = 0;
    int is_sum = agg_is(a, "sum"), is_min = agg_is(a, "min"), is_max = agg_is(a, "max");
    *done = 0;
    if ((!is_sum && !is_min && !is_max) || g->n == 0)
        return 0;
    for (size_t i = 0; i < g->n; i++)
        if (cairn_type_of(g->v[i]) != CAIRN_INT)
            return 0;
    lo = hi = cairn_int_value(g->v[0]);
    for (size_t i = 0; i < g->n; i++) {
        int64_t v = cairn_int_value(g->v[i]);
        lo = v < lo ? v : lo;
        hi = v > hi ? v : hi;
        if (is_sum && __builtin_add_overflow(sum, v, &sum))
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "integer overflow");
    }
    *out = cairn_int(is_sum ? sum : is_min ? lo : hi);
    *done = 1;
    return 0;
}

typedef int (*agg_fn)(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out);

/* The n of (max n ?x), (rand n ?x), (sample n ?x); refuses absurd sizes. */
static int agg_param(qx *x, cairn_val param, size_t *out)
{
    int64_t k = cairn_type_of(param) == CAIRN_INT ? cairn_int_value(param) : 0;
    if (k > 10000000)
        return cairn_error_set(x->err, CAIRN_ELIMIT, ":query/find", "aggregate size %lld is too large", (long long)k);
    *out = k > 0 ? (size_t)k : 0;
    return 0;
}

static int agg_count(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    (void)x, (void)a, (void)param;
    *out = cairn_int((int64_t)g->n);
    return 0;
}

/* The group's values as a set. */
static int distinct_set(qx *x, const vals *g, cairn_val *set)
{
    int rc;
    if (cairn_set_new(set, g->n) < 0)
        return qx_oom(x);
    for (size_t i = 0; i < g->n; i++)
        if ((rc = cairn_coll_push(set, g->v[i])) < 0 && rc != CAIRN_EEXISTS) {
            cairn_release(*set);
            return qx_oom(x);
        }
    return 0;
}

static int agg_distinct(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    cairn_val set;
    int rc;
    (void)param;
    if ((rc = distinct_set(x, g, &set)) < 0)
        return rc;
    if (agg_is(a, "distinct")) {
        *out = set;
    } else {
        *out = cairn_int((int64_t)cairn_count(set));
        cairn_release(set);
    }
    return 0;
}

static int agg_sum(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    (void)param;
    if (agg_is(a, "avg"))
        return avg_of(x, g, out);
    if (agg_is(a, "variance"))
        return variance_of(x, g, out);
    return sum_of(x, g, out);
}

static int agg_stddev(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    cairn_val var;
    int rc;
    (void)a, (void)param;
    if ((rc = variance_of(x, g, &var)) < 0)
        return rc;
    *out = cairn_double(sqrt(to_double(var)));
    cairn_release(var);
    return 0;
}

static int agg_median(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    cairn_val *s, sum;
    size_t mid = g->n / 2;
    int rc;
    (void)a, (void)param;
    if (g->n == 0) {
        *out = cairn_nil();
        return 0;
    }
    if ((rc = check_comparable(x, g)) < 0 || (rc = sorted(x, g, &s)) < 0)
        return rc;
    if (g->n % 2) {
        *out = cairn_retain(s[mid]);
    } else if ((rc = cairn_query__arith(&sum, x, OP_ADD, s[mid - 1], s[mid])) == 0) {
        rc = cairn_query__arith(out, x, OP_DIV, sum, cairn_int(2));
        cairn_release(sum);
    }
    cairn_free(s);
    return rc;
}

/* min, max; (min n ?x) and (max n ?x) as sorted vectors */
static int agg_minmax(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    int is_max = agg_is(a, "max"), rc;
    cairn_val *s, best;
    size_t take = 0;
    if ((rc = check_comparable(x, g)) < 0)
        return rc;
    if (cairn_type_of(param) == CAIRN_NIL) {
        if (g->n == 0) {
            *out = cairn_nil();
            return 0;
        }
        best = g->v[0];
        for (size_t i = 1; i < g->n; i++) {
            int c = cmp_vals(&g->v[i], &best);
            if (is_max ? c > 0 : c < 0)
                best = g->v[i];
        }
        *out = cairn_retain(best);
        return 0;
    }
    if ((rc = agg_param(x, param, &take)) < 0 || (rc = sorted(x, g, &s)) < 0)
        return rc;
    take = take < g->n ? take : g->n;
    rc = vector_of(x, is_max ? s + (g->n - take) : s, take, out);
    cairn_free(s);
    return rc;
}

static int agg_rand(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    size_t k = 0;
    int rc;
    (void)a;
    if (g->n == 0) {
        *out = cairn_nil();
        return 0;
    }
    if (cairn_type_of(param) == CAIRN_NIL) {
        *out = cairn_retain(g->v[next_rand(x) % g->n]);
        return 0;
    }
    if ((rc = agg_param(x, param, &k)) < 0)
        return rc;
    if (cairn_vector_new(out, k) < 0)
        return qx_oom(x);
    for (size_t i = 0; i < k; i++)
        if (cairn_coll_push(out, g->v[next_rand(x) % g->n]) < 0) {
            cairn_release(*out);
            return qx_oom(x);
        }
    return 0;
}

/* (sample n ?x): up to n distinct values in random order */
static int agg_sample(qx *x, const qagg *a, cairn_val param, const vals *g, cairn_val *out)
{
    cairn_val set;
    cairn_val *s;
    size_t take = 0, m;
    int rc;
    (void)a;
    if ((rc = agg_param(x, param, &take)) < 0 || (rc = distinct_set(x, g, &set)) < 0)
        return rc;
    m = cairn_count(set);
    s = cairn_malloc((m ? m : 1) * sizeof *s);
    if (!s) {
        cairn_release(set);
        return qx_oom(x);
    }
    for (size_t i = 0; i < m; i++)
        s[i] = cairn_coll_get(set, i);
    for (size_t i = m; i > 1; i--) {
        size_t j = (size_t)(next_rand(x) % i);
        cairn_val t = s[i - 1];
        s[i - 1] = s[j];
        s[j] = t;
    }
    rc = vector_of(x, s, take < m ? take : m, out);
    cairn_free(s);
    cairn_release(set);
    return rc;
}

static const struct {
    const char *name;
    agg_fn fn;
} agg_impl[] = {
    { "count", agg_count },   { "count-distinct", agg_distinct }, { "distinct", agg_distinct },
    { "sum", agg_sum },       { "avg", agg_sum },                 { "variance", agg_sum },
    { "stddev", agg_stddev }, { "median", agg_median },           { "min", agg_minmax },
    { "max", agg_minmax },    { "rand", agg_rand },               { "sample", agg_sample },
};

static int aggregate(qx *x, const qelem *e, cairn_val param, const vals *g, cairn_val *out)
{
    const qagg *a = e->agg;
    int rc, done;
    if (cairn_type_of(param) == CAIRN_NIL && ((rc = int_aggregate(x, a, g, out, &done)) < 0 || done))
        return rc;
    for (size_t i = 0; a && i < CAIRN_ARRAY_LEN(agg_impl); i++)
        if (agg_is(a, agg_impl[i].name))
            return agg_impl[i].fn(x, a, param, g, out);
    return cairn_error_set(x->err, CAIRN_EINVALID, ":query/find", "unknown aggregate %s", a ? a->name : "?");
}

/* A custom aggregate (aggregate ?f ?x): ?f must name a builtin taking a collection. */
static int custom_aggregate(qx *x, cairn_val f, const vals *g, cairn_val *out)
{
    const qbuiltin *fn = cairn_type_of(f) == CAIRN_SYMBOL ? cairn_query__builtin(f) : NULL;
    const qagg *a = cairn_type_of(f) == CAIRN_SYMBOL ? cairn_query__aggregate(f) : NULL;
    cairn_val coll;
    int rc;
    if (a) {
        qelem e;
        memset(&e, 0, sizeof e);
        e.agg = a;
        return aggregate(x, &e, cairn_nil(), g, out);
    }
    if (!fn || fn->min_args > 1 || (fn->max_args >= 0 && fn->max_args < 1))
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/find", "Unknown aggregate function");
    if ((rc = vector_of(x, g->v, g->n, &coll)) < 0)
        return rc;
    rc = fn->fn(out, x, &coll, 1, NULL);
    cairn_release(coll);
    return rc;
}

/* ---- building the result ----------------------------------------------------------------- */

typedef struct pulls {
    cairn_pull_pattern **p;   /* parsed pattern per find element (NULL for others) */
    int n;                    /* find elements */
} pulls;

static void pulls_free(pulls *ps)
{
    for (int i = 0; i < ps->n; i++)
        cairn_pull_pattern_free(ps->p[i]);
    cairn_free(ps->p);
}

static int pulls_init(qx *x, pulls *ps, const qrel *r)
{
    qquery *q = x->q;
    ps->n = q->nfind;
    ps->p = cairn_malloc((size_t)q->nfind * sizeof *ps->p);
    if (!ps->p)
        return qx_oom(x);
    memset(ps->p, 0, (size_t)q->nfind * sizeof *ps->p);
    for (int i = 0; i < q->nfind; i++) {
        const qelem *e = &q->find[i];
        cairn_val pat = e->pattern;
        const qsource *src = &x->srcs[e->src];
        int rc;
        if (e->kind != QE_PULL)
            continue;
        if (e->pattern_var >= 0) {
            int col = qrel_col(r, e->pattern_var);
            pat = col >= 0 && r->nrows ? qdict_val(&x->dict, qrel_row(r, 0)[col]) : cairn_nil();
            if (r->nrows == 0)
                continue;
        }
        if (!src->db)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/find", "pull needs a database source");
        if ((rc = cairn_pull_pattern_parse(&ps->p[i], src->db, pat, x->err)) < 0)
            return rc;
    }
    return 0;
}

static int pull_value(qx *x, const pulls *ps, int i, qcell c, cairn_val *out)
{
    const qelem *e = &x->q->find[i];
    const qsource *src = &x->srcs[e->src];
    int64_t eid = 0;
    int rc;
    if ((rc = qx_entid(x, &eid, src, c)) < 0)
        return rc;
    if (eid <= 0) {
        *out = cairn_nil();
        return 0;
    }
    return cairn_pull_pattern_eval(out, ps->p[i], src->db, eid, x->err);
}

/* The element values of one output tuple. */
typedef struct tuple_ctx {
    qx *x;            /* query */
    const qrel *r;    /* the projected result */
    const pulls *ps;  /* parsed pull patterns */
    int *cols;        /* per find element: column of its variable */
} tuple_ctx;

static int elem_value(tuple_ctx *t, int i, size_t row, cairn_val *out)
{
    const qelem *e = &t->x->q->find[i];
    qcell c = qrel_row(t->r, row)[t->cols[i]];
    if (e->kind == QE_PULL)
        return pull_value(t->x, t->ps, i, c, out);
    *out = cairn_retain(qdict_val(&t->x->dict, c));
    return 0;
}

static cairn_val key_of(qx *x, int i)
{
    return x->q->keys[i];
}

/* Wraps a tuple (vector of nfind values) as the result element. */
static int shape_tuple(qx *x, cairn_val tuple, cairn_val *out)
{
    qquery *q = x->q;
    int rc;
    if (!q->keys_kind) {
        *out = tuple;
        return 0;
    }
    if (cairn_map_new(out, (size_t)q->nfind) < 0) {
        cairn_release(tuple);
        return qx_oom(x);
    }
    for (int i = 0; i < q->nfind; i++) {
        cairn_val k = key_of(x, i), key;
        size_t len;
        const char *s = cairn_type_of(k) == CAIRN_STRING ? cairn_str_get(k, &len) : cairn_name_get(k, &len);
        if (cairn_type_of(k) == CAIRN_KEYWORD || cairn_type_of(k) == CAIRN_SYMBOL)
            s = cairn_ident_get(k, &len);
        rc = q->keys_kind == 1 ? cairn_keyword(&key, s, len)
             : q->keys_kind == 2 ? cairn_string(&key, s, len) : cairn_symbol(&key, s, len);
        if (rc < 0 || cairn_map_assoc(out, key, cairn_coll_get(tuple, (size_t)i)) < 0) {
            if (rc == 0)
                cairn_release(key);
            cairn_release(*out);
            cairn_release(tuple);
            return qx_oom(x);
        }
        cairn_release(key);
    }
    cairn_release(tuple);
    return 0;
}

/* Adds tuples (each a vector of nfind values) to the final value. */
typedef struct sink {
    qx *x;              /* query */
    cairn_val out;      /* set, vector, or the first tuple */
    int kind;           /* qfind_kind */
    int bag;            /* REL/COLL keep duplicates (:with) */
    size_t skip;        /* offset left */
    size_t left;        /* limit left (SIZE_MAX = none) */
    int done;           /* SCALAR/TUPLE: have it */
    int distinct;       /* tuples are known distinct (no pull): skip set probes */
} sink;

static int sink_init(sink *s, qx *x, const cairn_query_opts *opts)
{
    qquery *q = x->q;
    memset(s, 0, sizeof *s);
    s->x = x;
    s->kind = q->find_kind;
    s->bag = q->nwith > 0 && !q->has_aggregates;  /* aggregated groups are distinct */
    s->skip = opts ? opts->offset : 0;
    s->left = opts && opts->limit ? opts->limit : SIZE_MAX;
    s->out = cairn_nil();
    s->distinct = 1;
    for (int i = 0; i < q->nfind; i++)
        if (q->find[i].kind == QE_PULL)
            s->distinct = 0;
    if (s->kind == QF_REL && !s->bag)
        return cairn_set_new(&s->out, 16) < 0 ? qx_oom(x) : 0;
    if (s->kind == QF_REL || s->kind == QF_COLL)
        return cairn_vector_new(&s->out, 16) < 0 ? qx_oom(x) : 0;
    return 0;
}

/* Consumes tuple. */
static int sink_add(sink *s, cairn_val tuple)
{
    qx *x = s->x;
    int rc;
    if (s->done || s->left == 0) {
        cairn_release(tuple);
        return 0;
    }
    if (s->kind == QF_SCALAR || s->kind == QF_TUPLE) {
        if (s->skip) {
            s->skip--;
            cairn_release(tuple);
            return 0;
        }
        s->out = s->kind == QF_SCALAR ? cairn_retain(cairn_coll_get(tuple, 0)) : cairn_retain(tuple);
        cairn_release(tuple);
        s->done = 1;
        return 0;
    }
    if (s->kind == QF_COLL) {
        cairn_val v = cairn_retain(cairn_coll_get(tuple, 0));
        cairn_release(tuple);
        if (s->skip) {
            s->skip--;
            cairn_release(v);
            return 0;
        }
        s->left--;
        return cairn_coll_push_take(&s->out, v) < 0 ? qx_oom(x) : 0;
    }
    if ((rc = shape_tuple(x, tuple, &tuple)) < 0)
        return rc;
    if (s->skip) {
        s->skip--;
        cairn_release(tuple);
        return 0;
    }
    s->left--;
    if (s->distinct && cairn_type_of(s->out) == CAIRN_SET)
        return cairn_coll__push_new_take(&s->out, tuple) < 0 ? qx_oom(x) : 0;
    rc = cairn_coll_push_take(&s->out, tuple);
    if (rc == CAIRN_EEXISTS) {
        s->left++;
        return 0;
    }
    return rc < 0 ? qx_oom(x) : 0;
}

static int new_tuple(qx *x, cairn_val *t)
{
    return cairn_vector_new(t, (size_t)x->q->nfind) < 0 ? qx_oom(x) : 0;
}

/* No aggregates: one tuple per row. */
static int plain_rows(tuple_ctx *t, sink *s)
{
    qx *x = t->x;
    int rc = 0;
    for (size_t r = 0; r < t->r->nrows && rc == 0 && !s->done && s->left; r++) {
        cairn_val tuple, v;
        if ((rc = new_tuple(x, &tuple)) < 0)
            break;
        for (int i = 0; i < x->q->nfind && rc == 0; i++) {
            if ((rc = elem_value(t, i, r, &v)) < 0)
                break;
            if (cairn_coll_push_take(&tuple, v) < 0)
                rc = qx_oom(x);
        }
        if (rc < 0) {
            cairn_release(tuple);
            break;
        }
        rc = sink_add(s, tuple);
    }
    return rc;
}

/* Aggregates: groups by the non-aggregate elements. */
static int grouped_rows(tuple_ctx *t, sink *s)
{
    qx *x = t->x;
    qquery *q = x->q;
    const qrel *r = t->r;
    int gcols[QMAX_VARS], ng = 0, rc = 0;
    qindex ix;
    uint32_t *group_of = NULL, *order = NULL, *firsts = NULL;
    size_t ngroups = 0;
    vals g = { NULL, 0 };
    for (int i = 0; i < q->nfind; i++)
        if (q->find[i].kind != QE_AGG)
            gcols[ng++] = t->cols[i];
    if ((rc = qindex_init(&ix, gcols, ng)) < 0)
        return qx_oom(x);
    group_of = cairn_malloc((r->nrows ? r->nrows : 1) * sizeof *group_of);
    firsts = cairn_malloc((r->nrows ? r->nrows : 1) * sizeof *firsts);
    order = cairn_malloc((r->nrows ? r->nrows : 1) * sizeof *order);
    g.v = cairn_malloc((r->nrows ? r->nrows : 1) * sizeof *g.v);
    if (!group_of || !firsts || !order || !g.v || (rc = qindex_add(&ix, r)) < 0) {
        rc = qx_oom(x);
        goto done;
    }
    /* group ids in order of first appearance */
    for (size_t row = 0; row < r->nrows; row++) {
        qcell key[QMAX_VARS];
        uint32_t first;
        for (int j = 0; j < ng; j++)
            key[j] = qrel_row(r, row)[gcols[j]];
        first = ng ? qindex_find(&ix, r, key, qhash_cells(key, NULL, ng)) : 1;
        if (first - 1 == row) {
            group_of[row] = (uint32_t)ngroups;
            firsts[ngroups++] = (uint32_t)row;
        } else {
            group_of[row] = group_of[first - 1];
        }
    }
    /* rows ordered by group (counting sort) */
    {
        size_t *start = cairn_malloc((ngroups + 1) * sizeof *start);
        if (!start) {
            rc = qx_oom(x);
            goto done;
        }
        memset(start, 0, (ngroups + 1) * sizeof *start);
        for (size_t row = 0; row < r->nrows; row++)
            start[group_of[row] + 1]++;
        for (size_t k = 0; k < ngroups; k++)
            start[k + 1] += start[k];
        for (size_t row = 0; row < r->nrows; row++)
            order[start[group_of[row]]++] = (uint32_t)row;
        /* start[k] now = end of group k; recompute begin as we go */
        {
            size_t begin = 0;
            for (size_t k = 0; k < ngroups && rc == 0 && !s->done && s->left; k++) {
                size_t end = start[k];
                cairn_val tuple;
                if ((rc = new_tuple(x, &tuple)) < 0)
                    break;
                for (int i = 0; i < q->nfind && rc == 0; i++) {
                    const qelem *e = &q->find[i];
                    cairn_val v;
                    if (e->kind != QE_AGG) {
                        rc = elem_value(t, i, firsts[k], &v);
                    } else {
                        cairn_val param = cairn_nil();
                        g.n = 0;
                        for (size_t j = begin; j < end; j++)
                            g.v[g.n++] = qdict_val(&x->dict, qrel_row(r, order[j])[t->cols[i]]);
                        if (e->param.kind == QT_CONST)
                            param = e->param.val;
                        else if (e->param.kind == QT_VAR)
                            param = qdict_val(&x->dict, qrel_row(r, firsts[k])[qrel_col(r, e->param.id)]);
                        if (e->aggfn >= 0)
                            rc = custom_aggregate(x, qdict_val(&x->dict, qrel_row(r, firsts[k])[qrel_col(r, e->aggfn)]),
                                                  &g, &v);
                        else
                            rc = aggregate(x, e, param, &g, &v);
                    }
                    if (rc == 0 && cairn_coll_push_take(&tuple, v) < 0)
                        rc = qx_oom(x);
                }
                if (rc < 0) {
                    cairn_release(tuple);
                    break;
                }
                rc = sink_add(s, tuple);
                begin = end;
            }
        }
        cairn_free(start);
    }
done:
    qindex_dispose(&ix);
    cairn_free(group_of);
    cairn_free(firsts);
    cairn_free(order);
    cairn_free(g.v);
    return rc;
}

int cairn_query__result(qx *x, qrel *f, const cairn_query_opts *opts, cairn_val *out)
{
    qquery *q = x->q;
    qvset want;
    int vars[QMAX_VARS], nv = 0, rc, cols[QMAX_VARS];
    qrel r = QREL_INIT;
    tuple_ctx t;
    pulls ps;
    sink s;
    memset(&ps, 0, sizeof ps);
    qv_clear(&want);
    for (int i = 0; i < q->nfind; i++) {
        const qelem *e = &q->find[i];
        qv_add(&want, e->var);
        if (e->aggfn >= 0)
            qv_add(&want, e->aggfn);
        if (e->param.kind == QT_VAR)
            qv_add(&want, e->param.id);
        if (e->pattern_var >= 0)
            qv_add(&want, e->pattern_var);
    }
    for (int i = 0; i < q->nwith; i++)
        qv_add(&want, q->with[i]);
    for (int v = qv_next(&want, 0); v >= 0; v = qv_next(&want, v + 1))
        vars[nv++] = v;
    if ((rc = qrel_project(&r, f, vars, nv, 1)) < 0)
        return qx_oom(x);
    for (int i = 0; i < q->nfind; i++)
        cols[i] = qrel_col(&r, q->find[i].var);
    t.x = x;
    t.r = &r;
    t.ps = &ps;
    t.cols = cols;
    if ((rc = sink_init(&s, x, opts)) < 0)
        goto done;
    if ((rc = pulls_init(x, &ps, &r)) < 0)
        goto done;
    if (q->has_aggregates)
        rc = grouped_rows(&t, &s);
    else
        rc = plain_rows(&t, &s);
    if (rc < 0)
        goto done;
    *out = s.out;
    s.out = cairn_nil();
done:
    cairn_release(s.out);
    pulls_free(&ps);
    qrel_dispose(&r);
    return rc;
}
