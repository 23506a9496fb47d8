/*
 * Regular expressions for re-pattern, re-find, re-matches and re-seq: the
 * part of java.util.regex that queries use, matched by backtracking over
 * UTF-8 (code points, not bytes).
 *
 * Syntax: literals and escapes (\t \n \r \f \e \0oo \xhh \uhhhh \Q..\E is
 * not supported), . (not line terminators), classes [a-z] [^...] with
 * \d \D \w \W \s \S inside and out, anchors ^ $ \A \z \Z \b \B, groups
 * (...) (?:...) (?=...) (?!...), alternation, quantifiers * + ? {n} {n,}
 * {n,m} with lazy variants, back references \1..\9, and a leading (?i)
 * for ASCII case-insensitive matching.
 *
 * Matching is a recursive backtracker with explicit continuations; a
 * repetition of a single-character matcher (the common `.*`, `[a-z]+`) runs
 * as a loop instead of one frame per character. A step budget and a depth
 * budget turn pathological patterns into an error instead of a hang or a
 * stack overflow. Rejected: POSIX regcomp (different syntax: no \d, no lazy
 * quantifiers, no lookahead; and it allocates outside cairn's allocator); a
 * Thompson NFA (no back references or lookahead, which Java has).
 */
#include "query/query.h"

#include <string.h>

#include "base/alloc.h"
#include "base/utf8.h"

enum {
    R_CHAR = 1, R_ANY, R_CLASS, R_BOL, R_EOL, R_WORDB, R_NWORDB, R_BOI, R_EOI, R_EOIZ,
    R_GROUP, R_NCGROUP, R_ALT, R_CAT, R_REP, R_BACKREF, R_LOOK, R_EMPTY
};

typedef struct crange {
    uint32_t lo, hi;    /* inclusive */
} crange;

typedef struct rnode {
    int kind;               /* R_* */
    uint32_t cp;            /* CHAR */
    crange *ranges;         /* CLASS */
    int nranges;            /* their count */
    int negated;            /* CLASS: [^...]; LOOK: (?!...) */
    int group;              /* GROUP / BACKREF: number */
    int min, max;           /* REP (max -1 = unbounded) */
    int greedy;             /* REP */
    struct rnode **kids;    /* ALT, CAT, GROUP, NCGROUP, REP, LOOK */
    int nkids;              /* their count */
} rnode;

struct qregex {
    rnode *root;            /* the pattern */
    int ngroups;            /* capturing groups */
    int icase;              /* (?i) */
    char *src;              /* the source text */
    size_t src_len;         /* its length */
    rnode **all;            /* every node, for freeing */
    int nall, capall;       /* count and room */
};

/* ---- parsing ------------------------------------------------------------------ */

typedef struct rparse {
    qregex *re;             /* being built */
    const char *p;          /* pattern */
    size_t len, pos;        /* its length, next byte */
    cairn_error *err;       /* errors */
    int depth;              /* group nesting */
} rparse;

static int rfail(rparse *r, const char *msg)
{
    return cairn_error_set(r->err, CAIRN_EINVALID, ":query/where", "regex: %s at index %zu", msg, r->pos);
}

static rnode *node(rparse *r, int kind)
{
    qregex *re = r->re;
    rnode *n;
    if (re->nall == re->capall) {
        int nc = re->capall ? re->capall * 2 : 16;
        rnode **na = cairn_realloc(re->all, (size_t)nc * sizeof *na);
        if (!na)
            return NULL;
        re->all = na;
        re->capall = nc;
    }
    n = cairn_malloc(sizeof *n);
    if (!n)
        return NULL;
    memset(n, 0, sizeof *n);
    n->kind = kind;
    re->all[re->nall++] = n;
    return n;
}

static int add_kid(rnode *n, rnode *k)
{
    rnode **nk = cairn_realloc(n->kids, (size_t)(n->nkids + 1) * sizeof *nk);
    if (!nk)
        return CAIRN_ENOMEM;
    n->kids = nk;
    n->kids[n->nkids++] = k;
    return 0;
}

static int add_range(rnode *n, uint32_t lo, uint32_t hi)
{
    crange *nr = cairn_realloc(n->ranges, (size_t)(n->nranges + 1) * sizeof *nr);
    if (!nr)
        return CAIRN_ENOMEM;
    n->ranges = nr;
    n->ranges[n->nranges].lo = lo;
    n->ranges[n->nranges].hi = hi;
    n->nranges++;
    return 0;
}

static int peek(rparse *r)
{
    return r->pos < r->len ? (unsigned char)r->p[r->pos] : -1;
}

static int next_cp(rparse *r, uint32_t *cp)
{
    size_t n = cairn_utf8_decode(r->p + r->pos, r->len - r->pos, cp);
    if (!n)
        return rfail(r, "invalid UTF-8");
    r->pos += n;
    return 0;
}

static int hexval(int c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Adds the ranges of a class escape (d w s and negations) to n. */
static int class_escape(rnode *n, int c, int *neg_out)
{
    int rc = 0;
    *neg_out = 0;
    switch (c) {
    case 'D': *neg_out = 1; /* fall through */
    case 'd': return add_range(n, '0', '9');
    case 'W': *neg_out = 1; /* fall through */
    case 'w':
        if ((rc = add_range(n, 'a', 'z')) < 0 || (rc = add_range(n, 'A', 'Z')) < 0 || (rc = add_range(n, '0', '9')) < 0)
            return rc;
        return add_range(n, '_', '_');
    case 'S': *neg_out = 1; /* fall through */
    case 's':
        if ((rc = add_range(n, ' ', ' ')) < 0 || (rc = add_range(n, '\t', '\r')) < 0)
            return rc;
        return 0;
    default:
        return 1;  /* not a class escape */
    }
}

/* A single-character escape after the backslash: *cp, or -1 if none. */
static int char_escape(rparse *r, int c, uint32_t *cp)
{
    switch (c) {
    case 't': *cp = '\t'; return 0;
    case 'n': *cp = '\n'; return 0;
    case 'r': *cp = '\r'; return 0;
    case 'f': *cp = '\f'; return 0;
    case 'e': *cp = 0x1b; return 0;
    case 'a': *cp = 0x07; return 0;
    case 'x': {
        int h1 = hexval(peek(r)), h2;
        if (h1 < 0)
            return rfail(r, "bad \\x escape");
        r->pos++;
        h2 = hexval(peek(r));
        if (h2 < 0)
            return rfail(r, "bad \\x escape");
        r->pos++;
        *cp = (uint32_t)(h1 * 16 + h2);
        return 0;
    }
    case 'u': {
        uint32_t v = 0;
        for (int i = 0; i < 4; i++) {
            int h = hexval(peek(r));
            if (h < 0)
                return rfail(r, "bad \\u escape");
            r->pos++;
            v = v * 16 + (uint32_t)h;
        }
        *cp = v;
        return 0;
    }
    default:
        if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
            return rfail(r, "unsupported escape");
        *cp = (uint32_t)c;
        return 0;
    }
}

static int parse_class(rparse *r, rnode **out)
{
    rnode *n = node(r, R_CLASS), *neg_parts = NULL;
    int first = 1;
    if (!n)
        return CAIRN_ENOMEM;
    if (peek(r) == '^') {
        n->negated = 1;
        r->pos++;
    }
    for (;;) {
        uint32_t lo, hi;
        int c = peek(r), rc;
        if (c < 0)
            return rfail(r, "unclosed character class");
        if (c == ']' && !first) {
            r->pos++;
            break;
        }
        first = 0;
        if (c == '[')
            return rfail(r, "nested classes are not supported");
        if (c == '\\') {
            int neg;
            r->pos++;
            c = peek(r);
            if (c < 0)
                return rfail(r, "trailing backslash");
            r->pos++;
            if (c == 'd' || c == 'D' || c == 'w' || c == 'W' || c == 's' || c == 'S') {
                rnode *target = n;
                if (c == 'D' || c == 'W' || c == 'S') {
                    /* a negated escape inside a class: kept as a sub-class */
                    if (!neg_parts && !(neg_parts = node(r, R_CLASS)))
                        return CAIRN_ENOMEM;
                    target = node(r, R_CLASS);
                    if (!target)
                        return CAIRN_ENOMEM;
                    target->negated = 1;
                    if ((rc = add_kid(neg_parts, target)) < 0)
                        return rc;
                }
                if ((rc = class_escape(target, c | 0x20, &neg)) < 0)
                    return rc;
                continue;
            }
            if ((rc = char_escape(r, c, &lo)) < 0)
                return rc;
        } else if ((rc = next_cp(r, &lo)) < 0) {
            return rc;
        }
        hi = lo;
        if (peek(r) == '-' && r->pos + 1 < r->len && r->p[r->pos + 1] != ']') {
            r->pos++;
            if (peek(r) == '\\') {
                r->pos++;
                c = peek(r);
                if (c < 0)
                    return rfail(r, "trailing backslash");
                r->pos++;
                if ((rc = char_escape(r, c, &hi)) < 0)
                    return rc;
            } else if ((rc = next_cp(r, &hi)) < 0) {
                return rc;
            }
            if (hi < lo)
                return rfail(r, "illegal character range");
        }
        if ((rc = add_range(n, lo, hi)) < 0)
            return rc;
    }
    if (neg_parts) {
        n->kids = neg_parts->kids;
        n->nkids = neg_parts->nkids;
        neg_parts->kids = NULL;
        neg_parts->nkids = 0;
    }
    *out = n;
    return 0;
}

static int parse_alt(rparse *r, rnode **out);

static int parse_atom(rparse *r, rnode **out)
{
    int c = peek(r), rc;
    rnode *n;
    switch (c) {
    case '.':
        r->pos++;
        return (*out = node(r, R_ANY)) ? 0 : CAIRN_ENOMEM;
    case '^':
        r->pos++;
        return (*out = node(r, R_BOL)) ? 0 : CAIRN_ENOMEM;
    case '$':
        r->pos++;
        return (*out = node(r, R_EOL)) ? 0 : CAIRN_ENOMEM;
    case '[':
        r->pos++;
        return parse_class(r, out);
    case '(': {
        int kind = R_GROUP, neg = 0;
        r->pos++;
        if (peek(r) == '?') {
            r->pos++;
            c = peek(r);
            r->pos++;
            if (c == ':')
                kind = R_NCGROUP;
            else if (c == '=' || c == '!') {
                kind = R_LOOK;
                neg = c == '!';
            } else
                return rfail(r, "unsupported group construct");
        }
        if (++r->depth > 200)
            return rfail(r, "pattern nested too deeply");
        n = node(r, kind);
        if (!n)
            return CAIRN_ENOMEM;
        n->negated = neg;
        if (kind == R_GROUP)
            n->group = ++r->re->ngroups;
        {
            rnode *inner;
            if ((rc = parse_alt(r, &inner)) < 0)
                return rc;
            if ((rc = add_kid(n, inner)) < 0)
                return rc;
        }
        r->depth--;
        if (peek(r) != ')')
            return rfail(r, "unclosed group");
        r->pos++;
        *out = n;
        return 0;
    }
    case '\\': {
        uint32_t cp;
        int neg;
        r->pos++;
        c = peek(r);
        if (c < 0)
            return rfail(r, "trailing backslash");
        r->pos++;
        switch (c) {
        case 'b': return (*out = node(r, R_WORDB)) ? 0 : CAIRN_ENOMEM;
        case 'B': return (*out = node(r, R_NWORDB)) ? 0 : CAIRN_ENOMEM;
        case 'A': return (*out = node(r, R_BOI)) ? 0 : CAIRN_ENOMEM;
        case 'z': return (*out = node(r, R_EOI)) ? 0 : CAIRN_ENOMEM;
        case 'Z': return (*out = node(r, R_EOIZ)) ? 0 : CAIRN_ENOMEM;
        default: break;
        }
        if (c >= '1' && c <= '9') {
            n = node(r, R_BACKREF);
            if (!n)
                return CAIRN_ENOMEM;
            n->group = c - '0';
            *out = n;
            return 0;
        }
        if (c == 'd' || c == 'D' || c == 'w' || c == 'W' || c == 's' || c == 'S') {
            n = node(r, R_CLASS);
            if (!n || (rc = class_escape(n, c | 0x20, &neg)) < 0)
                return CAIRN_ENOMEM;
            n->negated = c != (c | 0x20);
            *out = n;
            return 0;
        }
        if ((rc = char_escape(r, c, &cp)) < 0)
            return rc;
        n = node(r, R_CHAR);
        if (!n)
            return CAIRN_ENOMEM;
        n->cp = cp;
        *out = n;
        return 0;
    }
    case '*':
    case '+':
    case '?':
        return rfail(r, "dangling meta character");
    default: {
        uint32_t cp;
        if ((rc = next_cp(r, &cp)) < 0)
            return rc;
        n = node(r, R_CHAR);
        if (!n)
            return CAIRN_ENOMEM;
        n->cp = cp;
        *out = n;
        return 0;
    }
    }
}

static int parse_int(rparse *r, int *out)
{
    int v = 0, any = 0;
    while (peek(r) >= '0' && peek(r) <= '9') {
        v = v * 10 + (peek(r) - '0');
        if (v > 100000)
            return rfail(r, "repetition count too large");
        r->pos++;
        any = 1;
    }
    *out = any ? v : -1;
    return 0;
}

static int parse_piece(rparse *r, rnode **out)
{
    rnode *atom = NULL, *rep;
    int rc, c, min, max;
    if ((rc = parse_atom(r, &atom)) < 0)
        return rc;
    for (;;) {
        c = peek(r);
        if (c == '*')
            min = 0, max = -1;
        else if (c == '+')
            min = 1, max = -1;
        else if (c == '?')
            min = 0, max = 1;
        else if (c == '{' && r->pos + 1 < r->len && r->p[r->pos + 1] >= '0' && r->p[r->pos + 1] <= '9') {
            r->pos++;
            if ((rc = parse_int(r, &min)) < 0)
                return rc;
            max = min;
            if (peek(r) == ',') {
                r->pos++;
                if ((rc = parse_int(r, &max)) < 0)
                    return rc;
            }
            if (peek(r) != '}' || (max >= 0 && max < min))
                return rfail(r, "bad repetition");
            r->pos--;  /* the '}' is consumed below */
        } else
            break;
        r->pos++;
        rep = node(r, R_REP);
        if (!rep || (rc = add_kid(rep, atom)) < 0)
            return CAIRN_ENOMEM;
        rep->min = min;
        rep->max = max;
        rep->greedy = 1;
        if (peek(r) == '?') {
            rep->greedy = 0;
            r->pos++;
        } else if (peek(r) == '+') {
            r->pos++;  /* possessive: treated as greedy */
        }
        atom = rep;
    }
    *out = atom;
    return 0;
}

static int parse_cat(rparse *r, rnode **out)
{
    rnode *cat = node(r, R_CAT);
    int rc;
    if (!cat)
        return CAIRN_ENOMEM;
    while (r->pos < r->len && peek(r) != '|' && peek(r) != ')') {
        rnode *piece = NULL;
        if ((rc = parse_piece(r, &piece)) < 0)
            return rc;
        if ((rc = add_kid(cat, piece)) < 0)
            return rc;
    }
    *out = cat;
    return 0;
}

static int parse_alt(rparse *r, rnode **out)
{
    rnode *first, *alt;
    int rc;
    if ((rc = parse_cat(r, &first)) < 0)
        return rc;
    if (peek(r) != '|') {
        *out = first;
        return 0;
    }
    alt = node(r, R_ALT);
    if (!alt || (rc = add_kid(alt, first)) < 0)
        return CAIRN_ENOMEM;
    while (peek(r) == '|') {
        rnode *next;
        r->pos++;
        if ((rc = parse_cat(r, &next)) < 0 || (rc = add_kid(alt, next)) < 0)
            return rc;
    }
    *out = alt;
    return 0;
}

void cairn_query__regex_free(qregex *re)
{
    if (!re)
        return;
    for (int i = 0; i < re->nall; i++) {
        cairn_free(re->all[i]->kids);
        cairn_free(re->all[i]->ranges);
        cairn_free(re->all[i]);
    }
    cairn_free(re->all);
    cairn_free(re->src);
    cairn_free(re);
}

int cairn_query__regex_compile(qregex **out, const char *pat, size_t len, cairn_error *err)
{
    qregex *re = cairn_malloc(sizeof *re);
    rparse r;
    int rc;
    if (!re)
        return cairn_error_oom(err);
    memset(re, 0, sizeof *re);
    memset(&r, 0, sizeof r);
    r.re = re;
    r.p = pat;
    r.len = len;
    r.err = err;
    if (len >= 4 && memcmp(pat, "(?i)", 4) == 0) {
        re->icase = 1;
        r.pos = 4;
    }
    rc = parse_alt(&r, &re->root);
    if (rc == 0 && r.pos < r.len)
        rc = rfail(&r, "unmatched closing ')'");
    if (rc == 0 && !(re->src = cairn_strndup(pat, len)))
        rc = CAIRN_ENOMEM;
    if (rc < 0) {
        cairn_query__regex_free(re);
        return rc == CAIRN_ENOMEM ? cairn_error_oom(err) : rc;
    }
    re->src_len = len;
    *out = re;
    return 0;
}

int cairn_query__regex_ngroups(const qregex *re)
{
    return re->ngroups;
}


/* ---- matching ---------------------------------------------------------------------- */

enum { K_SEQ = 1, K_GROUP, K_REP, K_LOOK };

typedef struct kont {
    int kind;                  /* K_* */
    const rnode *n;            /* the node continued */
    int i;                     /* SEQ: next child; REP: iterations so far */
    size_t start;              /* REP: where this iteration started; GROUP: group start */
    const struct kont *next;   /* then */
} kont;

typedef struct mctx {
    const qregex *re;          /* the pattern */
    const char *s;             /* the subject */
    size_t len;                /* its length */
    int full;                  /* must end at len */
    long *groups;              /* 2 per group + whole */
    size_t end;                /* end of the match */
    long steps;                /* budget */
    int depth;                 /* recursion */
    int err;                   /* budget exceeded */
} mctx;

#define STEP_BUDGET 5000000L
#define DEPTH_BUDGET 6000

static int m(mctx *c, const rnode *n, size_t pos, const kont *k);

static int is_word(uint32_t cp)
{
    return (cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9') || cp == '_';
}

static uint32_t fold(const mctx *c, uint32_t cp)
{
    if (c->re->icase && cp >= 'A' && cp <= 'Z')
        return cp + 32;
    return cp;
}

static int class_has(const mctx *c, const rnode *n, uint32_t cp)
{
    int in = 0;
    for (int i = 0; i < n->nranges && !in; i++) {
        uint32_t lo = n->ranges[i].lo, hi = n->ranges[i].hi;
        in = cp >= lo && cp <= hi;
        if (!in && c->re->icase) {
            uint32_t alt = cp >= 'a' && cp <= 'z' ? cp - 32 : cp >= 'A' && cp <= 'Z' ? cp + 32 : cp;
            in = alt >= lo && alt <= hi;
        }
    }
    for (int i = 0; i < n->nkids && !in; i++)
        in = class_has(c, n->kids[i], cp);
    return n->negated ? !in : in;
}

/* Matches one character at pos with a single-char node: bytes used, 0 = no. */
static size_t one(const mctx *c, const rnode *n, size_t pos)
{
    uint32_t cp;
    size_t k;
    if (pos >= c->len)
        return 0;
    k = cairn_utf8_decode(c->s + pos, c->len - pos, &cp);
    if (!k)
        return 0;
    switch (n->kind) {
    case R_CHAR: return fold(c, cp) == fold(c, n->cp) ? k : 0;
    case R_ANY: return cp != '\n' && cp != '\r' && cp != 0x85 && cp != 0x2028 && cp != 0x2029 ? k : 0;
    case R_CLASS: return class_has(c, n, cp) ? k : 0;
    default: return 0;
    }
}

static int single(const rnode *n)
{
    return n->kind == R_CHAR || n->kind == R_ANY || n->kind == R_CLASS;
}

static size_t prev_cp(const mctx *c, size_t pos)
{
    if (pos == 0)
        return 0;
    pos--;
    while (pos > 0 && (((unsigned char)c->s[pos]) & 0xc0) == 0x80)
        pos--;
    return pos;
}

static int word_at(const mctx *c, size_t pos)
{
    uint32_t cp;
    return pos < c->len && cairn_utf8_decode(c->s + pos, c->len - pos, &cp) && is_word(cp);
}

/* Runs the continuation k from pos. */
static int mk(mctx *c, size_t pos, const kont *k)
{
    if (!k) {
        if (c->full && pos != c->len)
            return 0;
        c->end = pos;
        return 1;
    }
    switch (k->kind) {
    case K_SEQ: {
        kont k2;
        if (k->i >= k->n->nkids)
            return mk(c, pos, k->next);
        k2 = *k;
        k2.i++;
        return m(c, k->n->kids[k->i], pos, &k2);
    }
    case K_GROUP: {
        long *g = &c->groups[2 * k->n->group];
        long os = g[0], oe = g[1];
        g[0] = (long)k->start;
        g[1] = (long)pos;
        if (mk(c, pos, k->next))
            return 1;
        g[0] = os;
        g[1] = oe;
        return 0;
    }
    case K_LOOK:
        c->end = pos;
        return 1;
    default: { /* K_REP: one more iteration done */
        const rnode *n = k->n;
        int count = k->i + 1;
        kont k2;
        if (pos == k->start && count > n->min)
            return 0;  /* an empty iteration cannot help */
        k2 = *k;
        k2.i = count;
        k2.start = pos;
        if (n->max >= 0 && count >= n->max)
            return mk(c, pos, k->next);
        if (count < n->min)
            return m(c, n->kids[0], pos, &k2);
        if (n->greedy) {
            if (m(c, n->kids[0], pos, &k2))
                return 1;
            return !c->err && mk(c, pos, k->next);
        }
        if (mk(c, pos, k->next))
            return 1;
        return !c->err && m(c, n->kids[0], pos, &k2);
    }
    }
}

/* A repetition of a single-character node, as a loop. */
static int rep_single(mctx *c, const rnode *n, size_t pos, const kont *next)
{
    const rnode *kid = n->kids[0];
    size_t p = pos, k;
    int count = 0;
    if (n->greedy) {
        while ((n->max < 0 || count < n->max) && (k = one(c, kid, p)) != 0) {
            p += k;
            count++;
            if (++c->steps > STEP_BUDGET) {
                c->err = 1;
                return 0;
            }
        }
        for (;;) {
            if (count < n->min)
                return 0;
            if (mk(c, p, next))
                return 1;
            if (c->err || count == 0)
                return 0;
            p = prev_cp(c, p);
            count--;
        }
    }
    for (;;) {
        if (count >= n->min && mk(c, p, next))
            return 1;
        if (c->err || (n->max >= 0 && count >= n->max) || !(k = one(c, kid, p)))
            return 0;
        p += k;
        count++;
        if (++c->steps > STEP_BUDGET) {
            c->err = 1;
            return 0;
        }
    }
}

static int m(mctx *c, const rnode *n, size_t pos, const kont *k)
{
    int r;
    if (++c->steps > STEP_BUDGET || c->depth > DEPTH_BUDGET) {
        c->err = 1;
        return 0;
    }
    c->depth++;
    switch (n->kind) {
    case R_CHAR:
    case R_ANY:
    case R_CLASS: {
        size_t used = one(c, n, pos);
        r = used ? mk(c, pos + used, k) : 0;
        break;
    }
    case R_BOL:
    case R_BOI:
        r = pos == 0 ? mk(c, pos, k) : 0;
        break;
    case R_EOL:
    case R_EOIZ:
        r = (pos == c->len || (pos + 1 == c->len && c->s[pos] == '\n')) ? mk(c, pos, k) : 0;
        break;
    case R_EOI:
        r = pos == c->len ? mk(c, pos, k) : 0;
        break;
    case R_WORDB:
    case R_NWORDB: {
        int before = pos > 0 && word_at(c, prev_cp(c, pos)), after = word_at(c, pos);
        r = ((before != after) == (n->kind == R_WORDB)) ? mk(c, pos, k) : 0;
        break;
    }
    case R_CAT: {
        kont k2 = { K_SEQ, n, 0, 0, k };
        r = mk(c, pos, &k2);
        break;
    }
    case R_NCGROUP:
        r = m(c, n->kids[0], pos, k);
        break;
    case R_GROUP: {
        kont k2 = { K_GROUP, n, 0, pos, k };
        r = m(c, n->kids[0], pos, &k2);
        break;
    }
    case R_ALT:
        r = 0;
        for (int i = 0; i < n->nkids && !r && !c->err; i++)
            r = m(c, n->kids[i], pos, k);
        break;
    case R_REP:
        if (single(n->kids[0])) {
            r = rep_single(c, n, pos, k);
        } else {
            kont k2 = { K_REP, n, -1, (size_t)-1, k };
            /* enter as if an iteration just ended at pos, with count -1 + 1 = 0 */
            r = mk(c, pos, &k2);
        }
        break;
    case R_BACKREF: {
        long gs = n->group <= c->re->ngroups ? c->groups[2 * n->group] : -1;
        long ge = n->group <= c->re->ngroups ? c->groups[2 * n->group + 1] : -1;
        size_t l;
        if (gs < 0) {
            r = 0;
            break;
        }
        l = (size_t)(ge - gs);
        r = pos + l <= c->len && memcmp(c->s + gs, c->s + pos, l) == 0 ? mk(c, pos + l, k) : 0;
        break;
    }
    case R_LOOK: {
        kont k2 = { K_LOOK, n, 0, 0, NULL };
        size_t save_end = c->end;
        int save_full = c->full, found;
        c->full = 0;
        found = m(c, n->kids[0], pos, &k2);
        c->full = save_full;
        c->end = save_end;
        r = (found != n->negated) && !c->err ? mk(c, pos, k) : 0;
        break;
    }
    default:
        r = mk(c, pos, k);
        break;
    }
    c->depth--;
    return r;
}

int cairn_query__regex_exec(const qregex *re, const char *s, size_t len, size_t start, int anchored_full,
                            long *groups)
{
    mctx c;
    memset(&c, 0, sizeof c);
    c.re = re;
    c.s = s;
    c.len = len;
    c.full = anchored_full;
    c.groups = groups;
    for (size_t at = start; at <= len;) {
        for (int i = 0; i <= re->ngroups; i++)
            groups[2 * i] = groups[2 * i + 1] = -1;
        c.depth = 0;
        if (m(&c, re->root, at, NULL)) {
            groups[0] = (long)at;
            groups[1] = (long)c.end;
            return 1;
        }
        if (c.err)
            return CAIRN_ELIMIT;
        if (anchored_full || at == len)
            break;
        {
            uint32_t cp;
            size_t k = cairn_utf8_decode(s + at, len - at, &cp);
            at += k ? k : 1;
        }
    }
    return 0;
}
