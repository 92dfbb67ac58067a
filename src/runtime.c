/*
 * The state of the calling process: who it is, its children, its start
 * method, and how it ends.
 *
 * Ending follows Python's multiprocessing: a process that ends terminates
 * its daemonic children and joins the others (util._exit_function), and a
 * child writes "process exiting with exitcode N" before it goes.
 */
#include <apr_time.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

mproc__runtime_t mproc__rt;

/* Started children not yet destroyed, newest first. */
static mproc_process_t *children;

/* Named objects open in this process (see mproc__owned_t). */
static mproc__owned_t *owned;

/* ---- start methods ---------------------------------------------------- */

const char *mproc_start_method_name(mproc_start_method_e method)
{
    switch (method) {
    case MPROC_START_SPAWN:
        return "spawn";
    case MPROC_START_FORK:
        return "fork";
    case MPROC_START_FORKSERVER:
        return "forkserver";
    default:
        return "default";
    }
}

int mproc_start_method_available(mproc_start_method_e method)
{
    switch (method) {
    case MPROC_START_DEFAULT:
    case MPROC_START_SPAWN:
        return 1;
    case MPROC_START_FORK:
    case MPROC_START_FORKSERVER:
        return mproc__os_can_fork();
    }
    return 0;
}

int mproc__check_method(mproc_start_method_e method)
{
    if ((int) method < MPROC_START_DEFAULT ||
        (int) method > MPROC_START_FORKSERVER)
        return mproc__set_error(MPROC_EINVAL, "unknown start method %d",
                                (int) method);
    if (!mproc_start_method_available(method))
        return mproc__set_error(MPROC_ENOTSUP,
                                "the %s start method is not available on "
                                "this platform; use spawn",
                                mproc_start_method_name(method));
    return 0;
}

int mproc_set_start_method(mproc_start_method_e method, int force)
{
    int rc;
    if (method == MPROC_START_DEFAULT)
        return mproc__set_error(MPROC_EINVAL,
                                "set_start_method needs a concrete method");
    rc = mproc__check_method(method);
    if (rc != 0)
        return rc;
    if (mproc__rt.start_method_set && !force)
        return mproc__set_error(MPROC_ESTATE,
                                "the start method has already been set");
    mproc__rt.start_method = method;
    mproc__rt.start_method_set = 1;
    return 0;
}

mproc_start_method_e mproc_get_start_method(void)
{
    return mproc__rt.start_method_set ? mproc__rt.start_method
                                      : MPROC_START_SPAWN;
}

/* ---- the current process --------------------------------------------- */

int mproc__runtime_init_main(void)
{
    static const int no_identity[1] = {0};
    if (mproc__rt.self != NULL)
        return 0;
    mproc__rt.self =
        mproc__process_new_current("MainProcess", 0, no_identity, 0);
    if (mproc__rt.self == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    mproc__rt.parent_pid = 0;
    mproc__random_bytes(mproc__rt.authkey, sizeof mproc__rt.authkey);
    return 0;
}

mproc_process_t *mproc_current_process(void)
{
    /* A program that forgot mproc_main() still gets a sensible answer. */
    if (mproc__rt.self == NULL)
        mproc__runtime_init_main();
    return mproc__rt.self;
}

long mproc_parent_pid(void)
{
    return mproc__rt.parent_pid;
}

int mproc_cpu_count(void)
{
    return mproc__os_cpu_count();
}

void mproc_sleep(double seconds)
{
    if (seconds > 0)
        apr_sleep((apr_interval_time_t) (seconds * 1e6));
}

double mproc_monotonic(void)
{
    return mproc__os_monotonic();
}

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *), void *obj)
{
    node->release = release;
    node->obj = obj;
    node->prev = NULL;
    node->next = owned;
    if (owned != NULL)
        owned->prev = node;
    owned = node;
}

void mproc__owned_unlink(mproc__owned_t *node)
{
    if (node->release == NULL)
        return;
    if (node->prev != NULL)
        node->prev->next = node->next;
    else if (owned == node)
        owned = node->next;
    if (node->next != NULL)
        node->next->prev = node->prev;
    node->prev = node->next = NULL;
    node->release = NULL;
}

/* Lets go of every named object still open, newest first. */
static void release_owned(void)
{
    while (owned != NULL) {
        mproc__owned_t *node = owned;
        void (*release)(void *) = node->release;
        mproc__owned_unlink(node);
        release(node->obj);
    }
}

void mproc__runtime_after_fork(mproc_process_t *self)
{
    /*
     * The parent's children are not ours: forget them without touching the
     * objects, which are the parent's memory as copied by fork.
     */
    children = NULL;
    /* The parent's open objects are its own: this child did not open them. */
    owned = NULL;
    mproc__rt.self = self;
    mproc__rt.child_counter = 0;
    mproc__rt.is_fork_child = 1;
}

void mproc__runtime_add_child(mproc_process_t *p)
{
    p->prev_child = NULL;
    p->next_child = children;
    if (children != NULL)
        children->prev_child = p;
    children = p;
}

void mproc__runtime_remove_child(mproc_process_t *p)
{
    if (p->prev_child != NULL)
        p->prev_child->next_child = p->next_child;
    else if (children == p)
        children = p->next_child;
    if (p->next_child != NULL)
        p->next_child->prev_child = p->prev_child;
    p->next_child = p->prev_child = NULL;
}

size_t mproc_active_children(mproc_process_t **out, size_t cap)
{
    mproc_process_t *p;
    size_t n = 0;
    for (p = children; p != NULL; p = p->next_child) {
        if (p->creator_pid != mproc__os_getpid() || !mproc_process_is_alive(p))
            continue;
        if (n < cap && out != NULL)
            out[n] = p;
        n++;
    }
    return n;
}

void mproc__runtime_shutdown(void)
{
    static int done;
    mproc_process_t *p;
    if (done)
        return;
    done = 1;
    mproc_log(MPROC_LOG_INFO, "process shutting down");
    mproc_log(MPROC_LOG_DEBUG,
              "running all \"atexit\" finalizers with priority >= 0");
    for (p = children; p != NULL; p = p->next_child) {
        if (p->daemon && mproc_process_is_alive(p)) {
            mproc_log(MPROC_LOG_INFO, "calling terminate() for daemon %s",
                      p->name);
            mproc_process_terminate(p);
        }
    }
    for (p = children; p != NULL; p = p->next_child) {
        if (mproc_process_is_alive(p)) {
            mproc_log(MPROC_LOG_INFO, "calling join() for process %s", p->name);
            mproc_process_join(p, MPROC_FOREVER);
        }
    }
    release_owned();
    mproc_log(MPROC_LOG_DEBUG, "running the remaining \"atexit\" finalizers");
}

void mproc__runtime_finish(int code)
{
    mproc__runtime_shutdown();
    if (mproc__rt.parent_pid != 0)
        mproc_log(MPROC_LOG_INFO, "process exiting with exitcode %d", code);
    mproc__os_flush_stdio();
    if (mproc__rt.is_fork_child)
        mproc__os_exit_now(code);
    exit(code);
}

void mproc_exit(int code)
{
    mproc__runtime_finish(code);
}

void mproc_exit_msg(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mproc__runtime_finish(1);
}

void mproc_raise(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    fprintf(stderr, "Process %s:\n",
            mproc_process_name(mproc_current_process()));
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mproc__runtime_finish(1);
}

void mproc_raise_last(void)
{
    mproc_raise("%s", mproc_last_error());
}
