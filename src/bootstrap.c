/*
 * The runtime's entry point and the bootstrap of children.
 *
 * A spawned child is the program run again with a marker argument. Its
 * mproc_main() reads one frame from the inherited handle: the preparation
 * data of Python's spawn (name, identity, daemon flag, authkey, log level,
 * working directory, start method) plus the explicit configuration, the
 * target's name and its encoded arguments. A forkserver child gets the
 * same frame from the server; a fork child reads its parent's memory
 * instead.
 */
#include <apr_file_info.h>
#include <apr_general.h>
#include <apr_pools.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

static apr_pool_t *boot_pool;

static void at_exit(void)
{
    mproc__runtime_shutdown();
}

static int init_common(void)
{
    int rc = mproc__os_init();
    if (rc != 0)
        return rc;
    if (apr_initialize() != APR_SUCCESS)
        return mproc__set_error(MPROC_EOS, "cannot initialise APR");
    if (apr_pool_create(&boot_pool, NULL) != APR_SUCCESS)
        return mproc__set_error(MPROC_ENOMEM, "cannot create a memory pool");
    atexit(at_exit);
    return 0;
}

/* ---- building ------------------------------------------------------ */

static mproc_value_t *identity_list(const int *identity, size_t n)
{
    mproc_value_t *l = mproc_value_list();
    size_t i;
    for (i = 0; l != NULL && i < n; i++)
        if (mproc_value_append(l, mproc_value_int(identity[i])) != 0) {
            mproc_value_free(l);
            return NULL;
        }
    return l;
}

/* The handle values a child finds its passed connections under. */
static mproc_value_t *handle_list(const mproc__os_fd_t *h, size_t n)
{
    mproc_value_t *l = mproc_value_list();
    size_t i;
    for (i = 0; l != NULL && i < n; i++)
        if (mproc_value_append(l, mproc_value_int((int64_t) h[i])) != 0) {
            mproc_value_free(l);
            return NULL;
        }
    return l;
}

int mproc__bootstrap_build(const mproc_process_t *p,
                           const mproc__conn_pass_t *pass,
                           const mproc__os_fd_t *child_handles,
                           mproc__buf_t *frame)
{
    static const mproc__frame_opts_t opts = {4096, 1};
    mproc_value_t *m = mproc_value_map();
    mproc__buf_t payload = {0};
    /* With connections handed over, the arguments name their slots. */
    const mproc__buf_t *args =
        pass != NULL && pass->n > 0 ? &pass->args : &p->args;
    apr_pool_t *tmp = NULL;
    char *cwd = NULL;
    int rc = 0;

    if (m == NULL || apr_pool_create(&tmp, boot_pool) != APR_SUCCESS) {
        mproc_value_free(m);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    if (apr_filepath_get(&cwd, APR_FILEPATH_NATIVE, tmp) != APR_SUCCESS)
        cwd = NULL;
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "name", mproc_value_str(p->name));
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "identity", identity_list(p->identity, p->identity_len));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "daemon", mproc_value_bool(p->daemon));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "parent_pid",
                                     mproc_value_int(mproc__os_getpid()));
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "authkey",
            mproc_value_bytes(mproc__rt.authkey, sizeof mproc__rt.authkey));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "log_on",
                                     mproc_value_bool(mproc__log_is_on()));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "log_level",
                                     mproc_value_int(mproc_log_level()));
    if (rc == 0 && mproc__rt.start_method_set)
        rc = mproc_value_map_set_str(m, "start_method",
                                     mproc_value_int(mproc__rt.start_method));
    if (rc == 0 && cwd != NULL)
        rc = mproc_value_map_set_str(m, "cwd", mproc_value_str(cwd));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "config", mproc__config_export());
    if (rc == 0)
        rc = mproc_value_map_set_str(
            m, "tracker", mproc_value_str(mproc__os_tracker_address()));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "target", mproc_value_str(p->target));
    if (rc == 0)
        rc = mproc_value_map_set_str(m, "args",
                                     mproc_value_bytes(args->data, args->len));
    if (rc == 0 && pass != NULL && pass->n > 0) {
        /* A forkserver child learns its handles from the server instead. */
        rc = mproc_value_map_set_str(
            m, "handles",
            handle_list(child_handles, child_handles ? pass->n : 0));
        if (rc == 0)
            rc = mproc_value_map_set_str(m, "conn_token",
                                         mproc_value_int(pass->token));
    }
    if (rc != 0)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (rc == 0)
        rc = mproc__value_encode(m, &payload);
    if (rc == 0)
        rc = mproc__frame_encode(payload.data, payload.len, &opts, frame);
    mproc__buf_free(&payload);
    mproc_value_free(m);
    apr_pool_destroy(tmp);
    return rc;
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
        boot_fail(mproc__rt.is_fork_child, "corrupt bootstrap message");
    }
    mproc_log(MPROC_LOG_INFO, "child process calling self.run()");
    fn(argv);
    mproc_value_free(argv);
    mproc__runtime_finish(0);
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

/* What a bootstrap message holds, checked; @m owns every field. */
typedef struct boot_msg {
    mproc_value_t *m;
    const mproc_value_t *name, *daemon, *ppid, *key, *log_on, *log_level,
        *config, *target, *args;
    int identity[64];
    size_t nidentity;
    /* The connection token and handle list, if any (has_token). */
    int has_token;
    int64_t token;
    mproc__os_fd_t handles[MPROC__OS_MAX_PASS];
    size_t nhandles;
} boot_msg;

/*
 * Decodes and checks @payload into @b without acting on any of it, so that
 * a corrupt message is refused before the process changes. 0, or
 * MPROC_ECORRUPT (or MPROC_ENOMEM) with @b holding nothing.
 */
static int boot_decode(const void *payload, size_t len, boot_msg *b)
{
    const mproc_value_t *ident = NULL, *token, *l;
    size_t i, n;
    int rc;
    memset(b, 0, sizeof *b);
    rc = mproc__value_decode(payload, len, &b->m);
    if (rc == 0 && mproc_value_type(b->m) != MPROC_VALUE_MAP)
        rc = mproc__set_error(MPROC_ECORRUPT, "the message is not a map");
    if (rc == 0)
        rc = get_field(b->m, "name", MPROC_VALUE_STR, &b->name);
    if (rc == 0)
        rc = get_field(b->m, "identity", MPROC_VALUE_LIST, &ident);
    if (rc == 0)
        rc = get_field(b->m, "daemon", MPROC_VALUE_BOOL, &b->daemon);
    if (rc == 0)
        rc = get_field(b->m, "parent_pid", MPROC_VALUE_INT, &b->ppid);
    if (rc == 0)
        rc = get_field(b->m, "authkey", MPROC_VALUE_BYTES, &b->key);
    if (rc == 0)
        rc = get_field(b->m, "log_on", MPROC_VALUE_BOOL, &b->log_on);
    if (rc == 0)
        rc = get_field(b->m, "log_level", MPROC_VALUE_INT, &b->log_level);
    if (rc == 0)
        rc = get_field(b->m, "config", MPROC_VALUE_MAP, &b->config);
    if (rc == 0)
        rc = get_field(b->m, "target", MPROC_VALUE_STR, &b->target);
    if (rc == 0)
        rc = get_field(b->m, "args", MPROC_VALUE_BYTES, &b->args);
    if (rc == 0) {
        n = mproc_value_len(ident);
        if (n > MPROC__ARRAY_SIZE(b->identity) ||
            mproc_value_len(b->key) != MPROC__AUTHKEY_SIZE)
            rc = mproc__set_error(MPROC_ECORRUPT, "bad identity or authkey");
        for (i = 0; rc == 0 && i < n; i++)
            b->identity[i] = (int) mproc_value_as_int(mproc_value_at(ident, i));
        b->nidentity = n;
    }
    for (i = 0; rc == 0 && i < mproc_value_len(b->config); i++)
        if (mproc_value_as_str(mproc_value_key_at(b->config, i)) == NULL ||
            mproc_value_as_str(mproc_value_value_at(b->config, i)) == NULL)
            rc = mproc__set_error(MPROC_ECORRUPT,
                                  "configuration entry is not a string");
    token = rc == 0 ? mproc_value_get(b->m, "conn_token") : NULL;
    if (token != NULL) {
        /* A forkserver child may be given its handles by the server. */
        l = mproc_value_get(b->m, "handles");
        b->has_token = 1;
        b->token = mproc_value_as_int(token);
        if (mproc_value_type(token) != MPROC_VALUE_INT ||
            (l != NULL && (mproc_value_type(l) != MPROC_VALUE_LIST ||
                           mproc_value_len(l) > MPROC__OS_MAX_PASS)))
            rc = mproc__set_error(MPROC_ECORRUPT, "bad connection handles");
        n = mproc_value_len(l);
        for (i = 0; rc == 0 && i < n; i++) {
            const mproc_value_t *h = mproc_value_at(l, i);
            if (mproc_value_type(h) != MPROC_VALUE_INT)
                rc = mproc__set_error(MPROC_ECORRUPT, "bad connection handles");
            b->handles[i] = (mproc__os_fd_t) mproc_value_as_int(h);
        }
        b->nhandles = n;
    }
    if (rc != 0) {
        mproc_value_free(b->m);
        b->m = NULL;
    }
    return rc;
}

int mproc__bootstrap_check(const void *payload, size_t len)
{
    boot_msg b;
    mproc_value_t *argv = NULL;
    const void *ap;
    size_t alen;
    int rc = boot_decode(payload, len, &b);
    if (rc != 0)
        return rc;
    /* The arguments are decoded as run_target() decodes them. */
    ap = mproc_value_as_bytes(b.args, &alen);
    rc = mproc__value_decode(ap, alen, &argv);
    if (rc == 0 && mproc_value_type(argv) != MPROC_VALUE_LIST)
        rc = mproc__set_error(MPROC_ECORRUPT, "arguments are not a list");
    mproc_value_free(argv);
    mproc_value_free(b.m);
    return rc;
}

void mproc__bootstrap_run(const void *payload, size_t len, int forked,
                          const mproc__os_fd_t *handles, size_t nhandles)
{
    boot_msg b;
    const mproc_value_t *v;
    mproc_target_fn fn;
    mproc_process_t *self;

    mproc__rt.is_fork_child = forked;
    if (boot_decode(payload, len, &b) != 0)
        boot_fail(forked, "corrupt bootstrap message");
    if (b.has_token && handles == NULL &&
        mproc_value_get(b.m, "handles") == NULL) {
        mproc__set_error(MPROC_ECORRUPT, "bad connection handles");
        boot_fail(forked, "corrupt bootstrap message");
    }

    self = mproc__process_new_current(mproc_value_as_str(b.name),
                                      mproc_value_as_bool(b.daemon), b.identity,
                                      b.nidentity);
    if (self == NULL) {
        mproc__set_error(MPROC_ENOMEM, "out of memory");
        boot_fail(forked, "cannot start");
    }
    mproc__rt.self = self;
    mproc__rt.child_counter = 0;
    mproc__rt.parent_pid = (long) mproc_value_as_int(b.ppid);
    memcpy(mproc__rt.authkey, mproc_value_as_bytes(b.key, NULL),
           MPROC__AUTHKEY_SIZE);
    mproc__log_restore(mproc_value_as_bool(b.log_on),
                       (int) mproc_value_as_int(b.log_level));
    v = mproc_value_get(b.m, "start_method");
    if (v != NULL)
        mproc_set_start_method((mproc_start_method_e) mproc_value_as_int(v), 1);
    if (mproc__config_import(b.config) != 0)
        boot_fail(forked, "corrupt bootstrap message");
    /* The handles the server gives a forkserver child win over the list. */
    if (b.has_token &&
        (handles != NULL
             ? mproc__conn_boot_handles(handles, nhandles, b.token)
             : mproc__conn_boot_handles(b.handles, b.nhandles, b.token)) != 0)
        boot_fail(forked, "corrupt bootstrap message");
    v = mproc_value_get(b.m, "tracker");
    if (mproc_value_len(v) > 0 &&
        mproc__os_tracker_adopt(mproc_value_as_str(v)) != 0)
        boot_fail(forked, "cannot start");
    v = mproc_value_get(b.m, "cwd");
    if (mproc_value_as_str(v) != NULL &&
        apr_filepath_set(mproc_value_as_str(v), boot_pool) != APR_SUCCESS) {
        /* Python's spawn fails the same way on a vanished directory. */
        mproc__set_error(MPROC_EOS, "cannot change to directory '%s'",
                         mproc_value_as_str(v));
        boot_fail(forked, "cannot start");
    }
    fn = mproc__target_find(mproc_value_as_str(b.target));
    if (fn == NULL) {
        mproc__set_error(MPROC_ENOTREG,
                         "target '%s' is not registered in this program",
                         mproc_value_as_str(b.target));
        boot_fail(forked, "cannot start");
    }
    {
        /* Keep only the arguments: the rest of the message is spent. */
        mproc__buf_t a = {0};
        size_t alen;
        const void *ap = mproc_value_as_bytes(b.args, &alen);
        if (mproc__buf_append(&a, ap, alen) != 0)
            boot_fail(forked, "cannot start");
        mproc_value_free(b.m);
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
    /*
     * The child's copy of its own process object becomes the current
     * process: no allocation, so fewer pages are copied after the fork.
     */
    mproc__rt.parent_pid = p->creator_pid;
    mproc__conn_after_fork(p->creator_pid);
    mproc__ref_cache_after_fork();
    p->is_current = 1;
    p->pid = mproc__os_getpid();
    p->creator_pid = 0;
    p->child = NULL;
    mproc__runtime_after_fork(p);
    if (mproc__os_stdin_devnull() != 0)
        boot_fail(1, "cannot start");
    run_target(p->fn, p->args.data, p->args.len);
}

int mproc_main(int argc, char **argv)
{
    int rc;
    if (mproc__rt.initialised)
        return 0;
    mproc__rt.initialised = 1;
    rc = init_common();
    if (rc != 0)
        return rc;
    if (argc >= 2 && argv[1] != NULL && strncmp(argv[1], "--mproc-", 8) == 0) {
        mproc__os_fd_t fd;
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
    return mproc__runtime_init_main();
}
