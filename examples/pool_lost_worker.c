/*
 * A worker killed in the middle of a map: the task it ran fails alone, with
 * a sentence that names the worker, its pid and its exit code, and every
 * other task gives its result. Python's Pool waits for ever here
 * (python/cpython#66587); this one starts a new worker and goes on.
 *
 * The task for 5 kills its own worker, as the OOM killer or a kill -9
 * would. imap gives each result with its own outcome, in order.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
    #define _POSIX_C_SOURCE 200809L /* kill() */
#endif
#include <stdio.h>
#include <string.h>

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <signal.h>
    #include <unistd.h>
#endif

#include <mproc.h>

static mproc_value_t *do_calculation(const mproc_value_t *args)
{
    int64_t data;
    if (mproc_unpack(args, "I", &data) < 0)
        mproc_raise_last();
    if (data == 5) {
#if defined(_WIN32)
        TerminateProcess(GetCurrentProcess(), 9);
#else
        kill(getpid(), SIGKILL);
#endif
    }
    return mproc_value_int(data * 2);
}
MPROC_POOL_TARGET(do_calculation)

int main(int argc, char **argv)
{
    mproc_pool_opts_t opts = {0};
    mproc_value_t *inputs, *result;
    mproc_pool_t *pool;
    mproc_imap_t *it;
    char results[256] = "", lost[600] = "";
    size_t i;
    int rc;

    if (mproc_main(argc, argv) != 0)
        return 1;
    inputs = mproc_value_list();
    printf("Input   : [");
    for (i = 0; i < 10; i++) {
        mproc_value_append(inputs, mproc_value_int((int64_t) i));
        printf("%s%zu", i ? ", " : "", i);
    }
    printf("]\n");

    opts.processes = 2;
    if (mproc_pool_create(&pool, &opts) < 0 ||
        mproc_pool_imap(pool, do_calculation, inputs, NULL, &it) < 0)
        return mproc_perror("pool"), 1;
    for (i = 0;
         (rc = mproc_imap_next(it, MPROC_FOREVER, &result)) != MPROC_ESTOP;
         i++) {
        char one[32];
        if (rc == 0) {
            snprintf(one, sizeof one, "%s%lld", i ? ", " : "",
                     (long long) mproc_value_as_int(result));
            mproc_value_free(result);
        } else {
            snprintf(one, sizeof one, "%slost", i ? ", " : "");
            snprintf(lost, sizeof lost, "item %zu: %s: %s",
                     mproc_imap_index(it), mproc_err_name(rc),
                     mproc_last_error());
        }
        strncat(results, one, sizeof results - strlen(results) - 1);
    }
    mproc_imap_destroy(it);
    printf("Lost    : %s\n", lost);
    printf("Pool    : [%s]\n", results);

    mproc_pool_close(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_destroy(pool);
    mproc_value_free(inputs);
    return 0;
}
