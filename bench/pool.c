/*
 * The process pool: mproc's Pool beside a raw pipe and a serial loop.
 *
 *   bench_pool map-c1 N           map of N trivial tasks, chunksize 1
 *   bench_pool map-default N      the same with the default chunksize
 *   bench_pool apply N            apply_async(f, (i,)).get(), one at a time
 *   bench_pool raw-rtt N          a raw pipe round trip with a fork child
 *   bench_pool cpu N              a CPU-bound map, 2 workers vs a loop
 *
 * Every pool has 2 workers, started (spawn, the default) before the clock
 * runs. The trivial task is the identity (it returns its argument, an
 * integer), as in bench/pool.py.
 *
 * map-c1, map-default: pool_map over the list [0, 1, ..., N-1], built
 *   before the clock; the value is N / the map's wall time, in tasks/s,
 *   the median of 5 maps after one untimed.
 * apply: N timed calls after N/10 (at least 100) untimed; the value is
 *   the median latency of one mproc_pool_apply_async() + mproc_async_get(),
 *   in microseconds.
 * raw-rtt: the same count of round trips of a 16-byte message over two
 *   pipes between the parent and a fork() child: the floor of a round trip
 *   with a process on the other side.
 * Both take a placement: none (the default); same (every process on CPU
 *   0); split (this process on CPU 0, the workers or the child on CPU 1).
 * cpu: N items, each a loop of 2,000,000 multiply-adds (about 2 ms here);
 *   the loop runs in this process, then the pool maps the same items with
 *   chunksize 1; the value is the loop's time over the pool's (the
 *   speed-up), and the results are checked to agree.
 *
 * It prints one JSON line:
 *   {"impl": "mproc" or "raw", "bench", "n", "unit", "value", ...}
 * bench/pool.py prints the same for Python's multiprocessing.Pool;
 * bench/run_pool.sh runs both, interleaved, and tabulates.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

const char *prog = "bench_pool";

#define CPU_ROUNDS 2000000

static mproc_value_t *identity(const mproc_value_t *args)
{
    return mproc_value_copy(mproc_value_at(args, 0));
}
MPROC_POOL_TARGET(identity)

/* A CPU-bound task: a loop the compiler cannot fold away. */
static uint64_t burn(uint64_t seed)
{
    volatile uint64_t x = seed | 1;
    uint64_t acc = x;
    long i;
    for (i = 0; i < CPU_ROUNDS; i++)
        acc = acc * 6364136223846793005ull + 1442695040888963407ull;
    return acc;
}

static mproc_value_t *cpu_task(const mproc_value_t *args)
{
    return mproc_value_int(
        (int64_t) burn((uint64_t) mproc_value_as_int(mproc_value_at(args, 0))));
}
MPROC_POOL_TARGET(cpu_task)

/* The placement of apply and raw-rtt (0 none, 1 same, 2 split). */
static int aff;

/*
 * A pool of 2. Its workers inherit this process's CPUs when they start:
 * with a placement they are made on party B's CPU, then this process goes
 * to party A's.
 */
static mproc_pool_t *make_pool(void)
{
    mproc_pool_opts_t o = {0};
    mproc_pool_t *p;
    int rc;
    o.processes = 2;
    place(aff, 1);
    rc = mproc_pool_create(&p, &o);
    if (rc != 0)
        die_mproc("pool_create", rc);
    place(aff, 0);
    return p;
}

static void end_pool(mproc_pool_t *p)
{
    mproc_pool_close(p);
    mproc_pool_join(p, MPROC_FOREVER);
    mproc_pool_destroy(p);
}

static mproc_value_t *range(long n)
{
    mproc_value_t *l = mproc_value_list();
    long i;
    for (i = 0; i < n; i++)
        if (mproc_value_append(l, mproc_value_int(i)) != 0)
            die_mproc("append", MPROC_ENOMEM);
    return l;
}

static void bench_map(long n, size_t chunksize, const char *name)
{
    mproc_pool_t *p = make_pool();
    mproc_pool_call_opts_t o = {0};
    mproc_value_t *in = range(n), *out;
    double rates[5];
    int r, rc;
    o.chunksize = chunksize;
    for (r = -1; r < 5; r++) {
        double t0 = now_us(), t1;
        rc = mproc_pool_map(p, identity, in, &o, &out);
        t1 = now_us();
        if (rc != 0)
            die_mproc("pool_map", rc);
        if ((long) mproc_value_len(out) != n ||
            mproc_value_as_int(mproc_value_at(out, (size_t) n - 1)) != n - 1) {
            fprintf(stderr, "%s: wrong results\n", prog);
            exit(1);
        }
        mproc_value_free(out);
        if (r >= 0)
            rates[r] = (double) n / ((t1 - t0) / 1e6);
    }
    printf("{\"impl\": \"mproc\", \"bench\": \"%s\", \"n\": %ld, "
           "\"unit\": \"tasks/s\", \"value\": %.1f}\n",
           name, n, median(rates, 5));
    mproc_value_free(in);
    end_pool(p);
}

static void bench_apply(long n)
{
    mproc_pool_t *p = make_pool();
    long warm = warmup_rounds(n), i;
    double *t = malloc((size_t) n * sizeof *t), sum = 0;
    if (t == NULL)
        die("malloc");
    for (i = -warm; i < n; i++) {
        mproc_async_t *r;
        const mproc_value_t *v;
        double t0 = now_us(), t1;
        int rc = mproc_pool_apply_async(p, identity,
                                        mproc_pack("I", (int64_t) i), NULL, &r);
        if (rc == 0)
            rc = mproc_async_get(r, MPROC_FOREVER, &v);
        t1 = now_us();
        if (rc != 0)
            die_mproc("apply", rc);
        if (mproc_value_as_int(v) != i) {
            fprintf(stderr, "%s: wrong result\n", prog);
            exit(1);
        }
        mproc_async_destroy(r);
        if (i >= 0) {
            t[i] = t1 - t0;
            sum += t1 - t0;
        }
    }
    printf("{\"impl\": \"mproc\", \"bench\": \"apply\", \"affinity\": "
           "\"%s\", \"n\": %ld, \"unit\": \"us\", \"value\": %.2f, "
           "\"mean_us\": %.2f}\n",
           affinity_names[aff], n, median(t, n), sum / (double) n);
    free(t);
    end_pool(p);
}

static void bench_raw_rtt(long n)
{
    int ab[2], ba[2];
    long warm = warmup_rounds(n), i;
    double *t = malloc((size_t) n * sizeof *t);
    char buf[16] = {0};
    pid_t pid;
    if (t == NULL || pipe(ab) < 0 || pipe(ba) < 0)
        die("pipe");
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        place(aff, 1);
        close(ab[1]);
        close(ba[0]);
        while (read(ab[0], buf, sizeof buf) == (ssize_t) sizeof buf)
            if (write(ba[1], buf, sizeof buf) != (ssize_t) sizeof buf)
                _exit(1);
        _exit(0);
    }
    close(ab[0]);
    close(ba[1]);
    place(aff, 0);
    for (i = -warm; i < n; i++) {
        double t0 = now_us();
        if (write(ab[1], buf, sizeof buf) != (ssize_t) sizeof buf ||
            read(ba[0], buf, sizeof buf) != (ssize_t) sizeof buf)
            die("round trip");
        if (i >= 0)
            t[i] = now_us() - t0;
    }
    close(ab[1]);
    close(ba[0]);
    wait_raw_child(pid);
    printf("{\"impl\": \"raw\", \"bench\": \"raw-rtt\", \"affinity\": "
           "\"%s\", \"n\": %ld, \"unit\": \"us\", \"value\": %.2f}\n",
           affinity_names[aff], n, median(t, n));
    free(t);
}

static void bench_cpu(long n)
{
    mproc_pool_t *p = make_pool();
    mproc_pool_call_opts_t o = {0};
    mproc_value_t *in = range(n), *out;
    double t0, serial, pooled;
    long i;
    uint64_t check = 0;
    int rc;
    t0 = now_us();
    for (i = 0; i < n; i++)
        check ^= burn((uint64_t) i);
    serial = now_us() - t0;
    o.chunksize = 1;
    t0 = now_us();
    rc = mproc_pool_map(p, cpu_task, in, &o, &out);
    pooled = now_us() - t0;
    if (rc != 0)
        die_mproc("pool_map", rc);
    for (i = 0; i < n; i++)
        check ^= (uint64_t) mproc_value_as_int(mproc_value_at(out, (size_t) i));
    if (check != 0) {
        fprintf(stderr, "%s: the pool's results differ from the loop's\n",
                prog);
        exit(1);
    }
    printf("{\"impl\": \"mproc\", \"bench\": \"cpu\", \"n\": %ld, "
           "\"unit\": \"x\", \"value\": %.3f, \"serial_s\": %.4f, "
           "\"pool_s\": %.4f}\n",
           n, serial / pooled, serial / 1e6, pooled / 1e6);
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(p);
}

int main(int argc, char **argv)
{
    long n;
    if (mproc_main(argc, argv) != 0)
        return 1;
    if (argc < 3 || argc > 4 || (n = atol(argv[2])) <= 0 ||
        (argc == 4 && (aff = parse_affinity(argv[3])) < 0)) {
        fprintf(stderr,
                "usage: %s map-c1|map-default|cpu N, or apply|raw-rtt N "
                "[none|same|split]\n",
                prog);
        return 2;
    }
    if (strcmp(argv[1], "map-c1") == 0)
        bench_map(n, 1, "map-c1");
    else if (strcmp(argv[1], "map-default") == 0)
        bench_map(n, 0, "map-default");
    else if (strcmp(argv[1], "apply") == 0)
        bench_apply(n);
    else if (strcmp(argv[1], "raw-rtt") == 0)
        bench_raw_rtt(n);
    else if (strcmp(argv[1], "cpu") == 0)
        bench_cpu(n);
    else {
        fprintf(stderr, "%s: unknown benchmark %s\n", prog, argv[1]);
        return 2;
    }
    return 0;
}
