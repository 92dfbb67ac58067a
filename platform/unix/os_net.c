/*
 * Unix backend: listeners and clients on Unix sockets and TCP, the
 * transport of mproc_listener_t and mproc_client_connect().
 *
 * BSD sockets directly, as os_conn.c does and for its reason: a connection
 * is a descriptor that poll() waits on beside pipes and pidfds, which an
 * apr_socket_t would only wrap. An accepted or connected socket becomes a
 * connection through mproc__unix_conn_wrap(), one descriptor both ways, so
 * reading, writing, waiting and handing it to another process are the
 * connection's usual ones.
 *
 * The listening socket is non-blocking, so that a client which goes away
 * between poll() and accept() costs a loop, not a hang; connecting is
 * non-blocking too, so that it keeps the caller's timeout. Accepted and
 * connected sockets are blocking, as connections expect. TCP sockets get
 * TCP_NODELAY: a connection writes a frame's header and payload as they
 * come, and Nagle's delay on top of the peer's delayed ACK would cost a
 * request and reply tens of milliseconds.
 */
#include "os_internal.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

struct mproc__os_listener {
    int fd;
    mproc__os_addr_kind_e kind;
    char address[MPROC__OS_ADDR_MAX];
    /* A Unix socket's file: who made it, and which file it is. */
    pid_t owner;
    dev_t dev;
    ino_t ino;
};

/* ---- small helpers ------------------------------------------------------ */

/* The seconds left until @deadline (negative @limit: none, -1). */
static double left_of(double deadline, double limit)
{
    double left;
    if (limit < 0)
        return -1.0;
    left = deadline - mproc__os_monotonic();
    return left > 0 ? left : 0;
}

/*
 * Waits for @events on @fd for at most @timeout seconds (negative: no
 * limit): 0, MPROC_ETIMEDOUT, or an error.
 */
static int wait_fd(int fd, short events, double timeout)
{
    double deadline = mproc__os_monotonic() + timeout;
    for (;;) {
        struct pollfd p = {.fd = fd, .events = events};
        int ms, r;
        if (timeout < 0) {
            ms = -1;
        } else {
            double left = deadline - mproc__os_monotonic();
            /* Rounded up: a wait rounded down would end early. */
            ms = left <= 0        ? 0
                 : left > 86400.0 ? 86400000
                                  : (int) (left * 1e3) + 1;
        }
        r = poll(&p, 1, ms);
        if (r > 0)
            return 0;
        if (r == 0) {
            if (ms == 0 || mproc__os_monotonic() >= deadline)
                return MPROC_ETIMEDOUT;
            continue;
        }
        if (errno != EINTR)
            return mproc__unix_error(errno, "poll failed");
    }
}

static int set_blocking(int fd, int blocking)
{
    int flags = fcntl(fd, F_GETFL);
    if (flags < 0 ||
        fcntl(fd, F_SETFL,
              blocking ? flags & ~O_NONBLOCK : flags | O_NONBLOCK) < 0)
        return mproc__unix_error(errno, "cannot set a socket's blocking mode");
    return 0;
}

static void no_delay(int fd)
{
    int on = 1;
    /* Only a hint for speed: a socket that refuses still works. */
    (void) setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &on, sizeof on);
}

static int pipe_here(const mproc__os_addr_t *a)
{
    return mproc__set_error(MPROC_EBADADDR,
                            "'%s' is a Windows named pipe, which Unix has "
                            "not; use host:port or a socket path",
                            a->text);
}

/* A Unix socket address for @path, or MPROC_EBADADDR if it is too long. */
static int unix_addr(const char *path, struct sockaddr_un *sa)
{
    memset(sa, 0, sizeof *sa);
    sa->sun_family = AF_UNIX;
    if (strlen(path) >= sizeof sa->sun_path)
        return mproc__set_error(MPROC_EBADADDR,
                                "the socket path '%s' is too long (at most "
                                "%lu bytes)",
                                path, (unsigned long) sizeof sa->sun_path - 1);
    memcpy(sa->sun_path, path, strlen(path) + 1);
    return 0;
}

/*
 * The addresses of @a (TCP), IPv4 first: Python's Listener and Client use
 * IPv4 for a (host, port) pair, and a name such as "localhost" should
 * reach the same socket from both sides. @passive: to bind ("" is then
 * every IPv4 interface). The caller frees *@list with freeaddrinfo.
 */
static int resolve(const mproc__os_addr_t *a, int passive,
                   struct addrinfo **list)
{
    struct addrinfo hints, *v4 = NULL, **v4_end = &v4, *rest = NULL,
                           **rest_end = &rest, *p, *next;
    char port[16];
    int r;

    memset(&hints, 0, sizeof hints);
    hints.ai_family = a->host[0] == '\0' ? AF_INET : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(port, sizeof port, "%d", a->port);
    r = getaddrinfo(a->host[0] == '\0' ? NULL : a->host, port, &hints, list);
    if (r != 0) {
        if (r == EAI_NONAME || r == EAI_NODATA || r == EAI_FAIL ||
            r == EAI_AGAIN)
            return mproc__set_error(MPROC_ENOTFOUND,
                                    "cannot find host '%s' of '%s': %s",
                                    a->host, a->text, gai_strerror(r));
        if (r == EAI_SYSTEM)
            return mproc__unix_error(errno, "cannot resolve a host");
        return mproc__set_error(MPROC_EOS, "cannot resolve host '%s': %s",
                                a->host, gai_strerror(r));
    }
    for (p = *list; p != NULL; p = next) {
        next = p->ai_next;
        p->ai_next = NULL;
        if (p->ai_family == AF_INET) {
            *v4_end = p;
            v4_end = &p->ai_next;
        } else {
            *rest_end = p;
            rest_end = &p->ai_next;
        }
    }
    *v4_end = rest;
    *list = v4;
    return 0;
}

/*
 * "host:port" of a bound or peer TCP address, numerically. A link-local
 * IPv6 address keeps its scope, as a number ("[fe80::1%2]:5000", the
 * form Windows gives too): without it the address names no interface.
 */
static void format_tcp(const struct sockaddr_storage *ss, char *out, size_t cap)
{
    char host[INET6_ADDRSTRLEN];
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *) ss;
        char scope[16] = "";
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        if (s6->sin6_scope_id != 0)
            snprintf(scope, sizeof scope, "%%%lu",
                     (unsigned long) s6->sin6_scope_id);
        snprintf(out, cap, "[%s%s]:%u", host, scope,
                 (unsigned) ntohs(s6->sin6_port));
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *) ss;
        inet_ntop(AF_INET, &s4->sin_addr, host, sizeof host);
        snprintf(out, cap, "%s:%u", host, (unsigned) ntohs(s4->sin_port));
    }
}

/* ---- listening ---------------------------------------------------------- */

/*
 * @path made absolute against the working directory, into @out of @cap
 * bytes: a listener's path names its file whatever directory the program
 * moves to later, for its clients and for its removal.
 */
static int absolute_path(const char *path, char *out, size_t cap)
{
    size_t n;
    if (path[0] == '/') {
        n = strlen(path);
    } else {
        if (getcwd(out, cap) == NULL)
            return errno == ERANGE
                       ? mproc__set_error(MPROC_EBADADDR,
                                          "the socket path '%s' is too long "
                                          "once made absolute",
                                          path)
                       : mproc__unix_error(errno, "cannot read the working "
                                                  "directory");
        n = strlen(out) + 1 + strlen(path);
    }
    if (n >= cap)
        return mproc__set_error(MPROC_EBADADDR,
                                "the socket path '%s' is too long once made "
                                "absolute",
                                path);
    if (path[0] == '/') {
        memcpy(out, path, n + 1);
    } else {
        strcat(out, "/");
        strcat(out, path);
    }
    return 0;
}

static int listen_unix(mproc__os_listener_t *l, const mproc__os_addr_t *a,
                       int backlog)
{
    struct sockaddr_un sa;
    struct stat st;
    char path[MPROC__OS_ADDR_MAX];
    int rc = absolute_path(a->host, path, sizeof path), err;
    if (rc == 0)
        rc = unix_addr(path, &sa);
    if (rc != 0)
        return rc;
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (l->fd < 0)
        return mproc__unix_error(errno, "cannot create a socket");
    if (bind(l->fd, (struct sockaddr *) &sa, sizeof sa) < 0) {
        err = errno;
        close(l->fd);
        if (err == EADDRINUSE)
            return mproc__set_error(
                MPROC_EADDRINUSE,
                "the address %s is in use: the path exists (a listener that "
                "died leaves its socket behind; remove it)",
                path);
        if (err == ENOENT || err == ENOTDIR)
            return mproc__set_error(MPROC_EBADADDR,
                                    "cannot bind %s: its directory does not "
                                    "exist",
                                    path);
        return mproc__unix_error(err, "cannot bind a Unix socket");
    }
    /*
     * From here on the file is ours: remember which it is, so that closing
     * removes it and not a later listener's that took the path.
     */
    memcpy(l->address, path, strlen(path) + 1);
    l->owner = getpid();
    if (stat(path, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    if (listen(l->fd, backlog) < 0) {
        rc = mproc__unix_error(errno, "cannot listen on a Unix socket");
        close(l->fd);
        unlink(path);
        return rc;
    }
    return 0;
}

static int listen_fresh(mproc__os_listener_t *l, int backlog)
{
    mproc__os_fd_t fd;
    struct stat st;
    int rc = mproc__os_local_listen("mproc-listener", 0, &fd, l->address,
                                    sizeof l->address);
    if (rc != 0)
        return rc;
    l->fd = (int) fd;
    l->owner = getpid();
    if (stat(l->address, &st) == 0) {
        l->dev = st.st_dev;
        l->ino = st.st_ino;
    }
    /* Listening again only changes the backlog. */
    rc = listen(l->fd, backlog) < 0
             ? mproc__unix_error(errno, "cannot listen on a Unix socket")
             : set_blocking(l->fd, 0);
    if (rc != 0) {
        close(l->fd);
        mproc__os_local_remove(l->address);
    }
    return rc;
}

static int listen_tcp(mproc__os_listener_t *l, const mproc__os_addr_t *a,
                      int backlog)
{
    struct addrinfo *list, *p;
    struct sockaddr_storage ss;
    socklen_t slen = sizeof ss;
    int rc = resolve(a, 1, &list), err = 0, on = 1;
    if (rc != 0)
        return rc;
    l->fd = -1;
    for (p = list; p != NULL; p = p->ai_next) {
        int fd =
            socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                   p->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        /*
         * As Python's Listener: a port whose last connections linger in
         * TIME_WAIT can be bound again at once; a port another socket
         * listens on still cannot.
         */
        (void) setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
        /*
         * An IPv6 address takes IPv6 clients only, as on Windows, whatever
         * the system's default (Linux's bindv6only is 0): "[::]:port" and
         * ":port" are two listeners, each of its family.
         */
        if (p->ai_family == AF_INET6 &&
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on) < 0) {
            err = errno;
            close(fd);
            continue;
        }
        if (bind(fd, p->ai_addr, p->ai_addrlen) == 0 &&
            listen(fd, backlog) == 0) {
            l->fd = fd;
            break;
        }
        err = errno;
        close(fd);
        /* A taken port is the answer; another family would mislead. */
        if (err == EADDRINUSE)
            break;
    }
    freeaddrinfo(list);
    if (l->fd < 0) {
        if (err == EADDRINUSE)
            return mproc__set_error(MPROC_EADDRINUSE,
                                    "the address %s is in use", a->text);
        if (err == EADDRNOTAVAIL)
            return mproc__set_error(MPROC_EBADADDR,
                                    "cannot bind %s: the host is not an "
                                    "address of this machine",
                                    a->text);
        return mproc__unix_error(err, "cannot listen on a TCP socket");
    }
    if (getsockname(l->fd, (struct sockaddr *) &ss, &slen) < 0) {
        rc = mproc__unix_error(errno, "cannot name a TCP listener");
        close(l->fd);
        return rc;
    }
    format_tcp(&ss, l->address, sizeof l->address);
    return 0;
}

int mproc__os_listen(mproc__os_listener_t **out, const mproc__os_addr_t *a,
                     int backlog)
{
    mproc__os_listener_t *l;
    int rc;
    *out = NULL;
    if (a->kind == MPROC__OS_ADDR_PIPE)
        return pipe_here(a);
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    l->kind = a->kind;
    l->fd = -1;
    if (a->kind == MPROC__OS_ADDR_FRESH)
        rc = listen_fresh(l, backlog);
    else if (a->kind == MPROC__OS_ADDR_UNIX)
        rc = listen_unix(l, a, backlog);
    else
        rc = listen_tcp(l, a, backlog);
    if (rc != 0) {
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

const char *mproc__os_listener_address(const mproc__os_listener_t *l)
{
    return l->address;
}

/*
 * Whether accept() failing with @err leaves the listener as it was: a
 * wake-up another accept beat us to, a client that went away before we
 * took it, or, as accept(2) tells, a network error pending on the new
 * connection that Linux reports through accept. Each costs that client
 * only: wait for the next one.
 */
static int accept_retries(int err)
{
    switch (err) {
    case EAGAIN:
#if EWOULDBLOCK != EAGAIN
    case EWOULDBLOCK:
#endif
    case EINTR:
    case ECONNABORTED:
    case EPROTO:
    case ENETDOWN:
    case ENOPROTOOPT:
    case EHOSTDOWN:
#ifdef ENONET
    case ENONET:
#endif
    case EHOSTUNREACH:
    case EOPNOTSUPP:
    case ENETUNREACH:
        return 1;
    default:
        return 0;
    }
}

int mproc__os_listener_accept(mproc__os_listener_t *l, double timeout,
                              mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    *c = NULL;
    for (;;) {
        int fd, rc = wait_fd(l->fd, POLLIN, left_of(deadline, timeout));
        if (rc != 0)
            return rc;
        fd = accept4(l->fd, NULL, NULL, SOCK_CLOEXEC);
        if (fd >= 0) {
            if (l->kind == MPROC__OS_ADDR_TCP)
                no_delay(fd);
            return mproc__unix_conn_wrap(c, fd);
        }
        if (accept_retries(errno))
            continue;
        return mproc__unix_error(errno, "cannot accept a connection");
    }
}

void mproc__os_listener_close(mproc__os_listener_t *l)
{
    struct stat st;
    if (l == NULL)
        return;
    if (l->fd >= 0)
        close(l->fd);
    if (l->kind != MPROC__OS_ADDR_TCP && l->owner == getpid() &&
        stat(l->address, &st) == 0 && st.st_dev == l->dev &&
        st.st_ino == l->ino) {
        if (l->kind == MPROC__OS_ADDR_FRESH)
            mproc__os_local_remove(l->address);
        else
            unlink(l->address);
    }
    free(l);
}

/* ---- connecting --------------------------------------------------------- */

static int connect_unix(const mproc__os_addr_t *a, double timeout,
                        mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    struct sockaddr_un sa;
    long nap_us = 1000;
    int fd, rc = unix_addr(a->host, &sa);
    if (rc != 0)
        return rc;
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0)
        return mproc__unix_error(errno, "cannot create a socket");
    for (;;) {
        struct timespec ts;
        double left;
        if (connect(fd, (struct sockaddr *) &sa, sizeof sa) == 0)
            break;
        if (errno == EINTR)
            continue;
        if (errno == ENOENT || errno == ECONNREFUSED) {
            int err = errno;
            close(fd);
            return mproc__set_error(MPROC_ENOTFOUND, "nobody listens at %s: %s",
                                    a->host, strerror(err));
        }
        if (errno != EAGAIN) {
            rc = mproc__unix_error(errno, "cannot connect to a Unix socket");
            close(fd);
            return rc;
        }
        /*
         * The listener's backlog is full, and a Unix socket offers nothing
         * to wait on for room: try again after growing naps, until the
         * time runs out.
         */
        left = left_of(deadline, timeout);
        if (left == 0) {
            close(fd);
            return MPROC_ETIMEDOUT;
        }
        if (left > 0 && (double) nap_us / 1e6 > left)
            nap_us = (long) (left * 1e6) + 1;
        ts.tv_sec = nap_us / 1000000;
        ts.tv_nsec = (nap_us % 1000000) * 1000;
        nanosleep(&ts, NULL);
        if (nap_us < 50000)
            nap_us *= 2;
    }
    rc = set_blocking(fd, 1);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    return mproc__unix_conn_wrap(c, fd);
}

/* Connects @fd to @p within @timeout: 0, or the errno of the failure. */
static int connect_one(int fd, const struct addrinfo *p, double timeout,
                       int *timed_out)
{
    int err = 0;
    socklen_t elen = sizeof err;
    *timed_out = 0;
    if (connect(fd, p->ai_addr, p->ai_addrlen) == 0)
        return 0;
    if (errno != EINPROGRESS && errno != EINTR)
        return errno;
    err = wait_fd(fd, POLLOUT, timeout);
    if (err == MPROC_ETIMEDOUT) {
        *timed_out = 1;
        return ETIMEDOUT;
    }
    if (err != 0)
        return EIO;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0)
        return errno;
    return err;
}

static int connect_tcp(const mproc__os_addr_t *a, double timeout,
                       mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    struct addrinfo *list, *p;
    int rc = resolve(a, 0, &list), err = 0, fd = -1, timed_out = 0;
    int refused = 0;
    if (rc != 0)
        return rc;
    for (p = list; p != NULL && !timed_out; p = p->ai_next) {
        fd = socket(p->ai_family, p->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
                    p->ai_protocol);
        if (fd < 0) {
            err = errno;
            continue;
        }
        err = connect_one(fd, p, left_of(deadline, timeout), &timed_out);
        if (err == 0)
            break;
        /* Refused by one address is the answer if no other takes us. */
        refused |= err == ECONNREFUSED;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(list);
    if (fd < 0) {
        if (timed_out)
            return MPROC_ETIMEDOUT;
        if (refused)
            return mproc__set_error(MPROC_ENOTFOUND, "nobody listens at %s: %s",
                                    a->text, strerror(ECONNREFUSED));
        return mproc__unix_error(err, "cannot connect");
    }
    rc = set_blocking(fd, 1);
    if (rc != 0) {
        close(fd);
        return rc;
    }
    no_delay(fd);
    return mproc__unix_conn_wrap(c, fd);
}

int mproc__os_connect(const mproc__os_addr_t *a, double timeout,
                      mproc__os_conn_t **c)
{
    *c = NULL;
    if (a->kind == MPROC__OS_ADDR_PIPE)
        return pipe_here(a);
    if (a->kind == MPROC__OS_ADDR_UNIX)
        return connect_unix(a, timeout, c);
    if (a->kind == MPROC__OS_ADDR_TCP)
        return connect_tcp(a, timeout, c);
    return mproc__set_error(MPROC_EBADADDR,
                            "a client needs the address of a listener");
}

int mproc__os_conn_transferable(const mproc__os_conn_t *c)
{
    /* Every descriptor travels, by inheritance or SCM_RIGHTS. */
    (void) c;
    return 0;
}
