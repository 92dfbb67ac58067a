/*
 * Unix backend: the helpers every file of the backend uses: error
 * translation, the monotonic clock, deadlines and sleeping, the working
 * directory, and the futex call.
 */
#include "os_internal.h"

#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "mproc_services.h"

/* ---- errors ------------------------------------------------------------ */

int mproc__unix_error(int err, const char *what)
{
    int status = MPROC_EOS;
    if (err == ENOMEM)
        status = MPROC_ENOMEM;
    else if (err == EPIPE || err == ECONNRESET)
        status = MPROC_ECLOSED;
    return mproc__set_error(status, "%s: %s", what, strerror(err));
}

/* ---- time ------------------------------------------------------------ */

void mproc__os_yield(void)
{
    sched_yield();
}

void mproc__os_pause(void)
{
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#elif defined(__aarch64__)
    __asm__ __volatile__("yield");
#endif
}

double mproc__os_monotonic(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec + (double) ts.tv_nsec / 1e9;
}

/* The absolute CLOCK_MONOTONIC time @timeout seconds (> 0) from now. */
void mproc__unix_deadline_after(double timeout, struct timespec *ts)
{
    time_t whole;
    /* About 30 years: far enough to mean "never" without overflowing. */
    if (timeout > 1e9)
        timeout = 1e9;
    whole = (time_t) timeout;
    clock_gettime(CLOCK_MONOTONIC, ts);
    ts->tv_sec += whole;
    ts->tv_nsec += (long) ((timeout - (double) whole) * 1e9);
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* Sleeps until the absolute CLOCK_MONOTONIC time @ts. */
void mproc__unix_sleep_until(const struct timespec *ts)
{
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, ts, NULL) == EINTR) {
    }
}

void mproc__os_sleep(double seconds)
{
    struct timespec ts;
    mproc__unix_deadline_after(seconds, &ts);
    mproc__unix_sleep_until(&ts);
}

/* ---- the working directory ------------------------------------------ */

int mproc__os_getcwd(char **out)
{
    size_t cap = 256;
    *out = NULL;
    for (;;) {
        char *buf = malloc(cap);
        if (buf == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        if (getcwd(buf, cap) != NULL) {
            *out = buf;
            return 0;
        }
        free(buf);
        if (errno != ERANGE)
            return mproc__unix_error(errno, "getcwd");
        cap *= 2;
    }
}

int mproc__os_chdir(const char *path)
{
    if (chdir(path) != 0)
        return mproc__unix_error(errno, "chdir");
    return 0;
}

int mproc__os_command_line(int *argc, char ***argv)
{
    *argc = 0;
    *argv = NULL;
    return mproc__set_error(MPROC_ENOTSUP,
                            "the command line is main()'s to give on Unix: "
                            "call mproc_main(argc, argv)");
}

/* ---- futexes ---------------------------------------------------------- */

long mproc__unix_futex(uint32_t *word, int op, uint32_t val,
                       const struct timespec *ts, uint32_t bitset)
{
    return syscall(SYS_futex, word, op, val, ts, NULL, bitset);
}

int mproc__unix_poll_in(int fd, double timeout)
{
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    struct timespec deadline, now, left, *tsp = NULL;
    if (timeout >= 0) {
        clock_gettime(CLOCK_MONOTONIC, &deadline);
        deadline.tv_sec += (time_t) timeout;
        deadline.tv_nsec +=
            (long) ((timeout - (double) (time_t) timeout) * 1e9);
        if (deadline.tv_nsec >= 1000000000L) {
            deadline.tv_sec++;
            deadline.tv_nsec -= 1000000000L;
        }
    }
    for (;;) {
        if (timeout >= 0) {
            clock_gettime(CLOCK_MONOTONIC, &now);
            left.tv_sec = deadline.tv_sec - now.tv_sec;
            left.tv_nsec = deadline.tv_nsec - now.tv_nsec;
            if (left.tv_nsec < 0) {
                left.tv_sec--;
                left.tv_nsec += 1000000000L;
            }
            if (left.tv_sec < 0)
                left.tv_sec = left.tv_nsec = 0;
            tsp = &left;
        }
        int r = ppoll(&pfd, 1, tsp, NULL);
        if (r > 0)
            return 0;
        if (r == 0)
            return MPROC_ETIMEDOUT;
        if (errno != EINTR)
            return mproc__unix_error(errno, "poll failed");
    }
}
