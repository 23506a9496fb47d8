/*
 * The store layer as the rest of cairn sees it: opening a backend from a
 * config map, content addressing, verified reads, durable write batches and
 * head compare-and-set. Backends implement include/cairn/store.h; this file
 * is the caller's side of that seam.
 *
 * Node bytes go through a frame (store.c) before they reach a backend, and the
 * address is the hash of the framed bytes, so a read can be verified before
 * anything is decoded and a replica can copy nodes without understanding them.
 */
#ifndef CAIRN_STORE_STORE_H
#define CAIRN_STORE_STORE_H

#include <string.h>

#include "cairn/store.h"
#include "base/arena.h"
#include "base/common.h"
#include "base/hmap.h"

/* Opens the backend named by config's :backend (a Datahike :store map). */
int cairn_store_open(cairn_store **out, cairn_val config, cairn_error *err);
void cairn_store_close(cairn_store *s);

/* Address of stored bytes: SHA-256 truncated to CAIRN_ADDR_LEN. */
void cairn_addr_of(cairn_addr *out, const void *data, size_t len);
/* Lower-case hex, NUL-terminated (2 * CAIRN_ADDR_LEN + 1 bytes). */
void cairn_addr_hex(char *out, const cairn_addr *a);
/* Parses exactly 2 * CAIRN_ADDR_LEN hex digits; 0 or CAIRN_EINVALID. */
int cairn_addr_parse(cairn_addr *out, const char *hex, size_t len);
static inline int cairn_addr_equal(const cairn_addr *a, const cairn_addr *b)
{
    return memcmp(a->bytes, b->bytes, CAIRN_ADDR_LEN) == 0;
}

/* An address is already a hash: its first eight bytes serve hash tables. */
static inline uint64_t cairn_addr_hash(const cairn_addr *a)
{
    uint64_t h;
    memcpy(&h, a->bytes, sizeof h);
    return h;
}

/* A set of addresses (addrset.c); zero it to start: memset or CAIRN_ADDRSET_INIT. */
typedef struct cairn_addrset {
    cairn_hmap map;             /* cairn_addr * -> itself */
    cairn_arena mem;            /* the addresses */
    size_t count;               /* addresses in the set */
} cairn_addrset;
/* 1 when a was new (and is now in the set), 0 when it was there, or CAIRN_ENOMEM. */
int cairn_addrset_add(cairn_addrset *s, const cairn_addr *a);
int cairn_addrset_has(const cairn_addrset *s, const cairn_addr *a);
void cairn_addrset_dispose(cairn_addrset *s);

/*
 * Reads node addr, verifies its bytes hash to addr (CAIRN_ECORRUPT if not),
 * and returns the node's payload (unframed) in a cairn_malloc'd buffer.
 */
int cairn_store_get_node(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out);

/*
 * The node frame (store.c): encode picks raw or zstd and returns a
 * cairn_malloc'd frame (CAIRN_ELIMIT over 256 MiB); decode checks the
 * frame's bounds and returns a new payload buffer (CAIRN_ECORRUPT,
 * CAIRN_EUNSUPPORTED for an unknown format, CAIRN_ENOMEM). Decode does not
 * check the address: cairn_store_get_node does that first.
 */
int cairn_store_frame_encode(uint8_t **frame_out, size_t *len_out, const void *payload, size_t len);
int cairn_store_frame_decode(void **payload_out, size_t *len_out, const void *frame, size_t len, cairn_error *err);

/* A batch of nodes written with one durable put_many. */
typedef struct cairn_store_batch cairn_store_batch;

int cairn_store_batch_new(cairn_store_batch **out, cairn_store *s);
/* Frames and hashes a node payload, buffers it, and gives its address. */
int cairn_store_batch_add(cairn_store_batch *b, const void *node, size_t len, cairn_addr *addr_out);
/* The two halves of cairn_store_batch_add, so that nodes can be framed on
 * other threads (framing touches nothing shared): cairn_store_frame_node
 * frames a node payload and gives its address (CAIRN_ELIMIT over the node
 * limit); cairn_store_batch_add_frame buffers such a frame, taking it over
 * even when it fails (CAIRN_ENOMEM). */
int cairn_store_frame_node(uint8_t **frame_out, size_t *len_out, cairn_addr *addr_out, const void *node, size_t len);
int cairn_store_batch_add_frame(cairn_store_batch *b, uint8_t *frame, size_t len, const cairn_addr *addr);
/* Nodes added so far, and their framed bytes. */
size_t cairn_store_batch_count(const cairn_store_batch *b);
size_t cairn_store_batch_bytes(const cairn_store_batch *b);
/* Writes every buffered node durably; the batch is empty afterwards. */
int cairn_store_batch_commit(cairn_store_batch *b);
void cairn_store_batch_free(cairn_store_batch *b);

/*
 * Writes every buffered node durably, then moves head name from expected to
 * value (cairn_store_batch_commit then cairn_store_head_cas, through the
 * backend's commit method when it has one). The batch is empty afterwards
 * when the nodes were written.
 */
int cairn_store_batch_commit_head(cairn_store_batch *b, const char *name, const void *expected, size_t expected_len,
                                  const void *value, size_t len);

/* Heads, locking: thin wrappers that check arguments and fill s->err. */
int cairn_store_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out);
int cairn_store_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                         const void *data, size_t len);
int cairn_store_lock(cairn_store *s);
void cairn_store_unlock(cairn_store *s);

/* 1 when name is a valid head name: [A-Za-z0-9._-]{1,128}, not "." or "..". */
int cairn_store_head_name_ok(const char *name);
/* For backends (their methods can be called directly): 0, or CAIRN_EINVALID
 * for a bad name, CAIRN_ELIMIT for a value over CAIRN_HEAD_MAX, on s->err. */
int cairn_store_check_head(cairn_store *s, const char *name, size_t len);
/* Fills s->err for a compare-and-set that lost; returns CAIRN_ECONFLICT. */
int cairn_store_head_conflict(cairn_store *s, const char *name);

/* Config helpers for backends: the value of :key in map, or nil. */
cairn_val cairn_store_config_get(cairn_val config, const char *key);
/* The string value of :key; NULL (and err filled) when absent or not a string. */
const char *cairn_store_config_string(cairn_val config, const char *key, cairn_error *err);
/* The integer value of :key, or def when absent; CAIRN_EINVALID (err filled)
 * when it is not an integer >= min. */
int cairn_store_config_int(int64_t *out, cairn_val config, const char *key, int64_t def, int64_t min,
                           cairn_error *err);

/* Built-in backends. */
int cairn_store_mem_open(cairn_store **out, cairn_val config, cairn_error *err);
int cairn_store_file_open(cairn_store **out, cairn_val config, cairn_error *err);
int cairn_store_lmdb_open(cairn_store **out, cairn_val config, cairn_error *err);
int cairn_store_sqlite_open(cairn_store **out, cairn_val config, cairn_error *err);

#endif
