/*
 * The test harness; see harness.h.
 */
#include "harness.h"

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
    #include <signal.h>
    #include <unistd.h>
#endif

mproc_start_method_e harness_method = MPROC_START_SPAWN;
static apr_pool_t *pool;

int harness_main(int argc, char **argv, const char *suite_name,
                 const harness_test *tests)
{
    char full[128];
    CU_pSuite suite;
    unsigned failures;
    int rc = mproc_main(argc, argv);
    if (rc != 0) {
        fprintf(stderr, "mproc_main: %s\n", mproc_last_error());
        return 2;
    }
    apr_pool_create(&pool, NULL);
    if (argc < 2) {
        fprintf(stderr, "usage: %s spawn|fork|forkserver|none\n", argv[0]);
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
    snprintf(full, sizeof full, "%s.%s", suite_name, argv[1]);
    if (CU_initialize_registry() != CUE_SUCCESS)
        return 2;
    suite = CU_add_suite(full, NULL, NULL);
    for (; tests->name != NULL; tests++)
        if (tests->methods == 0 ||
            (tests->methods & (1u << harness_method)) != 0)
            CU_add_test(suite, tests->name, tests->fn);
    CU_basic_set_mode(CU_BRM_VERBOSE);
    CU_basic_run_tests();
    failures = CU_get_number_of_failures() + CU_get_number_of_tests_failed();
    CU_cleanup_registry();
    return failures != 0 ? 1 : 0;
}

mproc_process_t *harness_start(const char *target, mproc_value_t *args)
{
    mproc_process_t *p = NULL;
    mproc_process_opts_t o = {0};
    o.target = target;
    o.args = args;
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    mproc_value_free(args);
    CU_ASSERT_EQUAL_FATAL(mproc_process_start(p), 0);
    return p;
}

int harness_join_code(mproc_process_t *p)
{
    int code = -1000;
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    mproc_process_exitcode(p, &code);
    mproc_process_destroy(p);
    return code;
}

int harness_run(const char *target, mproc_value_t *args, int *exitcode)
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
