/*
 * db_reader PATH MILLIS: a reader process for the multi-process test. For
 * MILLIS milliseconds it takes the current value of the file store at PATH
 * again and again and checks each snapshot (db_check.h). Prints
 * "snapshots N distinct D max-tx T" and exits 0, or prints the first
 * inconsistency and exits 1.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cairn.h"
#include "support/db_check.h"

static double now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec * 1e3 + (double)ts.tv_nsec / 1e6;
}

int main(int argc, char **argv)
{
    char cfgtext[4096];
    cairn_val cfg;
    cairn_conn *conn;
    cairn_error err = CAIRN_ERROR_INIT;
    double end;
    long snapshots = 0, distinct = 0;
    int64_t last_tx = -1;
    if (argc != 3) {
        fprintf(stderr, "usage: db_reader PATH MILLIS\n");
        return 2;
    }
    end = now_ms() + atof(argv[2]);
    snprintf(cfgtext, sizeof cfgtext, "{:store {:backend :file :path \"%s\"}}", argv[1]);
    if (cairn_edn_read(&cfg, cfgtext, strlen(cfgtext), NULL, &err) != 0 || cairn_connect(&conn, cfg, &err) != 0) {
        printf("connect failed: %s %s\n", err.keyword, err.message);
        return 1;
    }
    while (now_ms() < end) {
        cairn_db *db;
        dbcheck_result r;
        if (cairn_conn_db(&db, conn, &err) != 0) {
            printf("db failed: %s %s\n", err.keyword, err.message);
            return 1;
        }
        if (dbcheck_snapshot(&r, db, NULL, 0) != 0) {
            printf("inconsistent snapshot at max-tx %lld: %s\n", (long long)r.max_tx, r.problem);
            return 1;
        }
        if (r.max_tx < last_tx) {
            printf("went back in time: max-tx %lld after %lld\n", (long long)r.max_tx, (long long)last_tx);
            return 1;
        }
        if (r.max_tx != last_tx)
            distinct++;
        last_tx = r.max_tx;
        snapshots++;
        cairn_db_release(db);
    }
    printf("snapshots %ld distinct %ld max-tx %lld\n", snapshots, distinct, (long long)last_tx);
    cairn_conn_release(conn);
    cairn_release(cfg);
    return 0;
}
