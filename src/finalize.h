/*
 * This file is private to mproc.
 *
 * Finalizers and the end of a process (finalize.c): Python's util.Finalize
 * and util._exit_function.
 */
#ifndef MPROC_SRC_FINALIZE_H
#define MPROC_SRC_FINALIZE_H

#include "mproc.h"

/*
 * Named objects this process holds open. A process that ends normally lets
 * go of them (Python finalizes them at exit), so the last user's exit
 * removes a name; only a killed tree leaves names for the tracker.
 */
typedef struct mproc__owned_t {
    void (*release)(void *obj);
    void *obj;
    struct mproc__owned_t *prev, *next;
} mproc__owned_t;

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *),
                       void *obj);
void mproc__owned_unlink(mproc__owned_t *node);

/*
 * Python's util._exit_function: terminate daemonic children, join the
 * others, release the objects still open. Runs once; later calls return.
 */
void mproc__finalize_shutdown(void);
/*
 * Shuts down, logs "process exiting", flushes and ends with @code through
 * exit(): a forked child runs the exit handlers registered since it was
 * forked, and only those (see mproc__finalize_set_forked()).
 */
MPROC_NORETURN void mproc__finalize_exit(int code);
/*
 * Whether this process is a forked child (1: fork or forkserver), whose
 * inherited atexit handlers must not run a second time. Turning it on
 * registers the barrier that ends the process after the handlers
 * registered from then on; call it before the target runs.
 */
void mproc__finalize_set_forked(int forked);
int mproc__finalize_forked(void);
/*
 * In a fork child: the parent's open objects are the parent's, and the
 * child ends with the immediate exit.
 */
void mproc__finalize_after_fork(void);
/*
 * At a child's start: the finalizers registered so far are not its own
 * (Python's _bootstrap clears the registry), and are forgotten.
 */
void mproc__finalize_forget(void);

#endif
