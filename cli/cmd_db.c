/*
 * Database commands: create, delete, exists, transact, schema,
 * reverse-schema, metrics and check.
 */
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"

/* mkdir -p of the directories above path, so a file store can go anywhere. */
static void make_parents(const char *path)
{
    char *p = xstrdup(path);
    for (char *s = strchr(p + 1, '/'); s; s = strchr(s + 1, '/')) {
        *s = 0;
        mkdir(p, 0777);
        *s = '/';
    }
    free(p);
}

int cmd_create(cli *c, int argc, char **argv)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc != 1)
        return cli_usage(c);
    if ((rc = cli_dbref_parse(&ref, argv[0], 1, &err)) == 0 && ref.view != CLI_VIEW_CURRENT)
        rc = cli_seterr(&err, CAIRN_EINVALID, ":cli/database", "create takes a database, not a view");
    if (rc == 0 && ref.file_path)
        make_parents(ref.file_path);
    if (rc == 0)
        rc = cairn_create_database(ref.config, &err);
    if (rc == 0)
        cli_print(c, ref.config);
    cli_dbref_dispose(&ref);
    cli_check_oom(rc);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}

int cmd_delete(cli *c, int argc, char **argv)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc != 1)
        return cli_usage(c);
    rc = cli_dbref_parse(&ref, argv[0], 1, &err);
    if (rc == 0 && cli_dbref_present(&ref)) {
        cli_forget(&ref);
        rc = cairn_delete_database(ref.config, &err);
    }
    cli_dbref_dispose(&ref);
    cli_check_oom(rc);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}

int cmd_exists(cli *c, int argc, char **argv)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc, exists = 0;
    if (argc != 1)
        return cli_usage(c);
    rc = cli_dbref_parse(&ref, argv[0], 1, &err);
    if (rc == 0 && cli_dbref_present(&ref))
        rc = cairn_database_exists(&exists, ref.config, &err);
    if (rc == 0)
        cli_print(c, cairn_bool(exists));
    cli_dbref_dispose(&ref);
    cli_check_oom(rc);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}

/* {:tx-data [datoms] :tempids {...} :tx-meta {...}} of a report. */
static cairn_val report_val(cli *c, const cairn_tx_report *r)
{
    cairn_val m, datoms, data = cairn_tx_report_tx_data_get(r), k;
    cli_check_oom(cairn_vector_new(&datoms, cairn_count(data)));
    for (size_t i = 0; i < cairn_count(data); i++) {
        cairn_val d = cairn_coll_get(data, i);
        cairn_datom dt;
        dt.e = cairn_int_value(cairn_coll_get(d, 0));
        dt.a = cairn_coll_get(d, 1);
        dt.v = cairn_coll_get(d, 2);
        dt.tx = cairn_int_value(cairn_coll_get(d, 3));
        dt.added = cairn_bool_value(cairn_coll_get(d, 4));
        cli_check_oom(cairn_coll_push_take(&datoms, cli_datom_val(c, &dt)));
    }
    cli_check_oom(cairn_map_new(&m, 3));
    cli_check_oom(cairn_keyword(&k, "tx-data", 7));
    cli_check_oom(cairn_map_put_take(&m, k, datoms));
    cli_check_oom(cairn_keyword(&k, "tempids", 7));
    cli_check_oom(cairn_map_put(&m, k, cairn_tx_report_tempids_get(r)));
    cli_check_oom(cairn_keyword(&k, "tx-meta", 7));
    cli_check_oom(cairn_map_put(&m, k, cairn_tx_report_tx_meta_get(r)));
    return m;
}

int cmd_transact(cli *c, int argc, char **argv)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_conn *conn;
    cairn_tx_report *report = NULL;
    cairn_val tx = cairn_nil(), data, meta = cairn_nil(), k;
    int rc;
    if (argc < 1 || argc > 2)
        return cli_usage(c);
    if ((rc = cli_dbref_parse(&ref, argv[0], 0, &err)) < 0) {
        cli_check_oom(rc);
        return cli_fail(c, &err);
    }
    if (ref.view != CLI_VIEW_CURRENT) {
        cli_dbref_dispose(&ref);
        return cli_failf(c, ":cli/database", "transact needs a database, not a history or as-of view");
    }
    if ((rc = cli_arg_value(c, argc > 1 ? argv[1] : NULL, &tx)) != 0) {
        cli_dbref_dispose(&ref);
        return rc;
    }
    data = tx;
    if (cairn_type_of(tx) == CAIRN_MAP) {
        cli_check_oom(cairn_keyword(&k, "tx-data", 7));
        if (!cairn_map_get(&data, tx, k))
            data = cairn_nil();
        cli_check_oom(cairn_keyword(&k, "tx-meta", 7));
        if (!cairn_map_get(&meta, tx, k))
            meta = cairn_nil();
    }
    if (cairn_type_of(data) != CAIRN_VECTOR && cairn_type_of(data) != CAIRN_LIST)
        rc = cli_seterr(&err, CAIRN_EINVALID, ":transact/syntax",
                                  "Bad transaction data: expected a vector of entity maps and operations, "
                                  "or {:tx-data [...] :tx-meta {...}}");
    else if ((rc = cli_connect(&conn, &ref, &err)) == 0)
        rc = cairn_transact(&report, conn, data, meta, &err);
    if (rc == 0) {
        cairn_val out = report_val(c, report);
        if (c->format == CLI_TABLE) {
            cairn_val datoms;
            cli_check_oom(cairn_keyword(&k, "tx-data", 7));
            cairn_val h = cli_datom_headers();
            cairn_map_get(&datoms, out, k);
            cli_print_table(c, datoms, h);
            cairn_release(h);
        } else {
            cli_print(c, out);
        }
        cairn_release(out);
        cairn_tx_report_free(report);
    }
    cairn_release(tx);
    cli_dbref_dispose(&ref);
    cli_check_oom(rc);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}

typedef int (*db_fn)(cairn_val *out, const cairn_db *db, cairn_error *err);

/* Opens argv[0], calls fn, prints its value. */
static int print_db_fn(cli *c, int argc, char **argv, db_fn fn)
{
    cairn_db *db;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val v;
    int rc;
    if (argc != 1)
        return cli_usage(c);
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0)
        return rc;
    rc = fn(&v, db, &err);
    cairn_db_release(db);
    cli_check_oom(rc);
    if (rc < 0)
        return cli_fail(c, &err);
    cli_print(c, v);
    cairn_release(v);
    return CLI_OK;
}

int cmd_schema(cli *c, int argc, char **argv)
{
    return print_db_fn(c, argc, argv, cairn_db_schema);
}

int cmd_reverse_schema(cli *c, int argc, char **argv)
{
    return print_db_fn(c, argc, argv, cairn_db_reverse_schema);
}

int cmd_metrics(cli *c, int argc, char **argv)
{
    return print_db_fn(c, argc, argv, cairn_db_metrics);
}

int cmd_check(cli *c, int argc, char **argv)
{
    return print_db_fn(c, argc, argv, cairn_db_check);
}

/* gc DB [BEFORE|now]: Datahike's gc-storage. */
int cmd_gc(cli *c, int argc, char **argv)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_conn *conn;
    cairn_gc_stats st;
    int64_t before = CAIRN_GC_KEEP_ALL;
    int rc;
    if (argc < 1 || argc > 2)
        return cli_usage(c);
    if (argc == 2 && !strcmp(argv[1], "now")) {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        before = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    } else if (argc == 2) {
        cairn_val t;
        if ((rc = cli_time_point_parse(&t, argv[1], strlen(argv[1]), &err)) < 0) {
            cli_check_oom(rc);
            return cli_fail(c, &err);
        }
        if (cairn_type_of(t) != CAIRN_INST)
            return cli_failf(c, ":cli/time-point", "gc: BEFORE is a date or ms since the epoch, not a transaction id");
        before = cairn_inst_value(t);
    }
    if ((rc = cli_dbref_parse(&ref, argv[0], 0, &err)) < 0) {
        cli_check_oom(rc);
        return cli_fail(c, &err);
    }
    if (ref.view != CLI_VIEW_CURRENT) {
        cli_dbref_dispose(&ref);
        return cli_failf(c, ":cli/database", "gc needs a database, not a history or as-of view");
    }
    if ((rc = cli_connect(&conn, &ref, &err)) == 0)
        rc = cairn_gc_storage(conn, before, &st, &err);
    cli_dbref_dispose(&ref);
    cli_check_oom(rc);
    if (rc < 0)
        return cli_fail(c, &err);
    {
        cairn_val m, k;
        const char *keys[] = { "commits-kept", "nodes-kept", "nodes-deleted" };
        int64_t vals[] = { st.commits, st.kept, st.deleted };
        cli_check_oom(cairn_map_new(&m, 3));
        for (int i = 0; i < 3; i++) {
            cli_check_oom(cairn_keyword(&k, keys[i], strlen(keys[i])));
            cli_check_oom(cairn_map_put_take(&m, k, cairn_int(vals[i])));
        }
        cli_print(c, m);
        cairn_release(m);
    }
    return CLI_OK;
}
