/*
 * The store layer: backend registry and dispatch, the node frame, verified
 * reads and write batches.
 *
 * Node frame (version 1), the bytes a backend stores for a node:
 *
 *   offset  size  field
 *   0       1     frame format: 0x00 = payload stored raw
 *   1       n     payload
 *
 * The address is cairn_addr_of(frame). Formats other than 0x00 are reserved
 * for compressed payloads; a reader that meets one it does not know refuses
 * the node as CAIRN_EUNSUPPORTED rather than guessing.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "edn/value.h"

#define FRAME_RAW 0x00
#define NODE_MAX ((size_t)256 << 20)  /* largest node payload accepted */

/* ---- registry ------------------------------------------------------------ */

struct backend {
    char name[32];               /* :backend keyword name */
    cairn_store_open_fn open;    /* constructor */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backend registry[16] = {
    { "mem", cairn_store_mem_open },
};
static size_t registry_count = 1;

int cairn_store_register(const char *name, cairn_store_open_fn open)
{
    int rc = 0;
    if (!name || !*name || strlen(name) >= sizeof registry[0].name || !open)
        return CAIRN_EINVALID;
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < registry_count; i++)
        if (!strcmp(registry[i].name, name))
            rc = CAIRN_EEXISTS;
    if (rc == 0 && registry_count == CAIRN_ARRAY_LEN(registry))
        rc = CAIRN_ENOMEM;
    if (rc == 0) {
        snprintf(registry[registry_count].name, sizeof registry[0].name, "%s", name);
        registry[registry_count].open = open;
        registry_count++;
    }
    pthread_mutex_unlock(&reg_lock);
    return rc;
}

void *cairn_store_data_alloc(size_t len)
{
    return cairn_malloc(len);
}

cairn_val cairn_store_config_get(cairn_val config, const char *key)
{
    cairn_val k, v;
    if (cairn_type_of(config) != CAIRN_MAP || cairn_keyword(&k, key, strlen(key)) != 0)
        return cairn_nil();
    if (!cairn_map_get(&v, config, k))
        return cairn_nil();
    return v;
}

const char *cairn_store_config_string(cairn_val config, const char *key, cairn_error *err)
{
    cairn_val v = cairn_store_config_get(config, key);
    if (cairn_type_of(v) != CAIRN_STRING || cairn_val_str(v)->len == 0) {
        cairn_error_set(err, CAIRN_EINVALID, ":store/config", "store config needs :%s as a non-empty string", key);
        return NULL;
    }
    return cairn_val_str(v)->data;
}

int cairn_store_open(cairn_store **out, cairn_val config, cairn_error *err)
{
    cairn_val backend = cairn_store_config_get(config, "backend");
    const char *name;
    cairn_store_open_fn open = NULL;
    if (cairn_type_of(config) != CAIRN_MAP)
        return cairn_error_set(err, CAIRN_EINVALID, ":store/config", "store config must be a map");
    if (cairn_type_of(backend) != CAIRN_KEYWORD)
        return cairn_error_set(err, CAIRN_EINVALID, ":store/config", "store config needs :backend as a keyword");
    name = cairn_ident_get(backend, NULL);
    pthread_mutex_lock(&reg_lock);
    for (size_t i = 0; i < registry_count; i++)
        if (!strcmp(registry[i].name, name))
            open = registry[i].open;
    pthread_mutex_unlock(&reg_lock);
    if (!open)
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":backend-does-not-exist",
                               "no store backend named :%s", name);
    return open(out, config, err);
}

void cairn_store_close(cairn_store *s)
{
    if (s)
        s->methods->close(s);
}

/* ---- nodes ------------------------------------------------------------------ */

int cairn_store_get_node(cairn_store *s, const cairn_addr *addr, void **data_out, size_t *len_out)
{
    void *data = NULL;
    size_t len = 0;
    cairn_addr check;
    int rc = s->methods->get(s, addr, &data, &len);
    if (rc < 0)
        return rc;
    cairn_addr_of(&check, data, len);
    if (len < 1 || !cairn_addr_equal(&check, addr)) {
        char hex[2 * CAIRN_ADDR_LEN + 1];
        cairn_free(data);
        cairn_addr_hex(hex, addr);
        cairn_error_set(&s->err, CAIRN_ECORRUPT, ":store/corrupt", "node %s: bytes do not match the address", hex);
        return CAIRN_CORRUPT_BKPT;
    }
    if (((uint8_t *)data)[0] != FRAME_RAW) {
        cairn_free(data);
        return cairn_error_set(&s->err, CAIRN_EUNSUPPORTED, ":store/format", "node frame format %u unknown",
                               ((uint8_t *)data)[0]);
    }
    memmove(data, (uint8_t *)data + 1, len - 1);
    *data_out = data;
    *len_out = len - 1;
    return 0;
}

struct cairn_store_batch {
    cairn_store *store;   /* where commit writes */
    size_t count;         /* nodes buffered */
    size_t cap;           /* room in the arrays */
    size_t bytes;         /* framed bytes buffered */
    cairn_addr *addrs;    /* per node */
    void **frames;        /* per node, cairn_malloc'd */
    size_t *lens;         /* per node */
};

int cairn_store_batch_new(cairn_store_batch **out, cairn_store *s)
{
    cairn_store_batch *b = cairn_malloc(sizeof *b);
    if (!b)
        return CAIRN_ENOMEM;
    memset(b, 0, sizeof *b);
    b->store = s;
    *out = b;
    return 0;
}

static int batch_grow(cairn_store_batch *b)
{
    size_t cap = b->cap ? b->cap * 2 : 64;
    cairn_addr *a = cairn_realloc(b->addrs, cairn_mul_size(cap, sizeof *a));
    void **f;
    size_t *l;
    if (!a)
        return CAIRN_ENOMEM;
    b->addrs = a;
    f = cairn_realloc(b->frames, cairn_mul_size(cap, sizeof *f));
    if (!f)
        return CAIRN_ENOMEM;
    b->frames = f;
    l = cairn_realloc(b->lens, cairn_mul_size(cap, sizeof *l));
    if (!l)
        return CAIRN_ENOMEM;
    b->lens = l;
    b->cap = cap;
    return 0;
}

int cairn_store_batch_add(cairn_store_batch *b, const void *node, size_t len, cairn_addr *addr_out)
{
    uint8_t *frame;
    int rc;
    if (len > NODE_MAX)
        return CAIRN_ELIMIT;
    if (b->count == b->cap && (rc = batch_grow(b)) < 0)
        return rc;
    frame = cairn_malloc(len + 1);
    if (!frame)
        return CAIRN_ENOMEM;
    frame[0] = FRAME_RAW;
    memcpy(frame + 1, node, len);
    cairn_addr_of(&b->addrs[b->count], frame, len + 1);
    b->frames[b->count] = frame;
    b->lens[b->count] = len + 1;
    b->bytes += len + 1;
    *addr_out = b->addrs[b->count];
    b->count++;
    return 0;
}

size_t cairn_store_batch_count(const cairn_store_batch *b)
{
    return b->count;
}

size_t cairn_store_batch_bytes(const cairn_store_batch *b)
{
    return b->bytes;
}

static void batch_clear(cairn_store_batch *b)
{
    for (size_t i = 0; i < b->count; i++)
        cairn_free(b->frames[i]);
    b->count = 0;
    b->bytes = 0;
}

int cairn_store_batch_commit(cairn_store_batch *b)
{
    int rc = 0;
    if (b->count)
        rc = b->store->methods->put_many(b->store, b->count, b->addrs, (const void *const *)b->frames, b->lens);
    if (rc == 0)
        batch_clear(b);
    return rc;
}

void cairn_store_batch_free(cairn_store_batch *b)
{
    if (!b)
        return;
    batch_clear(b);
    cairn_free(b->addrs);
    cairn_free(b->frames);
    cairn_free(b->lens);
    cairn_free(b);
}

/* ---- heads and locking ---------------------------------------------------------- */

int cairn_store_head_name_ok(const char *name)
{
    size_t n = 0;
    if (!name || !strcmp(name, ".") || !strcmp(name, ".."))
        return 0;
    for (; name[n]; n++) {
        char c = name[n];
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' ||
              c == '_' || c == '-'))
            return 0;
        if (n >= CAIRN_HEAD_NAME_MAX)
            return 0;
    }
    return n > 0;
}

int cairn_store_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    if (!cairn_store_head_name_ok(name))
        return cairn_error_set(&s->err, CAIRN_EINVALID, ":store/head", "invalid head name");
    return s->methods->head_read(s, name, data_out, len_out);
}

int cairn_store_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                         const void *data, size_t len)
{
    if (!cairn_store_head_name_ok(name))
        return cairn_error_set(&s->err, CAIRN_EINVALID, ":store/head", "invalid head name");
    if (len > CAIRN_HEAD_MAX || expected_len > CAIRN_HEAD_MAX)
        return cairn_error_set(&s->err, CAIRN_ELIMIT, ":store/head", "head value over %d bytes", CAIRN_HEAD_MAX);
    return s->methods->head_cas(s, name, expected, expected_len, data, len);
}

int cairn_store_lock(cairn_store *s)
{
    return s->methods->lock(s);
}

void cairn_store_unlock(cairn_store *s)
{
    s->methods->unlock(s);
}
