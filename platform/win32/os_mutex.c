/*
 * Win32 backend: thread ids and the lock, a named kernel Mutex
 * ("Local\<name>").
 *
 * APR's cross-process mutex (locks/win32/proc_mutex.c) treats WAIT_ABANDONED
 * like WAIT_OBJECT_0, so a caller is never told that the previous holder
 * died; this one reports it as MPROC_OWNERDEAD.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

struct mproc__os_mutex {
    HANDLE h;
    mproc__os_mutex_kind_e kind;
    /*
     * The id of the thread of this process that holds a plain mutex through
     * this handle, 0 if none (no thread has id 0). Windows mutexes are
     * recursive: without it, a plain lock relocked by its holder would
     * simply succeed. Only the holder writes its own id here, after it
     * acquired the mutex, and clears it before it releases the mutex, so a
     * thread that reads its own id is certain to hold the mutex; the
     * interlocked operations keep other threads from reading a torn value.
     */
    volatile LONG holder;
};

/* Sleeps @timeout seconds (at least; nothing for 0). */
static void sleep_for(double timeout)
{
    double deadline = mproc__os_monotonic() + timeout;
    DWORD ms;
    /* Sleep may end up to a clock tick early, as a wait may. */
    while ((ms = mproc__win_ms_left(deadline)) > 0)
        Sleep(ms);
}

/* ---- threads ----------------------------------------------------------- */

long mproc__os_thread_id(void)
{
    /*
     * A read of the thread's environment block, as cheap as a cached value
     * would be. A thread id is a DWORD; on Windows a long is 32 bits, and
     * ids are multiples of 4 far below 2^31, so the value stays positive.
     */
    return (long) GetCurrentThreadId();
}

/* ---- per-thread slots -------------------------------------------------- */

/*
 * A fiber-local slot: Windows calls its callback when a thread that set a
 * value ends (and when the slot is freed, which these never are), which a
 * thread-local (Tls) slot does not do. It also calls it for the thread
 * that ends the process, from ExitProcess after the atexit handlers, once
 * every other thread has been stopped wherever it was, perhaps holding a
 * lock the function takes. That call is not passed on, as POSIX passes no
 * value at exit(): each slot's callback is one of a few fixed functions
 * that first ask the loader whether the process is shutting down.
 */
#define TLS_MAX 4

struct mproc__os_tls {
    DWORD index;
    void (*at_exit)(void *value);
};

static mproc__os_tls_t tls_slots[TLS_MAX];
static LONG tls_count; /* slots made, under tls_lock */
static SRWLOCK tls_lock = SRWLOCK_INIT;
static BOOLEAN(WINAPI *shutdown_in_progress)(void);

static void tls_ends(int i, void *value)
{
    if (shutdown_in_progress != NULL && shutdown_in_progress())
        return;
    tls_slots[i].at_exit(value);
}

static void WINAPI tls_ends_0(void *value)
{
    tls_ends(0, value);
}

static void WINAPI tls_ends_1(void *value)
{
    tls_ends(1, value);
}

static void WINAPI tls_ends_2(void *value)
{
    tls_ends(2, value);
}

static void WINAPI tls_ends_3(void *value)
{
    tls_ends(3, value);
}

static const PFLS_CALLBACK_FUNCTION tls_callbacks[TLS_MAX] = {
    tls_ends_0, tls_ends_1, tls_ends_2, tls_ends_3};

int mproc__os_tls_create(mproc__os_tls_t **slot, void (*at_exit)(void *value))
{
    mproc__os_tls_t *t;
    DWORD index;
    int rc = 0;
    AcquireSRWLockExclusive(&tls_lock);
    if (tls_count == 0) {
        HMODULE ntdll = GetModuleHandleW(L"ntdll.dll");
        FARPROC f = ntdll != NULL
                        ? GetProcAddress(ntdll, "RtlDllShutdownInProgress")
                        : NULL;
        shutdown_in_progress = (BOOLEAN(WINAPI *)(void))(void (*)(void)) f;
    }
    if (tls_count == TLS_MAX) {
        rc = mproc__set_error(MPROC_ENOMEM, "no per-thread slot is left");
    } else {
        t = &tls_slots[tls_count];
        t->at_exit = at_exit;
        index = FlsAlloc(tls_callbacks[tls_count]);
        if (index == FLS_OUT_OF_INDEXES) {
            rc = mproc__set_error(MPROC_ENOMEM, "no fiber-local slot is left");
        } else {
            t->index = index;
            tls_count++;
            *slot = t;
        }
    }
    ReleaseSRWLockExclusive(&tls_lock);
    return rc;
}

void *mproc__os_tls_get(mproc__os_tls_t *slot)
{
    return FlsGetValue(slot->index);
}

int mproc__os_tls_set(mproc__os_tls_t *slot, void *value)
{
    if (!FlsSetValue(slot->index, value))
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    return 0;
}

/* ---- mutex ------------------------------------------------------------- */

static HANDLE make_mutex(const wchar_t *wname, const void *arg)
{
    (void) arg;
    return CreateMutexW(NULL, FALSE, wname);
}

static HANDLE open_mutex(const wchar_t *wname)
{
    return OpenMutexW(SYNCHRONIZE | MUTEX_MODIFY_STATE, FALSE, wname);
}

int mproc__os_mutex_init(mproc__os_mutex_t **m, void *slot, const char *name,
                         mproc__os_mutex_kind_e kind, int create)
{
    struct mproc__os_mutex *mx;
    int rc;

    (void) slot;
    *m = NULL;
    if (kind != MPROC__OS_MUTEX_PLAIN && kind != MPROC__OS_MUTEX_RECURSIVE)
        return mproc__set_error(MPROC_EINVAL, "unknown kind of mutex %d",
                                (int) kind);
    mx = calloc(1, sizeof *mx);
    if (mx == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    mx->kind = kind;
    rc = mproc__win_named_handle("lock", name, create, make_mutex, open_mutex,
                                 NULL, &mx->h);
    if (rc != 0) {
        free(mx);
        return rc;
    }
    *m = mx;
    return 0;
}

int mproc__os_mutex_lock(mproc__os_mutex_t *m, double timeout)
{
    LONG self = (LONG) GetCurrentThreadId();
    DWORD result = WAIT_OBJECT_0;
    int rc;

    if (m->kind == MPROC__OS_MUTEX_PLAIN &&
        InterlockedCompareExchange(&m->holder, 0, 0) == self) {
        /*
         * The caller holds the lock: Windows would let it in again, a plain
         * lock must not. The mutex is left alone, and the caller waits as
         * long as it would have waited for a lock that is never released.
         */
        if (timeout < 0)
            return mproc__set_error(MPROC_EDEADLK,
                                    "the calling thread holds this lock "
                                    "already: acquiring it again would wait "
                                    "forever");
        if (timeout > 0)
            sleep_for(timeout);
        return MPROC_ETIMEDOUT;
    }
    rc = mproc__win_wait_handle_ex(m->h, timeout, &result);
    if (rc != 0)
        return rc;
    if (m->kind == MPROC__OS_MUTEX_PLAIN)
        InterlockedExchange(&m->holder, self);
    /* Held either way: an abandoned mutex is news, not a failure. */
    return result == WAIT_ABANDONED ? MPROC_OWNERDEAD : 0;
}

int mproc__os_mutex_is_mine(mproc__os_mutex_t *m)
{
    /* Only the holder writes its own id into this handle's record. */
    return InterlockedCompareExchange(&m->holder, 0, 0) ==
           (LONG) GetCurrentThreadId();
}

int mproc__os_mutex_unlock(mproc__os_mutex_t *m)
{
    LONG self = (LONG) GetCurrentThreadId();
    int was_holder = 0;
    DWORD err, r;

    /*
     * Cleared before the release: once the mutex is free, another thread of
     * this process may take it and record itself. Cleared only if it is the
     * caller's id: a thread that does not hold the lock must not erase the
     * holder's record on its way to MPROC_ENOTOWNER.
     */
    if (m->kind == MPROC__OS_MUTEX_PLAIN)
        was_holder = InterlockedCompareExchange(&m->holder, 0, self) == self;
    if (ReleaseMutex(m->h))
        return 0;
    err = GetLastError();
    if (err != ERROR_NOT_OWNER) {
        if (was_holder)
            InterlockedExchange(&m->holder, self);
        return mproc__win_error(err, "cannot release a lock");
    }
    /*
     * The kernel says that the caller does not own the mutex, so a record
     * that said otherwise was stale (the mutex was released through another
     * handle of this process) and stays cleared. Whether anybody owns it is
     * learnt by trying to take it: if that works at once, nobody held it,
     * and it is given back. An abandoned mutex counts as not held; taking it
     * this way consumes the abandonment, so the next acquirer is not told of
     * the dead holder: a caller that releases a lock it does not hold is
     * confused about it already.
     */
    r = WaitForSingleObject(m->h, 0);
    if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {
        ReleaseMutex(m->h);
        return mproc__set_error(MPROC_ENOTHELD,
                                "cannot release a lock that is not held");
    }
    if (r == WAIT_TIMEOUT)
        return mproc__set_error(MPROC_ENOTOWNER,
                                "cannot release a lock held by another thread "
                                "or process");
    return mproc__win_error(GetLastError(), "cannot release a lock");
}

void mproc__os_mutex_close(mproc__os_mutex_t *m)
{
    if (m == NULL)
        return;
    /*
     * A mutex held by the caller stays held by its thread: closing a handle
     * is not releasing. It is abandoned when that thread ends.
     */
    CloseHandle(m->h);
    free(m);
}
