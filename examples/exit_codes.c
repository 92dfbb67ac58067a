/*
 * Exit codes: how a child ended, in Python's convention.
 *
 *     def exit_error():   sys.exit(1)
 *     def exit_ok():      return
 *     def return_value(): return 1
 *     def raises():       raise RuntimeError('There was an error!')
 *     def terminated():   time.sleep(3)
 *
 * A normal return gives 0 whatever the target computed, mproc_exit(n)
 * gives n, a failure raised in the target gives 1 (with a report on
 * stderr), and a terminated child -15 (SIGTERM), on every OS.
 */
#include <stdio.h>

#include <mproc.h>

static void exit_error(const mproc_value_t *args)
{
    mproc_exit(1);
}
MPROC_TARGET(exit_error)

static void exit_ok(const mproc_value_t *args)
{
    return;
}
MPROC_TARGET(exit_ok)

static void return_value(const mproc_value_t *args)
{
    /* C has no return value to lose here; the point stands: 0. */
    volatile int value = 1;
    (void) value;
}
MPROC_TARGET(return_value)

static void raises(const mproc_value_t *args)
{
    mproc_raise("RuntimeError: There was an error!");
}
MPROC_TARGET(raises)

static void terminated(const mproc_value_t *args)
{
    mproc_sleep(3);
}
MPROC_TARGET(terminated)

int main(int argc, char **argv)
{
    /* A target may be named by its registered name too. */
    static const char *const names[] = {"exit_error", "exit_ok", "return_value",
                                        "raises", "terminated"};
    mproc_process_t *jobs[5];
    int i;

    if (mproc_main(argc, argv) != 0)
        return 1;

    for (i = 0; i < 5; i++) {
        mproc_process_opts_t opts = {.target = names[i], .name = names[i]};
        printf("Starting process for %s\n", names[i]);
        fflush(stdout);
        if (mproc_spawn(&jobs[i], &opts, NULL) < 0)
            return mproc_perror(names[i]), 1;
    }
    mproc_process_terminate(jobs[4]);
    for (i = 0; i < 5; i++) {
        int code;
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_exitcode(jobs[i], &code);
        printf("%15s.exitcode = %d\n", mproc_process_name(jobs[i]), code);
        mproc_process_destroy(jobs[i]);
    }
    return 0;
}
