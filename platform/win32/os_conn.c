/*
 * Win32 backend: the byte streams under connections, and waiting for many
 * of them (and for children) at once.
 *
 * APR leaves this gap: apr_file_pipe_create makes anonymous pipes, which
 * can do no overlapped I/O and are never signalled, so nothing can wait for
 * their data beside a process handle; and APR has no wait over several
 * handles at all. This is Python's design (Lib/multiprocessing/
 * connection.py): a named pipe \\.\pipe\mproc-<pid>-<random> made with
 * FILE_FLAG_FIRST_PIPE_INSTANCE (nobody can have squatted the name) and
 * its other end opened at once with CreateFileW, both for overlapped I/O.
 * Waiting for data is an overlapped read of zero bytes, which completes
 * when data arrives (or the writer goes) and takes nothing from the
 * stream; its event joins WaitForMultipleObjects.
 *
 * A connection may be a TCP socket instead (os_net.c's accepted and
 * connected ones), opened for overlapped I/O as well: it is read and
 * written with WSARecv and WSASend on the same OVERLAPPED pair, and waited
 * for the same way, a zero-byte overlapped WSARecv being its probe (what
 * Python's connection.wait does with ReadFile on a socket's handle).
 *
 * One WaitForMultipleObjects takes at most MAXIMUM_WAIT_OBJECTS (64)
 * handles. Past that, helper threads wait on up to 63 handles each plus an
 * event they share, which the first of them to return sets, so the others
 * and the caller wake too: CPython 3.12's BatchedWaitForMultipleObjects.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <winsock2.h>

#include <process.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

/* The most one ReadFile or WriteFile call is asked to move (a DWORD). */
#define IO_CHUNK ((DWORD) 1 << 30)

/*
 * The pipe's buffer in each direction. A bigger one lets a writer run
 * further ahead of its reader; 64 KiB is what a Unix pipe has.
 */
#define PIPE_BUFFER 65536

/* The handles one helper thread waits on, besides the shared event. */
#define BATCH (MAXIMUM_WAIT_OBJECTS - 1)

struct mproc__os_conn {
    HANDLE h;       /* a pipe, or a SOCKET */
    OVERLAPPED rov; /* reads and probes; manual-reset event */
    OVERLAPPED wov; /* writes; manual-reset event */
    int probing;    /* a probe (a zero-byte read) is in flight */
    int eof;        /* a read saw the end: the peer has gone */
    int is_socket;  /* @h is a TCP socket */
};

/*
 * The errors by which a pipe or a socket says that its other end has gone
 * (a reset or an abort of a socket included: for a reader, the end).
 */
static int is_closed(DWORD err)
{
    return err == ERROR_BROKEN_PIPE || err == ERROR_NO_DATA ||
           err == ERROR_PIPE_NOT_CONNECTED || err == ERROR_HANDLE_EOF ||
           err == WSAECONNRESET || err == WSAECONNABORTED ||
           err == WSAESHUTDOWN || err == WSAENETRESET ||
           err == ERROR_NETNAME_DELETED || err == ERROR_CONNECTION_ABORTED;
}

/* Readies @ov for its next operation; its event stays. */
static void ov_reset(OVERLAPPED *ov)
{
    HANDLE e = ov->hEvent;
    memset(ov, 0, sizeof *ov);
    ov->hEvent = e;
}

/*
 * Completes the overlapped operation that a ReadFile or WriteFile returning
 * @ok started, waiting for it. 0 with *@done, or the Windows error.
 */
static DWORD finish_io(HANDLE h, OVERLAPPED *ov, BOOL ok, DWORD *done)
{
    DWORD err = ok ? 0 : GetLastError();
    *done = 0;
    if (ok || err == ERROR_IO_PENDING) {
        if (GetOverlappedResult(h, ov, done, TRUE))
            return 0;
        err = GetLastError();
    }
    return err;
}

static int conn_new(mproc__os_conn_t **out, HANDLE h)
{
    mproc__os_conn_t *c = calloc(1, sizeof *c);
    DWORD err;
    if (c == NULL) {
        CloseHandle(h);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    c->h = h;
    c->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    c->wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (c->rov.hEvent == NULL || c->wov.hEvent == NULL) {
        err = GetLastError();
        mproc__os_conn_close(c);
        return mproc__win_error(err, "cannot create an event");
    }
    *out = c;
    return 0;
}

/*
 * Completes the overlapped WSARecv or WSASend that returned @r, waiting
 * for it: 0 with *@done, or the Windows error.
 */
static DWORD finish_wsa(SOCKET s, OVERLAPPED *ov, int r, DWORD *done)
{
    DWORD err = r == 0 ? 0 : (DWORD) WSAGetLastError(), flags = 0;
    *done = 0;
    if (err == 0 || err == WSA_IO_PENDING) {
        if (WSAGetOverlappedResult(s, ov, done, TRUE, &flags))
            return 0;
        err = (DWORD) WSAGetLastError();
    }
    return err;
}

int mproc__win_conn_wrap(mproc__os_conn_t **c, HANDLE h, int is_socket)
{
    int rc;
    if (!is_socket)
        return conn_new(c, h);
    /* conn_new would close @h as a file handle on failure: not a socket. */
    *c = calloc(1, sizeof **c);
    if (*c == NULL) {
        closesocket((SOCKET) h);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    (*c)->h = h;
    (*c)->is_socket = 1;
    (*c)->rov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    (*c)->wov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if ((*c)->rov.hEvent == NULL || (*c)->wov.hEvent == NULL) {
        rc = mproc__win_error(GetLastError(), "cannot create an event");
        mproc__os_conn_close(*c);
        *c = NULL;
        return rc;
    }
    return 0;
}

int mproc__os_conn_pair(mproc__os_conn_t **r, mproc__os_conn_t **w, int duplex)
{
    unsigned char rnd[8];
    char name[96];
    wchar_t wname[96];
    HANDLE h1, h2;
    OVERLAPPED ov;
    DWORD err, done;
    size_t i;
    int rc;

    *r = *w = NULL;
    mproc__random_bytes(rnd, sizeof rnd);
    snprintf(name, sizeof name,
             "\\\\.\\pipe\\mproc-%lu-%02x%02x%02x%02x%02x%02x%02x%02x",
             (unsigned long) GetCurrentProcessId(), rnd[0], rnd[1], rnd[2],
             rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    /* The name is ASCII: widening each character is its UTF-16 form. */
    for (i = 0; name[i] != '\0'; i++)
        wname[i] = (wchar_t) name[i];
    wname[i] = L'\0';

    /*
     * The server end reads (and, duplex, writes). Byte mode: the frames
     * delimit the messages themselves. One instance, first of its name,
     * local clients only: nobody else can get in between the two ends.
     * NULL security attributes: neither end is inheritable.
     */
    h1 = CreateNamedPipeW(wname,
                          (duplex ? PIPE_ACCESS_DUPLEX : PIPE_ACCESS_INBOUND) |
                              FILE_FLAG_OVERLAPPED |
                              FILE_FLAG_FIRST_PIPE_INSTANCE,
                          PIPE_TYPE_BYTE | PIPE_READMODE_BYTE | PIPE_WAIT |
                              PIPE_REJECT_REMOTE_CLIENTS,
                          1, PIPE_BUFFER, PIPE_BUFFER, 0, NULL);
    if (h1 == INVALID_HANDLE_VALUE)
        return mproc__win_error(GetLastError(), "cannot create a pipe");
    /* Identification only, as a listener's client: see os_net.c. */
    h2 = CreateFileW(
        wname, duplex ? GENERIC_READ | GENERIC_WRITE : GENERIC_WRITE, 0, NULL,
        OPEN_EXISTING,
        FILE_FLAG_OVERLAPPED | SECURITY_SQOS_PRESENT | SECURITY_IDENTIFICATION,
        NULL);
    if (h2 == INVALID_HANDLE_VALUE) {
        err = GetLastError();
        CloseHandle(h1);
        return mproc__win_error(err, "cannot open a pipe's other end");
    }
    /*
     * The client is connected already, which ConnectNamedPipe reports as
     * ERROR_PIPE_CONNECTED; it is asked all the same, as Python does, for
     * a system that would still be completing the connection.
     */
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (ov.hEvent == NULL) {
        err = GetLastError();
    } else {
        err = finish_io(h1, &ov, ConnectNamedPipe(h1, &ov), &done);
        if (err == ERROR_PIPE_CONNECTED)
            err = 0;
        CloseHandle(ov.hEvent);
    }
    if (err != 0) {
        CloseHandle(h1);
        CloseHandle(h2);
        return mproc__win_error(err, "cannot connect a pipe");
    }
    rc = conn_new(r, h1);
    if (rc != 0) {
        CloseHandle(h2);
        return rc;
    }
    rc = conn_new(w, h2);
    if (rc != 0) {
        mproc__os_conn_close(*r);
        *r = NULL;
    }
    return rc;
}

int mproc__os_conn_read(mproc__os_conn_t *c, void *buf, size_t n, size_t *got)
{
    DWORD want = n > IO_CHUNK ? IO_CHUNK : (DWORD) n, done, err;
    *got = 0;
    if (n == 0 || c->eof)
        return 0;
    if (c->is_socket) {
        WSABUF b;
        DWORD flags = 0;
        b.len = want;
        b.buf = buf;
        ov_reset(&c->rov);
        err = finish_wsa(
            (SOCKET) c->h, &c->rov,
            WSARecv((SOCKET) c->h, &b, 1, NULL, &flags, &c->rov, NULL), &done);
        /* On a socket, unlike a pipe, reading nothing is the end. */
        if (err == 0 && done > 0) {
            *got = done;
            return 0;
        }
        if (err == 0 || is_closed(err)) {
            c->eof = 1;
            return 0;
        }
        return mproc__win_error(err, "cannot read from the connection");
    }
    for (;;) {
        ov_reset(&c->rov);
        err = finish_io(c->h, &c->rov, ReadFile(c->h, buf, want, NULL, &c->rov),
                        &done);
        if (err == 0 || err == ERROR_MORE_DATA) {
            /*
             * A successful read of nothing is a peer's zero-length write,
             * which a byte stream has no place for: read on.
             */
            if (done == 0)
                continue;
            *got = done;
            return 0;
        }
        if (is_closed(err)) {
            c->eof = 1;
            return 0;
        }
        return mproc__win_error(err, "cannot read from the connection");
    }
}

int mproc__os_conn_read_timed(mproc__os_conn_t *c, void *buf, size_t n,
                              size_t *got, double timeout)
{
    double deadline = mproc__os_monotonic() + timeout;
    DWORD want = n > IO_CHUNK ? IO_CHUNK : (DWORD) n, done, err;
    *got = 0;
    if (n == 0 || c->eof)
        return 0;
    if (c->is_socket) {
        /* A socket is readable only with data or its end: read at once. */
        int rc = mproc__os_conn_wait_readable(c, timeout);
        return rc != 0 ? rc : mproc__os_conn_read(c, buf, n, got);
    }
    /*
     * A pipe's readiness cannot promise as much: an empty write completes
     * a probe as data does, and the read after it would wait for ever.
     * So the read itself is timed, and cancelled at the deadline.
     */
    for (;;) {
        double left = deadline - mproc__os_monotonic();
        int rc = 0;
        BOOL ok;
        ov_reset(&c->rov);
        ok = ReadFile(c->h, buf, want, NULL, &c->rov);
        err = ok ? 0 : GetLastError();
        if (err == ERROR_IO_PENDING) {
            rc = mproc__win_wait_handle(c->rov.hEvent, left > 0 ? left : 0);
            if (rc != 0)
                CancelIoEx(c->h, &c->rov);
        } else if (err != 0 && err != ERROR_MORE_DATA) {
            if (is_closed(err)) {
                c->eof = 1;
                return 0;
            }
            return mproc__win_error(err, "cannot read from the connection");
        }
        /* Whatever came before a cancel counts: it left the pipe. */
        err = GetOverlappedResult(c->h, &c->rov, &done, TRUE) ? 0
                                                              : GetLastError();
        if ((err == 0 || err == ERROR_MORE_DATA) && done > 0) {
            *got = done;
            return 0;
        }
        if (is_closed(err)) {
            c->eof = 1;
            return 0;
        }
        if (rc != 0)
            return rc; /* the deadline passed, or the wait failed */
        if (err != 0 && err != ERROR_MORE_DATA)
            return mproc__win_error(err, "cannot read from the connection");
        /* An empty write: nothing yet, wait on to the deadline. */
        if (deadline - mproc__os_monotonic() <= 0)
            return MPROC_ETIMEDOUT;
    }
}

int mproc__os_conn_write(mproc__os_conn_t *c, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        DWORD chunk = n > IO_CHUNK ? IO_CHUNK : (DWORD) n, done, err;
        ov_reset(&c->wov);
        if (c->is_socket) {
            WSABUF b;
            b.len = chunk;
            b.buf = (char *) p;
            err = finish_wsa(
                (SOCKET) c->h, &c->wov,
                WSASend((SOCKET) c->h, &b, 1, NULL, 0, &c->wov, NULL), &done);
        } else {
            err = finish_io(c->h, &c->wov,
                            WriteFile(c->h, p, chunk, NULL, &c->wov), &done);
        }
        if (is_closed(err))
            return mproc__set_error(MPROC_ECLOSED,
                                    "the peer closed the connection");
        if (err != 0)
            return mproc__win_error(err, "cannot write to the connection");
        if (done == 0)
            return mproc__set_error(MPROC_EOS,
                                    "write failed: the pipe took no data");
        p += done;
        n -= done;
    }
    return 0;
}

void mproc__os_conn_close(mproc__os_conn_t *c)
{
    if (c == NULL)
        return;
    if (c->probing) {
        DWORD done;
        /* The read must be over before its buffer (c) goes away. */
        CancelIoEx(c->h, &c->rov);
        GetOverlappedResult(c->h, &c->rov, &done, TRUE);
    }
    if (c->is_socket)
        closesocket((SOCKET) c->h);
    else if (c->h != NULL && c->h != INVALID_HANDLE_VALUE)
        CloseHandle(c->h);
    if (c->rov.hEvent != NULL)
        CloseHandle(c->rov.hEvent);
    if (c->wov.hEvent != NULL)
        CloseHandle(c->wov.hEvent);
    free(c);
}

int mproc__os_conn_transferable(const mproc__os_conn_t *c)
{
    if (c->is_socket)
        return mproc__set_error(MPROC_ENOTSUP,
                                "a TCP connection cannot be handed to another "
                                "process on Windows (a socket moves only by "
                                "WSADuplicateSocketW, made for a receiver "
                                "known in advance, and a connection's "
                                "reference is made before its taker is "
                                "known); connect from that process instead, "
                                "or use a pipe's address");
    return 0;
}

size_t mproc__os_conn_capacity(mproc__os_conn_t *c, size_t want)
{
    /* Both ends of every pipe are made with this buffer each way. */
    (void) c, (void) want;
    return PIPE_BUFFER;
}

int mproc__os_conn_handles(const mproc__os_conn_t *c, mproc__os_fd_t out[2])
{
    /* A named pipe end reads and writes through one handle. */
    out[0] = (mproc__os_fd_t) c->h;
    out[1] = MPROC__OS_FD_INVALID;
    return 1;
}

int mproc__os_conn_adopt(mproc__os_conn_t **c, mproc__os_fd_t h,
                         mproc__os_fd_t h2)
{
    HANDLE hh = (HANDLE) h;
    *c = NULL;
    if (h2 != MPROC__OS_FD_INVALID)
        return mproc__set_error(MPROC_EINVAL,
                                "a Windows connection has one handle");
    if (h == 0 || h == MPROC__OS_FD_INVALID ||
        GetFileType(hh) != FILE_TYPE_PIPE)
        return mproc__set_error(MPROC_EINVAL,
                                "handle %lld is not a pipe of this process",
                                (long long) h);
    /*
     * It was inherited, so it is inheritable: a process this child starts
     * with another API than mproc's must not get it.
     */
    if (!SetHandleInformation(hh, HANDLE_FLAG_INHERIT, 0))
        return mproc__win_error(GetLastError(),
                                "cannot make a handle non-inheritable");
    return conn_new(c, hh);
}

/* ---- waiting ---------------------------------------------------------- */

/*
 * Whether a read of @c would return at once, without touching the stream:
 * 1 or 0. A pipe whose writer has gone is ready too; the read that
 * follows says whether data was still left.
 */
static int ready_now(mproc__os_conn_t *c)
{
    DWORD avail = 0, err;
    if (c->eof)
        return 1;
    if (c->is_socket) {
        /* Readable: data, the end of the stream, or a reset. */
        fd_set r;
        struct timeval none = {0, 0};
        int n;
        FD_ZERO(&r);
        FD_SET((SOCKET) c->h, &r);
        n = select(0, &r, NULL, NULL, &none);
        if (n == SOCKET_ERROR)
            return mproc__win_error((DWORD) WSAGetLastError(),
                                    "cannot look into a socket");
        return n > 0;
    }
    if (PeekNamedPipe(c->h, NULL, 0, NULL, &avail, NULL))
        return avail > 0;
    err = GetLastError();
    if (is_closed(err))
        return 1;
    return mproc__win_error(err, "cannot look into a pipe");
}

/*
 * Starts a probe: an overlapped read of zero bytes. 1 if it finished at
 * once (data, or the end, is there), 0 while it is in flight (the read
 * event is signalled when it finishes), or an error status.
 */
static int probe_start(mproc__os_conn_t *c)
{
    static char none;
    DWORD err;
    ov_reset(&c->rov);
    if (c->is_socket) {
        /*
         * A zero-byte receive completes when data (or the end) arrives,
         * and takes nothing from the stream.
         */
        WSABUF b;
        DWORD flags = 0;
        b.len = 0;
        b.buf = &none;
        if (WSARecv((SOCKET) c->h, &b, 1, NULL, &flags, &c->rov, NULL) == 0)
            return 1;
        err = (DWORD) WSAGetLastError();
        if (err == WSA_IO_PENDING) {
            c->probing = 1;
            return 0;
        }
        if (is_closed(err))
            return 1;
        return mproc__win_error(err, "cannot wait for a socket");
    }
    if (ReadFile(c->h, &none, 0, NULL, &c->rov))
        return 1;
    err = GetLastError();
    if (err == ERROR_IO_PENDING) {
        c->probing = 1;
        return 0;
    }
    if (err == ERROR_MORE_DATA || is_closed(err))
        return 1;
    return mproc__win_error(err, "cannot wait for a pipe");
}

/*
 * Ends the probe in flight, if any: cancelled if it has not finished.
 * 1 if @c is ready, 0 if not, or an error status.
 */
static int probe_finish(mproc__os_conn_t *c)
{
    DWORD done = 0, err;
    if (!c->probing)
        return 0;
    c->probing = 0;
    if (WaitForSingleObject(c->rov.hEvent, 0) != WAIT_OBJECT_0)
        CancelIoEx(c->h, &c->rov);
    if (c->is_socket) {
        DWORD flags = 0;
        if (WSAGetOverlappedResult((SOCKET) c->h, &c->rov, &done, TRUE, &flags))
            return 1;
        err = (DWORD) WSAGetLastError();
    } else {
        if (GetOverlappedResult(c->h, &c->rov, &done, TRUE))
            return 1;
        err = GetLastError();
    }
    if (err == ERROR_OPERATION_ABORTED)
        return 0;
    if (err == ERROR_MORE_DATA || is_closed(err))
        return 1;
    return mproc__win_error(err, "cannot wait for a pipe");
}

/* Whether @h is signalled now: 1 or 0. */
static int signalled(HANDLE h)
{
    DWORD r = WaitForSingleObject(h, 0);
    if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED)
        return 1;
    if (r == WAIT_FAILED)
        return mproc__win_error(GetLastError(), "wait failed");
    return 0;
}

/* Waits for any of at most MAXIMUM_WAIT_OBJECTS handles: 0, ETIMEDOUT. */
static int wait_direct(const HANDLE *h, DWORD n, double timeout)
{
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    for (;;) {
        DWORD ms = timeout < 0    ? INFINITE
                   : timeout == 0 ? 0
                                  : mproc__win_ms_left(deadline);
        DWORD r = WaitForMultipleObjects(n, h, FALSE, ms);
        if (r < WAIT_OBJECT_0 + n ||
            (r >= WAIT_ABANDONED_0 && r < WAIT_ABANDONED_0 + n))
            return 0;
        if (r == WAIT_FAILED)
            return mproc__win_error(GetLastError(), "wait failed");
        /* The system may end a wait a tick early: go on to the deadline. */
        if (ms == 0)
            return MPROC_ETIMEDOUT;
    }
}

/* One helper thread's share of a batched wait. */
struct batch {
    HANDLE h[MAXIMUM_WAIT_OBJECTS]; /* up to BATCH handles, then the event */
    DWORD n;                        /* handles before the event */
    DWORD err;                      /* the wait's error, 0 if none */
    HANDLE thread;
};

static unsigned __stdcall batch_main(void *arg)
{
    struct batch *b = arg;
    if (WaitForMultipleObjects(b->n + 1, b->h, FALSE, INFINITE) == WAIT_FAILED)
        b->err = GetLastError();
    /* Something is ready (or broken): wake the caller and the others. */
    SetEvent(b->h[b->n]);
    return 0;
}

/* Waits for any of @n handles, however many, with helper threads. */
static int wait_batched(const HANDLE *h, size_t n, double timeout)
{
    size_t nb = (n + BATCH - 1) / BATCH, started = 0, i;
    struct batch *b;
    HANDLE any;
    DWORD err = 0;
    int rc = 0;

    b = calloc(nb, sizeof *b);
    if (b == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    any = CreateEventW(NULL, TRUE, FALSE, NULL);
    if (any == NULL) {
        err = GetLastError();
        free(b);
        return mproc__win_error(err, "cannot create an event");
    }
    for (; started < nb; started++) {
        struct batch *x = &b[started];
        size_t first = started * BATCH;
        x->n = (DWORD) (n - first < BATCH ? n - first : BATCH);
        memcpy(x->h, h + first, x->n * sizeof(HANDLE));
        x->h[x->n] = any;
        /* A small stack: the thread only waits. */
        x->thread =
            (HANDLE) _beginthreadex(NULL, 65536, batch_main, x, 0, NULL);
        if (x->thread == NULL) {
            rc = mproc__set_error(MPROC_EOS,
                                  "cannot start a thread to wait with");
            break;
        }
    }
    if (rc == 0)
        rc = mproc__win_wait_handle(any, timeout);
    /* Whatever ended the wait, every helper stops now and is joined. */
    SetEvent(any);
    for (i = 0; i < started; i++) {
        WaitForSingleObject(b[i].thread, INFINITE);
        CloseHandle(b[i].thread);
        if (b[i].err != 0 && err == 0)
            err = b[i].err;
    }
    CloseHandle(any);
    free(b);
    if (err != 0 && (rc == 0 || rc == MPROC_ETIMEDOUT))
        rc = mproc__win_error(err, "wait failed");
    return rc;
}

static int wait_any(const HANDLE *h, size_t n, double timeout)
{
    if (n <= MAXIMUM_WAIT_OBJECTS)
        return wait_direct(h, (DWORD) n, timeout);
    return wait_batched(h, n, timeout);
}

int mproc__os_wait_many(mproc__os_wait_item_t *items, size_t n, double timeout)
{
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    HANDLE *handles;
    size_t i, k;
    int count, rc;

    handles = malloc((n ? n : 1) * sizeof *handles);
    if (handles == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    for (;;) {
        double left;
        int waited = 0;
        /* What is ready already needs no probe and no thread. */
        count = 0;
        for (i = 0; i < n; i++) {
            rc = items[i].conn != NULL ? ready_now(items[i].conn)
                                       : signalled((HANDLE) items[i].handle);
            if (rc < 0)
                goto out;
            items[i].ready = rc;
            count += rc;
        }
        if (count > 0 || timeout == 0) {
            rc = count;
            goto out;
        }
        rc = 0;
        for (i = k = 0; i < n && rc == 0; i++) {
            if (items[i].conn == NULL) {
                handles[k++] = (HANDLE) items[i].handle;
                continue;
            }
            rc = probe_start(items[i].conn);
            if (rc == 0)
                handles[k++] = items[i].conn->rov.hEvent;
            else if (rc == 1)
                items[i].ready = 1;
        }
        /* rc 1: a probe found data at once; nothing to wait for then. */
        if (rc == 0) {
            left = timeout < 0 ? -1.0 : deadline - mproc__os_monotonic();
            if (timeout > 0 && left < 0)
                left = 0;
            rc = wait_any(handles, k, left);
            waited = 1;
        }
        /*
         * Every probe in flight is settled before anything returns: its
         * OVERLAPPED and event belong to the connection, whose next read
         * reuses them.
         */
        count = 0;
        for (i = 0; i < n; i++) {
            int r;
            if (items[i].conn == NULL)
                r = signalled((HANDLE) items[i].handle);
            else if (items[i].ready)
                r = 1; /* its probe finished at once */
            else
                r = probe_finish(items[i].conn);
            if (r < 0) {
                if (rc >= 0 || rc == MPROC_ETIMEDOUT)
                    rc = r;
                continue;
            }
            items[i].ready = r;
            count += r;
        }
        if (rc < 0 && rc != MPROC_ETIMEDOUT)
            goto out;
        if (count > 0) {
            rc = count;
            goto out;
        }
        if (waited && rc == MPROC_ETIMEDOUT) {
            rc = 0;
            goto out;
        }
        /* Woken, but nothing is ready after all: wait for the rest. */
    }
out:
    free(handles);
    return rc;
}

int mproc__os_conn_wait_readable(mproc__os_conn_t *c, double timeout)
{
    mproc__os_wait_item_t item;
    int rc;
    item.conn = c;
    item.handle = MPROC__OS_FD_INVALID;
    item.ready = 0;
    rc = mproc__os_wait_many(&item, 1, timeout);
    if (rc < 0)
        return rc;
    return rc > 0 ? 0 : MPROC_ETIMEDOUT;
}

/* ---- handing handles to a running process ------------------------------
 */

/*
 * A blob: 4 bytes of tag ("mphF" a file handle, "mphS" a socket), then the
 * handle's value in the target (8 bytes, little-endian) or the target's
 * WSAPROTOCOL_INFOW.
 */
#define BLOB_TAG_SIZE 4
typedef char blob_fits[BLOB_TAG_SIZE + sizeof(WSAPROTOCOL_INFOW) <=
                               MPROC__OS_HANDLE_BLOB_SIZE
                           ? 1
                           : -1];

static INIT_ONCE wsa_once = INIT_ONCE_STATIC_INIT;
static int wsa_status;

static BOOL CALLBACK wsa_start(PINIT_ONCE once, PVOID arg, PVOID *ctx)
{
    WSADATA data;
    int err = WSAStartup(MAKEWORD(2, 2), &data);
    (void) once, (void) arg, (void) ctx;
    /* Never cleaned up: sockets may live until the process ends. */
    wsa_status =
        err != 0 ? mproc__win_error((DWORD) err, "cannot start Windows sockets")
                 : 0;
    return TRUE;
}

int mproc__win_wsa_ready(void)
{
    InitOnceExecuteOnce(&wsa_once, wsa_start, NULL, NULL);
    return wsa_status;
}

static int open_target(long pid, HANDLE *process)
{
    *process = OpenProcess(PROCESS_DUP_HANDLE, FALSE, (DWORD) pid);
    if (*process == NULL)
        return mproc__win_error(GetLastError(), "cannot open the process to "
                                                "hand a handle to");
    return 0;
}

int mproc__os_send_handles(mproc__os_fd_t sock, char tag,
                           const mproc__os_handle_t *h, size_t n)
{
    (void) sock, (void) tag, (void) h, (void) n;
    return mproc__set_error(MPROC_ENOTSUP,
                            "Windows hands handles over by process id, not "
                            "over a Unix socket");
}

int mproc__os_recv_handles(mproc__os_fd_t sock, char *tag,
                           mproc__os_handle_t *h, size_t cap, size_t *n)
{
    (void) sock, (void) tag, (void) h, (void) cap;
    *n = 0;
    return mproc__set_error(MPROC_ENOTSUP,
                            "Windows hands handles over by process id, not "
                            "over a Unix socket");
}

int mproc__os_handle_export(const mproc__os_handle_t *h, long pid, void *blob,
                            size_t *len)
{
    unsigned char *b = blob;
    HANDLE process, theirs;
    uint64_t v;
    int i, rc;

    if (h->kind == MPROC__OS_HANDLE_SOCKET) {
        WSAPROTOCOL_INFOW info;
        rc = mproc__win_wsa_ready();
        if (rc != 0)
            return rc;
        if (WSADuplicateSocketW((SOCKET) h->h, (DWORD) pid, &info) != 0)
            return mproc__win_error((DWORD) WSAGetLastError(),
                                    "cannot duplicate a socket for another "
                                    "process");
        memcpy(b, "mphS", BLOB_TAG_SIZE);
        memcpy(b + BLOB_TAG_SIZE, &info, sizeof info);
        *len = BLOB_TAG_SIZE + sizeof info;
        return 0;
    }
    if (h->kind != MPROC__OS_HANDLE_FILE)
        return mproc__set_error(MPROC_EINVAL, "unknown kind of handle %d",
                                (int) h->kind);
    rc = open_target(pid, &process);
    if (rc != 0)
        return rc;
    if (!DuplicateHandle(GetCurrentProcess(), (HANDLE) h->h, process, &theirs,
                         0, FALSE, DUPLICATE_SAME_ACCESS)) {
        rc = mproc__win_error(GetLastError(),
                              "cannot duplicate a handle into another process");
        CloseHandle(process);
        return rc;
    }
    CloseHandle(process);
    memcpy(b, "mphF", BLOB_TAG_SIZE);
    v = (uint64_t) (uintptr_t) theirs;
    for (i = 0; i < 8; i++)
        b[BLOB_TAG_SIZE + i] = (unsigned char) (v >> (8 * i));
    *len = BLOB_TAG_SIZE + 8;
    return 0;
}

int mproc__os_handle_import(const void *blob, size_t len, mproc__os_handle_t *h)
{
    const unsigned char *b = blob;
    uint64_t v = 0;
    int i, rc;

    if (len == BLOB_TAG_SIZE + sizeof(WSAPROTOCOL_INFOW) &&
        memcmp(b, "mphS", BLOB_TAG_SIZE) == 0) {
        WSAPROTOCOL_INFOW info;
        SOCKET s;
        rc = mproc__win_wsa_ready();
        if (rc != 0)
            return rc;
        memcpy(&info, b + BLOB_TAG_SIZE, sizeof info);
        s = WSASocketW(FROM_PROTOCOL_INFO, FROM_PROTOCOL_INFO,
                       FROM_PROTOCOL_INFO, &info, 0, WSA_FLAG_OVERLAPPED);
        if (s == INVALID_SOCKET)
            return mproc__win_error((DWORD) WSAGetLastError(),
                                    "cannot rebuild a socket handed over");
        /* A spawned child must not inherit it unless passed explicitly. */
        SetHandleInformation((HANDLE) s, HANDLE_FLAG_INHERIT, 0);
        h->h = (mproc__os_fd_t) s;
        h->kind = MPROC__OS_HANDLE_SOCKET;
        return 0;
    }
    if (len == BLOB_TAG_SIZE + 8 && memcmp(b, "mphF", BLOB_TAG_SIZE) == 0) {
        for (i = 7; i >= 0; i--)
            v = (v << 8) | b[BLOB_TAG_SIZE + i];
        h->h = (mproc__os_fd_t) (uintptr_t) v;
        h->kind = MPROC__OS_HANDLE_FILE;
        return 0;
    }
    return mproc__set_error(MPROC_ECORRUPT,
                            "%lu bytes that are no exported handle",
                            (unsigned long) len);
}

int mproc__os_handle_dup_from(long pid, mproc__os_fd_t theirs, int close_theirs,
                              mproc__os_fd_t *ours)
{
    HANDLE process, h;
    int rc = open_target(pid, &process);
    if (rc != 0)
        return rc;
    if (!DuplicateHandle(process, (HANDLE) theirs, GetCurrentProcess(), &h, 0,
                         FALSE,
                         DUPLICATE_SAME_ACCESS |
                             (close_theirs ? DUPLICATE_CLOSE_SOURCE : 0))) {
        rc = mproc__win_error(GetLastError(),
                              "cannot copy a handle out of another process");
        CloseHandle(process);
        return rc;
    }
    CloseHandle(process);
    *ours = (mproc__os_fd_t) h;
    return 0;
}

int mproc__os_dup(mproc__os_fd_t h, mproc__os_fd_t *copy)
{
    HANDLE out;
    if (!DuplicateHandle(GetCurrentProcess(), (HANDLE) h, GetCurrentProcess(),
                         &out, 0, FALSE, DUPLICATE_SAME_ACCESS))
        return mproc__win_error(GetLastError(), "cannot duplicate a handle");
    *copy = (mproc__os_fd_t) out;
    return 0;
}

void mproc__os_handle_close(const mproc__os_handle_t *h)
{
    if (h->h == MPROC__OS_FD_INVALID)
        return;
    if (h->kind == MPROC__OS_HANDLE_SOCKET)
        closesocket((SOCKET) h->h);
    else
        CloseHandle((HANDLE) h->h);
}

/* ---- local listeners ---------------------------------------------------- */

static int no_local_listener(void)
{
    return mproc__set_error(MPROC_ENOTSUP,
                            "local listeners are Unix sockets, which this "
                            "backend does not use");
}

int mproc__os_local_listen(const char *prefix, int packets,
                           mproc__os_fd_t *listener, char *path, size_t cap)
{
    (void) prefix, (void) packets, (void) listener, (void) path, (void) cap;
    return no_local_listener();
}

int mproc__os_local_accept(mproc__os_fd_t listener, mproc__os_fd_t *conn)
{
    (void) listener, (void) conn;
    return no_local_listener();
}

int mproc__os_local_connect(const char *path, int packets, mproc__os_fd_t *conn)
{
    (void) path, (void) packets, (void) conn;
    return no_local_listener();
}

int mproc__os_local_path(mproc__os_fd_t listener, char *path, size_t cap)
{
    (void) listener, (void) path, (void) cap;
    return no_local_listener();
}

int mproc__os_recv_packet(mproc__os_fd_t sock, void *buf, size_t cap, size_t *n)
{
    (void) sock, (void) buf, (void) cap;
    *n = 0;
    return no_local_listener();
}

void mproc__os_local_remove(const char *path)
{
    (void) path;
}

int mproc__os_local_leftover_remove(const char *path)
{
    (void) path;
    return no_local_listener();
}
