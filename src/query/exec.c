/*
 * Running a plan: the loop over its steps, and every step but data patterns
 * (scan.c) and rule calls (rules.c): predicates, function bindings, not and
 * or, plus the natural hash join they share and the context helpers every
 * step uses (timeouts, attribute keywords, entity resolution).
 *
 * Each step consumes the relation built so far and produces the next one
 * with only the variables later steps need (qstep.keep). A step that
 * produces no rows ends the plan early: the result is empty.
 *
 * not and or run their sub-plans once per step, not once per row: the input
 * is projected on the join variables (distinct), the sub-plan runs over that
 * whole relation, and the result is anti-joined (not) or joined (or) back.
 * Rejected: DataScript's per-row evaluation of not, which repeats the inner
 * scans for every outer row.
 */
#include "query/query.h"

#include <string.h>

#include "base/alloc.h"
#include "db/kw.h"

/* ---- context helpers ---------------------------------------------------------- */

int qx_tick(qx *x)
{
    struct timespec now;
    if (x->interrupt && x->interrupt(x->interrupt_ctx))
        return cairn_error_set(x->err, CAIRN_ECANCELED, ":query/canceled", "Query canceled: interrupted");
    if (!x->has_deadline)
        return 0;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (now.tv_sec > x->deadline.tv_sec || (now.tv_sec == x->deadline.tv_sec && now.tv_nsec >= x->deadline.tv_nsec))
        return cairn_error_set(x->err, CAIRN_ECANCELED, ":query/canceled", "Query canceled: timeout elapsed");
    return 0;
}

int qx_oom(qx *x)
{
    return cairn_error_oom(x->err);
}

int qx_attr_cell(qx *x, qcell *out, const cairn_db *db, int64_t a)
{
    size_t slot = (size_t)(((uint64_t)a * 0x9e3779b97f4a7c15ULL) >> 58);
    const cairn_attr *attr;
    int rc;
    if (x->attr_ids[slot] == a && x->attr_schemas[slot] == db->schema) {
        *out = x->attr_cells[slot];
        return 0;
    }
    attr = cairn_schema_by_id(db->schema, a);
    if (attr)
        rc = qdict_cell(&x->dict, out, attr->ident);
    else
        rc = qdict_cell(&x->dict, out, cairn_int(a));
    if (rc < 0)
        return qx_oom(x);
    x->attr_ids[slot] = a;
    x->attr_schemas[slot] = db->schema;
    x->attr_cells[slot] = *out;
    return 0;
}

int qx_entid(qx *x, int64_t *out, const qsource *src, qcell c)
{
    cairn_val v = qdict_val(&x->dict, c);
    cairn_error e = CAIRN_ERROR_INIT;
    int rc;
    *out = 0;
    if (!src->db)
        return 0;
    switch (cairn_type_of(v)) {
    case CAIRN_INT:
        *out = cairn_int_value(v);
        return 0;
    case CAIRN_KEYWORD:
    case CAIRN_VECTOR:
    case CAIRN_LIST:
        rc = cairn_db__entid(src->db, v, out, &e);
        if (rc == CAIRN_ENOMEM)
            return qx_oom(x);
        if (rc < 0)
            *out = 0;  /* not an entity reference: matches nothing */
        return 0;
    default:
        return 0;
    }
}

/* ---- column maps ------------------------------------------------------------- */

/* Output layout of a step: the kept input columns, then new variables. */
typedef struct layout {
    int nkeep;           /* input columns kept */
    int keep[QMAX_VARS]; /* their positions */
    int nvars;           /* output columns */
    int vars[QMAX_VARS]; /* output variables */
} layout;

static void layout_in(layout *l, const qrel *in, const qvset *keep)
{
    l->nkeep = l->nvars = 0;
    for (int i = 0; i < in->ncols; i++)
        if (qv_has(keep, in->vars[i])) {
            l->keep[l->nkeep++] = i;
            l->vars[l->nvars++] = in->vars[i];
        }
}

static int push_kept(qrel *out, const layout *l, const qcell *row, const qcell *extra, int nextra)
{
    qcell *dst = qrel_add(out);
    if (!dst)
        return CAIRN_ENOMEM;
    for (int i = 0; i < l->nkeep; i++)
        *dst++ = row[l->keep[i]];
    for (int i = 0; i < nextra; i++)
        *dst++ = extra[i];
    return 0;
}

/* Variables of a set in increasing order. */
static int vset_list(const qvset *s, int *out)
{
    int n = 0;
    for (int v = qv_next(s, 0); v >= 0; v = qv_next(s, v + 1))
        out[n++] = v;
    return n;
}

/* ---- natural hash join ----------------------------------------------------------- */

/* out = l join r on their shared variables, keeping `keep` (r is indexed). */
static int hash_join(qx *x, const qrel *l, const qrel *r, const qvset *keep, qrel *out)
{
    int lk[QMAX_VARS], rk[QMAX_VARS], nk = 0, rextra[QMAX_VARS], nrx = 0, rc;
    layout L;
    qindex ix;
    qcell key[QMAX_VARS], extra[QMAX_VARS];
    layout_in(&L, l, keep);
    for (int i = 0; i < r->ncols; i++) {
        int c = qrel_col(l, r->vars[i]);
        if (c >= 0) {
            lk[nk] = c;
            rk[nk++] = i;
        } else if (qv_has(keep, r->vars[i])) {
            rextra[nrx++] = i;
            L.vars[L.nvars++] = r->vars[i];
        }
    }
    if ((rc = qrel_init(out, L.nvars, L.vars)) < 0)
        return qx_oom(x);
    out->distinct = l->distinct && r->distinct && L.nkeep == l->ncols && nk + nrx == r->ncols;
    if ((rc = qindex_init(&ix, rk, nk)) < 0 || (rc = qindex_add(&ix, r)) < 0) {
        qindex_dispose(&ix);
        return qx_oom(x);
    }
    for (size_t i = 0; i < l->nrows && rc == 0; i++) {
        const qcell *lr = qrel_row(l, i);
        for (int j = 0; j < nk; j++)
            key[j] = lr[lk[j]];
        if (nk == 0) {
            for (size_t j = 0; j < r->nrows && rc == 0; j++) {
                const qcell *rr = qrel_row(r, j);
                for (int e = 0; e < nrx; e++)
                    extra[e] = rr[rextra[e]];
                rc = push_kept(out, &L, lr, extra, nrx);
            }
            continue;
        }
        for (uint32_t at = qindex_find(&ix, r, key, qhash_cells(key, NULL, nk)); at && rc == 0;
             at = qindex_next(&ix, r, at, key)) {
            const qcell *rr = qrel_row(r, at - 1);
            for (int e = 0; e < nrx; e++)
                extra[e] = rr[rextra[e]];
            rc = push_kept(out, &L, lr, extra, nrx);
        }
        if (rc == 0)
            rc = qx_poll(x);
    }
    qindex_dispose(&ix);
    if (rc == CAIRN_ENOMEM || rc == CAIRN_ELIMIT)
        return qx_oom(x);
    return rc;
}

int cairn_query__join(qx *x, const qrel *l, const qrel *r, const qvset *keep, qrel *out)
{
    return hash_join(x, l, r, keep, out);
}

/* ---- calling functions -------------------------------------------------------------- */

#define MAX_ARGS 64

static cairn_val arg_value(qx *x, const qterm *t, const qcell *row, const qrel *rel)
{
    if (t->kind == QT_VAR) {
        int col = qrel_col(rel, t->id);
        return col >= 0 ? qdict_val(&x->dict, row[col]) : cairn_nil();
    }
    return t->kind == QT_CONST ? t->val : cairn_nil();
}

/*
 * A keyword or symbol called as a function does what Clojure's do: looks
 * itself up in its argument ((:k m) is (get m :k), with an optional
 * default). A function "passed as input by symbol" is data, not code, in
 * Datahike too: (?f ?name) with ?f = 'clojure.string/upper-case gives nil
 * there, and the corpus records that (query-basic/82).
 */
static int ifn_lookup(qx *x, const qclause *c, cairn_val f, const qcell *row, const qrel *rel, cairn_val *out)
{
    cairn_val m, v;
    if (c->nterms < 1 || c->nterms > 2)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Wrong number of args (%d) passed to a keyword or symbol",
                               c->nterms);
    m = arg_value(x, &c->terms[0], row, rel);
    *out = c->nterms == 2 ? arg_value(x, &c->terms[1], row, rel) : cairn_nil();
    if (cairn_type_of(m) == CAIRN_MAP && cairn_map_get(&v, m, f))
        *out = v;
    else if (cairn_type_of(m) == CAIRN_SET && cairn_set_contains(m, f))
        *out = f;
    *out = cairn_retain(*out);
    return 0;
}

int cairn_query__apply(qx *x, const qclause *c, const qcell *row, const qrel *rel, cairn_val *out, int *is_err)
{
    cairn_val args[MAX_ARGS];
    qsource *srcs[MAX_ARGS];
    const qbuiltin *fn = c->fn;
    int n = c->nterms, rc;
    *is_err = 0;
    if (n > MAX_ARGS)
        return cairn_error_set(x->err, CAIRN_ELIMIT, ":query/where", "more than %d arguments to a function", MAX_ARGS);
    if (!fn) {
        int col = qrel_col(rel, c->fnvar);
        cairn_val f = col >= 0 ? qdict_val(&x->dict, row[col]) : cairn_nil();
        if (cairn_type_of(f) == CAIRN_SYMBOL || cairn_type_of(f) == CAIRN_KEYWORD)
            return ifn_lookup(x, c, f, row, rel, out);
        {
            cairn_buf b = CAIRN_BUF_INIT;
            cairn_buf_puts(&b, "Not a function: ");
            cairn_query__show(&b, f);
            cairn_buf_puts(&b, " in ");
            cairn_query__show(&b, c->form);
            cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "Not a function");
            cairn_buf_dispose(&b);
            return CAIRN_EINVALID;
        }
    }
    if (n < fn->min_args || (fn->max_args >= 0 && n > fn->max_args)) {
        cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "Wrong number of args (%d) passed to %s in ", n, fn->name);
        cairn_query__show(&b, c->form);
        cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "Wrong number of args");
        cairn_buf_dispose(&b);
        *is_err = 1;
        return CAIRN_EINVALID;
    }
    for (int i = 0; i < n; i++) {
        const qterm *t = &c->terms[i];
        srcs[i] = NULL;
        switch (t->kind) {
        case QT_VAR: {
            int col = qrel_col(rel, t->id);
            args[i] = col >= 0 ? qdict_val(&x->dict, row[col]) : cairn_nil();
            break;
        }
        case QT_CONST:
            args[i] = t->val;
            break;
        case QT_SRC:
            args[i] = cairn_nil();
            srcs[i] = &x->srcs[t->id];
            break;
        default:
            args[i] = cairn_nil();
            break;
        }
    }
    rc = fn->fn(out, x, args, n, srcs);
    if (rc == CAIRN_EINVALID)
        *is_err = 1;
    return rc;
}

/* ---- predicates ---------------------------------------------------------------------- */

/* A comparison whose arguments are all integers, decided on cells: 1/0, or
 * -1 when the fast path does not apply. */
static int fast_cmp(int op, const qcell *cells, int n)
{
    for (int i = 0; i < n; i++)
        if (!qcell_is_int(cells[i]))
            return -1;
    for (int i = 0; i + 1 < n; i++) {
        int64_t a = qcell_int(cells[i]), b = qcell_int(cells[i + 1]);
        int ok;
        switch (op) {
        case '<': ok = a < b; break;
        case 'L': ok = a <= b; break;
        case '>': ok = a > b; break;
        case 'G': ok = a >= b; break;
        case '=': case 'N': ok = a == b; break;
        default: return -1;
        }
        if (!ok)
            return 0;
    }
    return 1;
}

static int run_filter(qx *x, const qstep *s, qrel *in, qrel *out)
{
    const qclause *c = s->c;
    layout L;
    int op = c->fn && (c->fn->flags & QFN_CMP) ? cairn_query__cmp_op(c->fn) : 0;
    int cols[MAX_ARGS], rc = 0, fast = op && c->nterms <= MAX_ARGS && c->nterms >= 1;
    qcell consts[MAX_ARGS];
    layout_in(&L, in, &s->keep);
    if ((rc = qrel_init(out, L.nvars, L.vars)) < 0)
        return qx_oom(x);
    out->distinct = in->distinct && L.nkeep == in->ncols;
    for (int i = 0; fast && i < c->nterms; i++) {
        const qterm *t = &c->terms[i];
        cols[i] = -1;
        if (t->kind == QT_VAR)
            cols[i] = qrel_col(in, t->id);
        else if (t->kind == QT_CONST) {
            if (qdict_cell(&x->dict, &consts[i], t->val) < 0)
                return qx_oom(x);
        } else
            fast = 0;
    }
    for (size_t r = 0; r < in->nrows; r++) {
        const qcell *row = qrel_row(in, r);
        int keep = -1;
        if ((rc = qx_poll(x)) < 0)
            return rc;
        if (fast) {
            qcell cells[MAX_ARGS];
            for (int i = 0; i < c->nterms; i++)
                cells[i] = cols[i] >= 0 ? row[cols[i]] : consts[i];
            keep = fast_cmp(op, cells, c->nterms);
        }
        if (keep < 0) {
            cairn_val v;
            int is_err;
            /* a type error fails the query, as in Datahike 0.6 and DataScript
             * (0.8 swallows it; the corpus keeps the older answer, query-basic/91) */
            if ((rc = cairn_query__apply(x, c, row, in, &v, &is_err)) < 0)
                return rc;
            keep = qtruthy(v);
            cairn_release(v);
        }
        if (keep && (rc = push_kept(out, &L, row, NULL, 0)) < 0)
            return qx_oom(x);
    }
    return 0;
}

/* ---- function bindings ------------------------------------------------------------------ */

typedef struct binder {
    qx *x;                   /* query */
    const qrel *in;          /* input */
    const qcell *row;        /* current input row */
    qrel *out;               /* output */
    const layout *L;         /* output layout */
    int nnew;                /* new variables */
    int newvars[QMAX_VARS];  /* which */
    qcell vals[QMAX_VARS];   /* their cells, by position in newvars */
    char set[QMAX_VARS];     /* assigned in this candidate */
} binder;

static int new_index(const binder *B, int var)
{
    for (int i = 0; i < B->nnew; i++)
        if (B->newvars[i] == var)
            return i;
    return -1;
}

static int bind_fail(qx *x, const char *what, cairn_val v)
{
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_buf_printf(&b, "Cannot bind value ");
    cairn_query__show(&b, v);
    cairn_buf_printf(&b, " to %s", what);
    cairn_error_set(x->err, CAIRN_EINVALID, ":query/binding", "%s", b.ptr ? b.ptr : "Cannot bind value");
    cairn_buf_dispose(&b);
    return CAIRN_EINVALID;
}

/* Binds v through b; calls emit for each complete assignment (bk = kids to
 * bind after this one, for tuples). */
static int bind_rec(binder *B, const qbind *b, cairn_val v, const qbind *const *rest, const cairn_val *rest_vals,
                    int nrest);

static int bind_done(binder *B)
{
    qcell extra[QMAX_VARS];
    int n = 0;
    for (int i = 0; i < B->nnew; i++)
        if (B->set[i])
            extra[n++] = B->vals[i];
    if (n != B->nnew)
        return 0;  /* unreachable: every new variable is in the binding */
    return push_kept(B->out, B->L, B->row, extra, n) < 0 ? qx_oom(B->x) : 0;
}

static int bind_next(binder *B, const qbind *const *rest, const cairn_val *rest_vals, int nrest)
{
    if (nrest == 0)
        return bind_done(B);
    return bind_rec(B, rest[0], rest_vals[0], rest + 1, rest_vals + 1, nrest - 1);
}

#define BIND_MAX 64

static int bind_rec(binder *B, const qbind *b, cairn_val v, const qbind *const *rest, const cairn_val *rest_vals,
                    int nrest)
{
    qx *x = B->x;
    int rc;
    switch (b->kind) {
    case QB_BLANK:
        return bind_next(B, rest, rest_vals, nrest);
    case QB_VAR: {
        int col = qrel_col(B->in, b->var), ni;
        qcell c;
        if (cairn_type_of(v) == CAIRN_NIL)
            return 0;
        if (qdict_cell(&x->dict, &c, v) < 0)
            return qx_oom(x);
        if (col >= 0)
            return B->row[col] == c ? bind_next(B, rest, rest_vals, nrest) : 0;
        ni = new_index(B, b->var);
        if (ni < 0)
            return bind_next(B, rest, rest_vals, nrest);  /* not kept */
        if (B->set[ni])
            return B->vals[ni] == c ? bind_next(B, rest, rest_vals, nrest) : 0;
        B->vals[ni] = c;
        B->set[ni] = 1;
        rc = bind_next(B, rest, rest_vals, nrest);
        B->set[ni] = 0;
        return rc;
    }
    case QB_TUPLE: {
        const qbind *r2[BIND_MAX];
        cairn_val v2[BIND_MAX];
        int n2 = 0;
        if (cairn_type_of(v) == CAIRN_NIL)
            return 0;
        if (!cairn_val_is_seq(v))
            return bind_fail(x, "tuple", v);
        if (cairn_count(v) < (size_t)b->n)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/binding",
                                   "Not enough elements in a collection to bind tuple");
        if (b->n + nrest > BIND_MAX)
            return cairn_error_set(x->err, CAIRN_ELIMIT, ":query/binding", "binding too large");
        for (int i = 1; i < b->n; i++) {
            r2[n2] = &b->kids[i];
            v2[n2++] = cairn_coll_get(v, (size_t)i);
        }
        for (int i = 0; i < nrest; i++) {
            r2[n2] = rest[i];
            v2[n2++] = rest_vals[i];
        }
        return bind_rec(B, &b->kids[0], cairn_coll_get(v, 0), r2, v2, n2);
    }
    case QB_COLL:
    case QB_REL: {
        const qbind *el = &b->kids[0];
        if (cairn_type_of(v) == CAIRN_NIL)
            return 0;
        if (!cairn_val_is_coll(v) || cairn_type_of(v) == CAIRN_MAP)
            return bind_fail(x, "collection", v);
        for (size_t i = 0; i < cairn_count(v); i++)
            if ((rc = bind_rec(B, el, cairn_coll_get(v, i), rest, rest_vals, nrest)) < 0)
                return rc;
        return 0;
    }
    default:
        return 0;
    }
}

static void bind_new_vars(const qbind *b, const qrel *in, const qvset *keep, binder *B)
{
    if (b->kind == QB_VAR && qrel_col(in, b->var) < 0 && qv_has(keep, b->var) && new_index(B, b->var) < 0)
        B->newvars[B->nnew++] = b->var;
    for (int i = 0; i < b->n; i++)
        bind_new_vars(&b->kids[i], in, keep, B);
}

static void bind_new_vars_all(const qbind *b, qvset *s)
{
    if (b->kind == QB_VAR)
        qv_add(s, b->var);
    for (int i = 0; i < b->n; i++)
        bind_new_vars_all(&b->kids[i], s);
}

static int run_bind(qx *x, const qstep *s, qrel *in, qrel *out)
{
    const qclause *c = s->c;
    layout L;
    binder B;
    int rc = 0;
    memset(&B, 0, sizeof B);
    layout_in(&L, in, &s->keep);
    B.x = x;
    B.in = in;
    B.out = out;
    B.L = &L;
    bind_new_vars(&c->out, in, &s->keep, &B);
    for (int i = 0; i < B.nnew; i++)
        L.vars[L.nvars++] = B.newvars[i];
    if ((rc = qrel_init(out, L.nvars, L.vars)) < 0)
        return qx_oom(x);
    out->distinct = in->distinct && L.nkeep == in->ncols && c->out.kind != QB_COLL && c->out.kind != QB_REL;
    for (size_t r = 0; r < in->nrows && rc == 0; r++) {
        cairn_val v;
        int is_err;
        B.row = qrel_row(in, r);
        if ((rc = qx_poll(x)) < 0)
            break;
        if ((rc = cairn_query__apply(x, c, B.row, in, &v, &is_err)) < 0)
            break;
        rc = bind_rec(&B, &c->out, v, NULL, NULL, 0);
        cairn_release(v);
    }
    return rc;
}

int cairn_query__bind_input(qx *x, const qbind *b, cairn_val v, qrel *out)
{
    qrel unit;
    qvset keep;
    layout L;
    binder B;
    int rc;
    qrel_unit(&unit);
    qv_clear(&keep);
    memset(&B, 0, sizeof B);
    bind_new_vars_all(b, &keep);
    layout_in(&L, &unit, &keep);
    B.x = x;
    B.in = &unit;
    B.out = out;
    B.L = &L;
    B.row = NULL;
    bind_new_vars(b, &unit, &keep, &B);
    for (int i = 0; i < B.nnew; i++)
        L.vars[L.nvars++] = B.newvars[i];
    if ((rc = qrel_init(out, L.nvars, L.vars)) < 0)
        return qx_oom(x);
    if ((rc = bind_rec(&B, b, v, NULL, NULL, 0)) < 0)
        return rc;
    return qrel_dedup(out) < 0 ? qx_oom(x) : 0;
}

/* ---- not and or ----------------------------------------------------------------------------- */

static int run_not(qx *x, const qstep *s, qrel *in, qrel *out)
{
    qrel proj = QREL_INIT, res = QREL_INIT;
    qrowset seen;
    layout L;
    int cols[QMAX_VARS], rc;
    layout_in(&L, in, &s->keep);
    if ((rc = qrel_project(&proj, in, s->join, s->njoin, 1)) < 0)
        return qx_oom(x);
    if ((rc = cairn_query__run(x, &s->sub[0], &proj, &res)) < 0) {
        qrel_dispose(&proj);
        return rc;
    }
    qrel_dispose(&proj);
    /* res has exactly the join variables; index them in join order */
    if ((rc = qrowset_init(&seen, s->njoin, s->join)) < 0) {
        qrel_dispose(&res);
        return qx_oom(x);
    }
    for (int j = 0; j < s->njoin; j++)
        cols[j] = qrel_col(&res, s->join[j]);
    for (size_t r = 0; r < res.nrows && rc >= 0; r++) {
        qcell key[QMAX_VARS];
        for (int j = 0; j < s->njoin; j++)
            key[j] = qrel_row(&res, r)[cols[j]];
        rc = qrowset_add(&seen, key);
    }
    qrel_dispose(&res);
    if (rc < 0) {
        qrowset_dispose(&seen);
        return qx_oom(x);
    }
    for (int j = 0; j < s->njoin; j++)
        cols[j] = qrel_col(in, s->join[j]);
    if ((rc = qrel_init(out, L.nvars, L.vars)) < 0) {
        qrowset_dispose(&seen);
        return qx_oom(x);
    }
    out->distinct = in->distinct && L.nkeep == in->ncols;
    for (size_t r = 0; r < in->nrows && rc == 0; r++) {
        const qcell *row = qrel_row(in, r);
        qcell key[QMAX_VARS];
        for (int j = 0; j < s->njoin; j++)
            key[j] = row[cols[j]];
        if (!qrowset_has(&seen, key) && push_kept(out, &L, row, NULL, 0) < 0)
            rc = qx_oom(x);
    }
    qrowset_dispose(&seen);
    return rc;
}

static int run_or(qx *x, const qstep *s, qrel *in, qrel *out)
{
    qrel proj = QREL_INIT;
    qrowset u;
    qvset all;
    int vars[QMAX_VARS], nv, rc;
    qv_clear(&all);
    for (int i = 0; i < s->njoin; i++)
        qv_add(&all, s->join[i]);
    for (int i = 0; i < s->nouts; i++)
        qv_add(&all, s->outs[i]);
    nv = vset_list(&all, vars);
    if ((rc = qrel_project(&proj, in, s->join, s->njoin, 1)) < 0)
        return qx_oom(x);
    if ((rc = qrowset_init(&u, nv, vars)) < 0) {
        qrel_dispose(&proj);
        return qx_oom(x);
    }
    for (int b = 0; b < s->nsub && rc == 0; b++) {
        qrel copy = QREL_INIT, res = QREL_INIT;
        int cols[QMAX_VARS];
        if ((rc = qrel_init(&copy, proj.ncols, proj.vars)) < 0 || (rc = qrel_reserve(&copy, proj.nrows)) < 0) {
            qrel_dispose(&copy);
            rc = qx_oom(x);
            break;
        }
        if (proj.ncols)
            memcpy(copy.rows, proj.rows, proj.nrows * (size_t)proj.ncols * sizeof *proj.rows);
        copy.nrows = proj.nrows;
        if ((rc = cairn_query__run(x, &s->sub[b], &copy, &res)) < 0)
            break;
        for (int j = 0; j < nv; j++)
            cols[j] = qrel_col(&res, vars[j]);
        for (size_t r = 0; r < res.nrows && rc >= 0; r++) {
            qcell row[QMAX_VARS];
            for (int j = 0; j < nv; j++)
                row[j] = qrel_row(&res, r)[cols[j]];
            rc = qrowset_add(&u, row);
        }
        qrel_dispose(&res);
        if (rc < 0) {
            rc = qx_oom(x);
            break;
        }
        rc = 0;
    }
    qrel_dispose(&proj);
    if (rc == 0)
        rc = hash_join(x, in, &u.rel, &s->keep, out);
    qrowset_dispose(&u);
    return rc;
}

/* ---- the plan loop ---------------------------------------------------------------------------- */

static int empty_like(qrel *out, const qvset *vars)
{
    int v[QMAX_VARS], n = vset_list(vars, v);
    return qrel_init(out, n, v);
}

int cairn_query__run_from(qx *x, const qplan *p, int from, qrel *rel, qrel *out, struct qbodyrun *br)
{
    qrel cur = QREL_INIT;
    int rc = 0, vars[QMAX_VARS], nv;
    qrel_move(&cur, rel);
    for (int i = from; i < p->n && rc == 0; i++) {
        const qstep *s = &p->steps[i];
        qrel next = QREL_INIT;
        if (cur.nrows == 0)
            break;
        switch (s->kind) {
        case QS_PATTERN:
            rc = cairn_query__pattern(x, s, &cur, &next);
            break;
        case QS_FILTER:
            rc = run_filter(x, s, &cur, &next);
            break;
        case QS_BIND:
            rc = run_bind(x, s, &cur, &next);
            break;
        case QS_NOT:
            rc = run_not(x, s, &cur, &next);
            break;
        case QS_OR:
            rc = run_or(x, s, &cur, &next);
            break;
        case QS_CALL:
            rc = br ? cairn_query__call_in_fix(x, br, i, &cur, &next) : cairn_query__call(x, s, s->src, &cur, &next);
            break;
        default:
            rc = empty_like(&next, &s->keep) < 0 ? qx_oom(x) : 0;
            break;
        }
        qrel_dispose(&cur);
        if (rc < 0) {
            qrel_dispose(&next);
            break;
        }
        qrel_move(&cur, &next);
    }
    if (rc < 0) {
        qrel_dispose(&cur);
        return rc;
    }
    /* the result: exactly p->out, in increasing variable order */
    nv = vset_list(&p->out, vars);
    if (cur.nrows == 0) {
        qrel_dispose(&cur);
        return empty_like(out, &p->out) < 0 ? qx_oom(x) : 0;
    }
    for (int i = 0; i < nv; i++)
        if (qrel_col(&cur, vars[i]) < 0) {
            qrel_dispose(&cur);
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where",
                                   "Insufficient bindings: a variable of the result is never bound");
        }
    if (cur.ncols == nv) {
        int same = 1;
        for (int i = 0; i < nv && same; i++)
            same = cur.vars[i] == vars[i];
        if (same) {
            qrel_move(out, &cur);
            return 0;
        }
    }
    rc = qrel_project(out, &cur, vars, nv, 0);
    qrel_dispose(&cur);
    return rc < 0 ? qx_oom(x) : 0;
}

int cairn_query__run(qx *x, const qplan *p, qrel *rel, qrel *out)
{
    return cairn_query__run_from(x, p, 0, rel, out, NULL);
}
