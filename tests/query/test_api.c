/* src/query: the public query API — forms, inputs, find shapes, errors,
 * options, explain, and running out of memory. */
#include <pthread.h>

#include "query_test.h"
#include "base/alloc.h"

void test_query_api__vector_map_and_string_forms(void)
{
    qt_db d = qt_people("qapi-forms");
    cairn_val q = qt_read("[:find ?n :where [?e :age 30] [?e :name ?n]]"), out, want = qt_read("#{[\"Ann\"] [\"Fay\"]}");
    cairn_input in = cairn_input_db(d.db);
    cairn_error err = CAIRN_ERROR_INIT;
    CHECK_Q(d.db, "[:find ?n :where [?e :age 30] [?e :name ?n]]", NULL, "#{[\"Ann\"] [\"Fay\"]}");
    CHECK_Q(d.db, "{:find [?n] :where [[?e :age 30] [?e :name ?n]]}", NULL, "#{[\"Ann\"] [\"Fay\"]}");
    CHECK_Q(d.db, "(quote [:find ?n :where [?e :age 30] [?e :name ?n]])", NULL, "#{[\"Ann\"] [\"Fay\"]}");
    /* a string value is read as EDN */
    {
        cairn_val s;
        const char *t = "[:find ?n :where [?e :age 30] [?e :name ?n]]";
        CHECK_OK(cairn_string(&s, t, strlen(t)));
        CHECK_OK(cairn_q(&out, s, &in, 1, NULL, &err));
        CHECK(cairn_equal(out, want));
        cairn_release(out);
        cairn_release(s);
    }
    CHECK_OK(cairn_q(&out, q, &in, 1, NULL, &err));
    CHECK(cairn_equal(out, want));
    cairn_release(out);
    cairn_release(q);
    cairn_release(want);
    qt_close(&d);
}

void test_query_api__map_form_call_with_args_offset_limit(void)
{
    qt_db d = qt_people("qapi-mapform");
    cairn_input in = cairn_input_db(d.db);
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val q = qt_read("{:query [:find ?n :in $ ?a :where [?e :age ?a] [?e :name ?n]] :args [30]}"), out;
    CHECK_OK(cairn_q(&out, q, &in, 1, NULL, &err));
    CHECK_EQ(cairn_count(out), 2);
    cairn_release(out);
    cairn_release(q);
    q = qt_read("{:query [:find ?n :where [?e :name ?n]] :offset 1 :limit 2}");
    CHECK_OK(cairn_q(&out, q, &in, 1, NULL, &err));
    CHECK_EQ(cairn_count(out), 2);
    cairn_release(out);
    cairn_release(q);
    q = qt_read("{:query \"[:find ?n :where [?e :name ?n]]\" :limit 0}");
    CHECK_OK(cairn_q(&out, q, &in, 1, NULL, &err));
    CHECK_EQ(cairn_count(out), 0);
    cairn_release(out);
    cairn_release(q);
    /* options struct */
    {
        cairn_query_opts o = CAIRN_QUERY_OPTS_INIT;
        o.offset = 4;
        o.limit = 10;
        q = qt_read("[:find ?n :where [?e :name ?n]]");
        CHECK_OK(cairn_q(&out, q, &in, 1, &o, &err));
        CHECK_EQ(cairn_count(out), 2);
        cairn_release(out);
        o.version = 99;
        CHECK_ERR(cairn_q(&out, q, &in, 1, &o, &err), CAIRN_EINVALID);
        cairn_release(q);
    }
    qt_close(&d);
}

void test_query_api__find_shapes(void)
{
    qt_db d = qt_people("qapi-shapes");
    CHECK_Q(d.db, "[:find ?a . :where [?e :name \"Dan\"] [?e :age ?a]]", NULL, "40");
    CHECK_Q(d.db, "[:find ?a . :where [?e :name \"Nobody\"] [?e :age ?a]]", NULL, "nil");
    CHECK_Q(d.db, "[:find [?n ...] :where [?e :age 30] [?e :name ?n]]", NULL, "[\"Ann\" \"Fay\"]");
    CHECK_Q(d.db, "[:find [?n ?a] :where [?e :name \"Eve\"] [?e :name ?n] [?e :age ?a]]", NULL, "[\"Eve\" 22]");
    CHECK_Q(d.db, "[:find [?n ?a] :where [?e :name \"Zed\"] [?e :name ?n] [?e :age ?a]]", NULL, "nil");
    CHECK_Q(d.db, "[:find ?n ?a :keys name age :where [?e :name ?n] [?e :age ?a] [(< ?a 25)]]", NULL,
            "#{{:name \"Eve\" :age 22}}");
    CHECK_Q(d.db, "[:find ?n :strs who :where [?e :name ?n] [?e :age 40]]", NULL, "#{{\"who\" \"Dan\"}}");
    CHECK_Q(d.db, "[:find ?n :syms who :where [?e :name ?n] [?e :age 40]]", NULL, "#{{who \"Dan\"}}");
    /* :with keeps duplicates for a bag */
    CHECK_Q(d.db, "[:find [?a ...] :with ?e :where [?e :age ?a] [(= ?a 30)]]", NULL, "[30 30]");
    qt_close(&d);
}

void test_query_api__input_bindings(void)
{
    qt_db d = qt_people("qapi-inputs");
    CHECK_Q(d.db, "[:find ?n :in $ ?a :where [?e :age ?a] [?e :name ?n]]", "[40]", "#{[\"Dan\"]}");
    CHECK_Q(d.db, "[:find ?n :in $ [?a ...] :where [?e :age ?a] [?e :name ?n]]", "[[22 40 99]]",
            "#{[\"Dan\"] [\"Eve\"]}");
    CHECK_Q(d.db, "[:find ?n :in $ [?a ?h] :where [?e :age ?a] [?e :height ?h] [?e :name ?n]]", "[[25 1.8]]",
            "#{[\"Bob\"]}");
    CHECK_Q(d.db, "[:find ?n ?x :in $ [[?n ?x]] :where [?e :name ?n]]", "[[[\"Ann\" 1] [\"Zed\" 2]]]",
            "#{[\"Ann\" 1]}");
    CHECK_Q(d.db, "[:find ?x ?y :in $ [?x ...] [?y ...]]", "[[1 2] [:a]]", "#{[1 :a] [2 :a]}");
    CHECK_Q(d.db, "[:find ?x :in $ _ ?x]", "[1 2]", "#{[2]}");
    /* lookup refs and idents as inputs resolve in entity positions */
    CHECK_Q(d.db, "[:find ?a :in $ ?e :where [?e :age ?a]]", "[[:name \"Cid\"]]", "#{[35]}");
    CHECK_Q(d.db, "[:find ?n :in $ ?f :where [?e :friend ?f] [?e :name ?n]]", "[[:name \"Dan\"]]", "#{[\"Cid\"]}");
    /* a value binding without an input stays unbound (Datahike 0.8); extra inputs are ignored */
    CHECK_Q(d.db, "[:find ?n :in $ ?n :where [_ :name ?n] [(= ?n \"Ann\")]]", "[\"Ann\" \"extra\"]", "#{[\"Ann\"]}");
    CHECK_QERR(d.db, "[:find ?x :in $ [?x ...]]", "[5]", ":query/binding");
    qt_close(&d);
}

void test_query_api__collection_and_second_db_sources(void)
{
    const char *tx2[] = { "[{:db/ident :dept :db/valueType :db.type/string :db/cardinality :db.cardinality/one}"
                          " {:db/ident :who :db/valueType :db.type/string :db/cardinality :db.cardinality/one}]",
                          "[{:who \"Ann\" :dept \"R&D\"} {:who \"Zed\" :dept \"Ops\"}]" };
    qt_db d = qt_people("qapi-src1"), d2 = qt_open("qapi-src2", "", tx2, 2);
    cairn_input in[3];
    cairn_val q, out, want;
    cairn_error err = CAIRN_ERROR_INIT;
    CHECK_Q(d.db, "[:find ?n ?c :in $ $c :where [?e :name ?n] [$c ?n ?c]]", "[[[\"Ann\" :red] [\"Zed\" :blue]]]",
            "#{[\"Ann\" :red]}");
    in[0] = cairn_input_db(d.db);
    in[1] = cairn_input_db(d2.db);
    q = qt_read("[:find ?n ?dept :in $ $2 :where [?e :name ?n] [$2 ?x :who ?n] [$2 ?x :dept ?dept]]");
    CHECK_OK(cairn_q(&out, q, in, 2, NULL, &err));
    want = qt_read("#{[\"Ann\" \"R&D\"]}");
    CHECK(cairn_equal(out, want));
    cairn_release(out);
    cairn_release(q);
    cairn_release(want);
    /* (not) against the other source */
    q = qt_read("[:find ?n :in $ $2 :where [$2 _ :who ?n] (not [$ _ :name ?n])]");
    CHECK_OK(cairn_q(&out, q, in, 2, NULL, &err));
    want = qt_read("#{[\"Zed\"]}");
    CHECK(cairn_equal(out, want));
    cairn_release(out);
    cairn_release(q);
    cairn_release(want);
    qt_close(&d);
    qt_close(&d2);
}

void test_query_api__temporal_views_as_sources(void)
{
    const char *txs[] = { "[{:db/ident :p :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
                          " {:db/ident :k :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}]",
                          "[{:k \"x\" :p 1}]", "[{:k \"x\" :p 2}]", "[{:k \"x\" :p 3}]" };
    qt_db d = qt_open("qapi-temporal", "", txs, 4);
    cairn_db *hist, *asof;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_input in[2];
    cairn_val q, out, want;
    int64_t tx2 = cairn_db_max_tx(d.db) - 1;
    CHECK_OK(cairn_db_history(&hist, d.db, &err));
    CHECK_OK(cairn_db_as_of(&asof, d.db, cairn_int(tx2), &err));
    CHECK_Q(hist, "[:find ?p ?op :where [?e :p ?p _ ?op]]", NULL, "#{[1 true] [1 false] [2 true] [2 false] [3 true]}");
    CHECK_Q(asof, "[:find ?p . :where [?e :p ?p]]", NULL, "2");
    in[0] = cairn_input_db(d.db);
    in[1] = cairn_input_db(asof);
    q = qt_read("[:find ?old ?new :in $ $before :where [?e :p ?new] [$before ?e :p ?old]]");
    CHECK_OK(cairn_q(&out, q, in, 2, NULL, &err));
    want = qt_read("#{[2 3]}");
    CHECK(cairn_equal(out, want));
    cairn_release(out);
    cairn_release(want);
    cairn_release(q);
    cairn_db_release(hist);
    cairn_db_release(asof);
    qt_close(&d);
}

void test_query_api__functions_and_predicates(void)
{
    qt_db d = qt_people("qapi-fns");
    CHECK_Q(d.db, "[:find ?x . :where [?e :name \"Ann\"] [?e :age ?a] [(/ ?a 4) ?x]]", NULL, "15/2");
    CHECK_Q(d.db, "[:find ?x . :where [?e :name \"Ann\"] [?e :age ?a] [(/ ?a 2.0) ?x]]", NULL, "15.0");
    CHECK_Q(d.db, "[:find ?s . :where [?e :name \"Ann\"] [?e :tags :ops] [(str ?e \"-\" :k) ?s]]", NULL, "\"8-:k\"");
    CHECK_Q(d.db, "[:find ?c . :where [(compare \"Ann\" \"Cid\") ?c]]", NULL, "-2");
    CHECK_Q(d.db, "[:find ?m . :where [(re-pattern \"^(\\\\w)(\\\\w+)$\") ?re] [(re-find ?re \"Ann\") ?m]]", NULL,
            "[\"Ann\" \"A\" \"nn\"]");
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] [(re-matches \"[A-C].*\" ?n)]]", NULL,
            "#{[\"Ann\"] [\"Bob\"] [\"Cid\"]}");
    CHECK_Q(d.db, "[:find ?x :where [(range 3) [?x ...]]]", NULL, "#{[0] [1] [2]}");
    CHECK_Q(d.db, "[:find ?a ?b :where [(ground [[1 2] [3 4]]) [[?a ?b]]]]", NULL, "#{[1 2] [3 4]}");
    CHECK_Q(d.db, "[:find ?e . :where [?e :name \"Dan\"] [(get-else $ ?e :email \"-\") ?m] [(= ?m \"-\")]]", NULL,
            "11");
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] [(missing? $ ?e :boss)] [(missing? $ ?e :tags)]]", NULL,
            "#{[\"Dan\"]}");
    CHECK_Q(d.db, "[:find [?a ?v] :where [?e :name \"Bob\"] [(get-some $ ?e :email :age) [?a ?v]]]", NULL,
            "[:age 25]");
    CHECK_Q(d.db, "[:find ?t . :where [(tuple 1 \"a\") ?t]]", NULL, "[1 \"a\"]");
    CHECK_Q(d.db, "[:find ?b . :where [(untuple [1 2]) [?a ?b]]]", NULL, "2");
    /* a bound output variable filters */
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] [?e :age ?a] [(ground 30) ?a]]", NULL, "#{[\"Ann\"] [\"Fay\"]}");
    /* a keyword called as a function looks itself up */
    CHECK_Q(d.db, "[:find ?v . :in $ ?f ?m :where [(?f ?m) ?v]]", "[:k {:k 7}]", "7");
    CHECK_Q(d.db, "[:find ?n ?s :in $ ?f :where [?e :name ?n] [(?f ?n) ?s]]", "[clojure.string/upper-case]", "#{}");
    CHECK_QERR(d.db, "[:find ?x :where [(+ 1 \"a\") ?x]]", NULL, ":query/where");
    CHECK_QERR(d.db, "[:find ?x :where [(no-such-function 1) ?x]]", NULL, ":query/where");
    CHECK_QERR(d.db, "[:find ?m :where [?e :age ?a] [(max ?a 30) ?m]]", NULL, ":query/where");
    qt_close(&d);
}

void test_query_api__not_or_and_rules(void)
{
    qt_db d = qt_people("qapi-logic");
    const char *rules = "[[[(colleague ?a ?b) [?a :boss ?m] [?b :boss ?m] [(not= ?a ?b)]]"
                        "  [(reach ?a ?b) [?a :friend ?b]]"
                        "  [(reach ?a ?b) [?a :friend ?x] (reach ?x ?b)]"
                        "  [(even-boss ?a ?b) [?a :boss ?x] (odd-boss ?x ?b)]"
                        "  [(odd-boss ?a ?b) [?a :boss ?b]]"
                        "  [(odd-boss ?a ?b) [?a :boss ?x] (even-boss ?x ?b)]]]";
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] (not [?e :tags _])]", NULL, "#{[\"Dan\"] [\"Fay\"]}");
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] (not-join [?e] [?x :boss ?e])]", NULL,
            "#{[\"Bob\"] [\"Eve\"] [\"Fay\"]}");
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] (or [?e :tags :mgr] [?e :tags :sec])]", NULL, "#{[\"Cid\"] [\"Eve\"]}");
    CHECK_Q(d.db, "[:find ?n :where [?e :name ?n] (or-join [?e] (and [?e :age ?a] [(> ?a 35)]) [?e :email \"fay@x\"])]",
            NULL, "#{[\"Dan\"] [\"Fay\"]}");
    CHECK_Q(d.db, "[:find ?n1 ?n2 :in $ % :where (colleague ?a ?b) [?a :name ?n1] [?b :name ?n2]]", rules,
            "#{[\"Eve\" \"Fay\"] [\"Fay\" \"Eve\"]}");
    /* recursion reaches everything on the friend cycle */
    CHECK_Q(d.db, "[:find ?n :in $ % :where [?a :name \"Ann\"] (reach ?a ?b) [?b :name ?n]]", rules,
            "#{[\"Bob\"] [\"Cid\"] [\"Dan\"] [\"Ann\"]}");
    /* mutual recursion: Bob's bosses at odd distances */
    CHECK_Q(d.db, "[:find ?n :in $ % :where [?a :name \"Bob\"] (odd-boss ?a ?b) [?b :name ?n]]", rules,
            "#{[\"Cid\"]}");
    CHECK_Q(d.db, "[:find ?n :in $ % :where [?a :name \"Bob\"] (even-boss ?a ?b) [?b :name ?n]]", rules,
            "#{[\"Dan\"]}");
    /* rules given as an EDN string */
    CHECK_Q(d.db, "[:find ?n :in $ % :where (old ?e) [?e :name ?n]]",
            "[\"[[(old ?e) [?e :age ?a] [(>= ?a 35)]]]\"]", "#{[\"Cid\"] [\"Dan\"]}");
    CHECK_QERR(d.db, "[:find ?n :where [?e :name ?n] (or [?e :age ?a] [?e :tags ?t])]", NULL, ":parser/where");
    CHECK_QERR(d.db, "[:find ?n :where [?e :name ?n] (not [?x :age ?z])]", NULL, ":query/where");
    CHECK_QERR(d.db, "[:find ?e :where (foo ?e)]", NULL, ":parser/query");
    qt_close(&d);
}

void test_query_api__aggregates(void)
{
    qt_db d = qt_people("qapi-agg");
    CHECK_Q(d.db, "[:find (count ?e) . :where [?e :name]]", NULL, "6");
    CHECK_Q(d.db, "[:find (sum ?a) . :where [?e :age ?a]]", NULL, "152");
    CHECK_Q(d.db, "[:find (sum ?a) . :with ?e :where [?e :age ?a]]", NULL, "182");
    CHECK_Q(d.db, "[:find (avg ?a) . :with ?e :where [?e :age ?a]]", NULL, "91/3");
    CHECK_Q(d.db, "[:find (median ?a) . :with ?e :where [?e :age ?a]]", NULL, "30");
    CHECK_Q(d.db, "[:find (min 2 ?a) (max 2 ?a) :where [?e :age ?a]]", NULL, "#{[[22 25] [35 40]]}");
    CHECK_Q(d.db, "[:find ?t (count ?e) :where [?e :tags ?t]]", NULL, "#{[:dev 2] [:ops 2] [:mgr 1] [:sec 1]}");
    CHECK_Q(d.db, "[:find (distinct ?a) . :where [?e :age ?a] [(< ?a 30)]]", NULL, "#{22 25}");
    CHECK_Q(d.db, "[:find (count-distinct ?a) . :where [?e :age ?a]]", NULL, "5");
    CHECK_Q(d.db, "[:find (variance ?a) . :where [?e :age ?a] [(< ?a 26)]]", NULL, "9/4");
    CHECK_Q(d.db, "[:find (stddev ?a) . :where [?e :age ?a] [(< ?a 26)]]", NULL, "1.5");
    CHECK_Q(d.db, "[:find (count ?e) . :where [?e :age 99]]", NULL, "nil");
    CHECK_QERR(d.db, "[:find (foo ?a) :where [?e :age ?a]]", NULL, ":query/find");
    qt_close(&d);
}

void test_query_api__parse_errors_name_the_section(void)
{
    qt_db d = qt_people("qapi-errors");
    CHECK_QERR(d.db, "[:where [?e :name]]", NULL, ":parser/find");
    CHECK_QERR(d.db, "[:find ?e]", NULL, ":parser/query");
    CHECK_QERR(d.db, "[:find ?n . ?m :where [?e :name ?n]]", NULL, ":parser/find");
    CHECK_QERR(d.db, "[:find ?n :with ?n :where [?e :name ?n]]", NULL, ":parser/query");
    CHECK_QERR(d.db, "[:find ?n :where [$3 ?e :name ?n]]", NULL, ":parser/query");
    CHECK_QERR(d.db, "[:find ?e :where [?e :name] :bogus 1]", NULL, ":parser/where");
    CHECK_QERR(d.db, "[:find ?x :where [?e :name ?n] [(> ?x 3)]]", NULL, ":query/where");
    CHECK_QERR(d.db, "[:find ?e :where [?e :a ?b ?c ?d ?f ?g]]", NULL, ":parser/where");
    CHECK_QERR(d.db, "42", NULL, ":parser/query");
    CHECK_QERR(d.db, "[:find ?e :where [?e :name ?n] [(get-else $ ?x :email nil) ?v]]", NULL, ":query/where");
    /* the message names the clause */
    {
        cairn_val out;
        cairn_error err = CAIRN_ERROR_INIT;
        CHECK_ERR(qt_q(&out, d.db, "[:find ?x :where [?e :name ?n] [(> ?x 3)]]", NULL, &err), CAIRN_EINVALID);
        CHECK(strstr(err.message, "(> ?x 3)") != NULL);
    }
    qt_close(&d);
}

void test_query_api__explain_shows_the_chosen_order(void)
{
    qt_db d = qt_people("qapi-explain");
    cairn_val q = qt_read("[:find ?n :where [?e :age ?a] [?e :name ?n] [?e :email \"ann@x\"]]");
    cairn_input in = cairn_input_db(d.db);
    cairn_error err = CAIRN_ERROR_INIT;
    char *text;
    CHECK_OK(cairn_explain(&text, q, &in, 1, &err));
    /* the unique lookup runs first, whatever the written order */
    CHECK(strstr(text, "1. pattern [?e :email \"ann@x\"]") != NULL);
    CHECK(strstr(text, "AVET") != NULL);
    cairn_free(text);
    cairn_release(q);
    qt_close(&d);
}

void test_query_api__timeout_cancels(void)
{
    qt_db d = qt_people("qapi-timeout");
    /* an endless rule: each answer makes a new one */
    cairn_val q = qt_read("[:find ?x :in $ % :where (up 0 ?x)]");
    cairn_val rules = qt_read("[[(up ?a ?b) [(identity ?a) ?b]] [(up ?a ?b) [(inc ?a) ?c] (up ?c ?b)]]");
    cairn_input in[2];
    cairn_query_opts o = CAIRN_QUERY_OPTS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val out;
    in[0] = cairn_input_db(d.db);
    in[1] = cairn_input_val(rules);
    o.timeout_ms = 50;
    CHECK_ERR(cairn_q(&out, q, in, 2, &o, &err), CAIRN_ECANCELED);
    CHECK_STR(err.keyword, ":query/canceled");
    cairn_release(q);
    cairn_release(rules);
    qt_close(&d);
}

/* Counts its calls; says stop from the stop-th call on (0: never). */
struct interrupter {
    int calls, stop;
};

static int interrupt_after(void *ctx)
{
    struct interrupter *it = ctx;
    return ++it->calls >= it->stop && it->stop > 0;
}

void test_query_api__interrupt_callback_cancels_and_old_option_versions_still_work(void)
{
    qt_db d = qt_people("qapi-interrupt");
    cairn_val q = qt_read("[:find ?x :in $ % :where (up 0 ?x)]"), out;
    cairn_val rules = qt_read("[[(up ?a ?b) [(identity ?a) ?b]] [(up ?a ?b) [(inc ?a) ?c] (up ?c ?b)]]");
    cairn_val nested = qt_read("[:find ?r . :in $ ?rules :where [(q [:find ?x :in $ % :where (up 0 ?x)] $ ?rules) ?r]]");
    cairn_val small = qt_read("[:find ?n :where [?e :name ?n]]");
    struct interrupter it = { 0, 3 };
    cairn_input in[2];
    cairn_query_opts o = CAIRN_QUERY_OPTS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    in[0] = cairn_input_db(d.db);
    in[1] = cairn_input_val(rules);
    /* the endless rule stops at the third poll, with no timeout set */
    o.interrupt = interrupt_after;
    o.interrupt_ctx = &it;
    CHECK_ERR(cairn_q(&out, q, in, 2, &o, &err), CAIRN_ECANCELED);
    CHECK_STR(err.keyword, ":query/canceled");
    CHECK(strstr(err.message, "interrupted") != NULL);
    CHECK_EQ(it.calls, 3);
    /* a nested q polls the same callback */
    it.calls = 0;
    CHECK_ERR(cairn_q(&out, nested, in, 2, &o, &err), CAIRN_ECANCELED);
    CHECK_EQ(it.calls, 3);
    /* a callback that never says stop changes nothing */
    it.calls = 0;
    it.stop = 0;
    CHECK_OK(cairn_q(&out, small, in, 1, &o, &err));
    CHECK_EQ(cairn_count(out), 6);
    cairn_release(out);
    /* a version 1 caller's struct ends after limit: the fields past it are
     * not read (here they hold a callback that would cancel at once) */
    it.calls = 0;
    it.stop = 1;
    o.version = 1;
    o.limit = 2;
    CHECK_OK(cairn_q(&out, small, in, 1, &o, &err));
    CHECK_EQ(cairn_count(out), 2);
    CHECK_EQ(it.calls, 0);
    cairn_release(out);
    o.version = 0;
    CHECK_ERR(cairn_q(&out, small, in, 1, &o, &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":query/options");
    cairn_release(small);
    cairn_release(nested);
    cairn_release(q);
    cairn_release(rules);
    qt_close(&d);
}

/* Fails the Nth allocation for N = 1, 2, ... until the query succeeds:
 * every failure is a clean CAIRN_ENOMEM and nothing leaks. */
void test_query_api__out_of_memory_at_every_allocation(void)
{
    qt_db d = qt_people("qapi-oom");
    const char *queries[] = {
        "[:find ?n (count ?t) :where [?e :name ?n] [?e :tags ?t] (not [?e :age 40])]",
        "[:find ?n :in $ % :where [?a :name \"Ann\"] (r ?a ?b) [?b :name ?n]]",
        "[:find [?s ...] :where [?e :name ?n] [(str ?n \"!\") ?s] (or [?e :age 30] [?e :age 22])]",
    };
    cairn_val rules = qt_read("[[(r ?a ?b) [?a :friend ?b]] [(r ?a ?b) [?a :friend ?x] (r ?x ?b)]]");
    for (size_t k = 0; k < sizeof queries / sizeof queries[0]; k++) {
        cairn_val q = qt_read(queries[k]);
        cairn_input in[2];
        in[0] = cairn_input_db(d.db);
        in[1] = cairn_input_val(rules);
        {
            /* once first: interned names (keywords, symbols) live until
             * cairn_shutdown and are not leaks */
            cairn_val out;
            cairn_error err = CAIRN_ERROR_INIT;
            CHECK_OK(cairn_q(&out, q, in, 2, NULL, &err));
            cairn_release(out);
        }
        for (uint64_t n = 1;; n++) {
            cairn_val out;
            cairn_error err = CAIRN_ERROR_INIT;
            int64_t live = cairn__alloc_live();
            int rc;
            cairn__alloc_fail_at(n, 0);
            rc = cairn_q(&out, q, in, 2, NULL, &err);
            cairn__alloc_fail_at(0, 0);
            if (rc == 0) {
                cairn_release(out);
                CHECK_EQ(cairn__alloc_live(), live);
                break;
            }
            CHECK_ERR(rc, CAIRN_ENOMEM);
            CHECK_MSG(cairn__alloc_live() == live, "query %zu, allocation %llu: %lld blocks leaked", k,
                      (unsigned long long)n, (long long)(cairn__alloc_live() - live));
            CHECK(n < 100000);
        }
        cairn_release(q);
    }
    cairn_release(rules);
    qt_close(&d);
}

/* Database values are immutable: many threads may query one at once. */
struct qthread {
    const cairn_db *db;   /* shared */
    int ok;               /* all answers right */
};

static void *query_thread(void *arg)
{
    struct qthread *t = arg;
    cairn_val q = qt_read("[:find ?n (count ?f) :where [?e :name ?n] [?e :friend ?f]]");
    cairn_val want = qt_read("#{[\"Ann\" 2] [\"Bob\" 1] [\"Cid\" 1] [\"Dan\" 1]}");
    cairn_input in = cairn_input_db(t->db);
    t->ok = 1;
    for (int i = 0; i < 200; i++) {
        cairn_val out;
        cairn_error err = CAIRN_ERROR_INIT;
        if (cairn_q(&out, q, &in, 1, NULL, &err) != 0 || !cairn_equal(out, want))
            t->ok = 0;
        else
            cairn_release(out);
    }
    cairn_release(q);
    cairn_release(want);
    return NULL;
}

void test_query_api__concurrent_readers_share_a_db_value(void)
{
    qt_db d = qt_people("qapi-concurrent");
    pthread_t th[4];
    struct qthread t[4];
    for (int i = 0; i < 4; i++) {
        t[i].db = d.db;
        CHECK_EQ(pthread_create(&th[i], NULL, query_thread, &t[i]), 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(t[i].ok);
    }
    qt_close(&d);
}

void test_query_api__range_predicates_bound_avet_scans(void)
{
    const char *txs[] = { "[{:db/ident :n :db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/index true}"
                          " {:db/ident :s :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/index true}"
                          " {:db/ident :d :db/valueType :db.type/double :db/cardinality :db.cardinality/one :db/index true}]",
                          "[{:n -5 :s \"apple\" :d -1.5} {:n 0 :s \"banana\" :d 0.0} {:n 7 :s \"cherry\" :d 2.5}"
                          " {:n 12 :s \"date\" :d 10.0} {:n 300 :s \"elder\" :d 1e9}]" };
    qt_db d = qt_open("qapi-range", "", txs, 2);
    cairn_val q = qt_read("[:find ?x :where [?e :n ?x] [(> ?x 0)] [(<= ?x 12)]]");
    cairn_input in = cairn_input_db(d.db);
    cairn_error err = CAIRN_ERROR_INIT;
    char *text;
    CHECK_OK(cairn_explain(&text, q, &in, 1, &err));
    CHECK(strstr(text, "AVET range v") != NULL);
    cairn_free(text);
    cairn_release(q);
    CHECK_Q(d.db, "[:find ?x :where [?e :n ?x] [(> ?x 0)] [(<= ?x 12)]]", NULL, "#{[7] [12]}");
    CHECK_Q(d.db, "[:find ?x :where [?e :n ?x] [(< ?x 7)]]", NULL, "#{[-5] [0]}");
    CHECK_Q(d.db, "[:find ?x :where [?e :n ?x] [(>= 7 ?x)]]", NULL, "#{[-5] [0] [7]}");
    CHECK_Q(d.db, "[:find ?x :in $ ?lo :where [?e :n ?x] [(< ?lo ?x)]]", "[12]", "#{[300]}");
    CHECK_Q(d.db, "[:find ?s :where [?e :s ?s] [(>= ?s \"c\")] [(< ?s \"e\")]]", NULL, "#{[\"cherry\"] [\"date\"]}");
    CHECK_Q(d.db, "[:find ?x :where [?e :d ?x] [(> ?x 0)] [(< ?x 100)]]", NULL, "#{[2.5] [10.0]}");
    /* a bound of another type filters, it does not bound the scan */
    CHECK_Q(d.db, "[:find ?x :where [?e :d ?x] [(> ?x 2)]]", NULL, "#{[2.5] [10.0] [1.0E9]}");
    CHECK_QERR(d.db, "[:find ?x :where [?e :n ?x] [(> ?x \"a\")]]", NULL, ":query/where");
    qt_close(&d);
}
