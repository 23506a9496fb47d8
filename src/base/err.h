/*
 * The error model (DESIGN.md section 9). A failure is a negative status code
 * plus, where the caller passed one, a cairn_error with a one-line message and
 * a Datahike-style error keyword. Handles (databases, connections) keep their
 * own cairn_error for the last failure. Filling an error never allocates, so
 * out-of-memory can be reported on the way out of any path.
 */
#ifndef CAIRN_BASE_ERR_H
#define CAIRN_BASE_ERR_H

#include "base/common.h"

/*
 * Fills err (if not NULL) with code, keyword (e.g. ":transact/syntax", may be
 * NULL) and a printf-style message, and returns code, so a failing path can
 * end with `return cairn_error_set(err, CAIRN_EINVALID, ...)`. The message is
 * cut at one line.
 */
int cairn_error_set(cairn_error *err, int code, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* As cairn_error_set, with an input position for parse errors. */
int cairn_error_set_at(cairn_error *err, int code, const char *keyword, int line, int column,
                       const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* CAIRN_ENOMEM with a fixed message; never allocates. */
int cairn_error_oom(cairn_error *err);

/* Fills err from code alone (a generic message) unless err already holds this
 * failure; returns code. For propagating a code from a layer without errors. */
int cairn_error_code(cairn_error *err, int code);

void cairn_error_clear(cairn_error *err);
void cairn_error_copy(cairn_error *dst, const cairn_error *src);

/* Prefixes the message with "what: " (e.g. the file or datom it concerns). */
void cairn_error_prefix(cairn_error *err, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
