/*
 * Pull patterns: Datahike's grammar (datalog-parser's pull.cljc) parsed and
 * compiled against a schema, once, for any number of evaluations.
 *
 *   pattern        = [attr-spec+]            (a vector, list or set)
 *   attr-spec      = attr-name | wildcard | map-spec | attr-expr
 *   attr-name      = keyword or "ns/name" string; :ns/_attr reads backwards
 *   wildcard       = * | :* | "*"
 *   map-spec       = {(attr-name | attr-expr) (pattern | recursion-limit) ...}
 *   attr-expr      = [attr-name (:as any | :limit (n | nil) | :default any)*]
 *                  | (limit attr-name (n | nil)) | (default attr-name any)
 *   recursion-limit = positive number | ... | "..."
 *
 * What Datahike does and this keeps: the wildcard goes first, then the other
 * specs in order, then the map entries (so a map spec overrides a plain spec
 * of the same name); specs are keyed by the name as written, and a later spec
 * replaces an earlier one of the same name; "limit"/"default" as the first of
 * three elements make the legacy forms (even as keywords); a name that is
 * not an attribute fails only when a pull evaluates it, with
 * ":transact/schema" under schema-on-write (Datahike validates it in the
 * datoms call), and yields nothing under schema-on-read. Syntax errors are
 * ":parser/pull" with Datahike's message and the offending fragment.
 *
 * Additions: a :limit that is not a number or nil is a parse error here
 * (Datahike fails later, in `take`), string attribute names are looked up as
 * the keyword of the same text (the result key stays the string), and the
 * string "db/id" means :db/id.
 *
 * The compiled form (pull_int.h) keeps each spec's attribute definition, so
 * evaluation never resolves a name. Nodes live in an arena owned by the
 * pattern; names, keys and defaults are kept alive by one held vector.
 * Rejected: keeping Datahike's parsed records and resolving names while
 * evaluating (a schema lookup per spec per entity, in the query engine's
 * per-row loop), and compiling into a flat bytecode (the tree is already
 * flat per node, and recursion needs the node of the spec anyway).
 */
#include "pull/pull_int.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/err.h"
#include "db/kw.h"
#include "edn/value.h"

const pull_node pull__wildcard_node = { 1, NULL, 0, NULL, NULL, 0, NULL, 0, 0, NULL };

struct parser {
    const cairn_db *db;         /* whose schema names resolve in */
    cairn_pull_pattern *p;      /* the pattern being built */
    cairn_error *err;           /* where errors go */
};

/* A node's specs while it is parsed (copied to the arena at the end). */
struct spec_list {
    pull_spec *items;           /* specs */
    size_t count, cap;          /* used, allocated */
};

/* Prints v as EDN into dst (cap bytes), cut with "..." when longer. */
static void print_fragment(char *dst, size_t cap, cairn_val v)
{
    char *text = NULL;
    size_t len = 0;
    if (cairn_edn_print(&text, &len, v) < 0) {
        snprintf(dst, cap, "(unprintable)");
        return;
    }
    if (len < cap)
        memcpy(dst, text, len + 1);
    else
        snprintf(dst, cap, "%.*s...", (int)(cap - 4), text);
    cairn_free(text);
}

/* ":parser/pull" with Datahike's message and the fragment it is about. */
static int syntax(struct parser *ps, const char *what, cairn_val fragment)
{
    char frag[160];
    print_fragment(frag, sizeof frag, fragment);
    return cairn_error_set(ps->err, CAIRN_EINVALID, ":parser/pull", "%s, got %s", what, frag);
}

/* The same for the entry k v of a map spec. */
static int syntax_entry(struct parser *ps, const char *what, cairn_val k, cairn_val v)
{
    char fk[80], fv[80];
    print_fragment(fk, sizeof fk, k);
    print_fragment(fv, sizeof fv, v);
    return cairn_error_set(ps->err, CAIRN_EINVALID, ":parser/pull", "%s, got {%s %s}", what, fk, fv);
}

static int hold(struct parser *ps, cairn_val v)
{
    return cairn_coll_push(&ps->p->held, v);
}

/* 1 when v is a symbol (or string) whose text is text. */
static int is_text(cairn_val v, cairn_type type, const char *text)
{
    size_t len;
    const char *t;
    if (cairn_type_of(v) != type)
        return 0;
    t = type == CAIRN_STRING ? cairn_str_get(v, &len) : cairn_ident_get(v, &len);
    return len == strlen(text) && memcmp(t, text, len) == 0;
}

static int is_sym(cairn_val v, const char *text)
{
    return is_text(v, CAIRN_SYMBOL, text);
}

static int is_str(cairn_val v, const char *text)
{
    return is_text(v, CAIRN_STRING, text);
}

/* '*, :* or "*" */
static int is_wildcard(cairn_val v)
{
    return is_sym(v, "*") || cairn_val_is_kw(v, "*") || is_str(v, "*");
}

/* The symbol, keyword or string word (limit, default). */
static int is_word(cairn_val v, const char *word)
{
    return is_sym(v, word) || cairn_val_is_kw(v, word) || is_str(v, word);
}

static int is_pattern(cairn_val v)
{
    cairn_type t = cairn_type_of(v);
    return t == CAIRN_VECTOR || t == CAIRN_LIST || t == CAIRN_SET;
}

static int is_positive(cairn_val v)
{
    if (!cairn_val_is_number(v))
        return 0;
    return cairn_number_compare(v, cairn_int(0)) > 0;
}

/*
 * Fills s from an attribute name; returns 1, 0 when v is not a name (not a
 * keyword or string), or an error.
 */
static int parse_attr_name(struct parser *ps, cairn_val v, pull_spec *s)
{
    cairn_val ident;
    int reverse, rc;
    if (cairn_type_of(v) != CAIRN_KEYWORD && cairn_type_of(v) != CAIRN_STRING)
        return 0;
    if ((rc = pull__attr_ident(v, &ident, &reverse)) < 0) {
        if (rc == CAIRN_ENOMEM)
            return cairn_error_oom(ps->err);
        return syntax(ps, rc == CAIRN_ELIMIT ? "Attribute name too long" : "Expected a non-empty attribute name", v);
    }
    memset(s, 0, sizeof *s);
    s->name = s->key = v;
    s->def = cairn_nil();
    s->limit = PULL_DEFAULT_LIMIT;
    s->reverse = (uint8_t)reverse;
    if (!reverse && IS_KW(ident, db_id)) {
        s->kind = PULL_SPEC_DB_ID;
    } else if ((s->attr = cairn_db__attr(ps->db, ident)) != NULL) {
        s->kind = reverse ? PULL_SPEC_REVERSE : PULL_SPEC_ATTR;
    } else {
        s->kind = PULL_SPEC_UNKNOWN;
    }
    return 1;
}

/* A :limit value: nil (unlimited) or a number (what `take` would keep). */
static int parse_limit(struct parser *ps, cairn_val v, cairn_val fragment, size_t *out)
{
    if (cairn_type_of(v) == CAIRN_NIL) {
        *out = PULL_UNLIMITED;
        return 0;
    }
    if (!cairn_val_is_number(v))
        return syntax(ps, "Expected :limit (positive-number | nil)", fragment);
    if (cairn_type_of(v) == CAIRN_INT) {
        *out = cairn_int_value(v) < 0 ? 0 : (size_t)cairn_int_value(v);
    } else {
        long double d = cairn_number_approx(v);
        *out = d <= 0 ? 0 : d >= (long double)SIZE_MAX / 2 ? PULL_UNLIMITED : (size_t)ceill(d);
    }
    return 0;
}

/* (limit attr n) and (default attr v); returns 1 when v is one of them. */
static int parse_legacy(struct parser *ps, cairn_val v, pull_spec *s)
{
    cairn_val head = cairn_coll_get(v, 0), name = cairn_coll_get(v, 1), arg = cairn_coll_get(v, 2);
    int rc;
    if (is_word(head, "limit")) {
        const char *msg = "Expected [\"limit\" attr-name (positive-number | nil)]";
        if (cairn_type_of(arg) != CAIRN_NIL && !is_positive(arg))
            return syntax(ps, msg, v);
        if ((rc = parse_attr_name(ps, name, s)) <= 0)
            return rc < 0 ? rc : syntax(ps, msg, v);
        return parse_limit(ps, arg, v, &s->limit) < 0 ? CAIRN_EINVALID : 1;
    }
    if (is_word(head, "default")) {
        if ((rc = parse_attr_name(ps, name, s)) <= 0)
            return rc < 0 ? rc : syntax(ps, "Expected [\"default\" attr-name any-value]", v);
        s->has_default = 1;
        s->def = arg;
        return 1;
    }
    return 0;
}

/* [attr-name :as x :limit n :default v]; the options may repeat (last wins). */
static int parse_with_opts(struct parser *ps, cairn_val v, pull_spec *s)
{
    size_t n = cairn_count(v);
    int rc;
    if ((rc = parse_attr_name(ps, cairn_coll_get(v, 0), s)) <= 0)
        return rc < 0 ? rc : syntax(ps, "Expected [attr-name attr-option+]", v);
    if ((n - 1) % 2)
        return syntax(ps, "Option list must contain even number of elements", v);
    for (size_t i = 1; i < n; i += 2) {
        cairn_val opt = cairn_coll_get(v, i), arg = cairn_coll_get(v, i + 1);
        if (cairn_val_is_kw(opt, "as")) {
            s->key = arg;
        } else if (cairn_val_is_kw(opt, "limit")) {
            if ((rc = parse_limit(ps, arg, v, &s->limit)) < 0)
                return rc;
        } else if (cairn_val_is_kw(opt, "default")) {
            s->has_default = 1;
            s->def = arg;
        } else {
            char frag[80];
            print_fragment(frag, sizeof frag, opt);
            return cairn_error_set(ps->err, CAIRN_EINVALID, ":parser/pull", "Invalid attribute option: %s", frag);
        }
    }
    return 1;
}

/* An attr-expr (a list or vector); 1 when parsed, 0 when v is not one. */
static int parse_attr_expr(struct parser *ps, cairn_val v, pull_spec *s)
{
    int rc;
    if (cairn_type_of(v) != CAIRN_LIST && cairn_type_of(v) != CAIRN_VECTOR)
        return 0;
    if (cairn_count(v) == 3 && (rc = parse_legacy(ps, v, s)) != 0)
        return rc;
    if (cairn_count(v) == 0)
        return syntax(ps, "Expected [attr-name attr-option+]", v);
    return parse_with_opts(ps, v, s);
}

static int parse_node(struct parser *ps, cairn_val pattern, const pull_node **out);

/* One entry {k v} of a map spec. */
static int parse_map_entry(struct parser *ps, cairn_val k, cairn_val v, pull_spec *s)
{
    int rc = parse_attr_name(ps, k, s);
    if (rc == 0)
        rc = parse_attr_expr(ps, k, s);
    if (rc == 0)
        return syntax_entry(ps, "Expected (attr-name | attr-expr)", k, v);
    if (rc < 0)
        return rc;
    if (is_sym(v, "...") || is_str(v, "...")) {
        s->sub = PULL_SUB_RECURSION;
        s->rec_limit = 0;
    } else if (is_positive(v)) {
        int64_t n;
        s->sub = PULL_SUB_RECURSION;
        /* Datahike compares the depth with (=): an integer limit counts, any
         * other number never matches and so recurses without a limit */
        if (cairn_type_of(v) == CAIRN_INT)
            s->rec_limit = cairn_int_value(v);
        else if (cairn_type_of(v) == CAIRN_BIGINT && cairn_bigint_to_int64(v, &n))
            s->rec_limit = n;
        else
            s->rec_limit = 0;
    } else if (is_pattern(v)) {
        s->sub = PULL_SUB_PATTERN;
        if ((rc = parse_node(ps, v, &s->pattern)) < 0)
            return rc;
    } else {
        return syntax_entry(ps, "Expected (pattern | recursion-limit)", k, v);
    }
    return 0;
}

/* Adds s, replacing a spec of the same name in place. */
static int list_add(struct spec_list *l, const pull_spec *s)
{
    for (size_t i = 0; i < l->count; i++) {
        if (cairn_equal(l->items[i].name, s->name)) {
            l->items[i] = *s;
            return 0;
        }
    }
    if (l->count == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 8;
        pull_spec *p = cairn_realloc(l->items, cairn_mul_size(cap, sizeof *p));
        if (!p)
            return CAIRN_ENOMEM;
        l->items = p;
        l->cap = cap;
    }
    l->items[l->count++] = *s;
    return 0;
}

int pull__cmp_by_attr(const void *a, const void *b)
{
    const pull_by_attr *x = a, *y = b;
    return (x->id > y->id) - (x->id < y->id);
}

static int cmp_id(const void *a, const void *b)
{
    const int64_t *x = a, *y = b;
    return (*x > *y) - (*x < *y);
}

/* Copies the specs into the arena and derives the lookup tables. */
static int finish_node(struct parser *ps, struct spec_list *l, int wildcard, const pull_node **out)
{
    cairn_arena *ar = &ps->p->arena;
    pull_node *n = cairn_arena_calloc(ar, 1, sizeof *n);
    size_t nattr = 0;
    if (!n || !(n->specs = cairn_arena_calloc(ar, l->count + 1, sizeof *n->specs)) ||
        !(n->want_ids = cairn_arena_calloc(ar, l->count + 1, sizeof *n->want_ids)) ||
        !(n->want_limits = cairn_arena_calloc(ar, l->count + 1, sizeof *n->want_limits)) ||
        !(n->by_attr = cairn_arena_calloc(ar, l->count + 1, sizeof *n->by_attr)))
        return cairn_error_oom(ps->err);
    n->wildcard = wildcard;
    n->count = l->count;
    if (l->count)
        memcpy(n->specs, l->items, l->count * sizeof *l->items);
    for (size_t i = 0; i < n->count; i++) {
        pull_spec *s = &n->specs[i];
        int rc;
        if ((rc = hold(ps, s->name)) < 0 || (rc = hold(ps, s->key)) < 0 || (rc = hold(ps, s->def)) < 0)
            return pull__build_error(ps->err, rc);
        if (s->kind == PULL_SPEC_DB_ID)
            n->has_db_id = 1;
        if (s->kind == PULL_SPEC_UNKNOWN && !n->unknown && !ps->db->schema->read_flex && (!wildcard || s->reverse))
            n->unknown = s;
        if (s->kind != PULL_SPEC_ATTR)
            continue;
        n->want_ids[nattr++] = s->attr->id;
        if (cairn_type_of(s->name) == CAIRN_KEYWORD) {
            n->by_attr[n->nby].id = s->attr->id;
            n->by_attr[n->nby++].spec = s;
        }
    }
    qsort(n->want_ids, nattr, sizeof *n->want_ids, cmp_id);
    for (size_t i = 0; i < nattr; i++)
        if (!n->nwant || n->want_ids[n->nwant - 1] != n->want_ids[i])
            n->want_ids[n->nwant++] = n->want_ids[i];
    for (size_t i = 0; i < n->count; i++) {
        pull_spec *s = &n->specs[i];
        const int64_t *at;
        if (s->kind != PULL_SPEC_ATTR)
            continue;
        at = bsearch(&s->attr->id, n->want_ids, n->nwant, sizeof *n->want_ids, cmp_id);
        s->want = (size_t)(at - n->want_ids);
        n->want_limits[s->want] = CAIRN_MAX(n->want_limits[s->want], s->limit);
    }
    qsort(n->by_attr, n->nby, sizeof *n->by_attr, pull__cmp_by_attr);
    *out = n;
    return 0;
}

static int parse_node(struct parser *ps, cairn_val pattern, const pull_node **out)
{
    struct spec_list l = { NULL, 0, 0 };
    size_t n = cairn_count(pattern);
    int wildcard = 0, rc = 0;
    if (!is_pattern(pattern))
        return syntax(ps, "Cannot parse pull pattern, expected: [attr-spec+]", pattern);
    for (size_t i = 0; i < n; i++)
        wildcard |= is_wildcard(cairn_coll_get(pattern, i));
    /* the other specs in order, then the entries of the map specs */
    for (size_t i = 0; i < n && rc >= 0; i++) {
        cairn_val v = cairn_coll_get(pattern, i);
        pull_spec s;
        if (is_wildcard(v) || cairn_type_of(v) == CAIRN_MAP)
            continue;
        if ((rc = parse_attr_name(ps, v, &s)) == 0 && (rc = parse_attr_expr(ps, v, &s)) == 0)
            rc = syntax(ps, "Cannot parse attr-spec, expected: (attr-name | wildcard | map-spec | attr-expr)", v);
        if (rc > 0 && (rc = list_add(&l, &s)) < 0)
            rc = cairn_error_oom(ps->err);
    }
    for (size_t i = 0; i < n && rc >= 0; i++) {
        cairn_val v = cairn_coll_get(pattern, i);
        if (cairn_type_of(v) != CAIRN_MAP)
            continue;
        for (size_t k = 0; k < cairn_count(v) && rc >= 0; k++) {
            pull_spec s;
            if ((rc = parse_map_entry(ps, cairn_map_key_get(v, k), cairn_map_val_get(v, k), &s)) == 0 &&
                (rc = list_add(&l, &s)) < 0)
                rc = cairn_error_oom(ps->err);
        }
    }
    if (rc >= 0)
        rc = finish_node(ps, &l, wildcard, out);
    cairn_free(l.items);
    return rc < 0 ? rc : 0;
}

int cairn_pull_pattern_parse(cairn_pull_pattern **out, const cairn_db *db, cairn_val pattern, cairn_error *err)
{
    cairn_pull_pattern *p = cairn_malloc(sizeof *p);
    struct parser ps;
    int rc;
    if (!p)
        return cairn_error_oom(err);
    memset(p, 0, sizeof *p);
    p->schema = cairn_schema_retain(db->schema);
    p->source = cairn_retain(pattern);
    p->held = cairn_nil();
    if ((rc = cairn_vector_new(&p->held, 16)) < 0) {
        cairn_pull_pattern_free(p);
        return cairn_error_oom(err);
    }
    ps.db = db;
    ps.p = p;
    ps.err = err;
    if ((rc = parse_node(&ps, pattern, &p->root)) < 0) {
        cairn_pull_pattern_free(p);
        return rc;
    }
    *out = p;
    return 0;
}

void cairn_pull_pattern_free(cairn_pull_pattern *p)
{
    if (!p)
        return;
    cairn_schema_release(p->schema);
    cairn_release(p->source);
    cairn_release(p->held);
    cairn_arena_dispose(&p->arena);
    cairn_free(p);
}
