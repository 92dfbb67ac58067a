/*
 * Shared namespaces hold copies: a list stored in one and changed through
 * what a read gave back does not change.
 *
 *     def producer(ns, event):
 *         # DOES NOT UPDATE GLOBAL VALUE!
 *         ns.my_list.append('This is the value')
 *         event.set()
 *
 *     def consumer(ns, event):
 *         print('Before event:', ns.my_list)
 *         event.wait()
 *         print('After event :', ns.my_list)
 *
 *     namespace.my_list = []
 *
 * The fix the tour gives: change the copy, then store it again
 * (`lst = ns.my_list; lst.append(...); ns.my_list = lst`). The program
 * runs both producers, the tour's and the fixed one, each with a consumer
 * that reads first (a second event makes sure of the order).
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static void producer(const mproc_value_t *args)
{
    mproc_namespace_t *ns;
    mproc_event_t *event, *asked;
    mproc_value_t *list;
    int fixed;
    if (mproc_unpack(args, "NEEb", &ns, &event, &asked, &fixed) < 0 ||
        mproc_event_wait(asked, MPROC_FOREVER) < 0 ||
        mproc_namespace_get(ns, "my_list", &list) < 0 ||
        mproc_value_append(list, mproc_value_str("This is the value")) < 0)
        mproc_raise_last();
    /* Only storing the changed copy again changes the namespace. */
    if (fixed && mproc_namespace_set(ns, "my_list", list) < 0)
        mproc_raise_last();
    if (!fixed)
        mproc_value_free(list);
    if (mproc_event_set(event) < 0)
        mproc_raise_last();
}
MPROC_TARGET(producer)

static void show(const char *what, mproc_namespace_t *ns)
{
    mproc_value_t *list;
    char *text;
    if (mproc_namespace_get(ns, "my_list", &list) < 0)
        mproc_raise_last();
    text = mproc_value_repr(list);
    printf("%s %s\n", what, text != NULL ? text : "?");
    fflush(stdout);
    free(text);
    mproc_value_free(list);
}

static void consumer(const mproc_value_t *args)
{
    mproc_namespace_t *ns;
    mproc_event_t *event, *asked;
    int fixed;
    if (mproc_unpack(args, "NEEb", &ns, &event, &asked, &fixed) < 0)
        mproc_raise_last();
    show(fixed ? "Fixed, before event:" : "Before event:", ns);
    if (mproc_event_set(asked) < 0 ||
        mproc_event_wait(event, MPROC_FOREVER) < 0)
        mproc_raise_last();
    show(fixed ? "Fixed, after event :" : "After event :", ns);
}
MPROC_TARGET(consumer)

/* One round: a fresh empty list, a consumer, a producer. */
static int round_of(mproc_namespace_t *ns, int fixed)
{
    mproc_process_opts_t po = {.fn = producer}, co = {.fn = consumer};
    mproc_event_t *event, *asked;
    mproc_process_t *p, *c;
    if (mproc_namespace_set(ns, "my_list", mproc_value_list()) < 0 ||
        mproc_event_create(&event, NULL) < 0 ||
        mproc_event_create(&asked, NULL) < 0 ||
        mproc_spawn(&c, &co, mproc_pack("NEEb", ns, event, asked, fixed)) < 0 ||
        mproc_spawn(&p, &po, mproc_pack("NEEb", ns, event, asked, fixed)) < 0)
        return mproc_perror("cannot start"), -1;
    mproc_process_join(c, MPROC_FOREVER);
    mproc_process_join(p, MPROC_FOREVER);
    mproc_process_destroy(c);
    mproc_process_destroy(p);
    mproc_event_destroy(event);
    mproc_event_destroy(asked);
    return 0;
}

int main(int argc, char **argv)
{
    mproc_manager_t *mgr;
    mproc_namespace_t *ns;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_manager_start(&mgr, NULL) < 0 ||
        mproc_namespace_create(&ns, mgr, NULL) < 0)
        return mproc_perror("namespace"), 1;
    if (round_of(ns, 0) < 0 || round_of(ns, 1) < 0)
        return 1;
    mproc_namespace_destroy(ns);
    mproc_manager_destroy(mgr);
    return 0;
}
