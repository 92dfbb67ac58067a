/**
 * @file mproc/queue.h
 * @brief Queue, SimpleQueue and JoinableQueue between processes.
 *
 * A queue lives in shared memory: a ring of checksummed frames (deflated
 * when that pays) that every process maps, plus a spill area for what does
 * not fit. A put copies the message into shared memory before it returns,
 * so a process may exit right after putting: its items are neither lost
 * nor waited for (there is no feeder thread to join). A put to an
 * unbounded queue never waits for a consumer: when the ring is full it
 * gives the consumers a moment (at most 2 ms) to make room, then spills;
 * the puts after it go back to the ring as soon as the consumers have
 * made room, and the items still come out in the order they were put.
 *
 * A queue reaches another process as a value: mproc_value_queue() gives
 * its reference, mproc_value_to_queue() opens it, in a child under any
 * start method or in whoever receives it through another queue or a pipe.
 *
 * A queue created with `.fork_only = 1` is anonymous instead, as the
 * fork-only synchronization objects are (see mproc/synchronize.h): it
 * reaches fork children through the parent's memory, leaves no name
 * behind, and exporting it fails with MPROC_EFORKONLY.
 *
 * @defgroup queue Queues
 * @{
 */
#ifndef MPROC_QUEUE_H
#define MPROC_QUEUE_H

#include <stddef.h>

#include "mproc/codec.h"
#include "mproc/export.h"
#include "mproc/runtime.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A queue, as multiprocessing.Queue (or SimpleQueue, JoinableQueue). Opaque.
 */
typedef struct mproc_queue_t mproc_queue_t;

/** Options of the queue constructors; zero means default. */
typedef struct mproc_queue_opts_t {
    /** At most this many items (put blocks beyond); 0: unbounded. */
    size_t maxsize;
    /** The ring's size in bytes; default 8 MiB. */
    size_t capacity;
    /** The messages' size limit and deflating. */
    mproc_codec_opts_t codec;
    /**
     * Nonzero: an anonymous queue that only fork children share (Unix;
     * MPROC_ENOTSUP elsewhere); 0: a named one that any child can open.
     */
    int fork_only;
} mproc_queue_opts_t;

/** A Queue (maxsize from @p opts). */
MPROC_API int mproc_queue_create(mproc_queue_t **q,
                                 const mproc_queue_opts_t *opts);
/** A SimpleQueue: unbounded; qsize, join and task_done are not offered. */
MPROC_API int mproc_simple_queue_create(mproc_queue_t **q,
                                        const mproc_queue_opts_t *opts);
/** A JoinableQueue: a Queue with task_done() and join(). */
MPROC_API int mproc_joinable_queue_create(mproc_queue_t **q,
                                          const mproc_queue_opts_t *opts);

/**
 * Puts a copy of @p v, waiting at most @p timeout seconds for room in a
 * bounded queue (0: put_nowait).
 * @return 0; MPROC_EFULL, the put's timeout code (Python's Full): the
 * queue stayed full for @p timeout seconds; MPROC_ETOOBIG (nothing is put);
 * MPROC_ECLOSED after mproc_queue_close(); MPROC_ESHUTDOWN after
 * mproc_queue_shutdown(); MPROC_ENOTREG for an unregistered
 * record type; MPROC_EINVAL for a value nested deeper than
 * MPROC_VALUE_MAX_DEPTH (nothing is put).
 */
MPROC_API int mproc_queue_put(mproc_queue_t *q, const mproc_value_t *v,
                              double timeout);
/**
 * Takes the oldest item, waiting at most @p timeout seconds (0:
 * get_nowait). The caller frees *@p v.
 * @return 0; MPROC_EEMPTY, the get's timeout code (Python's Empty): no item
 * arrived within @p timeout seconds; MPROC_ECORRUPT for a damaged item;
 * MPROC_ECLOSED; MPROC_ESHUTDOWN once the queue is shut down and drained.
 *
 * MPROC_ECORRUPT is the return rule's one stated exception (see
 * mproc/error.h): the get fails and yet drops the damaged item, so the
 * next get returns the next item. What was dropped was never a valid
 * message.
 */
MPROC_API int mproc_queue_get(mproc_queue_t *q, mproc_value_t **v,
                              double timeout);
/** put with timeout 0. */
MPROC_API int mproc_queue_put_nowait(mproc_queue_t *q, const mproc_value_t *v);
/** get with timeout 0. */
MPROC_API int mproc_queue_get_nowait(mproc_queue_t *q, mproc_value_t **v);
/**
 * The approximate number of items, in *@p n.
 * @return 0; MPROC_ECLOSED after mproc_queue_close(); MPROC_ESTATE for a
 * SimpleQueue, which has no qsize() in Python either (*@p n is left alone
 * on failure).
 */
MPROC_API int mproc_queue_qsize(mproc_queue_t *q, size_t *n);
/**
 * Whether the queue is empty (approximately, as in Python).
 * @return 1 if empty; 0 if not; MPROC_ECLOSED after mproc_queue_close().
 */
MPROC_API int mproc_queue_empty(mproc_queue_t *q);
/**
 * Whether a bounded queue is full (approximately, as in Python).
 * @return 1 if full; 0 if not (always for an unbounded queue or a
 * SimpleQueue); MPROC_ECLOSED after mproc_queue_close().
 */
MPROC_API int mproc_queue_full(mproc_queue_t *q);
/**
 * Says this process puts and gets no more through this handle. Items
 * already put stay in the queue for other processes and handles, which go
 * on working. The handle lets go of its mapping, its descriptors and its
 * spill file here, not at mproc_queue_destroy(); the last user's close
 * removes the queue. A child started with the queue among its arguments
 * still opens it after the parent closed: the start holds the queue open
 * until the child has ended and been joined (or its process object
 * destroyed). A put or get of another
 * thread on this handle returns MPROC_ECLOSED first (a get waiting for an
 * item is woken); other calls on the handle must not run during close.
 * Every later call but destroy, close and join_thread gives MPROC_ECLOSED.
 * @return 0, also when the handle is closed already; MPROC_ENOMEM (in a
 * fork child short of memory; the handle stays open).
 */
MPROC_API int mproc_queue_close(mproc_queue_t *q);
/**
 * Python 3.13's Queue.shutdown(), for every queue kind and in every process
 * that uses the queue (the state lives in the queue): from now on puts fail
 * with MPROC_ESHUTDOWN, and gets take what is left and then fail with
 * MPROC_ESHUTDOWN instead of waiting. Puts and gets blocked in any process
 * or thread wake up and fail so. With @p immediate nonzero the items left
 * are dropped and gets fail at once; a JoinableQueue counts the dropped
 * items as done, so that join() returns once the items already taken are
 * done. Shutting down again is allowed (0).
 * @return 0; MPROC_ECLOSED after mproc_queue_close(); MPROC_EOS if the
 * dropped items' spill file cannot be read (the queue is shut down).
 */
MPROC_API int mproc_queue_shutdown(mproc_queue_t *q, int immediate);
/**
 * Python's join_thread(): waits until everything this process put is in
 * the shared queue, which is always so when a put returns.
 * @return 0; MPROC_ESTATE unless the queue was closed first, as in Python.
 */
MPROC_API int mproc_queue_join_thread(mproc_queue_t *q);
/** Python's cancel_join_thread(): nothing can block at exit; a no-op. */
MPROC_API int mproc_queue_cancel_join_thread(mproc_queue_t *q);
/**
 * Marks one item taken with get as done (JoinableQueue).
 * @return 0; MPROC_ETOOMANY if called more often than items were put;
 * MPROC_ESTATE for a queue that is not joinable; MPROC_ECLOSED.
 */
MPROC_API int mproc_queue_task_done(mproc_queue_t *q);
/**
 * Waits until every item put has been marked done (JoinableQueue), at
 * most @p timeout seconds. @return 0; MPROC_ETIMEDOUT; MPROC_ESTATE;
 * MPROC_ECLOSED.
 */
MPROC_API int mproc_queue_join(mproc_queue_t *q, double timeout);
/**
 * Frees this process's handle, closed or not; the last user's destroy
 * removes the queue.
 */
MPROC_API void mproc_queue_destroy(mproc_queue_t *q);
/**
 * A reference to @p q, to pass to another process: a new value, or NULL
 * with mproc_last_error() set (a NULL queue; a closed one; out of memory).
 */
MPROC_API mproc_value_t *mproc_value_queue(const mproc_queue_t *q);
/**
 * The queue that reference @p v refers to, opened once in this process: a
 * second call with an equal reference gives the same queue. The runtime
 * owns it and lets go of it at the process's normal exit: do not destroy
 * it.
 * @return 0; MPROC_ETYPE if @p v is not a queue reference (the sentence
 * says what it is); MPROC_ENOTFOUND if the queue no longer exists.
 */
MPROC_API int mproc_value_to_queue(const mproc_value_t *v, mproc_queue_t **out);
/**
 * mproc_value_queue() as a status, kept for one release.
 * @return 0; MPROC_EINVAL; MPROC_EFORKONLY; MPROC_ECLOSED; MPROC_ENOMEM.
 */
MPROC_API int mproc_queue_export(const mproc_queue_t *q, mproc_value_t **ref);
/**
 * Opens a new handle on the queue that @p ref refers to, kept for one
 * release; the caller owns it and destroys it.
 * @return 0; MPROC_ETYPE; MPROC_ENOTFOUND.
 */
MPROC_API int mproc_queue_import(mproc_queue_t **q, const mproc_value_t *ref);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
