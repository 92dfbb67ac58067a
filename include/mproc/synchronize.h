/**
 * @file mproc/synchronize.h
 * @brief Locks, semaphores, events, conditions and barriers shared between
 * processes, as multiprocessing.Lock, RLock, Semaphore, BoundedSemaphore,
 * Event, Condition and Barrier.
 *
 * Every object lives in named shared memory (Unix) or in named kernel
 * objects (Windows), so a child started by any method can reopen it: pass
 * its reference (mproc_value_lock() and the like) as an argument, or
 * through a queue or a pipe, and turn it back into the object with
 * mproc_value_to_lock() and the like in the receiver:
 * @code
 * mproc_value_t *args = mproc_value_list_of(1, mproc_value_lock(lock));
 * ...
 * // in the child's target:
 * mproc_lock_t *lock;
 * int rc = mproc_value_to_lock(mproc_value_at(args, 0), &lock);
 * @endcode
 * The name disappears when the last process that uses the object
 * destroys it; if the whole process tree is killed, a resource tracker
 * process removes what is left (Unix; Windows kernel objects are counted by
 * the kernel).
 *
 * An object created with `.fork_only = 1` lives in anonymous memory
 * instead (Python's objects of get_context("fork")): cheaper, never leaked,
 * but it reaches only fork children, through the parent's memory; it has
 * no reference (MPROC_EFORKONLY). Fork-only objects exist where fork does
 * (Unix); elsewhere creating one is MPROC_ENOTSUP.
 *
 * On the receiving side, mproc_value_to_lock() and its siblings open the
 * object once per reference: a second call with an equal reference gives
 * the same object. The runtime owns what they return and lets go of it at
 * the process's normal exit: do not destroy it. They return 0;
 * MPROC_ETYPE if the value is not a reference of that kind (the sentence
 * says what it is); MPROC_ENOTFOUND if the object no longer exists.
 *
 * mproc_*_export() and mproc_*_import() are the older spelling, kept for
 * one release: export is the value constructor, and import opens a new
 * handle that the caller owns and destroys.
 *
 * Timeouts are seconds: 0 tries once, a negative value (MPROC_FOREVER)
 * waits forever. A wait blocks in the kernel; it never polls.
 *
 * Statuses follow mproc/error.h: `< 0` failed and nothing was acquired,
 * `0` done, `> 0` done with information. A wait returns 0 when what it
 * waited for happened and MPROC_ETIMEDOUT when the time ran out.
 *
 * A lock whose holder died is not locked forever: the next acquirer gets it
 * and is told with the positive status MPROC_OWNERDEAD (Linux EOWNERDEAD,
 * Windows WAIT_ABANDONED). The lock IS held then, so `if (rc < 0)` lets it
 * through: release it as usual once the data it guards is checked.
 *
 * @defgroup synchronize Synchronization
 * @{
 */
#ifndef MPROC_SYNCHRONIZE_H
#define MPROC_SYNCHRONIZE_H

#include "mproc/export.h"
#include "mproc/runtime.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Options of every synchronization object; zero means default. */
typedef struct mproc_sync_opts_t {
    /**
     * 0: a named object that any child can reopen. Nonzero: an anonymous
     * object that only fork children share (Unix; MPROC_ENOTSUP
     * elsewhere).
     */
    int fork_only;
} mproc_sync_opts_t;

/** @name Lock: a non-recursive mutex */
/** @{ */
/** A Lock, as multiprocessing.Lock. Opaque. */
typedef struct mproc_lock_t mproc_lock_t;
/** Creates an unlocked lock. @return 0; MPROC_ENOMEM; MPROC_EOS. */
MPROC_API int mproc_lock_create(mproc_lock_t **lock,
                                const mproc_sync_opts_t *opts);
/**
 * Acquires the lock, waiting at most @p timeout seconds.
 * @return 0; MPROC_OWNERDEAD (> 0: acquired, but the previous holder died
 * holding it); MPROC_ETIMEDOUT; MPROC_EDEADLK if the calling thread holds
 * it already and would wait forever (with a timeout it just times out).
 */
MPROC_API int mproc_lock_acquire(mproc_lock_t *lock, double timeout);
/**
 * Releases the lock.
 * @return 0; MPROC_ENOTHELD if it is not held; MPROC_ENOTOWNER if another
 * process or thread holds it. Either leaves the lock as it was.
 */
MPROC_API int mproc_lock_release(mproc_lock_t *lock);
/**
 * Whether anyone holds @p lock now (Python's Lock.locked()). The answer
 * may be stale as soon as it is given; it is for diagnostics and
 * assertions, never for deciding to acquire.
 * @return 1 held (by this thread or anyone else); 0 free, including a lock
 * whose holder died holding it (it is recovered by asking); or a negative
 * status.
 */
MPROC_API int mproc_lock_locked(mproc_lock_t *lock);
/** Frees this process's handle; the last user's destroy removes the name. */
MPROC_API void mproc_lock_destroy(mproc_lock_t *lock);
/**
 * A reference to @p lock, to pass to another process (a new value; NULL
 * with mproc_last_error() set for a NULL or fork-only lock
 * (MPROC_EFORKONLY) or when out of memory).
 */
MPROC_API mproc_value_t *mproc_value_lock(const mproc_lock_t *lock);
/**
 * The lock that reference @p v refers to, opened once in this process and
 * owned by the runtime (do not destroy it).
 * @return 0; MPROC_ETYPE if @p v is not a lock reference; MPROC_ENOTFOUND
 * if the lock no longer exists.
 */
MPROC_API int mproc_value_to_lock(const mproc_value_t *v, mproc_lock_t **out);
/**
 * mproc_value_lock() as a status: *@p ref gets the reference.
 * @return 0; MPROC_EFORKONLY for a fork-only lock; MPROC_ENOMEM.
 */
MPROC_API int mproc_lock_export(const mproc_lock_t *lock, mproc_value_t **ref);
/**
 * Opens a new handle on the lock that reference @p ref refers to; the
 * caller owns it and destroys it (mproc_value_to_lock() spares that).
 * @return 0; MPROC_ETYPE if @p ref is not a lock reference;
 * MPROC_ENOTFOUND if the lock no longer exists.
 */
MPROC_API int mproc_lock_import(mproc_lock_t **lock, const mproc_value_t *ref);

/** @cond internal */
/* A name per source line, so that nested blocks do not shadow each other. */
#define MPROC_WITH_CAT2_(a, b) a##b
#define MPROC_WITH_CAT_(a, b) MPROC_WITH_CAT2_(a, b)
#define MPROC_WITH_ONCE_ MPROC_WITH_CAT_(mproc_with_once_, __LINE__)
/** @endcond */

/**
 * Runs the statement after it with @p lock held, as Python's `with lock:`,
 * and leaves the acquire's status in the int variable @p rc.
 *
 * The lock is acquired with MPROC_FOREVER. The body runs only when the
 * lock is held, that is when @p rc is 0 or MPROC_OWNERDEAD (the previous
 * holder died: check the data the lock guards), and the lock is released
 * after it. When the acquire fails the body is skipped and @p rc says why:
 * nested on a lock the thread holds already, the inner block gets
 * MPROC_EDEADLK, does not run, and leaves the outer hold alone.
 * Leaving the body with break, return or goto skips the release.
 * @code
 * int rc;
 * MPROC_WITH_LOCK(lock, rc) {
 *     counter++;
 * }
 * if (rc < 0)
 *     return rc;
 * @endcode
 * @param lock an mproc_lock_t *.
 * @param rc an int lvalue that receives mproc_lock_acquire()'s status.
 */
#define MPROC_WITH_LOCK(lock, rc)                                              \
    for (int MPROC_WITH_ONCE_ =                                                \
             ((rc) = mproc_lock_acquire((lock), MPROC_FOREVER)) >= 0;          \
         MPROC_WITH_ONCE_; MPROC_WITH_ONCE_ = 0, mproc_lock_release(lock))
/** @} */

/** @name RLock: a mutex its holder may acquire again */
/** @{ */
/** An RLock, as multiprocessing.RLock. Opaque. */
typedef struct mproc_rlock_t mproc_rlock_t;
/** Creates an unlocked RLock. @return 0; MPROC_ENOMEM; MPROC_EOS. */
MPROC_API int mproc_rlock_create(mproc_rlock_t **rlock,
                                 const mproc_sync_opts_t *opts);
/**
 * Acquires the lock (again, if the calling thread holds it).
 * @return 0; MPROC_OWNERDEAD (> 0: acquired, but the previous holder died
 * holding it); MPROC_ETIMEDOUT.
 */
MPROC_API int mproc_rlock_acquire(mproc_rlock_t *rlock, double timeout);
/**
 * Undoes one acquire.
 * @return 0; MPROC_ENOTHELD; MPROC_ENOTOWNER if another process or thread
 * owns it.
 */
MPROC_API int mproc_rlock_release(mproc_rlock_t *rlock);
/**
 * Whether anyone holds @p rlock now, as mproc_lock_locked().
 * @return 1 held (by this thread, any number of times, or anyone else); 0
 * free; or a negative status.
 */
MPROC_API int mproc_rlock_locked(mproc_rlock_t *rlock);
/** Frees this process's handle, as mproc_lock_destroy(). */
MPROC_API void mproc_rlock_destroy(mproc_rlock_t *rlock);
/** A reference to @p rlock, as mproc_value_lock(). */
MPROC_API mproc_value_t *mproc_value_rlock(const mproc_rlock_t *rlock);
/** The RLock that @p v refers to, as mproc_value_to_lock(). */
MPROC_API int mproc_value_to_rlock(const mproc_value_t *v, mproc_rlock_t **out);
/** mproc_value_rlock() as a status, as mproc_lock_export(). */
MPROC_API int mproc_rlock_export(const mproc_rlock_t *rlock,
                                 mproc_value_t **ref);
/** A new handle the caller owns, as mproc_lock_import(). */
MPROC_API int mproc_rlock_import(mproc_rlock_t **rlock,
                                 const mproc_value_t *ref);

/**
 * MPROC_WITH_LOCK() for an RLock: runs the statement after it with
 * @p rlock held and leaves mproc_rlock_acquire()'s status in @p rc.
 *
 * The body runs only when the lock is held (@p rc 0 or MPROC_OWNERDEAD),
 * and one release follows it. Nested on the same RLock, the inner block
 * runs too (an RLock may be acquired again by its holder) and undoes only
 * its own acquire. Leaving the body with break, return or goto skips the
 * release.
 * @code
 * int rc;
 * MPROC_WITH_RLOCK(rlock, rc) {
 *     counter++;
 * }
 * if (rc < 0)
 *     return rc;
 * @endcode
 * @param rlock an mproc_rlock_t *.
 * @param rc an int lvalue that receives mproc_rlock_acquire()'s status.
 */
#define MPROC_WITH_RLOCK(rlock, rc)                                            \
    for (int MPROC_WITH_ONCE_ =                                                \
             ((rc) = mproc_rlock_acquire((rlock), MPROC_FOREVER)) >= 0;        \
         MPROC_WITH_ONCE_; MPROC_WITH_ONCE_ = 0, mproc_rlock_release(rlock))
/** @} */

/** @name Semaphore and BoundedSemaphore */
/** @{ */
/**
 * A Semaphore or a BoundedSemaphore, as multiprocessing's. Opaque.
 */
typedef struct mproc_sem_t mproc_sem_t;
/** A semaphore with the initial @p value. */
MPROC_API int mproc_sem_create(mproc_sem_t **sem, unsigned value,
                               const mproc_sync_opts_t *opts);
/** A bounded semaphore: releasing it above @p value is an error. */
MPROC_API int mproc_bounded_sem_create(mproc_sem_t **sem, unsigned value,
                                       const mproc_sync_opts_t *opts);
/** Decrements, waiting for a positive value. @return 0; MPROC_ETIMEDOUT. */
MPROC_API int mproc_sem_acquire(mproc_sem_t *sem, double timeout);
/**
 * Increments. @return 0; MPROC_ETOOMANY for a bounded semaphore at its
 * bound (the value is unchanged).
 */
MPROC_API int mproc_sem_release(mproc_sem_t *sem);
/** The current value (Python's get_value). @return 0; MPROC_ENOTSUP. */
MPROC_API int mproc_sem_value(mproc_sem_t *sem, int *value);
/** Frees this process's handle, as mproc_lock_destroy(). */
MPROC_API void mproc_sem_destroy(mproc_sem_t *sem);
/** A reference to @p sem, as mproc_value_lock(). */
MPROC_API mproc_value_t *mproc_value_sem(const mproc_sem_t *sem);
/** The semaphore that @p v refers to, as mproc_value_to_lock(). */
MPROC_API int mproc_value_to_sem(const mproc_value_t *v, mproc_sem_t **out);
/** mproc_value_sem() as a status, as mproc_lock_export(). */
MPROC_API int mproc_sem_export(const mproc_sem_t *sem, mproc_value_t **ref);
/** A new handle the caller owns, as mproc_lock_import(). */
MPROC_API int mproc_sem_import(mproc_sem_t **sem, const mproc_value_t *ref);
/** @} */

/** @name Event */
/** @{ */
/** An Event, as multiprocessing.Event. Opaque. */
typedef struct mproc_event_t mproc_event_t;
/** Creates a cleared event. */
MPROC_API int mproc_event_create(mproc_event_t **event,
                                 const mproc_sync_opts_t *opts);
/** Sets the flag and wakes every waiter. */
MPROC_API int mproc_event_set(mproc_event_t *event);
/** Clears the flag. */
MPROC_API int mproc_event_clear(mproc_event_t *event);
/** Whether the flag is set (1) or not (0). */
MPROC_API int mproc_event_is_set(mproc_event_t *event);
/**
 * Waits until the flag is set, at most @p timeout seconds.
 * @return 0 once the flag is set (Python's True); MPROC_ETIMEDOUT if it
 * was not set in time (Python's False); another negative status.
 */
MPROC_API int mproc_event_wait(mproc_event_t *event, double timeout);
/** Frees this process's handle, as mproc_lock_destroy(). */
MPROC_API void mproc_event_destroy(mproc_event_t *event);
/** A reference to @p event, as mproc_value_lock(). */
MPROC_API mproc_value_t *mproc_value_event(const mproc_event_t *event);
/** The event that @p v refers to, as mproc_value_to_lock(). */
MPROC_API int mproc_value_to_event(const mproc_value_t *v, mproc_event_t **out);
/** mproc_value_event() as a status, as mproc_lock_export(). */
MPROC_API int mproc_event_export(const mproc_event_t *event,
                                 mproc_value_t **ref);
/** A new handle the caller owns, as mproc_lock_import(). */
MPROC_API int mproc_event_import(mproc_event_t **event,
                                 const mproc_value_t *ref);
/** @} */

/** @name Condition */
/** @{ */
/**
 * How many processes and threads may wait at once on one Condition, or on
 * one Barrier; one more gets MPROC_ETOOMANY from its wait. Each waiter has
 * a seat that dies with its process, so a waiter killed in its wait is
 * skipped by the next notify (Python's notify would wait for it forever)
 * and breaks a Barrier.
 */
#define MPROC_SYNC_MAX_WAITERS 64
/** A Condition, as multiprocessing.Condition, with its lock. Opaque. */
typedef struct mproc_cond_t mproc_cond_t;
/** Options of mproc_cond_create(). */
typedef struct mproc_cond_opts_t {
    /** Where the condition lives (see mproc_sync_opts_t). */
    int fork_only;
    /** The lock to use, or NULL (and rlock NULL) for an RLock of its own. */
    mproc_lock_t *lock;
    /** An RLock to use instead. */
    mproc_rlock_t *rlock;
} mproc_cond_opts_t;
/**
 * Creates a condition over a Lock, an RLock, or (by default) an RLock of
 * its own. The condition does not own a lock it was given.
 */
MPROC_API int mproc_cond_create(mproc_cond_t **cond,
                                const mproc_cond_opts_t *opts);
/**
 * Acquires the condition's lock (see mproc_lock_acquire() and
 * mproc_rlock_acquire()).
 * @return 0; MPROC_OWNERDEAD (> 0: acquired from a dead holder);
 * MPROC_ETIMEDOUT; MPROC_EDEADLK for a Lock the caller holds already.
 */
MPROC_API int mproc_cond_acquire(mproc_cond_t *cond, double timeout);
/** Releases the condition's lock. */
MPROC_API int mproc_cond_release(mproc_cond_t *cond);
/**
 * Releases the lock, waits to be notified (at most @p timeout seconds), and
 * reacquires the lock (fully, for an RLock held several times).
 * @return 0 when notified; MPROC_ETIMEDOUT; MPROC_ENOTHELD or
 * MPROC_ENOTOWNER if the caller does not hold the lock; MPROC_ETOOMANY if
 * MPROC_SYNC_MAX_WAITERS wait already (the lock stays held).
 */
MPROC_API int mproc_cond_wait(mproc_cond_t *cond, double timeout);
/** A predicate for mproc_cond_wait_for(): nonzero when satisfied. */
typedef int (*mproc_predicate_fn)(void *arg);
/**
 * Waits until @p pred(@p arg) holds, as Condition.wait_for().
 * @return 0 once the predicate holds (Python's True); MPROC_ETIMEDOUT if
 * the timeout passed first (Python's False); MPROC_ENOTHELD or
 * MPROC_ENOTOWNER if the caller does not hold the lock; MPROC_ETOOMANY as
 * mproc_cond_wait().
 */
MPROC_API int mproc_cond_wait_for(mproc_cond_t *cond, mproc_predicate_fn pred,
                                  void *arg, double timeout);
/**
 * Wakes up to @p n waiters, the longest waiting first. The caller holds the
 * lock. It waits for none of them: a waiter that died in its wait is
 * skipped, and does not count towards @p n.
 * @return 0; MPROC_ENOTHELD or MPROC_ENOTOWNER if the caller does not hold
 * the lock.
 */
MPROC_API int mproc_cond_notify(mproc_cond_t *cond, int n);
/** Wakes every waiter, as mproc_cond_notify(). The caller holds the lock. */
MPROC_API int mproc_cond_notify_all(mproc_cond_t *cond);
/**
 * Frees this process's handle, as mproc_lock_destroy(), with the lock it
 * made or imported for itself; a lock given in mproc_cond_opts_t stays.
 */
MPROC_API void mproc_cond_destroy(mproc_cond_t *cond);
/**
 * A reference to @p cond and its lock, as one value (see mproc_value_lock();
 * MPROC_EFORKONLY also when a named condition runs over a fork-only lock).
 */
MPROC_API mproc_value_t *mproc_value_cond(const mproc_cond_t *cond);
/**
 * The condition that @p v refers to, with its lock, as
 * mproc_value_to_lock().
 */
MPROC_API int mproc_value_to_cond(const mproc_value_t *v, mproc_cond_t **out);
/** mproc_value_cond() as a status, as mproc_lock_export(). */
MPROC_API int mproc_cond_export(const mproc_cond_t *cond, mproc_value_t **ref);
/**
 * A new handle the caller owns, as mproc_lock_import(); it owns its own
 * handle on the condition's lock.
 */
MPROC_API int mproc_cond_import(mproc_cond_t **cond, const mproc_value_t *ref);
/** @} */

/** @name Barrier */
/** @{ */
/** A Barrier, as multiprocessing.Barrier. Opaque. */
typedef struct mproc_barrier_t mproc_barrier_t;
/** Options of mproc_barrier_create(). */
typedef struct mproc_barrier_opts_t {
    /** Where the barrier lives (see mproc_sync_opts_t). */
    int fork_only;
    /**
     * A registered target that the last process to arrive runs (with an
     * empty argument list) before the others are released; NULL for none.
     */
    const char *action;
    /** The default timeout of mproc_barrier_wait(); 0 means none. */
    double timeout;
} mproc_barrier_opts_t;
/** Creates a barrier for @p parties processes (or threads). */
MPROC_API int mproc_barrier_create(mproc_barrier_t **barrier, unsigned parties,
                                   const mproc_barrier_opts_t *opts);
/**
 * Waits until @p parties callers have arrived, at most @p timeout seconds;
 * a negative timeout means the barrier's default (opts.timeout), or forever
 * if it has none, as Python's timeout=None.
 * The timeout covers the whole call, the wait for a previous cycle to
 * drain included.
 * @return the arrival index, 0 .. parties-1 (each index once per cycle);
 * MPROC_EBROKEN if the barrier is or becomes broken: a timeout breaks it,
 * as in Python, and so does a party that dies (is killed) in its wait,
 * which the others notice within a fraction of a second; MPROC_ETOOMANY
 * (and broken) if more than MPROC_SYNC_MAX_WAITERS would wait at once.
 */
MPROC_API int mproc_barrier_wait(mproc_barrier_t *barrier, double timeout);
/** Breaks the barrier: current and future waiters get MPROC_EBROKEN. */
MPROC_API int mproc_barrier_abort(mproc_barrier_t *barrier);
/** Returns the barrier to its empty state; current waiters get EBROKEN. */
MPROC_API int mproc_barrier_reset(mproc_barrier_t *barrier);
/** The number of parties. */
MPROC_API unsigned mproc_barrier_parties(const mproc_barrier_t *barrier);
/** How many are waiting now. */
MPROC_API unsigned mproc_barrier_n_waiting(mproc_barrier_t *barrier);
/** Whether the barrier is broken (1) or not (0). */
MPROC_API int mproc_barrier_broken(mproc_barrier_t *barrier);
/** Frees this process's handle, as mproc_lock_destroy(). */
MPROC_API void mproc_barrier_destroy(mproc_barrier_t *barrier);
/** A reference to @p barrier, as mproc_value_lock(). */
MPROC_API mproc_value_t *mproc_value_barrier(const mproc_barrier_t *barrier);
/** The barrier that @p v refers to, as mproc_value_to_lock(). */
MPROC_API int mproc_value_to_barrier(const mproc_value_t *v,
                                     mproc_barrier_t **out);
/** mproc_value_barrier() as a status, as mproc_lock_export(). */
MPROC_API int mproc_barrier_export(const mproc_barrier_t *barrier,
                                   mproc_value_t **ref);
/** A new handle the caller owns, as mproc_lock_import(). */
MPROC_API int mproc_barrier_import(mproc_barrier_t **barrier,
                                   const mproc_value_t *ref);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
