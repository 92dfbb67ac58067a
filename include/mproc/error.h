/**
 * @file mproc/error.h
 * @brief Status codes: what every mproc call returns.
 *
 * Every fallible mproc call returns an int status, by one rule (libuv's):
 *
 * - `< 0`: the call failed, and nothing was acquired, changed or consumed.
 *   The value is one of the MPROC_E* codes below.
 * - `0`: done.
 * - `> 0`: done, with information: a count (mproc_wait()), an index
 *   (mproc_barrier_wait()) or a positive status such as MPROC_OWNERDEAD
 *   (the lock is held, but its previous holder died holding it).
 *
 * So `if (rc < 0) return rc;` is always right: it never leaves a lock held
 * or an item taken.
 *
 * One exception, stated at the functions it concerns: MPROC_ECORRUPT from
 * mproc_queue_get() and mproc_conn_recv() (or mproc_conn_recv_bytes())
 * fails and still consumes the damaged frame, so that the next call
 * delivers the next good message instead of reporting the same damage for
 * ever. What was consumed was never a valid message: no value is lost.
 *
 * A wait returns 0 when what it waited for happened and
 * MPROC_ETIMEDOUT when the time ran out; queues report their timeouts as
 * MPROC_EEMPTY and MPROC_EFULL, as Python raises Empty and Full.
 *
 * The failure codes come from one table, MPROC_ERRNO_MAP, which also
 * generates mproc_err_name() and mproc_strerror(). Operating system errors
 * are translated once, where they happen, into the nearest code here; the
 * OS's own sentence is kept in mproc_last_error().
 *
 * @defgroup error Errors
 * @{
 */
#ifndef MPROC_ERROR_H
#define MPROC_ERROR_H

#include "mproc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * The table of status codes: XX(NAME, value, description).
 * Values are stable; new codes are appended. -25 was EOWNERDEAD, a lock
 * acquired from a dead holder; that is a success, MPROC_OWNERDEAD (1),
 * now, and -25 stays unused so that no code changes its meaning. The
 * table may have gaps: codes are given out in ranges.
 */
#define MPROC_ERRNO_MAP(XX)                                                    \
    XX(EINVAL, -1, "invalid argument")                                         \
    XX(ENOMEM, -2, "out of memory")                                            \
    XX(EOS, -3, "operating system error")                                      \
    XX(ENOTREG, -4, "target is not registered in this program")                \
    XX(ESTARTED, -5, "process already started")                                \
    XX(ENOTSTARTED, -6, "process has not been started")                        \
    XX(ENOTCHILD, -7, "can only control a child of the current process")       \
    XX(EJOINSELF, -8, "a process cannot join itself")                          \
    XX(EDAEMON, -9, "daemonic processes are not allowed to have children")     \
    XX(ETIMEDOUT, -10, "timed out")                                            \
    XX(ENOTSUP, -11, "not supported on this platform")                         \
    XX(ECORRUPT, -12, "corrupt or truncated message")                          \
    XX(ETOOBIG, -13, "message exceeds the maximum size")                       \
    XX(EAUTH, -14, "authentication failed")                                    \
    XX(ECLOSED, -15, "connection closed by the peer")                          \
    XX(EALIVE, -16, "process is still running")                                \
    XX(ESTATE, -17, "operation not valid in the current state")                \
    XX(ETYPE, -18, "value has a different type")                               \
    XX(ERANGE, -19, "index or value out of range")                             \
    XX(ENOTFOUND, -20, "no such key")                                          \
    XX(ENOTHELD, -21, "the lock is not held")                                  \
    XX(ENOTOWNER, -22, "the lock is held by another process or thread")        \
    XX(ETOOMANY, -23, "semaphore or lock released too many times")             \
    XX(EBROKEN, -24, "the barrier is broken")                                  \
    XX(EDEADLK, -26, "acquiring would deadlock: the caller holds the lock")    \
    XX(EFORKONLY, -27, "the object exists only for fork children")             \
    XX(EEXIST, -28, "the name exists already")                                 \
    XX(EEMPTY, -29, "the queue is empty")                                      \
    XX(EFULL, -30, "the queue is full")                                        \
    XX(ETOOSHORT, -31, "the buffer is too short for the message")              \
    XX(ESHUTDOWN, -32, "the queue is shut down")                               \
    XX(EADDRINUSE, -33, "the address is in use")                               \
    XX(EBADADDR, -34, "the address is not valid here")                         \
    XX(EMANAGER, -35, "the manager process is gone")                           \
    XX(EREMOTE, -36, "the manager refused the call")                           \
    XX(ENOATTR, -37, "no such attribute")                                      \
    XX(EWORKERLOST, -40, "a pool worker died while running the task")          \
    XX(EINITIALIZER, -41, "the pool's initializer failed")                     \
    XX(ETERMINATED, -42, "the pool was terminated before the task finished")   \
    XX(ETASK, -43, "the task raised an error")                                 \
    XX(ESTOP, -44, "the iterator has no more results")

/** The status codes as enum constants, e.g. MPROC_EINVAL. */
enum mproc_errno_e {
    /** 0: done. */
    MPROC_OK = 0,
    /**
     * A positive status, not a failure: the lock is acquired, but its
     * previous holder died holding it, so the data it guards may be half
     * updated. The caller holds the lock and releases it as usual.
     */
    MPROC_OWNERDEAD = 1,
#define MPROC_XX_(name, value, text) MPROC_##name = value,
    MPROC_ERRNO_MAP(MPROC_XX_)
#undef MPROC_XX_
};

/**
 * The symbolic name of a status, e.g. "MPROC_ETIMEDOUT".
 * @param status any value returned by an mproc function.
 * @return a static string; "MPROC_OK" for 0, "MPROC_OWNERDEAD" for
 * MPROC_OWNERDEAD, "MPROC_E?" for an unknown code.
 */
MPROC_API const char *mproc_err_name(int status);

/**
 * A short description of a status, e.g. "timed out".
 * @param status any value returned by an mproc function.
 * @return a static string.
 */
MPROC_API const char *mproc_strerror(int status);

/**
 * The sentence that explains the last failure in the calling thread, e.g.
 * "target 'worker' is not registered in this program".
 *
 * Every function that returns a negative status sets it first; successful
 * calls leave it alone. The text stays valid until the thread's next failing
 * mproc call.
 * @return a string, empty if nothing failed yet.
 */
MPROC_API const char *mproc_last_error(void);

/**
 * Prints "@p prefix: <last error>" and a newline to stderr, as C's perror()
 * does for errno, and returns the status of the same failure.
 *
 * The status and the sentence are the calling thread's: the last negative
 * status an mproc call returned there, and mproc_last_error(). That makes a
 * failure path one line:
 * @code
 * if (mproc_spawn(&p, &opts, args) < 0)
 *     return mproc_perror("cannot start worker"), 1;
 * @endcode
 * stdout is flushed first, so that what was printed before the failure
 * comes before its report.
 * @param prefix the words before the colon; NULL or "" prints the sentence
 * alone.
 * @return the last failure's status (negative), or 0 if nothing failed yet
 * in this thread.
 */
MPROC_API int mproc_perror(const char *prefix);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
