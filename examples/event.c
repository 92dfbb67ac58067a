/*
 * Event: one process tells others that something happened.
 *
 *     def wait_for_event(e):
 *         e.wait()
 *         print('wait_for_event: e.is_set()->', e.is_set())
 *
 *     def wait_for_event_timeout(e, t):
 *         e.wait(t)
 *         print('wait_for_event_timeout: e.is_set()->', e.is_set())
 *
 * The event reaches each child as an exported reference, which the child
 * imports: that works under every start method. Where the tour sleeps to
 * let "nonblock" time out first, main joins it before setting the event.
 */
#include <stdio.h>

#include <mproc.h>

static const char *truth(int b)
{
    return b ? "True" : "False";
}

static void wait_for_event(const mproc_value_t *args)
{
    mproc_event_t *e;
    if (mproc_event_import(&e, mproc_value_at(args, 0)) != 0)
        mproc_raise("%s", mproc_last_error());
    printf("wait_for_event: starting\n");
    fflush(stdout);
    mproc_event_wait(e, MPROC_FOREVER);
    printf("wait_for_event: e.is_set()-> %s\n", truth(mproc_event_is_set(e)));
    mproc_event_destroy(e);
}
MPROC_TARGET(wait_for_event)

static void wait_for_event_timeout(const mproc_value_t *args)
{
    mproc_event_t *e;
    if (mproc_event_import(&e, mproc_value_at(args, 0)) != 0)
        mproc_raise("%s", mproc_last_error());
    printf("wait_for_event_timeout: starting\n");
    fflush(stdout);
    mproc_event_wait(e, mproc_value_as_float(mproc_value_at(args, 1)));
    printf("wait_for_event_timeout: e.is_set()-> %s\n",
           truth(mproc_event_is_set(e)));
    mproc_event_destroy(e);
}
MPROC_TARGET(wait_for_event_timeout)

int main(int argc, char **argv)
{
    mproc_event_t *e;
    mproc_value_t *ref, *args;
    mproc_process_t *block, *nonblock;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_event_create(&e, NULL) != 0 || mproc_event_export(e, &ref) != 0)
        goto fail;

    args = mproc_value_list_of(1, mproc_value_copy(ref));
    mproc_process_opts_t o1 = {
        .target = "wait_for_event", .name = "block", .args = args};
    if (mproc_process_create(&block, &o1) != 0 ||
        mproc_process_start(block) != 0)
        goto fail;
    mproc_value_free(args);

    args =
        mproc_value_list_of(2, mproc_value_copy(ref), mproc_value_float(2.0));
    mproc_process_opts_t o2 = {
        .target = "wait_for_event_timeout", .name = "nonblock", .args = args};
    if (mproc_process_create(&nonblock, &o2) != 0 ||
        mproc_process_start(nonblock) != 0)
        goto fail;
    mproc_value_free(args);
    mproc_value_free(ref);

    printf("main: waiting before calling Event.set()\n");
    fflush(stdout);
    mproc_process_join(nonblock, MPROC_FOREVER);
    mproc_event_set(e);
    printf("main: event is set\n");
    fflush(stdout);
    mproc_process_join(block, MPROC_FOREVER);
    mproc_process_destroy(block);
    mproc_process_destroy(nonblock);
    mproc_event_destroy(e);
    return 0;
fail:
    fprintf(stderr, "%s\n", mproc_last_error());
    return 1;
}
