/*
 * bench/lib: the answer checker renders answers in the peer's canonical form
 * and hashes them to the peer's SHA-256; the generator writes the shipped
 * data set byte for byte.
 *
 * The strongest check: answers computed here naively from people-20000.edn
 * (no query engine involved) must hash to the :expected of queries-20000.edn,
 * which the DataScript peer produced. That covers tuples, strings, averages
 * (6 decimals) and pulled maps (sorted keys, sorted card-many values).
 */
#include <stdarg.h>
#include <stdlib.h>

#include "test.h"
#include "cairn.h"
#include "../../bench/lib/canon.h"
#include "../../bench/lib/data.h"

static cairn_val kw(const char *text)
{
    return bench_kw(text);
}

static cairn_val str(const char *text)
{
    cairn_val v;
    CHECK_OK(cairn_string(&v, text, strlen(text)));
    return v;
}

static cairn_val vec(void)
{
    cairn_val v;
    CHECK_OK(cairn_vector_new(&v, 4));
    return v;
}

static cairn_val map(void)
{
    cairn_val v;
    CHECK_OK(cairn_map_new(&v, 4));
    return v;
}

static void put(cairn_val *m, const char *k, cairn_val v)
{
    CHECK_OK(cairn_map_put_take(m, kw(k), v));
}

static void add(cairn_val *coll, cairn_val v)
{
    CHECK_OK(cairn_coll_push_take(coll, v));
}

static char *canon(cairn_val v, int sort)
{
    bench_str s = BENCH_STR_INIT;
    bench_canon(&s, v, sort);
    return bench_str_take(&s);
}

static void check_canon(cairn_val v, int sort, const char *want)
{
    char *got = canon(v, sort);
    CHECK_STR(got, want);
    free(got);
}

void test_bench_canon__renders_scalars_as_bench_js_does(void)
{
    cairn_val r, s = str("a\"b\\c\n\t\x01 é");
    check_canon(cairn_int(-42), 0, "-42");
    check_canon(cairn_double(5.0), 0, "5");
    check_canon(cairn_double(-0.0), 0, "0");
    check_canon(cairn_double(2.5), 0, "2.500000");
    check_canon(cairn_double(1.0 / 3), 0, "0.333333");
    check_canon(cairn_double(49912.3456785), 0, "49912.345679");
    CHECK_OK(cairn_ratio(&r, 15, 2));
    check_canon(r, 0, "7.500000");
    check_canon(s, 0, "\"a\\\"b\\\\c\\n\\t\\u0001 é\"");
    check_canon(cairn_nil(), 0, "nil");
    check_canon(cairn_bool(1), 0, "true");
    cairn_release(r);
    cairn_release(s);
}

void test_bench_canon__sorts_pulled_maps_and_their_arrays(void)
{
    cairn_val m = map(), alias = vec(), friends = vec(), f1 = map(), f2 = map(), tuple = vec();
    add(&alias, str("b"));
    add(&alias, str("a"));
    put(&f1, "name", str("B"));
    put(&f1, "db/id", cairn_int(2));
    put(&f2, "db/id", cairn_int(1));
    put(&f2, "name", str("C"));
    add(&friends, f1);
    add(&friends, f2);
    put(&m, "name", str("A"));
    put(&m, "db/id", cairn_int(3));
    put(&m, "friend", friends);
    put(&m, "alias", alias);
    check_canon(m, 1, "{:alias [\"a\" \"b\"], :db/id 3, :friend [{:db/id 1, :name \"C\"} {:db/id 2, :name \"B\"}], "
                      ":name \"A\"}");
    add(&tuple, cairn_int(10));
    add(&tuple, str("x"));
    add(&tuple, cairn_int(2));
    check_canon(tuple, 0, "[10 \"x\" 2]");
    check_canon(tuple, 1, "[\"x\" 10 2]");   /* sorted as text, as bench.js does */
    cairn_release(m);
    cairn_release(tuple);
}

void test_bench_canon__hashes_rows_sorted_and_joined(void)
{
    bench_sig sig;
    cairn_val empty, rows;
    CHECK_OK(cairn_set_new(&empty, 0));
    bench_sig_q(&sig, empty);
    CHECK_EQ(sig.count, 0);
    CHECK_STR(sig.sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    CHECK_OK(cairn_set_new(&rows, 2));
    for (int i = 2; i >= 1; i--) {
        cairn_val t = vec();
        add(&t, cairn_int(i));
        add(&rows, t);
    }
    bench_sig_q(&sig, rows);
    CHECK_EQ(sig.count, 2);
    char want[65];
    bench_sha256_hex(want, "[1]\n[2]", 7);
    CHECK_STR(sig.sha256, want);
    bench_sha256_hex(want, "abc", 3);
    CHECK_STR(want, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    cairn_release(empty);
    cairn_release(rows);
}

/* ---- naive answers on people-20000.edn against the peer's hashes ------------------ */

struct people {
    cairn_val *ents;  /* entity k+1 at k */
    size_t count;     /* entities */
};

static void load(struct people *p, const char *file)
{
    bench_forms *f;
    cairn_val e;
    size_t cap = 1024;
    p->count = 0;
    p->ents = malloc(cap * sizeof *p->ents);
    CHECK(p->ents != NULL);
    CHECK_EQ(bench_forms_open(&f, file), 0);
    while (bench_forms_next(f, &e)) {
        if (p->count == cap)
            CHECK((p->ents = realloc(p->ents, (cap *= 2) * sizeof *p->ents)) != NULL);
        p->ents[p->count++] = e;
    }
    bench_forms_close(f);
}

static cairn_val get(cairn_val ent, const char *attr)
{
    cairn_val v;
    return cairn_map_get(&v, ent, kw(attr)) ? v : cairn_nil();
}

static const char *text(cairn_val v)
{
    size_t len;
    return cairn_type_of(v) == CAIRN_STRING ? cairn_str_get(v, &len) : "";
}

static cairn_val tuple(int n, ...)
{
    va_list ap;
    cairn_val t = vec();
    va_start(ap, n);
    for (int i = 0; i < n; i++)
        add(&t, cairn_retain(va_arg(ap, cairn_val)));
    va_end(ap);
    return t;
}

static const bench_query *query(const bench_query_set *qs, const char *id)
{
    for (size_t i = 0; i < qs->count; i++)
        if (!strcmp(qs->queries[i].id, id))
            return &qs->queries[i];
    CHECK_MSG(0, "no query %s", id);
    return NULL;
}

static void check_sig(const bench_query_set *qs, const char *id, cairn_val result, int kind)
{
    const bench_query *q = query(qs, id);
    bench_sig sig;
    if (kind == BENCH_Q)
        bench_sig_q(&sig, result);
    else
        bench_sig_pull_many(&sig, result);
    CHECK_MSG(sig.count == q->expected.count && !strcmp(sig.sha256, q->expected.sha256),
              "%s: %zu rows %s, peer %zu rows %s", id, sig.count, sig.sha256, q->expected.count, q->expected.sha256);
    cairn_release(result);
}

static cairn_val set(void)
{
    cairn_val s;
    CHECK_OK(cairn_set_new(&s, 16));
    return s;
}

static void naive_queries(const struct people *p, const bench_query_set *qs)
{
    cairn_val q1 = set(), q2 = set(), q4 = set(), qpred = set(), uniq = set(), avg = set(), count_sum = set();
    const char *email = text(cairn_coll_get(query(qs, "q-unique-lookup")->args, 0));
    int64_t sal_sum[2] = { 0, 0 }, sal_n[2] = { 0, 0 }, total = 0;
    for (size_t k = 0; k < p->count; k++) {
        cairn_val e = p->ents[k], id = get(e, "db/id"), age = get(e, "age"), sal = get(e, "salary");
        int ivan = !strcmp(text(get(e, "name")), "Ivan"), male = !strcmp(text(get(e, "sex")), "male");
        if (ivan) {
            add(&q1, tuple(1, id));
            add(&q2, tuple(2, id, age));
        }
        if (ivan && male)
            add(&q4, tuple(3, id, get(e, "last-name"), age));
        if (cairn_int_value(sal) > 50000)
            add(&qpred, tuple(2, id, sal));
        if (!strcmp(text(get(e, "email")), email))
            add(&uniq, tuple(2, id, get(e, "name")));
        sal_sum[male] += cairn_int_value(sal);
        sal_n[male]++;
        total += cairn_int_value(sal);
    }
    for (int m = 0; m < 2; m++) {
        cairn_val sex = str(m ? "male" : "female");
        add(&avg, tuple(3, sex, cairn_double((double)sal_sum[m] / (double)sal_n[m]), cairn_int(sal_n[m])));
        cairn_release(sex);
    }
    add(&count_sum, tuple(2, cairn_int((int64_t)p->count), cairn_int(total)));
    check_sig(qs, "q1", q1, BENCH_Q);
    check_sig(qs, "q2", q2, BENCH_Q);
    check_sig(qs, "q4", q4, BENCH_Q);
    check_sig(qs, "qpred1", qpred, BENCH_Q);
    check_sig(qs, "q-unique-lookup", uniq, BENCH_Q);
    check_sig(qs, "agg-avg-by-sex", avg, BENCH_Q);
    check_sig(qs, "agg-count-sum", count_sum, BENCH_Q);
}

/* pull-many-1000 ([:db/id ... :alias {:friend [:db/id :name]}]) and
 * pull-wildcard-1000 ([*], refs as {:db/id f}). */
static void naive_pulls(const struct people *p, const bench_query_set *qs)
{
    static const char *const attrs[] = { "name", "last-name", "age", "email", "sex", "salary", "alias" };
    cairn_val eids = cairn_coll_get(query(qs, "pull-many-1000")->args, 0), many = vec(), wild = vec();
    for (size_t i = 0; i < cairn_count(eids); i++) {
        cairn_val e = p->ents[cairn_int_value(cairn_coll_get(eids, i)) - 1], friends = get(e, "friend");
        cairn_val m = map(), w = map(), fm = vec(), fw = vec();
        put(&m, "db/id", cairn_retain(get(e, "db/id")));
        put(&w, "db/id", cairn_retain(get(e, "db/id")));
        for (size_t a = 0; a < sizeof attrs / sizeof attrs[0]; a++)
            if (cairn_type_of(get(e, attrs[a])) != CAIRN_NIL) {
                put(&m, attrs[a], cairn_retain(get(e, attrs[a])));
                put(&w, attrs[a], cairn_retain(get(e, attrs[a])));
            }
        for (size_t k = 0; k < cairn_count(friends); k++) {
            int64_t f = cairn_int_value(cairn_coll_get(friends, k));
            cairn_val nm = map(), nw = map();
            put(&nm, "db/id", cairn_int(f));
            put(&nm, "name", cairn_retain(get(p->ents[f - 1], "name")));
            put(&nw, "db/id", cairn_int(f));
            add(&fm, nm);
            add(&fw, nw);
        }
        if (cairn_count(friends)) {
            put(&m, "friend", fm);
            put(&w, "friend", fw);
        } else {
            cairn_release(fm);
            cairn_release(fw);
        }
        add(&many, m);
        add(&wild, w);
    }
    check_sig(qs, "pull-many-1000", many, BENCH_PULL_MANY);
    check_sig(qs, "pull-wildcard-1000", wild, BENCH_PULL_MANY);
}

void test_bench_canon__naive_answers_hash_to_the_peers_expected(void)
{
    char people[512], queries[512];
    struct people p;
    bench_query_set qs;
    snprintf(people, sizeof people, "%s/bench/data/people-20000.edn", test_shared_dir());
    snprintf(queries, sizeof queries, "%s/bench/data/queries-20000.edn", test_shared_dir());
    load(&p, people);
    CHECK_EQ(p.count, 20000);
    bench_query_set_load(&qs, queries);
    CHECK_EQ(qs.n, 20000);
    naive_queries(&p, &qs);
    naive_pulls(&p, &qs);
    bench_query_set_dispose(&qs);
    for (size_t k = 0; k < p.count; k++)
        cairn_release(p.ents[k]);
    free(p.ents);
}

/* ---- the generator and the facts ---------------------------------------------------- */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    *len = (size_t)ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc(*len + 1);
    CHECK(buf != NULL);
    CHECK_EQ(fread(buf, 1, *len, f), *len);
    fclose(f);
    return buf;
}

void test_bench_data__generator_writes_the_shipped_file_byte_for_byte(void)
{
    char shipped[512], mine[512];
    size_t a_len, b_len;
    int64_t datoms = 0;
    snprintf(shipped, sizeof shipped, "%s/bench/data/people-20000.edn", test_shared_dir());
    snprintf(mine, sizeof mine, "%s/people-20000.edn", test_tmpdir());
    CHECK_EQ(bench_people_write(mine, 20000, 42, &datoms), 0);
    CHECK_EQ(datoms, 180187);
    char *a = slurp(shipped, &a_len), *b = slurp(mine, &b_len);
    CHECK_MEM(b, b_len, a, a_len);
    free(a);
    free(b);
}

void test_bench_data__facts_follow_bench_js_spread_and_values(void)
{
    char path[512];
    bench_facts f;
    bench_forms *forms;
    cairn_val e;
    snprintf(path, sizeof path, "%s/people-50.edn", test_tmpdir());
    CHECK_EQ(bench_people_write(path, 50, 42, NULL), 0);
    bench_facts_init(&f, 50);
    CHECK_EQ(bench_forms_open(&forms, path), 0);
    while (bench_forms_next(forms, &e)) {
        bench_facts_add(&f, e);
        cairn_release(e);
    }
    bench_forms_close(forms);
    CHECK_EQ(f.entity_count, 50);
    CHECK_EQ(f.lookup_count, 50);
    CHECK_EQ(f.entity_eids[0], 1);
    CHECK_EQ(f.entity_eids[49], 50);
    CHECK_EQ(f.age_count, 50);
    /* entity 1 of seed 42 (the first line of every people-N.edn) */
    CHECK_STR(f.lookup_emails[0], "elena.polyakov.1@example.com");
    CHECK_EQ(f.entity_score[0], (int64_t)strlen("Elena") + (int64_t)strlen("elena.polyakov.1@example.com") + 86);
    bench_facts_dispose(&f);
}
