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
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

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

int mproc__unix_conn_wrap(mproc__os_conn_t **c, int fd)
{
    return conn_new(c, fd, fd);
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

int mproc__os_conn_read_timed(mproc__os_conn_t *c, void *buf, size_t n,
                              size_t *got, double timeout)
{
    /* A descriptor that poll() finds readable is read at once. */
    int rc = mproc__unix_poll_in(c->rfd, timeout);
    *got = 0;
    return rc != 0 ? rc : mproc__os_conn_read(c, buf, n, got);
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

size_t mproc__os_conn_capacity(mproc__os_conn_t *c, size_t want)
{
#ifdef F_GETPIPE_SZ
    if (!c->is_socket) {
        int have = fcntl(c->wfd, F_GETPIPE_SZ);
        /* Refused past the user's limits: the pipe keeps what it has. */
        if (have > 0 && want > (size_t) have && want <= 0x7fffffff) {
            int got = fcntl(c->wfd, F_SETPIPE_SZ, (int) want);
            if (got > have)
                have = got;
        }
        if (have > 0)
            return (size_t) have;
    }
#else
    (void) want;
#endif
    (void) c;
    return 4096;
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

int mproc__os_conn_handles(const mproc__os_conn_t *c, mproc__os_fd_t out[2])
{
    out[0] = (mproc__os_fd_t) c->rfd;
    if (c->wfd == c->rfd) {
        out[1] = MPROC__OS_FD_INVALID;
        return 1;
    }
    out[1] = (mproc__os_fd_t) c->wfd;
    return 2;
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

/* ---- handing handles to a running process ------------------------------
 */

int mproc__os_send_handles(mproc__os_fd_t sock, char tag,
                           const mproc__os_handle_t *h, size_t n)
{
    int fds[MPROC__OS_MAX_HANDLES];
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(sizeof fds)];
    } control;
    struct iovec iov = {&tag, 1};
    struct msghdr msg;
    struct cmsghdr *c;
    size_t i;
    ssize_t sent;

    if (n == 0 || n > MPROC__OS_MAX_HANDLES)
        return mproc__set_error(MPROC_EINVAL,
                                "1 to %d handles can be sent at once, not %lu",
                                MPROC__OS_MAX_HANDLES, (unsigned long) n);
    for (i = 0; i < n; i++)
        fds[i] = (int) h[i].h;
    memset(&msg, 0, sizeof msg);
    memset(&control, 0, sizeof control);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = CMSG_SPACE(n * sizeof(int));
    c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = SOL_SOCKET;
    c->cmsg_type = SCM_RIGHTS;
    c->cmsg_len = CMSG_LEN(n * sizeof(int));
    memcpy(CMSG_DATA(c), fds, n * sizeof(int));
    do {
        sent = sendmsg((int) sock, &msg, MSG_NOSIGNAL);
    } while (sent < 0 && errno == EINTR);
    if (sent != 1)
        return mproc__unix_error(sent < 0 ? errno : EIO,
                                 "cannot send descriptors");
    return 0;
}

int mproc__os_recv_handles(mproc__os_fd_t sock, char *tag,
                           mproc__os_handle_t *h, size_t cap, size_t *n)
{
    union {
        struct cmsghdr align;
        char buf[CMSG_SPACE(MPROC__OS_MAX_HANDLES * sizeof(int))];
    } control;
    int fds[MPROC__OS_MAX_HANDLES];
    struct iovec iov = {tag, 1};
    struct msghdr msg;
    struct cmsghdr *c;
    size_t got = 0, i;
    ssize_t r;

    *n = 0;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    do {
        r = recvmsg((int) sock, &msg, MSG_CMSG_CLOEXEC);
    } while (r < 0 && errno == EINTR);
    if (r < 0)
        return mproc__unix_error(errno, "cannot receive descriptors");
    /* Collect whatever arrived first: it is ours to close if refused. */
    for (c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
        size_t k;
        if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
            c->cmsg_len < CMSG_LEN(0))
            continue;
        k = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        if (k > MPROC__OS_MAX_HANDLES - got)
            k = MPROC__OS_MAX_HANDLES - got;
        memcpy(fds + got, CMSG_DATA(c), k * sizeof(int));
        got += k;
    }
    if (r == 0 || got == 0 || got > cap || (msg.msg_flags & MSG_CTRUNC)) {
        for (i = 0; i < got; i++)
            close(fds[i]);
        if (r == 0)
            return mproc__set_error(MPROC_ECLOSED,
                                    "the peer closed the socket before "
                                    "sending descriptors");
        return mproc__set_error(
            MPROC_ECORRUPT, "expected 1 to %lu descriptors, got %lu%s",
            (unsigned long) cap, (unsigned long) got,
            (msg.msg_flags & MSG_CTRUNC) ? " and more" : "");
    }
    for (i = 0; i < got; i++) {
        struct stat st;
        h[i].h = fds[i];
        h[i].kind = fstat(fds[i], &st) == 0 && S_ISSOCK(st.st_mode)
                        ? MPROC__OS_HANDLE_SOCKET
                        : MPROC__OS_HANDLE_FILE;
    }
    *n = got;
    return 0;
}

int mproc__os_handle_export(const mproc__os_handle_t *h, long pid, void *blob,
                            size_t *len)
{
    (void) h, (void) pid, (void) blob, (void) len;
    return mproc__set_error(MPROC_ENOTSUP,
                            "Unix hands descriptors over a Unix socket, not "
                            "by process id");
}

int mproc__os_handle_import(const void *blob, size_t len, mproc__os_handle_t *h)
{
    (void) blob, (void) len, (void) h;
    return mproc__set_error(MPROC_ENOTSUP,
                            "Unix hands descriptors over a Unix socket, not "
                            "by process id");
}

int mproc__os_handle_dup_from(long pid, mproc__os_fd_t theirs, int close_theirs,
                              mproc__os_fd_t *ours)
{
    (void) pid, (void) theirs, (void) close_theirs, (void) ours;
    return mproc__set_error(MPROC_ENOTSUP,
                            "Unix hands descriptors over a Unix socket, not "
                            "by process id");
}

int mproc__os_dup(mproc__os_fd_t h, mproc__os_fd_t *copy)
{
    int fd = fcntl((int) h, F_DUPFD_CLOEXEC, 0);
    if (fd < 0)
        return mproc__unix_error(errno, "cannot duplicate a descriptor");
    *copy = (mproc__os_fd_t) fd;
    return 0;
}

void mproc__os_handle_close(const mproc__os_handle_t *h)
{
    if (h->h != MPROC__OS_FD_INVALID)
        close((int) h->h);
}

/* ---- local listeners ---------------------------------------------------- */

int mproc__os_local_listen(const char *prefix, int packets,
                           mproc__os_fd_t *listener, char *path, size_t cap)
{
    const char *tmp = getenv("TMPDIR");
    struct sockaddr_un addr;
    char dir[sizeof addr.sun_path];
    int fd, rc;

    if (tmp == NULL || *tmp == '\0')
        tmp = "/tmp";
    errno = 0;
    /* Room for "/sock" after the directory. */
    if (snprintf(dir, sizeof dir, "%s/%s-XXXXXX", tmp, prefix) >=
            (int) sizeof dir - 5 ||
        mkdtemp(dir) == NULL)
        return mproc__unix_error(errno ? errno : ENAMETOOLONG,
                                 "cannot create a private socket directory");
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (snprintf(addr.sun_path, sizeof addr.sun_path, "%s/sock", dir) >=
            (int) sizeof addr.sun_path ||
        strlen(addr.sun_path) >= cap) {
        rmdir(dir);
        return mproc__set_error(MPROC_EINVAL, "TMPDIR is too long");
    }
    fd = socket(AF_UNIX,
                (packets ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0 || bind(fd, (struct sockaddr *) &addr, sizeof addr) < 0 ||
        listen(fd, 128) < 0) {
        rc = mproc__unix_error(errno, "cannot set up a local socket");
        if (fd >= 0)
            close(fd);
        mproc__os_local_remove(addr.sun_path);
        return rc;
    }
    memcpy(path, addr.sun_path, strlen(addr.sun_path) + 1);
    *listener = fd;
    return 0;
}

int mproc__os_local_accept(mproc__os_fd_t listener, mproc__os_fd_t *conn)
{
    int fd;
    do {
        fd = accept4((int) listener, NULL, NULL, SOCK_CLOEXEC);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0)
        return mproc__unix_error(errno, "cannot accept a connection");
    *conn = fd;
    return 0;
}

int mproc__os_local_connect(const char *path, int packets, mproc__os_fd_t *conn)
{
    struct sockaddr_un addr;
    int fd, rc;
    memset(&addr, 0, sizeof addr);
    addr.sun_family = AF_UNIX;
    if (strlen(path) >= sizeof addr.sun_path)
        return mproc__set_error(MPROC_EINVAL, "socket path '%s' is too long",
                                path);
    strcpy(addr.sun_path, path);
    fd = socket(AF_UNIX,
                (packets ? SOCK_SEQPACKET : SOCK_STREAM) | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return mproc__unix_error(errno, "cannot create a socket");
    do {
        rc = connect(fd, (struct sockaddr *) &addr, sizeof addr);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) {
        int err = errno;
        close(fd);
        if (err == ECONNREFUSED || err == ENOENT)
            return mproc__set_error(MPROC_ENOTFOUND, "nobody listens at %s: %s",
                                    path, strerror(err));
        return mproc__unix_error(err, "cannot connect");
    }
    *conn = fd;
    return 0;
}

void mproc__os_local_remove(const char *path)
{
    char dir[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    char *slash;
    unlink(path);
    snprintf(dir, sizeof dir, "%s", path);
    slash = strrchr(dir, '/');
    if (slash != NULL) {
        *slash = '\0';
        rmdir(dir);
    }
}

int mproc__os_local_leftover_remove(const char *path)
{
    char dir[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    struct stat sock_st, dir_st;
    char *slash;
    if (snprintf(dir, sizeof dir, "%s", path) >= (int) sizeof dir ||
        (slash = strrchr(dir, '/')) == NULL || slash == dir)
        return mproc__set_error(MPROC_ENOTFOUND, "no socket at %s", path);
    *slash = '\0';
    if (lstat(path, &sock_st) != 0 || !S_ISSOCK(sock_st.st_mode) ||
        sock_st.st_uid != geteuid() || lstat(dir, &dir_st) != 0 ||
        !S_ISDIR(dir_st.st_mode) || dir_st.st_uid != geteuid() ||
        (dir_st.st_mode & 077) != 0)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "no socket of ours in a private directory "
                                "at %s",
                                path);
    mproc__os_local_remove(path);
    return 0;
}

int mproc__os_local_path(mproc__os_fd_t listener, char *path, size_t cap)
{
    struct sockaddr_un addr;
    socklen_t alen = sizeof addr;
    memset(&addr, 0, sizeof addr);
    if (getsockname((int) listener, (struct sockaddr *) &addr, &alen) != 0)
        return mproc__unix_error(errno, "cannot name a local listener");
    if (addr.sun_family != AF_UNIX || addr.sun_path[0] != '/' ||
        strlen(addr.sun_path) >= cap)
        return mproc__set_error(MPROC_EINVAL, "not a local listener");
    memcpy(path, addr.sun_path, strlen(addr.sun_path) + 1);
    return 0;
}

int mproc__os_recv_packet(mproc__os_fd_t sock, void *buf, size_t cap, size_t *n)
{
    struct iovec iov = {buf, cap};
    struct msghdr msg;
    ssize_t r;
    *n = 0;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    do {
        r = recvmsg((int) sock, &msg, MSG_DONTWAIT);
    } while (r < 0 && errno == EINTR);
    if (r < 0) {
        if (errno == EAGAIN || errno == EWOULDBLOCK)
            return MPROC_ETIMEDOUT;
        return mproc__unix_error(errno, "cannot receive a packet");
    }
    if (r == 0)
        return mproc__set_error(MPROC_ECLOSED, "the peer closed the socket");
    if (msg.msg_flags & MSG_TRUNC)
        return mproc__set_error(MPROC_ECORRUPT,
                                "a packet longer than %lu bytes",
                                (unsigned long) cap);
    *n = (size_t) r;
    return 0;
}
