/*
 * Win32 backend: the forkserver start method, which Windows cannot have.
 *
 * APR has no notion of fork at all, so there is no gap to fill here beyond
 * a clear answer: Windows has no fork(), hence no forkserver either. The
 * API keeps the start method everywhere and answers MPROC_ENOTSUP at run
 * time, as DESIGN.md asks, rather than leaving a hole in the API.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "mproc_private.h"

int mproc__os_forkserver_child(mproc__os_child_t **child, const void *frame,
                               size_t len, const mproc__os_fd_t *pass,
                               size_t npass)
{
    (void) frame;
    (void) len;
    (void) pass;
    (void) npass;
    *child = NULL;
    return mproc__set_error(
        MPROC_ENOTSUP,
        "the forkserver start method is not available on Windows; use spawn");
}

void mproc__os_forkserver_main(int argc, char **argv)
{
    (void) argc;
    (void) argv;
    /*
     * Only a program started by hand with the forkserver marker gets here,
     * since no Windows process ever starts a forkserver: say so and end
     * with the code of a failed start.
     */
    fprintf(stderr, "mproc: the forkserver start method is not available on "
                    "Windows; use spawn\n");
    exit(1);
}
