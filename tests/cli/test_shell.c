/* cairn shell: scripts on stdin, and a real pseudo-terminal (forkpty) for
 * line editing, tab completion, multi-line input, timing and the history
 * file. */
#include <stdlib.h>
#include <time.h>

#include "test.h"
#include "cli/cli_run.h"

static const char *small_db(void)
{
    const char *db = cli_path("db");
    cli_result r;
    CAIRN(&r, NULL, "create", db);
    CHECK_EQ(r.status, 0);
    cli_result_free(&r);
    CAIRN(&r, NULL, "transact", db,
          "[{:db/ident :person/name :db/valueType :db.type/string :db/cardinality :db.cardinality/one"
          "  :db/unique :db.unique/identity}"
          " {:db/ident :person/age :db/valueType :db.type/long :db/cardinality :db.cardinality/one}]");
    CHECK_EQ(r.status, 0);
    cli_result_free(&r);
    CAIRN(&r, NULL, "transact", db, "[{:person/name \"Ada\" :person/age 36}]");
    CHECK_EQ(r.status, 0);
    cli_result_free(&r);
    return db;
}

void test_cli_shell__script_runs_every_command_and_goes_on_after_errors(void)
{
    const char *db = small_db();
    cli_result r;
    CAIRN(&r,
          "schema\n"
          "datoms :eavt 3\n"
          "\n"
          "; a comment line\n"
          "transact [{:person/name \"Grace\"\n"
          "           :person/age 45}]\n"
          ".format table\n"
          "datoms :aevt :person/name\n"
          ".format edn\n"
          ".limit 1\n"
          "datoms :eavt\n"
          ".limit off\n"
          "nonsense\n"
          "datoms :nope\n"
          "history 3\n"
          "[:find ?n :where [?e :person/name ?n]]\n"
          "pull [*] 3\n"
          "shell\n"
          ".bogus\n"
          "datoms --format json :eavt 3 :person/age\n"
          ".quit\n"
          "schema\n",
          "shell", "--echo", db);
    CHECK_MSG(r.status == 0, "%d %s", r.status, r.err);
    CHECK(strstr(r.out, "cairn> schema\n{:person/name {:db/ident :person/name") != NULL);
    CHECK(strstr(r.out, "#datahike/Datom [3 :person/name \"Ada\" 536870914 true]\n") != NULL);
    /* multi-line entry, then its report */
    CHECK(strstr(r.out, "cairn> transact [{:person/name \"Grace\"\n           :person/age 45}]\n{:tx-data") != NULL);
    CHECK(strstr(r.out, "3  :person/name  Ada    536870914  true\n4  :person/name  Grace  536870915  true\n(2 rows)") !=
          NULL);
    CHECK(strstr(r.out, "cairn> datoms :eavt\n#datahike/Datom [1 :db/ident :person/name 536870913 true]\ncairn>") != NULL);
    CHECK(strstr(r.err, "unknown command 'nonsense'") != NULL);
    CHECK(strstr(r.err, ":datoms/index") != NULL);
    CHECK(strstr(r.out, "#datahike/Datom [3 :person/age 36 536870914 true]\n") != NULL);
    CHECK(strstr(r.err, "already in the shell") != NULL);
    CHECK(strstr(r.err, "unknown or incomplete dot command '.bogus'") != NULL);
    CHECK(strstr(r.out, "[3,[\"!kw\",\"person/age\"],36,536870914,true]\n") != NULL);
    /* nothing after .quit runs */
    CHECK(strstr(r.out, "cairn> .quit\n") && !strstr(strstr(r.out, "cairn> .quit\n"), "schema"));
    cli_result_free(&r);
}

void test_cli_shell__open_and_missing_database(void)
{
    const char *db = small_db();
    char script[1400];
    cli_result r;
    CAIRN(&r, "datoms :eavt 3\n", "shell");
    CHECK_EQ(r.status, 0);
    CHECK(strstr(r.err, "no database is open") != NULL);
    cli_result_free(&r);
    snprintf(script, sizeof script, ".open %s\ndatoms :eavt 3 :person/age\n.open %s\n", db, cli_path("nowhere"));
    CAIRN(&r, script, "shell");
    CHECK_EQ(r.status, 0);
    CHECK_STR(r.out, "#datahike/Datom [3 :person/age 36 536870914 true]\n");
    CHECK(strstr(r.err, ":db-does-not-exist") != NULL);
    cli_result_free(&r);
    /* a script on a database that is not there fails at once */
    CAIRN(&r, "schema\n", "shell", cli_path("nowhere"));
    CHECK_EQ(r.status, 1);
    CHECK(strstr(r.err, ":db-does-not-exist") != NULL);
    cli_result_free(&r);
    CAIRN(&r, "[:find ?e\n", "shell", db);
    CHECK(strstr(r.err, "input ended inside an unclosed form") != NULL);
    cli_result_free(&r);
}

/* libedit writes its history file vis(3)-encoded: \040 for a space. */
static void unvis(char *s)
{
    char *w = s;
    for (; *s; s++) {
        if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] && s[3]) {
            *w++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
            s += 3;
        } else {
            *w++ = *s;
        }
    }
    *w = 0;
}

void test_cli_shell__terminal_editing_completion_history(void)
{
    const char *db = small_db();
    char *hist;
    cli_pty p;
    size_t at;
    cli_pty_start(&p, (const char *const[]){ db, NULL });
    at = cli_pty_expect(&p, 0, "Type .help for help", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    /* a command, with its timing */
    cli_pty_type(&p, "datoms :eavt 3 :person/age\r");
    at = cli_pty_expect(&p, at, "#datahike/Datom [3 :person/age 36 536870914 true]", 10000);
    at = cli_pty_expect(&p, at, " ms)", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    /* Tab completes a command name and an attribute (the line is redrawn
     * with cursor moves, so the results show the completion worked) */
    cli_pty_type(&p, "sche\t");
    at = cli_pty_expect(&p, at, "ma", 10000);
    cli_pty_type(&p, "\r");
    at = cli_pty_expect(&p, at, "{:person/name {:db/ident", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    cli_pty_type(&p, "datoms :aevt :person/a\t");
    at = cli_pty_expect(&p, at, "ge", 10000);
    cli_pty_type(&p, "\r");
    at = cli_pty_expect(&p, at, "#datahike/Datom [3 :person/age 36", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    /* a form over two lines: the continuation prompt; ?variables complete */
    cli_pty_type(&p, "[:find ?person\r");
    at = cli_pty_expect(&p, at, "...> ", 10000);
    cli_pty_type(&p, " :where [?pe\t");
    at = cli_pty_expect(&p, at, "rson", 10000);
    cli_pty_type(&p, ":person/name]]\r");
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    cli_pty_type(&p, ".help\r");
    at = cli_pty_expect(&p, at, ".open DB", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    /* Ctrl-D on the empty line ends the session. Once in about six full
     * runs under ASan the terminal echoed it as ^D (so it met the terminal,
     * not libedit in raw mode) and every later Ctrl-D only beeped (libedit's
     * line was no longer empty). Not reproduced on purpose; so the key goes
     * only once the terminal is out of canonical mode, and the retries clear
     * the line first (Ctrl-U) */
    cli_pty_wait_raw(&p, 10000);
    cli_pty_type(&p, "\004");  /* Ctrl-D */
    CHECK_EQ(cli_pty_finish_retyping(&p, "\025\004"), 0);
    /* the history file keeps the entries, the two-line one too */
    hist = cli_slurp(cli_path(".cairn_history"), NULL);
    CHECK_MSG(hist != NULL, "no history file");
    unvis(hist);
    CHECK(strstr(hist, "datoms :eavt 3 :person/age") != NULL);
    CHECK(strstr(hist, "schema") != NULL);
    CHECK(strstr(hist, "[:find ?person") != NULL);
    CHECK(strstr(hist, ":where [?person :person/name]]") != NULL);  /* completed by Tab */
    free(hist);
    free(p.seen);
    /* and the next session can recall it with the up arrow */
    cli_pty_start(&p, (const char *const[]){ db, NULL });
    at = cli_pty_expect(&p, 0, "cairn> ", 10000);
    cli_pty_type(&p, "\033[A\r");  /* the last entry: .help */
    at = cli_pty_expect(&p, at, "open another database", 10000);
    /* type only at the prompt, as everywhere above: input that arrives while
     * the shell is still printing can meet libedit before its raw mode */
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    cli_pty_type(&p, ".quit\r");
    CHECK_EQ(cli_pty_finish(&p), 0);
    free(p.seen);
}

/* Ctrl-C stops a running query and the shell goes on; .timeout stops one
 * by itself; at the prompt a timeout-free session still answers. */
void test_cli_shell__ctrl_c_and_timeout_stop_a_runaway_query(void)
{
    const char *db = small_db();
    /* endless: every answer makes the next one */
    const char *runaway = "[:find (count ?x) . :in $ % :where (n ?x)] "
                          "[[(n ?x) [(ground 0) ?x]] [(n ?y) (n ?x) [(inc ?x) ?y]]]\r";
    cli_pty p;
    size_t at;
    cli_pty_start(&p, (const char *const[]){ db, NULL });
    at = cli_pty_expect(&p, 0, "cairn> ", 10000);
    cli_pty_type(&p, runaway);
    /* give the shell time to read the line and start the query (a Ctrl-C
     * at the prompt would end it) */
    nanosleep(&(struct timespec){ 0, 500 * 1000 * 1000 }, NULL);
    cli_pty_type(&p, "\003");  /* Ctrl-C */
    at = cli_pty_expect(&p, at, ":query/canceled Query canceled: interrupted", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    /* the session is intact */
    cli_pty_type(&p, "[:find ?a . :where [?e :person/name \"Ada\"] [?e :person/age ?a]]\r");
    at = cli_pty_expect(&p, at, "36", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    cli_pty_type(&p, ".timeout 200\r");
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    cli_pty_type(&p, runaway);
    at = cli_pty_expect(&p, at, ":query/canceled Query canceled: timeout elapsed", 10000);
    at = cli_pty_expect(&p, at, "cairn> ", 10000);
    /* .quit, not Ctrl-D: libedit prints the prompt before it puts the
     * terminal in raw mode, and a Ctrl-D typed in that instant is the
     * cooked terminal's end of file, which the switch to raw mode drops */
    cli_pty_type(&p, ".quit\r");
    CHECK_EQ(cli_pty_finish(&p), 0);
    free(p.seen);
}
