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
#define FORMAT_VERSION 2   /* commit records; 1 has no tail */
#define HEAD_VERSION 1

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
    cairn_buf_putc(out, HEAD_VERSION);
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
    if (version > HEAD_VERSION)
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

/* Whether committing db (built on its one parent) may store a tail instead
 * of its trees: the parent's trees or tail are stored, and the tail stays
 * within its bounds (tail.c). */
/*
 * Whether db's commit may extend its tail. Besides the commit and key bounds,
 * the nodes a tail leaves unstored live in the writer's memory, outside the
 * cache's bound: random small updates (retractEntity, say) dirty a few dozen
 * 8 KiB leaves each, which over 256 commits would be over 100 MB. So every
 * CAIRN_TAIL_DIRTY_EVERY commits of a tail the writer measures those bytes
 * (a walk of the unstored nodes only) and stores the trees past
 * ctx->tail_max_dirty.
 */
static int tail_fits(const cairn_db *db, size_t nparents, uint64_t pending_keys)
{
    uint32_t depth = db->tail_depth + 1;
    size_t dirty = 0;
    if (!(nparents == 1 && db->has_base && db->pending && depth <= db->ctx->tail_max_commits &&
          db->tail_keys + pending_keys <= db->ctx->tail_max_keys))
        return 0;
    if (depth % CAIRN_TAIL_DIRTY_EVERY)
        return 1;
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        dirty += cairn_btree_dirty_bytes(&db->trees[t]);
    return dirty <= db->ctx->tail_max_dirty;
}

int cairn_db__commit(cairn_db **out, const cairn_db *db, const cairn_addr *parents, size_t nparents,
                     cairn_store_batch *batch, cairn_error *err)
{
    cairn_db *c = NULL;
    cairn_buf b = CAIRN_BUF_INIT, delta = CAIRN_BUF_INIT;
    cairn_addr roots[CAIRN_T_COUNT_], config_addr;
    uint64_t pending_keys = 0;
    int rc, tail;
    if ((rc = cairn_db__with_view(&c, db, CAIRN_VIEW_CURRENT, 0)) < 0)
        goto done;
    if (db->pending && (rc = cairn_delta_encode(&delta, db->pending, &pending_keys)) < 0)
        goto done;
    cairn_delta_release(c->pending);
    c->pending = NULL;
    tail = tail_fits(db, nparents, pending_keys);
    if (tail) {
        memcpy(roots, db->base_roots, sizeof roots);
    } else {
        cairn_btree committed[CAIRN_T_COUNT_];
        if ((rc = cairn_btree_commit_many(committed, db->trees, CAIRN_T_COUNT_, batch)) < 0)
            goto done;
        for (int t = 0; t < CAIRN_T_COUNT_; t++) {
            cairn_btree_dispose(&c->trees[t]);
            c->trees[t] = committed[t];
        }
        for (int t = 0; t < CAIRN_T_COUNT_; t++)
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
    cairn_buf_putc(&b, tail ? FORMAT_VERSION : 1);
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
    if (tail) {
        /* the previous commit of the tail: the parent, unless it stored its trees */
        c->tail_depth = db->tail_depth + 1;
        c->tail_keys = db->tail_keys + pending_keys;
        c->tail_prev = db->tail_depth ? parents[0] : CAIRN_BTREE_EMPTY_ROOT;
        cairn_buf_put_varint(&b, c->tail_depth);
        cairn_buf_put(&b, c->tail_prev.bytes, CAIRN_ADDR_LEN);
        cairn_buf_put_varint(&b, c->tail_keys);
        cairn_buf_put(&b, delta.ptr, delta.len);
    } else {
        c->tail_depth = 0;
        c->tail_keys = 0;
        c->tail_prev = CAIRN_BTREE_EMPTY_ROOT;
        memcpy(c->base_roots, roots, sizeof roots);
        c->has_base = 1;
    }
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
    cairn_buf_dispose(&delta);
    if (rc < 0) {
        cairn_db_release(c);
        return cairn_error_code(err, rc);
    }
    *out = c;
    return 0;
}

/* ---- reading --------------------------------------------------------------------- */

/* A commit record, parsed; pointers borrow the record's bytes. */
struct record {
    uint8_t version;            /* 1, or 2 with a tail */
    uint64_t flags;             /* keep-history, schema-on-read */
    cairn_btree_opts opts;      /* tree shape */
    int64_t max_eid, max_tx, last_instant;
    uint64_t nparents;          /* parent count */
    const uint8_t *parents;     /* nparents x 16 bytes */
    cairn_addr roots[CAIRN_T_COUNT_];  /* the trees, or a tail's base */
    cairn_addr schema_addr, config_addr;
    uint32_t tail_depth;        /* 0: no tail */
    cairn_addr tail_prev;       /* previous commit of the tail */
    uint64_t tail_keys;         /* key changes in the tail */
    const uint8_t *delta;       /* this commit's deltas */
    size_t delta_len;           /* bytes */
};

static int parse_record(struct record *rec, const void *data, size_t len, cairn_error *err)
{
    struct reader r;
    char magic[4];
    cairn_btree_opts opts = CAIRN_BTREE_OPTS_INIT;
    memset(rec, 0, sizeof *rec);
    r.p = data;
    r.end = (const uint8_t *)data + len;
    r.bad = 0;
    rd_bytes(&r, magic, 4);
    rd_bytes(&r, &rec->version, 1);
    if (r.bad || memcmp(magic, COMMIT_MAGIC, 4))
        return cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record has a bad magic");
    if (rec->version > FORMAT_VERSION)
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":db-was-written-with-newer-cairn-version",
                               "commit format %u is newer than this cairn understands", rec->version);
    rec->flags = rd_varint(&r);
    opts.node_bytes = (uint32_t)rd_varint(&r);
    opts.fill_pct = (uint32_t)rd_varint(&r);
    rec->opts = opts;
    rec->max_eid = (int64_t)rd_varint(&r);
    rec->max_tx = (int64_t)rd_varint(&r);
    rec->last_instant = cairn_unzigzag(rd_varint(&r));
    rec->nparents = rd_varint(&r);
    if (r.bad || rec->nparents > (uint64_t)(r.end - r.p) / CAIRN_ADDR_LEN)
        return cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record is truncated");
    rec->parents = r.p;
    r.p += rec->nparents * CAIRN_ADDR_LEN;
    for (int t = 0; t < CAIRN_T_COUNT_; t++)
        rd_bytes(&r, rec->roots[t].bytes, CAIRN_ADDR_LEN);
    rd_bytes(&r, rec->schema_addr.bytes, CAIRN_ADDR_LEN);
    rd_bytes(&r, rec->config_addr.bytes, CAIRN_ADDR_LEN);
    if (rec->version >= 2) {
        uint64_t depth = rd_varint(&r);
        rd_bytes(&r, rec->tail_prev.bytes, CAIRN_ADDR_LEN);
        rec->tail_keys = rd_varint(&r);
        if (depth == 0 || depth > CAIRN_TAIL_DEPTH_MAX || rec->nparents != 1 ||
            (depth > 1) != !cairn_addr_equal(&rec->tail_prev, &CAIRN_BTREE_EMPTY_ROOT))
            r.bad = 1;
        rec->tail_depth = (uint32_t)depth;
        rec->delta = r.p;
        rec->delta_len = r.bad ? 0 : (size_t)(r.end - r.p);
        r.p = r.end;
    }
    if (r.bad || r.p != r.end)
        return cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "commit record is malformed");
    return 0;
}

static int read_record(void **data, struct record *rec, cairn_dbctx *ctx, const cairn_addr *commit, cairn_error *err)
{
    size_t len = 0;
    int rc;
    *data = NULL;
    if ((rc = cairn_store_get_node(ctx->store, commit, data, &len)) < 0) {
        cairn_error_copy(err, &ctx->store->err);
        return cairn_error_code(err, rc);
    }
    return parse_record(rec, *data, len, err);
}

int cairn_db__commit_refs(cairn_commit_refs *out, cairn_dbctx *ctx, const cairn_addr *commit, cairn_error *err)
{
    struct record rec;
    int rc = read_record(&out->data, &rec, ctx, commit, err);
    if (rc < 0) {
        cairn_free(out->data);
        out->data = NULL;
        return rc;
    }
    out->instant = rec.last_instant;
    out->nparents = (size_t)rec.nparents;
    out->parents = rec.parents;
    memcpy(out->roots, rec.roots, sizeof out->roots);
    out->opts = rec.opts;
    out->schema_addr = rec.schema_addr;
    out->config_addr = rec.config_addr;
    out->tail_depth = rec.tail_depth;
    out->tail_prev = rec.tail_prev;
    return 0;
}

/*
 * Replays the tail of the commit rec into db, whose trees are the tail's
 * base, or (when hint holds an earlier commit of the same tail) starts from
 * hint's trees and replays only the newer commits.
 */
static int replay_tail(cairn_db *db, const cairn_addr *commit, const struct record *rec, void *rec_data,
                       const cairn_db *hint, cairn_error *err)
{
    cairn_tail_memo *memo;
    uint32_t filled;
    void **datas;
    struct record *recs;
    uint32_t n = rec->tail_depth, have = 1;
    int rc = 0;
    datas = cairn_malloc(cairn_mul_size(n, sizeof *datas));
    recs = cairn_malloc(cairn_mul_size(n, sizeof *recs));
    if (!datas || !recs) {
        cairn_free(datas);
        cairn_free(recs);
        return CAIRN_ENOMEM;
    }
    datas[0] = rec_data;
    recs[0] = *rec;
    /* recs[i] is the commit i steps back along the tail */
    while (have < n) {
        const struct record *prev = &recs[have - 1];
        if (hint && hint->has_commit && hint->tail_depth == n - have &&
            cairn_addr_equal(&hint->commit, &prev->tail_prev) &&
            !memcmp(hint->base_roots, rec->roots, sizeof rec->roots))
            break;
        if ((rc = read_record(&datas[have], &recs[have], db->ctx, &prev->tail_prev, err)) == 0 &&
            (recs[have].tail_depth != n - have || memcmp(recs[have].roots, rec->roots, sizeof rec->roots)))
            rc = cairn_error_set(err, CAIRN_ECORRUPT, ":store/corrupt", "a commit's tail chain is inconsistent");
        if (rc < 0) {
            cairn_free(datas[have]);
            break;
        }
        have++;
    }
    if (rc == 0 && have < n) {
        /* start from the hint: it holds the first n - have commits of the tail */
        for (int t = 0; t < CAIRN_T_COUNT_; t++) {
            cairn_btree_dispose(&db->trees[t]);
            cairn_btree_copy(&db->trees[t], &hint->trees[t]);
        }
    }
    /* replayed oldest first; the memo keeps each commit's trees on the way */
    memo = rc == 0 ? cairn_malloc(cairn_mul_size(have, sizeof *memo)) : NULL;
    filled = have;
    for (uint32_t i = have; i-- > 0 && rc == 0;) {
        if ((rc = cairn_db__apply_tail(db, recs[i].delta, recs[i].delta_len, err)) == 0 && memo) {
            memo[i].commit = i ? recs[i - 1].tail_prev : *commit;
            for (int t = 0; t < CAIRN_T_COUNT_; t++)
                cairn_btree_copy(&memo[i].trees[t], &db->trees[t]);
            filled = i;
        }
    }
    if (memo && rc == 0) {
        cairn_tail_memo_set(db->ctx, memo, have);
    } else if (memo) {
        for (uint32_t i = filled; i < have; i++)
            for (int t = 0; t < CAIRN_T_COUNT_; t++)
                cairn_btree_dispose(&memo[i].trees[t]);
        cairn_free(memo);
    }
    for (uint32_t i = 1; i < have; i++)
        cairn_free(datas[i]);
    cairn_free(datas);
    cairn_free(recs);
    return rc;
}

int cairn_db__open_commit_hint(cairn_db **out, cairn_dbctx *ctx, const cairn_addr *commit, const cairn_db *hint,
                               cairn_error *err)
{
    void *data = NULL, *sdata = NULL;
    size_t slen = 0;
    struct record rec;
    cairn_db *db = NULL;
    cairn_schema *schema = NULL;
    int rc;
    if ((rc = read_record(&data, &rec, ctx, commit, err)) < 0)
        goto done;
    if ((rc = cairn_db__new_empty(&db, ctx, NULL)) < 0)
        goto done;
    db->max_eid = rec.max_eid;
    db->max_tx = rec.max_tx;
    db->last_instant = rec.last_instant;
    if (rec.nparents) {
        if (!(db->parents = cairn_malloc(cairn_mul_size(rec.nparents, sizeof *db->parents)))) {
            rc = CAIRN_ENOMEM;
            goto done;
        }
        db->parent_count = rec.nparents;
        memcpy(db->parents, rec.parents, rec.nparents * CAIRN_ADDR_LEN);
    }
    db->schema_addr = rec.schema_addr;
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
        if ((rc = cairn_btree_open(&db->trees[t], ctx->cache, &rec.roots[t], &rec.opts)) < 0) {
            cairn_btree_init(&db->trees[t], ctx->cache, &rec.opts);
            cairn_error_set(err, rc, ":store/corrupt", "index root cannot be read: %s", cairn_strerror(rc));
            goto done;
        }
    }
    memcpy(db->base_roots, rec.roots, sizeof rec.roots);
    db->has_base = 1;
    db->tail_depth = rec.tail_depth;
    db->tail_keys = rec.tail_keys;
    db->tail_prev = rec.tail_prev;
    if (rec.tail_depth) {
        cairn_btree memo[CAIRN_T_COUNT_];
        if (cairn_tail_memo_get(ctx, commit, memo)) {
            for (int t = 0; t < CAIRN_T_COUNT_; t++) {
                cairn_btree_dispose(&db->trees[t]);
                db->trees[t] = memo[t];
            }
        } else if ((rc = replay_tail(db, commit, &rec, data, hint, err)) < 0) {
            goto done;
        }
    }
    db->commit = *commit;
    db->config_addr = rec.config_addr;
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

int cairn_db__open_commit(cairn_db **out, cairn_dbctx *ctx, const cairn_addr *commit, cairn_error *err)
{
    return cairn_db__open_commit_hint(out, ctx, commit, NULL, err);
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
