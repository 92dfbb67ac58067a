/*
 * Threads: every object is safe to use from several threads of one
 * process wherever Python's is, and the runtime's own lists are locked.
 *
 * The threads are APR's, which are POSIX threads on Unix and Win32 threads
 * on Windows. CUnit's assertions are not thread-safe, so each thread only
 * records what it saw and the test's own thread asserts on it afterwards.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <apr_thread_proc.h>

#include "harness.h"

#define NTHREADS 4

typedef void *(APR_THREAD_FUNC *thread_fn)(apr_thread_t *, void *);

/* Runs @fn in @n threads with args[i], and waits for them all. */
static void run_threads(int n, thread_fn fn, void *args, size_t arg_size)
{
    apr_pool_t *pool = NULL;
    apr_thread_t *t[16];
    int i;
    CU_ASSERT_FATAL(n <= 16);
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(apr_thread_create(&t[i], NULL, fn,
                                                (char *) args + i * arg_size,
                                                pool),
                              APR_SUCCESS);
    for (i = 0; i < n; i++) {
        apr_status_t ignored;
        apr_thread_join(&ignored, t[i]);
    }
    apr_pool_destroy(pool);
}

/* ---- the owned list --------------------------------------------------- */

typedef struct churn_arg {
    int failures;
} churn_arg;

/* Creates and destroys objects of its own, sharing nothing. */
static void *APR_THREAD_FUNC churn(apr_thread_t *t, void *arg)
{
    churn_arg *a = arg;
    int i;
    (void) t;
    for (i = 0; i < 1000; i++) {
        mproc_lock_t *l = NULL;
        mproc_event_t *e = NULL;
        mproc_queue_t *q = NULL;
        mproc_queue_opts_t qo = {0};
        qo.capacity = 4096;
        if (mproc_lock_create(&l, NULL) != 0)
            a->failures++;
        if (mproc_event_create(&e, NULL) != 0)
            a->failures++;
        if (i % 50 == 0 && mproc_queue_create(&q, &qo) != 0)
            a->failures++;
        /* Every third object stays open until the process ends. */
        if (i % 3 != 0) {
            mproc_lock_destroy(l);
            mproc_event_destroy(e);
            mproc_queue_destroy(q);
        }
    }
    return NULL;
}

/*
 * Threads that create and destroy objects at once, then a normal exit that
 * releases what is left: the list of owned objects stays whole.
 */
static void test_objects_made_and_destroyed_in_threads(void)
{
    churn_arg a[NTHREADS];
    int i;
    memset(a, 0, sizeof a);
    run_threads(NTHREADS, churn, a, sizeof a[0]);
    for (i = 0; i < NTHREADS; i++)
        CU_ASSERT_EQUAL(a[i].failures, 0);
}

/* ---- queues ------------------------------------------------------------- */

#define PER_PRODUCER 2000

typedef struct queue_arg {
    mproc_queue_t *q;
    int id; /* a producer's number, or -1 for a consumer */
    int joinable;
    int failures;
    int got;             /* a consumer's count */
    unsigned char *seen; /* shared by the consumers, one byte per item */
} queue_arg;

static void *APR_THREAD_FUNC queue_worker(apr_thread_t *t, void *arg)
{
    queue_arg *a = arg;
    int i;
    (void) t;
    if (a->id >= 0) {
        for (i = 0; i < PER_PRODUCER; i++) {
            mproc_value_t *v = mproc_value_int(a->id * PER_PRODUCER + i);
            if (mproc_queue_put(a->q, v, MPROC_FOREVER) != 0)
                a->failures++;
            mproc_value_free(v);
        }
        return NULL;
    }
    for (;;) {
        mproc_value_t *v = NULL;
        int64_t n;
        if (mproc_queue_get(a->q, &v, MPROC_FOREVER) != 0) {
            a->failures++;
            break;
        }
        n = mproc_value_as_int(v);
        mproc_value_free(v);
        if (a->joinable && mproc_queue_task_done(a->q) != 0)
            a->failures++;
        if (n < 0)
            break; /* the end marker */
        /* Each item is taken once, so each byte is written by one thread. */
        a->seen[n]++;
        a->got++;
    }
    return NULL;
}

/*
 * Producers and consumers on one handle: every item arrives exactly once.
 * A small ring makes some of them go through the spill file too.
 */
static void many_threads_on_one_queue(int joinable)
{
    enum { PRODUCERS = 3, CONSUMERS = 3 };
    queue_arg a[PRODUCERS];
    queue_arg c[CONSUMERS];
    mproc_queue_t *q = NULL;
    mproc_queue_opts_t qo = {0};
    unsigned char *seen = calloc(PRODUCERS * PER_PRODUCER, 1);
    int i, total = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
    qo.capacity = 8192;
    CU_ASSERT_EQUAL_FATAL(joinable ? mproc_joinable_queue_create(&q, &qo)
                                   : mproc_queue_create(&q, &qo),
                          0);
    memset(a, 0, sizeof a);
    memset(c, 0, sizeof c);
    for (i = 0; i < PRODUCERS; i++) {
        a[i].q = q;
        a[i].id = i;
    }
    for (i = 0; i < CONSUMERS; i++) {
        c[i].q = q;
        c[i].id = -1;
        c[i].joinable = joinable;
        c[i].seen = seen;
    }
    {
        /*
         * Producers and consumers all at once; the end markers go in once
         * every producer is done, so they come after every item.
         */
        apr_pool_t *pool = NULL;
        apr_thread_t *t[PRODUCERS + CONSUMERS];
        apr_status_t ignored;
        CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
        for (i = 0; i < PRODUCERS + CONSUMERS; i++)
            CU_ASSERT_EQUAL_FATAL(
                apr_thread_create(&t[i], NULL, queue_worker,
                                  i < PRODUCERS ? &a[i] : &c[i - PRODUCERS],
                                  pool),
                APR_SUCCESS);
        for (i = 0; i < PRODUCERS; i++)
            apr_thread_join(&ignored, t[i]);
        for (i = 0; i < CONSUMERS; i++) {
            mproc_value_t *end = mproc_value_int(-1);
            CU_ASSERT_EQUAL(mproc_queue_put(q, end, MPROC_FOREVER), 0);
            mproc_value_free(end);
        }
        for (i = PRODUCERS; i < PRODUCERS + CONSUMERS; i++)
            apr_thread_join(&ignored, t[i]);
        apr_pool_destroy(pool);
    }
    for (i = 0; i < PRODUCERS; i++)
        CU_ASSERT_EQUAL(a[i].failures, 0);
    for (i = 0; i < CONSUMERS; i++) {
        CU_ASSERT_EQUAL(c[i].failures, 0);
        total += c[i].got;
    }
    CU_ASSERT_EQUAL(total, PRODUCERS * PER_PRODUCER);
    for (i = 0; i < PRODUCERS * PER_PRODUCER; i++)
        if (seen[i] != 1) {
            CU_FAIL("an item was lost or taken twice");
            break;
        }
    if (joinable)
        CU_ASSERT_EQUAL(mproc_queue_join(q, 10), 0);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    free(seen);
    mproc_queue_destroy(q);
}

static void *APR_THREAD_FUNC put_get_worker(apr_thread_t *t, void *arg)
{
    queue_arg *a = arg;
    int i;
    (void) t;
    /* Puts and gets interleaved on one handle from every thread. */
    for (i = 0; i < PER_PRODUCER; i++) {
        mproc_value_t *v = mproc_value_int(a->id * PER_PRODUCER + i);
        mproc_value_t *got = NULL;
        if (mproc_queue_put(a->q, v, MPROC_FOREVER) != 0)
            a->failures++;
        mproc_value_free(v);
        if (mproc_queue_get(a->q, &got, MPROC_FOREVER) != 0) {
            a->failures++;
            continue;
        }
        a->seen[mproc_value_as_int(got)]++;
        mproc_value_free(got);
        a->got++;
    }
    return NULL;
}

static void test_producers_and_consumers_on_one_queue(void)
{
    many_threads_on_one_queue(0);
}

static void test_joinable_queue_from_threads(void)
{
    many_threads_on_one_queue(1);
}

/* Every thread both puts and gets, so puts and gets overlap on the handle. */
static void test_puts_and_gets_at_once_on_one_queue(void)
{
    queue_arg a[NTHREADS];
    mproc_queue_t *q = NULL;
    mproc_queue_opts_t qo = {0};
    unsigned char *seen = calloc(NTHREADS * PER_PRODUCER, 1);
    int i, total = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(seen);
    qo.capacity = 4096;
    CU_ASSERT_EQUAL_FATAL(mproc_simple_queue_create(&q, &qo), 0);
    memset(a, 0, sizeof a);
    for (i = 0; i < NTHREADS; i++) {
        a[i].q = q;
        a[i].id = i;
        a[i].seen = seen;
    }
    /* Each item is taken once, so each byte is written by one thread. */
    run_threads(NTHREADS, put_get_worker, a, sizeof a[0]);
    for (i = 0; i < NTHREADS; i++) {
        CU_ASSERT_EQUAL(a[i].failures, 0);
        total += a[i].got;
    }
    CU_ASSERT_EQUAL(total, NTHREADS * PER_PRODUCER);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    free(seen);
    mproc_queue_destroy(q);
}

/* ---- sync objects -------------------------------------------------------- */

typedef struct sync_arg {
    mproc_lock_t *lock;
    mproc_sem_t *sem;
    mproc_event_t *go;
    long *counter; /* guarded by lock */
    long *inside;  /* guarded by sem (a semaphore of one) */
    int failures;
} sync_arg;

static void *APR_THREAD_FUNC sync_worker(apr_thread_t *t, void *arg)
{
    sync_arg *a = arg;
    int i;
    (void) t;
    if (mproc_event_wait(a->go, MPROC_FOREVER) != 0)
        a->failures++;
    for (i = 0; i < 3000; i++) {
        if (mproc_lock_acquire(a->lock, MPROC_FOREVER) != 0) {
            a->failures++;
            continue;
        }
        ++*a->counter;
        if (mproc_lock_release(a->lock) != 0)
            a->failures++;
        if (mproc_sem_acquire(a->sem, MPROC_FOREVER) != 0) {
            a->failures++;
            continue;
        }
        ++*a->inside;
        if (mproc_sem_release(a->sem) != 0)
            a->failures++;
    }
    return NULL;
}

static void *APR_THREAD_FUNC sync_starter(apr_thread_t *t, void *arg)
{
    sync_arg *a = arg;
    (void) t;
    if (mproc_event_set(a->go) != 0)
        a->failures++;
    return sync_worker(t, arg);
}

/* A Lock, a Semaphore and an Event shared by threads exclude and signal. */
static void test_sync_objects_from_threads(void)
{
    sync_arg a[NTHREADS];
    long counter = 0, inside = 0;
    mproc_lock_t *lock = NULL;
    mproc_sem_t *sem = NULL;
    mproc_event_t *go = NULL;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&lock, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&sem, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&go, NULL), 0);
    memset(a, 0, sizeof a);
    for (i = 0; i < NTHREADS; i++) {
        a[i].lock = lock;
        a[i].sem = sem;
        a[i].go = go;
        a[i].counter = &counter;
        a[i].inside = &inside;
    }
    /* The first thread sets the event the others wait for. */
    {
        apr_pool_t *pool = NULL;
        apr_thread_t *t[NTHREADS];
        apr_status_t ignored;
        CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
        for (i = 1; i < NTHREADS; i++)
            CU_ASSERT_EQUAL_FATAL(
                apr_thread_create(&t[i], NULL, sync_worker, &a[i], pool),
                APR_SUCCESS);
        CU_ASSERT_EQUAL_FATAL(
            apr_thread_create(&t[0], NULL, sync_starter, &a[0], pool),
            APR_SUCCESS);
        for (i = 0; i < NTHREADS; i++)
            apr_thread_join(&ignored, t[i]);
        apr_pool_destroy(pool);
    }
    for (i = 0; i < NTHREADS; i++)
        CU_ASSERT_EQUAL(a[i].failures, 0);
    CU_ASSERT_EQUAL(counter, NTHREADS * 3000L);
    CU_ASSERT_EQUAL(inside, NTHREADS * 3000L);
    mproc_lock_destroy(lock);
    mproc_sem_destroy(sem);
    mproc_event_destroy(go);
}

/* ---- conditions ------------------------------------------------------- */

#define COND_WAIT_TIMEOUT 10.0

/*
 * What the waiters and the notifier share, all of it guarded by the lock
 * the two conditions share: @wake is what the waiters wait on, @news is
 * where the notifier hears of them (and they hear of the second round).
 */
typedef struct cond_shared {
    mproc_cond_t *wake;
    mproc_cond_t *news;
    int arrived; /* waiters that came to wait, over both rounds */
    int done;    /* waiters woken, over both rounds */
    int round;   /* the round the notifier has opened: 1 or 2 */
} cond_shared;

typedef struct cond_arg {
    cond_shared *sh;
    int woke[2]; /* how often this waiter's wait returned 0, per round */
    int failures;
} cond_arg;

static int round_two_open(void *arg)
{
    return ((cond_shared *) arg)->round == 2;
}

static int all_arrived_once(void *arg)
{
    return ((cond_shared *) arg)->arrived >= NTHREADS;
}

static int all_arrived_twice(void *arg)
{
    return ((cond_shared *) arg)->arrived >= 2 * NTHREADS;
}

/* The notifier's target for @done, in cond_notifier's own argument. */
typedef struct done_target {
    cond_shared *sh;
    int want;
} done_target;

static int done_reached(void *arg)
{
    const done_target *d = arg;
    return d->sh->done >= d->want;
}

/* One round of a waiter: arrives, waits once, and counts the wake-up. */
static void cond_wait_once(cond_arg *a, int round)
{
    cond_shared *sh = a->sh;
    int rc;
    sh->arrived++;
    if (mproc_cond_notify_all(sh->news) != 0)
        a->failures++;
    rc = mproc_cond_wait(sh->wake, COND_WAIT_TIMEOUT);
    if (rc == 0)
        a->woke[round]++;
    else
        a->failures++;
    sh->done++;
    if (mproc_cond_notify_all(sh->news) != 0)
        a->failures++;
}

static void *APR_THREAD_FUNC cond_waiter(apr_thread_t *t, void *arg)
{
    cond_arg *a = arg;
    (void) t;
    if (mproc_cond_acquire(a->sh->wake, MPROC_FOREVER) != 0) {
        a->failures++;
        return NULL;
    }
    cond_wait_once(a, 0);
    /* Not before the first round is over, so no notify(1) meets us. */
    if (mproc_cond_wait_for(a->sh->news, round_two_open, a->sh,
                            COND_WAIT_TIMEOUT) != 0)
        a->failures++;
    else
        cond_wait_once(a, 1);
    if (mproc_cond_release(a->sh->wake) != 0)
        a->failures++;
    return NULL;
}

static void *APR_THREAD_FUNC cond_notifier(apr_thread_t *t, void *arg)
{
    cond_arg *a = arg;
    cond_shared *sh = a->sh;
    done_target d;
    int k;
    (void) t;
    d.sh = sh;
    if (mproc_cond_acquire(sh->news, MPROC_FOREVER) != 0) {
        a->failures++;
        return NULL;
    }
    /* Round one: one waiter at a time, each woken by a notify of one. */
    if (mproc_cond_wait_for(sh->news, all_arrived_once, sh,
                            COND_WAIT_TIMEOUT) != 0)
        a->failures++;
    for (k = 0; k < NTHREADS; k++) {
        if (mproc_cond_notify(sh->wake, 1) != 0)
            a->failures++;
        d.want = k + 1;
        if (mproc_cond_wait_for(sh->news, done_reached, &d,
                                COND_WAIT_TIMEOUT) != 0)
            a->failures++;
        /* A notify of one wakes one waiter, not two. */
        if (sh->done != k + 1)
            a->failures++;
    }
    /* Round two: every waiter by one notify_all. */
    sh->round = 2;
    if (mproc_cond_notify_all(sh->news) != 0)
        a->failures++;
    if (mproc_cond_wait_for(sh->news, all_arrived_twice, sh,
                            COND_WAIT_TIMEOUT) != 0)
        a->failures++;
    if (mproc_cond_notify_all(sh->wake) != 0)
        a->failures++;
    d.want = 2 * NTHREADS;
    if (mproc_cond_wait_for(sh->news, done_reached, &d, COND_WAIT_TIMEOUT) != 0)
        a->failures++;
    if (mproc_cond_release(sh->news) != 0)
        a->failures++;
    return NULL;
}

/*
 * Four threads wait on one Condition and a fifth wakes them, first one by
 * one with notify(1), then all at once: each waiter wakes exactly once a
 * round. @rlock: the conditions share an RLock, else a Lock.
 */
static void waiters_and_a_notifier(int rlock)
{
    cond_arg a[NTHREADS + 1];
    cond_shared sh;
    mproc_cond_opts_t co = {0};
    mproc_lock_t *lock = NULL;
    mproc_rlock_t *rl = NULL;
    int i;
    memset(&sh, 0, sizeof sh);
    if (rlock) {
        CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&rl, NULL), 0);
        co.rlock = rl;
    } else {
        CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&lock, NULL), 0);
        co.lock = lock;
    }
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&sh.wake, &co), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&sh.news, &co), 0);
    sh.round = 1;
    memset(a, 0, sizeof a);
    for (i = 0; i <= NTHREADS; i++)
        a[i].sh = &sh;
    {
        apr_pool_t *pool = NULL;
        apr_thread_t *t[NTHREADS + 1];
        apr_status_t ignored;
        CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
        for (i = 0; i <= NTHREADS; i++)
            CU_ASSERT_EQUAL_FATAL(
                apr_thread_create(&t[i], NULL,
                                  i < NTHREADS ? cond_waiter : cond_notifier,
                                  &a[i], pool),
                APR_SUCCESS);
        for (i = 0; i <= NTHREADS; i++)
            apr_thread_join(&ignored, t[i]);
        apr_pool_destroy(pool);
    }
    for (i = 0; i <= NTHREADS; i++)
        CU_ASSERT_EQUAL(a[i].failures, 0);
    for (i = 0; i < NTHREADS; i++) {
        CU_ASSERT_EQUAL(a[i].woke[0], 1);
        CU_ASSERT_EQUAL(a[i].woke[1], 1);
    }
    CU_ASSERT_EQUAL(sh.arrived, 2 * NTHREADS);
    CU_ASSERT_EQUAL(sh.done, 2 * NTHREADS);
    mproc_cond_destroy(sh.wake);
    mproc_cond_destroy(sh.news);
    mproc_lock_destroy(lock);
    mproc_rlock_destroy(rl);
}

static void test_condition_from_threads_with_a_lock(void)
{
    waiters_and_a_notifier(0);
}

static void test_condition_from_threads_with_an_rlock(void)
{
    waiters_and_a_notifier(1);
}

/* ---- barriers ------------------------------------------------------------ */

#define BARRIER_CYCLES 50
#define BARRIER_TIMEOUT 10.0

typedef struct barrier_arg {
    mproc_barrier_t *b;
    int cycles;
    int index[BARRIER_CYCLES]; /* the index each wait returned */
    int failures;
} barrier_arg;

static void *APR_THREAD_FUNC barrier_worker(apr_thread_t *t, void *arg)
{
    barrier_arg *a = arg;
    int c;
    (void) t;
    for (c = 0; c < a->cycles; c++) {
        a->index[c] = mproc_barrier_wait(a->b, BARRIER_TIMEOUT);
        if (a->index[c] < 0)
            a->failures++;
    }
    return NULL;
}

/* Whether the @n indexes of one cycle are 0..n-1, each once. */
static int each_index_once(const int *idx, int n)
{
    unsigned seen = 0;
    int i;
    for (i = 0; i < n; i++) {
        if (idx[i] < 0 || idx[i] >= n || (seen & (1u << idx[i])))
            return 0;
        seen |= 1u << idx[i];
    }
    return 1;
}

/* Four threads pass one Barrier of four fifty times, never breaking it. */
static void test_barrier_from_threads(void)
{
    barrier_arg a[NTHREADS];
    mproc_barrier_t *b = NULL;
    int i, c, bad = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, NTHREADS, NULL), 0);
    memset(a, 0, sizeof a);
    for (i = 0; i < NTHREADS; i++) {
        a[i].b = b;
        a[i].cycles = BARRIER_CYCLES;
    }
    run_threads(NTHREADS, barrier_worker, a, sizeof a[0]);
    for (i = 0; i < NTHREADS; i++)
        CU_ASSERT_EQUAL(a[i].failures, 0);
    for (c = 0; c < BARRIER_CYCLES; c++) {
        int idx[NTHREADS];
        for (i = 0; i < NTHREADS; i++)
            idx[i] = a[i].index[c];
        if (!each_index_once(idx, NTHREADS))
            bad++;
    }
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_FALSE(mproc_barrier_broken(b));
    mproc_barrier_destroy(b);
}

#define MIXED_CYCLES 20

/* args: barrier, queue; puts each cycle's index, and exits 0 if none broke. */
static void barrier_cycles(const mproc_value_t *args)
{
    mproc_barrier_t *b = NULL;
    mproc_queue_t *q = NULL;
    int c, failures = 0;
    CHILD_ASSERT(mproc_value_to_barrier(mproc_value_at(args, 0), &b) == 0);
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 1), &q) == 0);
    for (c = 0; c < MIXED_CYCLES; c++) {
        int r = mproc_barrier_wait(b, BARRIER_TIMEOUT);
        mproc_value_t *v = mproc_value_int(c * NTHREADS + r);
        if (r < 0)
            failures++;
        else if (mproc_queue_put(q, v, MPROC_FOREVER) != 0)
            failures++;
        mproc_value_free(v);
    }
    mproc_queue_destroy(q);
    mproc_barrier_destroy(b);
    mproc_exit(failures == 0 ? 0 : 1);
}
MPROC_TARGET(barrier_cycles)

/*
 * Two threads of this process and two children pass one Barrier of four
 * together: every cycle gives each index once.
 */
static void test_barrier_shared_by_threads_and_children(void)
{
    barrier_arg a[2];
    mproc_barrier_t *b = NULL;
    mproc_queue_t *q = NULL;
    mproc_process_t *p[2];
    int idx[MIXED_CYCLES][NTHREADS], have[MIXED_CYCLES];
    int i, c, bad = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, NTHREADS, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    for (i = 0; i < 2; i++)
        p[i] = harness_start("barrier_cycles",
                             mproc_value_list_of(2, mproc_value_barrier(b),
                                                 mproc_value_queue(q)));
    memset(a, 0, sizeof a);
    for (i = 0; i < 2; i++) {
        a[i].b = b;
        a[i].cycles = MIXED_CYCLES;
    }
    run_threads(2, barrier_worker, a, sizeof a[0]);
    memset(have, 0, sizeof have);
    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(a[i].failures, 0);
        for (c = 0; c < MIXED_CYCLES; c++)
            idx[c][have[c]++] = a[i].index[c];
    }
    for (i = 0; i < 2 * MIXED_CYCLES; i++) {
        mproc_value_t *v = NULL;
        int64_t n;
        if (mproc_queue_get(q, &v, BARRIER_TIMEOUT) != 0) {
            CU_FAIL("a child's index did not arrive");
            break;
        }
        n = mproc_value_as_int(v);
        mproc_value_free(v);
        c = (int) (n / NTHREADS);
        if (c >= 0 && c < MIXED_CYCLES && have[c] < NTHREADS)
            idx[c][have[c]++] = (int) (n % NTHREADS);
        else
            bad++;
    }
    /* Joining also destroys the process. */
    for (i = 0; i < 2; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    for (c = 0; c < MIXED_CYCLES; c++)
        if (have[c] != NTHREADS || !each_index_once(idx[c], NTHREADS))
            bad++;
    CU_ASSERT_EQUAL(bad, 0);
    CU_ASSERT_FALSE(mproc_barrier_broken(b));
    mproc_queue_destroy(q);
    mproc_barrier_destroy(b);
}

/* ---- the reference cache ------------------------------------------------ */

typedef struct import_arg {
    mproc_value_t *ref; /* each thread has its own equal copy */
    mproc_event_t *go;
    mproc_lock_t *got;
    int failures;
} import_arg;

static void *APR_THREAD_FUNC import_worker(apr_thread_t *t, void *arg)
{
    import_arg *a = arg;
    (void) t;
    if (mproc_event_wait(a->go, MPROC_FOREVER) != 0)
        a->failures++;
    if (mproc_value_to_lock(a->ref, &a->got) != 0)
        a->failures++;
    return NULL;
}

/* Equal references imported in several threads at once give one object. */
static void test_equal_references_imported_at_once(void)
{
    import_arg a[NTHREADS];
    mproc_lock_t *lock = NULL;
    mproc_value_t *ref;
    apr_pool_t *pool = NULL;
    apr_thread_t *t[NTHREADS];
    mproc_event_t *go = NULL;
    int i, round;
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (round = 0; round < 20; round++) {
        CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&lock, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_event_create(&go, NULL), 0);
        ref = mproc_value_lock(lock);
        CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
        memset(a, 0, sizeof a);
        for (i = 0; i < NTHREADS; i++) {
            a[i].ref = mproc_value_copy(ref);
            a[i].go = go;
            CU_ASSERT_EQUAL_FATAL(
                apr_thread_create(&t[i], NULL, import_worker, &a[i], pool),
                APR_SUCCESS);
        }
        CU_ASSERT_EQUAL(mproc_event_set(go), 0);
        for (i = 0; i < NTHREADS; i++) {
            apr_status_t ignored;
            apr_thread_join(&ignored, t[i]);
        }
        for (i = 0; i < NTHREADS; i++) {
            CU_ASSERT_EQUAL(a[i].failures, 0);
            CU_ASSERT_PTR_NOT_NULL(a[i].got);
            CU_ASSERT_PTR_EQUAL(a[i].got, a[0].got);
            mproc_value_free(a[i].ref);
        }
        mproc_value_free(ref);
        mproc_event_destroy(go);
        mproc_lock_destroy(lock);
    }
    apr_pool_destroy(pool);
}

/* ---- processes ------------------------------------------------------------
 */

/* Waits for the event its argument names, then returns. */
static void wait_then_return(const mproc_value_t *args)
{
    mproc_event_t *e = NULL;
    CHILD_ASSERT(mproc_value_to_event(mproc_value_at(args, 0), &e) == 0);
    CHILD_ASSERT(mproc_event_wait(e, 60) == 0);
}
MPROC_TARGET(wait_then_return)

typedef struct join_arg {
    mproc_process_t *p;
    int rc;
    int code;
} join_arg;

static void *APR_THREAD_FUNC join_worker(apr_thread_t *t, void *arg)
{
    join_arg *a = arg;
    (void) t;
    a->rc = mproc_process_join(a->p, MPROC_FOREVER);
    if (a->rc == 0)
        a->rc = mproc_process_exitcode(a->p, &a->code);
    return NULL;
}

static void *APR_THREAD_FUNC alive_worker(apr_thread_t *t, void *arg)
{
    join_arg *a = arg;
    (void) t;
    /* Asks while the others join; the answer is either, never a crash. */
    while (mproc_process_is_alive(a->p))
        mproc_sleep(0.001);
    a->rc = mproc_process_exitcode(a->p, &a->code);
    return NULL;
}

/*
 * Two threads join one process while a third asks whether it is alive:
 * all of them see it end with its exit code.
 */
static void test_two_threads_join_one_process(void)
{
    join_arg a[3];
    mproc_event_t *e = NULL;
    mproc_process_t *p;
    apr_pool_t *pool = NULL;
    apr_thread_t *t[3];
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&e, NULL), 0);
    p = harness_start("wait_then_return",
                      mproc_value_list_of(1, mproc_value_event(e)));
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    memset(a, 0, sizeof a);
    for (i = 0; i < 3; i++) {
        a[i].p = p;
        a[i].code = -1000;
        CU_ASSERT_EQUAL_FATAL(
            apr_thread_create(&t[i], NULL, i < 2 ? join_worker : alive_worker,
                              &a[i], pool),
            APR_SUCCESS);
    }
    CU_ASSERT_EQUAL(mproc_event_set(e), 0);
    for (i = 0; i < 3; i++) {
        apr_status_t ignored;
        apr_thread_join(&ignored, t[i]);
    }
    apr_pool_destroy(pool);
    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(a[i].rc, 0);
        CU_ASSERT_EQUAL(a[i].code, 0);
    }
    CU_ASSERT_FALSE(mproc_process_is_alive(p));
    mproc_process_destroy(p);
    mproc_event_destroy(e);
}

static const harness_test tests[] = {
    {"objects made and destroyed in threads",
     test_objects_made_and_destroyed_in_threads, HARNESS_SPAWN},
    {"producers and consumers on one queue",
     test_producers_and_consumers_on_one_queue, HARNESS_SPAWN},
    {"joinable queue from threads", test_joinable_queue_from_threads,
     HARNESS_SPAWN},
    {"puts and gets at once on one queue",
     test_puts_and_gets_at_once_on_one_queue, HARNESS_SPAWN},
    {"sync objects from threads", test_sync_objects_from_threads,
     HARNESS_SPAWN},
    {"condition from threads with a lock",
     test_condition_from_threads_with_a_lock, HARNESS_SPAWN},
    {"condition from threads with an rlock",
     test_condition_from_threads_with_an_rlock, HARNESS_SPAWN},
    {"barrier from threads", test_barrier_from_threads, HARNESS_SPAWN},
    {"barrier shared by threads and children",
     test_barrier_shared_by_threads_and_children, 0},
    {"equal references imported at once",
     test_equal_references_imported_at_once, HARNESS_SPAWN},
    {"two threads join one process", test_two_threads_join_one_process, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "threads", tests);
}
