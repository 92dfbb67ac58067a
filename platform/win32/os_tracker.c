/*
 * Win32 backend: the resource tracker, which Windows does not need.
 *
 * APR leaves this gap on Unix only: a named POSIX object outlives the
 * processes that used it, and APR removes a name only when asked to, so a
 * killed process tree leaks it. On Windows every mproc object is a kernel
 * object (a file mapping, a mutex, a semaphore, an event) whose name lives
 * exactly as long as some process holds a handle to it; the kernel closes
 * the handles of a process that ends, killed or not. So registering and
 * unregistering are no-ops, and there is no tracker process to tell
 * children about.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <stdio.h>
#include <stdlib.h>

#include "mproc_services.h"

int mproc__os_track(const char *name)
{
    (void) name;
    return 0;
}

int mproc__os_untrack(const char *name)
{
    (void) name;
    return 0;
}

const char *mproc__os_tracker_address(void)
{
    return "";
}

int mproc__os_tracker_adopt(const char *address)
{
    /*
     * A child is always handed "" by a Windows parent; anything else is
     * ignored as well, since there is nothing it could name here.
     */
    (void) address;
    return 0;
}

int mproc__os_journal_open(const char *listener_path, mproc__os_fd_t *fd)
{
    (void) listener_path, (void) fd;
    return mproc__set_error(
        MPROC_ENOTSUP, "Windows has no resource tracker to keep a journal");
}

int mproc__os_journal_replace(const char *listener_path, const void *data,
                              size_t n, mproc__os_fd_t *fd)
{
    (void) data, (void) n;
    return mproc__os_journal_open(listener_path, fd);
}

char *mproc__os_journal_take(const char *listener_path)
{
    (void) listener_path;
    return NULL;
}

void mproc__os_journal_remove(const char *listener_path)
{
    (void) listener_path;
}
