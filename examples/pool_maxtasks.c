/*
 * Workers that are replaced: the tour's Pool with maxtasksperchild=2.
 * Each worker runs two tasks and ends, and a fresh one takes its place;
 * the initializer says so for every new worker, so the output shows more
 * "Starting" lines than there are workers at a time.
 *
 *     pool = multiprocessing.Pool(processes=multiprocessing.cpu_count() * 2,
 *                                 initializer=start_process,
 *                                 maxtasksperchild=2)
 *     pool_outputs = pool.map(do_calculation, inputs)
 *
 * The map's chunksize is 1, so that each of the ten items is a task (as
 * Python's rule gives with three workers or more), and at least five
 * workers run them. The number of workers at a time is cpu_count() * 2, or
 * the program's argument.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static mproc_value_t *do_calculation(const mproc_value_t *args)
{
    int64_t data;
    if (mproc_unpack(args, "I", &data) < 0)
        mproc_raise_last();
    return mproc_value_int(data * 2);
}
MPROC_POOL_TARGET(do_calculation)

static void start_process(const mproc_value_t *args)
{
    (void) args;
    printf("Starting %s\n", mproc_process_name(mproc_current_process()));
    /* A worker that ends after its last task still has its line out. */
    fflush(stdout);
}
MPROC_TARGET(start_process)

static void print_list(const char *label, const mproc_value_t *list)
{
    size_t i;
    printf("%s[", label);
    for (i = 0; i < mproc_value_len(list); i++)
        printf("%s%lld", i ? ", " : "",
               (long long) mproc_value_as_int(mproc_value_at(list, i)));
    printf("]\n");
}

int main(int argc, char **argv)
{
    mproc_pool_opts_t opts = {0};
    mproc_pool_call_opts_t call = {0};
    mproc_value_t *inputs, *pool_outputs;
    mproc_pool_t *pool;
    size_t i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    inputs = mproc_value_list();
    for (i = 0; i < 10; i++)
        mproc_value_append(inputs, mproc_value_int((int64_t) i));
    print_list("Input   : ", inputs);
    fflush(stdout);

    opts.processes = argc > 1 ? atoi(argv[1]) : mproc_cpu_count() * 2;
    opts.initializer = start_process;
    opts.maxtasksperchild = 2;
    /* One item per task whatever the number of workers: ten tasks. */
    call.chunksize = 1;
    if (mproc_pool_create(&pool, &opts) < 0 ||
        mproc_pool_map(pool, do_calculation, inputs, &call, &pool_outputs) < 0)
        return mproc_perror("pool"), 1;
    mproc_pool_close(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_destroy(pool);

    print_list("Pool    : ", pool_outputs);
    mproc_value_free(pool_outputs);
    mproc_value_free(inputs);
    return 0;
}
