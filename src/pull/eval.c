/*
 * Pull evaluation: a compiled pattern (pattern.c) applied to one entity of a
 * database value, producing Datahike's result map.
 *
 * Semantics kept from Datahike 0.8 (pull_api.cljc):
 *  - an entity's result holds the specs that found values; an empty result
 *    is nil, and nested empty results are left out of their vectors (a
 *    card-many attribute whose nested pulls are all empty gives []);
 *  - card-many attributes give vectors in index order, at most :limit
 *    (default 1000) values; refs with no sub-pattern give {:db/id n};
 *    forward component refs are pulled whole, with the wildcard; a reverse
 *    attribute gives a vector of referrers, or one map when the forward
 *    attribute is a component; :default fills a spec that found nothing;
 *  - :db/id appears when asked for and the entity has datoms; the wildcard
 *    gives :db/id and every attribute (spec options of the same attribute
 *    still apply) plus the pattern's reverse specs;
 *  - recursion ({attr ...}, {attr n}) pulls the referenced entities with
 *    the pattern that holds the spec. Cycle guard: the path from the top
 *    entity is a list of (key, entity) pushes, made by recursion steps,
 *    component expansions (which push the parent) and wildcard nodes
 *    reached through an attribute (which push themselves); an entity on the
 *    path is given as {:db/id n}. The top entity is not on its own path, so
 *    a cycle back to it shows it once more in full, as in Datahike. Depth
 *    n counts the pushes of the spec's key on the path. Sub-patterns start a
 *    fresh path.
 *
 * Deliberate differences, where Datahike 0.8 is inconsistent with itself
 * and with DataScript: a wildcard pattern with recursion ([* {:follows ...}])
 * recurses (Datahike's wildcard frame finds the entity it was just pushed
 * with and stops at {:db/id n} after one level); a wildcard's reverse specs
 * recurse with the whole pattern and keep the path (Datahike restarts both
 * with the reverse specs alone); a recursion limit with :as counts (Datahike
 * looks the limit up under the renamed key and recurses without one).
 *
 * Bounds: nesting deeper than PULL_MAX_NEST entities, or more than
 * PULL_MAX_ENTITIES entity maps for one pulled entity, fail with
 * CAIRN_ELIMIT (":pull/limit"), so deep or exploding recursion ends with an
 * error, never a stack overflow. The C recursion is one pull_entity /
 * attr_values pair per level with small frames; the datoms of each level sit
 * on a shared value stack in the context, not on the C stack, and no index
 * iterator is open while a nested entity is pulled.
 *
 * Rejected: Datahike's explicit frame machine. It avoids recursion, but
 * every step allocates frames; here the value model already bounds result
 * nesting (CAIRN_MAX_DEPTH), so bounded recursion costs nothing in reach.
 */
#include "pull/pull_int.h"

#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"
#include "edn/value.h"

#define INLINE_VALS 32    /* value stack entries before the heap */
#define INLINE_GROUPS 16  /* attribute groups before the heap */

/* One step of the path from the top entity (Datahike's :recursion). */
struct rec {
    cairn_val key;              /* result key the entity was reached through */
    int64_t eid;                /* the entity */
    const struct rec *up;       /* the rest of the path */
};

/* The values of one attribute of the entity being pulled. */
struct group {
    int64_t a;                  /* attribute id */
    size_t start;               /* first value on the value stack */
    size_t count;               /* values */
    size_t limit;               /* most values kept */
    const pull_spec *spec;      /* wildcard: the pattern's spec for a, or NULL */
};

typedef struct pull_ctx {
    const cairn_db *db;                      /* the database value */
    cairn_error *err;                        /* where errors go */
    cairn_val *vals;                         /* value stack (owned references) */
    size_t nvals, capvals;                   /* used, room */
    struct group *groups;                    /* group stack */
    size_t ngroups, capgroups;               /* used, room */
    size_t entities;                         /* entity maps made so far */
    unsigned depth;                          /* entities being pulled, nested */
    cairn_val vals_inline[INLINE_VALS];      /* first value stack */
    struct group groups_inline[INLINE_GROUPS];  /* first group stack */
} pull_ctx;

static void ctx_init(pull_ctx *c, const cairn_db *db, cairn_error *err)
{
    c->db = db;
    c->err = err;
    c->vals = c->vals_inline;
    c->nvals = 0;
    c->capvals = INLINE_VALS;
    c->groups = c->groups_inline;
    c->ngroups = 0;
    c->capgroups = INLINE_GROUPS;
    c->entities = 0;
    c->depth = 0;
}

static void pop_vals(pull_ctx *c, size_t to)
{
    while (c->nvals > to)
        cairn_release(c->vals[--c->nvals]);
}

static void ctx_dispose(pull_ctx *c)
{
    pop_vals(c, 0);
    if (c->vals != c->vals_inline)
        cairn_free(c->vals);
    if (c->groups != c->groups_inline)
        cairn_free(c->groups);
}

/* Doubles a stack that starts inline; 0 or CAIRN_ENOMEM. */
static int grow(void **items, size_t *cap, size_t size, void *inline_items)
{
    size_t ncap = *cap * 2;
    void *p;
    if (*items == inline_items) {
        if ((p = cairn_malloc(cairn_mul_size(ncap, size))) != NULL)
            memcpy(p, *items, *cap * size);
    } else {
        p = cairn_realloc(*items, cairn_mul_size(ncap, size));
    }
    if (!p)
        return CAIRN_ENOMEM;
    *items = p;
    *cap = ncap;
    return 0;
}

/* Pushes v (taken) on the value stack. */
static int push_val(pull_ctx *c, cairn_val v)
{
    if (c->nvals == c->capvals &&
        grow((void **)&c->vals, &c->capvals, sizeof *c->vals, c->vals_inline) < 0) {
        cairn_release(v);
        return CAIRN_ENOMEM;
    }
    c->vals[c->nvals++] = v;
    return 0;
}

static int push_group(pull_ctx *c, int64_t a, size_t limit, const pull_spec *spec)
{
    struct group *g;
    if (c->ngroups == c->capgroups &&
        grow((void **)&c->groups, &c->capgroups, sizeof *c->groups, c->groups_inline) < 0)
        return CAIRN_ENOMEM;
    g = &c->groups[c->ngroups++];
    g->a = a;
    g->start = c->nvals;
    g->count = 0;
    g->limit = limit;
    g->spec = spec;
    return 0;
}

/* Decodes an index value and pushes it. */
static int push_encoded(pull_ctx *c, const uint8_t *v, size_t v_len)
{
    cairn_val val;
    int rc = cairn_key_get_value(&val, v, v_len);
    return rc < 0 ? rc : push_val(c, val);
}

/* ---- the path ------------------------------------------------------------------- */

static int rec_seen(const struct rec *r, int64_t eid)
{
    for (; r; r = r->up)
        if (r->eid == eid)
            return 1;
    return 0;
}

static int64_t rec_depth(const struct rec *r, cairn_val key)
{
    int64_t n = 0;
    for (; r; r = r->up)
        if (cairn_equal(r->key, key))
            n++;
    return n;
}

/* ---- results ------------------------------------------------------------------------ */

/* Associates key -> v (taken) in *map, making the map on first use. */
static int put(pull_ctx *c, cairn_val *map, cairn_val key, cairn_val v, size_t room)
{
    int rc = 0;
    if (cairn_type_of(*map) == CAIRN_NIL)
        rc = cairn_map_new(map, room);
    if (rc == 0)
        rc = cairn_map_assoc(map, key, v);
    cairn_release(v);
    return rc < 0 ? pull__build_error(c->err, rc) : 0;
}

/* {:db/id eid} */
static int id_map(pull_ctx *c, int64_t eid, cairn_val *out)
{
    *out = cairn_nil();
    return put(c, out, KW(db_id), cairn_int(eid), 1);
}

/* An entity id held on the value stack (refs decode as INT); 0 if none. */
static int64_t stacked_eid(const pull_ctx *c, size_t i)
{
    cairn_val v = c->vals[i];
    return cairn_type_of(v) == CAIRN_INT && cairn_int_value(v) > 0 ? cairn_int_value(v) : 0;
}

static int pull_entity(pull_ctx *c, const pull_node *n, int64_t eid, const struct rec *rec, cairn_val frame_key,
                       int check_seen, cairn_val *out);

/* Collects one nested result: pushed on a vector (multi), or kept (single). */
static int collect(pull_ctx *c, cairn_val *result, int multi, cairn_val r, int *full)
{
    int rc;
    if (cairn_type_of(r) == CAIRN_NIL)
        return 0;
    if (!multi) {
        *result = r;
        *full = 1;
        return 0;
    }
    rc = cairn_coll_push_take(result, r);
    return rc < 0 ? pull__build_error(c->err, rc) : 0;
}

/* The entities of values [start, start+count) pulled with node n. */
static int nested(pull_ctx *c, const pull_node *n, size_t start, size_t count, int multi, const struct rec *rec,
                  cairn_val frame_key, cairn_val *result)
{
    int full = 0, rc = 0;
    for (size_t i = 0; i < count && !full && rc == 0; i++) {
        int64_t v = stacked_eid(c, start + i);
        cairn_val r;
        if (v && (rc = pull_entity(c, n, v, rec, frame_key, 1, &r)) == 0)
            rc = collect(c, result, multi, r, &full);
    }
    return rc;
}

/* {attr ...} / {attr n}: the entities pulled again with self. */
static int recurse(pull_ctx *c, const pull_node *self, const pull_spec *sp, cairn_val key, size_t start,
                   size_t count, int multi, const struct rec *rec, cairn_val *result, int *skip)
{
    int full = 0, rc = 0;
    if (sp->rec_limit && rec_depth(rec, key) >= sp->rec_limit) {
        *skip = 1;
        return 0;
    }
    for (size_t i = 0; i < count && !full && rc == 0; i++) {
        int64_t v = stacked_eid(c, start + i);
        struct rec step = { key, v, rec };
        cairn_val r;
        if (!v)
            continue;
        if (rec_seen(rec, v))
            rc = id_map(c, v, &r);
        else
            rc = pull_entity(c, self, v, &step, cairn_nil(), 0, &r);
        if (rc == 0)
            rc = collect(c, result, multi, r, &full);
    }
    return rc;
}

/* Plain values: {:db/id n} for refs, else the values themselves (moved off
 * the stack). */
static int plain(pull_ctx *c, int ref, size_t start, size_t count, int multi, cairn_val *result)
{
    int full = 0, rc = 0;
    for (size_t i = 0; i < count && !full && rc == 0; i++) {
        cairn_val r;
        if (ref) {
            rc = id_map(c, cairn_int_value(c->vals[start + i]), &r);
        } else {
            r = c->vals[start + i];
            c->vals[start + i] = cairn_nil();
        }
        if (rc == 0)
            rc = collect(c, result, multi, r, &full);
    }
    return rc;
}

/*
 * Puts what one spec found for entity eid into *map: the values [start,
 * start+count) of the value stack (refs as ids; forward = values of eid,
 * else referrers of eid). sp may be NULL (a wildcard attribute no spec
 * names); self is the node holding sp.
 */
static int attr_values(pull_ctx *c, const pull_node *self, const pull_spec *sp, const cairn_attr *attr, cairn_val key,
                       int64_t eid, int forward, size_t start, size_t count, const struct rec *rec, cairn_val *map)
{
    int ref = attr->type == CAIRN_VT_REF, component = ref && attr->component;
    int multi = forward ? attr->many : !component, skip = 0, rc;
    cairn_val result = cairn_nil();
    size_t room = self->count + 2;
    if (!count)
        return sp && sp->has_default ? put(c, map, key, cairn_retain(sp->def), room) : 0;
    if (multi && (rc = cairn_vector_new(&result, count)) < 0)
        return cairn_error_oom(c->err);
    if (sp && sp->sub == PULL_SUB_PATTERN) {
        rc = nested(c, sp->pattern, start, count, multi, NULL, key, &result);
    } else if (sp && sp->sub == PULL_SUB_RECURSION) {
        rc = recurse(c, self, sp, key, start, count, multi, rec, &result, &skip);
    } else if (component && forward) {
        struct rec step = { key, eid, rec };
        rc = nested(c, &pull__wildcard_node, start, count, multi, &step, key, &result);
    } else {
        rc = plain(c, ref, start, count, multi, &result);
    }
    if (rc < 0 || skip || cairn_type_of(result) == CAIRN_NIL) {
        cairn_release(result);
        return rc;
    }
    return put(c, map, key, result, room);
}

static int rev_cb(void *payload, int64_t e)
{
    return push_val(payload, cairn_int(e));
}

/* A reverse spec: the referrers of eid through sp's attribute. */
static int reverse_values(pull_ctx *c, const pull_node *self, const pull_spec *sp, int64_t eid, const struct rec *rec,
                          cairn_val *map)
{
    size_t base = c->nvals;
    int rc = pull__scan_reverse(c->db, sp->attr, eid, sp->limit, rev_cb, c);
    if (rc < 0)
        rc = cairn_error_code(c->err, rc);
    else
        rc = attr_values(c, self, sp, sp->attr, sp->key, eid, 0, base, c->nvals - base, rec, map);
    pop_vals(c, base);
    return rc;
}

static int unknown_attr(pull_ctx *c, const pull_spec *sp)
{
    char *text = NULL;
    int rc = cairn_edn_print(&text, NULL, sp->name);
    cairn_error_set(c->err, CAIRN_EINVALID, ":transact/schema",
                    "Bad entity attribute %.200s at pull, not defined in current schema",
                    rc == 0 ? text : "(unprintable)");
    cairn_free(text);
    return CAIRN_EINVALID;
}

/* Pops what one entity pushed; hands out its map, or drops it on failure. */
static int finish_entity(pull_ctx *c, size_t vbase, size_t gbase, int rc, cairn_val map, cairn_val *out)
{
    pop_vals(c, vbase);
    c->ngroups = gbase;
    if (rc < 0) {
        cairn_release(map);
        return rc;
    }
    *out = map;
    return 0;
}

/* ---- one entity, explicit specs -------------------------------------------------- */

struct fwd_scan {
    pull_ctx *c;                /* the context */
    const pull_node *n;         /* the node */
    size_t gbase;               /* its first group */
    size_t j;                   /* want index of the current attribute */
};

static int fwd_cb(void *payload, int64_t a, const uint8_t *v, size_t v_len)
{
    struct fwd_scan *s = payload;
    struct group *g;
    int rc;
    while (s->n->want_ids[s->j] < a)
        s->j++;
    g = &s->c->groups[s->gbase + s->j];
    if (g->count >= g->limit)
        return PULL_SCAN_NEXT_ATTR;
    if (!g->count)
        g->start = s->c->nvals;
    if ((rc = push_encoded(s->c, v, v_len)) < 0)
        return rc;
    return ++g->count >= g->limit ? PULL_SCAN_NEXT_ATTR : 0;
}

static int pull_specs(pull_ctx *c, const pull_node *n, int64_t eid, const struct rec *rec, cairn_val *out)
{
    size_t vbase = c->nvals, gbase = c->ngroups, room = n->count;
    struct fwd_scan s = { c, n, gbase, 0 };
    cairn_val map = cairn_nil();
    int any = 0, rc = 0;
    if (n->unknown)
        return unknown_attr(c, n->unknown);
    for (size_t j = 0; j < n->nwant && rc == 0; j++)
        rc = push_group(c, n->want_ids[j], n->want_limits[j], NULL);
    if (rc < 0) {
        rc = cairn_error_oom(c->err);
        goto done;
    }
    if ((rc = pull__scan_entity(c->db, eid, n->want_ids, n->nwant, fwd_cb, &s, n->has_db_id ? &any : NULL)) < 0) {
        rc = rc == CAIRN_ENOMEM ? cairn_error_oom(c->err) : cairn_error_code(c->err, rc);
        goto done;
    }
    for (size_t i = 0; i < n->count && rc == 0; i++) {
        const pull_spec *sp = &n->specs[i];
        const struct group *g;
        switch (sp->kind) {
        case PULL_SPEC_DB_ID:
            /* Datahike keys it :db/id whatever :as says */
            if (any)
                rc = put(c, &map, KW(db_id), cairn_int(eid), room);
            break;
        case PULL_SPEC_ATTR:
            g = &c->groups[gbase + sp->want];
            rc = attr_values(c, n, sp, sp->attr, sp->key, eid, 1, g->start, CAIRN_MIN(g->count, sp->limit), rec, &map);
            break;
        case PULL_SPEC_REVERSE:
            rc = reverse_values(c, n, sp, eid, rec, &map);
            break;
        default:  /* unknown under schema-on-read: nothing, or the default */
            if (sp->has_default)
                rc = put(c, &map, sp->key, cairn_retain(sp->def), room);
            break;
        }
    }
done:
    return finish_entity(c, vbase, gbase, rc, map, out);
}

/* ---- one entity, wildcard ------------------------------------------------------------- */

struct wild_scan {
    pull_ctx *c;                /* the context */
    const pull_node *n;         /* the node */
    size_t gbase;               /* its first group */
};

static int wild_cb(void *payload, int64_t a, const uint8_t *v, size_t v_len)
{
    struct wild_scan *s = payload;
    pull_ctx *c = s->c;
    struct group *g;
    int rc;
    if (c->ngroups == s->gbase || c->groups[c->ngroups - 1].a != a) {
        pull_by_attr key = { a, NULL };
        const pull_by_attr *by = s->n->nby ? bsearch(&key, s->n->by_attr, s->n->nby, sizeof key, pull__cmp_by_attr)
                                          : NULL;
        const pull_spec *sp = by ? by->spec : NULL;
        if ((rc = push_group(c, a, sp ? sp->limit : PULL_DEFAULT_LIMIT, sp)) < 0)
            return rc;
    }
    g = &c->groups[c->ngroups - 1];
    if (g->count >= g->limit)
        return PULL_SCAN_NEXT_ATTR;
    if ((rc = push_encoded(c, v, v_len)) < 0)
        return rc;
    return ++g->count >= g->limit ? PULL_SCAN_NEXT_ATTR : 0;
}

static int pull_wildcard(pull_ctx *c, const pull_node *n, int64_t eid, const struct rec *rec, cairn_val frame_key,
                         int check_seen, cairn_val *out)
{
    size_t vbase = c->nvals, gbase = c->ngroups, room = n->count + 8;
    struct wild_scan s = { c, n, gbase };
    struct rec self = { frame_key, eid, rec };
    cairn_val map = cairn_nil();
    int rc;
    if (check_seen && rec_seen(rec, eid))
        return id_map(c, eid, out);
    if (n->unknown)
        return unknown_attr(c, n->unknown);
    if (cairn_type_of(frame_key) != CAIRN_NIL)
        rec = &self;
    if ((rc = put(c, &map, KW(db_id), cairn_int(eid), room)) < 0)
        return rc;
    if ((rc = pull__scan_entity(c->db, eid, NULL, 0, wild_cb, &s, NULL)) < 0) {
        rc = rc == CAIRN_ENOMEM ? cairn_error_oom(c->err) : cairn_error_code(c->err, rc);
        goto done;
    }
    for (size_t i = gbase; i < c->ngroups && rc == 0; i++) {
        struct group g = c->groups[i];
        const cairn_attr *attr = cairn_schema_by_id(c->db->schema, g.a);
        if (attr)
            rc = attr_values(c, n, g.spec, attr, g.spec ? g.spec->key : attr->ident, eid, 1, g.start, g.count, rec,
                             &map);
    }
    for (size_t i = 0; i < n->count && rc == 0; i++)
        if (n->specs[i].kind == PULL_SPEC_REVERSE)
            rc = reverse_values(c, n, &n->specs[i], eid, rec, &map);
done:
    return finish_entity(c, vbase, gbase, rc, map, out);
}

/* ---- entry points ------------------------------------------------------------------------ */

static int pull_entity(pull_ctx *c, const pull_node *n, int64_t eid, const struct rec *rec, cairn_val frame_key,
                       int check_seen, cairn_val *out)
{
    int rc;
    *out = cairn_nil();
    if (c->depth >= PULL_MAX_NEST)
        return cairn_error_set(c->err, CAIRN_ELIMIT, ":pull/limit", "pull nests deeper than %d entities",
                               PULL_MAX_NEST);
    if (++c->entities > PULL_MAX_ENTITIES)
        return cairn_error_set(c->err, CAIRN_ELIMIT, ":pull/limit", "pull result holds more than %zu entities",
                               PULL_MAX_ENTITIES);
    c->depth++;
    if (n->wildcard)
        rc = pull_wildcard(c, n, eid, rec, frame_key, check_seen, out);
    else
        rc = pull_specs(c, n, eid, rec, out);
    c->depth--;
    return rc;
}

int cairn_pull_pattern_eval(cairn_val *out, const cairn_pull_pattern *p, const cairn_db *db, int64_t eid,
                            cairn_error *err)
{
    pull_ctx c;
    int rc;
    if (p->schema != db->schema) {
        /* the attributes were resolved in another schema: resolve again */
        cairn_pull_pattern *q;
        if ((rc = cairn_pull_pattern_parse(&q, db, p->source, err)) < 0)
            return rc;
        rc = cairn_pull_pattern_eval(out, q, db, eid, err);
        cairn_pull_pattern_free(q);
        return rc;
    }
    ctx_init(&c, db, err);
    rc = pull_entity(&c, p->root, eid, NULL, cairn_nil(), 1, out);
    ctx_dispose(&c);
    return rc;
}
