/*
 * pull_bench: times the pull and entity benches of the DataScript peer
 * harness (../shared/bench, see its README) on cairn, with the harness's own
 * data and protocol, and checks each result against the harness's expected
 * sha256 so a timing is never of a wrong answer.
 *
 *   build/rel/tools/pull_bench [DATA_DIR] [N]
 *
 * DATA_DIR defaults to ../shared/bench/data, N to 100000. people-N.edn is
 * transacted 1000 entity maps per transaction into a memory database whose
 * config :schema is schema.edn (schema-on-read, as DataScript); the graph
 * benches use graphs/wide-4x5.edn as one transaction. Each bench runs a
 * warm-up, then 5 samples of about 300 ms; the median of the per-call means
 * is printed, in ms per call (as the harness reports median_ms), with the
 * min and max of the samples and the median of this thread's CPU time per
 * call (a steadier figure when other work shares the machine).
 *
 * Uses the public API only (plus libcrypto for the digests).
 */
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn.h"

#define SAMPLES 5
#define SAMPLE_NS 300000000LL
#define WARMUP_NS 300000000LL

static void die(const char *what, const cairn_error *err)
{
    fprintf(stderr, "pull_bench: %s: %s %s\n", what, err ? err->keyword : "", err ? err->message : "");
    exit(1);
}

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f) {
        fprintf(stderr, "pull_bench: cannot open %s\n", path);
        exit(1);
    }
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (!buf || fread(buf, 1, (size_t)n, f) != (size_t)n)
        die("read", NULL);
    buf[n] = 0;
    fclose(f);
    *len = (size_t)n;
    return buf;
}

static cairn_val edn(const char *text)
{
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_edn_read(&v, text, strlen(text), NULL, &err) != 0)
        die("edn", &err);
    return v;
}

static long long clock_ns(clockid_t id)
{
    struct timespec ts;
    clock_gettime(id, &ts);
    return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static long long now_ns(void)
{
    return clock_ns(CLOCK_MONOTONIC);
}

/* A memory database loaded from an EDN stream of entity maps, batch maps per tx. */
static cairn_conn *load(const char *id, const char *schema, const char *path, size_t batch)
{
    char cfgtext[4096];
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_conn *conn;
    cairn_edn_reader *r;
    cairn_val cfg, form, tx;
    size_t len, n = 0;
    char *text = slurp(path, &len);
    snprintf(cfgtext, sizeof cfgtext, "{:store {:backend :mem :id \"%s\"} :schema-flexibility :read :schema %s}", id,
             schema);
    cfg = edn(cfgtext);
    if (cairn_create_database(cfg, &err) != 0 || cairn_connect(&conn, cfg, &err) != 0)
        die("create", &err);
    if (cairn_edn_reader_new(&r, text, len, NULL) != 0 || cairn_vector_new(&tx, batch) != 0)
        die("reader", NULL);
    for (;;) {
        int rc = cairn_edn_reader_next(r, &form, &err);
        if (rc == 0) {
            cairn_coll_push_take(&tx, form);
            n++;
        }
        if ((rc != 0 && cairn_count(tx)) || cairn_count(tx) == batch) {
            if (cairn_transact(NULL, conn, tx, cairn_nil(), &err) != 0)
                die("transact", &err);
            cairn_release(tx);
            cairn_vector_new(&tx, batch);
        }
        if (rc == CAIRN_ENOTFOUND)
            break;
        if (rc != 0)
            die("read", &err);
    }
    cairn_release(tx);
    cairn_edn_reader_free(r);
    cairn_release(cfg);
    free(text);
    fprintf(stderr, "loaded %zu entities from %s\n", n, path);
    return conn;
}

/* ---- the harness's canonical form (bench.js canon) -------------------------- */

struct sbuf {
    char *p;      /* text */
    size_t len;   /* used */
    size_t cap;   /* room */
};

static void sput(struct sbuf *b, const char *s, size_t n)
{
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
    }
    memcpy(b->p + b->len, s, n);
    b->len += n;
    b->p[b->len] = 0;
}

static void sputs(struct sbuf *b, const char *s)
{
    sput(b, s, strlen(s));
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void canon(struct sbuf *b, cairn_val v);

/* A collection's items canonicalised, sorted (sortArrays), joined by sep. */
static void canon_items(struct sbuf *b, cairn_val v, int map)
{
    size_t n = cairn_count(v);
    char **items = malloc((n ? n : 1) * sizeof *items);
    for (size_t i = 0; i < n; i++) {
        struct sbuf s = { NULL, 0, 0 };
        if (map) {
            size_t kl;
            const char *k = cairn_type_of(cairn_map_key_get(v, i)) == CAIRN_KEYWORD
                                ? cairn_ident_get(cairn_map_key_get(v, i), &kl)
                                : cairn_str_get(cairn_map_key_get(v, i), &kl);
            sputs(&s, ":");
            sput(&s, k, kl);
            sputs(&s, " ");
            canon(&s, cairn_map_val_get(v, i));
        } else {
            canon(&s, cairn_coll_get(v, i));
        }
        items[i] = s.p ? s.p : calloc(1, 1);
    }
    qsort(items, n, sizeof *items, cmp_str);
    sputs(b, map ? "{" : "[");
    for (size_t i = 0; i < n; i++) {
        if (i)
            sputs(b, map ? ", " : " ");
        sputs(b, items[i]);
        free(items[i]);
    }
    sputs(b, map ? "}" : "]");
    free(items);
}

static void canon(struct sbuf *b, cairn_val v)
{
    char tmp[64];
    switch (cairn_type_of(v)) {
    case CAIRN_NIL:
        sputs(b, "nil");
        break;
    case CAIRN_INT:
        snprintf(tmp, sizeof tmp, "%lld", (long long)cairn_int_value(v));
        sputs(b, tmp);
        break;
    case CAIRN_DOUBLE:
        snprintf(tmp, sizeof tmp, "%.6f", cairn_double_value(v));
        sputs(b, tmp);
        break;
    case CAIRN_BOOL:
        sputs(b, cairn_bool_value(v) ? "true" : "false");
        break;
    case CAIRN_STRING: {
        size_t n;
        const char *s = cairn_str_get(v, &n);
        sputs(b, "\"");
        for (size_t i = 0; i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            if (c == '"' || c == '\\') {
                tmp[0] = '\\';
                tmp[1] = (char)c;
                sput(b, tmp, 2);
            } else if (c < 0x20) {
                snprintf(tmp, sizeof tmp, c == '\n' ? "\\n" : c == '\t' ? "\\t" : "\\u%04x", c);
                sputs(b, tmp);
            } else {
                sput(b, s + i, 1);
            }
        }
        sputs(b, "\"");
        break;
    }
    case CAIRN_VECTOR:
    case CAIRN_LIST:
    case CAIRN_SET:
        canon_items(b, v, 0);
        break;
    case CAIRN_MAP:
        canon_items(b, v, 1);
        break;
    default:
        sputs(b, "?");
        break;
    }
}

static void sha256_hex(char out[65], const char *data, size_t len)
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(data, len, md, &n, EVP_sha256(), NULL);
    for (unsigned i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", md[i]);
}

/* The harness's signature of a pull (one map) or pull-many (rows) result. */
static void signature(char out[65], cairn_val result, int many)
{
    struct sbuf b = { NULL, 0, 0 };
    if (!many) {
        canon(&b, result);
    } else {
        for (size_t i = 0; i < cairn_count(result); i++) {
            if (i)
                sputs(&b, "\n");
            canon(&b, cairn_coll_get(result, i));
        }
    }
    sha256_hex(out, b.p ? b.p : "", b.len);
    free(b.p);
}

/* :expected :sha256 of bench id in queries-N.edn (NULL if absent). */
static const char *expected_sha(cairn_val queries, const char *id)
{
    cairn_val qs, q, v, e;
    if (!cairn_map_get(&qs, queries, edn(":queries")))
        return NULL;
    for (size_t i = 0; i < cairn_count(qs); i++) {
        q = cairn_coll_get(qs, i);
        if (cairn_map_get(&v, q, edn(":id")) && strcmp(cairn_str_get(v, NULL), id) == 0 &&
            cairn_map_get(&e, q, edn(":expected")) && cairn_map_get(&v, e, edn(":sha256")))
            return cairn_str_get(v, NULL);
    }
    return NULL;
}

/* ---- the benches -------------------------------------------------------------------- */

struct bench {
    const char *id;            /* harness bench id */
    cairn_db *db;              /* database */
    cairn_val pattern;         /* pull pattern (nil for entity-1000) */
    cairn_val eids;            /* vector of ids (pull-many, entity), or nil */
    int64_t eid;               /* the entity (pull) */
};

static int64_t entity_1000(const struct bench *bn)
{
    cairn_val name = edn(":name"), age = edn(":age"), email = edn(":email"), friend = edn(":friend");
    int64_t sum = 0;
    for (size_t i = 0; i < cairn_count(bn->eids); i++) {
        cairn_entity *e;
        cairn_val v;
        size_t len;
        if (cairn_entity_get(&e, bn->db, cairn_coll_get(bn->eids, i), NULL) != 0 || !e)
            die("entity", NULL);
        cairn_entity_attr(&v, e, name, NULL);
        cairn_str_get(v, &len);
        sum += (int64_t)len;
        cairn_release(v);
        cairn_entity_attr(&v, e, age, NULL);
        sum += cairn_int_value(v);
        cairn_entity_attr(&v, e, email, NULL);
        cairn_str_get(v, &len);
        sum += (int64_t)len;
        cairn_release(v);
        cairn_entity_attr(&v, e, friend, NULL);
        sum += (int64_t)cairn_count(v);
        cairn_release(v);
        cairn_entity_free(e);
    }
    return sum;
}

/* One call of a bench; the result for pulls (else nil). */
static cairn_val run_once(const struct bench *bn, int64_t *sum)
{
    cairn_val out = cairn_nil();
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = 0;
    if (cairn_type_of(bn->pattern) == CAIRN_NIL)
        *sum = entity_1000(bn);
    else if (cairn_type_of(bn->eids) != CAIRN_NIL)
        rc = cairn_pull_many(&out, bn->db, bn->pattern, bn->eids, &err);
    else
        rc = cairn_pull(&out, bn->db, bn->pattern, cairn_int(bn->eid), &err);
    if (rc != 0)
        die(bn->id, &err);
    return out;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void time_bench(const struct bench *bn, cairn_val queries)
{
    double means[SAMPLES], cpu[SAMPLES];
    int64_t sum = 0;
    long long t0 = now_ns();
    char sig[65];
    const char *want = expected_sha(queries, bn->id);
    cairn_val first = run_once(bn, &sum);
    const char *check = "no expected result";
    if (cairn_type_of(bn->pattern) != CAIRN_NIL) {
        signature(sig, first, cairn_type_of(bn->eids) != CAIRN_NIL);
        check = want && strcmp(sig, want) == 0 ? "result ok" : "RESULT DIFFERS";
    }
    cairn_release(first);
    while (now_ns() - t0 < WARMUP_NS)
        cairn_release(run_once(bn, &sum));
    for (int s = 0; s < SAMPLES; s++) {
        long long start = now_ns(), cstart = clock_ns(CLOCK_THREAD_CPUTIME_ID), end;
        long calls = 0;
        do {
            cairn_release(run_once(bn, &sum));
            calls++;
        } while ((end = now_ns()) - start < SAMPLE_NS);
        means[s] = (double)(end - start) / 1e6 / (double)calls;
        cpu[s] = (double)(clock_ns(CLOCK_THREAD_CPUTIME_ID) - cstart) / 1e6 / (double)calls;
    }
    qsort(means, SAMPLES, sizeof *means, cmp_double);
    qsort(cpu, SAMPLES, sizeof *cpu, cmp_double);
    printf("%-20s %10.4f ms   (min %.4f, max %.4f, cpu median %.4f)   %s\n", bn->id, means[SAMPLES / 2], means[0],
           means[SAMPLES - 1], cpu[SAMPLES / 2], check);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "../shared/bench/data";
    long n = argc > 2 ? atol(argv[2]) : 100000;
    char path[1024], *schema, *qtext;
    size_t len;
    cairn_conn *people, *graph;
    cairn_db *pdb, *gdb;
    cairn_val queries, eids;
    cairn_error err = CAIRN_ERROR_INIT;
    snprintf(path, sizeof path, "%s/schema.edn", dir);
    schema = slurp(path, &len);
    /* drop the comment lines: the config wants the map alone */
    for (char *p = schema; *p; p++)
        if (*p == ';')
            while (*p && *p != '\n')
                *p++ = ' ';
    snprintf(path, sizeof path, "%s/queries-%ld.edn", dir, n);
    qtext = slurp(path, &len);
    if (cairn_edn_read(&queries, qtext, len, NULL, &err) != 0)
        die("queries", &err);
    snprintf(path, sizeof path, "%s/people-%ld.edn", dir, n);
    people = load("pull-bench-people", schema, path, 1000);
    snprintf(path, sizeof path, "%s/graphs/wide-4x5.edn", dir);
    graph = load("pull-bench-graph", schema, path, 1000000);
    if (cairn_conn_db(&pdb, people, &err) != 0 || cairn_conn_db(&gdb, graph, &err) != 0)
        die("db", &err);
    cairn_vector_new(&eids, 1000);
    for (long k = 0; k < 1000 && k < n; k++)
        cairn_coll_push(&eids, cairn_int(1 + k * n / 1000));
    {
        struct bench benches[] = {
            { "pull-one", gdb, edn("[:name {:follows ...}]"), cairn_nil(), 1 },
            { "pull-many", gdb, edn("[:db/id :last-name :alias :sex :age :salary {:follows ...}]"), cairn_nil(), 1 },
            { "pull-wildcard", gdb, edn("[* {:follows ...}]"), cairn_nil(), 1 },
            { "pull-many-1000", pdb,
              edn("[:db/id :name :last-name :age :email :sex :salary :alias {:friend [:db/id :name]}]"), eids, 0 },
            { "pull-wildcard-1000", pdb, edn("[*]"), eids, 0 },
            { "entity-1000", pdb, cairn_nil(), eids, 0 },
        };
        printf("cairn pull benches, N=%ld (ms per call, median of %d samples)\n", n, SAMPLES);
        for (size_t i = 0; i < sizeof benches / sizeof *benches; i++) {
            if (argc > 3 && strcmp(argv[3], benches[i].id) != 0)
                continue;
            time_bench(&benches[i], queries);
            cairn_release(benches[i].pattern);
        }
    }
    cairn_release(eids);
    cairn_release(queries);
    cairn_db_release(pdb);
    cairn_db_release(gdb);
    cairn_conn_release(people);
    cairn_conn_release(graph);
    free(schema);
    free(qtext);
    return 0;
}
