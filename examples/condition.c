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

static void import_args(const mproc_value_t *args, mproc_cond_t **cond,
                        mproc_event_t **done)
{
    if (mproc_cond_import(cond, mproc_value_at(args, 0)) != 0 ||
        mproc_event_import(done, mproc_value_at(args, 1)) != 0)
        mproc_raise("%s", mproc_last_error());
}

static int stage_1_done(void *done)
{
    return mproc_event_is_set(done);
}

static void stage_1(const mproc_value_t *args)
{
    mproc_cond_t *cond;
    mproc_event_t *done;
    import_args(args, &cond, &done);
    printf("Starting %s\n", me());
    mproc_cond_acquire(cond, MPROC_FOREVER);
    printf("%s done and ready for stage 2\n", me());
    fflush(stdout);
    mproc_event_set(done);
    mproc_cond_notify_all(cond);
    mproc_cond_release(cond);
    mproc_cond_destroy(cond);
    mproc_event_destroy(done);
}
MPROC_TARGET(stage_1)

static void stage_2(const mproc_value_t *args)
{
    mproc_cond_t *cond;
    mproc_event_t *done;
    import_args(args, &cond, &done);
    printf("Starting %s\n", me());
    fflush(stdout);
    mproc_cond_acquire(cond, MPROC_FOREVER);
    mproc_cond_wait_for(cond, stage_1_done, done, MPROC_FOREVER);
    printf("%s running\n", me());
    fflush(stdout);
    mproc_cond_release(cond);
    mproc_cond_destroy(cond);
    mproc_event_destroy(done);
}
MPROC_TARGET(stage_2)

static mproc_process_t *start(const char *target, const char *name,
                              const mproc_value_t *args)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {.target = target, .name = name, .args = args};
    if (mproc_process_create(&p, &o) != 0 || mproc_process_start(p) != 0) {
        fprintf(stderr, "%s\n", mproc_last_error());
        return NULL;
    }
    return p;
}

int main(int argc, char **argv)
{
    mproc_cond_t *cond;
    mproc_event_t *done;
    mproc_value_t *cref, *dref, *args;
    mproc_process_t *p[3];
    int i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_cond_create(&cond, NULL) != 0 ||
        mproc_event_create(&done, NULL) != 0 ||
        mproc_cond_export(cond, &cref) != 0 ||
        mproc_event_export(done, &dref) != 0) {
        fprintf(stderr, "%s\n", mproc_last_error());
        return 1;
    }
    args = mproc_value_list_of(2, cref, dref);
    p[0] = start("stage_2", "stage_2[1]", args);
    p[1] = start("stage_2", "stage_2[2]", args);
    p[2] = start("stage_1", "s1", args);
    mproc_value_free(args);
    for (i = 0; i < 3; i++) {
        if (p[i] == NULL)
            return 1;
        mproc_process_join(p[i], MPROC_FOREVER);
        mproc_process_destroy(p[i]);
    }
    mproc_cond_destroy(cond);
    mproc_event_destroy(done);
    return 0;
}
