/*
 * Interning of keyword and symbol names. One process-wide table maps
 * (kind, text) to a cairn_ident allocated once with its text and never freed
 * before cairn_shutdown(), so a keyword value is a bare pointer and equal
 * keywords usually share it. Equality does not depend on that (idents fall
 * back to comparing text), which lets the database layers use static idents
 * without registering them.
 *
 * The table takes a mutex. Reads of EDN intern every keyword they meet; an
 * uncontended mutex costs tens of nanoseconds, small next to parsing the name.
 * A bound on the number of names keeps hostile input (millions of unique
 * keywords) from growing memory without limit: past it, interning fails with
 * CAIRN_ELIMIT and the read that asked gets a clear error.
 */
#include "edn/value.h"

#include <pthread.h>
#include <string.h>

#include "base/alloc.h"
#include "base/hash.h"
#include "base/hmap.h"

#define INTERN_MAX ((size_t)1 << 22)

static pthread_mutex_t intern_lock = PTHREAD_MUTEX_INITIALIZER;
static cairn_hmap intern_table = CAIRN_HMAP_INIT;
static int64_t untracked;  /* blocks taken out of the live count, see below */

struct key {
    uint32_t kind;     /* CAIRN_KEYWORD or CAIRN_SYMBOL */
    const char *text;  /* name */
    size_t len;        /* bytes */
};

static int ident_eq(const void *entry, const void *key, void *payload)
{
    const cairn_ident *id = entry;
    const struct key *k = key;
    (void)payload;
    return id->kind == k->kind && id->len == k->len && memcmp(id->text, k->text, k->len) == 0;
}

/* Where the namespace ends: the first '/' not at position 0 and not last. */
static uint32_t ns_len_of(const char *text, size_t len)
{
    const char *slash;
    if (len < 3)
        return 0;
    slash = memchr(text + 1, '/', len - 2);
    return slash ? (uint32_t)(slash - text) : 0;
}

int cairn_intern(const cairn_ident **out, cairn_type kind, const char *text, size_t len)
{
    struct key k = { (uint32_t)kind, text, len };
    uint64_t h = cairn_hash_bytes(text, len, 0x6b77 + (uint64_t)kind) | 1;
    cairn_ident *id;
    int64_t live0;
    int rc = 0;

    if (len == 0)
        return CAIRN_EINVALID;
    if (len > UINT32_MAX)
        return CAIRN_ELIMIT;
    pthread_mutex_lock(&intern_lock);
    id = cairn_hmap_find(&intern_table, h, &k, ident_eq, NULL);
    if (id)
        goto done;
    if (intern_table.count >= INTERN_MAX) {
        rc = CAIRN_ELIMIT;
        goto done;
    }
    /* Interned names live as long as the process: their blocks (and the
     * table's growth) leave the live-block count that leak checks use. */
    live0 = cairn__alloc_live();
    id = cairn_malloc(sizeof *id + len + 1);
    if (!id) {
        rc = CAIRN_ENOMEM;
        goto done;
    }
    atomic_init(&id->hash, h);
    id->len = (uint32_t)len;
    id->ns_len = ns_len_of(text, len);
    id->kind = (uint32_t)kind;
    memcpy((char *)(id + 1), text, len);
    ((char *)(id + 1))[len] = 0;
    id->text = (const char *)(id + 1);
    if ((rc = cairn_hmap_insert(&intern_table, h, id)) < 0) {
        cairn_free(id);
        id = NULL;
    }
    untracked += cairn__alloc_live() - live0;
    cairn__alloc_untrack(cairn__alloc_live() - live0);
done:
    pthread_mutex_unlock(&intern_lock);
    if (rc == 0)
        *out = id;
    return rc;
}

size_t cairn_intern_count(void)
{
    size_t n;
    pthread_mutex_lock(&intern_lock);
    n = intern_table.count;
    pthread_mutex_unlock(&intern_lock);
    return n;
}

static int ident_new(cairn_val *out, cairn_type kind, const char *text, size_t len)
{
    const cairn_ident *id;
    int rc = cairn_intern(&id, kind, text, len);
    if (rc == 0)
        *out = cairn_val_make(kind, (void *)id);
    return rc;
}

int cairn_keyword(cairn_val *out, const char *text, size_t len)
{
    return ident_new(out, CAIRN_KEYWORD, text, len);
}

int cairn_symbol(cairn_val *out, const char *text, size_t len)
{
    return ident_new(out, CAIRN_SYMBOL, text, len);
}

void cairn_shutdown(void)
{
    void *e;
    pthread_mutex_lock(&intern_lock);
    cairn__alloc_untrack(-untracked);
    untracked = 0;
    for (size_t pos = 0; cairn_hmap_next(&intern_table, &pos, &e);)
        cairn_free(e);
    cairn_hmap_dispose(&intern_table);
    pthread_mutex_unlock(&intern_lock);
}
