/*
 * Running the built `cairn` command from tests (tests/cli): with arguments
 * and standard input, capturing its output and exit status; or under a
 * pseudo-terminal (forkpty), typing into the interactive shell.
 *
 * The binary is the one of the test runner's own build (build/<cfg>/cairn,
 * next to build/<cfg>/tools/), so the ASan tests drive an ASan CLI.
 */
#ifndef CAIRN_TESTS_CLI_RUN_H
#define CAIRN_TESTS_CLI_RUN_H

#include <stddef.h>

typedef struct cli_result {
    int status;    /* exit status, or 128 + signal */
    char *out;     /* standard output (NUL-terminated, malloc'd) */
    char *err;     /* standard error */
} cli_result;

/* Path of build/<cfg>/cairn. */
const char *cli_bin(void);

/*
 * Runs cairn with argv (NULL-terminated, without the program name) in
 * directory cwd (NULL: the current one), feeding in (NULL: nothing) on
 * standard input. Fails the test if it cannot run or takes over 120 s.
 */
void cli_exec(cli_result *r, const char *cwd, const char *in, const char *const *argv);
void cli_result_free(cli_result *r);
/* Runs script with /bin/sh -c in cwd, with the cairn binary's directory
 * first on PATH (so scripts say `cairn`). */
void cli_sh(cli_result *r, const char *cwd, const char *script);

/* cli_exec with arguments inline: CAIRN(&r, stdin, "datoms", db, ":eavt") */
#define CAIRN(r, in, ...) cli_exec((r), NULL, (in), (const char *const[]){ __VA_ARGS__, NULL })

/* A shell under a pseudo-terminal. */
typedef struct cli_pty {
    int fd;        /* master side */
    int pid;       /* the child */
    char *seen;    /* everything read so far (malloc'd) */
    size_t len;    /* its length */
} cli_pty;

/* Starts `cairn shell ARGS...` on a new pseudo-terminal. */
void cli_pty_start(cli_pty *p, const char *const *argv);
/* Types text (keys as bytes: "\t" is Tab, "\004" Ctrl-D). */
void cli_pty_type(cli_pty *p, const char *text);
/* Waits (up to timeout_ms) until the shell's terminal is out of canonical
 * mode, i.e. the line editor is reading keys; then keys like Ctrl-D reach it
 * as keys, not as the terminal's end of file. */
void cli_pty_wait_raw(cli_pty *p, int timeout_ms);
/* Reads until the output since offset `from` contains want; fails the test
 * after timeout_ms. Returns the offset just after the match. */
size_t cli_pty_expect(cli_pty *p, size_t from, const char *want, int timeout_ms);
/* Waits for the child to exit; its status. */
int cli_pty_finish(cli_pty *p);
/* cli_pty_finish, typing keys again every second until the shell exits: for
 * a Ctrl-D, which libedit drops when it arrives between printing the prompt
 * and switching the terminal to raw mode. */
int cli_pty_finish_retyping(cli_pty *p, const char *keys);

/* test_tmpdir()/name (one of 32 rotating buffers). */
char *cli_path(const char *name);
/* Checks that r exited 0 (its stderr goes into the failure message). */
void cli_check_ok(const cli_result *r);
/* Checks that r failed with this exit status and one error line holding keyword. */
void cli_check_fails(const cli_result *r, int status, const char *keyword);

/* Reads a whole file (malloc'd, NUL-terminated) or NULL. */
char *cli_slurp(const char *path, size_t *len_out);

#endif
