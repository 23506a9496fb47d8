/* The demo of `make run`: the files of cli/demo load, the history they make is
 * there, and the three example queries run in the shell (answers checked
 * once the query engine answers; until then its one-line error). */
#include <stdlib.h>

#include "test.h"
#include "cli/cli_run.h"

/* <repo>/cli/demo, from <repo>/build/<cfg>/cairn. */
static const char *demo_dir(void)
{
    static char path[1200];
    snprintf(path, sizeof path, "%s", cli_bin());
    for (int i = 0; i < 3; i++)
        *strrchr(path, '/') = 0;
    strcat(path, "/cli/demo");
    return path;
}

static void load_demo(const char *db)
{
    static const char *const files[] = { "01-schema.edn", "02-people.edn", "03-projects.edn",
                                         "04-growth.edn", "05-kernel.edn", "06-alan-leaves.edn" };
    cli_result r;
    CAIRN(&r, NULL, "create", db);
    CHECK_EQ(r.status, 0);
    cli_result_free(&r);
    for (size_t i = 0; i < sizeof files / sizeof *files; i++) {
        char arg[1400];
        snprintf(arg, sizeof arg, "@%s/%s", demo_dir(), files[i]);
        CAIRN(&r, NULL, "transact", db, arg);
        CHECK_MSG(r.status == 0, "%s: %s", files[i], r.err);
        cli_result_free(&r);
    }
}

void test_cli_demo__loads_with_dated_history(void)
{
    char db[1100], asof[1200];
    cli_result r;
    snprintf(db, sizeof db, "%s/demo", test_tmpdir());
    load_demo(db);
    CAIRN(&r, NULL, "log", db);
    CHECK(strstr(r.out, ":max-tx 536870918, :txs 1, :instant #inst \"2024-09-30T17:00:00.000-00:00\"") != NULL);
    cli_result_free(&r);
    /* Alan (entity 13) is gone now, but the history and the past keep him */
    CAIRN(&r, NULL, "datoms", db, ":avet", ":person/name", "\"Alan\"");
    CHECK_STR(r.out, "");
    cli_result_free(&r);
    snprintf(asof, sizeof asof, "asof:2024-01-01:%s", db);
    CAIRN(&r, NULL, "datoms", asof, ":avet", ":person/name", "\"Alan\"");
    CHECK_STR(r.out, "#datahike/Datom [13 :person/name \"Alan\" 536870914 true]\n");
    cli_result_free(&r);
    CAIRN(&r, NULL, "history", db, "[:person/name \"Ken\"]", ":person/manager");
    CHECK_STR(r.out, "#datahike/Datom [18 :person/manager 14 536870914 true]\n"
                     "#datahike/Datom [18 :person/manager 14 536870917 false]\n"
                     "#datahike/Datom [18 :person/manager 12 536870917 true]\n");
    cli_result_free(&r);
    CAIRN(&r, NULL, "check", db);
    CHECK_EQ(r.status, 0);
    cli_result_free(&r);
}

void test_cli_demo__example_queries_run_in_the_shell(void)
{
    char db[1100], examples[1300];
    char *script;
    cli_result r;
    snprintf(db, sizeof db, "%s/demo", test_tmpdir());
    load_demo(db);
    snprintf(examples, sizeof examples, "%s/examples.cairn", demo_dir());
    script = cli_slurp(examples, NULL);
    CHECK(script != NULL);
    /* from the directory holding ./demo, as make run does */
    cli_exec(&r, test_tmpdir(), script, (const char *const[]){ "shell", "demo", NULL });
    CHECK_EQ(r.status, 0);
    CHECK_MSG(r.err[0] == 0, "%s", r.err);
    CHECK(strstr(r.out, "\"Compiler\" {:person/name \"Grace\", :person/title \"Head of Compilers\"}") != NULL);
    CHECK(strstr(r.out, "\"Linus\"") && strstr(r.out, "\"Ken\"") && strstr(r.out, "\"Margaret\""));
    CHECK(strstr(r.out, "[:active 3 410000]") != NULL);
    cli_result_free(&r);
    free(script);
}
