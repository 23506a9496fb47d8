/*
 * store_writer PATH [COMMITS]: the writer of the kill tests (reliability.md
 * R1). Becomes the writer of the file store at PATH, carries on from its
 * head, and commits COMMITS (default: forever) small workload commits
 * (tests/support/store_util.h), printing "ack SEQ" on stdout after each
 * head_cas returned, which is when the commit is durable.
 *
 * CAIRN_CRASH_AT=N makes it raise SIGKILL just before its Nth file-system
 * call, a deterministic kill point anywhere in the commit path.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/file.h"
#include "support/store_fault.h"
#include "support/store_util.h"

int main(int argc, char **argv)
{
    static vfs_fault vf;
    cairn_file_options opt = CAIRN_FILE_OPTIONS_INIT;
    cairn_error err = CAIRN_ERROR_INIT;
    const char *crash_at = getenv("CAIRN_CRASH_AT");
    long commits = argc > 2 ? atol(argv[2]) : -1;
    cairn_store *s;
    store_wl w;
    int rc;
    if (argc < 2) {
        fprintf(stderr, "usage: store_writer PATH [COMMITS]\n");
        return 2;
    }
    vfs_fault_init(&vf, NULL);
    if (crash_at && atol(crash_at) > 0) {
        vf.kill = 1;
        vfs_fault_arm(&vf, VOP_ALL, (uint64_t)atol(crash_at), 0, 0);
    }
    opt.vfs = &vf.vfs;
    if ((rc = cairn_store_file_open_with(&s, argv[1], &opt, &err)) < 0) {
        fprintf(stderr, "store_writer: %s\n", err.message);
        return 1;
    }
    if ((rc = cairn_store_lock(s)) < 0 || (rc = store_wl_init(&w, s, "db", (uint64_t)getpid())) < 0) {
        fprintf(stderr, "store_writer: %s\n", s->err.message);
        return 1;
    }
    w.nodes_min = 1;
    w.nodes_max = 4;
    w.node_len_max = 3000;
    for (long i = 0; commits < 0 || i < commits; i++) {
        char line[64];
        int n;
        if ((rc = store_wl_commit(&w, s, NULL)) < 0) {
            fprintf(stderr, "store_writer: commit: %s\n", s->err.message);
            return 1;
        }
        n = snprintf(line, sizeof line, "ack %llu\n", (unsigned long long)w.seq);
        if (write(1, line, (size_t)n) != n)
            return 1; /* the parent is gone */
    }
    cairn_store_close(s);
    return 0;
}
