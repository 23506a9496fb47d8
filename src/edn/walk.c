/*
 * The non-recursive value walk (see walk.h).
 */
#include "edn/walk.h"

#include "base/alloc.h"

int cairn_walk_init(cairn_walk *w, cairn_val root)
{
    size_t need = (size_t)cairn_val_depth(root) + 1;
    w->stack = w->local;
    if (need > CAIRN_ARRAY_LEN(w->local) &&
        !(w->stack = cairn_malloc(cairn_mul_size(need, sizeof *w->stack))))
        return CAIRN_ENOMEM;
    w->depth = 0;
    w->root = root;
    w->root_pending = 1;
    return 0;
}

void cairn_walk_dispose(cairn_walk *w)
{
    if (w->stack != w->local)
        cairn_free(w->stack);
    w->stack = NULL;
}

static cairn_val child(cairn_val c, size_t i)
{
    if (c.type_ == CAIRN_TAGGED)
        return cairn_tagged_value_get(c);
    return cairn_val_coll(c)->items[i];
}

int cairn_walk_next(cairn_walk *w, cairn_val *v, cairn_val *parent, size_t *index)
{
    cairn_walk_frame *f;
    if (w->root_pending) {
        w->root_pending = 0;
        *v = w->root;
        *parent = cairn_nil();
        *index = 0;
        return CAIRN_WALK_VALUE;
    }
    if (w->depth == 0)
        return CAIRN_WALK_DONE;
    f = &w->stack[w->depth - 1];
    if (f->next == f->n) {
        *v = f->v;
        w->depth--;
        return CAIRN_WALK_CLOSE;
    }
    *index = f->next;
    *parent = f->v;
    *v = child(f->v, f->next++);
    return CAIRN_WALK_VALUE;
}

void cairn_walk_enter(cairn_walk *w, cairn_val v)
{
    cairn_walk_frame *f = &w->stack[w->depth++];
    f->v = v;
    f->next = 0;
    if (v.type_ == CAIRN_TAGGED)
        f->n = 1;
    else
        f->n = cairn_val_coll(v)->count * (v.type_ == CAIRN_MAP ? 2 : 1);
}

int cairn_walk_print(cairn_buf *b, cairn_val root, const cairn_printer *pr)
{
    cairn_walk w;
    cairn_val v, parent;
    size_t i;
    int ev;
    if (cairn_walk_init(&w, root) < 0) {
        b->oom = 1;
        return CAIRN_ENOMEM;
    }
    while ((ev = cairn_walk_next(&w, &v, &parent, &i)) != CAIRN_WALK_DONE && !b->oom) {
        if (ev == CAIRN_WALK_CLOSE) {
            pr->close(b, v);
            continue;
        }
        if (i > 0)
            pr->separator(b, parent, i);
        if (pr->key && parent.type_ == CAIRN_MAP && i % 2 == 0) {
            pr->key(b, v);
        } else if (cairn_walk_is_container(v)) {
            pr->open(b, v);
            cairn_walk_enter(&w, v);
        } else {
            pr->scalar(b, v);
        }
    }
    cairn_walk_dispose(&w);
    return b->oom ? CAIRN_ENOMEM : 0;
}

int cairn_walk_print_str(char **out, size_t *out_len, cairn_val v,
                         int (*print_buf)(cairn_buf *b, cairn_val v))
{
    cairn_buf b = CAIRN_BUF_INIT;
    char *s;
    if (print_buf(&b, v) < 0 || !(s = cairn_buf_detach(&b, out_len))) {
        cairn_buf_dispose(&b);
        return CAIRN_ENOMEM;
    }
    *out = s;
    return 0;
}
