/*
 * Epoch-based reclamation (epoch.h), after Fraser's thesis and crossbeam:
 * one global epoch; each thread that reads has a record saying which epoch
 * it saw when its current section began (0: none open). A node retired
 * while the global epoch is t is freed once the epoch has reached t + 2. The
 * epoch only moves from E to E + 1 when every open section began in E, so
 * reaching t + 2 proves that every section open when the node was retired
 * (and so every reader that could have loaded a pointer to it before it was
 * unlinked) has ended.
 *
 * Why this works with seq_cst operations alone (no fences, which TSan does
 * not model): a reader stores its epoch with a seq_cst exchange, then loads
 * swizzled pointers with seq_cst loads; unlinking stores NULL seq_cst, and
 * happens before the retire reads the epoch (in whichever thread drops the
 * last reference). If a reader's load saw the node, that load
 * precedes the unlink in the single total order, so the exchange does too,
 * and the scan that could move the epoch from t + 1 to t + 2 (which comes
 * after the retire read t) sees the reader's record unless it has ended. On
 * x86 the loads are plain moves and a section costs one exchange.
 *
 * Records live in each thread's TLS: joining takes no allocation (so the
 * allocation-counting tests see none) and a pthread key destructor leaves
 * the registry when the thread ends. The registry and the waiting list sit
 * under one mutex, taken to join, to leave and to retire, never by a
 * section. Retiring tries to move the epoch twice, so with no section open
 * anywhere a node is freed at once; a single-threaded program only keeps
 * the nodes evicted during its current lookup, until the next one retires.
 *
 * Rejected: hazard pointers (a store and a fence per node on the path, and a
 * scan per free); per-node reference counts on the descent (what the locked
 * cache path does: atomic writes to the shared upper nodes from every
 * reader); never freeing swizzled nodes while a parent lives (a root would
 * pin every node below it and the cache's byte bound would mean nothing).
 */
#include "index/epoch.h"

#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>

#include "base/alloc.h"
#include "index/node.h"

struct reader {
    _Atomic uint64_t epoch;       /* the epoch its open section began in; 0: none */
    unsigned depth;               /* open sections (nested), own thread only */
    int joined;                   /* 1: in the registry; -1: cannot join */
    struct reader *prev, *next;   /* the registry (lock) */
};

static _Thread_local struct reader self;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;  /* registry and waiting list */
static struct reader *readers;     /* the registry (lock) */
static _Atomic uint64_t global = 1;  /* the epoch; 0 means "no section" in records */
static cairn_node *waiting;        /* retired nodes, newest first, by clock_next (lock) */
static size_t waiting_count;       /* nodes in it (lock) */
static pthread_once_t once = PTHREAD_ONCE_INIT;
static pthread_key_t key;          /* its destructor makes a thread leave */
static int key_ok;                 /* key was created */

static void unlink_reader(struct reader *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        readers = r->next;
    if (r->next)
        r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

/* pthread key destructor: the thread is ending. */
static void leave(void *p)
{
    struct reader *r = p;
    assert(r->depth == 0);
    pthread_mutex_lock(&lock);
    unlink_reader(r);
    pthread_mutex_unlock(&lock);
    r->joined = 0;
}

/* In a forked child only the forking thread lives on. */
static void after_fork_child(void)
{
    pthread_mutex_init(&lock, NULL);
    readers = NULL;
    if (self.joined == 1) {
        self.prev = self.next = NULL;
        readers = &self;
    }
}

static void init_once(void)
{
    key_ok = pthread_key_create(&key, leave) == 0 && pthread_atfork(NULL, NULL, after_fork_child) == 0;
}

static int join(struct reader *r)
{
    if (pthread_once(&once, init_once) != 0 || !key_ok || pthread_setspecific(key, r) != 0) {
        r->joined = -1;
        return 0;
    }
    pthread_mutex_lock(&lock);
    r->next = readers;
    if (readers)
        readers->prev = r;
    readers = r;
    pthread_mutex_unlock(&lock);
    r->joined = 1;
    return 1;
}

int cairn_epoch_enter(void)
{
    struct reader *r = &self;
    if (r->depth) {
        r->depth++;
        return 1;
    }
    if (r->joined != 1 && (r->joined < 0 || !join(r)))
        return 0;
    r->depth = 1;
    atomic_exchange_explicit(&r->epoch, atomic_load_explicit(&global, memory_order_relaxed), memory_order_seq_cst);
    return 1;
}

void cairn_epoch_exit(void)
{
    struct reader *r = &self;
    assert(r->depth > 0);
    if (--r->depth == 0)
        atomic_store_explicit(&r->epoch, 0, memory_order_release);
}

/* Moves the epoch on if every open section began in it (lock held). */
static void try_advance(void)
{
    uint64_t e = atomic_load(&global);
    for (struct reader *r = readers; r; r = r->next) {
        uint64_t seen = atomic_load(&r->epoch);
        if (seen != 0 && seen != e)
            return;
    }
    atomic_compare_exchange_strong(&global, &e, e + 1);
}

/* Takes the waiting nodes that may be freed off the list (lock held). */
static cairn_node *collect(void)
{
    uint64_t e = atomic_load(&global);
    cairn_node *done = NULL, **at = &waiting;
    while (*at) {
        cairn_node *n = *at;
        if (n->retired + 2 <= e) {
            *at = n->clock_next;
            n->clock_next = done;
            done = n;
            waiting_count--;
        } else {
            at = &n->clock_next;
        }
    }
    return done;
}

static void free_list(cairn_node *n)
{
    while (n) {
        cairn_node *next = n->clock_next;
        cairn_free(n);
        n = next;
    }
}

void cairn_epoch_retire(cairn_node *n)
{
    cairn_node *done;
    pthread_mutex_lock(&lock);
    n->retired = atomic_load(&global);
    n->clock_next = waiting;
    waiting = n;
    waiting_count++;
    try_advance();
    try_advance();
    done = collect();
    pthread_mutex_unlock(&lock);
    free_list(done);
}

void cairn_epoch_barrier(void)
{
    uint64_t target = atomic_load(&global) + 2;
    cairn_node *done = NULL;
    assert(self.depth == 0);
    for (;;) {
        pthread_mutex_lock(&lock);
        try_advance();
        if (atomic_load(&global) >= target) {
            done = collect();
            pthread_mutex_unlock(&lock);
            break;
        }
        pthread_mutex_unlock(&lock);
        sched_yield();
    }
    free_list(done);
}

size_t cairn_epoch__waiting(void)
{
    size_t n;
    pthread_mutex_lock(&lock);
    n = waiting_count;
    pthread_mutex_unlock(&lock);
    return n;
}

size_t cairn_epoch__readers(void)
{
    size_t n = 0;
    pthread_mutex_lock(&lock);
    for (struct reader *r = readers; r; r = r->next)
        n++;
    pthread_mutex_unlock(&lock);
    return n;
}
