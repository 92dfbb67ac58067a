/*
 * Shared namespaces: a producer sets an attribute that a consumer waits
 * for.
 *
 *     def producer(ns, event):
 *         ns.value = 'This is the value'
 *         event.set()
 *
 *     def consumer(ns, event):
 *         try:
 *             print('Before event: {}'.format(ns.value))
 *         except Exception as err:
 *             print('Before event, error:', str(err))
 *         event.wait()
 *         print('After event:', ns.value)
 *
 * The tour starts the consumer first and hopes it reads before the
 * producer writes; here the producer waits until it has (a second event),
 * so the output is always the tour's.
 */
#include <stdio.h>

#include <mproc.h>

static void producer(const mproc_value_t *args)
{
    mproc_namespace_t *ns;
    mproc_event_t *event, *asked;
    if (mproc_unpack(args, "NEE", &ns, &event, &asked) < 0 ||
        mproc_event_wait(asked, MPROC_FOREVER) < 0 ||
        mproc_namespace_set(ns, "value", mproc_value_str("This is the value")) <
            0 ||
        mproc_event_set(event) < 0)
        mproc_raise_last();
}
MPROC_TARGET(producer)

static void consumer(const mproc_value_t *args)
{
    mproc_namespace_t *ns;
    mproc_event_t *event, *asked;
    mproc_value_t *value;
    if (mproc_unpack(args, "NEE", &ns, &event, &asked) < 0)
        mproc_raise_last();
    if (mproc_namespace_get(ns, "value", &value) == 0) {
        printf("Before event: %s\n", mproc_value_as_str(value));
        mproc_value_free(value);
    } else {
        printf("Before event, error: %s\n", mproc_last_error());
    }
    fflush(stdout);
    if (mproc_event_set(asked) < 0 ||
        mproc_event_wait(event, MPROC_FOREVER) < 0 ||
        mproc_namespace_get(ns, "value", &value) < 0)
        mproc_raise_last();
    printf("After event: %s\n", mproc_value_as_str(value));
    mproc_value_free(value);
}
MPROC_TARGET(consumer)

int main(int argc, char **argv)
{
    mproc_process_opts_t po = {.fn = producer}, co = {.fn = consumer};
    mproc_manager_t *mgr;
    mproc_namespace_t *ns;
    mproc_event_t *event, *asked;
    mproc_process_t *p, *c;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_manager_start(&mgr, NULL) < 0 ||
        mproc_namespace_create(&ns, mgr, NULL) < 0 ||
        mproc_event_create(&event, NULL) < 0 ||
        mproc_event_create(&asked, NULL) < 0)
        return mproc_perror("namespace"), 1;
    if (mproc_spawn(&c, &co, mproc_pack("NEE", ns, event, asked)) < 0 ||
        mproc_spawn(&p, &po, mproc_pack("NEE", ns, event, asked)) < 0)
        return mproc_perror("cannot start"), 1;
    mproc_process_join(c, MPROC_FOREVER);
    mproc_process_join(p, MPROC_FOREVER);
    mproc_process_destroy(c);
    mproc_process_destroy(p);
    mproc_namespace_destroy(ns);
    mproc_manager_destroy(mgr);
    mproc_event_destroy(event);
    mproc_event_destroy(asked);
    return 0;
}
