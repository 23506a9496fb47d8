/*
 * Transaction reports (cairn.h) and cairn_db_with.
 */
#include "tx/report.h"

#include <string.h>
#include <time.h>

#include "base/alloc.h"
#include "base/err.h"
#include "tx/apply.h"

/* ---- reports ---------------------------------------------------------------- */

int cairn_tx_report_build(cairn_tx_report **out, cairn_db *before, cairn_db *after, const cairn_tx_out *tx)
{
    cairn_tx_report *r = cairn_malloc(sizeof *r);
    int rc;
    if (!r) {
        cairn_db_release(before);
        cairn_db_release(after);
        return CAIRN_ENOMEM;
    }
    r->before = before;
    r->after = after;
    r->tempids = cairn_retain(tx->tempids);
    r->tx_meta = cairn_retain(tx->tx_meta);
    if ((rc = cairn_vector_new(&r->tx_data, tx->report_count)) < 0)
        goto fail;
    for (size_t i = 0; i < tx->report_count; i++) {
        const cairn_report_datom *d = &tx->report[i];
        const cairn_attr *a = cairn_schema_by_id(after->schema, d->a);
        cairn_val dv;
        if (!a)
            a = cairn_schema_by_id(before->schema, d->a);
        if ((rc = cairn_vector_new(&dv, 5)) < 0)
            goto fail;
        if ((rc = cairn_coll_push(&dv, cairn_int(d->e))) < 0 ||
            (rc = cairn_coll_push(&dv, a ? a->ident : cairn_int(d->a))) < 0 || (rc = cairn_coll_push(&dv, d->v)) < 0 ||
            (rc = cairn_coll_push(&dv, cairn_int(d->tx))) < 0 || (rc = cairn_coll_push(&dv, cairn_bool(d->added))) < 0) {
            cairn_release(dv);
            goto fail;
        }
        if ((rc = cairn_coll_push_take(&r->tx_data, dv)) < 0)
            goto fail;
    }
    *out = r;
    return 0;
fail:
    r->tx_data = cairn_type_of(r->tx_data) == CAIRN_VECTOR ? r->tx_data : cairn_nil();
    cairn_tx_report_free(r);
    return rc;
}

void cairn_tx_report_free(cairn_tx_report *r)
{
    if (!r)
        return;
    cairn_db_release(r->before);
    cairn_db_release(r->after);
    cairn_release(r->tx_data);
    cairn_release(r->tempids);
    cairn_release(r->tx_meta);
    cairn_free(r);
}

const cairn_db *cairn_tx_report_db_before(const cairn_tx_report *r)
{
    return r->before;
}

const cairn_db *cairn_tx_report_db_after(const cairn_tx_report *r)
{
    return r->after;
}

cairn_val cairn_tx_report_tx_data_get(const cairn_tx_report *r)
{
    return r->tx_data;
}

cairn_val cairn_tx_report_tempids_get(const cairn_tx_report *r)
{
    return r->tempids;
}

cairn_val cairn_tx_report_tx_meta_get(const cairn_tx_report *r)
{
    return r->tx_meta;
}


int cairn_db_with(cairn_tx_report **out, const cairn_db *db, cairn_val tx_data, cairn_val tx_meta, cairn_error *err)
{
    cairn_tx_out tx;
    cairn_db *after;
    struct timespec ts;
    int rc;
    if (db->view != CAIRN_VIEW_CURRENT)
        return cairn_error_set(err, CAIRN_EINVALID, ":transaction/filtered",
                               "with is only allowed on a current database value, not a temporal view");
    clock_gettime(CLOCK_REALTIME, &ts);
    if ((rc = cairn_tx_apply(&tx, db, 0, tx_data, tx_meta, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, err)) < 0)
        return rc;
    rc = cairn_db__apply(&after, db, &tx, err);
    if (rc == 0)
        rc = cairn_tx_report_build(out, cairn_db_retain((cairn_db *)db), after, &tx);
    cairn_tx_out_dispose(&tx);
    return cairn_error_code(err, rc);
}
