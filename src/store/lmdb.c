/*
 * The LMDB backend: {:backend :lmdb :path "/data/db"}, an LMDB environment
 * in that directory with three named databases:
 *
 *   nodes   key: the 16-byte address   value: the node frame
 *   heads   key: the head name (bytes, no NUL)   value: the head value
 *   meta    key "format"   value "cairn lmdb 1"; other versions are refused
 *
 * LMDB gives atomic, durable write transactions (copy-on-write pages, two
 * meta pages, two fsyncs per commit), so head_cas is a read, compare and put
 * in one write transaction, and put_many is one transaction for the batch.
 * The environment is opened without MDB_NOSYNC, MDB_NOMETASYNC,
 * MDB_MAPASYNC and MDB_WRITEMAP, and open checks that it stayed so
 * (reliability.md (d) 7): each trades durability or integrity for speed.
 *
 * One environment per directory per process: LMDB's caveats forbid opening
 * an environment twice in one process (closing one would drop the other's
 * fcntl locks), so handles on the same directory share one MDB_env through a
 * small registry, keyed by device and inode. Each handle still has its own
 * writer lock (writer.lock, flock()ed as in the file backend), so two handles
 * in one process exclude each other like two processes do.
 *
 * The map grows: a write that hits MDB_MAP_FULL is retried after doubling
 * the map size, up to :max-size bytes (default 1 TiB), after which it fails
 * with CAIRN_EFULL. Resizing needs no transaction open in the process, so
 * every transaction holds a read lock on a per-environment rwlock and a
 * resize takes it exclusively; a map grown by another process is adopted on
 * MDB_MAP_RESIZED. Readers left behind by dead processes are cleared with
 * mdb_reader_check at open and when a handle becomes the writer.
 *
 * LMDB allocates with malloc internally; only cairn's own structures go
 * through cairn_malloc.
 */
#include <errno.h>
#include <lmdb.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/err.h"
#include "edn/value.h"
#include "store/store.h"
#include "store/vfs.h"

#define FORMAT_TEXT "cairn lmdb 1"
#define FORMAT_PREFIX "cairn lmdb "
#define MAP_INITIAL ((size_t)64 << 20)
#define MAP_MAX_DEFAULT ((size_t)1 << 40)
#define MAX_READERS 510

/* One MDB_env, shared by every handle on its directory in this process. */
struct lmdb_env {
    dev_t dev;                  /* identity of the directory */
    ino_t ino;
    MDB_env *env;               /* the environment */
    MDB_dbi nodes, heads;       /* named databases */
    pthread_rwlock_t resize;    /* transactions shared, map resizes exclusive */
    size_t max_size;            /* map size cap: CAIRN_EFULL beyond */
    _Atomic int failed;         /* a commit failed: fail-stop */
    int refs;                   /* handles using it (under env_lock) */
    struct lmdb_env *next;      /* registry list */
};

struct lmdb_store {
    cairn_store base;           /* must be first */
    struct lmdb_env *e;         /* shared environment */
    char *path;                 /* the directory, for the lock file */
    cairn_writer_lock wl;       /* writer.lock */
};

static pthread_mutex_t env_lock = PTHREAD_MUTEX_INITIALIZER;
static struct lmdb_env *envs;

static struct lmdb_store *ls_of(cairn_store *s)
{
    return (struct lmdb_store *)s;
}

/* Maps an LMDB or errno code to a cairn status with a message. */
static int mdb_error(cairn_error *err, int rc, const char *what)
{
    switch (rc) {
    case MDB_MAP_FULL:
        return cairn_error_set(err, CAIRN_EFULL, ":store/full", "%s: map full at :max-size", what);
    case ENOSPC:
    case EDQUOT:
        return cairn_error_set(err, CAIRN_EFULL, ":store/full", "%s: %s", what, mdb_strerror(rc));
    case ENOMEM:
        return cairn_error_oom(err);
    case MDB_CORRUPTED:
    case MDB_PAGE_NOTFOUND:
    case MDB_INVALID:
        cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s: %s", what, mdb_strerror(rc));
        return CAIRN_CORRUPT_BKPT;
    case MDB_VERSION_MISMATCH:
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/version", "%s: %s", what, mdb_strerror(rc));
    default:
        return cairn_error_set(err, CAIRN_EIO, ":store/io", "%s: %s", what, mdb_strerror(rc));
    }
}

/* ---- transactions -------------------------------------------------------------- */

/* Adopts a map grown by another process. */
static void adopt_map_size(struct lmdb_env *e)
{
    pthread_rwlock_wrlock(&e->resize);
    mdb_env_set_mapsize(e->env, 0);
    pthread_rwlock_unlock(&e->resize);
}

/* Doubles the map, up to max_size: 0, or MDB_MAP_FULL at the cap. */
static int grow_map(struct lmdb_env *e)
{
    MDB_envinfo info;
    int rc = MDB_MAP_FULL;
    pthread_rwlock_wrlock(&e->resize);
    if (mdb_env_info(e->env, &info) == 0 && info.me_mapsize < e->max_size) {
        size_t want = info.me_mapsize > e->max_size / 2 ? e->max_size : info.me_mapsize * 2;
        rc = mdb_env_set_mapsize(e->env, want);
    }
    pthread_rwlock_unlock(&e->resize);
    return rc;
}

/* Begins a transaction with the resize lock held shared; end with txn_end. */
static int txn_begin(struct lmdb_env *e, unsigned flags, MDB_txn **txn)
{
    for (;;) {
        int rc;
        pthread_rwlock_rdlock(&e->resize);
        rc = mdb_txn_begin(e->env, NULL, flags, txn);
        if (rc == 0)
            return 0;
        pthread_rwlock_unlock(&e->resize);
        if (rc != MDB_MAP_RESIZED)
            return rc;
        adopt_map_size(e);
    }
}

static void txn_end(struct lmdb_env *e, MDB_txn *txn)
{
    mdb_txn_abort(txn);
    pthread_rwlock_unlock(&e->resize);
}

/* A write: fn runs inside a write transaction and returns 0 to commit, an
 * LMDB code, or a negative cairn status (which aborts and is returned). */
typedef int (*write_fn)(struct lmdb_env *e, MDB_txn *txn, void *arg);

static int write_txn(struct lmdb_store *ls, write_fn fn, void *arg, const char *what)
{
    struct lmdb_env *e = ls->e;
    for (;;) {
        MDB_txn *txn;
        int rc;
        if (atomic_load(&e->failed))
            return cairn_error_set(&ls->base.err, CAIRN_EIO, ":store/failed",
                                   "an earlier commit failed; the store refuses writes until reopened");
        if ((rc = txn_begin(e, 0, &txn)) != 0)
            return mdb_error(&ls->base.err, rc, what);
        rc = fn(e, txn, arg);
        if (rc != 0) {
            txn_end(e, txn);
        } else {
            rc = mdb_txn_commit(txn);
            pthread_rwlock_unlock(&e->resize);
            if (rc != 0 && rc != MDB_MAP_FULL) {
                /* the commit's fsync may have failed: never retry it (fsyncgate) */
                atomic_store(&e->failed, 1);
                cairn_error_set(&ls->base.err, CAIRN_EIO, ":store/failed",
                                "%s: commit failed (%s); the store refuses writes until reopened", what,
                                mdb_strerror(rc));
                return CAIRN_EIO;
            }
        }
        if (rc == MDB_MAP_FULL) {
            if (grow_map(e) == 0)
                continue;
            return mdb_error(&ls->base.err, rc, what);
        }
        if (rc > 0 || (rc >= MDB_KEYEXIST && rc <= MDB_LAST_ERRCODE))
            return mdb_error(&ls->base.err, rc, what);
        return rc;
    }
}

/* ---- nodes ------------------------------------------------------------------------ */

/* Copies a value out of a read transaction, which must end after. */
static int copy_val(const MDB_val *v, void **data_out, size_t *len_out)
{
    void *p = cairn_store_data_alloc(v->mv_size ? v->mv_size : 1);
    if (!p)
        return CAIRN_ENOMEM;
    memcpy(p, v->mv_data, v->mv_size);
    *data_out = p;
    *len_out = v->mv_size;
    return 0;
}

static int read_key(struct lmdb_store *ls, MDB_dbi dbi, const void *key, size_t key_len, void **data_out,
                    size_t *len_out)
{
    struct lmdb_env *e = ls->e;
    MDB_txn *txn;
    MDB_val k = { key_len, (void *)key }, v;
    int rc;
    if ((rc = txn_begin(e, MDB_RDONLY, &txn)) != 0)
        return mdb_error(&ls->base.err, rc, "read");
    rc = mdb_get(txn, dbi, &k, &v);
    if (rc == 0)
        rc = copy_val(&v, data_out, len_out);
    else if (rc == MDB_NOTFOUND)
        rc = CAIRN_ENOTFOUND;
    else
        rc = mdb_error(&ls->base.err, rc, "read");
    txn_end(e, txn);
    if (rc == CAIRN_ENOMEM)
        cairn_error_oom(&ls->base.err);
    return rc;
}

static int lmdb_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    return read_key(ls_of(s), ls_of(s)->e->nodes, addr->bytes, CAIRN_ADDR_LEN, data_out, len_out);
}

struct put_args {
    size_t n;                   /* nodes */
    const cairn_addr *addrs;    /* their addresses */
    const void *const *data;    /* their frames */
    const size_t *lens;         /* their lengths */
};

static int put_nodes(struct lmdb_env *e, MDB_txn *txn, void *arg)
{
    struct put_args *a = arg;
    for (size_t i = 0; i < a->n; i++) {
        MDB_val k = { CAIRN_ADDR_LEN, (void *)a->addrs[i].bytes }, v = { a->lens[i], (void *)a->data[i] };
        int rc = mdb_put(txn, e->nodes, &k, &v, MDB_NOOVERWRITE);
        if (rc != 0 && rc != MDB_KEYEXIST)
            return rc;
    }
    return 0;
}

static int lmdb_put_many(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                         const size_t *lens)
{
    struct put_args a = { n, addrs, data, lens };
    return write_txn(ls_of(s), put_nodes, &a, "put");
}

static int del_node(struct lmdb_env *e, MDB_txn *txn, void *arg)
{
    const cairn_addr *addr = arg;
    MDB_val k = { CAIRN_ADDR_LEN, (void *)addr->bytes };
    int rc = mdb_del(txn, e->nodes, &k, NULL);
    return rc == MDB_NOTFOUND ? 0 : rc;
}

static int lmdb_del(cairn_store *s, const cairn_addr *addr)
{
    return write_txn(ls_of(s), del_node, (void *)addr, "delete");
}

/* Keys of one database, copied out so callbacks run with no transaction open. */
static int list_keys(struct lmdb_store *ls, MDB_dbi dbi, uint8_t **keys_out, size_t *count_out, size_t width)
{
    struct lmdb_env *e = ls->e;
    MDB_txn *txn;
    MDB_cursor *cur;
    MDB_val k, v;
    MDB_stat st;
    uint8_t *keys = NULL;
    size_t n = 0;
    int rc;
    *keys_out = NULL;
    *count_out = 0;
    if ((rc = txn_begin(e, MDB_RDONLY, &txn)) != 0)
        return mdb_error(&ls->base.err, rc, "list");
    if ((rc = mdb_stat(txn, dbi, &st)) == 0 && (rc = mdb_cursor_open(txn, dbi, &cur)) == 0) {
        keys = cairn_malloc(cairn_mul_size(st.ms_entries + 1, width));
        if (!keys)
            rc = ENOMEM;
        for (int op = MDB_FIRST; rc == 0 && (rc = mdb_cursor_get(cur, &k, &v, (MDB_cursor_op)op)) == 0; op = MDB_NEXT) {
            if (k.mv_size >= width || n >= st.ms_entries)
                continue; /* not a key this backend writes */
            memset(keys + n * width, 0, width);
            memcpy(keys + n * width, k.mv_data, k.mv_size);
            n++;
        }
        mdb_cursor_close(cur);
    }
    txn_end(e, txn);
    if (rc != 0 && rc != MDB_NOTFOUND) {
        cairn_free(keys);
        return mdb_error(&ls->base.err, rc, "list");
    }
    *keys_out = keys;
    *count_out = n;
    return 0;
}

static int lmdb_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
{
    uint8_t *keys;
    size_t n;
    int rc = list_keys(ls_of(s), ls_of(s)->e->nodes, &keys, &n, CAIRN_ADDR_LEN + 1);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cairn_addr a;
        memcpy(a.bytes, keys + i * (CAIRN_ADDR_LEN + 1), CAIRN_ADDR_LEN);
        rc = cb(&a, payload);
    }
    cairn_free(keys);
    return rc;
}

/* ---- heads ------------------------------------------------------------------------- */

static int lmdb_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    int rc = cairn_store_check_head(s, name, 0);
    if (rc < 0)
        return rc;
    return read_key(ls_of(s), ls_of(s)->e->heads, name, strlen(name), data_out, len_out);
}

struct cas_args {
    const char *name;           /* head */
    const void *expected;       /* NULL: must be absent */
    size_t expected_len;
    const void *data;           /* NULL: delete */
    size_t len;
};

static int cas_head(struct lmdb_env *e, MDB_txn *txn, void *arg)
{
    struct cas_args *a = arg;
    MDB_val k = { strlen(a->name), (void *)a->name }, v;
    int rc = mdb_get(txn, e->heads, &k, &v), present;
    if (rc != 0 && rc != MDB_NOTFOUND)
        return rc;
    present = rc == 0;
    if (a->expected ? !present || v.mv_size != a->expected_len || memcmp(v.mv_data, a->expected, a->expected_len)
                    : present)
        return CAIRN_ECONFLICT;
    if (!a->data)
        return present ? mdb_del(txn, e->heads, &k, NULL) : 0;
    v.mv_size = a->len;
    v.mv_data = (void *)a->data;
    return mdb_put(txn, e->heads, &k, &v, 0);
}

static int lmdb_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                         const void *data, size_t len)
{
    struct cas_args a = { name, expected, expected_len, data, len };
    int rc;
    if ((rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
        return rc;
    rc = write_txn(ls_of(s), cas_head, &a, "head");
    if (rc == CAIRN_ECONFLICT)
        cairn_store_head_conflict(s, name);
    return rc;
}

/* A commit: the nodes and the head in one transaction, one sync instead of two. */
struct commit_args {
    struct put_args put;        /* the nodes */
    struct cas_args cas;        /* then the head */
};

static int commit_txn(struct lmdb_env *e, MDB_txn *txn, void *arg)
{
    struct commit_args *a = arg;
    int rc = put_nodes(e, txn, &a->put);
    return rc == 0 ? cas_head(e, txn, &a->cas) : rc;
}

static int lmdb_commit(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                       const size_t *lens, const char *name, const void *expected, size_t expected_len,
                       const void *value, size_t len)
{
    struct commit_args a = { { n, addrs, data, lens }, { name, expected, expected_len, value, len } };
    int rc;
    if ((rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
        return rc;
    rc = write_txn(ls_of(s), commit_txn, &a, "commit");
    if (rc == CAIRN_ECONFLICT)
        cairn_store_head_conflict(s, name);
    return rc;
}

static int lmdb_head_list(cairn_store *s, cairn_store_name_cb cb, void *payload)
{
    uint8_t *keys;
    size_t n, w = CAIRN_HEAD_NAME_MAX + 1;
    int rc = list_keys(ls_of(s), ls_of(s)->e->heads, &keys, &n, w);
    for (size_t i = 0; i < n && rc == 0; i++)
        if (cairn_store_head_name_ok((const char *)keys + i * w))
            rc = cb((const char *)keys + i * w, payload);
    cairn_free(keys);
    return rc;
}

/* ---- the writer lock ----------------------------------------------------------------- */

static int lmdb_lock(cairn_store *s)
{
    struct lmdb_store *ls = ls_of(s);
    int dead, rc = cairn_writer_lock_take(&ls->wl, ls->path, &s->err);
    if (rc == 0)
        mdb_reader_check(ls->e->env, &dead); /* a writer that died may have left readers */
    return rc;
}

static void lmdb_unlock(cairn_store *s)
{
    cairn_writer_lock_release(&ls_of(s)->wl);
}

/* ---- opening and closing ------------------------------------------------------------- */

static void env_release(struct lmdb_env *e)
{
    struct lmdb_env **pp;
    pthread_mutex_lock(&env_lock);
    if (--e->refs > 0) {
        pthread_mutex_unlock(&env_lock);
        return;
    }
    for (pp = &envs; *pp; pp = &(*pp)->next)
        if (*pp == e) {
            *pp = e->next;
            break;
        }
    pthread_mutex_unlock(&env_lock);
    mdb_env_close(e->env);
    pthread_rwlock_destroy(&e->resize);
    cairn_free(e);
}

static void lmdb_close(cairn_store *s)
{
    struct lmdb_store *ls = ls_of(s);
    cairn_writer_lock_dispose(&ls->wl);
    if (ls->e)
        env_release(ls->e);
    cairn_free(ls->path);
    cairn_free(ls);
}

static const cairn_store_methods lmdb_methods = {
    CAIRN_STORE_METHODS_VERSION, "lmdb", lmdb_get, lmdb_put_many, lmdb_del, lmdb_list, lmdb_head_read,
    lmdb_head_cas, lmdb_head_list, lmdb_lock, lmdb_unlock, lmdb_close, lmdb_commit, NULL,
};

/* Opens the named databases and checks (or writes) the format record. */
static int open_dbs(struct lmdb_env *e, const char *path, cairn_error *err)
{
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = { 6, (void *)"format" }, v;
    size_t pl = strlen(FORMAT_PREFIX);
    int rc;
    if ((rc = txn_begin(e, 0, &txn)) != 0)
        return mdb_error(err, rc, path);
    if ((rc = mdb_dbi_open(txn, "nodes", MDB_CREATE, &e->nodes)) != 0 ||
        (rc = mdb_dbi_open(txn, "heads", MDB_CREATE, &e->heads)) != 0 ||
        (rc = mdb_dbi_open(txn, "meta", MDB_CREATE, &meta)) != 0)
        goto fail;
    rc = mdb_get(txn, meta, &k, &v);
    if (rc == MDB_NOTFOUND) {
        v.mv_size = strlen(FORMAT_TEXT);
        v.mv_data = (void *)FORMAT_TEXT;
        if ((rc = mdb_put(txn, meta, &k, &v, 0)) != 0)
            goto fail;
    } else if (rc != 0) {
        goto fail;
    } else if (v.mv_size != strlen(FORMAT_TEXT) || memcmp(v.mv_data, FORMAT_TEXT, v.mv_size)) {
        int known = v.mv_size > pl && v.mv_size < 32 && !memcmp(v.mv_data, FORMAT_PREFIX, pl);
        txn_end(e, txn);
        if (!known) {
            cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s: not a cairn LMDB store", path);
            return CAIRN_CORRUPT_BKPT;
        }
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/version",
                               "%s: store format '%.*s' is not supported (this build reads 1)", path,
                               (int)(v.mv_size - pl), (const char *)v.mv_data + pl);
    }
    rc = mdb_txn_commit(txn);
    pthread_rwlock_unlock(&e->resize);
    return rc ? mdb_error(err, rc, path) : 0;
fail:
    txn_end(e, txn);
    return mdb_error(err, rc, path);
}

static int env_open(struct lmdb_env *e, const char *path, size_t map_size, cairn_error *err)
{
    unsigned flags;
    int rc, dead;
    if ((rc = mdb_env_create(&e->env)) != 0)
        return mdb_error(err, rc, path);
    if ((rc = mdb_env_set_maxdbs(e->env, 4)) != 0 || (rc = mdb_env_set_maxreaders(e->env, MAX_READERS)) != 0 ||
        (rc = mdb_env_set_mapsize(e->env, map_size)) != 0 ||
        (rc = mdb_env_open(e->env, path, MDB_NOTLS, 0644)) != 0)
        return mdb_error(err, rc, path);
    if ((rc = mdb_env_get_flags(e->env, &flags)) != 0)
        return mdb_error(err, rc, path);
    if (flags & (MDB_NOSYNC | MDB_NOMETASYNC | MDB_MAPASYNC | MDB_WRITEMAP))
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/config",
                               "%s: LMDB environment is not fully synchronous", path);
    mdb_reader_check(e->env, &dead);
    return open_dbs(e, path, err);
}

/* The shared environment for the directory path, opened on first use. */
static int env_get(struct lmdb_env **out, const char *path, size_t map_size, size_t max_size, cairn_error *err)
{
    struct stat st;
    struct lmdb_env *e;
    pthread_rwlockattr_t ra;
    int rc = 0;
    if (mkdir(path, 0755) != 0 && errno != EEXIST)
        return cairn_error_set(err, CAIRN_EIO, ":store/io", "create %s: %s", path, strerror(errno));
    if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode))
        return cairn_error_set(err, CAIRN_EINVALID, ":store/config", ":path %s is not a directory", path);
    pthread_mutex_lock(&env_lock);
    for (e = envs; e && !(e->dev == st.st_dev && e->ino == st.st_ino); e = e->next)
        ;
    if (e) {
        e->refs++;
    } else if (!(e = cairn_malloc(sizeof *e))) {
        rc = cairn_error_oom(err);
    } else {
        memset(e, 0, sizeof *e);
        e->dev = st.st_dev;
        e->ino = st.st_ino;
        e->max_size = max_size;
        e->refs = 1;
        pthread_rwlockattr_init(&ra);
        pthread_rwlockattr_setkind_np(&ra, PTHREAD_RWLOCK_PREFER_WRITER_NONRECURSIVE_NP);
        pthread_rwlock_init(&e->resize, &ra);
        pthread_rwlockattr_destroy(&ra);
        if ((rc = env_open(e, path, map_size, err)) < 0) {
            if (e->env)
                mdb_env_close(e->env);
            pthread_rwlock_destroy(&e->resize);
            cairn_free(e);
        } else {
            e->next = envs;
            envs = e;
        }
    }
    pthread_mutex_unlock(&env_lock);
    if (rc == 0)
        *out = e;
    return rc;
}

int cairn_store_lmdb_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    const char *path = cairn_store_config_string(config, "path", err);
    int64_t map_size, max_size;
    struct lmdb_store *ls;
    int rc;
    if (!path)
        return CAIRN_EINVALID;
    if ((rc = cairn_store_config_int(&map_size, config, "map-size", (int64_t)MAP_INITIAL, 4096, err)) < 0 ||
        (rc = cairn_store_config_int(&max_size, config, "max-size", (int64_t)MAP_MAX_DEFAULT, 4096, err)) < 0)
        return rc;
    if (max_size < map_size)
        max_size = map_size;
    if (!(ls = cairn_malloc(sizeof *ls)))
        return cairn_error_oom(err);
    memset(ls, 0, sizeof *ls);
    ls->base.methods = &lmdb_methods;
    cairn_writer_lock_init(&ls->wl);
    if (!(ls->path = cairn_strndup(path, strlen(path))))
        rc = cairn_error_oom(err);
    else
        rc = env_get(&ls->e, path, (size_t)map_size, (size_t)max_size, err);
    if (rc < 0) {
        lmdb_close(&ls->base);
        return rc;
    }
    *out = &ls->base;
    return 0;
}
