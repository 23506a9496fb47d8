/*
 * cairn shell [DB]: an interactive session on one database.
 *
 * Every CLI command works here without the database argument (the open
 * database is filled in): `q [:find ...]`, `pull [*] 1`, `datoms :eavt 1`,
 * `transact [{:name "Ada"}]`. A line that starts with an EDN form ([ or {) is
 * a query. Dot commands change the session: .open DB, .format, .limit,
 * .timing, .help, .quit. Input continues over lines until its brackets
 * balance, so a query can be typed (or pasted) over several lines, and past
 * a line that ends with a backslash (a query, then its other inputs).
 *
 * With a terminal on stdin the shell uses libedit: line editing, a history
 * kept in ~/.cairn_history (or $CAIRN_HISTORY), and tab completion of
 * commands, attributes of the open database and the ?variables typed so far.
 * Without one it reads commands from stdin (scripts, `make run` in CI) and,
 * with --echo, prints each before its result. Errors are printed and the
 * session goes on; the exit status is 0 at the end of input.
 *
 * One connection per database stays open for the session (db.c), so
 * repeated queries hit a warm node cache.
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <editline/readline.h>

#include "cli.h"

#define MAX_ARGS 64

typedef struct shell {
    cli *c;                 /* session options */
    char *db;               /* the open database argument, or NULL */
    char **attrs;           /* attribute idents of the open database, for completion */
    size_t nattrs;
    char *pending;          /* input so far of an unbalanced entry */
    int interactive;        /* stdin is a terminal */
    int echo;               /* print each command (non-interactive) */
} shell;

static shell *completing;   /* the session tab completion reads */

/* ---- input ----------------------------------------------------------------------- */

/* One step over EDN text: keeps track of strings (and escapes in them),
 * character literals and bracket depth. Returns the next position. */
static char *scan_step(char *s, int *depth, int *in_str)
{
    if (*s == '\\' && s[1])
        return s + 2;
    if (*s == '"')
        *in_str = !*in_str;
    else if (!*in_str && strchr("([{", *s))
        (*depth)++;
    else if (!*in_str && strchr(")]}", *s))
        (*depth)--;
    return s + 1;
}

/* Depth of unclosed brackets in s (strings, chars and comments skipped). */
static int open_depth(char *s)
{
    int depth = 0, in_str = 0;
    while (*s) {
        if (!in_str && *s == ';')
            while (*s && *s != '\n')
                s++;
        else
            s = scan_step(s, &depth, &in_str);
    }
    return in_str ? 1 : depth;
}

/* Splits an entry into arguments: words, and whole EDN forms. Returns argc. */
static int split_args(char *s, char **argv)
{
    int argc = 0;
    while (*s && argc < MAX_ARGS - 1) {
        char *start;
        int depth = 0, in_str = 0;
        while (isspace((unsigned char)*s) || *s == ',')
            s++;
        if (!*s || *s == ';')
            break;
        start = s;
        while (*s) {
            if (!in_str && depth <= 0 && isspace((unsigned char)*s)) {
                /* a tag (#inst "...") takes the form after it */
                if (start[0] == '#' && start[1] != '{' && start[1] != '_' && !memchr(start, '"', (size_t)(s - start))) {
                    while (isspace((unsigned char)s[1]))
                        s++;
                    s++;
                    continue;
                }
                break;
            }
            s = scan_step(s, &depth, &in_str);
        }
        if (*s)
            *s++ = 0;
        argv[argc++] = start;
    }
    argv[argc] = NULL;
    return argc;
}

/* ---- the open database ---------------------------------------------------------- */

static void free_attrs(shell *sh)
{
    for (size_t i = 0; i < sh->nattrs; i++)
        free(sh->attrs[i]);
    free(sh->attrs);
    sh->attrs = NULL;
    sh->nattrs = 0;
}

/* Reads the attribute idents of the open database (for completion). */
static void load_attrs(shell *sh)
{
    cairn_db *db;
    cairn_val schema;
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    free_attrs(sh);
    if (!sh->db || cli_dbref_parse(&ref, sh->db, 0, &err) != 0)
        return;
    if (cli_open_db(&db, &ref, &err) == 0) {
        if (cairn_db_schema(&schema, db, NULL) == 0) {
            sh->attrs = xmalloc((cairn_count(schema) + 1) * sizeof *sh->attrs);
            for (size_t i = 0; i < cairn_count(schema); i++) {
                size_t n;
                const char *name = cairn_ident_get(cairn_map_key_get(schema, i), &n);
                char *s = xmalloc(n + 2);
                s[0] = ':';
                memcpy(s + 1, name, n);
                s[n + 1] = 0;
                sh->attrs[sh->nattrs++] = s;
            }
            cairn_release(schema);
        }
        cairn_db_release(db);
    }
    cli_dbref_dispose(&ref);
}

static int open_db(shell *sh, const char *arg)
{
    cairn_db *db;
    cli_dbref ref;
    cairn_error err = CAIRN_ERROR_INIT;
    int rc = cli_dbref_parse(&ref, arg, 0, &err);
    if (rc == 0)
        rc = cli_open_db(&db, &ref, &err);
    cli_dbref_dispose(&ref);
    if (rc < 0)
        return cli_fail(sh->c, &err);
    cairn_db_release(db);
    free(sh->db);
    sh->db = xstrdup(arg);
    load_attrs(sh);
    return CLI_OK;
}

/* ---- completion ------------------------------------------------------------------- */

static const char *const dot_commands[] = { ".help", ".open", ".format", ".limit", ".timeout", ".timing", ".quit", ".exit", NULL };

static char **candidates;   /* the words completion offers for the current word */
static size_t ncandidates;

static void add_candidate(const char *s)
{
    for (size_t i = 0; i < ncandidates; i++)
        if (!strcmp(candidates[i], s))
            return;
    candidates = xrealloc(candidates, (ncandidates + 1) * sizeof *candidates);
    candidates[ncandidates++] = xstrdup(s);
}

static void clear_candidates(void)
{
    for (size_t i = 0; i < ncandidates; i++)
        free(candidates[i]);
    free(candidates);
    candidates = NULL;
    ncandidates = 0;
}

/* ?variables in text, except the one at offset skip (the word being completed). */
static void add_variables(const char *text, long skip)
{
    for (const char *p = text; p && (p = strchr(p, '?')) != NULL;) {
        const char *q = p + 1;
        char buf[128];
        while (*q && !isspace((unsigned char)*q) && !strchr("()[]{}\",", *q))
            q++;
        if (q - p > 1 && (size_t)(q - p) < sizeof buf && p - text != skip) {
            memcpy(buf, p, (size_t)(q - p));
            buf[q - p] = 0;
            add_candidate(buf);
        }
        p = q;
    }
}

static char *generate(const char *text, int state)
{
    static size_t i;
    if (!state)
        i = 0;
    while (i < ncandidates) {
        const char *s = candidates[i++];
        if (!strncmp(s, text, strlen(text)))
            return strdup(s);   /* readline frees it with free() */
    }
    return NULL;
}

static char **complete(const char *text, int start, int end)
{
    shell *sh = completing;
    (void)end;
    clear_candidates();
    if (text[0] == ':') {
        for (size_t i = 0; sh && i < sh->nattrs; i++)
            add_candidate(sh->attrs[i]);
        add_candidate(":find");
        add_candidate(":where");
        add_candidate(":in");
        add_candidate(":keys");
        add_candidate(":with");
        add_candidate(":db/id");
        add_candidate(":eavt");
        add_candidate(":aevt");
        add_candidate(":avet");
    } else if (text[0] == '?') {
        if (sh && sh->pending)
            add_variables(sh->pending, -1);
        add_variables(rl_line_buffer, start);
    } else if (start == 0 && !(sh && sh->pending)) {
        for (const cli_command *cmd = cli_commands; cmd->name; cmd++)
            add_candidate(cmd->name);
        for (size_t i = 0; dot_commands[i]; i++)
            add_candidate(dot_commands[i]);
    }
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, generate);
}

/* ---- commands ---------------------------------------------------------------------- */

static void shell_help(shell *sh)
{
    FILE *o = sh->c->out;
    fprintf(o, "Commands are the CLI's, without the database (the open one is used):\n");
    for (const cli_command *cmd = cli_commands; cmd->name; cmd++) {
        char head[64];
        const char *args = cmd->args;
        if (!strcmp(cmd->name, "shell") || !strcmp(cmd->name, "query"))
            continue;
        if (cmd->db_arg == 0 && !strncmp(args, "DB", 2))
            args += args[2] ? 3 : 2;
        else if (cmd->db_arg == 1)
            args = "QUERY [ARGS...]";
        snprintf(head, sizeof head, "%s %s", cmd->name, args);
        fprintf(o, "  %-36s %s\n", head, cmd->help);
    }
    fprintf(o, "A line starting with [ or { is a query: [:find ?e :where [?e :name]]\n"
               "Input goes on over lines until the brackets balance, and after a trailing \\.\n"
               "  .open DB                   open another database\n"
               "  .format edn|json|table     output format\n"
               "  .limit N|off               print at most N results\n"
               "  .timeout MS|off            stop queries after MS milliseconds\n"
               "  .timing on|off             show how long each command took\n"
               "  .help                      this text\n"
               "  .quit                      leave (or Ctrl-D)\n"
               "Ctrl-C stops a running query.\n"
               "Tab completes commands, attributes (:na<Tab>) and variables (?<Tab>).\n");
}

static int dot_command(shell *sh, int argc, char **argv)
{
    cli *c = sh->c;
    const char *a = argc > 1 ? argv[1] : "";
    if (!strcmp(argv[0], ".quit") || !strcmp(argv[0], ".exit"))
        return -1;
    if (!strcmp(argv[0], ".help")) {
        shell_help(sh);
    } else if (!strcmp(argv[0], ".open") && argc == 2) {
        open_db(sh, argv[1]);
    } else if (!strcmp(argv[0], ".format") && argc == 2 &&
               (!strcmp(a, "edn") || !strcmp(a, "json") || !strcmp(a, "table"))) {
        c->format = !strcmp(a, "edn") ? CLI_EDN : !strcmp(a, "json") ? CLI_JSON : CLI_TABLE;
    } else if (!strcmp(argv[0], ".limit") && argc == 2) {
        c->limit = !strcmp(a, "off") ? -1 : atoll(a);
    } else if (!strcmp(argv[0], ".timeout") && argc == 2) {
        char *end;
        long long ms = strtoll(a, &end, 10);
        if (!strcmp(a, "off"))
            c->timeout_ms = 0;
        else if (*a && !*end && ms >= 0)
            c->timeout_ms = ms;
        else
            fprintf(stderr, "cairn: .timeout takes milliseconds or off\n");
    } else if (!strcmp(argv[0], ".timing") && argc == 2 && (!strcmp(a, "on") || !strcmp(a, "off"))) {
        c->timing = !strcmp(a, "on");
    } else {
        fprintf(stderr, "cairn: unknown or incomplete dot command '%s' (try .help)\n", argv[0]);
    }
    return 0;
}

/* Moves options (and their values) to the end of argv, so the database goes
 * in at the right position among the other arguments. */
static void options_last(int argc, char **argv)
{
    char *opts[MAX_ARGS], *rest[MAX_ARGS];
    int no = 0, nr = 0;
    for (int i = 0; i < argc; i++) {
        const char *a = argv[i];
        int takes = !strcmp(a, "--format") || !strcmp(a, "-f") || !strcmp(a, "--limit") || !strcmp(a, "-n") ||
                    !strcmp(a, "--timeout") || !strcmp(a, "--input-format") || !strcmp(a, "-if");
        if (a[0] == '-' && (a[1] == '-' || takes)) {
            opts[no++] = argv[i];
            if (takes && i + 1 < argc)
                opts[no++] = argv[++i];
        } else {
            rest[nr++] = argv[i];
        }
    }
    memcpy(argv, rest, (size_t)nr * sizeof *argv);
    memcpy(argv + nr, opts, (size_t)no * sizeof *argv);
}

static void on_sigint(int sig)
{
    (void)sig;
    cli_sigint = 1;
}

/* While a query runs in the interactive shell, Ctrl-C sets cli_sigint
 * (the query polls it and stops with :query/canceled) instead of ending the
 * shell. Other commands do not poll it, so for them (a long import, say)
 * and at the prompt Ctrl-C keeps its default action. */
static void catch_sigint(int on)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = on ? on_sigint : SIG_DFL;
    sa.sa_flags = SA_RESTART;
    cli_sigint = 0;
    sigaction(SIGINT, &sa, NULL);
}

/* Runs one complete entry; -1 to leave the shell. */
static int run_entry(shell *sh, char *entry)
{
    char *argv[MAX_ARGS + 2], *full[MAX_ARGS + 4];
    int argc = split_args(entry, argv), n = 0, rc, stoppable;
    const cli_command *cmd;
    cli saved;
    double t0;
    if (argc == 0)
        return 0;
    if (argv[0][0] == '.')
        return dot_command(sh, argc, argv);
    options_last(argc, argv);
    if (strchr("[{", argv[0][0]))
        full[n++] = "q";
    cmd = cli_command_find(n ? "q" : argv[0]);
    if (cmd && !strcmp(cmd->name, "shell")) {
        fprintf(stderr, "cairn: already in the shell\n");
        return 0;
    }
    for (int i = 0; i < argc; i++) {
        if (cmd && cmd->db_arg >= 0 && n == cmd->db_arg + 1 && argv[i][0] != '-') {
            if (!sh->db) {
                fprintf(stderr, "cairn: no database is open (.open DB)\n");
                return 0;
            }
            full[n++] = sh->db;
        }
        full[n++] = argv[i];
    }
    if (cmd && cmd->db_arg >= 0 && n == cmd->db_arg + 1) {
        if (!sh->db) {
            fprintf(stderr, "cairn: no database is open (.open DB)\n");
            return 0;
        }
        full[n++] = sh->db;
    }
    full[n] = NULL;
    saved = *sh->c;
    t0 = cli_now();
    stoppable = sh->interactive && cmd && cmd->fn == cmd_q;
    if (stoppable)
        catch_sigint(1);
    rc = cli_run(sh->c, n, full);
    if (stoppable)
        catch_sigint(0);
    fflush(sh->c->out);
    if (saved.timing)
        fprintf(stderr, "(%.1f ms)\n", (cli_now() - t0) * 1e3);
    *sh->c = saved;
    if (rc == CLI_OK && cmd && !strcmp(cmd->name, "transact"))
        load_attrs(sh);   /* the schema may have grown */
    return 0;
}

/* ---- the loop ------------------------------------------------------------------------ */

static char *history_path(void)
{
    const char *env = getenv("CAIRN_HISTORY"), *home = getenv("HOME");
    char *p;
    if (env && *env)
        return xstrdup(env);
    if (!home || !*home)
        return NULL;
    p = xmalloc(strlen(home) + 32);
    sprintf(p, "%s/.cairn_history", home);
    return p;
}

/* Next line of input (malloc'd, no newline), or NULL at the end. */
static char *next_line(shell *sh)
{
    char *line = NULL;
    size_t cap = 0;
    ssize_t n;
    if (sh->interactive)
        return readline(sh->pending ? "   ...> " : "cairn> ");
    if ((n = getline(&line, &cap, stdin)) < 0) {
        free(line);
        return NULL;
    }
    if (n > 0 && line[n - 1] == '\n')
        line[n - 1] = 0;
    return line;
}

int cmd_shell(cli *c, int argc, char **argv)
{
    shell sh;
    char *hist, *line;
    int quit = 0;
    if (argc > 1)
        return cli_usage(c);
    memset(&sh, 0, sizeof sh);
    sh.c = c;
    sh.interactive = isatty(0);
    sh.echo = c->echo;
    c->in_shell = 1;
    c->timing = sh.interactive;
    c->interruptible = sh.interactive;
    if (argc == 1 && open_db(&sh, argv[0]) != CLI_OK && !sh.interactive)
        return CLI_FAIL;
    completing = &sh;
    hist = history_path();
    if (sh.interactive) {
        rl_readline_name = "cairn";
        rl_attempted_completion_function = complete;
        rl_basic_word_break_characters = " \t\n\"()[]{},";
        rl_completer_word_break_characters = (char *)" \t\n\"()[]{},";
        stifle_history(1000);
        if (hist)
            read_history(hist);
        fprintf(c->out, "cairn %s shell%s%s. Type .help for help, Ctrl-D to leave.\n", cairn_libversion(),
                sh.db ? " on " : "", sh.db ? sh.db : "");
    }
    while (!quit && (line = next_line(&sh)) != NULL) {
        size_t had = sh.pending ? strlen(sh.pending) : 0;
        sh.pending = xrealloc(sh.pending, had + strlen(line) + 2);
        if (had)
            sh.pending[had++] = '\n';
        strcpy(sh.pending + had, line);
        free(line);
        if (open_depth(sh.pending) > 0)
            continue;
        if (had + strlen(sh.pending + had) > 0 && sh.pending[strlen(sh.pending) - 1] == '\\') {
            sh.pending[strlen(sh.pending) - 1] = ' ';  /* a trailing \ continues the entry */
            continue;
        }
        if (sh.interactive && sh.pending[strspn(sh.pending, " \t\n")])
            add_history(sh.pending);
        if (sh.echo && sh.pending[strspn(sh.pending, " \t\n")])
            fprintf(c->out, "cairn> %s\n", sh.pending);
        line = sh.pending;
        sh.pending = NULL;
        quit = run_entry(&sh, line) < 0;
        free(line);
    }
    if (sh.pending) {
        fprintf(stderr, "cairn: input ended inside an unclosed form\n");
        free(sh.pending);
    }
    if (sh.interactive) {
        fputc('\n', c->out);
        if (hist)
            write_history(hist);
    }
    free(hist);
    free(sh.db);
    free_attrs(&sh);
    clear_candidates();
    completing = NULL;
    return CLI_OK;
}
