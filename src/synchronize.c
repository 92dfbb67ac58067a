/*
 * Synchronization objects shared between processes.
 *
 * Every object is a shared segment: a header (kind, users, the object's
 * own state) followed by slots for the OS objects (platform/mproc_os.h).
 * A named object can be reopened by name in any process: its reference
 * (mproc_value_lock() and the like) is a value of kind MPROC_VALUE_REF whose
 * field is the name, and opening it maps the segment and the OS objects
 * again. A fork-only object has no name and has no reference.
 *
 * Lock and RLock are OS mutexes, Semaphore and Event OS semaphores and
 * events. Condition and Barrier follow CPython's synchronize.py and
 * threading.py: a condition is three semaphores (sleepers, woken, wait)
 * over its lock, so it works alike on every OS.
 *
 * The OS knows who holds a Lock; how often an RLock is held is kept in the
 * calling process's handle, since no OS tells it cheaply.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "mproc_private.h"

#define SYNC_MAGIC 0x4d505359u /* "MPSY" */
#define SLOT MPROC__OS_SYNC_SLOT
#define NAME_MAX_LEN 32
#define ACTION_MAX_LEN 64

/* The kind stored in a segment is the kind of the object's references. */
typedef enum sync_kind {
    KIND_LOCK = MPROC_REF_LOCK,
    KIND_RLOCK = MPROC_REF_RLOCK,
    KIND_SEM = MPROC_REF_SEM,
    KIND_EVENT = MPROC_REF_EVENT,
    KIND_COND = MPROC_REF_COND,
    KIND_BARRIER = MPROC_REF_BARRIER
} sync_kind;

static const char *const kind_names[] = {"",      "lock", "rlock",  "sem",
                                         "event", "cond", "barrier"};

/* The start of every segment; kind-specific state follows in the union. */
typedef struct sync_header {
    uint32_t magic;
    uint32_t kind;
    volatile uint32_t users; /* processes with an open handle */
    uint32_t pad;
    union {
        struct {
            unsigned value, max;
        } sem;
        struct {
            char lock_name[NAME_MAX_LEN]; /* the condition's lock */
            uint32_t lock_is_rlock;
        } cond;
        struct {
            unsigned parties;
            unsigned count; /* callers inside wait() */
            int state;      /* 0 filling, 1 draining, -1 resetting, -2 broken */
            double timeout; /* the default; 0: none */
            char action[ACTION_MAX_LEN];
        } barrier;
    } u;
} sync_header;

/* The header takes whole slots so that the OS objects stay aligned. */
#define HEADER_SLOTS ((sizeof(sync_header) + SLOT - 1) / SLOT)
#define SLOT_AT(hdr, i) ((char *) (hdr) + (HEADER_SLOTS + (i)) * SLOT)

/* What every object has: its segment and its name ("" if fork-only). */
typedef struct sync_base {
    mproc__os_shm_t *shm;
    sync_header *hdr;
    char name[NAME_MAX_LEN];
    mproc__owned_t owned; /* released at exit if still open */
} sync_base;

/* ---- segments ------------------------------------------------------- */

/*
 * Whether a fork-only object can be made here: it is shared through the
 * memory that fork copies, so only where fork exists.
 */
int mproc__check_fork_only(const char *what)
{
    if (mproc__os_can_fork())
        return 0;
    return mproc__set_error(MPROC_ENOTSUP,
                            "a fork-only %s needs the fork start method, "
                            "which this platform lacks; create it without "
                            ".fork_only",
                            what);
}

/*
 * The name of OS object @tag of the object (the Windows backend names its
 * kernel objects so): "mproc-<16 hex>.<tag>", within the 31 characters.
 */
#define SUB_NAME_LEN (NAME_MAX_LEN + 8)
static const char *sub_name(const sync_base *b, const char *tag, char *buf)
{
    if (b->name[0] == '\0')
        return NULL;
    snprintf(buf, SUB_NAME_LEN, "%.22s.%.3s", b->name, tag);
    return buf;
}

/* Creates a segment of @size bytes, named at random into @name. */
int mproc__shm_create_named(mproc__os_shm_t **shm, char *name, size_t size)
{
    int rc, attempt;
    /* A random name; a clash is astronomically rare but retried. */
    for (attempt = 0;; attempt++) {
        unsigned char r[8];
        int i;
        mproc__random_bytes(r, sizeof r);
        memcpy(name, "mproc-", 6);
        for (i = 0; i < 8; i++)
            snprintf(name + 6 + 2 * i, 3, "%02x", r[i]);
        rc = mproc__os_shm_create(shm, name, size);
        if (rc != MPROC_EEXIST || attempt == 100)
            return rc;
    }
}

static int base_create(sync_base *b, sync_kind kind, int slots, int fork_only)
{
    size_t size = (HEADER_SLOTS + (size_t) slots) * SLOT;
    int rc;
    memset(b, 0, sizeof *b);
    if (fork_only) {
        rc = mproc__check_fork_only(kind_names[kind]);
        if (rc == 0)
            rc = mproc__os_shm_create(&b->shm, NULL, size);
    } else {
        rc = mproc__shm_create_named(&b->shm, b->name, size);
        if (rc == 0) {
            rc = mproc__os_track(b->name);
            if (rc != 0) {
                mproc__os_shm_close(b->shm);
                mproc__os_shm_unlink(b->name);
            }
        }
    }
    if (rc != 0)
        return rc;
    b->hdr = mproc__os_shm_addr(b->shm);
    b->hdr->magic = SYNC_MAGIC;
    b->hdr->kind = (uint32_t) kind;
    b->hdr->users = 1;
    return 0;
}

/* Lets go of the segment; the last user removes the name. */
static void base_close(sync_base *b)
{
    int last;
    if (b->shm == NULL)
        return;
    last = mproc__atomic_dec32(&b->hdr->users) == 0;
    mproc__os_shm_close(b->shm);
    b->shm = NULL;
    if (b->name[0] != '\0') {
        if (last)
            mproc__os_shm_unlink(b->name);
        mproc__os_untrack(b->name);
    }
}

/* Frees object @obj, whose OS objects are closed, and lets go of its segment.
 */
static void base_destroy(void *obj)
{
    sync_base *b = obj;
    mproc__ref_cache_forget(obj);
    mproc__owned_unlink(&b->owned);
    base_close(b);
    free(b);
}

/* The reference of the object of @b, in *@ref. */
static int base_ref(const sync_base *b, sync_kind kind, mproc_value_t **ref)
{
    *ref = NULL;
    if (b->name[0] == '\0')
        return mproc__set_error(MPROC_EFORKONLY,
                                "this %s was created fork-only: it lives in "
                                "anonymous memory that only fork children "
                                "share, so it cannot be passed to a spawned "
                                "child; create it without .fork_only",
                                kind_names[kind]);
    *ref = mproc__ref_new((mproc_ref_kind_e) kind,
                          mproc_value_list_of(1, mproc_value_str(b->name)));
    return *ref != NULL ? 0 : MPROC_ENOMEM;
}

/* The name that reference @ref of an object of @kind carries. */
static int ref_name(const mproc_value_t *ref, sync_kind kind, const char **name)
{
    int rc = mproc__ref_expect(ref, (mproc_ref_kind_e) kind);
    if (rc != 0)
        return rc;
    *name = mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0));
    return 0;
}

static int open_named(sync_base *b, sync_kind kind, const char *name, int slots)
{
    size_t size = (HEADER_SLOTS + (size_t) slots) * SLOT;
    int rc;
    memset(b, 0, sizeof *b);
    if (name == NULL || strlen(name) >= NAME_MAX_LEN ||
        strncmp(name, "mproc-", 6) != 0)
        return mproc__set_error(MPROC_EINVAL, "not the name of an mproc %s",
                                kind_names[kind]);
    snprintf(b->name, sizeof b->name, "%s", name);
    rc = mproc__os_shm_open(&b->shm, b->name, size);
    if (rc != 0)
        return rc;
    b->hdr = mproc__os_shm_addr(b->shm);
    if (b->hdr->magic != SYNC_MAGIC || b->hdr->kind != (uint32_t) kind) {
        mproc__os_shm_close(b->shm);
        b->shm = NULL;
        return mproc__set_error(MPROC_EINVAL, "'%s' is not an mproc %s", name,
                                kind_names[kind]);
    }
    rc = mproc__os_track(b->name);
    if (rc != 0) {
        mproc__os_shm_close(b->shm);
        b->shm = NULL;
        return rc;
    }
    mproc__atomic_inc32(&b->hdr->users);
    return 0;
}

/*
 * Makes an object of @size bytes whose first member is its sync_base:
 * creates its segment (@name NULL) or opens the one named @name, lets
 * @prepare fill a new header, opens the OS objects, and registers it for
 * release at exit.
 */
static int sync_new(void **out, size_t size, sync_kind kind, int slots,
                    int fork_only, const char *name,
                    int (*open_os)(void *obj, int create),
                    void (*prepare)(sync_header *h, const unsigned *arg),
                    const unsigned *arg, void (*release)(void *obj))
{
    sync_base *b = calloc(1, size);
    int rc;
    if (b == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = name != NULL ? open_named(b, kind, name, slots)
                      : base_create(b, kind, slots, fork_only);
    if (rc == 0 && name == NULL && prepare != NULL)
        prepare(b->hdr, arg);
    if (rc == 0) {
        rc = open_os(b, name == NULL);
        if (rc != 0)
            base_close(b);
    }
    if (rc != 0) {
        free(b);
        return rc;
    }
    mproc__owned_link(&b->owned, release, b);
    *out = b;
    return 0;
}

static int fork_only_of(const mproc_sync_opts_t *opts)
{
    return opts != NULL && opts->fork_only;
}

/* What mproc__owned_t calls at exit for an object left open. */
static void release_lock(void *obj);
static void release_rlock(void *obj);
static void release_sem(void *obj);
static void release_event(void *obj);
static void release_cond(void *obj);
static void release_barrier(void *obj);

/*
 * What every kind has on the reference side: the value constructor, the
 * receiving accessor that imports once per reference and leaves the object
 * to the runtime, and export/import as wrappers. @T is the kind's name in
 * the API; T##_ref gives the reference, T##_open opens a new handle.
 */
#define SYNC_REFERENCES(T, KIND)                                               \
    mproc_value_t *mproc_value_##T(const mproc_##T##_t *obj)                   \
    {                                                                          \
        mproc_value_t *ref = NULL;                                             \
        if (obj == NULL) {                                                     \
            mproc__set_error(MPROC_EINVAL, "no %s to refer to",                \
                             kind_names[KIND]);                                \
            return NULL;                                                       \
        }                                                                      \
        return T##_ref(obj, &ref) == 0 ? ref : NULL;                           \
    }                                                                          \
    int mproc_##T##_export(const mproc_##T##_t *obj, mproc_value_t **ref)      \
    {                                                                          \
        return T##_ref(obj, ref);                                              \
    }                                                                          \
    int mproc_##T##_import(mproc_##T##_t **out, const mproc_value_t *ref)      \
    {                                                                          \
        const char *name;                                                      \
        int rc = ref_name(ref, KIND, &name);                                   \
        return rc != 0 ? rc : T##_open(out, name);                             \
    }                                                                          \
    static int T##_open_ref(const mproc_value_t *ref, void **obj)              \
    {                                                                          \
        mproc_##T##_t *o = NULL;                                               \
        int rc = mproc_##T##_import(&o, ref);                                  \
        *obj = o;                                                              \
        return rc;                                                             \
    }                                                                          \
    int mproc_value_to_##T(const mproc_value_t *v, mproc_##T##_t **out)        \
    {                                                                          \
        void *obj = NULL;                                                      \
        int rc = mproc__ref_open_once(v, (mproc_ref_kind_e) KIND,              \
                                      T##_open_ref, release_##T, &obj);        \
        if (rc == 0)                                                           \
            *out = obj;                                                        \
        return rc;                                                             \
    }

/* ---- Lock ----------------------------------------------------------- */

struct mproc_lock_t {
    sync_base base;
    mproc__os_mutex_t *mutex;
};

static int lock_open_os(void *obj, int create)
{
    mproc_lock_t *l = obj;
    char n[SUB_NAME_LEN];
    return mproc__os_mutex_init(&l->mutex, SLOT_AT(l->base.hdr, 0),
                                sub_name(&l->base, "m", n),
                                MPROC__OS_MUTEX_PLAIN, create);
}

int mproc_lock_create(mproc_lock_t **lock, const mproc_sync_opts_t *opts)
{
    return sync_new((void **) lock, sizeof **lock, KIND_LOCK, 1,
                    fork_only_of(opts), NULL, lock_open_os, NULL, NULL,
                    release_lock);
}

static int lock_open(mproc_lock_t **lock, const char *name)
{
    return sync_new((void **) lock, sizeof **lock, KIND_LOCK, 1, 0, name,
                    lock_open_os, NULL, NULL, release_lock);
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

void mproc_lock_destroy(mproc_lock_t *l)
{
    if (l == NULL)
        return;
    mproc__os_mutex_close(l->mutex);
    base_destroy(l);
}

static int lock_ref(const mproc_lock_t *l, mproc_value_t **ref)
{
    return base_ref(&l->base, KIND_LOCK, ref);
}

SYNC_REFERENCES(lock, KIND_LOCK)

/* ---- RLock ---------------------------------------------------------- */

struct mproc_rlock_t {
    sync_base base;
    mproc__os_mutex_t *mutex;
    volatile long owner; /* the thread of this process that owns it, or 0 */
    unsigned count;      /* how often the owner holds it */
};

static int rlock_open_os(void *obj, int create)
{
    mproc_rlock_t *r = obj;
    char n[SUB_NAME_LEN];
    return mproc__os_mutex_init(&r->mutex, SLOT_AT(r->base.hdr, 0),
                                sub_name(&r->base, "m", n),
                                MPROC__OS_MUTEX_RECURSIVE, create);
}

int mproc_rlock_create(mproc_rlock_t **rlock, const mproc_sync_opts_t *opts)
{
    return sync_new((void **) rlock, sizeof **rlock, KIND_RLOCK, 1,
                    fork_only_of(opts), NULL, rlock_open_os, NULL, NULL,
                    release_rlock);
}

static int rlock_open(mproc_rlock_t **rlock, const char *name)
{
    return sync_new((void **) rlock, sizeof **rlock, KIND_RLOCK, 1, 0, name,
                    rlock_open_os, NULL, NULL, release_rlock);
}

int mproc_rlock_acquire(mproc_rlock_t *r, double timeout)
{
    long me = mproc__os_thread_id();
    int rc;
    if (r->owner == me) {
        r->count++;
        return 0;
    }
    rc = mproc__os_mutex_lock(r->mutex, timeout);
    /* MPROC_OWNERDEAD (> 0) means held too. */
    if (rc >= 0) {
        r->owner = me;
        r->count = 1;
    }
    return rc;
}

int mproc_rlock_release(mproc_rlock_t *r)
{
    if (r->owner != mproc__os_thread_id()) {
        int rc = mproc__os_mutex_unlock(r->mutex);
        if (rc == 0) {
            /* Held through another handle of this process: undo nothing. */
            mproc__os_mutex_lock(r->mutex, MPROC_FOREVER);
            return mproc__set_error(MPROC_ENOTOWNER,
                                    "the rlock was acquired through another "
                                    "handle");
        }
        return rc;
    }
    /* The OS mutex is held once; the recursion is counted here. */
    if (--r->count > 0)
        return 0;
    r->owner = 0;
    return mproc__os_mutex_unlock(r->mutex);
}

void mproc_rlock_destroy(mproc_rlock_t *r)
{
    if (r == NULL)
        return;
    mproc__os_mutex_close(r->mutex);
    base_destroy(r);
}

static int rlock_ref(const mproc_rlock_t *r, mproc_value_t **ref)
{
    return base_ref(&r->base, KIND_RLOCK, ref);
}

SYNC_REFERENCES(rlock, KIND_RLOCK)

/* ---- Semaphore ------------------------------------------------------ */

struct mproc_sem_t {
    sync_base base;
    mproc__os_sem_t *sem;
};

static int sem_open_os(void *obj, int create)
{
    mproc_sem_t *s = obj;
    char n[SUB_NAME_LEN];
    return mproc__os_sem_init(
        &s->sem, SLOT_AT(s->base.hdr, 0), sub_name(&s->base, "s", n),
        s->base.hdr->u.sem.value, s->base.hdr->u.sem.max, create);
}

/* arg: the initial value and the bound (0: none). */
static void sem_prepare(sync_header *h, const unsigned *arg)
{
    h->u.sem.value = arg[0];
    h->u.sem.max = arg[1];
}

static int sem_create(mproc_sem_t **sem, unsigned value, unsigned max,
                      const mproc_sync_opts_t *opts)
{
    unsigned arg[2];
    if (value > 0x7fffffffu)
        return mproc__set_error(MPROC_ERANGE, "semaphore value too large");
    arg[0] = value;
    arg[1] = max;
    return sync_new((void **) sem, sizeof **sem, KIND_SEM, 1,
                    fork_only_of(opts), NULL, sem_open_os, sem_prepare, arg,
                    release_sem);
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

static int sem_open(mproc_sem_t **sem, const char *name)
{
    return sync_new((void **) sem, sizeof **sem, KIND_SEM, 1, 0, name,
                    sem_open_os, NULL, NULL, release_sem);
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
                                s->base.hdr->u.sem.max);
    return rc;
}

int mproc_sem_value(mproc_sem_t *s, int *value)
{
    return mproc__os_sem_value(s->sem, value);
}

void mproc_sem_destroy(mproc_sem_t *s)
{
    if (s == NULL)
        return;
    mproc__os_sem_close(s->sem);
    base_destroy(s);
}

static int sem_ref(const mproc_sem_t *s, mproc_value_t **ref)
{
    return base_ref(&s->base, KIND_SEM, ref);
}

SYNC_REFERENCES(sem, KIND_SEM)

/* ---- Event ---------------------------------------------------------- */

struct mproc_event_t {
    sync_base base;
    mproc__os_event_t *event;
};

static int event_open_os(void *obj, int create)
{
    mproc_event_t *e = obj;
    char n[SUB_NAME_LEN];
    return mproc__os_event_init(&e->event, SLOT_AT(e->base.hdr, 0),
                                sub_name(&e->base, "e", n), create);
}

int mproc_event_create(mproc_event_t **event, const mproc_sync_opts_t *opts)
{
    return sync_new((void **) event, sizeof **event, KIND_EVENT, 1,
                    fork_only_of(opts), NULL, event_open_os, NULL, NULL,
                    release_event);
}

static int event_open(mproc_event_t **event, const char *name)
{
    return sync_new((void **) event, sizeof **event, KIND_EVENT, 1, 0, name,
                    event_open_os, NULL, NULL, release_event);
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
    if (e == NULL)
        return;
    mproc__os_event_close(e->event);
    base_destroy(e);
}

static int event_ref(const mproc_event_t *e, mproc_value_t **ref)
{
    return base_ref(&e->base, KIND_EVENT, ref);
}

SYNC_REFERENCES(event, KIND_EVENT)

/* ---- the condition algorithm ---------------------------------------- */

/*
 * CPython's Condition (Lib/multiprocessing/synchronize.py): a waiter
 * announces itself on `sleeping`, releases the lock, waits on `wait`, and
 * reports on `woken`; a notifier hands out `wait` tokens to announced
 * sleepers and waits for each to report, so no token reaches a later
 * waiter. Timed-out waiters are settled by the next notify.
 */
typedef struct cond_core {
    mproc__os_sem_t *sleeping, *woken, *wait;
} cond_core;

/* The lock a condition runs over, whatever its kind. */
typedef struct cond_lock {
    mproc_lock_t *lock;
    mproc_rlock_t *rlock;
} cond_lock;

static int core_open(cond_core *c, sync_base *b, int first, int create)
{
    char n[SUB_NAME_LEN];
    int rc;
    memset(c, 0, sizeof *c);
    rc = mproc__os_sem_init(&c->sleeping, SLOT_AT(b->hdr, first),
                            sub_name(b, "s0", n), 0, 0, create);
    if (rc == 0)
        rc = mproc__os_sem_init(&c->woken, SLOT_AT(b->hdr, first + 1),
                                sub_name(b, "s1", n), 0, 0, create);
    if (rc == 0)
        rc = mproc__os_sem_init(&c->wait, SLOT_AT(b->hdr, first + 2),
                                sub_name(b, "s2", n), 0, 0, create);
    return rc;
}

static void core_close(cond_core *c)
{
    if (c->sleeping != NULL)
        mproc__os_sem_close(c->sleeping);
    if (c->woken != NULL)
        mproc__os_sem_close(c->woken);
    if (c->wait != NULL)
        mproc__os_sem_close(c->wait);
}

/* Whether the calling thread holds @l: 0, or ENOTHELD/ENOTOWNER. */
static int lock_is_mine(const cond_lock *l, unsigned *count)
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
    if (!mproc__os_mutex_is_mine(l->lock->mutex))
        return mproc__set_error(MPROC_ENOTHELD,
                                "the condition's lock is not held by the "
                                "caller");
    *count = 1;
    return 0;
}

static void lock_release_n(const cond_lock *l, unsigned n)
{
    while (n-- > 0) {
        if (l->rlock != NULL)
            mproc_rlock_release(l->rlock);
        else
            mproc_lock_release(l->lock);
    }
}

static void lock_acquire_n(const cond_lock *l, unsigned n)
{
    while (n-- > 0) {
        if (l->rlock != NULL)
            mproc_rlock_acquire(l->rlock, MPROC_FOREVER);
        else
            mproc_lock_acquire(l->lock, MPROC_FOREVER);
    }
}

static int core_wait(cond_core *c, const cond_lock *l, double timeout)
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

static int core_notify(cond_core *c, const cond_lock *l, int n)
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

static int core_wait_for(cond_core *c, const cond_lock *l,
                         mproc_predicate_fn pred, void *arg, double timeout)
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
        rc = core_wait(c, l, left);
        if (rc != 0 && rc != MPROC_ETIMEDOUT)
            return rc;
        result = pred(arg);
    }
    return result ? 0 : MPROC_ETIMEDOUT;
}

/* ---- Condition ------------------------------------------------------ */

struct mproc_cond_t {
    sync_base base;
    cond_core core;
    cond_lock lock;
    int owns_lock; /* the lock was made (or imported) for this condition */
};

int mproc_cond_create(mproc_cond_t **cond, const mproc_cond_opts_t *opts)
{
    mproc_sync_opts_t lock_opts = {0};
    mproc_cond_t *c = calloc(1, sizeof *c);
    int fork_only = opts != NULL && opts->fork_only;
    int rc;
    if (c == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    lock_opts.fork_only = fork_only;
    if (opts != NULL && opts->lock != NULL) {
        c->lock.lock = opts->lock;
    } else if (opts != NULL && opts->rlock != NULL) {
        c->lock.rlock = opts->rlock;
    } else {
        rc = mproc_rlock_create(&c->lock.rlock, &lock_opts);
        if (rc != 0) {
            free(c);
            return rc;
        }
        /* Its own lock goes with the condition, not on its own. */
        mproc__owned_unlink(&c->lock.rlock->base.owned);
        c->owns_lock = 1;
    }
    rc = base_create(&c->base, KIND_COND, 3, fork_only);
    if (rc == 0) {
        const sync_base *lb =
            c->lock.rlock ? &c->lock.rlock->base : &c->lock.lock->base;
        memcpy(c->base.hdr->u.cond.lock_name, lb->name, NAME_MAX_LEN);
        c->base.hdr->u.cond.lock_is_rlock = c->lock.rlock != NULL;
        rc = core_open(&c->core, &c->base, 0, 1);
    }
    if (rc != 0) {
        mproc_cond_destroy(c);
        return rc;
    }
    mproc__owned_link(&c->base.owned, release_cond, c);
    *cond = c;
    return 0;
}

static int cond_open(mproc_cond_t **cond, const char *name)
{
    mproc_cond_t *c = calloc(1, sizeof *c);
    int rc;
    if (c == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = open_named(&c->base, KIND_COND, name, 3);
    if (rc == 0) {
        /* The lock travels by name inside the condition's segment. */
        sync_header *h = c->base.hdr;
        char lname[NAME_MAX_LEN];
        memcpy(lname, h->u.cond.lock_name, NAME_MAX_LEN);
        lname[NAME_MAX_LEN - 1] = '\0';
        rc = h->u.cond.lock_is_rlock ? rlock_open(&c->lock.rlock, lname)
                                     : lock_open(&c->lock.lock, lname);
        c->owns_lock = rc == 0;
        if (rc == 0)
            mproc__owned_unlink(c->lock.rlock ? &c->lock.rlock->base.owned
                                              : &c->lock.lock->base.owned);
    }
    if (rc == 0)
        rc = core_open(&c->core, &c->base, 0, 0);
    if (rc != 0) {
        mproc_cond_destroy(c);
        return rc;
    }
    mproc__owned_link(&c->base.owned, release_cond, c);
    *cond = c;
    return 0;
}

int mproc_cond_acquire(mproc_cond_t *c, double timeout)
{
    return c->lock.rlock ? mproc_rlock_acquire(c->lock.rlock, timeout)
                         : mproc_lock_acquire(c->lock.lock, timeout);
}

int mproc_cond_release(mproc_cond_t *c)
{
    return c->lock.rlock ? mproc_rlock_release(c->lock.rlock)
                         : mproc_lock_release(c->lock.lock);
}

int mproc_cond_wait(mproc_cond_t *c, double timeout)
{
    return core_wait(&c->core, &c->lock, timeout);
}

int mproc_cond_wait_for(mproc_cond_t *c, mproc_predicate_fn pred, void *arg,
                        double timeout)
{
    unsigned count;
    int rc = lock_is_mine(&c->lock, &count);
    if (rc != 0)
        return rc;
    return core_wait_for(&c->core, &c->lock, pred, arg, timeout);
}

int mproc_cond_notify(mproc_cond_t *c, int n)
{
    return core_notify(&c->core, &c->lock, n);
}

int mproc_cond_notify_all(mproc_cond_t *c)
{
    return core_notify(&c->core, &c->lock, 0x7fffffff);
}

void mproc_cond_destroy(mproc_cond_t *c)
{
    if (c == NULL)
        return;
    mproc__ref_cache_forget(c);
    mproc__owned_unlink(&c->base.owned);
    core_close(&c->core);
    base_close(&c->base);
    if (c->owns_lock) {
        mproc_rlock_destroy(c->lock.rlock);
        mproc_lock_destroy(c->lock.lock);
    }
    free(c);
}

static int cond_ref(const mproc_cond_t *c, mproc_value_t **ref)
{
    const sync_base *lb =
        c->lock.rlock ? &c->lock.rlock->base : &c->lock.lock->base;
    if (lb->name[0] == '\0' && c->base.name[0] != '\0')
        return mproc__set_error(MPROC_EFORKONLY,
                                "the condition's lock was created fork-only "
                                "and cannot be passed to a spawned child");
    return base_ref(&c->base, KIND_COND, ref);
}

SYNC_REFERENCES(cond, KIND_COND)

/* ---- Barrier -------------------------------------------------------- */

/*
 * threading.Barrier's algorithm over a plain lock and a condition core in
 * one segment. States: 0 filling, 1 draining, -1 resetting, -2 broken.
 */
enum { FILLING = 0, DRAINING = 1, RESETTING = -1, BROKEN = -2 };

struct mproc_barrier_t {
    sync_base base;
    mproc_lock_t lock; /* embedded: slot 0 of the barrier's segment */
    cond_core core;    /* slots 1..3 */
    cond_lock cl;
};

static int barrier_open_os(mproc_barrier_t *b, int create)
{
    char n[SUB_NAME_LEN];
    int rc = mproc__os_mutex_init(&b->lock.mutex, SLOT_AT(b->base.hdr, 0),
                                  sub_name(&b->base, "m", n),
                                  MPROC__OS_MUTEX_PLAIN, create);
    if (rc == 0)
        rc = core_open(&b->core, &b->base, 1, create);
    b->cl.lock = &b->lock;
    return rc;
}

static void barrier_close(mproc_barrier_t *b)
{
    mproc__ref_cache_forget(b);
    mproc__owned_unlink(&b->base.owned);
    core_close(&b->core);
    if (b->lock.mutex != NULL)
        mproc__os_mutex_close(b->lock.mutex);
    base_close(&b->base);
    free(b);
}

int mproc_barrier_create(mproc_barrier_t **barrier, unsigned parties,
                         const mproc_barrier_opts_t *opts)
{
    mproc_barrier_t *b;
    int rc;
    if (parties == 0)
        return mproc__set_error(MPROC_EINVAL, "a barrier needs parties");
    if (opts != NULL && opts->action != NULL &&
        (strlen(opts->action) >= ACTION_MAX_LEN ||
         mproc__target_find(opts->action) == NULL))
        return mproc__set_error(MPROC_ENOTREG,
                                "barrier action '%s' is not a registered "
                                "target",
                                opts->action);
    b = calloc(1, sizeof *b);
    if (b == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc =
        base_create(&b->base, KIND_BARRIER, 4, opts != NULL && opts->fork_only);
    if (rc != 0) {
        free(b);
        return rc;
    }
    b->base.hdr->u.barrier.parties = parties;
    if (opts != NULL) {
        b->base.hdr->u.barrier.timeout = opts->timeout > 0 ? opts->timeout : 0;
        if (opts->action != NULL)
            snprintf(b->base.hdr->u.barrier.action, ACTION_MAX_LEN, "%s",
                     opts->action);
    }
    rc = barrier_open_os(b, 1);
    if (rc != 0) {
        barrier_close(b);
        return rc;
    }
    mproc__owned_link(&b->base.owned, release_barrier, b);
    *barrier = b;
    return 0;
}

static int barrier_open(mproc_barrier_t **barrier, const char *name)
{
    mproc_barrier_t *b = calloc(1, sizeof *b);
    int rc;
    if (b == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = open_named(&b->base, KIND_BARRIER, name, 4);
    if (rc != 0) {
        free(b);
        return rc;
    }
    rc = barrier_open_os(b, 0);
    if (rc != 0) {
        barrier_close(b);
        return rc;
    }
    mproc__owned_link(&b->base.owned, release_barrier, b);
    *barrier = b;
    return 0;
}

/*
 * Takes the barrier's lock. A process that died holding it may have left
 * the state half-updated: the barrier is then broken, which every waiter
 * is told.
 */
static int barrier_lock(mproc_barrier_t *b)
{
    int rc = mproc_lock_acquire(&b->lock, MPROC_FOREVER);
    if (rc == MPROC_OWNERDEAD) {
        b->base.hdr->u.barrier.state = BROKEN;
        core_notify(&b->core, &b->cl, 0x7fffffff);
        return 0;
    }
    return rc;
}

static void barrier_break(mproc_barrier_t *b)
{
    b->base.hdr->u.barrier.state = BROKEN;
    core_notify(&b->core, &b->cl, 0x7fffffff);
}

static int not_draining(void *arg)
{
    int s = ((mproc_barrier_t *) arg)->base.hdr->u.barrier.state;
    return s != RESETTING && s != DRAINING;
}

static int released(void *arg)
{
    return ((mproc_barrier_t *) arg)->base.hdr->u.barrier.state != FILLING;
}

int mproc_barrier_wait(mproc_barrier_t *b, double timeout)
{
    volatile int *state = &b->base.hdr->u.barrier.state;
    unsigned index;
    int rc = barrier_lock(b);
    if (rc != 0)
        return rc;
    if (timeout < 0 && b->base.hdr->u.barrier.timeout > 0)
        timeout = b->base.hdr->u.barrier.timeout;
    /* Wait for a previous cycle to drain or a reset to finish. */
    core_wait_for(&b->core, &b->cl, not_draining, b, MPROC_FOREVER);
    if (*state < 0) {
        mproc_lock_release(&b->lock);
        return mproc__set_error(MPROC_EBROKEN, "the barrier is broken");
    }
    index = b->base.hdr->u.barrier.count++;
    if (index + 1 == b->base.hdr->u.barrier.parties) {
        const char *action = b->base.hdr->u.barrier.action;
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
            core_notify(&b->core, &b->cl, 0x7fffffff);
        }
    } else {
        int waited = core_wait_for(&b->core, &b->cl, released, b, timeout);
        if (waited == MPROC_ETIMEDOUT) {
            barrier_break(b);
            rc = mproc__set_error(MPROC_EBROKEN,
                                  "the barrier broke: a wait timed out");
        } else if (*state < 0) {
            rc = mproc__set_error(MPROC_EBROKEN, "the barrier is broken");
        }
    }
    /* The last one out of a drained or reset barrier refills it. */
    if (--b->base.hdr->u.barrier.count == 0 &&
        (*state == RESETTING || *state == DRAINING)) {
        *state = FILLING;
        core_notify(&b->core, &b->cl, 0x7fffffff);
    }
    mproc_lock_release(&b->lock);
    return rc != 0 ? rc : (int) index;
}

int mproc_barrier_abort(mproc_barrier_t *b)
{
    int rc = barrier_lock(b);
    if (rc != 0)
        return rc;
    barrier_break(b);
    return mproc_lock_release(&b->lock);
}

int mproc_barrier_reset(mproc_barrier_t *b)
{
    volatile int *state = &b->base.hdr->u.barrier.state;
    int rc = barrier_lock(b);
    if (rc != 0)
        return rc;
    if (b->base.hdr->u.barrier.count > 0) {
        /* Waiters leave with EBROKEN; the last one out refills. */
        if (*state == FILLING || *state == BROKEN)
            *state = RESETTING;
    } else {
        *state = FILLING;
    }
    core_notify(&b->core, &b->cl, 0x7fffffff);
    return mproc_lock_release(&b->lock);
}

unsigned mproc_barrier_parties(const mproc_barrier_t *b)
{
    return b->base.hdr->u.barrier.parties;
}

unsigned mproc_barrier_n_waiting(mproc_barrier_t *b)
{
    unsigned n = 0;
    if (barrier_lock(b) == 0) {
        if (b->base.hdr->u.barrier.state == FILLING)
            n = b->base.hdr->u.barrier.count;
        mproc_lock_release(&b->lock);
    }
    return n;
}

int mproc_barrier_broken(mproc_barrier_t *b)
{
    return b->base.hdr->u.barrier.state == BROKEN;
}

void mproc_barrier_destroy(mproc_barrier_t *b)
{
    if (b != NULL)
        barrier_close(b);
}

static int barrier_ref(const mproc_barrier_t *b, mproc_value_t **ref)
{
    return base_ref(&b->base, KIND_BARRIER, ref);
}

SYNC_REFERENCES(barrier, KIND_BARRIER)

static void release_lock(void *obj)
{
    mproc_lock_destroy(obj);
}

static void release_rlock(void *obj)
{
    mproc_rlock_destroy(obj);
}

static void release_sem(void *obj)
{
    mproc_sem_destroy(obj);
}

static void release_event(void *obj)
{
    mproc_event_destroy(obj);
}

static void release_cond(void *obj)
{
    mproc_cond_destroy(obj);
}

static void release_barrier(void *obj)
{
    mproc_barrier_destroy(obj);
}
