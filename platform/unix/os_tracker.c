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
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
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
    char old[MPROC__OS_LOCAL_PATH_MAX + 2];
    size_t n;
    int rc;
    if (tr.conn >= 0)
        return 0;
    if (tr.path[0] == '\0')
        return start_tracker();
    rc = connect_to(tr.path, &tr.conn);
    if (rc == 0)
        return 0;
    /*
     * Nobody listens: the tracker was killed (it never leaves while a
     * connection is open). Python: "resource_tracker: process died
     * unexpectedly, ...". Its replacement takes over its journal, and with
     * it every name it knew, and removes its files.
     */
    mproc_log(MPROC_LOG_WARNING,
              "resource tracker at %s died unexpectedly (%s); starting a new "
              "one, which takes over what it knew",
              tr.path, mproc_last_error());
    n = strlen(tr.path);
    old[0] = 'A';
    old[1] = ' ';
    memcpy(old + 2, tr.path, n);
    rc = start_tracker();
    if (rc != 0)
        return rc;
    /* Sent before any name of ours: the replacement learns the old first. */
    if (send(tr.conn, old, n + 2, MSG_NOSIGNAL) != (ssize_t) (n + 2))
        mproc_log(MPROC_LOG_WARNING,
                  "cannot hand the old resource tracker's names to the new "
                  "one; some shared memory may leak");
    return 0;
}

static int send_message(char op, const char *name)
{
    char msg[2 + MPROC__TRACKER_PATH_MAX + 1];
    size_t n = strlen(name);
    int rc, attempt;

    if (!mproc__tracker_entry_ok(name, n))
        return mproc__set_error(MPROC_EINVAL,
                                "'%s' is not a name the resource tracker "
                                "accepts (mproc- and 1 to 25 of "
                                "A-Z a-z 0-9 _ . -, or the path of a socket "
                                ".../mproc-*/sock)",
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
         * a new tracker that takes over what the old one knew, and warns.
         * One retry only: a tracker that refuses us twice is broken.
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

/* ---- the tracker's journal ------------------------------------------ */

/* @file beside the listener at @listener_path, in its directory. */
static int journal_path(const char *listener_path, const char *file, char *out,
                        size_t cap)
{
    const char *slash = strrchr(listener_path, '/');
    int n;
    if (slash == NULL || listener_path[0] != '/')
        return mproc__set_error(MPROC_EINVAL, "'%s' is not a tracker's path",
                                listener_path);
    /* No @file: the directory itself. */
    n = file != NULL
            ? snprintf(out, cap, "%.*s/%s", (int) (slash - listener_path),
                       listener_path, file)
            : snprintf(out, cap, "%.*s", (int) (slash - listener_path),
                       listener_path);
    if (n < 0 || (size_t) n >= cap)
        return mproc__set_error(MPROC_EINVAL, "tracker path too long");
    return 0;
}

/*
 * A journal file, new and empty, ours alone (0600), never through a link
 * another user could have planted in the private directory.
 */
static int open_journal_file(const char *path)
{
    return open(
        path, O_WRONLY | O_APPEND | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW,
        0600);
}

int mproc__os_journal_open(const char *listener_path, mproc__os_fd_t *fd)
{
    char path[MPROC__OS_LOCAL_PATH_MAX + 16];
    int f, rc = journal_path(listener_path, "names", path, sizeof path);
    if (rc != 0)
        return rc;
    f = open_journal_file(path);
    if (f < 0)
        return mproc__unix_error(errno, "cannot create the tracker's journal");
    *fd = f;
    return 0;
}

int mproc__os_journal_replace(const char *listener_path, const void *data,
                              size_t n, mproc__os_fd_t *fd)
{
    char tmp[MPROC__OS_LOCAL_PATH_MAX + 16],
        path[MPROC__OS_LOCAL_PATH_MAX + 16];
    int f, rc = journal_path(listener_path, "names.new", tmp, sizeof tmp);
    if (rc == 0)
        rc = journal_path(listener_path, "names", path, sizeof path);
    if (rc != 0)
        return rc;
    f = open_journal_file(tmp);
    if (f < 0)
        return mproc__unix_error(errno, "cannot rewrite the tracker's journal");
    rc = mproc__os_write_all(f, data, n);
    /* rename() swaps the whole file at once: a reader sees old or new. */
    if (rc == 0 && rename(tmp, path) != 0)
        rc = mproc__unix_error(errno, "cannot rewrite the tracker's journal");
    if (rc != 0) {
        close(f);
        unlink(tmp);
        return rc;
    }
    close((int) *fd);
    *fd = f;
    return 0;
}

char *mproc__os_journal_take(const char *listener_path)
{
    char dir[MPROC__OS_LOCAL_PATH_MAX + 16],
        path[MPROC__OS_LOCAL_PATH_MAX + 16];
    struct stat st;
    char *text = NULL;
    size_t len = 0;
    int f;
    if (journal_path(listener_path, NULL, dir, sizeof dir) != 0 ||
        journal_path(listener_path, "names", path, sizeof path) != 0)
        return NULL;
    /*
     * Only a directory of our own that nobody else can enter, as every
     * tracker's is: anything else was not made by a tracker of ours.
     */
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) ||
        st.st_uid != geteuid() || (st.st_mode & 077) != 0)
        return NULL;
    f = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (f >= 0 && fstat(f, &st) == 0 && S_ISREG(st.st_mode) &&
        st.st_uid == geteuid()) {
        text = malloc((size_t) st.st_size + 1);
        while (text != NULL && len < (size_t) st.st_size) {
            ssize_t r = read(f, text + len, (size_t) st.st_size - len);
            if (r < 0 && errno == EINTR)
                continue;
            if (r <= 0)
                break;
            len += (size_t) r;
        }
        if (text != NULL)
            text[len] = '\0';
    }
    if (f >= 0)
        close(f);
    mproc__os_journal_remove(listener_path);
    mproc__os_local_remove(listener_path);
    return text;
}

void mproc__os_journal_remove(const char *listener_path)
{
    char path[MPROC__OS_LOCAL_PATH_MAX + 16];
    if (journal_path(listener_path, "names", path, sizeof path) == 0)
        unlink(path);
    if (journal_path(listener_path, "names.new", path, sizeof path) == 0)
        unlink(path);
}

#ifdef MPROC_TESTING
int mproc__unix_tracker_journal(char *out, size_t cap)
{
    int rc;
    tr_lock();
    rc = journal_path(tr.path, "names", out, cap);
    tr_unlock();
    return rc;
}
#endif
