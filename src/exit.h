/*
 * This file is private to mproc.
 *
 * The end of a process (exit.c): Python's util._exit_function.
 */
#ifndef MPROC_SRC_EXIT_H
#define MPROC_SRC_EXIT_H

#include "mproc.h"

/*
 * Python's util._exit_function: terminate daemonic children, join the
 * others, release the objects still open. Runs once; later calls return.
 */
void mproc__exit_shutdown(void);
/*
 * Shuts down, logs "process exiting", flushes and ends with @code through
 * exit(): a forked child runs the exit handlers registered since it was
 * forked, and only those (see mproc__exit_set_forked()).
 */
MPROC_NORETURN void mproc__exit_with(int code);
/*
 * Whether this process is a forked child (1: fork or forkserver), whose
 * inherited atexit handlers must not run a second time. Turning it on
 * registers the barrier that ends the process after the handlers
 * registered from then on; call it before the target runs.
 */
void mproc__exit_set_forked(int forked);
int mproc__exit_forked(void);
/*
 * In a fork child: the parent's open objects and finalizers are the
 * parent's, and the child's exit handlers end at the barrier.
 */
void mproc__exit_after_fork(void);

#endif
