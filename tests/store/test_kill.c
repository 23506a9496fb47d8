/*
 * Real processes, real SIGKILLs (reliability.md R1): a writer process
 * (tests/tools/store_writer.c) commits on a file store while reader
 * processes (tests/tools/store_reader.c) check every head they see; the
 * test kills the writer at random times and at deterministic points (its
 * Nth file-system call, CAIRN_CRASH_AT), then reopens the store: the head
 * must be at least the last commit the writer acknowledged on its pipe, with
 * a complete closure, and the next writer must carry on from it. The readers
 * must never see a torn or incomplete head.
 *
 * Writers take turns at the three commit paths of the file store: its
 * default commit log, a log whose small segments roll and are checkpointed
 * every few commits, and head slots.
 *
 * 200 kills here; `make soak-store` (CAIRN_TEST_SCALE) runs 1000 and more.
 */
#include "test.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "store/file.h"
#include "support/store_util.h"

struct child {
    pid_t pid;                  /* the process */
    int in;                     /* its stdin (write end), -1 when closed */
    int out;                    /* its stdout (read end) */
};

static struct child spawn(const char *tool, const char *arg1, const char *arg2, const char *crash_at,
                          const char *log_bytes)
{
    struct child c;
    int in[2], out[2];
    CHECK(pipe2(in, O_CLOEXEC) == 0 && pipe2(out, O_CLOEXEC) == 0); /* no other child inherits them */
    c.pid = fork();
    CHECK(c.pid >= 0);
    if (c.pid == 0) {
        dup2(in[0], 0);
        dup2(out[1], 1);
        close(in[0]);
        close(in[1]);
        close(out[0]);
        close(out[1]);
        if (crash_at)
            setenv("CAIRN_CRASH_AT", crash_at, 1);
        if (log_bytes)
            setenv("CAIRN_FILE_LOG_BYTES", log_bytes, 1);
        execl(test_tool(tool), tool, arg1, arg2, (char *)NULL);
        _exit(127);
    }
    close(in[0]);
    close(out[1]);
    c.in = in[1];
    c.out = out[0];
    return c;
}

/* Reads what the child wrote until it closes its end; returns the length. */
static size_t drain(int fd, char *buf, size_t cap)
{
    size_t n = 0;
    ssize_t r;
    while (n + 1 < cap && (r = read(fd, buf + n, cap - 1 - n)) != 0) {
        if (r < 0) {
            if (errno == EINTR)
                continue;
            break;
        }
        n += (size_t)r;
    }
    buf[n] = 0;
    return n;
}

/* The highest "ack SEQ" line in text (0 if none). */
static uint64_t last_ack(const char *text)
{
    uint64_t best = 0;
    for (const char *p = text; (p = strstr(p, "ack ")) != NULL; p += 4) {
        uint64_t v = strtoull(p + 4, NULL, 10);
        if (v > best)
            best = v;
    }
    return best;
}

static void sleep_us(long us)
{
    struct timespec t = { us / 1000000, (us % 1000000) * 1000 };
    nanosleep(&t, NULL);
}

void test_store_kill__a_writer_killed_anywhere_loses_no_acknowledged_commit(void)
{
    static const char *const log_modes[] = { NULL, "16384", "0" };
    char root[512], tmp[600], crash_at[32], out[1 << 16];
    struct child readers[3];
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    store_wl_seen seen = { NULL, 0, 0 };
    long kills = 200 * test_scale(), deterministic = 0, early = 0;
    uint64_t acked = 0, seq = 0;
    snprintf(root, sizeof root, "%s/store", test_tmpdir());
    CHECK_OK(store_open(&s, "file", root, &err));
    cairn_store_close(s);
    for (int i = 0; i < 3; i++)
        readers[i] = spawn("store_reader", root, NULL, NULL, NULL);
    for (long k = 0; k < kills; k++) {
        struct child w;
        int status;
        uint64_t a;
        char why[256];
        int det = (int)(k % 2);
        if (det) /* deterministic: at the Nth file-system call, anywhere in open, lock or a commit */
            snprintf(crash_at, sizeof crash_at, "%llu", (unsigned long long)(1 + test_rand_below(1200)));
        /* the commit path: the default log, a log of 16 KiB segments that
         * roll and are checkpointed every few commits, or head slots (a
         * writer that recovers the log segments of the one killed before) */
        w = spawn("store_writer", root, NULL, det ? crash_at : NULL, log_modes[(k / 2) % 3]);
        if (!det) {
            sleep_us((long)test_rand_below(45000));
            kill(w.pid, SIGKILL);
        }
        drain(w.out, out, sizeof out);
        CHECK(waitpid(w.pid, &status, 0) == w.pid);
        close(w.in);
        close(w.out);
        CHECK_MSG(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL, "writer %ld ended with status %d: %s", k,
                  status, out);
        deterministic += det;
        a = last_ack(out);
        if (a > acked)
            acked = a;
        early += a == 0;
        /* reopen: the head is at least the last acknowledged commit, complete */
        CHECK_OK(store_open(&s, "file", root, &err));
        {
            void *v;
            size_t len;
            cairn_addr commit;
            int rc = cairn_store_head_read(s, "db", &v, &len);
            if (rc == CAIRN_ENOTFOUND) {
                CHECK_MSG(acked == 0, "kill %ld: head lost, %llu acknowledged", k, (unsigned long long)acked);
            } else {
                CHECK_OK(rc);
                CHECK(store_wl_parse_head(v, len, &commit, &seq) == 0);
                cairn_free(v);
                CHECK_MSG(seq >= acked, "kill %ld: head %llu < acknowledged %llu", k, (unsigned long long)seq,
                          (unsigned long long)acked);
                rc = store_wl_verify_new(s, &commit, seq, &seen, why, sizeof why);
                CHECK_MSG(rc == 0, "kill %ld: %s", k, why);
            }
        }
        cairn_store_close(s);
    }
    /* the readers saw no torn or incomplete head */
    for (int i = 0; i < 3; i++) {
        int status;
        close(readers[i].in);
        drain(readers[i].out, out, sizeof out);
        CHECK(waitpid(readers[i].pid, &status, 0) == readers[i].pid);
        close(readers[i].out);
        CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "reader %d: %s", i, out);
        CHECK_MSG(strstr(out, "violations 0") != NULL, "reader %d: %s", i, out);
    }
    /* a writer that sweeps at once leaves no temp files of the dead ones */
    {
        cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
        opt.sweep_age = 0;
        CHECK_OK(cairn_store_file_open_with(&s, root, &opt, &err));
        CHECK_OK(cairn_store_lock(s));
        snprintf(tmp, sizeof tmp, "%s/tmp", root);
        CHECK_EQ(store_count_files(tmp, ""), 0);
        cairn_store_close(s);
    }
    fprintf(stderr, "kills %ld (%ld deterministic, %ld before any ack), head seq %llu, acked %llu\n", kills,
            deterministic, early, (unsigned long long)seq, (unsigned long long)acked);
    CHECK(seq > 20);
    store_wl_seen_dispose(&seen);
}
