/*
 * How a process ends, after Python's util.py: the objects it still holds
 * are released (Finalize), its daemonic children are terminated and the
 * others joined (_exit_function), and a child writes "process exiting
 * with exitcode N" before it goes.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>

#include "finalize.h"
#include "mproc_services.h"
#include "process_internal.h"

/* Named objects open in this process (see mproc__owned_t). */
static mproc__owned_t *owned;

/*
 * A registered finalizer. The registry is a list in the order of running:
 * by priority, highest first, and by registration, newest first.
 */
struct mproc_finalizer_t {
    mproc_finalize_fn fn;
    void *arg;
    int priority;
    int builtin; /* the runtime's own, not allocated */
    struct mproc_finalizer_t *prev, *next;
};

static mproc_finalizer_t *registry;

static void release_owned_fn(void *unused);
static void register_objects(void);

/* The runtime's own finalizer: lets go of the objects still open. */
static mproc_finalizer_t objects_finalizer = {
    release_owned_fn, NULL, MPROC_FINALIZE_PRIORITY_OBJECTS, 1, NULL, NULL};
static int objects_registered;

/* End with the immediate exit, not exit(). */
static int forked;

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *), void *obj)
{
    register_objects();
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

/* Puts @f before the first finalizer that runs after it. */
static void registry_insert(mproc_finalizer_t *f)
{
    mproc_finalizer_t *at = registry, *before = NULL;
    /* Newest first among equals: it goes before those of its priority. */
    while (at != NULL && at->priority > f->priority) {
        before = at;
        at = at->next;
    }
    f->prev = before;
    f->next = at;
    if (at != NULL)
        at->prev = f;
    if (before != NULL)
        before->next = f;
    else
        registry = f;
}

static void registry_remove(mproc_finalizer_t *f)
{
    if (f->prev != NULL)
        f->prev->next = f->next;
    else if (registry == f)
        registry = f->next;
    if (f->next != NULL)
        f->next->prev = f->prev;
    f->prev = f->next = NULL;
}

/*
 * The runtime's finalizer goes in with the first object, so that it counts
 * as registered before every user finalizer of its priority registered
 * later, which then run before it.
 */
static void register_objects(void)
{
    if (objects_registered)
        return;
    objects_registered = 1;
    registry_insert(&objects_finalizer);
}

int mproc_finalize_register(mproc_finalize_fn fn, void *arg, int priority,
                            mproc_finalizer_t **out)
{
    mproc_finalizer_t *f;
    if (out != NULL)
        *out = NULL;
    if (fn == NULL)
        return mproc__set_error(MPROC_EINVAL, "a finalizer needs a function");
    f = calloc(1, sizeof *f);
    if (f == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    f->fn = fn;
    f->arg = arg;
    f->priority = priority;
    registry_insert(f);
    if (out != NULL)
        *out = f;
    return 0;
}

int mproc_finalizer_cancel(mproc_finalizer_t *f)
{
    if (f == NULL)
        return mproc__set_error(MPROC_EINVAL, "no finalizer");
    registry_remove(f);
    if (!f->builtin)
        free(f);
    return 0;
}

int mproc_finalizer_run(mproc_finalizer_t *f)
{
    mproc_finalize_fn fn;
    void *arg;
    if (f == NULL)
        return mproc__set_error(MPROC_EINVAL, "no finalizer");
    fn = f->fn;
    arg = f->arg;
    /* Out of the registry first: the function may end the process. */
    mproc_finalizer_cancel(f);
    fn(arg);
    return 0;
}

/*
 * Runs the finalizers in order, those of priority >= @min only if
 * @has_min (Python's _run_finalizers(minpriority)). Each leaves the
 * registry before it runs, so one that registers another, or ends the
 * process, never runs twice.
 */
static void run_finalizers(int has_min, int min)
{
    while (registry != NULL && (!has_min || registry->priority >= min))
        mproc_finalizer_run(registry);
}

void mproc__finalize_forget(void)
{
    /*
     * A child runs only the finalizers it registers itself, as Python's
     * _bootstrap clears the registry: those it has are its parent's (a
     * fork's copy, a forkserver's, or registered again before
     * mproc_main() in a spawned one). Their memory is left as it is.
     */
    registry = NULL;
    objects_registered = 0;
}

/* Lets go of every named object still open, newest first. */
static void release_owned_fn(void *unused)
{
    (void) unused;
    /*
     * Out of the registry now: an object a later finalizer opens puts it
     * back, and is let go of in its turn.
     */
    objects_registered = 0;
    while (owned != NULL) {
        mproc__owned_t *node = owned;
        void (*release)(void *) = node->release;
        mproc__owned_unlink(node);
        release(node->obj);
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
    forked = 1;
    mproc__finalize_forget();
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
    run_finalizers(1, 0);
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
    run_finalizers(0, 0);
    /* Objects a finalizer opened after the runtime's own had run. */
    release_owned_fn(NULL);
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
