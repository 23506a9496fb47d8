/*
 * db_writer PATH THREADS COUNT FIRST: a writer process for the crash and
 * multi-process tests. THREADS client threads transact batches FIRST,
 * FIRST+1, ... (COUNT in all) into the file store at PATH through one
 * connection, and print "ack K" on stdout for every batch acknowledged.
 * The parent kills it at random points.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cairn.h"
#include "support/db_check.h"

static cairn_conn *conn;
static _Atomic long next_k;
static long last_k;

static void *client(void *arg)
{
    (void)arg;
    for (;;) {
        long k = atomic_fetch_add(&next_k, 1);
        char tx[1024], line[64];
        cairn_error err = CAIRN_ERROR_INIT;
        int n;
        if (k > last_k)
            return NULL;
        dbcheck_batch_tx(tx, sizeof tx, k);
        if (cairn_transact_edn(NULL, conn, tx, strlen(tx), &err) == 0)
            n = snprintf(line, sizeof line, "ack %ld\n", k);
        else
            n = snprintf(line, sizeof line, "fail %ld %s\n", k, err.keyword);
        if (write(1, line, (size_t)n) != n)
            return NULL;
    }
}

int main(int argc, char **argv)
{
    char cfgtext[4096];
    cairn_val cfg;
    cairn_error err = CAIRN_ERROR_INIT;
    pthread_t th[64];
    int threads;
    if (argc != 5) {
        fprintf(stderr, "usage: db_writer PATH THREADS COUNT FIRST\n");
        return 2;
    }
    threads = atoi(argv[2]);
    if (threads < 1 || threads > 64)
        return 2;
    next_k = atol(argv[4]);
    last_k = next_k + atol(argv[3]) - 1;
    snprintf(cfgtext, sizeof cfgtext, "{:store {:backend :file :path \"%s\"}}", argv[1]);
    if (cairn_edn_read(&cfg, cfgtext, strlen(cfgtext), NULL, &err) != 0 || cairn_connect(&conn, cfg, &err) != 0) {
        fprintf(stderr, "db_writer: %s %s\n", err.keyword, err.message);
        return 1;
    }
    for (int i = 0; i < threads; i++)
        pthread_create(&th[i], NULL, client, NULL);
    for (int i = 0; i < threads; i++)
        pthread_join(th[i], NULL);
    cairn_conn_release(conn);
    cairn_release(cfg);
    return 0;
}
