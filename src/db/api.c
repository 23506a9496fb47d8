/*
 * The public read API of database values: temporal views, datoms iterators,
 * schema, reverse schema, metrics and commit ids (declared in cairn.h).
 */
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/commit.h"
#include "db/db.h"
#include "db/kw.h"

/* ---- temporal views ------------------------------------------------------ */

static int history_required(const cairn_db *db, const char *what, cairn_error *err)
{
    if (!db->ctx->keep_history)
        return cairn_error_set(err, CAIRN_EINVALID, ":temporal/history-off",
                               "%s is only allowed on temporal indexed databases (:keep-history? true)", what);
    if (db->view != CAIRN_VIEW_CURRENT && db->view != CAIRN_VIEW_HISTORY)
        return cairn_error_set(err, CAIRN_EINVALID, ":temporal/nested", "%s of an as-of or since view is not supported",
                               what);
    return 0;
}

int cairn_db_history(cairn_db **out, const cairn_db *db, cairn_error *err)
{
    int rc = history_required(db, "history", err);
    if (rc < 0)
        return rc;
    return cairn_error_code(err, cairn_db__with_view(out, db, CAIRN_VIEW_HISTORY, 0));
}

struct instant_find {
    int64_t ms;      /* the time point */
    int64_t tx;      /* last tx with instant <= ms */
};

static int instant_cb(const cairn_raw_datom *d, void *payload)
{
    struct instant_find *f = payload;
    cairn_val v;
    if (cairn_db__value(&v, d) == 0 && cairn_type_of(v) == CAIRN_INST && cairn_inst_value(v) <= f->ms &&
        d->e > f->tx)
        f->tx = d->e;
    return 0;
}

/* The transaction id a time point names: a tx id, or the last transaction
 * whose :db/txInstant is at or before an instant. */
static int time_point_tx(const cairn_db *db, cairn_val t, int64_t *out, cairn_error *err)
{
    if (cairn_type_of(t) == CAIRN_INT) {
        if (cairn_int_value(t) < CAIRN_TX0)
            return cairn_error_set(err, CAIRN_EINVALID, ":temporal/time-point",
                                   "a transaction id time point must be >= %lld", (long long)CAIRN_TX0);
        *out = cairn_int_value(t);
        return 0;
    }
    if (cairn_type_of(t) == CAIRN_INST) {
        uint8_t prefix[CAIRN_KEY_U_MAX];
        size_t n = cairn_key_u(prefix, (uint64_t)CAIRN_SYS_ID(CAIRN_SYS_TX_INSTANT));
        struct instant_find f = { cairn_inst_value(t), CAIRN_TX0 };
        cairn_db *cur;
        int rc = cairn_db__with_view(&cur, db, CAIRN_VIEW_CURRENT, 0);
        if (rc < 0)
            return cairn_error_code(err, rc);
        rc = cairn_db__scan_prefix(cur, CAIRN_IX_AEVT, prefix, n, instant_cb, &f);
        cairn_db_release(cur);
        if (rc < 0)
            return cairn_error_code(err, rc);
        *out = f.tx;
        return 0;
    }
    return cairn_error_set(err, CAIRN_EINVALID, ":temporal/time-point",
                           "a time point must be a transaction id or an instant");
}

int cairn_db_as_of(cairn_db **out, const cairn_db *db, cairn_val time_point, cairn_error *err)
{
    int64_t tx;
    int rc = history_required(db, "as-of", err);
    if (rc == 0)
        rc = time_point_tx(db, time_point, &tx, err);
    if (rc < 0)
        return rc;
    return cairn_error_code(err, cairn_db__with_view(out, db, CAIRN_VIEW_AS_OF, tx));
}

int cairn_db_since(cairn_db **out, const cairn_db *db, cairn_val time_point, cairn_error *err)
{
    int64_t tx;
    int rc = history_required(db, "since", err);
    if (rc == 0)
        rc = time_point_tx(db, time_point, &tx, err);
    if (rc < 0)
        return rc;
    return cairn_error_code(err, cairn_db__with_view(out, db, CAIRN_VIEW_SINCE, tx));
}

int64_t cairn_db_max_tx(const cairn_db *db)
{
    return db->max_tx;
}

int64_t cairn_db_max_eid(const cairn_db *db)
{
    return db->max_eid;
}

int cairn_db_parent_commit_ids(cairn_val *out, const cairn_db *db, cairn_error *err)
{
    cairn_val s;
    int rc = cairn_set_new(&s, db->parent_count);
    for (size_t i = 0; rc == 0 && i < db->parent_count; i++) {
        cairn_val u;
        if ((rc = cairn_uuid(&u, db->parents[i].bytes)) == 0)
            rc = cairn_coll_push_take(&s, u);
    }
    if (rc < 0) {
        if (cairn_type_of(s) == CAIRN_SET)
            cairn_release(s);
        return cairn_error_code(err, rc);
    }
    *out = s;
    return 0;
}

/* ---- datoms ---------------------------------------------------------------------- */

struct cairn_datoms {
    cairn_db *db;          /* reference held */
    cairn_cursor *cur;     /* the scan, NULL when empty */
    cairn_val v;           /* value of the last datom handed out */
};

/* Appends u(entity) for an entity position; *none when it names nothing. */
static int put_entity(cairn_buf *b, const cairn_db *db, cairn_val ref, int *none, cairn_error *err)
{
    int64_t id;
    int rc = cairn_db__entid(db, ref, &id, err);
    if (rc < 0)
        return rc;
    if (!id) {
        *none = 1;
        return 0;
    }
    return cairn_key_put_u(b, (uint64_t)id);
}

/* Appends the encoding of v as a value of attribute a. */
static int put_value(cairn_buf *b, const cairn_db *db, const cairn_attr *a, cairn_val v, int *none, cairn_error *err)
{
    if (a && a->type == CAIRN_VT_REF && cairn_type_of(v) != CAIRN_INT) {
        int64_t id;
        int rc = cairn_db__entid(db, v, &id, err);
        if (rc < 0)
            return rc;
        if (!id) {
            *none = 1;
            return 0;
        }
        v = cairn_int(id);
    }
    if (cairn_type_of(v) == CAIRN_NIL) {
        *none = 1;
        return 0;
    }
    return cairn_key_put_value(b, v);
}

/*
 * The key prefix of components in index's order. *none is set when a
 * component names nothing (an unknown attribute or entity): no datoms.
 */
static int components_prefix(cairn_buf *b, const cairn_db *db, cairn_index_kind index, cairn_val comps, int *none,
                             cairn_error *err)
{
    size_t n = cairn_count(comps);
    const cairn_attr *a = NULL;
    int rc = 0;
    *none = 0;
    if (cairn_type_of(comps) != CAIRN_NIL && !cairn_val_is_seq(comps))
        return cairn_error_set(err, CAIRN_EINVALID, ":datoms/components", "datom components must be a vector");
    if (n > 4)
        return cairn_error_set(err, CAIRN_EINVALID, ":datoms/components", "at most 4 datom components");
    for (size_t i = 0; i < n && rc == 0 && !*none; i++) {
        cairn_val c = cairn_coll_get(comps, i);
        int role;  /* 0 e, 1 a, 2 v, 3 tx */
        static const int roles[3][4] = { { 0, 1, 2, 3 }, { 1, 0, 2, 3 }, { 1, 2, 0, 3 } };
        role = roles[index][i];
        if (cairn_type_of(c) == CAIRN_NIL) {
            /* nil ends the prefix (Datahike treats it as a wildcard) */
            break;
        }
        switch (role) {
        case 0:
            rc = put_entity(b, db, c, none, err);
            break;
        case 1:
            if (!(a = cairn_db__attr(db, c))) {
                *none = 1;
                break;
            }
            rc = cairn_key_put_u(b, (uint64_t)a->id);
            break;
        case 2:
            rc = put_value(b, db, a, c, none, err);
            break;
        default:
            if (cairn_type_of(c) != CAIRN_INT)
                return cairn_error_set(err, CAIRN_EINVALID, ":datoms/components", "tx component must be an id");
            rc = cairn_key_put_u(b, (uint64_t)cairn_int_value(c));
            break;
        }
    }
    return rc;
}

static int datoms_new(cairn_datoms **out, const cairn_db *db, cairn_index_kind index, const cairn_btree_range *r,
                      int reverse, int empty)
{
    cairn_datoms *it = cairn_malloc(sizeof *it);
    int rc = 0;
    if (!it)
        return CAIRN_ENOMEM;
    it->db = cairn_db_retain((cairn_db *)db);
    it->cur = NULL;
    it->v = cairn_nil();
    if (!empty) {
        cairn_cursor_opts o;
        o.index = index;
        o.range = *r;
        o.reverse = reverse;
        rc = cairn_cursor_open(&it->cur, db, &o);
    }
    if (rc < 0) {
        cairn_datoms_close(it);
        return rc;
    }
    *out = it;
    return 0;
}

static int datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index, cairn_val comps, int mode,
                       cairn_error *err)
{
    cairn_buf prefix = CAIRN_BUF_INIT;
    cairn_btree_range r = CAIRN_BTREE_RANGE_ALL;
    int none = 0, rc;
    if ((int)index < 0 || index > CAIRN_INDEX_AVET)
        return cairn_error_set(err, CAIRN_EINVALID, ":datoms/index", "unknown index");
    rc = components_prefix(&prefix, db, (cairn_index_kind)index, comps, &none, err);
    if (rc == 0 && prefix.oom)
        rc = CAIRN_ENOMEM;
    if (rc == 0 && prefix.len) {
        if (mode == 0) {
            r = cairn_btree_range_prefix(prefix.ptr, prefix.len);
        } else if (mode == 1) {
            r.lo.key = prefix.ptr;
            r.lo.len = prefix.len;
            r.lo.kind = CAIRN_BOUND_INCL;
        } else {
            r.hi.key = prefix.ptr;
            r.hi.len = prefix.len;
            r.hi.kind = CAIRN_BOUND_PREFIX;
        }
    }
    if (rc == 0)
        rc = datoms_new(out, db, (cairn_index_kind)index, &r, mode == 2, none && mode == 0);
    cairn_buf_dispose(&prefix);
    return cairn_error_code(err, rc);
}

int cairn_datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index, cairn_val components,
                      cairn_error *err)
{
    return datoms_open(out, db, index, components, 0, err);
}

int cairn_seek_datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index, cairn_val components,
                           cairn_error *err)
{
    return datoms_open(out, db, index, components, 1, err);
}

int cairn_rseek_datoms_open(cairn_datoms **out, const cairn_db *db, cairn_index index, cairn_val components,
                            cairn_error *err)
{
    return datoms_open(out, db, index, components, 2, err);
}

int cairn_index_range_open(cairn_datoms **out, const cairn_db *db, cairn_val attr, cairn_val start, cairn_val end,
                           cairn_error *err)
{
    const cairn_attr *a = cairn_db__attr(db, attr);
    cairn_buf lo = CAIRN_BUF_INIT, hi = CAIRN_BUF_INIT;
    cairn_btree_range r;
    int none = 0, rc;
    if (!a)
        return cairn_error_set(err, CAIRN_EINVALID, ":index-range/attribute", "attribute %s is not defined",
                               cairn_type_of(attr) == CAIRN_KEYWORD ? cairn_ident_get(attr, NULL) : "?");
    if (!cairn_attr_avet(a))
        return cairn_error_set(err, CAIRN_EINVALID, ":index-range/attribute",
                               "Attribute %s should be marked as :db/index true", cairn_ident_get(a->ident, NULL));
    rc = cairn_key_put_u(&lo, (uint64_t)a->id);
    if (rc == 0)
        rc = cairn_key_put_u(&hi, (uint64_t)a->id);
    if (rc == 0 && cairn_type_of(start) != CAIRN_NIL)
        rc = put_value(&lo, db, a, start, &none, err);
    if (rc == 0 && cairn_type_of(end) != CAIRN_NIL)
        rc = put_value(&hi, db, a, end, &none, err);
    if (rc == 0 && (lo.oom || hi.oom))
        rc = CAIRN_ENOMEM;
    if (rc == 0) {
        r.lo.key = lo.ptr;
        r.lo.len = lo.len;
        r.lo.kind = CAIRN_BOUND_INCL;
        r.hi.key = hi.ptr;
        r.hi.len = hi.len;
        r.hi.kind = CAIRN_BOUND_PREFIX;
        rc = datoms_new(out, db, CAIRN_IX_AVET, &r, 0, none);
    }
    cairn_buf_dispose(&lo);
    cairn_buf_dispose(&hi);
    return cairn_error_code(err, rc);
}

int cairn_datoms_next(cairn_datoms *it, cairn_datom *out)
{
    cairn_raw_datom d;
    const cairn_attr *a;
    int rc;
    cairn_release(it->v);
    it->v = cairn_nil();
    if (!it->cur)
        return CAIRN_ENOTFOUND;
    if ((rc = cairn_cursor_next(it->cur, &d)) < 0)
        return rc;
    if ((rc = cairn_db__value(&it->v, &d)) < 0)
        return rc;
    a = cairn_schema_by_id(it->db->schema, d.a);
    out->e = d.e;
    out->a = a ? a->ident : cairn_int(d.a);
    out->v = it->v;
    out->tx = d.tx;
    out->added = d.added;
    return 0;
}

void cairn_datoms_close(cairn_datoms *it)
{
    if (!it)
        return;
    cairn_cursor_close(it->cur);
    cairn_release(it->v);
    cairn_db_release(it->db);
    cairn_free(it);
}

/* ---- schema ------------------------------------------------------------------------- */

static int user_attr(const cairn_attr *a)
{
    return !a->system && a->declared;
}

int cairn_db_schema(cairn_val *out, const cairn_db *db, cairn_error *err)
{
    cairn_val m;
    int rc = cairn_map_new(&m, db->schema->count);
    for (size_t i = 0; rc == 0 && i < db->schema->count; i++) {
        const cairn_attr *a = db->schema->attrs[i];
        cairn_val am;
        if (!user_attr(a))
            continue;
        if ((rc = cairn_attr_to_map(&am, a)) < 0)
            break;
        if (!a->implicit && (rc = cairn_map_assoc(&am, KW(db_id), cairn_int(a->id))) < 0) {
            cairn_release(am);
            break;
        }
        rc = cairn_map_put_take(&m, cairn_retain(a->ident), am);
    }
    if (rc < 0) {
        cairn_release(m);
        return cairn_error_code(err, rc);
    }
    *out = m;
    return 0;
}

static int rs_add(cairn_val *map, cairn_val key, cairn_val ident)
{
    cairn_val set;
    int rc;
    if (cairn_map_get(&set, *map, key)) {
        set = cairn_retain(set);
    } else if ((rc = cairn_set_new(&set, 4)) < 0) {
        return rc;
    }
    rc = cairn_coll_push(&set, ident);
    if (rc == CAIRN_EEXISTS)
        rc = 0;
    if (rc == 0)
        rc = cairn_map_assoc(map, key, set);
    cairn_release(set);
    return rc;
}

int cairn_db_reverse_schema(cairn_val *out, const cairn_db *db, cairn_error *err)
{
    cairn_val m;
    int rc = cairn_map_new(&m, 8);
    for (size_t i = 0; rc == 0 && i < db->schema->count; i++) {
        const cairn_attr *a = db->schema->attrs[i];
        if (!user_attr(a))
            continue;
        rc = rs_add(&m, KW(db_ident), a->ident);
        if (rc == 0 && a->type == CAIRN_VT_REF)
            rc = rs_add(&m, KW(type_ref), a->ident);
        if (rc == 0 && a->many)
            rc = rs_add(&m, KW(card_many), a->ident);
        if (rc == 0 && a->unique)
            rc = rs_add(&m, KW(db_unique), a->ident);
        if (rc == 0 && a->unique == CAIRN_UNIQUE_IDENTITY)
            rc = rs_add(&m, KW(unique_identity), a->ident);
        if (rc == 0 && a->unique == CAIRN_UNIQUE_VALUE)
            rc = rs_add(&m, KW(unique_value), a->ident);
        if (rc == 0 && (a->index || a->unique))
            rc = rs_add(&m, KW(db_index), a->ident);
        if (rc == 0 && a->component)
            rc = rs_add(&m, KW(db_isComponent), a->ident);
        if (rc == 0 && a->no_history)
            rc = rs_add(&m, KW(db_noHistory), a->ident);
        if (rc == 0 && a->type == CAIRN_VT_TUPLE)
            rc = rs_add(&m, KW(type_tuple), a->ident);
    }
    if (rc < 0) {
        cairn_release(m);
        return cairn_error_code(err, rc);
    }
    *out = m;
    return 0;
}

/* ---- metrics ---------------------------------------------------------------------------- */

struct metrics {
    const cairn_db *db;         /* value */
    cairn_val per_attr;         /* ident -> count */
    cairn_val per_entity;       /* e -> count */
    int64_t last_e;             /* entity of the running count */
    int64_t e_count;            /* its datoms so far */
};

static int bump(cairn_val *map, cairn_val key, int64_t by)
{
    cairn_val old;
    int64_t n = by;
    if (cairn_map_get(&old, *map, key))
        n += cairn_int_value(old);
    return cairn_map_assoc(map, key, cairn_int(n));
}

static int metrics_cb(const cairn_raw_datom *d, void *payload)
{
    struct metrics *m = payload;
    const cairn_attr *a = cairn_schema_by_id(m->db->schema, d->a);
    int rc;
    if (d->e != m->last_e) {
        if (m->e_count && (rc = bump(&m->per_entity, cairn_int(m->last_e), m->e_count)) < 0)
            return rc;
        m->last_e = d->e;
        m->e_count = 0;
    }
    m->e_count++;
    return bump(&m->per_attr, a ? a->ident : cairn_int(d->a), 1);
}

int cairn_db_metrics(cairn_val *out, const cairn_db *db, cairn_error *err)
{
    struct metrics m = { db, cairn_nil(), cairn_nil(), -1, 0 };
    cairn_val res = cairn_nil();
    uint64_t count = 0, avet = 0, tcount = 0, tavet = 0;
    int rc;
    if ((rc = cairn_map_new(&m.per_attr, 16)) < 0 || (rc = cairn_map_new(&m.per_entity, 64)) < 0)
        goto done;
    if ((rc = cairn_db__scan_prefix(db, CAIRN_IX_EAVT, NULL, 0, metrics_cb, &m)) < 0)
        goto done;
    if (m.e_count && (rc = bump(&m.per_entity, cairn_int(m.last_e), m.e_count)) < 0)
        goto done;
    count = cairn_btree_count(&db->trees[CAIRN_T_EAVT]);
    avet = cairn_btree_count(&db->trees[CAIRN_T_AVET]);
    tcount = cairn_btree_count(&db->trees[CAIRN_T_TEAVT]);
    tavet = cairn_btree_count(&db->trees[CAIRN_T_TAVET]);
    if ((rc = cairn_map_new(&res, 6)) < 0)
        goto done;
    rc = cairn_map_put(&res, KW(count), cairn_int((int64_t)count));
    if (rc == 0)
        rc = cairn_map_put(&res, KW(avet_count), cairn_int((int64_t)avet));
    if (rc == 0)
        rc = cairn_map_put(&res, KW(per_attr_counts), m.per_attr);
    if (rc == 0)
        rc = cairn_map_put(&res, KW(per_entity_counts), m.per_entity);
    if (rc == 0 && db->ctx->keep_history) {
        rc = cairn_map_put(&res, KW(temporal_count), cairn_int((int64_t)(count + tcount)));
        if (rc == 0)
            rc = cairn_map_put(&res, KW(temporal_avet_count), cairn_int((int64_t)(avet + tavet)));
    }
done:
    cairn_release(m.per_attr);
    cairn_release(m.per_entity);
    if (rc < 0) {
        cairn_release(res);
        return cairn_error_code(err, rc);
    }
    *out = res;
    return 0;
}

/* ---- commits and settings ------------------------------------------------------------ */

int64_t cairn_db_max_tx_instant(const cairn_db *db)
{
    return db->last_instant;
}

uint64_t cairn_db_datom_count(const cairn_db *db)
{
    uint64_t n = cairn_btree_count(&db->trees[CAIRN_T_EAVT]);
    if (db->view != CAIRN_VIEW_CURRENT)
        n += cairn_btree_count(&db->trees[CAIRN_T_TEAVT]);
    return n;
}

int cairn_db_config(cairn_val *out, const cairn_db *db, cairn_error *err)
{
    cairn_val m, branch = cairn_nil();
    int rc = cairn_map_new(&m, 4);
    if (rc == 0)
        rc = cairn_map_put(&m, KW(store), db->ctx->store_config);
    if (rc == 0)
        rc = cairn_map_put(&m, KW(keep_history), cairn_bool(db->ctx->keep_history));
    if (rc == 0)
        rc = cairn_map_put(&m, KW(schema_flexibility), db->ctx->read_flex ? KW(read) : KW(write));
    if (rc == 0 && (rc = cairn_keyword(&branch, db->ctx->branch, strlen(db->ctx->branch))) == 0)
        rc = cairn_map_put(&m, KW(branch), branch);
    if (rc < 0) {
        cairn_release(m);
        return cairn_error_code(err, rc);
    }
    *out = m;
    return 0;
}

int cairn_db_commit_as_db(cairn_db **out, const cairn_db *db, cairn_val commit_id, cairn_error *err)
{
    cairn_addr a;
    cairn_db *v;
    int rc;
    if (cairn_type_of(commit_id) != CAIRN_UUID)
        return cairn_error_set(err, CAIRN_EINVALID, ":commit-id-must-be-uuid", "a commit id must be a UUID");
    memcpy(a.bytes, cairn_uuid_get(commit_id), CAIRN_ADDR_LEN);
    rc = cairn_db__open_commit(&v, db->ctx, &a, err);
    if (rc == CAIRN_ENOTFOUND)
        return cairn_error_set(err, rc, ":commit-does-not-exist", "no commit with that id in this store");
    if (rc < 0)
        return rc;
    *out = v;
    return 0;
}
