/*
 * Canonical answer form and SHA-256 signatures (see canon.h). SHA-256 comes
 * from libcrypto's EVP interface, which the library links already; the
 * low-level SHA256_* calls are deprecated in OpenSSL 3.
 */
#include "canon.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

void bench_oom(void)
{
    fputs("bench: out of memory\n", stderr);
    exit(3);
}

void *bench_xmalloc(size_t size)
{
    void *p = malloc(size ? size : 1);
    if (!p)
        bench_oom();
    return p;
}

void *bench_xrealloc(void *ptr, size_t size)
{
    void *p = realloc(ptr, size ? size : 1);
    if (!p)
        bench_oom();
    return p;
}

char *bench_xstrdup(const char *text)
{
    size_t len = strlen(text);
    char *p = bench_xmalloc(len + 1);
    memcpy(p, text, len + 1);
    return p;
}

static void str_reserve(bench_str *s, size_t more)
{
    size_t want = s->len + more + 1;
    if (want <= s->cap)
        return;
    size_t cap = s->cap ? s->cap : 64;
    while (cap < want)
        cap *= 2;
    s->ptr = bench_xrealloc(s->ptr, cap);
    s->cap = cap;
}

void bench_str_add(bench_str *s, const char *bytes, size_t len)
{
    str_reserve(s, len);
    memcpy(s->ptr + s->len, bytes, len);
    s->len += len;
    s->ptr[s->len] = '\0';
}

void bench_str_adds(bench_str *s, const char *text)
{
    bench_str_add(s, text, strlen(text));
}

void bench_str_printf(bench_str *s, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    str_reserve(s, (size_t)n);
    va_start(ap, fmt);
    vsnprintf(s->ptr + s->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    s->len += (size_t)n;
}

char *bench_str_take(bench_str *s)
{
    char *p = s->ptr ? s->ptr : bench_xstrdup("");
    s->ptr = NULL;
    s->len = s->cap = 0;
    return p;
}

void bench_str_dispose(bench_str *s)
{
    free(s->ptr);
    s->ptr = NULL;
    s->len = s->cap = 0;
}

void bench_sha256_hex(char out[65], const void *bytes, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    static const char hex[] = "0123456789abcdef";
    if (!EVP_Digest(bytes, len, md, &md_len, EVP_sha256(), NULL) || md_len != 32) {
        fputs("bench: SHA-256 failed\n", stderr);
        exit(3);
    }
    for (unsigned i = 0; i < 32; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[64] = '\0';
}

/* JSON.stringify's escapes: the two-character ones, \u00XX for the other
 * control characters, everything else (UTF-8 included) as is. */
static void canon_string(bench_str *out, const char *p, size_t len)
{
    bench_str_add(out, "\"", 1);
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)p[i];
        const char *esc = NULL;
        switch (c) {
        case '"': esc = "\\\""; break;
        case '\\': esc = "\\\\"; break;
        case '\b': esc = "\\b"; break;
        case '\f': esc = "\\f"; break;
        case '\n': esc = "\\n"; break;
        case '\r': esc = "\\r"; break;
        case '\t': esc = "\\t"; break;
        default: break;
        }
        if (esc)
            bench_str_adds(out, esc);
        else if (c < 0x20)
            bench_str_printf(out, "\\u%04x", c);
        else
            bench_str_add(out, (const char *)&c, 1);
    }
    bench_str_add(out, "\"", 1);
}

/* A JS number: String(x) when whole (so an avg of 5.0 prints "5"), else
 * x.toFixed(6). No 7th-decimal tie is exactly representable in binary, so
 * printf's rounding agrees with toFixed's. */
static void canon_number(bench_str *out, double x)
{
    if (isfinite(x) && x == floor(x) && fabs(x) < 1e21)
        bench_str_printf(out, "%.0f", x == 0 ? 0.0 : x);
    else if (isfinite(x))
        bench_str_printf(out, "%.6f", x);
    else
        bench_str_adds(out, isnan(x) ? "NaN" : x > 0 ? "Infinity" : "-Infinity");
}

static int cmp_text(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The canonical texts of the elements of coll (or of the values of a map
 * when vals is set), each a separate string. */
static char **canon_items(cairn_val coll, int vals, int sort_arrays)
{
    size_t n = cairn_count(coll);
    char **items = bench_xmalloc(n * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        bench_str s = BENCH_STR_INIT;
        bench_canon(&s, vals ? cairn_map_val_get(coll, i) : cairn_coll_get(coll, i), sort_arrays);
        items[i] = bench_str_take(&s);
    }
    return items;
}

static void free_items(char **items, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(items[i]);
    free(items);
}

/* Appends open, the items separated by sep, close; frees the items. */
static void join(bench_str *out, char **items, size_t n, const char *open, const char *sep, const char *close)
{
    bench_str_adds(out, open);
    for (size_t i = 0; i < n; i++) {
        if (i)
            bench_str_adds(out, sep);
        bench_str_adds(out, items[i]);
    }
    bench_str_adds(out, close);
    free_items(items, n);
}

static void canon_array(bench_str *out, cairn_val coll, int sort_arrays)
{
    size_t n = cairn_count(coll);
    char **items = canon_items(coll, 0, sort_arrays);
    if (sort_arrays)
        qsort(items, n, sizeof *items, cmp_text);
    join(out, items, n, "[", " ", "]");
}

/* A map key as bench.js writes it: ":" + name unless it already starts
 * with ":" (DataScript's JS keys are "name" and ":db/id"). */
static char *canon_key(cairn_val k)
{
    bench_str s = BENCH_STR_INIT;
    size_t len;
    const char *p;
    if (cairn_type_of(k) == CAIRN_KEYWORD || cairn_type_of(k) == CAIRN_SYMBOL) {
        p = cairn_ident_get(k, &len);
        bench_str_add(&s, ":", 1);
        bench_str_add(&s, p, len);
    } else if (cairn_type_of(k) == CAIRN_STRING) {
        p = cairn_str_get(k, &len);
        if (!len || p[0] != ':')
            bench_str_add(&s, ":", 1);
        bench_str_add(&s, p, len);
    } else {
        bench_str_add(&s, ":", 1);
        bench_canon(&s, k, 0);
    }
    return bench_str_take(&s);
}

/* Each entry rendered as "<key> <value>": sorting those strings sorts by
 * key, as bench.js does, because keys are distinct and a space sorts before
 * every character a key can hold. */
static void canon_map(bench_str *out, cairn_val map)
{
    size_t n = cairn_count(map);
    char **vals = canon_items(map, 1, 1);
    char **entries = bench_xmalloc(n * sizeof *entries);
    for (size_t i = 0; i < n; i++) {
        char *key = canon_key(cairn_map_key_get(map, i));
        bench_str e = BENCH_STR_INIT;
        bench_str_adds(&e, key);
        bench_str_add(&e, " ", 1);
        bench_str_adds(&e, vals[i]);
        entries[i] = bench_str_take(&e);
        free(key);
    }
    qsort(entries, n, sizeof *entries, cmp_text);
    join(out, entries, n, "{", ", ", "}");
    free_items(vals, n);
}

void bench_canon(bench_str *out, cairn_val v, int sort_arrays)
{
    size_t len;
    const char *p;
    int64_t num, den;
    switch (cairn_type_of(v)) {
    case CAIRN_NIL: bench_str_adds(out, "nil"); break;
    case CAIRN_BOOL: bench_str_adds(out, cairn_bool_value(v) ? "true" : "false"); break;
    case CAIRN_INT: bench_str_printf(out, "%lld", (long long)cairn_int_value(v)); break;
    case CAIRN_INST: bench_str_printf(out, "%lld", (long long)cairn_inst_value(v)); break;
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE: canon_number(out, cairn_double_value(v)); break;
    case CAIRN_RATIO:
        cairn_ratio_parts(v, &num, &den);
        canon_number(out, (double)num / (double)den);
        break;
    case CAIRN_BIGINT:
        p = cairn_str_get(v, &len);
        bench_str_add(out, p, len);
        break;
    case CAIRN_BIGDEC: canon_number(out, strtod(cairn_str_get(v, &len), NULL)); break;
    case CAIRN_STRING:
        p = cairn_str_get(v, &len);
        canon_string(out, p, len);
        break;
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL:
        p = cairn_ident_get(v, &len);
        canon_string(out, p, len);
        break;
    case CAIRN_LIST:
    case CAIRN_VECTOR:
    case CAIRN_SET: canon_array(out, v, sort_arrays); break;
    case CAIRN_MAP: canon_map(out, v); break;
    default: {
        char *text = NULL;
        size_t text_len = 0;
        if (cairn_edn_print(&text, &text_len, v) != 0)
            bench_oom();
        canon_string(out, text, text_len);
        cairn_free(text);
        break;
    }
    }
}

void bench_sig_rows(bench_sig *out, char *const *rows, size_t count, int sort)
{
    char **order = bench_xmalloc(count * sizeof *order);
    bench_str all = BENCH_STR_INIT;
    memcpy(order, rows, count * sizeof *order);
    if (sort)
        qsort(order, count, sizeof *order, cmp_text);
    for (size_t i = 0; i < count; i++) {
        if (i)
            bench_str_add(&all, "\n", 1);
        bench_str_adds(&all, order[i]);
    }
    out->count = count;
    bench_sha256_hex(out->sha256, all.ptr ? all.ptr : "", all.len);
    bench_str_dispose(&all);
    free(order);
}

static int is_coll(cairn_val v)
{
    cairn_type t = cairn_type_of(v);
    return t == CAIRN_SET || t == CAIRN_VECTOR || t == CAIRN_LIST;
}

/* resultSignature: a collection result is its rows; anything else is one. */
static void sig_of(bench_sig *out, cairn_val result, int sort_arrays, int sort_rows)
{
    if (is_coll(result)) {
        size_t n = cairn_count(result);
        char **rows = canon_items(result, 0, sort_arrays);
        bench_sig_rows(out, rows, n, sort_rows);
        free_items(rows, n);
    } else {
        bench_str s = BENCH_STR_INIT;
        bench_canon(&s, result, sort_arrays);
        char *row = s.ptr;  /* never empty: at least "nil" */
        bench_sig_rows(out, &row, 1, 0);
        bench_str_dispose(&s);
    }
}

void bench_sig_q(bench_sig *out, cairn_val result)
{
    sig_of(out, result, 0, 1);
}

void bench_sig_pull(bench_sig *out, cairn_val result)
{
    bench_str s = BENCH_STR_INIT;
    bench_canon(&s, result, 1);
    char *row = s.ptr;
    bench_sig_rows(out, &row, 1, 0);
    bench_str_dispose(&s);
}

void bench_sig_pull_many(bench_sig *out, cairn_val result)
{
    sig_of(out, result, 1, 0);
}
