/*
 * Win32 backend: raw I/O on handles (the bootstrap pipe), and handle values
 * on a command line.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

/*
 * The most one ReadFile or WriteFile call is asked to move: the calls take
 * a DWORD count, and a size_t can be larger.
 */
#define IO_CHUNK ((DWORD) 1 << 30)

/* ---- I/O ------------------------------------------------------------- */

int mproc__os_read(mproc__os_fd_t fd, void *buf, size_t n, size_t *got)
{
    HANDLE h = (HANDLE) fd;
    DWORD want = n > IO_CHUNK ? IO_CHUNK : (DWORD) n;
    *got = 0;
    for (;;) {
        DWORD done = 0;
        DWORD err;
        if (ReadFile(h, buf, want, &done, NULL)) {
            /*
             * The end of a pipe is ERROR_BROKEN_PIPE, never a successful
             * read of 0 bytes: that is a peer's zero-length write, which a
             * byte stream has no place for, so it is skipped. The type is
             * asked only on this rare path; a file at its end stops here.
             */
            if (done == 0 && want > 0 && GetFileType(h) == FILE_TYPE_PIPE)
                continue;
            *got = done;
            return 0;
        }
        err = GetLastError();
        if (err == ERROR_BROKEN_PIPE || err == ERROR_HANDLE_EOF)
            return 0;
        /*
         * A message-mode pipe delivered part of a message: the rest comes
         * with the next read, which is what a byte stream wants.
         */
        if (err == ERROR_MORE_DATA) {
            *got = done;
            return 0;
        }
        return mproc__win_error(err, "read failed");
    }
}

int mproc__os_write_all(mproc__os_fd_t fd, const void *buf, size_t n)
{
    HANDLE h = (HANDLE) fd;
    const char *p = buf;
    while (n > 0) {
        DWORD chunk = n > IO_CHUNK ? IO_CHUNK : (DWORD) n;
        DWORD done = 0;
        if (!WriteFile(h, p, chunk, &done, NULL))
            return mproc__win_error(GetLastError(), "write failed");
        /*
         * A blocking handle writes something or fails; only a pipe left in
         * PIPE_NOWAIT mode reports success with nothing written, and looping
         * on it would spin.
         */
        if (done == 0)
            return mproc__set_error(MPROC_EOS,
                                    "write failed: the handle took no data");
        p += done;
        n -= done;
    }
    return 0;
}

/*
 * An anonymous pipe is never signalled for WaitForSingleObject and cannot
 * do overlapped I/O, so readiness is polled with PeekNamedPipe. The naps
 * grow from yields to 1 ms, which the system rounds up to its clock tick.
 * Note that PeekNamedPipe on a synchronous handle blocks while another
 * thread is inside ReadFile on it; a reader and a waiter of one handle must
 * be the same thread.
 */
void mproc__os_close(mproc__os_fd_t fd)
{
    /* NULL is never a handle; -1 is MPROC__OS_FD_INVALID. */
    if (fd != MPROC__OS_FD_INVALID && fd != 0)
        CloseHandle((HANDLE) fd);
}

void mproc__win_fd_format(mproc__os_fd_t fd, char *buf, size_t cap)
{
    /*
     * A child inherits a handle under the same value, so the value itself
     * names it on the command line.
     */
    snprintf(buf, cap, "%lld", (long long) fd);
}

int mproc__os_fd_parse(const char *text, mproc__os_fd_t *fd)
{
    intptr_t v = 0;
    const char *p;
    if (text == NULL || *text == '\0')
        return mproc__set_error(MPROC_EINVAL, "missing handle number");
    /* Digits only: no sign, no spaces, nothing after the number. */
    for (p = text; *p != '\0'; p++) {
        int d = *p - '0';
        if (d < 0 || d > 9 || v > (INTPTR_MAX - d) / 10)
            return mproc__set_error(MPROC_EINVAL, "'%s' is not a handle number",
                                    text);
        v = v * 10 + d;
    }
    if (v == 0)
        return mproc__set_error(MPROC_EINVAL, "'%s' is not a handle number",
                                text);
    *fd = (mproc__os_fd_t) v;
    return 0;
}
