/*
 * Pull internals shared by the files of src/pull: the compiled form of a
 * pattern (pattern.c builds it, eval.c walks it) and the datom reads that
 * pull and the entity API both need (scan.c).
 *
 * A pattern compiles into a tree of nodes, one per pattern vector. A node is
 * Datahike's PullSpec: a wildcard flag plus the attribute specs keyed by the
 * name as written (a later spec with the same name replaces an earlier one,
 * in place). Every spec has its attribute resolved against the schema at
 * compile time, so evaluation never looks an attribute up by name.
 */
#ifndef CAIRN_PULL_PULL_INT_H
#define CAIRN_PULL_PULL_INT_H

#include "base/arena.h"
#include "db/db.h"
#include "pull/pull.h"

#define PULL_DEFAULT_LIMIT 1000         /* Datahike's +default-limit+ per attribute */
#define PULL_UNLIMITED SIZE_MAX         /* :limit nil */
#define PULL_MAX_NEST CAIRN_MAX_DEPTH   /* entities nested in one result */
#define PULL_MAX_ENTITIES ((size_t)1 << 22)  /* entity maps made for one pulled entity */

typedef enum pull_spec_kind {
    PULL_SPEC_ATTR = 0,   /* a forward attribute */
    PULL_SPEC_REVERSE,    /* :ns/_attr */
    PULL_SPEC_DB_ID,      /* :db/id */
    PULL_SPEC_UNKNOWN     /* names no attribute of the schema */
} pull_spec_kind;

typedef enum pull_sub_kind {
    PULL_SUB_NONE = 0,    /* plain values ({:db/id n} for refs) */
    PULL_SUB_PATTERN,     /* {attr [...]} */
    PULL_SUB_RECURSION    /* {attr ...} or {attr n} */
} pull_sub_kind;

typedef struct pull_node pull_node;

typedef struct pull_spec {
    cairn_val name;             /* the attribute name as written (keyword or string) */
    cairn_val key;              /* key in the result: :as, else name */
    const cairn_attr *attr;     /* the forward attribute (NULL when unknown) */
    uint8_t kind;               /* pull_spec_kind */
    uint8_t sub;                /* pull_sub_kind */
    uint8_t reverse;            /* the name reads the attribute backwards */
    uint8_t has_default;        /* :default given (even nil) */
    cairn_val def;              /* the :default value */
    size_t limit;               /* most values kept; PULL_UNLIMITED */
    const pull_node *pattern;   /* PULL_SUB_PATTERN: the sub-pattern */
    int64_t rec_limit;          /* PULL_SUB_RECURSION: depth, 0 = unlimited */
    size_t want;                /* ATTR: index of its attribute in node->want_ids */
} pull_spec;

/* A forward spec by attribute id, for the wildcard's per-attribute lookup. */
typedef struct pull_by_attr {
    int64_t id;                 /* attribute id */
    const pull_spec *spec;      /* the spec */
} pull_by_attr;

struct pull_node {
    int wildcard;               /* * in the pattern */
    pull_spec *specs;           /* in evaluation order */
    size_t count;               /* specs */
    int64_t *want_ids;          /* distinct forward attribute ids, ascending */
    size_t *want_limits;        /* per id: the largest limit of its specs */
    size_t nwant;               /* ids */
    pull_by_attr *by_attr;      /* forward specs sorted by attribute id */
    size_t nby;                 /* entries */
    int has_db_id;              /* a :db/id spec is present */
    const pull_spec *unknown;   /* first spec naming no attribute, or NULL */
};

struct cairn_pull_pattern {
    cairn_schema *schema;       /* a reference: the schema specs were resolved in */
    cairn_val source;           /* the pattern value as given */
    cairn_val held;             /* vector keeping the names, keys and defaults alive */
    cairn_arena arena;          /* nodes and specs */
    const pull_node *root;      /* the top pattern */
};

/* Orders pull_by_attr entries by attribute id (qsort, bsearch). */
int pull__cmp_by_attr(const void *a, const void *b);

/* A node with the wildcard alone: how components are expanded. */
extern const pull_node pull__wildcard_node;

/* ---- datom reads (scan.c) ------------------------------------------------- */

/*
 * Called for each datom an entity scan keeps: attribute a, encoded value v.
 * Returns 0 to go on, PULL_SCAN_NEXT_ATTR to skip the rest of attribute a,
 * PULL_SCAN_STOP to end the scan, or a negative error (returned).
 */
#define PULL_SCAN_NEXT_ATTR 1
#define PULL_SCAN_STOP 2
typedef int (*pull_datom_fn)(void *payload, int64_t a, const uint8_t *v, size_t v_len);

/*
 * Scans the datoms of entity e in attribute order under db's view, keeping
 * those of the attributes in want[0..nwant) (ascending ids), or of every
 * attribute when want is NULL. On the current and since views it runs one
 * iterator over the entity and seeks past runs of unwanted datoms, so a
 * pattern of many attributes costs one descent, not one per attribute.
 * *any_out (may be NULL) is set to 1 when e has at least one datom (exact
 * when want is NULL or the first datom was read; otherwise checked apart).
 */
int pull__scan_entity(const cairn_db *db, int64_t e, const int64_t *want, size_t nwant, pull_datom_fn fn,
                      void *payload, int *any_out);

/* Calls fn(payload, e) for each entity whose attribute a (in AVET) holds
 * the ref value, in AVET order, at most limit of them. */
typedef int (*pull_ref_fn)(void *payload, int64_t e);
int pull__scan_reverse(const cairn_db *db, const cairn_attr *a, int64_t value, size_t limit, pull_ref_fn fn,
                       void *payload);

/* The forward attribute keyword a name (keyword or "ns/name" string) refers
 * to, and whether the name reads it backwards (:ns/_attr). CAIRN_EINVALID for
 * an empty name, CAIRN_ENOMEM. */
int pull__attr_ident(cairn_val name, cairn_val *ident_out, int *reverse_out);

/* Resolves an entity reference as Datahike's pull does (entid-strict): an
 * id > 0, a lookup ref or an ident; missing ones are an error. */
int pull__entid_strict(const cairn_db *db, cairn_val ref, int64_t *out, cairn_error *err);

/* Maps a value-layer failure while building a result to a clear error. */
int pull__build_error(cairn_error *err, int rc);

#endif
