/*
 * The store layer: backend registry and dispatch, the node frame, verified
 * reads and write batches.
 *
 * Node frame (version 1), the bytes a backend stores for a node; the node's
 * address is cairn_addr_of(frame), so a read is verified before anything is
 * decompressed and a replica copies nodes without understanding them:
 *
 *   offset  size  field
 *   0       1     format: 0x00 = payload stored raw, 0x01 = zstd
 *   raw:
 *   1       n     payload
 *   zstd:
 *   1       4     payload length, big-endian, at most NODE_MAX and at most
 *                 MAX_RATIO times the compressed length
 *   5       m     one zstd frame that declares the same content size
 *
 * A reader that meets a format it does not know refuses the node as
 * CAIRN_EUNSUPPORTED rather than guessing. Decompression is bounded: the
 * declared length is checked against both caps before anything is allocated,
 * the zstd frame must declare that exact size, and the output buffer is that
 * size, so a hostile frame cannot make a reader allocate more than 255 bytes
 * per stored byte (no zip bombs). A writer that would exceed the ratio stores
 * the node raw.
 *
 * Why zstd level 2. Measured on generated index leaves (sorted,
 * prefix-compressed datom keys e|a|v|tx, tests/support/store_payload.c),
 * 4-32 KiB, on this 2-core VM (noisy, +-15%):
 *
 *   codec      ratio (EAVT/AEVT/AVET)   compress MB/s   decompress MB/s
 *   zstd -1    2.5-2.9 / 2.0-2.2 / 2.2-2.5   380-430        1600-2300
 *   zstd 1     2.5-2.9 / 2.2-2.4 / 2.4-2.7   250-370         850-1500
 *   zstd 3     2.7-3.0 / 2.2-2.4 / 2.4-2.7   210-380         900-1850
 *   zstd 6     2.7-3.0 / 2.4-2.6 / 2.6-2.8    80-120        1100-1900
 *   lz4        1.9-2.1 / 1.7-1.9 / 1.8-1.9   650-860        4000-5900
 *
 * And on the benchmark data set (bulk-load-1000 of 100k people into the
 * file store, then gc-storage; bytes on disk per datom with every commit
 * kept / after gc, and bulk datoms/s, interleaved runs):
 *
 *   level 1   61.17 / 15.20   444-472k (4 runs)
 *   level 2   59.94 / 14.94   431-465k (4 runs)
 *   level 3   59.51 / 14.75   398-409k (4 runs)
 *   level 5   58.20 / 14.10   320k
 *
 * A node costs one fsync (~0.25 ms here) and one SHA-256 to write and a
 * file open and read to fetch, so compressing a 16 KiB leaf (~50 us) and
 * decompressing it (~15 us) are small beside the I/O, while the 2.2-2.9x
 * smaller nodes cut disk use, page cache and replication traffic (rsync,
 * S3) by the same factor. Level 2 stores 2% less than level 1 for no
 * measurable cost on the writer (whose time goes to compressing every
 * flushed leaf); level 3 saves another 1.3% for 10% of bulk-load
 * throughput. lz4 decompresses faster but stores 25-35% more
 * bytes and would be a second dependency for no visible gain, since the
 * decoded-node cache sits above this layer. Payloads under 64 bytes, and
 * payloads that shrink by less than 1/16, are stored raw.
 */
#include "store/store.h"

#include <pthread.h>
#include <stdio.h>
#include <string.h>

#define ZSTD_STATIC_LINKING_ONLY /* ZSTD_customMem: zstd allocates through cairn_malloc */
#include <zstd.h>
#include <zstd_errors.h>

#include "base/alloc.h"
#include "base/err.h"
#include "edn/value.h"

#define FRAME_RAW 0x00
#define FRAME_ZSTD 0x01
#define ZSTD_HDR 5                    /* format byte + payload length */
#define ZSTD_LEVEL 2
#define COMPRESS_MIN 64               /* smaller payloads are stored raw */
#define MAX_RATIO 255                 /* payload bytes per compressed byte, at most */
#define NODE_MAX ((size_t)256 << 20)  /* largest node payload accepted */

/* ---- registry ------------------------------------------------------------ */

struct backend {
    char name[32];               /* :backend keyword name */
    cairn_store_open_fn open;    /* constructor */
};

static pthread_mutex_t reg_lock = PTHREAD_MUTEX_INITIALIZER;
static struct backend registry[16] = {
    { "mem", cairn_store_mem_open },
    { "file", cairn_store_file_open },
    { "lmdb", cairn_store_lmdb_open },
    { "sqlite", cairn_store_sqlite_open },
};
static size_t registry_count = 4;

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

int cairn_store_config_int(int64_t *out, cairn_val config, const char *key, int64_t def, int64_t min,
                           cairn_error *err)
{
    cairn_val v = cairn_store_config_get(config, key);
    if (cairn_type_of(v) == CAIRN_NIL) {
        *out = def;
        return 0;
    }
    if (cairn_type_of(v) != CAIRN_INT || cairn_int_value(v) < min)
        return cairn_error_set(err, CAIRN_EINVALID, ":store/config", "store config :%s must be an integer >= %lld",
                               key, (long long)min);
    *out = cairn_int_value(v);
    return 0;
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

/* ---- the node frame ------------------------------------------------------------- */

/*
 * zstd allocates through the seam (so out-of-memory tests reach it), but its
 * memory belongs to per-thread contexts that live as long as their thread:
 * it is kept out of the live-block count that leak checks compare.
 */
static void *zstd_alloc(void *opaque, size_t size)
{
    void *p = cairn_malloc(size);
    (void)opaque;
    if (p)
        cairn__alloc_untrack(1);
    return p;
}

static void zstd_free(void *opaque, void *p)
{
    (void)opaque;
    if (p)
        cairn__alloc_untrack(-1);
    cairn_free(p);
}

static const ZSTD_customMem zstd_mem = { zstd_alloc, zstd_free, NULL };
static pthread_once_t zstd_once = PTHREAD_ONCE_INIT;
static pthread_key_t cctx_key, dctx_key;  /* one context of each kind per thread */

static void cctx_free(void *p)
{
    ZSTD_freeCCtx(p);
}

static void dctx_free(void *p)
{
    ZSTD_freeDCtx(p);
}

static void zstd_init(void)
{
    pthread_key_create(&cctx_key, cctx_free);
    pthread_key_create(&dctx_key, dctx_free);
}

/* This thread's compression context, or NULL when out of memory. */
static ZSTD_CCtx *cctx_get(void)
{
    ZSTD_CCtx *c;
    pthread_once(&zstd_once, zstd_init);
    if ((c = pthread_getspecific(cctx_key)) == NULL && (c = ZSTD_createCCtx_advanced(zstd_mem)) != NULL &&
        pthread_setspecific(cctx_key, c) != 0) {
        ZSTD_freeCCtx(c);
        c = NULL;
    }
    return c;
}

static ZSTD_DCtx *dctx_get(void)
{
    ZSTD_DCtx *d;
    pthread_once(&zstd_once, zstd_init);
    if ((d = pthread_getspecific(dctx_key)) == NULL && (d = ZSTD_createDCtx_advanced(zstd_mem)) != NULL &&
        pthread_setspecific(dctx_key, d) != 0) {
        ZSTD_freeDCtx(d);
        d = NULL;
    }
    return d;
}

/*
 * Compresses payload into a zstd frame. Returns 0 with the frame, 1 when
 * compressing does not pay (the caller stores it raw), or CAIRN_ENOMEM. Out
 * of memory must never fall back to a raw frame: the frame, and so the
 * address, of a payload must not depend on memory pressure.
 */
static int frame_zstd(uint8_t **out, size_t *frame_len, const void *payload, size_t len)
{
    ZSTD_CCtx *c;
    size_t bound = ZSTD_compressBound(len), n;
    uint8_t *f, *shrunk;
    if (len < COMPRESS_MIN || len > NODE_MAX)
        return 1;
    if (!(c = cctx_get()) || !(f = cairn_malloc(ZSTD_HDR + bound)))
        return CAIRN_ENOMEM;
    n = ZSTD_compressCCtx(c, f + ZSTD_HDR, bound, payload, len, ZSTD_LEVEL);
    if (ZSTD_isError(n)) {
        cairn_free(f);
        return ZSTD_getErrorCode(n) == ZSTD_error_memory_allocation ? CAIRN_ENOMEM : 1;
    }
    if (ZSTD_HDR + n + len / 16 > len || len > MAX_RATIO * n) {
        cairn_free(f);
        return 1;
    }
    f[0] = FRAME_ZSTD;
    cairn_put_be32(f + 1, (uint32_t)len);
    if ((shrunk = cairn_realloc(f, ZSTD_HDR + n)) != NULL)
        f = shrunk;
    *frame_len = ZSTD_HDR + n;
    *out = f;
    return 0;
}

int cairn_store_frame_encode(uint8_t **frame_out, size_t *len_out, const void *payload, size_t len)
{
    uint8_t *f;
    int rc;
    if (len > NODE_MAX)
        return CAIRN_ELIMIT;
    if ((rc = frame_zstd(frame_out, len_out, payload, len)) <= 0)
        return rc;
    if (!(f = cairn_malloc(len + 1)))
        return CAIRN_ENOMEM;
    f[0] = FRAME_RAW;
    if (len)
        memcpy(f + 1, payload, len);
    *frame_out = f;
    *len_out = len + 1;
    return 0;
}

static int frame_corrupt(cairn_error *err, const char *what)
{
    cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "node frame: %s", what);
    return CAIRN_CORRUPT_BKPT;
}

int cairn_store_frame_decode(void **payload_out, size_t *len_out, const void *frame, size_t len, cairn_error *err)
{
    const uint8_t *f = frame;
    size_t plen, n;
    unsigned long long declared;
    ZSTD_DCtx *d;
    uint8_t *out;
    if (len < 1)
        return frame_corrupt(err, "empty");
    if (f[0] == FRAME_RAW) {
        if (!(out = cairn_malloc(len)))
            return cairn_error_oom(err);
        memcpy(out, f + 1, len - 1);
        *payload_out = out;
        *len_out = len - 1;
        return 0;
    }
    if (f[0] != FRAME_ZSTD)
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":store/format", "node frame format %u unknown", f[0]);
    if (len < ZSTD_HDR + 1)
        return frame_corrupt(err, "truncated zstd header");
    plen = cairn_get_be32(f + 1);
    if (plen > NODE_MAX || plen > MAX_RATIO * (len - ZSTD_HDR))
        return frame_corrupt(err, "declared size over the limit");
    declared = ZSTD_getFrameContentSize(f + ZSTD_HDR, len - ZSTD_HDR);
    if (declared != plen)
        return frame_corrupt(err, "zstd frame size disagrees with the header");
    if (!(d = dctx_get()) || !(out = cairn_malloc(plen ? plen : 1)))
        return cairn_error_oom(err);
    n = ZSTD_decompressDCtx(d, out, plen, f + ZSTD_HDR, len - ZSTD_HDR);
    if (ZSTD_isError(n) || n != plen) {
        cairn_free(out);
        return frame_corrupt(err, "zstd data does not decode");
    }
    *payload_out = out;
    *len_out = plen;
    return 0;
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
    if (((uint8_t *)data)[0] == FRAME_RAW) { /* the common case decodes in place */
        memmove(data, (uint8_t *)data + 1, len - 1);
        *data_out = data;
        *len_out = len - 1;
        return 0;
    }
    rc = cairn_store_frame_decode(data_out, len_out, data, len, &s->err);
    cairn_free(data);
    return rc;
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

int cairn_store_frame_node(uint8_t **frame_out, size_t *len_out, cairn_addr *addr_out, const void *node, size_t len)
{
    int rc;
    if (len > NODE_MAX)
        return CAIRN_ELIMIT;
    if ((rc = cairn_store_frame_encode(frame_out, len_out, node, len)) < 0)
        return rc;
    cairn_addr_of(addr_out, *frame_out, *len_out);
    return 0;
}

int cairn_store_batch_add_frame(cairn_store_batch *b, uint8_t *frame, size_t len, const cairn_addr *addr)
{
    int rc;
    if (b->count == b->cap && (rc = batch_grow(b)) < 0) {
        cairn_free(frame);
        return rc;
    }
    b->addrs[b->count] = *addr;
    b->frames[b->count] = frame;
    b->lens[b->count] = len;
    b->bytes += len;
    b->count++;
    return 0;
}

int cairn_store_batch_add(cairn_store_batch *b, const void *node, size_t len, cairn_addr *addr_out)
{
    uint8_t *frame;
    size_t flen;
    int rc;
    if ((rc = cairn_store_frame_node(&frame, &flen, addr_out, node, len)) < 0)
        return rc;
    return cairn_store_batch_add_frame(b, frame, flen, addr_out);
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

int cairn_store_batch_commit_head(cairn_store_batch *b, const char *name, const void *expected, size_t expected_len,
                                  const void *value, size_t len)
{
    cairn_store *s = b->store;
    int rc;
    if ((rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len))) < 0)
        return rc;
    if (s->methods->version < 2 || !s->methods->commit) {
        if ((rc = cairn_store_batch_commit(b)) < 0)
            return rc;
        return s->methods->head_cas(s, name, expected, expected_len, value, len);
    }
    rc = s->methods->commit(s, b->count, b->addrs, (const void *const *)b->frames, b->lens, name, expected,
                            expected_len, value, len);
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

int cairn_store_check_head(cairn_store *s, const char *name, size_t len)
{
    if (!cairn_store_head_name_ok(name))
        return cairn_error_set(&s->err, CAIRN_EINVALID, ":store/head", "invalid head name");
    if (len > CAIRN_HEAD_MAX)
        return cairn_error_set(&s->err, CAIRN_ELIMIT, ":store/head", "head value over %d bytes", CAIRN_HEAD_MAX);
    return 0;
}

int cairn_store_head_conflict(cairn_store *s, const char *name)
{
    return cairn_error_set(&s->err, CAIRN_ECONFLICT, ":store/conflict", "head %s does not hold the expected value",
                           name);
}

int cairn_store_head_read(cairn_store *s, const char *name, void **data_out, size_t *len_out)
{
    int rc = cairn_store_check_head(s, name, 0);
    return rc < 0 ? rc : s->methods->head_read(s, name, data_out, len_out);
}

int cairn_store_head_cas(cairn_store *s, const char *name, const void *expected, size_t expected_len,
                         const void *data, size_t len)
{
    int rc = cairn_store_check_head(s, name, CAIRN_MAX(len, expected_len));
    return rc < 0 ? rc : s->methods->head_cas(s, name, expected, expected_len, data, len);
}

int cairn_store_lock(cairn_store *s)
{
    return s->methods->lock(s);
}

void cairn_store_unlock(cairn_store *s)
{
    s->methods->unlock(s);
}
