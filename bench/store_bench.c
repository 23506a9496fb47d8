/*
 * store_bench: the storage layer's figures, per backend (mem, file, lmdb,
 * sqlite): node puts per second one at a time and in batches, commits per
 * second (8 nodes + head_cas), verified gets per second, bytes on disk per
 * payload byte, fsyncs per commit (file backend, counted through its vfs
 * seam; LMDB and SQLite do their I/O inside the library) and the node-frame
 * compression ratio. Payloads are generated index leaves
 * (tests/support/store_payload.c), 4-16 KiB. Then the file system's two
 * durable-write primitives, timed with plain POSIX calls: a write over
 * preallocated bytes + fdatasync (a commit log entry) and a new file +
 * fsync + rename + directory fsync (a node file or head slot).
 *
 *   store_bench [--quick] [--dir DIR] [--threads N] [--repeat N]
 *
 * --repeat runs every backend N times and keeps the best figure of each
 * metric: on a shared machine the best run is the one least disturbed.
 *
 * Prints a table, then one JSON object per line:
 *   {"bench":"store","backend":"file","metric":"put_batched_per_s","value":1234.5}
 */
#include <dirent.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/alloc.h"
#include "store/file.h"
#include "store/store.h"
#include "../tests/support/store_fault.h"
#include "../tests/support/store_payload.h"
#include "../tests/support/store_util.h"

#define BATCH 64
#define COMMIT_NODES 8

struct result {
    const char *backend;        /* which */
    double put_single;          /* nodes/s, one put_many per node */
    double put_batched;         /* nodes/s, BATCH per put_many */
    double commits;             /* commits/s (COMMIT_NODES nodes + head_cas) */
    double gets;                /* verified gets/s, one thread */
    double gets2;               /* verified gets/s, two threads */
    double disk_ratio;          /* bytes on disk / payload bytes */
    double frame_ratio;         /* payload bytes / framed bytes */
    double fsyncs;              /* fsync + fsync_dir + fdatasync per commit; < 0: not counted */
};

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static uint64_t disk_bytes(const char *path)
{
    struct stat st;
    uint64_t total = 0;
    DIR *d;
    struct dirent *e;
    if (lstat(path, &st) != 0)
        return 0;
    if (!S_ISDIR(st.st_mode))
        return (uint64_t)st.st_blocks * 512;
    if (!(d = opendir(path)))
        return 0;
    while ((e = readdir(d)) != NULL) {
        char sub[4096];
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
        total += disk_bytes(sub);
    }
    closedir(d);
    return total;
}

struct payloads {
    uint8_t **p;                /* node payloads */
    size_t *len;
    size_t count;
    size_t bytes;               /* their total */
};

static void make_payloads(struct payloads *ps, size_t count, uint64_t seed)
{
    ps->p = calloc(count, sizeof *ps->p);
    ps->len = calloc(count, sizeof *ps->len);
    ps->count = count;
    ps->bytes = 0;
    for (size_t i = 0; i < count; i++) {
        size_t want = 4096 + (size_t)((seed + i * 2654435761u) % 12288);
        ps->p[i] = malloc(want + 64);
        ps->len[i] = store_payload_leaf(ps->p[i], want + 64, seed * 100003 + i, (enum store_payload_index)(i % 3),
                                        want);
        ps->bytes += ps->len[i];
    }
}

static void free_payloads(struct payloads *ps)
{
    for (size_t i = 0; i < ps->count; i++)
        free(ps->p[i]);
    free(ps->p);
    free(ps->len);
}

static int open_backend(cairn_store **out, const char *backend, const char *path, vfs_fault *counter,
                        unsigned threads)
{
    cairn_error err = CAIRN_ERROR_INIT;
    int rc;
    if (!strcmp(backend, "file")) {
        cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
        opt.vfs = &counter->vfs;
        opt.threads = threads;
        rc = cairn_store_file_open_with(out, path, &opt, &err);
    } else {
        rc = store_open(out, backend, path, &err);
    }
    if (rc < 0)
        fprintf(stderr, "store_bench: open %s: %s\n", backend, err.message);
    return rc;
}

/* Puts payloads [from, to) in batches of batch; returns nodes/s. */
static double put_range(cairn_store *s, const struct payloads *ps, size_t from, size_t to, size_t batch,
                        cairn_addr *addrs, size_t *framed)
{
    double t0 = now();
    for (size_t i = from; i < to; i += batch) {
        cairn_store_batch *b;
        if (cairn_store_batch_new(&b, s) < 0)
            exit(1);
        for (size_t j = i; j < to && j < i + batch; j++)
            if (cairn_store_batch_add(b, ps->p[j], ps->len[j], &addrs[j]) < 0)
                exit(1);
        *framed += cairn_store_batch_bytes(b);
        if (cairn_store_batch_commit(b) < 0) {
            fprintf(stderr, "store_bench: put: %s\n", s->err.message);
            exit(1);
        }
        cairn_store_batch_free(b);
    }
    return (double)(to - from) / (now() - t0);
}

/* Commit i: nodes i*COMMIT_NODES.. of cs and a record naming them, then
 * head_cas from the previous commit, in one call as the writer makes it. */
static void commit_once(cairn_store *s, const struct payloads *cs, size_t i, cairn_addr *prev, int *have_prev)
{
    uint8_t rec[16 * (COMMIT_NODES + 1)];
    cairn_store_batch *b;
    cairn_addr a, commit;
    if (cairn_store_batch_new(&b, s) < 0)
        exit(1);
    memcpy(rec, *have_prev ? prev->bytes : (const uint8_t *)"0000000000000000", 16);
    for (size_t j = 0; j < COMMIT_NODES; j++) {
        size_t k = i * COMMIT_NODES + j;
        if (cairn_store_batch_add(b, cs->p[k], cs->len[k], &a) < 0)
            exit(1);
        memcpy(rec + 16 * (j + 1), a.bytes, 16);
    }
    if (cairn_store_batch_add(b, rec, sizeof rec, &commit) < 0 ||
        cairn_store_batch_commit_head(b, "db", *have_prev ? prev->bytes : NULL, *have_prev ? 16 : 0, commit.bytes,
                                      16) < 0) {
        fprintf(stderr, "store_bench: commit: %s\n", s->err.message);
        exit(1);
    }
    cairn_store_batch_free(b);
    *prev = commit;
    *have_prev = 1;
}

struct getter {
    cairn_store *s;             /* store */
    const cairn_addr *addrs;    /* nodes to read */
    size_t count;
    size_t reads;               /* gets to do */
    uint64_t seed;
};

static void *get_loop(void *p)
{
    struct getter *g = p;
    uint64_t x = g->seed;
    for (size_t i = 0; i < g->reads; i++) {
        void *data;
        size_t len;
        x = x * 6364136223846793005ULL + 1442695040888963407ULL;
        if (cairn_store_get_node(g->s, &g->addrs[(x >> 33) % g->count], &data, &len) < 0) {
            fprintf(stderr, "store_bench: get: %s\n", g->s->err.message);
            exit(1);
        }
        cairn_free(data);
    }
    return NULL;
}

static double gets_per_s(cairn_store *s, const cairn_addr *addrs, size_t count, size_t reads, int threads)
{
    pthread_t th[2];
    struct getter g[2];
    double t0 = now();
    for (int i = 0; i < threads; i++) {
        g[i] = (struct getter){ s, addrs, count, reads / (size_t)threads, (uint64_t)i + 1 };
        pthread_create(&th[i], NULL, get_loop, &g[i]);
    }
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    return (double)reads / (now() - t0);
}

static void bench_backend(struct result *r, const char *backend, const char *root, size_t n, unsigned threads)
{
    char path[4096];
    struct payloads ps;
    cairn_addr *addrs;
    cairn_store *s;
    static vfs_fault counter;
    size_t framed = 0, single = n / 8, commits = n / 4 / COMMIT_NODES;
    uint64_t syncs0;
    struct payloads cs;
    cairn_addr prev;
    int have_prev = 0;
    double t0;
    memset(r, 0, sizeof *r);
    r->backend = backend;
    snprintf(path, sizeof path, "%s/%s", root, backend);
    vfs_fault_init(&counter, NULL);
    make_payloads(&ps, n, 1);
    make_payloads(&cs, commits * COMMIT_NODES, 2);
    addrs = calloc(n, sizeof *addrs);
    if (open_backend(&s, backend, path, &counter, threads) < 0)
        exit(1);
    cairn_store_lock(s);
    r->put_single = put_range(s, &ps, 0, single, 1, addrs, &framed);
    r->put_batched = put_range(s, &ps, single, n, BATCH, addrs, &framed);
    r->frame_ratio = (double)ps.bytes / (double)framed;
    /* commits: COMMIT_NODES fresh nodes and a record, then head_cas */
    syncs0 = atomic_load(&counter.calls[VOP_FSYNC]) + atomic_load(&counter.calls[VOP_FSYNC_DIR]) +
             atomic_load(&counter.calls[VOP_DATASYNC]);
    t0 = now();
    for (size_t i = 0; i < commits; i++)
        commit_once(s, &cs, i, &prev, &have_prev);
    r->commits = (double)commits / (now() - t0);
    r->fsyncs = strcmp(backend, "file") ? -1
                                        : (double)(atomic_load(&counter.calls[VOP_FSYNC]) +
                                                   atomic_load(&counter.calls[VOP_FSYNC_DIR]) +
                                                   atomic_load(&counter.calls[VOP_DATASYNC]) - syncs0) /
                                              (double)commits;
    r->gets = gets_per_s(s, addrs, n, 4 * n, 1);
    r->gets2 = gets_per_s(s, addrs, n, 4 * n, 2);
    cairn_store_close(s);
    r->disk_ratio = strcmp(backend, "mem") ? (double)disk_bytes(path) / (double)ps.bytes : 0;
    free(addrs);
    free_payloads(&ps);
    free_payloads(&cs);
}

#define BEST(f) (best->f = r->f > best->f ? r->f : best->f)

static void keep_best(struct result *best, const struct result *r)
{
    BEST(put_single);
    BEST(put_batched);
    BEST(commits);
    BEST(gets);
    BEST(gets2);
}

static void json(const char *backend, const char *metric, double v)
{
    printf("{\"bench\":\"store\",\"backend\":\"%s\",\"metric\":\"%s\",\"value\":%.4g}\n", backend, metric, v);
}

/*
 * The file system's durable-write primitives in dir, ms each (the reason for
 * the file store's commit log, src/store/file.c): [0] 1 KiB written over
 * preallocated bytes and fdatasynced, as a log entry is; [1] a new 1 KiB
 * file written, fsynced, renamed and its directory fsynced, as a node file
 * or head slot is.
 */
static void fs_primitives(const char *dir, int count, double out[2])
{
    char path[4200], tmp[4200];
    char buf[1024];
    int fd, dfd = open(dir, O_RDONLY | O_DIRECTORY);
    double t0;
    memset(buf, 'x', sizeof buf);
    out[0] = out[1] = -1;
    snprintf(path, sizeof path, "%s/log", dir);
    if (dfd < 0 || (fd = open(path, O_CREAT | O_RDWR | O_TRUNC, 0644)) < 0)
        goto done;
    for (int i = 0; i < count; i++)
        if (pwrite(fd, buf, sizeof buf, (off_t)i * (off_t)sizeof buf) != (ssize_t)sizeof buf)
            goto done_fd;
    if (fsync(fd) != 0)
        goto done_fd;
    t0 = now();
    for (int i = 0; i < count; i++)
        if (pwrite(fd, buf, sizeof buf, (off_t)i * (off_t)sizeof buf) != (ssize_t)sizeof buf || fdatasync(fd) != 0)
            goto done_fd;
    out[0] = (now() - t0) * 1e3 / count;
    t0 = now();
    for (int i = 0; i < count; i++) {
        int f;
        snprintf(tmp, sizeof tmp, "%s/t%d", dir, i);
        snprintf(path, sizeof path, "%s/n%d", dir, i);
        if ((f = open(tmp, O_CREAT | O_EXCL | O_WRONLY, 0644)) < 0)
            goto done_fd;
        if (write(f, buf, sizeof buf) != (ssize_t)sizeof buf || fsync(f) != 0) {
            close(f);
            goto done_fd;
        }
        close(f);
        if (rename(tmp, path) != 0 || fsync(dfd) != 0)
            goto done_fd;
    }
    out[1] = (now() - t0) * 1e3 / count;
done_fd:
    close(fd);
done:
    if (dfd >= 0)
        close(dfd);
}

int main(int argc, char **argv)
{
    static const char *const backends[] = { "mem", "file", "lmdb", "sqlite" };
    struct result res[4];
    char root[4096] = "";
    size_t n = 4096;
    unsigned threads = 0;
    int repeat = 1;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--quick"))
            n = 1024;
        else if (!strcmp(argv[i], "--dir") && i + 1 < argc)
            snprintf(root, sizeof root, "%s/store_bench.XXXXXX", argv[++i]);
        else if (!strcmp(argv[i], "--threads") && i + 1 < argc)
            threads = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--repeat") && i + 1 < argc)
            repeat = atoi(argv[++i]);
        else {
            fprintf(stderr, "usage: store_bench [--quick] [--dir DIR] [--threads N] [--repeat N]\n");
            return 2;
        }
    }
    if (!root[0])
        snprintf(root, sizeof root, "%s/store_bench.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(root)) {
        perror("store_bench: mkdtemp");
        return 1;
    }
    for (int k = 0; k < repeat; k++) {
        for (int i = 0; i < 4; i++) {
            struct result r;
            char sub[4200];
            snprintf(sub, sizeof sub, "%s/%d", root, k);
            mkdir(sub, 0755);
            bench_backend(&r, backends[i], sub, n, threads);
            if (k == 0)
                res[i] = r;
            else
                keep_best(&res[i], &r);
        }
    }
    printf("store_bench: %zu leaf nodes of 4-16 KiB per backend, batches of %d, commits of %d nodes, best of %d\n",
           n, BATCH, COMMIT_NODES, repeat);
    printf("%-7s %11s %11s %10s %11s %11s %9s %8s %8s\n", "backend", "put 1/s", "put 64/s", "commit/s", "get/s",
           "get/s 2thr", "disk/raw", "ratio", "fsync/c");
    for (int i = 0; i < 4; i++) {
        struct result *r = &res[i];
        char fs[16] = "n/a", dr[16] = "n/a";
        if (r->fsyncs >= 0)
            snprintf(fs, sizeof fs, "%.1f", r->fsyncs);
        if (r->disk_ratio > 0)
            snprintf(dr, sizeof dr, "%.2f", r->disk_ratio);
        printf("%-7s %11.0f %11.0f %10.0f %11.0f %11.0f %9s %8.2f %8s\n", r->backend, r->put_single, r->put_batched,
               r->commits, r->gets, r->gets2, dr, r->frame_ratio, fs);
    }
    for (int i = 0; i < 4; i++) {
        struct result *r = &res[i];
        json(r->backend, "put_single_per_s", r->put_single);
        json(r->backend, "put_batched_per_s", r->put_batched);
        json(r->backend, "commit_per_s", r->commits);
        json(r->backend, "get_per_s", r->gets);
        json(r->backend, "get_per_s_2_threads", r->gets2);
        if (r->disk_ratio > 0)
            json(r->backend, "disk_bytes_per_payload_byte", r->disk_ratio);
        json(r->backend, "frame_compression_ratio", r->frame_ratio);
        if (r->fsyncs >= 0)
            json(r->backend, "fsyncs_per_commit", r->fsyncs);
    }
    {
        char sub[4200];
        double prim[2];
        snprintf(sub, sizeof sub, "%s/fs", root);
        mkdir(sub, 0755);
        fs_primitives(sub, n >= 4096 ? 500 : 200, prim);
        printf("file system: 1 KiB over preallocated bytes + fdatasync %.3f ms; new file + fsync + rename + "
               "directory fsync %.3f ms\n", prim[0], prim[1]);
        if (prim[0] > 0)
            json("fs", "prealloc_write_fdatasync_ms", prim[0]);
        if (prim[1] > 0)
            json("fs", "new_file_rename_dirsync_ms", prim[1]);
    }
    {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", root);
        if (system(cmd) != 0)
            fprintf(stderr, "store_bench: could not remove %s\n", root);
    }
    return 0;
}
