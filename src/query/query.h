/*
 * The Datalog query engine's internals (DESIGN.md section 6): one header for
 * the pieces of src/query, which run in this order for every query:
 *
 *   parse.c     query form (vector, map, EDN string) -> qquery (the AST),
 *               with Datahike's :parser/... errors;
 *   plan.c      qquery + inputs -> qplan: clause order chosen by cost from
 *               cardinality estimates (subtree counts, small samples), index
 *               choice, projections; `explain` prints it;
 *   scan.c      data patterns against databases and collections: index
 *               prefix scans, sorted probes with forward seeks, hash joins;
 *   exec.c      the other steps (predicates, function bindings, not, or)
 *               and the loop that runs a plan over a relation;
 *   rules.c     rule calls: demand-driven semi-naive fixpoint;
 *   find.c      projection, aggregates, result shapes, pull;
 *   builtins.c  the functions callable in predicates and bindings;
 *   q.c         cairn_q, cairn_q_edn, cairn_explain: inputs and the driver.
 *
 * Values during execution are cells (qcell, 64 bits): integers in
 * [-2^62, 2^62) inline, every other value an index into the query's value
 * dictionary (qdict), which keeps one entry per distinct value. Equal values
 * therefore have equal cells, and joins, dedup and grouping compare and hash
 * 64-bit words only. Values read from an index are interned by their encoded
 * bytes, so a string met a million times is decoded once.
 *
 * Relations (qrel) are row-major arrays of cells with one variable per
 * column. Every step of a plan takes the relation built so far and returns
 * the next one; columns that no later step needs are dropped as soon as
 * possible.
 *
 * Rejected: relations of cairn_val tuples (a reference count and a type
 * switch per cell per join, and Clojure hashing on every probe); pipelined
 * tuple-at-a-time iterators (simpler memory, but they hide the relation
 * sizes the executor needs to pick probes over scans at run time).
 */
#ifndef CAIRN_QUERY_QUERY_H
#define CAIRN_QUERY_QUERY_H

#include <time.h>

#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "db/db.h"
#include "edn/value.h"

/* ------------------------------------------------------------------------ */
/* Cells and the value dictionary (dict.c)                                  */
/* ------------------------------------------------------------------------ */

typedef uint64_t qcell;

#define QCELL_INT_MIN (-((int64_t)1 << 62))
#define QCELL_INT_MAX (((int64_t)1 << 62) - 1)
#define QCELL_NONE UINT64_MAX  /* "no value" marker in key arrays (never a real cell) */

static inline int qcell_is_int(qcell c) { return (c & 1) == 0; }
static inline int64_t qcell_int(qcell c) { return (int64_t)c >> 1; }
static inline qcell qcell_of_int(int64_t i) { return (qcell)((uint64_t)i << 1); }
static inline int qcell_int_fits(int64_t i) { return i >= QCELL_INT_MIN && i <= QCELL_INT_MAX; }

typedef struct qdict_slot {
    uint64_t hash;  /* full hash; 0 = empty */
    uint32_t idx;   /* entry */
} qdict_slot;

typedef struct qdict {
    cairn_val *vals;       /* entries (owned references) */
    uint32_t *enc_off;     /* entry's encoded bytes in enc, UINT32_MAX = not yet */
    uint32_t *enc_len;     /* ... and their length */
    size_t count;          /* entries */
    size_t cap;            /* room */
    qdict_slot *by_val;    /* value hash -> entry */
    qdict_slot *by_enc;    /* encoded-bytes hash -> entry */
    size_t val_cap;        /* slots of by_val (power of two) */
    size_t enc_cap;        /* slots of by_enc */
    size_t enc_count;      /* entries in by_enc */
    cairn_buf enc;         /* encoded bytes of entries */
    cairn_buf tmp;         /* scratch for encoding */
} qdict;

void qdict_init(qdict *d);
void qdict_dispose(qdict *d);
/* The cell of v (interned: the dictionary keeps its own reference). */
int qdict_cell(qdict *d, qcell *out, cairn_val v);
/* The cell of the value encoded as p[0..len) (datom value bytes). */
int qdict_cell_enc(qdict *d, qcell *out, const uint8_t *p, size_t len);
/* The value of a cell: a scalar for integers, else borrowed from d. */
cairn_val qdict_val(const qdict *d, qcell c);
/* Appends the index encoding of c's value to b: 0, CAIRN_EINVALID when the
 * value cannot be stored (nil), CAIRN_ENOMEM. */
int qdict_enc(qdict *d, qcell c, cairn_buf *b);
/* Cell of the boolean b (cached). */
int qdict_bool(qdict *d, qcell *out, int b);

/* ------------------------------------------------------------------------ */
/* Variable sets                                                            */
/* ------------------------------------------------------------------------ */

#define QMAX_VARS 512  /* variables in one scope (query or rule) */

typedef struct qvset {
    uint64_t w[QMAX_VARS / 64];  /* bit i = variable i */
} qvset;

static inline void qv_add(qvset *s, int v) { s->w[v >> 6] |= (uint64_t)1 << (v & 63); }
static inline void qv_del(qvset *s, int v) { s->w[v >> 6] &= ~((uint64_t)1 << (v & 63)); }
static inline int qv_has(const qvset *s, int v) { return v >= 0 && ((s->w[v >> 6] >> (v & 63)) & 1); }
void qv_clear(qvset *s);
void qv_union(qvset *a, const qvset *b);
void qv_inter(qvset *a, const qvset *b);
void qv_minus(qvset *a, const qvset *b);
int qv_subset(const qvset *a, const qvset *b);   /* a within b */
int qv_meets(const qvset *a, const qvset *b);    /* a and b share a variable */
int qv_empty(const qvset *a);
int qv_count(const qvset *a);
int qv_equal(const qvset *a, const qvset *b);
/* Next variable >= from in s, or -1. */
int qv_next(const qvset *s, int from);

/* ------------------------------------------------------------------------ */
/* Relations (rel.c)                                                        */
/* ------------------------------------------------------------------------ */

#define QREL_MAX_ROWS ((size_t)UINT32_MAX - 1)

typedef struct qrel {
    qcell *rows;    /* nrows * ncols cells, row-major (cairn_malloc) */
    size_t nrows;   /* rows */
    size_t cap;     /* room, in rows */
    int ncols;      /* columns */
    int *vars;      /* variable of each column (cairn_malloc, may be NULL when ncols = 0) */
    int distinct;   /* known to hold no duplicate rows (lets the result skip a dedup) */
} qrel;

#define QREL_INIT { NULL, 0, 0, 0, NULL, 0 }

int qrel_init(qrel *r, int ncols, const int *vars);
/* The relation with no columns and one row (the join identity). */
int qrel_unit(qrel *r);
void qrel_dispose(qrel *r);
/* Room for n more rows. */
int qrel_reserve(qrel *r, size_t n);
/* A new row to fill (NULL when out of memory or too many rows). */
qcell *qrel_add(qrel *r);
int qrel_push(qrel *r, const qcell *row);
/* Row i; rows of a relation without columns (or storage) are one shared
 * empty row, never NULL + offset. */
extern qcell qrel__none[1];
static inline qcell *qrel_row(const qrel *r, size_t i)
{
    return r->rows ? r->rows + i * (size_t)r->ncols : qrel__none;
}
/* Column of var, or -1. */
int qrel_col(const qrel *r, int var);
/* Moves src into dst (dst disposed first); src becomes empty. */
void qrel_move(qrel *dst, qrel *src);
/* Removes duplicate rows (order kept). */
int qrel_dedup(qrel *r);
/* out = the distinct rows of in projected on vars (which in must have). */
int qrel_project(qrel *out, const qrel *in, const int *vars, int nvars, int distinct);

uint64_t qhash_cells(const qcell *row, const int *cols, int n);

/*
 * A hash multimap from key cells to rows of a relation, for joins, dedup and
 * semi/anti joins. Keys are read from the relation's rows (cols), so the
 * relation may grow after building and rows are then added with
 * qindex_add. Chains keep insertion order.
 */
typedef struct qindex {
    uint32_t *heads;  /* per bucket: first row + 1, 0 = none */
    uint32_t *tails;  /* per bucket: last row + 1 */
    uint32_t *next;   /* per row: next row + 1 in the chain */
    uint64_t *hashes; /* per row: its key hash */
    size_t nb;        /* buckets (power of two) */
    size_t nrows;     /* rows indexed */
    size_t room;      /* room in next/hashes */
    int ncols;        /* key columns */
    int *cols;        /* their positions in the relation (owned copy) */
} qindex;

int qindex_init(qindex *ix, const int *cols, int ncols);
void qindex_dispose(qindex *ix);
/* Adds rows [ix->nrows, r->nrows) of r. */
int qindex_add(qindex *ix, const qrel *r);
/* First row of r whose key cells equal key (given in key-column order), as
 * row + 1, or 0; then qindex_next for the following ones. */
uint32_t qindex_find(const qindex *ix, const qrel *r, const qcell *key, uint64_t hash);
uint32_t qindex_next(const qindex *ix, const qrel *r, uint32_t at, const qcell *key);

/* A set of rows by all their cells: 1 when row was added, 0 when present. */
typedef struct qrowset {
    qrel rel;         /* the distinct rows */
    qindex ix;        /* over all columns */
} qrowset;

int qrowset_init(qrowset *s, int ncols, const int *vars);
void qrowset_dispose(qrowset *s);
int qrowset_add(qrowset *s, const qcell *row);
int qrowset_has(const qrowset *s, const qcell *row);

/* ------------------------------------------------------------------------ */
/* The parsed query (parse.c)                                               */
/* ------------------------------------------------------------------------ */

typedef enum qterm_kind {
    QT_BLANK = 0,  /* _ */
    QT_VAR,        /* ?x */
    QT_CONST,      /* a literal */
    QT_SRC         /* $ or $name, as a function argument */
} qterm_kind;

typedef struct qterm {
    uint8_t kind;     /* qterm_kind */
    int id;           /* QT_VAR: variable; QT_SRC: source */
    cairn_val val;    /* QT_CONST: the literal (borrowed from the query form) */
} qterm;

typedef enum qbind_kind {
    QB_BLANK = 0,  /* _ */
    QB_VAR,        /* ?x */
    QB_TUPLE,      /* [?a ?b] */
    QB_COLL,       /* [?a ...] */
    QB_REL         /* [[?a ?b]] */
} qbind_kind;

typedef struct qbind {
    uint8_t kind;          /* qbind_kind */
    int var;               /* QB_VAR */
    int n;                 /* TUPLE: elements; COLL, REL: 1 */
    struct qbind *kids;    /* TUPLE: the elements; COLL: the element; REL: the tuple */
} qbind;

typedef enum qclause_kind {
    QC_PATTERN = 1,  /* [$? e a v tx added] */
    QC_PRED,         /* [(f args)] */
    QC_FN,           /* [(f args) binding] */
    QC_CALL,         /* (rule args) */
    QC_NOT,          /* (not ...) / (not-join [vars] ...) */
    QC_OR,           /* (or ...) / (or-join [vars] ...) */
    QC_AND           /* (and ...), only as an or branch */
} qclause_kind;

struct qbuiltin;
typedef struct qclause qclause;

/* A conjunction of clauses. */
typedef struct qbody {
    qclause *c;     /* clauses */
    int n;          /* count */
} qbody;

struct qclause {
    uint8_t kind;                /* qclause_kind */
    int src;                     /* source, -1 = the scope's default */
    cairn_val form;              /* as written (borrowed), for messages */
    qterm *terms;                /* PATTERN: e a v tx added; PRED/FN/CALL: arguments */
    int nterms;                  /* their count */
    const struct qbuiltin *fn;   /* PRED/FN: the function, NULL when fnvar >= 0 */
    int fnvar;                   /* PRED/FN: variable holding the function, or -1 */
    qbind out;                   /* FN: the binding */
    int rule;                    /* CALL: index in qquery.rules */
    int *join;                   /* NOT/OR with explicit vars: the vars */
    int njoin;                   /* their count (-1: implicit) */
    int nreq;                    /* OR: required vars (first nreq of join) */
    qbody *branches;             /* NOT: one body; OR: the branches */
    int nbranches;               /* their count */
    qvset vars;                  /* every variable in the clause, nested ones too */
    int textual;                 /* position in its body as written */
};

/* One definition (body) of a rule. */
typedef struct qrule_def {
    int nargs;          /* head arity */
    int nreq;           /* required-bound head vars (the first nreq) */
    int *head;          /* head variables */
    qbody body;         /* the clauses */
    int nvars;          /* variables of its scope */
    const cairn_ident **names;  /* names of those variables */
} qrule_def;

typedef struct qrule {
    cairn_val name;     /* the rule's symbol */
    qrule_def *defs;    /* definitions */
    int ndefs;          /* their count */
    int anon;           /* made from an or clause, not user-defined */
} qrule;

typedef enum qfind_kind { QF_REL = 0, QF_SCALAR, QF_COLL, QF_TUPLE } qfind_kind;
typedef enum qelem_kind { QE_VAR = 0, QE_AGG, QE_PULL } qelem_kind;

struct qagg;

typedef struct qelem {
    uint8_t kind;             /* qelem_kind */
    int var;                  /* VAR: the variable; AGG: its (last) argument; PULL: the entity */
    const struct qagg *agg;   /* AGG: the aggregate */
    qterm param;              /* AGG: (min n ?x): n (QT_CONST / QT_VAR), else QT_BLANK */
    int aggfn;                /* AGG: (aggregate ?f ?x): ?f, else -1 */
    int src;                  /* PULL: source */
    cairn_val pattern;        /* PULL: literal pattern, or nil */
    int pattern_var;          /* PULL: pattern bound through :in, or -1 */
} qelem;

typedef enum qin_kind { QI_SRC = 0, QI_RULES, QI_BIND } qin_kind;

typedef struct qin {
    uint8_t kind;   /* qin_kind */
    int src;        /* QI_SRC: source index */
    qbind bind;     /* QI_BIND: the binding */
} qin;

typedef struct qquery {
    cairn_val form;             /* the query form (owned reference) */
    uint8_t find_kind;          /* qfind_kind */
    qelem *find;                /* find elements */
    int nfind;                  /* count */
    int keys_kind;              /* 0 none, 1 :keys, 2 :strs, 3 :syms */
    cairn_val *keys;            /* nfind names (borrowed from form) */
    int *with;                  /* :with variables */
    int nwith;                  /* their count */
    qin *in;                    /* :in bindings */
    int nin;                    /* their count */
    qbody where;                /* :where clauses */
    const cairn_ident **names;  /* variable names of the query scope */
    int nvars;                  /* variables */
    int cap_vars;               /* room in names */
    const cairn_ident **srcs;   /* source names ($, $2, ...) */
    int nsrc;                   /* their count */
    qrule *rules;               /* rules (from %, plus anonymous or-rules) */
    int nrules;                 /* their count */
    int cap_rules;              /* room */
    int has_rules_input;        /* :in has % */
    int has_aggregates;         /* some find element is an aggregate */
    cairn_val owned[4];         /* values read from strings (rules), released with the query */
    int nowned;                 /* their count */
} qquery;

/*
 * Parses form (vector, map, or a list with a leading quote) into q,
 * allocating from arena. List clauses stay unresolved calls until the rule
 * sets of the % inputs are parsed (cairn_query__parse_rules) and
 * cairn_query__resolve runs.
 */
int cairn_query__parse(qquery *q, cairn_arena *arena, cairn_val form, cairn_error *err);
/* Parses a rule set (vector of rules, or EDN string) into q.rules. */
int cairn_query__parse_rules(qquery *q, cairn_arena *arena, cairn_val rules, cairn_error *err);
/* Second phase after rules are known: resolves calls, checks, rewrites or
 * clauses that call rules into anonymous rules. */
int cairn_query__resolve(qquery *q, cairn_arena *arena, cairn_error *err);
void cairn_query__dispose(qquery *q);

/* Prints a variable name or a form into b (for messages). */
void cairn_query__show(cairn_buf *b, cairn_val form);

/* ------------------------------------------------------------------------ */
/* Built-in functions (builtins.c)                                          */
/* ------------------------------------------------------------------------ */

struct qx;
struct qsource;

typedef int (*qfn_impl)(cairn_val *out, struct qx *x, const cairn_val *args, int nargs,
                        struct qsource *const *srcs);

typedef struct qbuiltin {
    const char *name;   /* symbol text */
    qfn_impl fn;        /* implementation */
    int min_args;       /* arity bounds ... */
    int max_args;       /* ... (-1 = variadic) */
    int flags;          /* QFN_* below */
} qbuiltin;

enum {
    QFN_PURE = 1,        /* no side effects, deterministic */
    QFN_SOURCE = 2,      /* takes a source as first argument */
    QFN_CMP = 4,         /* comparison predicate: fast paths on cells */
    QFN_NOT_FN = 8       /* name exists but is not callable as a function (min, max) */
};

/* The builtin named sym (NULL if none). */
const qbuiltin *cairn_query__builtin(cairn_val sym);
/* Truthiness as Clojure: everything but nil and false. */
static inline int qtruthy(cairn_val v)
{
    return !(cairn_type_of(v) == CAIRN_NIL || (cairn_type_of(v) == CAIRN_BOOL && !cairn_bool_value(v)));
}
/* Clojure's compare: <0, 0, >0; CAIRN_EINVALID in *rc for incomparable values. */
int cairn_query__compare(cairn_val a, cairn_val b, int *rc);
/* Which comparison a QFN_CMP builtin is: '<' 'L'(<=) '>' 'G'(>=) '=' '!' ('not=') 'N' (==). */
int cairn_query__cmp_op(const qbuiltin *b);

/* Regular expressions (regex.c): Java-flavoured subset. */
typedef struct qregex qregex;
int cairn_query__regex_compile(qregex **out, const char *pat, size_t len, cairn_error *err);
void cairn_query__regex_free(qregex *re);
/* Finds the first match in s at or after start: 1 and groups (2 * (ngroups+1)
 * offsets, -1 for unset) filled, 0 for none, or an error (step limit). */
int cairn_query__regex_exec(const qregex *re, const char *s, size_t len, size_t start, int anchored_full,
                            long *groups);
int cairn_query__regex_ngroups(const qregex *re);

/* A regex value: a TAGGED value with tag cairn.query/regex over the pattern
 * string; compiled regexes are cached by the query (x->regexes). */
int cairn_query__regex_value(cairn_val *out, cairn_val pattern);
int cairn_query__regex_get(const qregex **out, struct qx *x, cairn_val v);

/* ------------------------------------------------------------------------ */
/* Aggregates (find.c)                                                      */
/* ------------------------------------------------------------------------ */

typedef struct qagg {
    const char *name;   /* symbol text */
    int nparams;        /* 1 when it takes a leading n: (max n ?x) */
    int opt_param;      /* the n is optional: (rand ?x) / (rand n ?x) */
} qagg;

const qagg *cairn_query__aggregate(cairn_val sym);

/* ------------------------------------------------------------------------ */
/* Execution context                                                        */
/* ------------------------------------------------------------------------ */

typedef struct qsource {
    const cairn_db *db;     /* database, or NULL */
    cairn_val coll;         /* collection source (borrowed), when db is NULL */
    int present;            /* given in the inputs */
    int64_t datoms;         /* total datoms (planning), -1 = unknown */
} qsource;

struct qfix;
struct qplan;

typedef struct qx {
    qquery *q;               /* the query */
    cairn_arena *arena;      /* plans and small things */
    qdict dict;              /* values */
    qsource *srcs;           /* sources by index */
    int nsrc;                /* their count */
    cairn_error *err;        /* where errors go */
    struct timespec deadline;/* timeout, tv_sec = 0: none */
    int has_deadline;        /* deadline is set */
    int (*interrupt)(void *);/* the caller's interrupt poll, or NULL */
    void *interrupt_ctx;     /* ... its argument */
    int watched;             /* a deadline or an interrupt: qx_poll calls qx_tick */
    uint32_t ticks;          /* counts work between clock reads */
    qcell attr_cells[64];    /* cache: attribute id -> keyword cell (by id hash) */
    int64_t attr_ids[64];    /* ... the ids cached */
    const void *attr_schemas[64];  /* ... and the schema they belong to */
    void *regexes;           /* compiled regex cache (builtins.c) */
    void *stats;             /* attribute statistics cache (scan.c, arena) */
    uint64_t rand_state;     /* rand / sample */
    int call_depth;          /* nested fixpoints (rules called inside not/or of rules) */
} qx;

/* 0, or CAIRN_ECANCELED (with :query/canceled) once the deadline passed or
 * the caller's interrupt poll said stop. */
int qx_tick(qx *x);
static inline int qx_poll(qx *x)
{
    if (CAIRN_LIKELY(!x->watched) || (++x->ticks & 1023) != 0)
        return 0;
    return qx_tick(x);
}
int qx_oom(qx *x);

/* The keyword cell of attribute id a of db. */
int qx_attr_cell(qx *x, qcell *out, const cairn_db *db, int64_t a);
/* Resolves a value used as an entity (id, lookup ref, ident) in src's db:
 * *out = the entity id, 0 when it names nothing. */
int qx_entid(qx *x, int64_t *out, const qsource *src, qcell c);

/* ------------------------------------------------------------------------ */
/* Plans (plan.c)                                                           */
/* ------------------------------------------------------------------------ */

typedef enum qstep_kind {
    QS_PATTERN = 1,  /* data pattern join */
    QS_FILTER,       /* predicate */
    QS_BIND,         /* function binding */
    QS_NOT,          /* anti-join */
    QS_OR,           /* union of branches, joined */
    QS_CALL,         /* rule call */
    QS_EMPTY         /* a clause that can never match: the result is empty */
} qstep_kind;

typedef struct qplan qplan;

typedef struct qstep {
    uint8_t kind;           /* qstep_kind */
    const qclause *c;       /* the clause */
    int src;                /* effective source */
    qvset before;           /* variables bound when it runs */
    qvset keep;             /* variables to keep after it */
    double est;             /* estimated rows after it */
    qplan *sub;             /* NOT: 1 plan; OR: one per branch */
    int nsub;               /* their count */
    int *join;              /* NOT/OR: variables shared with the outer relation */
    int njoin;              /* their count */
    int *outs;              /* OR: variables the branches bind */
    int nouts;              /* their count */
    uint64_t adorn;         /* CALL: bound argument positions */
    int no_answers;         /* CALL: a required var is not bound as written: empty */
    const qterm *lo, *hi;   /* PATTERN: range predicates on v pushed into AVET bounds (or NULL) */
} qstep;

struct qplan {
    qstep *steps;           /* in run order */
    int n;                  /* their count */
    int src;                /* default source */
    qvset in;               /* variables bound on input */
    qvset out;              /* variables the result must have */
    int nvars;              /* scope size */
    const cairn_ident **names;  /* variable names (for explain) */
};

/*
 * Plans body for a scope of nvars variables: in = variables bound on input
 * (est_in rows), out = variables needed in the result; src is the default
 * source. The plan is allocated from the query's arena.
 */
int cairn_query__plan(qplan **out, qx *x, const qbody *body, int src, const qvset *in, double est_in,
                      const qvset *outvars, int nvars, const cairn_ident **names);
/* Appends the plan as text (explain). */
void cairn_query__plan_print(cairn_buf *b, qx *x, const qplan *p, int indent);

/* ------------------------------------------------------------------------ */
/* Execution (exec.c, scan.c, rules.c)                                      */
/* ------------------------------------------------------------------------ */

/* Runs plan p over *rel (consumed), leaving the result in *out with exactly
 * the variables of p->out, in increasing variable order. */
int cairn_query__run(qx *x, const qplan *p, qrel *rel, qrel *out);
/* Runs steps [from, n) of p over *rel (consumed) into *out. When br (a rule
 * body inside a fixpoint) is not NULL, CALL steps are the fixpoint's
 * stateful joins (rules.c). */
struct qbodyrun;
int cairn_query__run_from(qx *x, const qplan *p, int from, qrel *rel, qrel *out, struct qbodyrun *br);

/* A data pattern step, over a database or a collection source (scan.c). */
int cairn_query__pattern(qx *x, const qstep *s, qrel *in, qrel *out);

/* Estimated rows of a pattern given bound variables (scan.c). */
double cairn_query__pattern_estimate(qx *x, const qclause *c, int src, const qvset *bound, double rows_in);
/* The access path the pattern will take (static text, for explain). */
const char *cairn_query__pattern_access(qx *x, const qclause *c, int src, const qvset *bound, const qterm *lo,
                                        const qterm *hi);
/* Estimated rows of a pattern whose v lies in [lo, hi] (terms may be NULL),
 * or -1 when an AVET range cannot serve it. */
double cairn_query__range_estimate(qx *x, const qclause *c, int src, const qvset *bound, const qterm *lo,
                                   const qterm *hi, double rows_in);

/* A rule call step outside any fixpoint: runs one to completion (rules.c). */
int cairn_query__call(qx *x, const qstep *s, int src, qrel *in, qrel *out);
/* A rule call step inside a fixpoint body (rules.c). */
int cairn_query__call_in_fix(qx *x, struct qbodyrun *br, int step, qrel *in, qrel *out);
/* Plans (for explain) the rules a plan calls, recursively. */
int cairn_query__explain_rules(qx *x, const qplan *p, cairn_buf *b);

/* out = l join r on shared variables, keeping `keep` (exec.c). */
int cairn_query__join(qx *x, const qrel *l, const qrel *r, const qvset *keep, qrel *out);
/* Clojure arithmetic on two numbers (builtins.c): op 0 +, 1 -, 2 *, 3 /. */
int cairn_query__arith(cairn_val *out, qx *x, int op, cairn_val a, cairn_val b);
/* Frees the query's compiled regexes (builtins.c). */
void cairn_query__regex_cache_free(qx *x);
/* The rows binding value v through b gives (an :in binding); exec.c. */
int cairn_query__bind_input(qx *x, const qbind *b, cairn_val v, qrel *out);
/* Calls a builtin or a function value on cell arguments (exec.c). */
int cairn_query__apply(qx *x, const qclause *c, const qcell *row, const qrel *rel, cairn_val *out, int *is_err);

/* Result building (find.c): F holds at least the find, with and pull vars. */
int cairn_query__result(qx *x, qrel *f, const cairn_query_opts *opts, cairn_val *out);

/* The naive reference evaluator (refeval.c): evaluates q's :where from the
 * input relation into result (columns vars). */
int cairn_query__ref_eval(qx *x, qquery *q, const qrel *init, qrel *result, const int *vars, int nvars);
/* cairn_q through the reference evaluator (q.c), for differential tests. */
int cairn_query__ref_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs,
                       cairn_error *err);

#endif
