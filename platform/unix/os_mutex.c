/*
 * Unix backend: thread ids and the process-shared lock.
 *
 * The lock has two implementations, and this file is where a lock is given
 * to one of them:
 *
 *   - os_mutex_glibc.c: a futex word spliced into glibc's private
 *     per-thread robust list, laid out as glibc lays out a pthread_mutex_t.
 *     The fast one (about what a plain pthread mutex costs), built with
 *     -DMPROC_LOCK_GLIBC_FAST=ON (the default on glibc) and used only where
 *     its run-time check of the list head confirms the layout.
 *   - os_mutex_pthread.c: a process-shared, robust, error-checking POSIX
 *     mutex, which needs no C library internals. Used everywhere else.
 *
 * Both give the same lock: a dead holder is reported to the next one
 * (MPROC_OWNERDEAD), a relock by the holder is refused, and so is a
 * release by anyone else.
 *
 * Which path serves a lock is recorded in its slot, by whoever creates it,
 * and every process that opens the slot uses that path. The choice cannot
 * be left to each process: the two paths lay the slot out differently, and
 * a process may prefer the other path (MPROC_LOCK_FALLBACK in its
 * environment, or its own thread failing the glibc check), so a spawned
 * child deciding for itself could treat a futex word as a pthread mutex. A
 * process that opens a glibc-path slot but cannot use that path (a build
 * without it) gets MPROC_ENOTSUP instead of a lock that would not exclude.
 */
#include "os_internal.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "mproc_services.h"

/* ---- the calling thread ------------------------------------------------ */

/*
 * Per thread: its id (gettid() is a system call). A fork child's only
 * thread is a copy of the forking one with the same cached values, so a
 * fork handler clears them in the child. The handler is registered before
 * the first value is cached, so none can miss it.
 */
static MPROC__TLS long self_tid;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_forget_in_child(void)
{
    self_tid = 0;
#if MPROC__UNIX_GLIBC_LOCK
    mproc__unix_glibc_lock_forget();
#endif
}

static void self_register_atfork(void)
{
    pthread_atfork(NULL, NULL, self_forget_in_child);
}

long mproc__os_thread_id(void)
{
    if (MPROC__LIKELY(self_tid != 0))
        return self_tid;
    pthread_once(&self_once, self_register_atfork);
    self_tid = (long) syscall(SYS_gettid);
    return self_tid;
}

/* ---- per-thread slots -------------------------------------------------- */

struct mproc__os_tls {
    pthread_key_t key;
};

int mproc__os_tls_create(mproc__os_tls_t **slot, void (*at_exit)(void *value))
{
    mproc__os_tls_t *t = malloc(sizeof *t);
    if (t == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (pthread_key_create(&t->key, at_exit) != 0) {
        free(t);
        return mproc__set_error(MPROC_ENOMEM, "no thread key is left");
    }
    *slot = t;
    return 0;
}

void *mproc__os_tls_get(mproc__os_tls_t *slot)
{
    return pthread_getspecific(slot->key);
}

int mproc__os_tls_set(mproc__os_tls_t *slot, void *value)
{
    if (pthread_setspecific(slot->key, value) != 0)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    return 0;
}

/* ---- pinned slots ------------------------------------------------------ */

/*
 * Slots held by a thread of this process when their handle was closed.
 * Such a slot is still on that thread's robust list (ours on the glibc
 * path, the C library's on the pthread path), where the kernel will look
 * for it when the thread exits (to tell the next holder), and where the C
 * library rewrites it when a neighbour comes and goes, so the memory under
 * it must stay mapped: mproc__os_shm_close asks here. This is what makes a
 * process that exits holding a lock (and closes its handles on the way out)
 * hand MPROC_OWNERDEAD to the next holder.
 */
static struct {
    pthread_mutex_t lock;
    const void **slot;
    size_t n, cap;
} pinned = {PTHREAD_MUTEX_INITIALIZER, NULL, 0, 0};

static void pin(const void *slot)
{
    pthread_mutex_lock(&pinned.lock);
    if (pinned.n == pinned.cap) {
        size_t cap = pinned.cap ? 2 * pinned.cap : 16;
        const void **grown = realloc(pinned.slot, cap * sizeof *grown);
        if (grown == NULL) {
            /* Then the lock is lost to its next holder, not the memory. */
            pthread_mutex_unlock(&pinned.lock);
            return;
        }
        pinned.slot = grown;
        pinned.cap = cap;
    }
    pinned.slot[pinned.n++] = slot;
    pthread_mutex_unlock(&pinned.lock);
}

int mproc__unix_is_pinned(const void *addr, size_t size)
{
    const char *lo = addr, *hi = lo + size;
    size_t i;
    int found = 0;
    pthread_mutex_lock(&pinned.lock);
    for (i = 0; i < pinned.n && !found; i++)
        found = (const char *) pinned.slot[i] >= lo &&
                (const char *) pinned.slot[i] < hi;
    pthread_mutex_unlock(&pinned.lock);
    return found;
}

/* ---- what both paths share --------------------------------------------- */

int mproc__unix_lock_owner_died(void)
{
    /* Held either way: a dead previous holder is news, not a failure. */
    return MPROC_OWNERDEAD;
}

int mproc__unix_lock_not_held(void)
{
    return mproc__set_error(MPROC_ENOTHELD,
                            "cannot release a lock that is not held");
}

int mproc__unix_lock_not_owner(void)
{
    return mproc__set_error(MPROC_ENOTOWNER,
                            "cannot release a lock held by another process "
                            "or thread");
}

int mproc__unix_lock_relocked(mproc__os_mutex_t *m, uint32_t *depth,
                              double timeout, const struct timespec *deadline)
{
    if (m->kind == MPROC__OS_MUTEX_RECURSIVE) {
        if (*depth == UINT32_MAX)
            return mproc__set_error(MPROC_EOS,
                                    "the lock was acquired recursively too "
                                    "many times");
        (*depth)++;
        return 0;
    }
    if (timeout == 0)
        return MPROC_ETIMEDOUT;
    if (timeout > 0) {
        /*
         * Nobody else may release it and we are the holder, so waiting out
         * the timeout cannot succeed; it must still take the time, as
         * Python's Lock.acquire(timeout=t) does.
         */
        mproc__unix_sleep_until(deadline);
        return MPROC_ETIMEDOUT;
    }
    return mproc__set_error(MPROC_EDEADLK,
                            "the calling thread holds the lock already: "
                            "acquiring it again would wait forever");
}

/* ---- the dispatch ------------------------------------------------------ */

/* What a slot's last word says about it: which path made it. */
#define PATH_GLIBC 0x6c47706du   /* "mpGl" */
#define PATH_PTHREAD 0x7450706du /* "mpPt" */
#define SLOT_PATH(slot)                                                        \
    ((uint32_t *) ((char *) (slot) + MPROC__UNIX_LOCK_SLOT_USED))

/*
 * Whether locks this process creates take the pthread path although the
 * glibc path is built: MPROC_LOCK_FALLBACK set to anything but "" or "0",
 * read once, so that the tests can run both paths from one build.
 */
#if MPROC__UNIX_GLIBC_LOCK
static int fallback_forced;
static pthread_once_t fallback_once = PTHREAD_ONCE_INIT;

static void fallback_read(void)
{
    const char *v = getenv("MPROC_LOCK_FALLBACK");
    fallback_forced = v != NULL && v[0] != '\0' && strcmp(v, "0") != 0;
}

/* The path a lock created by the calling thread takes. */
static int glibc_path_for_new_lock(void)
{
    pthread_once(&fallback_once, fallback_read);
    return !fallback_forced && mproc__unix_glibc_lock_usable();
}
#endif

int mproc__os_mutex_init(mproc__os_mutex_t **m, void *slot, const char *name,
                         mproc__os_mutex_kind_e kind, int create)
{
    mproc__os_mutex_t *h;
    uint32_t path;
    (void) name; /* the lock lives in the slot, not under a name */
    *m = NULL;
    if (slot == NULL || ((uintptr_t) slot % sizeof(void *)) != 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a lock slot must be pointer-aligned shared "
                                "memory");
    if (create) {
        int rc = 0;
        memset(slot, 0, MPROC__OS_SYNC_SLOT);
#if MPROC__UNIX_GLIBC_LOCK
        if (glibc_path_for_new_lock()) {
            mproc__unix_glibc_lock_create(slot);
            path = PATH_GLIBC;
        } else
#endif
        {
            rc = mproc__unix_pthread_lock_create(slot);
            path = PATH_PTHREAD;
        }
        if (rc < 0)
            return rc;
        /* Written last: the slot is complete before anyone reopens it. */
        *SLOT_PATH(slot) = path;
    } else {
        path = *SLOT_PATH(slot);
        if (path == PATH_GLIBC) {
#if MPROC__UNIX_GLIBC_LOCK
            if (!mproc__unix_glibc_lock_usable())
#endif
                return mproc__set_error(
                    MPROC_ENOTSUP,
                    "the lock was made on glibc's robust list, which this "
                    "process cannot join");
        } else if (path != PATH_PTHREAD) {
            return mproc__set_error(MPROC_ECORRUPT,
                                    "the shared memory holds no lock");
        }
    }
    h = malloc(sizeof *h);
    if (h == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    h->slot = slot;
    h->kind = kind;
    h->glibc = path == PATH_GLIBC;
    *m = h;
    return 0;
}

/*
 * The one branch between the two paths, on a field of the handle: well
 * predicted, since a program's locks are normally all on one path.
 */
#if MPROC__UNIX_GLIBC_LOCK
    #define DISPATCH(m, glibc_call, pthread_call)                              \
        (MPROC__LIKELY((m)->glibc) ? (glibc_call) : (pthread_call))
#else
    #define DISPATCH(m, glibc_call, pthread_call) (pthread_call)
#endif

int mproc__os_mutex_lock(mproc__os_mutex_t *m, double timeout)
{
    return DISPATCH(m, mproc__unix_glibc_lock(m, timeout),
                    mproc__unix_pthread_lock(m, timeout));
}

int mproc__os_mutex_unlock(mproc__os_mutex_t *m)
{
    return DISPATCH(m, mproc__unix_glibc_unlock(m),
                    mproc__unix_pthread_unlock(m));
}

/* The id of the thread the slot names as its holder, 0 for none. */
static long holder_of(const mproc__os_mutex_t *m)
{
    return DISPATCH(m, mproc__unix_glibc_lock_holder(m),
                    mproc__unix_pthread_lock_holder(m));
}

int mproc__os_mutex_is_mine(mproc__os_mutex_t *m)
{
    return holder_of(m) == mproc__os_thread_id();
}

void mproc__os_mutex_close(mproc__os_mutex_t *m)
{
    long owner = holder_of(m);
    /*
     * Held by a thread of ours (the caller, or one that tgkill finds in
     * this process): it stays held, as a Windows mutex does when its handle
     * closes, and its memory stays mapped for the kernel (see pin()).
     */
    if (owner != 0 && (owner == mproc__os_thread_id() ||
                       syscall(SYS_tgkill, getpid(), (pid_t) owner, 0) == 0))
        pin(m->slot);
    /* Other processes still use the lock: only the handle goes. */
    free(m);
}
