/*
 * The `cairn` command's shared pieces: options, naming databases, reading
 * arguments, printing results and errors. Every command lives in a
 * cli/cmd_*.c file and has the signature of cli_cmd_fn; main.c holds the
 * table of commands and parses the options they share. The shell
 * (cmd_shell.c) runs the same table, so every command works in both.
 *
 * The CLI uses only include/cairn.h. It may abort when memory runs out
 * (STYLE.md): the x* helpers below do, so the commands stay readable.
 */
#ifndef CAIRN_CLI_H
#define CAIRN_CLI_H

#include <signal.h>
#include <stdio.h>

#include "cairn.h"

/* Exit statuses. */
enum {
    CLI_OK = 0,      /* success */
    CLI_FAIL = 1,    /* the operation failed (the error line says why) */
    CLI_USAGE = 2    /* bad command line */
};

typedef enum cli_format { CLI_EDN = 0, CLI_JSON, CLI_TABLE } cli_format;

/* Options shared by every command, and the session state. */
typedef struct cli {
    cli_format format;      /* --format */
    int input_json;         /* --input-format json (else EDN, or by file name) */
    long long limit;        /* --limit, -1 = none */
    long long timeout_ms;   /* --timeout for queries, 0 = none */
    int interruptible;      /* Ctrl-C stops a running query (interactive shell) */
    int timing;             /* print how long each command took (shell) */
    int in_shell;           /* commands run inside `cairn shell` */
    int echo;               /* the shell prints each command it reads (--echo) */
    int progress;           /* draw progress bars (stderr is a terminal) */
    const char *cmd;        /* name of the running command, for messages */
    FILE *out;              /* where results go (stdout) */
} cli;

typedef int (*cli_cmd_fn)(cli *c, int argc, char **argv);

typedef struct cli_command {
    const char *name;       /* as typed */
    cli_cmd_fn fn;          /* the implementation */
    int db_arg;             /* index of the DB argument (the shell fills it in), -1 = none */
    const char *args;       /* argument synopsis */
    const char *help;       /* one line */
} cli_command;

extern const cli_command cli_commands[];
const cli_command *cli_command_find(const char *name);
/* Parses options out of argv (in place) and runs the command; the exit status. */
int cli_run(cli *c, int argc, char **argv);

/* Set by the interactive shell's SIGINT handler; cli_interrupted (a
 * cairn_query_opts interrupt poll) reads it. */
extern volatile sig_atomic_t cli_sigint;
int cli_interrupted(void *ctx);

/* ---- errors (util.c) ------------------------------------------------------- */

/* Prints "cairn: <keyword> <message>" and returns CLI_FAIL. */
int cli_fail(cli *c, const cairn_error *err);
/* As cli_fail with a keyword and a printf message. */
int cli_failf(cli *c, const char *keyword, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* Fills err (code, keyword, printf message) and returns code. */
int cli_seterr(cairn_error *err, int code, const char *keyword, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* Prints "usage: cairn <cmd> <synopsis>" and returns CLI_USAGE. */
int cli_usage(cli *c);

void *xmalloc(size_t n);
void *xrealloc(void *p, size_t n);
char *xstrdup(const char *s);
/* A keyword / string value (aborts when memory runs out). */
cairn_val cli_kw(const char *name);
cairn_val cli_str(const char *s);
/* Aborts with a message when a cairn call that can only fail for memory failed. */
void cli_check_oom(int rc);

/* ---- arguments (input.c) ---------------------------------------------------- */

/*
 * The text of a data argument: the argument itself, the contents of FILE for
 * "@FILE", or all of standard input for "-" (or when arg is NULL). *json_out
 * is set when the text should be read as JSON: --input-format json, a
 * ".json" file, or a "json:FILE" argument. Owned by the caller (free).
 */
int cli_arg_text(cli *c, const char *arg, char **text_out, size_t *len_out, int *json_out);
/* Reads a data argument as one EDN (or JSON) value. */
int cli_arg_value(cli *c, const char *arg, cairn_val *out);
/* Reads a whole file (or stdin for "-"); NULL with errno set on failure. */
char *cli_read_file(const char *path, size_t *len_out);

/* ---- databases (db.c) -------------------------------------------------------- */

typedef enum cli_view { CLI_VIEW_CURRENT = 0, CLI_VIEW_HISTORY, CLI_VIEW_AS_OF, CLI_VIEW_SINCE } cli_view;

/* A database argument, resolved. */
typedef struct cli_dbref {
    cairn_val config;       /* the config map (owned) */
    cli_view view;          /* which view of it */
    cairn_val time_point;   /* AS_OF / SINCE: INT tx id or INST (owned) */
    char *file_path;        /* a file store's directory, for existence checks (owned) */
} cli_dbref;

/*
 * Resolves a database argument: a config file (db.edn), a directory (a file
 * store), an inline EDN config map, each optionally prefixed with db:, conn:,
 * history:, asof:T: or since:T: (T a transaction id, ms since the epoch or a
 * date). for_create allows a directory that does not exist yet.
 * @return 0, or fills err and returns its code.
 */
int cli_dbref_parse(cli_dbref *out, const char *arg, int for_create, cairn_error *err);
void cli_dbref_dispose(cli_dbref *r);
/* A time point of n bytes at t: a transaction id (INT), or ms since the epoch
 * or a date (INST). */
int cli_time_point_parse(cairn_val *out, const char *t, size_t n, cairn_error *err);
/* 0 when ref is a file store whose directory is missing or empty (opening
 * it would create it), else 1. */
int cli_dbref_present(const cli_dbref *ref);
/* Closes ref's cached connection (its database is being deleted). */
void cli_forget(const cli_dbref *ref);
/* 1 when arg looks like a database argument (a prefix, a store directory, a
 * config file); query arguments that are not are read as values. */
int cli_is_db_arg(const char *arg);

/* A connection to ref's database, kept open for the process (or the shell). */
int cli_connect(cairn_conn **out, const cli_dbref *ref, cairn_error *err);
/* The value ref names (its view applied); the caller releases it. */
int cli_open_db(cairn_db **out, const cli_dbref *ref, cairn_error *err);
/* Parses arg and opens its value; prints the error and returns CLI_FAIL. */
int cli_db_arg(cli *c, const char *arg, cairn_db **out);
/* Closes every cached connection. */
void cli_close_all(void);

/* ---- output (print.c) ----------------------------------------------------------- */

/* Prints v in the current format, then a newline. */
void cli_print(cli *c, cairn_val v);
/* Prints v as a table with these column names (a vector of strings, or nil
 * to derive them): rows of a relation, maps (one column per key) or one value. */
void cli_print_table(cli *c, cairn_val v, cairn_val headers);
/* Prints text EDN, for values the table format cannot show. */
void cli_print_edn(FILE *out, cairn_val v);

/* A datom as printed: #datahike/Datom [e a v tx added] in EDN, an array in JSON. */
cairn_val cli_datom_val(cli *c, const cairn_datom *d);
/* ["e" "a" "v" "tx" "added"], the column names of datoms (owned). */
cairn_val cli_datom_headers(void);
/* Prints datoms one per line (a table with a header in table format). Stops
 * after --limit. The number printed, or -1 after an error (printed). */
long long cli_print_datoms(cli *c, cairn_datoms *it);

/* A progress bar on stderr, drawn only when c->progress is set. */
typedef struct cli_progress {
    cli *c;                 /* options */
    const char *what;       /* "exporting" */
    unsigned long long total;  /* expected units, 0 = unknown */
    unsigned long long done;   /* units so far */
    double started;         /* when it began (s) */
    double drawn;           /* when it was last drawn (s) */
} cli_progress;

void cli_progress_start(cli_progress *p, cli *c, const char *what, unsigned long long total);
void cli_progress_step(cli_progress *p, unsigned long long n);
void cli_progress_end(cli_progress *p);
double cli_now(void);

/* ---- commands (cmd_*.c) ------------------------------------------------------------ */

int cmd_create(cli *c, int argc, char **argv);
int cmd_delete(cli *c, int argc, char **argv);
int cmd_exists(cli *c, int argc, char **argv);
int cmd_transact(cli *c, int argc, char **argv);
int cmd_schema(cli *c, int argc, char **argv);
int cmd_reverse_schema(cli *c, int argc, char **argv);
int cmd_metrics(cli *c, int argc, char **argv);
int cmd_check(cli *c, int argc, char **argv);
int cmd_gc(cli *c, int argc, char **argv);
int cmd_q(cli *c, int argc, char **argv);
int cmd_explain(cli *c, int argc, char **argv);
int cmd_pull(cli *c, int argc, char **argv);
int cmd_pull_many(cli *c, int argc, char **argv);
int cmd_entity(cli *c, int argc, char **argv);
int cmd_datoms(cli *c, int argc, char **argv);
int cmd_seek_datoms(cli *c, int argc, char **argv);
int cmd_rseek_datoms(cli *c, int argc, char **argv);
int cmd_index_range(cli *c, int argc, char **argv);
int cmd_history(cli *c, int argc, char **argv);
int cmd_log(cli *c, int argc, char **argv);
int cmd_export(cli *c, int argc, char **argv);
int cmd_import(cli *c, int argc, char **argv);
int cmd_shell(cli *c, int argc, char **argv);

#endif
