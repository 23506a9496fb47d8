/*
 * The benchmark data: the people data set of ../shared/bench (generated here
 * byte for byte as bench.js writes it, so N that are not shipped, 1M and
 * 10M, need neither node nor its memory), a streaming reader of the
 * people-N.edn and graphs/ files, the facts the API-level benchmarks
 * check their answers against, and the queries-N.edn query set.
 *
 * Why generate in C: bench.js keeps all N people as JS objects and then
 * loads them into DataScript, which needs ~14 GB of heap at 1M and cannot
 * do 10M on this machine at all; the generator here streams.
 */
#ifndef CAIRN_BENCH_DATA_H
#define CAIRN_BENCH_DATA_H

#include <stdint.h>
#include <stdio.h>

#include "canon.h"

/* ---- generator --------------------------------------------------------- */

/** mulberry32, as bench.js: uint32 state, rnd() = next() / 2^32. */
typedef struct bench_rng {
    uint32_t state;  /* advanced by 0x6D2B79F5 per draw */
} bench_rng;

void bench_rng_init(bench_rng *r, uint32_t seed);
uint32_t bench_rng_next(bench_rng *r);
/** floor(rnd() * k) computed in doubles exactly as JavaScript does. */
int64_t bench_rng_int(bench_rng *r, int64_t k);

/** Appends person i's EDN line (no newline); returns the datoms it holds. */
int bench_people_line(bench_str *out, bench_rng *r, int64_t i);

/**
 * Writes people-<n>.edn for seed to path (through a temp file and rename),
 * with bench.js's header. @return 0, or -1 with errno set.
 */
int bench_people_write(const char *path, int64_t n, uint32_t seed, int64_t *datoms_out);

/* ---- reading EDN data files --------------------------------------------- */

/** A file of EDN forms read one at a time (the file is mapped). */
typedef struct bench_forms bench_forms;

/** @return 0, or -1 with a message on stderr. */
int bench_forms_open(bench_forms **out, const char *path);
/** @return 1 with *out (owned), 0 at the end; exits on a syntax error. */
int bench_forms_next(bench_forms *f, cairn_val *out);
void bench_forms_close(bench_forms *f);

/** The datoms of an entity map: one per value, one per element of a vector. */
int64_t bench_entity_datoms(cairn_val entity);

/** Reads a whole EDN file as one value; exits on error. */
cairn_val bench_read_edn_file(const char *path);

/** A keyword from text; exits on out-of-memory. */
cairn_val bench_kw(const char *text);

/* ---- the facts the API-level benchmarks check ---------------------------- */

/**
 * What entity-1000 and the datoms-* benchmarks must find, taken from the
 * data file (not from the database): bench.js's spread eids
 * 1 + floor(k * n / K) and their values.
 */
typedef struct bench_facts {
    int64_t n;             /* people */
    int64_t datoms;        /* datoms in the file */
    int64_t age_count;     /* :age datoms (the AEVT scan) */
    int64_t age_sum;       /* sum of the :age values */
    size_t entity_count;   /* K = min(1000, n) */
    int64_t *entity_eids;  /* the K spread eids */
    int64_t *entity_score; /* per eid: len(name) + age + len(email) + friends */
    size_t lookup_count;   /* L = min(2000, n) */
    int64_t *lookup_eids;  /* the L spread eids */
    char **lookup_emails;  /* their :email values */
} bench_facts;

void bench_facts_init(bench_facts *f, int64_t n);
/** Records what the facts need from one entity map (in file order). */
void bench_facts_add(bench_facts *f, cairn_val entity);
void bench_facts_dispose(bench_facts *f);

/* ---- the query set ------------------------------------------------------- */

typedef enum bench_kind { BENCH_Q, BENCH_PULL, BENCH_PULL_MANY } bench_kind;

typedef struct bench_query {
    char *id;            /* "q1", "rules-wide-3x3", ... */
    char *group;         /* "query", "rules", "aggregate", "pull" */
    char *db;            /* "people" or "graph/<name>" */
    bench_kind kind;     /* how to run it */
    cairn_val query;     /* query form or pull pattern (owned) */
    cairn_val args;      /* vector of inputs after the db (owned) */
    bench_sig expected;  /* count and SHA-256 from the peer */
} bench_query;

typedef struct bench_query_set {
    int64_t n;             /* :n */
    int64_t datoms;        /* :datoms */
    size_t count;          /* queries */
    bench_query *queries;  /* in file order */
} bench_query_set;

/** Loads queries-N.edn; exits with a message when it is malformed. */
void bench_query_set_load(bench_query_set *out, const char *path);
void bench_query_set_dispose(bench_query_set *qs);

#endif
