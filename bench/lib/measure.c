/*
 * Clocks, the sampling loop and JSON lines (measure.h).
 */
#include "measure.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

double bench_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double bench_cpu_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

double bench_load1(void)
{
    double l[1];
    return getloadavg(l, 1) == 1 ? l[0] : -1;
}

int bench_nproc(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int)n : 1;
}

double bench_peak_rss_mb(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_maxrss / 1024.0;   /* ru_maxrss is in KiB on Linux */
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_median(const double *xs, int n)
{
    double sorted[BENCH_MAX_SAMPLES], m;
    double *s = n <= BENCH_MAX_SAMPLES ? sorted : bench_xmalloc((size_t)n * sizeof *s);
    if (n <= 0)
        return NAN;
    memcpy(s, xs, (size_t)n * sizeof *s);
    qsort(s, (size_t)n, sizeof *s, cmp_double);
    m = s[n / 2];
    if (s != sorted)
        free(s);
    return m;
}

double bench_min(const double *xs, int n)
{
    double m = n > 0 ? xs[0] : NAN;
    for (int i = 1; i < n; i++)
        m = xs[i] < m ? xs[i] : m;
    return m;
}

double bench_max(const double *xs, int n)
{
    double m = n > 0 ? xs[0] : NAN;
    for (int i = 1; i < n; i++)
        m = xs[i] > m ? xs[i] : m;
    return m;
}

int bench_time(bench_timing *out, const bench_timing_opts *opts, bench_call fn, void *payload)
{
    double t0 = bench_now_ms(), w0, c0;
    int samples = opts->samples < 1 ? 1 : opts->samples > BENCH_MAX_SAMPLES ? BENCH_MAX_SAMPLES : opts->samples;
    int rc;
    memset(out, 0, sizeof *out);
    do {
        if ((rc = fn(payload)) != 0)
            return rc;
        out->calls++;
    } while (bench_now_ms() - t0 < opts->warmup_ms);
    w0 = bench_now_ms();
    c0 = bench_cpu_ms();
    for (int s = 0; s < samples; s++) {
        double st = bench_now_ms(), el;
        long it = 0;
        do {
            if ((rc = fn(payload)) != 0)
                return rc;
            it++;
            el = bench_now_ms() - st;
        } while (el < opts->sample_ms);
        out->calls += it;
        out->samples_ms[out->nsamples++] = el / (double)it;
    }
    out->cpu_util = (bench_cpu_ms() - c0) / (bench_now_ms() - w0);
    out->load1 = bench_load1();
    out->median_ms = bench_median(out->samples_ms, out->nsamples);
    out->min_ms = bench_min(out->samples_ms, out->nsamples);
    out->max_ms = bench_max(out->samples_ms, out->nsamples);
    return 0;
}

/* ---- JSON ------------------------------------------------------------------ */

void bench_json_quote(bench_str *s, const char *text)
{
    bench_str_add(s, "\"", 1);
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (*p == '"' || *p == '\\')
            bench_str_printf(s, "\\%c", *p);
        else if (*p < 0x20)
            bench_str_printf(s, "\\u%04x", *p);
        else
            bench_str_add(s, (const char *)p, 1);
    }
    bench_str_add(s, "\"", 1);
}

static void key(bench_str *s, const char *k)
{
    if (s->len > 1)
        bench_str_add(s, ",", 1);
    bench_json_quote(s, k);
    bench_str_add(s, ":", 1);
}

void bench_json_begin(bench_str *s)
{
    s->len = 0;
    bench_str_add(s, "{", 1);
}

void bench_json_str(bench_str *s, const char *k, const char *value)
{
    key(s, k);
    bench_json_quote(s, value);
}

void bench_json_int(bench_str *s, const char *k, int64_t value)
{
    key(s, k);
    bench_str_printf(s, "%lld", (long long)value);
}

static void number(bench_str *s, double value, int digits)
{
    char buf[64];
    if (!isfinite(value)) {
        bench_str_adds(s, "null");
        return;
    }
    snprintf(buf, sizeof buf, "%.*f", digits, value);
    if (strchr(buf, '.')) {
        char *end = buf + strlen(buf) - 1;
        while (*end == '0')
            *end-- = '\0';
        if (*end == '.')
            *end = '\0';
    }
    bench_str_adds(s, strcmp(buf, "-0") ? buf : "0");
}

void bench_json_num(bench_str *s, const char *k, double value, int digits)
{
    key(s, k);
    number(s, value, digits);
}

void bench_json_bool(bench_str *s, const char *k, int value)
{
    key(s, k);
    bench_str_adds(s, value ? "true" : "false");
}

void bench_json_null(bench_str *s, const char *k)
{
    key(s, k);
    bench_str_adds(s, "null");
}

void bench_json_nums(bench_str *s, const char *k, const double *values, int count, int digits)
{
    key(s, k);
    bench_str_add(s, "[", 1);
    for (int i = 0; i < count; i++) {
        if (i)
            bench_str_add(s, ",", 1);
        number(s, values[i], digits);
    }
    bench_str_add(s, "]", 1);
}

void bench_json_raw(bench_str *s, const char *k, const char *json)
{
    key(s, k);
    bench_str_adds(s, json);
}

void bench_json_end(bench_str *s)
{
    bench_str_add(s, "}", 1);
}
