/*
 * Garbage collection: Datahike's gc-storage, mark and sweep.
 *
 * Mark. From every branch head, the commits back through their parents
 * (while the commit is at or after remove-before), each with its tail chain
 * (a tail commit is replayed from the records before it, back to its base),
 * and for each kept commit its record, schema node, config node and every
 * node of its trees (the trees it names: its own, or its tail's base). An
 * address set skips what an earlier commit already marked, so shared
 * subtrees cost one visit. Anything unreadable while marking stops the
 * collection before it has deleted anything.
 *
 * Sweep. Every node the store lists and the mark did not reach is deleted,
 * then the store compacts (the file store rewrites packs that are mostly
 * deleted nodes: cairn/store.h, compact).
 *
 * Why it cannot delete a node a commit is about to need: it holds the store's
 * writer lock, so no other process writes, and this connection's committer
 * writes only while holding c->write_mu, which the collection holds from
 * before it reads the heads until it has compacted. A node a later commit
 * writes again after being collected (same bytes, same address) is simply
 * written again: puts skip only nodes the store still has.
 */
#include "conn/conn_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "index/btree.h"

struct todo {
    cairn_addr *a;
    unsigned char *must;        /* 1: missing is corruption (a head, a tail's commit) */
    size_t n, cap;
};

static int todo_push(struct todo *t, const cairn_addr *a, int must)
{
    if (t->n == t->cap) {
        size_t cap = t->cap ? t->cap * 2 : 64;
        cairn_addr *na = cairn_realloc(t->a, cairn_mul_size(cap, sizeof *na));
        unsigned char *nm;
        if (!na)
            return CAIRN_ENOMEM;
        t->a = na;
        if (!(nm = cairn_realloc(t->must, cap)))
            return CAIRN_ENOMEM;
        t->must = nm;
        t->cap = cap;
    }
    t->a[t->n] = *a;
    t->must[t->n++] = (unsigned char)must;
    return 0;
}

struct gc {
    cairn_conn *c;
    cairn_error *err;
    cairn_addrset marked;       /* every node kept */
    struct todo todo;           /* commits to visit */
    int64_t remove_before;
    int64_t commits;            /* commit records kept */
    int64_t deleted;            /* nodes deleted */
    cairn_addr *dead;           /* nodes to delete */
    size_t ndead, capdead;
    int oom;
};

static int head_cb(const char *name, void *payload)
{
    struct gc *g = payload;
    cairn_store *store = g->c->ctx->store;
    void *data = NULL;
    size_t len = 0;
    cairn_addr commit;
    int64_t max_tx;
    int rc = cairn_store_head_read(store, name, &data, &len);
    if (rc == CAIRN_ENOTFOUND)
        return 0; /* deleted since it was listed */
    if (rc < 0) {
        cairn_error_copy(g->err, &store->err);
        return cairn_error_code(g->err, rc);
    }
    rc = cairn_head_decode(&commit, &max_tx, data, len);
    cairn_free(data);
    if (rc < 0)
        return cairn_error_set(g->err, rc, ":gc/head",
                               "branch head %s cannot be read (%s); nothing was deleted", name, cairn_strerror(rc));
    return todo_push(&g->todo, &commit, 1) < 0 ? cairn_error_oom(g->err) : 0;
}

static int mark_cb(const cairn_addr *addr, unsigned level, void *payload)
{
    struct gc *g = payload;
    int rc = cairn_addrset_add(&g->marked, addr);
    (void)level;
    return rc < 0 ? rc : rc == 0 ? CAIRN_BTREE_WALK_SKIP : 0;
}

/* Marks commit's record and what it names; queues its tail and parents. */
static int mark_commit(struct gc *g, const cairn_addr *commit, int must)
{
    cairn_dbctx *ctx = g->c->ctx;
    cairn_commit_refs r;
    char hex[2 * CAIRN_ADDR_LEN + 1];
    int rc;
    if (cairn_addrset_has(&g->marked, commit))
        return 0;
    memset(&r, 0, sizeof r);
    if ((rc = cairn_db__commit_refs(&r, ctx, commit, g->err)) == CAIRN_ENOTFOUND && !must) {
        /* collected by an earlier run: its children were kept, it was not
         * (not marked: a tail that needs it still finds it missing) */
        cairn_error_clear(g->err);
        return 0;
    }
    cairn_addr_hex(hex, commit);
    if (rc < 0) {
        char why[160];
        snprintf(why, sizeof why, "%s", g->err->message[0] ? g->err->message : cairn_strerror(rc));
        cairn_error_set(g->err, rc, ":gc/mark", "commit %s cannot be read (%s); nothing was deleted", hex, why);
        return rc;
    }
    g->commits++;
    if ((rc = cairn_addrset_add(&g->marked, commit)) >= 0 && (rc = cairn_addrset_add(&g->marked, &r.schema_addr)) >= 0)
        rc = cairn_addrset_add(&g->marked, &r.config_addr);
    for (int t = 0; t < CAIRN_T_COUNT_ && rc >= 0; t++) {
        cairn_btree tree;
        if ((rc = cairn_btree_open(&tree, ctx->cache, &r.roots[t], &r.opts)) < 0)
            break;
        rc = cairn_btree_walk(&tree, mark_cb, g);
        cairn_btree_dispose(&tree);
    }
    if (rc < 0 && rc != CAIRN_ENOMEM)
        rc = cairn_error_set(g->err, rc, ":gc/mark", "a node of commit %s cannot be read (%s); nothing was deleted",
                             hex, cairn_strerror(rc));
    /* a tail's earlier commit is needed whatever its age; other parents
     * only while this commit is recent enough */
    if (rc >= 0 && r.tail_depth > 1)
        rc = todo_push(&g->todo, &r.tail_prev, 1);
    if (rc >= 0 && (g->remove_before == CAIRN_GC_KEEP_ALL || r.instant >= g->remove_before))
        for (size_t i = 0; i < r.nparents && rc >= 0; i++) {
            cairn_addr p;
            memcpy(p.bytes, r.parents + i * CAIRN_ADDR_LEN, CAIRN_ADDR_LEN);
            if (!(r.tail_depth > 1 && cairn_addr_equal(&p, &r.tail_prev)))
                rc = todo_push(&g->todo, &p, 0);
        }
    cairn_free(r.data);
    return rc < 0 ? rc : 0;
}

static int sweep_cb(const cairn_addr *addr, void *payload)
{
    struct gc *g = payload;
    if (cairn_addrset_has(&g->marked, addr))
        return 0;
    if (g->ndead == g->capdead) {
        size_t cap = g->capdead ? g->capdead * 2 : 256;
        cairn_addr *d = cairn_realloc(g->dead, cairn_mul_size(cap, sizeof *d));
        if (!d) {
            g->oom = 1;
            return 1;
        }
        g->dead = d;
        g->capdead = cap;
    }
    g->dead[g->ndead++] = *addr;
    return 0;
}

static int store_failed(struct gc *g, int rc)
{
    cairn_error_copy(g->err, &g->c->ctx->store->err);
    return cairn_error_code(g->err, rc);
}

int cairn_gc_storage(cairn_conn *c, int64_t remove_before_ms, cairn_gc_stats *out, cairn_error *err)
{
    cairn_store *store = c->ctx->store;
    const cairn_store_methods *m = store->methods;
    cairn_error local = CAIRN_ERROR_INIT;
    struct gc g;
    int rc;
    if (!err)
        err = &local;
    memset(&g, 0, sizeof g);
    g.c = c;
    g.err = err;
    g.remove_before = remove_before_ms;
    pthread_mutex_lock(&c->lock);
    if (c->fatal) {
        cairn_error_copy(err, &c->fatal_err);
        rc = c->fatal_err.code ? c->fatal_err.code : CAIRN_ECLOSED;
    } else if (c->stopping) {
        rc = cairn_error_set(err, CAIRN_ECLOSED, ":connection-has-been-released", "connection has been released");
    } else {
        rc = cairn_conn__become_writer(c, err);
    }
    pthread_mutex_unlock(&c->lock);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&c->write_mu);
    if ((rc = m->head_list(store, head_cb, &g)) < 0 && !err->code)
        rc = store_failed(&g, rc);
    while (rc >= 0 && g.todo.n) {
        g.todo.n--;
        rc = mark_commit(&g, &g.todo.a[g.todo.n], g.todo.must[g.todo.n]);
    }
    /* the file store's log: its nodes must be where del reaches them */
    if (rc >= 0 && m->version >= 3 && m->compact && (rc = m->compact(store)) < 0)
        rc = store_failed(&g, rc);
    if (rc >= 0 && (rc = m->list(store, sweep_cb, &g)) < 0)
        rc = store_failed(&g, rc);
    if (rc >= 0 && g.oom)
        rc = CAIRN_ENOMEM;
    for (size_t i = 0; i < g.ndead && rc >= 0; i++)
        if ((rc = m->del(store, &g.dead[i])) < 0)
            rc = store_failed(&g, rc);
        else
            g.deleted++;
    if (rc >= 0 && m->version >= 3 && m->compact && (rc = m->compact(store)) < 0)
        rc = store_failed(&g, rc);
    pthread_mutex_unlock(&c->write_mu);
    if (out) {
        out->commits = g.commits;
        out->kept = (int64_t)g.marked.count;
        out->deleted = g.deleted;
    }
    cairn_addrset_dispose(&g.marked);
    cairn_free(g.todo.a);
    cairn_free(g.todo.must);
    cairn_free(g.dead);
    if (rc == CAIRN_ENOMEM)
        return cairn_error_oom(err);
    return rc < 0 ? cairn_error_code(err, rc) : 0;
}
