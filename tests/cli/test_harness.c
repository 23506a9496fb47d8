/*
 * The CLI tests' harness (no tests here; declared in cli_run.h): running the
 * `cairn` binary from tests: pipes and a poll loop (so neither
 * side blocks on a full pipe), or forkpty for the interactive shell.
 */
#include "cli/cli_run.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "test.h"

const char *cli_bin(void)
{
    static char path[PATH_MAX];
    const char *tool = test_tool("x");   /* <build>/tools/x */
    size_t n = strlen(tool);
    snprintf(path, sizeof path, "%.*scairn", (int)(n - strlen("tools/x")), tool);
    return path;
}

static long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void append(char **buf, size_t *len, const char *data, size_t n)
{
    *buf = realloc(*buf, *len + n + 1);
    if (!*buf)
        abort();
    memcpy(*buf + *len, data, n);
    *len += n;
    (*buf)[*len] = 0;
}

/* The environment of the child: a private history file, no color. */
static void child_env(void)
{
    char hist[PATH_MAX], path[2 * PATH_MAX], *slash;
    const char *old = getenv("PATH");
    snprintf(path, sizeof path, "%s", cli_bin());
    if ((slash = strrchr(path, '/')) != NULL)
        snprintf(slash, sizeof path - (size_t)(slash - path), ":%s", old ? old : "/usr/bin:/bin");
    setenv("PATH", path, 1);
    snprintf(hist, sizeof hist, "%s/.cairn_history", test_tmpdir());
    setenv("CAIRN_HISTORY", hist, 1);
    setenv("HOME", test_tmpdir(), 1);
    unsetenv("LS_COLORS");
}

static void run(cli_result *r, const char *cwd, const char *in, const char *prog, const char *const *args);

void cli_exec(cli_result *r, const char *cwd, const char *in, const char *const *argv)
{
    const char *args[64];
    int n = 0;
    args[n++] = "cairn";
    for (; argv[n - 1] && n < 63; n++)
        args[n] = argv[n - 1];
    args[n] = NULL;
    run(r, cwd, in, cli_bin(), args);
}

void cli_sh(cli_result *r, const char *cwd, const char *script)
{
    const char *args[] = { "sh", "-c", script, NULL };
    run(r, cwd, NULL, "/bin/sh", args);
}

static void run(cli_result *r, const char *cwd, const char *in, const char *prog, const char *const *args)
{
    int pin[2], pout[2], perr[2], status;
    size_t in_len = in ? strlen(in) : 0, in_off = 0, out_len = 0, err_len = 0;
    long deadline = now_ms() + 120000;
    pid_t pid;
    memset(r, 0, sizeof *r);
    test_tmpdir();  /* made before the fork, so both sides agree */
    if (pipe(pin) || pipe(pout) || pipe(perr))
        test__fail(__FILE__, __LINE__, "pipe: %s", strerror(errno));
    if ((pid = fork()) < 0)
        test__fail(__FILE__, __LINE__, "fork: %s", strerror(errno));
    if (pid == 0) {
        dup2(pin[0], 0);
        dup2(pout[1], 1);
        dup2(perr[1], 2);
        close(pin[1]);
        close(pout[0]);
        close(perr[0]);
        child_env();
        if (cwd && chdir(cwd) != 0)
            _exit(126);
        execv(prog, (char *const *)args);
        _exit(127);
    }
    close(pin[0]);
    close(pout[1]);
    close(perr[1]);
    r->out = calloc(1, 1);
    r->err = calloc(1, 1);
    if (!in_len) {
        close(pin[1]);
        pin[1] = -1;
    } else {
        fcntl(pin[1], F_SETFL, O_NONBLOCK);
    }
    signal(SIGPIPE, SIG_IGN);
    while (pout[0] >= 0 || perr[0] >= 0) {
        struct pollfd fds[3];
        int nf = 0;
        char buf[65536];
        if (now_ms() > deadline) {
            kill(pid, SIGKILL);
            test__fail(__FILE__, __LINE__, "%s %s took over 120 s", args[0], args[1] ? args[1] : "");
        }
        if (pout[0] >= 0)
            fds[nf++] = (struct pollfd){ pout[0], POLLIN, 0 };
        if (perr[0] >= 0)
            fds[nf++] = (struct pollfd){ perr[0], POLLIN, 0 };
        if (pin[1] >= 0)
            fds[nf++] = (struct pollfd){ pin[1], POLLOUT, 0 };
        if (poll(fds, (nfds_t)nf, 1000) < 0 && errno != EINTR)
            break;
        for (int i = 0; i < nf; i++) {
            ssize_t got;
            if (!fds[i].revents)
                continue;
            if (fds[i].fd == pin[1]) {
                got = write(pin[1], in + in_off, in_len - in_off);
                if (got > 0)
                    in_off += (size_t)got;
                if (got < 0 || in_off == in_len) {
                    close(pin[1]);
                    pin[1] = -1;
                }
                continue;
            }
            got = read(fds[i].fd, buf, sizeof buf);
            if (got <= 0) {
                close(fds[i].fd);
                if (fds[i].fd == pout[0])
                    pout[0] = -1;
                else
                    perr[0] = -1;
            } else if (fds[i].fd == pout[0]) {
                append(&r->out, &out_len, buf, (size_t)got);
            } else {
                append(&r->err, &err_len, buf, (size_t)got);
            }
        }
    }
    if (pin[1] >= 0)
        close(pin[1]);
    waitpid(pid, &status, 0);
    r->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

void cli_result_free(cli_result *r)
{
    free(r->out);
    free(r->err);
    memset(r, 0, sizeof *r);
}

/* ---- pseudo-terminal ------------------------------------------------------------ */

void cli_pty_start(cli_pty *p, const char *const *argv)
{
    const char *args[32];
    struct winsize ws = { 40, 120, 0, 0 };
    int n = 0;
    memset(p, 0, sizeof *p);
    args[n++] = "cairn";
    args[n++] = "shell";
    for (; argv && argv[n - 2] && n < 31; n++)
        args[n] = argv[n - 2];
    args[n] = NULL;
    test_tmpdir();
    p->pid = forkpty(&p->fd, NULL, NULL, &ws);
    if (p->pid < 0)
        test__fail(__FILE__, __LINE__, "forkpty: %s", strerror(errno));
    if (p->pid == 0) {
        child_env();
        setenv("TERM", "vt100", 1);
        execv(cli_bin(), (char *const *)args);
        _exit(127);
    }
    p->seen = calloc(1, 1);
}

void cli_pty_type(cli_pty *p, const char *text)
{
    size_t n = strlen(text);
    while (n) {
        ssize_t w = write(p->fd, text, n);
        if (w <= 0)
            test__fail(__FILE__, __LINE__, "writing to the shell: %s", strerror(errno));
        text += w;
        n -= (size_t)w;
    }
}

void cli_pty_wait_raw(cli_pty *p, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    struct termios t;
    /* the master's termios are the slave's: the shell's line editor turns
     * ICANON off while it reads a line */
    while (tcgetattr(p->fd, &t) == 0 && (t.c_lflag & ICANON)) {
        if (now_ms() > deadline)
            test__fail(__FILE__, __LINE__, "the shell's terminal stayed in canonical mode");
        nanosleep(&(struct timespec){ 0, 2 * 1000 * 1000 }, NULL);
    }
}

size_t cli_pty_expect(cli_pty *p, size_t from, const char *want, int timeout_ms)
{
    long deadline = now_ms() + timeout_ms;
    for (;;) {
        struct pollfd fd = { p->fd, POLLIN, 0 };
        char buf[4096];
        char *hit = from <= p->len ? strstr(p->seen + from, want) : NULL;
        ssize_t got;
        if (hit)
            return (size_t)(hit - p->seen) + strlen(want);
        if (now_ms() > deadline)
            test__fail(__FILE__, __LINE__, "shell output lacks \"%s\"; it showed:\n%s", want, p->seen + from);
        if (poll(&fd, 1, 100) <= 0)
            continue;
        if ((got = read(p->fd, buf, sizeof buf)) <= 0)
            test__fail(__FILE__, __LINE__, "the shell ended; output lacks \"%s\":\n%s", want, p->seen + from);
        append(&p->seen, &p->len, buf, (size_t)got);
    }
}

static int finish(cli_pty *p, const char *retype)
{
    int status = 0;
    long deadline = now_ms() + 20000, again = now_ms() + 1000;
    for (;;) {
        char buf[4096];
        struct pollfd fd = { p->fd, POLLIN, 0 };
        pid_t w = waitpid(p->pid, &status, WNOHANG);
        if (w == p->pid)
            break;
        if (retype && now_ms() > again) {
            cli_pty_type(p, retype);
            again = now_ms() + 1000;
        }
        if (now_ms() > deadline) {
            kill(p->pid, SIGKILL);
            waitpid(p->pid, &status, 0);
            test__fail(__FILE__, __LINE__, "the shell did not exit:\n%s", p->seen);
        }
        if (poll(&fd, 1, 50) > 0) {
            ssize_t got = read(p->fd, buf, sizeof buf);
            if (got > 0)
                append(&p->seen, &p->len, buf, (size_t)got);
        }
    }
    close(p->fd);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int cli_pty_finish(cli_pty *p)
{
    return finish(p, NULL);
}

int cli_pty_finish_retyping(cli_pty *p, const char *keys)
{
    return finish(p, keys);
}

char *cli_path(const char *name)
{
    static char buf[32][1024];
    static int i;
    char *p = buf[i++ % 32];
    snprintf(p, sizeof buf[0], "%s/%s", test_tmpdir(), name);
    return p;
}

void cli_check_ok(const cli_result *r)
{
    CHECK_MSG(r->status == 0, "exit %d, stderr: %s", r->status, r->err);
}

void cli_check_fails(const cli_result *r, int status, const char *keyword)
{
    CHECK_MSG(r->status == status, "exit %d (want %d), stderr: %s", r->status, status, r->err);
    CHECK_MSG(strstr(r->err, keyword) != NULL, "stderr lacks %s: %s", keyword, r->err);
    CHECK_MSG(strchr(r->err, '\n') == r->err + strlen(r->err) - 1, "not one error line: %s", r->err);
}

char *cli_slurp(const char *path, size_t *len_out)
{
    return test_slurp(path, len_out);
}
