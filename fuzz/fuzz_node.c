/*
 * libFuzzer target: the index node decoder (src/index/codec.c). Any input
 * must decode or be refused as CAIRN_ECORRUPT, never crash or read outside
 * the input; an input that decodes must be canonical, so it must encode back
 * to exactly the same bytes (node addresses are hashes of these bytes, so two
 * encodings of one node would be two addresses). A decoded node is also
 * searched, as the tree would, to exercise its offsets.
 */
#include <stdlib.h>

#include "index/node.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    cairn_node *n;
    cairn_buf again = CAIRN_BUF_INIT;
    int rc = cairn_node_decode(&n, data, size);
    if (rc < 0) {
        if (rc != CAIRN_ECORRUPT && rc != CAIRN_ENOMEM)
            abort();
        return 0;
    }
    if (cairn_node_encode(&again, n) < 0)
        abort();
    if (again.len != size || memcmp(again.ptr, data, size) != 0)
        abort();  /* not canonical */
    for (uint32_t i = 0; i < n->n; i++) {
        size_t len;
        const uint8_t *k = cairn_node_key(n, i, &len);
        if (cairn_node_lower_bound(n, k, len) != i || cairn_node_upper_bound(n, k, len) != i + 1)
            abort();  /* keys not strictly increasing */
    }
    cairn_buf_dispose(&again);
    cairn_node_unref(n);
    return 0;
}
