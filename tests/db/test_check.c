/* The db API behind the CLI: cairn_db_check, commit_as_db (the log),
 * cairn_transact_at (import), cairn_db_config and the counters. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "test.h"
#include "cairn.h"

static cairn_val edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s", err.message);
    return v;
}

static cairn_val file_config(const char *dir)
{
    char text[1024];
    snprintf(text, sizeof text, "{:store {:backend :file :path \"%s\"}}", dir);
    return edn(text);
}

/* The same store, its commits storing their trees (no tails). */
static cairn_val flush_config(const char *dir)
{
    char text[1024];
    snprintf(text, sizeof text, "{:store {:backend :file :path \"%s\"} :tail-commits 0}", dir);
    return edn(text);
}

static void transact(cairn_conn *conn, const char *tx)
{
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_transact_edn(NULL, conn, tx, strlen(tx), &err);
    CHECK_MSG(rc == 0, "transact %s: %s %s", tx, err.keyword, err.message);
}

/* A file database with a schema, three transactions and an overwrite. */
static cairn_conn *small_db_with(cairn_val cfg)
{
    cairn_conn *conn;
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_connect(&conn, cfg, NULL));
    cairn_release(cfg);
    transact(conn, "[{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one"
                   "  :db/unique :db.unique/identity}"
                   " {:db/ident :age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]");
    transact(conn, "[{:name \"Ada\" :age 36} {:name \"Alan\" :age 41}]");
    transact(conn, "[{:name \"Ada\" :age 37}]");
    return conn;
}

static cairn_conn *small_db(const char *dir)
{
    return small_db_with(file_config(dir));
}

void test_db_check__clean_database_passes(void)
{
    cairn_conn *conn = small_db(test_tmpdir());
    cairn_db *db;
    cairn_val rep, n;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    rc = cairn_db_check(&rep, db, &err);
    CHECK_MSG(rc == 0, "check: %s %s", err.keyword, err.message);
    CHECK(cairn_map_get(&n, rep, edn(":commits")));
    CHECK_EQ(cairn_int_value(n), 4);  /* create + three transactions */
    CHECK(cairn_map_get(&n, rep, edn(":datoms")));
    CHECK_EQ(cairn_int_value(n), (int64_t)cairn_db_datom_count(db));
    CHECK(cairn_map_get(&n, rep, edn(":history-datoms")));
    CHECK_EQ(cairn_int_value(n), 2);  /* :age 36 retracted: the assertion and its retraction */
    cairn_release(rep);
    cairn_db_release(db);
    cairn_conn_release(conn);
}

static void flip_last_byte(const char *path)
{
    FILE *fp = fopen(path, "r+b");
    long size;
    int c;
    CHECK(fp != NULL);
    fseek(fp, 0, SEEK_END);
    size = ftell(fp);
    fseek(fp, size - 1, SEEK_SET);
    c = fgetc(fp);
    fseek(fp, size - 1, SEEK_SET);
    fputc(c ^ 0x55, fp);
    fclose(fp);
}

/* Damages each node file in turn: connecting or checking must report it.
 * With tails (the default) the last three commits are records holding
 * deltas over the first one's trees; without, each commit stores its trees. */
static void damage_each_node(const char *dir, int tails)
{
    char nodes[600], (*paths)[700] = malloc(256 * sizeof *paths);
    size_t npaths = 0;
    cairn_val cfg = tails ? file_config(dir) : flush_config(dir);
    cairn_conn *conn = small_db_with(cairn_retain(cfg));
    DIR *d;
    struct dirent *e;
    cairn_conn_release(conn);
    snprintf(nodes, sizeof nodes, "%s/nodes", dir);
    CHECK((d = opendir(nodes)) != NULL);
    while ((e = readdir(d)) != NULL) {
        char sub[650];
        DIR *d2;
        struct dirent *f;
        if (e->d_name[0] == '.')
            continue;
        snprintf(sub, sizeof sub, "%s/%s", nodes, e->d_name);
        if (!(d2 = opendir(sub)))
            continue;
        while ((f = readdir(d2)) != NULL && npaths < 256)
            if (f->d_name[0] != '.')
                snprintf(paths[npaths++], sizeof paths[0], "%s/%s", sub, f->d_name);
        closedir(d2);
    }
    closedir(d);
    CHECK(npaths >= (tails ? 7u : 10u)); /* tails: 4 records, 2 schemas, the config */
    for (size_t i = 0; i < npaths; i++) {
        cairn_error err = CAIRN_ERROR_INIT;
        cairn_val rep;
        cairn_db *db;
        int rc;
        flip_last_byte(paths[i]);
        rc = cairn_connect(&conn, cfg, &err);
        if (rc == 0) {
            CHECK_OK(cairn_conn_db(&db, conn, NULL));
            rc = cairn_db_check(&rep, db, &err);
            cairn_db_release(db);
            cairn_conn_release(conn);
        }
        CHECK_MSG(rc == CAIRN_ECORRUPT, "damaged node %s: got %d", paths[i], rc);
        CHECK(err.message[0] != 0);
        flip_last_byte(paths[i]);
    }
    cairn_release(cfg);
    free(paths);
}

void test_db_check__every_damaged_node_is_found(void)
{
    char dir[600];
    snprintf(dir, sizeof dir, "%s/tails", test_tmpdir());
    damage_each_node(dir, 1);
    snprintf(dir, sizeof dir, "%s/flush", test_tmpdir());
    damage_each_node(dir, 0);
}

void test_db_check__log_walks_commits_through_parents(void)
{
    cairn_conn *conn = small_db(test_tmpdir());
    cairn_db *db, *prev;
    int64_t txs[8];
    size_t n = 0;
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    for (;;) {
        cairn_val parents;
        cairn_val id = cairn_db_commit_id(db);
        txs[n++] = cairn_db_max_tx(db);
        CHECK(cairn_type_of(id) == CAIRN_UUID);
        cairn_release(id);
        CHECK_OK(cairn_db_parent_commit_ids(&parents, db, NULL));
        if (cairn_count(parents) == 0) {
            cairn_release(parents);
            break;
        }
        prev = db;
        CHECK_OK(cairn_db_commit_as_db(&db, prev, cairn_coll_get(parents, 0), NULL));
        CHECK(cairn_db_max_tx_instant(db) < cairn_db_max_tx_instant(prev) || cairn_db_max_tx(db) == 536870912);
        cairn_release(parents);
        cairn_db_release(prev);
        CHECK(n < 8);
    }
    cairn_db_release(db);
    CHECK_EQ(n, 4);
    CHECK_EQ(txs[0], 536870915);
    CHECK_EQ(txs[3], 536870912);
    cairn_conn_release(conn);
}

void test_db_check__commit_as_db_refuses_unknown_ids(void)
{
    cairn_conn *conn = small_db(test_tmpdir());
    cairn_db *db, *other = NULL;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val id = edn("#uuid \"00000000-0000-0000-0000-000000000001\"");
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    CHECK_ERR(cairn_db_commit_as_db(&other, db, id, &err), CAIRN_ENOTFOUND);
    CHECK_STR(err.keyword, ":commit-does-not-exist");
    CHECK_ERR(cairn_db_commit_as_db(&other, db, cairn_int(1), &err), CAIRN_EINVALID);
    cairn_release(id);
    cairn_db_release(db);
    cairn_conn_release(conn);
}

void test_db_check__transact_at_keeps_ids_and_instant(void)
{
    cairn_conn *conn = small_db(test_tmpdir());
    cairn_val data = edn("[[:db/add 40 :name \"Grace\"]]");
    cairn_val meta = edn("{:db/txInstant #inst \"2001-02-03T04:05:06.007Z\"}");
    cairn_tx_report *r;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_db *db;
    int rc = cairn_transact_at(&r, conn, 536870930, data, meta, &err);
    CHECK_MSG(rc == 0, "%s %s", err.keyword, err.message);
    db = (cairn_db *)cairn_tx_report_db_after(r);
    CHECK_EQ(cairn_db_max_tx(db), 536870930);
    CHECK_EQ(cairn_db_max_eid(db), 40);
    CHECK_EQ(cairn_db_max_tx_instant(db), 981173106007LL);
    cairn_tx_report_free(r);
    /* not above max-tx: refused, nothing written */
    CHECK_ERR(cairn_transact_at(NULL, conn, 536870920, data, cairn_nil(), &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":transact/tx-id");
    CHECK_ERR(cairn_transact_at(NULL, conn, 5, data, cairn_nil(), &err), CAIRN_EINVALID);
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870930);
    /* the next ordinary transaction follows it */
    cairn_db_release(db);
    transact(conn, "[{:name \"Edsger\"}]");
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870931);
    cairn_db_release(db);
    cairn_release(data);
    cairn_release(meta);
    cairn_conn_release(conn);
}

void test_db_check__config_shows_stored_settings(void)
{
    cairn_val cfg = edn("{:store {:backend :mem :id \"cfg-test\"} :keep-history? false :schema-flexibility :read}");
    cairn_val plain = edn("{:store {:backend :mem :id \"cfg-test\"}}"), out, v;
    cairn_conn *conn;
    cairn_db *db;
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_connect(&conn, plain, NULL));
    CHECK_OK(cairn_conn_db(&db, conn, NULL));
    CHECK_OK(cairn_db_config(&out, db, NULL));
    CHECK(cairn_map_get(&v, out, edn(":keep-history?")));
    CHECK(cairn_type_of(v) == CAIRN_BOOL && !cairn_bool_value(v));
    CHECK(cairn_map_get(&v, out, edn(":schema-flexibility")));
    CHECK(cairn_equal(v, edn(":read")));
    CHECK(cairn_map_get(&v, out, edn(":branch")));
    CHECK(cairn_equal(v, edn(":db")));
    CHECK_EQ(cairn_db_datom_count(db), 0);
    CHECK_EQ(cairn_db_max_tx_instant(db), 0);
    cairn_release(out);
    cairn_db_release(db);
    cairn_conn_release(conn);
    CHECK_OK(cairn_delete_database(cfg, NULL));
    cairn_release(cfg);
    cairn_release(plain);
}
