/*
 * Printing results: EDN (as Datahike prints them), JSON (Datahike's tagged
 * conventions) and tables for people.
 *
 * A table shows a relation (a set or vector of tuples) as aligned columns,
 * maps (:keys finds, pull results) with one column per key, a map of
 * key -> value as two columns, and a collection of scalars as one column.
 * Rows of a set are sorted so the same answer always looks the same; strings
 * are shown without quotes, everything else as EDN. Anything else prints as
 * EDN. Datoms print one per line, so a long listing streams and each line is
 * one EDN form (#datahike/Datom [e a v tx added]) or one JSON array.
 */
#include <stdlib.h>
#include <string.h>

#include "cli.h"

typedef int (*printer)(char **out, size_t *out_len, cairn_val v);

static void print_with(FILE *out, cairn_val v, printer fn)
{
    char *text;
    size_t n;
    cli_check_oom(fn(&text, &n, v));
    fwrite(text, 1, n, out);
    fputc('\n', out);
    cairn_free(text);
}

void cli_print_edn(FILE *out, cairn_val v)
{
    print_with(out, v, cairn_edn_print);
}

void cli_print(cli *c, cairn_val v)
{
    switch (c->format) {
    case CLI_JSON:
        print_with(c->out, v, cairn_json_print);
        break;
    case CLI_TABLE:
        cli_print_table(c, v, cairn_nil());
        break;
    default:
        cli_print_edn(c->out, v);
        break;
    }
}

/* ---- tables -------------------------------------------------------------------------- */

/* Text of a cell (owned, malloc'd): strings as they are, the rest as EDN. */
static char *cell_text(cairn_val v)
{
    char *text, *r;
    size_t n;
    if (cairn_type_of(v) == CAIRN_STRING)
        return xstrdup(cairn_str_get(v, NULL));
    cli_check_oom(cairn_edn_print(&text, &n, v));
    if ((cairn_type_of(v) == CAIRN_INST || cairn_type_of(v) == CAIRN_UUID) && (r = strchr(text, '"')) != NULL) {
        /* #inst "2024-05-01T10:00:00.000-00:00" shows as the bare time */
        r = xstrdup(r + 1);
        if (*r && r[strlen(r) - 1] == '"')
            r[strlen(r) - 1] = 0;
    } else {
        r = xstrdup(text);
    }
    cairn_free(text);
    for (char *p = r; *p; p++)
        if (*p == '\n' || *p == '\t')
            *p = ' ';
    return r;
}

/* Columns on a terminal: UTF-8 code points. */
static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++)
        w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

typedef struct table {
    size_t ncols, nrows;   /* size */
    char **cells;          /* nrows x ncols, row-major; NULL = empty */
    char **heads;          /* ncols headers, or NULL */
} table;

static void emit_row(FILE *out, char **cells, const size_t *w, size_t ncols)
{
    for (size_t j = 0; j < ncols; j++) {
        const char *s = cells[j] ? cells[j] : "";
        fputs(s, out);
        if (j + 1 < ncols)
            for (size_t k = width(s); k < w[j] + 2; k++)
                fputc(' ', out);
    }
    fputc('\n', out);
}

static void emit_table(cli *c, table *t)
{
    size_t *w = xmalloc((t->ncols + 1) * sizeof *w);
    for (size_t j = 0; j < t->ncols; j++) {
        w[j] = t->heads ? width(t->heads[j]) : 0;
        for (size_t i = 0; i < t->nrows; i++)
            if (t->cells[i * t->ncols + j] && width(t->cells[i * t->ncols + j]) > w[j])
                w[j] = width(t->cells[i * t->ncols + j]);
    }
    if (t->heads) {
        emit_row(c->out, t->heads, w, t->ncols);
        for (size_t j = 0; j < t->ncols; j++) {
            for (size_t k = 0; k < w[j]; k++)
                fputc('-', c->out);
            if (j + 1 < t->ncols)
                fputs("  ", c->out);
        }
        fputc('\n', c->out);
    }
    for (size_t i = 0; i < t->nrows; i++)
        emit_row(c->out, t->cells + i * t->ncols, w, t->ncols);
    fprintf(c->out, "(%zu row%s)\n", t->nrows, t->nrows == 1 ? "" : "s");
    for (size_t i = 0; i < t->nrows * t->ncols; i++)
        free(t->cells[i]);
    for (size_t j = 0; t->heads && j < t->ncols; j++)
        free(t->heads[j]);
    free(t->cells);
    free(t->heads);
    free(w);
}

static int cmp_vals(const void *a, const void *b)
{
    return cairn_compare(*(const cairn_val *)a, *(const cairn_val *)b);
}

static int is_seq(cairn_val v)
{
    return cairn_type_of(v) == CAIRN_VECTOR || cairn_type_of(v) == CAIRN_LIST;
}

static int is_coll(cairn_val v)
{
    return is_seq(v) || cairn_type_of(v) == CAIRN_SET;
}

/* Index of key k among the columns (added when new). */
static size_t column_of(cairn_val *keys, size_t *nkeys, cairn_val k)
{
    for (size_t j = 0; j < *nkeys; j++)
        if (cairn_equal(keys[j], k))
            return j;
    keys[*nkeys] = k;
    return (*nkeys)++;
}

static void table_of_rows(cli *c, cairn_val *rows, size_t n, cairn_val headers)
{
    table t;
    int all_seq = 1, all_map = 1;
    cairn_val *keys = NULL;
    size_t nkeys = 0, maxkeys = 0;
    memset(&t, 0, sizeof t);
    for (size_t i = 0; i < n; i++) {
        all_seq &= is_seq(rows[i]);
        all_map &= cairn_type_of(rows[i]) == CAIRN_MAP;
        if (cairn_type_of(rows[i]) == CAIRN_MAP)
            maxkeys += cairn_count(rows[i]);
    }
    if (n == 0)
        all_seq = all_map = 0;
    if (all_map) {
        keys = xmalloc((maxkeys + 1) * sizeof *keys);
        for (size_t i = 0; i < n; i++)
            for (size_t k = 0; k < cairn_count(rows[i]); k++)
                column_of(keys, &nkeys, cairn_map_key_get(rows[i], k));
        t.ncols = nkeys;
    } else if (all_seq) {
        for (size_t i = 0; i < n; i++)
            if (cairn_count(rows[i]) > t.ncols)
                t.ncols = cairn_count(rows[i]);
    } else {
        t.ncols = 1;
    }
    if (t.ncols == 0)
        t.ncols = 1;
    t.nrows = n;
    t.cells = xmalloc((n * t.ncols + 1) * sizeof *t.cells);
    memset(t.cells, 0, (n * t.ncols + 1) * sizeof *t.cells);
    for (size_t i = 0; i < n; i++) {
        char **row = t.cells + i * t.ncols;
        if (all_map) {
            for (size_t k = 0; k < cairn_count(rows[i]); k++)
                row[column_of(keys, &nkeys, cairn_map_key_get(rows[i], k))] =
                    cell_text(cairn_map_val_get(rows[i], k));
        } else if (all_seq) {
            for (size_t j = 0; j < cairn_count(rows[i]); j++)
                row[j] = cell_text(cairn_coll_get(rows[i], j));
        } else {
            row[0] = cell_text(rows[i]);
        }
    }
    if (cairn_count(headers) == t.ncols || all_map) {
        t.heads = xmalloc(t.ncols * sizeof *t.heads);
        for (size_t j = 0; j < t.ncols; j++)
            t.heads[j] = all_map ? cell_text(keys[j]) : cell_text(cairn_coll_get(headers, j));
    }
    free(keys);
    emit_table(c, &t);
}

void cli_print_table(cli *c, cairn_val v, cairn_val headers)
{
    size_t n = cairn_count(v);
    cairn_val *rows;
    if (cairn_type_of(v) == CAIRN_MAP) {
        /* key -> value, two columns */
        cairn_val pairs, h;
        cli_check_oom(cairn_vector_new(&pairs, n));
        for (size_t i = 0; i < n; i++) {
            cairn_val p;
            cli_check_oom(cairn_vector_new(&p, 2));
            cli_check_oom(cairn_coll_push(&p, cairn_map_key_get(v, i)));
            cli_check_oom(cairn_coll_push(&p, cairn_map_val_get(v, i)));
            cli_check_oom(cairn_coll_push_take(&pairs, p));
        }
        h = headers;
        rows = xmalloc((n + 1) * sizeof *rows);
        for (size_t i = 0; i < n; i++)
            rows[i] = cairn_coll_get(pairs, i);
        table_of_rows(c, rows, n, h);
        free(rows);
        cairn_release(pairs);
        return;
    }
    if (!is_coll(v)) {
        char *s = cell_text(v);
        fprintf(c->out, "%s\n", s);
        free(s);
        return;
    }
    rows = xmalloc((n + 1) * sizeof *rows);
    for (size_t i = 0; i < n; i++)
        rows[i] = cairn_coll_get(v, i);
    if (cairn_type_of(v) == CAIRN_SET)
        qsort(rows, n, sizeof *rows, cmp_vals);
    table_of_rows(c, rows, n, headers);
    free(rows);
}

/* ---- datoms ------------------------------------------------------------------------------ */

cairn_val cli_datom_val(cli *c, const cairn_datom *d)
{
    cairn_val vec, tagged, tag;
    cli_check_oom(cairn_vector_new(&vec, 5));
    cli_check_oom(cairn_coll_push(&vec, cairn_int(d->e)));
    cli_check_oom(cairn_coll_push(&vec, d->a));
    cli_check_oom(cairn_coll_push(&vec, d->v));
    cli_check_oom(cairn_coll_push(&vec, cairn_int(d->tx)));
    cli_check_oom(cairn_coll_push(&vec, cairn_bool(d->added)));
    if (c->format != CLI_EDN)
        return vec;
    cli_check_oom(cairn_symbol(&tag, "datahike/Datom", 14));
    cli_check_oom(cairn_tagged(&tagged, tag, vec));
    cairn_release(vec);
    return tagged;
}

cairn_val cli_datom_headers(void)
{
    static const char *const names[] = { "e", "a", "v", "tx", "added" };
    cairn_val h;
    cli_check_oom(cairn_vector_new(&h, 5));
    for (size_t i = 0; i < 5; i++) {
        cairn_val s;
        cli_check_oom(cairn_string(&s, names[i], strlen(names[i])));
        cli_check_oom(cairn_coll_push_take(&h, s));
    }
    return h;
}

long long cli_print_datoms(cli *c, cairn_datoms *it)
{
    cairn_datom d;
    cairn_val rows = cairn_nil();
    long long n = 0;
    int rc;
    if (c->format == CLI_TABLE)
        cli_check_oom(cairn_vector_new(&rows, 64));
    while ((c->limit < 0 || n < c->limit) && (rc = cairn_datoms_next(it, &d)) == 0) {
        cairn_val v = cli_datom_val(c, &d);
        if (c->format == CLI_TABLE)
            cli_check_oom(cairn_coll_push_take(&rows, v));
        else {
            cli_print(c, v);
            cairn_release(v);
        }
        n++;
    }
    if (c->limit >= 0 && n >= c->limit)
        rc = CAIRN_ENOTFOUND;
    if (c->format == CLI_TABLE) {
        cairn_val h = cli_datom_headers();
        cli_print_table(c, rows, h);
        cairn_release(h);
        cairn_release(rows);
    }
    if (rc != CAIRN_ENOTFOUND) {
        cli_check_oom(rc);
        cli_failf(c, ":datoms/read", "reading datoms failed: %s", cairn_strerror(rc));
        return -1;
    }
    return n;
}
