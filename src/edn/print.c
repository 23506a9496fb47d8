/*
 * The EDN printer: values to the text Clojure's pr-str prints for the same
 * data, so a Datahike user sees the output they know:
 *
 *   nil true false 42 123N 1.5M 15/2 1.0 1.0E7 ##Inf ##NaN \a \newline
 *   "a\"b\n" :ns/name sym #uuid "..." #inst "2026-11-21T19:29:50.230-00:00"
 *   (1 2) [1 2] {:a 1, :b 2} #{1 2} #tag value #cairn/bytes "AAEC"
 *
 * Doubles and floats come out as Java's Double.toString / Float.toString
 * (scalar.c); strings escape only what Clojure escapes (" \ newline tab
 * return backspace formfeed) and keep every other character raw; instants
 * always print with milliseconds and "-00:00", as Clojure prints a
 * java.util.Date. Byte strings have no EDN form in Clojure; cairn prints
 * them as #cairn/bytes "<base64>", which its reader reads back.
 *
 * Printing walks the value without recursion (walk.h) and appends to one
 * growable buffer; out-of-memory is sticky in the buffer and checked once at
 * the end.
 */
#include "edn/edn.h"

#include <math.h>

#include "base/alloc.h"
#include "base/utf8.h"
#include "edn/scalar.h"
#include "edn/walk.h"

/* 1 for bytes a printed string must escape. */
static const uint8_t needs_escape[256] = {
    ['"'] = 1, ['\\'] = 1, ['\n'] = 1, ['\t'] = 1, ['\r'] = 1, ['\b'] = 1, ['\f'] = 1,
};

static void put_string(cairn_buf *b, const char *s, size_t len)
{
    size_t run = 0;
    cairn_buf_grow(b, len + 2);
    cairn_buf_putc(b, '"');
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[2] = { '\\', 0 };
        if (!needs_escape[c])
            continue;
        cairn_buf_put(b, s + run, i - run);
        run = i + 1;
        esc[1] = c == '\n' ? 'n' : c == '\t' ? 't' : c == '\r' ? 'r' : c == '\b' ? 'b'
               : c == '\f' ? 'f' : (char)c;
        cairn_buf_put(b, esc, 2);
    }
    cairn_buf_put(b, s + run, len - run);
    cairn_buf_putc(b, '"');
}

static void put_char(cairn_buf *b, uint32_t cp)
{
    char u[4];
    switch (cp) {
    case '\n': cairn_buf_puts(b, "\\newline"); return;
    case ' ': cairn_buf_puts(b, "\\space"); return;
    case '\t': cairn_buf_puts(b, "\\tab"); return;
    case '\r': cairn_buf_puts(b, "\\return"); return;
    case '\b': cairn_buf_puts(b, "\\backspace"); return;
    case '\f': cairn_buf_puts(b, "\\formfeed"); return;
    default:
        cairn_buf_putc(b, '\\');
        cairn_buf_put(b, u, cairn_utf8_encode(u, cp));
    }
}

static void put_floating(cairn_buf *b, cairn_val v)
{
    char tmp[CAIRN_FMT_DOUBLE_MAX];
    double d = v.u_.d;
    if (isnan(d))
        cairn_buf_puts(b, "##NaN");
    else if (isinf(d))
        cairn_buf_puts(b, d > 0 ? "##Inf" : "##-Inf");
    else if (v.type_ == CAIRN_FLOAT)
        cairn_buf_put(b, tmp, cairn_fmt_float(tmp, (float)d));
    else
        cairn_buf_put(b, tmp, cairn_fmt_double(tmp, d));
}

static void put_bytes(cairn_buf *b, const cairn_str *s)
{
    size_t n = cairn_base64_len(s->len);
    cairn_buf_puts(b, "#cairn/bytes \"");
    if (cairn_buf_grow(b, n + 1) == 0) {
        cairn_base64_encode(b->ptr + b->len, (const uint8_t *)s->data, s->len);
        b->len += n;
        b->ptr[b->len] = 0;
    }
    cairn_buf_putc(b, '"');
}

/* Any value that is not a collection or TAGGED. */
static void put_scalar(cairn_buf *b, cairn_val v)
{
    char tmp[CAIRN_FMT_INST_MAX];
    size_t len;
    const char *s;
    switch (v.type_) {
    case CAIRN_NIL:
        cairn_buf_put(b, "nil", 3);
        break;
    case CAIRN_BOOL:
        cairn_buf_puts(b, v.u_.i ? "true" : "false");
        break;
    case CAIRN_INT:
        cairn_buf_put(b, tmp, cairn_fmt_int(tmp, v.u_.i));
        break;
    case CAIRN_BIGINT:
    case CAIRN_BIGDEC:
        cairn_buf_put(b, cairn_val_str(v)->data, cairn_val_str(v)->len);
        cairn_buf_putc(b, v.type_ == CAIRN_BIGINT ? 'N' : 'M');
        break;
    case CAIRN_RATIO: {
        int64_t num, den;
        cairn_ratio_parts(v, &num, &den);
        cairn_buf_put(b, tmp, cairn_fmt_int(tmp, num));
        cairn_buf_putc(b, '/');
        cairn_buf_put(b, tmp, cairn_fmt_int(tmp, den));
        break;
    }
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
        put_floating(b, v);
        break;
    case CAIRN_CHAR:
        put_char(b, (uint32_t)v.u_.i);
        break;
    case CAIRN_STRING:
        put_string(b, cairn_val_str(v)->data, cairn_val_str(v)->len);
        break;
    case CAIRN_KEYWORD:
        cairn_buf_putc(b, ':');
        /* fall through */
    case CAIRN_SYMBOL:
        s = cairn_ident_get(v, &len);
        cairn_buf_put(b, s, len);
        break;
    case CAIRN_UUID:
        cairn_buf_put(b, "#uuid \"", 7);
        cairn_buf_put(b, tmp, cairn_fmt_uuid(tmp, cairn_uuid_get(v)));
        cairn_buf_putc(b, '"');
        break;
    case CAIRN_INST:
        cairn_buf_put(b, "#inst \"", 7);
        cairn_buf_put(b, tmp, cairn_fmt_inst(tmp, v.u_.i));
        cairn_buf_putc(b, '"');
        break;
    case CAIRN_BYTES:
        put_bytes(b, cairn_val_str(v));
        break;
    default:
        break;
    }
}

static void put_open(cairn_buf *b, cairn_val v)
{
    size_t len;
    const char *tag;
    switch (v.type_) {
    case CAIRN_LIST: cairn_buf_putc(b, '('); break;
    case CAIRN_VECTOR: cairn_buf_putc(b, '['); break;
    case CAIRN_MAP: cairn_buf_putc(b, '{'); break;
    case CAIRN_SET: cairn_buf_put(b, "#{", 2); break;
    default:
        tag = cairn_ident_get(cairn_tagged_tag_get(v), &len);
        cairn_buf_putc(b, '#');
        cairn_buf_put(b, tag, len);
        cairn_buf_putc(b, ' ');
        break;
    }
}

static void put_close(cairn_buf *b, cairn_val v)
{
    switch (v.type_) {
    case CAIRN_LIST: cairn_buf_putc(b, ')'); break;
    case CAIRN_VECTOR: cairn_buf_putc(b, ']'); break;
    case CAIRN_MAP:
    case CAIRN_SET: cairn_buf_putc(b, '}'); break;
    default: break;
    }
}

static void put_separator(cairn_buf *b, cairn_val parent, size_t index)
{
    if (parent.type_ == CAIRN_MAP && index % 2 == 0)
        cairn_buf_put(b, ", ", 2);
    else
        cairn_buf_putc(b, ' ');
}

static const cairn_printer edn_printer = { put_open, put_close, put_scalar, put_separator, NULL };

int cairn_edn__print_buf(cairn_buf *b, cairn_val v)
{
    return cairn_walk_print(b, v, &edn_printer);
}

int cairn_edn_print(char **out, size_t *out_len, cairn_val v)
{
    return cairn_walk_print_str(out, out_len, v, cairn_edn__print_buf);
}
