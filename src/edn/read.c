/*
 * The EDN reader: text to values, as Clojure's clojure.edn/read reads it.
 *
 * The grammar is the EDN spec's (https://github.com/edn-format/edn) with the
 * extensions Clojure's EDN reader has and Datahike users meet in practice:
 * ratios (15/2, printed by Clojure for integer division), ##Inf/##-Inf/##NaN,
 * namespaced maps #:ns{:a 1}, \oNNN characters, a 1-digit keyword :1, and
 * "1." as a double. Where Clojure is looser than the spec in ways that would
 * read data wrongly or unexpectedly (octal 012 = 10, hex 0x1F, radix 2r101,
 * a/b/c symbols, 'quote, ^meta) cairn follows the spec and reports an error.
 * docs/values.md lists every choice.
 *
 * Structure: one loop over tokens with an explicit stack (parse.h), so
 * input nesting is bounded by limits.max_depth and never by the C stack.
 * #_ discards do not nest values; each open frame counts how many forms it
 * still has to drop, and pending discards count toward max_depth like open
 * collections, so a chain of a million #_ is refused like a million '['.
 *
 * Tags: #inst and #uuid become INST and UUID, #cairn/bytes "<base64>"
 * becomes BYTES (the printer's form for byte strings), any other tag a
 * TAGGED value that prints back unchanged.
 */
#include "edn/parse.h"

#include <math.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/utf8.h"
#include "edn/edn.h"
#include "edn/scalar.h"

/* A step that opened a frame or a discard: nothing was completed. */
#define MORE 1

enum { C_WS = 1, C_DELIM = 2, C_NAME = 4 };

/* Byte classes: whitespace (commas count), token delimiters, and the ASCII
 * characters allowed inside symbols and keywords. */
static const uint8_t byte_class[256] = {
    [' '] = C_WS | C_DELIM, ['\t'] = C_WS | C_DELIM, ['\n'] = C_WS | C_DELIM,
    ['\r'] = C_WS | C_DELIM, ['\f'] = C_WS | C_DELIM, ['\v'] = C_WS | C_DELIM,
    [','] = C_WS | C_DELIM, ['"'] = C_DELIM, [';'] = C_DELIM, ['('] = C_DELIM,
    [')'] = C_DELIM, ['['] = C_DELIM, [']'] = C_DELIM, ['{'] = C_DELIM, ['}'] = C_DELIM,
    ['\\'] = C_DELIM,
    ['.'] = C_NAME, ['*'] = C_NAME, ['+'] = C_NAME, ['!'] = C_NAME, ['-'] = C_NAME,
    ['_'] = C_NAME, ['?'] = C_NAME, ['$'] = C_NAME, ['%'] = C_NAME, ['&'] = C_NAME,
    ['='] = C_NAME, ['<'] = C_NAME, ['>'] = C_NAME, ['/'] = C_NAME, [':'] = C_NAME,
    ['#'] = C_NAME, ['\''] = C_NAME,
    ['0'] = C_NAME, ['1'] = C_NAME, ['2'] = C_NAME, ['3'] = C_NAME, ['4'] = C_NAME,
    ['5'] = C_NAME, ['6'] = C_NAME, ['7'] = C_NAME, ['8'] = C_NAME, ['9'] = C_NAME,
#define L(c) [c] = C_NAME, [c + 32] = C_NAME
    L('A'), L('B'), L('C'), L('D'), L('E'), L('F'), L('G'), L('H'), L('I'), L('J'),
    L('K'), L('L'), L('M'), L('N'), L('O'), L('P'), L('Q'), L('R'), L('S'), L('T'),
    L('U'), L('V'), L('W'), L('X'), L('Y'), L('Z'),
#undef L
};

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

static int is_alpha(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

struct cairn_edn_reader {
    cairn_parse p;     /* input and stacks */
    int failed;        /* sticky status after an error, 0 while fine */
    cairn_error error; /* that error, repeated on later calls */
};

/* ---- names ------------------------------------------------------------------ */

/* Problem with one part (namespace or name) of a name, or NULL. */
static const char *part_problem(const char *s, size_t n, int digit_ok)
{
    if (n == 0)
        return "a namespace or name part is empty";
    if (is_digit(s[0]) && !digit_ok)
        return "a name cannot start with a digit";
    if (s[0] == ':' || s[0] == '#' || s[0] == '\'')
        return "a name cannot start with ':', '#' or a quote";
    if (n >= 3 && !memcmp(s, "\xef\xbb\xbf", 3))
        return "a name cannot start with a byte order mark (U+FEFF)";
    if ((s[0] == '+' || s[0] == '-' || s[0] == '.') && n > 1 && is_digit(s[1]))
        return "a name starting with +, - or . cannot continue with a digit";
    return NULL;
}

/*
 * Problem with name text s (a keyword's without its ':'), or NULL when it is
 * a valid symbol / keyword name; *bad is set to the offending offset.
 */
static const char *name_problem(cairn_type kind, const char *s, size_t len, size_t *bad)
{
    size_t slash = 0;
    int slashes = 0, colons = 0, kw = kind == CAIRN_KEYWORD;
    *bad = 0;
    if (len == 0)
        return kw ? "a keyword needs a name after ':'" : "empty symbol";
    if (kw && s[0] == ':')
        return "auto-resolved keywords (::name) are not EDN";
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            if (!(byte_class[c] & C_NAME)) {
                *bad = i;
                return "invalid character in a symbol or keyword";
            }
            if (c == '/' && slashes++ == 0)
                slash = i;
            if (c == ':' && i > 0 && s[i - 1] == ':')
                colons = 1;
        } else {
            uint32_t cp;
            size_t k = cairn_utf8_decode(s + i, len - i, &cp);
            if (!k) {
                *bad = i;
                return "invalid UTF-8 in a symbol or keyword";
            }
            i += k - 1;
        }
    }
    if (len == 1 && s[0] == '/')
        return NULL;
    if (s[len - 1] == ':' || colons)
        return "a name cannot end with ':' or contain '::'";
    if (slashes == 0)
        return part_problem(s, len, kw);
    if (slashes == 2 && slash == len - 2 && s[len - 1] == '/')
        return part_problem(s, slash, kw);  /* ns// : the symbol / in namespace ns */
    if (slashes > 1)
        return "'/' may appear only once in a name";
    {
        const char *why = part_problem(s, slash, kw);
        return why ? why : part_problem(s + slash + 1, len - slash - 1, 0);
    }
}

int cairn_edn__name_ok(cairn_type kind, const char *text, size_t len)
{
    size_t bad;
    if (kind == CAIRN_SYMBOL && len > 0 && (is_digit(text[0]) || text[0] == ':'))
        return 0;
    if (kind == CAIRN_SYMBOL && ((len == 3 && !memcmp(text, "nil", 3)) ||
                                 (len == 4 && !memcmp(text, "true", 4)) ||
                                 (len == 5 && !memcmp(text, "false", 5))))
        return 0;
    return name_problem(kind, text, len, &bad) == NULL;
}

/* ---- tokens ------------------------------------------------------------------ */

/* End of the token starting at i. */
static size_t token_end(const cairn_parse *p, size_t i)
{
    while (i < p->len && !(byte_class[(unsigned char)p->text[i]] & C_DELIM))
        i++;
    return i;
}

static void skip_space(cairn_parse *p)
{
    const char *s = p->text;
    size_t i = p->pos, n = p->len;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (byte_class[c] & C_WS) {
            i++;
        } else if (c == ';') {
            const char *nl = memchr(s + i, '\n', n - i);
            i = nl ? (size_t)(nl - s) + 1 : n;
        } else {
            break;
        }
    }
    p->pos = i;
}

/* A symbol or keyword token s[0..len) at offset at. */
static int read_name(cairn_parse *p, cairn_val *out, cairn_type kind, const char *s, size_t len,
                     size_t at)
{
    size_t bad, skip = kind == CAIRN_KEYWORD;
    const char *why = name_problem(kind, s + skip, len - skip, &bad);
    if (why)
        return cairn_parse_fail(p, CAIRN_EINVALID, at + skip + bad, "%s: %.*s", why,
                                (int)CAIRN_MIN(len, 60), s);
    if (kind == CAIRN_SYMBOL) {
        if (len == 3 && !memcmp(s, "nil", 3)) {
            *out = cairn_nil();
            return 0;
        }
        if (len == 4 && !memcmp(s, "true", 4)) {
            *out = cairn_bool(1);
            return 0;
        }
        if (len == 5 && !memcmp(s, "false", 5)) {
            *out = cairn_bool(0);
            return 0;
        }
    }
    return cairn_parse_ident(p, out, kind, s + skip, len - skip, at);
}

static int bad_number(cairn_parse *p, const char *s, size_t len, size_t at, const char *why)
{
    return cairn_parse_fail(p, CAIRN_EINVALID, at, "invalid number %.*s: %s", (int)CAIRN_MIN(len, 60),
                            s, why);
}

/* n/d with both parts as int64. */
static int read_ratio(cairn_parse *p, cairn_val *out, const char *s, size_t len, size_t slash,
                      size_t at)
{
    int64_t part[2];
    size_t from[2] = { 0, slash + 1 }, to[2] = { slash, len };
    int rc;
    for (int k = 0; k < 2; k++) {
        size_t i = from[k];
        uint64_t acc = 0;
        int neg = 0;
        if (i < to[k] && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        if (i == to[k])
            return bad_number(p, s, len, at, "a ratio needs digits on both sides of '/'");
        for (; i < to[k]; i++) {
            if (!is_digit(s[i]))
                return bad_number(p, s, len, at, "a ratio is digits/digits");
            if (acc > ((uint64_t)INT64_MAX - (uint64_t)(s[i] - '0')) / 10)
                return cairn_parse_fail(p, CAIRN_ELIMIT, at, "ratio %.*s: parts beyond 64 bits",
                                        (int)CAIRN_MIN(len, 60), s);
            acc = acc * 10 + (uint64_t)(s[i] - '0');
        }
        part[k] = neg ? -(int64_t)acc : (int64_t)acc;
    }
    if (part[1] == 0)
        return bad_number(p, s, len, at, "division by zero");
    if ((rc = cairn_ratio(out, part[0], part[1])) < 0)
        return cairn_parse_status(p, rc, at, "ratio");
    return 0;
}

/*
 * A number token: [+-]? digits then nothing (INT, or BIGINT past int64),
 * N (BIGINT), /digits (RATIO), or [.digits*][e[+-]digits][M] (DOUBLE,
 * BIGDEC with M). Zero is the only integer part that may start with 0.
 */
static int read_number(cairn_parse *p, cairn_val *out, const char *s, size_t len, size_t at)
{
    size_t i = 0, int_start, ndigits = 0;
    int rc;
    double d;
    if (s[i] == '+' || s[i] == '-')
        i++;
    for (size_t k = i; k < len; k++)
        ndigits += is_digit(s[k]);
    if (ndigits > p->lim.max_digits)
        return cairn_parse_fail(p, CAIRN_ELIMIT, at, "number with more than %zu digits (max_digits)",
                                p->lim.max_digits);
    int_start = i;
    while (i < len && is_digit(s[i]))
        i++;
    if (i < len && s[i] == '/')
        return read_ratio(p, out, s, len, i, at);
    if (s[int_start] == '0' && i - int_start > 1)
        return bad_number(p, s, len, at, "leading zeros are not allowed");
    if (i == len)
        return cairn_parse_integer(p, out, s, len, 0, at);
    if (s[i] == 'N' && i + 1 == len)
        return cairn_parse_integer(p, out, s, len - 1, 1, at);
    if (s[i] == '.')
        for (i++; i < len && is_digit(s[i]);)
            i++;
    if (i < len && (s[i] == 'e' || s[i] == 'E')) {
        size_t e0;
        i++;
        if (i < len && (s[i] == '+' || s[i] == '-'))
            i++;
        for (e0 = i; i < len && is_digit(s[i]);)
            i++;
        if (i == e0)
            return bad_number(p, s, len, at, "an exponent needs digits");
    }
    if (i + 1 == len && s[i] == 'M') {
        if ((rc = cairn_bigdec(out, s, len - 1)) < 0)
            return cairn_parse_status(p, rc, at, "decimal");
        return 0;
    }
    if (i != len)
        return bad_number(p, s, len, at, "unexpected characters after the digits");
    if ((rc = cairn_parse_double(&d, s, len)) < 0)
        return cairn_parse_oom(p);
    *out = cairn_double(d);
    return 0;
}

/* A bare token: number, keyword, symbol, nil, true, false. */
static int read_token(cairn_parse *p, cairn_val *out)
{
    size_t at = p->pos, end = token_end(p, at);
    const char *s = p->text + at;
    size_t len = end - at;
    char c = s[0];
    p->pos = end;
    if ((unsigned char)c < 0x80 && (!(byte_class[(unsigned char)c] & C_NAME) || c == '\'')) {
        if (c == '^')
            return cairn_parse_fail(p, CAIRN_EINVALID, at, "metadata (^) is not EDN");
        if ((unsigned char)c >= 0x20 && c != 0x7f)
            return cairn_parse_fail(p, CAIRN_EINVALID, at, "unexpected character '%c': expected a value", c);
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "unexpected byte 0x%02X: expected a value",
                                (unsigned char)c);
    }
    if (is_digit(c) || ((c == '+' || c == '-') && len > 1 && is_digit(s[1])))
        return read_number(p, out, s, len, at);
    return read_name(p, out, c == ':' ? CAIRN_KEYWORD : CAIRN_SYMBOL, s, len, at);
}

/* \c, \newline, \uXXXX, \oNNN ... ; p->pos is at the backslash. */
static int read_char(cairn_parse *p, cairn_val *out)
{
    static const struct { const char *name; uint32_t cp; } names[] = {
        { "newline", '\n' }, { "space", ' ' }, { "tab", '\t' },
        { "return", '\r' }, { "backspace", '\b' }, { "formfeed", '\f' },
    };
    size_t at = p->pos, start = at + 1, first, end;
    const char *s = p->text + start;
    uint32_t cp;
    if (start >= p->len)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "end of input after \\: expected a character");
    if (!(first = cairn_utf8_decode(s, p->len - start, &cp)))
        return cairn_parse_fail(p, CAIRN_EINVALID, start, "invalid UTF-8 in a character literal");
    end = token_end(p, start + first);
    p->pos = end;
    if (end == start + first) {
        *out = cairn_char(cp);
        return 0;
    }
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(names); i++) {
        if (end - start == strlen(names[i].name) && !memcmp(s, names[i].name, end - start)) {
            *out = cairn_char(names[i].cp);
            return 0;
        }
    }
    if (s[0] == 'u' && end - start == 5) {
        uint32_t v = 0;
        int ok = 1;
        for (int i = 1; i < 5; i++) {
            char c = s[i];
            int h = is_digit(c) ? c - '0' : (c >= 'a' && c <= 'f') ? c - 'a' + 10
                                          : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
            ok &= h >= 0;
            v = v << 4 | (uint32_t)(h & 15);
        }
        if (ok && (v < 0xd800 || v > 0xdfff)) {
            *out = cairn_char(v);
            return 0;
        }
    }
    if (s[0] == 'o' && end - start >= 2 && end - start <= 4) {
        uint32_t v = 0;
        size_t i = 1;
        for (; i < end - start && s[i] >= '0' && s[i] <= '7'; i++)
            v = v * 8 + (uint32_t)(s[i] - '0');
        if (i == end - start && v <= 0377) {
            *out = cairn_char(v);
            return 0;
        }
    }
    return cairn_parse_fail(p, CAIRN_EINVALID, at,
                            "unsupported character \\%.*s (expected \\c, \\newline, \\space, \\tab, "
                            "\\return, \\backspace, \\formfeed, \\uXXXX or \\oNNN)",
                            (int)CAIRN_MIN(end - start, 40), s);
}

/* ---- # dispatch ------------------------------------------------------------------ */

static uint32_t *discards_of(cairn_parse *p, uint32_t *top)
{
    return p->frame_count ? &p->frames[p->frame_count - 1].discards : top;
}

/* ##Inf, ##-Inf, ##NaN */
static int read_symbolic(cairn_parse *p, cairn_val *out, size_t at)
{
    size_t end = token_end(p, at + 2), len = end - at - 2;
    const char *s = p->text + at + 2;
    p->pos = end;
    if (len == 3 && !memcmp(s, "Inf", 3))
        *out = cairn_double(HUGE_VAL);
    else if (len == 4 && !memcmp(s, "-Inf", 4))
        *out = cairn_double(-HUGE_VAL);
    else if (len == 3 && !memcmp(s, "NaN", 3))
        *out = cairn_double(NAN);
    else
        return cairn_parse_fail(p, CAIRN_EINVALID, at,
                                "unknown symbolic value ##%.*s (expected ##Inf, ##-Inf or ##NaN)",
                                (int)CAIRN_MIN(len, 40), s);
    return 0;
}

/* #:ns{ ... } */
static int open_ns_map(cairn_parse *p, size_t at)
{
    size_t start = at + 2, end = token_end(p, start), bad;
    const char *why;
    int rc;
    if (start < p->len && p->text[start] == ':')
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "auto-resolved namespaced maps (#::) are not EDN");
    why = name_problem(CAIRN_SYMBOL, p->text + start, end - start, &bad);
    if (!why && memchr(p->text + start, '/', end - start))
        why = "the namespace of #:ns{} cannot contain '/'";
    if (why)
        return cairn_parse_fail(p, CAIRN_EINVALID, start + bad, "%s (in #:ns{})", why);
    p->pos = end;
    skip_space(p);
    if (p->pos >= p->len || p->text[p->pos] != '{')
        return cairn_parse_fail(p, CAIRN_EINVALID, p->pos, "expected '{' after #:%.*s",
                                (int)CAIRN_MIN(end - start, 40), p->text + start);
    if ((rc = cairn_parse_open(p, CAIRN_FRAME_MAP, p->pos)) < 0)
        return rc;
    p->frames[p->frame_count - 1].ns_at = start;
    p->frames[p->frame_count - 1].ns_len = end - start;
    p->pos++;
    return MORE;
}

/* #tag: pushes a TAG frame that waits for the tagged value. */
static int open_tag(cairn_parse *p, size_t at)
{
    size_t end = token_end(p, at + 1);
    cairn_val tag;
    int rc;
    if ((rc = read_name(p, &tag, CAIRN_SYMBOL, p->text + at + 1, end - at - 1, at + 1)) < 0)
        return rc;
    if (cairn_type_of(tag) != CAIRN_SYMBOL)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "a tag must be a symbol");
    if ((rc = cairn_parse_open(p, CAIRN_FRAME_TAG, at)) < 0)
        return rc;
    p->frames[p->frame_count - 1].tag = tag;
    p->pos = end;
    return MORE;
}

/* Everything after '#'. Returns MORE when it opened something. */
static int read_dispatch(cairn_parse *p, cairn_val *out, uint32_t *top_discards)
{
    size_t at = p->pos;
    char c = at + 1 < p->len ? p->text[at + 1] : 0;
    int rc;
    if (at + 1 >= p->len)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "end of input after #");
    switch (c) {
    case '{':
        if ((rc = cairn_parse_open(p, CAIRN_FRAME_SET, at)) < 0)
            return rc;
        p->pos += 2;
        return MORE;
    case '_':
        if (p->nesting + 1 > p->lim.max_depth)
            return cairn_parse_fail(p, CAIRN_ELIMIT, at, "nesting deeper than %u (max_depth)",
                                    p->lim.max_depth);
        (*discards_of(p, top_discards))++;
        p->nesting++;
        p->pos += 2;
        return MORE;
    case '#':
        return read_symbolic(p, out, at);
    case ':':
        return open_ns_map(p, at);
    default:
        if (is_alpha(c) || (unsigned char)c >= 0x80)  /* letters, as Clojure's isLetter */
            return open_tag(p, at);
        return cairn_parse_fail(p, CAIRN_EINVALID, at,
                                "unknown dispatch #%c (expected #{, #_, ##, #:ns{ or #tag)",
                                (unsigned char)c >= 0x20 && (unsigned char)c < 0x7f ? c : '?');
    }
}

/* Gives a tagged value its meaning; consumes v. */
static int apply_tag(cairn_parse *p, const cairn_frame *f, cairn_val v, cairn_val *out)
{
    size_t len;
    const char *tag = cairn_ident_get(f->tag, &len);
    const char *s = cairn_str_get(v, NULL);
    size_t slen = cairn_type_of(v) == CAIRN_STRING ? cairn_val_str(v)->len : 0;
    int rc = 0;
    if (len == 4 && !memcmp(tag, "inst", 4)) {
        int64_t ms;
        if (cairn_type_of(v) != CAIRN_STRING || cairn_parse_inst(&ms, s, slen) < 0)
            rc = cairn_parse_fail(p, CAIRN_EINVALID, f->at,
                                  "#inst expects a timestamp string such as \"2026-11-21T19:29:50.230Z\"");
        else
            *out = cairn_inst(ms);
    } else if (len == 4 && !memcmp(tag, "uuid", 4)) {
        uint8_t b[16];
        if (cairn_type_of(v) != CAIRN_STRING || cairn_parse_uuid(b, s, slen) < 0)
            rc = cairn_parse_fail(p, CAIRN_EINVALID, f->at,
                                  "#uuid expects a string of 8-4-4-4-12 hex digits");
        else if ((rc = cairn_uuid(out, b)) < 0)
            rc = cairn_parse_oom(p);
    } else if (len == 11 && !memcmp(tag, "cairn/bytes", 11)) {
        cairn_val b;
        size_t n;
        if (cairn_type_of(v) != CAIRN_STRING)
            rc = cairn_parse_fail(p, CAIRN_EINVALID, f->at, "#cairn/bytes expects a base64 string");
        else if ((rc = cairn_str_alloc(&b, CAIRN_BYTES, slen / 4 * 3)) < 0)
            rc = cairn_parse_status(p, rc, f->at, "bytes");
        else if (cairn_base64_decode((uint8_t *)cairn_val_str(b)->data, &n, s, slen) < 0) {
            cairn_release(b);
            rc = cairn_parse_fail(p, CAIRN_EINVALID, f->at,
                                  "#cairn/bytes expects canonical padded base64");
        } else {
            cairn_val_str(b)->len = n;
            cairn_val_str(b)->data[n] = 0;
            *out = b;
        }
    } else if ((rc = cairn_tagged(out, f->tag, v)) < 0) {
        rc = cairn_parse_status(p, rc, f->at, "tagged value");
    }
    cairn_release(v);
    return rc;
}

/* ---- collections ----------------------------------------------------------------- */

static const char *frame_name(int kind)
{
    switch (kind) {
    case CAIRN_FRAME_LIST: return "list";
    case CAIRN_FRAME_VECTOR: return "vector";
    case CAIRN_FRAME_MAP: return "map";
    case CAIRN_FRAME_SET: return "set";
    default: return "tag";
    }
}

static char frame_closer(int kind)
{
    return kind == CAIRN_FRAME_LIST ? ')' : kind == CAIRN_FRAME_VECTOR ? ']' : '}';
}

/* ')' ']' '}' at p->pos; *at_out becomes the collection's opening offset. */
static int read_close(cairn_parse *p, cairn_val *out, size_t *at_out)
{
    size_t at = p->pos;
    char c = p->text[at];
    cairn_frame *f;
    int line, col;
    static const cairn_type types[] = {
        [CAIRN_FRAME_LIST] = CAIRN_LIST, [CAIRN_FRAME_VECTOR] = CAIRN_VECTOR,
        [CAIRN_FRAME_MAP] = CAIRN_MAP, [CAIRN_FRAME_SET] = CAIRN_SET,
    };
    if (p->frame_count == 0)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "unmatched '%c'", c);
    f = &p->frames[p->frame_count - 1];
    if (f->discards)
        return cairn_parse_fail(p, CAIRN_EINVALID, at, "expected a form after #_, got '%c'", c);
    if (f->kind == CAIRN_FRAME_TAG || c != frame_closer(f->kind))
        cairn_parse_position(p, f->at, &line, &col);
    if (f->kind == CAIRN_FRAME_TAG)
        return cairn_parse_fail(p, CAIRN_EINVALID, at,
                                "expected a value after the tag at line %d, column %d, got '%c'", line,
                                col, c);
    if (c != frame_closer(f->kind))
        return cairn_parse_fail(p, CAIRN_EINVALID, at,
                                "expected '%c' to close the %s at line %d, column %d, got '%c'",
                                frame_closer(f->kind), frame_name(f->kind), line, col, c);
    *at_out = f->at;
    p->pos++;
    return cairn_parse_close(p, out, types[f->kind], at);
}

/* Error for input that ends inside a form. */
static int at_end(cairn_parse *p, uint32_t top_discards)
{
    const cairn_frame *f = p->frame_count ? &p->frames[p->frame_count - 1] : NULL;
    int line, col;
    if (!f && !top_discards)
        return cairn_error_set(p->err, CAIRN_ENOTFOUND, NULL, "end of input");
    if (f)
        cairn_parse_position(p, f->at, &line, &col);
    if ((f && f->discards) || (!f && top_discards))
        return cairn_parse_fail(p, CAIRN_EINVALID, p->len, "end of input: expected a form after #_");
    if (f->kind == CAIRN_FRAME_TAG)
        return cairn_parse_fail(p, CAIRN_EINVALID, p->len,
                                "end of input: expected a value after the tag at line %d, column %d",
                                line, col);
    return cairn_parse_fail(p, CAIRN_EINVALID, p->len,
                            "end of input: expected '%c' to close the %s at line %d, column %d",
                            frame_closer(f->kind), frame_name(f->kind), line, col);
}

/* ---- the loop ----------------------------------------------------------------------- */

/*
 * Hands a finished value v (which started at offset at) to the innermost
 * frame: dropped by a pending #_, given to a tag, or pushed for its
 * collection. Returns 1 when v is a finished top-level form (in *out).
 */
static int complete(cairn_parse *p, cairn_val v, size_t at, uint32_t *top_discards, cairn_val *out)
{
    int rc;
    for (;;) {
        cairn_frame *f = p->frame_count ? &p->frames[p->frame_count - 1] : NULL;
        uint32_t *discards = f ? &f->discards : top_discards;
        if (*discards) {
            (*discards)--;
            p->nesting--;
            cairn_release(v);
            return 0;
        }
        if (!f) {
            *out = v;
            return 1;
        }
        if (f->kind != CAIRN_FRAME_TAG)
            return cairn_parse_push(p, v, at);
        at = f->at;
        rc = apply_tag(p, f, v, &v);
        p->frame_count--;
        p->nesting--;
        if (rc < 0)
            return rc;
    }
}

/* Reads the next top-level form; CAIRN_ENOTFOUND at the end of input. */
static int read_form(cairn_parse *p, cairn_val *out)
{
    uint32_t top_discards = 0;
    int rc;
    p->elements = 0;
    for (;;) {
        cairn_val v = cairn_nil();
        size_t at;
        skip_space(p);
        at = p->pos;
        if (at >= p->len) {
            rc = at_end(p, top_discards);
            goto fail;
        }
        switch (p->text[at]) {
        case '(':
        case '[':
        case '{':
            rc = cairn_parse_open(p, p->text[at] == '(' ? CAIRN_FRAME_LIST
                                     : p->text[at] == '[' ? CAIRN_FRAME_VECTOR : CAIRN_FRAME_MAP,
                                  at);
            p->pos++;
            if (rc < 0)
                goto fail;
            continue;
        case ')':
        case ']':
        case '}':
            rc = read_close(p, &v, &at);
            break;
        case '"':
            p->pos++;
            rc = cairn_parse_string(p, &v, 0);
            break;
        case '\\':
            rc = read_char(p, &v);
            break;
        case '#':
            rc = read_dispatch(p, &v, &top_discards);
            break;
        default:
            rc = read_token(p, &v);
            break;
        }
        if (rc == MORE)
            continue;
        if (rc < 0 || (rc = cairn_parse_count(p, at)) < 0) {
            cairn_release(v);
            goto fail;
        }
        if ((rc = complete(p, v, at, &top_discards, out)) < 0)
            goto fail;
        if (rc == 1)
            return 0;
    }
fail:
    cairn_parse_reset(p);
    return rc;
}

/* ---- API ------------------------------------------------------------------------------- */

int cairn_edn_read(cairn_val *out, const char *text, size_t len, const cairn_read_limits *limits,
                   cairn_error *err)
{
    cairn_parse p;
    cairn_val v, extra;
    size_t after;
    int rc;
    if (cairn_parse_init(&p, text, len, limits) < 0)
        return cairn_error_set(err, CAIRN_EINVALID, NULL, "unknown cairn_read_limits version");
    p.err = err;
    if ((rc = read_form(&p, &v)) < 0) {
        if (rc == CAIRN_ENOTFOUND)
            rc = cairn_parse_fail(&p, CAIRN_EINVALID, p.len, "end of input: expected a value");
        goto done;
    }
    skip_space(&p);
    after = p.pos;
    rc = read_form(&p, &extra);
    if (rc == 0) {
        cairn_release(extra);
        rc = cairn_parse_fail(&p, CAIRN_EINVALID, after, "unexpected data after the value");
    }
    if (rc == CAIRN_ENOTFOUND) {
        cairn_error_clear(err);
        *out = v;
        rc = 0;
    } else {
        cairn_release(v);
    }
done:
    cairn_parse_dispose(&p);
    return rc;
}

int cairn_edn_reader_new(cairn_edn_reader **out, const char *text, size_t len,
                         const cairn_read_limits *limits)
{
    cairn_edn_reader *r = cairn_malloc(sizeof *r);
    int rc;
    if (!r)
        return CAIRN_ENOMEM;
    if ((rc = cairn_parse_init(&r->p, text, len, limits)) < 0) {
        cairn_free(r);
        return rc;
    }
    r->failed = 0;
    cairn_error_clear(&r->error);
    *out = r;
    return 0;
}

int cairn_edn_reader_next(cairn_edn_reader *r, cairn_val *out, cairn_error *err)
{
    int rc;
    if (r->failed) {
        cairn_error_copy(err, &r->error);
        return r->failed;
    }
    r->p.err = &r->error;
    rc = read_form(&r->p, out);
    if (rc < 0) {
        if (rc != CAIRN_ENOTFOUND)
            r->failed = rc;  /* the position inside the failed form is lost */
        cairn_error_copy(err, &r->error);
    }
    return rc;
}

void cairn_edn_reader_free(cairn_edn_reader *r)
{
    if (!r)
        return;
    cairn_parse_dispose(&r->p);
    cairn_free(r);
}
