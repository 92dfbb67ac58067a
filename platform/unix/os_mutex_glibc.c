/*
 * Unix backend: the lock's glibc path, a futex lock on glibc's robust list.
 *
 * The lock is a futex word in a shared slot, kept on the kernel's robust
 * futex list of the thread that holds it, so that a holder that dies does
 * not lock everybody out: at its exit the kernel marks the word
 * FUTEX_OWNER_DIED and wakes a waiter, who takes the lock and is told
 * (MPROC_OWNERDEAD). That is what a glibc robust pthread mutex does; doing
 * it here, with one compare-and-swap and a few stores to the thread's own
 * list inline, costs about what a plain (not robust) pthread mutex costs
 * (1.1x), where glibc's general robust path, the one os_mutex_pthread.c
 * takes, costs 1.3x (bench/README.md).
 *
 * What this takes from glibc: the list head, whose address the kernel
 * gives (get_robust_list), and the entry layout of pthread_mutex_t, which
 * glibc's public headers and ABI fix. The head's futex_offset is checked
 * once per thread: that check is the gate of this path
 * (mproc__unix_glibc_lock_usable), and a lock is only made on this path
 * where it passed; elsewhere os_mutex.c makes it on the pthread path.
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
#include "os_internal.h"

#include <errno.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

/* __GLIBC__ comes with the first libc header. */
#if !defined(__linux__) || !defined(__GLIBC__)
    #error "the lock's glibc path needs Linux and glibc: configure with " \
        "-DMPROC_LOCK_GLIBC_FAST=OFF"
#endif

#define MPROC__NOINLINE __attribute__((noinline))
#define COMPILER_BARRIER() __atomic_signal_fence(__ATOMIC_SEQ_CST)

/* Compare-and-waits before a contended locker goes to sleep. */
#define SPIN_TRIES 100

/* ---- the calling thread ------------------------------------------------ */

/*
 * Per thread: its id and its robust list head, cached here for the inline
 * path. A fork child's only thread is a copy of the forking one with the
 * same cached values; os_mutex.c's fork handler clears them in the child
 * (mproc__unix_glibc_lock_forget).
 */
static MPROC__TLS uint32_t self_tid;
static MPROC__TLS struct robust_list_head *self_head;

void mproc__unix_glibc_lock_forget(void)
{
    self_tid = 0;
    self_head = NULL;
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
    mproc__lock_slot_fits[sizeof(lock_slot) <= MPROC__UNIX_LOCK_SLOT_USED ? 1
                                                                          : -1];
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
 * The calling thread's list head, found once per thread; NULL when the C
 * library keeps no robust list the kernel and we can share. Kept out of
 * line: the lock's fast path inlines only the test.
 */
static MPROC__NOINLINE struct robust_list_head *self_list_find(void)
{
    struct robust_list_head *head = NULL;
    size_t len = 0;
    /* Registers os_mutex.c's fork handler before anything is cached. */
    long tid = mproc__os_thread_id();
    if (syscall(SYS_get_robust_list, 0, &head, &len) != 0 || head == NULL ||
        len != sizeof *head || head->futex_offset != FUTEX_OFFSET)
        return NULL;
    self_tid = (uint32_t) tid;
    self_head = head;
    return head;
}

static inline struct robust_list_head *self_list(void)
{
    return MPROC__LIKELY(self_head != NULL) ? self_head : self_list_find();
}

int mproc__unix_glibc_lock_usable(void)
{
    return self_list() != NULL;
}

/*
 * A lock made on this path, used by a thread whose list fails the check.
 * glibc registers the same list for each of its threads, so this is not
 * expected; it is an error rather than a lock that would silently fail to
 * report a dead holder.
 */
static MPROC__NOINLINE int no_list(void)
{
    return mproc__set_error(MPROC_ENOTSUP,
                            "this thread keeps no robust futex list that the "
                            "lock can join, so the lock could not survive "
                            "its holder's death");
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

/* ---- the lock ---------------------------------------------------------- */

void mproc__unix_glibc_lock_create(void *slot)
{
    memset(slot, 0, sizeof(lock_slot));
}

/* We hold the word now: list the slot and finish the operation. */
static inline int taken(struct robust_list_head *head, lock_slot *s,
                        int owner_died)
{
    list_push(head, s);
    COMPILER_BARRIER();
    head->list_op_pending = NULL;
    s->depth = 1;
    if (owner_died)
        return mproc__unix_lock_owner_died();
    return 0;
}

/* The part of mproc__unix_glibc_lock after the first attempt failed. */
static MPROC__NOINLINE int
lock_slow(mproc__os_mutex_t *m, struct robust_list_head *head, double timeout)
{
    lock_slot *s = m->slot;
    uint32_t tid = self_tid;
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
            return mproc__unix_lock_relocked(m, &s->depth, timeout, dl);
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

int mproc__unix_glibc_lock(mproc__os_mutex_t *m, double timeout)
{
    lock_slot *s = m->slot;
    struct robust_list_head *head = self_list();
    uint32_t free_word = 0;
    if (head == NULL)
        return no_list();
    head->list_op_pending = ENTRY(s);
    COMPILER_BARRIER();
    if (MPROC__LIKELY(__atomic_compare_exchange_n(&s->word, &free_word,
                                                  self_tid, 0, __ATOMIC_ACQUIRE,
                                                  __ATOMIC_RELAXED)))
        return taken(head, s, 0);
    return lock_slow(m, head, timeout);
}

long mproc__unix_glibc_lock_holder(const mproc__os_mutex_t *m)
{
    const lock_slot *s = m->slot;
    return (long) (__atomic_load_n(&s->word, __ATOMIC_RELAXED) &
                   FUTEX_TID_MASK);
}

int mproc__unix_glibc_unlock(mproc__os_mutex_t *m)
{
    lock_slot *s = m->slot;
    struct robust_list_head *head = self_list();
    uint32_t v = __atomic_load_n(&s->word, __ATOMIC_RELAXED);
    uint32_t owner = v & FUTEX_TID_MASK;
    if (head == NULL)
        return no_list();
    if (owner != self_tid) {
        /*
         * A lock whose holder died is not held either; it stays marked so
         * that its next holder still hears of the death.
         */
        if (owner == 0)
            return mproc__unix_lock_not_held();
        return mproc__unix_lock_not_owner();
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
