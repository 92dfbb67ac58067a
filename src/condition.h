/*
 * The condition algorithm (private), which Condition and Barrier both run
 * over their locks: its semaphores take three consecutive slots of the
 * object's segment.
 */
#ifndef MPROC_CONDITION_H
#define MPROC_CONDITION_H

#include "lock.h"

/*
 * CPython's Condition (Lib/multiprocessing/synchronize.py): a waiter
 * announces itself on `sleeping`, releases the lock, waits on `wait`, and
 * reports on `woken`; a notifier hands out `wait` tokens to announced
 * sleepers and waits for each to report, so no token reaches a later
 * waiter. Timed-out waiters are settled by the next notify.
 */
typedef struct mproc__cond_core_t {
    mproc__os_sem_t *sleeping, *woken, *wait;
} mproc__cond_core_t;

/*
 * The lock a condition runs over: an RLock, or the OS mutex of a Lock (or
 * of a Barrier, which has no Lock object of its own).
 */
typedef struct mproc__cond_lock_t {
    mproc__os_mutex_t *mutex;
    mproc_rlock_t *rlock;
} mproc__cond_lock_t;

/* Opens the semaphores in slots @first..@first+2 of @o. */
int mproc__cond_core_open(mproc__cond_core_t *c, const mproc__shobj_t *o,
                          unsigned first, int create);
void mproc__cond_core_close(mproc__cond_core_t *c);
/*
 * Releases @l (which the caller holds, as often as it holds it), waits for
 * a notify or @timeout, and takes @l again: 0 or MPROC_ETIMEDOUT.
 */
int mproc__cond_core_wait(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                          double timeout);
/* Wakes up to @n waiters; the caller holds @l. */
int mproc__cond_core_notify(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                            int n);
/* Waits until @pred(@arg) holds: 0, or MPROC_ETIMEDOUT. */
int mproc__cond_core_wait_for(mproc__cond_core_t *c,
                              const mproc__cond_lock_t *l,
                              mproc_predicate_fn pred, void *arg,
                              double timeout);

#endif
