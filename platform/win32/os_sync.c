/*
 * Win32 backend: the semaphore and the event that processes share by name
 * (the lock is in os_mutex.c, shared memory in os_shm.c).
 *
 * APR has no process-shared semaphore or event at all. So these are the
 * Win32 objects themselves: a Semaphore and a manual-reset Event, each
 * named "Local\<name>" so that a spawned child, which inherits no handle,
 * opens the same object by name.
 *
 * All of them live in one namespace, the session's BaseNamedObjects: a
 * mapping and a mutex cannot share a name, which is why a name taken by an
 * object of another kind is reported as MPROC_EEXIST (creating) or
 * MPROC_ENOTFOUND (opening).
 *
 * The slot that the contract gives each synchronization object is not
 * used: the kernel keeps the object's state, and counts the handles to it,
 * so nothing needs to be removed when the processes that used it end,
 * however they end.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

struct mproc__os_sem {
    HANDLE h;
};

struct mproc__os_event {
    HANDLE h;
};

/* ---- semaphore --------------------------------------------------------- */

/* arg: the initial value and the limit, as two LONGs. */
static HANDLE make_sem(const wchar_t *wname, const void *arg)
{
    const LONG *v = arg;
    /* The bound is the object's maximum: the kernel enforces it. */
    return CreateSemaphoreW(NULL, v[0], v[1], wname);
}

static HANDLE open_sem(const wchar_t *wname)
{
    return OpenSemaphoreW(SYNCHRONIZE | SEMAPHORE_MODIFY_STATE, FALSE, wname);
}

int mproc__os_sem_init(mproc__os_sem_t **s, void *slot, const char *name,
                       unsigned value, unsigned max, int create)
{
    struct mproc__os_sem *sem;
    LONG v[2];
    int rc;

    (void) slot;
    *s = NULL;
    if (value > (unsigned) LONG_MAX || max > (unsigned) LONG_MAX)
        return mproc__set_error(MPROC_EINVAL,
                                "a semaphore's value is at most %ld",
                                (long) LONG_MAX);
    if (max != 0 && value > max)
        return mproc__set_error(MPROC_EINVAL,
                                "a bounded semaphore cannot start above its "
                                "bound (%u > %u)",
                                value, max);
    v[0] = (LONG) value;
    v[1] = max != 0 ? (LONG) max : LONG_MAX;
    sem = calloc(1, sizeof *sem);
    if (sem == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = mproc__win_named_handle("semaphore", name, create, make_sem, open_sem,
                                 v, &sem->h);
    if (rc != 0) {
        free(sem);
        return rc;
    }
    *s = sem;
    return 0;
}

int mproc__os_sem_wait(mproc__os_sem_t *s, double timeout)
{
    return mproc__win_wait_handle(s->h, timeout);
}

int mproc__os_sem_post(mproc__os_sem_t *s)
{
    DWORD err;
    if (ReleaseSemaphore(s->h, 1, NULL))
        return 0;
    err = GetLastError();
    /* The count stays as it was, as the contract asks. */
    if (err == ERROR_TOO_MANY_POSTS)
        return mproc__set_error(MPROC_ETOOMANY,
                                "the semaphore is released too many times: it "
                                "is at its bound");
    return mproc__win_error(err, "cannot release a semaphore");
}

int mproc__os_sem_value(mproc__os_sem_t *s, int *value)
{
    LONG prev;
    DWORD r;
    /*
     * Windows has no documented call that reads a semaphore's count, so
     * this is CPython's way (semaphore.c, get_value): take one unit if there
     * is one, and give it back, which tells the count before it. The answer
     * is a snapshot, as it is on every system; meanwhile another waiter may
     * find the semaphore at one less than it is.
     */
    r = WaitForSingleObject(s->h, 0);
    if (r == WAIT_TIMEOUT) {
        *value = 0;
        return 0;
    }
    if (r != WAIT_OBJECT_0)
        return mproc__win_error(GetLastError(),
                                "cannot read a semaphore's value");
    if (!ReleaseSemaphore(s->h, 1, &prev))
        return mproc__win_error(GetLastError(),
                                "cannot read a semaphore's value");
    *value = prev >= INT_MAX ? INT_MAX : (int) prev + 1;
    return 0;
}

void mproc__os_sem_close(mproc__os_sem_t *s)
{
    if (s == NULL)
        return;
    CloseHandle(s->h);
    free(s);
}

/* ---- event ------------------------------------------------------------- */

static HANDLE make_event(const wchar_t *wname, const void *arg)
{
    (void) arg;
    /*
     * Manual reset: set wakes every waiter and stays set until cleared, as
     * Python's Event does. Created clear.
     */
    return CreateEventW(NULL, TRUE, FALSE, wname);
}

static HANDLE open_event(const wchar_t *wname)
{
    return OpenEventW(SYNCHRONIZE | EVENT_MODIFY_STATE, FALSE, wname);
}

int mproc__os_event_init(mproc__os_event_t **e, void *slot, const char *name,
                         int create)
{
    struct mproc__os_event *ev;
    int rc;

    (void) slot;
    *e = NULL;
    ev = calloc(1, sizeof *ev);
    if (ev == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = mproc__win_named_handle("event", name, create, make_event, open_event,
                                 NULL, &ev->h);
    if (rc != 0) {
        free(ev);
        return rc;
    }
    *e = ev;
    return 0;
}

int mproc__os_event_set(mproc__os_event_t *e)
{
    if (!SetEvent(e->h))
        return mproc__win_error(GetLastError(), "cannot set an event");
    return 0;
}

int mproc__os_event_clear(mproc__os_event_t *e)
{
    if (!ResetEvent(e->h))
        return mproc__win_error(GetLastError(), "cannot clear an event");
    return 0;
}

int mproc__os_event_is_set(mproc__os_event_t *e)
{
    /* A manual-reset event stays set when a wait sees it. */
    DWORD r = WaitForSingleObject(e->h, 0);
    if (r == WAIT_OBJECT_0)
        return 1;
    if (r == WAIT_TIMEOUT)
        return 0;
    return mproc__win_error(GetLastError(), "cannot read an event");
}

int mproc__os_event_wait(mproc__os_event_t *e, double timeout)
{
    return mproc__win_wait_handle(e->h, timeout);
}

void mproc__os_event_close(mproc__os_event_t *e)
{
    if (e == NULL)
        return;
    CloseHandle(e->h);
    free(e);
}
