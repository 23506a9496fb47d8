/*
 * The conformance runner: runs corpus cases whose answers came from the real
 * Datahike and DataScript (../shared/conformance/README.md has the format)
 * through cairn's public API, and compares.
 *
 *   conformance [-v] [-k KNOWN_FAILURES] [-o ID] DIR|FILE...
 *
 * Prints per file "<file>: P passed, F failed, K known" and a closing
 * "N passed, N failed" line; exits 1 on any unexpected result. A case listed
 * in KNOWN_FAILURES (lines "<case-id> <reason>") that fails counts as known;
 * one that passes is an error too ("remove it from the list"), so the list
 * stays true. -o runs one case by id; -v prints every failure in full.
 *
 * What a case must answer (README "What cairn must answer"): :consensus where
 * present (Datahike 0.8 is wrong there), an error where :consensus-error is
 * present, :expect otherwise. Cases whose answer matched only 0.8's own
 * (wrong) answer are counted separately as drift.
 */
#include <dirent.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cairn.h"

static int verbose;
static const char *only;
static char **known_ids;
static size_t nknown;
static long total_pass, total_fail, total_known, total_drift, kw_match, kw_total;

/* ---- small helpers ------------------------------------------------------- */

static cairn_val kw(const char *s)
{
    cairn_val v;
    if (cairn_keyword(&v, s, strlen(s)) != 0) {
        fprintf(stderr, "out of memory\n");
        exit(2);
    }
    return v;
}

/* 1 when v is the keyword with this text. */
static int cairn_val_is_kw(cairn_val v, const char *text)
{
    size_t n;
    const char *t = cairn_type_of(v) == CAIRN_KEYWORD ? cairn_ident_get(v, &n) : NULL;
    return t && n == strlen(text) && !memcmp(t, text, n);
}

static cairn_val get(cairn_val map, const char *key)
{
    cairn_val v;
    if (cairn_map_get(&v, map, kw(key)))
        return v;
    return cairn_nil();
}

static char *show(cairn_val v)
{
    char *s;
    size_t n;
    if (cairn_edn_print(&s, &n, v) != 0)
        return NULL;
    return s;
}

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (!f)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t)n + 1);
    if (buf && fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        buf = NULL;
    }
    fclose(f);
    if (buf) {
        buf[n] = 0;
        *len = (size_t)n;
    }
    return buf;
}

static int is_known(const char *id)
{
    for (size_t i = 0; i < nknown; i++)
        if (!strcmp(known_ids[i], id))
            return 1;
    return 0;
}

static void load_known(const char *path)
{
    size_t len;
    char *text = read_file(path, &len), *line, *save = NULL;
    if (!text) {
        fprintf(stderr, "conformance: cannot read %s\n", path);
        exit(2);
    }
    for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        char id[256];
        if (line[0] == '#' || sscanf(line, "%255s", id) != 1)
            continue;
        known_ids = realloc(known_ids, (nknown + 1) * sizeof *known_ids);
        known_ids[nknown++] = strdup(id);
    }
    free(text);
}

/* ---- comparison ------------------------------------------------------------ */

static int approx_equal(cairn_val a, cairn_val b);

static int approx_double(double x, double y)
{
    if (x == y || (isnan(x) && isnan(y)))
        return 1;
    return fabs(x - y) <= 1e-9 * fmax(fabs(x), fabs(y));
}

/* Unordered containment with approximate elements: every element of a has
 * a distinct partner in b (a and b have equal counts). */
static int approx_unordered(cairn_val a, cairn_val b, int map)
{
    size_t n = cairn_count(a);
    char *used;
    int ok = 1;
    if (n != cairn_count(b))
        return 0;
    used = calloc(n ? n : 1, 1);
    for (size_t i = 0; i < n && ok; i++) {
        int found = 0;
        for (size_t j = 0; j < n && !found; j++) {
            if (used[j])
                continue;
            if (map ? approx_equal(cairn_map_key_get(a, i), cairn_map_key_get(b, j)) &&
                          approx_equal(cairn_map_val_get(a, i), cairn_map_val_get(b, j))
                    : approx_equal(cairn_coll_get(a, i), cairn_coll_get(b, j)))
                found = 1, used[j] = 1;
        }
        ok = found;
    }
    free(used);
    return ok;
}

static int approx_equal(cairn_val a, cairn_val b)
{
    cairn_type ta = cairn_type_of(a), tb = cairn_type_of(b);
    if (cairn_equal(a, b))
        return 1;
    if (ta == CAIRN_DOUBLE && tb == CAIRN_DOUBLE)
        return approx_double(cairn_double_value(a), cairn_double_value(b));
    if ((ta == CAIRN_VECTOR || ta == CAIRN_LIST) && (tb == CAIRN_VECTOR || tb == CAIRN_LIST)) {
        if (cairn_count(a) != cairn_count(b))
            return 0;
        for (size_t i = 0; i < cairn_count(a); i++)
            if (!approx_equal(cairn_coll_get(a, i), cairn_coll_get(b, i)))
                return 0;
        return 1;
    }
    if (ta == CAIRN_SET && tb == CAIRN_SET)
        return approx_unordered(a, b, 0);
    if (ta == CAIRN_MAP && tb == CAIRN_MAP)
        return approx_unordered(a, b, 1);
    return 0;
}

/* Elements of a collection as a vector (a scalar becomes [x]). */
static cairn_val as_vector(cairn_val v)
{
    cairn_val out;
    cairn_vector_new(&out, cairn_count(v));
    if (cairn_type_of(v) == CAIRN_VECTOR || cairn_type_of(v) == CAIRN_LIST || cairn_type_of(v) == CAIRN_SET) {
        for (size_t i = 0; i < cairn_count(v); i++)
            cairn_coll_push(&out, cairn_coll_get(v, i));
    } else if (cairn_type_of(v) != CAIRN_NIL) {
        cairn_coll_push(&out, v);
    }
    return out;
}

static int compare_set(cairn_val expect, cairn_val actual)
{
    cairn_val e = as_vector(expect), a = as_vector(actual), es, as;
    int ok;
    cairn_set_new(&es, cairn_count(e));
    cairn_set_new(&as, cairn_count(a));
    for (size_t i = 0; i < cairn_count(e); i++)
        cairn_coll_push(&es, cairn_coll_get(e, i));
    for (size_t i = 0; i < cairn_count(a); i++)
        cairn_coll_push(&as, cairn_coll_get(a, i));
    ok = cairn_equal(es, as) || approx_unordered(es, as, 0);
    cairn_release(e);
    cairn_release(a);
    cairn_release(es);
    cairn_release(as);
    return ok;
}

static int compare_bag(cairn_val expect, cairn_val actual)
{
    cairn_val e = as_vector(expect), a = as_vector(actual);
    int ok = approx_unordered(e, a, 0);
    cairn_release(e);
    cairn_release(a);
    return ok;
}

/* Datoms: stable sort by attribute name, then exact (README). */
static int datom_attr_cmp(const void *x, const void *y)
{
    const cairn_val *a = x, *b = y;
    cairn_val aa = cairn_coll_get(*a, 1), ba = cairn_coll_get(*b, 1);
    size_t la, lb;
    const char *sa = cairn_ident_get(aa, &la), *sb = cairn_ident_get(ba, &lb);
    int c;
    if (!sa || !sb)
        return 0;
    c = strcmp(sa, sb);
    return c;
}

static cairn_val sort_datoms(cairn_val v)
{
    size_t n = cairn_count(v);
    cairn_val *items = malloc((n ? n : 1) * sizeof *items), out;
    struct { cairn_val v; size_t i; } *tagged = malloc((n ? n : 1) * sizeof *tagged);
    for (size_t i = 0; i < n; i++)
        items[i] = cairn_coll_get(v, i);
    /* stable: insertion sort (datom lists here are small) */
    for (size_t i = 1; i < n; i++) {
        cairn_val x = items[i];
        size_t j = i;
        while (j > 0 && datom_attr_cmp(&items[j - 1], &x) > 0) {
            items[j] = items[j - 1];
            j--;
        }
        items[j] = x;
    }
    cairn_vector_new(&out, n);
    for (size_t i = 0; i < n; i++)
        cairn_coll_push(&out, items[i]);
    free(items);
    free(tagged);
    return out;
}

static int compare(cairn_val mode, cairn_val expect, cairn_val actual, int datoms)
{
    if (cairn_val_is_kw(mode, "set"))
        return compare_set(expect, actual);
    if (cairn_val_is_kw(mode, "bag"))
        return compare_bag(expect, actual);
    if (datoms) {
        cairn_val e = sort_datoms(expect), a = sort_datoms(actual);
        int ok = approx_equal(e, a);
        cairn_release(e);
        cairn_release(a);
        return ok;
    }
    return approx_equal(expect, actual);
}

/* ---- building databases -------------------------------------------------------- */

struct built {
    cairn_conn *conn;      /* connection */
    cairn_db *db;          /* current value after the setup */
    int64_t *txs;          /* tx id of each element of :tx (1-based index - 1) */
    size_t ntx;            /* elements */
    cairn_val config;      /* the config used */
};

static int case_counter;

static void built_free(struct built *b)
{
    cairn_db_release(b->db);
    cairn_conn_release(b->conn);
    if (cairn_type_of(b->config) != CAIRN_NIL)
        cairn_delete_database(b->config, NULL);
    cairn_release(b->config);
    free(b->txs);
    memset(b, 0, sizeof *b);
}

/* Transacts one :tx element; returns 0 or the error. report may be NULL. */
static int transact_elem(cairn_conn *conn, cairn_val el, cairn_tx_report **report, cairn_error *err)
{
    cairn_val data = el, meta = cairn_nil();
    if (cairn_type_of(el) == CAIRN_MAP) {
        data = get(el, "tx-data");
        meta = get(el, "tx-meta");
    }
    return cairn_transact(report, conn, data, meta, err);
}

/* Creates a db from config and all txs but the last `hold` ones. */
static int build(struct built *b, cairn_val config, cairn_val txs, size_t hold, cairn_error *err)
{
    cairn_val cfg = cairn_retain(config), store, idv;
    char id[64];
    int rc;
    memset(b, 0, sizeof *b);
    b->config = cairn_nil();
    snprintf(id, sizeof id, "conformance-%d", case_counter++);
    cairn_map_new(&store, 2);
    cairn_map_put(&store, kw("backend"), kw("mem"));
    cairn_string(&idv, id, strlen(id));
    cairn_map_put_take(&store, kw("id"), idv);
    cairn_map_assoc(&cfg, kw("store"), store);
    cairn_release(store);
    b->config = cfg;
    if ((rc = cairn_create_database(cfg, err)) < 0 || (rc = cairn_connect(&b->conn, cfg, err)) < 0)
        return rc;
    b->ntx = cairn_count(txs);
    b->txs = calloc(b->ntx + 1, sizeof *b->txs);
    for (size_t i = 0; i + hold < b->ntx; i++) {
        cairn_tx_report *r;
        if ((rc = transact_elem(b->conn, cairn_coll_get(txs, i), &r, err)) < 0)
            return rc;
        b->txs[i] = cairn_db_max_tx(cairn_tx_report_db_after(r));
        cairn_tx_report_free(r);
    }
    return cairn_conn_db(&b->db, b->conn, err);
}

/* The view a case's :db names ([:as-of i] uses the i-th tx). */
static int view_of(cairn_db **out, struct built *b, cairn_val view, cairn_error *err)
{
    if (cairn_type_of(view) == CAIRN_NIL || cairn_val_is_kw(view, "current")) {
        *out = cairn_db_retain(b->db);
        return 0;
    }
    if (cairn_val_is_kw(view, "history"))
        return cairn_db_history(out, b->db, err);
    if (cairn_type_of(view) == CAIRN_VECTOR && cairn_count(view) == 2) {
        int64_t i = cairn_int_value(cairn_coll_get(view, 1));
        cairn_val tp = cairn_int(i >= 1 && (size_t)i <= b->ntx ? b->txs[i - 1] : 0);
        if (cairn_val_is_kw(cairn_coll_get(view, 0), "as-of"))
            return cairn_db_as_of(out, b->db, tp, err);
        if (cairn_val_is_kw(cairn_coll_get(view, 0), "since"))
            return cairn_db_since(out, b->db, tp, err);
    }
    fprintf(stderr, "conformance: unknown :db view\n");
    return CAIRN_EINVALID;
}

/* ---- running a case ----------------------------------------------------------------- */

struct outcome {
    int failed_op;          /* the operation failed */
    cairn_error err;        /* its error */
    cairn_val result;       /* its result (owned) */
};

static int is_placeholder(cairn_val v, const char *tag)
{
    return cairn_type_of(v) == CAIRN_VECTOR && cairn_count(v) == 2 && cairn_val_is_kw(cairn_coll_get(v, 0), tag);
}

static void run_query_like(struct outcome *o, cairn_val c, struct built *b, struct built *b2, cairn_db *db)
{
    cairn_val op = get(c, "op"), args = get(c, "args"), qv = get(c, "query"), errop = get(c, "errop");
    cairn_val parsed = cairn_nil();
    cairn_db *extra[16];
    size_t nextra = 0;
    int rc = 0;
    if (cairn_type_of(qv) == CAIRN_STRING) {
        size_t n;
        const char *t = cairn_str_get(qv, &n);
        if ((rc = cairn_edn_read(&parsed, t, n, NULL, &o->err)) < 0) {
            o->failed_op = 1;
            return;
        }
    }
    if (cairn_val_is_kw(op, "q") || (cairn_val_is_kw(op, "error") && cairn_type_of(errop) == CAIRN_NIL)) {
        size_t n = cairn_count(args);
        cairn_input *in = calloc(n + 1, sizeof *in);
        in[0] = cairn_input_db(db);
        for (size_t i = 0; i < n && rc == 0; i++) {
            cairn_val a = cairn_coll_get(args, i);
            if (is_placeholder(a, "cairn/db") || is_placeholder(a, "cairn/db2")) {
                struct built *src = is_placeholder(a, "cairn/db") ? b : b2;
                if (!src || !src->db || nextra == 16) {
                    rc = CAIRN_EINVALID;
                    break;
                }
                rc = view_of(&extra[nextra], src, cairn_coll_get(a, 1), &o->err);
                if (rc == 0)
                    in[i + 1] = cairn_input_db(extra[nextra++]);
            } else if (is_placeholder(a, "cairn/tx")) {
                int64_t k = cairn_int_value(cairn_coll_get(a, 1));
                in[i + 1] = cairn_input_val(cairn_int(k >= 1 && (size_t)k <= b->ntx ? b->txs[k - 1] : 0));
            } else {
                in[i + 1] = cairn_input_val(a);
            }
        }
        if (rc == 0)
            rc = cairn_q(&o->result, parsed, in, n + 1, NULL, &o->err);
        free(in);
    } else if (cairn_val_is_kw(op, "pull") || cairn_val_is_kw(errop, "pull")) {
        rc = cairn_pull(&o->result, db, parsed, cairn_coll_get(args, 0), &o->err);
    } else if (cairn_val_is_kw(op, "pull-many")) {
        rc = cairn_pull_many(&o->result, db, parsed, cairn_coll_get(args, 0), &o->err);
    } else if (cairn_val_is_kw(op, "entity")) {
        cairn_entity *e;
        rc = cairn_entity_get(&e, db, cairn_coll_get(args, 0), &o->err);
        if (rc == 0 && e) {
            rc = cairn_entity_touch(&o->result, e, &o->err);
            cairn_entity_free(e);
        } else if (rc == 0) {
            o->result = cairn_nil();
        }
    } else if (cairn_val_is_kw(op, "datoms")) {
        cairn_val ix = cairn_coll_get(args, 0), comps;
        cairn_index index = cairn_val_is_kw(ix, "aevt") ? CAIRN_INDEX_AEVT
                            : cairn_val_is_kw(ix, "avet") ? CAIRN_INDEX_AVET : CAIRN_INDEX_EAVT;
        cairn_datoms *it;
        cairn_vector_new(&comps, 4);
        for (size_t i = 1; i < cairn_count(args); i++)
            cairn_coll_push(&comps, cairn_coll_get(args, i));
        rc = cairn_datoms_open(&it, db, index, comps, &o->err);
        cairn_release(comps);
        if (rc == 0) {
            cairn_datom d;
            cairn_vector_new(&o->result, 16);
            while ((rc = cairn_datoms_next(it, &d)) == 0) {
                cairn_val dv;
                cairn_vector_new(&dv, 5);
                cairn_coll_push(&dv, cairn_int(d.e));
                cairn_coll_push(&dv, d.a);
                cairn_coll_push(&dv, d.v);
                cairn_coll_push(&dv, cairn_int(d.tx));
                cairn_coll_push(&dv, cairn_bool(d.added));
                cairn_coll_push_take(&o->result, dv);
            }
            if (rc == CAIRN_ENOTFOUND)
                rc = 0;
            cairn_datoms_close(it);
        }
    } else if (cairn_val_is_kw(op, "schema")) {
        rc = cairn_db_schema(&o->result, db, &o->err);
    } else {
        rc = CAIRN_EUNSUPPORTED;
        snprintf(o->err.message, sizeof o->err.message, "unknown op");
    }
    for (size_t i = 0; i < nextra; i++)
        cairn_db_release(extra[i]);
    cairn_release(parsed);
    if (rc < 0)
        o->failed_op = 1;
}

/* {:tempids {...} :tx-data [...]} of a report, as the corpus writes it. */
static cairn_val report_shape(cairn_tx_report *r)
{
    cairn_val m, tempids, data, src_t = cairn_tx_report_tempids_get(r), src_d = cairn_tx_report_tx_data_get(r);
    cairn_map_new(&m, 2);
    cairn_map_new(&tempids, cairn_count(src_t));
    for (size_t i = 0; i < cairn_count(src_t); i++)
        if (!cairn_val_is_kw(cairn_map_key_get(src_t, i), "db/current-tx"))
            cairn_map_put(&tempids, cairn_map_key_get(src_t, i), cairn_map_val_get(src_t, i));
    cairn_vector_new(&data, cairn_count(src_d));
    for (size_t i = 0; i < cairn_count(src_d); i++) {
        cairn_val d = cairn_coll_get(src_d, i);
        if (!cairn_val_is_kw(cairn_coll_get(d, 1), "db/txInstant"))
            cairn_coll_push(&data, d);
    }
    cairn_map_put_take(&m, kw("tempids"), tempids);
    cairn_map_put_take(&m, kw("tx-data"), data);
    return m;
}

static int compare_report(cairn_val expect, cairn_val actual)
{
    return cairn_equal(get(expect, "tempids"), get(actual, "tempids")) &&
           compare_set(get(expect, "tx-data"), get(actual, "tx-data"));
}

/* Runs one case; returns 1 pass, 0 fail. why gets the failure reason. */
static int run_case(cairn_val c, char *why, size_t whylen, int *drift)
{
    cairn_val op = get(c, "op"), txs = get(c, "tx"), mode = get(c, "compare");
    cairn_val expect = get(c, "expect"), consensus, consensus_err = get(c, "consensus-error");
    int has_consensus = cairn_map_get(&consensus, c, kw("consensus"));
    /* :consensus wins over :compare :error (README: "What cairn must answer") */
    int want_error = (cairn_val_is_kw(mode, "error") && !has_consensus) || cairn_type_of(consensus_err) != CAIRN_NIL;
    int is_tx_error = want_error && cairn_type_of(get(c, "query")) == CAIRN_NIL;
    struct built b, b2;
    struct outcome o;
    cairn_db *db = NULL;
    int ok = 0, rc;
    memset(&o, 0, sizeof o);
    o.result = cairn_nil();
    memset(&b2, 0, sizeof b2);
    *drift = 0;
    if (has_consensus)
        mode = get(c, "consensus-compare");

    if (cairn_val_is_kw(op, "tx-report") || is_tx_error) {
        cairn_tx_report *r = NULL;
        if ((rc = build(&b, get(c, "config"), txs, 1, &o.err)) < 0) {
            snprintf(why, whylen, "setup failed: %s %s", o.err.keyword, o.err.message);
            goto done;
        }
        rc = transact_elem(b.conn, cairn_coll_get(txs, cairn_count(txs) - 1), &r, &o.err);
        if (want_error) {
            ok = rc < 0;
            if (!ok) {
                char *s = show(cairn_tx_report_tx_data_get(r));
                snprintf(why, whylen, "expected an error, transaction succeeded: %s", s ? s : "?");
                cairn_free(s);
            } else {
                cairn_val ekw = get(c, "error");
                kw_total++;
                if (cairn_type_of(ekw) == CAIRN_KEYWORD && o.err.keyword[0] &&
                    !strcmp(o.err.keyword + 1, cairn_ident_get(ekw, NULL)))
                    kw_match++;
            }
        } else if (rc < 0) {
            snprintf(why, whylen, "transaction failed: %s %s", o.err.keyword, o.err.message);
        } else {
            cairn_val shape = report_shape(r);
            ok = compare_report(has_consensus ? consensus : expect, shape);
            if (!ok) {
                char *s = show(shape), *e = show(has_consensus ? consensus : expect);
                snprintf(why, whylen, "got %s\n      want %s", s ? s : "?", e ? e : "?");
                cairn_free(s);
                cairn_free(e);
            }
            cairn_release(shape);
        }
        cairn_tx_report_free(r);
        built_free(&b);
        goto done;
    }

    if ((rc = build(&b, get(c, "config"), txs, 0, &o.err)) < 0) {
        snprintf(why, whylen, "setup failed: %s %s", o.err.keyword, o.err.message);
        built_free(&b);
        goto done;
    }
    if (cairn_type_of(get(c, "tx2")) != CAIRN_NIL &&
        (rc = build(&b2, get(c, "config"), get(c, "tx2"), 0, &o.err)) < 0) {
        snprintf(why, whylen, "setup of :tx2 failed: %s %s", o.err.keyword, o.err.message);
        built_free(&b);
        built_free(&b2);
        goto done;
    }
    if ((rc = view_of(&db, &b, get(c, "db"), &o.err)) < 0) {
        snprintf(why, whylen, "view failed: %s %s", o.err.keyword, o.err.message);
    } else {
        run_query_like(&o, c, &b, b2.conn ? &b2 : NULL, db);
        if (want_error) {
            ok = o.failed_op;
            if (!ok) {
                char *s = show(o.result);
                snprintf(why, whylen, "expected an error, got %s", s ? s : "?");
                cairn_free(s);
            }
        } else if (o.failed_op) {
            snprintf(why, whylen, "failed: %s %s", o.err.keyword, o.err.message);
        } else {
            int datoms = cairn_val_is_kw(op, "datoms");
            ok = compare(mode, has_consensus ? consensus : expect, o.result, datoms);
            if (!ok) {
                char *s = show(o.result), *e = show(has_consensus ? consensus : expect);
                snprintf(why, whylen, "got %s\n      want %s", s ? s : "?", e ? e : "?");
                cairn_free(s);
                cairn_free(e);
                if (has_consensus && compare(get(c, "compare"), expect, o.result, datoms))
                    *drift = 1;
            }
        }
    }
    cairn_db_release(db);
    built_free(&b);
    built_free(&b2);
done:
    cairn_release(o.result);
    return ok;
}

static void run_file(const char *path)
{
    size_t len;
    char *text = read_file(path, &len);
    cairn_val cases;
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_read_limits lim = CAIRN_READ_LIMITS_INIT;
    long pass = 0, fail = 0, known = 0;
    const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
    if (!text) {
        printf("%s: cannot read\n", path);
        total_fail++;
        return;
    }
    lim.max_elements = (size_t)1 << 30;
    if (cairn_edn_read(&cases, text, len, &lim, &err) != 0) {
        printf("%s: cannot parse: %s (line %d)\n", path, err.message, err.line);
        total_fail++;
        free(text);
        return;
    }
    free(text);
    for (size_t i = 0; i < cairn_count(cases); i++) {
        cairn_val c = cairn_coll_get(cases, i);
        const char *id = cairn_str_get(get(c, "id"), NULL);
        char why[2048] = "";
        int drift, ok, k;
        if (!id || (only && strcmp(only, id)))
            continue;
        ok = run_case(c, why, sizeof why, &drift);
        k = is_known(id);
        total_drift += drift;
        if (ok && !k) {
            pass++;
        } else if (!ok && k) {
            known++;
            if (verbose)
                printf("  known %s: %s\n", id, why);
        } else if (ok && k) {
            fail++;
            printf("  FIXED %s passes now: remove it from the known failures\n", id);
        } else {
            fail++;
            printf("  FAIL %s: %s\n", id, verbose ? why : (strlen(why) > 300 ? (why[300] = 0, why) : why));
        }
    }
    cairn_release(cases);
    printf("%s: %ld passed, %ld failed, %ld known\n", base, pass, fail, known);
    total_pass += pass;
    total_fail += fail;
    total_known += known;
}

static int name_cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void run_path(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0) {
        printf("%s: not found\n", path);
        total_fail++;
        return;
    }
    if (S_ISDIR(st.st_mode)) {
        DIR *d = opendir(path);
        struct dirent *e;
        char **names = NULL;
        size_t n = 0;
        while (d && (e = readdir(d)) != NULL) {
            size_t l = strlen(e->d_name);
            if (l > 4 && !strcmp(e->d_name + l - 4, ".edn")) {
                names = realloc(names, (n + 1) * sizeof *names);
                names[n] = malloc(strlen(path) + l + 2);
                sprintf(names[n], "%s/%s", path, e->d_name);
                n++;
            }
        }
        if (d)
            closedir(d);
        qsort(names, n, sizeof *names, name_cmp);
        for (size_t i = 0; i < n; i++) {
            run_file(names[i]);
            free(names[i]);
        }
        free(names);
        if (n == 0) {
            printf("%s: no .edn corpus files\n", path);
            total_fail++;
        }
    } else {
        run_file(path);
    }
}

int main(int argc, char **argv)
{
    int i;
    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-v"))
            verbose = 1;
        else if (!strcmp(argv[i], "-k") && i + 1 < argc)
            load_known(argv[++i]);
        else if (!strcmp(argv[i], "-o") && i + 1 < argc)
            only = argv[++i];
        else
            break;
    }
    if (i >= argc) {
        fprintf(stderr, "usage: conformance [-v] [-k KNOWN] [-o CASE-ID] DIR|FILE...\n");
        return 2;
    }
    for (; i < argc; i++)
        run_path(argv[i]);
    printf("error keywords matched on %ld of %ld error cases; %ld case(s) matched only Datahike 0.8's own answer\n",
           kw_match, kw_total, total_drift);
    printf("%ld known failures\n", total_known);
    printf("%ld passed, %ld failed\n", total_pass, total_fail);
    return total_fail ? 1 : 0;
}
