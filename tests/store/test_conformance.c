/*
 * The store conformance suite: every test runs against every backend (mem,
 * file, lmdb, sqlite), so a new backend is done when this file passes on it
 * (DESIGN.md section 4). Backend-specific behaviour (file layout, LMDB map
 * growth, SQLite pragmas) is tested in the backend's own file.
 */
#include "test.h"

#include <fcntl.h>
#include <lmdb.h>
#include <pthread.h>
#include <sqlite3.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "edn/value.h"
#include "store/store.h"
#include "support/store_payload.h"
#include "support/store_util.h"

#define FOR_EACH_BACKEND(b) for (const char *const *b##_p = store_backends; ((b) = *b##_p) != NULL; b##_p++)

static int persistent(const char *backend)
{
    return strcmp(backend, "mem") != 0;
}

/* A store of backend under this test's temp dir; sub tells stores apart. */
static cairn_store *open_store(const char *backend, const char *sub)
{
    char path[512];
    cairn_store *s = NULL;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    fprintf(stderr, "backend %s\n", backend); /* shown when a check fails */
    snprintf(path, sizeof path, "%s/%s-%s", test_tmpdir(), backend, sub);
    rc = store_open(&s, backend, path, &err);
    CHECK_MSG(rc == 0, "open %s: %s", backend, err.message);
    return s;
}

static void store_path(char *out, size_t cap, const char *backend, const char *sub)
{
    snprintf(out, cap, "%s/%s-%s", test_tmpdir(), backend, sub);
}

/* Puts payloads through a batch; returns their addresses in addrs. */
static void put_nodes(cairn_store *s, size_t n, const void *const *payloads, const size_t *lens, cairn_addr *addrs)
{
    cairn_store_batch *b;
    CHECK_OK(cairn_store_batch_new(&b, s));
    for (size_t i = 0; i < n; i++)
        CHECK_OK(cairn_store_batch_add(b, payloads[i], lens[i], &addrs[i]));
    CHECK_OK(cairn_store_batch_commit(b));
    CHECK_EQ(cairn_store_batch_count(b), 0);
    cairn_store_batch_free(b);
}

static void check_node(cairn_store *s, const cairn_addr *addr, const void *want, size_t want_len)
{
    void *data;
    size_t len;
    CHECK_OK(cairn_store_get_node(s, addr, &data, &len));
    CHECK_MEM(data, len, want, want_len);
    cairn_free(data);
}

void test_store_conformance__nodes_round_trip_and_put_is_idempotent(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "rt");
        uint8_t leaf[8192];
        size_t leaf_len = store_payload_leaf(leaf, sizeof leaf, 7, STORE_PAYLOAD_EAVT, 8000);
        const void *p[3] = { "hello", leaf, "" };
        size_t l[3] = { 5, leaf_len, 0 };
        cairn_addr a[3], again[3];
        put_nodes(s, 3, p, l, a);
        put_nodes(s, 3, p, l, again); /* the same bytes again: same addresses, no error */
        for (int i = 0; i < 3; i++) {
            CHECK(cairn_addr_equal(&a[i], &again[i]));
            check_node(s, &a[i], p[i], l[i]);
        }
        /* the raw put_many path: a node already present is skipped */
        {
            void *frame;
            size_t flen;
            CHECK_OK(s->methods->get(s, &a[1], &frame, &flen));
            CHECK_OK(s->methods->put_many(s, 1, &a[1], (const void *const *)&frame, &flen));
            cairn_free(frame);
        }
        check_node(s, &a[1], leaf, leaf_len);
        cairn_store_close(s);
    }
}

void test_store_conformance__missing_node_is_notfound(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "missing");
        cairn_addr a;
        void *data = NULL;
        size_t len = 0;
        cairn_addr_of(&a, "absent", 6);
        CHECK_ERR(cairn_store_get_node(s, &a, &data, &len), CAIRN_ENOTFOUND);
        CHECK(data == NULL);
        CHECK_ERR(s->methods->get(s, &a, &data, &len), CAIRN_ENOTFOUND);
        cairn_store_close(s);
    }
}

struct addr_set {
    cairn_addr *a;              /* collected */
    size_t n, cap;
};

static int collect(const cairn_addr *a, void *p)
{
    struct addr_set *set = p;
    if (set->n == set->cap) {
        set->cap = set->cap ? 2 * set->cap : 64;
        set->a = realloc(set->a, set->cap * sizeof *set->a);
    }
    set->a[set->n++] = *a;
    return 0;
}

static int stop_at_first(const cairn_addr *a, void *p)
{
    (void)a;
    ++*(int *)p;
    return 42;
}

static int count_of(const struct addr_set *set, const cairn_addr *a)
{
    int n = 0;
    for (size_t i = 0; i < set->n; i++)
        n += cairn_addr_equal(&set->a[i], a);
    return n;
}

void test_store_conformance__list_and_delete(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "list");
        char bufs[20][16];
        const void *p[20];
        size_t l[20];
        cairn_addr a[20];
        struct addr_set set = { NULL, 0, 0 };
        int calls = 0;
        for (int i = 0; i < 20; i++) {
            l[i] = (size_t)snprintf(bufs[i], sizeof bufs[i], "node-%d", i);
            p[i] = bufs[i];
        }
        put_nodes(s, 20, p, l, a);
        CHECK_OK(s->methods->list(s, collect, &set));
        CHECK_EQ(set.n, 20);
        for (int i = 0; i < 20; i++)
            CHECK_EQ(count_of(&set, &a[i]), 1);
        CHECK_EQ(s->methods->list(s, stop_at_first, &calls), 42);
        CHECK_EQ(calls, 1);
        CHECK_OK(s->methods->del(s, &a[3]));
        CHECK_OK(s->methods->del(s, &a[3])); /* absent is fine */
        CHECK_ERR(cairn_store_get_node(s, &a[3], &(void *){ NULL }, &(size_t){ 0 }), CAIRN_ENOTFOUND);
        set.n = 0;
        CHECK_OK(s->methods->list(s, collect, &set));
        CHECK_EQ(set.n, 19);
        CHECK_EQ(count_of(&set, &a[3]), 0);
        free(set.a);
        cairn_store_close(s);
    }
}

static void check_head(cairn_store *s, const char *name, const char *want)
{
    void *data;
    size_t len;
    if (!want) {
        CHECK_ERR(cairn_store_head_read(s, name, &data, &len), CAIRN_ENOTFOUND);
        return;
    }
    CHECK_OK(cairn_store_head_read(s, name, &data, &len));
    CHECK_MEM(data, len, want, strlen(want));
    cairn_free(data);
}

void test_store_conformance__head_cas_creates_conflicts_and_deletes(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "cas");
        check_head(s, "db", NULL);
        CHECK_ERR(cairn_store_head_cas(s, "db", "x", 1, "v1", 2), CAIRN_ECONFLICT);   /* absent, expected x */
        CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "v1", 2));                    /* create if absent */
        CHECK_ERR(cairn_store_head_cas(s, "db", NULL, 0, "v9", 2), CAIRN_ECONFLICT);  /* exists */
        CHECK_STR(s->err.keyword, ":store/conflict");
        CHECK_ERR(cairn_store_head_cas(s, "db", "v", 1, "v9", 2), CAIRN_ECONFLICT);   /* prefix is not equal */
        CHECK_ERR(cairn_store_head_cas(s, "db", "v1x", 3, "v9", 2), CAIRN_ECONFLICT);
        check_head(s, "db", "v1");
        CHECK_OK(cairn_store_head_cas(s, "db", "v1", 2, "v2", 2));
        CHECK_OK(cairn_store_head_cas(s, "db", "v2", 2, "v2", 2));                    /* same value again */
        check_head(s, "db", "v2");
        CHECK_OK(cairn_store_head_cas(s, "db", "v2", 2, "", 0));                      /* empty value */
        check_head(s, "db", "");
        CHECK_ERR(cairn_store_head_cas(s, "db", "v2", 2, NULL, 0), CAIRN_ECONFLICT);  /* stale delete */
        CHECK_OK(cairn_store_head_cas(s, "db", "", 0, NULL, 0));                      /* delete */
        check_head(s, "db", NULL);
        CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, NULL, 0));                    /* delete absent */
        CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "v3", 2));                    /* create again */
        check_head(s, "db", "v3");
        check_head(s, "other", NULL);                                                 /* heads are separate */
        cairn_store_close(s);
    }
}

void test_store_conformance__head_names_and_values_are_bounded(void)
{
    static const char *const bad[] = { "", ".", "..", "../db", "a/b", "/abs", "db\n", "sp ace", "n\xc3\xa9", NULL };
    char longest[CAIRN_HEAD_NAME_MAX + 2], big[CAIRN_HEAD_MAX + 1];
    const char *b;
    memset(longest, 'n', sizeof longest);
    longest[CAIRN_HEAD_NAME_MAX] = 0;
    memset(big, 'v', sizeof big);
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "bounds");
        void *data;
        size_t len;
        for (int i = 0; bad[i]; i++) {
            CHECK_ERR(cairn_store_head_cas(s, bad[i], NULL, 0, "v", 1), CAIRN_EINVALID);
            CHECK_ERR(s->methods->head_cas(s, bad[i], NULL, 0, "v", 1), CAIRN_EINVALID);
            CHECK_ERR(s->methods->head_read(s, bad[i], &data, &len), CAIRN_EINVALID);
        }
        CHECK_OK(cairn_store_head_cas(s, longest, NULL, 0, "v", 1)); /* 128 characters */
        longest[CAIRN_HEAD_NAME_MAX] = 'n';
        CHECK_ERR(cairn_store_head_cas(s, longest, NULL, 0, "v", 1), CAIRN_EINVALID);
        longest[CAIRN_HEAD_NAME_MAX] = 0;
        CHECK_OK(cairn_store_head_cas(s, "big", NULL, 0, big, CAIRN_HEAD_MAX));
        CHECK_OK(cairn_store_head_read(s, "big", &data, &len));
        CHECK_MEM(data, len, big, (size_t)CAIRN_HEAD_MAX);
        cairn_free(data);
        CHECK_ERR(cairn_store_head_cas(s, "big", big, CAIRN_HEAD_MAX, big, CAIRN_HEAD_MAX + 1), CAIRN_ELIMIT);
        CHECK_ERR(s->methods->head_cas(s, "big", big, CAIRN_HEAD_MAX, big, CAIRN_HEAD_MAX + 1), CAIRN_ELIMIT);
        cairn_store_close(s);
    }
}

struct names {
    char seen[8][CAIRN_HEAD_NAME_MAX + 1];   /* names listed */
    int n;
};

static int collect_name(const char *name, void *p)
{
    struct names *ns = p;
    if (ns->n < 8)
        snprintf(ns->seen[ns->n++], sizeof ns->seen[0], "%s", name);
    return 0;
}

static int has_name(const struct names *ns, const char *name)
{
    for (int i = 0; i < ns->n; i++)
        if (!strcmp(ns->seen[i], name))
            return 1;
    return 0;
}

void test_store_conformance__head_list_names_live_heads(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "hlist");
        struct names ns = { .n = 0 };
        CHECK_OK(s->methods->head_list(s, collect_name, &ns));
        CHECK_EQ(ns.n, 0);
        CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "1", 1));
        CHECK_OK(cairn_store_head_cas(s, "db.branch-2", NULL, 0, "2", 1));
        CHECK_OK(cairn_store_head_cas(s, "gone", NULL, 0, "3", 1));
        CHECK_OK(cairn_store_head_cas(s, "gone", "3", 1, NULL, 0));
        for (int i = 0; i < 12; i++) { /* many moves still list once */
            char from[8], to[8];
            snprintf(from, sizeof from, "%d", i ? i + 10 : 1);
            snprintf(to, sizeof to, "%d", i + 11);
            CHECK_OK(cairn_store_head_cas(s, "db", from, strlen(from), to, strlen(to)));
        }
        CHECK_OK(s->methods->head_list(s, collect_name, &ns));
        CHECK_EQ(ns.n, 2);
        CHECK(has_name(&ns, "db"));
        CHECK(has_name(&ns, "db.branch-2"));
        cairn_store_close(s);
    }
}

void test_store_conformance__writer_lock_is_exclusive_between_handles(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *x = open_store(b, "lock"), *y = open_store(b, "lock");
        CHECK_OK(cairn_store_lock(x));
        CHECK_OK(cairn_store_lock(x)); /* again: still ours */
        CHECK_ERR(cairn_store_lock(y), CAIRN_EBUSY);
        CHECK_STR(y->err.keyword, ":store/locked");
        /* the holder still writes, the other still reads */
        CHECK_OK(cairn_store_head_cas(x, "db", NULL, 0, "v", 1));
        check_head(y, "db", "v");
        cairn_store_unlock(x);
        CHECK_OK(cairn_store_lock(y));
        CHECK_ERR(cairn_store_lock(x), CAIRN_EBUSY);
        cairn_store_close(y); /* close gives the lock up too */
        CHECK_OK(cairn_store_lock(x));
        cairn_store_close(x);
    }
}

/* Runs tools/store_lock; returns its exit status. With hold, leaves it
 * running holding the lock, its stdin in *hold_fd, its pid in *pid. */
static int lock_tool(const char *backend, const char *path, int hold, int *hold_fd, pid_t *pid_out)
{
    int in[2], out[2], status;
    char line[32] = { 0 };
    pid_t pid;
    CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0); /* no other child inherits them */
    pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[1]);
        close(out[0]);
        execl(test_tool("store_lock"), "store_lock", backend, path, hold ? "hold" : NULL, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    if (read(out[0], line, sizeof line - 1) < 0)
        line[0] = 0;
    close(out[0]);
    if (hold && !strncmp(line, "locked", 6)) {
        *hold_fd = in[1];
        *pid_out = pid;
        return 0;
    }
    close(in[1]);
    CHECK(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void test_store_conformance__writer_lock_is_exclusive_across_processes(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        char path[512];
        cairn_store *s;
        int hold_fd, status;
        pid_t pid;
        if (!persistent(b))
            continue;
        s = open_store(b, "xlock");
        store_path(path, sizeof path, b, "xlock");
        CHECK_OK(cairn_store_lock(s));
        CHECK_EQ(lock_tool(b, path, 0, NULL, NULL), 3);   /* busy in another process */
        cairn_store_unlock(s);
        CHECK_EQ(lock_tool(b, path, 1, &hold_fd, &pid), 0); /* it takes it and holds it */
        CHECK_ERR(cairn_store_lock(s), CAIRN_EBUSY);
        close(hold_fd);
        CHECK(waitpid(pid, &status, 0) == pid && WIFEXITED(status) && WEXITSTATUS(status) == 0);
        CHECK_OK(cairn_store_lock(s));                      /* released when it exits */
        /* a holder killed with SIGKILL releases the lock too */
        cairn_store_unlock(s);
        CHECK_EQ(lock_tool(b, path, 1, &hold_fd, &pid), 0);
        kill(pid, SIGKILL);
        CHECK(waitpid(pid, &status, 0) == pid);
        close(hold_fd);
        CHECK_OK(cairn_store_lock(s));
        cairn_store_close(s);
    }
}

void test_store_conformance__big_and_many_nodes_round_trip(void)
{
    size_t big_len = (size_t)16 << 20;
    uint8_t *big = malloc(big_len);
    const char *b;
    for (size_t i = 0; i < big_len; i += 8) {
        uint64_t r = test_rand();
        memcpy(big + i, &r, 8);
    }
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "big");
        struct addr_set set = { NULL, 0, 0 };
        const void *p[1] = { big };
        size_t l[1] = { big_len };
        cairn_addr a, many[100];
        char bufs[100][24];
        const void *mp[100];
        size_t ml[100];
        put_nodes(s, 1, p, l, &a);
        check_node(s, &a, big, big_len);
        for (int round = 0; round < 20; round++) { /* 2000 small nodes */
            for (int i = 0; i < 100; i++) {
                ml[i] = (size_t)snprintf(bufs[i], sizeof bufs[i], "n%d-%d", round, i);
                mp[i] = bufs[i];
            }
            put_nodes(s, 100, mp, ml, many);
            check_node(s, &many[round], mp[round], ml[round]);
        }
        CHECK_OK(s->methods->list(s, collect, &set));
        CHECK_EQ(set.n, 2001);
        free(set.a);
        {
            cairn_store_batch *batch;
            cairn_addr dummy;
            CHECK_OK(cairn_store_batch_new(&batch, s));
            CHECK_ERR(cairn_store_batch_add(batch, big, ((size_t)256 << 20) + 1, &dummy), CAIRN_ELIMIT);
            cairn_store_batch_free(batch);
        }
        cairn_store_close(s);
    }
    free(big);
}

void test_store_conformance__verified_reads_detect_changed_bytes(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "verify");
        cairn_addr a;
        uint8_t frame[] = { 0x00, 'e', 'v', 'i', 'l' };
        const void *fp = frame;
        size_t flen = sizeof frame;
        void *data;
        size_t len;
        /* the store holds bytes under an address they do not hash to */
        cairn_addr_of(&a, "\x00good", 5);
        CHECK_OK(s->methods->put_many(s, 1, &a, &fp, &flen));
        CHECK_ERR(cairn_store_get_node(s, &a, &data, &len), CAIRN_ECORRUPT);
        CHECK_STR(s->err.keyword, ":store/corrupt");
        /* an empty stored value is corrupt too, not an empty node */
        cairn_addr_of(&a, "", 0);
        flen = 0;
        CHECK_OK(s->methods->put_many(s, 1, &a, &fp, &flen));
        CHECK_ERR(cairn_store_get_node(s, &a, &data, &len), CAIRN_ECORRUPT);
        cairn_store_close(s);
    }
}

void test_store_conformance__data_survives_reopen(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "reopen");
        store_wl w;
        uint64_t seq;
        char why[256];
        CHECK_OK(store_wl_init(&w, s, "db", 5));
        for (int i = 0; i < 5; i++)
            CHECK_OK(store_wl_commit(&w, s, NULL));
        cairn_store_close(s);
        s = open_store(b, "reopen");
        CHECK_MSG(store_wl_check_head(s, "db", 0, &seq, NULL, why, sizeof why) == 0, "%s", why);
        CHECK_EQ(seq, 5);
        CHECK_OK(store_wl_init(&w, s, "db", 5));
        CHECK_OK(store_wl_commit(&w, s, NULL)); /* and a writer carries on */
        cairn_store_close(s);
    }
}

void test_store_conformance__stale_writer_conflicts_and_sole_writer_never_does(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *x = open_store(b, "fence"), *y = open_store(b, "fence");
        store_wl wx, wy;
        int conflicts = 0;
        uint64_t seq;
        char why[256];
        CHECK_OK(store_wl_init(&wx, x, "db", 1));
        for (int i = 0; i < 100; i++) /* Datahike #977: a sole writer had spurious conflicts */
            conflicts += store_wl_commit(&wx, x, NULL) == CAIRN_ECONFLICT;
        CHECK_EQ(conflicts, 0);
        /* y builds on what it read; x moves on; y's commit must fail, not clobber */
        CHECK_OK(store_wl_init(&wy, y, "db", 2));
        CHECK_OK(store_wl_commit(&wx, x, NULL));
        CHECK_ERR(store_wl_commit(&wy, y, NULL), CAIRN_ECONFLICT);
        CHECK_MSG(store_wl_check_head(x, "db", 0, &seq, NULL, why, sizeof why) == 0, "%s", why);
        CHECK_EQ(seq, 101);
        /* after re-reading the head, y commits */
        CHECK_OK(store_wl_init(&wy, y, "db", 2));
        CHECK_OK(store_wl_commit(&wy, y, NULL));
        CHECK_MSG(store_wl_check_head(x, "db", 0, &seq, NULL, why, sizeof why) == 0, "%s", why);
        CHECK_EQ(seq, 102);
        cairn_store_close(x);
        cairn_store_close(y);
    }
}

void test_store_conformance__compressed_leaves_round_trip(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "zstd");
        cairn_store_batch *batch;
        uint8_t leaves[8][16384];
        size_t lens[8], raw = 0;
        cairn_addr a[8];
        CHECK_OK(cairn_store_batch_new(&batch, s));
        for (int i = 0; i < 8; i++) {
            lens[i] = store_payload_leaf(leaves[i], sizeof leaves[i], (uint64_t)i, (enum store_payload_index)(i % 3),
                                         16000);
            raw += lens[i];
            CHECK_OK(cairn_store_batch_add(batch, leaves[i], lens[i], &a[i]));
        }
        CHECK_MSG(cairn_store_batch_bytes(batch) * 3 < raw * 2, "leaves compress (%zu of %zu bytes)",
                  cairn_store_batch_bytes(batch), raw);
        CHECK_OK(cairn_store_batch_commit(batch));
        cairn_store_batch_free(batch);
        for (int i = 0; i < 8; i++)
            check_node(s, &a[i], leaves[i], lens[i]);
        cairn_store_close(s);
    }
}

struct conc {
    cairn_store *s;             /* shared by all threads */
    _Atomic int done;           /* the writer finished */
    _Atomic long reads;         /* heads verified by readers */
    _Atomic int bad;            /* violations seen */
    char why[256];              /* the first one */
};

static void *conc_reader(void *p)
{
    struct conc *c = p;
    uint64_t last = 0;
    while (!atomic_load(&c->done)) {
        uint64_t seq;
        char why[256];
        int rc = store_wl_check_head(c->s, "db", 3, &seq, NULL, why, sizeof why);
        if (rc == CAIRN_ENOTFOUND && last == 0)
            continue;
        if (rc < 0 || seq < last) {
            if (atomic_fetch_add(&c->bad, 1) == 0)
                snprintf(c->why, sizeof c->why, "%s", rc < 0 ? why : "head went backwards");
            break;
        }
        last = seq;
        atomic_fetch_add(&c->reads, 1);
    }
    return NULL;
}

void test_store_conformance__concurrent_readers_see_complete_heads_while_a_writer_commits(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        struct conc c;
        pthread_t th[3];
        store_wl w;
        memset(&c, 0, sizeof c);
        c.s = open_store(b, "conc");
        CHECK_OK(store_wl_init(&w, c.s, "db", 9));
        CHECK_OK(cairn_store_lock(c.s));
        for (int i = 0; i < 3; i++)
            CHECK(pthread_create(&th[i], NULL, conc_reader, &c) == 0);
        for (int i = 0; i < 60; i++)
            CHECK_OK(store_wl_commit(&w, c.s, NULL));
        atomic_store(&c.done, 1);
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        CHECK_MSG(atomic_load(&c.bad) == 0, "reader: %s", c.why);
        CHECK(atomic_load(&c.reads) > 0);
        cairn_store_close(c.s);
    }
}

void test_store_conformance__head_cas_fences_every_interleaving_of_two_writers(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *x = open_store(b, "races"), *y = open_store(b, "races");
        long races = 100 * test_scale(), lost = 0, spurious = 0;
        char cur[32] = "v0";
        int next = 0;
        CHECK_OK(cairn_store_head_cas(y, "db", NULL, 0, cur, strlen(cur)));
        for (long i = 0; i < races; i++) {
            char expected[32], mine[32];
            int moves = (int)test_rand_below(4), rc;
            snprintf(expected, sizeof expected, "%s", cur); /* x reads the head */
            for (int m = 0; m < moves; m++) {               /* y commits meanwhile */
                char v[32];
                snprintf(v, sizeof v, "v%d", ++next);
                CHECK_OK(cairn_store_head_cas(y, "db", cur, strlen(cur), v, strlen(v)));
                snprintf(cur, sizeof cur, "%s", v);
            }
            snprintf(mine, sizeof mine, "x%ld", i);
            rc = cairn_store_head_cas(x, "db", expected, strlen(expected), mine, strlen(mine));
            if (moves == 0) {
                spurious += rc != 0;
                if (rc == 0)
                    snprintf(cur, sizeof cur, "%s", mine);
            } else {
                lost += rc != CAIRN_ECONFLICT;
            }
            check_head(x, "db", cur);
        }
        CHECK_EQ(lost, 0);
        CHECK_EQ(spurious, 0);
        cairn_store_close(x);
        cairn_store_close(y);
    }
}

/* Changes the stored bytes of node a behind the store's back, the way each
 * backend keeps them: the file itself, a raw LMDB or SQLite write. */
static void tamper(const char *backend, cairn_store **s, const char *sub, const cairn_addr *a)
{
    char path[512], file[700], hex[2 * CAIRN_ADDR_LEN + 1];
    cairn_addr_hex(hex, a);
    store_path(path, sizeof path, backend, sub);
    if (!strcmp(backend, "mem")) { /* no disk: replace the entry through the backend */
        uint8_t frame[] = { 0x00, 'X' };
        const void *fp = frame;
        size_t flen = sizeof frame;
        CHECK_OK((*s)->methods->del(*s, a));
        CHECK_OK((*s)->methods->put_many(*s, 1, a, &fp, &flen));
        return;
    }
    cairn_store_close(*s);
    if (!strcmp(backend, "file")) {
        int fd;
        snprintf(file, sizeof file, "%s/nodes/%.2s/%s", path, hex, hex + 2);
        fd = open(file, O_WRONLY);
        CHECK(fd >= 0 && pwrite(fd, "X", 1, 3) == 1);
        close(fd);
    } else if (!strcmp(backend, "sqlite")) {
        sqlite3 *db;
        char sql[256];
        snprintf(file, sizeof file, "%s/cairn.sqlite", path);
        snprintf(sql, sizeof sql, "UPDATE nodes SET data = X'00585858' WHERE addr = X'%s'", hex);
        CHECK(sqlite3_open(file, &db) == SQLITE_OK);
        CHECK(sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK && sqlite3_changes(db) == 1);
        sqlite3_close(db);
    } else {
        MDB_env *env;
        MDB_txn *txn;
        MDB_dbi dbi;
        MDB_val k = { CAIRN_ADDR_LEN, (void *)a->bytes }, v = { 4, "\x00XXX" };
        CHECK(mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 4) == 0 && mdb_env_open(env, path, 0, 0644) == 0);
        CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0 && mdb_dbi_open(txn, "nodes", 0, &dbi) == 0);
        CHECK(mdb_put(txn, dbi, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0);
        mdb_env_close(env);
    }
    *s = open_store(backend, sub);
}

void test_store_conformance__node_bytes_changed_in_storage_are_detected(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_store *s = open_store(b, "tamper");
        uint8_t leaf[4096];
        size_t n = store_payload_leaf(leaf, sizeof leaf, 1, STORE_PAYLOAD_EAVT, 4000);
        const void *p[2] = { leaf, "other node" };
        size_t l[2] = { n, 10 };
        cairn_addr a[2];
        void *data;
        size_t len;
        put_nodes(s, 2, p, l, a);
        tamper(b, &s, "tamper", &a[0]);
        CHECK_ERR(cairn_store_get_node(s, &a[0], &data, &len), CAIRN_ECORRUPT);
        CHECK_STR(s->err.keyword, ":store/corrupt");
        check_node(s, &a[1], "other node", 10); /* the rest is fine */
        cairn_store_close(s);
    }
}

void test_store_conformance__config_errors_name_the_key(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        cairn_val cfg, k;
        cairn_store *s;
        cairn_error err = CAIRN_ERROR_INIT;
        if (!persistent(b))
            continue;
        CHECK_OK(cairn_map_new(&cfg, 2)); /* no :path */
        CHECK_OK(cairn_keyword(&k, "backend", 7));
        {
            cairn_val v;
            CHECK_OK(cairn_keyword(&v, b, strlen(b)));
            CHECK_OK(cairn_map_put(&cfg, k, v));
        }
        CHECK_ERR(cairn_store_open(&s, cfg, &err), CAIRN_EINVALID);
        CHECK_STR(err.keyword, ":store/config");
        CHECK(strstr(err.message, ":path") != NULL);
        CHECK_OK(cairn_keyword(&k, "path", 4));
        CHECK_OK(cairn_map_put(&cfg, k, cairn_int(7))); /* not a string */
        CHECK_ERR(cairn_store_open(&s, cfg, &err), CAIRN_EINVALID);
        CHECK(strstr(err.message, ":path") != NULL);
        cairn_release(cfg);
    }
    {
        cairn_store *s;
        cairn_error err = CAIRN_ERROR_INIT;
        char path[512];
        cairn_val cfg, k, v;
        snprintf(path, sizeof path, "%s/lm", test_tmpdir());
        cfg = store_config("lmdb", path);
        CHECK_OK(cairn_keyword(&k, "max-size", 8));
        CHECK_OK(cairn_string(&v, "big", 3));
        CHECK_OK(cairn_map_put_take(&cfg, k, v));
        CHECK_ERR(cairn_store_open(&s, cfg, &err), CAIRN_EINVALID);
        CHECK(strstr(err.message, ":max-size") != NULL);
        cairn_release(cfg);
    }
}

struct counter {
    const char *backend;        /* store to open */
    const char *sub;
    _Atomic long wins;          /* compare-and-sets that succeeded */
    _Atomic long unknown;       /* outcome unknown (:store/ambiguous) */
    _Atomic int bad;            /* anything else */
    char why[256];
};

static void *count_up(void *p)
{
    struct counter *c = p;
    char path[512];
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    store_path(path, sizeof path, c->backend, c->sub);
    if (store_open(&s, c->backend, path, &err) < 0) {
        atomic_fetch_add(&c->bad, 1);
        return NULL;
    }
    for (int wins = 0, tries = 0; wins < 25 && tries < 2000; tries++) {
        uint8_t cur[8], next[8];
        void *v;
        size_t len;
        int rc = cairn_store_head_read(s, "counter", &v, &len);
        if (rc < 0 || len != 8) {
            atomic_fetch_add(&c->bad, 1);
            break;
        }
        memcpy(cur, v, 8);
        cairn_free(v);
        cairn_put_be64(next, cairn_get_be64(cur) + 1);
        rc = cairn_store_head_cas(s, "counter", cur, 8, next, 8);
        if (rc == 0) {
            wins++;
            atomic_fetch_add(&c->wins, 1);
        } else if (rc == CAIRN_EIO && !strcmp(s->err.keyword, ":store/ambiguous")) {
            atomic_fetch_add(&c->unknown, 1);
        } else if (rc != CAIRN_ECONFLICT) {
            if (atomic_fetch_add(&c->bad, 1) == 0)
                snprintf(c->why, sizeof c->why, "%s", s->err.message);
            break;
        }
    }
    cairn_store_close(s);
    return NULL;
}

/* Three writers on their own handles, none holding the lock, increment one
 * head by compare-and-set: no increment may be lost or doubled. */
void test_store_conformance__concurrent_compare_and_set_loses_no_increment(void)
{
    const char *b;
    FOR_EACH_BACKEND(b) {
        struct counter c;
        pthread_t th[3];
        cairn_store *s = open_store(b, "counter");
        uint8_t zero[8] = { 0 };
        void *v;
        size_t len;
        uint64_t final;
        memset(&c, 0, sizeof c);
        c.backend = b;
        c.sub = "counter";
        CHECK_OK(cairn_store_head_cas(s, "counter", NULL, 0, zero, 8));
        for (int i = 0; i < 3; i++)
            CHECK(pthread_create(&th[i], NULL, count_up, &c) == 0);
        for (int i = 0; i < 3; i++)
            pthread_join(th[i], NULL);
        CHECK_MSG(atomic_load(&c.bad) == 0, "%s", c.why);
        CHECK_OK(cairn_store_head_read(s, "counter", &v, &len));
        final = cairn_get_be64(v);
        cairn_free(v);
        /* each unknown outcome may or may not have landed */
        CHECK_MSG(final >= (uint64_t)atomic_load(&c.wins) &&
                      final <= (uint64_t)(atomic_load(&c.wins) + atomic_load(&c.unknown)),
                  "counter %llu after %ld wins and %ld unknown outcomes", (unsigned long long)final,
                  atomic_load(&c.wins), atomic_load(&c.unknown));
        CHECK_EQ(atomic_load(&c.wins), 75);
        cairn_store_close(s);
    }
}
