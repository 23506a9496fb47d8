/*
 * Reader machinery shared by EDN and JSON (see parse.h for the design).
 */
#include "edn/parse.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/utf8.h"
#include "edn/edn.h"

int cairn_parse_init(cairn_parse *p, const char *text, size_t len, const cairn_read_limits *limits)
{
    static const cairn_read_limits defaults = CAIRN_READ_LIMITS_INIT;
    memset(p, 0, sizeof *p);
    if (limits && limits->version != CAIRN_READ_LIMITS_VERSION)
        return CAIRN_EINVALID;
    p->text = text;
    p->len = text ? len : 0;
    p->lim = limits ? *limits : defaults;
    if (p->lim.max_depth > CAIRN_MAX_DEPTH)
        p->lim.max_depth = CAIRN_MAX_DEPTH;
    return 0;
}

void cairn_parse_reset(cairn_parse *p)
{
    for (size_t i = 0; i < p->item_count; i++)
        cairn_release(p->items[i].v);
    p->item_count = 0;
    p->frame_count = 0;
    p->nesting = 0;
    p->elements = 0;
}

void cairn_parse_dispose(cairn_parse *p)
{
    cairn_parse_reset(p);
    cairn_free(p->items);
    cairn_free(p->frames);
    p->items = NULL;
    p->frames = NULL;
    p->item_cap = p->frame_cap = 0;
}

/* ---- errors ----------------------------------------------------------------- */

void cairn_parse_position(const cairn_parse *p, size_t at, int *line, int *column)
{
    size_t l = 1, c = 1;
    if (at > p->len)
        at = p->len;
    for (size_t i = 0; i < at; i++) {
        unsigned char b = (unsigned char)p->text[i];
        if (b == '\n') {
            l++;
            c = 1;
        } else if ((b & 0xc0) != 0x80) {
            c++;  /* count code points: skip continuation bytes */
        }
    }
    *line = l > INT32_MAX ? INT32_MAX : (int)l;
    *column = c > INT32_MAX ? INT32_MAX : (int)c;
}

int cairn_parse_fail(cairn_parse *p, int code, size_t at, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    int line, column;
    if (!p->err)
        return code;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cairn_parse_position(p, at, &line, &column);
    return cairn_error_set_at(p->err, code, NULL, line, column, "%s (line %d, column %d)", msg, line,
                              column);
}

int cairn_parse_oom(cairn_parse *p)
{
    return cairn_error_oom(p->err);
}

int cairn_parse_status(cairn_parse *p, int rc, size_t at, const char *what)
{
    if (rc == CAIRN_ENOMEM)
        return cairn_parse_oom(p);
    if (rc == CAIRN_ELIMIT)
        return cairn_parse_fail(p, rc, at, "%s: too large", what);
    return cairn_parse_fail(p, rc, at, "%s", what);
}

/* ---- stacks --------------------------------------------------------------------- */

/* Grows an array of elements of size sz to hold one more. */
static int grow(void **arr, size_t *cap, size_t count, size_t sz)
{
    size_t ncap;
    void *n;
    if (count < *cap)
        return 0;
    ncap = *cap ? *cap * 2 : 16;
    n = cairn_realloc(*arr, cairn_mul_size(ncap, sz));
    if (!n)
        return CAIRN_ENOMEM;
    *arr = n;
    *cap = ncap;
    return 0;
}

int cairn_parse_open(cairn_parse *p, int kind, size_t at)
{
    cairn_frame *f;
    if (p->nesting + 1 > p->lim.max_depth)
        return cairn_parse_fail(p, CAIRN_ELIMIT, at, "nesting deeper than %u (max_depth)",
                                p->lim.max_depth);
    if (grow((void **)&p->frames, &p->frame_cap, p->frame_count, sizeof *p->frames) < 0)
        return cairn_parse_oom(p);
    f = &p->frames[p->frame_count++];
    memset(f, 0, sizeof *f);
    f->kind = (uint8_t)kind;
    f->at = at;
    f->base = p->item_count;
    f->tag = cairn_nil();
    p->nesting++;
    return 0;
}

int cairn_parse_push(cairn_parse *p, cairn_val v, size_t at)
{
    if (grow((void **)&p->items, &p->item_cap, p->item_count, sizeof *p->items) < 0) {
        cairn_release(v);
        return cairn_parse_oom(p);
    }
    p->items[p->item_count].v = v;
    p->items[p->item_count].at = at;
    p->item_count++;
    return 0;
}

/* Short EDN text of v for a message ("duplicate key :a"). */
static void describe(char *out, size_t cap, cairn_val v)
{
    cairn_buf b = CAIRN_BUF_INIT;
    if (cairn_edn__print_buf(&b, v) == 0 && b.ptr) {
        if (b.len < cap)
            snprintf(out, cap, "%s", b.ptr);
        else
            snprintf(out, cap, "%.*s...", (int)(cap - 4), b.ptr);
    } else {
        snprintf(out, cap, "value");
    }
    cairn_buf_dispose(&b);
}

/* #:ns{...}: a keyword or symbol key without namespace gets ns; one in the
 * namespace _ loses it (Clojure's namespaced map syntax). */
static int ns_key(cairn_parse *p, cairn_val *key, const cairn_frame *f)
{
    char local[256], *text = local;
    size_t name_len, n;
    const char *name, *ns;
    int rc;
    if (!cairn_val_is_ident(*key))
        return 0;
    name = cairn_name_get(*key, &name_len);
    if ((ns = cairn_namespace_get(*key, &n)) != NULL) {
        if (!(n == 1 && ns[0] == '_'))
            return 0;
        return cairn_parse_ident(p, key, cairn_type_of(*key), name, name_len, f->ns_at);
    }
    n = f->ns_len + 1 + name_len;
    if (n > sizeof local && !(text = cairn_malloc(n)))
        return cairn_parse_oom(p);
    memcpy(text, p->text + f->ns_at, f->ns_len);
    text[f->ns_len] = '/';
    memcpy(text + f->ns_len + 1, name, name_len);
    if (!cairn_edn__name_ok(cairn_type_of(*key), text, n))  /* #:a{:1 x} would make :a/1 */
        rc = cairn_parse_fail(p, CAIRN_EINVALID, f->ns_at, "#:%.*s{} makes an invalid name of %s%.*s",
                              (int)CAIRN_MIN(f->ns_len, 40), text,
                              cairn_type_of(*key) == CAIRN_KEYWORD ? ":" : "", (int)CAIRN_MIN(name_len, 40), name);
    else
        rc = cairn_parse_ident(p, key, cairn_type_of(*key), text, n, f->ns_at);
    if (text != local)
        cairn_free(text);
    return rc;
}

static int build_map(cairn_parse *p, cairn_val *m, const cairn_frame *f, size_t close_at)
{
    size_t n = p->item_count - f->base;
    int rc;
    if (n % 2)
        return cairn_parse_fail(p, CAIRN_EINVALID, close_at,
                                "a map needs an even number of forms, this one has %zu", n);
    if ((rc = cairn_map_new(m, n / 2)) < 0)
        return cairn_parse_oom(p);
    for (size_t i = f->base; i < p->item_count; i += 2) {
        cairn_item *k = &p->items[i];
        if (f->ns_len && (rc = ns_key(p, &k->v, f)) < 0)
            return rc;
        rc = cairn_map_put(m, k->v, p->items[i + 1].v);
        if (rc == CAIRN_EEXISTS) {
            char what[80];
            describe(what, sizeof what, k->v);
            return cairn_parse_fail(p, CAIRN_EINVALID, k->at, "duplicate map key %s", what);
        }
        if (rc < 0)
            return cairn_parse_status(p, rc, k->at, "map");
    }
    return 0;
}

static int build_seq(cairn_parse *p, cairn_val *c, cairn_type t, size_t base)
{
    size_t n = p->item_count - base;
    int rc = t == CAIRN_LIST ? cairn_list_new(c, n) : t == CAIRN_VECTOR ? cairn_vector_new(c, n)
                                                                       : cairn_set_new(c, n);
    if (rc < 0)
        return cairn_parse_oom(p);
    for (size_t i = base; i < p->item_count; i++) {
        rc = cairn_coll_push(c, p->items[i].v);
        if (rc == CAIRN_EEXISTS) {
            char what[80];
            describe(what, sizeof what, p->items[i].v);
            return cairn_parse_fail(p, CAIRN_EINVALID, p->items[i].at, "duplicate set element %s",
                                    what);
        }
        if (rc < 0)
            return cairn_parse_status(p, rc, p->items[i].at, "collection");
    }
    return 0;
}

int cairn_parse_close(cairn_parse *p, cairn_val *out, cairn_type t, size_t close_at)
{
    cairn_frame *f = &p->frames[p->frame_count - 1];
    cairn_val c = cairn_nil();
    int rc = t == CAIRN_MAP ? build_map(p, &c, f, close_at) : build_seq(p, &c, t, f->base);
    if (rc < 0) {
        cairn_release(c);
        return rc;
    }
    /* The collection holds its own references now. */
    for (size_t i = f->base; i < p->item_count; i++)
        cairn_release(p->items[i].v);
    p->item_count = f->base;
    p->frame_count--;
    p->nesting--;
    *out = c;
    return 0;
}

/* ---- strings ----------------------------------------------------------------------- */

static int hex4(const char *s, uint32_t *out)
{
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        char c = s[i];
        v <<= 4;
        if (c >= '0' && c <= '9')
            v |= (uint32_t)(c - '0');
        else if (c >= 'a' && c <= 'f')
            v |= (uint32_t)(c - 'a' + 10);
        else if (c >= 'A' && c <= 'F')
            v |= (uint32_t)(c - 'A' + 10);
        else
            return -1;
    }
    *out = v;
    return 0;
}

/* Decodes the escape at s[*i] (just after the backslash) into dst; returns
 * bytes written or a negative status (the error already set). */
static int unescape(cairn_parse *p, const char *s, size_t end, size_t *i, char *dst, int json)
{
    size_t at = *i - 1;
    uint32_t cp, lo;
    char c = s[(*i)++];
    switch (c) {
    case '"': *dst = '"'; return 1;
    case '\\': *dst = '\\'; return 1;
    case 'n': *dst = '\n'; return 1;
    case 't': *dst = '\t'; return 1;
    case 'r': *dst = '\r'; return 1;
    case 'b': *dst = '\b'; return 1;
    case 'f': *dst = '\f'; return 1;
    case '/':
        if (json) {
            *dst = '/';
            return 1;
        }
        break;
    case 'u':
        if (*i + 4 > end || hex4(s + *i, &cp) < 0)
            return cairn_parse_fail(p, CAIRN_EINVALID, at, "\\u must be followed by four hex digits");
        *i += 4;
        if (cp >= 0xdc00 && cp <= 0xdfff)
            return cairn_parse_fail(p, CAIRN_EINVALID, at, "lone low surrogate \\u%04X", cp);
        if (cp >= 0xd800 && cp <= 0xdbff) {
            if (*i + 6 > end || s[*i] != '\\' || s[*i + 1] != 'u' || hex4(s + *i + 2, &lo) < 0 ||
                lo < 0xdc00 || lo > 0xdfff)
                return cairn_parse_fail(p, CAIRN_EINVALID, at,
                                        "high surrogate \\u%04X not followed by a low surrogate", cp);
            *i += 6;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
        }
        return (int)cairn_utf8_encode(dst, cp);
    default:
        break;
    }
    return cairn_parse_fail(p, CAIRN_EINVALID, at, "unknown escape \\%c in string%s",
                            (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?',
                            json ? "" : " (EDN has \\t \\r \\n \\b \\f \\\\ \\\" \\uXXXX)");
}

int cairn_parse_string(cairn_parse *p, cairn_val *out, int json)
{
    const char *s = p->text;
    size_t open = p->pos - 1, start = p->pos, i = start, end = p->len, n = 0;
    int escapes = 0, rc;
    cairn_val v;
    char *dst;

    /* Pass 1: find the closing quote, validate UTF-8, note escapes. */
    for (;;) {
        unsigned char c;
        if (CAIRN_UNLIKELY(i >= end))
            return cairn_parse_fail(p, CAIRN_EINVALID, end,
                                    "end of input inside the string that starts at offset %zu", open);
        c = (unsigned char)s[i];
        if (c == '"')
            break;
        if (c == '\\') {
            escapes = 1;
            i += 2;
            continue;
        }
        if (c < 0x80) {
            if (CAIRN_UNLIKELY(json && c < 0x20))
                return cairn_parse_fail(p, CAIRN_EINVALID, i,
                                        "control character U+%04X in a string must be escaped", c);
            i++;
        } else {
            uint32_t cp;
            size_t k = cairn_utf8_decode(s + i, end - i, &cp);
            if (!k)
                return cairn_parse_fail(p, CAIRN_EINVALID, i, "invalid UTF-8 in string");
            i += k;
        }
    }
    if (i - start > p->lim.max_string_len && (!escapes || (i - start) / 6 > p->lim.max_string_len))
        return cairn_parse_fail(p, CAIRN_ELIMIT, open, "string longer than %zu bytes (max_string_len)",
                                p->lim.max_string_len);
    if ((rc = cairn_str_alloc(&v, CAIRN_STRING, i - start)) < 0)
        return cairn_parse_status(p, rc, open, "string");
    dst = cairn_val_str(v)->data;
    if (!escapes) {
        memcpy(dst, s + start, i - start);
        n = i - start;
    } else {
        for (size_t j = start; j < i;) {
            if (s[j] != '\\') {
                dst[n++] = s[j++];
                continue;
            }
            j++;
            if ((rc = unescape(p, s, i, &j, dst + n, json)) < 0) {
                cairn_release(v);
                return rc;
            }
            n += (size_t)rc;
        }
        if (n > p->lim.max_string_len) {
            cairn_release(v);
            return cairn_parse_fail(p, CAIRN_ELIMIT, open,
                                    "string longer than %zu bytes (max_string_len)",
                                    p->lim.max_string_len);
        }
        cairn_val_str(v)->len = n;
        dst[n] = 0;
    }
    p->pos = i + 1;
    *out = v;
    return 0;
}

/* ---- keywords and symbols -------------------------------------------------------------- */

int cairn_parse_ident(cairn_parse *p, cairn_val *out, cairn_type kind, const char *text, size_t len,
                      size_t at)
{
    uint32_t h = 2166136261u ^ (uint32_t)kind;
    const cairn_ident **slot, *id;
    int rc;
    if (len > p->lim.max_string_len)
        return cairn_parse_fail(p, CAIRN_ELIMIT, at, "name longer than %zu bytes (max_string_len)",
                                p->lim.max_string_len);
    for (size_t i = 0; i < len; i++)
        h = (h ^ (unsigned char)text[i]) * 16777619u;
    slot = &p->idents[(h ^ (h >> 8)) & (CAIRN_IDENT_CACHE - 1)];
    id = *slot;
    if (!id || id->kind != (uint32_t)kind || id->len != len || memcmp(id->text, text, len) != 0) {
        if ((rc = cairn_intern(&id, kind, text, len)) < 0)
            return cairn_parse_status(p, rc, at, kind == CAIRN_KEYWORD ? "keyword" : "symbol");
        *slot = id;
    }
    *out = cairn_val_make(kind, (void *)id);
    return 0;
}

/* ---- integers --------------------------------------------------------------------------- */

int cairn_parse_integer(cairn_parse *p, cairn_val *out, const char *s, size_t len, int big, size_t at)
{
    size_t i = 0;
    uint64_t acc = 0;
    int neg = 0, rc;
    if (s[0] == '+' || s[0] == '-')
        neg = s[i++] == '-';
    if (len - i > p->lim.max_digits)
        return cairn_parse_fail(p, CAIRN_ELIMIT, at, "number with more than %zu digits (max_digits)",
                                p->lim.max_digits);
    if (!big) {
        for (; i < len; i++) {
            uint64_t d = (uint64_t)(s[i] - '0');
            if (acc > (UINT64_MAX - d) / 10)
                break;
            acc = acc * 10 + d;
        }
        if (i == len && acc <= (uint64_t)INT64_MAX + (uint64_t)neg) {
            *out = cairn_int(neg ? (int64_t)(0 - acc) : (int64_t)acc);
            return 0;
        }
    }
    if ((rc = cairn_bigint(out, s, len)) < 0)
        return cairn_parse_status(p, rc, at, "integer");
    return 0;
}
