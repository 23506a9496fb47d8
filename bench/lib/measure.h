/*
 * Measuring: clocks, the sampling loop, contention indicators and JSON lines.
 *
 * The sampling loop is the peer's timeIt() (bench.js), so a cairn time and a
 * DataScript time mean the same thing: warm up for warmup_ms (at least one
 * call), then `samples` samples of at least sample_ms each (at least one call
 * each); a sample's figure is its mean time per call; the result is the
 * median of those means (the upper one for an even count, as bench.js), with
 * their min and max.
 *
 * Contention: the machine has 2 cores and other work runs on it, so every
 * measurement records load1 (the 1-minute load average at its end) and
 * cpu_util (process CPU time / wall time over the timed part), like the peer.
 */
#ifndef CAIRN_BENCH_MEASURE_H
#define CAIRN_BENCH_MEASURE_H

#include <stddef.h>
#include <stdint.h>

#include "canon.h"

#define BENCH_MAX_SAMPLES 64

double bench_now_ms(void);       /* monotonic clock, ms */
double bench_cpu_ms(void);       /* CPU time of this process (all threads), ms */
double bench_load1(void);        /* 1-minute load average, or -1 */
int bench_nproc(void);           /* online CPUs */
double bench_peak_rss_mb(void);  /* peak resident set of this process, MiB */

/** Median as bench.js takes it: the element at floor(n/2) of the sorted copy. */
double bench_median(const double *xs, int n);
double bench_min(const double *xs, int n);
double bench_max(const double *xs, int n);

typedef struct bench_timing_opts {
    double warmup_ms;  /* warm-up time before sampling */
    double sample_ms;  /* minimum duration of one sample */
    int samples;       /* samples (1..BENCH_MAX_SAMPLES) */
} bench_timing_opts;

typedef struct bench_timing {
    double median_ms;                      /* median of the per-call means */
    double min_ms;                         /* fastest sample mean */
    double max_ms;                         /* slowest sample mean */
    double samples_ms[BENCH_MAX_SAMPLES];  /* per-call mean of each sample */
    int nsamples;                          /* filled entries of samples_ms */
    long calls;                            /* calls made in all (warm-up included) */
    double cpu_util;                       /* CPU time / wall time while sampling */
    double load1;                          /* load average when done */
} bench_timing;

/** One timed call; returns 0 or a CAIRN_E* status (which stops the loop). */
typedef int (*bench_call)(void *payload);

/** Runs the sampling loop. @return 0, or the first failing call's status. */
int bench_time(bench_timing *out, const bench_timing_opts *opts, bench_call fn, void *payload);

/* ---- JSON lines ---------------------------------------------------------- */

/** Starts an object in s (which is cleared). */
void bench_json_begin(bench_str *s);
void bench_json_str(bench_str *s, const char *key, const char *value);
void bench_json_int(bench_str *s, const char *key, int64_t value);
/** A number with up to `digits` decimals (trailing zeros dropped); NaN is null. */
void bench_json_num(bench_str *s, const char *key, double value, int digits);
void bench_json_bool(bench_str *s, const char *key, int value);
void bench_json_null(bench_str *s, const char *key);
void bench_json_nums(bench_str *s, const char *key, const double *values, int count, int digits);
/** Adds the raw JSON text as the value of key. */
void bench_json_raw(bench_str *s, const char *key, const char *json);
/** Closes the object (no newline). */
void bench_json_end(bench_str *s);
/** Appends text as a JSON string literal. */
void bench_json_quote(bench_str *s, const char *text);

#endif
