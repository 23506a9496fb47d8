/*
 * Realistic node payloads for store tests and benchmarks: index leaves as the
 * index layer will write them, a sorted run of datom keys with shared-prefix
 * compression (DESIGN.md section 3), so compression ratios measured on them
 * mean something. Deterministic in the seed.
 */
#ifndef CAIRN_TESTS_STORE_PAYLOAD_H
#define CAIRN_TESTS_STORE_PAYLOAD_H

#include <stddef.h>
#include <stdint.h>

enum store_payload_index {
    STORE_PAYLOAD_EAVT,  /* e | a | v | tx: runs of one entity */
    STORE_PAYLOAD_AEVT,  /* a | e | v | tx: long runs of one attribute */
    STORE_PAYLOAD_AVET   /* a | v | e | tx: values sorted within an attribute */
};

/*
 * Writes one leaf of about target_len bytes (never more than cap) into out and
 * returns its length. Keys: e and a are big-endian int64, v is a type tag and
 * an order-preserving encoding (ints, strings, refs, instants, doubles,
 * uuids), tx is near the first user transaction id 536870913.
 */
size_t store_payload_leaf(uint8_t *out, size_t cap, uint64_t seed, enum store_payload_index index,
                          size_t target_len);

#endif
