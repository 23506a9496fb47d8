/*
 * Numbers across types, with Clojure's equality: numbers are equal only
 * within a category (integer: INT and BIGINT; ratio; floating: FLOAT and
 * DOUBLE; decimal: BIGDEC), and there by value, so 1 = 1N and 1.5M = 1.50M
 * but 1 != 1.0. The order compares values across all categories and breaks
 * ties by category, which keeps it total and consistent with equality.
 *
 * BIGINT and BIGDEC are kept as canonical decimal text (BIGDEC in the form
 * Java's BigDecimal.toString() prints, so EDN output matches Clojure's).
 * Exact decimals compare exactly, by parsing that text into sign, significant
 * digits and a decimal exponent; comparisons that mix in a ratio or a binary
 * float go through long double, which on x86-64 holds every int64 and every
 * double exactly. NaN equals NaN and sorts above +Inf; -0.0 equals 0.0.
 */
#include "edn/value.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"

enum { CAT_INTEGER, CAT_RATIO, CAT_FLOATING, CAT_DECIMAL };

static int category(cairn_val v)
{
    switch (v.type_) {
    case CAIRN_RATIO:
        return CAT_RATIO;
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
        return CAT_FLOATING;
    case CAIRN_BIGDEC:
        return CAT_DECIMAL;
    default:
        return CAT_INTEGER;
    }
}

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* ---- canonical text ----------------------------------------------------- */

int cairn_bigint_canon(char *out, size_t *out_len, const char *text, size_t len)
{
    size_t i = 0, n = 0, start;
    int neg = 0;
    if (i < len && (text[i] == '+' || text[i] == '-'))
        neg = text[i++] == '-';
    if (i == len)
        return CAIRN_EINVALID;
    for (size_t j = i; j < len; j++)
        if (!is_digit(text[j]))
            return CAIRN_EINVALID;
    while (i + 1 < len && text[i] == '0')
        i++;
    start = i;
    if (neg && !(len - start == 1 && text[start] == '0'))
        out[n++] = '-';
    memcpy(out + n, text + start, len - start);
    n += len - start;
    out[n] = 0;
    *out_len = n;
    return 0;
}

/*
 * Parses decimal text "[+-]digits[.digits][(e|E)[+-]digits]" into Java
 * BigDecimal terms: the unscaled digits (leading zeros dropped, at least one
 * digit) and the scale (value = unscaled * 10^-scale).
 */
struct bigdec_parts {
    int neg;             /* sign */
    char *digits;        /* unscaled digits, written into caller storage */
    size_t ndigits;      /* count */
    int64_t scale;       /* decimal scale */
};

static int bigdec_parse(struct bigdec_parts *p, char *storage, const char *text, size_t len)
{
    size_t i = 0, nfrac = 0, n = 0;
    int64_t exp = 0;
    int seen_digit = 0;
    p->neg = 0;
    if (i < len && (text[i] == '+' || text[i] == '-'))
        p->neg = text[i++] == '-';
    for (; i < len && is_digit(text[i]); i++, seen_digit = 1)
        storage[n++] = text[i];
    if (i < len && text[i] == '.') {
        for (i++; i < len && is_digit(text[i]); i++, seen_digit = 1, nfrac++)
            storage[n++] = text[i];
    }
    if (!seen_digit)
        return CAIRN_EINVALID;
    if (i < len && (text[i] == 'e' || text[i] == 'E')) {
        int eneg = 0, edigits = 0;
        i++;
        if (i < len && (text[i] == '+' || text[i] == '-'))
            eneg = text[i++] == '-';
        for (; i < len && is_digit(text[i]); i++, edigits++) {
            if (exp > 100000000)
                return CAIRN_ELIMIT;
            exp = exp * 10 + (text[i] - '0');
        }
        if (!edigits)
            return CAIRN_EINVALID;
        if (eneg)
            exp = -exp;
    }
    if (i != len)
        return CAIRN_EINVALID;
    {
        size_t z = 0;
        while (z + 1 < n && storage[z] == '0')
            z++;
        p->digits = storage + z;
        p->ndigits = n - z;
    }
    p->scale = (int64_t)nfrac - exp;
    return 0;
}

/* Writes BigDecimal.toString() of p; returns length. */
static size_t bigdec_format(char *out, const struct bigdec_parts *p)
{
    size_t n = 0;
    int64_t adjusted = -p->scale + (int64_t)p->ndigits - 1;
    int zero = p->ndigits == 1 && p->digits[0] == '0';
    if (p->neg && !zero)
        out[n++] = '-';
    if (p->scale == 0) {
        memmove(out + n, p->digits, p->ndigits);
        n += p->ndigits;
    } else if (p->scale > 0 && adjusted >= -6) {
        int64_t point = (int64_t)p->ndigits - p->scale;  /* digits before the point */
        if (point > 0) {
            memmove(out + n, p->digits, (size_t)point);
            n += (size_t)point;
            out[n++] = '.';
            memmove(out + n, p->digits + point, p->ndigits - (size_t)point);
            n += p->ndigits - (size_t)point;
        } else {
            out[n++] = '0';
            out[n++] = '.';
            for (int64_t k = 0; k < -point; k++)
                out[n++] = '0';
            memmove(out + n, p->digits, p->ndigits);
            n += p->ndigits;
        }
    } else {
        int w;
        out[n++] = p->digits[0];
        if (p->ndigits > 1) {
            out[n++] = '.';
            memmove(out + n, p->digits + 1, p->ndigits - 1);
            n += p->ndigits - 1;
        }
        w = sprintf(out + n, "E%s%" PRId64, adjusted >= 0 ? "+" : "", adjusted);
        n += (size_t)w;
    }
    out[n] = 0;
    return n;
}

int cairn_bigdec_canon(char *out, size_t *out_len, const char *text, size_t len)
{
    struct bigdec_parts p;
    char *storage = cairn_malloc(len + 1);
    int rc;
    if (!storage)
        return CAIRN_ENOMEM;
    /* The formatted text is at most len + 32 bytes: plain notation adds at
     * most "-0." and six zeros; scientific adds "." and an exponent of at
     * most 11 characters. */
    rc = bigdec_parse(&p, storage, text, len);
    if (rc == 0)
        *out_len = bigdec_format(out, &p);
    cairn_free(storage);
    return rc;
}

/* ---- exact decimal comparison ---------------------------------------------- */

/* Normalized decimal: value = 0.d1d2...dn * 10^point, d1 != 0, dn != 0. */
struct dec {
    int sign;            /* -1, 0, 1 */
    const char *d;       /* significant digits */
    size_t n;            /* count */
    int64_t point;       /* decimal exponent */
};

static void dec_from_text(struct dec *x, const char *s, size_t len)
{
    size_t i = 0, int_digits = 0, lead_zero_frac = 0;
    int64_t exp = 0;
    const char *first = NULL;
    const char *last = NULL;
    int neg = 0, in_frac = 0;
    if (i < len && (s[i] == '-' || s[i] == '+'))
        neg = s[i++] == '-';
    for (; i < len; i++) {
        char c = s[i];
        if (c == '.') {
            in_frac = 1;
            continue;
        }
        if (c == 'E' || c == 'e') {
            exp = strtoll(s + i + 1, NULL, 10);
            break;
        }
        if (!is_digit(c))
            break;
        if (!first) {
            if (c == '0') {
                if (in_frac)
                    lead_zero_frac++;
                continue;
            }
            first = s + i;
        }
        if (!in_frac)
            int_digits++;
        if (c != '0')
            last = s + i;
    }
    if (!first) {
        x->sign = 0;
        x->d = NULL;
        x->n = 0;
        x->point = 0;
        return;
    }
    x->sign = neg ? -1 : 1;
    x->d = first;
    /* n = significant digits, skipping a '.' that may sit between first and last */
    x->n = 0;
    for (const char *p = first; p <= last; p++)
        if (*p != '.')
            x->n++;
    x->point = (int64_t)int_digits - (int_digits ? 0 : (int64_t)lead_zero_frac) + exp;
}

/* k-th significant digit of x (k < x->n). */
static char dec_digit(const struct dec *x, size_t k)
{
    const char *p = x->d;
    for (;; p++) {
        if (*p == '.')
            continue;
        if (k-- == 0)
            return *p;
    }
}

static int dec_cmp(const struct dec *a, const struct dec *b)
{
    int mag;
    if (a->sign != b->sign)
        return a->sign < b->sign ? -1 : 1;
    if (a->sign == 0)
        return 0;
    if (a->point != b->point) {
        mag = a->point < b->point ? -1 : 1;
    } else {
        size_t n = CAIRN_MIN(a->n, b->n);
        mag = 0;
        /* fast path: no '.' inside the digit runs */
        for (size_t k = 0; k < n && !mag; k++) {
            char ca = dec_digit(a, k), cb = dec_digit(b, k);
            if (ca != cb)
                mag = ca < cb ? -1 : 1;
        }
        if (!mag && a->n != b->n)
            mag = a->n < b->n ? -1 : 1;
    }
    return a->sign > 0 ? mag : -mag;
}

static void dec_of(struct dec *x, cairn_val v, char *tmp)
{
    if (v.type_ == CAIRN_INT) {
        int n = sprintf(tmp, "%" PRId64, v.u_.i);
        dec_from_text(x, tmp, (size_t)n);
    } else {
        dec_from_text(x, cairn_val_str(v)->data, cairn_val_str(v)->len);
    }
}

/* ---- conversions ------------------------------------------------------------- */

int cairn_bigint_to_int64(cairn_val v, int64_t *out)
{
    const char *s;
    size_t len, i = 0;
    uint64_t acc = 0;
    int neg = 0;
    if (v.type_ == CAIRN_INT) {
        *out = v.u_.i;
        return 1;
    }
    if (v.type_ != CAIRN_BIGINT)
        return 0;
    s = cairn_val_str(v)->data;
    len = cairn_val_str(v)->len;
    if (s[0] == '-')
        neg = 1, i = 1;
    if (len - i > 19)
        return 0;
    for (; i < len; i++) {
        uint64_t d = (uint64_t)(s[i] - '0');
        if (acc > (UINT64_MAX - d) / 10)
            return 0;
        acc = acc * 10 + d;
    }
    if (neg) {
        if (acc > (uint64_t)INT64_MAX + 1)
            return 0;
        *out = (int64_t)(0 - acc);
    } else {
        if (acc > (uint64_t)INT64_MAX)
            return 0;
        *out = (int64_t)acc;
    }
    return 1;
}

long double cairn_number_approx(cairn_val v)
{
    switch (v.type_) {
    case CAIRN_INT:
        return (long double)v.u_.i;
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
        return (long double)v.u_.d;
    case CAIRN_RATIO: {
        const cairn_ratio_obj *r = v.u_.p;
        return (long double)r->num / (long double)r->den;
    }
    case CAIRN_BIGINT:
    case CAIRN_BIGDEC:
        return strtold(cairn_val_str(v)->data, NULL);
    default:
        return 0;
    }
}

/* ---- comparison ----------------------------------------------------------------- */

static int cmp_ld(long double a, long double b)
{
    int na = isnan(a), nb = isnan(b);
    if (na || nb)
        return na - nb;  /* NaN above everything, equal to itself */
    return (a > b) - (a < b);
}

static int is_exact_decimal(cairn_val v)
{
    return v.type_ == CAIRN_INT || v.type_ == CAIRN_BIGINT || v.type_ == CAIRN_BIGDEC;
}

static int value_compare(cairn_val a, cairn_val b)
{
    if (a.type_ == CAIRN_INT && b.type_ == CAIRN_INT)
        return (a.u_.i > b.u_.i) - (a.u_.i < b.u_.i);
    if (is_exact_decimal(a) && is_exact_decimal(b)) {
        char ta[24], tb[24];
        struct dec x, y;
        dec_of(&x, a, ta);
        dec_of(&y, b, tb);
        return dec_cmp(&x, &y);
    }
    if (a.type_ == CAIRN_RATIO || b.type_ == CAIRN_RATIO) {
        int64_t an, ad, bn, bd;
        if ((a.type_ == CAIRN_RATIO || a.type_ == CAIRN_INT) && (b.type_ == CAIRN_RATIO || b.type_ == CAIRN_INT)) {
            __int128 l, r;
            cairn_ratio_parts(a, &an, &ad);
            cairn_ratio_parts(b, &bn, &bd);
            l = (__int128)an * bd;
            r = (__int128)bn * ad;
            return (l > r) - (l < r);
        }
    }
    return cmp_ld(cairn_number_approx(a), cairn_number_approx(b));
}

int cairn_number_compare(cairn_val a, cairn_val b)
{
    int c = value_compare(a, b);
    if (c)
        return c;
    c = category(a) - category(b);
    return (c > 0) - (c < 0);
}

int cairn_number_equal(cairn_val a, cairn_val b)
{
    if (category(a) != category(b))
        return 0;
    if (a.type_ == CAIRN_INT && b.type_ == CAIRN_INT)
        return a.u_.i == b.u_.i;
    return value_compare(a, b) == 0;
}

uint64_t cairn_number_hash(cairn_val v)
{
    switch (v.type_) {
    case CAIRN_INT:
        return cairn_hash_mix((uint64_t)v.u_.i ^ 0x1a7e6e5ULL);
    case CAIRN_BIGINT: {
        int64_t i;
        if (cairn_bigint_to_int64(v, &i))
            return cairn_hash_mix((uint64_t)i ^ 0x1a7e6e5ULL);
        return cairn_hash_bytes(cairn_val_str(v)->data, cairn_val_str(v)->len, 0xb161);
    }
    case CAIRN_RATIO: {
        const cairn_ratio_obj *r = v.u_.p;
        return cairn_hash_combine(cairn_hash_mix((uint64_t)r->num), (uint64_t)r->den);
    }
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE: {
        double d = v.u_.d;
        uint64_t bits;
        if (d == 0)
            d = 0;  /* -0.0 hashes as 0.0 */
        if (isnan(d))
            d = NAN;
        memcpy(&bits, &d, sizeof bits);
        return cairn_hash_mix(bits ^ 0xf10a7ULL);
    }
    case CAIRN_BIGDEC: {
        struct dec x;
        uint64_t h;
        dec_from_text(&x, cairn_val_str(v)->data, cairn_val_str(v)->len);
        h = cairn_hash_combine((uint64_t)x.sign, (uint64_t)x.point);
        for (size_t k = 0; k < x.n; k++)
            h = cairn_hash_combine(h, (uint64_t)dec_digit(&x, k));
        return h;
    }
    default:
        return 0;
    }
}
