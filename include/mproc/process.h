/**
 * @file mproc/process.h
 * @brief Processes, their start methods and the current process.
 *
 * The model is Python's multiprocessing.Process. A process runs one target
 * (see mproc/runtime.h) with a list of argument values in a child. A child is
 * started by one of three start methods:
 *
 * - spawn (every OS, the default): the program's own executable is run
 *   again. The child inherits nothing but stdio: mproc_main() reads a
 *   bootstrap message (name, log level, configuration, target, arguments)
 *   and runs the target. Globals have the values the program gives them
 *   before mproc_main().
 * - fork (Unix): the child is a copy of the parent at the moment of start.
 * - forkserver (Unix): a server process, spawned on first use, forks each
 *   child on request; children are as fresh as spawned ones, but start
 *   faster.
 *
 * @defgroup process Processes
 * @{
 */
#ifndef MPROC_PROCESS_H
#define MPROC_PROCESS_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/export.h"
#include "mproc/runtime.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The ways to start a child. */
typedef enum mproc_start_method_e {
    MPROC_START_DEFAULT = 0, /**< the program's method (spawn unless set) */
    MPROC_START_SPAWN,       /**< re-execute the program; every OS */
    MPROC_START_FORK,        /**< copy the parent; Unix only */
    MPROC_START_FORKSERVER   /**< fork from a clean server; Unix only */
} mproc_start_method_e;

/** @name Start methods */
/** @{ */

/**
 * Sets the program's start method, once. @p method may not be
 * MPROC_START_DEFAULT. A single process can still use another method:
 * mproc_process_opts_t.method, as Python's get_context(method).Process.
 * @return 0; MPROC_ESTATE if already set (unless @p force); MPROC_ENOTSUP
 * if this OS lacks @p method (fork or forkserver on Windows).
 */
MPROC_API int mproc_set_start_method(mproc_start_method_e method, int force);
/**
 * The program's start method: spawn unless set otherwise. In a child it is
 * the method the child was started with (Python's _bootstrap forces the
 * process's start method), so a child of a fork context reports fork.
 */
MPROC_API mproc_start_method_e mproc_get_start_method(void);
/** Whether this OS offers @p method (1) or not (0). */
MPROC_API int mproc_start_method_available(mproc_start_method_e method);
/**
 * Names registered targets that the forkserver runs, in this order, once
 * when it starts and before it serves, so that every child it forks
 * inherits their work (tables built, files read), as Python's
 * set_forkserver_preload(). Each is called with an empty argument list in
 * the server process. It applies to a server started afterwards (the
 * first forkserver start, or the next after a server has ended); n = 0
 * clears the list. The start that starts the server waits until the
 * preload has run; if a preload ends the server (mproc_exit(),
 * mproc_raise(), a crash), that start fails with MPROC_EOS and a sentence
 * naming the preload targets, and a later start tries a new server.
 * @return 0; MPROC_ENOTREG naming a target that is not registered;
 * MPROC_EINVAL (NULL list or name, more than 64 targets, a name of 256
 * bytes or more); MPROC_ENOMEM; MPROC_ENOTSUP where there is no
 * forkserver (Windows). The list is unchanged on failure.
 */
MPROC_API int mproc_set_forkserver_preload(const char *const *targets,
                                           size_t n);
/** "spawn", "fork", "forkserver" or "default". */
MPROC_API const char *mproc_start_method_name(mproc_start_method_e method);
/** @} */

/** @name Processes */
/** @{ */

/** A process object, as multiprocessing.Process. Opaque. */
typedef struct mproc_process_t mproc_process_t;

/** The daemon flag of a new process. */
typedef enum mproc_daemon_e {
    MPROC_DAEMON_INHERIT = 0, /**< the creating process's own flag */
    MPROC_DAEMON_YES,         /**< terminated when its parent exits */
    MPROC_DAEMON_NO           /**< joined when its parent exits */
} mproc_daemon_e;

/**
 * Options for mproc_process_create() and mproc_spawn(); zero means default
 * everywhere. The target is named by @ref fn or by @ref target (one is
 * required):
 * @code
 * mproc_process_opts_t o = {.fn = worker, .method = MPROC_START_FORK};
 * @endcode
 */
typedef struct mproc_process_opts_t {
    /**
     * The target function. The compiler checks its type, and the registry
     * gives its name to the child; it must be registered (MPROC_TARGET()).
     */
    mproc_target_fn fn;
    /** Or the name of a registered target. If both are given they agree. */
    const char *target;
    /**
     * A list of arguments (copied), or NULL for none. mproc_spawn() takes
     * its arguments as a parameter instead and ignores this field.
     */
    const mproc_value_t *args;
    /** The process name; default CLASS-N:M (e.g. "Process-1", "Process-1:2").
     */
    const char *name;
    /** The class part of default names; default "Process". */
    const char *class_name;
    /** The daemon flag; default: the creating process's. */
    mproc_daemon_e daemon;
    /**
     * The start method of this process, as Python's
     * get_context(method).Process; MPROC_START_DEFAULT (0): the program's
     * (see mproc_set_start_method()).
     */
    mproc_start_method_e method;
} mproc_process_opts_t;

/**
 * Creates a process object that will run the target of @p opts.
 *
 * The target must be registered and the arguments encodable; both are
 * checked here, in the parent, so a mistake never surfaces as a child that
 * dies. Creating gives the process its number, as in Python.
 * @return 0; MPROC_EINVAL (no target, @p opts->fn and @p opts->target
 * naming different functions, an unknown method, or @p args not a list);
 * MPROC_ENOTREG with a sentence naming the target (or saying that the
 * function given as fn is not registered); MPROC_ENOTSUP if this OS lacks
 * @p opts->method (fork or forkserver on Windows); MPROC_ENOMEM.
 */
MPROC_API int mproc_process_create(mproc_process_t **proc,
                                   const mproc_process_opts_t *opts);

/**
 * Creates and starts a process in one call, as Python's
 * `Process(target=f, args=(...)).start()` does.
 *
 * @p args, a list (usually from mproc_pack()), is taken over in every case,
 * also on failure. NULL means no arguments, with one exception that keeps
 * the one-line form below safe: when the calling thread's latest
 * mproc_pack() failed, a NULL @p args is taken to be that call's result,
 * and mproc_spawn() fails with its status (mproc_last_error() keeps the
 * pack's sentence) instead of starting a child without arguments.
 * @code
 * mproc_process_opts_t o = {.fn = worker};
 * if (mproc_spawn(&p, &o, mproc_pack("iL", i, lock)) < 0)
 *     return mproc_perror("cannot start worker"), 1;
 * @endcode
 * @p opts->args is ignored. On failure *@p proc is NULL and nothing is
 * left behind: no process object, no child.
 * @return 0; any status of mproc_process_create() or mproc_process_start().
 */
MPROC_API int mproc_spawn(mproc_process_t **proc,
                          const mproc_process_opts_t *opts,
                          mproc_value_t *args);

/**
 * Starts the child.
 * @return 0; MPROC_ESTARTED for a second start; MPROC_EDAEMON in a daemonic
 * process; MPROC_ENOTSUP if the start method is missing here; MPROC_EOS
 * when the OS refuses (mproc_last_error() has its sentence).
 */
MPROC_API int mproc_process_start(mproc_process_t *proc);

/**
 * Waits for the child to end, at most @p timeout seconds (0 polls;
 * MPROC_FOREVER or any negative value waits forever).
 * @return 0 once it has ended (its exit code is then known);
 * MPROC_ETIMEDOUT if it still runs; MPROC_ENOTSTARTED; MPROC_EJOINSELF;
 * MPROC_ENOTCHILD when called from a process that did not start it.
 */
MPROC_API int mproc_process_join(mproc_process_t *proc, double timeout);

/** Whether the child runs (1) or not (0: not started or ended). */
MPROC_API int mproc_process_is_alive(mproc_process_t *proc);

/**
 * The exit code of an ended child, in Python's convention: 0 normal return,
 * n for mproc_exit(n), 1 for a failure, -N for death by signal N (-15 for
 * terminate on every OS).
 * @return 0 with @p code set; MPROC_ENOTSTARTED; MPROC_EALIVE if it still
 * runs (this polls, as Python's exitcode does).
 */
MPROC_API int mproc_process_exitcode(mproc_process_t *proc, int *code);

/**
 * Asks the child to stop: SIGTERM on Unix, TerminateProcess on Windows.
 * Terminating an ended child does nothing and succeeds.
 * @return 0; MPROC_ENOTSTARTED; MPROC_ENOTCHILD; MPROC_EOS.
 */
MPROC_API int mproc_process_terminate(mproc_process_t *proc);

/**
 * Interrupts the child, as Python 3.14's Process.interrupt(): SIGINT on
 * Unix, which ends a child that does not handle it with exit code -2 (a
 * child may catch it to stop cleanly). Interrupting an ended child does
 * nothing and succeeds.
 * @return 0; MPROC_ENOTSTARTED; MPROC_ENOTCHILD; MPROC_EOS; MPROC_ENOTSUP
 * on Windows, where a console's Ctrl-C event reaches a whole process group
 * and cannot be aimed at one child (use mproc_process_terminate()).
 */
MPROC_API int mproc_process_interrupt(mproc_process_t *proc);

/** As mproc_process_terminate(), but SIGKILL on Unix. */
MPROC_API int mproc_process_kill(mproc_process_t *proc);

/**
 * Frees the object.
 * @return 0; MPROC_EALIVE (and nothing is freed) if the child still runs:
 * join, terminate or kill it first, as Python's close() requires.
 */
MPROC_API int mproc_process_destroy(mproc_process_t *proc);

/** The process name. */
MPROC_API const char *mproc_process_name(const mproc_process_t *proc);
/** The OS process id, or 0 before start. */
MPROC_API long mproc_process_pid(const mproc_process_t *proc);
/** The daemon flag. */
MPROC_API int mproc_process_daemon(const mproc_process_t *proc);
/** The start method the process uses. */
MPROC_API mproc_start_method_e
mproc_process_start_method(const mproc_process_t *proc);

/**
 * The OS handle that becomes ready when @p proc ends, as Python's
 * Process.sentinel, for a program's own event loop: on Unix a descriptor
 * that polls readable (a pidfd; for a forkserver child the connection on
 * which the server reports its exit), on Windows the process HANDLE
 * (signalled). mproc_wait() takes the process itself and needs no handle.
 *
 * The handle belongs to @p proc: do not close it, read it or wait on it
 * with a call that consumes it (waitpid); it stays valid until
 * mproc_process_destroy(). Ask for it before the child is joined: a child
 * reaped before its first sentinel may have none on Unix. For
 * mproc_parent_process() it is the parent's watch, valid until the parent
 * is seen to end (after that, MPROC_ENOTSUP).
 * @return 0 with @p handle set; MPROC_ENOTSTARTED; MPROC_ENOTCHILD from a
 * process that did not start @p proc; MPROC_ENOTSUP where there is no such
 * handle (Linux without pidfds): use mproc_wait() or mproc_process_join().
 */
MPROC_API int mproc_process_sentinel(mproc_process_t *proc, intptr_t *handle);

/** The size of an authkey in bytes. */
#define MPROC_AUTHKEY_SIZE 32

/**
 * The authkey of @p (Python's Process.authkey), into @p out.
 *
 * Every process holds an authentication key: the program's main process a
 * random one (made on its first use, whether or not mproc_main() ran
 * before, and kept), a child the one its Process object carried when it
 * was started, under every start method (a forkserver child gets its
 * parent's key with the request, not the server's). The runtime's own
 * handshakes between processes of one tree (connections handed over to
 * another process) and listeners given no key prove that both sides know
 * it.
 * @p proc may be mproc_current_process() or a process object, which holds
 * its creator's key from mproc_process_create() on.
 * @return 0; MPROC_EINVAL if @p proc or @p out is NULL; MPROC_ENOTCHILD
 * for mproc_parent_process(), whose key is not known to its child.
 */
MPROC_API int mproc_process_authkey(const mproc_process_t *proc,
                                    unsigned char out[MPROC_AUTHKEY_SIZE]);

/**
 * Sets the authkey of @p proc: of the calling process for
 * mproc_current_process() (the key the process objects it creates from
 * then on carry, as Python's `current_process().authkey = key`), or of a
 * process object not yet started (the key that child will hold).
 * @p key is copied. Processes already started keep the key they have.
 * @return 0; MPROC_EINVAL if @p len is not MPROC_AUTHKEY_SIZE (a
 * passphrase must be hashed to that size first) or a pointer is NULL;
 * MPROC_ESTARTED for a started child; MPROC_ENOTCHILD for
 * mproc_parent_process().
 */
MPROC_API int mproc_process_set_authkey(mproc_process_t *proc, const void *key,
                                        size_t len);
/** @} */

/** @name The current process */
/** @{ */
/**
 * The object of the calling process ("MainProcess" in the program itself).
 * It may be inspected but not started, joined or destroyed.
 */
MPROC_API mproc_process_t *mproc_current_process(void);
/**
 * The process that started this one, as Python's parent_process(): NULL in
 * the main process (and when out of memory).
 *
 * The object belongs to the runtime (mproc_process_destroy() refuses it).
 * mproc_process_name() and mproc_process_pid() give the parent's name and
 * pid; mproc_process_is_alive() whether it still runs; mproc_process_join()
 * waits (with a timeout) for its end, and mproc_wait() takes it as an item,
 * so a child can notice its parent's death. Its exit code is not known
 * here, and it cannot be terminated from here. On Linux and Windows the
 * parent is watched through an OS handle (a pidfd; OpenProcess with
 * SYNCHRONIZE) opened on the first question; where there is none, its pid
 * is polled.
 */
MPROC_API mproc_process_t *mproc_parent_process(void);
/** The pid of the process that started this one (0 in the main process). */
MPROC_API long mproc_parent_pid(void);
/**
 * Fills @p out with up to @p cap children that are still running, and reaps
 * the ended ones, as multiprocessing.active_children().
 * @return the number of running children (may exceed @p cap).
 */
MPROC_API size_t mproc_active_children(mproc_process_t **out, size_t cap);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
