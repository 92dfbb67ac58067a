/*
 * Condition, after CPython's Lib/multiprocessing/synchronize.py, but with
 * a seat per waiter (condition.h) so that a waiter killed in its wait
 * never blocks a notifier. The algorithm itself is here too, as the
 * condition core that Barrier (barrier.c) runs as well.
 */
#include <stdio.h>
#include <string.h>

#include "condition.h"

/* ---- the condition algorithm ---------------------------------------- */

enum { SEAT_FREE = 0, SEAT_WAITING = 1, SEAT_NOTIFIED = 2 };

int mproc__cond_core_open(mproc__cond_core_t *c, const mproc__shobj_t *o,
                          mproc__cond_shared_t *sh, unsigned first, int create)
{
    memset(c, 0, sizeof *c);
    c->sh = sh;
    c->obj = o;
    c->first = first;
    /* The seats' OS objects are made and opened as they are first used. */
    if (create)
        memset(sh, 0, sizeof *sh);
    return 0;
}

void mproc__cond_core_close(mproc__cond_core_t *c)
{
    unsigned i;
    for (i = 0; i < MPROC__COND_SEATS; i++) {
        if (c->alive[i] != NULL)
            mproc__os_mutex_close(c->alive[i]);
        if (c->wake[i] != NULL)
            mproc__os_sem_close(c->wake[i]);
        c->alive[i] = NULL;
        c->wake[i] = NULL;
    }
}

/*
 * Opens seat @i's mutex (@sem 0) or semaphore (@sem 1) in this process.
 * The first user of a seat makes its objects (in the slot on Unix); later
 * users open them. On Windows a seat's objects go with their last handle,
 * so one that is gone is made again: a fresh mutex that nobody holds tells
 * the same as an abandoned one, and a fresh semaphore holds no stale token.
 */
static int seat_object(mproc__cond_core_t *c, unsigned i, int sem)
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN], tag[4];
    void *slot = mproc__shobj_slot(c->obj, c->first + 2 * i + (unsigned) sem);
    const char *name;
    int create = !c->sh->made[i], rc = 0, attempt;
    snprintf(tag, sizeof tag, "%c%02x", sem ? 'w' : 'a', i);
    name = mproc__shobj_sub_name(c->obj, tag, n);
    for (attempt = 0; attempt < 3; attempt++) {
        rc = sem ? mproc__os_sem_init(&c->wake[i], slot, name, 0, 0, create)
                 : mproc__os_mutex_init(&c->alive[i], slot, name,
                                        MPROC__OS_MUTEX_PLAIN, create);
        if (rc == MPROC_ENOTFOUND)
            create = 1;
        else if (rc == MPROC_EEXIST)
            create = 0;
        else
            break;
    }
    return rc;
}

/* Opens seat @i's objects in this process if they are not yet open. */
static int seat_open(mproc__cond_core_t *c, unsigned i)
{
    int rc = 0;
    if (c->alive[i] == NULL)
        rc = seat_object(c, i, 0);
    if (rc == 0 && c->wake[i] == NULL)
        rc = seat_object(c, i, 1);
    if (rc == 0)
        c->sh->made[i] = 1;
    return rc;
}

/* Takes up the tokens a dead waiter left in seat @i's semaphore. */
static void seat_drain(mproc__cond_core_t *c, unsigned i)
{
    while (mproc__os_sem_wait(c->wake[i], 0) == 0) {
    }
}

/*
 * Whether the waiter in taken seat @i is gone (1), which frees the seat,
 * or still there (0); < 0 if the seat cannot be opened. A live waiter holds
 * the seat's mutex, so a mutex that can be had has lost its holder.
 */
static int seat_reclaim(mproc__cond_core_t *c, unsigned i)
{
    int rc = seat_open(c, i);
    if (rc != 0)
        return rc;
    if (mproc__os_mutex_lock(c->alive[i], 0) < 0)
        return 0;
    seat_drain(c, i);
    c->sh->state[i] = SEAT_FREE;
    mproc__os_mutex_unlock(c->alive[i]);
    return 1;
}

int mproc__cond_core_reap(mproc__cond_core_t *c)
{
    unsigned i;
    int dead = 0;
    for (i = 0; i < MPROC__COND_SEATS; i++)
        if (c->sh->state[i] != SEAT_FREE && seat_reclaim(c, i) == 1)
            dead++;
    return dead;
}

/* Takes a free seat for the caller, in *@out, and holds its mutex. */
static int seat_take(mproc__cond_core_t *c, unsigned *out)
{
    mproc__cond_shared_t *sh = c->sh;
    int pass;
    for (pass = 0; pass < 2; pass++) {
        unsigned i;
        for (i = 0; i < MPROC__COND_SEATS; i++) {
            int rc;
            if (sh->state[i] != SEAT_FREE)
                continue;
            rc = seat_open(c, i);
            if (rc != 0)
                return rc;
            /* Free seats are not held; a dead holder's is ours all the same. */
            if (mproc__os_mutex_lock(c->alive[i], 0) < 0)
                continue;
            seat_drain(c, i);
            sh->state[i] = SEAT_WAITING;
            sh->seq[i] = sh->next_seq++;
            *out = i;
            return 0;
        }
        /* Every seat is taken: some may be a dead waiter's. */
        if (mproc__cond_core_reap(c) == 0)
            break;
    }
    return mproc__set_error(MPROC_ETOOMANY,
                            "more than %d processes and threads would wait "
                            "on this condition or barrier at once",
                            MPROC__COND_SEATS);
}

/* Whether the calling thread holds @l: 0, or ENOTHELD/ENOTOWNER. */
static int lock_is_mine(const mproc__cond_lock_t *l, unsigned *count)
{
    long me = mproc__os_thread_id();
    if (l->rlock != NULL) {
        if (!mproc__rlock_owned_by(l->rlock, me) || l->rlock->count == 0)
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
    unsigned count, i = 0;
    int rc = lock_is_mine(l, &count);
    if (rc != 0)
        return rc;
    /* Seated while holding the lock: no notify can miss us. */
    rc = seat_take(c, &i);
    if (rc != 0)
        return rc;
    lock_release_n(l, count);
    rc = mproc__os_sem_wait(c->wake[i], timeout);
    lock_acquire_n(l, count);
    /* A notify that came as the wait timed out left its token: it counts. */
    if (c->sh->state[i] == SEAT_NOTIFIED) {
        if (rc != 0)
            seat_drain(c, i);
        rc = 0;
    }
    c->sh->state[i] = SEAT_FREE;
    mproc__os_mutex_unlock(c->alive[i]);
    return rc;
}

int mproc__cond_core_notify(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                            int n)
{
    mproc__cond_shared_t *sh = c->sh;
    unsigned count;
    int woken = 0, dead = 0, rc = lock_is_mine(l, &count);
    if (rc != 0)
        return rc;
    while (woken < n) {
        unsigned i, oldest = MPROC__COND_SEATS;
        uint32_t age = 0;
        for (i = 0; i < MPROC__COND_SEATS; i++)
            if (sh->state[i] == SEAT_WAITING &&
                (oldest == MPROC__COND_SEATS ||
                 (uint32_t) (sh->next_seq - sh->seq[i]) > age)) {
                oldest = i;
                age = sh->next_seq - sh->seq[i];
            }
        if (oldest == MPROC__COND_SEATS)
            break;
        rc = seat_reclaim(c, oldest);
        if (rc < 0)
            return rc;
        if (rc == 1) {
            dead++;
            continue;
        }
        sh->state[oldest] = SEAT_NOTIFIED;
        rc = mproc__os_sem_post(c->wake[oldest]);
        if (rc < 0)
            return rc;
        woken++;
    }
    return dead;
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
        if (rc < 0 && rc != MPROC_ETIMEDOUT)
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
    mproc__cond_shared_t seats;
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
    return mproc__cond_core_open(&c->core, &c->base, &h->seats, 0, create);
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
    .slots = 2 * MPROC__COND_SEATS,
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
    int rc = mproc__cond_core_notify(&c->core, &c->lock, n);
    /* Dead waiters skipped are the condition's business, not the caller's. */
    return rc < 0 ? rc : 0;
}

int mproc_cond_notify_all(mproc_cond_t *c)
{
    return mproc_cond_notify(c, 0x7fffffff);
}

void mproc_cond_destroy(mproc_cond_t *c)
{
    mproc__shobj_destroy(c);
}

MPROC__SHOBJ_REFERENCES(cond, cond_class)
