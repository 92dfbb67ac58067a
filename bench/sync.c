/*
 * Synchronization: mproc's Lock, Event and Semaphore beside the raw OS
 * objects they are built on.
 *
 *   bench_sync IMPL BENCH AFFINITY N
 *
 * BENCH and what one run measures:
 *   lock       N uncontended acquire+release pairs in one process, in 10
 *              chunks of N/10 after an untimed warm-up of N/10; the value is
 *              the median chunk rate, in M ops/s (one op = one pair).
 *   contended  two processes each do N times "lock; ++counter; unlock" on
 *              one lock and one int64 counter in a MAP_SHARED|MAP_ANONYMOUS
 *              segment. They meet at a sched_yield() barrier in that
 *              segment, then each reads CLOCK_MONOTONIC before and after its
 *              loop; the value is 2N / (last end - first start), in M
 *              increments/s. The counter is checked to be 2N.
 *   event      ping-pong between the parent (A) and a child (B) on two
 *              events: A sets e1 and waits e2, then clears e2; B waits e1,
 *              clears e1 and sets e2. N timed round trips after N/10 (at
 *              least 100) untimed; the value is the median round trip, in
 *              microseconds.
 *   sem        the same with two semaphores of value 0: A releases s1 and
 *              acquires s2; B acquires s1 and releases s2.
 *
 * IMPL:
 *   mproc      mproc_lock_* / mproc_event_* / mproc_sem_*; the objects are
 *              named, exported, and imported by the children, which are
 *              mproc processes started with the fork method (fork, so that
 *              the contended counter's anonymous segment reaches them).
 *   raw        lock, contended: a process-shared pthread mutex of the
 *              default type. event: two futex words (store 1 + FUTEX_WAKE;
 *              FUTEX_WAIT while 0, then store 0). sem: two process-shared
 *              sem_t. Objects in the anonymous segment, children by fork().
 *   raw_robust lock, contended: a robust, process-shared, error-checking
 *              pthread mutex: glibc's way to the guarantee mproc's Lock
 *              gives (a holder's death is reported to the next holder).
 *
 * AFFINITY: none (the scheduler places the processes); same (both on CPU
 * 0); split (one on CPU 0, the other on CPU 1). For event and sem, A is the
 * parent, pinned to CPU 0. `lock` is a single process and takes only none.
 *
 * The program prints one JSON line:
 *   {"impl", "bench", "affinity", "n", "unit", "value", ...}
 * with, for the round trips, "median_us", "mean_us" and "min_us"; for the
 * rates, "ns_per_op". bench/sync.py prints the same line for Python's
 * multiprocessing; bench/run_sync.sh runs both, interleaved, and tabulates.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <sched.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

#define CHUNKS 10
#define LINE __attribute__((aligned(64)))

/* What the processes of one run share: made before any child starts. */
typedef struct shared {
    LINE int64_t counter;
    LINE int ready[2];
    double t_start[2], t_end[2];
    LINE pthread_mutex_t mutex;
    LINE uint32_t w1;
    LINE uint32_t w2;
    LINE sem_t s1;
    LINE sem_t s2;
} shared;

static shared *sh;

const char *prog = "bench_sync";

/* ---- placement ---------------------------------------------------------- */

/* ---- the raw objects ---------------------------------------------------- */

/* raw mutex kinds */
enum { RAW_DEFAULT, RAW_ROBUST };

static void raw_mutex_init(pthread_mutex_t *m, int kind)
{
    pthread_mutexattr_t attr;
    int err = pthread_mutexattr_init(&attr);
    if (err == 0)
        err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    if (err == 0 && kind == RAW_ROBUST)
        err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    if (err == 0 && kind == RAW_ROBUST)
        err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
    if (err == 0)
        err = pthread_mutex_init(m, &attr);
    pthread_mutexattr_destroy(&attr);
    if (err != 0) {
        errno = err;
        die("pthread_mutex_init");
    }
}

static long futex(uint32_t *word, int op, uint32_t val)
{
    return syscall(SYS_futex, word, op, val, NULL, NULL, 0);
}

/* The raw "event": store 1, wake; wait while 0, then clear. */
static void futex_set(uint32_t *w)
{
    __atomic_store_n(w, 1, __ATOMIC_SEQ_CST);
    futex(w, FUTEX_WAKE, INT_MAX);
}

static void futex_wait_clear(uint32_t *w)
{
    while (__atomic_load_n(w, __ATOMIC_SEQ_CST) == 0)
        futex(w, FUTEX_WAIT, 0);
    __atomic_store_n(w, 0, __ATOMIC_SEQ_CST);
}

static void sem_wait_ok(sem_t *s)
{
    while (sem_wait(s) < 0)
        if (errno != EINTR)
            die("sem_wait");
}

/* ---- reports ------------------------------------------------------------ */

static void report_rate(const char *impl, const char *bench, int aff, long n,
                        const char *unit, double ops_per_s)
{
    printf("{\"impl\": \"%s\", \"bench\": \"%s\", \"affinity\": \"%s\", "
           "\"n\": %ld, \"unit\": \"%s\", \"value\": %.3f, "
           "\"ns_per_op\": %.2f}\n",
           impl, bench, affinity_names[aff], n, unit, ops_per_s / 1e6,
           1e9 / ops_per_s);
    fflush(stdout);
}

static void report_rtt(const char *impl, const char *bench, int aff, double *t,
                       long n)
{
    double sum = 0, med;
    long i;
    for (i = 0; i < n; i++)
        sum += t[i];
    med = median(t, n);
    printf("{\"impl\": \"%s\", \"bench\": \"%s\", \"affinity\": \"%s\", "
           "\"n\": %ld, \"unit\": \"us\", \"value\": %.2f, "
           "\"median_us\": %.2f, \"mean_us\": %.2f, \"min_us\": %.2f}\n",
           impl, bench, affinity_names[aff], n, med, med, sum / (double) n,
           t[0]);
    fflush(stdout);
}

/* ---- 1. uncontended lock ------------------------------------------------ */

static void bench_lock(const char *impl, int kind, long n)
{
    double rate[CHUNKS];
    long chunk = n / CHUNKS, i;
    int c;
    mproc_lock_t *l = NULL;
    int rc;
    if (chunk < 1)
        chunk = 1;
    if (kind < 0) {
        if ((rc = mproc_lock_create(&l, NULL)) != 0)
            die_mproc("lock_create", rc);
    } else {
        raw_mutex_init(&sh->mutex, kind);
    }
    /* Chunk -1 is the warm-up. */
    for (c = -1; c < CHUNKS; c++) {
        double t0 = now_us();
        if (l != NULL) {
            for (i = 0; i < chunk; i++) {
                mproc_lock_acquire(l, MPROC_FOREVER);
                mproc_lock_release(l);
            }
        } else {
            for (i = 0; i < chunk; i++) {
                pthread_mutex_lock(&sh->mutex);
                pthread_mutex_unlock(&sh->mutex);
            }
        }
        if (c >= 0)
            rate[c] = (double) chunk / ((now_us() - t0) / 1e6);
    }
    /* A robust mutex must be unlocked: check the last release worked. */
    if (l != NULL) {
        if ((rc = mproc_lock_acquire(l, 0)) != 0)
            die_mproc("lock left held", rc);
        mproc_lock_release(l);
        mproc_lock_destroy(l);
    }
    report_rate(impl, "lock", 0, chunk * CHUNKS, "Mops/s",
                median(rate, CHUNKS));
}

/* ---- 2. contended lock -------------------------------------------------- */

/* Both parties arrive, then each times its own loop. */
static void barrier_arrive(int who)
{
    __atomic_store_n(&sh->ready[who], 1, __ATOMIC_SEQ_CST);
    while (!__atomic_load_n(&sh->ready[0], __ATOMIC_SEQ_CST) ||
           !__atomic_load_n(&sh->ready[1], __ATOMIC_SEQ_CST))
        sched_yield();
}

static void contender_mproc(const mproc_value_t *args)
{
    mproc_lock_t *l;
    int who = (int) mproc_value_as_int(mproc_value_at(args, 1));
    int aff = (int) mproc_value_as_int(mproc_value_at(args, 2));
    long n = (long) mproc_value_as_int(mproc_value_at(args, 3)), i;
    int64_t *counter = &sh->counter;
    int rc = mproc_lock_import(&l, mproc_value_at(args, 0));
    if (rc != 0)
        die_mproc("lock_import", rc);
    place(aff, who);
    barrier_arrive(who);
    sh->t_start[who] = now_us();
    for (i = 0; i < n; i++) {
        mproc_lock_acquire(l, MPROC_FOREVER);
        ++*counter;
        mproc_lock_release(l);
    }
    sh->t_end[who] = now_us();
    mproc_lock_destroy(l);
}
MPROC_TARGET(contender_mproc)

static void contender_raw(int kind, int who, int aff, long n)
{
    int64_t *counter = &sh->counter;
    long i;
    place(aff, who);
    barrier_arrive(who);
    sh->t_start[who] = now_us();
    for (i = 0; i < n; i++) {
        pthread_mutex_lock(&sh->mutex);
        ++*counter;
        pthread_mutex_unlock(&sh->mutex);
    }
    sh->t_end[who] = now_us();
}

static void bench_contended(const char *impl, int kind, int aff, long n)
{
    double t0, t1;
    int who;
    if (kind < 0) {
        mproc_lock_t *l;
        mproc_value_t *ref;
        mproc_process_t *p[2];
        int rc;
        if ((rc = mproc_lock_create(&l, NULL)) != 0 ||
            (rc = mproc_lock_export(l, &ref)) != 0)
            die_mproc("lock_create", rc);
        for (who = 0; who < 2; who++)
            p[who] = start_mproc("contender_mproc",
                                 mproc_value_list_of(4, mproc_value_copy(ref),
                                                     mproc_value_int(who),
                                                     mproc_value_int(aff),
                                                     mproc_value_int(n)));
        for (who = 0; who < 2; who++)
            join_mproc(p[who]);
        mproc_value_free(ref);
        mproc_lock_destroy(l);
    } else {
        pid_t pid[2];
        raw_mutex_init(&sh->mutex, kind);
        for (who = 0; who < 2; who++) {
            pid[who] = fork();
            if (pid[who] < 0)
                die("fork");
            if (pid[who] == 0) {
                contender_raw(kind, who, aff, n);
                _exit(0);
            }
        }
        for (who = 0; who < 2; who++)
            wait_raw_child(pid[who]);
    }
    if (sh->counter != 2 * (int64_t) n) {
        fprintf(stderr, "%s: counter is %lld, not %lld\n", prog,
                (long long) sh->counter, 2 * (long long) n);
        exit(1);
    }
    t0 = sh->t_start[0] < sh->t_start[1] ? sh->t_start[0] : sh->t_start[1];
    t1 = sh->t_end[0] > sh->t_end[1] ? sh->t_end[0] : sh->t_end[1];
    report_rate(impl, "contended", aff, n, "Mincr/s",
                2.0 * (double) n / ((t1 - t0) / 1e6));
}

/* ---- 3, 4. round trips -------------------------------------------------- */

/* B's side: args {ref1, ref2, affinity, rounds}. */
static void pong_event(const mproc_value_t *args)
{
    mproc_event_t *e1, *e2;
    long total = (long) mproc_value_as_int(mproc_value_at(args, 3)), i;
    int rc;
    if ((rc = mproc_event_import(&e1, mproc_value_at(args, 0))) != 0 ||
        (rc = mproc_event_import(&e2, mproc_value_at(args, 1))) != 0)
        die_mproc("event_import", rc);
    place((int) mproc_value_as_int(mproc_value_at(args, 2)), 1);
    for (i = 0; i < total; i++) {
        if (mproc_event_wait(e1, MPROC_FOREVER) != 0)
            die_mproc("event_wait", -1);
        mproc_event_clear(e1);
        mproc_event_set(e2);
    }
    mproc_event_destroy(e1);
    mproc_event_destroy(e2);
}
MPROC_TARGET(pong_event)

static void pong_sem(const mproc_value_t *args)
{
    mproc_sem_t *s1, *s2;
    long total = (long) mproc_value_as_int(mproc_value_at(args, 3)), i;
    int rc;
    if ((rc = mproc_sem_import(&s1, mproc_value_at(args, 0))) != 0 ||
        (rc = mproc_sem_import(&s2, mproc_value_at(args, 1))) != 0)
        die_mproc("sem_import", rc);
    place((int) mproc_value_as_int(mproc_value_at(args, 2)), 1);
    for (i = 0; i < total; i++) {
        if ((rc = mproc_sem_acquire(s1, MPROC_FOREVER)) != 0)
            die_mproc("sem_acquire", rc);
        mproc_sem_release(s2);
    }
    mproc_sem_destroy(s1);
    mproc_sem_destroy(s2);
}
MPROC_TARGET(pong_sem)

static void bench_rtt(const char *impl, int is_event, int aff, long n)
{
    long w = warmup_rounds(n), total = n + w, i;
    double *t = malloc((size_t) n * sizeof *t);
    if (t == NULL)
        die("malloc");
    place(aff, 0);
    if (strcmp(impl, "mproc") == 0) {
        mproc_value_t *r1, *r2;
        mproc_process_t *p;
        int rc;
        if (is_event) {
            mproc_event_t *e1, *e2;
            if ((rc = mproc_event_create(&e1, NULL)) != 0 ||
                (rc = mproc_event_create(&e2, NULL)) != 0 ||
                (rc = mproc_event_export(e1, &r1)) != 0 ||
                (rc = mproc_event_export(e2, &r2)) != 0)
                die_mproc("event_create", rc);
            p = start_mproc("pong_event",
                            mproc_value_list_of(4, r1, r2, mproc_value_int(aff),
                                                mproc_value_int(total)));
            for (i = -w; i < n; i++) {
                double t0 = now_us();
                mproc_event_set(e1);
                if (mproc_event_wait(e2, MPROC_FOREVER) != 0)
                    die_mproc("event_wait", -1);
                mproc_event_clear(e2);
                if (i >= 0)
                    t[i] = now_us() - t0;
            }
            join_mproc(p);
            mproc_event_destroy(e1);
            mproc_event_destroy(e2);
        } else {
            mproc_sem_t *s1, *s2;
            if ((rc = mproc_sem_create(&s1, 0, NULL)) != 0 ||
                (rc = mproc_sem_create(&s2, 0, NULL)) != 0 ||
                (rc = mproc_sem_export(s1, &r1)) != 0 ||
                (rc = mproc_sem_export(s2, &r2)) != 0)
                die_mproc("sem_create", rc);
            p = start_mproc("pong_sem",
                            mproc_value_list_of(4, r1, r2, mproc_value_int(aff),
                                                mproc_value_int(total)));
            for (i = -w; i < n; i++) {
                double t0 = now_us();
                mproc_sem_release(s1);
                if ((rc = mproc_sem_acquire(s2, MPROC_FOREVER)) != 0)
                    die_mproc("sem_acquire", rc);
                if (i >= 0)
                    t[i] = now_us() - t0;
            }
            join_mproc(p);
            mproc_sem_destroy(s1);
            mproc_sem_destroy(s2);
        }
    } else {
        pid_t pid;
        if (!is_event &&
            (sem_init(&sh->s1, 1, 0) < 0 || sem_init(&sh->s2, 1, 0) < 0))
            die("sem_init");
        pid = fork();
        if (pid < 0)
            die("fork");
        if (pid == 0) {
            place(aff, 1);
            for (i = 0; i < total; i++) {
                if (is_event) {
                    futex_wait_clear(&sh->w1);
                    futex_set(&sh->w2);
                } else {
                    sem_wait_ok(&sh->s1);
                    sem_post(&sh->s2);
                }
            }
            _exit(0);
        }
        for (i = -w; i < n; i++) {
            double t0 = now_us();
            if (is_event) {
                futex_set(&sh->w1);
                futex_wait_clear(&sh->w2);
            } else {
                sem_post(&sh->s1);
                sem_wait_ok(&sh->s2);
            }
            if (i >= 0)
                t[i] = now_us() - t0;
        }
        wait_raw_child(pid);
    }
    report_rtt(impl, is_event ? "event" : "sem", aff, t, n);
    free(t);
}

/* ---- main --------------------------------------------------------------- */

static int usage(void)
{
    fprintf(stderr,
            "usage: %s IMPL BENCH AFFINITY N\n"
            "  IMPL     mproc | raw | raw_robust\n"
            "  BENCH    lock | contended | event | sem\n"
            "  AFFINITY none | same | split\n",
            prog);
    return 2;
}

int main(int argc, char **argv)
{
    const char *impl, *bench;
    int rc, kind, aff;
    long n;
    rc = mproc_main(argc, argv);
    if (rc != 0)
        die_mproc("mproc_main", rc);
    if (argc != 5 || (n = strtol(argv[4], NULL, 10)) <= 0)
        return usage();
    impl = argv[1];
    bench = argv[2];
    if ((aff = parse_affinity(argv[3])) < 0)
        return usage();
    if (strcmp(impl, "mproc") == 0)
        kind = -1;
    else if (strcmp(impl, "raw") == 0)
        kind = RAW_DEFAULT;
    else if (strcmp(impl, "raw_robust") == 0)
        kind = RAW_ROBUST;
    else
        return usage();
    if (aff == 2 && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
        fprintf(stderr, "%s: split needs 2 CPUs\n", prog);
        return 1;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE,
              MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED)
        die("mmap");
    if (strcmp(bench, "lock") == 0 && aff == 0)
        bench_lock(impl, kind, n);
    else if (strcmp(bench, "contended") == 0)
        bench_contended(impl, kind, aff, n);
    else if ((strcmp(bench, "event") == 0 || strcmp(bench, "sem") == 0) &&
             (kind == -1 || kind == RAW_DEFAULT))
        bench_rtt(impl, strcmp(bench, "event") == 0, aff, n);
    else
        return usage();
    return 0;
}
