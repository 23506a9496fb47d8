/*
 * Text forms of scalars shared by the EDN and JSON codecs (see scalar.h).
 *
 * Doubles. Java prints the shortest decimal that reads back as the same
 * double, and Clojure's pr-str inherits that, so cairn must pick the same
 * digits. Two paths find them:
 *  - a fast path for the common data values (prices, measures, integral
 *    doubles): the first k in 0, 1, 2, ... for which m = round(d * 10^k) is
 *    an integer below 2^50 with m / 10^k == d exactly. Below 2^50 the gap
 *    between neighbouring doubles is under a quarter of 10^-k, so at most one
 *    k-digit decimal reads back as d, and the first k that works gives the
 *    fewest digits. Both operations are exact or correctly rounded in IEEE
 *    arithmetic, so the test is exact.
 *  - otherwise printf's correctly rounded "%.*e" at 15, 16, then 17 digits,
 *    each checked by reading it back. Any decimal of at most 15 digits
 *    survives a trip through a normal double (DBL_DIG), so when the shortest form
 *    has at most 15 digits the 15-digit rounding, stripped of trailing zeros,
 *    is that form; at 16 and 17 digits the correctly rounded decimal is the
 *    closest one, which is what the JDK picks among the shortest.
 *    Subnormals have fewer digits of precision, so for them the search
 *    starts at one digit.
 * Rejected: porting Ryu or Schubfach (large power tables to carry and
 * review) for a speed-up that only the slow path would see.
 *
 * Reading decimal text uses Clinger's exact fast path (at most 19 digits
 * forming an integer below 2^53, and a power of ten up to 10^22) and
 * otherwise glibc's correctly rounded strtod_l in the "C" locale, so a
 * program that called setlocale() cannot turn "1.5" into 1.0.
 */
#include "edn/scalar.h"

#include <float.h>
#include <locale.h>
#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"

static const double pow10_tab[23] = {
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11,
    1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22,
};

/* ---- the "C" locale for strtod_l ------------------------------------------ */

static pthread_once_t c_locale_once = PTHREAD_ONCE_INIT;
static locale_t c_locale;

static void c_locale_init(void)
{
    c_locale = newlocale(LC_ALL_MASK, "C", (locale_t)0);
}

static locale_t get_c_locale(void)
{
    pthread_once(&c_locale_once, c_locale_init);
    return c_locale;
}

/* Reads a NUL-terminated C-syntax decimal as a double or a float. */
static double read_back(const char *s, int is_float)
{
    locale_t loc = get_c_locale();
    if (is_float)
        return loc ? (double)strtof_l(s, NULL, loc) : (double)strtof(s, NULL);
    return loc ? strtod_l(s, NULL, loc) : strtod(s, NULL);
}

/* ---- shortest digits ----------------------------------------------------------- */

/* A positive finite value as digits (no trailing zeros) times 10^(exp10 - n + 1):
 * digits[0] is the leading digit, exp10 its power of ten. */
struct decimal {
    char digits[24];   /* significant digits, no trailing zeros */
    int n;             /* count */
    int exp10;         /* scientific exponent of digits[0] */
};

static void decimal_from_u64(struct decimal *x, uint64_t m, int k)
{
    char tmp[24];
    int len = 0;
    while (m) {
        tmp[len++] = (char)('0' + m % 10);
        m /= 10;
    }
    x->n = 0;
    for (int i = len - 1; i >= 0; i--)
        x->digits[x->n++] = tmp[i];
    while (x->n > 1 && x->digits[x->n - 1] == '0')
        x->n--;
    x->exp10 = len - 1 - k;
}

/* The fast path; 1 when it found the digits. d > 0. */
static int shortest_fast(struct decimal *x, double d)
{
    for (int k = 0; k <= 22; k++) {
        double s = d * pow10_tab[k];
        double m;
        if (s >= 1125899906842624.0)  /* 2^50 */
            return 0;
        m = nearbyint(s);
        if (m >= 1 && m / pow10_tab[k] == d) {
            decimal_from_u64(x, (uint64_t)m, k);
            return 1;
        }
    }
    return 0;
}

/*
 * Correctly rounded prec-digit decimal of d (> 0) via printf; 1 when it
 * reads back as d. The radix character printf uses is locale-dependent, so
 * the digits are picked out of its output rather than trusting its layout.
 */
static int rounded_digits(struct decimal *x, double d, int prec, int is_float)
{
    char buf[64], back[64];
    const char *p;
    int n = 0, e;
    snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    for (p = buf; *p && *p != 'e'; p++)
        if (*p >= '0' && *p <= '9' && n < (int)sizeof x->digits)
            x->digits[n++] = *p;
    e = *p == 'e' ? atoi(p + 1) : 0;
    while (n > 1 && x->digits[n - 1] == '0')
        n--;
    x->n = n;
    x->exp10 = e;
    memcpy(back, x->digits, (size_t)n);
    snprintf(back + n, sizeof back - (size_t)n, "e%d", e - n + 1);
    return read_back(back, is_float) == d;
}

static void shortest(struct decimal *x, double d, int is_float)
{
    int lo = is_float ? 6 : 15, hi = is_float ? 9 : 17;
    x->n = 0;
    if (!is_float && shortest_fast(x, d))
        return;
    if (d < (is_float ? FLT_MIN : DBL_MIN))
        lo = 1;  /* subnormals carry fewer digits than DBL_DIG / FLT_DIG */
    for (int prec = lo; prec < hi; prec++)
        if (rounded_digits(x, d, prec, is_float))
            goto found;
    rounded_digits(x, d, hi, is_float);
found:
    /* The JDK picks among two-digit decimals when one digit would do
     * (Double.MIN_VALUE prints as 4.9E-324, not 5.0E-324). */
    if (x->n == 1) {
        struct decimal two;
        if (rounded_digits(&two, d, 2, is_float))
            *x = two;
    }
}

/* Lays x out as Java does; returns the length written after out. */
static size_t layout(char *out, const struct decimal *x)
{
    size_t n = 0;
    int e = x->exp10;
    if (e >= -3 && e < 7) {
        if (e >= 0) {
            for (int i = 0; i <= e; i++)
                out[n++] = i < x->n ? x->digits[i] : '0';
            out[n++] = '.';
            if (x->n > e + 1) {
                memcpy(out + n, x->digits + e + 1, (size_t)(x->n - e - 1));
                n += (size_t)(x->n - e - 1);
            } else {
                out[n++] = '0';
            }
        } else {
            out[n++] = '0';
            out[n++] = '.';
            for (int i = 0; i < -e - 1; i++)
                out[n++] = '0';
            memcpy(out + n, x->digits, (size_t)x->n);
            n += (size_t)x->n;
        }
    } else {
        out[n++] = x->digits[0];
        out[n++] = '.';
        if (x->n > 1) {
            memcpy(out + n, x->digits + 1, (size_t)(x->n - 1));
            n += (size_t)(x->n - 1);
        } else {
            out[n++] = '0';
        }
        n += (size_t)sprintf(out + n, "E%d", e);
    }
    out[n] = 0;
    return n;
}

static size_t fmt_floating(char *out, double d, int is_float)
{
    struct decimal x = { { 0 }, 0, 0 };
    size_t n = 0;
    if (isnan(d))
        return (size_t)sprintf(out, "NaN");
    if (signbit(d)) {
        out[n++] = '-';
        d = -d;
    }
    if (isinf(d))
        return n + (size_t)sprintf(out + n, "Infinity");
    if (d == 0)
        return n + (size_t)sprintf(out + n, "0.0");
    shortest(&x, d, is_float);
    return n + layout(out + n, &x);
}

size_t cairn_fmt_double(char *out, double d)
{
    return fmt_floating(out, d, 0);
}

size_t cairn_fmt_float(char *out, float f)
{
    return fmt_floating(out, (double)f, 1);
}

/* ---- decimal text to double --------------------------------------------------- */

/* Clinger's fast path; 1 when it applies. */
static int parse_fast(double *out, const char *s, size_t len)
{
    size_t i = 0;
    uint64_t m = 0;
    int ndig = 0, frac = 0, neg = 0, exp = 0, eneg = 0, edig = 0;
    double d;
    if (s[i] == '+' || s[i] == '-')
        neg = s[i++] == '-';
    for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
        if (m || s[i] != '0')
            ndig++;
        m = m * 10 + (uint64_t)(s[i] - '0');
        if (ndig > 19)
            return 0;
    }
    if (i < len && s[i] == '.') {
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (m || s[i] != '0')
                ndig++;
            if (ndig > 19)
                return 0;
            m = m * 10 + (uint64_t)(s[i] - '0');
            frac++;
        }
    }
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            eneg = s[i++] == '-';
        for (; i < len && s[i] >= '0' && s[i] <= '9'; i++) {
            if (++edig > 4)
                return 0;
            exp = exp * 10 + (s[i] - '0');
        }
    }
    if (eneg)
        exp = -exp;
    exp -= frac;
    if (m > ((uint64_t)1 << 53) || exp < -22 || exp > 22)
        return 0;
    d = (double)m;
    d = exp < 0 ? d / pow10_tab[-exp] : d * pow10_tab[exp];
    *out = neg ? -d : d;
    return 1;
}

int cairn_parse_double(double *out, const char *s, size_t len)
{
    char local[128], *copy = local;
    if (len == 0) {
        *out = 0;
        return 0;
    }
    if (parse_fast(out, s, len))
        return 0;
    if (len >= sizeof local && !(copy = cairn_malloc(len + 1)))
        return CAIRN_ENOMEM;
    memcpy(copy, s, len);
    copy[len] = 0;
    *out = read_back(copy, 0);
    if (copy != local)
        cairn_free(copy);
    return 0;
}

/* ---- integers ----------------------------------------------------------------- */

size_t cairn_fmt_int(char *out, int64_t i)
{
    char tmp[24];
    size_t n = 0, len = 0;
    uint64_t u = i < 0 ? (uint64_t)0 - (uint64_t)i : (uint64_t)i;
    if (i < 0)
        out[len++] = '-';
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    while (n)
        out[len++] = tmp[--n];
    out[len] = 0;
    return len;
}

/* ---- UUID ------------------------------------------------------------------------ */

static int hex_value(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

size_t cairn_fmt_uuid(char *out, const uint8_t bytes[16])
{
    static const char hex[] = "0123456789abcdef";
    size_t n = 0;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[n++] = '-';
        out[n++] = hex[bytes[i] >> 4];
        out[n++] = hex[bytes[i] & 15];
    }
    out[n] = 0;
    return n;
}

int cairn_parse_uuid(uint8_t out[16], const char *s, size_t len)
{
    int b = 0;
    if (len != 36)
        return CAIRN_EINVALID;
    for (size_t i = 0; i < 36;) {
        int hi, lo;
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i++] != '-')
                return CAIRN_EINVALID;
            continue;
        }
        hi = hex_value(s[i]);
        lo = hex_value(s[i + 1]);
        if (hi < 0 || lo < 0)
            return CAIRN_EINVALID;
        out[b++] = (uint8_t)(hi << 4 | lo);
        i += 2;
    }
    return 0;
}

/* ---- base64 ------------------------------------------------------------------- */

static const char b64_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cairn_base64_encode(char *out, const uint8_t *data, size_t n)
{
    size_t i = 0, o = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)data[i] << 16 | (uint32_t)data[i + 1] << 8 | data[i + 2];
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = b64_alphabet[(v >> 6) & 63];
        out[o++] = b64_alphabet[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)data[i] << 16 | (i + 1 < n ? (uint32_t)data[i + 1] << 8 : 0);
        out[o++] = b64_alphabet[v >> 18];
        out[o++] = b64_alphabet[(v >> 12) & 63];
        out[o++] = i + 1 < n ? b64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = '=';
    }
}

static int b64_value(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

int cairn_base64_decode(uint8_t *out, size_t *out_len, const char *s, size_t len)
{
    size_t o = 0;
    if (len % 4)
        return CAIRN_EINVALID;
    for (size_t i = 0; i < len; i += 4) {
        int pad = 0, v[4];
        uint32_t w;
        for (int j = 0; j < 4; j++) {
            v[j] = b64_value(s[i + j]);
            if (v[j] < 0) {
                /* '=' only as the last one or two characters */
                if (s[i + j] != '=' || i + 4 != len || j < 2 || (j == 2 && s[i + 3] != '='))
                    return CAIRN_EINVALID;
                v[j] = 0;
                pad++;
            }
        }
        w = (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        if ((pad == 1 && (w & 0xff)) || (pad == 2 && (w & 0xffff)))
            return CAIRN_EINVALID;  /* non-zero unused bits: not canonical */
        out[o++] = (uint8_t)(w >> 16);
        if (pad < 2)
            out[o++] = (uint8_t)(w >> 8);
        if (pad < 1)
            out[o++] = (uint8_t)w;
    }
    *out_len = o;
    return 0;
}

/* ---- instants ------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
    int64_t era, yoe, doy, doe;
    y -= m <= 2;
    era = (y >= 0 ? y : y - 399) / 400;
    yoe = y - era * 400;
    doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int64_t *y, int *m, int *d)
{
    int64_t era, doe, yoe, doy, mp;
    z += 719468;
    era = (z >= 0 ? z : z - 146096) / 146097;
    doe = z - era * 146097;
    yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    mp = (5 * doy + 2) / 153;
    *d = (int)(doy - (153 * mp + 2) / 5 + 1);
    *m = (int)(mp < 10 ? mp + 3 : mp - 9);
    *y = yoe + era * 400 + (*m <= 2);
}

static int days_in_month(int64_t y, int m)
{
    static const int days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    int leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    return m == 2 && leap ? 29 : days[m - 1];
}

/* Reads exactly n digits at s[*i]; -1 when they are not there. */
static int fixed_digits(const char *s, size_t len, size_t *i, int n)
{
    int v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return -1;
        v = v * 10 + (s[*i] - '0');
    }
    return v;
}

/* The optional "-NN" / ":NN" / "TNN" field introduced by sep; 1 if present. */
static int field(const char *s, size_t len, size_t *i, char sep, int *out)
{
    if (*i >= len || s[*i] != sep)
        return 0;
    (*i)++;
    *out = fixed_digits(s, len, i, 2);
    return *out >= 0 ? 1 : -1;
}

int cairn_parse_inst(int64_t *ms_out, const char *s, size_t len)
{
    size_t i = 0;
    int year, month = 1, day = 1, hour = 0, minute = 0, second = 0, millis = 0;
    int off_sign = 0, off_h = 0, off_m = 0;
    int64_t ms;

    if ((year = fixed_digits(s, len, &i, 4)) < 0)
        return CAIRN_EINVALID;
    if (field(s, len, &i, '-', &month) > 0 && field(s, len, &i, '-', &day) > 0 &&
        field(s, len, &i, 'T', &hour) > 0 && field(s, len, &i, ':', &minute) > 0 &&
        field(s, len, &i, ':', &second) > 0 && i < len && s[i] == '.') {
        int nd = 0;
        for (i++; i < len && s[i] >= '0' && s[i] <= '9'; i++, nd++)
            if (nd < 3)
                millis = millis * 10 + (s[i] - '0');
        if (nd == 0)
            return CAIRN_EINVALID;
        for (; nd < 3; nd++)
            millis *= 10;
    }
    if (month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0)
        return CAIRN_EINVALID;
    if (i < len && s[i] == 'Z') {
        i++;
    } else if (i < len && (s[i] == '+' || s[i] == '-')) {
        off_sign = s[i++] == '-' ? -1 : 1;
        if ((off_h = fixed_digits(s, len, &i, 2)) < 0 || i >= len || s[i++] != ':' ||
            (off_m = fixed_digits(s, len, &i, 2)) < 0 || off_h > 23 || off_m > 59)
            return CAIRN_EINVALID;
    }
    if (i != len || month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) ||
        hour > 23 || minute > 59 || second > (minute == 59 ? 60 : 59))
        return CAIRN_EINVALID;
    ms = days_from_civil(year, month, day) * 86400000 +
         ((int64_t)hour * 3600 + minute * 60 + second) * 1000 + millis;
    ms -= (int64_t)off_sign * ((int64_t)off_h * 60 + off_m) * 60000;
    *ms_out = ms;
    return 0;
}

size_t cairn_fmt_inst(char *out, int64_t ms)
{
    int64_t days = ms / 86400000, rem = ms % 86400000, y;
    int m, d;
    if (rem < 0) {
        rem += 86400000;
        days--;
    }
    civil_from_days(days, &y, &m, &d);
    return (size_t)sprintf(out, "%s%04lld-%02d-%02dT%02d:%02d:%02d.%03d-00:00", y < 0 ? "-" : "",
                           (long long)(y < 0 ? -y : y), m, d, (int)(rem / 3600000),
                           (int)(rem / 60000 % 60), (int)(rem / 1000 % 60), (int)(rem % 1000));
}
