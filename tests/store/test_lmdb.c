/*
 * The LMDB backend beyond the conformance suite: map growth up to :max-size
 * and CAIRN_EFULL past it (reliability.md R3), the format record, stale
 * readers left by a killed process.
 */
#include "test.h"

#include <lmdb.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include "base/alloc.h"
#include "edn/value.h"
#include "store/store.h"
#include "support/store_util.h"

static cairn_val lmdb_config(const char *path, int64_t map_size, int64_t max_size)
{
    cairn_val cfg = store_config("lmdb", path), k;
    if (map_size) {
        CHECK_OK(cairn_keyword(&k, "map-size", 8));
        CHECK_OK(cairn_map_put(&cfg, k, cairn_int(map_size)));
    }
    if (max_size) {
        CHECK_OK(cairn_keyword(&k, "max-size", 8));
        CHECK_OK(cairn_map_put(&cfg, k, cairn_int(max_size)));
    }
    return cfg;
}

static void put_random(cairn_store *s, size_t len, cairn_addr *addr, int *rc_out)
{
    cairn_store_batch *b;
    uint8_t *p = malloc(len);
    for (size_t i = 0; i < len; i++)
        p[i] = (uint8_t)test_rand();
    CHECK_OK(cairn_store_batch_new(&b, s));
    CHECK_OK(cairn_store_batch_add(b, p, len, addr));
    *rc_out = cairn_store_batch_commit(b);
    cairn_store_batch_free(b);
    free(p);
}

void test_store_lmdb__the_map_grows_until_max_size_then_writes_fail_full(void)
{
    char path[512];
    cairn_val cfg;
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_addr a;
    int rc = 0, puts = 0;
    void *v;
    size_t len;
    snprintf(path, sizeof path, "%s/db", test_tmpdir());
    cfg = lmdb_config(path, 256 << 10, 4 << 20);
    CHECK_OK(cairn_store_open(&s, cfg, &err));
    CHECK_OK(cairn_store_head_cas(s, "db", NULL, 0, "v1", 2));
    /* 512 KiB nodes in a 256 KiB map: every put needs the map to grow */
    for (int i = 0; i < 3; i++) {
        put_random(s, 512 << 10, &a, &rc);
        CHECK_OK(rc);
        puts++;
    }
    while (rc == 0 && puts < 64) {
        put_random(s, 512 << 10, &a, &rc);
        puts++;
    }
    CHECK_ERR(rc, CAIRN_EFULL);
    CHECK_STR(s->err.keyword, ":store/full");
    CHECK(puts > 4 && puts < 10); /* about 4 MiB went in */
    CHECK_OK(cairn_store_head_read(s, "db", &v, &len)); /* the head is intact */
    CHECK_MEM(v, len, "v1", 2);
    cairn_free(v);
    cairn_store_close(s);
    cairn_release(cfg);
    /* reopened with more room, it takes writes again */
    cfg = lmdb_config(path, 0, 64 << 20);
    CHECK_OK(cairn_store_open(&s, cfg, &err));
    put_random(s, 512 << 10, &a, &rc);
    CHECK_OK(rc);
    CHECK_OK(cairn_store_head_cas(s, "db", "v1", 2, "v2", 2));
    cairn_store_close(s);
    cairn_release(cfg);
}

void test_store_lmdb__unknown_format_versions_are_refused(void)
{
    char path[512];
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    MDB_env *env;
    MDB_txn *txn;
    MDB_dbi meta;
    MDB_val k = { 6, "format" }, v = { 12, "cairn lmdb 7" };
    snprintf(path, sizeof path, "%s/db", test_tmpdir());
    CHECK_OK(store_open(&s, "lmdb", path, &err));
    cairn_store_close(s);
    /* no cairn environment is open in this process any more */
    CHECK(mdb_env_create(&env) == 0 && mdb_env_set_maxdbs(env, 4) == 0 && mdb_env_open(env, path, 0, 0644) == 0);
    CHECK(mdb_txn_begin(env, NULL, 0, &txn) == 0 && mdb_dbi_open(txn, "meta", 0, &meta) == 0);
    CHECK(mdb_put(txn, meta, &k, &v, 0) == 0 && mdb_txn_commit(txn) == 0);
    mdb_env_close(env);
    CHECK_ERR(store_open(&s, "lmdb", path, &err), CAIRN_EUNSUPPORTED);
    CHECK_STR(err.keyword, ":store/version");
    CHECK(strstr(err.message, "7") != NULL);
}

static int count_reader(const char *msg, void *ctx)
{
    (void)msg;
    ++*(int *)ctx;
    return 0;
}

/* In a child: opens the environment raw; mode 0 leaves a read transaction
 * open and dies by SIGKILL, mode 1 exits with the number of reader slots. */
static int raw_child(const char *path, int mode)
{
    pid_t pid = fork();
    int status;
    CHECK(pid >= 0);
    if (pid == 0) {
        MDB_env *env;
        MDB_txn *txn;
        int n = -1; /* the header line of mdb_reader_list */
        if (mdb_env_create(&env) || mdb_env_set_maxdbs(env, 4) || mdb_env_open(env, path, MDB_NOTLS, 0644))
            _exit(100);
        if (mode == 0) {
            if (mdb_txn_begin(env, NULL, MDB_RDONLY, &txn) == 0)
                raise(SIGKILL);
            _exit(101);
        }
        mdb_reader_list(env, count_reader, &n);
        _exit(n);
    }
    CHECK(waitpid(pid, &status, 0) == pid);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -WTERMSIG(status);
}

void test_store_lmdb__readers_of_killed_processes_are_cleared_by_the_writer(void)
{
    char path[512];
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    snprintf(path, sizeof path, "%s/db", test_tmpdir());
    /* the environment stays open here, so LMDB cannot reset its reader
     * table when the next process opens it */
    CHECK_OK(store_open(&s, "lmdb", path, &err));
    CHECK_EQ(raw_child(path, 0), -SIGKILL);
    CHECK_EQ(raw_child(path, 0), -SIGKILL);
    CHECK_EQ(raw_child(path, 1), 2); /* two stale reader slots */
    CHECK_OK(cairn_store_lock(s));
    CHECK_EQ(raw_child(path, 1), 0);
    cairn_store_close(s);
}
