/*
 * The typed transaction builder (cairn.h): tx data assembled as values, so
 * C callers skip formatting and re-parsing EDN. Errors stick until
 * cairn_transact_builder reports them, so the adds of a loop need no checks.
 */
#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"

struct cairn_tx_builder {
    cairn_val data;   /* vector of operations */
    cairn_val meta;   /* map of tx metadata, or nil */
    int rc;           /* first failure, sticky */
    char what[96];    /* what failed */
};

int cairn_tx_builder_new(cairn_tx_builder **out)
{
    cairn_tx_builder *b = cairn_malloc(sizeof *b);
    int rc;
    if (!b)
        return CAIRN_ENOMEM;
    memset(b, 0, sizeof *b);
    b->meta = cairn_nil();
    if ((rc = cairn_vector_new(&b->data, 16)) < 0) {
        cairn_free(b);
        return rc;
    }
    *out = b;
    return 0;
}

void cairn_tx_builder_free(cairn_tx_builder *b)
{
    if (!b)
        return;
    cairn_release(b->data);
    cairn_release(b->meta);
    cairn_free(b);
}

static int fail(cairn_tx_builder *b, int rc, const char *what)
{
    if (!b->rc) {
        b->rc = rc;
        snprintf(b->what, sizeof b->what, "%s", what);
    }
    return rc;
}

static int attr_kw(cairn_tx_builder *b, const char *attr, cairn_val *out)
{
    int rc;
    if (!attr || !*attr)
        return fail(b, CAIRN_EINVALID, "empty attribute name");
    if (attr[0] == ':')
        attr++;
    if ((rc = cairn_keyword(out, attr, strlen(attr))) < 0)
        return fail(b, rc, "bad attribute name");
    return 0;
}

/* Appends [op e a v?] with n elements (a and v optional). */
static int push_op(cairn_tx_builder *b, cairn_val op, cairn_val e, const char *attr, cairn_val v, int n)
{
    cairn_val vec, a = cairn_nil();
    int rc;
    if (b->rc)
        return b->rc;
    if (attr && (rc = attr_kw(b, attr, &a)) < 0)
        return rc;
    if ((rc = cairn_vector_new(&vec, (size_t)n)) < 0)
        return fail(b, rc, "out of memory");
    rc = cairn_coll_push(&vec, op);
    if (rc == 0)
        rc = cairn_coll_push(&vec, e);
    if (rc == 0 && n > 2)
        rc = cairn_coll_push(&vec, a);
    if (rc == 0 && n > 3)
        rc = cairn_coll_push(&vec, v);
    if (rc == 0)
        rc = cairn_coll_push_take(&b->data, vec);
    else
        cairn_release(vec);
    return rc < 0 ? fail(b, rc, "out of memory") : 0;
}

int cairn_tx_add(cairn_tx_builder *b, cairn_val e, const char *attr, cairn_val v)
{
    return push_op(b, KW(db_add), e, attr, v, 4);
}

int cairn_tx_add_int(cairn_tx_builder *b, cairn_val e, const char *attr, int64_t v)
{
    return cairn_tx_add(b, e, attr, cairn_int(v));
}

int cairn_tx_add_double(cairn_tx_builder *b, cairn_val e, const char *attr, double v)
{
    return cairn_tx_add(b, e, attr, cairn_double(v));
}

int cairn_tx_add_str(cairn_tx_builder *b, cairn_val e, const char *attr, const char *utf8)
{
    cairn_val s;
    int rc;
    if (b->rc)
        return b->rc;
    if ((rc = cairn_string(&s, utf8, strlen(utf8))) < 0)
        return fail(b, rc, rc == CAIRN_EINVALID ? "string is not valid UTF-8" : "out of memory");
    rc = cairn_tx_add(b, e, attr, s);
    cairn_release(s);
    return rc;
}

int cairn_tx_retract(cairn_tx_builder *b, cairn_val e, const char *attr, cairn_val v)
{
    if (cairn_type_of(v) == CAIRN_NIL)
        return push_op(b, KW(db_retract), e, attr, v, 3);
    return push_op(b, KW(db_retract), e, attr, v, 4);
}

int cairn_tx_retract_entity(cairn_tx_builder *b, cairn_val e)
{
    return push_op(b, KW(db_retractEntity), e, NULL, cairn_nil(), 2);
}

int cairn_tx_meta(cairn_tx_builder *b, const char *attr, cairn_val v)
{
    cairn_val a;
    int rc;
    if (b->rc)
        return b->rc;
    if ((rc = attr_kw(b, attr, &a)) < 0)
        return rc;
    if (cairn_type_of(b->meta) == CAIRN_NIL && (rc = cairn_map_new(&b->meta, 4)) < 0)
        return fail(b, rc, "out of memory");
    if ((rc = cairn_map_assoc(&b->meta, a, v)) < 0)
        return fail(b, rc, "out of memory");
    return 0;
}

cairn_val cairn_tx_builder_data_get(const cairn_tx_builder *b)
{
    return b->data;
}

int cairn_transact_builder(cairn_tx_report **out, cairn_conn *conn, const cairn_tx_builder *b, cairn_error *err)
{
    if (b->rc)
        return cairn_error_set(err, b->rc, ":transact/syntax", "transaction builder: %s", b->what);
    return cairn_transact(out, conn, b->data, b->meta, err);
}
