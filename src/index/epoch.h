/*
 * Epochs: deferred freeing of index nodes that readers reach without taking a
 * reference (the swizzled child pointers of cache.c). Only src/index uses it.
 *
 * A reader brackets a lookup with cairn_epoch_enter and cairn_epoch_exit; in
 * between it may follow swizzled pointers to nodes it holds no reference on.
 * A node that has ever been reachable that way is not freed when its last
 * reference goes: cairn_node_unref hands it to cairn_epoch_retire, which
 * frees it once every section that was open when it was unlinked has ended.
 * Sections nest, and must be short: while one is open, nothing retired after
 * it began can be freed, in any thread.
 */
#ifndef CAIRN_INDEX_EPOCH_H
#define CAIRN_INDEX_EPOCH_H

#include "base/common.h"

typedef struct cairn_node cairn_node;

/*
 * Opens a section in this thread. @return 1, or 0 when this thread cannot
 * take part (its exit could not be hooked): it must then not follow swizzled
 * pointers, and must not call cairn_epoch_exit.
 */
int cairn_epoch_enter(void);

/* Closes the section opened by the matching cairn_epoch_enter. */
void cairn_epoch_exit(void);

/*
 * Frees n (unreferenced, out of every cache and unlinked from every parent)
 * once no open section can still be reading it: at once when none is open.
 * Never allocates; n's clock_next links the waiting list.
 */
void cairn_epoch_retire(cairn_node *n);

/*
 * Waits until every section open in another thread has ended, then frees
 * every node retired before the call. Must not be called inside a section.
 * The node cache calls it when it is freed, so that nodes do not outlive
 * their cache in the waiting list.
 */
void cairn_epoch_barrier(void);

/* Nodes retired and not yet freed, and threads in the registry (tests). */
size_t cairn_epoch__waiting(void);
size_t cairn_epoch__readers(void);

#endif
