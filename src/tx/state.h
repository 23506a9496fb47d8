/*
 * The in-transaction state: what the transaction has asserted and retracted
 * so far, layered over the db-before value, so that each operation sees the
 * effects of the ones before it (Datahike applies operations in order) while
 * the trees themselves are changed only once, in a sorted batch, at the end.
 *
 * It keeps, per (entity, attribute) touched, the full list of values with
 * whether each was in the db before and whether it is present now; and per
 * (attribute, value) added, the entities that gained it, for uniqueness
 * checks and lookup refs. Base values are loaded lazily on first touch.
 */
#ifndef CAIRN_TX_STATE_H
#define CAIRN_TX_STATE_H

#include "base/arena.h"
#include "base/buf.h"
#include "base/hmap.h"
#include "db/db.h"

typedef struct cairn_ea_val {
    size_t off;          /* encoded value: offset into the state's bytes */
    size_t len;          /* its length */
    int64_t base_tx;     /* tx of the datom in db-before (in_base only) */
    uint8_t in_base;     /* present in db-before */
    uint8_t present;     /* present now */
    uint8_t readded;     /* retracted then asserted again in this tx */
} cairn_ea_val;

typedef struct cairn_ea_entry {
    int64_t e;           /* entity */
    int64_t a;           /* attribute */
    cairn_ea_val *vals;  /* values, base ones first */
    size_t count;        /* values */
    size_t cap;          /* room */
} cairn_ea_entry;

typedef struct cairn_txstate {
    const cairn_db *db;  /* db-before (current view) */
    cairn_buf bytes;     /* encoded values */
    cairn_hmap ea;       /* (e, a) -> cairn_ea_entry */
    cairn_hmap av;       /* (a, v) -> entities that gained v in this tx */
    cairn_hmap ents;     /* e -> 1: entities whose datoms were all loaded */
    cairn_arena arena;   /* entries, their value lists, entity records */
} cairn_txstate;

void cairn_txstate_init(cairn_txstate *s, const cairn_db *db);
void cairn_txstate_dispose(cairn_txstate *s);

/* The entry of (e, a), loading db-before's values on first use. */
int cairn_txstate_ea(cairn_txstate *s, int64_t e, int64_t a, cairn_ea_entry **out);
/* Index of value v in entry (present or not), or -1. */
long cairn_txstate_find(const cairn_txstate *s, const cairn_ea_entry *en, const uint8_t *v, size_t len);
/* Marks v present (adding it to the entry if new). indexed: remember (a, v)
 * for cairn_txstate_entities_with (attributes in AVET only need it). */
int cairn_txstate_add(cairn_txstate *s, cairn_ea_entry *en, const uint8_t *v, size_t len, int indexed);
/* Marks value i absent. */
void cairn_txstate_remove(cairn_txstate *s, cairn_ea_entry *en, size_t i);
/* Encoded bytes of value i. */
static inline const uint8_t *cairn_txstate_vbytes(const cairn_txstate *s, const cairn_ea_entry *en, size_t i)
{
    return (const uint8_t *)s->bytes.ptr + en->vals[i].off;
}

/*
 * Entities holding (a, v) now: db-before's AVET (or AEVT when a is not in
 * AVET) adjusted by this transaction. Calls cb(e, payload) for each;
 * cb returns nonzero to stop.
 */
int cairn_txstate_entities_with(cairn_txstate *s, const cairn_attr *a, const uint8_t *v, size_t len,
                                int (*cb)(int64_t e, void *payload), void *payload);

/* Calls cb for every attribute entry of entity e (loading all its datoms). */
int cairn_txstate_entity(cairn_txstate *s, int64_t e, int (*cb)(cairn_ea_entry *en, void *payload),
                         void *payload);

/* Entities that reference e through ref attribute a (now). */
int cairn_txstate_referrers(cairn_txstate *s, int64_t e, const cairn_attr *a,
                            int (*cb)(int64_t referrer, void *payload), void *payload);

#endif
