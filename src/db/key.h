/*
 * Datom keys: the byte strings whose memcmp order is the order of the EAVT,
 * AEVT and AVET indices (DESIGN.md section 3). One B+tree of byte keys then
 * serves every index, comparisons are memcmp, and neighbouring keys share long
 * prefixes, which the leaf codec compresses.
 *
 * Layouts (u = unsigned id, v = value, see below):
 *
 *   EAVT  u(e) u(a) v u(tx)           history twin: ... u(tx) op
 *   AEVT  u(a) u(e) v u(tx)           history twin: ... u(tx) op
 *   AVET  u(a) v u(e) u(tx)           history twin: ... u(tx) op
 *
 * op is 0x01 for an assertion and 0x00 for a retraction.
 *
 * u(x), for ids 0 <= x < 2^63: one byte n (0..8) then the n low bytes of x,
 * big-endian, with n minimal (x = 0 is the single byte 0x00). Longer means
 * larger, so memcmp order is numeric order, and the ids of a small database
 * (entities below 2^16, transactions near 2^29) take 3 to 5 bytes.
 *
 * v: one tag byte, whose order is the order of types in an index, then:
 *
 *   tag        type      payload
 *   0x01       nil       none (only inside tuples: nil is never stored)
 *   0x02/0x03  boolean   none (false, true)
 *   0x10-0x20  int, ref  0x18+n: v >= 0, n low bytes of v big-endian (n minimal)
 *                        0x18-n: v < 0, n low bytes of v (two's complement)
 *   0x21       bigint    escaped canonical decimal text
 *   0x22       ratio     i(num) i(den), the int encoding above without order
 *   0x23       float     4 bytes: IEEE bits, sign bit flipped if >= 0, all
 *                        bits flipped if < 0 (so memcmp is numeric order)
 *   0x24       double    8 bytes, same flip; -0.0 is stored as 0.0
 *   0x25       bigdec    escaped canonical text (order is not numeric)
 *   0x30       char      4 bytes code point
 *   0x31       string    escaped UTF-8
 *   0x32       symbol    0x01 (no namespace) or 0x02 escaped(ns); escaped(name)
 *   0x33       keyword   as symbol (so order is Clojure's: no-ns first, ns, name)
 *   0x34       uuid      16 bytes, each 8-byte half with its sign bit flipped
 *                        (Java's UUID.compareTo order)
 *   0x35       instant   8 bytes, int64 ms with the sign bit flipped
 *   0x36       bytes     escaped
 *   0x40       tuple     each element encoded, then 0x00 (no tag is 0x00);
 *                        lists and vectors are both stored as tuples
 *   0x50       other     escaped EDN text (maps, sets, tagged literals):
 *                        order by text
 *
 * escaped(s): s with each 0x00 written as 0x00 0xFF, then 0x00 0x00. It keeps
 * byte order and makes the value self-delimiting, so tx can follow it.
 *
 * Equal values have equal encodings within a type (minimal int length,
 * canonical -0.0, canonical NaN), so joins can compare encoded bytes. Values
 * of different numeric types (1, 1.0, 1N) encode differently and sort by tag,
 * not by numeric value: under schema-on-write an attribute holds one type.
 */
#ifndef CAIRN_DB_KEY_H
#define CAIRN_DB_KEY_H

#include "base/buf.h"
#include "base/common.h"

enum cairn_vtag {
    CAIRN_VTAG_NIL = 0x01,
    CAIRN_VTAG_FALSE = 0x02,
    CAIRN_VTAG_TRUE = 0x03,
    CAIRN_VTAG_INT_MIN = 0x10,   /* negative, 8 bytes */
    CAIRN_VTAG_INT_ZERO = 0x18,  /* zero, no payload */
    CAIRN_VTAG_INT_MAX = 0x20,   /* positive, 8 bytes */
    CAIRN_VTAG_BIGINT = 0x21,
    CAIRN_VTAG_RATIO = 0x22,
    CAIRN_VTAG_FLOAT = 0x23,
    CAIRN_VTAG_DOUBLE = 0x24,
    CAIRN_VTAG_BIGDEC = 0x25,
    CAIRN_VTAG_CHAR = 0x30,
    CAIRN_VTAG_STRING = 0x31,
    CAIRN_VTAG_SYMBOL = 0x32,
    CAIRN_VTAG_KEYWORD = 0x33,
    CAIRN_VTAG_UUID = 0x34,
    CAIRN_VTAG_INST = 0x35,
    CAIRN_VTAG_BYTES = 0x36,
    CAIRN_VTAG_TUPLE = 0x40,
    CAIRN_VTAG_OTHER = 0x50,
};

#define CAIRN_KEY_U_MAX 9  /* bytes of the longest u(x) */

/* Index kinds. The history twins share the layouts plus the op byte. */
typedef enum cairn_index_kind {
    CAIRN_IX_EAVT = 0,
    CAIRN_IX_AEVT = 1,
    CAIRN_IX_AVET = 2,
} cairn_index_kind;

/* Appends u(x). */
int cairn_key_put_u(cairn_buf *b, uint64_t x);
/* Writes u(x) to dst (room for CAIRN_KEY_U_MAX); returns bytes. */
size_t cairn_key_u(uint8_t *dst, uint64_t x);
/* Reads u(x) at p[0..len); returns bytes read, 0 if malformed. */
size_t cairn_key_get_u(const uint8_t *p, size_t len, uint64_t *out);

/* Appends the encoding of v. CAIRN_EINVALID for nil at top level (nil is
 * never stored); CAIRN_ENOMEM. */
int cairn_key_put_value(cairn_buf *b, cairn_val v);
/* Length of the encoded value at p[0..len), 0 if malformed. */
size_t cairn_key_value_len(const uint8_t *p, size_t len);
/* Decodes the encoded value at p[0..len) (exactly one value). */
int cairn_key_get_value(cairn_val *out, const uint8_t *p, size_t len);

/* A decoded datom key: e, a and tx as numbers, v as a span of the key. */
typedef struct cairn_key_parts {
    uint64_t e;            /* entity id */
    uint64_t a;            /* attribute id */
    const uint8_t *v;      /* encoded value, inside the key */
    size_t v_len;          /* its bytes */
    uint64_t tx;           /* transaction id */
    int added;             /* history twins: op byte; current indices: 1 */
} cairn_key_parts;

/* Builds the key of a datom for index kind (history adds the op byte). */
int cairn_key_datom(cairn_buf *b, cairn_index_kind kind, uint64_t e, uint64_t a, const uint8_t *v,
                    size_t v_len, uint64_t tx, int history, int added);
/* Splits a key of index kind; 0 or CAIRN_ECORRUPT. */
int cairn_key_split(cairn_key_parts *out, cairn_index_kind kind, int history, const uint8_t *key, size_t len);

#endif
