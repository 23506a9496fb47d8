/*
 * The file backend, cairn's default store: {:backend :file :path "/data/db"}.
 * A store is a directory that rsync, syncthing or NFS can carry, in which no
 * file is ever modified in place (docs/format.md, "Storage layer", has the
 * byte layouts):
 *
 *   version                 "cairn file store 1\n"; unknown versions are refused
 *   lock                    empty; flock()ed by the single writer
 *   nodes/ab/cdef...        one immutable file per node: the directory is the
 *                           first byte of the address in hex, the name the
 *                           other 15 bytes (30 hex digits)
 *   heads/<name>.<seq>      head slots, seq as 16 hex digits (below)
 *   tmp/<wid>-<n>.tmp       files being written; wid names the writing handle
 *
 * Nodes. put_many writes each new node to a temp file and fsyncs it,
 * renames it into its fan-out directory, then fsyncs each touched directory
 * once (see "Skipped fsyncs" below). The writes and the directory fsyncs each run on up to
 * CAIRN_FILE_THREADS (16) threads: the time goes to waiting on the device
 * and on the file system's inode allocation, not to the CPU, and concurrent
 * fsyncs share device flushes. Batched puts of 64 leaves went from 115-195 to
 * 565-865 nodes/s on this (shared, noisy) 2-core VM (bench/store_bench.c
 * --threads 1 vs 4), and a durable bulk load of 100k people (cairn_bench
 * bulk-load-1000, three runs each, interleaved) from 59-132k datoms/s with 4
 * threads to 172-195k with 16 (32: 176-200k). A node found already
 * present still gets its directory fsynced: a writer killed between its
 * rename and its directory fsync leaves a name that a power loss can still
 * take away. Readers only ever open final names, so a half-written node is
 * never visible; anything in a node directory that is not 30 hex digits
 * (rsync and syncthing temp files, conflict copies) is ignored.
 *
 * Skipped fsyncs. A handle remembers which fan-out directories it has
 * fsynced, and which it has seen made durable in nodes/ by an fsync of
 * nodes/ after it opened them. A node already present in a directory this
 * handle has fsynced since, with no rename into that directory still waiting
 * for its fsync (a per-directory count, raised before each rename and lowered
 * after the fsync that follows it), is durable: its name was there when the
 * directory was fsynced. So a commit that stores one new node and names old
 * ones (the config node) fsyncs one file and one directory, and nodes/ only
 * when a fan-out directory is new to this handle.
 *
 * Heads: why slots. DESIGN.md asks for heads "replaced by atomic rename", but
 * rename cannot compare-and-set: two writers that both read v5 can both
 * rename, and the last one silently wins (Datahike #878). So a head is a
 * series of numbered slot files, and moving it means *creating* the next
 * slot with link(), which fails with EEXIST when another writer got there
 * first. That is a real compare-and-set even against a writer that ignores
 * the lock. The current value is the highest-numbered valid slot: each slot
 * carries its seq, a random nonce, the nonce of the slot it replaced and a
 * checksum over all of it and the head name, so a torn or half-synced newest
 * slot (after a power loss) falls back to the one before, never to an empty
 * or torn head. The writer prunes slots, keeping the last K (8).
 *
 * Pruning makes one hole: a writer that stalls for K commits (a GC pause, a
 * SIGSTOP) can link a seq that was pruned. So after its link the writer
 * checks: if its slot is the highest, it won; if the next slot names its
 * nonce as the one it replaced, someone built on it, so it won; otherwise it
 * was stale (the slot above it was there before it), and it removes its slot
 * (which no reader took for current, since a higher slot existed) and reports
 * CAIRN_ECONFLICT. Deletion goes in ascending seq order, which is what makes
 * those conclusions sound. Only when its own slot was already pruned (K
 * commits by other writers between its link and its check) is the outcome
 * unknown, reported as CAIRN_EIO :store/ambiguous. Rejected: a single head
 * file replaced by rename plus the lock (no CAS against a lock-ignoring
 * writer, and NFS flock is advisory at best); renameat2(RENAME_NOREPLACE)
 * (the same EEXIST as link(), but not on every file system); keeping every
 * slot forever (a directory that grows by one entry per commit).
 *
 * Commit path durability: an fsync error here is fail-stop. Linux may drop
 * the dirty pages and clear the error, so a retried fsync can "succeed" with
 * nothing on disk (fsyncgate); after one, this handle refuses every write
 * until it is reopened. Other write errors (ENOSPC, a failed rename) leave
 * the handle usable and the last good head in place.
 *
 * Temp files live in tmp/, so sweeping them never scans node directories.
 * When a handle becomes the writer it removes temp files of other handles
 * older than sweep_age (5 minutes): a live write keeps its temp file for
 * milliseconds, and a writer that ignores the lock is given time to finish.
 */
#include "store/file.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "edn/value.h"

#define VERSION_TEXT "cairn file store 1\n"
#define VERSION_PREFIX "cairn file store "
#define NODE_FILE_MAX (((size_t)256 << 20) + 64)  /* larger node files are refused as corrupt */
#define HEX_LEN (2 * CAIRN_ADDR_LEN)
#define DIR_SYNCED 1   /* this handle fsynced nodes/<b>: the names it held then are durable */
#define DIR_LINKED 2   /* this handle fsynced nodes/ after opening nodes/<b>: the directory is durable */

/*
 * Head slot file (all integers big-endian):
 *
 *   offset  size  field
 *   0       4     magic "CHD" 0x01
 *   4       1     kind: 1 = value, 2 = tombstone (head deleted)
 *   5       3     zero
 *   8       8     seq, equal to the seq in the file name
 *   16      8     nonce, random per slot
 *   24      8     nonce of the slot this one replaced (0: none)
 *   32      4     value length n (0 for a tombstone, at most CAIRN_HEAD_MAX)
 *   36      n     value
 *   36+n    16    first 16 bytes of SHA-256(head name, 0x00, bytes 0..36+n)
 */
#define SLOT_HDR 36
#define SLOT_SUM 16
#define SLOT_MAX (SLOT_HDR + CAIRN_HEAD_MAX + SLOT_SUM)
#define SLOT_VALUE 1
#define SLOT_TOMBSTONE 2
#define SEQ_HEX 16

struct slot {
    uint64_t seq;               /* position in the head's history */
    int kind;                   /* SLOT_VALUE or SLOT_TOMBSTONE */
    uint64_t nonce;             /* random id of this slot */
    uint64_t prev;              /* nonce of the slot it replaced */
    size_t len;                 /* value bytes */
    uint8_t buf[SLOT_MAX];      /* the whole file; the value is at SLOT_HDR */
};

struct file_store {
    cairn_store base;           /* must be first */
    cairn_vfs *vfs;             /* all I/O goes through here */
    int root, nodes, heads, tmp;  /* directory handles */
    unsigned keep_slots;        /* slots kept per head */
    int64_t sweep_age;          /* seconds before foreign temp files are swept */
    unsigned threads;           /* node writers per put_many */
    unsigned mutants;           /* test-only durability bugs */
    void (*race_hook)(void *, const char *);  /* test-only, see file.h */
    void *race_payload;         /* passed to race_hook */
    uint64_t writer_id;         /* random; names this handle's temp files */
    _Atomic uint64_t tmp_count; /* next temp file number */
    _Atomic int failed;         /* fail-stop after an fsync error */
    _Atomic uint32_t renaming[256]; /* renames into nodes/<b> awaiting that directory's fsync */
    _Atomic uint8_t durable[256];   /* DIR_SYNCED | DIR_LINKED for nodes/<b> */
    pthread_mutex_t lock_mu;    /* guards lock_fd */
    int lock_fd;                /* held lock file, or -1 */
};

static struct file_store *fs_of(cairn_store *s)
{
    return (struct file_store *)s;
}

/* ---- errors ------------------------------------------------------------------ */

/* Turns -errno from the vfs into a cairn status and a message on err. */
static int io_error(cairn_error *err, int neg, const char *what, const char *name)
{
    int e = -neg;
    switch (e) {
    case ENOENT:
        return cairn_error_set(err, CAIRN_ENOTFOUND, ":store/not-found", "%s %s: not found", what, name);
    case ENOSPC:
    case EDQUOT:
        return cairn_error_set(err, CAIRN_EFULL, ":store/full", "%s %s: %s", what, name, strerror(e));
    case ENOMEM:
        return cairn_error_oom(err);
    case ELOOP:
    case ENOTDIR:
    case EINVAL:
        cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s %s: not a plain file or directory (symlinks are refused)",
                        what, name);
        return CAIRN_CORRUPT_BKPT;
    default:
        return cairn_error_set(err, CAIRN_EIO, ":store/io", "%s %s: %s", what, name, strerror(e));
    }
}

/* Records an fsync failure: from now on this handle refuses to write. */
static int fail_stop(struct file_store *fs, int neg, const char *name)
{
    atomic_store(&fs->failed, 1);
    return cairn_error_set(&fs->base.err, CAIRN_EIO, ":store/failed",
                           "fsync %s: %s; the store refuses writes until reopened", name, strerror(-neg));
}

static int check_writable(struct file_store *fs)
{
    if (atomic_load(&fs->failed))
        return cairn_error_set(&fs->base.err, CAIRN_EIO, ":store/failed",
                               "an earlier fsync failed; the store refuses writes until reopened");
    return 0;
}

/* ---- small file helpers ----------------------------------------------------------- */

/* Writes all of len bytes, looping over short writes. */
static int write_all(cairn_vfs *v, int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    while (len > 0) {
        ssize_t n = v->write(v, fd, p, len);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Reads the whole file name in dir into a new buffer of at most max bytes. */
static int read_file(cairn_vfs *v, int dir, const char *name, size_t max, void **data_out, size_t *len_out)
{
    uint64_t size;
    uint8_t *buf;
    size_t got = 0;
    int fd, rc;
    if ((rc = v->open(v, dir, name, CAIRN_VFS_READ, &fd)) < 0)
        return rc;
    if ((rc = v->size(v, fd, &size)) < 0)
        goto fail;
    if (size > max) {
        rc = -EFBIG;
        goto fail;
    }
    if (!(buf = cairn_store_data_alloc(size ? (size_t)size : 1))) {
        rc = -ENOMEM;
        goto fail;
    }
    while (got < size) {
        ssize_t n = v->pread(v, fd, buf + got, (size_t)size - got, got);
        if (n <= 0) {
            cairn_free(buf);
            rc = n < 0 ? (int)n : -EIO; /* shorter than its size: torn */
            goto fail;
        }
        got += (size_t)n;
    }
    v->close(v, fd);
    *data_out = buf;
    *len_out = got;
    return 0;
fail:
    v->close(v, fd);
    return rc;
}

/* A fresh temp file name for this handle: "<wid>-<n>.tmp". */
static void temp_name(struct file_store *fs, char *out, size_t cap)
{
    snprintf(out, cap, "%016llx-%016llx.tmp", (unsigned long long)fs->writer_id,
             (unsigned long long)atomic_fetch_add(&fs->tmp_count, 1));
}

/*
 * Creates tmp/<name> holding data, fsynced (unless the test mutant says not).
 * On failure the temp file is gone and *fsync_failed tells whether it was
 * the fsync that failed. Returns 0 or -errno; touches no shared state, so
 * node-writer threads can call it.
 */
static int write_temp(struct file_store *fs, const char *name, const void *data, size_t len, int *fsync_failed)
{
    cairn_vfs *v = fs->vfs;
    int fd, rc;
    *fsync_failed = 0;
    if ((rc = v->open(v, fs->tmp, name, CAIRN_VFS_CREATE, &fd)) < 0)
        return rc;
    rc = write_all(v, fd, data, len);
    if (rc == 0 && !(fs->mutants & CAIRN_FILE_MUTANT_NO_FILE_FSYNC) && (rc = v->fsync(v, fd)) < 0)
        *fsync_failed = 1;
    v->close(v, fd);
    if (rc < 0)
        v->unlink(v, fs->tmp, name);
    return rc;
}

static int fsync_dir(struct file_store *fs, int dir)
{
    if (fs->mutants & CAIRN_FILE_MUTANT_NO_DIR_FSYNC)
        return 0;
    return fs->vfs->fsync_dir(fs->vfs, dir);
}

static int is_hex(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return 0;
    return 1;
}

/* ---- nodes ------------------------------------------------------------------------- */

/* nodes/<dir>/<file> for an address: 2 and 30 hex digits. */
static void node_names(const cairn_addr *addr, char dir[3], char file[HEX_LEN - 1])
{
    char hex[HEX_LEN + 1];
    cairn_addr_hex(hex, addr);
    memcpy(dir, hex, 2);
    dir[2] = 0;
    memcpy(file, hex + 2, HEX_LEN - 1);
}

static int file_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    struct file_store *fs = fs_of(s);
    cairn_vfs *v = fs->vfs;
    char dn[3], fn[HEX_LEN - 1];
    int dir, rc;
    node_names(addr, dn, fn);
    if ((rc = v->dir_open(v, fs->nodes, dn, 0, &dir)) < 0)
        return rc == -ENOENT ? CAIRN_ENOTFOUND : io_error(&s->err, rc, "node directory", dn);
    rc = read_file(v, dir, fn, NODE_FILE_MAX, data_out, len_out);
    v->close(v, dir);
    if (rc == -ENOENT)
        return CAIRN_ENOTFOUND;
    if (rc == -EFBIG) {
        cairn_error_set(&s->err, CAIRN_ECORRUPT, ":store/corrupt", "node %s%s: file larger than any node", dn, fn);
        return CAIRN_CORRUPT_BKPT;
    }
    return rc < 0 ? io_error(&s->err, rc, "node", fn) : 0;
}

/* ---- parallel I/O ----------------------------------------------------------------- */

/* One item of parallel work: 0 or -errno. Runs on any thread: it must touch
 * nothing shared but what its item owns. */
typedef int (*job_fn)(void *ctx, size_t i);

struct pool {
    job_fn fn;                  /* the work */
    void *ctx;                  /* its argument */
    size_t count;               /* items */
    _Atomic size_t next;        /* next item to take */
    _Atomic int rc;             /* first failure (-errno), 0 */
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

/*
 * Runs fn for every item on up to `threads` threads, this one included,
 * stopping at the first failure: 0, or that -errno with its item in
 * *failed_out. Concurrent fsyncs let the file system commit them together
 * (ext4's journal does); with fewer than 2 items per thread it stays on
 * this thread.
 */
static int parallel_for(unsigned threads, size_t count, job_fn fn, void *ctx, size_t *failed_out)
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
    if ((rc = atomic_load(&pl.rc)) < 0)
        *failed_out = atomic_load(&pl.failed);
    return rc;
}

/* ---- nodes, continued ---------------------------------------------------------------- */

/* One node put_many has to write. */
struct node_job {
    size_t index;               /* into the caller's arrays */
    char tmp[48];               /* its temp file name */
    int written;                /* the temp file exists, fsynced */
    int fsync_failed;           /* writing it failed in its fsync */
};

struct put {
    struct file_store *fs;      /* the store */
    struct node_job *jobs;      /* nodes to write */
    const void *const *data;    /* caller's node bytes */
    const size_t *lens;         /* caller's lengths */
    int dirs[258];              /* directories to fsync */
};

static int write_job(void *ctx, size_t i)
{
    struct put *p = ctx;
    struct node_job *j = &p->jobs[i];
    int rc = write_temp(p->fs, j->tmp, p->data[j->index], p->lens[j->index], &j->fsync_failed);
    j->written = rc == 0;
    return rc;
}

static int fsync_dir_job(void *ctx, size_t i)
{
    struct put *p = ctx;
    return fsync_dir(p->fs, p->dirs[i]);
}

static int file_put_many(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                         const size_t *lens)
{
    struct file_store *fs = fs_of(s);
    cairn_vfs *v = fs->vfs;
    int dirs[256], rc, sync_nodes = 0;
    uint8_t touched[256] = { 0 };
    uint32_t renames[256] = { 0 };
    struct put p;
    size_t njobs = 0, renamed = 0, ndirs = 0, failed;
    char dn[3], fn[HEX_LEN - 1];

    if ((rc = check_writable(fs)) < 0)
        return rc;
    for (int i = 0; i < 256; i++)
        dirs[i] = -1;
    memset(&p, 0, sizeof p);
    p.fs = fs;
    p.data = data;
    p.lens = lens;
    if (n && !(p.jobs = cairn_malloc(cairn_mul_size(n, sizeof *p.jobs))))
        return cairn_error_oom(&s->err);

    /* which nodes are new; open (and create) their directories */
    for (size_t i = 0; i < n; i++) {
        uint8_t b = addrs[i].bytes[0];
        node_names(&addrs[i], dn, fn);
        if (dirs[b] < 0 && (rc = v->dir_open(v, fs->nodes, dn, 1, &dirs[b])) < 0) {
            rc = io_error(&s->err, rc, "node directory", dn);
            goto done;
        }
        if (!(atomic_load(&fs->durable[b]) & DIR_LINKED))
            sync_nodes = 1;
        if ((rc = v->stat(v, dirs[b], fn, NULL)) == 0) {
            /* present: durable once its directory was fsynced after it got its name */
            if (!(atomic_load(&fs->durable[b]) & DIR_SYNCED) || atomic_load(&fs->renaming[b]))
                touched[b] = 1;
            continue;
        }
        touched[b] = 1;
        if (rc != -ENOENT) {
            rc = io_error(&s->err, rc, "node", fn);
            goto done;
        }
        memset(&p.jobs[njobs], 0, sizeof p.jobs[njobs]);
        p.jobs[njobs].index = i;
        temp_name(fs, p.jobs[njobs].tmp, sizeof p.jobs[njobs].tmp);
        njobs++;
    }

    /* 1. temp files, written and fsynced */
    if ((rc = parallel_for(fs->threads, njobs, write_job, &p, &failed)) < 0) {
        rc = p.jobs[failed].fsync_failed ? fail_stop(fs, rc, "node") : io_error(&s->err, rc, "node", "temp file");
        goto done;
    }
    /* 2. renamed to their addresses */
    for (; renamed < njobs; renamed++) {
        struct node_job *j = &p.jobs[renamed];
        uint8_t b = addrs[j->index].bytes[0];
        node_names(&addrs[j->index], dn, fn);
        atomic_fetch_add(&fs->renaming[b], 1);
        renames[b]++;
        if ((rc = v->rename(v, fs->tmp, j->tmp, dirs[b], fn)) < 0) {
            rc = io_error(&s->err, rc, "rename node", fn);
            goto done;
        }
    }
    /* 3. each touched directory fsynced once, and nodes/ itself: it may
     * hold a fan-out directory made by this call, or by a writer killed
     * before it fsynced nodes/ (the crash tests found that one) */
    for (int b = 0; b < 256; b++)
        if (touched[b])
            p.dirs[ndirs++] = dirs[b];
    if (sync_nodes)
        p.dirs[ndirs++] = fs->nodes;
    if ((rc = parallel_for(fs->threads, ndirs, fsync_dir_job, &p, &failed)) < 0) {
        /* renaming[] stays raised for these renames: the handle is failed */
        rc = fail_stop(fs, rc, "node directory");
        goto done;
    }
    for (int b = 0; b < 256; b++) {
        uint8_t mark = (uint8_t)((touched[b] ? DIR_SYNCED : 0) | (sync_nodes && dirs[b] >= 0 ? DIR_LINKED : 0));
        if (mark)
            atomic_fetch_or(&fs->durable[b], mark);
        if (renames[b])
            atomic_fetch_sub(&fs->renaming[b], renames[b]);
    }
done:
    for (size_t i = renamed; i < njobs; i++)
        if (p.jobs[i].written)
            v->unlink(v, fs->tmp, p.jobs[i].tmp);
    for (int b = 0; b < 256; b++)
        if (dirs[b] >= 0)
            v->close(v, dirs[b]);
    cairn_free(p.jobs);
    return rc;
}

static int file_del(cairn_store *s, const cairn_addr *addr)
{
    struct file_store *fs = fs_of(s);
    cairn_vfs *v = fs->vfs;
    char dn[3], fn[HEX_LEN - 1];
    int dir, rc;
    if ((rc = check_writable(fs)) < 0)
        return rc;
    node_names(addr, dn, fn);
    if ((rc = v->dir_open(v, fs->nodes, dn, 0, &dir)) < 0)
        return rc == -ENOENT ? 0 : io_error(&s->err, rc, "node directory", dn);
    rc = v->unlink(v, dir, fn);
    v->close(v, dir);
    if (rc < 0 && rc != -ENOENT)
        return io_error(&s->err, rc, "delete node", fn);
    return 0;
}

struct list_ctx {
    struct file_store *fs;      /* the store */
    cairn_store_addr_cb cb;     /* caller's callback */
    void *payload;              /* its payload */
    char dir[3];                /* fan-out directory being listed */
    int stop;                   /* the callback's nonzero return */
    int rc;                     /* first I/O error (a cairn status) */
};

static int list_node(const char *name, void *p)
{
    struct list_ctx *c = p;
    char hex[HEX_LEN];
    cairn_addr a;
    if (strlen(name) != HEX_LEN - 2 || !is_hex(name, HEX_LEN - 2))
        return 0; /* not ours: rsync/syncthing temp files, conflict copies */
    memcpy(hex, c->dir, 2);
    memcpy(hex + 2, name, HEX_LEN - 2);
    if (cairn_addr_parse(&a, hex, HEX_LEN) < 0)
        return 0;
    return c->stop = c->cb(&a, c->payload);
}

static int list_dir(const char *name, void *p)
{
    struct list_ctx *c = p;
    cairn_vfs *v = c->fs->vfs;
    int dir, rc;
    if (strlen(name) != 2 || !is_hex(name, 2))
        return 0;
    if ((rc = v->dir_open(v, c->fs->nodes, name, 0, &dir)) < 0) {
        if (rc == -ENOENT)
            return 0;
        return c->rc = io_error(&c->fs->base.err, rc, "node directory", name);
    }
    memcpy(c->dir, name, 3);
    rc = v->list(v, dir, list_node, c);
    v->close(v, dir);
    if (c->stop)
        return c->stop;
    if (rc < 0)
        return c->rc = io_error(&c->fs->base.err, rc, "list", name);
    return 0;
}

static int file_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
{
    struct file_store *fs = fs_of(s);
    struct list_ctx c = { fs, cb, payload, { 0 }, 0, 0 };
    int rc = fs->vfs->list(fs->vfs, fs->nodes, list_dir, &c);
    if (c.stop)
        return c.stop;
    if (c.rc)
        return c.rc;
    return rc < 0 ? io_error(&s->err, rc, "list", "nodes") : 0;
}

/* ---- head slots ------------------------------------------------------------------- */

/* Reads a small file whole into buf (cap bytes); -EFBIG when it is larger. */
static int read_small(cairn_vfs *v, int dir, const char *name, uint8_t *buf, size_t cap, size_t *len_out)
{
    void *data;
    size_t len;
    int rc = read_file(v, dir, name, cap, &data, &len);
    if (rc < 0)
        return rc;
    memcpy(buf, data, len);
    cairn_free(data);
    *len_out = len;
    return 0;
}

static void slot_file_name(char *out, size_t cap, const char *name, uint64_t seq)
{
    snprintf(out, cap, "%s.%016llx", name, (unsigned long long)seq);
}

/* The seq of heads/ entry e if it is a slot of head name, else 0 (seqs start at 1). */
static uint64_t slot_seq_of(const char *e, const char *name)
{
    size_t n = strlen(name);
    if (strncmp(e, name, n) != 0 || e[n] != '.' || strlen(e + n + 1) != SEQ_HEX || !is_hex(e + n + 1, SEQ_HEX))
        return 0;
    return strtoull(e + n + 1, NULL, 16);
}

static void slot_sum(uint8_t out[SLOT_SUM], const char *name, const uint8_t *bytes, size_t len)
{
    uint8_t buf[CAIRN_HEAD_NAME_MAX + 1 + SLOT_HDR + CAIRN_HEAD_MAX];
    size_t nl = strlen(name);
    cairn_addr a;
    memcpy(buf, name, nl);
    buf[nl] = 0;
    memcpy(buf + nl + 1, bytes, len);
    cairn_addr_of(&a, buf, nl + 1 + len);
    memcpy(out, a.bytes, SLOT_SUM);
}

/* Fills sl->buf with a complete slot; returns its length. */
static size_t slot_encode(struct slot *sl, const char *name, const void *value)
{
    uint8_t *p = sl->buf;
    memcpy(p, "CHD\x01", 4);
    p[4] = (uint8_t)sl->kind;
    p[5] = p[6] = p[7] = 0;
    cairn_put_be64(p + 8, sl->seq);
    cairn_put_be64(p + 16, sl->nonce);
    cairn_put_be64(p + 24, sl->prev);
    cairn_put_be32(p + 32, (uint32_t)sl->len);
    if (sl->len)
        memcpy(p + SLOT_HDR, value, sl->len);
    slot_sum(p + SLOT_HDR + sl->len, name, p, SLOT_HDR + sl->len);
    return SLOT_HDR + sl->len + SLOT_SUM;
}

/* Checks the bytes in sl->buf are a whole, intact slot seq of head name. */
static int slot_decode(struct slot *sl, const char *name, uint64_t seq, size_t n)
{
    const uint8_t *p = sl->buf;
    uint8_t sum[SLOT_SUM];
    size_t len;
    if (n < SLOT_HDR + SLOT_SUM || memcmp(p, "CHD\x01", 4) != 0 || (p[4] != SLOT_VALUE && p[4] != SLOT_TOMBSTONE))
        return 0;
    len = cairn_get_be32(p + 32);
    if (len > CAIRN_HEAD_MAX || n != SLOT_HDR + len + SLOT_SUM || cairn_get_be64(p + 8) != seq ||
        (p[4] == SLOT_TOMBSTONE && len != 0))
        return 0;
    slot_sum(sum, name, p, SLOT_HDR + len);
    if (memcmp(sum, p + SLOT_HDR + len, SLOT_SUM) != 0)
        return 0;
    sl->seq = seq;
    sl->kind = p[4];
    sl->nonce = cairn_get_be64(p + 16);
    sl->prev = cairn_get_be64(p + 24);
    sl->len = len;
    return 1;
}

/* Reads slot seq: 0, CAIRN_ENOTFOUND (gone), CAIRN_ECORRUPT (torn or
 * damaged; no message, callers fall back quietly), or an I/O error or
 * CAIRN_ENOMEM with its message. */
static int slot_read(struct file_store *fs, const char *name, uint64_t seq, struct slot *sl)
{
    char fn[CAIRN_HEAD_NAME_MAX + SEQ_HEX + 2];
    size_t n;
    int rc;
    slot_file_name(fn, sizeof fn, name, seq);
    rc = read_small(fs->vfs, fs->heads, fn, sl->buf, sizeof sl->buf, &n);
    if (rc == -ENOENT)
        return CAIRN_ENOTFOUND;
    if (rc == -EFBIG || rc == -EINVAL || rc == -ELOOP)
        return CAIRN_ECORRUPT;
    if (rc < 0)
        return io_error(&fs->base.err, rc, "head slot", fn);
    return slot_decode(sl, name, seq, n) ? 0 : CAIRN_ECORRUPT;
}

struct seq_list {
    const char *name;           /* head whose slots are collected */
    uint64_t *seqs;             /* cairn_malloc'd, sorted descending at the end */
    size_t count;               /* used */
    size_t cap;                 /* allocated */
    int oom;                    /* an allocation failed */
};

static int collect_seq(const char *e, void *p)
{
    struct seq_list *l = p;
    uint64_t seq = slot_seq_of(e, l->name);
    if (!seq)
        return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 16;
        uint64_t *n = cairn_realloc(l->seqs, cairn_mul_size(cap, sizeof *n));
        if (!n) {
            l->oom = 1;
            return 1;
        }
        l->seqs = n;
        l->cap = cap;
    }
    l->seqs[l->count++] = seq;
    return 0;
}

static int seq_desc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? 1 : x > y ? -1 : 0;
}

/* The seqs of head name's slots, highest first; free l->seqs. */
static int list_slots(struct file_store *fs, const char *name, struct seq_list *l)
{
    int rc;
    memset(l, 0, sizeof *l);
    l->name = name;
    rc = fs->vfs->list(fs->vfs, fs->heads, collect_seq, l);
    if (l->oom)
        rc = -ENOMEM;
    if (rc < 0) {
        cairn_free(l->seqs);
        l->seqs = NULL;
        return io_error(&fs->base.err, rc, "list", "heads");
    }
    if (l->count)
        qsort(l->seqs, l->count, sizeof *l->seqs, seq_desc);
    return 0;
}

static int has_seq(const struct seq_list *l, uint64_t seq)
{
    for (size_t i = 0; i < l->count; i++)
        if (l->seqs[i] == seq)
            return 1;
    return 0;
}

struct head_state {
    uint64_t max_seq;           /* highest slot present, valid or not; 0: none */
    int have;                   /* cur is the highest valid slot */
    int corrupt;                /* slots exist but none is valid */
    struct slot cur;            /* the current slot when have */
};

/* Finds the current slot of head name: the highest one that is intact. */
static int head_state(struct file_store *fs, const char *name, struct head_state *st)
{
    for (int attempt = 0; attempt < 8; attempt++) {
        struct seq_list l;
        size_t gone = 0, bad = 0;
        int rc = list_slots(fs, name, &l);
        if (rc < 0)
            return rc;
        memset(st, 0, offsetof(struct head_state, cur));
        st->max_seq = l.count ? l.seqs[0] : 0;
        for (size_t i = 0; i < l.count && !st->have; i++) {
            rc = slot_read(fs, name, l.seqs[i], &st->cur);
            if (rc == 0)
                st->have = 1;
            else if (rc == CAIRN_ENOTFOUND)
                gone++;
            else if (rc == CAIRN_ECORRUPT)
                bad++;
            else
                break;
        }
        cairn_free(l.seqs);
        if (rc < 0 && rc != CAIRN_ENOTFOUND && rc != CAIRN_ECORRUPT)
            return rc;
        if (st->have || gone == 0) {
            st->corrupt = !st->have && bad > 0;
            return 0;
        }
        /* slots were pruned between listing and reading: list again */
    }
    return cairn_error_set(&fs->base.err, CAIRN_EIO, ":store/io", "head %s: slots keep vanishing", name);
}

static int corrupt_head(cairn_store *s, const char *name)
{
    cairn_error_set(&s->err, CAIRN_ECORRUPT, ":store/corrupt", "head %s: no intact slot", name);
    return CAIRN_CORRUPT_BKPT;
}

static int file_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    struct file_store *fs = fs_of(s);
    struct head_state st;
    void *p;
    int rc;
    if ((rc = cairn_store_check_head(s, name, 0)) < 0 || (rc = head_state(fs, name, &st)) < 0)
        return rc;
    if (st.corrupt)
        return corrupt_head(s, name);
    if (!st.have || st.cur.kind == SLOT_TOMBSTONE)
        return CAIRN_ENOTFOUND;
    if (!(p = cairn_store_data_alloc(st.cur.len ? st.cur.len : 1)))
        return cairn_error_oom(&s->err);
    memcpy(p, st.cur.buf + SLOT_HDR, st.cur.len);
    *data_out = p;
    *len_out = st.cur.len;
    return 0;
}

enum outcome { WON, STALE, AMBIGUOUS };

/*
 * After linking slot seq (nonce) of head name: did that move the head?
 * See the file comment for why each answer is sound. *l is the listing the
 * answer came from (free l->seqs), which prune_slots reuses.
 */
static int cas_outcome(struct file_store *fs, const char *name, uint64_t seq, uint64_t nonce, enum outcome *out,
                       struct seq_list *l)
{
    struct slot next;
    int rc = list_slots(fs, name, l);
    if (rc < 0)
        return rc;
    if (l->count && l->seqs[0] == seq)
        *out = WON;
    else if (!has_seq(l, seq))
        *out = AMBIGUOUS; /* ours was pruned: K commits went by since our link */
    else if (!has_seq(l, seq + 1))
        *out = STALE;     /* the slot above was pruned before our link */
    else if (slot_read(fs, name, seq + 1, &next) == 0)
        *out = next.prev == nonce ? WON : STALE;
    else
        *out = AMBIGUOUS;
    return 0;
}

/* Removes the slots of head name more than keep_slots below the highest of
 * listing l (taken after this writer's link), lowest first (cas_outcome
 * relies on that order). Best effort. */
static void prune_slots(struct file_store *fs, const char *name, const struct seq_list *l)
{
    char fn[CAIRN_HEAD_NAME_MAX + SEQ_HEX + 2];
    for (size_t i = l->count; i-- > 0;) {
        if (l->seqs[i] + fs->keep_slots > l->seqs[0])
            break;
        int rc;
        slot_file_name(fn, sizeof fn, name, l->seqs[i]);
        if ((rc = fs->vfs->unlink(fs->vfs, fs->heads, fn)) < 0 && rc != -ENOENT)
            break; /* going on would delete a slot above one left in place */
    }
}

/* A slot written to a temp file, fsynced, not yet linked (stage_slot). */
struct staged {
    struct file_store *fs;      /* the store */
    const char *name;           /* the head */
    struct slot *sl;            /* the slot, encoded */
    size_t n;                   /* its bytes */
    char tmp[48];               /* the temp file */
    int rc;                     /* write_temp's result */
    int fsync_failed;           /* ... and whether its fsync failed */
};

/* Writes sl (seq, kind, value) for head name to a temp file: 0 or -errno in
 * st->rc. Touches no shared state, so it may run beside put_many. */
static void stage_slot(struct staged *st)
{
    st->rc = write_temp(st->fs, st->tmp, st->sl->buf, st->n, &st->fsync_failed);
}

static void *stage_slot_main(void *p)
{
    stage_slot(p);
    return NULL;
}

static void stage_init(struct staged *st, struct file_store *fs, const char *name, struct slot *sl, const void *value)
{
    memset(st, 0, sizeof *st);
    st->fs = fs;
    st->name = name;
    st->sl = sl;
    st->n = slot_encode(sl, name, value);
    temp_name(fs, st->tmp, sizeof st->tmp);
}

/* Links a staged slot as heads/<name>.<seq>; CAIRN_ECONFLICT if taken. */
static int publish_slot(struct staged *st)
{
    struct file_store *fs = st->fs;
    const char *name = st->name;
    char fn[CAIRN_HEAD_NAME_MAX + SEQ_HEX + 2];
    int rc;
    if (st->rc < 0)
        return st->fsync_failed ? fail_stop(fs, st->rc, "head") : io_error(&fs->base.err, st->rc, "head", "temp file");
    slot_file_name(fn, sizeof fn, name, st->sl->seq);
    rc = fs->vfs->link(fs->vfs, fs->tmp, st->tmp, fs->heads, fn);
    fs->vfs->unlink(fs->vfs, fs->tmp, st->tmp);
    if (rc == -EEXIST)
        return cairn_error_set(&fs->base.err, CAIRN_ECONFLICT, ":store/conflict", "head %s moved", name);
    if (rc < 0)
        return io_error(&fs->base.err, rc, "link head", fn);
    if ((rc = fsync_dir(fs, fs->heads)) < 0)
        return fail_stop(fs, rc, "heads");
    return 0;
}

/* Takes back our stale slot (nobody took it for current: a higher one exists). */
static void unlink_own_slot(struct file_store *fs, const char *name, uint64_t seq, uint64_t nonce)
{
    struct slot mine;
    char fn[CAIRN_HEAD_NAME_MAX + SEQ_HEX + 2];
    if (slot_read(fs, name, seq, &mine) == 0 && mine.nonce == nonce) {
        slot_file_name(fn, sizeof fn, name, seq);
        fs->vfs->unlink(fs->vfs, fs->heads, fn);
    }
}

/*
 * head_cas, and with nodes (n > 0) the commit method: the nodes are written
 * while the new slot is written to its temp file and fsynced on a second
 * thread, and the slot is linked only once put_many has returned, so the head
 * never names a node that is not durable. A small commit then waits for
 * three rounds of fsyncs (the record and slot files together, the record's
 * directory, heads/) instead of four: on the file store, tx-entity at 16
 * threads went from 2.9-3.0k to 3.2-3.8k tx/s (interleaved runs).
 */
static int cas_with_nodes(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                          const void *data, size_t len, size_t n, const cairn_addr *addrs, const void *const *nodes,
                          const size_t *lens)
{
    struct file_store *fs = fs_of(s);
    struct head_state st;
    struct staged stg;
    struct slot *sl;
    enum outcome oc;
    int rc, present;
    if ((rc = check_writable(fs)) < 0 || (rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
        return rc;
    if ((rc = head_state(fs, name, &st)) < 0)
        return rc;
    if (st.corrupt)
        return corrupt_head(s, name);
    present = st.have && st.cur.kind == SLOT_VALUE;
    if (expected ? !present || st.cur.len != expected_len || memcmp(st.cur.buf + SLOT_HDR, expected, expected_len)
                 : present)
        return cairn_store_head_conflict(s, name);
    if (!data && !present)
        return n ? file_put_many(s, n, addrs, nodes, lens) : 0; /* deleting an absent head */
    if (!(sl = cairn_malloc(sizeof *sl)))
        return cairn_error_oom(&s->err);
    sl->seq = st.max_seq + 1;
    sl->kind = data ? SLOT_VALUE : SLOT_TOMBSTONE;
    sl->nonce = cairn_vfs_random64() | 1;
    sl->prev = st.have ? st.cur.nonce : 0;
    sl->len = data ? len : 0;
    stage_init(&stg, fs, name, sl, data);
    if (n) {
        pthread_t th;
        /* threads 1: no I/O off the calling thread (the crash tests' file system) */
        int threaded = fs->threads > 1 && pthread_create(&th, NULL, stage_slot_main, &stg) == 0;
        rc = file_put_many(s, n, addrs, nodes, lens);
        if (threaded)
            pthread_join(th, NULL);
        else if (rc == 0)
            stage_slot(&stg);
        if (rc < 0) {
            if (threaded && stg.rc == 0)
                fs->vfs->unlink(fs->vfs, fs->tmp, stg.tmp);
            if (threaded && stg.fsync_failed)
                atomic_store(&fs->failed, 1); /* fail-stop, keeping put_many's error */
            cairn_free(sl);
            return rc;
        }
    } else {
        stage_slot(&stg);
    }
    if (fs->race_hook)
        fs->race_hook(fs->race_payload, name);
    if ((rc = publish_slot(&stg)) == 0) {
        struct seq_list l;
        if (cas_outcome(fs, name, sl->seq, sl->nonce, &oc, &l) < 0) {
            char why[sizeof s->err.message];
            memcpy(why, s->err.message, sizeof why);
            rc = cairn_error_set(&s->err, CAIRN_EIO, ":store/ambiguous",
                                 "head %s: slot linked but not confirmed (%s); outcome unknown", name, why);
        } else if (oc == WON)
            prune_slots(fs, name, &l);
        else if (oc == STALE) {
            unlink_own_slot(fs, name, sl->seq, sl->nonce);
            rc = cairn_error_set(&s->err, CAIRN_ECONFLICT, ":store/conflict", "head %s moved (stale writer)", name);
        } else {
            rc = cairn_error_set(&s->err, CAIRN_EIO, ":store/ambiguous",
                                 "head %s moved %u times during the compare-and-set; outcome unknown", name,
                                 fs->keep_slots);
        }
        cairn_free(l.seqs);
    }
    cairn_free(sl);
    return rc;
}

static int file_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                         const void *data, size_t len)
{
    return cas_with_nodes(s, name, expected, expected_len, data, len, 0, NULL, NULL, NULL);
}

static int file_commit(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *nodes,
                       const size_t *lens, const char *name, const void *expected, size_t expected_len,
                       const void *value, size_t len)
{
    return cas_with_nodes(s, name, expected, expected_len, value, len, n, addrs, nodes, lens);
}

struct name_list {
    char (*names)[CAIRN_HEAD_NAME_MAX + 1];  /* distinct head names seen */
    size_t count;                            /* used */
    size_t cap;                              /* allocated */
    int oom;                                 /* an allocation failed */
};

static int collect_name(const char *e, void *p)
{
    struct name_list *l = p;
    const char *dot = strrchr(e, '.');
    size_t n = dot ? (size_t)(dot - e) : 0;
    char name[CAIRN_HEAD_NAME_MAX + 1];
    if (!dot || n == 0 || n > CAIRN_HEAD_NAME_MAX)
        return 0;
    memcpy(name, e, n);
    name[n] = 0;
    if (!cairn_store_head_name_ok(name) || !slot_seq_of(e, name))
        return 0;
    for (size_t i = 0; i < l->count; i++)
        if (!strcmp(l->names[i], name))
            return 0;
    if (l->count == l->cap) {
        size_t cap = l->cap ? 2 * l->cap : 8;
        void *nn = cairn_realloc(l->names, cairn_mul_size(cap, sizeof *l->names));
        if (!nn) {
            l->oom = 1;
            return 1;
        }
        l->names = nn;
        l->cap = cap;
    }
    memcpy(l->names[l->count++], name, n + 1);
    return 0;
}

static int file_head_list(cairn_store *s, cairn_store_name_cb cb, void *payload)
{
    struct file_store *fs = fs_of(s);
    struct name_list l = { NULL, 0, 0, 0 };
    struct head_state *st = cairn_malloc(sizeof *st);
    int rc = st ? fs->vfs->list(fs->vfs, fs->heads, collect_name, &l) : -ENOMEM;
    if (l.oom)
        rc = -ENOMEM;
    if (rc < 0)
        rc = io_error(&s->err, rc, "list", "heads");
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        if ((rc = head_state(fs, l.names[i], st)) < 0)
            break;
        if (st->have && st->cur.kind == SLOT_VALUE)
            rc = cb(l.names[i], payload);
    }
    cairn_free(st);
    cairn_free(l.names);
    return rc;
}

/* ---- the writer lock and temp files ----------------------------------------------- */

struct sweep {
    struct file_store *fs;      /* the store */
    char (*names)[48];          /* temp files to remove */
    size_t count;               /* used */
    size_t cap;                 /* allocated */
};

static int sweep_collect(const char *e, void *p)
{
    struct sweep *sw = p;
    struct file_store *fs = sw->fs;
    char own[20];
    int64_t age;
    if (strlen(e) != 37 || strcmp(e + 33, ".tmp") != 0 || e[16] != '-' || !is_hex(e, 16) || !is_hex(e + 17, 16))
        return 0; /* not a temp file of ours: leave it */
    snprintf(own, sizeof own, "%016llx", (unsigned long long)fs->writer_id);
    if (!strncmp(e, own, 16) || fs->vfs->stat(fs->vfs, fs->tmp, e, &age) < 0 || age < fs->sweep_age)
        return 0;
    if (sw->count == sw->cap) {
        size_t cap = sw->cap ? 2 * sw->cap : 16;
        void *n = cairn_realloc(sw->names, cairn_mul_size(cap, sizeof *sw->names));
        if (!n)
            return 1;
        sw->names = n;
        sw->cap = cap;
    }
    memcpy(sw->names[sw->count++], e, 38);
    return 0;
}

/* Removes other handles' temp files old enough to be leftovers of a crash. */
static void sweep_temps(struct file_store *fs)
{
    struct sweep sw = { fs, NULL, 0, 0 };
    fs->vfs->list(fs->vfs, fs->tmp, sweep_collect, &sw);
    for (size_t i = 0; i < sw.count; i++)
        fs->vfs->unlink(fs->vfs, fs->tmp, sw.names[i]);
    cairn_free(sw.names);
}

static int open_lock_file(struct file_store *fs, int *fd_out)
{
    cairn_vfs *v = fs->vfs;
    int rc = v->open(v, fs->root, "lock", CAIRN_VFS_READ, fd_out);
    if (rc == -ENOENT) {
        rc = v->open(v, fs->root, "lock", CAIRN_VFS_CREATE, fd_out);
        if (rc == -EEXIST)
            rc = v->open(v, fs->root, "lock", CAIRN_VFS_READ, fd_out);
    }
    return rc;
}

static int file_lock(cairn_store *s)
{
    struct file_store *fs = fs_of(s);
    int fd = -1, rc = 0;
    pthread_mutex_lock(&fs->lock_mu);
    if (fs->lock_fd < 0) {
        if ((rc = open_lock_file(fs, &fd)) < 0) {
            rc = io_error(&s->err, rc, "open", "lock");
        } else if ((rc = fs->vfs->lock(fs->vfs, fd)) < 0) {
            fs->vfs->close(fs->vfs, fd);
            rc = rc == -EWOULDBLOCK ? cairn_error_set(&s->err, CAIRN_EBUSY, ":store/locked", "another writer holds the store")
                                    : io_error(&s->err, rc, "lock", "lock");
        } else {
            fs->lock_fd = fd;
            sweep_temps(fs);
        }
    }
    pthread_mutex_unlock(&fs->lock_mu);
    return rc;
}

static void file_unlock(cairn_store *s)
{
    struct file_store *fs = fs_of(s);
    pthread_mutex_lock(&fs->lock_mu);
    if (fs->lock_fd >= 0) {
        fs->vfs->close(fs->vfs, fs->lock_fd);
        fs->lock_fd = -1;
    }
    pthread_mutex_unlock(&fs->lock_mu);
}

/* ---- opening and closing ---------------------------------------------------------- */

static void file_close(cairn_store *s)
{
    struct file_store *fs = fs_of(s);
    int *dirs[] = { &fs->tmp, &fs->heads, &fs->nodes, &fs->root };
    file_unlock(s);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(dirs); i++)
        if (*dirs[i] >= 0)
            fs->vfs->close(fs->vfs, *dirs[i]);
    pthread_mutex_destroy(&fs->lock_mu);
    cairn_free(fs);
}

static const cairn_store_methods file_methods = {
    CAIRN_STORE_METHODS_VERSION, "file", file_get, file_put_many, file_del, file_list, file_head_read,
    file_head_cas, file_head_list, file_lock, file_unlock, file_close, file_commit,
};

static int check_version(const uint8_t *buf, size_t n, const char *path, cairn_error *err)
{
    size_t pl = strlen(VERSION_PREFIX);
    if (n == strlen(VERSION_TEXT) && !memcmp(buf, VERSION_TEXT, n))
        return 0;
    if (n > pl && n < 40 && !memcmp(buf, VERSION_PREFIX, pl))
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/version",
                               "%s: store format '%.*s' is not supported (this build reads %d)", path,
                               (int)(n - pl - 1), (const char *)buf + pl, CAIRN_FILE_FORMAT);
    cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s: version file is not a cairn file store's", path);
    return CAIRN_CORRUPT_BKPT;
}

static int foreign_entry(const char *e, void *p)
{
    (void)p;
    if (e[0] == '.' || !strcmp(e, "nodes") || !strcmp(e, "heads") || !strcmp(e, "tmp") || !strcmp(e, "lock"))
        return 0;
    return 1;
}

/* Makes the layout of a new store: directories first, the version file last
 * (its presence says the store is complete). Two processes may race here. */
static int init_layout(struct file_store *fs, const char *path, cairn_error *err)
{
    static const char *const dirs[] = { "nodes", "heads", "tmp" };
    cairn_vfs *v = fs->vfs;
    char tmp[48];
    int rc, fsync_failed;
    if ((rc = v->list(v, fs->root, foreign_entry, NULL)) != 0)
        return rc < 0 ? io_error(err, rc, "list", path)
                      : cairn_error_set(err, CAIRN_EINVALID, ":store/config",
                                        "%s is not empty and holds no cairn store", path);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(dirs); i++) {
        int d;
        if ((rc = v->dir_open(v, fs->root, dirs[i], 1, &d)) < 0)
            return io_error(err, rc, "create", dirs[i]);
        v->close(v, d);
    }
    if ((rc = v->fsync_dir(v, fs->root)) < 0)
        return io_error(err, rc, "fsync", path);
    if ((rc = v->dir_open(v, fs->root, "tmp", 0, &fs->tmp)) < 0)
        return io_error(err, rc, "open", "tmp");
    temp_name(fs, tmp, sizeof tmp);
    if ((rc = write_temp(fs, tmp, VERSION_TEXT, strlen(VERSION_TEXT), &fsync_failed)) < 0)
        return io_error(err, rc, "create", "version");
    rc = v->link(v, fs->tmp, tmp, fs->root, "version");
    v->unlink(v, fs->tmp, tmp);
    if (rc < 0 && rc != -EEXIST) /* EEXIST: another process made the store first */
        return io_error(err, rc, "create", "version");
    if ((rc = v->fsync_dir(v, fs->root)) < 0)
        return io_error(err, rc, "fsync", path);
    return 0;
}

static int open_layout(struct file_store *fs, const char *path, cairn_error *err)
{
    cairn_vfs *v = fs->vfs;
    uint8_t buf[64];
    size_t n;
    int rc = read_small(v, fs->root, "version", buf, sizeof buf, &n);
    if (rc == -ENOENT) {
        if ((rc = init_layout(fs, path, err)) < 0)
            return rc;
        rc = read_small(v, fs->root, "version", buf, sizeof buf, &n);
    }
    if (rc == -EFBIG) {
        cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "%s: version file is not a cairn file store's", path);
        return CAIRN_CORRUPT_BKPT;
    }
    if (rc < 0)
        return io_error(err, rc, "read", "version");
    if ((rc = check_version(buf, n, path, err)) < 0)
        return rc;
    if (fs->tmp < 0 && (rc = v->dir_open(v, fs->root, "tmp", 1, &fs->tmp)) < 0)
        return io_error(err, rc, "open", "tmp");
    if ((rc = v->dir_open(v, fs->root, "nodes", 1, &fs->nodes)) < 0)
        return io_error(err, rc, "open", "nodes");
    if ((rc = v->dir_open(v, fs->root, "heads", 1, &fs->heads)) < 0)
        return io_error(err, rc, "open", "heads");
    return 0;
}

int cairn_store_file_open_with(cairn_store **out, const char *path, const cairn_file_options *opt,
                               cairn_error *err)
{
    cairn_file_options def = CAIRN_FILE_OPTIONS_INIT;
    struct file_store *fs;
    int rc;
    if (!opt)
        opt = &def;
    if (!(fs = cairn_malloc(sizeof *fs)))
        return cairn_error_oom(err);
    memset(fs, 0, sizeof *fs);
    fs->base.methods = &file_methods;
    fs->vfs = opt->vfs ? opt->vfs : &cairn_vfs_posix;
    fs->root = fs->nodes = fs->heads = fs->tmp = fs->lock_fd = -1;
    fs->keep_slots = opt->keep_slots >= 2 ? opt->keep_slots : CAIRN_FILE_KEEP_SLOTS;
    fs->sweep_age = opt->sweep_age >= 0 ? opt->sweep_age : CAIRN_FILE_SWEEP_AGE;
    fs->threads = opt->threads ? opt->threads : CAIRN_FILE_THREADS;
    fs->mutants = opt->mutants;
    fs->race_hook = opt->race_hook;
    fs->race_payload = opt->race_payload;
    fs->writer_id = cairn_vfs_random64();
    pthread_mutex_init(&fs->lock_mu, NULL);
    if ((rc = fs->vfs->root_open(fs->vfs, path, 1, &fs->root)) < 0)
        rc = io_error(err, rc, "open store", path);
    else
        rc = open_layout(fs, path, err);
    if (rc < 0) {
        file_close(&fs->base);
        return rc;
    }
    *out = &fs->base;
    return 0;
}

int cairn_store_file_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    const char *path = cairn_store_config_string(config, "path", err);
    if (!path)
        return CAIRN_EINVALID;
    return cairn_store_file_open_with(out, path, NULL, err);
}
