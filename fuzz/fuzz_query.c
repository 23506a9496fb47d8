/*
 * libFuzzer target for the query parser, planner and executor: the input is
 * the text of a query, run against a small fixed database with a handful of
 * inputs (rules, a scalar, a collection, a relation, a collection source)
 * and a short timeout, then explained. Whatever the input, the call must
 * end in a result or a clean error: no crash, no leak, no hang (the timeout
 * turns endless rules into CAIRN_ECANCELED), no abort.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

static cairn_db *db;
static cairn_val args;

static void setup(void)
{
    const char *cfg_text = "{:store {:backend :mem :id \"fuzz-query\"}}";
    const char *schema =
        "[{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}"
        " {:db/ident :age :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/index true}"
        " {:db/ident :tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"
        " {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}"
        " {:db/ident :score :db/valueType :db.type/double :db/cardinality :db.cardinality/one}]";
    const char *data =
        "[{:db/id \"a\" :name \"Ann\" :age 30 :tag [:x :y] :friend [\"b\"] :score 1.5}"
        " {:db/id \"b\" :name \"Bob\" :age 20 :tag [:y] :friend [\"c\"]}"
        " {:db/id \"c\" :name \"Cid\" :age 40 :friend [\"a\"] :score -2.0}]";
    const char *inputs = "[[[(r ?a ?b) [?a :friend ?b]] [(r ?a ?b) [?a :friend ?x] (r ?x ?b)]]"
                         " 30 [20 30 99] [[\"Ann\" 1] [\"Zed\" 2]] [[1 :k \"v\"] [2 :k \"w\"]]]";
    cairn_val cfg;
    cairn_conn *conn;
    cairn_error err = CAIRN_ERROR_INIT;
    REQUIRE(cairn_edn_read(&cfg, cfg_text, strlen(cfg_text), NULL, &err) == 0);
    REQUIRE(cairn_create_database(cfg, &err) == 0);
    REQUIRE(cairn_connect(&conn, cfg, &err) == 0);
    REQUIRE(cairn_transact_edn(NULL, conn, schema, strlen(schema), &err) == 0);
    REQUIRE(cairn_transact_edn(NULL, conn, data, strlen(data), &err) == 0);
    REQUIRE(cairn_conn_db(&db, conn, &err) == 0);
    REQUIRE(cairn_edn_read(&args, inputs, strlen(inputs), NULL, &err) == 0);
    /* the connection stays open: the database lives for the whole run */
    cairn_release(cfg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_input in[6];
    cairn_query_opts opts = CAIRN_QUERY_OPTS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val q, out;
    char *text;
    int rc;
    if (!db)
        setup();
    if (cairn_edn_read(&q, (const char *)data, size, NULL, &err) != 0)
        return 0;
    in[0] = cairn_input_db(db);
    for (size_t i = 0; i < 5; i++)
        in[i + 1] = cairn_input_val(cairn_coll_get(args, i));
    opts.timeout_ms = 30;
    rc = cairn_q(&out, q, in, 6, &opts, &err);
    if (rc == 0)
        cairn_release(out);
    else
        REQUIRE(rc < 0 && err.code == rc && err.message[0] != 0);
    if (cairn_explain(&text, q, in, 6, &err) == 0)
        cairn_free(text);
    cairn_release(q);
    return 0;
}
