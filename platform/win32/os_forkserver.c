/*
 * Win32 backend: what the forkserver needs of the OS beyond fork, which
 * Windows cannot have.
 *
 * Windows has no fork(), hence no forkserver either. The API keeps the
 * start method everywhere and src/forkserver.c answers MPROC_ENOTSUP at
 * run time, as DESIGN.md asks; these calls are never reached there, and
 * say so if they are.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <io.h>
#include <stdio.h>

#include "mproc_services.h"

static int no_fork(void)
{
    return mproc__set_error(MPROC_ENOTSUP,
                            "Windows cannot fork, so no forkserver runs");
}

int mproc__os_reaper_init(mproc__os_fd_t *h)
{
    *h = MPROC__OS_FD_INVALID;
    return no_fork();
}

int mproc__os_reap(long *pid, int *exitcode)
{
    (void) pid, (void) exitcode;
    return 0;
}

void mproc__os_reaper_forget(void)
{
}

void mproc__os_ignore_interrupts(int ignore)
{
    (void) ignore;
}

void mproc__os_detach_signals(void)
{
}

int mproc__os_fd_private(mproc__os_fd_t h)
{
    if (!SetHandleInformation((HANDLE) h, HANDLE_FLAG_INHERIT, 0))
        return mproc__win_error(GetLastError(), "cannot make a handle private");
    return 0;
}

mproc__os_fd_t mproc__os_std_handle(int which)
{
    return (mproc__os_fd_t) GetStdHandle(which == 1 ? STD_OUTPUT_HANDLE
                                                    : STD_ERROR_HANDLE);
}

int mproc__os_set_stdio(mproc__os_fd_t out, mproc__os_fd_t err)
{
    (void) out, (void) err;
    return no_fork();
}

int mproc__os_set_recv_timeout(mproc__os_fd_t sock, double seconds)
{
    (void) sock, (void) seconds;
    return no_fork();
}

void mproc__os_exit_after(double seconds)
{
    (void) seconds;
}
