/*
 * A deliberately naive reference evaluator, kept beside the engine for
 * differential tests (DESIGN.md section 6): Datahike's planner shipped wrong
 * answers because nothing checked it against a simple model.
 *
 * It shares the parser (the query's meaning), the built-in functions and the
 * result shaping with the engine, and nothing of the evaluation: no plans,
 * no indexes, no estimates, no semi-naive rounds. Clauses run in the order
 * written, one binding environment at a time:
 *
 *   pattern   every datom of the source (the public cairn_datoms_open full
 *             scan) or every tuple of a collection, matched against every
 *             environment;
 *   function  called per environment;
 *   not / or  the body evaluated once per environment;
 *   rule      memo tables keyed by the call's bound arguments; the whole
 *             query is re-evaluated until no table grows (naive fixpoint).
 *
 * Cost is O(environments x datoms) per pattern and O(passes x everything)
 * for rules: fine for the test databases (hundreds of datoms), useless for
 * anything else, which is the point.
 */
#include "query/query.h"

#include <string.h>

#include "base/alloc.h"

typedef struct renv {
    qcell *v;          /* value cells, by variable */
    uint8_t *set;      /* 1 = bound */
} renv;

typedef struct renvs {
    renv *e;           /* environments */
    size_t n, cap;     /* count and room */
    int nvars;         /* scope size */
} renvs;

typedef struct rtab {
    int rule;          /* rule */
    int nargs;         /* arity */
    uint64_t mask;     /* bound positions */
    qcell key[64];     /* their values */
    qrowset ans;       /* answer tuples (nargs columns) */
    unsigned pass;     /* pass it was last evaluated in */
    struct rtab *next; /* list */
} rtab;

typedef struct rfacts {
    qcell *cells;      /* 5 cells per datom: e a v tx added */
    size_t n;          /* datoms */
    int loaded;        /* read already */
} rfacts;

typedef struct rctx {
    rfacts facts[16];  /* every datom of each source, read once per query */
    qx *x;             /* context (dict, sources, errors) */
    qquery *q;         /* the query */
    rtab *tabs;        /* rule tables */
    unsigned pass;     /* current pass */
    int changed;       /* a table grew in this pass */
    int depth;         /* nesting, bounded */
} rctx;

/* ---- environments ------------------------------------------------------------- */

static int envs_add(rctx *R, renvs *es, const renv *from, int nvars)
{
    renv *e;
    if (es->n == es->cap) {
        size_t nc = es->cap ? es->cap * 2 : 16;
        renv *ne = cairn_realloc(es->e, nc * sizeof *ne);
        if (!ne)
            return qx_oom(R->x);
        es->e = ne;
        es->cap = nc;
    }
    e = &es->e[es->n];
    e->v = cairn_malloc((size_t)(nvars ? nvars : 1) * sizeof *e->v);
    e->set = cairn_malloc((size_t)(nvars ? nvars : 1));
    if (!e->v || !e->set) {
        cairn_free(e->v);
        cairn_free(e->set);
        return qx_oom(R->x);
    }
    if (from) {
        memcpy(e->v, from->v, (size_t)nvars * sizeof *e->v);
        memcpy(e->set, from->set, (size_t)nvars);
    } else {
        memset(e->set, 0, (size_t)(nvars ? nvars : 1));
    }
    es->n++;
    es->nvars = nvars;
    return 0;
}

static void envs_free(renvs *es)
{
    for (size_t i = 0; i < es->n; i++) {
        cairn_free(es->e[i].v);
        cairn_free(es->e[i].set);
    }
    cairn_free(es->e);
    memset(es, 0, sizeof *es);
}

/* ---- terms -------------------------------------------------------------------------- */

/* The cell a term has in env: 1 and *out, or 0 when unbound/blank. */
static int term_cell(rctx *R, const qterm *t, const renv *e, qcell *out, int *rc)
{
    *rc = 0;
    if (t->kind == QT_VAR) {
        if (!e->set[t->id])
            return 0;
        *out = e->v[t->id];
        return 1;
    }
    if (t->kind == QT_CONST) {
        if (qdict_cell(&R->x->dict, out, t->val) < 0)
            *rc = qx_oom(R->x);
        return *rc == 0;
    }
    return 0;
}

/* Unifies term t with cell c in env: 1 = compatible (binds a variable). */
static int unify(const qterm *t, renv *e, qcell c, qcell tc, int has)
{
    if (t->kind == QT_BLANK)
        return 1;
    if (has)
        return tc == c;
    e->v[t->id] = c;
    e->set[t->id] = 1;
    return 1;
}

/* ---- clauses ---------------------------------------------------------------------------- */

static int eval_body(rctx *R, const qbody *b, int src, renvs *in, renvs *out, int nvars);

/* Entity positions: resolve an id, lookup ref or ident in db (0 = nothing). */
static int resolve(rctx *R, const qsource *s, qcell c, qcell *out)
{
    int64_t id = 0;
    int rc;
    if (qcell_is_int(c)) {
        *out = c;
        return 1;
    }
    if ((rc = qx_entid(R->x, &id, s, c)) < 0)
        return rc;
    if (id <= 0)
        return 0;
    *out = qcell_of_int(id);
    return 1;
}

static int ref_attr(const qsource *s, const qclause *c)
{
    const cairn_attr *a;
    if (c->nterms < 2 || c->terms[1].kind != QT_CONST || cairn_type_of(c->terms[1].val) != CAIRN_KEYWORD)
        return 0;
    a = cairn_db__attr(s->db, c->terms[1].val);
    return a && a->type == CAIRN_VT_REF;
}

/* What a pattern's positions need, worked out once per evaluation. */
typedef struct rpat {
    const qclause *c;      /* the pattern */
    const qsource *s;      /* its source */
    int is_ref;            /* v holds entities */
    int has_const[5];      /* position is a constant ... */
    qcell cst[5];          /* ... with this (resolved) cell */
    int never;             /* a constant names nothing */
} rpat;

static int rpat_init(rctx *R, rpat *P, const qclause *c, const qsource *s)
{
    int rc;
    memset(P, 0, sizeof *P);
    P->c = c;
    P->s = s;
    P->is_ref = s->db ? ref_attr(s, c) : 0;
    for (int p = 0; p < c->nterms; p++) {
        renv none = { NULL, NULL };
        if (c->terms[p].kind != QT_CONST)
            continue;
        P->has_const[p] = term_cell(R, &c->terms[p], &none, &P->cst[p], &rc);
        if (rc < 0)
            return rc;
        if (s->db && (p == 0 || (p == 2 && P->is_ref))) {
            if ((rc = resolve(R, s, P->cst[p], &P->cst[p])) < 0)
                return rc;
            P->never |= rc == 0;
        }
    }
    return 0;
}

/* Matches one fact (cells by position) against every environment. */
static int match_fact(rctx *R, const rpat *P, const qcell *fact, int nfact, renvs *in, renvs *out, int nvars)
{
    const qclause *c = P->c;
    int rc;
    if (nfact < c->nterms || P->never)
        return 0;
    for (int p = 0; p < c->nterms; p++)
        if (P->has_const[p] && P->cst[p] != fact[p])
            return 0;
    for (size_t i = 0; i < in->n; i++) {
        renv *e = &in->e[i];
        int ok = 1, added = 0;
        /* bound variables must agree; free ones are bound on a copy */
        for (int p = 0; p < c->nterms && ok; p++) {
            const qterm *t = &c->terms[p];
            qcell tc;
            if (t->kind != QT_VAR || !e->set[t->id])
                continue;
            tc = e->v[t->id];
            if (P->s->db && (p == 0 || (p == 2 && P->is_ref))) {
                if ((rc = resolve(R, P->s, tc, &tc)) < 0)
                    return rc;
                if (rc == 0)
                    ok = 0;
            }
            ok = ok && tc == fact[p];
        }
        if (!ok)
            continue;
        if ((rc = envs_add(R, out, e, nvars)) < 0)
            return rc;
        added = 1;
        for (int p = 0; p < c->nterms && ok; p++) {
            const qterm *t = &c->terms[p];
            renv *o = &out->e[out->n - 1];
            if (t->kind != QT_VAR || e->set[t->id])
                continue;
            if (o->set[t->id])
                ok = o->v[t->id] == fact[p];  /* repeated in the pattern */
            o->v[t->id] = fact[p];
            o->set[t->id] = 1;
        }
        if (!ok && added) {
            out->n--;
            cairn_free(out->e[out->n].v);
            cairn_free(out->e[out->n].set);
        }
    }
    return 0;
}

/* Every datom of the source through the public datoms API, as cells. */
static int load_facts(rctx *R, const qsource *s, rfacts *f)
{
    cairn_datoms *it;
    cairn_datom d;
    cairn_error e = CAIRN_ERROR_INIT;
    size_t cap = 0;
    int rc;
    if ((rc = cairn_datoms_open(&it, s->db, CAIRN_INDEX_EAVT, cairn_nil(), &e)) < 0)
        return cairn_error_code(R->x->err, rc);
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        qcell *fact;
        if (f->n == cap) {
            size_t nc = cap ? cap * 2 : 256;
            qcell *nn = cairn_realloc(f->cells, nc * 5 * sizeof *nn);
            if (!nn) {
                rc = qx_oom(R->x);
                break;
            }
            f->cells = nn;
            cap = nc;
        }
        fact = f->cells + 5 * f->n;
        fact[0] = qcell_of_int(d.e);
        fact[3] = qcell_of_int(d.tx);
        if (qdict_cell(&R->x->dict, &fact[1], d.a) < 0 || qdict_cell(&R->x->dict, &fact[2], d.v) < 0 ||
            qdict_bool(&R->x->dict, &fact[4], d.added) < 0) {
            rc = qx_oom(R->x);
            break;
        }
        f->n++;
    }
    cairn_datoms_close(it);
    f->loaded = 1;
    return rc == CAIRN_ENOTFOUND ? 0 : rc;
}

static int eval_pattern(rctx *R, const qclause *c, int src, renvs *in, renvs *out, int nvars)
{
    const qsource *s = &R->x->srcs[c->src >= 0 ? c->src : src];
    rpat P;
    int rc = 0;
    if ((rc = rpat_init(R, &P, c, s)) < 0)
        return rc;
    if (!s->db) {
        cairn_val coll = s->coll;
        for (size_t i = 0; i < cairn_count(coll) && rc == 0; i++) {
            cairn_val t = cairn_coll_get(coll, i);
            qcell fact[5];
            int nf = 0;
            if (cairn_type_of(coll) == CAIRN_MAP)
                break;
            if (!cairn_val_is_seq(t))
                continue;
            for (size_t j = 0; j < cairn_count(t) && j < 5; j++)
                if (qdict_cell(&R->x->dict, &fact[nf++], cairn_coll_get(t, j)) < 0)
                    return qx_oom(R->x);
            rc = match_fact(R, &P, fact, nf, in, out, nvars);
        }
        return rc;
    }
    {
        int si = c->src >= 0 ? c->src : src;
        rfacts *f = si < 16 ? &R->facts[si] : NULL;
        if (!f)
            return cairn_error_set(R->x->err, CAIRN_ELIMIT, ":query/where", "reference: too many sources");
        if (!f->loaded && (rc = load_facts(R, s, f)) < 0)
            return rc;
        for (size_t i = 0; i < f->n && rc == 0; i++)
            rc = match_fact(R, &P, f->cells + 5 * i, 5, in, out, nvars);
        return rc;
    }
}

/* Calls c's function for env e. */
static int call_fn(rctx *R, const qclause *c, const renv *e, int nvars, cairn_val *out)
{
    qrel one;
    int vars[QMAX_VARS], n = 0, is_err, rc;
    qcell row[QMAX_VARS];
    for (int v = 0; v < nvars; v++)
        if (e->set[v]) {
            vars[n] = v;
            row[n++] = e->v[v];
        }
    if ((rc = qrel_init(&one, n, vars)) < 0)
        return qx_oom(R->x);
    rc = cairn_query__apply(R->x, c, row, &one, out, &is_err);
    qrel_dispose(&one);
    return rc;
}

/* Binds v through b in env e, adding every result to out. */
static int bind_env(rctx *R, const qbind *b, cairn_val v, renv *e, renvs *out, int nvars, const qbind *const *rest,
                    const cairn_val *rv, int nrest)
{
    int rc;
    if (b->kind == QB_BLANK || b->kind == QB_VAR) {
        if (b->kind == QB_VAR) {
            qcell c;
            if (cairn_type_of(v) == CAIRN_NIL)
                return 0;
            if (qdict_cell(&R->x->dict, &c, v) < 0)
                return qx_oom(R->x);
            if (e->set[b->var]) {
                if (e->v[b->var] != c)
                    return 0;
                if (nrest == 0)
                    return envs_add(R, out, e, nvars);
                return bind_env(R, rest[0], rv[0], e, out, nvars, rest + 1, rv + 1, nrest - 1);
            }
            e->v[b->var] = c;
            e->set[b->var] = 1;
            rc = nrest == 0 ? envs_add(R, out, e, nvars)
                            : bind_env(R, rest[0], rv[0], e, out, nvars, rest + 1, rv + 1, nrest - 1);
            e->set[b->var] = 0;
            return rc;
        }
        if (nrest == 0)
            return envs_add(R, out, e, nvars);
        return bind_env(R, rest[0], rv[0], e, out, nvars, rest + 1, rv + 1, nrest - 1);
    }
    if (cairn_type_of(v) == CAIRN_NIL)
        return 0;
    if (b->kind == QB_TUPLE) {
        const qbind *r2[64];
        cairn_val v2[64];
        int n2 = 0;
        if (!cairn_val_is_seq(v) || cairn_count(v) < (size_t)b->n || b->n + nrest > 64)
            return cairn_error_set(R->x->err, CAIRN_EINVALID, ":query/binding", "Cannot bind value to tuple");
        for (int i = 1; i < b->n; i++) {
            r2[n2] = &b->kids[i];
            v2[n2++] = cairn_coll_get(v, (size_t)i);
        }
        for (int i = 0; i < nrest; i++) {
            r2[n2] = rest[i];
            v2[n2++] = rv[i];
        }
        return bind_env(R, &b->kids[0], cairn_coll_get(v, 0), e, out, nvars, r2, v2, n2);
    }
    if (!cairn_val_is_coll(v) || cairn_type_of(v) == CAIRN_MAP)
        return cairn_error_set(R->x->err, CAIRN_EINVALID, ":query/binding", "Cannot bind value to collection");
    for (size_t i = 0; i < cairn_count(v); i++)
        if ((rc = bind_env(R, &b->kids[0], cairn_coll_get(v, i), e, out, nvars, rest, rv, nrest)) < 0)
            return rc;
    return 0;
}

/* One environment restricted to vars (others unbound). */
static int restrict_env(rctx *R, const renv *e, const qvset *vars, renvs *out, int nvars)
{
    int rc = envs_add(R, out, e, nvars);
    if (rc < 0)
        return rc;
    for (int v = 0; v < nvars; v++)
        if (!qv_has(vars, v))
            out->e[out->n - 1].set[v] = 0;
    return 0;
}

static int eval_call(rctx *R, const qclause *c, int src, renvs *in, renvs *out, int nvars);

static int eval_clause(rctx *R, const qclause *c, int src, renvs *in, renvs *out, int nvars)
{
    int rc = 0;
    switch (c->kind) {
    case QC_PATTERN:
        return eval_pattern(R, c, src, in, out, nvars);
    case QC_PRED:
    case QC_FN:
        for (size_t i = 0; i < in->n && rc == 0; i++) {
            cairn_val v;
            if ((rc = call_fn(R, c, &in->e[i], nvars, &v)) < 0)
                return rc;
            if (c->kind == QC_PRED) {
                if (qtruthy(v))
                    rc = envs_add(R, out, &in->e[i], nvars);
            } else {
                rc = bind_env(R, &c->out, v, &in->e[i], out, nvars, NULL, NULL, 0);
            }
            cairn_release(v);
        }
        return rc;
    case QC_NOT:
        for (size_t i = 0; i < in->n && rc == 0; i++) {
            renvs one = { 0 }, res = { 0 };
            qvset vis;
            if (c->njoin >= 0)
                vis = c->vars;
            else
                memset(&vis, 0xff, sizeof vis);
            if ((rc = restrict_env(R, &in->e[i], &vis, &one, nvars)) == 0 &&
                (rc = eval_body(R, c->branches, c->src >= 0 ? c->src : src, &one, &res, nvars)) == 0 && res.n == 0)
                rc = envs_add(R, out, &in->e[i], nvars);
            envs_free(&one);
            envs_free(&res);
        }
        return rc;
    case QC_OR:
        for (size_t i = 0; i < in->n && rc == 0; i++) {
            for (int b = 0; b < c->nbranches && rc == 0; b++) {
                renvs one = { 0 }, res = { 0 };
                if ((rc = restrict_env(R, &in->e[i], &c->vars, &one, nvars)) == 0 &&
                    (rc = eval_body(R, &c->branches[b], c->src >= 0 ? c->src : src, &one, &res, nvars)) == 0) {
                    /* the branch's bindings of the or's variables, on the outer env */
                    for (size_t j = 0; j < res.n && rc == 0; j++) {
                        renv *r = &res.e[j];
                        int dup = 0;
                        if ((rc = envs_add(R, out, &in->e[i], nvars)) < 0)
                            break;
                        for (int v = qv_next(&c->vars, 0); v >= 0; v = qv_next(&c->vars, v + 1))
                            if (r->set[v]) {
                                out->e[out->n - 1].v[v] = r->v[v];
                                out->e[out->n - 1].set[v] = 1;
                            }
                        /* drop an exact duplicate of an earlier result */
                        for (size_t k = 0; k + 1 < out->n && !dup; k++) {
                            renv *a = &out->e[k], *z = &out->e[out->n - 1];
                            dup = memcmp(a->set, z->set, (size_t)nvars) == 0;
                            for (int v = 0; v < nvars && dup; v++)
                                dup = !a->set[v] || a->v[v] == z->v[v];
                        }
                        if (dup) {
                            out->n--;
                            cairn_free(out->e[out->n].v);
                            cairn_free(out->e[out->n].set);
                        }
                    }
                }
                envs_free(&one);
                envs_free(&res);
            }
        }
        return rc;
    case QC_CALL:
        return eval_call(R, c, src, in, out, nvars);
    default:
        return cairn_error_set(R->x->err, CAIRN_EINVALID, ":query/where", "reference: unknown clause");
    }
}

static int eval_body(rctx *R, const qbody *b, int src, renvs *in, renvs *out, int nvars)
{
    renvs cur = { 0 };
    int rc = 0;
    if (++R->depth > 200) {
        R->depth--;
        return cairn_error_set(R->x->err, CAIRN_ELIMIT, ":query/where", "reference: nesting too deep");
    }
    for (size_t i = 0; i < in->n && rc == 0; i++)
        rc = envs_add(R, &cur, &in->e[i], nvars);
    for (int i = 0; i < b->n && rc == 0; i++) {
        renvs next = { 0 };
        rc = eval_clause(R, &b->c[i], src, &cur, &next, nvars);
        envs_free(&cur);
        cur = next;
        if (rc == 0)
            rc = qx_poll(R->x);
    }
    R->depth--;
    if (rc < 0) {
        envs_free(&cur);
        return rc;
    }
    *out = cur;
    return 0;
}

/* ---- rules: memo tables, naive fixpoint ------------------------------------------------------ */

static int table_of(rctx *R, int rule, int nargs, uint64_t mask, const qcell *key, rtab **out)
{
    rtab *t;
    int nb = 0;
    for (int i = 0; i < nargs; i++)
        nb += (int)((mask >> i) & 1);
    for (t = R->tabs; t; t = t->next)
        if (t->rule == rule && t->nargs == nargs && t->mask == mask && memcmp(t->key, key, (size_t)nb * sizeof *key) == 0) {
            *out = t;
            return 0;
        }
    t = cairn_malloc(sizeof *t);
    if (!t)
        return qx_oom(R->x);
    memset(t, 0, sizeof *t);
    t->rule = rule;
    t->nargs = nargs;
    t->mask = mask;
    memcpy(t->key, key, (size_t)nb * sizeof *key);
    if (qrowset_init(&t->ans, nargs, NULL) < 0) {
        cairn_free(t);
        return qx_oom(R->x);
    }
    t->next = R->tabs;
    R->tabs = t;
    *out = t;
    return 0;
}

/* Evaluates table t's definitions once (this pass), adding answers. */
static int fill_table(rctx *R, rtab *t, int src)
{
    const qrule *r = &R->q->rules[t->rule];
    int rc = 0;
    t->pass = R->pass;
    for (int d = 0; d < r->ndefs && rc == 0; d++) {
        const qrule_def *def = &r->defs[d];
        renvs in = { 0 }, res = { 0 };
        int k = 0;
        if (def->nargs != t->nargs)
            continue;
        if ((rc = envs_add(R, &in, NULL, def->nvars)) < 0)
            break;
        for (int i = 0; i < t->nargs; i++)
            if ((t->mask >> i) & 1) {
                int v = def->head[i];
                if (in.e[0].set[v] && in.e[0].v[v] != t->key[k]) {
                    in.n = 0;  /* a head variable twice with different values: nothing */
                }
                in.e[0].v[v] = t->key[k++];
                in.e[0].set[v] = 1;
            }
        rc = eval_body(R, &def->body, src, &in, &res, def->nvars);
        for (size_t j = 0; j < res.n && rc == 0; j++) {
            qcell tup[64];
            for (int i = 0; i < t->nargs && rc == 0; i++) {
                int v = def->head[i];
                if (!res.e[j].set[v])
                    rc = cairn_error_set(R->x->err, CAIRN_EINVALID, ":query/where",
                                         "reference: rule head variable not bound");
                tup[i] = res.e[j].v[v];
            }
            if (rc == 0) {
                rc = qrowset_add(&t->ans, tup);
                if (rc == 1)
                    R->changed = 1;
                rc = rc < 0 ? qx_oom(R->x) : 0;
            }
        }
        envs_free(&in);
        envs_free(&res);
    }
    return rc;
}

static int eval_call(rctx *R, const qclause *c, int src, renvs *in, renvs *out, int nvars)
{
    const qrule *r = &R->q->rules[c->rule];
    int nreq = 0, rc = 0;
    int csrc = c->src >= 0 ? c->src : src;
    for (int d = 0; d < r->ndefs; d++)
        if (r->defs[d].nargs == c->nterms && r->defs[d].nreq > nreq)
            nreq = r->defs[d].nreq;
    for (size_t i = 0; i < in->n && rc == 0; i++) {
        renv *e = &in->e[i];
        uint64_t mask = 0;
        qcell key[64];
        int nb = 0, skip = 0;
        rtab *t = NULL;
        for (int a = 0; a < c->nterms && a < 64; a++) {
            qcell cell;
            int has = term_cell(R, &c->terms[a], e, &cell, &rc);
            if (rc < 0)
                return rc;
            if (has) {
                mask |= (uint64_t)1 << a;
                key[nb++] = cell;
            } else if (a < nreq) {
                skip = 1;  /* a required variable is unbound: no answers */
            }
        }
        if (skip)
            continue;
        if ((rc = table_of(R, c->rule, c->nterms, mask, key, &t)) < 0)
            return rc;
        if (t->pass != R->pass && (rc = fill_table(R, t, csrc)) < 0)
            return rc;
        for (size_t j = 0; j < t->ans.rel.nrows && rc == 0; j++) {
            const qcell *tup = qrel_row(&t->ans.rel, j);
            renv tmp;
            qcell vbuf[QMAX_VARS];
            uint8_t sbuf[QMAX_VARS];
            int ok = 1;
            tmp.v = vbuf;
            tmp.set = sbuf;
            memcpy(vbuf, e->v, (size_t)nvars * sizeof *vbuf);
            memcpy(sbuf, e->set, (size_t)nvars);
            for (int a = 0; a < c->nterms && ok; a++) {
                qcell tc = 0;
                int has = term_cell(R, &c->terms[a], &tmp, &tc, &rc);
                if (rc < 0)
                    return rc;
                ok = unify(&c->terms[a], &tmp, tup[a], tc, has);
            }
            if (ok)
                rc = envs_add(R, out, &tmp, nvars);
        }
    }
    return rc;
}

/* ---- the driver ---------------------------------------------------------------------------------- */

int cairn_query__ref_eval(qx *x, qquery *q, const qrel *init, qrel *result, const int *vars, int nvars_out)
{
    rctx R;
    renvs start = { 0 }, res = { 0 };
    int rc;
    memset(&R, 0, sizeof R);
    R.x = x;
    R.q = q;
    for (size_t i = 0; i < init->nrows; i++) {
        if ((rc = envs_add(&R, &start, NULL, q->nvars)) < 0)
            goto done;
        for (int c = 0; c < init->ncols; c++) {
            start.e[i].v[init->vars[c]] = qrel_row(init, i)[c];
            start.e[i].set[init->vars[c]] = 1;
        }
    }
    do {
        R.changed = 0;
        R.pass++;
        envs_free(&res);
        if ((rc = eval_body(&R, &q->where, 0, &start, &res, q->nvars)) < 0)
            goto done;
    } while (R.changed);
    if ((rc = qrel_init(result, nvars_out, vars)) < 0) {
        rc = qx_oom(x);
        goto done;
    }
    for (size_t i = 0; i < res.n && rc == 0; i++) {
        qcell row[QMAX_VARS];
        for (int c = 0; c < nvars_out; c++) {
            if (!res.e[i].set[vars[c]]) {
                rc = cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Insufficient bindings: a find variable is unbound");
                break;
            }
            row[c] = res.e[i].v[vars[c]];
        }
        if (rc == 0 && qrel_push(result, row) < 0)
            rc = qx_oom(x);
    }
done:
    envs_free(&start);
    envs_free(&res);
    for (int i = 0; i < 16; i++)
        cairn_free(R.facts[i].cells);
    while (R.tabs) {
        rtab *t = R.tabs;
        R.tabs = t->next;
        qrowset_dispose(&t->ans);
        cairn_free(t);
    }
    return rc;
}
