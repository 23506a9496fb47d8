/*
 * Unsigned LEB128 varints and zigzag for signed values: the compact integer
 * encoding of every on-disk format (node headers, lengths, counts).
 * Decoding refuses truncated input and encodings longer than 10 bytes or
 * overflowing 64 bits, so a corrupt node can never make a decoder read past
 * its input.
 */
#ifndef CAIRN_BASE_VARINT_H
#define CAIRN_BASE_VARINT_H

#include <stddef.h>
#include <stdint.h>

#define CAIRN_VARINT_MAX 10  /* bytes in the longest varint */

/* Writes v to dst (room for CAIRN_VARINT_MAX bytes); returns bytes written. */
size_t cairn_varint_put(uint8_t *dst, uint64_t v);
/* Reads one varint from p[0..avail); returns bytes read, 0 when malformed. */
size_t cairn_varint_get(const uint8_t *p, size_t avail, uint64_t *out);
/* Bytes cairn_varint_put would write. */
size_t cairn_varint_len(uint64_t v);

static inline uint64_t cairn_zigzag(int64_t v)
{
    return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}
static inline int64_t cairn_unzigzag(uint64_t v)
{
    return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

#endif
