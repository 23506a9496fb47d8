/* src/base: allocator seam, errors, buffers, arenas, hash map, varints, UTF-8. */
#include <stdlib.h>

#include "test.h"
#include "base/alloc.h"
#include "base/arena.h"
#include "base/buf.h"
#include "base/err.h"
#include "base/hash.h"
#include "base/hmap.h"
#include "base/utf8.h"
#include "base/varint.h"

void test_base_alloc__fails_exactly_the_nth_allocation(void)
{
    void *a, *b, *c;
    cairn__alloc_fail_at(2, 0);
    a = cairn_malloc(10);
    b = cairn_malloc(10);
    c = cairn_malloc(10);
    CHECK(a != NULL);
    CHECK(b == NULL);
    CHECK(c != NULL);
    CHECK(cairn__alloc_failed());
    cairn_free(a);
    cairn_free(c);
    cairn__alloc_fail_at(0, 0);
}

void test_base_alloc__persistent_failure_fails_every_later_allocation(void)
{
    cairn__alloc_fail_at(1, 1);
    CHECK(cairn_malloc(1) == NULL);
    CHECK(cairn_malloc(1) == NULL);
    CHECK(cairn_realloc(NULL, 8) == NULL);
    cairn__alloc_fail_at(0, 0);
    {
        void *p = cairn_malloc(1);
        CHECK(p != NULL);
        cairn_free(p);
    }
}

void test_base_alloc__live_count_tracks_malloc_and_free(void)
{
    int64_t before = cairn__alloc_live();
    void *p = cairn_malloc(5);
    CHECK_EQ(cairn__alloc_live(), before + 1);
    p = cairn_realloc(p, 5000);
    CHECK(p != NULL);
    CHECK_EQ(cairn__alloc_live(), before + 1);
    cairn_free(p);
    CHECK_EQ(cairn__alloc_live(), before);
}

static int custom_calls;
static void *custom_malloc(size_t n, void *payload)
{
    (void)payload;
    custom_calls++;
    return malloc(n);
}

void test_base_alloc__user_allocator_is_used_and_version_checked(void)
{
    cairn_allocator a = CAIRN_ALLOCATOR_INIT;
    cairn_allocator bad = CAIRN_ALLOCATOR_INIT;
    void *p;
    a.malloc = custom_malloc;
    bad.version = 99;
    CHECK_ERR(cairn_set_allocator(&bad), CAIRN_EINVALID);
    CHECK_OK(cairn_set_allocator(&a));
    p = cairn_malloc(3);
    CHECK_EQ(custom_calls, 1);
    cairn_free(p);
    CHECK_OK(cairn_set_allocator(NULL));
}

void test_base_err__set_formats_one_line_with_keyword(void)
{
    cairn_error e = CAIRN_ERROR_INIT;
    int rc = cairn_error_set(&e, CAIRN_EINVALID, ":transact/syntax", "bad %s\nsecond", "datom");
    CHECK_EQ(rc, CAIRN_EINVALID);
    CHECK_EQ(e.code, CAIRN_EINVALID);
    CHECK_STR(e.keyword, ":transact/syntax");
    CHECK_STR(e.message, "bad datom second");
    cairn_error_prefix(&e, "tx %d", 3);
    CHECK_STR(e.message, "tx 3: bad datom second");
    CHECK_EQ(cairn_error_set(NULL, CAIRN_EIO, NULL, "x"), CAIRN_EIO);
    CHECK_EQ(cairn_error_oom(&e), CAIRN_ENOMEM);
    CHECK_STR(e.message, "out of memory");
    CHECK_STR(cairn_strerror(CAIRN_ECORRUPT), "corrupt");
}

void test_base_buf__appends_grow_and_stay_nul_terminated(void)
{
    cairn_buf b = CAIRN_BUF_INIT;
    char *s;
    size_t n;
    for (int i = 0; i < 1000; i++)
        CHECK_OK(cairn_buf_printf(&b, "%d,", i));
    CHECK(b.len > 2000);
    CHECK(b.ptr[b.len] == 0);
    CHECK(!memcmp(b.ptr, "0,1,2,", 6));
    cairn_buf_truncate(&b, 2);
    CHECK_STR(b.ptr, "0,");
    CHECK_OK(cairn_buf_putc(&b, 'x'));
    s = cairn_buf_detach(&b, &n);
    CHECK_STR(s, "0,x");
    CHECK_EQ(n, 3);
    CHECK(b.ptr == NULL);
    cairn_free(s);
}

void test_base_buf__oom_is_sticky_and_detach_returns_null(void)
{
    cairn_buf b = CAIRN_BUF_INIT;
    int64_t live = cairn__alloc_live();
    CHECK_OK(cairn_buf_puts(&b, "abc"));
    cairn__alloc_fail_at(1, 0);
    CHECK_ERR(cairn_buf_put(&b, "x", 200), CAIRN_ENOMEM);
    cairn__alloc_fail_at(0, 0);
    CHECK_ERR(cairn_buf_puts(&b, "more"), CAIRN_ENOMEM);
    CHECK(b.oom);
    CHECK(cairn_buf_detach(&b, NULL) == NULL);
    CHECK_EQ(cairn__alloc_live(), live);
}

void test_base_arena__allocations_are_aligned_and_freed_together(void)
{
    cairn_arena a = CAIRN_ARENA_INIT;
    int64_t live = cairn__alloc_live();
    for (int i = 1; i < 2000; i++) {
        char *p = cairn_arena_alloc(&a, (size_t)(i % 97 + 1));
        CHECK(p != NULL);
        CHECK(((uintptr_t)p & 15) == 0);
        memset(p, 0xab, (size_t)(i % 97 + 1));
    }
    {
        char *big = cairn_arena_alloc(&a, 3 << 20);
        CHECK(big != NULL);
        memset(big, 1, 3 << 20);
        char *s = cairn_arena_strndup(&a, "hello world", 5);
        CHECK_STR(s, "hello");
        char *r = cairn_arena_realloc(&a, s, 6, 100);
        CHECK_STR(r, "hello");
    }
    cairn_arena_dispose(&a);
    CHECK_EQ(cairn__alloc_live(), live);
}

void test_base_arena__limit_refuses_growth(void)
{
    cairn_arena a = CAIRN_ARENA_INIT;
    a.limit = 10000;
    CHECK(cairn_arena_alloc(&a, 100) != NULL);
    CHECK(cairn_arena_alloc(&a, 20000) == NULL);
    cairn_arena_dispose(&a);
}

struct entry {
    uint64_t key;  /* the key */
    int removed;   /* unused */
};

static int entry_eq(const void *e, const void *k, void *payload)
{
    (void)payload;
    return ((const struct entry *)e)->key == *(const uint64_t *)k;
}

void test_base_hmap__matches_a_model_through_inserts_and_removes(void)
{
    enum { N = 20000 };
    cairn_hmap m = CAIRN_HMAP_INIT;
    struct entry *es = calloc(N, sizeof *es);
    char *present = calloc(N, 1);
    for (int i = 0; i < N; i++)
        es[i].key = (uint64_t)i * 7919;
    for (int round = 0; round < 60000; round++) {
        uint64_t i = test_rand_below(N);
        uint64_t k = es[i].key;
        uint64_t h = cairn_hash_bytes(&k, sizeof k, 1);
        void *found = cairn_hmap_find(&m, h, &k, entry_eq, NULL);
        CHECK((found != NULL) == present[i]);
        if (present[i] && test_rand_below(2)) {
            CHECK(cairn_hmap_remove(&m, h, &k, entry_eq, NULL) == &es[i]);
            present[i] = 0;
        } else if (!present[i]) {
            CHECK_OK(cairn_hmap_insert(&m, h, &es[i]));
            present[i] = 1;
        }
    }
    {
        size_t n = 0, want = 0;
        void *e;
        for (size_t pos = 0; cairn_hmap_next(&m, &pos, &e);)
            n++;
        for (int i = 0; i < N; i++)
            want += present[i];
        CHECK_EQ(n, want);
        CHECK_EQ(m.count, want);
    }
    cairn_hmap_dispose(&m);
    free(es);
    free(present);
}

void test_base_hash__same_bytes_same_hash_and_seed_matters(void)
{
    char a[100], b[100];
    for (int i = 0; i < 100; i++)
        a[i] = b[i] = (char)i;
    for (size_t n = 0; n < 100; n++)
        CHECK(cairn_hash_bytes(a, n, 5) == cairn_hash_bytes(b, n, 5));
    CHECK(cairn_hash_bytes(a, 50, 5) != cairn_hash_bytes(a, 50, 6));
    CHECK(cairn_hash_bytes(a, 50, 5) != cairn_hash_bytes(a, 51, 5));
    b[17] ^= 1;
    CHECK(cairn_hash_bytes(a, 50, 5) != cairn_hash_bytes(b, 50, 5));
}

void test_base_varint__round_trips_edges_and_rejects_malformed(void)
{
    uint64_t vals[] = { 0, 1, 127, 128, 255, 16383, 16384, UINT32_MAX, (uint64_t)1 << 56, UINT64_MAX };
    uint8_t buf[CAIRN_VARINT_MAX];
    for (size_t i = 0; i < CAIRN_ARRAY_LEN(vals); i++) {
        uint64_t out = 0;
        size_t n = cairn_varint_put(buf, vals[i]);
        CHECK_EQ(n, cairn_varint_len(vals[i]));
        CHECK_EQ(cairn_varint_get(buf, n, &out), n);
        CHECK(out == vals[i]);
        CHECK_EQ(cairn_varint_get(buf, n - 1, &out), 0);  /* truncated */
    }
    {
        uint8_t overlong[] = { 0x80, 0x00 };
        uint8_t too_big[] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02 };
        uint64_t out;
        CHECK_EQ(cairn_varint_get(overlong, 2, &out), 0);
        CHECK_EQ(cairn_varint_get(too_big, 10, &out), 0);
    }
    for (int64_t v = -1000; v <= 1000; v += 7)
        CHECK_EQ(cairn_unzigzag(cairn_zigzag(v)), v);
    CHECK_EQ(cairn_unzigzag(cairn_zigzag(INT64_MIN)), INT64_MIN);
    CHECK_EQ(cairn_unzigzag(cairn_zigzag(INT64_MAX)), INT64_MAX);
}

void test_base_utf8__rejects_overlong_surrogates_and_truncation(void)
{
    uint32_t cp;
    CHECK_EQ(cairn_utf8_check("h\xc3\xa9llo", 6), 6);
    CHECK_EQ(cairn_utf8_check("\xc0\xaf", 2), 0);              /* overlong '/' */
    CHECK_EQ(cairn_utf8_check("ab\xed\xa0\x80", 5), 2);        /* surrogate */
    CHECK_EQ(cairn_utf8_check("\xf4\x90\x80\x80", 4), 0);      /* > U+10FFFF */
    CHECK_EQ(cairn_utf8_check("x\xe2\x82", 3), 1);             /* truncated */
    CHECK_EQ(cairn_utf8_check("\xff", 1), 0);
    CHECK_EQ(cairn_utf8_decode("\xf0\x9f\x98\x80", 4, &cp), 4);
    CHECK_EQ(cp, 0x1f600);
    {
        char b[4];
        for (uint32_t c = 0; c < 0x110000; c += 97) {
            size_t n;
            uint32_t back;
            if (c >= 0xd800 && c <= 0xdfff)
                continue;
            n = cairn_utf8_encode(b, c);
            CHECK_EQ(cairn_utf8_decode(b, n, &back), n);
            CHECK_EQ(back, c);
        }
    }
}
