/*
 * Values: constructors, reference counting, collections, equality, order and
 * hashing. Numbers live in number.c and interning in intern.c.
 *
 * Collections are arrays with the items inline after the header: one
 * allocation per collection, cache-friendly iteration, and O(1) indexed
 * access. SET and MAP add an open-addressing index of entry positions once
 * they pass CAIRN_COLL_SCAN_MAX entries, so lookups (and the duplicate checks
 * of the readers) stay O(1) while small maps (the common case: entity maps,
 * pull results) need no index at all. Insertion order is kept, which makes
 * printing deterministic and matches Clojure's array-maps for small maps.
 */
#include "edn/value.h"

#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/utf8.h"

/* ---- scalars ------------------------------------------------------------ */

static cairn_val scalar(cairn_type t)
{
    cairn_val v;
    v.type_ = (uint32_t)t;
    v.aux_ = 0;
    v.u_.i = 0;
    return v;
}

cairn_val cairn_nil(void)
{
    return scalar(CAIRN_NIL);
}

cairn_val cairn_bool(int b)
{
    cairn_val v = scalar(CAIRN_BOOL);
    v.u_.i = b != 0;
    return v;
}

cairn_val cairn_int(int64_t i)
{
    cairn_val v = scalar(CAIRN_INT);
    v.u_.i = i;
    return v;
}

cairn_val cairn_double(double d)
{
    cairn_val v = scalar(CAIRN_DOUBLE);
    v.u_.d = d;
    return v;
}

cairn_val cairn_float(float f)
{
    cairn_val v = scalar(CAIRN_FLOAT);
    v.u_.d = (double)f;
    return v;
}

cairn_val cairn_inst(int64_t ms)
{
    cairn_val v = scalar(CAIRN_INST);
    v.u_.i = ms;
    return v;
}

cairn_val cairn_char(uint32_t cp)
{
    cairn_val v = scalar(CAIRN_CHAR);
    if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
        cp = 0xfffd;
    v.u_.i = cp;
    return v;
}

/* ---- heap objects --------------------------------------------------------- */

static void obj_init(cairn_obj *h, cairn_type kind, unsigned depth)
{
    atomic_init(&h->refcnt, 1);
    h->depth = (uint16_t)depth;
    h->kind = (uint8_t)kind;
    h->flags = 0;
}

int cairn_str_alloc(cairn_val *out, cairn_type t, size_t len)
{
    cairn_str *s;
    if (len > UINT32_MAX)
        return CAIRN_ELIMIT;
    s = cairn_malloc(sizeof *s + len + 1);
    if (!s)
        return CAIRN_ENOMEM;
    obj_init(&s->h, t, 0);
    s->len = len;
    s->data[len] = 0;
    *out = cairn_val_make(t, s);
    return 0;
}

static int str_new(cairn_val *out, cairn_type t, const void *data, size_t len)
{
    int rc = cairn_str_alloc(out, t, len);
    if (rc == 0 && len)
        memcpy(cairn_val_str(*out)->data, data, len);
    return rc;
}

int cairn_string(cairn_val *out, const char *text, size_t len)
{
    if (cairn_utf8_check(text, len) != len)
        return CAIRN_EINVALID;
    return str_new(out, CAIRN_STRING, text, len);
}

int cairn_bytes(cairn_val *out, const void *data, size_t len)
{
    return str_new(out, CAIRN_BYTES, data, len);
}

int cairn_bigint(cairn_val *out, const char *digits, size_t len)
{
    cairn_val v;
    size_t n;
    int rc = cairn_str_alloc(&v, CAIRN_BIGINT, len + 8);
    if (rc < 0)
        return rc;
    if ((rc = cairn_bigint_canon(cairn_val_str(v)->data, &n, digits, len)) < 0) {
        cairn_release(v);
        return rc;
    }
    cairn_val_str(v)->len = n;
    cairn_val_str(v)->data[n] = 0;
    *out = v;
    return 0;
}

int cairn_bigdec(cairn_val *out, const char *text, size_t len)
{
    cairn_val v;
    size_t n;
    int rc = cairn_str_alloc(&v, CAIRN_BIGDEC, len + 32);
    if (rc < 0)
        return rc;
    if ((rc = cairn_bigdec_canon(cairn_val_str(v)->data, &n, text, len)) < 0) {
        cairn_release(v);
        return rc;
    }
    cairn_val_str(v)->len = n;
    cairn_val_str(v)->data[n] = 0;
    *out = v;
    return 0;
}

int cairn_uuid(cairn_val *out, const uint8_t bytes[16])
{
    cairn_uuid_obj *u = cairn_malloc(sizeof *u);
    if (!u)
        return CAIRN_ENOMEM;
    obj_init(&u->h, CAIRN_UUID, 0);
    memcpy(u->bytes, bytes, 16);
    *out = cairn_val_make(CAIRN_UUID, u);
    return 0;
}

static uint64_t gcd_u64(uint64_t a, uint64_t b)
{
    while (b) {
        uint64_t t = a % b;
        a = b;
        b = t;
    }
    return a;
}

int cairn_ratio(cairn_val *out, int64_t num, int64_t den)
{
    cairn_ratio_obj *r;
    uint64_t un, ud, g;
    int neg;
    if (den == 0)
        return CAIRN_EINVALID;
    neg = (num < 0) != (den < 0);
    un = num < 0 ? (uint64_t)0 - (uint64_t)num : (uint64_t)num;
    ud = den < 0 ? (uint64_t)0 - (uint64_t)den : (uint64_t)den;
    g = gcd_u64(un, ud);
    if (g > 1) {
        un /= g;
        ud /= g;
    }
    if (un == 0) {
        *out = cairn_int(0);
        return 0;
    }
    if (ud == 1) {
        if (un > (uint64_t)INT64_MAX + (neg ? 1u : 0u))
            return CAIRN_ELIMIT;
        *out = cairn_int(neg ? (int64_t)(0 - un) : (int64_t)un);
        return 0;
    }
    if (un > (uint64_t)INT64_MAX || ud > (uint64_t)INT64_MAX)
        return CAIRN_ELIMIT;
    r = cairn_malloc(sizeof *r);
    if (!r)
        return CAIRN_ENOMEM;
    obj_init(&r->h, CAIRN_RATIO, 0);
    r->num = neg ? -(int64_t)un : (int64_t)un;
    r->den = (int64_t)ud;
    *out = cairn_val_make(CAIRN_RATIO, r);
    return 0;
}

int cairn_tagged(cairn_val *out, cairn_val tag, cairn_val value)
{
    cairn_tagged_obj *t;
    unsigned depth = cairn_val_depth(value) + 1;
    if (tag.type_ != CAIRN_SYMBOL)
        return CAIRN_EINVALID;
    if (depth > CAIRN_MAX_DEPTH)
        return CAIRN_ELIMIT;
    t = cairn_malloc(sizeof *t);
    if (!t)
        return CAIRN_ENOMEM;
    obj_init(&t->h, CAIRN_TAGGED, depth);
    t->tag = tag;
    t->val = cairn_retain(value);
    *out = cairn_val_make(CAIRN_TAGGED, t);
    return 0;
}

/* ---- reference counting ---------------------------------------------------- */

cairn_val cairn_retain(cairn_val v)
{
    if (cairn_val_is_heap(v)) {
        cairn_obj *h = v.u_.p;
        if (atomic_load_explicit(&h->refcnt, memory_order_relaxed) != CAIRN_REFCNT_IMMORTAL)
            atomic_fetch_add_explicit(&h->refcnt, 1, memory_order_relaxed);
    }
    return v;
}

static void coll_free(cairn_coll *c)
{
    size_t n = c->h.kind == CAIRN_MAP ? c->count * 2 : c->count;
    for (size_t i = 0; i < n; i++)
        cairn_release(c->items[i]);
    cairn_free(c->index);
    cairn_free(c);
}

void cairn_release(cairn_val v)
{
    cairn_obj *h;
    if (!cairn_val_is_heap(v))
        return;
    h = v.u_.p;
    if (atomic_load_explicit(&h->refcnt, memory_order_relaxed) == CAIRN_REFCNT_IMMORTAL)
        return;
    if (atomic_fetch_sub_explicit(&h->refcnt, 1, memory_order_acq_rel) != 1)
        return;
    switch (v.type_) {
    case CAIRN_LIST:
    case CAIRN_VECTOR:
    case CAIRN_MAP:
    case CAIRN_SET:
        coll_free((cairn_coll *)h);
        break;
    case CAIRN_TAGGED:
        cairn_release(((cairn_tagged_obj *)h)->val);
        cairn_free(h);
        break;
    default:
        cairn_free(h);
        break;
    }
}

/* ---- collections ------------------------------------------------------------- */

static size_t slots_per_entry(cairn_type t)
{
    return t == CAIRN_MAP ? 2 : 1;
}

static cairn_coll *coll_alloc(cairn_type t, size_t cap)
{
    size_t items = cairn_mul_size(cap, slots_per_entry(t));
    size_t bytes = cairn_mul_size(items, sizeof(cairn_val));
    cairn_coll *c;
    if (bytes > SIZE_MAX - sizeof *c)
        return NULL;
    c = cairn_malloc(sizeof *c + bytes);
    if (!c)
        return NULL;
    obj_init(&c->h, t, 1);
    atomic_init(&c->hash, 0);
    c->count = 0;
    c->cap = cap;
    c->index = NULL;
    c->index_cap = 0;
    return c;
}

static int coll_new(cairn_val *out, cairn_type t, size_t capacity)
{
    cairn_coll *c = coll_alloc(t, capacity ? capacity : 4);
    if (!c)
        return CAIRN_ENOMEM;
    *out = cairn_val_make(t, c);
    return 0;
}

int cairn_list_new(cairn_val *out, size_t capacity)
{
    return coll_new(out, CAIRN_LIST, capacity);
}

int cairn_vector_new(cairn_val *out, size_t capacity)
{
    return coll_new(out, CAIRN_VECTOR, capacity);
}

int cairn_map_new(cairn_val *out, size_t capacity)
{
    return coll_new(out, CAIRN_MAP, capacity);
}

int cairn_set_new(cairn_val *out, size_t capacity)
{
    return coll_new(out, CAIRN_SET, capacity);
}

/* Key of entry i (the element for SET). */
static inline cairn_val entry_key(const cairn_coll *c, size_t i)
{
    return c->h.kind == CAIRN_MAP ? c->items[2 * i] : c->items[i];
}

/* (Re)builds the hash index with room for at least n entries. */
static int index_build(cairn_coll *c, size_t n)
{
    size_t cap = 16, mask;
    uint32_t *ix;
    while (cap < n * 2)
        cap *= 2;
    ix = cairn_malloc(cairn_mul_size(cap, sizeof *ix));
    if (!ix)
        return CAIRN_ENOMEM;
    memset(ix, 0, cap * sizeof *ix);
    mask = cap - 1;
    for (size_t i = 0; i < c->count; i++) {
        size_t s = cairn_hash(entry_key(c, i)) & mask;
        while (ix[s])
            s = (s + 1) & mask;
        ix[s] = (uint32_t)(i + 1);
    }
    cairn_free(c->index);
    c->index = ix;
    c->index_cap = cap;
    return 0;
}

/* Position of the entry whose key equals key, or SIZE_MAX. */
static size_t coll_find(const cairn_coll *c, cairn_val key)
{
    if (!c->index) {
        for (size_t i = 0; i < c->count; i++)
            if (cairn_equal(entry_key(c, i), key))
                return i;
        return SIZE_MAX;
    }
    {
        size_t mask = c->index_cap - 1;
        for (size_t s = cairn_hash(key) & mask; c->index[s]; s = (s + 1) & mask) {
            size_t i = c->index[s] - 1;
            if (cairn_equal(entry_key(c, i), key))
                return i;
        }
    }
    return SIZE_MAX;
}

static void index_add(cairn_coll *c, size_t i)
{
    size_t mask = c->index_cap - 1;
    size_t s = cairn_hash(entry_key(c, i)) & mask;
    while (c->index[s])
        s = (s + 1) & mask;
    c->index[s] = (uint32_t)(i + 1);
}

/*
 * Makes *v exclusively ours with room for one more entry: copies it when
 * shared, grows it when full. The old value's reference is dropped on copy.
 */
static int coll_prepare(cairn_val *v)
{
    cairn_coll *c = cairn_val_coll(*v);
    cairn_type t = (cairn_type)c->h.kind;
    size_t per = slots_per_entry(t);
    int shared = atomic_load_explicit(&c->h.refcnt, memory_order_acquire) != 1;

    if (shared || c->count == c->cap) {
        size_t cap = c->count == c->cap ? (c->cap < 4 ? 4 : c->cap * 2) : c->cap;
        cairn_coll *n;
        if (cap > UINT32_MAX - 1)
            return CAIRN_ELIMIT;
        if (shared) {
            n = coll_alloc(t, cap);
            if (!n)
                return CAIRN_ENOMEM;
            n->h.depth = c->h.depth;
            n->count = c->count;
            for (size_t i = 0; i < c->count * per; i++)
                n->items[i] = cairn_retain(c->items[i]);
            if (c->index && index_build(n, cap) < 0) {
                coll_free(n);
                return CAIRN_ENOMEM;
            }
            cairn_release(*v);
        } else {
            size_t items = cairn_mul_size(cap, per);
            size_t bytes = cairn_mul_size(items, sizeof(cairn_val));
            if (bytes > SIZE_MAX - sizeof *n)
                return CAIRN_ENOMEM;
            n = cairn_realloc(c, sizeof *n + bytes);
            if (!n)
                return CAIRN_ENOMEM;
            n->cap = cap;
        }
        *v = cairn_val_make(t, n);
        c = n;
    }
    atomic_store_explicit(&c->hash, 0, memory_order_relaxed);
    return 0;
}

/* After adding entry i: depth and index upkeep. */
static int coll_added(cairn_coll *c, size_t i, unsigned child_depth)
{
    if (child_depth + 1 > c->h.depth)
        c->h.depth = (uint16_t)(child_depth + 1);
    if (c->h.kind == CAIRN_SET || c->h.kind == CAIRN_MAP) {
        if (c->index && c->count * 2 <= c->index_cap)
            index_add(c, i);
        else if (c->count > CAIRN_COLL_SCAN_MAX)
            return index_build(c, c->count * 2);
    }
    return 0;
}

int cairn_coll_push(cairn_val *coll, cairn_val v)
{
    cairn_coll *c;
    unsigned d = cairn_val_depth(v);
    int rc;
    if (!cairn_val_is_coll(*coll) || coll->type_ == CAIRN_MAP)
        return CAIRN_EINVALID;
    if (d + 1 > CAIRN_MAX_DEPTH)
        return CAIRN_ELIMIT;
    if (coll->type_ == CAIRN_SET && coll_find(cairn_val_coll(*coll), v) != SIZE_MAX)
        return CAIRN_EEXISTS;
    if ((rc = coll_prepare(coll)) < 0)
        return rc;
    c = cairn_val_coll(*coll);
    c->items[c->count++] = cairn_retain(v);
    if ((rc = coll_added(c, c->count - 1, d)) < 0) {
        cairn_release(c->items[--c->count]);
        return rc;
    }
    return 0;
}

int cairn_coll__push_new_take(cairn_val *set, cairn_val v)
{
    cairn_coll *c;
    unsigned d = cairn_val_depth(v);
    int rc;
    assert(set->type_ == CAIRN_SET);
    if (d + 1 > CAIRN_MAX_DEPTH) {
        cairn_release(v);
        return CAIRN_ELIMIT;
    }
    if ((rc = coll_prepare(set)) < 0) {
        cairn_release(v);
        return rc;
    }
    c = cairn_val_coll(*set);
    c->items[c->count++] = v;
    if ((rc = coll_added(c, c->count - 1, d)) < 0) {
        cairn_release(c->items[--c->count]);
        return rc;
    }
    return 0;
}

int cairn_coll_push_take(cairn_val *coll, cairn_val v)
{
    int rc = cairn_coll_push(coll, v);
    cairn_release(v);
    return rc;
}

static int map_put(cairn_val *map, cairn_val key, cairn_val v, int replace)
{
    cairn_coll *c;
    unsigned d = CAIRN_MAX(cairn_val_depth(key), cairn_val_depth(v));
    size_t at;
    int rc;
    if (map->type_ != CAIRN_MAP)
        return CAIRN_EINVALID;
    if (d + 1 > CAIRN_MAX_DEPTH)
        return CAIRN_ELIMIT;
    at = coll_find(cairn_val_coll(*map), key);
    if (at != SIZE_MAX) {
        if (!replace)
            return CAIRN_EEXISTS;
        if ((rc = coll_prepare(map)) < 0)
            return rc;
        c = cairn_val_coll(*map);
        cairn_release(c->items[2 * at + 1]);
        c->items[2 * at + 1] = cairn_retain(v);
        if (d + 1 > c->h.depth)
            c->h.depth = (uint16_t)(d + 1);
        return 0;
    }
    if ((rc = coll_prepare(map)) < 0)
        return rc;
    c = cairn_val_coll(*map);
    c->items[2 * c->count] = cairn_retain(key);
    c->items[2 * c->count + 1] = cairn_retain(v);
    c->count++;
    if ((rc = coll_added(c, c->count - 1, d)) < 0) {
        c->count--;
        cairn_release(c->items[2 * c->count]);
        cairn_release(c->items[2 * c->count + 1]);
        return rc;
    }
    return 0;
}

int cairn_map_put(cairn_val *map, cairn_val key, cairn_val v)
{
    return map_put(map, key, v, 0);
}

int cairn_map_put_take(cairn_val *map, cairn_val key, cairn_val v)
{
    int rc = map_put(map, key, v, 0);
    cairn_release(key);
    cairn_release(v);
    return rc;
}

int cairn_map_assoc(cairn_val *map, cairn_val key, cairn_val v)
{
    return map_put(map, key, v, 1);
}

/* ---- access --------------------------------------------------------------------- */

int cairn_bool_value(cairn_val v)
{
    return v.type_ == CAIRN_BOOL && v.u_.i != 0;
}

int64_t cairn_int_value(cairn_val v)
{
    return v.type_ == CAIRN_INT ? v.u_.i : 0;
}

double cairn_double_value(cairn_val v)
{
    return v.type_ == CAIRN_DOUBLE || v.type_ == CAIRN_FLOAT ? v.u_.d : 0.0;
}

int64_t cairn_inst_value(cairn_val v)
{
    return v.type_ == CAIRN_INST ? v.u_.i : 0;
}

uint32_t cairn_char_value(cairn_val v)
{
    return v.type_ == CAIRN_CHAR ? (uint32_t)v.u_.i : 0;
}

const char *cairn_str_get(cairn_val v, size_t *len_out)
{
    if (v.type_ != CAIRN_STRING && v.type_ != CAIRN_BYTES && v.type_ != CAIRN_BIGINT &&
        v.type_ != CAIRN_BIGDEC) {
        if (len_out)
            *len_out = 0;
        return NULL;
    }
    if (len_out)
        *len_out = cairn_val_str(v)->len;
    return cairn_val_str(v)->data;
}

const char *cairn_ident_get(cairn_val v, size_t *len_out)
{
    const cairn_ident *id;
    if (!cairn_val_is_ident(v))
        return NULL;
    id = cairn_val_ident(v);
    if (len_out)
        *len_out = id->len;
    return id->text;
}

const char *cairn_name_get(cairn_val v, size_t *len_out)
{
    const cairn_ident *id;
    size_t skip;
    if (!cairn_val_is_ident(v))
        return NULL;
    id = cairn_val_ident(v);
    skip = id->ns_len ? id->ns_len + 1 : 0;
    if (len_out)
        *len_out = id->len - skip;
    return id->text + skip;
}

const char *cairn_namespace_get(cairn_val v, size_t *len_out)
{
    const cairn_ident *id;
    if (!cairn_val_is_ident(v) || cairn_val_ident(v)->ns_len == 0)
        return NULL;
    id = cairn_val_ident(v);
    if (len_out)
        *len_out = id->ns_len;
    return id->text;
}

const uint8_t *cairn_uuid_get(cairn_val v)
{
    return v.type_ == CAIRN_UUID ? ((cairn_uuid_obj *)v.u_.p)->bytes : NULL;
}

void cairn_ratio_parts(cairn_val v, int64_t *num, int64_t *den)
{
    if (v.type_ == CAIRN_RATIO) {
        *num = ((cairn_ratio_obj *)v.u_.p)->num;
        *den = ((cairn_ratio_obj *)v.u_.p)->den;
    } else {
        *num = v.type_ == CAIRN_INT ? v.u_.i : 0;
        *den = 1;
    }
}

cairn_val cairn_tagged_tag_get(cairn_val v)
{
    return v.type_ == CAIRN_TAGGED ? ((cairn_tagged_obj *)v.u_.p)->tag : cairn_nil();
}

cairn_val cairn_tagged_value_get(cairn_val v)
{
    return v.type_ == CAIRN_TAGGED ? ((cairn_tagged_obj *)v.u_.p)->val : cairn_nil();
}

size_t cairn_count(cairn_val coll)
{
    return cairn_val_is_coll(coll) ? cairn_val_coll(coll)->count : 0;
}

cairn_val cairn_coll_get(cairn_val coll, size_t i)
{
    if (!cairn_val_is_coll(coll) || coll.type_ == CAIRN_MAP || i >= cairn_val_coll(coll)->count)
        return cairn_nil();
    return cairn_val_coll(coll)->items[i];
}

cairn_val cairn_map_key_get(cairn_val map, size_t i)
{
    if (map.type_ != CAIRN_MAP || i >= cairn_val_coll(map)->count)
        return cairn_nil();
    return cairn_val_coll(map)->items[2 * i];
}

cairn_val cairn_map_val_get(cairn_val map, size_t i)
{
    if (map.type_ != CAIRN_MAP || i >= cairn_val_coll(map)->count)
        return cairn_nil();
    return cairn_val_coll(map)->items[2 * i + 1];
}

int cairn_map_get(cairn_val *out, cairn_val map, cairn_val key)
{
    size_t at;
    if (map.type_ != CAIRN_MAP)
        return 0;
    at = coll_find(cairn_val_coll(map), key);
    if (at == SIZE_MAX)
        return 0;
    if (out)
        *out = cairn_val_coll(map)->items[2 * at + 1];
    return 1;
}

int cairn_set_contains(cairn_val set, cairn_val v)
{
    return set.type_ == CAIRN_SET && coll_find(cairn_val_coll(set), v) != SIZE_MAX;
}

/* ---- idents ------------------------------------------------------------------------ */

uint64_t cairn_ident_hash(const cairn_ident *a)
{
    uint64_t h = atomic_load_explicit(&((cairn_ident *)a)->hash, memory_order_relaxed);
    if (!h) {
        h = cairn_hash_bytes(a->text, a->len, 0x6b77 + a->kind) | 1;
        atomic_store_explicit(&((cairn_ident *)a)->hash, h, memory_order_relaxed);
    }
    return h;
}

int cairn_ident_equal(const cairn_ident *a, const cairn_ident *b)
{
    return a == b || (a->len == b->len && a->kind == b->kind && memcmp(a->text, b->text, a->len) == 0);
}

cairn_val cairn_keyword_static(const cairn_ident *id)
{
    return cairn_val_make((cairn_type)id->kind, (void *)id);
}

int cairn_val_is_kw(cairn_val v, const char *text)
{
    const cairn_ident *id;
    size_t n;
    if (v.type_ != CAIRN_KEYWORD)
        return 0;
    id = cairn_val_ident(v);
    n = strlen(text);
    return id->len == n && memcmp(id->text, text, n) == 0;
}

/* ---- equality ---------------------------------------------------------------------------- */

static int seq_equal(const cairn_coll *a, const cairn_coll *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (!cairn_equal(a->items[i], b->items[i]))
            return 0;
    return 1;
}

static int set_equal(const cairn_coll *a, const cairn_coll *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++)
        if (coll_find(b, a->items[i]) == SIZE_MAX)
            return 0;
    return 1;
}

static int map_equal(const cairn_coll *a, const cairn_coll *b)
{
    if (a->count != b->count)
        return 0;
    for (size_t i = 0; i < a->count; i++) {
        size_t at = coll_find(b, a->items[2 * i]);
        if (at == SIZE_MAX || !cairn_equal(a->items[2 * i + 1], b->items[2 * at + 1]))
            return 0;
    }
    return 1;
}

int cairn_equal(cairn_val a, cairn_val b)
{
    if (a.type_ != b.type_) {
        if (cairn_val_is_number(a) && cairn_val_is_number(b))
            return cairn_number_equal(a, b);
        if (cairn_val_is_seq(a) && cairn_val_is_seq(b))
            return seq_equal(cairn_val_coll(a), cairn_val_coll(b));
        return 0;
    }
    switch (a.type_) {
    case CAIRN_NIL:
        return 1;
    case CAIRN_BOOL:
    case CAIRN_INT:
    case CAIRN_CHAR:
    case CAIRN_INST:
        return a.u_.i == b.u_.i;
    case CAIRN_BIGINT:
    case CAIRN_RATIO:
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
    case CAIRN_BIGDEC:
        return cairn_number_equal(a, b);
    case CAIRN_STRING:
    case CAIRN_BYTES: {
        const cairn_str *x = cairn_val_str(a), *y = cairn_val_str(b);
        return x == y || (x->len == y->len && memcmp(x->data, y->data, x->len) == 0);
    }
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL:
        return cairn_ident_equal(cairn_val_ident(a), cairn_val_ident(b));
    case CAIRN_UUID:
        return memcmp(cairn_uuid_get(a), cairn_uuid_get(b), 16) == 0;
    case CAIRN_LIST:
    case CAIRN_VECTOR:
        return a.u_.p == b.u_.p || seq_equal(cairn_val_coll(a), cairn_val_coll(b));
    case CAIRN_SET:
        return a.u_.p == b.u_.p || set_equal(cairn_val_coll(a), cairn_val_coll(b));
    case CAIRN_MAP:
        return a.u_.p == b.u_.p || map_equal(cairn_val_coll(a), cairn_val_coll(b));
    case CAIRN_TAGGED:
        return cairn_equal(cairn_tagged_tag_get(a), cairn_tagged_tag_get(b)) &&
               cairn_equal(cairn_tagged_value_get(a), cairn_tagged_value_get(b));
    default:
        return 0;
    }
}

/* ---- hashing ----------------------------------------------------------------------------- */

static uint64_t coll_hash(const cairn_coll *c)
{
    uint64_t h = atomic_load_explicit(&((cairn_coll *)c)->hash, memory_order_relaxed);
    if (h)
        return h;
    if (c->h.kind == CAIRN_LIST || c->h.kind == CAIRN_VECTOR) {
        h = 0x5e9;
        for (size_t i = 0; i < c->count; i++)
            h = cairn_hash_combine(h, cairn_hash(c->items[i]));
    } else if (c->h.kind == CAIRN_SET) {
        uint64_t sum = 0;
        for (size_t i = 0; i < c->count; i++)
            sum += cairn_hash(c->items[i]);
        h = cairn_hash_combine(0x5e7 + c->count, sum);
    } else {
        uint64_t sum = 0;
        for (size_t i = 0; i < c->count; i++)
            sum += cairn_hash_combine(cairn_hash(c->items[2 * i]), cairn_hash(c->items[2 * i + 1]));
        h = cairn_hash_combine(0x3a9 + c->count, sum);
    }
    h |= 1;
    atomic_store_explicit(&((cairn_coll *)c)->hash, h, memory_order_relaxed);
    return h;
}

uint64_t cairn_hash(cairn_val v)
{
    switch (v.type_) {
    case CAIRN_NIL:
        return 0x9e3779b97f4a7c15ULL;
    case CAIRN_BOOL:
        return cairn_hash_mix(0xb001 + (uint64_t)v.u_.i);
    case CAIRN_CHAR:
        return cairn_hash_mix(0xc4a7000000ULL + (uint64_t)v.u_.i);
    case CAIRN_INST:
        return cairn_hash_mix((uint64_t)v.u_.i ^ 0x1257a47ULL);
    case CAIRN_INT:
    case CAIRN_BIGINT:
    case CAIRN_RATIO:
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
    case CAIRN_BIGDEC:
        return cairn_number_hash(v);
    case CAIRN_STRING:
        return cairn_hash_bytes(cairn_val_str(v)->data, cairn_val_str(v)->len, 0x57);
    case CAIRN_BYTES:
        return cairn_hash_bytes(cairn_val_str(v)->data, cairn_val_str(v)->len, 0xb7);
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL:
        return cairn_ident_hash(cairn_val_ident(v));
    case CAIRN_UUID:
        return cairn_hash_bytes(cairn_uuid_get(v), 16, 0x1d);
    case CAIRN_LIST:
    case CAIRN_VECTOR:
    case CAIRN_SET:
    case CAIRN_MAP:
        return coll_hash(cairn_val_coll(v));
    case CAIRN_TAGGED:
        return cairn_hash_combine(cairn_hash(cairn_tagged_tag_get(v)), cairn_hash(cairn_tagged_value_get(v)));
    default:
        return 0;
    }
}

/* ---- order ------------------------------------------------------------------------------- */

static int cmp_i64(int64_t a, int64_t b)
{
    return (a > b) - (a < b);
}

static int cmp_bytes(const void *a, size_t alen, const void *b, size_t blen)
{
    int c = memcmp(a, b, CAIRN_MIN(alen, blen));
    if (c)
        return c < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

/* Clojure's symbol order: no namespace first, then namespace, then name. */
static int ident_compare(const cairn_ident *a, const cairn_ident *b)
{
    int c;
    if (cairn_ident_equal(a, b))
        return 0;
    if (!a->ns_len != !b->ns_len)
        return a->ns_len ? 1 : -1;
    if (a->ns_len && (c = cmp_bytes(a->text, a->ns_len, b->text, b->ns_len)) != 0)
        return c;
    {
        size_t sa = a->ns_len ? a->ns_len + 1 : 0, sb = b->ns_len ? b->ns_len + 1 : 0;
        return cmp_bytes(a->text + sa, a->len - sa, b->text + sb, b->len - sb);
    }
}

/* Type rank for the cross-type order; numbers share one rank, as do seqs. */
static int rank(cairn_val v)
{
    switch (v.type_) {
    case CAIRN_INT:
    case CAIRN_BIGINT:
    case CAIRN_RATIO:
    case CAIRN_FLOAT:
    case CAIRN_DOUBLE:
    case CAIRN_BIGDEC:
        return CAIRN_INT;
    case CAIRN_LIST:
        return CAIRN_VECTOR;
    default:
        return (int)v.type_;
    }
}

/*
 * Sets and maps: by count, then hash, then the least element (entry) of the
 * symmetric difference: the one holding it sorts first. A total order
 * consistent with equality that needs no allocation.
 */
static int entry_compare(const cairn_coll *c, size_t i, const cairn_coll *d, size_t j)
{
    if (c->h.kind == CAIRN_MAP) {
        int r = cairn_compare(c->items[2 * i], d->items[2 * j]);
        return r ? r : cairn_compare(c->items[2 * i + 1], d->items[2 * j + 1]);
    }
    return cairn_compare(c->items[i], d->items[j]);
}

static int entry_in(const cairn_coll *c, size_t i, const cairn_coll *d)
{
    size_t at = coll_find(d, entry_key(c, i));
    if (at == SIZE_MAX)
        return 0;
    return c->h.kind != CAIRN_MAP || cairn_equal(c->items[2 * i + 1], d->items[2 * at + 1]);
}

static int unordered_compare(const cairn_coll *a, const cairn_coll *b)
{
    uint64_t ha, hb;
    const cairn_coll *min_c = NULL;
    size_t min_i = 0;
    if (a->count != b->count)
        return a->count < b->count ? -1 : 1;
    ha = coll_hash(a);
    hb = coll_hash(b);
    if (ha != hb)
        return ha < hb ? -1 : 1;
    for (int side = 0; side < 2; side++) {
        const cairn_coll *c = side ? b : a, *d = side ? a : b;
        for (size_t i = 0; i < c->count; i++) {
            if (entry_in(c, i, d))
                continue;
            if (!min_c || entry_compare(c, i, min_c, min_i) < 0) {
                min_c = c;
                min_i = i;
            }
        }
    }
    if (!min_c)
        return 0;
    return min_c == a ? -1 : 1;
}

int cairn_compare(cairn_val a, cairn_val b)
{
    int ra = rank(a), rb = rank(b);
    if (ra != rb)
        return ra < rb ? -1 : 1;
    switch (ra) {
    case CAIRN_NIL:
        return 0;
    case CAIRN_BOOL:
    case CAIRN_CHAR:
    case CAIRN_INST:
        return cmp_i64(a.u_.i, b.u_.i);
    case CAIRN_INT:
        return cairn_number_compare(a, b);
    case CAIRN_STRING:
    case CAIRN_BYTES:
        return cmp_bytes(cairn_val_str(a)->data, cairn_val_str(a)->len, cairn_val_str(b)->data,
                         cairn_val_str(b)->len);
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL:
        return ident_compare(cairn_val_ident(a), cairn_val_ident(b));
    case CAIRN_UUID: {
        /* Java's UUID.compareTo: each 8-byte half as a signed long */
        uint8_t x[16], y[16];
        memcpy(x, cairn_uuid_get(a), 16);
        memcpy(y, cairn_uuid_get(b), 16);
        x[0] ^= 0x80, x[8] ^= 0x80, y[0] ^= 0x80, y[8] ^= 0x80;
        return cmp_bytes(x, 16, y, 16);
    }
    case CAIRN_VECTOR: {
        const cairn_coll *x = cairn_val_coll(a), *y = cairn_val_coll(b);
        if (x->count != y->count)
            return x->count < y->count ? -1 : 1;
        for (size_t i = 0; i < x->count; i++) {
            int c = cairn_compare(x->items[i], y->items[i]);
            if (c)
                return c;
        }
        return 0;
    }
    case CAIRN_MAP:
    case CAIRN_SET:
        if (a.u_.p == b.u_.p)
            return 0;
        return unordered_compare(cairn_val_coll(a), cairn_val_coll(b));
    case CAIRN_TAGGED: {
        int c = cairn_compare(cairn_tagged_tag_get(a), cairn_tagged_tag_get(b));
        return c ? c : cairn_compare(cairn_tagged_value_get(a), cairn_tagged_value_get(b));
    }
    default:
        return 0;
    }
}
