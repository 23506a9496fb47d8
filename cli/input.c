/*
 * Data arguments: transaction data, queries, patterns, entity ids, values.
 *
 * A data argument is EDN text on the command line, "@FILE" for a file's
 * contents, "-" for standard input, or Datahike's "edn:FILE" / "json:FILE".
 * JSON (Datahike's conventions, tagged literals ["!kw","a"]) is read when
 * --input-format json is given, when the file ends in ".json" or the json:
 * prefix is used, and otherwise as a fallback when the text is not EDN but is
 * JSON (`[{"name": "Ada"}]` is not EDN, so the two rarely both parse).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

char *cli_read_file(const char *path, size_t *len_out)
{
    FILE *f = strcmp(path, "-") ? fopen(path, "rb") : stdin;
    char *buf;
    size_t len = 0, cap = 1 << 16, n;
    if (!f)
        return NULL;
    buf = xmalloc(cap);
    while ((n = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += n;
        if (cap - len - 1 == 0)
            buf = xrealloc(buf, cap *= 2);
    }
    if (ferror(f)) {
        int e = errno;
        if (f != stdin)
            fclose(f);
        free(buf);
        errno = e;
        return NULL;
    }
    if (f != stdin)
        fclose(f);
    buf[len] = 0;
    *len_out = len;
    return buf;
}

static int ends_with(const char *s, const char *suffix)
{
    size_t n = strlen(s), m = strlen(suffix);
    return n >= m && !strcmp(s + n - m, suffix);
}

int cli_arg_text(cli *c, const char *arg, char **text_out, size_t *len_out, int *json_out)
{
    const char *path = NULL;
    *json_out = c->input_json;
    if (!arg || !strcmp(arg, "-"))
        path = "-";
    else if (arg[0] == '@')
        path = arg + 1;
    else if (!strncmp(arg, "edn:", 4))
        path = arg + 4;
    else if (!strncmp(arg, "json:", 5)) {
        path = arg + 5;
        *json_out = 1;
    }
    if (!path) {
        *len_out = strlen(arg);
        *text_out = xstrdup(arg);
        return 0;
    }
    if (ends_with(path, ".json"))
        *json_out = 1;
    if (!strcmp(path, "-") && isatty(0) && !c->in_shell)
        fputs("cairn: reading data from standard input (end it with Ctrl-D)\n", stderr);
    if (!(*text_out = cli_read_file(path, len_out)))
        return cli_failf(c, ":cli/file", "cannot read %s: %s", strcmp(path, "-") ? path : "standard input",
                         strerror(errno));
    return 0;
}

int cli_arg_value(cli *c, const char *arg, cairn_val *out)
{
    cairn_error err = CAIRN_ERROR_INIT, jerr = CAIRN_ERROR_INIT;
    char *text;
    size_t len;
    int json, rc;
    if ((rc = cli_arg_text(c, arg, &text, &len, &json)) != 0)
        return rc;
    if (json) {
        rc = cairn_json_read(out, text, len, NULL, &err);
    } else {
        rc = cairn_edn_read(out, text, len, NULL, &err);
        if (rc == CAIRN_EINVALID && cairn_json_read(out, text, len, NULL, &jerr) == 0)
            rc = 0;
    }
    free(text);
    cli_check_oom(rc);
    if (rc < 0)
        return cli_fail(c, &err);
    return 0;
}
