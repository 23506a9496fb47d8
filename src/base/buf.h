/*
 * Growable byte buffers. Out-of-memory is sticky: once a grow fails every
 * later append is a no-op and returns CAIRN_ENOMEM, and b->oom stays set, so
 * a long run of appends can be checked once at the end. The contents are
 * always NUL-terminated when ptr is not NULL.
 */
#ifndef CAIRN_BASE_BUF_H
#define CAIRN_BASE_BUF_H

#include <stdarg.h>
#include <string.h>

#include "base/common.h"

typedef struct cairn_buf {
    char *ptr;    /* contents, NUL-terminated; NULL until first append */
    size_t len;   /* bytes used, not counting the NUL */
    size_t cap;   /* bytes allocated */
    int oom;      /* an allocation failed; the contents are incomplete */
} cairn_buf;

#define CAIRN_BUF_INIT { NULL, 0, 0, 0 }

/* Makes room for extra more bytes (plus the NUL). */
int cairn_buf_grow(cairn_buf *b, size_t extra);
int cairn_buf_put(cairn_buf *b, const void *data, size_t len);
int cairn_buf_puts(cairn_buf *b, const char *s);
int cairn_buf_printf(cairn_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cairn_buf_vprintf(cairn_buf *b, const char *fmt, va_list ap);
/* Appends the unsigned LEB128 varint of v. */
int cairn_buf_put_varint(cairn_buf *b, uint64_t v);

static inline int cairn_buf_putc(cairn_buf *b, char c)
{
    if (CAIRN_UNLIKELY(b->len + 2 > b->cap) && cairn_buf_grow(b, 1) < 0)
        return CAIRN_ENOMEM;
    b->ptr[b->len++] = c;
    b->ptr[b->len] = 0;
    return 0;
}

/* Empties the buffer, keeping its memory (and clearing oom). */
static inline void cairn_buf_clear(cairn_buf *b)
{
    b->len = 0;
    b->oom = 0;
    if (b->ptr)
        b->ptr[0] = 0;
}

/* Drops the last n bytes. */
static inline void cairn_buf_truncate(cairn_buf *b, size_t len)
{
    if (len < b->len) {
        b->len = len;
        b->ptr[len] = 0;
    }
}

/*
 * Hands the contents to the caller (free with cairn_free) and resets b.
 * Returns NULL when an append failed (the buffer is freed then) or on OOM.
 */
char *cairn_buf_detach(cairn_buf *b, size_t *len_out);

void cairn_buf_dispose(cairn_buf *b);

#endif
