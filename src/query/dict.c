/*
 * The per-query value dictionary: every value a query handles that is not a
 * small integer gets one entry, and its cell is the entry's index. Entries
 * are found two ways: by value (constants, inputs, function results; Clojure
 * equality and hashing) and by index encoding (values read from datoms: a
 * byte hash and a memcmp, no decoding). Both tables point at the same
 * entries, so a string that arrives once as a constant and once from an
 * index gets one cell, and joins compare cells.
 *
 * Invariant: two entries never hold equal values (cairn_equal), and no entry
 * holds an INT that fits in a cell.
 *
 * Rejected: interning into a process-wide table (contention between readers
 * and no natural moment to free); keeping encoded bytes only (functions and
 * results need values, and decoding per use repeats work).
 */
#include "query/query.h"

#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "db/key.h"

#define ENC_NONE UINT32_MAX

void qdict_init(qdict *d)
{
    memset(d, 0, sizeof *d);
}

void qdict_dispose(qdict *d)
{
    for (size_t i = 0; i < d->count; i++)
        cairn_release(d->vals[i]);
    cairn_free(d->vals);
    cairn_free(d->enc_off);
    cairn_free(d->enc_len);
    cairn_free(d->by_val);
    cairn_free(d->by_enc);
    cairn_buf_dispose(&d->enc);
    cairn_buf_dispose(&d->tmp);
    memset(d, 0, sizeof *d);
}

static uint64_t fixhash(uint64_t h)
{
    return h ? h : 1;
}

/* Grows a slot table to hold n entries at most 1/2 full; rehashes. */
static int table_grow(qdict_slot **slots, size_t *cap, size_t n)
{
    size_t nc = *cap ? *cap : 64, mask;
    qdict_slot *ns;
    while (nc / 2 <= n)
        nc *= 2;
    if (nc == *cap)
        return 0;
    ns = cairn_malloc(cairn_mul_size(nc, sizeof *ns));
    if (!ns)
        return CAIRN_ENOMEM;
    memset(ns, 0, nc * sizeof *ns);
    mask = nc - 1;
    for (size_t i = 0; i < *cap; i++) {
        qdict_slot s = (*slots)[i];
        size_t j;
        if (!s.hash)
            continue;
        for (j = s.hash & mask; ns[j].hash; j = (j + 1) & mask)
            ;
        ns[j] = s;
    }
    cairn_free(*slots);
    *slots = ns;
    *cap = nc;
    return 0;
}

static void table_put(qdict_slot *slots, size_t cap, uint64_t hash, uint32_t idx)
{
    size_t mask = cap - 1, j;
    for (j = hash & mask; slots[j].hash; j = (j + 1) & mask)
        ;
    slots[j].hash = hash;
    slots[j].idx = idx;
}

static int entries_grow(qdict *d)
{
    size_t nc;
    cairn_val *v;
    uint32_t *o, *l;
    if (d->count < d->cap)
        return 0;
    nc = d->cap ? d->cap * 2 : 256;
    if (nc > (size_t)1 << 31)
        return CAIRN_ELIMIT;
    v = cairn_realloc(d->vals, nc * sizeof *v);
    if (!v)
        return CAIRN_ENOMEM;
    d->vals = v;
    o = cairn_realloc(d->enc_off, nc * sizeof *o);
    if (!o)
        return CAIRN_ENOMEM;
    d->enc_off = o;
    l = cairn_realloc(d->enc_len, nc * sizeof *l);
    if (!l)
        return CAIRN_ENOMEM;
    d->enc_len = l;
    d->cap = nc;
    return 0;
}

static qcell cell_of_idx(size_t i)
{
    return ((qcell)i << 1) | 1;
}

/* Finds an entry equal to v; returns index or -1. */
static long find_val(const qdict *d, cairn_val v, uint64_t h)
{
    size_t mask, j;
    if (!d->val_cap)
        return -1;
    mask = d->val_cap - 1;
    for (j = h & mask; d->by_val[j].hash; j = (j + 1) & mask)
        if (d->by_val[j].hash == h && cairn_equal(d->vals[d->by_val[j].idx], v))
            return (long)d->by_val[j].idx;
    return -1;
}

/* Adds v (retained) as a new entry. */
static int add_val(qdict *d, cairn_val v, uint64_t h, size_t *idx)
{
    int rc;
    if ((rc = entries_grow(d)) < 0 || (rc = table_grow(&d->by_val, &d->val_cap, d->count + 1)) < 0)
        return rc;
    d->vals[d->count] = cairn_retain(v);
    d->enc_off[d->count] = ENC_NONE;
    d->enc_len[d->count] = 0;
    table_put(d->by_val, d->val_cap, h, (uint32_t)d->count);
    *idx = d->count++;
    return 0;
}

int qdict_cell(qdict *d, qcell *out, cairn_val v)
{
    uint64_t h;
    long found;
    size_t idx;
    int rc;
    if (cairn_type_of(v) == CAIRN_INT && qcell_int_fits(cairn_int_value(v))) {
        *out = qcell_of_int(cairn_int_value(v));
        return 0;
    }
    h = fixhash(cairn_hash(v));
    if ((found = find_val(d, v, h)) >= 0) {
        *out = cell_of_idx((size_t)found);
        return 0;
    }
    if ((rc = add_val(d, v, h, &idx)) < 0)
        return rc;
    *out = cell_of_idx(idx);
    return 0;
}

static int set_enc(qdict *d, size_t idx, const uint8_t *p, size_t len)
{
    size_t off = d->enc.len;
    if (off + len > UINT32_MAX - 1)
        return CAIRN_ELIMIT;
    if (cairn_buf_put(&d->enc, p, len) < 0)
        return CAIRN_ENOMEM;
    d->enc_off[idx] = (uint32_t)off;
    d->enc_len[idx] = (uint32_t)len;
    return 0;
}

int qdict_cell_enc(qdict *d, qcell *out, const uint8_t *p, size_t len)
{
    uint64_t h;
    size_t mask, j, idx;
    cairn_val v;
    int rc;
    if (len >= 1 && p[0] >= CAIRN_VTAG_INT_MIN && p[0] <= CAIRN_VTAG_INT_MAX) {
        cairn_val iv;
        if ((rc = cairn_key_get_value(&iv, p, len)) < 0)
            return rc;
        if (qcell_int_fits(cairn_int_value(iv))) {
            *out = qcell_of_int(cairn_int_value(iv));
            return 0;
        }
    }
    h = fixhash(cairn_hash_bytes(p, len, 0x71d));
    if (d->enc_cap) {
        mask = d->enc_cap - 1;
        for (j = h & mask; d->by_enc[j].hash; j = (j + 1) & mask) {
            uint32_t e = d->by_enc[j].idx;
            if (d->by_enc[j].hash == h && d->enc_len[e] == len &&
                memcmp(d->enc.ptr + d->enc_off[e], p, len) == 0) {
                *out = cell_of_idx(e);
                return 0;
            }
        }
    }
    if ((rc = cairn_key_get_value(&v, p, len)) < 0)
        return rc;
    rc = qdict_cell(d, out, v);
    cairn_release(v);
    if (rc < 0)
        return rc;
    if (qcell_is_int(*out))
        return 0;
    idx = (size_t)(*out >> 1);
    if (d->enc_off[idx] != ENC_NONE) {
        /* the same value under another encoding (cannot happen for stored
         * values; kept simple: no second index entry) */
        if (d->enc_len[idx] != len || memcmp(d->enc.ptr + d->enc_off[idx], p, len) != 0)
            return 0;
    } else if ((rc = set_enc(d, idx, p, len)) < 0) {
        return rc;
    }
    if ((rc = table_grow(&d->by_enc, &d->enc_cap, d->enc_count + 1)) < 0)
        return rc;
    table_put(d->by_enc, d->enc_cap, h, (uint32_t)idx);
    d->enc_count++;
    return 0;
}

cairn_val qdict_val(const qdict *d, qcell c)
{
    if (qcell_is_int(c))
        return cairn_int(qcell_int(c));
    return d->vals[c >> 1];
}

int qdict_enc(qdict *d, qcell c, cairn_buf *b)
{
    size_t idx;
    int rc;
    if (qcell_is_int(c))
        return cairn_key_put_value(b, cairn_int(qcell_int(c)));
    idx = (size_t)(c >> 1);
    if (d->enc_off[idx] == ENC_NONE) {
        cairn_buf_clear(&d->tmp);
        if ((rc = cairn_key_put_value(&d->tmp, d->vals[idx])) < 0)
            return rc;
        if ((rc = set_enc(d, idx, (const uint8_t *)d->tmp.ptr, d->tmp.len)) < 0)
            return rc;
    }
    return cairn_buf_put(b, d->enc.ptr + d->enc_off[idx], d->enc_len[idx]);
}

int qdict_bool(qdict *d, qcell *out, int b)
{
    return qdict_cell(d, out, cairn_bool(b));
}
