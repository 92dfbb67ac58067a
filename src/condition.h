/*
 * The condition algorithm (private), which Condition and Barrier both run
 * over their locks: its shared part sits in the kind's header, and its OS
 * objects take 2 * MPROC__COND_SEATS consecutive slots of the segment.
 */
#ifndef MPROC_CONDITION_H
#define MPROC_CONDITION_H

#include "lock.h"

/*
 * How many processes and threads may wait on one condition (or barrier)
 * at once; one more gets MPROC_ETOOMANY.
 */
#define MPROC__COND_SEATS MPROC_SYNC_MAX_WAITERS

/*
 * A waiter takes a seat: a robust mutex that it holds while it waits, and
 * a semaphore that a notifier posts to wake it. The seat's state says
 * whether it is free, taken by a waiter, or taken by a waiter that was
 * notified. A waiter that dies lets go of its seat's mutex with its
 * process (an owner-dead lock on Unix, an abandoned or vanished mutex on
 * Windows), so whoever finds a taken seat whose mutex can be had knows the
 * waiter is gone, and frees the seat. A notifier posts the semaphores of
 * the seats it wakes and waits for no one, unlike CPython's Condition
 * (Lib/multiprocessing/synchronize.py), whose notifier waits for a report
 * from each woken waiter and so hangs on a dead one. Every field is read
 * and written under the condition's lock.
 */
typedef struct mproc__cond_shared_t {
    uint32_t next_seq;                /* the arrival number of the next */
    uint32_t seq[MPROC__COND_SEATS];  /* a taken seat's arrival number */
    uint8_t state[MPROC__COND_SEATS]; /* free, waiting or notified */
    uint8_t made[MPROC__COND_SEATS];  /* the seat's OS objects exist */
} mproc__cond_shared_t;

/* A process's handle on a condition's seats, opened as they are used. */
typedef struct mproc__cond_core_t {
    mproc__cond_shared_t *sh;
    const mproc__shobj_t *obj;
    unsigned first; /* the first slot of the seats */
    mproc__os_mutex_t *alive[MPROC__COND_SEATS];
    mproc__os_sem_t *wake[MPROC__COND_SEATS];
} mproc__cond_core_t;

/*
 * The lock a condition runs over: an RLock, or the OS mutex of a Lock (or
 * of a Barrier, which has no Lock object of its own).
 */
typedef struct mproc__cond_lock_t {
    mproc__os_mutex_t *mutex;
    mproc_rlock_t *rlock;
} mproc__cond_lock_t;

/*
 * Readies the handle on the seats of @o, whose shared part is @sh and whose
 * OS objects start at slot @first; for a new object (@create) @sh is fresh.
 */
int mproc__cond_core_open(mproc__cond_core_t *c, const mproc__shobj_t *o,
                          mproc__cond_shared_t *sh, unsigned first, int create);
void mproc__cond_core_close(mproc__cond_core_t *c);
/*
 * Releases @l (which the caller holds, as often as it holds it), waits for
 * a notify or @timeout, and takes @l again: 0, MPROC_ETIMEDOUT, or
 * MPROC_ETOOMANY (every seat taken; @l stays held and nothing changed).
 */
int mproc__cond_core_wait(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                          double timeout);
/*
 * Wakes up to @n live waiters, oldest first; the caller holds @l. Dead
 * waiters found on the way are skipped and their seats freed: the number
 * of them (> 0), or 0.
 */
int mproc__cond_core_notify(mproc__cond_core_t *c, const mproc__cond_lock_t *l,
                            int n);
/*
 * Frees the seats of waiters that died, woken or not; the caller holds the
 * lock. The number of them (> 0), or 0.
 */
int mproc__cond_core_reap(mproc__cond_core_t *c);
/* Waits until @pred(@arg) holds: 0, MPROC_ETIMEDOUT or a wait's error. */
int mproc__cond_core_wait_for(mproc__cond_core_t *c,
                              const mproc__cond_lock_t *l,
                              mproc_predicate_fn pred, void *arg,
                              double timeout);

#endif
