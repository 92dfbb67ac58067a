/*
 * Condition: stage 2 runs only after stage 1 is done.
 *
 *     def stage_1(cond):
 *         with cond:
 *             print('{} done and ready for stage 2'.format(name))
 *             cond.notify_all()
 *
 *     def stage_2(cond):
 *         with cond:
 *             cond.wait()
 *             print('{} running'.format(name))
 *
 * The tour sleeps so that the stage 2 processes wait before stage 1
 * notifies. Here they wait for a predicate instead (stage 1's event, set
 * under the condition's lock), so the order holds however they are
 * scheduled: wait_for() returns at once if stage 1 finished first.
 */
#include <stdio.h>

#include <mproc.h>

static const char *me(void)
{
    return mproc_process_name(mproc_current_process());
}

static int stage_1_done(void *done)
{
    return mproc_event_is_set(done);
}

static void stage_1(const mproc_value_t *args)
{
    mproc_cond_t *cond;
    mproc_event_t *done;
    if (mproc_unpack(args, "CE", &cond, &done) < 0)
        mproc_raise_last();
    printf("Starting %s\n", me());
    mproc_cond_acquire(cond, MPROC_FOREVER);
    printf("%s done and ready for stage 2\n", me());
    fflush(stdout);
    mproc_event_set(done);
    mproc_cond_notify_all(cond);
    mproc_cond_release(cond);
}
MPROC_TARGET(stage_1)

static void stage_2(const mproc_value_t *args)
{
    mproc_cond_t *cond;
    mproc_event_t *done;
    if (mproc_unpack(args, "CE", &cond, &done) < 0)
        mproc_raise_last();
    printf("Starting %s\n", me());
    fflush(stdout);
    mproc_cond_acquire(cond, MPROC_FOREVER);
    mproc_cond_wait_for(cond, stage_1_done, done, MPROC_FOREVER);
    printf("%s running\n", me());
    fflush(stdout);
    mproc_cond_release(cond);
}
MPROC_TARGET(stage_2)

int main(int argc, char **argv)
{
    mproc_process_opts_t opts[3] = {{.fn = stage_2, .name = "stage_2[1]"},
                                    {.fn = stage_2, .name = "stage_2[2]"},
                                    {.fn = stage_1, .name = "s1"}};
    mproc_cond_t *cond;
    mproc_event_t *done;
    mproc_process_t *p[3];
    int i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_cond_create(&cond, NULL) < 0 ||
        mproc_event_create(&done, NULL) < 0)
        return mproc_perror("condition"), 1;
    for (i = 0; i < 3; i++)
        if (mproc_spawn(&p[i], &opts[i], mproc_pack("CE", cond, done)) < 0)
            return mproc_perror(opts[i].name), 1;
    for (i = 0; i < 3; i++) {
        mproc_process_join(p[i], MPROC_FOREVER);
        mproc_process_destroy(p[i]);
    }
    mproc_cond_destroy(cond);
    mproc_event_destroy(done);
    return 0;
}
