/*
 * The process pool under each start method: every call and option, results
 * in order, failures and callbacks, workers lost by each cause, time
 * limits, maxtasksperchild, a failing initializer, terminate with stuck
 * workers, many workers, pools in a child, and nothing left behind by
 * many pools made and destroyed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <fcntl.h>
    #include <signal.h>
    #include <sys/wait.h>
    #include <unistd.h>
#endif

#include "harness.h"

/* ---- pool targets ------------------------------------------------------ */

static mproc_value_t *square(const mproc_value_t *args)
{
    int64_t x;
    if (mproc_unpack(args, "I", &x) < 0)
        mproc_raise_last();
    return mproc_value_int(x * x);
}
MPROC_POOL_TARGET(square)

static mproc_value_t *add(const mproc_value_t *args)
{
    int64_t a, b;
    if (mproc_unpack(args, "II", &a, &b) < 0)
        mproc_raise_last();
    return mproc_value_int(a + b);
}
MPROC_POOL_TARGET(add)

/* Fails for 3 and 7, succeeds for the others. */
static mproc_value_t *picky(const mproc_value_t *args)
{
    int64_t x;
    if (mproc_unpack(args, "I", &x) < 0)
        mproc_raise_last();
    if (x == 3 || x == 7)
        mproc_raise("no %d today", (int) x);
    return mproc_value_int(x);
}
MPROC_POOL_TARGET(picky)

/* Its worker's name and pid. */
static mproc_value_t *whoami(const mproc_value_t *args)
{
    (void) args;
    return mproc_pack("sI", mproc_process_name(mproc_current_process()),
                      (int64_t) mproc_process_pid(mproc_current_process()));
}
MPROC_POOL_TARGET(whoami)

static mproc_value_t *nap(const mproc_value_t *args)
{
    double s;
    if (mproc_unpack(args, "f", &s) < 0)
        mproc_raise_last();
    mproc_sleep(s);
    return mproc_value_float(s);
}
MPROC_POOL_TARGET(nap)

/*
 * A real invalid write. The sanitizers are told to look away: the point
 * is the signal, which the sanitizer run lets through (handle_segv=0).
 */
#if defined(__GNUC__)
__attribute__((no_sanitize_address, no_sanitize("undefined")))
#endif
static void
crash(void)
{
    volatile uintptr_t nowhere = 16;
    *(volatile int *) nowhere = 1;
}

/* Ends its own worker as @how says: "exit", "kill", "crash". */
static mproc_value_t *die(const mproc_value_t *args)
{
    const char *how;
    if (mproc_unpack(args, "s", &how) < 0)
        mproc_raise_last();
    if (strcmp(how, "exit") == 0)
        mproc_exit(3);
    if (strcmp(how, "kill") == 0) {
#if defined(_WIN32)
        TerminateProcess(GetCurrentProcess(), 9);
#else
        kill(getpid(), SIGKILL);
#endif
    }
    if (strcmp(how, "crash") == 0)
        crash();
    return mproc_value_str(how);
}
MPROC_POOL_TARGET(die)

/* Runs until its soft limit passes (or 30 s), then says so. */
static mproc_value_t *until_soft(const mproc_value_t *args)
{
    int i;
    (void) args;
    for (i = 0; i < 3000; i++) {
        if (mproc_pool_past_soft_limit())
            return mproc_value_str("stopped");
        mproc_sleep(0.01);
    }
    return mproc_value_str("never told");
}
MPROC_POOL_TARGET(until_soft)

static mproc_value_t *soft_now(const mproc_value_t *args)
{
    (void) args;
    return mproc_value_int(mproc_pool_past_soft_limit());
}
MPROC_POOL_TARGET(soft_now)

/* Returns its argument as it is. */
static mproc_value_t *echo(const mproc_value_t *args)
{
    return mproc_value_copy(mproc_value_at(args, 0));
}
MPROC_POOL_TARGET(echo)

/* A function that is no pool target. */
static mproc_value_t *not_registered(const mproc_value_t *args)
{
    return mproc_value_copy(args);
}

/* A result no process can decode: a record of no registered type. */
static mproc_value_t *unsendable(const mproc_value_t *args)
{
    (void) args;
    return mproc_value_record("nobody_knows_me", NULL);
}
MPROC_POOL_TARGET(unsendable)

/* A result of @n bytes. */
static mproc_value_t *big_result(const mproc_value_t *args)
{
    int n;
    char *buf;
    mproc_value_t *v;
    if (mproc_unpack(args, "i", &n) < 0)
        mproc_raise_last();
    buf = calloc((size_t) n, 1);
    v = mproc_value_bytes(buf, (size_t) n);
    free(buf);
    return v;
}
MPROC_POOL_TARGET(big_result)

#if !defined(_WIN32)
/* A task that will not be terminated: only a kill ends it. */
static mproc_value_t *stubborn(const mproc_value_t *args)
{
    (void) args;
    signal(SIGTERM, SIG_IGN);
    mproc_sleep(1000);
    return NULL;
}
MPROC_POOL_TARGET(stubborn)
#endif

/* What the initializer left in each worker. */
static int initialized;
static void good_init(const mproc_value_t *args)
{
    int v;
    if (mproc_unpack(args, "i", &v) < 0)
        mproc_raise_last();
    initialized = v;
}
MPROC_TARGET(good_init)

static mproc_value_t *get_initialized(const mproc_value_t *args)
{
    (void) args;
    return mproc_value_int(initialized);
}
MPROC_POOL_TARGET(get_initialized)

static void bad_init(const mproc_value_t *args)
{
    (void) args;
    mproc_raise("no config for %s",
                mproc_process_name(mproc_current_process()));
}
MPROC_TARGET(bad_init)

static void exiting_init(const mproc_value_t *args)
{
    (void) args;
    mproc_exit(5);
}
MPROC_TARGET(exiting_init)

/* Succeeds for the first worker only: a shared counter says which. */
static void once_init(const mproc_value_t *args)
{
    mproc_shared_value_t *n;
    int64_t before;
    if (mproc_unpack(args, "W", &n) < 0)
        mproc_raise_last();
    mproc_shared_value_add(n, 1, &before);
    if (before > 1)
        mproc_raise("only one worker may start");
}
MPROC_TARGET(once_init)

/* ---- helpers ------------------------------------------------------------ */

static mproc_pool_t *make_pool(int processes)
{
    mproc_pool_opts_t o = {0};
    mproc_pool_t *p = NULL;
    o.processes = processes;
    o.method = harness_method;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &o), 0);
    return p;
}

static void end_pool(mproc_pool_t *p)
{
    CU_ASSERT_EQUAL(mproc_pool_close(p), 0);
    CU_ASSERT_EQUAL(mproc_pool_join(p, MPROC_FOREVER), 0);
    mproc_pool_destroy(p);
}

/* [0, 1, ..., n-1] */
static mproc_value_t *range(int n)
{
    mproc_value_t *l = mproc_value_list();
    int i;
    for (i = 0; i < n; i++)
        mproc_value_append(l, mproc_value_int(i));
    return l;
}

/* ---- the calls ----------------------------------------------------------- */

static void test_map_in_order(void)
{
    mproc_pool_t *p = make_pool(3);
    mproc_value_t *in = range(100), *out = NULL;
    mproc_pool_call_opts_t o = {0};
    size_t i;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, square, in, NULL, &out), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_value_len(out), 100);
    for (i = 0; i < 100; i++)
        CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(out, i)),
                        (int64_t) (i * i));
    mproc_value_free(out);
    /* The caller's chunksize, and one item per task. */
    for (o.chunksize = 1; o.chunksize <= 7; o.chunksize += 6) {
        CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, square, in, &o, &out), 0);
        for (i = 0; i < 100; i++)
            CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(out, i)),
                            (int64_t) (i * i));
        mproc_value_free(out);
    }
    mproc_value_free(in);
    /* An empty map is an empty list. */
    in = mproc_value_list();
    CU_ASSERT_EQUAL(mproc_pool_map(p, square, in, NULL, &out), 0);
    CU_ASSERT_EQUAL(mproc_value_len(out), 0);
    CU_ASSERT_EQUAL(mproc_value_type(out), MPROC_VALUE_LIST);
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(p);
}

static void test_apply_and_starmap(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_value_t *r = NULL, *in, *out = NULL;
    CU_ASSERT_EQUAL(
        mproc_pool_apply(p, add, mproc_pack("II", (int64_t) 2, (int64_t) 40),
                         NULL, &r),
        0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 42);
    mproc_value_free(r);
    in = mproc_value_list_of(3, mproc_pack("ii", 1, 2), mproc_pack("ii", 3, 4),
                             mproc_pack("ii", 5, 6));
    CU_ASSERT_EQUAL_FATAL(mproc_pool_starmap(p, add, in, NULL, &out), 0);
    CU_ASSERT_EQUAL(mproc_value_len(out), 3);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(out, 0)), 3);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(out, 1)), 7);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(out, 2)), 11);
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(p);
}

/* What the callbacks of a call saw, and where they ran. */
typedef struct seen {
    int results, errors, status;
    int64_t value;
    long pid;
    char sentence[256];
    size_t progress_calls, last_done, last_total, last_failed;
} seen;

static void on_result(void *arg, const mproc_value_t *result)
{
    seen *s = arg;
    s->results++;
    s->pid = mproc_process_pid(mproc_current_process());
    if (mproc_value_type(result) == MPROC_VALUE_INT)
        s->value = mproc_value_as_int(result);
    else
        s->value = (int64_t) mproc_value_len(result);
}

static void on_error(void *arg, int status, const char *sentence)
{
    seen *s = arg;
    s->errors++;
    s->status = status;
    s->pid = mproc_process_pid(mproc_current_process());
    snprintf(s->sentence, sizeof s->sentence, "%s", sentence);
}

static void on_progress(void *arg, size_t done, size_t total, size_t failed)
{
    seen *s = arg;
    s->progress_calls++;
    CU_ASSERT_TRUE(done >= s->last_done);
    s->last_done = done;
    s->last_total = total;
    s->last_failed = failed;
}

static void test_apply_async_and_callbacks(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_pool_call_opts_t o = {0};
    mproc_async_t *r = NULL, *bad = NULL;
    const mproc_value_t *v = NULL;
    seen s = {0}, e = {0};
    o.callback = on_result;
    o.error_callback = on_error;
    o.arg = &s;
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply_async(p, square, mproc_pack("i", 9), &o, &r), 0);
    CU_ASSERT_EQUAL(mproc_async_wait(r, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_async_ready(r), 1);
    CU_ASSERT_EQUAL(mproc_async_successful(r), 1);
    CU_ASSERT_EQUAL(mproc_async_get(r, 0, &v), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 81);
    /* The callback ran, in this process, before the result was ready. */
    CU_ASSERT_EQUAL(s.results, 1);
    CU_ASSERT_EQUAL(s.errors, 0);
    CU_ASSERT_EQUAL(s.value, 81);
    CU_ASSERT_EQUAL(s.pid, mproc_process_pid(mproc_current_process()));
    mproc_async_destroy(r);

    o.arg = &e;
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply_async(p, picky, mproc_pack("i", 3), &o, &bad), 0);
    CU_ASSERT_EQUAL(mproc_async_get(bad, MPROC_FOREVER, &v), MPROC_ETASK);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "no 3 today");
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(mproc_async_successful(bad), 0);
    CU_ASSERT_EQUAL(e.errors, 1);
    CU_ASSERT_EQUAL(e.results, 0);
    CU_ASSERT_EQUAL(e.status, MPROC_ETASK);
    CU_ASSERT_STRING_EQUAL(e.sentence, "no 3 today");
    mproc_async_destroy(bad);
    end_pool(p);
}

static void test_async_get_times_out(void)
{
    mproc_pool_t *p = make_pool(1);
    mproc_async_t *r = NULL;
    const mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply_async(p, nap, mproc_pack("f", 0.5), NULL, &r), 0);
    CU_ASSERT_EQUAL(mproc_async_get(r, 0.01, &v), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_async_ready(r), 0);
    CU_ASSERT_EQUAL(mproc_async_successful(r), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_async_get(r, 0, &v), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_async_get(r, MPROC_FOREVER, &v), 0);
    CU_ASSERT_DOUBLE_EQUAL(mproc_value_as_float(v), 0.5, 1e-9);
    mproc_async_destroy(r);
    end_pool(p);
}

static void test_map_async_and_progress(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_pool_call_opts_t o = {0};
    mproc_value_t *in = range(500);
    mproc_async_t *r = NULL;
    const mproc_value_t *v = NULL;
    seen s = {0};
    size_t i;
    o.callback = on_result;
    o.error_callback = on_error;
    o.progress = on_progress;
    o.arg = &s;
    o.chunksize = 10;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map_async(p, square, in, &o, &r), 0);
    /* The items were copied: the caller's list is its own again. */
    mproc_value_free(in);
    CU_ASSERT_EQUAL(mproc_async_get(r, MPROC_FOREVER, &v), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_value_len(v), 500);
    for (i = 0; i < 500; i++)
        CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, i)),
                        (int64_t) (i * i));
    CU_ASSERT_EQUAL(s.results, 1);
    CU_ASSERT_EQUAL(s.value, 500);
    CU_ASSERT_TRUE(s.progress_calls >= 1);
    CU_ASSERT_EQUAL(s.last_done, 500);
    CU_ASSERT_EQUAL(s.last_total, 500);
    CU_ASSERT_EQUAL(s.last_failed, 0);
    mproc_async_destroy(r);
    /* starmap_async too. */
    in = mproc_value_list_of(2, mproc_pack("ii", 1, 1), mproc_pack("ii", 2, 2));
    CU_ASSERT_EQUAL_FATAL(mproc_pool_starmap_async(p, add, in, NULL, &r), 0);
    CU_ASSERT_EQUAL(mproc_async_get(r, MPROC_FOREVER, &v), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 1)), 4);
    mproc_async_destroy(r);
    mproc_value_free(in);
    end_pool(p);
}

static void test_map_fails_with_the_first_failure(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_pool_call_opts_t o = {0};
    mproc_value_t *in =
        mproc_value_list_of(4, mproc_value_int(1), mproc_value_int(2),
                            mproc_value_int(3), mproc_value_int(4));
    mproc_value_t *out = NULL, *bad;
    CU_ASSERT_EQUAL(mproc_pool_map(p, picky, in, NULL, &out), MPROC_ETASK);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "no 3 today");
    CU_ASSERT_PTR_NULL(out);
    /* A type error in the target keeps its status (mproc_raise_last). */
    bad = mproc_value_list_of(2, mproc_value_int(1), mproc_value_str("x"));
    CU_ASSERT_EQUAL(mproc_pool_map(p, square, bad, NULL, &out), MPROC_ETYPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "item 0"));
    /* A starmap item that is no argument list fails as a type error. */
    CU_ASSERT_EQUAL(mproc_pool_starmap(p, add, in, NULL, &out), MPROC_ETYPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "list of arguments"));
    /* The pool goes on. */
    o.chunksize = 1;
    mproc_value_free(in);
    in = range(20);
    CU_ASSERT_EQUAL(mproc_pool_map(p, square, in, &o, &out), 0);
    CU_ASSERT_EQUAL(mproc_value_len(out), 20);
    mproc_value_free(out);
    mproc_value_free(in);
    mproc_value_free(bad);
    end_pool(p);
}

/*
 * A producer of the integers 0..limit-1 that counts what it gave. It runs
 * in the thread that drives the pool, so its count has a lock.
 */
typedef struct counter {
    int next, limit;
    mproc_lock_t *lock;
} counter;

static int count_up(void *arg, mproc_value_t **item)
{
    counter *c = arg;
    int rc = 0;
    mproc_lock_acquire(c->lock, MPROC_FOREVER);
    if (c->next < c->limit) {
        *item = mproc_value_int(c->next++);
        rc = 1;
    }
    mproc_lock_release(c->lock);
    return rc;
}

static int counted(counter *c)
{
    int n;
    mproc_lock_acquire(c->lock, MPROC_FOREVER);
    n = c->next;
    mproc_lock_release(c->lock);
    return n;
}

static void test_imap_in_order(void)
{
    mproc_pool_t *p = make_pool(3);
    mproc_value_t *in = range(300), *v = NULL;
    mproc_pool_call_opts_t o = {0};
    mproc_imap_t *it = NULL;
    int i, rc;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_imap(p, square, in, NULL, &it), 0);
    mproc_value_free(in);
    CU_ASSERT_EQUAL(mproc_imap_index(it), (size_t) -1);
    for (i = 0; i < 300; i++) {
        CU_ASSERT_EQUAL_FATAL(mproc_imap_next(it, MPROC_FOREVER, &v), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(v), (int64_t) i * i);
        CU_ASSERT_EQUAL(mproc_imap_index(it), (size_t) i);
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_imap_next(it, MPROC_FOREVER, &v), MPROC_ESTOP);
    CU_ASSERT_EQUAL(mproc_imap_next(it, 0, &v), MPROC_ESTOP);
    mproc_imap_destroy(it);
    /* With chunks, and a failure in the middle that is that item's own. */
    o.chunksize = 4;
    in = range(10);
    CU_ASSERT_EQUAL_FATAL(mproc_pool_imap(p, picky, in, &o, &it), 0);
    for (i = 0; i < 10; i++) {
        rc = mproc_imap_next(it, MPROC_FOREVER, &v);
        if (i == 3 || i == 7) {
            CU_ASSERT_EQUAL(rc, MPROC_ETASK);
            CU_ASSERT_PTR_NULL(v);
        } else {
            CU_ASSERT_EQUAL(rc, 0);
            CU_ASSERT_EQUAL(mproc_value_as_int(v), i);
        }
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_imap_next(it, MPROC_FOREVER, &v), MPROC_ESTOP);
    mproc_imap_destroy(it);
    mproc_value_free(in);
    end_pool(p);
}

static void test_imap_unordered_gives_each_once(void)
{
    mproc_pool_t *p = make_pool(3);
    mproc_value_t *in = range(200), *v = NULL;
    mproc_imap_t *it = NULL;
    char got[200] = {0};
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_imap_unordered(p, square, in, NULL, &it),
                          0);
    for (i = 0; i < 200; i++) {
        size_t at;
        CU_ASSERT_EQUAL_FATAL(mproc_imap_next(it, MPROC_FOREVER, &v), 0);
        at = mproc_imap_index(it);
        CU_ASSERT_FATAL(at < 200);
        CU_ASSERT_EQUAL(got[at], 0);
        got[at] = 1;
        CU_ASSERT_EQUAL(mproc_value_as_int(v), (int64_t) (at * at));
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_imap_next(it, MPROC_FOREVER, &v), MPROC_ESTOP);
    mproc_imap_destroy(it);
    mproc_value_free(in);
    end_pool(p);
}

static void test_imap_producer_is_never_drained(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_pool_call_opts_t o = {0};
    mproc_imap_t *it = NULL;
    mproc_value_t *v = NULL;
    counter c = {0, 100000000, NULL};
    seen s = {0};
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&c.lock, NULL), 0);
    o.producer = count_up;
    o.producer_arg = &c;
    o.max_in_flight = 16;
    CU_ASSERT_EQUAL(mproc_pool_imap(p, square, NULL, NULL, &it), MPROC_EINVAL);
    for (i = 0; i < 500; i++) {
        if (i == 0)
            CU_ASSERT_EQUAL_FATAL(mproc_pool_imap(p, square, NULL, &o, &it), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_imap_next(it, MPROC_FOREVER, &v), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(v), (int64_t) i * i);
        mproc_value_free(v);
        /* Never more taken than given back and in flight. */
        CU_ASSERT_TRUE(counted(&c) <= i + 1 + 16);
    }
    /* An endless input: the iterator is let go of, the pool goes on. */
    mproc_imap_destroy(it);
    mproc_lock_acquire(c.lock, MPROC_FOREVER);
    c.next = 0;
    c.limit = 50;
    mproc_lock_release(c.lock);
    /* A producer's total is known at its end, in chunks, with progress. */
    o.chunksize = 3;
    o.progress = on_progress;
    o.arg = &s;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_imap_unordered(p, square, NULL, &o, &it),
                          0);
    for (i = 0; i < 50; i++) {
        CU_ASSERT_EQUAL_FATAL(mproc_imap_next(it, MPROC_FOREVER, &v), 0);
        CU_ASSERT_TRUE(mproc_imap_index(it) < 50);
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_imap_next(it, MPROC_FOREVER, &v), MPROC_ESTOP);
    mproc_imap_destroy(it);
    CU_ASSERT_TRUE(s.progress_calls >= 1);
    CU_ASSERT_EQUAL(s.last_done, 50);
    CU_ASSERT_EQUAL(s.last_total, 50);
    end_pool(p);
    mproc_lock_destroy(c.lock);
}

/* ---- failures -------------------------------------------------------------
 */

/* Runs die over @hows with imap; each result's status into @rcs. */
static void imap_die(mproc_pool_t *p, const char *const *hows, size_t n,
                     int *rcs, char sentences[][512])
{
    mproc_value_t *in = mproc_value_list(), *v;
    mproc_imap_t *it = NULL;
    size_t i;
    for (i = 0; i < n; i++)
        mproc_value_append(in, mproc_value_str(hows[i]));
    CU_ASSERT_EQUAL_FATAL(mproc_pool_imap(p, die, in, NULL, &it), 0);
    for (i = 0; i < n; i++) {
        v = NULL;
        rcs[i] = mproc_imap_next(it, MPROC_FOREVER, &v);
        snprintf(sentences[i], 512, "%s", rcs[i] < 0 ? mproc_last_error() : "");
        if (rcs[i] == 0)
            CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), hows[i]);
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_imap_next(it, MPROC_FOREVER, &v), MPROC_ESTOP);
    mproc_imap_destroy(it);
    mproc_value_free(in);
}

/* A worker lost by @how fails that item alone, and a new one takes over. */
static void lose_worker(const char *how, const char *code_text)
{
    static const char *const hows[] = {"a", "b", "c", NULL, "e", "f", "g", "h"};
    const char *list[8];
    char sentences[8][512];
    int rcs[8], i;
    mproc_pool_t *p = make_pool(2);
    mproc_value_t *out = NULL, *in;
    for (i = 0; i < 8; i++)
        list[i] = hows[i] != NULL ? hows[i] : how;
    imap_die(p, list, 8, rcs, sentences);
    for (i = 0; i < 8; i++) {
        if (i == 3) {
            CU_ASSERT_EQUAL(rcs[i], MPROC_EWORKERLOST);
            CU_ASSERT_PTR_NOT_NULL(strstr(sentences[i], "PoolWorker-"));
            CU_ASSERT_PTR_NOT_NULL(strstr(sentences[i], "(pid "));
            CU_ASSERT_PTR_NOT_NULL(
                strstr(sentences[i], "item 3 of an imap of 'die'"));
            if (code_text != NULL)
                CU_ASSERT_PTR_NOT_NULL(strstr(sentences[i], code_text));
        } else {
            CU_ASSERT_EQUAL(rcs[i], 0);
        }
    }
    /* The same through map: it fails with the loss. */
    in = mproc_value_list_of(3, mproc_value_str("x"), mproc_value_str(how),
                             mproc_value_str("y"));
    CU_ASSERT_EQUAL(mproc_pool_map(p, die, in, NULL, &out), MPROC_EWORKERLOST);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "of a map of 'die'"));
    mproc_value_free(in);
    /* And the pool has its workers again. */
    in = range(50);
    CU_ASSERT_EQUAL(mproc_pool_map(p, square, in, NULL, &out), 0);
    CU_ASSERT_EQUAL(mproc_value_len(out), 50);
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(p);
}

static void test_worker_killed(void)
{
#if defined(_WIN32)
    lose_worker("kill", "exit code 9");
#else
    lose_worker("kill", "signal 9");
#endif
}

static void test_worker_crashed(void)
{
#if defined(_WIN32)
    lose_worker("crash", NULL);
#else
    lose_worker("crash", "signal 11");
#endif
}

static void test_worker_exited(void)
{
    lose_worker("exit", "exit code 3");
}

static void test_time_limit(void)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_call_opts_t o = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *r = NULL, *in, *v;
    mproc_imap_t *it = NULL;
    int i, rc;
    po.processes = 2;
    po.method = harness_method;
    po.time_limit = 0.3;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &po), 0);
    /* The pool's limit. */
    CU_ASSERT_EQUAL(mproc_pool_apply(p, nap, mproc_pack("f", 30.0), NULL, &r),
                    MPROC_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(mproc_last_error(), "ran past its time limit of 0.3 s"));
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "was killed"));
    /* A call's own: none, then a longer one. */
    o.time_limit = -1;
    CU_ASSERT_EQUAL(mproc_pool_apply(p, nap, mproc_pack("f", 0.5), &o, &r), 0);
    mproc_value_free(r);
    o.time_limit = 0.1;
    CU_ASSERT_EQUAL(mproc_pool_apply(p, nap, mproc_pack("f", 30.0), &o, &r),
                    MPROC_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "of 0.1 s"));
    /* In an imap, the slow item alone fails; the others go on. */
    in = mproc_value_list_of(5, mproc_value_float(0.01),
                             mproc_value_float(0.01), mproc_value_float(30.0),
                             mproc_value_float(0.01), mproc_value_float(0.01));
    CU_ASSERT_EQUAL_FATAL(mproc_pool_imap(p, nap, in, NULL, &it), 0);
    for (i = 0; i < 5; i++) {
        v = NULL;
        rc = mproc_imap_next(it, MPROC_FOREVER, &v);
        CU_ASSERT_EQUAL(rc, i == 2 ? MPROC_ETIMEDOUT : 0);
        mproc_value_free(v);
    }
    mproc_imap_destroy(it);
    mproc_value_free(in);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_pack("i", 5), NULL, &r),
                    0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 25);
    mproc_value_free(r);
    end_pool(p);
}

static void test_soft_limit(void)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_call_opts_t o = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *r = NULL;
    po.processes = 1;
    po.method = harness_method;
    po.soft_time_limit = 0.2;
    po.time_limit = 20;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &po), 0);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, until_soft, NULL, NULL, &r), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(r), "stopped");
    mproc_value_free(r);
    /* Not yet past it at the start of a call; no limit, never. */
    CU_ASSERT_EQUAL(mproc_pool_apply(p, soft_now, NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 0);
    mproc_value_free(r);
    o.soft_time_limit = 0.05;
    CU_ASSERT_EQUAL(mproc_pool_apply(p, until_soft, NULL, &o, &r), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(r), "stopped");
    mproc_value_free(r);
    /* Outside a task: never. */
    CU_ASSERT_EQUAL(mproc_pool_past_soft_limit(), 0);
    end_pool(p);
}

static void test_maxtasksperchild(void)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_call_opts_t o = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *in = mproc_value_list(), *out = NULL;
    long pids[12];
    int i, k, distinct = 0;
    po.processes = 2;
    po.maxtasksperchild = 2;
    po.method = harness_method;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &po), 0);
    for (i = 0; i < 12; i++)
        mproc_value_append(in, mproc_value_nil());
    o.chunksize = 1;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, whoami, in, &o, &out), 0);
    for (i = 0; i < 12; i++) {
        int uses = 0;
        pids[i] = (long) mproc_value_as_int(
            mproc_value_at(mproc_value_at(out, (size_t) i), 1));
        for (k = 0; k < i; k++)
            uses += pids[k] == pids[i];
        if (uses == 0)
            distinct++;
        /* Each worker ran two tasks at most. */
        CU_ASSERT_TRUE(uses < 2);
    }
    CU_ASSERT_EQUAL(distinct, 6);
    mproc_value_free(out);
    /* A chunk is one task. */
    o.chunksize = 6;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, whoami, in, &o, &out), 0);
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(p);
}

static void test_worker_names(void)
{
    static const char *const prefix[] = {
        "", "SpawnPoolWorker-", "ForkPoolWorker-", "ForkServerPoolWorker-"};
    mproc_pool_t *p = make_pool(3);
    mproc_pool_call_opts_t o = {0};
    mproc_value_t *in = mproc_value_list(), *out = NULL;
    int i;
    for (i = 0; i < 30; i++)
        mproc_value_append(in, mproc_value_nil());
    o.chunksize = 1;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, whoami, in, &o, &out), 0);
    for (i = 0; i < 30; i++) {
        const char *name =
            mproc_value_as_str(mproc_value_at(mproc_value_at(out, i), 0));
        CU_ASSERT_PTR_NOT_NULL_FATAL(name);
        CU_ASSERT_EQUAL(strncmp(name, prefix[harness_method],
                                strlen(prefix[harness_method])),
                        0);
    }
    mproc_value_free(out);
    mproc_value_free(in);
    CU_ASSERT_EQUAL(mproc_pool_processes(p), 3);
    end_pool(p);
}

static void test_initializer(void)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *r = NULL, *args = mproc_pack("i", 42);
    mproc_shared_value_t *n = NULL;
    po.processes = 2;
    po.method = harness_method;
    po.initializer = good_init;
    po.initargs = args;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &po), 0);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, get_initialized, NULL, NULL, &r), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 42);
    mproc_value_free(r);
    end_pool(p);
    mproc_value_free(args);
    /* One that fails: the creating call says so, and nothing is left. */
    po.initializer = bad_init;
    po.initargs = NULL;
    p = NULL;
    CU_ASSERT_EQUAL(mproc_pool_create(&p, &po), MPROC_EINITIALIZER);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "'bad_init'"));
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "no config for"));
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    po.initializer = NULL;
    po.initializer_name = "exiting_init";
    CU_ASSERT_EQUAL(mproc_pool_create(&p, &po), MPROC_EINITIALIZER);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "exit code 5"));
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    po.initializer_name = "no_such_init";
    CU_ASSERT_EQUAL(mproc_pool_create(&p, &po), MPROC_ENOTREG);
    /* One that fails in a replacement: the next call fails, once. */
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&n, 'q', NULL, NULL), 0);
    po.initializer_name = NULL;
    po.initializer = once_init;
    po.initargs = args = mproc_pack("W", n);
    po.processes = 1;
    po.maxtasksperchild = 1;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &po), 0);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_pack("i", 2), NULL, &r),
                    0);
    mproc_value_free(r);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_pack("i", 3), NULL, &r),
                    MPROC_EINITIALIZER);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "only one worker"));
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_pack("i", 4), NULL, &r),
                    MPROC_EINITIALIZER);
    {
        int64_t starts = 0;
        mproc_shared_value_get_int(n, &starts);
        CU_ASSERT_EQUAL(starts, 2); /* no loop of new workers */
    }
    mproc_pool_terminate(p);
    CU_ASSERT_EQUAL(mproc_pool_join(p, MPROC_FOREVER), 0);
    mproc_pool_destroy(p);
    mproc_value_free(args);
    mproc_shared_value_destroy(n);
}

static void test_terminate_with_stuck_workers(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_async_t *r[3];
    const mproc_value_t *v;
    int i;
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL_FATAL(mproc_pool_apply_async(
                                  p, nap, mproc_pack("f", 1000.0), NULL, &r[i]),
                              0);
    /* Both workers are in their calls (or about to be). */
    CU_ASSERT_EQUAL(mproc_async_get(r[0], 0.2, &v), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_pool_terminate(p), 0);
    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL(mproc_async_get(r[i], MPROC_FOREVER, &v),
                        MPROC_ETERMINATED);
        mproc_async_destroy(r[i]);
    }
    CU_ASSERT_EQUAL(mproc_pool_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    CU_ASSERT_EQUAL(mproc_pool_terminate(p), 0);
    mproc_pool_destroy(p);
#if !defined(_WIN32)
    /* A worker that ignores the request to terminate is killed. */
    p = make_pool(1);
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply_async(p, stubborn, NULL, NULL, &r[0]), 0);
    CU_ASSERT_EQUAL(mproc_async_get(r[0], 0.2, &v), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_pool_terminate(p), 0);
    CU_ASSERT_EQUAL(mproc_async_get(r[0], MPROC_FOREVER, &v),
                    MPROC_ETERMINATED);
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    mproc_async_destroy(r[0]);
    mproc_pool_destroy(p);
#endif
}

static void test_destroy_with_work_terminates(void)
{
    mproc_pool_t *p = make_pool(1);
    mproc_async_t *r = NULL;
    const mproc_value_t *v;
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply_async(p, nap, mproc_pack("f", 1000.0), NULL, &r), 0);
    mproc_pool_destroy(p);
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    /* The result outlives its pool. */
    CU_ASSERT_EQUAL(mproc_async_ready(r), 1);
    CU_ASSERT_EQUAL(mproc_async_get(r, MPROC_FOREVER, &v), MPROC_ETERMINATED);
    mproc_async_destroy(r);
}

static void test_states(void)
{
    mproc_pool_t *p = make_pool(1);
    mproc_value_t *r = NULL, *in = range(3);
    mproc_async_t *a = NULL;
    mproc_imap_t *it = NULL;
    CU_ASSERT_EQUAL(mproc_pool_join(p, 0), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_pool_close(p), 0);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_pack("i", 2), NULL, &r),
                    MPROC_ESTATE);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "closed"));
    CU_ASSERT_EQUAL(mproc_pool_map(p, square, in, NULL, &r), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_pool_map_async(p, square, in, NULL, &a),
                    MPROC_ESTATE);
    CU_ASSERT_PTR_NULL(a);
    CU_ASSERT_EQUAL(mproc_pool_imap(p, square, in, NULL, &it), MPROC_ESTATE);
    CU_ASSERT_PTR_NULL(it);
    CU_ASSERT_EQUAL(mproc_pool_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    mproc_pool_destroy(p);
    mproc_value_free(in);
}

static void test_bad_calls(void)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_call_opts_t o = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *r = NULL, *not_list = mproc_value_int(3);
    po.processes = -1;
    CU_ASSERT_EQUAL(mproc_pool_create(&p, &po), MPROC_EINVAL);
    po.processes = 1;
    po.maxtasksperchild = -2;
    CU_ASSERT_EQUAL(mproc_pool_create(&p, &po), MPROC_EINVAL);
    po.maxtasksperchild = 0;
    po.initargs = not_list;
    CU_ASSERT_EQUAL(mproc_pool_create(&p, &po), MPROC_EINVAL);
    p = make_pool(1);
    /* Not a pool target; by name; a name that is none. */
    CU_ASSERT_EQUAL(mproc_pool_apply(p, not_registered, NULL, NULL, &r),
                    MPROC_ENOTREG);
    o.target = "square";
    CU_ASSERT_EQUAL(mproc_pool_apply(p, NULL, mproc_pack("i", 6), &o, &r), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 36);
    mproc_value_free(r);
    o.target = "nothing_here";
    CU_ASSERT_EQUAL(mproc_pool_apply(p, NULL, NULL, &o, &r), MPROC_ENOTREG);
    o.target = "whoami";
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, NULL, &o, &r), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_value_int(1), NULL, &r),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_pool_map(p, square, not_list, NULL, &r),
                    MPROC_EINVAL);
    /* A failed pack is the call's failure, not a call without arguments. */
    CU_ASSERT_EQUAL(
        mproc_pool_apply(p, square, mproc_pack("s", NULL), NULL, &r),
        MPROC_EINVAL);
    /* Values that cannot travel fail their item. */
    CU_ASSERT_EQUAL(mproc_pool_apply(p, unsendable, NULL, NULL, &r),
                    MPROC_ENOTREG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "cannot be sent"));
    CU_ASSERT_EQUAL(
        mproc_pool_apply(
            p, echo, mproc_value_list_of(1, mproc_value_record("nobody", NULL)),
            NULL, &r),
        MPROC_ENOTREG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "cannot be sent"));
    mproc_value_free(not_list);
    end_pool(p);
}

/* A pool's message limit: an argument or a result over it fails alone. */
static void test_message_limit(void)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *r = NULL;
    char buf[20000] = {0};
    po.processes = 1;
    po.method = harness_method;
    po.codec.max_message = 8192;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_create(&p, &po), 0);
    CU_ASSERT_EQUAL(
        mproc_pool_apply(
            p, echo, mproc_value_list_of(1, mproc_value_bytes(buf, sizeof buf)),
            NULL, &r),
        MPROC_ETOOBIG);
    CU_ASSERT_EQUAL(
        mproc_pool_apply(p, big_result, mproc_pack("i", 20000), NULL, &r),
        MPROC_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "cannot be sent"));
    /* Under the limit, both ways. */
    CU_ASSERT_EQUAL(
        mproc_pool_apply(p, big_result, mproc_pack("i", 4000), NULL, &r), 0);
    CU_ASSERT_EQUAL(mproc_value_len(r), 4000);
    mproc_value_free(r);
    end_pool(p);
}

/* Big arguments and results: more than a pipe holds, each way. */
static void test_big_values(void)
{
    mproc_pool_t *p = make_pool(2);
    mproc_value_t *in = mproc_value_list(), *out = NULL;
    mproc_pool_call_opts_t o = {0};
    size_t sizes[] = {1, 300000, 1500000, 10, 700000, 5};
    size_t i, k;
    char *buf = malloc(1500000);
    for (i = 0; i < 1500000; i++)
        buf[i] = (char) (i * 7 + (i >> 9));
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        mproc_value_append(in, mproc_value_bytes(buf, sizes[i]));
    for (o.chunksize = 1; o.chunksize <= 3; o.chunksize += 2) {
        CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, echo, in, &o, &out), 0);
        for (k = 0; k < sizeof sizes / sizeof sizes[0]; k++) {
            size_t len = 0;
            const void *b = mproc_value_as_bytes(mproc_value_at(out, k), &len);
            CU_ASSERT_EQUAL(len, sizes[k]);
            CU_ASSERT_TRUE(b != NULL && memcmp(b, buf, len) == 0);
        }
        mproc_value_free(out);
    }
    free(buf);
    mproc_value_free(in);
    end_pool(p);
}

static void test_many_workers(void)
{
    mproc_pool_t *p = make_pool(70);
    mproc_pool_call_opts_t o = {0};
    mproc_value_t *in = range(700), *out = NULL;
    size_t i;
    o.chunksize = 1;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map(p, square, in, &o, &out), 0);
    for (i = 0; i < 700; i++)
        CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(out, i)),
                        (int64_t) (i * i));
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(p);
}

static void test_several_pools(void)
{
    mproc_pool_t *a = make_pool(2), *b = make_pool(1);
    mproc_value_t *in = range(40), *out = NULL;
    mproc_async_t *ra = NULL, *rb = NULL;
    const mproc_value_t *va, *vb;
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map_async(a, square, in, NULL, &ra), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pool_map_async(b, square, in, NULL, &rb), 0);
    CU_ASSERT_EQUAL(mproc_async_get(rb, MPROC_FOREVER, &vb), 0);
    CU_ASSERT_EQUAL(mproc_async_get(ra, MPROC_FOREVER, &va), 0);
    CU_ASSERT_TRUE(mproc_value_equal(va, vb));
    mproc_async_destroy(ra);
    mproc_async_destroy(rb);
    end_pool(a);
    CU_ASSERT_EQUAL(mproc_pool_map(b, square, in, NULL, &out), 0);
    CU_ASSERT_EQUAL(mproc_value_len(out), 40);
    mproc_value_free(out);
    mproc_value_free(in);
    end_pool(b);
}

/* A child that makes a pool of its own. */
static void child_with_pool(const mproc_value_t *args)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_t *p = NULL;
    mproc_value_t *in = range(20), *out = NULL;
    int method;
    if (mproc_unpack(args, "i", &method) < 0)
        mproc_raise_last();
    po.processes = 2;
    po.method = (mproc_start_method_e) method;
    CHILD_ASSERT(mproc_pool_create(&p, &po) == 0);
    CHILD_ASSERT(mproc_pool_map(p, square, in, NULL, &out) == 0);
    CHILD_ASSERT(mproc_value_as_int(mproc_value_at(out, 19)) == 361);
    mproc_pool_close(p);
    CHILD_ASSERT(mproc_pool_join(p, MPROC_FOREVER) == 0);
    mproc_pool_destroy(p);
    mproc_value_free(in);
    mproc_value_free(out);
}
MPROC_TARGET(child_with_pool)

static void test_pool_in_a_child(void)
{
    int code = -1;
    CU_ASSERT_EQUAL(harness_run("child_with_pool",
                                mproc_pack("i", (int) harness_method), &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
}

#if !defined(_WIN32)
/* A child with a pool that tells its workers' pids, then waits to be killed. */
static void pool_holder(const mproc_value_t *args)
{
    mproc_pool_opts_t po = {0};
    mproc_pool_call_opts_t o = {0};
    mproc_pool_t *p = NULL;
    mproc_conn_t *c;
    mproc_value_t *in = mproc_value_list(), *out = NULL, *pids;
    int method, i;
    if (mproc_unpack(args, "iP", &method, &c) < 0)
        mproc_raise_last();
    po.processes = 2;
    po.method = (mproc_start_method_e) method;
    CHILD_ASSERT(mproc_pool_create(&p, &po) == 0);
    for (i = 0; i < 20; i++)
        mproc_value_append(in, mproc_value_nil());
    o.chunksize = 1;
    CHILD_ASSERT(mproc_pool_map(p, whoami, in, &o, &out) == 0);
    pids = mproc_value_list();
    for (i = 0; i < 20; i++)
        mproc_value_append(pids, mproc_value_copy(mproc_value_at(
                                     mproc_value_at(out, (size_t) i), 1)));
    CHILD_ASSERT(mproc_conn_send(c, pids) == 0);
    for (;;)
        mproc_sleep(1);
}
MPROC_TARGET(pool_holder)

/* Killed with its pool, a process leaves no worker behind. */
static void test_workers_end_with_their_pool(void)
{
    mproc_conn_t *a, *b;
    mproc_process_t *child;
    mproc_value_t *pids = NULL;
    size_t i;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 0, NULL), 0);
    child =
        harness_start("pool_holder", mproc_pack("iP", (int) harness_method, b));
    mproc_conn_close(b);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(a, &pids), 0);
    CU_ASSERT_EQUAL(mproc_process_kill(child), 0);
    harness_join_code(child);
    for (i = 0; i < mproc_value_len(pids); i++)
        CU_ASSERT_TRUE(harness_wait_pid_gone(
            (long) mproc_value_as_int(mproc_value_at(pids, i))));
    mproc_value_free(pids);
    mproc_conn_close(a);
}
#endif

/* The pool of the test process, which a fork child sees in its copy. */
static mproc_pool_t *parents_pool;

static void use_parents_pool(const mproc_value_t *args)
{
    mproc_value_t *r = NULL;
    (void) args;
    CHILD_ASSERT(mproc_pool_apply(parents_pool, square, mproc_pack("i", 3),
                                  NULL, &r) == MPROC_ENOTCHILD);
    CHILD_ASSERT(strstr(mproc_last_error(), "fork child") != NULL);
    CHILD_ASSERT(mproc_pool_terminate(parents_pool) == MPROC_ENOTCHILD);
    /* Its copy goes, and nothing of the parent's with it. */
    mproc_pool_destroy(parents_pool);
}
MPROC_TARGET(use_parents_pool)

/* A fork child cannot use, stop or remove its parent's pool. */
static void test_fork_child_leaves_the_pool_alone(void)
{
    mproc_value_t *r = NULL;
    int code = -1;
    parents_pool = make_pool(2);
    CU_ASSERT_EQUAL(harness_run("use_parents_pool", NULL, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    CU_ASSERT_EQUAL(
        mproc_pool_apply(parents_pool, square, mproc_pack("i", 4), NULL, &r),
        0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 16);
    mproc_value_free(r);
    end_pool(parents_pool);
}

#if !defined(_WIN32)
/*
 * A child of the program's own fork() knows it is not the pool's process,
 * though the process had asked for its id before (the id is kept, and a
 * fork child forgets it).
 */
static void test_plain_fork_child_leaves_the_pool_alone(void)
{
    mproc_pool_t *p = make_pool(1);
    mproc_value_t *r = NULL;
    int status = -1;
    pid_t pid;
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply(p, square, mproc_pack("i", 2), NULL, &r), 0);
    mproc_value_free(r);
    pid = fork();
    if (pid == 0) {
        mproc_value_t *mine = NULL;
        _exit(mproc_pool_apply(p, square, mproc_pack("i", 3), NULL, &mine) ==
                      MPROC_ENOTCHILD
                  ? 0
                  : 1);
    }
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(waitpid(pid, &status, 0), pid);
    CU_ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    /* The parent's own calls go on. */
    CU_ASSERT_EQUAL(mproc_pool_apply(p, square, mproc_pack("i", 4), NULL, &r),
                    0);
    CU_ASSERT_EQUAL(mproc_value_as_int(r), 16);
    mproc_value_free(r);
    end_pool(p);
}
#endif

/* A callback that waits for its own pool would never return. */
typedef struct nested {
    mproc_pool_t *pool;
    int rc;
} nested;

static void wait_from_callback(void *arg, const mproc_value_t *result)
{
    nested *n = arg;
    mproc_value_t *r = NULL, *in = range(2);
    mproc_async_t *a = NULL;
    (void) result;
    n->rc = mproc_pool_map(n->pool, square, in, NULL, &r);
    /* Without waiting it may: a call from a callback. */
    if (mproc_pool_map_async(n->pool, square, in, NULL, &a) == 0)
        mproc_async_destroy(a);
    mproc_value_free(in);
}

static void test_callback_cannot_wait(void)
{
    mproc_pool_t *p = make_pool(1);
    mproc_pool_call_opts_t o = {0};
    mproc_async_t *r = NULL;
    nested n;
    n.pool = p;
    n.rc = 1;
    o.callback = wait_from_callback;
    o.arg = &n;
    CU_ASSERT_EQUAL_FATAL(
        mproc_pool_apply_async(p, square, mproc_pack("i", 2), &o, &r), 0);
    CU_ASSERT_EQUAL(mproc_async_wait(r, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(n.rc, MPROC_EDEADLK);
    mproc_async_destroy(r);
    end_pool(p);
}

/* The handles this process has open: descriptors, or Windows handles. */
static long open_handles(void)
{
#if defined(_WIN32)
    DWORD n = 0;
    GetProcessHandleCount(GetCurrentProcess(), &n);
    return (long) n;
#else
    long n = 0;
    int fd;
    for (fd = 0; fd < 4096; fd++)
        if (fcntl(fd, F_GETFD) != -1)
            n++;
    return n;
#endif
}

/* Makes a pool of one, uses it, and ends it one way or the other. */
static void one_cycle(int i)
{
    mproc_pool_t *p = make_pool(1);
    if (i % 2 == 0) {
        mproc_value_t *r = NULL;
        CU_ASSERT_EQUAL(
            mproc_pool_apply(p, square, mproc_pack("i", i), NULL, &r), 0);
        mproc_value_free(r);
        end_pool(p);
    } else {
        mproc_pool_destroy(p);
    }
}

#if !defined(_WIN32)
/* The blocks of this process's pools in /dev/shm (named after its pid). */
static int pool_blocks(void)
{
    char prefix[32], *names = harness_list_shm(), *at;
    int n = 0;
    snprintf(prefix, sizeof prefix, "mproc-pl%lx-",
             (unsigned long) getpid() & 0xffffffffu);
    for (at = names; at != NULL && (at = strstr(at, prefix)) != NULL; at++)
        n++;
    free(names);
    return n;
}
#endif

/*
 * 1,000 pools made and destroyed leave no descriptor (handle), name or
 * process. On Windows 100: a process start costs about 0.2 s under Wine,
 * where the Windows build is tested, against about 1 ms natively.
 */
static void test_many_pools_leave_nothing(void)
{
#if defined(_WIN32)
    int i, n = 100;
#else
    int i, n = 1000;
#endif
    long before, after;
    /* The first makes what lives on (the tracker, the forkserver). */
    one_cycle(0);
    one_cycle(1);
    before = open_handles();
#if !defined(_WIN32)
    CU_ASSERT_EQUAL(pool_blocks(), 0);
#endif
    for (i = 0; i < n; i++) {
        one_cycle(i);
#if !defined(_WIN32)
        /* Each pool's block goes with it. */
        if (i % 100 == 0)
            CU_ASSERT_EQUAL(pool_blocks(), 0);
#endif
    }
    after = open_handles();
    CU_ASSERT_EQUAL(after, before);
#if !defined(_WIN32)
    CU_ASSERT_EQUAL(pool_blocks(), 0);
#endif
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
}

static const harness_test tests[] = {
    {"map in order", test_map_in_order, 0},
    {"apply and starmap", test_apply_and_starmap, 0},
    {"apply_async and callbacks", test_apply_async_and_callbacks, 0},
    {"async get times out", test_async_get_times_out, 0},
    {"map_async and progress", test_map_async_and_progress, 0},
    {"map fails with the first failure", test_map_fails_with_the_first_failure,
     0},
    {"imap in order", test_imap_in_order, 0},
    {"imap_unordered gives each once", test_imap_unordered_gives_each_once, 0},
    {"imap producer is never drained", test_imap_producer_is_never_drained, 0},
    {"worker killed", test_worker_killed, 0},
    {"worker crashed", test_worker_crashed, 0},
    {"worker exited", test_worker_exited, 0},
    {"time limit", test_time_limit, 0},
    {"soft limit", test_soft_limit, 0},
    {"maxtasksperchild", test_maxtasksperchild, 0},
    {"worker names", test_worker_names, 0},
    {"initializer", test_initializer, 0},
    {"terminate with stuck workers", test_terminate_with_stuck_workers, 0},
    {"destroy with work terminates", test_destroy_with_work_terminates, 0},
    {"states", test_states, 0},
    {"bad calls", test_bad_calls, 0},
    {"big values", test_big_values, 0},
    {"message limit", test_message_limit, 0},
    {"many workers", test_many_workers, 0},
    {"several pools", test_several_pools, 0},
    {"pool in a child", test_pool_in_a_child, 0},
    {"callback cannot wait", test_callback_cannot_wait, 0},
#if !defined(_WIN32)
    {"workers end with their pool", test_workers_end_with_their_pool, 0},
#endif
    {"many pools leave nothing", test_many_pools_leave_nothing, 0},
    {"fork child leaves the pool alone", test_fork_child_leaves_the_pool_alone,
     HARNESS_FORK},
#if !defined(_WIN32)
    {"plain fork child leaves the pool alone",
     test_plain_fork_child_leaves_the_pool_alone, HARNESS_SPAWN},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "pool", tests);
}
