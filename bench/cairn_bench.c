/*
 * cairn_bench: the cairn side of the side-by-side benchmark against the
 * DataScript peer (../shared/bench). bench/run.sh runs it right after the
 * peer, on the same data, and bench/report.js puts the two side by side.
 *
 *   cairn_bench --people people-N.edn --queries queries-N.edn --graphs DIR
 *               --schema schema.edn --dir SCRATCH [options] [--out FILE]
 *
 * It loads people-N.edn in batches of 1000 entity maps into a file store
 * with fsync on (bulk-load-1000), measures the store's size, opens it cold
 * from a new process and asks q1 (cold-open-*), runs every query of
 * queries-N.edn and the API-level lookups (entity-1000, datoms-*), then the
 * write benchmarks (tx-entity from 1/4/16 threads, tx-datom,
 * retract-entity), and prints one JSON line per benchmark (stdout and --out).
 *
 * Honesty rules, which are the point of the harness:
 *  - every answer is checked before anything is timed: query answers against
 *    the peer's count and SHA-256 (lib/canon.c), API-level answers against
 *    facts taken from the data file, loads against the datoms in the file;
 *    a wrong answer gets status "wrong" and no time;
 *  - a function that says CAIRN_EUNSUPPORTED (the query engine and pull are
 *    not there yet) gets status "unavailable" and no time;
 *  - every figure carries load1 and cpu_util and a "contended" flag.
 *
 * Only include/cairn.h is used, as a user of the library would. The one
 * exception is a weak reference to cairn_entity_attr, which the header
 * declares but which no branch defines yet: linking must not fail on it,
 * and entity-1000 reports an error if it is still missing once
 * cairn_entity_get works. (A weak reference does not pull an archive member
 * in by itself; it resolves once the member defining cairn_entity_get, which
 * the pull branch puts beside it, is linked.)
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"
#include "lib/canon.h"
#include "lib/data.h"
#include "lib/measure.h"

#pragma weak cairn_entity_attr

extern char **environ;

#define TX0 536870912LL   /* first transaction id: user entities are below it */

/* The typed (schema-on-write) variant of schema.edn: the same uniqueness
 * and cardinalities, plus a :db/valueType and :db/cardinality for every
 * attribute of people-N.edn and the graphs. */
static const char TYPED_SCHEMA[] =
    "{:name {:db/valueType :db.type/string :db/cardinality :db.cardinality/one}"
    " :last-name {:db/valueType :db.type/string :db/cardinality :db.cardinality/one}"
    " :age {:db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
    " :email {:db/valueType :db.type/string :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}"
    " :sex {:db/valueType :db.type/string :db/cardinality :db.cardinality/one}"
    " :salary {:db/valueType :db.type/long :db/cardinality :db.cardinality/one}"
    " :alias {:db/valueType :db.type/string :db/cardinality :db.cardinality/many}"
    " :friend {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}"
    " :id {:db/valueType :db.type/long :db/cardinality :db.cardinality/one :db/unique :db.unique/identity}"
    " :follows {:db/valueType :db.type/ref :db/cardinality :db.cardinality/many}}";

static const char Q1[] = "[:find ?e :where [?e :name \"Ivan\"]]";

/* ---- options ----------------------------------------------------------------- */

static struct opts {
    const char *people;       /* people-N.edn */
    const char *queries;      /* queries-N.edn (optional) */
    const char *graphs;       /* graphs/ folder */
    const char *schema;       /* schema.edn */
    const char *dir;          /* scratch folder for stores */
    const char *out;          /* JSON lines appended here too */
    const char *backend;      /* "file" (default) or "mem" for the main db */
    const char *only;         /* comma list of ids or groups */
    const char *skip;         /* comma list of ids or groups */
    const char *threads;      /* tx-entity thread counts, "1,4,16" */
    int typed;                /* schema-on-write variant */
    int runs;                 /* bulk-load runs */
    int cold_runs;            /* cold-open processes */
    bench_timing_opts timing; /* query sampling */
    double max_first_ms;      /* a slower first call is reported alone */
    double tx_seconds;        /* time box of one write benchmark */
    long tx_count;            /* entities for tx-entity */
    long retract_count;       /* entities for retract-entity */
    uint32_t seed;            /* the data set's seed (retract order) */
    /* --cold-open-child mode */
    const char *child_dir;    /* store to open */
    double child_spawn_ms;    /* CLOCK_MONOTONIC of the parent's spawn */
    long child_count;         /* expected q1 count */
    const char *child_sha;    /* expected q1 SHA-256 */
} O = {
    .backend = "file", .threads = "1,4,16", .runs = 1, .cold_runs = 5,
    .timing = { 1000, 500, 5 }, .max_first_ms = 3000, .tx_seconds = 5, .tx_count = 20000,
    .retract_count = 20000, .seed = 42, .child_count = -1,
};

static int64_t N;          /* people in the data set */
static FILE *jsonl;        /* --out */
static bench_facts facts;  /* from the data file */

static void die(const char *fmt, const char *arg, const cairn_error *err)
{
    fprintf(stderr, "cairn_bench: ");
    fprintf(stderr, fmt, arg);
    if (err && err->code)
        fprintf(stderr, ": %s %s", err->keyword, err->message);
    fputc('\n', stderr);
    exit(1);
}

static int in_list(const char *list, const char *word)
{
    size_t len = strlen(word);
    for (const char *p = list; p && *p;) {
        const char *end = strchr(p, ',');
        size_t n = end ? (size_t)(end - p) : strlen(p);
        if (n == len && !strncmp(p, word, len))
            return 1;
        p = end ? end + 1 : NULL;
    }
    return 0;
}

static int want(const char *id, const char *group)
{
    if (O.only && !in_list(O.only, id) && !in_list(O.only, group))
        return 0;
    return !(O.skip && (in_list(O.skip, id) || in_list(O.skip, group)));
}

static void emit(bench_str *line)
{
    puts(line->ptr);
    fflush(stdout);
    if (jsonl) {
        fprintf(jsonl, "%s\n", line->ptr);
        fflush(jsonl);
    }
}

/* The fields every benchmark line starts with. */
static void head(bench_str *j, const char *id, const char *group)
{
    bench_json_begin(j);
    bench_json_str(j, "bench", id);
    bench_json_str(j, "group", group);
    bench_json_int(j, "n", N);
    bench_json_str(j, "schema", O.typed ? "write" : "read");
}

static int contended(double load1, double cpu_util, int threads)
{
    return load1 > bench_nproc() * 0.75 || (threads == 1 && cpu_util >= 0 && cpu_util < 0.9);
}

static void contention(bench_str *j, double load1, double cpu_util, int threads)
{
    bench_json_num(j, "load1", load1, 2);
    if (cpu_util >= 0)
        bench_json_num(j, "cpu_util", cpu_util, 2);
    bench_json_bool(j, "contended", contended(load1, cpu_util, threads));
}

/* A benchmark that produced no time: "unavailable", "wrong" or "error". */
static void emit_untimed(const char *id, const char *group, const char *status, const cairn_error *err,
                         const char *note)
{
    bench_str j = BENCH_STR_INIT;
    head(&j, id, group);
    bench_json_str(&j, "status", status);
    if (!strcmp(status, "wrong"))
        bench_json_bool(&j, "ok", 0);
    else
        bench_json_null(&j, "ok");
    if (err && err->code)
        bench_json_str(&j, "error", err->message[0] ? err->message : cairn_strerror(err->code));
    if (note)
        bench_json_str(&j, "note", note);
    bench_json_end(&j);
    emit(&j);
    fprintf(stderr, "  %-24s %s%s%s\n", id, status, err && err->code ? ": " : "", err && err->code ? err->message : "");
    bench_str_dispose(&j);
}

static const char *status_of(int rc)
{
    return rc == CAIRN_EUNSUPPORTED ? "unavailable" : "error";
}

/* ---- databases ------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path) != 0 && errno != ENOENT ? -1 : 0;
}

static void rm_rf(const char *path)
{
    nftw(path, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *schema_text(void)
{
    cairn_val schema;
    char *text = NULL;
    if (O.typed)
        return bench_xstrdup(TYPED_SCHEMA);
    schema = bench_read_edn_file(O.schema);
    if (cairn_edn_print(&text, NULL, schema) != 0)
        bench_oom();
    cairn_release(schema);
    char *copy = bench_xstrdup(text);
    cairn_free(text);
    return copy;
}

/* {:store ... :schema-flexibility ... :schema ...} for a file store at path
 * or a memory store named path. */
static cairn_val make_config(const char *backend, const char *path)
{
    static char *schema;
    bench_str t = BENCH_STR_INIT;
    cairn_val config;
    cairn_error err = CAIRN_ERROR_INIT;
    if (!schema)
        schema = schema_text();
    bench_str_printf(&t, "{:store {:backend :%s %s ", backend, strcmp(backend, "mem") ? ":path" : ":id");
    bench_json_quote(&t, path);
    bench_str_printf(&t, "} :schema-flexibility %s :schema %s}", O.typed ? ":write" : ":read", schema);
    if (cairn_edn_read(&config, t.ptr, t.len, NULL, &err) != 0)
        die("bad config %s", t.ptr, &err);
    bench_str_dispose(&t);
    return config;
}

/* A new empty database (anything at path is removed first), connected. */
static cairn_conn *fresh_db(const char *backend, const char *path)
{
    cairn_val config = make_config(backend, path);
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_conn *conn;
    if (!strcmp(backend, "file"))
        rm_rf(path);
    else
        cairn_delete_database(config, NULL);
    if (cairn_create_database(config, &err) != 0)
        die("cannot create the database %s", path, &err);
    if (cairn_connect(&conn, config, &err) != 0)
        die("cannot connect to %s", path, &err);
    cairn_release(config);
    return conn;
}

static cairn_db *db_of(cairn_conn *conn)
{
    cairn_db *db;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_conn_db(&db, conn, &err) != 0)
        die("cannot read the database%s", "", &err);
    return db;
}

static char *path_in(const char *name)
{
    bench_str p = BENCH_STR_INIT;
    bench_str_printf(&p, "%s/%s", O.dir, name);
    return bench_str_take(&p);
}

static cairn_val vector_of(size_t capacity)
{
    cairn_val v;
    if (cairn_vector_new(&v, capacity) != 0)
        bench_oom();
    return v;
}

static void push(cairn_val *coll, cairn_val v)
{
    if (cairn_coll_push_take(coll, v) != 0)
        bench_oom();
}

/* Datoms of user entities (ids below tx0): what a load must have stored. */
static int64_t count_user_datoms(const cairn_db *db)
{
    cairn_datoms *it;
    cairn_datom d;
    int64_t count = 0;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cairn_datoms_open(&it, db, CAIRN_INDEX_EAVT, cairn_nil(), &err) != 0)
        die("cannot scan EAVT%s", "", &err);
    while (cairn_datoms_next(it, &d) == 0)
        count += d.e < TX0;
    cairn_datoms_close(it);
    return count;
}

/* ---- bulk load ------------------------------------------------------------- */

struct load {
    double ms;       /* time in cairn_transact */
    double cpu_ms;   /* CPU time in cairn_transact */
    int64_t datoms;  /* datoms in the file */
    long batches;    /* transactions */
};

/* Loads the people file into conn, 1000 entity maps per transaction.
 * Reading and parsing the file is not timed (the peer's entity objects
 * exist before its timer starts too). */
static void load_people(struct load *out, cairn_conn *conn, int with_facts)
{
    bench_forms *f;
    cairn_val entity, batch = vector_of(1000);
    cairn_error err = CAIRN_ERROR_INIT;
    int more = 1;
    memset(out, 0, sizeof *out);
    if (bench_forms_open(&f, O.people) != 0)
        exit(2);
    while (more) {
        more = bench_forms_next(f, &entity);
        if (more) {
            out->datoms += bench_entity_datoms(entity);
            if (with_facts)
                bench_facts_add(&facts, entity);
            push(&batch, entity);
        }
        if (cairn_count(batch) == 1000 || (!more && cairn_count(batch))) {
            double t0 = bench_now_ms(), c0 = bench_cpu_ms();
            if (cairn_transact(NULL, conn, batch, cairn_nil(), &err) != 0)
                die("bulk load: batch %s failed", "", &err);
            out->ms += bench_now_ms() - t0;
            out->cpu_ms += bench_cpu_ms() - c0;
            out->batches++;
            cairn_release(batch);
            batch = vector_of(1000);
        }
    }
    cairn_release(batch);
    bench_forms_close(f);
}

/* Runs the bulk load O.runs times into fresh stores; the last one stays as
 * the main database. */
static cairn_conn *bench_bulk_load(const char *main_path)
{
    double runs_ms[BENCH_MAX_SAMPLES], cpu[BENCH_MAX_SAMPLES];
    int runs = O.runs < 1 ? 1 : O.runs > BENCH_MAX_SAMPLES ? BENCH_MAX_SAMPLES : O.runs;
    struct load l = { 0, 0, 0, 0 };
    cairn_conn *conn = NULL;
    bench_str j = BENCH_STR_INIT;
    for (int r = 0; r < runs; r++) {
        cairn_conn_release(conn);
        conn = fresh_db(O.backend, main_path);
        load_people(&l, conn, r == 0);
        runs_ms[r] = l.ms;
        cpu[r] = l.cpu_ms / l.ms;
        fprintf(stderr, "  bulk-load run %d: %.0f ms (%.0f datoms/s)\n", r + 1, l.ms, (double)l.datoms / l.ms * 1e3);
    }
    cairn_db *db = db_of(conn);
    int64_t stored = count_user_datoms(db);
    double m = bench_median(runs_ms, runs);
    cairn_db_release(db);
    head(&j, "bulk-load-1000", "write");
    bench_json_str(&j, "backend", O.backend);
    bench_json_str(&j, "status", stored == l.datoms ? "ok" : "wrong");
    bench_json_bool(&j, "ok", stored == l.datoms);
    bench_json_int(&j, "datoms", l.datoms);
    bench_json_int(&j, "datoms_stored", stored);
    bench_json_int(&j, "batches", l.batches);
    bench_json_nums(&j, "runs_ms", runs_ms, runs, 1);
    if (stored == l.datoms) {
        bench_json_num(&j, "median_ms", m, 3);
        bench_json_num(&j, "min_ms", bench_min(runs_ms, runs), 3);
        bench_json_num(&j, "max_ms", bench_max(runs_ms, runs), 3);
        bench_json_num(&j, "datoms_per_s", (double)l.datoms / m * 1e3, 0);
        bench_json_num(&j, "entities_per_s", (double)N / m * 1e3, 0);
        bench_json_num(&j, "tx_per_s", (double)l.batches / m * 1e3, 1);
    }
    bench_json_nums(&j, "cpu_util", cpu, runs, 2);
    contention(&j, bench_load1(), -1, 0);
    bench_json_str(&j, "note", strcmp(O.backend, "file")
                                   ? "1000 entity maps per cairn_transact, memory store (not durable)"
                                   : "1000 entity maps per cairn_transact, file store, fsync on every commit");
    bench_json_end(&j);
    emit(&j);
    bench_str_dispose(&j);
    return conn;
}

/* ---- size on disk -------------------------------------------------------------- */

static struct du { int64_t bytes, blocks, files; } du_acc;

static int du_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)path, (void)ftw;
    if (flag == FTW_F) {
        du_acc.bytes += st->st_size;
        du_acc.blocks += (int64_t)st->st_blocks * 512;
        du_acc.files++;
    }
    return 0;
}

static void bench_size(const char *id, const char *path, int64_t datoms, const char *note)
{
    bench_str j = BENCH_STR_INIT;
    memset(&du_acc, 0, sizeof du_acc);
    nftw(path, du_entry, 16, FTW_PHYS);
    head(&j, id, "size");
    bench_json_str(&j, "status", "ok");
    bench_json_null(&j, "ok");
    bench_json_int(&j, "datoms", datoms);
    bench_json_int(&j, "bytes", du_acc.bytes);
    bench_json_int(&j, "bytes_allocated", du_acc.blocks);
    bench_json_int(&j, "files", du_acc.files);
    bench_json_num(&j, "bytes_per_datom", (double)du_acc.bytes / (double)datoms, 2);
    bench_json_num(&j, "allocated_per_datom", (double)du_acc.blocks / (double)datoms, 2);
    bench_json_str(&j, "note", note);
    bench_json_end(&j);
    emit(&j);
    fprintf(stderr, "  %-24s %.2f bytes/datom (%lld bytes in %lld files)\n", id, (double)du_acc.bytes / (double)datoms,
            (long long)du_acc.bytes, (long long)du_acc.files);
    bench_str_dispose(&j);
}

/* ---- garbage collection ------------------------------------------------------------ */

/*
 * gc-storage with remove-before = now on the loaded store: every commit of
 * the load but the head goes (its history trees still hold every
 * transaction), then the store's size again. The head value the queries use
 * is kept, so the benchmarks after this one read the same database.
 */
static void bench_gc(cairn_conn *conn, const char *path, int64_t datoms)
{
    bench_str j = BENCH_STR_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_gc_stats st;
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double t0 = bench_now_ms();
    if (cairn_gc_storage(conn, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + 1, &st, &err) < 0)
        die("gc-storage: %s", "", &err);
    double ms = bench_now_ms() - t0;
    fprintf(stderr, "  %-24s ok: %.0f ms, %lld commits and %lld nodes kept, %lld nodes deleted\n", "gc-storage", ms,
            (long long)st.commits, (long long)st.kept, (long long)st.deleted);
    head(&j, "gc-storage", "size");
    bench_json_str(&j, "status", "ok");
    bench_json_null(&j, "ok");
    bench_json_num(&j, "median_ms", ms, 3);
    bench_json_int(&j, "commits_kept", st.commits);
    bench_json_int(&j, "nodes_kept", st.kept);
    bench_json_int(&j, "nodes_deleted", st.deleted);
    bench_json_str(&j, "note", "cairn_gc_storage(conn, now): keeps the head commit only (remove-before = now)");
    bench_json_end(&j);
    emit(&j);
    bench_str_dispose(&j);
    bench_size("size-after-gc", path, datoms,
               "file store after bulk-load-1000 and gc-storage with remove-before = now: the head commit's nodes");
}

/* ---- one transaction: the load floor and the size of one commit ----------------------- */

/* All N entity maps in one cairn_transact (the peer's counterpart is
 * init-db, its bulk build that skips transaction logic). The store then
 * holds one commit's nodes, which is the size of the index itself. */
static void bench_load_one_tx(void)
{
    char *path = path_in("one-tx");
    cairn_conn *conn = fresh_db(O.backend, path);
    cairn_val tx = vector_of((size_t)N), entity;
    cairn_error err = CAIRN_ERROR_INIT;
    bench_forms *f;
    bench_str j = BENCH_STR_INIT;
    int64_t datoms = 0;
    if (bench_forms_open(&f, O.people) != 0)
        exit(2);
    while (bench_forms_next(f, &entity)) {
        datoms += bench_entity_datoms(entity);
        push(&tx, entity);
    }
    bench_forms_close(f);
    double t0 = bench_now_ms(), c0 = bench_cpu_ms();
    int rc = cairn_transact(NULL, conn, tx, cairn_nil(), &err);
    double ms = bench_now_ms() - t0, cpu = (bench_cpu_ms() - c0) / ms;
    cairn_release(tx);
    if (rc != 0) {
        emit_untimed("load-one-tx", "write", status_of(rc), &err, NULL);
    } else {
        cairn_db *db = db_of(conn);
        int64_t stored = count_user_datoms(db);
        cairn_db_release(db);
        head(&j, "load-one-tx", "write");
        bench_json_str(&j, "backend", O.backend);
        bench_json_str(&j, "status", stored == datoms ? "ok" : "wrong");
        bench_json_bool(&j, "ok", stored == datoms);
        bench_json_int(&j, "datoms", datoms);
        bench_json_int(&j, "datoms_stored", stored);
        if (stored == datoms) {
            bench_json_num(&j, "median_ms", ms, 3);
            bench_json_num(&j, "datoms_per_s", (double)datoms / ms * 1e3, 0);
        }
        contention(&j, bench_load1(), cpu, 1);
        bench_json_str(&j, "note", "all N entity maps in one cairn_transact (single run)");
        bench_json_end(&j);
        emit(&j);
        fprintf(stderr, "  load-one-tx              %.0f ms (%.0f datoms/s)\n", ms, (double)datoms / ms * 1e3);
        if (!strcmp(O.backend, "file") && want("size-one-commit", "size"))
            bench_size("size-one-commit", path, datoms, "file store holding the one commit of load-one-tx");
    }
    cairn_conn_release(conn);
    rm_rf(path);
    free(path);
    bench_str_dispose(&j);
}

/* ---- cold open ----------------------------------------------------------------- */

/* What one cold-open child reports. */
struct cold {
    char status[16];   /* ok, wrong, unavailable, error */
    char why[256];     /* q1's error message, or empty */
    double exec_ms;    /* spawn -> main() */
    double open_ms;    /* main() -> db value */
    double q1_ms;      /* db value -> q1 answer */
    double total_ms;   /* spawn -> q1 answer */
    double datom_ms;   /* spawn -> first datom read (always measured) */
    double wall_ms;    /* spawn -> child exited (parent's clock) */
};

static int first_datom(const cairn_db *db)
{
    cairn_datoms *it;
    cairn_datom d;
    int rc = cairn_datoms_open(&it, db, CAIRN_INDEX_EAVT, cairn_nil(), NULL);
    if (rc == 0) {
        rc = cairn_datoms_next(it, &d);
        cairn_datoms_close(it);
    }
    return rc;
}

/* The child: open the store, answer q1, print one line for the parent. */
static int cold_open_child(void)
{
    double t_main = bench_now_ms(), t_open, t_q1 = 0, t_datom;
    cairn_val config = make_config("file", O.child_dir), q, res;
    cairn_error err = CAIRN_ERROR_INIT;
    const char *status = "ok", *why = "";
    cairn_conn *conn;
    cairn_db *db;
    if (cairn_connect(&conn, config, &err) != 0 || cairn_conn_db(&db, conn, &err) != 0)
        die("cold open: cannot open %s", O.child_dir, &err);
    t_open = bench_now_ms();
    if (cairn_edn_read(&q, Q1, strlen(Q1), NULL, &err) != 0)
        die("bad query %s", Q1, &err);
    cairn_input in = cairn_input_db(db);
    int rc = cairn_q(&res, q, &in, 1, NULL, &err);
    if (rc == 0) {
        bench_sig sig;
        t_q1 = bench_now_ms();
        bench_sig_q(&sig, res);
        if (O.child_count >= 0 && (sig.count != (size_t)O.child_count || strcmp(sig.sha256, O.child_sha)))
            status = "wrong";
        cairn_release(res);
    } else {
        status = status_of(rc);
        why = err.message;
    }
    rc = first_datom(db);
    t_datom = bench_now_ms();
    printf("%s %.4f %.4f %.4f %.4f %.4f %s\n", status, t_main - O.child_spawn_ms, t_open - t_main,
           t_q1 ? t_q1 - t_open : 0.0, t_q1 ? t_q1 - O.child_spawn_ms : 0.0, rc == 0 ? t_datom - O.child_spawn_ms : -1,
           why);
    cairn_release(q);
    cairn_db_release(db);
    cairn_conn_release(conn);
    cairn_release(config);
    return 0;
}

static int drop_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)ftw;
    if (flag == FTW_F) {
        int fd = open(path, O_RDONLY);
        if (fd >= 0) {
            posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
            close(fd);
        }
    }
    return 0;
}

/* Runs one child; returns 0 and fills c, or -1. */
static int spawn_child(struct cold *c, const char *path, const bench_query *q1)
{
    char spawn[32], count[32];
    int fds[2], status;
    pid_t pid;
    posix_spawn_file_actions_t fa;
    char buf[1024] = { 0 };
    size_t got = 0;
    ssize_t n;
    const char *argv[24];
    int a = 0;
    snprintf(count, sizeof count, "%ld", q1 ? (long)q1->expected.count : -1L);
    argv[a++] = "cairn_bench";
    argv[a++] = "--cold-open-child";
    argv[a++] = path;
    argv[a++] = "--schema";
    argv[a++] = O.schema;
    if (O.typed)
        argv[a++] = "--typed";
    argv[a++] = "--expect-count";
    argv[a++] = count;
    argv[a++] = "--expect-sha";
    argv[a++] = q1 ? q1->expected.sha256 : "-";
    argv[a++] = "--spawn-ms";
    int spawn_arg = a++;
    argv[a] = NULL;
    if (pipe(fds) != 0)
        return -1;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
    posix_spawn_file_actions_addclose(&fa, fds[0]);
    double t0 = bench_now_ms();
    snprintf(spawn, sizeof spawn, "%.4f", t0);
    argv[spawn_arg] = spawn;
    int rc = posix_spawn(&pid, "/proc/self/exe", &fa, NULL, (char *const *)argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(fds[1]);
    if (rc != 0) {
        close(fds[0]);
        return -1;
    }
    while (got < sizeof buf - 1 && (n = read(fds[0], buf + got, sizeof buf - 1 - got)) > 0)
        got += (size_t)n;
    close(fds[0]);
    waitpid(pid, &status, 0);
    c->wall_ms = bench_now_ms() - t0;
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        sscanf(buf, "%15s %lf %lf %lf %lf %lf %255[^\n]", c->status, &c->exec_ms, &c->open_ms, &c->q1_ms,
               &c->total_ms, &c->datom_ms, c->why) < 6)
        return -1;
    return 0;
}

static void emit_cold(const char *id, struct cold *cs, int runs, int drop)
{
    double total[BENCH_MAX_SAMPLES], open[BENCH_MAX_SAMPLES], wall[BENCH_MAX_SAMPLES], datom[BENCH_MAX_SAMPLES],
        exec[BENCH_MAX_SAMPLES];
    bench_str j = BENCH_STR_INIT;
    int ok = !strcmp(cs[0].status, "ok");
    for (int r = 0; r < runs; r++) {
        total[r] = cs[r].total_ms;
        exec[r] = cs[r].exec_ms;
        open[r] = cs[r].open_ms;
        wall[r] = cs[r].wall_ms;
        datom[r] = cs[r].datom_ms;
        ok = ok && !strcmp(cs[r].status, "ok");
    }
    head(&j, id, "open");
    bench_json_str(&j, "status", ok ? "ok" : cs[0].status);
    if (ok || !strcmp(cs[0].status, "wrong"))
        bench_json_bool(&j, "ok", ok);
    else
        bench_json_null(&j, "ok");
    if (!ok && cs[0].why[0]) {
        bench_str why = BENCH_STR_INIT;
        bench_str_printf(&why, "q1: %s", cs[0].why);
        bench_json_str(&j, "error", why.ptr);
        bench_str_dispose(&why);
    }
    if (ok) {
        bench_json_num(&j, "median_ms", bench_median(total, runs), 3);
        bench_json_num(&j, "min_ms", bench_min(total, runs), 3);
        bench_json_num(&j, "max_ms", bench_max(total, runs), 3);
        bench_json_nums(&j, "samples_ms", total, runs, 3);
    }
    bench_json_num(&j, "exec_ms", bench_median(exec, runs), 3);
    bench_json_num(&j, "open_ms", bench_median(open, runs), 3);
    bench_json_num(&j, "first_datom_ms", bench_median(datom, runs), 3);
    bench_json_num(&j, "process_wall_ms", bench_median(wall, runs), 3);
    contention(&j, bench_load1(), -1, 0);
    bench_json_str(&j, "note", drop ? "new process: open the file store and answer q1, the store's files dropped "
                                      "from the page cache first (posix_fadvise DONTNEED); time from spawn"
                                    : "new process: open the file store and answer q1, page cache warm; time from "
                                      "spawn");
    bench_json_end(&j);
    emit(&j);
    fprintf(stderr, "  %-24s %s, exec %.2f ms, open %.2f ms, first datom %.2f ms after spawn%s\n", id,
            ok ? "ok" : cs[0].status, bench_median(exec, runs), bench_median(open, runs), bench_median(datom, runs),
            ok ? "" : " (q1 not answered)");
    bench_str_dispose(&j);
}

static void bench_cold_open(const char *path, const bench_query *q1)
{
    struct cold cs[BENCH_MAX_SAMPLES];
    int runs = O.cold_runs < 1 ? 1 : O.cold_runs > BENCH_MAX_SAMPLES ? BENCH_MAX_SAMPLES : O.cold_runs;
    for (int drop = 1; drop >= 0; drop--) {
        const char *id = drop ? "cold-open-q1" : "warm-open-q1";
        if (!want(id, "open"))
            continue;
        for (int r = 0; r < runs; r++) {
            if (drop)
                nftw(path, drop_entry, 16, FTW_PHYS);
            memset(&cs[r], 0, sizeof cs[r]);
            if (spawn_child(&cs[r], path, q1) != 0) {
                cairn_error err = { CAIRN_ERROR, 0, 0, ":bench/child", "the cold-open process failed" };
                emit_untimed(id, "open", "error", &err, NULL);
                return;
            }
        }
        emit_cold(id, cs, runs, drop);
    }
}

/* ---- timed benchmarks: the common record ---------------------------------------- */

struct timed {
    const char *id;         /* bench id */
    const char *group;      /* bench group */
    double first_ms;        /* the checked first call */
    const bench_timing *t;  /* the samples */
    int single_run;         /* first call too slow: it is the only sample */
    const bench_sig *sig;   /* the answer (checked) */
    long ops;               /* operations per call (lookups, entities), or 0 */
    const char *note;       /* or NULL */
};

static void emit_timed(const struct timed *m)
{
    bench_str j = BENCH_STR_INIT;
    head(&j, m->id, m->group);
    bench_json_str(&j, "status", "ok");
    bench_json_bool(&j, "ok", 1);
    bench_json_num(&j, "first_call_ms", m->first_ms, 4);
    bench_json_num(&j, "median_ms", m->t->median_ms, 5);
    bench_json_num(&j, "min_ms", m->t->min_ms, 5);
    bench_json_num(&j, "max_ms", m->t->max_ms, 5);
    bench_json_nums(&j, "samples_ms", m->t->samples_ms, m->t->nsamples, 5);
    bench_json_int(&j, "calls", m->t->calls);
    if (m->single_run)
        bench_json_bool(&j, "single_run", 1);
    bench_json_int(&j, "result_count", (int64_t)m->sig->count);
    bench_json_str(&j, "result_sha256", m->sig->sha256);
    if (m->ops) {
        bench_json_int(&j, "ops_per_call", m->ops);
        bench_json_num(&j, "us_per_op", m->t->median_ms * 1e3 / (double)m->ops, 3);
    }
    contention(&j, m->t->load1, m->single_run ? -1 : m->t->cpu_util, 1);
    if (m->note)
        bench_json_str(&j, "note", m->note);
    bench_json_end(&j);
    emit(&j);
    fprintf(stderr, "  %-24s %10.4f ms  (%zu results)%s\n", m->id, m->t->median_ms, m->sig->count,
            contended(m->t->load1, m->t->cpu_util, 1) ? "  [contended]" : "");
    bench_str_dispose(&j);
}

static void emit_wrong(const char *id, const char *group, const bench_sig *got, const bench_sig *expected)
{
    bench_str j = BENCH_STR_INIT;
    head(&j, id, group);
    bench_json_str(&j, "status", "wrong");
    bench_json_bool(&j, "ok", 0);
    bench_json_int(&j, "result_count", (int64_t)got->count);
    bench_json_str(&j, "result_sha256", got->sha256);
    bench_json_int(&j, "expected_count", (int64_t)expected->count);
    bench_json_str(&j, "expected_sha256", expected->sha256);
    bench_json_end(&j);
    emit(&j);
    fprintf(stderr, "  %-24s WRONG ANSWER: %zu rows (expected %zu), no time reported\n", id, got->count,
            expected->count);
    bench_str_dispose(&j);
}

/* Times fn after its first call was checked: the peer's rules for slow
 * calls (one sample when the first call is very slow, three samples with no
 * warm-up when it is slow or id is a rule-reach query). */
static int time_checked(struct timed *m, bench_timing *t, bench_call fn, void *payload)
{
    bench_timing_opts o = O.timing;
    m->t = t;
    if (m->first_ms > O.max_first_ms) {
        memset(t, 0, sizeof *t);
        t->median_ms = t->min_ms = t->max_ms = t->samples_ms[0] = m->first_ms;
        t->nsamples = 1;
        t->calls = 1;
        t->load1 = bench_load1();
        m->single_run = 1;
        return 0;
    }
    if (m->first_ms > 1000 || !strncmp(m->id, "rule-reach", 10)) {
        o.warmup_ms = o.sample_ms = 0;
        o.samples = 3;
    }
    return bench_time(t, &o, fn, payload);
}

/* ---- queries and pulls ------------------------------------------------------------ */

struct graph {
    char *name;        /* "wide-3x3" */
    cairn_conn *conn;  /* its database, or NULL when loading failed */
    cairn_db *db;      /* its value */
    cairn_error err;   /* why loading failed */
};

static struct graph graphs[16];
static int ngraphs;

static struct graph *graph_db(const char *name)
{
    for (int i = 0; i < ngraphs; i++)
        if (!strcmp(graphs[i].name, name))
            return &graphs[i];
    if (ngraphs == (int)(sizeof graphs / sizeof graphs[0]))
        die("too many graph data sets%s", "", NULL);
    struct graph *g = &graphs[ngraphs++];
    bench_str file = BENCH_STR_INIT, store = BENCH_STR_INIT;
    bench_forms *f;
    cairn_val entity, tx = vector_of(64);
    memset(g, 0, sizeof *g);
    g->name = bench_xstrdup(name);
    bench_str_printf(&file, "%s/%s.edn", O.graphs, name);
    bench_str_printf(&store, "%s/graph-%s", O.dir, name);
    if (bench_forms_open(&f, file.ptr) != 0)
        exit(2);
    while (bench_forms_next(f, &entity))
        push(&tx, entity);
    bench_forms_close(f);
    g->conn = fresh_db(O.backend, store.ptr);
    if (cairn_transact(NULL, g->conn, tx, cairn_nil(), &g->err) != 0) {
        cairn_conn_release(g->conn);
        g->conn = NULL;
    } else {
        g->db = db_of(g->conn);
    }
    cairn_release(tx);
    bench_str_dispose(&file);
    bench_str_dispose(&store);
    return g;
}

struct qrun {
    const bench_query *q;  /* the query */
    const cairn_db *db;    /* its database */
    cairn_input in[8];     /* $ and the :args */
    size_t nin;            /* inputs used */
    cairn_val first;       /* the first call's result, kept for the check */
    int keep;              /* keep the next result in first */
    cairn_error err;       /* the last failure */
};

static int q_call(void *payload)
{
    struct qrun *r = payload;
    cairn_val out;
    int rc;
    if (r->q->kind == BENCH_Q)
        rc = cairn_q(&out, r->q->query, r->in, r->nin, NULL, &r->err);
    else if (r->q->kind == BENCH_PULL)
        rc = cairn_pull(&out, r->db, r->q->query, cairn_coll_get(r->q->args, 0), &r->err);
    else
        rc = cairn_pull_many(&out, r->db, r->q->query, cairn_coll_get(r->q->args, 0), &r->err);
    if (rc != 0)
        return rc;
    if (r->keep)
        r->first = out;
    else
        cairn_release(out);
    r->keep = 0;
    return 0;
}

static void run_query(const bench_query *q, const cairn_db *people)
{
    struct qrun r;
    struct timed m = { q->id, q->group, 0, NULL, 0, NULL, 0, NULL };
    bench_timing t;
    bench_sig sig;
    memset(&r, 0, sizeof r);
    r.q = q;
    r.db = people;
    if (strncmp(q->db, "graph/", 6) == 0) {
        struct graph *g = graph_db(q->db + 6);
        if (!g->db) {
            emit_untimed(q->id, q->group, status_of(g->err.code), &g->err, "loading the graph data set failed");
            return;
        }
        r.db = g->db;
    }
    r.in[r.nin++] = cairn_input_db(r.db);
    for (size_t i = 0; i < cairn_count(q->args) && r.nin < 8; i++)
        r.in[r.nin++] = cairn_input_val(cairn_coll_get(q->args, i));
    r.keep = 1;
    double t0 = bench_now_ms();
    int rc = q_call(&r);
    m.first_ms = bench_now_ms() - t0;
    if (rc != 0) {
        emit_untimed(q->id, q->group, status_of(rc), &r.err, NULL);
        return;
    }
    if (q->kind == BENCH_Q)
        bench_sig_q(&sig, r.first);
    else if (q->kind == BENCH_PULL)
        bench_sig_pull(&sig, r.first);
    else
        bench_sig_pull_many(&sig, r.first);
    cairn_release(r.first);
    if (sig.count != q->expected.count || strcmp(sig.sha256, q->expected.sha256)) {
        emit_wrong(q->id, q->group, &sig, &q->expected);
        return;
    }
    m.sig = &sig;
    if (q->kind == BENCH_PULL_MANY)
        m.ops = (long)cairn_count(cairn_coll_get(q->args, 0));
    if ((rc = time_checked(&m, &t, q_call, &r)) != 0) {
        emit_untimed(q->id, q->group, "error", &r.err, "a timed call failed after the checked one");
        return;
    }
    emit_timed(&m);
}

static void bench_queries(const bench_query_set *qs, const cairn_db *people)
{
    for (size_t i = 0; i < qs->count; i++)
        if (want(qs->queries[i].id, qs->queries[i].group))
            run_query(&qs->queries[i], people);
}

/* ---- API-level reads: entity, datoms -------------------------------------------- */

/* One API-level benchmark: fn fills rows[i] with the canonical text of its
 * i-th answer; the rows are checked against the data file's facts. */
struct api {
    const cairn_db *db;   /* the people database */
    size_t count;         /* operations per call */
    cairn_val *comps;     /* per operation: the datoms components */
    int64_t *got;         /* per operation: the integer answer */
    char **got_text;      /* per operation: the string answer (copied when check is set) */
    int check;            /* this call's answers are checked: keep copies */
    cairn_val kw[4];      /* attribute keywords */
    cairn_error err;      /* the last failure */
};

static int sized(const cairn_val v)
{
    size_t len = 0;
    if (cairn_type_of(v) == CAIRN_STRING)
        cairn_str_get(v, &len);
    return (int)len;
}

static int entity_call(void *payload)
{
    struct api *a = payload;
    for (size_t k = 0; k < a->count; k++) {
        cairn_entity *e;
        cairn_val v[4];
        int rc = cairn_entity_get(&e, a->db, cairn_int(facts.entity_eids[k]), &a->err);
        if (rc != 0)
            return rc;
        if (!e) {
            a->err.code = CAIRN_ENOTFOUND;
            snprintf(a->err.message, sizeof a->err.message, "entity %lld not found", (long long)facts.entity_eids[k]);
            return CAIRN_ENOTFOUND;
        }
        if (!cairn_entity_attr) {
            cairn_entity_free(e);
            a->err.code = CAIRN_ERROR;
            snprintf(a->err.message, sizeof a->err.message, "cairn_entity_attr is not linked into the library");
            return CAIRN_ERROR;
        }
        for (int i = 0; i < 4; i++)
            if ((rc = cairn_entity_attr(&v[i], e, a->kw[i], &a->err)) != 0) {
                while (i--)
                    cairn_release(v[i]);
                cairn_entity_free(e);
                return rc;
            }
        a->got[k] = sized(v[0]) + sized(v[2]) + cairn_int_value(v[1]) + (int64_t)cairn_count(v[3]);
        for (int i = 0; i < 4; i++)
            cairn_release(v[i]);
        cairn_entity_free(e);
    }
    return 0;
}

/* One datom per lookup: its value (EAVT) or entity (AVET). */
static int lookup_call(void *payload, cairn_index index)
{
    struct api *a = payload;
    for (size_t k = 0; k < a->count; k++) {
        cairn_datoms *it;
        cairn_datom d;
        int rc = cairn_datoms_open(&it, a->db, index, a->comps[k], &a->err);
        if (rc != 0)
            return rc;
        rc = cairn_datoms_next(it, &d);
        if (rc == 0 && index == CAIRN_INDEX_EAVT) {
            size_t len = 0;
            const char *text = cairn_type_of(d.v) == CAIRN_STRING ? cairn_str_get(d.v, &len) : NULL;
            a->got[k] = (int64_t)len;
            if (a->check) {
                free(a->got_text[k]);
                a->got_text[k] = text ? bench_xstrdup(text) : NULL;
            }
        } else if (rc == 0) {
            a->got[k] = d.e;
        }
        cairn_datoms_close(it);
        if (rc == CAIRN_ENOTFOUND)
            a->got[k] = -1;
        else if (rc != 0)
            return rc;
    }
    return 0;
}

static int eavt_call(void *payload)
{
    return lookup_call(payload, CAIRN_INDEX_EAVT);
}

static int avet_call(void *payload)
{
    return lookup_call(payload, CAIRN_INDEX_AVET);
}

static int scan_call(void *payload)
{
    struct api *a = payload;
    cairn_datoms *it;
    cairn_datom d;
    int64_t count = 0, sum = 0;
    int rc = cairn_datoms_open(&it, a->db, CAIRN_INDEX_AEVT, a->comps[0], &a->err);
    if (rc != 0)
        return rc;
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        count++;
        sum += cairn_int_value(d.v);
    }
    cairn_datoms_close(it);
    a->got[0] = count;
    a->got[1] = sum;
    return rc == CAIRN_ENOTFOUND ? 0 : rc;
}

/* A components vector [a b] (or [a] when b is nil); a and b are borrowed. */
static cairn_val comps2(cairn_val a, cairn_val b)
{
    cairn_val v = vector_of(2);
    push(&v, cairn_retain(a));
    if (cairn_type_of(b) != CAIRN_NIL)
        push(&v, cairn_retain(b));
    return v;
}

/* The canonical rows of the expected and the actual answers. */
static void api_sigs(bench_sig *got, bench_sig *want_sig, const char *id, const struct api *a)
{
    size_t rows = !strcmp(id, "datoms-aevt-scan-age") ? 2 : a->count;
    char **g = bench_xmalloc(rows * sizeof *g), **w = bench_xmalloc(rows * sizeof *w);
    for (size_t k = 0; k < rows; k++) {
        bench_str gs = BENCH_STR_INIT, ws = BENCH_STR_INIT;
        if (!strcmp(id, "datoms-eavt-2000")) {
            bench_json_quote(&gs, a->got_text[k] ? a->got_text[k] : "(none)");
            bench_json_quote(&ws, facts.lookup_emails[k]);
        } else {
            bench_str_printf(&gs, "%lld", (long long)a->got[k]);
            bench_str_printf(&ws, "%lld", (long long)(!strcmp(id, "entity-1000")        ? facts.entity_score[k]
                                                      : !strcmp(id, "datoms-avet-2000") ? facts.lookup_eids[k]
                                                      : k == 0                          ? facts.age_count
                                                                                        : facts.age_sum));
        }
        g[k] = bench_str_take(&gs);
        w[k] = bench_str_take(&ws);
    }
    bench_sig_rows(got, g, rows, 0);
    bench_sig_rows(want_sig, w, rows, 0);
    for (size_t k = 0; k < rows; k++) {
        free(g[k]);
        free(w[k]);
    }
    free(g);
    free(w);
}

static void run_api(const char *id, const char *group, bench_call fn, struct api *a, long ops, const char *note)
{
    struct timed m = { id, group, 0, NULL, 0, NULL, ops, note };
    bench_sig got, expected;
    bench_timing t;
    double t0 = bench_now_ms();
    a->check = 1;
    int rc = fn(a);
    m.first_ms = bench_now_ms() - t0;
    a->check = 0;
    if (rc != 0) {
        emit_untimed(id, group, status_of(rc), &a->err, NULL);
        return;
    }
    api_sigs(&got, &expected, id, a);
    if (strcmp(got.sha256, expected.sha256)) {
        emit_wrong(id, group, &got, &expected);
        return;
    }
    m.sig = &got;
    if ((rc = time_checked(&m, &t, fn, a)) != 0) {
        emit_untimed(id, group, "error", &a->err, "a timed call failed after the checked one");
        return;
    }
    emit_timed(&m);
}

static void bench_api(const cairn_db *db)
{
    size_t max = facts.lookup_count > 2 ? facts.lookup_count : 2;
    struct api a;
    memset(&a, 0, sizeof a);
    a.db = db;
    a.got = calloc(max, sizeof *a.got);
    a.got_text = calloc(max, sizeof *a.got_text);
    a.comps = calloc(max, sizeof *a.comps);
    if (!a.got || !a.got_text || !a.comps)
        bench_oom();
    a.kw[0] = bench_kw("name");
    a.kw[1] = bench_kw("age");
    a.kw[2] = bench_kw("email");
    a.kw[3] = bench_kw("friend");
    if (want("entity-1000", "pull")) {
        a.count = facts.entity_count;
        run_api("entity-1000", "pull", entity_call, &a, (long)a.count,
                "cairn_entity_get + :name :age :email :friend for 1000 spread people");
    }
    if (want("datoms-eavt-2000", "lookup")) {
        a.count = facts.lookup_count;
        for (size_t k = 0; k < a.count; k++)
            a.comps[k] = comps2(cairn_int(facts.lookup_eids[k]), a.kw[2]);
        run_api("datoms-eavt-2000", "lookup", eavt_call, &a, (long)a.count, "cairn_datoms_open EAVT [e :email]");
        for (size_t k = 0; k < a.count; k++)
            cairn_release(a.comps[k]);
    }
    if (want("datoms-avet-2000", "lookup")) {
        a.count = facts.lookup_count;
        for (size_t k = 0; k < a.count; k++) {
            cairn_val email;
            if (cairn_string(&email, facts.lookup_emails[k], strlen(facts.lookup_emails[k])) != 0)
                bench_oom();
            a.comps[k] = comps2(a.kw[2], email);
            cairn_release(email);
        }
        run_api("datoms-avet-2000", "lookup", avet_call, &a, (long)a.count, "cairn_datoms_open AVET [:email v]");
        for (size_t k = 0; k < a.count; k++)
            cairn_release(a.comps[k]);
    }
    if (want("datoms-aevt-scan-age", "lookup")) {
        a.count = 1;
        a.comps[0] = comps2(a.kw[1], cairn_nil());
        run_api("datoms-aevt-scan-age", "lookup", scan_call, &a, 0, "cairn_datoms_open AEVT [:age], every datom");
        cairn_release(a.comps[0]);
    }
    for (size_t k = 0; k < max; k++)
        free(a.got_text[k]);
    free(a.got);
    free(a.got_text);
    free(a.comps);
}

/* ---- writes: single-entity transactions, retractions ------------------------------ */

struct txrun {
    cairn_conn *conn;          /* where to transact */
    const cairn_val *txs;      /* one transaction each */
    size_t count;              /* transactions */
    unsigned char *committed;  /* per transaction: acknowledged */
    atomic_size_t next;        /* next one to claim */
    atomic_size_t done;        /* acknowledged */
    atomic_int rc;             /* first failure */
    double deadline;           /* claim nothing after this (bench_now_ms) */
    pthread_mutex_t lock;      /* guards err */
    cairn_error err;           /* first failure's message */
};

static void *tx_worker(void *payload)
{
    struct txrun *r = payload;
    cairn_error err = CAIRN_ERROR_INIT;
    while (!atomic_load(&r->rc)) {
        size_t i = atomic_fetch_add(&r->next, 1);
        if (i >= r->count || bench_now_ms() > r->deadline)
            break;
        int rc = cairn_transact(NULL, r->conn, r->txs[i], cairn_nil(), &err);
        if (rc != 0) {
            pthread_mutex_lock(&r->lock);
            if (!atomic_load(&r->rc)) {
                r->err = err;
                atomic_store(&r->rc, rc);
            }
            pthread_mutex_unlock(&r->lock);
            break;
        }
        r->committed[i] = 1;
        atomic_fetch_add(&r->done, 1);
    }
    return NULL;
}

/* What a write benchmark measured. */
struct txres {
    size_t done;        /* transactions acknowledged */
    double ms;          /* wall time */
    double cpu_util;    /* CPU / wall */
    int rc;             /* first failure, or 0 */
    cairn_error err;    /* its message */
};

static void run_txs(struct txres *out, cairn_conn *conn, const cairn_val *txs, size_t count, int threads,
                    unsigned char *committed)
{
    struct txrun r;
    pthread_t tids[64];
    memset(&r, 0, sizeof r);
    memset(committed, 0, count);
    r.conn = conn;
    r.txs = txs;
    r.count = count;
    r.committed = committed;
    pthread_mutex_init(&r.lock, NULL);
    threads = threads < 1 ? 1 : threads > 64 ? 64 : threads;
    double t0 = bench_now_ms(), c0 = bench_cpu_ms();
    r.deadline = t0 + O.tx_seconds * 1e3;
    for (int t = 0; t < threads; t++)
        if (pthread_create(&tids[t], NULL, tx_worker, &r) != 0)
            die("cannot start a thread%s", "", NULL);
    for (int t = 0; t < threads; t++)
        pthread_join(tids[t], NULL);
    out->ms = bench_now_ms() - t0;
    out->cpu_util = (bench_cpu_ms() - c0) / out->ms;
    out->done = atomic_load(&r.done);
    out->rc = atomic_load(&r.rc);
    out->err = r.err;
    pthread_mutex_destroy(&r.lock);
}

static void emit_tx(const char *id, const struct txres *res, size_t count, int threads, int ok, int64_t datoms,
                    const char *note)
{
    bench_str j = BENCH_STR_INIT;
    if (res->rc != 0 && res->done == 0) {
        emit_untimed(id, "write", status_of(res->rc), &res->err, note);
        return;
    }
    head(&j, id, "write");
    bench_json_str(&j, "backend", O.backend);
    bench_json_str(&j, "status", res->rc ? "error" : ok ? "ok" : "wrong");
    bench_json_bool(&j, "ok", ok && !res->rc);
    if (res->rc)
        bench_json_str(&j, "error", res->err.message);
    bench_json_int(&j, "threads", threads);
    bench_json_int(&j, "txs", (int64_t)res->done);
    bench_json_int(&j, "txs_planned", (int64_t)count);
    bench_json_bool(&j, "time_boxed", res->done < count);
    if (ok && !res->rc) {
        bench_json_num(&j, "median_ms", res->ms, 3);
        bench_json_num(&j, "tx_per_s", (double)res->done / res->ms * 1e3, 1);
        bench_json_num(&j, "us_per_tx", res->ms * 1e3 / (double)res->done, 2);
        bench_json_num(&j, "ms_per_tx", res->ms / (double)res->done, 5);
        if (datoms)
            bench_json_num(&j, "datoms_per_s", (double)datoms / res->ms * 1e3, 0);
    }
    contention(&j, bench_load1(), threads == 1 ? res->cpu_util : -1, threads);
    bench_json_str(&j, "note", note);
    bench_json_end(&j);
    emit(&j);
    fprintf(stderr, "  %-24s %s: %.0f tx/s (%zu txs, %d thread%s)\n", id, ok && !res->rc ? "ok" : "FAILED",
            (double)res->done / res->ms * 1e3, res->done, threads, threads == 1 ? "" : "s");
    bench_str_dispose(&j);
}

/* The first m entity maps of the people file, each as a one-element tx. */
static cairn_val *entity_txs(size_t m, int64_t *datoms)
{
    cairn_val *txs = bench_xmalloc((m ? m : 1) * sizeof *txs), entity;
    bench_forms *f;
    size_t i = 0;
    if (bench_forms_open(&f, O.people) != 0)
        exit(2);
    while (i < m && bench_forms_next(f, &entity)) {
        datoms[i] = bench_entity_datoms(entity);
        txs[i] = vector_of(1);
        push(&txs[i], entity);
        i++;
    }
    bench_forms_close(f);
    return txs;
}

static void release_all(cairn_val *vs, size_t n)
{
    for (size_t i = 0; i < n; i++)
        cairn_release(vs[i]);
    free(vs);
}

static void bench_tx_entity(void)
{
    size_t m = (size_t)(N < O.tx_count ? N : O.tx_count);
    int64_t *datoms = bench_xmalloc((m ? m : 1) * sizeof *datoms);
    unsigned char *committed = bench_xmalloc(m ? m : 1);
    cairn_val *txs = entity_txs(m, datoms);
    for (const char *p = O.threads; p && *p;) {
        int threads = atoi(p);
        char id[32], store[32];
        struct txres res;
        snprintf(id, sizeof id, threads == 1 ? "tx-entity" : "tx-entity-%dt", threads);
        snprintf(store, sizeof store, "tx-%d", threads);
        p = strchr(p, ',');
        p = p ? p + 1 : NULL;
        if (!want(id, "write"))
            continue;
        char *path = path_in(store);
        cairn_conn *conn = fresh_db(O.backend, path);
        run_txs(&res, conn, txs, m, threads, committed);
        int64_t want_datoms = 0;
        for (size_t i = 0; i < m; i++)
            want_datoms += committed[i] ? datoms[i] : 0;
        cairn_db *db = db_of(conn);
        int ok = count_user_datoms(db) == want_datoms;
        emit_tx(id, &res, m, threads, ok, want_datoms,
                "one entity map (~9 datoms) per cairn_transact, each acknowledged only when durable");
        cairn_db_release(db);
        cairn_conn_release(conn);
        rm_rf(path);
        free(path);
    }
    release_all(txs, m);
    free(committed);
    free(datoms);
}

static void bench_tx_datom(void)
{
    static const char *const attrs[5] = { "name", "last-name", "sex", "age", "salary" };
    size_t people = (size_t)(N < O.tx_count / 4 ? N : (O.tx_count / 4 > 0 ? O.tx_count / 4 : 1)), m = 5 * people;
    int64_t *datoms = bench_xmalloc(people * sizeof *datoms);
    unsigned char *committed = bench_xmalloc(m);
    cairn_val *ents = entity_txs(people, datoms), *txs = bench_xmalloc(m * sizeof *txs), op, v;
    struct txres res;
    for (size_t i = 0; i < people; i++)
        for (int k = 0; k < 5; k++) {
            cairn_val entity = cairn_coll_get(ents[i], 0), id;
            cairn_map_get(&id, entity, bench_kw("db/id"));
            cairn_map_get(&v, entity, bench_kw(attrs[k]));
            op = vector_of(4);
            push(&op, bench_kw("db/add"));
            push(&op, cairn_retain(id));
            push(&op, bench_kw(attrs[k]));
            push(&op, cairn_retain(v));
            txs[5 * i + (size_t)k] = vector_of(1);
            push(&txs[5 * i + (size_t)k], op);
        }
    char *path = path_in("tx-datom");
    cairn_conn *conn = fresh_db(O.backend, path);
    run_txs(&res, conn, txs, m, 1, committed);
    int64_t done = 0;
    for (size_t i = 0; i < m; i++)
        done += committed[i];
    cairn_db *db = db_of(conn);
    emit_tx("tx-datom", &res, m, 1, count_user_datoms(db) == done, 0,
            "one [:db/add e a v] per cairn_transact, each acknowledged only when durable");
    cairn_db_release(db);
    cairn_conn_release(conn);
    rm_rf(path);
    free(path);
    release_all(txs, m);
    release_all(ents, people);
    free(committed);
    free(datoms);
}

/* bench.js's retract order: spread eids, Fisher-Yates with mulberry32(seed+99). */
static int64_t *retract_eids(size_t m)
{
    int64_t *eids = bench_xmalloc((m ? m : 1) * sizeof *eids);
    bench_rng r;
    bench_rng_init(&r, O.seed + 99);
    for (size_t i = 0; i < m; i++)
        eids[i] = 1 + (int64_t)i * N / (int64_t)m;
    for (size_t i = m; i-- > 1;) {
        size_t j = (size_t)bench_rng_int(&r, (int64_t)i + 1);
        int64_t t = eids[i];
        eids[i] = eids[j];
        eids[j] = t;
    }
    return eids;
}

static int entity_gone(const cairn_db *db, int64_t e)
{
    cairn_datoms *it;
    cairn_datom d;
    cairn_val comps = comps2(cairn_int(e), cairn_nil());
    int rc = cairn_datoms_open(&it, db, CAIRN_INDEX_EAVT, comps, NULL);
    cairn_release(comps);
    if (rc != 0)
        return 0;
    rc = cairn_datoms_next(it, &d);
    cairn_datoms_close(it);
    return rc == CAIRN_ENOTFOUND;
}

static void bench_retract(cairn_conn *conn)
{
    size_t m = (size_t)(N < O.retract_count ? N : O.retract_count);
    int64_t *eids = retract_eids(m);
    cairn_val *txs = bench_xmalloc((m ? m : 1) * sizeof *txs);
    unsigned char *committed = bench_xmalloc(m ? m : 1);
    struct txres res;
    for (size_t i = 0; i < m; i++) {
        cairn_val op = vector_of(2);
        push(&op, bench_kw("db.fn/retractEntity"));
        push(&op, cairn_int(eids[i]));
        txs[i] = vector_of(1);
        push(&txs[i], op);
    }
    run_txs(&res, conn, txs, m, 1, committed);
    cairn_db *db = db_of(conn);
    int ok = 1;
    for (size_t i = 0; i < m && ok; i++)
        ok = !committed[i] || entity_gone(db, eids[i]);
    emit_tx("retract-entity", &res, m, 1, ok, 0,
            "[[:db.fn/retractEntity e]] per cairn_transact on the loaded db, shuffled spread eids, durable");
    cairn_db_release(db);
    release_all(txs, m);
    free(committed);
    free(eids);
}

/* ---- main -------------------------------------------------------------------------- */

static void usage(void)
{
    fputs("usage: cairn_bench --people FILE --schema FILE --dir DIR [--queries FILE --graphs DIR]\n"
          "         [--out FILE] [--typed] [--backend file|mem] [--only ids] [--skip ids]\n"
          "         [--runs R] [--cold-runs R] [--samples K] [--warmup-ms MS] [--sample-ms MS]\n"
          "         [--max-first-ms MS] [--tx-count C] [--retract-count C] [--tx-seconds S]\n"
          "         [--threads 1,4,16] [--seed S]\n"
          "       cairn_bench --generate N FILE     (writes people-N.edn as bench.js does)\n",
          stderr);
    exit(2);
}

static void parse_args(int argc, char **argv)
{
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        if (!strcmp(a, "--typed")) {
            O.typed = 1;
            continue;
        }
        if (!v)
            usage();
        i++;
        if (!strcmp(a, "--people")) O.people = v;
        else if (!strcmp(a, "--queries")) O.queries = v;
        else if (!strcmp(a, "--graphs")) O.graphs = v;
        else if (!strcmp(a, "--schema")) O.schema = v;
        else if (!strcmp(a, "--dir")) O.dir = v;
        else if (!strcmp(a, "--out")) O.out = v;
        else if (!strcmp(a, "--backend")) O.backend = v;
        else if (!strcmp(a, "--only")) O.only = v;
        else if (!strcmp(a, "--skip")) O.skip = v;
        else if (!strcmp(a, "--threads")) O.threads = v;
        else if (!strcmp(a, "--runs")) O.runs = atoi(v);
        else if (!strcmp(a, "--cold-runs")) O.cold_runs = atoi(v);
        else if (!strcmp(a, "--samples")) O.timing.samples = atoi(v);
        else if (!strcmp(a, "--warmup-ms")) O.timing.warmup_ms = atof(v);
        else if (!strcmp(a, "--sample-ms")) O.timing.sample_ms = atof(v);
        else if (!strcmp(a, "--max-first-ms")) O.max_first_ms = atof(v);
        else if (!strcmp(a, "--tx-count")) O.tx_count = atol(v);
        else if (!strcmp(a, "--retract-count")) O.retract_count = atol(v);
        else if (!strcmp(a, "--tx-seconds")) O.tx_seconds = atof(v);
        else if (!strcmp(a, "--seed")) O.seed = (uint32_t)strtoul(v, NULL, 10);
        else if (!strcmp(a, "--cold-open-child")) O.child_dir = v;
        else if (!strcmp(a, "--spawn-ms")) O.child_spawn_ms = atof(v);
        else if (!strcmp(a, "--expect-count")) O.child_count = atol(v);
        else if (!strcmp(a, "--expect-sha")) O.child_sha = v;
        else usage();
    }
}

/* N and the datom count from the people file's first line, as bench.js
 * writes it: ";; people dataset N=<n> seed=<s> datoms=<d>". */
static void read_header(int64_t *n, int64_t *datoms)
{
    char line[256] = { 0 };
    long long nn = 0, dd = 0;
    unsigned seed = 0;
    FILE *f = fopen(O.people, "r");
    if (!f || !fgets(line, sizeof line, f) ||
        sscanf(line, ";; people dataset N=%lld seed=%u datoms=%lld", &nn, &seed, &dd) != 3)
        die("%s does not start with bench.js's header", O.people, NULL);
    fclose(f);
    *n = nn;
    *datoms = dd;
}

static void cpu_model(char *out, size_t len)
{
    char line[512];
    FILE *f = fopen("/proc/cpuinfo", "r");
    snprintf(out, len, "unknown");
    while (f && fgets(line, sizeof line, f))
        if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
            snprintf(out, len, "%s", strchr(line, ':') + 2);
            out[strcspn(out, "\n")] = '\0';
            break;
        }
    if (f)
        fclose(f);
}

static void emit_meta(void)
{
    bench_str j = BENCH_STR_INIT;
    char cpu[256], date[32];
    double load[3] = { -1, -1, -1 };
    time_t now = time(NULL);
    strftime(date, sizeof date, "%Y-%m-%dT%H:%M:%SZ", gmtime(&now));
    cpu_model(cpu, sizeof cpu);
    getloadavg(load, 3);
    bench_json_begin(&j);
    bench_json_bool(&j, "meta", 1);
    bench_json_str(&j, "system", "cairn");
    bench_json_int(&j, "n", N);
    bench_json_str(&j, "cairn", cairn_libversion());
    bench_json_str(&j, "schema", O.typed ? "write" : "read");
    bench_json_str(&j, "backend", O.backend);
    bench_json_int(&j, "nproc", bench_nproc());
    bench_json_str(&j, "cpu", cpu);
    bench_json_nums(&j, "loadavg_start", load, 3, 2);
    bench_json_int(&j, "runs", O.runs);
    bench_json_int(&j, "samples", O.timing.samples);
    bench_json_num(&j, "warmup_ms", O.timing.warmup_ms, 1);
    bench_json_num(&j, "sample_ms", O.timing.sample_ms, 1);
    bench_json_num(&j, "tx_seconds", O.tx_seconds, 1);
    bench_json_str(&j, "date", date);
    bench_json_end(&j);
    emit(&j);
    bench_str_dispose(&j);
    fprintf(stderr, "cairn %s, N=%lld, schema-on-%s, %s store, nproc=%d, load %.2f\n", cairn_libversion(),
            (long long)N, O.typed ? "write (typed)" : "read (the peer's schema)", O.backend, bench_nproc(), load[0]);
}

static void emit_peak_memory(void)
{
    bench_str j = BENCH_STR_INIT;
    double load[3] = { -1, -1, -1 };
    getloadavg(load, 3);
    head(&j, "peak-memory", "memory");
    bench_json_str(&j, "status", "ok");
    bench_json_null(&j, "ok");
    bench_json_num(&j, "max_rss_mb", bench_peak_rss_mb(), 1);
    bench_json_nums(&j, "loadavg_end", load, 3, 2);
    bench_json_str(&j, "note", "getrusage ru_maxrss of the run up to here, load-one-tx excluded (includes "
                               "parsed input and the 256 MiB default node cache)");
    bench_json_end(&j);
    emit(&j);
    bench_str_dispose(&j);
}

static const bench_query *find_query(const bench_query_set *qs, const char *id)
{
    for (size_t i = 0; i < qs->count; i++)
        if (!strcmp(qs->queries[i].id, id))
            return &qs->queries[i];
    return NULL;
}

static void run_all(void)
{
    bench_query_set qs = { 0, 0, 0, NULL };
    int64_t file_datoms;
    char *main_path = path_in("main");
    read_header(&N, &file_datoms);
    bench_facts_init(&facts, N);
    if (O.queries)
        bench_query_set_load(&qs, O.queries);
    if (O.queries && qs.n != N)
        die("%s is for another N than the people file", O.queries, NULL);
    emit_meta();
    cairn_conn *conn = bench_bulk_load(main_path);
    cairn_db *db = db_of(conn);
    if (!strcmp(O.backend, "file") && want("size-on-disk", "size"))
        bench_size("size-on-disk", main_path, facts.datoms,
                   "file store after bulk-load-1000: the nodes of all its commits (nothing is collected)");
    if (!strcmp(O.backend, "file"))
        bench_cold_open(main_path, find_query(&qs, "q1"));
    if (!strcmp(O.backend, "file") && want("size-after-gc", "size"))
        bench_gc(conn, main_path, facts.datoms);
    bench_queries(&qs, db);
    bench_api(db);
    bench_tx_entity();
    if (want("tx-datom", "write"))
        bench_tx_datom();
    if (want("retract-entity", "write"))
        bench_retract(conn);
    emit_peak_memory();
    if (want("load-one-tx", "write"))   /* last: it holds all N entities at once */
        bench_load_one_tx();
    for (int i = 0; i < ngraphs; i++) {
        cairn_db_release(graphs[i].db);
        cairn_conn_release(graphs[i].conn);
        free(graphs[i].name);
    }
    cairn_db_release(db);
    cairn_conn_release(conn);
    bench_query_set_dispose(&qs);
    bench_facts_dispose(&facts);
    free(main_path);
}

int main(int argc, char **argv)
{
    if (argc == 4 && !strcmp(argv[1], "--generate")) {
        int64_t datoms;
        if (bench_people_write(argv[3], atoll(argv[2]), 42, &datoms) != 0)
            die("cannot write %s", argv[3], NULL);
        fprintf(stderr, "wrote %s: %s people, %lld datoms\n", argv[3], argv[2], (long long)datoms);
        return 0;
    }
    parse_args(argc, argv);
    if (O.child_dir) {
        if (!O.schema)
            usage();
        return cold_open_child();
    }
    if (!O.people || !O.schema || !O.dir || (O.queries && !O.graphs))
        usage();
    if (O.out && !(jsonl = fopen(O.out, "a")))
        die("cannot open %s", O.out, NULL);
    mkdir(O.dir, 0777);
    run_all();
    if (jsonl)
        fclose(jsonl);
    cairn_shutdown();
    return 0;
}
