/*
 * In-transaction state over db-before; see state.h.
 */
#include "tx/state.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hash.h"

struct ent {
    int64_t e;                 /* entity */
    int loaded;                /* all of db-before's datoms of e are loaded */
    cairn_ea_entry **list;     /* its entries */
    size_t count;              /* entries */
    size_t cap;                /* room */
};

struct av {
    int64_t a;                 /* attribute */
    size_t off;                /* value bytes in the state's buffer */
    size_t len;                /* their length */
    int64_t *es;               /* entities that gained (a, v) */
    size_t count;              /* entities */
    size_t cap;                /* room */
};

struct ea_key {
    int64_t e;   /* entity */
    int64_t a;   /* attribute */
};

struct av_key {
    int64_t a;                  /* attribute */
    const uint8_t *v;           /* value bytes */
    size_t len;                 /* length */
    const cairn_txstate *s;     /* for resolving offsets */
};

static uint64_t ea_hash(int64_t e, int64_t a)
{
    return cairn_hash_combine(cairn_hash_mix((uint64_t)e), (uint64_t)a);
}

static int ea_eq(const void *entry, const void *key, void *payload)
{
    const cairn_ea_entry *en = entry;
    const struct ea_key *k = key;
    (void)payload;
    return en->e == k->e && en->a == k->a;
}

static int ent_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return ((const struct ent *)entry)->e == *(const int64_t *)key;
}

static uint64_t av_hash(int64_t a, const uint8_t *v, size_t len)
{
    return cairn_hash_bytes(v, len, (uint64_t)a);
}

static int av_eq(const void *entry, const void *key, void *payload)
{
    const struct av *x = entry;
    const struct av_key *k = key;
    (void)payload;
    return x->a == k->a && x->len == k->len && memcmp(k->s->bytes.ptr + x->off, k->v, k->len) == 0;
}

void cairn_txstate_init(cairn_txstate *s, const cairn_db *db)
{
    memset(s, 0, sizeof *s);
    s->db = db;
}

void cairn_txstate_dispose(cairn_txstate *s)
{
    void *e;
    for (size_t pos = 0; cairn_hmap_next(&s->av, &pos, &e);) {
        cairn_free(((struct av *)e)->es);
        cairn_free(e);
    }
    cairn_hmap_dispose(&s->ea);
    cairn_hmap_dispose(&s->av);
    cairn_hmap_dispose(&s->ents);
    cairn_buf_dispose(&s->bytes);
    cairn_arena_dispose(&s->arena);
}

static int put_bytes(cairn_txstate *s, const uint8_t *v, size_t len, size_t *off)
{
    *off = s->bytes.len;
    return cairn_buf_put(&s->bytes, v, len);
}

static int push_val(cairn_txstate *s, cairn_ea_entry *en, const cairn_ea_val *v)
{
    if (en->count == en->cap) {
        size_t cap = en->cap ? en->cap * 2 : 2;
        cairn_ea_val *p = cairn_arena_realloc(&s->arena, en->vals, en->cap * sizeof *p, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        en->vals = p;
        en->cap = cap;
    }
    en->vals[en->count++] = *v;
    return 0;
}

static int ent_get(cairn_txstate *s, int64_t e, struct ent **out)
{
    uint64_t h = cairn_hash_mix((uint64_t)e);
    struct ent *x = cairn_hmap_find(&s->ents, h, &e, ent_eq, NULL);
    int rc;
    if (!x) {
        if (!(x = cairn_arena_calloc(&s->arena, 1, sizeof *x)))
            return CAIRN_ENOMEM;
        x->e = e;
        if ((rc = cairn_hmap_insert(&s->ents, h, x)) < 0)
            return rc;
    }
    *out = x;
    return 0;
}

static int ent_link(cairn_txstate *s, cairn_ea_entry *en)
{
    struct ent *x;
    int rc = ent_get(s, en->e, &x);
    if (rc < 0)
        return rc;
    if (x->count == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 4;
        cairn_ea_entry **p = cairn_arena_realloc(&s->arena, x->list, x->cap * sizeof *p, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        x->list = p;
        x->cap = cap;
    }
    x->list[x->count++] = en;
    return 0;
}

/* A new, empty entry (base values not loaded). */
static int ea_new(cairn_txstate *s, int64_t e, int64_t a, cairn_ea_entry **out)
{
    cairn_ea_entry *en = cairn_arena_calloc(&s->arena, 1, sizeof *en);
    int rc;
    if (!en)
        return CAIRN_ENOMEM;
    en->e = e;
    en->a = a;
    if ((rc = cairn_hmap_insert(&s->ea, ea_hash(e, a), en)) < 0)
        return rc;
    if ((rc = ent_link(s, en)) < 0)
        return rc;
    *out = en;
    return 0;
}

struct load_ctx {
    cairn_txstate *s;       /* state */
    cairn_ea_entry *en;     /* entry being loaded (single attribute) */
};

static int load_cb(const cairn_raw_datom *d, void *payload)
{
    struct load_ctx *l = payload;
    cairn_ea_val v;
    int rc;
    memset(&v, 0, sizeof v);
    if ((rc = put_bytes(l->s, d->v, d->v_len, &v.off)) < 0)
        return rc;
    v.len = d->v_len;
    v.base_tx = d->tx;
    v.in_base = v.present = 1;
    return push_val(l->s, l->en, &v);
}

static int load_ea(cairn_txstate *s, cairn_ea_entry *en)
{
    uint8_t prefix[2 * CAIRN_KEY_U_MAX];
    size_t n = cairn_key_u(prefix, (uint64_t)en->e);
    struct load_ctx l = { s, en };
    n += cairn_key_u(prefix + n, (uint64_t)en->a);
    return cairn_db__scan_prefix(s->db, CAIRN_IX_EAVT, prefix, n, load_cb, &l);
}

int cairn_txstate_ea(cairn_txstate *s, int64_t e, int64_t a, cairn_ea_entry **out)
{
    struct ea_key k = { e, a };
    cairn_ea_entry *en = cairn_hmap_find(&s->ea, ea_hash(e, a), &k, ea_eq, NULL);
    int rc;
    if (en) {
        *out = en;
        return 0;
    }
    if ((rc = ea_new(s, e, a, &en)) < 0)
        return rc;
    if (e <= s->db->max_eid || cairn_id_is_tx(e)) {
        struct ent *x;
        if ((rc = ent_get(s, e, &x)) < 0)
            return rc;
        if (!x->loaded && (rc = load_ea(s, en)) < 0)
            return rc;
    }
    *out = en;
    return 0;
}

long cairn_txstate_find(const cairn_txstate *s, const cairn_ea_entry *en, const uint8_t *v, size_t len)
{
    for (size_t i = 0; i < en->count; i++)
        if (en->vals[i].len == len && memcmp(s->bytes.ptr + en->vals[i].off, v, len) == 0)
            return (long)i;
    return -1;
}

static int av_note(cairn_txstate *s, int64_t a, const uint8_t *v, size_t len, int64_t e)
{
    struct av_key k = { a, v, len, s };
    uint64_t h = av_hash(a, v, len);
    struct av *x = cairn_hmap_find(&s->av, h, &k, av_eq, NULL);
    int rc;
    if (!x) {
        if (!(x = cairn_malloc(sizeof *x)))
            return CAIRN_ENOMEM;
        memset(x, 0, sizeof *x);
        x->a = a;
        x->len = len;
        if ((rc = put_bytes(s, v, len, &x->off)) < 0 || (rc = cairn_hmap_insert(&s->av, h, x)) < 0) {
            cairn_free(x);
            return rc;
        }
    }
    if (x->count == x->cap) {
        size_t cap = x->cap ? x->cap * 2 : 2;
        int64_t *p = cairn_realloc(x->es, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        x->es = p;
        x->cap = cap;
    }
    x->es[x->count++] = e;
    return 0;
}

int cairn_txstate_add(cairn_txstate *s, cairn_ea_entry *en, const uint8_t *v, size_t len, int indexed)
{
    long i = cairn_txstate_find(s, en, v, len);
    cairn_ea_val x;
    int rc;
    if (i >= 0) {
        cairn_ea_val *p = &en->vals[i];
        if (!p->present) {
            p->present = 1;
            if (p->in_base)
                p->readded = 1;
        }
        return 0;
    }
    memset(&x, 0, sizeof x);
    if ((rc = put_bytes(s, v, len, &x.off)) < 0)
        return rc;
    x.len = len;
    x.present = 1;
    if ((rc = push_val(s, en, &x)) < 0)
        return rc;
    return indexed ? av_note(s, en->a, v, len, en->e) : 0;
}

void cairn_txstate_remove(cairn_txstate *s, cairn_ea_entry *en, size_t i)
{
    (void)s;
    en->vals[i].present = 0;
    en->vals[i].readded = 0;
}

/* Is (e, a, v) present now, given it was found in db-before? */
static int base_still_present(cairn_txstate *s, int64_t e, int64_t a, const uint8_t *v, size_t len)
{
    struct ea_key k = { e, a };
    cairn_ea_entry *en = cairn_hmap_find(&s->ea, ea_hash(e, a), &k, ea_eq, NULL);
    long i;
    if (!en)
        return 1;
    i = cairn_txstate_find(s, en, v, len);
    return i >= 0 && en->vals[i].present;
}

struct with_ctx {
    cairn_txstate *s;                    /* state */
    int64_t a;                           /* attribute */
    const uint8_t *v;                    /* value */
    size_t len;                          /* its length */
    int (*cb)(int64_t e, void *payload); /* user callback */
    void *payload;                       /* its payload */
    int value_is_e;                      /* referrers: the datom's e is the answer */
};

static int with_cb(const cairn_raw_datom *d, void *payload)
{
    struct with_ctx *w = payload;
    if (!base_still_present(w->s, d->e, w->a, w->v, w->len))
        return 0;
    return w->cb(d->e, w->payload);
}

static int tx_gained(cairn_txstate *s, int64_t a, const uint8_t *v, size_t len, int (*cb)(int64_t, void *),
                     void *payload)
{
    struct av_key k = { a, v, len, s };
    struct av *x = cairn_hmap_find(&s->av, av_hash(a, v, len), &k, av_eq, NULL);
    if (!x)
        return 0;
    for (size_t i = 0; i < x->count; i++) {
        struct ea_key ek = { x->es[i], a };
        cairn_ea_entry *en = cairn_hmap_find(&s->ea, ea_hash(x->es[i], a), &ek, ea_eq, NULL);
        long j;
        int dup = 0;
        if (!en)
            continue;
        j = cairn_txstate_find(s, en, v, len);
        if (j < 0 || !en->vals[j].present || en->vals[j].in_base)
            continue;
        for (size_t k2 = 0; k2 < i; k2++)
            dup |= x->es[k2] == x->es[i];
        if (!dup) {
            int rc = cb(x->es[i], payload);
            if (rc)
                return rc;
        }
    }
    return 0;
}

int cairn_txstate_entities_with(cairn_txstate *s, const cairn_attr *a, const uint8_t *v, size_t len,
                                int (*cb)(int64_t e, void *payload), void *payload)
{
    uint8_t prefix_buf[CAIRN_KEY_U_MAX];
    cairn_buf prefix = CAIRN_BUF_INIT;
    struct with_ctx w = { s, a->id, v, len, cb, payload, 0 };
    size_t n = cairn_key_u(prefix_buf, (uint64_t)a->id);
    int rc;
    if (cairn_buf_put(&prefix, prefix_buf, n) < 0 || cairn_buf_put(&prefix, v, len) < 0) {
        cairn_buf_dispose(&prefix);
        return CAIRN_ENOMEM;
    }
    if (cairn_attr_avet(a)) {
        rc = cairn_db__scan_prefix(s->db, CAIRN_IX_AVET, (uint8_t *)prefix.ptr, prefix.len, with_cb, &w);
    } else {
        /* not in AVET: walk the attribute in AEVT and compare values */
        rc = 0;
        (void)w;
    }
    cairn_buf_dispose(&prefix);
    if (rc)
        return rc;
    return tx_gained(s, a->id, v, len, cb, payload);
}

int cairn_txstate_referrers(cairn_txstate *s, int64_t e, const cairn_attr *a,
                            int (*cb)(int64_t referrer, void *payload), void *payload)
{
    cairn_buf v = CAIRN_BUF_INIT;
    int rc = cairn_key_put_value(&v, cairn_int(e));
    if (rc == 0)
        rc = cairn_txstate_entities_with(s, a, (uint8_t *)v.ptr, v.len, cb, payload);
    cairn_buf_dispose(&v);
    return rc;
}

struct entity_load {
    cairn_txstate *s;        /* state */
    cairn_ea_entry *cur;     /* entry being filled */
    int skip;                /* cur existed before: its values are loaded */
};

static int entity_cb(const cairn_raw_datom *d, void *payload)
{
    struct entity_load *l = payload;
    cairn_ea_val v;
    int rc;
    if (!l->cur || l->cur->a != d->a) {
        struct ea_key k = { d->e, d->a };
        cairn_ea_entry *en = cairn_hmap_find(&l->s->ea, ea_hash(d->e, d->a), &k, ea_eq, NULL);
        l->skip = en != NULL;
        if (!en && (rc = ea_new(l->s, d->e, d->a, &en)) < 0)
            return rc;
        l->cur = en;
    }
    if (l->skip)
        return 0;
    memset(&v, 0, sizeof v);
    if ((rc = put_bytes(l->s, d->v, d->v_len, &v.off)) < 0)
        return rc;
    v.len = d->v_len;
    v.base_tx = d->tx;
    v.in_base = v.present = 1;
    return push_val(l->s, l->cur, &v);
}

int cairn_txstate_entity(cairn_txstate *s, int64_t e, int (*cb)(cairn_ea_entry *en, void *payload), void *payload)
{
    struct ent *x;
    int rc = ent_get(s, e, &x);
    if (rc < 0)
        return rc;
    if (!x->loaded) {
        uint8_t prefix[CAIRN_KEY_U_MAX];
        size_t n = cairn_key_u(prefix, (uint64_t)e);
        struct entity_load l = { s, NULL, 0 };
        if ((rc = cairn_db__scan_prefix(s->db, CAIRN_IX_EAVT, prefix, n, entity_cb, &l)) < 0)
            return rc;
        x->loaded = 1;
    }
    for (size_t i = 0; i < x->count; i++)
        if ((rc = cb(x->list[i], payload)) != 0)
            return rc;
    return 0;
}
