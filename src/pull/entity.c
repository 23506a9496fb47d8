/*
 * The entity API (cairn.h): Datahike's lazy entity (impl/entity.cljc) as a
 * handle. Attribute reads give card-many values as sets, refs as entity ids
 * (open them with cairn_entity_get), reverse navigation with :ns/_attr
 * (a set of referrers, or one id when the attribute is a component); touch
 * gives every attribute as a map with :db/id, refs as {:db/id n} and
 * components touched.
 *
 * Laziness with one read: cairn_entity_get must know whether the entity has
 * datoms anyway, so it reads the entity's first ENTITY_BUDGET datoms with one
 * iterator and keeps their encoded values. An entity that fits (nearly all
 * do) then answers every attribute from that copy, decoding only what is
 * asked for; for a larger one the copy covers the attributes below the one
 * it stopped in, and any other attribute is one prefix scan. Rejected: a
 * prefix scan per attribute read, as Datahike does (a descent per read), and
 * decoding every value up front (allocations for attributes nobody reads).
 *
 * Touch guards against component cycles, which Datahike would follow
 * forever: a component already on the path from the touched entity comes out
 * as {:db/id n}. Nesting is bounded by PULL_MAX_NEST.
 *
 * An entity belongs to one thread (its cache fills on reads); the database
 * value it holds may be shared.
 */
#include "pull/pull_int.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"
#include "edn/value.h"

#define ENTITY_BUDGET 64  /* datoms cairn_entity_get copies */

struct ent_datom {
    int64_t a;                  /* attribute id */
    size_t off;                 /* encoded value in the cache's bytes */
    size_t len;                 /* its length */
};

/* Encoded datoms of one entity, in attribute order. */
struct ent_cache {
    cairn_buf bytes;            /* the encoded values */
    struct ent_datom *datoms;   /* the datoms */
    size_t count, cap;          /* used, room */
    int complete;               /* every datom of the entity is here */
    int64_t known_below;        /* else: all datoms of attributes below this id */
    size_t budget;              /* most datoms to copy */
};

struct cairn_entity {
    cairn_db *db;               /* a reference */
    int64_t eid;                /* the entity */
    struct ent_cache cache;     /* its datoms, or the first of them */
};

static void cache_dispose(struct ent_cache *c)
{
    cairn_buf_dispose(&c->bytes);
    cairn_free(c->datoms);
    memset(c, 0, sizeof *c);
}

static int cache_cb(void *payload, int64_t a, const uint8_t *v, size_t v_len)
{
    struct ent_cache *c = payload;
    if (c->count == c->budget) {
        /* stop: the attributes below a are complete, a itself may not be */
        c->known_below = a;
        while (c->count && c->datoms[c->count - 1].a == a)
            c->count--;
        return PULL_SCAN_STOP;
    }
    if (c->count == c->cap) {
        size_t cap = c->cap ? c->cap * 2 : 16;
        struct ent_datom *p = cairn_realloc(c->datoms, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        c->datoms = p;
        c->cap = cap;
    }
    c->datoms[c->count].a = a;
    c->datoms[c->count].off = c->bytes.len;
    c->datoms[c->count].len = v_len;
    c->count++;
    return cairn_buf_put(&c->bytes, v, v_len);
}

/* Copies up to budget datoms of e (SIZE_MAX: all) into c. */
static int cache_load(struct ent_cache *c, const cairn_db *db, int64_t e, size_t budget)
{
    int rc;
    cairn_buf_clear(&c->bytes);
    c->count = 0;
    c->budget = budget;
    c->known_below = INT64_MAX;
    if ((rc = pull__scan_entity(db, e, NULL, 0, cache_cb, c, NULL)) < 0)
        return rc;
    c->complete = c->known_below == INT64_MAX;
    return 0;
}

/* The first cached datom of attribute a, or count when none. */
static size_t cache_find(const struct ent_cache *c, int64_t a)
{
    size_t lo = 0, hi = c->count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (c->datoms[mid].a < a)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static int cache_value(cairn_val *out, const struct ent_cache *c, size_t i)
{
    return cairn_key_get_value(out, (const uint8_t *)c->bytes.ptr + c->datoms[i].off, c->datoms[i].len);
}

/* ---- handles -------------------------------------------------------------------- */

int cairn_entity_get(cairn_entity **out, const cairn_db *db, cairn_val eid, cairn_error *err)
{
    cairn_type t = cairn_type_of(eid);
    cairn_entity *e;
    int64_t id;
    int rc;
    *out = NULL;
    /* Datahike's entity: anything but an id, lookup ref or ident names nothing */
    if (t != CAIRN_INT && t != CAIRN_VECTOR && t != CAIRN_LIST && t != CAIRN_KEYWORD)
        return 0;
    if (t == CAIRN_INT && cairn_int_value(eid) <= 0)
        return cairn_error_set(err, CAIRN_EINVALID, ":entity-id/syntax",
                               "Expected number or lookup ref for entity id, got %lld", (long long)cairn_int_value(eid));
    if ((rc = cairn_db__entid(db, eid, &id, err)) < 0 || !id)
        return rc;
    if (!(e = cairn_malloc(sizeof *e)))
        return cairn_error_oom(err);
    memset(e, 0, sizeof *e);
    e->db = cairn_db_retain((cairn_db *)db);
    e->eid = id;
    if ((rc = cache_load(&e->cache, db, id, ENTITY_BUDGET)) < 0) {
        cairn_entity_free(e);
        return rc == CAIRN_ENOMEM ? cairn_error_oom(err) : cairn_error_code(err, rc);
    }
    if (!e->cache.count && e->cache.complete) {
        cairn_entity_free(e);
        return 0;
    }
    *out = e;
    return 0;
}

int64_t cairn_entity_id(const cairn_entity *e)
{
    return e->eid;
}

const cairn_db *cairn_entity_db(const cairn_entity *e)
{
    return e->db;
}

static int same_db(const cairn_db *a, const cairn_db *b)
{
    if (a == b)
        return 1;
    return a->has_commit && b->has_commit && cairn_addr_equal(&a->commit, &b->commit) && a->view == b->view &&
           a->view_tx == b->view_tx;
}

int cairn_entity_equal(const cairn_entity *a, const cairn_entity *b)
{
    return a->eid == b->eid && same_db(a->db, b->db);
}

void cairn_entity_free(cairn_entity *e)
{
    if (!e)
        return;
    cache_dispose(&e->cache);
    cairn_db_release(e->db);
    cairn_free(e);
}

/* ---- attribute reads ------------------------------------------------------------ */

struct collect {
    cairn_val result;           /* set (many) or the value (one) */
    int many;                   /* collect into a set */
};

static int add_value(struct collect *k, cairn_val v)
{
    int rc;
    if (!k->many) {
        if (cairn_type_of(k->result) == CAIRN_NIL)
            k->result = v;
        else
            cairn_release(v);
        return 0;
    }
    if (cairn_type_of(k->result) == CAIRN_NIL && (rc = cairn_set_new(&k->result, 4)) < 0) {
        cairn_release(v);
        return rc;
    }
    rc = cairn_coll_push_take(&k->result, v);
    return rc == CAIRN_EEXISTS ? 0 : rc;
}

static int collect_cb(void *payload, int64_t a, const uint8_t *v, size_t v_len)
{
    cairn_val val;
    int rc = cairn_key_get_value(&val, v, v_len);
    (void)a;
    return rc < 0 ? rc : add_value(payload, val);
}

static int collect_ref_cb(void *payload, int64_t e)
{
    return add_value(payload, cairn_int(e));
}

int cairn_entity_attr(cairn_val *out, cairn_entity *e, cairn_val attr, cairn_error *err)
{
    struct collect k = { cairn_nil(), 0 };
    const cairn_attr *a;
    cairn_val ident;
    int reverse, rc;
    if (cairn_type_of(attr) != CAIRN_KEYWORD && cairn_type_of(attr) != CAIRN_STRING)
        return cairn_error_set(err, CAIRN_EINVALID, ":entity/attribute", "an entity attribute must be a keyword");
    if ((rc = pull__attr_ident(attr, &ident, &reverse)) < 0)
        return rc == CAIRN_ENOMEM ? cairn_error_oom(err)
                                  : cairn_error_set(err, CAIRN_EINVALID, ":entity/attribute", "empty attribute name");
    if (!reverse && IS_KW(ident, db_id)) {
        *out = cairn_int(e->eid);
        return 0;
    }
    if (!(a = cairn_db__attr(e->db, ident))) {
        *out = cairn_nil();
        return 0;
    }
    k.many = reverse ? !(a->type == CAIRN_VT_REF && a->component) : a->many;
    if (reverse) {
        rc = pull__scan_reverse(e->db, a, e->eid, PULL_UNLIMITED, collect_ref_cb, &k);
    } else if (e->cache.complete || a->id < e->cache.known_below) {
        rc = 0;
        for (size_t i = cache_find(&e->cache, a->id); i < e->cache.count && e->cache.datoms[i].a == a->id && rc == 0;
             i++) {
            cairn_val v;
            if ((rc = cache_value(&v, &e->cache, i)) == 0)
                rc = add_value(&k, v);
        }
    } else {
        rc = pull__scan_entity(e->db, e->eid, &a->id, 1, collect_cb, &k, NULL);
    }
    if (rc < 0) {
        cairn_release(k.result);
        return rc == CAIRN_ENOMEM ? cairn_error_oom(err) : cairn_error_code(err, rc);
    }
    *out = k.result;
    return 0;
}

/* ---- touch ------------------------------------------------------------------------ */

struct path {
    int64_t eid;                /* an entity being touched */
    const struct path *up;      /* the one that holds it as a component */
};

static int on_path(const struct path *p, int64_t eid)
{
    for (; p; p = p->up)
        if (p->eid == eid)
            return 1;
    return 0;
}

static int touch_map(cairn_val *out, const cairn_db *db, int64_t eid, const struct ent_cache *c,
                     const struct path *up, unsigned depth, cairn_error *err);

/* {:db/id id} */
static int id_map(cairn_val *out, int64_t id)
{
    int rc = cairn_map_new(out, 1);
    if (rc == 0 && (rc = cairn_map_put(out, KW(db_id), cairn_int(id))) < 0)
        cairn_release(*out);
    return rc;
}

/* A component entity, touched (or {:db/id n} when on the path). */
static int touch_component(cairn_val *out, const cairn_db *db, int64_t id, const struct path *path, unsigned depth,
                           cairn_error *err)
{
    struct ent_cache child;
    int rc;
    if (on_path(path, id))
        return id_map(out, id) < 0 ? cairn_error_oom(err) : 0;
    memset(&child, 0, sizeof child);
    if ((rc = cache_load(&child, db, id, SIZE_MAX)) < 0)
        rc = rc == CAIRN_ENOMEM ? cairn_error_oom(err) : cairn_error_code(err, rc);
    else
        rc = touch_map(out, db, id, &child, path, depth + 1, err);
    cache_dispose(&child);
    return rc;
}

/* The value of cached datom i as touch shows it. */
static int touch_value(cairn_val *out, const cairn_db *db, const cairn_attr *a, const struct ent_cache *c, size_t i,
                       const struct path *path, unsigned depth, cairn_error *err)
{
    cairn_val v;
    int rc = cache_value(&v, c, i);
    if (rc < 0)
        return cairn_error_code(err, rc);
    if (a->type != CAIRN_VT_REF || cairn_type_of(v) != CAIRN_INT)
        *out = v;
    else if (a->component)
        return touch_component(out, db, cairn_int_value(v), path, depth, err);
    else if ((rc = id_map(out, cairn_int_value(v))) < 0)
        return cairn_error_oom(err);
    return 0;
}

static int touch_map(cairn_val *out, const cairn_db *db, int64_t eid, const struct ent_cache *c,
                     const struct path *up, unsigned depth, cairn_error *err)
{
    struct path path = { eid, up };
    cairn_val map;
    int rc;
    if (depth >= PULL_MAX_NEST)
        return cairn_error_set(err, CAIRN_ELIMIT, ":pull/limit", "touch nests deeper than %d entities", PULL_MAX_NEST);
    if ((rc = cairn_map_new(&map, 8)) < 0)
        return cairn_error_oom(err);
    for (size_t i = 0; i < c->count && rc == 0;) {
        const cairn_attr *a = cairn_schema_by_id(db->schema, c->datoms[i].a);
        struct collect k = { cairn_nil(), a && a->many };
        size_t j = i;
        while (j < c->count && c->datoms[j].a == c->datoms[i].a) {
            cairn_val v;
            if (a && rc == 0 && (rc = touch_value(&v, db, a, c, j, &path, depth, err)) == 0 &&
                (rc = add_value(&k, v)) < 0)
                rc = pull__build_error(err, rc);
            j++;
        }
        if (rc == 0 && a && (rc = cairn_map_put(&map, a->ident, k.result)) < 0)
            rc = pull__build_error(err, rc);
        cairn_release(k.result);
        i = j;
    }
    if (rc == 0 && (rc = cairn_map_put(&map, KW(db_id), cairn_int(eid))) < 0)
        rc = pull__build_error(err, rc);
    if (rc < 0) {
        cairn_release(map);
        return rc;
    }
    *out = map;
    return 0;
}

int cairn_entity_touch(cairn_val *out, cairn_entity *e, cairn_error *err)
{
    int rc;
    if (!e->cache.complete && (rc = cache_load(&e->cache, e->db, e->eid, SIZE_MAX)) < 0)
        return rc == CAIRN_ENOMEM ? cairn_error_oom(err) : cairn_error_code(err, rc);
    return touch_map(out, e->db, e->eid, &e->cache, NULL, 0, err);
}
