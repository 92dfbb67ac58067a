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
    {"equal references imported at once",
     test_equal_references_imported_at_once, HARNESS_SPAWN},
    {"two threads join one process", test_two_threads_join_one_process, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "threads", tests);
}
