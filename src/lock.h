/*
 * The insides of Lock and RLock (private), for what runs over them: a
 * Condition waits on either, and reopens its lock by name.
 */
#ifndef MPROC_LOCK_H
#define MPROC_LOCK_H

#include <stdint.h>

#include "atomic.h"
#include "shared_object.h"

struct mproc_lock_t {
    mproc__shobj_t base;
    mproc__os_mutex_t *mutex;
};

/*
 * An RLock is a Lock whose mutex is recursive, and who holds it how often.
 * Threads that do not hold it read the owner while the holder writes it,
 * so the owner is read and written atomically; the count is the owner's
 * own.
 */
struct mproc_rlock_t {
    mproc_lock_t lock;       /* first: the base and the mutex */
    volatile uint64_t owner; /* the thread of this process that owns it, or 0 */
    unsigned count;          /* how often the owner holds it */
};

/* Whether the calling thread, @me, owns @r. */
static inline int mproc__rlock_owned_by(mproc_rlock_t *r, long me)
{
    return mproc__atomic_load64(&r->owner) == (uint64_t) me;
}

/* Their classes, to open one by name (mproc__shobj_open). */
extern const mproc__shobj_class_t mproc__lock_class;
extern const mproc__shobj_class_t mproc__rlock_class;

#endif
