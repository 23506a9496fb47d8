/* src/query/rules.c: rule calls, recursion, demand, and the odd corners of
 * required variables. */
#include <stdlib.h>

#include "query_test.h"

/* rule sets are the one input after $, so each is wrapped in an input vector */
static const char *reach_rules = "[[[(reach ?a ?b) [?a :next ?b]] [(reach ?a ?b) [?a :next ?x] (reach ?x ?b)]]]";

/* A graph of :id'd nodes: a chain 1 -> 2 -> ... -> n, plus a ring of m nodes
 * (ids from 100000) and nothing linking the two. */
static qt_db graph(const char *id, int n, int m)
{
    const char *schema = "[{:db/ident :id :db/valueType :db.type/long :db/cardinality :db.cardinality/one "
                         ":db/unique :db.unique/identity}"
                         " {:db/ident :next :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]";
    size_t cap = (size_t)(n + m) * 64 + 64, at = 0;
    char *data = malloc(cap);
    const char *txs[2];
    qt_db d;
    at += (size_t)snprintf(data + at, cap - at, "[");
    for (int i = 1; i <= n; i++) {
        if (i < n)
            at += (size_t)snprintf(data + at, cap - at, "{:db/id \"c%d\" :id %d :next \"c%d\"}", i, i, i + 1);
        else
            at += (size_t)snprintf(data + at, cap - at, "{:db/id \"c%d\" :id %d}", i, i);
    }
    for (int i = 0; i < m; i++)
        at += (size_t)snprintf(data + at, cap - at, "{:db/id \"r%d\" :id %d :next \"r%d\"}", i, 100000 + i, (i + 1) % m);
    snprintf(data + at, cap - at, "]");
    txs[0] = schema;
    txs[1] = data;
    d = qt_open(id, "", txs, 2);
    free(data);
    return d;
}

void test_query_rules__closure_of_a_long_chain(void)
{
    qt_db d = graph("qrules-chain", 2000, 10);
    CHECK_Q(d.db, "[:find (count ?b) . :in $ % :where [?a :id 1] (reach ?a ?b)]", reach_rules, "1999");
    CHECK_Q(d.db, "[:find (count ?b) . :in $ % :where [?a :id 1990] (reach ?a ?b)]", reach_rules, "10");
    CHECK_Q(d.db, "[:find (count ?a) . :in $ % :where [?b :id 2000] (reach ?a ?b)]", reach_rules, "1999");
    qt_close(&d);
}

void test_query_rules__cycles_terminate(void)
{
    qt_db d = graph("qrules-ring", 5, 300);
    CHECK_Q(d.db, "[:find (count ?b) . :in $ % :where [?a :id 100000] (reach ?a ?b)]", reach_rules, "300");
    /* every ring node reaches itself */
    CHECK_Q(d.db, "[:find (count ?a) . :in $ % :where [?a :id ?i] [(>= ?i 100000)] (reach ?a ?a)]", reach_rules, "300");
    /* everything from everywhere: ring 300 x 300, chain 4+3+2+1 */
    CHECK_Q(d.db, "[:find (count ?a) . :with ?b :in $ % :where (reach ?a ?b)]", reach_rules, "90010");
    qt_close(&d);
}

void test_query_rules__constants_and_repeated_arguments(void)
{
    qt_db d = graph("qrules-args", 6, 3);
    cairn_val out;
    cairn_error err = CAIRN_ERROR_INIT;
    int64_t c6;
    CHECK_OK(qt_q(&out, d.db, "[:find ?e . :where [?e :id 6]]", NULL, &err));
    c6 = cairn_int_value(out);
    {
        char q[256], want[32];
        snprintf(q, sizeof q, "[:find (count ?a) . :in $ %% :where (reach ?a %lld)]", (long long)c6);
        snprintf(want, sizeof want, "5");
        CHECK_Q(d.db, q, reach_rules, want);
    }
    CHECK_Q(d.db, "[:find (count ?a) . :in $ % :where (reach ?a ?a)]", reach_rules, "3");
    qt_close(&d);
}

void test_query_rules__rules_inside_not_and_or(void)
{
    qt_db d = graph("qrules-notor", 8, 4);
    /* chain nodes that cannot reach node 8 are none; ring nodes cannot */
    CHECK_Q(d.db, "[:find (count ?a) . :in $ % :where [?a :id ?i] [?z :id 8] (not (reach ?a ?z))]", reach_rules, "5");
    CHECK_Q(d.db, "[:find ?i :in $ % :where [?a :id ?i] [?z :id 3] (or-join [?a ?z] (reach ?a ?z) [?a :next ?z])]",
            reach_rules, "#{[1] [2]}");
    qt_close(&d);
}

void test_query_rules__required_variables_follow_datascript(void)
{
    qt_db d = qt_people("qrules-req");
    const char *rules = "[[[(bound-age [?e] ?a) [?e :age ?a]]]]";
    /* called with ?e unbound as written: no answers */
    CHECK_Q(d.db, "[:find ?n :in $ % :where (bound-age ?e ?a) [?e :name ?n]]", rules, "#{}");
    /* called with ?e bound: the body's ?e is its own variable (every age for every name),
     * as DataScript and both Datahike versions answer */
    CHECK_Q(d.db, "[:find (count ?a) . :with ?n :in $ % :where [?e :name ?n] (bound-age ?e ?a)]", rules, "30");
    qt_close(&d);
}

void test_query_rules__mutual_recursion_and_several_definitions(void)
{
    qt_db d = graph("qrules-mutual", 9, 2);
    const char *rules = "[[[(even ?a ?b) [?a :next ?b] [?b :id ?i] (odd-step ?b)]"
                        " [(odd-step ?x) [?x :id ?i] [(odd? ?i)]]"
                        " [(two ?a ?b) [?a :next ?x] [?x :next ?b]]"
                        " [(far ?a ?b) (two ?a ?b)]"
                        " [(far ?a ?b) (two ?a ?x) (far ?x ?b)]]]";
    CHECK_Q(d.db, "[:find ?j :in $ % :where [?a :id 1] (far ?a ?b) [?b :id ?j]]", rules, "#{[3] [5] [7] [9]}");
    CHECK_Q(d.db, "[:find ?j :in $ % :where [?a :id ?i] [(< ?i 9)] (even ?a ?b) [?b :id ?j]]", rules,
            "#{[3] [5] [7] [9]}");
    qt_close(&d);
}
