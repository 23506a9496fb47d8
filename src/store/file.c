/*
 * The file backend, cairn's default store: {:backend :file :path "/data/db"}.
 * A store is a directory that rsync, syncthing or NFS can carry, in which no
 * file is ever modified in place (docs/format.md, "Storage layer", has the
 * byte layouts):
 *
 *   version                 "cairn file store 3\n" ("1": a store from before
 *                           the log, "2" before packs, read too); unknown
 *                           versions are refused
 *   lock                    empty; flock()ed by the single writer
 *   log/<id>                commit log segments, id as 16 hex digits (see
 *                           "the commit log"); log/<id>.claimed markers
 *   nodes/ab/cdef...        one immutable file per node: the directory is the
 *                           first byte of the address in hex, the name the
 *                           other 15 bytes (30 hex digits)
 *   packs/<wid>-<n>.pack    many nodes in one file (see "packs")
 *   heads/<name>.<seq>      head slots, seq as 16 hex digits (below)
 *   tmp/<wid>-<n>.tmp       files being written; wid names the writing handle
 *
 * Nodes. put_many writes a batch of 16 nodes or more as one pack (see "packs").
 * Fewer, it writes each new node to a temp file and fsyncs it,
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
#include <time.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hmap.h"
#include "base/par.h"
#include "edn/value.h"

#define VERSION_TEXT "cairn file store 3\n"
#define VERSION_TEXT_1 "cairn file store 1\n"  /* no log/; read, and upgraded by the first segment or pack */
#define VERSION_TEXT_2 "cairn file store 2\n"  /* no packs/; read, and upgraded the same way */
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

#define LOG_SEG_MAGIC "CLOGSEG\x01"
#define LOG_ENTRY_MAGIC "CLE\x01"
#define LOG_START 4096u           /* first entry; the header fits before it */
#define LOG_SEG_HDR 32            /* magic, id, checksum */
#define LOG_ENTRY_HDR 40
#define LOG_CHUNK ((uint64_t)1 << 20)
#define LOG_SEGS_MAX 64           /* segments a view holds; more is refused as corrupt */
#define LOG_DIRECT ((uint64_t)1 << 20)  /* nodes of a larger commit go to files, not the log */

/* A node in the log: where its bytes are. In the view's table (ltab), and
 * in its segment's list. */
struct lnode {
    cairn_addr addr;
    uint64_t seg;               /* segment id */
    uint64_t off;               /* of its bytes in the segment */
    uint32_t len;
    struct lnode *next;         /* the segment's next node */
};

/* A head's last entry in one segment. */
struct lhead {
    char name[CAIRN_HEAD_NAME_MAX + 1];
    int kind;                   /* SLOT_VALUE or SLOT_TOMBSTONE */
    size_t len;
    uint8_t *value;             /* cairn_malloc'd */
};

struct lseg {
    uint64_t id;
    int fd;                     /* read handle */
    int hdr_ok;                 /* header read and checked */
    uint64_t scanned;           /* entries read up to here */
    uint64_t next_no;           /* number of the next entry */
    struct lhead *heads;        /* last value per head in this segment */
    size_t nheads;
    struct lnode *nodes;        /* its nodes in the view's table (a node already there from an
                                 * older segment is not added again) */
};

#define PACK_FDS_MAX 64

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

    /* the commit log (see "the commit log" below) */
    int logdir;                 /* log/, or -1: this handle neither reads nor writes a log */
    uint64_t log_bytes;         /* segment size before a roll; 0: commits go to files */
    uint64_t log_chunk;         /* zero-filled ahead of the writer at most at a time */
    _Atomic int version_ok;     /* the version file says 3 */
    pthread_mutex_t log_mu;     /* guards the view, the sealed queue and the checkpoint state */
    pthread_mutex_t commit_mu;  /* serializes this handle's log writes */
    pthread_cond_t ckpt_cv;     /* sealed queue changed */
    struct lseg segs[LOG_SEGS_MAX + 2];  /* the view: present segments, ascending id */
    size_t nsegs;
    cairn_hmap ltab;            /* struct lnode by address: the view's segments' nodes */
    _Atomic int log_on;         /* this handle holds the lock and writes the log */
    int wfd;                    /* the segment being written, or -1 */
    uint64_t wid, wend, walloc, wno;  /* its id, end, zero-filled end, next entry number */
    uint64_t sealed[LOG_SEGS_MAX + 2];  /* segments awaiting their checkpoint, ascending */
    size_t nsealed;
    pthread_t ckpt_th;          /* the checkpoint thread (threads > 1) */
    int ckpt_running, ckpt_stop, ckpt_rc;
    char ckpt_msg[256];         /* the failed checkpoint's message */

    /* packs (see "packs" below) */
    int packdir;                /* packs/, or -1 */
    unsigned pack_min;          /* put_many writes a pack from this many new nodes; 0: never */
    pthread_mutex_t pack_mu;    /* guards the pack view */
    struct pack *pk;            /* the packs this handle knows */
    size_t npk, cappk;
    int pk_fds[PACK_FDS_MAX];   /* every fd a pack of the view kept open, also of packs since deleted */
    size_t npk_fds;
    int pk_listed;              /* packs/ was listed once (pack_del lists it no more) */
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

/* Reads node addr from its file (not the log). */
static int files_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
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

static int put_nodes(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                     const size_t *lens, unsigned threads);
static int pack_write(struct file_store *fs, const struct node_job *jobs, size_t njobs, const cairn_addr *addrs,
                      const void *const *data, const size_t *lens);
static int log_upgrade_version(struct file_store *fs);
static void pack_view_clear(struct file_store *fs);

static int file_put_many(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                         const size_t *lens)
{
    return put_nodes(s, n, addrs, data, lens, fs_of(s)->threads);
}

/* put_many on up to `threads` threads. */
static int put_nodes(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                     const size_t *lens, unsigned threads)
{
    struct file_store *fs = fs_of(s);
    cairn_vfs *v = fs->vfs;
    int dirs[256], rc, sync_nodes = 0;
    uint8_t touched[256] = { 0 }, fresh[256] = { 0 };
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

    if (fs->pack_min && n >= fs->pack_min) {
        /* a pack's worth: written whole, without looking for each node's
         * file first. A node file holding one of them is left as it is (two
         * copies of the same bytes; a delete removes both); and the look,
         * a directory open per fan-out and a stat per node, was 115 ms of a
         * 2 s durable bulk load of the benchmark's 100k people. */
        for (size_t i = 0; i < n; i++) {
            memset(&p.jobs[i], 0, sizeof p.jobs[i]);
            p.jobs[i].index = i;
        }
        rc = pack_write(fs, p.jobs, n, addrs, data, lens);
        goto done;
    }
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
        if (rc != -ENOENT) {
            rc = io_error(&s->err, rc, "node", fn);
            goto done;
        }
        fresh[b] = 1;
        memset(&p.jobs[njobs], 0, sizeof p.jobs[njobs]);
        p.jobs[njobs].index = i;
        temp_name(fs, p.jobs[njobs].tmp, sizeof p.jobs[njobs].tmp);
        njobs++;
    }

    for (int b = 0; b < 256; b++)
        touched[b] |= fresh[b] && njobs;
    /* 1. temp files, written and fsynced, on several threads: concurrent
     * fsyncs let the file system commit them together (ext4's journal does) */
    if ((rc = cairn_parallel_for(threads, njobs, write_job, &p, &failed)) < 0) {
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
    if ((rc = cairn_parallel_for(threads, ndirs, fsync_dir_job, &p, &failed)) < 0) {
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

/* ---- packs ------------------------------------------------------------------------- */

/*
 * A put_many of at least pack_min nodes (a checkpoint of a log
 * segment, a commit that writes a tree) writes them as one file,
 * packs/<wid>-<n>.pack, instead of a file each: creating a file costs the
 * file system an inode, and on this VM's ext4 that was most of the CPU of a
 * checkpoint (0.5-3.3 s to turn a 4 MiB segment into ~1,000 node files) and
 * of a durable bulk load. The pack is written to tmp/, fsynced, renamed into
 * packs/, and packs/ fsynced, all before put_many returns, so it is durable
 * and complete whenever its name is visible. Layout (docs/format.md, "Packs"):
 *
 *   0        8    "CRNPACK1"
 *   8        ...  the nodes' frames, as a node file holds them, back to back
 *   index    28n  per node, by address: address (16), offset (8), length (4)
 *   end-32   32   index offset (8), n (8), the first 8 bytes of the index's
 *                 address (a checksum), "CRNPEND1"; integers big-endian
 *
 * A handle keeps the index of every pack it has read (its pack view); a
 * node found nowhere else makes it list packs/ again. Nodes are read from a
 * pack with open, pread, close. Deleting a node of a pack (delete-database,
 * garbage collection) marks it gone in this handle, and the pack file goes
 * when all of its nodes are gone; compaction (file_compact) rewrites packs
 * that are mostly gone.
 */
#define PACK_HDR 8
#define PACK_ENT 28
#define PACK_FOOT 32
#define PACK_MAGIC "CRNPACK1"
#define PACK_END "CRNPEND1"
#define PACK_NAME_LEN 38          /* 16 hex, "-", 16 hex, ".pack" */

struct pack {
    char name[PACK_NAME_LEN + 1];
    uint8_t *idx;               /* the index: n entries of PACK_ENT bytes */
    uint64_t n;                 /* entries */
    uint8_t *gone;              /* per entry: deleted through this handle (NULL: none) */
    uint64_t ngone;
    int fd;                     /* kept open for reads (the kernel's readahead lives in
                                   it), or -1; closed only with the store */
};

static void pack_view_clear(struct file_store *fs)
{
    for (size_t i = 0; i < fs->npk_fds; i++)
        fs->vfs->close(fs->vfs, fs->pk_fds[i]);
    fs->npk_fds = 0;
    for (size_t i = 0; i < fs->npk; i++) {
        cairn_free(fs->pk[i].idx);
        cairn_free(fs->pk[i].gone);
    }
    cairn_free(fs->pk);
    fs->pk = NULL;
    fs->npk = fs->cappk = 0;
}

static int is_pack_name(const char *e)
{
    return strlen(e) == PACK_NAME_LEN && is_hex(e, 16) && e[16] == '-' && is_hex(e + 17, 16) &&
           !strcmp(e + 33, ".pack");
}

/* The entry of addr in pack k, or -1 (pack_mu held). */
static int64_t pack_entry(const struct pack *k, const cairn_addr *addr)
{
    uint64_t lo = 0, hi = k->n;
    while (lo < hi) {
        uint64_t mid = lo + (hi - lo) / 2;
        int c = memcmp(k->idx + mid * PACK_ENT, addr->bytes, CAIRN_ADDR_LEN);
        if (c == 0)
            return k->gone && k->gone[mid] ? -1 : (int64_t)mid;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return -1;
}

/* Checks an index (n entries for a pack whose frames end at end). */
static int pack_index_ok(const uint8_t *idx, uint64_t n, uint64_t end)
{
    for (uint64_t i = 0; i < n; i++) {
        const uint8_t *e = idx + i * PACK_ENT;
        uint64_t off = cairn_get_be64(e + CAIRN_ADDR_LEN);
        uint32_t len = cairn_get_be32(e + CAIRN_ADDR_LEN + 8);
        if (i && memcmp(e - PACK_ENT, e, CAIRN_ADDR_LEN) >= 0)
            return 0;
        if (off < PACK_HDR || len == 0 || off > end || len > end - off)
            return 0;
    }
    return 1;
}

/* Adds a pack to the view (pack_mu held); idx is taken over. */
static int pack_view_add(struct file_store *fs, const char *name, uint8_t *idx, uint64_t n)
{
    if (fs->npk == fs->cappk) {
        size_t cap = fs->cappk ? fs->cappk * 2 : 16;
        struct pack *p = cairn_realloc(fs->pk, cairn_mul_size(cap, sizeof *p));
        if (!p) {
            cairn_free(idx);
            return cairn_error_oom(&fs->base.err);
        }
        fs->pk = p;
        fs->cappk = cap;
    }
    memset(&fs->pk[fs->npk], 0, sizeof fs->pk[fs->npk]);
    memcpy(fs->pk[fs->npk].name, name, PACK_NAME_LEN + 1);
    fs->pk[fs->npk].fd = -1;
    fs->pk[fs->npk].idx = idx;
    fs->pk[fs->npk].n = n;
    fs->npk++;
    return 0;
}

static int pack_corrupt(struct file_store *fs, const char *name, const char *why)
{
    cairn_error_set(&fs->base.err, CAIRN_ECORRUPT, ":store/corrupt", "pack %s: %s", name, why);
    return CAIRN_CORRUPT_BKPT;
}

/* Reads pack name's index into the view (pack_mu held). 0, 1 when the pack
 * is gone (deleted meanwhile), or an error. */
static int pack_load(struct file_store *fs, const char *name)
{
    cairn_vfs *v = fs->vfs;
    uint8_t foot[PACK_FOOT], *idx = NULL;
    uint64_t size, ioff, n;
    cairn_addr sum;
    int fd, rc;
    if ((rc = v->open(v, fs->packdir, name, CAIRN_VFS_READ, &fd)) < 0)
        return rc == -ENOENT ? 1 : io_error(&fs->base.err, rc, "pack", name);
    if ((rc = v->size(v, fd, &size)) < 0) {
        rc = io_error(&fs->base.err, rc, "pack", name);
        goto done;
    }
    if (size < PACK_HDR + PACK_FOOT || v->pread(v, fd, foot, PACK_FOOT, size - PACK_FOOT) != PACK_FOOT ||
        memcmp(foot + 24, PACK_END, 8)) {
        rc = pack_corrupt(fs, name, "no pack footer");
        goto done;
    }
    ioff = cairn_get_be64(foot);
    n = cairn_get_be64(foot + 8);
    if (ioff < PACK_HDR || ioff > size - PACK_FOOT || n != (size - PACK_FOOT - ioff) / PACK_ENT ||
        n * PACK_ENT != size - PACK_FOOT - ioff) {
        rc = pack_corrupt(fs, name, "index out of place");
        goto done;
    }
    if (!(idx = cairn_malloc(n ? (size_t)(n * PACK_ENT) : 1))) {
        rc = cairn_error_oom(&fs->base.err);
        goto done;
    }
    if (n && v->pread(v, fd, idx, (size_t)(n * PACK_ENT), ioff) != (ssize_t)(n * PACK_ENT)) {
        rc = io_error(&fs->base.err, -EIO, "pack", name);
        goto done;
    }
    cairn_addr_of(&sum, idx, (size_t)(n * PACK_ENT));
    if (memcmp(sum.bytes, foot + 16, 8) || !pack_index_ok(idx, n, ioff)) {
        rc = pack_corrupt(fs, name, "index checksum or order wrong");
        goto done;
    }
    rc = pack_view_add(fs, name, idx, n);
    idx = NULL;
done:
    v->close(v, fd);
    cairn_free(idx);
    return rc;
}

struct pack_names {
    char (*names)[PACK_NAME_LEN + 1];
    size_t count, cap;
    int oom;
};

static int collect_pack(const char *e, void *p)
{
    struct pack_names *l = p;
    if (!is_pack_name(e))
        return 0; /* temp files of rsync and friends */
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        void *n = cairn_realloc(l->names, cairn_mul_size(cap, sizeof *l->names));
        if (!n) {
            l->oom = 1;
            return 1;
        }
        l->names = n;
        l->cap = cap;
    }
    memcpy(l->names[l->count++], e, PACK_NAME_LEN + 1);
    return 0;
}

/* Lists packs/ and reads the packs the view lacks (pack_mu held). A
 * damaged pack stays out of the view and the others are read: 1 then (its
 * error is on the store), for a caller that did not find its node. */
static int pack_refresh(struct file_store *fs)
{
    struct pack_names l = { NULL, 0, 0, 0 };
    int rc, damaged = 0;
    if (fs->packdir < 0)
        return 0;
    rc = fs->vfs->list(fs->vfs, fs->packdir, collect_pack, &l);
    if (l.oom)
        rc = cairn_error_oom(&fs->base.err);
    else if (rc < 0)
        rc = io_error(&fs->base.err, rc, "list", "packs");
    for (size_t i = 0; i < l.count && rc >= 0; i++) {
        size_t k = 0;
        while (k < fs->npk && strcmp(fs->pk[k].name, l.names[i]))
            k++;
        if (k == fs->npk && (rc = pack_load(fs, l.names[i])) == CAIRN_ECORRUPT) {
            damaged = 1;
            rc = 0;
        }
    }
    cairn_free(l.names);
    if (rc >= 0)
        fs->pk_listed = 1;
    return rc < 0 ? rc : damaged;
}

/* Takes pack k out of the view (pack_mu held). Its fd, if kept, stays open
 * until the store closes: another thread may be reading through it. */
static void pack_view_drop(struct file_store *fs, size_t k)
{
    cairn_free(fs->pk[k].idx);
    cairn_free(fs->pk[k].gone);
    memmove(&fs->pk[k], &fs->pk[k + 1], (fs->npk - k - 1) * sizeof *fs->pk);
    fs->npk--;
}

/* Reads node addr from a pack of the view: 0, CAIRN_ENOTFOUND, or an error.
 * A pack that vanished since it was read (compaction, gc.c, rewrote it) leaves
 * the view, and the search goes on in the others. */
static int pack_get(struct file_store *fs, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    cairn_vfs *v = fs->vfs;
    char name[PACK_NAME_LEN + 1];
    uint64_t off = 0;
    uint32_t len = 0;
    uint8_t *buf;
    int fd, kept, rc, found;
    ssize_t got;
again:
    fd = -1, kept = 0, rc = 0, found = 0;
    pthread_mutex_lock(&fs->pack_mu);
    for (size_t k = fs->npk; k-- > 0 && !found;) {
        int64_t e = pack_entry(&fs->pk[k], addr);
        if (e >= 0) {
            struct pack *pk = &fs->pk[k];
            const uint8_t *p = pk->idx + (uint64_t)e * PACK_ENT;
            memcpy(name, pk->name, sizeof name);
            off = cairn_get_be64(p + CAIRN_ADDR_LEN);
            len = cairn_get_be32(p + CAIRN_ADDR_LEN + 8);
            found = 1;
            /* the first PACK_FDS_MAX packs read stay open: a scan then reads
             * on through the kernel's readahead (cold open + q1 at N=100k:
             * 24.3-24.5 -> 21.1-22.5 ms, alternating runs) */
            if (pk->fd < 0 && fs->npk_fds < PACK_FDS_MAX &&
                (rc = v->open(v, fs->packdir, name, CAIRN_VFS_READ, &pk->fd)) == 0)
                fs->pk_fds[fs->npk_fds++] = pk->fd;
            else if (rc < 0)
                pk->fd = -1;
            if ((fd = pk->fd) >= 0)
                kept = 1;
        }
    }
    pthread_mutex_unlock(&fs->pack_mu);
    if (!found)
        return CAIRN_ENOTFOUND;
    if (len > NODE_FILE_MAX)
        return pack_corrupt(fs, name, "node larger than any node");
    if (!kept && (rc = v->open(v, fs->packdir, name, CAIRN_VFS_READ, &fd)) < 0) {
        if (rc != -ENOENT)
            return io_error(&fs->base.err, rc, "pack", name);
        pthread_mutex_lock(&fs->pack_mu);
        for (size_t k = 0; k < fs->npk; k++)
            if (!strcmp(fs->pk[k].name, name) && fs->pk[k].fd < 0) {
                pack_view_drop(fs, k);
                break;
            }
        pthread_mutex_unlock(&fs->pack_mu);
        goto again;
    }
    if (!(buf = cairn_store_data_alloc(len))) {
        if (!kept)
            v->close(v, fd);
        return cairn_error_oom(&fs->base.err);
    }
    got = v->pread(v, fd, buf, len, off);
    if (!kept)
        v->close(v, fd);
    if (got != (ssize_t)len) {
        cairn_free(buf);
        return got < 0 ? io_error(&fs->base.err, (int)got, "pack", name) : pack_corrupt(fs, name, "short");
    }
    *data_out = buf;
    *len_out = len;
    return 0;
}

/* Node addr from the packs, reading packs/ again when the view lacks it. */
static int packs_get(struct file_store *fs, const cairn_addr *addr, void **data_out, size_t *len_out, int refresh)
{
    int rc = pack_get(fs, addr, data_out, len_out);
    if (rc != CAIRN_ENOTFOUND || !refresh)
        return rc;
    int damaged;
    pthread_mutex_lock(&fs->pack_mu);
    rc = pack_refresh(fs);
    pthread_mutex_unlock(&fs->pack_mu);
    if (rc < 0)
        return rc;
    damaged = rc;
    rc = pack_get(fs, addr, data_out, len_out);
    /* not found, but maybe in the damaged pack: its error is on the store */
    return rc == CAIRN_ENOTFOUND && damaged ? CAIRN_ECORRUPT : rc;
}

static int pack_ent_cmp(const void *a, const void *b)
{
    return memcmp(a, b, CAIRN_ADDR_LEN);
}

/* Writes jobs[0..njobs) of a put_many as one pack, durably. */
static int pack_write(struct file_store *fs, const struct node_job *jobs, size_t njobs, const cairn_addr *addrs,
                      const void *const *data, const size_t *lens)
{
    cairn_vfs *v = fs->vfs;
    uint64_t total = PACK_HDR, ioff;
    uint8_t *buf, *idx, *own;
    char tmp[48], name[PACK_NAME_LEN + 1];
    cairn_addr sum;
    size_t kept = 0;
    int rc, fsync_failed;
    if (fs->packdir < 0)
        return cairn_error_set(&fs->base.err, CAIRN_EIO, ":store/io", "packs/ cannot be opened");
    for (size_t i = 0; i < njobs; i++)
        total += lens[jobs[i].index] + PACK_ENT;
    total += PACK_FOOT;
    if (total > SIZE_MAX || !(buf = cairn_malloc((size_t)total)))
        return cairn_error_oom(&fs->base.err);
    memcpy(buf, PACK_MAGIC, PACK_HDR);
    ioff = PACK_HDR;
    for (size_t i = 0; i < njobs; i++) {
        memcpy(buf + ioff, data[jobs[i].index], lens[jobs[i].index]);
        ioff += lens[jobs[i].index];
    }
    idx = buf + ioff;
    for (size_t i = 0, off = PACK_HDR; i < njobs; i++) {
        uint8_t *e = idx + i * PACK_ENT;
        memcpy(e, addrs[jobs[i].index].bytes, CAIRN_ADDR_LEN);
        cairn_put_be64(e + CAIRN_ADDR_LEN, off);
        cairn_put_be32(e + CAIRN_ADDR_LEN + 8, (uint32_t)lens[jobs[i].index]);
        off += lens[jobs[i].index];
    }
    qsort(idx, njobs, PACK_ENT, pack_ent_cmp);
    /* a node the batch names twice is indexed once (readers refuse an index
     * whose addresses do not strictly increase); its second frame stays as
     * dead bytes */
    for (size_t i = 0; i < njobs; i++) {
        if (kept && !memcmp(idx + (kept - 1) * PACK_ENT, idx + i * PACK_ENT, CAIRN_ADDR_LEN))
            continue;
        if (kept != i)
            memcpy(idx + kept * PACK_ENT, idx + i * PACK_ENT, PACK_ENT);
        kept++;
    }
    njobs = kept;
    total = ioff + njobs * PACK_ENT + PACK_FOOT;
    cairn_addr_of(&sum, idx, njobs * PACK_ENT);
    cairn_put_be64(buf + total - PACK_FOOT, ioff);
    cairn_put_be64(buf + total - PACK_FOOT + 8, njobs);
    memcpy(buf + total - PACK_FOOT + 16, sum.bytes, 8);
    memcpy(buf + total - PACK_FOOT + 24, PACK_END, 8);
    /* an older build must refuse a store whose nodes it cannot see */
    if ((rc = log_upgrade_version(fs)) < 0)
        goto done;
    snprintf(name, sizeof name, "%016llx-%016llx.pack", (unsigned long long)fs->writer_id,
             (unsigned long long)atomic_fetch_add(&fs->tmp_count, 1));
    temp_name(fs, tmp, sizeof tmp);
    if ((rc = write_temp(fs, tmp, buf, (size_t)total, &fsync_failed)) < 0) {
        rc = fsync_failed ? fail_stop(fs, rc, "pack") : io_error(&fs->base.err, rc, "pack", "temp file");
        goto done;
    }
    if ((rc = v->rename(v, fs->tmp, tmp, fs->packdir, name)) < 0) {
        v->unlink(v, fs->tmp, tmp);
        rc = io_error(&fs->base.err, rc, "rename pack", name);
        goto done;
    }
    if ((rc = fsync_dir(fs, fs->packdir)) < 0) {
        rc = fail_stop(fs, rc, "packs directory");
        goto done;
    }
    /* this handle reads its own pack from now on */
    if (!(own = cairn_malloc(njobs * PACK_ENT))) {
        rc = cairn_error_oom(&fs->base.err); /* written; found again by a refresh */
        goto done;
    }
    memcpy(own, idx, njobs * PACK_ENT);
    pthread_mutex_lock(&fs->pack_mu);
    rc = pack_view_add(fs, name, own, njobs);
    pthread_mutex_unlock(&fs->pack_mu);
done:
    cairn_free(buf);
    return rc;
}

/* Marks addr deleted in the view's packs, and removes a pack whose nodes are
 * all gone. packs/ is listed once: deleting is the lock holder's, whose own
 * packs join the view as it writes them (a pack of a writer that ignores the
 * lock may be left behind: space, never a missing node). */
static int pack_del(struct file_store *fs, const cairn_addr *addr)
{
    int rc = 0;
    pthread_mutex_lock(&fs->pack_mu);
    if (fs->packdir >= 0 && !fs->pk_listed)
        rc = pack_refresh(fs);
    if (fs->packdir >= 0 && rc >= 0) {
        rc = 0;
        for (size_t k = 0; k < fs->npk && rc == 0;) {
            struct pack *p = &fs->pk[k];
            int64_t e = pack_entry(p, addr);
            if (e < 0) {
                k++;
                continue;
            }
            if (!p->gone && !(p->gone = cairn_malloc((size_t)p->n))) {
                rc = cairn_error_oom(&fs->base.err);
                break;
            }
            if (p->ngone == 0)
                memset(p->gone, 0, (size_t)p->n);
            p->gone[e] = 1;
            if (++p->ngone < p->n) {
                k++;
                continue;
            }
            if ((rc = fs->vfs->unlink(fs->vfs, fs->packdir, p->name)) < 0 && rc != -ENOENT) {
                rc = io_error(&fs->base.err, rc, "delete pack", p->name);
                break;
            }
            rc = 0;
            pack_view_drop(fs, k);
        }
    }
    pthread_mutex_unlock(&fs->pack_mu);
    return rc;
}

/*
 * Compaction, the compact method (garbage collection calls it after its
 * deletes): a pack whose deleted nodes are at least COMPACT_PCT percent of
 * its node bytes is rewritten with its live nodes only. The new pack is
 * durable (pack_write) before the old one is unlinked, so a crash in between
 * leaves every live node twice, which costs space, never a node. A reader
 * that knew the old pack finds it gone, drops it from its view, and finds the
 * nodes in the new one (pack_get, packs_get). Every frame copied is checked
 * against its address first: a damaged node is not carried into a new pack
 * under a good checksum.
 */
#define COMPACT_PCT 10

static int pack_compact(struct file_store *fs, const char *name)
{
    cairn_vfs *v = fs->vfs;
    uint8_t *live = NULL, *frames = NULL;
    cairn_addr *addrs = NULL;
    const void **data = NULL;
    size_t *lens = NULL;
    struct node_job *jobs = NULL;
    uint64_t nlive = 0, live_bytes = 0, gone_bytes = 0;
    int fd = -1, rc = 0, have = 0;
    pthread_mutex_lock(&fs->pack_mu);
    for (size_t k = 0; k < fs->npk && !have; k++) {
        struct pack *p = &fs->pk[k];
        if (strcmp(p->name, name))
            continue;
        have = 1;
        for (uint64_t i = 0; i < p->n; i++) {
            uint32_t len = cairn_get_be32(p->idx + i * PACK_ENT + CAIRN_ADDR_LEN + 8);
            if (p->gone && p->gone[i])
                gone_bytes += len;
            else
                live_bytes += len, nlive++;
        }
        if (gone_bytes * 100 < (gone_bytes + live_bytes) * COMPACT_PCT) {
            have = 0;
            break;
        }
        if (!(live = cairn_malloc(nlive ? (size_t)(nlive * PACK_ENT) : 1))) {
            rc = cairn_error_oom(&fs->base.err);
            break;
        }
        for (uint64_t i = 0, j = 0; i < p->n; i++)
            if (!p->gone || !p->gone[i])
                memcpy(live + j++ * PACK_ENT, p->idx + i * PACK_ENT, PACK_ENT);
    }
    pthread_mutex_unlock(&fs->pack_mu);
    if (rc < 0 || !have)
        return rc;
    if (nlive) {
        addrs = cairn_malloc(cairn_mul_size((size_t)nlive, sizeof *addrs));
        data = cairn_malloc(cairn_mul_size((size_t)nlive, sizeof *data));
        lens = cairn_malloc(cairn_mul_size((size_t)nlive, sizeof *lens));
        jobs = cairn_malloc(cairn_mul_size((size_t)nlive, sizeof *jobs));
        frames = live_bytes < SIZE_MAX ? cairn_malloc((size_t)live_bytes) : NULL;
        if (!addrs || !data || !lens || !jobs || !frames) {
            rc = cairn_error_oom(&fs->base.err);
            goto done;
        }
        memset(jobs, 0, (size_t)nlive * sizeof *jobs);
        if ((rc = v->open(v, fs->packdir, name, CAIRN_VFS_READ, &fd)) < 0) {
            rc = io_error(&fs->base.err, rc, "pack", name);
            goto done;
        }
        for (uint64_t i = 0, at = 0; i < nlive; i++) {
            const uint8_t *e = live + i * PACK_ENT;
            uint64_t off = cairn_get_be64(e + CAIRN_ADDR_LEN);
            uint32_t len = cairn_get_be32(e + CAIRN_ADDR_LEN + 8);
            cairn_addr check;
            ssize_t got = v->pread(v, fd, frames + at, len, off);
            if (got != (ssize_t)len) {
                rc = got < 0 ? io_error(&fs->base.err, (int)got, "pack", name) : pack_corrupt(fs, name, "short");
                goto done;
            }
            memcpy(addrs[i].bytes, e, CAIRN_ADDR_LEN);
            cairn_addr_of(&check, frames + at, len);
            if (!cairn_addr_equal(&check, &addrs[i])) {
                rc = pack_corrupt(fs, name, "a node's bytes do not match its address");
                goto done;
            }
            data[i] = frames + at;
            lens[i] = len;
            jobs[i].index = (size_t)i;
            at += len;
        }
        if ((rc = pack_write(fs, jobs, (size_t)nlive, addrs, data, lens)) < 0)
            goto done;
    }
    if ((rc = v->unlink(v, fs->packdir, name)) < 0 && rc != -ENOENT) {
        rc = io_error(&fs->base.err, rc, "delete pack", name);
        goto done;
    }
    rc = 0;
    pthread_mutex_lock(&fs->pack_mu);
    for (size_t k = 0; k < fs->npk; k++)
        if (!strcmp(fs->pk[k].name, name)) {
            pack_view_drop(fs, k);
            break;
        }
    pthread_mutex_unlock(&fs->pack_mu);
    rc = 1;
done:
    if (fd >= 0)
        v->close(v, fd);
    cairn_free(live);
    cairn_free(frames);
    cairn_free(addrs);
    cairn_free(data);
    cairn_free(lens);
    cairn_free(jobs);
    return rc;
}

static int log_roll(struct file_store *fs);
static int log_drain_inline(struct file_store *fs);

/* Checkpoints every node of the log (rolling to a new segment when the one
 * being written holds entries) and waits until no segment is left to
 * checkpoint: afterwards every node is in a pack or a file, where del can
 * reach it. */
static int log_flush(struct file_store *fs)
{
    int rc = 0;
    if (fs->logdir < 0 || !atomic_load(&fs->log_on))
        return 0;
    pthread_mutex_lock(&fs->commit_mu);
    if (fs->wid && fs->wend > LOG_START)
        rc = log_roll(fs);
    pthread_mutex_unlock(&fs->commit_mu);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&fs->log_mu);
    while (fs->ckpt_running && fs->nsealed && !fs->ckpt_rc)
        pthread_cond_wait(&fs->ckpt_cv, &fs->log_mu);
    if (fs->nsealed && fs->ckpt_rc)
        rc = cairn_error_set(&fs->base.err, fs->ckpt_rc, ":store/checkpoint", "log checkpoints are failing: %s",
                             fs->ckpt_msg);
    pthread_mutex_unlock(&fs->log_mu);
    return rc < 0 ? rc : log_drain_inline(fs);
}

static int file_compact(cairn_store *s)
{
    struct file_store *fs = fs_of(s);
    struct pack_names l = { NULL, 0, 0, 0 };
    int rc, removed = 0;
    if ((rc = check_writable(fs)) < 0 || (rc = log_flush(fs)) < 0 || fs->packdir < 0)
        return rc;
    /* the names first: compaction changes the view as it goes */
    pthread_mutex_lock(&fs->pack_mu);
    for (size_t k = 0; k < fs->npk && !l.oom; k++)
        if (fs->pk[k].ngone)
            collect_pack(fs->pk[k].name, &l);
    pthread_mutex_unlock(&fs->pack_mu);
    if (l.oom)
        rc = cairn_error_oom(&s->err);
    for (size_t i = 0; i < l.count && rc >= 0; i++)
        if ((rc = pack_compact(fs, l.names[i])) > 0)
            removed = 1;
    cairn_free(l.names);
    if (rc >= 0 && removed && (rc = fsync_dir(fs, fs->packdir)) < 0)
        rc = fail_stop(fs, rc, "packs directory");
    return rc < 0 ? rc : 0;
}

static int file_del(cairn_store *s, const cairn_addr *addr)
{
    struct file_store *fs = fs_of(s);
    cairn_vfs *v = fs->vfs;
    char dn[3], fn[HEX_LEN - 1];
    int dir, rc;
    if ((rc = check_writable(fs)) < 0 || (rc = pack_del(fs, addr)) < 0)
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

static int files_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
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

/* Reads head name from its slots (not the log). */
static int slots_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
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


struct name_list {
    char (*names)[CAIRN_HEAD_NAME_MAX + 1];  /* distinct head names seen */
    size_t count;                            /* used */
    size_t cap;                              /* allocated */
    int oom;                                 /* an allocation failed */
};

static int name_list_add(struct name_list *l, const char *name);

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
    return name_list_add(l, name);
}

/* Adds name to l unless there: 0, or 1 when out of memory (l->oom). */
static int name_list_add(struct name_list *l, const char *name)
{
    size_t n = strlen(name);
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

/* ---- the commit log ------------------------------------------------------------------ */

/*
 * Why a log. A commit through files costs three rounds of fsyncs and two
 * inode creations (the record's file, its directory, the head slot): a new
 * file, fsynced, renamed and its directory fsynced takes 0.4-1.3 ms on this
 * VM's disk, a write over preallocated bytes and an fdatasync 0.08-0.12 ms
 * (bench/store_bench.c, its "fs" rows). So the lock holder
 * appends each commit (its nodes and the new head value) to a segment file
 * in log/ and returns after one fdatasync. A *checkpoint* later copies a
 * full segment's nodes to node files and its head values to head slots, on
 * a thread of its own, then deletes the segment.
 *
 * Segment log/<id> (id as 16 hex digits; integers big-endian):
 *
 *   offset  size  field
 *   0       8     magic "CLOGSEG" 0x01
 *   8       8     id, equal to the name
 *   16      16    first 16 bytes of SHA-256 over bytes 0..16
 *   32            zeros up to LOG_START (4096), then entries, then zeros
 *
 * Entry (the first at LOG_START, each next one right after):
 *
 *   0       16    first 16 bytes of SHA-256 over bytes 16..40+L
 *   16      4     magic "CLE" 0x01
 *   20      4     payload length L
 *   24      8     segment id
 *   32      8     entry number, 1 for the first of a segment
 *   40      L     payload: be32 n, n x (address, be32 length, bytes),
 *                 be16 head name length (0: the entry moves no head), name,
 *                 kind (1 value, 2 tombstone), be32 value length, value
 *
 * A segment ends at its first entry that is not whole and intact. The writer
 * zero-fills a segment ahead of itself (log_ahead: 64 KiB to 1 MiB at a
 * time, with an fsync), so an entry is a write over allocated blocks and its
 * fdatasync flushes no metadata.
 *
 * Reading. A head's current value is its last entry in the segments present,
 * taken in id order; without one, its slot. A node is read from its file, or
 * from the segment that holds it. Each handle keeps a view of the log (the
 * segments, an address table, how far each was read) and reads on when a
 * lookup misses, so a reader reads each entry once.
 *
 * The rules that keep this sound:
 *  - Only the lock holder writes the log. A handle without the lock moves
 *    heads by slots, and refuses to while segments exist: their entries
 *    would hide its slot.
 *  - Taking the lock, a writer claims every segment present (an empty file
 *    log/<id>.claimed), then reads them, checkpoints them in id order and
 *    deletes them, before lock returns: it starts with an empty log, and a
 *    writer killed again and again leaves at most one segment behind.
 *  - After each fdatasync, before acknowledging, the writer checks that its
 *    segment has no claim and that no segment id+1 exists. A writer that
 *    took over claims before it reads, so an entry acknowledged that way was
 *    written before the claim and was read; otherwise the outcome is unknown
 *    (:store/ambiguous) and the handle stops writing. And a writer that finds
 *    a segment it did not make when it starts a new one stops too.
 *  - A checkpoint of segment S makes S's nodes durable as files, then each
 *    head's last value in S durable as a slot, then deletes S and fsyncs
 *    log/. Segments are checkpointed in id order, so every segment present
 *    is newer than every slot, and a deleted segment never comes back after
 *    the slots of a newer one are written.
 *
 * What a reader may see that the slot path never shows: on the same machine,
 * an entry during its fdatasync, before the writer acknowledges it (a crash
 * of the machine loses both); and, from a writer that ignores the lock, one
 * entry appended after the claim, until the claiming writer deletes the
 * segment. No acknowledged commit is lost in either case.
 */
static int lnode_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return !memcmp(((const struct lnode *)entry)->addr.bytes, ((const cairn_addr *)key)->bytes, CAIRN_ADDR_LEN);
}

static struct lnode *ltab_find(struct file_store *fs, const cairn_addr *a)
{
    return cairn_hmap_find(&fs->ltab, cairn_addr_hash(a), a, lnode_eq, NULL);
}

/* Removes segment g's nodes from the view's table, closes it, frees it. */
static void lseg_free(struct file_store *fs, struct lseg *g)
{
    while (g->nodes) {
        struct lnode *n = g->nodes;
        g->nodes = n->next;
        cairn_hmap_remove(&fs->ltab, cairn_addr_hash(&n->addr), &n->addr, lnode_eq, NULL);
        cairn_free(n);
    }
    if (g->fd >= 0)
        fs->vfs->close(fs->vfs, g->fd);
    for (size_t i = 0; i < g->nheads; i++)
        cairn_free(g->heads[i].value);
    cairn_free(g->heads);
    memset(g, 0, sizeof *g);
    g->fd = -1;
}

/* Adds a node of segment g to the view (unless an older segment has it). */
static int ltab_add(struct file_store *fs, struct lseg *g, const cairn_addr *a, uint64_t off, uint32_t len)
{
    struct lnode *n;
    if (ltab_find(fs, a))
        return 0; /* either copy serves */
    if (!(n = cairn_malloc(sizeof *n)))
        return CAIRN_ENOMEM;
    n->addr = *a;
    n->seg = g->id;
    n->off = off;
    n->len = len;
    if (cairn_hmap_insert(&fs->ltab, cairn_addr_hash(a), n) < 0) {
        cairn_free(n);
        return CAIRN_ENOMEM;
    }
    n->next = g->nodes;
    g->nodes = n;
    return 0;
}

static struct lseg *lseg_of(struct file_store *fs, uint64_t id)
{
    for (size_t i = 0; i < fs->nsegs; i++)
        if (fs->segs[i].id == id)
            return &fs->segs[i];
    return NULL;
}

/* Records head name's value (NULL: tombstone) as segment g's last. */
static int lseg_set_head(struct lseg *g, const char *name, const void *value, size_t len)
{
    struct lhead *h = NULL;
    uint8_t *copy = cairn_malloc(len ? len : 1);
    if (!copy)
        return CAIRN_ENOMEM;
    if (len)
        memcpy(copy, value, len);
    for (size_t i = 0; i < g->nheads; i++)
        if (!strcmp(g->heads[i].name, name))
            h = &g->heads[i];
    if (!h) {
        struct lhead *n = cairn_realloc(g->heads, cairn_mul_size(g->nheads + 1, sizeof *n));
        if (!n) {
            cairn_free(copy);
            return CAIRN_ENOMEM;
        }
        g->heads = n;
        h = &g->heads[g->nheads++];
        memset(h, 0, sizeof *h);
        snprintf(h->name, sizeof h->name, "%s", name);
    }
    cairn_free(h->value);
    h->value = copy;
    h->len = len;
    h->kind = value ? SLOT_VALUE : SLOT_TOMBSTONE;
    return 0;
}

/* Head name's newest entry in the view, or NULL. Under log_mu. */
static const struct lhead *log_head(struct file_store *fs, const char *name)
{
    for (size_t i = fs->nsegs; i-- > 0;)
        for (size_t j = 0; j < fs->segs[i].nheads; j++)
            if (!strcmp(fs->segs[i].heads[j].name, name))
                return &fs->segs[i].heads[j];
    return NULL;
}

static void log_seg_name(char *out, size_t cap, uint64_t id)
{
    snprintf(out, cap, "%016llx", (unsigned long long)id);
}

/* log/<id>.claimed: the marker a new writer leaves on an older writer's segment. */
static void log_claim_name(char *out, size_t cap, uint64_t id)
{
    snprintf(out, cap, "%016llx.claimed", (unsigned long long)id);
}

static void log_sum(uint8_t out[16], const uint8_t *p, size_t n)
{
    cairn_addr a;
    cairn_addr_of(&a, p, n);
    memcpy(out, a.bytes, 16);
}

#define SHORT_READ 1  /* pread_all: the file ends first */

/* Reads exactly len bytes at off: 0, SHORT_READ, or -errno. */
static int pread_all(cairn_vfs *v, int fd, void *buf, size_t len, uint64_t off)
{
    uint8_t *p = buf;
    while (len) {
        ssize_t n = v->pread(v, fd, p, len, off);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return SHORT_READ;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

static int pwrite_all(cairn_vfs *v, int fd, const void *buf, size_t len, uint64_t off)
{
    const uint8_t *p = buf;
    while (len) {
        ssize_t n = v->pwrite(v, fd, p, len, off);
        if (n < 0)
            return (int)n;
        if (n == 0)
            return -EIO;
        p += n;
        off += (uint64_t)n;
        len -= (size_t)n;
    }
    return 0;
}

/*
 * Checks an entry payload and applies it to segment g of the view: its
 * nodes into the table (their bytes start at base + their offset in p), its
 * head into g. 0, CAIRN_ECORRUPT (malformed), CAIRN_ENOMEM.
 */
static int log_apply(struct file_store *fs, struct lseg *g, const uint8_t *p, size_t len, uint64_t base)
{
    size_t at = 4, nl;
    uint32_t n;
    char name[CAIRN_HEAD_NAME_MAX + 1];
    if (len < 6)
        return CAIRN_ECORRUPT;
    n = cairn_get_be32(p);
    for (uint32_t i = 0; i < n; i++) {
        cairn_addr a;
        uint32_t nlen;
        if (len - at < CAIRN_ADDR_LEN + 4)
            return CAIRN_ECORRUPT;
        memcpy(a.bytes, p + at, CAIRN_ADDR_LEN);
        nlen = cairn_get_be32(p + at + CAIRN_ADDR_LEN);
        at += CAIRN_ADDR_LEN + 4;
        if (len - at < nlen)
            return CAIRN_ECORRUPT;
        if (ltab_add(fs, g, &a, base + at, nlen) < 0)
            return CAIRN_ENOMEM;
        at += nlen;
    }
    if (len - at < 2)
        return CAIRN_ECORRUPT;
    nl = (size_t)p[at] << 8 | p[at + 1];
    at += 2;
    if (nl == 0)
        return at == len ? 0 : CAIRN_ECORRUPT;
    if (nl > CAIRN_HEAD_NAME_MAX || len - at < nl + 5)
        return CAIRN_ECORRUPT;
    memcpy(name, p + at, nl);
    name[nl] = 0;
    at += nl;
    {
        int kind = p[at];
        uint32_t vlen = cairn_get_be32(p + at + 1);
        at += 5;
        if ((kind != SLOT_VALUE && kind != SLOT_TOMBSTONE) || vlen > CAIRN_HEAD_MAX || len - at != vlen ||
            (kind == SLOT_TOMBSTONE && vlen) || !cairn_store_head_name_ok(name))
            return CAIRN_ECORRUPT;
        return lseg_set_head(g, name, kind == SLOT_VALUE ? p + at : NULL, vlen);
    }
}

/* Reads g's header if not yet done: 0 (g->hdr_ok tells), or an error. */
static int lseg_header(struct file_store *fs, struct lseg *g)
{
    uint8_t h[LOG_SEG_HDR], sum[16];
    int rc;
    if (g->hdr_ok)
        return 0;
    if ((rc = pread_all(fs->vfs, g->fd, h, sizeof h, 0)) != 0)
        return rc == SHORT_READ ? 0 : rc; /* short: still being made */
    log_sum(sum, h, 16);
    if (memcmp(h, LOG_SEG_MAGIC, 8) != 0 || cairn_get_be64(h + 8) != g->id || memcmp(sum, h + 16, 16) != 0)
        return 0;
    g->hdr_ok = 1;
    g->scanned = LOG_START;
    g->next_no = 1;
    return 0;
}

/* Reads g's entries from where the view left off to its end. */
static int lseg_scan(struct file_store *fs, struct lseg *g)
{
    cairn_vfs *v = fs->vfs;
    uint8_t hdr[LOG_ENTRY_HDR];
    uint8_t *buf = NULL;
    size_t cap = 0;
    char sn[SEQ_HEX + 1];
    uint64_t size = 0;
    int rc = 0;
    log_seg_name(sn, sizeof sn, g->id);
    if (g->hdr_ok && (rc = v->size(v, g->fd, &size)) < 0)
        return io_error(&fs->base.err, rc, "read log segment", sn);
    while (g->hdr_ok) {
        uint64_t L;
        uint8_t sum[16];
        if ((rc = pread_all(v, g->fd, hdr, sizeof hdr, g->scanned)) != 0)
            break;
        L = cairn_get_be32(hdr + 20);
        if (memcmp(hdr + 16, LOG_ENTRY_MAGIC, 4) != 0 || cairn_get_be64(hdr + 24) != g->id ||
            cairn_get_be64(hdr + 32) != g->next_no)
            break;
        /* a length past the file's end is a torn entry (or a damaged one):
         * it ends the segment before anything is allocated for it */
        if (g->scanned + LOG_ENTRY_HDR + L > size && ((rc = v->size(v, g->fd, &size)) < 0 ||
                                                       g->scanned + LOG_ENTRY_HDR + L > size))
            break;
        if (LOG_ENTRY_HDR + L > cap) {
            cairn_free(buf);
            cap = (size_t)(LOG_ENTRY_HDR + L);
            if (!(buf = cairn_malloc(cap))) {
                rc = -ENOMEM;
                break;
            }
        }
        memcpy(buf, hdr, sizeof hdr);
        if ((rc = pread_all(v, g->fd, buf + LOG_ENTRY_HDR, (size_t)L, g->scanned + LOG_ENTRY_HDR)) != 0)
            break;
        log_sum(sum, buf + 16, (size_t)(LOG_ENTRY_HDR - 16 + L));
        if (memcmp(sum, buf, 16) != 0)
            break; /* torn, or being written */
        if ((rc = log_apply(fs, g, buf + LOG_ENTRY_HDR, (size_t)L, g->scanned + LOG_ENTRY_HDR)) < 0) {
            cairn_free(buf);
            if (rc == CAIRN_ENOMEM)
                return cairn_error_oom(&fs->base.err);
            cairn_error_set(&fs->base.err, CAIRN_ECORRUPT, ":store/corrupt", "log segment %s: entry %llu is malformed",
                            sn, (unsigned long long)g->next_no);
            return CAIRN_CORRUPT_BKPT;
        }
        g->scanned += LOG_ENTRY_HDR + L;
        g->next_no++;
    }
    cairn_free(buf);
    /* the end of the file, or of what is written so far, ends the segment */
    return rc < 0 ? io_error(&fs->base.err, rc, "read log segment", sn) : 0;
}

struct id_list {
    uint64_t ids[LOG_SEGS_MAX];
    size_t count;
    int over;                   /* more than LOG_SEGS_MAX */
};

static int collect_seg(const char *e, void *p)
{
    struct id_list *l = p;
    if (strlen(e) != SEQ_HEX || !is_hex(e, SEQ_HEX))
        return 0;
    if (l->count == LOG_SEGS_MAX) {
        l->over = 1;
        return 1;
    }
    l->ids[l->count++] = strtoull(e, NULL, 16);
    return 0;
}

static int id_asc(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

static void log_view_clear(struct file_store *fs)
{
    for (size_t i = 0; i < fs->nsegs; i++)
        lseg_free(fs, &fs->segs[i]);
    fs->nsegs = 0;
    cairn_hmap_dispose(&fs->ltab);
    memset(&fs->ltab, 0, sizeof fs->ltab);
}

/* Drops segment id from the view (it was checkpointed and deleted). */
static void log_view_drop(struct file_store *fs, uint64_t id)
{
    size_t k = 0;
    for (size_t i = 0; i < fs->nsegs; i++) {
        if (fs->segs[i].id == id)
            lseg_free(fs, &fs->segs[i]);
        else
            fs->segs[k++] = fs->segs[i];
    }
    fs->nsegs = k;
}

/*
 * Brings the view up to date with log/: drops deleted segments, opens new
 * ones, reads headers and new entries. Under log_mu.
 */
static int log_refresh(struct file_store *fs)
{
    struct id_list l;
    int rc;
    if (fs->logdir < 0)
        return 0;
    memset(&l, 0, sizeof l);
    if ((rc = fs->vfs->list(fs->vfs, fs->logdir, collect_seg, &l)) < 0)
        return io_error(&fs->base.err, rc, "list", "log");
    if (l.over) {
        cairn_error_set(&fs->base.err, CAIRN_ECORRUPT, ":store/corrupt", "log: more than %d segments", LOG_SEGS_MAX);
        return CAIRN_CORRUPT_BKPT;
    }
    qsort(l.ids, l.count, sizeof l.ids[0], id_asc);
    for (size_t i = 0; i < fs->nsegs;) {
        size_t j = 0;
        while (j < l.count && l.ids[j] != fs->segs[i].id)
            j++;
        if (j == l.count && fs->segs[i].id != fs->wid)
            log_view_drop(fs, fs->segs[i].id);
        else
            i++;
    }
    for (size_t j = 0; j < l.count; j++) {
        char sn[SEQ_HEX + 1];
        struct lseg *g;
        size_t at = 0;
        if (lseg_of(fs, l.ids[j]))
            continue;
        while (at < fs->nsegs && fs->segs[at].id < l.ids[j])
            at++;
        memmove(&fs->segs[at + 1], &fs->segs[at], (fs->nsegs - at) * sizeof *g);
        g = &fs->segs[at];
        fs->nsegs++;
        memset(g, 0, sizeof *g);
        g->id = l.ids[j];
        log_seg_name(sn, sizeof sn, g->id);
        if ((rc = fs->vfs->open(fs->vfs, fs->logdir, sn, CAIRN_VFS_READ, &g->fd)) < 0) {
            g->fd = -1;
            log_view_drop(fs, g->id);
            if (rc != -ENOENT)
                return io_error(&fs->base.err, rc, "log segment", sn);
        }
    }
    for (size_t i = 0; i < fs->nsegs; i++) {
        if ((rc = lseg_header(fs, &fs->segs[i])) < 0)
            return io_error(&fs->base.err, rc, "log", "segment header");
        if (fs->segs[i].id != fs->wid && (rc = lseg_scan(fs, &fs->segs[i])) < 0)
            return rc;
    }
    return 0;
}

/* Copies node addr's bytes out of the log view: 0, or CAIRN_ENOTFOUND. Under log_mu. */
static int log_read_node(struct file_store *fs, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    struct lnode *e = ltab_find(fs, addr);
    struct lseg *g;
    void *p;
    int rc;
    if (!e || !(g = lseg_of(fs, e->seg)) || g->fd < 0)
        return CAIRN_ENOTFOUND;
    if (!(p = cairn_store_data_alloc(e->len ? e->len : 1)))
        return cairn_error_oom(&fs->base.err);
    if ((rc = pread_all(fs->vfs, g->fd, p, e->len, e->off)) != 0) {
        cairn_free(p);
        if (rc == SHORT_READ) {
            cairn_error_set(&fs->base.err, CAIRN_ECORRUPT, ":store/corrupt", "log: a node's entry was cut short");
            return CAIRN_CORRUPT_BKPT;
        }
        return io_error(&fs->base.err, rc, "log", "node");
    }
    *data_out = p;
    *len_out = e->len;
    return 0;
}

/*
 * Head name from the log: 1 with its newest entry copied to *kind, buf
 * (CAIRN_HEAD_MAX bytes) and *len; 0 when the log does not name it.
 * A handle that writes the log knows it whole; any other reads log/ first.
 */
static int log_head_read(struct file_store *fs, const char *name, int *kind, uint8_t *buf, size_t *len)
{
    const struct lhead *h;
    int rc = 0;
    if (fs->logdir < 0)
        return 0;
    pthread_mutex_lock(&fs->log_mu);
    if (!atomic_load(&fs->log_on))
        rc = log_refresh(fs);
    if (rc == 0 && (h = log_head(fs, name)) != NULL) {
        *kind = h->kind;
        *len = h->len;
        memcpy(buf, h->value, h->len);
        rc = 1;
    }
    pthread_mutex_unlock(&fs->log_mu);
    return rc;
}

/* ---- the commit log: writing --------------------------------------------------------- */

/* Makes the version file say 3 (a store that may have segments and packs), once per handle. */
static int log_upgrade_version(struct file_store *fs)
{
    cairn_vfs *v = fs->vfs;
    uint8_t buf[64];
    size_t n;
    char tmp[48];
    int rc, fsync_failed;
    if (fs->version_ok)
        return 0;
    if ((rc = read_small(v, fs->root, "version", buf, sizeof buf, &n)) < 0)
        return io_error(&fs->base.err, rc, "read", "version");
    if (n != strlen(VERSION_TEXT) || memcmp(buf, VERSION_TEXT, n) != 0) {
        temp_name(fs, tmp, sizeof tmp);
        if ((rc = write_temp(fs, tmp, VERSION_TEXT, strlen(VERSION_TEXT), &fsync_failed)) < 0)
            return fsync_failed ? fail_stop(fs, rc, "version") : io_error(&fs->base.err, rc, "write", "version");
        if ((rc = v->rename(v, fs->tmp, tmp, fs->root, "version")) < 0) {
            v->unlink(v, fs->tmp, tmp);
            return io_error(&fs->base.err, rc, "rename", "version");
        }
    }
    /* log/ itself, made by open, and the version: durable before any segment */
    if ((rc = fsync_dir(fs, fs->root)) < 0)
        return fail_stop(fs, rc, "store directory");
    fs->version_ok = 1;
    return 0;
}

/* Zero-fills segment bytes [from, to) of the writer's segment. */
static int log_zero(struct file_store *fs, uint64_t from, uint64_t to)
{
    static const uint8_t zeros[65536];
    while (from < to) {
        size_t n = (size_t)CAIRN_MIN((uint64_t)sizeof zeros, to - from);
        int rc = pwrite_all(fs->vfs, fs->wfd, zeros, n, from);
        if (rc < 0)
            return rc;
        from += n;
    }
    return 0;
}

/*
 * Bytes to zero-fill past the end of a segment holding `used` bytes of
 * entries: as much again, from 64 KiB up to log_chunk (1 MiB), so that a
 * store with little traffic keeps little more than its entries on disk.
 */
static uint64_t log_ahead(const struct file_store *fs, uint64_t used)
{
    return CAIRN_MIN(fs->log_chunk, CAIRN_MAX((uint64_t)64 << 10, used));
}

static void *ckpt_main(void *p);
static int log_checkpoint(struct file_store *fs, uint64_t id);

/* Checkpoints sealed segments on this thread (a store with threads = 1). */
static int log_drain_inline(struct file_store *fs)
{
    int rc = 0;
    pthread_mutex_lock(&fs->log_mu);
    while (fs->nsealed && rc == 0) {
        uint64_t id = fs->sealed[0];
        pthread_mutex_unlock(&fs->log_mu);
        rc = log_checkpoint(fs, id);
        pthread_mutex_lock(&fs->log_mu);
        if (rc == 0) {
            memmove(fs->sealed, fs->sealed + 1, --fs->nsealed * sizeof fs->sealed[0]);
        }
    }
    pthread_mutex_unlock(&fs->log_mu);
    return rc;
}

/*
 * Starts segment max id + 1 and queues the older ones for checkpointing: on
 * the checkpoint thread, or on this one when there is none (threads = 1).
 * Under commit_mu.
 */
static int log_roll(struct file_store *fs)
{
    cairn_vfs *v = fs->vfs;
    uint8_t h[LOG_START];
    char sn[SEQ_HEX + 1];
    uint64_t id = 1;
    int rc, fd, rfd = -1;
    if ((rc = log_upgrade_version(fs)) < 0)
        return rc;
    /* backpressure: at most two segments wait for their checkpoint */
    pthread_mutex_lock(&fs->log_mu);
    while (fs->ckpt_running && fs->nsealed >= 2 && !fs->ckpt_rc)
        pthread_cond_wait(&fs->ckpt_cv, &fs->log_mu);
    rc = fs->nsealed >= 2 ? fs->ckpt_rc : 0;
    pthread_mutex_unlock(&fs->log_mu);
    if (rc < 0)
        return cairn_error_set(&fs->base.err, rc, ":store/checkpoint", "log checkpoints are failing: %s",
                               fs->ckpt_msg);
    {
        /* every segment in log/ is this writer's (lock took the others): one
         * that is not was made by a writer that ignores the lock */
        struct id_list l;
        memset(&l, 0, sizeof l);
        if ((rc = v->list(v, fs->logdir, collect_seg, &l)) < 0)
            return io_error(&fs->base.err, rc, "list", "log");
        pthread_mutex_lock(&fs->log_mu);
        for (size_t i = 0; i < l.count && rc == 0; i++) {
            id = CAIRN_MAX(id, l.ids[i] + 1);
            if (!lseg_of(fs, l.ids[i]))
                rc = CAIRN_ECONFLICT;
        }
        for (size_t i = 0; i < fs->nsegs; i++)
            id = CAIRN_MAX(id, fs->segs[i].id + 1);
        if (!l.count && !fs->nsegs) {
            /* an empty log/ must not number its segments from 1 again: a
             * reader that still holds segment 1 of an earlier writer in its
             * view would take the new segment 1 for the old one and never
             * read its entries (the kill test found this once checkpoints
             * became fast enough to empty log/ between two of its reads).
             * So an empty log/ starts at the clock, in microseconds. */
            struct timespec ts;
            clock_gettime(CLOCK_REALTIME, &ts);
            id = CAIRN_MAX(id, (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u);
        }
        pthread_mutex_unlock(&fs->log_mu);
        if (rc < 0 || l.over) {
            atomic_store(&fs->failed, 1);
            return cairn_error_set(&fs->base.err, CAIRN_ECONFLICT, ":store/conflict",
                                   "log: a segment of another writer appeared; this handle stops writing");
        }
    }
    pthread_mutex_lock(&fs->log_mu);
    rc = fs->nsegs >= LOG_SEGS_MAX ? CAIRN_EFULL : 0;
    pthread_mutex_unlock(&fs->log_mu);
    if (rc < 0)
        return cairn_error_set(&fs->base.err, CAIRN_EFULL, ":store/checkpoint",
                               "log: too many segments wait for their checkpoint");
    memset(h, 0, sizeof h);
    memcpy(h, LOG_SEG_MAGIC, 8);
    cairn_put_be64(h + 8, id);
    log_sum(h + 16, h, 16);
    log_seg_name(sn, sizeof sn, id);
    if ((rc = v->open(v, fs->logdir, sn, CAIRN_VFS_CREATE, &fd)) < 0) {
        if (rc == -EEXIST) {
            atomic_store(&fs->failed, 1);
            return cairn_error_set(&fs->base.err, CAIRN_ECONFLICT, ":store/conflict",
                                   "log segment %s exists: another writer took the store over", sn);
        }
        return io_error(&fs->base.err, rc, "create log segment", sn);
    }
    {
        int old = fs->wfd;
        fs->wfd = fd;
        rc = v->open(v, fs->logdir, sn, CAIRN_VFS_READ, &rfd); /* the view's handle */
        if (rc == 0)
            rc = pwrite_all(v, fd, h, sizeof h, 0);
        if (rc == 0)
            rc = log_zero(fs, LOG_START, LOG_START + log_ahead(fs, 0));
        if (rc == 0 && (rc = v->fsync(v, fd)) < 0)
            rc = fail_stop(fs, rc, "log segment");
        else if (rc == 0 && (rc = fsync_dir(fs, fs->logdir)) < 0)
            rc = fail_stop(fs, rc, "log");
        else if (rc < 0)
            rc = io_error(&fs->base.err, rc, "write log segment", sn);
        if (rc < 0) {
            fs->wfd = old;
            v->close(v, fd);
            if (rfd >= 0)
                v->close(v, rfd);
            if (v->unlink(v, fs->logdir, sn) != 0) {
                /* left in log/: this writer's still, an empty segment for a checkpoint to delete */
                pthread_mutex_lock(&fs->log_mu);
                struct lseg *g = &fs->segs[fs->nsegs++];
                memset(g, 0, sizeof *g);
                g->id = id;
                g->fd = -1;
                fs->sealed[fs->nsealed++] = id;
                pthread_mutex_unlock(&fs->log_mu);
            }
            return rc;
        }
        if (old >= 0)
            v->close(v, old);
    }
    pthread_mutex_lock(&fs->log_mu);
    /* every older segment is sealed now: queue those not queued yet */
    for (size_t i = 0; i < fs->nsegs; i++) {
        int queued = 0;
        for (size_t j = 0; j < fs->nsealed; j++)
            queued |= fs->sealed[j] == fs->segs[i].id;
        if (!queued)
            fs->sealed[fs->nsealed++] = fs->segs[i].id;
    }
    {
        struct lseg *g = &fs->segs[fs->nsegs++];
        memset(g, 0, sizeof *g);
        g->id = id;
        g->hdr_ok = 1;
        g->scanned = LOG_START;
        g->next_no = 1;
        g->fd = rfd;
    }
    fs->wid = id;
    fs->wend = LOG_START;
    fs->walloc = LOG_START + log_ahead(fs, 0);
    fs->wno = 1;
    if (fs->nsealed && fs->threads > 1 && !fs->ckpt_running) {
        fs->ckpt_stop = 0;
        if (pthread_create(&fs->ckpt_th, NULL, ckpt_main, fs) == 0)
            fs->ckpt_running = 1;
    }
    pthread_cond_broadcast(&fs->ckpt_cv);
    pthread_mutex_unlock(&fs->log_mu);
    return fs->ckpt_running ? 0 : log_drain_inline(fs);
}

/*
 * Appends one entry (bytes [0, len), its header still to fill) to the log
 * and makes it durable. Under commit_mu.
 */
static int log_append(struct file_store *fs, uint8_t *e, size_t len, int *written)
{
    cairn_vfs *v = fs->vfs;
    char sn[SEQ_HEX + 16];
    uint64_t off;
    int rc, grow;
    *written = 0;
    if (fs->wfd < 0 || (fs->wend + len > fs->log_bytes && fs->wend > LOG_START)) {
        if ((rc = log_roll(fs)) < 0)
            return rc;
    }
    memcpy(e + 16, LOG_ENTRY_MAGIC, 4);
    cairn_put_be32(e + 20, (uint32_t)(len - LOG_ENTRY_HDR));
    cairn_put_be64(e + 24, fs->wid);
    cairn_put_be64(e + 32, fs->wno);
    log_sum(e, e + 16, len - 16);
    off = fs->wend;
    grow = off + len > fs->walloc;
    /* zeros first: a failure then never leaves a whole entry behind */
    rc = grow ? log_zero(fs, fs->walloc, off + len + log_ahead(fs, off + len - LOG_START)) : 0;
    if (rc == 0 && (rc = pwrite_all(v, fs->wfd, e, len, off)) < 0)
        atomic_store(&fs->failed, 1); /* part of the entry may be there: nothing may follow it */
    if (rc < 0)
        return io_error(&fs->base.err, rc, "write", "log");
    if (grow)
        fs->walloc = off + len + log_ahead(fs, off + len - LOG_START);
    /* the whole entry is in the file, where readers find it: from here on
     * this handle's view has it too, whatever the sync says */
    *written = 1;
    fs->wend = off + len;
    fs->wno++;
    if (!(fs->mutants & CAIRN_FILE_MUTANT_NO_LOG_SYNC) &&
        (rc = grow ? v->fsync(v, fs->wfd) : v->datasync(v, fs->wfd)) < 0)
        return fail_stop(fs, rc, "log");
    /* fencing: a claim on this segment, the segment gone (checkpointed by
     * the claimer), or a newer one, means another writer took over. In this
     * order: a claim is removed only after its segment, so an entry that
     * passes was written before any claim, and the claimer read it. */
    log_claim_name(sn, sizeof sn, fs->wid);
    if ((rc = v->stat(v, fs->logdir, sn, NULL)) == -ENOENT) {
        log_seg_name(sn, sizeof sn, fs->wid);
        rc = v->stat(v, fs->logdir, sn, NULL);
        if (rc == 0) {
            log_seg_name(sn, sizeof sn, fs->wid + 1);
            rc = v->stat(v, fs->logdir, sn, NULL);
        } else if (rc == -ENOENT) {
            rc = 0; /* gone: as bad as a claim */
        }
    }
    if (rc != -ENOENT) {
        atomic_store(&fs->failed, 1);
        return cairn_error_set(&fs->base.err, CAIRN_EIO, ":store/ambiguous",
                               rc == 0 ? "log %s: another writer took the store over; "
                                         "outcome of this commit unknown"
                                       : "log %s: cannot check for another writer; outcome unknown",
                               sn);
    }
    return 0;
}

/* Writes value (NULL: tombstone) to head name's slots, as a checkpoint does. */
static int slot_set(struct file_store *fs, const char *name, const void *value, size_t len)
{
    struct head_state st;
    int rc;
    for (int attempt = 0; attempt < 4; attempt++) {
        int present;
        if ((rc = head_state(fs, name, &st)) < 0)
            return rc;
        present = st.have && st.cur.kind == SLOT_VALUE;
        if (!st.corrupt &&
            (value ? present && st.cur.len == len && !memcmp(st.cur.buf + SLOT_HDR, value, len) : !present))
            return 0; /* already there: a checkpoint repeated after a crash */
        rc = cas_with_nodes(&fs->base, name, present ? st.cur.buf + SLOT_HDR : NULL, present ? st.cur.len : 0, value,
                            value ? len : 0, 0, NULL, NULL, NULL);
        if (rc != CAIRN_ECONFLICT)
            return rc;
    }
    return rc;
}

struct ckpt_nodes {
    cairn_addr *addrs;
    void **data;
    size_t *lens;
    size_t count;
};

/*
 * Node writers for a checkpoint: one while the writer goes on (16 threads
 * creating files in one directory spin on its lock and take the CPU the
 * writer needs: tx-entity at 16 threads went from 4.3-5.5k to 11.9-12.2k
 * tx/s), all of them when the writer waits for it.
 */
static unsigned ckpt_threads(struct file_store *fs)
{
    unsigned n;
    pthread_mutex_lock(&fs->log_mu);
    n = fs->nsealed >= 2 || !atomic_load(&fs->log_on) ? fs->threads : 1;
    pthread_mutex_unlock(&fs->log_mu);
    return n;
}

/*
 * Checkpoints segment id: its nodes to files, its heads to slots, then
 * deletes it. Runs beside commits (the checkpoint thread) or inline.
 */
static int log_checkpoint(struct file_store *fs, uint64_t id)
{
    cairn_vfs *v = fs->vfs;
    struct ckpt_nodes cn = { NULL, NULL, NULL, 0 };
    struct lhead *heads = NULL;
    size_t nheads = 0;
    char sn[SEQ_HEX + 1];
    int rc = 0;
    pthread_mutex_lock(&fs->log_mu);
    {
        struct lseg *g = lseg_of(fs, id);
        size_t want = 0;
        for (struct lnode *e = g ? g->nodes : NULL; e; e = e->next)
            want++;
        if (want && (!(cn.addrs = cairn_malloc(cairn_mul_size(want, sizeof *cn.addrs))) ||
                     !(cn.data = cairn_malloc(cairn_mul_size(want, sizeof *cn.data))) ||
                     !(cn.lens = cairn_malloc(cairn_mul_size(want, sizeof *cn.lens)))))
            rc = cairn_error_oom(&fs->base.err);
        for (struct lnode *e = g ? g->nodes : NULL; e && rc == 0; e = e->next) {
            if ((rc = log_read_node(fs, &e->addr, &cn.data[cn.count], &cn.lens[cn.count])) < 0)
                break;
            cn.addrs[cn.count++] = e->addr;
        }
        if (rc == 0 && g && g->nheads) {
            if (!(heads = cairn_malloc(cairn_mul_size(g->nheads, sizeof *heads))))
                rc = cairn_error_oom(&fs->base.err);
            for (size_t i = 0; rc == 0 && i < g->nheads; i++) {
                heads[i] = g->heads[i];
                if (!(heads[i].value = cairn_malloc(g->heads[i].len ? g->heads[i].len : 1))) {
                    rc = cairn_error_oom(&fs->base.err);
                    break;
                }
                memcpy(heads[i].value, g->heads[i].value, g->heads[i].len);
                nheads++;
            }
        }
    }
    pthread_mutex_unlock(&fs->log_mu);
    if (rc == 0 && cn.count)
        rc = put_nodes(&fs->base, cn.count, cn.addrs, (const void *const *)cn.data, cn.lens, ckpt_threads(fs));
    for (size_t i = 0; rc == 0 && i < nheads; i++)
        rc = slot_set(fs, heads[i].name, heads[i].kind == SLOT_VALUE ? heads[i].value : NULL, heads[i].len);
    if (rc == 0) {
        log_seg_name(sn, sizeof sn, id);
        if ((rc = v->unlink(v, fs->logdir, sn)) < 0 && rc != -ENOENT) {
            rc = io_error(&fs->base.err, rc, "delete log segment", sn);
        } else if ((rc = fsync_dir(fs, fs->logdir)) < 0) {
            rc = fail_stop(fs, rc, "log");
        } else {
            char cn2[SEQ_HEX + 16];
            log_claim_name(cn2, sizeof cn2, id);
            v->unlink(v, fs->logdir, cn2); /* best effort: the next writer sweeps it */
        }
    }
    if (rc == 0) {
        pthread_mutex_lock(&fs->log_mu);
        log_view_drop(fs, id);
        pthread_mutex_unlock(&fs->log_mu);
    }
    for (size_t i = 0; i < cn.count; i++)
        cairn_free(cn.data[i]);
    cairn_free(cn.addrs);
    cairn_free(cn.data);
    cairn_free(cn.lens);
    for (size_t i = 0; i < nheads; i++)
        cairn_free(heads[i].value);
    cairn_free(heads);
    return rc;
}

static void *ckpt_main(void *p)
{
    struct file_store *fs = p;
    pthread_mutex_lock(&fs->log_mu);
    for (;;) {
        while (!fs->nsealed && !fs->ckpt_stop)
            pthread_cond_wait(&fs->ckpt_cv, &fs->log_mu);
        if (!fs->nsealed || fs->ckpt_rc)
            break;
        uint64_t id = fs->sealed[0];
        pthread_mutex_unlock(&fs->log_mu);
        int rc = log_checkpoint(fs, id);
        pthread_mutex_lock(&fs->log_mu);
        if (rc < 0) {
            fs->ckpt_rc = rc;
            snprintf(fs->ckpt_msg, sizeof fs->ckpt_msg, "%s", fs->base.err.message);
        } else {
            memmove(fs->sealed, fs->sealed + 1, --fs->nsealed * sizeof fs->sealed[0]);
        }
        pthread_cond_broadcast(&fs->ckpt_cv);
        if (rc < 0)
            break;
    }
    pthread_mutex_unlock(&fs->log_mu);
    return NULL;
}

/*
 * A commit through the log: nodes and head move in one entry, one
 * fdatasync. Nodes too large for a segment go to files first (put_many),
 * and the entry moves only the head.
 */
static int log_commit(struct file_store *fs, const char *name, const void *expected, size_t expected_len,
                      const void *value, size_t len, size_t n, const cairn_addr *addrs, const void *const *nodes,
                      const size_t *lens)
{
    uint8_t cur[CAIRN_HEAD_MAX];
    size_t cur_len = 0, total = LOG_ENTRY_HDR + 4 + 2, nl = strlen(name), at;
    int kind = 0, present, rc, written;
    uint8_t *e;
    if ((rc = check_writable(fs)) < 0)
        return rc;
    if ((rc = log_head_read(fs, name, &kind, cur, &cur_len)) < 0)
        return rc;
    if (rc == 0) {
        struct head_state st;
        if ((rc = head_state(fs, name, &st)) < 0)
            return rc;
        if (st.corrupt)
            return corrupt_head(&fs->base, name);
        kind = st.have ? st.cur.kind : 0;
        cur_len = st.have ? st.cur.len : 0;
        memcpy(cur, st.cur.buf + SLOT_HDR, cur_len);
    }
    present = kind == SLOT_VALUE;
    if (expected ? !present || cur_len != expected_len || memcmp(cur, expected, expected_len) : present)
        return cairn_store_head_conflict(&fs->base, name);
    if (!value && !present)
        name = NULL, nl = 0; /* deleting an absent head: only the nodes */
    for (size_t i = 0; i < n; i++)
        total += CAIRN_ADDR_LEN + 4 + lens[i];
    if (total > CAIRN_MIN(fs->log_bytes / 2, LOG_DIRECT)) {
        if (n && (rc = file_put_many(&fs->base, n, addrs, nodes, lens)) < 0)
            return rc;
        if (!name)
            return 0;
        n = 0;
        total = LOG_ENTRY_HDR + 4 + 2;
    }
    if (name)
        total += nl + 5 + (value ? len : 0);
    if (!(e = cairn_malloc(total)))
        return cairn_error_oom(&fs->base.err);
    at = LOG_ENTRY_HDR;
    cairn_put_be32(e + at, (uint32_t)n);
    at += 4;
    for (size_t i = 0; i < n; i++) {
        memcpy(e + at, addrs[i].bytes, CAIRN_ADDR_LEN);
        cairn_put_be32(e + at + CAIRN_ADDR_LEN, (uint32_t)lens[i]);
        memcpy(e + at + CAIRN_ADDR_LEN + 4, nodes[i], lens[i]);
        at += CAIRN_ADDR_LEN + 4 + lens[i];
    }
    e[at] = (uint8_t)(nl >> 8);
    e[at + 1] = (uint8_t)nl;
    at += 2;
    if (name) {
        memcpy(e + at, name, nl);
        at += nl;
        e[at] = value ? SLOT_VALUE : SLOT_TOMBSTONE;
        cairn_put_be32(e + at + 1, value ? (uint32_t)len : 0);
        at += 5;
        if (value && len)
            memcpy(e + at, value, len);
    }
    rc = log_append(fs, e, total, &written);
    if (written) {
        uint64_t base = fs->wend - total;
        int arc;
        pthread_mutex_lock(&fs->log_mu);
        struct lseg *g = lseg_of(fs, fs->wid);
        if (!g || (arc = log_apply(fs, g, e + LOG_ENTRY_HDR, total - LOG_ENTRY_HDR, base + LOG_ENTRY_HDR)) < 0) {
            /* in the log but not in this handle's view: stop before a commit builds on a wrong view */
            atomic_store(&fs->failed, 1);
            if (rc == 0)
                rc = cairn_error_set(&fs->base.err, CAIRN_ENOMEM, ":store/failed",
                                     "out of memory after a log append; the store refuses writes until reopened");
        } else {
            g->scanned = fs->wend;
            g->next_no = fs->wno;
        }
        pthread_mutex_unlock(&fs->log_mu);
    }
    cairn_free(e);
    return rc;
}

struct claim_sweep {
    struct file_store *fs;
    int rc;
};

/* Claims segments (a marker each) and removes markers left without one. */
static int claim_entry(const char *e, void *p)
{
    struct claim_sweep *cs = p;
    cairn_vfs *v = cs->fs->vfs;
    char n[SEQ_HEX + 16];
    int fd, rc;
    if (strlen(e) == SEQ_HEX && is_hex(e, SEQ_HEX)) {
        log_claim_name(n, sizeof n, strtoull(e, NULL, 16));
        if ((rc = v->open(v, cs->fs->logdir, n, CAIRN_VFS_CREATE, &fd)) == 0)
            v->close(v, fd);
        else if (rc != -EEXIST)
            cs->rc = rc;
    } else if (strlen(e) == SEQ_HEX + 8 && is_hex(e, SEQ_HEX) && !strcmp(e + SEQ_HEX, ".claimed")) {
        memcpy(n, e, SEQ_HEX);
        n[SEQ_HEX] = 0;
        if (v->stat(v, cs->fs->logdir, n, NULL) == -ENOENT)
            v->unlink(v, cs->fs->logdir, e);
    }
    return cs->rc != 0;
}

/*
 * Becoming the writer. Segments left by a writer that died (or that
 * ignores the lock and is still going) are claimed, read, then checkpointed
 * in id order before lock returns, so the new writer starts with an empty
 * log and a writer killed again and again leaves at most one segment. The
 * claim comes before the read: a writer still appending checks for the
 * claim after each fdatasync, so what it acknowledged was written before
 * the claim and is in what is read here.
 */
static int log_start_writer(struct file_store *fs)
{
    struct claim_sweep cs = { fs, 0 };
    int rc;
    if (fs->logdir < 0)
        return 0;
    if ((rc = fs->vfs->list(fs->vfs, fs->logdir, claim_entry, &cs)) < 0 || (rc = cs.rc) < 0)
        return io_error(&fs->base.err, rc, "claim", "log");
    pthread_mutex_lock(&fs->commit_mu);
    pthread_mutex_lock(&fs->log_mu);
    log_view_clear(fs);
    fs->wid = 0;
    fs->nsealed = 0;
    fs->ckpt_rc = 0;
    rc = log_refresh(fs);
    for (size_t i = 0; rc == 0 && i < fs->nsegs; i++)
        fs->sealed[fs->nsealed++] = fs->segs[i].id;
    pthread_mutex_unlock(&fs->log_mu);
    if (rc == 0 && fs->nsealed && (rc = check_writable(fs)) == 0)
        rc = log_drain_inline(fs);
    pthread_mutex_lock(&fs->log_mu);
    if (rc == 0)
        atomic_store(&fs->log_on, fs->log_bytes > 0);
    else
        log_view_clear(fs); /* the lock is refused; the segments stay for the next writer */
    fs->nsealed = 0;
    pthread_mutex_unlock(&fs->log_mu);
    pthread_mutex_unlock(&fs->commit_mu);
    return rc;
}

/* Giving the writer role up: seal the segment, checkpoint everything. */
static void log_stop_writer(struct file_store *fs)
{
    if (!atomic_load(&fs->log_on))
        return;
    pthread_mutex_lock(&fs->commit_mu);
    pthread_mutex_lock(&fs->log_mu);
    if (fs->wid) {
        int queued = 0;
        for (size_t j = 0; j < fs->nsealed; j++)
            queued |= fs->sealed[j] == fs->wid;
        if (!queued)
            fs->sealed[fs->nsealed++] = fs->wid;
        fs->wid = 0;
    }
    fs->ckpt_stop = 1;
    pthread_cond_broadcast(&fs->ckpt_cv);
    pthread_mutex_unlock(&fs->log_mu);
    if (fs->ckpt_running) {
        pthread_join(fs->ckpt_th, NULL);
        fs->ckpt_running = 0;
    }
    if (fs->wfd >= 0) {
        fs->vfs->close(fs->vfs, fs->wfd);
        fs->wfd = -1;
    }
    if (!atomic_load(&fs->failed) && !fs->ckpt_rc)
        log_drain_inline(fs); /* best effort: a failure leaves segments, which readers and the next writer take */
    pthread_mutex_lock(&fs->log_mu);
    atomic_store(&fs->log_on, 0);
    fs->nsealed = 0;
    fs->ckpt_rc = 0;
    fs->ckpt_stop = 0;
    log_view_clear(fs);
    pthread_mutex_unlock(&fs->log_mu);
    pthread_mutex_unlock(&fs->commit_mu);
}

/* ---- the methods: files, slots and the log together ------------------------------------ */

static int file_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    struct file_store *fs = fs_of(s);
    int rc;
    if (fs->logdir >= 0) {
        /* the view first: the writer's recent nodes are only in the log */
        pthread_mutex_lock(&fs->log_mu);
        rc = log_read_node(fs, addr, data_out, len_out);
        pthread_mutex_unlock(&fs->log_mu);
        if (rc != CAIRN_ENOTFOUND)
            return rc;
    }
    if ((rc = packs_get(fs, addr, data_out, len_out, 0)) != CAIRN_ENOTFOUND)
        return rc;
    rc = files_get(s, addr, data_out, len_out);
    if (rc == CAIRN_ENOTFOUND)
        rc = packs_get(fs, addr, data_out, len_out, 1); /* a pack this view has not read yet */
    if (rc != CAIRN_ENOTFOUND || fs->logdir < 0 || atomic_load(&fs->log_on))
        return rc;
    /* another writer's log may have it: read log/ again */
    pthread_mutex_lock(&fs->log_mu);
    if ((rc = log_refresh(fs)) == 0)
        rc = log_read_node(fs, addr, data_out, len_out);
    pthread_mutex_unlock(&fs->log_mu);
    if (rc != CAIRN_ENOTFOUND)
        return rc;
    /* a checkpoint may have moved it to its file or a pack since the first look */
    if ((rc = files_get(s, addr, data_out, len_out)) == CAIRN_ENOTFOUND)
        rc = packs_get(fs, addr, data_out, len_out, 1);
    return rc;
}

static int file_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    struct file_store *fs = fs_of(s);
    uint8_t buf[CAIRN_HEAD_MAX];
    size_t len;
    int kind, rc;
    void *p;
    if ((rc = cairn_store_check_head(s, name, 0)) < 0 || (rc = log_head_read(fs, name, &kind, buf, &len)) < 0)
        return rc;
    if (rc == 0)
        return slots_head_read(s, name, data_out, len_out);
    if (kind == SLOT_TOMBSTONE)
        return CAIRN_ENOTFOUND;
    if (!(p = cairn_store_data_alloc(len ? len : 1)))
        return cairn_error_oom(&s->err);
    memcpy(p, buf, len);
    *data_out = p;
    *len_out = len;
    return 0;
}

/* A handle that does not write the log moves heads by slots, which a present log would hide. */
static int check_no_log(struct file_store *fs)
{
    int rc = 0;
    if (fs->logdir < 0)
        return 0;
    pthread_mutex_lock(&fs->log_mu);
    if ((rc = log_refresh(fs)) == 0 && fs->nsegs)
        rc = cairn_error_set(&fs->base.err, CAIRN_EBUSY, ":store/locked",
                             "the store has a commit log being written or not yet checkpointed; only its writer "
                             "moves heads");
    pthread_mutex_unlock(&fs->log_mu);
    return rc;
}

static int file_commit(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *nodes,
                       const size_t *lens, const char *name, const void *expected, size_t expected_len,
                       const void *value, size_t len)
{
    struct file_store *fs = fs_of(s);
    int rc;
    if (atomic_load(&fs->log_on)) {
        if ((rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
            return rc;
        pthread_mutex_lock(&fs->commit_mu);
        rc = atomic_load(&fs->log_on) ? log_commit(fs, name, expected, expected_len, value, len, n, addrs, nodes, lens)
                        : 1; /* the writer role was given up meanwhile */
        pthread_mutex_unlock(&fs->commit_mu);
        if (rc <= 0)
            return rc;
    }
    if ((rc = check_no_log(fs)) < 0)
        return rc;
    return cas_with_nodes(s, name, expected, expected_len, value, len, n, addrs, nodes, lens);
}

static int file_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                         const void *data, size_t len)
{
    return file_commit(s, 0, NULL, NULL, NULL, name, expected, expected_len, data, len);
}

struct list_log {
    cairn_addr *addrs;          /* the view's nodes */
    size_t count;
};

/* Whether node addr has its file: 1, 0, or an error. */
static int file_exists(struct file_store *fs, const cairn_addr *addr)
{
    cairn_vfs *v = fs->vfs;
    char dn[3], fn[HEX_LEN - 1];
    int dir, rc;
    node_names(addr, dn, fn);
    if ((rc = v->dir_open(v, fs->nodes, dn, 0, &dir)) < 0)
        return rc == -ENOENT ? 0 : io_error(&fs->base.err, rc, "node directory", dn);
    rc = v->stat(v, dir, fn, NULL);
    v->close(v, dir);
    return rc == 0 ? 1 : rc == -ENOENT ? 0 : io_error(&fs->base.err, rc, "node", fn);
}

static int file_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
{
    struct file_store *fs = fs_of(s);
    struct list_log ll = { NULL, 0 };
    int rc = 0;
    if (fs->logdir >= 0) {
        pthread_mutex_lock(&fs->log_mu);
        if (!atomic_load(&fs->log_on))
            rc = log_refresh(fs);
        if (rc == 0 && fs->ltab.count &&
            !(ll.addrs = cairn_malloc(cairn_mul_size(fs->ltab.count, sizeof *ll.addrs))))
            rc = cairn_error_oom(&s->err);
        if (rc == 0) {
            void *e;
            for (size_t i = 0; cairn_hmap_next(&fs->ltab, &i, &e);)
                ll.addrs[ll.count++] = ((struct lnode *)e)->addr;
        }
        pthread_mutex_unlock(&fs->log_mu);
    }
    if (rc == 0 && fs->packdir >= 0) {
        pthread_mutex_lock(&fs->pack_mu);
        if ((rc = pack_refresh(fs)) == 0) {
            size_t more = 0;
            cairn_addr *a;
            for (size_t k = 0; k < fs->npk; k++)
                more += (size_t)(fs->pk[k].n - fs->pk[k].ngone);
            if (more && !(a = cairn_realloc(ll.addrs, cairn_mul_size(ll.count + more, sizeof *a)))) {
                rc = cairn_error_oom(&s->err);
            } else if (more) {
                ll.addrs = a;
                for (size_t k = 0; k < fs->npk; k++)
                    for (uint64_t i = 0; i < fs->pk[k].n; i++)
                        if (!fs->pk[k].gone || !fs->pk[k].gone[i])
                            memcpy(ll.addrs[ll.count++].bytes, fs->pk[k].idx + i * PACK_ENT, CAIRN_ADDR_LEN);
            }
        }
        pthread_mutex_unlock(&fs->pack_mu);
    }
    /* each node once: the log's and the packs' that have no file, then every file */
    if (ll.count > 1)
        qsort(ll.addrs, ll.count, sizeof *ll.addrs, pack_ent_cmp);
    for (size_t i = 0; rc == 0 && i < ll.count; i++) {
        int have = i && cairn_addr_equal(&ll.addrs[i - 1], &ll.addrs[i]) ? 1 : file_exists(fs, &ll.addrs[i]);
        rc = have < 0 ? have : have ? 0 : cb(&ll.addrs[i], payload);
    }
    cairn_free(ll.addrs);
    return rc ? rc : files_list(s, cb, payload);
}

static int file_head_list(cairn_store *s, cairn_store_name_cb cb, void *payload)
{
    struct file_store *fs = fs_of(s);
    struct name_list l = { NULL, 0, 0, 0 };
    int rc = fs->vfs->list(fs->vfs, fs->heads, collect_name, &l);
    if (rc < 0)
        rc = io_error(&s->err, rc, "list", "heads");
    if (rc == 0 && fs->logdir >= 0) {
        pthread_mutex_lock(&fs->log_mu);
        if (!atomic_load(&fs->log_on))
            rc = log_refresh(fs);
        for (size_t i = 0; rc == 0 && i < fs->nsegs; i++)
            for (size_t j = 0; j < fs->segs[i].nheads; j++)
                name_list_add(&l, fs->segs[i].heads[j].name);
        pthread_mutex_unlock(&fs->log_mu);
    }
    if (l.oom)
        rc = cairn_error_oom(&s->err);
    for (size_t i = 0; i < l.count && rc == 0; i++) {
        void *v;
        size_t n;
        int hrc = file_head_read(s, l.names[i], &v, &n);
        if (hrc == 0) {
            cairn_free(v);
            rc = cb(l.names[i], payload);
        } else if (hrc != CAIRN_ENOTFOUND) {
            rc = hrc;
        }
    }
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
            if ((rc = log_start_writer(fs)) < 0) {
                fs->vfs->close(fs->vfs, fd);
                fs->lock_fd = -1;
            }
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
        log_stop_writer(fs); /* the log is checkpointed while the lock is still held */
        fs->vfs->close(fs->vfs, fs->lock_fd);
        fs->lock_fd = -1;
    }
    pthread_mutex_unlock(&fs->lock_mu);
}

/* ---- opening and closing ---------------------------------------------------------- */

static void file_close(cairn_store *s)
{
    struct file_store *fs = fs_of(s);
    int *dirs[] = { &fs->packdir, &fs->logdir, &fs->tmp, &fs->heads, &fs->nodes, &fs->root };
    file_unlock(s);
    log_view_clear(fs);
    pack_view_clear(fs);
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(dirs); i++)
        if (*dirs[i] >= 0)
            fs->vfs->close(fs->vfs, *dirs[i]);
    pthread_mutex_destroy(&fs->lock_mu);
    pthread_mutex_destroy(&fs->log_mu);
    pthread_mutex_destroy(&fs->commit_mu);
    pthread_mutex_destroy(&fs->pack_mu);
    pthread_cond_destroy(&fs->ckpt_cv);
    cairn_free(fs);
}

static const cairn_store_methods file_methods = {
    CAIRN_STORE_METHODS_VERSION, "file", file_get, file_put_many, file_del, file_list, file_head_read,
    file_head_cas, file_head_list, file_lock, file_unlock, file_close, file_commit, file_compact,
};

static int check_version(const uint8_t *buf, size_t n, const char *path, cairn_error *err)
{
    size_t pl = strlen(VERSION_PREFIX);
    if (n == strlen(VERSION_TEXT) &&
        (!memcmp(buf, VERSION_TEXT, n) || !memcmp(buf, VERSION_TEXT_1, n) || !memcmp(buf, VERSION_TEXT_2, n)))
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
    if (e[0] == '.' || !strcmp(e, "nodes") || !strcmp(e, "heads") || !strcmp(e, "tmp") || !strcmp(e, "lock") ||
        !strcmp(e, "log") || !strcmp(e, "packs"))
        return 0;
    return 1;
}

/* Makes the layout of a new store: directories first, the version file last
 * (its presence says the store is complete). Two processes may race here. */
static int init_layout(struct file_store *fs, const char *path, cairn_error *err)
{
    static const char *const dirs[] = { "nodes", "heads", "tmp", "log", "packs" };
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
    /* a store made before the log has no log/: made here, durable with the first segment */
    if ((rc = v->dir_open(v, fs->root, "log", 1, &fs->logdir)) < 0) {
        if (rc != -EACCES && rc != -EROFS && rc != -EPERM)
            return io_error(err, rc, "open", "log");
        fs->logdir = -1; /* read-only and without log/: no writer ever logged here */
    }
    /* likewise packs/: made here, durable with the first pack */
    if ((rc = v->dir_open(v, fs->root, "packs", 1, &fs->packdir)) < 0) {
        if (rc != -EACCES && rc != -EROFS && rc != -EPERM)
            return io_error(err, rc, "open", "packs");
        fs->packdir = -1;
    }
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
    fs->root = fs->nodes = fs->heads = fs->tmp = fs->lock_fd = fs->logdir = fs->wfd = fs->packdir = -1;
    pthread_mutex_init(&fs->log_mu, NULL);
    pthread_mutex_init(&fs->pack_mu, NULL);
    pthread_mutex_init(&fs->commit_mu, NULL);
    pthread_cond_init(&fs->ckpt_cv, NULL);
    fs->keep_slots = opt->keep_slots >= 2 ? opt->keep_slots : CAIRN_FILE_KEEP_SLOTS;
    fs->sweep_age = opt->sweep_age >= 0 ? opt->sweep_age : CAIRN_FILE_SWEEP_AGE;
    fs->threads = opt->threads ? opt->threads : CAIRN_FILE_THREADS;
    if (opt->log_bytes < 0) {
        fs->log_bytes = 0;
    } else if (opt->log_bytes > 0) {
        fs->log_bytes = (uint64_t)opt->log_bytes;
    } else {
        const char *env = getenv("CAIRN_FILE_LOG_BYTES");
        fs->log_bytes = env && *env ? strtoull(env, NULL, 10) : CAIRN_FILE_LOG_BYTES;
    }
    if (fs->log_bytes && fs->log_bytes <= LOG_START)
        fs->log_bytes = LOG_START + 1; /* one entry per segment: the tests' setting */
    fs->log_chunk = CAIRN_MIN(LOG_CHUNK, (fs->log_bytes + 4095) / 4096 * 4096);
    if (opt->pack_min < 0) {
        fs->pack_min = 0;
    } else if (opt->pack_min > 0) {
        fs->pack_min = (unsigned)opt->pack_min;
    } else {
        const char *env = getenv("CAIRN_FILE_PACK_MIN");
        fs->pack_min = env && *env ? (unsigned)strtoul(env, NULL, 10) : CAIRN_FILE_PACK_MIN;
    }
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
