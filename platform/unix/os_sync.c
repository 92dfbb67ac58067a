/*
 * Unix backend: time helpers, shared memory and the semaphores and events
 * that live in it (the lock is in os_mutex.c).
 *
 * APR's process mutexes and shared memory cannot be reopened by name from a
 * spawned child (APR unlinks the name at once), so this file uses POSIX
 * directly: shm_open segments, process-shared sem_t and a futex word for
 * events. Every object is kept in a slot of a shared segment that the core
 * allocates; a handle here is only this process's pointer to the slot.
 *
 * The wait and post fast paths are one call into glibc and one branch:
 * no system call, allocation or formatting beyond what glibc does.
 */
#if defined(_WIN32)
    #error "the Unix backend is built on Windows: use platform/win32"
#endif

#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
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

#include "mproc_private.h"
#include "os_internal.h"

/* The longest shared memory name the contract allows. */
#define SHM_NAME_MAX 31

/* ---- time -------------------------------------------------------------- */

/* The absolute CLOCK_MONOTONIC time @timeout seconds (> 0) from now. */
void mproc__unix_deadline_after(double timeout, struct timespec *ts)
{
    time_t whole;
    /* About 30 years: far enough to mean "never" without overflowing. */
    if (timeout > 1e9)
        timeout = 1e9;
    whole = (time_t) timeout;
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += whole;
    ts->tv_nsec += (long) ((timeout - (double) whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Sleeps until the absolute CLOCK_MONOTONIC time @ts. */
void mproc__unix_sleep_until(const struct timespec *ts)
{
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) == EINTR) {
    }
}

/* ---- futexes ---------------------------------------------------------- */

long mproc__unix_futex(uint32_t *word, int op, uint32_t val,
                       const struct timespec *ts, uint32_t bitset)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, bitset);
}

/* ---- shared memory ----------------------------------------------------- */

struct mproc__os_shm {
    void *addr;
    size_t size;
};

/* The contract's names: 1 to 31 characters of [A-Za-z0-9_.-]. */
static int check_shm_name(const char *name, char path[SHM_NAME_MAX + 2])
{
    size_t i, n = strlen(name);
    if (n == 0 || n > SHM_NAME_MAX)
        return mproc__set_error(MPROC_EINVAL,
                                "shared memory name '%s' is not 1 to %d "
                                "characters long",
                                name, SHM_NAME_MAX);
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return mproc__set_error(MPROC_EINVAL,
                                    "shared memory name '%s' has a character "
                                    "other than A-Z a-z 0-9 _ . -",
                                    name);
    }
    path[0] = '/';
    memcpy(path + 1, name, n + 1);
    return 0;
}

static int shm_wrap(mproc__os_shm_t **shm, void *addr, size_t size)
{
    mproc__os_shm_t *s = malloc(sizeof *s);
    if (s == NULL) {
        munmap(addr, size);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    s->addr = addr;
    s->size = size;
    *shm = s;
    return 0;
}

int mproc__os_shm_create(mproc__os_shm_t **shm, const char *name, size_t size)
{
    char path[SHM_NAME_MAX + 2];
    void *addr;
    int fd, rc, err;

    *shm = NULL;
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL, "empty shared memory segment");
    if (name == NULL) {
        /* Anonymous: fork children share it through the inherited mapping. */
        addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (addr == MAP_FAILED)
            return mproc__unix_error(errno,
                                     "cannot map anonymous shared memory");
        return shm_wrap(shm, addr, size);
    }
    rc = check_shm_name(name, path);
    if (rc != 0)
        return rc;
    /* 0600: only this user's processes may open it, as Python does. */
    fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return mproc__set_error(MPROC_EEXIST,
                                    "shared memory '%s' exists already", name);
        return mproc__unix_error(errno, "cannot create shared memory");
    }
    /* ftruncate zero-fills: the contract's "zeroed bytes". */
    if (ftruncate(fd, (off_t) size) < 0) {
        err = errno;
        close(fd);
        shm_unlink(path);
        return mproc__unix_error(err, "cannot size shared memory");
    }
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    /* The mapping keeps the object alive; the descriptor is not needed. */
    close(fd);
    if (addr == MAP_FAILED) {
        shm_unlink(path);
        return mproc__unix_error(err, "cannot map shared memory");
    }
    rc = shm_wrap(shm, addr, size);
    if (rc != 0)
        shm_unlink(path);
    return rc;
}

int mproc__os_shm_open(mproc__os_shm_t **shm, const char *name, size_t size)
{
    char path[SHM_NAME_MAX + 2];
    struct stat st;
    void *addr;
    int fd, rc, err;

    *shm = NULL;
    if (name == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "anonymous shared memory cannot be opened");
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL, "empty shared memory segment");
    rc = check_shm_name(name, path);
    if (rc != 0)
        return rc;
    fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return mproc__set_error(MPROC_ENOTFOUND,
                                    "shared memory '%s' does not exist (its "
                                    "last user removed it)",
                                    name);
        return mproc__unix_error(errno, "cannot open shared memory");
    }
    if (fstat(fd, &st) < 0) {
        err = errno;
        close(fd);
        return mproc__unix_error(err, "cannot inspect shared memory");
    }
    if (st.st_size < 0 || (unsigned long long) st.st_size < size) {
        close(fd);
        return mproc__set_error(MPROC_ECORRUPT,
                                "shared memory '%s' has %lld bytes, fewer "
                                "than the %zu expected",
                                name, (long long) st.st_size, size);
    }
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    close(fd);
    if (addr == MAP_FAILED)
        return mproc__unix_error(err, "cannot map shared memory");
    return shm_wrap(shm, addr, size);
}

void *mproc__os_shm_addr(const mproc__os_shm_t *shm)
{
    return shm->addr;
}

void mproc__os_shm_close(mproc__os_shm_t *shm)
{
    if (shm == NULL)
        return;
    /* A lock held by one of our threads in it keeps it mapped. */
    if (!mproc__unix_is_pinned(shm->addr, shm->size))
        munmap(shm->addr, shm->size);
    free(shm);
}

void mproc__os_shm_unlink(const char *name)
{
    char path[SHM_NAME_MAX + 2];
    if (name == NULL || check_shm_name(name, path) != 0)
        return;
    /* ENOENT: someone else removed it first, which is what we wanted. */
    shm_unlink(path);
}

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
