/*
 * Entity and transaction ids: one int64 space shared by entities, attributes
 * and transactions, as in Datahike, so small databases show the same numbers
 * (entities from 1, the first transaction 536870913 = tx0 + 1), extended past
 * Datahike's 31-bit limit in blocks:
 *
 *   [1, ATTR0)              entities, first block (about 520 million)
 *   [ATTR0, TX0)            implicit attributes: system attributes (:db/ident,
 *                           :db/txInstant, ...), attributes interned under
 *                           schema-on-read, and attributes of a config :schema
 *                           map. They have no datoms; the schema node holds them.
 *   [TX0, EID2)             transactions, first block (about 3.7 billion)
 *   [EID2, TX2)             entities, second block
 *   [TX2, 2^63)             transactions, second block
 *
 * Attributes defined by transacting {:db/ident ...} are ordinary entities
 * (ids from the entity blocks), so they show in queries as in Datahike.
 */
#ifndef CAIRN_DB_IDS_H
#define CAIRN_DB_IDS_H

#include <stdint.h>

#define CAIRN_TX0   ((int64_t)1 << 29)                  /* 536870912 */
#define CAIRN_ATTR0 (CAIRN_TX0 - ((int64_t)1 << 24))    /* first implicit attribute */
#define CAIRN_EID2  ((int64_t)1 << 32)                  /* second entity block */
#define CAIRN_TX2   ((int64_t)1 << 62)                  /* second transaction block */

static inline int cairn_id_is_tx(int64_t id)
{
    return (id >= CAIRN_TX0 && id < CAIRN_EID2) || id >= CAIRN_TX2;
}

static inline int cairn_id_is_implicit_attr(int64_t id)
{
    return id >= CAIRN_ATTR0 && id < CAIRN_TX0;
}

/* An id a user may give as an explicit :db/id (an entity block). */
static inline int cairn_id_is_entity(int64_t id)
{
    return (id > 0 && id < CAIRN_ATTR0) || (id >= CAIRN_EID2 && id < CAIRN_TX2);
}

/* The entity id after id (skipping the reserved blocks); 0 when exhausted. */
static inline int64_t cairn_id_next_entity(int64_t id)
{
    if (id + 1 < CAIRN_ATTR0)
        return id + 1;
    if (id < CAIRN_EID2)
        return CAIRN_EID2;
    return id + 1 < CAIRN_TX2 ? id + 1 : 0;
}

static inline int64_t cairn_id_next_tx(int64_t tx)
{
    if (tx + 1 < CAIRN_EID2)
        return tx + 1;
    if (tx < CAIRN_TX2)
        return CAIRN_TX2;
    return tx < INT64_MAX ? tx + 1 : 0;
}

#endif
