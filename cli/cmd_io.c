/*
 * export and import.
 *
 * The export format (docs/cli.md, "Export format") is EDN text, one form per
 * line, written in one pass over the history view's EAVT index (or the
 * current one when the database keeps no history), so it streams in constant
 * memory and the same database always exports to the same bytes:
 *
 *   #cairn/export {:format 1 :history? true :keep-history? true
 *                  :schema-flexibility :write :schema {...} :max-tx 536870915
 *                  :max-eid 4 :max-tx-instant #inst "..."}
 *   #datahike/Datom [1 :name "Ada" 536870913 true]
 *   ...
 *   #cairn/end {:datoms 12}
 *
 * The records are Datahike's own datom literals, so a Datahike datom dump
 * (#datahike/Datom [e a v tx added] per datom, with no header) is a valid
 * import too. :schema holds the attributes installed without entities (a
 * config :schema map); attributes defined by transactions travel as their
 * datoms. The trailer marks a complete export: an import refuses a file that
 * has the header but not the trailer (:import/incomplete-dump). A file export
 * is written to PATH.tmp and renamed, so PATH is never half written.
 *
 * Import restores exactly: it reads every record, groups them by transaction
 * and replays each group with cairn_transact_at under its original tx id and
 * :db/txInstant, retractions first, so entity ids, tx ids, instants and the
 * history come back datom for datom. Composite tuple datoms are left out and
 * recomputed by the transaction engine. The target must be new (it is
 * created from the header's settings) or empty; nothing is written before the
 * whole input has been read and checked. Grouping needs the records in
 * memory: about 100 bytes a datom.
 *
 * Rejected: writing in transaction order (there is no index by tx, so it
 * would need the sort at export time, and Datahike dumps are in EAVT order
 * anyway); building the indices directly from the sorted records (exact and
 * fast, but a second write path beside the transaction engine, which would
 * then not check the data).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cli.h"

#define EXPORT_FORMAT 1

static cairn_val sym(const char *name)
{
    cairn_val k;
    cli_check_oom(cairn_symbol(&k, name, strlen(name)));
    return k;
}

static void put(cairn_val *m, const char *k, cairn_val v)
{
    cli_check_oom(cairn_map_put_take(m, cli_kw(k), v));
}

static cairn_val get(cairn_val m, const char *k)
{
    cairn_val v;
    if (cairn_type_of(m) == CAIRN_MAP && cairn_map_get(&v, m, cli_kw(k)))
        return v;
    return cairn_nil();
}

static void print_tagged(FILE *f, const char *tag, cairn_val v)
{
    cairn_val t;
    cli_check_oom(cairn_tagged(&t, sym(tag), v));
    cli_print_edn(f, t);
    cairn_release(t);
}

/* The attributes without entities (no :db/id in the schema): a config :schema. */
static cairn_val implicit_schema(const cairn_db *db, cairn_error *err)
{
    cairn_val schema, out;
    if (cairn_db_schema(&schema, db, err) < 0)
        return cairn_nil();
    cli_check_oom(cairn_map_new(&out, cairn_count(schema)));
    for (size_t i = 0; i < cairn_count(schema); i++) {
        cairn_val def = cairn_map_val_get(schema, i);
        if (cairn_type_of(get(def, "db/id")) == CAIRN_NIL)
            cli_check_oom(cairn_map_put(&out, cairn_map_key_get(schema, i), def));
    }
    cairn_release(schema);
    return out;
}

static cairn_val export_header(const cairn_db *db, int history, cairn_error *err)
{
    cairn_val h, cfg, schema = implicit_schema(db, err);
    if (cairn_type_of(schema) == CAIRN_NIL || cairn_db_config(&cfg, db, err) < 0) {
        cairn_release(schema);
        return cairn_nil();
    }
    cli_check_oom(cairn_map_new(&h, 10));
    put(&h, "format", cairn_int(EXPORT_FORMAT));
    put(&h, "history?", cairn_bool(history));
    put(&h, "keep-history?", cairn_retain(get(cfg, "keep-history?")));
    put(&h, "schema-flexibility", cairn_retain(get(cfg, "schema-flexibility")));
    put(&h, "schema", schema);
    put(&h, "max-tx", cairn_int(cairn_db_max_tx(db)));
    put(&h, "max-eid", cairn_int(cairn_db_max_eid(db)));
    put(&h, "max-tx-instant", cairn_inst(cairn_db_max_tx_instant(db)));
    put(&h, "exported", cairn_inst((int64_t)time(NULL) * 1000));
    cairn_release(cfg);
    return h;
}

int cmd_export(cli *c, int argc, char **argv)
{
    cairn_db *db, *view = NULL;
    cairn_datoms *it;
    cairn_datom d;
    cairn_val header, cfg, end;
    cairn_error err = CAIRN_ERROR_INIT;
    cli_progress prog;
    char *tmp = NULL;
    FILE *f;
    long long n = 0;
    int rc, history = 0;
    cli_format saved = c->format;
    if (argc != 2)
        return cli_usage(c);
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0)
        return rc;
    /* with history when the database keeps it */
    if ((rc = cairn_db_config(&cfg, db, &err)) == 0) {
        history = cairn_bool_value(get(cfg, "keep-history?"));
        cairn_release(cfg);
        if (history && cairn_db_history(&view, db, NULL) != 0)
            view = NULL;
        history = view != NULL;
    }
    if (rc < 0 || cairn_type_of(header = export_header(db, history, &err)) == CAIRN_NIL) {
        cairn_db_release(view);
        cairn_db_release(db);
        return cli_fail(c, &err);
    }
    if (!strcmp(argv[1], "-")) {
        f = c->out;
    } else {
        tmp = xmalloc(strlen(argv[1]) + 5);
        sprintf(tmp, "%s.tmp", argv[1]);
        if (!(f = fopen(tmp, "w"))) {
            rc = cli_failf(c, ":export/file", "cannot write %s: %s", tmp, strerror(errno));
            goto done;
        }
    }
    fputs(";; cairn export: a header, one #datahike/Datom [e a v tx added] per line in EAVT order, a trailer\n", f);
    print_tagged(f, "cairn/export", header);
    if ((rc = cairn_datoms_open(&it, view ? view : db, CAIRN_INDEX_EAVT, cairn_nil(), &err)) < 0) {
        rc = cli_fail(c, &err);
        goto done;
    }
    c->format = CLI_EDN;
    cli_progress_start(&prog, c, "exporting", cairn_db_datom_count(view ? view : db));
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        cairn_val v = cli_datom_val(c, &d);
        cli_print_edn(f, v);
        cairn_release(v);
        n++;
        cli_progress_step(&prog, 1);
    }
    cli_progress_end(&prog);
    c->format = saved;
    cairn_datoms_close(it);
    if (rc != CAIRN_ENOTFOUND) {
        rc = cli_failf(c, ":export/read", "reading datoms failed: %s", cairn_strerror(rc));
        goto done;
    }
    cli_check_oom(cairn_map_new(&end, 1));
    put(&end, "datoms", cairn_int(n));
    print_tagged(f, "cairn/end", end);
    cairn_release(end);
    rc = CLI_OK;
    if (f != c->out) {
        if (fflush(f) != 0 || ferror(f)) {
            fclose(f);
            rc = cli_failf(c, ":export/file", "writing %s failed: %s", tmp, strerror(errno));
        } else if (fclose(f) != 0 || rename(tmp, argv[1]) != 0) {
            rc = cli_failf(c, ":export/file", "writing %s failed: %s", argv[1], strerror(errno));
        }
        f = NULL;
    }
done:
    if (f && f != c->out)
        fclose(f);
    if (rc != CLI_OK && tmp)
        remove(tmp);
    free(tmp);
    cairn_release(header);
    cairn_db_release(view);
    cairn_db_release(db);
    return rc;
}

/* ---- import ------------------------------------------------------------------------ */

typedef struct record {
    int64_t e;          /* entity */
    int64_t tx;         /* transaction */
    cairn_val a;        /* attribute (owned) */
    cairn_val v;        /* value (owned) */
    size_t seq;         /* position in the input */
    int added;          /* assertion or retraction */
} record;

typedef struct dump {
    cairn_val header;   /* #cairn/export map, or nil (a Datahike dump) */
    int ended;          /* #cairn/end seen */
    int64_t end_count;  /* its :datoms */
    record *recs;       /* the datoms */
    size_t n, cap;
} dump;

static void dump_dispose(dump *d)
{
    for (size_t i = 0; i < d->n; i++) {
        cairn_release(d->recs[i].a);
        cairn_release(d->recs[i].v);
    }
    free(d->recs);
    cairn_release(d->header);
}

static int is_tag(cairn_val v, const char *name)
{
    size_t n;
    const char *s;
    if (cairn_type_of(v) != CAIRN_TAGGED)
        return 0;
    s = cairn_ident_get(cairn_tagged_tag_get(v), &n);
    return n == strlen(name) && !memcmp(s, name, n);
}

/* One form of the input; 0 or an exit status. */
static int dump_add(cli *c, dump *d, cairn_val form, size_t index)
{
    cairn_val vec = form;
    record *r;
    if (is_tag(form, "cairn/export")) {
        if (index != 0 || cairn_type_of(cairn_tagged_value_get(form)) != CAIRN_MAP)
            return cli_failf(c, ":import/format", "form %zu: #cairn/export must come first and be a map", index + 1);
        d->header = cairn_retain(cairn_tagged_value_get(form));
        if (cairn_type_of(get(d->header, "format")) != CAIRN_INT || cairn_int_value(get(d->header, "format")) > EXPORT_FORMAT)
            return cli_failf(c, ":import/unsupported-format-version", "the export's format is newer than this cairn reads");
        return 0;
    }
    if (is_tag(form, "cairn/end")) {
        cairn_val n = get(cairn_tagged_value_get(form), "datoms");
        d->ended = 1;
        d->end_count = cairn_type_of(n) == CAIRN_INT ? cairn_int_value(n) : -1;
        return 0;
    }
    if (d->ended)
        return cli_failf(c, ":import/format", "form %zu: data after #cairn/end", index + 1);
    if (is_tag(form, "datahike/Datom"))
        vec = cairn_tagged_value_get(form);
    if ((cairn_type_of(vec) != CAIRN_VECTOR && cairn_type_of(vec) != CAIRN_LIST) || cairn_count(vec) < 4 ||
        cairn_count(vec) > 5 || cairn_type_of(cairn_coll_get(vec, 0)) != CAIRN_INT ||
        cairn_type_of(cairn_coll_get(vec, 1)) != CAIRN_KEYWORD || cairn_type_of(cairn_coll_get(vec, 3)) != CAIRN_INT ||
        (cairn_count(vec) == 5 && cairn_type_of(cairn_coll_get(vec, 4)) != CAIRN_BOOL))
        return cli_failf(c, ":import/format", "form %zu is not a datom [e a v tx added]", index + 1);
    if (d->n == d->cap)
        d->recs = xrealloc(d->recs, (d->cap = d->cap ? d->cap * 2 : 1024) * sizeof *d->recs);
    r = &d->recs[d->n];
    r->e = cairn_int_value(cairn_coll_get(vec, 0));
    r->a = cairn_retain(cairn_coll_get(vec, 1));
    r->v = cairn_retain(cairn_coll_get(vec, 2));
    r->tx = cairn_int_value(cairn_coll_get(vec, 3));
    r->added = cairn_count(vec) == 5 ? cairn_bool_value(cairn_coll_get(vec, 4)) : 1;
    r->seq = d->n++;
    return 0;
}

static int dump_read(cli *c, const char *path, dump *d)
{
    cairn_edn_reader *rd;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val form;
    size_t len, index = 0;
    char *text = cli_read_file(path, &len);
    int rc = 0;
    memset(d, 0, sizeof *d);
    d->header = cairn_nil();
    if (!text)
        return cli_failf(c, ":import/file", "cannot read %s: %s", strcmp(path, "-") ? path : "standard input",
                         strerror(errno));
    cli_check_oom(cairn_edn_reader_new(&rd, text, len, NULL));
    while (rc == 0 && (rc = cairn_edn_reader_next(rd, &form, &err)) == 0) {
        rc = dump_add(c, d, form, index++);
        cairn_release(form);
    }
    cairn_edn_reader_free(rd);
    free(text);
    if (rc == CAIRN_ENOTFOUND)
        rc = 0;
    else if (rc < 0) {
        cli_check_oom(rc);
        rc = cli_fail(c, &err);
    }
    if (rc == 0 && cairn_type_of(d->header) != CAIRN_NIL && !d->ended)
        rc = cli_failf(c, ":import/incomplete-dump", "%s has an export header but no #cairn/end: it was cut short",
                       path);
    if (rc == 0 && d->ended && d->end_count != (int64_t)d->n)
        rc = cli_failf(c, ":import/incomplete-dump", "%s holds %zu datoms, its trailer says %lld", path, d->n,
                       (long long)d->end_count);
    return rc;
}

static int cmp_record(const void *x, const void *y)
{
    const record *a = x, *b = y;
    if (a->tx != b->tx)
        return a->tx < b->tx ? -1 : 1;
    if (a->added != b->added)
        return a->added - b->added;  /* retractions first */
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* The target's config: the given one, completed with the export's settings. */
static cairn_val target_config(const cli_dbref *ref, cairn_val header)
{
    static const char *const keys[] = { "keep-history?", "schema-flexibility", "schema" };
    cairn_val cfg = cairn_retain(ref->config);
    for (size_t i = 0; i < sizeof keys / sizeof *keys; i++) {
        cairn_val v = get(header, keys[i]);
        if (cairn_type_of(v) != CAIRN_NIL && cairn_type_of(get(cfg, keys[i])) == CAIRN_NIL &&
            !(i == 2 && cairn_count(v) == 0))
            cli_check_oom(cairn_map_assoc(&cfg, cli_kw(keys[i]), v));
    }
    return cfg;
}

/* Opens (creating when absent) the target and checks it is empty. */
static int open_target(cli *c, const char *arg, const dump *d, cairn_conn **conn_out, int *created,
                       cairn_error *err)
{
    cli_dbref ref;
    cairn_db *db = NULL;
    cairn_val cfg = cairn_nil();
    int rc, exists = 0;
    if ((rc = cli_dbref_parse(&ref, arg, 1, err)) < 0)
        return rc;
    if (ref.view != CLI_VIEW_CURRENT)
        rc = cli_seterr(err, CAIRN_EINVALID, ":cli/database", "import needs a database, not a view");
    if (rc == 0 && cli_dbref_present(&ref))
        rc = cairn_database_exists(&exists, ref.config, err);
    if (rc == 0 && !exists) {
        cfg = target_config(&ref, d->header);
        if ((rc = cairn_create_database(cfg, err)) == 0)
            *created = 1;
    }
    if (rc == 0)
        rc = cli_connect(conn_out, &ref, err);
    if (rc == 0)
        rc = cairn_conn_db(&db, *conn_out, err);
    if (rc == 0 && exists) {
        cairn_db *h = NULL;
        uint64_t n = cairn_db_datom_count(db);
        if (cairn_db_history(&h, db, NULL) == 0)
            n = cairn_db_datom_count(h);
        cairn_db_release(h);
        if (n != 0)
            rc = cli_seterr(err, CAIRN_EEXISTS, ":import/non-empty-target",
                            "%s already holds %llu datoms; import into a new or empty database", arg,
                            (unsigned long long)n);
    }
    if (rc == 0 && cairn_type_of(get(d->header, "history?")) == CAIRN_BOOL &&
        cairn_bool_value(get(d->header, "history?"))) {
        cairn_db *h = NULL;
        if (cairn_db_history(&h, db, NULL) != 0)
            rc = cli_seterr(err, CAIRN_EINVALID, ":import/config-mismatch",
                            "the export has history but %s keeps none (:keep-history? false)", arg);
        cairn_db_release(h);
    }
    (void)c;
    cairn_db_release(db);
    cairn_release(cfg);
    cli_dbref_dispose(&ref);
    return rc;
}

/* Attributes whose datoms the engine computes (composite tuples): those of
 * the target's schema, and those the dump itself defines. */
static cairn_val computed_attrs(cairn_conn *conn, const dump *d)
{
    cairn_db *db;
    cairn_val schema, set, ident = cli_kw("db/ident"), tuple_attrs = cli_kw("db/tupleAttrs");
    cli_check_oom(cairn_set_new(&set, 4));
    if (cairn_conn_db(&db, conn, NULL) == 0) {
        if (cairn_db_schema(&schema, db, NULL) == 0) {
            for (size_t i = 0; i < cairn_count(schema); i++)
                if (cairn_type_of(get(cairn_map_val_get(schema, i), "db/tupleAttrs")) != CAIRN_NIL)
                    cli_check_oom(cairn_coll_push(&set, cairn_map_key_get(schema, i)));
            cairn_release(schema);
        }
        cairn_db_release(db);
    }
    for (size_t i = 0; i < d->n; i++) {
        if (!d->recs[i].added || !cairn_equal(d->recs[i].a, tuple_attrs))
            continue;
        for (size_t j = 0; j < d->n; j++) {
            int rc;
            if (d->recs[j].e != d->recs[i].e || !cairn_equal(d->recs[j].a, ident))
                continue;
            rc = cairn_coll_push(&set, d->recs[j].v);
            if (rc != CAIRN_EEXISTS)
                cli_check_oom(rc);
        }
    }
    return set;
}

/*
 * Before anything is written: under schema-on-write every attribute the
 * records use must be in the target's schema, be defined by the records
 * themselves, or be one of the built-in :db/... attributes. Otherwise the
 * import would stop halfway, and an existing (empty) target would keep the
 * transactions replayed so far.
 */
static int check_attributes(cairn_conn *conn, const dump *d, cairn_error *err)
{
    cairn_db *db;
    cairn_val schema = cairn_nil(), cfg = cairn_nil(), defined, ident = cli_kw("db/ident");
    int rc = cairn_conn_db(&db, conn, err), read_flex = 0;
    if (rc < 0)
        return rc;
    if ((rc = cairn_db_schema(&schema, db, err)) == 0 && (rc = cairn_db_config(&cfg, db, err)) == 0)
        read_flex = cairn_equal(get(cfg, "schema-flexibility"), cli_kw("read"));
    cairn_db_release(db);
    cli_check_oom(cairn_set_new(&defined, 16));
    for (size_t i = 0; rc == 0 && i < cairn_count(schema); i++)
        cli_check_oom(cairn_coll_push(&defined, cairn_map_key_get(schema, i)));
    for (size_t i = 0; rc == 0 && i < d->n; i++) {
        int r2;
        if (!cairn_equal(d->recs[i].a, ident) || cairn_type_of(d->recs[i].v) != CAIRN_KEYWORD)
            continue;
        r2 = cairn_coll_push(&defined, d->recs[i].v);
        if (r2 != CAIRN_EEXISTS)
            cli_check_oom(r2);
    }
    for (size_t i = 0; rc == 0 && !read_flex && i < d->n; i++) {
        size_t ns_len = 0;
        const char *ns = cairn_namespace_get(d->recs[i].a, &ns_len);
        if (cairn_set_contains(defined, d->recs[i].a) ||
            (ns && ns_len >= 2 && !strncmp(ns, "db", 2) && (ns_len == 2 || ns[2] == '.')))
            continue;
        rc = cli_seterr(err, CAIRN_EINVALID, ":import/config-mismatch",
                        "attribute :%s is neither in the target's schema nor defined by the import",
                        cairn_ident_get(d->recs[i].a, NULL));
    }
    cairn_release(defined);
    cairn_release(schema);
    cairn_release(cfg);
    return rc;
}

/* Transacts recs[0..n) (one transaction) under its id. */
static int replay_tx(cairn_conn *conn, const record *recs, size_t n, cairn_val computed, cairn_val last_instant,
                     cairn_error *err)
{
    cairn_val data, meta, add = cli_kw("db/add"), retract = cli_kw("db/retract"), instant = cli_kw("db/txInstant");
    int64_t tx = recs[0].tx;
    int rc;
    cli_check_oom(cairn_vector_new(&data, n));
    cli_check_oom(cairn_map_new(&meta, 1));
    for (size_t i = 0; i < n; i++) {
        const record *r = &recs[i];
        cairn_val op;
        if (r->e == tx && cairn_equal(r->a, instant)) {
            if (r->added)
                cli_check_oom(cairn_map_assoc(&meta, instant, r->v));
            continue;
        }
        if (cairn_set_contains(computed, r->a))
            continue;
        cli_check_oom(cairn_vector_new(&op, 4));
        cli_check_oom(cairn_coll_push(&op, r->added ? add : retract));
        cli_check_oom(cairn_coll_push(&op, cairn_int(r->e)));
        cli_check_oom(cairn_coll_push(&op, r->a));
        cli_check_oom(cairn_coll_push(&op, r->v));
        cli_check_oom(cairn_coll_push_take(&data, op));
    }
    if (cairn_count(meta) == 0 && cairn_type_of(last_instant) == CAIRN_INST)
        cli_check_oom(cairn_map_assoc(&meta, instant, last_instant));
    rc = cairn_transact_at(NULL, conn, tx, data, meta, err);
    cairn_release(data);
    cairn_release(meta);
    return rc;
}

static cairn_val import_summary(cairn_conn *conn, size_t nrecs, size_t ntx)
{
    cairn_db *db, *h = NULL;
    cairn_val m;
    uint64_t count = 0;
    cli_check_oom(cairn_map_new(&m, 4));
    put(&m, "datoms", cairn_int((int64_t)nrecs));
    put(&m, "txs", cairn_int((int64_t)ntx));
    if (cairn_conn_db(&db, conn, NULL) == 0) {
        count = cairn_db_history(&h, db, NULL) == 0 ? cairn_db_datom_count(h) : cairn_db_datom_count(db);
        put(&m, "max-tx", cairn_int(cairn_db_max_tx(db)));
        put(&m, "max-eid", cairn_int(cairn_db_max_eid(db)));
        cairn_db_release(h);
        cairn_db_release(db);
    }
    put(&m, "stored-datoms", cairn_int((int64_t)count));
    return m;
}

static void delete_target(const char *arg)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    if (cli_dbref_parse(&ref, arg, 1, &err) == 0) {
        cli_forget(&ref);
        cairn_delete_database(ref.config, NULL);
    }
    cli_dbref_dispose(&ref);
}

int cmd_import(cli *c, int argc, char **argv)
{
    dump d;
    cairn_conn *conn = NULL;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val computed, last_instant, summary;
    cli_progress prog;
    size_t ntx = 0;
    int64_t max_tx;
    int rc, created = 0;
    if (argc != 2)
        return cli_usage(c);
    if ((rc = dump_read(c, argv[1], &d)) != 0) {
        dump_dispose(&d);
        return rc;
    }
    qsort(d.recs, d.n, sizeof *d.recs, cmp_record);
    if ((rc = open_target(c, argv[0], &d, &conn, &created, &err)) < 0) {
        dump_dispose(&d);
        cli_check_oom(rc);
        if (created)
            delete_target(argv[0]);
        return cli_fail(c, &err);
    }
    if ((rc = check_attributes(conn, &d, &err)) < 0) {
        dump_dispose(&d);
        cli_check_oom(rc);
        rc = cli_fail(c, &err);
        if (created)
            delete_target(argv[0]);
        return rc;
    }
    computed = computed_attrs(conn, &d);
    max_tx = cairn_type_of(get(d.header, "max-tx")) == CAIRN_INT ? cairn_int_value(get(d.header, "max-tx")) : 0;
    last_instant = get(d.header, "max-tx-instant");
    cli_progress_start(&prog, c, "importing", d.n);
    for (size_t i = 0, j; rc == 0 && i < d.n; i = j) {
        for (j = i + 1; j < d.n && d.recs[j].tx == d.recs[i].tx; j++)
            ;
        rc = replay_tx(conn, d.recs + i, j - i, computed, d.recs[i].tx == max_tx ? last_instant : cairn_nil(), &err);
        cli_progress_step(&prog, j - i);
        ntx++;
    }
    /* transactions that left no datoms still count: end at the export's max-tx */
    if (rc == 0 && d.n && max_tx > d.recs[d.n - 1].tx) {
        record none = { 0, max_tx, cairn_nil(), cairn_nil(), 0, 1 };
        rc = replay_tx(conn, &none, 0, computed, last_instant, &err);
    }
    cli_progress_end(&prog);
    cairn_release(computed);
    if (rc == 0) {
        summary = import_summary(conn, d.n, ntx);
        cli_print(c, summary);
        cairn_release(summary);
    }
    dump_dispose(&d);
    cli_check_oom(rc);
    if (rc < 0) {
        /* a database this import created goes again: no half import stays behind */
        rc = cli_fail(c, &err);
        if (created)
            delete_target(argv[0]);
        return rc;
    }
    return CLI_OK;
}
