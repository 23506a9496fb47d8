/*
 * Status codes, error objects, version, and the corruption breakpoint.
 */
#include "base/err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cairn_libversion_number(void)
{
    return CAIRN_VERSION_NUMBER;
}

const char *cairn_libversion(void)
{
    return CAIRN_VERSION;
}

const char *cairn_strerror(int code)
{
    switch (code) {
    case CAIRN_OK: return "ok";
    case CAIRN_ERROR: return "error";
    case CAIRN_ENOTFOUND: return "not found";
    case CAIRN_EEXISTS: return "already exists";
    case CAIRN_ECONFLICT: return "conflict";
    case CAIRN_EBUSY: return "busy";
    case CAIRN_ECORRUPT: return "corrupt";
    case CAIRN_EFULL: return "storage full";
    case CAIRN_EIO: return "i/o error";
    case CAIRN_ENOMEM: return "out of memory";
    case CAIRN_EINVALID: return "invalid";
    case CAIRN_EUNSUPPORTED: return "unsupported";
    case CAIRN_ELIMIT: return "limit exceeded";
    case CAIRN_ECANCELED: return "canceled";
    case CAIRN_ECLOSED: return "closed";
    default: return "unknown status";
    }
}

static void one_line(char *s)
{
    for (; *s; s++)
        if (*s == '\n' || *s == '\r')
            *s = ' ';
}

static void set_keyword(cairn_error *err, const char *keyword)
{
    if (keyword)
        snprintf(err->keyword, sizeof err->keyword, "%s", keyword);
    else
        err->keyword[0] = 0;
}

int cairn_error_set(cairn_error *err, int code, const char *keyword, const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return code;
    err->code = code;
    err->line = err->column = 0;
    set_keyword(err, keyword);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    one_line(err->message);
    return code;
}

int cairn_error_set_at(cairn_error *err, int code, const char *keyword, int line, int column,
                       const char *fmt, ...)
{
    va_list ap;
    if (!err)
        return code;
    err->code = code;
    err->line = line;
    err->column = column;
    set_keyword(err, keyword);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    one_line(err->message);
    return code;
}

int cairn_error_oom(cairn_error *err)
{
    if (err) {
        err->code = CAIRN_ENOMEM;
        err->line = err->column = 0;
        err->keyword[0] = 0;
        memcpy(err->message, "out of memory", sizeof "out of memory");
    }
    return CAIRN_ENOMEM;
}

int cairn_error_code(cairn_error *err, int code)
{
    if (!err || code >= 0 || err->code == code)
        return code;
    if (code == CAIRN_ENOMEM)
        return cairn_error_oom(err);
    return cairn_error_set(err, code, NULL, "%s", cairn_strerror(code));
}

void cairn_error_clear(cairn_error *err)
{
    if (err) {
        err->code = err->line = err->column = 0;
        err->keyword[0] = err->message[0] = 0;
    }
}

void cairn_error_copy(cairn_error *dst, const cairn_error *src)
{
    if (dst && src && dst != src)
        *dst = *src;
}

void cairn_error_prefix(cairn_error *err, const char *fmt, ...)
{
    char pre[128], old[sizeof err->message];
    va_list ap;
    if (!err)
        return;
    va_start(ap, fmt);
    vsnprintf(pre, sizeof pre, fmt, ap);
    va_end(ap);
    memcpy(old, err->message, sizeof old);
    snprintf(err->message, sizeof err->message, "%s: %s", pre, old);
    one_line(err->message);
}

static _Thread_local int corrupt_line;

int cairn__corrupt_bkpt(const char *file, int line)
{
    corrupt_line = line;
    if (getenv("CAIRN_DEBUG_CORRUPT"))
        fprintf(stderr, "cairn: corruption detected at %s:%d\n", file, line);
    return CAIRN_ECORRUPT;
}

int cairn__corrupt_line(void)
{
    return corrupt_line;
}
