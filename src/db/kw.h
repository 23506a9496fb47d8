/*
 * Static keywords the database layers compare against constantly. Each is a
 * cairn_ident in static storage (equal to the interned keyword of the same
 * name, see edn/value.h), so code can say KW(db_ident) without interning or
 * handling an allocation failure.
 */
#ifndef CAIRN_DB_KW_H
#define CAIRN_DB_KW_H

#include "edn/value.h"

/* X(c_name, ns_len, "text") */
#define CAIRN_KW_LIST(X)                                   \
    X(db_id, 2, "db/id")                                   \
    X(db_ident, 2, "db/ident")                             \
    X(db_valueType, 2, "db/valueType")                     \
    X(db_cardinality, 2, "db/cardinality")                 \
    X(db_unique, 2, "db/unique")                           \
    X(db_index, 2, "db/index")                             \
    X(db_isComponent, 2, "db/isComponent")                 \
    X(db_noHistory, 2, "db/noHistory")                     \
    X(db_doc, 2, "db/doc")                                 \
    X(db_tupleAttrs, 2, "db/tupleAttrs")                   \
    X(db_tupleType, 2, "db/tupleType")                     \
    X(db_tupleTypes, 2, "db/tupleTypes")                   \
    X(db_txInstant, 2, "db/txInstant")                     \
    X(db_commitId, 2, "db/commitId")                       \
    X(db_install_attribute, 10, "db.install/_attribute")   \
    X(db_add, 2, "db/add")                                 \
    X(db_retract, 2, "db/retract")                         \
    X(db_retractEntity, 2, "db/retractEntity")             \
    X(db_fn_retractEntity, 5, "db.fn/retractEntity")       \
    X(db_fn_retractAttribute, 5, "db.fn/retractAttribute") \
    X(db_cas, 2, "db/cas")                                 \
    X(db_fn_cas, 5, "db.fn/cas")                           \
    X(db_current_tx, 2, "db/current-tx")                   \
    X(card_one, 14, "db.cardinality/one")                  \
    X(card_many, 14, "db.cardinality/many")                \
    X(unique_identity, 9, "db.unique/identity")            \
    X(unique_value, 9, "db.unique/value")                  \
    X(type_string, 7, "db.type/string")                    \
    X(type_long, 7, "db.type/long")                        \
    X(type_double, 7, "db.type/double")                    \
    X(type_float, 7, "db.type/float")                      \
    X(type_boolean, 7, "db.type/boolean")                  \
    X(type_keyword, 7, "db.type/keyword")                  \
    X(type_symbol, 7, "db.type/symbol")                    \
    X(type_uuid, 7, "db.type/uuid")                        \
    X(type_instant, 7, "db.type/instant")                  \
    X(type_ref, 7, "db.type/ref")                          \
    X(type_bytes, 7, "db.type/bytes")                      \
    X(type_bigint, 7, "db.type/bigint")                    \
    X(type_bigdec, 7, "db.type/bigdec")                    \
    X(type_tuple, 7, "db.type/tuple")                      \
    X(type_number, 7, "db.type/number")                    \
    X(store, 0, "store")                                   \
    X(backend, 0, "backend")                               \
    X(path, 0, "path")                                     \
    X(id, 0, "id")                                         \
    X(keep_history, 0, "keep-history?")                    \
    X(schema_flexibility, 0, "schema-flexibility")         \
    X(read, 0, "read")                                     \
    X(write, 0, "write")                                   \
    X(branch, 0, "branch")                                 \
    X(db, 0, "db")                                         \
    X(initial_tx, 0, "initial-tx")                         \
    X(schema, 0, "schema")                                 \
    X(attribute_refs, 0, "attribute-refs?")                \
    X(name, 0, "name")                                     \
    X(index, 0, "index")                                   \
    X(writer, 0, "writer")                                 \
    X(tx_data, 0, "tx-data")                               \
    X(tx_meta, 0, "tx-meta")                               \
    X(db_after, 0, "db-after")                             \
    X(db_before, 0, "db-before")                           \
    X(tempids, 0, "tempids")                               \
    X(count, 0, "count")                                   \
    X(avet_count, 0, "avet-count")                         \
    X(temporal_count, 0, "temporal-count")                 \
    X(temporal_avet_count, 0, "temporal-avet-count")       \
    X(per_attr_counts, 0, "per-attr-counts")               \
    X(per_entity_counts, 0, "per-entity-counts")

#define CAIRN_KW_DECLARE(c, ns, text) extern cairn_ident cairn_kw_##c;
CAIRN_KW_LIST(CAIRN_KW_DECLARE)
#undef CAIRN_KW_DECLARE

#define KW(c) cairn_keyword_static(&cairn_kw_##c)

/* 1 when v is the static keyword c (text compare, works for interned ones). */
#define IS_KW(v, c) \
    (cairn_type_of(v) == CAIRN_KEYWORD && cairn_ident_equal(cairn_val_ident(v), &cairn_kw_##c))

#endif
