/* src/pull/entity: lazy entities as Datahike's impl/entity.cljc. */
#include "pull_test.h"

static cairn_entity *get(const cairn_db *db, const char *eid)
{
    cairn_entity *e = NULL;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_entity_get(&e, db, pt_v(eid), &err) != 0)
        test__fail(__FILE__, __LINE__, "entity %s: %s", eid, err.message);
    return e;
}

#define CHECK_ATTR(e, attr, expect) do { \
    cairn_val got_; \
    CHECK_OK(cairn_entity_attr(&got_, e, pt_v(attr), NULL)); \
    if (!cairn_equal(got_, pt_v(expect))) \
        test__fail(__FILE__, __LINE__, "%s: got %s, want %s", attr, pt_print(got_), expect); \
    cairn_release(got_); \
} while (0)

#define CHECK_TOUCH(e, expect) do { \
    cairn_val got_; \
    CHECK_OK(cairn_entity_touch(&got_, e, NULL)); \
    if (!cairn_equal(got_, pt_v(expect))) \
        test__fail(__FILE__, __LINE__, "touch: got %s, want %s", pt_print(got_), expect); \
    cairn_release(got_); \
} while (0)

void test_pull_entity__attributes_sets_refs_and_reverse(void)
{
    cairn_entity *e, *p;
    pt_db t;
    pt_open_test_db(&t, "ent", NULL, 0);
    e = get(t.db, "1");
    CHECK(e != NULL);
    CHECK_EQ(cairn_entity_id(e), 1);
    CHECK(cairn_entity_db(e) == t.db);
    CHECK_ATTR(e, ":db/id", "1");
    CHECK_ATTR(e, ":name", "\"Petr\"");
    CHECK_ATTR(e, ":aka", "#{\"Devil\" \"Tupen\"}");
    CHECK_ATTR(e, ":child", "#{2 3}");
    CHECK_ATTR(e, ":father", "nil");
    CHECK_ATTR(e, ":_father", "#{2 3}");
    CHECK_ATTR(e, ":no-such-attr", "nil");
    CHECK_ATTR(e, "\"name\"", "\"Petr\"");
    /* refs are ids to open */
    p = get(t.db, "6");
    CHECK_ATTR(p, ":father", "3");
    cairn_entity_free(p);
    /* a reverse component is one id */
    p = get(t.db, "11");
    CHECK_ATTR(p, ":_part", "10");
    CHECK_ATTR(p, ":part", "#{12}");
    cairn_entity_free(p);
    cairn_entity_free(e);
    pt_close(&t);
}

void test_pull_entity__missing_entities_and_references(void)
{
    const char *tx = "[{:db/id -1 :email \"a@x\" :name \"A\"} {:db/ident :the/one :name \"One\"}]";
    cairn_entity *e;
    cairn_error err = CAIRN_ERROR_INIT;
    pt_db t;
    pt_open(&t, "ent-refs", ":schema " PT_SCHEMA, &tx, 1);
    CHECK(get(t.db, "999") == NULL);
    CHECK(get(t.db, "[:email \"zz\"]") == NULL);
    CHECK(get(t.db, ":no/such") == NULL);
    CHECK(get(t.db, "\"str\"") == NULL);
    CHECK_ERR(cairn_entity_get(&e, t.db, cairn_int(0), &err), CAIRN_EINVALID);
    CHECK_ERR(cairn_entity_get(&e, t.db, pt_v("[:name \"A\"]"), &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":lookup-ref/unique");
    e = get(t.db, "[:email \"a@x\"]");
    CHECK_ATTR(e, ":name", "\"A\"");
    cairn_entity_free(e);
    e = get(t.db, ":the/one");
    CHECK_ATTR(e, ":db/ident", ":the/one");
    CHECK_ERR(cairn_entity_attr(NULL, e, cairn_int(3), &err), CAIRN_EINVALID);
    cairn_entity_free(e);
    pt_close(&t);
}

void test_pull_entity__touch_expands_components_and_stops_at_cycles(void)
{
    const char *loop[] = { "[[:db/add 12 :part 10]]" };
    cairn_entity *e;
    pt_db t;
    pt_open_test_db(&t, "touch", loop, 1);
    e = get(t.db, "1");
    CHECK_TOUCH(e, "{:db/id 1 :name \"Petr\" :aka #{\"Devil\" \"Tupen\"} :child #{{:db/id 2} {:db/id 3}}}");
    cairn_entity_free(e);
    /* 11 -> 12 -> 10 -> 11: the cycle ends in {:db/id 11} */
    e = get(t.db, "11");
    CHECK_TOUCH(e, "{:db/id 11 :name \"Part A.A\" :part #{{:db/id 12 :name \"Part A.A.A\""
                   " :part #{{:db/id 10 :name \"Part A\" :part #{{:db/id 11} {:db/id 15 :name \"Part A.B\""
                   " :part #{{:db/id 16 :name \"Part A.B.A\" :part #{{:db/id 17 :name \"Part A.B.A.A\"}"
                   " {:db/id 18 :name \"Part A.B.A.B\"}}}}}}}"
                   " {:db/id 13 :name \"Part A.A.A.A\"} {:db/id 14 :name \"Part A.A.A.B\"}}}}}");
    cairn_entity_free(e);
    /* 10 -> 11 -> 12 -> 10: the cycle ends in {:db/id 10} */
    e = get(t.db, "10");
    {
        cairn_val got;
        char *s;
        CHECK_OK(cairn_entity_touch(&got, e, NULL));
        s = pt_print(got);
        CHECK(strstr(s, "{:db/id 10}") != NULL);
        cairn_free(s);
        cairn_release(got);
    }
    cairn_entity_free(e);
    pt_close(&t);
}

/* An entity larger than the first read: attributes past it are read on
 * demand, and touch reads everything. */
void test_pull_entity__large_entities_read_the_rest_on_demand(void)
{
    char tx[300 * 40];
    size_t n = 0;
    const char *extra[1];
    cairn_entity *e;
    cairn_val got;
    pt_db t;
    n += (size_t)snprintf(tx + n, sizeof tx - n, "[[:db/add 50 :name \"Big\"] [:db/add 50 :father 1]");
    for (int i = 0; i < 200; i++)
        n += (size_t)snprintf(tx + n, sizeof tx - n, " [:db/add 50 :aka \"a%03d\"]", i);
    snprintf(tx + n, sizeof tx - n, "]");
    extra[0] = tx;
    pt_open_test_db(&t, "big", extra, 1);
    e = get(t.db, "50");
    CHECK_ATTR(e, ":name", "\"Big\"");
    CHECK_ATTR(e, ":father", "1");
    CHECK_OK(cairn_entity_attr(&got, e, pt_v(":aka"), NULL));
    CHECK_EQ(cairn_count(got), 200);
    cairn_release(got);
    CHECK_OK(cairn_entity_touch(&got, e, NULL));
    CHECK_EQ(cairn_count(got), 4);
    cairn_release(got);
    CHECK_ATTR(e, ":name", "\"Big\"");
    cairn_entity_free(e);
    pt_close(&t);
}

void test_pull_entity__equality_by_id_and_value(void)
{
    const char *tx = "[[:db/add 40 :name \"x\"]]";
    cairn_entity *a, *b, *c, *d;
    cairn_db *db2, *later;
    pt_db t;
    pt_open_test_db(&t, "eq", NULL, 0);
    CHECK_OK(cairn_conn_db(&db2, t.conn, NULL));
    a = get(t.db, "1");
    b = get(db2, "1");
    c = get(t.db, "2");
    CHECK(cairn_entity_equal(a, b));
    CHECK(!cairn_entity_equal(a, c));
    CHECK_OK(cairn_transact_edn(NULL, t.conn, tx, strlen(tx), NULL));
    CHECK_OK(cairn_conn_db(&later, t.conn, NULL));
    d = get(later, "1");
    CHECK(!cairn_entity_equal(a, d));
    /* the entity keeps its database value alive */
    cairn_db_release(later);
    CHECK_ATTR(d, ":name", "\"Petr\"");
    cairn_entity_free(a);
    cairn_entity_free(b);
    cairn_entity_free(c);
    cairn_entity_free(d);
    cairn_db_release(db2);
    pt_close(&t);
}

void test_pull_entity__temporal_views(void)
{
    const char *txs[] = { "[[:db/add 40 :name \"old\"] [:db/add 40 :aka \"x\"]]", "[[:db/add 40 :name \"new\"]]",
                          "[[:db/retract 40 :aka \"x\"]]" };
    cairn_db *as_of;
    cairn_entity *e;
    pt_db t;
    pt_open(&t, "ent-temporal", ":schema " PT_SCHEMA, txs, 3);
    CHECK_OK(cairn_db_as_of(&as_of, t.db, cairn_int(536870913), NULL));
    e = get(as_of, "40");
    CHECK_ATTR(e, ":name", "\"old\"");
    CHECK_TOUCH(e, "{:db/id 40 :name \"old\" :aka #{\"x\"}}");
    cairn_entity_free(e);
    e = get(t.db, "40");
    CHECK_TOUCH(e, "{:db/id 40 :name \"new\"}");
    cairn_entity_free(e);
    cairn_db_release(as_of);
    pt_close(&t);
}

void test_pull_entity__out_of_memory(void)
{
    pt_db t;
    int done = 0;
    cairn_val part;
    pt_open_test_db(&t, "ent-oom", NULL, 0);
    part = pt_v(":part");
    for (uint64_t n = 1; !done && n < 10000; n++) {
        int64_t live = cairn__alloc_live();
        cairn_entity *e = NULL;
        cairn_val v = cairn_nil(), m = cairn_nil();
        int rc;
        cairn__alloc_fail_at(n, 0);
        rc = cairn_entity_get(&e, t.db, cairn_int(10), NULL);
        if (rc == 0 && (rc = cairn_entity_attr(&v, e, part, NULL)) == 0)
            rc = cairn_entity_touch(&m, e, NULL);
        done = !cairn__alloc_failed();
        cairn__alloc_fail_at(0, 0);
        CHECK(rc == 0 || rc == CAIRN_ENOMEM);
        if (rc == 0) {
            CHECK_EQ(cairn_count(v), 2);
            CHECK_EQ(cairn_count(m), 3);
        }
        cairn_release(v);
        cairn_release(m);
        cairn_entity_free(e);
        CHECK_EQ(cairn__alloc_live(), live);
    }
    CHECK(done);
    pt_close(&t);
}

/* A touched entity prints through the JSON codec with its tagged literals:
 * card-many values as ["!set", [...]], keywords as ["!kw", ...]. */
void test_pull_entity__touch_prints_as_json(void)
{
    const char *tx = "[{:db/ident :tag :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"
                     " [:db/add 1 :tag :dev] [:db/add 1 :tag :ops]]";
    cairn_entity *e;
    cairn_val got;
    char *s;
    pt_db t;
    pt_open_test_db(&t, "ent-json", &tx, 1);
    e = get(t.db, "1");
    CHECK_OK(cairn_entity_touch(&got, e, NULL));
    CHECK_OK(cairn_json_print(&s, NULL, got));
    /* attributes in id order (:tag is entity 19, the config's come later), :db/id last */
    CHECK_STR(s, "{\"tag\":[\"!set\",[[\"!kw\",\"dev\"],[\"!kw\",\"ops\"]]],\"name\":\"Petr\","
                 "\"aka\":[\"!set\",[\"Devil\",\"Tupen\"]],\"child\":[\"!set\",[{\"db/id\":2},{\"db/id\":3}]],"
                 "\"db/id\":1}");
    cairn_free(s);
    cairn_release(got);
    cairn_entity_free(e);
    pt_close(&t);
}
