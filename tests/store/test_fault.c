/*
 * Storage error injection (reliability.md R3): the Nth I/O call of a commit
 * fails, for N = 1, 2, ... until a commit runs clean, once (transient) and
 * from then on (persistent), with EIO and ENOSPC; plus short writes, fsync
 * errors (fail-stop) and failed renames. After every fault: the caller got
 * an error, the last good head is readable with a complete closure, and the
 * next commit succeeds (after a reopen when the store went fail-stop).
 */
#include "test.h"

#include <errno.h>

#include "base/alloc.h"
#include "store/file.h"
#include "support/store_fault.h"
#include "support/store_util.h"

/* How open_faulty opens: through head slots, or through a log whose
 * segments hold one entry, so that every commit rolls (and checkpoints the
 * segment before, on the committing thread). */
static int64_t log_bytes = -1;
static int pack_min = -1;       /* -1: node files; 1: every put_many's nodes in a pack */

static cairn_store *open_faulty(const char *root, vfs_fault *f)
{
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_store *s = NULL;
    int rc;
    opt.vfs = &f->vfs;
    opt.log_bytes = log_bytes;
    opt.pack_min = pack_min;
    if (log_bytes > 0)
        opt.threads = 1;
    rc = cairn_store_file_open_with(&s, root, &opt, &err);
    CHECK_MSG(rc == 0, "open %s: %s", root, err.message);
    return s;
}

/* The head of a store opened afresh with no faults: its seq, closure checked. */
static uint64_t good_head(const char *backend, const char *root)
{
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    uint64_t seq = 0;
    char why[256];
    int rc;
    CHECK_OK(store_open(&s, backend, root, &err));
    rc = store_wl_check_head(s, "db", 0, &seq, NULL, why, sizeof why);
    CHECK_MSG(rc == 0, "after a fault: %s", why);
    cairn_store_close(s);
    return seq;
}

/*
 * One sweep: with a good store of 2 commits, fail the nth I/O call of the
 * next commit for n = 1.. until a commit runs without hitting the fault.
 * Returns how many faults were injected.
 */
static long sweep(const char *root, int persistent, int err, unsigned mask)
{
    vfs_fault f;
    cairn_store *s;
    store_wl w;
    long faults = 0;
    vfs_fault_init(&f, NULL);
    s = open_faulty(root, &f);
    CHECK_OK(store_wl_init(&w, s, "db", 77));
    w.nodes_max = 3;
    if (log_bytes > 0)
        w.node_len_max = 600; /* nodes small enough for the log's entries */
    while (w.seq < 2)
        CHECK_OK(store_wl_commit(&w, s, NULL));
    CHECK_OK(cairn_store_lock(s));
    for (uint64_t n = 1;; n++) {
        uint64_t before = w.seq, after;
        int rc;
        vfs_fault_arm(&f, mask, n, persistent, err);
        rc = store_wl_commit(&w, s, NULL);
        vfs_fault_disarm(&f);
        if (atomic_load(&f.injected) == 0) {
            CHECK_OK(rc);
            break;
        }
        faults++;
        /* a fault is reported, unless it hit best-effort cleanup (a temp
         * file's or an old head slot's unlink) */
        CHECK_MSG(rc < 0 || atomic_load(&f.last_op) == VOP_UNLINK, "n=%llu: fault in op %d not reported",
                  (unsigned long long)n, atomic_load(&f.last_op));
        if (rc < 0 && err == ENOSPC && (atomic_load(&f.last_op) == VOP_WRITE || atomic_load(&f.last_op) == VOP_PWRITE))
            CHECK_ERR(rc, CAIRN_EFULL);
        after = good_head("file", root);
        /* the head is the last acknowledged one, or the new one when the
         * fault came after its slot was linked; never anything else */
        CHECK_MSG(after == w.seq || (rc < 0 && after == before + 1), "n=%llu: head seq %llu, acked %llu",
                  (unsigned long long)n, (unsigned long long)after, (unsigned long long)w.seq);
        if (after != w.seq) { /* the writer learns where the head is, as after a reconnect */
            size_t len_max = w.node_len_max;
            CHECK_OK(store_wl_init(&w, s, "db", 77));
            w.nodes_max = 3;
            w.node_len_max = len_max;
        }
        /* the next write succeeds, or the store is fail-stop until reopened */
        rc = store_wl_commit(&w, s, NULL);
        if (rc < 0) {
            CHECK_MSG(rc == CAIRN_EIO, "n=%llu, fault in op %d: %s", (unsigned long long)n, atomic_load(&f.last_op),
                      s->err.message);
            CHECK_STR(s->err.keyword, ":store/failed");
            cairn_store_close(s);
            s = open_faulty(root, &f);
            CHECK_OK(cairn_store_lock(s));
            CHECK_OK(store_wl_commit(&w, s, NULL));
        }
        CHECK_EQ(good_head("file", root), w.seq);
    }
    cairn_store_close(s);
    return faults;
}

void test_store_fault__every_failing_io_call_of_a_commit_is_reported_eio(void)
{
    /* slots, the log, then both again with packs */
    static const int64_t modes[] = { -1, 1, -1, 1 };
    static const char *const names[] = { "slots", "log", "slots, packs", "log, packs" };
    /* I/O calls a commit makes in each mode (37, 59, 18, 40 when written):
     * fewer faults than these means the sweep stopped short */
    static const long floors[] = { 30, 50, 15, 35 };
    for (size_t m = 0; m < 4; m++) {
        long t, p;
        char root[512];
        log_bytes = modes[m];
        pack_min = m >= 2 ? 1 : -1;
        snprintf(root, sizeof root, "%s/transient-%zu", test_tmpdir(), m);
        t = sweep(root, 0, EIO, VOP_ALL);
        snprintf(root, sizeof root, "%s/persistent-%zu", test_tmpdir(), m);
        p = sweep(root, 1, EIO, VOP_ALL);
        fprintf(stderr, "%s: faults injected: %ld transient, %ld persistent\n", names[m], t, p);
        CHECK_MSG(t >= floors[m] && p >= floors[m], "%s: want %ld faults or more", names[m], floors[m]);
    }
    log_bytes = -1;
    pack_min = -1;
}

void test_store_fault__every_failing_write_call_of_a_commit_is_reported_enospc(void)
{
    char root[512];
    log_bytes = -1;
    snprintf(root, sizeof root, "%s/slots", test_tmpdir());
    CHECK(sweep(root, 0, ENOSPC, VOP_WRITES) > 15);
    log_bytes = 1;
    snprintf(root, sizeof root, "%s/log", test_tmpdir());
    CHECK(sweep(root, 0, ENOSPC, VOP_WRITES) > 15);
    pack_min = 1;
    snprintf(root, sizeof root, "%s/log-packs", test_tmpdir());
    CHECK(sweep(root, 0, ENOSPC, VOP_WRITES) > 10);
    log_bytes = -1;
    pack_min = -1;
}

void test_store_fault__short_writes_are_completed(void)
{
    vfs_fault f;
    cairn_store *s;
    store_wl w;
    vfs_fault_init(&f, NULL);
    f.short_writes = 1;
    s = open_faulty(test_tmpdir(), &f);
    CHECK_OK(store_wl_init(&w, s, "db", 3));
    w.node_len_max = 20000;
    for (int i = 0; i < 4; i++)
        CHECK_OK(store_wl_commit(&w, s, NULL));
    CHECK(atomic_load(&f.calls[VOP_WRITE]) > 40); /* they really were short */
    cairn_store_close(s);
    CHECK_EQ(good_head("file", test_tmpdir()), 4);
}

void test_store_fault__an_fsync_error_makes_the_store_fail_stop_until_reopened(void)
{
    static const enum vfs_op ops[] = { VOP_FSYNC, VOP_FSYNC_DIR };
    for (int k = 0; k < 2; k++) {
        char root[512];
        vfs_fault f;
        cairn_store *s;
        store_wl w;
        void *v;
        size_t len;
        snprintf(root, sizeof root, "%s/%d", test_tmpdir(), k);
        vfs_fault_init(&f, NULL);
        s = open_faulty(root, &f);
        CHECK_OK(store_wl_init(&w, s, "db", 5));
        CHECK_OK(store_wl_commit(&w, s, NULL));
        vfs_fault_arm(&f, VOP_BIT(ops[k]), 1, 0, EIO); /* one fsync fails, once */
        CHECK_ERR(store_wl_commit(&w, s, NULL), CAIRN_EIO);
        CHECK_STR(s->err.keyword, ":store/failed");
        /* no retry "succeeds" (fsyncgate): every write is refused */
        CHECK_ERR(store_wl_commit(&w, s, NULL), CAIRN_EIO);
        CHECK_STR(s->err.keyword, ":store/failed");
        CHECK_ERR(cairn_store_head_cas(s, "other", NULL, 0, "x", 1), CAIRN_EIO);
        CHECK_ERR(s->methods->del(s, &w.commit), CAIRN_EIO);
        /* reads still work */
        CHECK_OK(cairn_store_head_read(s, "db", &v, &len));
        cairn_free(v);
        cairn_store_close(s);
        s = open_faulty(root, &f);
        CHECK_OK(store_wl_init(&w, s, "db", 5));
        CHECK_OK(store_wl_commit(&w, s, NULL));
        cairn_store_close(s);
        CHECK_EQ(good_head("file", root), w.seq);
    }
}

void test_store_fault__a_failed_rename_or_link_fails_the_commit_and_the_next_one_succeeds(void)
{
    static const enum vfs_op ops[] = { VOP_RENAME, VOP_LINK };
    for (int k = 0; k < 2; k++) {
        char root[512];
        vfs_fault f;
        cairn_store *s;
        store_wl w;
        snprintf(root, sizeof root, "%s/%d", test_tmpdir(), k);
        vfs_fault_init(&f, NULL);
        s = open_faulty(root, &f);
        CHECK_OK(store_wl_init(&w, s, "db", 6));
        CHECK_OK(store_wl_commit(&w, s, NULL));
        vfs_fault_arm(&f, VOP_BIT(ops[k]), 1, 0, EIO);
        CHECK_ERR(store_wl_commit(&w, s, NULL), CAIRN_EIO);
        CHECK_EQ(good_head("file", root), 1);
        CHECK_OK(store_wl_commit(&w, s, NULL));
        CHECK_EQ(good_head("file", root), 2);
        cairn_store_close(s);
    }
}

/* Every backend, faults at the method level: the Nth call of a commit fails,
 * transient or persistent, put_many possibly after writing half its batch. */
void test_store_fault__every_backend_reports_method_faults_and_keeps_the_last_good_head(void)
{
    for (const char *const *bp = store_backends; *bp; bp++) {
        for (int mode = 0; mode < 3; mode++) { /* transient, persistent, partial puts */
            char root[512];
            cairn_store *inner, *s;
            cairn_error err = CAIRN_ERROR_INIT;
            store_fault *f;
            store_wl w;
            fprintf(stderr, "backend %s mode %d\n", *bp, mode);
            snprintf(root, sizeof root, "%s/%s-%d", test_tmpdir(), *bp, mode);
            CHECK_OK(store_open(&inner, *bp, root, &err));
            CHECK_OK(store_fault_wrap(&s, inner, &f));
            f->partial_puts = mode == 2;
            CHECK_OK(store_wl_init(&w, s, "db", 8));
            CHECK_OK(store_wl_commit(&w, s, NULL));
            for (uint64_t n = 1;; n++) {
                uint64_t seq;
                char why[256];
                int rc;
                uint64_t injected;
                store_fault_arm(f, n, mode == 1, n % 2 ? CAIRN_EIO : CAIRN_EFULL);
                rc = store_wl_commit(&w, s, NULL);
                injected = atomic_load(&f->injected);
                store_fault_arm(f, 0, 0, 0);
                if (injected == 0) {
                    CHECK_OK(rc);
                    break;
                }
                CHECK(rc == CAIRN_EIO || rc == CAIRN_EFULL);
                CHECK_MSG(store_wl_check_head(s, "db", 0, &seq, NULL, why, sizeof why) == 0, "%s", why);
                CHECK_EQ(seq, w.seq);
                CHECK_OK(store_wl_commit(&w, s, NULL));
            }
            if (strcmp(*bp, "mem") != 0) {
                cairn_store_close(s);
                CHECK_EQ(good_head(*bp, root), w.seq);
            } else {
                cairn_store_close(s);
            }
        }
    }
}
