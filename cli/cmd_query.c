/*
 * Query commands: q (query), explain, pull, pull-many, entity.
 *
 * q takes the query first, then its inputs in :in order, as Datahike does:
 * each input that names a database (a prefix, a store directory, a config
 * file) is opened as a database value, and any other is read as a value
 * (EDN, JSON, @FILE). With --format table a relation prints as columns named
 * after the :find elements.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef struct query_args {
    cairn_val query;        /* the query (owned) */
    cairn_input *inputs;    /* inputs in :in order */
    cairn_db **dbs;         /* databases among them (owned) */
    cairn_val *vals;        /* values among them (owned) */
    size_t n;               /* inputs */
} query_args;

static void query_args_dispose(query_args *q)
{
    for (size_t i = 0; i < q->n; i++) {
        cairn_db_release(q->dbs[i]);
        cairn_release(q->vals[i]);
    }
    cairn_release(q->query);
    free(q->inputs);
    free(q->dbs);
    free(q->vals);
}

/* QUERY DB [ARGS...] -> query and inputs; the exit status on failure. */
static int query_args_parse(cli *c, int argc, char **argv, query_args *q)
{
    int rc;
    memset(q, 0, sizeof q[0]);
    q->query = cairn_nil();
    if (argc < 2)
        return cli_usage(c);
    q->inputs = xmalloc((size_t)argc * sizeof *q->inputs);
    q->dbs = xmalloc((size_t)argc * sizeof *q->dbs);
    q->vals = xmalloc((size_t)argc * sizeof *q->vals);
    if ((rc = cli_arg_value(c, argv[0], &q->query)) != 0)
        return rc;
    for (int i = 1; i < argc; i++, q->n++) {
        q->dbs[q->n] = NULL;
        q->vals[q->n] = cairn_nil();
        if (i == 1 || cli_is_db_arg(argv[i])) {
            if ((rc = cli_db_arg(c, argv[i], &q->dbs[q->n])) != 0)
                return rc;
            q->inputs[q->n] = cairn_input_db(q->dbs[q->n]);
        } else {
            if ((rc = cli_arg_value(c, argv[i], &q->vals[q->n])) != 0)
                return rc;
            q->inputs[q->n] = cairn_input_val(q->vals[q->n]);
        }
    }
    return 0;
}

static int is_kw(cairn_val v, const char *name)
{
    size_t n;
    const char *s;
    if (cairn_type_of(v) != CAIRN_KEYWORD)
        return 0;
    s = cairn_ident_get(v, &n);
    return n == strlen(name) && !memcmp(s, name, n);
}

static int is_sym(cairn_val v, const char *name)
{
    size_t n;
    const char *s;
    if (cairn_type_of(v) != CAIRN_SYMBOL)
        return 0;
    s = cairn_ident_get(v, &n);
    return n == strlen(name) && !memcmp(s, name, n);
}

/* The :find elements of a vector or map query (a new vector; empty when unknown). */
static cairn_val find_elements(cairn_val query)
{
    cairn_val out, find, k;
    cli_check_oom(cairn_vector_new(&out, 4));
    if (cairn_type_of(query) == CAIRN_MAP) {
        cairn_val inner;
        cli_check_oom(cairn_keyword(&k, "query", 5));
        if (cairn_map_get(&inner, query, k))
            query = inner;
    }
    if (cairn_type_of(query) == CAIRN_MAP) {
        cli_check_oom(cairn_keyword(&k, "find", 4));
        if (cairn_map_get(&find, query, k) && (cairn_type_of(find) == CAIRN_VECTOR || cairn_type_of(find) == CAIRN_LIST))
            for (size_t i = 0; i < cairn_count(find); i++)
                cli_check_oom(cairn_coll_push(&out, cairn_coll_get(find, i)));
        return out;
    }
    if (cairn_type_of(query) != CAIRN_VECTOR && cairn_type_of(query) != CAIRN_LIST)
        return out;
    for (size_t i = 0, in_find = 0; i < cairn_count(query); i++) {
        cairn_val e = cairn_coll_get(query, i);
        if (cairn_type_of(e) == CAIRN_KEYWORD) {
            in_find = is_kw(e, "find");
            continue;
        }
        if (in_find)
            cli_check_oom(cairn_coll_push(&out, e));
    }
    return out;
}

static cairn_val header_of(cairn_val elem)
{
    char *text;
    size_t n;
    cairn_val s;
    if (cairn_type_of(elem) == CAIRN_STRING)
        return cairn_retain(elem);
    cli_check_oom(cairn_edn_print(&text, &n, elem));
    cli_check_oom(cairn_string(&s, text, n));
    cairn_free(text);
    return s;
}

/* Prints a query result as a table shaped by its :find spec. */
static void print_result_table(cli *c, cairn_val query, cairn_val result)
{
    cairn_val elems = find_elements(query), heads, first;
    size_t n = cairn_count(elems);
    cli_check_oom(cairn_vector_new(&heads, n));
    first = n ? cairn_coll_get(elems, 0) : cairn_nil();
    if (n == 1 && cairn_type_of(first) == CAIRN_VECTOR && cairn_count(first) == 2 &&
        is_sym(cairn_coll_get(first, 1), "...")) {
        /* [?x ...]: a collection, one column */
        cli_check_oom(cairn_coll_push_take(&heads, header_of(cairn_coll_get(first, 0))));
        cli_print_table(c, result, heads);
    } else if (n == 1 && cairn_type_of(first) == CAIRN_VECTOR) {
        /* [[?a ?b]]: one tuple, one row */
        cairn_val rows;
        for (size_t i = 0; i < cairn_count(first); i++)
            cli_check_oom(cairn_coll_push_take(&heads, header_of(cairn_coll_get(first, i))));
        cli_check_oom(cairn_vector_new(&rows, 1));
        if (cairn_type_of(result) != CAIRN_NIL)
            cli_check_oom(cairn_coll_push(&rows, result));
        cli_print_table(c, rows, heads);
        cairn_release(rows);
    } else {
        for (size_t i = 0; i < n; i++)
            if (!is_sym(cairn_coll_get(elems, i), "."))
                cli_check_oom(cairn_coll_push_take(&heads, header_of(cairn_coll_get(elems, i))));
        cli_print_table(c, result, heads);
    }
    cairn_release(heads);
    cairn_release(elems);
}

int cmd_q(cli *c, int argc, char **argv)
{
    query_args q;
    cairn_query_opts opts = CAIRN_QUERY_OPTS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val result;
    int rc;
    if ((rc = query_args_parse(c, argc, argv, &q)) != 0) {
        query_args_dispose(&q);
        return rc;
    }
    if (c->limit >= 0)
        opts.limit = (size_t)c->limit;
    opts.timeout_ms = c->timeout_ms;
    if (c->interruptible)
        opts.interrupt = cli_interrupted;
    rc = cairn_q(&result, q.query, q.inputs, q.n, &opts, &err);
    cli_check_oom(rc);
    if (rc == 0) {
        if (c->format == CLI_TABLE)
            print_result_table(c, q.query, result);
        else
            cli_print(c, result);
        cairn_release(result);
    }
    query_args_dispose(&q);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}

int cmd_explain(cli *c, int argc, char **argv)
{
    query_args q;
    cairn_error err = CAIRN_ERROR_INIT;
    char *plan;
    int rc;
    if ((rc = query_args_parse(c, argc, argv, &q)) != 0) {
        query_args_dispose(&q);
        return rc;
    }
    rc = cairn_explain(&plan, q.query, q.inputs, q.n, &err);
    cli_check_oom(rc);
    if (rc == 0) {
        fprintf(c->out, "%s%s", plan, plan[0] && plan[strlen(plan) - 1] == '\n' ? "" : "\n");
        cairn_free(plan);
    }
    query_args_dispose(&q);
    return rc < 0 ? cli_fail(c, &err) : CLI_OK;
}

int cmd_pull(cli *c, int argc, char **argv)
{
    cairn_db *db;
    cairn_val pattern = cairn_nil(), eid = cairn_nil(), result;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc != 3)
        return cli_usage(c);
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0)
        return rc;
    if ((rc = cli_arg_value(c, argv[1], &pattern)) == 0 && (rc = cli_arg_value(c, argv[2], &eid)) == 0) {
        if ((rc = cairn_pull(&result, db, pattern, eid, &err)) == 0) {
            cli_print(c, result);
            cairn_release(result);
        }
        cli_check_oom(rc);
        rc = rc < 0 ? cli_fail(c, &err) : CLI_OK;
    }
    cairn_release(pattern);
    cairn_release(eid);
    cairn_db_release(db);
    return rc;
}

int cmd_pull_many(cli *c, int argc, char **argv)
{
    cairn_db *db;
    cairn_val pattern = cairn_nil(), eids = cairn_nil(), result;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc < 3)
        return cli_usage(c);
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0)
        return rc;
    rc = cli_arg_value(c, argv[1], &pattern);
    if (rc == 0 && argc == 3) {
        /* Datahike's signature: one collection of ids */
        rc = cli_arg_value(c, argv[2], &eids);
    } else if (rc == 0) {
        cli_check_oom(cairn_vector_new(&eids, (size_t)argc));
        for (int i = 2; rc == 0 && i < argc; i++) {
            cairn_val e;
            if ((rc = cli_arg_value(c, argv[i], &e)) == 0)
                cli_check_oom(cairn_coll_push_take(&eids, e));
        }
    }
    if (rc == 0) {
        if ((rc = cairn_pull_many(&result, db, pattern, eids, &err)) == 0) {
            cli_print(c, result);
            cairn_release(result);
        }
        cli_check_oom(rc);
        rc = rc < 0 ? cli_fail(c, &err) : CLI_OK;
    }
    cairn_release(pattern);
    cairn_release(eids);
    cairn_db_release(db);
    return rc;
}

int cmd_entity(cli *c, int argc, char **argv)
{
    cairn_db *db;
    cairn_entity *e = NULL;
    cairn_val eid = cairn_nil(), result;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (argc != 2)
        return cli_usage(c);
    if ((rc = cli_db_arg(c, argv[0], &db)) != 0)
        return rc;
    if ((rc = cli_arg_value(c, argv[1], &eid)) == 0) {
        rc = cairn_entity_get(&e, db, eid, &err);
        if (rc == 0 && !e) {
            cli_print(c, cairn_nil());
        } else if (rc == 0 && (rc = cairn_entity_touch(&result, e, &err)) == 0) {
            cli_print(c, result);
            cairn_release(result);
        }
        cairn_entity_free(e);
        cli_check_oom(rc);
        rc = rc < 0 ? cli_fail(c, &err) : CLI_OK;
    }
    cairn_release(eid);
    cairn_db_release(db);
    return rc;
}
