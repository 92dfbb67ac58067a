/*
 * Unix backend: the client side of the resource tracker (src/tracker.c):
 * the one connection of this process to its tracker, started or reached on
 * first use, shared by its threads and kept across fork.
 *
 * Unlike Python's pipe, the tracker's socket is reached by path, so a
 * spawned child need not inherit anything; the price is that a parent that
 * dies before its spawned child has connected lets the tracker finish
 * early (the child then starts a new one and warns).
 */
#include "os_internal.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "mproc_services.h"

/* ---- client ------------------------------------------------------------- */

/*
 * This process's view of its tracker. The lock serializes threads; fork
 * handlers hold it across fork() so that a child never inherits it locked.
 */
static struct {
    pthread_mutex_t lock;
    int conn;                            /* -1 until connected */
    char path[MPROC__OS_LOCAL_PATH_MAX]; /* "" until known */
    struct mproc__os_child *tracker;     /* the tracker this process started */
} tr = {PTHREAD_MUTEX_INITIALIZER, -1, "", NULL};

static pthread_once_t tr_once = PTHREAD_ONCE_INIT;

static void tr_prepare(void)
{
    pthread_mutex_lock(&tr.lock);
}

static void tr_parent(void)
{
    pthread_mutex_unlock(&tr.lock);
}

static void tr_child(void)
{
    /*
     * The child keeps the inherited connection: the socket stays open while
     * any holder lives, which is exactly the tracker's rule. The tracker is
     * not the child's child, though: it cannot wait for it.
     */
    pthread_mutex_unlock(&tr.lock);
    if (tr.tracker != NULL) {
        mproc__os_child_free(tr.tracker);
        tr.tracker = NULL;
    }
}

static void tr_register_atfork(void)
{
    pthread_atfork(tr_prepare, tr_parent, tr_child);
}

static void tr_lock(void)
{
    pthread_once(&tr_once, tr_register_atfork);
    pthread_mutex_lock(&tr.lock);
}

static void tr_unlock(void)
{
    pthread_mutex_unlock(&tr.lock);
}

/* Connects to the tracker at @path; the descriptor is close-on-exec. */
static int connect_to(const char *path, int *conn)
{
    mproc__os_fd_t fd;
    int rc = mproc__os_local_connect(path, 1, &fd);
    if (rc == 0)
        *conn = (int) fd;
    return rc;
}

/* Starts a tracker and connects to it; the lock is held. */
static int start_tracker(void)
{
    char path[MPROC__OS_LOCAL_PATH_MAX];
    struct mproc__os_child *child = NULL;
    mproc__os_fd_t socket_fd;
    int listener, conn, rc;

    /*
     * The socket listens before the tracker starts, so that our connect
     * below waits in the backlog instead of racing the tracker's start.
     */
    rc = mproc__os_local_listen("mproc-rt", 1, &socket_fd, path, sizeof path);
    if (rc != 0)
        return rc;
    listener = (int) socket_fd;
    rc =
        mproc__os_spawn_helper(&child, MPROC__TRACKER_MARKER, &socket_fd, 1, 1);
    close(listener);
    if (rc != 0) {
        mproc__os_local_remove(path);
        return rc;
    }
    rc = connect_to(path, &conn);
    if (rc != 0) {
        int code;
        /* A tracker nobody can reach is no use: stop it. */
        mproc__os_child_kill(child);
        mproc__os_child_wait(child, -1, &code);
        mproc__os_child_free(child);
        mproc__os_local_remove(path);
        return rc;
    }
    if (tr.tracker != NULL) {
        int code;
        /* Reap the previous one if it has ended; a zombie helps nobody. */
        mproc__os_child_wait(tr.tracker, 0, &code);
        mproc__os_child_free(tr.tracker);
    }
    tr.tracker = child;
    tr.conn = conn;
    memcpy(tr.path, path, sizeof tr.path);
    return 0;
}

/* A connection to the tracker, started or reached; the lock is held. */
static int ensure_connected(void)
{
    int rc;
    if (tr.conn >= 0)
        return 0;
    if (tr.path[0] != '\0') {
        rc = connect_to(tr.path, &tr.conn);
        if (rc == 0)
            return 0;
        /*
         * Refused: the socket file is there but nobody listens, so the
         * tracker was killed before it could remove its files. Do it for it.
         */
        if (rc == MPROC_ENOTFOUND)
            mproc__os_local_remove(tr.path);
        /* Python: "resource_tracker: process died unexpectedly, ..." */
        mproc_log(MPROC_LOG_WARNING,
                  "resource tracker at %s died unexpectedly (%s); starting a "
                  "new one, some shared memory may leak",
                  tr.path, mproc_last_error());
    }
    return start_tracker();
}

static int send_message(char op, const char *name)
{
    char msg[2 + MPROC__TRACKER_NAME_MAX + 1];
    size_t n = strlen(name);
    int rc, attempt;

    if (!mproc__tracker_name_ok(name, n))
        return mproc__set_error(MPROC_EINVAL,
                                "'%s' is not a name the resource tracker "
                                "accepts (mproc- and 1 to 25 of "
                                "A-Z a-z 0-9 _ . -)",
                                name);
    msg[0] = op;
    msg[1] = ' ';
    memcpy(msg + 2, name, n);

    tr_lock();
    for (attempt = 0;; attempt++) {
        ssize_t w;
        rc = ensure_connected();
        if (rc != 0)
            break;
        do {
            w = send(tr.conn, msg, n + 2, MSG_NOSIGNAL);
        } while (w < 0 && errno == EINTR);
        if (w == (ssize_t) (n + 2))
            break;
        rc = mproc__unix_error(w < 0 ? errno : EIO,
                               "cannot talk to the resource tracker");
        close(tr.conn);
        tr.conn = -1;
        /*
         * The tracker closed our connection: it was killed (it never leaves
         * while a connection is open). The next round reconnects, or starts
         * a new tracker and warns; what the old one knew is lost, as in
         * Python. One retry only: a tracker that refuses us twice is broken.
         */
        if (attempt > 0)
            break;
    }
    tr_unlock();
    return rc;
}

int mproc__os_track(const char *name)
{
    return send_message('R', name);
}

int mproc__os_untrack(const char *name)
{
    return send_message('U', name);
}

const char *mproc__os_tracker_address(void)
{
    /* A copy: another thread may replace the tracker meanwhile. */
    static MPROC__TLS char copy[MPROC__OS_LOCAL_PATH_MAX];
    tr_lock();
    memcpy(copy, tr.path, sizeof copy);
    tr_unlock();
    return copy;
}

int mproc__os_tracker_adopt(const char *address)
{
    if (address == NULL || *address == '\0')
        return 0;
    if (strlen(address) >= sizeof tr.path)
        return mproc__set_error(MPROC_EINVAL,
                                "resource tracker address is too long");
    tr_lock();
    if (strcmp(tr.path, address) != 0) {
        /* Another tracker than ours (or than the parent's we inherited). */
        if (tr.conn >= 0) {
            close(tr.conn);
            tr.conn = -1;
        }
        if (tr.tracker != NULL) {
            mproc__os_child_free(tr.tracker);
            tr.tracker = NULL;
        }
        strcpy(tr.path, address);
    }
    /* The connection is made on the first track or untrack. */
    tr_unlock();
    return 0;
}

#ifdef MPROC_TESTING
long mproc__unix_tracker_pid(void)
{
    long pid;
    tr_lock();
    pid = tr.tracker != NULL ? (long) tr.tracker->pid : 0;
    tr_unlock();
    return pid;
}
#endif
