/*
 * Error lines, allocation helpers and progress bars of the `cairn` command.
 *
 * An error is one line on stderr, "cairn: <keyword> <message>", with the
 * Datahike-style keyword first so scripts can match it, and a non-zero exit
 * status. Commands check everything they can before they write, so a failing
 * command leaves the store as it was.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

volatile sig_atomic_t cli_sigint;

int cli_interrupted(void *ctx)
{
    (void)ctx;
    return cli_sigint != 0;
}

int cli_fail(cli *c, const cairn_error *err)
{
    (void)c;
    fflush(c->out);
    const char *kw = err->keyword[0] ? err->keyword : err->line ? ":edn/syntax" : ":error";
    if (err->line && !strstr(err->message, "line "))
        fprintf(stderr, "cairn: %s at line %d, column %d: %s\n", kw, err->line, err->column, err->message);
    else
        fprintf(stderr, "cairn: %s %s\n", kw, err->message[0] ? err->message : cairn_strerror(err->code));
    return CLI_FAIL;
}

int cli_seterr(cairn_error *err, int code, const char *keyword, const char *fmt, ...)
{
    va_list ap;
    err->code = code;
    err->line = err->column = 0;
    snprintf(err->keyword, sizeof err->keyword, "%s", keyword);
    va_start(ap, fmt);
    vsnprintf(err->message, sizeof err->message, fmt, ap);
    va_end(ap);
    return code;
}

int cli_failf(cli *c, const char *keyword, const char *fmt, ...)
{
    cairn_error err = CAIRN_ERROR_INIT;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err.message, sizeof err.message, fmt, ap);
    va_end(ap);
    snprintf(err.keyword, sizeof err.keyword, "%s", keyword);
    err.code = CAIRN_ERROR;
    return cli_fail(c, &err);
}

int cli_usage(cli *c)
{
    const cli_command *cmd = cli_command_find(c->cmd);
    if (!cmd)
        fprintf(stderr, "cairn: unknown command '%s' (try: cairn help)\n", c->cmd);
    else if (c->in_shell)
        fprintf(stderr, "usage: %s %s\n", cmd->name, cmd->args);
    else
        fprintf(stderr, "usage: cairn %s %s\n", cmd->name, cmd->args);
    return CLI_USAGE;
}

static void oom(void)
{
    fputs("cairn: out of memory\n", stderr);
    abort();
}

void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (!p)
        oom();
    return p;
}

void *xrealloc(void *p, size_t n)
{
    p = realloc(p, n ? n : 1);
    if (!p)
        oom();
    return p;
}

char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xmalloc(n), s, n);
}

cairn_val cli_kw(const char *name)
{
    cairn_val k;
    cli_check_oom(cairn_keyword(&k, name, strlen(name)));
    return k;
}

cairn_val cli_str(const char *s)
{
    cairn_val v;
    cli_check_oom(cairn_string(&v, s, strlen(s)));
    return v;
}

void cli_check_oom(int rc)
{
    if (rc == CAIRN_ENOMEM)
        oom();
}

/* ---- progress -------------------------------------------------------------------- */

double cli_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void draw(cli_progress *p, int last)
{
    double secs = cli_now() - p->started;
    double rate = secs > 0 ? (double)p->done / secs : 0;
    if (p->total) {
        int width = 30, fill;
        double frac = (double)p->done / (double)p->total;
        char bar[31];
        if (frac > 1)
            frac = 1;
        fill = (int)(frac * width);
        memset(bar, '=', (size_t)fill);
        memset(bar + fill, ' ', (size_t)(width - fill));
        bar[width] = 0;
        fprintf(stderr, "\r%s [%s] %3d%% %llu/%llu datoms, %.0f/s ", p->what, bar, (int)(frac * 100), p->done,
                p->total, rate);
    } else {
        fprintf(stderr, "\r%s %llu datoms, %.0f/s ", p->what, p->done, rate);
    }
    if (last)
        fputc('\n', stderr);
    fflush(stderr);
    p->drawn = cli_now();
}

void cli_progress_start(cli_progress *p, cli *c, const char *what, unsigned long long total)
{
    memset(p, 0, sizeof *p);
    p->c = c;
    p->what = what;
    p->total = total;
    p->started = p->drawn = cli_now();
}

void cli_progress_step(cli_progress *p, unsigned long long n)
{
    p->done += n;
    if (p->c->progress && cli_now() - p->drawn >= 0.1)
        draw(p, 0);
}

void cli_progress_end(cli_progress *p)
{
    /* only runs long enough to have been drawn get a final line */
    if (p->c->progress && p->drawn > p->started)
        draw(p, 1);
}
