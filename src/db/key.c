/*
 * Datom key encoding; the format is described in key.h.
 */
#include "db/key.h"

#include <math.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "edn/value.h"

/* ---- ids ----------------------------------------------------------------- */

size_t cairn_key_u(uint8_t *dst, uint64_t x)
{
    size_t n = 0;
    for (uint64_t t = x; t; t >>= 8)
        n++;
    dst[0] = (uint8_t)n;
    for (size_t i = 0; i < n; i++)
        dst[1 + i] = (uint8_t)(x >> (8 * (n - 1 - i)));
    return n + 1;
}

int cairn_key_put_u(cairn_buf *b, uint64_t x)
{
    if (cairn_buf_grow(b, CAIRN_KEY_U_MAX) < 0)
        return CAIRN_ENOMEM;
    b->len += cairn_key_u((uint8_t *)b->ptr + b->len, x);
    b->ptr[b->len] = 0;
    return 0;
}

size_t cairn_key_get_u(const uint8_t *p, size_t len, uint64_t *out)
{
    size_t n;
    uint64_t x = 0;
    if (len < 1 || p[0] > 8 || len < 1 + (size_t)p[0])
        return 0;
    n = p[0];
    if (n > 0 && p[1] == 0)
        return 0;  /* not minimal */
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | p[1 + i];
    *out = x;
    return n + 1;
}

/* ---- value encoding ---------------------------------------------------------- */

static int put_escaped(cairn_buf *b, const char *s, size_t len)
{
    const char *p = s, *end = s + len;
    while (p < end) {
        const char *z = memchr(p, 0, (size_t)(end - p));
        size_t run = z ? (size_t)(z - p) : (size_t)(end - p);
        if (cairn_buf_put(b, p, run) < 0)
            return CAIRN_ENOMEM;
        p += run;
        if (z) {
            if (cairn_buf_put(b, "\0\xff", 2) < 0)
                return CAIRN_ENOMEM;
            p++;
        }
    }
    return cairn_buf_put(b, "\0\0", 2);
}

/* Length of an escaped run at p (through its terminator), 0 if none. */
static size_t escaped_len(const uint8_t *p, size_t len)
{
    for (size_t i = 0; i + 1 < len; i++) {
        if (p[i] == 0) {
            if (p[i + 1] == 0)
                return i + 2;
            if (p[i + 1] != 0xff)
                return 0;
            i++;
        }
    }
    return 0;
}

/* Unescapes into a new buffer: the caller gets bytes + length. */
static int unescape(cairn_buf *out, const uint8_t *p, size_t esc_len)
{
    size_t end = esc_len - 2;
    for (size_t i = 0; i < end; i++) {
        if (cairn_buf_putc(out, (char)p[i]) < 0)
            return CAIRN_ENOMEM;
        if (p[i] == 0)
            i++;
    }
    return 0;
}

static int put_int(cairn_buf *b, int64_t v)
{
    uint8_t tmp[9];
    size_t n = 0;
    if (v >= 0) {
        for (uint64_t t = (uint64_t)v; t; t >>= 8)
            n++;
        tmp[0] = (uint8_t)(CAIRN_VTAG_INT_ZERO + n);
    } else {
        for (uint64_t t = ~(uint64_t)v; t; t >>= 8)
            n++;
        if (n == 0 || (n < 8 && (((uint64_t)v >> (8 * n - 1)) & 1) == 0))
            n++;  /* keep the sign visible in the top payload byte */
        tmp[0] = (uint8_t)(CAIRN_VTAG_INT_ZERO - n);
    }
    for (size_t i = 0; i < n; i++)
        tmp[1 + i] = (uint8_t)((uint64_t)v >> (8 * (n - 1 - i)));
    return cairn_buf_put(b, tmp, n + 1);
}

static void put_flipped64(uint8_t *dst, uint64_t bits, int is_float_sign)
{
    if (is_float_sign)
        bits = (bits >> 63) ? ~bits : bits ^ ((uint64_t)1 << 63);
    cairn_put_be64(dst, bits);
}

static int put_ident(cairn_buf *b, uint8_t tag, cairn_val v)
{
    size_t ns_len = 0, name_len;
    const char *ns = cairn_namespace_get(v, &ns_len);
    const char *name = cairn_name_get(v, &name_len);
    if (cairn_buf_putc(b, (char)tag) < 0)
        return CAIRN_ENOMEM;
    if (!ns)
        return cairn_buf_putc(b, 0x01) < 0 || put_escaped(b, name, name_len) < 0 ? CAIRN_ENOMEM : 0;
    if (cairn_buf_putc(b, 0x02) < 0 || put_escaped(b, ns, ns_len) < 0)
        return CAIRN_ENOMEM;
    return put_escaped(b, name, name_len);
}

static int put_value(cairn_buf *b, cairn_val v, int in_tuple)
{
    uint8_t tmp[17];
    switch (cairn_type_of(v)) {
    case CAIRN_NIL:
        if (!in_tuple)
            return CAIRN_EINVALID;
        return cairn_buf_putc(b, CAIRN_VTAG_NIL);
    case CAIRN_BOOL:
        return cairn_buf_putc(b, cairn_bool_value(v) ? CAIRN_VTAG_TRUE : CAIRN_VTAG_FALSE);
    case CAIRN_INT:
        return put_int(b, cairn_int_value(v));
    case CAIRN_BIGINT:
    case CAIRN_BIGDEC:
    case CAIRN_STRING:
    case CAIRN_BYTES: {
        size_t n;
        const char *s = cairn_str_get(v, &n);
        uint8_t tag = cairn_type_of(v) == CAIRN_BIGINT   ? CAIRN_VTAG_BIGINT
                      : cairn_type_of(v) == CAIRN_BIGDEC ? CAIRN_VTAG_BIGDEC
                      : cairn_type_of(v) == CAIRN_STRING ? CAIRN_VTAG_STRING
                                                         : CAIRN_VTAG_BYTES;
        if (cairn_buf_putc(b, (char)tag) < 0)
            return CAIRN_ENOMEM;
        return put_escaped(b, s, n);
    }
    case CAIRN_RATIO: {
        int64_t num, den;
        cairn_ratio_parts(v, &num, &den);
        if (cairn_buf_putc(b, CAIRN_VTAG_RATIO) < 0 || put_int(b, num) < 0 || put_int(b, den) < 0)
            return CAIRN_ENOMEM;
        return 0;
    }
    case CAIRN_FLOAT: {
        float f = (float)cairn_double_value(v);
        uint32_t bits;
        if (f == 0)
            f = 0;
        if (isnan(f))
            f = NAN;
        memcpy(&bits, &f, 4);
        bits = (bits >> 31) ? ~bits : bits ^ 0x80000000u;
        tmp[0] = CAIRN_VTAG_FLOAT;
        cairn_put_be32(tmp + 1, bits);
        return cairn_buf_put(b, tmp, 5);
    }
    case CAIRN_DOUBLE: {
        double d = cairn_double_value(v);
        uint64_t bits;
        if (d == 0)
            d = 0;
        if (isnan(d))
            d = NAN;
        memcpy(&bits, &d, 8);
        tmp[0] = CAIRN_VTAG_DOUBLE;
        put_flipped64(tmp + 1, bits, 1);
        return cairn_buf_put(b, tmp, 9);
    }
    case CAIRN_CHAR:
        tmp[0] = CAIRN_VTAG_CHAR;
        cairn_put_be32(tmp + 1, cairn_char_value(v));
        return cairn_buf_put(b, tmp, 5);
    case CAIRN_SYMBOL:
        return put_ident(b, CAIRN_VTAG_SYMBOL, v);
    case CAIRN_KEYWORD:
        return put_ident(b, CAIRN_VTAG_KEYWORD, v);
    case CAIRN_UUID: {
        const uint8_t *u = cairn_uuid_get(v);
        tmp[0] = CAIRN_VTAG_UUID;
        memcpy(tmp + 1, u, 16);
        tmp[1] ^= 0x80;
        tmp[9] ^= 0x80;
        return cairn_buf_put(b, tmp, 17);
    }
    case CAIRN_INST:
        tmp[0] = CAIRN_VTAG_INST;
        cairn_put_be64(tmp + 1, (uint64_t)cairn_inst_value(v) ^ ((uint64_t)1 << 63));
        return cairn_buf_put(b, tmp, 9);
    case CAIRN_LIST:
    case CAIRN_VECTOR: {
        size_t n = cairn_count(v);
        int rc;
        if (cairn_buf_putc(b, CAIRN_VTAG_TUPLE) < 0)
            return CAIRN_ENOMEM;
        for (size_t i = 0; i < n; i++)
            if ((rc = put_value(b, cairn_coll_get(v, i), 1)) < 0)
                return rc;
        return cairn_buf_putc(b, 0x00);
    }
    default: {
        char *text;
        size_t n;
        int rc;
        if ((rc = cairn_edn_print(&text, &n, v)) < 0)
            return rc;
        rc = cairn_buf_putc(b, CAIRN_VTAG_OTHER);
        if (rc == 0)
            rc = put_escaped(b, text, n);
        cairn_free(text);
        return rc;
    }
    }
}

int cairn_key_put_value(cairn_buf *b, cairn_val v)
{
    int rc = put_value(b, v, 0);
    if (rc == 0 && b->oom)
        rc = CAIRN_ENOMEM;
    return rc;
}

/* ---- value decoding ------------------------------------------------------------ */

static size_t value_len(const uint8_t *p, size_t len, int depth)
{
    uint8_t tag;
    if (len < 1 || depth > CAIRN_MAX_DEPTH)
        return 0;
    tag = p[0];
    if (tag >= CAIRN_VTAG_INT_MIN && tag <= CAIRN_VTAG_INT_MAX) {
        size_t n = tag >= CAIRN_VTAG_INT_ZERO ? (size_t)(tag - CAIRN_VTAG_INT_ZERO)
                                              : (size_t)(CAIRN_VTAG_INT_ZERO - tag);
        return len >= n + 1 ? n + 1 : 0;
    }
    switch (tag) {
    case CAIRN_VTAG_NIL:
    case CAIRN_VTAG_FALSE:
    case CAIRN_VTAG_TRUE:
        return 1;
    case CAIRN_VTAG_FLOAT:
    case CAIRN_VTAG_CHAR:
        return len >= 5 ? 5 : 0;
    case CAIRN_VTAG_DOUBLE:
    case CAIRN_VTAG_INST:
        return len >= 9 ? 9 : 0;
    case CAIRN_VTAG_UUID:
        return len >= 17 ? 17 : 0;
    case CAIRN_VTAG_BIGINT:
    case CAIRN_VTAG_BIGDEC:
    case CAIRN_VTAG_STRING:
    case CAIRN_VTAG_BYTES:
    case CAIRN_VTAG_OTHER: {
        size_t n = escaped_len(p + 1, len - 1);
        return n ? n + 1 : 0;
    }
    case CAIRN_VTAG_SYMBOL:
    case CAIRN_VTAG_KEYWORD: {
        size_t at = 2, n;
        if (len < 2 || (p[1] != 0x01 && p[1] != 0x02))
            return 0;
        if (p[1] == 0x02) {
            if (!(n = escaped_len(p + at, len - at)))
                return 0;
            at += n;
        }
        if (!(n = escaped_len(p + at, len - at)))
            return 0;
        return at + n;
    }
    case CAIRN_VTAG_RATIO: {
        size_t a = value_len(p + 1, len - 1, depth + 1), b2;
        if (!a || p[1] < CAIRN_VTAG_INT_MIN || p[1] > CAIRN_VTAG_INT_MAX)
            return 0;
        b2 = value_len(p + 1 + a, len - 1 - a, depth + 1);
        if (!b2 || p[1 + a] < CAIRN_VTAG_INT_MIN || p[1 + a] > CAIRN_VTAG_INT_MAX)
            return 0;
        return 1 + a + b2;
    }
    case CAIRN_VTAG_TUPLE: {
        size_t at = 1;
        while (at < len && p[at] != 0x00) {
            size_t n = value_len(p + at, len - at, depth + 1);
            if (!n)
                return 0;
            at += n;
        }
        return at < len ? at + 1 : 0;
    }
    default:
        return 0;
    }
}

size_t cairn_key_value_len(const uint8_t *p, size_t len)
{
    return value_len(p, len, 0);
}

static int64_t get_int(const uint8_t *p)
{
    uint8_t tag = p[0];
    uint64_t x;
    size_t n;
    if (tag >= CAIRN_VTAG_INT_ZERO) {
        n = (size_t)(tag - CAIRN_VTAG_INT_ZERO);
        x = 0;
    } else {
        n = (size_t)(CAIRN_VTAG_INT_ZERO - tag);
        x = ~(uint64_t)0;  /* sign-extend */
    }
    for (size_t i = 0; i < n; i++)
        x = (x << 8) | p[1 + i];
    return (int64_t)x;
}

static int get_escaped(cairn_buf *tmp, const uint8_t *p, size_t len, size_t *used)
{
    size_t n = escaped_len(p, len);
    if (!n)
        return CAIRN_CORRUPT_BKPT;
    cairn_buf_clear(tmp);
    if (unescape(tmp, p, n) < 0 || cairn_buf_grow(tmp, 0) < 0)
        return CAIRN_ENOMEM;
    *used = n;
    return 0;
}

static int get_value(cairn_val *out, const uint8_t *p, size_t len, cairn_buf *tmp)
{
    uint8_t tag = p[0];
    size_t used;
    int rc;
    if (tag >= CAIRN_VTAG_INT_MIN && tag <= CAIRN_VTAG_INT_MAX) {
        *out = cairn_int(get_int(p));
        return 0;
    }
    switch (tag) {
    case CAIRN_VTAG_NIL:
        *out = cairn_nil();
        return 0;
    case CAIRN_VTAG_FALSE:
    case CAIRN_VTAG_TRUE:
        *out = cairn_bool(tag == CAIRN_VTAG_TRUE);
        return 0;
    case CAIRN_VTAG_FLOAT: {
        uint32_t bits = cairn_get_be32(p + 1);
        float f;
        bits = (bits >> 31) ? bits ^ 0x80000000u : ~bits;
        memcpy(&f, &bits, 4);
        *out = cairn_float(f);
        return 0;
    }
    case CAIRN_VTAG_DOUBLE: {
        uint64_t bits = cairn_get_be64(p + 1);
        double d;
        bits = (bits >> 63) ? bits ^ ((uint64_t)1 << 63) : ~bits;
        memcpy(&d, &bits, 8);
        *out = cairn_double(d);
        return 0;
    }
    case CAIRN_VTAG_CHAR:
        *out = cairn_char(cairn_get_be32(p + 1));
        return 0;
    case CAIRN_VTAG_INST:
        *out = cairn_inst((int64_t)(cairn_get_be64(p + 1) ^ ((uint64_t)1 << 63)));
        return 0;
    case CAIRN_VTAG_UUID: {
        uint8_t u[16];
        memcpy(u, p + 1, 16);
        u[0] ^= 0x80;
        u[8] ^= 0x80;
        return cairn_uuid(out, u);
    }
    case CAIRN_VTAG_RATIO: {
        size_t a = value_len(p + 1, len - 1, 1);
        return cairn_ratio(out, get_int(p + 1), get_int(p + 1 + a));
    }
    case CAIRN_VTAG_BIGINT:
    case CAIRN_VTAG_BIGDEC:
    case CAIRN_VTAG_STRING:
    case CAIRN_VTAG_BYTES:
    case CAIRN_VTAG_OTHER:
        if ((rc = get_escaped(tmp, p + 1, len - 1, &used)) < 0)
            return rc;
        switch (tag) {
        case CAIRN_VTAG_BIGINT: rc = cairn_bigint(out, tmp->ptr, tmp->len); break;
        case CAIRN_VTAG_BIGDEC: rc = cairn_bigdec(out, tmp->ptr, tmp->len); break;
        case CAIRN_VTAG_STRING: rc = cairn_string(out, tmp->ptr, tmp->len); break;
        case CAIRN_VTAG_BYTES: rc = cairn_bytes(out, tmp->ptr, tmp->len); break;
        default: rc = cairn_edn_read(out, tmp->ptr, tmp->len, NULL, NULL); break;
        }
        return rc == CAIRN_EINVALID ? CAIRN_CORRUPT_BKPT : rc;
    case CAIRN_VTAG_SYMBOL:
    case CAIRN_VTAG_KEYWORD: {
        size_t at = 2;
        cairn_buf_clear(tmp);
        if (p[1] == 0x02) {
            size_t n = escaped_len(p + at, len - at);
            if (unescape(tmp, p + at, n) < 0 || cairn_buf_putc(tmp, '/') < 0)
                return CAIRN_ENOMEM;
            at += n;
        }
        if (unescape(tmp, p + at, escaped_len(p + at, len - at)) < 0 || cairn_buf_grow(tmp, 0) < 0)
            return CAIRN_ENOMEM;
        rc = tag == CAIRN_VTAG_KEYWORD ? cairn_keyword(out, tmp->ptr, tmp->len)
                                       : cairn_symbol(out, tmp->ptr, tmp->len);
        return rc == CAIRN_EINVALID ? CAIRN_CORRUPT_BKPT : rc;
    }
    case CAIRN_VTAG_TUPLE: {
        cairn_val vec;
        size_t at = 1;
        if ((rc = cairn_vector_new(&vec, 4)) < 0)
            return rc;
        while (p[at] != 0x00) {
            size_t n = value_len(p + at, len - at, 1);
            cairn_val el;
            if ((rc = get_value(&el, p + at, n, tmp)) < 0 || (rc = cairn_coll_push_take(&vec, el)) < 0) {
                cairn_release(vec);
                return rc;
            }
            at += n;
        }
        *out = vec;
        return 0;
    }
    default:
        return CAIRN_CORRUPT_BKPT;
    }
}

int cairn_key_get_value(cairn_val *out, const uint8_t *p, size_t len)
{
    cairn_buf tmp = CAIRN_BUF_INIT;
    int rc;
    if (value_len(p, len, 0) != len)
        return CAIRN_CORRUPT_BKPT;
    rc = get_value(out, p, len, &tmp);
    cairn_buf_dispose(&tmp);
    return rc;
}

/* ---- datom keys ------------------------------------------------------------------ */

int cairn_key_datom(cairn_buf *b, cairn_index_kind kind, uint64_t e, uint64_t a, const uint8_t *v,
                    size_t v_len, uint64_t tx, int history, int added)
{
    uint8_t tmp[4 * CAIRN_KEY_U_MAX];
    size_t n = 0;
    if (cairn_buf_grow(b, v_len + sizeof tmp + 1) < 0)
        return CAIRN_ENOMEM;
    switch (kind) {
    case CAIRN_IX_EAVT:
        n += cairn_key_u(tmp + n, e);
        n += cairn_key_u(tmp + n, a);
        cairn_buf_put(b, tmp, n);
        cairn_buf_put(b, v, v_len);
        break;
    case CAIRN_IX_AEVT:
        n += cairn_key_u(tmp + n, a);
        n += cairn_key_u(tmp + n, e);
        cairn_buf_put(b, tmp, n);
        cairn_buf_put(b, v, v_len);
        break;
    case CAIRN_IX_AVET:
        n += cairn_key_u(tmp + n, a);
        cairn_buf_put(b, tmp, n);
        cairn_buf_put(b, v, v_len);
        n = cairn_key_u(tmp, e);
        cairn_buf_put(b, tmp, n);
        break;
    }
    n = cairn_key_u(tmp, tx);
    cairn_buf_put(b, tmp, n);
    if (history)
        cairn_buf_putc(b, added ? 0x01 : 0x00);
    return b->oom ? CAIRN_ENOMEM : 0;
}

int cairn_key_split(cairn_key_parts *out, cairn_index_kind kind, int history, const uint8_t *key, size_t len)
{
    size_t at = 0, n;
    uint64_t first, second;
    if (!(n = cairn_key_get_u(key, len, &first)))
        return CAIRN_CORRUPT_BKPT;
    at += n;
    if (kind == CAIRN_IX_AVET) {
        out->a = first;
        if (!(n = cairn_key_value_len(key + at, len - at)))
            return CAIRN_CORRUPT_BKPT;
        out->v = key + at;
        out->v_len = n;
        at += n;
        if (!(n = cairn_key_get_u(key + at, len - at, &out->e)))
            return CAIRN_CORRUPT_BKPT;
        at += n;
    } else {
        if (!(n = cairn_key_get_u(key + at, len - at, &second)))
            return CAIRN_CORRUPT_BKPT;
        at += n;
        out->e = kind == CAIRN_IX_EAVT ? first : second;
        out->a = kind == CAIRN_IX_EAVT ? second : first;
        if (!(n = cairn_key_value_len(key + at, len - at)))
            return CAIRN_CORRUPT_BKPT;
        out->v = key + at;
        out->v_len = n;
        at += n;
    }
    if (!(n = cairn_key_get_u(key + at, len - at, &out->tx)))
        return CAIRN_CORRUPT_BKPT;
    at += n;
    out->added = 1;
    if (history) {
        if (at >= len || key[at] > 1)
            return CAIRN_CORRUPT_BKPT;
        out->added = key[at++];
    }
    return at == len ? 0 : CAIRN_CORRUPT_BKPT;
}
