/*
 * Unix backend: the byte streams under connections, and waiting for many
 * of them (and for children) at once.
 *
 * APR leaves this gap: apr_file_pipe_create makes only one-way pipes (no
 * socketpair), its descriptors cannot be adopted from a number a parent
 * passed, and apr_poll cannot be told to wait on a pidfd beside them
 * without wrapping each one in an apr_socket_t or apr_file_t first. So a
 * connection is a descriptor used with the system calls: a socketpair for a
 * duplex pipe, a pipe for a one-way one, and poll() for every wait.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#include "mproc_private.h"

struct mproc__os_conn {
    int rfd; /* read from here */
    int wfd; /* write here: the same descriptor, or a second pipe's */
    /*
     * A socket is written with send(MSG_NOSIGNAL): a program that never
     * called mproc_main() still ignores no SIGPIPE, and a dead peer must
     * be an error, not the end of the writer.
     */
    int is_socket;
};

/* Takes @rfd and @wfd (they may be the same descriptor) over. */
static int conn_new(mproc__os_conn_t **c, int rfd, int wfd)
{
    struct stat st;
    *c = malloc(sizeof **c);
    if (*c == NULL) {
        close(rfd);
        if (wfd != rfd)
            close(wfd);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    (*c)->rfd = rfd;
    (*c)->wfd = wfd;
    (*c)->is_socket = fstat(wfd, &st) == 0 && S_ISSOCK(st.st_mode);
    return 0;
}

int mproc__os_conn_pair(mproc__os_conn_t **r, mproc__os_conn_t **w, int duplex)
{
    int a[2], b[2] = {-1, -1}, rc;
    *r = *w = NULL;
    /*
     * A duplex connection is two pipes, one each way, rather than a socket
     * pair: a round trip through pipes costs about half as much.
     */
    if (pipe2(a, O_CLOEXEC) < 0 || (duplex && pipe2(b, O_CLOEXEC) < 0)) {
        rc = mproc__unix_error(errno, "cannot create a pipe");
        if (b[0] < 0 && duplex) {
            close(a[0]);
            close(a[1]);
        }
        return rc;
    }
    if (!duplex) {
        rc = conn_new(r, a[0], a[0]);
        if (rc != 0) {
            close(a[1]);
            return rc;
        }
        rc = conn_new(w, a[1], a[1]);
    } else {
        /* @r reads a and writes b; @w reads b and writes a. */
        rc = conn_new(r, a[0], b[1]);
        if (rc != 0) {
            close(a[1]);
            close(b[0]);
            return rc;
        }
        rc = conn_new(w, b[0], a[1]);
    }
    if (rc != 0) {
        mproc__os_conn_close(*r);
        *r = NULL;
    }
    return rc;
}

int mproc__os_conn_read(mproc__os_conn_t *c, void *buf, size_t n, size_t *got)
{
    ssize_t r;
    *got = 0;
    do {
        r = read(c->rfd, buf, n);
    } while (r < 0 && errno == EINTR);
    if (r >= 0) {
        *got = (size_t) r;
        return 0;
    }
    /*
     * A Unix socket whose peer closed with data still unread on its side
     * reports ECONNRESET once, after everything sent to us was read: for
     * the reader that is the end of the stream like any other close.
     */
    if (errno == ECONNRESET)
        return 0;
    return mproc__unix_error(errno, "cannot read from the connection");
}

int mproc__os_conn_write(mproc__os_conn_t *c, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = c->is_socket ? send(c->wfd, p, n, MSG_NOSIGNAL)
                                 : write(c->wfd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EPIPE || errno == ECONNRESET)
                return mproc__set_error(MPROC_ECLOSED,
                                        "the peer closed the connection");
            return mproc__unix_error(errno, "cannot write to the connection");
        }
        p += w;
        n -= (size_t) w;
    }
    return 0;
}

int mproc__os_conn_wait_readable(mproc__os_conn_t *c, double timeout)
{
    return mproc__unix_poll_in(c->rfd, timeout);
}

void mproc__os_conn_close(mproc__os_conn_t *c)
{
    if (c == NULL)
        return;
    close(c->rfd);
    if (c->wfd != c->rfd)
        close(c->wfd);
    free(c);
}

mproc__os_fd_t mproc__os_conn_handle(const mproc__os_conn_t *c)
{
    return (mproc__os_fd_t) c->rfd;
}

mproc__os_fd_t mproc__os_conn_handle2(const mproc__os_conn_t *c)
{
    return c->wfd != c->rfd ? (mproc__os_fd_t) c->wfd : MPROC__OS_FD_INVALID;
}

/* Checks that @h is open here and makes it close-on-exec again. */
static int reclaim(mproc__os_fd_t h)
{
    int fd = (int) h, flags;
    if (h < 0 || h > 0x7fffffff || (flags = fcntl(fd, F_GETFD)) < 0)
        return mproc__set_error(MPROC_EINVAL,
                                "descriptor %ld is not open in this process",
                                (long) h);
    /*
     * A descriptor placed by posix_spawn lost its close-on-exec flag on
     * the way: a program this child runs with system() must not get it.
     */
    if (!(flags & FD_CLOEXEC) && fcntl(fd, F_SETFD, flags | FD_CLOEXEC) < 0)
        return mproc__unix_error(errno, "cannot make a descriptor "
                                        "close-on-exec");
    return 0;
}

int mproc__os_conn_adopt(mproc__os_conn_t **c, mproc__os_fd_t h,
                         mproc__os_fd_t h2)
{
    int rc;
    *c = NULL;
    rc = reclaim(h);
    if (rc == 0 && h2 != MPROC__OS_FD_INVALID)
        rc = reclaim(h2);
    if (rc != 0)
        return rc;
    return conn_new(c, (int) h,
                    h2 != MPROC__OS_FD_INVALID ? (int) h2 : (int) h);
}

/* The time left until @deadline, for ppoll; never negative. */
static void time_left(double deadline, struct timespec *ts)
{
    double left = deadline - mproc__os_monotonic();
    if (left < 0)
        left = 0;
    ts->tv_sec = (time_t) left;
    ts->tv_nsec = (long) ((left - (double) ts->tv_sec) * 1e9);
    if (ts->tv_nsec > 999999999L)
        ts->tv_nsec = 999999999L;
}

int mproc__os_wait_many(mproc__os_wait_item_t *items, size_t n, double timeout)
{
    struct pollfd *p;
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    size_t i;
    int count = 0, r;

    p = malloc((n ? n : 1) * sizeof *p);
    if (p == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    for (i = 0; i < n; i++) {
        items[i].ready = 0;
        p[i].fd =
            items[i].conn != NULL ? items[i].conn->rfd : (int) items[i].handle;
        p[i].events = POLLIN;
        p[i].revents = 0;
    }
    for (;;) {
        struct timespec ts = {0, 0};
        if (timeout > 0)
            time_left(deadline, &ts);
        r = ppoll(p, (nfds_t) n, timeout < 0 ? NULL : &ts, NULL);
        if (r >= 0)
            break;
        if (errno != EINTR) {
            r = mproc__unix_error(errno, "poll failed");
            free(p);
            return r;
        }
    }
    /*
     * Any event is readiness: POLLHUP without POLLIN is a pipe whose
     * writer has gone, which a read reports as the end of the stream.
     */
    for (i = 0; i < n; i++) {
        if (p[i].revents & POLLNVAL) {
            int fd = p[i].fd;
            free(p);
            return mproc__set_error(
                MPROC_EINVAL, "descriptor %d to wait for is not open", fd);
        }
        if (p[i].revents != 0) {
            items[i].ready = 1;
            count++;
        }
    }
    free(p);
    return count;
}
