/*
 * Parallel loops: a fixed amount of independent work spread over a few
 * short-lived threads, the caller's own included.
 */
#ifndef CAIRN_BASE_PAR_H
#define CAIRN_BASE_PAR_H

#include <stddef.h>

/* One item of parallel work: 0 or a negative code. Runs on any thread: it
 * must touch nothing shared but what its item owns. */
typedef int (*cairn_job_fn)(void *ctx, size_t i);

/*
 * Runs fn(ctx, i) for every i in [0, count) on up to `threads` threads, this
 * one included, items handed out in order; stops handing out items at the
 * first failure and returns that code with its item in *failed_out (which
 * may be NULL), or 0. With fewer than 2 items per thread it uses fewer
 * threads; when a thread cannot be started, the others do its share.
 */
int cairn_parallel_for(unsigned threads, size_t count, cairn_job_fn fn, void *ctx, size_t *failed_out);

/* Processors online (at least 1), read once, or what a test set. */
unsigned cairn_cpu_count(void);

/* Tests: makes cairn_cpu_count() return n (0: the machine's count again), so
 * that both the threaded and the one-thread paths run on any machine. */
void cairn__cpu_count_set(unsigned n);

#endif
