/*
 * Rules: demand-driven, semi-naive bottom-up evaluation.
 *
 * A rule call with some arguments bound asks for a subset of the rule's
 * relation. The evaluator keeps one table per (rule, bound positions,
 * source): an *instance*, holding its demand (the distinct bound-argument
 * tuples asked for so far) and its answers (full tuples, in arrival order).
 * Each definition of the rule is planned once per instance, with the bound
 * head variables as input, and runs as a pipeline fed with demand tuples.
 * A call inside a rule body is a stateful join step: it adds the bound
 * arguments of the rows reaching it to the callee's demand, and joins those
 * rows with the callee's answers. This is magic-set evaluation without the
 * rewrite: demand flows down calls, answers flow back, and only tuples
 * reachable from the original call are ever derived ("cost grows with the
 * result, not the database").
 *
 * Semi-naive: evaluation goes in rounds. In a round, every call step joins
 * only (a) the rows that reached it this round with the callee's answers
 * visible at the round's start, and (b) the rows that reached it before this
 * round with the answers the callee gained in the previous round; new
 * demand enters the pipelines from their first step. Each (row, answer)
 * pair is therefore joined exactly once, and the fixpoint is reached when a
 * round adds neither answers nor demand.
 *
 * Calls outside rule bodies (the query's :where, not/or sub-plans) start a
 * fresh table, run it to its fixpoint, and join the caller's rows with the
 * answers. `or` clauses that call rules were turned into anonymous rules by
 * the parser, so rule bodies contain only stateless steps and calls; a
 * `not` that calls rules runs as a nested, separate evaluation (stratified
 * negation).
 *
 * Rejected: top-down evaluation with cycle checks (Datahike's legacy engine:
 * exponential on graphs with many paths); naive iteration (re-derives every
 * tuple each round: cost grows with depth x result).
 */
#include "query/query.h"

#include <string.h>

#include "base/alloc.h"

typedef struct qinst qinst;

typedef struct callst {
    int inited;              /* set up (on first rows) */
    qinst *callee;           /* the instance called */
    qrel left;               /* every row that reached the step */
    qindex left_ix;          /* on left, by the bound argument variables */
    int nkey;                /* bound variable arguments */
    int kpos[64];            /* their argument positions */
    size_t left_mark;        /* left rows before this round */
    size_t seen;             /* callee answers already joined with all of left */
} callst;

typedef struct qbodyrun {
    qinst *inst;             /* owner */
    const qrule_def *def;    /* the definition */
    qplan *plan;             /* planned for the instance's bound positions */
    callst *calls;           /* per step (CALL steps only) */
} qbodyrun;

struct qinst {
    struct qfix *fix;        /* the evaluation it belongs to */
    int rule;                /* rule */
    int nargs;               /* arity */
    uint64_t adorn;          /* bound positions */
    int src;                 /* default source of its bodies */
    int nb;                  /* bound positions */
    int bpos[64];            /* which */
    qrowset demand;          /* bound-argument tuples asked for */
    size_t demand_done;      /* demand rows fed to the bodies */
    qrel answers;            /* answer tuples (nargs columns) */
    qindex ans_all;          /* dedup */
    qindex ans_bound;        /* by bound positions */
    size_t visible;          /* answers visible this round */
    qbodyrun *bodies;        /* definitions with this arity */
    int nbodies;             /* their count */
};

typedef struct qfix {
    qinst **insts;           /* instances, in creation order */
    int n;                   /* count */
    int cap;                 /* room */
} qfix;

/* ---- instances ------------------------------------------------------------------ */

static void inst_free(qinst *in)
{
    if (!in)
        return;
    for (int b = 0; b < in->nbodies; b++) {
        qbodyrun *br = &in->bodies[b];
        if (!br->calls)
            continue;
        for (int k = 0; k < br->plan->n; k++) {
            qrel_dispose(&br->calls[k].left);
            qindex_dispose(&br->calls[k].left_ix);
        }
        cairn_free(br->calls);
    }
    cairn_free(in->bodies);
    qrowset_dispose(&in->demand);
    qrel_dispose(&in->answers);
    qindex_dispose(&in->ans_all);
    qindex_dispose(&in->ans_bound);
    cairn_free(in);
}

static void fix_free(qfix *f)
{
    for (int i = 0; i < f->n; i++)
        inst_free(f->insts[i]);
    cairn_free(f->insts);
    memset(f, 0, sizeof *f);
}

/* Plans definition d for bound positions adorn. */
static int plan_def(qx *x, const qrule_def *d, uint64_t adorn, int src, qplan **out)
{
    qvset in, outv;
    qv_clear(&in);
    qv_clear(&outv);
    for (int i = 0; i < d->nargs; i++) {
        qv_add(&outv, d->head[i]);
        if ((adorn >> i) & 1)
            qv_add(&in, d->head[i]);
    }
    return cairn_query__plan(out, x, &d->body, src, &in, 1.0, &outv, d->nvars, d->names);
}

static int fix_inst(qx *x, qfix *f, int rule, int nargs, uint64_t adorn, int src, qinst **out)
{
    const qrule *r = &x->q->rules[rule];
    qinst *in;
    int cols[64], rc;
    for (int i = 0; i < f->n; i++) {
        in = f->insts[i];
        if (in->rule == rule && in->nargs == nargs && in->adorn == adorn && in->src == src) {
            *out = in;
            return 0;
        }
    }
    if (f->n == f->cap) {
        int nc = f->cap ? f->cap * 2 : 8;
        qinst **ni = cairn_realloc(f->insts, (size_t)nc * sizeof *ni);
        if (!ni)
            return qx_oom(x);
        f->insts = ni;
        f->cap = nc;
    }
    in = cairn_malloc(sizeof *in);
    if (!in)
        return qx_oom(x);
    memset(in, 0, sizeof *in);
    f->insts[f->n++] = in;
    in->fix = f;
    in->rule = rule;
    in->nargs = nargs;
    in->adorn = adorn;
    in->src = src;
    for (int i = 0; i < nargs; i++)
        if ((adorn >> i) & 1)
            in->bpos[in->nb++] = i;
    for (int i = 0; i < nargs; i++)
        cols[i] = i;
    if ((rc = qrowset_init(&in->demand, in->nb, NULL)) < 0 || (rc = qrel_init(&in->answers, nargs, NULL)) < 0 ||
        (rc = qindex_init(&in->ans_all, cols, nargs)) < 0 || (rc = qindex_init(&in->ans_bound, in->bpos, in->nb)) < 0)
        return qx_oom(x);
    in->bodies = cairn_malloc((size_t)(r->ndefs ? r->ndefs : 1) * sizeof *in->bodies);
    if (!in->bodies)
        return qx_oom(x);
    for (int d = 0; d < r->ndefs; d++) {
        qbodyrun *br;
        if (r->defs[d].nargs != nargs)
            continue;
        br = &in->bodies[in->nbodies++];
        memset(br, 0, sizeof *br);
        br->inst = in;
        br->def = &r->defs[d];
        if ((rc = plan_def(x, br->def, adorn, src, &br->plan)) < 0)
            return rc;
        br->calls = cairn_malloc((size_t)(br->plan->n ? br->plan->n : 1) * sizeof *br->calls);
        if (!br->calls)
            return qx_oom(x);
        memset(br->calls, 0, (size_t)(br->plan->n ? br->plan->n : 1) * sizeof *br->calls);
    }
    if (in->nbodies == 0) {
        cairn_buf b = CAIRN_BUF_INIT;
        cairn_buf_printf(&b, "No definition of rule ");
        cairn_query__show(&b, r->name);
        cairn_buf_printf(&b, " takes %d arguments", nargs);
        cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "rule arity");
        cairn_buf_dispose(&b);
        return CAIRN_EINVALID;
    }
    *out = in;
    return 0;
}

/* Adds the rows of res (a body result over the head variables) as answers. */
static int inst_add(qx *x, qinst *in, const qrule_def *d, const qrel *res)
{
    int cols[64];
    for (int i = 0; i < d->nargs; i++) {
        cols[i] = qrel_col(res, d->head[i]);
        if (cols[i] < 0)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where",
                                   "Insufficient bindings: a rule head variable is not bound by its body");
    }
    for (size_t r = 0; r < res->nrows; r++) {
        qcell t[64];
        const qcell *row = qrel_row(res, r);
        for (int i = 0; i < d->nargs; i++)
            t[i] = row[cols[i]];
        if (in->nargs && qindex_find(&in->ans_all, &in->answers, t, qhash_cells(t, NULL, in->nargs)))
            continue;
        if (!in->nargs && in->answers.nrows)
            continue;
        if (qrel_push(&in->answers, t) < 0 || qindex_add(&in->ans_all, &in->answers) < 0 ||
            qindex_add(&in->ans_bound, &in->answers) < 0)
            return qx_oom(x);
    }
    return 0;
}

/* Runs rows through body br from step `from`; the results become answers. */
static int push(qx *x, qbodyrun *br, int from, qrel *rows)
{
    qrel res = QREL_INIT;
    int rc = cairn_query__run_from(x, br->plan, from, rows, &res, br);
    if (rc == 0)
        rc = inst_add(x, br->inst, br->def, &res);
    qrel_dispose(&res);
    return rc;
}

/* ---- joining a call's rows with answers --------------------------------------------- */

/* The output layout of a call step over input `in`. */
typedef struct cjoin {
    int nkeep;              /* input columns kept */
    int keep[QMAX_VARS];    /* which */
    int nnew;               /* new variables */
    int newpos[64];         /* the argument position each comes from */
    int vars[QMAX_VARS];    /* output variables */
    int nvars;              /* their count */
    int nb;                 /* bound positions (= the instance's) */
    int bsrc[64];           /* per bound position: input column, or -1 for a constant */
    qcell bconst[64];       /* ... the constant */
    int dup[64];            /* per argument: earlier free position with the same variable, or -1 */
    int complete;           /* every free argument variable is output */
} cjoin;

static int cjoin_init(qx *x, cjoin *J, const qstep *s, const qrel *in, const qinst *callee)
{
    const qclause *c = s->c;
    memset(J, 0, sizeof *J);
    J->complete = 1;
    for (int i = 0; i < in->ncols; i++)
        if (qv_has(&s->keep, in->vars[i])) {
            J->keep[J->nkeep++] = i;
            J->vars[J->nvars++] = in->vars[i];
        }
    for (int i = 0; i < c->nterms; i++) {
        const qterm *t = &c->terms[i];
        J->dup[i] = -1;
        if ((s->adorn >> i) & 1) {
            J->bsrc[J->nb] = t->kind == QT_VAR ? qrel_col(in, t->id) : -1;
            if (t->kind == QT_CONST && qdict_cell(&x->dict, &J->bconst[J->nb], t->val) < 0)
                return qx_oom(x);
            J->nb++;
            continue;
        }
        if (t->kind != QT_VAR) {
            J->complete = 0;  /* a blank: answers may differ only there */
            continue;
        }
        for (int j = 0; j < i; j++)
            if (!((s->adorn >> j) & 1) && c->terms[j].kind == QT_VAR && c->terms[j].id == t->id)
                J->dup[i] = J->dup[i] < 0 ? j : J->dup[i];
        if (J->dup[i] < 0 && qv_has(&s->keep, t->id) && qrel_col(in, t->id) < 0) {
            J->newpos[J->nnew++] = i;
            J->vars[J->nvars++] = t->id;
        } else if (J->dup[i] < 0) {
            J->complete = 0;
        }
    }
    (void)callee;
    return 0;
}

static void cjoin_key(const cjoin *J, const qcell *row, qcell *key)
{
    for (int i = 0; i < J->nb; i++)
        key[i] = J->bsrc[i] >= 0 ? row[J->bsrc[i]] : J->bconst[i];
}

static int cjoin_emit(qx *x, const cjoin *J, qrel *out, const qcell *row, const qcell *ans, int nargs)
{
    qcell *dst;
    for (int i = 0; i < nargs; i++)
        if (J->dup[i] >= 0 && ans[i] != ans[J->dup[i]])
            return 0;
    dst = qrel_add(out);
    if (!dst)
        return qx_oom(x);
    for (int i = 0; i < J->nkeep; i++)
        *dst++ = row[J->keep[i]];
    for (int i = 0; i < J->nnew; i++)
        *dst++ = ans[J->newpos[i]];
    return 0;
}

/* out += rows of `in` joined with callee answers [0, limit). */
static int join_rows(qx *x, const cjoin *J, const qrel *in, size_t from, size_t to, const qinst *callee,
                     size_t limit, qrel *out)
{
    int rc = 0;
    for (size_t r = from; r < to && rc == 0; r++) {
        const qcell *row = qrel_row(in, r);
        qcell key[64];
        cjoin_key(J, row, key);
        if (callee->nb == 0) {
            for (size_t a = 0; a < limit && rc == 0; a++)
                rc = cjoin_emit(x, J, out, row, qrel_row(&callee->answers, a), callee->nargs);
            continue;
        }
        for (uint32_t at = qindex_find(&callee->ans_bound, &callee->answers, key, qhash_cells(key, NULL, J->nb));
             at && rc == 0; at = qindex_next(&callee->ans_bound, &callee->answers, at, key))
            if (at - 1 < limit)
                rc = cjoin_emit(x, J, out, row, qrel_row(&callee->answers, at - 1), callee->nargs);
        if (rc == 0)
            rc = qx_poll(x);
    }
    return rc;
}

/* Adds the bound-argument tuples of rows [from, to) of in to callee's demand. */
static int add_demand(qx *x, const cjoin *J, const qrel *in, size_t from, size_t to, qinst *callee)
{
    for (size_t r = from; r < to; r++) {
        qcell key[64];
        cjoin_key(J, qrel_row(in, r), key);
        if (qrowset_add(&callee->demand, key) < 0)
            return qx_oom(x);
    }
    return 0;
}

/* ---- the fixpoint --------------------------------------------------------------------------- */

static int delta_push(qx *x, qbodyrun *br, int k)
{
    callst *cs = &br->calls[k];
    const qstep *s = &br->plan->steps[k];
    qinst *callee = cs->callee;
    cjoin J;
    qrel out = QREL_INIT;
    qcell key[64];
    int rc;
    if (cs->seen >= callee->visible)
        return 0;
    if ((rc = cjoin_init(x, &J, s, &cs->left, callee)) < 0)
        return rc;
    if ((rc = qrel_init(&out, J.nvars, J.vars)) < 0)
        return qx_oom(x);
    for (size_t a = cs->seen; a < callee->visible && rc == 0; a++) {
        const qcell *ans = qrel_row(&callee->answers, a);
        int ok = 1;
        /* the answer's bound cells: constants must match, variables find rows */
        for (int i = 0, j = 0; i < J.nb; i++) {
            qcell v = ans[callee->bpos[i]];
            if (J.bsrc[i] < 0) {
                ok &= v == J.bconst[i];
            } else {
                key[j++] = v;
            }
        }
        if (!ok)
            continue;
        if (cs->nkey == 0) {
            for (size_t r = 0; r < cs->left_mark && rc == 0; r++)
                rc = cjoin_emit(x, &J, &out, qrel_row(&cs->left, r), ans, callee->nargs);
            continue;
        }
        for (uint32_t at = qindex_find(&cs->left_ix, &cs->left, key, qhash_cells(key, NULL, cs->nkey)); at && rc == 0;
             at = qindex_next(&cs->left_ix, &cs->left, at, key))
            if (at - 1 < cs->left_mark)
                rc = cjoin_emit(x, &J, &out, qrel_row(&cs->left, at - 1), ans, callee->nargs);
        if (rc == 0)
            rc = qx_poll(x);
    }
    cs->seen = callee->visible;
    if (rc == 0 && out.nrows) {
        rc = push(x, br, k + 1, &out);
        return rc < 0 ? rc : 1;
    }
    qrel_dispose(&out);
    return rc;
}

static int fix_run(qx *x, qfix *f)
{
    for (;;) {
        int n = f->n, work = 0, rc;
        for (int i = 0; i < n; i++) {
            qinst *in = f->insts[i];
            in->visible = in->answers.nrows;
            for (int b = 0; b < in->nbodies; b++)
                for (int k = 0; k < in->bodies[b].plan->n; k++)
                    in->bodies[b].calls[k].left_mark = in->bodies[b].calls[k].left.nrows;
        }
        for (int i = 0; i < n; i++) {
            qinst *in = f->insts[i];
            for (int b = 0; b < in->nbodies; b++) {
                qbodyrun *br = &in->bodies[b];
                for (int k = 0; k < br->plan->n; k++) {
                    if (!br->calls[k].inited)
                        continue;
                    if ((rc = delta_push(x, br, k)) < 0)
                        return rc;
                    work |= rc;
                }
            }
            if (in->demand_done < in->demand.rel.nrows) {
                size_t from = in->demand_done, to = in->demand.rel.nrows;
                in->demand_done = to;
                work = 1;
                for (int b = 0; b < in->nbodies; b++) {
                    qbodyrun *br = &in->bodies[b];
                    qrel rows = QREL_INIT;
                    int vars[64];
                    for (int j = 0; j < in->nb; j++)
                        vars[j] = br->def->head[in->bpos[j]];
                    if ((rc = qrel_init(&rows, in->nb, vars)) < 0 || (rc = qrel_reserve(&rows, to - from)) < 0) {
                        qrel_dispose(&rows);
                        return qx_oom(x);
                    }
                    if (in->nb == 0) {
                        rows.nrows = to - from;
                    } else {
                        memcpy(rows.rows, qrel_row(&in->demand.rel, from), (to - from) * (size_t)in->nb * sizeof(qcell));
                        rows.nrows = to - from;
                    }
                    if ((rc = push(x, br, 0, &rows)) < 0)
                        return rc;
                }
            }
        }
        if (f->n > n)
            work = 1;
        if (!work)
            return 0;
        if (x->watched && (rc = qx_tick(x)) < 0)
            return rc;
    }
}

/* ---- call steps ------------------------------------------------------------------------------ */

static int empty_out(qx *x, const qstep *s, const qrel *in, qrel *out)
{
    cjoin J;
    int rc;
    if ((rc = cjoin_init(x, &J, s, in, NULL)) < 0)
        return rc;
    return qrel_init(out, J.nvars, J.vars) < 0 ? qx_oom(x) : 0;
}

int cairn_query__call(qx *x, const qstep *s, int src, qrel *in, qrel *out)
{
    qfix f;
    qinst *callee;
    cjoin J;
    int rc;
    memset(&f, 0, sizeof f);
    if (s->no_answers)
        return empty_out(x, s, in, out);
    /* a rule that calls itself through not (non-stratified negation) would
     * nest fresh evaluations without end */
    if (x->call_depth >= 64)
        return cairn_error_set(x->err, CAIRN_ELIMIT, ":query/where",
                               "rules nest through not/or more than 64 deep (negation that is not stratified?)");
    x->call_depth++;
    if ((rc = fix_inst(x, &f, s->c->rule, s->c->nterms, s->adorn, src, &callee)) < 0)
        goto done;
    if ((rc = cjoin_init(x, &J, s, in, callee)) < 0)
        goto done;
    if ((rc = add_demand(x, &J, in, 0, in->nrows, callee)) < 0)
        goto done;
    if ((rc = fix_run(x, &f)) < 0)
        goto done;
    if ((rc = qrel_init(out, J.nvars, J.vars)) < 0) {
        rc = qx_oom(x);
        goto done;
    }
    /* answers are distinct; so is the join when nothing is dropped */
    out->distinct = in->distinct && J.nkeep == in->ncols && J.complete;
    rc = join_rows(x, &J, in, 0, in->nrows, callee, callee->answers.nrows, out);
done:
    x->call_depth--;
    fix_free(&f);
    return rc;
}

int cairn_query__call_in_fix(qx *x, qbodyrun *br, int k, qrel *in, qrel *out)
{
    callst *cs = &br->calls[k];
    const qstep *s = &br->plan->steps[k];
    size_t from;
    cjoin J;
    int rc;
    if (s->no_answers)
        return empty_out(x, s, in, out);
    if (!cs->inited) {
        int cols[64];
        if ((rc = fix_inst(x, br->inst->fix, s->c->rule, s->c->nterms, s->adorn, s->src, &cs->callee)) < 0)
            return rc;
        if ((rc = qrel_init(&cs->left, in->ncols, in->vars)) < 0)
            return qx_oom(x);
        if ((rc = cjoin_init(x, &J, s, in, cs->callee)) < 0)
            return rc;
        cs->nkey = 0;
        for (int i = 0; i < J.nb; i++)
            if (J.bsrc[i] >= 0)
                cols[cs->nkey++] = J.bsrc[i];
        if ((rc = qindex_init(&cs->left_ix, cols, cs->nkey)) < 0)
            return qx_oom(x);
        cs->seen = cs->callee->visible;
        cs->inited = 1;
    }
    if ((rc = cjoin_init(x, &J, s, in, cs->callee)) < 0)
        return rc;
    if ((rc = add_demand(x, &J, in, 0, in->nrows, cs->callee)) < 0)
        return rc;
    from = cs->left.nrows;
    if ((rc = qrel_reserve(&cs->left, in->nrows)) < 0)
        return qx_oom(x);
    for (size_t r = 0; r < in->nrows; r++)
        if (qrel_push(&cs->left, qrel_row(in, r)) < 0)
            return qx_oom(x);
    if (cs->nkey && qindex_add(&cs->left_ix, &cs->left) < 0)
        return qx_oom(x);
    if ((rc = qrel_init(out, J.nvars, J.vars)) < 0)
        return qx_oom(x);
    return join_rows(x, &J, &cs->left, from, cs->left.nrows, cs->callee, cs->callee->visible, out);
}

/* ---- explain ------------------------------------------------------------------------------------ */

typedef struct seen_inst {
    int rule;          /* rule */
    uint64_t adorn;    /* bound positions */
    int src;           /* source */
    int nargs;         /* arity */
} seen_inst;

static int explain_plan_calls(qx *x, const qplan *p, cairn_buf *b, seen_inst *seen, int *nseen, int depth);

static int explain_call(qx *x, const qstep *s, cairn_buf *b, seen_inst *seen, int *nseen, int depth)
{
    const qrule *r = &x->q->rules[s->c->rule];
    int rc;
    for (int i = 0; i < *nseen; i++)
        if (seen[i].rule == s->c->rule && seen[i].adorn == s->adorn && seen[i].src == s->src &&
            seen[i].nargs == s->c->nterms)
            return 0;
    if (*nseen == 64 || depth > 16)
        return 0;
    seen[*nseen].rule = s->c->rule;
    seen[*nseen].adorn = s->adorn;
    seen[*nseen].src = s->src;
    seen[*nseen].nargs = s->c->nterms;
    (*nseen)++;
    for (int d = 0; d < r->ndefs; d++) {
        qplan *p;
        if (r->defs[d].nargs != s->c->nterms)
            continue;
        if ((rc = plan_def(x, &r->defs[d], s->adorn, s->src, &p)) < 0)
            return rc;
        cairn_buf_puts(b, "rule ");
        if (r->anon)
            cairn_buf_puts(b, "(or branch)");
        else
            cairn_query__show(b, r->name);
        cairn_buf_puts(b, " [");
        for (int j = 0; j < s->c->nterms && j < 64; j++)
            cairn_buf_putc(b, (s->adorn >> j) & 1 ? 'b' : 'f');
        cairn_buf_printf(b, "] definition %d:\n", d + 1);
        cairn_query__plan_print(b, x, p, 1);
        if ((rc = explain_plan_calls(x, p, b, seen, nseen, depth + 1)) < 0)
            return rc;
    }
    return 0;
}

static int explain_plan_calls(qx *x, const qplan *p, cairn_buf *b, seen_inst *seen, int *nseen, int depth)
{
    int rc;
    for (int i = 0; i < p->n; i++) {
        const qstep *s = &p->steps[i];
        if (s->kind == QS_CALL && !s->no_answers && (rc = explain_call(x, s, b, seen, nseen, depth)) < 0)
            return rc;
        for (int j = 0; j < s->nsub; j++)
            if ((rc = explain_plan_calls(x, &s->sub[j], b, seen, nseen, depth)) < 0)
                return rc;
    }
    return 0;
}

int cairn_query__explain_rules(qx *x, const qplan *p, cairn_buf *b)
{
    seen_inst seen[64];
    int nseen = 0;
    return explain_plan_calls(x, p, b, seen, &nseen, 0);
}
