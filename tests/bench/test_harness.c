/*
 * bench/cairn_bench.c: the harness builds, runs on a tiny data set (50
 * people) and never reports a time for an answer it could not check.
 *
 * The queries file is made here: q1 with the answer computed naively from
 * the data, and the same query with a wrong expected hash. Whatever the query
 * engine can do at the time, the right one is either timed and "ok" or "not
 * available", and the wrong one is never timed. The API-level reads and the
 * load work today, so they must come out "ok" with a time.
 */
#include <stdlib.h>
#include <sys/wait.h>

#include "test.h"
#include "cairn.h"
#include "../../bench/lib/canon.h"
#include "../../bench/lib/data.h"

/* build/<cfg>/tools/x -> build/rel/bench/cairn_bench */
static const char *harness(void)
{
    static char path[4096];
    const char *tool = test_tool("x");
    size_t len = strlen(tool) - strlen("/tools/x");
    snprintf(path, sizeof path, "%.*s/../rel/bench/cairn_bench", (int)len, tool);
    return path;
}

/* The expected signature of q1 on the people file, computed naively. */
static void q1_sig(bench_sig *out, const char *people)
{
    bench_forms *f;
    cairn_val e, name, id, rows;
    CHECK_OK(cairn_set_new(&rows, 4));
    CHECK_EQ(bench_forms_open(&f, people), 0);
    while (bench_forms_next(f, &e)) {
        size_t len;
        if (cairn_map_get(&name, e, bench_kw("name")) && !strcmp(cairn_str_get(name, &len), "Ivan")) {
            cairn_val t;
            CHECK_OK(cairn_vector_new(&t, 1));
            CHECK(cairn_map_get(&id, e, bench_kw("db/id")));
            CHECK_OK(cairn_coll_push(&t, id));
            CHECK_OK(cairn_coll_push_take(&rows, t));
        }
        cairn_release(e);
    }
    bench_forms_close(f);
    bench_sig_q(out, rows);
    cairn_release(rows);
}

static void write_queries(const char *path, const bench_sig *right)
{
    FILE *f = fopen(path, "w");
    CHECK(f != NULL);
    fprintf(f, "{:n 50 :datoms 0 :queries [\n"
               " {:id \"q1\" :group :query :db \"people\" :kind :q :query [:find ?e :where [?e :name \"Ivan\"]]"
               " :args [] :expected {:count %zu :sha256 \"%s\"}}\n"
               " {:id \"q1-wrong\" :group :query :db \"people\" :kind :q :query [:find ?e :where [?e :name \"Ivan\"]]"
               " :args [] :expected {:count %zu :sha256 \"%064d\"}}\n"
               " {:id \"pull-1\" :group :pull :db \"people\" :kind :pull :query [:name] :args [1]"
               " :expected {:count 1 :sha256 \"%064d\"}}]}\n",
            right->count, right->sha256, right->count, 0, 0);
    CHECK_EQ(fclose(f), 0);
}

/* The output line of bench id, or NULL. */
static char *line_of(char *out, const char *id)
{
    char key[128];
    snprintf(key, sizeof key, "{\"bench\":\"%s\",", id);
    for (char *l = out; l && *l;) {
        char *end = strchr(l, '\n');
        if (!strncmp(l, key, strlen(key))) {
            if (end)
                *end = '\0';
            return l;
        }
        l = end ? end + 1 : NULL;
    }
    return NULL;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long len;
    CHECK(f != NULL);
    fseek(f, 0, SEEK_END);
    len = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = calloc(1, (size_t)len + 1);
    CHECK(buf != NULL);
    CHECK_EQ(fread(buf, 1, (size_t)len, f), (size_t)len);
    fclose(f);
    return buf;
}

static void check_line(const char *path, const char *id, const char *const *statuses, int timed_if_ok)
{
    char *out = slurp(path), *l = line_of(out, id);
    int match = 0;
    CHECK_MSG(l != NULL, "no line for %s", id);
    for (int i = 0; statuses[i]; i++) {
        char want[64];
        snprintf(want, sizeof want, "\"status\":\"%s\"", statuses[i]);
        match |= strstr(l, want) != NULL;
    }
    CHECK_MSG(match, "%s: unexpected status: %s", id, l);
    int timed = strstr(l, "\"median_ms\"") != NULL, ok = strstr(l, "\"status\":\"ok\"") != NULL;
    CHECK_MSG(timed == (ok && timed_if_ok), "%s: a time %s: %s", id, timed ? "where none belongs" : "is missing", l);
    free(out);
}

void test_bench_harness__times_only_checked_answers_on_a_tiny_data_set(void)
{
    char people[512], queries[512], out[512], cmd[4096];
    const char *schema_dir = test_shared_dir();
    bench_sig right;
    snprintf(people, sizeof people, "%s/people-50.edn", test_tmpdir());
    snprintf(queries, sizeof queries, "%s/queries-50.edn", test_tmpdir());
    snprintf(out, sizeof out, "%s/out.jsonl", test_tmpdir());
    CHECK_EQ(bench_people_write(people, 50, 42, NULL), 0);
    q1_sig(&right, people);
    write_queries(queries, &right);
    snprintf(cmd, sizeof cmd,
             "%s --people %s --queries %s --graphs %s --schema %s/bench/data/schema.edn --dir %s/stores "
             "--samples 1 --warmup-ms 0 --sample-ms 0 --tx-seconds 0.2 --tx-count 20 --retract-count 5 "
             "--threads 1,4 --cold-runs 1 --out %s > /dev/null 2>&1",
             harness(), people, queries, test_tmpdir(), schema_dir, test_tmpdir(), out);
    int rc = system(cmd);
    CHECK_MSG(WIFEXITED(rc) && WEXITSTATUS(rc) == 0, "the harness failed: %s", cmd);
    static const char *const ok[] = { "ok", NULL };
    static const char *const ok_or_na[] = { "ok", "unavailable", NULL };
    static const char *const never_ok[] = { "wrong", "unavailable", NULL };
    check_line(out, "bulk-load-1000", ok, 1);
    check_line(out, "datoms-eavt-2000", ok, 1);
    check_line(out, "datoms-avet-2000", ok, 1);
    check_line(out, "datoms-aevt-scan-age", ok, 1);
    check_line(out, "tx-entity", ok, 1);
    check_line(out, "size-on-disk", ok, 0);
    check_line(out, "q1", ok_or_na, 1);
    check_line(out, "cold-open-q1", ok_or_na, 1);
    check_line(out, "q1-wrong", never_ok, 1);
    check_line(out, "pull-1", never_ok, 1);
    check_line(out, "entity-1000", ok_or_na, 1);
}
