/* The writer's pipeline: a group is applied while the one before it is being
 * written, and when that write fails, what was built on it is applied again
 * on the value really there. A "gate" backend wraps the memory store and can
 * hold the committer inside head_cas, and move the head behind its back. */
#include <pthread.h>
#include <time.h>

#include "test.h"
#include "base/alloc.h"
#include "base/buf.h"
#include "base/err.h"
#include "conn/conn_int.h"
#include "tx/report.h"
#include "store/store.h"

/* ---- the gate backend ---------------------------------------------------------- */

struct gate_store {
    cairn_store base;          /* must be first */
    cairn_store *inner;        /* the memory store */
};

static struct {
    pthread_mutex_t mu;
    pthread_cond_t cv;
    int armed;                 /* the next head_cas waits at the gate */
    int reached;               /* a head_cas is waiting */
    int open;                  /* let it go */
    void *move_to;             /* when set, the head is moved here before it goes on */
    size_t move_len;
} gate = { PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, 0, 0, 0, NULL, 0 };

static cairn_store *inner_of(cairn_store *s) { return ((struct gate_store *)s)->inner; }

static int copy_err(cairn_store *s, int rc)
{
    if (rc < 0)
        cairn_error_copy(&s->err, &inner_of(s)->err);
    return rc;
}

static int g_get(cairn_store *s, const cairn_addr *a, void **d, size_t *n)
{
    return copy_err(s, inner_of(s)->methods->get(inner_of(s), a, d, n));
}
static int g_put_many(cairn_store *s, size_t n, const cairn_addr *a, const void *const *d, const size_t *l)
{
    return copy_err(s, inner_of(s)->methods->put_many(inner_of(s), n, a, d, l));
}
static int g_del(cairn_store *s, const cairn_addr *a) { return copy_err(s, inner_of(s)->methods->del(inner_of(s), a)); }
static int g_list(cairn_store *s, cairn_store_addr_cb cb, void *p)
{
    return copy_err(s, inner_of(s)->methods->list(inner_of(s), cb, p));
}
static int g_head_read(cairn_store *s, const char *name, void **d, size_t *n)
{
    return copy_err(s, inner_of(s)->methods->head_read(inner_of(s), name, d, n));
}
static int g_head_cas(cairn_store *s, const char *name, const void *e, size_t el, const void *d, size_t dl)
{
    cairn_store *in = inner_of(s);
    pthread_mutex_lock(&gate.mu);
    if (gate.armed) {
        gate.armed = 0;
        gate.reached = 1;
        pthread_cond_broadcast(&gate.cv);
        while (!gate.open)
            pthread_cond_wait(&gate.cv, &gate.mu);
        gate.open = 0;
        if (gate.move_to) {
            /* another process moves the head first */
            void *cur = NULL;
            size_t n = 0;
            if (in->methods->head_read(in, name, &cur, &n) == 0)
                in->methods->head_cas(in, name, cur, n, gate.move_to, gate.move_len);
            cairn_free(cur);
            cairn_free(gate.move_to);
            gate.move_to = NULL;
        }
    }
    pthread_mutex_unlock(&gate.mu);
    return copy_err(s, in->methods->head_cas(in, name, e, el, d, dl));
}
static int g_head_list(cairn_store *s, cairn_store_name_cb cb, void *p)
{
    return copy_err(s, inner_of(s)->methods->head_list(inner_of(s), cb, p));
}
static int g_lock(cairn_store *s) { return copy_err(s, inner_of(s)->methods->lock(inner_of(s))); }
static void g_unlock(cairn_store *s) { inner_of(s)->methods->unlock(inner_of(s)); }
static void g_close(cairn_store *s)
{
    cairn_store_close(inner_of(s));
    cairn_free(s);
}

static const cairn_store_methods gate_methods = {
    CAIRN_STORE_METHODS_VERSION, "gate", g_get, g_put_many, g_del, g_list, g_head_read, g_head_cas, g_head_list,
    g_lock, g_unlock, g_close, NULL, NULL
};

/* {:backend :gate :id "x"}: a memory store with that id behind the gate. */
static int gate_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    struct gate_store *g;
    cairn_val mem;
    cairn_error e2 = CAIRN_ERROR_INIT;
    char buf[200];
    const char *id = cairn_store_config_string(config, "id", err);
    int rc;
    if (!id)
        return CAIRN_EINVALID;
    snprintf(buf, sizeof buf, "{:backend :mem :id \"%s\"}", id);
    if ((rc = cairn_edn_read(&mem, buf, strlen(buf), NULL, err)) != 0)
        return rc;
    g = cairn_malloc(sizeof *g);
    memset(g, 0, sizeof *g);
    rc = cairn_store_open(&g->inner, mem, &e2);
    cairn_release(mem);
    if (rc != 0) {
        cairn_error_copy(err, &e2);
        cairn_free(g);
        return rc;
    }
    g->base.methods = &gate_methods;
    *out = &g->base;
    return 0;
}

static void gate_register(void)
{
    static int done;
    if (!done) {
        CHECK_OK(cairn_store_register("gate", gate_open));
        done = 1;
    }
}

/* Arms the gate: the next head_cas waits until gate_release. */
static void gate_arm(void)
{
    pthread_mutex_lock(&gate.mu);
    gate.armed = 1;
    gate.reached = 0;
    gate.open = 0;
    pthread_mutex_unlock(&gate.mu);
}

static void gate_wait_reached(void)
{
    pthread_mutex_lock(&gate.mu);
    while (!gate.reached)
        pthread_cond_wait(&gate.cv, &gate.mu);
    pthread_mutex_unlock(&gate.mu);
}

/* Lets the waiting head_cas go on, after moving the head to move_to (owned) if set. */
static void gate_release(void *move_to, size_t len)
{
    pthread_mutex_lock(&gate.mu);
    gate.move_to = move_to;
    gate.move_len = len;
    gate.open = 1;
    pthread_cond_broadcast(&gate.cv);
    pthread_mutex_unlock(&gate.mu);
}

/* ---- helpers ---------------------------------------------------------------------- */

static cairn_val edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        test__fail(__FILE__, __LINE__, "bad EDN in test: %s", err.message);
    return v;
}

struct client {
    cairn_conn *conn;          /* shared */
    const char *tx;            /* EDN transaction data */
    pthread_t th;              /* its thread */
    int rc;                    /* cairn_transact_edn's result */
    cairn_error err;           /* its error */
    cairn_tx_report *report;   /* its report */
    int no_report;             /* ask for none (the writer may then defer its changes) */
};

static void *client_main(void *arg)
{
    struct client *cl = arg;
    cl->rc = cairn_transact_edn(cl->no_report ? NULL : &cl->report, cl->conn, cl->tx, strlen(cl->tx), &cl->err);
    return NULL;
}

static void client_start_opt(struct client *cl, cairn_conn *c, const char *tx, int no_report)
{
    memset(cl, 0, sizeof *cl);
    cl->conn = c;
    cl->tx = tx;
    cl->no_report = no_report;
    CHECK(pthread_create(&cl->th, NULL, client_main, cl) == 0);
}

static void client_start(struct client *cl, cairn_conn *c, const char *tx)
{
    client_start_opt(cl, c, tx, 0);
}

static void client_join(struct client *cl)
{
    pthread_join(cl->th, NULL);
}

/* Requests the writer has applied so far. */
static uint64_t applied_of(cairn_conn *c)
{
    uint64_t n;
    pthread_mutex_lock(&c->lock);
    n = c->applied;
    pthread_mutex_unlock(&c->lock);
    return n;
}

/* Waits (up to 10 s) until the writer has applied n requests in all. */
static void wait_applied(cairn_conn *c, uint64_t n)
{
    for (int i = 0; i < 10000; i++) {
        if (applied_of(c) >= n)
            return;
        nanosleep(&(struct timespec){ 0, 1000000 }, NULL);
    }
    test__fail(__FILE__, __LINE__, "the writer never applied %llu requests", (unsigned long long)n);
}

static int64_t max_tx_of(cairn_conn *c)
{
    cairn_db *db;
    int64_t t;
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    t = cairn_db_max_tx(db);
    cairn_db_release(db);
    return t;
}

static int64_t age_of(cairn_conn *c, const char *name)
{
    char q[256];
    cairn_db *db;
    cairn_val res = cairn_nil();
    cairn_input in;
    int64_t age = -1;
    snprintf(q, sizeof q, "[:find ?a . :where [?e :name \"%s\"] [?e :age ?a]]", name);
    CHECK_OK(cairn_conn_db(&db, c, NULL));
    in = cairn_input_db(db);
    CHECK_OK(cairn_q_edn(&res, q, strlen(q), &in, 1, NULL, NULL));
    if (cairn_type_of(res) == CAIRN_INT)
        age = cairn_int_value(res);
    cairn_release(res);
    cairn_db_release(db);
    return age;
}

static cairn_conn *setup(char *id_out, size_t cap)
{
    char buf[600];
    cairn_conn *c;
    cairn_val cfg;
    gate_register();
    snprintf(id_out, cap, "writer-%d", (int)test_rand_below(1u << 30));
    snprintf(buf, sizeof buf,
             "{:store {:backend :gate :id \"%s\"} :schema-flexibility :write"
             " :initial-tx [{:db/ident :name :db/valueType :db.type/string :db/cardinality :db.cardinality/one"
             "               :db/unique :db.unique/identity}"
             "              {:db/ident :age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]}",
             id_out);
    cfg = edn(buf);
    CHECK_OK(cairn_create_database(cfg, NULL));
    CHECK_OK(cairn_connect(&c, cfg, NULL));
    cairn_release(cfg);
    return c;
}

/* ---- tests ------------------------------------------------------------------------ */

void test_db_writer__a_group_is_applied_on_the_one_being_written(void)
{
    char id[64];
    cairn_conn *c = setup(id, sizeof id);
    struct client a, b;
    int64_t t0 = max_tx_of(c);
    uint64_t applied = applied_of(c);
    gate_arm();
    client_start(&a, c, "[{:name \"ann\" :age 1}]");
    gate_wait_reached();
    /* ann's commit is being written; ben's transaction needs ann */
    client_start(&b, c, "[[:db/add [:name \"ann\"] :age 2]]");
    wait_applied(c, applied + 2);
    gate_release(NULL, 0);
    client_join(&a);
    client_join(&b);
    CHECK_MSG(a.rc == 0, "%s", a.err.message);
    CHECK_MSG(b.rc == 0, "%s", b.err.message);
    CHECK_EQ(cairn_db_max_tx(b.report->before), t0 + 1);
    CHECK_EQ(cairn_db_max_tx(b.report->after), t0 + 2);
    CHECK_EQ(max_tx_of(c), t0 + 2);
    CHECK_EQ(age_of(c, "ann"), 2);
    cairn_tx_report_free(a.report);
    cairn_tx_report_free(b.report);
    cairn_conn_release(c);
}

static const char ZED[] = "[{:name \"zed\" :age 9}]", EVE[] = "[{:name \"eve\" :age 5}]";

void test_db_writer__a_failed_write_sends_what_was_built_on_it_back_to_the_queue(void)
{
    char id[64];
    cairn_conn *c = setup(id, sizeof id);
    struct client a, b, d;
    cairn_error err = CAIRN_ERROR_INIT;
    void *old_head = NULL;
    size_t old_len = 0;
    int64_t t0;
    uint64_t applied;
    /* the head another process will put back: the value before "zed" */
    CHECK_OK(cairn_store_head_read(c->ctx->store, c->ctx->branch, &old_head, &old_len));
    t0 = max_tx_of(c);
    CHECK_OK(cairn_transact_edn(NULL, c, ZED, strlen(ZED), &err));
    CHECK_EQ(age_of(c, "zed"), 9);
    applied = applied_of(c);
    gate_arm();
    client_start(&a, c, "[{:name \"ann\" :age 1}]");
    gate_wait_reached();
    /* built on ann (not yet durable): one needs her, one does not */
    client_start(&b, c, "[[:db/add [:name \"ann\"] :age 2]]");
    client_start(&d, c, "[{:name \"dan\" :age 4}]");
    wait_applied(c, applied + 3);
    /* the head goes back to before zed, under the writer */
    gate_release(old_head, old_len);
    client_join(&a);
    client_join(&b);
    client_join(&d);
    CHECK_ERR(a.rc, CAIRN_ECONFLICT);
    CHECK_STR(a.err.keyword, ":writer/conflict");
    /* b was applied again on the value really there, where ann never was */
    CHECK(b.rc != 0);
    CHECK_MSG(strstr(b.err.message, "ann") != NULL, "%s", b.err.message);
    CHECK_MSG(d.rc == 0, "%s", d.err.message);
    CHECK_EQ(cairn_db_max_tx(d.report->before), t0);
    CHECK_EQ(cairn_db_max_tx(d.report->after), t0 + 1);
    CHECK_EQ(max_tx_of(c), t0 + 1);
    CHECK_EQ(age_of(c, "dan"), 4);
    CHECK_EQ(age_of(c, "ann"), -1);
    CHECK_EQ(age_of(c, "zed"), -1);
    /* and the writer goes on */
    CHECK_OK(cairn_transact_edn(NULL, c, EVE, strlen(EVE), &err));
    CHECK_EQ(max_tx_of(c), t0 + 2);
    cairn_tx_report_free(d.report);
    cairn_conn_release(c);
}

/* ---- deferred changes ------------------------------------------------------------- */

/* Every datom of db's history, one per line, but the transactions' instants
 * (the clock's, which differs between two runs). */
static char *history_text(const cairn_db *db)
{
    cairn_db *h;
    cairn_datoms *it;
    cairn_datom d;
    cairn_buf out = CAIRN_BUF_INIT;
    int rc;
    CHECK_OK(cairn_db_history(&h, db, NULL));
    CHECK_OK(cairn_datoms_open(&it, h, CAIRN_INDEX_EAVT, cairn_nil(), NULL));
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        char *a, *v;
        size_t al, vl;
        CHECK_OK(cairn_edn_print(&a, &al, d.a));
        CHECK_OK(cairn_edn_print(&v, &vl, d.v));
        if (strcmp(a, ":db/txInstant")) {
            char line[512];
            snprintf(line, sizeof line, "%lld %s %s %lld %d\n", (long long)d.e, a, v, (long long)d.tx, d.added);
            cairn_buf_put(&out, line, strlen(line));
        }
        cairn_free(a);
        cairn_free(v);
    }
    CHECK_ERR(rc, CAIRN_ENOTFOUND);
    cairn_datoms_close(it);
    cairn_db_release(h);
    cairn_buf_putc(&out, 0);
    CHECK(!out.oom);
    return out.ptr;
}

/* One random transaction over a few entities that all the others touch too:
 * upserts, card-one overwrites, card-many adds and retractions, :db/cas,
 * :db.unique/value claims, retractEntity, lookup refs to entities that may
 * be gone. Many fail, and which ones depends on every transaction before. */
static void random_tx(char *out, size_t cap)
{
    int n = (int)test_rand_below(5), m = (int)test_rand_below(5), v = (int)test_rand_below(4);
    switch (test_rand_below(13)) {
    case 0: snprintf(out, cap, "[{:name \"n%d\" :age %d}]", n, v); break;
    case 1: snprintf(out, cap, "[[:db/add [:name \"n%d\"] :age %d]]", n, v); break;
    case 2: snprintf(out, cap, "[[:db/retract [:name \"n%d\"] :age %d]]", n, v); break;
    case 3: snprintf(out, cap, "[[:db/cas [:name \"n%d\"] :age %d %d]]", n, v, (v + 1) % 4); break;
    case 4: snprintf(out, cap, "[{:name \"n%d\" :tag [\"t%d\" \"t%d\"]}]", n, v, m); break;
    case 5: snprintf(out, cap, "[[:db/retract [:name \"n%d\"] :tag \"t%d\"]]", n, v); break;
    case 6: snprintf(out, cap, "[{:name \"n%d\" :code %d}]", n, v); break;
    case 7: snprintf(out, cap, "[[:db/retractEntity [:name \"n%d\"]]]", n); break;
    case 8: snprintf(out, cap, "[{:name \"n%d\" :friend {:name \"n%d\" :age %d}}]", n, m, v); break;
    /* schema changes allowed or not by what the attribute holds */
    case 9: snprintf(out, cap, "[{:db/ident :spare :db/index %s}]", v & 1 ? "true" : "false"); break;
    case 10: snprintf(out, cap, "[[:db/add [:name \"n%d\"] :spare %d]]", n, v); break;
    case 11: snprintf(out, cap, "[[:db.fn/retractAttribute [:name \"n%d\"] :spare]]", n); break;
    default:
        snprintf(out, cap, "[{:db/ident :tag :db/cardinality %s}]", v & 1 ? ":db.cardinality/one" : ":db.cardinality/many");
        break;
    }
}

static const char MORE_SCHEMA[] =
    "[{:db/ident :tag :db/valueType :db.type/string :db/cardinality :db.cardinality/many}"
    " {:db/ident :code :db/valueType :db.type/long :db/cardinality :db.cardinality/one"
    "  :db/unique :db.unique/value}"
    " {:db/ident :friend :db/valueType :db.type/ref :db/cardinality :db.cardinality/one}"
    " {:db/ident :spare :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]";

/*
 * Transactions whose callers want no report are applied in a group with
 * their changes deferred (db.h, "deltas not yet applied"): each reads the
 * ones before it through the overlay, and the group's trees get them all at
 * once when it is sealed. The same transactions one at a time with reports
 * (nothing deferred) must give the same outcome, transaction by
 * transaction, and the same history, datom by datom.
 */
void test_db_writer__deferred_changes_read_and_land_as_applied_ones(void)
{
    enum { GROUP = 80, ROUNDS = 3 };
    char id[64], txs[ROUNDS][GROUP][160];
    cairn_conn *c = setup(id, sizeof id), *ref = setup(id, sizeof id);
    static struct client cl[GROUP];
    cairn_error err = CAIRN_ERROR_INIT;
    int failed = 0;
    CHECK_OK(cairn_transact_edn(NULL, c, MORE_SCHEMA, strlen(MORE_SCHEMA), &err));
    CHECK_OK(cairn_transact_edn(NULL, ref, MORE_SCHEMA, strlen(MORE_SCHEMA), &err));
    for (int r = 0; r < ROUNDS; r++) {
        struct client first;
        uint64_t applied = applied_of(c);
        /* hold a commit in its write, so that the rest queue up as one group */
        gate_arm();
        snprintf(txs[r][0], sizeof txs[r][0], "[{:name \"n%d\" :age 1}]", r);
        client_start(&first, c, txs[r][0]);
        gate_wait_reached();
        for (int i = 1; i < GROUP; i++) {
            random_tx(txs[r][i], sizeof txs[r][i]);
            client_start_opt(&cl[i], c, txs[r][i], 1);
            wait_applied(c, applied + 1 + (uint64_t)i); /* applied in this order */
        }
        gate_release(NULL, 0);
        client_join(&first);
        CHECK_MSG(first.rc == 0, "%s", first.err.message);
        cairn_tx_report_free(first.report);
        for (int i = 0; i < GROUP; i++) {
            cairn_tx_report *rep = NULL;
            cairn_error rerr = CAIRN_ERROR_INIT;
            int rrc = cairn_transact_edn(&rep, ref, txs[r][i], strlen(txs[r][i]), &rerr);
            if (i) {
                client_join(&cl[i]);
                CHECK_MSG(cl[i].rc == rrc, "%s: %d (%s) deferred, %d (%s) one at a time", txs[r][i], cl[i].rc,
                          cl[i].err.message, rrc, rerr.message);
                if (rrc)
                    CHECK_STR(cl[i].err.keyword, rerr.keyword);
                failed += rrc != 0;
            }
            cairn_tx_report_free(rep);
        }
    }
    {
        cairn_db *a, *b;
        char *ta, *tb;
        CHECK_OK(cairn_conn_db(&a, c, NULL));
        CHECK_OK(cairn_conn_db(&b, ref, NULL));
        ta = history_text(a);
        tb = history_text(b);
        CHECK_STR(ta, tb);
        CHECK(strlen(ta) > 200);
        cairn_free(ta);
        cairn_free(tb);
        cairn_db_release(a);
        cairn_db_release(b);
    }
    /* the workload is one where order matters: some fail, most do not */
    CHECK(failed > 3 && failed < ROUNDS * (GROUP - 1) - 3);
    cairn_conn_release(c);
    cairn_conn_release(ref);
}
