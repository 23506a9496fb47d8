/*
 * Growable buffers: doubling growth, sticky out-of-memory.
 */
#include "base/buf.h"

#include <stdio.h>

#include "base/alloc.h"
#include "base/varint.h"

int cairn_buf_grow(cairn_buf *b, size_t extra)
{
    size_t need, cap;
    char *p;
    if (b->oom)
        return CAIRN_ENOMEM;
    if (__builtin_add_overflow(b->len, extra, &need) || __builtin_add_overflow(need, 1, &need))
        goto oom;
    if (need <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < need) {
        if (cap > SIZE_MAX / 2)
            goto oom;
        cap *= 2;
    }
    p = cairn_realloc(b->ptr, cap);
    if (!p)
        goto oom;
    b->ptr = p;
    b->cap = cap;
    b->ptr[b->len] = 0;
    return 0;
oom:
    b->oom = 1;
    return CAIRN_ENOMEM;
}

int cairn_buf_put(cairn_buf *b, const void *data, size_t len)
{
    if (cairn_buf_grow(b, len) < 0)
        return CAIRN_ENOMEM;
    if (len)
        memcpy(b->ptr + b->len, data, len);
    b->len += len;
    b->ptr[b->len] = 0;
    return 0;
}

int cairn_buf_puts(cairn_buf *b, const char *s)
{
    return cairn_buf_put(b, s, strlen(s));
}

int cairn_buf_vprintf(cairn_buf *b, const char *fmt, va_list ap)
{
    va_list ap2;
    int n;
    va_copy(ap2, ap);
    n = vsnprintf(NULL, 0, fmt, ap2);
    va_end(ap2);
    if (n < 0)
        return CAIRN_EINVALID;
    if (cairn_buf_grow(b, (size_t)n) < 0)
        return CAIRN_ENOMEM;
    vsnprintf(b->ptr + b->len, (size_t)n + 1, fmt, ap);
    b->len += (size_t)n;
    return 0;
}

int cairn_buf_printf(cairn_buf *b, const char *fmt, ...)
{
    va_list ap;
    int rc;
    va_start(ap, fmt);
    rc = cairn_buf_vprintf(b, fmt, ap);
    va_end(ap);
    return rc;
}

int cairn_buf_put_varint(cairn_buf *b, uint64_t v)
{
    if (cairn_buf_grow(b, CAIRN_VARINT_MAX) < 0)
        return CAIRN_ENOMEM;
    b->len += cairn_varint_put((uint8_t *)b->ptr + b->len, v);
    b->ptr[b->len] = 0;
    return 0;
}

char *cairn_buf_detach(cairn_buf *b, size_t *len_out)
{
    char *p;
    if (b->oom) {
        cairn_buf_dispose(b);
        return NULL;
    }
    if (!b->ptr && cairn_buf_grow(b, 0) < 0)
        return NULL;
    p = b->ptr;
    if (len_out)
        *len_out = b->len;
    b->ptr = NULL;
    b->len = b->cap = 0;
    return p;
}

void cairn_buf_dispose(cairn_buf *b)
{
    cairn_free(b->ptr);
    b->ptr = NULL;
    b->len = b->cap = 0;
    b->oom = 0;
}
