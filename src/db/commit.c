/*
 * Commit records and branch heads: how a database value is written to and
 * read from a store (DESIGN.md section 4).
 *
 * Commit order: the new index nodes, the schema node (when it changed) and
 * the commit record all go into one store batch, written durably in one
 * put_many; only then does the caller move the branch head with a
 * compare-and-set. A crash at any point leaves the previous head with a
 * complete closure. The commit id is the record's address.
 *
 * Commit record (a node payload):
 *
 *   offset  size  field
 *   0       4     magic "CRNC"
 *   4       1     format version, 1
 *   5       var   flags: bit 0 keep-history, bit 1 schema-on-read
 *           var   tree node bytes, var tree fill percent
 *           var   max-eid
 *           var   max-tx
 *           var   last tx instant, zigzag (ms since the epoch)
 *           var   parent count n, then n x 16-byte parent commit addresses
 *           96    root addresses of EAVT AEVT AVET and the three history
 *                 twins, 16 bytes each, all zero for an empty tree
 *           16    address of the schema node
 *           16    address of the config node (EDN of the stored config)
 *
 * ("var" is an unsigned LEB128 varint.) A reader refuses another magic or a
 * newer version, and trailing bytes, as CAIRN_ECORRUPT / UNSUPPORTED.
 *
 * Branch head value (the bytes under head name <branch>):
 *
 *   0   4   magic "CRNH"
 *   4   1   version, 1
 *   5   16  commit address
 *   21  var max-tx of that commit (for display and cheap staleness checks)
 */
#include "db/commit.h"

#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "base/varint.h"

#define COMMIT_MAGIC "CRNC"
#define HEAD_MAGIC "CRNH"
#define FORMAT_VERSION 1

/* ---- encoding helpers ----------------------------------------------------- */

struct reader {
    const uint8_t *p;   /* cursor */
    const uint8_t *end; /* end of input */
    int bad;            /* a read ran past the end or was malformed */
};

static uint64_t rd_varint(struct reader *r)
{
    uint64_t v = 0;
    size_t n = r->bad ? 0 : cairn_varint_get(r->p, (size_t)(r->end - r->p), &v);
    if (!n) {
        r->bad = 1;
        return 0;
    }
    r->p += n;
    return v;
}

static void rd_bytes(struct reader *r, void *out, size_t n)
{
    if (r->bad || (size_t)(r->end - r->p) < n) {
        r->bad = 1;
        memset(out, 0, n);
        return;
    }
    memcpy(out, r->p, n);
    r->p += n;
}

int cairn_head_encode(cairn_buf *out, const cairn_addr *commit, int64_t max_tx)
{
    cairn_buf_put(out, HEAD_MAGIC, 4);
    cairn_buf_putc(out, FORMAT_VERSION);
    cairn_buf_put(out, commit->bytes, CAIRN_ADDR_LEN);
    cairn_buf_put_varint(out, (uint64_t)max_tx);
    return out->oom ? CAIRN_ENOMEM : 0;
}

int cairn_head_decode(cairn_addr *commit, int64_t *max_tx, const void *data, size_t len)
{
    struct reader r = { data, (const uint8_t *)data + len, 0 };
    char magic[4];
    uint8_t version;
    rd_bytes(&r, magic, 4);
    rd_bytes(&r, &version, 1);
    if (r.bad || memcmp(magic, HEAD_MAGIC, 4))
        return CAIRN_CORRUPT_BKPT;
    if (version > FORMAT_VERSION)
        return CAIRN_EUNSUPPORTED;
    rd_bytes(&r, commit->bytes, CAIRN_ADDR_LEN);
    *max_tx = (int64_t)rd_varint(&r);
    if (r.bad || r.p != r.end)
        return CAIRN_CORRUPT_BKPT;
    return 0;
}

/* ---- writing ------------------------------------------------------------------ */

static int put_node(cairn_store_batch *batch, const cairn_buf *b, cairn_addr *addr)
{
    if (b->oom)
        return CAIRN_ENOMEM;
    return cairn_store_batch_add(batch, b->ptr, b->len, addr);
}

int cairn_db__commit(cairn_db **out, const cairn_db *db, const cairn_addr *parents, size_t nparents,
                     cairn_store_batch *batch, cairn_error *err)
{
    cairn_db *c = NULL;
    cairn_buf b = CAIRN_BUF_INIT;
    cairn_addr roots[CAIRN_T_COUNT_], config_addr;
    int rc;
    if ((rc = cairn_db__with_view(&c, db, CAIRN_VIEW_CURRENT, 0)) < 0)
        goto done;
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        cairn_btree committed;
        if ((rc = cairn_btree_commit(&committed, &db->trees[t], batch)) < 0)
            goto done;
        cairn_btree_dispose(&c->trees[t]);
        c->trees[t] = committed;
        if ((rc = cairn_btree_root(&roots[t], &c->trees[t])) < 0)
            goto done;
    }
    if (!db->schema_stored) {
        if ((rc = cairn_schema_encode(&b, db->schema)) < 0 || (rc = put_node(batch, &b, &c->schema_addr)) < 0)
            goto done;
        c->schema_stored = 1;
    }
    {
        char *text;
        size_t n;
        if ((rc = cairn_edn_print(&text, &n, db->ctx->config)) < 0)
            goto done;
        rc = cairn_store_batch_add(batch, text, n, &config_addr);
        cairn_free(text);
        if (rc < 0)
            goto done;
    }
    cairn_buf_clear(&b);
    cairn_buf_put(&b, COMMIT_MAGIC, 4);
    cairn_buf_putc(&b, FORMAT_VERSION);
    cairn_buf_put_varint(&b, (uint64_t)(db->ctx->keep_history ? 1 : 0) | (uint64_t)(db->ctx->read_flex ? 2 : 0));
    cairn_buf_put_varint(&b, db->trees[0].node_bytes);
    cairn_buf_put_varint(&b, db->trees[0].fill_pct);
    cairn_buf_put_varint(&b, (uint64_t)db->max_eid);
    cairn_buf_put_varint(&b, (uint64_t)db->max_tx);
    cairn_buf_put_varint(&b, cairn_zigzag(db->last_instant));
    cairn_buf_put_varint(&b, nparents);
    for (size_t i = 0; i < nparents; i++)
        cairn_buf_put(&b, parents[i].bytes, CAIRN_ADDR_LEN);
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        cairn_buf_put(&b, roots[t].bytes, CAIRN_ADDR_LEN);
    cairn_buf_put(&b, c->schema_addr.bytes, CAIRN_ADDR_LEN);
    cairn_buf_put(&b, config_addr.bytes, CAIRN_ADDR_LEN);
    if ((rc = put_node(batch, &b, &c->commit)) < 0)
        goto done;
    c->has_commit = 1;
    c->config_addr = config_addr;
    cairn_free(c->parents);
    c->parents = NULL;
    c->parent_count = 0;
    if (nparents) {
        if (!(c->parents = cairn_malloc(cairn_mul_size(nparents, sizeof *parents)))) {
            rc = CAIRN_ENOMEM;
            goto done;
        }
        memcpy(c->parents, parents, nparents * sizeof *parents);
        c->parent_count = nparents;
    }
done:
    cairn_buf_dispose(&b);
    if (rc < 0) {
        cairn_db_release(c);
        return cairn_error_code(err, rc);
    }
    *out = c;
    return 0;
}

/* ---- reading --------------------------------------------------------------------- */

int cairn_db__open_commit(cairn_db **out, cairn_dbctx *ctx, const cairn_addr *commit, cairn_error *err)
{
    void *data = NULL, *sdata = NULL;
    size_t len = 0, slen = 0;
    struct reader r;
    cairn_db *db = NULL;
    cairn_schema *schema = NULL;
    cairn_addr roots[CAIRN_T_COUNT_], config_addr;
    cairn_btree_opts opts = CAIRN_BTREE_OPTS_INIT;
    char magic[4];
    uint8_t version;
    uint64_t flags, nparents;
    int rc;
    if ((rc = cairn_store_get_node(ctx->store, commit, &data, &len)) < 0) {
        cairn_error_copy(err, &ctx->store->err);
        return cairn_error_code(err, rc);
    }
    r.p = data;
    r.end = (const uint8_t *)data + len;
    r.bad = 0;
    rd_bytes(&r, magic, 4);
    rd_bytes(&r, &version, 1);
    if (r.bad || memcmp(magic, COMMIT_MAGIC, 4)) {
        rc = cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record has a bad magic");
        goto done;
    }
    if (version > FORMAT_VERSION) {
        rc = cairn_error_set(err, CAIRN_EUNSUPPORTED, ":db-was-written-with-newer-cairn-version",
                             "commit format %u is newer than this cairn understands", version);
        goto done;
    }
    flags = rd_varint(&r);
    opts.node_bytes = (uint32_t)rd_varint(&r);
    opts.fill_pct = (uint32_t)rd_varint(&r);
    if ((rc = cairn_db__new_empty(&db, ctx, NULL)) < 0)
        goto done;
    db->max_eid = (int64_t)rd_varint(&r);
    db->max_tx = (int64_t)rd_varint(&r);
    db->last_instant = cairn_unzigzag(rd_varint(&r));
    nparents = rd_varint(&r);
    if (r.bad || nparents > (uint64_t)(r.end - r.p) / CAIRN_ADDR_LEN) {
        rc = cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record is truncated");
        goto done;
    }
    if (nparents) {
        if (!(db->parents = cairn_malloc(cairn_mul_size(nparents, sizeof *db->parents)))) {
            rc = CAIRN_ENOMEM;
            goto done;
        }
        db->parent_count = nparents;
        for (uint64_t i = 0; i < nparents; i++)
            rd_bytes(&r, db->parents[i].bytes, CAIRN_ADDR_LEN);
    }
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        rd_bytes(&r, roots[t].bytes, CAIRN_ADDR_LEN);
    rd_bytes(&r, db->schema_addr.bytes, CAIRN_ADDR_LEN);
    rd_bytes(&r, config_addr.bytes, CAIRN_ADDR_LEN);
    if (r.bad || r.p != r.end) {
        rc = cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record is malformed");
        goto done;
    }
    (void)flags;
    if ((rc = cairn_store_get_node(ctx->store, &db->schema_addr, &sdata, &slen)) < 0) {
        cairn_error_copy(err, &ctx->store->err);
        goto done;
    }
    if ((rc = cairn_schema_decode(&schema, sdata, slen, ctx->read_flex)) < 0) {
        cairn_error_set(err, rc, ":store/corrupt", "schema node cannot be read");
        goto done;
    }
    db->schema = schema;
    db->schema_stored = 1;
    for (int t = 0; t < CAIRN_T_COUNT_; t++) {
        cairn_btree_dispose(&db->trees[t]);
        if ((rc = cairn_btree_open(&db->trees[t], ctx->cache, &roots[t], &opts)) < 0) {
            cairn_btree_init(&db->trees[t], ctx->cache, &opts);
            cairn_error_set(err, rc, ":store/corrupt", "index root cannot be read: %s", cairn_strerror(rc));
            goto done;
        }
    }
    db->commit = *commit;
    db->config_addr = config_addr;
    db->has_commit = 1;
done:
    cairn_free(data);
    cairn_free(sdata);
    if (rc < 0) {
        cairn_db_release(db);
        return cairn_error_code(err, rc);
    }
    *out = db;
    return 0;
}

int cairn_db__commit_flags(cairn_dbctx *ctx, const cairn_addr *commit, int *keep_history, int *read_flex,
                           cairn_error *err)
{
    void *data = NULL;
    size_t len = 0;
    struct reader r;
    char magic[4];
    uint8_t version;
    uint64_t flags;
    int rc;
    if ((rc = cairn_store_get_node(ctx->store, commit, &data, &len)) < 0) {
        cairn_error_copy(err, &ctx->store->err);
        return cairn_error_code(err, rc);
    }
    r.p = data;
    r.end = (const uint8_t *)data + len;
    r.bad = 0;
    rd_bytes(&r, magic, 4);
    rd_bytes(&r, &version, 1);
    flags = rd_varint(&r);
    cairn_free(data);
    if (r.bad || memcmp(magic, COMMIT_MAGIC, 4))
        return cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record has a bad magic");
    if (version > FORMAT_VERSION)
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":db-was-written-with-newer-cairn-version",
                               "commit format %u is newer than this cairn understands", version);
    *keep_history = (int)(flags & 1);
    *read_flex = (int)((flags >> 1) & 1);
    return 0;
}

int cairn_db__read_head(cairn_addr *commit, int64_t *max_tx, cairn_buf *raw, cairn_dbctx *ctx, cairn_error *err)
{
    void *data = NULL;
    size_t len = 0;
    int rc = cairn_store_head_read(ctx->store, ctx->branch, &data, &len);
    if (rc == CAIRN_ENOTFOUND)
        return cairn_error_set(err, CAIRN_ENOTFOUND, ":db-does-not-exist", "database does not exist (no head '%s')",
                               ctx->branch);
    if (rc < 0) {
        cairn_error_copy(err, &ctx->store->err);
        return cairn_error_code(err, rc);
    }
    rc = cairn_head_decode(commit, max_tx, data, len);
    if (rc == 0 && raw) {
        cairn_buf_clear(raw);
        if (cairn_buf_put(raw, data, len) < 0)
            rc = CAIRN_ENOMEM;
    }
    cairn_free(data);
    if (rc == CAIRN_ECORRUPT)
        return cairn_error_set(err, rc, ":store/corrupt", "head '%s' is corrupt", ctx->branch);
    if (rc == CAIRN_EUNSUPPORTED)
        return cairn_error_set(err, rc, ":db-was-written-with-newer-cairn-version",
                               "head '%s' was written by a newer cairn", ctx->branch);
    return cairn_error_code(err, rc);
}
