/* Store test helpers (store_util.h). */
#include "store_util.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/common.h"
#include "store_payload.h"

const char *const store_backends[] = { "mem", "file", "lmdb", "sqlite", NULL };

cairn_val store_config(const char *backend, const char *path)
{
    cairn_val m, k, v;
    int mem = !strcmp(backend, "mem");
    if (cairn_map_new(&m, 2) < 0)
        return cairn_nil();
    if (cairn_keyword(&k, "backend", 7) == 0 && cairn_keyword(&v, backend, strlen(backend)) == 0)
        cairn_map_put(&m, k, v);
    if (cairn_keyword(&k, mem ? "id" : "path", mem ? 2 : 4) == 0 && cairn_string(&v, path, strlen(path)) == 0)
        cairn_map_put_take(&m, k, v);
    return m;
}

int store_open(cairn_store **out, const char *backend, const char *path, cairn_error *err)
{
    cairn_val cfg = store_config(backend, path);
    int rc = cairn_store_open(out, cfg, err);
    cairn_release(cfg);
    return rc;
}

int store_count_files(const char *dir, const char *prefix)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    int n = 0;
    if (!d)
        return -1;
    while ((e = readdir(d)) != NULL)
        n += e->d_name[0] != '.' && !strncmp(e->d_name, prefix, strlen(prefix));
    closedir(d);
    return n;
}

void store_wl_head_value(uint8_t out[STORE_HEAD_VALUE_LEN], const cairn_addr *commit, uint64_t seq)
{
    memcpy(out, commit->bytes, CAIRN_ADDR_LEN);
    cairn_put_be64(out + CAIRN_ADDR_LEN, seq);
}

int store_wl_parse_head(const void *value, size_t len, cairn_addr *commit, uint64_t *seq)
{
    if (len != STORE_HEAD_VALUE_LEN)
        return -1;
    memcpy(commit->bytes, value, CAIRN_ADDR_LEN);
    *seq = cairn_get_be64((const uint8_t *)value + CAIRN_ADDR_LEN);
    return 0;
}

int store_wl_init(store_wl *w, cairn_store *s, const char *head, uint64_t seed)
{
    void *v;
    size_t len;
    int rc;
    memset(w, 0, sizeof *w);
    w->head = head ? head : "db";
    w->seed = seed;
    w->nodes_min = 2;
    w->nodes_max = 6;
    w->node_len_max = 4096;
    rc = cairn_store_head_read(s, w->head, &v, &len);
    if (rc == CAIRN_ENOTFOUND)
        return 0;
    if (rc < 0)
        return rc;
    rc = store_wl_parse_head(v, len, &w->commit, &w->seq) < 0 ? CAIRN_ECORRUPT : 0;
    cairn_free(v);
    return rc;
}

static uint64_t mix(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    return x ^ (x >> 31);
}

/* Payload i of commit seq: deterministic, so a later commit can re-put it. */
static size_t wl_payload(const store_wl *w, uint64_t seq, size_t i, uint8_t *buf, size_t cap)
{
    uint64_t h = mix(w->seed ^ mix(seq * 1000003 + i));
    size_t len = 64 + (size_t)(h % (w->node_len_max > 64 ? w->node_len_max - 63 : 1));
    return store_payload_leaf(buf, cap, h, (enum store_payload_index)(h % 3), CAIRN_MIN(len, cap));
}

int store_wl_commit(store_wl *w, cairn_store *s, uint8_t *value_out)
{
    uint64_t seq = w->seq + 1;
    uint64_t h = mix(w->seed ^ seq);
    size_t n = w->nodes_min + (size_t)(h % (w->nodes_max - w->nodes_min + 1));
    size_t cap = w->node_len_max + 64, rec_len = 32 + 16 * (n + 1), count = 0;
    uint8_t *buf = malloc(cap), *rec = malloc(rec_len), value[STORE_HEAD_VALUE_LEN], prev[STORE_HEAD_VALUE_LEN];
    cairn_store_batch *b = NULL;
    cairn_addr addr, commit;
    int rc = buf && rec ? cairn_store_batch_new(&b, s) : CAIRN_ENOMEM;
    memcpy(rec, "CMT1", 4);
    cairn_put_be64(rec + 4, seq);
    memset(rec + 12, 0, 16);
    if (w->seq)
        memcpy(rec + 12, w->commit.bytes, 16);
    for (size_t i = 0; i < n + (w->seq > 0) && rc == 0; i++) {
        /* the extra node re-puts one of the previous commit's: idempotent put */
        size_t len = i < n ? wl_payload(w, seq, i, buf, cap) : wl_payload(w, w->seq, 0, buf, cap);
        if ((rc = cairn_store_batch_add(b, buf, len, &addr)) == 0)
            memcpy(rec + 32 + 16 * count++, addr.bytes, 16);
    }
    cairn_put_be32(rec + 28, (uint32_t)count);
    if (rc == 0)
        rc = cairn_store_batch_add(b, rec, 32 + 16 * count, &commit);
    if (rc == 0) {
        store_wl_head_value(value, &commit, seq);
        store_wl_head_value(prev, &w->commit, w->seq);
        if (value_out)
            memcpy(value_out, value, sizeof value);
        if (w->head_first) {
            if ((rc = cairn_store_head_cas(s, w->head, w->seq ? prev : NULL, w->seq ? sizeof prev : 0, value,
                                           sizeof value)) == 0)
                rc = cairn_store_batch_commit(b);
        } else {
            /* as the writer commits: one call (cairn/store.h, commit) */
            rc = cairn_store_batch_commit_head(b, w->head, w->seq ? prev : NULL, w->seq ? sizeof prev : 0, value,
                                               sizeof value);
        }
    }
    if (rc == 0) {
        w->seq = seq;
        w->commit = commit;
    }
    cairn_store_batch_free(b);
    free(buf);
    free(rec);
    return rc;
}

int store_wl_verify(cairn_store *s, const cairn_addr *commit, uint64_t expect_seq, size_t depth, char *why,
                    size_t why_len)
{
    cairn_addr cur = *commit, zero;
    uint64_t seq = expect_seq;
    memset(&zero, 0, sizeof zero);
    for (size_t d = 0; depth == 0 || d < depth; d++) {
        void *rec, *node;
        size_t len, nlen, count;
        char hex[2 * CAIRN_ADDR_LEN + 1];
        int rc = cairn_store_get_node(s, &cur, &rec, &len);
        cairn_addr_hex(hex, &cur);
        if (rc < 0) {
            snprintf(why, why_len, "commit %s (seq %llu): %s", hex, (unsigned long long)seq, cairn_strerror(rc));
            return rc;
        }
        if (len < 32 || memcmp(rec, "CMT1", 4) != 0 || cairn_get_be64((uint8_t *)rec + 4) != seq ||
            len != 32 + 16 * (size_t)cairn_get_be32((uint8_t *)rec + 28)) {
            snprintf(why, why_len, "commit %s: not the record of seq %llu", hex, (unsigned long long)seq);
            cairn_free(rec);
            return CAIRN_ECORRUPT;
        }
        count = cairn_get_be32((uint8_t *)rec + 28);
        for (size_t i = 0; i < count; i++) {
            cairn_addr a;
            memcpy(a.bytes, (uint8_t *)rec + 32 + 16 * i, 16);
            if ((rc = cairn_store_get_node(s, &a, &node, &nlen)) < 0) {
                cairn_addr_hex(hex, &a);
                snprintf(why, why_len, "node %s of commit seq %llu: %s", hex, (unsigned long long)seq,
                         cairn_strerror(rc));
                cairn_free(rec);
                return rc;
            }
            cairn_free(node);
        }
        memcpy(cur.bytes, (uint8_t *)rec + 12, 16);
        cairn_free(rec);
        if (cairn_addr_equal(&cur, &zero)) {
            if (seq != 1) {
                snprintf(why, why_len, "commit seq %llu has no parent", (unsigned long long)seq);
                return CAIRN_ECORRUPT;
            }
            return 0;
        }
        seq--;
    }
    return 0;
}

static size_t seen_slot(const store_wl_seen *seen, const cairn_addr *a)
{
    uint64_t h;
    size_t i;
    memcpy(&h, a->bytes, sizeof h);
    for (i = (size_t)h & (seen->cap - 1);; i = (i + 1) & (seen->cap - 1)) {
        static const cairn_addr zero;
        if (cairn_addr_equal(&seen->slots[i], a) || cairn_addr_equal(&seen->slots[i], &zero))
            return i;
    }
}

static int seen_has(const store_wl_seen *seen, const cairn_addr *a)
{
    return seen->cap && cairn_addr_equal(&seen->slots[seen_slot(seen, a)], a);
}

static void seen_add(store_wl_seen *seen, const cairn_addr *a)
{
    if (2 * (seen->count + 1) > seen->cap) {
        store_wl_seen bigger = { calloc(seen->cap ? 2 * seen->cap : 1024, sizeof *seen->slots), 0, 0 };
        static const cairn_addr zero;
        bigger.cap = seen->cap ? 2 * seen->cap : 1024;
        for (size_t i = 0; i < seen->cap; i++)
            if (!cairn_addr_equal(&seen->slots[i], &zero))
                seen_add(&bigger, &seen->slots[i]);
        free(seen->slots);
        *seen = bigger;
    }
    if (!seen_has(seen, a)) {
        seen->slots[seen_slot(seen, a)] = *a;
        seen->count++;
    }
}

void store_wl_seen_dispose(store_wl_seen *seen)
{
    free(seen->slots);
    memset(seen, 0, sizeof *seen);
}

int store_wl_verify_new(cairn_store *s, const cairn_addr *commit, uint64_t seq, store_wl_seen *seen, char *why,
                        size_t why_len)
{
    static const cairn_addr zero;
    cairn_addr cur = *commit, *path = NULL;
    size_t n = 0;
    int rc = 0;
    /* walk down to a verified commit, one record at a time; a commit counts
     * as seen only once everything below it is verified too */
    while (rc == 0 && !seen_has(seen, &cur) && !cairn_addr_equal(&cur, &zero)) {
        void *rec;
        size_t len;
        if ((rc = store_wl_verify(s, &cur, seq, 1, why, why_len)) < 0)
            break;
        path = realloc(path, (n + 1) * sizeof *path);
        path[n++] = cur;
        if ((rc = cairn_store_get_node(s, &cur, &rec, &len)) < 0) {
            snprintf(why, why_len, "commit record vanished: %s", cairn_strerror(rc));
            break;
        }
        memcpy(cur.bytes, (uint8_t *)rec + 12, 16);
        cairn_free(rec);
        seq--;
    }
    if (rc == 0 && cairn_addr_equal(&cur, &zero) && seq != 0) {
        snprintf(why, why_len, "commit seq %llu has no parent", (unsigned long long)seq + 1);
        rc = CAIRN_ECORRUPT;
    }
    for (size_t i = 0; rc == 0 && i < n; i++)
        seen_add(seen, &path[i]);
    free(path);
    return rc;
}

int store_wl_check_head(cairn_store *s, const char *head, size_t depth, uint64_t *seq_out, cairn_addr *commit_out,
                        char *why, size_t why_len)
{
    void *v;
    size_t len;
    cairn_addr commit;
    uint64_t seq;
    int rc = cairn_store_head_read(s, head, &v, &len);
    if (rc < 0) {
        snprintf(why, why_len, "head %s: %s (%s)", head, cairn_strerror(rc), s->err.message);
        return rc;
    }
    if (store_wl_parse_head(v, len, &commit, &seq) < 0) {
        cairn_free(v);
        snprintf(why, why_len, "head %s: value of %zu bytes is not a workload head", head, len);
        return CAIRN_ECORRUPT;
    }
    cairn_free(v);
    if ((rc = store_wl_verify(s, &commit, seq, depth, why, why_len)) < 0)
        return rc;
    if (seq_out)
        *seq_out = seq;
    if (commit_out)
        *commit_out = commit;
    return 0;
}
