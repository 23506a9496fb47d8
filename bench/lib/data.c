/*
 * Benchmark data: generator, EDN file reading, facts, query set (data.h).
 */
#include "data.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- generator: a transcription of genPerson() in bench.js ---------------- */

static const char *const FIRST[100] = {
    "Ivan", "Petr", "Sergei", "Oleg", "Yuri", "Dmitry", "Fedor", "Denis",
    "Alexei", "Andrei", "Anton", "Arkady", "Boris", "Vadim", "Valentin", "Vasily", "Viktor", "Vladimir",
    "Gennady", "Georgy", "Grigory", "Evgeny", "Egor", "Ilya", "Kirill", "Konstantin", "Lev", "Leonid",
    "Maxim", "Mikhail", "Nikita", "Nikolai", "Pavel", "Roman", "Ruslan", "Semyon", "Stanislav", "Stepan",
    "Timur", "Filipp", "Eduard", "Yakov", "Artem", "Bogdan", "Gleb", "Danila", "Zakhar", "Igor",
    "Matvei", "Rostislav", "Alina", "Alla", "Anna", "Antonina", "Valentina", "Valeria", "Vera", "Galina",
    "Daria", "Ekaterina", "Elena", "Zhanna", "Zoya", "Inna", "Irina", "Kira", "Larisa", "Lidia",
    "Lyubov", "Lyudmila", "Margarita", "Marina", "Maria", "Nadezhda", "Natalia", "Nina", "Oksana", "Olga",
    "Polina", "Raisa", "Svetlana", "Sofia", "Tamara", "Tatiana", "Ulyana", "Yulia", "Yana", "Vasilisa",
    "Veronika", "Viktoria", "Diana", "Evgenia", "Kristina", "Ksenia", "Lilia", "Milana", "Taisia", "Eva",
    "Alisa", "Arina",
};
static const char *const LAST[100] = {
    "Ivanov", "Petrov", "Sidorov", "Kovalev", "Kuznetsov", "Voronoi",
    "Smirnov", "Popov", "Vasiliev", "Sokolov", "Mikhailov", "Novikov", "Fedorov", "Morozov", "Volkov", "Alekseev",
    "Lebedev", "Semenov", "Egorov", "Pavlov", "Kozlov", "Stepanov", "Nikolaev", "Orlov", "Andreev", "Makarov",
    "Nikitin", "Zakharov", "Zaitsev", "Soloviev", "Borisov", "Yakovlev", "Grigoriev", "Romanov", "Vorobiev", "Sergeev",
    "Frolov", "Aleksandrov", "Dmitriev", "Korolev", "Gusev", "Kiselev", "Ilyin", "Maksimov", "Polyakov", "Sorokin",
    "Vinogradov", "Kovalenko", "Belov", "Medvedev", "Antonov", "Tarasov", "Zhukov", "Baranov", "Filippov", "Komarov",
    "Davydov", "Belyaev", "Gerasimov", "Bogdanov", "Osipov", "Sidorenko", "Matveev", "Titov", "Markov", "Mironov",
    "Krylov", "Kulikov", "Karpov", "Vlasov", "Melnikov", "Denisov", "Gavrilov", "Tikhonov", "Kazakov", "Afanasiev",
    "Danilov", "Savelyev", "Timofeev", "Fomin", "Chernov", "Abramov", "Martynov", "Efimov", "Fedotov", "Shcherbakov",
    "Nazarov", "Kalinin", "Isaev", "Chernyshev", "Bykov", "Maslov", "Rodionov", "Konovalov", "Lazarev", "Voronin",
    "Klimov", "Filatov", "Ponomarev", "Golubev",
};
static const char *const ALIAS[11] = {
    "A. C. Q. W.", "A. J. Finn", "A.A. Fair", "Aapeli", "Aaron Wolfe", "Abigail Van Buren",
    "Jeanne Phillips", "Abram Tertz", "Abu Nuwas", "Acton Bell", "Adunis",
};

void bench_rng_init(bench_rng *r, uint32_t seed)
{
    r->state = seed;
}

uint32_t bench_rng_next(bench_rng *r)
{
    uint32_t t;
    r->state += 0x6D2B79F5u;
    t = r->state;
    t = (t ^ (t >> 15)) * (t | 1u);
    t ^= t + (t ^ (t >> 7)) * (t | 61u);
    return t ^ (t >> 14);
}

int64_t bench_rng_int(bench_rng *r, int64_t k)
{
    double rnd = (double)bench_rng_next(r) / 4294967296.0;
    return (int64_t)(rnd * (double)k);   /* both non-negative: truncation is floor */
}

static void add_lower(bench_str *out, const char *s)
{
    for (; *s; s++) {
        char c = *s >= 'A' && *s <= 'Z' ? (char)(*s - 'A' + 'a') : *s;
        bench_str_add(out, &c, 1);
    }
}

static int has(const int64_t *xs, int n, int64_t x)
{
    for (int i = 0; i < n; i++)
        if (xs[i] == x)
            return 1;
    return 0;
}

int bench_people_line(bench_str *out, bench_rng *r, int64_t i)
{
    const char *name = FIRST[bench_rng_int(r, 100)];
    const char *last = LAST[bench_rng_int(r, 100)];
    int64_t age = bench_rng_int(r, 101);
    const char *sex = (double)bench_rng_next(r) / 4294967296.0 < 0.5 ? "male" : "female";
    int64_t salary = bench_rng_int(r, 100000);
    int nalias = (int)bench_rng_int(r, 3), nfriend = 0;
    int64_t alias[3], friend[3];
    for (int k = 0; k < nalias;) {
        int64_t a = bench_rng_int(r, 11);
        if (!has(alias, k, a))
            alias[k++] = a;
    }
    bench_str_printf(out, "{:db/id %lld, :name \"%s\", :last-name \"%s\", :age %lld, :email \"", (long long)i, name,
                     last, (long long)age);
    add_lower(out, name);
    bench_str_add(out, ".", 1);
    add_lower(out, last);
    bench_str_printf(out, ".%lld@example.com\", :sex \"%s\", :salary %lld", (long long)i, sex, (long long)salary);
    if (nalias) {
        bench_str_adds(out, ", :alias [");
        for (int k = 0; k < nalias; k++)
            bench_str_printf(out, "%s\"%s\"", k ? " " : "", ALIAS[alias[k]]);
        bench_str_adds(out, "]");
    }
    if (i > 1) {
        int64_t want = 1 + bench_rng_int(r, 3);
        nfriend = (int)(want < i - 1 ? want : i - 1);
        for (int k = 0; k < nfriend;) {
            int64_t f = 1 + bench_rng_int(r, i - 1);
            if (!has(friend, k, f))
                friend[k++] = f;
        }
        bench_str_adds(out, ", :friend [");
        for (int k = 0; k < nfriend; k++)
            bench_str_printf(out, "%s%lld", k ? " " : "", (long long)friend[k]);
        bench_str_adds(out, "]");
    }
    bench_str_adds(out, "}");
    return 6 + nalias + nfriend;
}

static int64_t count_datoms(int64_t n, uint32_t seed)
{
    bench_rng r;
    bench_str line = BENCH_STR_INIT;
    int64_t datoms = 0;
    bench_rng_init(&r, seed);
    for (int64_t i = 1; i <= n; i++) {
        line.len = 0;
        datoms += bench_people_line(&line, &r, i);
    }
    bench_str_dispose(&line);
    return datoms;
}

int bench_people_write(const char *path, int64_t n, uint32_t seed, int64_t *datoms_out)
{
    int64_t datoms = count_datoms(n, seed);
    bench_str tmp = BENCH_STR_INIT, buf = BENCH_STR_INIT;
    bench_rng r;
    FILE *f;
    int ok;
    bench_str_printf(&tmp, "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp.ptr, "w");
    if (!f) {
        bench_str_dispose(&tmp);
        return -1;
    }
    fprintf(f, ";; people dataset N=%lld seed=%u datoms=%lld\n"
               ";; one entity map per line; line k (after comments) is entity :db/id k; transact in order, "
               "batches of 1000 lines\n"
               ";; generated by bench/bench.js (mulberry32 PRNG), schema in schema.edn\n",
            (long long)n, seed, (long long)datoms);
    bench_rng_init(&r, seed);
    for (int64_t i = 1; i <= n; i++) {
        bench_people_line(&buf, &r, i);
        bench_str_add(&buf, "\n", 1);
        if (buf.len >= (1u << 20) || i == n) {
            fwrite(buf.ptr, 1, buf.len, f);
            buf.len = 0;
        }
    }
    ok = !ferror(f);
    ok = fclose(f) == 0 && ok;
    ok = ok && rename(tmp.ptr, path) == 0;
    if (!ok)
        unlink(tmp.ptr);
    bench_str_dispose(&tmp);
    bench_str_dispose(&buf);
    if (ok && datoms_out)
        *datoms_out = datoms;
    return ok ? 0 : -1;
}

/* ---- reading ---------------------------------------------------------------- */

struct bench_forms {
    char *path;          /* for messages */
    void *map;           /* the mapped file */
    size_t len;          /* its length */
    cairn_edn_reader *r; /* over map */
};

int bench_forms_open(bench_forms **out, const char *path)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    bench_forms *f;
    if (fd < 0 || fstat(fd, &st) != 0) {
        fprintf(stderr, "bench: cannot open %s: %s\n", path, strerror(errno));
        if (fd >= 0)
            close(fd);
        return -1;
    }
    f = bench_xmalloc(sizeof *f);
    f->path = bench_xstrdup(path);
    f->len = (size_t)st.st_size;
    f->map = f->len ? mmap(NULL, f->len, PROT_READ, MAP_PRIVATE, fd, 0) : NULL;
    close(fd);
    if (f->map == MAP_FAILED) {
        fprintf(stderr, "bench: cannot map %s: %s\n", path, strerror(errno));
        free(f->path);
        free(f);
        return -1;
    }
    if (f->len)
        madvise(f->map, f->len, MADV_SEQUENTIAL);
    if (cairn_edn_reader_new(&f->r, f->map ? f->map : "", f->len, NULL) != 0)
        bench_oom();
    *out = f;
    return 0;
}

int bench_forms_next(bench_forms *f, cairn_val *out)
{
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_edn_reader_next(f->r, out, &err);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    if (rc != 0) {
        fprintf(stderr, "bench: %s:%d:%d: %s\n", f->path, err.line, err.column, err.message);
        exit(2);
    }
    return 1;
}

void bench_forms_close(bench_forms *f)
{
    if (!f)
        return;
    cairn_edn_reader_free(f->r);
    if (f->map)
        munmap(f->map, f->len);
    free(f->path);
    free(f);
}

int64_t bench_entity_datoms(cairn_val entity)
{
    int64_t datoms = 0;
    for (size_t i = 0; i < cairn_count(entity); i++) {
        cairn_val k = cairn_map_key_get(entity, i), v = cairn_map_val_get(entity, i);
        size_t len;
        if (cairn_type_of(k) == CAIRN_KEYWORD && !strcmp(cairn_ident_get(k, &len), "db/id"))
            continue;
        datoms += cairn_type_of(v) == CAIRN_VECTOR ? (int64_t)cairn_count(v) : 1;
    }
    return datoms;
}

cairn_val bench_read_edn_file(const char *path)
{
    bench_forms *f;
    cairn_val v;
    if (bench_forms_open(&f, path) != 0)
        exit(2);
    if (!bench_forms_next(f, &v)) {
        fprintf(stderr, "bench: %s holds no EDN value\n", path);
        exit(2);
    }
    bench_forms_close(f);
    return v;
}

cairn_val bench_kw(const char *text)
{
    cairn_val k;
    if (cairn_keyword(&k, text, strlen(text)) != 0)
        bench_oom();
    return k;
}

/* ---- facts ------------------------------------------------------------------ */

static int64_t *spread(size_t count, int64_t n)
{
    int64_t *eids = bench_xmalloc(count * sizeof *eids);
    for (size_t k = 0; k < count; k++)
        eids[k] = 1 + (int64_t)k * n / (int64_t)count;
    return eids;
}

void bench_facts_init(bench_facts *f, int64_t n)
{
    memset(f, 0, sizeof *f);
    f->n = n;
    f->entity_count = (size_t)(n < 1000 ? n : 1000);
    f->entity_eids = spread(f->entity_count, n);
    f->entity_score = calloc(f->entity_count ? f->entity_count : 1, sizeof *f->entity_score);
    f->lookup_count = (size_t)(n < 2000 ? n : 2000);
    f->lookup_eids = spread(f->lookup_count, n);
    f->lookup_emails = calloc(f->lookup_count ? f->lookup_count : 1, sizeof *f->lookup_emails);
    if (!f->entity_score || !f->lookup_emails)
        bench_oom();
}

static cairn_val field(cairn_val entity, const char *name)
{
    cairn_val v;
    return cairn_map_get(&v, entity, bench_kw(name)) ? v : cairn_nil();
}

static size_t str_len(cairn_val v)
{
    size_t len = 0;
    if (cairn_type_of(v) == CAIRN_STRING)
        cairn_str_get(v, &len);
    return len;
}

/* Spread eids are ascending and entities come in eid order, so a binary
 * search finds the slot (several k can share an eid only when n < K). */
static size_t find_slot(const int64_t *eids, size_t count, int64_t e)
{
    size_t lo = 0, hi = count;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (eids[mid] < e)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

void bench_facts_add(bench_facts *f, cairn_val entity)
{
    int64_t e = cairn_int_value(field(entity, "db/id"));
    cairn_val age = field(entity, "age"), email = field(entity, "email"), friends = field(entity, "friend");
    f->datoms += bench_entity_datoms(entity);
    if (cairn_type_of(age) == CAIRN_INT) {
        f->age_count++;
        f->age_sum += cairn_int_value(age);
    }
    for (size_t k = find_slot(f->entity_eids, f->entity_count, e); k < f->entity_count && f->entity_eids[k] == e; k++)
        f->entity_score[k] = (int64_t)(str_len(field(entity, "name")) + str_len(email)) + cairn_int_value(age) +
                             (int64_t)cairn_count(friends);
    for (size_t k = find_slot(f->lookup_eids, f->lookup_count, e); k < f->lookup_count && f->lookup_eids[k] == e; k++) {
        size_t len;
        free(f->lookup_emails[k]);
        f->lookup_emails[k] = bench_xstrdup(cairn_type_of(email) == CAIRN_STRING ? cairn_str_get(email, &len) : "");
    }
}

void bench_facts_dispose(bench_facts *f)
{
    for (size_t k = 0; k < f->lookup_count; k++)
        free(f->lookup_emails[k]);
    free(f->lookup_emails);
    free(f->lookup_eids);
    free(f->entity_score);
    free(f->entity_eids);
    memset(f, 0, sizeof *f);
}

/* ---- the query set ---------------------------------------------------------- */

static void bad_queries(const char *path, const char *what)
{
    fprintf(stderr, "bench: %s: %s\n", path, what);
    exit(2);
}

static char *text_of(cairn_val v, const char *path, const char *what)
{
    size_t len;
    if (cairn_type_of(v) == CAIRN_STRING)
        return bench_xstrdup(cairn_str_get(v, &len));
    if (cairn_type_of(v) == CAIRN_KEYWORD)
        return bench_xstrdup(cairn_name_get(v, &len));
    bad_queries(path, what);
    return NULL;
}

static void load_query(bench_query *q, cairn_val m, const char *path)
{
    cairn_val expected = field(m, "expected"), sha = field(expected, "sha256");
    char *kind = text_of(field(m, "kind"), path, "a query without :kind");
    size_t len;
    q->id = text_of(field(m, "id"), path, "a query without :id");
    q->group = text_of(field(m, "group"), path, "a query without :group");
    q->db = text_of(field(m, "db"), path, "a query without :db");
    q->kind = !strcmp(kind, "q") ? BENCH_Q : !strcmp(kind, "pull") ? BENCH_PULL : BENCH_PULL_MANY;
    if (strcmp(kind, "q") && strcmp(kind, "pull") && strcmp(kind, "pull-many"))
        bad_queries(path, "unknown :kind");
    free(kind);
    q->query = cairn_retain(field(m, "query"));
    q->args = cairn_retain(field(m, "args"));
    if (cairn_type_of(field(expected, "count")) != CAIRN_INT || cairn_type_of(sha) != CAIRN_STRING ||
        strlen(cairn_str_get(sha, &len)) != 64)
        bad_queries(path, "a query without :expected {:count :sha256}");
    q->expected.count = (size_t)cairn_int_value(field(expected, "count"));
    memcpy(q->expected.sha256, cairn_str_get(sha, &len), 65);
}

void bench_query_set_load(bench_query_set *out, const char *path)
{
    cairn_val top = bench_read_edn_file(path), qs = field(top, "queries");
    memset(out, 0, sizeof *out);
    if (cairn_type_of(top) != CAIRN_MAP || cairn_type_of(qs) != CAIRN_VECTOR)
        bad_queries(path, "not a {:queries [...]} map");
    out->n = cairn_int_value(field(top, "n"));
    out->datoms = cairn_int_value(field(top, "datoms"));
    out->count = cairn_count(qs);
    out->queries = calloc(out->count ? out->count : 1, sizeof *out->queries);
    if (!out->queries)
        bench_oom();
    for (size_t i = 0; i < out->count; i++)
        load_query(&out->queries[i], cairn_coll_get(qs, i), path);
    cairn_release(top);
}

void bench_query_set_dispose(bench_query_set *qs)
{
    for (size_t i = 0; i < qs->count; i++) {
        bench_query *q = &qs->queries[i];
        free(q->id);
        free(q->group);
        free(q->db);
        cairn_release(q->query);
        cairn_release(q->args);
    }
    free(qs->queries);
    memset(qs, 0, sizeof *qs);
}
