/*
 * Unix backend: the resource tracker.
 *
 * POSIX shared memory outlives the processes that use it: if every one of
 * them is killed, nobody runs the destroy that removes the name, and the
 * memory stays in /dev/shm until reboot. The tracker removes such leftovers.
 * The design is Python's (Lib/multiprocessing/resource_tracker.py):
 *
 * - One tracker serves a process tree. It is spawned on first use, in a
 *   session of its own, so that a signal to the program's process group
 *   (Ctrl-C, kill -- -PGID) does not take it down with the program.
 * - It listens on a Unix SOCK_SEQPACKET socket in a private 0700 directory.
 *   Every process that uses it keeps one connection open for its whole
 *   life; a fork child shares its parent's, a spawned child connects by the
 *   path it got in its bootstrap message.
 * - A message is one packet: "R <name>" registers a name, "U <name>"
 *   unregisters it. Names are counted, as several processes may register
 *   the same one.
 * - When every connection has closed (each process has ended, however),
 *   the tracker removes every name still registered, says so on stderr and
 *   exits.
 *
 * Unlike Python's pipe, the socket is reached by path, so a spawned child
 * need not inherit anything; the price is that a parent that dies before
 * its spawned child has connected lets the tracker finish early (the child
 * then starts a new one and warns).
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

/* A tracker nobody connects to within this time gives up. */
#define TRACKER_FIRST_CLIENT_SEC 10

/* "mproc-" and 1 to 25 characters: the contract's 31 at most. */
#define TRACKED_PREFIX "mproc-"
#define TRACKED_NAME_MAX 31

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *) 0)->sun_path)

/* ---- names -------------------------------------------------------------- */

/*
 * ^mproc-[A-Za-z0-9_.-]{1,25}$ on @n bytes: only names of ours. The tracker
 * removes whatever it is told about, so it is no general unlink service.
 */
static int tracked_name_ok(const char *name, size_t n)
{
    size_t i, plen = sizeof TRACKED_PREFIX - 1;
    if (n <= plen || n > TRACKED_NAME_MAX ||
        memcmp(name, TRACKED_PREFIX, plen) != 0)
        return 0;
    for (i = plen; i < n; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return 0;
    }
    return 1;
}

/* ---- client ------------------------------------------------------------- */

/*
 * This process's view of its tracker. The lock serializes threads; fork
 * handlers hold it across fork() so that a child never inherits it locked.
 */
static struct {
    pthread_mutex_t lock;
    int conn;                        /* -1 until connected */
    char path[SUN_PATH_SIZE];        /* "" until known */
    struct mproc__os_child *tracker; /* the tracker this process started */
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
    char path[SUN_PATH_SIZE];
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
    char msg[2 + TRACKED_NAME_MAX + 1];
    size_t n = strlen(name);
    int rc, attempt;

    if (!tracked_name_ok(name, n))
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
    static MPROC__TLS char copy[SUN_PATH_SIZE];
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

long mproc__unix_tracker_pid(void)
{
    long pid;
    tr_lock();
    pid = tr.tracker != NULL ? (long) tr.tracker->pid : 0;
    tr_unlock();
    return pid;
}

/* ---- the tracker -------------------------------------------------------- */

typedef struct tracked {
    char name[TRACKED_NAME_MAX + 1];
    long count; /* may dip below 0: packets of different clients reorder */
} tracked;

static tracked *names;
static size_t nnames, capnames;

static void note(const char *name, size_t n, long delta)
{
    size_t i;
    for (i = 0; i < nnames; i++) {
        if (strlen(names[i].name) == n && memcmp(names[i].name, name, n) == 0)
            break;
    }
    if (i == nnames) {
        if (nnames == capnames) {
            size_t cap = capnames ? capnames * 2 : 32;
            tracked *t = realloc(names, cap * sizeof *t);
            /* Out of memory: the name may leak, nothing worse. */
            if (t == NULL)
                return;
            names = t;
            capnames = cap;
        }
        memcpy(names[i].name, name, n);
        names[i].name[n] = '\0';
        names[i].count = 0;
        nnames++;
    }
    names[i].count += delta;
    if (names[i].count == 0)
        names[i] = names[--nnames];
}

/* Removes every name still registered, and the tracker's own files. */
MPROC_NORETURN static void finish(int listener)
{
    struct sockaddr_un addr;
    socklen_t alen = sizeof addr;
    mproc__buf_t report = {0};
    size_t i, removed = 0;

    for (i = 0; i < nnames; i++) {
        char path[TRACKED_NAME_MAX + 2];
        if (names[i].count <= 0)
            continue;
        path[0] = '/';
        strcpy(path + 1, names[i].name);
        /* ENOENT: its owner removed it after all; nothing leaked. */
        if (shm_unlink(path) != 0)
            continue;
        if (removed++ > 0)
            mproc__buf_append(&report, ", ", 2);
        mproc__buf_append(&report, names[i].name, strlen(names[i].name));
    }
    if (removed > 0) {
        mproc__buf_append(&report, "", 1);
        fprintf(stderr,
                "mproc resource tracker: removed %zu leaked shared memory "
                "object%s: %s\n",
                removed, removed == 1 ? "" : "s",
                report.data != NULL ? (const char *) report.data : "");
        fflush(stderr);
    }
    mproc__buf_free(&report);
    memset(&addr, 0, sizeof addr);
    if (getsockname(listener, (struct sockaddr *) &addr, &alen) == 0 &&
        addr.sun_family == AF_UNIX && addr.sun_path[0] == '/')
        mproc__os_local_remove(addr.sun_path);
    exit(0);
}

/* Handles one packet from @fd: 1 read, 0 end of the connection. */
static int serve_packet(int fd)
{
    char buf[64];
    struct iovec iov = {buf, sizeof buf};
    struct msghdr msg;
    ssize_t n;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    do {
        n = recvmsg(fd, &msg, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0)
        return errno == EAGAIN || errno == EWOULDBLOCK;
    if (n == 0)
        return 0;
    /* Anything malformed is ignored: the client's bug, not ours to act on. */
    if ((msg.msg_flags & MSG_TRUNC) || n < 3 || buf[1] != ' ' ||
        !tracked_name_ok(buf + 2, (size_t) n - 2))
        return 1;
    if (buf[0] == 'R')
        note(buf + 2, (size_t) n - 2, 1);
    else if (buf[0] == 'U')
        note(buf + 2, (size_t) n - 2, -1);
    return 1;
}

void mproc__os_tracker_main(int argc, char **argv)
{
    struct pollfd *p;
    size_t np = 1, capp = 16, i;
    double start = mproc__os_monotonic();
    int ever = 0, listener;
    mproc__os_fd_t fd;

    /*
     * The tracker outlives the program by design: a Ctrl-C, a terminal
     * hang-up or a kill aimed at the program must not stop it.
     */
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
    if (argc != 3 || mproc__os_fd_parse(argv[2], &fd) != 0) {
        fprintf(stderr, "mproc resource tracker: malformed command line\n");
        exit(1);
    }
    listener = (int) fd;
    fcntl(listener, F_SETFD, FD_CLOEXEC);
    p = malloc(capp * sizeof *p);
    if (p == NULL) {
        fprintf(stderr, "mproc resource tracker: out of memory\n");
        exit(1);
    }
    p[0].fd = listener;
    p[0].events = POLLIN;

    for (;;) {
        int wait_ms = -1, r;
        if (!ever) {
            double left =
                TRACKER_FIRST_CLIENT_SEC - (mproc__os_monotonic() - start);
            if (left <= 0)
                finish(listener);
            wait_ms = (int) (left * 1000) + 1;
        }
        for (i = 0; i < np; i++)
            p[i].revents = 0;
        r = poll(p, (nfds_t) np, wait_ms);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            fprintf(stderr, "mproc resource tracker: poll failed: %s\n",
                    strerror(errno));
            /* Not finish(): the names may still be in use. */
            exit(1);
        }
        if (r == 0)
            continue;
        /* One packet per ready client per round; closed ones are dropped. */
        for (i = 1; i < np;) {
            if (p[i].revents != 0 && !serve_packet(p[i].fd)) {
                close(p[i].fd);
                p[i] = p[--np];
                continue;
            }
            i++;
        }
        if (p[0].revents & POLLIN) {
            mproc__os_fd_t accepted;
            if (mproc__os_local_accept(listener, &accepted) == 0) {
                int conn = (int) accepted;
                if (np == capp) {
                    struct pollfd *q = realloc(p, capp * 2 * sizeof *p);
                    if (q == NULL) {
                        /*
                         * Refusing the client is all we can do: its
                         * message fails and it reports the error.
                         */
                        close(conn);
                        continue;
                    }
                    p = q;
                    capp *= 2;
                }
                p[np].fd = conn;
                p[np].events = POLLIN;
                np++;
                ever = 1;
            } else {
                /* Do not spin on a connection we cannot take yet (EMFILE). */
                struct timespec nap = {0, 10 * 1000 * 1000};
                nanosleep(&nap, NULL);
            }
        }
        if (ever && np == 1) {
            /*
             * A client may have connected since poll() returned (a spawned
             * child whose parent just ended): serve it rather than finish.
             */
            struct pollfd l = {listener, POLLIN, 0};
            if (poll(&l, 1, 0) != 1)
                finish(listener);
        }
    }
}
