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
#include <wchar.h>

#include "auth.h"
#include "bootstrap.h"
#include "config.h"
#include "context.h"
#include "exit.h"
#include "finalize.h"
#include "forkserver.h"
#include "frame.h"
#include "log.h"
#include "manager.h"
#include "mproc_private.h"
#include "process_internal.h"
#include "registry.h"
#include "tracker.h"
#include "value_codec.h"

static void at_exit(void)
{
    mproc__exit_shutdown();
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
    mproc__manager_register_server();
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
        boot_fail(mproc__exit_forked(), "corrupt bootstrap message");
    }
    mproc_log(MPROC_LOG_INFO, "child process calling self.run()");
    fn(argv);
    mproc_value_free(argv);
    mproc__exit_with(0);
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

    mproc__exit_set_forked(forked);
    mproc__finalize_forget();
    if (boot_decode(payload, len, &b) != 0)
        boot_fail(forked, "corrupt bootstrap message");
    if (b.has_token && handles == NULL &&
        mproc_value_get(b.m, "handles") == NULL) {
        mproc__set_error(MPROC_ECORRUPT, "bad connection handles");
        boot_fail(forked, "corrupt bootstrap message");
    }

    if (mproc__process_become(mproc_value_as_str(b.name),
                              mproc_value_as_bool(b.daemon), b.identity,
                              b.nidentity, (long) mproc_value_as_int(b.ppid),
                              mproc_value_as_bytes(b.key, NULL)) != 0)
        boot_fail(forked, "cannot start");
    mproc__process_set_parent_name(
        mproc_value_as_str(mproc_value_get(b.m, "parent_name")));
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
        mproc__os_chdir(mproc_value_as_str(v)) != 0) {
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
    const mproc__buf_t *args = mproc__process_args(p);
    mproc__conn_after_fork(mproc__process_creator(p));
    mproc__ref_cache_after_fork();
    mproc__manager_after_fork();
    /* The child's copy of its own object becomes the current process. */
    mproc__process_after_fork(p);
    mproc__exit_after_fork();
    /* The method this child was started with is its own (Python's
     * _bootstrap forces the process's _start_method). */
    mproc_set_start_method(MPROC_START_FORK, 1);
    if (mproc__os_stdin_devnull() != 0)
        boot_fail(1, "cannot start");
    run_target(mproc__process_fn(p), args->data, args->len);
}

int mproc_main(int argc, char **argv)
{
    int rc;
    if (mproc__runtime_up())
        return 0;
    mproc__runtime_set_up();
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

/* ---- wide entry points ------------------------------------------------ */

/* What a bad code unit or code point becomes: U+FFFD. */
#define REPLACEMENT 0xFFFDu

/*
 * The code point that starts at @w[*i], with *@i moved past it. wchar_t is
 * UTF-16 where it is 16 bits wide (Windows) and UTF-32 elsewhere; the test
 * on WCHAR_MAX keeps this file free of any OS's name.
 */
static unsigned long next_code_point(const wchar_t *w, size_t *i)
{
    unsigned long c = (unsigned long) w[(*i)++];
#if WCHAR_MAX <= 0xFFFF
    c &= 0xFFFFu;
    if (c >= 0xD800u && c <= 0xDBFFu) {
        unsigned long lo = (unsigned long) w[*i] & 0xFFFFu;
        if (lo >= 0xDC00u && lo <= 0xDFFFu) {
            (*i)++;
            return 0x10000u + ((c - 0xD800u) << 10) + (lo - 0xDC00u);
        }
        return REPLACEMENT;
    }
#endif
    if ((c >= 0xD800u && c <= 0xDFFFu) || c > 0x10FFFFu)
        return REPLACEMENT;
    return c;
}

/* Writes @c as UTF-8 to @d if @d is not NULL; returns its length. */
static size_t put_utf8(unsigned long c, char *d)
{
    unsigned char b[4];
    size_t n, k;
    if (c < 0x80u) {
        b[0] = (unsigned char) c;
        n = 1;
    } else if (c < 0x800u) {
        b[0] = (unsigned char) (0xC0u | (c >> 6));
        b[1] = (unsigned char) (0x80u | (c & 0x3Fu));
        n = 2;
    } else if (c < 0x10000u) {
        b[0] = (unsigned char) (0xE0u | (c >> 12));
        b[1] = (unsigned char) (0x80u | ((c >> 6) & 0x3Fu));
        b[2] = (unsigned char) (0x80u | (c & 0x3Fu));
        n = 3;
    } else {
        b[0] = (unsigned char) (0xF0u | (c >> 18));
        b[1] = (unsigned char) (0x80u | ((c >> 12) & 0x3Fu));
        b[2] = (unsigned char) (0x80u | ((c >> 6) & 0x3Fu));
        b[3] = (unsigned char) (0x80u | (c & 0x3Fu));
        n = 4;
    }
    if (d != NULL)
        for (k = 0; k < n; k++)
            d[k] = (char) b[k];
    return n;
}

/* The UTF-8 length of @w, or with @d, @w written there; no terminator. */
static size_t wide_to_utf8(const wchar_t *w, char *d)
{
    size_t i = 0, n = 0;
    while (w[i] != L'\0') {
        size_t len = put_utf8(next_code_point(w, &i), d);
        if (d != NULL)
            d += len;
        n += len;
    }
    return n;
}

int mproc_main_w(int argc, wchar_t **argv)
{
    size_t size, k, n;
    char **u, *d;
    int i, rc;
    if (mproc__runtime_up())
        return 0;
    n = argc > 0 && argv != NULL ? (size_t) argc : 0;
    /* One block: the pointer array, then every string after it. */
    size = (n + 1) * sizeof *u;
    for (k = 0; k < n; k++)
        size += (argv[k] != NULL ? wide_to_utf8(argv[k], NULL) : 0) + 1;
    u = malloc(size);
    if (u == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    d = (char *) (u + n + 1);
    for (k = 0; k < n; k++) {
        u[k] = d;
        if (argv[k] != NULL)
            d += wide_to_utf8(argv[k], d);
        *d++ = '\0';
    }
    u[n] = NULL;
    i = (int) n;
    /*
     * A child never comes back from here; the program itself does, and
     * nothing in the runtime keeps the arguments once it has.
     */
    rc = mproc_main(i, u);
    free(u);
    return rc;
}

int mproc_main_cmdline(void)
{
    int argc, rc;
    char **argv;
    /* Asked first: MPROC_ENOTSUP holds whether or not the runtime runs. */
    rc = mproc__os_command_line(&argc, &argv);
    if (rc != 0)
        return rc;
    rc = mproc_main(argc, argv);
    free(argv);
    return rc;
}
