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
/* Databases                                                                */
/* ------------------------------------------------------------------------ */

/*
 * A database is named by a Datahike config map (an EDN map value):
 *
 *   {:store {:backend :file :path "/data/db"}    ; :mem (with :id), :lmdb, :sqlite
 *    :keep-history? true                          ; default true
 *    :schema-flexibility :write                   ; or :read
 *    :branch :db                                  ; default :db
 *    :initial-tx [...]}                           ; create-database only
 *
 * A connection (cairn_conn) belongs to one thread at a time for setup and
 * release, but cairn_transact and cairn_conn_db may be called from any number
 * of threads at once. Database values (cairn_db) are immutable snapshots:
 * every function taking a const cairn_db * may run on many threads at once,
 * and a value stays readable after newer commits.
 */
typedef struct cairn_conn cairn_conn;
typedef struct cairn_db cairn_db;
typedef struct cairn_tx_report cairn_tx_report;

/**
 * Creates a database: validates the config, writes the empty database and
 * its first commit, then transacts :initial-tx if given.
 * @return 0; CAIRN_EEXISTS (":db-already-exists"); CAIRN_EINVALID (bad config,
 * bad :initial-tx); storage errors.
 */
CAIRN_API int cairn_create_database(cairn_val config, cairn_error *err);

/** Deletes the database's data from its store. Absent is not an error. */
CAIRN_API int cairn_delete_database(cairn_val config, cairn_error *err);

/** Sets *out to 1 when the database exists, else 0. */
CAIRN_API int cairn_database_exists(int *out, cairn_val config, cairn_error *err);

/**
 * Connects. Reads the branch head; takes no lock: the first transaction
 * makes this connection the store's single writer (CAIRN_EBUSY if another
 * process already is).
 * @return 0; CAIRN_ENOTFOUND (":db-does-not-exist"); CAIRN_EINVALID (bad or
 * mismatched config); storage errors.
 */
CAIRN_API int cairn_connect(cairn_conn **out, cairn_val config, cairn_error *err);

/** Closes the connection; waits for queued transactions; NULL is a no-op. */
CAIRN_API void cairn_conn_release(cairn_conn *conn);

/**
 * The current database value: re-reads the branch head, so commits made by
 * another process are seen. The caller owns the reference (cairn_db_release).
 */
CAIRN_API int cairn_conn_db(cairn_db **out, cairn_conn *conn, cairn_error *err);

CAIRN_API cairn_db *cairn_db_retain(cairn_db *db);
CAIRN_API void cairn_db_release(cairn_db *db);

/**
 * Transacts Datahike transaction data (a vector of entity maps and
 * [:db/add e a v] / [:db/retract ...] / [:db/retractEntity e] / [:db/cas ...]
 * operations). tx_meta is a map of attributes asserted on the transaction
 * entity, or nil. Blocks until the commit is durable.
 * @param out the report (owned; cairn_tx_report_free), or NULL to drop it.
 * NULL is cheaper when many threads transact at once: with no report to build
 * (and no listener), the writer applies the index changes of a whole group of
 * such transactions together instead of one transaction at a time.
 * @return 0; CAIRN_EINVALID with a Datahike keyword (":transact/syntax",
 * ":transact/schema", ":transact/upsert", ":transact/unique", ":transact/cas",
 * ...), nothing changed; CAIRN_EBUSY (another writer); CAIRN_ECONFLICT (the
 * head moved under this writer); storage errors.
 */
CAIRN_API int cairn_transact(cairn_tx_report **out, cairn_conn *conn, cairn_val tx_data, cairn_val tx_meta,
                             cairn_error *err);
/**
 * cairn_transact as transaction tx instead of the next id: for restoring an
 * export with its original ids (`cairn import`). tx must be a transaction id
 * above the max-tx of the value the writer applies it to; 0 means the next
 * id, as cairn_transact. Give the original instant as :db/txInstant in
 * tx_meta.
 * @return as cairn_transact; CAIRN_EINVALID ":transact/tx-id" for a tx that
 * is not above max-tx.
 */
CAIRN_API int cairn_transact_at(cairn_tx_report **out, cairn_conn *conn, int64_t tx, cairn_val tx_data,
                                cairn_val tx_meta, cairn_error *err);
/** cairn_transact with EDN text: a vector, or a map {:tx-data [...] :tx-meta {...}}. */
CAIRN_API int cairn_transact_edn(cairn_tx_report **out, cairn_conn *conn, const char *edn, size_t len,
                                 cairn_error *err);
/** cairn_transact with JSON text (Datahike's JSON conventions). */
CAIRN_API int cairn_transact_json(cairn_tx_report **out, cairn_conn *conn, const char *json, size_t len,
                                  cairn_error *err);

/*
 * A typed builder of transaction data, for C code that would rather not
 * format EDN. Entity references (e) are values: an id (INT), a tempid (a
 * STRING, or a negative INT), a lookup ref ([attr value] vector) or an ident
 * (KEYWORD). attr is the attribute's name without ':' ("person/name").
 * Errors (bad attr names, out of memory) are sticky: they are reported by
 * cairn_transact_builder, so a run of adds can be checked once.
 */
typedef struct cairn_tx_builder cairn_tx_builder;

CAIRN_API int cairn_tx_builder_new(cairn_tx_builder **out);
CAIRN_API void cairn_tx_builder_free(cairn_tx_builder *b);
/** [:db/add e attr v]. */
CAIRN_API int cairn_tx_add(cairn_tx_builder *b, cairn_val e, const char *attr, cairn_val v);
CAIRN_API int cairn_tx_add_int(cairn_tx_builder *b, cairn_val e, const char *attr, int64_t v);
CAIRN_API int cairn_tx_add_double(cairn_tx_builder *b, cairn_val e, const char *attr, double v);
CAIRN_API int cairn_tx_add_str(cairn_tx_builder *b, cairn_val e, const char *attr, const char *utf8);
/** [:db/retract e attr v]; v nil retracts every value of attr. */
CAIRN_API int cairn_tx_retract(cairn_tx_builder *b, cairn_val e, const char *attr, cairn_val v);
/** [:db/retractEntity e]. */
CAIRN_API int cairn_tx_retract_entity(cairn_tx_builder *b, cairn_val e);
/** A transaction metadata attribute (asserted on the transaction entity). */
CAIRN_API int cairn_tx_meta(cairn_tx_builder *b, const char *attr, cairn_val v);
/** The transaction data built so far (borrowed, a vector). */
CAIRN_API cairn_val cairn_tx_builder_data_get(const cairn_tx_builder *b);
/** Transacts what b holds (b is unchanged and may be reused). */
CAIRN_API int cairn_transact_builder(cairn_tx_report **out, cairn_conn *conn, const cairn_tx_builder *b,
                                     cairn_error *err);

/**
 * Applies a transaction to a database value without storing anything
 * (Datahike's `with`). db_after of the report is readable like any value.
 */
CAIRN_API int cairn_db_with(cairn_tx_report **out, const cairn_db *db, cairn_val tx_data, cairn_val tx_meta,
                            cairn_error *err);

/* The transaction report. Accessors return borrowed values that live as long
 * as the report. */
CAIRN_API const cairn_db *cairn_tx_report_db_before(const cairn_tx_report *r);
CAIRN_API const cairn_db *cairn_tx_report_db_after(const cairn_tx_report *r);
/** Vector of [e a v tx added] vectors, attributes as keywords. */
CAIRN_API cairn_val cairn_tx_report_tx_data_get(const cairn_tx_report *r);
/** Map tempid -> entity id, including :db/current-tx. */
CAIRN_API cairn_val cairn_tx_report_tempids_get(const cairn_tx_report *r);
/** Map of transaction metadata: :db/txInstant, :db/commitId, user meta. */
CAIRN_API cairn_val cairn_tx_report_tx_meta_get(const cairn_tx_report *r);
CAIRN_API void cairn_tx_report_free(cairn_tx_report *r);

/**
 * Listeners run on the writer thread after each committed transaction, in
 * commit order, with a borrowed report. They must not call cairn_transact on
 * the same connection (it would wait for itself).
 */
typedef void (*cairn_listen_cb)(const cairn_tx_report *report, void *payload);
CAIRN_API int cairn_listen(int *key_out, cairn_conn *conn, cairn_listen_cb cb, void *payload);
CAIRN_API int cairn_unlisten(cairn_conn *conn, int key);

/* ---- garbage collection ------------------------------------------------- */

/** What cairn_gc_storage kept and deleted. */
typedef struct cairn_gc_stats {
    int64_t commits;    /* commit records kept */
    int64_t kept;       /* nodes kept: those commit records, their schema, config and index nodes */
    int64_t deleted;    /* nodes deleted */
} cairn_gc_stats;

/** Keep every commit (cairn_gc_storage's remove_before_ms): collect only what no commit names. */
#define CAIRN_GC_KEEP_ALL INT64_MIN

/**
 * Datahike's gc-storage: deletes every node of the store that no kept commit
 * needs. From the head of every branch it walks the commits back through
 * their parents, following a commit's parents only while its last
 * transaction's :db/txInstant is at or after remove_before_ms (ms since the
 * epoch); a commit older than that is kept, its ancestors are not. Branch
 * heads are always kept, and so is every commit a kept commit's tail needs.
 * A kept commit needs its record, schema and config nodes and every node of
 * its trees. CAIRN_GC_KEEP_ALL keeps all history: only nodes that no commit
 * names (a crash between writing nodes and moving the head, say) go.
 *
 * History, as-of and since of a kept value still reach every transaction:
 * they read its history trees, not older commits. What goes is the ability
 * to open a removed commit itself (cairn_db_commit_as_db, `cairn log` past
 * it). A value of a removed commit that another process or thread holds
 * stops being readable once its nodes are gone: pick remove_before_ms so
 * that no reader still holds one (Datahike's advice too).
 *
 * It runs as the writer: it takes the store's writer lock like a first
 * transaction (CAIRN_EBUSY, ":writer/locked", when another process is the
 * writer), and this connection's commits wait until it returns. On the file
 * store it then rewrites packs whose nodes are mostly deleted. Any failure
 * stops it before the first deletion if it happens while marking; deleting
 * only ever removes nodes no kept commit needs, so an interrupted run loses
 * nothing and may simply be run again.
 * @param out what was kept and deleted, or NULL.
 */
CAIRN_API int cairn_gc_storage(cairn_conn *conn, int64_t remove_before_ms, cairn_gc_stats *out, cairn_error *err);

/* ---- temporal views ---------------------------------------------------- */

/** All datoms ever asserted or retracted (needs :keep-history? true). */
CAIRN_API int cairn_db_history(cairn_db **out, const cairn_db *db, cairn_error *err);
/**
 * The database as of a time point, inclusive: time_point is a transaction id
 * (INT) or an instant (INST, compared with :db/txInstant).
 */
CAIRN_API int cairn_db_as_of(cairn_db **out, const cairn_db *db, cairn_val time_point, cairn_error *err);
/** Only the datoms added after time_point (exclusive). */
CAIRN_API int cairn_db_since(cairn_db **out, const cairn_db *db, cairn_val time_point, cairn_error *err);

/* ---- datoms ------------------------------------------------------------- */

typedef enum cairn_index {
    CAIRN_INDEX_EAVT = 0,
    CAIRN_INDEX_AEVT = 1,
    CAIRN_INDEX_AVET = 2
} cairn_index;

/** One datom; a and v are borrowed from the iterator until its next step. */
typedef struct cairn_datom {
    int64_t e;      /* entity id */
    cairn_val a;    /* attribute ident (keyword) */
    cairn_val v;    /* value */
    int64_t tx;     /* transaction id */
    int added;      /* 1 = assertion, 0 = retraction (history views) */
} cairn_datom;

typedef struct cairn_datoms cairn_datoms;

/**
 * Datoms of index whose leading components equal components (a vector of up
 * to 4 values in the index's own order: [e a v tx] for EAVT, [a e v tx] for
 * AEVT, [a v e tx] for AVET; entity positions take ids, lookup refs or
 * idents). An empty vector or nil means the whole index.
 */
CAIRN_API int cairn_datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index, cairn_val components,
                                cairn_error *err);
/** Datoms from components to the end of the index (seek-datoms). */
CAIRN_API int cairn_seek_datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index,
                                     cairn_val components, cairn_error *err);
/** Datoms at or before components, in descending order (rseek-datoms). */
CAIRN_API int cairn_rseek_datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index,
                                      cairn_val components, cairn_error *err);
/** AVET datoms of an indexed attribute with start <= v <= end (nil = open). */
CAIRN_API int cairn_index_range_open(cairn_datoms **out, const cairn_db *db, cairn_val attr, cairn_val start,
                                     cairn_val end, cairn_error *err);
/** Next datom. @return 0, CAIRN_ENOTFOUND at the end, or an error. */
CAIRN_API int cairn_datoms_next(cairn_datoms *it, cairn_datom *out);
CAIRN_API void cairn_datoms_close(cairn_datoms *it);

/* ---- schema, metrics, commits -------------------------------------------- */

/** Map ident -> attribute map, as Datahike's (schema db). */
CAIRN_API int cairn_db_schema(cairn_val *out, const cairn_db *db, cairn_error *err);
/** Map property -> set of idents, as Datahike's (reverse-schema db). */
CAIRN_API int cairn_db_reverse_schema(cairn_val *out, const cairn_db *db, cairn_error *err);
/** {:count :avet-count :per-attr-counts :per-entity-counts ...}, as Datahike's (metrics db). */
CAIRN_API int cairn_db_metrics(cairn_val *out, const cairn_db *db, cairn_error *err);
/** The commit this value was read from, as a UUID value (nil for with-values). */
CAIRN_API cairn_val cairn_db_commit_id(const cairn_db *db);
/** Set of parent commit ids. */
CAIRN_API int cairn_db_parent_commit_ids(cairn_val *out, const cairn_db *db, cairn_error *err);
/** Largest transaction id and entity id in this value. */
CAIRN_API int64_t cairn_db_max_tx(const cairn_db *db);
CAIRN_API int64_t cairn_db_max_eid(const cairn_db *db);
/** :db/txInstant of the value's max-tx, in ms since the epoch (0 before the first transaction). */
CAIRN_API int64_t cairn_db_max_tx_instant(const cairn_db *db);
/**
 * Datoms in the value's EAVT index: exact for a current value; for a view,
 * the current and history datoms together (an upper bound for as-of and
 * since). O(1), from the tree's counts: for progress bars and estimates.
 */
CAIRN_API uint64_t cairn_db_datom_count(const cairn_db *db);
/**
 * The settings the value was stored with, as a config map:
 * {:store {...} :keep-history? bool :schema-flexibility :write|:read :branch kw}.
 */
CAIRN_API int cairn_db_config(cairn_val *out, const cairn_db *db, cairn_error *err);
/**
 * The value of another commit of the same store (Datahike's commit-as-db):
 * commit_id is a UUID from cairn_db_commit_id or cairn_db_parent_commit_ids.
 * Walking parents from the current value lists a branch's commits (`cairn log`).
 * @return 0; CAIRN_EINVALID (not a UUID); CAIRN_ENOTFOUND
 * (":commit-does-not-exist"); CAIRN_ECORRUPT; storage errors.
 */
CAIRN_API int cairn_db_commit_as_db(cairn_db **out, const cairn_db *db, cairn_val commit_id, cairn_error *err);
/**
 * Verifies the database (`cairn check`): every commit record, schema node and
 * index node reachable from the value's commit and its ancestors is read and
 * must hash to its address and decode; the value's six trees must keep every
 * B+tree invariant (order, fill, counts, addresses); and the indices must
 * agree (each attribute has as many datoms in AEVT as in EAVT, and in AVET
 * exactly when it is indexed; every datom's attribute is in the schema and
 * its ids are within max-eid / max-tx). Reads everything: O(size of store).
 * @param out on success, a map {:commits :nodes :datoms :history-datoms
 * :attributes} of what was verified (owned).
 * @return 0; CAIRN_ECORRUPT with a message saying what and where
 * (":check/corrupt", ":index/check", ":store/corrupt"); read errors.
 */
CAIRN_API int cairn_db_check(cairn_val *out, const cairn_db *db, cairn_error *err);

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

/** An input of a query, in :in order: a database value or any other value. */
typedef struct cairn_input {
    const cairn_db *db;   /* a database (for $, $name), or NULL */
    cairn_val val;        /* otherwise the value (borrowed) */
} cairn_input;

static inline cairn_input cairn_input_db(const cairn_db *db)
{
    cairn_input in;
    in.db = db;
    in.val = cairn_nil();
    return in;
}

static inline cairn_input cairn_input_val(cairn_val v)
{
    cairn_input in;
    in.db = NULL;
    in.val = v;
    return in;
}

/**
 * Options of a query (may be NULL for the defaults). Version 1 ends after
 * limit; a version 1 struct is still accepted.
 */
typedef struct cairn_query_opts {
    unsigned version;      /* CAIRN_QUERY_OPTS_VERSION */
    int64_t timeout_ms;    /* stop with CAIRN_ECANCELED (":query/canceled") after this; 0 = none */
    size_t offset;         /* skip this many results (map-form :offset) */
    size_t limit;          /* at most this many results; 0 = all */
    /* Version 2: polled while the query runs (every few thousand steps, on
     * the calling thread); when it returns nonzero the query stops with
     * CAIRN_ECANCELED (":query/canceled"). NULL = none. It may read a flag
     * set by a signal handler or another thread (which must then use an
     * atomic). */
    int (*interrupt)(void *ctx);
    void *interrupt_ctx;   /* passed to interrupt */
} cairn_query_opts;

#define CAIRN_QUERY_OPTS_VERSION 2
#define CAIRN_QUERY_OPTS_INIT { CAIRN_QUERY_OPTS_VERSION, 0, 0, 0, NULL, NULL }

/**
 * Runs a Datalog query (Datahike's dialect): query is a vector
 * [:find ... :in ... :where ...], a map {:find ... :where ...}, or a map-form
 * call {:query q :args [...] :offset n :limit n} (then inputs may be empty).
 * Results are shaped as Datahike's: a set of tuples for relations; a scalar,
 * a vector or a tuple for `.`, `...` and `[?a ?b]` finds; maps for
 * :keys/:strs/:syms; a vector when :with or aggregates need duplicates.
 * @return 0; CAIRN_EINVALID with ":query/where", ":query/binding",
 * ":parser/..." ...; CAIRN_ECANCELED on timeout; CAIRN_ENOMEM.
 */
CAIRN_API int cairn_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs,
                      const cairn_query_opts *opts, cairn_error *err);
/** cairn_q with the query as EDN text. */
CAIRN_API int cairn_q_edn(cairn_val *out, const char *query, size_t len, const cairn_input *inputs, size_t ninputs,
                          const cairn_query_opts *opts, cairn_error *err);
/** The plan cairn_q would run, as human-readable text (owned; cairn_free). */
CAIRN_API int cairn_explain(char **out, cairn_val query, const cairn_input *inputs, size_t ninputs, cairn_error *err);

/* ------------------------------------------------------------------------ */
/* Pull and entities                                                        */
/* ------------------------------------------------------------------------ */

/**
 * Pulls pattern (a pull pattern vector, Datahike's grammar) for the entity
 * eid (an id, lookup ref or ident). *out is a map, or nil when the entity has
 * no matching datoms.
 */
CAIRN_API int cairn_pull(cairn_val *out, const cairn_db *db, cairn_val pattern, cairn_val eid, cairn_error *err);
/** Pulls each of eids (a vector); entities with no match are left out. */
CAIRN_API int cairn_pull_many(cairn_val *out, const cairn_db *db, cairn_val pattern, cairn_val eids,
                              cairn_error *err);

/** A lazy entity: attributes are read when asked for. */
typedef struct cairn_entity cairn_entity;

/**
 * The entity eid (an id, lookup ref or ident) of db; *out = NULL when it has
 * no datoms. The entity holds a reference to db.
 */
CAIRN_API int cairn_entity_get(cairn_entity **out, const cairn_db *db, cairn_val eid, cairn_error *err);
CAIRN_API int64_t cairn_entity_id(const cairn_entity *e);
CAIRN_API const cairn_db *cairn_entity_db(const cairn_entity *e);
/**
 * The value of attribute attr (a keyword; :ns/_attr navigates backwards):
 * card-many values as a set, refs as entity ids (INT; open them with
 * cairn_entity_get), nil when absent.
 */
CAIRN_API int cairn_entity_attr(cairn_val *out, cairn_entity *e, cairn_val attr, cairn_error *err);
/** All attributes as a map with :db/id; refs as {:db/id n}, components touched. */
CAIRN_API int cairn_entity_touch(cairn_val *out, cairn_entity *e, cairn_error *err);
/** Same entity id in the same database value. */
CAIRN_API int cairn_entity_equal(const cairn_entity *a, const cairn_entity *b);
CAIRN_API void cairn_entity_free(cairn_entity *e);

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
