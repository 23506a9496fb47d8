/*
 * UTF-8 validation, decoding and encoding. Strict: overlong forms,
 * surrogates (U+D800..U+DFFF) and code points above U+10FFFF are invalid, so
 * every string value cairn holds is well-formed UTF-8.
 */
#ifndef CAIRN_BASE_UTF8_H
#define CAIRN_BASE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* Decodes one code point from p[0..len); returns its byte length, 0 if invalid. */
size_t cairn_utf8_decode(const char *p, size_t len, uint32_t *cp_out);
/* Writes cp (valid scalar value) to dst[0..4); returns bytes written. */
size_t cairn_utf8_encode(char *dst, uint32_t cp);
/* Offset of the first invalid byte of s[0..len), or len when all valid. */
size_t cairn_utf8_check(const char *s, size_t len);

#endif
