/*
 * Shared helpers for the store tests, tools and benchmark: store configs by
 * backend name, and a small commit workload whose every head can be checked
 * for a complete, hash-valid closure (the crash, kill and concurrency tests
 * all judge a store by that).
 *
 * Workload format (test-only, not a cairn format): a commit is a batch of
 * leaf-like nodes plus a commit record node
 *
 *   "CMT1" | seq (8, BE) | previous commit address (16; zeros for none) |
 *   count (4, BE) | count node addresses (16 each)
 *
 * and the head value is the commit address (16) followed by seq (8, BE).
 * Test support allocates with libc, not the cairn seam.
 */
#ifndef CAIRN_TESTS_STORE_UTIL_H
#define CAIRN_TESTS_STORE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include "cairn.h"
#include "store/store.h"

#define STORE_HEAD_VALUE_LEN (CAIRN_ADDR_LEN + 8)

/* The backends every conformance test runs against. */
extern const char *const store_backends[];
#define STORE_BACKEND_COUNT 4

/* {:backend :<backend> :path "<path>"} (mem: :id "<path>"); release it. */
cairn_val store_config(const char *backend, const char *path);
/* Opens backend on path; 0 or a cairn status (err filled). */
int store_open(cairn_store **out, const char *backend, const char *path, cairn_error *err);

/* Entries of directory dir whose names start with prefix and not with '.'
 * ("" counts all such); -1 if dir cannot be opened. */
int store_count_files(const char *dir, const char *prefix);

/* Where a workload stands: the last commit it published. */
typedef struct store_wl {
    const char *head;           /* head name, "db" by default */
    uint64_t seq;               /* seq of the last commit (0: none yet) */
    cairn_addr commit;          /* its address */
    uint64_t seed;              /* payload randomness */
    size_t nodes_min, nodes_max;  /* nodes per commit */
    size_t node_len_max;        /* payload bytes per node, at most */
    int head_first;             /* MUTANT: move the head before writing nodes */
} store_wl;

/* Starts a workload at whatever head the store holds (or none). */
int store_wl_init(store_wl *w, cairn_store *s, const char *head, uint64_t seed);
/* Head value for (commit, seq). */
void store_wl_head_value(uint8_t out[STORE_HEAD_VALUE_LEN], const cairn_addr *commit, uint64_t seq);
/* Parses a head value; 0 or -1. */
int store_wl_parse_head(const void *value, size_t len, cairn_addr *commit, uint64_t *seq);

/*
 * Writes the next commit (nodes, record, then head_cas from the previous
 * value). value_out (STORE_HEAD_VALUE_LEN bytes, may be NULL) gets the head
 * value it tries to publish, before anything is written. On success w moves
 * on; on failure w is unchanged and the status is returned.
 */
int store_wl_commit(store_wl *w, cairn_store *s, uint8_t *value_out);

/*
 * Checks the closure of a commit: its record and every node it names are
 * present and hash-valid, and so on down its previous commits, depth of them
 * at most (0: all). Returns 0, or a cairn status with why filled.
 */
int store_wl_verify(cairn_store *s, const cairn_addr *commit, uint64_t expect_seq, size_t depth, char *why,
                    size_t why_len);

/* Commits already verified, so a reader that re-reads a growing chain only
 * checks what is new. */
typedef struct store_wl_seen {
    cairn_addr *slots;          /* open addressing; all-zero = empty */
    size_t cap, count;
} store_wl_seen;

/* As store_wl_verify with depth 0, but stops at a commit in seen and adds
 * the commits it verified to seen. */
int store_wl_verify_new(cairn_store *s, const cairn_addr *commit, uint64_t seq, store_wl_seen *seen, char *why,
                        size_t why_len);
void store_wl_seen_dispose(store_wl_seen *seen);

/* Reads the head and verifies its closure: 0 (seq_out/commit_out set),
 * CAIRN_ENOTFOUND (no head), or another status with why filled. */
int store_wl_check_head(cairn_store *s, const char *head, size_t depth, uint64_t *seq_out, cairn_addr *commit_out,
                        char *why, size_t why_len);

#endif
