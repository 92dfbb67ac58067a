/*
 * Finalizers, after Python's util.Finalize: the registry with exit
 * priorities, and the objects this process holds open, which the runtime's
 * own finalizer releases. Every module that opens an object links it here,
 * so this file needs nothing above it; how a process ends (exit.c) runs
 * what is registered.
 */
#include <stdlib.h>

#include "finalize.h"
#include "mproc_services.h"
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

void mproc__finalize_run(int has_min, int min)
{
    run_finalizers(has_min, min);
}

void mproc__finalize_release_objects(void)
{
    release_owned_fn(NULL);
}

void mproc__finalize_lists_after_fork(void)
{
    /* The parent's open objects are its own: this child did not open them. */
    owned = NULL;
    /*
     * The runtime's locks may have been held by threads that did not come
     * along: the child's copies start unlocked.
     */
    mproc__spin_reset(&owned_lock);
    mproc__registry_after_fork();
    mproc__tlock_after_fork();
    mproc__finalize_forget();
}
