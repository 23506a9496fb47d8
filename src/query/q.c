/*
 * The public query API: cairn_q, cairn_q_edn, cairn_explain. A query runs
 * as: normalize the call (EDN string, map-form {:query :args :offset
 * :limit}), parse, bind the inputs in :in order (sources, rules, values),
 * resolve rule calls, plan with the inputs' sizes known, run, shape.
 *
 * Inputs follow Datahike 0.8: inputs beyond :in are ignored, and a value
 * binding without an input leaves its variables unbound (then a clause must
 * bind them). A missing source is an error.
 *
 * Each query owns an arena (AST, plans, statistics) and a value dictionary;
 * both are freed when the call returns, so nothing leaks on any path.
 */
#include "query/query.h"

#include <stdio.h>
#include <string.h>

#include "base/alloc.h"
#include "db/kw.h"

/* ---- setting up a query -------------------------------------------------------------- */

typedef struct qrun {
    cairn_arena arena;         /* everything small */
    qquery q;                  /* the parsed query */
    qx x;                      /* context */
    qrel init;                 /* the input relation */
    cairn_val form;            /* normalized query form (owned) */
    const cairn_input *inputs; /* effective inputs */
    size_t ninputs;            /* their count */
    cairn_input *extra;        /* map-form inputs (owned array) */
    cairn_query_opts opts;     /* effective options */
    int parsed;                /* q needs disposing */
} qrun;

static void run_dispose(qrun *r)
{
    if (r->parsed)
        cairn_query__dispose(&r->q);
    qrel_dispose(&r->init);
    cairn_query__regex_cache_free(&r->x);
    qdict_dispose(&r->x.dict);
    cairn_arena_dispose(&r->arena);
    cairn_release(r->form);
    cairn_free(r->extra);
}

static int get_kw(cairn_val map, const char *k, cairn_val *out)
{
    cairn_val key;
    int found;
    if (cairn_keyword(&key, k, strlen(k)) < 0)
        return 0;
    found = cairn_map_get(out, map, key);
    cairn_release(key);
    return found;
}

/* Query form, inputs and options after the map-form call and strings. */
static int normalize(qrun *r, cairn_val query, const cairn_input *inputs, size_t ninputs,
                     const cairn_query_opts *opts, cairn_error *err)
{
    cairn_val qv, args, v;
    int rc;
    r->form = cairn_retain(query);
    r->inputs = inputs;
    r->ninputs = ninputs;
    if (opts) {
        cairn_query_opts d = CAIRN_QUERY_OPTS_INIT;
        if (opts->version < 1 || opts->version > CAIRN_QUERY_OPTS_VERSION)
            return cairn_error_set(err, CAIRN_EINVALID, ":query/options", "unknown cairn_query_opts version");
        r->opts = d;
        /* version 1 callers have only the fields up to limit */
        r->opts.timeout_ms = opts->timeout_ms;
        r->opts.offset = opts->offset;
        r->opts.limit = opts->limit;
        if (opts->version >= 2) {
            r->opts.interrupt = opts->interrupt;
            r->opts.interrupt_ctx = opts->interrupt_ctx;
        }
    } else {
        cairn_query_opts d = CAIRN_QUERY_OPTS_INIT;
        r->opts = d;
    }
    if (cairn_type_of(query) == CAIRN_STRING) {
        size_t len;
        const char *t = cairn_str_get(query, &len);
        cairn_release(r->form);
        r->form = cairn_nil();
        if ((rc = cairn_edn_read(&r->form, t, len, NULL, err)) < 0) {
            if (err)
                snprintf(err->keyword, sizeof err->keyword, ":parser/query");
            return rc;
        }
    }
    if (cairn_type_of(r->form) == CAIRN_MAP && get_kw(r->form, "query", &qv)) {
        if (get_kw(r->form, "offset", &v) && cairn_type_of(v) == CAIRN_INT && cairn_int_value(v) > 0)
            r->opts.offset = (size_t)cairn_int_value(v);
        if (get_kw(r->form, "limit", &v) && cairn_type_of(v) == CAIRN_INT) {
            if (cairn_int_value(v) == 0)
                r->opts.limit = 0, r->opts.offset = SIZE_MAX;  /* :limit 0 gives nothing */
            else if (cairn_int_value(v) > 0)
                r->opts.limit = (size_t)cairn_int_value(v);
        }
        if (get_kw(r->form, "args", &args) && cairn_val_is_coll(args) && cairn_count(args) > 0) {
            size_t n = cairn_count(args);
            r->extra = cairn_malloc((ninputs + n) * sizeof *r->extra);
            if (!r->extra)
                return cairn_error_oom(err);
            for (size_t i = 0; i < ninputs; i++)
                r->extra[i] = inputs[i];
            for (size_t i = 0; i < n; i++)
                r->extra[ninputs + i] = cairn_input_val(cairn_coll_get(args, i));
            r->inputs = r->extra;
            r->ninputs = ninputs + n;
        }
        if (cairn_type_of(qv) == CAIRN_STRING) {
            size_t len;
            const char *t = cairn_str_get(qv, &len);
            cairn_val parsed;
            if ((rc = cairn_edn_read(&parsed, t, len, NULL, err)) < 0) {
                if (err)
                    snprintf(err->keyword, sizeof err->keyword, ":parser/query");
                return rc;
            }
            /* keep the map alive (args borrow from it) */
            {
                cairn_val pair;
                if (cairn_vector_new(&pair, 2) < 0 || cairn_coll_push(&pair, r->form) < 0 ||
                    cairn_coll_push_take(&pair, parsed) < 0)
                    return cairn_error_oom(err);
                cairn_release(r->form);
                r->form = pair;
                return 1;  /* the query is element 1 of the pair */
            }
        }
        {
            cairn_val pair;
            if (cairn_vector_new(&pair, 2) < 0 || cairn_coll_push(&pair, r->form) < 0 || cairn_coll_push(&pair, qv) < 0)
                return cairn_error_oom(err);
            cairn_release(r->form);
            r->form = pair;
            return 1;
        }
    }
    return 0;
}

static int bind_inputs(qrun *r)
{
    qx *x = &r->x;
    qquery *q = &r->q;
    int rc;
    if ((rc = qrel_unit(&r->init)) < 0)
        return qx_oom(x);
    for (int i = 0; i < q->nin; i++) {
        const qin *in = &q->in[i];
        int have = (size_t)i < r->ninputs;
        const cairn_input *inp = have ? &r->inputs[i] : NULL;
        switch (in->kind) {
        case QI_SRC: {
            qsource *s = &x->srcs[in->src];
            if (!have)
                return cairn_error_set(x->err, CAIRN_EINVALID, ":query/inputs",
                                       "Too few inputs: no value for source %s", q->srcs[in->src]->text);
            s->present = 1;
            s->db = inp->db;
            s->coll = inp->db ? cairn_nil() : inp->val;
            s->datoms = -1;
            if (!inp->db && !cairn_val_is_coll(inp->val) && cairn_type_of(inp->val) != CAIRN_NIL)
                return cairn_error_set(x->err, CAIRN_EINVALID, ":query/inputs",
                                       "Source %s should be a database or a collection", q->srcs[in->src]->text);
            break;
        }
        case QI_RULES:
            if (!have)
                break;
            if ((rc = cairn_query__parse_rules(q, &r->arena, inp->db ? cairn_nil() : inp->val, x->err)) < 0)
                return rc;
            break;
        default: {
            qrel rel = QREL_INIT, joined = QREL_INIT;
            qvset keep;
            if (!have)
                break;  /* Datahike 0.8: the variables stay unbound */
            if (inp->db)
                return cairn_error_set(x->err, CAIRN_EINVALID, ":query/binding",
                                       "Cannot bind a database to a variable binding");
            if ((rc = cairn_query__bind_input(x, &in->bind, inp->val, &rel)) < 0) {
                qrel_dispose(&rel);
                return rc;
            }
            qv_clear(&keep);
            for (int c = 0; c < r->init.ncols; c++)
                qv_add(&keep, r->init.vars[c]);
            for (int c = 0; c < rel.ncols; c++)
                qv_add(&keep, rel.vars[c]);
            rc = cairn_query__join(x, &r->init, &rel, &keep, &joined);
            qrel_dispose(&rel);
            if (rc < 0) {
                qrel_dispose(&joined);
                return rc;
            }
            qrel_dispose(&r->init);
            qrel_move(&r->init, &joined);
            break;
        }
        }
    }
    return 0;
}

static void result_vars(const qquery *q, qvset *out)
{
    qv_clear(out);
    for (int i = 0; i < q->nfind; i++) {
        const qelem *e = &q->find[i];
        qv_add(out, e->var);
        if (e->aggfn >= 0)
            qv_add(out, e->aggfn);
        if (e->param.kind == QT_VAR)
            qv_add(out, e->param.id);
        if (e->pattern_var >= 0)
            qv_add(out, e->pattern_var);
    }
    for (int i = 0; i < q->nwith; i++)
        qv_add(out, q->with[i]);
}

/* Everything up to a plan: parse, inputs, resolution. */
static int prepare_query(qrun *r, cairn_val query, const cairn_input *inputs, size_t ninputs,
                         const cairn_query_opts *opts, cairn_error *err)
{
    qx *x = &r->x;
    cairn_val form;
    int rc;
    memset(r, 0, sizeof *r);
    r->form = cairn_nil();
    qdict_init(&x->dict);
    x->err = err;
    x->arena = &r->arena;
    x->q = &r->q;
    for (int i = 0; i < 64; i++)
        x->attr_ids[i] = -1;
    {
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        x->rand_state = (uint64_t)now.tv_nsec * 2654435761u + (uint64_t)now.tv_sec;
    }
    if ((rc = normalize(r, query, inputs, ninputs, opts, err)) < 0)
        return rc;
    form = rc == 1 ? cairn_coll_get(r->form, 1) : r->form;
    if (r->opts.timeout_ms > 0) {
        clock_gettime(CLOCK_MONOTONIC, &x->deadline);
        x->deadline.tv_sec += (time_t)(r->opts.timeout_ms / 1000);
        x->deadline.tv_nsec += (long)(r->opts.timeout_ms % 1000) * 1000000L;
        if (x->deadline.tv_nsec >= 1000000000L) {
            x->deadline.tv_sec++;
            x->deadline.tv_nsec -= 1000000000L;
        }
        x->has_deadline = 1;
    }
    x->interrupt = r->opts.interrupt;
    x->interrupt_ctx = r->opts.interrupt_ctx;
    x->watched = x->has_deadline || x->interrupt;
    rc = cairn_query__parse(&r->q, &r->arena, form, err);
    r->parsed = 1;
    if (rc < 0)
        return rc;
    x->nsrc = r->q.nsrc;
    x->srcs = cairn_arena_calloc(&r->arena, (size_t)(r->q.nsrc ? r->q.nsrc : 1), sizeof *x->srcs);
    if (!x->srcs)
        return qx_oom(x);
    for (int i = 0; i < r->q.nsrc; i++)
        x->srcs[i].datoms = -1;
    if ((rc = bind_inputs(r)) < 0)
        return rc;
    return cairn_query__resolve(&r->q, &r->arena, err);
}

/* Everything up to a plan, and the plan. */
static int prepare(qrun *r, cairn_val query, const cairn_input *inputs, size_t ninputs,
                   const cairn_query_opts *opts, cairn_error *err, qplan **plan)
{
    qvset in, outv;
    int rc;
    if ((rc = prepare_query(r, query, inputs, ninputs, opts, err)) < 0)
        return rc;
    qv_clear(&in);
    for (int i = 0; i < r->init.ncols; i++)
        qv_add(&in, r->init.vars[i]);
    result_vars(&r->q, &outv);
    return cairn_query__plan(plan, &r->x, &r->q.where, 0, &in, (double)(r->init.nrows ? r->init.nrows : 1), &outv,
                             r->q.nvars, r->q.names);
}

int cairn_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs, const cairn_query_opts *opts,
            cairn_error *err)
{
    qrun r;
    qplan *plan;
    qrel res = QREL_INIT;
    int rc;
    if ((rc = prepare(&r, query, inputs, ninputs, opts, err, &plan)) < 0)
        goto done;
    if ((rc = cairn_query__run(&r.x, plan, &r.init, &res)) < 0)
        goto done;
    rc = cairn_query__result(&r.x, &res, &r.opts, out);
done:
    qrel_dispose(&res);
    run_dispose(&r);
    if (rc == CAIRN_ENOMEM)
        cairn_error_oom(err);
    return rc;
}

int cairn_query__ref_q(cairn_val *out, cairn_val query, const cairn_input *inputs, size_t ninputs,
                       cairn_error *err)
{
    qrun r;
    qrel res = QREL_INIT;
    qvset outv;
    int vars[QMAX_VARS], nv = 0, rc;
    if ((rc = prepare_query(&r, query, inputs, ninputs, NULL, err)) < 0)
        goto done;
    result_vars(&r.q, &outv);
    for (int v = qv_next(&outv, 0); v >= 0; v = qv_next(&outv, v + 1))
        vars[nv++] = v;
    if ((rc = cairn_query__ref_eval(&r.x, &r.q, &r.init, &res, vars, nv)) < 0)
        goto done;
    rc = cairn_query__result(&r.x, &res, &r.opts, out);
done:
    qrel_dispose(&res);
    run_dispose(&r);
    return rc;
}

int cairn_q_edn(cairn_val *out, const char *query, size_t len, const cairn_input *inputs, size_t ninputs,
                const cairn_query_opts *opts, cairn_error *err)
{
    cairn_val form;
    int rc = cairn_edn_read(&form, query, len, NULL, err);
    if (rc < 0) {
        if (err)
            snprintf(err->keyword, sizeof err->keyword, ":parser/query");
        return rc;
    }
    rc = cairn_q(out, form, inputs, ninputs, opts, err);
    cairn_release(form);
    return rc;
}

int cairn_explain(char **out, cairn_val query, const cairn_input *inputs, size_t ninputs, cairn_error *err)
{
    qrun r;
    qplan *plan;
    cairn_buf b = CAIRN_BUF_INIT;
    int rc;
    if ((rc = prepare(&r, query, inputs, ninputs, NULL, err, &plan)) < 0)
        goto done;
    cairn_buf_printf(&b, "query plan (input: %zu rows)\n", r.init.nrows);
    cairn_query__plan_print(&b, &r.x, plan, 1);
    if ((rc = cairn_query__explain_rules(&r.x, plan, &b)) < 0)
        goto done;
    if (b.oom) {
        rc = cairn_error_oom(err);
        goto done;
    }
    *out = cairn_buf_detach(&b, NULL);
    if (!*out)
        rc = cairn_error_oom(err);
done:
    cairn_buf_dispose(&b);
    run_dispose(&r);
    return rc;
}
