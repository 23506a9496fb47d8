/* The database API: lifecycle, transactions and reports, views, datoms,
 * schema, metrics, listeners, the writer lock, fencing. */
#include <pthread.h>
#include <stdlib.h>

#include "test.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/common.h"
#include "base/par.h"
#include "support/store_util.h"

static cairn_val edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s", err.message);
    return v;
}

static char *pr(cairn_val v)
{
    char *s;
    size_t n;
    if (cairn_edn_print(&s, &n, v) != 0)
        test__fail(__FILE__, __LINE__, "print failed");
    return s;
}

#define CHECK_EDN(v, want) do { char *s_ = pr(v); CHECK_STR(s_, want); cairn_free(s_); } while (0)

static cairn_val mem_cfg(const char *extra)
{
    char buf[4096];
    snprintf(buf, sizeof buf, "{:store {:backend :mem :id \"%s-%d\"} %s}", "db", (int)test_rand_below(1u << 30),
             extra ? extra : "");
    return edn(buf);
}

static cairn_val file_cfg(const char *extra)
{
    char buf[1024];
    snprintf(buf, sizeof buf, "{:store {:backend :file :path \"%s/db\"} %s}", test_tmpdir(), extra ? extra : "");
    return edn(buf);
}

static const char *SCHEMA =
    "[{:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one"
    "  :db/unique :db.unique/identity}"
    " {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
    " {:db/ident :person/tags :db/valueType :db.type/keyword :db/cardinality :db.cardinality/many}"
    " {:db/ident :person/friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/many}"
    " {:db/ident :person/address :db/valueType :db.type/ref :db/cardinality :db.cardinality/one"
    "  :db/isComponent true}"
    " {:db/ident :address/city :db/valueType :db.type/string :db/cardinality :db.cardinality/one}]";

static cairn_conn *setup(cairn_val cfg)
{
    cairn_conn *c;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_create_database(cfg, &err);
    if (rc != 0)
        test__fail(__FILE__, __LINE__, "create: %s", err.message);
    if ((rc = cairn_connect(&c, cfg, &err)) != 0)
        test__fail(__FILE__, __LINE__, "connect: %s", err.message);
    if ((rc = cairn_transact_edn(NULL, c, SCHEMA, strlen(SCHEMA), &err)) != 0)
        test__fail(__FILE__, __LINE__, "schema: %s", err.message);
    return c;
}

static int tx(cairn_conn *c, const char *data, cairn_tx_report **out, cairn_error *err)
{
    return cairn_transact_edn(out, c, data, strlen(data), err);
}

/* The datoms of index with components, printed as [[e :a v tx added] ...]. */
static char *datoms(const cairn_db *db, cairn_index index, const char *comps)
{
    cairn_datoms *it;
    cairn_datom d;
    cairn_val all, c = edn(comps);
    char *s;
    CHECK_OK(cairn_datoms_open(&it, db, index, c, NULL));
    CHECK_OK(cairn_vector_new(&all, 8));
    while (cairn_datoms_next(it, &d) == 0) {
        cairn_val dv;
        CHECK_OK(cairn_vector_new(&dv, 5));
        CHECK_OK(cairn_coll_push(&dv, cairn_int(d.e)));
        CHECK_OK(cairn_coll_push(&dv, d.a));
        CHECK_OK(cairn_coll_push(&dv, d.v));
        CHECK_OK(cairn_coll_push(&dv, cairn_int(d.tx)));
        CHECK_OK(cairn_coll_push(&dv, cairn_bool(d.added)));
        CHECK_OK(cairn_coll_push_take(&all, dv));
    }
    cairn_datoms_close(it);
    cairn_release(c);
    s = pr(all);
    cairn_release(all);
    return s;
}

void test_db_api__create_exists_delete_and_config_errors(void)
{
    cairn_val cfg = mem_cfg(NULL), bad;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_conn *c;
    int exists = -1;
    CHECK_OK(cairn_database_exists(&exists, cfg, NULL));
    CHECK_EQ(exists, 0);
    CHECK_ERR(cairn_connect(&c, cfg, &err), CAIRN_ENOTFOUND);
    CHECK_STR(err.keyword, ":db-does-not-exist");
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_database_exists(&exists, cfg, NULL));
    CHECK_EQ(exists, 1);
    CHECK_ERR(cairn_create_database(cfg, &err), CAIRN_EEXISTS);
    CHECK_STR(err.keyword, ":db-already-exists");
    CHECK_OK(cairn_delete_database(cfg, NULL));
    CHECK_OK(cairn_database_exists(&exists, cfg, NULL));
    CHECK_EQ(exists, 0);
    bad = edn("{:store {:backend :mem :id \"x\"} :keep-history? 1}");
    CHECK_ERR(cairn_create_database(bad, &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":config/invalid");
    CHECK(strstr(err.message, ":keep-history?") != NULL);
    cairn_release(bad);
    bad = edn("{:store {:backend :floppy}}");
    CHECK_ERR(cairn_create_database(bad, &err), CAIRN_EUNSUPPORTED);
    CHECK_STR(err.keyword, ":backend-does-not-exist");
    cairn_release(bad);
    bad = edn("{:store {:backend :mem :id \"y\"} :attribute-refs? true}");
    CHECK_ERR(cairn_create_database(bad, &err), CAIRN_EUNSUPPORTED);
    cairn_release(bad);
    cairn_release(cfg);
}

void test_db_api__initial_tx_and_first_ids_match_datahike(void)
{
    char extra[2048];
    cairn_val cfg;
    cairn_conn *c;
    cairn_db *db;
    cairn_tx_report *r;
    snprintf(extra, sizeof extra, ":initial-tx %s", SCHEMA);
    cfg = mem_cfg(extra);
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_connect(&c, cfg, NULL));
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870913);  /* :initial-tx was the first transaction */
    CHECK_OK(tx(c, "[{:person/name \"Ann\"}]", &r, NULL));
    CHECK_EDN(cairn_tx_report_tempids_get(r), "{:db/current-tx 536870914}");
    {
        cairn_val d = cairn_coll_get(cairn_tx_report_tx_data_get(r), 0);
        CHECK_EDN(d, "[7 :person/name \"Ann\" 536870914 true]");  /* six schema entities first */
    }
    cairn_tx_report_free(r);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__report_lists_assertions_as_datahike_does(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_tx_report *r;
    CHECK_OK(tx(c, "[{:db/id \"a\" :person/name \"Ann\" :person/age 50 :person/friend [\"b\"]}"
                   " {:db/id \"b\" :person/name \"Ben\"}]", &r, NULL));
    CHECK_EDN(cairn_tx_report_tempids_get(r), "{\"a\" 7, \"b\" 8, :db/current-tx 536870914}");
    cairn_tx_report_free(r);
    /* card-one overwrite: only the new value is reported */
    CHECK_OK(tx(c, "[[:db/add [:person/name \"Ann\"] :person/age 51]]", &r, NULL));
    CHECK_EDN(cairn_coll_get(cairn_tx_report_tx_data_get(r), 0), "[7 :person/age 51 536870915 true]");
    CHECK_EQ(cairn_count(cairn_tx_report_tx_data_get(r)), 2);  /* + :db/txInstant */
    /* db-before and db-after are both readable */
    {
        char *before = datoms(cairn_tx_report_db_before(r), CAIRN_INDEX_EAVT, "[7 :person/age]");
        char *after = datoms(cairn_tx_report_db_after(r), CAIRN_INDEX_EAVT, "[7 :person/age]");
        CHECK_STR(before, "[[7 :person/age 50 536870914 true]]");
        CHECK_STR(after, "[[7 :person/age 51 536870915 true]]");
        cairn_free(before);
        cairn_free(after);
    }
    {
        cairn_val cid;
        CHECK(cairn_map_get(&cid, cairn_tx_report_tx_meta_get(r), edn(":db/commitId")));
        CHECK_EQ(cairn_type_of(cid), CAIRN_UUID);
    }
    cairn_tx_report_free(r);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__failed_transaction_changes_nothing_and_names_the_keyword(void)
{
    struct { const char *tx, *kw; } cases[] = {
        { "[{:person/name \"Q\" :person/age \"old\"}]", ":transact/schema" },
        { "[{:person/name \"Q\" :person/unknown 1}]", ":transact/schema" },
        { "[[:db/add -1 :person/name nil]]", ":transact/syntax" },
        { "[[:db/foo 1 :person/name \"x\"]]", ":transact/syntax" },
        { "[[:db/add [:person/name \"Nobody\"] :person/age 3]]", ":entity-id/missing" },
        { "[[:db/cas [:person/name \"Ann\"] :person/age 1 2]]", ":transact/cas" },
        { "{:not :a-vector}", ":transact/syntax" },
        { "[{:db/ident :db.custom/x :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]",
          ":transact/schema" },
    };
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_db *before, *after;
    CHECK_OK(tx(c, "[{:person/name \"Ann\" :person/age 50}]", NULL, NULL));
    CHECK_OK(cairn_conn_db(&before, c, NULL));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(cases); i++) {
        cairn_error err = CAIRN_ERROR_INIT;
        int rc = tx(c, cases[i].tx, NULL, &err);
        CHECK_MSG(rc < 0, "case %zu succeeded", i);
        CHECK_MSG(!strcmp(err.keyword, cases[i].kw), "case %zu: keyword %s, want %s (%s)", i, err.keyword,
                  cases[i].kw, err.message);
        CHECK(err.message[0] != 0);
    }
    CHECK_OK(cairn_conn_db(&after, c, NULL));
    CHECK_EQ(cairn_db_max_tx(after), cairn_db_max_tx(before));
    {
        char *a = datoms(before, CAIRN_INDEX_EAVT, "[]"), *b = datoms(after, CAIRN_INDEX_EAVT, "[]");
        CHECK_STR(a, b);
        cairn_free(a);
        cairn_free(b);
    }
    cairn_db_release(before);
    cairn_db_release(after);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__history_as_of_and_since_views(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_db *db, *v;
    char *s;
    CHECK_OK(tx(c, "[{:person/name \"Ann\" :person/age 50 :person/tags [:a :b]}]", NULL, NULL));  /* 536870914 */
    CHECK_OK(tx(c, "[[:db/add 7 :person/age 51] [:db/retract 7 :person/tags :a]]", NULL, NULL));  /* ...16 */
    CHECK_OK(tx(c, "[[:db/add 7 :person/tags :c]]", NULL, NULL));                                  /* ...17 */
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    s = datoms(db, CAIRN_INDEX_EAVT, "[7]");
    CHECK_STR(s, "[[7 :person/name \"Ann\" 536870914 true] [7 :person/age 51 536870915 true] "
                 "[7 :person/tags :b 536870914 true] [7 :person/tags :c 536870916 true]]");
    cairn_free(s);
    CHECK_OK(cairn_db_history(&v, db, NULL));
    s = datoms(v, CAIRN_INDEX_EAVT, "[7 :person/age]");
    CHECK_STR(s, "[[7 :person/age 50 536870914 true] [7 :person/age 50 536870915 false] "
                 "[7 :person/age 51 536870915 true]]");
    cairn_free(s);
    cairn_db_release(v);
    CHECK_OK(cairn_db_as_of(&v, db, cairn_int(536870914), NULL));
    s = datoms(v, CAIRN_INDEX_EAVT, "[7]");
    CHECK_STR(s, "[[7 :person/name \"Ann\" 536870914 true] [7 :person/age 50 536870914 true] "
                 "[7 :person/tags :a 536870914 true] [7 :person/tags :b 536870914 true]]");
    cairn_free(s);
    cairn_db_release(v);
    CHECK_OK(cairn_db_as_of(&v, db, cairn_int(536870915), NULL));
    s = datoms(v, CAIRN_INDEX_AEVT, "[:person/tags]");
    CHECK_STR(s, "[[7 :person/tags :b 536870914 true]]");
    cairn_free(s);
    cairn_db_release(v);
    CHECK_OK(cairn_db_since(&v, db, cairn_int(536870914), NULL));
    s = datoms(v, CAIRN_INDEX_EAVT, "[7]");
    CHECK_STR(s, "[[7 :person/age 51 536870915 true] [7 :person/tags :c 536870916 true]]");
    cairn_free(s);
    cairn_db_release(v);
    {
        cairn_error err = CAIRN_ERROR_INIT;
        CHECK_ERR(cairn_db_as_of(&v, db, cairn_int(5), &err), CAIRN_EINVALID);
    }
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__history_off_keeps_no_twins_and_refuses_views(void)
{
    cairn_val cfg = mem_cfg(":keep-history? false");
    cairn_conn *c = setup(cfg);
    cairn_db *db, *v;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val m, tc;
    CHECK_OK(tx(c, "[{:person/name \"Ann\" :person/age 50}]", NULL, NULL));
    CHECK_OK(tx(c, "[[:db/add 7 :person/age 51]]", NULL, NULL));
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_ERR(cairn_db_history(&v, db, &err), CAIRN_EINVALID);
    CHECK_OK(cairn_db_metrics(&m, db, NULL));
    CHECK(!cairn_map_get(&tc, m, edn(":temporal-count")));
    cairn_release(m);
    {
        char *s = datoms(db, CAIRN_INDEX_AEVT, "[:db/txInstant]");
        CHECK_STR(s, "[]");  /* no transaction metadata without history, as Datahike */
        cairn_free(s);
    }
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__retract_entity_cascades_components_and_incoming_refs(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_tx_report *r;
    cairn_db *db;
    char *s;
    CHECK_OK(tx(c, "[{:db/id \"a\" :person/name \"Ann\" :person/friend [\"b\"]}"
                   " {:db/id \"b\" :person/name \"Ben\" :person/address {:address/city \"Rome\"}}]", NULL, NULL));
    CHECK_OK(tx(c, "[[:db/retractEntity [:person/name \"Ben\"]]]", &r, NULL));
    CHECK_EQ(cairn_count(cairn_tx_report_tx_data_get(r)), 4 + 1);  /* name, address, city, friend ref + instant */
    cairn_tx_report_free(r);
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    s = datoms(db, CAIRN_INDEX_EAVT, "[8]");
    CHECK_STR(s, "[]");
    cairn_free(s);
    s = datoms(db, CAIRN_INDEX_EAVT, "[9]");  /* the component address */
    CHECK_STR(s, "[]");
    cairn_free(s);
    s = datoms(db, CAIRN_INDEX_EAVT, "[7 :person/friend]");
    CHECK_STR(s, "[]");
    cairn_free(s);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__datoms_seek_rseek_index_range_and_lookup_refs(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_db *db;
    cairn_datoms *it;
    cairn_datom d;
    cairn_val comps;
    char *s;
    CHECK_OK(tx(c, "[{:person/name \"Ann\" :person/age 30} {:person/name \"Ben\" :person/age 20}"
                   " {:person/name \"Cy\" :person/age 40}]", NULL, NULL));
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    s = datoms(db, CAIRN_INDEX_EAVT, "[[:person/name \"Ben\"] :person/age]");
    CHECK_STR(s, "[[8 :person/age 20 536870914 true]]");
    cairn_free(s);
    s = datoms(db, CAIRN_INDEX_AVET, "[:person/name \"Cy\"]");
    CHECK_STR(s, "[[9 :person/name \"Cy\" 536870914 true]]");
    cairn_free(s);
    s = datoms(db, CAIRN_INDEX_AEVT, "[:no/such-attr]");
    CHECK_STR(s, "[]");
    cairn_free(s);
    comps = edn("[:person/name \"Ben\"]");
    CHECK_OK(cairn_seek_datoms_open(&it, db, CAIRN_INDEX_AVET, comps, NULL));
    CHECK_OK(cairn_datoms_next(it, &d));
    CHECK_EQ(d.e, 8);
    CHECK_OK(cairn_datoms_next(it, &d));
    CHECK_EQ(d.e, 9);
    cairn_datoms_close(it);
    CHECK_OK(cairn_rseek_datoms_open(&it, db, CAIRN_INDEX_AVET, comps, NULL));
    CHECK_OK(cairn_datoms_next(it, &d));
    CHECK_EQ(d.e, 8);
    CHECK_OK(cairn_datoms_next(it, &d));
    CHECK_EQ(d.e, 7);
    cairn_datoms_close(it);
    cairn_release(comps);
    {
        cairn_val lo = edn("\"B\""), hi = edn("\"C\"");
        CHECK_OK(cairn_index_range_open(&it, db, edn(":person/name"), lo, hi, NULL));
        cairn_release(lo);
        cairn_release(hi);
    }
    CHECK_OK(cairn_datoms_next(it, &d));
    CHECK_EQ(d.e, 8);
    CHECK_ERR(cairn_datoms_next(it, &d), CAIRN_ENOTFOUND);
    cairn_datoms_close(it);
    {
        cairn_error err = CAIRN_ERROR_INIT;
        CHECK_ERR(cairn_index_range_open(&it, db, edn(":person/age"), cairn_nil(), cairn_nil(), &err),
                  CAIRN_EINVALID);
        CHECK(strstr(err.message, ":db/index") != NULL);
    }
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__schema_reverse_schema_and_metrics(void)
{
    cairn_val cfg = mem_cfg(NULL), sch, rs, m, v;
    cairn_conn *c = setup(cfg);
    cairn_db *db;
    CHECK_OK(tx(c, "[{:person/name \"Ann\" :person/tags [:a :b]}]", NULL, NULL));
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_OK(cairn_db_schema(&sch, db, NULL));
    CHECK(cairn_map_get(&v, sch, edn(":person/name")));
    CHECK_EDN(v, "{:db/ident :person/name, :db/valueType :db.type/string, :db/cardinality :db.cardinality/one, "
                 ":db/unique :db.unique/identity, :db/id 1}");
    CHECK_EQ(cairn_count(sch), 6);
    CHECK_OK(cairn_db_reverse_schema(&rs, db, NULL));
    CHECK(cairn_map_get(&v, rs, edn(":db.type/ref")));
    CHECK_EQ(cairn_count(v), 2);
    CHECK_OK(cairn_db_metrics(&m, db, NULL));
    CHECK(cairn_map_get(&v, m, edn(":per-attr-counts")));
    CHECK(cairn_map_get(&v, v, edn(":person/tags")));
    CHECK_EQ(cairn_int_value(v), 2);
    cairn_release(sch);
    cairn_release(rs);
    cairn_release(m);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__with_applies_without_storing(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_db *db, *again;
    cairn_tx_report *r;
    char *s;
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    {
        cairn_val t = edn("[{:person/name \"Spec\"}]");
        CHECK_OK(cairn_db_with(&r, db, t, cairn_nil(), NULL));
        cairn_release(t);
    }
    s = datoms(cairn_tx_report_db_after(r), CAIRN_INDEX_AVET, "[:person/name \"Spec\"]");
    CHECK(strstr(s, "Spec") != NULL);
    cairn_free(s);
    cairn_tx_report_free(r);
    CHECK_OK(cairn_conn_db(&again, c, NULL));
    s = datoms(again, CAIRN_INDEX_AVET, "[:person/name \"Spec\"]");
    CHECK_STR(s, "[]");
    cairn_free(s);
    cairn_db_release(db);
    cairn_db_release(again);
    cairn_conn_release(c);
    cairn_release(cfg);
}

struct heard {
    pthread_mutex_t lock;   /* guards n */
    int n;                  /* reports seen */
    int64_t last_tx;        /* tx of the last one */
};

static void listener(const cairn_tx_report *r, void *payload)
{
    struct heard *h = payload;
    pthread_mutex_lock(&h->lock);
    h->n++;
    h->last_tx = cairn_db_max_tx(cairn_tx_report_db_after(r));
    pthread_mutex_unlock(&h->lock);
}

void test_db_api__listeners_hear_every_commit_until_unlisten(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    struct heard h = { PTHREAD_MUTEX_INITIALIZER, 0, 0 };
    int key;
    CHECK_OK(cairn_listen(&key, c, listener, &h));
    CHECK_OK(tx(c, "[{:person/name \"A\"}]", NULL, NULL));
    CHECK_OK(tx(c, "[{:person/name \"B\"}]", NULL, NULL));
    CHECK_EQ(h.n, 2);
    CHECK_EQ(h.last_tx, 536870915);
    CHECK_OK(cairn_unlisten(c, key));
    CHECK_ERR(cairn_unlisten(c, key), CAIRN_ENOTFOUND);
    CHECK_OK(tx(c, "[{:person/name \"C\"}]", NULL, NULL));
    CHECK_EQ(h.n, 2);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__second_writer_is_refused_and_readers_see_new_commits(void)
{
    cairn_val cfg = file_cfg(NULL);
    cairn_conn *w = setup(cfg), *other, *reader;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_db *db;
    CHECK_OK(cairn_connect(&other, cfg, NULL));
    CHECK_OK(cairn_connect(&reader, cfg, NULL));
    CHECK_ERR(tx(other, "[{:person/name \"Intruder\"}]", NULL, &err), CAIRN_EBUSY);
    CHECK_STR(err.keyword, ":writer/locked");
    CHECK_OK(tx(w, "[{:person/name \"Ann\"}]", NULL, NULL));
    CHECK_OK(cairn_conn_db(&db, reader, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870914);
    cairn_db_release(db);
    CHECK_OK(tx(w, "[{:person/name \"Ben\"}]", NULL, NULL));
    CHECK_OK(cairn_conn_db(&db, reader, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870915);
    cairn_db_release(db);
    cairn_conn_release(w);
    /* the lock went with the writer: the other connection may write now */
    CHECK_OK(tx(other, "[{:person/name \"Next\"}]", NULL, NULL));
    cairn_conn_release(other);
    cairn_conn_release(reader);
    cairn_release(cfg);
}

void test_db_api__file_store_survives_reopen_with_identical_datoms(void)
{
    cairn_val cfg = file_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_db *db;
    char *before, *after;
    for (int i = 0; i < 30; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "[{:person/name \"p%d\" :person/age %d :person/tags [:t%d]}]", i, i, i % 3);
        CHECK_OK(tx(c, buf, NULL, NULL));
    }
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    before = datoms(db, CAIRN_INDEX_AEVT, "[]");
    cairn_db_release(db);
    cairn_conn_release(c);
    CHECK_OK(cairn_connect(&c, cfg, NULL));
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    after = datoms(db, CAIRN_INDEX_AEVT, "[]");
    CHECK_STR(after, before);
    CHECK_EQ(cairn_db_max_tx(db), 536870913 + 30);
    cairn_free(before);
    cairn_free(after);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__stored_settings_win_and_mismatch_is_refused(void)
{
    cairn_val cfg = mem_cfg(":keep-history? false"), cfg2;
    cairn_conn *c;
    cairn_error err = CAIRN_ERROR_INIT;
    char buf[256];
    const char *id;
    CHECK_OK(cairn_create_database(cfg, NULL));
    {
        cairn_val store, idv;
        CHECK(cairn_map_get(&store, cfg, edn(":store")));
        CHECK(cairn_map_get(&idv, store, edn(":id")));
        id = cairn_str_get(idv, NULL);
        snprintf(buf, sizeof buf, "{:store {:backend :mem :id \"%s\"} :keep-history? true}", id);
    }
    cfg2 = edn(buf);
    CHECK_ERR(cairn_connect(&c, cfg2, &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":config-does-not-match-stored-db");
    cairn_release(cfg2);
    snprintf(buf, sizeof buf, "{:store {:backend :mem :id \"%s\"}}", id);
    cfg2 = edn(buf);
    CHECK_OK(cairn_connect(&c, cfg2, NULL));
    cairn_conn_release(c);
    cairn_release(cfg2);
    cairn_release(cfg);
}

struct client {
    cairn_conn *conn;   /* shared connection */
    int id;             /* thread number */
    int n;              /* transactions to run */
    int failures;       /* transactions that failed */
};

static void *client_main(void *arg)
{
    struct client *cl = arg;
    for (int i = 0; i < cl->n; i++) {
        char buf[128];
        snprintf(buf, sizeof buf, "[{:person/name \"c%d-%d\" :person/age %d}]", cl->id, i, i);
        if (cairn_transact_edn(NULL, cl->conn, buf, strlen(buf), NULL) != 0)
            cl->failures++;
    }
    return NULL;
}

void test_db_api__concurrent_clients_share_one_writer_with_gapless_txs(void)
{
    enum { THREADS = 8, EACH = 40 };
    cairn_val cfg = file_cfg(NULL);
    cairn_conn *c = setup(cfg);
    pthread_t th[THREADS];
    struct client cl[THREADS];
    cairn_db *db, *h;
    cairn_datoms *it;
    cairn_datom d;
    int64_t expect_tx = 536870914, n = 0;
    for (int i = 0; i < THREADS; i++) {
        cl[i].conn = c;
        cl[i].id = i;
        cl[i].n = EACH;
        cl[i].failures = 0;
        pthread_create(&th[i], NULL, client_main, &cl[i]);
    }
    for (int i = 0; i < THREADS; i++) {
        pthread_join(th[i], NULL);
        CHECK_EQ(cl[i].failures, 0);
    }
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870913 + THREADS * EACH);
    /* every transaction has its instant, ids are gapless and instants increase */
    CHECK_OK(cairn_db_history(&h, db, NULL));
    {
        cairn_val comps = edn("[:db/txInstant]");
        int64_t last_ms = 0;
        CHECK_OK(cairn_datoms_open(&it, db, CAIRN_INDEX_AEVT, comps, NULL));
        while (cairn_datoms_next(it, &d) == 0) {
            if (d.e < 536870914)
                continue;
            CHECK_EQ(d.e, expect_tx);
            CHECK(cairn_inst_value(d.v) > last_ms);
            last_ms = cairn_inst_value(d.v);
            expect_tx++;
            n++;
        }
        cairn_datoms_close(it);
        cairn_release(comps);
    }
    CHECK_EQ(n, THREADS * EACH);
    cairn_db_release(h);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

/* Transaction i of big_load: 1500 people, then their ages and tags changed. */
static char *big_tx(int i)
{
    cairn_buf b = CAIRN_BUF_INIT;
    char item[160];
    cairn_buf_putc(&b, '[');
    for (int p = 0; p < 1500; p++) {
        if (i == 0)
            snprintf(item, sizeof item, "{:db/id \"p%d\" :person/name \"n%05d\" :person/age %d :person/tags [:a :t%d]%s}",
                     p, (p * 7919) % 1500, p, p % 5, "");
        else
            snprintf(item, sizeof item, "{:person/name \"n%05d\" :person/age %d :person/tags :r%d}", (p * 7919) % 1500,
                     p + 1000 * i, i);
        cairn_buf_put(&b, item, strlen(item));
        if (i == 0 && p > 0) {
            snprintf(item, sizeof item, "[:db/add \"p%d\" :person/friend \"p%d\"]", p, (p * 31) % p);
            cairn_buf_put(&b, item, strlen(item));
        }
    }
    cairn_buf_putc(&b, ']');
    cairn_buf_putc(&b, 0);
    CHECK(!b.oom);
    return b.ptr;
}

/* What big_load compares: every user attribute through AEVT and AVET, and
 * the history of the changed ones. */
static char *big_state(cairn_conn *c)
{
    static const char *comps[] = { "[:person/name]", "[:person/age]", "[:person/tags]", "[:person/friend]" };
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_db *db, *h;
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_OK(cairn_db_history(&h, db, NULL));
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(comps); i++) {
        char *x = datoms(db, CAIRN_INDEX_AEVT, comps[i]), *y = datoms(h, CAIRN_INDEX_AEVT, comps[i]);
        char *z = datoms(db, i == 0 || i == 3 ? CAIRN_INDEX_AVET : CAIRN_INDEX_EAVT, i == 0 || i == 3 ? comps[i] : "[7]");
        cairn_buf_put(&b, x, strlen(x));
        cairn_buf_put(&b, y, strlen(y));
        cairn_buf_put(&b, z, strlen(z));
        cairn_free(x);
        cairn_free(y);
        cairn_free(z);
    }
    cairn_buf_putc(&b, 0);
    CHECK(!b.oom);
    cairn_db_release(h);
    cairn_db_release(db);
    return b.ptr;
}

/* Loads big_tx 0..5 into a fresh file store at dir with `cpus` processors
 * in view; returns big_state before and after reopening (equal). */
static char *big_load(const char *dir, unsigned cpus)
{
    char path[1024], *state, *again;
    cairn_val cfg;
    cairn_conn *c;
    snprintf(path, sizeof path, "{:store {:backend :file :path \"%s/%s\"}}", test_tmpdir(), dir);
    cfg = edn(path);
    cairn__cpu_count_set(cpus);
    c = setup(cfg);
    for (int i = 0; i < 6; i++) {
        char *t = big_tx(i);
        cairn_error err = CAIRN_ERROR_INIT;
        CHECK_MSG(tx(c, t, NULL, &err) == 0, "tx %d: %s", i, err.message);
        cairn_free(t);
    }
    state = big_state(c);
    cairn_conn_release(c);
    /* a cold open replays the commits since the last flush, on threads too */
    CHECK_OK(cairn_connect(&c, cfg, NULL));
    again = big_state(c);
    CHECK_STR(again, state);
    cairn__cpu_count_set(0);
    cairn_free(again);
    cairn_conn_release(c);
    cairn_release(cfg);
    return state;
}

/*
 * Big transactions apply their changes to the six trees on several threads,
 * and flushes frame their leaves on several threads (tail.c, edit.c): the
 * database must come out exactly as one thread makes it, current and
 * history, before and after a cold reopen.
 */
void test_db_api__big_transactions_on_threads_give_what_one_thread_gives(void)
{
    char *one = big_load("one", 1), *many = big_load("many", 4);
    CHECK(strlen(one) > 100000);
    CHECK(strstr(one, ":r5") != NULL);
    CHECK_STR(many, one);
    cairn_free(one);
    cairn_free(many);
}

void test_db_api__oom_during_transact_fails_cleanly_and_later_succeeds(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_db *before, *after;
    int succeeded = 0;
    CHECK_OK(cairn_conn_db(&before, c, NULL));
    for (uint64_t n = 1; n < 5000 && !succeeded; n += 7) {
        cairn_error err = CAIRN_ERROR_INIT;
        int rc;
        cairn__alloc_fail_at(n, 0);
        rc = tx(c, "[{:db/id \"a\" :person/name \"Ann\" :person/tags [:x :y] :person/friend [\"b\"]}"
                   " {:db/id \"b\" :person/name \"Ben\" :person/address {:address/city \"Oslo\"}}]", NULL, &err);
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            succeeded = 1;
        } else {
            cairn_db *now;
            CHECK_MSG(rc == CAIRN_ENOMEM || err.code == CAIRN_ENOMEM, "n=%llu: %d %s", (unsigned long long)n, rc,
                      err.message);
            CHECK_OK(cairn_conn_db(&now, c, NULL));
            CHECK_EQ(cairn_db_max_tx(now), cairn_db_max_tx(before));
            cairn_db_release(now);
        }
    }
    CHECK(succeeded);
    CHECK_OK(cairn_conn_db(&after, c, NULL));
    CHECK_EQ(cairn_db_max_tx(after), cairn_db_max_tx(before) + 1);
    cairn_db_release(before);
    cairn_db_release(after);
    cairn_conn_release(c);
    cairn_release(cfg);
}

/* How many datoms index holds under components comps. */
static int64_t count_datoms(const cairn_db *db, cairn_index index, const char *comps)
{
    cairn_datoms *it;
    cairn_datom d;
    cairn_val c = edn(comps);
    int64_t n = 0;
    CHECK_OK(cairn_datoms_open(&it, db, index, c, NULL));
    while (cairn_datoms_next(it, &d) == 0)
        n++;
    cairn_datoms_close(it);
    cairn_release(c);
    return n;
}

/* Out of memory anywhere in a transaction big enough to apply its trees on
 * two threads (tail.c): the failure comes back whole from whichever thread
 * met it, and the database is unchanged. */
void test_db_api__oom_in_a_big_transaction_on_threads_changes_nothing(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_db *after;
    cairn_val data;
    int64_t want_tx;
    uint64_t n;
    int failures = 0;
    cairn_buf_putc(&b, '[');
    for (int p = 0; p < 700; p++) {
        char item[128];
        snprintf(item, sizeof item, "{:person/name \"big%d\" :person/age %d :person/tags [:a :b%d]}", p, p, p % 9);
        cairn_buf_put(&b, item, strlen(item));
    }
    cairn_buf_putc(&b, ']');
    cairn_buf_putc(&b, 0);
    CHECK(!b.oom);
    data = edn(b.ptr); /* parsed here, so that the failures land in the transaction */
    CHECK_OK(cairn_conn_db(&after, c, NULL));
    want_tx = cairn_db_max_tx(after);
    cairn_db_release(after);
    cairn__cpu_count_set(2);
    /* one failing allocation at n, until the transaction no longer reaches n
     * (a failure the engine absorbs, such as a cache entry, still commits) */
    for (n = 1;; n += 1 + n / 48) {
        cairn_error err = CAIRN_ERROR_INIT;
        cairn_db *now;
        int rc, hit;
        cairn__alloc_fail_at(n, 0);
        rc = cairn_transact(NULL, c, data, cairn_nil(), &err);
        hit = cairn__alloc_failed();
        cairn__alloc_fail_at(0, 0);
        if (rc == 0) {
            want_tx++;
            if (!hit)
                break;
        } else {
            CHECK_MSG(rc == CAIRN_ENOMEM || err.code == CAIRN_ENOMEM, "n=%llu: %d %s", (unsigned long long)n, rc,
                      err.message);
            failures++;
        }
        CHECK_OK(cairn_conn_db(&now, c, NULL));
        CHECK_EQ(cairn_db_max_tx(now), want_tx);
        cairn_db_release(now);
    }
    cairn__cpu_count_set(0);
    printf("%d failed transactions; none failed once allocation %llu was past its end\n", failures,
           (unsigned long long)n);
    CHECK(failures > 50);
    CHECK_OK(cairn_conn_db(&after, c, NULL));
    CHECK_EQ(cairn_db_max_tx(after), want_tx);
    /* nothing lost from any tree: every failed try left them whole, and the
     * first success wrote them all */
    {
        /* EAVT as a database that took it once, plus a :db/txInstant for
         * every later transaction that committed */
        cairn_val rcfg = mem_cfg(NULL);
        cairn_conn *r = setup(rcfg);
        cairn_db *rdb;
        CHECK_OK(cairn_transact(NULL, r, data, cairn_nil(), NULL));
        CHECK_OK(cairn_conn_db(&rdb, r, NULL));
        CHECK_EQ(count_datoms(after, CAIRN_INDEX_EAVT, "[]"),
                 count_datoms(rdb, CAIRN_INDEX_EAVT, "[]") + want_tx - cairn_db_max_tx(rdb));
        cairn_db_release(rdb);
        cairn_conn_release(r);
        cairn_release(rcfg);
    }
    CHECK_EQ(count_datoms(after, CAIRN_INDEX_AEVT, "[:person/name]"), 700);
    CHECK_EQ(count_datoms(after, CAIRN_INDEX_AVET, "[:person/name]"), 700);
    CHECK_EQ(count_datoms(after, CAIRN_INDEX_AEVT, "[:person/age]"), 700);
    CHECK_EQ(count_datoms(after, CAIRN_INDEX_AEVT, "[:person/tags]"), 1400);
    cairn_db_release(after);
    cairn_buf_dispose(&b);
    cairn_release(data);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__typed_builder_transacts_like_edn(void)
{
    cairn_val cfg = mem_cfg(NULL), ann, lookup;
    cairn_conn *c = setup(cfg);
    cairn_tx_builder *b;
    cairn_tx_report *r;
    cairn_db *db;
    cairn_error err = CAIRN_ERROR_INIT;
    char *s;
    CHECK_OK(cairn_string(&ann, "ann", 3));
    CHECK_OK(cairn_tx_builder_new(&b));
    CHECK_OK(cairn_tx_add_str(b, ann, "person/name", "Ann"));
    CHECK_OK(cairn_tx_add_int(b, ann, ":person/age", 41));
    CHECK_OK(cairn_tx_add(b, ann, "person/tags", edn(":admin")));
    CHECK_OK(cairn_tx_meta(b, "person/tags", edn(":import")));
    CHECK_OK(cairn_transact_builder(&r, c, b, &err));
    CHECK_EDN(cairn_tx_report_tempids_get(r), "{\"ann\" 7, :db/current-tx 536870914}");
    cairn_tx_report_free(r);
    cairn_tx_builder_free(b);
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    s = datoms(db, CAIRN_INDEX_EAVT, "[7]");
    CHECK_STR(s, "[[7 :person/name \"Ann\" 536870914 true] [7 :person/age 41 536870914 true] "
                 "[7 :person/tags :admin 536870914 true]]");
    cairn_free(s);
    s = datoms(db, CAIRN_INDEX_EAVT, "[536870914 :person/tags]");
    CHECK_STR(s, "[[536870914 :person/tags :import 536870914 true]]");
    cairn_free(s);
    cairn_db_release(db);
    /* retractions and sticky errors */
    lookup = edn("[:person/name \"Ann\"]");
    CHECK_OK(cairn_tx_builder_new(&b));
    CHECK_OK(cairn_tx_retract(b, lookup, "person/tags", cairn_nil()));
    CHECK_OK(cairn_tx_retract(b, lookup, "person/age", cairn_int(41)));
    CHECK_OK(cairn_transact_builder(NULL, c, b, NULL));
    CHECK_ERR(cairn_tx_add_str(b, lookup, "", "x"), CAIRN_EINVALID);
    CHECK_ERR(cairn_tx_retract_entity(b, lookup), CAIRN_EINVALID);
    CHECK_ERR(cairn_transact_builder(NULL, c, b, &err), CAIRN_EINVALID);
    CHECK(strstr(err.message, "empty attribute") != NULL);
    cairn_tx_builder_free(b);
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    s = datoms(db, CAIRN_INDEX_EAVT, "[7]");
    CHECK_STR(s, "[[7 :person/name \"Ann\" 536870914 true]]");
    cairn_free(s);
    cairn_db_release(db);
    cairn_release(lookup);
    cairn_release(ann);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__schema_changes_follow_datahikes_evolution_rules(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_db *db;
    cairn_val sch, v;
    /* free while empty */
    CHECK_OK(tx(c, "[{:db/id :person/age :db/valueType :db.type/double}]", NULL, &err));
    CHECK_OK(tx(c, "[{:db/id :person/age :db/valueType :db.type/long :db/index true}]", NULL, &err));
    CHECK_OK(tx(c, "[{:person/name \"Ann\" :person/age 3 :person/tags [:a :b]} {:person/name \"Ben\" :person/tags [:c]}]",
                NULL, &err));
    /* with data: type, AVET membership and many->one (Ann has two tags) are refused */
    CHECK_ERR(tx(c, "[{:db/id :person/age :db/valueType :db.type/string}]", NULL, &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":transact/schema");
    CHECK_ERR(tx(c, "[{:db/id :person/age :db/index false}]", NULL, &err), CAIRN_EINVALID);
    CHECK(strstr(err.message, "backfill") != NULL);
    CHECK_ERR(tx(c, "[{:db/id :person/tags :db/cardinality :db.cardinality/one}]", NULL, &err), CAIRN_EINVALID);
    CHECK(strstr(err.message, "several values") != NULL);
    /* docs and renames are free */
    CHECK_OK(tx(c, "[{:db/id :person/age :db/doc \"years\"}]", NULL, &err));
    CHECK_OK(tx(c, "[[:db/add :person/tags :db/ident :person/labels]]", NULL, &err));
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_OK(cairn_db_schema(&sch, db, NULL));
    CHECK(cairn_map_get(&v, sch, edn(":person/labels")));
    CHECK(!cairn_map_get(&v, sch, edn(":person/tags")));
    CHECK(cairn_map_get(&v, sch, edn(":person/age")));
    CHECK(cairn_map_get(&v, v, edn(":db/doc")));
    {
        char *s = datoms(db, CAIRN_INDEX_AEVT, "[:person/labels]");
        CHECK(strstr(s, ":person/labels :a") != NULL);
        cairn_free(s);
    }
    cairn_release(sch);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
}

void test_db_api__a_value_too_large_for_the_index_is_a_clear_error_that_changes_nothing(void)
{
    cairn_val cfg = mem_cfg(NULL);
    cairn_conn *c = setup(cfg);
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_db *db;
    size_t n = 64 * 1024;
    char *txt = malloc(n + 64);
    int rc;
    strcpy(txt, "[{:person/name \"");
    memset(txt + strlen(txt), 'x', n);
    strcpy(txt + 16 + n, "\"}]");
    rc = tx(c, txt, NULL, &err);
    CHECK_EQ(rc, CAIRN_ELIMIT);
    CHECK_STR(err.keyword, ":transact/max-length");
    CHECK(strstr(err.message, "bytes") != NULL);
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    CHECK_EQ(cairn_db_max_tx(db), 536870913);
    cairn_db_release(db);
    /* the writer goes on */
    CHECK_OK(tx(c, "[{:person/name \"short\"}]", NULL, NULL));
    free(txt);
    cairn_conn_release(c);
    cairn_release(cfg);
}

/* A file store whose trees went into packs (every commit stores its trees,
 * and a large one through the log's checkpoint) is deleted whole. */
void test_db_api__delete_database_removes_the_packs_of_a_file_store(void)
{
    cairn_val cfg = file_cfg(":tail-commits 0");
    char dir[1024];
    cairn_buf tx = CAIRN_BUF_INIT;
    cairn_conn *c;
    int exists = -1;
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_connect(&c, cfg, NULL));
    CHECK_OK(cairn_transact_edn(NULL, c, SCHEMA, strlen(SCHEMA), NULL));
    cairn_buf_putc(&tx, '[');
    for (int i = 0; i < 3000; i++) {
        char e[96];
        snprintf(e, sizeof e, "{:person/name \"p%d\" :person/age %d}", i, i % 90);
        cairn_buf_put(&tx, e, strlen(e));
    }
    cairn_buf_putc(&tx, ']');
    CHECK(!tx.oom);
    CHECK_OK(cairn_transact_edn(NULL, c, tx.ptr, tx.len, NULL));
    cairn_buf_dispose(&tx);
    cairn_conn_release(c);
    snprintf(dir, sizeof dir, "%s/db/packs", test_tmpdir());
    CHECK(store_count_files(dir, "") >= 1);
    CHECK_OK(cairn_delete_database(cfg, NULL));
    CHECK_EQ(store_count_files(dir, ""), 0);
    CHECK_OK(cairn_database_exists(&exists, cfg, NULL));
    CHECK_EQ(exists, 0);
    cairn_release(cfg);
}
