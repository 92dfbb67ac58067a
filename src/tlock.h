/*
 * This file is private to mproc.
 *
 * Locks between the threads of one process (tlock.c): a spin lock for the
 * runtime's own lists, and a blocking handle lock for an object's
 * per-handle state. Both survive fork: a lock that another thread held
 * when this process was forked would otherwise stay held in the child for
 * ever, since that thread does not exist there.
 */
#ifndef MPROC_SRC_TLOCK_H
#define MPROC_SRC_TLOCK_H

#include <stdint.h>

/*
 * A spin lock for sections of a few instructions (a list edit or search),
 * usable before mproc_main() (a target registered while the program loads)
 * and needing no memory of its own. A waiter yields the processor, so a
 * holder that was preempted runs again soon. Zero is unlocked.
 */
typedef struct mproc__spin_t {
    volatile uint32_t held;
} mproc__spin_t;

#define MPROC__SPIN_INIT                                                       \
    {                                                                          \
        0                                                                      \
    }

void mproc__spin_lock(mproc__spin_t *s);
void mproc__spin_unlock(mproc__spin_t *s);
/* In a fork child: unlocked, whoever held it in the parent. */
void mproc__spin_reset(mproc__spin_t *s);

/*
 * A lock for one handle's state, held across a blocking operation (a get
 * that waits for an item). It is made again, unlocked, on its first use in
 * a fork child.
 */
typedef struct mproc__hlock mproc__hlock_t;

/* 0; MPROC_ENOMEM. */
int mproc__hlock_create(mproc__hlock_t **h);
/*
 * 0; MPROC_ETIMEDOUT (no sentence set) once @timeout seconds are over;
 * MPROC_ENOMEM in a fork child with no memory to make it again. A NULL
 * @h is an object no other thread can reach: 0 at once.
 */
int mproc__hlock_lock(mproc__hlock_t *h, double timeout);
void mproc__hlock_unlock(mproc__hlock_t *h);
void mproc__hlock_destroy(mproc__hlock_t *h);

/* In a fork child: every handle lock is made again on its next use. */
void mproc__tlock_after_fork(void);

#endif
