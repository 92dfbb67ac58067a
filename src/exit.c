/*
 * How a process ends, after Python's util._exit_function: the finalizers
 * of priority 0 and above run, daemonic children are terminated and the
 * others joined, the remaining finalizers (the runtime's release of open
 * objects among them) run, and a child writes "process exiting with
 * exitcode N" before it goes. A forked child's exit handlers end at a
 * barrier, so that those it inherited never run twice.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "exit.h"
#include "finalize.h"
#include "mproc_services.h"
#include "pool_internal.h"
#include "process_internal.h"

/* A forked child: the handlers before the barrier are its parent's. */
static int forked;

/* The code mproc__exit_with() ends a forked child with. */
static int exit_code;
static int exit_code_known;

/*
 * The barrier between a forked child's exit handlers and its parent's.
 * exit() runs the handlers newest first: those the child's target
 * registered, then this one, which ends the process before the handlers it
 * inherited from its parent (and, in a forkserver child, from the server)
 * can run a second time. _exit from an exit handler is allowed; exit is
 * not. Where the platform passes exit()'s status on (glibc's on_exit), a
 * plain exit(n) from the target stops here too, with n, after the shutdown
 * the runtime's own handler would have done. Elsewhere only
 * mproc__exit_with() leaves its code, and a plain exit(n) ends the process
 * as C ends it, the inherited handlers included.
 */
static void fork_barrier_status(int status)
{
    if (!forked)
        return;
    if (exit_code_known)
        status = exit_code;
    else
        mproc__exit_shutdown();
    mproc__os_flush_stdio();
    mproc__os_exit_now(status);
}

static void fork_barrier(void)
{
    if (!forked || !exit_code_known)
        return;
    mproc__os_flush_stdio();
    mproc__os_exit_now(exit_code);
}

void mproc__exit_set_forked(int on)
{
    /* Registered before the target runs, so that its handlers come first. */
    if (on && !forked && mproc__os_at_exit_status(fork_barrier_status) < 0)
        atexit(fork_barrier);
    forked = on != 0;
}

int mproc__exit_forked(void)
{
    return forked;
}

void mproc__exit_after_fork(void)
{
    mproc__finalize_lists_after_fork();
    /* A copy of the parent's state: a fork child of a fork child too. */
    forked = 0;
    exit_code_known = 0;
    mproc__exit_set_forked(1);
}

void mproc__exit_shutdown(void)
{
    static int done;
    mproc_process_t *p;
    if (done)
        return;
    done = 1;
    mproc_log(MPROC_LOG_INFO, "process shutting down");
    mproc_log(MPROC_LOG_DEBUG,
              "running all \"atexit\" finalizers with priority >= 0");
    mproc__finalize_run(1, 0);
    for (p = mproc__process_next_child(NULL); p != NULL;
         p = mproc__process_next_child(p)) {
        if (mproc_process_daemon(p) && mproc_process_is_alive(p)) {
            mproc_log(MPROC_LOG_INFO, "calling terminate() for daemon %s",
                      mproc_process_name(p));
            mproc_process_terminate(p);
        }
    }
    for (p = mproc__process_next_child(NULL); p != NULL;
         p = mproc__process_next_child(p)) {
        if (mproc_process_is_alive(p)) {
            mproc_log(MPROC_LOG_INFO, "calling join() for process %s",
                      mproc_process_name(p));
            mproc_process_join(p, MPROC_FOREVER);
        }
    }
    mproc_log(MPROC_LOG_DEBUG, "running the remaining \"atexit\" finalizers");
    mproc__finalize_run(0, 0);
    /* Objects a finalizer opened after the runtime's own had run. */
    mproc__finalize_release_objects();
}

void mproc__exit_with(int code)
{
    mproc__exit_shutdown();
    if (mproc_parent_pid() != 0)
        mproc_log(MPROC_LOG_INFO, "process exiting with exitcode %d", code);
    mproc__os_flush_stdio();
    if (forked) {
        /* exit() runs the child's own handlers up to fork_barrier(). */
        exit_code = code;
        exit_code_known = 1;
    }
    exit(code);
}

void mproc_exit(int code)
{
    mproc__exit_with(code);
}

void mproc_exit_msg(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mproc__exit_with(1);
}

/* A pool task ends its call, not its worker (pool_worker.c). */
static void raise_in_task(int status, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    mproc__pool_task_raise(status, fmt, ap);
}

void mproc_raise(const char *fmt, ...)
{
    va_list ap;
    if (mproc__pool_in_task()) {
        va_start(ap, fmt);
        mproc__pool_task_raise(MPROC_ETASK, fmt, ap);
    }
    fflush(stdout);
    fprintf(stderr, "Process %s:\n",
            mproc_process_name(mproc_current_process()));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mproc__exit_with(1);
}

void mproc_raise_last(void)
{
    /* In a pool task the failure keeps its status, as an exception does. */
    if (mproc__pool_in_task())
        raise_in_task(mproc__last_status(), "%s", mproc_last_error());
    mproc_raise("%s", mproc_last_error());
}
