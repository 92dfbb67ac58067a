/*
 * A record through a Queue: the receiver finds the behaviour by type name.
 *
 *     class MyFancyClass:
 *         def __init__(self, name):
 *             self.name = name
 *         def do_something(self):
 *             proc_name = multiprocessing.current_process().name
 *             print('Doing something fancy in {} for {}!'.format(
 *                 proc_name, self.name))
 *
 *     def worker(q):
 *         obj = q.get()
 *         obj.do_something()
 *
 * Pickle sends a class instance by its class's name and the receiver looks
 * the class up; C sends a record by its registered type name and the
 * receiver calls the behaviour registered under that name.
 */
#include <stdio.h>

#include <mproc.h>

static mproc_value_t *do_something(const mproc_value_t *self)
{
    printf("Doing something fancy in %s for %s!\n",
           mproc_process_name(mproc_current_process()),
           mproc_value_as_str(mproc_value_at(self, 0)));
    return NULL;
}
MPROC_RECORD(MyFancyClass, do_something)

static void worker(const mproc_value_t *args)
{
    mproc_queue_t *q;
    mproc_value_t *obj, *result;
    if (mproc_unpack(args, "Q", &q) < 0 ||
        mproc_queue_get(q, &obj, MPROC_FOREVER) < 0 ||
        mproc_record_call(obj, &result) < 0)
        mproc_raise_last();
    mproc_value_free(obj);
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_opts_t opts = {.fn = worker};
    mproc_queue_t *queue;
    mproc_value_t *obj;
    mproc_process_t *p;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_queue_create(&queue, NULL) < 0 ||
        mproc_spawn(&p, &opts, mproc_pack("Q", queue)) < 0)
        return mproc_perror("queue"), 1;

    obj = mproc_value_record("MyFancyClass", mproc_pack("s", "Fancy Dan"));
    if (mproc_queue_put(queue, obj, MPROC_FOREVER) < 0)
        return mproc_perror("put"), 1;
    mproc_value_free(obj);
    /* Wait for the worker to finish. */
    mproc_queue_close(queue);
    mproc_queue_join_thread(queue);
    mproc_process_join(p, MPROC_FOREVER);
    mproc_process_destroy(p);
    mproc_queue_destroy(queue);
    return 0;
}
