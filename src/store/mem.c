/*
 * The memory backend: {:backend :mem :id "name"}. Stores live in a
 * process-wide registry by id, so every connection in the process that names
 * the same id sees the same data, as with Datahike's memory store; they live
 * until the process ends or cairn_store_mem_delete() removes them.
 *
 * One mutex per store guards everything: the memory backend exists for tests
 * and small in-process databases, and simplicity wins over concurrency here.
 */
#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/hmap.h"
#include "store/store.h"

struct blob {
    char key[CAIRN_HEAD_NAME_MAX + 1];  /* head name (heads only) */
    cairn_addr addr;                    /* node address (nodes only) */
    size_t len;                         /* bytes */
    uint8_t data[];                     /* contents */
};

struct mem_data {
    char id[256];               /* the :id */
    pthread_mutex_t lock;       /* guards all below */
    cairn_hmap nodes;           /* addr -> struct blob */
    cairn_hmap heads;           /* name -> struct blob */
    int locked;                 /* a writer holds the store */
    struct mem_data *next;      /* registry list */
};

struct mem_store {
    cairn_store base;        /* must be first */
    struct mem_data *data;   /* shared contents */
    int is_writer;           /* this handle holds the writer lock */
};

static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static struct mem_data *registry;

static int addr_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return cairn_addr_equal(&((const struct blob *)entry)->addr, key);
}

static int name_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return strcmp(((const struct blob *)entry)->key, key) == 0;
}

static uint64_t name_hash(const char *name)
{
    return cairn_hash_bytes(name, strlen(name), 0x4ead);
}

static struct blob *blob_new(const void *data, size_t len)
{
    struct blob *b = cairn_malloc(sizeof *b + len);
    if (!b)
        return NULL;
    memset(b, 0, sizeof *b);
    b->len = len;
    if (len)
        memcpy(b->data, data, len);
    return b;
}

static int copy_out(const struct blob *b, void **data_out, size_t *len_out)
{
    void *p = cairn_store_data_alloc(b->len ? b->len : 1);
    if (!p)
        return CAIRN_ENOMEM;
    memcpy(p, b->data, b->len);
    *data_out = p;
    *len_out = b->len;
    return 0;
}

static struct mem_data *data_of(cairn_store *s)
{
    return ((struct mem_store *)s)->data;
}

static int mem_get(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    struct mem_data *d = data_of(s);
    struct blob *b;
    int rc = CAIRN_ENOTFOUND;
    pthread_mutex_lock(&d->lock);
    b = cairn_hmap_find(&d->nodes, cairn_addr_hash(addr), addr, addr_eq, NULL);
    if (b)
        rc = copy_out(b, data_out, len_out);
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int mem_put_many(cairn_store *s, size_t n, const cairn_addr *addrs, const void *const *data,
                        const size_t *lens)
{
    struct mem_data *d = data_of(s);
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    for (size_t i = 0; i < n && rc == 0; i++) {
        struct blob *b;
        if (cairn_hmap_find(&d->nodes, cairn_addr_hash(&addrs[i]), &addrs[i], addr_eq, NULL))
            continue;
        b = blob_new(data[i], lens[i]);
        if (!b) {
            rc = CAIRN_ENOMEM;
            break;
        }
        b->addr = addrs[i];
        if ((rc = cairn_hmap_insert(&d->nodes, cairn_addr_hash(&addrs[i]), b)) < 0)
            cairn_free(b);
    }
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int mem_del(cairn_store *s, const cairn_addr *addr)
{
    struct mem_data *d = data_of(s);
    pthread_mutex_lock(&d->lock);
    cairn_free(cairn_hmap_remove(&d->nodes, cairn_addr_hash(addr), addr, addr_eq, NULL));
    pthread_mutex_unlock(&d->lock);
    return 0;
}

/* Snapshot of keys so callbacks run without the lock held. */
static int mem_list(cairn_store *s, cairn_store_addr_cb cb, void *payload)
{
    struct mem_data *d = data_of(s);
    cairn_addr *keys;
    size_t n = 0;
    void *e;
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    keys = cairn_malloc(cairn_mul_size(d->nodes.count + 1, sizeof *keys));
    if (keys)
        for (size_t pos = 0; cairn_hmap_next(&d->nodes, &pos, &e);)
            keys[n++] = ((struct blob *)e)->addr;
    pthread_mutex_unlock(&d->lock);
    if (!keys)
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cb(&keys[i], payload);
    cairn_free(keys);
    return rc;
}

static int mem_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    struct mem_data *d = data_of(s);
    struct blob *b;
    int rc = cairn_store_check_head(s, name, 0);
    if (rc < 0)
        return rc;
    pthread_mutex_lock(&d->lock);
    b = cairn_hmap_find(&d->heads, name_hash(name), name, name_eq, NULL);
    rc = b ? copy_out(b, data_out, len_out) : CAIRN_ENOTFOUND;
    pthread_mutex_unlock(&d->lock);
    return rc;
}

static int mem_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                        const void *data, size_t len)
{
    struct mem_data *d = data_of(s);
    uint64_t h = name_hash(name);
    struct blob *cur, *b = NULL;
    int rc = 0;
    if ((rc = cairn_store_check_head(s, name, len)) < 0)
        return rc;
    if (data && !(b = blob_new(data, len)))
        return cairn_error_oom(&s->err);
    if (b)
        strcpy(b->key, name);
    pthread_mutex_lock(&d->lock);
    cur = cairn_hmap_find(&d->heads, h, name, name_eq, NULL);
    if (expected ? !cur || cur->len != expected_len || memcmp(cur->data, expected, expected_len) : cur != NULL) {
        rc = CAIRN_ECONFLICT;
    } else {
        if (cur)
            cairn_free(cairn_hmap_remove(&d->heads, h, name, name_eq, NULL));
        if (b && (rc = cairn_hmap_insert(&d->heads, h, b)) == 0)
            b = NULL;
    }
    pthread_mutex_unlock(&d->lock);
    cairn_free(b);
    if (rc == CAIRN_ECONFLICT)
        cairn_store_head_conflict(s, name);
    return rc;
}

static int mem_head_list(cairn_store *s, cairn_store_name_cb cb, void *payload)
{
    struct mem_data *d = data_of(s);
    char(*names)[CAIRN_HEAD_NAME_MAX + 1];
    size_t n = 0;
    void *e;
    int rc = 0;
    pthread_mutex_lock(&d->lock);
    names = cairn_malloc(cairn_mul_size(d->heads.count + 1, sizeof *names));
    if (names)
        for (size_t pos = 0; cairn_hmap_next(&d->heads, &pos, &e);)
            strcpy(names[n++], ((struct blob *)e)->key);
    pthread_mutex_unlock(&d->lock);
    if (!names)
        return CAIRN_ENOMEM;
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = cb(names[i], payload);
    cairn_free(names);
    return rc;
}

static int mem_lock(cairn_store *s)
{
    struct mem_store *m = (struct mem_store *)s;
    int rc = 0;
    if (m->is_writer)
        return 0;
    pthread_mutex_lock(&m->data->lock);
    if (m->data->locked)
        rc = cairn_error_set(&s->err, CAIRN_EBUSY, ":store/locked", "store %s already has a writer", m->data->id);
    else
        m->data->locked = m->is_writer = 1;
    pthread_mutex_unlock(&m->data->lock);
    return rc;
}

static void mem_unlock(cairn_store *s)
{
    struct mem_store *m = (struct mem_store *)s;
    if (!m->is_writer)
        return;
    pthread_mutex_lock(&m->data->lock);
    m->data->locked = m->is_writer = 0;
    pthread_mutex_unlock(&m->data->lock);
}

static void mem_close(cairn_store *s)
{
    mem_unlock(s);
    cairn_free(s);
}

static const cairn_store_methods mem_methods = {
    CAIRN_STORE_METHODS_VERSION, "mem", mem_get, mem_put_many, mem_del, mem_list, mem_head_read,
    mem_head_cas, mem_head_list, mem_lock, mem_unlock, mem_close, NULL, NULL,
};

int cairn_store_mem_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    cairn_val idv = cairn_store_config_get(config, "id");
    const char *id = "default";
    struct mem_data *d;
    struct mem_store *m;
    if (cairn_type_of(idv) == CAIRN_STRING)
        id = cairn_str_get(idv, NULL);
    else if (cairn_type_of(idv) != CAIRN_NIL)
        return cairn_error_set(err, CAIRN_EINVALID, ":store/config", ":id of a :mem store must be a string");
    if (strlen(id) >= sizeof d->id)
        return cairn_error_set(err, CAIRN_EINVALID, ":store/config", ":id too long");
    m = cairn_malloc(sizeof *m);
    if (!m)
        return cairn_error_oom(err);
    memset(m, 0, sizeof *m);
    pthread_mutex_lock(&registry_lock);
    for (d = registry; d && strcmp(d->id, id); d = d->next)
        ;
    if (!d && (d = cairn_malloc(sizeof *d)) != NULL) {
        memset(d, 0, sizeof *d);
        strcpy(d->id, id);
        pthread_mutex_init(&d->lock, NULL);
        d->next = registry;
        registry = d;
    }
    pthread_mutex_unlock(&registry_lock);
    if (!d) {
        cairn_free(m);
        return cairn_error_oom(err);
    }
    m->base.methods = &mem_methods;
    m->data = d;
    *out = &m->base;
    return 0;
}
