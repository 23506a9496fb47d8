/*
 * The public pull API (cairn.h): cairn_pull and cairn_pull_many, which
 * resolve the entity references Datahike's way (entid-strict: a missing
 * lookup ref or ident is an error, ":entity-id/missing") and run a pattern
 * parsed once per call.
 */
#include "pull/pull_int.h"

#include "base/alloc.h"
#include "base/err.h"

int cairn_pull(cairn_val *out, const cairn_db *db, cairn_val pattern, cairn_val eid, cairn_error *err)
{
    cairn_pull_pattern *p;
    int64_t e;
    int rc;
    if ((rc = cairn_pull_pattern_parse(&p, db, pattern, err)) < 0)
        return rc;
    if ((rc = pull__entid_strict(db, eid, &e, err)) == 0)
        rc = cairn_pull_pattern_eval(out, p, db, e, err);
    cairn_pull_pattern_free(p);
    return rc;
}

int cairn_pull_many(cairn_val *out, const cairn_db *db, cairn_val pattern, cairn_val eids, cairn_error *err)
{
    cairn_pull_pattern *p = NULL;
    cairn_val result = cairn_nil();
    int64_t *ids = NULL;
    size_t n = cairn_count(eids);
    int rc;
    if (cairn_type_of(eids) != CAIRN_VECTOR && cairn_type_of(eids) != CAIRN_LIST)
        return cairn_error_set(err, CAIRN_EINVALID, ":entity-id/syntax", "pull-many expects a vector of entity ids");
    if ((rc = cairn_pull_pattern_parse(&p, db, pattern, err)) < 0)
        return rc;
    if (!(ids = cairn_malloc(cairn_mul_size(n, sizeof *ids))) || cairn_vector_new(&result, n) < 0) {
        rc = cairn_error_oom(err);
        goto done;
    }
    /* every reference first, as Datahike does: a bad one fails the call */
    for (size_t i = 0; i < n && rc == 0; i++)
        rc = pull__entid_strict(db, cairn_coll_get(eids, i), &ids[i], err);
    for (size_t i = 0; i < n && rc == 0; i++) {
        cairn_val m;
        if ((rc = cairn_pull_pattern_eval(&m, p, db, ids[i], err)) == 0 && cairn_type_of(m) != CAIRN_NIL &&
            (rc = cairn_coll_push_take(&result, m)) < 0)
            rc = pull__build_error(err, rc);
    }
done:
    cairn_free(ids);
    cairn_pull_pattern_free(p);
    if (rc < 0) {
        cairn_release(result);
        return rc;
    }
    *out = result;
    return 0;
}
