/*
 * Index benchmark: bulk build, batched random inserts, point lookups (cached
 * and cold), range scans and bytes per key, on datom-shaped EAVT keys, for
 * one node size and one tree size per run.
 *
 *   build/rel/bench/index_bench [--keys N] [--node-bytes B] [--fill P] [--quick] [--wall]
 *
 * Keys: entity e (8 bytes, big-endian), attribute a (8), value (a type tag
 * then 8 big-endian bytes for ints, or the bytes and a 0x00 terminator for
 * strings of 6 to 14 characters), transaction (8): nine attributes per
 * entity, five ints and four strings, entities created 100 per transaction.
 * That is the shape the database layer will write (DESIGN.md section 3); the
 * exact encoding is the db layer's and may differ in detail, not in size.
 *
 * The store is the :mem backend, so the numbers measure the index (encode,
 * the store's zstd frame and SHA-256, decode, search) and not a disk. "cold"
 * reads go through a cache that holds nothing, so every node below the root
 * is read from the store, hash-verified, decompressed and decoded. Times are
 * CPU time of this single-threaded process unless --wall: the machine these
 * numbers come from is shared, and elapsed time measured the scheduler.
 * Bytes per key are given twice: the index's own encoding (prefix-compressed
 * nodes) and the store's frames (zstd on top; these synthetic values are far
 * more regular than real data, so that figure flatters).
 * Prints a table, then one JSON line per figure.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "edn/value.h"
#include "index/btree.h"
#include "index/node.h"
#include "store/store.h"

#define ATTRS 9

static int use_wall;  /* --wall: wall-clock time instead of CPU time */

/*
 * Seconds of this process's CPU time (the bench is one thread), so that
 * other jobs sharing the machine do not count against the index; --wall
 * measures elapsed time instead.
 */
static double now(void)
{
    struct timespec ts;
    clock_gettime(use_wall ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static uint64_t rng_state = 0x9e3779b97f4a7c15ULL;
static uint64_t rnd(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* The datom of entity e, attribute index ai (0..8), with value variant v. */
static size_t datom(uint8_t *buf, uint64_t e, unsigned ai, uint64_t v)
{
    size_t at = 16;
    cairn_put_be64(buf, e);
    cairn_put_be64(buf + 8, 100 + ai);
    if (ai < 5) {
        buf[at++] = 0x10;  /* int tag */
        cairn_put_be64(buf + at, (e * 31 + ai * 7 + v) ^ 0x8000000000000000ULL);
        at += 8;
    } else {
        /* "word-NNNN" without snprintf, which would cost more than the index */
        static const char *words[] = { "alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel" };
        const char *w = words[(e + ai + v) % 8];
        uint64_t num = (e * 13 + v) % 10000;
        size_t wl = strlen(w);
        buf[at++] = 0x20;  /* string tag */
        memcpy(buf + at, w, wl);
        at += wl;
        buf[at++] = '-';
        for (int d = 3; d >= 0; d--, num /= 10)
            buf[at + (size_t)d] = (uint8_t)('0' + num % 10);
        at += 4;
        buf[at++] = 0;
    }
    cairn_put_be64(buf + at, 536870913 + e / 100);
    return at + 8;
}

static cairn_store *open_mem(const char *id)
{
    cairn_val m, k, v;
    cairn_store *s;
    cairn_map_new(&m, 2);
    cairn_keyword(&k, "backend", 7);
    cairn_keyword(&v, "mem", 3);
    cairn_map_put(&m, k, v);
    cairn_keyword(&k, "id", 2);
    cairn_string(&v, id, strlen(id));
    cairn_map_put_take(&m, k, v);
    if (cairn_store_open(&s, m, NULL) != 0) {
        fprintf(stderr, "cannot open the mem store\n");
        exit(1);
    }
    cairn_release(m);
    return s;
}

static void die(const char *what, int rc)
{
    if (rc < 0) {
        fprintf(stderr, "%s: %s\n", what, cairn_strerror(rc));
        exit(1);
    }
}

struct result {
    const char *name;   /* metric */
    double value;       /* figure */
    const char *unit;   /* unit */
};

static struct result results[40];
static int nresults;

static void report(const char *name, double value, const char *unit)
{
    results[nresults].name = name;
    results[nresults].value = value;
    results[nresults].unit = unit;
    nresults++;
    fprintf(stderr, "  %-34s %14.1f %s\n", name, value, unit);
}

struct walk_sum {
    cairn_nodecache *cache;  /* to load nodes */
    cairn_buf enc;           /* encoding scratch */
    size_t bytes;            /* payload bytes so far */
};

static int sum_node(const cairn_addr *addr, unsigned level, void *payload)
{
    struct walk_sum *w = payload;
    cairn_node *n;
    (void)level;
    die("load", cairn_nodecache_get(&n, w->cache, addr));
    cairn_buf_clear(&w->enc);
    die("encode", cairn_node_encode(&w->enc, n));
    w->bytes += w->enc.len;
    cairn_node_unref(n);
    return 0;
}

/* Bytes of the index's own encoding of every node of t (before the store's
 * compression). */
static size_t payload_bytes(const cairn_btree *t)
{
    struct walk_sum w = { t->cache, CAIRN_BUF_INIT, 0 };
    die("walk", cairn_btree_walk(t, sum_node, &w));
    cairn_buf_dispose(&w.enc);
    return w.bytes;
}

/* One run's setup, shared by the phases. */
typedef struct bench {
    cairn_btree_opts opts;       /* node size and fill */
    uint64_t keys;               /* keys in the tree */
    uint64_t entities;           /* keys / ATTRS */
    uint64_t lookups;            /* point lookups to time */
    int quick;                   /* fewer lookups and insert batches */
    cairn_store *store;          /* the :mem store */
    cairn_nodecache *cache;      /* large: everything stays cached */
    cairn_nodecache *cold;       /* caches nothing */
    cairn_store_batch *batch;    /* writes */
    cairn_btree t;               /* the tree under test */
} bench;

/* Bulk build, writing the batch every 4096 nodes; sizes. */
static void phase_build(bench *B)
{
    cairn_btree_builder *b;
    uint8_t buf[64];
    size_t disk = 0, nodes = 0;
    double t0 = now();
    die("builder", cairn_btree_builder_new(&b, B->cache, &B->opts, B->batch));
    for (uint64_t e = 1; e <= B->entities; e++)
        for (unsigned a = 0; a < ATTRS; a++) {
            die("add", cairn_btree_builder_add(b, buf, datom(buf, e, a, 0)));
            if (cairn_store_batch_count(B->batch) >= 4096) {
                disk += cairn_store_batch_bytes(B->batch);
                nodes += cairn_store_batch_count(B->batch);
                die("write", cairn_store_batch_commit(B->batch));
            }
        }
    die("finish", cairn_btree_builder_finish(&B->t, b));
    disk += cairn_store_batch_bytes(B->batch);
    nodes += cairn_store_batch_count(B->batch);
    die("write", cairn_store_batch_commit(B->batch));
    report("bulk_build_keys_per_s", (double)B->keys / (now() - t0), "keys/s");
    cairn_btree_builder_free(b);
    report("bytes_per_key_index", (double)payload_bytes(&B->t) / (double)B->keys, "B");
    report("bytes_per_key_stored", (double)disk / (double)B->keys, "B");
    report("depth", cairn_btree_depth(&B->t), "levels");
    report("nodes", (double)nodes, "nodes");
    report("mean_node_bytes_stored", (double)disk / (double)nodes, "B");
}

/* Keys per second of a scan of t (up to limit keys), in batches or one by one. */
static double scan(const cairn_btree *t, uint64_t limit, int batches)
{
    cairn_btree_iter it;
    cairn_btree_key k, ks[256];
    uint64_t seen = 0;
    int n;
    double t0 = now();
    cairn_btree_iter_init(&it, t, NULL, 0);
    if (batches)
        while (seen < limit && (n = cairn_btree_iter_next_batch(&it, ks, 256)) > 0)
            seen += (uint64_t)n;
    else
        while (seen < limit && cairn_btree_iter_next(&it, &k) == 1)
            seen += k.len != 0;
    cairn_btree_iter_dispose(&it);
    if (seen < limit && seen != cairn_btree_count(t))
        die("scan count", CAIRN_ERROR);
    return (double)seen / (now() - t0);
}

/* Nanoseconds per lookup of n random present keys of t. */
static double lookups(const bench *B, const cairn_btree *t, uint64_t n)
{
    uint8_t buf[64];
    uint64_t found = 0;
    double t0 = now();
    for (uint64_t i = 0; i < n; i++) {
        uint64_t e = 1 + rnd() % B->entities;
        found += (uint64_t)cairn_btree_contains(t, buf, datom(buf, e, (unsigned)(rnd() % ATTRS), 0));
    }
    if (found != n)
        die("lookups", CAIRN_ERROR);
    return (now() - t0) * 1e9 / (double)n;
}

/*
 * The same in key order with random gaps: the pattern of a sorted
 * index-nested-loop join, where consecutive lookups share the upper levels
 * and often the leaf.
 */
static double sorted_lookups(const bench *B)
{
    uint8_t buf[64];
    uint64_t step = 2 * B->entities / B->lookups + 1, done = 0, found = 0;
    double t0 = now();
    for (uint64_t e = 1; e <= B->entities; e += 1 + rnd() % step, done++)
        found += (uint64_t)cairn_btree_contains(&B->t, buf, datom(buf, e, (unsigned)(rnd() % ATTRS), 0));
    if (found != done)
        die("sorted lookups", CAIRN_ERROR);
    return (now() - t0) * 1e9 / (double)done;
}

/* Reads: scans and lookups through the full cache, then cold. */
static void phase_reads(bench *B)
{
    cairn_btree c;
    cairn_addr root;
    report("range_scan_batch_keys_per_s", scan(&B->t, B->keys, 1), "keys/s");
    report("range_scan_next_keys_per_s", scan(&B->t, B->keys, 0), "keys/s");
    report("lookup_cached_ns", lookups(B, &B->t, B->lookups), "ns");
    report("lookup_cached_sorted_ns", sorted_lookups(B), "ns");
    /* every node below the root read from the store, verified, decoded */
    die("root", cairn_btree_root(&root, &B->t));
    die("open cold", cairn_btree_open(&c, B->cold, &root, &B->opts));
    report("lookup_cold_ns", lookups(B, &c, B->lookups / 20), "ns");
    report("range_scan_cold_keys_per_s", scan(&c, B->keys / 10, 1), "keys/s");
    cairn_btree_dispose(&c);
}

/*
 * Random inserts in batches of 1000: new datoms of existing entities (a
 * second value), applied, then committed into the batch and written.
 */
static void phase_inserts(bench *B)
{
    static cairn_btree_change ch[1000];
    static uint8_t kb[1000][64];
    double apply = 0, commit = 0, t0, t1;
    int batches = B->quick ? 50 : 200;
    uint64_t inserted = 0;
    for (int r = 0; r < batches; r++) {
        cairn_btree_transient *tt;
        cairn_btree next;
        size_t changed;
        for (int i = 0; i < 1000; i++) {
            ch[i].key = kb[i];
            ch[i].len = datom(kb[i], 1 + rnd() % B->entities, (unsigned)(rnd() % ATTRS), 1 + rnd() % 1000000);
            ch[i].op = CAIRN_BTREE_INSERT;
        }
        t0 = now();
        die("transient", cairn_btree_transient_new(&tt, &B->t));
        die("apply", cairn_btree_transient_apply(tt, ch, 1000, 0, &changed));
        t1 = now();
        apply += t1 - t0;
        die("commit", cairn_btree_transient_commit(&next, tt, B->batch));
        die("write", cairn_store_batch_commit(B->batch));
        commit += now() - t1;
        inserted += changed;
        cairn_btree_transient_free(tt);
        cairn_btree_dispose(&B->t);
        B->t = next;
    }
    report("insert_batch1000_apply_keys_per_s", (double)inserted / apply, "keys/s");
    report("insert_batch1000_commit_keys_per_s", (double)inserted / (apply + commit), "keys/s");
    report("insert_batch1000_ms_per_batch", (apply + commit) * 1e3 / batches, "ms");
}

static int parse_args(bench *B, int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--keys") && i + 1 < argc)
            B->keys = strtoull(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--node-bytes") && i + 1 < argc)
            B->opts.node_bytes = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--fill") && i + 1 < argc)
            B->opts.fill_pct = (uint32_t)strtoul(argv[++i], NULL, 10);
        else if (!strcmp(argv[i], "--quick"))
            B->quick = 1;
        else if (!strcmp(argv[i], "--wall"))
            use_wall = 1;
        else
            return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    bench B;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_btree_opts o = CAIRN_BTREE_OPTS_INIT;
    memset(&B, 0, sizeof B);
    B.opts = o;
    B.keys = 1000000;
    if (parse_args(&B, argc, argv) < 0) {
        fprintf(stderr, "usage: index_bench [--keys N] [--node-bytes B] [--fill P] [--quick] [--wall]\n");
        return 2;
    }
    B.lookups = B.quick ? 200000 : 1000000;
    B.entities = B.keys / ATTRS;
    B.keys = B.entities * ATTRS;
    B.store = open_mem("index-bench");
    die("cache", cairn_nodecache_new(&B.cache, B.store, (size_t)4 << 30));
    die("cache", cairn_nodecache_new(&B.cold, B.store, 0));
    die("batch", cairn_store_batch_new(&B.batch, B.store));
    cairn_btree_init(&B.t, B.cache, &B.opts);
    fprintf(stderr, "index_bench: %" PRIu64 " EAVT keys, node_bytes %u, fill %u%%, %s time\n", B.keys,
            B.t.node_bytes, B.t.fill_pct, use_wall ? "wall" : "CPU");
    phase_build(&B);
    phase_reads(&B);
    phase_inserts(&B);
    if (!B.quick && B.keys <= 2000000 && cairn_btree_check(&B.t, &err) != 0) {
        fprintf(stderr, "check: %s\n", err.message);
        return 1;
    }
    for (int i = 0; i < nresults; i++)
        printf("{\"bench\":\"index\",\"keys\":%" PRIu64 ",\"node_bytes\":%u,\"fill_pct\":%u,\"metric\":\"%s\","
               "\"value\":%.1f,\"unit\":\"%s\"}\n",
               B.keys, B.t.node_bytes, B.t.fill_pct, results[i].name, results[i].value, results[i].unit);
    cairn_btree_dispose(&B.t);
    cairn_store_batch_free(B.batch);
    cairn_nodecache_free(B.cold);
    cairn_nodecache_free(B.cache);
    cairn_store_close(B.store);
    return 0;
}
