/*
 * A large array summed by a Pool without copying it: the parent fills a
 * shared Array of a million 64-bit integers, and each task gets the Array
 * and a range [start, end), sums that slice where it lies and returns the
 * partial sum.
 *
 *     def partial_sum(a, start, end):
 *         return sum(a.get_obj()[start:end])
 *
 *     n = 1_000_000
 *     a = Array('q', range(n), lock=False)
 *     with Pool(4) as pool:
 *         step = n // 4
 *         parts = pool.starmap(partial_sum,
 *                              [(a, i, min(i + step, n))
 *                               for i in range(0, n, step)])
 *     print(f'Sum of 0..{n - 1}: {sum(parts)}')
 *
 * (Python refuses to put the Array in a Pool task at all: "... objects
 * should only be shared between processes through inheritance".)
 * A task carries a reference to the Array, a few dozen bytes, and its
 * worker opens the same memory; the eight megabytes never travel.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

#define N 1000000
#define WORKERS 4

/* [array, start, end]: the sum of elements [start, end). */
static mproc_value_t *partial_sum(const mproc_value_t *args)
{
    mproc_shared_array_t *a;
    const long long *x;
    int64_t start, end, i;
    long long sum = 0;
    if (mproc_unpack(args, "AII", &a, &start, &end) < 0)
        mproc_raise_last();
    if (start < 0 || end < start || (size_t) end > mproc_shared_array_len(a))
        mproc_raise("range [%lld, %lld) is not in the array", (long long) start,
                    (long long) end);
    x = mproc_shared_array_ptr(a);
    for (i = start; i < end; i++)
        sum += x[i];
    return mproc_value_int(sum);
}
MPROC_POOL_TARGET(partial_sum)

int main(int argc, char **argv)
{
    mproc_shared_opts_t no_lock = {.no_lock = 1};
    mproc_pool_opts_t opts = {.processes = WORKERS};
    mproc_shared_array_t *a;
    mproc_pool_t *pool;
    mproc_value_t *tasks, *parts = NULL;
    long long *x, total = 0, want = (long long) N * (N - 1) / 2;
    int64_t start, step = N / WORKERS;
    size_t i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    /* Nobody writes while the workers read: no lock is needed. */
    if (mproc_shared_array_create(&a, 'q', N, NULL, &no_lock) < 0)
        return mproc_perror("Array"), 1;
    x = mproc_shared_array_ptr(a);
    for (i = 0; i < N; i++)
        x[i] = (long long) i;

    tasks = mproc_value_list();
    /* N is a multiple of WORKERS: four equal slices cover it. */
    for (start = 0; start < N; start += step)
        mproc_value_append(tasks, mproc_pack("AII", a, start, start + step));
    if (mproc_pool_create(&pool, &opts) < 0 ||
        mproc_pool_starmap(pool, partial_sum, tasks, NULL, &parts) < 0)
        return mproc_perror("pool"), 1;
    mproc_pool_close(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_destroy(pool);

    for (i = 0; i < mproc_value_len(parts); i++)
        total += mproc_value_as_int(mproc_value_at(parts, i));
    printf("%lu tasks of %lld elements each\n",
           (unsigned long) mproc_value_len(parts), (long long) step);
    printf("Sum of 0..%d: %lld\n", N - 1, total);
    printf("n*(n-1)/2:     %lld (%s)\n", want,
           total == want ? "equal" : "DIFFERENT");
    mproc_value_free(parts);
    mproc_value_free(tasks);
    mproc_shared_array_destroy(a);
    return total == want ? 0 : 1;
}
