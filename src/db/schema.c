/*
 * Schema values: construction, lookup, cloning, validation of definitions,
 * and the schema node codec.
 *
 * The node is EDN text: {:version 1 :next-implicit n :attrs [{...} ...]},
 * one map per non-system attribute with :id, :implicit? and the attribute's
 * Datahike properties. EDN was chosen over a binary layout because schemas
 * are small, rewritten rarely, and worth being readable in a hex dump; the
 * reader's limits make decoding safe on hostile bytes.
 */
#include "db/schema.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hash.h"
#include "db/kw.h"

/* ---- value types ------------------------------------------------------------ */

static cairn_ident *const vt_idents[CAIRN_VT_COUNT_] = {
    NULL,
    &cairn_kw_type_string,
    &cairn_kw_type_long,
    &cairn_kw_type_double,
    &cairn_kw_type_float,
    &cairn_kw_type_boolean,
    &cairn_kw_type_keyword,
    &cairn_kw_type_symbol,
    &cairn_kw_type_uuid,
    &cairn_kw_type_instant,
    &cairn_kw_type_ref,
    &cairn_kw_type_bytes,
    &cairn_kw_type_bigint,
    &cairn_kw_type_bigdec,
    &cairn_kw_type_tuple,
    &cairn_kw_type_number,
};

int cairn_vt_from_kw(cairn_val kw)
{
    if (cairn_type_of(kw) != CAIRN_KEYWORD)
        return -1;
    for (int t = 1; t < CAIRN_VT_COUNT_; t++)
        if (cairn_ident_equal(cairn_val_ident(kw), vt_idents[t]))
            return t;
    return -1;
}

cairn_val cairn_vt_kw(cairn_vt t)
{
    if (t <= CAIRN_VT_ANY || t >= CAIRN_VT_COUNT_)
        return cairn_nil();
    return cairn_keyword_static(vt_idents[t]);
}

int cairn_vt_check(cairn_vt t, cairn_val v)
{
    switch (t) {
    case CAIRN_VT_ANY: return cairn_type_of(v) != CAIRN_NIL;
    case CAIRN_VT_STRING: return cairn_type_of(v) == CAIRN_STRING;
    case CAIRN_VT_LONG: return cairn_type_of(v) == CAIRN_INT;
    case CAIRN_VT_DOUBLE: return cairn_type_of(v) == CAIRN_DOUBLE;
    case CAIRN_VT_FLOAT: return cairn_type_of(v) == CAIRN_FLOAT;
    case CAIRN_VT_BOOLEAN: return cairn_type_of(v) == CAIRN_BOOL;
    case CAIRN_VT_KEYWORD: return cairn_type_of(v) == CAIRN_KEYWORD;
    case CAIRN_VT_SYMBOL: return cairn_type_of(v) == CAIRN_SYMBOL;
    case CAIRN_VT_UUID: return cairn_type_of(v) == CAIRN_UUID;
    case CAIRN_VT_INSTANT: return cairn_type_of(v) == CAIRN_INST;
    case CAIRN_VT_REF: return cairn_type_of(v) == CAIRN_INT;
    case CAIRN_VT_BYTES: return cairn_type_of(v) == CAIRN_BYTES;
    case CAIRN_VT_BIGINT: return cairn_type_of(v) == CAIRN_BIGINT || cairn_type_of(v) == CAIRN_INT;
    case CAIRN_VT_BIGDEC: return cairn_type_of(v) == CAIRN_BIGDEC;
    case CAIRN_VT_TUPLE: return cairn_type_of(v) == CAIRN_VECTOR || cairn_type_of(v) == CAIRN_LIST;
    case CAIRN_VT_NUMBER: return cairn_val_is_number(v);
    default: return 0;
    }
}

/* ---- schema values ---------------------------------------------------------------- */

static int ident_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return cairn_equal(((const cairn_attr *)entry)->ident, *(const cairn_val *)key);
}

static int id_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return ((const cairn_attr *)entry)->id == *(const int64_t *)key;
}

static uint64_t id_hash(int64_t id)
{
    return cairn_hash_mix((uint64_t)id);
}

void cairn_attr_dispose(cairn_attr *a)
{
    cairn_release(a->doc);
    cairn_release(a->tuple_attrs);
    cairn_release(a->tuple_type);
    cairn_release(a->tuple_types);
    a->doc = a->tuple_attrs = a->tuple_type = a->tuple_types = cairn_nil();
}

static cairn_attr *attr_copy(const cairn_attr *a)
{
    cairn_attr *c = cairn_malloc(sizeof *c);
    if (!c)
        return NULL;
    *c = *a;
    cairn_retain(c->ident);
    cairn_retain(c->doc);
    cairn_retain(c->tuple_attrs);
    cairn_retain(c->tuple_type);
    cairn_retain(c->tuple_types);
    return c;
}

static void attr_free(cairn_attr *a)
{
    cairn_attr_dispose(a);
    cairn_release(a->ident);
    cairn_free(a);
}

static int index_attr(cairn_schema *s, cairn_attr *a)
{
    int rc;
    if (s->count == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 32;
        cairn_attr **p = cairn_realloc(s->attrs, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        s->attrs = p;
        s->cap = cap;
    }
    if ((rc = cairn_hmap_insert(&s->by_ident, cairn_hash(a->ident), a)) < 0)
        return rc;
    if ((rc = cairn_hmap_insert(&s->by_id, id_hash(a->id), a)) < 0) {
        cairn_hmap_remove(&s->by_ident, cairn_hash(a->ident), &a->ident, ident_eq, NULL);
        return rc;
    }
    s->attrs[s->count++] = a;
    return 0;
}

static const struct {
    cairn_ident *ident;  /* keyword */
    cairn_vt type;       /* value type */
    uint8_t many;        /* cardinality */
    uint8_t unique;      /* uniqueness */
} system_attrs[CAIRN_SYS_COUNT_] = {
    [CAIRN_SYS_IDENT] = { &cairn_kw_db_ident, CAIRN_VT_KEYWORD, 0, CAIRN_UNIQUE_IDENTITY },
    [CAIRN_SYS_VALUE_TYPE] = { &cairn_kw_db_valueType, CAIRN_VT_KEYWORD, 0, 0 },
    [CAIRN_SYS_CARDINALITY] = { &cairn_kw_db_cardinality, CAIRN_VT_KEYWORD, 0, 0 },
    [CAIRN_SYS_UNIQUE] = { &cairn_kw_db_unique, CAIRN_VT_KEYWORD, 0, 0 },
    [CAIRN_SYS_INDEX] = { &cairn_kw_db_index, CAIRN_VT_BOOLEAN, 0, 0 },
    [CAIRN_SYS_IS_COMPONENT] = { &cairn_kw_db_isComponent, CAIRN_VT_BOOLEAN, 0, 0 },
    [CAIRN_SYS_NO_HISTORY] = { &cairn_kw_db_noHistory, CAIRN_VT_BOOLEAN, 0, 0 },
    [CAIRN_SYS_DOC] = { &cairn_kw_db_doc, CAIRN_VT_STRING, 0, 0 },
    [CAIRN_SYS_TUPLE_ATTRS] = { &cairn_kw_db_tupleAttrs, CAIRN_VT_ANY, 0, 0 },
    [CAIRN_SYS_TUPLE_TYPE] = { &cairn_kw_db_tupleType, CAIRN_VT_KEYWORD, 0, 0 },
    [CAIRN_SYS_TUPLE_TYPES] = { &cairn_kw_db_tupleTypes, CAIRN_VT_ANY, 0, 0 },
    [CAIRN_SYS_TX_INSTANT] = { &cairn_kw_db_txInstant, CAIRN_VT_INSTANT, 0, 0 },
};

static int schema_alloc(cairn_schema **out, int read_flex)
{
    cairn_schema *s = cairn_malloc(sizeof *s);
    if (!s)
        return CAIRN_ENOMEM;
    memset(s, 0, sizeof *s);
    atomic_init(&s->refcnt, 1);
    s->read_flex = read_flex;
    s->next_implicit = CAIRN_ATTR_USER0;
    *out = s;
    return 0;
}

int cairn_schema_new(cairn_schema **out, int read_flex)
{
    cairn_schema *s;
    int rc = schema_alloc(&s, read_flex);
    if (rc < 0)
        return rc;
    for (int k = 0; k < CAIRN_SYS_COUNT_; k++) {
        cairn_attr a;
        cairn_attr *c;
        memset(&a, 0, sizeof a);
        a.id = CAIRN_SYS_ID(k);
        a.ident = cairn_keyword_static(system_attrs[k].ident);
        a.type = system_attrs[k].type;
        a.many = system_attrs[k].many;
        a.unique = system_attrs[k].unique;
        a.implicit = a.system = a.declared = 1;
        a.no_history = k == CAIRN_SYS_TX_INSTANT;
        if (!(c = attr_copy(&a)) || (rc = index_attr(s, c)) < 0) {
            if (c)
                attr_free(c);
            cairn_schema_release(s);
            return rc < 0 ? rc : CAIRN_ENOMEM;
        }
    }
    *out = s;
    return 0;
}

int cairn_schema_clone(cairn_schema **out, const cairn_schema *s)
{
    cairn_schema *c;
    int rc = schema_alloc(&c, s->read_flex);
    if (rc < 0)
        return rc;
    c->next_implicit = s->next_implicit;
    c->version = s->version;
    for (size_t i = 0; i < s->count; i++) {
        cairn_attr *a = attr_copy(s->attrs[i]);
        if (!a || (rc = index_attr(c, a)) < 0) {
            if (a)
                attr_free(a);
            cairn_schema_release(c);
            return rc < 0 ? rc : CAIRN_ENOMEM;
        }
    }
    *out = c;
    return 0;
}

cairn_schema *cairn_schema_retain(cairn_schema *s)
{
    if (s)
        atomic_fetch_add_explicit(&s->refcnt, 1, memory_order_relaxed);
    return s;
}

void cairn_schema_release(cairn_schema *s)
{
    if (!s || atomic_fetch_sub_explicit(&s->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < s->count; i++)
        attr_free(s->attrs[i]);
    cairn_free(s->attrs);
    cairn_hmap_dispose(&s->by_ident);
    cairn_hmap_dispose(&s->by_id);
    cairn_free(s);
}

const cairn_attr *cairn_schema_by_ident(const cairn_schema *s, cairn_val ident)
{
    if (cairn_type_of(ident) != CAIRN_KEYWORD)
        return NULL;
    return cairn_hmap_find(&s->by_ident, cairn_hash(ident), &ident, ident_eq, NULL);
}

const cairn_attr *cairn_schema_by_id(const cairn_schema *s, int64_t id)
{
    return cairn_hmap_find(&s->by_id, id_hash(id), &id, id_eq, NULL);
}

void cairn_schema_remove(cairn_schema *s, int64_t id)
{
    cairn_attr *a = cairn_hmap_remove(&s->by_id, id_hash(id), &id, id_eq, NULL);
    if (!a)
        return;
    cairn_hmap_remove(&s->by_ident, cairn_hash(a->ident), &a->ident, ident_eq, NULL);
    for (size_t i = 0; i < s->count; i++) {
        if (s->attrs[i] == a) {
            memmove(s->attrs + i, s->attrs + i + 1, (s->count - i - 1) * sizeof *s->attrs);
            s->count--;
            break;
        }
    }
    attr_free(a);
    s->version++;
}

int cairn_schema_put(cairn_schema *s, const cairn_attr *a)
{
    cairn_attr *c;
    int rc;
    assert(atomic_load(&s->refcnt) == 1);
    cairn_schema_remove(s, a->id);
    {
        /* the ident may have belonged to another attribute id: a rename */
        const cairn_attr *other = cairn_schema_by_ident(s, a->ident);
        if (other)
            cairn_schema_remove(s, other->id);
    }
    if (!(c = attr_copy(a)))
        return CAIRN_ENOMEM;
    if ((rc = index_attr(s, c)) < 0) {
        attr_free(c);
        return rc;
    }
    if (a->implicit && a->id >= s->next_implicit)
        s->next_implicit = a->id + 1;
    s->version++;
    return 0;
}

int cairn_schema_intern(cairn_schema *s, cairn_val ident, const cairn_attr **out)
{
    cairn_attr a;
    int rc;
    if (s->next_implicit >= CAIRN_TX0)
        return CAIRN_ELIMIT;
    memset(&a, 0, sizeof a);
    a.id = s->next_implicit;
    a.ident = ident;
    a.implicit = 1;
    a.doc = a.tuple_attrs = a.tuple_type = a.tuple_types = cairn_nil();
    if ((rc = cairn_schema_put(s, &a)) < 0)
        return rc;
    *out = cairn_schema_by_id(s, a.id);
    return 0;
}

/* ---- attribute definitions ----------------------------------------------------------- */

static cairn_val map_get(cairn_val map, cairn_ident *key)
{
    cairn_val v;
    if (cairn_map_get(&v, map, cairn_keyword_static(key)))
        return v;
    return cairn_nil();
}

static int want_bool(cairn_val v, uint8_t *out, const char *name, cairn_val ident, cairn_error *err)
{
    if (cairn_type_of(v) == CAIRN_NIL)
        return 0;
    if (cairn_type_of(v) != CAIRN_BOOL)
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation", "%s of %s must be a boolean", name,
                               cairn_ident_get(ident, NULL));
    *out = (uint8_t)cairn_bool_value(v);
    return 0;
}

int cairn_attr_from_map(cairn_attr *out, int64_t id, cairn_val ident, cairn_val map, int read_flex,
                        cairn_error *err)
{
    const char *name = cairn_ident_get(ident, NULL);
    cairn_val vt = map_get(map, &cairn_kw_db_valueType), card = map_get(map, &cairn_kw_db_cardinality);
    cairn_val uniq = map_get(map, &cairn_kw_db_unique), doc = map_get(map, &cairn_kw_db_doc);
    int rc;
    memset(out, 0, sizeof *out);
    out->id = id;
    out->ident = ident;
    out->declared = 1;
    out->doc = out->tuple_attrs = out->tuple_type = out->tuple_types = cairn_nil();
    if (cairn_type_of(vt) != CAIRN_NIL) {
        int t = cairn_vt_from_kw(vt);
        if (t < 0)
            return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation", "unknown :db/valueType for %s", name);
        out->type = (cairn_vt)t;
    } else if (!read_flex) {
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                               "attribute %s needs :db/valueType under schema-on-write", name);
    }
    if (IS_KW(card, card_many)) {
        out->many = 1;
    } else if (!IS_KW(card, card_one)) {
        if (cairn_type_of(card) != CAIRN_NIL || !read_flex)
            return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                                   "attribute %s needs :db/cardinality :db.cardinality/one or /many", name);
    }
    if (IS_KW(uniq, unique_identity))
        out->unique = CAIRN_UNIQUE_IDENTITY;
    else if (IS_KW(uniq, unique_value))
        out->unique = CAIRN_UNIQUE_VALUE;
    else if (cairn_type_of(uniq) != CAIRN_NIL)
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation", "bad :db/unique for %s", name);
    if ((rc = want_bool(map_get(map, &cairn_kw_db_index), &out->index, ":db/index", ident, err)) < 0 ||
        (rc = want_bool(map_get(map, &cairn_kw_db_isComponent), &out->component, ":db/isComponent", ident, err)) < 0 ||
        (rc = want_bool(map_get(map, &cairn_kw_db_noHistory), &out->no_history, ":db/noHistory", ident, err)) < 0)
        return rc;
    if (out->component && out->type != CAIRN_VT_REF)
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                               "%s: :db/isComponent requires :db.type/ref", name);
    if (out->unique && out->many)
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                               "%s: :db/unique is not allowed on cardinality-many attributes", name);
    if (cairn_type_of(doc) != CAIRN_NIL && cairn_type_of(doc) != CAIRN_STRING)
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation", "%s: :db/doc must be a string", name);
    out->doc = cairn_retain(doc);
    out->tuple_attrs = cairn_retain(map_get(map, &cairn_kw_db_tupleAttrs));
    out->tuple_type = cairn_retain(map_get(map, &cairn_kw_db_tupleType));
    out->tuple_types = cairn_retain(map_get(map, &cairn_kw_db_tupleTypes));
    if ((cairn_type_of(out->tuple_attrs) != CAIRN_NIL || cairn_type_of(out->tuple_type) != CAIRN_NIL ||
         cairn_type_of(out->tuple_types) != CAIRN_NIL) &&
        out->type != CAIRN_VT_TUPLE) {
        cairn_attr_dispose(out);
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                               "%s: tuple properties require :db.type/tuple", name);
    }
    if (cairn_type_of(out->tuple_attrs) != CAIRN_NIL) {
        size_t n = cairn_count(out->tuple_attrs);
        int ok = cairn_val_is_seq(out->tuple_attrs) && n >= 2 && n <= 8;
        for (size_t i = 0; ok && i < n; i++)
            ok = cairn_type_of(cairn_coll_get(out->tuple_attrs, i)) == CAIRN_KEYWORD;
        if (!ok) {
            cairn_attr_dispose(out);
            return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                                   "%s: :db/tupleAttrs must be a vector of 2 to 8 attribute keywords", name);
        }
    }
    if (cairn_type_of(out->tuple_types) != CAIRN_NIL) {
        size_t n = cairn_count(out->tuple_types);
        int ok = cairn_val_is_seq(out->tuple_types) && n >= 1 && n <= 8;
        for (size_t i = 0; ok && i < n; i++)
            ok = cairn_vt_from_kw(cairn_coll_get(out->tuple_types, i)) > 0;
        if (!ok) {
            cairn_attr_dispose(out);
            return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation",
                                   "%s: :db/tupleTypes must be a vector of value types", name);
        }
    }
    if (cairn_type_of(out->tuple_type) != CAIRN_NIL && cairn_vt_from_kw(out->tuple_type) <= 0) {
        cairn_attr_dispose(out);
        return cairn_error_set(err, CAIRN_EINVALID, ":schema/validation", "%s: bad :db/tupleType", name);
    }
    return 0;
}

static int put_kv(cairn_val *map, cairn_ident *k, cairn_val v)
{
    return cairn_map_put(map, cairn_keyword_static(k), v);
}

int cairn_attr_to_map(cairn_val *out, const cairn_attr *a)
{
    cairn_val m;
    int rc = cairn_map_new(&m, 8);
    if (rc < 0)
        return rc;
    rc = put_kv(&m, &cairn_kw_db_ident, a->ident);
    if (rc == 0 && a->type != CAIRN_VT_ANY)
        rc = put_kv(&m, &cairn_kw_db_valueType, cairn_vt_kw(a->type));
    if (rc == 0 && (a->declared || a->many))
        rc = put_kv(&m, &cairn_kw_db_cardinality, a->many ? KW(card_many) : KW(card_one));
    if (rc == 0 && a->unique)
        rc = put_kv(&m, &cairn_kw_db_unique, a->unique == CAIRN_UNIQUE_IDENTITY ? KW(unique_identity) : KW(unique_value));
    if (rc == 0 && a->index)
        rc = put_kv(&m, &cairn_kw_db_index, cairn_bool(1));
    if (rc == 0 && a->component)
        rc = put_kv(&m, &cairn_kw_db_isComponent, cairn_bool(1));
    if (rc == 0 && a->no_history)
        rc = put_kv(&m, &cairn_kw_db_noHistory, cairn_bool(1));
    if (rc == 0 && cairn_type_of(a->doc) != CAIRN_NIL)
        rc = put_kv(&m, &cairn_kw_db_doc, a->doc);
    if (rc == 0 && cairn_type_of(a->tuple_attrs) != CAIRN_NIL)
        rc = put_kv(&m, &cairn_kw_db_tupleAttrs, a->tuple_attrs);
    if (rc == 0 && cairn_type_of(a->tuple_type) != CAIRN_NIL)
        rc = put_kv(&m, &cairn_kw_db_tupleType, a->tuple_type);
    if (rc == 0 && cairn_type_of(a->tuple_types) != CAIRN_NIL)
        rc = put_kv(&m, &cairn_kw_db_tupleTypes, a->tuple_types);
    if (rc < 0) {
        cairn_release(m);
        return rc;
    }
    *out = m;
    return 0;
}

/* ---- schema node -------------------------------------------------------------------------- */

int cairn_schema_encode(cairn_buf *out, const cairn_schema *s)
{
    cairn_buf_printf(out, "{:version 1 :next-implicit %lld :attrs [", (long long)s->next_implicit);
    for (size_t i = 0; i < s->count; i++) {
        const cairn_attr *a = s->attrs[i];
        cairn_val m;
        char *text;
        size_t n;
        int rc;
        if (a->system)
            continue;
        if ((rc = cairn_attr_to_map(&m, a)) < 0)
            return rc;
        rc = cairn_edn_print(&text, &n, m);
        cairn_release(m);
        if (rc < 0)
            return rc;
        /* splice :id and flags into the printed map: "{:db/ident ..." -> "{:id N ..." */
        cairn_buf_printf(out, "{:id %lld :implicit? %s :declared? %s ", (long long)a->id,
                         a->implicit ? "true" : "false", a->declared ? "true" : "false");
        cairn_buf_put(out, text + 1, n - 1);
        cairn_free(text);
    }
    cairn_buf_puts(out, "]}");
    return out->oom ? CAIRN_ENOMEM : 0;
}

int cairn_schema_decode(cairn_schema **out, const void *data, size_t len, int read_flex)
{
    cairn_val node, attrs, v;
    cairn_schema *s = NULL;
    cairn_val k_id, k_impl, k_decl, k_next, k_attrs;
    int rc = cairn_edn_read(&node, data, len, NULL, NULL);
    if (rc < 0)
        return rc == CAIRN_ENOMEM ? rc : CAIRN_CORRUPT_BKPT;
    if ((rc = cairn_keyword(&k_id, "id", 2)) < 0 || (rc = cairn_keyword(&k_impl, "implicit?", 9)) < 0 ||
        (rc = cairn_keyword(&k_decl, "declared?", 9)) < 0 || (rc = cairn_keyword(&k_next, "next-implicit", 13)) < 0 ||
        (rc = cairn_keyword(&k_attrs, "attrs", 5)) < 0)
        goto done;
    if (cairn_type_of(node) != CAIRN_MAP || !cairn_map_get(&attrs, node, k_attrs) ||
        cairn_type_of(attrs) != CAIRN_VECTOR || !cairn_map_get(&v, node, k_next) || cairn_type_of(v) != CAIRN_INT) {
        rc = CAIRN_CORRUPT_BKPT;
        goto done;
    }
    if ((rc = cairn_schema_new(&s, read_flex)) < 0)
        goto done;
    for (size_t i = 0; i < cairn_count(attrs); i++) {
        cairn_val m = cairn_coll_get(attrs, i), idv, ident, flag;
        cairn_attr a;
        if (cairn_type_of(m) != CAIRN_MAP || !cairn_map_get(&idv, m, k_id) || cairn_type_of(idv) != CAIRN_INT ||
            !cairn_map_get(&ident, m, KW(db_ident)) || cairn_type_of(ident) != CAIRN_KEYWORD) {
            rc = CAIRN_CORRUPT_BKPT;
            goto done;
        }
        if ((rc = cairn_attr_from_map(&a, cairn_int_value(idv), ident, m, 1, NULL)) < 0) {
            rc = rc == CAIRN_ENOMEM ? rc : CAIRN_CORRUPT_BKPT;
            goto done;
        }
        a.implicit = (uint8_t)(cairn_map_get(&flag, m, k_impl) && cairn_bool_value(flag));
        a.declared = (uint8_t)(cairn_map_get(&flag, m, k_decl) && cairn_bool_value(flag));
        if (!a.declared) {
            /* interned on read: no cardinality was given; keep it card-one */
            a.many = 0;
        }
        rc = cairn_schema_put(s, &a);
        cairn_attr_dispose(&a);
        if (rc < 0)
            goto done;
    }
    s->next_implicit = cairn_int_value(v);
    if (s->next_implicit < CAIRN_ATTR_USER0 || s->next_implicit > CAIRN_TX0)
        rc = CAIRN_CORRUPT_BKPT;
done:
    cairn_release(node);
    if (rc < 0) {
        cairn_schema_release(s);
        return rc;
    }
    *out = s;
    return 0;
}
