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
    printf("Worker: %d\n", (int) mproc_value_as_int(mproc_value_at(args, 0)));
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_t *jobs[5];
    int i;

    /* First: in a spawned child this runs the worker and never returns. */
    if (mproc_main(argc, argv) != 0)
        return 1;

    for (i = 0; i < 5; i++) {
        mproc_value_t *args = mproc_value_list_of(1, mproc_value_int(i));
        mproc_process_opts_t opts = {.target = "worker", .args = args};
        int rc = mproc_process_create(&jobs[i], &opts);
        mproc_value_free(args);
        if (rc == 0)
            rc = mproc_process_start(jobs[i]);
        if (rc != 0) {
            fprintf(stderr, "cannot start worker %d: %s\n", i,
                    mproc_last_error());
            return 1;
        }
    }
    for (i = 0; i < 5; i++) {
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_destroy(jobs[i]);
    }
    return 0;
}
