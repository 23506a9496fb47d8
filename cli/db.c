/*
 * Naming databases on the command line, and the connections behind them.
 *
 * A database argument is, after an optional Datahike prefix (db:, conn:,
 * history:, asof:T:, since:T:):
 *   - a directory: a file store there, with Datahike's defaults;
 *   - a config file (db.edn): a Datahike config map. A relative :path in its
 *     :store is taken relative to the config file, so `cairn q ... demo/db.edn`
 *     works from any directory (Datahike takes it relative to the working
 *     directory; the two agree when the file is in the working directory);
 *   - an inline EDN map, '{:store {:backend :mem :id "x"}}'.
 * T is a transaction id (536870913...), milliseconds since the epoch (as in
 * dthk), or a date/instant without colons (2024-05-01).
 *
 * Reading a file store that is not there must not create it: the file
 * backend makes its directory on open, so every command but create checks
 * first that the directory exists and is not empty, and reports
 * :db-does-not-exist without touching anything.
 *
 * Connections are opened once per process and kept (the shell runs many
 * commands on one), keyed by the printed config.
 */
#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include "cli.h"

/* An absolute form of path (which need not exist yet). */
static char *absolute(const char *path)
{
    char buf[PATH_MAX], *r;
    if ((r = realpath(path, buf)) != NULL)
        return xstrdup(r);
    while (path[0] == '.' && path[1] == '/')
        path += 2;
    if (path[0] == '/' || !getcwd(buf, sizeof buf))
        return xstrdup(path);
    r = xmalloc(strlen(buf) + strlen(path) + 2);
    sprintf(r, "%s/%s", buf, path);
    return r;
}

static cairn_val file_store_config(const char *path)
{
    cairn_val store, cfg;
    cli_check_oom(cairn_map_new(&store, 2));
    cli_check_oom(cairn_map_put_take(&store, cli_kw("backend"), cli_kw("file")));
    cli_check_oom(cairn_map_put_take(&store, cli_kw("path"), cli_str(path)));
    cli_check_oom(cairn_map_new(&cfg, 1));
    cli_check_oom(cairn_map_put_take(&cfg, cli_kw("store"), store));
    return cfg;
}

/* A relative :path in cfg's :store becomes relative to dir; notes a file store's directory. */
static void fix_store_path(cli_dbref *r, const char *dir)
{
    cairn_val store, path, backend;
    const char *p;
    if (!cairn_map_get(&store, r->config, cli_kw("store")) || cairn_type_of(store) != CAIRN_MAP ||
        !cairn_map_get(&path, store, cli_kw("path")) || cairn_type_of(path) != CAIRN_STRING)
        return;
    p = cairn_str_get(path, NULL);
    if (p[0] != '/' && dir) {
        char *joined = xmalloc(strlen(dir) + strlen(p) + 2);
        cairn_val s2 = cairn_retain(store);
        sprintf(joined, "%s/%s", dir, p);
        cairn_val jp = cli_str(joined);
        cli_check_oom(cairn_map_assoc(&s2, cli_kw("path"), jp));
        cairn_release(jp);
        cli_check_oom(cairn_map_assoc(&r->config, cli_kw("store"), s2));
        cairn_release(s2);
        free(joined);
        cairn_map_get(&store, r->config, cli_kw("store"));
        cairn_map_get(&path, store, cli_kw("path"));
        p = cairn_str_get(path, NULL);
    }
    if (cairn_map_get(&backend, store, cli_kw("backend")) && cairn_equal(backend, cli_kw("file")))
        r->file_path = xstrdup(p);
}

static int read_config_file(cli_dbref *r, const char *path, cairn_error *err)
{
    size_t len;
    char *text = cli_read_file(path, &len), *dir, *slash;
    int rc;
    if (!text)
        return cli_seterr(err, CAIRN_EIO, ":cli/file", "cannot read config file %s", path);
    rc = cairn_edn_read(&r->config, text, len, NULL, err);
    free(text);
    if (rc < 0)
        return rc;
    if (cairn_type_of(r->config) != CAIRN_MAP) {
        cairn_release(r->config);
        r->config = cairn_nil();
        return cli_seterr(err, CAIRN_EINVALID, ":config/invalid", "%s does not hold a config map", path);
    }
    dir = absolute(path);
    if ((slash = strrchr(dir, '/')) != NULL)
        *slash = 0;
    fix_store_path(r, dir);
    free(dir);
    return 0;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

/* T of asof:T: / since:T:. */
int cli_time_point_parse(cairn_val *out, const char *t, size_t n, cairn_error *err)
{
    char buf[64], *end;
    long long v;
    if (n == 0 || n >= sizeof buf)
        return cli_seterr(err, CAIRN_EINVALID, ":cli/time-point", "bad time point in %s", "asof:/since:");
    memcpy(buf, t, n);
    buf[n] = 0;
    errno = 0;
    v = strtoll(buf, &end, 10);
    if (!*end && !errno) {
        /* transaction ids live in [2^29, 2^32) and above 2^62; anything else is ms */
        if ((v >= (1LL << 29) && v < (1LL << 32)) || v >= (1LL << 62))
            *out = cairn_int(v);
        else
            *out = cairn_inst(v);
        return 0;
    }
    {
        char edn[100];
        int rc;
        snprintf(edn, sizeof edn, "#inst \"%s\"", buf);
        rc = cairn_edn_read(out, edn, strlen(edn), NULL, NULL);
        if (rc == 0 && cairn_type_of(*out) == CAIRN_INST)
            return 0;
        if (rc == 0)
            cairn_release(*out);
    }
    return cli_seterr(err, CAIRN_EINVALID, ":cli/time-point",
                   "bad time point '%s': give a transaction id, ms since the epoch or a date", buf);
}

int cli_dbref_parse(cli_dbref *out, const char *arg, int for_create, cairn_error *err)
{
    struct stat st;
    const char *rest = arg;
    int rc;
    memset(out, 0, sizeof *out);
    out->config = out->time_point = cairn_nil();
    if (!strncmp(rest, "db:", 3) || !strncmp(rest, "conn:", 5)) {
        rest = strchr(rest, ':') + 1;
    } else if (!strncmp(rest, "history:", 8)) {
        out->view = CLI_VIEW_HISTORY;
        rest += 8;
    } else if (!strncmp(rest, "asof:", 5) || !strncmp(rest, "since:", 6)) {
        const char *t = strchr(rest, ':') + 1, *colon = strchr(t, ':');
        out->view = rest[0] == 'a' ? CLI_VIEW_AS_OF : CLI_VIEW_SINCE;
        if (!colon)
            return cli_seterr(err, CAIRN_EINVALID, ":cli/time-point", "%s: expected asof:T:DB or since:T:DB", arg);
        if ((rc = cli_time_point_parse(&out->time_point, t, (size_t)(colon - t), err)) < 0)
            return rc;
        rest = colon + 1;
    }
    if (!*rest)
        return cli_seterr(err, CAIRN_EINVALID, ":cli/database", "%s: no database named", arg);
    if (rest[0] == '{') {
        if ((rc = cairn_edn_read(&out->config, rest, strlen(rest), NULL, err)) < 0)
            return rc;
        if (cairn_type_of(out->config) != CAIRN_MAP)
            return cli_seterr(err, CAIRN_EINVALID, ":config/invalid", "%s is not a config map", rest);
        fix_store_path(out, NULL);
        return 0;
    }
    if (stat(rest, &st) == 0 && S_ISDIR(st.st_mode)) {
        out->file_path = absolute(rest);
        out->config = file_store_config(out->file_path);
        return 0;
    }
    if (stat(rest, &st) == 0)
        return read_config_file(out, rest, err);
    if (ends_with(rest, ".edn"))
        return cli_seterr(err, CAIRN_ENOTFOUND, ":cli/file", "no config file %s", rest);
    if (!for_create)
        return cli_seterr(err, CAIRN_ENOTFOUND, ":db-does-not-exist", "no database at %s", rest);
    out->file_path = absolute(rest);
    out->config = file_store_config(out->file_path);
    return 0;
}

void cli_dbref_dispose(cli_dbref *r)
{
    cairn_release(r->config);
    cairn_release(r->time_point);
    free(r->file_path);
    memset(r, 0, sizeof *r);
}

/* 0 when a file store directory is missing or empty (opening it would create it). */
int cli_dbref_present(const cli_dbref *r)
{
    DIR *d;
    struct dirent *e;
    int any = 0;
    if (!r->file_path)
        return 1;
    if (!(d = opendir(r->file_path)))
        return 0;
    while (!any && (e = readdir(d)) != NULL)
        any = strcmp(e->d_name, ".") && strcmp(e->d_name, "..");
    closedir(d);
    return any;
}

int cli_is_db_arg(const char *arg)
{
    static const char *const prefixes[] = { "db:", "conn:", "history:", "asof:", "since:" };
    struct stat st;
    cli_dbref r;
    cairn_error err = CAIRN_ERROR_INIT;
    int is;
    for (size_t i = 0; i < sizeof prefixes / sizeof *prefixes; i++)
        if (!strncmp(arg, prefixes[i], strlen(prefixes[i])))
            return 1;
    if (stat(arg, &st) != 0)
        return 0;
    if (S_ISDIR(st.st_mode))
        return 1;
    if (!ends_with(arg, ".edn"))
        return 0;
    is = cli_dbref_parse(&r, arg, 0, &err) == 0;
    if (is) {
        cairn_val store;
        is = cairn_map_get(&store, r.config, cli_kw("store"));
    }
    cli_dbref_dispose(&r);
    return is;
}

/* ---- connections ------------------------------------------------------------------- */

static struct conn_entry {
    char *key;           /* printed config */
    cairn_conn *conn;    /* open connection */
} *conns;
static size_t nconns;

int cli_connect(cairn_conn **out, const cli_dbref *ref, cairn_error *err)
{
    char *key;
    int rc;
    if (!cli_dbref_present(ref))
        return cli_seterr(err, CAIRN_ENOTFOUND, ":db-does-not-exist", "no database at %s", ref->file_path);
    cli_check_oom(cairn_edn_print(&key, NULL, ref->config));
    for (size_t i = 0; i < nconns; i++) {
        if (!strcmp(conns[i].key, key)) {
            cairn_free(key);
            *out = conns[i].conn;
            return 0;
        }
    }
    if ((rc = cairn_connect(out, ref->config, err)) < 0) {
        cairn_free(key);
        return rc;
    }
    conns = xrealloc(conns, (nconns + 1) * sizeof *conns);
    conns[nconns].key = xstrdup(key);
    conns[nconns].conn = *out;
    nconns++;
    cairn_free(key);
    return 0;
}

void cli_close_all(void)
{
    for (size_t i = 0; i < nconns; i++) {
        cairn_conn_release(conns[i].conn);
        free(conns[i].key);
    }
    free(conns);
    conns = NULL;
    nconns = 0;
}

/* Forgets ref's connection (after its database was deleted). */
void cli_forget(const cli_dbref *ref)
{
    char *key;
    cli_check_oom(cairn_edn_print(&key, NULL, ref->config));
    for (size_t i = 0; i < nconns; i++) {
        if (!strcmp(conns[i].key, key)) {
            cairn_conn_release(conns[i].conn);
            free(conns[i].key);
            conns[i] = conns[--nconns];
            break;
        }
    }
    cairn_free(key);
}

int cli_open_db(cairn_db **out, const cli_dbref *ref, cairn_error *err)
{
    cairn_conn *conn;
    cairn_db *db, *view;
    int rc;
    if ((rc = cli_connect(&conn, ref, err)) < 0 || (rc = cairn_conn_db(&db, conn, err)) < 0)
        return rc;
    switch (ref->view) {
    case CLI_VIEW_HISTORY:
        rc = cairn_db_history(&view, db, err);
        break;
    case CLI_VIEW_AS_OF:
        rc = cairn_db_as_of(&view, db, ref->time_point, err);
        break;
    case CLI_VIEW_SINCE:
        rc = cairn_db_since(&view, db, ref->time_point, err);
        break;
    default:
        *out = db;
        return 0;
    }
    cairn_db_release(db);
    if (rc == 0)
        *out = view;
    return rc;
}

int cli_db_arg(cli *c, const char *arg, cairn_db **out)
{
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cli_dbref_parse(&ref, arg, 0, &err);
    if (rc == 0)
        rc = cli_open_db(out, &ref, &err);
    cli_dbref_dispose(&ref);
    cli_check_oom(rc);
    return rc < 0 ? cli_fail(c, &err) : 0;
}
