/*
 * The answer checker of the benchmark harness: the canonical answer form of
 * ../shared/bench/README.md, so a cairn answer can be compared with the
 * count and SHA-256 the DataScript peer computed for the same query.
 *
 * The rules follow canon() and resultSignature() in ../shared/bench/bench.js
 * line for line, because that code, not the README prose, made the expected
 * hashes. Where cairn has types the JS side never sees (ratios, big numbers,
 * keywords as values), the value is rendered the way DataScript's clj->js
 * would have handed it to canon(): a ratio as the number it is, a keyword
 * as its name string.
 *
 * Bench code is a client program (like the CLI): it allocates with libc and
 * exits on out-of-memory (bench_oom), so none of these functions can fail.
 */
#ifndef CAIRN_BENCH_CANON_H
#define CAIRN_BENCH_CANON_H

#include <stddef.h>

#include "cairn.h"

/** A growable, always NUL-terminated byte string. */
typedef struct bench_str {
    char *ptr;   /* the bytes, NUL-terminated once anything was appended */
    size_t len;  /* bytes used, not counting the NUL */
    size_t cap;  /* bytes allocated */
} bench_str;

#define BENCH_STR_INIT { NULL, 0, 0 }

void bench_str_add(bench_str *s, const char *bytes, size_t len);
void bench_str_adds(bench_str *s, const char *text);
void bench_str_printf(bench_str *s, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/** Detaches the bytes (caller frees with free()); s is empty afterwards. */
char *bench_str_take(bench_str *s);
void bench_str_dispose(bench_str *s);

/** Prints a message and exits: bench programs do not run on without memory. */
void bench_oom(void) __attribute__((noreturn));
void *bench_xmalloc(size_t size);
void *bench_xrealloc(void *ptr, size_t size);
char *bench_xstrdup(const char *text);

/** The signature of an answer: row count and SHA-256 of the canonical text. */
typedef struct bench_sig {
    size_t count;       /* rows (q), 1 (pull) or pulled maps (pull-many) */
    char sha256[65];    /* lower-case hex, NUL-terminated */
} bench_sig;

/** SHA-256 of bytes as 64 lower-case hex digits plus NUL. */
void bench_sha256_hex(char out[65], const void *bytes, size_t len);

/**
 * Appends the canonical text of v (canon(x, sortArrays) in bench.js):
 * integers in decimal, other numbers with 6 decimals unless whole, strings
 * JSON-quoted, collections as "[a b]" (elements sorted by their text when
 * sort_arrays), maps as "{:k v, ...}" with keys sorted and values rendered
 * with sorted arrays, nil as "nil".
 */
void bench_canon(bench_str *out, cairn_val v, int sort_arrays);

/**
 * Signature of a list of rows: sorted by byte order when sort is set, joined
 * with "\n", hashed. The rows themselves are not changed (sorting works on a
 * copy of the pointer array).
 */
void bench_sig_rows(bench_sig *out, char *const *rows, size_t count, int sort);

/** Signature of a query result (a set or vector of tuples, or a scalar). */
void bench_sig_q(bench_sig *out, cairn_val result);
/** Signature of one pulled map (or nil). */
void bench_sig_pull(bench_sig *out, cairn_val result);
/** Signature of a pull-many result, one row per map in result order. */
void bench_sig_pull_many(bench_sig *out, cairn_val result);

#endif
