/*
 * Process objects (Python's process.py): create, start, join, signal; the
 * current process, its children and mproc_active_children().
 *
 * Python's rules hold: a process starts once; only the process that created
 * it may start, join or signal it; a daemonic process may not have children;
 * a process cannot join itself. How a child is started is popen.c's.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "auth.h"
#include "context.h"
#include "log.h"
#include "mproc_private.h"
#include "popen.h"
#include "process_internal.h"
#include "registry.h"
#include "tlock.h"
#include "value_codec.h"

/* How the parent process is watched (watch_state). */
enum {
    WATCH_NONE = 0, /* not asked yet */
    WATCH_OPEN,     /* through the handle watch */
    WATCH_ENDED,    /* it has ended */
    WATCH_POLL      /* the OS has no handle: its pid is asked */
};

/*
 * A Process object: what a child is started with (name, target, arguments,
 * method), then its pid, OS handle and exit code once started.
 */
struct mproc_process_t {
    char *name;
    char *target;
    mproc_target_fn fn;
    mproc__buf_t args; /* msgpack of the argument list */
    int daemon;
    mproc_start_method_e method;
    int *identity;
    size_t identity_len;
    int started;
    int is_current; /* the object of the calling process */
    /*
     * The object of the calling process's parent (mproc_parent_process()):
     * watched through @watch once asked, as @watch_state says.
     */
    int is_parent;
    int watch_state;
    mproc__os_fd_t watch;
    long creator_pid;
    mproc__os_child_t *child;
    long pid;
    /*
     * Set (atomically, after exitcode) once the exit code is known; the
     * wait lock makes one thread wait for the child while another joining
     * thread waits for that one (Python's join from two threads).
     */
    volatile uint32_t have_exitcode;
    int exitcode;
    mproc__hlock_t *wait_lock; /* the creating process's objects only */
    /*
     * The authkey the child is started with (Python's Process.authkey):
     * its creator's at creation, settable until start. The current
     * process's own key is mproc__auth_key().
     */
    unsigned char authkey[MPROC__AUTHKEY_SIZE];
    mproc_process_t *next_child; /* the list of children */
    mproc_process_t *prev_child;
    /* The queues among the arguments, held open until the child ended. */
    mproc__queue_hold_t hold;
};

/* The public size and the handshake's are one. */
typedef char
    mproc__authkey_sizes_agree[MPROC_AUTHKEY_SIZE == MPROC__AUTHKEY_SIZE ? 1
                                                                         : -1];

/* The calling process: who it is and who started it. */
static struct {
    mproc_process_t *self;   /* the current process's object */
    long parent_pid;         /* 0 in the main process */
    char *parent_name;       /* its name, NULL if unknown */
    mproc_process_t *parent; /* its object, made on the first ask */
    /* Numbers given to this process's children; a pool's thread starts
     * children too, so it counts atomically. */
    volatile uint32_t child_counter;
} current;

/* Started children not yet destroyed, newest first, under children_lock. */
static mproc_process_t *children;
static mproc__spin_t children_lock = MPROC__SPIN_INIT;

static int ended(const mproc_process_t *p)
{
    return mproc__atomic_load32((volatile uint32_t *) &p->have_exitcode) != 0;
}

static mproc_process_t *alloc_process(const char *name, const int *identity,
                                      size_t identity_len)
{
    mproc_process_t *p = calloc(1, sizeof *p);
    if (p == NULL)
        return NULL;
    p->name = mproc__strdup(name);
    p->identity = malloc((identity_len ? identity_len : 1) * sizeof(int));
    if (p->name == NULL || p->identity == NULL) {
        free(p->name);
        free(p->identity);
        free(p);
        return NULL;
    }
    if (identity_len > 0)
        memcpy(p->identity, identity, identity_len * sizeof(int));
    p->identity_len = identity_len;
    return p;
}

/* A process object for the calling process. */
static mproc_process_t *new_current(const char *name, int daemon,
                                    const int *identity, size_t identity_len)
{
    mproc_process_t *p = alloc_process(name, identity, identity_len);
    if (p == NULL)
        return NULL;
    p->daemon = daemon;
    p->is_current = 1;
    p->started = 1;
    p->pid = mproc__os_getpid();
    p->creator_pid = 0;
    return p;
}

/* Makes @p the current process, whose name the log lines carry. */
static void set_current(mproc_process_t *p)
{
    current.self = p;
    mproc__atomic_store32(&current.child_counter, 0);
    mproc__log_set_name(p->name);
}

int mproc__process_init_main(void)
{
    static const int no_identity[1] = {0};
    mproc_process_t *p;
    if (current.self != NULL)
        return 0;
    p = new_current("MainProcess", 0, no_identity, 0);
    if (p == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    set_current(p);
    current.parent_pid = 0;
    /*
     * The key is random from its first use, which may have come before
     * (a listener made first proves it): it is made now if not, and kept.
     */
    (void) mproc__auth_key();
    return 0;
}

static void free_process(mproc_process_t *p);

int mproc__process_become(const char *name, int daemon, const int *identity,
                          size_t n, long parent_pid,
                          const unsigned char *authkey)
{
    mproc_process_t *p = new_current(name, daemon, identity, n), *old;
    if (p == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    /* A MainProcess made before mproc_main() (by asking for it) is spent. */
    old = current.self;
    set_current(p);
    if (old != NULL)
        free_process(old);
    current.parent_pid = parent_pid;
    memcpy(mproc__auth_key(), authkey, MPROC__AUTHKEY_SIZE);
    return 0;
}

static void free_process(mproc_process_t *p);

/* Forgets the parent's name and object, closing its watch. */
static void forget_parent(void)
{
    if (current.parent != NULL) {
        if (current.parent->watch_state == WATCH_OPEN)
            mproc__os_close(current.parent->watch);
        free_process(current.parent);
        current.parent = NULL;
    }
    free(current.parent_name);
    current.parent_name = NULL;
}

void mproc__process_set_parent_name(const char *name)
{
    free(current.parent_name);
    current.parent_name = name != NULL ? mproc__strdup(name) : NULL;
}

void mproc__process_after_fork(mproc_process_t *p)
{
    /*
     * The parent is the process whose memory this is: its name is the
     * current one's until set_current() below, and the copy of its own
     * parent's object (and watch) are not this child's to keep.
     */
    char *parent_name = mproc__strdup(current.self->name);
    forget_parent();
    current.parent_name = parent_name;
    current.parent_pid = p->creator_pid;
    /* The child holds the key its object was given, as a spawned one does. */
    memcpy(mproc__auth_key(), p->authkey, MPROC__AUTHKEY_SIZE);
    p->is_current = 1;
    p->pid = mproc__os_getpid();
    p->creator_pid = 0;
    p->child = NULL;
    /* What the parent held for this child is the parent's to let go of. */
    mproc__queue_release(&p->hold);
    /*
     * The parent's children are not ours: forget them without touching the
     * objects, which are the parent's memory as copied by fork. Their lock
     * may have been held by a thread that did not come along.
     */
    children = NULL;
    mproc__spin_reset(&children_lock);
    set_current(p);
}

mproc_process_t *mproc_current_process(void)
{
    /* A program that forgot mproc_main() still gets a sensible answer. */
    if (current.self == NULL)
        mproc__process_init_main();
    return current.self;
}

long mproc_parent_pid(void)
{
    return current.parent_pid;
}

mproc_process_t *mproc_parent_process(void)
{
    static const int no_identity[1] = {0};
    mproc_process_t *p;
    if (current.parent_pid == 0)
        return NULL;
    if (current.parent != NULL)
        return current.parent;
    p = alloc_process(current.parent_name ? current.parent_name : "",
                      no_identity, 0);
    if (p == NULL) {
        mproc__set_error(MPROC_ENOMEM, "out of memory");
        return NULL;
    }
    p->is_parent = 1;
    p->started = 1;
    p->pid = current.parent_pid;
    p->watch = MPROC__OS_FD_INVALID;
    current.parent = p;
    return p;
}

/* Whether the parent process @p has ended (1) or not (0), looked at now. */
static int parent_ended(mproc_process_t *p)
{
    mproc__os_wait_item_t item;
    int rc;
    if (p->watch_state == WATCH_NONE) {
        rc = mproc__os_process_watch(p->pid, &p->watch);
        p->watch_state = rc == 0   ? WATCH_OPEN
                         : rc == 1 ? WATCH_ENDED
                                   : WATCH_POLL;
    }
    if (p->watch_state == WATCH_OPEN) {
        item.conn = NULL;
        item.handle = p->watch;
        item.ready = 0;
        if (mproc__os_wait_many(&item, 1, 0) > 0 && item.ready) {
            /* Ended for good: the handle has told all it can. */
            mproc__os_close(p->watch);
            p->watch = MPROC__OS_FD_INVALID;
            p->watch_state = WATCH_ENDED;
        }
    } else if (p->watch_state == WATCH_POLL && !mproc__os_pid_alive(p->pid)) {
        p->watch_state = WATCH_ENDED;
    }
    return p->watch_state == WATCH_ENDED;
}

/* How often a parent without a watch handle is asked, in seconds. */
#define PARENT_POLL_SLICE 0.01

/* Python's _ParentProcess.join: waits for the parent's end. */
static int parent_join(mproc_process_t *p, double timeout)
{
    double deadline = mproc__os_monotonic() + (timeout > 0 ? timeout : 0);
    for (;;) {
        double left = timeout < 0 ? -1 : deadline - mproc__os_monotonic();
        if (parent_ended(p))
            return 0;
        if (timeout >= 0 && left <= 0)
            break;
        if (p->watch_state == WATCH_OPEN) {
            mproc__os_wait_item_t item = {NULL, p->watch, 0};
            if (mproc__os_wait_many(&item, 1, left) < 0)
                return MPROC_EOS;
        } else {
            mproc_sleep(left >= 0 && left < PARENT_POLL_SLICE
                            ? left
                            : PARENT_POLL_SLICE);
        }
    }
    return mproc__set_error(
        MPROC_ETIMEDOUT, "the parent process '%s' is still running", p->name);
}

static void free_process(mproc_process_t *p)
{
    mproc__queue_release(&p->hold);
    mproc__os_child_free(p->child);
    mproc__hlock_destroy(p->wait_lock);
    mproc__buf_free(&p->args);
    free(p->name);
    free(p->target);
    free(p->identity);
    free(p);
}

/* "Process-1:2": the class name and the identity joined by colons. */
static int default_name(char *buf, size_t cap, const char *class_name,
                        const int *identity, size_t n)
{
    size_t used, i;
    int w = snprintf(buf, cap, "%s-", class_name);
    if (w < 0 || (size_t) w >= cap)
        return MPROC_EINVAL;
    used = (size_t) w;
    for (i = 0; i < n; i++) {
        w = snprintf(buf + used, cap - used, i ? ":%d" : "%d", identity[i]);
        if (w < 0 || (size_t) w >= cap - used)
            return MPROC_EINVAL;
        used += (size_t) w;
    }
    return 0;
}

int mproc_process_create(mproc_process_t **proc,
                         const mproc_process_opts_t *opts)
{
    mproc_process_t *self = mproc_current_process(), *p;
    mproc_target_fn fn;
    const char *target;
    int identity[64];
    size_t n;
    char name[256];
    int rc;

    *proc = NULL;
    if (opts == NULL || (opts->target == NULL && opts->fn == NULL))
        return mproc__set_error(MPROC_EINVAL, "a process needs a target: "
                                              "set .fn or .target");
    if (opts->args != NULL && mproc_value_type(opts->args) != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_EINVAL,
                                "the arguments of a process must be a list");
    rc = mproc__check_method(opts->method);
    if (rc != 0)
        return rc;
    if (opts->fn != NULL) {
        /* A spawned child finds the function by name: it needs one. */
        target = mproc__target_name(opts->fn);
        if (target == NULL)
            return mproc__set_error(MPROC_ENOTREG,
                                    "the function given as .fn%s%s%s is not "
                                    "a registered target (register it with "
                                    "MPROC_TARGET or mproc_register_target "
                                    "before mproc_main)",
                                    opts->target ? " ('" : "",
                                    opts->target ? opts->target : "",
                                    opts->target ? "')" : "");
        /* One function may have several names: compare functions. */
        if (opts->target != NULL &&
            mproc__target_find(opts->target) != opts->fn)
            return mproc__set_error(MPROC_EINVAL,
                                    ".fn and .target disagree: the function "
                                    "is registered as '%s', and .target "
                                    "names %s",
                                    target,
                                    mproc__target_find(opts->target) != NULL
                                        ? "another function"
                                        : "no registered target");
        if (opts->target != NULL)
            target = opts->target;
        fn = opts->fn;
    } else {
        target = opts->target;
        fn = mproc__target_find(target);
        if (fn == NULL)
            return mproc__set_error(MPROC_ENOTREG,
                                    "target '%s' is not registered in this "
                                    "program (use MPROC_TARGET or "
                                    "mproc_register_target before "
                                    "mproc_main)",
                                    target);
    }
    n = self->identity_len;
    if (n + 1 > MPROC__ARRAY_SIZE(identity))
        return mproc__set_error(MPROC_ERANGE, "processes nested too deeply");
    memcpy(identity, self->identity, n * sizeof(int));
    identity[n++] = (int) mproc__atomic_inc32(&current.child_counter);
    if (opts->name != NULL) {
        if (snprintf(name, sizeof name, "%s", opts->name) >= (int) sizeof name)
            return mproc__set_error(MPROC_EINVAL, "process name too long");
    } else if (default_name(name, sizeof name,
                            opts->class_name ? opts->class_name : "Process",
                            identity, n) != 0) {
        return mproc__set_error(MPROC_EINVAL, "process class name too long");
    }

    p = alloc_process(name, identity, n);
    if (p == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    p->target = mproc__strdup(target);
    if (p->target == NULL || mproc__hlock_create(&p->wait_lock) != 0) {
        free_process(p);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    p->fn = fn;
    p->daemon = opts->daemon == MPROC_DAEMON_INHERIT
                    ? self->daemon
                    : opts->daemon == MPROC_DAEMON_YES;
    p->method = opts->method != MPROC_START_DEFAULT ? opts->method
                                                    : mproc_get_start_method();
    p->creator_pid = mproc__os_getpid();
    memcpy(p->authkey, mproc__auth_key(), sizeof p->authkey);
    /* Encode the arguments now: the caller may free them after create. */
    if (opts->args != NULL) {
        rc = mproc__value_encode(opts->args, &p->args);
    } else {
        mproc_value_t *empty = mproc_value_list();
        rc = empty ? mproc__value_encode(empty, &p->args)
                   : mproc__set_error(MPROC_ENOMEM, "out of memory");
        mproc_value_free(empty);
    }
    if (rc != 0) {
        free_process(p);
        return rc;
    }
    *proc = p;
    return 0;
}

static int check_controller(const mproc_process_t *p, const char *what)
{
    if (p->is_current)
        return mproc__set_error(MPROC_EJOINSELF, "a process cannot %s itself",
                                what);
    if (p->creator_pid != mproc__os_getpid())
        return mproc__set_error(MPROC_ENOTCHILD,
                                "can only %s a child process of the current "
                                "process ('%s' was created by pid %ld)",
                                what, p->name, p->creator_pid);
    return 0;
}

/* Adds the started @p to the children, newest first. */
static void add_child(mproc_process_t *p)
{
    mproc__spin_lock(&children_lock);
    p->prev_child = NULL;
    p->next_child = children;
    if (children != NULL)
        children->prev_child = p;
    children = p;
    mproc__spin_unlock(&children_lock);
}

static void remove_child(mproc_process_t *p)
{
    mproc__spin_lock(&children_lock);
    if (p->prev_child != NULL)
        p->prev_child->next_child = p->next_child;
    else if (children == p)
        children = p->next_child;
    if (p->next_child != NULL)
        p->next_child->prev_child = p->prev_child;
    p->next_child = p->prev_child = NULL;
    mproc__spin_unlock(&children_lock);
}

mproc_process_t *mproc__process_next_child(mproc_process_t *after)
{
    mproc_process_t *next;
    mproc__spin_lock(&children_lock);
    next = after != NULL ? after->next_child : children;
    mproc__spin_unlock(&children_lock);
    return next;
}

size_t mproc_active_children(mproc_process_t **out, size_t cap)
{
    mproc_process_t *p;
    size_t n = 0;
    for (p = mproc__process_next_child(NULL); p != NULL;
         p = mproc__process_next_child(p)) {
        if (p->creator_pid != mproc__os_getpid() || !mproc_process_is_alive(p))
            continue;
        if (n < cap && out != NULL)
            out[n] = p;
        n++;
    }
    return n;
}

int mproc_process_start(mproc_process_t *p)
{
    mproc__popen_job_t job;
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    rc = mproc__runtime_check("start a process");
    if (rc != 0)
        return rc;
    if (p->started)
        return mproc__set_error(MPROC_ESTARTED,
                                "cannot start a process twice ('%s')", p->name);
    if (p->creator_pid != mproc__os_getpid())
        return mproc__set_error(MPROC_ENOTCHILD,
                                "can only start a process object created by "
                                "the current process");
    if (mproc_current_process()->daemon)
        return mproc__set_error(MPROC_EDAEMON,
                                "daemonic processes are not allowed to have "
                                "children ('%s' cannot start '%s')",
                                mproc_current_process()->name, p->name);
    job.name = p->name;
    job.identity = p->identity;
    job.identity_len = p->identity_len;
    job.daemon = p->daemon;
    job.target = p->target;
    job.args = &p->args;
    job.authkey = p->authkey;
    job.process = p;
    /*
     * The one call from a Process up into the start paths, as CPython's
     * Process.start() calls its context's Popen. popen.c, bootstrap.c and
     * the forkserver call back down into this module (the child becomes
     * its Process, a fork child runs its bootstrap): that cycle is the
     * start of a process itself, and the only one among these modules.
     */
    /*
     * The queues among the arguments stay open here until the child has
     * ended, so that it opens them even if this process closes its own
     * handles right after the start.
     */
    rc = mproc__queue_hold(&p->args, &p->hold);
    if (rc != 0)
        return rc;
    rc = mproc__popen_start(&job, p->method, &p->child);
    if (rc != 0) {
        mproc__queue_release(&p->hold);
        return rc;
    }
    p->started = 1;
    p->pid = mproc__os_child_pid(p->child);
    add_child(p);
    return 0;
}

int mproc_process_join(mproc_process_t *p, double timeout)
{
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    if (p->is_parent)
        return parent_join(p, timeout);
    rc = check_controller(p, "join");
    if (rc != 0)
        return rc;
    if (!p->started)
        return mproc__set_error(MPROC_ENOTSTARTED,
                                "can only join a started process ('%s')",
                                p->name);
    if (ended(p))
        return 0;
    {
        double end = timeout > 0 ? mproc_monotonic() + timeout : 0;
        int code = 0;
        if (mproc__hlock_lock(p->wait_lock, timeout) != 0)
            return mproc__set_error(MPROC_ETIMEDOUT,
                                    "process '%s' is still running", p->name);
        /* Another thread may have seen it end while this one waited. */
        rc = 0;
        if (!ended(p)) {
            if (timeout > 0 && (timeout = end - mproc_monotonic()) < 0)
                timeout = 0;
            rc = mproc__os_child_wait(p->child, timeout, &code);
            if (rc == 0) {
                p->exitcode = code;
                mproc__atomic_store32(&p->have_exitcode, 1);
                mproc__queue_release(&p->hold);
            }
        }
        mproc__hlock_unlock(p->wait_lock);
    }
    if (rc == MPROC_ETIMEDOUT)
        return mproc__set_error(rc, "process '%s' is still running", p->name);
    return rc;
}

int mproc_process_is_alive(mproc_process_t *p)
{
    if (p == NULL)
        return 0;
    if (p->is_current)
        return 1;
    if (p->is_parent)
        return !parent_ended(p);
    if (!p->started || ended(p) || p->creator_pid != mproc__os_getpid())
        return 0;
    /*
     * A thread that holds the wait lock is joining: the child runs, or
     * has just ended and that thread is recording it.
     */
    if (mproc__hlock_lock(p->wait_lock, 0) != 0)
        return !ended(p);
    if (!ended(p)) {
        int code = 0;
        if (mproc__os_child_wait(p->child, 0, &code) == 0) {
            p->exitcode = code;
            mproc__atomic_store32(&p->have_exitcode, 1);
            mproc__queue_release(&p->hold);
        }
    }
    mproc__hlock_unlock(p->wait_lock);
    return !ended(p);
}

int mproc_process_exitcode(mproc_process_t *p, int *code)
{
    if (p == NULL || code == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    if (p->is_current)
        return mproc__set_error(MPROC_EALIVE, "the current process runs");
    if (!p->started)
        return mproc__set_error(MPROC_ENOTSTARTED,
                                "process '%s' has not been started", p->name);
    if (mproc_process_is_alive(p))
        return mproc__set_error(MPROC_EALIVE, "process '%s' is still running",
                                p->name);
    if (p->is_parent)
        return mproc__set_error(MPROC_ENOTCHILD,
                                "the exit code of the parent process '%s' is "
                                "not known to its child",
                                p->name);
    if (!ended(p))
        return mproc__set_error(MPROC_ENOTCHILD,
                                "the exit code of '%s' belongs to the process "
                                "that started it",
                                p->name);
    *code = p->exitcode;
    return 0;
}

static int send_stop(mproc_process_t *p, int hard)
{
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    rc = check_controller(p, hard ? "kill" : "terminate");
    if (rc != 0)
        return rc;
    if (!p->started)
        return mproc__set_error(MPROC_ENOTSTARTED,
                                "process '%s' has not been started", p->name);
    if (ended(p))
        return 0;
    return hard ? mproc__os_child_kill(p->child)
                : mproc__os_child_terminate(p->child);
}

int mproc_process_interrupt(mproc_process_t *p)
{
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    rc = check_controller(p, "interrupt");
    if (rc != 0)
        return rc;
    if (!p->started)
        return mproc__set_error(MPROC_ENOTSTARTED,
                                "process '%s' has not been started", p->name);
    if (p->have_exitcode)
        return 0;
    return mproc__os_child_interrupt(p->child);
}

int mproc_process_terminate(mproc_process_t *p)
{
    return send_stop(p, 0);
}

int mproc_process_kill(mproc_process_t *p)
{
    return send_stop(p, 1);
}

int mproc_process_destroy(mproc_process_t *p)
{
    if (p == NULL)
        return 0;
    if (p->is_current || p->is_parent)
        return mproc__set_error(MPROC_EINVAL,
                                "the %s process object belongs to the "
                                "runtime and cannot be destroyed",
                                p->is_current ? "current" : "parent");
    if (p->started && p->creator_pid == mproc__os_getpid()) {
        if (mproc_process_is_alive(p))
            return mproc__set_error(MPROC_EALIVE,
                                    "cannot destroy '%s' while it runs: join, "
                                    "terminate or kill it first",
                                    p->name);
        remove_child(p);
    }
    free_process(p);
    return 0;
}

const char *mproc_process_name(const mproc_process_t *p)
{
    return p != NULL ? p->name : NULL;
}

long mproc_process_pid(const mproc_process_t *p)
{
    return p != NULL ? p->pid : 0;
}

int mproc_process_daemon(const mproc_process_t *p)
{
    return p != NULL && p->daemon;
}

mproc_start_method_e mproc_process_start_method(const mproc_process_t *p)
{
    return p != NULL ? p->method : MPROC_START_DEFAULT;
}

int mproc_process_authkey(const mproc_process_t *p,
                          unsigned char out[MPROC_AUTHKEY_SIZE])
{
    if (p == NULL || out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    if (p->is_parent)
        return mproc__set_error(MPROC_ENOTCHILD,
                                "the parent process's authkey is its own; "
                                "this process holds the one it was started "
                                "with (mproc_current_process())");
    memcpy(out, p->is_current ? mproc__auth_key() : p->authkey,
           MPROC_AUTHKEY_SIZE);
    return 0;
}

int mproc_process_set_authkey(mproc_process_t *p, const void *key, size_t len)
{
    if (p == NULL || key == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process or no key");
    /*
     * The key is the HMAC key of every handshake and travels in each
     * bootstrap message at a fixed size; a passphrase of another length
     * is the caller's to hash, so that what is read back is what was set.
     */
    if (len != MPROC_AUTHKEY_SIZE)
        return mproc__set_error(MPROC_EINVAL,
                                "an authkey is %d bytes, not %zu (hash a "
                                "passphrase to that size first)",
                                MPROC_AUTHKEY_SIZE, len);
    if (p->is_current) {
        memcpy(mproc__auth_key(), key, MPROC_AUTHKEY_SIZE);
        return 0;
    }
    if (p->is_parent)
        return mproc__set_error(MPROC_ENOTCHILD,
                                "the parent process's authkey cannot be set "
                                "from its child");
    if (p->started)
        return mproc__set_error(MPROC_ESTARTED,
                                "process '%s' has started with its authkey",
                                p->name);
    memcpy(p->authkey, key, MPROC_AUTHKEY_SIZE);
    return 0;
}

int mproc_process_sentinel(mproc_process_t *p, intptr_t *handle)
{
    mproc__os_fd_t h;
    int rc;
    if (p == NULL || handle == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    if (!p->is_parent) {
        rc = mproc__process_check_child(p);
        if (rc == MPROC_ENOTCHILD)
            return mproc__set_error(rc,
                                    "only the process that started '%s' has "
                                    "its sentinel",
                                    p->name);
        if (rc != 0)
            return mproc__set_error(rc, "process '%s' has not been started",
                                    p->name);
    }
    rc = mproc__process_waitable(p, &h);
    if (rc != 0)
        return mproc__set_error(MPROC_ENOTSUP,
                                "process '%s' has no OS handle to wait on "
                                "here (no pidfd, or the parent has ended)",
                                p->name);
    *handle = (intptr_t) h;
    return 0;
}

long mproc__process_creator(const mproc_process_t *p)
{
    return p->creator_pid;
}

mproc_target_fn mproc__process_fn(const mproc_process_t *p)
{
    return p->fn;
}

const mproc__buf_t *mproc__process_args(const mproc_process_t *p)
{
    return &p->args;
}

int mproc__process_check_child_of(const mproc_process_t *p, long self)
{
    /* The parent can be waited for too, as Python's parent sentinel. */
    if (p->is_parent)
        return 0;
    if (p->is_current || p->creator_pid != self)
        return MPROC_ENOTCHILD;
    if (!p->started)
        return MPROC_ENOTSTARTED;
    return 0;
}

int mproc__process_check_child(const mproc_process_t *p)
{
    return mproc__process_check_child_of(p, mproc__os_getpid());
}

int mproc__process_ended(mproc_process_t *p)
{
    return ended(p) || !mproc_process_is_alive(p);
}

int mproc__process_ended_known(const mproc_process_t *p)
{
    return ended(p);
}

int mproc__process_waitable(mproc_process_t *p, mproc__os_fd_t *h)
{
    if (p->is_parent) {
        if (parent_ended(p) || p->watch_state != WATCH_OPEN)
            return MPROC_ENOTSUP;
        *h = p->watch;
        return 0;
    }
    return mproc__os_child_waitable(p->child, h);
}
