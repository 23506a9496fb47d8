/*
 * libFuzzer target for the JSON codec. Whatever the input: reading must end
 * in a value or a clean error; a value must print as JSON and read back
 * equal; and when its keyword and symbol names are EDN-readable it must
 * also survive EDN (the JSON/EDN differential). Any broken property aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cairn.h"
#include "edn/edn.h"
#include "edn/value.h"

#define REQUIRE(cond) do { if (!(cond)) abort(); } while (0)

/* 1 when v prints as EDN that reads back equal: names must be EDN names,
 * instants within the years #inst can write, tags not EDN's typed ones. */
static int edn_exact(cairn_val v)
{
    size_t n;
    const char *s;
    switch (cairn_type_of(v)) {
    case CAIRN_INST:  /* #inst text has four-digit years: 0000-01-01 .. 9999-12-31 */
        return cairn_inst_value(v) >= -62167219200000LL && cairn_inst_value(v) <= 253402300799999LL;
    case CAIRN_KEYWORD:
    case CAIRN_SYMBOL:
        s = cairn_ident_get(v, &n);
        return cairn_edn__name_ok(cairn_type_of(v), s, n);
    case CAIRN_LIST:
    case CAIRN_VECTOR:
    case CAIRN_SET:
        for (size_t i = 0; i < cairn_count(v); i++)
            if (!edn_exact(cairn_coll_get(v, i)))
                return 0;
        return 1;
    case CAIRN_MAP:
        for (size_t i = 0; i < cairn_count(v); i++)
            if (!edn_exact(cairn_map_key_get(v, i)) || !edn_exact(cairn_map_val_get(v, i)))
                return 0;
        return 1;
    case CAIRN_TAGGED: {
        /* #inst, #uuid and #cairn/bytes are typed literals in EDN */
        const char *tag = cairn_ident_get(cairn_tagged_tag_get(v), NULL);
        if (!strcmp(tag, "inst") || !strcmp(tag, "uuid") || !strcmp(tag, "cairn/bytes"))
            return 0;
        return edn_exact(cairn_tagged_tag_get(v)) && edn_exact(cairn_tagged_value_get(v));
    }
    default:
        return 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_read_limits lim = CAIRN_READ_LIMITS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_val v, back;
    char *s;
    size_t n;
    int rc;

    lim.max_elements = 100000;
    rc = cairn_json_read(&v, (const char *)data, size, &lim, &err);
    REQUIRE(rc == 0 || rc == CAIRN_EINVALID || rc == CAIRN_ELIMIT);
    REQUIRE(rc == 0 || (err.code == rc && err.line >= 1 && err.column >= 1 && err.message[0]));
    if (rc != 0)
        return 0;
    REQUIRE(cairn_json_print(&s, &n, v) == 0);
    REQUIRE(cairn_json_read(&back, s, n, NULL, NULL) == 0);
    REQUIRE(cairn_equal(v, back));
    cairn_free(s);
    cairn_release(back);
    if (edn_exact(v)) {
        REQUIRE(cairn_edn_print(&s, &n, v) == 0);
        REQUIRE(cairn_edn_read(&back, s, n, NULL, NULL) == 0);
        REQUIRE(cairn_equal(v, back));
        cairn_free(s);
        cairn_release(back);
    }
    cairn_release(v);
    return 0;
}
