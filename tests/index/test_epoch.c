/* src/index/epoch.c: retired nodes wait for the sections that might see them. */
#include "index_test.h"
#include "index/epoch.h"

/* A small unreferenced node, as cairn_node_unref hands them to retire. */
static cairn_node *spare_node(void)
{
    cairn_node *n = cairn_node_alloc(0, 1, 1);
    CHECK(n != NULL);
    n->keys[0] = 'x';
    n->offs[1] = 1;
    n->total = 1;
    cairn_node_finish(n);
    return n;
}

void test_index_epoch__a_node_retired_with_no_section_open_is_freed_at_once(void)
{
    int64_t live = cairn__alloc_live();
    cairn_epoch_retire(spare_node());
    CHECK_EQ(cairn_epoch__waiting(), 0);
    CHECK_EQ(cairn__alloc_live(), live);
}

void test_index_epoch__an_open_section_of_this_thread_holds_frees_back(void)
{
    int64_t live = cairn__alloc_live();
    CHECK_EQ(cairn_epoch_enter(), 1);
    CHECK_EQ(cairn_epoch_enter(), 1);  /* sections nest */
    cairn_epoch_exit();
    cairn_epoch_retire(spare_node());
    cairn_epoch_retire(spare_node());
    CHECK_EQ(cairn_epoch__waiting(), 2);
    CHECK_EQ(cairn__alloc_live(), live + 2);
    cairn_epoch_exit();
    cairn_epoch_barrier();
    CHECK_EQ(cairn_epoch__waiting(), 0);
    CHECK_EQ(cairn__alloc_live(), live);
}

/* ---- threads ---------------------------------------------------------------- */

typedef struct holder {
    pthread_mutex_t lock;   /* guards the three flags */
    pthread_cond_t cond;    /* signalled when one changes */
    int entered;            /* the thread's section is open */
    int release;            /* the main thread lets it close the section */
    _Atomic int closing;    /* set just before cairn_epoch_exit */
} holder;

static void wait_for(holder *h, int *flag)
{
    pthread_mutex_lock(&h->lock);
    while (!*flag)
        pthread_cond_wait(&h->cond, &h->lock);
    pthread_mutex_unlock(&h->lock);
}

static void raise_flag(holder *h, int *flag)
{
    pthread_mutex_lock(&h->lock);
    *flag = 1;
    pthread_cond_broadcast(&h->cond);
    pthread_mutex_unlock(&h->lock);
}

/* Opens a section, waits to be released (or, with release preset, yields a
 * while), and closes it. */
static void *hold_section(void *p)
{
    holder *h = p;
    if (!cairn_epoch_enter())
        return NULL;
    raise_flag(h, &h->entered);
    wait_for(h, &h->release);
    for (int i = 0; i < 100; i++)
        sched_yield();
    atomic_store(&h->closing, 1);
    cairn_epoch_exit();
    return NULL;
}

static void holder_init(holder *h)
{
    memset(h, 0, sizeof *h);
    pthread_mutex_init(&h->lock, NULL);
    pthread_cond_init(&h->cond, NULL);
}

static void holder_dispose(holder *h)
{
    pthread_mutex_destroy(&h->lock);
    pthread_cond_destroy(&h->cond);
}

/* Starts hold_section in *th, waits for its section to open, and retires a
 * node while it is open. */
static void hold_and_retire(holder *h, pthread_t *th)
{
    holder_init(h);
    CHECK_EQ(pthread_create(th, NULL, hold_section, h), 0);
    wait_for(h, &h->entered);
    cairn_epoch_retire(spare_node());
}

void test_index_epoch__concurrent_section_in_another_thread_holds_frees_back(void)
{
    holder h;
    pthread_t th;
    int64_t live = cairn__alloc_live();
    hold_and_retire(&h, &th);
    CHECK_EQ(cairn_epoch__waiting(), 1);
    CHECK_EQ(cairn__alloc_live(), live + 1);
    raise_flag(&h, &h.release);
    pthread_join(th, NULL);
    /* the section is over: the next retire frees both */
    cairn_epoch_retire(spare_node());
    CHECK_EQ(cairn_epoch__waiting(), 0);
    CHECK_EQ(cairn__alloc_live(), live);
    holder_dispose(&h);
}

void test_index_epoch__concurrent_barrier_waits_for_sections_open_in_other_threads(void)
{
    holder h;
    pthread_t th;
    int64_t live = cairn__alloc_live();
    hold_and_retire(&h, &th);
    raise_flag(&h, &h.release);
    cairn_epoch_barrier();
    /* returned only once the section had begun to close, and freed the node */
    CHECK_EQ(atomic_load(&h.closing), 1);
    CHECK_EQ(cairn_epoch__waiting(), 0);
    CHECK_EQ(cairn__alloc_live(), live);
    pthread_join(th, NULL);
    holder_dispose(&h);
}

/* A thread that read and ended leaves the registry: it holds nothing back. */
static void *read_and_end(void *p)
{
    (void)p;
    if (cairn_epoch_enter())
        cairn_epoch_exit();
    return NULL;
}

void test_index_epoch__concurrent_threads_that_ended_leave_the_registry(void)
{
    pthread_t th[8];
    int64_t live = cairn__alloc_live();
    size_t readers;
    read_and_end(NULL);  /* this thread joins */
    readers = cairn_epoch__readers();
    CHECK(readers >= 1);
    for (int i = 0; i < 8; i++)
        CHECK_EQ(pthread_create(&th[i], NULL, read_and_end, NULL), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    CHECK_EQ(cairn_epoch__readers(), readers);
    cairn_epoch_retire(spare_node());
    CHECK_EQ(cairn_epoch__waiting(), 0);
    CHECK_EQ(cairn__alloc_live(), live);
}
