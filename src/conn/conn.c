/*
 * Database lifecycle and connections: create, delete, exists, connect,
 * release, the current value, and the single writer.
 *
 * The writer is two threads per connection, started by the first
 * transaction, which also takes the store's writer lock (a second writer, in
 * this process or another, gets CAIRN_EBUSY). Callers queue requests and
 * wait, each on its own condition variable. The writer thread applies every
 * queued request, one after another, each on the db-after of the one before,
 * into the open group. When the committer thread is idle, the writer seals
 * the open group (encodes its nodes and its commit record, CPU only) and
 * hands it over; the committer writes the nodes durably, then moves the
 * branch head by compare-and-set (group commit), and only then wakes the
 * group's callers, so a transaction is acknowledged only when its commit is
 * durable. While one group is being written the next is being applied on the
 * sealed value (pipelining): on the file store the fsyncs of one group
 * overlap the transaction work of the next. A transaction that fails fails
 * alone; the others of its group commit.
 *
 * Lingering. With a fixed number of callers, each waiting for its own
 * commit, sealing as soon as the committer is idle splits them into two
 * cohorts that take turns (half of them applied while the other half is
 * written), and on a store whose write takes milliseconds (fsyncs) that
 * halves the group and nearly halves throughput. So when the last write was
 * slow (>= 20 us), the writer waits for the callers it just acknowledged to
 * come back, up to half that write's time (at most 1 ms), and seals one full
 * group: on the file store at 16 threads, groups went from 8.0 to 15.9
 * requests on average. A fast store (memory) never waits. The bound was
 * 0.2 ms until the file store's commit log made a write 0.1-0.3 ms; at
 * 20 us, tx-entity went from 5.2-5.6k to 5.9-6.7k tx/s at 4 threads and
 * from 7.1-10.6k to 11.2-12.2k at 16 (three interleaved runs each).
 *
 * When a sealed group fails to be written, the open group stood on a value
 * that will never exist. Its requests go back to the front of the queue,
 * unacknowledged, and are applied again on the value really there (a request
 * that needed the lost group then fails on its own terms).
 *
 * Fencing: the head moves by compare-and-set against the head this writer
 * last read or wrote. If another process moved it (a writer that ignored the
 * lock), the group fails with ":writer/conflict" and the writer re-reads the
 * head before the next group. A failed durable write makes the connection
 * fail-stop (":writer/fatal"): it never retries a commit whose durability it
 * cannot know.
 */
#include "conn/conn_int.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"
#include "tx/apply.h"

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- lifecycle ------------------------------------------------------------------ */

static int open_ctx(cairn_dbctx **out, cairn_config *cfg, cairn_val config, cairn_error *err)
{
    int rc = cairn_config_parse(cfg, config, err);
    if (rc < 0)
        return rc;
    return cairn_config_open_ctx(out, cfg, err);
}

int cairn_database_exists(int *out, cairn_val config, cairn_error *err)
{
    cairn_config cfg;
    cairn_dbctx *ctx;
    void *data;
    size_t len;
    int rc = open_ctx(&ctx, &cfg, config, err);
    if (rc < 0)
        return rc;
    rc = cairn_store_head_read(ctx->store, ctx->branch, &data, &len);
    if (rc == 0) {
        cairn_free(data);
        *out = 1;
    } else if (rc == CAIRN_ENOTFOUND) {
        *out = 0;
        rc = 0;
    } else {
        cairn_error_copy(err, &ctx->store->err);
        rc = cairn_error_code(err, rc);
    }
    cairn_dbctx_release(ctx);
    return rc;
}

/* Writes db as the first commit of a new branch head. */
static int write_first_commit(cairn_dbctx *ctx, cairn_db *db, cairn_error *err)
{
    cairn_store_batch *batch = NULL;
    cairn_db *committed = NULL;
    cairn_buf head = CAIRN_BUF_INIT;
    int rc;
    if ((rc = cairn_store_batch_new(&batch, ctx->store)) < 0)
        goto done;
    if ((rc = cairn_db__commit(&committed, db, NULL, 0, batch, err)) < 0)
        goto done;
    if ((rc = cairn_store_batch_commit(batch)) < 0) {
        cairn_error_copy(err, &ctx->store->err);
        goto done;
    }
    if ((rc = cairn_head_encode(&head, &committed->commit, committed->max_tx)) < 0)
        goto done;
    rc = cairn_store_head_cas(ctx->store, ctx->branch, NULL, 0, head.ptr, head.len);
    if (rc == CAIRN_ECONFLICT)
        rc = cairn_error_set(err, CAIRN_EEXISTS, ":db-already-exists", "Database already exists.");
    else if (rc < 0)
        cairn_error_copy(err, &ctx->store->err);
done:
    cairn_store_batch_free(batch);
    cairn_db_release(committed);
    cairn_buf_dispose(&head);
    return cairn_error_code(err, rc);
}

int cairn_create_database(cairn_val config, cairn_error *err)
{
    cairn_config cfg;
    cairn_dbctx *ctx = NULL;
    cairn_schema *schema = NULL;
    cairn_db *db = NULL;
    void *data;
    size_t len;
    int rc = open_ctx(&ctx, &cfg, config, err);
    if (rc < 0)
        return rc;
    rc = cairn_store_head_read(ctx->store, ctx->branch, &data, &len);
    if (rc == 0) {
        cairn_free(data);
        rc = cairn_error_set(err, CAIRN_EEXISTS, ":db-already-exists", "Database already exists.");
        goto done;
    }
    if (rc != CAIRN_ENOTFOUND) {
        cairn_error_copy(err, &ctx->store->err);
        goto done;
    }
    if ((rc = cairn_config_schema(&schema, &cfg, err)) < 0 || (rc = cairn_db__new_empty(&db, ctx, schema)) < 0)
        goto done;
    if ((rc = write_first_commit(ctx, db, err)) < 0)
        goto done;
    if (cairn_type_of(cfg.initial_tx) != CAIRN_NIL) {
        cairn_conn *conn;
        if ((rc = cairn_connect(&conn, config, err)) < 0)
            goto done;
        rc = cairn_transact(NULL, conn, cfg.initial_tx, cairn_nil(), err);
        cairn_conn_release(conn);
    }
done:
    cairn_db_release(db);
    cairn_schema_release(schema);
    cairn_dbctx_release(ctx);
    return cairn_error_code(err, rc);
}

struct collect_names {
    cairn_val names;   /* vector of strings */
};

static int name_cb(const char *name, void *payload)
{
    cairn_val s;
    int rc = cairn_string(&s, name, strlen(name));
    if (rc == 0)
        rc = cairn_coll_push_take(&((struct collect_names *)payload)->names, s);
    return rc;
}

static int del_cb(const cairn_addr *addr, void *payload)
{
    cairn_store *s = payload;
    return s->methods->del(s, addr);
}

int cairn_delete_database(cairn_val config, cairn_error *err)
{
    cairn_config cfg;
    cairn_dbctx *ctx;
    struct collect_names names;
    int rc = open_ctx(&ctx, &cfg, config, err);
    if (rc < 0)
        return rc;
    if ((rc = cairn_store_lock(ctx->store)) < 0) {
        rc = cairn_error_set(err, rc, ":writer/locked", "the database is open for writing elsewhere");
        cairn_dbctx_release(ctx);
        return rc;
    }
    names.names = cairn_nil();
    if ((rc = cairn_vector_new(&names.names, 4)) == 0)
        rc = ctx->store->methods->head_list(ctx->store, name_cb, &names);
    /* heads first: a reader never sees a head whose nodes are gone */
    for (size_t i = 0; rc == 0 && i < cairn_count(names.names); i++) {
        const char *name = cairn_str_get(cairn_coll_get(names.names, i), NULL);
        void *data;
        size_t len;
        if ((rc = cairn_store_head_read(ctx->store, name, &data, &len)) == CAIRN_ENOTFOUND) {
            rc = 0;
            continue;
        }
        if (rc == 0) {
            rc = cairn_store_head_cas(ctx->store, name, data, len, NULL, 0);
            cairn_free(data);
        }
    }
    if (rc == 0)
        rc = ctx->store->methods->list(ctx->store, del_cb, ctx->store);
    if (rc < 0) {
        cairn_error_copy(err, &ctx->store->err);
        cairn_error_code(err, rc);
    }
    cairn_release(names.names);
    cairn_dbctx_release(ctx);
    return rc;
}

/* Reads the head and opens its value. */
static int read_latest(cairn_db **out, cairn_buf *raw, cairn_dbctx *ctx, cairn_error *err)
{
    cairn_addr commit;
    int64_t max_tx;
    int rc = cairn_db__read_head(&commit, &max_tx, raw, ctx, err);
    if (rc < 0)
        return rc;
    return cairn_db__open_commit(out, ctx, &commit, err);
}

int cairn_connect(cairn_conn **out, cairn_val config, cairn_error *err)
{
    cairn_config cfg;
    cairn_dbctx *ctx;
    cairn_conn *c;
    cairn_db *db = NULL;
    cairn_buf raw = CAIRN_BUF_INIT;
    cairn_addr commit;
    int64_t max_tx;
    int keep_history, read_flex;
    int rc = open_ctx(&ctx, &cfg, config, err);
    if (rc < 0)
        return rc;
    /* the stored settings win; an explicit, different one is an error */
    if ((rc = cairn_db__read_head(&commit, &max_tx, &raw, ctx, err)) < 0 ||
        (rc = cairn_db__commit_flags(ctx, &commit, &keep_history, &read_flex, err)) < 0)
        goto fail;
    if ((cfg.keep_history_given && keep_history != cfg.keep_history) ||
        (cfg.read_flex_given && read_flex != cfg.read_flex)) {
        rc = cairn_error_set(err, CAIRN_EINVALID, ":config-does-not-match-stored-db",
                             "Configuration does not match stored configuration (:keep-history? or "
                             ":schema-flexibility differ).");
        goto fail;
    }
    ctx->keep_history = keep_history;
    ctx->read_flex = read_flex;
    if ((rc = cairn_db__open_commit(&db, ctx, &commit, err)) < 0)
        goto fail;
    if (!(c = cairn_malloc(sizeof *c))) {
        rc = cairn_error_oom(err);
        goto fail;
    }
    memset(c, 0, sizeof *c);
    c->ctx = ctx;
    c->latest = db;
    c->head_raw = raw;
    pthread_mutex_init(&c->lock, NULL);
    pthread_mutex_init(&c->write_mu, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&c->wake, &ca);
        pthread_condattr_destroy(&ca);
    }
    pthread_cond_init(&c->commit_wake, NULL);
    *out = c;
    return 0;
fail:
    cairn_db_release(db);
    cairn_buf_dispose(&raw);
    cairn_dbctx_release(ctx);
    return rc;
}

static void stop_writer(cairn_conn *c)
{
    pthread_mutex_lock(&c->lock);
    c->stopping = 1;
    pthread_cond_broadcast(&c->wake);
    pthread_mutex_unlock(&c->lock);
    if (c->started)
        pthread_join(c->thread, NULL);
    c->started = 0;
    /* the writer left nothing in flight; now the committer */
    pthread_mutex_lock(&c->lock);
    c->committer_stop = 1;
    pthread_cond_broadcast(&c->commit_wake);
    pthread_mutex_unlock(&c->lock);
    if (c->committer_started)
        pthread_join(c->committer, NULL);
    c->committer_started = 0;
}

void cairn_conn_release(cairn_conn *c)
{
    if (!c)
        return;
    stop_writer(c);
    if (c->is_writer)
        cairn_store_unlock(c->ctx->store);
    cairn_db_release(c->latest);
    cairn_buf_dispose(&c->head_raw);
    cairn_free(c->listeners);
    pthread_mutex_destroy(&c->lock);
    pthread_mutex_destroy(&c->write_mu);
    pthread_cond_destroy(&c->wake);
    pthread_cond_destroy(&c->commit_wake);
    cairn_dbctx_release(c->ctx);
    cairn_free(c);
}

int cairn_conn_db(cairn_db **out, cairn_conn *c, cairn_error *err)
{
    cairn_buf raw = CAIRN_BUF_INIT;
    cairn_addr commit;
    int64_t max_tx;
    cairn_db *db, *hint;
    int rc = cairn_db__read_head(&commit, &max_tx, &raw, c->ctx, err);
    if (rc < 0) {
        cairn_buf_dispose(&raw);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    if (raw.len == c->head_raw.len && !memcmp(raw.ptr, c->head_raw.ptr, raw.len)) {
        *out = cairn_db_retain(c->latest);
        pthread_mutex_unlock(&c->lock);
        cairn_buf_dispose(&raw);
        return 0;
    }
    hint = cairn_db_retain(c->latest);
    pthread_mutex_unlock(&c->lock);
    rc = cairn_db__open_commit_hint(&db, c->ctx, &commit, hint, err);
    cairn_db_release(hint);
    if (rc < 0) {
        cairn_buf_dispose(&raw);
        return rc;
    }
    pthread_mutex_lock(&c->lock);
    if (db->max_tx >= c->latest->max_tx) {
        cairn_db_release(c->latest);
        c->latest = cairn_db_retain(db);
        cairn_buf_dispose(&c->head_raw);
        c->head_raw = raw;
        raw.ptr = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    cairn_buf_dispose(&raw);
    *out = db;
    return 0;
}

/* ---- the writer ---------------------------------------------------------------------- */

static int commit_id_val(cairn_val *out, const cairn_addr *a)
{
    return cairn_uuid(out, a->bytes);
}

cairn_val cairn_db_commit_id(const cairn_db *db)
{
    cairn_val v;
    if (!db->has_commit || commit_id_val(&v, &db->commit) < 0)
        return cairn_nil();
    return v;
}

static void call_listeners(cairn_conn *c, cairn_txreq *group)
{
    struct listener *ls;
    size_t n;
    pthread_mutex_lock(&c->lock);
    n = c->nlisteners;
    ls = n ? cairn_malloc(cairn_mul_size(n, sizeof *ls)) : NULL;
    if (ls)
        memcpy(ls, c->listeners, n * sizeof *ls);
    pthread_mutex_unlock(&c->lock);
    if (!ls)
        return;
    for (cairn_txreq *r = group; r; r = r->next)
        if (r->rc == 0 && r->report)
            for (size_t i = 0; i < n; i++)
                ls[i].cb(r->report, ls[i].payload);
    cairn_free(ls);
}

/* Seals a group: encodes cur (built on base) into a batch of nodes and a
 * commit record. CPU only; nothing is written yet. */
static int seal_group(cairn_store_batch **batch_out, cairn_db **committed_out, cairn_conn *c, cairn_db *base,
                      cairn_db *cur, cairn_error *err)
{
    cairn_store_batch *batch = NULL;
    int rc;
    if ((rc = cairn_store_batch_new(&batch, c->ctx->store)) < 0)
        return cairn_error_set(err, rc, ":writer/oom", "out of memory sealing a commit");
    if ((rc = cairn_db__commit(committed_out, cur, base->has_commit ? &base->commit : NULL, base->has_commit ? 1 : 0,
                               batch, err)) < 0) {
        cairn_store_batch_free(batch);
        return rc;
    }
    *batch_out = batch;
    return 0;
}

/* Writes a sealed group: its nodes durably, then the head compare-and-set
 * (in one call, which the file store overlaps: cairn/store.h, commit). */
static int write_sealed(cairn_conn *c, struct cairn_sealed *s, cairn_buf *new_head, cairn_error *err)
{
    cairn_store *store = c->ctx->store;
    int rc;
    if ((rc = cairn_head_encode(new_head, &s->committed->commit, s->committed->max_tx)) < 0)
        return cairn_error_code(err, rc);
    rc = cairn_store_batch_commit_head(s->batch, c->ctx->branch, c->head_raw.ptr, c->head_raw.len, new_head->ptr,
                                       new_head->len);
    if (rc == CAIRN_EIO && !strcmp(store->err.keyword, ":store/ambiguous")) {
        /* the store cannot tell whether the head moved: look */
        void *data = NULL;
        size_t len = 0;
        if (cairn_store_head_read(store, c->ctx->branch, &data, &len) == 0)
            rc = len == new_head->len && !memcmp(data, new_head->ptr, len) ? 0 : CAIRN_ECONFLICT;
        cairn_free(data);
    }
    if (rc == CAIRN_ECONFLICT) {
        cairn_error_set(err, rc, ":writer/conflict",
                        "the branch head moved under this writer (another process committed); nothing was written");
    } else if (rc < 0) {
        cairn_error_copy(err, &store->err);
        if (rc != CAIRN_ENOMEM) {
            pthread_mutex_lock(&c->lock);
            c->fatal = 1;
            cairn_error_set(&c->fatal_err, rc, ":writer/fatal", "writing the commit failed: %s",
                            err ? err->message : "");
            pthread_mutex_unlock(&c->lock);
        }
    }
    return rc < 0 ? cairn_error_code(err, rc) : 0;
}

/* Marks every request of a group done and wakes its caller (c->lock held;
 * a request may vanish as soon as it is done, so next is read first). */
static void finish_group(cairn_txreq *group)
{
    for (cairn_txreq *r = group, *next; r; r = next) {
        next = r->next;
        r->done = 1;
        pthread_cond_signal(&r->cv);
    }
}

/*
 * Applies queued requests one after another, each on the db-after of the one
 * before; *cur moves past every one that succeeds.
 *
 * A report is built only for a caller that asked for it, or when listeners
 * may want it. Without one, each intermediate value dies here, in this
 * thread, as soon as the next transaction has been applied on it. With one,
 * the report holds db-before and db-after, and the last of the callers to
 * free them frees their nodes in its own thread: at 16 threads on the memory
 * store that was 14% of all CPU in cairn_tx_report_free, much of it waiting
 * on the allocator's lock for blocks this thread had allocated.
 */
static void apply_requests(cairn_conn *c, cairn_txreq *reqs, cairn_db **cur)
{
    for (cairn_txreq *r = reqs; r; r = r->next) {
        cairn_tx_out out;
        cairn_db *after;
        int fatal, want;
        pthread_mutex_lock(&c->lock); /* the committer sets fatal */
        if ((fatal = c->fatal) != 0) {
            cairn_error_copy(&r->err, &c->fatal_err);
            r->rc = c->fatal_err.code ? c->fatal_err.code : CAIRN_ECLOSED;
        }
        want = r->want_report || c->nlisteners > 0;
        pthread_mutex_unlock(&c->lock);
        if (fatal)
            continue;
        /* a report's db-before is a value like any other: complete */
        if (want && (r->rc = cairn_db__materialize(cur, &r->err)) < 0)
            continue;
        if ((r->rc = cairn_tx_apply(&out, *cur, r->tx, r->tx_data, r->tx_meta, now_ms(), &r->err)) < 0)
            continue;
        r->rc = cairn_db__apply_deferred(&after, *cur, &out, !want, &r->err);
        if (r->rc == 0) {
            if (want)
                r->rc = cairn_tx_report_build(&r->report, cairn_db_retain(*cur), cairn_db_retain(after), &out);
            if (r->rc == 0) {
                cairn_db_release(*cur);
                *cur = after;
            } else {
                cairn_db_release(after);
                cairn_error_code(&r->err, r->rc);
            }
        }
        cairn_tx_out_dispose(&out);
    }
}

/* Fails every applied request of a group with rc / err. */
static void fail_group(cairn_txreq *group, int rc, const cairn_error *err)
{
    for (cairn_txreq *r = group; r; r = r->next) {
        if (r->rc == 0) {
            r->rc = rc;
            cairn_error_copy(&r->err, err);
            cairn_tx_report_free(r->report);
            r->report = NULL;
        }
    }
}

/*
 * The committer thread: writes each sealed group (nodes, then the head),
 * publishes the new value, and acknowledges the group's callers. It runs
 * while the writer thread applies and seals the next group.
 */
static void *committer_main(void *arg)
{
    cairn_conn *c = arg;
    pthread_mutex_lock(&c->lock);
    for (;;) {
        struct cairn_sealed *s;
        cairn_txreq *group;
        cairn_buf new_head = CAIRN_BUF_INIT;
        cairn_error cerr = CAIRN_ERROR_INIT;
        int64_t t0, t1;
        size_t count;
        int rc;
        while (!c->inflight && !c->committer_stop)
            pthread_cond_wait(&c->commit_wake, &c->lock);
        if (!c->inflight)
            break;
        s = c->inflight;
        pthread_mutex_unlock(&c->lock);
        pthread_mutex_lock(&c->write_mu); /* garbage collection waits (gc.c) */
        t0 = mono_ns();
        rc = write_sealed(c, s, &new_head, &cerr);
        t1 = mono_ns();
        pthread_mutex_unlock(&c->write_mu);
        if (rc < 0) {
            cairn_db *fresh = NULL;
            cairn_buf raw = CAIRN_BUF_INIT;
            fail_group(s->group, rc, &cerr);
            /* build the next group on what is really there */
            if (rc == CAIRN_ECONFLICT && read_latest(&fresh, &raw, c->ctx, NULL) < 0) {
                cairn_db_release(fresh);
                fresh = NULL;
            }
            pthread_mutex_lock(&c->lock);
            if (fresh) {
                cairn_db_release(c->latest);
                c->latest = fresh;
                cairn_buf_dispose(&c->head_raw);
                c->head_raw = raw;
            } else {
                cairn_buf_dispose(&raw);
            }
            c->rebase = 1;  /* the applied-but-unsealed group stood on this one */
        } else {
            cairn_val cid = cairn_nil();
            commit_id_val(&cid, &s->committed->commit);
            for (cairn_txreq *r = s->group; r; r = r->next)
                if (r->rc == 0 && r->report)
                    cairn_map_assoc(&r->report->tx_meta, KW(db_commitId), cid);
            cairn_release(cid);
            pthread_mutex_lock(&c->lock);
            cairn_db_release(c->latest);
            c->latest = cairn_db_retain(s->committed);
            cairn_buf_dispose(&c->head_raw);
            c->head_raw = new_head;
            new_head.ptr = NULL;
            new_head.len = new_head.cap = 0;
            pthread_mutex_unlock(&c->lock);
            call_listeners(c, s->group);
            pthread_mutex_lock(&c->lock);
        }
        /* what the write needed is freed before its callers go on: a caller
         * that counts its own allocations (the out-of-memory tests) must not
         * see this thread free blocks after it was answered */
        group = s->group;
        count = s->count;
        pthread_mutex_unlock(&c->lock);
        cairn_store_batch_free(s->batch);
        cairn_db_release(s->committed);
        cairn_free(s);
        cairn_buf_dispose(&new_head);
        pthread_mutex_lock(&c->lock);
        finish_group(group);
        c->inflight = NULL;
        c->write_ns = t1 - t0;
        c->idle_since = mono_ns();
        c->returning = count;
        pthread_cond_broadcast(&c->wake);
    }
    pthread_mutex_unlock(&c->lock);
    return NULL;
}

/* Puts an applied group back at the front of the queue, as never applied. */
static void requeue(cairn_conn *c, cairn_txreq *open, cairn_txreq *open_tail)
{
    for (cairn_txreq *r = open; r; r = r->next) {
        cairn_tx_report_free(r->report);
        r->report = NULL;
        r->rc = 0;
        cairn_error_clear(&r->err);
    }
    open_tail->next = c->head;
    c->head = open;
    if (!c->tail)
        c->tail = open_tail;
}

/* Lingering: see writer_main. */
#define LINGER_MIN_NS 20000     /* writes faster than this never wait */
#define LINGER_MAX_NS 1000000   /* the longest wait for the last group's callers */

/*
 * The writer thread. It takes queued requests and applies them onto the
 * newest sealed value (the open group). When the committer is idle it seals
 * the open group (encodes its nodes and commit record) and hands it over, so
 * applying the next group overlaps writing this one. If a sealed group fails,
 * the open group stood on a value that will never exist: its requests go back
 * to the queue and are applied again on the value really there.
 */
static void *writer_main(void *arg)
{
    cairn_conn *c = arg;
    cairn_txreq *open = NULL, *open_tail = NULL;
    size_t open_count = 0;
    int lingering;
    int64_t linger_until = 0;
    cairn_db *base = NULL, *cur = NULL;  /* the open group starts from base; cur is after it */
    pthread_mutex_lock(&c->lock);
    for (;;) {
        if (c->rebase) {
            if (open)
                requeue(c, open, open_tail);
            open = open_tail = NULL;
            open_count = 0;
            cairn_db_release(base);
            cairn_db_release(cur);
            base = cur = NULL;
            c->rebase = 0;
        }
        /* the callers of the group just written are about to come back:
         * while the write was slow, give them a little time to join the
         * next group, so that slow writes keep groups full */
        lingering = 0;
        if (open && !c->inflight && c->returning && c->write_ns >= LINGER_MIN_NS) {
            int64_t wait = c->write_ns / 2 < LINGER_MAX_NS ? c->write_ns / 2 : LINGER_MAX_NS;
            linger_until = c->idle_since + wait;
            lingering = mono_ns() < linger_until;
        }
        if (lingering && !c->head) {
            struct timespec ts = { (time_t)(linger_until / 1000000000), (long)(linger_until % 1000000000) };
            pthread_cond_timedwait(&c->wake, &c->lock, &ts);
            continue;
        }
        if (open && !c->inflight && !lingering) {
            struct cairn_sealed *s = NULL;
            cairn_error serr = CAIRN_ERROR_INIT;
            cairn_txreq *group = open;
            size_t count = open_count;
            int ok = 0, rc = 0;
            open = open_tail = NULL;
            open_count = 0;
            pthread_mutex_unlock(&c->lock);
            for (cairn_txreq *r = group; r; r = r->next)
                ok += r->rc == 0;
            /* the group's deferred deltas go into its trees before it is sealed */
            if (ok && (rc = cairn_db__materialize(&cur, &serr)) < 0)
                fail_group(group, rc, &serr);
            else if (ok) {
                if ((s = cairn_malloc(sizeof *s)) != NULL) {
                    memset(s, 0, sizeof *s);
                    if ((rc = seal_group(&s->batch, &s->committed, c, base, cur, &serr)) < 0) {
                        cairn_free(s);
                        s = NULL;
                    }
                } else {
                    rc = cairn_error_oom(&serr);
                }
                if (rc < 0)
                    fail_group(group, rc, &serr);
            }
            cairn_db_release(cur);
            if (s) {
                cur = cairn_db_retain(s->committed);
                cairn_db_release(base);
                base = cairn_db_retain(cur);
            } else {
                cur = cairn_db_retain(base);
            }
            pthread_mutex_lock(&c->lock);
            if (s) {
                s->group = group;
                s->count = count;
                c->inflight = s;
                pthread_cond_signal(&c->commit_wake);
            } else {
                finish_group(group);
            }
            continue;
        }
        if (c->head) {
            cairn_txreq *reqs = c->head, *last = c->tail;
            c->head = c->tail = NULL;
            if (!base) {
                base = cairn_db_retain(c->latest);
                cur = cairn_db_retain(base);
            }
            pthread_mutex_unlock(&c->lock);
            apply_requests(c, reqs, &cur);
            pthread_mutex_lock(&c->lock);
            for (cairn_txreq *r = reqs; r; r = r->next) {
                c->applied++;
                open_count++;
                if (!c->inflight && c->returning)
                    c->returning--;
            }
            if (open_tail)
                open_tail->next = reqs;
            else
                open = reqs;
            open_tail = last;
            continue;
        }
        if (c->stopping && !open && !c->inflight)
            break;
        pthread_cond_wait(&c->wake, &c->lock);
    }
    pthread_mutex_unlock(&c->lock);
    cairn_db_release(base);
    cairn_db_release(cur);
    return NULL;
}

/* Makes this connection the writer: the store lock, a fresh head, the thread. */
int cairn_conn__become_writer(cairn_conn *c, cairn_error *err)
{
    cairn_db *fresh = NULL;
    cairn_buf raw = CAIRN_BUF_INIT;
    int rc;
    if (!c->is_writer) {
        if ((rc = cairn_store_lock(c->ctx->store)) < 0) {
            if (rc == CAIRN_EBUSY)
                return cairn_error_set(err, rc, ":writer/locked",
                                       "another connection or process is the writer of this database");
            cairn_error_copy(err, &c->ctx->store->err);
            return cairn_error_code(err, rc);
        }
        c->is_writer = 1;
        if ((rc = read_latest(&fresh, &raw, c->ctx, err)) < 0) {
            cairn_buf_dispose(&raw);
            return rc;
        }
        cairn_db_release(c->latest);
        c->latest = fresh;
        cairn_buf_dispose(&c->head_raw);
        c->head_raw = raw;
    }
    if (!c->committer_started) {
        if (pthread_create(&c->committer, NULL, committer_main, c) != 0)
            return cairn_error_set(err, CAIRN_ERROR, ":writer/thread", "cannot start the committer thread");
        c->committer_started = 1;
    }
    if (!c->started) {
        if (pthread_create(&c->thread, NULL, writer_main, c) != 0)
            return cairn_error_set(err, CAIRN_ERROR, ":writer/thread", "cannot start the writer thread");
        c->started = 1;
    }
    return 0;
}

int cairn_transact(cairn_tx_report **out, cairn_conn *c, cairn_val tx_data, cairn_val tx_meta, cairn_error *err)
{
    return cairn_transact_at(out, c, 0, tx_data, tx_meta, err);
}

int cairn_transact_at(cairn_tx_report **out, cairn_conn *c, int64_t tx, cairn_val tx_data, cairn_val tx_meta,
                      cairn_error *err)
{
    cairn_txreq req;
    int rc;
    memset(&req, 0, sizeof req);
    req.tx = tx;
    req.tx_data = tx_data;
    req.tx_meta = tx_meta;
    req.want_report = out != NULL;
    pthread_cond_init(&req.cv, NULL);
    pthread_mutex_lock(&c->lock);
    if (c->fatal) {
        cairn_error_copy(err, &c->fatal_err);
        rc = c->fatal_err.code ? c->fatal_err.code : CAIRN_ECLOSED;
        pthread_mutex_unlock(&c->lock);
        pthread_cond_destroy(&req.cv);
        return rc;
    }
    if (c->stopping) {
        pthread_mutex_unlock(&c->lock);
        pthread_cond_destroy(&req.cv);
        return cairn_error_set(err, CAIRN_ECLOSED, ":connection-has-been-released", "connection has been released");
    }
    if ((rc = cairn_conn__become_writer(c, err)) < 0) {
        pthread_mutex_unlock(&c->lock);
        pthread_cond_destroy(&req.cv);
        return rc;
    }
    if (c->tail)
        c->tail->next = &req;
    else
        c->head = &req;
    c->tail = &req;
    pthread_cond_signal(&c->wake);
    while (!req.done)
        pthread_cond_wait(&req.cv, &c->lock);
    pthread_mutex_unlock(&c->lock);
    pthread_cond_destroy(&req.cv);
    if (req.rc < 0) {
        cairn_error_copy(err, &req.err);
        return cairn_error_code(err, req.rc);
    }
    if (out)
        *out = req.report;
    else
        cairn_tx_report_free(req.report);
    return 0;
}

/* {:tx-data [...] :tx-meta {...}} or a plain vector. */
static int transact_value(cairn_tx_report **out, cairn_conn *c, cairn_val v, cairn_error *err)
{
    cairn_val data = v, meta = cairn_nil();
    if (cairn_type_of(v) == CAIRN_MAP) {
        if (!cairn_map_get(&data, v, KW(tx_data)))
            return cairn_error_set(err, CAIRN_EINVALID, ":transact/syntax",
                                   "Bad transaction data: a map must hold :tx-data");
        cairn_map_get(&meta, v, KW(tx_meta));
    }
    return cairn_transact(out, c, data, meta, err);
}

int cairn_transact_edn(cairn_tx_report **out, cairn_conn *c, const char *edn, size_t len, cairn_error *err)
{
    cairn_val v;
    int rc = cairn_edn_read(&v, edn, len, NULL, err);
    if (rc < 0)
        return rc;
    rc = transact_value(out, c, v, err);
    cairn_release(v);
    return rc;
}

int cairn_transact_json(cairn_tx_report **out, cairn_conn *c, const char *json, size_t len, cairn_error *err)
{
    cairn_val v;
    int rc = cairn_json_read(&v, json, len, NULL, err);
    if (rc < 0)
        return rc;
    rc = transact_value(out, c, v, err);
    cairn_release(v);
    return rc;
}

int cairn_listen(int *key_out, cairn_conn *c, cairn_listen_cb cb, void *payload)
{
    int rc = 0;
    pthread_mutex_lock(&c->lock);
    if (c->nlisteners == c->caplisteners) {
        size_t cap = c->caplisteners ? c->caplisteners * 2 : 4;
        struct listener *p = cairn_realloc(c->listeners, cairn_mul_size(cap, sizeof *p));
        if (!p)
            rc = CAIRN_ENOMEM;
        else {
            c->listeners = p;
            c->caplisteners = cap;
        }
    }
    if (rc == 0) {
        c->listeners[c->nlisteners].key = ++c->next_key;
        c->listeners[c->nlisteners].cb = cb;
        c->listeners[c->nlisteners].payload = payload;
        *key_out = c->listeners[c->nlisteners].key;
        c->nlisteners++;
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}

int cairn_unlisten(cairn_conn *c, int key)
{
    int rc = CAIRN_ENOTFOUND;
    pthread_mutex_lock(&c->lock);
    for (size_t i = 0; i < c->nlisteners; i++) {
        if (c->listeners[i].key == key) {
            memmove(c->listeners + i, c->listeners + i + 1, (c->nlisteners - i - 1) * sizeof *c->listeners);
            c->nlisteners--;
            rc = 0;
            break;
        }
    }
    pthread_mutex_unlock(&c->lock);
    return rc;
}
