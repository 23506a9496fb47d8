/* TEMPORARY: placeholders until the EDN reader/printer branch lands. */
#include "edn/value.h"

int cairn_edn_print(char **out, size_t *out_len, cairn_val v)
{
    (void)out;
    (void)out_len;
    (void)v;
    return CAIRN_EUNSUPPORTED;
}

int cairn_edn_read(cairn_val *out, const char *text, size_t len, const cairn_read_limits *limits, cairn_error *err)
{
    (void)out;
    (void)text;
    (void)len;
    (void)limits;
    (void)err;
    return CAIRN_EUNSUPPORTED;
}
