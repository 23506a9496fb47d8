/* TEMPORARY: placeholders until the pull branch lands (it deletes this file). */
#include "pull/pull.h"

#include "base/err.h"

int cairn_pull(cairn_val *out, const cairn_db *db, cairn_val pattern, cairn_val eid, cairn_error *err)
{
    (void)out, (void)db, (void)pattern, (void)eid;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":pull/unsupported", "pull is not implemented yet");
}

int cairn_pull_many(cairn_val *out, const cairn_db *db, cairn_val pattern, cairn_val eids, cairn_error *err)
{
    (void)out, (void)db, (void)pattern, (void)eids;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":pull/unsupported", "pull is not implemented yet");
}

int cairn_entity_get(cairn_entity **out, const cairn_db *db, cairn_val eid, cairn_error *err)
{
    (void)out, (void)db, (void)eid;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":pull/unsupported", "entity is not implemented yet");
}

int cairn_entity_touch(cairn_val *out, cairn_entity *e, cairn_error *err)
{
    (void)out, (void)e;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":pull/unsupported", "entity is not implemented yet");
}

void cairn_entity_free(cairn_entity *e)
{
    (void)e;
}

int cairn_pull_pattern_parse(cairn_pull_pattern **out, const cairn_db *db, cairn_val pattern, cairn_error *err)
{
    (void)out, (void)db, (void)pattern;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":pull/unsupported", "pull is not implemented yet");
}

int cairn_pull_pattern_eval(cairn_val *out, const cairn_pull_pattern *p, const cairn_db *db, int64_t eid,
                            cairn_error *err)
{
    (void)out, (void)p, (void)db, (void)eid;
    return cairn_error_set(err, CAIRN_EUNSUPPORTED, ":pull/unsupported", "pull is not implemented yet");
}

void cairn_pull_pattern_free(cairn_pull_pattern *p)
{
    (void)p;
}
