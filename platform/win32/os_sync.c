/*
 * Win32 backend: thread ids, shared memory, and the kernel synchronization
 * objects (mutex, semaphore, event) that processes share by name.
 *
 * APR leaves this gap: its Windows shared memory (apr_shm_create with a
 * filename) is backed by a file, whose path names the mapping; its
 * cross-process mutex (locks/win32/proc_mutex.c) treats WAIT_ABANDONED like
 * WAIT_OBJECT_0, so a caller is never told that the previous holder died;
 * and it has no process-shared semaphore or event at all. So these are the
 * Win32 objects themselves: a pagefile-backed file mapping, and a Mutex,
 * Semaphore and manual-reset Event, each named "Local\<name>" so that a
 * spawned child, which inherits no handle, opens the same object by name.
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
#if !defined(_WIN32)
    #error "the Win32 backend is built on Unix: use platform/unix"
#endif

/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

/* The longest name the contract allows, and the namespace prefix. */
#define NAME_MAX_LEN 31
#define NAME_PREFIX L"Local\\"
#define NAME_PREFIX_LEN 6

/* "Local\<name>" and its terminator. */
typedef wchar_t object_name_t[NAME_PREFIX_LEN + NAME_MAX_LEN + 1];

struct mproc__os_shm {
    HANDLE map; /* the file mapping; the kernel frees it with its last handle */
    void *addr; /* this process's view */
};

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

struct mproc__os_sem {
    HANDLE h;
};

struct mproc__os_event {
    HANDLE h;
};

/* ---- helpers ----------------------------------------------------------- */

/*
 * Builds "Local\<name>" in @out, after checking @name against the
 * contract's rule: 1 to 31 characters of [A-Za-z0-9_.-]. The check keeps a
 * backslash out (it would name another namespace) and makes the name plain
 * ASCII, so it is widened character by character.
 */
static int object_name(const char *name, const char *kind, object_name_t out)
{
    size_t i, len = strlen(name);
    if (len == 0 || len > NAME_MAX_LEN)
        return mproc__set_error(MPROC_EINVAL,
                                "the name of a %s must be 1 to %d characters, "
                                "not %lu",
                                kind, NAME_MAX_LEN, (unsigned long) len);
    memcpy(out, NAME_PREFIX, NAME_PREFIX_LEN * sizeof(wchar_t));
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
              (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
            return mproc__set_error(MPROC_EINVAL,
                                    "the name of a %s may hold only letters, "
                                    "digits, '_', '.' and '-': '%s'",
                                    kind, name);
        out[NAME_PREFIX_LEN + i] = (wchar_t) c;
    }
    out[NAME_PREFIX_LEN + len] = L'\0';
    return 0;
}

/*
 * Checks what a Create*W call of a named object gave (@h, and @err, the
 * error captured right after the call), and translates a name that exists
 * into MPROC_EEXIST. A name held by an object of the same kind gives a
 * handle to that object with ERROR_ALREADY_EXISTS: the handle is closed,
 * since the caller asked for a new object. A name held by an object of
 * another kind fails with ERROR_INVALID_HANDLE.
 */
static int check_created(HANDLE h, DWORD err, const char *name,
                         const char *kind)
{
    if (h == NULL) {
        if (name != NULL && err == ERROR_INVALID_HANDLE)
            return mproc__set_error(MPROC_EEXIST,
                                    "cannot create the %s '%s': the name "
                                    "belongs to another kind of object",
                                    kind, name);
        if (name != NULL)
            return mproc__win_error(err, "cannot create a named object");
        return mproc__win_error(err, "cannot create an anonymous object");
    }
    if (name != NULL && err == ERROR_ALREADY_EXISTS) {
        CloseHandle(h);
        return mproc__set_error(MPROC_EEXIST,
                                "cannot create the %s '%s': the name exists "
                                "already",
                                kind, name);
    }
    return 0;
}

/*
 * Checks what an Open*W call gave. ERROR_FILE_NOT_FOUND is the name's
 * absence; ERROR_INVALID_HANDLE, a name held by another kind of object,
 * which is just as much "no such object" for the caller.
 */
static int check_opened(HANDLE h, DWORD err, const char *name, const char *kind)
{
    if (h != NULL)
        return 0;
    if (err == ERROR_FILE_NOT_FOUND)
        return mproc__set_error(MPROC_ENOTFOUND, "there is no %s named '%s'",
                                kind, name);
    if (err == ERROR_INVALID_HANDLE)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "cannot open the %s '%s': the name belongs to "
                                "another kind of object",
                                kind, name);
    return mproc__win_error(err, "cannot open a named object");
}

/*
 * Waits like mproc__win_wait_handle, but tells WAIT_OBJECT_0 from
 * WAIT_ABANDONED in *@result, which only a mutex gives.
 */
/*
 * Creates (@create) or opens the kernel object "Local\\<name>" of kind
 * @what ("lock", "semaphore", "event"), through @make or @open; an
 * anonymous one when @name is NULL (create only). The error sentences
 * name the object.
 */
static int named_handle(const char *what, const char *name, int create,
                        HANDLE (*make)(const wchar_t *wname, const void *arg),
                        HANDLE (*open)(const wchar_t *wname), const void *arg,
                        HANDLE *out)
{
    object_name_t wname;
    DWORD err;
    int rc;
    if (name == NULL && !create)
        return mproc__set_error(MPROC_EINVAL,
                                "an anonymous %s cannot be opened", what);
    if (name != NULL) {
        rc = object_name(name, what, wname);
        if (rc != 0)
            return rc;
    }
    if (create) {
        *out = make(name != NULL ? wname : NULL, arg);
        err = GetLastError();
        return check_created(*out, err, name, what);
    }
    *out = open(wname);
    err = GetLastError();
    return check_opened(*out, err, name, what);
}

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

/* ---- shared memory ----------------------------------------------------- */

int mproc__os_shm_create(mproc__os_shm_t **shm, const char *name, size_t size)
{
    struct mproc__os_shm *s;
    object_name_t wname;
    uint64_t size64 = (uint64_t) size;
    DWORD err;
    int rc;

    *shm = NULL;
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "shared memory needs at least one byte");
    if (name != NULL) {
        rc = object_name(name, "shared memory segment", wname);
        if (rc != 0)
            return rc;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    /*
     * Backed by the paging file (INVALID_HANDLE_VALUE), not by a file of
     * ours: nothing is left on disk, and the pages a new mapping commits
     * are zeroed by the system. An unnamed mapping is reachable only
     * through its handle; Windows cannot fork, so none of its children will
     * ever see it, but it works in this process all the same.
     */
    s->map = CreateFileMappingW(
        INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, (DWORD) (size64 >> 32),
        (DWORD) (size64 & 0xffffffffu), name != NULL ? wname : NULL);
    err = GetLastError();
    rc = check_created(s->map, err, name, "shared memory segment");
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->addr = MapViewOfFile(s->map, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (s->addr == NULL) {
        err = GetLastError();
        CloseHandle(s->map);
        free(s);
        return mproc__win_error(err, "cannot map shared memory");
    }
    *shm = s;
    return 0;
}

int mproc__os_shm_open(mproc__os_shm_t **shm, const char *name, size_t size)
{
    struct mproc__os_shm *s;
    object_name_t wname;
    MEMORY_BASIC_INFORMATION info;
    DWORD err;
    int rc;

    *shm = NULL;
    if (name == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "anonymous shared memory cannot be opened");
    rc = object_name(name, "shared memory segment", wname);
    if (rc != 0)
        return rc;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    s->map = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, wname);
    err = GetLastError();
    rc = check_opened(s->map, err, name, "shared memory segment");
    if (rc != 0) {
        free(s);
        return rc;
    }
    /* The whole mapping: its size is not known until it is mapped. */
    s->addr = MapViewOfFile(s->map, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (s->addr == NULL) {
        err = GetLastError();
        CloseHandle(s->map);
        free(s);
        return mproc__win_error(err, "cannot map shared memory");
    }
    /*
     * The view's size is the mapping's rounded up to whole pages, so this
     * catches a segment of a different layout (another version of the
     * program) but not one a few bytes short within its last page.
     */
    if (VirtualQuery(s->addr, &info, sizeof info) == 0) {
        err = GetLastError();
        mproc__os_shm_close(s);
        return mproc__win_error(err, "cannot query shared memory");
    }
    if (info.RegionSize < size) {
        unsigned long have = (unsigned long) info.RegionSize;
        mproc__os_shm_close(s);
        return mproc__set_error(MPROC_ECORRUPT,
                                "the shared memory segment '%s' has %lu bytes, "
                                "fewer than the %lu expected",
                                name, have, (unsigned long) size);
    }
    *shm = s;
    return 0;
}

void *mproc__os_shm_addr(const mproc__os_shm_t *shm)
{
    return shm->addr;
}

void mproc__os_shm_close(mproc__os_shm_t *shm)
{
    if (shm == NULL)
        return;
    /* The view keeps the mapping alive on its own: the order is free. */
    UnmapViewOfFile(shm->addr);
    CloseHandle(shm->map);
    free(shm);
}

void mproc__os_shm_unlink(const char *name)
{
    /*
     * Nothing to do: a Windows mapping has no name apart from its handles.
     * The kernel removes the name with the last handle or view, in whichever
     * process that is, and also when that process is killed.
     */
    (void) name;
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
    rc = named_handle("lock", name, create, make_mutex, open_mutex, NULL,
                      &mx->h);
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
    rc =
        named_handle("semaphore", name, create, make_sem, open_sem, v, &sem->h);
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
    rc = named_handle("event", name, create, make_event, open_event, NULL,
                      &ev->h);
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
