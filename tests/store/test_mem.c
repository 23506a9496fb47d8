/* src/store: dispatch, content addressing, batches, and the memory backend. */
#include "test.h"
#include "base/alloc.h"
#include "edn/value.h"
#include "store/store.h"

static cairn_val mem_config(const char *id)
{
    cairn_val m, k, v;
    CHECK_OK(cairn_map_new(&m, 2));
    CHECK_OK(cairn_keyword(&k, "backend", 7));
    CHECK_OK(cairn_keyword(&v, "mem", 3));
    CHECK_OK(cairn_map_put(&m, k, v));
    CHECK_OK(cairn_keyword(&k, "id", 2));
    CHECK_OK(cairn_string(&v, id, strlen(id)));
    CHECK_OK(cairn_map_put_take(&m, k, v));
    return m;
}

void test_store_mem__nodes_round_trip_by_address_across_handles(void)
{
    cairn_val cfg = mem_config("t1");
    cairn_store *a, *b;
    cairn_store_batch *batch;
    cairn_addr addr, addr2;
    void *data;
    size_t len;
    CHECK_OK(cairn_store_open(&a, cfg, NULL));
    CHECK_OK(cairn_store_open(&b, cfg, NULL));
    CHECK_OK(cairn_store_batch_new(&batch, a));
    CHECK_OK(cairn_store_batch_add(batch, "hello", 5, &addr));
    CHECK_OK(cairn_store_batch_add(batch, "hello", 5, &addr2));
    CHECK(cairn_addr_equal(&addr, &addr2));
    CHECK_ERR(cairn_store_get_node(b, &addr, &data, &len), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_store_batch_commit(batch));
    CHECK_OK(cairn_store_get_node(b, &addr, &data, &len));
    CHECK_MEM(data, len, "hello", 5);
    cairn_free(data);
    cairn_store_batch_free(batch);
    cairn_store_close(a);
    cairn_store_close(b);
    cairn_release(cfg);
}

void test_store_mem__head_cas_conflicts_and_writer_lock_is_exclusive(void)
{
    cairn_val cfg = mem_config("t2");
    cairn_store *a, *b;
    void *data;
    size_t len;
    CHECK_OK(cairn_store_open(&a, cfg, NULL));
    CHECK_OK(cairn_store_open(&b, cfg, NULL));
    CHECK_ERR(cairn_store_head_read(a, "db", &data, &len), CAIRN_ENOTFOUND);
    CHECK_OK(cairn_store_head_cas(a, "db", NULL, 0, "v1", 2));
    CHECK_ERR(cairn_store_head_cas(b, "db", NULL, 0, "v9", 2), CAIRN_ECONFLICT);
    CHECK_ERR(cairn_store_head_cas(b, "db", "v0", 2, "v9", 2), CAIRN_ECONFLICT);
    CHECK_OK(cairn_store_head_cas(b, "db", "v1", 2, "v2", 2));
    CHECK_OK(cairn_store_head_read(a, "db", &data, &len));
    CHECK_MEM(data, len, "v2", 2);
    cairn_free(data);
    CHECK_ERR(cairn_store_head_cas(a, "../x", NULL, 0, "v", 1), CAIRN_EINVALID);
    CHECK_OK(cairn_store_lock(a));
    CHECK_ERR(cairn_store_lock(b), CAIRN_EBUSY);
    cairn_store_close(a);
    CHECK_OK(cairn_store_lock(b));
    cairn_store_close(b);
    cairn_release(cfg);
}

void test_store_mem__unknown_backend_is_a_clear_error(void)
{
    cairn_val m, k, v;
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    CHECK_OK(cairn_map_new(&m, 1));
    CHECK_OK(cairn_keyword(&k, "backend", 7));
    CHECK_OK(cairn_keyword(&v, "floppy", 6));
    CHECK_OK(cairn_map_put(&m, k, v));
    CHECK_ERR(cairn_store_open(&s, m, &err), CAIRN_EUNSUPPORTED);
    CHECK_STR(err.keyword, ":backend-does-not-exist");
    cairn_release(m);
}
