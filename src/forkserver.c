/*
 * The forkserver: its protocol, on the contract's OS mechanics (a local
 * listener, handing descriptors over, fork, reaping).
 *
 * The design is Python's (Lib/multiprocessing/forkserver.py, 3.14):
 *
 * - The server is spawned on first use, so it is as fresh as a spawned
 *   child. It gets a local listener (a Unix socket in a 0700 directory of
 *   its own) and the read end of a pipe; the client writes the 32-byte
 *   authkey and the socket's path into the pipe and keeps the write end:
 *   the end of that stream means every client has gone, and the server
 *   exits.
 * - Each request is a connection that passes the mutual HMAC challenge,
 *   hands over the client's stdout and stderr and the child's start
 *   handles, then sends the child's bootstrap frame. The server forks; the
 *   child runs the frame. The server writes the child's pid (8 bytes, LE)
 *   on the connection and, when the child has ended, its exit code (8
 *   bytes, LE). The client keeps the connection as the child's sentinel.
 * - The server is single-threaded, so fork is safe in it; the ends of its
 *   children reach its wait through the reaper's handle.
 * - The server forks as soon as it accepts, before it reads anything: the
 *   forked process authenticates the client and reads the request under
 *   one overall deadline (it ends when that passes), and only then becomes
 *   the child. A client that says nothing, or
 *   drips its bytes, holds up nobody but the process forked for it, and
 *   loses its connection at the deadline; the server itself never reads
 *   from a client, so it never waits on one. (Python's server reads each
 *   request itself, one at a time.) The forked process tells the server
 *   that the request was good by one byte on a pipe of its own, and the
 *   server then writes the pid, so that pid and exit code come in order
 *   from one writer; for a process that ends without that byte, the
 *   server closes the connection instead.
 *
 * Where the OS cannot fork (Windows), every entry point answers
 * MPROC_ENOTSUP.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "bootstrap.h"
#include "forkserver.h"
#include "frame.h"
#include "mproc_services.h"

/* How long a connecting client may take to authenticate and send, all told. */
#define REQUEST_DEADLINE_SEC 5.0

/* The client's view of its server. */
static struct {
    mproc__os_child_t *server;
    mproc__os_conn_t *alive_w; /* its end stops the server */
    char path[MPROC__OS_LOCAL_PATH_MAX];
    unsigned char key[MPROC__AUTHKEY_SIZE];
} fs;

static int no_fork(void)
{
    return mproc__set_error(MPROC_ENOTSUP,
                            "the forkserver start method is not available on "
                            "this system (it cannot fork); use spawn");
}

/* ---- client ---------------------------------------------------------- */

static int start_server(void)
{
    char path[sizeof fs.path];
    unsigned char hello[MPROC__AUTHKEY_SIZE + 4 + sizeof fs.path];
    mproc__os_conn_t *alive_r = NULL, *alive_w = NULL;
    mproc__os_fd_t listener, handed[3], alive_h[2];
    size_t plen;
    int rc;

    rc = mproc__os_local_listen("mproc-fs", 0, &listener, path, sizeof path);
    if (rc != 0)
        return rc;
    plen = strlen(path);
    /* Duplex: the server answers on it once its preload has run. */
    rc = mproc__os_conn_pair(&alive_r, &alive_w, 1);
    if (rc != 0)
        goto fail;
    mproc__random_bytes(fs.key, sizeof fs.key);
    mproc__os_conn_handles(alive_r, alive_h);
    handed[0] = alive_h[0];
    handed[1] = listener;
    handed[2] = alive_h[1]; /* the way back, for the preload's answer */
    rc = mproc__os_spawn_helper(&fs.server, MPROC__FORKSERVER_MARKER, handed, 3,
                                0);
    if (rc != 0)
        goto fail;
    mproc__os_conn_close(alive_r);
    mproc__os_close(listener);
    /* The key travels on a pipe only the server holds, never in argv. */
    memcpy(hello, fs.key, sizeof fs.key);
    mproc__put_u32(hello + sizeof fs.key, (uint32_t) plen);
    memcpy(hello + sizeof fs.key + 4, path, plen);
    rc = mproc__os_conn_write(alive_w, hello, sizeof fs.key + 4 + plen);
    if (rc == 0)
        rc = mproc__preload_client(alive_w);
    if (rc != 0) {
        mproc__os_conn_close(alive_w);
        mproc__os_child_kill(fs.server);
        mproc__os_child_free(fs.server);
        fs.server = NULL;
        return rc;
    }
    fs.alive_w = alive_w;
    memcpy(fs.path, path, sizeof path);
    return 0;

fail:
    mproc__os_close(listener);
    mproc__os_conn_close(alive_r);
    mproc__os_conn_close(alive_w);
    mproc__os_local_remove(path);
    return rc;
}

int mproc__forkserver_ensure(void)
{
    int code;
    if (!mproc__os_can_fork())
        return no_fork();
    if (fs.server != NULL) {
        if (mproc__os_child_wait(fs.server, 0, &code) == MPROC_ETIMEDOUT)
            return 0;
        /* The server died (killed, say): start a new one. */
        mproc_log(MPROC_LOG_WARNING,
                  "forkserver ended with exit code %d; starting a new one",
                  code);
        mproc__os_child_free(fs.server);
        fs.server = NULL;
        mproc__os_conn_close(fs.alive_w);
        fs.alive_w = NULL;
    }
    return start_server();
}

int mproc__forkserver_connect(const unsigned char *key, mproc__os_fd_t *conn)
{
    mproc__os_fd_t fd;
    int rc = mproc__os_local_connect(fs.path, 0, &fd);
    if (rc != 0)
        return rc;
    rc = mproc__auth_client(fd, key != NULL ? key : fs.key);
    if (rc != 0) {
        mproc__os_close(fd);
        return rc;
    }
    *conn = fd;
    return 0;
}

#ifdef MPROC_TESTING
long mproc__forkserver_pid(void)
{
    return fs.server != NULL ? mproc__os_child_pid(fs.server) : 0;
}

const char *mproc__forkserver_path(void)
{
    return fs.server != NULL ? fs.path : NULL;
}
#endif

/*
 * Hands our stdout and stderr to the server for the child, and after them
 * the connections the child gets as start arguments: a forkserver child
 * writes where its parent writes now, as a spawned child does, not where
 * the server's were when it started. One message carries them all, so the
 * server sees them together or not at all.
 */
static int send_stdio_and_pass(mproc__os_fd_t conn, const mproc__os_fd_t *pass,
                               size_t npass)
{
    mproc__os_handle_t h[2 + MPROC__OS_MAX_PASS];
    size_t i;
    h[0].h = mproc__os_std_handle(1);
    h[1].h = mproc__os_std_handle(2);
    for (i = 0; i < npass; i++)
        h[2 + i].h = pass[i];
    for (i = 0; i < 2 + npass; i++)
        h[i].kind = MPROC__OS_HANDLE_FILE;
    return mproc__os_send_handles(conn, 'S', h, 2 + npass);
}

int mproc__forkserver_child(mproc__os_child_t **child, const void *frame,
                            size_t len, const mproc__os_fd_t *pass,
                            size_t npass)
{
    unsigned char pidbuf[8];
    mproc__os_fd_t conn = MPROC__OS_FD_INVALID;
    int rc;
    *child = NULL;
    rc = mproc__forkserver_ensure();
    if (rc != 0)
        return rc;
    rc = mproc__forkserver_connect(NULL, &conn);
    if (rc == 0)
        rc = send_stdio_and_pass(conn, pass, npass);
    if (rc == 0)
        rc = mproc__os_write_all(conn, frame, len);
    if (rc == 0) {
        rc = mproc__read_exact(conn, pidbuf, sizeof pidbuf);
        if (rc != 0)
            rc = mproc__set_error(MPROC_EOS,
                                  "the forkserver could not start the child");
    }
    if (rc != 0) {
        mproc__os_close(conn);
        return rc;
    }
    /* The connection now belongs to the child record, whatever happens. */
    return mproc__os_child_remote(child, (long) mproc__get_i64(pidbuf), conn);
}

/* ---- server ---------------------------------------------------------- */

/*
 * A process the server forked for a connection: still reading the request,
 * or the child it became. Its one byte on @started says the request was
 * good; the server then writes its pid on @conn.
 */
typedef struct waiting_child {
    long pid;
    mproc__os_fd_t conn;
    mproc__os_conn_t *started; /* the pipe's read end, until it has spoken */
    int pid_sent;
} waiting_child;

/* The one descriptor of a one-way pipe end. */
static mproc__os_fd_t pipe_fd(const mproc__os_conn_t *c)
{
    mproc__os_fd_t h[2];
    mproc__os_conn_handles(c, h);
    return h[0];
}

MPROC_NORETURN static void serve_fail(const char *what)
{
    fprintf(stderr, "mproc forkserver: %s: %s\n", what, mproc_last_error());
    exit(1);
}

/*
 * The server's side of send_stdio_and_pass: stdout, stderr and the passed
 * connections, in @h; *@n is their number (2 or more). On failure none is
 * left open.
 */
static int recv_stdio_and_pass(mproc__os_fd_t conn, mproc__os_handle_t *h,
                               size_t *n)
{
    size_t i;
    char tag;
    int rc = mproc__os_recv_handles(conn, &tag, h, 2 + MPROC__OS_MAX_PASS, n);
    if (rc != 0)
        return rc;
    if (*n < 2 || tag != 'S') {
        for (i = 0; i < *n; i++)
            mproc__os_handle_close(&h[i]);
        *n = 0;
        return mproc__set_error(MPROC_ECORRUPT, "no stdio in the request");
    }
    return 0;
}

/* Reads one request frame (header and body) from @conn. */
static int read_request(mproc__os_fd_t conn, mproc__buf_t *frame)
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
 * In the process forked for @conn: drop the server's handles, read the
 * request under its deadline, say that it was good (a byte on @started),
 * and run the frame. The passed connections stay where
 * they arrived; the bootstrap learns their values from here rather than
 * from the frame, whose sender could not know which descriptors are free
 * in this process. Any failure ends this process, which the server then
 * takes for a refused request.
 */
MPROC_NORETURN static void
serve_connection(mproc__os_fd_t conn, const unsigned char *key,
                 mproc__os_conn_t *started, mproc__os_fd_t listener,
                 mproc__os_fd_t alive_r, waiting_child *w, size_t nw)
{
    mproc__os_handle_t h[2 + MPROC__OS_MAX_PASS];
    mproc__os_fd_t handles[MPROC__OS_MAX_PASS];
    mproc__buf_t frame = {0}, payload = {0};
    size_t i, n = 0;

    mproc__os_reaper_forget();
    mproc__os_close(listener);
    mproc__os_close(alive_r);
    for (i = 0; i < nw; i++) {
        mproc__os_close(w[i].conn);
        if (w[i].started != NULL)
            mproc__os_conn_close(w[i].started);
    }
    mproc__os_exit_after(REQUEST_DEADLINE_SEC);
    if (mproc__auth_server(conn, key) != 0 ||
        recv_stdio_and_pass(conn, h, &n) != 0 ||
        read_request(conn, &frame) != 0)
        mproc__os_exit_now(1);
    mproc__os_exit_after(0);
    /*
     * The child's signals are the defaults before its pid is out: a
     * terminate() sent as soon as the start returns must not be ignored.
     */
    mproc__os_ignore_interrupts(0);
    if (mproc__os_write_all(pipe_fd(started), "", 1) != 0)
        mproc__os_exit_now(1);
    mproc__os_conn_close(started);
    mproc__os_close(conn);

    if (mproc__os_set_stdio(h[0].h, h[1].h) != 0)
        mproc__os_exit_now(1);
    mproc__os_handle_close(&h[0]);
    mproc__os_handle_close(&h[1]);
    if (mproc__frame_open_body(frame.data,
                               frame.data + MPROC__FRAME_HEADER_SIZE,
                               frame.len - MPROC__FRAME_HEADER_SIZE,
                               MPROC__MAX_BOOTSTRAP, &payload) != 0) {
        fprintf(stderr, "mproc: corrupt bootstrap message: %s\n",
                mproc_last_error());
        mproc__os_exit_now(1);
    }
    mproc__buf_free(&frame);
    for (i = 2; i < n; i++)
        handles[i - 2] = h[i].h;
    mproc__bootstrap_run(payload.data, payload.len, 1, handles, n - 2);
}

/*
 * Learns whether @w's request was good, if its process has said so: one
 * byte on its pipe, after which the client gets the pid; the end of the
 * pipe without it means the request was refused. The pipe is closed once
 * it has spoken either way. Called only when a read cannot wait: the pipe
 * is ready, or its writer has ended.
 */
static void hear_started(waiting_child *w)
{
    char c;
    size_t got = 0;
    if (mproc__os_read(pipe_fd(w->started), &c, 1, &got) == 0 && got == 1) {
        unsigned char b[8];
        mproc__put_i64(b, w->pid);
        /* A client that went away just misses the news. */
        mproc__os_write_all(w->conn, b, sizeof b);
        w->pid_sent = 1;
    }
    mproc__os_conn_close(w->started);
    w->started = NULL;
}

/* Tells the clients of every ended child its exit code. */
static void report_ended(waiting_child *waiting, size_t *nwaiting)
{
    long pid;
    int code;
    while (mproc__os_reap(&pid, &code) > 0) {
        size_t i;
        for (i = 0; i < *nwaiting; i++) {
            waiting_child *w = &waiting[i];
            if (w->pid != pid)
                continue;
            /* It may have said so just before it ended. */
            if (w->started != NULL)
                hear_started(w);
            /*
             * A refused request gets no exit code: its client learns of
             * the refusal by the end of its connection alone.
             */
            if (w->pid_sent) {
                unsigned char b[8];
                mproc__put_i64(b, code);
                mproc__os_write_all(w->conn, b, sizeof b);
            }
            mproc__os_close(w->conn);
            *w = waiting[--*nwaiting];
            break;
        }
    }
}

void mproc__forkserver_main(int argc, char **argv)
{
    unsigned char key[MPROC__AUTHKEY_SIZE], lenbuf[4];
    char path[MPROC__OS_LOCAL_PATH_MAX];
    mproc__os_fd_t alive_r, listener, reaper, answer;
    waiting_child *waiting = NULL;
    mproc__os_wait_item_t *items = NULL;
    size_t *item_of = NULL; /* the waiting entry of each pipe's item */
    size_t nwaiting = 0, capwaiting = 0, capitems = 0;
    uint32_t plen;

    if (!mproc__os_can_fork()) {
        /*
         * Only a program started by hand with the forkserver marker gets
         * here, since no such process ever starts a forkserver: say so and
         * end with the code of a failed start.
         */
        no_fork();
        serve_fail("cannot serve");
    }
    /*
     * A Ctrl-C or a kill meant for the program must not kill its server;
     * first of all, so that one sent while it starts does not either.
     */
    mproc__os_ignore_interrupts(1);
    if (argc != 5 || mproc__os_fd_parse(argv[2], &alive_r) != 0 ||
        mproc__os_fd_parse(argv[3], &listener) != 0 ||
        mproc__os_fd_parse(argv[4], &answer) != 0)
        serve_fail("malformed command line");
    if (mproc__read_exact(alive_r, key, sizeof key) != 0 ||
        mproc__read_exact(alive_r, lenbuf, 4) != 0 ||
        (plen = mproc__get_u32(lenbuf)) >= sizeof path ||
        mproc__read_exact(alive_r, path, plen) != 0)
        serve_fail("no key from the client");
    path[plen] = '\0';
    if (mproc__preload_serve(alive_r, answer) != 0)
        serve_fail("preload failed");
    mproc__os_close(answer);
    if (mproc__os_reaper_init(&reaper) != 0)
        serve_fail("cannot watch for ended children");

    for (;;) {
        mproc__os_conn_t *started_r = NULL, *started_w = NULL;
        mproc__os_child_t *forked = NULL;
        mproc__os_fd_t conn;
        size_t nitems = 3, i;
        int rc;

        /* The server's own three, then every pipe that has not spoken. */
        if (capitems < 3 + nwaiting) {
            size_t cap = 3 + capwaiting;
            mproc__os_wait_item_t *more = realloc(items, cap * sizeof *more);
            size_t *more_of = realloc(item_of, cap * sizeof *more_of);
            if (more != NULL)
                items = more;
            if (more_of != NULL)
                item_of = more_of;
            if (more == NULL || more_of == NULL)
                serve_fail("out of memory");
            capitems = cap;
        }
        items[0].conn = items[1].conn = items[2].conn = NULL;
        items[0].handle = alive_r;
        items[1].handle = reaper;
        items[2].handle = listener;
        for (i = 0; i < nwaiting; i++) {
            if (waiting[i].started == NULL)
                continue;
            items[nitems].conn = NULL;
            items[nitems].handle = pipe_fd(waiting[i].started);
            item_of[nitems++] = i;
        }
        for (i = 0; i < nitems; i++)
            items[i].ready = 0;
        if (mproc__os_wait_many(items, nitems, -1) < 0)
            serve_fail("wait failed");
        if (items[0].ready) {
            /* Every client has gone: clean up after ourselves and leave. */
            mproc__os_local_remove(path);
            exit(0);
        }
        /* Before any reaping moves the entries the items point at. */
        for (i = 3; i < nitems; i++) {
            if (items[i].ready)
                hear_started(&waiting[item_of[i]]);
        }
        if (items[1].ready)
            report_ended(waiting, &nwaiting);
        if (!items[2].ready || mproc__os_local_accept(listener, &conn) != 0)
            continue;
        if (nwaiting == capwaiting) {
            size_t cap = capwaiting ? capwaiting * 2 : 16;
            waiting_child *w = realloc(waiting, cap * sizeof *w);
            if (w == NULL) {
                mproc__os_close(conn);
                continue;
            }
            waiting = w;
            capwaiting = cap;
        }
        if (mproc__os_conn_pair(&started_r, &started_w, 0) != 0) {
            mproc__os_close(conn);
            continue;
        }
        rc = mproc__os_fork(&forked);
        if (rc == 1) {
            mproc__os_conn_close(started_r);
            serve_connection(conn, key, started_w, listener, alive_r, waiting,
                             nwaiting);
        }
        /* The forked process has its copy; the server keeps the read end. */
        mproc__os_conn_close(started_w);
        if (rc != 0) {
            mproc__os_conn_close(started_r);
            mproc__os_close(conn);
            continue;
        }
        /* The server reaps its children itself, by pid. */
        waiting[nwaiting].pid = mproc__os_child_pid(forked);
        waiting[nwaiting].conn = conn;
        waiting[nwaiting].started = started_r;
        waiting[nwaiting].pid_sent = 0;
        nwaiting++;
        mproc__os_child_free(forked);
    }
}
