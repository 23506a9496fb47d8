/*
 * store_reader PATH: a reader of the kill tests (reliability.md R1). Opens
 * the file store at PATH without any lock and, until its stdin reaches end
 * of file, re-reads the head and checks that the commit it names and every
 * commit below it are complete and hash-valid, and that heads never go
 * backwards, pausing 0.2 ms between reads. Then prints "reads N violations V seq S" and exits 1 if it saw
 * any violation (the first is printed on stderr).
 */
#include <poll.h>
#include <stdio.h>
#include <unistd.h>

#include "support/store_util.h"

int main(int argc, char **argv)
{
    cairn_error err = CAIRN_ERROR_INIT;
    cairn_store *s;
    store_wl_seen seen = { NULL, 0, 0 };
    unsigned long long reads = 0, violations = 0, last = 0;
    if (argc < 2) {
        fprintf(stderr, "usage: store_reader PATH\n");
        return 2;
    }
    if (store_open(&s, "file", argv[1], &err) < 0) {
        fprintf(stderr, "store_reader: %s\n", err.message);
        return 2;
    }
    for (;;) {
        struct pollfd p = { 0, POLLIN, 0 };
        char why[256];
        void *v;
        size_t len;
        cairn_addr commit;
        uint64_t seq;
        int rc;
        if (poll(&p, 1, 0) > 0)
            break; /* stdin readable: end of file, the test is over */
        usleep(200); /* leave the writer some CPU on a 2-core machine */
        rc = cairn_store_head_read(s, "db", &v, &len);
        if (rc == CAIRN_ENOTFOUND && last == 0)
            continue;
        if (rc < 0) {
            snprintf(why, sizeof why, "head: %s", s->err.message);
        } else {
            rc = store_wl_parse_head(v, len, &commit, &seq) < 0 ? CAIRN_ECORRUPT : 0;
            cairn_free(v);
            if (rc < 0)
                snprintf(why, sizeof why, "head value malformed");
            else if (seq < last)
                rc = CAIRN_ECORRUPT, snprintf(why, sizeof why, "head went back from %llu to %llu", last,
                                              (unsigned long long)seq);
            else
                rc = store_wl_verify_new(s, &commit, seq, &seen, why, sizeof why);
        }
        if (rc < 0) {
            if (violations++ == 0)
                fprintf(stderr, "store_reader: violation: %s\n", why);
            continue;
        }
        last = seq;
        reads++;
    }
    printf("reads %llu violations %llu seq %llu\n", reads, violations, last);
    store_wl_seen_dispose(&seen);
    cairn_store_close(s);
    return violations ? 1 : 0;
}
