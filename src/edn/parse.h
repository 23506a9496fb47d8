/*
 * The machinery the EDN reader (read.c) and the JSON reader (json.c) share:
 * input position, limits, error reporting with line and column, an explicit
 * stack of open collections and a stack of finished values, and the scalar
 * scanners both grammars need (string bodies, integers, keywords).
 *
 * Readers here never recurse. An opening bracket pushes a frame, a finished
 * value is pushed on the value stack, and a closing bracket turns the values
 * above its frame's base into one collection. Input can therefore nest only
 * as deep as limits.max_depth allows, and exceeding it is a clean
 * CAIRN_ELIMIT whatever the C stack size (a recursive-descent reader would
 * need max_depth C frames and crash on hostile input long before 10^6).
 *
 * Line and column are not tracked while reading (that would cost every
 * byte); an error computes them once, by counting from the start of the
 * text. Columns count characters (UTF-8 code points), from 1.
 */
#ifndef CAIRN_EDN_PARSE_H
#define CAIRN_EDN_PARSE_H

#include "edn/value.h"

/* A finished value waiting for its collection to close. */
typedef struct cairn_item {
    cairn_val v;   /* owned */
    size_t at;     /* byte offset where it started, for errors */
} cairn_item;

/* Kinds of open frames. */
enum {
    CAIRN_FRAME_LIST = 1,   /* ( */
    CAIRN_FRAME_VECTOR,     /* [ */
    CAIRN_FRAME_MAP,        /* { or #:ns{ */
    CAIRN_FRAME_SET,        /* #{ */
    CAIRN_FRAME_TAG,        /* #tag, waiting for its value */
    CAIRN_FRAME_ARRAY,      /* JSON [ */
    CAIRN_FRAME_OBJECT      /* JSON { */
};

/* An open collection or tag. */
typedef struct cairn_frame {
    uint8_t kind;        /* CAIRN_FRAME_* */
    uint8_t raw;         /* JSON: array may be a !set payload: not untagged yet */
    uint8_t raw_child;   /* JSON: its second element is such an array */
    uint8_t state;       /* JSON: what may come next (json.c) */
    uint32_t discards;   /* EDN: pending #_ at this level */
    size_t at;           /* byte offset of the opening character */
    size_t base;         /* first value of this frame on the value stack */
    cairn_val tag;       /* TAG: the tag symbol */
    size_t ns_at;        /* #:ns{ maps: offset of ns in the text, else 0 */
    size_t ns_len;       /* ... and its length (0: plain map) */
} cairn_frame;

#define CAIRN_IDENT_CACHE 256

typedef struct cairn_parse {
    const char *text;         /* input, not NUL-terminated */
    size_t len;               /* bytes of input */
    size_t pos;               /* next byte to read */
    cairn_read_limits lim;    /* limits in force */
    size_t elements;          /* values made in the current read */
    cairn_item *items;        /* value stack */
    size_t item_count;        /* values on it */
    size_t item_cap;          /* room */
    cairn_frame *frames;      /* open frames, innermost last */
    size_t frame_count;       /* open frames */
    size_t frame_cap;         /* room */
    size_t nesting;           /* open frames + pending discards: the depth in force */
    cairn_error *err;         /* where errors go (may be NULL) */
    const cairn_ident *idents[CAIRN_IDENT_CACHE];  /* recent keywords/symbols */
} cairn_parse;

/* Starts p on text; limits may be NULL (defaults), and max_depth is capped
 * at CAIRN_MAX_DEPTH. 0 or CAIRN_EINVALID (bad limits version). */
int cairn_parse_init(cairn_parse *p, const char *text, size_t len, const cairn_read_limits *limits);
/* Releases every value still on the stacks and frees them. */
void cairn_parse_dispose(cairn_parse *p);
/* Releases what an unfinished read left on the stacks (after an error). */
void cairn_parse_reset(cairn_parse *p);

/* Fills p->err with code, a message and the line/column of byte offset at;
 * returns code. */
int cairn_parse_fail(cairn_parse *p, int code, size_t at, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* CAIRN_ENOMEM (message never allocates). */
int cairn_parse_oom(cairn_parse *p);
/* Maps a status from the value model to an error at offset at. */
int cairn_parse_status(cairn_parse *p, int rc, size_t at, const char *what);
/* Computes the 1-based line and column of byte offset at. */
void cairn_parse_position(const cairn_parse *p, size_t at, int *line, int *column);

/* Counts one more value against max_elements. */
static inline int cairn_parse_count(cairn_parse *p, size_t at)
{
    if (CAIRN_UNLIKELY(++p->elements > p->lim.max_elements))
        return cairn_parse_fail(p, CAIRN_ELIMIT, at, "more than %zu values (max_elements)",
                                p->lim.max_elements);
    return 0;
}

/* Pushes a frame (checks max_depth). */
int cairn_parse_open(cairn_parse *p, int kind, size_t at);
/* Pushes v (consumed, even on failure). */
int cairn_parse_push(cairn_parse *p, cairn_val v, size_t at);
/*
 * Closes the innermost frame: the values above its base become a LIST,
 * VECTOR, SET or MAP (type t) in *out, and the frame is popped. Duplicate
 * set elements and map keys are errors at the duplicate's position; a map
 * needs an even number of forms (error at close_at).
 */
int cairn_parse_close(cairn_parse *p, cairn_val *out, cairn_type t, size_t close_at);

/*
 * Reads a string body; p->pos is just after the opening quote, and is left
 * after the closing quote. json selects JSON's rules (escape \/, no raw
 * control characters) over EDN's. Surrogate pairs in \u escapes are
 * combined, lone surrogates and invalid UTF-8 are errors.
 */
int cairn_parse_string(cairn_parse *p, cairn_val *out, int json);

/* A keyword or symbol from text (cached; checks max_string_len). */
int cairn_parse_ident(cairn_parse *p, cairn_val *out, cairn_type kind, const char *text,
                      size_t len, size_t at);

/* An integer from [+-]?digits text: INT, or BIGINT when it does not fit or
 * when big is set. Checks max_digits. */
int cairn_parse_integer(cairn_parse *p, cairn_val *out, const char *s, size_t len, int big,
                        size_t at);

#endif
