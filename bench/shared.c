/*
 * Shared Value and Array speed (bench/run_shared.sh), beside bench/shared.py:
 *
 *   bench_shared value N    two processes each add 1 to a locked Value('q')
 *                           N times; M increments/s over both
 *   bench_shared array N    one process writes N elements of an Array('d')
 *                           with set_float (locked), and again through the
 *                           raw pointer (unlocked), and a plain loop over
 *                           malloc'd memory; M writes/s each
 *
 * One JSON line per figure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

const char *prog = "bench_shared";

static void adder(const mproc_value_t *args)
{
    mproc_shared_value_t *v;
    int64_t n, i;
    if (mproc_unpack(args, "WI", &v, &n) < 0)
        mproc_raise_last();
    for (i = 0; i < n; i++)
        mproc_shared_value_add(v, 1, NULL);
}
MPROC_TARGET(adder)

/* The plain loop's memory, volatile so that no store is optimized out. */
static void fill(volatile double *p, long len, long n)
{
    long i;
    for (i = 0; i < n; i++)
        p[i % len] = (double) i;
}

int main(int argc, char **argv)
{
    long n;
    double t0, t1;
    if (mproc_main(argc, argv) != 0)
        return 1;
    if (argc != 3)
        die("usage: bench_shared value|array N");
    n = atol(argv[2]);
    if (strcmp(argv[1], "value") == 0) {
        mproc_shared_value_t *v;
        mproc_process_t *p[2];
        int64_t x = 0;
        int i, rc = mproc_shared_value_create(&v, 'q', NULL, NULL);
        if (rc < 0)
            die_mproc("value", rc);
        t0 = now_us();
        for (i = 0; i < 2; i++)
            p[i] = start_mproc("adder", mproc_pack("WI", v, (int64_t) n));
        for (i = 0; i < 2; i++)
            join_mproc(p[i]);
        t1 = now_us();
        mproc_shared_value_get_int(v, &x);
        if (x != 2 * n)
            die("lost increments");
        printf("{\"impl\": \"mproc\", \"bench\": \"value\", \"value\": %.3f}\n",
               2.0 * n / (t1 - t0));
        mproc_shared_value_destroy(v);
    } else {
        enum { LEN = 1000 };
        mproc_shared_array_t *a;
        double *plain = calloc(LEN, sizeof *plain);
        long i;
        int rc = mproc_shared_array_create(&a, 'd', LEN, NULL, NULL);
        if (rc < 0 || plain == NULL)
            die_mproc("array", rc);
        t0 = now_us();
        for (i = 0; i < n; i++)
            mproc_shared_array_set_float(a, (size_t) (i % LEN), (double) i);
        t1 = now_us();
        printf("{\"impl\": \"mproc\", \"bench\": \"array\", \"value\": %.3f}\n",
               n / (t1 - t0));
        t0 = now_us();
        fill(mproc_shared_array_ptr(a), LEN, n);
        t1 = now_us();
        printf("{\"impl\": \"mproc\", \"bench\": \"array_raw\", "
               "\"value\": %.3f}\n",
               n / (t1 - t0));
        t0 = now_us();
        fill(plain, LEN, n);
        t1 = now_us();
        printf("{\"impl\": \"plain\", \"bench\": \"array_raw\", "
               "\"value\": %.3f}\n",
               n / (t1 - t0));
        free(plain);
        mproc_shared_array_destroy(a);
    }
    return 0;
}
