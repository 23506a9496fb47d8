/*
 * Fault injection for the store tests (reliability.md R3), at two levels:
 *
 *  - vfs_fault wraps the file backend's I/O seam (vfs.h): the Nth counted
 *    call fails with a chosen errno, once (transient) or from then on
 *    (persistent); writes can be made short; or the process raises SIGKILL
 *    at the Nth call (deterministic kill points for the writer tool).
 *  - store_fault wraps any backend's methods: the Nth method call fails
 *    with a cairn status, and put_many can fail after writing half the
 *    batch, for the backends whose I/O happens inside a library.
 */
#ifndef CAIRN_TESTS_STORE_FAULT_H
#define CAIRN_TESTS_STORE_FAULT_H

#include <stdatomic.h>
#include <stdint.h>

#include "store/store.h"
#include "store/vfs.h"

enum vfs_op {
    VOP_ROOT_OPEN, VOP_DIR_OPEN, VOP_OPEN, VOP_CLOSE, VOP_PREAD, VOP_WRITE, VOP_FSYNC, VOP_SIZE, VOP_RENAME,
    VOP_LINK, VOP_UNLINK, VOP_FSYNC_DIR, VOP_LIST, VOP_STAT, VOP_LOCK, VOP_PWRITE, VOP_DATASYNC, VOP_COUNT
};

#define VOP_BIT(op) (1u << (op))
/* Calls that change the store: the ones a commit path can fail in. */
#define VOP_WRITES (VOP_BIT(VOP_DIR_OPEN) | VOP_BIT(VOP_OPEN) | VOP_BIT(VOP_WRITE) | VOP_BIT(VOP_FSYNC) | \
                    VOP_BIT(VOP_RENAME) | VOP_BIT(VOP_LINK) | VOP_BIT(VOP_UNLINK) | VOP_BIT(VOP_FSYNC_DIR) | \
                    VOP_BIT(VOP_PWRITE) | VOP_BIT(VOP_DATASYNC))
#define VOP_ALL ((1u << VOP_COUNT) - 1 - VOP_BIT(VOP_CLOSE))

typedef struct vfs_fault {
    cairn_vfs vfs;                      /* must be first */
    cairn_vfs *inner;                   /* the real I/O */
    unsigned mask;                      /* VOP_BITs that count toward fail_at */
    uint64_t fail_at;                   /* the counted call that fails (1-based); 0: none */
    int persistent;                     /* every counted call from fail_at on fails */
    int err;                            /* errno injected (EIO by default) */
    int kill;                           /* raise SIGKILL at fail_at instead of failing */
    int short_writes;                   /* writes write at most half what they are given */
    _Atomic uint64_t calls[VOP_COUNT];  /* every call, per op */
    _Atomic uint64_t counted;           /* counted calls so far */
    _Atomic uint64_t injected;          /* failures injected */
    _Atomic int last_op;                /* op of the last injected failure */
} vfs_fault;

/* Counts everything, injects nothing. */
void vfs_fault_init(vfs_fault *f, cairn_vfs *inner);
/* Arms a failure at the nth counted call from now (the count restarts). */
void vfs_fault_arm(vfs_fault *f, unsigned mask, uint64_t n, int persistent, int err);
void vfs_fault_disarm(vfs_fault *f);

typedef struct store_fault {
    cairn_store base;                   /* must be first */
    cairn_store *inner;                 /* the wrapped backend */
    uint64_t fail_at;                   /* the method call that fails (1-based); 0: none */
    int persistent;                     /* every call from fail_at on fails */
    int code;                           /* status injected (CAIRN_EIO by default) */
    int partial_puts;                   /* a failing put_many writes half its batch first */
    _Atomic uint64_t calls;             /* method calls so far */
    _Atomic uint64_t injected;          /* failures injected */
} store_fault;

/* Wraps inner (which the wrapper then owns and closes); *ctl controls it. */
int store_fault_wrap(cairn_store **out, cairn_store *inner, store_fault **ctl);
void store_fault_arm(store_fault *f, uint64_t n, int persistent, int code);

#endif
