/*
 * Unix backend: what the library's helper processes (src/forkserver.c,
 * src/tracker.c) need of the OS beyond fork and the local listener:
 * learning that children ended, signals, stdio, inheritance, a receive
 * timeout and a deadline.
 *
 * The server is single-threaded and waits for its clients and its
 * children in one wait: SIGCHLD reaches that wait through a self-pipe.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include "mproc_services.h"

/* The self-pipe: the handler writes, the server's wait reads. */
static int sigchld_r = -1, sigchld_w = -1;

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

int mproc__os_reaper_init(mproc__os_fd_t *h)
{
    struct sigaction sa;
    int p[2];
    if (pipe2(p, O_CLOEXEC | O_NONBLOCK) < 0)
        return mproc__unix_error(errno, "cannot create the signal pipe");
    sigchld_r = p[0];
    sigchld_w = p[1];
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_RESTART | SA_NOCLDSTOP;
    if (sigaction(SIGCHLD, &sa, NULL) < 0)
        return mproc__unix_error(errno, "cannot watch for SIGCHLD");
    *h = sigchld_r;
    return 0;
}

int mproc__os_reap(long *pid, int *exitcode)
{
    char drain[64];
    int status;
    pid_t r;
    /* Drained first: a child that ends after this writes again. */
    while (read(sigchld_r, drain, sizeof drain) > 0) {
    }
    r = waitpid(-1, &status, WNOHANG);
    if (r <= 0)
        return 0;
    *pid = (long) r;
    *exitcode = mproc__unix_exitcode(status);
    return 1;
}

void mproc__os_reaper_forget(void)
{
    signal(SIGCHLD, SIG_DFL);
    if (sigchld_r >= 0)
        close(sigchld_r);
    if (sigchld_w >= 0)
        close(sigchld_w);
    sigchld_r = sigchld_w = -1;
}

void mproc__os_ignore_interrupts(int ignore)
{
    /*
     * Both, as Python's resource tracker does: SIGINT is what a Ctrl-C in
     * the program's terminal sends to the whole foreground group, SIGTERM
     * what a kill of the program sends; either would otherwise take the
     * server down with whatever disposition the parent's shell left.
     */
    signal(SIGINT, ignore ? SIG_IGN : SIG_DFL);
    signal(SIGTERM, ignore ? SIG_IGN : SIG_DFL);
}

void mproc__os_detach_signals(void)
{
    signal(SIGINT, SIG_IGN);
    signal(SIGTERM, SIG_IGN);
    signal(SIGHUP, SIG_IGN);
    signal(SIGPIPE, SIG_IGN);
}

int mproc__os_fd_private(mproc__os_fd_t h)
{
    int flags = fcntl((int) h, F_GETFD);
    if (flags < 0 || fcntl((int) h, F_SETFD, flags | FD_CLOEXEC) < 0)
        return mproc__unix_error(errno, "cannot make a descriptor private");
    return 0;
}

mproc__os_fd_t mproc__os_std_handle(int which)
{
    return which == 1 ? STDOUT_FILENO : STDERR_FILENO;
}

int mproc__os_set_stdio(mproc__os_fd_t out, mproc__os_fd_t err)
{
    if (dup2((int) out, STDOUT_FILENO) < 0 ||
        dup2((int) err, STDERR_FILENO) < 0)
        return mproc__unix_error(errno, "cannot set stdout and stderr");
    return 0;
}

int mproc__os_set_recv_timeout(mproc__os_fd_t sock, double seconds)
{
    struct timeval tv;
    tv.tv_sec = (time_t) seconds;
    tv.tv_usec = (suseconds_t) ((seconds - (double) tv.tv_sec) * 1e6);
    if (setsockopt((int) sock, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv) < 0)
        return mproc__unix_error(errno, "cannot set a receive timeout");
    return 0;
}

void mproc__os_exit_after(double seconds)
{
    /*
     * alarm() counts whole seconds: round up, so the deadline is never
     * shorter than asked. SIGALRM's default action ends the process, which
     * is the point; whatever the server inherited is set back to it.
     */
    unsigned whole = seconds <= 0 ? 0 : (unsigned) seconds;
    if (seconds > (double) whole)
        whole++;
    signal(SIGALRM, SIG_DFL);
    alarm(whole);
}
