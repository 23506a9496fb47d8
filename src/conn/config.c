/*
 * Database configs: Datahike's config map, validated and normalized, and the
 * store context (cairn_dbctx) opened from it.
 *
 * Accepted keys (Datahike's, plus two of cairn's):
 *   :store               {:backend :file :path "..."} | {:backend :mem :id "x"} |
 *                        {:backend :lmdb :path ...} | {:backend :sqlite :path ...};
 *                        :memory is accepted for :mem (Datahike's name)
 *   :keep-history?       boolean, default true
 *   :schema-flexibility  :write (default) or :read
 *   :branch              keyword, default :db
 *   :initial-tx          transaction data (create-database only)
 *   :attribute-refs?     must be false: cairn shows attributes as keywords
 *   :name :index :writer :index-config :store-cache-size ...  accepted, ignored
 *   :schema              cairn: a DataScript-style {attr {:db/valueType ...}}
 *                        map installed without attribute entities
 *   :cache-bytes         cairn: bytes of decoded nodes to cache (default 256 MiB)
 * Wrong types are refused with ":config/invalid" naming the key.
 */
#include "conn/conn_int.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"

#define DEFAULT_CACHE_BYTES ((size_t)256 << 20)

static cairn_val get(cairn_val map, cairn_ident *key)
{
    cairn_val v;
    if (cairn_map_get(&v, map, cairn_keyword_static(key)))
        return v;
    return cairn_nil();
}

static int bad(cairn_error *err, const char *key, const char *want)
{
    return cairn_error_set(err, CAIRN_EINVALID, ":config/invalid", "Invalid Datahike configuration: %s must be %s",
                           key, want);
}

int cairn_config_parse(cairn_config *out, cairn_val config, cairn_error *err)
{
    cairn_val store, v;
    memset(out, 0, sizeof *out);
    out->keep_history = 1;
    out->config = out->store = out->initial_tx = out->schema = cairn_nil();
    strcpy(out->branch, "db");
    out->cache_bytes = DEFAULT_CACHE_BYTES;
    out->tail_commits = CAIRN_TAIL_MAX_COMMITS;
    if (cairn_type_of(config) != CAIRN_MAP)
        return bad(err, "the config", "a map");
    store = get(config, &cairn_kw_store);
    if (cairn_type_of(store) == CAIRN_NIL)
        return bad(err, ":store", "given, e.g. {:store {:backend :file :path \"/data/db\"}}");
    if (cairn_type_of(store) != CAIRN_MAP)
        return bad(err, ":store", "a map");
    v = get(store, &cairn_kw_backend);
    if (cairn_type_of(v) != CAIRN_KEYWORD)
        return bad(err, ":store :backend", "a keyword");
    v = get(config, &cairn_kw_keep_history);
    if (cairn_type_of(v) != CAIRN_NIL) {
        if (cairn_type_of(v) != CAIRN_BOOL)
            return bad(err, ":keep-history?", "a boolean");
        out->keep_history = cairn_bool_value(v);
        out->keep_history_given = 1;
    }
    v = get(config, &cairn_kw_schema_flexibility);
    if (cairn_type_of(v) != CAIRN_NIL) {
        if (IS_KW(v, read))
            out->read_flex = 1;
        else if (!IS_KW(v, write))
            return bad(err, ":schema-flexibility", ":read or :write");
        out->read_flex_given = 1;
    }
    v = get(config, &cairn_kw_branch);
    if (cairn_type_of(v) != CAIRN_NIL) {
        const char *name = cairn_ident_get(v, NULL);
        if (cairn_type_of(v) != CAIRN_KEYWORD || !cairn_store_head_name_ok(name))
            return bad(err, ":branch", "a keyword of letters, digits, '.', '_' or '-'");
        snprintf(out->branch, sizeof out->branch, "%s", name);
    }
    v = get(config, &cairn_kw_attribute_refs);
    if (cairn_type_of(v) != CAIRN_NIL && !(cairn_type_of(v) == CAIRN_BOOL && !cairn_bool_value(v)))
        return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":config/unsupported",
                               ":attribute-refs? true is not supported: cairn shows attributes as keywords");
    if (out->read_flex && cairn_type_of(v) == CAIRN_BOOL && cairn_bool_value(v))
        return cairn_error_set(err, CAIRN_EINVALID, ":config/invalid",
                               "Attribute references cannot be used with schema-flexibility ':read'.");
    v = get(config, &cairn_kw_schema);
    if (cairn_type_of(v) != CAIRN_NIL && cairn_type_of(v) != CAIRN_MAP)
        return bad(err, ":schema", "a map of attribute -> {:db/valueType ...}");
    out->schema = v;
    {
        cairn_val k, cb;
        if (cairn_keyword(&k, "cache-bytes", 11) == 0 && cairn_map_get(&cb, config, k)) {
            if (cairn_type_of(cb) != CAIRN_INT || cairn_int_value(cb) < 0)
                return bad(err, ":cache-bytes", "a non-negative integer");
            out->cache_bytes = (size_t)cairn_int_value(cb);
        }
        if (cairn_keyword(&k, "tail-commits", 12) == 0 && cairn_map_get(&cb, config, k)) {
            if (cairn_type_of(cb) != CAIRN_INT || cairn_int_value(cb) < 0 || cairn_int_value(cb) > CAIRN_TAIL_DEPTH_MAX)
                return bad(err, ":tail-commits", "an integer from 0 to 100000");
            out->tail_commits = (uint32_t)cairn_int_value(cb);
        }
    }
    out->initial_tx = get(config, &cairn_kw_initial_tx);
    out->config = config;
    out->store = store;
    return 0;
}

/* The store map with Datahike's :memory backend name mapped to :mem. */
static int store_map(cairn_val *out, cairn_val store)
{
    cairn_val v = get(store, &cairn_kw_backend), mem;
    int rc;
    if (!cairn_val_is_kw(v, "memory")) {
        *out = cairn_retain(store);
        return 0;
    }
    *out = cairn_retain(store);
    if ((rc = cairn_keyword(&mem, "mem", 3)) == 0)
        rc = cairn_map_assoc(out, KW(backend), mem);
    if (rc < 0)
        cairn_release(*out);
    return rc;
}

int cairn_config_open_ctx(cairn_dbctx **out, const cairn_config *cfg, cairn_error *err)
{
    cairn_dbctx *ctx = cairn_malloc(sizeof *ctx);
    cairn_val store_cfg;
    int rc;
    if (!ctx)
        return cairn_error_oom(err);
    memset(ctx, 0, sizeof *ctx);
    atomic_init(&ctx->refcnt, 1);
    pthread_mutex_init(&ctx->memo_mu, NULL);
    ctx->config = ctx->store_config = cairn_nil();
    if ((rc = store_map(&store_cfg, cfg->store)) < 0) {
        cairn_free(ctx);
        return cairn_error_code(err, rc);
    }
    ctx->store_config = store_cfg;
    if ((rc = cairn_store_open(&ctx->store, store_cfg, err)) < 0) {
        cairn_release(store_cfg);
        cairn_free(ctx);
        return rc;
    }
    if ((rc = cairn_nodecache_new(&ctx->cache, ctx->store, cfg->cache_bytes)) < 0) {
        cairn_store_close(ctx->store);
        cairn_release(store_cfg);
        cairn_free(ctx);
        return cairn_error_code(err, rc);
    }
    ctx->config = cairn_retain(cfg->config);
    snprintf(ctx->branch, sizeof ctx->branch, "%s", cfg->branch);
    ctx->keep_history = cfg->keep_history;
    ctx->read_flex = cfg->read_flex;
    ctx->tail_max_commits = cfg->tail_commits;
    ctx->tail_max_keys = CAIRN_TAIL_MAX_KEYS;
    ctx->tail_max_dirty = CAIRN_TAIL_MAX_DIRTY;
    {
        cairn_btree_opts def = CAIRN_BTREE_OPTS_INIT;
        ctx->tree_opts = def;
    }
    *out = ctx;
    return 0;
}

int cairn_config_schema(cairn_schema **out, const cairn_config *cfg, cairn_error *err)
{
    cairn_schema *s;
    int rc = cairn_schema_new(&s, cfg->read_flex);
    if (rc < 0)
        return cairn_error_code(err, rc);
    for (size_t i = 0; i < cairn_count(cfg->schema); i++) {
        cairn_val ident = cairn_map_key_get(cfg->schema, i), def = cairn_map_val_get(cfg->schema, i);
        cairn_attr a;
        if (cairn_type_of(ident) != CAIRN_KEYWORD || cairn_type_of(def) != CAIRN_MAP) {
            cairn_schema_release(s);
            return bad(err, ":schema", "a map of attribute keyword -> attribute map");
        }
        /* a DataScript schema may leave out type and cardinality */
        if ((rc = cairn_attr_from_map(&a, s->next_implicit, ident, def, 1, err)) < 0) {
            cairn_schema_release(s);
            return rc;
        }
        a.implicit = 1;
        rc = cairn_schema_put(s, &a);
        cairn_attr_dispose(&a);
        if (rc < 0) {
            cairn_schema_release(s);
            return cairn_error_code(err, rc);
        }
    }
    *out = s;
    return 0;
}
