/*
 * Sets of node addresses: what `cairn check` has read and what garbage
 * collection has marked.
 */
#include "store/store.h"

static int addr_eq(const void *entry, const void *key, void *payload)
{
    (void)payload;
    return cairn_addr_equal(entry, key);
}

int cairn_addrset_add(cairn_addrset *s, const cairn_addr *a)
{
    cairn_addr *copy;
    if (cairn_hmap_find(&s->map, cairn_addr_hash(a), a, addr_eq, NULL))
        return 0;
    if (!(copy = cairn_arena_alloc(&s->mem, sizeof *copy)))
        return CAIRN_ENOMEM;
    *copy = *a;
    if (cairn_hmap_insert(&s->map, cairn_addr_hash(a), copy) < 0)
        return CAIRN_ENOMEM;
    s->count++;
    return 1;
}

int cairn_addrset_has(const cairn_addrset *s, const cairn_addr *a)
{
    return cairn_hmap_find(&s->map, cairn_addr_hash(a), a, addr_eq, NULL) != NULL;
}

void cairn_addrset_dispose(cairn_addrset *s)
{
    cairn_hmap_dispose(&s->map);
    cairn_arena_dispose(&s->mem);
    s->count = 0;
}
