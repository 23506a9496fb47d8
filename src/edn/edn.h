/*
 * The EDN layer's internal interface for the layers above it (query results,
 * transaction reports, the CLI and server): printing into a caller's buffer,
 * so a result of many values becomes one buffer without a copy per value,
 * and the syntax check the printers and fuzzers use for names.
 */
#ifndef CAIRN_EDN_EDN_H
#define CAIRN_EDN_EDN_H

#include "base/buf.h"
#include "edn/value.h"

/* Appends v as cairn_edn_print would print it. 0 or CAIRN_ENOMEM (b->oom set). */
int cairn_edn__print_buf(cairn_buf *b, cairn_val v);

/* Appends v as cairn_json_print would print it. 0 or CAIRN_ENOMEM. */
int cairn_json__print_buf(cairn_buf *b, cairn_val v);

/*
 * 1 when text (without a keyword's leading ':') is a name the EDN reader
 * reads back as a KEYWORD or SYMBOL (kind) of the same text; names that fail
 * this still print, raw, as Clojure prints them.
 */
int cairn_edn__name_ok(cairn_type kind, const char *text, size_t len);

#endif
