/* Every example in docs/cli.md runs, in order, in one empty directory, and
 * prints what the page says (jq's man.test idea). In a ```sh block a line
 * "$ cmd" is a command (continued while its single quotes are open, and over
 * a <<'EOF' here-document); the lines after it are its standard output,
 * where '*' matches any text and a line "..." any number of lines.
 */
#include <stdlib.h>

#include "test.h"
#include "cli/cli_run.h"

static char *repo_path(const char *rel)
{
    static char path[1400];
    snprintf(path, sizeof path, "%s", cli_bin());
    for (int i = 0; i < 3; i++)
        *strrchr(path, '/') = 0;
    strcat(path, "/");
    strcat(path, rel);
    return path;
}

/* '*' matches any run of characters; everything else literally. */
static int glob(const char *p, const char *s, size_t n)
{
    if (!*p)
        return n == 0;
    if (*p == '*') {
        for (size_t k = 0; k <= n; k++)
            if (glob(p + 1, s + k, n - k))
                return 1;
        return 0;
    }
    return n > 0 && *p == *s && glob(p + 1, s + 1, n - 1);
}

/* Lines of text (pointers into it; text is changed). */
static size_t split_lines(char *text, char **lines, size_t cap)
{
    size_t n = 0;
    char *p = text;
    while (*p && n < cap) {
        char *nl = strchr(p, '\n');
        lines[n++] = p;
        if (!nl)
            break;
        *nl = 0;
        p = nl + 1;
    }
    return n;
}

/* want[i..] against got[j..]; "..." matches any number of lines. */
static int match_lines(char **want, size_t nw, char **got, size_t ng)
{
    if (nw == 0)
        return ng == 0;
    if (!strcmp(want[0], "...")) {
        for (size_t k = 0; k <= ng; k++)
            if (match_lines(want + 1, nw - 1, got + k, ng - k))
                return 1;
        return 0;
    }
    return ng > 0 && glob(want[0], got[0], strlen(got[0])) && match_lines(want + 1, nw - 1, got + 1, ng - 1);
}

static int quotes_open(const char *s)
{
    int open = 0;
    for (; *s; s++)
        open ^= *s == '\'';
    return open;
}

static int run_example(const char *cmd, char **want, size_t nwant)
{
    cli_result r;
    char *got[4096];
    size_t ngot;
    int ok;
    cli_sh(&r, test_tmpdir(), cmd);
    {
        /* a trailing newline ends the last line; it is not a line of its own */
        size_t len = strlen(r.out);
        if (len && r.out[len - 1] == '\n')
            r.out[len - 1] = 0;
        ngot = r.out[0] ? split_lines(r.out, got, 4096) : 0;
    }
    ok = match_lines(want, nwant, got, ngot);
    if (!ok) {
        fprintf(stderr, "docs/cli.md example failed: %s\n  exit %d, stderr: %s  want:\n", cmd, r.status, r.err);
        for (size_t i = 0; i < nwant; i++)
            fprintf(stderr, "    %s\n", want[i]);
        fprintf(stderr, "  got:\n");
        for (size_t i = 0; i < ngot; i++)
            fprintf(stderr, "    %s\n", got[i]);
    }
    cli_result_free(&r);
    return ok;
}

void test_cli_docs__every_example_in_cli_md_runs(void)
{
    char *doc = cli_slurp(repo_path("docs/cli.md"), NULL), *lines[8192];
    size_t n, examples = 0;
    int in_block = 0;
    CHECK_MSG(doc != NULL, "no docs/cli.md");
    /* (no symlink into the repository here: the runner's clean-up of a
     * passed test's directory follows symlinks) */
    n = split_lines(doc, lines, 8192);
    for (size_t i = 0; i < n; i++) {
        if (!strncmp(lines[i], "```", 3)) {
            in_block = !in_block && !strcmp(lines[i], "```sh");
            continue;
        }
        if (!in_block || strncmp(lines[i], "$ ", 2))
            continue;
        {
            size_t cap = 1 << 16, len = 0, first_out;
            char *cmd = malloc(cap), *want[256];
            size_t nwant = 0;
            len += (size_t)snprintf(cmd, cap, "%s", lines[i] + 2);
            while ((quotes_open(cmd) || strstr(cmd, "<<'EOF'")) && i + 1 < n) {
                int heredoc = strstr(cmd, "<<'EOF'") != NULL;
                len += (size_t)snprintf(cmd + len, cap - len, "\n%s", lines[++i]);
                if (heredoc && !strcmp(lines[i], "EOF"))
                    break;
            }
            first_out = i + 1;
            while (first_out + nwant < n && strncmp(lines[first_out + nwant], "$ ", 2) &&
                   strncmp(lines[first_out + nwant], "```", 3) && nwant < 256) {
                want[nwant] = lines[first_out + nwant];
                nwant++;
            }
            CHECK_MSG(run_example(cmd, want, nwant), "example %zu of docs/cli.md differs (see above)",
                      examples + 1);
            i = first_out + nwant - 1;
            examples++;
            free(cmd);
        }
    }
    CHECK(examples >= 40);
    free(doc);
}

/* Every command of `cairn help` has a section in docs/cli.md and an entry in
 * docs/cairn.1; the man page renders without warnings; its examples are
 * among the ones the test above runs. */
void test_cli_docs__man_page_and_manual_cover_every_command(void)
{
    char *md = cli_slurp(repo_path("docs/cli.md"), NULL), *man = cli_slurp(repo_path("docs/cairn.1"), NULL);
    char *lines[512], cmd[1600];
    size_t n;
    int in_commands = 0, commands = 0;
    cli_result r;
    CHECK(md != NULL && man != NULL);
    CAIRN(&r, NULL, "help");
    CHECK_EQ(r.status, 0);
    n = split_lines(r.out, lines, 512);
    for (size_t i = 0; i < n; i++) {
        char name[64], heading[80], man_name[80];
        const char *p;
        size_t k = 0;
        if (!strcmp(lines[i], "commands:")) {
            in_commands = 1;
            continue;
        }
        if (!in_commands || strncmp(lines[i], "  ", 2))
            in_commands = in_commands && lines[i][0];
        if (!in_commands || lines[i][0] != ' ')
            continue;
        for (p = lines[i] + 2; *p && *p != ' ' && k + 1 < sizeof name; p++)
            name[k++] = *p;
        name[k] = 0;
        commands++;
        /* a "### name..." heading, or the name in one with others */
        snprintf(heading, sizeof heading, "### %s", name);
        CHECK_MSG(strstr(md, heading) || strstr(md, name), "docs/cli.md lacks %s", name);
        {
            char *h = md, *found = NULL;
            while ((h = strstr(h, "\n### ")) != NULL && !found) {
                char *eol = strchr(h + 1, '\n');
                char *w = strstr(h, name);
                if (w && eol && w < eol)
                    found = w;
                h++;
            }
            CHECK_MSG(found || !strcmp(name, "help") || !strcmp(name, "version"),
                      "docs/cli.md has no ### section for %s", name);
        }
        k = 0;
        for (p = name; *p && k + 3 < sizeof man_name; p++) {
            if (*p == '-')
                man_name[k++] = '\\';
            man_name[k++] = *p;
        }
        man_name[k] = 0;
        CHECK_MSG(strstr(man, man_name) != NULL, "docs/cairn.1 lacks %s", name);
    }
    CHECK(commands >= 20);
    cli_result_free(&r);
    /* examples of the man page are run as part of docs/cli.md */
    n = split_lines(man, lines, 512);
    for (size_t i = 0; i < n; i++) {
        char ex[1200];
        size_t k = 0;
        if (strncmp(lines[i], "$ cairn ", 8))
            continue;
        for (const char *p = lines[i]; *p && k + 1 < sizeof ex; p++)
            if (!(p[0] == '\\' && p[1] == '-'))
                ex[k++] = *p;
        ex[k] = 0;
        CHECK_MSG(strstr(md, ex) != NULL, "man page example not in docs/cli.md: %s", ex);
    }
    snprintf(cmd, sizeof cmd, "groff -man -Tutf8 -ww -z %s 2>&1", repo_path("docs/cairn.1"));
    cli_sh(&r, NULL, cmd);
    CHECK_MSG(r.status == 0 && r.out[0] == 0, "groff: %s %s", r.out, r.err);
    cli_result_free(&r);
    free(md);
    free(man);
}

/* Replaces every " cairn/" in s (a command from docs/api.md, written for a
 * checkout in ./cairn) with the path of this checkout. */
static void root_paths(char *out, size_t cap, const char *s)
{
    const char *root = repo_path("");
    size_t len = 0;
    while (*s && len + 1 < cap) {
        if (!strncmp(s, " cairn/", 7)) {
            len += (size_t)snprintf(out + len, cap - len, " %s", root);
            s += 7;
        } else {
            out[len++] = *s++;
        }
    }
    out[len < cap ? len : cap - 1] = 0;
}

/* The complete example of docs/api.md (section 3) compiles with the page's
 * own command line, against this checkout's libcairn.a, and prints exactly
 * the output the page shows; in the ASan+UBSan build it is compiled with
 * the sanitizers against that build's library, and must exit cleanly (no
 * leak, no undefined behaviour). */
void test_cli_docs__api_example_compiles_and_prints_what_the_page_says(void)
{
    char *doc = cli_slurp(repo_path("docs/api.md"), NULL);
    char *sec, *code, *code_end, *sh, *sh_end, *want, *p, src[1100], cmd[4096], joined[4096];
    cli_result r;
    FILE *f;
    CHECK(doc != NULL);
    sec = strstr(doc, "\n## 3. A complete example");
    CHECK(sec != NULL);
    code = strstr(sec, "\n```c\n");
    CHECK(code != NULL);
    code += 6;
    code_end = strstr(code, "\n```\n");
    sh = code_end ? strstr(code_end, "\n```sh\n$ cc ") : NULL;
    CHECK(code_end != NULL && sh != NULL);
    sh += 9;
    sh_end = strstr(sh, "\n```\n");
    want = strstr(sh, "\n$ ./api_example\n");
    CHECK(sh_end != NULL && want != NULL && want < sh_end);
    /* the program */
    snprintf(src, sizeof src, "%s/api_example.c", test_tmpdir());
    f = fopen(src, "w");
    CHECK(f != NULL);
    fwrite(code, 1, (size_t)(code_end - code) + 1, f);
    fclose(f);
    /* the command line, its continuation lines joined */
    {
        size_t k = 0;
        for (p = sh; p < want && k + 1 < sizeof joined; p++) {
            if (p[0] == '\\' && p[1] == '\n') {
                p++;
                continue;
            }
            joined[k++] = *p;
        }
        joined[k] = 0;
    }
    root_paths(cmd, sizeof cmd, joined);
#ifdef __SANITIZE_ADDRESS__
    /* the ASan+UBSan stage: the same program against the sanitized library,
     * so the page's "leak-free under AddressSanitizer" is checked too */
    {
        static const char rel[] = "/build/rel/libcairn.a";
        char *lib = strstr(cmd, rel);
        CHECK(lib != NULL);
        *lib = 0;
        snprintf(joined, sizeof joined, "%s/build/asan/libcairn.a%s -fsanitize=address,undefined -fno-sanitize-recover=all",
                 cmd, lib + strlen(rel));
        snprintf(cmd, sizeof cmd, "%s", joined);
    }
#endif
    cli_sh(&r, test_tmpdir(), cmd);
    CHECK_MSG(r.status == 0, "%s\nexit %d: %s", cmd, r.status, r.err);
    cli_result_free(&r);
    /* its output */
    want += strlen("\n$ ./api_example\n");
    *sh_end = 0;
    cli_sh(&r, test_tmpdir(), "./api_example");
    CHECK_MSG(r.status == 0, "exit %d: %s", r.status, r.err);
    {
        size_t n = strlen(r.out);
        CHECK_MSG(n == strlen(want) + 1 && !strncmp(r.out, want, n - 1) && r.out[n - 1] == '\n',
                  "docs/api.md says:\n%s\nthe example printed:\n%s", want, r.out);
    }
    cli_result_free(&r);
    free(doc);
}
