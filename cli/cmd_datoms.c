/*
 * Index commands: datoms, seek-datoms, rseek-datoms, index-range; and the
 * two views of time: history (every assertion and retraction, in
 * transaction order) and log (the commits of the branch, newest first).
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static int parse_index(cli *c, const char *arg, cairn_index *out)
{
    const char *s = arg[0] == ':' ? arg + 1 : arg;
    if (!strcmp(s, "eavt"))
        *out = CAIRN_INDEX_EAVT;
    else if (!strcmp(s, "aevt"))
        *out = CAIRN_INDEX_AEVT;
    else if (!strcmp(s, "avet"))
        *out = CAIRN_INDEX_AVET;
    else
        return cli_failf(c, ":datoms/index", "unknown index %s (use :eavt, :aevt or :avet)", arg);
    return 0;
}

/* Reads each of argv[0..argc) as a value into a new vector. */
static int values_vector(cli *c, int argc, char **argv, cairn_val *out)
{
    int rc = 0;
    cli_check_oom(cairn_vector_new(out, (size_t)argc));
    for (int i = 0; rc == 0 && i < argc; i++) {
        cairn_val v;
        if ((rc = cli_arg_value(c, argv[i], &v)) == 0)
            cli_check_oom(cairn_coll_push_take(out, v));
    }
    if (rc)
        cairn_release(*out);
    return rc;
}

/* Prints the datoms of an iterator just opened (status rc) and closes it. */
static int print_opened(cli *c, int rc, cairn_datoms *it, const cairn_error *err)
{
    cli_check_oom(rc);
    if (rc < 0)
        return cli_fail(c, err);
    rc = cli_print_datoms(c, it) < 0 ? CLI_FAIL : CLI_OK;
    cairn_datoms_close(it);
    return rc;
}

typedef int (*open_fn)(cairn_datoms **out, const cairn_db *db, cairn_index index, cairn_val components,
                       cairn_error *err);

static int datoms_cmd(cli *c, int argc, char **argv, open_fn fn)
{
    cairn_db *db;
    cairn_datoms *it = NULL;
    cairn_index index = CAIRN_INDEX_EAVT;
    cairn_val comps;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc < 2 || argc > 6)
        return cli_usage(c);
    if ((rc = parse_index(c, argv[1], &index)) != 0)
        return rc;
    if ((rc = values_vector(c, argc - 2, argv + 2, &comps)) != 0)
        return rc;
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0) {
        cairn_release(comps);
        return rc;
    }
    rc = fn(&it, db, index, comps, &err);
    rc = print_opened(c, rc, it, &err);
    cairn_release(comps);
    cairn_db_release(db);
    return rc;
}

int cmd_datoms(cli *c, int argc, char **argv)
{
    return datoms_cmd(c, argc, argv, cairn_datoms_open);
}

int cmd_seek_datoms(cli *c, int argc, char **argv)
{
    return datoms_cmd(c, argc, argv, cairn_seek_datoms_open);
}

int cmd_rseek_datoms(cli *c, int argc, char **argv)
{
    return datoms_cmd(c, argc, argv, cairn_rseek_datoms_open);
}

int cmd_index_range(cli *c, int argc, char **argv)
{
    cairn_db *db;
    cairn_datoms *it = NULL;
    cairn_val v;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc != 4)
        return cli_usage(c);
    if ((rc = values_vector(c, 3, argv + 1, &v)) != 0)
        return rc;
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0) {
        cairn_release(v);
        return rc;
    }
    rc = cairn_index_range_open(&it, db, cairn_coll_get(v, 0), cairn_coll_get(v, 1), cairn_coll_get(v, 2), &err);
    rc = print_opened(c, rc, it, &err);
    cairn_release(v);
    cairn_db_release(db);
    return rc;
}

/* ---- history ----------------------------------------------------------------------- */

typedef struct hdatom {
    int64_t e, tx;      /* entity, transaction */
    cairn_val a, v;     /* attribute, value (owned) */
    int added;          /* assertion or retraction */
    size_t seq;         /* EAVT position, to keep that order within a tx */
} hdatom;

static int cmp_hdatom(const void *x, const void *y)
{
    const hdatom *a = x, *b = y;
    if (a->tx != b->tx)
        return a->tx < b->tx ? -1 : 1;
    if (a->added != b->added)
        return a->added - b->added;  /* retractions first, as they happened */
    return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* :db/txInstant of tx in db (nil when the database keeps no history). */
static cairn_val tx_instant(const cairn_db *db, int64_t tx)
{
    cairn_datoms *it;
    cairn_datom d;
    cairn_val comps, a, r = cairn_nil();
    cli_check_oom(cairn_keyword(&a, "db/txInstant", 12));
    cli_check_oom(cairn_vector_new(&comps, 2));
    cli_check_oom(cairn_coll_push(&comps, cairn_int(tx)));
    cli_check_oom(cairn_coll_push(&comps, a));
    if (cairn_datoms_open(&it, db, CAIRN_INDEX_EAVT, comps, NULL) == 0) {
        if (cairn_datoms_next(it, &d) == 0)
            r = cairn_retain(d.v);
        cairn_datoms_close(it);
    }
    cairn_release(comps);
    return r;
}

static void print_history_table(cli *c, const cairn_db *db, hdatom *h, size_t n)
{
    static const char *const names[] = { "tx", "instant", "e", "a", "v", "op" };
    cairn_val rows, heads, inst = cairn_nil();
    int64_t inst_tx = 0;
    cli_check_oom(cairn_vector_new(&rows, n));
    cli_check_oom(cairn_vector_new(&heads, 6));
    for (size_t i = 0; i < 6; i++) {
        cairn_val s;
        cli_check_oom(cairn_string(&s, names[i], strlen(names[i])));
        cli_check_oom(cairn_coll_push_take(&heads, s));
    }
    for (size_t i = 0; i < n; i++) {
        cairn_val row, op;
        if (h[i].tx != inst_tx) {
            cairn_release(inst);
            inst = tx_instant(db, h[i].tx);
            inst_tx = h[i].tx;
        }
        cli_check_oom(cairn_vector_new(&row, 6));
        cli_check_oom(cairn_coll_push(&row, cairn_int(h[i].tx)));
        cli_check_oom(cairn_coll_push(&row, inst));
        cli_check_oom(cairn_coll_push(&row, cairn_int(h[i].e)));
        cli_check_oom(cairn_coll_push(&row, h[i].a));
        cli_check_oom(cairn_coll_push(&row, h[i].v));
        cli_check_oom(cairn_string(&op, h[i].added ? "+" : "-", 1));
        cli_check_oom(cairn_coll_push_take(&row, op));
        cli_check_oom(cairn_coll_push_take(&rows, row));
    }
    cairn_release(inst);
    cli_print_table(c, rows, heads);
    cairn_release(rows);
    cairn_release(heads);
}

int cmd_history(cli *c, int argc, char **argv)
{
    cairn_db *db, *hist;
    cairn_datoms *it;
    cairn_datom d;
    cairn_val comps;
    cairn_error err = CAIRN_ERROR_INIT;
    hdatom *h = NULL;
    size_t n = 0, cap = 0, shown;
    int rc;
    if (argc < 1 || argc > 3)
        return cli_usage(c);
    if ((rc = values_vector(c, argc - 1, argv + 1, &comps)) != 0)
        return rc;
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0) {
        cairn_release(comps);
        return rc;
    }
    rc = cairn_db_history(&hist, db, &err);
    if (rc == 0) {
        rc = cairn_datoms_open(&it, hist, CAIRN_INDEX_EAVT, comps, &err);
        cairn_db_release(hist);
    }
    cairn_release(comps);
    cli_check_oom(rc);
    if (rc < 0) {
        cairn_db_release(db);
        return cli_fail(c, &err);
    }
    while ((rc = cairn_datoms_next(it, &d)) == 0) {
        if (n == cap)
            h = xrealloc(h, (cap = cap ? cap * 2 : 256) * sizeof *h);
        h[n].e = d.e;
        h[n].tx = d.tx;
        h[n].a = cairn_retain(d.a);
        h[n].v = cairn_retain(d.v);
        h[n].added = d.added;
        h[n].seq = n;
        n++;
    }
    cairn_datoms_close(it);
    qsort(h, n, sizeof *h, cmp_hdatom);
    shown = c->limit >= 0 && (size_t)c->limit < n ? (size_t)c->limit : n;
    if (rc == CAIRN_ENOTFOUND && c->format == CLI_TABLE) {
        print_history_table(c, db, h, shown);
    } else if (rc == CAIRN_ENOTFOUND) {
        for (size_t i = 0; i < shown; i++) {
            cairn_datom x = { h[i].e, h[i].a, h[i].v, h[i].tx, h[i].added };
            cairn_val v = cli_datom_val(c, &x);
            cli_print(c, v);
            cairn_release(v);
        }
    }
    for (size_t i = 0; i < n; i++) {
        cairn_release(h[i].a);
        cairn_release(h[i].v);
    }
    free(h);
    cairn_db_release(db);
    if (rc != CAIRN_ENOTFOUND) {
        cli_check_oom(rc);
        return cli_failf(c, ":datoms/read", "reading the history failed: %s", cairn_strerror(rc));
    }
    return CLI_OK;
}

/* ---- log --------------------------------------------------------------------------- */

static void put_kw(cairn_val *m, const char *k, cairn_val v)
{
    cairn_val key;
    cli_check_oom(cairn_keyword(&key, k, strlen(k)));
    cli_check_oom(cairn_map_put_take(m, key, v));
}

int cmd_log(cli *c, int argc, char **argv)
{
    cairn_db *db;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val rows;
    long long shown = 0;
    int rc = 0;
    if (argc != 1)
        return cli_usage(c);
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0)
        return rc;
    cli_check_oom(cairn_vector_new(&rows, 16));
    while (db && (c->limit < 0 || shown < c->limit)) {
        cairn_val parents, entry, id = cairn_db_commit_id(db);
        cairn_db *parent = NULL;
        int64_t parent_tx = 0;
        if ((rc = cairn_db_parent_commit_ids(&parents, db, &err)) < 0)
            break;
        int collected = 0;
        if (cairn_count(parents) > 0 &&
            (rc = cairn_db_commit_as_db(&parent, db, cairn_coll_get(parents, 0), &err)) < 0) {
            if (rc != CAIRN_ENOTFOUND) {
                cairn_release(parents);
                break;
            }
            /* garbage collection removed it: the kept history ends here */
            collected = 1;
            rc = 0;
            err = (cairn_error)CAIRN_ERROR_INIT;
        }
        if (parent)
            parent_tx = cairn_db_max_tx(parent);
        cli_check_oom(cairn_map_new(&entry, 7));
        put_kw(&entry, "commit-id", id);
        put_kw(&entry, "max-tx", cairn_int(cairn_db_max_tx(db)));
        put_kw(&entry, "txs", collected ? cairn_nil() : cairn_int(parent ? cairn_db_max_tx(db) - parent_tx : 0));
        put_kw(&entry, "instant", cairn_db_max_tx_instant(db) ? cairn_inst(cairn_db_max_tx_instant(db)) : cairn_nil());
        put_kw(&entry, "datoms", cairn_int((int64_t)cairn_db_datom_count(db)));
        put_kw(&entry, "parents", parents);
        if (collected)
            put_kw(&entry, "parents-collected", cairn_bool(1));
        if (c->format == CLI_TABLE) {
            cli_check_oom(cairn_coll_push_take(&rows, entry));
        } else {
            cli_print(c, entry);
            cairn_release(entry);
        }
        shown++;
        cairn_db_release(db);
        db = parent;
    }
    cairn_db_release(db);
    if (c->format == CLI_TABLE)
        cli_print_table(c, rows, cairn_nil());
    cairn_release(rows);
    cli_check_oom(rc);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}
