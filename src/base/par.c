/*
 * Parallel loops (par.h). Threads are started per call rather than kept in
 * a pool: the callers hand over milliseconds of work at a time (a batch of
 * node files to write, a tree's worth of leaves to compress), beside which
 * starting a thread (tens of microseconds) is small, and nothing then has
 * to be shut down with the library.
 */
#include "base/par.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>
#include <unistd.h>

#include "base/common.h"

struct pool {
    cairn_job_fn fn;            /* the work */
    void *ctx;                  /* its argument */
    size_t count;               /* items */
    _Atomic size_t next;        /* next item to take */
    _Atomic int rc;             /* first failure, 0 */
    _Atomic size_t failed;      /* its item */
};

static void *pool_work(void *p)
{
    struct pool *pl = p;
    size_t i;
    while (atomic_load(&pl->rc) == 0 && (i = atomic_fetch_add(&pl->next, 1)) < pl->count) {
        int rc = pl->fn(pl->ctx, i), zero = 0;
        if (rc < 0 && atomic_compare_exchange_strong(&pl->rc, &zero, rc))
            atomic_store(&pl->failed, i);
    }
    return NULL;
}

int cairn_parallel_for(unsigned threads, size_t count, cairn_job_fn fn, void *ctx, size_t *failed_out)
{
    struct pool pl;
    pthread_t th[15];
    size_t extra = 0, want = CAIRN_MIN(CAIRN_MIN((size_t)threads, count / 2), CAIRN_ARRAY_LEN(th) + 1);
    int rc;
    memset(&pl, 0, sizeof pl);
    pl.fn = fn;
    pl.ctx = ctx;
    pl.count = count;
    while (extra + 1 < want && pthread_create(&th[extra], NULL, pool_work, &pl) == 0)
        extra++;
    pool_work(&pl);
    for (size_t i = 0; i < extra; i++)
        pthread_join(th[i], NULL);
    if ((rc = atomic_load(&pl.rc)) < 0 && failed_out)
        *failed_out = atomic_load(&pl.failed);
    return rc;
}

static _Atomic unsigned cpu_override;    /* cairn__cpu_count_set, 0 = none */

unsigned cairn_cpu_count(void)
{
    static _Atomic unsigned n;
    unsigned v = atomic_load_explicit(&cpu_override, memory_order_relaxed);
    if (v)
        return v;
    if (!(v = atomic_load_explicit(&n, memory_order_relaxed))) {
        long c = sysconf(_SC_NPROCESSORS_ONLN);
        v = c < 1 ? 1 : c > 1024 ? 1024 : (unsigned)c;
        atomic_store_explicit(&n, v, memory_order_relaxed);
    }
    return v;
}

void cairn__cpu_count_set(unsigned n)
{
    atomic_store_explicit(&cpu_override, n, memory_order_relaxed);
}
