/*
 * Condition, after CPython's Lib/multiprocessing/synchronize.py: three
 * semaphores (sleepers, woken, wait) over its lock, so it works alike on
 * every OS. The algorithm itself is here too, as the condition core that
 * Barrier (barrier.c) runs as well.
 */
#include <string.h>

#include "condition.h"

/* ---- the condition algorithm ---------------------------------------- */

int mproc__cond_core_open(mproc__cond_core_t *c, const mproc__shobj_t *b,
                          unsigned first, int create)
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    int rc;
    memset(c, 0, sizeof *c);
    rc = mproc__os_sem_init(&c->sleeping, mproc__shobj_slot(b, first),
                            mproc__shobj_sub_name(b, "s0", n), 0, 0, create);
    if (rc == 0)
        rc =
            mproc__os_sem_init(&c->woken, mproc__shobj_slot(b, first + 1),
                               mproc__shobj_sub_name(b, "s1", n), 0, 0, create);
    if (rc == 0)
        rc =
            mproc__os_sem_init(&c->wait, mproc__shobj_slot(b, first + 2),
                               mproc__shobj_sub_name(b, "s2", n), 0, 0, create);
    return rc;
}

void mproc__cond_core_close(mproc__cond_core_t *c)
{
    if (c->sleeping != NULL)
        mproc__os_sem_close(c->sleeping);
    if (c->woken != NULL)
        mproc__os_sem_close(c->woken);
    if (c->wait != NULL)
        mproc__os_sem_close(c->wait);
}

/* Whether the calling thread holds @l: 0, or ENOTHELD/ENOTOWNER. */
static int lock_is_mine(const mproc__cond_lock_t *l, unsigned *count)
{
    long me = mproc__os_thread_id();
    if (l->rlock != NULL) {
        if (l->rlock->owner != me || l->rlock->count == 0)
            return mproc__set_error(MPROC_ENOTHELD,
                                    "the condition's lock is not held by the "
                                    "caller");
        *count = l->rlock->count;
        return 0;
    }
    if (!mproc__os_mutex_is_mine(l->mutex))
        return mproc__set_error(MPROC_ENOTHELD,
                                "the condition's lock is not held by the "
                                "caller");
    *count = 1;
    return 0;
}

static void lock_release_n(const mproc__cond_lock_t *l, unsigned n)
{
    while (n-- > 0) {
        if (l->rlock != NULL)
            mproc_rlock_release(l->rlock);
        else
            mproc__os_mutex_unlock(l->mutex);
    }
}

static void lock_acquire_n(const mproc__cond_lock_t *l, unsigned n)
{
    while (n-- > 0) {
        if (l->rlock != NULL)
            mproc_rlock_acquire(l->rlock, MPROC_FOREVER);
        else
            mproc__os_mutex_lock(l->mutex, MPROC_FOREVER);
    }
}

int mproc__cond_core_wait(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                          double timeout)
{
    unsigned count;
    int rc = lock_is_mine(l, &count);
    if (rc != 0)
        return rc;
    /* Announce first, while holding the lock: no notify can miss us. */
    mproc__os_sem_post(c->sleeping);
    lock_release_n(l, count);
    rc = mproc__os_sem_wait(c->wait, timeout);
    mproc__os_sem_post(c->woken);
    lock_acquire_n(l, count);
    return rc;
}

int mproc__cond_core_notify(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                            int n)
{
    unsigned count;
    int sleepers = 0, rc = lock_is_mine(l, &count);
    if (rc != 0)
        return rc;
    /* Waiters that timed out since the last notify are no sleepers. */
    while (mproc__os_sem_wait(c->woken, 0) == 0)
        mproc__os_sem_wait(c->sleeping, 0);
    while (sleepers < n && mproc__os_sem_wait(c->sleeping, 0) == 0) {
        mproc__os_sem_post(c->wait);
        sleepers++;
    }
    if (sleepers > 0) {
        int i;
        for (i = 0; i < sleepers; i++)
            mproc__os_sem_wait(c->woken, MPROC_FOREVER);
        /* A waiter that timed out meanwhile left its token: take it back. */
        while (mproc__os_sem_wait(c->wait, 0) == 0) {
        }
    }
    return 0;
}

int mproc__cond_core_wait_for(mproc__cond_core_t *c,
                              const mproc__cond_lock_t *l,
                              mproc_predicate_fn pred, void *arg,
                              double timeout)
{
    double end = timeout >= 0 ? mproc_monotonic() + timeout : 0;
    int result = pred(arg);
    while (!result) {
        double left = -1;
        int rc;
        if (timeout >= 0) {
            left = end - mproc_monotonic();
            if (left <= 0)
                break;
        }
        rc = mproc__cond_core_wait(c, l, left);
        if (rc != 0 && rc != MPROC_ETIMEDOUT)
            return rc;
        result = pred(arg);
    }
    return result ? 0 : MPROC_ETIMEDOUT;
}

/* ---- Condition ------------------------------------------------------ */

/* The lock travels by name inside the condition's segment. */
typedef struct cond_header {
    mproc__shobj_header_t base;
    char lock_name[MPROC__SHOBJ_NAME_LEN];
    uint32_t lock_is_rlock;
} cond_header;

struct mproc_cond_t {
    mproc__shobj_t base;
    mproc__cond_core_t core;
    mproc__cond_lock_t lock;
    mproc_lock_t *plain; /* the Lock whose mutex lock.mutex is, if any */
    int owns_lock; /* the lock was made (or imported) for this condition */
};

/* Takes on the caller's lock, or makes one, for a new condition. */
static int cond_lock_create(mproc_cond_t *c, const mproc_cond_opts_t *opts)
{
    mproc_sync_opts_t lock_opts = {0};
    int rc;
    if (opts != NULL && opts->lock != NULL) {
        c->plain = opts->lock;
    } else if (opts != NULL && opts->rlock != NULL) {
        c->lock.rlock = opts->rlock;
    } else {
        /* Fork-only as the condition is, which then has no name. */
        lock_opts.fork_only = c->base.name[0] == '\0';
        rc = mproc_rlock_create(&c->lock.rlock, &lock_opts);
        if (rc != 0)
            return rc;
        /* Its own lock goes with the condition, not on its own. */
        mproc__owned_unlink(&c->lock.rlock->lock.base.owned);
        c->owns_lock = 1;
    }
    return 0;
}

/* Opens the lock named in the segment of an existing condition. */
static int cond_lock_open(mproc_cond_t *c)
{
    const cond_header *h = c->base.hdr;
    char lname[MPROC__SHOBJ_NAME_LEN];
    int rc;
    memcpy(lname, h->lock_name, sizeof lname);
    lname[sizeof lname - 1] = '\0';
    if (h->lock_is_rlock)
        rc = mproc__shobj_open((void **) &c->lock.rlock, &mproc__rlock_class,
                               lname);
    else
        rc = mproc__shobj_open((void **) &c->plain, &mproc__lock_class, lname);
    c->owns_lock = rc == 0;
    if (rc == 0)
        mproc__owned_unlink(c->lock.rlock ? &c->lock.rlock->lock.base.owned
                                          : &c->plain->base.owned);
    return rc;
}

/* The base of the condition's lock. */
static const mproc__shobj_t *cond_lock_base(const mproc_cond_t *c)
{
    return c->lock.rlock != NULL ? &c->lock.rlock->lock.base : &c->plain->base;
}

/* @arg: the options of a new condition. */
static int cond_setup(void *obj, int create, const void *arg)
{
    mproc_cond_t *c = obj;
    cond_header *h = c->base.hdr;
    int rc = create ? cond_lock_create(c, arg) : cond_lock_open(c);
    if (rc != 0)
        return rc;
    if (c->plain != NULL)
        c->lock.mutex = c->plain->mutex;
    if (create) {
        memcpy(h->lock_name, cond_lock_base(c)->name, MPROC__SHOBJ_NAME_LEN);
        h->lock_is_rlock = c->lock.rlock != NULL;
    }
    return mproc__cond_core_open(&c->core, &c->base, 0, create);
}

static void cond_teardown(void *obj)
{
    mproc_cond_t *c = obj;
    mproc__cond_core_close(&c->core);
    if (c->owns_lock) {
        mproc_rlock_destroy(c->lock.rlock);
        mproc_lock_destroy(c->plain);
    }
}

static int cond_check_ref(const void *obj)
{
    if (cond_lock_base(obj)->name[0] == '\0')
        return mproc__set_error(MPROC_EFORKONLY,
                                "the condition's lock was created fork-only "
                                "and cannot be passed to a spawned child");
    return 0;
}

static const mproc__shobj_class_t cond_class = {
    .kind = MPROC_REF_COND,
    .obj_size = sizeof(mproc_cond_t),
    .header_size = sizeof(cond_header),
    .slots = 3,
    .setup = cond_setup,
    .teardown = cond_teardown,
    .check_ref = cond_check_ref};

int mproc_cond_create(mproc_cond_t **cond, const mproc_cond_opts_t *opts)
{
    return mproc__shobj_create((void **) cond, &cond_class, 0,
                               opts != NULL && opts->fork_only, opts);
}

int mproc_cond_acquire(mproc_cond_t *c, double timeout)
{
    return c->lock.rlock ? mproc_rlock_acquire(c->lock.rlock, timeout)
                         : mproc_lock_acquire(c->plain, timeout);
}

int mproc_cond_release(mproc_cond_t *c)
{
    return c->lock.rlock ? mproc_rlock_release(c->lock.rlock)
                         : mproc_lock_release(c->plain);
}

int mproc_cond_wait(mproc_cond_t *c, double timeout)
{
    return mproc__cond_core_wait(&c->core, &c->lock, timeout);
}

int mproc_cond_wait_for(mproc_cond_t *c, mproc_predicate_fn pred, void *arg,
                        double timeout)
{
    unsigned count;
    int rc = lock_is_mine(&c->lock, &count);
    if (rc != 0)
        return rc;
    return mproc__cond_core_wait_for(&c->core, &c->lock, pred, arg, timeout);
}

int mproc_cond_notify(mproc_cond_t *c, int n)
{
    return mproc__cond_core_notify(&c->core, &c->lock, n);
}

int mproc_cond_notify_all(mproc_cond_t *c)
{
    return mproc__cond_core_notify(&c->core, &c->lock, 0x7fffffff);
}

void mproc_cond_destroy(mproc_cond_t *c)
{
    mproc__shobj_destroy(c);
}

MPROC__SHOBJ_REFERENCES(cond, cond_class)
