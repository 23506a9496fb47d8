/*
 * The file backend beyond the conformance suite: its on-disk layout
 * (docs/format.md), version checks, temp and foreign files, path
 * confinement (reliability.md R18), damaged head slots (R5) and head fencing
 * against a writer that ignores the lock (R9).
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <string.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/alloc.h"
#include "base/common.h"
#include "store/file.h"
#include "support/store_crashfs.h"
#include "support/store_util.h"

/* Path of sub in the test's temp dir; a few stay valid at once. */
static const char *store_dir(const char *sub)
{
    static char paths[4][512];
    static int next;
    char *path = paths[next++ % 4];
    snprintf(path, sizeof paths[0], "%s/%s", test_tmpdir(), sub);
    return path;
}

static cairn_store *open_file(const char *path, const cairn_file_options *opt)
{
    cairn_store *s = NULL;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cairn_store_file_open_with(&s, path, opt, &err);
    CHECK_MSG(rc == 0, "open %s: %s", path, err.message);
    return s;
}

static void write_file(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK_MSG(fd >= 0, "create %s: %s", path, strerror(errno));
    CHECK(write(fd, data, len) == (ssize_t)len);
    close(fd);
}

/* Reads a file whole (at most cap bytes); returns its length or -1. */
static ssize_t read_path(const char *path, void *buf, size_t cap)
{
    int fd = open(path, O_RDONLY);
    ssize_t n;
    if (fd < 0)
        return -1;
    n = read(fd, buf, cap);
    close(fd);
    return n;
}

static void put_one(cairn_store *s, const void *payload, size_t len, cairn_addr *addr)
{
    cairn_store_batch *b;
    CHECK_OK(cairn_store_batch_new(&b, s));
    CHECK_OK(cairn_store_batch_add(b, payload, len, addr));
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
}

static void node_path(char *out, size_t cap, const char *root, const cairn_addr *a)
{
    char hex[2 * CAIRN_ADDR_LEN + 1];
    cairn_addr_hex(hex, a);
    snprintf(out, cap, "%s/nodes/%.2s/%s", root, hex, hex + 2);
}

void test_store_file__layout_matches_the_documented_format(void)
{
    const char *root = store_dir("layout");
    cairn_store *s = open_file(root, NULL);
    cairn_addr a, check;
    char path[1024];
    uint8_t buf[8192];
    ssize_t n;
    put_one(s, "hello", 5, &a);
    node_path(path, sizeof path, root, &a);
    n = read_path(path, buf, sizeof buf);
    CHECK_MEM(buf, (size_t)n, "\x00hello", 6);       /* frame 0x00: raw */
    cairn_addr_of(&check, buf, (size_t)n);
    CHECK(cairn_addr_equal(&check, &a));              /* named by the hash of its bytes */
    snprintf(path, sizeof path, "%s/version", root);
    n = read_path(path, buf, sizeof buf);
    CHECK_MEM(buf, (size_t)n, "cairn file store 3\n", 19);
    CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "value", 5));
    snprintf(path, sizeof path, "%s/heads/db.0000000000000001", root);
    n = read_path(path, buf, sizeof buf);
    CHECK_EQ(n, 36 + 5 + 16);
    CHECK_MEM(buf, 5, "CHD\x01\x01", 5);              /* magic, kind 1 = value */
    CHECK_EQ(cairn_get_be64(buf + 8), 1);             /* seq */
    CHECK(cairn_get_be64(buf + 16) != 0);             /* nonce */
    CHECK_EQ(cairn_get_be64(buf + 24), 0);            /* replaced nothing */
    CHECK_EQ(cairn_get_be32(buf + 32), 5);
    CHECK_MEM(buf + 36, 5, "value", 5);
    CHECK_OK(cairn_store_head_cas(s, "db", "value", 5, NULL, 0));
    snprintf(path, sizeof path, "%s/heads/db.0000000000000002", root);
    n = read_path(path, buf, sizeof buf);
    CHECK_EQ(n, 36 + 16);
    CHECK_EQ(buf[4], 2);                              /* tombstone */
    CHECK_OK(cairn_store_lock(s));
    snprintf(path, sizeof path, "%s/lock", root);
    CHECK(access(path, F_OK) == 0);
    CHECK_EQ(store_count_files(store_dir("layout/tmp"), ""), 0); /* no temp file left */
    cairn_store_close(s);
}

void test_store_file__unknown_versions_and_foreign_directories_are_refused(void)
{
    const char *root = store_dir("v");
    char path[1024];
    cairn_store *s = open_file(root, NULL);
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_store_close(s);
    snprintf(path, sizeof path, "%s/version", root);
    write_file(path, "cairn file store 1\n", 19); /* before the log: read */
    CHECK_OK(cairn_store_file_open_with(&s, root, NULL, &err));
    cairn_store_close(s);
    write_file(path, "cairn file store 2\n", 19); /* before packs: read */
    CHECK_OK(cairn_store_file_open_with(&s, root, NULL, &err));
    cairn_store_close(s);
    write_file(path, "cairn file store 4\n", 19);
    CHECK_ERR(cairn_store_file_open_with(&s, root, NULL, &err), CAIRN_EUNSUPPORTED);
    CHECK_STR(err.keyword, ":store/version");
    write_file(path, "something else\n", 15);
    CHECK_ERR(cairn_store_file_open_with(&s, root, NULL, &err), CAIRN_ECORRUPT);
    /* a directory with other things in it is not made into a store */
    root = store_dir("photos");
    mkdir(root, 0755);
    snprintf(path, sizeof path, "%s/cat.jpg", root);
    write_file(path, "jpg", 3);
    CHECK_ERR(cairn_store_file_open_with(&s, root, NULL, &err), CAIRN_EINVALID);
    CHECK_STR(err.keyword, ":store/config");
    CHECK(access(store_dir("photos/nodes"), F_OK) != 0);
    /* the config map names the problem key */
    {
        cairn_val cfg = store_config("file", "");
        CHECK_ERR(cairn_store_open(&s, cfg, &err), CAIRN_EINVALID);
        CHECK(strstr(err.message, ":path") != NULL);
        cairn_release(cfg);
    }
}

static int count_nodes(const cairn_addr *a, void *p)
{
    (void)a;
    ++*(int *)p;
    return 0;
}

static void backdate(const char *path, int seconds)
{
    struct timespec t[2];
    clock_gettime(CLOCK_REALTIME, &t[0]);
    t[0].tv_sec -= seconds;
    t[1] = t[0];
    CHECK(utimensat(AT_FDCWD, path, t, 0) == 0);
}

void test_store_file__foreign_files_are_ignored_and_old_temp_files_swept(void)
{
    const char *root = store_dir("junk");
    cairn_store *s = open_file(root, NULL), *w;
    cairn_addr a;
    char path[1024], hex[2 * CAIRN_ADDR_LEN + 1];
    int n = 0;
    void *data;
    size_t len;
    put_one(s, "node", 4, &a);
    cairn_addr_hex(hex, &a);
    /* what rsync, syncthing and editors leave next to node files */
    snprintf(path, sizeof path, "%s/nodes/%.2s/.%s.Xy12ab", root, hex, hex + 2);
    write_file(path, "partial", 7);
    snprintf(path, sizeof path, "%s/nodes/%.2s/%s.sync-conflict-20240101", root, hex, hex + 2);
    write_file(path, "other", 5);
    snprintf(path, sizeof path, "%s/nodes/zz", root);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/heads/db.0000000000000009.syncthing.tmp", root);
    write_file(path, "x", 1);
    CHECK_OK(s->methods->list(s, count_nodes, &n));
    CHECK_EQ(n, 1);
    CHECK_ERR(cairn_store_head_read(s, "db", &data, &len), CAIRN_ENOTFOUND);
    /* temp files: another writer's old one goes, a young one and our own stay */
    snprintf(path, sizeof path, "%s/tmp/00000000000000aa-0000000000000001.tmp", root);
    write_file(path, "old", 3);
    backdate(path, 3600);
    snprintf(path, sizeof path, "%s/tmp/00000000000000bb-0000000000000001.tmp", root);
    write_file(path, "young", 5);
    snprintf(path, sizeof path, "%s/tmp/not-ours.tmp", root);
    write_file(path, "foreign", 7);
    backdate(path, 3600);
    w = open_file(root, NULL);
    CHECK_OK(cairn_store_lock(w));
    CHECK_EQ(store_count_files(store_dir("junk/tmp"), "00000000000000aa"), 0);
    CHECK_EQ(store_count_files(store_dir("junk/tmp"), "00000000000000bb"), 1);
    CHECK_EQ(store_count_files(store_dir("junk/tmp"), "not-ours"), 1);
    cairn_store_close(w);
    cairn_store_close(s);
}

void test_store_file__symlinks_inside_the_store_are_never_followed(void)
{
    const char *root = store_dir("sym");
    const char *outside = store_dir("outside");
    cairn_store *s = open_file(root, NULL);
    cairn_addr a, b;
    char path[1024], target[1024], hex[2 * CAIRN_ADDR_LEN + 1];
    uint8_t frame[] = { 0x00, 's', 'e', 'c', 'r', 'e', 't' };
    void *data;
    size_t len;
    mkdir(outside, 0755);
    /* a node name that is a symlink to a file outside, holding valid bytes */
    snprintf(target, sizeof target, "%s/secret", outside);
    write_file(target, frame, sizeof frame);
    cairn_addr_of(&a, frame, sizeof frame);
    cairn_addr_hex(hex, &a);
    snprintf(path, sizeof path, "%s/nodes/%.2s", root, hex);
    mkdir(path, 0755);
    snprintf(path, sizeof path, "%s/nodes/%.2s/%s", root, hex, hex + 2);
    CHECK(symlink(target, path) == 0);
    CHECK_ERR(cairn_store_get_node(s, &a, &data, &len), CAIRN_ECORRUPT);
    /* a fan-out directory that is a symlink to a directory outside */
    put_one(s, "probe", 5, &b);
    cairn_addr_hex(hex, &b);
    snprintf(path, sizeof path, "%s/nodes/%.2s", root, hex);
    {
        char cmd[2200];
        snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
        CHECK(system(cmd) == 0);
    }
    CHECK(symlink(outside, path) == 0);
    CHECK_ERR(cairn_store_get_node(s, &b, &data, &len), CAIRN_ECORRUPT);
    {
        cairn_store_batch *batch;
        cairn_addr again;
        CHECK_OK(cairn_store_batch_new(&batch, s));
        CHECK_OK(cairn_store_batch_add(batch, "probe", 5, &again));
        CHECK(cairn_store_batch_commit(batch) < 0); /* refuses to write through it */
        cairn_store_batch_free(batch);
    }
    CHECK_EQ(store_count_files(outside, ""), 1); /* only "secret": nothing landed outside */
    /* a heads directory replaced by a symlink: the store does not open */
    cairn_store_close(s);
    snprintf(path, sizeof path, "%s/heads", root);
    CHECK(rmdir(path) == 0);
    CHECK(symlink(outside, path) == 0);
    {
        cairn_error err = CAIRN_ERROR_INIT;
        CHECK_ERR(cairn_store_file_open_with(&s, root, NULL, &err), CAIRN_ECORRUPT);
    }
}

static void commit_values(cairn_store *s, int from, int to)
{
    for (int i = from; i <= to; i++) {
        char prev[16], next[16];
        snprintf(prev, sizeof prev, "v%d", i - 1);
        snprintf(next, sizeof next, "v%d", i);
        CHECK_OK(cairn_store_head_cas(s, "db", i > 1 ? prev : NULL, i > 1 ? strlen(prev) : 0, next, strlen(next)));
    }
}

static void expect_head(cairn_store *s, const char *want)
{
    void *data;
    size_t len;
    int rc = cairn_store_head_read(s, "db", &data, &len);
    CHECK_MSG(rc == 0, "head_read: %s", s->err.message);
    CHECK_MEM(data, len, want, strlen(want));
    cairn_free(data);
}

void test_store_file__a_damaged_newest_slot_falls_back_to_the_one_before(void)
{
    const char *root = store_dir("torn");
    cairn_store *s = open_file(root, NULL);
    char slot3[1024], slot2[1024], slot1[1024];
    uint8_t good[256];
    ssize_t n;
    void *data;
    size_t len;
    commit_values(s, 1, 3);
    snprintf(slot3, sizeof slot3, "%s/heads/db.0000000000000003", root);
    snprintf(slot2, sizeof slot2, "%s/heads/db.0000000000000002", root);
    snprintf(slot1, sizeof slot1, "%s/heads/db.0000000000000001", root);
    n = read_path(slot3, good, sizeof good);
    CHECK(n > 0);
    /* every single-bit flip of the newest slot: the head is v2, never junk */
    for (ssize_t i = 0; i < n; i++) {
        for (int bit = 0; bit < 8; bit += 3) {
            uint8_t bad[256];
            memcpy(bad, good, (size_t)n);
            bad[i] ^= (uint8_t)(1 << bit);
            write_file(slot3, bad, (size_t)n);
            expect_head(s, "v2");
        }
    }
    /* every truncation (a torn write) */
    for (ssize_t cut = 0; cut < n; cut++) {
        write_file(slot3, good, (size_t)cut);
        expect_head(s, "v2");
    }
    /* a slot moved to another seq or another head's name is not valid there */
    write_file(slot3, good, (size_t)n);
    expect_head(s, "v3");
    {
        char other[1024];
        snprintf(other, sizeof other, "%s/heads/db.0000000000000004", root);
        write_file(other, good, (size_t)n);
        expect_head(s, "v3");
        snprintf(other, sizeof other, "%s/heads/branch.0000000000000001", root);
        write_file(other, good, (size_t)n);
        CHECK_ERR(cairn_store_head_read(s, "branch", &data, &len), CAIRN_ECORRUPT);
    }
    /* the writer builds on the intact head, above the damaged slots */
    write_file(slot3, "junk", 4);
    expect_head(s, "v2");
    CHECK_OK(cairn_store_head_cas(s, "db", "v2", 2, "v5", 2));
    expect_head(s, "v5");
    /* nothing intact at all: an error, never an empty or missing head */
    root = store_dir("allbad");
    cairn_store_close(s);
    s = open_file(root, NULL);
    commit_values(s, 1, 2);
    snprintf(slot2, sizeof slot2, "%s/heads/db.0000000000000002", root);
    snprintf(slot1, sizeof slot1, "%s/heads/db.0000000000000001", root);
    write_file(slot1, "", 0);
    write_file(slot2, "x", 1);
    CHECK_ERR(cairn_store_head_read(s, "db", &data, &len), CAIRN_ECORRUPT);
    CHECK_ERR(cairn_store_head_cas(s, "db", NULL, 0, "v", 1), CAIRN_ECORRUPT);
    cairn_store_close(s);
}

void test_store_file__the_writer_keeps_the_last_eight_slots(void)
{
    const char *root = store_dir("prune");
    cairn_store *s = open_file(root, NULL);
    commit_values(s, 1, 30);
    CHECK_EQ(store_count_files(store_dir("prune/heads"), "db."), CAIRN_FILE_KEEP_SLOTS);
    expect_head(s, "v30");
    cairn_store_close(s);
}

struct race {
    cairn_store *other;         /* the writer that moves the head meanwhile */
    int moves;                  /* how many commits it makes */
    int next;                   /* value counter */
    char cur[32];               /* the head after its moves */
};

static void race_hook(void *p, const char *head)
{
    struct race *r = p;
    for (int i = 0; i < r->moves; i++) {
        char next[32];
        snprintf(next, sizeof next, "v%d", ++r->next);
        CHECK_OK(cairn_store_head_cas(r->other, head, r->cur, strlen(r->cur), next, strlen(next)));
        snprintf(r->cur, sizeof r->cur, "%s", next);
    }
    r->moves = 0; /* once per compare-and-set */
}

void test_store_file__a_stalled_writer_that_ignores_the_lock_cannot_clobber_the_head(void)
{
    const char *root = store_dir("race");
    struct race r;
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_store *a, *b;
    static const int moves[] = { 0, 0, 1, 2, 7, 8, 9, 10, 16 }; /* around the 8 kept slots */
    long races = 100 * test_scale(), lost = 0, spurious = 0;
    opt.race_hook = race_hook;
    opt.race_payload = &r;
    memset(&r, 0, sizeof r);
    a = open_file(root, &opt);
    b = open_file(root, NULL);
    r.other = b;
    snprintf(r.cur, sizeof r.cur, "v0");
    CHECK_OK(cairn_store_head_cas(b, "db", NULL, 0, "v0", 2));
    for (long i = 0; i < races; i++) {
        char mine[32], old[32];
        int rc;
        snprintf(old, sizeof old, "%s", r.cur);
        snprintf(mine, sizeof mine, "a%ld", i);
        /* a read the head as old; b moves it 0-16 times (pruning past a's
         * target seq from 9 moves on) before a links its slot */
        r.moves = moves[test_rand_below(CAIRN_ARRAY_LEN(moves))];
        rc = cairn_store_head_cas(a, "db", old, strlen(old), mine, strlen(mine));
        if (r.moves == 0 && strcmp(r.cur, old) == 0) {
            /* nobody moved: a must win (no spurious conflict) */
            spurious += rc != 0;
            if (rc == 0)
                snprintf(r.cur, sizeof r.cur, "%s", mine);
        } else {
            lost += rc != CAIRN_ECONFLICT;
        }
        expect_head(a, r.cur); /* the head is always the last winner's */
    }
    CHECK_EQ(lost, 0);
    CHECK_EQ(spurious, 0);
    CHECK(store_count_files(store_dir("race/heads"), "db.") <= CAIRN_FILE_KEEP_SLOTS + 1);
    cairn_store_close(a);
    cairn_store_close(b);
}

/* ---- the commit log (file.c, "the commit log"; docs/format.md) ------------------------- */

/* The id of the only segment in root's log/ (0 if none or several). */
static uint64_t only_segment(const char *root)
{
    char path[700];
    uint64_t id = 0;
    int n = 0;
    DIR *d;
    struct dirent *e;
    snprintf(path, sizeof path, "%s/log", root);
    CHECK((d = opendir(path)) != NULL);
    while (d && (e = readdir(d)) != NULL)
        if (strlen(e->d_name) == 16 && strspn(e->d_name, "0123456789abcdef") == 16) {
            id = strtoull(e->d_name, NULL, 16);
            n++;
        }
    if (d)
        closedir(d);
    return n == 1 ? id : 0;
}

static int count_segments(const char *root)
{
    char path[700];
    snprintf(path, sizeof path, "%s/log", root);
    return store_count_files(path, "0");
}

void test_store_file__the_writer_commits_to_the_log_and_checkpoints_it_to_files(void)
{
    const char *root = store_dir("log");
    cairn_store *w = open_file(root, NULL), *r, *other;
    cairn_store_batch *b;
    cairn_addr a, sum;
    uint8_t buf[16384];
    char path[1024];
    void *v;
    size_t len;
    ssize_t n;
    uint32_t plen;
    uint64_t seg;
    CHECK_OK(cairn_store_lock(w));
    CHECK_OK(cairn_store_batch_new(&b, w));
    CHECK_OK(cairn_store_batch_add(b, "hello", 5, &a));
    CHECK_OK(cairn_store_batch_commit_head(b, "db", NULL, 0, "v1", 2));
    cairn_store_batch_free(b);

    /* the segment: header, then one entry holding the node and the head.
     * The first segment of an empty log/ is numbered by the clock (in
     * microseconds), never from 1 again */
    seg = only_segment(root);
    CHECK(seg > 1000000000000000ull);
    snprintf(path, sizeof path, "%s/log/%016llx", root, (unsigned long long)seg);
    n = read_path(path, buf, sizeof buf);
    CHECK(n >= 4096 + 40);
    CHECK_MEM(buf, 8, "CLOGSEG\x01", 8);
    CHECK_EQ(cairn_get_be64(buf + 8), seg);
    cairn_addr_of(&sum, buf, 16);
    CHECK_MEM(buf + 16, 16, sum.bytes, 16);
    CHECK_MEM(buf + 4096 + 16, 4, "CLE\x01", 4);
    plen = cairn_get_be32(buf + 4096 + 20);
    CHECK_EQ(cairn_get_be64(buf + 4096 + 24), seg); /* segment */
    CHECK_EQ(cairn_get_be64(buf + 4096 + 32), 1); /* entry number */
    cairn_addr_of(&sum, buf + 4096 + 16, 24 + plen);
    CHECK_MEM(buf + 4096, 16, sum.bytes, 16);
    CHECK_EQ(cairn_get_be32(buf + 4096 + 40), 1); /* one node */
    CHECK_MEM(buf + 4096 + 44, 16, a.bytes, 16);
    CHECK_EQ(cairn_get_be32(buf + 4096 + 60), 6);  /* its stored frame: 0x00 "hello" */
    CHECK_MEM(buf + 4096 + 70, 2, "\x00\x02", 2);  /* head name length */
    CHECK_MEM(buf + 4096 + 72, 2, "db", 2);
    CHECK_EQ(buf[4096 + 74], 1);                   /* a value */
    CHECK_EQ(cairn_get_be32(buf + 4096 + 75), 2);
    CHECK_MEM(buf + 4096 + 79, 2, "v1", 2);
    CHECK_EQ(plen, 41);                            /* 4 + 16 + 4 + 6, 2 + 2, 1 + 4 + 2 */
    CHECK(buf[4096 + 81] == 0);                    /* zeros after the last entry */
    node_path(path, sizeof path, root, &a);
    CHECK(access(path, F_OK) != 0);                /* no node file yet */

    /* another handle reads the head and the node from the log */
    r = open_file(root, NULL);
    CHECK_OK(cairn_store_head_read(r, "db", &v, &len));
    CHECK_MEM(v, len, "v1", 2);
    cairn_free(v);
    CHECK_OK(cairn_store_get_node(r, &a, &v, &len));
    CHECK_MEM(v, len, "hello", 5);
    cairn_free(v);
    /* and may not move heads by slots while the log is there */
    other = open_file(root, NULL);
    CHECK_ERR(cairn_store_head_cas(other, "db", "v1", 2, "x", 1), CAIRN_EBUSY);
    CHECK_STR(other->err.keyword, ":store/locked");
    CHECK_ERR(cairn_store_lock(other), CAIRN_EBUSY);
    /* a head moved twice more, deleted, made again: the reader follows */
    CHECK_OK(cairn_store_head_cas(w, "db", "v1", 2, "v2", 2));
    CHECK_OK(cairn_store_head_cas(w, "tmp", NULL, 0, "t", 1));
    CHECK_OK(cairn_store_head_cas(w, "tmp", "t", 1, NULL, 0));
    CHECK_ERR(cairn_store_head_read(r, "tmp", &v, &len), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_store_head_read(r, "db", &v, &len));
    CHECK_MEM(v, len, "v2", 2);
    cairn_free(v);
    CHECK_ERR(cairn_store_head_cas(w, "db", "v1", 2, "v3", 2), CAIRN_ECONFLICT);

    /* giving the lock up checkpoints: node file, slot, no segment left */
    cairn_store_close(w);
    CHECK_EQ(count_segments(root), 0);
    CHECK(access(path, F_OK) == 0);
    snprintf(path, sizeof path, "%s/version", root);
    n = read_path(path, buf, sizeof buf);
    CHECK_MEM(buf, (size_t)n, "cairn file store 3\n", 19);
    CHECK_OK(cairn_store_head_read(r, "db", &v, &len));
    CHECK_MEM(v, len, "v2", 2);
    cairn_free(v);
    CHECK_ERR(cairn_store_head_read(r, "tmp", &v, &len), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_store_head_cas(other, "db", "v2", 2, "v4", 2)); /* slots again */
    cairn_store_close(other);
    cairn_store_close(r);
}

struct log_reader {
    cairn_store *s;             /* the reader's own handle */
    _Atomic int *done;          /* the writer finished */
    long reads;                 /* heads checked */
    char why[300];              /* the first failure, or "" */
};

static void *log_reader_main(void *p)
{
    struct log_reader *lr = p;
    cairn_store *s = lr->s;
    uint64_t last = 0;
    while (!atomic_load(lr->done)) {
        uint64_t seq;
        char why[256];
        int rc = store_wl_check_head(s, "db", 3, &seq, NULL, why, sizeof why);
        if (rc == CAIRN_ENOTFOUND && last == 0)
            continue;
        if (rc < 0 || seq < last) {
            snprintf(lr->why, sizeof lr->why, "%s", rc < 0 ? why : "head went backwards");
            break;
        }
        last = seq;
        lr->reads++;
    }
    return NULL;
}

/* Readers in their own handles follow a writer whose 64 KiB segments roll
 * and are checkpointed on the checkpoint thread while they read (TSan runs
 * this one). */
void test_store_file__concurrent_readers_follow_a_log_that_rolls_and_checkpoints(void)
{
    const char *root = store_dir("logconc");
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    struct log_reader lr[2];
    pthread_t th[2];
    _Atomic int done = 0;
    cairn_store *w, *r;
    store_wl wl;
    uint64_t seq;
    char why[256];
    int commits = 150 * (int)test_scale();
    opt.log_bytes = 64 << 10;
    opt.threads = 4;
    w = open_file(root, &opt);
    CHECK_OK(store_wl_init(&wl, w, "db", 5));
    wl.node_len_max = 3000;
    CHECK_OK(cairn_store_lock(w));
    for (int i = 0; i < 2; i++) {
        memset(&lr[i], 0, sizeof lr[i]);
        lr[i].s = open_file(root, NULL); /* here: CHECK is not for other threads */
        lr[i].done = &done;
        CHECK(pthread_create(&th[i], NULL, log_reader_main, &lr[i]) == 0);
    }
    for (int i = 0; i < commits; i++) {
        CHECK_OK(store_wl_commit(&wl, w, NULL));
        if (i == commits / 2)
            CHECK(count_segments(root) >= 1);
    }
    atomic_store(&done, 1);
    for (int i = 0; i < 2; i++) {
        pthread_join(th[i], NULL);
        CHECK_MSG(lr[i].why[0] == 0, "reader %d: %s", i, lr[i].why);
        CHECK(lr[i].reads > 0);
        cairn_store_close(lr[i].s);
    }
    cairn_store_close(w);
    CHECK_EQ(count_segments(root), 0);
    r = open_file(root, NULL);
    CHECK_OK(store_wl_check_head(r, "db", 0, &seq, NULL, why, sizeof why));
    CHECK_EQ(seq, (uint64_t)commits);
    cairn_store_close(r);
}

/* Two handles on the simulated file system, whose lock() always succeeds:
 * the second is a writer that ignores the lock (reliability.md R9). */
static cairn_store *open_on_crashfs(crashfs *fs)
{
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    opt.vfs = crashfs_vfs(fs);
    opt.threads = 1;
    opt.log_bytes = 1 << 20;
    return open_file("/store", &opt);
}

static uint64_t complete_head(crashfs *fs)
{
    cairn_store *r = open_on_crashfs(fs);
    uint64_t seq = 0;
    char why[256];
    int rc = store_wl_check_head(r, "db", 0, &seq, NULL, why, sizeof why);
    CHECK_MSG(rc == 0, "head: %s", why);
    cairn_store_close(r);
    return seq;
}

void test_store_file__a_writer_that_ignores_the_lock_is_fenced_by_the_log(void)
{
    /* 1. b takes the store over while a has a segment: a's next commit is
     * refused, and every commit a acknowledged is in b's head */
    crashfs *fs = crashfs_new();
    cairn_store *a = open_on_crashfs(fs), *b;
    store_wl wa, wb;
    CHECK_OK(store_wl_init(&wa, a, "db", 1));
    CHECK_OK(cairn_store_lock(a));
    CHECK_OK(store_wl_commit(&wa, a, NULL));
    CHECK_OK(store_wl_commit(&wa, a, NULL));
    b = open_on_crashfs(fs);
    CHECK_OK(cairn_store_lock(b)); /* claims and checkpoints a's segment */
    CHECK_ERR(store_wl_commit(&wa, a, NULL), CAIRN_EIO);
    CHECK_STR(a->err.keyword, ":store/ambiguous");
    CHECK_ERR(store_wl_commit(&wa, a, NULL), CAIRN_EIO); /* and a stays stopped */
    CHECK_STR(a->err.keyword, ":store/failed");
    CHECK_OK(store_wl_init(&wb, b, "db", 1));
    CHECK_EQ(wb.seq, 2);
    CHECK_OK(store_wl_commit(&wb, b, NULL));
    CHECK_EQ(complete_head(fs), 3);
    cairn_store_close(a);
    cairn_store_close(b);
    crashfs_free(fs);

    /* 2. both take the lock before either has a segment: the second to
     * start one finds the first's and stops */
    fs = crashfs_new();
    a = open_on_crashfs(fs);
    b = open_on_crashfs(fs);
    CHECK_OK(store_wl_init(&wa, a, "db", 1));
    CHECK_OK(store_wl_init(&wb, b, "db", 1));
    CHECK_OK(cairn_store_lock(a));
    CHECK_OK(cairn_store_lock(b));
    CHECK_OK(store_wl_commit(&wb, b, NULL));
    CHECK_ERR(store_wl_commit(&wa, a, NULL), CAIRN_ECONFLICT);
    CHECK_OK(store_wl_commit(&wb, b, NULL));
    CHECK_EQ(complete_head(fs), 2);
    cairn_store_close(a);
    cairn_store_close(b);
    CHECK_EQ(complete_head(fs), 2);
    crashfs_free(fs);
}

/* A segment whose entry is intact (its checksum holds) but says more than it
 * holds is corruption, reported as such; an entry cut short or not yet
 * written just ends the segment. */
void test_store_file__a_malformed_log_entry_is_corruption_and_a_torn_one_ends_the_log(void)
{
    const char *root = store_dir("badlog");
    cairn_store *s = open_file(root, NULL);
    uint8_t seg[4096 + 64];
    cairn_addr sum;
    char path[700];
    void *v;
    size_t len;
    CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "slot", 4));
    cairn_store_close(s);
    memset(seg, 0, sizeof seg);
    memcpy(seg, "CLOGSEG\x01", 8);
    cairn_put_be64(seg + 8, 1);
    cairn_addr_of(&sum, seg, 16);
    memcpy(seg + 16, sum.bytes, 16);
    memcpy(seg + 4096 + 16, "CLE\x01", 4);
    cairn_put_be32(seg + 4096 + 20, 6);        /* payload: 6 bytes */
    cairn_put_be64(seg + 4096 + 24, 1);
    cairn_put_be64(seg + 4096 + 32, 1);
    cairn_put_be32(seg + 4096 + 40, 5);        /* five nodes, none there */
    cairn_addr_of(&sum, seg + 4096 + 16, 24 + 6);
    memcpy(seg + 4096, sum.bytes, 16);
    snprintf(path, sizeof path, "%s/log/0000000000000001", root);
    /* torn: the checksum does not hold; the log ends before it */
    seg[4096 + 45] = 1;
    write_file(path, seg, sizeof seg);
    s = open_file(root, NULL);
    CHECK_OK(cairn_store_head_read(s, "db", &v, &len));
    CHECK_MEM(v, len, "slot", 4);
    cairn_free(v);
    cairn_store_close(s);
    /* intact but malformed */
    seg[4096 + 45] = 0;
    write_file(path, seg, sizeof seg);
    s = open_file(root, NULL);
    CHECK_ERR(cairn_store_head_read(s, "db", &v, &len), CAIRN_ECORRUPT);
    CHECK_STR(s->err.keyword, ":store/corrupt");
    cairn_store_close(s);
}

/* ---- packs ------------------------------------------------------------------------- */

static int count_cb(const cairn_addr *a, void *p)
{
    (void)a;
    (*(int *)p)++;
    return 0;
}

/* The name of the only pack in root's packs/, or "" (none, or several). */
static void only_pack(char *out, size_t cap, const char *root)
{
    char path[700];
    int n = 0;
    DIR *d;
    struct dirent *e;
    out[0] = 0;
    snprintf(path, sizeof path, "%s/packs", root);
    CHECK((d = opendir(path)) != NULL);
    while (d && (e = readdir(d)) != NULL)
        if (strstr(e->d_name, ".pack")) {
            snprintf(out, cap, "%s", e->d_name);
            n++;
        }
    if (d)
        closedir(d);
    if (n != 1)
        out[0] = 0;
}

/*
 * A put of many nodes writes one pack of the documented layout and no node
 * files, with a node that has a file too (not looked for); another handle
 * reads every node from it; list names each node once, also the one with two
 * copies; deleting every node removes the pack and the file; a damaged index
 * is refused as corrupt.
 */
void test_store_file__many_nodes_go_to_one_pack(void)
{
    enum { N = 40 };
    const char *root = store_dir("packs");
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_store *w, *r;
    cairn_store_batch *b;
    cairn_addr addrs[N], single;
    char payload[64], name[128], path[1024];
    static uint8_t buf[1 << 16];
    ssize_t n;
    uint64_t ioff, count;
    cairn_addr sum;
    int listed = 0;
    opt.log_bytes = -1;
    opt.pack_min = 16;
    w = open_file(root, &opt);
    put_one(w, "alone", 5, &single); /* one new node: a file */
    node_path(path, sizeof path, root, &single);
    CHECK(access(path, F_OK) == 0);
    CHECK_OK(cairn_store_batch_new(&b, w));
    CHECK_OK(cairn_store_batch_add(b, "alone", 5, &single)); /* has a file: packed all the same */
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload, "node %d of a pack", i);
        CHECK_OK(cairn_store_batch_add(b, payload, strlen(payload), &addrs[i]));
    }
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    for (int i = 0; i < N; i++) {
        node_path(path, sizeof path, root, &addrs[i]);
        CHECK(access(path, F_OK) != 0); /* no node file */
    }
    only_pack(name, sizeof name, root);
    CHECK_MSG(name[0], "want exactly one pack");
    snprintf(path, sizeof path, "%s/packs/%s", root, name);
    n = read_path(path, buf, sizeof buf);
    CHECK(n > 8 + 32);
    CHECK_MEM(buf, 8, "CRNPACK1", 8);
    CHECK_MEM(buf + n - 8, 8, "CRNPEND1", 8);
    ioff = cairn_get_be64(buf + n - 32);
    count = cairn_get_be64(buf + n - 24);
    CHECK_EQ(count, N + 1);
    CHECK_EQ(ioff + 28 * count + 32, (uint64_t)n);
    cairn_addr_of(&sum, buf + ioff, 28 * count);
    CHECK_MEM(buf + n - 16, 8, sum.bytes, 8);
    for (uint64_t i = 1; i < count; i++) /* sorted by address */
        CHECK(memcmp(buf + ioff + 28 * (i - 1), buf + ioff + 28 * i, 16) < 0);

    /* another handle: every node, and list names each node once */
    r = open_file(root, &opt);
    for (int i = 0; i < N; i++) {
        void *v;
        size_t len;
        snprintf(payload, sizeof payload, "node %d of a pack", i);
        CHECK_OK(cairn_store_get_node(r, &addrs[i], &v, &len));
        CHECK_MEM(v, len, payload, strlen(payload));
        cairn_free(v);
    }
    CHECK_OK(r->methods->list(r, count_cb, &listed));
    CHECK_EQ(listed, N + 1);

    /* delete-database's way: every node; the pack goes with its last, and
     * the node with two copies loses both */
    for (int i = 0; i <= N; i++) {
        const cairn_addr *a = i < N ? &addrs[i] : &single;
        void *v;
        size_t len;
        CHECK(access(path, F_OK) == 0);
        CHECK_OK(w->methods->del(w, a));
        CHECK_ERR(cairn_store_get_node(w, a, &v, &len), CAIRN_ENOTFOUND);
    }
    CHECK(access(path, F_OK) != 0);
    {
        char file[1024];
        node_path(file, sizeof file, root, &single);
        CHECK(access(file, F_OK) != 0);
    }
    cairn_store_close(r);

    /* a pack whose index does not match its checksum is corrupt */
    CHECK_OK(cairn_store_batch_new(&b, w));
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload, "node %d of another pack", i);
        CHECK_OK(cairn_store_batch_add(b, payload, strlen(payload), &addrs[i]));
    }
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    only_pack(name, sizeof name, root);
    snprintf(path, sizeof path, "%s/packs/%s", root, name);
    n = read_path(path, buf, sizeof buf);
    ioff = cairn_get_be64(buf + n - 32);
    buf[ioff + 20] ^= 1; /* an offset */
    write_file(path, buf, (size_t)n);
    /* and an intact pack beside it, whose nodes stay readable */
    CHECK_OK(cairn_store_batch_new(&b, w));
    for (int i = 0; i < 20; i++) {
        snprintf(payload, sizeof payload, "node %d of an intact pack", i);
        CHECK_OK(cairn_store_batch_add(b, payload, strlen(payload), &single));
    }
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    r = open_file(root, &opt);
    {
        void *v;
        size_t len;
        CHECK_OK(cairn_store_get_node(r, &single, &v, &len));
        CHECK_MEM(v, len, "node 19 of an intact pack", 25);
        cairn_free(v);
        CHECK_ERR(cairn_store_get_node(r, &addrs[0], &v, &len), CAIRN_ECORRUPT);
        CHECK_STR(r->err.keyword, ":store/corrupt");
    }
    cairn_store_close(r);
    cairn_store_close(w);
}

/* A batch that names one node twice still makes a pack that every handle
 * reads: the index holds each address once (readers refuse an index with
 * an address twice as out of order). */
void test_store_file__a_batch_with_a_node_twice_makes_a_readable_pack(void)
{
    enum { N = 20 };
    const char *root = store_dir("packtwice");
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_store *w, *r;
    cairn_store_batch *b;
    cairn_addr addrs[N], again;
    char payload[64];
    int listed = 0;
    opt.log_bytes = -1;
    opt.pack_min = 16;
    w = open_file(root, &opt);
    CHECK_OK(cairn_store_batch_new(&b, w));
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload, "node %d, maybe twice", i);
        CHECK_OK(cairn_store_batch_add(b, payload, strlen(payload), &addrs[i]));
        if (i == 7)
            CHECK_OK(cairn_store_batch_add(b, payload, strlen(payload), &again));
    }
    CHECK(cairn_addr_equal(&again, &addrs[7]));
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    r = open_file(root, &opt);
    for (int i = 0; i < N; i++) {
        void *v;
        size_t len;
        snprintf(payload, sizeof payload, "node %d, maybe twice", i);
        CHECK_OK(cairn_store_get_node(r, &addrs[i], &v, &len));
        CHECK_MEM(v, len, payload, strlen(payload));
        cairn_free(v);
    }
    CHECK_OK(r->methods->list(r, count_cb, &listed));
    CHECK_EQ(listed, N);
    cairn_store_close(r);
    cairn_store_close(w);
}

/*
 * Compaction (the compact method, after garbage collection's deletes)
 * rewrites a pack once its deleted nodes are a tenth of its node bytes or
 * more, as docs/format.md says, and leaves it alone below that: the live
 * nodes move to a new pack, readable through this handle and a new one, and
 * the deleted ones stay gone.
 */
void test_store_file__compaction_rewrites_a_pack_once_a_tenth_of_it_is_deleted(void)
{
    enum { N = 40 };
    const char *root = store_dir("compact");
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_store *w, *r;
    cairn_store_batch *b;
    cairn_addr addrs[N];
    char payload[64], first[128], name[128];
    int listed = 0;
    opt.log_bytes = -1;
    opt.pack_min = 16;
    w = open_file(root, &opt);
    CHECK_OK(cairn_store_batch_new(&b, w));
    for (int i = 0; i < N; i++) {
        snprintf(payload, sizeof payload, "node %02d of a pack", i); /* all one length */
        CHECK_OK(cairn_store_batch_add(b, payload, strlen(payload), &addrs[i]));
    }
    CHECK_OK(cairn_store_batch_commit(b));
    cairn_store_batch_free(b);
    only_pack(first, sizeof first, root);
    CHECK_MSG(first[0], "want exactly one pack");
    /* 3 of 40 deleted: 7.5%, the pack stays */
    for (int i = 0; i < 3; i++)
        CHECK_OK(w->methods->del(w, &addrs[i]));
    CHECK_OK(w->methods->compact(w));
    only_pack(name, sizeof name, root);
    CHECK_STR(name, first);
    /* 4 of 40: 10%, rewritten */
    CHECK_OK(w->methods->del(w, &addrs[3]));
    CHECK_OK(w->methods->compact(w));
    only_pack(name, sizeof name, root);
    CHECK_MSG(name[0] && strcmp(name, first) != 0, "want one new pack, have \"%s\"", name);
    r = open_file(root, &opt);
    for (int i = 0; i < N; i++) {
        cairn_store *s = i % 2 ? r : w;
        void *v;
        size_t len;
        int rc = cairn_store_get_node(s, &addrs[i], &v, &len);
        if (i < 4) {
            CHECK_ERR(rc, CAIRN_ENOTFOUND);
            continue;
        }
        CHECK_OK(rc);
        snprintf(payload, sizeof payload, "node %02d of a pack", i);
        CHECK_MEM(v, len, payload, strlen(payload));
        cairn_free(v);
    }
    CHECK_OK(r->methods->list(r, count_cb, &listed));
    CHECK_EQ(listed, N - 4);
    cairn_store_close(r);
    cairn_store_close(w);
}
