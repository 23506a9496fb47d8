/*
 * Crash-simulating vfs (store_crashfs.h). Inodes live in one array; inode 0
 * is the store root. Every file keeps its live bytes and its durable bytes,
 * every directory its live and its durable entries; operations not yet made
 * durable are kept in issue order in one pending list, grouped so that one
 * call's effects in one directory (a rename there) stand or fall together.
 */
#include "store_crashfs.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

struct entry {
    char *name;                 /* component name */
    int ino;                    /* inode it names */
};

struct inode {
    int is_dir;                 /* directory or file */
    uint8_t *data;              /* file: live bytes */
    size_t len;
    uint8_t *ddata;             /* file: durable bytes */
    size_t dlen;
    struct entry *live;         /* dir: live entries */
    size_t nlive;
    struct entry *dur;          /* dir: durable entries */
    size_t ndur;
    int64_t mtime;              /* logical clock at last change */
};

enum { P_WRITE, P_ADD, P_DEL };

struct pending {
    int kind;                   /* P_WRITE, P_ADD or P_DEL */
    int ino;                    /* file written, or directory changed */
    uint64_t group;             /* ops that stand or fall together */
    uint64_t off;               /* write: file offset */
    uint8_t *bytes;             /* write: data */
    size_t len;                 /* write: length */
    char *name;                 /* add/del: entry name */
    int target;                 /* add/del: inode named */
};

struct handle {
    int used;                   /* slot taken */
    int ino;                    /* inode */
};

struct crashfs {
    cairn_vfs vfs;              /* must be first */
    struct inode *ino;          /* inode table */
    size_t nino;
    struct pending *pend;       /* not yet durable, in issue order */
    size_t npend;
    struct handle *h;           /* open handles */
    size_t nh;
    uint64_t next_group;        /* group id counter */
    uint64_t syncs;             /* fsync + fsync_dir calls */
    int64_t clock;              /* logical time */
    int eatmydata;              /* fsyncs are no-ops */
    crashfs_hook hook;          /* called before each sync */
    void *hook_payload;
};

static crashfs *cf(cairn_vfs *v)
{
    return (crashfs *)v;
}

static void *xrealloc(void *p, size_t n)
{
    void *q = realloc(p, n ? n : 1);
    if (!q)
        abort(); /* test support: out of memory ends the test */
    return q;
}

static char *xstrdup(const char *s)
{
    size_t n = strlen(s) + 1;
    return memcpy(xrealloc(NULL, n), s, n);
}

static void *xmemdup(const void *p, size_t n)
{
    void *q = xrealloc(NULL, n);
    if (n)
        memcpy(q, p, n);
    return q;
}

static int new_inode(crashfs *fs, int is_dir)
{
    fs->ino = xrealloc(fs->ino, (fs->nino + 1) * sizeof *fs->ino);
    memset(&fs->ino[fs->nino], 0, sizeof *fs->ino);
    fs->ino[fs->nino].is_dir = is_dir;
    fs->ino[fs->nino].mtime = fs->clock;
    return (int)fs->nino++;
}

static int new_handle(crashfs *fs, int ino)
{
    for (size_t i = 0; i < fs->nh; i++)
        if (!fs->h[i].used) {
            fs->h[i].used = 1;
            fs->h[i].ino = ino;
            return (int)i;
        }
    fs->h = xrealloc(fs->h, (fs->nh + 1) * sizeof *fs->h);
    fs->h[fs->nh].used = 1;
    fs->h[fs->nh].ino = ino;
    return (int)fs->nh++;
}

static int ino_of(crashfs *fs, int handle)
{
    if (handle < 0 || (size_t)handle >= fs->nh || !fs->h[handle].used)
        return -1;
    return fs->h[handle].ino;
}

static struct entry *find(struct entry *e, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (!strcmp(e[i].name, name))
            return &e[i];
    return NULL;
}

/* Sets name -> ino in an entry array. */
static void entry_set(struct entry **e, size_t *n, const char *name, int ino)
{
    struct entry *x = find(*e, *n, name);
    if (x) {
        x->ino = ino;
        return;
    }
    *e = xrealloc(*e, (*n + 1) * sizeof **e);
    (*e)[*n].name = xstrdup(name);
    (*e)[*n].ino = ino;
    (*n)++;
}

static void entry_del(struct entry *e, size_t *n, const char *name, int only_ino)
{
    struct entry *x = find(e, *n, name);
    if (!x || (only_ino >= 0 && x->ino != only_ino))
        return;
    free(x->name);
    *x = e[--*n];
}

static void entries_free(struct entry *e, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(e[i].name);
    free(e);
}

static struct entry *entries_copy(const struct entry *e, size_t n)
{
    struct entry *c = xrealloc(NULL, n * sizeof *c);
    for (size_t i = 0; i < n; i++) {
        c[i].name = xstrdup(e[i].name);
        c[i].ino = e[i].ino;
    }
    return c;
}

static void pend_add(crashfs *fs, struct pending p)
{
    fs->pend = xrealloc(fs->pend, (fs->npend + 1) * sizeof *fs->pend);
    fs->pend[fs->npend++] = p;
}

static void pend_dir(crashfs *fs, int kind, int dir, const char *name, int target, uint64_t group)
{
    struct pending p;
    memset(&p, 0, sizeof p);
    p.kind = kind;
    p.ino = dir;
    p.group = group;
    p.name = xstrdup(name);
    p.target = target;
    pend_add(fs, p);
}

static void pend_free(struct pending *p)
{
    free(p->bytes);
    free(p->name);
}

/* Drops pending ops matching kind-class and inode (they became durable). */
static void pend_settle(crashfs *fs, int dir_ops, int ino)
{
    size_t k = 0;
    for (size_t i = 0; i < fs->npend; i++) {
        struct pending *p = &fs->pend[i];
        if ((p->kind != P_WRITE) == dir_ops && p->ino == ino)
            pend_free(p);
        else
            fs->pend[k++] = *p;
    }
    fs->npend = k;
}

/* ---- the vfs ---------------------------------------------------------------------- */

static int cf_root_open(cairn_vfs *v, const char *path, int create, int *dir_out)
{
    (void)path;
    (void)create;
    *dir_out = new_handle(cf(v), 0);
    return 0;
}

static int cf_dir_open(cairn_vfs *v, int dir, const char *name, int create, int *dir_out)
{
    crashfs *fs = cf(v);
    int d = ino_of(fs, dir);
    struct entry *e;
    fs->clock++;
    if (d < 0 || !fs->ino[d].is_dir)
        return -EBADF;
    e = find(fs->ino[d].live, fs->ino[d].nlive, name);
    if (!e) {
        int n;
        if (!create)
            return -ENOENT;
        n = new_inode(fs, 1);
        entry_set(&fs->ino[d].live, &fs->ino[d].nlive, name, n);
        pend_dir(fs, P_ADD, d, name, n, fs->next_group++);
        *dir_out = new_handle(fs, n);
        return 0;
    }
    if (!fs->ino[e->ino].is_dir)
        return -ENOTDIR;
    *dir_out = new_handle(fs, e->ino);
    return 0;
}

static int cf_open(cairn_vfs *v, int dir, const char *name, int flags, int *fd_out)
{
    crashfs *fs = cf(v);
    int d = ino_of(fs, dir), n;
    struct entry *e;
    fs->clock++;
    if (d < 0 || !fs->ino[d].is_dir)
        return -EBADF;
    e = find(fs->ino[d].live, fs->ino[d].nlive, name);
    if (flags == CAIRN_VFS_READ) {
        if (!e)
            return -ENOENT;
        if (fs->ino[e->ino].is_dir)
            return -EINVAL;
        *fd_out = new_handle(fs, e->ino);
        return 0;
    }
    if (e)
        return -EEXIST;
    n = new_inode(fs, 0);
    entry_set(&fs->ino[d].live, &fs->ino[d].nlive, name, n);
    pend_dir(fs, P_ADD, d, name, n, fs->next_group++);
    *fd_out = new_handle(fs, n);
    return 0;
}

static int cf_close(cairn_vfs *v, int fd)
{
    crashfs *fs = cf(v);
    if (ino_of(fs, fd) < 0)
        return -EBADF;
    fs->h[fd].used = 0;
    return 0;
}

static ssize_t cf_pread(cairn_vfs *v, int fd, void *buf, size_t len, uint64_t off)
{
    crashfs *fs = cf(v);
    int i = ino_of(fs, fd);
    struct inode *n;
    if (i < 0)
        return -EBADF;
    n = &fs->ino[i];
    if (off >= n->len)
        return 0;
    if (len > n->len - off)
        len = n->len - (size_t)off;
    memcpy(buf, n->data + off, len);
    return (ssize_t)len;
}

static ssize_t cf_pwrite(cairn_vfs *v, int fd, const void *buf, size_t len, uint64_t off)
{
    crashfs *fs = cf(v);
    int i = ino_of(fs, fd);
    struct inode *n;
    struct pending p;
    size_t end = (size_t)off + len;
    if (i < 0)
        return -EBADF;
    n = &fs->ino[i];
    memset(&p, 0, sizeof p);
    p.kind = P_WRITE;
    p.ino = i;
    p.group = fs->next_group++;
    p.off = off;
    p.bytes = xmemdup(buf, len);
    p.len = len;
    pend_add(fs, p);
    if (end > n->len) {
        n->data = xrealloc(n->data, end);
        memset(n->data + n->len, 0, end - n->len);
        n->len = end;
    }
    memcpy(n->data + off, buf, len);
    n->mtime = ++fs->clock;
    return (ssize_t)len;
}

static ssize_t cf_write(cairn_vfs *v, int fd, const void *buf, size_t len)
{
    crashfs *fs = cf(v);
    int i = ino_of(fs, fd);
    if (i < 0)
        return -EBADF;
    return cf_pwrite(v, fd, buf, len, fs->ino[i].len);
}

static int cf_fsync(cairn_vfs *v, int fd)
{
    crashfs *fs = cf(v);
    int i = ino_of(fs, fd);
    struct inode *n;
    if (i < 0)
        return -EBADF;
    if (fs->hook)
        fs->hook(fs, fs->hook_payload);
    fs->syncs++;
    if (fs->eatmydata)
        return 0;
    n = &fs->ino[i];
    if (n->is_dir) {
        entries_free(n->dur, n->ndur);
        n->dur = entries_copy(n->live, n->nlive);
        n->ndur = n->nlive;
        pend_settle(fs, 1, i);
    } else {
        free(n->ddata);
        n->ddata = xmemdup(n->data, n->len);
        n->dlen = n->len;
        pend_settle(fs, 0, i);
    }
    return 0;
}

static int cf_size(cairn_vfs *v, int fd, uint64_t *size_out)
{
    crashfs *fs = cf(v);
    int i = ino_of(fs, fd);
    if (i < 0)
        return -EBADF;
    *size_out = fs->ino[i].len;
    return 0;
}

static int cf_rename(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to)
{
    crashfs *fs = cf(v);
    int a = ino_of(fs, from_dir), b = ino_of(fs, to_dir), target;
    struct entry *e;
    uint64_t g = fs->next_group++;
    fs->clock++;
    if (a < 0 || b < 0)
        return -EBADF;
    if (!(e = find(fs->ino[a].live, fs->ino[a].nlive, from)))
        return -ENOENT;
    target = e->ino;
    if (a == b && !strcmp(from, to))
        return 0;
    entry_set(&fs->ino[b].live, &fs->ino[b].nlive, to, target);
    entry_del(fs->ino[a].live, &fs->ino[a].nlive, from, -1);
    pend_dir(fs, P_ADD, b, to, target, g);
    pend_dir(fs, P_DEL, a, from, target, a == b ? g : fs->next_group++);
    return 0;
}

static int cf_link(cairn_vfs *v, int from_dir, const char *from, int to_dir, const char *to)
{
    crashfs *fs = cf(v);
    int a = ino_of(fs, from_dir), b = ino_of(fs, to_dir);
    struct entry *e;
    fs->clock++;
    if (a < 0 || b < 0)
        return -EBADF;
    if (!(e = find(fs->ino[a].live, fs->ino[a].nlive, from)))
        return -ENOENT;
    if (find(fs->ino[b].live, fs->ino[b].nlive, to))
        return -EEXIST;
    entry_set(&fs->ino[b].live, &fs->ino[b].nlive, to, e->ino);
    pend_dir(fs, P_ADD, b, to, e->ino, fs->next_group++);
    return 0;
}

static int cf_unlink(cairn_vfs *v, int dir, const char *name)
{
    crashfs *fs = cf(v);
    int d = ino_of(fs, dir), target;
    struct entry *e;
    fs->clock++;
    if (d < 0)
        return -EBADF;
    if (!(e = find(fs->ino[d].live, fs->ino[d].nlive, name)))
        return -ENOENT;
    target = e->ino;
    entry_del(fs->ino[d].live, &fs->ino[d].nlive, name, -1);
    pend_dir(fs, P_DEL, d, name, target, fs->next_group++);
    return 0;
}

static int cf_list(cairn_vfs *v, int dir, cairn_vfs_name_cb cb, void *payload)
{
    crashfs *fs = cf(v);
    int d = ino_of(fs, dir), rc = 0;
    struct entry *copy;
    size_t n;
    if (d < 0)
        return -EBADF;
    n = fs->ino[d].nlive;
    copy = entries_copy(fs->ino[d].live, n);
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cb(copy[i].name, payload);
    entries_free(copy, n);
    return rc;
}

static int cf_stat(cairn_vfs *v, int dir, const char *name, int64_t *age_out)
{
    crashfs *fs = cf(v);
    int d = ino_of(fs, dir);
    struct entry *e;
    if (d < 0)
        return -EBADF;
    if (!(e = find(fs->ino[d].live, fs->ino[d].nlive, name)))
        return -ENOENT;
    if (age_out)
        *age_out = fs->clock - fs->ino[e->ino].mtime;
    return 0;
}

static int cf_lock(cairn_vfs *v, int fd)
{
    return ino_of(cf(v), fd) < 0 ? -EBADF : 0;
}

static const cairn_vfs crashfs_ops = {
    cf_root_open, cf_dir_open, cf_open, cf_close, cf_pread, cf_write, cf_fsync, cf_size,
    cf_rename, cf_link, cf_unlink, cf_fsync, cf_list, cf_stat, cf_lock, cf_pwrite, cf_fsync,
};

/* ---- life cycle and crash states ------------------------------------------------- */

crashfs *crashfs_new(void)
{
    crashfs *fs = xrealloc(NULL, sizeof *fs);
    memset(fs, 0, sizeof *fs);
    fs->vfs = crashfs_ops;
    new_inode(fs, 1); /* the root, durable from the start */
    return fs;
}

void crashfs_free(crashfs *fs)
{
    if (!fs)
        return;
    for (size_t i = 0; i < fs->nino; i++) {
        free(fs->ino[i].data);
        free(fs->ino[i].ddata);
        entries_free(fs->ino[i].live, fs->ino[i].nlive);
        entries_free(fs->ino[i].dur, fs->ino[i].ndur);
    }
    for (size_t i = 0; i < fs->npend; i++)
        pend_free(&fs->pend[i]);
    free(fs->ino);
    free(fs->pend);
    free(fs->h);
    free(fs);
}

cairn_vfs *crashfs_vfs(crashfs *fs)
{
    return &fs->vfs;
}

void crashfs_set_eatmydata(crashfs *fs, int on)
{
    fs->eatmydata = on;
}

void crashfs_set_hook(crashfs *fs, crashfs_hook hook, void *payload)
{
    fs->hook = hook;
    fs->hook_payload = payload;
}

uint64_t crashfs_syncs(const crashfs *fs)
{
    return fs->syncs;
}

crashfs *crashfs_clone(const crashfs *src)
{
    crashfs *fs = xrealloc(NULL, sizeof *fs);
    *fs = *src;
    fs->hook = NULL;
    fs->ino = xrealloc(NULL, src->nino * sizeof *fs->ino);
    for (size_t i = 0; i < src->nino; i++) {
        const struct inode *s = &src->ino[i];
        struct inode *d = &fs->ino[i];
        *d = *s;
        d->data = xmemdup(s->data, s->len);
        d->ddata = xmemdup(s->ddata, s->dlen);
        d->live = entries_copy(s->live, s->nlive);
        d->dur = entries_copy(s->dur, s->ndur);
    }
    fs->pend = xrealloc(NULL, src->npend * sizeof *fs->pend);
    for (size_t i = 0; i < src->npend; i++) {
        fs->pend[i] = src->pend[i];
        fs->pend[i].bytes = src->pend[i].bytes ? xmemdup(src->pend[i].bytes, src->pend[i].len) : NULL;
        fs->pend[i].name = src->pend[i].name ? xstrdup(src->pend[i].name) : NULL;
    }
    fs->h = xmemdup(src->h, src->nh * sizeof *src->h);
    return fs;
}

size_t crashfs_pending_groups(const crashfs *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->npend; i++)
        if (i == 0 || fs->pend[i].group != fs->pend[i - 1].group)
            n++;
    return n;
}

size_t crashfs_pending_writes(const crashfs *fs)
{
    size_t n = 0;
    for (size_t i = 0; i < fs->npend; i++)
        n += fs->pend[i].kind == P_WRITE;
    return n;
}

static uint64_t rng(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Writes bytes at off into a file's (projected) contents. */
static void apply_write(struct inode *n, uint64_t off, const uint8_t *bytes, size_t len)
{
    size_t end = (size_t)off + len;
    if (end > n->len) {
        n->data = xrealloc(n->data, end);
        memset(n->data + n->len, 0, end - n->len);
        n->len = end;
    }
    memcpy(n->data + off, bytes, len);
}

crashfs *crashfs_crash(const crashfs *src, enum crash_mode mode, uint64_t which, uint64_t seed)
{
    crashfs *fs = crashfs_clone(src);
    size_t ngroups = crashfs_pending_groups(src), nwrites = crashfs_pending_writes(src), gi = 0, wi = 0;
    uint64_t s = seed, drop_group = ngroups ? which % ngroups : 0, hit_write = nwrites ? which % nwrites : 0;
    int keep = 1, torn_ino = -1;
    /* the projection starts from what was durable */
    for (size_t i = 0; i < fs->nino; i++) {
        struct inode *n = &fs->ino[i];
        free(n->data);
        n->data = xmemdup(n->ddata, n->dlen);
        n->len = n->dlen;
        entries_free(n->live, n->nlive);
        n->live = entries_copy(n->dur, n->ndur);
        n->nlive = n->ndur;
    }
    for (size_t i = 0; i < src->npend; i++) {
        const struct pending *p = &src->pend[i];
        struct inode *n = &fs->ino[p->ino];
        if (i == 0 || p->group != src->pend[i - 1].group) {
            keep = mode == CRASH_KEEP_ALL || mode >= CRASH_TEAR_512 ||
                   (mode == CRASH_SUBSET && (rng(&s) & 1)) || (mode == CRASH_DROP_ONE && gi != drop_group);
            gi++;
        }
        if (!keep)
            continue;
        if (p->kind == P_WRITE) {
            size_t idx = wi++;
            if (p->ino == torn_ino)
                continue; /* a torn file keeps nothing written after the tear */
            if (mode >= CRASH_TEAR_512 && idx == hit_write) {
                if (mode == CRASH_GARBAGE) {
                    uint8_t *junk = xrealloc(NULL, p->len);
                    for (size_t k = 0; k < p->len; k++)
                        junk[k] = (uint8_t)rng(&s);
                    apply_write(n, p->off, junk, p->len);
                    free(junk);
                } else {
                    uint64_t b = mode == CRASH_TEAR_512 ? 512 : 4096;
                    uint64_t cut = (p->off + (p->len ? rng(&s) % p->len : 0)) / b * b;
                    if (cut > p->off)
                        apply_write(n, p->off, p->bytes, (size_t)(cut - p->off));
                    torn_ino = p->ino;
                }
                continue;
            }
            apply_write(n, p->off, p->bytes, p->len);
        } else if (p->kind == P_ADD) {
            entry_set(&n->live, &n->nlive, p->name, p->target);
        } else {
            entry_del(n->live, &n->nlive, p->name, p->target);
        }
    }
    /* everything in the projection is now durable */
    for (size_t i = 0; i < fs->nino; i++) {
        struct inode *n = &fs->ino[i];
        free(n->ddata);
        n->ddata = xmemdup(n->data, n->len);
        n->dlen = n->len;
        entries_free(n->dur, n->ndur);
        n->dur = entries_copy(n->live, n->nlive);
        n->ndur = n->nlive;
    }
    for (size_t i = 0; i < fs->npend; i++)
        pend_free(&fs->pend[i]);
    fs->npend = 0;
    for (size_t i = 0; i < fs->nh; i++)
        fs->h[i].used = 0;
    fs->eatmydata = 0;
    return fs;
}
