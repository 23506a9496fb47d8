/*
 * Simulated power loss at every persistence point (reliability.md R2). A
 * workload of small commits (nodes, then head_cas) runs on the file backend
 * over tests/support/store_crashfs.c; before every fsync and fsync_dir the
 * file system is snapshotted, and from each snapshot the crash states a
 * power loss could leave are built: nothing unsynced kept, everything kept,
 * each pending operation group dropped alone, each pending write torn at
 * 512 B and 4 KiB or left as garbage, and random subsets. Every state must
 * reopen to a head that was published, at least the last acknowledged one,
 * whose closure is complete and hash-valid, and a writer must be able to
 * commit on it.
 *
 * The harness proves its power on deliberately broken variants: no fsync of
 * files before rename/link, no directory fsync, head moved before the nodes
 * are written, and every fsync a no-op (eatmydata). Each must be caught.
 */
#include "test.h"

#include <stdlib.h>

#include "base/alloc.h"
#include "store/file.h"
#include "support/store_crashfs.h"
#include "support/store_util.h"

#define MAX_COMMITS 64

struct snap {
    crashfs *fs;                /* the file system just before a sync */
    uint64_t acked;             /* seq of the last acknowledged commit then */
    uint64_t attempted;         /* seq of the commit in flight then */
};

struct run {
    struct snap *snaps;         /* persistence points recorded */
    size_t count, cap;
    uint64_t acked, attempted;  /* workload progress */
    uint8_t values[MAX_COMMITS + 1][STORE_HEAD_VALUE_LEN];  /* head value per seq */
    unsigned sample_pct;        /* snapshot this % of the points (100: all) */
    uint64_t rng;               /* for sampling */
    long states, violations;    /* results */
    char first[512];            /* the first violation */
};

static uint64_t rnd(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

static void snapshot(crashfs *fs, void *payload)
{
    struct run *r = payload;
    if (r->sample_pct < 100 && rnd(&r->rng) % 100 >= r->sample_pct)
        return;
    if (r->count == r->cap) {
        r->cap = r->cap ? 2 * r->cap : 64;
        r->snaps = realloc(r->snaps, r->cap * sizeof *r->snaps);
    }
    r->snaps[r->count].fs = crashfs_clone(fs);
    r->snaps[r->count].acked = r->acked;
    r->snaps[r->count].attempted = r->attempted;
    r->count++;
}

/* The store's commit path for a run: head slots (< 0), or the log with
 * segments of this many bytes (1: one entry per segment, so every commit
 * rolls and checkpoints the one before). */
static int64_t log_bytes = -1;
static int pack_min = -1;       /* the file store's pack_min: -1 node files only */

static cairn_store *open_on(crashfs *fs, unsigned mutants, cairn_error *err)
{
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_store *s = NULL;
    opt.vfs = crashfs_vfs(fs);
    opt.threads = 1;
    opt.mutants = mutants;
    opt.log_bytes = log_bytes;
    opt.pack_min = pack_min;
    if (cairn_store_file_open_with(&s, "/store", &opt, err) < 0)
        return NULL;
    return s;
}

static void violation(struct run *r, const char *fmt, const char *detail, const struct snap *sn, int mode)
{
    if (r->violations++ == 0)
        snprintf(r->first, sizeof r->first, "%s%s (crash mode %d, acked %llu, in flight %llu)", fmt, detail, mode,
                 (unsigned long long)sn->acked, (unsigned long long)sn->attempted);
}

/* Reopens one crash state and judges it. */
static void check_state(struct run *r, const struct snap *sn, enum crash_mode mode, uint64_t which, uint64_t seed)
{
    crashfs *c = crashfs_crash(sn->fs, mode, which, seed);
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_store *s = open_on(c, 0, &err);
    char why[256];
    uint64_t seq = 0;
    r->states++;
    if (!s) {
        violation(r, "reopen failed: ", err.message, sn, mode);
        crashfs_free(c);
        return;
    }
    {
        void *v;
        size_t len;
        cairn_addr commit;
        int rc = cairn_store_head_read(s, "db", &v, &len);
        if (rc == CAIRN_ENOTFOUND) {
            if (sn->acked > 0)
                violation(r, "acknowledged head lost", "", sn, mode);
        } else if (rc < 0) {
            violation(r, "head unreadable: ", s->err.message, sn, mode);
        } else {
            if (store_wl_parse_head(v, len, &commit, &seq) < 0 || seq > MAX_COMMITS ||
                memcmp(v, r->values[seq], len) != 0)
                violation(r, "head is no published value", "", sn, mode);
            else if (seq < sn->acked)
                violation(r, "head older than the last acknowledged commit", "", sn, mode);
            else if (seq > sn->attempted)
                violation(r, "head from the future", "", sn, mode);
            else if (store_wl_verify(s, &commit, seq, 0, why, sizeof why) < 0)
                violation(r, "incomplete closure: ", why, sn, mode);
            cairn_free(v);
        }
    }
    /* recovery: a writer carries on from whatever head it finds */
    if (r->violations == 0) {
        store_wl w;
        int rc = store_wl_init(&w, s, "db", 4242);
        if (rc == 0)
            rc = cairn_store_lock(s);
        if (rc == 0)
            rc = store_wl_commit(&w, s, NULL);
        if (rc == 0 && (rc = store_wl_check_head(s, "db", 0, NULL, NULL, why, sizeof why)) < 0)
            violation(r, "commit after recovery incomplete: ", why, sn, mode);
        else if (rc < 0)
            violation(r, "commit after recovery failed: ", s->err.message, sn, mode);
    }
    cairn_store_close(s);
    crashfs_free(c);
}

/* Every crash state of one snapshot (random subsets: `subsets` of them). */
static void check_snapshot(struct run *r, const struct snap *sn, int subsets, uint64_t seed)
{
    size_t groups = crashfs_pending_groups(sn->fs), writes = crashfs_pending_writes(sn->fs);
    check_state(r, sn, CRASH_DROP_ALL, 0, seed);
    check_state(r, sn, CRASH_KEEP_ALL, 0, seed);
    for (size_t g = 0; g < groups; g++)
        check_state(r, sn, CRASH_DROP_ONE, g, seed);
    for (size_t w = 0; w < writes; w++) {
        check_state(r, sn, CRASH_TEAR_512, w, seed + w);
        check_state(r, sn, CRASH_TEAR_4096, w, seed + w);
        check_state(r, sn, CRASH_GARBAGE, w, seed + w);
    }
    for (int i = 0; i < subsets; i++)
        check_state(r, sn, CRASH_SUBSET, 0, seed * 31 + (uint64_t)i);
}

struct variant {
    unsigned mutants;           /* file backend mutants */
    int head_first;             /* workload mutant */
    int eatmydata;              /* crashfs mutant */
};

/* Runs commits commits under variant v, recording snapshots, then checks them. */
static void crash_run(struct run *r, const struct variant *v, int commits, uint64_t seed, int subsets)
{
    crashfs *fs = crashfs_new();
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_store *s = open_on(fs, 0, &err); /* create the store, durably */
    store_wl w;
    CHECK_MSG(s != NULL, "create: %s", err.message);
    cairn_store_close(s);
    s = open_on(fs, v->mutants, &err);
    CHECK_MSG(s != NULL, "open: %s", err.message);
    crashfs_set_eatmydata(fs, v->eatmydata);
    crashfs_set_hook(fs, snapshot, r);
    r->rng = seed;
    CHECK_OK(store_wl_init(&w, s, "db", seed));
    w.head_first = v->head_first;
    w.nodes_min = 1;
    w.nodes_max = 3;
    w.node_len_max = 6000; /* some nodes span several 512 B and 4 KiB blocks */
    if (log_bytes > 0 && log_bytes < 20000)
        w.node_len_max = 1500; /* and fit a small segment's entries */
    CHECK_OK(cairn_store_lock(s));
    for (int i = 0; i < commits; i++) {
        r->attempted = w.seq + 1;
        CHECK_OK(store_wl_commit(&w, s, r->values[w.seq + 1]));
        r->acked = w.seq;
    }
    snapshot(fs, r); /* and a crash after the last acknowledgement */
    cairn_store_close(s);
    crashfs_free(fs);
    for (size_t i = 0; i < r->count; i++) {
        check_snapshot(r, &r->snaps[i], subsets, seed + i);
        crashfs_free(r->snaps[i].fs);
    }
    free(r->snaps);
    r->snaps = NULL;
    r->count = r->cap = 0;
}

/* Commit paths every workload runs on: slots, a log rolling at each
 * commit, a log of a few entries per segment, all with node files; then
 * slots and the small log again with every put_many's nodes in a pack. */
static const struct {
    int64_t log_bytes;
    int pack_min;
} modes[] = { { -1, -1 }, { 1, -1 }, { 12000, -1 }, { -1, 1 }, { 12000, 1 } };

/* Runs `commits`-commit workloads for seeds [from, to) on every commit
 * path, checking sample_pct % of their persistence points. */
static void crash_modes(int commits, uint64_t from, uint64_t to, unsigned sample_pct, int subsets, const char *what)
{
    struct variant ok = { 0, 0, 0 };
    for (size_t m = 0; m < CAIRN_ARRAY_LEN(modes); m++) {
        long states = 0;
        log_bytes = modes[m].log_bytes;
        pack_min = modes[m].pack_min;
        for (uint64_t seed = from; seed < to; seed++) {
            struct run r;
            memset(&r, 0, sizeof r);
            /* a pack is fewer file operations than its nodes: sample more of them */
            r.sample_pct = pack_min > 0 ? CAIRN_MIN(100u, sample_pct * 4) : sample_pct;
            crash_run(&r, &ok, commits, seed, subsets);
            CHECK_MSG(r.violations == 0, "log %lld packs %d: %ld of %ld crash states violate: %s",
                      (long long)log_bytes, pack_min, r.violations, r.states, r.first);
            states += r.states;
        }
        fprintf(stderr, "log %lld packs %d: %s: %ld, violations 0\n", (long long)log_bytes, pack_min, what, states);
        CHECK(states > (pack_min > 0 ? 500 : 1000));
    }
    log_bytes = -1;
    pack_min = -1;
}

void test_store_crash__every_persistence_point_of_three_commits_recovers(void)
{
    crash_modes(3, 1, 4, 100, 8, "crash states explored");
}

void test_store_crash__sampled_points_of_long_workloads_recover(void)
{
    crash_modes(20, 10, 10 + (uint64_t)test_scale(), 15, 4, "sampled crash states");
}

/* The harness must catch each broken variant: at least one violation
 * (on the slot path unless the label says log). */
static void check_mutant_caught(const struct variant *v, const char *label)
{
    struct run r;
    memset(&r, 0, sizeof r);
    r.sample_pct = 100;
    log_bytes = strstr(label, "log") ? 1 : -1;
    pack_min = strstr(label, "pack") ? 1 : -1;
    crash_run(&r, v, 3, 1, 2);
    log_bytes = -1;
    pack_min = -1;
    fprintf(stderr, "%s: %ld violations in %ld states, e.g. %s\n", label, r.violations, r.states, r.first);
    CHECK_MSG(r.violations > 0, "%s went unnoticed", label);
}

void test_store_crash__catches_a_backend_that_does_not_fsync_files_before_rename(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_FILE_FSYNC, 0, 0 };
    check_mutant_caught(&v, "no file fsync");
}

void test_store_crash__catches_a_backend_that_does_not_fsync_directories(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_DIR_FSYNC, 0, 0 };
    check_mutant_caught(&v, "no directory fsync");
}

void test_store_crash__catches_a_commit_that_moves_the_head_before_writing_nodes(void)
{
    struct variant v = { 0, 1, 0 };
    check_mutant_caught(&v, "head before nodes");
}

void test_store_crash__catches_a_run_where_fsync_does_nothing(void)
{
    struct variant v = { 0, 0, 1 };
    check_mutant_caught(&v, "eatmydata");
}

void test_store_crash__catches_a_log_that_acknowledges_before_its_fdatasync(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_LOG_SYNC, 0, 0 };
    check_mutant_caught(&v, "log: no fdatasync");
}

void test_store_crash__catches_a_log_checkpoint_that_does_not_fsync_node_files(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_FILE_FSYNC, 0, 0 };
    check_mutant_caught(&v, "log: no file fsync in the checkpoint");
}

void test_store_crash__catches_a_log_checkpoint_that_does_not_fsync_directories(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_DIR_FSYNC, 0, 0 };
    check_mutant_caught(&v, "log: no directory fsync");
}

void test_store_crash__catches_a_pack_written_without_fsync(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_FILE_FSYNC, 0, 0 };
    check_mutant_caught(&v, "packs: no file fsync");
}

void test_store_crash__catches_a_pack_renamed_without_a_directory_fsync(void)
{
    struct variant v = { CAIRN_FILE_MUTANT_NO_DIR_FSYNC, 0, 0 };
    check_mutant_caught(&v, "packs: no directory fsync");
}
