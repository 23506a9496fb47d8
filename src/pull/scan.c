/*
 * The datom reads of pull and the entity API: the datoms of one entity
 * (EAVT prefix u(e)), the referrers of one entity through one attribute
 * (AVET prefix u(a) enc(e), where every ref attribute is), and entity ids.
 *
 * An entity is read with ONE iterator over its EAVT range, keeping the
 * attributes the pattern wants and seeking over long runs of the others.
 * Rejected: one prefix scan per pattern attribute (what Datahike does), which
 * costs a root-to-leaf descent per attribute: a 9-attribute pattern read 9
 * times as many nodes for an entity that fits in one leaf. Rejected too:
 * always reading the whole entity, which is unbounded when the entity holds a
 * large card-many attribute the pattern does not ask for; the seek bounds it.
 *
 * The current and since views read the current EAVT tree directly (since
 * filters by tx); history and as-of need the merged cursor of db.c, and there
 * each wanted attribute gets its own prefix scan.
 */
#include "pull/pull_int.h"

#include <stdio.h>
#include <string.h>

#include "base/err.h"
#include "db/kw.h"
#include "edn/value.h"

#define SEEK_AFTER 16  /* unwanted datoms in a row before seeking past them */
#define BATCH 32       /* keys read from a leaf at once */

/*
 * The keys from prefix on, with no upper bound: the scans stop at the first
 * key without the prefix themselves. A prefix upper bound would make every
 * descent binary-search its leaf a second time for the range's end, which
 * is a quarter of the cost of reading a small entity.
 */
static cairn_btree_range open_range(const void *prefix, size_t len)
{
    cairn_btree_range r = cairn_btree_range_prefix(prefix, len);
    r.hi.kind = CAIRN_BOUND_NONE;
    return r;
}

static int has_prefix(const cairn_btree_key *k, const void *prefix, size_t len)
{
    return k->len >= len && memcmp(k->data, prefix, len) == 0;
}

/* Where to go after an unwanted datom of attribute a: the next wanted
 * attribute id, or -1 when none is left (the scan can stop). */
static int64_t next_wanted(const int64_t *want, size_t nwant, size_t j, int64_t a)
{
    if (!want)
        return a + 1;
    while (j < nwant && want[j] <= a)
        j++;
    return j < nwant ? want[j] : -1;
}

/* The current and since views: one iterator over the entity, with seeks. */
static int scan_direct(const cairn_db *db, int64_t e, const int64_t *want, size_t nwant, pull_datom_fn fn,
                       void *payload, int *any_out)
{
    uint8_t prefix[CAIRN_KEY_U_MAX], seek[2 * CAIRN_KEY_U_MAX];
    size_t plen = cairn_key_u(prefix, (uint64_t)e), j = 0, skipped = 0;
    cairn_btree_range r = open_range(prefix, plen);
    cairn_btree_iter it;
    cairn_btree_key keys[BATCH];
    int64_t skip_a = -1;  /* attribute whose remaining datoms are not wanted */
    int since = db->view == CAIRN_VIEW_SINCE, rc = 0, n;
    cairn_btree_iter_init(&it, &db->trees[CAIRN_T_EAVT], &r, 0);
    while ((n = cairn_btree_iter_next_batch(&it, keys, BATCH)) > 0) {
        int64_t to = 0;  /* attribute to seek to, when > 0 */
        for (int i = 0; i < n && !to; i++) {
            cairn_key_parts p;
            int64_t a;
            if (!has_prefix(&keys[i], prefix, plen))
                goto done;
            if ((rc = cairn_key_split(&p, CAIRN_IX_EAVT, 0, keys[i].data, keys[i].len)) < 0)
                goto done;
            if (since && (int64_t)p.tx <= db->view_tx)
                continue;
            if (any_out)
                *any_out = 1;
            a = (int64_t)p.a;
            if (a != skip_a && want) {
                while (j < nwant && want[j] < a)
                    j++;
                if (j == nwant)
                    goto done;
            }
            if (a != skip_a && (!want || want[j] == a)) {
                skipped = 0;
                rc = fn(payload, a, p.v, p.v_len);
                if (rc < 0 || rc == PULL_SCAN_STOP)
                    goto done;
                if (rc == PULL_SCAN_NEXT_ATTR)
                    skip_a = a;
                rc = 0;
                continue;
            }
            if (++skipped >= SEEK_AFTER) {
                if ((to = next_wanted(want, nwant, j, a)) < 0)
                    goto done;
            }
        }
        if (to > 0) {
            size_t slen = cairn_key_u(seek, (uint64_t)e);
            slen += cairn_key_u(seek + slen, (uint64_t)to);
            skipped = 0;
            if ((rc = cairn_btree_iter_seek(&it, seek, slen)) < 0)
                goto done;
        }
    }
    rc = n < 0 ? n : 0;
done:
    cairn_btree_iter_dispose(&it);
    return rc;
}

struct cursor_scan {
    pull_datom_fn fn;       /* the caller's callback */
    void *payload;          /* its payload */
    int *any;               /* set when a datom is seen, or NULL */
    int stop;               /* the callback asked to stop */
    int64_t skip_a;         /* attribute whose rest is skipped, or -1 */
    int history;            /* history view: skip retractions */
    int per_attr;           /* the scan covers one attribute: end it early */
};

static int cursor_cb(const cairn_raw_datom *d, void *payload)
{
    struct cursor_scan *s = payload;
    int rc;
    if (s->history && !d->added)
        return 0;
    if (s->any)
        *s->any = 1;
    if (d->a == s->skip_a)
        return 0;
    rc = s->fn(s->payload, d->a, d->v, d->v_len);
    if (rc == PULL_SCAN_NEXT_ATTR) {
        s->skip_a = d->a;
        return s->per_attr;
    }
    if (rc == PULL_SCAN_STOP)
        s->stop = 1;
    return rc;
}

static int any_cb(void *payload, int64_t a, const uint8_t *v, size_t v_len)
{
    (void)payload, (void)a, (void)v, (void)v_len;
    return PULL_SCAN_STOP;
}

/* History and as-of: the merged cursor, one prefix scan per wanted attribute. */
static int scan_cursor(const cairn_db *db, int64_t e, const int64_t *want, size_t nwant, pull_datom_fn fn,
                       void *payload, int *any_out)
{
    uint8_t prefix[2 * CAIRN_KEY_U_MAX];
    size_t elen = cairn_key_u(prefix, (uint64_t)e);
    struct cursor_scan s = { fn, payload, any_out, 0, -1, db->view == CAIRN_VIEW_HISTORY, want != NULL };
    int rc = 0;
    if (!want)
        rc = cairn_db__scan_prefix(db, CAIRN_IX_EAVT, prefix, elen, cursor_cb, &s);
    for (size_t j = 0; want && j < nwant && rc >= 0 && !s.stop; j++) {
        size_t len = elen + cairn_key_u(prefix + elen, (uint64_t)want[j]);
        s.skip_a = -1;
        rc = cairn_db__scan_prefix(db, CAIRN_IX_EAVT, prefix, len, cursor_cb, &s);
    }
    if (rc > 0)
        rc = 0;
    if (rc == 0 && want && any_out && !*any_out) {
        struct cursor_scan a = { any_cb, NULL, any_out, 0, -1, s.history, 0 };
        rc = cairn_db__scan_prefix(db, CAIRN_IX_EAVT, prefix, elen, cursor_cb, &a);
        if (rc > 0)
            rc = 0;
    }
    return rc;
}

int pull__scan_entity(const cairn_db *db, int64_t e, const int64_t *want, size_t nwant, pull_datom_fn fn,
                      void *payload, int *any_out)
{
    if (any_out)
        *any_out = 0;
    if (want && !nwant && !any_out)
        return 0;
    if (db->view == CAIRN_VIEW_CURRENT || db->view == CAIRN_VIEW_SINCE)
        return scan_direct(db, e, want, nwant, fn, payload, any_out);
    return scan_cursor(db, e, want, nwant, fn, payload, any_out);
}

/* ---- reverse references ---------------------------------------------------- */

struct reverse_scan {
    pull_ref_fn fn;         /* the caller's callback */
    void *payload;          /* its payload */
    size_t left;            /* datoms still wanted */
    int history;            /* skip retractions */
};

static int reverse_cb(const cairn_raw_datom *d, void *payload)
{
    struct reverse_scan *s = payload;
    int rc;
    if (s->history && !d->added)
        return 0;
    if (!s->left)
        return 1;
    s->left--;
    rc = s->fn(s->payload, d->e);
    return rc < 0 ? rc : 0;
}

int pull__scan_reverse(const cairn_db *db, const cairn_attr *a, int64_t value, size_t limit, pull_ref_fn fn,
                       void *payload)
{
    cairn_buf prefix = CAIRN_BUF_INIT;
    struct reverse_scan s = { fn, payload, limit, db->view == CAIRN_VIEW_HISTORY };
    int rc;
    if (!cairn_attr_avet(a) || !limit)
        return 0;
    if ((rc = cairn_key_put_u(&prefix, (uint64_t)a->id)) < 0 || (rc = cairn_key_put_value(&prefix, cairn_int(value))) < 0)
        goto done;
    if (db->view == CAIRN_VIEW_CURRENT || db->view == CAIRN_VIEW_SINCE) {
        cairn_btree_range r = open_range(prefix.ptr, prefix.len);
        cairn_btree_iter it;
        cairn_btree_key k;
        cairn_btree_iter_init(&it, &db->trees[CAIRN_T_AVET], &r, 0);
        while (s.left && (rc = cairn_btree_iter_next(&it, &k)) > 0) {
            cairn_key_parts p;
            if (!has_prefix(&k, prefix.ptr, prefix.len)) {
                rc = 0;
                break;
            }
            if ((rc = cairn_key_split(&p, CAIRN_IX_AVET, 0, k.data, k.len)) < 0)
                break;
            if (db->view == CAIRN_VIEW_SINCE && (int64_t)p.tx <= db->view_tx)
                continue;
            s.left--;
            if ((rc = fn(payload, (int64_t)p.e)) < 0)
                break;
        }
        cairn_btree_iter_dispose(&it);
    } else {
        rc = cairn_db__scan_prefix(db, CAIRN_IX_AVET, (const uint8_t *)prefix.ptr, prefix.len, reverse_cb, &s);
    }
    if (rc > 0)
        rc = 0;
done:
    cairn_buf_dispose(&prefix);
    return rc;
}

/* ---- names and ids ------------------------------------------------------------- */

int pull__attr_ident(cairn_val name, cairn_val *ident_out, int *reverse_out)
{
    const char *text, *ns, *nm;
    size_t len, ns_len = 0, nm_len;
    char buf[512];
    int rc;
    *reverse_out = 0;
    if (cairn_type_of(name) == CAIRN_KEYWORD) {
        text = cairn_ident_get(name, &len);
        nm = cairn_name_get(name, &nm_len);
        ns = cairn_namespace_get(name, &ns_len);
    } else {
        const char *slash;
        text = cairn_str_get(name, &len);
        slash = len > 1 ? memchr(text + 1, '/', len - 1) : NULL;
        ns = slash ? text : NULL;
        ns_len = slash ? (size_t)(slash - text) : 0;
        nm = slash ? slash + 1 : text;
        nm_len = len - (size_t)(nm - text);
        if (!len || !nm_len)
            return CAIRN_EINVALID;
    }
    if (nm_len > 1 && nm[0] == '_') {
        /* :ns/_attr names :ns/attr backwards */
        if (len >= sizeof buf)
            return CAIRN_ELIMIT;
        *reverse_out = 1;
        if (ns)
            snprintf(buf, sizeof buf, "%.*s/%.*s", (int)ns_len, ns, (int)(nm_len - 1), nm + 1);
        else
            snprintf(buf, sizeof buf, "%.*s", (int)(nm_len - 1), nm + 1);
        return cairn_keyword(ident_out, buf, strlen(buf));
    }
    if (cairn_type_of(name) == CAIRN_KEYWORD) {
        *ident_out = name;
        return 0;
    }
    rc = cairn_keyword(ident_out, text, len);
    return rc;
}

int pull__entid_strict(const cairn_db *db, cairn_val ref, int64_t *out, cairn_error *err)
{
    int rc;
    if (cairn_type_of(ref) == CAIRN_INT && cairn_int_value(ref) <= 0)
        return cairn_error_set(err, CAIRN_EINVALID, ":entity-id/syntax",
                               "Expected number or lookup ref for entity id, got %lld",
                               (long long)cairn_int_value(ref));
    if ((rc = cairn_db__entid(db, ref, out, err)) < 0)
        return rc;
    if (!*out) {
        char *text = NULL;
        rc = cairn_edn_print(&text, NULL, ref);
        cairn_error_set(err, CAIRN_ENOTFOUND, ":entity-id/missing", "Nothing found for entity id %.200s",
                        rc == 0 ? text : "(unprintable)");
        cairn_free(text);
        return CAIRN_ENOTFOUND;
    }
    return 0;
}

int pull__build_error(cairn_error *err, int rc)
{
    if (rc == CAIRN_ELIMIT)
        return cairn_error_set(err, CAIRN_ELIMIT, ":pull/limit", "pull result nests deeper than %d levels",
                               CAIRN_MAX_DEPTH);
    if (rc == CAIRN_ENOMEM)
        return cairn_error_oom(err);
    return cairn_error_code(err, rc);
}
