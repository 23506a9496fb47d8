/*
 * Transaction application, in four phases:
 *
 *  1. explode: tx data -> a flat list of operations. Entity maps become one
 *     :db/add per attribute value (card-many collections expand; nested maps
 *     under ref attributes become child entities; reverse attributes
 *     :ns/_attr flip direction). Entity references stay unresolved: ids,
 *     tempids (negative numbers, strings, and one synthetic tempid per map
 *     without :db/id), lookup refs, idents, the transaction itself.
 *  2. resolve: lookup refs and idents against db-before; upserts (a tempid
 *     asserting a :db.unique/identity value that exists, also through
 *     composite tuple identities) bind tempids to existing entities; tempids
 *     that assert the same identity value become one entity; the rest get new
 *     ids in order of first appearance, entity position before value position,
 *     which is how Datahike numbers them.
 *  3. apply: operations run in order against the in-transaction state
 *     (tx/state.c) so each sees the ones before it: value checks, cardinality
 *     one replacement, uniqueness, :db/cas, retractions with component
 *     cascade. Composite tuples are recomputed at the end; schema changes are
 *     validated and installed.
 *  4. output: the net changes (sorted and applied by db/apply.c) and the
 *     report, which follows Datahike 0.8: every assertion is reported, even a
 *     redundant one, and a cardinality-one overwrite reports only the new
 *     value (the retraction of the old one goes to the history indices).
 *
 * A transaction either applies completely or not at all: any error leaves
 * db-before untouched and returns Datahike's error keyword.
 */
#include "tx/tx.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hash.h"
#include "db/kw.h"
#include "tx/state.h"

/* ---- operations --------------------------------------------------------- */

enum eref_kind { ER_NONE = 0, ER_ID, ER_SLOT, ER_LOOKUP, ER_IDENT, ER_TX };

typedef struct eref {
    uint8_t kind;    /* enum eref_kind */
    int64_t id;      /* ER_ID: the id; ER_SLOT: slot index */
    cairn_val val;   /* ER_LOOKUP: [attr value]; ER_IDENT: keyword (borrowed) */
} eref;

enum op_kind { OP_ADD, OP_RETRACT, OP_RETRACT_ALL, OP_RETRACT_ATTRIBUTE, OP_RETRACT_ENTITY, OP_CAS, OP_ALLOC };

/* apply_op's "start over": a tempid bound to a new id turned out to upsert */
#define RESTART 1

typedef struct op {
    uint8_t kind;      /* enum op_kind */
    uint8_t v_ref;     /* v is an entity reference (vref) */
    uint8_t from_map;  /* exploded from an entity map */
    eref e;            /* entity */
    cairn_val a;       /* attribute keyword (borrowed or owned) */
    cairn_val v;       /* value as written */
    eref vref;         /* resolved form of v for ref attributes */
    cairn_val old;     /* :db/cas expected value */
    eref oldref;       /* ... as entity reference */
    size_t elem;       /* index of the tx-data element, for messages */
    size_t map_end;    /* OP_ALLOC: index after the map's last op */
} op;

typedef struct slot {
    cairn_val key;     /* tempid as written, nil for a map without :db/id */
    int64_t eid;       /* bound id, 0 until bound */
    int64_t upsert;    /* entity it must upsert to (found by an earlier attempt) */
    uint8_t is_new;    /* eid was allocated by this attempt */
} slot;

typedef struct pending {
    cairn_val ident;   /* attribute keyword being defined */
    eref e;            /* its entity */
    cairn_val map;     /* the definition map (borrowed) */
    cairn_attr def;    /* parsed definition (id set after resolution) */
} pending;

typedef struct txs {
    const cairn_db *db;        /* db-before */
    cairn_schema *schema;      /* schema in effect (owned reference) */
    int schema_private;        /* schema is our clone and may change */
    cairn_error *err;          /* where errors go */
    int64_t tx;                /* this transaction's id */
    int64_t instant;           /* its instant */
    int64_t max_eid;           /* entity counter */
    op *ops;                   /* operations */
    size_t nops, capops;
    slot *slots;               /* tempids */
    size_t nslots, capslots;
    cairn_val slot_keys;       /* map tempid -> slot index */
    pending *pend;             /* attributes defined in this tx */
    size_t npend, cappend;
    cairn_val owned;           /* values created here, released at the end */
    cairn_txstate st;          /* in-transaction state */
    cairn_report_datom *rep;   /* report */
    size_t nrep, caprep;
    cairn_buf enc;             /* scratch: an encoded value */
    cairn_buf enc2;            /* scratch */
    cairn_val touched;         /* set of entity ids whose attributes changed */
    cairn_val schema_touched;  /* set of entity ids whose schema datoms changed */
    cairn_val tx_keys;         /* strings naming the tx ("datomic.tx" ...) used */
    const cairn_schema *tuples_schema; /* schema has_tuples() last looked at */
    uint64_t tuples_version;   /* ... and its version */
    int tuples;                /* it has composite tuple attributes */
    int64_t max_eid0;          /* entity counter before any allocation */
} txs;

#define ERR(s, kw, ...) cairn_error_set((s)->err, CAIRN_EINVALID, kw, __VA_ARGS__)

/* Short printed form of a value for messages (never fails). */
static const char *show(cairn_val v, char *buf, size_t cap)
{
    char *text;
    size_t n;
    if (cairn_edn_print(&text, &n, v) == 0) {
        snprintf(buf, cap, "%s", text);
        cairn_free(text);
    } else {
        snprintf(buf, cap, "<value>");
    }
    return buf;
}

static int push_op(txs *s, const op *o)
{
    if (s->nops == s->capops) {
        size_t cap = s->capops ? s->capops * 2 : 64;
        op *p = cairn_realloc(s->ops, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        s->ops = p;
        s->capops = cap;
    }
    s->ops[s->nops++] = *o;
    return 0;
}

/* ---- tempid slots ---------------------------------------------------------- */

static int new_slot(txs *s, cairn_val key, size_t *out)
{
    int rc;
    if (s->nslots == s->capslots) {
        size_t cap = s->capslots ? s->capslots * 2 : 32;
        slot *p = cairn_realloc(s->slots, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        s->slots = p;
        s->capslots = cap;
    }
    if (cairn_type_of(key) != CAIRN_NIL &&
        (rc = cairn_map_put(&s->slot_keys, key, cairn_int((int64_t)s->nslots))) < 0)
        return rc;
    s->slots[s->nslots].key = key;
    s->slots[s->nslots].eid = 0;
    s->slots[s->nslots].upsert = 0;
    s->slots[s->nslots].is_new = 0;
    *out = s->nslots++;
    return 0;
}

static int tempid_slot(txs *s, cairn_val key, size_t *out)
{
    cairn_val idx;
    if (cairn_map_get(&idx, s->slot_keys, key)) {
        *out = (size_t)cairn_int_value(idx);
        return 0;
    }
    return new_slot(s, key, out);
}

/* ---- attributes ---------------------------------------------------------------- */

static int is_reverse(cairn_val kw)
{
    size_t n;
    const char *name = cairn_name_get(kw, &n);
    return name && n > 1 && name[0] == '_';
}

/* :ns/_attr -> :ns/attr */
static int forward_of(txs *s, cairn_val kw, cairn_val *out)
{
    size_t len, ns_len = 0;
    const char *ns = cairn_namespace_get(kw, &ns_len);
    const char *name = cairn_name_get(kw, &len);
    char buf[512];
    int n = ns ? snprintf(buf, sizeof buf, "%.*s/%.*s", (int)ns_len, ns, (int)len - 1, name + 1)
               : snprintf(buf, sizeof buf, "%.*s", (int)len - 1, name + 1);
    if (n < 0 || (size_t)n >= sizeof buf)
        return ERR(s, ":transact/syntax", "attribute name too long");
    return cairn_keyword(out, buf, (size_t)n);
}

static const cairn_attr *pending_attr(txs *s, cairn_val kw)
{
    for (size_t i = 0; i < s->npend; i++)
        if (cairn_equal(s->pend[i].ident, kw))
            return &s->pend[i].def;
    return NULL;
}

static int schema_private(txs *s)
{
    cairn_schema *c;
    int rc;
    if (s->schema_private)
        return 0;
    if ((rc = cairn_schema_clone(&c, s->schema)) < 0)
        return rc;
    cairn_schema_release(s->schema);
    s->schema = c;
    s->schema_private = 1;
    return 0;
}

/*
 * The definition of attribute kw: the schema, then attributes defined
 * earlier in this transaction; under :read an unknown one is interned.
 */
static int attr_of(txs *s, cairn_val kw, const cairn_attr **out)
{
    const cairn_attr *a;
    char b[128];
    int rc;
    if (cairn_type_of(kw) != CAIRN_KEYWORD)
        return ERR(s, ":transact/syntax", "attribute must be a keyword, got %s", show(kw, b, sizeof b));
    if ((a = cairn_schema_by_ident(s->schema, kw)) != NULL || (a = pending_attr(s, kw)) != NULL) {
        *out = a;
        return 0;
    }
    if (!s->schema->read_flex)
        return ERR(s, ":transact/schema", "Bad entity attribute %s, not defined in current schema",
                   show(kw, b, sizeof b));
    if ((rc = schema_private(s)) < 0 || (rc = cairn_schema_intern(s->schema, kw, out)) < 0)
        return rc;
    return 0;
}

/* ---- entity references ------------------------------------------------------------ */

static int is_tx_ref(cairn_val v)
{
    if (IS_KW(v, db_current_tx))
        return 1;
    if (cairn_type_of(v) == CAIRN_STRING) {
        const char *t = cairn_str_get(v, NULL);
        return !strcmp(t, "datomic.tx") || !strcmp(t, "datahike.tx") || !strcmp(t, ":db/current-tx");
    }
    return 0;
}

/*
 * Turns a written entity reference into an eref. allow_tempid: tempids are
 * legal here (e of :db/add, values of ref attributes).
 */
static int make_eref(txs *s, cairn_val v, eref *out, int allow_tempid, const char *where)
{
    char b[128];
    memset(out, 0, sizeof *out);
    if (is_tx_ref(v)) {
        out->kind = ER_TX;
        if (cairn_type_of(v) == CAIRN_STRING) {
            int rc = cairn_coll_push(&s->tx_keys, v);
            if (rc < 0 && rc != CAIRN_EEXISTS)
                return rc;
        }
        return 0;
    }
    switch (cairn_type_of(v)) {
    case CAIRN_INT:
        if (cairn_int_value(v) >= 0) {
            out->kind = ER_ID;
            out->id = cairn_int_value(v);
            return 0;
        }
        /* a negative number is a tempid */
        __attribute__((fallthrough));
    case CAIRN_STRING:
        if (!allow_tempid)
            return ERR(s, ":transact/syntax", "Can't use tempid %s in %s. Tempids are allowed in :db/add only",
                       show(v, b, sizeof b), where);
        {
            size_t i;
            int rc = tempid_slot(s, v, &i);
            if (rc < 0)
                return rc;
            out->kind = ER_SLOT;
            out->id = (int64_t)i;
        }
        return 0;
    case CAIRN_VECTOR:
    case CAIRN_LIST:
        if (cairn_count(v) != 2 || cairn_type_of(cairn_coll_get(v, 0)) != CAIRN_KEYWORD)
            return ERR(s, ":lookup-ref/syntax", "Bad lookup ref %s", show(v, b, sizeof b));
        out->kind = ER_LOOKUP;
        out->val = v;
        return 0;
    case CAIRN_KEYWORD:
        out->kind = ER_IDENT;
        out->val = v;
        return 0;
    default:
        return ERR(s, ":entity-id/syntax", "Expected number, string or lookup ref for entity id, got %s",
                   show(v, b, sizeof b));
    }
}

/* ---- explode ------------------------------------------------------------------------ */

static int explode_map(txs *s, cairn_val map, size_t elem, eref *e_out);

/* A collection value that expands into several values of a card-many attr. */
static int is_multi(txs *s, const cairn_attr *a, cairn_val v)
{
    cairn_type t = cairn_type_of(v);
    if (t == CAIRN_SET)
        return 1;
    if (t != CAIRN_VECTOR && t != CAIRN_LIST)
        return 0;
    /* [kw x] with kw a unique attribute is a lookup ref, not two values */
    if (a->type == CAIRN_VT_REF && cairn_count(v) == 2 && cairn_type_of(cairn_coll_get(v, 0)) == CAIRN_KEYWORD) {
        const cairn_attr *la = cairn_schema_by_ident(s->schema, cairn_coll_get(v, 0));
        if (la && la->unique)
            return 0;
    }
    return a->type != CAIRN_VT_TUPLE || (cairn_count(v) > 0 && cairn_val_is_seq(cairn_coll_get(v, 0)));
}

/* One :db/add of a map attribute value (v may be a nested map). */
static int map_value(txs *s, const eref *e, cairn_val akw, const cairn_attr *a, cairn_val v, size_t elem)
{
    op o;
    char b[128];
    int rc;
    memset(&o, 0, sizeof o);
    o.kind = OP_ADD;
    o.from_map = 1;
    o.e = *e;
    o.a = akw;
    o.v = v;
    o.elem = elem;
    if (cairn_type_of(v) == CAIRN_NIL)
        return ERR(s, ":transact/syntax", "Cannot store nil as a value at %s", show(akw, b, sizeof b));
    if (cairn_type_of(v) == CAIRN_MAP) {
        if (a->type != CAIRN_VT_REF)
            return ERR(s, ":transact/schema", "Bad entity value %s at %s: a map needs a :db.type/ref attribute",
                       show(v, b, sizeof b), cairn_ident_get(akw, NULL));
        o.v_ref = 1;
        if ((rc = explode_map(s, v, elem, &o.vref)) < 0)
            return rc;
        return push_op(s, &o);
    }
    if (a->type == CAIRN_VT_REF) {
        o.v_ref = 1;
        if ((rc = make_eref(s, v, &o.vref, 1, "a ref value")) < 0)
            return rc;
    }
    return push_op(s, &o);
}

static int explode_map(txs *s, cairn_val map, size_t elem, eref *e_out)
{
    cairn_val idv;
    eref e;
    size_t alloc_at;
    int rc;
    if (cairn_map_get(&idv, map, KW(db_id))) {
        if ((rc = make_eref(s, idv, &e, 1, "an entity map")) < 0)
            return rc;
    } else {
        size_t i;
        if ((rc = new_slot(s, cairn_nil(), &i)) < 0)
            return rc;
        e.kind = ER_SLOT;
        e.id = (int64_t)i;
        e.val = cairn_nil();
    }
    {
        /* the map's entity is bound before anything it contains (upserts
         * are decided here, from all of the map's identity attributes) */
        op alloc;
        memset(&alloc, 0, sizeof alloc);
        alloc.kind = OP_ALLOC;
        alloc.e = e;
        alloc.v = map;
        alloc.elem = elem;
        alloc_at = s->nops;
        if ((rc = push_op(s, &alloc)) < 0)
            return rc;
    }
    for (size_t i = 0; i < cairn_count(map); i++) {
        cairn_val k = cairn_map_key_get(map, i), v = cairn_map_val_get(map, i);
        const cairn_attr *a;
        char b[128];
        if (IS_KW(k, db_id))
            continue;
        if (cairn_type_of(k) != CAIRN_KEYWORD)
            return ERR(s, ":transact/syntax", "Bad entity attribute %s: must be a keyword", show(k, b, sizeof b));
        if (is_reverse(k)) {
            cairn_val fwd;
            size_t n;
            if ((rc = forward_of(s, k, &fwd)) < 0 || (rc = attr_of(s, fwd, &a)) < 0)
                return rc;
            if (a->type != CAIRN_VT_REF)
                return ERR(s, ":transact/syntax", "Bad attribute %s: reverse attribute name requires "
                           "{:db/valueType :db.type/ref} in schema", cairn_ident_get(k, NULL));
            n = (cairn_type_of(v) == CAIRN_VECTOR || cairn_type_of(v) == CAIRN_LIST || cairn_type_of(v) == CAIRN_SET) &&
                        !(cairn_count(v) == 2 && cairn_type_of(cairn_coll_get(v, 0)) == CAIRN_KEYWORD)
                    ? cairn_count(v)
                    : 0;
            for (size_t j = 0; j < (n ? n : 1); j++) {
                cairn_val x = n ? cairn_coll_get(v, j) : v;
                op o;
                memset(&o, 0, sizeof o);
                o.kind = OP_ADD;
                o.from_map = 1;
                o.a = fwd;
                o.elem = elem;
                o.v_ref = 1;
                o.vref = e;
                if (cairn_type_of(x) == CAIRN_MAP)
                    rc = explode_map(s, x, elem, &o.e);
                else
                    rc = make_eref(s, x, &o.e, 1, "a reverse attribute value");
                if (rc < 0 || (rc = push_op(s, &o)) < 0)
                    return rc;
            }
            continue;
        }
        if ((rc = attr_of(s, k, &a)) < 0)
            return rc;
        if (a->many && is_multi(s, a, v)) {
            for (size_t j = 0; j < cairn_count(v); j++)
                if ((rc = map_value(s, &e, k, a, cairn_coll_get(v, j), elem)) < 0)
                    return rc;
        } else if ((rc = map_value(s, &e, k, a, v, elem)) < 0) {
            return rc;
        }
    }
    s->ops[alloc_at].map_end = s->nops;
    if (e_out)
        *e_out = e;
    return 0;
}

static int op_kind_of(cairn_val kw, int nargs, int *kind)
{
    if (IS_KW(kw, db_add))
        *kind = OP_ADD;
    else if (IS_KW(kw, db_retract))
        *kind = nargs == 3 ? OP_RETRACT : OP_RETRACT_ALL;
    else if (IS_KW(kw, db_retractEntity) || IS_KW(kw, db_fn_retractEntity))
        *kind = OP_RETRACT_ENTITY;
    else if (IS_KW(kw, db_fn_retractAttribute))
        *kind = OP_RETRACT_ATTRIBUTE;
    else if (IS_KW(kw, db_cas) || IS_KW(kw, db_fn_cas))
        *kind = OP_CAS;
    else
        return 0;
    return 1;
}

static int explode_vector(txs *s, cairn_val v, size_t elem)
{
    size_t n = cairn_count(v);
    cairn_val opkw = cairn_coll_get(v, 0);
    char b[128];
    int kind, rc, want;
    op o;
    if (n == 0 || cairn_type_of(opkw) != CAIRN_KEYWORD || !op_kind_of(opkw, (int)n - 1, &kind))
        return ERR(s, ":transact/syntax", "Unknown operation at tx-data element %zu: %s", elem,
                   show(n ? opkw : v, b, sizeof b));
    want = kind == OP_RETRACT_ENTITY ? 2 : kind == OP_RETRACT_ALL || kind == OP_RETRACT_ATTRIBUTE ? 3
         : kind == OP_CAS ? 5 : 4;
    if ((int)n != want)
        return ERR(s, ":transact/syntax", "Bad arity of %s: %s", cairn_ident_get(opkw, NULL), show(v, b, sizeof b));
    memset(&o, 0, sizeof o);
    o.kind = (uint8_t)kind;
    o.elem = elem;
    if ((rc = make_eref(s, cairn_coll_get(v, 1), &o.e, kind == OP_ADD, cairn_ident_get(opkw, NULL))) < 0)
        return rc;
    if (kind == OP_RETRACT_ENTITY)
        return push_op(s, &o);
    o.a = cairn_coll_get(v, 2);
    if (cairn_type_of(o.a) != CAIRN_KEYWORD)
        return ERR(s, ":transact/syntax", "Bad attribute in %s: %s", cairn_ident_get(opkw, NULL), show(v, b, sizeof b));
    if (kind == OP_RETRACT_ALL || kind == OP_RETRACT_ATTRIBUTE) {
        const cairn_attr *a;
        if (!is_reverse(o.a) && (rc = attr_of(s, o.a, &a)) < 0)
            return rc;
        return push_op(s, &o);
    }
    o.v = cairn_coll_get(v, kind == OP_CAS ? 4 : 3);
    if (kind == OP_CAS)
        o.old = cairn_coll_get(v, 3);
    if (cairn_type_of(o.v) == CAIRN_NIL)
        return ERR(s, ":transact/syntax", "Cannot store nil as a value: %s", show(v, b, sizeof b));
    if (is_reverse(o.a)) {
        /* [:db/add e :ns/_attr v] == [:db/add v :ns/attr e] */
        cairn_val fwd;
        eref tmp;
        const cairn_attr *a;
        if ((rc = forward_of(s, o.a, &fwd)) < 0 || (rc = attr_of(s, fwd, &a)) < 0)
            return rc;
        if (a->type != CAIRN_VT_REF)
            return ERR(s, ":transact/syntax", "Bad attribute %s: reverse attribute name requires "
                       "{:db/valueType :db.type/ref} in schema", cairn_ident_get(o.a, NULL));
        tmp = o.e;
        if ((rc = make_eref(s, o.v, &o.e, kind == OP_ADD, "a reverse attribute")) < 0)
            return rc;
        o.a = fwd;
        o.v_ref = 1;
        o.vref = tmp;
        return push_op(s, &o);
    }
    {
        const cairn_attr *a;
        if ((rc = attr_of(s, o.a, &a)) < 0)
            return rc;
        if (a->type == CAIRN_VT_REF) {
            o.v_ref = 1;
            if ((rc = make_eref(s, o.v, &o.vref, 1, "a ref value")) < 0)
                return rc;
            if (kind == OP_CAS && cairn_type_of(o.old) != CAIRN_NIL &&
                (rc = make_eref(s, o.old, &o.oldref, 0, ":db/cas")) < 0)
                return rc;
        }
    }
    return push_op(s, &o);
}

/* Attribute definitions made by maps of this transaction. */
static int collect_pending(txs *s, cairn_val tx_data)
{
    for (size_t i = 0; i < cairn_count(tx_data); i++) {
        cairn_val m = cairn_coll_get(tx_data, i), ident, idv;
        pending *p;
        int rc;
        if (cairn_type_of(m) != CAIRN_MAP || !cairn_map_get(&ident, m, KW(db_ident)) ||
            cairn_type_of(ident) != CAIRN_KEYWORD)
            continue;
        if (!cairn_map_get(NULL, m, KW(db_valueType)) && !cairn_map_get(NULL, m, KW(db_cardinality)) &&
            !cairn_map_get(NULL, m, KW(db_unique)))
            continue;  /* an ident only (e.g. an enum entity) */
        if (cairn_schema_by_ident(s->schema, ident) && !cairn_map_get(&idv, m, KW(db_id)))
            continue;  /* redefinition of an existing attribute: handled after apply */
        if (s->npend == s->cappend) {
            size_t cap = s->cappend ? s->cappend * 2 : 16;
            pending *q = cairn_realloc(s->pend, cairn_mul_size(cap, sizeof *q));
            if (!q)
                return CAIRN_ENOMEM;
            s->pend = q;
            s->cappend = cap;
        }
        p = &s->pend[s->npend];
        memset(p, 0, sizeof *p);
        p->ident = ident;
        p->map = m;
        if ((rc = cairn_attr_from_map(&p->def, 0, ident, m, s->schema->read_flex, s->err)) < 0) {
            if (rc == CAIRN_EINVALID)
                cairn_error_set(s->err, CAIRN_EINVALID, ":transact/schema", "%s", s->err ? s->err->message : "");
            return rc;
        }
        cairn_retain(p->def.ident);
        s->npend++;
    }
    return 0;
}

static int explode(txs *s, cairn_val tx_data, cairn_val tx_meta)
{
    char b[128];
    int rc;
    if (cairn_type_of(tx_data) != CAIRN_NIL && !cairn_val_is_seq(tx_data))
        return ERR(s, ":transact/syntax", "Bad transaction data %s, expected sequential collection",
                   show(tx_data, b, sizeof b));
    if ((rc = collect_pending(s, tx_data)) < 0)
        return rc;
    for (size_t i = 0; i < cairn_count(tx_data); i++) {
        cairn_val el = cairn_coll_get(tx_data, i);
        switch (cairn_type_of(el)) {
        case CAIRN_NIL:
            continue;
        case CAIRN_MAP:
            rc = explode_map(s, el, i, NULL);
            break;
        case CAIRN_VECTOR:
        case CAIRN_LIST:
            rc = explode_vector(s, el, i);
            break;
        default:
            rc = ERR(s, ":transact/syntax", "Bad entity type at tx-data element %zu: %s", i, show(el, b, sizeof b));
        }
        if (rc < 0)
            return rc;
    }
    if (cairn_type_of(tx_meta) == CAIRN_MAP && s->db->ctx->keep_history) {
        /* Datahike writes transaction metadata only with history on */
        for (size_t i = 0; i < cairn_count(tx_meta); i++) {
            cairn_val k = cairn_map_key_get(tx_meta, i), v = cairn_map_val_get(tx_meta, i);
            const cairn_attr *a;
            eref e;
            memset(&e, 0, sizeof e);
            e.kind = ER_TX;
            if (IS_KW(k, db_txInstant))
                continue;  /* handled when the instant is chosen */
            if (cairn_type_of(k) != CAIRN_KEYWORD)
                return ERR(s, ":transact/syntax", "Bad transaction meta attribute %s", show(k, b, sizeof b));
            if ((rc = attr_of(s, k, &a)) < 0) {
                if (rc == CAIRN_EINVALID && s->err)
                    cairn_error_prefix(s->err, "Bad transaction meta attribute");
                return rc;
            }
            if (a->many && is_multi(s, a, v)) {
                for (size_t j = 0; j < cairn_count(v); j++)
                    if ((rc = map_value(s, &e, k, a, cairn_coll_get(v, j), SIZE_MAX)) < 0)
                        return rc;
            } else if ((rc = map_value(s, &e, k, a, v, SIZE_MAX)) < 0) {
                return rc;
            }
        }
    } else if (cairn_type_of(tx_meta) != CAIRN_NIL && cairn_type_of(tx_meta) != CAIRN_MAP) {
        return ERR(s, ":transact/syntax", "Bad transaction metadata %s, expected a map", show(tx_meta, b, sizeof b));
    }
    return 0;
}

/* ---- resolution ------------------------------------------------------------------------ */

/* Encodes v for attribute a into buf (after type checks). */
static int encode_value(txs *s, const cairn_attr *a, cairn_val v, cairn_buf *buf)
{
    char b[128];
    int rc;
    cairn_buf_clear(buf);
    if (cairn_type_of(v) == CAIRN_NIL)
        return ERR(s, ":transact/syntax", "Cannot store nil as a value of %s", cairn_ident_get(a->ident, NULL));
    if (!cairn_vt_check(a->type, v))
        return ERR(s, ":transact/schema", "Bad entity value %s at :%s, value does not match schema definition. "
                   "Must be conform to: %s%s", show(v, b, sizeof b), cairn_ident_get(a->ident, NULL), a->type ? ":" : "",
                   a->type ? cairn_ident_get(cairn_vt_kw(a->type), NULL) : "any value");
    if ((rc = cairn_key_put_value(buf, v)) < 0)
        return rc == CAIRN_EINVALID ? ERR(s, ":transact/schema", "Bad entity value %s", show(v, b, sizeof b)) : rc;
    return 0;
}

struct first_e {
    int64_t e;  /* the entity found, 0 if none */
};

static int first_e_cb(int64_t e, void *payload)
{
    ((struct first_e *)payload)->e = e;
    return 1;
}

/* Entity holding unique (a, v) now, or 0. */
static int unique_owner(txs *s, const cairn_attr *a, const uint8_t *v, size_t len, int64_t *out)
{
    struct first_e f = { 0 };
    int rc = cairn_txstate_entities_with(&s->st, a, v, len, first_e_cb, &f);
    if (rc < 0)
        return rc;
    *out = f.e;
    return 0;
}

static int resolve_eref(txs *s, eref *r, int64_t *out);
static int slot_bind(txs *s, size_t i, int64_t *out);

/* Resolves a lookup ref [attr value] against the current state. */
static int resolve_lookup(txs *s, cairn_val ref, int64_t *out)
{
    cairn_val akw = cairn_coll_get(ref, 0), v = cairn_coll_get(ref, 1);
    const cairn_attr *a;
    char b[128];
    int rc;
    if ((a = cairn_schema_by_ident(s->schema, akw)) == NULL)
        return ERR(s, ":lookup-ref/syntax", "Lookup ref attribute %s is not defined", show(akw, b, sizeof b));
    if (!a->unique)
        return ERR(s, ":lookup-ref/unique", "Lookup ref attribute should be marked as :db/unique: %s",
                   show(ref, b, sizeof b));
    if (a->type == CAIRN_VT_REF) {
        eref inner;
        int64_t id;
        if ((rc = make_eref(s, v, &inner, 0, "a lookup ref")) < 0 || (rc = resolve_eref(s, &inner, &id)) < 0)
            return rc;
        v = cairn_int(id);
    }
    if (cairn_type_of(v) == CAIRN_NIL) {
        *out = 0;
        return 0;
    }
    if ((rc = encode_value(s, a, v, &s->enc2)) < 0)
        return rc;
    return unique_owner(s, a, (uint8_t *)s->enc2.ptr, s->enc2.len, out);
}

/* Resolves any eref to an id (0: names nothing). */
static int resolve_eref(txs *s, eref *r, int64_t *out)
{
    char b[128];
    int rc;
    switch (r->kind) {
    case ER_ID:
        *out = r->id;
        return 0;
    case ER_TX:
        *out = s->tx;
        return 0;
    case ER_SLOT:
        return slot_bind(s, (size_t)r->id, out);
    case ER_IDENT: {
        const cairn_attr *ia = cairn_schema_by_id(s->schema, CAIRN_SYS_ID(CAIRN_SYS_IDENT));
        cairn_buf_clear(&s->enc2);
        if ((rc = cairn_key_put_value(&s->enc2, r->val)) < 0)
            return rc;
        if ((rc = unique_owner(s, ia, (uint8_t *)s->enc2.ptr, s->enc2.len, out)) < 0)
            return rc;
        if (!*out) {
            /* an attribute has an id even when it is implicit */
            const cairn_attr *a = cairn_schema_by_ident(s->schema, r->val);
            if (a)
                *out = a->id;
        }
        if (!*out)
            return ERR(s, ":entity-id/missing", "Nothing found for entity id %s", show(r->val, b, sizeof b));
        return 0;
    }
    case ER_LOOKUP:
        if ((rc = resolve_lookup(s, r->val, out)) < 0)
            return rc;
        if (!*out)
            return ERR(s, ":entity-id/missing", "Nothing found for entity id %s", show(r->val, b, sizeof b));
        return 0;
    default:
        *out = 0;
        return 0;
    }
}

/* The value of op o, with refs resolved (binding new tempids). */
static int op_value(txs *s, op *o, cairn_val *out)
{
    int64_t id;
    int rc;
    if (!o->v_ref) {
        *out = o->v;
        return 0;
    }
    if ((rc = resolve_eref(s, &o->vref, &id)) < 0)
        return rc;
    *out = id ? cairn_int(id) : cairn_nil();
    return 0;
}

/* Binds slot i to a new entity id unless it is bound already. */
static int slot_bind(txs *s, size_t i, int64_t *out)
{
    slot *sl = &s->slots[i];
    if (!sl->eid) {
        if (sl->upsert) {
            sl->eid = sl->upsert;
        } else {
            int64_t id = cairn_id_next_entity(s->max_eid);
            if (!id)
                return cairn_error_set(s->err, CAIRN_ELIMIT, ":transact/limit", "entity ids exhausted");
            s->max_eid = id;
            sl->eid = id;
            sl->is_new = 1;
        }
    }
    *out = sl->eid;
    return 0;
}

/*
 * Slot i's identity value says it is entity owner. Unbound: it becomes
 * owner. Bound to a new id by an earlier operation: the transaction starts
 * over with the slot bound to owner from the beginning (Datahike's
 * retry-with-tempid). Bound to another existing entity: a conflict.
 */
static int slot_upsert(txs *s, size_t i, int64_t owner, const cairn_attr *a)
{
    slot *sl = &s->slots[i];
    char b[128];
    if (!sl->eid) {
        sl->eid = owner;
        return 0;
    }
    if (sl->eid == owner)
        return 0;
    if (sl->is_new && !sl->upsert) {
        sl->upsert = owner;
        return RESTART;
    }
    return ERR(s, ":transact/upsert", "Conflicting upserts: %s resolves to %lld and %lld (through %s)",
               cairn_type_of(sl->key) == CAIRN_NIL ? "an entity map" : show(sl->key, b, sizeof b),
               (long long)sl->eid, (long long)owner, cairn_ident_get(a->ident, NULL));
}

/* Entity holding the identity value of op o now (0 if none, or not identity). */
static int identity_owner(txs *s, op *o, const cairn_attr **attr_out, int64_t *owner)
{
    const cairn_attr *a = cairn_schema_by_ident(s->schema, o->a);
    cairn_val v;
    int rc;
    *owner = 0;
    *attr_out = a;
    if (!a || a->unique != CAIRN_UNIQUE_IDENTITY || o->kind != OP_ADD)
        return 0;
    if (o->v_ref && o->vref.kind == ER_SLOT && !s->slots[o->vref.id].eid)
        return 0;  /* the value is an entity not made yet: nothing can own it */
    if ((rc = op_value(s, o, &v)) < 0)
        return rc;
    if (cairn_type_of(v) == CAIRN_NIL || (rc = encode_value(s, a, v, &s->enc)) < 0)
        return rc;
    return unique_owner(s, a, (uint8_t *)s->enc.ptr, s->enc.len, owner);
}

/* The composite tuple identities a map gives completely. */
static int map_composite_owner(txs *s, const op *alloc, int64_t *owner, const cairn_attr **via)
{
    *owner = 0;
    for (size_t ai = 0; ai < s->schema->count && !*owner; ai++) {
        const cairn_attr *t = s->schema->attrs[ai];
        cairn_val tuple;
        size_t n, found = 0;
        int rc;
        if (t->unique != CAIRN_UNIQUE_IDENTITY || cairn_type_of(t->tuple_attrs) == CAIRN_NIL)
            continue;
        n = cairn_count(t->tuple_attrs);
        if ((rc = cairn_vector_new(&tuple, n)) < 0)
            return rc;
        for (size_t k = 0; k < n; k++) {
            cairn_val comp = cairn_coll_get(t->tuple_attrs, k), v = cairn_nil();
            for (size_t i = (size_t)(alloc - s->ops) + 1; i < alloc->map_end; i++) {
                op *o = &s->ops[i];
                if (o->kind == OP_ADD && o->e.kind == alloc->e.kind && o->e.id == alloc->e.id && !o->v_ref &&
                    cairn_equal(o->a, comp)) {
                    v = o->v;
                    found++;
                    break;
                }
            }
            if ((rc = cairn_coll_push(&tuple, v)) < 0) {
                cairn_release(tuple);
                return rc;
            }
        }
        if (found == n) {
            cairn_buf_clear(&s->enc);
            rc = cairn_key_put_value(&s->enc, tuple);
            if (rc == 0)
                rc = unique_owner(s, t, (uint8_t *)s->enc.ptr, s->enc.len, owner);
            *via = t;
        }
        cairn_release(tuple);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* Attributes defined by this map become part of the schema, with its id. */
static int install_pending_for(txs *s, cairn_val map, int64_t id)
{
    int rc;
    for (size_t i = 0; i < s->npend; i++) {
        pending *p = &s->pend[i];
        const char *ns;
        size_t ns_len = 0;
        if (p->map.u_.p != map.u_.p || p->def.id)
            continue;
        if (!cairn_id_is_entity(id))
            return ERR(s, ":transact/schema", "Attribute %s needs an entity id", cairn_ident_get(p->ident, NULL));
        ns = cairn_namespace_get(p->ident, &ns_len);
        if (ns && (ns_len == 2 ? !memcmp(ns, "db", 2) : ns_len > 3 && !memcmp(ns, "db.", 3)))
            return ERR(s, ":transact/schema", "Using namespace 'db' for attribute identifiers is not allowed: %s",
                       cairn_ident_get(p->ident, NULL));
        if ((rc = schema_private(s)) < 0)
            return rc;
        p->def.id = id;
        if ((rc = cairn_schema_put(s->schema, &p->def)) < 0)
            return rc;
    }
    return 0;
}

/*
 * OP_ALLOC: binds a map's entity before its datoms, upserting when one of
 * its identity values (or a composite identity it gives whole) exists.
 */
static int apply_alloc(txs *s, op *alloc)
{
    int64_t id = 0, owner;
    const cairn_attr *a;
    int rc;
    if (alloc->e.kind == ER_SLOT) {
        size_t slot_i = (size_t)alloc->e.id;
        for (size_t i = (size_t)(alloc - s->ops) + 1; i < alloc->map_end; i++) {
            op *o = &s->ops[i];
            if (o->e.kind != ER_SLOT || (size_t)o->e.id != slot_i)
                continue;
            if ((rc = identity_owner(s, o, &a, &owner)) < 0)
                return rc;
            if (owner && (rc = slot_upsert(s, slot_i, owner, a)) != 0)
                return rc;
        }
        if (!s->slots[slot_i].eid) {
            if ((rc = map_composite_owner(s, alloc, &owner, &a)) < 0)
                return rc;
            if (owner && (rc = slot_upsert(s, slot_i, owner, a)) != 0)
                return rc;
        }
        if ((rc = slot_bind(s, slot_i, &id)) < 0)
            return rc;
    } else if (alloc->e.kind != ER_TX) {
        if ((rc = resolve_eref(s, &alloc->e, &id)) < 0)
            return rc;
        /* a map naming its entity must not upsert to another one: checked
         * when its identity datoms are asserted (assert_datom_op) */
    }
    return install_pending_for(s, alloc->v, id);
}

/* Explicit ids in e position: must be entity ids; they raise max_eid. */
static int check_explicit_ids(txs *s)
{
    for (size_t i = 0; i < s->nops; i++) {
        op *o = &s->ops[i];
        int64_t id = o->e.kind == ER_ID ? o->e.id : 0;
        if (!id)
            continue;
        if (!cairn_id_is_entity(id) && !cairn_id_is_tx(id) && !cairn_id_is_implicit_attr(id))
            return ERR(s, ":entity-id/syntax", "Entity id %lld is out of range", (long long)id);
        if (cairn_id_is_entity(id) && (o->kind == OP_ADD || o->kind == OP_ALLOC) && id > s->max_eid)
            s->max_eid = id;
    }
    return 0;
}

/* ---- apply ---------------------------------------------------------------------------------- */

static int report(txs *s, int64_t e, int64_t a, cairn_val v, int added)
{
    if (s->nrep == s->caprep) {
        size_t cap = s->caprep ? s->caprep * 2 : 64;
        cairn_report_datom *p = cairn_realloc(s->rep, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        s->rep = p;
        s->caprep = cap;
    }
    s->rep[s->nrep].e = e;
    s->rep[s->nrep].a = a;
    s->rep[s->nrep].v = cairn_retain(v);
    s->rep[s->nrep].tx = s->tx;
    s->rep[s->nrep].added = (uint8_t)added;
    s->nrep++;
    return 0;
}

/* 1 when the schema has composite tuples (cached per schema version). */
static int has_tuples(txs *s)
{
    if (s->tuples_schema != s->schema || s->tuples_version != s->schema->version) {
        s->tuples_schema = s->schema;
        s->tuples_version = s->schema->version;
        s->tuples = 0;
        for (size_t i = 0; i < s->schema->count && !s->tuples; i++)
            s->tuples = cairn_type_of(s->schema->attrs[i]->tuple_attrs) != CAIRN_NIL;
    }
    return s->tuples;
}

/* Notes that e changed: composite tuples and schema entities need a look. */
static int touch(txs *s, int64_t e, const cairn_attr *a)
{
    int rc = 0;
    if (has_tuples(s) && (rc = cairn_coll_push(&s->touched, cairn_int(e))) == CAIRN_EEXISTS)
        rc = 0;
    if (rc == 0 && a->system && a->id != CAIRN_SYS_ID(CAIRN_SYS_TX_INSTANT)) {
        rc = cairn_coll_push(&s->schema_touched, cairn_int(e));
        if (rc == CAIRN_EEXISTS)
            rc = 0;
    }
    return rc;
}

/* Retracts value i of en: state, report. */
static int retract_value(txs *s, cairn_ea_entry *en, size_t i, const cairn_attr *a)
{
    cairn_val v;
    int rc;
    if (!en->vals[i].present)
        return 0;
    if ((rc = cairn_key_get_value(&v, cairn_txstate_vbytes(&s->st, en, i), en->vals[i].len)) < 0)
        return rc;
    cairn_txstate_remove(&s->st, en, i);
    rc = report(s, en->e, en->a, v, 0);
    cairn_release(v);
    if (rc == 0)
        rc = touch(s, en->e, a);
    return rc;
}

static int retract_entity(txs *s, int64_t e, int depth);

/* Retracts every value of (e, a); cascade: also component children. */
static int retract_all(txs *s, int64_t e, const cairn_attr *a, int cascade, int depth)
{
    cairn_ea_entry *en;
    int rc = cairn_txstate_ea(&s->st, e, a->id, &en);
    for (size_t i = 0; rc == 0 && i < en->count; i++) {
        if (!en->vals[i].present)
            continue;
        if (cascade && a->component) {
            cairn_val child;
            if ((rc = cairn_key_get_value(&child, cairn_txstate_vbytes(&s->st, en, i), en->vals[i].len)) < 0)
                return rc;
            if ((rc = retract_value(s, en, i, a)) < 0)
                return rc;
            rc = retract_entity(s, cairn_int_value(child), depth + 1);
        } else {
            rc = retract_value(s, en, i, a);
        }
    }
    return rc;
}

struct retract_ctx {
    txs *s;       /* state */
    int depth;    /* component nesting */
};

static int retract_entry_cb(cairn_ea_entry *en, void *payload)
{
    struct retract_ctx *r = payload;
    const cairn_attr *a = cairn_schema_by_id(r->s->schema, en->a);
    if (!a)
        return CAIRN_CORRUPT_BKPT;
    return retract_all(r->s, en->e, a, 1, r->depth);
}

struct referrer_ctx {
    txs *s;                 /* state */
    const cairn_attr *a;    /* ref attribute */
    int64_t target;         /* entity being retracted */
};

static int referrer_cb(int64_t referrer, void *payload)
{
    struct referrer_ctx *r = payload;
    cairn_ea_entry *en;
    cairn_buf v = CAIRN_BUF_INIT;
    long i;
    int rc = cairn_txstate_ea(&r->s->st, referrer, r->a->id, &en);
    if (rc == 0)
        rc = cairn_key_put_value(&v, cairn_int(r->target));
    if (rc == 0 && (i = cairn_txstate_find(&r->s->st, en, (uint8_t *)v.ptr, v.len)) >= 0)
        rc = retract_value(r->s, en, (size_t)i, r->a);
    cairn_buf_dispose(&v);
    return rc;
}

static int retract_entity(txs *s, int64_t e, int depth)
{
    struct retract_ctx rc_ = { s, depth };
    int rc;
    if (depth > 10000)
        return ERR(s, ":transact/syntax", "component nesting too deep while retracting %lld", (long long)e);
    /* incoming references first, then the entity's own datoms */
    for (size_t i = 0; i < s->schema->count; i++) {
        const cairn_attr *a = s->schema->attrs[i];
        struct referrer_ctx r = { s, a, e };
        if (a->type != CAIRN_VT_REF)
            continue;
        if ((rc = cairn_txstate_referrers(&s->st, e, a, referrer_cb, &r)) < 0)
            return rc;
    }
    return cairn_txstate_entity(&s->st, e, retract_entry_cb, &rc_);
}

/* Checks a tuple value against its attribute's tuple type(s). */
static int check_tuple(txs *s, const cairn_attr *a, cairn_val v)
{
    size_t n = cairn_count(v);
    char b[128];
    if (cairn_type_of(a->tuple_attrs) != CAIRN_NIL)
        return ERR(s, ":transact/syntax", "Can't modify tuple attrs directly: %s", cairn_ident_get(a->ident, NULL));
    if (cairn_type_of(a->tuple_type) != CAIRN_NIL) {
        int t = cairn_vt_from_kw(a->tuple_type);
        if (n > 8)
            return ERR(s, ":transact/syntax", "Cannot store more than 8 values for homogeneous tuple: %s",
                       show(v, b, sizeof b));
        for (size_t i = 0; i < n; i++) {
            cairn_val x = cairn_coll_get(v, i);
            if (cairn_type_of(x) != CAIRN_NIL && !cairn_vt_check((cairn_vt)t, x))
                return ERR(s, ":transact/syntax", "Cannot store homogeneous tuple with values of wrong type: %s",
                           show(v, b, sizeof b));
        }
    }
    if (cairn_type_of(a->tuple_types) != CAIRN_NIL) {
        if (n != cairn_count(a->tuple_types))
            return ERR(s, ":transact/syntax", "Cannot store heterogeneous tuple: expecting %zu values, got %s",
                       cairn_count(a->tuple_types), show(v, b, sizeof b));
        for (size_t i = 0; i < n; i++) {
            cairn_val x = cairn_coll_get(v, i);
            int t = cairn_vt_from_kw(cairn_coll_get(a->tuple_types, i));
            if (cairn_type_of(x) != CAIRN_NIL && !cairn_vt_check((cairn_vt)t, x))
                return ERR(s, ":transact/syntax", "Cannot store heterogeneous tuple: value %s does not match %s",
                           show(x, b, sizeof b), cairn_ident_get(cairn_coll_get(a->tuple_types, i), NULL));
        }
    }
    return 0;
}

struct dup_ctx {
    int64_t self;     /* the entity asserting */
    int64_t other;    /* another entity holding the value, 0 if none */
};

static int dup_cb(int64_t e, void *payload)
{
    struct dup_ctx *d = payload;
    if (e == d->self)
        return 0;
    d->other = e;
    return 1;
}

/* Asserts (e, a, v): uniqueness, cardinality one, state, report. A map
 * naming its entity whose identity value belongs to another entity is an
 * upsert conflict (map_id), elsewhere a uniqueness violation. */
static int assert_datom_op(txs *s, int64_t e, const cairn_attr *a, cairn_val v, int do_report, int map_id)
{
    cairn_ea_entry *en;
    char b[128];
    long i;
    int rc;
    if ((rc = encode_value(s, a, v, &s->enc)) < 0)
        return rc;
    if (a->unique) {
        struct dup_ctx d = { e, 0 };
        if ((rc = cairn_txstate_entities_with(&s->st, a, (uint8_t *)s->enc.ptr, s->enc.len, dup_cb, &d)) < 0)
            return rc;
        if (d.other && map_id && a->unique == CAIRN_UNIQUE_IDENTITY)
            return ERR(s, ":transact/upsert", "Conflicting upsert: [:%s %s] resolves to %lld, but entity id is %lld",
                       cairn_ident_get(a->ident, NULL), show(v, b, sizeof b), (long long)d.other, (long long)e);
        if (d.other)
            return ERR(s, ":transact/unique", "Cannot add #datahike/Datom [%lld %s %s %lld true] because of unique "
                       "constraint: %lld already has it", (long long)e, cairn_ident_get(a->ident, NULL),
                       show(v, b, sizeof b), (long long)s->tx, (long long)d.other);
    }
    if ((rc = cairn_txstate_ea(&s->st, e, a->id, &en)) < 0)
        return rc;
    i = cairn_txstate_find(&s->st, en, (uint8_t *)s->enc.ptr, s->enc.len);
    if (!a->many) {
        for (size_t j = 0; j < en->count; j++)
            if ((long)j != i && en->vals[j].present)
                cairn_txstate_remove(&s->st, en, j);  /* overwrite: not reported, as in Datahike */
    }
    if (i < 0 || !en->vals[i].present)
        if ((rc = cairn_txstate_add(&s->st, en, (uint8_t *)s->enc.ptr, s->enc.len, cairn_attr_avet(a))) < 0)
            return rc;
    if (do_report && (rc = report(s, e, a->id, v, 1)) < 0)
        return rc;
    return touch(s, e, a);
}

static int assert_datom(txs *s, int64_t e, const cairn_attr *a, cairn_val v, int do_report)
{
    return assert_datom_op(s, e, a, v, do_report, 0);
}

static int apply_op(txs *s, op *o)
{
    const cairn_attr *a = NULL;
    int64_t e;
    cairn_val v;
    char b[128];
    int rc;
    if (o->kind == OP_ALLOC)
        return apply_alloc(s, o);
    if (o->kind == OP_ADD && o->e.kind == ER_SLOT && !o->from_map) {
        /* [:db/add tempid identity-attr v] upserts */
        int64_t owner;
        if ((rc = identity_owner(s, o, &a, &owner)) < 0)
            return rc;
        if (owner && (rc = slot_upsert(s, (size_t)o->e.id, owner, a)) != 0)
            return rc;
    }
    if (o->kind != OP_ADD && (o->e.kind == ER_LOOKUP || o->e.kind == ER_IDENT)) {
        /* retracting through a lookup ref that names nothing does nothing */
        cairn_error tmp = CAIRN_ERROR_INIT, *keep = s->err;
        s->err = &tmp;
        rc = resolve_eref(s, &o->e, &e);
        s->err = keep;
        if (rc == CAIRN_EINVALID && !strcmp(tmp.keyword, ":entity-id/missing"))
            return 0;
        if (rc < 0) {
            cairn_error_copy(s->err, &tmp);
            return rc;
        }
    } else if ((rc = resolve_eref(s, &o->e, &e)) < 0) {
        return rc;
    }
    if (o->kind == OP_RETRACT_ENTITY)
        return e ? retract_entity(s, e, 0) : 0;
    if ((rc = attr_of(s, o->a, &a)) < 0)
        return rc;
    if (!a->id)
        return ERR(s, ":transact/schema", "Attribute %s is used before the map defining it", cairn_ident_get(a->ident, NULL));
    switch (o->kind) {
    case OP_ADD:
        if ((rc = op_value(s, o, &v)) < 0)
            return rc;
        if (a->type == CAIRN_VT_TUPLE && (rc = check_tuple(s, a, v)) < 0)
            return rc;
        if (a->type == CAIRN_VT_REF && cairn_type_of(v) == CAIRN_NIL)
            return ERR(s, ":entity-id/missing", "Nothing found for entity id %s", show(o->v, b, sizeof b));
        return assert_datom_op(s, e, a, v, 1, o->from_map && (o->e.kind == ER_ID || o->e.kind == ER_LOOKUP ||
                                                            o->e.kind == ER_IDENT));
    case OP_RETRACT:
        if (!e)
            return 0;
        if ((rc = op_value(s, o, &v)) < 0)
            return rc;
        if (cairn_type_of(v) == CAIRN_NIL)
            return 0;
        {
            cairn_ea_entry *en;
            long i;
            if ((rc = encode_value(s, a, v, &s->enc)) < 0 || (rc = cairn_txstate_ea(&s->st, e, a->id, &en)) < 0)
                return rc;
            i = cairn_txstate_find(&s->st, en, (uint8_t *)s->enc.ptr, s->enc.len);
            return i >= 0 ? retract_value(s, en, (size_t)i, a) : 0;
        }
    case OP_RETRACT_ALL:
        return e ? retract_all(s, e, a, 0, 0) : 0;
    case OP_RETRACT_ATTRIBUTE:
        return e ? retract_all(s, e, a, 1, 0) : 0;
    case OP_CAS: {
        cairn_ea_entry *en;
        cairn_val old = o->old;
        int matched = 0, any = 0;
        if (!e)
            return ERR(s, ":entity-id/missing", "Nothing found for entity id in :db/cas");
        if (o->oldref.kind != ER_NONE) {
            int64_t id;
            if ((rc = resolve_eref(s, &o->oldref, &id)) < 0)
                return rc;
            old = cairn_int(id);
        }
        if ((rc = cairn_txstate_ea(&s->st, e, a->id, &en)) < 0)
            return rc;
        if (cairn_type_of(old) != CAIRN_NIL && (rc = encode_value(s, a, old, &s->enc)) < 0)
            return rc;
        for (size_t j = 0; j < en->count; j++) {
            if (!en->vals[j].present)
                continue;
            any = 1;
            if (cairn_type_of(old) != CAIRN_NIL && en->vals[j].len == s->enc.len &&
                !memcmp(cairn_txstate_vbytes(&s->st, en, j), s->enc.ptr, s->enc.len))
                matched = 1;
        }
        if (cairn_type_of(old) == CAIRN_NIL ? any : !matched)
            return cairn_error_set(s->err, CAIRN_EINVALID, ":transact/cas",
                                   ":db.fn/cas failed on datom [%lld %s ...], expected %s", (long long)e,
                                   cairn_ident_get(a->ident, NULL), show(old, b, sizeof b));
        if ((rc = op_value(s, o, &v)) < 0)
            return rc;
        return assert_datom(s, e, a, v, 1);
    }
    default:
        return ERR(s, ":transact/syntax", "Unknown operation");
    }
}

/* ---- composite tuples and schema changes ----------------------------------------------------- */

/* Current single value of (e, a) decoded, or nil. */
static int current_value(txs *s, int64_t e, int64_t a, cairn_val *out)
{
    cairn_ea_entry *en;
    int rc = cairn_txstate_ea(&s->st, e, a, &en);
    *out = cairn_nil();
    for (size_t j = 0; rc == 0 && j < en->count; j++)
        if (en->vals[j].present)
            return cairn_key_get_value(out, cairn_txstate_vbytes(&s->st, en, j), en->vals[j].len);
    return rc;
}

static int update_tuples(txs *s)
{
    for (size_t ai = 0; ai < s->schema->count; ai++) {
        const cairn_attr *t = s->schema->attrs[ai];
        size_t n;
        if (cairn_type_of(t->tuple_attrs) == CAIRN_NIL)
            continue;
        n = cairn_count(t->tuple_attrs);
        for (size_t ei = 0; ei < cairn_count(s->touched); ei++) {
            int64_t e = cairn_int_value(cairn_coll_get(s->touched, ei));
            cairn_val tuple, cur;
            int any = 0, rc;
            if ((rc = cairn_vector_new(&tuple, n)) < 0)
                return rc;
            for (size_t k = 0; k < n; k++) {
                const cairn_attr *c = cairn_schema_by_ident(s->schema, cairn_coll_get(t->tuple_attrs, k));
                cairn_val v = cairn_nil();
                if (c && (rc = current_value(s, e, c->id, &v)) < 0) {
                    cairn_release(tuple);
                    return rc;
                }
                any |= cairn_type_of(v) != CAIRN_NIL;
                if ((rc = cairn_coll_push_take(&tuple, v)) < 0) {
                    cairn_release(tuple);
                    return rc;
                }
            }
            if ((rc = current_value(s, e, t->id, &cur)) < 0) {
                cairn_release(tuple);
                return rc;
            }
            if (any && !cairn_equal(cur, tuple))
                rc = assert_datom(s, e, t, tuple, 1);
            else if (!any && cairn_type_of(cur) != CAIRN_NIL)
                rc = retract_all(s, e, t, 0, 0);
            cairn_release(cur);
            cairn_release(tuple);
            if (rc < 0)
                return rc;
        }
    }
    return 0;
}

/* Datoms of attribute id in db-before. */
static int attr_count(txs *s, int64_t id, uint64_t *out)
{
    uint8_t prefix[CAIRN_KEY_U_MAX];
    size_t n = cairn_key_u(prefix, (uint64_t)id);
    return cairn_db__count_prefix(s->db, CAIRN_IX_AEVT, prefix, n, out);
}

struct multi_check {
    int64_t last_e;   /* entity of the previous datom */
    int found;        /* an entity with two values */
};

static int multi_cb(const cairn_raw_datom *d, void *payload)
{
    struct multi_check *m = payload;
    if (d->e == m->last_e) {
        m->found = 1;
        return 1;
    }
    m->last_e = d->e;
    return 0;
}

/*
 * Datahike's rules for changing an attribute that may hold data: value type
 * and tuple definitions only while it is empty; cardinality many -> one only
 * when no entity holds two values; joining or leaving the AVET index only
 * while empty (cairn does not backfill an index, as Datahike without
 * :allow-index-backfill?). Docs, components, history and renames are free.
 */
static int check_evolution(txs *s, const cairn_attr *old, const cairn_attr *def)
{
    const char *name = cairn_ident_get(def->ident, NULL);
    uint64_t n = 0;
    int rc;
    if ((rc = attr_count(s, old->id, &n)) < 0)
        return rc;
    if (!n)
        return 0;
    if (old->type != def->type)
        return ERR(s, ":transact/schema", "Update of :db/valueType of :%s is not allowed: it holds %llu datoms", name,
                   (unsigned long long)n);
    if (!cairn_equal(old->tuple_attrs, def->tuple_attrs) || !cairn_equal(old->tuple_type, def->tuple_type) ||
        !cairn_equal(old->tuple_types, def->tuple_types))
        return ERR(s, ":transact/schema", "Update of the tuple definition of :%s is not allowed: it holds data", name);
    if (cairn_attr_avet(old) != cairn_attr_avet(def))
        return ERR(s, ":transact/schema",
                   "Update of :db/unique or :db/index of :%s needs an index backfill, which cairn does not do on "
                   "an attribute with data", name);
    if (old->many && !def->many) {
        uint8_t prefix[CAIRN_KEY_U_MAX];
        size_t len = cairn_key_u(prefix, (uint64_t)old->id);
        struct multi_check m = { -1, 0 };
        if ((rc = cairn_db__scan_prefix(s->db, CAIRN_IX_AEVT, prefix, len, multi_cb, &m)) < 0)
            return rc;
        if (m.found)
            return ERR(s, ":transact/schema",
                       "Update of :db/cardinality of :%s to one is not allowed: an entity has several values", name);
    }
    return 0;
}

/* Rebuilds the definition of every entity whose schema datoms changed. */
static int update_schema(txs *s)
{
    int rc;
    for (size_t i = 0; i < cairn_count(s->schema_touched); i++) {
        int64_t e = cairn_int_value(cairn_coll_get(s->schema_touched, i));
        cairn_val ident, map, v;
        cairn_attr def;
        const cairn_attr *old;
        if ((rc = current_value(s, e, CAIRN_SYS_ID(CAIRN_SYS_IDENT), &ident)) < 0)
            return rc;
        if ((rc = schema_private(s)) < 0)
            return rc;
        if (cairn_type_of(ident) == CAIRN_NIL) {
            if (cairn_schema_by_id(s->schema, e))
                cairn_schema_remove(s->schema, e);
            continue;
        }
        if ((rc = cairn_map_new(&map, 12)) < 0)
            return rc;
        for (int k = 0; k < CAIRN_SYS_COUNT_ && rc == 0; k++) {
            const cairn_attr *sa = cairn_schema_by_id(s->schema, CAIRN_SYS_ID(k));
            if (k == CAIRN_SYS_TX_INSTANT)
                continue;
            if ((rc = current_value(s, e, CAIRN_SYS_ID(k), &v)) == 0 && cairn_type_of(v) != CAIRN_NIL)
                rc = cairn_map_put(&map, sa->ident, v);
            cairn_release(v);
        }
        if (rc == 0 && !cairn_map_get(NULL, map, KW(db_valueType)) && !cairn_map_get(NULL, map, KW(db_cardinality))) {
            /* an ident without attribute properties: an enum entity, not an attribute */
            cairn_release(map);
            continue;
        }
        if (rc == 0)
            rc = cairn_attr_from_map(&def, e, ident, map, s->schema->read_flex, s->err);
        cairn_release(map);
        if (rc < 0) {
            if (rc == CAIRN_EINVALID && s->err)
                memcpy(s->err->keyword, ":transact/schema", sizeof ":transact/schema");
            return rc;
        }
        old = cairn_schema_by_id(s->schema, e);
        if (old && old->declared && (rc = check_evolution(s, old, &def)) < 0) {
            cairn_attr_dispose(&def);
            return rc;
        }
        rc = cairn_schema_put(s->schema, &def);
        cairn_attr_dispose(&def);
        if (rc < 0)
            return rc;
    }
    return 0;
}

/* ---- output ----------------------------------------------------------------------------------- */

static int add_change(cairn_tx_out *out, size_t *cap, const cairn_change *c)
{
    if (out->change_count == *cap) {
        size_t n = *cap ? *cap * 2 : 256;
        cairn_change *p = cairn_realloc(out->changes, cairn_mul_size(n, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        out->changes = p;
        *cap = n;
    }
    out->changes[out->change_count++] = *c;
    return 0;
}

struct collect {
    txs *s;              /* state */
    cairn_tx_out *out;   /* where changes go */
    size_t cap;          /* room in out->changes */
};

static int collect_entry(txs *s, cairn_ea_entry *en, struct collect *col)
{
    const cairn_attr *a = cairn_schema_by_id(s->schema, en->a);
    int history = s->db->ctx->keep_history && a && !a->no_history;
    int rc;
    for (size_t i = 0; i < en->count; i++) {
        cairn_ea_val *x = &en->vals[i];
        int del = x->in_base && (!x->present || x->readded);
        int add = x->present && (!x->in_base || x->readded);
        cairn_change c;
        if (!del && !add)
            continue;
        memset(&c, 0, sizeof c);
        c.e = en->e;
        c.a = en->a;
        c.avet = (uint8_t)(a && cairn_attr_avet(a));
        c.v_off = col->out->values.len;
        c.v_len = x->len;
        if (cairn_buf_put(&col->out->values, cairn_txstate_vbytes(&s->st, en, i), x->len) < 0)
            return CAIRN_ENOMEM;
        if (del) {
            c.add = 0;
            c.tx = x->base_tx;
            c.history = (uint8_t)history;
            if ((rc = add_change(col->out, &col->cap, &c)) < 0)
                return rc;
        }
        if (add) {
            c.add = 1;
            c.tx = s->tx;
            c.history = 0;
            if ((rc = add_change(col->out, &col->cap, &c)) < 0)
                return rc;
        }
    }
    return 0;
}

static int build_output(txs *s, cairn_tx_out *out)
{
    struct collect col = { s, out, 0 };
    void *e;
    int rc;
    cairn_val tempids = cairn_nil(), meta = cairn_nil();
    for (size_t pos = 0; cairn_hmap_next(&s->st.ea, &pos, &e);)
        if ((rc = collect_entry(s, e, &col)) < 0)
            return rc;
    if ((rc = cairn_map_new(&tempids, s->nslots + 1)) < 0)
        return rc;
    for (size_t i = 0; i < s->nslots && rc == 0; i++) {
        if (cairn_type_of(s->slots[i].key) == CAIRN_NIL)
            continue;
        rc = cairn_map_assoc(&tempids, s->slots[i].key, cairn_int(s->slots[i].eid));
    }
    for (size_t i = 0; rc == 0 && i < cairn_count(s->tx_keys); i++)
        rc = cairn_map_assoc(&tempids, cairn_coll_get(s->tx_keys, i), cairn_int(s->tx));
    if (rc == 0)
        rc = cairn_map_assoc(&tempids, KW(db_current_tx), cairn_int(s->tx));
    if (rc == 0)
        rc = cairn_map_new(&meta, 4);
    if (rc == 0)
        rc = cairn_map_assoc(&meta, KW(db_txInstant), cairn_inst(s->instant));
    if (rc < 0) {
        cairn_release(tempids);
        cairn_release(meta);
        return rc;
    }
    out->tempids = tempids;
    out->tx_meta = meta;
    out->report = s->rep;
    out->report_count = s->nrep;
    s->rep = NULL;
    s->nrep = 0;
    out->schema = cairn_schema_retain(s->schema);
    out->max_eid = s->max_eid;
    out->tx = s->tx;
    out->instant = s->instant;
    return 0;
}

void cairn_tx_out_dispose(cairn_tx_out *out)
{
    for (size_t i = 0; i < out->report_count; i++)
        cairn_release(out->report[i].v);
    cairn_free(out->report);
    cairn_free(out->changes);
    cairn_buf_dispose(&out->values);
    cairn_release(out->tempids);
    cairn_release(out->tx_meta);
    cairn_schema_release(out->schema);
    memset(out, 0, sizeof *out);
}

static void txs_dispose(txs *s)
{
    for (size_t i = 0; i < s->nrep; i++)
        cairn_release(s->rep[i].v);
    for (size_t i = 0; i < s->npend; i++) {
        cairn_attr_dispose(&s->pend[i].def);
        cairn_release(s->pend[i].def.ident);
    }
    cairn_free(s->rep);
    cairn_free(s->ops);
    cairn_free(s->slots);
    cairn_free(s->pend);
    cairn_release(s->slot_keys);
    cairn_release(s->owned);
    cairn_release(s->touched);
    cairn_release(s->schema_touched);
    cairn_release(s->tx_keys);
    cairn_txstate_dispose(&s->st);
    cairn_buf_dispose(&s->enc);
    cairn_buf_dispose(&s->enc2);
    cairn_schema_release(s->schema);
}

/* Forgets everything the run did, keeping what it learnt about upserts. */
static int restart(txs *s)
{
    int rc;
    for (size_t i = 0; i < s->nrep; i++)
        cairn_release(s->rep[i].v);
    s->nrep = 0;
    cairn_txstate_dispose(&s->st);
    cairn_txstate_init(&s->st, s->db);
    for (size_t i = 0; i < s->nslots; i++) {
        s->slots[i].eid = 0;
        s->slots[i].is_new = 0;
    }
    for (size_t i = 0; i < s->npend; i++)
        s->pend[i].def.id = 0;
    s->max_eid = s->max_eid0;
    cairn_schema_release(s->schema);
    s->schema = cairn_schema_retain(s->db->schema);
    s->schema_private = 0;
    cairn_release(s->touched);
    cairn_release(s->schema_touched);
    s->touched = s->schema_touched = cairn_nil();
    if ((rc = cairn_set_new(&s->touched, 16)) < 0 || (rc = cairn_set_new(&s->schema_touched, 4)) < 0)
        return rc;
    return 0;
}

/* The transaction's instant: tx-meta's :db/txInstant, or now, strictly after the last one. */
static int choose_instant(txs *s, cairn_val tx_meta, int64_t now_ms)
{
    cairn_val v;
    if (cairn_type_of(tx_meta) == CAIRN_MAP && cairn_map_get(&v, tx_meta, KW(db_txInstant))) {
        if (cairn_type_of(v) != CAIRN_INST)
            return ERR(s, ":transact/schema", ":db/txInstant must be an instant");
        s->instant = cairn_inst_value(v);
        return 0;
    }
    s->instant = now_ms > s->db->last_instant ? now_ms : s->db->last_instant + 1;
    return 0;
}

int cairn_tx_apply(cairn_tx_out *out, const cairn_db *db, int64_t tx, cairn_val tx_data, cairn_val tx_meta,
                   int64_t now_ms, cairn_error *err)
{
    txs s;
    int rc;
    memset(out, 0, sizeof *out);
    memset(&s, 0, sizeof s);
    s.db = db;
    s.err = err;
    s.schema = cairn_schema_retain(db->schema);
    s.tx = tx ? tx : cairn_id_next_tx(db->max_tx);
    s.max_eid = db->max_eid;
    s.slot_keys = s.owned = s.touched = s.schema_touched = s.tx_keys = cairn_nil();
    cairn_txstate_init(&s.st, db);
    if (!s.tx) {
        rc = cairn_error_set(err, CAIRN_ELIMIT, ":transact/limit", "transaction ids exhausted");
        goto done;
    }
    if (tx && (!cairn_id_is_tx(tx) || tx <= db->max_tx)) {
        rc = cairn_error_set(err, CAIRN_EINVALID, ":transact/tx-id",
                             "transaction id %lld must be a transaction id above the last one (%lld)",
                             (long long)tx, (long long)db->max_tx);
        goto done;
    }
    if ((rc = cairn_map_new(&s.slot_keys, 16)) < 0 || (rc = cairn_vector_new(&s.owned, 4)) < 0 ||
        (rc = cairn_set_new(&s.touched, 16)) < 0 || (rc = cairn_set_new(&s.schema_touched, 4)) < 0 ||
        (rc = cairn_set_new(&s.tx_keys, 1)) < 0)
        goto done;
    if ((rc = choose_instant(&s, tx_meta, now_ms)) < 0)
        goto done;
    if ((rc = explode(&s, tx_data, tx_meta)) < 0)
        goto done;
    if ((rc = check_explicit_ids(&s)) < 0)
        goto done;
    s.max_eid0 = s.max_eid;
    /* ops run in order; a tempid found to upsert after it got a new id
     * restarts the run with that tempid bound from the start */
    for (size_t attempt = 0;; attempt++) {
        for (size_t i = 0; i < s.nops && (rc = apply_op(&s, &s.ops[i])) == 0; i++)
            ;
        if (rc != RESTART)
            break;
        if (attempt > s.nslots) {
            rc = ERR(&s, ":transact/upsert", "Conflicting upserts: tempids cannot be resolved");
            goto done;
        }
        if ((rc = restart(&s)) < 0)
            goto done;
    }
    if (rc < 0)
        goto done;
    if ((rc = update_tuples(&s)) < 0 || (rc = update_schema(&s)) < 0)
        goto done;
    if (db->ctx->keep_history) {
        /* the transaction entity's instant */
        const cairn_attr *ia = cairn_schema_by_id(s.schema, CAIRN_SYS_ID(CAIRN_SYS_TX_INSTANT));
        if ((rc = assert_datom(&s, s.tx, ia, cairn_inst(s.instant), 1)) < 0)
            goto done;
    }
    rc = build_output(&s, out);
done:
    if (rc < 0) {
        cairn_error_code(err, rc);
        cairn_tx_out_dispose(out);
    }
    txs_dispose(&s);
    return rc;
}
