/*
 * Unix backend: the semaphores and events that live in shared memory (the
 * lock is in os_mutex.c, the segments in os_shm.c).
 *
 * APR's process mutexes cannot be reopened by name from a spawned child
 * (APR unlinks the name at once), so this file uses POSIX directly:
 * process-shared sem_t and a futex word for events. Every object is kept in a
 * slot of a shared segment that the core allocates; a handle here is only this
 * process's pointer to the slot.
 *
 * The wait and post fast paths are one call into glibc and one branch:
 * no system call, allocation or formatting beyond what glibc does.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <semaphore.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

/* ---- slots ------------------------------------------------------------- */

/* C99 has no static_assert: a negative array size fails the build. */
#define SLOT_FITS(what, type)                                                  \
    typedef char                                                               \
        mproc__slot_fits_##what[sizeof(type) <= MPROC__OS_SYNC_SLOT ? 1 : -1]

typedef struct sem_slot {
    sem_t sem;
    unsigned max; /* the bound of a bounded semaphore; 0 for none */
} sem_slot;

typedef struct event_slot {
    uint32_t word;    /* the futex word: 0 clear, 1 set */
    uint32_t waiters; /* processes in (or entering) FUTEX_WAIT */
} event_slot;

SLOT_FITS(sem, sem_slot);
SLOT_FITS(event, event_slot);

/* sem_t and futex words need their natural alignment. */
static int check_slot(const void *slot)
{
    if (slot == NULL || ((uintptr_t) slot % 8) != 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a synchronization slot must be 8-byte "
                                "aligned shared memory");
    return 0;
}

/* ---- semaphores -------------------------------------------------------- */

struct mproc__os_sem {
    sem_slot *slot;
};

int mproc__os_sem_init(mproc__os_sem_t **s, void *slot, const char *name,
                       unsigned value, unsigned max, int create)
{
    mproc__os_sem_t *h;
    int rc = check_slot(slot);
    (void) name;
    *s = NULL;
    if (rc != 0)
        return rc;
    if (create && ((unsigned long) value > (unsigned long) SEM_VALUE_MAX ||
                   (unsigned long) max > (unsigned long) SEM_VALUE_MAX))
        return mproc__set_error(
            MPROC_ERANGE, "a semaphore's value is at most %d", SEM_VALUE_MAX);
    if (create && max != 0 && value > max)
        return mproc__set_error(MPROC_EINVAL,
                                "a bounded semaphore cannot start above "
                                "its bound");
    h = malloc(sizeof *h);
    if (h == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    h->slot = slot;
    if (create) {
        if (sem_init(&h->slot->sem, 1, value) < 0) {
            int err = errno;
            free(h);
            return mproc__unix_error(err, "cannot create a semaphore");
        }
        h->slot->max = max;
    }
    *s = h;
    return 0;
}

int mproc__os_sem_wait(mproc__os_sem_t *s, double timeout)
{
    struct timespec deadline;
    int r;
    if (timeout < 0) {
        do {
            r = sem_wait(&s->slot->sem);
        } while (r < 0 && errno == EINTR);
    } else if (timeout == 0) {
        do {
            r = sem_trywait(&s->slot->sem);
        } while (r < 0 && errno == EINTR);
        if (r < 0 && errno == EAGAIN)
            return MPROC_ETIMEDOUT;
    } else {
        mproc__unix_deadline_after(timeout, &deadline);
        do {
            r = sem_clockwait(&s->slot->sem, CLOCK_MONOTONIC, &deadline);
        } while (r < 0 && errno == EINTR);
        if (r < 0 && errno == ETIMEDOUT)
            return MPROC_ETIMEDOUT;
    }
    if (MPROC__LIKELY(r == 0))
        return 0;
    return mproc__unix_error(errno, "cannot acquire a semaphore");
}

int mproc__os_sem_post(mproc__os_sem_t *s)
{
    if (s->slot->max != 0) {
        int value;
        /*
         * Check, then post: two processes releasing at the bound at once
         * can both pass the check and exceed it by one. Python's
         * BoundedSemaphore (semaphore.c, SEM_GETVALUE then sem_post) has the
         * same race on Unix; closing it would need a lock around every post.
         */
        if (sem_getvalue(&s->slot->sem, &value) == 0 &&
            (unsigned) value >= s->slot->max)
            return mproc__set_error(MPROC_ETOOMANY,
                                    "semaphore released too many times (its "
                                    "bound is %u)",
                                    s->slot->max);
    }
    if (MPROC__LIKELY(sem_post(&s->slot->sem) == 0))
        return 0;
    if (errno == EOVERFLOW)
        return mproc__set_error(MPROC_ETOOMANY,
                                "semaphore released too many times (its "
                                "value is at the system's maximum)");
    return mproc__unix_error(errno, "cannot release a semaphore");
}

int mproc__os_sem_value(mproc__os_sem_t *s, int *value)
{
    if (sem_getvalue(&s->slot->sem, value) < 0)
        return mproc__unix_error(errno, "cannot read a semaphore's value");
    /* POSIX allows a negative count of waiters; Python reports 0 then. */
    if (*value < 0)
        *value = 0;
    return 0;
}

void mproc__os_sem_close(mproc__os_sem_t *s)
{
    free(s);
}

/* ---- events ------------------------------------------------------------ */

/*
 * An event is a futex word with a count of waiters, so that setting an
 * event nobody waits for costs no system call.
 *
 * Ordering: a waiter increments the count, then sleeps only if the word is
 * still 0 (the kernel checks that under its lock); a setter stores 1, then
 * reads the count. Both are sequentially consistent, so either the setter
 * sees the waiter and wakes it, or the waiter's increment comes after the
 * store and the kernel's check sees 1 and does not sleep. No wake-up is
 * lost. A waiter killed inside the wait leaves the count too high: that
 * only costs later setters a needless wake call.
 *
 * The futex operations are the shared (not _PRIVATE) ones: the word is in
 * memory shared between processes.
 */
struct mproc__os_event {
    event_slot *slot;
};

int mproc__os_event_init(mproc__os_event_t **e, void *slot, const char *name,
                         int create)
{
    mproc__os_event_t *h;
    int rc = check_slot(slot);
    (void) name;
    *e = NULL;
    if (rc != 0)
        return rc;
    h = malloc(sizeof *h);
    if (h == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    h->slot = slot;
    if (create) {
        __atomic_store_n(&h->slot->waiters, 0, __ATOMIC_RELAXED);
        __atomic_store_n(&h->slot->word, 0, __ATOMIC_SEQ_CST);
    }
    *e = h;
    return 0;
}

int mproc__os_event_set(mproc__os_event_t *e)
{
    __atomic_store_n(&e->slot->word, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&e->slot->waiters, __ATOMIC_SEQ_CST) != 0 &&
        mproc__unix_futex(&e->slot->word, FUTEX_WAKE, INT_MAX, NULL, 0) < 0)
        return mproc__unix_error(errno, "cannot wake an event's waiters");
    return 0;
}

int mproc__os_event_clear(mproc__os_event_t *e)
{
    __atomic_store_n(&e->slot->word, 0, __ATOMIC_SEQ_CST);
    return 0;
}

int mproc__os_event_is_set(mproc__os_event_t *e)
{
    return __atomic_load_n(&e->slot->word, __ATOMIC_SEQ_CST) == 1;
}

int mproc__os_event_wait(mproc__os_event_t *e, double timeout)
{
    struct timespec deadline, *tsp = NULL;
    event_slot *s = e->slot;
    if (timeout > 0) {
        mproc__unix_deadline_after(timeout, &deadline);
        tsp = &deadline;
    }
    for (;;) {
        long r;
        int err;
        if (__atomic_load_n(&s->word, __ATOMIC_SEQ_CST) == 1)
            return 0;
        if (timeout == 0)
            return MPROC_ETIMEDOUT;
        __atomic_add_fetch(&s->waiters, 1, __ATOMIC_SEQ_CST);
        /*
         * FUTEX_WAIT_BITSET takes an absolute CLOCK_MONOTONIC deadline
         * (plain FUTEX_WAIT a relative one), so wake-ups that find the
         * event cleared again, and signals, do not stretch the timeout.
         */
        r = mproc__unix_futex(&s->word, FUTEX_WAIT_BITSET, 0, tsp,
                              FUTEX_BITSET_MATCH_ANY);
        err = r < 0 ? errno : 0;
        __atomic_sub_fetch(&s->waiters, 1, __ATOMIC_SEQ_CST);
        if (r < 0 && err == ETIMEDOUT)
            return __atomic_load_n(&s->word, __ATOMIC_SEQ_CST) == 1
                       ? 0
                       : MPROC_ETIMEDOUT;
        /* EAGAIN: the word was no longer 0; EINTR: a signal. Look again. */
        if (r < 0 && err != EAGAIN && err != EINTR)
            return mproc__unix_error(err, "cannot wait for an event");
    }
}

void mproc__os_event_close(mproc__os_event_t *e)
{
    free(e);
}
