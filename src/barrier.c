/*
 * Barrier, after CPython's threading.Barrier: a plain OS mutex and a
 * condition core (condition.h) in one shared object. Unlike CPython's, a
 * party that dies while it waits breaks the barrier: its seat in the
 * condition core tells, and the others get MPROC_EBROKEN instead of
 * waiting for it forever.
 */
#include <stdio.h>
#include <string.h>

#include "condition.h"

#define ACTION_MAX_LEN 64

/*
 * How long a party waits before it looks for dead parties again: one that
 * died while nobody else came would otherwise leave the others waiting to
 * their timeouts, or forever.
 */
#define REAP_INTERVAL 0.25

/* ---- Barrier -------------------------------------------------------- */

/*
 * threading.Barrier's algorithm over a plain mutex and a condition core in
 * one segment. States: 0 filling, 1 draining, -1 resetting, -2 broken.
 */
enum { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

typedef struct barrier_header {
    mproc__shobj_header_t base;
    unsigned parties;
    unsigned count; /* callers inside wait() */
    int state;      /* 0 filling, 1 draining, -1 resetting, -2 broken */
    double timeout; /* the default; 0: none */
    char action[ACTION_MAX_LEN];
    mproc__cond_shared_t seats;
} barrier_header;

struct mproc_barrier_t {
    mproc__shobj_t base;
    mproc__os_mutex_t *mutex; /* slot 0 */
    mproc__cond_core_t core;  /* slots 1.. */
    mproc__cond_lock_t cl;    /* the mutex, as the core sees it */
};

/* What a new barrier is made with. */
typedef struct barrier_args {
    unsigned parties;
    const mproc_barrier_opts_t *opts;
} barrier_args;

static barrier_header *bh(const mproc_barrier_t *b)
{
    return b->base.hdr;
}

static int barrier_setup(void *obj, int create, const void *arg)
{
    mproc_barrier_t *b = obj;
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    int rc;
    if (create) {
        const barrier_args *a = arg;
        bh(b)->parties = a->parties;
        if (a->opts != NULL) {
            bh(b)->timeout = a->opts->timeout > 0 ? a->opts->timeout : 0;
            if (a->opts->action != NULL)
                snprintf(bh(b)->action, ACTION_MAX_LEN, "%s", a->opts->action);
        }
    }
    rc = mproc__os_mutex_init(&b->mutex, mproc__shobj_slot(&b->base, 0),
                              mproc__shobj_sub_name(&b->base, "m", n),
                              MPROC__OS_MUTEX_PLAIN, create);
    if (rc == 0)
        rc =
            mproc__cond_core_open(&b->core, &b->base, &bh(b)->seats, 1, create);
    b->cl.mutex = b->mutex;
    return rc;
}

static void barrier_teardown(void *obj)
{
    mproc_barrier_t *b = obj;
    mproc__cond_core_close(&b->core);
    if (b->mutex != NULL)
        mproc__os_mutex_close(b->mutex);
}

static const mproc__shobj_class_t barrier_class = {
    .kind = MPROC_REF_BARRIER,
    .obj_size = sizeof(mproc_barrier_t),
    .header_size = sizeof(barrier_header),
    .slots = 1 + 2 * MPROC__COND_SEATS,
    .setup = barrier_setup,
    .teardown = barrier_teardown};

int mproc_barrier_create(mproc_barrier_t **barrier, unsigned parties,
                         const mproc_barrier_opts_t *opts)
{
    barrier_args a;
    if (parties == 0)
        return mproc__set_error(MPROC_EINVAL, "a barrier needs parties");
    if (opts != NULL && opts->action != NULL &&
        (strlen(opts->action) >= ACTION_MAX_LEN ||
         mproc__target_find(opts->action) == NULL))
        return mproc__set_error(MPROC_ENOTREG,
                                "barrier action '%s' is not a registered "
                                "target",
                                opts->action);
    a.parties = parties;
    a.opts = opts;
    return mproc__shobj_create((void **) barrier, &barrier_class, 0,
                               opts != NULL && opts->fork_only, &a);
}

/* Breaks the barrier for the @dead parties that died inside wait(). */
static void barrier_lose(mproc_barrier_t *b, int dead)
{
    barrier_header *h = bh(b);
    /* Waking the others may find more of the dead. */
    do {
        h->count -= (unsigned) dead < h->count ? (unsigned) dead : h->count;
        h->state = BROKEN;
        dead = mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
    } while (dead > 0);
}

/* Wakes every waiter; a dead one found on the way breaks the barrier. */
static void barrier_notify_all(mproc_barrier_t *b)
{
    int dead = mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
    if (dead > 0)
        barrier_lose(b, dead);
}

static void barrier_break(mproc_barrier_t *b)
{
    bh(b)->state = BROKEN;
    barrier_notify_all(b);
}

/* Breaks the barrier if a party died in its wait. */
static void barrier_reap(mproc_barrier_t *b)
{
    int dead = mproc__cond_core_reap(&b->core);
    if (dead > 0)
        barrier_lose(b, dead);
}

/*
 * Takes the barrier's lock. A process that died holding it may have left
 * the state half-updated: the barrier is then broken, which every waiter
 * is told. So is a party found dead in its wait.
 */
static int barrier_lock(mproc_barrier_t *b)
{
    int rc = mproc__os_mutex_lock(b->mutex, MPROC_FOREVER);
    if (rc < 0)
        return rc;
    if (rc == MPROC_OWNERDEAD)
        barrier_break(b);
    barrier_reap(b);
    return 0;
}

static int not_draining(void *arg)
{
    int s = bh(arg)->state;
    return s != RESETTING && s != DRAINING;
}

static int released(void *arg)
{
    return bh(arg)->state != FILLING;
}

/*
 * Waits under the barrier's lock until @pred holds (0), or until @end (a
 * monotonic time; < 0: none) passes (MPROC_ETIMEDOUT), looking for dead
 * parties now and then.
 */
static int barrier_wait_until(mproc_barrier_t *b, mproc_predicate_fn pred,
                              double end)
{
    while (!pred(b)) {
        double slice = REAP_INTERVAL;
        int rc;
        if (end >= 0) {
            double left = end - mproc_monotonic();
            if (left <= 0)
                return MPROC_ETIMEDOUT;
            if (left < slice)
                slice = left;
        }
        rc = mproc__cond_core_wait(&b->core, &b->cl, slice);
        if (rc < 0 && rc != MPROC_ETIMEDOUT)
            return rc;
        barrier_reap(b);
    }
    return 0;
}

int mproc_barrier_wait(mproc_barrier_t *b, double timeout)
{
    volatile int *state = &bh(b)->state;
    unsigned index;
    double end;
    int rc = barrier_lock(b), waited;
    if (rc != 0)
        return rc;
    if (timeout < 0 && bh(b)->timeout > 0)
        timeout = bh(b)->timeout;
    end = timeout >= 0 ? mproc_monotonic() + timeout : -1;
    /* Wait for a previous cycle to drain or a reset to finish. */
    waited = barrier_wait_until(b, not_draining, end);
    if (waited < 0 && waited != MPROC_ETIMEDOUT) {
        mproc__os_mutex_unlock(b->mutex);
        return waited;
    }
    if (waited == MPROC_ETIMEDOUT) {
        barrier_break(b);
        mproc__os_mutex_unlock(b->mutex);
        return mproc__set_error(MPROC_EBROKEN,
                                "the barrier broke: a wait timed out");
    }
    if (*state < 0) {
        mproc__os_mutex_unlock(b->mutex);
        return mproc__set_error(MPROC_EBROKEN, "the barrier is broken");
    }
    index = bh(b)->count++;
    if (index + 1 == bh(b)->parties) {
        const char *action = bh(b)->action;
        if (action[0] != '\0') {
            mproc_target_fn fn = mproc__target_find(action);
            mproc_value_t *none = mproc_value_list();
            if (fn != NULL && none != NULL)
                fn(none);
            mproc_value_free(none);
            if (fn == NULL) {
                barrier_break(b);
                rc = mproc__set_error(MPROC_EBROKEN,
                                      "barrier action '%s' is not registered "
                                      "in this program",
                                      action);
            }
        }
        if (rc == 0) {
            *state = DRAINING;
            barrier_notify_all(b);
            if (*state < 0)
                rc = mproc__set_error(MPROC_EBROKEN,
                                      "the barrier broke: a party died in "
                                      "its wait");
        }
    } else {
        waited = barrier_wait_until(b, released, end);
        if (waited == MPROC_ETIMEDOUT) {
            barrier_break(b);
            rc = mproc__set_error(MPROC_EBROKEN,
                                  "the barrier broke: a wait timed out");
        } else if (waited < 0) {
            /* No seat: the others cannot be waited with, so it breaks. */
            barrier_break(b);
            rc = waited;
        } else if (*state < 0) {
            rc = mproc__set_error(MPROC_EBROKEN, "the barrier is broken");
        }
    }
    /* The last one out of a drained or reset barrier refills it. */
    if (--bh(b)->count == 0 && (*state == RESETTING || *state == DRAINING)) {
        *state = FILLING;
        barrier_notify_all(b);
    }
    mproc__os_mutex_unlock(b->mutex);
    return rc != 0 ? rc : (int) index;
}

int mproc_barrier_abort(mproc_barrier_t *b)
{
    int rc = barrier_lock(b);
    if (rc != 0)
        return rc;
    barrier_break(b);
    return mproc__os_mutex_unlock(b->mutex);
}

int mproc_barrier_reset(mproc_barrier_t *b)
{
    volatile int *state = &bh(b)->state;
    int rc = barrier_lock(b);
    if (rc != 0)
        return rc;
    if (bh(b)->count > 0) {
        /* Waiters leave with EBROKEN; the last one out refills. */
        if (*state == FILLING || *state == BROKEN)
            *state = RESETTING;
    } else {
        *state = FILLING;
    }
    barrier_notify_all(b);
    return mproc__os_mutex_unlock(b->mutex);
}

unsigned mproc_barrier_parties(const mproc_barrier_t *b)
{
    return bh(b)->parties;
}

unsigned mproc_barrier_n_waiting(mproc_barrier_t *b)
{
    unsigned n = 0;
    if (barrier_lock(b) == 0) {
        if (bh(b)->state == FILLING)
            n = bh(b)->count;
        mproc__os_mutex_unlock(b->mutex);
    }
    return n;
}

int mproc_barrier_broken(mproc_barrier_t *b)
{
    return bh(b)->state == BROKEN;
}

void mproc_barrier_destroy(mproc_barrier_t *b)
{
    mproc__shobj_destroy(b);
}

MPROC__SHOBJ_REFERENCES(barrier, barrier_class)
