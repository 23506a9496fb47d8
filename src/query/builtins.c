/*
 * The functions a query can call in predicates and function bindings, with
 * Clojure's semantics where Datahike inherits them: value equality (= 1 1.0
 * is false), numeric equality (== 1 1.0 is true), integer division into
 * ratios ((/ 30 4) is 15/2), compare returning String.compareTo's character
 * differences, str printing keywords with their colon, and the Datomic
 * helpers get-else, get-some, missing?, ground, tuple, untuple.
 *
 * Numbers: INT arithmetic checks overflow (Clojure throws "integer
 * overflow"); RATIO is exact over int64 and falls back to double when a
 * numerator or denominator overflows; FLOAT takes part as a double; BIGINT
 * takes part when it fits in int64 and comes out as BIGINT; BIGDEC takes
 * part as a double. That covers what Datahike's answers contain without a
 * bignum library.
 *
 * Errors: a type error returns CAIRN_EINVALID with a message; a predicate
 * treats that as false (Datahike swallows ClassCastException there), a
 * function binding fails the query.
 *
 * Not provided: JVM interop (.method calls, arbitrary clojure.core via
 * resolve), `q` nested queries, and min/max as functions — Datahike resolves
 * those names to its aggregates and throws ("Don't know how to create ISeq
 * from: java.lang.Long"), so they are errors here too.
 */
#include "query/query.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "db/key.h"
#include "edn/edn.h"

#define FN(name) static int name(cairn_val *out, qx *x, const cairn_val *a, int n, qsource *const *srcs)
#define UNUSED_FN_ARGS (void)x, (void)a, (void)n, (void)srcs

static int type_err(qx *x, const char *fn, cairn_val v)
{
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_buf_printf(&b, "%s: wrong argument type: ", fn);
    cairn_query__show(&b, v);
    cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s", b.ptr ? b.ptr : "wrong argument type");
    cairn_buf_dispose(&b);
    return CAIRN_EINVALID;
}

static int oom(qx *x)
{
    return qx_oom(x);
}

static int make_string(qx *x, cairn_val *out, const char *s, size_t len)
{
    int rc = cairn_string(out, s, len);
    if (rc == CAIRN_ENOMEM)
        return oom(x);
    if (rc < 0)
        return cairn_error_set(x->err, rc, ":query/where", "invalid string");
    return 0;
}

/* ---- numbers ---------------------------------------------------------------------- */

typedef struct num {
    int kind;        /* 0 int, 1 ratio, 2 double, 3 bigint (int64 value) */
    int64_t i;       /* int / numerator */
    int64_t d;       /* denominator (ratio) */
    double f;        /* double */
} num;

/* The number v as a num; 0 when v is not a number. */
static int num_of(cairn_val v, num *o)
{
    memset(o, 0, sizeof *o);
    switch (cairn_type_of(v)) {
    case CAIRN_INT:
        o->i = cairn_int_value(v);
        return 1;
    case CAIRN_RATIO:
        o->kind = 1;
        cairn_ratio_parts(v, &o->i, &o->d);
        return 1;
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
        o->kind = 2;
        o->f = cairn_double_value(v);
        return 1;
    case CAIRN_BIGINT:
        if (cairn_bigint_to_int64(v, &o->i)) {
            o->kind = 3;
            return 1;
        }
        o->kind = 2;
        o->f = (double)cairn_number_approx(v);
        return 1;
    case CAIRN_BIGDEC:
        o->kind = 2;
        o->f = (double)cairn_number_approx(v);
        return 1;
    default:
        return 0;
    }
}

static int to_num(qx *x, const char *fn, cairn_val v, num *o)
{
    return num_of(v, o) ? 0 : type_err(x, fn, v);
}

static double num_f(const num *a)
{
    return a->kind == 2 ? a->f : a->kind == 1 ? (double)a->i / (double)a->d : (double)a->i;
}

static int from_num(qx *x, cairn_val *out, const num *r)
{
    int rc;
    switch (r->kind) {
    case 0:
        *out = cairn_int(r->i);
        return 0;
    case 1:
        rc = cairn_ratio(out, r->i, r->d);
        return rc == CAIRN_ENOMEM ? oom(x) : rc;
    case 3: {
        char buf[32];
        size_t len = (size_t)snprintf(buf, sizeof buf, "%lld", (long long)r->i);
        rc = cairn_bigint(out, buf, len);
        return rc == CAIRN_ENOMEM ? oom(x) : rc;
    }
    default:
        *out = cairn_double(r->f);
        return 0;
    }
}

static int overflow(qx *x)
{
    return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "integer overflow");
}

/* Exact ratio num/den from two int64 products; falls back to double. */
static void ratio_set(num *r, __int128 nu, __int128 de)
{
    __int128 g;
    if (de < 0) {
        nu = -nu;
        de = -de;
    }
    {
        __int128 a = nu < 0 ? -nu : nu, b = de;
        while (b) {
            __int128 t = a % b;
            a = b;
            b = t;
        }
        g = a ? a : 1;
    }
    nu /= g;
    de /= g;
    if (nu > INT64_MAX || nu < INT64_MIN || de > INT64_MAX) {
        r->kind = 2;
        r->f = (double)nu / (double)de;
        return;
    }
    if (de == 1) {
        r->kind = 0;
        r->i = (int64_t)nu;
        return;
    }
    r->kind = 1;
    r->i = (int64_t)nu;
    r->d = (int64_t)de;
}

enum { OP_ADD, OP_SUB, OP_MUL, OP_DIV };

static int num_op(qx *x, int op, const num *a, const num *b, num *r)
{
    int big = a->kind == 3 || b->kind == 3;
    memset(r, 0, sizeof *r);
    if (a->kind == 2 || b->kind == 2) {
        double p = num_f(a), q = num_f(b);
        r->kind = 2;
        r->f = op == OP_ADD ? p + q : op == OP_SUB ? p - q : op == OP_MUL ? p * q : p / q;
        return 0;
    }
    if (a->kind == 1 || b->kind == 1 || op == OP_DIV) {
        __int128 an = a->i, ad = a->kind == 1 ? a->d : 1, bn = b->i, bd = b->kind == 1 ? b->d : 1;
        if (op == OP_DIV && bn == 0)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Divide by zero");
        switch (op) {
        case OP_ADD: ratio_set(r, an * bd + bn * ad, ad * bd); break;
        case OP_SUB: ratio_set(r, an * bd - bn * ad, ad * bd); break;
        case OP_MUL: ratio_set(r, an * bn, ad * bd); break;
        default: ratio_set(r, an * bd, ad * bn); break;
        }
        if (big && r->kind == 0)
            r->kind = 3;
        return 0;
    }
    {
        int64_t v;
        int ovf = op == OP_ADD ? __builtin_add_overflow(a->i, b->i, &v)
                  : op == OP_SUB ? __builtin_sub_overflow(a->i, b->i, &v)
                                 : __builtin_mul_overflow(a->i, b->i, &v);
        if (ovf)
            return overflow(x);
        r->kind = big ? 3 : 0;
        r->i = v;
    }
    return 0;
}

int cairn_query__arith(cairn_val *out, qx *x, int op, cairn_val a, cairn_val b)
{
    num p, q, r;
    int rc;
    if ((rc = to_num(x, op == OP_ADD ? "+" : op == OP_SUB ? "-" : op == OP_MUL ? "*" : "/", a, &p)) < 0 ||
        (rc = to_num(x, "+", b, &q)) < 0 || (rc = num_op(x, op, &p, &q, &r)) < 0)
        return rc;
    return from_num(x, out, &r);
}

/* Numeric comparison: <0, 0, >0 (exact for int/ratio). */
static int num_cmp(const num *a, const num *b)
{
    if (a->kind == 2 || b->kind == 2) {
        double p = num_f(a), q = num_f(b);
        return p < q ? -1 : p > q ? 1 : 0;
    }
    {
        __int128 l = (__int128)a->i * (b->kind == 1 ? b->d : 1), r = (__int128)b->i * (a->kind == 1 ? a->d : 1);
        return l < r ? -1 : l > r ? 1 : 0;
    }
}

/* ---- compare ------------------------------------------------------------------------- */

/* Java String.compareTo over code points. */
static int str_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    size_t i = 0, j = 0;
    while (i < al && j < bl) {
        uint32_t ca, cb;
        size_t na = cairn_utf8_decode(a + i, al - i, &ca), nb = cairn_utf8_decode(b + j, bl - j, &cb);
        if (!na || !nb)
            return memcmp(a + i, b + j, CAIRN_MIN(al - i, bl - j));
        if (ca != cb)
            return (int)ca - (int)cb;
        i += na;
        j += nb;
    }
    {
        size_t ra = 0, rb = 0;
        uint32_t cp;
        for (; i < al; ra++)
            i += CAIRN_MAX(cairn_utf8_decode(a + i, al - i, &cp), 1);
        for (; j < bl; rb++)
            j += CAIRN_MAX(cairn_utf8_decode(b + j, bl - j, &cp), 1);
        return (int)ra - (int)rb;
    }
}

static int type_rank(cairn_val v)
{
    return cairn_val_is_number(v) ? CAIRN_INT : cairn_val_is_seq(v) ? CAIRN_VECTOR : (int)cairn_type_of(v);
}

int cairn_query__compare(cairn_val a, cairn_val b, int *rc)
{
    *rc = 0;
    if (cairn_type_of(a) == CAIRN_INT && cairn_type_of(b) == CAIRN_INT) {
        int64_t p = cairn_int_value(a), q = cairn_int_value(b);
        return (p > q) - (p < q);
    }
    if (cairn_type_of(a) == CAIRN_NIL || cairn_type_of(b) == CAIRN_NIL)
        return (cairn_type_of(a) != CAIRN_NIL) - (cairn_type_of(b) != CAIRN_NIL);
    if (type_rank(a) != type_rank(b)) {
        *rc = CAIRN_EINVALID;
        return 0;
    }
    if (cairn_val_is_number(a)) {
        num p, q;
        num_of(a, &p);
        num_of(b, &q);
        return num_cmp(&p, &q);
    }
    switch (cairn_type_of(a)) {
    case CAIRN_BOOL:
        return cairn_bool_value(a) == cairn_bool_value(b) ? 0 : cairn_bool_value(a) ? 1 : -1;
    case CAIRN_CHAR:
        return (int)cairn_char_value(a) - (int)cairn_char_value(b);
    case CAIRN_STRING: {
        size_t al, bl;
        const char *sa = cairn_str_get(a, &al), *sb = cairn_str_get(b, &bl);
        return str_cmp(sa, al, sb, bl);
    }
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL: {
        size_t al = 0, bl = 0, an, bn;
        const char *na = cairn_namespace_get(a, &al), *nb = cairn_namespace_get(b, &bl);
        const char *xa = cairn_name_get(a, &an), *xb = cairn_name_get(b, &bn);
        if (!na && nb)
            return -1;
        if (na && !nb)
            return 1;
        if (na && nb) {
            int c = str_cmp(na, al, nb, bl);
            if (c)
                return c;
        }
        return str_cmp(xa, an, xb, bn);
    }
    case CAIRN_INST: {
        int64_t p = cairn_inst_value(a), q = cairn_inst_value(b);
        return p < q ? -1 : p > q ? 1 : 0;
    }
    case CAIRN_UUID:
    case CAIRN_BYTES:
        return cairn_compare(a, b) < 0 ? -1 : cairn_compare(a, b) > 0 ? 1 : 0;
    case CAIRN_VECTOR:
    case CAIRN_LIST: {
        size_t na = cairn_count(a), nb = cairn_count(b);
        if (na != nb)
            return na < nb ? -1 : 1;
        for (size_t i = 0; i < na; i++) {
            int c = cairn_query__compare(cairn_coll_get(a, i), cairn_coll_get(b, i), rc);
            if (*rc || c)
                return c;
        }
        return 0;
    }
    default:
        *rc = CAIRN_EINVALID;
        return 0;
    }
}

/* ---- comparison predicates ------------------------------------------------------------- */

static int cmp_chain(cairn_val *out, qx *x, const char *fn, const cairn_val *a, int n, int op)
{
    for (int i = 0; i + 1 < n; i++) {
        int rc, c;
        if (cairn_val_is_number(a[i]) && cairn_val_is_number(a[i + 1])) {
            num p, q;
            if ((rc = to_num(x, fn, a[i], &p)) < 0 || (rc = to_num(x, fn, a[i + 1], &q)) < 0)
                return rc;
            c = num_cmp(&p, &q);
            if (p.kind == 2 || q.kind == 2) {
                double dp = num_f(&p), dq = num_f(&q);
                if (isnan(dp) || isnan(dq)) {
                    *out = cairn_bool(0);
                    return 0;
                }
            }
        } else {
            c = cairn_query__compare(a[i], a[i + 1], &rc);
            if (rc < 0)
                return type_err(x, fn, a[i + 1]);
        }
        if (!(op == '<' ? c < 0 : op == '>' ? c > 0 : op == 'L' ? c <= 0 : c >= 0)) {
            *out = cairn_bool(0);
            return 0;
        }
    }
    *out = cairn_bool(1);
    return 0;
}

FN(f_lt) { (void)srcs; return cmp_chain(out, x, "<", a, n, '<'); }
FN(f_gt) { (void)srcs; return cmp_chain(out, x, ">", a, n, '>'); }
FN(f_le) { (void)srcs; return cmp_chain(out, x, "<=", a, n, 'L'); }
FN(f_ge) { (void)srcs; return cmp_chain(out, x, ">=", a, n, 'G'); }

FN(f_eq)
{
    UNUSED_FN_ARGS;
    for (int i = 0; i + 1 < n; i++)
        if (!cairn_equal(a[i], a[i + 1])) {
            *out = cairn_bool(0);
            return 0;
        }
    *out = cairn_bool(1);
    return 0;
}

FN(f_ne)
{
    int rc = f_eq(out, x, a, n, srcs);
    *out = cairn_bool(!cairn_bool_value(*out));
    return rc;
}

FN(f_numeq)
{
    (void)srcs;
    for (int i = 0; i + 1 < n; i++) {
        num p, q;
        int rc;
        if ((rc = to_num(x, "==", a[i], &p)) < 0 || (rc = to_num(x, "==", a[i + 1], &q)) < 0)
            return rc;
        if (num_cmp(&p, &q) != 0) {
            *out = cairn_bool(0);
            return 0;
        }
    }
    *out = cairn_bool(1);
    return 0;
}

FN(f_compare)
{
    int rc, c;
    UNUSED_FN_ARGS;
    c = cairn_query__compare(a[0], a[1], &rc);
    if (rc < 0)
        return type_err(x, "compare", a[1]);
    *out = cairn_int(c);
    return 0;
}

FN(f_identical)
{
    UNUSED_FN_ARGS;
    *out = cairn_bool(cairn_equal(a[0], a[1]));
    return 0;
}

/* ---- arithmetic ------------------------------------------------------------------------------ */

static int fold(cairn_val *out, qx *x, const cairn_val *a, int n, int op, const char *fn)
{
    num acc, v, r;
    int rc;
    if (n == 0) {
        *out = cairn_int(op == OP_MUL ? 1 : 0);
        return 0;
    }
    if ((rc = to_num(x, fn, a[0], &acc)) < 0)
        return rc;
    if (n == 1 && (op == OP_SUB || op == OP_DIV)) {
        num first = acc;
        if (op == OP_SUB) {
            memset(&acc, 0, sizeof acc);
        } else {
            memset(&acc, 0, sizeof acc);
            acc.i = 1;
        }
        if ((rc = num_op(x, op, &acc, &first, &r)) < 0)
            return rc;
        return from_num(x, out, &r);
    }
    for (int i = 1; i < n; i++) {
        if ((rc = to_num(x, fn, a[i], &v)) < 0 || (rc = num_op(x, op, &acc, &v, &r)) < 0)
            return rc;
        acc = r;
    }
    return from_num(x, out, &acc);
}

FN(f_add) { (void)srcs; return fold(out, x, a, n, OP_ADD, "+"); }
FN(f_sub) { (void)srcs; return fold(out, x, a, n, OP_SUB, "-"); }
FN(f_mul) { (void)srcs; return fold(out, x, a, n, OP_MUL, "*"); }
FN(f_div) { (void)srcs; return fold(out, x, a, n, OP_DIV, "/"); }

FN(f_inc)
{
    cairn_val args[2];
    (void)n;
    args[0] = a[0];
    args[1] = cairn_int(1);
    return f_add(out, x, args, 2, srcs);
}

FN(f_dec)
{
    cairn_val args[2];
    (void)n;
    args[0] = a[0];
    args[1] = cairn_int(1);
    return f_sub(out, x, args, 2, srcs);
}

/* quot, rem, mod: integers, or doubles when either is a double */
static int divmod(cairn_val *out, qx *x, const cairn_val *a, int kind, const char *fn)
{
    num p, q;
    int rc;
    if ((rc = to_num(x, fn, a[0], &p)) < 0 || (rc = to_num(x, fn, a[1], &q)) < 0)
        return rc;
    if (p.kind == 1 || q.kind == 1) {
        p.kind = 2;
        p.f = num_f(&p);
    }
    if (p.kind == 2 || q.kind == 2) {
        double u = num_f(&p), v = num_f(&q), r;
        if (v == 0)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Divide by zero");
        if (kind == 0)
            r = trunc(u / v);
        else if (kind == 1)
            r = fmod(u, v);
        else {
            r = fmod(u, v);
            if (r != 0 && ((r < 0) != (v < 0)))
                r += v;
        }
        *out = cairn_double(r);
        return 0;
    }
    if (q.i == 0)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Divide by zero");
    if (p.i == INT64_MIN && q.i == -1)
        return kind == 0 ? overflow(x) : (*out = cairn_int(0), 0);
    {
        int64_t r = kind == 0 ? p.i / q.i : p.i % q.i;
        if (kind == 2 && r != 0 && ((r < 0) != (q.i < 0)))
            r += q.i;
        *out = cairn_int(r);
    }
    return 0;
}

FN(f_quot) { (void)n, (void)srcs; return divmod(out, x, a, 0, "quot"); }
FN(f_rem) { (void)n, (void)srcs; return divmod(out, x, a, 1, "rem"); }
FN(f_mod) { (void)n, (void)srcs; return divmod(out, x, a, 2, "mod"); }

FN(f_abs)
{
    num p;
    int rc;
    (void)n, (void)srcs;
    if ((rc = to_num(x, "abs", a[0], &p)) < 0)
        return rc;
    if (p.kind == 2)
        p.f = fabs(p.f);
    else if (p.i < 0) {
        if (p.i == INT64_MIN)
            return overflow(x);
        p.i = -p.i;
    }
    return from_num(x, out, &p);
}

static int num_pred(cairn_val *out, qx *x, cairn_val v, const char *fn, int which)
{
    num p;
    int rc, s;
    if ((rc = to_num(x, fn, v, &p)) < 0)
        return rc;
    if (which >= 3) {
        if (p.kind == 2 || p.kind == 1)
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Argument must be an integer");
        *out = cairn_bool(which == 3 ? (p.i % 2 == 0) : (p.i % 2 != 0));
        return 0;
    }
    s = p.kind == 2 ? (p.f > 0) - (p.f < 0) : (p.i > 0) - (p.i < 0);
    *out = cairn_bool(which == 0 ? s == 0 : which == 1 ? s > 0 : s < 0);
    return 0;
}

FN(f_zero) { (void)n, (void)srcs; return num_pred(out, x, a[0], "zero?", 0); }
FN(f_pos) { (void)n, (void)srcs; return num_pred(out, x, a[0], "pos?", 1); }
FN(f_neg) { (void)n, (void)srcs; return num_pred(out, x, a[0], "neg?", 2); }
FN(f_even) { (void)n, (void)srcs; return num_pred(out, x, a[0], "even?", 3); }
FN(f_odd) { (void)n, (void)srcs; return num_pred(out, x, a[0], "odd?", 4); }

FN(f_rand)
{
    double r;
    (void)srcs;
    x->rand_state = x->rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
    r = (double)(x->rand_state >> 11) / 9007199254740992.0;
    if (n == 1) {
        num p;
        int rc;
        if ((rc = to_num(x, "rand", a[0], &p)) < 0)
            return rc;
        r *= num_f(&p);
    }
    *out = cairn_double(r);
    return 0;
}

FN(f_rand_int)
{
    num p;
    int rc;
    (void)n, (void)srcs;
    if ((rc = to_num(x, "rand-int", a[0], &p)) < 0)
        return rc;
    x->rand_state = x->rand_state * 6364136223846793005ULL + 1442695040888963407ULL;
    {
        double r = (double)(x->rand_state >> 11) / 9007199254740992.0 * num_f(&p);
        if (!(r > -9.2e18 && r < 9.2e18))
            return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "rand-int: value out of range for long");
        *out = cairn_int((int64_t)r);
    }
    return 0;
}

/* ---- logic and types ------------------------------------------------------------------------ */

#define TYPE_PRED(fname, cond)          \
    FN(fname)                           \
    {                                   \
        cairn_val v = a[0];             \
        UNUSED_FN_ARGS;                 \
        *out = cairn_bool(cond);        \
        return 0;                       \
    }

TYPE_PRED(f_true, cairn_type_of(v) == CAIRN_BOOL && cairn_bool_value(v))
TYPE_PRED(f_false, cairn_type_of(v) == CAIRN_BOOL && !cairn_bool_value(v))
TYPE_PRED(f_nil, cairn_type_of(v) == CAIRN_NIL)
TYPE_PRED(f_some, cairn_type_of(v) != CAIRN_NIL)
TYPE_PRED(f_not, !qtruthy(v))
TYPE_PRED(f_is_string, cairn_type_of(v) == CAIRN_STRING)
TYPE_PRED(f_is_keyword, cairn_type_of(v) == CAIRN_KEYWORD)
TYPE_PRED(f_is_symbol, cairn_type_of(v) == CAIRN_SYMBOL)
TYPE_PRED(f_is_number, cairn_val_is_number(v))
TYPE_PRED(f_is_int, cairn_type_of(v) == CAIRN_INT || cairn_type_of(v) == CAIRN_BIGINT)
TYPE_PRED(f_is_double, cairn_type_of(v) == CAIRN_DOUBLE || cairn_type_of(v) == CAIRN_FLOAT)
TYPE_PRED(f_is_boolean, cairn_type_of(v) == CAIRN_BOOL)
TYPE_PRED(f_is_vector, cairn_type_of(v) == CAIRN_VECTOR)
TYPE_PRED(f_is_map, cairn_type_of(v) == CAIRN_MAP)
TYPE_PRED(f_is_set, cairn_type_of(v) == CAIRN_SET)
TYPE_PRED(f_is_coll, cairn_val_is_coll(v))
TYPE_PRED(f_is_inst, cairn_type_of(v) == CAIRN_INST)
TYPE_PRED(f_is_uuid, cairn_type_of(v) == CAIRN_UUID)

FN(f_and)
{
    UNUSED_FN_ARGS;
    *out = cairn_bool(1);
    for (int i = 0; i < n; i++) {
        *out = a[i];
        if (!qtruthy(a[i]))
            break;
    }
    *out = cairn_retain(*out);
    return 0;
}

FN(f_or)
{
    UNUSED_FN_ARGS;
    *out = cairn_nil();
    for (int i = 0; i < n; i++) {
        *out = a[i];
        if (qtruthy(a[i]))
            break;
    }
    *out = cairn_retain(*out);
    return 0;
}

FN(f_identity)
{
    UNUSED_FN_ARGS;
    *out = cairn_retain(a[0]);
    return 0;
}

/* ---- strings --------------------------------------------------------------------------------- */

/* Appends v as str does: strings raw, nil empty, chars raw, else printed. */
static int str_append(cairn_buf *b, cairn_val v)
{
    switch (cairn_type_of(v)) {
    case CAIRN_NIL:
        return 0;
    case CAIRN_STRING: {
        size_t len;
        const char *s = cairn_str_get(v, &len);
        return cairn_buf_put(b, s, len);
    }
    case CAIRN_CHAR: {
        char tmp[4];
        return cairn_buf_put(b, tmp, cairn_utf8_encode(tmp, cairn_char_value(v)));
    }
    default:
        return cairn_edn__print_buf(b, v);
    }
}

FN(f_str)
{
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = 0;
    (void)srcs;
    for (int i = 0; i < n && rc == 0; i++)
        rc = str_append(&b, a[i]);
    if (rc == 0 && !b.oom)
        rc = make_string(x, out, b.ptr ? b.ptr : "", b.len);
    else
        rc = oom(x);
    cairn_buf_dispose(&b);
    return rc;
}

static int print_args(cairn_val *out, qx *x, const cairn_val *a, int n, int readable, int newline)
{
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = 0;
    for (int i = 0; i < n && rc == 0; i++) {
        if (i)
            rc = cairn_buf_putc(&b, ' ');
        if (rc == 0)
            rc = readable || cairn_type_of(a[i]) != CAIRN_STRING ? cairn_edn__print_buf(&b, a[i]) : str_append(&b, a[i]);
    }
    if (rc == 0 && newline)
        rc = cairn_buf_putc(&b, '\n');
    if (rc == 0 && !b.oom)
        rc = make_string(x, out, b.ptr ? b.ptr : "", b.len);
    else
        rc = oom(x);
    cairn_buf_dispose(&b);
    return rc;
}

FN(f_pr_str) { (void)srcs; return print_args(out, x, a, n, 1, 0); }
FN(f_prn_str) { (void)srcs; return print_args(out, x, a, n, 1, 1); }
FN(f_print_str) { (void)srcs; return print_args(out, x, a, n, 0, 0); }
FN(f_println_str) { (void)srcs; return print_args(out, x, a, n, 0, 1); }

/* Code points of s. */
static size_t cp_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; n++) {
        uint32_t cp;
        size_t k = cairn_utf8_decode(s + i, len - i, &cp);
        i += k ? k : 1;
    }
    return n;
}

/* Byte offset of code point index k (len when past the end). */
static size_t cp_offset(const char *s, size_t len, size_t k)
{
    size_t i = 0;
    while (k-- > 0 && i < len) {
        uint32_t cp;
        size_t m = cairn_utf8_decode(s + i, len - i, &cp);
        i += m ? m : 1;
    }
    return i;
}

FN(f_count)
{
    cairn_val v = a[0];
    UNUSED_FN_ARGS;
    switch (cairn_type_of(v)) {
    case CAIRN_NIL:
        *out = cairn_int(0);
        return 0;
    case CAIRN_STRING: {
        size_t len;
        const char *s = cairn_str_get(v, &len);
        *out = cairn_int((int64_t)cp_count(s, len));
        return 0;
    }
    case CAIRN_BYTES: {
        size_t len;
        cairn_str_get(v, &len);
        *out = cairn_int((int64_t)len);
        return 0;
    }
    default:
        if (cairn_val_is_coll(v)) {
            *out = cairn_int((int64_t)cairn_count(v));
            return 0;
        }
        return type_err(x, "count", v);
    }
}

FN(f_subs)
{
    size_t len, total, from, to;
    const char *s;
    (void)srcs;
    if (cairn_type_of(a[0]) != CAIRN_STRING)
        return type_err(x, "subs", a[0]);
    if (cairn_type_of(a[1]) != CAIRN_INT || (n == 3 && cairn_type_of(a[2]) != CAIRN_INT))
        return type_err(x, "subs", a[1]);
    s = cairn_str_get(a[0], &len);
    total = cp_count(s, len);
    if (cairn_int_value(a[1]) < 0 || (size_t)cairn_int_value(a[1]) > total ||
        (n == 3 && (cairn_int_value(a[2]) < cairn_int_value(a[1]) || (size_t)cairn_int_value(a[2]) > total)))
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "subs: String index out of range");
    from = cp_offset(s, len, (size_t)cairn_int_value(a[1]));
    to = n == 3 ? cp_offset(s, len, (size_t)cairn_int_value(a[2])) : len;
    return make_string(x, out, s + from, to - from);
}

static const char *ident_or_str(cairn_val v, size_t *len)
{
    if (cairn_type_of(v) == CAIRN_STRING)
        return cairn_str_get(v, len);
    return NULL;
}

FN(f_name)
{
    size_t len;
    const char *s;
    UNUSED_FN_ARGS;
    if (cairn_type_of(a[0]) == CAIRN_KEYWORD || cairn_type_of(a[0]) == CAIRN_SYMBOL)
        s = cairn_name_get(a[0], &len);
    else if (!(s = ident_or_str(a[0], &len)))
        return type_err(x, "name", a[0]);
    return make_string(x, out, s, len);
}

FN(f_namespace)
{
    size_t len;
    const char *s;
    UNUSED_FN_ARGS;
    if (cairn_type_of(a[0]) != CAIRN_KEYWORD && cairn_type_of(a[0]) != CAIRN_SYMBOL)
        return type_err(x, "namespace", a[0]);
    s = cairn_namespace_get(a[0], &len);
    if (!s) {
        *out = cairn_nil();
        return 0;
    }
    return make_string(x, out, s, len);
}

static int make_ident(cairn_val *out, qx *x, const cairn_val *a, int n, int kw)
{
    cairn_buf b = CAIRN_BUF_INIT;
    int rc;
    if (n == 1 && (cairn_type_of(a[0]) == CAIRN_KEYWORD || cairn_type_of(a[0]) == CAIRN_SYMBOL)) {
        size_t len;
        const char *t = cairn_ident_get(a[0], &len);
        rc = kw ? cairn_keyword(out, t, len) : cairn_symbol(out, t, len);
        return rc == CAIRN_ENOMEM ? oom(x) : rc < 0 ? type_err(x, kw ? "keyword" : "symbol", a[0]) : 0;
    }
    for (int i = 0; i < n; i++) {
        size_t len;
        const char *s;
        if (cairn_type_of(a[i]) == CAIRN_NIL && i == 0 && n == 2)
            continue;
        if (!(s = ident_or_str(a[i], &len))) {
            if (n == 1) {
                *out = cairn_nil();
                cairn_buf_dispose(&b);
                return 0;
            }
            cairn_buf_dispose(&b);
            return type_err(x, kw ? "keyword" : "symbol", a[i]);
        }
        if (i == 1 && b.len)
            cairn_buf_putc(&b, '/');
        cairn_buf_put(&b, s, len);
    }
    if (b.oom) {
        cairn_buf_dispose(&b);
        return oom(x);
    }
    rc = kw ? cairn_keyword(out, b.ptr ? b.ptr : "", b.len) : cairn_symbol(out, b.ptr ? b.ptr : "", b.len);
    cairn_buf_dispose(&b);
    if (rc == CAIRN_ENOMEM)
        return oom(x);
    return rc < 0 ? cairn_error_set(x->err, rc, ":query/where", "invalid keyword or symbol name") : 0;
}

FN(f_keyword) { (void)srcs; return make_ident(out, x, a, n, 1); }
FN(f_symbol) { (void)srcs; return make_ident(out, x, a, n, 0); }

static int str_arg(qx *x, const char *fn, cairn_val v, const char **s, size_t *len)
{
    *s = "";
    *len = 0;
    if (cairn_type_of(v) != CAIRN_STRING)
        return type_err(x, fn, v);
    *s = cairn_str_get(v, len);
    return 0;
}

static int str_test(cairn_val *out, qx *x, const cairn_val *a, const char *fn, int which)
{
    const char *s, *t;
    size_t sl, tl;
    int rc, r = 0;
    if ((rc = str_arg(x, fn, a[0], &s, &sl)) < 0 || (rc = str_arg(x, fn, a[1], &t, &tl)) < 0)
        return rc;
    if (which == 0)
        r = tl <= sl && memcmp(s, t, tl) == 0;
    else if (which == 1)
        r = tl <= sl && memcmp(s + sl - tl, t, tl) == 0;
    else
        r = tl == 0 || (tl <= sl && memmem(s, sl, t, tl) != NULL);
    *out = cairn_bool(r);
    return 0;
}

FN(f_starts_with) { (void)n, (void)srcs; return str_test(out, x, a, "starts-with?", 0); }
FN(f_ends_with) { (void)n, (void)srcs; return str_test(out, x, a, "ends-with?", 1); }
FN(f_includes) { (void)n, (void)srcs; return str_test(out, x, a, "includes?", 2); }

static int str_case(cairn_val *out, qx *x, cairn_val v, int upper)
{
    const char *s;
    size_t len;
    char *buf;
    int rc;
    if ((rc = str_arg(x, upper ? "upper-case" : "lower-case", v, &s, &len)) < 0)
        return rc;
    buf = cairn_malloc(len ? len : 1);
    if (!buf)
        return oom(x);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        buf[i] = upper ? (c >= 'a' && c <= 'z' ? (char)(c - 32) : c) : (c >= 'A' && c <= 'Z' ? (char)(c + 32) : c);
    }
    rc = make_string(x, out, buf, len);
    cairn_free(buf);
    return rc;
}

FN(f_upper) { (void)n, (void)srcs; return str_case(out, x, a[0], 1); }
FN(f_lower) { (void)n, (void)srcs; return str_case(out, x, a[0], 0); }

static int is_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static int str_trim(cairn_val *out, qx *x, cairn_val v, int left, int right)
{
    const char *s;
    size_t len, from = 0, to;
    int rc;
    if ((rc = str_arg(x, "trim", v, &s, &len)) < 0)
        return rc;
    to = len;
    while (left && from < to && is_ws(s[from]))
        from++;
    while (right && to > from && is_ws(s[to - 1]))
        to--;
    return make_string(x, out, s + from, to - from);
}

FN(f_trim) { (void)n, (void)srcs; return str_trim(out, x, a[0], 1, 1); }
FN(f_triml) { (void)n, (void)srcs; return str_trim(out, x, a[0], 1, 0); }
FN(f_trimr) { (void)n, (void)srcs; return str_trim(out, x, a[0], 0, 1); }

FN(f_blank)
{
    const char *s;
    size_t len;
    (void)n, (void)srcs;
    if (cairn_type_of(a[0]) == CAIRN_NIL) {
        *out = cairn_bool(1);
        return 0;
    }
    if (str_arg(x, "blank?", a[0], &s, &len) < 0)
        return CAIRN_EINVALID;
    for (size_t i = 0; i < len; i++)
        if (!is_ws(s[i])) {
            *out = cairn_bool(0);
            return 0;
        }
    *out = cairn_bool(1);
    return 0;
}

FN(f_join)
{
    cairn_val coll = n == 2 ? a[1] : a[0];
    const char *sep = "";
    size_t seplen = 0;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc = 0;
    (void)srcs;
    if (n == 2 && str_arg(x, "join", a[0], &sep, &seplen) < 0)
        return CAIRN_EINVALID;
    if (!cairn_val_is_coll(coll) && cairn_type_of(coll) != CAIRN_NIL)
        return type_err(x, "join", coll);
    for (size_t i = 0; i < cairn_count(coll) && rc == 0; i++) {
        if (i)
            rc = cairn_buf_put(&b, sep, seplen);
        if (rc == 0)
            rc = str_append(&b, cairn_coll_get(coll, i));
    }
    if (rc == 0 && !b.oom)
        rc = make_string(x, out, b.ptr ? b.ptr : "", b.len);
    else
        rc = oom(x);
    cairn_buf_dispose(&b);
    return rc;
}

/* ---- regular expressions --------------------------------------------------------------------- */

typedef struct rx_cache {
    cairn_val pat;            /* the pattern string (owned) */
    qregex *re;               /* compiled */
    struct rx_cache *next;    /* list */
} rx_cache;

int cairn_query__regex_value(cairn_val *out, cairn_val pattern)
{
    cairn_val tag;
    int rc = cairn_symbol(&tag, "cairn.query/regex", 17);
    if (rc < 0)
        return rc;
    return cairn_tagged(out, tag, pattern);
}

static int is_regex(cairn_val v)
{
    size_t len;
    const char *t;
    if (cairn_type_of(v) != CAIRN_TAGGED)
        return 0;
    t = cairn_ident_get(cairn_tagged_tag_get(v), &len);
    return t && len == 17 && memcmp(t, "cairn.query/regex", 17) == 0;
}

int cairn_query__regex_get(const qregex **out, qx *x, cairn_val v)
{
    cairn_val pat = v;
    rx_cache *c;
    const char *s;
    size_t len;
    int rc;
    if (is_regex(v))
        pat = cairn_tagged_value_get(v);
    if (cairn_type_of(pat) != CAIRN_STRING)
        return type_err(x, "re-find", v);
    for (c = x->regexes; c; c = c->next)
        if (cairn_equal(c->pat, pat)) {
            *out = c->re;
            return 0;
        }
    c = cairn_malloc(sizeof *c);
    if (!c)
        return oom(x);
    s = cairn_str_get(pat, &len);
    if ((rc = cairn_query__regex_compile(&c->re, s, len, x->err)) < 0) {
        cairn_free(c);
        return rc;
    }
    c->pat = cairn_retain(pat);
    c->next = x->regexes;
    x->regexes = c;
    *out = c->re;
    return 0;
}

void cairn_query__regex_cache_free(qx *x)
{
    rx_cache *c = x->regexes;
    while (c) {
        rx_cache *next = c->next;
        cairn_release(c->pat);
        cairn_query__regex_free(c->re);
        cairn_free(c);
        c = next;
    }
    x->regexes = NULL;
}

FN(f_re_pattern)
{
    int rc;
    const qregex *re;
    UNUSED_FN_ARGS;
    if (is_regex(a[0])) {
        *out = cairn_retain(a[0]);
        return 0;
    }
    if (cairn_type_of(a[0]) != CAIRN_STRING)
        return type_err(x, "re-pattern", a[0]);
    if ((rc = cairn_query__regex_get(&re, x, a[0])) < 0)
        return rc;
    rc = cairn_query__regex_value(out, a[0]);
    return rc == CAIRN_ENOMEM ? oom(x) : rc;
}

/* The match at groups as re-find returns it: a string, or a vector of
 * groups when the pattern has any. */
static int match_value(qx *x, cairn_val *out, const qregex *re, const char *s, const long *g)
{
    int ng = cairn_query__regex_ngroups(re), rc;
    if (ng == 0)
        return make_string(x, out, s + g[0], (size_t)(g[1] - g[0]));
    if ((rc = cairn_vector_new(out, (size_t)ng + 1)) < 0)
        return oom(x);
    for (int i = 0; i <= ng; i++) {
        cairn_val el = cairn_nil();
        if (g[2 * i] >= 0 && (rc = make_string(x, &el, s + g[2 * i], (size_t)(g[2 * i + 1] - g[2 * i]))) < 0) {
            cairn_release(*out);
            return rc;
        }
        if (cairn_coll_push_take(out, el) < 0) {
            cairn_release(*out);
            return oom(x);
        }
    }
    return 0;
}

static int regex_call(cairn_val *out, qx *x, const cairn_val *a, int mode)
{
    const qregex *re;
    const char *s;
    size_t len;
    long groups[2 * 32];
    int rc;
    if ((rc = cairn_query__regex_get(&re, x, a[0])) < 0)
        return rc;
    if (cairn_query__regex_ngroups(re) >= 31)
        return cairn_error_set(x->err, CAIRN_EUNSUPPORTED, ":query/where", "regex: too many groups");
    if ((rc = str_arg(x, mode == 1 ? "re-matches" : "re-find", a[1], &s, &len)) < 0)
        return rc;
    if (mode != 2) {
        rc = cairn_query__regex_exec(re, s, len, 0, mode == 1, groups);
        if (rc < 0)
            return cairn_error_set(x->err, rc, ":query/where", "regex: too complex to match");
        if (rc == 0) {
            *out = cairn_nil();
            return 0;
        }
        return match_value(x, out, re, s, groups);
    }
    /* re-seq: every match, as a list; nil when none */
    {
        size_t at = 0;
        cairn_val list;
        if ((rc = cairn_list_new(&list, 4)) < 0)
            return oom(x);
        while (at <= len) {
            cairn_val m;
            rc = cairn_query__regex_exec(re, s, len, at, 0, groups);
            if (rc <= 0)
                break;
            if ((rc = match_value(x, &m, re, s, groups)) < 0 || (rc = cairn_coll_push_take(&list, m)) < 0) {
                cairn_release(list);
                return rc == CAIRN_ENOMEM ? oom(x) : rc;
            }
            at = groups[1] > groups[0] ? (size_t)groups[1] : (size_t)groups[1] + 1;
        }
        if (rc < 0) {
            cairn_release(list);
            return cairn_error_set(x->err, rc, ":query/where", "regex: too complex to match");
        }
        if (cairn_count(list) == 0) {
            cairn_release(list);
            *out = cairn_nil();
            return 0;
        }
        *out = list;
        return 0;
    }
}

FN(f_re_find) { (void)n, (void)srcs; return regex_call(out, x, a, 0); }
FN(f_re_matches) { (void)n, (void)srcs; return regex_call(out, x, a, 1); }
FN(f_re_seq) { (void)n, (void)srcs; return regex_call(out, x, a, 2); }

/* ---- collections ------------------------------------------------------------------------------ */

static int build_coll(cairn_val *out, qx *x, const cairn_val *a, int n, cairn_type t)
{
    int rc = t == CAIRN_VECTOR ? cairn_vector_new(out, (size_t)n)
             : t == CAIRN_LIST ? cairn_list_new(out, (size_t)n) : cairn_set_new(out, (size_t)n);
    if (rc < 0)
        return oom(x);
    for (int i = 0; i < n; i++) {
        rc = cairn_coll_push(out, a[i]);
        if (rc == CAIRN_EEXISTS)
            continue;
        if (rc < 0) {
            cairn_release(*out);
            return rc == CAIRN_ELIMIT ? cairn_error_set(x->err, rc, ":query/where", "value nested too deeply") : oom(x);
        }
    }
    return 0;
}

FN(f_vector) { (void)srcs; return build_coll(out, x, a, n, CAIRN_VECTOR); }
FN(f_list) { (void)srcs; return build_coll(out, x, a, n, CAIRN_LIST); }
FN(f_hash_set) { (void)srcs; return build_coll(out, x, a, n, CAIRN_SET); }

FN(f_set)
{
    UNUSED_FN_ARGS;
    if (cairn_type_of(a[0]) == CAIRN_NIL)
        return cairn_set_new(out, 0) < 0 ? oom(x) : 0;
    if (!cairn_val_is_coll(a[0]) || cairn_type_of(a[0]) == CAIRN_MAP)
        return type_err(x, "set", a[0]);
    {
        int rc;
        if ((rc = cairn_set_new(out, cairn_count(a[0]))) < 0)
            return oom(x);
        for (size_t i = 0; i < cairn_count(a[0]); i++) {
            rc = cairn_coll_push(out, cairn_coll_get(a[0], i));
            if (rc < 0 && rc != CAIRN_EEXISTS) {
                cairn_release(*out);
                return oom(x);
            }
        }
    }
    return 0;
}

FN(f_hash_map)
{
    int rc;
    (void)srcs;
    if (n % 2)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "hash-map: odd number of arguments");
    if ((rc = cairn_map_new(out, (size_t)n / 2)) < 0)
        return oom(x);
    for (int i = 0; i + 1 < n; i += 2)
        if ((rc = cairn_map_assoc(out, a[i], a[i + 1])) < 0) {
            cairn_release(*out);
            return oom(x);
        }
    return 0;
}

FN(f_get)
{
    cairn_val m = a[0], k = a[1], v;
    UNUSED_FN_ARGS;
    *out = n == 3 ? a[2] : cairn_nil();
    if (cairn_type_of(m) == CAIRN_MAP) {
        if (cairn_map_get(&v, m, k))
            *out = v;
    } else if (cairn_type_of(m) == CAIRN_SET) {
        if (cairn_set_contains(m, k))
            *out = k;
    } else if (cairn_val_is_seq(m) && cairn_type_of(k) == CAIRN_INT) {
        int64_t i = cairn_int_value(k);
        if (i >= 0 && (size_t)i < cairn_count(m) && cairn_type_of(m) == CAIRN_VECTOR)
            *out = cairn_coll_get(m, (size_t)i);
    }
    *out = cairn_retain(*out);
    return 0;
}

FN(f_contains)
{
    cairn_val m = a[0], k = a[1], v;
    UNUSED_FN_ARGS;
    if (cairn_type_of(m) == CAIRN_MAP)
        *out = cairn_bool(cairn_map_get(&v, m, k));
    else if (cairn_type_of(m) == CAIRN_SET)
        *out = cairn_bool(cairn_set_contains(m, k));
    else if (cairn_type_of(m) == CAIRN_VECTOR)
        *out = cairn_bool(cairn_type_of(k) == CAIRN_INT && cairn_int_value(k) >= 0 &&
                          (size_t)cairn_int_value(k) < cairn_count(m));
    else if (cairn_type_of(m) == CAIRN_NIL)
        *out = cairn_bool(0);
    else
        return type_err(x, "contains?", m);
    return 0;
}

FN(f_nth)
{
    UNUSED_FN_ARGS;
    if (!cairn_val_is_seq(a[0]) || cairn_type_of(a[1]) != CAIRN_INT)
        return type_err(x, "nth", a[0]);
    if (cairn_int_value(a[1]) < 0 || (size_t)cairn_int_value(a[1]) >= cairn_count(a[0])) {
        if (n == 3) {
            *out = cairn_retain(a[2]);
            return 0;
        }
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "nth: index out of bounds");
    }
    *out = cairn_retain(cairn_coll_get(a[0], (size_t)cairn_int_value(a[1])));
    return 0;
}

static int seq_at(cairn_val *out, qx *x, cairn_val v, int which, const char *fn)
{
    size_t cnt;
    if (cairn_type_of(v) == CAIRN_NIL) {
        *out = cairn_nil();
        return 0;
    }
    if (!cairn_val_is_coll(v) || cairn_type_of(v) == CAIRN_MAP)
        return type_err(x, fn, v);
    cnt = cairn_count(v);
    if (which == 2)
        *out = cnt ? cairn_coll_get(v, cnt - 1) : cairn_nil();
    else
        *out = (size_t)which < cnt ? cairn_coll_get(v, (size_t)which) : cairn_nil();
    *out = cairn_retain(*out);
    return 0;
}

FN(f_first) { (void)n, (void)srcs; return seq_at(out, x, a[0], 0, "first"); }
FN(f_second) { (void)n, (void)srcs; return seq_at(out, x, a[0], 1, "second"); }
FN(f_last) { (void)n, (void)srcs; return seq_at(out, x, a[0], 2, "last"); }

FN(f_empty)
{
    UNUSED_FN_ARGS;
    if (cairn_type_of(a[0]) == CAIRN_NIL)
        *out = cairn_bool(1);
    else if (cairn_type_of(a[0]) == CAIRN_STRING) {
        size_t len;
        cairn_str_get(a[0], &len);
        *out = cairn_bool(len == 0);
    } else if (cairn_val_is_coll(a[0]))
        *out = cairn_bool(cairn_count(a[0]) == 0);
    else
        return type_err(x, "empty?", a[0]);
    return 0;
}

FN(f_not_empty)
{
    cairn_val e;
    int rc = f_empty(&e, x, a, n, srcs);
    if (rc < 0)
        return rc;
    *out = cairn_bool_value(e) ? cairn_nil() : cairn_retain(a[0]);
    return 0;
}

FN(f_range)
{
    int64_t from = 0, to, step = 1;
    int rc;
    cairn_val list;
    (void)srcs;
    for (int i = 0; i < n; i++)
        if (cairn_type_of(a[i]) != CAIRN_INT)
            return type_err(x, "range", a[i]);
    if (n == 1)
        to = cairn_int_value(a[0]);
    else {
        from = cairn_int_value(a[0]);
        to = cairn_int_value(a[1]);
        if (n == 3)
            step = cairn_int_value(a[2]);
    }
    if (step == 0)
        return cairn_error_set(x->err, CAIRN_EUNSUPPORTED, ":query/where", "range: infinite sequence");
    if ((rc = cairn_list_new(&list, 8)) < 0)
        return oom(x);
    for (int64_t i = from; step > 0 ? i < to : i > to; i += step) {
        if (cairn_count(list) >= 10000000 || cairn_coll_push(&list, cairn_int(i)) < 0) {
            cairn_release(list);
            return cairn_count(list) >= 10000000 ? cairn_error_set(x->err, CAIRN_ELIMIT, ":query/where", "range: too long")
                                                 : oom(x);
        }
        if ((step > 0 && i > INT64_MAX - step) || (step < 0 && i < INT64_MIN - step))
            break;
    }
    *out = list;
    return 0;
}

FN(f_ground)
{
    UNUSED_FN_ARGS;
    *out = cairn_retain(a[0]);
    return 0;
}

FN(f_tuple) { (void)srcs; return build_coll(out, x, a, n, CAIRN_VECTOR); }

FN(f_untuple)
{
    UNUSED_FN_ARGS;
    *out = cairn_retain(a[0]);
    return 0;
}

/* ---- instants --------------------------------------------------------------------------------- */

static int inst_cmp(cairn_val *out, qx *x, const cairn_val *a, int before)
{
    if (cairn_type_of(a[0]) != CAIRN_INST || cairn_type_of(a[1]) != CAIRN_INST)
        return type_err(x, before ? "before?" : "after?", cairn_type_of(a[0]) != CAIRN_INST ? a[0] : a[1]);
    *out = cairn_bool(before ? cairn_inst_value(a[0]) < cairn_inst_value(a[1])
                             : cairn_inst_value(a[0]) > cairn_inst_value(a[1]));
    return 0;
}

FN(f_before) { (void)n, (void)srcs; return inst_cmp(out, x, a, 1); }
FN(f_after) { (void)n, (void)srcs; return inst_cmp(out, x, a, 0); }

/* ---- database helpers ---------------------------------------------------------------------------- */

typedef struct first_val {
    cairn_val v;    /* decoded value (owned) */
    int found;      /* a datom was found */
    int rc;         /* decode status */
} first_val;

static int first_cb(const cairn_raw_datom *d, void *payload)
{
    first_val *f = payload;
    f->found = 1;
    f->rc = cairn_db__value(&f->v, d);
    return 1;
}

/* The value of attribute attr of entity e in src (found = 0 when none). */
static int attr_value(qx *x, qsource *src, cairn_val e, cairn_val attr, first_val *f, const char *fn, int card_one)
{
    const cairn_attr *at;
    int64_t eid = 0;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_buf pre = CAIRN_BUF_INIT;
    int rc;
    memset(f, 0, sizeof *f);
    f->v = cairn_nil();
    if (!src || !src->db)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s: the first argument must be a database", fn);
    if (cairn_type_of(attr) == CAIRN_KEYWORD)
        at = cairn_db__attr(src->db, attr);
    else if (cairn_type_of(attr) == CAIRN_INT)
        at = cairn_schema_by_id(src->db->schema, cairn_int_value(attr));
    else
        return type_err(x, fn, attr);
    if (!at)
        return 0;
    if (card_one && at->many)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s: %s is card-many, not supported", fn,
                               cairn_ident_get(at->ident, NULL));
    if (cairn_type_of(e) == CAIRN_NIL)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "%s: entity is nil", fn);
    rc = cairn_db__entid(src->db, e, &eid, &err);
    if (rc == CAIRN_ENOMEM)
        return oom(x);
    if (rc < 0 || eid <= 0)
        return 0;
    if (cairn_key_put_u(&pre, (uint64_t)eid) < 0 || cairn_key_put_u(&pre, (uint64_t)at->id) < 0) {
        cairn_buf_dispose(&pre);
        return oom(x);
    }
    rc = cairn_db__scan_prefix(src->db, CAIRN_IX_EAVT, (const uint8_t *)pre.ptr, pre.len, first_cb, f);
    cairn_buf_dispose(&pre);
    if (rc < 0)
        return cairn_error_code(x->err, rc);
    if (f->found && f->rc < 0)
        return cairn_error_code(x->err, f->rc);
    return 0;
}

FN(f_get_else)
{
    first_val f;
    int rc;
    (void)n;
    if (cairn_type_of(a[3]) == CAIRN_NIL)
        return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "get-else: nil default value is not supported");
    if ((rc = attr_value(x, srcs[0], a[1], a[2], &f, "get-else", 1)) < 0)
        return rc;
    *out = f.found ? f.v : cairn_retain(a[3]);
    return 0;
}

FN(f_get_some)
{
    (void)srcs;
    for (int i = 2; i < n; i++) {
        first_val f;
        int rc;
        if ((rc = attr_value(x, srcs[0], a[1], a[i], &f, "get-some", 0)) < 0)
            return rc;
        if (f.found) {
            cairn_val t;
            if (cairn_vector_new(&t, 2) < 0 || cairn_coll_push(&t, a[i]) < 0 || cairn_coll_push_take(&t, f.v) < 0)
                return oom(x);
            *out = t;
            return 0;
        }
    }
    *out = cairn_nil();
    return 0;
}

FN(f_missing)
{
    first_val f;
    int rc;
    (void)n;
    if ((rc = attr_value(x, srcs[0], a[1], a[2], &f, "missing?", 0)) < 0)
        return rc;
    cairn_release(f.v);
    *out = cairn_bool(!f.found);
    return 0;
}

/* (q query & inputs): a nested query; sources pass as they are. */
FN(f_q)
{
    cairn_input in[16];
    cairn_query_opts o = CAIRN_QUERY_OPTS_INIT;
    int rc;
    if (n - 1 > 16)
        return cairn_error_set(x->err, CAIRN_ELIMIT, ":query/where", "q: more than 16 inputs");
    if (x->call_depth >= 16)
        return cairn_error_set(x->err, CAIRN_ELIMIT, ":query/where", "q: nested more than 16 deep");
    for (int i = 1; i < n; i++) {
        if (srcs && srcs[i] && srcs[i]->db)
            in[i - 1] = cairn_input_db(srcs[i]->db);
        else if (srcs && srcs[i])
            in[i - 1] = cairn_input_val(srcs[i]->coll);
        else
            in[i - 1] = cairn_input_val(a[i]);
    }
    if (x->has_deadline) {
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        o.timeout_ms = (x->deadline.tv_sec - now.tv_sec) * 1000 + (x->deadline.tv_nsec - now.tv_nsec) / 1000000;
        if (o.timeout_ms <= 0)
            o.timeout_ms = 1;
    }
    o.interrupt = x->interrupt;
    o.interrupt_ctx = x->interrupt_ctx;
    x->call_depth++;
    rc = cairn_q(out, a[0], in, (size_t)(n - 1), &o, x->err);
    x->call_depth--;
    return rc;
}

FN(f_meta)
{
    UNUSED_FN_ARGS;
    *out = cairn_nil();
    return 0;
}

/* DataScript's -differ?: the first half of the arguments differs from the second. */
FN(f_differ)
{
    int h = n / 2;
    UNUSED_FN_ARGS;
    *out = cairn_bool(0);
    for (int i = 0; i < h; i++)
        if (!cairn_equal(a[i], a[h + i])) {
            *out = cairn_bool(1);
            break;
        }
    return 0;
}

FN(f_not_fn)
{
    UNUSED_FN_ARGS;
    *out = cairn_nil();
    return cairn_error_set(x->err, CAIRN_EINVALID, ":query/where", "Don't know how to create ISeq from: java.lang.Long");
}

/* ---- the table ------------------------------------------------------------------------------------- */

#define P QFN_PURE
static const qbuiltin builtins[] = {
    { "=", f_eq, 1, -1, P | QFN_CMP },
    { "==", f_numeq, 1, -1, P | QFN_CMP },
    { "not=", f_ne, 1, -1, P | QFN_CMP },
    { "!=", f_ne, 1, -1, P | QFN_CMP },
    { "<", f_lt, 1, -1, P | QFN_CMP },
    { ">", f_gt, 1, -1, P | QFN_CMP },
    { "<=", f_le, 1, -1, P | QFN_CMP },
    { ">=", f_ge, 1, -1, P | QFN_CMP },
    { "compare", f_compare, 2, 2, P },
    { "identical?", f_identical, 2, 2, P },
    { "+", f_add, 0, -1, P },
    { "-", f_sub, 1, -1, P },
    { "*", f_mul, 0, -1, P },
    { "/", f_div, 1, -1, P },
    { "quot", f_quot, 2, 2, P },
    { "rem", f_rem, 2, 2, P },
    { "mod", f_mod, 2, 2, P },
    { "inc", f_inc, 1, 1, P },
    { "dec", f_dec, 1, 1, P },
    { "abs", f_abs, 1, 1, P },
    { "min", f_not_fn, 0, -1, QFN_NOT_FN },
    { "max", f_not_fn, 0, -1, QFN_NOT_FN },
    { "zero?", f_zero, 1, 1, P },
    { "pos?", f_pos, 1, 1, P },
    { "neg?", f_neg, 1, 1, P },
    { "even?", f_even, 1, 1, P },
    { "odd?", f_odd, 1, 1, P },
    { "rand", f_rand, 0, 1, 0 },
    { "rand-int", f_rand_int, 1, 1, 0 },
    { "true?", f_true, 1, 1, P },
    { "false?", f_false, 1, 1, P },
    { "nil?", f_nil, 1, 1, P },
    { "some?", f_some, 1, 1, P },
    { "not", f_not, 1, 1, P },
    { "and", f_and, 0, -1, P },
    { "or", f_or, 0, -1, P },
    { "identity", f_identity, 1, 1, P },
    { "string?", f_is_string, 1, 1, P },
    { "keyword?", f_is_keyword, 1, 1, P },
    { "symbol?", f_is_symbol, 1, 1, P },
    { "number?", f_is_number, 1, 1, P },
    { "int?", f_is_int, 1, 1, P },
    { "integer?", f_is_int, 1, 1, P },
    { "double?", f_is_double, 1, 1, P },
    { "float?", f_is_double, 1, 1, P },
    { "boolean?", f_is_boolean, 1, 1, P },
    { "vector?", f_is_vector, 1, 1, P },
    { "map?", f_is_map, 1, 1, P },
    { "set?", f_is_set, 1, 1, P },
    { "coll?", f_is_coll, 1, 1, P },
    { "inst?", f_is_inst, 1, 1, P },
    { "uuid?", f_is_uuid, 1, 1, P },
    { "str", f_str, 0, -1, P },
    { "pr-str", f_pr_str, 0, -1, P },
    { "prn-str", f_prn_str, 0, -1, P },
    { "print-str", f_print_str, 0, -1, P },
    { "println-str", f_println_str, 0, -1, P },
    { "count", f_count, 1, 1, P },
    { "subs", f_subs, 2, 3, P },
    { "name", f_name, 1, 1, P },
    { "namespace", f_namespace, 1, 1, P },
    { "keyword", f_keyword, 1, 2, P },
    { "symbol", f_symbol, 1, 2, P },
    { "clojure.string/starts-with?", f_starts_with, 2, 2, P },
    { "clojure.string/ends-with?", f_ends_with, 2, 2, P },
    { "clojure.string/includes?", f_includes, 2, 2, P },
    { "clojure.string/upper-case", f_upper, 1, 1, P },
    { "clojure.string/lower-case", f_lower, 1, 1, P },
    { "clojure.string/trim", f_trim, 1, 1, P },
    { "clojure.string/triml", f_triml, 1, 1, P },
    { "clojure.string/trimr", f_trimr, 1, 1, P },
    { "clojure.string/blank?", f_blank, 1, 1, P },
    { "clojure.string/join", f_join, 1, 2, P },
    { "re-pattern", f_re_pattern, 1, 1, P },
    { "re-find", f_re_find, 2, 2, P },
    { "re-matches", f_re_matches, 2, 2, P },
    { "re-seq", f_re_seq, 2, 2, P },
    { "vector", f_vector, 0, -1, P },
    { "list", f_list, 0, -1, P },
    { "hash-set", f_hash_set, 0, -1, P },
    { "set", f_set, 1, 1, P },
    { "hash-map", f_hash_map, 0, -1, P },
    { "array-map", f_hash_map, 0, -1, P },
    { "get", f_get, 2, 3, P },
    { "contains?", f_contains, 2, 2, P },
    { "nth", f_nth, 2, 3, P },
    { "first", f_first, 1, 1, P },
    { "second", f_second, 1, 1, P },
    { "last", f_last, 1, 1, P },
    { "empty?", f_empty, 1, 1, P },
    { "not-empty", f_not_empty, 1, 1, P },
    { "range", f_range, 1, 3, P },
    { "ground", f_ground, 1, 1, P },
    { "tuple", f_tuple, 0, -1, P },
    { "untuple", f_untuple, 1, 1, P },
    { "before?", f_before, 2, 2, P },
    { "after?", f_after, 2, 2, P },
    { "q", f_q, 1, -1, 0 },
    { "meta", f_meta, 1, 1, P },
    { "-differ?", f_differ, 0, -1, P },
    { "get-else", f_get_else, 4, 4, QFN_SOURCE },
    { "get-some", f_get_some, 3, -1, QFN_SOURCE },
    { "missing?", f_missing, 3, 3, QFN_SOURCE },
};
#undef P

const qbuiltin *cairn_query__builtin(cairn_val sym)
{
    size_t len;
    const char *t;
    if (cairn_type_of(sym) != CAIRN_SYMBOL)
        return NULL;
    t = cairn_ident_get(sym, &len);
    /* clojure.core/x is x */
    if (len > 13 && memcmp(t, "clojure.core/", 13) == 0) {
        t += 13;
        len -= 13;
    }
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(builtins); i++)
        if (strlen(builtins[i].name) == len && memcmp(builtins[i].name, t, len) == 0)
            return &builtins[i];
    return NULL;
}

int cairn_query__cmp_op(const qbuiltin *b)
{
    if (b->fn == f_lt)
        return '<';
    if (b->fn == f_gt)
        return '>';
    if (b->fn == f_le)
        return 'L';
    if (b->fn == f_ge)
        return 'G';
    if (b->fn == f_eq)
        return '=';
    if (b->fn == f_numeq)
        return 'N';
    return 0;
}
