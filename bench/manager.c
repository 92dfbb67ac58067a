/*
 * Manager speed (bench/run_manager.sh), beside bench/manager.py:
 *
 *   bench_manager pair N [P] a child does d['k'] = i; d['k'] N times on a
 *                            managed dict: median us per pair
 *   bench_manager raw N [P]  the floor on the same transport: a child does
 *                            N pairs of round trips of a small message
 *                            (the size of the pair's) to an echo thread
 *                            over a Listener's connection: median us per
 *                            two round trips
 *
 * P places the two parties: none (the default; the scheduler decides),
 * same (both on CPU 0) or split (the server, or the echo thread, on CPU 0
 * and the child on CPU 1).
 *   bench_manager tput N     4 children each do N d[key] = i at once:
 *                            k operations/s over all of them
 *   bench_manager create N   N dicts made one after another: median us
 *                            per mproc_dict_create
 *   bench_manager copy N     N copies of a dict of 10,000 integers: median
 *                            us per mproc_dict_copy
 *
 * The manager is spawned (the default start method), the children forked.
 * One JSON line per run.
 */
#include <apr_thread_proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

const char *prog = "bench_manager";

#define CLIENTS 4

static void emit(const char *bench, int aff, double value)
{
    printf("{\"impl\": \"%s\", \"bench\": \"%s\", \"affinity\": \"%s\", "
           "\"value\": %.3f}\n",
           strcmp(bench, "raw") == 0 ? "raw" : "mproc", bench,
           affinity_names[aff], value);
    fflush(stdout);
}

/* [d, n, placement]: times n set+get pairs; prints the median. */
static void pair_child(const mproc_value_t *args)
{
    mproc_dict_t *d;
    int64_t n, i, w = 0;
    double *t;
    int aff;
    if (mproc_unpack(args, "DIi", &d, &n, &aff) < 0)
        mproc_raise_last();
    place(aff, 1);
    t = malloc((size_t) n * sizeof *t);
    if (t == NULL)
        die("malloc");
    for (i = -warmup_rounds((long) n); i < n; i++) {
        mproc_value_t *v = NULL;
        double t0 = now_us();
        int rc;
        if ((rc = mproc_dict_set(d, mproc_value_str("k"), mproc_value_int(i))) <
                0 ||
            (rc = mproc_dict_get(d, mproc_value_str("k"), &v)) < 0)
            die_mproc("pair", rc);
        if (i >= 0)
            t[w++] = now_us() - t0;
        mproc_value_free(v);
    }
    emit("pair", aff, median(t, (long) w));
    free(t);
}
MPROC_TARGET(pair_child)

/* [address, n, placement]: times n pairs of echoed round trips. */
static void raw_child(const mproc_value_t *args)
{
    const char *address;
    mproc_conn_t *c;
    int64_t n, i, w = 0;
    double *t;
    int aff;
    /* About what the pair's requests and replies weigh. */
    static const char msg[16] = "0123456789abcde";
    if (mproc_unpack(args, "sIi", &address, &n, &aff) < 0 ||
        mproc_client_connect(&c, address, NULL) < 0)
        mproc_raise_last();
    place(aff, 1);
    t = malloc((size_t) n * sizeof *t);
    if (t == NULL)
        die("malloc");
    for (i = -warmup_rounds((long) n); i < n; i++) {
        double t0 = now_us();
        int k, rc;
        for (k = 0; k < 2; k++) {
            void *buf = NULL;
            size_t len;
            if ((rc = mproc_conn_send_bytes(c, msg, sizeof msg)) < 0 ||
                (rc = mproc_conn_recv_bytes(c, &buf, &len)) < 0)
                die_mproc("round trip", rc);
            free(buf);
        }
        if (i >= 0)
            t[w++] = now_us() - t0;
    }
    emit("raw", aff, median(t, (long) w));
    mproc_conn_close(c);
    free(t);
}
MPROC_TARGET(raw_child)

static void *APR_THREAD_FUNC echo(apr_thread_t *th, void *arg)
{
    mproc_listener_t *l = arg;
    mproc_conn_t *c;
    int rc;
    (void) th;
    if ((rc = mproc_listener_accept(l, &c, MPROC_FOREVER)) < 0)
        die_mproc("accept", rc);
    for (;;) {
        void *buf = NULL;
        size_t len;
        if (mproc_conn_recv_bytes(c, &buf, &len) < 0)
            break;
        mproc_conn_send_bytes(c, buf, len);
        free(buf);
    }
    mproc_conn_close(c);
    return NULL;
}

/* [d, key, n]: n sets of d[key]. */
static void tput_child(const mproc_value_t *args)
{
    mproc_dict_t *d;
    int64_t n, i, key;
    int rc;
    if (mproc_unpack(args, "DII", &d, &key, &n) < 0)
        mproc_raise_last();
    for (i = 0; i < n; i++)
        if ((rc = mproc_dict_set(d, mproc_value_int(key), mproc_value_int(i))) <
            0)
            die_mproc("set", rc);
}
MPROC_TARGET(tput_child)

int main(int argc, char **argv)
{
    mproc_manager_t *m;
    mproc_dict_t *d;
    long n;
    int rc, aff = 0;
    if (mproc_main(argc, argv) != 0)
        return 1;
    if (argc < 3 || argc > 4 ||
        (argc == 4 && (aff = parse_affinity(argv[3])) < 0))
        die("usage: bench_manager pair|raw|tput|create|copy N "
            "[none|same|split]");
    n = atol(argv[2]);
    /* The server, or the echo thread, is on CPU 0 (it inherits this). */
    place(aff, 0);
    if (strcmp(argv[1], "raw") == 0) {
        mproc_listener_t *l;
        apr_pool_t *pool;
        apr_thread_t *t;
        apr_status_t ignored;
        if ((rc = mproc_listener_create(&l, NULL)) < 0)
            die_mproc("listener", rc);
        if (apr_pool_create(&pool, NULL) != APR_SUCCESS ||
            apr_thread_create(&t, NULL, echo, l, pool) != APR_SUCCESS)
            die("thread");
        join_mproc(start_mproc(
            "raw_child",
            mproc_pack("sIi", mproc_listener_address(l), (int64_t) n, aff)));
        apr_thread_join(&ignored, t);
        mproc_listener_destroy(l);
        return 0;
    }
    if ((rc = mproc_manager_start(&m, NULL)) < 0 ||
        (rc = mproc_dict_create(&d, m, NULL)) < 0)
        die_mproc("manager", rc);
    if (strcmp(argv[1], "pair") == 0) {
        join_mproc(
            start_mproc("pair_child", mproc_pack("DIi", d, (int64_t) n, aff)));
    } else if (strcmp(argv[1], "tput") == 0) {
        mproc_process_t *p[CLIENTS];
        double t0, t1;
        int i;
        t0 = now_us();
        for (i = 0; i < CLIENTS; i++)
            p[i] = start_mproc("tput_child",
                               mproc_pack("DII", d, (int64_t) i, (int64_t) n));
        for (i = 0; i < CLIENTS; i++)
            join_mproc(p[i]);
        t1 = now_us();
        emit("tput", aff, 1e3 * CLIENTS * (double) n / (t1 - t0));
    } else if (strcmp(argv[1], "create") == 0) {
        mproc_dict_t **made = malloc((size_t) n * sizeof *made);
        double *t = malloc((size_t) n * sizeof *t);
        long i;
        if (made == NULL || t == NULL)
            die("malloc");
        for (i = 0; i < n; i++) {
            double t0 = now_us();
            if ((rc = mproc_dict_create(&made[i], m, NULL)) < 0)
                die_mproc("create", rc);
            t[i] = now_us() - t0;
        }
        emit("create", aff, median(t, n));
        for (i = 0; i < n; i++)
            mproc_dict_destroy(made[i]);
        free(made);
        free(t);
    } else if (strcmp(argv[1], "copy") == 0) {
        mproc_value_t *pairs = mproc_value_list(), *v;
        double *t = malloc((size_t) n * sizeof *t);
        long i;
        if (t == NULL || pairs == NULL)
            die("malloc");
        /* Pairs, which a list holds without looking for equal keys. */
        for (i = 0; i < 10000; i++)
            mproc_value_append(pairs, mproc_value_list_of(2, mproc_value_int(i),
                                                          mproc_value_int(i)));
        if ((rc = mproc_dict_update(d, pairs)) < 0)
            die_mproc("update", rc);
        for (i = 0; i < n; i++) {
            double t0 = now_us();
            if ((rc = mproc_dict_copy(d, &v)) < 0)
                die_mproc("copy", rc);
            t[i] = now_us() - t0;
            if (mproc_value_len(v) != 10000)
                die("short copy");
            mproc_value_free(v);
        }
        emit("copy", aff, median(t, n));
        free(t);
    } else {
        die("usage: bench_manager pair|raw|tput|create|copy N "
            "[none|same|split]");
    }
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
    return 0;
}
