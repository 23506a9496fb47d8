/*
 * A crash-simulating file system for the file backend (reliability.md R2,
 * after SQLite's test6.c, ALICE and CrashMonkey): an in-memory vfs that
 * remembers, per file and per directory, which operations are not yet
 * durable, and builds the states a power loss could leave.
 *
 * Persistence model (deliberately weak, weaker than ext4):
 *  - a file's writes become durable at fsync of that file, and not before;
 *    until then any subset of them may survive, in any order, and the last
 *    may be torn at a 512 B or 4 KiB boundary, or leave its new size with
 *    garbage in it;
 *  - a directory's creates, renames, links and unlinks become durable at
 *    fsync of that directory; until then any subset may survive (a rename
 *    inside one directory is atomic; across directories its two halves are
 *    independent);
 *  - fsync of a file says nothing about its name, nor fsync of a directory
 *    about its files' contents.
 *
 * Single-threaded: open the file backend on it with threads = 1.
 */
#ifndef CAIRN_TESTS_STORE_CRASHFS_H
#define CAIRN_TESTS_STORE_CRASHFS_H

#include <stddef.h>
#include <stdint.h>

#include "store/vfs.h"

typedef struct crashfs crashfs;

enum crash_mode {
    CRASH_DROP_ALL,     /* only what was synced survives */
    CRASH_KEEP_ALL,     /* everything issued survives */
    CRASH_SUBSET,       /* a random subset (seeded) of pending operations, in issue order */
    CRASH_DROP_ONE,     /* everything but pending group `which` */
    CRASH_TEAR_512,     /* all, with pending write `which` torn at a 512 B boundary */
    CRASH_TEAR_4096,    /* ... at a 4 KiB boundary */
    CRASH_GARBAGE,      /* all, with pending write `which` leaving garbage in its range */
    CRASH_MODES
};

crashfs *crashfs_new(void);
void crashfs_free(crashfs *fs);
/* A deep copy (a snapshot to crash later). */
crashfs *crashfs_clone(const crashfs *fs);
/* The vfs to open the file backend with. */
cairn_vfs *crashfs_vfs(crashfs *fs);

/* Harness mutant: fsync and fsync_dir do nothing (as under eatmydata). */
void crashfs_set_eatmydata(crashfs *fs, int on);

/* Called before every fsync and fsync_dir, so a test can snapshot there. */
typedef void (*crashfs_hook)(crashfs *fs, void *payload);
void crashfs_set_hook(crashfs *fs, crashfs_hook hook, void *payload);

/* Pending (not yet durable) operation groups, and pending writes among them. */
size_t crashfs_pending_groups(const crashfs *fs);
size_t crashfs_pending_writes(const crashfs *fs);
/* fsyncs and fsync_dirs done so far. */
uint64_t crashfs_syncs(const crashfs *fs);

/*
 * The state after a power loss: a new crashfs whose contents are the durable
 * state plus the pending operations the mode keeps, all durable. which picks
 * the group or write for the modes that take one (taken modulo the count).
 */
crashfs *crashfs_crash(const crashfs *fs, enum crash_mode mode, uint64_t which, uint64_t seed);

#endif
