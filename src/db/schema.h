/*
 * Schema: attribute definitions as Datahike has them (DESIGN.md section 1),
 * keyed both by ident and by attribute id.
 *
 * A schema value is immutable once published and shared by every database
 * value until a transaction changes it; changing it means cloning (schemas are
 * small: a few hundred attributes) and publishing the clone with the new db.
 * It is persisted as its own content-addressed node, written only when it
 * changes, and named by the commit record.
 *
 * Where definitions come from:
 *  - system attributes (:db/ident, :db/valueType, ..., :db/txInstant): fixed
 *    implicit ids CAIRN_ATTR0 + k, no datoms;
 *  - attributes transacted as entities ({:db/ident :a ...}): the entity id is
 *    the attribute id and the definition mirrors the entity's datoms;
 *  - under :schema-flexibility :read, an undeclared attribute is interned as
 *    an implicit attribute (card-one, untyped) on first use;
 *  - a DataScript-style :schema map in the config installs implicit
 *    attributes with definitions but no entities (the benchmark uses this).
 */
#ifndef CAIRN_DB_SCHEMA_H
#define CAIRN_DB_SCHEMA_H

#include <stdatomic.h>

#include "base/buf.h"
#include "base/hmap.h"
#include "db/ids.h"
#include "edn/value.h"

typedef enum cairn_vt {
    CAIRN_VT_ANY = 0,  /* untyped: schema-on-read, or no :db/valueType */
    CAIRN_VT_STRING,
    CAIRN_VT_LONG,
    CAIRN_VT_DOUBLE,
    CAIRN_VT_FLOAT,
    CAIRN_VT_BOOLEAN,
    CAIRN_VT_KEYWORD,
    CAIRN_VT_SYMBOL,
    CAIRN_VT_UUID,
    CAIRN_VT_INSTANT,
    CAIRN_VT_REF,
    CAIRN_VT_BYTES,
    CAIRN_VT_BIGINT,
    CAIRN_VT_BIGDEC,
    CAIRN_VT_TUPLE,
    CAIRN_VT_NUMBER,
    CAIRN_VT_COUNT_
} cairn_vt;

enum { CAIRN_UNIQUE_NONE = 0, CAIRN_UNIQUE_IDENTITY = 1, CAIRN_UNIQUE_VALUE = 2 };

typedef struct cairn_attr {
    int64_t id;              /* attribute id (entity id, or implicit id) */
    cairn_val ident;         /* keyword */
    cairn_vt type;           /* :db/valueType */
    uint8_t many;            /* :db.cardinality/many */
    uint8_t unique;          /* CAIRN_UNIQUE_* */
    uint8_t index;           /* :db/index true */
    uint8_t component;       /* :db/isComponent true */
    uint8_t no_history;      /* :db/noHistory true */
    uint8_t implicit;        /* no entity: system, interned or config :schema */
    uint8_t system;          /* one of the built-in :db/... attributes */
    uint8_t declared;        /* has a definition (not just interned on read) */
    cairn_val doc;           /* :db/doc string, or nil */
    cairn_val tuple_attrs;   /* :db/tupleAttrs vector of keywords, or nil */
    cairn_val tuple_type;    /* :db/tupleType keyword, or nil */
    cairn_val tuple_types;   /* :db/tupleTypes vector of keywords, or nil */
} cairn_attr;

/* System attribute ids. */
enum {
    CAIRN_SYS_IDENT = 0,
    CAIRN_SYS_VALUE_TYPE,
    CAIRN_SYS_CARDINALITY,
    CAIRN_SYS_UNIQUE,
    CAIRN_SYS_INDEX,
    CAIRN_SYS_IS_COMPONENT,
    CAIRN_SYS_NO_HISTORY,
    CAIRN_SYS_DOC,
    CAIRN_SYS_TUPLE_ATTRS,
    CAIRN_SYS_TUPLE_TYPE,
    CAIRN_SYS_TUPLE_TYPES,
    CAIRN_SYS_TX_INSTANT,
    CAIRN_SYS_COUNT_
};
#define CAIRN_SYS_ID(k) (CAIRN_ATTR0 + (k))
/* Implicit ids from here on are interned or config attributes. */
#define CAIRN_ATTR_USER0 (CAIRN_ATTR0 + 64)

typedef struct cairn_schema {
    _Atomic uint32_t refcnt;  /* references */
    int read_flex;            /* :schema-flexibility :read */
    cairn_attr **attrs;       /* all attributes, by insertion */
    size_t count;             /* attributes */
    size_t cap;               /* room in attrs */
    cairn_hmap by_ident;      /* ident -> attr */
    cairn_hmap by_id;         /* id -> attr */
    int64_t next_implicit;    /* next implicit id to hand out */
    uint64_t version;         /* bumps on every change (caches key on it) */
} cairn_schema;

/* A schema holding the system attributes only. */
int cairn_schema_new(cairn_schema **out, int read_flex);
/* A private copy to change (refcount 1). */
int cairn_schema_clone(cairn_schema **out, const cairn_schema *s);
cairn_schema *cairn_schema_retain(cairn_schema *s);
void cairn_schema_release(cairn_schema *s);

const cairn_attr *cairn_schema_by_ident(const cairn_schema *s, cairn_val ident);
const cairn_attr *cairn_schema_by_id(const cairn_schema *s, int64_t id);

/*
 * Adds or replaces an attribute definition (copied). An attribute with the
 * same id and a different ident is renamed. s must be unshared.
 */
int cairn_schema_put(cairn_schema *s, const cairn_attr *a);
/* Removes the attribute with this id (its entity lost :db/ident). */
void cairn_schema_remove(cairn_schema *s, int64_t id);
/* Interns an undeclared attribute (implicit, card-one, untyped). */
int cairn_schema_intern(cairn_schema *s, cairn_val ident, const cairn_attr **out);

/* Value type from its keyword (:db.type/string ...); -1 if unknown. */
int cairn_vt_from_kw(cairn_val kw);
/* Keyword of a value type (nil for ANY). */
cairn_val cairn_vt_kw(cairn_vt t);
/* 1 when v conforms to value type t (refs: an entity id INT). */
int cairn_vt_check(cairn_vt t, cairn_val v);

/* 1 when the attribute's datoms go into AVET. */
static inline int cairn_attr_avet(const cairn_attr *a)
{
    return a->unique || a->index || a->type == CAIRN_VT_REF;
}

/*
 * Builds an attribute definition from an attribute map (the datoms of a
 * schema entity, or an entry of a config :schema map), validating it as
 * Datahike does. err gets ":schema/validation" or ":transact/schema".
 */
int cairn_attr_from_map(cairn_attr *out, int64_t id, cairn_val ident, cairn_val map, int read_flex,
                        cairn_error *err);
void cairn_attr_dispose(cairn_attr *a);

/* The attribute as Datahike's (schema db) shows it: {:db/ident ... }. */
int cairn_attr_to_map(cairn_val *out, const cairn_attr *a);

/* Schema node: EDN text of the non-system attributes and counters. */
int cairn_schema_encode(cairn_buf *out, const cairn_schema *s);
int cairn_schema_decode(cairn_schema **out, const void *data, size_t len, int read_flex);

#endif
