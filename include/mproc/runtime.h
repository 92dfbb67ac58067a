/**
 * @file mproc/runtime.h
 * @brief The runtime: its entry point, targets, configuration, time, and
 * how a process ends.
 *
 * Every program calls mproc_main() first. A target is a function
 * registered under a name, so that a spawned child, which is the program
 * run again, finds it; mproc/process.h starts children that run one.
 *
 * @defgroup runtime The runtime
 * @{
 */
#ifndef MPROC_RUNTIME_H
#define MPROC_RUNTIME_H

#include <stddef.h> /* wchar_t */

#include "mproc/export.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Wait forever: a negative timeout, as poll(-1) in C. */
#define MPROC_FOREVER (-1.0)

/** @name The entry point and targets */
/** @{ */

/**
 * The runtime's entry point: the first call of main().
 *
 * In the program itself it initialises the runtime and returns 0. In a
 * process started by spawn (or the forkserver) it never returns: it reads
 * the bootstrap message, runs the target and exits. Everything main() does
 * before this call therefore runs in every spawned child too, which is C's
 * version of Python's `if __name__ == '__main__':` rule.
 *
 * A command line that carries the runtime's marker argument but is
 * malformed, or a bootstrap message that is corrupt, ends the process with
 * exit code 1 and a sentence on stderr.
 * @return 0, or a negative status if the runtime cannot be initialised.
 */
MPROC_API int mproc_main(int argc, char **argv);

/**
 * mproc_main() for a program whose arguments come as wide strings: wmain(),
 * or a Windows GUI program that split GetCommandLineW() itself.
 *
 * Each argument is converted to UTF-8 (UTF-16 on Windows, where wchar_t is
 * 16 bits wide, UTF-32 elsewhere; a lone surrogate or a value that is no
 * character becomes U+FFFD) and the result is passed to mproc_main(), so a
 * program installed under a non-ASCII path such as
 * C:\\Programme\\Gr&uuml;&szlig;e starts its children as any other does.
 * Available on every OS.
 * @code
 * int wmain(int argc, wchar_t **argv)
 * {
 *     if (mproc_main_w(argc, argv) < 0)
 *         return 1;
 *     ...
 * }
 * @endcode
 * @return as mproc_main(); MPROC_ENOMEM if the converted copy cannot be
 * made.
 */
MPROC_API int mproc_main_w(int argc, wchar_t **argv);

/**
 * mproc_main() for a program that has no argc and argv: the first call of a
 * Windows GUI program's WinMain() (the windows subsystem, no console).
 *
 * It reads the command line with GetCommandLineW(), splits it as the C
 * library would split it for wmain(), and goes on as mproc_main_w(). A
 * child of such a program opens no console window, and where the program
 * has no standard handles its children write into the null device and read
 * EOF from it.
 * @code
 * int WINAPI WinMain(HINSTANCE inst, HINSTANCE prev, LPSTR cmd, int show)
 * {
 *     if (mproc_main_cmdline() < 0)
 *         return 1;
 *     ...
 * }
 * @endcode
 * @return as mproc_main(); MPROC_ENOTSUP on every OS but Windows, where
 * main() receives the arguments and mproc_main() is the call to make
 * (nothing is initialised then).
 */
MPROC_API int mproc_main_cmdline(void);

/**
 * A target: the function a child runs.
 *
 * @p args is the list of values given at creation (never NULL; an empty list
 * when none were given) and is owned by the runtime. Returning ends the
 * process with exit code 0, as a normal return from Python's run() does.
 * To end otherwise, call mproc_exit(), mproc_exit_msg() or mproc_raise().
 */
typedef void (*mproc_target_fn)(const mproc_value_t *args);

/**
 * Registers @p fn under @p name so that children can find it.
 *
 * Call it before mproc_main(): a spawned child re-runs everything before
 * mproc_main() and must register the same targets. MPROC_TARGET() does this
 * at load time and is the usual way.
 * @return 0; MPROC_EINVAL for a NULL or empty name or function, or a name
 * already registered to another function; MPROC_ENOMEM.
 */
MPROC_API int mproc_register_target(const char *name, mproc_target_fn fn);

/**
 * Registers the function @p fn under its own name when the program loads.
 * Use it at file scope, after the function's definition:
 * @code
 * static void worker(const mproc_value_t *args) { ... }
 * MPROC_TARGET(worker)
 * @endcode
 */
#define MPROC_TARGET(fn)                                                       \
    MPROC__ON_LOAD(mproc_register_##fn##_, mproc_register_target(#fn, fn))

/** @} */

/** @name How a process ends */
/** @{ */
/** A finalizer: called once with the argument it was registered with. */
typedef void (*mproc_finalize_fn)(void *arg);
/** A registered finalizer (Python's util.Finalize). Opaque. */
typedef struct mproc_finalizer_t mproc_finalizer_t;

/**
 * The exit priority at which the runtime lets go of the named objects
 * (queues, locks, shared memory, connections) the process still holds:
 * a finalizer of a higher priority can still use them at exit.
 */
#define MPROC_FINALIZE_PRIORITY_OBJECTS (-100)

/**
 * Registers @p fn(@p arg) to run when the calling process ends normally
 * (returning from main() or from its target, mproc_exit(),
 * mproc_exit_msg(), mproc_raise()), as Python's
 * `util.Finalize(obj, fn, exitpriority=priority)`.
 *
 * Order, as Python's: higher @p priority first, and among equal ones the
 * one registered last first. Finalizers of priority >= 0 run before the
 * process's daemonic children are terminated and the others joined; the
 * rest after that, the runtime's own objects at
 * MPROC_FINALIZE_PRIORITY_OBJECTS among them. Every process kind runs its
 * own: the main process, and children of every start method. A child
 * starts with none: a fork child does not run its parent's (nor a
 * forkserver child the server's), as in Python. A process killed, or
 * ended by a signal, runs none.
 * @param fn the function to call; not NULL.
 * @param arg its argument, passed as it is.
 * @param priority the exit priority: higher runs first.
 * @param out receives a handle for mproc_finalizer_cancel() or
 * mproc_finalizer_run(); may be NULL. The handle is valid until the
 * finalizer has run or been cancelled.
 * @return 0; MPROC_EINVAL if @p fn is NULL; MPROC_ENOMEM.
 */
MPROC_API int mproc_finalize_register(mproc_finalize_fn fn, void *arg,
                                      int priority, mproc_finalizer_t **out);
/**
 * Unregisters @p f without running it (Python's Finalize.cancel()). The
 * handle is invalid afterwards.
 * @return 0; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_finalizer_cancel(mproc_finalizer_t *f);
/**
 * Runs @p f now and unregisters it, so that it does not run again at exit
 * (calling a Python Finalize object). The handle is invalid afterwards.
 * @return 0; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_finalizer_run(mproc_finalizer_t *f);

/**
 * Ends the calling process with exit code @p code, after the usual shutdown
 * (daemonic children terminated, the others joined, log lines written).
 */
MPROC_API MPROC_NORETURN void mproc_exit(int code);
/**
 * Ends the calling process as Python's sys.exit("message") does: the
 * message alone on stderr, exit code 1.
 */
MPROC_API MPROC_NORETURN void mproc_exit_msg(const char *fmt, ...)
    MPROC_PRINTF(1, 2);
/**
 * Ends the calling process as an exception escaping run() does: stderr gets
 * "Process NAME:" and then the message, and the exit code is 1.
 */
MPROC_API MPROC_NORETURN void mproc_raise(const char *fmt, ...)
    MPROC_PRINTF(1, 2);
/**
 * mproc_raise() with the sentence of the calling thread's last failure
 * (mproc_last_error()): the one-line reaction of a target to a call that
 * failed.
 * @code
 * if (mproc_unpack(args, "iL", &num, &lock) < 0)
 *     mproc_raise_last();
 * @endcode
 */
MPROC_API MPROC_NORETURN void mproc_raise_last(void);
/** @} */

/** @name Time */
/** @{ */
/**
 * Sleeps the calling thread for @p seconds (Python's time.sleep); 0 or a
 * negative value returns at once.
 */
MPROC_API void mproc_sleep(double seconds);
/** A monotonic clock in seconds (Python's time.monotonic). */
MPROC_API double mproc_monotonic(void);
/** The number of CPUs of the machine (at least 1). */
MPROC_API int mproc_cpu_count(void);
/** @} */

/** @name Explicit configuration */
/** @{ */
/**
 * Sets @p key to @p value (both copied) in the program's configuration.
 * Every child started afterwards gets the whole configuration, under every
 * start method: this is how what the program read from its config file
 * reaches a spawned child on Windows and Linux alike.
 * @return 0; MPROC_EINVAL for a NULL or empty key or a NULL value;
 * MPROC_ENOMEM.
 */
MPROC_API int mproc_config_set(const char *key, const char *value);
/** The value of @p key, or NULL. Valid until the key is set again. */
MPROC_API const char *mproc_config_get(const char *key);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
