/*
 * Text forms of scalar values that the EDN and JSON codecs share: doubles
 * and floats exactly as Java's Double.toString and Float.toString print them
 * (Clojure's pr-str uses those), decimal text to the nearest double, UUIDs,
 * base64 (for BYTES) and instants (Clojure's #inst grammar, RFC 3339 based).
 *
 * Everything here is pure and allocation-free: the callers own the buffers.
 */
#ifndef CAIRN_EDN_SCALAR_H
#define CAIRN_EDN_SCALAR_H

#include "base/common.h"

/* Room for any text cairn_fmt_double / cairn_fmt_float write, with a NUL. */
#define CAIRN_FMT_DOUBLE_MAX 32
/* Room for cairn_fmt_inst's text (wide years included), with a NUL. */
#define CAIRN_FMT_INST_MAX 48

/*
 * Writes d as Java's Double.toString does: the shortest decimal that reads
 * back as d (two digits at least when one would do, as the JDK specifies),
 * plain notation ("100.0", "0.001") for 1e-3 <= |d| < 1e7, otherwise
 * computerized scientific ("1.0E7", "-1.234E-5"); "NaN", "Infinity",
 * "-Infinity" for the non-finite values. Returns the length.
 */
size_t cairn_fmt_double(char *out, double d);
/* The same for a float, with Float.toString's digits (shortest for a float). */
size_t cairn_fmt_float(char *out, float f);

/*
 * The double nearest to decimal text s[0..len), which the caller has checked
 * matches [+-]?digits[.digits*]?([eE][+-]?digits)?. Out-of-range values go to
 * infinity or zero, as in Java's Double.parseDouble. Independent of the
 * process locale. Returns 0 or CAIRN_ENOMEM.
 */
int cairn_parse_double(double *out, const char *s, size_t len);

/* "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", lowercase; returns 36. */
size_t cairn_fmt_uuid(char *out, const uint8_t bytes[16]);
/* Strict 8-4-4-4-12 hex (either case). 0 or CAIRN_EINVALID. */
int cairn_parse_uuid(uint8_t out[16], const char *s, size_t len);

/* Bytes of base64 text for n input bytes (with padding). */
static inline size_t cairn_base64_len(size_t n)
{
    return (n + 2) / 3 * 4;
}
/* Standard alphabet, padded; writes cairn_base64_len(n) bytes. */
void cairn_base64_encode(char *out, const uint8_t *data, size_t n);
/*
 * Decodes canonical padded base64 (standard alphabet, no whitespace, zero
 * unused bits) into out (room for len / 4 * 3 bytes); sets *out_len.
 * 0 or CAIRN_EINVALID.
 */
int cairn_base64_decode(uint8_t *out, size_t *out_len, const char *s, size_t len);

/*
 * Parses a timestamp the way Clojure's #inst reader does:
 * yyyy[-MM[-dd[THH[:mm[:ss[.fff...]]]]]] then optionally Z or +hh:mm / -hh:mm,
 * with every field range-checked (day within its month, leap years, second 60
 * only at minute 59). Fractions are truncated to milliseconds. Proleptic
 * Gregorian calendar. 0 or CAIRN_EINVALID.
 */
int cairn_parse_inst(int64_t *ms_out, const char *s, size_t len);
/* "2026-11-21T19:29:50.230-00:00", as Clojure prints a java.util.Date. */
size_t cairn_fmt_inst(char *out, int64_t ms);

/* Writes the decimal digits of i; returns the length (at most 20). */
size_t cairn_fmt_int(char *out, int64_t i);

#endif
