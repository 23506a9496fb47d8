/*
 * src/query/refeval.c: the reference evaluator itself, checked against
 * answers from outside cairn (the conformance corpus), so that the
 * differential test compares the engine with something known to be right.
 */
#include <stdlib.h>

#include "query_test.h"

int cairn_query__ref_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs,
                       cairn_error *err);

static cairn_val get(cairn_val map, const char *key)
{
    cairn_val k, v;
    int found;
    CHECK_OK(cairn_keyword(&k, key, strlen(key)));
    found = cairn_map_get(&v, map, k);
    cairn_release(k);
    return found ? v : cairn_nil();
}

/* Runs every :q case of corpus file `file` (current db, no placeholders)
 * whose id contains `only` (NULL: all) through the engine and the
 * reference; returns the cases checked. want_engine: also compare with the
 * answer the corpus expects (:consensus when present). */
static int run_corpus(const char *file, const char *only, int want_engine, cairn_val *last_ref)
{
    char path[1024];
    size_t len;
    char *text;
    cairn_val cases;
    cairn_error err = CAIRN_ERROR_INIT;
    int checked = 0;
    snprintf(path, sizeof path, "%s/conformance/%s", test_shared_dir(), file);
    text = test_slurp(path, &len);
    CHECK_MSG(text != NULL, "cannot read %s", path);
    CHECK_OK(cairn_edn_read(&cases, text, len, NULL, &err));
    free(text);
    for (size_t i = 0; i < cairn_count(cases); i++) {
        cairn_val c = cairn_coll_get(cases, i), args = get(c, "args"), txs = get(c, "tx"), q, o1, o2, cons;
        const char *id = cairn_str_get(get(c, "id"), NULL), *qs;
        char dbid[64];
        cairn_input in[8];
        size_t n = 1;
        int skip = 0, r1, r2;
        qt_db d;
        if (!qt_is_kw(get(c, "op"), "q") || !qt_is_kw(get(c, "db"), "current"))
            continue;
        if (only && !strstr(id, only))
            continue;
        for (size_t j = 0; j < cairn_count(args); j++) {
            cairn_val a = cairn_coll_get(args, j);
            if (cairn_type_of(a) == CAIRN_VECTOR && cairn_count(a) == 2 && cairn_type_of(cairn_coll_get(a, 0)) == CAIRN_KEYWORD &&
                !strncmp(cairn_ident_get(cairn_coll_get(a, 0), NULL), "cairn/", 6))
                skip = 1;
        }
        if (skip)
            continue;
        snprintf(dbid, sizeof dbid, "qref-%zu", i);
        d = qt_open(dbid, "", NULL, 0);
        for (size_t j = 0; j < cairn_count(txs); j++) {
            cairn_val t = cairn_coll_get(txs, j);
            if (cairn_type_of(t) == CAIRN_MAP)
                cairn_transact(NULL, d.conn, get(t, "tx-data"), get(t, "tx-meta"), &err);
            else
                cairn_transact(NULL, d.conn, t, cairn_nil(), &err);
        }
        cairn_db_release(d.db);
        CHECK_OK(cairn_conn_db(&d.db, d.conn, &err));
        qs = cairn_str_get(get(c, "query"), NULL);
        q = qt_read(qs);
        in[0] = cairn_input_db(d.db);
        for (size_t j = 0; j < cairn_count(args) && n < 8; j++)
            in[n++] = cairn_input_val(cairn_coll_get(args, j));
        o1 = o2 = cairn_nil();
        r1 = cairn_q(&o1, q, in, n, NULL, &err);
        r2 = cairn_query__ref_q(&o2, q, in, n, &err);
        CHECK_MSG((r1 == 0) == (r2 == 0), "%s: engine %d, reference %d", id, r1, r2);
        if (r1 == 0 && !strstr(qs, "rand") && !strstr(qs, "sample")) {
            CHECK_MSG(cairn_equal(o1, o2), "%s: engine and reference differ", id);
            if (want_engine && qt_is_kw(get(c, "compare"), "set")) {
                /* the corpus answer, as a set of tuples */
                cairn_val ck = qt_read(":consensus"), want, ws;
                want = cairn_map_get(&cons, c, ck) ? cons : get(c, "expect");
                cairn_release(ck);
                CHECK_OK(cairn_set_new(&ws, cairn_count(want)));
                for (size_t j = 0; j < cairn_count(want); j++)
                    cairn_coll_push(&ws, cairn_coll_get(want, j));
                if (cairn_type_of(o2) == CAIRN_SET)
                    CHECK_MSG(cairn_equal(ws, o2), "%s: the reference misses the corpus answer", id);
                cairn_release(ws);
            }
        }
        if (last_ref) {
            cairn_release(*last_ref);
            *last_ref = cairn_retain(o2);
        }
        cairn_release(o1);
        cairn_release(o2);
        cairn_release(q);
        qt_close(&d);
        checked++;
    }
    cairn_release(cases);
    return checked;
}

void test_query_reference__gives_the_corpus_answers_for_logic_and_rules(void)
{
    CHECK(run_corpus("query-logic.edn", NULL, 1, NULL) > 30);
}

void test_query_reference__gives_the_corpus_answers_for_aggregates(void)
{
    CHECK(run_corpus("query-agg.edn", NULL, 0, NULL) > 30);
}

/*
 * random/41/1-rule and random/51/8-rule carry :consensus nil only because
 * Datahike 0.6 and DataScript timed out on them (see their :notes), and
 * Datahike 0.8's own answer (2) is its card-many bug. The engine and the
 * naive reference agree on the reachable counts: 118 and 75. This is the
 * evidence behind their entries in tests/conformance/known-failures.txt.
 */
void test_query_reference__confirms_the_counts_the_corpus_lacks(void)
{
    cairn_val r = cairn_nil();
    CHECK_EQ(run_corpus("random-4.edn", "random/41/1-rule", 0, &r), 1);
    CHECK(cairn_type_of(r) == CAIRN_INT && cairn_int_value(r) == 118);
    CHECK_EQ(run_corpus("random-5.edn", "random/51/8-rule", 0, &r), 1);
    CHECK(cairn_type_of(r) == CAIRN_INT && cairn_int_value(r) == 75);
    cairn_release(r);
}
