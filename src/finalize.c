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
#include "registry.h"
#include "tlock.h"

/*
 * Named objects open in this process (see mproc__owned_t), under
 * owned_lock: threads make and destroy objects at once.
 */
static mproc__owned_t *owned;
static mproc__spin_t owned_lock = MPROC__SPIN_INIT;

/*
 * A registered finalizer. The registry is a list in the order of running:
 * by priority, highest first, and by registration, newest first. It is
 * under owned_lock too: the runtime's own entry goes in with the first
 * object, and finalizers are registered from any thread.
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

/* A forked child: the handlers before the barrier are its parent's. */
static int forked;

/* The code mproc__finalize_exit() ends a forked child with. */
static int exit_code;
static int exit_code_known;

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *), void *obj)
{
    mproc__spin_lock(&owned_lock);
    register_objects();
    node->release = release;
    node->obj = obj;
    node->prev = NULL;
    node->next = owned;
    if (owned != NULL)
        owned->prev = node;
    owned = node;
    mproc__spin_unlock(&owned_lock);
}

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
    mproc__spin_lock(&owned_lock);
    registry_insert(f);
    mproc__spin_unlock(&owned_lock);
    if (out != NULL)
        *out = f;
    return 0;
}

int mproc_finalizer_cancel(mproc_finalizer_t *f)
{
    if (f == NULL)
        return mproc__set_error(MPROC_EINVAL, "no finalizer");
    mproc__spin_lock(&owned_lock);
    registry_remove(f);
    mproc__spin_unlock(&owned_lock);
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
    for (;;) {
        mproc_finalizer_t *f;
        mproc__spin_lock(&owned_lock);
        f = registry;
        if (f != NULL && has_min && f->priority < min)
            f = NULL;
        mproc__spin_unlock(&owned_lock);
        if (f == NULL)
            break;
        mproc_finalizer_run(f);
    }
}

void mproc__finalize_forget(void)
{
    /*
     * A child runs only the finalizers it registers itself, as Python's
     * _bootstrap clears the registry: those it has are its parent's (a
     * fork's copy, a forkserver's, or registered again before
     * mproc_main() in a spawned one). Their memory is left as it is.
     */
    mproc__spin_lock(&owned_lock);
    registry = NULL;
    objects_registered = 0;
    mproc__spin_unlock(&owned_lock);
}

/* Lets go of every named object still open, newest first. */
static void release_owned_fn(void *unused)
{
    (void) unused;
    /*
     * Out of the registry now: an object a later finalizer opens puts it
     * back, and is let go of in its turn.
     */
    mproc__spin_lock(&owned_lock);
    objects_registered = 0;
    mproc__spin_unlock(&owned_lock);
    for (;;) {
        mproc__owned_t *node;
        void (*release)(void *);
        void *obj;
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
        /* Outside the lock: releasing unlinks what the object holds. */
        release(obj);
    }
}

/*
 * The barrier between a forked child's exit handlers and its parent's.
 * exit() runs the handlers newest first: those the child's target
 * registered, then this one, which ends the process before the handlers it
 * inherited from its parent (and, in a forkserver child, from the server)
 * can run a second time. _exit from an exit handler is allowed; exit is
 * not. A plain exit(n) called by the target leaves no code here, and the
 * process then ends as C ends it, with n.
 */
static void fork_barrier(void)
{
    if (!exit_code_known)
        return;
    mproc__os_flush_stdio();
    mproc__os_exit_now(exit_code);
}

void mproc__finalize_set_forked(int on)
{
    /* Registered before the target runs, so that its handlers come first. */
    if (on && !forked)
        atexit(fork_barrier);
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
    /* A copy of the parent's state: a fork child of a fork child too. */
    forked = 0;
    exit_code_known = 0;
    mproc__finalize_set_forked(1);
    /*
     * The runtime's locks may have been held by threads that did not come
     * along: the child's copies start unlocked.
     */
    mproc__spin_reset(&owned_lock);
    mproc__registry_after_fork();
    mproc__tlock_after_fork();
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
    if (forked) {
        /* exit() runs the child's own handlers up to fork_barrier(). */
        exit_code = code;
        exit_code_known = 1;
    }
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
