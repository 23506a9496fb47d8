/*
 * Pull patterns, as the layers above (the query engine's (pull ?e pattern)
 * in :find, the CLI, the server) use them: parse a pattern once against a
 * database's schema, then evaluate it for many entities.
 */
#ifndef CAIRN_PULL_PULL_H
#define CAIRN_PULL_PULL_H

#include "db/db.h"

typedef struct cairn_pull_pattern cairn_pull_pattern;

/*
 * Parses pattern (Datahike's pull grammar) for db. Errors carry
 * ":parser/pull" (bad syntax) with a message naming the offending spec.
 */
int cairn_pull_pattern_parse(cairn_pull_pattern **out, const cairn_db *db, cairn_val pattern, cairn_error *err);

/* Pulls the entity eid (an id) with a parsed pattern: *out is a map, or nil
 * when nothing matches. Thread-safe: a pattern may be shared by threads. */
int cairn_pull_pattern_eval(cairn_val *out, const cairn_pull_pattern *p, const cairn_db *db, int64_t eid,
                            cairn_error *err);

void cairn_pull_pattern_free(cairn_pull_pattern *p);

#endif
