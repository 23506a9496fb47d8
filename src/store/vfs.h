/*
 * The file backend's window on the file system: every call file.c makes to
 * the kernel goes through one of these function pointers, so tests can put a
 * shim in between, failing the Nth call (tests/support/store_vfs_fault.c),
 * raising SIGKILL at it (the crash-at-n tools), or recording what is not yet
 * durable and building the crash states a power loss could leave
 * (tests/support/store_crashfs.c). The core has no #ifdef for any of them.
 *
 * Everything is relative to directory handles and single path components:
 * the backend opens the store root once, then each directory below it by
 * name, and each file by name inside its directory. No call takes a path with
 * a '/', and the POSIX implementation opens every component with O_NOFOLLOW,
 * so no name can lead outside the store root, even through a planted symlink
 * (reliability.md R18).
 *
 * Conventions: handles are small non-negative ints (file descriptors for the
 * POSIX implementation); every function returns 0 (or a byte count) on
 * success and -errno on failure, so a shim can fake any errno.
 */
#ifndef CAIRN_STORE_VFS_H
#define CAIRN_STORE_VFS_H

#include <pthread.h>
#include <stdint.h>
#include <sys/types.h>

#include "cairn.h"

typedef struct cairn_vfs cairn_vfs;

/* Called per directory entry (not "." or ".."); nonzero stops the listing. */
typedef int (*cairn_vfs_name_cb)(const char *name, void *payload);

enum {
    CAIRN_VFS_READ = 1,    /* open an existing file for reading */
    CAIRN_VFS_CREATE = 2   /* create a new file for writing; -EEXIST if present */
};

struct cairn_vfs {
    /* Opens the directory at an absolute or cwd-relative path; with create,
     * makes it first (one level) and makes that durable in its parent. */
    int (*root_open)(cairn_vfs *v, const char *path, int create, int *dir_out);
    /* Opens subdirectory name of dir; with create, makes it first (not yet
     * durable: fsync_dir(dir) does that). -ENOENT when absent. */
    int (*dir_open)(cairn_vfs *v, int dir, const char *name, int create, int *dir_out);
    /* Opens file name in dir, CAIRN_VFS_READ or CAIRN_VFS_CREATE. */
    int (*open)(cairn_vfs *v, int dir, const char *name, int flags, int *fd_out);
    /* Closes a file or directory handle. */
    int (*close)(cairn_vfs *v, int fd);
    /* Reads up to len bytes at off; returns the count (0 at end of file). */
    ssize_t (*pread)(cairn_vfs *v, int fd, void *buf, size_t len, uint64_t off);
    /* Appends up to len bytes; returns the count, which may be short. */
    ssize_t (*write)(cairn_vfs *v, int fd, const void *buf, size_t len);
    /* Makes a file's contents and size durable. */
    int (*fsync)(cairn_vfs *v, int fd);
    /* Size of an open file. */
    int (*size)(cairn_vfs *v, int fd, uint64_t *size_out);
    /* Atomically renames from_dir/from to to_dir/to, replacing to. */
    int (*rename)(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to);
    /* Adds the name to_dir/to for the file from_dir/from; -EEXIST if taken.
     * This is the compare-and-set primitive of head slots. */
    int (*link)(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to);
    /* Removes a name; -ENOENT if absent. */
    int (*unlink)(cairn_vfs *v, int dir, const char *name);
    /* Makes the entries of a directory (creates, renames, links, unlinks)
     * durable. */
    int (*fsync_dir)(cairn_vfs *v, int dir);
    /* Calls cb for each entry of dir. */
    int (*list)(cairn_vfs *v, int dir, cairn_vfs_name_cb cb, void *payload);
    /* Whether name exists in dir (0 or -ENOENT), and its age in seconds
     * since its last modification (age_out may be NULL). */
    int (*stat)(cairn_vfs *v, int dir, const char *name, int64_t *age_out);
    /* Takes an exclusive lock on an open file, without waiting: 0, or
     * -EWOULDBLOCK when another open file description holds it. The lock
     * belongs to the handle (flock semantics, never a process-wide fcntl
     * lock that any close() in the process would drop) and ends with it. */
    int (*lock)(cairn_vfs *v, int fd);
    /* Writes up to len bytes at off (the file keeps its other bytes and
     * grows if off + len is past its end); returns the count, which may be
     * short. For the commit log, the one file cairn writes in place. */
    ssize_t (*pwrite)(cairn_vfs *v, int fd, const void *buf, size_t len, uint64_t off);
    /* Makes a file's contents durable, and its size only when it changed
     * (fdatasync): a write over bytes already on disk costs one device
     * flush, without the inode. */
    int (*datasync)(cairn_vfs *v, int fd);
};

/* The real file system (POSIX calls with O_NOFOLLOW and O_CLOEXEC). */
extern cairn_vfs cairn_vfs_posix;

/*
 * The single-writer lock for backends that do not do their own I/O (LMDB,
 * SQLite): opens or creates dir_path/name and locks it as vfs->lock does.
 * Returns the handle in *fd_out (close it to unlock): 0, -EWOULDBLOCK when
 * another handle holds the lock, or another -errno.
 */
int cairn_vfs_lock_file(int *fd_out, const char *dir_path, const char *name);

/* A store handle's writer lock on dir_path/writer.lock, safe to take and
 * give up from any thread. */
typedef struct cairn_writer_lock {
    pthread_mutex_t mu;         /* guards fd */
    int fd;                     /* held lock file, or -1 */
} cairn_writer_lock;

void cairn_writer_lock_init(cairn_writer_lock *wl);
/* Takes the lock (again: a no-op): 0, CAIRN_EBUSY or CAIRN_EIO, err filled. */
int cairn_writer_lock_take(cairn_writer_lock *wl, const char *dir_path, cairn_error *err);
void cairn_writer_lock_release(cairn_writer_lock *wl);
/* Releases and destroys. */
void cairn_writer_lock_dispose(cairn_writer_lock *wl);

/* 64 random bits from the kernel (getrandom), for temp names and nonces. */
uint64_t cairn_vfs_random64(void);

#endif
