/*
 * The SQLite backend: {:backend :sqlite :path "/data/db"}, one database file
 * cairn.sqlite in that directory (plus SQLite's -wal and -shm), and
 * writer.lock for the single writer as in the other backends. Schema:
 *
 *   CREATE TABLE nodes(addr BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL);
 *   CREATE TABLE heads(name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL)
 *     WITHOUT ROWID;
 *   PRAGMA application_id = 0x6361726e ("carn");  PRAGMA user_version = 1;
 *
 * nodes keeps its rowid: node rows are 4-32 KiB, and SQLite advises against
 * WITHOUT ROWID for rows larger than a twentieth of a page. Other
 * application ids are refused as "not a cairn store", other user versions
 * as unsupported.
 *
 * Durability: journal_mode=WAL and synchronous=FULL on every connection,
 * both read back and asserted at open (reliability.md (d) 7: WAL with NORMAL
 * would lose the last transactions on power loss). head_cas is
 * BEGIN IMMEDIATE, then an UPDATE (INSERT, DELETE) whose WHERE clause holds
 * the expected value, then a check of changes(). An I/O error while
 * committing makes the handle fail-stop, as in the other backends.
 *
 * :max-size (bytes, optional) caps the database file through
 * PRAGMA max_page_count; a write beyond it fails with CAIRN_EFULL.
 *
 * Threads: writes share one connection under a mutex (there is one writer);
 * reads take a connection from a small pool, so with WAL they run while a
 * write is in progress. Every connection waits up to 5 s on a busy database.
 * SQLite allocates with its own allocator (configuring it is process-wide);
 * only cairn's structures go through cairn_malloc.
 */
#include <errno.h>
#include <pthread.h>
#include <sqlite3.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "edn/value.h"
#include "store/store.h"
#include "store/vfs.h"

#define APP_ID 0x6361726e
#define FORMAT 1
#define POOL_MAX 8
#define BUSY_MS 5000

enum { Q_GET, Q_PUT, Q_DEL, Q_LIST, Q_HEAD_GET, Q_HEAD_INSERT, Q_HEAD_UPDATE, Q_HEAD_DELETE, Q_HEAD_LIST, Q_COUNT };

static const char *const queries[Q_COUNT] = {
    "SELECT data FROM nodes WHERE addr = ?1",
    "INSERT OR IGNORE INTO nodes(addr, data) VALUES (?1, ?2)",
    "DELETE FROM nodes WHERE addr = ?1",
    "SELECT addr FROM nodes",
    "SELECT value FROM heads WHERE name = ?1",
    "INSERT OR IGNORE INTO heads(name, value) VALUES (?1, ?2)",
    "UPDATE heads SET value = ?2 WHERE name = ?1 AND value = ?3",
    "DELETE FROM heads WHERE name = ?1 AND value = ?2",
    "SELECT name FROM heads",
};

/* A connection and its prepared statements. */
struct conn {
    sqlite3 *db;                    /* the connection */
    sqlite3_stmt *q[Q_COUNT];       /* prepared on first use */
};

struct sqlite_store {
    cairn_store base;               /* must be first */
    char *dir;                      /* the :path directory */
    char *file;                     /* dir/cairn.sqlite */
    pthread_mutex_t mu;             /* guards w, pool, npool */
    struct conn *w;                 /* the write connection */
    struct conn *pool[POOL_MAX];    /* idle read connections */
    size_t npool;                   /* how many */
    _Atomic int failed;             /* fail-stop after a failed commit */
    cairn_writer_lock wl;           /* writer.lock */
};

static struct sqlite_store *ss_of(cairn_store *s)
{
    return (struct sqlite_store *)s;
}

/* Maps a SQLite result code to a cairn status with a message. */
static int sql_error(cairn_error *err, sqlite3 *db, int rc, const char *what)
{
    const char *msg = db ? sqlite3_errmsg(db) : sqlite3_errstr(rc);
    switch (rc & 0xff) {
    case SQLITE_FULL:
        return cairn_error_set(err, CAIRN_EFULL, ":store/full", "%s: %s", what, msg);
    case SQLITE_NOMEM:
        return cairn_error_oom(err);
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
        return cairn_error_set(err, CAIRN_EBUSY, ":store/busy", "%s: %s", what, msg);
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
        cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s: %s", what, msg);
        return CAIRN_CORRUPT_BKPT;
    default:
        return cairn_error_set(err, CAIRN_EIO, ":store/io", "%s: %s", what, msg);
    }
}

/* ---- connections ----------------------------------------------------------------- */

static void conn_close(struct conn *c)
{
    if (!c)
        return;
    for (int i = 0; i < Q_COUNT; i++)
        sqlite3_finalize(c->q[i]);
    sqlite3_close_v2(c->db);
    cairn_free(c);
}

/* Runs a pragma and returns its single result as text in out. */
static int pragma(sqlite3 *db, const char *sql, char *out, size_t cap)
{
    sqlite3_stmt *st;
    int rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
    if (rc != SQLITE_OK)
        return rc;
    out[0] = 0;
    rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(st, 0);
        snprintf(out, cap, "%s", t ? (const char *)t : "");
        rc = SQLITE_OK;
    } else if (rc == SQLITE_DONE) {
        rc = SQLITE_OK;
    }
    sqlite3_finalize(st);
    return rc;
}

/* Opens a connection set up for durability: WAL, synchronous=FULL, checked. */
static int conn_open(struct sqlite_store *ss, struct conn **out, cairn_error *err)
{
    struct conn *c = cairn_malloc(sizeof *c);
    char v[32];
    int rc;
    if (!c)
        return cairn_error_oom(err);
    memset(c, 0, sizeof *c);
    rc = sqlite3_open_v2(ss->file, &c->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_busy_timeout(c->db, BUSY_MS);
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA journal_mode=WAL", v, sizeof v);
    if (rc == SQLITE_OK && strcmp(v, "wal") != 0) {
        conn_close(c);
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/config", "%s: journal_mode is %s, not wal", ss->file, v);
    }
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA synchronous=FULL", v, sizeof v);
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA synchronous", v, sizeof v);
    if (rc == SQLITE_OK && strcmp(v, "2") != 0) {
        conn_close(c);
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/config", "%s: synchronous is %s, not FULL", ss->file, v);
    }
    if (rc != SQLITE_OK) {
        rc = sql_error(err, c->db, rc, ss->file);
        conn_close(c);
        return rc;
    }
    *out = c;
    return 0;
}

/* The statement q of c, reset and ready to bind. */
static int stmt(struct conn *c, int q, sqlite3_stmt **out)
{
    int rc = SQLITE_OK;
    if (!c->q[q])
        rc = sqlite3_prepare_v3(c->db, queries[q], -1, SQLITE_PREPARE_PERSISTENT, &c->q[q], NULL);
    if (rc == SQLITE_OK) {
        sqlite3_reset(c->q[q]);
        sqlite3_clear_bindings(c->q[q]);
        *out = c->q[q];
    }
    return rc;
}

/* A read connection from the pool (or a new one); give it back with reader_put. */
static int reader_get(struct sqlite_store *ss, struct conn **out)
{
    struct conn *c = NULL;
    pthread_mutex_lock(&ss->mu);
    if (ss->npool)
        c = ss->pool[--ss->npool];
    pthread_mutex_unlock(&ss->mu);
    if (c) {
        *out = c;
        return 0;
    }
    return conn_open(ss, out, &ss->base.err);
}

static void reader_put(struct sqlite_store *ss, struct conn *c)
{
    pthread_mutex_lock(&ss->mu);
    if (ss->npool < POOL_MAX) {
        ss->pool[ss->npool++] = c;
        c = NULL;
    }
    pthread_mutex_unlock(&ss->mu);
    conn_close(c);
}

/* ---- reads ------------------------------------------------------------------------- */

/* Runs query q with one key bound and copies the first column of its row. */
static int read_one(struct sqlite_store *ss, int q, const void *key, int key_len, int key_text, void **data_out,
                    size_t *len_out)
{
    struct conn *c;
    sqlite3_stmt *st;
    int rc = reader_get(ss, &c);
    if (rc < 0)
        return rc;
    rc = stmt(c, q, &st);
    if (rc == SQLITE_OK)
        rc = key_text ? sqlite3_bind_text(st, 1, key, key_len, SQLITE_STATIC)
                      : sqlite3_bind_blob(st, 1, key, key_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    if (rc == SQLITE_ROW) {
        size_t n = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        void *out = cairn_store_data_alloc(n ? n : 1);
        if (!out) {
            rc = cairn_error_oom(&ss->base.err);
        } else {
            if (n)
                memcpy(out, p, n);
            *data_out = out;
            *len_out = n;
            rc = 0;
        }
    } else if (rc == SQLITE_DONE) {
        rc = CAIRN_ENOTFOUND;
    } else {
        rc = sql_error(&ss->base.err, c->db, rc, "read");
    }
    sqlite3_reset(st);
    reader_put(ss, c);
    return rc;
}

static int sqlite_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    return read_one(ss_of(s), Q_GET, addr->bytes, CAIRN_ADDR_LEN, 0, data_out, len_out);
}

static int sqlite_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    int rc = cairn_store_check_head(s, name, 0);
    if (rc < 0)
        return rc;
    return read_one(ss_of(s), Q_HEAD_GET, name, (int)strlen(name), 1, data_out, len_out);
}

/* Collects the first column of every row of q (width bytes per row, zero
 * padded), so callbacks run with no statement open. */
static int read_all(struct sqlite_store *ss, int q, size_t width, uint8_t **rows_out, size_t *count_out)
{
    struct conn *c;
    sqlite3_stmt *st;
    uint8_t *rows = NULL;
    size_t n = 0, cap = 0;
    int rc = reader_get(ss, &c);
    if (rc < 0)
        return rc;
    rc = stmt(c, q, &st);
    while (rc == SQLITE_OK && (rc = sqlite3_step(st)) == SQLITE_ROW) {
        size_t len = (size_t)sqlite3_column_bytes(st, 0);
        const void *p = sqlite3_column_blob(st, 0);
        rc = SQLITE_OK;
        if (len >= width)
            continue; /* not a row this backend writes */
        if (n == cap) {
            uint8_t *g = cairn_realloc(rows, cairn_mul_size(cap ? 2 * cap : 64, width));
            if (!g) {
                rc = SQLITE_NOMEM;
                break;
            }
            rows = g;
            cap = cap ? 2 * cap : 64;
        }
        memset(rows + n * width, 0, width);
        memcpy(rows + n * width, p, len);
        n++;
    }
    if (rc != SQLITE_DONE) {
        rc = sql_error(&ss->base.err, c->db, rc, "list");
        cairn_free(rows);
        rows = NULL;
        n = 0;
    } else {
        rc = 0;
    }
    sqlite3_reset(st);
    reader_put(ss, c);
    *rows_out = rows;
    *count_out = n;
    return rc;
}

static int sqlite_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
{
    uint8_t *rows;
    size_t n, w = CAIRN_ADDR_LEN + 1;
    int rc = read_all(ss_of(s), Q_LIST, w, &rows, &n);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cairn_addr a;
        memcpy(a.bytes, rows + i * w, CAIRN_ADDR_LEN);
        rc = cb(&a, payload);
    }
    cairn_free(rows);
    return rc;
}

static int sqlite_head_list(cairn_store *s, cairn_store_name_cb cb, void *payload)
{
    uint8_t *rows;
    size_t n, w = CAIRN_HEAD_NAME_MAX + 1;
    int rc = read_all(ss_of(s), Q_HEAD_LIST, w, &rows, &n);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cairn_store_head_name_ok((const char *)rows + i * w))
            rc = cb((const char *)rows + i * w, payload);
    cairn_free(rows);
    return rc;
}

/* ---- writes ------------------------------------------------------------------------ */

/* A write: fn runs between BEGIN IMMEDIATE and COMMIT on the write connection
 * and returns a SQLite code, or a negative cairn status to roll back with. */
typedef int (*write_fn)(struct conn *c, void *arg);

static int exec(struct conn *c, const char *sql)
{
    return sqlite3_exec(c->db, sql, NULL, NULL, NULL);
}

static int write_txn(struct sqlite_store *ss, write_fn fn, void *arg, const char *what)
{
    struct conn *c;
    int rc;
    pthread_mutex_lock(&ss->mu);
    c = ss->w;
    if (atomic_load(&ss->failed)) {
        rc = cairn_error_set(&ss->base.err, CAIRN_EIO, ":store/failed",
                             "an earlier commit failed; the store refuses writes until reopened");
    } else if ((rc = exec(c, "BEGIN IMMEDIATE")) != SQLITE_OK) {
        rc = sql_error(&ss->base.err, c->db, rc, what);
    } else if ((rc = fn(c, arg)) != SQLITE_OK) {
        exec(c, "ROLLBACK");
        if (rc > 0)
            rc = sql_error(&ss->base.err, c->db, rc, what);
    } else if ((rc = exec(c, "COMMIT")) != SQLITE_OK) {
        int code = rc & 0xff;
        if (code == SQLITE_IOERR || code == SQLITE_CORRUPT || code == SQLITE_CANTOPEN) {
            atomic_store(&ss->failed, 1);
            cairn_error_set(&ss->base.err, CAIRN_EIO, ":store/failed",
                            "%s: commit failed (%s); the store refuses writes until reopened", what,
                            sqlite3_errmsg(c->db));
            rc = CAIRN_EIO;
        } else {
            rc = sql_error(&ss->base.err, c->db, rc, what);
        }
        if (sqlite3_get_autocommit(c->db) == 0)
            exec(c, "ROLLBACK");
    }
    pthread_mutex_unlock(&ss->mu);
    return rc;
}

struct put_args {
    size_t n;                   /* nodes */
    const cairn_addr *addrs;    /* their addresses */
    const void *const *data;    /* their frames */
    const size_t *lens;         /* their lengths */
};

static int put_nodes(struct conn *c, void *arg)
{
    struct put_args *a = arg;
    sqlite3_stmt *st;
    for (size_t i = 0; i < a->n; i++) {
        int rc = stmt(c, Q_PUT, &st);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_blob(st, 1, a->addrs[i].bytes, CAIRN_ADDR_LEN, SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_bind_blob64(st, 2, a->data[i], a->lens[i], SQLITE_STATIC);
        if (rc == SQLITE_OK)
            rc = sqlite3_step(st);
        sqlite3_reset(st);
        if (rc != SQLITE_DONE)
            return rc;
    }
    return SQLITE_OK;
}

static int sqlite_put_many(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                           const size_t *lens)
{
    struct put_args a = { n, addrs, data, lens };
    return write_txn(ss_of(s), put_nodes, &a, "put");
}

static int del_node(struct conn *c, void *arg)
{
    const cairn_addr *addr = arg;
    sqlite3_stmt *st;
    int rc = stmt(c, Q_DEL, &st);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_blob(st, 1, addr->bytes, CAIRN_ADDR_LEN, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

static int sqlite_del(cairn_store *s, const cairn_addr *addr)
{
    return write_txn(ss_of(s), del_node, (void *)addr, "delete");
}

struct cas_args {
    const char *name;           /* head */
    const void *expected;       /* NULL: must be absent */
    size_t expected_len;
    const void *data;           /* NULL: delete */
    size_t len;
};

static int cas_head(struct conn *c, void *arg)
{
    struct cas_args *a = arg;
    sqlite3_stmt *st;
    int rc, q = !a->expected ? (a->data ? Q_HEAD_INSERT : Q_HEAD_GET) : (a->data ? Q_HEAD_UPDATE : Q_HEAD_DELETE);
    if ((rc = stmt(c, q, &st)) != SQLITE_OK)
        return rc;
    rc = sqlite3_bind_text(st, 1, a->name, -1, SQLITE_STATIC);
    if (rc == SQLITE_OK && a->data)
        rc = sqlite3_bind_blob(st, 2, a->data, (int)a->len, SQLITE_STATIC);
    if (rc == SQLITE_OK && a->expected)
        rc = sqlite3_bind_blob(st, a->data ? 3 : 2, a->expected, (int)a->expected_len, SQLITE_STATIC);
    if (rc == SQLITE_OK)
        rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (q == Q_HEAD_GET) /* delete-if-absent: a row means the head exists */
        return rc == SQLITE_ROW ? CAIRN_ECONFLICT : rc == SQLITE_DONE ? SQLITE_OK : rc;
    if (rc != SQLITE_DONE)
        return rc;
    return sqlite3_changes(c->db) == 1 ? SQLITE_OK : CAIRN_ECONFLICT;
}

static int sqlite_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                           const void *data, size_t len)
{
    struct cas_args a = { name, expected, expected_len, data, len };
    int rc;
    if ((rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
        return rc;
    rc = write_txn(ss_of(s), cas_head, &a, "head");
    if (rc == CAIRN_ECONFLICT)
        cairn_store_head_conflict(s, name);
    return rc;
}

/* A commit: the nodes and the head in one transaction, one sync instead of two. */
struct commit_args {
    struct put_args put;        /* the nodes */
    struct cas_args cas;        /* then the head */
};

static int commit_txn(struct conn *c, void *arg)
{
    struct commit_args *a = arg;
    int rc = put_nodes(c, &a->put);
    return rc == SQLITE_OK ? cas_head(c, &a->cas) : rc;
}

static int sqlite_commit(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                         const size_t *lens, const char *name, const void *expected, size_t expected_len,
                         const void *value, size_t len)
{
    struct commit_args a = { { n, addrs, data, lens }, { name, expected, expected_len, value, len } };
    int rc;
    if ((rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
        return rc;
    rc = write_txn(ss_of(s), commit_txn, &a, "commit");
    if (rc == CAIRN_ECONFLICT)
        cairn_store_head_conflict(s, name);
    return rc;
}

/* ---- the writer lock ----------------------------------------------------------------- */

static int sqlite_lock(cairn_store *s)
{
    return cairn_writer_lock_take(&ss_of(s)->wl, ss_of(s)->dir, &s->err);
}

static void sqlite_unlock(cairn_store *s)
{
    cairn_writer_lock_release(&ss_of(s)->wl);
}

/* ---- opening and closing ------------------------------------------------------------- */

static void sqlite_close(cairn_store *s)
{
    struct sqlite_store *ss = ss_of(s);
    cairn_writer_lock_dispose(&ss->wl);
    for (size_t i = 0; i < ss->npool; i++)
        conn_close(ss->pool[i]);
    conn_close(ss->w);
    pthread_mutex_destroy(&ss->mu);
    cairn_free(ss->dir);
    cairn_free(ss->file);
    cairn_free(ss);
}

static const cairn_store_methods sqlite_methods = {
    CAIRN_STORE_METHODS_VERSION, "sqlite", sqlite_get, sqlite_put_many, sqlite_del, sqlite_list, sqlite_head_read,
    sqlite_head_cas, sqlite_head_list, sqlite_lock, sqlite_unlock, sqlite_close, sqlite_commit, NULL,
};

/* Creates the schema in a new database, or checks an existing one's identity. */
static int check_schema(struct sqlite_store *ss, cairn_error *err)
{
    struct conn *c = ss->w;
    char app[32], ver[32];
    int rc = exec(c, "BEGIN IMMEDIATE");
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA application_id", app, sizeof app);
    if (rc == SQLITE_OK)
        rc = pragma(c->db, "PRAGMA user_version", ver, sizeof ver);
    if (rc == SQLITE_OK && !strcmp(app, "0") && !strcmp(ver, "0")) {
        rc = exec(c, "CREATE TABLE IF NOT EXISTS nodes(addr BLOB PRIMARY KEY NOT NULL, data BLOB NOT NULL);"
                     "CREATE TABLE IF NOT EXISTS heads(name TEXT PRIMARY KEY NOT NULL, value BLOB NOT NULL) "
                     "WITHOUT ROWID;"
                     "PRAGMA application_id = 1667330670; PRAGMA user_version = 1;");
        snprintf(app, sizeof app, "%d", APP_ID);
        snprintf(ver, sizeof ver, "%d", FORMAT);
    }
    if (rc == SQLITE_OK)
        rc = exec(c, "COMMIT");
    if (rc != SQLITE_OK) {
        rc = sql_error(err, c->db, rc, ss->file);
        exec(c, "ROLLBACK");
        return rc;
    }
    if (atoi(app) != APP_ID) {
        cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s: not a cairn SQLite store", ss->file);
        return CAIRN_CORRUPT_BKPT;
    }
    if (atoi(ver) != FORMAT)
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/version",
                               "%s: store format %s is not supported (this build reads %d)", ss->file, ver, FORMAT);
    return 0;
}

/* Caps the database at max_size bytes (PRAGMA max_page_count). */
static int set_max_size(struct sqlite_store *ss, int64_t max_size, cairn_error *err)
{
    char v[32], sql[64];
    int rc = pragma(ss->w->db, "PRAGMA page_size", v, sizeof v);
    if (rc == SQLITE_OK) {
        snprintf(sql, sizeof sql, "PRAGMA max_page_count = %lld", (long long)(max_size / atoll(v)));
        rc = pragma(ss->w->db, sql, v, sizeof v);
    }
    return rc == SQLITE_OK ? 0 : sql_error(err, ss->w->db, rc, ss->file);
}

int cairn_store_sqlite_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    const char *path = cairn_store_config_string(config, "path", err);
    struct sqlite_store *ss;
    int64_t max_size;
    size_t n;
    int rc;
    if (!path)
        return CAIRN_EINVALID;
    if ((rc = cairn_store_config_int(&max_size, config, "max-size", 0, 4096, err)) < 0)
        return rc;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return cairn_error_set(err, CAIRN_EIO, ":store/io", "create %s: %s", path, strerror(errno));
    if (!(ss = cairn_malloc(sizeof *ss)))
        return cairn_error_oom(err);
    memset(ss, 0, sizeof *ss);
    ss->base.methods = &sqlite_methods;
    cairn_writer_lock_init(&ss->wl);
    pthread_mutex_init(&ss->mu, NULL);
    n = strlen(path);
    ss->dir = cairn_strndup(path, n);
    ss->file = cairn_malloc(n + sizeof "/cairn.sqlite");
    if (!ss->dir || !ss->file)
        rc = cairn_error_oom(err);
    else
        snprintf(ss->file, n + sizeof "/cairn.sqlite", "%s/cairn.sqlite", path);
    if (rc == 0 && (rc = conn_open(ss, &ss->w, err)) == 0 && (rc = check_schema(ss, err)) == 0 && max_size)
        rc = set_max_size(ss, max_size, err);
    if (rc < 0) {
        sqlite_close(&ss->base);
        return rc;
    }
    *out = &ss->base;
    return 0;
}
