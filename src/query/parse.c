/*
 * The query parser: a query form (vector, map, quoted list or EDN string) to
 * the AST in query.h, with Datahike's (datalog-parser's) error keywords:
 * :parser/find, :parser/where, :parser/in, :parser/with, :parser/rule,
 * :parser/query for cross-section checks (unknown variables or sources).
 *
 * Parsing has two phases because rule calls look like any other list clause
 * and the rules arrive as an input: cairn_query__parse reads the query and
 * leaves list clauses as unresolved calls; cairn_query__parse_rules adds the
 * rule sets of the % inputs; cairn_query__resolve then resolves calls,
 * checks the whole query, and rewrites every `or` whose branches call rules
 * into an anonymous rule (an or is a rule with one definition per branch),
 * so the fixpoint in rules.c only ever sees calls.
 *
 * Variables are numbered per scope (the query, each rule definition); the
 * clauses of not/or share their scope's numbering, and the planner keeps
 * branch-local variables apart by what each sub-plan gets as input.
 *
 * Everything is allocated from the query's arena; constants borrow from the
 * query form (or rule value), which outlive the query.
 */
#include "query/query.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"

typedef struct pscope {
    const cairn_ident ***names;  /* the scope's name array (grows) */
    int *n;                      /* variables */
    int *cap;                    /* room */
} pscope;

typedef struct pctx {
    qquery *q;              /* the query */
    cairn_arena *a;         /* its arena */
    cairn_error *err;       /* errors */
    pscope sc;              /* current variable scope */
    int in_rule;            /* parsing a rule body */
    int in_inputs;          /* parsing :in (plain symbols bind) */
    int depth;              /* not/or/and nesting */
} pctx;

/* Nesting of not, or and and. Deeper queries are refused: the planner and
 * executor recurse once per level with frames of a few KiB. */
#define QMAX_NESTING 64

/* ---- small helpers ---------------------------------------------------------- */

void cairn_query__show(cairn_buf *b, cairn_val form)
{
    char *s;
    size_t n;
    if (cairn_edn_print(&s, &n, form) < 0) {
        cairn_buf_puts(b, "?");
        return;
    }
    if (n > 160) {
        cairn_buf_put(b, s, 157);
        cairn_buf_puts(b, "...");
    } else {
        cairn_buf_put(b, s, n);
    }
    cairn_free(s);
}

/* Fails with keyword kw and "msg: <form>". */
static int fail(pctx *p, const char *kw, const char *msg, cairn_val form)
{
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_buf_puts(&b, msg);
    if (cairn_type_of(form) != CAIRN_NIL) {
        cairn_buf_puts(&b, ": ");
        cairn_query__show(&b, form);
    }
    cairn_error_set(p->err, CAIRN_EINVALID, kw, "%s", b.ptr ? b.ptr : msg);
    cairn_buf_dispose(&b);
    return CAIRN_EINVALID;
}

static int oom(pctx *p)
{
    return cairn_error_oom(p->err);
}

static void *palloc(pctx *p, size_t n)
{
    return cairn_arena_calloc(p->a, 1, n ? n : 1);
}

static int is_sym(cairn_val v)
{
    return cairn_type_of(v) == CAIRN_SYMBOL;
}

static int sym_is(cairn_val v, const char *text)
{
    size_t n;
    const char *t;
    if (!is_sym(v))
        return 0;
    t = cairn_ident_get(v, &n);
    return n == strlen(text) && memcmp(t, text, n) == 0;
}

static int is_var(cairn_val v)
{
    size_t n;
    const char *t;
    if (!is_sym(v))
        return 0;
    t = cairn_ident_get(v, &n);
    return n >= 2 && t[0] == '?';
}

static int is_src(cairn_val v)
{
    size_t n;
    const char *t;
    if (!is_sym(v))
        return 0;
    t = cairn_ident_get(v, &n);
    return n >= 1 && t[0] == '$';
}

static int is_blank(cairn_val v)
{
    size_t n;
    const char *t;
    if (!is_sym(v))
        return 0;
    t = cairn_ident_get(v, &n);
    return n >= 1 && t[0] == '_';
}

static int is_seq(cairn_val v)
{
    return cairn_type_of(v) == CAIRN_VECTOR || cairn_type_of(v) == CAIRN_LIST;
}

/* The variable id of symbol v in the current scope (added when new). */
static int var_id(pctx *p, cairn_val v, int *out)
{
    const cairn_ident *id = cairn_val_ident(v);
    for (int i = 0; i < *p->sc.n; i++)
        if (cairn_ident_equal((*p->sc.names)[i], id)) {
            *out = i;
            return 0;
        }
    if (*p->sc.n >= QMAX_VARS)
        return cairn_error_set(p->err, CAIRN_ELIMIT, ":parser/query", "more than %d variables", QMAX_VARS);
    if (*p->sc.n == *p->sc.cap) {
        int nc = *p->sc.cap ? *p->sc.cap * 2 : 16;
        const cairn_ident **nn = cairn_arena_alloc(p->a, (size_t)nc * sizeof *nn);
        if (!nn)
            return oom(p);
        if (*p->sc.n)
            memcpy(nn, *p->sc.names, (size_t)*p->sc.n * sizeof *nn);
        *p->sc.names = nn;
        *p->sc.cap = nc;
    }
    (*p->sc.names)[*p->sc.n] = id;
    *out = (*p->sc.n)++;
    return 0;
}

/* Source index of symbol v ($ is 0); -1 when not declared. */
static int src_index(const qquery *q, cairn_val v)
{
    const cairn_ident *id = cairn_val_ident(v);
    for (int i = 0; i < q->nsrc; i++)
        if (cairn_ident_equal(q->srcs[i], id))
            return i;
    return -1;
}

static int add_src(pctx *p, cairn_val v, int *out)
{
    qquery *q = p->q;
    const cairn_ident **ns;
    int i = src_index(q, v);
    if (i >= 0) {
        *out = i;
        return 0;
    }
    ns = cairn_arena_alloc(p->a, (size_t)(q->nsrc + 1) * sizeof *ns);
    if (!ns)
        return oom(p);
    if (q->nsrc)
        memcpy(ns, q->srcs, (size_t)q->nsrc * sizeof *ns);
    ns[q->nsrc] = cairn_val_ident(v);
    q->srcs = ns;
    *out = q->nsrc++;
    return 0;
}

/* Sources referenced in clauses get indexes too (checked later). */
static int src_ref(pctx *p, cairn_val v, int *out)
{
    return add_src(p, v, out);
}

static int term(pctx *p, cairn_val v, qterm *t, int allow_src)
{
    memset(t, 0, sizeof *t);
    if (is_var(v)) {
        t->kind = QT_VAR;
        return var_id(p, v, &t->id);
    }
    if (is_blank(v)) {
        t->kind = QT_BLANK;
        return 0;
    }
    if (allow_src && is_src(v)) {
        t->kind = QT_SRC;
        return src_ref(p, v, &t->id);
    }
    t->kind = QT_CONST;
    t->val = v;
    return 0;
}

/* ---- bindings ------------------------------------------------------------------ */

/* 1 for a plain symbol that :in may bind like a variable (`pattern` in
 * (pull ?e pattern), as DataScript allows). */
static int is_plain(cairn_val v)
{
    return is_sym(v) && !is_src(v) && !is_blank(v) && !sym_is(v, "%") && !sym_is(v, "...") && !sym_is(v, ".");
}

static int binding(pctx *p, cairn_val v, qbind *b, const char *kw)
{
    size_t n;
    int rc;
    memset(b, 0, sizeof *b);
    if (is_var(v) || (p->in_inputs && is_plain(v))) {
        b->kind = QB_VAR;
        return var_id(p, v, &b->var);
    }
    if (is_blank(v)) {
        b->kind = QB_BLANK;
        return 0;
    }
    if (!is_seq(v) || (n = cairn_count(v)) == 0)
        return fail(p, kw, "Cannot parse binding", v);
    if (n == 2 && sym_is(cairn_coll_get(v, 1), "...")) {
        b->kind = QB_COLL;
        b->n = 1;
        if (!(b->kids = palloc(p, sizeof *b->kids)))
            return oom(p);
        if ((rc = binding(p, cairn_coll_get(v, 0), b->kids, kw)) < 0)
            return rc;
        if (b->kids->kind == QB_COLL || b->kids->kind == QB_REL)
            return fail(p, kw, "Cannot parse binding", v);
        return 0;
    }
    if (n == 1 && is_seq(cairn_coll_get(v, 0))) {
        b->kind = QB_REL;
        b->n = 1;
        if (!(b->kids = palloc(p, sizeof *b->kids)))
            return oom(p);
        if ((rc = binding(p, cairn_coll_get(v, 0), b->kids, kw)) < 0)
            return rc;
        if (b->kids->kind != QB_TUPLE)
            return fail(p, kw, "Cannot parse binding", v);
        return 0;
    }
    b->kind = QB_TUPLE;
    b->n = (int)n;
    if (!(b->kids = palloc(p, n * sizeof *b->kids)))
        return oom(p);
    for (size_t i = 0; i < n; i++) {
        cairn_val e = cairn_coll_get(v, i);
        if (sym_is(e, "..."))
            return fail(p, kw, "Cannot parse binding", v);
        if ((rc = binding(p, e, &b->kids[i], kw)) < 0)
            return rc;
    }
    return 0;
}

static void bind_vars(const qbind *b, qvset *s)
{
    if (b->kind == QB_VAR)
        qv_add(s, b->var);
    for (int i = 0; i < b->n; i++)
        bind_vars(&b->kids[i], s);
}

/* ---- clauses ------------------------------------------------------------------------- */

static int body(pctx *p, cairn_val forms, size_t from, qbody *out, const char *kw);
static int clause(pctx *p, cairn_val form, qclause *c, int src);

static void term_vars(const qterm *t, int n, qvset *s)
{
    for (int i = 0; i < n; i++)
        if (t[i].kind == QT_VAR)
            qv_add(s, t[i].id);
}

static int fn_clause(pctx *p, cairn_val form, qclause *c)
{
    cairn_val call = cairn_coll_get(form, 0), f;
    size_t n = cairn_count(form), nargs = cairn_count(call);
    int rc;
    if (n > 2 || nargs == 0)
        return fail(p, ":parser/where", "Cannot parse clause", form);
    f = cairn_coll_get(call, 0);
    c->kind = n == 1 ? QC_PRED : QC_FN;
    c->fnvar = -1;
    if (is_var(f)) {
        if ((rc = var_id(p, f, &c->fnvar)) < 0)
            return rc;
        qv_add(&c->vars, c->fnvar);
    } else if (is_sym(f)) {
        c->fn = cairn_query__builtin(f);
        if (!c->fn) {
            cairn_buf b = CAIRN_BUF_INIT;
            cairn_buf_puts(&b, "Unknown function '");
            cairn_query__show(&b, f);
            cairn_buf_puts(&b, "' in ");
            cairn_query__show(&b, form);
            cairn_error_set(p->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "Unknown function");
            cairn_buf_dispose(&b);
            return CAIRN_EINVALID;
        }
    } else {
        return fail(p, ":parser/where", "Cannot parse function call", form);
    }
    c->nterms = (int)nargs - 1;
    if (c->nterms && !(c->terms = palloc(p, (size_t)c->nterms * sizeof *c->terms)))
        return oom(p);
    for (int i = 0; i < c->nterms; i++)
        if ((rc = term(p, cairn_coll_get(call, (size_t)i + 1), &c->terms[i], 1)) < 0)
            return rc;
    term_vars(c->terms, c->nterms, &c->vars);
    if (n == 2) {
        if ((rc = binding(p, cairn_coll_get(form, 1), &c->out, ":parser/where")) < 0)
            return rc;
        bind_vars(&c->out, &c->vars);
    }
    return 0;
}

static int pattern(pctx *p, cairn_val form, qclause *c, int src)
{
    size_t n = cairn_count(form), at = 0;
    int rc;
    c->kind = QC_PATTERN;
    c->src = src;
    if (n > 0 && is_src(cairn_coll_get(form, 0))) {
        if ((rc = src_ref(p, cairn_coll_get(form, 0), &c->src)) < 0)
            return rc;
        at = 1;
    }
    if (n - at == 0 || n - at > 5)
        return fail(p, ":parser/where", "Pattern mismatch: a data pattern has 1 to 5 elements", form);
    c->nterms = (int)(n - at);
    if (!(c->terms = palloc(p, 5 * sizeof *c->terms)))
        return oom(p);
    for (int i = 0; i < c->nterms; i++)
        if ((rc = term(p, cairn_coll_get(form, at + (size_t)i), &c->terms[i], 0)) < 0)
            return rc;
    term_vars(c->terms, c->nterms, &c->vars);
    return 0;
}

/* [?a ?b] or [[?req ...] ?opt ...] join variables. */
static int join_vars(pctx *p, cairn_val v, qclause *c, int allow_req)
{
    size_t n;
    int k = 0, rc;
    if (!is_seq(v) || cairn_type_of(v) != CAIRN_VECTOR)
        return fail(p, ":parser/where", "Cannot parse join variables", v);
    n = cairn_count(v);
    /* count */
    for (size_t i = 0; i < n; i++) {
        cairn_val e = cairn_coll_get(v, i);
        if (i == 0 && allow_req && is_seq(e))
            k += (int)cairn_count(e);
        else
            k++;
    }
    c->join = palloc(p, (size_t)(k ? k : 1) * sizeof *c->join);
    if (!c->join)
        return oom(p);
    c->njoin = 0;
    for (size_t i = 0; i < n; i++) {
        cairn_val e = cairn_coll_get(v, i);
        if (i == 0 && allow_req && is_seq(e)) {
            for (size_t j = 0; j < cairn_count(e); j++) {
                if (!is_var(cairn_coll_get(e, j)))
                    return fail(p, ":parser/where", "Cannot parse join variables", v);
                if ((rc = var_id(p, cairn_coll_get(e, j), &c->join[c->njoin++])) < 0)
                    return rc;
            }
            c->nreq = c->njoin;
            continue;
        }
        if (!is_var(e))
            return fail(p, ":parser/where", "Cannot parse join variables", v);
        if ((rc = var_id(p, e, &c->join[c->njoin++])) < 0)
            return rc;
    }
    return 0;
}

static void body_vars(const qbody *b, qvset *s)
{
    for (int i = 0; i < b->n; i++)
        qv_union(s, &b->c[i].vars);
}

/* (not ...) / (not-join [vars] ...) from element `at` (the head). */
static int not_clause(pctx *p, cairn_val form, size_t at, qclause *c)
{
    size_t n = cairn_count(form), from = at + 1;
    int rc;
    c->kind = QC_NOT;
    c->njoin = -1;
    if (sym_is(cairn_coll_get(form, at), "not-join")) {
        if (n < from + 1)
            return fail(p, ":parser/where", "Cannot parse not-join", form);
        if ((rc = join_vars(p, cairn_coll_get(form, from), c, 0)) < 0)
            return rc;
        from++;
    }
    if (n <= from)
        return fail(p, ":parser/where", "Cannot parse clause: (not) needs a body", form);
    c->nbranches = 1;
    if (!(c->branches = palloc(p, sizeof *c->branches)))
        return oom(p);
    if ((rc = body(p, form, from, c->branches, ":parser/where")) < 0)
        return rc;
    if (c->njoin >= 0) {
        for (int i = 0; i < c->njoin; i++)
            qv_add(&c->vars, c->join[i]);
    } else {
        body_vars(c->branches, &c->vars);
    }
    return 0;
}

/* (or ...) / (or-join [vars] ...) from element `at`; branches are clauses or (and ...). */
static int or_clause(pctx *p, cairn_val form, size_t at, qclause *c, int src)
{
    size_t n = cairn_count(form), from = at + 1;
    int rc;
    c->kind = QC_OR;
    c->njoin = -1;
    if (sym_is(cairn_coll_get(form, at), "or-join")) {
        if (n < from + 1)
            return fail(p, ":parser/where", "Cannot parse or-join", form);
        if ((rc = join_vars(p, cairn_coll_get(form, from), c, 1)) < 0)
            return rc;
        from++;
    }
    if (n <= from)
        return fail(p, ":parser/where", "Cannot parse clause: (or) needs branches", form);
    c->nbranches = (int)(n - from);
    if (!(c->branches = palloc(p, (size_t)c->nbranches * sizeof *c->branches)))
        return oom(p);
    for (int i = 0; i < c->nbranches; i++) {
        cairn_val br = cairn_coll_get(form, from + (size_t)i);
        if (cairn_type_of(br) == CAIRN_LIST && cairn_count(br) > 0 && sym_is(cairn_coll_get(br, 0), "and")) {
            if (cairn_count(br) < 2)
                return fail(p, ":parser/where", "Cannot parse clause: (and) needs clauses", br);
            if ((rc = body(p, br, 1, &c->branches[i], ":parser/where")) < 0)
                return rc;
        } else {
            c->branches[i].n = 1;
            if (!(c->branches[i].c = palloc(p, sizeof *c->branches[i].c)))
                return oom(p);
            if ((rc = clause(p, br, c->branches[i].c, src)) < 0)
                return rc;
        }
    }
    if (c->njoin >= 0) {
        for (int i = 0; i < c->njoin; i++)
            qv_add(&c->vars, c->join[i]);
        return 0;
    }
    /* or: every branch must use the same variables */
    body_vars(&c->branches[0], &c->vars);
    for (int i = 1; i < c->nbranches; i++) {
        qvset other;
        qv_clear(&other);
        body_vars(&c->branches[i], &other);
        if (!qv_equal(&c->vars, &other))
            return fail(p, ":parser/where", "All clauses in 'or' must use same set of free vars", form);
    }
    return 0;
}

/* (and ...) outside an or: a one-branch or joined on all its variables. */
static int and_clause(pctx *p, cairn_val form, size_t at, qclause *c)
{
    int rc;
    c->kind = QC_OR;
    c->njoin = -1;
    c->nbranches = 1;
    if (!(c->branches = palloc(p, sizeof *c->branches)))
        return oom(p);
    if (cairn_count(form) <= at + 1)
        return fail(p, ":parser/where", "Cannot parse clause: (and) needs clauses", form);
    if ((rc = body(p, form, at + 1, c->branches, ":parser/where")) < 0)
        return rc;
    body_vars(c->branches, &c->vars);
    return 0;
}

/* (rule args...), resolved later. */
static int call_clause(pctx *p, cairn_val form, size_t at, qclause *c)
{
    int rc;
    c->kind = QC_CALL;
    c->rule = -1;
    c->nterms = (int)(cairn_count(form) - at - 1);
    if (c->nterms && !(c->terms = palloc(p, (size_t)c->nterms * sizeof *c->terms)))
        return oom(p);
    for (int i = 0; i < c->nterms; i++)
        if ((rc = term(p, cairn_coll_get(form, at + 1 + (size_t)i), &c->terms[i], 0)) < 0)
            return rc;
    term_vars(c->terms, c->nterms, &c->vars);
    return 0;
}

static int list_clause(pctx *p, cairn_val form, qclause *c, int src)
{
    size_t n = cairn_count(form), at = 0;
    cairn_val head;
    int rc;
    if (n == 0)
        return fail(p, ":parser/where", "Cannot parse clause", form);
    head = cairn_coll_get(form, 0);
    if (is_src(head)) {
        if ((rc = src_ref(p, head, &src)) < 0)
            return rc;
        at = 1;
        if (n < 2)
            return fail(p, ":parser/where", "Cannot parse clause", form);
        head = cairn_coll_get(form, 1);
    }
    c->src = src;
    if (!is_sym(head))
        return fail(p, ":parser/where", "Cannot parse clause", form);
    if (sym_is(head, "not") || sym_is(head, "not-join"))
        return not_clause(p, form, at, c);
    if (sym_is(head, "or") || sym_is(head, "or-join"))
        return or_clause(p, form, at, c, src);
    if (sym_is(head, "and"))
        return and_clause(p, form, at, c);
    return call_clause(p, form, at, c);
}

static int clause(pctx *p, cairn_val form, qclause *c, int src)
{
    int rc;
    memset(c, 0, sizeof *c);
    c->form = form;
    c->src = src;
    c->fnvar = -1;
    c->rule = -1;
    c->njoin = -1;
    if (cairn_type_of(form) == CAIRN_VECTOR) {
        if (cairn_count(form) > 0 && cairn_type_of(cairn_coll_get(form, 0)) == CAIRN_LIST)
            return fn_clause(p, form, c);
        return pattern(p, form, c, src);
    }
    if (cairn_type_of(form) == CAIRN_LIST) {
        if (p->depth >= QMAX_NESTING)
            return cairn_error_set(p->err, CAIRN_ELIMIT, ":parser/where", "clauses nested more than %d deep",
                                   QMAX_NESTING);
        p->depth++;
        rc = list_clause(p, form, c, src);
        p->depth--;
        return rc;
    }
    return fail(p, ":parser/where", "Cannot parse clause", form);
}

static int body(pctx *p, cairn_val forms, size_t from, qbody *out, const char *kw)
{
    size_t n = cairn_count(forms);
    int rc;
    (void)kw;
    out->n = (int)(n - from);
    out->c = palloc(p, (size_t)(out->n ? out->n : 1) * sizeof *out->c);
    if (!out->c)
        return oom(p);
    for (int i = 0; i < out->n; i++) {
        if ((rc = clause(p, cairn_coll_get(forms, from + (size_t)i), &out->c[i], -1)) < 0)
            return rc;
        out->c[i].textual = i;
    }
    return 0;
}

/* ---- find ------------------------------------------------------------------------------ */

static int find_elem(pctx *p, cairn_val v, qelem *e)
{
    int rc;
    memset(e, 0, sizeof *e);
    e->aggfn = -1;
    e->pattern_var = -1;
    e->src = 0;
    if (is_var(v)) {
        e->kind = QE_VAR;
        return var_id(p, v, &e->var);
    }
    if (cairn_type_of(v) == CAIRN_LIST && cairn_count(v) >= 1 && is_sym(cairn_coll_get(v, 0))) {
        cairn_val f = cairn_coll_get(v, 0);
        size_t n = cairn_count(v);
        if (sym_is(f, "pull")) {
            size_t at = 1;
            e->kind = QE_PULL;
            if (n == 4) {
                if (!is_src(cairn_coll_get(v, 1)))
                    return fail(p, ":parser/find", "Cannot parse pull expression", v);
                if ((rc = add_src(p, cairn_coll_get(v, 1), &e->src)) < 0)
                    return rc;
                at = 2;
            } else if (n != 3) {
                return fail(p, ":parser/find", "Cannot parse pull expression", v);
            }
            if (!is_var(cairn_coll_get(v, at)))
                return fail(p, ":parser/find", "Cannot parse pull expression", v);
            if ((rc = var_id(p, cairn_coll_get(v, at), &e->var)) < 0)
                return rc;
            e->pattern = cairn_coll_get(v, at + 1);
            if (is_var(e->pattern) || is_plain(e->pattern)) {
                if ((rc = var_id(p, e->pattern, &e->pattern_var)) < 0)
                    return rc;
                e->pattern = cairn_nil();
            }
            return 0;
        }
        e->kind = QE_AGG;
        if (sym_is(f, "aggregate")) {
            if (n != 3 || !is_var(cairn_coll_get(v, 1)) || !is_var(cairn_coll_get(v, 2)))
                return fail(p, ":parser/find", "Cannot parse custom aggregate", v);
            if ((rc = var_id(p, cairn_coll_get(v, 1), &e->aggfn)) < 0)
                return rc;
            return var_id(p, cairn_coll_get(v, 2), &e->var);
        }
        e->agg = cairn_query__aggregate(f);
        if (!e->agg)
            return fail(p, ":query/find", "Unknown aggregate function", v);
        if (n < 2 || !is_var(cairn_coll_get(v, n - 1)))
            return fail(p, ":parser/find", "Cannot parse aggregate: its last argument must be a variable", v);
        if (n == 3 && (e->agg->nparams || e->agg->opt_param)) {
            if ((rc = term(p, cairn_coll_get(v, 1), &e->param, 0)) < 0)
                return rc;
        } else if (n != 2 || (e->agg->nparams && !e->agg->opt_param)) {
            return fail(p, ":parser/find", "Wrong number of arguments to aggregate", v);
        }
        p->q->has_aggregates = 1;
        return var_id(p, cairn_coll_get(v, n - 1), &e->var);
    }
    return fail(p, ":parser/find", "Cannot parse :find element", v);
}

static int find_spec(pctx *p, cairn_val *items, size_t n, cairn_val whole)
{
    qquery *q = p->q;
    int rc;
    if (n == 0)
        return fail(p, ":parser/find", "Query needs a :find with at least one element", whole);
    q->find_kind = QF_REL;
    if (n == 2 && sym_is(items[1], ".")) {
        q->find_kind = QF_SCALAR;
        n = 1;
    } else if (n == 1 && cairn_type_of(items[0]) == CAIRN_VECTOR) {
        cairn_val v = items[0];
        size_t m = cairn_count(v);
        if (m == 2 && sym_is(cairn_coll_get(v, 1), "...")) {
            q->find_kind = QF_COLL;
            q->nfind = 1;
            if (!(q->find = palloc(p, sizeof *q->find)))
                return oom(p);
            return find_elem(p, cairn_coll_get(v, 0), q->find);
        }
        if (m == 0)
            return fail(p, ":parser/find", "Cannot parse :find", whole);
        q->find_kind = QF_TUPLE;
        q->nfind = (int)m;
        if (!(q->find = palloc(p, m * sizeof *q->find)))
            return oom(p);
        for (size_t i = 0; i < m; i++) {
            if (sym_is(cairn_coll_get(v, i), ".") || sym_is(cairn_coll_get(v, i), "..."))
                return fail(p, ":parser/find", "Cannot parse :find", whole);
            if ((rc = find_elem(p, cairn_coll_get(v, i), &q->find[i])) < 0)
                return rc;
        }
        return 0;
    }
    q->nfind = (int)n;
    if (!(q->find = palloc(p, n * sizeof *q->find)))
        return oom(p);
    for (size_t i = 0; i < n; i++) {
        if (sym_is(items[i], ".") || sym_is(items[i], "..."))
            return fail(p, ":parser/find", "Cannot parse :find", whole);
        if ((rc = find_elem(p, items[i], &q->find[i])) < 0)
            return rc;
    }
    return 0;
}

/* ---- sections ------------------------------------------------------------------------- */

enum { SEC_NONE = 0, SEC_FIND, SEC_WITH, SEC_IN, SEC_WHERE, SEC_KEYS, SEC_STRS, SEC_SYMS, SEC_TIMEOUT, SEC_COUNT_ };

static int section_of(cairn_val k)
{
    static const char *names[] = { NULL, "find", "with", "in", "where", "keys", "strs", "syms", "timeout" };
    for (int i = 1; i < SEC_COUNT_; i++)
        if (cairn_val_is_kw(k, names[i]))
            return i;
    return SEC_NONE;
}

typedef struct sections {
    cairn_val items[SEC_COUNT_];  /* vector of items per section (owned), nil = absent */
} sections;

static void sections_dispose(sections *s)
{
    for (int i = 0; i < SEC_COUNT_; i++)
        cairn_release(s->items[i]);
}

static int split_vector(pctx *p, cairn_val form, sections *s)
{
    int cur = SEC_NONE, rc;
    for (size_t i = 0; i < cairn_count(form); i++) {
        cairn_val v = cairn_coll_get(form, i);
        int k = cairn_type_of(v) == CAIRN_KEYWORD ? section_of(v) : SEC_NONE;
        if (k) {
            if (cairn_type_of(s->items[k]) != CAIRN_NIL)
                return fail(p, ":parser/query", "Query has a section twice", v);
            if ((rc = cairn_vector_new(&s->items[k], 8)) < 0)
                return oom(p);
            cur = k;
            continue;
        }
        if (cur == SEC_NONE)
            return fail(p, ":parser/query", "Query should start with a keyword such as :find", form);
        if ((rc = cairn_coll_push(&s->items[cur], v)) < 0)
            return oom(p);
    }
    return 0;
}

static int split_map(pctx *p, cairn_val form, sections *s)
{
    for (size_t i = 0; i < cairn_count(form); i++) {
        cairn_val k = cairn_map_key_get(form, i), v = cairn_map_val_get(form, i);
        int sec = cairn_type_of(k) == CAIRN_KEYWORD ? section_of(k) : SEC_NONE;
        if (!sec)
            continue;  /* :offset, :limit and other keys belong to the caller */
        if (!is_seq(v) && sec != SEC_TIMEOUT)
            return fail(p, ":parser/query", "Query section should be a vector", form);
        if (sec == SEC_TIMEOUT) {
            cairn_val vec;
            if (cairn_vector_new(&vec, 1) < 0 || cairn_coll_push_take(&vec, cairn_retain(v)) < 0)
                return oom(p);
            s->items[sec] = vec;
        } else {
            s->items[sec] = cairn_retain(v);
        }
    }
    return 0;
}

static int parse_in(pctx *p, cairn_val in)
{
    qquery *q = p->q;
    size_t n = cairn_count(in);
    qvset declared;
    int rc;
    qv_clear(&declared);
    q->nin = (int)n;
    q->in = palloc(p, (n ? n : 1) * sizeof *q->in);
    if (!q->in)
        return oom(p);
    for (size_t i = 0; i < n; i++) {
        cairn_val v = cairn_coll_get(in, i);
        qin *e = &q->in[i];
        if (is_src(v)) {
            e->kind = QI_SRC;
            if ((rc = add_src(p, v, &e->src)) < 0)
                return rc;
            if (qv_has(&declared, e->src))
                return fail(p, ":parser/in", "Source declared twice in :in", v);
            qv_add(&declared, e->src);
        } else if (sym_is(v, "%")) {
            e->kind = QI_RULES;
            q->has_rules_input = 1;
        } else {
            e->kind = QI_BIND;
            p->in_inputs = 1;
            rc = binding(p, v, &e->bind, ":parser/in");
            p->in_inputs = 0;
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

static int parse_keys(pctx *p, cairn_val v, int kind)
{
    qquery *q = p->q;
    size_t n = cairn_count(v);
    if (q->keys_kind)
        return fail(p, ":parser/find", "Only one of :keys, :strs, :syms", v);
    if ((int)n != q->nfind || q->find_kind != QF_REL)
        return fail(p, ":parser/find", "Count of :keys/:strs/:syms must match count of :find", v);
    q->keys_kind = kind;
    q->keys = palloc(p, n * sizeof *q->keys);
    if (!q->keys)
        return oom(p);
    for (size_t i = 0; i < n; i++) {
        cairn_val k = cairn_coll_get(v, i);
        if (!is_sym(k) && cairn_type_of(k) != CAIRN_KEYWORD && cairn_type_of(k) != CAIRN_STRING)
            return fail(p, ":parser/find", "Cannot parse :keys", v);
        q->keys[i] = k;
    }
    return 0;
}

static void scope_of_query(pctx *p)
{
    p->sc.names = &p->q->names;
    p->sc.n = &p->q->nvars;
    p->sc.cap = &p->q->cap_vars;
}

int cairn_query__parse(qquery *q, cairn_arena *arena, cairn_val form, cairn_error *err)
{
    pctx p;
    sections s;
    int rc = 0, dollar;
    cairn_val src_dollar;
    memset(q, 0, sizeof *q);
    memset(&p, 0, sizeof p);
    memset(&s, 0, sizeof s);
    for (int i = 0; i < SEC_COUNT_; i++)
        s.items[i] = cairn_nil();
    q->form = cairn_retain(form);
    p.q = q;
    p.a = arena;
    p.err = err;
    scope_of_query(&p);
    if (cairn_type_of(form) == CAIRN_LIST && cairn_count(form) == 2 && sym_is(cairn_coll_get(form, 0), "quote"))
        form = cairn_coll_get(form, 1);
    if (cairn_type_of(form) == CAIRN_VECTOR || cairn_type_of(form) == CAIRN_LIST)
        rc = split_vector(&p, form, &s);
    else if (cairn_type_of(form) == CAIRN_MAP)
        rc = split_map(&p, form, &s);
    else
        rc = fail(&p, ":parser/query", "Query should be a vector, a map or a string", form);
    if (rc < 0)
        goto done;
    if (cairn_type_of(s.items[SEC_FIND]) == CAIRN_NIL) {
        rc = fail(&p, ":parser/find", "Query has no :find", form);
        goto done;
    }
    /* $ is always source 0, even when :in names other sources only */
    if ((rc = cairn_symbol(&src_dollar, "$", 1)) < 0 || (rc = add_src(&p, src_dollar, &dollar)) < 0) {
        rc = rc == CAIRN_ENOMEM ? oom(&p) : rc;
        goto done;
    }
    {
        cairn_val f = s.items[SEC_FIND];
        cairn_val *items = palloc(&p, (cairn_count(f) + 1) * sizeof *items);
        if (!items) {
            rc = oom(&p);
            goto done;
        }
        for (size_t i = 0; i < cairn_count(f); i++)
            items[i] = cairn_coll_get(f, i);
        if ((rc = find_spec(&p, items, cairn_count(f), form)) < 0)
            goto done;
    }
    if (cairn_type_of(s.items[SEC_WITH]) != CAIRN_NIL) {
        cairn_val w = s.items[SEC_WITH];
        q->nwith = (int)cairn_count(w);
        q->with = palloc(&p, (size_t)(q->nwith ? q->nwith : 1) * sizeof *q->with);
        if (!q->with) {
            rc = oom(&p);
            goto done;
        }
        for (int i = 0; i < q->nwith; i++) {
            if (!is_var(cairn_coll_get(w, (size_t)i))) {
                rc = fail(&p, ":parser/with", "Cannot parse :with", w);
                goto done;
            }
            if ((rc = var_id(&p, cairn_coll_get(w, (size_t)i), &q->with[i])) < 0)
                goto done;
        }
    }
    if (cairn_type_of(s.items[SEC_IN]) != CAIRN_NIL) {
        if ((rc = parse_in(&p, s.items[SEC_IN])) < 0)
            goto done;
    } else {
        q->nin = 1;
        if (!(q->in = palloc(&p, sizeof *q->in))) {
            rc = oom(&p);
            goto done;
        }
        q->in[0].kind = QI_SRC;
        q->in[0].src = 0;
    }
    if (cairn_type_of(s.items[SEC_WHERE]) != CAIRN_NIL) {
        cairn_val w = s.items[SEC_WHERE];
        if ((rc = body(&p, w, 0, &q->where, ":parser/where")) < 0)
            goto done;
    }
    for (int k = SEC_KEYS; k <= SEC_SYMS; k++)
        if (cairn_type_of(s.items[k]) != CAIRN_NIL && (rc = parse_keys(&p, s.items[k], k - SEC_KEYS + 1)) < 0)
            goto done;
done:
    sections_dispose(&s);
    return rc;
}

/* ---- rules ------------------------------------------------------------------------------ */

/* Adds a definition: to rule *index when it is >= 0, else to the named rule
 * (anon: always a new rule); *index is set to the rule. */
static int add_rule_def(pctx *p, cairn_val name, qrule_def *d, int anon, int *index)
{
    qquery *q = p->q;
    qrule *r = NULL;
    if (index && *index >= 0)
        r = &q->rules[*index];
    for (int i = 0; i < q->nrules && !anon && !r; i++)
        if (!q->rules[i].anon && cairn_equal(q->rules[i].name, name))
            r = &q->rules[i];
    if (!r) {
        if (q->nrules == q->cap_rules) {
            int nc = q->cap_rules ? q->cap_rules * 2 : 8;
            qrule *nr = cairn_arena_alloc(p->a, (size_t)nc * sizeof *nr);
            if (!nr)
                return oom(p);
            if (q->nrules)
                memcpy(nr, q->rules, (size_t)q->nrules * sizeof *nr);
            q->rules = nr;
            q->cap_rules = nc;
        }
        r = &q->rules[q->nrules++];
        memset(r, 0, sizeof *r);
        r->name = name;
        r->anon = anon;
    }
    {
        qrule_def *nd = cairn_arena_alloc(p->a, (size_t)(r->ndefs + 1) * sizeof *nd);
        if (!nd)
            return oom(p);
        if (r->ndefs)
            memcpy(nd, r->defs, (size_t)r->ndefs * sizeof *nd);
        nd[r->ndefs] = *d;
        r->defs = nd;
        r->ndefs++;
    }
    if (index)
        *index = (int)(r - q->rules);
    return 0;
}

/* A new variable with the name of v that lookups by name never find (the
 * earlier entry of that name wins). */
static int var_fresh(pctx *p, cairn_val v, int *out)
{
    int n = *p->sc.n, rc, dummy;
    /* make sure an entry exists first, then append a twin */
    if ((rc = var_id(p, v, &dummy)) < 0)
        return rc;
    n = *p->sc.n;
    if (n >= QMAX_VARS)
        return cairn_error_set(p->err, CAIRN_ELIMIT, ":parser/query", "more than %d variables", QMAX_VARS);
    if (n == *p->sc.cap) {
        int nc = *p->sc.cap ? *p->sc.cap * 2 : 16;
        const cairn_ident **nn = cairn_arena_alloc(p->a, (size_t)nc * sizeof *nn);
        if (!nn)
            return oom(p);
        memcpy(nn, *p->sc.names, (size_t)n * sizeof *nn);
        *p->sc.names = nn;
        *p->sc.cap = nc;
    }
    (*p->sc.names)[n] = cairn_val_ident(v);
    *out = (*p->sc.n)++;
    return 0;
}

/*
 * A rule: [(name [?req ...] ?opt ...) clause ...]. Required variables are
 * read the way DataScript and Datahike read them: the call must have them
 * bound (or it yields nothing), but the body's variable of the same name is
 * a different variable, so the body is not joined with the caller's value.
 * Every engine in the corpus agrees on that answer (query-logic/34), so the
 * head's required variables get fresh ids here.
 */
static int parse_rule(pctx *p, cairn_val rv)
{
    cairn_val head, name;
    qrule_def d;
    size_t hn;
    int rc, k = 0, cap = 0;
    if (!is_seq(rv) || cairn_count(rv) < 2 || cairn_type_of(head = cairn_coll_get(rv, 0)) != CAIRN_LIST ||
        (hn = cairn_count(head)) < 1 || !is_sym(name = cairn_coll_get(head, 0)))
        return fail(p, ":parser/rule", "Cannot parse rule", rv);
    memset(&d, 0, sizeof d);
    p->sc.names = &d.names;
    p->sc.n = &d.nvars;
    p->sc.cap = &cap;
    for (size_t i = 1; i < hn; i++) {
        cairn_val v = cairn_coll_get(head, i);
        if (i == 1 && cairn_type_of(v) == CAIRN_VECTOR) {
            for (size_t j = 0; j < cairn_count(v); j++)
                if (!is_var(cairn_coll_get(v, j)))
                    return fail(p, ":parser/rule", "Cannot parse rule head", head);
            k += (int)cairn_count(v);
        } else if (!is_var(v)) {
            return fail(p, ":parser/rule", "Cannot parse rule head", head);
        } else {
            k++;
        }
    }
    d.head = palloc(p, (size_t)(k ? k : 1) * sizeof *d.head);
    if (!d.head)
        return oom(p);
    p->in_rule = 1;
    rc = body(p, rv, 1, &d.body, ":parser/rule");
    p->in_rule = 0;
    for (size_t i = 1; i < hn && rc == 0; i++) {
        cairn_val v = cairn_coll_get(head, i);
        if (i == 1 && cairn_type_of(v) == CAIRN_VECTOR) {
            for (size_t j = 0; j < cairn_count(v) && rc == 0; j++)
                rc = var_fresh(p, cairn_coll_get(v, j), &d.head[d.nargs++]);
            d.nreq = d.nargs;
            continue;
        }
        rc = var_id(p, v, &d.head[d.nargs++]);
    }
    p->sc.cap = NULL;
    if (rc < 0)
        return rc;
    for (int i = d.nreq; i < d.nargs; i++)
        for (int j = i + 1; j < d.nargs; j++)
            if (d.head[i] == d.head[j])
                return fail(p, ":parser/rule", "Rule head repeats a variable", head);
    {
        int idx = -1;
        return add_rule_def(p, name, &d, 0, &idx);
    }
}

int cairn_query__parse_rules(qquery *q, cairn_arena *arena, cairn_val rules, cairn_error *err)
{
    pctx p;
    int rc;
    memset(&p, 0, sizeof p);
    p.q = q;
    p.a = arena;
    p.err = err;
    if (cairn_type_of(rules) == CAIRN_STRING) {
        size_t n;
        const char *t = cairn_str_get(rules, &n);
        cairn_val v;
        if (q->nowned == (int)CAIRN_ARRAY_LEN(q->owned))
            return cairn_error_set(err, CAIRN_ELIMIT, ":parser/rule", "too many rule strings");
        if ((rc = cairn_edn_read(&v, t, n, NULL, err)) < 0) {
            if (err)
                snprintf(err->keyword, sizeof err->keyword, ":parser/rule");
            return rc;
        }
        q->owned[q->nowned++] = v;
        rules = v;
    }
    if (cairn_type_of(rules) == CAIRN_NIL)
        return 0;
    if (!is_seq(rules))
        return fail(&p, ":parser/rule", "Rules should be a vector of rules", rules);
    for (size_t i = 0; i < cairn_count(rules); i++)
        if ((rc = parse_rule(&p, cairn_coll_get(rules, i))) < 0)
            return rc;
    scope_of_query(&p);
    return 0;
}

/* ---- resolution ----------------------------------------------------------------------- */

typedef struct rctx {
    pctx *p;                     /* parser state */
    const cairn_ident ***names;  /* scope of the body being resolved */
    int *nvars;                  /* ... and its size */
} rctx;

static int resolve_body(rctx *r, qbody *b);

static int body_has_call(const qbody *b)
{
    for (int i = 0; i < b->n; i++)
        if (b->c[i].kind == QC_CALL)
            return 1;
    return 0;
}

static int find_rule(const qquery *q, cairn_val name)
{
    for (int i = 0; i < q->nrules; i++)
        if (!q->rules[i].anon && cairn_equal(q->rules[i].name, name))
            return i;
    return -1;
}

/* An or clause whose branches call rules becomes a call of an anonymous rule
 * with one definition per branch, sharing the enclosing scope. */
static int or_to_rule(rctx *r, qclause *c)
{
    pctx *p = r->p;
    int *head, nhead = 0, idx = -1, rc;
    if (c->njoin >= 0) {
        nhead = c->njoin;
        head = c->join;
    } else {
        nhead = qv_count(&c->vars);
        head = palloc(p, (size_t)(nhead ? nhead : 1) * sizeof *head);
        if (!head)
            return oom(p);
        nhead = 0;
        for (int v = qv_next(&c->vars, 0); v >= 0; v = qv_next(&c->vars, v + 1))
            head[nhead++] = v;
    }
    for (int i = 0; i < c->nbranches; i++) {
        qrule_def d;
        memset(&d, 0, sizeof d);
        d.nargs = nhead;
        d.nreq = c->njoin >= 0 ? c->nreq : 0;
        d.head = head;
        d.body = c->branches[i];
        d.nvars = *r->nvars;
        d.names = *r->names;
        if ((rc = add_rule_def(p, c->form, &d, 1, &idx)) < 0)
            return rc;
    }
    c->kind = QC_CALL;
    c->rule = idx;
    c->nterms = nhead;
    c->terms = palloc(p, (size_t)(nhead ? nhead : 1) * sizeof *c->terms);
    if (!c->terms)
        return oom(p);
    for (int i = 0; i < nhead; i++) {
        c->terms[i].kind = QT_VAR;
        c->terms[i].id = head[i];
    }
    return 0;
}

static int resolve_clause(rctx *r, qclause *c)
{
    pctx *p = r->p;
    qquery *q = p->q;
    int rc;
    switch (c->kind) {
    case QC_CALL:
        if (c->rule >= 0)
            return 0;
        c->rule = find_rule(q, cairn_coll_get(c->form, is_src(cairn_coll_get(c->form, 0)) ? 1 : 0));
        if (c->rule < 0) {
            if (!q->has_rules_input)
                return fail(p, ":parser/query", "Unknown rule (no rules given with % in :in)", c->form);
            return fail(p, ":query/where", "Unknown rule", c->form);
        }
        return 0;
    case QC_NOT:
        return resolve_body(r, c->branches);
    case QC_OR:
        for (int i = 0; i < c->nbranches; i++)
            if ((rc = resolve_body(r, &c->branches[i])) < 0)
                return rc;
        for (int i = 0; i < c->nbranches; i++)
            if (body_has_call(&c->branches[i]))
                return or_to_rule(r, c);
        return 0;
    default:
        return 0;
    }
}

static int resolve_body(rctx *r, qbody *b)
{
    int rc;
    for (int i = 0; i < b->n; i++)
        if ((rc = resolve_clause(r, &b->c[i])) < 0)
            return rc;
    return 0;
}

static void collect_srcs(const qbody *b, qvset *s)
{
    for (int i = 0; i < b->n; i++) {
        const qclause *c = &b->c[i];
        if (c->src >= 0)
            qv_add(s, c->src);
        for (int j = 0; j < c->nterms; j++)
            if (c->terms[j].kind == QT_SRC)
                qv_add(s, c->terms[j].id);
        for (int j = 0; j < c->nbranches; j++)
            collect_srcs(&c->branches[j], s);
    }
}

/* ---- bindings in written order ---------------------------------------------------------- */

/*
 * DataScript and Datahike 0.6 evaluate clauses in the order written and
 * reject a predicate, function, not or required or-join variable whose
 * variables are not bound by the clauses before it ("Insufficient
 * bindings"). Datahike 0.8's planner accepts some of these; the corpus
 * records the older engines' error as the consensus. cairn plans in any
 * order it likes, but checks bindings in written order, so the set of
 * accepted queries is the same as theirs.
 */
static int unbound(pctx *p, const qclause *c, const qvset *missing, const char *names_of_scope)
{
    cairn_buf b = CAIRN_BUF_INIT;
    (void)names_of_scope;
    cairn_buf_puts(&b, "Insufficient bindings: none of #{");
    for (int v = qv_next(missing, 0), first = 1; v >= 0; v = qv_next(missing, v + 1), first = 0) {
        if (!first)
            cairn_buf_putc(&b, ' ');
        if (p->sc.names && v < *p->sc.n)
            cairn_buf_put(&b, (*p->sc.names)[v]->text, (*p->sc.names)[v]->len);
    }
    cairn_buf_puts(&b, "} is bound in ");
    cairn_query__show(&b, c->form);
    cairn_error_set(p->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "Insufficient bindings");
    cairn_buf_dispose(&b);
    return CAIRN_EINVALID;
}

static int written_order(pctx *p, const qbody *b, qvset *bound)
{
    int rc;
    for (int i = 0; i < b->n; i++) {
        const qclause *c = &b->c[i];
        qvset need, miss, inner;
        switch (c->kind) {
        case QC_PATTERN:
        case QC_CALL:
            qv_union(bound, &c->vars);
            break;
        case QC_PRED:
        case QC_FN:
            qv_clear(&need);
            term_vars(c->terms, c->nterms, &need);
            if (c->fnvar >= 0)
                qv_add(&need, c->fnvar);
            if (!qv_subset(&need, bound)) {
                miss = need;
                qv_minus(&miss, bound);
                return unbound(p, c, &miss, NULL);
            }
            if (c->kind == QC_FN)
                bind_vars(&c->out, bound);
            break;
        case QC_NOT:
            if (c->njoin >= 0) {
                if (!qv_subset(&c->vars, bound)) {
                    miss = c->vars;
                    qv_minus(&miss, bound);
                    return unbound(p, c, &miss, NULL);
                }
                inner = c->vars;
            } else {
                if (!qv_meets(&c->vars, bound))
                    return unbound(p, c, &c->vars, NULL);
                inner = *bound;
            }
            if ((rc = written_order(p, c->branches, &inner)) < 0)
                return rc;
            break;
        case QC_OR:
            qv_clear(&need);
            for (int j = 0; j < c->nreq; j++)
                qv_add(&need, c->join[j]);
            if (!qv_subset(&need, bound)) {
                miss = need;
                qv_minus(&miss, bound);
                return unbound(p, c, &miss, NULL);
            }
            for (int j = 0; j < c->nbranches; j++) {
                inner = *bound;
                qv_inter(&inner, &c->vars);
                if ((rc = written_order(p, &c->branches[j], &inner)) < 0)
                    return rc;
            }
            qv_union(bound, &c->vars);
            break;
        default:
            break;
        }
    }
    return 0;
}

int cairn_query__resolve(qquery *q, cairn_arena *arena, cairn_error *err)
{
    pctx p;
    rctx r;
    qvset bound, used, declared;
    int rc;
    memset(&p, 0, sizeof p);
    p.q = q;
    p.a = arena;
    p.err = err;
    scope_of_query(&p);
    /* rule bodies first (their or clauses become anonymous rules too) */
    for (int i = 0; i < q->nrules; i++) {
        if (q->rules[i].anon)
            continue;
        for (int j = 0; j < q->rules[i].ndefs; j++) {
            qrule_def *d = &q->rules[i].defs[j];
            r.p = &p;
            r.names = &d->names;
            r.nvars = &d->nvars;
            if ((rc = resolve_body(&r, &d->body)) < 0)
                return rc;
        }
    }
    /* bindings in written order: the query, then each rule with its head bound */
    qv_clear(&bound);
    for (int i = 0; i < q->nin; i++)
        if (q->in[i].kind == QI_BIND)
            bind_vars(&q->in[i].bind, &bound);
    if ((rc = written_order(&p, &q->where, &bound)) < 0)
        return rc;
    for (int i = 0; i < q->nrules; i++) {
        for (int j = 0; j < q->rules[i].ndefs && !q->rules[i].anon; j++) {
            qrule_def *d = &q->rules[i].defs[j];
            int cap = d->nvars;
            qv_clear(&bound);
            for (int k = 0; k < d->nargs; k++)
                qv_add(&bound, d->head[k]);
            p.sc.names = &d->names;
            p.sc.n = &d->nvars;
            p.sc.cap = &cap;
            if ((rc = written_order(&p, &d->body, &bound)) < 0)
                return rc;
        }
    }
    scope_of_query(&p);
    r.p = &p;
    r.names = &q->names;
    r.nvars = &q->nvars;
    if ((rc = resolve_body(&r, &q->where)) < 0)
        return rc;
    /* sources used must be declared in :in */
    qv_clear(&used);
    qv_clear(&declared);
    collect_srcs(&q->where, &used);
    for (int i = 0; i < q->nrules; i++)
        for (int j = 0; j < q->rules[i].ndefs; j++)
            collect_srcs(&q->rules[i].defs[j].body, &used);
    for (int i = 0; i < q->nin; i++)
        if (q->in[i].kind == QI_SRC)
            qv_add(&declared, q->in[i].src);
    for (int i = 0; i < q->nfind; i++)
        if (q->find[i].kind == QE_PULL)
            qv_add(&used, q->find[i].src);
    if (!qv_subset(&used, &declared)) {
        qv_minus(&used, &declared);
        {
            int s = qv_next(&used, 0);
            cairn_val name = CAIRN_IDENT_VAL(CAIRN_SYMBOL, q->srcs[s]);
            return fail(&p, ":parser/query", "Where uses unknown source vars", name);
        }
    }
    /* find and :with variables must occur in :in or :where */
    qv_clear(&bound);
    for (int i = 0; i < q->where.n; i++)
        qv_union(&bound, &q->where.c[i].vars);
    for (int i = 0; i < q->nin; i++)
        if (q->in[i].kind == QI_BIND)
            bind_vars(&q->in[i].bind, &bound);
    for (int i = 0; i < q->nfind; i++) {
        const qelem *e = &q->find[i];
        int v = e->var;
        if (!qv_has(&bound, v) || (e->aggfn >= 0 && !qv_has(&bound, e->aggfn)) ||
            (e->pattern_var >= 0 && !qv_has(&bound, e->pattern_var)) ||
            (e->param.kind == QT_VAR && !qv_has(&bound, e->param.id))) {
            int bad = !qv_has(&bound, v) ? v : e->aggfn >= 0 && !qv_has(&bound, e->aggfn) ? e->aggfn
                      : e->pattern_var >= 0 && !qv_has(&bound, e->pattern_var) ? e->pattern_var : e->param.id;
            return fail(&p, ":parser/query", "Query for unknown vars", CAIRN_IDENT_VAL(CAIRN_SYMBOL, q->names[bad]));
        }
    }
    for (int i = 0; i < q->nwith; i++) {
        if (!qv_has(&bound, q->with[i]))
            return fail(&p, ":parser/query", "Query for unknown vars in :with",
                        CAIRN_IDENT_VAL(CAIRN_SYMBOL, q->names[q->with[i]]));
        for (int j = 0; j < q->nfind; j++)
            if (q->find[j].kind == QE_VAR && q->find[j].var == q->with[i])
                return fail(&p, ":parser/query", ":find and :with should not use same variables",
                            CAIRN_IDENT_VAL(CAIRN_SYMBOL, q->names[q->with[i]]));
    }
    return 0;
}

void cairn_query__dispose(qquery *q)
{
    for (int i = 0; i < q->nowned; i++)
        cairn_release(q->owned[i]);
    cairn_release(q->form);
    memset(q, 0, sizeof *q);
}
