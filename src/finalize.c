/*
 * How a process ends, after Python's util.py: the objects it still holds
 * are released (Finalize), its daemonic children are terminated and the
 * others joined (_exit_function), and a child writes "process exiting
 * with exitcode N" before it goes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "atomic.h"
#include "finalize.h"
#include "mproc_services.h"
#include "process_internal.h"

/*
 * Named objects open in this process (see mproc__owned_t). Any thread makes
 * and destroys objects, so owned_lock guards the list.
 */
static mproc__owned_t *owned;
static volatile uint32_t owned_lock;

/* End with the immediate exit, not exit(). */
static int forked;

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *), void *obj)
{
    mproc__spin_lock(&owned_lock);
    node->release = release;
    node->obj = obj;
    node->prev = NULL;
    node->next = owned;
    if (owned != NULL)
        owned->prev = node;
    owned = node;
    mproc__spin_unlock(&owned_lock);
}

/* Unlinks @node if it is linked. Called with owned_lock held. */
static void unlink_locked(mproc__owned_t *node)
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

void mproc__owned_unlink(mproc__owned_t *node)
{
    mproc__spin_lock(&owned_lock);
    unlink_locked(node);
    mproc__spin_unlock(&owned_lock);
}

/* Lets go of every named object still open, newest first. */
static void release_owned(void)
{
    for (;;) {
        mproc__owned_t *node;
        void (*release)(void *) = NULL;
        void *obj = NULL;
        mproc__spin_lock(&owned_lock);
        node = owned;
        if (node != NULL) {
            release = node->release;
            obj = node->obj;
            unlink_locked(node);
        }
        mproc__spin_unlock(&owned_lock);
        if (node == NULL)
            break;
        /* Outside the lock: releasing destroys, which unlinks again. */
        release(obj);
    }
}

void mproc__finalize_set_forked(int on)
{
    forked = on != 0;
}

int mproc__finalize_forked(void)
{
    return forked;
}

void mproc__finalize_after_fork(void)
{
    /* The parent's open objects are its own: this child did not open them. */
    owned = NULL;
    owned_lock = 0;
    forked = 1;
}

void mproc__finalize_shutdown(void)
{
    static int done;
    mproc_process_t *p;
    if (done)
        return;
    done = 1;
    mproc_log(MPROC_LOG_INFO, "process shutting down");
    mproc_log(MPROC_LOG_DEBUG,
              "running all \"atexit\" finalizers with priority >= 0");
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
    release_owned();
    mproc_log(MPROC_LOG_DEBUG, "running the remaining \"atexit\" finalizers");
}

void mproc__finalize_exit(int code)
{
    mproc__finalize_shutdown();
    if (mproc_parent_pid() != 0)
        mproc_log(MPROC_LOG_INFO, "process exiting with exitcode %d", code);
    mproc__os_flush_stdio();
    if (forked)
        mproc__os_exit_now(code);
    exit(code);
}

void mproc_exit(int code)
{
    mproc__finalize_exit(code);
}

void mproc_exit_msg(const char *fmt, ...)
{
    va_list ap;
    fflush(stdout);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    mproc__finalize_exit(1);
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
    mproc__finalize_exit(1);
}

void mproc_raise_last(void)
{
    mproc_raise("%s", mproc_last_error());
}
