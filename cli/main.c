/*
 * The `cairn` command: Datahike's `dthk` with the same commands, database
 * prefixes and EDN/JSON formats, plus a table format, an interactive shell,
 * export/import, the commit log and an integrity check (docs/cli.md).
 *
 * Argument order is always command, database, data (`cairn transact DB TX`,
 * `cairn datoms DB :eavt 1`), except `cairn q QUERY DB...`, which keeps
 * Datahike's order. Options may come anywhere; only exact option names are
 * options, so data such as -1 (a tempid) passes through.
 *
 * Uses only include/cairn.h.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static int cmd_help(cli *c, int argc, char **argv);
static int cmd_version(cli *c, int argc, char **argv);

const cli_command cli_commands[] = {
    { "create", cmd_create, -1, "DIR|CONFIG", "create a database (a bare directory: a file store, Datahike's defaults)" },
    { "delete", cmd_delete, -1, "DIR|CONFIG", "delete a database" },
    { "exists", cmd_exists, -1, "DIR|CONFIG", "print true or false" },
    { "transact", cmd_transact, 0, "DB [TX|@FILE|-]", "transact EDN or JSON data (stdin when TX is left out)" },
    { "q", cmd_q, 1, "QUERY DB [ARGS...]", "run a Datalog query; more DBs or values bind $2... and :in" },
    { "query", cmd_q, 1, "QUERY DB [ARGS...]", "the same as q" },
    { "explain", cmd_explain, 1, "QUERY DB [ARGS...]", "show the plan of a query" },
    { "pull", cmd_pull, 0, "DB PATTERN EID", "pull a pattern for one entity" },
    { "pull-many", cmd_pull_many, 0, "DB PATTERN [EID...]", "pull a pattern for several entities" },
    { "entity", cmd_entity, 0, "DB EID", "all attributes of an entity" },
    { "datoms", cmd_datoms, 0, "DB INDEX [COMPONENTS...]", "datoms of :eavt, :aevt or :avet with these leading components" },
    { "seek-datoms", cmd_seek_datoms, 0, "DB INDEX [COMPONENTS...]", "datoms from the components to the index's end" },
    { "rseek-datoms", cmd_rseek_datoms, 0, "DB INDEX [COMPONENTS...]", "datoms at or before the components, descending" },
    { "index-range", cmd_index_range, 0, "DB ATTR START END", "datoms of an indexed attribute with START <= v <= END (nil: open)" },
    { "schema", cmd_schema, 0, "DB", "the schema, as Datahike's (schema db)" },
    { "reverse-schema", cmd_reverse_schema, 0, "DB", "attributes by property" },
    { "metrics", cmd_metrics, 0, "DB", "datom counts" },
    { "history", cmd_history, 0, "DB [E [A]]", "every assertion and retraction, in transaction order" },
    { "log", cmd_log, 0, "DB", "commits, newest first, with tx ids and instants" },
    { "export", cmd_export, 0, "DB PATH|-", "write every datom (with history) to an EDN file" },
    { "import", cmd_import, 0, "DB PATH|-", "restore an export or a Datahike datom dump into a new database" },
    { "check", cmd_check, 0, "DB", "verify every node against its address and the index invariants" },
    { "gc", cmd_gc, 0, "DB [BEFORE|now]", "delete what no kept commit needs; commits before BEFORE go (default: keep all)" },
    { "shell", cmd_shell, -1, "[DB]", "interactive shell" },
    { "help", cmd_help, -1, "[COMMAND]", "this text" },
    { "version", cmd_version, -1, "", "the version" },
    { NULL, NULL, 0, NULL, NULL }
};

const cli_command *cli_command_find(const char *name)
{
    for (const cli_command *cmd = cli_commands; name && cmd->name; cmd++)
        if (!strcmp(cmd->name, name))
            return cmd;
    return NULL;
}

static void usage(FILE *out)
{
    fprintf(out, "usage: cairn [OPTIONS] COMMAND [ARGS...]\n\ncommands:\n");
    for (const cli_command *cmd = cli_commands; cmd->name; cmd++) {
        char head[64];
        if (!strcmp(cmd->name, "query"))
            continue;
        snprintf(head, sizeof head, "%s %s", cmd->name, cmd->args);
        fprintf(out, "  %-40s %s\n", head, cmd->help);
    }
    fprintf(out,
            "\n"
            "DB is a directory (a file store), a config file (db.edn) or an inline config\n"
            "map, optionally prefixed: db:, history:, asof:T:, since:T: (T: tx id, ms or date).\n"
            "Data arguments are EDN (or JSON), @FILE, or - for standard input.\n"
            "\n"
            "options:\n"
            "  -f, --format edn|json|table   output format (default edn); also --edn --json --table\n"
            "  --input-format edn|json       how to read data arguments (default: EDN, .json files as JSON)\n"
            "  -n, --limit N                 print at most N results\n"
            "  --timeout MS                  stop a query after MS milliseconds (:query/canceled)\n"
            "  --progress, --no-progress     progress bars on stderr (default: when it is a terminal)\n"
            "  --echo                        shell: print each command read from a script\n"
            "  -h, --help                    this text, or a command's usage\n"
            "\n"
            "docs: docs/cli.md, man cairn\n");
}

static int cmd_help(cli *c, int argc, char **argv)
{
    const cli_command *cmd;
    if (argc > 0 && (cmd = cli_command_find(argv[0])) != NULL) {
        fprintf(c->out, "usage: cairn %s %s\n  %s\n", cmd->name, cmd->args, cmd->help);
        return CLI_OK;
    }
    usage(c->out);
    return CLI_OK;
}

static int cmd_version(cli *c, int argc, char **argv)
{
    (void)argc, (void)argv;
    fprintf(c->out, "cairn %s\n", cairn_libversion());
    return CLI_OK;
}

static int parse_format(cli *c, const char *v)
{
    if (!strcmp(v, "edn"))
        c->format = CLI_EDN;
    else if (!strcmp(v, "json"))
        c->format = CLI_JSON;
    else if (!strcmp(v, "table"))
        c->format = CLI_TABLE;
    else {
        fprintf(stderr, "cairn: unknown format '%s' (edn, json, table)\n", v);
        return CLI_USAGE;
    }
    return 0;
}

/* Takes the value of an option: --opt=v or --opt v. */
static const char *opt_value(int *i, int argc, char **argv, const char *eq)
{
    if (eq)
        return eq + 1;
    if (*i + 1 >= argc)
        return NULL;
    return argv[++*i];
}

/*
 * Removes the options from argv, applying them to c; *help_out is set for
 * -h. Returns 0 or CLI_USAGE.
 */
static int parse_options(cli *c, int *argcp, char **argv, int *help_out)
{
    int argc = *argcp, n = 0, rest = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i], *eq = NULL, *v;
        char name[32];
        size_t len;
        if (rest || a[0] != '-' || a[1] == 0) {
            argv[n++] = argv[i];
            continue;
        }
        if (!strcmp(a, "--")) {
            rest = 1;
            continue;
        }
        len = (eq = strchr(a, '=')) ? (size_t)(eq - a) : strlen(a);
        if (len >= sizeof name) {
            argv[n++] = argv[i];
            continue;
        }
        memcpy(name, a, len);
        name[len] = 0;
        if (!strcmp(name, "-f") || !strcmp(name, "--format")) {
            if (!(v = opt_value(&i, argc, argv, eq)) || parse_format(c, v))
                return CLI_USAGE;
        } else if (!strcmp(name, "--edn") || !strcmp(name, "--json") || !strcmp(name, "--table")) {
            parse_format(c, name + 2);
        } else if (!strcmp(name, "-if") || !strcmp(name, "--input-format")) {
            if (!(v = opt_value(&i, argc, argv, eq)) || (strcmp(v, "edn") && strcmp(v, "json"))) {
                fprintf(stderr, "cairn: --input-format takes edn or json\n");
                return CLI_USAGE;
            }
            c->input_json = !strcmp(v, "json");
        } else if (!strcmp(name, "-n") || !strcmp(name, "--limit")) {
            char *end;
            if (!(v = opt_value(&i, argc, argv, eq)) || (c->limit = strtoll(v, &end, 10)) < 0 || *end || !*v) {
                fprintf(stderr, "cairn: --limit takes a number >= 0\n");
                return CLI_USAGE;
            }
        } else if (!strcmp(name, "--timeout")) {
            char *end;
            if (!(v = opt_value(&i, argc, argv, eq)) || (c->timeout_ms = strtoll(v, &end, 10)) < 0 || *end || !*v) {
                fprintf(stderr, "cairn: --timeout takes milliseconds >= 0 (0: none)\n");
                return CLI_USAGE;
            }
        } else if (!strcmp(name, "--echo")) {
            c->echo = 1;
        } else if (!strcmp(name, "--progress")) {
            c->progress = 1;
        } else if (!strcmp(name, "--no-progress")) {
            c->progress = 0;
        } else if (!strcmp(name, "-h") || !strcmp(name, "--help")) {
            *help_out = 1;
        } else if (!strcmp(name, "--version")) {
            argv[n++] = "version";
        } else if (a[1] == '-' || (a[1] >= 'a' && a[1] <= 'z')) {
            fprintf(stderr, "cairn: unknown option '%s' (try: cairn help)\n", a);
            return CLI_USAGE;
        } else {
            argv[n++] = argv[i];   /* -1, -0.5: data */
        }
    }
    argv[n] = NULL;
    *argcp = n;
    return 0;
}

int cli_run(cli *c, int argc, char **argv)
{
    const cli_command *cmd;
    int help = 0, rc;
    if ((rc = parse_options(c, &argc, argv, &help)) != 0)
        return rc;
    if (argc == 0) {
        if (help) {
            usage(c->out);
            return CLI_OK;
        }
        usage(stderr);
        return CLI_USAGE;
    }
    c->cmd = argv[0];
    if (!(cmd = cli_command_find(argv[0])))
        return cli_usage(c);
    if (help) {
        char *args[] = { argv[0], NULL };
        return cmd_help(c, 1, args);
    }
    return cmd->fn(c, argc - 1, argv + 1);
}

int main(int argc, char **argv)
{
    cli c;
    int rc;
    memset(&c, 0, sizeof c);
    c.limit = -1;
    c.out = stdout;
    c.progress = isatty(2);
    rc = cli_run(&c, argc - 1, argv + 1);
    fflush(stdout);
    cli_close_all();
    cairn_shutdown();
    if (ferror(stdout)) {
        fputs("cairn: :cli/output writing the output failed\n", stderr);
        return CLI_FAIL;
    }
    return rc;
}
