/*
 * The POSIX implementation of the file backend's I/O seam (vfs.h).
 *
 * Every name is opened relative to a directory descriptor with O_NOFOLLOW, so
 * a symlink planted anywhere below the store root is refused (ELOOP) instead
 * of followed; only the root path itself, which the user configured, may be a
 * symlink. openat2(RESOLVE_BENEATH) would give the same guarantee for whole
 * paths, but the backend never needs more than one component per call, and
 * plain openat also works on kernels and file systems without openat2.
 *
 * Locks are flock(2) locks: they belong to the open file description, so
 * another thread opening and closing the lock file cannot drop them, which a
 * process-associated fcntl lock would (howtocorrupt.html section 2.2).
 */
#include "store/vfs.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/err.h"
#include "base/hash.h"

static int neg_errno(void)
{
    return errno ? -errno : -EIO;
}

/* fsyncs the directory that holds path, after path was created in it. */
static int fsync_parent(const char *path)
{
    char parent[PATH_MAX];
    const char *slash = strrchr(path, '/');
    int fd, rc = 0;
    if (!slash)
        snprintf(parent, sizeof parent, ".");
    else if (slash == path)
        snprintf(parent, sizeof parent, "/");
    else
        snprintf(parent, sizeof parent, "%.*s", (int)(slash - path), path);
    fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    if (fsync(fd) != 0)
        rc = neg_errno();
    close(fd);
    return rc;
}

static int posix_root_open(cairn_vfs *v, const char *path, int create, int *dir_out)
{
    int fd, rc;
    (void)v;
    if (create) {
        if (mkdir(path, 0755) == 0) {
            if ((rc = fsync_parent(path)) < 0)
                return rc;
        } else if (errno != EEXIST) {
            return neg_errno();
        }
    }
    fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    *dir_out = fd;
    return 0;
}

static int posix_dir_open(cairn_vfs *v, int dir, const char *name, int create, int *dir_out)
{
    int fd;
    (void)v;
    if (create && mkdirat(dir, name, 0755) != 0 && errno != EEXIST)
        return neg_errno();
    fd = openat(dir, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
    if (fd < 0)
        return neg_errno();
    *dir_out = fd;
    return 0;
}

static int posix_open(cairn_vfs *v, int dir, const char *name, int flags, int *fd_out)
{
    int fd;
    (void)v;
    if (flags == CAIRN_VFS_CREATE) {
        fd = openat(dir, name, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
    } else {
        struct stat st;
        /* O_NONBLOCK: a FIFO planted under a node's name must not hang us */
        fd = openat(dir, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
        if (fd >= 0 && (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode))) {
            close(fd);
            return -EINVAL;
        }
    }
    if (fd < 0)
        return neg_errno();
    *fd_out = fd;
    return 0;
}

static int posix_close(cairn_vfs *v, int fd)
{
    (void)v;
    return close(fd) == 0 ? 0 : neg_errno();
}

static ssize_t posix_pread(cairn_vfs *v, int fd, void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    (void)v;
    do
        n = pread(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? neg_errno() : n;
}

static ssize_t posix_write(cairn_vfs *v, int fd, const void *buf, size_t len)
{
    ssize_t n;
    (void)v;
    do
        n = write(fd, buf, len);
    while (n < 0 && errno == EINTR);
    return n < 0 ? neg_errno() : n;
}

static int posix_fsync(cairn_vfs *v, int fd)
{
    (void)v;
    return fsync(fd) == 0 ? 0 : neg_errno();
}

static ssize_t posix_pwrite(cairn_vfs *v, int fd, const void *buf, size_t len, uint64_t off)
{
    ssize_t n;
    (void)v;
    do
        n = pwrite(fd, buf, len, (off_t)off);
    while (n < 0 && errno == EINTR);
    return n < 0 ? neg_errno() : n;
}

static int posix_datasync(cairn_vfs *v, int fd)
{
    (void)v;
    return fdatasync(fd) == 0 ? 0 : neg_errno();
}

static int posix_size(cairn_vfs *v, int fd, uint64_t *size_out)
{
    struct stat st;
    (void)v;
    if (fstat(fd, &st) != 0)
        return neg_errno();
    *size_out = (uint64_t)st.st_size;
    return 0;
}

static int posix_rename(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to)
{
    (void)v;
    return renameat(from_dir, from, to_dir, to) == 0 ? 0 : neg_errno();
}

static int posix_link(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to)
{
    (void)v;
    return linkat(from_dir, from, to_dir, to, 0) == 0 ? 0 : neg_errno();
}

static int posix_unlink(cairn_vfs *v, int dir, const char *name)
{
    (void)v;
    return unlinkat(dir, name, 0) == 0 ? 0 : neg_errno();
}

static int posix_list(cairn_vfs *v, int dir, cairn_vfs_name_cb cb, void *payload)
{
    /* a fresh descriptor: its own read position, so threads can list at once */
    int fd = openat(dir, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC), rc = 0;
    DIR *d;
    struct dirent *e;
    (void)v;
    if (fd < 0)
        return neg_errno();
    if (!(d = fdopendir(fd))) {
        rc = neg_errno();
        close(fd);
        return rc;
    }
    for (;;) {
        errno = 0;
        if (!(e = readdir(d))) {
            if (errno)
                rc = neg_errno();
            break;
        }
        if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
            continue;
        if ((rc = cb(e->d_name, payload)) != 0)
            break;
    }
    closedir(d);
    return rc;
}

static int posix_stat(cairn_vfs *v, int dir, const char *name, int64_t *age_out)
{
    struct stat st;
    (void)v;
    if (fstatat(dir, name, &st, AT_SYMLINK_NOFOLLOW) != 0)
        return neg_errno();
    if (age_out)
        *age_out = (int64_t)time(NULL) - (int64_t)st.st_mtime;
    return 0;
}

static int posix_lock(cairn_vfs *v, int fd)
{
    (void)v;
    if (flock(fd, LOCK_EX | LOCK_NB) == 0)
        return 0;
    return errno == EWOULDBLOCK ? -EWOULDBLOCK : neg_errno();
}

cairn_vfs cairn_vfs_posix = {
    posix_root_open, posix_dir_open, posix_open, posix_close, posix_pread, posix_write,
    posix_fsync, posix_size, posix_rename, posix_link, posix_unlink, posix_fsync,
    posix_list, posix_stat, posix_lock, posix_pwrite, posix_datasync,
};

int cairn_vfs_lock_file(int *fd_out, const char *dir_path, const char *name)
{
    int dir = open(dir_path, O_RDONLY | O_DIRECTORY | O_CLOEXEC), fd, rc;
    if (dir < 0)
        return neg_errno();
    fd = openat(dir, name, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
    rc = fd < 0 ? neg_errno() : 0;
    close(dir);
    if (rc < 0)
        return rc;
    if ((rc = posix_lock(NULL, fd)) < 0) {
        close(fd);
        return rc;
    }
    *fd_out = fd;
    return 0;
}

void cairn_writer_lock_init(cairn_writer_lock *wl)
{
    pthread_mutex_init(&wl->mu, NULL);
    wl->fd = -1;
}

int cairn_writer_lock_take(cairn_writer_lock *wl, const char *dir_path, cairn_error *err)
{
    int rc = 0, fd;
    pthread_mutex_lock(&wl->mu);
    if (wl->fd < 0) {
        rc = cairn_vfs_lock_file(&fd, dir_path, "writer.lock");
        if (rc == -EWOULDBLOCK)
            rc = cairn_error_set(err, CAIRN_EBUSY, ":store/locked", "another writer holds %s", dir_path);
        else if (rc < 0)
            rc = cairn_error_set(err, CAIRN_EIO, ":store/io", "lock %s: %s", dir_path, strerror(-rc));
        else
            wl->fd = fd;
    }
    pthread_mutex_unlock(&wl->mu);
    return rc;
}

void cairn_writer_lock_release(cairn_writer_lock *wl)
{
    pthread_mutex_lock(&wl->mu);
    if (wl->fd >= 0) {
        close(wl->fd);
        wl->fd = -1;
    }
    pthread_mutex_unlock(&wl->mu);
}

void cairn_writer_lock_dispose(cairn_writer_lock *wl)
{
    cairn_writer_lock_release(wl);
    pthread_mutex_destroy(&wl->mu);
}

uint64_t cairn_vfs_random64(void)
{
    static _Atomic uint64_t fallback;
    uint64_t v;
    if (getrandom(&v, sizeof v, GRND_NONBLOCK) == (ssize_t)sizeof v)
        return v;
    /* no entropy yet (early boot): unique enough for names and nonces */
    return cairn_hash_mix((uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32) ^
                          atomic_fetch_add(&fallback, 0x9e3779b97f4a7c15ULL));
}
