/*
 * The manager's server process: the target that mproc_manager_start()
 * starts (manager.c), as Python's BaseManager._run_server.
 *
 * The main thread binds a listener, tells the starting process its
 * address on the pipe it was given, and then accepts connections (the
 * listener authenticates each, mutually, with the manager's key). Every
 * connection gets a thread of its own that reads its requests, serves each
 * on the store (manager_store.c) and writes the reply, so that no client
 * waits behind another's slow link or call; a client process has one
 * connection per thread that calls, which share one session (JOIN). The
 * store's locks make one object's calls atomic.
 *
 * The server never outlives its program: a thread watches the process
 * that started it (a pidfd on Linux, its process handle on Windows, by
 * mproc_parent_process()) and stops the server when that process ends,
 * killed included. A client's SHUTDOWN stops it too, after its reply.
 * Stopping wakes the accepting thread (by connecting to the listener),
 * which closes the listener, removing a Unix socket and its directory,
 * and ends the process at once: the client threads, blocked in their
 * reads, end with it. A Ctrl-C meant for the program does not stop the
 * server (Python's ignores SIGINT too): the program may still need it
 * while it cleans up, and it ends with the program anyway.
 */
#include <apr_thread_proc.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "manager.h"

/* How long the stopping thread waits for the accepting one to wake. */
#define WAKE_TIMEOUT 5.0

static struct {
    mproc__mgr_store_t *store;
    mproc_listener_t *listener;
    /*
     * A fresh local address, registered with the resource tracker (Unix),
     * which removes it if the server and its creator are killed together;
     * "" otherwise.
     */
    char tracked[600];
    const void *key; /* the manager's key, or NULL for the process's */
    size_t keylen;
    volatile uint32_t stopping;
    volatile uint32_t spinning; /* a client thread polls (see serve_client) */
    /*
     * The threads' pool and attributes: detached threads, since nobody
     * waits for them (the process ends with them blocked in their reads).
     * Each thread's own pool goes when it ends (end_thread); what stays
     * in this one is APR's few bytes of thread handle per client.
     */
    apr_pool_t *pool;
    apr_threadattr_t *detached;
} srv;

/* Ends the server process now: the listener's files are gone already. */
MPROC_NORETURN static void end_now(int code)
{
    mproc__os_flush_stdio();
    mproc__os_exit_now(code);
    abort();
}

/*
 * The address to wake the listener at: its own, but a TCP listener bound
 * to every interface is reached on the loopback one.
 */
static void wake_address(char *buf, size_t cap)
{
    const char *a = mproc_listener_address(srv.listener);
    if (strncmp(a, "0.0.0.0:", 8) == 0)
        snprintf(buf, cap, "127.0.0.1:%s", a + 8);
    else if (strncmp(a, "[::]:", 5) == 0)
        snprintf(buf, cap, "[::1]:%s", a + 5);
    else
        snprintf(buf, cap, "%s", a);
}

/*
 * Asks the accepting thread to stop the server, from any thread: the flag,
 * then a connection that ends its wait. If no connection can be made, the
 * process ends from here.
 */
static void request_stop(void)
{
    mproc_client_opts_t o = {0};
    mproc_conn_t *c = NULL;
    char address[600];
    if (mproc__atomic_cas32(&srv.stopping, 0, 1) != 0)
        return;
    wake_address(address, sizeof address);
    o.authkey = srv.key;
    o.authkey_len = srv.keylen;
    o.timeout = WAKE_TIMEOUT;
    if (mproc_client_connect(&c, address, &o) != 0)
        end_now(0);
    /* The accepting thread ends the process; this connection goes with it. */
}

/*
 * What a detached thread does last: its own pool (APR's, a child of
 * srv.pool) goes, as apr_thread_exit() would free it, and then the thread
 * returns; nothing touches the pool after that. A return rather than
 * apr_thread_exit(), whose pthread_exit() unwinds the stack in a way
 * AddressSanitizer takes for an overflow.
 */
static void end_thread(apr_thread_t *t)
{
    apr_pool_destroy(apr_thread_pool_get(t));
}

/* A client's thread: its connection's requests, served one by one. */
static void *APR_THREAD_FUNC serve_client(apr_thread_t *t, void *arg)
{
    mproc_conn_t *conn = arg;
    mproc__mgr_session_t *sess = NULL;
    mproc__buf_t reply = {0};
    if (mproc__mgr_session_open(srv.store, &sess) != 0)
        goto done;
    for (;;) {
        void *req = NULL;
        size_t len = 0;
        int stop, rc;
        /*
         * A busy client's next request comes soon: wait for it awake. One
         * thread of the server at a time, though: many clients at once
         * have a request waiting anyway, and their threads polling side
         * by side would take the CPUs their clients need.
         */
        if (mproc__atomic_cas32(&srv.spinning, 0, 1) == 0) {
            mproc__mgr_spin_for(conn);
            mproc__atomic_store32(&srv.spinning, 0);
        }
        rc = mproc_conn_recv_bytes(conn, &req, &len);
        /*
         * The client has gone, or its stream cannot be trusted any more
         * (a frame that fails its checksum): the session ends, and with
         * it what the client held.
         */
        if (rc != 0)
            break;
        reply.len = 0;
        stop = mproc__mgr_serve(&sess, req, len, &reply);
        free(req);
        if (stop < 0)
            break;
        rc = mproc_conn_send_bytes(conn, reply.data, reply.len);
        if (rc == MPROC_ETOOBIG) {
            mproc_value_t *why =
                mproc_value_str("the result is larger than the largest "
                                "message a connection carries");
            reply.len = 0;
            rc = why == NULL || mproc__mgr_reply_encode(MPROC_ETOOBIG, why,
                                                        &reply) != 0
                     ? MPROC_ENOMEM
                     : mproc_conn_send_bytes(conn, reply.data, reply.len);
            mproc_value_free(why);
        }
        if (rc != 0)
            break;
        if (stop == 1)
            request_stop();
    }
    mproc__mgr_session_close(sess);
done:
    mproc__buf_free(&reply);
    mproc_conn_close(conn);
    end_thread(t);
    return NULL;
}

/* A thread for client @conn; on failure the client goes. */
static void start_client(mproc_conn_t *conn)
{
    apr_thread_t *t;
    if (apr_thread_create(&t, srv.detached, serve_client, conn, srv.pool) !=
        APR_SUCCESS)
        mproc_conn_close(conn);
}

static void *APR_THREAD_FUNC watch_parent(apr_thread_t *t, void *arg)
{
    mproc_process_t *parent = mproc_parent_process();
    (void) arg;
    /* A server with no parent to watch is stopped by its clients alone. */
    if (parent != NULL) {
        mproc_process_join(parent, MPROC_FOREVER);
        request_stop();
    }
    end_thread(t);
    return NULL;
}

/* Says @status (and the last error's sentence) to the starting process. */
static void tell(mproc_conn_t *w, int status, const char *text)
{
    mproc_value_t *word =
        mproc_value_list_of(2, mproc_value_int(status), mproc_value_str(text));
    if (word != NULL)
        mproc_conn_send(w, word);
    mproc_value_free(word);
}

/* The target of the server process: [pipe to the starter, address, key]. */
static void serve(const mproc_value_t *args)
{
    mproc_listener_opts_t lo = {0};
    const mproc_value_t *address, *key;
    mproc_conn_t *w, *conn;
    apr_thread_t *watcher;
    unsigned char idbytes[MPROC__MGR_ID_LEN / 2];
    char id[MPROC__MGR_ID_LEN + 1];
    static const char digits[] = "0123456789abcdef";
    size_t i;
    int rc;

    signal(SIGINT, SIG_IGN);
    if (mproc_unpack(args, "Pvv", &w, &address, &key) < 0)
        mproc_raise_last();
    lo.address = mproc_value_as_str(address);
    if (mproc_value_type(key) == MPROC_VALUE_BYTES) {
        srv.key = mproc_value_as_bytes(key, &srv.keylen);
        lo.authkey = srv.key;
        lo.authkey_len = srv.keylen;
    }
    rc = mproc_listener_create(&srv.listener, &lo);
    if (rc != 0) {
        tell(w, rc, mproc_last_error());
        mproc_exit(1);
    }
    /*
     * A killed server cannot remove its socket, and its creator does only
     * if it lives on: the tracker does when the whole tree has gone. A
     * server the tracker cannot take (Windows has none; its pipes go with
     * the process) serves all the same.
     */
    if (mproc_value_type(address) == MPROC_VALUE_NIL &&
        mproc__os_track(mproc_listener_address(srv.listener)) == 0)
        snprintf(srv.tracked, sizeof srv.tracked, "%s",
                 mproc_listener_address(srv.listener));
    mproc__random_bytes(idbytes, sizeof idbytes);
    for (i = 0; i < sizeof idbytes; i++) {
        id[2 * i] = digits[idbytes[i] >> 4];
        id[2 * i + 1] = digits[idbytes[i] & 15];
    }
    id[MPROC__MGR_ID_LEN] = '\0';
    if (apr_pool_create(&srv.pool, NULL) != APR_SUCCESS ||
        apr_threadattr_create(&srv.detached, srv.pool) != APR_SUCCESS ||
        apr_threadattr_detach_set(srv.detached, 1) != APR_SUCCESS ||
        (rc = mproc__mgr_store_create(
             &srv.store, id, mproc_process_name(mproc_current_process()),
             mproc__os_getpid())) != 0 ||
        apr_thread_create(&watcher, srv.detached, watch_parent, NULL,
                          srv.pool) != APR_SUCCESS) {
        tell(w, MPROC_ENOMEM, "the manager cannot start its store");
        mproc_listener_destroy(srv.listener);
        mproc_exit(1);
    }
    tell(w, 0, mproc_listener_address(srv.listener));
    for (;;) {
        conn = NULL;
        rc = mproc_listener_accept(srv.listener, &conn, MPROC_FOREVER);
        if (mproc__atomic_load32(&srv.stopping))
            break;
        /* A client that failed the handshake cost only its connection. */
        if (rc == 0)
            start_client(conn);
    }
    mproc_conn_close(conn);
    mproc_listener_destroy(srv.listener);
    if (srv.tracked[0] != '\0')
        mproc__os_untrack(srv.tracked);
    end_now(0);
}

void mproc__manager_register_server(void)
{
    /* Registered in every program, so that every child can serve. */
    mproc_register_target(MPROC__MGR_SERVER_TARGET, serve);
}
