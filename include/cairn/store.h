/*
 * cairn/store.h: the storage seam, for backend authors (like libgit2's
 * git2/sys/ headers). Applications open stores through the database API and
 * never need this header.
 *
 * A store holds two kinds of data (DESIGN.md section 4):
 *
 *  - nodes: immutable byte strings keyed by their content address, the
 *    first CAIRN_ADDR_LEN bytes of the SHA-256 of the bytes. put is
 *    idempotent; a node is never modified, only deleted by garbage collection.
 *  - heads: a few small mutable values (at most CAIRN_HEAD_MAX bytes) keyed by
 *    a name ("db" for the default branch), moved only by compare-and-set.
 *
 * Contract every backend keeps (tests/store/ checks it on every backend):
 *
 *  - put and put_many return only when the data is durable; a batch may be
 *    partly durable after a crash, never torn inside one node.
 *  - head_cas is atomic and durable on return: either the head held
 *    `expected` and now holds the new value, or nothing changed and it
 *    returns CAIRN_ECONFLICT. A reader sees the old or the new value, never a
 *    mix.
 *  - lock makes this handle the store's single writer; a second writer (in
 *    any process) gets CAIRN_EBUSY. Readers never lock.
 *  - Buffers returned by get and head_read are allocated with cairn_malloc
 *    and owned by the caller (cairn_free).
 *  - Every method may be called from several threads at once.
 *
 * The methods struct only grows by appending; a backend sets `version` to
 * the CAIRN_STORE_METHODS_VERSION it was written against, and cairn calls
 * only the methods valid for that version.
 */
#ifndef CAIRN_STORE_H
#define CAIRN_STORE_H

#include "cairn.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CAIRN_ADDR_LEN 16     /* bytes of SHA-256 kept as a node address */
#define CAIRN_HEAD_MAX 4096   /* largest head value */
#define CAIRN_HEAD_NAME_MAX 128

/** A node's content address. */
typedef struct cairn_addr {
    uint8_t bytes[CAIRN_ADDR_LEN];  /* truncated SHA-256 of the stored bytes */
} cairn_addr;

typedef struct cairn_store cairn_store;

/** Callback for list methods: return 0 to go on, nonzero to stop (returned). */
typedef int (*cairn_store_addr_cb)(const cairn_addr *addr, void *payload);
typedef int (*cairn_store_name_cb)(const char *name, void *payload);

typedef struct cairn_store_methods {
    unsigned version;   /* CAIRN_STORE_METHODS_VERSION */
    const char *name;   /* backend name as in the config, e.g. "file" */

    /** Reads a node. @return 0, CAIRN_ENOTFOUND, CAIRN_EIO, CAIRN_ENOMEM. */
    int (*get)(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out);
    /** Stores n nodes durably. Nodes already present are skipped. */
    int (*put_many)(cairn_store *s, size_t n, const cairn_addr *addrs,
                    const void *const *data, const size_t *lens);
    /** Deletes a node (absent is fine). */
    int (*del)(cairn_store *s, const cairn_addr *addr);
    /** Calls cb for every node address, in no particular order. */
    int (*list)(cairn_store *s, cairn_store_addr_cb cb, void *payload);

    /** Reads a head. @return 0 or CAIRN_ENOTFOUND (no such head). */
    int (*head_read)(cairn_store *s, const char *name, void **data_out, size_t *len_out);
    /**
     * Sets head name to data if it currently holds expected (expected NULL:
     * the head must not exist). data NULL deletes the head.
     * @return 0, CAIRN_ECONFLICT, or an I/O error.
     */
    int (*head_cas)(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                    const void *data, size_t len);
    /** Calls cb for every head name. */
    int (*head_list)(cairn_store *s, cairn_store_name_cb cb, void *payload);

    /** Becomes the single writer. @return 0 or CAIRN_EBUSY. */
    int (*lock)(cairn_store *s);
    /** Gives the writer role up (also done by close). */
    void (*unlock)(cairn_store *s);

    /** Closes the backend and frees s. */
    void (*close)(cairn_store *s);
    /* methods above are valid for version 1 */

    /**
     * Optional (NULL: cairn calls put_many, then head_cas): a commit in one
     * call, nodes then head, with the same results as those two calls. The
     * head must not move before every node is durable, but the backend may
     * overlap the rest (the file store writes the new head slot while the
     * nodes are written) or do both in one transaction. It may fail with
     * CAIRN_ECONFLICT before writing any node.
     */
    int (*commit)(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data, const size_t *lens,
                  const char *name, const void *expected, size_t expected_len, const void *value, size_t len);
    /* methods above are valid for version 2 */

    /**
     * Optional (NULL: nothing to do), for the lock holder: moves every node
     * to where del can reach it (the file store checkpoints its commit log)
     * and frees the space of nodes deleted through this handle that del
     * could not free by itself (the file store rewrites packs much of which
     * is deleted). Garbage collection calls it before and after its deletes.
     * Every node not deleted stays readable throughout, also by other
     * handles.
     */
    int (*compact)(cairn_store *s);
    /* methods above are valid for version 3 */
} cairn_store_methods;

#define CAIRN_STORE_METHODS_VERSION 3

/**
 * Every store starts with this header; a backend embeds it as the first
 * member of its own struct.
 */
struct cairn_store {
    const cairn_store_methods *methods;  /* the backend's methods */
    cairn_error err;                     /* last failure on this store */
};

/**
 * Opens a backend from a Datahike store config map, e.g.
 * {:backend :file :path "/data/db"}. The function is looked up by the
 * :backend keyword among the registered backends.
 */
typedef int (*cairn_store_open_fn)(cairn_store **out, cairn_val config, cairn_error *err);

/**
 * Registers a backend under name (without ':'). Built-in backends: mem,
 * file, lmdb, sqlite. @return 0, CAIRN_EEXISTS, CAIRN_ENOMEM.
 */
CAIRN_API int cairn_store_register(const char *name, cairn_store_open_fn open);

/** Allocates a buffer to return from get/head_read (same as cairn_malloc). */
CAIRN_API void *cairn_store_data_alloc(size_t len);

#ifdef __cplusplus
}
#endif

#endif /* CAIRN_STORE_H */
