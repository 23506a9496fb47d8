/*
 * Connections and the single writer: internal structures.
 */
#ifndef CAIRN_CONN_CONN_INT_H
#define CAIRN_CONN_CONN_INT_H

#include <pthread.h>

#include "db/commit.h"
#include "db/db.h"
#include "tx/report.h"
#include "tx/tx.h"

/* A parsed config. Values are borrowed from the caller's config map. */
typedef struct cairn_config {
    cairn_val config;              /* the whole map */
    cairn_val store;               /* its :store map */
    cairn_val initial_tx;          /* :initial-tx or nil */
    cairn_val schema;              /* cairn's :schema map or nil */
    int keep_history;              /* :keep-history? */
    int keep_history_given;        /* ... was given explicitly */
    int read_flex;                 /* :schema-flexibility :read */
    int read_flex_given;           /* ... was given explicitly */
    char branch[CAIRN_HEAD_NAME_MAX + 1];  /* :branch name */
    size_t cache_bytes;            /* node cache bound */
    uint32_t tail_commits;         /* :tail-commits (db/tail.c) */
} cairn_config;

int cairn_config_parse(cairn_config *out, cairn_val config, cairn_error *err);
int cairn_config_open_ctx(cairn_dbctx **out, const cairn_config *cfg, cairn_error *err);
/* The initial schema: system attributes plus cfg's :schema map. */
int cairn_config_schema(cairn_schema **out, const cairn_config *cfg, cairn_error *err);

/* A transaction waiting for the writer. */
typedef struct cairn_txreq {
    cairn_val tx_data;            /* borrowed from the caller (it waits) */
    cairn_val tx_meta;            /* borrowed */
    int64_t tx;                   /* transaction id asked for, 0 = the next */
    cairn_tx_report *report;      /* result (built only when wanted, see apply_requests) */
    int want_report;              /* the caller asked for the report */
    cairn_error err;              /* failure */
    int rc;                       /* status */
    int done;                     /* the writer finished with it */
    pthread_cond_t cv;            /* signalled when done */
    struct cairn_txreq *next;     /* queue link */
} cairn_txreq;

struct listener {
    int key;                      /* handle for unlisten */
    cairn_listen_cb cb;           /* callback */
    void *payload;                /* its payload */
};

/* A group the writer sealed (encoded), for the committer to write. */
struct cairn_sealed {
    cairn_txreq *group;           /* its requests (failed ones included) */
    cairn_db *committed;          /* the value its commit record describes */
    cairn_store_batch *batch;     /* its nodes and commit record, not yet written */
    size_t count;                 /* requests in group */
};

struct cairn_conn {
    cairn_dbctx *ctx;             /* store context */
    pthread_mutex_t write_mu;     /* held while a commit is written, and by garbage
                                     collection throughout (gc.c); taken before lock */
    pthread_mutex_t lock;         /* guards everything below */
    pthread_cond_t wake;          /* the writer has work or must stop */
    pthread_cond_t commit_wake;   /* the committer has a sealed group or must stop */
    cairn_txreq *head, *tail;     /* queued requests */
    pthread_t thread;             /* the writer (applies and seals), once started */
    int started;                  /* thread runs */
    pthread_t committer;          /* writes sealed groups, once started */
    int committer_started;        /* committer runs */
    int committer_stop;           /* the writer is gone: committer may stop */
    struct cairn_sealed *inflight; /* the group being written, or NULL */
    int rebase;                   /* a sealed group failed: the writer drops what it built on it */
    uint64_t applied;             /* requests the writer has applied (tests watch it) */
    size_t returning;             /* callers of the group written last not yet back */
    int64_t write_ns;             /* how long the committer took to write it */
    int64_t idle_since;           /* CLOCK_MONOTONIC ns when the committer went idle */
    int stopping;                 /* release asked it to stop */
    int is_writer;                /* holds the store's writer lock */
    int fatal;                    /* a commit failed in a way that forbids more writes */
    cairn_error fatal_err;        /* why */
    cairn_db *latest;             /* newest value seen or written */
    cairn_buf head_raw;           /* bytes of the head latest was read from */
    struct listener *listeners;   /* registered callbacks */
    size_t nlisteners, caplisteners;
    int next_key;                 /* next listener key */
};

/* Takes the store's writer lock (once) and starts the writer threads (c->lock held). */
int cairn_conn__become_writer(cairn_conn *c, cairn_error *err);

#endif
