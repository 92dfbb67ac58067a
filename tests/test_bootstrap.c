/*
 * Bad input at a child's start: a malformed command line, a corrupt or
 * truncated bootstrap message. The child must exit non-zero with a clear
 * sentence on stderr; the parent must simply see the exit code.
 */
#include <stdlib.h>
#include <string.h>

#include <apr_thread_proc.h>

#include "harness.h"
#include "mproc_private.h"

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <unistd.h>
#endif

static void registered(const mproc_value_t *args)
{
    (void) args;
}
MPROC_TARGET(registered)

static char self_exe[4096];

/* Runs this test program with @arg1 [@arg2]; its exit code and stderr. */
static int run_self(const char *arg1, const char *arg2, char **err)
{
    apr_pool_t *pool;
    apr_procattr_t *attr;
    apr_proc_t proc;
    apr_exit_why_e why;
    const char *args[4] = {self_exe, arg1, arg2, NULL};
    int code = -1000;
    apr_pool_create(&pool, NULL);
    apr_procattr_create(&attr, pool);
    apr_procattr_cmdtype_set(attr, APR_PROGRAM_ENV);
    harness_capture_stderr_begin();
    if (apr_proc_create(&proc, self_exe, args, NULL, attr, pool) == APR_SUCCESS)
        apr_proc_wait(&proc, &code, &why, APR_WAIT);
    *err = harness_capture_stderr_end();
    apr_pool_destroy(pool);
    return code;
}

static void test_malformed_command_lines(void)
{
    char *err;
    CU_ASSERT_EQUAL(run_self("--mproc-spawn", NULL, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed command line"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "exactly one handle"));
    free(err);
    CU_ASSERT_EQUAL(run_self("--mproc-spawn", "abc", &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed command line"));
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "'abc'"));
    free(err);
    CU_ASSERT_EQUAL(run_self("--mproc-spawn", "", &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "malformed command line"));
    free(err);
    CU_ASSERT_EQUAL(run_self("--mproc-bogus", "3", &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "unknown marker argument"));
    free(err);
    /* A valid-looking handle that is not open reads nothing: corrupt. */
    CU_ASSERT_EQUAL(run_self("--mproc-spawn", "777", &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "bootstrap"));
    free(err);
}

/* Spawns a child and feeds it @len bytes of @data as its bootstrap. */
static int feed_child(const void *data, size_t len, char **err)
{
    mproc__os_child_t *child;
    mproc__os_fd_t w;
    int code = -1000;
    harness_capture_stderr_begin();
    if (mproc__os_spawn(&child, MPROC__SPAWN_MARKER, &w, NULL, 0) == 0) {
        mproc__os_write_all(w, data, len);
        mproc__os_close(w);
        mproc__os_child_wait(child, MPROC_FOREVER, &code);
        mproc__os_child_free(child);
    }
    *err = harness_capture_stderr_end();
    return code;
}

static void frame_of(const mproc_value_t *v, mproc__buf_t *out)
{
    mproc__buf_t payload = {0};
    mproc__value_encode(v, &payload);
    mproc__frame_encode(payload.data, payload.len, NULL, out);
    mproc__buf_free(&payload);
}

static void test_corrupt_bootstrap_messages(void)
{
    mproc__buf_t f = {0};
    mproc_value_t *v;
    char *err;

    CU_ASSERT_EQUAL(feed_child("garbage that is no frame", 24, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "corrupt bootstrap message"));
    free(err);
    CU_ASSERT_EQUAL(feed_child("", 0, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "corrupt bootstrap message"));
    free(err);

    /* A well-formed frame whose payload is not a bootstrap map. */
    v = mproc_value_int(7);
    frame_of(v, &f);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(feed_child(f.data, f.len, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "corrupt bootstrap message"));
    free(err);

    /* A flipped bit: the checksum catches it. */
    f.data[f.len - 1] ^= 1;
    CU_ASSERT_EQUAL(feed_child(f.data, f.len, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "checksum"));
    free(err);
    mproc__buf_free(&f);

    /* A map that lacks fields. */
    v = mproc_value_map();
    mproc_value_map_set_str(v, "name", mproc_value_str("x"));
    frame_of(v, &f);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(feed_child(f.data, f.len, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "field 'identity'"));
    free(err);
    /* Cut short: the parent died mid-message, say. */
    CU_ASSERT_EQUAL(feed_child(f.data, f.len / 2, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "truncated"));
    free(err);
    mproc__buf_free(&f);
}

static void test_unknown_target_in_the_child(void)
{
    static const int identity[1] = {1};
    static const unsigned char key[MPROC__AUTHKEY_SIZE] = {0};
    static const unsigned char no_args[1] = {0x90}; /* msgpack [] */
    mproc__buf_t args = {0}, f = {0};
    mproc__popen_job_t job = {0};
    char *err;
    CU_ASSERT_EQUAL_FATAL(mproc__buf_append(&args, no_args, 1), 0);
    /* A child whose program lacks the target (say, another version). */
    job.name = "Process-1";
    job.identity = identity;
    job.identity_len = 1;
    job.target = "vanished";
    job.args = &args;
    job.authkey = key;
    CU_ASSERT_EQUAL_FATAL(
        mproc__popen_build_bootstrap(&job, NULL, NULL, 0, 0, &f), 0);
    CU_ASSERT_EQUAL(feed_child(f.data, f.len, &err), 1);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "target 'vanished' is not registered"));
    free(err);
    mproc__buf_free(&f);
    mproc__buf_free(&args);
}

static const harness_test tests[] = {
    {"malformed command lines", test_malformed_command_lines, 0},
    {"corrupt bootstrap messages", test_corrupt_bootstrap_messages, 0},
    {"unknown target in the child", test_unknown_target_in_the_child, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
#if defined(_WIN32)
    GetModuleFileNameA(NULL, self_exe, sizeof self_exe);
#else
    ssize_t n = readlink("/proc/self/exe", self_exe, sizeof self_exe - 1);
    self_exe[n > 0 ? n : 0] = '\0';
#endif
    return harness_main(argc, argv, "bootstrap", tests);
}
