/*
 * Locks between the threads of one process.
 *
 * The spin lock is built on the core's atomics, so it needs neither APR
 * (it is used before mproc_main()) nor the platform. The handle lock is an
 * APR thread mutex, APR being the portability substrate for threads: a
 * POSIX mutex on Unix, a Win32 mutex on Windows, both with timeouts.
 */
#include <stdlib.h>

#include <apr_allocator.h>
#include <apr_pools.h>
#include <apr_thread_mutex.h>

#include "atomic.h"
#include "mproc_services.h"
#include "tlock.h"

void mproc__spin_lock(mproc__spin_t *s)
{
    while (mproc__atomic_cas32(&s->held, 0, 1) != 0)
        while (mproc__atomic_load32(&s->held) != 0)
            mproc__os_yield();
}

void mproc__spin_unlock(mproc__spin_t *s)
{
    mproc__atomic_store32(&s->held, 0);
}

void mproc__spin_reset(mproc__spin_t *s)
{
    mproc__atomic_store32(&s->held, 0);
}

/*
 * Fork children count up from 1 (the parent's own count, copied), so a
 * handle lock made before the fork carries an older number and is made
 * again on its first use in the child.
 */
static volatile uint32_t generation;
/* Serialises the making again, so two threads of a child make one. */
static mproc__spin_t remake_lock = MPROC__SPIN_INIT;

struct mproc__hlock {
    /*
     * Unmanaged: a pool of its own, made and destroyed from any thread. Its
     * allocator is made here and owned by the pool; the pointer is kept so
     * that a lock alive at exit is still reachable to a leak checker (APR
     * may keep the pool itself in memory that it maps, which none scans).
     */
    apr_allocator_t *allocator;
    apr_pool_t *pool;
    apr_thread_mutex_t *mutex;
    volatile uint32_t generation;
};

/*
 * APR, initialised here too: a Process object (which has a handle lock) may
 * be made before mproc_main(), as in Python, where only starting it fails.
 * apr_initialize() counts its calls, so mproc_main()'s own is harmless.
 */
static int apr_ready(void)
{
    static mproc__spin_t init_lock = MPROC__SPIN_INIT;
    static int ready;
    int ok;
    mproc__spin_lock(&init_lock);
    if (!ready)
        ready = apr_initialize() == APR_SUCCESS;
    ok = ready;
    mproc__spin_unlock(&init_lock);
    return ok ? 0 : mproc__set_error(MPROC_EOS, "cannot initialise APR");
}

static int make(mproc__hlock_t *h)
{
    if (apr_ready() != 0)
        return MPROC_EOS;
    if (apr_allocator_create(&h->allocator) != APR_SUCCESS)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (apr_pool_create_unmanaged_ex(&h->pool, NULL, h->allocator) !=
        APR_SUCCESS) {
        apr_allocator_destroy(h->allocator);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    apr_allocator_owner_set(h->allocator, h->pool);
    if (apr_thread_mutex_create(&h->mutex, APR_THREAD_MUTEX_TIMED, h->pool) !=
        APR_SUCCESS) {
        apr_pool_destroy(h->pool);
        return mproc__set_error(MPROC_ENOMEM, "cannot make a thread mutex");
    }
    mproc__atomic_store32(&h->generation, mproc__atomic_load32(&generation));
    return 0;
}

int mproc__hlock_create(mproc__hlock_t **out)
{
    mproc__hlock_t *h = calloc(1, sizeof *h);
    int rc;
    if (h == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = make(h);
    if (rc != 0) {
        free(h);
        return rc;
    }
    *out = h;
    return 0;
}

/*
 * In a fork child: the parent's mutex may be held by a thread that is not
 * here, and a held POSIX mutex may not be destroyed, so it is left as it
 * is (its pool with it) and a new one takes its place.
 */
static int remake_after_fork(mproc__hlock_t *h)
{
    int rc = 0;
    mproc__spin_lock(&remake_lock);
    if (mproc__atomic_load32(&h->generation) !=
        mproc__atomic_load32(&generation))
        rc = make(h);
    mproc__spin_unlock(&remake_lock);
    return rc;
}

int mproc__hlock_lock(mproc__hlock_t *h, double timeout)
{
    apr_status_t st;
    if (h == NULL)
        return 0; /* an object that no other thread can reach */
    if (mproc__atomic_load32(&h->generation) !=
            mproc__atomic_load32(&generation) &&
        remake_after_fork(h) != 0)
        return MPROC_ENOMEM;
    if (timeout < 0)
        st = apr_thread_mutex_lock(h->mutex);
    else if (timeout == 0)
        st = apr_thread_mutex_trylock(h->mutex);
    else
        st = apr_thread_mutex_timedlock(h->mutex,
                                        (apr_interval_time_t) (timeout * 1e6));
    return st == APR_SUCCESS ? 0 : MPROC_ETIMEDOUT;
}

void mproc__hlock_unlock(mproc__hlock_t *h)
{
    if (h != NULL)
        apr_thread_mutex_unlock(h->mutex);
}

void mproc__hlock_destroy(mproc__hlock_t *h)
{
    if (h == NULL)
        return;
    if (mproc__atomic_load32(&h->generation) ==
        mproc__atomic_load32(&generation)) {
        apr_thread_mutex_destroy(h->mutex);
        apr_pool_destroy(h->pool);
    }
    free(h);
}

void mproc__tlock_after_fork(void)
{
    mproc__atomic_inc32(&generation);
    mproc__spin_reset(&remake_lock);
}
