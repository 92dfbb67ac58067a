/*
 * Process objects: create, start under a start method, join, signal.
 *
 * Python's rules hold: a process starts once; only the process that created
 * it may start, join or signal it; a daemonic process may not have children;
 * a process cannot join itself.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

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

mproc_process_t *mproc__process_new_current(const char *name, int daemon,
                                            const int *identity,
                                            size_t identity_len)
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

static void free_process(mproc_process_t *p)
{
    mproc__os_child_free(p->child);
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
    identity[n++] = ++mproc__rt.child_counter;
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
    if (p->target == NULL) {
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

int mproc_spawn(mproc_process_t **proc, const mproc_process_opts_t *opts,
                mproc_value_t *args)
{
    mproc_process_opts_t o;
    int rc;
    *proc = NULL;
    /* A NULL that stands for a failed mproc_pack() is that failure. */
    rc = mproc__pack_take_failure();
    if (args == NULL && rc < 0)
        return rc;
    if (opts == NULL) {
        mproc_value_free(args);
        return mproc__set_error(MPROC_EINVAL, "a process needs a target: "
                                              "set .fn or .target");
    }
    o = *opts;
    o.args = args;
    rc = mproc_process_create(proc, &o);
    /* create copied (encoded) the arguments: they are no longer needed. */
    mproc_value_free(args);
    if (rc < 0)
        return rc;
    rc = mproc_process_start(*proc);
    if (rc < 0) {
        /* Never started, so destroying cannot meet a running child. */
        mproc_process_destroy(*proc);
        *proc = NULL;
        return rc;
    }
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

static int start_spawn(mproc_process_t *p)
{
    mproc__conn_pass_t pass;
    mproc__os_fd_t child_handles[MPROC__OS_MAX_PASS];
    mproc__buf_t frame = {0};
    mproc__os_fd_t boot_w;
    size_t i;
    int rc = mproc__conn_pass_prepare(&p->args, &pass);
    if (rc != 0)
        return rc;
    for (i = 0; i < pass.n; i++)
        child_handles[i] = mproc__os_spawn_passed_handle(i, pass.handles[i]);
    rc = mproc__bootstrap_build(p, &pass, child_handles, &frame);
    if (rc == 0)
        rc = mproc__os_spawn(&p->child, MPROC__SPAWN_MARKER, &boot_w,
                             pass.handles, pass.n);
    if (rc == 0) {
        /*
         * A child that dies before reading its bootstrap makes this write
         * fail; that is not the parent's failure: join reports the child's
         * exit code as usual.
         */
        mproc__os_write_all(boot_w, frame.data, frame.len);
        mproc__os_close(boot_w);
    }
    mproc__buf_free(&frame);
    mproc__conn_pass_free(&pass);
    return rc;
}

static int start_forkserver(mproc_process_t *p)
{
    mproc__conn_pass_t pass;
    mproc__buf_t frame = {0};
    int rc = mproc__conn_pass_prepare(&p->args, &pass);
    if (rc != 0)
        return rc;
    rc = mproc__bootstrap_build(p, &pass, NULL, &frame);
    if (rc == 0)
        rc = mproc__forkserver_child(&p->child, frame.data, frame.len,
                                     pass.handles, pass.n);
    mproc__buf_free(&frame);
    mproc__conn_pass_free(&pass);
    return rc;
}

static int start_fork(mproc_process_t *p)
{
    int rc;
    /* Buffered output must not be written twice, once by each process. */
    mproc__os_flush_stdio();
    rc = mproc__os_fork(&p->child);
    if (rc == 1)
        mproc__bootstrap_run_forked(p);
    return rc;
}

int mproc_process_start(mproc_process_t *p)
{
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
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
    switch (p->method) {
    case MPROC_START_FORK:
        rc = start_fork(p);
        break;
    case MPROC_START_FORKSERVER:
        rc = start_forkserver(p);
        break;
    default:
        rc = start_spawn(p);
        break;
    }
    if (rc != 0)
        return rc;
    p->started = 1;
    p->pid = mproc__os_child_pid(p->child);
    mproc__runtime_add_child(p);
    return 0;
}

int mproc_process_join(mproc_process_t *p, double timeout)
{
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no process");
    rc = check_controller(p, "join");
    if (rc != 0)
        return rc;
    if (!p->started)
        return mproc__set_error(MPROC_ENOTSTARTED,
                                "can only join a started process ('%s')",
                                p->name);
    if (p->have_exitcode)
        return 0;
    rc = mproc__os_child_wait(p->child, timeout, &p->exitcode);
    if (rc == MPROC_ETIMEDOUT)
        return mproc__set_error(rc, "process '%s' is still running", p->name);
    if (rc != 0)
        return rc;
    p->have_exitcode = 1;
    return 0;
}

int mproc_process_is_alive(mproc_process_t *p)
{
    if (p == NULL)
        return 0;
    if (p->is_current)
        return 1;
    if (!p->started || p->have_exitcode || p->creator_pid != mproc__os_getpid())
        return 0;
    if (mproc__os_child_wait(p->child, 0, &p->exitcode) == 0)
        p->have_exitcode = 1;
    return !p->have_exitcode;
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
    if (!p->have_exitcode)
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
    if (p->have_exitcode)
        return 0;
    return hard ? mproc__os_child_kill(p->child)
                : mproc__os_child_terminate(p->child);
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
    if (p->is_current)
        return mproc__set_error(MPROC_EINVAL,
                                "the current process object cannot be "
                                "destroyed");
    if (p->started && p->creator_pid == mproc__os_getpid()) {
        if (mproc_process_is_alive(p))
            return mproc__set_error(MPROC_EALIVE,
                                    "cannot destroy '%s' while it runs: join, "
                                    "terminate or kill it first",
                                    p->name);
        mproc__runtime_remove_child(p);
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
