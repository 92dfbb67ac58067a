/*
 * The forkserver's preload (Python's set_forkserver_preload): registered
 * targets that the server runs once when it starts, before it serves, so
 * that every child it forks inherits their work (tables built, libraries
 * loaded, configuration read).
 *
 * The list travels on the server's start pipe after the key and the
 * socket's path: a count, then each name (32-bit length, bytes). The
 * server runs them in order and answers on the pipe's way back (the start
 * pipe is duplex for this): 0 when all have run, or 1 and a sentence. A preload
 * that ends the server (mproc_exit, a crash) leaves the client the end of the
 * pipe, which it reports as that preload's failure.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forkserver.h"
#include "mproc_services.h"
#include "registry.h"

/* The most names one list may hold, and the longest name. */
#define PRELOAD_MAX 64
#define PRELOAD_NAME_MAX 256

static char *preload[PRELOAD_MAX];
static size_t npreload;

int mproc_set_forkserver_preload(const char *const *targets, size_t n)
{
    char *copy[PRELOAD_MAX];
    size_t i;
    if (!mproc__os_can_fork())
        return mproc__set_error(MPROC_ENOTSUP,
                                "the forkserver start method, and so its "
                                "preload, is not available on this system");
    if (n > 0 && targets == NULL)
        return mproc__set_error(MPROC_EINVAL, "no list of targets");
    if (n > PRELOAD_MAX)
        return mproc__set_error(
            MPROC_EINVAL, "at most %d forkserver preload targets", PRELOAD_MAX);
    for (i = 0; i < n; i++) {
        if (targets[i] == NULL || strlen(targets[i]) >= PRELOAD_NAME_MAX)
            return mproc__set_error(MPROC_EINVAL,
                                    "forkserver preload target %zu has no "
                                    "name or too long a one",
                                    i);
        /* The server is this program: what it cannot find, say so here. */
        if (mproc__target_find(targets[i]) == NULL)
            return mproc__set_error(MPROC_ENOTREG,
                                    "forkserver preload target '%s' is not "
                                    "registered in this program (use "
                                    "MPROC_TARGET or mproc_register_target "
                                    "before mproc_main)",
                                    targets[i]);
    }
    for (i = 0; i < n; i++) {
        copy[i] = mproc__strdup(targets[i]);
        if (copy[i] == NULL) {
            while (i > 0)
                free(copy[--i]);
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        }
    }
    for (i = 0; i < npreload; i++)
        free(preload[i]);
    for (i = 0; i < n; i++)
        preload[i] = copy[i];
    npreload = n;
    return 0;
}

/* Reads exactly @n bytes from @c: 0, or MPROC_ECLOSED at its end. */
static int conn_read_exact(mproc__os_conn_t *c, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t got = 0;
        int rc = mproc__os_conn_read(c, p, n, &got);
        if (rc != 0)
            return rc;
        if (got == 0)
            return MPROC_ECLOSED;
        p += got;
        n -= got;
    }
    return 0;
}

/* "'a', 'b'": the names of the list, for a sentence. */
static void list_names(char *buf, size_t cap)
{
    size_t i, used = 0;
    buf[0] = '\0';
    for (i = 0; i < npreload && used < cap; i++) {
        int w = snprintf(buf + used, cap - used, "%s'%s'", i ? ", " : "",
                         preload[i]);
        if (w < 0)
            break;
        used += (size_t) w;
    }
}

int mproc__preload_client(mproc__os_conn_t *server)
{
    unsigned char b[4];
    char names[512], why[512];
    uint32_t len;
    size_t i;
    int rc;

    mproc__put_u32(b, (uint32_t) npreload);
    rc = mproc__os_conn_write(server, b, sizeof b);
    for (i = 0; rc == 0 && i < npreload; i++) {
        mproc__put_u32(b, (uint32_t) strlen(preload[i]));
        rc = mproc__os_conn_write(server, b, sizeof b);
        if (rc == 0)
            rc = mproc__os_conn_write(server, preload[i], strlen(preload[i]));
    }
    /* The server has run its preload when it answers. */
    if (rc == 0)
        rc = conn_read_exact(server, b, 1);
    list_names(names, sizeof names);
    if (rc != 0)
        return mproc__set_error(MPROC_EOS,
                                "the forkserver ended before it could serve "
                                "(while running its preload %s%s)",
                                npreload ? "targets " : "(none)", names);
    if (b[0] == 0)
        return 0;
    if (conn_read_exact(server, b, 4) != 0 ||
        (len = mproc__get_u32(b)) >= sizeof why ||
        conn_read_exact(server, why, len) != 0)
        len = 0;
    why[len] = '\0';
    return mproc__set_error(MPROC_EOS, "the forkserver's preload failed: %s",
                            why);
}

/* The server's answer: 0, or 1 and @why. */
static void answer(mproc__os_fd_t client, const char *why)
{
    unsigned char b[5];
    size_t len = why != NULL ? strlen(why) : 0;
    b[0] = why != NULL;
    mproc__put_u32(b + 1, (uint32_t) len);
    mproc__os_write_all(client, b, why != NULL ? 5 : 1);
    if (len > 0)
        mproc__os_write_all(client, why, len);
}

int mproc__preload_serve(mproc__os_fd_t client, mproc__os_fd_t back)
{
    unsigned char b[4];
    char name[PRELOAD_NAME_MAX];
    mproc_value_t *args;
    uint32_t n, len, i;

    if (mproc__read_exact(client, b, 4) != 0 ||
        (n = mproc__get_u32(b)) > PRELOAD_MAX)
        return mproc__set_error(MPROC_ECORRUPT, "no preload list");
    for (i = 0; i < n; i++) {
        mproc_target_fn fn;
        if (mproc__read_exact(client, b, 4) != 0 ||
            (len = mproc__get_u32(b)) >= sizeof name ||
            mproc__read_exact(client, name, len) != 0)
            return mproc__set_error(MPROC_ECORRUPT, "corrupt preload list");
        name[len] = '\0';
        fn = mproc__target_find(name);
        if (fn == NULL) {
            char why[PRELOAD_NAME_MAX + 64];
            snprintf(why, sizeof why,
                     "preload target '%s' is not registered in the server",
                     name);
            answer(back, why);
            return mproc__set_error(MPROC_ENOTREG, "%s", why);
        }
        /* A target that ends the process ends the server: EOF says so. */
        args = mproc_value_list();
        fn(args);
        mproc_value_free(args);
    }
    answer(back, NULL);
    return 0;
}
