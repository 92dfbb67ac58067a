/*
 * A pool of workers: the tour's Pool, with an initializer that says which
 * worker starts.
 *
 *     def do_calculation(data):
 *         return data * 2
 *
 *     def start_process():
 *         print('Starting', multiprocessing.current_process().name)
 *
 *     inputs = list(range(10))
 *     print('Input   :', inputs)
 *     builtin_outputs = list(map(do_calculation, inputs))
 *     print('Built-in:', builtin_outputs)
 *     pool = multiprocessing.Pool(processes=multiprocessing.cpu_count() * 2,
 *                                 initializer=start_process)
 *     pool_outputs = pool.map(do_calculation, inputs)
 *     pool.close()
 *     pool.join()
 *     print('Pool    :', pool_outputs)
 *
 * The number of workers is cpu_count() * 2, or the program's argument.
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
}
MPROC_TARGET(start_process)

/* Prints a list of integers as Python does: "[0, 2, 4]". */
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
    mproc_value_t *inputs, *builtin_outputs, *pool_outputs;
    mproc_pool_t *pool;
    size_t i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    inputs = mproc_value_list();
    builtin_outputs = mproc_value_list();
    for (i = 0; i < 10; i++) {
        mproc_value_t *one = mproc_pack("i", (int) i);
        mproc_value_append(inputs, mproc_value_int((int64_t) i));
        mproc_value_append(builtin_outputs, do_calculation(one));
        mproc_value_free(one);
    }
    print_list("Input   : ", inputs);
    print_list("Built-in: ", builtin_outputs);
    /* Printed before the workers start, which write to the same stdout. */
    fflush(stdout);

    opts.processes = argc > 1 ? atoi(argv[1]) : mproc_cpu_count() * 2;
    opts.initializer = start_process;
    if (mproc_pool_create(&pool, &opts) < 0 ||
        mproc_pool_map(pool, do_calculation, inputs, NULL, &pool_outputs) < 0)
        return mproc_perror("pool"), 1;
    mproc_pool_close(pool);               /* no more tasks */
    mproc_pool_join(pool, MPROC_FOREVER); /* wrap up current tasks */
    mproc_pool_destroy(pool);

    print_list("Pool    : ", pool_outputs);
    mproc_value_free(pool_outputs);
    mproc_value_free(builtin_outputs);
    mproc_value_free(inputs);
    return 0;
}
