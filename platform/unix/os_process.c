/*
 * Unix backend: starting, watching and stopping children.
 *
 * APR's apr_proc_create cannot limit what a child inherits (it leaks every
 * descriptor not marked close-on-exec) and has no waiting with a timeout,
 * so spawning, forking and waiting are done here on the system calls.
 *
 * Waiting with a timeout uses a pidfd (Linux 5.3+): poll() on it wakes
 * exactly when the child ends. Without pidfds it falls back to waitpid
 * polling with growing sleeps, bounded at 10 ms.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sched.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

extern char **environ;

/* /dev/null, opened once: a fork child only has to dup2 it onto stdin. */
static int devnull_fd = -1;

int mproc__os_init(void)
{
    /*
     * A write to a pipe whose reader died must come back as an error that
     * the caller reports, not kill the writer: Python ignores SIGPIPE too.
     */
    signal(SIGPIPE, SIG_IGN);
    devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull_fd < 0)
        return mproc__unix_error(errno, "cannot open /dev/null");
    return 0;
}

/*
 * getpid() is a system call each time (the C library keeps no copy), and
 * the objects that a fork child must not use as its own (a pool, a
 * process) ask for it on every call. The process keeps its id, which a
 * fork child forgets at once: 0 means not known.
 */
static long own_pid; /* read and written with relaxed atomics */
static pthread_once_t own_pid_once = PTHREAD_ONCE_INIT;

static void own_pid_forget(void)
{
    __atomic_store_n(&own_pid, 0, __ATOMIC_RELAXED);
}

static void own_pid_register(void)
{
    pthread_atfork(NULL, NULL, own_pid_forget);
}

long mproc__os_getpid(void)
{
    long pid = __atomic_load_n(&own_pid, __ATOMIC_RELAXED);
    if (pid == 0) {
        /* Threads that race here store the same id. */
        pthread_once(&own_pid_once, own_pid_register);
        pid = (long) getpid();
        __atomic_store_n(&own_pid, pid, __ATOMIC_RELAXED);
    }
    return pid;
}

int mproc__os_cpu_count(void)
{
    long n = sysconf(_SC_NPROCESSORS_ONLN);
    return n > 0 ? (int) n : 1;
}

int mproc__os_can_fork(void)
{
    return 1;
}

void mproc__os_flush_stdio(void)
{
    fflush(stdout);
    fflush(stderr);
}

void mproc__os_exit_now(int code)
{
    _exit(code);
}

#if defined(__GLIBC__)
/*
 * on_exit hands its handler a void pointer, which ISO C does not let a
 * function pointer pass through: the handler is kept here instead. A forked
 * child that registers its own replaces its parent's, which then, still in
 * the list, calls the child's; that one ends the process first.
 */
static void (*at_exit_status_fn)(int status);

static void at_exit_status(int status, void *arg)
{
    (void) arg;
    if (at_exit_status_fn != NULL)
        at_exit_status_fn(status);
}
#endif

int mproc__os_at_exit_status(void (*fn)(int status))
{
#if defined(__GLIBC__)
    if (on_exit(at_exit_status, NULL) != 0)
        return mproc__set_error(MPROC_ENOMEM,
                                "cannot register an exit handler");
    at_exit_status_fn = fn;
    return 0;
#else
    (void) fn;
    return mproc__set_error(MPROC_ENOTSUP,
                            "the C library cannot pass exit statuses on");
#endif
}

int mproc__os_stdin_devnull(void)
{
    if (devnull_fd < 0)
        devnull_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (devnull_fd < 0)
        return mproc__unix_error(errno, "cannot open /dev/null");
    if (dup2(devnull_fd, STDIN_FILENO) < 0)
        return mproc__unix_error(errno, "cannot reopen stdin");
    /* stdio may hold buffered input of the parent's stdin: drop it. */
    clearerr(stdin);
    return 0;
}

/* ---- children -------------------------------------------------------- */

int mproc__unix_exitcode(int status)
{
    if (WIFSIGNALED(status))
        return -WTERMSIG(status);
    if (WIFEXITED(status))
        return WEXITSTATUS(status);
    return 255;
}

struct mproc__os_child *mproc__unix_child_new(pid_t pid, int status_fd)
{
    struct mproc__os_child *c = calloc(1, sizeof *c);
    if (c == NULL)
        return NULL;
    c->pid = pid;
    c->status_fd = status_fd;
    /* Opened on the first wait with a timeout: most joins wait forever. */
    c->pidfd = -1;
    return c;
}

int mproc__unix_spawn_self(struct mproc__os_child **child,
                           const char *const *args, const int *fds, int nfds)
{
    return mproc__unix_spawn_self_ex(child, args, fds, nfds, 0);
}

int mproc__unix_spawn_self_ex(struct mproc__os_child **child,
                              const char *const *args, const int *fds, int nfds,
                              int flags)
{
    short spawn_flags = POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF;
    posix_spawn_file_actions_t fa;
    posix_spawnattr_t attr;
    char exe[PATH_MAX];
    char *argv[16];
    size_t nargs = 0;
    pid_t pid;
    sigset_t none;
    int *high;
    int err, i;

    if (nfds < 0 || nfds > MPROC__OS_MAX_PASS + 4)
        return mproc__set_error(MPROC_EINVAL, "too many descriptors");

    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n < 0)
        return mproc__unix_error(errno, "cannot find the program's executable");
    exe[n] = '\0';
    high = malloc((size_t) (nfds ? nfds : 1) * sizeof *high);
    if (high == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    argv[nargs++] = exe;
    while (args[nargs - 1] != NULL && nargs < MPROC__ARRAY_SIZE(argv) - 1) {
        argv[nargs] = (char *) args[nargs - 1];
        nargs++;
    }
    argv[nargs] = NULL;

    posix_spawn_file_actions_init(&fa);
    posix_spawnattr_init(&attr);
    /*
     * The child starts with default signal dispositions and an empty mask:
     * what the parent ignores (SIGPIPE) or blocks is its own business.
     */
    sigemptyset(&none);
    posix_spawnattr_setsigmask(&attr, &none);
    {
        sigset_t all;
        sigfillset(&all);
        posix_spawnattr_setsigdefault(&attr, &all);
    }
    if (flags & MPROC__UNIX_SPAWN_SETSID)
        spawn_flags |= POSIX_SPAWN_SETSID;
    posix_spawnattr_setflags(&attr, spawn_flags);
    posix_spawn_file_actions_addopen(&fa, STDIN_FILENO, "/dev/null", O_RDONLY,
                                     0);
    /*
     * Move the handed-over descriptors to 3, 4, ... A source that already
     * sat in that range could be clobbered by an earlier dup2, so each is
     * first duplicated above the range; the copies are close-on-exec.
     */
    for (i = 0; i < nfds; i++) {
        high[i] = fcntl(fds[i], F_DUPFD_CLOEXEC, 3 + nfds);
        if (high[i] < 0) {
            err = errno;
            while (i-- > 0)
                close(high[i]);
            free(high);
            posix_spawn_file_actions_destroy(&fa);
            posix_spawnattr_destroy(&attr);
            return mproc__unix_error(err, "cannot duplicate a descriptor");
        }
        posix_spawn_file_actions_adddup2(&fa, high[i], 3 + i);
    }
    /* Nothing else leaks into the child: the core rule of spawn. */
    posix_spawn_file_actions_addclosefrom_np(&fa, 3 + nfds);

    err = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
    for (i = 0; i < nfds; i++)
        close(high[i]);
    free(high);
    posix_spawn_file_actions_destroy(&fa);
    posix_spawnattr_destroy(&attr);
    if (err != 0)
        return mproc__unix_error(err, "cannot start the program again");
    *child = mproc__unix_child_new(pid, -1);
    if (*child == NULL) {
        /* Without a record nobody could reap it: stop it now. */
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    return 0;
}

int mproc__os_spawn_helper(mproc__os_child_t **child, const char *marker,
                           const mproc__os_fd_t *h, size_t n, int own_session)
{
    static const char *const numbers[] = {"3", "4", "5", "6",
                                          "7", "8", "9", "10"};
    const char *args[2 + MPROC__ARRAY_SIZE(numbers)];
    int fds[MPROC__ARRAY_SIZE(numbers)];
    size_t i;
    if (n > MPROC__ARRAY_SIZE(numbers))
        return mproc__set_error(MPROC_EINVAL,
                                "a helper process takes at most %d handles",
                                (int) MPROC__ARRAY_SIZE(numbers));
    args[0] = marker;
    for (i = 0; i < n; i++) {
        args[1 + i] = numbers[i];
        fds[i] = (int) h[i];
    }
    args[1 + n] = NULL;
    return mproc__unix_spawn_self_ex(
        child, args, fds, (int) n, own_session ? MPROC__UNIX_SPAWN_SETSID : 0);
}

int mproc__os_child_remote(mproc__os_child_t **child, long pid,
                           mproc__os_fd_t status)
{
    *child = mproc__unix_child_new((pid_t) pid, (int) status);
    if (*child == NULL) {
        close((int) status);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    return 0;
}

int mproc__os_spawn(mproc__os_child_t **child, const char *marker,
                    mproc__os_fd_t *boot_w, const mproc__os_fd_t *pass,
                    size_t npass)
{
    int p[2], fds[1 + MPROC__OS_MAX_PASS];
    const char *args[] = {marker, "3", NULL};
    size_t i;
    int rc;
    if (pipe2(p, O_CLOEXEC) < 0)
        return mproc__unix_error(errno, "cannot create the bootstrap pipe");
    /* The bootstrap pipe lands on 3, the passed connections on 4, 5, ... */
    fds[0] = p[0];
    for (i = 0; i < npass; i++)
        fds[1 + i] = (int) pass[i];
    rc = mproc__unix_spawn_self(child, args, fds, 1 + (int) npass);
    close(p[0]);
    if (rc != 0) {
        close(p[1]);
        return rc;
    }
    *boot_w = p[1];
    return 0;
}

mproc__os_fd_t mproc__os_spawn_passed_handle(size_t i, mproc__os_fd_t h)
{
    (void) h;
    return (mproc__os_fd_t) (4 + i);
}

int mproc__os_fork(mproc__os_child_t **child)
{
    pid_t pid = fork();
    if (pid < 0)
        return mproc__unix_error(errno, "fork failed");
    if (pid == 0) {
        *child = NULL;
        return 1;
    }
    *child = mproc__unix_child_new(pid, -1);
    if (*child == NULL) {
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    return 0;
}

long mproc__os_child_pid(const mproc__os_child_t *child)
{
    return (long) child->pid;
}

/* Reaps a real child if it has ended: 1 done, 0 running, <0 error. */
static int try_reap(mproc__os_child_t *c)
{
    int status;
    pid_t r;
    do {
        r = waitpid(c->pid, &status, WNOHANG);
    } while (r < 0 && errno == EINTR);
    if (r == 0)
        return 0;
    if (r < 0)
        return mproc__unix_error(errno, "waitpid failed");
    c->exitcode = mproc__unix_exitcode(status);
    c->done = 1;
    return 1;
}

/* A forkserver child: the server writes the status as 8 bytes, LE. */
static int read_remote_status(mproc__os_child_t *c)
{
    unsigned char b[8];
    int rc = mproc__read_exact(c->status_fd, b, sizeof b);
    /*
     * A server that died cannot tell us anything more: report the child as
     * ended with 255, as Python's forkserver client does.
     */
    c->exitcode = rc == 0 ? (int) mproc__get_i64(b) : 255;
    c->done = 1;
    /*
     * The connection stays open, at its end and so readable, until the
     * record is freed: it is the child's sentinel, which a program may
     * still poll.
     */
    return 0;
}

/* A pidfd for @c, or -1 where the kernel has none (pidfds are CLOEXEC). */
static int child_pidfd(mproc__os_child_t *c)
{
#if defined(SYS_pidfd_open)
    if (c->pidfd < 0)
        c->pidfd = (int) syscall(SYS_pidfd_open, c->pid, 0);
#endif
    return c->pidfd;
}

/* Waits for a real child of ours; 0 once reaped, or MPROC_ETIMEDOUT. */
static int wait_own_child(mproc__os_child_t *c, double timeout)
{
    double deadline;
    long nap_us = 50;
    int rc;
    if (timeout < 0) {
        int status;
        pid_t r;
        do {
            r = waitpid(c->pid, &status, 0);
        } while (r < 0 && errno == EINTR);
        if (r < 0)
            return mproc__unix_error(errno, "waitpid failed");
        c->exitcode = mproc__unix_exitcode(status);
        c->done = 1;
        return 0;
    }
    rc = try_reap(c);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    if (timeout == 0)
        return MPROC_ETIMEDOUT;
    if (child_pidfd(c) >= 0) {
        /* The pidfd is readable once the child is a zombie. */
        rc = mproc__unix_poll_in(c->pidfd, timeout);
        if (rc != 0)
            return rc;
        rc = try_reap(c);
        if (rc == 0)
            return mproc__set_error(MPROC_EOS, "lost track of child %ld",
                                    (long) c->pid);
        return rc < 0 ? rc : 0;
    }
    /* No pidfds (old kernels): poll waitpid with growing naps. */
    deadline = mproc__os_monotonic() + timeout;
    while ((rc = try_reap(c)) == 0) {
        struct timespec ts;
        if (mproc__os_monotonic() >= deadline)
            return MPROC_ETIMEDOUT;
        ts.tv_sec = 0;
        ts.tv_nsec = nap_us * 1000;
        nanosleep(&ts, NULL);
        if (nap_us < 10000)
            nap_us *= 2;
    }
    return rc < 0 ? rc : 0;
}

int mproc__os_child_wait(mproc__os_child_t *c, double timeout, int *exitcode)
{
    int rc;
    if (!c->done) {
        if (c->status_fd >= 0) {
            rc = mproc__unix_poll_in(c->status_fd, timeout);
            if (rc != 0)
                return rc;
            read_remote_status(c);
        } else {
            rc = wait_own_child(c, timeout);
            if (rc != 0)
                return rc;
        }
    }
    *exitcode = c->exitcode;
    return 0;
}

int mproc__os_child_waitable(mproc__os_child_t *c, mproc__os_fd_t *h)
{
    /* The server writes the status there, or dies and leaves EOF. */
    if (c->status_fd >= 0) {
        *h = c->status_fd;
        return 0;
    }
    /*
     * A pidfd opened before the child was reaped stays readable for good.
     * None is opened for a reaped child: its pid may already name another
     * process.
     */
    if (c->pidfd >= 0 || (!c->done && child_pidfd(c) >= 0)) {
        *h = c->pidfd;
        return 0;
    }
    return mproc__set_error(MPROC_ENOTSUP,
                            "this kernel has no pidfd to wait for child %ld",
                            (long) c->pid);
}

static int send_signal(mproc__os_child_t *c, int sig)
{
    if (c->done)
        return 0;
    /*
     * A real child that has ended but is not reaped is a zombie: kill()
     * succeeds on it and does nothing, which is what we want. A forkserver
     * child is reaped by the server just before it reports the status, so
     * in that short window the pid could in theory be reused; Python's
     * forkserver has the same window.
     */
    if (kill(c->pid, sig) < 0 && errno != ESRCH)
        return mproc__unix_error(errno, "cannot signal the child");
    return 0;
}

int mproc__os_child_interrupt(mproc__os_child_t *c)
{
    return send_signal(c, SIGINT);
}

int mproc__os_child_terminate(mproc__os_child_t *c)
{
    return send_signal(c, SIGTERM);
}

int mproc__os_child_kill(mproc__os_child_t *c)
{
    return send_signal(c, SIGKILL);
}

void mproc__os_child_free(mproc__os_child_t *c)
{
    if (c == NULL)
        return;
    if (c->pidfd >= 0)
        close(c->pidfd);
    if (c->status_fd >= 0)
        close(c->status_fd);
    free(c);
}

/*
 * The start time of process @pid (0: this one) in clock ticks since boot,
 * from /proc; 0 with *@t set, or -1 where /proc cannot tell.
 */
static int start_ticks(long pid, unsigned long long *t)
{
    char path[64], buf[1024], *p;
    size_t n;
    int field;
    FILE *f;
    if (pid != 0)
        snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    else
        snprintf(path, sizeof path, "/proc/self/stat");
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof buf - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* The command name may hold spaces and parentheses: skip to its end. */
    p = strrchr(buf, ')');
    if (p == NULL)
        return -1;
    /* After the name come the state (field 3) ... the start time (22). */
    for (field = 2; field < 22 && p != NULL; field++)
        p = strchr(p + 1, ' ');
    if (p == NULL || sscanf(p + 1, "%llu", t) != 1)
        return -1;
    return 0;
}

int mproc__os_process_watch(long pid, mproc__os_fd_t *h)
{
#if defined(SYS_pidfd_open)
    unsigned long long theirs, ours;
    int fd = (int) syscall(SYS_pidfd_open, (pid_t) pid, 0);
    if (fd < 0) {
        if (errno == ESRCH)
            return 1;
        return mproc__set_error(MPROC_ENOTSUP,
                                "this kernel has no pidfd to watch process %ld",
                                pid);
    }
    /*
     * The pidfd names whatever process has @pid now. A parent started
     * before this process; one that started later is a stranger that got
     * the dead parent's pid. Read after the open, so that the pidfd and
     * the start time are of the same process or the pidfd's is gone.
     */
    if (start_ticks(pid, &theirs) == 0 && start_ticks(0, &ours) == 0 &&
        theirs > ours) {
        close(fd);
        return 1;
    }
    *h = fd;
    return 0;
#else
    (void) h;
    return mproc__set_error(
        MPROC_ENOTSUP, "this system has no pidfd to watch process %ld", pid);
#endif
}

int mproc__os_pid_alive(long pid)
{
    return kill((pid_t) pid, 0) == 0 || errno == EPERM;
}
