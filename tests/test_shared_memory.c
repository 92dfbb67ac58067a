/*
 * Shared memory: SharedMemory blocks, Values and Arrays, every call and
 * error, shared with children through arguments, a Queue and a Pipe under
 * every start method, their locks, and what stays in /dev/shm.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#ifndef _WIN32
    #ifndef _GNU_SOURCE
        #define _GNU_SOURCE
    #endif
    #include <errno.h>
    #include <poll.h>
    #include <signal.h>
    #include <sys/syscall.h>
    #include <unistd.h>

    #include "os_internal.h"
#endif

/* Enough contention to lose increments if the lock did not hold. */
#define WORKERS 8
#define INCREMENTS 100000

/* ---- SharedMemory ---------------------------------------------------- */

static void test_shm_calls(void)
{
    mproc_shm_t *a, *b, *c;
    char name[32];
    unsigned char *p;

    CU_ASSERT_EQUAL(mproc_shm_create(&a, NULL, 0), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_shm_create(&a, "no-prefix", 8), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_shm_create(&a, "mproc-bad/name", 8), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_shm_attach(&a, NULL), MPROC_EINVAL);
    CU_ASSERT_EQUAL_FATAL(mproc_shm_create(&a, NULL, 1000), 0);
    CU_ASSERT_EQUAL(strncmp(mproc_shm_name(a), "mproc-", 6), 0);
    CU_ASSERT_EQUAL(mproc_shm_size(a), 1000);
    CU_ASSERT_EQUAL(mproc_shm_is_creator(a), 1);
    p = mproc_shm_buf(a);
    CU_ASSERT_EQUAL(((size_t) p) % 64, 0);
    CU_ASSERT_EQUAL(p[0] + p[999], 0); /* zeroed */
    memset(p, 7, 1000);

    /* A given name; the same name again exists. */
    snprintf(name, sizeof name, "mproc-t%s", mproc_shm_name(a) + 10);
    CU_ASSERT_EQUAL_FATAL(mproc_shm_create(&b, name, 16), 0);
    CU_ASSERT_STRING_EQUAL(mproc_shm_name(b), name);
    CU_ASSERT_EQUAL(mproc_shm_create(&c, name, 16), MPROC_EEXIST);

    /* Attaching sees the same bytes and the creator's size. */
    CU_ASSERT_EQUAL_FATAL(mproc_shm_attach(&c, mproc_shm_name(a)), 0);
    CU_ASSERT_EQUAL(mproc_shm_size(c), 1000);
    CU_ASSERT_EQUAL(mproc_shm_is_creator(c), 0);
    CU_ASSERT_EQUAL(((unsigned char *) mproc_shm_buf(c))[999], 7);
    /* Only the creator removes it. */
    CU_ASSERT_EQUAL(mproc_shm_unlink(c), MPROC_ESTATE);
    mproc_shm_close(c);
    CU_ASSERT_EQUAL_FATAL(mproc_shm_attach(&c, mproc_shm_name(a)), 0);
    mproc_shm_close(c);

    CU_ASSERT_EQUAL(mproc_shm_unlink(a), 0);
    CU_ASSERT_EQUAL(mproc_shm_unlink(a), MPROC_ENOTFOUND);
#ifndef _WIN32
    /* Windows frees a mapping with its last handle only. */
    CU_ASSERT_EQUAL(mproc_shm_attach(&c, mproc_shm_name(a)), MPROC_ENOTFOUND);
#endif
    /* The memory lives on in a handle after the name is gone. */
    CU_ASSERT_EQUAL(((unsigned char *) mproc_shm_buf(a))[500], 7);
    mproc_shm_close(a);
    CU_ASSERT_EQUAL(mproc_shm_unlink(b), 0);
    mproc_shm_close(b);
    CU_ASSERT_EQUAL(mproc_shm_attach(&c, "mproc-nosuchblock"), MPROC_ENOTFOUND);
    mproc_shm_close(NULL);
    CU_ASSERT_EQUAL(mproc_shm_unlink(NULL), MPROC_EINVAL);
}

/* args: a block; attaches it, writes its index at its place, exits. */
static void shm_writer(const mproc_value_t *args)
{
    mproc_shm_t *s, *again;
    int i;
    CHILD_ASSERT(mproc_unpack(args, "Mi", &s, &i) == 0);
    CHILD_ASSERT(mproc_shm_is_creator(s) == 0);
    ((unsigned char *) mproc_shm_buf(s))[i] = (unsigned char) (i + 1);
    /* An attach by name of its own, closed: that removes nothing either. */
    CHILD_ASSERT(mproc_shm_attach(&again, mproc_shm_name(s)) == 0);
    CHILD_ASSERT(mproc_shm_unlink(again) == MPROC_ESTATE);
    mproc_shm_close(again);
}
MPROC_TARGET(shm_writer)

static void test_shm_attach_only_never_removes(void)
{
    mproc_shm_t *s, *c;
    mproc_process_t *p[3];
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_shm_create(&s, NULL, 64), 0);
    for (i = 0; i < 3; i++)
        p[i] = harness_start("shm_writer", mproc_pack("Mi", s, i));
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(((unsigned char *) mproc_shm_buf(s))[i], i + 1);
    /* Every child has ended, and the block is still there by name. */
    CU_ASSERT_EQUAL_FATAL(mproc_shm_attach(&c, mproc_shm_name(s)), 0);
    CU_ASSERT_EQUAL(((unsigned char *) mproc_shm_buf(c))[2], 3);
    mproc_shm_close(c);
    CU_ASSERT_EQUAL(mproc_shm_unlink(s), 0);
    mproc_shm_close(s);
}

/* ---- Value ----------------------------------------------------------- */

static void test_value_calls(void)
{
    static const char codes[] = "bBhHiIlLqQfdc";
    mproc_shared_value_t *v;
    mproc_shared_opts_t o = {0};
    mproc_lock_t *lock;
    mproc_rlock_t *rlock;
    int64_t x;
    double d;
    size_t i;

    for (i = 0; codes[i] != '\0'; i++) {
        CU_ASSERT_EQUAL_FATAL(
            mproc_shared_value_create(&v, codes[i], NULL, NULL), 0);
        CU_ASSERT_EQUAL(mproc_shared_value_typecode(v), codes[i]);
        CU_ASSERT_EQUAL(mproc_shared_value_get_int(v, &x), 0);
        CU_ASSERT_EQUAL(x, 0);
        CU_ASSERT_EQUAL(mproc_shared_value_set_int(v, 100), 0);
        CU_ASSERT_EQUAL(mproc_shared_value_get_int(v, &x), 0);
        CU_ASSERT_EQUAL(x, 100);
        CU_ASSERT_EQUAL(mproc_shared_value_get_float(v, &d), 0);
        CU_ASSERT_DOUBLE_EQUAL(d, 100.0, 1e-9);
        if (codes[i] == 'f' || codes[i] == 'd') {
            CU_ASSERT_EQUAL(mproc_shared_value_add(v, 1, NULL), MPROC_ETYPE);
        } else {
            CU_ASSERT_EQUAL(mproc_shared_value_add(v, 5, &x), 0);
            CU_ASSERT_EQUAL(x, 105);
            /* Out of range: nothing changes. */
            CU_ASSERT_EQUAL(mproc_shared_value_set_int(v, -1),
                            strchr("BHILQc", codes[i]) ? MPROC_ERANGE : 0);
            CU_ASSERT_EQUAL(mproc_shared_value_set_float(v, 1e30),
                            MPROC_ERANGE);
        }
        mproc_shared_value_destroy(v);
    }

    /* The bounds of a small type, and the raw bytes. */
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'b', NULL, NULL), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_set_int(v, 127), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_set_int(v, 128), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_shared_value_set_int(v, -129), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_shared_value_get_int(v, &x), 0);
    CU_ASSERT_EQUAL(x, 127);
    /* The sum wraps, as C's arithmetic does. */
    CU_ASSERT_EQUAL(mproc_shared_value_add(v, 1, &x), 0);
    CU_ASSERT_EQUAL(x, -128);
    mproc_shared_value_destroy(v);
    {
        double init = 2.5, got = 0;
        CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'd', &init, NULL),
                              0);
        CU_ASSERT_EQUAL(mproc_shared_value_read(v, &got), 0);
        CU_ASSERT_DOUBLE_EQUAL(got, 2.5, 0);
        init = -1.25;
        CU_ASSERT_EQUAL(mproc_shared_value_write(v, &init), 0);
        CU_ASSERT_DOUBLE_EQUAL(*(double *) mproc_shared_value_ptr(v), -1.25, 0);
        CU_ASSERT_EQUAL(mproc_shared_value_get_int(v, &x), 0);
        CU_ASSERT_EQUAL(x, -1);
        CU_ASSERT_EQUAL(mproc_shared_value_read(v, NULL), MPROC_EINVAL);
        mproc_shared_value_destroy(v);
    }
    {
        unsigned long long big = 18446744073709551615ull, got = 0;
        CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'Q', &big, NULL),
                              0);
        CU_ASSERT_EQUAL(mproc_shared_value_get_int(v, &x), MPROC_ERANGE);
        CU_ASSERT_EQUAL(mproc_shared_value_read(v, &got), 0);
        CU_ASSERT(got == big);
        mproc_shared_value_destroy(v);
    }

    /* Errors of creation. */
    CU_ASSERT_EQUAL(mproc_shared_value_create(&v, 'z', NULL, NULL),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&lock, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&rlock, NULL), 0);
    o.lock = lock;
    o.rlock = rlock;
    CU_ASSERT_EQUAL(mproc_shared_value_create(&v, 'i', NULL, &o), MPROC_EINVAL);
    o.rlock = NULL;
    o.no_lock = 1;
    CU_ASSERT_EQUAL(mproc_shared_value_create(&v, 'i', NULL, &o), MPROC_EINVAL);

    /* No lock: acquire says so; add is still one atomic step. */
    o.lock = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'h', NULL, &o), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_acquire(v, 0), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_shared_value_release(v), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_shared_value_add(v, -3, &x), 0);
    CU_ASSERT_EQUAL(x, -3);
    mproc_shared_value_destroy(v);

    /* The default lock is an RLock: held, the calls still go through. */
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'i', NULL, NULL), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_acquire(v, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_acquire(v, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_set_int(v, 9), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_release(v), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_release(v), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_release(v), MPROC_ENOTHELD);
    mproc_shared_value_destroy(v);

    /* The caller's Lock guards it. */
    o.no_lock = 0;
    o.lock = lock;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'i', NULL, &o), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_acquire(v, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_lock_locked(lock), 1);
    CU_ASSERT_EQUAL(mproc_shared_value_release(v), 0);
    CU_ASSERT_EQUAL(mproc_lock_locked(lock), 0);
    mproc_shared_value_destroy(v);
    mproc_shared_value_destroy(NULL);
    mproc_lock_destroy(lock);
    mproc_rlock_destroy(rlock);
}

/* ---- Array ----------------------------------------------------------- */

static void test_array_calls(void)
{
    mproc_shared_array_t *a;
    int init[5] = {1, 2, 3, 4, 5}, out[5] = {0}, two[2] = {-7, -8};
    int64_t x;
    double d;
    char buf[16];

    CU_ASSERT_EQUAL(mproc_shared_array_create(&a, 'i', 0, NULL, NULL),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_shared_array_create(&a, '?', 3, NULL, NULL),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL_FATAL(mproc_shared_array_create(&a, 'i', 5, init, NULL), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_len(a), 5);
    CU_ASSERT_EQUAL(mproc_shared_array_typecode(a), 'i');
    CU_ASSERT_EQUAL(mproc_shared_array_itemsize(a), sizeof(int));
    CU_ASSERT_EQUAL(mproc_shared_array_get_int(a, 4, &x), 0);
    CU_ASSERT_EQUAL(x, 5);
    CU_ASSERT_EQUAL(mproc_shared_array_get_int(a, 5, &x), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_shared_array_set_int(a, 5, 1), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_shared_array_set_float(a, 0, 9.9), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_get_float(a, 0, &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 9.0, 0);
    CU_ASSERT_EQUAL(mproc_shared_array_add(a, 1, 10, &x), 0);
    CU_ASSERT_EQUAL(x, 12);
    CU_ASSERT_EQUAL(mproc_shared_array_write(a, 3, two, 2), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_write(a, 4, two, 2), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_shared_array_read(a, 0, 6, out), MPROC_ERANGE);
    CU_ASSERT_EQUAL(out[0], 0); /* nothing copied */
    CU_ASSERT_EQUAL(mproc_shared_array_read(a, 0, 5, out), 0);
    CU_ASSERT_EQUAL(out[0], 9);
    CU_ASSERT_EQUAL(out[1], 12);
    CU_ASSERT_EQUAL(out[2], 3);
    CU_ASSERT_EQUAL(out[3], -7);
    CU_ASSERT_EQUAL(out[4], -8);
    CU_ASSERT_EQUAL(((int *) mproc_shared_array_ptr(a))[3], -7);
    CU_ASSERT_EQUAL(mproc_shared_array_set_str(a, "x"), MPROC_ETYPE);
    mproc_shared_array_destroy(a);

    /* A char array as a string buffer. */
    CU_ASSERT_EQUAL_FATAL(mproc_shared_array_create(&a, 'c', 8, NULL, NULL), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_set_str(a, "hello"), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_get_str(a, buf, sizeof buf), 5);
    CU_ASSERT_STRING_EQUAL(buf, "hello");
    CU_ASSERT_EQUAL(mproc_shared_array_set_str(a, "hi"), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_get_str(a, buf, sizeof buf), 2);
    CU_ASSERT_STRING_EQUAL(buf, "hi");
    CU_ASSERT_EQUAL(mproc_shared_array_set_str(a, "12345678"), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_get_str(a, buf, sizeof buf), 8);
    CU_ASSERT_EQUAL(mproc_shared_array_set_str(a, "123456789"), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_shared_array_get_str(a, buf, 8), MPROC_ETOOSHORT);
    mproc_shared_array_destroy(a);
}

/* ---- sharing ----------------------------------------------------------- */

/* Negates the array, sets the value and the block's first byte. */
static void touch_all(mproc_shared_value_t *v, mproc_shared_array_t *a,
                      mproc_shm_t *s)
{
    size_t i;
    int64_t x;
    CHILD_ASSERT(mproc_shared_value_set_float(v, 3.1415927) == 0);
    for (i = 0; i < mproc_shared_array_len(a); i++) {
        CHILD_ASSERT(mproc_shared_array_get_int(a, i, &x) == 0);
        CHILD_ASSERT(mproc_shared_array_set_int(a, i, -x) == 0);
    }
    ((unsigned char *) mproc_shm_buf(s))[0] = 42;
}

/* args: "WAM" | "Q" (the three come in one item) | "P" (likewise). */
static void sharer(const mproc_value_t *args)
{
    mproc_shared_value_t *v;
    mproc_shared_array_t *a;
    mproc_shm_t *s;
    const char *how;
    mproc_value_t *item = NULL;
    CHILD_ASSERT(mproc_value_len(args) == 2);
    how = mproc_value_as_str(mproc_value_at(args, 0));
    if (strcmp(how, "args") == 0) {
        CHILD_ASSERT(mproc_unpack(mproc_value_at(args, 1), "WAM", &v, &a, &s) ==
                     0);
    } else if (strcmp(how, "queue") == 0) {
        mproc_queue_t *q;
        CHILD_ASSERT(mproc_unpack(args, "sQ", NULL, &q) == 0);
        CHILD_ASSERT(mproc_queue_get(q, &item, 30) == 0);
        CHILD_ASSERT(mproc_unpack(item, "WAM", &v, &a, &s) == 0);
    } else {
        mproc_conn_t *c;
        CHILD_ASSERT(mproc_unpack(args, "sP", NULL, &c) == 0);
        CHILD_ASSERT(mproc_conn_recv(c, &item) == 0);
        CHILD_ASSERT(mproc_unpack(item, "WAM", &v, &a, &s) == 0);
    }
    touch_all(v, a, s);
    mproc_value_free(item);
}
MPROC_TARGET(sharer)

static void share_by(const char *how)
{
    mproc_shared_value_t *v;
    mproc_shared_array_t *a;
    mproc_shm_t *s;
    mproc_queue_t *q = NULL;
    mproc_conn_t *r = NULL, *w = NULL;
    mproc_process_t *p;
    mproc_value_t *three, *args;
    int init[10], out[10], i;
    double d = 0;

    for (i = 0; i < 10; i++)
        init[i] = i;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'd', NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_shared_array_create(&a, 'i', 10, init, NULL),
                          0);
    CU_ASSERT_EQUAL_FATAL(mproc_shm_create(&s, NULL, 100), 0);
    three = mproc_pack("WAM", v, a, s);
    CU_ASSERT_PTR_NOT_NULL_FATAL(three);
    if (strcmp(how, "args") == 0) {
        args = mproc_pack("sV", how, three);
    } else if (strcmp(how, "queue") == 0) {
        CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_queue_put(q, three, MPROC_FOREVER), 0);
        args = mproc_pack("sQ", how, q);
    } else {
        CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
        args = mproc_pack("sP", how, r);
    }
    p = harness_start("sharer", args);
    if (w != NULL)
        CU_ASSERT_EQUAL(mproc_conn_send(w, three), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_get_float(v, &d), 0);
    CU_ASSERT_DOUBLE_EQUAL(d, 3.1415927, 1e-12);
    CU_ASSERT_EQUAL(mproc_shared_array_read(a, 0, 10, out), 0);
    for (i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(out[i], -i);
    CU_ASSERT_EQUAL(((unsigned char *) mproc_shm_buf(s))[0], 42);
    mproc_value_free(three);
    mproc_queue_destroy(q);
    mproc_conn_close(r);
    mproc_conn_close(w);
    mproc_shared_value_destroy(v);
    mproc_shared_array_destroy(a);
    CU_ASSERT_EQUAL(mproc_shm_unlink(s), 0);
    mproc_shm_close(s);
}

static void test_share_through_args(void)
{
    share_by("args");
}

static void test_share_through_queue(void)
{
    share_by("queue");
}

static void test_share_through_pipe(void)
{
    share_by("pipe");
}

/* ---- locks -------------------------------------------------------------- */

/* args: a Value whose lock the parent holds; a try must time out. */
static void lock_prober(const mproc_value_t *args)
{
    mproc_shared_value_t *v;
    CHILD_ASSERT(mproc_unpack(args, "W", &v) == 0);
    CHILD_ASSERT(mproc_shared_value_acquire(v, 0) == MPROC_ETIMEDOUT);
}
MPROC_TARGET(lock_prober)

/* args: an Array whose lock the parent holds; a try must time out. */
static void array_lock_prober(const mproc_value_t *args)
{
    mproc_shared_array_t *a;
    CHILD_ASSERT(mproc_unpack(args, "A", &a) == 0);
    CHILD_ASSERT(mproc_shared_array_acquire(a, 0) == MPROC_ETIMEDOUT);
    /* The data is there all the same, without the lock. */
    CHILD_ASSERT(((unsigned char *) mproc_shared_array_ptr(a))[0] == 255);
}
MPROC_TARGET(array_lock_prober)

static void test_lock_excludes_other_processes(void)
{
    mproc_shared_value_t *v, *w;
    mproc_shared_opts_t o = {0};
    mproc_lock_t *lock;
    /* Its own RLock, and the caller's Lock. */
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'i', NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&lock, NULL), 0);
    o.lock = lock;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&w, 'i', NULL, &o), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_acquire(v, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(lock, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start("lock_prober", mproc_pack("W", v))), 0);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start("lock_prober", mproc_pack("W", w))), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_release(v), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(lock), 0);
    mproc_shared_value_destroy(v);
    mproc_shared_value_destroy(w);
    mproc_lock_destroy(lock);
}

static void test_caller_rlock_reaches_child(void)
{
    mproc_shared_array_t *a;
    mproc_shared_opts_t o = {0};
    mproc_rlock_t *rlock;
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&rlock, NULL), 0);
    o.rlock = rlock;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_array_create(&a, 'B', 4, NULL, &o), 0);
    /* Held through the caller's own handle, twice: the child must wait. */
    CU_ASSERT_EQUAL(mproc_rlock_acquire(rlock, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_acquire(a, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_shared_array_set_int(a, 0, 255), 0);
    CU_ASSERT_EQUAL(harness_join_code(
                        harness_start("array_lock_prober", mproc_pack("A", a))),
                    0);
    CU_ASSERT_EQUAL(mproc_shared_array_release(a), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(rlock), 0);
    CU_ASSERT_EQUAL(mproc_rlock_locked(rlock), 0);
    mproc_shared_array_destroy(a);
    mproc_rlock_destroy(rlock);
}

static void test_fork_only_lock_has_no_reference(void)
{
    mproc_sync_opts_t fo = {.fork_only = 1};
    mproc_shared_opts_t o = {0};
    mproc_shared_value_t *v;
    mproc_value_t *ref = NULL;
    mproc_lock_t *lock;
    int rc = mproc_lock_create(&lock, &fo);
    if (rc == MPROC_ENOTSUP)
        return; /* no fork here: there is no fork-only lock to give */
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    o.lock = lock;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'i', NULL, &o), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_export(v, &ref), MPROC_EFORKONLY);
    CU_ASSERT_PTR_NULL(ref);
    CU_ASSERT_PTR_NULL(mproc_pack("W", v));
    mproc_shared_value_destroy(v);
    mproc_lock_destroy(lock);
}

/*
 * args: a locked Value, a lock-free one and an Array; increments each
 * INCREMENTS times: the first as a read and a write under the lock (which
 * loses counts if the lock does not exclude), the second with the atomic
 * add, the Array's element 1 with the locked add.
 */
static void incrementer(const mproc_value_t *args)
{
    mproc_shared_value_t *v, *free_v;
    mproc_shared_array_t *a;
    int64_t x;
    int i;
    CHILD_ASSERT(mproc_unpack(args, "WWA", &v, &free_v, &a) == 0);
    for (i = 0; i < INCREMENTS; i++) {
        CHILD_ASSERT(mproc_shared_value_acquire(v, MPROC_FOREVER) == 0);
        CHILD_ASSERT(mproc_shared_value_get_int(v, &x) == 0);
        CHILD_ASSERT(mproc_shared_value_set_int(v, x + 1) == 0);
        CHILD_ASSERT(mproc_shared_value_release(v) == 0);
        CHILD_ASSERT(mproc_shared_value_add(free_v, 1, NULL) == 0);
        CHILD_ASSERT(mproc_shared_array_add(a, 1, 1, NULL) == 0);
    }
}
MPROC_TARGET(incrementer)

static void test_contended_increments_lose_nothing(void)
{
    mproc_shared_value_t *v, *free_v;
    mproc_shared_array_t *a;
    mproc_shared_opts_t none = {.no_lock = 1};
    mproc_process_t *p[WORKERS];
    int64_t x;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'q', NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&free_v, 'i', NULL, &none),
                          0);
    CU_ASSERT_EQUAL_FATAL(mproc_shared_array_create(&a, 'l', 3, NULL, NULL), 0);
    for (i = 0; i < WORKERS; i++)
        p[i] = harness_start("incrementer", mproc_pack("WWA", v, free_v, a));
    for (i = 0; i < WORKERS; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    CU_ASSERT_EQUAL(mproc_shared_value_get_int(v, &x), 0);
    CU_ASSERT_EQUAL(x, (int64_t) WORKERS * INCREMENTS);
    CU_ASSERT_EQUAL(mproc_shared_value_get_int(free_v, &x), 0);
    CU_ASSERT_EQUAL(x, (int64_t) WORKERS * INCREMENTS);
    CU_ASSERT_EQUAL(mproc_shared_array_get_int(a, 1, &x), 0);
    CU_ASSERT_EQUAL(x, (int64_t) WORKERS * INCREMENTS);
    CU_ASSERT_EQUAL(mproc_shared_array_get_int(a, 0, &x), 0);
    CU_ASSERT_EQUAL(x, 0);
    mproc_shared_value_destroy(v);
    mproc_shared_value_destroy(free_v);
    mproc_shared_array_destroy(a);
}

static void test_fork_only(void)
{
    mproc_shared_value_t *v;
    mproc_shared_opts_t o = {.fork_only = 1};
    int rc = mproc_shared_value_create(&v, 'i', NULL, &o);
#ifdef _WIN32
    CU_ASSERT_EQUAL(rc, MPROC_ENOTSUP);
#else
    mproc_value_t *ref = NULL;
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_EQUAL(mproc_shared_value_export(v, &ref), MPROC_EFORKONLY);
    CU_ASSERT_PTR_NULL(ref);
    CU_ASSERT_EQUAL(mproc_shared_value_add(v, 2, NULL), 0);
    mproc_shared_value_destroy(v);
#endif
}

/* ---- what stays in /dev/shm (Unix) ----------------------------------- */

#ifndef _WIN32
/* The tree says "ready" through fork-only memory, the test says "go". */
static mproc_event_t *g_ready, *g_go;

/* args: a block, a Value, an Array, event: attaches, says so, waits. */
static void tree_grandchild(const mproc_value_t *args)
{
    mproc_shm_t *s;
    mproc_shared_value_t *v;
    mproc_shared_array_t *a;
    mproc_event_t *e;
    if (mproc_unpack(args, "MWAE", &s, &v, &a, &e) != 0)
        mproc_exit(2);
    mproc_event_set(e);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(tree_grandchild)

/*
 * args: path, kill: creates a block, a Value and an Array, has a spawned
 * grandchild attach them, writes "grandchild_pid tracker_pid" to the path
 * and sets the parent's event; then waits to be killed, or with kill 0
 * lets the grandchild end and exits without unlinking anything.
 */
static void tree_root(const mproc_value_t *args)
{
    mproc_shm_t *s;
    mproc_shared_value_t *v;
    mproc_shared_array_t *a;
    mproc_event_t *e;
    mproc_process_t *g;
    const char *path;
    int kill_me;
    FILE *f;
    if (mproc_unpack(args, "si", &path, &kill_me) != 0 ||
        mproc_shm_create(&s, NULL, 4096) != 0 ||
        mproc_shared_value_create(&v, 'd', NULL, NULL) != 0 ||
        mproc_shared_array_create(&a, 'i', 100, NULL, NULL) != 0 ||
        mproc_event_create(&e, NULL) != 0)
        mproc_exit(3);
    {
        mproc_process_opts_t o = {.target = "tree_grandchild",
                                  .method = MPROC_START_SPAWN};
        o.args = mproc_pack("MWAE", s, v, a, e);
        if (mproc_process_create(&g, &o) != 0 || mproc_process_start(g) != 0)
            mproc_exit(4);
        mproc_value_free((mproc_value_t *) o.args);
    }
    if (mproc_event_wait(e, 15) != 0)
        mproc_exit(5);
    f = fopen(path, "w");
    fprintf(f, "%ld %ld\n", mproc_process_pid(g), mproc__unix_tracker_pid());
    fclose(f);
    mproc_event_set(g_ready);
    if (!kill_me) {
        if (mproc_event_wait(g_go, 30) != 0)
            mproc_exit(6);
        mproc_process_kill(g);
        mproc_process_join(g, MPROC_FOREVER);
        mproc_exit(0);
    }
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(tree_root)

/* Runs tree_root, killed or not, and judges only the names it made. */
static void tree_leaves_nothing(int kill_it)
{
    mproc_sync_opts_t fo = {.fork_only = 1};
    mproc_process_opts_t po = {.target = "tree_root",
                               .method = MPROC_START_FORK};
    mproc_process_t *root;
    char *path = harness_temp_path("tree"), *text;
    char *before = harness_list_shm(), *during, *after;
    long grandchild = 0, tracker = 0;
    int code = -1;

    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&g_ready, &fo), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&g_go, &fo), 0);
    po.args = mproc_pack("si", path, kill_it);
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&root, &po), 0);
    mproc_value_free((mproc_value_t *) po.args);
    CU_ASSERT_EQUAL_FATAL(mproc_process_start(root), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_wait(g_ready, 15), 0);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(sscanf(text, "%ld %ld", &grandchild, &tracker), 2);
    /*
     * The names the tree uses, as its two processes map them: other
     * programs on the machine make and keep names of their own meanwhile.
     */
    during = harness_list_shm_mapped(mproc_process_pid(root));
    CU_ASSERT_PTR_NOT_NULL_FATAL(during);
    {
        char *g = harness_list_shm_mapped(grandchild);
        char *both;
        CU_ASSERT_PTR_NOT_NULL_FATAL(g);
        both = malloc(strlen(during) + strlen(g) + 1);
        CU_ASSERT_PTR_NOT_NULL_FATAL(both);
        strcpy(both, during);
        strcat(both, g);
        free(during);
        free(g);
        during = both;
    }
    /* The block, the Value, the Array and their RLocks at least. */
    CU_ASSERT(harness_count_new_names(before, during, NULL) >= 5);
    if (kill_it) {
        kill((pid_t) grandchild, SIGKILL);
        CU_ASSERT_EQUAL(mproc_process_kill(root), 0);
    } else {
        CU_ASSERT_EQUAL(mproc_event_set(g_go), 0);
    }
    CU_ASSERT_EQUAL(mproc_process_join(root, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(root, &code), 0);
    CU_ASSERT_EQUAL(code, kill_it ? -9 : 0);
    CU_ASSERT_TRUE(harness_wait_pid_gone(grandchild));
    CU_ASSERT(tracker > 0);
    CU_ASSERT_TRUE(harness_wait_pid_gone(tracker));
    after = harness_list_shm();
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    CU_ASSERT_EQUAL(harness_count_new_names(before, during, after), 0);
    free(before);
    free(during);
    free(after);
    free(text);
    mproc_process_destroy(root);
    mproc_event_destroy(g_ready);
    mproc_event_destroy(g_go);
    remove(path);
    free(path);
}

static void test_killed_tree_leaves_nothing(void)
{
    tree_leaves_nothing(1);
}

static void test_normal_exit_leaves_nothing(void)
{
    tree_leaves_nothing(0);
}
#endif

static const harness_test tests[] = {
    {"shm calls", test_shm_calls, 0},
    {"shm attach only never removes", test_shm_attach_only_never_removes, 0},
    {"value calls", test_value_calls, 0},
    {"array calls", test_array_calls, 0},
    {"share through args", test_share_through_args, 0},
    {"share through queue", test_share_through_queue, 0},
    {"share through pipe", test_share_through_pipe, 0},
    {"lock excludes other processes", test_lock_excludes_other_processes, 0},
    {"caller rlock reaches child", test_caller_rlock_reaches_child, 0},
    {"fork only lock has no reference", test_fork_only_lock_has_no_reference,
     0},
    {"contended increments lose nothing",
     test_contended_increments_lose_nothing, 0},
    {"fork only", test_fork_only, 0},
#if !defined(_WIN32)
    {"killed tree leaves nothing", test_killed_tree_leaves_nothing,
     HARNESS_FORK},
    {"normal exit leaves nothing", test_normal_exit_leaves_nothing,
     HARNESS_FORK},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "shared_memory", tests);
}
