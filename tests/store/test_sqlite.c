/*
 * The SQLite backend beyond the conformance suite: WAL is in force, foreign
 * databases and unknown versions are refused, and a full database reports
 * CAIRN_EFULL and keeps its head (reliability.md R3).
 */
#include "test.h"

#include <sqlite3.h>
#include <stdlib.h>
#include <sys/stat.h>

#include "base/alloc.h"
#include "edn/value.h"
#include "store/store.h"
#include "support/store_util.h"

static void raw_exec(const char *file, const char *sql, char *result, size_t cap)
{
    sqlite3 *db;
    sqlite3_stmt *st;
    CHECK(sqlite3_open(file, &db) == SQLITE_OK);
    CHECK_MSG(sqlite3_prepare_v2(db, sql, -1, &st, NULL) == SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (sqlite3_step(st) == SQLITE_ROW && result)
        snprintf(result, cap, "%s", (const char *)sqlite3_column_text(st, 0));
    sqlite3_finalize(st);
    sqlite3_close(db);
}

void test_store_sqlite__the_database_is_in_wal_mode(void)
{
    char path[512], file[600], mode[32] = "";
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    snprintf(path, sizeof path, "%s/db", test_tmpdir());
    CHECK_OK(store_open(&s, "sqlite", path, &err));
    CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "v", 1));
    snprintf(file, sizeof file, "%s/cairn.sqlite", path);
    raw_exec(file, "PRAGMA journal_mode", mode, sizeof mode);
    CHECK_STR(mode, "wal");
    raw_exec(file, "PRAGMA application_id", mode, sizeof mode);
    CHECK_STR(mode, "1667330670");
    cairn_store_close(s);
}

void test_store_sqlite__foreign_databases_and_unknown_versions_are_refused(void)
{
    char path[512], file[600];
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    snprintf(path, sizeof path, "%s/foreign", test_tmpdir());
    mkdir(path, 0755);
    snprintf(file, sizeof file, "%s/cairn.sqlite", path);
    raw_exec(file, "CREATE TABLE photos(x)", NULL, 0);
    raw_exec(file, "PRAGMA application_id = 42", NULL, 0);
    CHECK_ERR(store_open(&s, "sqlite", path, &err), CAIRN_ECORRUPT);
    snprintf(path, sizeof path, "%s/newer", test_tmpdir());
    CHECK_OK(store_open(&s, "sqlite", path, &err));
    cairn_store_close(s);
    snprintf(file, sizeof file, "%s/cairn.sqlite", path);
    raw_exec(file, "PRAGMA user_version = 2", NULL, 0);
    CHECK_ERR(store_open(&s, "sqlite", path, &err), CAIRN_EUNSUPPORTED);
    CHECK_STR(err.keyword, ":store/version");
}

void test_store_sqlite__a_full_database_fails_writes_and_keeps_its_head(void)
{
    char path[512];
    cairn_val cfg, k;
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    store_wl w;
    int rc = 0, commits = 0;
    uint64_t seq;
    char why[256];
    snprintf(path, sizeof path, "%s/db", test_tmpdir());
    cfg = store_config("sqlite", path);
    CHECK_OK(cairn_keyword(&k, "max-size", 8));
    CHECK_OK(cairn_map_put(&cfg, k, cairn_int(256 << 10)));
    CHECK_OK(cairn_store_open(&s, cfg, &err));
    CHECK_OK(store_wl_init(&w, s, "db", 1));
    w.node_len_max = 8000;
    while (rc == 0 && commits < 1000) {
        rc = store_wl_commit(&w, s, NULL);
        commits += rc == 0;
    }
    CHECK_ERR(rc, CAIRN_EFULL);
    CHECK_STR(s->err.keyword, ":store/full");
    CHECK(commits > 3);
    CHECK_MSG(store_wl_check_head(s, "db", 0, &seq, NULL, why, sizeof why) == 0, "%s", why);
    CHECK_EQ(seq, w.seq);
    cairn_store_close(s);
    cairn_release(cfg);
}
