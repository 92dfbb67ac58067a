/*
 * Unix backend: thread ids and the process-shared lock.
 *
 * The lock is a futex word in a shared slot, kept on the kernel's robust
 * futex list of the thread that holds it, so that a holder that dies does
 * not lock everybody out: at its exit the kernel marks the word
 * FUTEX_OWNER_DIED and wakes a waiter, who takes the lock and is told
 * (MPROC_OWNERDEAD). That is what a glibc robust pthread mutex does; doing
 * it here, with one compare-and-swap and a few stores to the thread's own
 * list inline, costs about what a plain (not robust) pthread mutex costs
 * (1.1x), where glibc's general robust path costs 1.3x (bench/README.md).
 *
 * What this takes from glibc: the list head, whose address the kernel
 * gives (get_robust_list), and the entry layout of pthread_mutex_t, which
 * glibc's public headers and ABI fix. The head's futex_offset is checked
 * once per thread; a mismatch is MPROC_ENOTSUP, never a lock that would
 * silently fail to report a dead holder.
 *
 * The kernel keeps one robust list per thread, and glibc registers it (in
 * its thread descriptor) for every thread it starts. We do not register a
 * list of our own: we link our slots into glibc's list, laid out as glibc
 * lays out a pthread_mutex_t, so that glibc and the kernel treat each of
 * them as one of glibc's robust mutexes:
 *
 *   - the futex word at the same distance before the list entry as
 *     pthread_mutex_t's __lock before its __list.__next (the list head's
 *     futex_offset, which is checked at run time);
 *   - a doubly linked entry {prev, next} like __list, where every pointer
 *     points at a "next" field, the head itself counting as one. glibc's
 *     own insertions and removals rewrite the neighbours' pointers, ours
 *     must keep theirs right too.
 *
 * The word is the kernel's: the holder's thread id, FUTEX_WAITERS when
 * somebody may sleep on it, FUTEX_OWNER_DIED after a holder died.
 *
 * Around each change of the word and the list, the head's list_op_pending
 * names the slot, so that a death in between is still seen by the kernel.
 * The kernel runs the exit on the dying thread itself, so compiler barriers
 * are all the ordering those stores need.
 */
#if defined(_WIN32)
    #error "the Unix backend is built on Windows: use platform/win32"
#endif

#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mproc_private.h"
#include "os_internal.h"

/* __GLIBC__ comes with the first libc header. */
#if !defined(__linux__) || !defined(__GLIBC__)
    #error                                                                     \
        "the Unix backend's lock needs Linux and glibc (its robust futex list)"
#endif

#define MPROC__NOINLINE __attribute__((noinline))
#define COMPILER_BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Compare-and-waits before a contended locker goes to sleep. */
#define SPIN_TRIES 100

/* ---- the calling thread ------------------------------------------------ */

/*
 * Per thread: its id (gettid() is a system call) and its robust list head.
 * A fork child's only thread is a copy of the forking one with the same
 * cached values, so a fork handler clears them in the child. The handler
 * is registered before the first value is cached, so none can miss it.
 */
static MPROC__TLS long self_tid;
static MPROC__TLS struct robust_list_head *self_head;
static pthread_once_t self_once = PTHREAD_ONCE_INIT;

static void self_forget_in_child(void)
{
    self_tid = 0;
    self_head = NULL;
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

/* ---- the slot ---------------------------------------------------------- */

typedef struct lock_slot {
    uint32_t word;  /* the futex word */
    uint32_t depth; /* recursive locks: how often the holder holds it */
    unsigned char unused[offsetof(pthread_mutex_t, __data.__list.__prev) - 8];
    void *prev; /* the robust list entry, as pthread_mutex_t's __list */
    void *next;
} lock_slot;

/* C99 has no static_assert: a negative array size fails the build. */
typedef char
    mproc__lock_slot_fits[sizeof(lock_slot) <= MPROC__OS_SYNC_SLOT ? 1 : -1];
typedef char mproc__lock_slot_like_glibc
    [offsetof(lock_slot, next) ==
                 offsetof(pthread_mutex_t, __data.__list.__next) &&
             offsetof(pthread_mutex_t, __data.__lock) == 0
         ? 1
         : -1];

/* The kernel finds the word at entry + futex_offset. */
#define FUTEX_OFFSET (-(long) offsetof(lock_slot, next))
#define ENTRY(slot) ((struct robust_list *) &(slot)->next)
/* An entry's prev field is the pointer just before its next field. */
#define PREV_OF(entry) (((void **) (entry))[-1])

/*
 * The calling thread's list head, found once per thread; NULL with an
 * error recorded when the C library keeps no robust list the kernel and we
 * can share. Kept out of line: the lock's fast path inlines only the test.
 */
static MPROC__NOINLINE struct robust_list_head *self_list_find(void)
{
    struct robust_list_head *head = NULL;
    size_t len = 0;
    mproc__os_thread_id(); /* registers the fork handler first */
    if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 || head == NULL ||
        len != sizeof *head || head->futex_offset != FUTEX_OFFSET) {
        mproc__set_error(MPROC_ENOTSUP,
                         "this C library keeps no robust futex list that a "
                         "lock can join, so a lock could not survive its "
                         "holder's death");
        return NULL;
    }
    self_head = head;
    return head;
}

static inline struct robust_list_head *self_list(void)
{
    return MPROC__LIKELY(self_head != NULL) ? self_head : self_list_find();
}

/*
 * glibc tags the entry of a priority-inheritance mutex by setting bit 0 of
 * the pointers to it; the tag must stay in the links (the kernel reads it)
 * but be cleared to reach the entry.
 */
#define UNTAGGED(entry)                                                        \
    ((struct robust_list *) ((uintptr_t) (entry) & ~(uintptr_t) 1))

/* Puts @s first on the list, as glibc's ENQUEUE_MUTEX does. */
static inline void list_push(struct robust_list_head *head, lock_slot *s)
{
    struct robust_list *first = head->list.next;
    s->next = first;
    s->prev = &head->list;
    /* The head's own prev (glibc's robust_prev) is never read: skip it. */
    if (UNTAGGED(first) != &head->list)
        PREV_OF(UNTAGGED(first)) = ENTRY(s);
    /* The entry is complete before the kernel can reach it. */
    COMPILER_BARRIER();
    head->list.next = ENTRY(s);
}

/* Takes @s off the list wherever it is, as glibc's DEQUEUE_MUTEX does. */
static inline void list_remove(struct robust_list_head *head, lock_slot *s)
{
    struct robust_list *next = s->next;
    struct robust_list *prev = UNTAGGED(s->prev);
    if (UNTAGGED(next) != &head->list)
        PREV_OF(UNTAGGED(next)) = prev;
    prev->next = next;
    /* Off the list before its own links, which the kernel may read, go. */
    COMPILER_BARRIER();
    s->next = NULL;
    s->prev = NULL;
}

/*
 * Slots held by a thread of this process when their handle was closed.
 * Such a slot is still on that thread's robust list, where the kernel will
 * look for it when the thread exits (to tell the next holder), so the
 * memory under it must stay mapped: mproc__os_shm_close asks here. This
 * is what makes a process that exits holding a lock (and closes its
 * handles on the way out) hand MPROC_OWNERDEAD to the next holder.
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

/* ---- the lock ---------------------------------------------------------- */

struct mproc__os_mutex {
    lock_slot *slot;
    mproc__os_mutex_kind_e kind;
};

int mproc__os_mutex_init(mproc__os_mutex_t **m, void *slot, const char *name,
                         mproc__os_mutex_kind_e kind, int create)
{
    mproc__os_mutex_t *h;
    (void) name; /* the lock lives in the slot, not under a name */
    *m = NULL;
    if (slot == NULL || ((uintptr_t) slot % sizeof(void *)) != 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a lock slot must be pointer-aligned shared "
                                "memory");
    if (self_list() == NULL)
        return MPROC_ENOTSUP;
    h = malloc(sizeof *h);
    if (h == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    h->slot = slot;
    h->kind = kind;
    if (create)
        memset(slot, 0, sizeof(lock_slot));
    *m = h;
    return 0;
}

/* We hold the word now: list the slot and finish the operation. */
static inline int taken(struct robust_list_head *head, lock_slot *s,
                        int owner_died)
{
    list_push(head, s);
    COMPILER_BARRIER();
    head->list_op_pending = NULL;
    s->depth = 1;
    /* Held either way: a dead previous holder is news, not a failure. */
    return owner_died ? MPROC_OWNERDEAD : 0;
}

/* The caller holds the lock already: what locking again means. */
static int relocked(mproc__os_mutex_t *m, double timeout,
                    const struct timespec *deadline)
{
    if (m->kind == MPROC__OS_MUTEX_RECURSIVE) {
        if (m->slot->depth == UINT32_MAX)
            return mproc__set_error(MPROC_EOS,
                                    "the lock was acquired recursively too "
                                    "many times");
        m->slot->depth++;
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

/* The part of mproc__os_mutex_lock after the first attempt failed. */
static MPROC__NOINLINE int
lock_slow(mproc__os_mutex_t *m, struct robust_list_head *head, double timeout)
{
    lock_slot *s = m->slot;
    uint32_t tid = (uint32_t) self_tid;
    struct timespec deadline, *dl = NULL;
    int spins = SPIN_TRIES, slept = 0;
    if (timeout > 0) {
        mproc__unix_deadline_after(timeout, &deadline);
        dl = &deadline;
    }
    for (;;) {
        uint32_t v = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
        uint32_t owner = v & FUTEX_TID_MASK;
        if (owner == 0) {
            /*
             * Free, or its holder died (the kernel cleared the owner and
             * set FUTEX_OWNER_DIED). Keep FUTEX_WAITERS: others may sleep.
             */
            uint32_t mine = tid | (v & FUTEX_WAITERS);
            /*
             * A thread that slept takes it marked: the unlock that woke it
             * cleared the bit, and others may still sleep.
             */
            if (slept)
                mine |= FUTEX_WAITERS;
            if (__atomic_compare_exchange_n(&s->word, &v, mine, 0,
                                            __ATOMIC_ACQUIRE, __ATOMIC_RELAXED))
                return taken(head, s, (v & FUTEX_OWNER_DIED) != 0);
            continue;
        }
        if (owner == tid) {
            head->list_op_pending = NULL;
            return relocked(m, timeout, dl);
        }
        if (timeout == 0) {
            head->list_op_pending = NULL;
            return MPROC_ETIMEDOUT;
        }
        if (spins > 0) {
            spins--;
#if defined(__x86_64__) || defined(__i386__)
            __builtin_ia32_pause();
#endif
            continue;
        }
        if (!(v & FUTEX_WAITERS)) {
            if (!__atomic_compare_exchange_n(&s->word, &v, v | FUTEX_WAITERS, 0,
                                             __ATOMIC_RELAXED,
                                             __ATOMIC_RELAXED))
                continue;
            v |= FUTEX_WAITERS;
        }
        slept = 1;
        /* Absolute CLOCK_MONOTONIC: wake-ups do not stretch the timeout. */
        if (mproc__unix_futex(&s->word, FUTEX_WAIT_BITSET, v, dl,
                              FUTEX_BITSET_MATCH_ANY) != 0) {
            int err = errno;
            if (err == ETIMEDOUT) {
                head->list_op_pending = NULL;
                return MPROC_ETIMEDOUT;
            }
            /* EAGAIN: the word changed first; EINTR: a signal. */
            if (err != EAGAIN && err != EINTR) {
                head->list_op_pending = NULL;
                return mproc__unix_error(err, "cannot wait for a lock");
            }
        }
    }
}

int mproc__os_mutex_lock(mproc__os_mutex_t *m, double timeout)
{
    lock_slot *s = m->slot;
    struct robust_list_head *head = self_list();
    uint32_t free_word = 0;
    if (head == NULL)
        return MPROC_ENOTSUP;
    head->list_op_pending = ENTRY(s);
    COMPILER_BARRIER();
    if (MPROC__LIKELY(__atomic_compare_exchange_n(
            &s->word, &free_word, (uint32_t) self_tid, 0, __ATOMIC_ACQUIRE,
            __ATOMIC_RELAXED)))
        return taken(head, s, 0);
    return lock_slow(m, head, timeout);
}

int mproc__os_mutex_is_mine(mproc__os_mutex_t *m)
{
    uint32_t v = __atomic_load_n(&m->slot->word, __ATOMIC_RELAXED);
    return (v & FUTEX_TID_MASK) == (uint32_t) mproc__os_thread_id();
}

int mproc__os_mutex_unlock(mproc__os_mutex_t *m)
{
    lock_slot *s = m->slot;
    struct robust_list_head *head = self_list();
    uint32_t v = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
    uint32_t owner = v & FUTEX_TID_MASK;
    if (head == NULL)
        return MPROC_ENOTSUP;
    if (owner != (uint32_t) self_tid) {
        /*
         * A lock whose holder died is not held either; it stays marked so
         * that its next holder still hears of the death.
         */
        if (owner == 0)
            return mproc__set_error(MPROC_ENOTHELD,
                                    "cannot release a lock that is not held");
        return mproc__set_error(MPROC_ENOTOWNER,
                                "cannot release a lock held by another "
                                "process or thread");
    }
    if (s->depth > 1) {
        s->depth--;
        return 0;
    }
    s->depth = 0;
    head->list_op_pending = ENTRY(s);
    COMPILER_BARRIER();
    list_remove(head, s);
    COMPILER_BARRIER();
    v = __atomic_exchange_n(&s->word, 0, __ATOMIC_RELEASE);
    if (v & FUTEX_WAITERS)
        mproc__unix_futex(&s->word, FUTEX_WAKE, 1, NULL, 0);
    COMPILER_BARRIER();
    head->list_op_pending = NULL;
    return 0;
}

void mproc__os_mutex_close(mproc__os_mutex_t *m)
{
    uint32_t owner =
        __atomic_load_n(&m->slot->word, __ATOMIC_RELAXED) & FUTEX_TID_MASK;
    /*
     * Held by a thread of ours (the caller, or one that tgkill finds in
     * this process): it stays held, as a Windows mutex does when its handle
     * closes, and its memory stays mapped for the kernel (see pin()).
     */
    if (owner != 0 && (owner == (uint32_t) mproc__os_thread_id() ||
                       syscall(SYS_tgkill, getpid(), (pid_t) owner, 0) == 0))
        pin(m->slot);
    /* Other processes still use the lock: only the handle goes. */
    free(m);
}
