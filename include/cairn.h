/*
 * cairn.h: the public C API of cairn, an embedded Datalog database.
 *
 * Rules that hold for every function declared here:
 *
 *  - Status: functions that can fail return int: 0 (CAIRN_OK) on success, a
 *    negative CAIRN_E* code on failure. Where a function takes a
 *    `cairn_error *err` it fills it with a one-line message and a
 *    Datahike-style error keyword (":transact/syntax"); err may be NULL.
 *  - Out parameters come first and are named out / *_out. On failure an out
 *    parameter is left untouched unless its documentation says otherwise.
 *  - Values (cairn_val) are small structs passed by value. Scalars are inline;
 *    strings, collections and other large values are immutable and reference
 *    counted. ARGUMENTS ARE BORROWED, RESULTS ARE NEW REFERENCES: a function
 *    that returns or writes a cairn_val gives the caller one reference, which
 *    the caller drops with cairn_release(). Functions ending in _take consume
 *    their value argument, and functions ending in _get return a borrowed value
 *    that stays valid as long as the value it came from.
 *  - Memory: every allocation goes through the allocator set with
 *    cairn_set_allocator(). The library never aborts on bad input or when memory
 *    runs out; it returns CAIRN_ENOMEM.
 *  - Threads: values are immutable and may be shared by any number of threads;
 *    reference counts are atomic. Building a collection (cairn_coll_push,
 *    cairn_map_put, ...) is only for a value no other thread can see yet.
 *
 * The header is C99, self-contained, and compiles alone with
 * -Wall -Wextra -pedantic -Werror (make check-headers).
 */
#ifndef CAIRN_H
#define CAIRN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#if defined(__GNUC__) || defined(__clang__)
#define CAIRN_API __attribute__((visibility("default")))
#else
#define CAIRN_API
#endif

/* ------------------------------------------------------------------------ */
/* Version                                                                  */
/* ------------------------------------------------------------------------ */

#define CAIRN_VERSION        "0.1.0"
#define CAIRN_VERSION_NUMBER 1000  /* major * 1000000 + minor * 1000 + patch */

/** @return CAIRN_VERSION_NUMBER of the library actually linked. */
CAIRN_API int cairn_libversion_number(void);
/** @return CAIRN_VERSION of the library actually linked (static string). */
CAIRN_API const char *cairn_libversion(void);

/* ------------------------------------------------------------------------ */
/* Status codes and errors                                                  */
/* ------------------------------------------------------------------------ */

enum {
    CAIRN_OK           = 0,
    CAIRN_ERROR        = -1,   /* generic failure; the message says what */
    CAIRN_ENOTFOUND    = -2,   /* no such key, entity, database, ... */
    CAIRN_EEXISTS      = -3,   /* already exists (database, duplicate key) */
    CAIRN_ECONFLICT    = -4,   /* compare-and-set lost; head moved */
    CAIRN_EBUSY        = -5,   /* locked by another writer */
    CAIRN_ECORRUPT     = -6,   /* stored bytes fail their checks */
    CAIRN_EFULL        = -7,   /* storage full */
    CAIRN_EIO          = -8,   /* an I/O call failed */
    CAIRN_ENOMEM       = -9,   /* out of memory */
    CAIRN_EINVALID     = -10,  /* bad input: syntax, type, schema, ... */
    CAIRN_EUNSUPPORTED = -11,  /* valid, but not supported here */
    CAIRN_ELIMIT       = -12,  /* input exceeds a configured limit */
    CAIRN_ECANCELED    = -13,  /* canceled or timed out */
    CAIRN_ECLOSED      = -14   /* handle released or writer stopped */
};

/** @return a static, one-word description of a status code. */
CAIRN_API const char *cairn_strerror(int code);

/**
 * A filled-in error. Transparent so callers can keep one on the stack; it owns
 * no memory, so reporting an error never allocates.
 */
typedef struct cairn_error {
    int code;            /* CAIRN_E* status, 0 when no error */
    int line;            /* 1-based input line for parse errors, else 0 */
    int column;          /* 1-based input column for parse errors, else 0 */
    char keyword[64];    /* Datahike-style keyword, e.g. ":transact/syntax" */
    char message[256];   /* one line, no trailing newline */
} cairn_error;

#define CAIRN_ERROR_INIT { 0, 0, 0, {0}, {0} }

/* ------------------------------------------------------------------------ */
/* Memory                                                                   */
/* ------------------------------------------------------------------------ */

/** A user allocator. Any function may be NULL to keep the libc one. */
typedef struct cairn_allocator {
    unsigned version;                                  /* CAIRN_ALLOCATOR_VERSION */
    void *(*malloc)(size_t size, void *payload);       /* like malloc */
    void *(*realloc)(void *ptr, size_t size, void *payload); /* like realloc */
    void (*free)(void *ptr, void *payload);            /* like free */
    void *payload;                                     /* passed to each */
} cairn_allocator;

#define CAIRN_ALLOCATOR_VERSION 1
#define CAIRN_ALLOCATOR_INIT { CAIRN_ALLOCATOR_VERSION, NULL, NULL, NULL, NULL }

/**
 * Replaces the allocator (NULL restores libc's). Call it before any other cairn
 * function, from one thread: memory allocated by one allocator must be freed by
 * the same one.
 * @return 0, or CAIRN_EINVALID for an unknown version.
 */
CAIRN_API int cairn_set_allocator(const cairn_allocator *allocator);

/** Allocation through the current allocator; cairn_malloc(0) returns non-NULL. */
CAIRN_API void *cairn_malloc(size_t size);
CAIRN_API void *cairn_realloc(void *ptr, size_t size);
CAIRN_API void cairn_free(void *ptr);

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

/**
 * The types of values. The order of this list is the order of values of
 * different types in cairn_compare(), with two exceptions: all numeric types
 * (INT, BIGINT, RATIO, FLOAT, DOUBLE, BIGDEC) compare by numeric value with
 * each other (ties broken by this list), and LIST and VECTOR compare (and are
 * equal) as sequences, as in Clojure.
 */
typedef enum cairn_type {
    CAIRN_NIL = 0,   /* nil */
    CAIRN_BOOL,      /* true, false */
    CAIRN_INT,       /* int64 */
    CAIRN_BIGINT,    /* arbitrary-precision integer, 123N */
    CAIRN_RATIO,     /* exact rational, 15/2 */
    CAIRN_FLOAT,     /* 32-bit IEEE float (:db.type/float) */
    CAIRN_DOUBLE,    /* 64-bit IEEE double */
    CAIRN_BIGDEC,    /* arbitrary-precision decimal, 1.5M */
    CAIRN_CHAR,      /* Unicode code point, \a */
    CAIRN_STRING,    /* UTF-8 text */
    CAIRN_SYMBOL,    /* interned, optional namespace: foo, ns/foo */
    CAIRN_KEYWORD,   /* interned, optional namespace: :foo, :ns/foo */
    CAIRN_UUID,      /* 16 bytes */
    CAIRN_INST,      /* instant, milliseconds since the Unix epoch (UTC) */
    CAIRN_BYTES,     /* byte string */
    CAIRN_LIST,      /* (a b c) */
    CAIRN_VECTOR,    /* [a b c] */
    CAIRN_MAP,       /* {k v}; keeps insertion order */
    CAIRN_SET,       /* #{a b}; keeps insertion order */
    CAIRN_TAGGED     /* #tag value, for tags cairn does not interpret */
} cairn_type;

/**
 * A value. Pass it by value; the fields are private and may change.
 */
typedef struct cairn_val {
    uint32_t type_;  /* cairn_type */
    uint32_t aux_;   /* private */
    union {
        int64_t i;   /* BOOL, INT, CHAR, INST */
        double d;    /* FLOAT, DOUBLE */
        void *p;     /* everything else */
    } u_;            /* private */
} cairn_val;

/** @return the value's type. */
static inline cairn_type cairn_type_of(cairn_val v) { return (cairn_type)v.type_; }

/* Scalars: never fail, need no release. */
CAIRN_API cairn_val cairn_nil(void);
CAIRN_API cairn_val cairn_bool(int b);
CAIRN_API cairn_val cairn_int(int64_t i);
CAIRN_API cairn_val cairn_double(double d);
CAIRN_API cairn_val cairn_float(float f);
CAIRN_API cairn_val cairn_inst(int64_t ms_since_epoch);
/** A character; code points above U+10FFFF or surrogates become U+FFFD. */
CAIRN_API cairn_val cairn_char(uint32_t code_point);

/**
 * Strings and bytes are copied. cairn_string() checks the text is valid UTF-8
 * (CAIRN_EINVALID otherwise).
 * @return 0, CAIRN_EINVALID, CAIRN_ELIMIT (longer than 2^32-1) or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_string(cairn_val *out, const char *text, size_t len);
CAIRN_API int cairn_bytes(cairn_val *out, const void *data, size_t len);

/**
 * Keywords and symbols are interned: equal names give the same object, so
 * comparing them is one pointer compare. text is "name" or "ns/name" without
 * the leading ':' (the first '/' not at the start separates the namespace).
 * Interned names live until cairn_shutdown().
 * @return 0, CAIRN_EINVALID (empty) or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_keyword(cairn_val *out, const char *text, size_t len);
CAIRN_API int cairn_symbol(cairn_val *out, const char *text, size_t len);

/** A UUID from 16 bytes (big-endian, as printed). @return 0 or CAIRN_ENOMEM. */
CAIRN_API int cairn_uuid(cairn_val *out, const uint8_t bytes[16]);

/**
 * A big integer from decimal text ("-123"). Kept as its canonical decimal text.
 * @return 0, CAIRN_EINVALID or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_bigint(cairn_val *out, const char *digits, size_t len);

/**
 * A big decimal from decimal text ("1.50", "-2E+3"). Kept as its canonical
 * text, so 1.50M prints as 1.50M; equal by numeric value (1.50M = 1.5M), as in
 * Clojure.
 * @return 0, CAIRN_EINVALID or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_bigdec(cairn_val *out, const char *text, size_t len);

/**
 * An exact ratio num/den reduced to lowest terms; a whole result is an INT.
 * @return 0, CAIRN_EINVALID (den == 0) or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_ratio(cairn_val *out, int64_t num, int64_t den);

/** A tagged literal #tag value; tag must be a SYMBOL. */
CAIRN_API int cairn_tagged(cairn_val *out, cairn_val tag, cairn_val value);

/* Collections: create empty, then push / put while still unshared. A push on
 * a collection that other references can see copies it first, so values stay
 * immutable to everyone else. Nesting deeper than CAIRN_MAX_DEPTH is refused
 * with CAIRN_ELIMIT, which bounds every recursive walk of a value. */
#define CAIRN_MAX_DEPTH 1000

CAIRN_API int cairn_list_new(cairn_val *out, size_t capacity);
CAIRN_API int cairn_vector_new(cairn_val *out, size_t capacity);
CAIRN_API int cairn_map_new(cairn_val *out, size_t capacity);
CAIRN_API int cairn_set_new(cairn_val *out, size_t capacity);

/**
 * Appends v to a LIST, VECTOR or SET (*coll may be replaced by a copy).
 * @return 0; CAIRN_EEXISTS when a SET already holds an equal value (nothing
 * added); CAIRN_ELIMIT (too deep); CAIRN_ENOMEM.
 */
CAIRN_API int cairn_coll_push(cairn_val *coll, cairn_val v);
/** As cairn_coll_push, but consumes v whatever the outcome. */
CAIRN_API int cairn_coll_push_take(cairn_val *coll, cairn_val v);

/**
 * Adds key -> v to a MAP. cairn_map_put refuses a key already present
 * (CAIRN_EEXISTS, map unchanged); cairn_map_assoc replaces its value.
 */
CAIRN_API int cairn_map_put(cairn_val *map, cairn_val key, cairn_val v);
CAIRN_API int cairn_map_put_take(cairn_val *map, cairn_val key, cairn_val v);
CAIRN_API int cairn_map_assoc(cairn_val *map, cairn_val key, cairn_val v);

/* Reference counting. */
CAIRN_API cairn_val cairn_retain(cairn_val v);  /* returns v, one more reference */
CAIRN_API void cairn_release(cairn_val v);      /* drops one reference */

/* Access. Calling an accessor on a value of another type is a programming
 * error; it returns a zero/NULL result. */
CAIRN_API int cairn_bool_value(cairn_val v);
CAIRN_API int64_t cairn_int_value(cairn_val v);           /* INT */
CAIRN_API double cairn_double_value(cairn_val v);         /* FLOAT, DOUBLE */
CAIRN_API int64_t cairn_inst_value(cairn_val v);          /* INST */
CAIRN_API uint32_t cairn_char_value(cairn_val v);         /* CHAR */
/** Bytes of a STRING, BYTES, BIGINT or BIGDEC (NUL-terminated, borrowed). */
CAIRN_API const char *cairn_str_get(cairn_val v, size_t *len_out);
/** "ns/name" text of a KEYWORD or SYMBOL (borrowed, lives until shutdown). */
CAIRN_API const char *cairn_ident_get(cairn_val v, size_t *len_out);
/** Name part of a KEYWORD or SYMBOL. */
CAIRN_API const char *cairn_name_get(cairn_val v, size_t *len_out);
/** Namespace part of a KEYWORD or SYMBOL, or NULL when it has none. */
CAIRN_API const char *cairn_namespace_get(cairn_val v, size_t *len_out);
CAIRN_API const uint8_t *cairn_uuid_get(cairn_val v);     /* 16 bytes */
CAIRN_API void cairn_ratio_parts(cairn_val v, int64_t *num, int64_t *den);
CAIRN_API cairn_val cairn_tagged_tag_get(cairn_val v);
CAIRN_API cairn_val cairn_tagged_value_get(cairn_val v);

/** Elements of a LIST, VECTOR, SET or entries of a MAP; 0 for others. */
CAIRN_API size_t cairn_count(cairn_val coll);
/** i-th element of a LIST, VECTOR or SET (insertion order); borrowed. */
CAIRN_API cairn_val cairn_coll_get(cairn_val coll, size_t i);
/** i-th key / value of a MAP (insertion order); borrowed. */
CAIRN_API cairn_val cairn_map_key_get(cairn_val map, size_t i);
CAIRN_API cairn_val cairn_map_val_get(cairn_val map, size_t i);
/** Looks key up in a MAP; @return 1 and sets *out (borrowed) if found, else 0. */
CAIRN_API int cairn_map_get(cairn_val *out, cairn_val map, cairn_val key);
/** @return 1 if SET holds v, else 0. */
CAIRN_API int cairn_set_contains(cairn_val set, cairn_val v);

/** Clojure value equality: 1 = 1 but 1 != 1.0; (1 2) = [1 2]. */
CAIRN_API int cairn_equal(cairn_val a, cairn_val b);
/** Total order consistent with cairn_equal: <0, 0, >0 (see cairn_type). */
CAIRN_API int cairn_compare(cairn_val a, cairn_val b);
/** Hash consistent with cairn_equal. */
CAIRN_API uint64_t cairn_hash(cairn_val v);

/* ------------------------------------------------------------------------ */
/* EDN and JSON                                                             */
/* ------------------------------------------------------------------------ */

/**
 * Limits on untrusted input. Exceeding one fails with CAIRN_ELIMIT and a
 * message naming the limit; nothing is ever truncated silently.
 */
typedef struct cairn_read_limits {
    unsigned version;        /* CAIRN_READ_LIMITS_VERSION */
    unsigned max_depth;      /* nesting of collections and tags (<= CAIRN_MAX_DEPTH) */
    size_t max_string_len;   /* bytes in one string, symbol or keyword */
    size_t max_digits;       /* digits in one number literal */
    size_t max_elements;     /* values in one read, all levels together */
} cairn_read_limits;

#define CAIRN_READ_LIMITS_VERSION 1
#define CAIRN_READ_LIMITS_INIT { CAIRN_READ_LIMITS_VERSION, 512, (size_t)64 << 20, 10000, (size_t)1 << 26 }

/**
 * Reads exactly one EDN value from text (trailing whitespace and comments
 * allowed, anything else is an error). limits may be NULL for the defaults.
 * #inst and #uuid become INST and UUID values; other tags become TAGGED.
 * @return 0, CAIRN_EINVALID (syntax; err has line and column), CAIRN_ELIMIT or
 * CAIRN_ENOMEM.
 */
CAIRN_API int cairn_edn_read(cairn_val *out, const char *text, size_t len,
                             const cairn_read_limits *limits, cairn_error *err);

/** A reader of a sequence of EDN forms (e.g. a file of entity maps). */
typedef struct cairn_edn_reader cairn_edn_reader;

/**
 * Starts reading forms from text, which must stay valid and unchanged until
 * cairn_edn_reader_free(). limits may be NULL.
 */
CAIRN_API int cairn_edn_reader_new(cairn_edn_reader **out, const char *text, size_t len,
                                   const cairn_read_limits *limits);
/**
 * Reads the next form.
 * @return 0 with *out set; CAIRN_ENOTFOUND at the end of input; or an error as
 * in cairn_edn_read (the reader then stays at the error).
 */
CAIRN_API int cairn_edn_reader_next(cairn_edn_reader *r, cairn_val *out, cairn_error *err);
CAIRN_API void cairn_edn_reader_free(cairn_edn_reader *r);

/**
 * Prints v as Clojure's pr-str prints the same data. *out is NUL-terminated
 * and owned by the caller (cairn_free). out_len may be NULL.
 * @return 0 or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_edn_print(char **out, size_t *out_len, cairn_val v);

/**
 * Reads one JSON value with Datahike's conventions: object keys become
 * keywords; ["!kw","a/b"], ["!sym",..], ["!set",[..]], ["!uuid",".."],
 * ["!date","<ms>"] become keyword, symbol, set, uuid and instant values; any
 * other ["!tag", x] becomes a TAGGED value; plain JSON stays plain (integers
 * that do not fit int64 become BIGINT).
 */
CAIRN_API int cairn_json_read(cairn_val *out, const char *text, size_t len,
                              const cairn_read_limits *limits, cairn_error *err);

/**
 * Prints v as JSON with the same conventions (map keys as "ns/name" strings).
 * @return 0 or CAIRN_ENOMEM.
 */
CAIRN_API int cairn_json_print(char **out, size_t *out_len, cairn_val v);

/* ------------------------------------------------------------------------ */
/* Library lifetime                                                         */
/* ------------------------------------------------------------------------ */

/**
 * Frees process-wide state (interned keywords and symbols). Optional; call it
 * last, when no value, database or connection is alive any more.
 */
CAIRN_API void cairn_shutdown(void);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_H */
