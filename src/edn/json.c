/*
 * The JSON codec, with Datahike's conventions (its json.cljc over jsonista):
 * object keys are keywords, and a two-element array whose first element is
 * a tag string "!tag" carries a value JSON has no type for:
 *
 *   ["!kw","ns/name"]  keyword        ["!sym","x"]         symbol
 *   ["!set",[...]]     set            ["!uuid","..."]      uuid
 *   ["!date","<ms>"]   instant        ["!bytes","<b64>"]   bytes (cairn)
 *   ["!double","NaN"]  NaN, "Infinity", "-Infinity" (cairn)
 *   ["!ratio","15/2"]  ratio (cairn)  ["!other", x]        TAGGED #other x
 *
 * The reader is strict RFC 8259 otherwise (no trailing commas, comments,
 * leading zeros, bare NaN, raw control characters, invalid UTF-8 or lone
 * surrogates; duplicate keys are an error) and uses the same explicit stack,
 * limits and line/column errors as the EDN reader (parse.h). Tags are
 * resolved when an array closes; the one subtlety is the payload of "!set",
 * an array of elements that must not itself be taken for a tag, so an array
 * opened right after a leading "!set" is kept raw until its parent closes.
 *
 * Only "!"-strings that are valid EDN tag names (a letter, then symbol
 * characters) are tags, so ["! hi", 1] or ["!!", 1] stay vectors. What JSON
 * cannot carry (floats, big decimals, chars, non-keyword map keys, vectors
 * that look like tags) is listed in docs/values.md.
 */
#include "edn/parse.h"

#include <math.h>
#include <stdio.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/utf8.h"
#include "edn/edn.h"
#include "edn/scalar.h"
#include "edn/walk.h"

/* Frame states: what the JSON grammar allows next. */
enum {
    ST_FIRST = 0,   /* just after [ or {: a value/key, or the closer */
    ST_VALUE,       /* after a comma in an array, or after ':' */
    ST_KEY,         /* after a comma in an object */
    ST_COLON,       /* after a key */
    ST_NEXT         /* after a value: ',' or the closer */
};

static int is_json_space(char c)
{
    return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static void skip_json_space(cairn_parse *p)
{
    while (p->pos < p->len && is_json_space(p->text[p->pos]))
        p->pos++;
}

/* ---- tags ----------------------------------------------------------------- */

/* 1 when s is "!" + a valid EDN tag name. */
static int is_tag_string(cairn_val s)
{
    const char *t;
    size_t n;
    if (cairn_type_of(s) != CAIRN_STRING)
        return 0;
    t = cairn_str_get(s, &n);
    return n >= 2 && t[0] == '!' &&
           ((t[1] >= 'a' && t[1] <= 'z') || (t[1] >= 'A' && t[1] <= 'Z') || (unsigned char)t[1] >= 0x80) &&
           cairn_edn__name_ok(CAIRN_SYMBOL, t + 1, n - 1);
}

static int tag_is(const char *t, size_t n, const char *name)
{
    return strlen(name) == n && memcmp(t, name, n) == 0;
}

/* Epoch milliseconds from "[-]digits". */
static int parse_ms(int64_t *out, const char *s, size_t n)
{
    size_t i = s[0] == '-';
    uint64_t acc = 0;
    if (n == i || n - i > 19)
        return CAIRN_EINVALID;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9' || acc > (uint64_t)INT64_MAX / 10)
            return CAIRN_EINVALID;
        acc = acc * 10 + (uint64_t)(s[i] - '0');
    }
    if (acc > (uint64_t)INT64_MAX)
        return CAIRN_EINVALID;
    *out = s[0] == '-' ? -(int64_t)acc : (int64_t)acc;
    return 0;
}

static int ratio_from(cairn_val *out, const char *s, size_t n)
{
    const char *slash = memchr(s, '/', n);
    int64_t num, den;
    if (!slash || parse_ms(&num, s, (size_t)(slash - s)) < 0 ||
        parse_ms(&den, slash + 1, n - (size_t)(slash - s) - 1) < 0 || slash[1] == '-' || den == 0)
        return CAIRN_EINVALID;
    return cairn_ratio(out, num, den);
}

static int set_from(cairn_val *out, cairn_val vec)
{
    int rc = cairn_set_new(out, cairn_count(vec));
    if (rc < 0)
        return rc;
    for (size_t i = 0; rc == 0 && i < cairn_count(vec); i++)
        rc = cairn_coll_push(out, cairn_coll_get(vec, i));
    if (rc < 0)
        cairn_release(*out);
    return rc < 0 && rc != CAIRN_ENOMEM ? CAIRN_EINVALID : rc;
}

static int bytes_from(cairn_val *out, const char *s, size_t n)
{
    size_t len;
    int rc = cairn_str_alloc(out, CAIRN_BYTES, n / 4 * 3);
    if (rc < 0)
        return rc;
    if (cairn_base64_decode((uint8_t *)cairn_val_str(*out)->data, &len, s, n) < 0) {
        cairn_release(*out);
        return CAIRN_EINVALID;
    }
    cairn_val_str(*out)->len = len;
    cairn_val_str(*out)->data[len] = 0;
    return 0;
}

/* The value of a built-in tag t[0..n) with payload x; CAIRN_EINVALID when
 * the payload has the wrong shape, CAIRN_ENOTFOUND for other tags. */
static int builtin_tag(cairn_val *out, const char *t, size_t n, cairn_val x)
{
    const char *s = cairn_type_of(x) == CAIRN_STRING ? cairn_val_str(x)->data : NULL;
    size_t len = s ? cairn_val_str(x)->len : 0;
    uint8_t u[16];
    int64_t ms;
    if (tag_is(t, n, "set"))
        return cairn_type_of(x) == CAIRN_VECTOR ? set_from(out, x) : CAIRN_EINVALID;
    if (!tag_is(t, n, "kw") && !tag_is(t, n, "sym") && !tag_is(t, n, "uuid") && !tag_is(t, n, "date") &&
        !tag_is(t, n, "bytes") && !tag_is(t, n, "double") && !tag_is(t, n, "ratio"))
        return CAIRN_ENOTFOUND;
    if (!s)
        return CAIRN_EINVALID;
    if (tag_is(t, n, "kw"))
        return len ? cairn_keyword(out, s, len) : CAIRN_EINVALID;
    if (tag_is(t, n, "sym"))
        return len ? cairn_symbol(out, s, len) : CAIRN_EINVALID;
    if (tag_is(t, n, "uuid"))
        return cairn_parse_uuid(u, s, len) < 0 ? CAIRN_EINVALID : cairn_uuid(out, u);
    if (tag_is(t, n, "date")) {
        if (parse_ms(&ms, s, len) < 0)
            return CAIRN_EINVALID;
        *out = cairn_inst(ms);
        return 0;
    }
    if (tag_is(t, n, "bytes"))
        return bytes_from(out, s, len);
    if (tag_is(t, n, "ratio"))
        return ratio_from(out, s, len);
    if (tag_is(s, len, "NaN") || tag_is(s, len, "Infinity") || tag_is(s, len, "-Infinity")) {
        *out = cairn_double(s[0] == 'N' ? NAN : s[0] == '-' ? -HUGE_VAL : HUGE_VAL);
        return 0;
    }
    return CAIRN_EINVALID;
}

/* Turns a tag-shaped vector *v into its value (in place); leaves others. */
static int untag(cairn_parse *p, cairn_val *v, size_t at)
{
    cairn_val head, x, r;
    const char *t;
    size_t n;
    int rc;
    if (cairn_type_of(*v) != CAIRN_VECTOR || cairn_count(*v) != 2 ||
        !is_tag_string(head = cairn_coll_get(*v, 0)))
        return 0;
    t = cairn_str_get(head, &n);
    t++, n--;
    x = cairn_coll_get(*v, 1);
    rc = builtin_tag(&r, t, n, x);
    if (rc == CAIRN_ENOTFOUND) {
        cairn_val sym;
        if ((rc = cairn_parse_ident(p, &sym, CAIRN_SYMBOL, t, n, at)) < 0)
            return rc;
        rc = cairn_tagged(&r, sym, x);
    }
    if (rc == CAIRN_EINVALID)
        return cairn_parse_fail(p, rc, at, "[\"!%.*s\", ...]: %s", (int)CAIRN_MIN(n, 40), t,
                                tag_is(t, n, "set") ? "expects an array of distinct elements"
                                : tag_is(t, n, "date") ? "expects a string of epoch milliseconds"
                                : tag_is(t, n, "double") ? "expects \"NaN\", \"Infinity\" or \"-Infinity\""
                                : "payload has the wrong form");
    if (rc < 0)
        return cairn_parse_status(p, rc, at, "tagged value");
    cairn_release(*v);
    *v = r;
    return 0;
}

/* ---- scalars --------------------------------------------------------------------- */

static int read_number(cairn_parse *p, cairn_val *out)
{
    const char *s = p->text;
    size_t at = p->pos, i = at, digits = 0, int_start;
    int is_float = 0, rc;
    double d;
    if (s[i] == '-')
        i++;
    int_start = i;
    while (i < p->len && s[i] >= '0' && s[i] <= '9')
        i++;
    if (i == int_start)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "a number needs digits after '-'");
    if (s[int_start] == '0' && i - int_start > 1)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "leading zeros are not allowed in JSON numbers");
    digits = i - int_start;
    if (i < p->len && s[i] == '.') {
        size_t f = ++i;
        while (i < p->len && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == f)
            return cairn_parse_fail(p, CAIRN_EINVALID, i, "expected digits after the decimal point");
        digits += i - f;
        is_float = 1;
    }
    if (i < p->len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e;
        i++;
        if (i < p->len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (e = i; i < p->len && s[i] >= '0' && s[i] <= '9';)
            i++;
        if (i == e)
            return cairn_parse_fail(p, CAIRN_EINVALID, i, "expected digits in the exponent");
        digits += i - e;
        is_float = 1;
    }
    if (digits > p->lim.max_digits)
        return cairn_parse_fail(p, CAIRN_ELIMIT, at, "number with more than %zu digits (max_digits)",
                                p->lim.max_digits);
    p->pos = i;
    if (!is_float)
        return cairn_parse_integer(p, out, s + at, i - at, 0, at);
    if ((rc = cairn_parse_double(&d, s + at, i - at)) < 0)
        return cairn_parse_oom(p);
    *out = cairn_double(d);
    return 0;
}

static int read_literal(cairn_parse *p, cairn_val *out)
{
    static const struct { const char *text; size_t len; int type, b; } lits[] = {
        { "true", 4, CAIRN_BOOL, 1 }, { "false", 5, CAIRN_BOOL, 0 }, { "null", 4, CAIRN_NIL, 0 },
    };
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(lits); i++) {
        if (p->len - p->pos >= lits[i].len && !memcmp(p->text + p->pos, lits[i].text, lits[i].len)) {
            p->pos += lits[i].len;
            *out = lits[i].type == CAIRN_NIL ? cairn_nil() : cairn_bool(lits[i].b);
            return 0;
        }
    }
    return cairn_parse_fail(p, CAIRN_EINVALID, p->pos, "expected a JSON value");
}

/* An object key: a keyword, or the empty string (no keyword has no name). */
static int read_key(cairn_parse *p, cairn_val *out)
{
    size_t at = p->pos++, i = p->pos;
    cairn_val s;
    int rc;
    /* Fast path: plain ASCII keys need no string object. */
    while (i < p->len && p->text[i] != '"' && p->text[i] != '\\' && (unsigned char)p->text[i] >= 0x20 &&
           (unsigned char)p->text[i] < 0x80)
        i++;
    if (i < p->len && p->text[i] == '"' && i > p->pos) {
        rc = cairn_parse_ident(p, out, CAIRN_KEYWORD, p->text + p->pos, i - p->pos, at);
        p->pos = i + 1;
        return rc;
    }
    if ((rc = cairn_parse_string(p, &s, 1)) < 0)
        return rc;
    if (cairn_val_str(s)->len == 0) {
        *out = s;
        return 0;
    }
    rc = cairn_parse_ident(p, out, CAIRN_KEYWORD, cairn_val_str(s)->data, cairn_val_str(s)->len, at);
    cairn_release(s);
    return rc;
}

/* ---- the loop -------------------------------------------------------------------- */

static int close_frame(cairn_parse *p, cairn_val *out, size_t at)
{
    cairn_frame *f = &p->frames[p->frame_count - 1];
    size_t open = f->at;
    int raw = f->raw, rc;
    if (f->kind == CAIRN_FRAME_ARRAY && f->raw_child) {
        cairn_item *it = &p->items[f->base];
        size_t n = p->item_count - f->base;
        const char *t;
        size_t tn;
        int set_payload = n == 2 && is_tag_string(it[0].v) &&
                          (t = cairn_str_get(it[0].v, &tn), tag_is(t + 1, tn - 1, "set"));
        if (!set_payload && (rc = untag(p, &it[1].v, it[1].at)) < 0)
            return rc;
    }
    p->pos++;
    if ((rc = cairn_parse_close(p, out, f->kind == CAIRN_FRAME_ARRAY ? CAIRN_VECTOR : CAIRN_MAP, at)) < 0)
        return rc;
    if (!raw && (rc = untag(p, out, open)) < 0) {
        cairn_release(*out);
        return rc;
    }
    return 0;
}

/* Opens an array; it is a possible !set payload when it is the second
 * element of an array that starts with "!set". */
static int open_array(cairn_parse *p, size_t at)
{
    cairn_frame *parent = p->frame_count ? &p->frames[p->frame_count - 1] : NULL;
    int raw = 0, rc;
    if (parent && parent->kind == CAIRN_FRAME_ARRAY && p->item_count - parent->base == 1) {
        cairn_val head = p->items[parent->base].v;
        const char *t;
        size_t n;
        if (is_tag_string(head) && (t = cairn_str_get(head, &n), tag_is(t + 1, n - 1, "set")))
            raw = parent->raw_child = 1;
    }
    if ((rc = cairn_parse_open(p, CAIRN_FRAME_ARRAY, at)) < 0)
        return rc;
    p->frames[p->frame_count - 1].raw = (uint8_t)raw;
    return 0;
}

static const char *expected(const cairn_frame *f)
{
    switch (f->state) {
    case ST_FIRST: return f->kind == CAIRN_FRAME_ARRAY ? "a value or ']'" : "a string key or '}'";
    case ST_VALUE: return "a value";
    case ST_KEY: return "a string key";
    case ST_COLON: return "':'";
    default: return f->kind == CAIRN_FRAME_ARRAY ? "',' or ']'" : "',' or '}'";
    }
}

/*
 * One step inside an open frame, for everything but a value: commas,
 * colons and closers. Returns 1 when a value (or key) must be read next, 0
 * when the frame closed into *out, or an error.
 */
static int frame_step(cairn_parse *p, cairn_frame *f, cairn_val *out)
{
    char c = p->text[p->pos], closer = f->kind == CAIRN_FRAME_ARRAY ? ']' : '}';
    switch (f->state) {
    case ST_NEXT:
        if (c == ',') {
            p->pos++;
            f->state = f->kind == CAIRN_FRAME_ARRAY ? ST_VALUE : ST_KEY;
            return 2;
        }
        if (c == closer)
            return close_frame(p, out, p->pos);
        break;
    case ST_COLON:
        if (c == ':') {
            p->pos++;
            f->state = ST_VALUE;
            return 2;
        }
        break;
    case ST_FIRST:
        if (c == closer)
            return close_frame(p, out, p->pos);
        if (f->kind == CAIRN_FRAME_ARRAY || c == '"')
            return 1;
        break;
    case ST_KEY:
        if (c == '"')
            return 1;
        if (c == '}')
            return cairn_parse_fail(p, CAIRN_EINVALID, p->pos, "trailing comma before '}'");
        break;
    default:
        if (c == ']' && f->kind == CAIRN_FRAME_ARRAY)
            return cairn_parse_fail(p, CAIRN_EINVALID, p->pos, "trailing comma before ']'");
        return 1;
    }
    return cairn_parse_fail(p, CAIRN_EINVALID, p->pos, "expected %s, got '%c'", expected(f),
                            (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?');
}

static int read_value(cairn_parse *p, cairn_val *out)
{
    for (;;) {
        cairn_frame *f = p->frame_count ? &p->frames[p->frame_count - 1] : NULL;
        cairn_val v = cairn_nil();
        size_t at;
        int rc, key;
        skip_json_space(p);
        at = p->pos;
        if (at >= p->len) {
            int line = 0, col = 0;
            if (!f)
                return cairn_parse_fail(p, CAIRN_EINVALID, at, "end of input: expected a JSON value");
            cairn_parse_position(p, f->at, &line, &col);
            return cairn_parse_fail(p, CAIRN_EINVALID, at,
                                    "end of input: expected %s in the %s at line %d, column %d",
                                    expected(f), f->kind == CAIRN_FRAME_ARRAY ? "array" : "object",
                                    line, col);
        }
        key = f && f->kind == CAIRN_FRAME_OBJECT && (f->state == ST_FIRST || f->state == ST_KEY);
        if (f && (rc = frame_step(p, f, &v)) != 1) {
            if (rc == 2)
                continue;
            if (rc < 0)
                return rc;
            at = f->at;
            key = 0;
            goto done;
        }
        switch (p->text[at]) {
        case '{':
            if ((rc = cairn_parse_open(p, CAIRN_FRAME_OBJECT, at)) < 0)
                return rc;
            p->pos++;
            continue;
        case '[':
            if ((rc = open_array(p, at)) < 0)
                return rc;
            p->pos++;
            continue;
        case '"':
            if (key) {
                rc = read_key(p, &v);
            } else {
                p->pos++;
                rc = cairn_parse_string(p, &v, 1);
            }
            break;
        case '-':
        case '0': case '1': case '2': case '3': case '4':
        case '5': case '6': case '7': case '8': case '9':
            rc = read_number(p, &v);
            break;
        default:
            rc = read_literal(p, &v);
            break;
        }
        if (rc < 0)
            return rc;
    done:
        if ((rc = cairn_parse_count(p, at)) < 0) {
            cairn_release(v);
            return rc;
        }
        f = p->frame_count ? &p->frames[p->frame_count - 1] : NULL;
        if (!f) {
            *out = v;
            return 0;
        }
        if ((rc = cairn_parse_push(p, v, at)) < 0)
            return rc;
        f->state = key ? ST_COLON : ST_NEXT;
    }
}

int cairn_json_read(cairn_val *out, const char *text, size_t len, const cairn_read_limits *limits,
                    cairn_error *err)
{
    cairn_parse p;
    cairn_val v;
    int rc;
    if (cairn_parse_init(&p, text, len, limits) < 0)
        return cairn_error_set(err, CAIRN_EINVALID, NULL, "unknown cairn_read_limits version");
    p.err = err;
    if ((rc = read_value(&p, &v)) == 0) {
        skip_json_space(&p);
        if (p.pos < p.len) {
            cairn_release(v);
            rc = cairn_parse_fail(&p, CAIRN_EINVALID, p.pos, "unexpected data after the JSON value");
        } else {
            *out = v;
        }
    }
    cairn_parse_dispose(&p);
    return rc;
}

/* ---- printing ------------------------------------------------------------------------ */

static void put_json_string(cairn_buf *b, const char *s, size_t len)
{
    static const char hex[] = "0123456789abcdef";
    size_t run = 0;
    cairn_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = { '\\', 'u', '0', '0', 0, 0 };
        size_t n = 2;
        if (c >= 0x20 && c != '"' && c != '\\')
            continue;
        cairn_buf_put(b, s + run, i - run);
        run = i + 1;
        switch (c) {
        case '"': esc[1] = '"'; break;
        case '\\': esc[1] = '\\'; break;
        case '\n': esc[1] = 'n'; break;
        case '\t': esc[1] = 't'; break;
        case '\r': esc[1] = 'r'; break;
        case '\b': esc[1] = 'b'; break;
        case '\f': esc[1] = 'f'; break;
        default:
            esc[4] = hex[c >> 4];
            esc[5] = hex[c & 15];
            n = 6;
        }
        cairn_buf_put(b, esc, n);
    }
    cairn_buf_put(b, s + run, len - run);
    cairn_buf_putc(b, '"');
}

/* ["!tag","text"] */
static void put_tagged_text(cairn_buf *b, const char *tag, const char *s, size_t len)
{
    cairn_buf_puts(b, "[\"!");
    cairn_buf_puts(b, tag);
    cairn_buf_put(b, "\",", 2);
    put_json_string(b, s, len);
    cairn_buf_putc(b, ']');
}

static void put_json_scalar(cairn_buf *b, cairn_val v)
{
    char tmp[CAIRN_FMT_INST_MAX + CAIRN_FMT_DOUBLE_MAX];
    size_t n;
    const char *s;
    switch (v.type_) {
    case CAIRN_NIL: cairn_buf_put(b, "null", 4); return;
    case CAIRN_BOOL: cairn_buf_puts(b, v.u_.i ? "true" : "false"); return;
    case CAIRN_INT: cairn_buf_put(b, tmp, cairn_fmt_int(tmp, v.u_.i)); return;
    case CAIRN_BIGINT:
    case CAIRN_BIGDEC: cairn_buf_put(b, cairn_val_str(v)->data, cairn_val_str(v)->len); return;
    case CAIRN_RATIO: {
        int64_t num, den;
        cairn_ratio_parts(v, &num, &den);
        n = cairn_fmt_int(tmp, num);
        tmp[n++] = '/';
        n += cairn_fmt_int(tmp + n, den);
        put_tagged_text(b, "ratio", tmp, n);
        return;
    }
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
        n = v.type_ == CAIRN_FLOAT ? cairn_fmt_float(tmp, (float)v.u_.d) : cairn_fmt_double(tmp, v.u_.d);
        if (isfinite(v.u_.d))
            cairn_buf_put(b, tmp, n);
        else
            put_tagged_text(b, "double", tmp, n);
        return;
    case CAIRN_CHAR:
        put_json_string(b, tmp, cairn_utf8_encode(tmp, (uint32_t)v.u_.i));
        return;
    case CAIRN_STRING: put_json_string(b, cairn_val_str(v)->data, cairn_val_str(v)->len); return;
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL:
        s = cairn_ident_get(v, &n);
        put_tagged_text(b, v.type_ == CAIRN_KEYWORD ? "kw" : "sym", s, n);
        return;
    case CAIRN_UUID: put_tagged_text(b, "uuid", tmp, cairn_fmt_uuid(tmp, cairn_uuid_get(v))); return;
    case CAIRN_INST: put_tagged_text(b, "date", tmp, cairn_fmt_int(tmp, v.u_.i)); return;
    case CAIRN_BYTES: {
        const cairn_str *bs = cairn_val_str(v);
        size_t len = cairn_base64_len(bs->len);
        char *enc = cairn_malloc(len + 1);
        if (!enc) {
            b->oom = 1;
            return;
        }
        cairn_base64_encode(enc, (const uint8_t *)bs->data, bs->len);
        put_tagged_text(b, "bytes", enc, len);
        cairn_free(enc);
        return;
    }
    default:
        return;
    }
}

/* A map key: "ns/name" for keywords and symbols, strings as they are, the
 * EDN text of anything else. */
static void put_json_key(cairn_buf *b, cairn_val k)
{
    const char *s;
    size_t n;
    if (cairn_val_is_ident(k)) {
        s = cairn_ident_get(k, &n);
        put_json_string(b, s, n);
    } else if (cairn_type_of(k) == CAIRN_STRING) {
        put_json_string(b, cairn_val_str(k)->data, cairn_val_str(k)->len);
    } else {
        cairn_buf text = CAIRN_BUF_INIT;
        if (cairn_edn__print_buf(&text, k) < 0)
            b->oom = 1;
        else
            put_json_string(b, text.ptr, text.len);
        cairn_buf_dispose(&text);
    }
}

static void put_json_open(cairn_buf *b, cairn_val v)
{
    const char *tag;
    size_t n;
    switch (v.type_) {
    case CAIRN_LIST:
    case CAIRN_VECTOR: cairn_buf_putc(b, '['); return;
    case CAIRN_SET: cairn_buf_puts(b, "[\"!set\",["); return;
    case CAIRN_MAP: cairn_buf_putc(b, '{'); return;
    default:
        tag = cairn_ident_get(cairn_tagged_tag_get(v), &n);
        cairn_buf_put(b, "[\"!", 3);
        cairn_buf_put(b, tag, n);  /* tag names need no JSON escapes */
        cairn_buf_put(b, "\",", 2);
        return;
    }
}

static void put_json_close(cairn_buf *b, cairn_val v)
{
    cairn_buf_puts(b, v.type_ == CAIRN_MAP ? "}" : v.type_ == CAIRN_SET ? "]]" : "]");
}

static void put_json_separator(cairn_buf *b, cairn_val parent, size_t index)
{
    cairn_buf_putc(b, parent.type_ == CAIRN_MAP && index % 2 ? ':' : ',');
}

static const cairn_printer json_printer = {
    put_json_open, put_json_close, put_json_scalar, put_json_separator, put_json_key,
};

int cairn_json__print_buf(cairn_buf *b, cairn_val v)
{
    return cairn_walk_print(b, v, &json_printer);
}

int cairn_json_print(char **out, size_t *out_len, cairn_val v)
{
    return cairn_walk_print_str(out, out_len, v, cairn_json__print_buf);
}
