/*
 * libFuzzer target for the pull pattern parser (and the evaluator behind
 * it). The input is EDN text; when it reads as a value, it is parsed as a
 * pull pattern against a small fixed database. Whatever the pattern:
 * parsing ends in a pattern or a clean error with a message and a keyword;
 * a pattern evaluates on every entity of the database (cycles, components,
 * reverse refs, missing ids) to a map, nil or a clean error; results print;
 * parsing twice evaluates the same; and nothing leaks (ASan). Any broken
 * property aborts.
 *
 * The database is built once per process: a few people with card-many and
 * card-one refs that form cycles, a component chain with a loop, and an
 * ident, so recursion, the cycle guard and component expansion all run.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "pull/pull.h"

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

static const char *schema_tx =
    "[{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}"
    " {:db/ident :age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
    " {:db/ident :aka :db/valueType :db.type/string :db/cardinality :db.cardinality/many}"
    " {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}"
    " {:db/ident :boss :db/valueType :db.type/ref :db/cardinality :db.cardinality/one}"
    " {:db/ident :part :db/valueType :db.type/ref :db/cardinality :db.cardinality/many :db/isComponent true}"
    " {:db/ident :spec :db/valueType :db.type/ref :db/cardinality :db.cardinality/one :db/isComponent true}]";

static const char *data_tx =
    "[{:db/id \"a\" :name \"A\" :age 1 :aka [\"x\" \"y\"] :friend [\"b\" \"c\"] :boss \"c\" :part [\"p\" \"q\"]}"
    " {:db/id \"b\" :name \"B\" :friend [\"a\"] :boss \"a\" :spec \"q\"}"
    " {:db/id \"c\" :name \"C\" :age 3 :friend [\"c\"] :db/ident :the/c}"
    " {:db/id \"p\" :name \"P\" :part [\"q\"]}"
    " {:db/id \"q\" :name \"Q\" :spec \"p\"}]";

static cairn_db *db;

static void setup(void)
{
    cairn_val cfg;
    cairn_conn *conn;
    const char *c = "{:store {:backend :mem :id \"fuzz-pull\"}}";
    REQUIRE(cairn_edn_read(&cfg, c, strlen(c), NULL, NULL) == 0);
    REQUIRE(cairn_create_database(cfg, NULL) == 0);
    REQUIRE(cairn_connect(&conn, cfg, NULL) == 0);
    REQUIRE(cairn_transact_edn(NULL, conn, schema_tx, strlen(schema_tx), NULL) == 0);
    REQUIRE(cairn_transact_edn(NULL, conn, data_tx, strlen(data_tx), NULL) == 0);
    REQUIRE(cairn_conn_db(&db, conn, NULL) == 0);
    cairn_conn_release(conn);
    cairn_release(cfg);
}

/* Entities tried: a schema entity, the five data entities, one past them and a far one. */
static const int64_t eids[] = { 1, 7, 8, 9, 10, 11, 12, 13, 1000 };

static void check_eval(const cairn_pull_pattern *p, const cairn_pull_pattern *q, int64_t eid)
{
    cairn_error err = CAIRN_ERROR_INIT, err2 = CAIRN_ERROR_INIT;
    cairn_val out, out2;
    int rc = cairn_pull_pattern_eval(&out, p, db, eid, &err);
    int rc2 = cairn_pull_pattern_eval(&out2, q, db, eid, &err2);
    REQUIRE(rc == rc2);
    if (rc < 0) {
        REQUIRE(err.code == rc && err.message[0] && err.keyword[0] == ':');
        return;
    }
    REQUIRE(cairn_type_of(out) == CAIRN_NIL || (cairn_type_of(out) == CAIRN_MAP && cairn_count(out) > 0));
    REQUIRE(cairn_equal(out, out2));
    {
        char *s;
        REQUIRE(cairn_edn_print(&s, NULL, out) == 0);
        cairn_free(s);
    }
    cairn_release(out);
    cairn_release(out2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_read_limits limits = CAIRN_READ_LIMITS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_pull_pattern *p, *q;
    cairn_val pattern;
    int rc;
    if (!db)
        setup();
    limits.max_depth = 64;
    limits.max_elements = 4096;
    if (cairn_edn_read(&pattern, (const char *)data, size, &limits, NULL) != 0)
        return 0;
    rc = cairn_pull_pattern_parse(&p, db, pattern, &err);
    if (rc < 0) {
        REQUIRE(err.code == rc && err.message[0]);
        REQUIRE(!strcmp(err.keyword, ":parser/pull") || rc == CAIRN_ENOMEM);
    } else {
        REQUIRE(cairn_pull_pattern_parse(&q, db, pattern, NULL) == 0);
        for (size_t i = 0; i < sizeof eids / sizeof *eids; i++)
            check_eval(p, q, eids[i]);
        cairn_pull_pattern_free(p);
        cairn_pull_pattern_free(q);
    }
    cairn_release(pattern);
    return 0;
}
