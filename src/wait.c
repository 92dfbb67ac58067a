/*
 * Waiting for several connections and processes at once:
 * multiprocessing.connection.wait.
 *
 * A connection may hold whole frames in its read buffer already, which
 * the OS cannot see; those count as ready before the OS is asked.
 */
#include <stdlib.h>

#include "conn_internal.h"
#include "process_internal.h"

static int check_items(const mproc_waitable_t *items, size_t n)
{
    long self = mproc__os_getpid();
    size_t i;
    for (i = 0; i < n; i++) {
        const mproc_waitable_t *w = &items[i];
        if ((w->conn == NULL) == (w->process == NULL))
            return mproc__set_error(MPROC_EINVAL,
                                    "item %zu of mproc_wait needs a "
                                    "connection or a process, not both",
                                    i);
        if (w->conn != NULL && !w->conn->readable)
            return mproc__set_error(MPROC_ESTATE,
                                    "item %zu of mproc_wait is the sending "
                                    "end of a one-way pipe",
                                    i);
        if (w->process != NULL) {
            int rc = mproc__process_check_child_of(w->process, self);
            if (rc == MPROC_ENOTCHILD)
                return mproc__set_error(MPROC_ENOTCHILD,
                                        "item %zu of mproc_wait is not a "
                                        "child of this process",
                                        i);
            if (rc != 0)
                return mproc__set_error(MPROC_ENOTSTARTED,
                                        "item %zu of mproc_wait is a "
                                        "process that was not started",
                                        i);
        }
    }
    return 0;
}

/* How often children without a waitable handle are asked, in seconds. */
#define POLL_SLICE 0.01

/* How many items mproc_wait() keeps track of on its stack. */
#define FEW 16

int mproc_wait(mproc_waitable_t *items, size_t n, double timeout)
{
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    mproc__os_wait_item_t *os, os_few[FEW];
    size_t *which, which_few[FEW];
    size_t i, k;
    int rc, count;

    /*
     * Nothing can ever become ready: Python's wait([]) without a timeout
     * blocks forever, and returning at once is the one useful answer.
     */
    if (items == NULL || n == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "mproc_wait needs at least one item; with "
                                "none, nothing could ever become ready");
    rc = check_items(items, n);
    if (rc != 0)
        return rc;
    /* A few items, the usual case, need no memory of the heap. */
    if (n <= FEW) {
        os = os_few;
        which = which_few;
    } else {
        os = malloc(n * sizeof *os);
        which = malloc(n * sizeof *which);
    }
    if (os == NULL || which == NULL) {
        free(os);
        free(which);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    for (;;) {
        double wait;
        int polling = 0;
        /*
         * What is ready without the OS: buffered frames, children known to
         * have ended. A child that ended unseen has a handle that is ready
         * at once; only one without a handle is asked (polling, below).
         */
        count = 0;
        for (i = k = 0; i < n; i++) {
            mproc_waitable_t *w = &items[i];
            mproc__os_fd_t h;
            w->ready = w->conn != NULL ? mproc__stream_ready(&w->conn->in)
                                       : mproc__process_ended_known(w->process);
            if (w->ready) {
                count++;
                continue;
            }
            if (w->conn != NULL) {
                os[k].conn = w->conn->os;
                os[k].handle = MPROC__OS_FD_INVALID;
            } else if (mproc__process_waitable(w->process, &h) == 0) {
                os[k].conn = NULL;
                os[k].handle = h;
            } else {
                polling = 1;
                continue;
            }
            os[k].ready = 0;
            which[k++] = i;
        }
        /* With something ready, the others are only looked at. */
        if (count > 0 || timeout == 0)
            wait = 0;
        else if (timeout < 0)
            wait = -1;
        else {
            wait = deadline - mproc__os_monotonic();
            if (wait < 0)
                wait = 0;
        }
        if (polling && (wait < 0 || wait > POLL_SLICE))
            wait = POLL_SLICE;
        if (k > 0) {
            rc = mproc__os_wait_many(os, k, wait);
            if (rc < 0)
                break;
        } else if (wait > 0) {
            mproc_sleep(wait);
        }
        for (i = 0; i < k; i++) {
            mproc_waitable_t *w = &items[which[i]];
            /* A child's handle is ready once it ended; reap it now. */
            if (os[i].ready &&
                (w->conn != NULL || mproc__process_ended(w->process))) {
                w->ready = 1;
                count++;
            }
        }
        if (polling) {
            for (i = 0; i < n; i++) {
                mproc_waitable_t *w = &items[i];
                if (w->process != NULL && !w->ready &&
                    mproc__process_ended(w->process)) {
                    w->ready = 1;
                    count++;
                }
            }
        }
        /* Nothing ready when the time ran out is a timeout, as for a poll. */
        rc = count > 0 ? count : MPROC_ETIMEDOUT;
        if (count > 0 || timeout == 0 ||
            (timeout > 0 && mproc__os_monotonic() >= deadline))
            break;
    }
    if (os != os_few) {
        free(os);
        free(which);
    }
    return rc;
}
