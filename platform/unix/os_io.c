/*
 * Unix backend: raw I/O on descriptors (the bootstrap pipe and the
 * forkserver's socket), and descriptor numbers on a command line.
 */
#include "os_internal.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "mproc_services.h"

/* ---- I/O ------------------------------------------------------------- */

int mproc__os_read(mproc__os_fd_t fd, void *buf, size_t n, size_t *got)
{
    ssize_t r;
    do {
        r = read((int) fd, buf, n);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        *got = 0;
        return mproc__unix_error(errno, "read failed");
    }
    *got = (size_t) r;
    return 0;
}

int mproc__os_write_all(mproc__os_fd_t fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write((int) fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return mproc__unix_error(errno, "write failed");
        }
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

void mproc__os_close(mproc__os_fd_t fd)
{
    if (fd != MPROC__OS_FD_INVALID)
        close((int) fd);
}

int mproc__os_fd_parse(const char *text, mproc__os_fd_t *fd)
{
    char *end;
    long v;
    if (text == NULL || *text == '\0')
        return mproc__set_error(MPROC_EINVAL, "missing descriptor number");
    errno = 0;
    v = strtol(text, &end, 10);
    if (errno != 0 || *end != '\0' || v < 0 || v > INT_MAX)
        return mproc__set_error(MPROC_EINVAL, "'%s' is not a descriptor number",
                                text);
    *fd = (mproc__os_fd_t) v;
    return 0;
}
