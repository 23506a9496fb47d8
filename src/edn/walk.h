/*
 * A non-recursive walk over a value tree, for the printers. It yields every
 * value once, in print order, with the container it sits in and its position
 * there; a printer that wants a container's children calls cairn_walk_enter,
 * and later gets a CLOSE event for it. A printer that prints a container in
 * one piece (JSON map keys) simply does not enter it.
 *
 * The stack holds one frame per open container and is sized from the root's
 * recorded depth, which the value model keeps at most CAIRN_MAX_DEPTH, so a
 * walk never recurses and never grows.
 */
#ifndef CAIRN_EDN_WALK_H
#define CAIRN_EDN_WALK_H

#include "base/buf.h"
#include "edn/value.h"

typedef struct cairn_walk_frame {
    cairn_val v;   /* the container (borrowed) */
    size_t next;   /* next child to yield */
    size_t n;      /* children: elements, 2 * entries for a MAP, 1 for TAGGED */
} cairn_walk_frame;

typedef struct cairn_walk {
    cairn_walk_frame *stack;       /* open containers, innermost last */
    size_t depth;                  /* open containers */
    cairn_val root;                /* the root until yielded */
    int root_pending;              /* 1 until the root was yielded */
    cairn_walk_frame local[16];    /* stack storage for shallow values */
} cairn_walk;

enum {
    CAIRN_WALK_DONE = 0,  /* nothing left */
    CAIRN_WALK_VALUE,     /* a value to print */
    CAIRN_WALK_CLOSE      /* the end of an entered container */
};

/* 0 or CAIRN_ENOMEM (deep values need a heap stack). */
int cairn_walk_init(cairn_walk *w, cairn_val root);
void cairn_walk_dispose(cairn_walk *w);

/*
 * The next event. VALUE: *v is the value, *parent its container (NIL at the
 * top) and *index its position there (MAP: 2i for the key of entry i, 2i+1
 * for its value). CLOSE: *v is the container that ends.
 */
int cairn_walk_next(cairn_walk *w, cairn_val *v, cairn_val *parent, size_t *index);

/* After a VALUE event for a collection or TAGGED value: walk into it. */
void cairn_walk_enter(cairn_walk *w, cairn_val v);

/*
 * A printer as a set of emitters; cairn_walk_print drives them over a value
 * so the EDN and JSON printers share one walk loop.
 */
typedef struct cairn_printer {
    void (*open)(cairn_buf *b, cairn_val v);       /* a container starts */
    void (*close)(cairn_buf *b, cairn_val v);      /* ... and ends */
    void (*scalar)(cairn_buf *b, cairn_val v);     /* any other value */
    void (*separator)(cairn_buf *b, cairn_val parent, size_t index);  /* before child index > 0 */
    void (*key)(cairn_buf *b, cairn_val k);        /* a map key, whole; NULL: like any value */
} cairn_printer;

/* Appends root to b with pr. 0 or CAIRN_ENOMEM (b->oom set). */
int cairn_walk_print(cairn_buf *b, cairn_val root, const cairn_printer *pr);

/* Runs print_buf into a fresh buffer and hands it out NUL-terminated, as
 * cairn_edn_print and cairn_json_print do. 0 or CAIRN_ENOMEM. */
int cairn_walk_print_str(char **out, size_t *out_len, cairn_val v,
                         int (*print_buf)(cairn_buf *b, cairn_val v));

/* 1 when v has children a walk can enter (collections, TAGGED). */
static inline int cairn_walk_is_container(cairn_val v)
{
    return cairn_val_is_coll(v) || v.type_ == CAIRN_TAGGED;
}

#endif
