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
 * The event reaches each child as a reference in its arguments (the `E`
 * of mproc_pack), which the child unpacks back into the event: that works
 * under every start method. Where the tour sleeps to
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
    if (mproc_unpack(args, "E", &e) < 0)
        mproc_raise_last();
    printf("wait_for_event: starting\n");
    fflush(stdout);
    mproc_event_wait(e, MPROC_FOREVER);
    printf("wait_for_event: e.is_set()-> %s\n", truth(mproc_event_is_set(e)));
}
MPROC_TARGET(wait_for_event)

static void wait_for_event_timeout(const mproc_value_t *args)
{
    mproc_event_t *e;
    double t;
    if (mproc_unpack(args, "Ef", &e, &t) < 0)
        mproc_raise_last();
    printf("wait_for_event_timeout: starting\n");
    fflush(stdout);
    mproc_event_wait(e, t);
    printf("wait_for_event_timeout: e.is_set()-> %s\n",
           truth(mproc_event_is_set(e)));
}
MPROC_TARGET(wait_for_event_timeout)

int main(int argc, char **argv)
{
    mproc_process_opts_t o1 = {.fn = wait_for_event, .name = "block"},
                         o2 = {.fn = wait_for_event_timeout,
                               .name = "nonblock"};
    mproc_event_t *e;
    mproc_process_t *block, *nonblock;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_event_create(&e, NULL) < 0 ||
        mproc_spawn(&block, &o1, mproc_pack("E", e)) < 0 ||
        mproc_spawn(&nonblock, &o2, mproc_pack("Ef", e, 2.0)) < 0)
        return mproc_perror("event"), 1;

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
}
