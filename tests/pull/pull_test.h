/*
 * Helpers shared by the pull and entity tests: a memory database built from
 * EDN transactions, EDN in and out, and result checks by value equality
 * (maps unordered, vectors ordered: the corpus's :exact comparison). All
 * static inline so each test file takes what it uses.
 */
#ifndef CAIRN_TESTS_PULL_TEST_H
#define CAIRN_TESTS_PULL_TEST_H

#include <stdio.h>
#include <stdlib.h>

#include "test.h"
#include "base/alloc.h"
#include "base/common.h"

/* The schema of Datahike's pull_api_test.cljc, as a config :schema map. */
#define PT_SCHEMA                                                                          \
    "{:name {:db/cardinality :db.cardinality/one}"                                         \
    " :aka {:db/cardinality :db.cardinality/many}"                                         \
    " :child {:db/cardinality :db.cardinality/many :db/valueType :db.type/ref}"            \
    " :friend {:db/cardinality :db.cardinality/many :db/valueType :db.type/ref}"           \
    " :enemy {:db/cardinality :db.cardinality/many :db/valueType :db.type/ref}"            \
    " :father {:db/valueType :db.type/ref}"                                                \
    " :part {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/many}" \
    " :spec {:db/valueType :db.type/ref :db/isComponent true :db/cardinality :db.cardinality/one}" \
    " :email {:db/unique :db.unique/identity}}"

/* The datoms of pull_api_test.cljc. */
#define PT_DATOMS                                                                          \
    "[[:db/add 1 :name \"Petr\"] [:db/add 1 :aka \"Devil\"] [:db/add 1 :aka \"Tupen\"]"    \
    " [:db/add 2 :name \"David\"] [:db/add 3 :name \"Thomas\"] [:db/add 4 :name \"Lucy\"]" \
    " [:db/add 5 :name \"Elizabeth\"] [:db/add 6 :name \"Matthew\"] [:db/add 7 :name \"Eunan\"]" \
    " [:db/add 8 :name \"Kerri\"] [:db/add 9 :name \"Rebecca\"]"                           \
    " [:db/add 1 :child 2] [:db/add 1 :child 3] [:db/add 2 :father 1] [:db/add 3 :father 1]" \
    " [:db/add 6 :father 3]"                                                               \
    " [:db/add 10 :name \"Part A\"] [:db/add 11 :name \"Part A.A\"] [:db/add 10 :part 11]" \
    " [:db/add 12 :name \"Part A.A.A\"] [:db/add 11 :part 12]"                             \
    " [:db/add 13 :name \"Part A.A.A.A\"] [:db/add 12 :part 13]"                           \
    " [:db/add 14 :name \"Part A.A.A.B\"] [:db/add 12 :part 14]"                           \
    " [:db/add 15 :name \"Part A.B\"] [:db/add 10 :part 15]"                               \
    " [:db/add 16 :name \"Part A.B.A\"] [:db/add 15 :part 16]"                             \
    " [:db/add 17 :name \"Part A.B.A.A\"] [:db/add 16 :part 17]"                           \
    " [:db/add 18 :name \"Part A.B.A.B\"] [:db/add 16 :part 18]]"

typedef struct pt_db {
    cairn_conn *conn;   /* the connection */
    cairn_db *db;       /* its current value */
} pt_db;

static inline cairn_val pt_edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s (%s)", text, err.message);
    return v;
}

/* Values a test reads inline, released by pt_close (so ASan sees no leak). */
static cairn_val pt_kept[256];
static size_t pt_nkept;

static inline cairn_val pt_v(const char *text)
{
    cairn_val v = pt_edn(text);
    if (pt_nkept == CAIRN_ARRAY_LEN(pt_kept))
        test__fail(__FILE__, __LINE__, "too many kept values");
    pt_kept[pt_nkept++] = v;
    return v;
}

/* Prints v (owned string, or a static one on failure). */
static inline char *pt_print(cairn_val v)
{
    char *s = NULL;
    if (cairn_edn_print(&s, NULL, v) != 0)
        test__fail(__FILE__, __LINE__, "print failed");
    return s;
}

/* A fresh memory database: config extras (EDN map entries) and transactions. */
static inline void pt_open(pt_db *t, const char *id, const char *config_extra, const char *const *txs, size_t ntx)
{
    char buf[4096];
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val cfg;
    snprintf(buf, sizeof buf, "{:store {:backend :mem :id \"pull-test-%s\"} :keep-history? true %s}", id,
             config_extra ? config_extra : "");
    cfg = pt_edn(buf);
    cairn_delete_database(cfg, NULL);
    if (cairn_create_database(cfg, &err) != 0 || cairn_connect(&t->conn, cfg, &err) != 0)
        test__fail(__FILE__, __LINE__, "database %s: %s", id, err.message);
    cairn_release(cfg);
    for (size_t i = 0; i < ntx; i++)
        if (cairn_transact_edn(NULL, t->conn, txs[i], strlen(txs[i]), &err) != 0)
            test__fail(__FILE__, __LINE__, "tx %zu: %s %s", i, err.keyword, err.message);
    if (cairn_conn_db(&t->db, t->conn, &err) != 0)
        test__fail(__FILE__, __LINE__, "db: %s", err.message);
}

/* The database of pull_api_test.cljc, plus extra transactions. */
static inline void pt_open_test_db(pt_db *t, const char *id, const char *const *extra, size_t nextra)
{
    const char *txs[8];
    txs[0] = PT_DATOMS;
    for (size_t i = 0; i < nextra && i < 7; i++)
        txs[i + 1] = extra[i];
    pt_open(t, id, ":schema " PT_SCHEMA, txs, nextra + 1);
}

static inline void pt_close(pt_db *t)
{
    while (pt_nkept)
        cairn_release(pt_kept[--pt_nkept]);
    cairn_db_release(t->db);
    cairn_conn_release(t->conn);
}

/* Checks (pull db pattern eid) against the expected EDN (or "nil"). */
#define PT_PULL(db, pattern, eid, expect) pt_check_pull(__FILE__, __LINE__, db, pattern, eid, expect, 0)
#define PT_PULL_MANY(db, pattern, eids, expect) pt_check_pull(__FILE__, __LINE__, db, pattern, eids, expect, 1)

static inline void pt_check_pull(const char *file, int line, const cairn_db *db, const char *pattern,
                                 const char *eid, const char *expect, int many)
{
    cairn_val p = pt_edn(pattern), e = pt_edn(eid), want = pt_edn(expect), got;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = many ? cairn_pull_many(&got, db, p, e, &err) : cairn_pull(&got, db, p, e, &err);
    test__checks++;
    if (rc != 0)
        test__fail(file, line, "pull %s %s failed: %s %s", pattern, eid, err.keyword, err.message);
    if (!cairn_equal(got, want)) {
        char *g = pt_print(got);
        test__fail(file, line, "pull %s %s:\n  got:  %s\n  want: %s", pattern, eid, g, expect);
    }
    cairn_release(p);
    cairn_release(e);
    cairn_release(want);
    cairn_release(got);
}

/* Checks that the pull fails with the error keyword, and that the message
 * contains fragment (may be NULL). */
#define PT_PULL_ERR(db, pattern, eid, code, keyword, fragment) \
    pt_check_pull_err(__FILE__, __LINE__, db, pattern, eid, code, keyword, fragment)

static inline void pt_check_pull_err(const char *file, int line, const cairn_db *db, const char *pattern,
                                     const char *eid, int code, const char *keyword, const char *fragment)
{
    cairn_val p = pt_edn(pattern), e = pt_edn(eid), got = cairn_nil();
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_pull(&got, db, p, e, &err);
    test__checks++;
    if (rc != code)
        test__fail(file, line, "pull %s %s returned %d (%s), want %d", pattern, eid, rc, err.message, code);
    if (strcmp(err.keyword, keyword) != 0)
        test__fail(file, line, "pull %s: keyword %s, want %s (%s)", pattern, err.keyword, keyword, err.message);
    if (fragment && !strstr(err.message, fragment))
        test__fail(file, line, "pull %s: message \"%s\" lacks \"%s\"", pattern, err.message, fragment);
    cairn_release(p);
    cairn_release(e);
}

#endif
