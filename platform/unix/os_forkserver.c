/*
 * Unix backend: the forkserver.
 *
 * APR has no notion of a fork server, of descriptor passing or of Unix
 * socket listeners in a private directory, so the whole mechanism lives
 * here. The design is Python's (Lib/multiprocessing/forkserver.py, 3.14):
 *
 * - The server is spawned on first use, so it is as fresh as a spawned
 *   child. It gets a listening Unix socket (in a 0700 directory of its
 *   own) and the read end of a pipe; the client writes the 32-byte authkey
 *   and the socket's path into the pipe and keeps the write end: EOF on it
 *   means every client has gone, and the server exits.
 * - Each request is a connection that passes the mutual HMAC challenge,
 *   then sends the child's bootstrap frame. The server forks; the child
 *   runs the frame. The server writes the child's pid (8 bytes, LE) on the
 *   connection and, when the child has ended, its exit code (8 bytes, LE).
 *   The client keeps the connection as the child's sentinel.
 * - The server is single-threaded, so fork is safe in it; SIGCHLD reaches
 *   its poll loop through a self-pipe.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mproc_private.h"

/* How long a connecting client may take to authenticate and send. */
#define REQUEST_TIMEOUT_SEC 5

/* The client's view of its server. */
static struct {
    struct mproc__os_child *server;
    int alive_w; /* EOF on its reader stops the server */
    char path[sizeof(((struct sockaddr_un *) 0)->sun_path)];
    unsigned char key[MPROC__AUTHKEY_SIZE];
} fs = {NULL, -1, "", {0}};

/* ---- client ---------------------------------------------------------- */

static int start_server(void)
{
    char path[sizeof fs.path];
    unsigned char hello[MPROC__AUTHKEY_SIZE + 4 + sizeof fs.path];
    const char *args[] = {MPROC__FORKSERVER_MARKER, "3", "4", NULL};
    int alive[2] = {-1, -1}, fds[2];
    mproc__os_fd_t listener;
    size_t plen;
    int rc;

    rc = mproc__os_local_listen("mproc-fs", 0, &listener, path, sizeof path);
    if (rc != 0)
        return rc;
    plen = strlen(path);
    if (pipe2(alive, O_CLOEXEC) < 0) {
        rc = mproc__unix_error(errno, "cannot set up the forkserver's pipe");
        goto fail;
    }
    mproc__random_bytes(fs.key, sizeof fs.key);
    fds[0] = alive[0];
    fds[1] = (int) listener;
    rc = mproc__unix_spawn_self(&fs.server, args, fds, 2);
    if (rc != 0)
        goto fail;
    close(alive[0]);
    close((int) listener);
    /* The key travels on a pipe only the server holds, never in argv. */
    memcpy(hello, fs.key, sizeof fs.key);
    mproc__put_u32(hello + sizeof fs.key, (uint32_t) plen);
    memcpy(hello + sizeof fs.key + 4, path, plen);
    rc = mproc__os_write_all(alive[1], hello, sizeof fs.key + 4 + plen);
    if (rc != 0) {
        close(alive[1]);
        mproc__os_child_kill(fs.server);
        mproc__os_child_free(fs.server);
        fs.server = NULL;
        return rc;
    }
    fs.alive_w = alive[1];
    memcpy(fs.path, path, sizeof path);
    return 0;

fail:
    close((int) listener);
    if (alive[0] >= 0) {
        close(alive[0]);
        close(alive[1]);
    }
    mproc__os_local_remove(path);
    return rc;
}

static int ensure_server(void)
{
    int code;
    if (fs.server != NULL) {
        if (mproc__os_child_wait(fs.server, 0, &code) == MPROC_ETIMEDOUT)
            return 0;
        /* The server died (killed, say): start a new one. */
        mproc_log(MPROC_LOG_WARNING,
                  "forkserver ended with exit code %d; starting a new one",
                  code);
        mproc__os_child_free(fs.server);
        fs.server = NULL;
        close(fs.alive_w);
        fs.alive_w = -1;
    }
    return start_server();
}

int mproc__unix_forkserver_connect(const unsigned char *key, int *conn)
{
    mproc__os_fd_t fd;
    int rc = mproc__os_local_connect(fs.path, 0, &fd);
    if (rc != 0)
        return rc;
    rc = mproc__auth_client(fd, key != NULL ? key : fs.key);
    if (rc != 0) {
        close((int) fd);
        return rc;
    }
    *conn = (int) fd;
    return 0;
}

int mproc__unix_forkserver_ensure(void)
{
    return ensure_server();
}

long mproc__unix_forkserver_pid(void)
{
    return fs.server != NULL ? (long) fs.server->pid : 0;
}

const char *mproc__unix_forkserver_path(void)
{
    return fs.server != NULL ? fs.path : NULL;
}

/*
 * Hands our stdout and stderr to the server for the child, and after them
 * the connections the child gets as start arguments: a forkserver child
 * writes where its parent writes now, as a spawned child does, not where
 * the server's were when it started. One message carries them all, so the
 * server sees them together or not at all.
 */
static int send_fds(int conn, const mproc__os_fd_t *pass, size_t npass)
{
    mproc__os_handle_t h[2 + MPROC__OS_MAX_PASS];
    size_t i;
    h[0].h = STDOUT_FILENO;
    h[1].h = STDERR_FILENO;
    for (i = 0; i < npass; i++)
        h[2 + i].h = pass[i];
    for (i = 0; i < 2 + npass; i++)
        h[i].kind = MPROC__OS_HANDLE_FILE;
    return mproc__os_send_handles(conn, 'S', h, 2 + npass);
}

/*
 * The server's side of send_fds: stdout, stderr and the passed
 * connections, close-on-exec, in *@fds; *@n is their number (2 or more).
 */
static int recv_fds(int conn, int *fds, size_t *n)
{
    mproc__os_handle_t h[2 + MPROC__OS_MAX_PASS];
    size_t got, i;
    char tag;
    int rc =
        mproc__os_recv_handles(conn, &tag, h, 2 + MPROC__OS_MAX_PASS, &got);
    if (rc != 0)
        return rc;
    /* What did arrive is ours to close, even when the request is refused. */
    if (got < 2 || tag != 'S') {
        for (i = 0; i < got; i++)
            mproc__os_handle_close(&h[i]);
        return mproc__set_error(MPROC_ECORRUPT, "no stdio in the request");
    }
    for (i = 0; i < got; i++)
        fds[i] = (int) h[i].h;
    *n = got;
    return 0;
}

int mproc__os_forkserver_child(mproc__os_child_t **child, const void *frame,
                               size_t len, const mproc__os_fd_t *pass,
                               size_t npass)
{
    unsigned char pidbuf[8];
    int conn = -1, rc;
    if (npass > MPROC__OS_MAX_PASS)
        return mproc__set_error(MPROC_EINVAL,
                                "at most %d connections can be handed to "
                                "one child",
                                MPROC__OS_MAX_PASS);
    rc = ensure_server();
    if (rc != 0)
        return rc;
    rc = mproc__unix_forkserver_connect(NULL, &conn);
    if (rc == 0)
        rc = send_fds(conn, pass, npass);
    if (rc == 0)
        rc = mproc__os_write_all(conn, frame, len);
    if (rc == 0) {
        rc = mproc__read_exact(conn, pidbuf, sizeof pidbuf);
        if (rc != 0)
            rc = mproc__set_error(MPROC_EOS,
                                  "the forkserver could not start the child");
    }
    if (rc != 0) {
        if (conn >= 0)
            close(conn);
        return rc;
    }
    *child = mproc__unix_child_new((pid_t) mproc__get_i64(pidbuf), conn);
    if (*child == NULL) {
        close(conn);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    return 0;
}

/* ---- server ---------------------------------------------------------- */

typedef struct waiting_child {
    pid_t pid;
    int conn;
} waiting_child;

static int sigchld_w = -1;

static void on_sigchld(int sig)
{
    int saved = errno;
    char c = 0;
    (void) sig;
    /* Non-blocking: a full pipe already says "something ended". */
    if (write(sigchld_w, &c, 1) < 0) {
    }
    errno = saved;
}

MPROC_NORETURN static void serve_fail(const char *what)
{
    fprintf(stderr, "mproc forkserver: %s: %s\n", what, mproc_last_error());
    exit(1);
}

/* Reads one request frame (header and body) from @conn. */
static int read_request(int conn, mproc__buf_t *frame)
{
    size_t body;
    int rc = mproc__buf_reserve(frame, MPROC__FRAME_HEADER_SIZE);
    if (rc == 0)
        rc = mproc__read_exact(conn, frame->data, MPROC__FRAME_HEADER_SIZE);
    if (rc == 0)
        rc =
            mproc__frame_check_header(frame->data, MPROC__MAX_BOOTSTRAP, &body);
    if (rc == 0) {
        frame->len = MPROC__FRAME_HEADER_SIZE;
        rc = mproc__buf_reserve(frame, body);
    }
    if (rc == 0) {
        rc = mproc__read_exact(conn, frame->data + frame->len, body);
        frame->len += body;
    }
    return rc;
}

/*
 * In the forked child: drop the server's descriptors, run the frame. The
 * @npass passed connections stay where they arrived; the bootstrap learns
 * their numbers from here rather than from the frame, whose sender could
 * not know which descriptors are free in this process.
 */
MPROC_NORETURN static void become_child(mproc__buf_t *frame, int listener,
                                        int alive_r, int sig_r,
                                        waiting_child *w, size_t nw,
                                        const int *pass, size_t npass)
{
    mproc__os_fd_t handles[MPROC__OS_MAX_PASS];
    mproc__buf_t payload = {0};
    size_t i;
    signal(SIGCHLD, SIG_DFL);
    signal(SIGINT, SIG_DFL);
    close(listener);
    close(alive_r);
    close(sig_r);
    close(sigchld_w);
    for (i = 0; i < nw; i++)
        close(w[i].conn);
    if (mproc__frame_open_body(frame->data,
                               frame->data + MPROC__FRAME_HEADER_SIZE,
                               frame->len - MPROC__FRAME_HEADER_SIZE,
                               MPROC__MAX_BOOTSTRAP, &payload) != 0) {
        fprintf(stderr, "mproc: corrupt bootstrap message: %s\n",
                mproc_last_error());
        _exit(1);
    }
    mproc__buf_free(frame);
    for (i = 0; i < npass; i++)
        handles[i] = pass[i];
    mproc__bootstrap_run(payload.data, payload.len, 1, handles, npass);
}

void mproc__os_forkserver_main(int argc, char **argv)
{
    unsigned char key[MPROC__AUTHKEY_SIZE], lenbuf[4];
    char path[sizeof fs.path];
    int alive_r, listener, sig[2];
    waiting_child *waiting = NULL;
    size_t nwaiting = 0, capwaiting = 0;
    mproc__os_fd_t fd;
    uint32_t plen;

    if (argc != 4 || mproc__os_fd_parse(argv[2], &fd) != 0)
        serve_fail("malformed command line");
    alive_r = (int) fd;
    if (mproc__os_fd_parse(argv[3], &fd) != 0)
        serve_fail("malformed command line");
    listener = (int) fd;
    if (mproc__read_exact(alive_r, key, sizeof key) != 0 ||
        mproc__read_exact(alive_r, lenbuf, 4) != 0 ||
        (plen = mproc__get_u32(lenbuf)) >= sizeof path ||
        mproc__read_exact(alive_r, path, plen) != 0)
        serve_fail("no key from the client");
    path[plen] = '\0';

    if (pipe2(sig, O_CLOEXEC | O_NONBLOCK) < 0)
        serve_fail("cannot create the signal pipe");
    sigchld_w = sig[1];
    {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_sigchld;
        sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
        sigaction(SIGCHLD, &sa, NULL);
        /* A Ctrl-C meant for the program must not kill its server. */
        signal(SIGINT, SIG_IGN);
    }

    for (;;) {
        struct pollfd p[3] = {
            {alive_r, POLLIN, 0}, {sig[0], POLLIN, 0}, {listener, POLLIN, 0}};
        if (poll(p, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            serve_fail("poll failed");
        }
        if (p[0].revents) {
            /* Every client has gone: clean up after ourselves and leave. */
            mproc__os_local_remove(path);
            exit(0);
        }
        if (p[1].revents) {
            char drain[64];
            int status;
            pid_t pid;
            while (read(sig[0], drain, sizeof drain) > 0) {
            }
            while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
                size_t i;
                for (i = 0; i < nwaiting; i++) {
                    if (waiting[i].pid == pid) {
                        unsigned char b[8];
                        mproc__put_i64(b, mproc__unix_exitcode(status));
                        /* A client that went away just misses the news. */
                        mproc__os_write_all(waiting[i].conn, b, sizeof b);
                        close(waiting[i].conn);
                        waiting[i] = waiting[--nwaiting];
                        break;
                    }
                }
            }
        }
        if (p[2].revents) {
            struct timeval tv = {REQUEST_TIMEOUT_SEC, 0};
            mproc__buf_t frame = {0};
            unsigned char b[8];
            pid_t pid;
            /* stdout, stderr, then the connections handed to the child. */
            int fds[2 + MPROC__OS_MAX_PASS];
            size_t nfds = 0, i;
            mproc__os_fd_t accepted;
            int conn;
            if (mproc__os_local_accept(listener, &accepted) != 0)
                continue;
            conn = (int) accepted;
            setsockopt(conn, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
            if (mproc__auth_server(conn, key) != 0 ||
                recv_fds(conn, fds, &nfds) != 0 ||
                read_request(conn, &frame) != 0) {
                mproc__buf_free(&frame);
                close(conn);
                for (i = 0; i < nfds; i++)
                    close(fds[i]);
                continue;
            }
            if (nwaiting == capwaiting) {
                size_t cap = capwaiting ? capwaiting * 2 : 16;
                waiting_child *w = realloc(waiting, cap * sizeof *w);
                if (w == NULL) {
                    mproc__buf_free(&frame);
                    close(conn);
                    for (i = 0; i < nfds; i++)
                        close(fds[i]);
                    continue;
                }
                waiting = w;
                capwaiting = cap;
            }
            pid = fork();
            if (pid == 0) {
                close(conn);
                dup2(fds[0], STDOUT_FILENO);
                dup2(fds[1], STDERR_FILENO);
                close(fds[0]);
                close(fds[1]);
                become_child(&frame, listener, alive_r, sig[0], waiting,
                             nwaiting, fds + 2, nfds - 2);
            }
            /* The child has its copies; the server keeps none. */
            for (i = 0; i < nfds; i++)
                close(fds[i]);
            mproc__buf_free(&frame);
            if (pid < 0) {
                close(conn);
                continue;
            }
            mproc__put_i64(b, pid);
            mproc__os_write_all(conn, b, sizeof b);
            waiting[nwaiting].pid = pid;
            waiting[nwaiting].conn = conn;
            nwaiting++;
        }
    }
}
