/* Garbage collection (cairn_gc_storage, conn/gc.c): what it keeps is read
 * back through fresh connections, datom by datom; what it deletes is gone;
 * commits running beside it and I/O faults inside it lose nothing. */
#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>

#include "test.h"
#include "base/alloc.h"
#include "base/common.h"
#include "conn/conn_int.h"
#include "store/file.h"
#include "store/store.h"
#include "support/store_fault.h"
#include "support/store_util.h"

static cairn_val edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s", err.message);
    return v;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const char *SCHEMA =
    "[{:db/ident :p/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one"
    "  :db/unique :db.unique/identity}"
    " {:db/ident :p/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/index true}"
    " {:db/ident :p/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]";

static cairn_conn *connect_cfg(cairn_val cfg)
{
    cairn_conn *c;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_connect(&c, cfg, &err);
    CHECK_MSG(rc == 0, "connect: %s", err.message);
    return c;
}

static cairn_conn *setup(cairn_val cfg)
{
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_conn *c;
    int rc = cairn_create_database(cfg, &err);
    CHECK_MSG(rc == 0, "create: %s", err.message);
    c = connect_cfg(cfg);
    rc = cairn_transact_edn(NULL, c, SCHEMA, strlen(SCHEMA), &err);
    CHECK_MSG(rc == 0, "schema: %s", err.message);
    return c;
}

/* Transaction k of the workload: a batch of new people with friends among
 * the earlier ones, and now and then ages changed and a friend retracted,
 * so the trees see inserts everywhere, overwrites and retractions. */
static void workload_tx(cairn_conn *c, int k, int *people)
{
    char buf[32768];
    size_t at = 0;
    int n = 1 + (int)test_rand_below(k % 5 == 0 ? 200 : 12);
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    at += (size_t)snprintf(buf + at, sizeof buf - at, "[");
    for (int i = 0; i < n && at < sizeof buf - 200; i++) {
        int id = (*people)++;
        at += (size_t)snprintf(buf + at, sizeof buf - at, "{:p/name \"p-%d\" :p/age %d", id,
                               (int)test_rand_below(100));
        if (id > 0)
            at += (size_t)snprintf(buf + at, sizeof buf - at, " :p/friend [[:p/name \"p-%d\"]]",
                                   (int)test_rand_below((uint64_t)id));
        at += (size_t)snprintf(buf + at, sizeof buf - at, "}");
    }
    at += (size_t)snprintf(buf + at, sizeof buf - at, "]");
    rc = cairn_transact_edn(NULL, c, buf, at, &err);
    CHECK_MSG(rc == 0, "tx %d: %s", k, err.message);
    if (k % 7 == 3 && *people > 2) {
        snprintf(buf, sizeof buf, "[{:db/id [:p/name \"p-%d\"] :p/age %d}]", (int)test_rand_below((uint64_t)*people),
                 100 + k);
        rc = cairn_transact_edn(NULL, c, buf, strlen(buf), &err);
        CHECK_MSG(rc == 0, "overwrite %d: %s", k, err.message);
    }
}

/* FNV-1a over the printed datoms of one index of db (and their count). */
static uint64_t fingerprint(const cairn_db *db, cairn_index index, int64_t *count)
{
    cairn_datoms *it;
    cairn_datom d;
    cairn_error err = CAIRN_ERROR_INIT;
    uint64_t h = 1469598103934665603ull;
    int64_t n = 0;
    int rc = cairn_datoms_open(&it, db, index, cairn_nil(), &err);
    CHECK_MSG(rc == 0, "datoms: %s", err.message);
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        char *s;
        size_t len;
        char head[64];
        int hn = snprintf(head, sizeof head, "%lld %lld %d ", (long long)d.e, (long long)d.tx, d.added);
        CHECK_OK(cairn_edn_print(&s, &len, d.a));
        for (int i = 0; i < hn; i++)
            h = (h ^ (uint8_t)head[i]) * 1099511628211ull;
        for (size_t i = 0; i < len; i++)
            h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
        cairn_free(s);
        CHECK_OK(cairn_edn_print(&s, &len, d.v));
        for (size_t i = 0; i < len; i++)
            h = (h ^ (uint8_t)s[i]) * 1099511628211ull;
        cairn_free(s);
        n++;
    }
    CHECK_MSG(rc == CAIRN_ENOTFOUND, "datoms_next: %s", cairn_strerror(rc));
    cairn_datoms_close(it);
    if (count)
        *count = n;
    return h;
}

/* What a value shows: its current datoms (EAVT and AVET) and its history. */
typedef struct shown {
    uint64_t eavt, avet, hist;
    int64_t n, nhist;
} shown;

static shown show_view(const cairn_db *db, int history)
{
    shown s;
    cairn_db *h;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    s.eavt = fingerprint(db, CAIRN_INDEX_EAVT, &s.n);
    s.avet = fingerprint(db, CAIRN_INDEX_AVET, NULL);
    s.hist = 0;
    s.nhist = 0;
    if (!history)
        return s;
    rc = cairn_db_history(&h, db, &err);
    CHECK_MSG(rc == 0, "history: %s", err.message);
    s.hist = fingerprint(h, CAIRN_INDEX_EAVT, &s.nhist);
    cairn_db_release(h);
    return s;
}

static shown show(const cairn_db *db)
{
    return show_view(db, 1);
}

static void check_shown(const shown *a, const shown *b, const char *what)
{
    CHECK_MSG(a->n == b->n && a->eavt == b->eavt && a->avet == b->avet && a->nhist == b->nhist && a->hist == b->hist,
              "%s: %lld datoms / %lld history before, %lld / %lld after, or their fingerprints differ", what,
              (long long)a->n, (long long)a->nhist, (long long)b->n, (long long)b->nhist);
}

static cairn_db *db_of(cairn_conn *c)
{
    cairn_db *db;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_conn_db(&db, c, &err);
    CHECK_MSG(rc == 0, "db: %s", err.message);
    return db;
}

static void gc(cairn_conn *c, int64_t before, cairn_gc_stats *st)
{
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_gc_storage(c, before, st, &err);
    CHECK_MSG(rc == 0, "gc: %s %s", err.keyword, err.message);
}

static int count_cb(const cairn_addr *a, void *p)
{
    (void)a;
    ++*(int64_t *)p;
    return 0;
}

static int64_t store_nodes(cairn_conn *c)
{
    int64_t n = 0;
    CHECK_OK(c->ctx->store->methods->list(c->ctx->store, count_cb, &n));
    return n;
}

static int64_t du_bytes(const char *dir)
{
    char cmd[1200];
    long long n = -1;
    FILE *p;
    snprintf(cmd, sizeof cmd, "find '%s' -type f -printf '%%s\\n' | awk '{s+=$1} END {print s+0}'", dir);
    p = popen(cmd, "r");
    CHECK(p != NULL);
    if (p) {
        CHECK(fscanf(p, "%lld", &n) == 1);
        pclose(p);
    }
    return n;
}

/* Writes n nodes no commit names, as a crash between a commit's nodes and
 * its head would leave; returns their addresses. */
static void put_junk(cairn_conn *c, cairn_addr *out, int n)
{
    cairn_store_batch *b;
    CHECK_OK(cairn_store_batch_new(&b, c->ctx->store));
    for (int i = 0; i < n; i++) {
        char junk[100];
        int len = snprintf(junk, sizeof junk, "junk %d %llu", i, (unsigned long long)test_rand());
        CHECK_OK(cairn_store_batch_add(b, junk, (size_t)len, &out[i]));
    }
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
}

static int node_exists(cairn_conn *c, const cairn_addr *a)
{
    void *data = NULL;
    size_t len = 0;
    int rc = cairn_store_get_node(c->ctx->store, a, &data, &len);
    cairn_free(data);
    CHECK_MSG(rc == 0 || rc == CAIRN_ENOTFOUND, "get: %s", cairn_strerror(rc));
    return rc == 0;
}

#define MAX_COMMITS 400

/* Commits reachable from c's head through first parents. */
static int64_t walk_commits(cairn_conn *c)
{
    cairn_db *db = db_of(c);
    int64_t n = 0;
    while (db) {
        cairn_val parents;
        cairn_db *p = NULL;
        n++;
        CHECK_OK(cairn_db_parent_commit_ids(&parents, db, NULL));
        if (cairn_count(parents))
            CHECK_OK(cairn_db_commit_as_db(&p, db, cairn_coll_get(parents, 0), NULL));
        cairn_release(parents);
        cairn_db_release(db);
        db = p;
    }
    return n;
}

/* Runs the workload, keeping every commit's id and what it showed. */
static int run_workload(cairn_conn *c, int txs, cairn_val *ids, shown *seen, int *people)
{
    int n = 0;
    for (int k = 0; k < txs; k++) {
        workload_tx(c, k, people);
        if (n < MAX_COMMITS) {
            cairn_db *db = db_of(c);
            ids[n] = cairn_db_commit_id(db);
            seen[n] = show(db);
            n++;
            cairn_db_release(db);
        }
    }
    return n;
}

/*
 * Opens every recorded commit through a fresh connection: one that opens
 * shows what it showed before, one that does not is :commit-does-not-exist,
 * and those from must_from on must open. Returns how many opened.
 */
static int check_commits(cairn_val cfg, cairn_val *ids, shown *seen, int n, int must_from, int collected)
{
    cairn_conn *fresh = connect_cfg(cfg);
    cairn_db *head = db_of(fresh);
    int opened = 0;
    for (int i = 0; i < n; i++) {
        cairn_db *v = NULL;
        cairn_error err = CAIRN_ERROR_INIT;
        int rc = cairn_db_commit_as_db(&v, head, ids[i], &err);
        if (rc == 0) {
            shown now = show(v);
            char what[64];
            snprintf(what, sizeof what, "commit %d", i);
            check_shown(&seen[i], &now, what);
            opened++;
        } else {
            CHECK_MSG(i < must_from, "commit %d of %d was kept but does not open: %s", i, n, err.message);
            CHECK_EQ(rc, CAIRN_ENOTFOUND);
            CHECK_STR(err.keyword, ":commit-does-not-exist");
        }
        cairn_db_release(v);
    }
    {
        cairn_val r, k, v;
        cairn_error err = CAIRN_ERROR_INIT;
        int rc = cairn_db_check(&r, head, &err);
        CHECK_MSG(rc == 0, "check after gc: %s", err.message);
        if (rc == 0) {
            CHECK_OK(cairn_keyword(&k, "commits-collected", 17));
            CHECK(cairn_map_get(&v, r, k));
            CHECK_MSG((cairn_int_value(v) > 0) == collected, "commits-collected %lld", (long long)cairn_int_value(v));
            cairn_release(r);
        }
    }
    cairn_db_release(head);
    cairn_conn_release(fresh);
    return opened;
}

static cairn_val cfg_of(const char *backend, const char *extra)
{
    char buf[1200];
    if (!strcmp(backend, "mem"))
        snprintf(buf, sizeof buf, "{:store {:backend :mem :id \"gc-%llu\"} %s}",
                 (unsigned long long)test_rand_below(1ull << 40), extra);
    else
        snprintf(buf, sizeof buf, "{:store {:backend :file :path \"%s/db-%llu\"} %s}", test_tmpdir(),
                 (unsigned long long)test_rand_below(1ull << 40), extra);
    return edn(buf);
}

/* ---- keep everything: only unnamed nodes go ------------------------------------- */

void test_db_gc__keep_all_deletes_only_nodes_no_commit_names(void)
{
    static const char *backends[] = { "mem", "file" };
    for (size_t b = 0; b < 2; b++) {
        cairn_val cfg = cfg_of(backends[b], ":tail-commits 3");
        cairn_conn *c = setup(cfg);
        static cairn_val ids[MAX_COMMITS];
        static shown seen[MAX_COMMITS];
        cairn_addr junk[5];
        cairn_gc_stats st;
        int people = 0, n = run_workload(c, 40, ids, seen, &people);
        int64_t before, commits = walk_commits(c);
        put_junk(c, junk, 5);
        before = store_nodes(c);
        gc(c, CAIRN_GC_KEEP_ALL, &st);
        CHECK_EQ(st.deleted, 5);
        CHECK_EQ(st.commits, commits);
        CHECK(commits > n);
        CHECK_EQ(store_nodes(c), before - 5);
        CHECK_EQ(st.kept, before - 5);
        for (int i = 0; i < 5; i++)
            CHECK(!node_exists(c, &junk[i]));
        CHECK_EQ(check_commits(cfg, ids, seen, n, 0, 0), n);
        /* nothing left to collect */
        gc(c, CAIRN_GC_KEEP_ALL, &st);
        CHECK_EQ(st.deleted, 0);
        for (int i = 0; i < n; i++)
            cairn_release(ids[i]);
        cairn_conn_release(c);
        cairn_release(cfg);
    }
}

/* ---- remove-before: the head and every transaction of its history stay --------- */

void test_db_gc__remove_before_keeps_the_head_and_all_its_history(void)
{
    static const char *backends[] = { "mem", "file" };
    for (size_t b = 0; b < 2; b++) {
        cairn_val cfg = cfg_of(backends[b], ":tail-commits 3");
        cairn_conn *c = setup(cfg);
        static cairn_val ids[MAX_COMMITS];
        static shown seen[MAX_COMMITS];
        shown asof[8];
        int64_t txs[8], bytes0 = 0, nodes0;
        cairn_gc_stats st;
        int people = 0, n = run_workload(c, 60, ids, seen, &people);
        cairn_db *head = db_of(c);
        char path[1100] = "";
        for (int i = 0; i < 8; i++) {
            cairn_db *v;
            txs[i] = cairn_db_max_tx(head) - (int64_t)test_rand_below(60);
            CHECK_OK(cairn_db_as_of(&v, head, cairn_int(txs[i]), NULL));
            asof[i] = show_view(v, 0);
            cairn_db_release(v);
        }
        if (b == 1) {
            snprintf(path, sizeof path, "%s", cairn_str_get(cairn_store_config_get(c->ctx->store_config, "path"), NULL));
            bytes0 = du_bytes(path);
        }
        nodes0 = store_nodes(c);
        gc(c, now_ms() + 1, &st);
        CHECK_MSG(st.deleted > 0 && st.deleted < nodes0, "deleted %lld of %lld", (long long)st.deleted,
                  (long long)nodes0);
        CHECK_MSG(st.commits >= 1 && st.commits <= 4, "kept %lld commits (a head and at most 3 of its tail)",
                  (long long)st.commits);
        CHECK_EQ(store_nodes(c), st.kept);
        if (b == 1)
            CHECK_MSG(du_bytes(path) < bytes0 * 3 / 4, "%lld bytes before, %lld after", (long long)bytes0,
                      (long long)du_bytes(path));
        {
            /* the head opens; of the others, at most its tail's */
            int opened = check_commits(cfg, ids, seen, n, n - 1, 1);
            CHECK_MSG(opened >= 1 && opened <= st.commits, "%d of %d recorded commits open, %lld kept", opened, n,
                      (long long)st.commits);
        }
        {
            /* as-of reaches every transaction still, from a fresh connection */
            cairn_conn *fresh = connect_cfg(cfg);
            cairn_db *h = db_of(fresh);
            for (int i = 0; i < 8; i++) {
                cairn_db *v;
                CHECK_OK(cairn_db_as_of(&v, h, cairn_int(txs[i]), NULL));
                shown now = show_view(v, 0);
                check_shown(&asof[i], &now, "as-of");
                cairn_db_release(v);
            }
            cairn_db_release(h);
            cairn_conn_release(fresh);
        }
        /* the connection writes on, and a second collection keeping all deletes nothing */
        workload_tx(c, 61, &people);
        gc(c, CAIRN_GC_KEEP_ALL, &st);
        CHECK_EQ(st.deleted, 0);
        {
            cairn_conn *fresh = connect_cfg(cfg);
            cairn_db *h = db_of(fresh), *mine = db_of(c);
            shown a = show(mine), f = show(h);
            check_shown(&a, &f, "after writing on");
            cairn_db_release(h);
            cairn_db_release(mine);
            cairn_conn_release(fresh);
        }
        cairn_db_release(head);
        for (int i = 0; i < n; i++)
            cairn_release(ids[i]);
        cairn_conn_release(c);
        cairn_release(cfg);
    }
}

/* A commit that cannot be read stops the collection before it deletes. */
void test_db_gc__an_unreadable_commit_stops_it_before_any_delete(void)
{
    cairn_val cfg = cfg_of("mem", "");
    cairn_conn *c = setup(cfg);
    cairn_addr junk[3], parent;
    cairn_db *db;
    cairn_val parents;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_gc_stats st;
    int people = 0;
    for (int k = 0; k < 5; k++)
        workload_tx(c, k, &people);
    put_junk(c, junk, 3);
    db = db_of(c);
    /* the head's tail needs its parent: take that record away */
    CHECK_OK(cairn_db_parent_commit_ids(&parents, db, NULL));
    memcpy(parent.bytes, cairn_uuid_get(cairn_coll_get(parents, 0)), CAIRN_ADDR_LEN);
    cairn_release(parents);
    CHECK_OK(c->ctx->store->methods->del(c->ctx->store, &parent));
    CHECK_ERR(cairn_gc_storage(c, CAIRN_GC_KEEP_ALL, &st, &err), CAIRN_ENOTFOUND);
    CHECK_STR(err.keyword, ":gc/mark");
    CHECK_MSG(strstr(err.message, "nothing was deleted") != NULL, "%s", err.message);
    for (int i = 0; i < 3; i++)
        CHECK(node_exists(c, &junk[i]));
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

/* ---- the file store: packs rewritten under readers of other handles ------------- */

static int gcpacks_open(cairn_store **out, cairn_val config, cairn_error *err);

void test_db_gc__readers_of_other_handles_follow_rewritten_packs(void)
{
    static int registered;
    cairn_val cfg;
    cairn_conn *w, *r;
    cairn_db *rdb, *wdb;
    cairn_gc_stats st;
    int people = 0;
    char path[1100], text[1300];
    if (!registered) {
        CHECK_OK(cairn_store_register("gcpacks", gcpacks_open));
        registered = 1;
    }
    snprintf(path, sizeof path, "%s/db", test_tmpdir());
    snprintf(text, sizeof text, "{:store {:backend :gcpacks :path \"%s\"} :tail-commits 2}", path);
    cfg = edn(text);
    w = setup(cfg);
    snprintf(path, sizeof path, "%s/db/packs", test_tmpdir());
    for (int k = 0; k < 40; k++)
        workload_tx(w, k * 5, &people); /* k * 5: the large batches, so flushes write packs */
    CHECK_MSG(store_count_files(path, "") >= 3, "%d packs", store_count_files(path, ""));
    /* a reader that has listed every pack but read from few */
    r = connect_cfg(cfg);
    rdb = db_of(r);
    CHECK_EQ(cairn_db_max_tx(rdb), cairn_db_max_tx(wdb = db_of(w)));
    gc(w, now_ms() + 1, &st);
    CHECK(st.deleted > 0);
    {
        /* the reader's value and its next one read in full, through its own handle */
        shown a = show(wdb), b = show(rdb);
        cairn_db *again = db_of(r);
        shown c2 = show(again);
        check_shown(&a, &b, "reader's value");
        check_shown(&a, &c2, "reader's next value");
        cairn_db_release(again);
    }
    cairn_db_release(rdb);
    cairn_db_release(wdb);
    cairn_conn_release(r);
    cairn_conn_release(w);
    cairn_release(cfg);
}

/* ---- commits beside a collection ------------------------------------------------- */

struct writer_arg {
    cairn_conn *c;
    int id, n;
    int failed;
};

static void *writer_main(void *p)
{
    struct writer_arg *a = p;
    for (int i = 0; i < a->n; i++) {
        char buf[200];
        cairn_error err = CAIRN_ERROR_INIT;
        snprintf(buf, sizeof buf, "[{:p/name \"w%d-%d\" :p/age %d}]", a->id, i, i);
        if (cairn_transact_edn(NULL, a->c, buf, strlen(buf), &err) != 0)
            a->failed++;
    }
    return NULL;
}

void test_db_gc__commits_beside_a_collection_all_survive(void)
{
    static const char *backends[] = { "mem", "file" };
    for (size_t b = 0; b < 2; b++) {
        cairn_val cfg = cfg_of(backends[b], ":tail-commits 4");
        cairn_conn *c = setup(cfg);
        enum { W = 4 };
        struct writer_arg args[W];
        pthread_t th[W];
        int per = 150 * (int)test_scale(), rounds = 0, people = 0;
        for (int k = 0; k < 10; k++)
            workload_tx(c, k, &people);
        for (int i = 0; i < W; i++) {
            args[i] = (struct writer_arg){ c, i, per, 0 };
            CHECK(pthread_create(&th[i], NULL, writer_main, &args[i]) == 0);
        }
        for (;;) {
            cairn_gc_stats st;
            int done = 1;
            struct timespec pause = { 0, 20 * 1000 * 1000 };
            gc(c, rounds % 2 ? CAIRN_GC_KEEP_ALL : now_ms(), &st);
            rounds++;
            nanosleep(&pause, NULL); /* a file store's collection starts a log segment */
            pthread_mutex_lock(&c->lock);
            done = c->applied >= (uint64_t)(W * per + 12);
            pthread_mutex_unlock(&c->lock);
            if (done)
                break;
        }
        for (int i = 0; i < W; i++) {
            pthread_join(th[i], NULL);
            CHECK_EQ(args[i].failed, 0);
        }
        CHECK_MSG(rounds >= 2, "%d collections ran beside the writers", rounds);
        {
            cairn_conn *fresh = connect_cfg(cfg);
            cairn_db *db = db_of(fresh);
            cairn_val r;
            cairn_error err = CAIRN_ERROR_INIT;
            int rc;
            for (int i = 0; i < W; i++)
                for (int j = 0; j < per; j += 1 + (int)test_rand_below(7)) {
                    char q[100];
                    cairn_datoms *it;
                    cairn_datom d;
                    snprintf(q, sizeof q, "[:p/name \"w%d-%d\"]", i, j);
                    cairn_val comps = edn(q);
                    CHECK_OK(cairn_datoms_open(&it, db, CAIRN_INDEX_AVET, comps, NULL));
                    CHECK_MSG(cairn_datoms_next(it, &d) == 0, "w%d-%d is missing after %d collections", i, j,
                              rounds);
                    cairn_datoms_close(it);
                    cairn_release(comps);
                }
            rc = cairn_db_check(&r, db, &err);
            CHECK_MSG(rc == 0, "check: %s", err.message);
            if (rc == 0)
                cairn_release(r);
            cairn_db_release(db);
            cairn_conn_release(fresh);
        }
        cairn_conn_release(c);
        cairn_release(cfg);
    }
}

/* ---- I/O faults inside a collection ---------------------------------------------- */

static vfs_fault gc_vfs;

/* {:backend :gcpacks :path P}: a file store whose every put_many of two or
 * more new nodes writes a pack. */
static int gcpacks_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    const char *path = cairn_store_config_string(config, "path", err);
    if (!path)
        return CAIRN_EINVALID;
    opt.pack_min = 2;
    opt.log_bytes = 32768; /* checkpoints, and so packs, every few commits */
    return cairn_store_file_open_with(out, path, &opt, err);
}

static int gcfault_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    const char *path = cairn_store_config_string(config, "path", err);
    if (!path)
        return CAIRN_EINVALID;
    opt.vfs = &gc_vfs.vfs;
    opt.threads = 1;
    return cairn_store_file_open_with(out, path, &opt, err);
}

/*
 * For n = 1, 2, ...: a copy of one store full of garbage,
 * a collection whose nth write-side I/O call fails (once, or from then on), then a fresh
 * connection through the plain file backend reads the head in full and
 * checks it. The sweep ends when a collection no longer reaches its fault.
 */
void test_db_gc__io_faults_in_a_collection_lose_nothing(void)
{
    static int registered;
    char tmpl[1100], cmd[2400];
    cairn_val cfg;
    shown want;
    long faults = 0;
    int people = 0;
    if (!registered) {
        vfs_fault_init(&gc_vfs, NULL);
        CHECK_OK(cairn_store_register("gcfault", gcfault_open));
        registered = 1;
    }
    snprintf(tmpl, sizeof tmpl, "%s/template", test_tmpdir());
    snprintf(cmd, sizeof cmd, "{:store {:backend :file :path \"%s\"} :tail-commits 2}", tmpl);
    cfg = edn(cmd);
    {
        cairn_conn *c = setup(cfg);
        cairn_db *db;
        for (int k = 0; k < 6; k++)
            workload_tx(c, k * 5, &people);
        db = db_of(c);
        want = show(db);
        cairn_db_release(db);
        cairn_conn_release(c);
    }
    cairn_release(cfg);
    /* Deleting a node opens its fan-out directory, which rarely exists:
     * hundreds of such calls come before the pack rewrites. So two sweeps
     * leave directory opens out and fail every other call in turn, and a
     * third counts them too, over a seeded sample. */
    struct { unsigned mask; int persistent, sampled; } sweeps[] = {
        { (VOP_WRITES | VOP_BIT(VOP_LIST)) & ~VOP_BIT(VOP_DIR_OPEN), 0, 0 },
        { (VOP_WRITES | VOP_BIT(VOP_LIST)) & ~VOP_BIT(VOP_DIR_OPEN), 1, 0 },
        { VOP_WRITES | VOP_BIT(VOP_LIST), 0, 1 },
    };
    for (size_t sw = 0; sw < CAIRN_ARRAY_LEN(sweeps); sw++) {
        int persistent = sweeps[sw].persistent;
        for (uint64_t n = 1;; n += !sweeps[sw].sampled || n < 32 ? 1 : 1 + test_rand_below(n / 6)) {
            char dir[1200];
            cairn_conn *c;
            cairn_gc_stats st;
            cairn_error err = CAIRN_ERROR_INIT;
            int rc, hit;
            snprintf(dir, sizeof dir, "%s/run", test_tmpdir());
            snprintf(cmd, sizeof cmd, "rm -rf '%s' && cp -a '%s' '%s'", dir, tmpl, dir);
            CHECK(system(cmd) == 0);
            snprintf(cmd, sizeof cmd, "{:store {:backend :gcfault :path \"%s\"} :tail-commits 2}", dir);
            cfg = edn(cmd);
            c = connect_cfg(cfg);
            vfs_fault_arm(&gc_vfs, sweeps[sw].mask, n, persistent, EIO);
            rc = cairn_gc_storage(c, now_ms() + 1, &st, &err);
            hit = atomic_load(&gc_vfs.injected) > 0;
            vfs_fault_disarm(&gc_vfs);
            cairn_conn_release(c);
            cairn_release(cfg);
            CHECK_MSG(hit || rc == 0, "gc failed with no fault: %s", err.message);
            faults += hit;
            {
                snprintf(cmd, sizeof cmd, "{:store {:backend :file :path \"%s\"}}", dir);
                cfg = edn(cmd);
                cairn_conn *fresh = connect_cfg(cfg);
                cairn_db *db = db_of(fresh);
                shown now = show(db);
                cairn_val r;
                char what[80];
                snprintf(what, sizeof what, "fault at write call %llu (%s)", (unsigned long long)n,
                         persistent ? "persistent" : "once");
                check_shown(&want, &now, what);
                rc = cairn_db_check(&r, db, &err);
                CHECK_MSG(rc == 0, "%s: check: %s", what, err.message);
                if (rc == 0)
                    cairn_release(r);
                /* and a collection without faults finishes the job */
                if (!hit) {
                    cairn_db_release(db);
                    cairn_conn_release(fresh);
                    cairn_release(cfg);
                    break;
                }
                gc(fresh, now_ms() + 1, &st);
                cairn_db_release(db);
                db = db_of(fresh);
                now = show(db);
                check_shown(&want, &now, "a clean collection after the fault");
                cairn_db_release(db);
                cairn_conn_release(fresh);
                cairn_release(cfg);
            }
            if (n > 100000)
                break;
        }
    }
    CHECK_MSG(faults > 10, "only %ld faults injected", faults);
}
