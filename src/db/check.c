/*
 * cairn_db_check: the whole-database integrity check behind `cairn check`
 * (SQLite's integrity_check, tidwall's btree_sane), in three passes:
 *
 *  1. Reachability. From the value's commit through every ancestor commit,
 *     every commit record, schema node and index node is read once and
 *     decoded; every read verifies that the node's bytes hash to its address
 *     (cairn_store_get_node does that before anything is decoded). A set of
 *     addresses already seen skips the subtrees commits share, so a long
 *     history costs one read per distinct node, not one per commit.
 *  2. Trees. The value's six trees pass cairn_btree_check: key order, fill,
 *     subtree counts, levels, and addresses recomputed from the encodings.
 *  3. Indices agree. One scan of EAVT (and of its history twin) decodes every
 *     datom, checks its attribute is in the schema and its ids are within the
 *     value's max-eid / max-tx, and counts datoms per attribute; AEVT must
 *     hold exactly as many datoms of each attribute, and AVET as many for
 *     attributes it indexes and none for the others. Counting by prefix is
 *     O(log n) per attribute from the branch counts, so this pass costs one
 *     scan instead of a lookup per datom.
 *
 * The first problem found ends the check with CAIRN_ECORRUPT and a message
 * naming it; a clean check returns a map of what was verified.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/arena.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/hmap.h"
#include "db/commit.h"
#include "db/db.h"
#include "db/kw.h"
#include "index/cache.h"
#include "index/node.h"

typedef struct checker {
    const cairn_db *db;     /* the value checked */
    cairn_error *err;       /* findings */
    cairn_addrset seen;     /* node addresses read */
    int64_t commits;        /* commit records read */
    int64_t collected;      /* parents named but removed by garbage collection */
    int64_t nodes;          /* index nodes read */
    int64_t datoms;         /* current datoms scanned */
    int64_t history;        /* history datoms scanned */
    cairn_hmap counts;      /* attribute id -> struct attr_count */
    cairn_arena count_mem;  /* the counts */
    int history_pass;       /* scanning the history twin */
} checker;

static int corrupt(checker *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int corrupt(checker *c, const char *fmt, ...)
{
    char msg[200];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    cairn_error_set(c->err, CAIRN_ECORRUPT, ":check/corrupt", "%s", msg);
    return CAIRN_ECORRUPT;
}

/* ---- pass 1: reachability ---------------------------------------------------- */

static int walk_cb(const cairn_addr *addr, unsigned level, void *payload)
{
    checker *c = payload;
    cairn_node *n;
    int rc = cairn_addrset_add(&c->seen, addr);
    if (rc <= 0)
        return rc < 0 ? rc : CAIRN_BTREE_WALK_SKIP;
    c->nodes++;
    if (level > 0)
        return 0; /* the walk reads branch nodes itself */
    if ((rc = cairn_nodecache_get(&n, c->db->ctx->cache, addr)) < 0) {
        char hex[2 * CAIRN_ADDR_LEN + 1];
        cairn_addr_hex(hex, addr);
        cairn_error_set(c->err, rc, ":check/node", "leaf %s cannot be read: %s", hex, cairn_strerror(rc));
        return rc;
    }
    cairn_node_unref(n);
    return 0;
}

/* Walks the stored trees of commit v: its own, or its tail's base (the
 * tail's records are its parents, read by the caller). */
static int walk_commit(checker *c, const cairn_db *v)
{
    cairn_btree_opts opts = CAIRN_BTREE_OPTS_INIT;
    opts.node_bytes = v->trees[0].node_bytes;
    opts.fill_pct = v->trees[0].fill_pct;
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        cairn_btree base;
        int rc;
        if (!v->tail_depth) {
            rc = cairn_btree_walk(&v->trees[t], walk_cb, c);
        } else if ((rc = cairn_btree_open(&base, c->db->ctx->cache, &v->base_roots[t], &opts)) == 0) {
            rc = cairn_btree_walk(&base, walk_cb, c);
            cairn_btree_dispose(&base);
        }
        if (rc < 0) {
            if (c->err && !c->err->code)
                cairn_error_set(c->err, rc, ":check/node", "an index node cannot be read: %s", cairn_strerror(rc));
            return rc;
        }
    }
    return 0;
}

/* The config node a commit names (its schema node was read by opening it). */
static int check_config_node(checker *c, const cairn_db *v)
{
    void *data;
    size_t len;
    cairn_val cfg;
    int rc = cairn_addrset_add(&c->seen, &v->config_addr);
    if (rc <= 0)
        return rc;
    if ((rc = cairn_store_get_node(c->db->ctx->store, &v->config_addr, &data, &len)) < 0)
        return corrupt(c, "a commit's config node cannot be read: %s", cairn_strerror(rc));
    rc = cairn_edn_read(&cfg, data, len, NULL, NULL);
    cairn_free(data);
    if (rc < 0)
        return corrupt(c, "a commit's config node does not parse: %s", cairn_strerror(rc));
    cairn_release(cfg);
    return 0;
}

/* Reads every commit from db's back through its parents, and their nodes. */
static int check_reachable(checker *c)
{
    cairn_addr *todo = NULL;
    size_t ntodo = 0, cap = 0;
    int rc = 0;
    if (!c->db->has_commit)
        return 0;
    if (!(todo = cairn_malloc(sizeof *todo)))
        return CAIRN_ENOMEM;
    cap = 1;
    todo[ntodo++] = c->db->commit;
    while (ntodo && rc == 0) {
        cairn_addr at = todo[--ntodo];
        cairn_db *v = NULL;
        if ((rc = cairn_addrset_add(&c->seen, &at)) <= 0)
            continue;
        if ((rc = cairn_db__open_commit(&v, c->db->ctx, &at, c->err)) == CAIRN_ENOTFOUND &&
            !cairn_addr_equal(&at, &c->db->commit)) {
            /* a parent garbage collection removed (conn/gc.c): the kept
             * history ends here. A tail's earlier commit is needed to open
             * its child, so a missing one failed that open instead. */
            cairn_error_clear(c->err);
            c->collected++;
            rc = 0;
            continue;
        }
        if (rc < 0)
            break;
        c->commits++;
        if ((rc = check_config_node(c, v)) == 0)
            rc = walk_commit(c, v);
        if (rc == 0 && ntodo + v->parent_count > cap) {
            size_t ncap = (ntodo + v->parent_count) * 2;
            cairn_addr *p = cairn_realloc(todo, cairn_mul_size(ncap, sizeof *p));
            if (!p)
                rc = CAIRN_ENOMEM;
            else {
                todo = p;
                cap = ncap;
            }
        }
        for (size_t i = 0; rc == 0 && i < v->parent_count; i++)
            todo[ntodo++] = v->parents[i];
        cairn_db_release(v);
    }
    cairn_free(todo);
    return rc < 0 ? rc : 0;
}

/* ---- pass 3: the indices agree ---------------------------------------------- */

typedef struct attr_count {
    int64_t a;           /* attribute id */
    uint64_t n[2];       /* datoms in EAVT, in its history twin */
} attr_count;

static int count_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return ((const attr_count *)entry)->a == *(const int64_t *)key;
}

static int scan_cb(const cairn_raw_datom *d, void *payload)
{
    checker *c = payload;
    uint64_t h = cairn_hash_mix((uint64_t)d->a);
    attr_count *ac = cairn_hmap_find(&c->counts, h, &d->a, count_eq, NULL);
    cairn_val v;
    int rc;
    if (!cairn_schema_by_id(c->db->schema, d->a))
        return corrupt(c, "%s datom of entity %lld names an attribute the schema lacks",
                       c->history_pass ? "a history" : "a", (long long)d->e);
    if (d->e <= 0 || d->tx > c->db->max_tx)
        return corrupt(c, "%s datom of entity %lld has an id beyond the value's counters",
                       c->history_pass ? "a history" : "a", (long long)d->e);
    if (cairn_id_is_entity(d->e) && d->e > c->db->max_eid)
        return corrupt(c, "%s datom of entity %lld is beyond max-eid", c->history_pass ? "a history" : "a",
                       (long long)d->e);
    if ((rc = cairn_db__value(&v, d)) < 0)
        return corrupt(c, "%s datom of entity %lld has a value that does not decode",
                       c->history_pass ? "a history" : "a", (long long)d->e);
    cairn_release(v);
    if (!ac) {
        if (!(ac = cairn_arena_calloc(&c->count_mem, 1, sizeof *ac)))
            return CAIRN_ENOMEM;
        ac->a = d->a;
        if (cairn_hmap_insert(&c->counts, h, ac) < 0)
            return CAIRN_ENOMEM;
    }
    ac->n[c->history_pass]++;
    if (c->history_pass)
        c->history++;
    else
        c->datoms++;
    return 0;
}

/* Datoms of tree t (a current index or a twin) whose key starts with u(a). */
static int count_attr(const cairn_db *db, int t, int64_t a, uint64_t *out)
{
    uint8_t prefix[CAIRN_KEY_U_MAX];
    size_t n = cairn_key_u(prefix, (uint64_t)a);
    cairn_btree_range r = cairn_btree_range_prefix(prefix, n);
    return cairn_btree_count_range(out, &db->trees[t], &r);
}

static int check_counts(checker *c, int hist)
{
    const cairn_db *db = c->db;
    uint64_t total_avet = 0, sum = 0;
    int off = hist ? 3 : 0, rc;
    for (size_t i = 0; i < db->schema->count; i++) {
        const cairn_attr *a = db->schema->attrs[i];
        uint64_t aevt, avet, eavt = 0;
        attr_count *ac = cairn_hmap_find(&c->counts, cairn_hash_mix((uint64_t)a->id), &a->id, count_eq, NULL);
        const char *name = cairn_ident_get(a->ident, NULL);
        if (ac)
            eavt = ac->n[hist];
        sum += eavt;
        if ((rc = count_attr(db, CAIRN_T_AEVT + off, a->id, &aevt)) < 0 ||
            (rc = count_attr(db, CAIRN_T_AVET + off, a->id, &avet)) < 0)
            return rc;
        if (aevt != eavt)
            return corrupt(c, "%s: AEVT and EAVT hold different numbers of datoms (%lld in EAVT)", name,
                           (long long)eavt);
        if (cairn_attr_avet(a) ? avet != eavt : avet != 0)
            return corrupt(c, "%s: AVET does not hold exactly the attribute's indexed datoms (%lld in EAVT)", name,
                           (long long)eavt);
        total_avet += avet;
    }
    if (sum != cairn_btree_count(&db->trees[CAIRN_T_EAVT + off]))
        return corrupt(c, "%s: datoms of attributes the schema lacks", hist ? "history" : "EAVT");
    if (cairn_btree_count(&db->trees[CAIRN_T_AEVT + off]) != sum ||
        cairn_btree_count(&db->trees[CAIRN_T_AVET + off]) != total_avet)
        return corrupt(c, "%s: index totals disagree (%lld datoms in EAVT)", hist ? "history" : "current",
                       (long long)sum);
    return 0;
}

static int check_history_twin(checker *c)
{
    cairn_btree_iter it;
    cairn_btree_key keys[64];
    cairn_btree_range all = CAIRN_BTREE_RANGE_ALL;
    int rc = 0, n;
    cairn_btree_iter_init(&it, &c->db->trees[CAIRN_T_TEAVT], &all, 0);
    c->history_pass = 1;
    while (rc == 0 && (n = cairn_btree_iter_next_batch(&it, keys, CAIRN_ARRAY_LEN(keys))) != 0) {
        if (n < 0) {
            rc = n;
            break;
        }
        for (int i = 0; i < n && rc == 0; i++) {
            cairn_key_parts p;
            cairn_raw_datom d;
            if (cairn_key_split(&p, CAIRN_IX_EAVT, 1, keys[i].data, keys[i].len) < 0) {
                rc = corrupt(c, "history EAVT: a key does not split");
                break;
            }
            d.e = (int64_t)p.e;
            d.a = (int64_t)p.a;
            d.v = p.v;
            d.v_len = p.v_len;
            d.tx = (int64_t)p.tx;
            d.added = p.added;
            rc = scan_cb(&d, c);
        }
    }
    cairn_btree_iter_dispose(&it);
    c->history_pass = 0;
    return rc;
}

static int check_indices(checker *c)
{
    cairn_db *cur = NULL;
    int rc = cairn_db__with_view(&cur, c->db, CAIRN_VIEW_CURRENT, 0);
    if (rc < 0)
        return rc;
    rc = cairn_db__scan_prefix(cur, CAIRN_IX_EAVT, NULL, 0, scan_cb, c);
    cairn_db_release(cur);
    if (rc == 0)
        rc = check_history_twin(c);
    if (rc == 0)
        rc = check_counts(c, 0);
    if (rc == 0)
        rc = check_counts(c, 1);
    return rc;
}

/* ---- the public entry ----------------------------------------------------------- */

static int report(cairn_val *out, const checker *c)
{
    cairn_val m;
    int rc = cairn_map_new(&m, 7);
    struct {
        const char *key;
        int64_t n;
    } f[] = { { "commits", c->commits }, { "nodes", c->nodes }, { "datoms", c->datoms },
              { "history-datoms", c->history }, { "attributes", (int64_t)c->db->schema->count },
              { "commits-collected", c->collected } };
    for (size_t i = 0; rc == 0 && i < CAIRN_ARRAY_LEN(f); i++) {
        cairn_val k;
        if ((rc = cairn_keyword(&k, f[i].key, strlen(f[i].key))) == 0)
            rc = cairn_map_put(&m, k, cairn_int(f[i].n));
    }
    if (rc < 0) {
        cairn_release(m);
        return rc;
    }
    *out = m;
    return 0;
}

int cairn_db_check(cairn_val *out, const cairn_db *db, cairn_error *err)
{
    checker c;
    int rc;
    memset(&c, 0, sizeof c);
    c.db = db;
    c.err = err;
    if (err)
        err->code = 0;
    if ((rc = check_reachable(&c)) < 0)
        goto done;
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        if ((rc = cairn_btree_check(&db->trees[t], err)) < 0)
            goto done;
    }
    if ((rc = check_indices(&c)) < 0)
        goto done;
    rc = report(out, &c);
done:
    cairn_addrset_dispose(&c.seen);
    cairn_hmap_dispose(&c.counts);
    cairn_arena_dispose(&c.count_mem);
    if (rc == CAIRN_ENOMEM)
        return cairn_error_oom(err);
    return cairn_error_code(err, rc);
}
