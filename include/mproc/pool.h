/**
 * @file mproc/pool.h
 * @brief The process pool, as multiprocessing.Pool.
 *
 * A pool keeps a number of worker processes and runs calls of registered
 * pool targets in them: mproc_pool_map() and mproc_pool_starmap() (results
 * in order), mproc_pool_imap() and mproc_pool_imap_unordered() (an
 * iterator that gives results as they come, over a list or a producer
 * callback that is never held whole), and mproc_pool_apply() with their
 * asynchronous forms, which give an mproc_async_t (Python's AsyncResult).
 * @code
 * static mproc_value_t *square(const mproc_value_t *args)
 * {
 *     int64_t x;
 *     if (mproc_unpack(args, "I", &x) < 0)
 *         mproc_raise_last();          // fails this call, not the worker
 *     return mproc_value_int(x * x);
 * }
 * MPROC_POOL_TARGET(square)
 *
 * mproc_pool_t *pool;
 * mproc_value_t *out;
 * if (mproc_pool_create(&pool, NULL) < 0 ||
 *     mproc_pool_map(pool, square, inputs, NULL, &out) < 0)
 *     return mproc_perror("map"), 1;
 * mproc_pool_close(pool);
 * mproc_pool_join(pool, MPROC_FOREVER);
 * mproc_pool_destroy(pool);
 * @endcode
 *
 * A pool target takes its arguments as a list, as a process target does
 * (mproc_unpack() reads them), and returns a new value, its result (NULL
 * for nil, Python's None). map calls it with the list [item] for each
 * item, starmap with each item, which must itself be a list of arguments
 * (Python's f(*item)), apply with the list it is given. A target fails
 * its call with mproc_raise() or mproc_raise_last(): in a pool task they
 * end the call, not the worker, as an exception ends a Python task; the
 * caller then gets the status (MPROC_ETASK for mproc_raise(), the status
 * of the failure reported for mproc_raise_last()) and the sentence, in
 * mproc_last_error(). Like an exception, they leave the target where it
 * is: memory it allocated and had not freed is lost, and a lock it held
 * stays held. mproc_exit() ends the worker, as sys.exit() does.
 *
 * What Python's Pool does not do, and this one does:
 *
 * - A worker that dies while it runs a call (killed, crashed, ended by
 *   mproc_exit(), TerminateProcess on Windows) fails that call alone with
 *   MPROC_EWORKERLOST, whose sentence names the worker, its pid, its exit
 *   code and the call; the pool starts a replacement and runs everything
 *   else. No call waits for ever because a worker died.
 * - A call may have a time limit (the pool's, or its own): past it the
 *   worker is killed and the call fails with MPROC_ETIMEDOUT, and the pool
 *   goes on. A soft limit before it lets a task stop cleanly:
 *   mproc_pool_past_soft_limit() says when it has passed.
 * - An initializer that fails makes mproc_pool_create() fail (or, for a
 *   replacement worker, every waiting and later call) with
 *   MPROC_EINITIALIZER and a sentence naming it: the pool never starts
 *   workers in a loop.
 * - imap over a producer takes items only as the results are taken, at
 *   most max_in_flight ahead.
 * - mproc_pool_terminate() ends in bounded time, even with workers stuck
 *   in a call, and fails what was unfinished with MPROC_ETERMINATED.
 *
 * Callbacks (a result's callback and error callback, the progress
 * callback, an imap producer) run in the calling process, in whichever of
 * its threads drives the pool at that moment: the pool's own thread, or a
 * thread waiting in a pool call. Never two at once for one pool. They may
 * start more work (mproc_pool_apply_async()), but not wait for the pool:
 * a waiting call from a callback fails with MPROC_EDEADLK.
 *
 * A pool's calls may be made from several threads. A pool belongs to the
 * process that created it: in a fork child its copy's calls fail with
 * MPROC_ENOTCHILD, and destroying the copy closes only the child's copies
 * of its handles.
 *
 * @defgroup pool Pool
 * @{
 */
#ifndef MPROC_POOL_H
#define MPROC_POOL_H

#include <stddef.h>

#include "mproc/codec.h"
#include "mproc/export.h"
#include "mproc/process.h"
#include "mproc/runtime.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name Pool targets */
/** @{ */

/**
 * A pool target: what a worker calls for each task.
 *
 * @p args is the list of the call's arguments (never NULL), owned by the
 * worker. The return value is the result, a new value the worker takes
 * over and frees; NULL gives nil.
 */
typedef mproc_value_t *(*mproc_pool_fn)(const mproc_value_t *args);

/**
 * Registers @p fn under @p name so that workers find it, as
 * mproc_register_target() does for process targets: before mproc_main(),
 * since a spawned worker runs everything before it again.
 * MPROC_POOL_TARGET() does it at load time.
 * @return 0; MPROC_EINVAL for a NULL or empty name or function, or a name
 * registered to another function; MPROC_ENOMEM.
 */
MPROC_API int mproc_register_pool_target(const char *name, mproc_pool_fn fn);

/**
 * Registers the pool target @p fn under its own name when the program
 * loads. At file scope, after the function:
 * @code
 * static mproc_value_t *square(const mproc_value_t *args) { ... }
 * MPROC_POOL_TARGET(square)
 * @endcode
 */
#define MPROC_POOL_TARGET(fn)                                                  \
    MPROC__ON_LOAD(mproc_register_pool_##fn##_,                                \
                   mproc_register_pool_target(#fn, fn))

/**
 * In a pool task: whether the call has run past its soft time limit (1)
 * or not (0). 0 too without a soft limit, and outside a pool task. A task
 * that looks now and then can stop cleanly before the hard limit kills
 * its worker; what it returns or raises then is its result.
 */
MPROC_API int mproc_pool_past_soft_limit(void);
/** @} */

/** @name Pools */
/** @{ */

/** A pool of worker processes. Opaque. */
typedef struct mproc_pool_t mproc_pool_t;
/** The result of an asynchronous call, as Python's AsyncResult. Opaque. */
typedef struct mproc_async_t mproc_async_t;
/** The iterator of mproc_pool_imap(), as Python's IMapIterator. Opaque. */
typedef struct mproc_imap_t mproc_imap_t;

/**
 * Options of mproc_pool_create(); zero means default everywhere.
 */
typedef struct mproc_pool_opts_t {
    /** The number of worker processes; default mproc_cpu_count(). */
    int processes;
    /**
     * A process target that each worker runs once when it starts, before
     * any task (Python's initializer), with @ref initargs. It must be
     * registered (MPROC_TARGET()). NULL: none.
     */
    mproc_target_fn initializer;
    /** Or the initializer's name. If both are given they agree. */
    const char *initializer_name;
    /** The initializer's arguments, a list (copied); NULL for none. */
    const mproc_value_t *initargs;
    /**
     * How many tasks a worker runs before it ends and a fresh one takes its
     * place (Python's maxtasksperchild); 0: no limit. A chunk of a map is
     * one task, as in Python.
     */
    int maxtasksperchild;
    /**
     * How workers start: MPROC_START_DEFAULT (0) is the program's method,
     * spawn unless set. Workers are named as in Python:
     * SpawnPoolWorker-N, ForkPoolWorker-N, ForkServerPoolWorker-N, N
     * counting on as workers are replaced.
     */
    mproc_start_method_e method;
    /**
     * The seconds a call may run before its worker is killed and the call
     * fails with MPROC_ETIMEDOUT; 0: no limit. A call's own
     * mproc_pool_call_opts_t::time_limit overrides it.
     */
    double time_limit;
    /**
     * The seconds after which mproc_pool_past_soft_limit() says 1 in a
     * call; 0: none. Overridden by the call's own.
     */
    double soft_time_limit;
    /**
     * How tasks and results are framed (their size limit, deflating), as
     * for pipes, but a pool deflates nothing unless compress_threshold is
     * given: its messages never leave the machine.
     */
    mproc_codec_opts_t codec;
} mproc_pool_opts_t;

/**
 * Creates a pool and starts its workers, as multiprocessing.Pool(). It
 * returns once every worker has run its initializer and is ready.
 * @return 0; MPROC_EINVAL (a negative count or limit, initargs not a
 * list, initializer and initializer_name naming different functions);
 * MPROC_ENOTREG for an initializer that is not a registered target;
 * MPROC_ENOTSUP for a start method this OS lacks; MPROC_EINITIALIZER when
 * the initializer failed in a worker, with a sentence naming it, the
 * worker, its pid and its error (or exit code), and nothing left running;
 * MPROC_EDAEMON in a daemonic process (a pool worker among them);
 * MPROC_EOS; MPROC_ENOMEM.
 */
MPROC_API int mproc_pool_create(mproc_pool_t **pool,
                                const mproc_pool_opts_t *opts);

/**
 * Stops taking calls (Python's close()): the pool finishes what it has,
 * then its workers end; mproc_pool_join() waits for that. Later calls
 * fail with MPROC_ESTATE.
 * @return 0; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_pool_close(mproc_pool_t *pool);

/**
 * Stops the pool now (Python's terminate()): unfinished calls fail with
 * MPROC_ETERMINATED, and the workers are terminated, then killed if they
 * have not ended within half a second, so that it returns in bounded time
 * even when a worker is stuck in a call. A later mproc_pool_join()
 * returns at once.
 * @return 0; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_pool_terminate(mproc_pool_t *pool);

/**
 * Waits until the workers have ended, after mproc_pool_close() (every
 * call finished first) or mproc_pool_terminate(), at most @p timeout
 * seconds.
 * @return 0; MPROC_ETIMEDOUT if work or workers remain (join again);
 * MPROC_ESTATE if the pool was neither closed nor terminated, as
 * Python's join() raises; MPROC_EDEADLK from a callback of the pool.
 */
MPROC_API int mproc_pool_join(mproc_pool_t *pool, double timeout);

/**
 * Frees the pool. A pool that still has work or workers is terminated
 * first, as Python's `with Pool() as p:` does on leaving. Async results
 * and iterators of the pool stay valid (unfinished ones as
 * MPROC_ETERMINATED) until they are destroyed. NULL is ignored. Do not
 * destroy a pool while other threads still use it.
 */
MPROC_API void mproc_pool_destroy(mproc_pool_t *pool);

/** The number of workers the pool keeps. */
MPROC_API int mproc_pool_processes(const mproc_pool_t *pool);
/** @} */

/** @name Calls */
/** @{ */

/** The callback of a successful asynchronous call: its result, borrowed. */
typedef void (*mproc_pool_result_fn)(void *arg, const mproc_value_t *result);
/** The callback of a failed asynchronous call: its status and sentence. */
typedef void (*mproc_pool_error_fn)(void *arg, int status,
                                    const char *sentence);
/**
 * Progress: @p done tasks (items) of @p total have finished, @p failed of
 * them failed. @p total is 0 while an imap producer has not ended.
 */
typedef void (*mproc_pool_progress_fn)(void *arg, size_t done, size_t total,
                                       size_t failed);
/**
 * An imap producer: stores the next item in *@p item (taken over) and
 * returns 1, or returns 0 at the end of the input (a negative value ends
 * it too).
 */
typedef int (*mproc_pool_producer_fn)(void *arg, mproc_value_t **item);

/** Options of one call; zero (or NULL options) means default everywhere. */
typedef struct mproc_pool_call_opts_t {
    /**
     * The pool target by name, when the call's function is NULL. If both
     * are given they agree.
     */
    const char *target;
    /**
     * Items per task for map, starmap and imap: default, as Python, the
     * number of items over four times the workers, rounded up, for map
     * and starmap, and 1 for imap.
     */
    size_t chunksize;
    /** This call's time limit in seconds; 0: the pool's; negative: none. */
    double time_limit;
    /** This call's soft limit in seconds; 0: the pool's; negative: none. */
    double soft_time_limit;
    /**
     * Asynchronous calls: called with the result once the call succeeded
     * (map: the list of results), before mproc_async_get() returns it.
     */
    mproc_pool_result_fn callback;
    /** Asynchronous calls: called with the failure instead. */
    mproc_pool_error_fn error_callback;
    /**
     * Called as tasks finish, and once more when the call is over; the
     * last call has @p done equal to @p total.
     */
    mproc_pool_progress_fn progress;
    /** The first argument of the three callbacks. */
    void *arg;
    /**
     * imap only: the input comes from this producer instead of a list
     * (the list argument is then NULL). It is called in the calling
     * process as the iterator takes results, so that an input of any
     * length is never held whole.
     */
    mproc_pool_producer_fn producer;
    /** The first argument of @ref producer. */
    void *producer_arg;
    /**
     * imap only: the most items taken from the input and not yet given by
     * mproc_imap_next(); default 1024, or four chunks per worker if that is
     * more.
     */
    size_t max_in_flight;
} mproc_pool_call_opts_t;

/**
 * Calls @p fn with @p args in a worker and waits for its result (Python's
 * apply()).
 *
 * @p args, a list, is taken over in every case, also on failure; NULL is
 * no arguments, unless the calling thread's latest mproc_pack() failed,
 * whose status the call then returns (as mproc_spawn() does). *@p result
 * gets the result (the caller frees it).
 * @return 0; the call's failure (see the file comment); MPROC_EINVAL;
 * MPROC_ENOTREG for a function that is not a registered pool target;
 * MPROC_ESTATE for a closed pool; MPROC_EINITIALIZER for a pool whose
 * initializer failed; MPROC_EDEADLK from a callback of the pool.
 */
MPROC_API int mproc_pool_apply(mproc_pool_t *pool, mproc_pool_fn fn,
                               mproc_value_t *args,
                               const mproc_pool_call_opts_t *opts,
                               mproc_value_t **result);

/**
 * As mproc_pool_apply(), without waiting: *@p out is the call's result.
 * @return 0; the statuses of mproc_pool_apply() that concern the call
 * itself, not its outcome.
 */
MPROC_API int mproc_pool_apply_async(mproc_pool_t *pool, mproc_pool_fn fn,
                                     mproc_value_t *args,
                                     const mproc_pool_call_opts_t *opts,
                                     mproc_async_t **out);

/**
 * Calls @p fn with [item] for each item of the list @p items, in chunks,
 * and waits: *@p results gets the list of results in the items' order (the
 * caller frees it). @p items is read during the call and left as it is.
 * @return 0; the first failure that arrives, with its sentence: no
 * results are given then, and tasks not yet sent are not run (Python
 * runs them and drops their results); MPROC_EINVAL if @p items is not a
 * list; otherwise as mproc_pool_apply().
 */
MPROC_API int mproc_pool_map(mproc_pool_t *pool, mproc_pool_fn fn,
                             const mproc_value_t *items,
                             const mproc_pool_call_opts_t *opts,
                             mproc_value_t **results);

/**
 * As mproc_pool_map(), but each item is the list of arguments (Python's
 * starmap: f(*item)). An item that is not a list fails as MPROC_ETYPE.
 */
MPROC_API int mproc_pool_starmap(mproc_pool_t *pool, mproc_pool_fn fn,
                                 const mproc_value_t *items,
                                 const mproc_pool_call_opts_t *opts,
                                 mproc_value_t **results);

/** As mproc_pool_map() without waiting; @p items is copied. */
MPROC_API int mproc_pool_map_async(mproc_pool_t *pool, mproc_pool_fn fn,
                                   const mproc_value_t *items,
                                   const mproc_pool_call_opts_t *opts,
                                   mproc_async_t **out);

/** As mproc_pool_starmap() without waiting; @p items is copied. */
MPROC_API int mproc_pool_starmap_async(mproc_pool_t *pool, mproc_pool_fn fn,
                                       const mproc_value_t *items,
                                       const mproc_pool_call_opts_t *opts,
                                       mproc_async_t **out);

/**
 * An iterator over the results of @p fn called with [item] for each item
 * of @p items (copied), or of the opts' producer when @p items is NULL,
 * in the items' order (Python's imap). Each result has its own outcome:
 * a failed task fails that one mproc_imap_next() and the next goes on.
 * @return 0; MPROC_EINVAL (@p items not a list, or both or neither of
 * @p items and a producer); otherwise as mproc_pool_apply_async().
 */
MPROC_API int mproc_pool_imap(mproc_pool_t *pool, mproc_pool_fn fn,
                              const mproc_value_t *items,
                              const mproc_pool_call_opts_t *opts,
                              mproc_imap_t **out);

/**
 * As mproc_pool_imap(), but the results come in the order they finish
 * (Python's imap_unordered); mproc_imap_index() tells which item each is.
 */
MPROC_API int mproc_pool_imap_unordered(mproc_pool_t *pool, mproc_pool_fn fn,
                                        const mproc_value_t *items,
                                        const mproc_pool_call_opts_t *opts,
                                        mproc_imap_t **out);
/** @} */

/** @name Asynchronous results */
/** @{ */

/**
 * Waits at most @p timeout seconds for the call to finish and gives its
 * outcome (Python's get()). *@p value (NULL allowed) gets the result,
 * borrowed: it lives until mproc_async_destroy().
 * @return 0; MPROC_ETIMEDOUT if it has not finished (mproc_async_ready()
 * tells this apart from a call that failed with MPROC_ETIMEDOUT); the
 * call's failure, with its sentence; MPROC_EDEADLK from a callback of the
 * pool for a call that has not finished (a finished one's outcome may be
 * had there).
 */
MPROC_API int mproc_async_get(mproc_async_t *r, double timeout,
                              const mproc_value_t **value);
/**
 * Waits at most @p timeout seconds for the call to finish.
 * @return 0; MPROC_ETIMEDOUT; MPROC_EDEADLK from a callback of the pool.
 */
MPROC_API int mproc_async_wait(mproc_async_t *r, double timeout);
/** Whether the call has finished (1) or not (0). */
MPROC_API int mproc_async_ready(mproc_async_t *r);
/**
 * Whether the finished call succeeded (1) or failed (0).
 * @return 1; 0; MPROC_ESTATE if it has not finished, as Python raises.
 */
MPROC_API int mproc_async_successful(mproc_async_t *r);
/**
 * Lets go of the result. The call goes on if it has not finished, and its
 * callbacks still run. NULL is ignored.
 */
MPROC_API void mproc_async_destroy(mproc_async_t *r);
/** @} */

/** @name imap iterators */
/** @{ */

/**
 * The next result, waiting at most @p timeout seconds. *@p value gets it
 * (the caller frees it).
 * @return 0; MPROC_ESTOP when there are no more (Python's StopIteration);
 * MPROC_ETIMEDOUT if the next is not ready (nothing is taken); the
 * failure of that item's task, with its sentence, after which the
 * iterator has moved past it (this status consumes the item, as Python's
 * next() raising does); MPROC_EDEADLK from a callback of the pool.
 */
MPROC_API int mproc_imap_next(mproc_imap_t *it, double timeout,
                              mproc_value_t **value);
/**
 * The index in the input of the item whose result (or failure) the last
 * mproc_imap_next() gave; (size_t) -1 before the first.
 */
MPROC_API size_t mproc_imap_index(const mproc_imap_t *it);
/**
 * Lets go of the iterator: no more items are taken from its input, and
 * the results of tasks still running are dropped. Once it returns, the
 * call's producer and progress callback are not called again (it waits for
 * one that runs in another thread), so what they use may be freed. NULL
 * is ignored.
 */
MPROC_API void mproc_imap_destroy(mproc_imap_t *it);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
