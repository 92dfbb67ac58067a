/*
 * Unix backend internals, shared by the files of platform/unix only.
 */
#ifndef MPROC_OS_INTERNAL_H
#define MPROC_OS_INTERNAL_H

#if defined(_WIN32)
    #error "the Unix backend is built on Windows: use platform/win32"
#endif

#include <stdint.h>
#include <sys/types.h>

#include "mproc_os.h"

/*
 * A child. Its end is learnt in one of two ways: a real child of ours is
 * watched through a pidfd (Linux) and reaped with waitpid; a forkserver
 * child belongs to the server, which writes its status to @status_fd.
 */
struct mproc__os_child {
    pid_t pid;
    int pidfd;     /* -1 when pidfds are missing or for forkserver children */
    int status_fd; /* forkserver children: the server's connection */
    int done;      /* the exit code is known */
    int exitcode;  /* Python's convention */
};

#define MPROC__LIKELY(x) __builtin_expect(!!(x), 1)

struct timespec;
/*
 * The futex system call, in its shared (not _PRIVATE) form: every futex
 * word of the backend is in memory shared between processes.
 */
long mproc__unix_futex(uint32_t *word, int op, uint32_t val,
                       const struct timespec *ts, uint32_t bitset);
/* The absolute CLOCK_MONOTONIC time @timeout seconds (> 0) from now. */
void mproc__unix_deadline_after(double timeout, struct timespec *ts);
/* Sleeps until the absolute CLOCK_MONOTONIC time @ts. */
void mproc__unix_sleep_until(const struct timespec *ts);

/* ---- the lock (os_mutex.c, os_mutex_glibc.c, os_mutex_pthread.c) ---- */

/*
 * Whether the glibc path is built (CMake's MPROC_LOCK_GLIBC_FAST, on by
 * default where the C library is glibc).
 */
#if defined(MPROC_LOCK_GLIBC_FAST) && MPROC_LOCK_GLIBC_FAST
    #define MPROC__UNIX_GLIBC_LOCK 1
#else
    #define MPROC__UNIX_GLIBC_LOCK 0
#endif

/*
 * The bytes of a slot that either path may use; the last word of the slot
 * records which path made it (os_mutex.c).
 */
#define MPROC__UNIX_LOCK_SLOT_USED (MPROC__OS_SYNC_SLOT - sizeof(uint32_t))

/* A handle. */
struct mproc__os_mutex {
    void *slot;
    mproc__os_mutex_kind_e kind;
    int glibc; /* served by os_mutex_glibc.c, else by os_mutex_pthread.c */
};

/* The statuses both paths give, with the same sentences. */
int mproc__unix_lock_owner_died(void);
int mproc__unix_lock_not_held(void);
int mproc__unix_lock_not_owner(void);
/*
 * The caller holds @m already and asks again: @depth is the slot's count
 * for a recursive lock; @deadline is set when @timeout > 0.
 */
int mproc__unix_lock_relocked(mproc__os_mutex_t *m, uint32_t *depth,
                              double timeout, const struct timespec *deadline);

/*
 * The glibc path. _usable checks, once per thread, that the calling
 * thread's robust list is glibc's with the layout the path relies on;
 * _forget clears the per-thread cache in a fork child.
 */
int mproc__unix_glibc_lock_usable(void);
void mproc__unix_glibc_lock_forget(void);
void mproc__unix_glibc_lock_create(void *slot);
int mproc__unix_glibc_lock(mproc__os_mutex_t *m, double timeout);
int mproc__unix_glibc_unlock(mproc__os_mutex_t *m);
long mproc__unix_glibc_lock_holder(const mproc__os_mutex_t *m);

/* The pthread path; the same operations. */
int mproc__unix_pthread_lock_create(void *slot);
int mproc__unix_pthread_lock(mproc__os_mutex_t *m, double timeout);
int mproc__unix_pthread_unlock(mproc__os_mutex_t *m);
long mproc__unix_pthread_lock_holder(const mproc__os_mutex_t *m);

/*
 * Whether [@addr, @addr + @size) holds a lock that a thread of this process
 * held when its handle was closed: such memory must not be unmapped.
 */
int mproc__unix_is_pinned(const void *addr, size_t size);

/* Translates errno into a status and records @what with strerror. */
int mproc__unix_error(int err, const char *what);

/*
 * posix_spawn of this program with @args (argv[0] added), @nfds descriptors
 * from @fds moved to 3, 4, ... in the child, stdin on /dev/null, every
 * other descriptor above 2 closed.
 */
int mproc__unix_spawn_self(struct mproc__os_child **child,
                           const char *const *args, const int *fds, int nfds);

/* Flags of mproc__unix_spawn_self_ex(). */
enum {
    /*
     * The child starts a session of its own (POSIX_SPAWN_SETSID): a signal
     * sent to the program's process group or terminal does not reach it.
     */
    MPROC__UNIX_SPAWN_SETSID = 1
};

/* mproc__unix_spawn_self() with MPROC__UNIX_SPAWN_* @flags. */
int mproc__unix_spawn_self_ex(struct mproc__os_child **child,
                              const char *const *args, const int *fds, int nfds,
                              int flags);

/*
 * A connection on the socket @fd, both ways (os_net.c's accepted and
 * connected sockets), which it owns (and closes on failure).
 */
int mproc__unix_conn_wrap(mproc__os_conn_t **c, int fd);

/* Waits for @fd to be readable; 0 or MPROC_ETIMEDOUT. */
int mproc__unix_poll_in(int fd, double timeout);

/* Python's exit code from a waitpid status. */
int mproc__unix_exitcode(int status);

/* Allocates a child record for @pid (with a pidfd when available). */
struct mproc__os_child *mproc__unix_child_new(pid_t pid, int status_fd);

#ifdef MPROC_TESTING
/*
 * For the tests (test builds only): the pid of the tracker this process
 * started (0 if it uses one started by another process).
 */
long mproc__unix_tracker_pid(void);

/*
 * For the tests (test builds only): the path of the journal of this
 * process's tracker, in @out of @cap bytes.
 */
int mproc__unix_tracker_journal(char *out, size_t cap);
#endif
#endif
