/*
 * The test harness; see harness.h.
 */
#include "harness.h"

#include <apr_env.h>
#include <apr_file_io.h>
#include <apr_general.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
    #include <io.h>
    #include <windows.h>
    #define dup _dup
    #define dup2 _dup2
    #define close _close
    #define fileno _fileno
#else
    #include <errno.h>
    #include <poll.h>
    #include <signal.h>
    #include <sys/syscall.h>
    #include <unistd.h>
#endif

mproc_start_method_e harness_method = MPROC_START_SPAWN;
static apr_pool_t *pool;

/*
 * Children append their CHILD_ASSERT lines to one file per test process,
 * named by this variable, which every start method passes on (fork copies
 * it, spawn and the forkserver inherit the environment set before the first
 * start). The test process reads what is new after each join.
 */
#define CHILD_LOG_VAR "MPROC_TEST_CHILD_LOG"
static char *child_log;
static long child_log_seen;

static const struct {
    const char *name;
    mproc_start_method_e method;
} methods[] = {{"spawn", MPROC_START_SPAWN},
               {"fork", MPROC_START_FORK},
               {"forkserver", MPROC_START_FORKSERVER}};

void harness_child_failed(const char *file, int line, const char *expr)
{
    char msg[1024];
    const char *path = child_log != NULL ? child_log : getenv(CHILD_LOG_VAR);
    const char *base = strrchr(file, '/');
    FILE *f;
    if (base == NULL)
        base = strrchr(file, '\\');
    snprintf(msg, sizeof msg,
             "%s:%d: CHILD_ASSERT(%s) failed in %s (pid %ld)\n",
             base != NULL ? base + 1 : file, line, expr,
             mproc_process_name(mproc_current_process()),
             mproc_process_pid(mproc_current_process()));
    fputs(msg, stderr);
    fflush(stderr);
    /* One write per line: children that fail at once do not interleave. */
    if (path != NULL && (f = fopen(path, "ab")) != NULL) {
        fwrite(msg, 1, strlen(msg), f);
        fclose(f);
    }
    mproc_exit(1);
}

/* What children have logged since the last call (caller frees), or NULL. */
static char *child_log_news(void)
{
    char *text, *news;
    size_t n;
    if (child_log == NULL || (text = harness_read_file(child_log)) == NULL)
        return NULL;
    n = strlen(text);
    if ((long) n <= child_log_seen) {
        free(text);
        return NULL;
    }
    news = strdup(text + child_log_seen);
    child_log_seen = (long) n;
    free(text);
    /* CUnit prints the message on one line. */
    n = strlen(news);
    while (n > 0 && (news[n - 1] == '\n' || news[n - 1] == '\r'))
        news[--n] = '\0';
    return news;
}

/* Fails the current test with what children logged, if anything. */
static void report_child_log(const char *what, const char *file, int line)
{
    char *news = child_log_news();
    char *msg;
    size_t n;
    if (news == NULL)
        return;
    n = strlen(what) + strlen(news) + 8;
    msg = malloc(n);
    snprintf(msg, n, "%s: %s", what, news);
    CU_assertImplementation(CU_FALSE, (unsigned) line, msg, file, "", CU_FALSE);
    free(msg);
    free(news);
}

/* Runs after each test: a child assertion nobody joined still fails it. */
static void after_test(void)
{
    report_child_log("a child failed", __FILE__, __LINE__);
}

/* @name as ctest spells it: lower case, runs of other characters as "_". */
static void ctest_name(const char *name, char *out, size_t size)
{
    size_t n = 0;
    int gap = 0;
    for (; *name != '\0' && n + 2 < size; name++) {
        char c = *name;
        if (c >= 'A' && c <= 'Z')
            c = (char) (c - 'A' + 'a');
        if ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')) {
            if (gap && n > 0)
                out[n++] = '_';
            out[n++] = c;
            gap = 0;
        } else
            gap = 1;
    }
    out[n] = '\0';
}

static int admits(const harness_test *t, mproc_start_method_e m)
{
    return t->methods == 0 || (t->methods & (1u << m)) != 0;
}

/* Whether @arg names @t, by its own name or as ctest spells it. */
static int names(const harness_test *t, const char *arg)
{
    char slug[256];
    ctest_name(t->name, slug, sizeof slug);
    return strcmp(t->name, arg) == 0 || strcmp(slug, arg) == 0;
}

/* Prints "name<TAB>methods" for each test; tests/CMakeLists.txt checks it. */
static int list_tests(const harness_test *tests)
{
    for (; tests->name != NULL; tests++) {
        size_t m;
        int first = 1;
        printf("%s\t", tests->name);
        for (m = 0; m < sizeof methods / sizeof methods[0]; m++)
            if (admits(tests, methods[m].method)) {
                printf("%s%s", first ? "" : " ", methods[m].name);
                first = 0;
            }
        printf("\n");
    }
    return 0;
}

int harness_main(int argc, char **argv, const char *suite_name,
                 const harness_test *tests)
{
    char full[128];
    CU_pSuite suite;
    const harness_test *t;
    unsigned failures;
    int i, rc = mproc_main(argc, argv);
    if (rc != 0) {
        fprintf(stderr, "mproc_main: %s\n", mproc_last_error());
        return 2;
    }
    apr_pool_create(&pool, NULL);
    if (argc >= 2 && strcmp(argv[1], "--list") == 0)
        return list_tests(tests);
    if (argc < 2) {
        fprintf(stderr,
                "usage: %s spawn|fork|forkserver|none [test name...]\n"
                "       %s --list\n",
                argv[0], argv[0]);
        return 2;
    }
    if (strcmp(argv[1], "none") != 0) {
        if (strcmp(argv[1], "spawn") == 0)
            harness_method = MPROC_START_SPAWN;
        else if (strcmp(argv[1], "fork") == 0)
            harness_method = MPROC_START_FORK;
        else if (strcmp(argv[1], "forkserver") == 0)
            harness_method = MPROC_START_FORKSERVER;
        else {
            fprintf(stderr, "unknown start method '%s'\n", argv[1]);
            return 2;
        }
        if (mproc_set_start_method(harness_method, 0) != 0) {
            fprintf(stderr, "%s\n", mproc_last_error());
            return 2;
        }
    }
    /* Every name asked for must exist and be admitted under the method. */
    for (i = 2; i < argc; i++) {
        for (t = tests; t->name != NULL && !names(t, argv[i]); t++)
            ;
        if (t->name == NULL) {
            fprintf(stderr, "%s has no test '%s' (see --list)\n", suite_name,
                    argv[i]);
            return 2;
        }
        if (!admits(t, harness_method)) {
            fprintf(stderr, "'%s' does not run under %s\n", t->name, argv[1]);
            return 2;
        }
    }
    child_log = harness_temp_path("child-log");
    apr_env_set(CHILD_LOG_VAR, child_log, pool);
    snprintf(full, sizeof full, "%s.%s", suite_name, argv[1]);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite_with_setup_and_teardown(full, NULL, NULL, NULL,
                                                 after_test);
    for (t = tests; t->name != NULL; t++) {
        int wanted = argc <= 2;
        for (i = 2; i < argc && !wanted; i++)
            wanted = names(t, argv[i]);
        if (wanted && admits(t, harness_method))
            CU_add_test(suite, t->name, t->fn);
    }
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    {
        /* A fatal CUnit assertion skips after_test(): look once more. */
        char *news = child_log_news();
        if (news != NULL) {
            fprintf(stderr, "a child failed: %s\n", news);
            free(news);
            failures++;
        }
    }
    remove(child_log);
    return failures != 0 ? 1 : 0;
}

mproc_process_t *harness_start(const char *target, mproc_value_t *args)
{
    mproc_process_t *p = NULL;
    mproc_process_opts_t o = {0};
    int rc;
    o.target = target;
    o.args = args;
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    mproc_value_free(args);
    rc = mproc_process_start(p);
    if (rc != 0)
        fprintf(stderr, "starting %s: %s (%s)\n", target, mproc_last_error(),
                mproc_err_name(rc));
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return p;
}

int harness_join_code_at(mproc_process_t *p, const char *file, int line)
{
    int code = -1000;
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    mproc_process_exitcode(p, &code);
    mproc_process_destroy(p);
    if (code != 0) {
        char what[64];
        snprintf(what, sizeof what, "child exited with %d", code);
        report_child_log(what, file, line);
    }
    return code;
}

int harness_run_at(const char *target, mproc_value_t *args, int *exitcode,
                   const char *file, int line)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    int rc;
    o.target = target;
    o.args = args;
    rc = mproc_process_create(&p, &o);
    mproc_value_free(args);
    if (rc != 0)
        return rc;
    rc = mproc_process_start(p);
    if (rc == 0)
        rc = mproc_process_join(p, MPROC_FOREVER);
    if (rc == 0)
        rc = mproc_process_exitcode(p, exitcode);
    mproc_process_destroy(p);
    if (rc == 0 && *exitcode != 0) {
        char what[80];
        snprintf(what, sizeof what, "%s exited with %d", target, *exitcode);
        report_child_log(what, file, line);
    }
    return rc;
}

char *harness_temp_path(const char *tag)
{
    static int counter;
    const char *dir = NULL;
    char buf[1024];
    apr_temp_dir_get(&dir, pool);
    snprintf(buf, sizeof buf, "%s/mproc-test-%ld-%d-%s", dir,
             mproc_process_pid(mproc_current_process()), ++counter, tag);
    remove(buf);
    return strdup(buf);
}

char *harness_read_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    char *buf;
    long n;
    if (f == NULL)
        return NULL;
    fseek(f, 0, SEEK_END);
    n = ftell(f);
    fseek(f, 0, SEEK_SET);
    buf = malloc((size_t) n + 1);
    if (buf != NULL) {
        n = (long) fread(buf, 1, (size_t) n, f);
        buf[n] = '\0';
    }
    fclose(f);
    return buf;
}

char *harness_field(const char *text, const char *key)
{
    size_t k = strlen(key);
    const char *p = text;
    while (p != NULL && *p != '\0') {
        if (strncmp(p, key, k) == 0 && p[k] == '=') {
            const char *v = p + k + 1, *e = strchr(v, '\n');
            size_t n = e ? (size_t) (e - v) : strlen(v);
            char *out;
            /* A text-mode file on Windows ends its lines with CR LF. */
            if (n > 0 && v[n - 1] == '\r')
                n--;
            out = malloc(n + 1);
            memcpy(out, v, n);
            out[n] = '\0';
            return out;
        }
        p = strchr(p, '\n');
        if (p != NULL)
            p++;
    }
    return NULL;
}

static int saved_stderr = -1;
static char *capture_path;

void harness_capture_stderr_begin(void)
{
    FILE *f;
    fflush(stderr);
    capture_path = harness_temp_path("stderr");
    f = fopen(capture_path, "wb");
    saved_stderr = dup(2);
    dup2(fileno(f), 2);
    fclose(f);
}

char *harness_capture_stderr_end(void)
{
    char *text;
    fflush(stderr);
    dup2(saved_stderr, 2);
    close(saved_stderr);
    text = harness_read_file(capture_path);
    remove(capture_path);
    free(capture_path);
    return text;
}

int harness_pid_alive(long pid)
{
#if defined(_WIN32)
    DWORD code = 0;
    HANDLE h =
        OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD) pid);
    int alive;
    if (h == NULL)
        return 0;
    alive = GetExitCodeProcess(h, &code) && code == STILL_ACTIVE;
    CloseHandle(h);
    return alive;
#else
    return kill((pid_t) pid, 0) == 0;
#endif
}

int harness_kill_pid(long pid)
{
#if defined(_WIN32)
    HANDLE h = OpenProcess(PROCESS_TERMINATE, FALSE, (DWORD) pid);
    int ok;
    if (h == NULL)
        return 0;
    ok = TerminateProcess(h, 1) != 0;
    CloseHandle(h);
    return ok;
#else
    return kill((pid_t) pid, SIGKILL) == 0;
#endif
}

#if defined(_WIN32)
int harness_wait_pid_gone(long pid)
{
    HANDLE h = OpenProcess(SYNCHRONIZE, FALSE, (DWORD) pid);
    DWORD r;
    if (h == NULL)
        return 1; /* no such process any more */
    /* A bounded wait for an event that has no other way to be observed. */
    r = WaitForSingleObject(h, 30000);
    CloseHandle(h);
    return r == WAIT_OBJECT_0;
}
#endif

#if !defined(_WIN32)
int harness_wait_pid_gone(long pid)
{
    int fd = (int) syscall(SYS_pidfd_open, (pid_t) pid, 0), r;
    struct pollfd p;
    if (fd < 0)
        return errno == ESRCH;
    p.fd = fd;
    p.events = POLLIN;
    /* A bounded wait for an event that has no other way to be observed. */
    r = poll(&p, 1, 30000);
    close(fd);
    return r == 1;
}

/* The mproc names in /dev/shm, one per line (caller frees). */
char *harness_list_shm(void)
{
    FILE *ls = popen("ls /dev/shm", "r");
    char line[256], *out = calloc(1, 1);
    size_t len = 0;
    while (ls != NULL && out != NULL && fgets(line, sizeof line, ls) != NULL) {
        size_t n = strlen(line);
        char *grown;
        if (strncmp(line, "mproc-", 6) != 0)
            continue;
        grown = realloc(out, len + n + 1);
        if (grown == NULL) {
            free(out);
            out = NULL;
            break;
        }
        out = grown;
        memcpy(out + len, line, n + 1);
        len += n;
    }
    if (ls != NULL)
        pclose(ls);
    return out;
}

char *harness_list_shm_mapped(long pid)
{
    char path[64], line[512], *out = calloc(1, 1);
    size_t len = 0;
    FILE *maps;
    snprintf(path, sizeof path, "/proc/%ld/maps", pid);
    maps = fopen(path, "r");
    if (maps == NULL) {
        free(out);
        return NULL;
    }
    while (out != NULL && fgets(line, sizeof line, maps) != NULL) {
        const char *at = strstr(line, "/dev/shm/mproc-");
        char name[256];
        char *grown;
        size_t n;
        if (at == NULL)
            continue;
        /* "mproc-..." to the end of the line, newline kept. */
        snprintf(name, sizeof name, "%s", at + strlen("/dev/shm/"));
        n = strlen(name);
        if (n == 0 || name[n - 1] != '\n' || strstr(out, name) != NULL)
            continue; /* a name cut short, or one mapped twice */
        grown = realloc(out, len + n + 1);
        if (grown == NULL) {
            free(out);
            out = NULL;
            break;
        }
        out = grown;
        memcpy(out + len, name, n + 1);
        len += n;
    }
    fclose(maps);
    return out;
}

/*
 * How many names of @now are not in @before; with @still, how many of those
 * are in @still too. Only the names that appeared meanwhile are judged, so
 * that other programs' objects in /dev/shm do not count.
 */
int harness_count_new_names(const char *before, const char *now,
                            const char *still)
{
    int n = 0;
    const char *line = now;
    while (line != NULL && *line != '\0') {
        const char *end = strchr(line, '\n');
        size_t len = end != NULL ? (size_t) (end - line + 1) : strlen(line);
        char name[256];
        if (len < sizeof name) {
            memcpy(name, line, len);
            name[len] = '\0';
            if (strstr(before, name) == NULL &&
                (still == NULL || strstr(still, name) != NULL))
                n++;
        }
        line += len;
    }
    return n;
}
#endif
