/* TEMPORARY: placeholders until the query branch lands (it deletes this file). */
#include "base/err.h"

int cairn_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs, const cairn_query_opts *opts,
            cairn_error *err)
{
    (void)out, (void)query, (void)inputs, (void)ninputs, (void)opts;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":query/unsupported", "queries are not implemented yet");
}

int cairn_q_edn(cairn_val *out, const char *query, size_t len, const cairn_input *inputs, size_t ninputs,
                const cairn_query_opts *opts, cairn_error *err)
{
    (void)out, (void)query, (void)len, (void)inputs, (void)ninputs, (void)opts;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":query/unsupported", "queries are not implemented yet");
}

int cairn_explain(char **out, cairn_val query, const cairn_input *inputs, size_t ninputs, cairn_error *err)
{
    (void)out, (void)query, (void)inputs, (void)ninputs;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":query/unsupported", "queries are not implemented yet");
}
