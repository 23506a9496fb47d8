/*
 * Helpers for the query tests: databases from EDN text, queries from EDN
 * text, results compared as values (sets compare as sets, so a test never
 * depends on the order the engine finds rows in).
 */
#ifndef CAIRN_TESTS_QUERY_TEST_H
#define CAIRN_TESTS_QUERY_TEST_H

#include <stdio.h>
#include <string.h>

#include "test.h"
#include "cairn.h"

typedef struct qt_db {
    cairn_conn *conn;   /* the connection */
    cairn_db *db;       /* its current value */
    cairn_val config;   /* for deleting it */
} qt_db;

static inline cairn_val qt_read(const char *edn)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, edn, strlen(edn), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s (%s)", edn, err.message);
    return v;
}

static inline int qt_is_kw(cairn_val v, const char *text)
{
    size_t n;
    const char *t = cairn_type_of(v) == CAIRN_KEYWORD ? cairn_ident_get(v, &n) : NULL;
    return t && n == strlen(text) && memcmp(t, text, n) == 0;
}

/* A fresh in-memory database; extra = more config entries ("" or
 * ":schema-flexibility :read"), then each tx (EDN vectors) transacted. */
static inline qt_db qt_open(const char *id, const char *extra, const char *const *txs, int ntx)
{
    qt_db d;
    char cfg[512];
    cairn_error err = CAIRN_ERROR_INIT;
    snprintf(cfg, sizeof cfg, "{:store {:backend :mem :id \"%s\"} %s}", id, extra);
    d.config = qt_read(cfg);
    if (cairn_create_database(d.config, &err) != 0 || cairn_connect(&d.conn, d.config, &err) != 0)
        test__fail(__FILE__, __LINE__, "cannot open %s: %s", id, err.message);
    for (int i = 0; i < ntx; i++)
        if (cairn_transact_edn(NULL, d.conn, txs[i], strlen(txs[i]), &err) != 0)
            test__fail(__FILE__, __LINE__, "tx %d failed: %s %s", i, err.keyword, err.message);
    if (cairn_conn_db(&d.db, d.conn, &err) != 0)
        test__fail(__FILE__, __LINE__, "conn_db: %s", err.message);
    return d;
}

static inline void qt_close(qt_db *d)
{
    cairn_db_release(d->db);
    cairn_conn_release(d->conn);
    cairn_delete_database(d->config, NULL);
    cairn_release(d->config);
}

/* Runs query (EDN) with db and the inputs of args (an EDN vector, may be
 * NULL); returns the status, the result in *out and the error in *err. */
static inline int qt_q(cairn_val *out, const cairn_db *db, const char *query, const char *args, cairn_error *err)
{
    cairn_input in[16];
    size_t n = 0;
    cairn_val a = args ? qt_read(args) : cairn_nil();
    int rc;
    if (db)
        in[n++] = cairn_input_db(db);
    for (size_t i = 0; i < cairn_count(a) && n < 16; i++)
        in[n++] = cairn_input_val(cairn_coll_get(a, i));
    *out = cairn_nil();
    rc = cairn_q_edn(out, query, strlen(query), in, n, NULL, err);
    cairn_release(a);
    return rc;
}

/* CHECK that query over db gives the value `want` (EDN). */
#define CHECK_Q(db, query, args, want) do { \
    cairn_val got_, want_ = qt_read(want); \
    cairn_error err_ = CAIRN_ERROR_INIT; \
    int rc_ = qt_q(&got_, (db), (query), (args), &err_); \
    test__checks++; \
    if (rc_ != 0) test__fail(__FILE__, __LINE__, "%s failed: %s %s", (query), err_.keyword, err_.message); \
    if (!cairn_equal(got_, want_)) { \
        char *g_; size_t n_; cairn_edn_print(&g_, &n_, got_); \
        test__fail(__FILE__, __LINE__, "%s\n  got:  %s\n  want: %s", (query), g_, (want)); \
    } \
    cairn_release(got_); cairn_release(want_); \
} while (0)

/* CHECK that query fails with the error keyword kw. */
#define CHECK_QERR(db, query, args, kw) do { \
    cairn_val got_; \
    cairn_error err_ = CAIRN_ERROR_INIT; \
    int rc_ = qt_q(&got_, (db), (query), (args), &err_); \
    test__checks++; \
    if (rc_ == 0) { \
        char *g_; size_t n_; cairn_edn_print(&g_, &n_, got_); \
        test__fail(__FILE__, __LINE__, "%s should fail, got %s", (query), g_); \
    } \
    if (strcmp(err_.keyword, (kw)) != 0) \
        test__fail(__FILE__, __LINE__, "%s: keyword %s (%s), want %s", (query), err_.keyword, err_.message, (kw)); \
} while (0)

/* The people fixture of the corpus, smaller. */
static const char *const qt_people_schema =
    "[{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}"
    " {:db/ident :age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
    " {:db/ident :email :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/value}"
    " {:db/ident :height :db/valueType :db.type/double :db/cardinality :db.cardinality/one}"
    " {:db/ident :tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"
    " {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}"
    " {:db/ident :boss :db/valueType :db.type/ref :db/cardinality :db.cardinality/one}]";

/* Entities 7..12 (the schema takes 1..7). */
static const char *const qt_people_data =
    "[{:db/id \"a\" :name \"Ann\" :age 30 :email \"ann@x\" :height 1.7 :tags [:dev :ops] :friend [\"b\" \"c\"]}"
    " {:db/id \"b\" :name \"Bob\" :age 25 :height 1.8 :tags [:dev] :friend [\"c\"] :boss \"c\"}"
    " {:db/id \"c\" :name \"Cid\" :age 35 :tags [:mgr] :friend [\"d\"] :boss \"d\"}"
    " {:db/id \"d\" :name \"Dan\" :age 40 :friend [\"a\"]}"
    " {:db/id \"e\" :name \"Eve\" :age 22 :boss \"a\" :tags [:ops :sec]}"
    " {:db/id \"f\" :name \"Fay\" :age 30 :email \"fay@x\" :boss \"a\"}]";

static inline qt_db qt_people(const char *id)
{
    const char *txs[2];
    txs[0] = qt_people_schema;
    txs[1] = qt_people_data;
    return qt_open(id, "", txs, 2);
}

#endif
