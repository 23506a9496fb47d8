/*
 * store_lock BACKEND PATH [hold]: tries to become the writer of a store from
 * another process. Prints "locked" and exits 0, or prints "busy" and exits 3
 * when another writer holds it (2 for any other failure). With hold, it keeps
 * the lock until its stdin reaches end of file.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "support/store_util.h"

int main(int argc, char **argv)
{
    cairn_store *s;
    cairn_error err = CAIRN_ERROR_INIT;
    char buf[64];
    int rc;
    if (argc < 3) {
        fprintf(stderr, "usage: store_lock BACKEND PATH [hold]\n");
        return 2;
    }
    if ((rc = store_open(&s, argv[1], argv[2], &err)) < 0) {
        fprintf(stderr, "store_lock: open: %s\n", err.message);
        return 2;
    }
    rc = cairn_store_lock(s);
    if (rc == CAIRN_EBUSY) {
        printf("busy\n");
        cairn_store_close(s);
        return 3;
    }
    if (rc < 0) {
        fprintf(stderr, "store_lock: %s\n", s->err.message);
        cairn_store_close(s);
        return 2;
    }
    printf("locked\n");
    fflush(stdout);
    if (argc > 3 && !strcmp(argv[3], "hold"))
        while (read(0, buf, sizeof buf) > 0)
            ;
    cairn_store_close(s);
    return 0;
}
