/*
 * Five workers, each given its number: the tour's first Process example.
 *
 *     def worker(num):
 *         print('Worker:', num)
 *
 *     for i in range(5):
 *         p = multiprocessing.Process(target=worker, args=(i,))
 *         p.start()
 */
#include <stdio.h>

#include <mproc.h>

static void worker(const mproc_value_t *args)
{
    int num;
    if (mproc_unpack(args, "i", &num) < 0)
        mproc_raise_last();
    printf("Worker: %d\n", num);
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_opts_t opts = {.fn = worker};
    mproc_process_t *jobs[5];
    int i;

    /* First: in a spawned child this runs the worker and never returns. */
    if (mproc_main(argc, argv) != 0)
        return 1;

    for (i = 0; i < 5; i++)
        if (mproc_spawn(&jobs[i], &opts, mproc_pack("i", i)) < 0)
            return mproc_perror("cannot start worker"), 1;
    for (i = 0; i < 5; i++) {
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_destroy(jobs[i]);
    }
    return 0;
}
