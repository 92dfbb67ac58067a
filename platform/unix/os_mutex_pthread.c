/*
 * Unix backend: the lock's pthread path, a process-shared robust mutex.
 *
 * The slot holds a POSIX mutex that is process-shared (PTHREAD_PROCESS_SHARED),
 * robust (PTHREAD_MUTEX_ROBUST: the C library keeps it on the holding
 * thread's robust list, and the next locker gets EOWNERDEAD when the holder
 * died) and error-checking (a relock by the holder is EDEADLK, a release by
 * anyone else EPERM). Nothing here depends on how the C library lays the
 * mutex out, which is why this path serves wherever the glibc path's check
 * fails or is not built (os_mutex.c chooses).
 *
 * Next to the mutex the slot keeps the holder's thread id. POSIX does not
 * say who holds a mutex, and the lock's contract needs it: a release by a
 * thread that does not hold the lock must tell "nobody holds it"
 * (MPROC_ENOTHELD) from "someone else does" (MPROC_ENOTOWNER), a Condition
 * asks whether the caller holds its lock, and a handle closed while held
 * must keep its memory mapped (os_mutex.c). The holder writes its id right
 * after it takes the mutex and clears it right before it lets go, so a
 * non-zero id that is not the caller's names either a live holder or one
 * that died; a try-lock tells which.
 */
#include "os_internal.h"

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <time.h>

#include "mproc_services.h"

typedef struct pthread_slot {
    pthread_mutex_t mutex;
    /*
     * The holding thread's id, 0 when none is known. 32 bits, as Linux
     * thread ids are, so that the slot also fits where pthread_mutex_t
     * takes 48 bytes (aarch64).
     */
    uint32_t holder;
    uint32_t depth; /* recursive locks: how often the holder holds it */
    /*
     * 1 when a release probe found the holder dead and made the mutex
     * consistent (see probe()): the next holder is still told.
     */
    uint32_t died;
} pthread_slot;

/* C99 has no static_assert: a negative array size fails the build. */
typedef char mproc__pthread_slot_fits
    [sizeof(pthread_slot) <= MPROC__UNIX_LOCK_SLOT_USED ? 1 : -1];

int mproc__unix_pthread_lock_create(void *slot)
{
    pthread_slot *s = slot;
    pthread_mutexattr_t attr;
    int err = pthread_mutexattr_init(&attr);
    if (err == 0) {
        err = pthread_mutexattr_setpshared(&attr, PTHREAD_PROCESS_SHARED);
        if (err == 0)
            err = pthread_mutexattr_setrobust(&attr, PTHREAD_MUTEX_ROBUST);
        if (err == 0)
            err = pthread_mutexattr_settype(&attr, PTHREAD_MUTEX_ERRORCHECK);
        if (err == 0)
            err = pthread_mutex_init(&s->mutex, &attr);
        pthread_mutexattr_destroy(&attr);
    }
    if (err != 0)
        return mproc__unix_error(err, "cannot create a robust process-shared "
                                      "mutex");
    s->holder = 0;
    s->depth = 0;
    s->died = 0;
    return 0;
}

/* We hold the mutex now: say so in the slot and finish the operation. */
static int taken(pthread_slot *s, uint32_t me, int owner_died)
{
    __atomic_store_n(&s->holder, me, __ATOMIC_RELAXED);
    s->depth = 1;
    if (owner_died || s->died) {
        s->died = 0;
        return mproc__unix_lock_owner_died();
    }
    return 0;
}

/*
 * ThreadSanitizer (GCC 12's, clang 14's) does not intercept
 * pthread_mutex_clocklock: a lock taken with it is invisible to TSan, whose
 * report at the unlock would be false. Its builds take the timedlock path.
 */
#if defined(__SANITIZE_THREAD__)
    #define MPROC__TSAN 1
#elif defined(__has_feature)
    #if __has_feature(thread_sanitizer)
        #define MPROC__TSAN 1
    #endif
#endif
#if defined(MPROC__TSAN)
    #include <sanitizer/tsan_interface.h>
#endif

/*
 * Waits until the absolute CLOCK_MONOTONIC time @deadline at most: with
 * pthread_mutex_clocklock where the C library has it (glibc 2.30), since a
 * CLOCK_REALTIME deadline moves when the clock is set.
 */
static int lock_until(pthread_mutex_t *mutex, const struct timespec *deadline)
{
#if defined(__GLIBC__) && !defined(MPROC__TSAN) &&                             \
    (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 30))
    return pthread_mutex_clocklock(mutex, CLOCK_MONOTONIC, deadline);
#else
    struct timespec now, real;
    clock_gettime(CLOCK_MONOTONIC, &now);
    clock_gettime(CLOCK_REALTIME, &real);
    real.tv_sec += deadline->tv_sec - now.tv_sec;
    real.tv_nsec += deadline->tv_nsec - now.tv_nsec;
    if (real.tv_nsec < 0) {
        real.tv_nsec += 1000000000L;
        real.tv_sec--;
    } else if (real.tv_nsec >= 1000000000L) {
        real.tv_nsec -= 1000000000L;
        real.tv_sec++;
    }
    return pthread_mutex_timedlock(mutex, &real);
#endif
}

int mproc__unix_pthread_lock(mproc__os_mutex_t *m, double timeout)
{
    pthread_slot *s = m->slot;
    uint32_t me = (uint32_t) mproc__os_thread_id();
    struct timespec deadline, *dl = NULL;
    int err;
    if (timeout == 0) {
        err = pthread_mutex_trylock(&s->mutex);
    } else if (timeout < 0) {
        err = pthread_mutex_lock(&s->mutex);
    } else {
        mproc__unix_deadline_after(timeout, &deadline);
        dl = &deadline;
        err = lock_until(&s->mutex, dl);
    }
#if defined(MPROC__TSAN)
    /*
     * TSan's timedlock interceptor records a lock only when it returns 0; a
     * robust mutex taken from a dead holder (EOWNERDEAD) is held all the
     * same, and TSan is told so here (its lock and trylock record both).
     */
    if (err == EOWNERDEAD && dl != NULL) {
        __tsan_mutex_pre_lock(&s->mutex, __tsan_mutex_try_lock);
        __tsan_mutex_post_lock(&s->mutex, __tsan_mutex_try_lock, 0);
    }
#endif
    switch (err) {
    case 0:
        return taken(s, me, 0);
    case EOWNERDEAD:
        /*
         * Consistent at once: the lock's contract hands the caller a usable
         * lock and the news; checking the data it guards is the caller's.
         */
        pthread_mutex_consistent(&s->mutex);
        return taken(s, me, 1);
    case EBUSY:
        /* A try-lock of an error-checking mutex we hold is EBUSY too. */
        if (__atomic_load_n(&s->holder, __ATOMIC_RELAXED) == me)
            return mproc__unix_lock_relocked(m, &s->depth, 0, NULL);
        return MPROC_ETIMEDOUT;
    case EDEADLK:
        return mproc__unix_lock_relocked(m, &s->depth, timeout, dl);
    case ETIMEDOUT:
        return MPROC_ETIMEDOUT;
    case ENOTRECOVERABLE:
        return mproc__set_error(MPROC_EOS,
                                "the lock is unusable: a holder released it "
                                "after its previous holder died without "
                                "making it consistent");
    default:
        return mproc__unix_error(err, "cannot acquire a lock");
    }
}

long mproc__unix_pthread_lock_holder(const mproc__os_mutex_t *m)
{
    const pthread_slot *s = m->slot;
    return (long) __atomic_load_n(&s->holder, __ATOMIC_RELAXED);
}

/*
 * The slot names holder @holder, not the caller: is it alive? A try-lock
 * tells without waiting. If the holder died, the mutex is ours for a moment:
 * we make it consistent, leave the news for its next holder in the slot
 * and let it go, so that the lock is free, as the glibc path leaves a lock
 * whose holder died. A try-lock or a release by another thread in that
 * moment finds it busy: a cost paid only after a failed release.
 */
static int probe(pthread_slot *s, uint32_t holder)
{
    int err;
    if (holder == 0)
        return mproc__unix_lock_not_held();
    err = pthread_mutex_trylock(&s->mutex);
    if (err == EBUSY)
        return mproc__unix_lock_not_owner();
    if (err == EOWNERDEAD) {
        /* Written before anything else: a death of ours now still tells. */
        s->died = 1;
        pthread_mutex_consistent(&s->mutex);
        err = 0;
    }
    if (err != 0)
        return mproc__unix_error(err, "cannot inspect a lock");
    __atomic_store_n(&s->holder, 0, __ATOMIC_RELAXED);
    pthread_mutex_unlock(&s->mutex);
    return mproc__unix_lock_not_held();
}

int mproc__unix_pthread_unlock(mproc__os_mutex_t *m)
{
    pthread_slot *s = m->slot;
    uint32_t me = (uint32_t) mproc__os_thread_id();
    uint32_t holder = __atomic_load_n(&s->holder, __ATOMIC_RELAXED);
    int err;
    if (holder != me && holder != 0)
        return probe(s, holder);
    if (holder == 0) {
        /*
         * Not held, by the slot's word. A try-lock checks that without
         * unlocking a mutex nobody holds (which ThreadSanitizer reports and
         * POSIX leaves to the error check): taken, it was free (or its
         * holder died: made consistent, the news left in the slot); busy,
         * somebody holds it, perhaps we ourselves with our id wiped, and
         * the unlock below lets the mutex decide.
         */
        err = pthread_mutex_trylock(&s->mutex);
        if (err == 0 || err == EOWNERDEAD) {
            if (err == EOWNERDEAD) {
                s->died = 1;
                pthread_mutex_consistent(&s->mutex);
            }
            pthread_mutex_unlock(&s->mutex);
            return mproc__unix_lock_not_held();
        }
        if (err != EBUSY)
            return mproc__unix_error(err, "cannot inspect a lock");
    }
    if (holder == me) {
        if (s->depth > 1) {
            s->depth--;
            return 0;
        }
        s->depth = 0;
        /* Cleared before the mutex goes: the next holder writes its id. */
        __atomic_store_n(&s->holder, 0, __ATOMIC_RELAXED);
    }
    /*
     * The mutex, not the slot's id, has the last word: an error-checking
     * mutex refuses (EPERM) a release by a thread that does not hold it.
     * So the id is only a hint, and a plain store is enough: a wrong one
     * (the id of a dead holder that the system gave to us again, or our
     * id wiped by a thread misled that way) costs a wrong status on an
     * already failed release, never a lock left held or freed.
     */
    err = pthread_mutex_unlock(&s->mutex);
    if (err == 0)
        return 0;
    if (err != EPERM)
        return mproc__unix_error(err, "cannot release a lock");
    return probe(s, __atomic_load_n(&s->holder, __ATOMIC_RELAXED));
}
