/* cairn export / cairn import: exact round trips (same datoms, tx ids,
 * instants, history), Datahike datom dumps, and refusals that write nothing.
 * The round trip of the benchmark data set compares datom by datom. */
#include <stdlib.h>
#include <sys/stat.h>

#include "test.h"
#include "cairn.h"
#include "cli/cli_run.h"

static void run_ok(const char *in, const char *const *argv)
{
    cli_result r;
    cli_exec(&r, NULL, in, argv);
    cli_check_ok(&r);
    cli_result_free(&r);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fputs(text, f);
    fclose(f);
}

/* The export without its :exported instant (the one field that differs). */
static char *export_body(const char *path)
{
    char *text = cli_slurp(path, NULL), *p;
    CHECK(text != NULL);
    if ((p = strstr(text, ", :exported #inst \"")) != NULL) {
        char *end = strchr(p + 19, '"');
        memmove(p, end + 1, strlen(end + 1) + 1);
    }
    return text;
}

/* Both databases' history views hold the same datoms in the same order. */
static void same_datoms(const char *dir_a, const char *dir_b)
{
    char cfg_text[2][1200];
    cairn_conn *conn[2];
    cairn_db *db[2], *h[2];
    cairn_datoms *it[2];
    const char *dirs[2] = { dir_a, dir_b };
    long long n = 0;
    for (int i = 0; i < 2; i++) {
        cairn_val cfg;
        snprintf(cfg_text[i], sizeof cfg_text[i], "{:store {:backend :file :path \"%s\"}}", dirs[i]);
        CHECK_OK(cairn_edn_read(&cfg, cfg_text[i], strlen(cfg_text[i]), NULL, NULL));
        CHECK_OK(cairn_connect(&conn[i], cfg, NULL));
        cairn_release(cfg);
        CHECK_OK(cairn_conn_db(&db[i], conn[i], NULL));
        CHECK_OK(cairn_db_history(&h[i], db[i], NULL));
        CHECK_OK(cairn_datoms_open(&it[i], h[i], CAIRN_INDEX_EAVT, cairn_nil(), NULL));
    }
    CHECK_EQ(cairn_db_max_tx(db[0]), cairn_db_max_tx(db[1]));
    CHECK_EQ(cairn_db_max_eid(db[0]), cairn_db_max_eid(db[1]));
    CHECK_EQ(cairn_db_max_tx_instant(db[0]), cairn_db_max_tx_instant(db[1]));
    for (;;) {
        cairn_datom a, b;
        int ra = cairn_datoms_next(it[0], &a), rb = cairn_datoms_next(it[1], &b);
        CHECK_EQ(ra, rb);
        if (ra != 0)
            break;
        CHECK_MSG(a.e == b.e && a.tx == b.tx && a.added == b.added && cairn_equal(a.a, b.a) && cairn_equal(a.v, b.v),
                  "datom %lld differs: e %lld/%lld tx %lld/%lld", n, (long long)a.e, (long long)b.e,
                  (long long)a.tx, (long long)b.tx);
        n++;
    }
    CHECK(n > 0);
    for (int i = 0; i < 2; i++) {
        cairn_datoms_close(it[i]);
        cairn_db_release(h[i]);
        cairn_db_release(db[i]);
        cairn_conn_release(conn[i]);
    }
}

#define SCHEMA                                                                                          \
    "[{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one"              \
    "  :db/unique :db.unique/identity}"                                                                \
    " {:db/ident :tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"           \
    " {:db/ident :score :db/valueType :db.type/double :db/cardinality :db.cardinality/one}"            \
    " {:db/ident :note :db/valueType :db.type/string :db/cardinality :db.cardinality/one"              \
    "  :db/noHistory true}"                                                                            \
    " {:db/ident :born :db/valueType :db.type/instant :db/cardinality :db.cardinality/one}"            \
    " {:db/ident :pair :db/valueType :db.type/tuple :db/tupleAttrs [:name :score]"                     \
    "  :db/cardinality :db.cardinality/one}]"

/* A database with history: overwrites, retractions, a retracted entity, tx meta. */
static const char *history_db(void)
{
    const char *db = cli_path("src");
    run_ok(NULL, (const char *const[]){ "create", db, NULL });
    run_ok(NULL, (const char *const[]){ "transact", db, SCHEMA, NULL });
    run_ok(NULL, (const char *const[]){ "transact", db,
                                        "{:tx-data [{:name \"Ada\" :tags [:math :engines] :score 1.5"
                                        "            :born #inst \"1815-12-10T00:00:00.000-00:00\"}"
                                        "           {:name \"Alan\" :score 2.25 :note \"n\"}]"
                                        " :tx-meta {:db/txInstant #inst \"2020-01-01T00:00:00.000-00:00\"}}",
                                        NULL });
    run_ok(NULL, (const char *const[]){ "transact", db,
                                        "[[:db/retract [:name \"Ada\"] :tags :engines]"
                                        " {:name \"Ada\" :score 3.0 :note \"x\"}"
                                        " {:name \"Grace\" :tags [:cobol]}]",
                                        NULL });
    run_ok(NULL, (const char *const[]){ "transact", db, "[[:db/retractEntity [:name \"Alan\"]]]", NULL });
    return db;
}

void test_cli_io__export_import_round_trip_with_history(void)
{
    const char *src = history_db(), *out = cli_path("out.edn"), *out2 = cli_path("out2.edn"),
               *dst = cli_path("dst");
    char *a, *b;
    cli_result r;
    run_ok(NULL, (const char *const[]){ "export", src, out, NULL });
    a = cli_slurp(out, NULL);
    CHECK(strstr(a, "#cairn/export {:format 1, :history? true, :keep-history? true") != NULL);
    CHECK(strstr(a, "\n#cairn/end {:datoms ") != NULL);
    CHECK(strstr(a, "#datahike/Datom [7 :tags :engines 536870915 false]\n") != NULL);
    free(a);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", dst, out, NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, ":max-tx 536870916") != NULL);
    cli_result_free(&r);
    same_datoms(src, dst);
    /* re-exporting the copy gives the same bytes */
    run_ok(NULL, (const char *const[]){ "export", dst, out2, NULL });
    a = export_body(out);
    b = export_body(out2);
    CHECK_STR(a, b);
    free(a);
    free(b);
    run_ok(NULL, (const char *const[]){ "check", dst, NULL });
    /* the copy goes on where the original stopped */
    cli_exec(&r, NULL, NULL, (const char *const[]){ "transact", dst, "[{:name \"Linus\"}]", NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, "[10 :name \"Linus\" 536870917 true]") != NULL);
    cli_result_free(&r);
}

void test_cli_io__export_to_stdout_and_without_history(void)
{
    const char *cfg = cli_path("nohist.edn"), *dst = cli_path("copy");
    char dump_path[1100];
    cli_result r;
    FILE *f;
    write_file(cfg, "{:store {:backend :file :path \"nohist\"} :keep-history? false}");
    run_ok(NULL, (const char *const[]){ "create", cfg, NULL });
    run_ok(NULL, (const char *const[]){ "transact", cfg, SCHEMA, NULL });
    run_ok(NULL, (const char *const[]){ "transact", cfg, "[{:name \"Ada\" :score 1.0}]", NULL });
    run_ok(NULL, (const char *const[]){ "transact", cfg, "[{:name \"Ada\" :score 2.0}]", NULL });
    cli_exec(&r, NULL, NULL, (const char *const[]){ "export", cfg, "-", NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, ":history? false, :keep-history? false") != NULL);
    CHECK(strstr(r.out, ":score 2.0 536870915 true]") != NULL && !strstr(r.out, ":score 1.0"));
    snprintf(dump_path, sizeof dump_path, "%s", cli_path("dump.edn"));
    f = fopen(dump_path, "w");
    fputs(r.out, f);
    fclose(f);
    cli_result_free(&r);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", dst, dump_path, NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, ":max-tx 536870915") != NULL);
    cli_result_free(&r);
    /* the copy keeps no history either: its export is the same */
    cli_exec(&r, NULL, NULL, (const char *const[]){ "export", dst, "-", NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, ":keep-history? false") != NULL);
    CHECK(strstr(r.out, "[7 :score 2.0 536870915 true]") != NULL);
    cli_result_free(&r);
}

void test_cli_io__imports_a_datahike_datom_dump(void)
{
    const char *dump = cli_path("datahike.edn"), *db = cli_path("from-datahike");
    cli_result r;
    write_file(dump,
               "#datahike/Datom [1 :db/ident :name 536870913 true]\n"
               "#datahike/Datom [1 :db/valueType :db.type/string 536870913 true]\n"
               "#datahike/Datom [1 :db/cardinality :db.cardinality/one 536870913 true]\n"
               "#datahike/Datom [2 :name \"Ivan\" 536870914 true]\n"
               "#datahike/Datom [2 :name \"Ivan\" 536870915 false]\n"
               "#datahike/Datom [2 :name \"Petr\" 536870915 true]\n"
               "#datahike/Datom [536870913 :db/txInstant #inst \"2019-01-01T00:00:00.000-00:00\" 536870913 true]\n"
               "#datahike/Datom [536870914 :db/txInstant #inst \"2019-01-02T00:00:00.000-00:00\" 536870914 true]\n"
               "#datahike/Datom [536870915 :db/txInstant #inst \"2019-01-03T00:00:00.000-00:00\" 536870915 true]\n");
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", db, dump, NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, ":datoms 9, :txs 3, :max-tx 536870915, :max-eid 2, :stored-datoms 9") != NULL);
    cli_result_free(&r);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "history", db, "2", NULL });
    cli_check_ok(&r);
    CHECK_STR(r.out, "#datahike/Datom [2 :name \"Ivan\" 536870914 true]\n"
                     "#datahike/Datom [2 :name \"Ivan\" 536870915 false]\n"
                     "#datahike/Datom [2 :name \"Petr\" 536870915 true]\n");
    cli_result_free(&r);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "datoms", db, ":eavt", "536870914", NULL });
    CHECK_STR(r.out, "#datahike/Datom [536870914 :db/txInstant #inst \"2019-01-02T00:00:00.000-00:00\" 536870914 true]\n");
    cli_result_free(&r);
}

void test_cli_io__bad_imports_write_nothing(void)
{
    const char *src = history_db(), *out = cli_path("out.edn"), *cut = cli_path("cut.edn"), *bad = cli_path("bad.edn");
    char *text, *end;
    cli_result r;
    struct stat st;
    run_ok(NULL, (const char *const[]){ "export", src, out, NULL });
    /* cut before the trailer */
    text = cli_slurp(out, NULL);
    end = strstr(text, "#cairn/end");
    *end = 0;
    write_file(cut, text);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t1"), cut, NULL });
    cli_check_fails(&r, 1, ":import/incomplete-dump");
    CHECK(stat(cli_path("t1"), &st) != 0);
    cli_result_free(&r);
    /* a trailer that counts differently */
    strcpy(end, "#cairn/end {:datoms 3}\n");
    write_file(cut, text);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t1"), cut, NULL });
    cli_check_fails(&r, 1, ":import/incomplete-dump");
    cli_result_free(&r);
    free(text);
    write_file(bad, "#datahike/Datom [1 :name]\n");
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t1"), bad, NULL });
    cli_check_fails(&r, 1, ":import/format");
    cli_result_free(&r);
    write_file(bad, "[1 :name \"x\" 536870913 true\n");
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t1"), bad, NULL });
    cli_check_fails(&r, 1, ":edn/");
    cli_result_free(&r);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t1"), cli_path("none.edn"), NULL });
    cli_check_fails(&r, 1, ":import/file");
    cli_result_free(&r);
    CHECK(stat(cli_path("t1"), &st) != 0);
    /* data the target refuses: the database the import created goes again */
    write_file(bad, "#datahike/Datom [1 :undeclared \"x\" 536870913 true]\n");
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t2"), bad, NULL });
    cli_check_fails(&r, 1, ":import/config-mismatch");
    cli_result_free(&r);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "exists", cli_path("t2"), NULL });
    CHECK_STR(r.out, "false\n");
    cli_result_free(&r);
    /* a value the schema refuses, found only while replaying */
    write_file(bad, "#datahike/Datom [1 :db/ident :n 536870913 true]\n"
                    "#datahike/Datom [1 :db/valueType :db.type/long 536870913 true]\n"
                    "#datahike/Datom [1 :db/cardinality :db.cardinality/one 536870913 true]\n"
                    "#datahike/Datom [2 :n \"not a number\" 536870914 true]\n");
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("t2"), bad, NULL });
    cli_check_fails(&r, 1, ":transact/schema");
    cli_result_free(&r);
    cli_exec(&r, NULL, NULL, (const char *const[]){ "exists", cli_path("t2"), NULL });
    CHECK_STR(r.out, "false\n");
    cli_result_free(&r);
    /* a target that holds data */
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", src, out, NULL });
    cli_check_fails(&r, 1, ":import/non-empty-target");
    cli_result_free(&r);
    /* history into a database that keeps none */
    write_file(cli_path("nh.edn"), "{:store {:backend :file :path \"nh\"} :keep-history? false}");
    run_ok(NULL, (const char *const[]){ "create", cli_path("nh.edn"), NULL });
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", cli_path("nh.edn"), out, NULL });
    cli_check_fails(&r, 1, ":import/config-mismatch");
    cli_result_free(&r);
}

/* ---- the benchmark data set ----------------------------------------------------------- */

/* Loads people-N.edn as the benchmark does: config :schema from schema.edn,
 * schema-on-read for the rest, explicit :db/id, 1000 entities per transaction. */
static void load_people(const char *dir, long n)
{
    char path[1200], cfg_text[2400], *schema, *data, *line, *save = NULL;
    cairn_conn *conn;
    cairn_val cfg;
    cairn_error err = CAIRN_ERROR_INIT;
    size_t cap = 1 << 20, len = 0, lines = 0;
    char *batch = malloc(cap);
    snprintf(path, sizeof path, "%s/bench/data/schema.edn", test_shared_dir());
    schema = cli_slurp(path, NULL);
    CHECK_MSG(schema != NULL, "no %s", path);
    for (char *p = schema; *p; p++)  /* drop ;; comment lines */
        if (*p == ';')
            while (*p && *p != '\n')
                *p++ = ' ';
    snprintf(cfg_text, sizeof cfg_text,
             "{:store {:backend :file :path \"%s\"} :schema-flexibility :read :schema %s}", dir, schema);
    CHECK_OK(cairn_edn_read(&cfg, cfg_text, strlen(cfg_text), NULL, &err));
    CHECK_OK(cairn_create_database(cfg, &err));
    CHECK_OK(cairn_connect(&conn, cfg, &err));
    cairn_release(cfg);
    snprintf(path, sizeof path, "%s/bench/data/people-%ld.edn", test_shared_dir(), n);
    data = cli_slurp(path, NULL);
    CHECK_MSG(data != NULL, "no %s", path);
    batch[len++] = '[';
    for (line = strtok_r(data, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        size_t l = strlen(line);
        if (line[0] == ';' || !l)
            continue;
        if (len + l + 4 > cap)
            batch = realloc(batch, cap = (len + l + 4) * 2);
        memcpy(batch + len, line, l);
        len += l;
        batch[len++] = '\n';
        if (++lines % 1000 == 0) {
            batch[len++] = ']';
            CHECK_MSG(cairn_transact_edn(NULL, conn, batch, len, &err) == 0, "%s", err.message);
            len = 0;
            batch[len++] = '[';
        }
    }
    if (len > 1) {
        batch[len++] = ']';
        CHECK_MSG(cairn_transact_edn(NULL, conn, batch, len, &err) == 0, "%s", err.message);
    }
    CHECK_EQ(lines, n);
    cairn_conn_release(conn);
    free(batch);
    free(data);
    free(schema);
}

static void bench_round_trip(long n)
{
    const char *src = cli_path("people"), *dst = cli_path("people-copy"), *out = cli_path("people.edn"),
               *out2 = cli_path("people2.edn");
    char *a, *b;
    cli_result r;
    load_people(src, n);
    run_ok(NULL, (const char *const[]){ "export", src, out, NULL });
    cli_exec(&r, NULL, NULL, (const char *const[]){ "import", "--progress", dst, out, NULL });
    cli_check_ok(&r);
    CHECK(strstr(r.out, ":max-eid ") != NULL);
    /* the bar, forced on although stderr is a pipe; it ends at 100% */
    CHECK_MSG(strstr(r.err, "\rimporting [") && strstr(r.err, "] 100% "), "%s", r.err);
    cli_result_free(&r);
    same_datoms(src, dst);
    run_ok(NULL, (const char *const[]){ "export", dst, out2, NULL });
    a = export_body(out);
    b = export_body(out2);
    CHECK(strlen(a) > (size_t)n * 100);
    CHECK(a && b && strcmp(a, b) == 0);
    free(a);
    free(b);
}

void test_cli_io__bench_people_round_trip_datom_by_datom(void)
{
    bench_round_trip(20000);
}

/* The bigger variant: CAIRN_TEST_SCALE=5 and up. */
void test_cli_io__bench_people_100000_round_trip(void)
{
    if (test_scale() < 5) {
        CHECK(test_scale() >= 1);  /* runs at CAIRN_TEST_SCALE >= 5 */
        return;
    }
    bench_round_trip(100000);
}
