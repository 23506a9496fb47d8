/*
 * The `cairn` command. Uses only include/cairn.h.
 */
#include <stdio.h>
#include <string.h>

#include "cairn.h"

static void usage(FILE *out)
{
    fprintf(out,
            "usage: cairn COMMAND [ARGS...]\n"
            "\n"
            "commands:\n"
            "  help                 this text\n"
            "  version              the library version\n");
}

int main(int argc, char **argv)
{
    if (argc < 2 || !strcmp(argv[1], "help") || !strcmp(argv[1], "--help") || !strcmp(argv[1], "-h")) {
        usage(stdout);
        return argc < 2 ? 2 : 0;
    }
    if (!strcmp(argv[1], "version") || !strcmp(argv[1], "--version")) {
        printf("cairn %s\n", cairn_libversion());
        return 0;
    }
    fprintf(stderr, "cairn: unknown command '%s' (try: cairn help)\n", argv[1]);
    return 2;
}
