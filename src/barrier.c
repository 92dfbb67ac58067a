/*
 * Barrier, after CPython's threading.Barrier: a plain OS mutex and a
 * condition core (condition.h) in one shared object.
 */
#include <stdio.h>
#include <string.h>

#include "condition.h"

#define ACTION_MAX_LEN 64

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
} barrier_header;

struct mproc_barrier_t {
    mproc__shobj_t base;
    mproc__os_mutex_t *mutex; /* slot 0 */
    mproc__cond_core_t core;  /* slots 1..3 */
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
        rc = mproc__cond_core_open(&b->core, &b->base, 1, create);
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
    .slots = 4,
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

/*
 * Takes the barrier's lock. A process that died holding it may have left
 * the state half-updated: the barrier is then broken, which every waiter
 * is told.
 */
static int barrier_lock(mproc_barrier_t *b)
{
    int rc = mproc__os_mutex_lock(b->mutex, MPROC_FOREVER);
    if (rc == MPROC_OWNERDEAD) {
        bh(b)->state = BROKEN;
        mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
        return 0;
    }
    return rc;
}

static void barrier_break(mproc_barrier_t *b)
{
    bh(b)->state = BROKEN;
    mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
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

int mproc_barrier_wait(mproc_barrier_t *b, double timeout)
{
    volatile int *state = &bh(b)->state;
    unsigned index;
    int rc = barrier_lock(b);
    if (rc != 0)
        return rc;
    if (timeout < 0 && bh(b)->timeout > 0)
        timeout = bh(b)->timeout;
    /* Wait for a previous cycle to drain or a reset to finish. */
    mproc__cond_core_wait_for(&b->core, &b->cl, not_draining, b, MPROC_FOREVER);
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
            mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
        }
    } else {
        int waited =
            mproc__cond_core_wait_for(&b->core, &b->cl, released, b, timeout);
        if (waited == MPROC_ETIMEDOUT) {
            barrier_break(b);
            rc = mproc__set_error(MPROC_EBROKEN,
                                  "the barrier broke: a wait timed out");
        } else if (*state < 0) {
            rc = mproc__set_error(MPROC_EBROKEN, "the barrier is broken");
        }
    }
    /* The last one out of a drained or reset barrier refills it. */
    if (--bh(b)->count == 0 && (*state == RESETTING || *state == DRAINING)) {
        *state = FILLING;
        mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
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
    mproc__cond_core_notify(&b->core, &b->cl, 0x7fffffff);
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
