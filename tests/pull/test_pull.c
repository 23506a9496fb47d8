/* src/pull: Datahike's pull semantics (its pull_api_test.cljc cases, and
 * more), errors, views, bounds, threads, out-of-memory. */
#include <pthread.h>

#include "pull_test.h"
#include "pull/pull.h"

void test_pull_pull__attr_specs_and_pull_many(void)
{
    pt_db t;
    pt_open_test_db(&t, "attr", NULL, 0);
    PT_PULL(t.db, "[:name :aka]", "1", "{:name \"Petr\" :aka [\"Devil\" \"Tupen\"]}");
    PT_PULL(t.db, "[:name :father :db/id]", "6", "{:name \"Matthew\" :father {:db/id 3} :db/id 6}");
    PT_PULL_MANY(t.db, "[:name]", "[1 5 7 9]", "[{:name \"Petr\"} {:name \"Elizabeth\"} {:name \"Eunan\"} {:name \"Rebecca\"}]");
    /* entities with nothing to show are dropped from pull-many, nil from pull */
    PT_PULL_MANY(t.db, "[:aka]", "[1 2 3]", "[{:aka [\"Devil\" \"Tupen\"]}]");
    PT_PULL(t.db, "[:aka]", "2", "nil");
    PT_PULL(t.db, "[]", "1", "nil");
    /* lists and sets are patterns too; strings name attributes */
    PT_PULL(t.db, "(:name)", "1", "{:name \"Petr\"}");
    PT_PULL(t.db, "#{:name}", "1", "{:name \"Petr\"}");
    PT_PULL(t.db, "[\"name\"]", "1", "{\"name\" \"Petr\"}");
    pt_close(&t);
}

void test_pull_pull__reverse_attrs(void)
{
    pt_db t;
    pt_open_test_db(&t, "reverse", NULL, 0);
    PT_PULL(t.db, "[:name :_child]", "2", "{:name \"David\" :_child [{:db/id 1}]}");
    PT_PULL(t.db, "[:name {:_child [:name]}]", "2", "{:name \"David\" :_child [{:name \"Petr\"}]}");
    PT_PULL(t.db, "[:name :_father]", "3", "{:name \"Thomas\" :_father [{:db/id 6}]}");
    PT_PULL(t.db, "[:name :_father]", "1", "{:name \"Petr\" :_father [{:db/id 2} {:db/id 3}]}");
    PT_PULL(t.db, "[:name {:_father [:name]}]", "1", "{:name \"Petr\" :_father [{:name \"David\"} {:name \"Thomas\"}]}");
    PT_PULL(t.db, "[[:_father :limit 1]]", "1", "{:_father [{:db/id 2}]}");
    PT_PULL(t.db, "[[:_father :as :kids]]", "1", "{:kids [{:db/id 2} {:db/id 3}]}");
    pt_close(&t);
}

void test_pull_pull__components_expand_and_stop_at_loops(void)
{
    const char *loop[] = { "[[:db/add 12 :part 10]]" };
    const char *parts = "{:name \"Part A\" :part [{:db/id 11 :name \"Part A.A\" :part [{:db/id 12 :name \"Part A.A.A\""
                        " :part [{:db/id 13 :name \"Part A.A.A.A\"} {:db/id 14 :name \"Part A.A.A.B\"}]}]}"
                        " {:db/id 15 :name \"Part A.B\" :part [{:db/id 16 :name \"Part A.B.A\""
                        " :part [{:db/id 17 :name \"Part A.B.A.A\"} {:db/id 18 :name \"Part A.B.A.B\"}]}]}]}";
    const char *rpart = "{:name \"Part A\" :part [{:db/id 11 :name \"Part A.A\" :part [{:db/id 12 :name \"Part A.A.A\""
                        " :part [{:db/id 10} {:db/id 13 :name \"Part A.A.A.A\"} {:db/id 14 :name \"Part A.A.A.B\"}]}]}"
                        " {:db/id 15 :name \"Part A.B\" :part [{:db/id 16 :name \"Part A.B.A\""
                        " :part [{:db/id 17 :name \"Part A.B.A.A\"} {:db/id 18 :name \"Part A.B.A.B\"}]}]}]}";
    pt_db t, r;
    pt_open_test_db(&t, "comp", NULL, 0);
    PT_PULL(t.db, "[:name :part]", "10", parts);
    /* a reverse component is one map */
    PT_PULL(t.db, "[:name :_part]", "11", "{:name \"Part A.A\" :_part {:db/id 10}}");
    PT_PULL(t.db, "[:name {:_part [:name]}]", "11", "{:name \"Part A.A\" :_part {:name \"Part A\"}}");
    /* map specs override the expansion */
    PT_PULL(t.db, "[:name {:part [:name]}]", "10", "{:name \"Part A\" :part [{:name \"Part A.A\"} {:name \"Part A.B\"}]}");
    PT_PULL(t.db, "[:name {:part 1}]", "10", "{:name \"Part A\" :part [{:name \"Part A.A\"} {:name \"Part A.B\"}]}");
    pt_close(&t);
    pt_open_test_db(&r, "comp-loop", loop, 1);
    PT_PULL(r.db, "[:name :part]", "10", rpart);
    pt_close(&r);
}

void test_pull_pull__wildcard(void)
{
    pt_db t;
    pt_open_test_db(&t, "wild", NULL, 0);
    PT_PULL(t.db, "[*]", "1", "{:db/id 1 :name \"Petr\" :aka [\"Devil\" \"Tupen\"] :child [{:db/id 2} {:db/id 3}]}");
    PT_PULL(t.db, "[* :_child]", "2", "{:db/id 2 :name \"David\" :_child [{:db/id 1}] :father {:db/id 1}}");
    PT_PULL(t.db, "[:*]", "9", "{:db/id 9 :name \"Rebecca\"}");
    PT_PULL(t.db, "[\"*\"]", "9", "{:db/id 9 :name \"Rebecca\"}");
    /* spec options of an attribute apply under the wildcard; defaults do not */
    PT_PULL(t.db, "[* [:aka :limit 1] {:child [:name]} [:nope-not-here :default 1]]", "1",
            "{:db/id 1 :name \"Petr\" :aka [\"Devil\"] :child [{:name \"David\"} {:name \"Thomas\"}]}");
    PT_PULL(t.db, "[* [:name :as :n]]", "9", "{:db/id 9 :n \"Rebecca\"}");
    /* an id with no datoms: only :db/id (Datahike) */
    PT_PULL(t.db, "[*]", "999", "{:db/id 999}");
    PT_PULL(t.db, "[:db/id]", "999", "nil");
    pt_close(&t);
}

void test_pull_pull__limits(void)
{
    char tx[2000 * 32 + 64];
    size_t n = 0;
    const char *extra[2];
    pt_db t;
    n += (size_t)snprintf(tx + n, sizeof tx - n, "[[:db/add 4 :friend 5] [:db/add 4 :friend 6] [:db/add 4 :friend 7]"
                                                 " [:db/add 4 :friend 8]");
    for (int i = 0; i < 2000; i++)
        n += (size_t)snprintf(tx + n, sizeof tx - n, " [:db/add 8 :aka \"aka-%d\"]", i);
    snprintf(tx + n, sizeof tx - n, "]");
    extra[0] = tx;
    pt_open_test_db(&t, "limit", extra, 1);
    {
        struct { const char *pattern; size_t want; } cases[] = {
            { "[:aka]", 1000 }, { "[(limit :aka 500)]", 500 }, { "[[:aka :limit 500]]", 500 },
            { "[(limit :aka 1500)]", 1500 }, { "[(limit :aka nil)]", 2000 }, { "[[:aka :limit nil]]", 2000 },
            { "[[\"limit\" :aka 3]]", 3 }, { "[* [:aka :limit 7]]", 7 }, { "[*]", 1000 },
        };
        for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
            cairn_val p = pt_edn(cases[i].pattern), got, aka;
            CHECK_OK(cairn_pull(&got, t.db, p, cairn_int(8), NULL));
            CHECK(cairn_map_get(&aka, got, pt_v(":aka")));
            CHECK_MSG(cairn_count(aka) == cases[i].want, "%s: %zu values", cases[i].pattern, cairn_count(aka));
            cairn_release(got);
            cairn_release(p);
        }
    }
    PT_PULL(t.db, "[:name {(limit :friend 2) [:name]}]", "4", "{:name \"Lucy\" :friend [{:name \"Elizabeth\"} {:name \"Matthew\"}]}");
    PT_PULL(t.db, "[:name {[:friend :limit 1] [:name]}]", "4", "{:name \"Lucy\" :friend [{:name \"Elizabeth\"}]}");
    /* a limit of 0 keeps nothing (take 0), so the default applies */
    PT_PULL(t.db, "[[:friend :limit 0 :default :none]]", "4", "{:friend :none}");
    pt_close(&t);
}

void test_pull_pull__default_as_and_options(void)
{
    pt_db t;
    pt_open_test_db(&t, "opts", NULL, 0);
    PT_PULL(t.db, "[:email]", "1", "nil");
    PT_PULL(t.db, "[(default :email \"bar\")]", "1", "{:email \"bar\"}");
    PT_PULL(t.db, "[[:email :default \"bar\"]]", "1", "{:email \"bar\"}");
    PT_PULL(t.db, "[[:email :default nil]]", "1", "{:email nil}");
    PT_PULL(t.db, "[[:name :as \"Name\"] [:aka :as :alias]]", "1", "{\"Name\" \"Petr\" :alias [\"Devil\" \"Tupen\"]}");
    PT_PULL(t.db, "[[:email :as \"Mail\" :default \"Nothing\"]]", "1", "{\"Mail\" \"Nothing\"}");
    /* options may repeat: the last wins */
    PT_PULL(t.db, "[[:name :as :a :as :b]]", "1", "{:b \"Petr\"}");
    /* :db/id keeps its key whatever :as says (Datahike) */
    PT_PULL(t.db, "[[:db/id :as :id]]", "1", "{:db/id 1}");
    /* a later spec of the same name replaces the earlier one; map specs go last */
    PT_PULL(t.db, "[[:name :as :x] :name]", "1", "{:name \"Petr\"}");
    PT_PULL(t.db, "[{:father [:name]} :father]", "6", "{:father {:name \"Thomas\"}}");
    /* a map spec may hold several entries */
    PT_PULL(t.db, "[{:father [:name] :_father [:name]}]", "3", "{:father {:name \"Petr\"} :_father [{:name \"Matthew\"}]}");
    pt_close(&t);
}

void test_pull_pull__map_specs(void)
{
    pt_db t;
    pt_open_test_db(&t, "map", NULL, 0);
    PT_PULL(t.db, "[:name {:father [:name]}]", "6", "{:name \"Matthew\" :father {:name \"Thomas\"}}");
    PT_PULL(t.db, "[:name {:child [:name]}]", "1", "{:name \"Petr\" :child [{:name \"David\"} {:name \"Thomas\"}]}");
    PT_PULL(t.db, "[:name {:father [:name]}]", "1", "{:name \"Petr\"}");
    /* non-matching nested results leave an empty vector (card-many) ... */
    PT_PULL(t.db, "[:name {:child [:email]}]", "1", "{:name \"Petr\" :child []}");
    /* ... or nothing (card-one) */
    PT_PULL(t.db, "[:name {:father [:email]}]", "6", "{:name \"Matthew\"}");
    PT_PULL(t.db, "[{:child [*]}]", "1", "{:child [{:db/id 2 :name \"David\" :father {:db/id 1}} {:db/id 3 :name \"Thomas\" :father {:db/id 1}}]}");
    pt_close(&t);
}

static const char *recursion_tx = "[[:db/add 4 :friend 5] [:db/add 5 :friend 6] [:db/add 6 :friend 7] [:db/add 7 :friend 8]"
                                  " [:db/add 4 :enemy 6] [:db/add 5 :enemy 7] [:db/add 6 :enemy 8] [:db/add 7 :enemy 4]]";

static const char *friends = "{:db/id 4 :name \"Lucy\" :friend [{:db/id 5 :name \"Elizabeth\" :friend [{:db/id 6"
                             " :name \"Matthew\" :friend [{:db/id 7 :name \"Eunan\" :friend [{:db/id 8 :name \"Kerri\"}]}]}]}]}";

void test_pull_pull__recursion(void)
{
    const char *enemies =
        "{:db/id 4 :name \"Lucy\""
        " :friend [{:db/id 5 :name \"Elizabeth\""
        "           :friend [{:db/id 6 :name \"Matthew\" :enemy [{:db/id 8 :name \"Kerri\"}]}]"
        "           :enemy [{:db/id 7 :name \"Eunan\" :friend [{:db/id 8 :name \"Kerri\"}]"
        "                    :enemy [{:db/id 4 :name \"Lucy\" :friend [{:db/id 5}]}]}]}]"
        " :enemy [{:db/id 6 :name \"Matthew\""
        "          :friend [{:db/id 7 :name \"Eunan\" :friend [{:db/id 8 :name \"Kerri\"}]"
        "                    :enemy [{:db/id 4 :name \"Lucy\" :friend [{:db/id 5 :name \"Elizabeth\"}]}]}]"
        "          :enemy [{:db/id 8 :name \"Kerri\"}]}]}";
    const char *extra[] = { recursion_tx };
    pt_db t;
    pt_open_test_db(&t, "rec", extra, 1);
    PT_PULL(t.db, "[:db/id :name {:friend ...}]", "4", friends);
    PT_PULL(t.db, "[:db/id :name {:friend \"...\"}]", "4", friends);
    PT_PULL(t.db, "[:db/id :name {:friend 2 :enemy 2}]", "4", enemies);
    PT_PULL(t.db, "[:name {:friend 1}]", "4", "{:name \"Lucy\" :friend [{:name \"Elizabeth\"}]}");
    /* a limit under :as counts too */
    PT_PULL(t.db, "[:name {[:friend :as :f] 1}]", "4", "{:name \"Lucy\" :f [{:name \"Elizabeth\"}]}");
    pt_close(&t);
}

void test_pull_pull__recursion_cycles(void)
{
    const char *extra[] = { recursion_tx, "[[:db/add 8 :friend 4]]" };
    const char *cycle = "{:db/id 4 :name \"Lucy\" :friend [{:db/id 5 :name \"Elizabeth\" :friend [{:db/id 6"
                        " :name \"Matthew\" :friend [{:db/id 7 :name \"Eunan\" :friend [{:db/id 8 :name \"Kerri\""
                        " :friend [{:db/id 4 :name \"Lucy\" :friend [{:db/id 5}]}]}]}]}]}]}";
    pt_db t;
    pt_open_test_db(&t, "cycle", extra, 2);
    PT_PULL(t.db, "[:db/id :name {:friend ...}]", "4", cycle);
    pt_close(&t);
}

void test_pull_pull__dual_recursion(void)
{
    const char *tx = "[[:db/add 1 :part 2] [:db/add 2 :part 3] [:db/add 3 :part 1] [:db/add 1 :spec 2] [:db/add 2 :spec 1]]";
    const char *want = "{:db/id 1,"
                       " :spec {:db/id 2 :spec {:db/id 1, :spec {:db/id 2}, :part {:db/id 2}}"
                       "        :part {:db/id 3, :part {:db/id 1, :spec {:db/id 2}, :part {:db/id 2}}}}"
                       " :part {:db/id 2 :spec {:db/id 1, :spec {:db/id 2}, :part {:db/id 2}}"
                       "        :part {:db/id 3, :part {:db/id 1, :spec {:db/id 2}, :part {:db/id 2}}}}}";
    pt_db t;
    pt_open(&t, "dual", ":schema {:part {:db/valueType :db.type/ref} :spec {:db/valueType :db.type/ref}}", &tx, 1);
    PT_PULL(t.db, "[:db/id {:part ...} {:spec ...}]", "1", want);
    pt_close(&t);
}

/* DataScript's (and Datomic's) reading of a wildcard with recursion: the
 * nested entities are pulled with the whole pattern (Datahike 0.8 stops at
 * {:db/id n} one level down). */
void test_pull_pull__wildcard_recursion(void)
{
    const char *extra[] = { recursion_tx };
    pt_db t;
    pt_open_test_db(&t, "wildrec", extra, 1);
    PT_PULL(t.db, "[* {:friend ...}]", "6",
            "{:db/id 6 :name \"Matthew\" :father {:db/id 3} :enemy [{:db/id 8}]"
            " :friend [{:db/id 7 :name \"Eunan\" :enemy [{:db/id 4}]"
            "           :friend [{:db/id 8 :name \"Kerri\"}]}]}");
    PT_PULL(t.db, "[* {:friend 1}]", "7", "{:db/id 7 :name \"Eunan\" :enemy [{:db/id 4}] :friend [{:db/id 8 :name \"Kerri\"}]}");
    pt_close(&t);
}

/* Unlimited recursion down a chain deeper than a result can nest ends with a
 * clear error, not a crash; a chain within the bound is pulled whole. */
void test_pull_pull__deep_recursion_is_bounded(void)
{
    size_t cap = 1500 * 64, n = 0;
    char *tx = malloc(cap);
    cairn_val got, p = pt_edn("[:name {:friend ...}]"), cur, friend_kw = pt_edn(":friend");
    cairn_error err = CAIRN_ERROR_INIT;
    int depth = 0;
    pt_db t;
    n += (size_t)snprintf(tx + n, cap - n, "[[:db/add 100 :name \"Person-100\"]");
    for (int i = 101; i < 1500; i++)
        n += (size_t)snprintf(tx + n, cap - n, " [:db/add %d :name \"Person-%d\"] [:db/add %d :friend %d]", i, i,
                              i - 1, i);
    snprintf(tx + n, cap - n, "]");
    pt_open(&t, "deep", ":schema " PT_SCHEMA, (const char *const *)&tx, 1);
    CHECK_ERR(cairn_pull(&got, t.db, p, cairn_int(100), &err), CAIRN_ELIMIT);
    CHECK_STR(err.keyword, ":pull/limit");
    /* from 1200 the chain is 299 entities long: fine */
    CHECK_OK(cairn_pull(&got, t.db, p, cairn_int(1200), &err));
    for (cur = got; cairn_type_of(cur) == CAIRN_MAP; depth++) {
        cairn_val f;
        if (!cairn_map_get(&f, cur, friend_kw))
            break;
        cur = cairn_coll_get(f, 0);
    }
    CHECK_EQ(depth, 299);  /* 1200 .. 1498 hold a friend */
    cairn_release(got);
    cairn_release(p);
    pt_close(&t);
    /* card-one recursion nests one level per entity: the nesting bound itself */
    n = (size_t)snprintf(tx, cap, "[");
    for (int i = 2; i < 1200; i++)
        n += (size_t)snprintf(tx + n, cap - n, " [:db/add %d :father %d] [:db/add %d :spec %d]", i, i - 1, i, i - 1);
    snprintf(tx + n, cap - n, " [:db/add 1 :name \"root\"]]");
    pt_open(&t, "deep-one", ":schema " PT_SCHEMA, (const char *const *)&tx, 1);
    PT_PULL_ERR(t.db, "[{:father ...}]", "1199", CAIRN_ELIMIT, ":pull/limit", NULL);
    PT_PULL_ERR(t.db, "[*]", "1199", CAIRN_ELIMIT, ":pull/limit", NULL);
    PT_PULL(t.db, "[:name {:father 2}]", "3", "{:father {:father {:name \"root\"}}}");
    {
        cairn_entity *e;
        cairn_val v;
        cairn_error err2 = CAIRN_ERROR_INIT;
        CHECK_OK(cairn_entity_get(&e, t.db, cairn_int(1199), NULL));
        CHECK_ERR(cairn_entity_touch(&v, e, &err2), CAIRN_ELIMIT);
        CHECK_STR(err2.keyword, ":pull/limit");
        cairn_entity_free(e);
    }
    pt_close(&t);
    free(tx);
}

void test_pull_pull__parse_errors_name_the_spec(void)
{
    pt_db t;
    pt_open_test_db(&t, "perr", NULL, 0);
    PT_PULL_ERR(t.db, "[:name {:friend :bogus}]", "1", CAIRN_EINVALID, ":parser/pull", "{:friend :bogus}");
    PT_PULL_ERR(t.db, "[(:name :bogus 1)]", "1", CAIRN_EINVALID, ":parser/pull", "Invalid attribute option: :bogus");
    PT_PULL_ERR(t.db, "\"nope\"", "1", CAIRN_EINVALID, ":parser/pull", "\"nope\"");
    PT_PULL_ERR(t.db, "nil", "1", CAIRN_EINVALID, ":parser/pull", "expected: [attr-spec+]");
    PT_PULL_ERR(t.db, "{:name [:x]}", "1", CAIRN_EINVALID, ":parser/pull", NULL);
    PT_PULL_ERR(t.db, "[42]", "1", CAIRN_EINVALID, ":parser/pull", "got 42");
    PT_PULL_ERR(t.db, "[foo]", "1", CAIRN_EINVALID, ":parser/pull", "got foo");
    PT_PULL_ERR(t.db, "[[:name :as]]", "1", CAIRN_EINVALID, ":parser/pull", "even number");
    PT_PULL_ERR(t.db, "[[42 :as :x]]", "1", CAIRN_EINVALID, ":parser/pull", "Expected [attr-name attr-option+]");
    PT_PULL_ERR(t.db, "[[]]", "1", CAIRN_EINVALID, ":parser/pull", NULL);
    PT_PULL_ERR(t.db, "[(limit :aka -1)]", "1", CAIRN_EINVALID, ":parser/pull", "limit");
    PT_PULL_ERR(t.db, "[(limit 42 1)]", "1", CAIRN_EINVALID, ":parser/pull", "limit");
    PT_PULL_ERR(t.db, "[(default 42 1)]", "1", CAIRN_EINVALID, ":parser/pull", "default");
    PT_PULL_ERR(t.db, "[[:aka :limit \"x\"]]", "1", CAIRN_EINVALID, ":parser/pull", ":limit");
    PT_PULL_ERR(t.db, "[{:friend 0}]", "1", CAIRN_EINVALID, ":parser/pull", "recursion-limit");
    PT_PULL_ERR(t.db, "[{42 [:name]}]", "1", CAIRN_EINVALID, ":parser/pull", "attr-expr");
    PT_PULL_ERR(t.db, "[{:friend [{:friend [42]}]}]", "1", CAIRN_EINVALID, ":parser/pull", "got 42");
    PT_PULL_ERR(t.db, "[\"\"]", "1", CAIRN_EINVALID, ":parser/pull", NULL);
    pt_close(&t);
}

void test_pull_pull__unknown_attributes(void)
{
    const char *tx = "[{:db/id 1 :name \"x\"}]";
    pt_db t, r;
    pt_open_test_db(&t, "unknown", NULL, 0);
    /* schema-on-write: naming an undefined attribute fails when evaluated */
    PT_PULL_ERR(t.db, "[:nope :name]", "1", CAIRN_EINVALID, ":transact/schema", ":nope");
    PT_PULL_ERR(t.db, "[:nope/_ref]", "1", CAIRN_EINVALID, ":transact/schema", ":nope/_ref");
    PT_PULL_ERR(t.db, "[{:child [:nope]}]", "1", CAIRN_EINVALID, ":transact/schema", NULL);
    /* ... but not when never evaluated, nor as a forward spec under the wildcard */
    PT_PULL(t.db, "[{:father [:nope]}]", "1", "nil");
    PT_PULL(t.db, "[* :nope]", "9", "{:db/id 9 :name \"Rebecca\"}");
    pt_close(&t);
    /* schema-on-read: an unknown attribute has no values */
    pt_open(&r, "unknown-read", ":schema-flexibility :read", &tx, 1);
    PT_PULL(r.db, "[:name :nope [:nope2 :default 3]]", "1", "{:name \"x\" :nope2 3}");
    pt_close(&r);
}

void test_pull_pull__entity_references(void)
{
    const char *tx = "[{:db/id -1 :email \"a@x\" :name \"A\"} {:db/ident :the/one :name \"One\"}]";
    cairn_val got;
    cairn_error err = CAIRN_ERROR_INIT;
    pt_db t;
    pt_open(&t, "refs", ":schema " PT_SCHEMA, &tx, 1);
    PT_PULL(t.db, "[:name]", "[:email \"a@x\"]", "{:name \"A\"}");
    PT_PULL(t.db, "[:name]", ":the/one", "{:name \"One\"}");
    PT_PULL(t.db, "[:name :db/ident]", "2", "{:name \"One\" :db/ident :the/one}");
    PT_PULL_ERR(t.db, "[:name]", "[:email \"zz\"]", CAIRN_ENOTFOUND, ":entity-id/missing", "[:email \"zz\"]");
    PT_PULL_ERR(t.db, "[:name]", ":no/such", CAIRN_ENOTFOUND, ":entity-id/missing", NULL);
    PT_PULL_ERR(t.db, "[:name]", "0", CAIRN_EINVALID, ":entity-id/syntax", NULL);
    PT_PULL_ERR(t.db, "[:name]", "[:name \"A\"]", CAIRN_EINVALID, ":lookup-ref/unique", NULL);
    PT_PULL_ERR(t.db, "[:name]", "\"x\"", CAIRN_EINVALID, ":entity-id/syntax", NULL);
    /* pull-many resolves every reference first */
    CHECK_ERR(cairn_pull_many(&got, t.db, pt_v("[:name]"), pt_v("[1 [:email \"zz\"]]"), &err), CAIRN_ENOTFOUND);
    CHECK_ERR(cairn_pull_many(&got, t.db, pt_v("[:name]"), pt_v("1"), &err), CAIRN_EINVALID);
    PT_PULL_MANY(t.db, "[:name]", "([:email \"a@x\"] :the/one)", "[{:name \"A\"} {:name \"One\"}]");
    pt_close(&t);
}

/* Pull works on as-of and since views, as Datahike's. */
void test_pull_pull__temporal_views(void)
{
    const char *txs[] = {
        "[{:db/ident :item/sku :db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}"
        " {:db/ident :item/price :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
        " {:db/ident :item/tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"
        " {:db/ident :item/part :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}]",
        "[{:item/sku \"A\" :item/price 10 :item/tag [:x]} {:item/sku \"B\" :item/price 20}]",
        "[{:item/sku \"A\" :item/price 11 :item/part [[:item/sku \"B\"]]} [:db/add [:item/sku \"B\"] :item/tag :y]]",
        "[[:db/retractEntity [:item/sku \"B\"]] {:item/sku \"C\" :item/price 5}]",
    };
    cairn_db *as_of, *since, *hist;
    pt_db t;
    pt_open(&t, "temporal", NULL, txs, 4);
    CHECK_OK(cairn_db_as_of(&as_of, t.db, cairn_int(536870915), NULL));
    PT_PULL(as_of, "[*]", "6", "{:db/id 6 :item/sku \"B\" :item/price 20 :item/tag [:y]}");
    PT_PULL(as_of, "[:item/sku {:item/part [:item/sku]} :item/price]", "5",
            "{:item/sku \"A\" :item/price 11 :item/part [{:item/sku \"B\"}]}");
    PT_PULL(as_of, "[:item/sku :item/_part]", "6", "{:item/sku \"B\" :item/_part [{:db/id 5}]}");
    PT_PULL(t.db, "[:item/sku :item/part :item/_part]", "6", "nil");
    CHECK_OK(cairn_db_since(&since, t.db, cairn_int(536870914), NULL));
    /* the ref to B went with B's retraction in tx 4 */
    PT_PULL(since, "[:item/sku :item/price :item/part]", "5", "{:item/price 11}");
    PT_PULL(since, "[:db/id :item/sku]", "7", "{:db/id 7 :item/sku \"C\"}");
    PT_PULL(since, "[:db/id :item/tag]", "6", "nil");
    /* history: every value ever asserted (retractions are not values) */
    CHECK_OK(cairn_db_history(&hist, t.db, NULL));
    PT_PULL(hist, "[:item/sku :item/tag {:item/_part [:item/sku]}]", "6",
            "{:item/sku \"B\" :item/tag [:y] :item/_part [{:item/sku \"A\"}]}");
    cairn_db_release(hist);
    cairn_db_release(since);
    cairn_db_release(as_of);
    pt_close(&t);
}

/* A pattern parsed once evaluates against many entities and later values;
 * a schema change is picked up. */
void test_pull_pattern__parse_once_eval_many(void)
{
    const char *tx = "[[:db/add 20 :name \"Twenty\"]]";
    cairn_pull_pattern *p;
    cairn_val got;
    cairn_error err = CAIRN_ERROR_INIT;
    pt_db t;
    pt_open_test_db(&t, "once", NULL, 0);
    CHECK_OK(cairn_pull_pattern_parse(&p, t.db, pt_v("[:name {:father [:name]}]"), &err));
    for (int e = 1; e <= 9; e++) {
        CHECK_OK(cairn_pull_pattern_eval(&got, p, t.db, e, &err));
        CHECK(cairn_type_of(got) == CAIRN_MAP);
        cairn_release(got);
    }
    CHECK_OK(cairn_pull_pattern_eval(&got, p, t.db, 6, &err));
    CHECK(cairn_equal(got, pt_v("{:name \"Matthew\" :father {:name \"Thomas\"}}")));
    cairn_release(got);
    CHECK_OK(cairn_pull_pattern_eval(&got, p, t.db, 1000, &err));
    CHECK(cairn_type_of(got) == CAIRN_NIL);
    /* a newer value (same schema) */
    CHECK_OK(cairn_transact_edn(NULL, t.conn, tx, strlen(tx), &err));
    {
        cairn_db *db2;
        const char *schema_tx = "[{:db/ident :nick :db/valueType :db.type/string :db/cardinality :db.cardinality/one}"
                                " [:db/add 20 :nick \"XX\"]]";
        cairn_pull_pattern *q;
        CHECK_OK(cairn_conn_db(&db2, t.conn, &err));
        CHECK_OK(cairn_pull_pattern_eval(&got, p, db2, 20, &err));
        CHECK(cairn_equal(got, pt_v("{:name \"Twenty\"}")));
        cairn_release(got);
        /* a pattern naming :nick before it exists fails ... */
        CHECK_OK(cairn_pull_pattern_parse(&q, db2, pt_v("[:nick]"), &err));
        CHECK_ERR(cairn_pull_pattern_eval(&got, q, db2, 20, &err), CAIRN_EINVALID);
        cairn_db_release(db2);
        /* ... and works on a value whose schema has it */
        CHECK_OK(cairn_transact_edn(NULL, t.conn, schema_tx, strlen(schema_tx), &err));
        CHECK_OK(cairn_conn_db(&db2, t.conn, &err));
        CHECK_OK(cairn_pull_pattern_eval(&got, q, db2, 20, &err));
        CHECK(cairn_equal(got, pt_v("{:nick \"XX\"}")));
        cairn_release(got);
        cairn_pull_pattern_free(q);
        cairn_db_release(db2);
    }
    cairn_pull_pattern_free(p);
    pt_close(&t);
}

struct reader {
    const cairn_pull_pattern *p;   /* shared pattern */
    const cairn_db *db;            /* shared value */
    cairn_val want;                /* expected result for entity 10 */
    int ok;                        /* every result matched */
};

static void *reader_main(void *arg)
{
    struct reader *r = arg;
    r->ok = 1;
    for (int i = 0; i < 200; i++) {
        cairn_val got;
        cairn_error err = CAIRN_ERROR_INIT;
        if (cairn_pull_pattern_eval(&got, r->p, r->db, 10, &err) != 0 || !cairn_equal(got, r->want))
            r->ok = 0;
        cairn_release(got);
    }
    return NULL;
}

/* One parsed pattern, one db value, several threads (run under TSan too). */
void test_pull_pattern__concurrent_readers(void)
{
    struct reader r[4];
    pthread_t th[4];
    cairn_pull_pattern *p;
    cairn_val want;
    pt_db t;
    pt_open_test_db(&t, "threads", NULL, 0);
    CHECK_OK(cairn_pull_pattern_parse(&p, t.db, pt_v("[:name {:part ...}]"), NULL));
    CHECK_OK(cairn_pull_pattern_eval(&want, p, t.db, 10, NULL));
    for (int i = 0; i < 4; i++) {
        r[i].p = p;
        r[i].db = t.db;
        r[i].want = want;
        CHECK(pthread_create(&th[i], NULL, reader_main, &r[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        pthread_join(th[i], NULL);
        CHECK(r[i].ok);
    }
    cairn_release(want);
    cairn_pull_pattern_free(p);
    pt_close(&t);
}

/* Results print as Datahike prints them (maps of up to 8 keys keep the
 * pattern's order), and through the JSON codec with its tagged literals. */
void test_pull_pull__prints_as_edn_and_json(void)
{
    const char *tx = "[{:db/id 30 :name \"Zed\" :aka [\"z\" \"y\"] :father 1}]";
    cairn_val got;
    char *s;
    pt_db t;
    pt_open_test_db(&t, "print", &tx, 1);
    CHECK_OK(cairn_pull(&got, t.db, pt_v("[:db/id :name :aka {:father [:name]} :_father]"), cairn_int(30), NULL));
    CHECK_OK(cairn_edn_print(&s, NULL, got));
    CHECK_STR(s, "{:db/id 30, :name \"Zed\", :aka [\"y\" \"z\"], :father {:name \"Petr\"}}");
    cairn_free(s);
    CHECK_OK(cairn_json_print(&s, NULL, got));
    CHECK_STR(s, "{\"db/id\":30,\"name\":\"Zed\",\"aka\":[\"y\",\"z\"],\"father\":{\"name\":\"Petr\"}}");
    cairn_free(s);
    cairn_release(got);
    CHECK_OK(cairn_pull(&got, t.db, pt_v("[[:name :as :n] [:aka :as \"k\"]]"), cairn_int(30), NULL));
    CHECK_OK(cairn_json_print(&s, NULL, got));
    CHECK_STR(s, "{\"n\":\"Zed\",\"k\":[\"y\",\"z\"]}");
    cairn_free(s);
    cairn_release(got);
    pt_close(&t);
}

/* Every allocation of a pull failing in turn: an error, no leak, and the
 * same answer once memory is back. */
void test_pull_pull__out_of_memory(void)
{
    const char *patterns[] = { "[:name {:part ...} :_part]", "[* {:child [:name :_father]}]", "[:db/id {:friend 2}]" };
    pt_db t;
    pt_open_test_db(&t, "oom", NULL, 0);
    for (size_t k = 0; k < CAIRN_ARRAY_LEN(patterns); k++) {
        cairn_val p = pt_edn(patterns[k]), want, got;
        int done = 0;
        CHECK_OK(cairn_pull(&want, t.db, p, cairn_int(k == 1 ? 1 : 10), NULL));
        for (uint64_t n = 1; !done && n < 10000; n++) {
            int64_t live = cairn__alloc_live();
            cairn_error err = CAIRN_ERROR_INIT;
            int rc;
            cairn__alloc_fail_at(n, 0);
            rc = cairn_pull(&got, t.db, p, cairn_int(k == 1 ? 1 : 10), &err);
            done = !cairn__alloc_failed();
            cairn__alloc_fail_at(0, 0);
            if (rc == 0) {
                CHECK(cairn_equal(got, want));
                cairn_release(got);
            } else {
                CHECK_EQ(rc, CAIRN_ENOMEM);
            }
            CHECK_EQ(cairn__alloc_live(), live);
        }
        CHECK(done);
        CHECK(cairn__alloc_count() > 0);
        cairn_release(want);
        cairn_release(p);
    }
    pt_close(&t);
}
