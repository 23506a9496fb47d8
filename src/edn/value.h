/*
 * The value model's internals: the heap objects behind cairn_val.
 *
 * A cairn_val is 16 bytes: a type tag, a private aux word and a payload
 * union. BOOL, INT, CHAR and INST keep their payload in u_.i; FLOAT and DOUBLE
 * in u_.d; everything else points (u_.p) at an immutable heap object whose
 * first member is a cairn_obj header with an atomic reference count, or, for
 * keywords and symbols, at an interned cairn_ident that is never freed.
 *
 * Main invariant: a heap object reachable from more than one reference is
 * never modified. Building functions (cairn_coll_push, cairn_map_put) modify
 * in place only when the reference count is 1, and copy otherwise.
 *
 * Every collection records its nesting depth (1 + the deepest child), and a
 * value deeper than CAIRN_MAX_DEPTH cannot be built, so recursive walks
 * (equality, hashing, printing, release) need at most CAIRN_MAX_DEPTH frames.
 *
 * Rejected alternatives: NaN-boxing into 8 bytes (no room for int64 without
 * boxing, which the index and query layers use constantly); jq's
 * consume-everything ownership (STYLE.md); persistent HAMT collections (values
 * here are built once by a reader or a query and then only read).
 */
#ifndef CAIRN_EDN_VALUE_H
#define CAIRN_EDN_VALUE_H

#include <stdatomic.h>

#include "base/common.h"

#define CAIRN_REFCNT_IMMORTAL UINT32_MAX

typedef struct cairn_obj {
    _Atomic uint32_t refcnt;  /* references; CAIRN_REFCNT_IMMORTAL = static */
    uint16_t depth;           /* nesting depth: 0 for scalars */
    uint8_t kind;             /* cairn_type of the value */
    uint8_t flags;            /* per-kind bits */
} cairn_obj;

/* STRING, BYTES, BIGINT, BIGDEC: bytes plus a NUL. */
typedef struct cairn_str {
    cairn_obj h;   /* header */
    size_t len;    /* bytes, not counting the NUL */
    char data[];   /* contents */
} cairn_str;

/* KEYWORD and SYMBOL names, interned; never freed before cairn_shutdown. */
typedef struct cairn_ident {
    _Atomic uint64_t hash;  /* hash of text, 0 until first computed */
    uint32_t len;           /* bytes of text */
    uint32_t ns_len;        /* bytes before the separating '/', 0 = none */
    uint32_t kind;          /* CAIRN_KEYWORD or CAIRN_SYMBOL */
    const char *text;       /* "ns/name", NUL-terminated */
} cairn_ident;

typedef struct cairn_uuid_obj {
    cairn_obj h;        /* header */
    uint8_t bytes[16];  /* big-endian */
} cairn_uuid_obj;

typedef struct cairn_ratio_obj {
    cairn_obj h;   /* header */
    int64_t num;   /* numerator, sign carrier */
    int64_t den;   /* denominator, > 1, coprime with num */
} cairn_ratio_obj;

typedef struct cairn_tagged_obj {
    cairn_obj h;     /* header */
    cairn_val tag;   /* SYMBOL */
    cairn_val val;   /* the tagged value */
} cairn_tagged_obj;

/* LIST, VECTOR, SET, MAP. A MAP's items are key0 val0 key1 val1 ... */
typedef struct cairn_coll {
    cairn_obj h;             /* header */
    _Atomic uint64_t hash;   /* cached cairn_hash, 0 = not computed */
    size_t count;            /* elements (MAP: entries) */
    size_t cap;              /* room for elements (MAP: entries) */
    uint32_t *index;         /* SET/MAP hash index, entry+1 per slot, or NULL */
    size_t index_cap;        /* slots in index, a power of two */
    cairn_val items[];       /* the elements */
} cairn_coll;

/* SET and MAP use a linear scan up to this many entries, a hash index above. */
#define CAIRN_COLL_SCAN_MAX 8

#define CAIRN_HEAP_TYPES                                                          \
    ((1u << CAIRN_BIGINT) | (1u << CAIRN_RATIO) | (1u << CAIRN_BIGDEC) |          \
     (1u << CAIRN_STRING) | (1u << CAIRN_UUID) | (1u << CAIRN_BYTES) |            \
     (1u << CAIRN_LIST) | (1u << CAIRN_VECTOR) | (1u << CAIRN_MAP) |              \
     (1u << CAIRN_SET) | (1u << CAIRN_TAGGED))

/* 1 when v points at a reference-counted heap object. */
static inline int cairn_val_is_heap(cairn_val v)
{
    return v.type_ < 32 && ((1u << v.type_) & CAIRN_HEAP_TYPES) != 0;
}

static inline cairn_val cairn_val_make(cairn_type t, void *p)
{
    cairn_val v;
    v.type_ = (uint32_t)t;
    v.aux_ = 0;
    v.u_.p = p;
    return v;
}

static inline cairn_coll *cairn_val_coll(cairn_val v) { return (cairn_coll *)v.u_.p; }
static inline cairn_str *cairn_val_str(cairn_val v) { return (cairn_str *)v.u_.p; }
static inline const cairn_ident *cairn_val_ident(cairn_val v) { return (const cairn_ident *)v.u_.p; }

static inline int cairn_val_is_ident(cairn_val v)
{
    return v.type_ == CAIRN_KEYWORD || v.type_ == CAIRN_SYMBOL;
}
static inline int cairn_val_is_coll(cairn_val v)
{
    return v.type_ >= CAIRN_LIST && v.type_ <= CAIRN_SET;
}
static inline int cairn_val_is_number(cairn_val v)
{
    return v.type_ >= CAIRN_INT && v.type_ <= CAIRN_BIGDEC;
}
static inline int cairn_val_is_seq(cairn_val v)
{
    return v.type_ == CAIRN_LIST || v.type_ == CAIRN_VECTOR;
}

/* Nesting depth of v (0 for scalars). */
static inline unsigned cairn_val_depth(cairn_val v)
{
    if (cairn_val_is_coll(v) || v.type_ == CAIRN_TAGGED)
        return ((cairn_obj *)v.u_.p)->depth;
    return 0;
}

/*
 * Static keywords for the names the database layers use constantly. Defined
 * with CAIRN_IDENT_STATIC; equality of idents falls back to comparing text, so
 * a static ident equals the interned one of the same name.
 */
#define CAIRN_IDENT_STATIC(kind_, ns_len_, text_) \
    { 0, (uint32_t)(sizeof(text_) - 1), (uint32_t)(ns_len_), (uint32_t)(kind_), text_ }
#define CAIRN_IDENT_VAL(kind_, ident_ptr) cairn_val_make(kind_, (void *)(ident_ptr))

/* Ident equality (pointer first, then text). */
int cairn_ident_equal(const cairn_ident *a, const cairn_ident *b);
uint64_t cairn_ident_hash(const cairn_ident *a);
/* Keyword/symbol from an ident whose text is in static storage. */
cairn_val cairn_keyword_static(const cairn_ident *id);

/* 1 when v is a KEYWORD with exactly this "ns/name" text. */
int cairn_val_is_kw(cairn_val v, const char *text);

/* Interning (intern.c). text is "ns/name". Thread-safe. */
int cairn_intern(const cairn_ident **out, cairn_type kind, const char *text, size_t len);
/* Number of interned names (for tests of the interning limit). */
size_t cairn_intern_count(void);

/* Numbers (number.c). */
/* Compares two numeric values by value: <0, 0, >0; ties across categories
 * (integer, ratio, floating, decimal) are broken by category. */
int cairn_number_compare(cairn_val a, cairn_val b);
int cairn_number_equal(cairn_val a, cairn_val b);
uint64_t cairn_number_hash(cairn_val v);
/* Checks and canonicalizes decimal text for BIGINT ("-0012" -> "-12") and
 * BIGDEC ("+1.50" -> "1.50", "1e3" -> "1E+3"); 0 or CAIRN_EINVALID. The
 * result is written to out (room for len + 32 bytes), its length to *out_len. */
int cairn_bigint_canon(char *out, size_t *out_len, const char *text, size_t len);
int cairn_bigdec_canon(char *out, size_t *out_len, const char *text, size_t len);
/* 1 and *out when the BIGINT fits in int64. */
int cairn_bigint_to_int64(cairn_val v, int64_t *out);
/* Approximate value of any number as long double. */
long double cairn_number_approx(cairn_val v);

/*
 * Adds v to a SET without looking for an equal element first; consumes v.
 * For callers that know v is new (a query result built from distinct rows):
 * adding an element already present breaks the set's invariant.
 */
int cairn_coll__push_new_take(cairn_val *set, cairn_val v);

/* Allocates a string-like object of type t with len bytes (contents not set). */
int cairn_str_alloc(cairn_val *out, cairn_type t, size_t len);

#endif
