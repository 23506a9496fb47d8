/*
 * The unit-test runner.
 *
 *   cairn-tests [-j N] [-n] [-l] [-t SECONDS] [PATTERN...]
 *
 * Runs every registered test whose name contains one of the PATTERNs (all when
 * none; a PATTERN starting with '!' excludes), each in a child process with its
 * output captured, N at a time (default: the number of CPUs). A test passes when
 * its child exits 0 after running at least one check. Failed tests have their
 * output printed in full. The last line is always "N passed, N failed", and the
 * exit status is 1 when anything failed.
 *
 * -n runs tests in this process, one after the other (for gdb); -l lists them.
 * Forking per test was chosen over running in-process: a crash, a sanitizer
 * report or a hang then fails one test instead of the whole run.
 */
#include "test.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cairn.h"

long test__checks;
static jmp_buf test_jmp;
static int test_in_child;
static char test_tmp[PATH_MAX];
static char test_root[PATH_MAX];      /* per-run temp root */
static char build_dir[PATH_MAX];      /* directory holding this binary */
static const char *current_name;
static uint64_t rng_state;
static uint64_t seed_value;

void test__fail(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "%s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  (seed %" PRIu64 ")\n", seed_value);
    fflush(stderr);
    longjmp(test_jmp, 1);
}

uint64_t test_seed(void)
{
    return seed_value;
}

void test_rand_reseed(uint64_t seed)
{
    rng_state = seed;
}

uint64_t test_rand(void)
{
    uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

uint64_t test_rand_below(uint64_t n)
{
    return test_rand() % n;
}

long test_scale(void)
{
    const char *s = getenv("CAIRN_TEST_SCALE");
    long v = s ? strtol(s, NULL, 10) : 1;
    return v > 0 ? v : 1;
}

static void sanitize_name(char *dst, size_t cap, const char *name)
{
    size_t i;
    for (i = 0; name[i] && i + 1 < cap; i++)
        dst[i] = name[i];
    dst[i] = 0;
}

const char *test_tmpdir(void)
{
    if (!test_tmp[0]) {
        char nm[200];
        sanitize_name(nm, sizeof nm, current_name ? current_name : "test");
        snprintf(test_tmp, sizeof test_tmp, "%s/%s", test_root, nm);
        if (mkdir(test_tmp, 0700) != 0 && errno != EEXIST)
            test__fail(__FILE__, __LINE__, "mkdir %s: %s", test_tmp, strerror(errno));
    }
    return test_tmp;
}

const char *test_tool(const char *name)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/tools/%s", build_dir, name);
    return path;
}

const char *test_shared_dir(void)
{
    static char path[PATH_MAX];
    const char *env = getenv("CAIRN_SHARED");
    if (env && *env)
        return env;
    /* build_dir is <repo>/build/<cfg> */
    snprintf(path, sizeof path, "%s/../../../shared", build_dir);
    return path;
}

char *test_slurp(const char *path, size_t *len_out)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL, *grown;
    size_t len = 0, cap = 0, n;
    if (!f)
        return NULL;
    do {
        if (cap - len < 65536) {
            cap = cap ? cap * 2 : 65536;
            if (!(grown = realloc(buf, cap + 1))) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = grown;
        }
        n = fread(buf + len, 1, cap - len, f);
        len += n;
    } while (n > 0);
    if (ferror(f)) {
        free(buf);
        buf = NULL;
    } else {
        buf[len] = 0;
        if (len_out)
            *len_out = len;
    }
    fclose(f);
    return buf;
}

static void rm_rf(const char *path)
{
    struct stat st;
    DIR *d;
    /* a symlink goes, never what it points at */
    if (lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
        unlink(path);
        return;
    }
    d = opendir(path);
    if (d) {
        struct dirent *e;
        while ((e = readdir(d)) != NULL) {
            char sub[PATH_MAX];
            if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
                continue;
            snprintf(sub, sizeof sub, "%s/%s", path, e->d_name);
            rm_rf(sub);
        }
        closedir(d);
        rmdir(path);
    } else {
        unlink(path);
    }
}

static int matches(const char *name, int npat, char **pats)
{
    int any_include = 0, included = 0;
    for (int i = 0; i < npat; i++) {
        if (pats[i][0] == '!') {
            if (strstr(name, pats[i] + 1))
                return 0;
        } else {
            any_include = 1;
            if (strstr(name, pats[i]))
                included = 1;
        }
    }
    return !any_include || included;
}

static uint64_t name_seed(const char *name)
{
    uint64_t h = 1469598103934665603ULL;
    const char *env = getenv("CAIRN_TEST_SEED");
    if (env && *env)
        return strtoull(env, NULL, 0);
    for (; *name; name++)
        h = (h ^ (unsigned char)*name) * 1099511628211ULL;
    return h;
}

/* Runs one test in the current process; returns 0 on pass. */
static int run_here(const struct test_case *tc)
{
    current_name = tc->name;
    test_tmp[0] = 0;
    test__checks = 0;
    seed_value = name_seed(tc->name);
    test_rand_reseed(seed_value);
    if (setjmp(test_jmp))
        return 1;
    tc->fn();
    if (test__checks == 0) {
        fprintf(stderr, "%s: ran no check (a test that cannot fail is a defect)\n", tc->name);
        return 1;
    }
    return 0;
}

struct slot {
    pid_t pid;                  /* child, 0 when free */
    const struct test_case *tc; /* its test */
    char out[PATH_MAX];         /* captured output */
    struct timespec start;      /* when it started */
};

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

static void print_file(const char *path)
{
    FILE *f = fopen(path, "r");
    char buf[4096];
    size_t n;
    if (!f)
        return;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0)
        fwrite(buf, 1, n, stdout);
    fclose(f);
}

static int start_child(struct slot *s, const struct test_case *tc, int timeout)
{
    static int counter;
    pid_t pid;
    snprintf(s->out, sizeof s->out, "%s/.out.%d", test_root, counter++);
    fflush(stdout);
    fflush(stderr);
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(s->out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        setvbuf(stdout, NULL, _IOLBF, 0);
        test_in_child = 1;
        alarm((unsigned)timeout);
        exit(run_here(tc));  /* exit, not _exit: LeakSanitizer checks at exit */
    }
    s->pid = pid;
    s->tc = tc;
    clock_gettime(CLOCK_MONOTONIC, &s->start);
    return 0;
}

static int finish_child(struct slot *s, int status)
{
    double ms = elapsed_ms(&s->start);
    int ok = WIFEXITED(status) && WEXITSTATUS(status) == 0;
    if (ok) {
        printf("pass  %-70s %8.1f ms\n", s->tc->name, ms);
        char dir[PATH_MAX];
        char nm[200];
        sanitize_name(nm, sizeof nm, s->tc->name);
        snprintf(dir, sizeof dir, "%s/%s", test_root, nm);
        rm_rf(dir);
    } else {
        printf("FAIL  %-70s %8.1f ms", s->tc->name, ms);
        if (WIFSIGNALED(status))
            printf("  (signal %d%s)", WTERMSIG(status), WTERMSIG(status) == SIGALRM ? ": timeout" : "");
        printf("\n");
        print_file(s->out);
        printf("----\n");
    }
    unlink(s->out);
    s->pid = 0;
    return ok;
}

int main(int argc, char **argv)
{
    int jobs = (int)sysconf(_SC_NPROCESSORS_ONLN), no_fork = 0, list = 0, timeout = 600;
    int npat = 0, passed = 0, failed = 0;
    char **pats = calloc((size_t)argc + 1, sizeof *pats);
    char *slash;

    if (!realpath(argv[0], build_dir))
        snprintf(build_dir, sizeof build_dir, "%s", argv[0]);
    slash = strrchr(build_dir, '/');
    if (slash)
        *slash = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "-j") && i + 1 < argc)
            jobs = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-t") && i + 1 < argc)
            timeout = atoi(argv[++i]);
        else if (!strcmp(argv[i], "-n"))
            no_fork = 1;
        else if (!strcmp(argv[i], "-l"))
            list = 1;
        else
            pats[npat++] = argv[i];
    }
    if (jobs < 1)
        jobs = 1;

    if (list) {
        for (const struct test_case *tc = test_cases; tc->name; tc++)
            if (matches(tc->name, npat, pats))
                printf("%s\n", tc->name);
        free(pats);
        return 0;
    }

    snprintf(test_root, sizeof test_root, "%s/cairn-tests.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (!mkdtemp(test_root)) {
        perror("mkdtemp");
        return 2;
    }

    if (no_fork) {
        for (const struct test_case *tc = test_cases; tc->name; tc++) {
            if (!matches(tc->name, npat, pats))
                continue;
            if (run_here(tc) == 0) {
                passed++;
                printf("pass  %s\n", tc->name);
            } else {
                failed++;
                printf("FAIL  %s\n", tc->name);
            }
        }
    } else {
        struct slot *slots = calloc((size_t)jobs, sizeof *slots);
        const struct test_case *next = test_cases;
        int running = 0;
        for (;;) {
            while (running < jobs && next->name) {
                const struct test_case *tc = next++;
                if (!matches(tc->name, npat, pats))
                    continue;
                for (int k = 0; k < jobs; k++) {
                    if (slots[k].pid == 0) {
                        if (start_child(&slots[k], tc, timeout) == 0)
                            running++;
                        else {
                            printf("FAIL  %s (fork: %s)\n", tc->name, strerror(errno));
                            failed++;
                        }
                        break;
                    }
                }
            }
            if (running == 0)
                break;
            {
                int status;
                pid_t pid = wait(&status);
                if (pid < 0)
                    break;
                for (int k = 0; k < jobs; k++) {
                    if (slots[k].pid == pid) {
                        if (finish_child(&slots[k], status))
                            passed++;
                        else
                            failed++;
                        running--;
                        break;
                    }
                }
            }
        }
        free(slots);
    }
    if (failed == 0)
        rm_rf(test_root);
    else
        printf("temp files of failed tests kept in %s\n", test_root);
    printf("%d passed, %d failed\n", passed, failed);
    free(pats);
    return failed ? 1 : 0;
}
