/* Fault-injecting wrappers for the store tests (store_fault.h). */
#include "store_fault.h"

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/err.h"

/* ---- the vfs wrapper ----------------------------------------------------------- */

static vfs_fault *vf(cairn_vfs *v)
{
    return (vfs_fault *)v;
}

/* Counts a call; returns the -errno to fail it with, or 0 to let it through. */
static int tick(vfs_fault *f, enum vfs_op op)
{
    uint64_t n;
    atomic_fetch_add(&f->calls[op], 1);
    if (!(f->mask & VOP_BIT(op)))
        return 0;
    n = atomic_fetch_add(&f->counted, 1) + 1;
    if (!f->fail_at || n < f->fail_at || (n > f->fail_at && !f->persistent))
        return 0;
    if (f->kill)
        raise(SIGKILL);
    atomic_fetch_add(&f->injected, 1);
    atomic_store(&f->last_op, (int)op);
    return -(f->err ? f->err : EIO);
}

#define PASS(op, call) do { vfs_fault *f = vf(v); int e_ = tick(f, op); if (e_) return e_; return call; } while (0)

static int w_root_open(cairn_vfs *v, const char *path, int create, int *dir_out)
{
    PASS(VOP_ROOT_OPEN, f->inner->root_open(f->inner, path, create, dir_out));
}

static int w_dir_open(cairn_vfs *v, int dir, const char *name, int create, int *dir_out)
{
    PASS(VOP_DIR_OPEN, f->inner->dir_open(f->inner, dir, name, create, dir_out));
}

static int w_open(cairn_vfs *v, int dir, const char *name, int flags, int *fd_out)
{
    PASS(VOP_OPEN, f->inner->open(f->inner, dir, name, flags, fd_out));
}

static int w_close(cairn_vfs *v, int fd)
{
    PASS(VOP_CLOSE, f->inner->close(f->inner, fd));
}

static ssize_t w_pread(cairn_vfs *v, int fd, void *buf, size_t len, uint64_t off)
{
    PASS(VOP_PREAD, f->inner->pread(f->inner, fd, buf, len, off));
}

static ssize_t w_write(cairn_vfs *v, int fd, const void *buf, size_t len)
{
    vfs_fault *f = vf(v);
    int e = tick(f, VOP_WRITE);
    if (e)
        return e;
    if (f->short_writes && len > 1)
        len /= 2;
    return f->inner->write(f->inner, fd, buf, len);
}

static int w_fsync(cairn_vfs *v, int fd)
{
    PASS(VOP_FSYNC, f->inner->fsync(f->inner, fd));
}

static int w_size(cairn_vfs *v, int fd, uint64_t *size_out)
{
    PASS(VOP_SIZE, f->inner->size(f->inner, fd, size_out));
}

static int w_rename(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to)
{
    PASS(VOP_RENAME, f->inner->rename(f->inner, from_dir, from, to_dir, to));
}

static int w_link(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to)
{
    PASS(VOP_LINK, f->inner->link(f->inner, from_dir, from, to_dir, to));
}

static int w_unlink(cairn_vfs *v, int dir, const char *name)
{
    PASS(VOP_UNLINK, f->inner->unlink(f->inner, dir, name));
}

static int w_fsync_dir(cairn_vfs *v, int dir)
{
    PASS(VOP_FSYNC_DIR, f->inner->fsync_dir(f->inner, dir));
}

static int w_list(cairn_vfs *v, int dir, cairn_vfs_name_cb cb, void *payload)
{
    PASS(VOP_LIST, f->inner->list(f->inner, dir, cb, payload));
}

static int w_stat(cairn_vfs *v, int dir, const char *name, int64_t *age_out)
{
    PASS(VOP_STAT, f->inner->stat(f->inner, dir, name, age_out));
}

static int w_lock(cairn_vfs *v, int fd)
{
    PASS(VOP_LOCK, f->inner->lock(f->inner, fd));
}

static ssize_t w_pwrite(cairn_vfs *v, int fd, const void *buf, size_t len, uint64_t off)
{
    vfs_fault *f = vf(v);
    int e = tick(f, VOP_PWRITE);
    if (e)
        return e;
    if (f->short_writes && len > 1)
        len /= 2;
    return f->inner->pwrite(f->inner, fd, buf, len, off);
}

static int w_datasync(cairn_vfs *v, int fd)
{
    PASS(VOP_DATASYNC, f->inner->datasync(f->inner, fd));
}

void vfs_fault_init(vfs_fault *f, cairn_vfs *inner)
{
    static const cairn_vfs ops = {
        w_root_open, w_dir_open, w_open, w_close, w_pread, w_write, w_fsync, w_size,
        w_rename, w_link, w_unlink, w_fsync_dir, w_list, w_stat, w_lock, w_pwrite, w_datasync,
    };
    memset(f, 0, sizeof *f);
    f->vfs = ops;
    f->inner = inner ? inner : &cairn_vfs_posix;
}

void vfs_fault_arm(vfs_fault *f, unsigned mask, uint64_t n, int persistent, int err)
{
    f->mask = mask;
    f->persistent = persistent;
    f->err = err;
    atomic_store(&f->counted, 0);
    atomic_store(&f->injected, 0);
    f->fail_at = n;
}

void vfs_fault_disarm(vfs_fault *f)
{
    f->fail_at = 0;
}

/* ---- the store wrapper --------------------------------------------------------- */

static store_fault *sf(cairn_store *s)
{
    return (store_fault *)s;
}

/* Counts a method call; returns the status to fail it with, or 0. */
static int fault_now(store_fault *f)
{
    uint64_t n = atomic_fetch_add(&f->calls, 1) + 1;
    if (!f->fail_at || n < f->fail_at || (n > f->fail_at && !f->persistent))
        return 0;
    atomic_fetch_add(&f->injected, 1);
    return cairn_error_set(&f->base.err, f->code ? f->code : CAIRN_EIO, ":store/io", "injected fault at call %llu",
                           (unsigned long long)n);
}

/* Returns rc, copying the inner store's message when it failed. */
static int inner_rc(store_fault *f, int rc)
{
    if (rc < 0 && rc != CAIRN_ENOTFOUND)
        cairn_error_copy(&f->base.err, &f->inner->err);
    return rc;
}

static int f_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    int rc = fault_now(sf(s));
    return rc ? rc : inner_rc(sf(s), sf(s)->inner->methods->get(sf(s)->inner, addr, data_out, len_out));
}

static int f_put_many(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                      const size_t *lens)
{
    store_fault *f = sf(s);
    int rc = fault_now(f);
    if (rc) {
        if (f->partial_puts && n > 1)
            f->inner->methods->put_many(f->inner, n / 2, addrs, data, lens);
        return rc;
    }
    return inner_rc(f, f->inner->methods->put_many(f->inner, n, addrs, data, lens));
}

static int f_del(cairn_store *s, const cairn_addr *addr)
{
    int rc = fault_now(sf(s));
    return rc ? rc : inner_rc(sf(s), sf(s)->inner->methods->del(sf(s)->inner, addr));
}

static int f_compact(cairn_store *s)
{
    int rc = fault_now(sf(s));
    const cairn_store_methods *m = sf(s)->inner->methods;
    return rc ? rc : m->version < 3 || !m->compact ? 0 : inner_rc(sf(s), m->compact(sf(s)->inner));
}

static int f_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
{
    int rc = fault_now(sf(s));
    return rc ? rc : inner_rc(sf(s), sf(s)->inner->methods->list(sf(s)->inner, cb, payload));
}

static int f_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    int rc = fault_now(sf(s));
    return rc ? rc : inner_rc(sf(s), sf(s)->inner->methods->head_read(sf(s)->inner, name, data_out, len_out));
}

static int f_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len, const void *data,
                      size_t len)
{
    int rc = fault_now(sf(s));
    return rc ? rc
              : inner_rc(sf(s), sf(s)->inner->methods->head_cas(sf(s)->inner, name, expected, expected_len, data, len));
}

static int f_head_list(cairn_store *s, cairn_store_name_cb cb, void *payload)
{
    int rc = fault_now(sf(s));
    return rc ? rc : inner_rc(sf(s), sf(s)->inner->methods->head_list(sf(s)->inner, cb, payload));
}

static int f_lock(cairn_store *s)
{
    int rc = fault_now(sf(s));
    return rc ? rc : inner_rc(sf(s), sf(s)->inner->methods->lock(sf(s)->inner));
}

static void f_unlock(cairn_store *s)
{
    sf(s)->inner->methods->unlock(sf(s)->inner);
}

static void f_close(cairn_store *s)
{
    cairn_store_close(sf(s)->inner);
    free(s);
}

static const cairn_store_methods fault_methods = {
    CAIRN_STORE_METHODS_VERSION, "fault", f_get, f_put_many, f_del, f_list, f_head_read,
    f_head_cas, f_head_list, f_lock, f_unlock, f_close, NULL, f_compact,
};

int store_fault_wrap(cairn_store **out, cairn_store *inner, store_fault **ctl)
{
    store_fault *f = calloc(1, sizeof *f);
    if (!f)
        return CAIRN_ENOMEM;
    f->base.methods = &fault_methods;
    f->inner = inner;
    *out = &f->base;
    *ctl = f;
    return 0;
}

void store_fault_arm(store_fault *f, uint64_t n, int persistent, int code)
{
    f->persistent = persistent;
    f->code = code;
    atomic_store(&f->calls, 0);
    atomic_store(&f->injected, 0);
    f->fail_at = n;
}
