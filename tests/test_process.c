/*
 * Processes under each start method: arguments, exit codes, names, the
 * rules of start/join/terminate, what a child inherits, and shutdown.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_env.h>
#include <apr_time.h>

#include "harness.h"

#if defined(_WIN32)
    #include <io.h>
    #include <windows.h>
#else
    #include <fcntl.h>
    #include <sys/stat.h>
    #include <unistd.h>
#endif

/* Changed by the parent after startup: only a fork child sees that. */
static int g_global = 1;

/* ---- targets ----------------------------------------------------------- */

static mproc_value_t *all_kinds(void)
{
    static const unsigned char raw[] = {0, 1, 2, 0xff, 0x80};
    mproc_value_t *map = mproc_value_map(), *big;
    char *text = malloc(100000);
    size_t i;
    for (i = 0; i < 99999; i++)
        text[i] = (char) ('a' + i % 26);
    text[99999] = '\0';
    big = mproc_value_str(text);
    free(text);
    mproc_value_map_set_str(map, "k", mproc_value_str("v"));
    mproc_value_map_set(map, mproc_value_int(1),
                        mproc_value_list_of(1, mproc_value_bool(1)));
    return mproc_value_list_of(
        13, mproc_value_nil(), mproc_value_bool(1), mproc_value_bool(0),
        mproc_value_int(42), mproc_value_int(-7), mproc_value_int(INT64_MIN),
        mproc_value_int(INT64_MAX), mproc_value_float(2.5),
        mproc_value_str("h\xc3\xa9llo"), mproc_value_bytes(raw, sizeof raw),
        mproc_value_list_of(2, mproc_value_int(1),
                            mproc_value_list_of(1, mproc_value_int(2))),
        map, big);
}

static void check_args(const mproc_value_t *args)
{
    mproc_value_t *want = all_kinds();
    int same = mproc_value_equal(args, want);
    mproc_value_free(want);
    mproc_exit(same ? 0 : 3);
}
MPROC_TARGET(check_args)

static void exit_with(const mproc_value_t *args)
{
    mproc_exit((int) mproc_value_as_int(mproc_value_at(args, 0)));
}
MPROC_TARGET(exit_with)

static void return_normally(const mproc_value_t *args)
{
    (void) args;
}
MPROC_TARGET(return_normally)

static void raise_failure(const mproc_value_t *args)
{
    mproc_raise("RuntimeError: boom %d", 42);
}
MPROC_TARGET(raise_failure)

static void exit_message(const mproc_value_t *args)
{
    mproc_exit_msg("goodbye from %s", "the child");
}
MPROC_TARGET(exit_message)

/* Blocks until it is stopped from outside. */
static void run_forever(const mproc_value_t *args)
{
    for (;;)
        apr_sleep(apr_time_from_sec(60));
}
MPROC_TARGET(run_forever)

/*
 * A real invalid write. The sanitizers are told to look away: the point
 * is the signal, which the sanitizer run lets through (handle_segv=0).
 */
#if defined(__GNUC__)
__attribute__((no_sanitize_address, no_sanitize("undefined")))
#endif
static void
crash(const mproc_value_t *args)
{
    volatile uintptr_t nowhere = 16;
    *(volatile int *) nowhere = 1;
}
MPROC_TARGET(crash)

static int same_file(long fd, const char *path)
{
#if defined(_WIN32)
    BY_HANDLE_FILE_INFORMATION a, b;
    HANDLE h = (HANDLE) (intptr_t) fd, o;
    int same;
    if (!GetFileInformationByHandle(h, &a))
        return 0;
    o = CreateFileA(path, 0, FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                    OPEN_EXISTING, 0, NULL);
    if (o == INVALID_HANDLE_VALUE)
        return 0;
    same = GetFileInformationByHandle(o, &b) &&
           a.nFileIndexHigh == b.nFileIndexHigh &&
           a.nFileIndexLow == b.nFileIndexLow;
    CloseHandle(o);
    return same;
#else
    struct stat a, b;
    return fstat((int) fd, &a) == 0 && stat(path, &b) == 0 &&
           a.st_ino == b.st_ino && a.st_dev == b.st_dev;
#endif
}

/*
 * Writes what the child sees to the file args[0] as key=value lines;
 * args[1] and args[2] are a handle opened by the parent and its path.
 */
static void report(const mproc_value_t *args)
{
    FILE *f = fopen(mproc_value_as_str(mproc_value_at(args, 0)), "w");
    const char *color = mproc_config_get("color");
    const char *env = getenv("MPROC_TEST_ENV");
    int c = getchar();
    if (f == NULL)
        mproc_exit(5);
    fprintf(f, "name=%s\n", mproc_process_name(mproc_current_process()));
    fprintf(f, "pid=%ld\n", mproc_process_pid(mproc_current_process()));
    fprintf(f, "ppid=%ld\n", mproc_parent_pid());
    fprintf(f, "daemon=%d\n", mproc_process_daemon(mproc_current_process()));
    fprintf(f, "log_level=%d\n", mproc_log_level());
    fprintf(f, "color=%s\n", color ? color : "(none)");
    fprintf(f, "global=%d\n", g_global);
    fprintf(f, "env=%s\n", env ? env : "(none)");
    fprintf(f, "stdin_eof=%d\n", c == EOF);
    if (mproc_value_len(args) >= 3)
        fprintf(f, "inherited=%d\n",
                same_file((long) mproc_value_as_int(mproc_value_at(args, 1)),
                          mproc_value_as_str(mproc_value_at(args, 2))));
    fclose(f);
}
MPROC_TARGET(report)

/* Starts a child of its own (args[0]: its report file) and joins it. */
static void start_grandchild(const mproc_value_t *args)
{
    int code = -100;
    int rc = harness_run(
        "report",
        mproc_value_list_of(1, mproc_value_copy(mproc_value_at(args, 0))),
        &code);
    mproc_exit(rc != 0 ? 90 : code);
}
MPROC_TARGET(start_grandchild)

/* A daemonic process may not have children: exit 0 if refused so. */
static void daemon_tries_child(const mproc_value_t *args)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    int rc;
    o.target = "return_normally";
    if (mproc_process_create(&p, &o) != 0)
        mproc_exit(91);
    rc = mproc_process_start(p);
    mproc_process_destroy(p);
    mproc_exit(
        rc == MPROC_EDAEMON && strstr(mproc_last_error(), "daemonic") ? 0 : 92);
}
MPROC_TARGET(daemon_tries_child)

/*
 * Starts a daemonic grandchild that runs forever, writes its pid to
 * args[0] and returns: shutdown must terminate the grandchild.
 */
static void leave_daemon_behind(const mproc_value_t *args)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    FILE *f;
    o.target = "run_forever";
    o.daemon = MPROC_DAEMON_YES;
    if (mproc_process_create(&p, &o) != 0 || mproc_process_start(p) != 0)
        mproc_exit(93);
    f = fopen(mproc_value_as_str(mproc_value_at(args, 0)), "w");
    fprintf(f, "%ld\n", mproc_process_pid(p));
    fclose(f);
}
MPROC_TARGET(leave_daemon_behind)

static void join_itself(const mproc_value_t *args)
{
    int rc = mproc_process_join(mproc_current_process(), 0);
    mproc_exit(rc == MPROC_EJOINSELF ? 0 : 94);
}
MPROC_TARGET(join_itself)

/* ---- tests --------------------------------------------------------------- */

static void test_arguments_of_every_kind(void)
{
    int code = -100;
    CU_ASSERT_EQUAL(harness_run("check_args", all_kinds(), &code), 0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_exit_codes(void)
{
    int code = -100;
    CU_ASSERT_EQUAL(harness_run("return_normally", NULL, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_EQUAL(harness_run("exit_with",
                                mproc_value_list_of(1, mproc_value_int(7)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 7);
    CU_ASSERT_EQUAL(harness_run("exit_with",
                                mproc_value_list_of(1, mproc_value_int(0)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_raise_reports_on_stderr(void)
{
    int code = -100;
    char *err;
    harness_capture_stderr_begin();
    CU_ASSERT_EQUAL(harness_run("raise_failure", NULL, &code), 0);
    err = harness_capture_stderr_end();
    CU_ASSERT_EQUAL(code, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "Process Process-"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, ":\nRuntimeError: boom 42\n"));
    free(err);
}

static void test_exit_message_alone_on_stderr(void)
{
    int code = -100;
    char *err;
    harness_capture_stderr_begin();
    CU_ASSERT_EQUAL(harness_run("exit_message", NULL, &code), 0);
    err = harness_capture_stderr_end();
    CU_ASSERT_EQUAL(code, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "goodbye from the child\n");
    free(err);
}

static mproc_process_t *start_forever(mproc_daemon_e daemon)
{
    mproc_process_t *p = NULL;
    mproc_process_opts_t o = {0};
    o.target = "run_forever";
    o.daemon = daemon;
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_process_start(p), 0);
    return p;
}

static void test_terminate_gives_minus_15(void)
{
    mproc_process_t *p = start_forever(0);
    int code = -100;
    CU_ASSERT_TRUE(mproc_process_is_alive(p));
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), MPROC_EALIVE);
    CU_ASSERT_EQUAL(mproc_process_join(p, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_process_join(p, 0.05), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_process_destroy(p), MPROC_EALIVE);
    CU_ASSERT_EQUAL(mproc_process_terminate(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_FALSE(mproc_process_is_alive(p));
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
    CU_ASSERT_EQUAL(code, -15);
    /* Terminating or killing an ended process changes nothing. */
    CU_ASSERT_EQUAL(mproc_process_terminate(p), 0);
    CU_ASSERT_EQUAL(mproc_process_kill(p), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
    CU_ASSERT_EQUAL(code, -15);
    CU_ASSERT_EQUAL(mproc_process_destroy(p), 0);
}

static void test_kill(void)
{
    mproc_process_t *p = start_forever(0);
    int code = -100;
    CU_ASSERT_EQUAL(mproc_process_kill(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, -1), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
#if defined(_WIN32)
    CU_ASSERT_EQUAL(code, -15);
#else
    CU_ASSERT_EQUAL(code, -9);
#endif
    mproc_process_destroy(p);
}

#if !defined(_WIN32)
static void test_segfault_gives_minus_11(void)
{
    int code = -100;
    CU_ASSERT_EQUAL(harness_run("crash", NULL, &code), 0);
    CU_ASSERT_EQUAL(code, -11);
}
#endif

static void test_start_twice_and_join_unstarted(void)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    int code;
    o.target = "return_normally";
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, 0), MPROC_ENOTSTARTED);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), MPROC_ENOTSTARTED);
    CU_ASSERT_EQUAL(mproc_process_terminate(p), MPROC_ENOTSTARTED);
    CU_ASSERT_FALSE(mproc_process_is_alive(p));
    CU_ASSERT_EQUAL(mproc_process_pid(p), 0);
    CU_ASSERT_EQUAL(mproc_process_start(p), 0);
    CU_ASSERT_EQUAL(mproc_process_start(p), MPROC_ESTARTED);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "twice"));
    CU_ASSERT_NOT_EQUAL(mproc_process_pid(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_EQUAL(mproc_process_destroy(p), 0);
}

static void test_unregistered_target(void)
{
    mproc_process_t *p = (mproc_process_t *) 1;
    mproc_process_opts_t o = {0};
    o.target = "no_such_worker";
    CU_ASSERT_EQUAL(mproc_process_create(&p, &o), MPROC_ENOTREG);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "'no_such_worker'"));
    o.target = NULL;
    CU_ASSERT_EQUAL(mproc_process_create(&p, &o), MPROC_EINVAL);
    o.target = "return_normally";
    o.args = mproc_value_int(3);
    CU_ASSERT_EQUAL(mproc_process_create(&p, &o), MPROC_EINVAL);
    mproc_value_free((mproc_value_t *) o.args);
}

static void test_join_self_is_an_error(void)
{
    int code = -100;
    CU_ASSERT_EQUAL(mproc_process_join(mproc_current_process(), 0),
                    MPROC_EJOINSELF);
    CU_ASSERT_EQUAL(harness_run("join_itself", NULL, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_names(void)
{
    mproc_process_t *p, *q, *r;
    mproc_process_opts_t o = {0};
    char first[64], *path = harness_temp_path("names"), *text, *v;
    int code = -100;
    o.target = "return_normally";
    CU_ASSERT_STRING_EQUAL(mproc_process_name(mproc_current_process()),
                           "MainProcess");
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&q, &o), 0);
    o.class_name = "Worker";
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&r, &o), 0);
    /* Numbers go up by one with every creation, as in Python. */
    snprintf(first, sizeof first, "%s", mproc_process_name(p));
    CU_ASSERT_EQUAL(strncmp(first, "Process-", 8), 0);
    {
        int n = atoi(first + 8);
        char want[64];
        snprintf(want, sizeof want, "Process-%d", n + 1);
        CU_ASSERT_STRING_EQUAL(mproc_process_name(q), want);
        snprintf(want, sizeof want, "Worker-%d", n + 2);
        CU_ASSERT_STRING_EQUAL(mproc_process_name(r), want);
    }
    mproc_process_destroy(p);
    mproc_process_destroy(q);
    mproc_process_destroy(r);
    o.class_name = NULL;
    o.name = "custom name";
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_STRING_EQUAL(mproc_process_name(p), "custom name");
    mproc_process_destroy(p);

    /* A grandchild is named after its parent's number: Process-N:1. */
    CU_ASSERT_EQUAL(harness_run("start_grandchild",
                                mproc_value_list_of(1, mproc_value_str(path)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    v = harness_field(text, "name");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(strncmp(v, "Process-", 8), 0);
    CU_ASSERT_PTR_NOT_NULL(strstr(v, ":1"));
    free(v);
    free(text);
    remove(path);
    free(path);
}

static void test_what_a_child_sees(void)
{
    char *path = harness_temp_path("report"), *held = harness_temp_path("held");
    char *text, *v, pid[32];
    FILE *f = fopen(held, "w");
    long handle;
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    int code = -100, expect_inherited;

#if defined(_WIN32)
    handle = (long) _get_osfhandle(_fileno(f));
#else
    handle = fileno(f);
#endif
    /*
     * The forkserver has its environment from when it started, as in
     * Python: make sure it runs before the variable is set.
     */
    CU_ASSERT_EQUAL(harness_run("return_normally", NULL, &code), 0);
    CU_ASSERT_EQUAL(mproc_config_set("color", "blue"), 0);
    g_global = 2;
    apr_pool_t *pool;
    apr_pool_create(&pool, NULL);
    apr_env_set("MPROC_TEST_ENV", "set-at-run-time", pool);
    o.target = "report";
    o.args =
        mproc_value_list_of(3, mproc_value_str(path), mproc_value_int(handle),
                            mproc_value_str(held));
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    mproc_value_free((mproc_value_t *) o.args);
    CU_ASSERT_EQUAL_FATAL(mproc_process_start(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);

    v = harness_field(text, "name");
    CU_ASSERT_STRING_EQUAL(v, mproc_process_name(p));
    free(v);
    snprintf(pid, sizeof pid, "%ld", mproc_process_pid(p));
    v = harness_field(text, "pid");
    CU_ASSERT_STRING_EQUAL(v, pid);
    free(v);
    snprintf(pid, sizeof pid, "%ld",
             mproc_process_pid(mproc_current_process()));
    v = harness_field(text, "ppid");
    CU_ASSERT_STRING_EQUAL(v, pid);
    free(v);
    v = harness_field(text, "color");
    CU_ASSERT_STRING_EQUAL(v, "blue");
    free(v);
    v = harness_field(text, "env");
    CU_ASSERT_STRING_EQUAL(v, harness_method == MPROC_START_FORKSERVER
                                  ? "(none)"
                                  : "set-at-run-time");
    free(v);
    v = harness_field(text, "stdin_eof");
    CU_ASSERT_STRING_EQUAL(v, "1");
    free(v);
    /* The spawn lesson: a fresh program sees the globals of its start. */
    v = harness_field(text, "global");
    CU_ASSERT_STRING_EQUAL(v, harness_method == MPROC_START_FORK ? "2" : "1");
    free(v);
    /* ... and inherits no handle but stdio. */
    expect_inherited = harness_method == MPROC_START_FORK;
    v = harness_field(text, "inherited");
    CU_ASSERT_STRING_EQUAL(v, expect_inherited ? "1" : "0");
    free(v);

    free(text);
    mproc_process_destroy(p);
    fclose(f);
    remove(held);
    remove(path);
    free(held);
    free(path);
    g_global = 1;
    apr_pool_destroy(pool);
}

static void test_log_level_is_inherited(void)
{
    char *path = harness_temp_path("log"), *text, *v;
    int code = -100, before = mproc_log_level();
    /* 35 lies between WARNING and ERROR: the runtime's INFO lines stay off. */
    mproc_log_to_stderr(35);
    CU_ASSERT_EQUAL(harness_run("report",
                                mproc_value_list_of(1, mproc_value_str(path)),
                                &code),
                    0);
    mproc_log_set_level(before);
    CU_ASSERT_EQUAL(code, 0);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    v = harness_field(text, "log_level");
    CU_ASSERT_STRING_EQUAL(v, "35");
    free(v);
    free(text);
    remove(path);
    free(path);
}

static void test_daemon_flag(void)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    int code = -100;
    char *path = harness_temp_path("daemon"), *text, *v;
    o.target = "daemon_tries_child";
    o.daemon = MPROC_DAEMON_YES;
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_TRUE(mproc_process_daemon(p));
    CU_ASSERT_EQUAL(mproc_process_start(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    mproc_process_destroy(p);

    /* A non-daemonic parent's children default to non-daemonic. */
    o.target = "report";
    o.daemon = MPROC_DAEMON_INHERIT;
    o.args = mproc_value_list_of(1, mproc_value_str(path));
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    mproc_value_free((mproc_value_t *) o.args);
    CU_ASSERT_FALSE(mproc_process_daemon(p));
    CU_ASSERT_EQUAL(mproc_process_start(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    mproc_process_destroy(p);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    v = harness_field(text, "daemon");
    CU_ASSERT_STRING_EQUAL(v, "0");
    free(v);
    free(text);
    remove(path);
    free(path);
}

static void test_daemon_children_die_with_their_parent(void)
{
    char *path = harness_temp_path("daemonpid"), *text;
    int code = -100;
    long pid;
    CU_ASSERT_EQUAL(harness_run("leave_daemon_behind",
                                mproc_value_list_of(1, mproc_value_str(path)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    pid = atol(text);
    CU_ASSERT(pid > 0);
    /* The parent terminated and joined it before it exited. */
    CU_ASSERT_FALSE(harness_pid_alive(pid));
    free(text);
    remove(path);
    free(path);
}

static void test_active_children(void)
{
    mproc_process_t *a = start_forever(0), *b = start_forever(0), *out[4];
    size_t n = mproc_active_children(out, 4);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT((out[0] == a && out[1] == b) || (out[0] == b && out[1] == a));
    mproc_process_kill(a);
    mproc_process_join(a, MPROC_FOREVER);
    CU_ASSERT_EQUAL(mproc_active_children(out, 4), 1);
    CU_ASSERT_PTR_EQUAL(out[0], b);
    mproc_process_kill(b);
    mproc_process_join(b, MPROC_FOREVER);
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    mproc_process_destroy(a);
    mproc_process_destroy(b);
}

/* Fork copies the parent's objects; they still belong to the parent. */
static mproc_process_t *g_sibling;

static void control_sibling(const mproc_value_t *args)
{
    int ok = mproc_process_join(g_sibling, 0) == MPROC_ENOTCHILD &&
             mproc_process_terminate(g_sibling) == MPROC_ENOTCHILD &&
             mproc_process_kill(g_sibling) == MPROC_ENOTCHILD;
    mproc_exit(ok ? 0 : 95);
}
MPROC_TARGET(control_sibling)

static void test_only_the_creator_controls_a_child(void)
{
    int code = -100;
    g_sibling = start_forever(0);
    CU_ASSERT_EQUAL(harness_run("control_sibling", NULL, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_TRUE(mproc_process_is_alive(g_sibling));
    mproc_process_terminate(g_sibling);
    mproc_process_join(g_sibling, MPROC_FOREVER);
    mproc_process_destroy(g_sibling);
}

static void test_many_children_at_once(void)
{
    mproc_process_t *p[16];
    mproc_process_opts_t o = {0};
    int i, code;
    o.target = "exit_with";
    for (i = 0; i < 16; i++) {
        o.args = mproc_value_list_of(1, mproc_value_int(i));
        CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p[i], &o), 0);
        mproc_value_free((mproc_value_t *) o.args);
        CU_ASSERT_EQUAL_FATAL(mproc_process_start(p[i]), 0);
    }
    for (i = 15; i >= 0; i--) {
        CU_ASSERT_EQUAL(mproc_process_join(p[i], MPROC_FOREVER), 0);
        CU_ASSERT_EQUAL(mproc_process_exitcode(p[i], &code), 0);
        CU_ASSERT_EQUAL(code, i);
        mproc_process_destroy(p[i]);
    }
}

/* ---- exit handlers ---------------------------------------------------- */

static char g_handler_path[1024];
static long g_registered_pid;
static char g_parent_marker[1024];

/* The target's own exit handler: says so in its file. */
static void child_exit_handler(void)
{
    FILE *f = fopen(g_handler_path, "ab");
    if (f != NULL) {
        fputs("child handler ran\n", f);
        fclose(f);
    }
}

/*
 * The test process's exit handler: in any other process it must not run,
 * so there it leaves a marker file behind.
 */
static void parent_exit_handler(void)
{
    if (mproc_process_pid(mproc_current_process()) != g_registered_pid) {
        FILE *f = fopen(g_parent_marker, "w");
        if (f != NULL)
            fclose(f);
    }
}

/*
 * args: the file for its handler, the exit code (-1: return normally), and
 * whether to end with C's plain exit() rather than mproc_exit().
 */
static void register_exit_handler(const mproc_value_t *args)
{
    int code = (int) mproc_value_as_int(mproc_value_at(args, 1));
    int plain = mproc_value_as_bool(mproc_value_at(args, 2));
    snprintf(g_handler_path, sizeof g_handler_path, "%s",
             mproc_value_as_str(mproc_value_at(args, 0)));
    CHILD_ASSERT(atexit(child_exit_handler) == 0);
    if (code >= 0 && plain)
        exit(code);
    if (code >= 0)
        mproc_exit(code);
}
MPROC_TARGET(register_exit_handler)

static void test_a_child_runs_its_own_exit_handlers(void)
{
    static int registered;
    char *marker = harness_temp_path("parent-handler");
    /* Returning, mproc_exit(7), and C's own exit(5). */
    static const int codes[3] = {-1, 7, 5}, plain[3] = {0, 0, 1};
    int i;
    snprintf(g_parent_marker, sizeof g_parent_marker, "%s", marker);
    if (!registered) {
        g_registered_pid = mproc_process_pid(mproc_current_process());
        CU_ASSERT_EQUAL_FATAL(atexit(parent_exit_handler), 0);
        registered = 1;
    }
    for (i = 0; i < 3; i++) {
        char *path = harness_temp_path("child-handler"), *text;
        int code = -100;
        CU_ASSERT_EQUAL(
            harness_run("register_exit_handler",
                        mproc_value_list_of(3, mproc_value_str(path),
                                            mproc_value_int(codes[i]),
                                            mproc_value_bool(plain[i])),
                        &code),
            0);
        CU_ASSERT_EQUAL(code, codes[i] < 0 ? 0 : codes[i]);
        text = harness_read_file(path);
        CU_ASSERT_PTR_NOT_NULL(text);
        if (text != NULL)
            CU_ASSERT_STRING_EQUAL(text, "child handler ran\n");
        free(text);
        remove(path);
        free(path);
    }
    /* The parent's handler stayed the parent's. */
    {
        char *t = harness_read_file(marker);
        CU_ASSERT_PTR_NULL(t);
        free(t);
    }
    remove(marker);
    free(marker);
}

/* Exits with 10 + the start method this child believes it has. */
static void exit_with_method(const mproc_value_t *args)
{
    (void) args;
    mproc_exit(10 + (int) mproc_get_start_method());
}
MPROC_TARGET(exit_with_method)

static void test_child_reports_its_start_method(void)
{
    static const mproc_start_method_e methods[] = {
        MPROC_START_SPAWN, MPROC_START_FORK, MPROC_START_FORKSERVER};
    size_t i;
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        mproc_process_opts_t o = {0};
        mproc_process_t *p;
        int code = -100;
        if (!mproc_start_method_available(methods[i]))
            continue;
        /* The method of the process, whatever the program's default. */
        o.target = "exit_with_method";
        o.method = methods[i];
        CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_process_start(p), 0);
        CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
        CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
        CU_ASSERT_EQUAL(code, 10 + (int) methods[i]);
        mproc_process_destroy(p);
    }
}

static const harness_test tests[] = {
    {"arguments of every kind", test_arguments_of_every_kind, 0},
    {"exit codes", test_exit_codes, 0},
    {"raise reports on stderr", test_raise_reports_on_stderr, 0},
    {"exit message alone on stderr", test_exit_message_alone_on_stderr, 0},
    {"terminate gives -15", test_terminate_gives_minus_15, 0},
    {"kill", test_kill, 0},
#if !defined(_WIN32)
    {"segfault gives -11", test_segfault_gives_minus_11, 0},
#endif
    {"start twice, join unstarted", test_start_twice_and_join_unstarted, 0},
    {"unregistered target", test_unregistered_target, 0},
    {"join self is an error", test_join_self_is_an_error, 0},
    {"names", test_names, 0},
    {"what a child sees", test_what_a_child_sees, 0},
    {"log level is inherited", test_log_level_is_inherited, 0},
    {"daemon flag", test_daemon_flag, 0},
    {"daemon children die with their parent",
     test_daemon_children_die_with_their_parent, 0},
    {"active children", test_active_children, 0},
    {"only the creator controls a child",
     test_only_the_creator_controls_a_child, HARNESS_FORK},
    {"many children at once", test_many_children_at_once, 0},
    {"a child runs its own exit handlers",
     test_a_child_runs_its_own_exit_handlers, 0},
    {"child reports its start method", test_child_reports_its_start_method, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "process", tests);
}
