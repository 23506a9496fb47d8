/* Real processes on one file store: a writer killed with SIGKILL at random
 * points, and readers in other processes while a writer commits. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "test.h"
#include "support/db_check.h"

static char *store_path(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/store", test_tmpdir());
    return path;
}

static cairn_val cfg_for(const char *path)
{
    char text[4200];
    cairn_val v;
    snprintf(text, sizeof text, "{:store {:backend :file :path \"%s\"}}", path);
    if (cairn_edn_read(&v, text, strlen(text), NULL, NULL) != 0)
        test__fail(__FILE__, __LINE__, "config");
    return v;
}

static void create_store(const char *path)
{
    cairn_val cfg = cfg_for(path);
    cairn_conn *c;
    cairn_error err = CAIRN_ERROR_INIT;
    CHECK_OK(cairn_create_database(cfg, &err));
    CHECK_OK(cairn_connect(&c, cfg, &err));
    CHECK_OK(cairn_transact_edn(NULL, c, DBCHECK_SCHEMA, strlen(DBCHECK_SCHEMA), &err));
    cairn_conn_release(c);
    cairn_release(cfg);
}

/* Starts a tool with stdout on a pipe; returns its pid, *fd the read end. */
static pid_t spawn(int *fd, char *const argv[])
{
    int p[2];
    pid_t pid;
    if (pipe(p) != 0)
        return -1;
    pid = fork();
    if (pid == 0) {
        dup2(p[1], 1);
        close(p[0]);
        close(p[1]);
        execv(argv[0], argv);
        _exit(127);
    }
    close(p[1]);
    *fd = p[0];
    return pid;
}

/* Reads all of fd into a buffer (the acks), until EOF. */
static char *slurp(int fd)
{
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    for (;;) {
        ssize_t n;
        if (len + 1024 > cap)
            buf = realloc(buf, cap *= 2);
        n = read(fd, buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        len += (size_t)n;
    }
    buf[len] = 0;
    close(fd);
    return buf;
}

static int64_t check_store(const char *path, const char *acks, int64_t *acked_total)
{
    cairn_val cfg = cfg_for(path);
    cairn_conn *c;
    cairn_db *db;
    dbcheck_result r;
    size_t have_len = 1 << 20;
    uint8_t *have = calloc(have_len, 1);
    cairn_error err = CAIRN_ERROR_INIT;
    CHECK_OK(cairn_connect(&c, cfg, &err));
    CHECK_OK(cairn_conn_db(&db, c, &err));
    CHECK_MSG(dbcheck_snapshot(&r, db, have, have_len) == 0, "after a kill: %s", r.problem);
    for (const char *p = acks; (p = strstr(p, "ack ")) != NULL; p += 4) {
        long k = atol(p + 4);
        CHECK_MSG(k >= 0 && (size_t)k < have_len && have[k], "acknowledged batch %ld is missing", k);
        (*acked_total)++;
    }
    free(have);
    cairn_db_release(db);
    cairn_conn_release(c);
    cairn_release(cfg);
    return r.max_batch;
}

void test_db_process__kill9_writer_never_loses_an_acknowledged_transaction(void)
{
    const char *path = store_path();
    int kills = 200 * (int)test_scale(), completed = 0;
    int64_t next = 1, acked = 0;
    char *writer = strdup(test_tool("db_writer"));
    create_store(path);
    for (int i = 0; i < kills; i++) {
        char count[32], first[32];
        char *argv[] = { writer, (char *)path, "4", count, first, NULL };
        int fd, status;
        pid_t pid;
        char *acks;
        snprintf(count, sizeof count, "%d", 50);
        snprintf(first, sizeof first, "%lld", (long long)next);
        pid = spawn(&fd, argv);
        CHECK(pid > 0);
        /* kill at a random point: from before it opened the store to well into its run */
        {
            struct timespec ts = { 0, (long)test_rand_below(150000) * 1000L };
            nanosleep(&ts, NULL);
        }
        kill(pid, SIGKILL);
        acks = slurp(fd);
        waitpid(pid, &status, 0);
        if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
            completed++;
        CHECK_MSG(!(WIFEXITED(status) && WEXITSTATUS(status) != 0), "writer failed with status %d: %s",
                  WEXITSTATUS(status), acks);
        next = check_store(path, acks, &acked) + 1;
        free(acks);
    }
    printf("%d kills, %lld acknowledged batches verified, %d runs finished before the kill\n", kills,
           (long long)acked, completed);
    CHECK(acked > 0);
    free(writer);
}

void test_db_process__readers_in_other_processes_see_only_consistent_snapshots(void)
{
    const char *path = store_path();
    char *writer = strdup(test_tool("db_writer")), *reader = strdup(test_tool("db_reader"));
    char *wargv[] = { writer, (char *)path, "4", "400", "1", NULL };
    char *rargv[] = { reader, (char *)path, "3000", NULL };
    int wfd, rfd[4], status;
    pid_t w, r[4];
    char *acks;
    create_store(path);
    for (int i = 0; i < 4; i++)
        CHECK((r[i] = spawn(&rfd[i], rargv)) > 0);
    CHECK((w = spawn(&wfd, wargv)) > 0);
    acks = slurp(wfd);
    waitpid(w, &status, 0);
    CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    for (int i = 0; i < 4; i++) {
        char *out = slurp(rfd[i]);
        waitpid(r[i], &status, 0);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d: %s", i, out);
        CHECK_MSG(strstr(out, "snapshots ") != NULL, "reader %d: %s", i, out);
        printf("reader %d: %s", i, out);
        free(out);
    }
    {
        int64_t acked = 0;
        check_store(path, acks, &acked);
        CHECK_EQ(acked, 400);
    }
    free(acks);
    free(writer);
    free(reader);
}
