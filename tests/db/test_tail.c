/* Tail commits (src/db/tail.c): a commit that stores its deltas instead of
 * its index nodes must read back, cold or incrementally, exactly as the
 * writer saw it, and exactly as a store that writes every commit's nodes. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "cairn.h"
#include "conn/conn_int.h"
#include "store/file.h"

static cairn_val edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s", err.message);
    return v;
}

static cairn_val config(const char *dir, int tail_commits)
{
    char text[1024];
    snprintf(text, sizeof text, "{:store {:backend :file :path \"%s\"} :tail-commits %d}", dir, tail_commits);
    return edn(text);
}

static cairn_conn *create(const char *dir, int tail_commits)
{
    cairn_val cfg = config(dir, tail_commits);
    cairn_conn *conn;
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_connect(&conn, cfg, NULL));
    cairn_release(cfg);
    return conn;
}

static void transact(cairn_conn *conn, const char *tx)
{
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_transact_edn(NULL, conn, tx, strlen(tx), &err);
    CHECK_MSG(rc == 0, "transact %s: %s %s", tx, err.keyword, err.message);
}

/* Appends every datom of index in db to out as text; :db/txInstant values
 * are left out when skip_instants (two stores never share their clocks). */
static void dump_index(char **out, size_t *len, const cairn_db *db, cairn_index index, int skip_instants)
{
    cairn_datoms *it;
    cairn_datom d;
    int rc;
    FILE *fp = open_memstream(out, len);
    CHECK(fp != NULL);
    CHECK_OK(cairn_datoms_open(&it, db, index, cairn_nil(), NULL));
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        char *a, *v;
        size_t n;
        CHECK_OK(cairn_edn_print(&a, &n, d.a));
        CHECK_OK(cairn_edn_print(&v, &n, d.v));
        if (!(skip_instants && !strcmp(a, ":db/txInstant")))
            fprintf(fp, "[%lld %s %s %lld %d]\n", (long long)d.e, a, v, (long long)d.tx, d.added);
        free(a);
        free(v);
    }
    CHECK_ERR(rc, CAIRN_ENOTFOUND);
    cairn_datoms_close(it);
    fclose(fp);
}

/* Every datom of every index, current and history, as one string. */
static char *dump(const cairn_db *db, int skip_instants)
{
    static const cairn_index ix[] = { CAIRN_INDEX_EAVT, CAIRN_INDEX_AEVT, CAIRN_INDEX_AVET };
    cairn_db *hist;
    char *all = NULL;
    size_t alen = 0;
    FILE *fp = open_memstream(&all, &alen);
    CHECK_OK(cairn_db_history(&hist, db, NULL));
    for (int h = 0; h < 2; h++) {
        for (size_t i = 0; i < sizeof ix / sizeof ix[0]; i++) {
            char *s = NULL;
            size_t n = 0;
            dump_index(&s, &n, h ? hist : db, ix[i], skip_instants);
            fprintf(fp, "%s %d\n%s", h ? "history" : "current", (int)i, s);
            free(s);
        }
    }
    cairn_db_release(hist);
    fclose(fp);
    return all;
}

static char *latest_dump(cairn_conn *conn, int skip_instants)
{
    cairn_db *db;
    char *s;
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    s = dump(db, skip_instants);
    cairn_db_release(db);
    return s;
}

static int count_cb(const cairn_addr *a, void *p)
{
    (void)a;
    ++*(size_t *)p;
    return 0;
}

/* Nodes stored in the file store at dir: node files, and nodes still only
 * in its commit log (a reader's view, as another process would count). */
static size_t count_node_files(const char *dir)
{
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    size_t n = 0;
    CHECK_MSG(cairn_store_file_open_with(&s, dir, NULL, &err) == 0, "open %s: %s", dir, err.message);
    CHECK_OK(s->methods->list(s, count_cb, &n));
    cairn_store_close(s);
    return n;
}

/* A random transaction over a few entities: new people, overwrites,
 * card-many refs, retractions and retracted entities. */
static void random_tx(char *out, size_t cap, int i)
{
    int who = (int)test_rand_below(40), other = (int)test_rand_below(40);
    switch (test_rand_below(6)) {
    case 0:
        snprintf(out, cap, "[{:name \"p%d\" :age %d} {:name \"p%d\" :age %d}]", who, (int)test_rand_below(90),
                 other, i);
        break;
    case 1:
        snprintf(out, cap, "[{:name \"p%d\" :friend [{:name \"p%d\"}] :tag [\"t%d\" \"u%d\"]}]", who, other,
                 (int)test_rand_below(5), i);
        break;
    case 2:
        snprintf(out, cap, "[{:name \"p%d\" :age %d :note \"tx %d\"}]", who, (int)test_rand_below(90), i);
        break;
    case 3:
        snprintf(out, cap, "[{:name \"p%d\"} [:db/retract [:name \"p%d\"] :tag \"t%d\"]]", who, who,
                 (int)test_rand_below(5));
        break;
    case 4:
        snprintf(out, cap, "[{:name \"p%d\"} [:db.fn/retractAttribute [:name \"p%d\"] :friend]]", who, who);
        break;
    default:
        snprintf(out, cap, "[{:name \"p%d\"} [:db/retractEntity [:name \"p%d\"]]]", who, who);
        break;
    }
}

#define SCHEMA \
    "[{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one" \
    "  :db/unique :db.unique/identity}" \
    " {:db/ident :age :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/index true}" \
    " {:db/ident :note :db/valueType :db.type/string :db/cardinality :db.cardinality/one}" \
    " {:db/ident :tag :db/valueType :db.type/string :db/cardinality :db.cardinality/many}" \
    " {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]"

#define NTX 150
#define KEEP NTX

void test_db_tail__tails_read_back_as_the_writer_saw_them_cold_incremental_and_by_commit_id(void)
{
    char dir_t[600], dir_f[600], tx[300];
    char *seen[KEEP];
    cairn_val ids[KEEP];
    cairn_conn *wt, *wf, *reader, *cold;
    cairn_val cfg;
    snprintf(dir_t, sizeof dir_t, "%s/tails", test_tmpdir());
    snprintf(dir_f, sizeof dir_f, "%s/flush", test_tmpdir());
    wt = create(dir_t, 5);   /* a flush every 5 commits: tails of every length */
    wf = create(dir_f, 0);   /* every commit stores its nodes */
    cfg = config(dir_t, 5);
    CHECK_OK(cairn_connect(&reader, cfg, NULL));
    transact(wt, SCHEMA);
    transact(wf, SCHEMA);
    for (int i = 0; i < NTX; i++) {
        cairn_db *w, *r;
        random_tx(tx, sizeof tx, i);
        transact(wt, tx);
        transact(wf, tx);
        /* another connection follows each commit (replaying only the new one) */
        CHECK_OK(cairn_conn_db(&w, wt, NULL));
        CHECK_OK(cairn_conn_db(&r, reader, NULL));
        CHECK_EQ(cairn_db_max_tx(r), cairn_db_max_tx(w));
        CHECK_EQ(cairn_db_datom_count(r), cairn_db_datom_count(w));
        if (i < KEEP) {
            seen[i] = dump(r, 0);
            ids[i] = cairn_db_commit_id(r);
            CHECK(cairn_type_of(ids[i]) == CAIRN_UUID);
        }
        cairn_db_release(w);
        cairn_db_release(r);
    }
    {
        char *writer = latest_dump(wt, 0), *follower = latest_dump(reader, 0), *flushed = latest_dump(wf, 1),
             *writer_ni = latest_dump(wt, 1), *coldd;
        CHECK_OK(cairn_connect(&cold, cfg, NULL));
        coldd = latest_dump(cold, 0);
        CHECK(strlen(writer) > 1000);
        CHECK_MSG(!strcmp(writer, follower), "a following reader differs from the writer");
        CHECK_MSG(!strcmp(writer, coldd), "a cold reader differs from the writer");
        CHECK_MSG(!strcmp(writer_ni, flushed), "a store with tails differs from one without");
        /* every commit opens by its id as it was read then; newest first, as
         * `cairn log` walks, so most come from the memo of a replayed tail */
        for (int i = KEEP; i-- > 0;) {
            cairn_db *now, *then;
            char *s;
            CHECK_OK(cairn_conn_db(&now, cold, NULL));
            CHECK_OK(cairn_db_commit_as_db(&then, now, ids[i], NULL));
            s = dump(then, 0);
            CHECK_MSG(!strcmp(s, seen[i]), "commit %d reads back differently by its id", i);
            free(s);
            free(seen[i]);
            cairn_release(ids[i]);
            cairn_db_release(then);
            cairn_db_release(now);
        }
        {
            cairn_db *db;
            cairn_val rep;
            cairn_error err = CAIRN_ERROR_INIT;
            CHECK_OK(cairn_conn_db(&db, cold, NULL));
            CHECK_MSG(cairn_db_check(&rep, db, &err) == 0, "check: %s", err.message);
            cairn_release(rep);
            cairn_db_release(db);
        }
        free(writer);
        free(follower);
        free(flushed);
        free(writer_ni);
        free(coldd);
        cairn_conn_release(cold);
    }
    /* tails store a record per commit instead of paths in six trees */
    CHECK_MSG(count_node_files(dir_t) * 2 < count_node_files(dir_f), "%zu node files with tails, %zu without",
              count_node_files(dir_t), count_node_files(dir_f));
    cairn_release(cfg);
    cairn_conn_release(reader);
    cairn_conn_release(wt);
    cairn_conn_release(wf);
}

/* A transaction larger than a tail may hold is stored as nodes at once, and
 * the commits after it start a new tail on top of it. */
/* A cold connection to dir reads what the writer w holds; w is released. */
static void check_cold_matches_and_release(cairn_conn *w, const char *dir, int tail_commits)
{
    cairn_val cfg = config(dir, tail_commits);
    cairn_conn *cold;
    char *a, *b;
    CHECK_OK(cairn_connect(&cold, cfg, NULL));
    a = latest_dump(w, 0);
    b = latest_dump(cold, 0);
    CHECK(!strcmp(a, b));
    free(a);
    free(b);
    cairn_release(cfg);
    cairn_conn_release(cold);
    cairn_conn_release(w);
}

void test_db_tail__a_transaction_beyond_the_key_bound_stores_its_nodes(void)
{
    char dir[600];
    cairn_conn *w;
    char *big;
    size_t cap = 64 * 24000, len = 0, before, after;
    snprintf(dir, sizeof dir, "%s/db", test_tmpdir());
    w = create(dir, 64);
    transact(w, SCHEMA);
    transact(w, "[{:name \"first\" :age 1}]");
    before = count_node_files(dir);
    transact(w, "[{:name \"second\" :age 2}]");
    CHECK_EQ(count_node_files(dir), before + 1);  /* a tail commit: its record only */
    /* 22,000 entities x 2 datoms x 3 trees: beyond the 65,536 key changes of a tail */
    big = malloc(cap);
    len += (size_t)snprintf(big + len, cap - len, "[");
    for (int i = 0; i < 22000; i++)
        len += (size_t)snprintf(big + len, cap - len, "{:name \"n%d\" :age %d}", i, i);
    snprintf(big + len, cap - len, "]");
    transact(w, big);
    free(big);
    after = count_node_files(dir);
    CHECK_MSG(after > before + 20, "%zu node files before, %zu after", before, after);
    transact(w, "[{:name \"third\" :age 3}]");
    CHECK_EQ(count_node_files(dir), after + 1);
    check_cold_matches_and_release(w, dir, 64);
}

/* Flushes among 40 single-entity commits on a store whose tails may hold
 * 1000 commits, with the writer's bound on unstored node bytes set to max. */
static int flushes_with_dirty_bound(const char *dir, size_t max)
{
    cairn_conn *w = create(dir, 1000);
    char tx[128];
    int flushes = 0;
    w->ctx->tail_max_dirty = max;
    transact(w, SCHEMA);
    for (int i = 0; i < 40; i++) {
        size_t before = count_node_files(dir);
        snprintf(tx, sizeof tx, "[{:name \"p%d\" :age %d}]", i, i);
        transact(w, tx);
        flushes += count_node_files(dir) > before + 1;
    }
    check_cold_matches_and_release(w, dir, 1000);
    return flushes;
}

void test_db_tail__the_writer_stores_the_trees_when_unstored_nodes_pass_their_bound(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/roomy", test_tmpdir());
    CHECK_EQ(flushes_with_dirty_bound(dir, (size_t)64 << 20), 0);
    /* measured every 16 commits of a tail: depths 16 and 32 store the trees */
    snprintf(dir, sizeof dir, "%s/tight", test_tmpdir());
    CHECK_EQ(flushes_with_dirty_bound(dir, 1), 2);
}

void test_db_tail__tail_commits_must_be_a_small_non_negative_integer(void)
{
    static const char *const bad[] = { "-1", "100001", "\"64\"", "6.4", "true" };
    char text[800];
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cairn_error err = CAIRN_ERROR_INIT;
        cairn_val cfg;
        snprintf(text, sizeof text, "{:store {:backend :file :path \"%s/db%zu\"} :tail-commits %s}", test_tmpdir(),
                 i, bad[i]);
        cfg = edn(text);
        CHECK_ERR(cairn_create_database(cfg, &err), CAIRN_EINVALID);
        CHECK_MSG(strstr(err.message, ":tail-commits") != NULL, "%s: %s", bad[i], err.message);
        cairn_release(cfg);
    }
}
