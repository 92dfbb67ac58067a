/*
 * The three ways to start a child, after Python's popen_spawn_posix /
 * popen_spawn_win32, popen_fork and popen_forkserver, and the bootstrap
 * message a spawned or forkserver child is started with.
 *
 * The message carries the preparation data of Python's spawn (name,
 * identity, daemon flag, authkey, log level, working directory, start
 * method) plus the explicit configuration, the target's name and its
 * encoded arguments. A fork child needs none of it: it has its parent's
 * memory.
 *
 * This module knows nothing of Process objects: process.c describes the
 * child in a mproc__popen_job_t. One edge goes up the layers: under fork
 * the child runs its bootstrap from here (mproc__bootstrap_run_forked), as
 * CPython's popen_fork calls process_obj._bootstrap(); there is no message
 * to hand over. It closes the one cycle of the start path: process ->
 * popen -> bootstrap -> process.
 */
#include <stdlib.h>

#include "auth.h"
#include "bootstrap.h"
#include "config.h"
#include "context.h"
#include "forkserver.h"
#include "frame.h"
#include "log.h"
#include "mproc_private.h"
#include "pack.h"
#include "popen.h"
#include "value_codec.h"

/* ---- the bootstrap message ---------------------------------------------- */

/* A list of @n integers, the @i-th of which @at reads from @v. */
static mproc_value_t *int_list(const void *v, size_t n,
                               int64_t (*at)(const void *v, size_t i))
{
    mproc_value_t *l = mproc_value_list();
    size_t i;
    for (i = 0; l != NULL && i < n; i++)
        if (mproc_value_append(l, mproc_value_int(at(v, i))) != 0) {
            mproc_value_free(l);
            return NULL;
        }
    return l;
}

/* The child's identity, its place among its ancestors' children. */
static int64_t identity_at(const void *v, size_t i)
{
    return ((const int *) v)[i];
}

/* The handle values a child finds its passed connections under. */
static int64_t handle_at(const void *v, size_t i)
{
    return (int64_t) ((const mproc__os_fd_t *) v)[i];
}

int mproc__popen_build_bootstrap(const mproc__popen_job_t *job,
                                 const mproc__buf_t *args,
                                 const mproc__os_fd_t *child_handles,
                                 size_t nhandles, int64_t token,
                                 mproc__buf_t *frame)
{
    static const mproc__frame_opts_t opts = {4096, 1};
    mproc_value_t *m = mproc_value_map();
    mproc__buf_t payload = {0};
    mproc_start_method_e method;
    char *cwd = NULL;
    int rc = 0;

    if (m == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (args == NULL)
        args = job->args;
    /* A child with no working directory to go to stays where it starts. */
    if (mproc__os_getcwd(&cwd) != 0)
        cwd = NULL;
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "name", mproc_value_str(job->name));
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "identity",
            int_list(job->identity, job->identity_len, identity_at));
    if (rc == 0)
        rc =
            mproc_value_map_set_str(m, "daemon", mproc_value_bool(job->daemon));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "parent_pid",
                                     mproc_value_int(mproc__os_getpid()));
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "parent_name",
            mproc_value_str(mproc_process_name(mproc_current_process())));
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "authkey", mproc_value_bytes(job->authkey, MPROC__AUTHKEY_SIZE));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "log_on",
                                     mproc_value_bool(mproc__log_is_on()));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "log_level",
                                     mproc_value_int(mproc_log_level()));
    method = job->method;
    if (rc == 0 &&
        (method != MPROC_START_DEFAULT || mproc__context_explicit(&method)))
        rc =
            mproc_value_map_set_str(m, "start_method", mproc_value_int(method));
    if (rc == 0 && cwd != NULL)
        rc = mproc_value_map_set_str(m, "cwd", mproc_value_str(cwd));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "config", mproc__config_export());
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "tracker", mproc_value_str(mproc__os_tracker_address()));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "target", mproc_value_str(job->target));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "args",
                                     mproc_value_bytes(args->data, args->len));
    if (rc == 0 && nhandles > 0) {
        /* A forkserver child learns its handles from the server instead. */
        rc = mproc_value_map_set_str(
            m, "handles",
            int_list(child_handles, child_handles ? nhandles : 0, handle_at));
        if (rc == 0)
            rc = mproc_value_map_set_str(m, "conn_token",
                                         mproc_value_int(token));
    }
    if (rc != 0)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (rc == 0)
        rc = mproc__value_encode(m, &payload);
    if (rc == 0)
        rc = mproc__frame_encode(payload.data, payload.len, &opts, frame);
    mproc__buf_free(&payload);
    mproc_value_free(m);
    free(cwd);
    return rc;
}

/* With connections handed over, the arguments name their slots. */
static int build_for(const mproc__popen_job_t *job,
                     const mproc__conn_pass_t *pass,
                     const mproc__os_fd_t *child_handles, mproc__buf_t *frame)
{
    if (pass->n == 0)
        return mproc__popen_build_bootstrap(job, NULL, NULL, 0, 0, frame);
    return mproc__popen_build_bootstrap(job, &pass->args, child_handles,
                                        pass->n, pass->token, frame);
}

/* ---- the start methods -------------------------------------------------- */

static int start_spawn(const mproc__popen_job_t *job, mproc__os_child_t **child)
{
    mproc__conn_pass_t pass;
    mproc__os_fd_t child_handles[MPROC__OS_MAX_PASS];
    mproc__buf_t frame = {0};
    mproc__os_fd_t boot_w;
    size_t i;
    int rc = mproc__conn_pass_prepare(job->args, &pass);
    if (rc != 0)
        return rc;
    for (i = 0; i < pass.n; i++)
        child_handles[i] = mproc__os_spawn_passed_handle(i, pass.handles[i]);
    rc = build_for(job, &pass, child_handles, &frame);
    if (rc == 0)
        rc = mproc__os_spawn(child, MPROC__SPAWN_MARKER, &boot_w, pass.handles,
                             pass.n);
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

static int start_forkserver(const mproc__popen_job_t *job,
                            mproc__os_child_t **child)
{
    mproc__conn_pass_t pass;
    mproc__buf_t frame = {0};
    int rc = mproc__conn_pass_prepare(job->args, &pass);
    if (rc != 0)
        return rc;
    rc = build_for(job, &pass, NULL, &frame);
    if (rc == 0)
        rc = mproc__forkserver_child(child, frame.data, frame.len, pass.handles,
                                     pass.n);
    mproc__buf_free(&frame);
    mproc__conn_pass_free(&pass);
    return rc;
}

static int start_fork(const mproc__popen_job_t *job, mproc__os_child_t **child)
{
    int rc;
    /* Buffered output must not be written twice, once by each process. */
    mproc__os_flush_stdio();
    rc = mproc__os_fork(child);
    if (rc == 1)
        mproc__bootstrap_run_forked(job->process);
    return rc;
}

int mproc__popen_start(const mproc__popen_job_t *job,
                       mproc_start_method_e method, mproc__os_child_t **child)
{
    mproc__popen_job_t j = *job;
    j.method = method;
    switch (method) {
    case MPROC_START_FORK:
        return start_fork(&j, child);
    case MPROC_START_FORKSERVER:
        return start_forkserver(&j, child);
    default:
        j.method = MPROC_START_SPAWN;
        return start_spawn(&j, child);
    }
}

/*
 * mproc_spawn() is Process(...).start() in one call. It lives with the
 * start paths, above the Process object and the pack module it uses (a
 * NULL argument list may stand for a failed mproc_pack()), so that
 * neither of those needs the other.
 */
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
