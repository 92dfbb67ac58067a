/*
 * Win32 backend: listeners and clients on named pipes and TCP, the
 * transport of mproc_listener_t and mproc_client_connect().
 *
 * A pipe listener is Python's PipeListener: the name's first instance is
 * made with FILE_FLAG_FIRST_PIPE_INSTANCE (a name that another listener
 * serves is in use), and one instance always waits for the next client in
 * an overlapped ConnectNamedPipe, whose event the accept waits on; the
 * instance a client took becomes the connection, and a new one waits in
 * its place. A client that came and went before it was taken, or a wait
 * that failed, leaves that instance to be disconnected and wait again:
 * the name is never without one, for a client to miss or another program
 * to take. Local clients only (PIPE_REJECT_REMOTE_CLIENTS): TCP is the
 * family for other machines. A client that finds every instance taken
 * waits in WaitNamedPipeW, as Python's PipeClient does.
 *
 * A TCP listener's socket is non-blocking, so that a client which resets
 * between select() and accept() costs a loop, not a hang;
 * SO_EXCLUSIVEADDRUSE keeps another program from binding the same port
 * beside it (Windows would otherwise let it, and share the clients). The
 * sockets of connections are blocking and overlapped, for os_conn.c's
 * WSARecv and WSASend, with TCP_NODELAY for the reason the Unix backend
 * gives.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <winsock2.h>
#include <ws2tcpip.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

#ifndef WSA_FLAG_NO_HANDLE_INHERIT
    #define WSA_FLAG_NO_HANDLE_INHERIT 0x80
#endif

/* Each direction's buffer of a pipe instance, as os_conn.c's pipes. */
#define PIPE_BUFFER 65536

/* What a pipe listener's instance does. */
enum {
    PIPE_IDLE = 0, /* nothing: ConnectNamedPipe is to be asked */
    PIPE_WAITING,  /* in an overlapped ConnectNamedPipe */
    PIPE_CONNECTED /* a client has it */
};

struct mproc__os_listener {
    mproc__os_addr_kind_e kind;
    SOCKET sock;    /* TCP */
    wchar_t *wname; /* a pipe's name */
    HANDLE pending; /* the instance for the next client, or NULL */
    OVERLAPPED ov;  /* its ConnectNamedPipe; manual-reset event */
    int state;      /* of @pending: PIPE_IDLE, _WAITING or _CONNECTED */
    char address[MPROC__OS_ADDR_MAX];
};

/* ---- small helpers ------------------------------------------------------ */

static double left_of(double deadline, double limit)
{
    double left;
    if (limit < 0)
        return -1.0;
    left = deadline - mproc__os_monotonic();
    return left > 0 ? left : 0;
}

static int wsa_error(const char *what)
{
    return mproc__win_error((DWORD) WSAGetLastError(), what);
}

/*
 * Waits at most @timeout seconds (negative: no limit) until @s is readable
 * (@write 0) or writable or failed (@write 1): 0, MPROC_ETIMEDOUT, or an
 * error.
 */
static int wait_socket(SOCKET s, int write, double timeout)
{
    double deadline = mproc__os_monotonic() + timeout;
    for (;;) {
        fd_set r, w, e;
        struct timeval tv, *tvp = NULL;
        int n;
        FD_ZERO(&r);
        FD_ZERO(&w);
        FD_ZERO(&e);
        if (write) {
            FD_SET(s, &w);
            FD_SET(s, &e);
        } else {
            FD_SET(s, &r);
        }
        if (timeout >= 0) {
            double left = left_of(deadline, timeout);
            if (left > 86400.0)
                left = 86400.0;
            tv.tv_sec = (long) left;
            /* Rounded up: a wait rounded down would end early. */
            tv.tv_usec =
                (long) ((left - (double) tv.tv_sec) * 1e6) + (left > 0 ? 1 : 0);
            if (tv.tv_usec >= 1000000) {
                tv.tv_sec++;
                tv.tv_usec -= 1000000;
            }
            tvp = &tv;
        }
        n = select(0, &r, &w, &e, tvp);
        if (n == SOCKET_ERROR)
            return wsa_error("cannot wait for a socket");
        if (n > 0)
            return 0;
        if (timeout >= 0 && mproc__os_monotonic() >= deadline)
            return MPROC_ETIMEDOUT;
    }
}

static int set_blocking(SOCKET s, int blocking)
{
    u_long nb = blocking ? 0 : 1;
    if (ioctlsocket(s, FIONBIO, &nb) != 0)
        return wsa_error("cannot set a socket's blocking mode");
    return 0;
}

/* A socket of @family for overlapped I/O, inherited by no child. */
static SOCKET new_socket(int family)
{
    SOCKET s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                          WSA_FLAG_OVERLAPPED | WSA_FLAG_NO_HANDLE_INHERIT);
    /* Systems before 7 SP1 refuse the flag: ask without it. */
    if (s == INVALID_SOCKET && WSAGetLastError() == WSAEINVAL)
        s = WSASocketW(family, SOCK_STREAM, IPPROTO_TCP, NULL, 0,
                       WSA_FLAG_OVERLAPPED);
    if (s != INVALID_SOCKET)
        SetHandleInformation((HANDLE) s, HANDLE_FLAG_INHERIT, 0);
    return s;
}

/* A connection on the connected socket @s, made ready for os_conn.c. */
static int wrap_socket(SOCKET s, mproc__os_conn_t **c)
{
    int on = 1, rc = set_blocking(s, 1);
    if (rc != 0) {
        closesocket(s);
        return rc;
    }
    SetHandleInformation((HANDLE) s, HANDLE_FLAG_INHERIT, 0);
    /* Only a hint for speed: a socket that refuses still works. */
    (void) setsockopt(s, IPPROTO_TCP, TCP_NODELAY, (const char *) &on,
                      sizeof on);
    return mproc__win_conn_wrap(c, (HANDLE) s, 1);
}

static int unix_here(const mproc__os_addr_t *a)
{
    return mproc__set_error(MPROC_EBADADDR,
                            "'%s' is a Unix socket path, which Windows has "
                            "not; use host:port or \\\\.\\pipe\\name",
                            a->text);
}

/*
 * The addresses of @a (TCP), IPv4 first, as the Unix backend orders them.
 * The caller frees *@list with freeaddrinfo.
 */
static int resolve(const mproc__os_addr_t *a, int passive,
                   struct addrinfo **list)
{
    struct addrinfo hints, *v4 = NULL, **v4_end = &v4, *rest = NULL,
                           **rest_end = &rest, *p, *next;
    char port[16];
    int r = mproc__win_wsa_ready();
    if (r != 0)
        return r;
    memset(&hints, 0, sizeof hints);
    hints.ai_family = a->host[0] == '\0' ? AF_INET : AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_protocol = IPPROTO_TCP;
    hints.ai_flags = AI_NUMERICSERV | (passive ? AI_PASSIVE : 0);
    snprintf(port, sizeof port, "%d", a->port);
    r = getaddrinfo(a->host[0] == '\0' ? NULL : a->host, port, &hints, list);
    if (r != 0) {
        if (r == WSAHOST_NOT_FOUND || r == WSANO_DATA || r == WSATRY_AGAIN ||
            r == WSANO_RECOVERY)
            return mproc__set_error(MPROC_ENOTFOUND,
                                    "cannot find host '%s' of '%s'", a->host,
                                    a->text);
        return mproc__win_error((DWORD) r, "cannot resolve a host");
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

/* ---- named pipes -------------------------------------------------------- */

#ifdef MPROC_TESTING
void (*mproc__win_pipe_instance_hook)(HANDLE instance, const wchar_t *name);
#endif

/*
 * Has @l's instance wait for its next client: an overlapped
 * ConnectNamedPipe, or a client there already. A client that opened the
 * instance and left before it was asked for (ERROR_NO_DATA) costs only
 * itself: the instance is disconnected and asked again.
 */
static int pipe_arm(mproc__os_listener_t *l)
{
    for (;;) {
        DWORD err;
        ResetEvent(l->ov.hEvent);
        {
            HANDLE e = l->ov.hEvent;
            memset(&l->ov, 0, sizeof l->ov);
            l->ov.hEvent = e;
        }
        if (ConnectNamedPipe(l->pending, &l->ov)) {
            l->state = PIPE_CONNECTED;
            return 0;
        }
        err = GetLastError();
        if (err == ERROR_IO_PENDING) {
            l->state = PIPE_WAITING;
            return 0;
        }
        if (err == ERROR_PIPE_CONNECTED) {
            /* A client came between CreateNamedPipe and now. */
            l->state = PIPE_CONNECTED;
            return 0;
        }
        l->state = PIPE_IDLE;
        if (err != ERROR_NO_DATA)
            return mproc__win_error(err, "cannot listen on a pipe");
        if (!DisconnectNamedPipe(l->pending))
            return mproc__win_error(GetLastError(),
                                    "cannot disconnect a pipe's client");
    }
}

/*
 * Makes the next instance of @l's pipe and has it wait for a client.
 * @first: the name's first instance, which fails if the name is served.
 */
static int pipe_instance(mproc__os_listener_t *l, int first)
{
    DWORD err;
    HANDLE h = CreateNamedPipeW(l->wname,
                                PIPE_ACCESS_DUPLEX | FILE_FLAG_OVERLAPPED |
                                    (first ? FILE_FLAG_FIRST_PIPE_INSTANCE : 0),
                                PIPE_TYPE_BYTE | PIPE_READMODE_BYTE |
                                    PIPE_WAIT | PIPE_REJECT_REMOTE_CLIENTS,
                                PIPE_UNLIMITED_INSTANCES, PIPE_BUFFER,
                                PIPE_BUFFER, 0, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        if (first && (err == ERROR_ACCESS_DENIED || err == ERROR_PIPE_BUSY))
            return mproc__set_error(MPROC_EADDRINUSE,
                                    "the pipe %s is in use by another "
                                    "listener",
                                    l->address);
        if (err == ERROR_INVALID_NAME || err == ERROR_BAD_PATHNAME)
            return mproc__set_error(MPROC_EBADADDR,
                                    "'%s' is no pipe name Windows takes",
                                    l->address);
        return mproc__win_error(err, "cannot create a pipe");
    }
#ifdef MPROC_TESTING
    if (mproc__win_pipe_instance_hook != NULL)
        mproc__win_pipe_instance_hook(h, l->wname);
#endif
    l->pending = h;
    /* An instance that cannot wait is kept, and asked again next time. */
    return pipe_arm(l);
}

static int listen_pipe(mproc__os_listener_t *l, const mproc__os_addr_t *a)
{
    int rc;
    if (a->kind == MPROC__OS_ADDR_FRESH) {
        unsigned char rnd[8];
        mproc__random_bytes(rnd, sizeof rnd);
        snprintf(l->address, sizeof l->address,
                 "\\\\.\\pipe\\mproc-%lu-%02x%02x%02x%02x%02x%02x%02x%02x",
                 (unsigned long) GetCurrentProcessId(), rnd[0], rnd[1], rnd[2],
                 rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    } else {
        snprintf(l->address, sizeof l->address, "%s", a->host);
    }
    rc = mproc__win_utf8_to_wide(l->address, &l->wname);
    if (rc != 0)
        return rc;
    l->ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (l->ov.hEvent == NULL)
        return mproc__win_error(GetLastError(), "cannot create an event");
    /*
     * FILE_FLAG_FIRST_PIPE_INSTANCE refuses a name that is served, but not
     * every system enforces it (Wine makes another instance): a name that
     * a wait finds, free or busy, is in use as well.
     */
    if (WaitNamedPipeW(l->wname, 1) || GetLastError() == ERROR_SEM_TIMEOUT)
        return mproc__set_error(MPROC_EADDRINUSE,
                                "the pipe %s is in use by another listener",
                                l->address);
    return pipe_instance(l, 1);
}

static int accept_pipe(mproc__os_listener_t *l, double timeout,
                       mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    for (;;) {
        DWORD done;
        HANDLE h;
        int rc;
        /*
         * An instance that could not be made or asked to wait last time
         * is now.
         */
        if (l->pending == NULL) {
            rc = pipe_instance(l, 0);
            if (rc != 0)
                return rc;
        } else if (l->state == PIPE_IDLE) {
            rc = pipe_arm(l);
            if (rc != 0)
                return rc;
        }
        if (l->state == PIPE_WAITING) {
            rc = mproc__win_wait_handle(l->ov.hEvent,
                                        left_of(deadline, timeout));
            if (rc != 0)
                return rc;
            if (!GetOverlappedResult(l->pending, &l->ov, &done, FALSE)) {
                DWORD err = GetLastError();
                /*
                 * A client that came and went before we took it, or a
                 * wait that was cut short: the same instance serves the
                 * next one, so that the name is never without one (a
                 * client would find no such pipe; another program could
                 * take the name).
                 */
                DisconnectNamedPipe(l->pending);
                l->state = PIPE_IDLE;
                if (err == ERROR_NO_DATA || err == ERROR_BROKEN_PIPE ||
                    err == ERROR_PIPE_NOT_CONNECTED ||
                    err == ERROR_OPERATION_ABORTED)
                    continue;
                return mproc__win_error(err, "cannot accept on a pipe");
            }
        }
        h = l->pending;
        l->pending = NULL;
        l->state = PIPE_IDLE;
        /*
         * The next client's instance, at once, so that it finds one; if
         * that fails, the next accept makes it and reports the failure.
         */
        (void) pipe_instance(l, 0);
        return mproc__win_conn_wrap(c, h, 0);
    }
}

static int connect_pipe(const mproc__os_addr_t *a, double timeout,
                        mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    wchar_t *wname;
    int rc = mproc__win_utf8_to_wide(a->host, &wname);
    if (rc != 0)
        return rc;
    for (;;) {
        /*
         * Identification only: a server that took the name before the
         * listener (or in its place) may learn who we are, but cannot act
         * as us (ImpersonateNamedPipeClient gets no usable token).
         */
        HANDLE h = CreateFileW(wname, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                               OPEN_EXISTING,
                               FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT |
                                   SECURITY_IDENTIFICATION,
                               NULL);
        DWORD err, ms;
        double left;
        if (h != INVALID_HANDLE_VALUE) {
            free(wname);
            return mproc__win_conn_wrap(c, h, 0);
        }
        err = GetLastError();
        if (err == ERROR_FILE_NOT_FOUND || err == ERROR_PATH_NOT_FOUND) {
            free(wname);
            return mproc__set_error(
                MPROC_ENOTFOUND, "nobody listens at %s: no such pipe", a->host);
        }
        if (err == ERROR_INVALID_NAME || err == ERROR_BAD_PATHNAME) {
            free(wname);
            return mproc__set_error(
                MPROC_EBADADDR, "'%s' is no pipe name Windows takes", a->host);
        }
        if (err != ERROR_PIPE_BUSY) {
            free(wname);
            return mproc__win_error(err, "cannot connect to a pipe");
        }
        /* Every instance is taken: wait for the listener to make one. */
        left = left_of(deadline, timeout);
        if (left == 0) {
            free(wname);
            return MPROC_ETIMEDOUT;
        }
        /* In slices, so that the deadline is kept whatever happens. */
        ms = left < 0 || left > 1.0 ? 1000 : (DWORD) (left * 1e3) + 1;
        if (!WaitNamedPipeW(wname, ms)) {
            err = GetLastError();
            if (err == ERROR_FILE_NOT_FOUND) {
                free(wname);
                return mproc__set_error(MPROC_ENOTFOUND,
                                        "nobody listens at %s: the pipe "
                                        "went away",
                                        a->host);
            }
        }
    }
}

/* ---- TCP ---------------------------------------------------------------- */

/* "host:port" of a bound TCP address, numerically. */
static void format_tcp(const struct sockaddr *sa, int len, char *out,
                       size_t cap)
{
    char host[NI_MAXHOST], port[NI_MAXSERV];
    if (getnameinfo(sa, len, host, sizeof host, port, sizeof port,
                    NI_NUMERICHOST | NI_NUMERICSERV) != 0) {
        snprintf(out, cap, "?:0");
        return;
    }
    if (sa->sa_family == AF_INET6)
        snprintf(out, cap, "[%s]:%s", host, port);
    else
        snprintf(out, cap, "%s:%s", host, port);
}

static int listen_tcp(mproc__os_listener_t *l, const mproc__os_addr_t *a,
                      int backlog)
{
    struct addrinfo *list, *p;
    struct sockaddr_storage ss;
    int slen = (int) sizeof ss, rc = resolve(a, 1, &list), on = 1;
    DWORD err = 0;
    if (rc != 0)
        return rc;
    for (p = list; p != NULL; p = p->ai_next) {
        SOCKET s = new_socket(p->ai_family);
        if (s == INVALID_SOCKET) {
            err = (DWORD) WSAGetLastError();
            continue;
        }
        (void) setsockopt(s, SOL_SOCKET, SO_EXCLUSIVEADDRUSE,
                          (const char *) &on, sizeof on);
        /*
         * An IPv6 address takes IPv6 clients only, as the Unix backend
         * sets too: Windows' default, said so that no system differs.
         */
        if (p->ai_family == AF_INET6 &&
            setsockopt(s, IPPROTO_IPV6, IPV6_V6ONLY, (const char *) &on,
                       sizeof on) != 0) {
            err = (DWORD) WSAGetLastError();
            closesocket(s);
            continue;
        }
        if (bind(s, p->ai_addr, (int) p->ai_addrlen) == 0 &&
            listen(s, backlog) == 0) {
            l->sock = s;
            break;
        }
        err = (DWORD) WSAGetLastError();
        closesocket(s);
        if (err == WSAEADDRINUSE || err == WSAEACCES)
            break;
    }
    freeaddrinfo(list);
    if (l->sock == INVALID_SOCKET) {
        /* With SO_EXCLUSIVEADDRUSE a taken port is WSAEACCES. */
        if (err == WSAEADDRINUSE || err == WSAEACCES)
            return mproc__set_error(MPROC_EADDRINUSE,
                                    "the address %s is in use (or reserved)",
                                    a->text);
        if (err == WSAEADDRNOTAVAIL)
            return mproc__set_error(MPROC_EBADADDR,
                                    "cannot bind %s: the host is not an "
                                    "address of this machine",
                                    a->text);
        return mproc__win_error(err, "cannot listen on a TCP socket");
    }
    if (getsockname(l->sock, (struct sockaddr *) &ss, &slen) != 0 ||
        set_blocking(l->sock, 0) != 0) {
        rc = wsa_error("cannot name a TCP listener");
        closesocket(l->sock);
        l->sock = INVALID_SOCKET;
        return rc;
    }
    format_tcp((struct sockaddr *) &ss, slen, l->address, sizeof l->address);
    return 0;
}

static int accept_tcp(mproc__os_listener_t *l, double timeout,
                      mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    for (;;) {
        SOCKET s;
        DWORD err;
        int rc = wait_socket(l->sock, 0, left_of(deadline, timeout));
        if (rc != 0)
            return rc;
        s = accept(l->sock, NULL, NULL);
        if (s != INVALID_SOCKET)
            return wrap_socket(s, c);
        err = (DWORD) WSAGetLastError();
        /* A client that reset before we took it: wait for the next. */
        if (err == WSAEWOULDBLOCK || err == WSAECONNRESET || err == WSAEINTR)
            continue;
        return mproc__win_error(err, "cannot accept a connection");
    }
}

/* Connects @s to @p within @timeout: 0, or the Windows error. */
static DWORD connect_one(SOCKET s, const struct addrinfo *p, double timeout,
                         int *timed_out)
{
    int err = 0, elen = (int) sizeof err, rc;
    *timed_out = 0;
    if (set_blocking(s, 0) != 0)
        return (DWORD) WSAGetLastError();
    if (connect(s, p->ai_addr, (int) p->ai_addrlen) == 0)
        return 0;
    if (WSAGetLastError() != WSAEWOULDBLOCK)
        return (DWORD) WSAGetLastError();
    rc = wait_socket(s, 1, timeout);
    if (rc == MPROC_ETIMEDOUT) {
        *timed_out = 1;
        return WSAETIMEDOUT;
    }
    if (rc != 0)
        return WSAEINVAL;
    if (getsockopt(s, SOL_SOCKET, SO_ERROR, (char *) &err, &elen) != 0)
        return (DWORD) WSAGetLastError();
    return (DWORD) err;
}

static int connect_tcp(const mproc__os_addr_t *a, double timeout,
                       mproc__os_conn_t **c)
{
    double deadline = mproc__os_monotonic() + timeout;
    struct addrinfo *list, *p;
    SOCKET s = INVALID_SOCKET;
    DWORD err = 0;
    int rc = resolve(a, 0, &list), timed_out = 0, refused = 0;
    if (rc != 0)
        return rc;
    for (p = list; p != NULL && !timed_out; p = p->ai_next) {
        s = new_socket(p->ai_family);
        if (s == INVALID_SOCKET) {
            err = (DWORD) WSAGetLastError();
            continue;
        }
        err = connect_one(s, p, left_of(deadline, timeout), &timed_out);
        if (err == 0)
            break;
        refused |= err == WSAECONNREFUSED;
        closesocket(s);
        s = INVALID_SOCKET;
    }
    freeaddrinfo(list);
    if (s == INVALID_SOCKET) {
        if (timed_out)
            return MPROC_ETIMEDOUT;
        if (refused)
            return mproc__set_error(MPROC_ENOTFOUND,
                                    "nobody listens at %s: the connection "
                                    "was refused",
                                    a->text);
        return mproc__win_error(err, "cannot connect");
    }
    return wrap_socket(s, c);
}

/* ---- the contract ------------------------------------------------------- */

int mproc__os_listen(mproc__os_listener_t **out, const mproc__os_addr_t *a,
                     int backlog)
{
    mproc__os_listener_t *l;
    int rc;
    *out = NULL;
    if (a->kind == MPROC__OS_ADDR_UNIX)
        return unix_here(a);
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    l->kind = a->kind;
    l->sock = INVALID_SOCKET;
    if (a->kind == MPROC__OS_ADDR_TCP)
        rc = listen_tcp(l, a, backlog);
    else
        rc = listen_pipe(l, a);
    if (rc != 0) {
        mproc__os_listener_close(l);
        return rc;
    }
    *out = l;
    return 0;
}

const char *mproc__os_listener_address(const mproc__os_listener_t *l)
{
    return l->address;
}

int mproc__os_listener_accept(mproc__os_listener_t *l, double timeout,
                              mproc__os_conn_t **c)
{
    *c = NULL;
    if (l->kind == MPROC__OS_ADDR_TCP)
        return accept_tcp(l, timeout, c);
    return accept_pipe(l, timeout, c);
}

void mproc__os_listener_close(mproc__os_listener_t *l)
{
    if (l == NULL)
        return;
    if (l->sock != INVALID_SOCKET)
        closesocket(l->sock);
    if (l->pending != NULL) {
        DWORD done;
        /* The wait must be over before its OVERLAPPED (l) goes away. */
        if (l->state == PIPE_WAITING) {
            CancelIoEx(l->pending, &l->ov);
            GetOverlappedResult(l->pending, &l->ov, &done, TRUE);
        }
        CloseHandle(l->pending);
    }
    if (l->ov.hEvent != NULL)
        CloseHandle(l->ov.hEvent);
    free(l->wname);
    free(l);
}

int mproc__os_connect(const mproc__os_addr_t *a, double timeout,
                      mproc__os_conn_t **c)
{
    *c = NULL;
    if (a->kind == MPROC__OS_ADDR_UNIX)
        return unix_here(a);
    if (a->kind == MPROC__OS_ADDR_PIPE)
        return connect_pipe(a, timeout, c);
    if (a->kind == MPROC__OS_ADDR_TCP)
        return connect_tcp(a, timeout, c);
    return mproc__set_error(MPROC_EBADADDR,
                            "a client needs the address of a listener");
}
