/*
 * The runtime's entry point and the child side of a start (Python's
 * spawn.py).
 *
 * A spawned child is the program run again with a marker argument. Its
 * mproc_main() reads one frame from the inherited handle, the bootstrap
 * message popen.c builds, becomes the process it describes and runs its
 * target. A forkserver child gets the same frame from the server; a fork
 * child reads its parent's memory instead.
 */
#include <apr_general.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bootstrap.h"
#include "config.h"
#include "finalize.h"
#include "forkserver.h"
#include "frame.h"
#include "log.h"
#include "mproc_private.h"
#include "process_internal.h"
#include "registry.h"
#include "tracker.h"
#include "value_codec.h"

/* mproc_main() ran. */
static int initialised;

static void at_exit(void)
{
    mproc__finalize_shutdown();
}

static int init_common(void)
{
    int rc = mproc__os_init();
    if (rc != 0)
        return rc;
    /*
     * APR is the portability substrate (DESIGN.md): it is initialised once
     * per process, before any part of the core may use it.
     */
    if (apr_initialize() != APR_SUCCESS)
        return mproc__set_error(MPROC_EOS, "cannot initialise APR");
    atexit(at_exit);
    return 0;
}

/* ---- running --------------------------------------------------------- */

MPROC_NORETURN static void boot_fail(int forked, const char *what)
{
    fprintf(stderr, "mproc: %s: %s\n", what, mproc_last_error());
    fflush(stderr);
    if (forked)
        mproc__os_exit_now(1);
    exit(1);
}

/* Becomes the process @p describes and runs its target; never returns. */
MPROC_NORETURN static void run_target(mproc_target_fn fn, const void *args,
                                      size_t args_len)
{
    mproc_value_t *argv;
    if (mproc__value_decode(args, args_len, &argv) != 0 ||
        mproc_value_type(argv) != MPROC_VALUE_LIST) {
        mproc__set_error(MPROC_ECORRUPT, "arguments are not a list");
        boot_fail(mproc__finalize_forked(), "corrupt bootstrap message");
    }
    mproc_log(MPROC_LOG_INFO, "child process calling self.run()");
    fn(argv);
    mproc_value_free(argv);
    mproc__finalize_exit(0);
}

static int get_field(const mproc_value_t *m, const char *key,
                     mproc_value_type_e type, const mproc_value_t **out)
{
    const mproc_value_t *v = mproc_value_get(m, key);
    if (v == NULL || mproc_value_type(v) != type)
        return mproc__set_error(
            MPROC_ECORRUPT, "field '%s' is missing or has the wrong type", key);
    *out = v;
    return 0;
}

/*
 * Records the connections handed to this process at its start: @handles
 * if given (a forkserver child), else the message's list.
 */
static int adopt_handles(const mproc_value_t *m, const mproc__os_fd_t *handles,
                         size_t nhandles)
{
    mproc__os_fd_t list[MPROC__OS_MAX_PASS];
    const mproc_value_t *token = mproc_value_get(m, "conn_token");
    const mproc_value_t *l = mproc_value_get(m, "handles");
    size_t i;
    if (token == NULL)
        return 0;
    if (mproc_value_type(token) != MPROC_VALUE_INT ||
        (handles == NULL && (mproc_value_type(l) != MPROC_VALUE_LIST ||
                             mproc_value_len(l) > MPROC__OS_MAX_PASS)))
        return mproc__set_error(MPROC_ECORRUPT, "bad connection handles");
    if (handles == NULL) {
        nhandles = mproc_value_len(l);
        for (i = 0; i < nhandles; i++) {
            const mproc_value_t *h = mproc_value_at(l, i);
            if (mproc_value_type(h) != MPROC_VALUE_INT)
                return mproc__set_error(MPROC_ECORRUPT,
                                        "bad connection handles");
            list[i] = (mproc__os_fd_t) mproc_value_as_int(h);
        }
        handles = list;
    }
    return mproc__conn_boot_handles(handles, nhandles,
                                    mproc_value_as_int(token));
}

void mproc__bootstrap_run(const void *payload, size_t len, int forked,
                          const mproc__os_fd_t *handles, size_t nhandles)
{
    mproc_value_t *m = NULL;
    const mproc_value_t *name, *ident, *daemon, *ppid, *key, *log_on,
        *log_level, *config, *target, *args, *v;
    int identity[64];
    size_t i, n;
    mproc_target_fn fn;

    mproc__finalize_set_forked(forked);
    if (mproc__value_decode(payload, len, &m) != 0 ||
        mproc_value_type(m) != MPROC_VALUE_MAP ||
        get_field(m, "name", MPROC_VALUE_STR, &name) != 0 ||
        get_field(m, "identity", MPROC_VALUE_LIST, &ident) != 0 ||
        get_field(m, "daemon", MPROC_VALUE_BOOL, &daemon) != 0 ||
        get_field(m, "parent_pid", MPROC_VALUE_INT, &ppid) != 0 ||
        get_field(m, "authkey", MPROC_VALUE_BYTES, &key) != 0 ||
        get_field(m, "log_on", MPROC_VALUE_BOOL, &log_on) != 0 ||
        get_field(m, "log_level", MPROC_VALUE_INT, &log_level) != 0 ||
        get_field(m, "config", MPROC_VALUE_MAP, &config) != 0 ||
        get_field(m, "target", MPROC_VALUE_STR, &target) != 0 ||
        get_field(m, "args", MPROC_VALUE_BYTES, &args) != 0)
        boot_fail(forked, "corrupt bootstrap message");
    n = mproc_value_len(ident);
    if (n > MPROC__ARRAY_SIZE(identity) ||
        mproc_value_len(key) != MPROC__AUTHKEY_SIZE) {
        mproc__set_error(MPROC_ECORRUPT, "bad identity or authkey");
        boot_fail(forked, "corrupt bootstrap message");
    }
    for (i = 0; i < n; i++)
        identity[i] = (int) mproc_value_as_int(mproc_value_at(ident, i));

    if (mproc__process_become(mproc_value_as_str(name),
                              mproc_value_as_bool(daemon), identity, n,
                              (long) mproc_value_as_int(ppid),
                              mproc_value_as_bytes(key, NULL)) != 0)
        boot_fail(forked, "cannot start");
    mproc__log_restore(mproc_value_as_bool(log_on),
                       (int) mproc_value_as_int(log_level));
    v = mproc_value_get(m, "start_method");
    if (v != NULL)
        mproc_set_start_method((mproc_start_method_e) mproc_value_as_int(v), 1);
    if (mproc__config_import(config) != 0 ||
        adopt_handles(m, handles, nhandles) != 0)
        boot_fail(forked, "corrupt bootstrap message");
    v = mproc_value_get(m, "tracker");
    if (mproc_value_len(v) > 0 &&
        mproc__os_tracker_adopt(mproc_value_as_str(v)) != 0)
        boot_fail(forked, "cannot start");
    v = mproc_value_get(m, "cwd");
    if (mproc_value_as_str(v) != NULL &&
        mproc__os_chdir(mproc_value_as_str(v)) != 0) {
        /* Python's spawn fails the same way on a vanished directory. */
        mproc__set_error(MPROC_EOS, "cannot change to directory '%s'",
                         mproc_value_as_str(v));
        boot_fail(forked, "cannot start");
    }
    fn = mproc__target_find(mproc_value_as_str(target));
    if (fn == NULL) {
        mproc__set_error(MPROC_ENOTREG,
                         "target '%s' is not registered in this program",
                         mproc_value_as_str(target));
        boot_fail(forked, "cannot start");
    }
    {
        /* Keep only the arguments: the rest of the message is spent. */
        mproc__buf_t a = {0};
        size_t alen;
        const void *ap = mproc_value_as_bytes(args, &alen);
        if (mproc__buf_append(&a, ap, alen) != 0)
            boot_fail(forked, "cannot start");
        mproc_value_free(m);
        run_target(fn, a.data, a.len);
    }
}

void mproc__bootstrap_from_fd(mproc__os_fd_t fd)
{
    mproc__buf_t payload = {0};
    int rc = mproc__frame_read(fd, MPROC__MAX_BOOTSTRAP, &payload);
    mproc__os_close(fd);
    if (rc != 0)
        boot_fail(0, "corrupt bootstrap message");
    mproc__bootstrap_run(payload.data, payload.len, 0, NULL, 0);
}

void mproc__bootstrap_run_forked(mproc_process_t *p)
{
    const mproc__buf_t *args = mproc__process_args(p);
    mproc__conn_after_fork(mproc__process_creator(p));
    mproc__ref_cache_after_fork();
    /* The child's copy of its own object becomes the current process. */
    mproc__process_after_fork(p);
    mproc__finalize_after_fork();
    if (mproc__os_stdin_devnull() != 0)
        boot_fail(1, "cannot start");
    run_target(mproc__process_fn(p), args->data, args->len);
}

int mproc_main(int argc, char **argv)
{
    int rc;
    if (initialised)
        return 0;
    initialised = 1;
    rc = init_common();
    if (rc != 0)
        return rc;
    if (argc >= 2 && argv[1] != NULL && strncmp(argv[1], "--mproc-", 8) == 0) {
        mproc__os_fd_t fd;
        /*
         * The helper processes are this program run with their marker, as
         * CPython runs "-c 'from multiprocessing.forkserver import main'".
         * This is the one call from here into forkserver.c, whose server
         * in turn runs each of its children's bootstrap: a cycle between
         * the two modules that mirrors the processes themselves.
         */
        if (strcmp(argv[1], MPROC__FORKSERVER_MARKER) == 0)
            mproc__forkserver_main(argc, argv);
        if (strcmp(argv[1], MPROC__TRACKER_MARKER) == 0)
            mproc__tracker_main(argc, argv);
        if (strcmp(argv[1], MPROC__SPAWN_MARKER) != 0) {
            mproc__set_error(MPROC_EINVAL, "unknown marker argument '%s'",
                             argv[1]);
            boot_fail(0, "malformed command line");
        }
        if (argc != 3 || mproc__os_fd_parse(argv[2], &fd) != 0) {
            if (argc != 3)
                mproc__set_error(MPROC_EINVAL,
                                 "%s takes exactly one handle argument",
                                 MPROC__SPAWN_MARKER);
            boot_fail(0, "malformed command line");
        }
        mproc__bootstrap_from_fd(fd);
    }
    return mproc__process_init_main();
}
