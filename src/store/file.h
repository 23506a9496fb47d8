/*
 * The file backend's internal entry point, for tests, tools and benchmarks
 * that replace its I/O (vfs.h) or break it on purpose. Applications open it
 * from a config map: {:backend :file :path "/data/db"}.
 */
#ifndef CAIRN_STORE_FILE_H
#define CAIRN_STORE_FILE_H

#include "store/store.h"
#include "store/vfs.h"

#define CAIRN_FILE_FORMAT 3           /* the version file's number (1 and 2 are read too) */
#define CAIRN_FILE_KEEP_SLOTS 8       /* head slots kept per head */
#define CAIRN_FILE_SWEEP_AGE 300      /* seconds before another writer's temp file is swept */
#define CAIRN_FILE_THREADS 16         /* parallel node writers in one put_many (at most 16) */
#define CAIRN_FILE_LOG_BYTES (4u << 20)  /* commit log segment size (file.c, "the commit log") */
#define CAIRN_FILE_PACK_MIN 16           /* new nodes from which put_many writes a pack (file.c, "packs") */

/*
 * Deliberate durability bugs, for the crash tests to prove they catch them
 * (reliability.md R2, "harness power check"). Never set outside tests.
 */
enum cairn_file_mutant {
    CAIRN_FILE_MUTANT_NO_FILE_FSYNC = 1,  /* rename/link a temp file without fsyncing it */
    CAIRN_FILE_MUTANT_NO_DIR_FSYNC = 2,   /* never fsync a directory */
    CAIRN_FILE_MUTANT_NO_LOG_SYNC = 4     /* acknowledge a log entry without its fdatasync */
};

typedef struct cairn_file_options {
    cairn_vfs *vfs;          /* I/O; NULL: cairn_vfs_posix */
    unsigned keep_slots;     /* head slots kept per head, >= 2; 0: CAIRN_FILE_KEEP_SLOTS */
    int64_t sweep_age;       /* seconds; < 0: CAIRN_FILE_SWEEP_AGE */
    unsigned threads;        /* node writers per put_many; 0: CAIRN_FILE_THREADS, 1: none */
    unsigned mutants;        /* cairn_file_mutant bits; 0 outside tests */
    /* Test hook (reliability.md R9): called in head_cas after the current
     * head is read and before the new slot is linked, so a test can move the
     * head from another handle in between. NULL outside tests. */
    void (*race_hook)(void *payload, const char *head);
    void *race_payload;      /* passed to race_hook */
    /* Commit log segment size in bytes: the lock holder commits by appending
     * to log/ (file.c). 0: CAIRN_FILE_LOG_BYTES, or the environment's
     * CAIRN_FILE_LOG_BYTES (0 there too: no log); < 0: no log, every commit
     * writes node files and a head slot. */
    int64_t log_bytes;
    /* A put_many (a checkpoint, a large commit) with at least this many new
     * nodes writes them as one pack file instead of a file each (file.c,
     * "packs"). 0: CAIRN_FILE_PACK_MIN, or the environment's
     * CAIRN_FILE_PACK_MIN (0 there: no packs); < 0: no packs. */
    int pack_min;
} cairn_file_options;

#define CAIRN_FILE_OPTIONS_INIT { NULL, 0, -1, 0, 0, NULL, NULL, 0, 0 }

/*
 * Opens (creating if needed) the file store at path. opt may be NULL.
 * @return 0, CAIRN_EUNSUPPORTED (unknown format version), CAIRN_ECORRUPT (not
 * a cairn store), CAIRN_EIO, CAIRN_ENOMEM.
 */
int cairn_store_file_open_with(cairn_store **out, const char *path, const cairn_file_options *opt,
                               cairn_error *err);

#endif
