/*
 * src/query: the planner and executor against the naive reference evaluator
 * (src/query/refeval.c), on random databases and random queries.
 *
 * Each round builds a database with a random schema (strings, longs, refs,
 * card-one or card-many, some indexed) and random data (with a second
 * transaction of updates and retractions), then generates queries clause by
 * clause — patterns with constants, joins on values and refs, predicates,
 * function bindings, not, not-join, or, or-join, recursive and plain rule
 * calls, collection and scalar inputs, aggregates, :with — always valid in
 * written order. Every query must give the same answer from both
 * evaluators (or fail in both), and the same answer again with its
 * patterns written in another order (the planner must not care).
 *
 * make test runs a few thousand queries; CAIRN_TEST_SCALE multiplies them
 * (make soak-query).
 */
#include <stdarg.h>
#include <stdlib.h>

#include "query_test.h"

int cairn_query__ref_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs,
                       cairn_error *err);

#ifdef CAIRN_SANITIZE
#define ROUNDS 6
#define QUERIES 60
#else
#define ROUNDS 15
#define QUERIES 200
#endif

enum { T_E = 0, T_L, T_S };

typedef struct gattr {
    char name[16];   /* :g/xN */
    int type;        /* T_E (ref), T_L, T_S */
    int many;        /* card-many */
} gattr;

typedef struct gen {
    gattr attrs[10];
    int nattrs;
    int nent;            /* entities */
    char buf[8192];      /* the query being built */
    size_t len;
    int vtype[32];       /* type of ?v<i> */
    int nvars;           /* variables made */
    int bound[32];       /* ?v<i> bound by the clauses so far */
    char clauses[16][512];
    int ispat[16];       /* clause is a plain pattern */
    int nclauses;
} gen;

static const char *words[] = { "ash", "birch", "cedar", "elm", "fir", "oak" };

static int rnd(int n)
{
    return (int)test_rand_below((uint64_t)n);
}

static void make_schema(gen *g, char *tx, size_t cap)
{
    size_t at = 0;
    g->nattrs = 0;
    at += (size_t)snprintf(tx + at, cap - at, "[");
    for (int i = 0; i < 7; i++) {
        gattr *a = &g->attrs[g->nattrs++];
        a->type = i < 2 ? T_E : i < 5 ? T_L : T_S;
        a->many = rnd(3) == 0;
        snprintf(a->name, sizeof a->name, ":g/%c%d", a->type == T_E ? 'r' : a->type == T_L ? 'l' : 's', i);
        at += (size_t)snprintf(tx + at, cap - at,
                               "{:db/ident %s :db/valueType %s :db/cardinality %s%s}", a->name,
                               a->type == T_E ? ":db.type/ref" : a->type == T_L ? ":db.type/long" : ":db.type/string",
                               a->many ? ":db.cardinality/many" : ":db.cardinality/one",
                               rnd(3) == 0 && a->type != T_E ? " :db/index true" : "");
    }
    snprintf(tx + at, cap - at, "{:db/ident :g/id :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}]");
}

static void value(char *out, size_t cap, int type, int nent)
{
    if (type == T_E)
        snprintf(out, cap, "%d", 9 + rnd(nent));  /* entities start after the 8 schema entities */
    else if (type == T_L)
        snprintf(out, cap, "%d", rnd(8));
    else
        snprintf(out, cap, "\"%s\"", words[rnd(6)]);
}

static void make_data(gen *g, char *tx, size_t cap, char *tx2, size_t cap2)
{
    size_t at = 0, at2 = 0;
    char v[32];
    g->nent = 15 + rnd(30);
    at += (size_t)snprintf(tx + at, cap - at, "[");
    for (int e = 0; e < g->nent; e++) {
        at += (size_t)snprintf(tx + at, cap - at, "{:db/id %d :g/id %d", 9 + e, e);
        for (int i = 0; i < g->nattrs; i++) {
            gattr *a = &g->attrs[i];
            int k = rnd(3);
            if (k == 0)
                continue;
            if (a->many && k == 2) {
                at += (size_t)snprintf(tx + at, cap - at, " %s [", a->name);
                for (int j = 0; j < 2; j++) {
                    value(v, sizeof v, a->type, g->nent);
                    at += (size_t)snprintf(tx + at, cap - at, "%s ", v);
                }
                at += (size_t)snprintf(tx + at, cap - at, "]");
            } else {
                value(v, sizeof v, a->type, g->nent);
                at += (size_t)snprintf(tx + at, cap - at, " %s %s", a->name, v);
            }
        }
        at += (size_t)snprintf(tx + at, cap - at, "}");
    }
    snprintf(tx + at, cap - at, "]");
    /* updates and retractions */
    at2 += (size_t)snprintf(tx2 + at2, cap2 - at2, "[");
    for (int k = 0; k < 6; k++) {
        gattr *a = &g->attrs[rnd(g->nattrs)];
        value(v, sizeof v, a->type, g->nent);
        at2 += (size_t)snprintf(tx2 + at2, cap2 - at2, "[%s %d %s %s]", rnd(2) ? ":db/add" : ":db/retract",
                                9 + rnd(g->nent), a->name, v);
    }
    snprintf(tx2 + at2, cap2 - at2, "[:db/retractEntity %d]]", 9 + rnd(g->nent));
}

/* A bound variable of type t, or -1. */
static int pick_bound(gen *g, int t)
{
    int cand[32], n = 0;
    for (int i = 0; i < g->nvars; i++)
        if (g->bound[i] && g->vtype[i] == t)
            cand[n++] = i;
    return n ? cand[rnd(n)] : -1;
}

static int new_var(gen *g, int t)
{
    g->vtype[g->nvars] = t;
    g->bound[g->nvars] = 0;
    return g->nvars++;
}

static const gattr *pick_attr(gen *g, int type)
{
    for (int tries = 0; tries < 50; tries++) {
        const gattr *a = &g->attrs[rnd(g->nattrs)];
        if (type < 0 || a->type == type)
            return a;
    }
    return &g->attrs[0];
}

static void add_clause(gen *g, int ispat, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void add_clause(gen *g, int ispat, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(g->clauses[g->nclauses], sizeof g->clauses[0], fmt, ap);
    va_end(ap);
    g->ispat[g->nclauses++] = ispat;
}

/* [?e :attr v] with e existing or new, v new, joined, or constant. */
static void gen_pattern(gen *g)
{
    const gattr *a = pick_attr(g, -1);
    int e = pick_bound(g, T_E), v, k = rnd(10);
    char c[32];
    if (e < 0 || rnd(10) < 3)
        e = new_var(g, T_E);
    g->bound[e] = 1;
    if (k < 5) {
        v = new_var(g, a->type);
        add_clause(g, 1, "[?v%d %s ?v%d]", e, a->name, v);
        g->bound[v] = 1;
    } else if (k < 7 && (v = pick_bound(g, a->type)) >= 0 && v != e) {
        add_clause(g, 1, "[?v%d %s ?v%d]", e, a->name, v);
    } else {
        value(c, sizeof c, a->type, g->nent);
        add_clause(g, 1, "[?v%d %s %s]", e, a->name, c);
    }
}

static void gen_pred(gen *g)
{
    int v = pick_bound(g, T_L);
    static const char *ops[] = { "<", ">", "<=", ">=", "=", "not=" };
    if (v >= 0) {
        add_clause(g, 0, "[(%s ?v%d %d)]", ops[rnd(6)], v, rnd(8));
        return;
    }
    if ((v = pick_bound(g, T_S)) >= 0) {
        add_clause(g, 0, "[(%s ?v%d \"%s\")]", ops[rnd(6)], v, words[rnd(6)]);
        return;
    }
    if ((v = pick_bound(g, T_E)) >= 0)
        add_clause(g, 0, "[(< ?v%d %d)]", v, 9 + rnd(g->nent));
}

static void gen_fn(gen *g)
{
    int v = pick_bound(g, T_L), out;
    if (v >= 0) {
        out = new_var(g, T_L);
        add_clause(g, 0, "[(%s ?v%d %d) ?v%d]", rnd(2) ? "+" : "*", v, rnd(3), out);
        g->bound[out] = 1;
    } else if ((v = pick_bound(g, T_S)) >= 0) {
        out = new_var(g, T_S);
        add_clause(g, 0, "[(str ?v%d \"%s\") ?v%d]", v, words[rnd(6)], out);
        g->bound[out] = 1;
    }
}

static void gen_not(gen *g)
{
    int e = pick_bound(g, T_E);
    const gattr *a = pick_attr(g, -1), *r = pick_attr(g, T_E), *b = pick_attr(g, T_L);
    char c[32];
    if (e < 0)
        return;
    value(c, sizeof c, a->type, g->nent);
    switch (rnd(3)) {
    case 0:
        add_clause(g, 0, "(not [?v%d %s %s])", e, a->name, c);
        break;
    case 1:
        add_clause(g, 0, "(not [?v%d %s ?x%d] [(> ?x%d %d)])", e, b->name, g->nclauses, g->nclauses, rnd(8));
        break;
    default:
        add_clause(g, 0, "(not-join [?v%d] [?v%d %s ?y%d] [?y%d %s %s])", e, e, r->name, g->nclauses, g->nclauses,
                   a->name, c);
        break;
    }
}

static void gen_or(gen *g)
{
    int e = pick_bound(g, T_E);
    const gattr *a = pick_attr(g, -1), *b = pick_attr(g, -1), *l = pick_attr(g, T_L);
    char c1[32], c2[32];
    if (e < 0)
        return;
    value(c1, sizeof c1, a->type, g->nent);
    value(c2, sizeof c2, b->type, g->nent);
    if (rnd(2)) {
        add_clause(g, 0, "(or [?v%d %s %s] [?v%d %s %s])", e, a->name, c1, e, b->name, c2);
    } else {
        add_clause(g, 0, "(or-join [?v%d] (and [?v%d %s ?z%d] [(< ?z%d %d)]) [?v%d %s %s])", e, e, l->name,
                   g->nclauses, g->nclauses, rnd(8), e, b->name, c2);
    }
}

static void gen_rule(gen *g)
{
    int e = pick_bound(g, T_E), f;
    static const char *rules[] = { "reach", "link", "twin" };
    if (e < 0)
        return;
    f = pick_bound(g, T_E);
    if (f < 0 || f == e || rnd(2)) {
        f = new_var(g, T_E);
        g->bound[f] = 1;
    }
    add_clause(g, 0, "(%s ?v%d ?v%d)", rules[rnd(3)], e, f);
}

/* Builds one query into g->buf; *has_input says whether it takes an input. */
static void gen_query(gen *g, int *input_kind, char *input, size_t icap)
{
    int n = 2 + rnd(4), nfind, find[3], agg = rnd(4) == 0, with = rnd(6) == 0;
    size_t at = 0;
    g->nvars = 0;
    g->nclauses = 0;
    *input_kind = rnd(5) == 0 ? 1 + rnd(2) : 0;
    if (*input_kind) {
        /* ?v0 comes from the input: a scalar long, or a collection of them */
        new_var(g, T_L);
        g->bound[0] = 1;
        if (*input_kind == 1)
            snprintf(input, icap, "%d", rnd(8));
        else
            snprintf(input, icap, "[%d %d %d]", rnd(8), rnd(8), rnd(8));
        {
            const gattr *a = pick_attr(g, T_L);
            int e = new_var(g, T_E);
            g->bound[e] = 1;
            add_clause(g, 1, "[?v%d %s ?v0]", e, a->name);
        }
    } else {
        gen_pattern(g);
    }
    for (int i = 0; i < n && g->nclauses < 14; i++) {
        int k = rnd(20);
        if (k < 9)
            gen_pattern(g);
        else if (k < 11)
            gen_pred(g);
        else if (k < 13)
            gen_fn(g);
        else if (k < 15)
            gen_not(g);
        else if (k < 17)
            gen_or(g);
        else
            gen_rule(g);
    }
    /* find: 1 to 3 bound variables, or an aggregate */
    nfind = 0;
    for (int tries = 0; tries < 10 && nfind < 1 + rnd(3); tries++) {
        int v = rnd(g->nvars), dup = 0;
        if (!g->bound[v])
            continue;
        for (int j = 0; j < nfind; j++)
            dup |= find[j] == v;
        if (!dup)
            find[nfind++] = v;
    }
    if (nfind == 0)
        find[nfind++] = 1;  /* ?v1: bound by the first pattern */
    at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, "[:find");
    if (agg && nfind >= 1) {
        static const char *aggs[] = { "count", "count-distinct", "min", "max" };
        int l = -1;
        for (int j = 0; j < g->nvars && l < 0; j++)
            if (g->bound[j] && g->vtype[j] == T_L && j != find[0])
                l = j;
        if (nfind > 1)
            at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, " ?v%d", find[1]);
        if (l >= 0 && rnd(2))
            at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, " (%s ?v%d)", rnd(2) ? "sum" : "max", l);
        else
            at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, " (%s ?v%d)", aggs[rnd(4)], find[0]);
        if (with) {
            int w = -1;
            for (int j = 0; j < g->nvars && w < 0; j++)
                if (g->bound[j] && g->vtype[j] == T_E && (nfind < 2 || j != find[1]))
                    w = j;
            if (w >= 0)
                at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, " :with ?v%d", w);
        }
    } else {
        for (int j = 0; j < nfind; j++)
            at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, " ?v%d", find[j]);
    }
    at += (size_t)snprintf(g->buf + at, sizeof g->buf - at, " :in $ %%%s :where",
                           *input_kind == 1 ? " ?v0" : *input_kind == 2 ? " [?v0 ...]" : "");
    g->len = at;
}

/* Appends the clauses: in written order, or with the patterns shuffled. */
static void finish_query(gen *g, char *out, size_t cap, int shuffle)
{
    int order[16], n = 0, np = 0;
    size_t at = (size_t)snprintf(out, cap, "%s", g->buf);
    if (shuffle) {
        /* patterns have no order constraint in written-order checks, and
         * every other clause stays after all of them */
        for (int i = 0; i < g->nclauses; i++)
            if (g->ispat[i])
                order[np++] = i;
        for (int i = np - 1; i > 0; i--) {
            int j = rnd(i + 1), t = order[i];
            order[i] = order[j];
            order[j] = t;
        }
        n = np;
        for (int i = 0; i < g->nclauses; i++)
            if (!g->ispat[i])
                order[n++] = i;
    } else {
        for (int i = 0; i < g->nclauses; i++)
            order[n++] = i;
    }
    for (int i = 0; i < n; i++)
        at += (size_t)snprintf(out + at, cap - at, " %s", g->clauses[order[i]]);
    snprintf(out + at, cap - at, "]");
}

static const char *rules_edn = "[[(reach ?a ?b) [?a :g/r0 ?b]] [(reach ?a ?b) [?a :g/r0 ?x] (reach ?x ?b)]"
                               " [(link ?a ?b) [?a :g/r0 ?b]] [(link ?a ?b) [?a :g/r1 ?b]]"
                               " [(twin ?a ?b) [?a :g/l2 ?v] [?b :g/l2 ?v] [(not= ?a ?b)]]]";

static int run_both(const cairn_db *db, const char *q, int input_kind, const char *input, cairn_val rules,
                    cairn_val *out_engine, cairn_val *out_ref, int *rc_engine, int *rc_ref, char *why, size_t whylen)
{
    cairn_val qv = qt_read(q), iv = input_kind ? qt_read(input) : cairn_nil();
    cairn_input in[3];
    cairn_error e1 = CAIRN_ERROR_INIT, e2 = CAIRN_ERROR_INIT;
    size_t n = 2;
    in[0] = cairn_input_db(db);
    in[1] = cairn_input_val(rules);
    if (input_kind)
        in[n++] = cairn_input_val(iv);
    *out_engine = *out_ref = cairn_nil();
    *rc_engine = cairn_q(out_engine, qv, in, n, NULL, &e1);
    *rc_ref = cairn_query__ref_q(out_ref, qv, in, n, &e2);
    snprintf(why, whylen, "engine: %s %s / reference: %s %s", e1.keyword, e1.message, e2.keyword, e2.message);
    cairn_release(qv);
    cairn_release(iv);
    return 0;
}

static int cmp_val(const void *a, const void *b)
{
    return cairn_compare(*(const cairn_val *)a, *(const cairn_val *)b);
}

/* Equal as values, vectors compared as bags (their order is the engine's). */
static int same_answer(cairn_val a, cairn_val b)
{
    cairn_val *x, *y;
    size_t n = cairn_count(a);
    int same = 1;
    if (cairn_type_of(a) != CAIRN_VECTOR || cairn_type_of(b) != CAIRN_VECTOR)
        return cairn_equal(a, b);
    if (n != cairn_count(b))
        return 0;
    x = malloc((n ? n : 1) * sizeof *x);
    y = malloc((n ? n : 1) * sizeof *y);
    for (size_t i = 0; i < n; i++) {
        x[i] = cairn_coll_get(a, i);
        y[i] = cairn_coll_get(b, i);
    }
    qsort(x, n, sizeof *x, cmp_val);
    qsort(y, n, sizeof *y, cmp_val);
    for (size_t i = 0; i < n && same; i++)
        same = cairn_equal(x[i], y[i]);
    free(x);
    free(y);
    return same;
}

static char *show(cairn_val v)
{
    char *s;
    size_t n;
    if (cairn_edn_print(&s, &n, v) != 0)
        return NULL;
    return s;
}

static void one_round(int round, long queries, long *ran, long *failed_both)
{
    gen g;
    char schema[4096], data[16384], data2[2048], id[64], input[64], q[8192], q2[8192], why[600];
    const char *txs[3];
    qt_db d;
    cairn_db *views[3];
    cairn_val rules = qt_read(rules_edn);
    cairn_error err = CAIRN_ERROR_INIT;
    memset(&g, 0, sizeof g);
    make_schema(&g, schema, sizeof schema);
    make_data(&g, data, sizeof data, data2, sizeof data2);
    snprintf(id, sizeof id, "qdiff-%d", round);
    txs[0] = schema;
    txs[1] = data;
    txs[2] = data2;
    d = qt_open(id, "", txs, 3);
    views[0] = cairn_db_retain(d.db);
    CHECK_OK(cairn_db_history(&views[1], d.db, &err));
    CHECK_OK(cairn_db_as_of(&views[2], d.db, cairn_int(cairn_db_max_tx(d.db) - 1), &err));
    for (long k = 0; k < queries; k++) {
        int input_kind, rc1, rc2;
        cairn_val o1, o2;
        const cairn_db *db = views[rnd(10) < 8 ? 0 : 1 + rnd(2)];
        gen_query(&g, &input_kind, input, sizeof input);
        finish_query(&g, q, sizeof q, 0);
        run_both(db, q, input_kind, input, rules, &o1, &o2, &rc1, &rc2, why, sizeof why);
        (*ran)++;
        if (rc1 != 0 || rc2 != 0) {
            CHECK_MSG(rc1 != 0 && rc2 != 0, "one evaluator failed:\n  %s\n  %s (input %s)", q, why,
                      input_kind ? input : "-");
            (*failed_both)++;
        } else if (!same_answer(o1, o2)) {
            char *s1 = show(o1), *s2 = show(o2);
            CHECK_MSG(0, "answers differ:\n  %s (input %s)\n  engine:    %s\n  reference: %s", q,
                      input_kind ? input : "-", s1, s2);
        } else {
            /* the same query with its patterns in another order */
            cairn_val o3;
            int rc3;
            cairn_val unused = cairn_nil();
            finish_query(&g, q2, sizeof q2, 1);
            run_both(db, q2, input_kind, input, rules, &o3, &unused, &rc3, &rc2, why, sizeof why);
            CHECK_MSG(rc3 == 0 && same_answer(o1, o3), "reordering changed the answer:\n  %s\n  %s\n  %s", q, q2, why);
            cairn_release(o3);
            cairn_release(unused);
        }
        cairn_release(o1);
        cairn_release(o2);
    }
    for (int i = 0; i < 3; i++)
        cairn_db_release(views[i]);
    cairn_release(rules);
    qt_close(&d);
}

void test_query_differential__engine_matches_reference(void)
{
    long ran = 0, failed_both = 0, rounds = ROUNDS * test_scale();
    for (long r = 0; r < rounds; r++)
        one_round((int)r, QUERIES, &ran, &failed_both);
    CHECK(ran == rounds * QUERIES);
    /* most generated queries must be valid, or the test tests little */
    CHECK_MSG(failed_both * 4 < ran, "%ld of %ld queries failed in both evaluators", failed_both, ran);
    fprintf(stderr, "differential: %ld queries, %ld rejected by both\n", ran, failed_both);
}
