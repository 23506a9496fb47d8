/*
 * The planner: orders the clauses of a body by cost, so a query's speed does
 * not depend on the order its clauses are written in.
 *
 * Greedy, one clause at a time, with the set of bound variables and the
 * estimated row count as the state:
 *
 *   1. every predicate and `not` whose variables are bound runs at once
 *      (they only remove rows);
 *   2. of the joins that can run (patterns, function bindings, or, rule
 *      calls), the one whose estimated result is smallest runs next,
 *      preferring joins connected to what is bound over cartesian products.
 *
 * Estimates come from the indexes: exact range counts from subtree counts
 * (cairn_db__count_prefix) and, per attribute, a sample of its first 256
 * datoms for values per entity, distinct values and the selectivity of a
 * constant (scan.c). Greedy ordering over these is what Datomic-style
 * queries need: they are stars around a few entity variables, where picking
 * the most selective pattern first and then following bound variables is
 * the optimum. Rejected: dynamic programming over all orders (exponential
 * in clauses, and the estimates are not precise enough to reward it);
 * DataScript's textual order (its q2 vs q2-switch is a 10x difference).
 *
 * After ordering, a backward pass computes what each step must keep, so
 * relations carry only variables that are still needed.
 *
 * Rule calls with required-bound variables ([(r [?x] ?y) ...]) yield nothing
 * when the variable is not bound by the clauses written before the call
 * (DataScript and Datahike 0.6 evaluate in written order and give an empty
 * result there; reordering must not change that answer).
 */
#include "query/query.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"

typedef struct pl {
    qx *x;                  /* the query */
    const qbody *body;      /* the clauses */
    int src;                /* default source */
    qvset bound;            /* bound so far */
    double est;             /* rows so far */
    char *done;             /* per clause: scheduled */
    qvset *prov;            /* per clause: variables it binds */
    char *no_answers;       /* per call: a required var is unbound as written */
    qstep *steps;           /* the plan */
    int n;                  /* steps */
    int nvars;              /* scope */
    const cairn_ident **names;  /* variable names (messages) */
    qvset in, out;          /* plan input and output */
} pl;

static void names_of(cairn_buf *b, const pl *P, const qvset *s)
{
    int first = 1;
    cairn_buf_puts(b, "#{");
    for (int v = qv_next(s, 0); v >= 0; v = qv_next(s, v + 1)) {
        if (!first)
            cairn_buf_putc(b, ' ');
        first = 0;
        if (P->names && v < P->nvars)
            cairn_buf_put(b, P->names[v]->text, P->names[v]->len);
        else
            cairn_buf_printf(b, "?%d", v);
    }
    cairn_buf_puts(b, "}");
}

static int insufficient(pl *P, const qclause *c, const qvset *missing)
{
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_buf_puts(&b, "Insufficient bindings: none of ");
    names_of(&b, P, missing);
    cairn_buf_puts(&b, " is bound in ");
    cairn_query__show(&b, c->form);
    cairn_error_set(P->x->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "Insufficient bindings");
    cairn_buf_dispose(&b);
    return CAIRN_EINVALID;
}

/* ---- what clauses bind and need -------------------------------------------------- */

static void bind_vars(const qbind *b, qvset *s)
{
    if (b->kind == QB_VAR)
        qv_add(s, b->var);
    for (int i = 0; i < b->n; i++)
        bind_vars(&b->kids[i], s);
}

static void provides(const qclause *c, qvset *s);

static void body_provides(const qbody *b, qvset *s)
{
    for (int i = 0; i < b->n; i++)
        provides(&b->c[i], s);
}

/* Variables clause c binds when it runs (an upper bound for or). */
static void provides(const qclause *c, qvset *s)
{
    switch (c->kind) {
    case QC_PATTERN:
    case QC_CALL:
        qv_union(s, &c->vars);
        break;
    case QC_FN:
        bind_vars(&c->out, s);
        break;
    case QC_OR: {
        qvset all, br;
        qv_clear(&all);
        for (int i = 0; i < c->nbranches; i++) {
            qv_clear(&br);
            body_provides(&c->branches[i], &br);
            if (i == 0)
                all = br;
            else
                qv_union(&all, &br);
        }
        qv_inter(&all, &c->vars);
        qv_union(s, &all);
        break;
    }
    default:
        break;
    }
}

/* Input variables of a function call (arguments and the function). */
static void fn_inputs(const qclause *c, qvset *s)
{
    qv_clear(s);
    for (int i = 0; i < c->nterms; i++)
        if (c->terms[i].kind == QT_VAR)
            qv_add(s, c->terms[i].id);
    if (c->fnvar >= 0)
        qv_add(s, c->fnvar);
}

/* Required-bound arguments of a call (largest over matching definitions). */
static void call_required(const pl *P, const qclause *c, qvset *s)
{
    const qrule *r = &P->x->q->rules[c->rule];
    int nreq = 0;
    qv_clear(s);
    for (int i = 0; i < r->ndefs; i++)
        if (r->defs[i].nargs == c->nterms && r->defs[i].nreq > nreq)
            nreq = r->defs[i].nreq;
    for (int i = 0; i < nreq && i < c->nterms; i++)
        if (c->terms[i].kind == QT_VAR)
            qv_add(s, c->terms[i].id);
}

/* The variables a not waits for: those it shares with the rest of the
 * scope that can be bound at all. */
static void not_outer(const pl *P, int ci, qvset *s)
{
    const qclause *c = &P->body->c[ci];
    qvset elsewhere, bindable;
    qv_clear(&elsewhere);
    bindable = P->in;
    qv_union(&elsewhere, &P->out);
    qv_union(&elsewhere, &P->in);
    for (int i = 0; i < P->body->n; i++) {
        if (i == ci)
            continue;
        qv_union(&elsewhere, &P->body->c[i].vars);
        qv_union(&bindable, &P->prov[i]);
    }
    *s = c->vars;
    if (c->njoin < 0)
        qv_inter(s, &elsewhere);
    qv_inter(s, &bindable);
}

static int ready(pl *P, int ci, int *err_rc)
{
    const qclause *c = &P->body->c[ci];
    qvset need;
    *err_rc = 0;
    switch (c->kind) {
    case QC_PRED:
    case QC_FN:
        fn_inputs(c, &need);
        return qv_subset(&need, &P->bound);
    case QC_NOT:
        not_outer(P, ci, &need);
        if (c->njoin >= 0) {
            /* not-join: every join variable must be bindable */
            qvset all = c->vars;
            qv_minus(&all, &need);
            if (!qv_empty(&all)) {
                *err_rc = insufficient(P, c, &all);
                return 0;
            }
        } else if (qv_empty(&need)) {
            *err_rc = insufficient(P, c, &c->vars);
            return 0;
        }
        return qv_subset(&need, &P->bound);
    case QC_OR: {
        qvset req;
        qv_clear(&req);
        for (int i = 0; i < c->nreq; i++)
            qv_add(&req, c->join[i]);
        return qv_subset(&req, &P->bound);
    }
    case QC_CALL:
        if (P->no_answers[ci])
            return 1;
        call_required(P, c, &need);
        return qv_subset(&need, &P->bound);
    default:
        return 1;
    }
}

static void find_range(pl *P, const qclause *c, const qterm **lo, const qterm **hi);

/* ---- estimates ----------------------------------------------------------------------- */

static double body_estimate(pl *P, const qbody *b, int src, const qvset *bound)
{
    double best = -1;
    for (int i = 0; i < b->n; i++) {
        const qclause *c = &b->c[i];
        double e;
        if (c->kind != QC_PATTERN)
            continue;
        e = cairn_query__pattern_estimate(P->x, c, c->src >= 0 ? c->src : src, bound, 1.0);
        if (best < 0 || e < best)
            best = e;
    }
    return best < 0 ? 1000 : best;
}

static double estimate(pl *P, const qclause *c)
{
    int src = c->src >= 0 ? c->src : P->src;
    switch (c->kind) {
    case QC_PATTERN: {
        const qterm *lo, *hi;
        find_range(P, c, &lo, &hi);
        if (lo || hi) {
            double r = cairn_query__range_estimate(P->x, c, src, &P->bound, lo, hi, P->est);
            if (r >= 0)
                return r;
        }
        return cairn_query__pattern_estimate(P->x, c, src, &P->bound, P->est);
    }
    case QC_FN:
        return P->est * (c->out.kind == QB_COLL || c->out.kind == QB_REL ? 4 : 1);
    case QC_OR: {
        double sum = 0;
        qvset b = P->bound;
        int joined = qv_meets(&c->vars, &P->bound);
        qv_inter(&b, &c->vars);
        for (int i = 0; i < c->nbranches; i++)
            sum += body_estimate(P, &c->branches[i], src, &b);
        return joined ? P->est * (sum < 1 ? sum : 1) + 1 : P->est * sum;
    }
    case QC_CALL: {
        int any = 0;
        for (int i = 0; i < c->nterms; i++)
            any |= c->terms[i].kind == QT_CONST ||
                   (c->terms[i].kind == QT_VAR && qv_has(&P->bound, c->terms[i].id));
        if (P->no_answers[(int)(c - P->body->c)])
            return 0;
        return any ? P->est * 8 : P->est * 1e7;
    }
    default:
        return P->est;
    }
}

/* ---- range predicates ---------------------------------------------------------------------- */

/*
 * A comparison of a pattern's value variable with a constant or a bound
 * variable ([(> ?v 30)], [(<= ?lo ?v)]) can bound an AVET scan instead of
 * filtering a full one. The predicate still runs afterwards: the range is
 * only a superset (inclusive, and by encoding order within one type).
 */
static void find_range(pl *P, const qclause *c, const qterm **lo, const qterm **hi)
{
    int v;
    *lo = *hi = NULL;
    if (c->kind != QC_PATTERN || c->nterms < 3 || c->terms[2].kind != QT_VAR || qv_has(&P->bound, c->terms[2].id) ||
        c->terms[0].kind == QT_CONST || (c->terms[0].kind == QT_VAR && qv_has(&P->bound, c->terms[0].id)))
        return;
    v = c->terms[2].id;
    for (int j = 0; j < P->body->n; j++) {
        const qclause *p = &P->body->c[j];
        int op, vi;
        const qterm *other;
        if (P->done[j] || p->kind != QC_PRED || !p->fn || !(p->fn->flags & QFN_CMP) || p->nterms != 2)
            continue;
        op = cairn_query__cmp_op(p->fn);
        if (op != '<' && op != 'L' && op != '>' && op != 'G')
            continue;
        vi = p->terms[0].kind == QT_VAR && p->terms[0].id == v ? 0 : p->terms[1].kind == QT_VAR && p->terms[1].id == v ? 1 : -1;
        if (vi < 0)
            continue;
        other = &p->terms[1 - vi];
        if (!(other->kind == QT_CONST || (other->kind == QT_VAR && qv_has(&P->bound, other->id))))
            continue;
        /* v op other, or other op v */
        if ((vi == 0) == (op == '<' || op == 'L')) {
            if (!*hi)
                *hi = other;
        } else if (!*lo) {
            *lo = other;
        }
    }
}

/* ---- scheduling ------------------------------------------------------------------------ */

static int vlist(pl *P, const qvset *s, int **out, int *n)
{
    int cnt = qv_count(s), k = 0;
    *out = cairn_arena_alloc(P->x->arena, (size_t)(cnt ? cnt : 1) * sizeof **out);
    if (!*out)
        return qx_oom(P->x);
    for (int v = qv_next(s, 0); v >= 0; v = qv_next(s, v + 1))
        (*out)[k++] = v;
    *n = cnt;
    return 0;
}

static qstep *new_step(pl *P, int ci, int kind)
{
    const qclause *c = &P->body->c[ci];
    qstep *s = &P->steps[P->n++];
    memset(s, 0, sizeof *s);
    s->kind = (uint8_t)kind;
    s->c = c;
    s->src = c->src >= 0 ? c->src : P->src;
    s->before = P->bound;
    return s;
}

static int plan_sub(pl *P, qplan **out, const qbody *b, int src, const qvset *in, const qvset *outv)
{
    return cairn_query__plan(out, P->x, b, src, in, P->est < 1 ? 1 : P->est, outv, P->nvars, P->names);
}

static int schedule(pl *P, int ci, double est)
{
    const qclause *c = &P->body->c[ci];
    qstep *s;
    int rc;
    P->done[ci] = 1;
    switch (c->kind) {
    case QC_PATTERN:
        s = new_step(P, ci, QS_PATTERN);
        find_range(P, c, &s->lo, &s->hi);
        break;
    case QC_PRED:
        s = new_step(P, ci, QS_FILTER);
        est = P->est * 0.5;
        break;
    case QC_FN:
        s = new_step(P, ci, QS_BIND);
        break;
    case QC_NOT: {
        qvset j = c->vars;
        qplan *sub;
        s = new_step(P, ci, QS_NOT);
        qv_inter(&j, &P->bound);
        if ((rc = vlist(P, &j, &s->join, &s->njoin)) < 0)
            return rc;
        if ((rc = plan_sub(P, &sub, c->branches, s->src, &j, &j)) < 0)
            return rc;
        s->sub = sub;
        s->nsub = 1;
        est = P->est * 0.8;
        break;
    }
    case QC_OR: {
        qvset jin = c->vars, jout = c->vars, all;
        qplan *subs;
        s = new_step(P, ci, QS_OR);
        qv_inter(&jin, &P->bound);
        qv_minus(&jout, &P->bound);
        /* outputs: bound by every branch; bound by some but not all is an error */
        {
            qvset some, every;
            qv_clear(&some);
            for (int i = 0; i < c->nbranches; i++) {
                qvset br;
                qv_clear(&br);
                body_provides(&c->branches[i], &br);
                qv_inter(&br, &jout);
                qv_union(&some, &br);
                if (i == 0)
                    every = br;
                else
                    qv_inter(&every, &br);
            }
            if (!qv_equal(&some, &every)) {
                qv_minus(&some, &every);
                return insufficient(P, c, &some);
            }
            jout = every;
        }
        all = jin;
        qv_union(&all, &jout);
        if ((rc = vlist(P, &jin, &s->join, &s->njoin)) < 0 || (rc = vlist(P, &jout, &s->outs, &s->nouts)) < 0)
            return rc;
        subs = cairn_arena_calloc(P->x->arena, (size_t)c->nbranches, sizeof *subs);
        if (!subs)
            return qx_oom(P->x);
        for (int i = 0; i < c->nbranches; i++) {
            qplan *sub;
            if ((rc = plan_sub(P, &sub, &c->branches[i], s->src, &jin, &all)) < 0)
                return rc;
            subs[i] = *sub;
        }
        s->sub = subs;
        s->nsub = c->nbranches;
        qv_union(&P->bound, &jout);
        P->est = est;
        s->est = est;
        return 0;
    }
    case QC_CALL:
        s = new_step(P, ci, QS_CALL);
        s->no_answers = P->no_answers[ci];
        for (int i = 0; i < c->nterms && i < 64; i++)
            if (c->terms[i].kind == QT_CONST || (c->terms[i].kind == QT_VAR && qv_has(&P->bound, c->terms[i].id)))
                s->adorn |= (uint64_t)1 << i;
        if (c->nterms > 64)
            return cairn_error_set(P->x->err, CAIRN_ELIMIT, ":query/where", "a rule with more than 64 arguments");
        break;
    default:
        return cairn_error_set(P->x->err, CAIRN_EINVALID, ":query/where", "cannot plan clause");
    }
    provides(c, &P->bound);
    if (est < 0)
        est = 0;
    P->est = est;
    s->est = est;
    return 0;
}

/* Calls whose required variables are not bound by the clauses before them. */
static void textual_required(pl *P)
{
    qvset tb = P->in;
    for (int i = 0; i < P->body->n; i++) {
        const qclause *c = &P->body->c[i];
        if (c->kind == QC_CALL) {
            qvset req;
            call_required(P, c, &req);
            P->no_answers[i] = !qv_subset(&req, &tb);
        }
        qv_union(&tb, &P->prov[i]);
    }
}

/* Variables a step reads from its input. */
static void step_uses(const qstep *s, qvset *u)
{
    const qclause *c = s->c;
    qv_clear(u);
    switch (s->kind) {
    case QS_NOT:
    case QS_OR:
        for (int i = 0; i < s->njoin; i++)
            qv_add(u, s->join[i]);
        break;
    default:
        *u = c->vars;
        if (c->fnvar >= 0)
            qv_add(u, c->fnvar);
        qv_inter(u, &s->before);
        break;
    }
}

static void step_provides(const qstep *s, qvset *p)
{
    qv_clear(p);
    if (s->kind == QS_OR) {
        for (int i = 0; i < s->nouts; i++)
            qv_add(p, s->outs[i]);
        return;
    }
    provides(s->c, p);
}

int cairn_query__plan(qplan **out, qx *x, const qbody *body, int src, const qvset *in, double est_in,
                      const qvset *outvars, int nvars, const cairn_ident **names)
{
    pl P;
    qplan *plan;
    int rc = 0, remaining = body->n;
    memset(&P, 0, sizeof P);
    P.x = x;
    P.body = body;
    P.src = src;
    P.bound = *in;
    P.in = *in;
    P.out = *outvars;
    P.est = est_in;
    P.nvars = nvars;
    P.names = names;
    P.done = cairn_arena_calloc(x->arena, (size_t)body->n + 1, 1);
    P.no_answers = cairn_arena_calloc(x->arena, (size_t)body->n + 1, 1);
    P.prov = cairn_arena_calloc(x->arena, (size_t)body->n + 1, sizeof *P.prov);
    P.steps = cairn_arena_calloc(x->arena, (size_t)body->n + 1, sizeof *P.steps);
    plan = cairn_arena_calloc(x->arena, 1, sizeof *plan);
    if (!P.done || !P.no_answers || !P.prov || !P.steps || !plan)
        return qx_oom(x);
    for (int i = 0; i < body->n; i++)
        provides(&body->c[i], &P.prov[i]);
    textual_required(&P);
    while (remaining > 0) {
        int changed = 1, best = -1, best_conn = 0;
        double best_est = 0;
        while (changed) {
            changed = 0;
            for (int i = 0; i < body->n; i++) {
                int k = body->c[i].kind;
                if (P.done[i] || (k != QC_PRED && k != QC_NOT))
                    continue;
                if (ready(&P, i, &rc)) {
                    if ((rc = schedule(&P, i, P.est)) < 0)
                        return rc;
                    remaining--;
                    changed = 1;
                } else if (rc < 0) {
                    return rc;
                }
            }
        }
        if (remaining == 0)
            break;
        for (int i = 0; i < body->n; i++) {
            const qclause *c = &body->c[i];
            double e;
            int conn;
            if (P.done[i] || c->kind == QC_PRED || c->kind == QC_NOT)
                continue;
            if (!ready(&P, i, &rc)) {
                if (rc < 0)
                    return rc;
                continue;
            }
            e = estimate(&P, c);
            conn = qv_empty(&P.bound) || qv_meets(&c->vars, &P.bound) || qv_empty(&c->vars);
            if (best < 0 || (conn && !best_conn) || (conn == best_conn && e < best_est)) {
                best = i;
                best_est = e;
                best_conn = conn;
            }
        }
        if (best < 0) {
            /* nothing can run: report the first clause left */
            for (int i = 0; i < body->n; i++) {
                const qclause *c = &body->c[i];
                qvset need;
                if (P.done[i])
                    continue;
                if (c->kind == QC_PRED || c->kind == QC_FN)
                    fn_inputs(c, &need);
                else if (c->kind == QC_NOT)
                    not_outer(&P, i, &need);
                else if (c->kind == QC_CALL)
                    call_required(&P, c, &need);
                else {
                    qv_clear(&need);
                    for (int j = 0; j < c->nreq; j++)
                        qv_add(&need, c->join[j]);
                }
                qv_minus(&need, &P.bound);
                return insufficient(&P, c, &need);
            }
            break;
        }
        if ((rc = schedule(&P, best, best_est)) < 0)
            return rc;
        remaining--;
    }
    /* the result must have every output variable */
    if (!qv_subset(outvars, &P.bound)) {
        qvset miss = *outvars;
        cairn_buf b = CAIRN_BUF_INIT;
        qv_minus(&miss, &P.bound);
        cairn_buf_puts(&b, "Insufficient bindings: ");
        names_of(&b, &P, &miss);
        cairn_buf_puts(&b, " not bound by any clause");
        cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "Insufficient bindings");
        cairn_buf_dispose(&b);
        return CAIRN_EINVALID;
    }
    /* backward pass: what each step keeps */
    {
        qvset need = *outvars;
        for (int i = P.n - 1; i >= 0; i--) {
            qstep *s = &P.steps[i];
            qvset avail = s->before, prov, uses;
            step_provides(s, &prov);
            qv_union(&avail, &prov);
            s->keep = need;
            qv_inter(&s->keep, &avail);
            step_uses(s, &uses);
            qv_inter(&need, &s->before);
            qv_union(&need, &uses);
        }
    }
    plan->steps = P.steps;
    plan->n = P.n;
    plan->src = src;
    plan->in = *in;
    plan->out = *outvars;
    plan->nvars = nvars;
    plan->names = names;
    *out = plan;
    return 0;
}

/* ---- explain ---------------------------------------------------------------------------- */

static void indent(cairn_buf *b, int n)
{
    for (int i = 0; i < n; i++)
        cairn_buf_puts(b, "  ");
}

static void plan_vars(cairn_buf *b, const qplan *p, const qvset *s)
{
    pl P;
    memset(&P, 0, sizeof P);
    P.names = p->names;
    P.nvars = p->nvars;
    names_of(b, &P, s);
}

void cairn_query__plan_print(cairn_buf *b, qx *x, const qplan *p, int ind)
{
    for (int i = 0; i < p->n; i++) {
        const qstep *s = &p->steps[i];
        const char *what = "?";
        indent(b, ind);
        switch (s->kind) {
        case QS_PATTERN: what = "pattern"; break;
        case QS_FILTER: what = "filter"; break;
        case QS_BIND: what = "bind"; break;
        case QS_NOT: what = "not"; break;
        case QS_OR: what = "or"; break;
        case QS_CALL: what = "rule"; break;
        default: what = "empty"; break;
        }
        cairn_buf_printf(b, "%d. %s ", i + 1, what);
        cairn_query__show(b, s->c->form);
        if (s->kind == QS_PATTERN)
            cairn_buf_printf(b, "  [%s]", cairn_query__pattern_access(x, s->c, s->src, &s->before, s->lo, s->hi));
        if (s->kind == QS_CALL) {
            cairn_buf_puts(b, "  [bound args: ");
            for (int j = 0; j < s->c->nterms && j < 64; j++)
                cairn_buf_putc(b, (s->adorn >> j) & 1 ? 'b' : 'f');
            cairn_buf_puts(b, s->no_answers ? ", required var unbound: no answers]" : "]");
        }
        cairn_buf_printf(b, "  est %.0f rows, keeps ", s->est < 1e15 ? ceil(s->est) : 1e15);
        plan_vars(b, p, &s->keep);
        cairn_buf_putc(b, '\n');
        for (int j = 0; j < s->nsub; j++) {
            indent(b, ind + 1);
            if (s->kind == QS_OR)
                cairn_buf_printf(b, "branch %d, joined on ", j + 1);
            else
                cairn_buf_puts(b, "anti-join on ");
            {
                qvset jv;
                qv_clear(&jv);
                for (int k = 0; k < s->njoin; k++)
                    qv_add(&jv, s->join[k]);
                plan_vars(b, p, &jv);
            }
            cairn_buf_putc(b, '\n');
            cairn_query__plan_print(b, x, &s->sub[j], ind + 2);
        }
    }
}
