/*
 * Locks, semaphores, events, conditions and barriers under each start
 * method: their semantics, their errors, their reopening in a child, and
 * the recovery of a lock whose holder was killed.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mproc_private.h"

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <pthread.h>
    #include <sys/mman.h>
    #include <sys/stat.h>
#endif

/* ---- helpers --------------------------------------------------------- */

#define IMPORT_ARG(kind, var, i)                                               \
    if (mproc_##kind##_import(&(var), mproc_value_at(args, (i))) != 0)         \
        mproc_exit(100 + (i));

/*
 * Waits for an event a child sets. Bounded, so that a child that failed
 * before setting it fails the test (through its exit code) instead of
 * hanging it; no healthy child takes near that long.
 */
static int wait_for_child(mproc_event_t *e)
{
    return mproc_event_wait(e, 15);
}

static mproc_value_t *ref_lock(mproc_lock_t *l)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_lock_export(l, &v), 0);
    return v;
}

static mproc_value_t *ref_rlock(mproc_rlock_t *l)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_rlock_export(l, &v), 0);
    return v;
}

static mproc_value_t *ref_event(mproc_event_t *e)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_event_export(e, &v), 0);
    return v;
}

static mproc_value_t *ref_sem(mproc_sem_t *s)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_sem_export(s, &v), 0);
    return v;
}

/* ---- Lock ------------------------------------------------------------ */

static void test_lock_in_one_process(void)
{
    mproc_lock_t *l;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), MPROC_ENOTHELD);
    CU_ASSERT_EQUAL(mproc_lock_locked(l), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_locked(l), 1);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0.02), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_EDEADLK);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(mproc_lock_locked(l), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), MPROC_ENOTHELD);
    /* Still usable after every error. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    {
        int inside = 0, rc = -1;
        CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
        MPROC_WITH_LOCK(l, rc) {
            inside = mproc_lock_acquire(l, 0) == MPROC_ETIMEDOUT;
        }
        CU_ASSERT_EQUAL(rc, 0);
        CU_ASSERT_TRUE(inside);
        CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
        CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    }
    mproc_lock_destroy(l);
}

/* args: lock (held by the parent), event "tried". */
static void lock_contender(const mproc_value_t *args)
{
    mproc_lock_t *l;
    mproc_event_t *tried;
    IMPORT_ARG(lock, l, 0);
    IMPORT_ARG(event, tried, 1);
    /* Held by the parent: locked, and asking does not take it. */
    CHILD_ASSERT(mproc_lock_locked(l) == 1);
    CHILD_ASSERT(mproc_lock_acquire(l, 0) == MPROC_ETIMEDOUT);
    CHILD_ASSERT(mproc_lock_release(l) == MPROC_ENOTOWNER);
    {
        /* A sleeping waiter is woken by its deadline (give or take a clock
         * tick). */
        double t0 = mproc_monotonic();
        CHILD_ASSERT(mproc_lock_acquire(l, 0.05) == MPROC_ETIMEDOUT);
        CHILD_ASSERT(mproc_monotonic() - t0 >= 0.045);
    }
    mproc_event_set(tried);
    CHILD_ASSERT(mproc_lock_acquire(l, MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_lock_release(l) == 0);
    mproc_lock_destroy(l);
    mproc_event_destroy(tried);
}
MPROC_TARGET(lock_contender)

static void test_lock_across_processes(void)
{
    mproc_lock_t *l;
    mproc_event_t *tried;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&tried, NULL), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    p = harness_start("lock_contender",
                      mproc_value_list_of(2, ref_lock(l), ref_event(tried)));
    CU_ASSERT_EQUAL(wait_for_child(tried), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_lock_destroy(l);
    mproc_event_destroy(tried);
}

/* args: lock or rlock ref, event "holding": takes it and never lets go. */
static void die_holding(const mproc_value_t *args)
{
    mproc_event_t *holding;
    IMPORT_ARG(event, holding, 1);
    if (mproc_value_ref_kind(mproc_value_at(args, 0)) == MPROC_REF_LOCK) {
        mproc_lock_t *l;
        IMPORT_ARG(lock, l, 0);
        CHILD_ASSERT(mproc_lock_acquire(l, MPROC_FOREVER) == 0);
    } else {
        mproc_rlock_t *r;
        IMPORT_ARG(rlock, r, 0);
        CHILD_ASSERT(mproc_rlock_acquire(r, MPROC_FOREVER) == 0);
        CHILD_ASSERT(mproc_rlock_acquire(r, MPROC_FOREVER) == 0);
    }
    mproc_event_set(holding);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(die_holding)

static void test_lock_of_a_killed_holder_is_recovered(void)
{
    mproc_lock_t *l;
    mproc_rlock_t *r;
    mproc_event_t *holding;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&holding, NULL), 0);

    p = harness_start("die_holding",
                      mproc_value_list_of(2, ref_lock(l), ref_event(holding)));
    CU_ASSERT_EQUAL(wait_for_child(holding), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_process_kill(p), 0);
    CU_ASSERT_NOT_EQUAL(harness_join_code(p), 0);
#if !defined(_WIN32)
    /*
     * A dead holder holds nothing, and asking does not use up the news
     * for the next holder (Windows consumes an abandonment on any wait).
     */
    CU_ASSERT_EQUAL(mproc_lock_release(l), MPROC_ENOTHELD);
#endif
    /* Python would hang here forever. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);

    mproc_event_clear(holding);
    p = harness_start("die_holding",
                      mproc_value_list_of(2, ref_rlock(r), ref_event(holding)));
    CU_ASSERT_EQUAL(wait_for_child(holding), 0);
    CU_ASSERT_EQUAL(mproc_process_terminate(p), 0);
    CU_ASSERT_NOT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_rlock_acquire(r, 5), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), MPROC_ENOTHELD);

    mproc_lock_destroy(l);
    mproc_rlock_destroy(r);
    mproc_event_destroy(holding);
}

/* args: lock ref, rlock ref: takes both and returns without releasing. */
static void return_holding(const mproc_value_t *args)
{
    mproc_lock_t *l;
    mproc_rlock_t *r;
    IMPORT_ARG(lock, l, 0);
    IMPORT_ARG(rlock, r, 1);
    CHILD_ASSERT(mproc_lock_acquire(l, MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_rlock_acquire(r, MPROC_FOREVER) == 0);
    /* mproc closes both handles on the way out; the locks stay held. */
}
MPROC_TARGET(return_holding)

/* A child that returns (exit code 0) holding locks is a dead holder too. */
static void test_lock_of_a_child_that_returned_is_recovered(void)
{
    mproc_lock_t *l;
    mproc_rlock_t *r;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "return_holding",
                        mproc_value_list_of(2, ref_lock(l), ref_rlock(r)))),
                    0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 5), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(mproc_rlock_acquire(r, 5), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), 0);
    mproc_lock_destroy(l);
    mproc_rlock_destroy(r);
}

#if !defined(_WIN32)
/*
 * A Lock on Linux takes one of two paths (glibc's robust list, or a robust
 * pthread mutex) and records it in its shared slot. A spawned child whose
 * own locks would take the other path (MPROC_LOCK_FALLBACK flipped in its
 * environment) must still use this lock on its recorded path: it takes the
 * lock and is killed holding it, and the parent must find it held, then
 * dead-held.
 */
static void test_lock_keeps_its_path_in_a_child_that_prefers_another(void)
{
    const char *was = getenv("MPROC_LOCK_FALLBACK");
    char *saved = was != NULL ? strdup(was) : NULL;
    int forced = was != NULL && was[0] != '\0' && strcmp(was, "0") != 0;
    mproc_lock_t *l;
    mproc_event_t *holding;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&holding, NULL), 0);
    setenv("MPROC_LOCK_FALLBACK", forced ? "0" : "1", 1);
    p = harness_start("die_holding",
                      mproc_value_list_of(2, ref_lock(l), ref_event(holding)));
    if (saved != NULL)
        setenv("MPROC_LOCK_FALLBACK", saved, 1);
    else
        unsetenv("MPROC_LOCK_FALLBACK");
    free(saved);
    CU_ASSERT_EQUAL(wait_for_child(holding), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_process_kill(p), 0);
    CU_ASSERT_NOT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 5), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_lock_destroy(l);
    mproc_event_destroy(holding);
}
#endif

/*
 * args: lock refs A and C. Takes A, destroys that handle while holding it
 * (a second handle keeps A's name open), takes C and returns. Both must be
 * found dead-held afterwards, which needs A's memory to have stayed where
 * the kernel looks for it at exit, and the list beyond it intact.
 */
static void destroy_holding(const mproc_value_t *args)
{
    mproc_lock_t *a, *a2, *c;
    IMPORT_ARG(lock, a, 0);
    IMPORT_ARG(lock, a2, 0);
    IMPORT_ARG(lock, c, 1);
    CHILD_ASSERT(mproc_lock_acquire(a, MPROC_FOREVER) == 0);
    mproc_lock_destroy(a);
    CHILD_ASSERT(mproc_lock_acquire(c, MPROC_FOREVER) == 0);
    (void) a2; /* closed on the way out */
}
MPROC_TARGET(destroy_holding)

static void test_lock_destroyed_while_held_is_recovered(void)
{
    mproc_lock_t *a, *c;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&a, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&c, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "destroy_holding",
                        mproc_value_list_of(2, ref_lock(a), ref_lock(c)))),
                    0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(a, 5), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(a), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(c, 5), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(c), 0);
    mproc_lock_destroy(a);
    mproc_lock_destroy(c);
}

#if !defined(_WIN32)
/*
 * Destroying a handle does not release the lock (as closing a Windows
 * mutex handle does not): it stays held, and its memory stays mapped, for
 * the kernel finds it there when the holder exits.
 */
static void test_lock_destroyed_while_held_stays_held(void)
{
    mproc_lock_t *a, *a2, *b;
    mproc_value_t *ref;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&a, NULL), 0);
    ref = ref_lock(a);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_import(&a2, ref), 0);
    mproc_value_free(ref);
    CU_ASSERT_EQUAL(mproc_lock_acquire(a, MPROC_FOREVER), 0);
    mproc_lock_destroy(a);
    /* Another lock still goes on and off the thread's list. */
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&b, NULL), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(b, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(b), 0);
    mproc_lock_destroy(b);
    /* Still ours, through the other handle. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(a2, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_lock_release(a2), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(a2, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(a2), 0);
    mproc_lock_destroy(a2);
}
#endif

/* Takes @arg (a Lock) and ends the thread without releasing it. */
#if defined(_WIN32)
static DWORD WINAPI take_and_exit(void *arg)
{
    return (DWORD) mproc_lock_acquire(arg, MPROC_FOREVER);
}
#else
static void *take_and_exit(void *arg)
{
    return (void *) (intptr_t) mproc_lock_acquire(arg, MPROC_FOREVER);
}
#endif

/* A thread that ends holding a lock does not lock everybody out either. */
static void test_lock_of_an_ended_thread_is_recovered(void)
{
    mproc_lock_t *l;
    long taken;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
#if defined(_WIN32)
    {
        DWORD code = 1;
        HANDLE t = CreateThread(NULL, 0, take_and_exit, l, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t);
        WaitForSingleObject(t, INFINITE);
        GetExitCodeThread(t, &code);
        CloseHandle(t);
        taken = (long) code;
    }
#else
    {
        pthread_t t;
        void *code = NULL;
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, take_and_exit, l), 0);
        pthread_join(t, &code);
        taken = (long) (intptr_t) code;
    }
#endif
    CU_ASSERT_EQUAL(taken, 0);
#if !defined(_WIN32)
    /*
     * Nobody holds it, and the mark stays for the next holder (Windows
     * consumes an abandonment on any wait, so there it is not asked).
     */
    CU_ASSERT_EQUAL(mproc_lock_release(l), MPROC_ENOTHELD);
#endif
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_lock_destroy(l);
}

/* Takes @arg (an RLock) and ends the thread without releasing it. */
#if defined(_WIN32)
static DWORD WINAPI rtake_and_exit(void *arg)
{
    return (DWORD) mproc_rlock_acquire(arg, MPROC_FOREVER);
}

/* Tries @arg (a Lock) once; the thread's result is the status. */
static DWORD WINAPI try_once(void *arg)
{
    int rc = mproc_lock_acquire(arg, 0);
    if (rc == 0)
        mproc_lock_release(arg);
    return (DWORD) rc;
}
#else
static void *rtake_and_exit(void *arg)
{
    return (void *) (intptr_t) mproc_rlock_acquire(arg, MPROC_FOREVER);
}

static void *try_once(void *arg)
{
    int rc = mproc_lock_acquire(arg, 0);
    if (rc == 0)
        mproc_lock_release(arg);
    return (void *) (intptr_t) rc;
}
#endif

/*
 * Runs @fn(@arg) in @n threads at once (at most 2): what the first of them
 * that did not return 0 returned, as an int, or 0.
 */
static int in_threads(int n,
#if defined(_WIN32)
                      DWORD(WINAPI *fn)(void *),
#else
                      void *(*fn)(void *),
#endif
                      void *arg)
{
    int rc = 0, i;
#if defined(_WIN32)
    HANDLE t[2];
    for (i = 0; i < n; i++) {
        t[i] = CreateThread(NULL, 0, fn, arg, 0, NULL);
        CU_ASSERT_PTR_NOT_NULL_FATAL(t[i]);
    }
    for (i = 0; i < n; i++) {
        DWORD code = 1;
        WaitForSingleObject(t[i], INFINITE);
        GetExitCodeThread(t[i], &code);
        CloseHandle(t[i]);
        if (rc == 0)
            rc = (int) code;
    }
#else
    pthread_t t[2];
    for (i = 0; i < n; i++)
        CU_ASSERT_EQUAL_FATAL(pthread_create(&t[i], NULL, fn, arg), 0);
    for (i = 0; i < n; i++) {
        void *code = NULL;
        pthread_join(t[i], &code);
        if (rc == 0)
            rc = (int) (intptr_t) code;
    }
#endif
    return rc;
}

/* Runs @fn(@arg) in a thread of its own; what it returned, as an int. */
#define in_thread(fn, arg) in_threads(1, (fn), (arg))

/*
 * Makes, passes by reference and destroys locks in a loop: every step
 * changes the runtime's list of open objects and its cache of imported
 * references, which the other thread changes at the same time. 0 if every
 * step did what it says.
 */
#if defined(_WIN32)
static DWORD WINAPI churn_locks(void *arg)
#else
static void *churn_locks(void *arg)
#endif
{
    uintptr_t bad = 0;
    int i;
    (void) arg;
    for (i = 0; i < 2000 && bad == 0; i++) {
        mproc_lock_t *l, *a = NULL, *b = NULL;
        mproc_value_t *ref;
        if (mproc_lock_create(&l, NULL) != 0)
            bad = 1;
        else if ((ref = mproc_value_lock(l)) == NULL)
            bad = 2;
        else {
            /* The second import finds the first one's object. */
            if (mproc_value_to_lock(ref, &a) != 0 ||
                mproc_value_to_lock(ref, &b) != 0 || a != b)
                bad = 3;
            if (a != NULL)
                mproc_lock_destroy(a);
            mproc_value_free(ref);
        }
        if (bad != 1)
            mproc_lock_destroy(l);
    }
#if defined(_WIN32)
    return (DWORD) bad;
#else
    return (void *) bad;
#endif
}

/*
 * Two threads that make and destroy objects at once: the runtime's own
 * lists (the objects it lets go of at exit, the references it imported)
 * are locked, so neither thread's changes are lost or tangled.
 */
static void test_objects_made_in_two_threads(void)
{
    mproc_lock_t *l;
    CU_ASSERT_EQUAL(in_threads(2, churn_locks, NULL), 0);
    /* The lists still work afterwards. */
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    mproc_lock_destroy(l);
}

/*
 * MPROC_WITH_LOCK nested on the same Lock: the inner acquire fails with
 * MPROC_EDEADLK, so its body does not run and it releases nothing; the
 * outer hold stays until the outer block ends.
 */
static void test_with_lock_nested(void)
{
    mproc_lock_t *l;
    int outer = -1, inner = -1, inner_ran = 0, held_inside = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    MPROC_WITH_LOCK(l, outer) {
        MPROC_WITH_LOCK(l, inner) {
            inner_ran = 1;
        }
        /* Another thread cannot take it: the outer hold survived. */
        held_inside = in_thread(try_once, l) == MPROC_ETIMEDOUT;
    }
    CU_ASSERT_EQUAL(outer, 0);
    CU_ASSERT_EQUAL(inner, MPROC_EDEADLK);
    CU_ASSERT_FALSE(inner_ran);
    CU_ASSERT_TRUE(held_inside);
    /* The outer block released it. */
    CU_ASSERT_EQUAL(in_thread(try_once, l), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), MPROC_ENOTHELD);

    /* The same with a plain acquire outside: its release still succeeds. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    inner_ran = 0;
    MPROC_WITH_LOCK(l, inner) {
        inner_ran = 1;
    }
    CU_ASSERT_EQUAL(inner, MPROC_EDEADLK);
    CU_ASSERT_FALSE(inner_ran);
    CU_ASSERT_EQUAL(in_thread(try_once, l), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_lock_destroy(l);
}

/* MPROC_WITH_RLOCK nests as an RLock does, and undoes only its own hold. */
static void test_with_rlock_nested(void)
{
    mproc_rlock_t *r;
    int outer = -1, inner = -1, runs = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, NULL), 0);
    MPROC_WITH_RLOCK(r, outer) {
        MPROC_WITH_RLOCK(r, inner) {
            runs++;
        }
        runs++;
        /* Still held once: one release works, a second would not. */
        CU_ASSERT_EQUAL(mproc_rlock_release(r), 0);
        CU_ASSERT_EQUAL(mproc_rlock_release(r), MPROC_ENOTHELD);
        CU_ASSERT_EQUAL(mproc_rlock_acquire(r, 0), 0);
    }
    CU_ASSERT_EQUAL(outer, 0);
    CU_ASSERT_EQUAL(inner, 0);
    CU_ASSERT_EQUAL(runs, 2);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), MPROC_ENOTHELD);
    mproc_rlock_destroy(r);
}

/*
 * A lock taken from a dead holder is held: the block runs, with rc
 * MPROC_OWNERDEAD, and releases it after.
 */
static void test_with_lock_over_a_dead_holder(void)
{
    mproc_lock_t *l;
    mproc_rlock_t *r;
    int rc = -1, seen = -1;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, NULL), 0);
    CU_ASSERT_EQUAL(in_thread(take_and_exit, l), 0);
    MPROC_WITH_LOCK(l, rc) {
        seen = rc;
    }
    CU_ASSERT_EQUAL(rc, MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(seen, MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_lock_release(l), MPROC_ENOTHELD);
    CU_ASSERT_EQUAL(in_thread(try_once, l), 0);

    rc = seen = -1;
    CU_ASSERT_EQUAL(in_thread(rtake_and_exit, r), 0);
    MPROC_WITH_RLOCK(r, rc) {
        seen = rc;
    }
    CU_ASSERT_EQUAL(rc, MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(seen, MPROC_OWNERDEAD);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), MPROC_ENOTHELD);
    mproc_lock_destroy(l);
    mproc_rlock_destroy(r);
}

#if !defined(_WIN32)
    /*
     * On Linux a held Lock is kept on the same robust list of the thread as
     * glibc's robust pthread mutexes. A child takes both kinds, interleaved,
     * lets some go out of order and is killed holding the rest: each object
     * must come out exactly as its own state says, which only holds if neither
     * side broke the other's links.
     */
    #define MIXED_LOCKS 4
    #define MIXED_MUTEXES 3

typedef struct mixed {
    pthread_mutex_t mutex[MIXED_MUTEXES];
} mixed;

static mixed *g_mixed; /* MAP_SHARED before the fork child starts */

/* args: MIXED_LOCKS lock refs, event "holding". */
static void hold_mixed(const mproc_value_t *args)
{
    mproc_lock_t *l[MIXED_LOCKS];
    mproc_event_t *holding;
    pthread_mutex_t *m = g_mixed->mutex;
    int i;
    for (i = 0; i < MIXED_LOCKS; i++)
        IMPORT_ARG(lock, l[i], i);
    IMPORT_ARG(event, holding, MIXED_LOCKS);
    CHILD_ASSERT(pthread_mutex_lock(&m[0]) == 0);
    CHILD_ASSERT(mproc_lock_acquire(l[0], MPROC_FOREVER) == 0);
    CHILD_ASSERT(pthread_mutex_lock(&m[1]) == 0);
    CHILD_ASSERT(mproc_lock_acquire(l[1], MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_lock_acquire(l[2], MPROC_FOREVER) == 0);
    CHILD_ASSERT(pthread_mutex_lock(&m[2]) == 0);
    CHILD_ASSERT(mproc_lock_acquire(l[3], MPROC_FOREVER) == 0);
    /* Out of order, from the middle and both ends of the list. */
    CHILD_ASSERT(mproc_lock_release(l[1]) == 0);
    CHILD_ASSERT(pthread_mutex_unlock(&m[0]) == 0);
    CHILD_ASSERT(mproc_lock_release(l[3]) == 0);
    CHILD_ASSERT(pthread_mutex_unlock(&m[1]) == 0);
    /* Holds l[0], l[2] and m[2]; retakes l[1] on top. */
    CHILD_ASSERT(mproc_lock_acquire(l[1], MPROC_FOREVER) == 0);
    mproc_event_set(holding);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(hold_mixed)

    /* A counter in MAP_SHARED memory, made before the fork children start. */
    #define COUNT_CHILDREN 3
    #define COUNT_EACH 100000
static volatile long *g_counter;

/*
 * args: lock ref, event "go". All start counting at once, so that they do
 * meet at the lock; half the acquisitions wait forever, half with a
 * deadline.
 */
static void count_under_lock(const mproc_value_t *args)
{
    mproc_lock_t *l;
    mproc_event_t *go;
    int i;
    IMPORT_ARG(lock, l, 0);
    IMPORT_ARG(event, go, 1);
    CHILD_ASSERT(mproc_event_wait(go, MPROC_FOREVER) == 0);
    for (i = 0; i < COUNT_EACH; i++) {
        long v;
        CHILD_ASSERT(mproc_lock_acquire(l, i % 2 ? 30.0 : MPROC_FOREVER) == 0);
        v = *g_counter;
        *g_counter = v + 1; /* a lost update if two were inside */
        CHILD_ASSERT(mproc_lock_release(l) == 0);
    }
    mproc_lock_destroy(l);
    mproc_event_destroy(go);
}
MPROC_TARGET(count_under_lock)

static void test_lock_excludes_under_contention(void)
{
    mproc_lock_t *l;
    mproc_event_t *go;
    mproc_process_t *p[COUNT_CHILDREN];
    int i;
    g_counter = mmap(NULL, sizeof *g_counter, PROT_READ | PROT_WRITE,
                     MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_NOT_EQUAL_FATAL(g_counter, MAP_FAILED);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&go, NULL), 0);
    for (i = 0; i < COUNT_CHILDREN; i++)
        p[i] =
            harness_start("count_under_lock",
                          mproc_value_list_of(2, ref_lock(l), ref_event(go)));
    mproc_event_set(go);
    for (i = 0; i < COUNT_CHILDREN; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    CU_ASSERT_EQUAL(*g_counter, (long) COUNT_CHILDREN * COUNT_EACH);
    /* Nobody holds it, and nobody is left marked as waiting on it. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_lock_destroy(l);
    mproc_event_destroy(go);
    munmap((void *) g_counter, sizeof *g_counter);
}

static void test_locks_share_the_robust_list_with_glibc(void)
{
    static const int held_lock[MIXED_LOCKS] = {1, 1, 1, 0};
    static const int held_mutex[MIXED_MUTEXES] = {0, 0, 1};
    mproc_lock_t *l[MIXED_LOCKS];
    mproc_value_t *args = mproc_value_list();
    mproc_event_t *holding;
    mproc_process_t *p;
    pthread_mutexattr_t attr;
    int i;
    g_mixed = mmap(NULL, sizeof *g_mixed, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    CU_ASSERT_NOT_EQUAL_FATAL(g_mixed, MAP_FAILED);
    pthread_mutexattr_init(&attr);
    pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
    pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
    for (i = 0; i < MIXED_MUTEXES; i++) {
        /*
         * Priority inheritance for all but the first: glibc tags the list
         * links of such a mutex, and the tags must survive our updates.
         */
        pthread_mutexattr_setprotocol(&attr, i == 0 ? PTHREAD_PRIO_NONE
                                                    : PTHREAD_PRIO_INHERIT);
        CU_ASSERT_EQUAL_FATAL(pthread_mutex_init(&g_mixed->mutex[i], &attr), 0);
    }
    pthread_mutexattr_destroy(&attr);
    for (i = 0; i < MIXED_LOCKS; i++) {
        CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l[i], NULL), 0);
        mproc_value_append(args, ref_lock(l[i]));
    }
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&holding, NULL), 0);
    mproc_value_append(args, ref_event(holding));

    p = harness_start("hold_mixed", args);
    CU_ASSERT_EQUAL(wait_for_child(holding), 0);
    CU_ASSERT_EQUAL(mproc_process_kill(p), 0);
    CU_ASSERT_NOT_EQUAL(harness_join_code(p), 0);

    for (i = 0; i < MIXED_LOCKS; i++) {
        CU_ASSERT_EQUAL(mproc_lock_acquire(l[i], 0),
                        held_lock[i] ? MPROC_OWNERDEAD : 0);
        CU_ASSERT_EQUAL(mproc_lock_release(l[i]), 0);
        mproc_lock_destroy(l[i]);
    }
    for (i = 0; i < MIXED_MUTEXES; i++) {
        int err = pthread_mutex_trylock(&g_mixed->mutex[i]);
        CU_ASSERT_EQUAL(err, held_mutex[i] ? EOWNERDEAD : 0);
        if (err == EOWNERDEAD)
            pthread_mutex_consistent(&g_mixed->mutex[i]);
        pthread_mutex_unlock(&g_mixed->mutex[i]);
        pthread_mutex_destroy(&g_mixed->mutex[i]);
    }
    mproc_event_destroy(holding);
    munmap(g_mixed, sizeof *g_mixed);
}
#endif

/* ---- RLock ----------------------------------------------------------- */

/* args: rlock held by the parent, event "tried". */
static void rlock_stranger(const mproc_value_t *args)
{
    mproc_rlock_t *r;
    mproc_event_t *tried;
    IMPORT_ARG(rlock, r, 0);
    IMPORT_ARG(event, tried, 1);
    CHILD_ASSERT(mproc_rlock_release(r) == MPROC_ENOTOWNER);
    CHILD_ASSERT(mproc_rlock_locked(r) == 1);
    CHILD_ASSERT(mproc_rlock_acquire(r, 0) == MPROC_ETIMEDOUT);
    mproc_event_set(tried);
    CHILD_ASSERT(mproc_rlock_acquire(r, MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_rlock_locked(r) == 1);
    CHILD_ASSERT(mproc_rlock_acquire(r, 0) == 0);
    CHILD_ASSERT(mproc_rlock_release(r) == 0);
    CHILD_ASSERT(mproc_rlock_release(r) == 0);
    mproc_rlock_destroy(r);
    mproc_event_destroy(tried);
}
MPROC_TARGET(rlock_stranger)

static void test_rlock(void)
{
    mproc_rlock_t *r;
    mproc_event_t *tried;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&tried, NULL), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), MPROC_ENOTHELD);
    CU_ASSERT_EQUAL(mproc_rlock_locked(r), 0);
    CU_ASSERT_EQUAL(mproc_rlock_acquire(r, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_rlock_locked(r), 1);
    CU_ASSERT_EQUAL(mproc_rlock_acquire(r, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_rlock_acquire(r, 0), 0);
    p = harness_start("rlock_stranger",
                      mproc_value_list_of(2, ref_rlock(r), ref_event(tried)));
    CU_ASSERT_EQUAL(wait_for_child(tried), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_rlock_locked(r), 0);
    CU_ASSERT_EQUAL(mproc_rlock_release(r), MPROC_ENOTHELD);
    mproc_rlock_destroy(r);
    mproc_event_destroy(tried);
}

/* ---- Semaphore ------------------------------------------------------- */

/* args: sem; takes 2, gives 3 back. */
static void sem_user(const mproc_value_t *args)
{
    mproc_sem_t *s;
    IMPORT_ARG(sem, s, 0);
    CHILD_ASSERT(mproc_sem_acquire(s, MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_sem_acquire(s, MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_sem_release(s) == 0);
    CHILD_ASSERT(mproc_sem_release(s) == 0);
    CHILD_ASSERT(mproc_sem_release(s) == 0);
    mproc_sem_destroy(s);
}
MPROC_TARGET(sem_user)

static void test_semaphores(void)
{
    mproc_sem_t *s, *b;
    int v = -1;
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&s, 2, NULL), 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(s, 0), 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(s, 0), 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(s, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_sem_acquire(s, 0.02), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_sem_release(s), 0);
    CU_ASSERT_EQUAL(mproc_sem_release(s), 0);
    CU_ASSERT_EQUAL(mproc_sem_value(s, &v), 0);
    CU_ASSERT_EQUAL(v, 2);
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "sem_user", mproc_value_list_of(1, ref_sem(s)))),
                    0);
    CU_ASSERT_EQUAL(mproc_sem_value(s, &v), 0);
    CU_ASSERT_EQUAL(v, 3);
    mproc_sem_destroy(s);

    CU_ASSERT_EQUAL(mproc_bounded_sem_create(&b, 0, NULL), MPROC_EINVAL);
    CU_ASSERT_EQUAL_FATAL(mproc_bounded_sem_create(&b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_sem_release(b), MPROC_ETOOMANY);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "too many"));
    CU_ASSERT_EQUAL(mproc_sem_acquire(b, 0), 0);
    CU_ASSERT_EQUAL(mproc_sem_release(b), 0);
    CU_ASSERT_EQUAL(mproc_sem_release(b), MPROC_ETOOMANY);
    CU_ASSERT_EQUAL(mproc_sem_value(b, &v), 0);
    CU_ASSERT_EQUAL(v, 1);
    mproc_sem_destroy(b);
}

/* ---- Event ----------------------------------------------------------- */

/* args: event; exits 1 if wait(10 s) saw it set, 0 if it timed out. */
static void event_waiter(const mproc_value_t *args)
{
    mproc_event_t *e;
    int r;
    IMPORT_ARG(event, e, 0);
    r = mproc_event_wait(e, 10);
    mproc_event_destroy(e);
    mproc_exit(r == 0 ? 1 : 0);
}
MPROC_TARGET(event_waiter)

static void test_event(void)
{
    mproc_event_t *e;
    mproc_process_t *a, *b;
    double t0;
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&e, NULL), 0);
    CU_ASSERT_EQUAL(mproc_event_is_set(e), 0);
    t0 = mproc_monotonic();
    CU_ASSERT_EQUAL(mproc_event_wait(e, 0.05), MPROC_ETIMEDOUT);
    /* A timed-out wait does not return early. */
    CU_ASSERT(mproc_monotonic() - t0 >= 0.045);
    CU_ASSERT_EQUAL(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
    a = harness_start("event_waiter", mproc_value_list_of(1, ref_event(e)));
    b = harness_start("event_waiter", mproc_value_list_of(1, ref_event(e)));
    CU_ASSERT_EQUAL(mproc_event_set(e), 0);
    CU_ASSERT_EQUAL(mproc_event_is_set(e), 1);
    CU_ASSERT_EQUAL(harness_join_code(a), 1);
    CU_ASSERT_EQUAL(harness_join_code(b), 1);
    CU_ASSERT_EQUAL(wait_for_child(e), 0);
    CU_ASSERT_EQUAL(mproc_event_clear(e), 0);
    CU_ASSERT_EQUAL(mproc_event_is_set(e), 0);
    CU_ASSERT_EQUAL(mproc_event_wait(e, 0), MPROC_ETIMEDOUT);
    mproc_event_destroy(e);
}

/* ---- Condition ------------------------------------------------------- */

static int event_is_set(void *arg)
{
    return mproc_event_is_set(arg);
}

/* args: cond, event "go" (the predicate), sem "waiting". */
static void cond_waiter(const mproc_value_t *args)
{
    mproc_cond_t *c;
    mproc_event_t *go;
    mproc_sem_t *waiting;
    int r;
    IMPORT_ARG(cond, c, 0);
    IMPORT_ARG(event, go, 1);
    IMPORT_ARG(sem, waiting, 2);
    CHILD_ASSERT(mproc_cond_acquire(c, MPROC_FOREVER) == 0);
    mproc_sem_release(waiting);
    r = mproc_cond_wait_for(c, event_is_set, go, 15);
    CHILD_ASSERT(mproc_cond_release(c) == 0);
    mproc_cond_destroy(c);
    mproc_event_destroy(go);
    mproc_sem_destroy(waiting);
    mproc_exit(r == 0 ? 0 : 4);
}
MPROC_TARGET(cond_waiter)

static void test_condition(void)
{
    mproc_cond_t *c;
    mproc_event_t *go;
    mproc_sem_t *waiting;
    mproc_process_t *p[2];
    mproc_value_t *cref;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&c, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&go, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&waiting, 0, NULL), 0);
    /* Waiting or notifying without the lock is an error, as in Python. */
    CU_ASSERT_EQUAL(mproc_cond_wait(c, 0), MPROC_ENOTHELD);
    CU_ASSERT_EQUAL(mproc_cond_notify(c, 1), MPROC_ENOTHELD);
    CU_ASSERT_EQUAL(mproc_cond_acquire(c, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_cond_wait(c, 0.02), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_cond_wait_for(c, event_is_set, go, 0.02),
                    MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_cond_release(c), 0);
    CU_ASSERT_EQUAL(mproc_cond_release(c), MPROC_ENOTHELD);

    CU_ASSERT_EQUAL_FATAL(mproc_cond_export(c, &cref), 0);
    for (i = 0; i < 2; i++)
        p[i] =
            harness_start("cond_waiter",
                          mproc_value_list_of(3, mproc_value_copy(cref),
                                              ref_event(go), ref_sem(waiting)));
    mproc_value_free(cref);
    CU_ASSERT_EQUAL(mproc_sem_acquire(waiting, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(waiting, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_cond_acquire(c, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_event_set(go), 0);
    CU_ASSERT_EQUAL(mproc_cond_notify_all(c), 0);
    /* A predicate that holds already needs no wait: 0 at once. */
    CU_ASSERT_EQUAL(mproc_cond_wait_for(c, event_is_set, go, 0), 0);
    CU_ASSERT_EQUAL(mproc_cond_release(c), 0);
    for (i = 0; i < 2; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    mproc_cond_destroy(c);
    mproc_event_destroy(go);
    mproc_sem_destroy(waiting);
}

static void test_condition_over_a_lock(void)
{
    mproc_lock_t *l;
    mproc_cond_t *c;
    mproc_cond_opts_t o = {0};
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    o.lock = l;
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&c, &o), 0);
    CU_ASSERT_EQUAL(mproc_cond_wait(c, 0), MPROC_ENOTHELD);
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_cond_wait(c, 0.01), MPROC_ETIMEDOUT);
    /* The wait gave the lock back on return. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_cond_notify(c, 1), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_cond_destroy(c);
    /* The condition did not own the lock: it is still there. */
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_lock_destroy(l);
}

/*
 * Joins a child that must end by itself soon: one that hangs is killed,
 * and the test fails instead of hanging with it.
 */
static int join_bounded(mproc_process_t *p)
{
    if (mproc_process_join(p, 20) != 0) {
        mproc_process_kill(p);
        CU_FAIL("a child hung");
    }
    return harness_join_code(p);
}

static int never(void *arg)
{
    (void) arg;
    return 0;
}

/*
 * args: cond, sem "waiting", int (1: wait_for). Waits on the condition
 * until it is killed; exits 3 if the wait ever returns.
 */
static void cond_wait_to_die(const mproc_value_t *args)
{
    mproc_cond_t *c;
    mproc_sem_t *waiting;
    IMPORT_ARG(cond, c, 0);
    IMPORT_ARG(sem, waiting, 1);
    CHILD_ASSERT(mproc_cond_acquire(c, MPROC_FOREVER) == 0);
    mproc_sem_release(waiting);
    if (mproc_value_as_int(mproc_value_at(args, 2)))
        mproc_cond_wait_for(c, never, NULL, 60);
    else
        mproc_cond_wait(c, 60);
    mproc_exit(3);
}
MPROC_TARGET(cond_wait_to_die)

/* args: cond, sem "waiting"; exits 0 if notified, 4 if it timed out. */
static void cond_wait_once(const mproc_value_t *args)
{
    mproc_cond_t *c;
    mproc_sem_t *waiting;
    int r;
    IMPORT_ARG(cond, c, 0);
    IMPORT_ARG(sem, waiting, 1);
    CHILD_ASSERT(mproc_cond_acquire(c, MPROC_FOREVER) == 0);
    mproc_sem_release(waiting);
    r = mproc_cond_wait(c, 30);
    CHILD_ASSERT(mproc_cond_release(c) == 0);
    mproc_exit(r == 0 ? 0 : 4);
}
MPROC_TARGET(cond_wait_once)

/* args: cond, int n (0: notify_all); notifies and exits 0. */
static void cond_notifier(const mproc_value_t *args)
{
    mproc_cond_t *c;
    int64_t n = mproc_value_as_int(mproc_value_at(args, 1));
    IMPORT_ARG(cond, c, 0);
    CHILD_ASSERT(mproc_cond_acquire(c, 15) == 0);
    CHILD_ASSERT((n > 0 ? mproc_cond_notify(c, (int) n)
                        : mproc_cond_notify_all(c)) == 0);
    CHILD_ASSERT(mproc_cond_release(c) == 0);
}
MPROC_TARGET(cond_notifier)

static mproc_value_t *ref_cond(mproc_cond_t *c)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_cond_export(c, &v), 0);
    return v;
}

/*
 * Starts @target (cond_wait_to_die or cond_wait_once) on @c and returns
 * once it waits: it signals @waiting holding the lock, which only its wait
 * gives up.
 */
static mproc_process_t *start_cond_waiter(const char *target, mproc_cond_t *c,
                                          mproc_sem_t *waiting,
                                          mproc_value_t *extra)
{
    mproc_value_t *args = mproc_value_list_of(2, ref_cond(c), ref_sem(waiting));
    mproc_process_t *p;
    if (extra != NULL)
        mproc_value_append(args, extra);
    p = harness_start(target, args);
    CU_ASSERT_EQUAL(mproc_sem_acquire(waiting, 15), 0);
    CU_ASSERT_EQUAL(mproc_cond_acquire(c, 15), 0);
    CU_ASSERT_EQUAL(mproc_cond_release(c), 0);
    return p;
}

/*
 * A waiter killed in its wait is skipped: notify and notify_all return
 * (Python's would wait forever for the dead waiter's report, holding the
 * lock), and a live waiter behind it is still woken.
 */
static void cond_waiter_killed(int wait_for)
{
    mproc_cond_t *c;
    mproc_sem_t *waiting;
    mproc_process_t *dead, *live;
    int round;
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&c, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&waiting, 0, NULL), 0);
    for (round = 0; round < 2; round++) {
        dead = start_cond_waiter("cond_wait_to_die", c, waiting,
                                 mproc_value_int(wait_for));
        CU_ASSERT_EQUAL(mproc_process_kill(dead), 0);
        CU_ASSERT_NOT_EQUAL(harness_join_code(dead), 0);
        live = start_cond_waiter("cond_wait_once", c, waiting, NULL);
        /* notify(1) first, then notify_all: the dead one is first in line. */
        CU_ASSERT_EQUAL(join_bounded(harness_start(
                            "cond_notifier",
                            mproc_value_list_of(2, ref_cond(c),
                                                mproc_value_int(round == 0)))),
                        0);
        CU_ASSERT_EQUAL(join_bounded(live), 0);
    }
    /* Nobody waits now, and the condition is as good as new. */
    CU_ASSERT_EQUAL(mproc_cond_acquire(c, 15), 0);
    CU_ASSERT_EQUAL(mproc_cond_notify_all(c), 0);
    CU_ASSERT_EQUAL(mproc_cond_wait(c, 0.01), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_cond_release(c), 0);
    mproc_cond_destroy(c);
    mproc_sem_destroy(waiting);
}

static void test_condition_waiter_killed_in_wait(void)
{
    cond_waiter_killed(0);
}

static void test_condition_waiter_killed_in_wait_for(void)
{
    cond_waiter_killed(1);
}

/* ---- Barrier --------------------------------------------------------- */

static void barrier_action(const mproc_value_t *args)
{
    FILE *f = fopen(mproc_config_get("barrier_action_file"), "ab");
    if (f != NULL) {
        fputs("action\n", f);
        fclose(f);
    }
}
MPROC_TARGET(barrier_action)

/* args: barrier; exits with 10 + its arrival index. */
static void barrier_party(const mproc_value_t *args)
{
    mproc_barrier_t *b;
    int r;
    IMPORT_ARG(barrier, b, 0);
    r = mproc_barrier_wait(b, 15);
    mproc_barrier_destroy(b);
    mproc_exit(r >= 0 ? 10 + r : 50 - r);
}
MPROC_TARGET(barrier_party)

static void test_barrier(void)
{
    mproc_barrier_t *b;
    mproc_barrier_opts_t o = {0};
    mproc_value_t *ref;
    mproc_process_t *p[2];
    char *path = harness_temp_path("action"), *text;
    int seen[3] = {0, 0, 0}, i, r;

    CU_ASSERT_EQUAL(mproc_config_set("barrier_action_file", path), 0);
    o.action = "no_such_action";
    CU_ASSERT_EQUAL(mproc_barrier_create(&b, 3, &o), MPROC_ENOTREG);
    o.action = "barrier_action";
    CU_ASSERT_EQUAL(mproc_barrier_create(&b, 0, &o), MPROC_EINVAL);
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, 3, &o), 0);
    CU_ASSERT_EQUAL(mproc_barrier_parties(b), 3);
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_export(b, &ref), 0);
    for (i = 0; i < 2; i++)
        p[i] = harness_start("barrier_party",
                             mproc_value_list_of(1, mproc_value_copy(ref)));
    mproc_value_free(ref);
    r = mproc_barrier_wait(b, MPROC_FOREVER);
    CU_ASSERT(r >= 0 && r < 3);
    if (r >= 0 && r < 3)
        seen[r]++;
    for (i = 0; i < 2; i++) {
        int code = harness_join_code(p[i]) - 10;
        CU_ASSERT(code >= 0 && code < 3);
        if (code >= 0 && code < 3)
            seen[code]++;
    }
    /* Each arrival index exactly once, and the action ran once. */
    CU_ASSERT(seen[0] == 1 && seen[1] == 1 && seen[2] == 1);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_STRING_EQUAL(text, "action\n");
    free(text);
    remove(path);
    free(path);

    /* A timeout breaks it; reset makes it usable again. */
    CU_ASSERT_FALSE(mproc_barrier_broken(b));
    CU_ASSERT_EQUAL(mproc_barrier_wait(b, 0.02), MPROC_EBROKEN);
    CU_ASSERT_TRUE(mproc_barrier_broken(b));
    CU_ASSERT_EQUAL(mproc_barrier_wait(b, 0.02), MPROC_EBROKEN);
    CU_ASSERT_EQUAL(mproc_barrier_reset(b), 0);
    CU_ASSERT_FALSE(mproc_barrier_broken(b));
    CU_ASSERT_EQUAL(mproc_barrier_n_waiting(b), 0);
    CU_ASSERT_EQUAL(mproc_barrier_abort(b), 0);
    CU_ASSERT_EQUAL(mproc_barrier_wait(b, MPROC_FOREVER), MPROC_EBROKEN);
    mproc_barrier_destroy(b);
}

static void test_barrier_of_one(void)
{
    mproc_barrier_t *b;
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_barrier_wait(b, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_barrier_wait(b, 0), 0);
    mproc_barrier_destroy(b);
}

/* args: barrier; waits until it is killed, exits 3 if its wait returns. */
static void barrier_party_to_die(const mproc_value_t *args)
{
    mproc_barrier_t *b;
    IMPORT_ARG(barrier, b, 0);
    mproc_barrier_wait(b, 60);
    mproc_exit(3);
}
MPROC_TARGET(barrier_party_to_die)

/* Whether @n parties come to wait on @b within a bounded time. */
static int barrier_reaches(mproc_barrier_t *b, unsigned n)
{
    double end = mproc_monotonic() + 15;
    while (mproc_barrier_n_waiting(b) != n) {
        if (mproc_monotonic() > end)
            return 0;
        mproc_sleep(0.005);
    }
    return 1;
}

/*
 * A party killed while it waits breaks the barrier: the others are told
 * MPROC_EBROKEN within their timeouts (Python's last party would wait
 * forever for the dead one), and a reset makes it usable again.
 */
static void test_barrier_party_killed(void)
{
    mproc_barrier_t *b;
    mproc_value_t *ref;
    mproc_process_t *dead, *p[2];
    int i, r;
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, 3, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_export(b, &ref), 0);
    dead = harness_start("barrier_party_to_die",
                         mproc_value_list_of(1, mproc_value_copy(ref)));
    p[0] = harness_start("barrier_party",
                         mproc_value_list_of(1, mproc_value_copy(ref)));
    CU_ASSERT_FATAL(barrier_reaches(b, 2));
    CU_ASSERT_EQUAL(mproc_process_kill(dead), 0);
    CU_ASSERT_NOT_EQUAL(harness_join_code(dead), 0);
    /* The last party comes, with its timeout. */
    p[1] = harness_start("barrier_party",
                         mproc_value_list_of(1, mproc_value_copy(ref)));
    for (i = 0; i < 2; i++)
        CU_ASSERT_EQUAL(join_bounded(p[i]), 50 - MPROC_EBROKEN);
    CU_ASSERT_TRUE(mproc_barrier_broken(b));
    CU_ASSERT_EQUAL(mproc_barrier_wait(b, 0.01), MPROC_EBROKEN);

    CU_ASSERT_EQUAL(mproc_barrier_reset(b), 0);
    CU_ASSERT_FALSE(mproc_barrier_broken(b));
    CU_ASSERT_EQUAL(mproc_barrier_n_waiting(b), 0);
    for (i = 0; i < 2; i++)
        p[i] = harness_start("barrier_party",
                             mproc_value_list_of(1, mproc_value_copy(ref)));
    r = mproc_barrier_wait(b, 15);
    CU_ASSERT(r >= 0 && r < 3);
    for (i = 0; i < 2; i++) {
        int code = join_bounded(p[i]);
        CU_ASSERT(code >= 10 && code < 13);
    }
    mproc_value_free(ref);
    mproc_barrier_destroy(b);
}

/* ---- references ------------------------------------------------------ */

/* The six objects a reference test hands over. */
typedef struct six {
    mproc_lock_t *lock;
    mproc_rlock_t *rlock;
    mproc_sem_t *sem;
    mproc_event_t *event;
    mproc_cond_t *cond;
    mproc_barrier_t *barrier;
} six;

static void six_create(six *o)
{
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&o->lock, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&o->rlock, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&o->sem, 0, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&o->event, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&o->cond, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&o->barrier, 2, NULL), 0);
}

/* The references of the six, in that order, built with one NULL check. */
static mproc_value_t *six_refs(const six *o)
{
    return mproc_value_list_of(
        6, mproc_value_lock(o->lock), mproc_value_rlock(o->rlock),
        mproc_value_sem(o->sem), mproc_value_event(o->event),
        mproc_value_cond(o->cond), mproc_value_barrier(o->barrier));
}

static void six_destroy(six *o)
{
    mproc_lock_destroy(o->lock);
    mproc_rlock_destroy(o->rlock);
    mproc_sem_destroy(o->sem);
    mproc_event_destroy(o->event);
    mproc_cond_destroy(o->cond);
    mproc_barrier_destroy(o->barrier);
}

/*
 * In a child: opens the six of @refs (exit 10 + i on failure) and checks
 * what the accessors promise: twice gives the same object, another kind
 * is MPROC_ETYPE.
 */
static void six_open(const mproc_value_t *refs, six *o)
{
    mproc_lock_t *again = NULL;
    mproc_queue_t *q = NULL;
    CHILD_ASSERT(mproc_value_to_lock(mproc_value_at(refs, 0), &o->lock) == 0);
    CHILD_ASSERT(mproc_value_to_rlock(mproc_value_at(refs, 1), &o->rlock) == 0);
    CHILD_ASSERT(mproc_value_to_sem(mproc_value_at(refs, 2), &o->sem) == 0);
    CHILD_ASSERT(mproc_value_to_event(mproc_value_at(refs, 3), &o->event) == 0);
    CHILD_ASSERT(mproc_value_to_cond(mproc_value_at(refs, 4), &o->cond) == 0);
    CHILD_ASSERT(mproc_value_to_barrier(mproc_value_at(refs, 5), &o->barrier) ==
                 0);
    CHILD_ASSERT(mproc_value_to_lock(mproc_value_at(refs, 0), &again) == 0);
    CHILD_ASSERT(again == o->lock);
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(refs, 0), &q) ==
                 MPROC_ETYPE);
    CHILD_ASSERT(strstr(mproc_last_error(),
                        "argument is a lock reference, not a queue") != NULL);
    CHILD_ASSERT(mproc_value_to_lock(mproc_value_at(refs, 1), &again) ==
                 MPROC_ETYPE);
    CHILD_ASSERT(mproc_value_to_lock(mproc_value_at(refs, 6), &again) ==
                 MPROC_ETYPE);
}

/*
 * In a child: uses the six. The parent holds the lock; the rest is free.
 * The child meets the parent at the barrier, then posts the semaphore and
 * sets the event.
 */
static void six_use(const six *o)
{
    CHILD_ASSERT(mproc_lock_acquire(o->lock, 0) == MPROC_ETIMEDOUT);
    CHILD_ASSERT(mproc_rlock_acquire(o->rlock, 0) == 0);
    CHILD_ASSERT(mproc_rlock_acquire(o->rlock, 0) == 0);
    CHILD_ASSERT(mproc_rlock_release(o->rlock) == 0);
    CHILD_ASSERT(mproc_rlock_release(o->rlock) == 0);
    CHILD_ASSERT(mproc_cond_acquire(o->cond, 0) == 0);
    CHILD_ASSERT(mproc_cond_notify_all(o->cond) == 0);
    CHILD_ASSERT(mproc_cond_release(o->cond) == 0);
    CHILD_ASSERT(mproc_barrier_wait(o->barrier, 30) >= 0);
    CHILD_ASSERT(mproc_sem_release(o->sem) == 0);
    CHILD_ASSERT(mproc_event_set(o->event) == 0);
}

/* The parent's side of six_use(), which holds the lock all along. */
static void six_meet(const six *o, mproc_process_t *p)
{
    CU_ASSERT(mproc_barrier_wait(o->barrier, 30) >= 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(o->sem, 30), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_event_is_set(o->event), 1);
    CU_ASSERT_EQUAL(mproc_lock_release(o->lock), 0);
}

/* args: the six references, then a string. */
static void six_as_arguments(const mproc_value_t *args)
{
    six o;
    six_open(args, &o);
    six_use(&o);
    /* The runtime owns them: nothing is destroyed here. */
}
MPROC_TARGET(six_as_arguments)

static void test_references_as_arguments(void)
{
    six o;
    mproc_value_t *args;
    six_create(&o);
    args = six_refs(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    CU_ASSERT_EQUAL(mproc_value_append(args, mproc_value_str("not a ref")), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(o.lock, 0), 0);
    six_meet(&o, harness_start("six_as_arguments", args));
    six_destroy(&o);
}

/*
 * args: a queue and a connection, each of which brings the six references
 * and a string; both copies open to the same objects.
 */
static void six_through_channels(const mproc_value_t *args)
{
    mproc_queue_t *q = NULL;
    mproc_conn_t *c = NULL;
    mproc_value_t *by_queue = NULL, *by_pipe = NULL;
    six o, p;
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 0), &q) == 0);
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 1), &c) == 0);
    CHILD_ASSERT(mproc_queue_get(q, &by_queue, 30) == 0);
    CHILD_ASSERT(mproc_conn_recv(c, &by_pipe) == 0);
    six_open(by_queue, &o);
    six_open(by_pipe, &p);
    CHILD_ASSERT(o.lock == p.lock && o.rlock == p.rlock && o.sem == p.sem &&
                 o.event == p.event && o.cond == p.cond &&
                 o.barrier == p.barrier);
    six_use(&o);
    mproc_value_free(by_queue);
    mproc_value_free(by_pipe);
}
MPROC_TARGET(six_through_channels)

static void test_references_through_a_queue_and_a_pipe(void)
{
    six o;
    mproc_queue_t *q;
    mproc_conn_t *a, *b;
    mproc_value_t *refs;
    mproc_process_t *p;
    six_create(&o);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_lock_acquire(o.lock, 0), 0);
    p = harness_start(
        "six_through_channels",
        mproc_value_list_of(2, mproc_value_queue(q), mproc_value_conn(b)));
    refs = six_refs(&o);
    CU_ASSERT_PTR_NOT_NULL_FATAL(refs);
    CU_ASSERT_EQUAL(mproc_value_append(refs, mproc_value_str("not a ref")), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, refs, 30), 0);
    CU_ASSERT_EQUAL(mproc_conn_send(a, refs), 0);
    mproc_value_free(refs);
    six_meet(&o, p);
    mproc_conn_close(a);
    mproc_conn_close(b);
    mproc_queue_destroy(q);
    six_destroy(&o);
}

static void test_references_in_this_process(void)
{
    six o;
    mproc_lock_t *l = NULL, *again = NULL;
    mproc_value_t *ref, *copy;
    six_create(&o);
    ref = mproc_value_lock(o.lock);
    copy = mproc_value_copy(ref);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(ref), MPROC_REF_LOCK);
    CU_ASSERT_TRUE(mproc_value_equal(ref, copy));
    /* In the creating process too: once per reference, a handle of its own. */
    CU_ASSERT_EQUAL(mproc_value_to_lock(ref, &l), 0);
    CU_ASSERT_PTR_NOT_EQUAL(l, o.lock);
    CU_ASSERT_EQUAL(mproc_value_to_lock(copy, &again), 0);
    CU_ASSERT_PTR_EQUAL(l, again);
    CU_ASSERT_EQUAL(mproc_value_to_rlock(ref, (mproc_rlock_t **) &again),
                    MPROC_ETYPE);
    CU_ASSERT_PTR_NULL(mproc_value_lock(NULL));
    CU_ASSERT_PTR_NULL(
        mproc_value_list_of(2, mproc_value_int(1), mproc_value_barrier(NULL)));
    mproc_value_free(ref);
    mproc_value_free(copy);
    six_destroy(&o);
}

/* args: a map shaped like the old lock reference, then the same again. */
static void user_map_arrives(const mproc_value_t *args)
{
    const mproc_value_t *m = mproc_value_at(args, 0);
    mproc_lock_t *l = NULL;
    CHILD_ASSERT(mproc_value_type(m) == MPROC_VALUE_MAP);
    CHILD_ASSERT(mproc_value_len(m) == 2);
    CHILD_ASSERT(
        strcmp(mproc_value_as_str(mproc_value_get(m, "mproc")), "lock") == 0);
    CHILD_ASSERT(mproc_value_equal(m, mproc_value_at(args, 1)));
    CHILD_ASSERT(mproc_value_to_lock(m, &l) == MPROC_ETYPE);
    CHILD_ASSERT(mproc_lock_import(&l, m) == MPROC_ETYPE);
}
MPROC_TARGET(user_map_arrives)

static void test_user_map_shaped_like_a_reference(void)
{
    mproc_lock_t *l;
    mproc_value_t *m = mproc_value_map(), *args;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    /* The old reference of a real lock, so a guess would open it. */
    {
        mproc_value_t *ref = mproc_value_lock(l);
        const char *name =
            mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0));
        mproc_value_map_set_str(m, "mproc", mproc_value_str("lock"));
        mproc_value_map_set_str(m, "name", mproc_value_str(name));
        mproc_value_free(ref);
    }
    args = mproc_value_list_of(2, m, mproc_value_copy(m));
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    CU_ASSERT_EQUAL(harness_join_code(harness_start("user_map_arrives", args)),
                    0);
    mproc_lock_destroy(l);
}

/* ---- export and import ------------------------------------------------------
 */

static void test_bad_references(void)
{
    mproc_lock_t *l, *l2;
    mproc_event_t *e;
    mproc_value_t *ref, *junk = mproc_value_int(3);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_export(l, &ref), 0);
    CU_ASSERT_EQUAL(mproc_event_import(&e, ref), MPROC_ETYPE);
    CU_ASSERT_PTR_NOT_NULL(strstr(
        mproc_last_error(), "argument is a lock reference, not an event"));
    CU_ASSERT_EQUAL(mproc_lock_import(&l2, junk), MPROC_ETYPE);
    CU_ASSERT_EQUAL(mproc_lock_import(&l2, ref), 0);
    mproc_lock_destroy(l2);
    mproc_lock_destroy(l);
    /* Its last user has let go: the name is gone. */
    CU_ASSERT_EQUAL(mproc_lock_import(&l2, ref), MPROC_ENOTFOUND);
#if !defined(_WIN32)
    {
        char path[128];
        struct stat st;
        snprintf(path, sizeof path, "/dev/shm/%s",
                 mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0)));
        CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);
    }
#endif
    mproc_value_free(ref);
    mproc_value_free(junk);
}

#if !defined(_WIN32)
static void test_fork_only_objects(void)
{
    mproc_sync_opts_t o = {.fork_only = 1};
    mproc_lock_t *l;
    mproc_value_t *ref = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, &o), 0);
    CU_ASSERT_EQUAL(mproc_lock_export(l, &ref), MPROC_EFORKONLY);
    CU_ASSERT_PTR_NULL(ref);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "spawned child"));
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    mproc_lock_destroy(l);
}

/* A fork child uses the parent's fork-only semaphore through memory. */
static mproc_sem_t *g_fork_sem;

static void use_fork_sem(const mproc_value_t *args)
{
    CHILD_ASSERT(mproc_sem_release(g_fork_sem) == 0);
}
MPROC_TARGET(use_fork_sem)

static void test_fork_only_object_in_a_fork_child(void)
{
    mproc_sync_opts_t o = {.fork_only = 1};
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&g_fork_sem, 0, &o), 0);
    CU_ASSERT_EQUAL(harness_join_code(harness_start("use_fork_sem", NULL)), 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(g_fork_sem, 0), 0);
    mproc_sem_destroy(g_fork_sem);
}
#endif

static const harness_test tests[] = {
    {"lock in one process", test_lock_in_one_process, 0},
    {"lock across processes", test_lock_across_processes, 0},
    {"lock of a killed holder is recovered",
     test_lock_of_a_killed_holder_is_recovered, 0},
#if !defined(_WIN32)
    {"lock keeps its path in a child that prefers another",
     test_lock_keeps_its_path_in_a_child_that_prefers_another, 0},
#endif
    {"lock of an ended thread is recovered",
     test_lock_of_an_ended_thread_is_recovered, 0},
    {"objects made in two threads", test_objects_made_in_two_threads, 0},
    {"with lock nested", test_with_lock_nested, 0},
    {"with rlock nested", test_with_rlock_nested, 0},
    {"with lock over a dead holder", test_with_lock_over_a_dead_holder, 0},
    {"lock of a child that returned is recovered",
     test_lock_of_a_child_that_returned_is_recovered, 0},
    {"lock destroyed while held is recovered",
     test_lock_destroyed_while_held_is_recovered, 0},
#if !defined(_WIN32)
    {"lock destroyed while held stays held",
     test_lock_destroyed_while_held_stays_held, 0},
#endif
#if !defined(_WIN32)
    {"lock excludes under contention", test_lock_excludes_under_contention,
     HARNESS_FORK},
    {"locks share the robust list with glibc",
     test_locks_share_the_robust_list_with_glibc, HARNESS_FORK},
#endif
    {"rlock", test_rlock, 0},
    {"semaphores", test_semaphores, 0},
    {"event", test_event, 0},
    {"condition", test_condition, 0},
    {"condition over a lock", test_condition_over_a_lock, 0},
    {"condition waiter killed in wait", test_condition_waiter_killed_in_wait,
     0},
    {"condition waiter killed in wait_for",
     test_condition_waiter_killed_in_wait_for, 0},
    {"barrier", test_barrier, 0},
    {"barrier of one", test_barrier_of_one, 0},
    {"barrier party killed", test_barrier_party_killed, 0},
    {"bad references", test_bad_references, 0},
    {"references in this process", test_references_in_this_process, 0},
    {"references as arguments", test_references_as_arguments, 0},
    {"references through a queue and a pipe",
     test_references_through_a_queue_and_a_pipe, 0},
    {"user map shaped like a reference", test_user_map_shaped_like_a_reference,
     0},
#if !defined(_WIN32)
    {"fork-only objects", test_fork_only_objects, 0},
    {"fork-only object in a fork child", test_fork_only_object_in_a_fork_child,
     HARNESS_FORK},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "sync", tests);
}
