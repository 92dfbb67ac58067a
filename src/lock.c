/*
 * Lock, RLock, Semaphore and Event: the synchronization objects that are
 * the OS's own, shared between processes.
 *
 * Every object is a shared object (shared_object.h): a segment whose
 * header carries the object's own state, followed by slots for the OS
 * objects (platform/mproc_os.h). A named object can be reopened by name in
 * any process: its reference (mproc_value_lock() and the like) is a value
 * of kind MPROC_VALUE_REF whose field is the name, and opening it maps the
 * segment and the OS objects again. A fork-only object has no name and has
 * no reference.
 *
 * Lock and RLock are OS mutexes, Semaphore and Event OS semaphores and
 * events. Condition (condition.c) and Barrier (barrier.c) are algorithms
 * over these.
 *
 * The OS knows who holds a Lock; how often an RLock is held is kept in the
 * calling process's handle, since no OS tells it cheaply.
 */

#include "lock.h"

/* Creates an object of @cls, fork-only if @opts say so. */
static int sync_create(void **out, const mproc__shobj_class_t *cls,
                       const mproc_sync_opts_t *opts, const void *arg)
{
    return mproc__shobj_create(out, cls, 0, opts != NULL && opts->fork_only,
                               arg);
}

/* ---- Lock ----------------------------------------------------------- */

/*
 * The mutex of a Lock or an RLock (which starts with its Lock), in slot 0;
 * the class tells which kind of mutex.
 */
static int mutex_setup(void *obj, int create, const void *arg)
{
    mproc_lock_t *l = obj;
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    (void) arg;
    return mproc__os_mutex_init(&l->mutex, mproc__shobj_slot(&l->base, 0),
                                mproc__shobj_sub_name(&l->base, "m", n),
                                l->base.cls == &mproc__rlock_class
                                    ? MPROC__OS_MUTEX_RECURSIVE
                                    : MPROC__OS_MUTEX_PLAIN,
                                create);
}

static void mutex_teardown(void *obj)
{
    mproc_lock_t *l = obj;
    if (l->mutex != NULL)
        mproc__os_mutex_close(l->mutex);
}

const mproc__shobj_class_t mproc__lock_class = {
    .kind = MPROC_REF_LOCK,
    .obj_size = sizeof(mproc_lock_t),
    .header_size = sizeof(mproc__shobj_header_t),
    .slots = 1,
    .setup = mutex_setup,
    .teardown = mutex_teardown};

int mproc_lock_create(mproc_lock_t **lock, const mproc_sync_opts_t *opts)
{
    return sync_create((void **) lock, &mproc__lock_class, opts, NULL);
}

/*
 * The fast paths are the OS mutex itself: the OS knows the holder, rejects
 * a relock and a release by anyone else, and reports a dead holder.
 */
int mproc_lock_acquire(mproc_lock_t *l, double timeout)
{
    return mproc__os_mutex_lock(l->mutex, timeout);
}

int mproc_lock_release(mproc_lock_t *l)
{
    return mproc__os_mutex_unlock(l->mutex);
}

/*
 * The OS mutex has no "peek", so a poll stands in for one: a poll that
 * gets the mutex gives it straight back. A dead holder's mutex is taken
 * (MPROC_OWNERDEAD) and released by that poll, which is the recovery any
 * acquire would make.
 */
static int mutex_locked(mproc__os_mutex_t *m)
{
    int rc;
    if (mproc__os_mutex_is_mine(m))
        return 1;
    rc = mproc__os_mutex_lock(m, 0);
    if (rc == MPROC_ETIMEDOUT)
        return 1;
    if (rc < 0)
        return rc;
    mproc__os_mutex_unlock(m);
    return 0;
}

int mproc_lock_locked(mproc_lock_t *l)
{
    if (l == NULL)
        return mproc__set_error(MPROC_EINVAL, "no lock");
    return mutex_locked(l->mutex);
}

void mproc_lock_destroy(mproc_lock_t *l)
{
    mproc__shobj_destroy(l);
}

MPROC__SHOBJ_REFERENCES(lock, mproc__lock_class)

/* ---- RLock ---------------------------------------------------------- */

const mproc__shobj_class_t mproc__rlock_class = {
    .kind = MPROC_REF_RLOCK,
    .obj_size = sizeof(mproc_rlock_t),
    .header_size = sizeof(mproc__shobj_header_t),
    .slots = 1,
    .setup = mutex_setup,
    .teardown = mutex_teardown};

int mproc_rlock_create(mproc_rlock_t **rlock, const mproc_sync_opts_t *opts)
{
    return sync_create((void **) rlock, &mproc__rlock_class, opts, NULL);
}

int mproc_rlock_acquire(mproc_rlock_t *r, double timeout)
{
    long me = mproc__os_thread_id();
    int rc;
    if (mproc__rlock_owned_by(r, me)) {
        r->count++;
        return 0;
    }
    rc = mproc__os_mutex_lock(r->lock.mutex, timeout);
    /* MPROC_OWNERDEAD (> 0) means held too. */
    if (rc >= 0) {
        mproc__atomic_store64(&r->owner, (uint64_t) me);
        r->count = 1;
    }
    return rc;
}

int mproc_rlock_release(mproc_rlock_t *r)
{
    if (!mproc__rlock_owned_by(r, mproc__os_thread_id())) {
        int rc = mproc__os_mutex_unlock(r->lock.mutex);
        if (rc == 0) {
            /* Held through another handle of this process: undo nothing. */
            mproc__os_mutex_lock(r->lock.mutex, MPROC_FOREVER);
            return mproc__set_error(MPROC_ENOTOWNER,
                                    "the rlock was acquired through another "
                                    "handle");
        }
        return rc;
    }
    /* The OS mutex is held once; the recursion is counted here. */
    if (--r->count > 0)
        return 0;
    mproc__atomic_store64(&r->owner, 0);
    return mproc__os_mutex_unlock(r->lock.mutex);
}

int mproc_rlock_locked(mproc_rlock_t *r)
{
    if (r == NULL)
        return mproc__set_error(MPROC_EINVAL, "no rlock");
    if (mproc__rlock_owned_by(r, mproc__os_thread_id()))
        return 1;
    return mutex_locked(r->lock.mutex);
}

void mproc_rlock_destroy(mproc_rlock_t *r)
{
    mproc__shobj_destroy(r);
}

MPROC__SHOBJ_REFERENCES(rlock, mproc__rlock_class)

/* ---- Semaphore ------------------------------------------------------ */

typedef struct sem_header {
    mproc__shobj_header_t base;
    unsigned value, max; /* the initial value and the bound (0: none) */
} sem_header;

struct mproc_sem_t {
    mproc__shobj_t base;
    mproc__os_sem_t *sem;
};

/* @arg: the initial value and the bound of a new semaphore. */
static int sem_setup(void *obj, int create, const void *arg)
{
    mproc_sem_t *s = obj;
    sem_header *h = s->base.hdr;
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    if (create) {
        h->value = ((const unsigned *) arg)[0];
        h->max = ((const unsigned *) arg)[1];
    }
    return mproc__os_sem_init(&s->sem, mproc__shobj_slot(&s->base, 0),
                              mproc__shobj_sub_name(&s->base, "s", n), h->value,
                              h->max, create);
}

static void sem_teardown(void *obj)
{
    mproc_sem_t *s = obj;
    if (s->sem != NULL)
        mproc__os_sem_close(s->sem);
}

static const mproc__shobj_class_t sem_class = {.kind = MPROC_REF_SEM,
                                               .obj_size = sizeof(mproc_sem_t),
                                               .header_size =
                                                   sizeof(sem_header),
                                               .slots = 1,
                                               .setup = sem_setup,
                                               .teardown = sem_teardown};

static int sem_create(mproc_sem_t **sem, unsigned value, unsigned max,
                      const mproc_sync_opts_t *opts)
{
    unsigned arg[2];
    if (value > 0x7fffffffu)
        return mproc__set_error(MPROC_ERANGE, "semaphore value too large");
    arg[0] = value;
    arg[1] = max;
    return sync_create((void **) sem, &sem_class, opts, arg);
}

int mproc_sem_create(mproc_sem_t **sem, unsigned value,
                     const mproc_sync_opts_t *opts)
{
    return sem_create(sem, value, 0, opts);
}

int mproc_bounded_sem_create(mproc_sem_t **sem, unsigned value,
                             const mproc_sync_opts_t *opts)
{
    if (value == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a bounded semaphore needs a positive value");
    return sem_create(sem, value, value, opts);
}

int mproc_sem_acquire(mproc_sem_t *s, double timeout)
{
    return mproc__os_sem_wait(s->sem, timeout);
}

int mproc_sem_release(mproc_sem_t *s)
{
    int rc = mproc__os_sem_post(s->sem);
    if (rc == MPROC_ETOOMANY)
        return mproc__set_error(rc,
                                "bounded semaphore released too many "
                                "times (its bound is %u)",
                                ((sem_header *) s->base.hdr)->max);
    return rc;
}

int mproc_sem_value(mproc_sem_t *s, int *value)
{
    return mproc__os_sem_value(s->sem, value);
}

void mproc_sem_destroy(mproc_sem_t *s)
{
    mproc__shobj_destroy(s);
}

MPROC__SHOBJ_REFERENCES(sem, sem_class)

/* ---- Event ---------------------------------------------------------- */

struct mproc_event_t {
    mproc__shobj_t base;
    mproc__os_event_t *event;
};

static int event_setup(void *obj, int create, const void *arg)
{
    mproc_event_t *e = obj;
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    (void) arg;
    return mproc__os_event_init(&e->event, mproc__shobj_slot(&e->base, 0),
                                mproc__shobj_sub_name(&e->base, "e", n),
                                create);
}

static void event_teardown(void *obj)
{
    mproc_event_t *e = obj;
    if (e->event != NULL)
        mproc__os_event_close(e->event);
}

static const mproc__shobj_class_t event_class = {
    .kind = MPROC_REF_EVENT,
    .obj_size = sizeof(mproc_event_t),
    .header_size = sizeof(mproc__shobj_header_t),
    .slots = 1,
    .setup = event_setup,
    .teardown = event_teardown};

int mproc_event_create(mproc_event_t **event, const mproc_sync_opts_t *opts)
{
    return sync_create((void **) event, &event_class, opts, NULL);
}

int mproc_event_set(mproc_event_t *e)
{
    return mproc__os_event_set(e->event);
}

int mproc_event_clear(mproc_event_t *e)
{
    return mproc__os_event_clear(e->event);
}

int mproc_event_is_set(mproc_event_t *e)
{
    return mproc__os_event_is_set(e->event);
}

int mproc_event_wait(mproc_event_t *e, double timeout)
{
    return mproc__os_event_wait(e->event, timeout);
}

void mproc_event_destroy(mproc_event_t *e)
{
    mproc__shobj_destroy(e);
}

MPROC__SHOBJ_REFERENCES(event, event_class)
