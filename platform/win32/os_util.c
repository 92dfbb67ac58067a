/*
 * Win32 backend: the helpers every file of the backend uses: error
 * translation, UTF-8 to UTF-16, the command line, the monotonic clock,
 * sleeping and waits with a timeout, the working directory, and the names
 * of kernel objects.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <shellapi.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "mproc_services.h"

/* The longest wait handed to one WaitForSingleObject call, in ms. */
#define MAX_WAIT_MS ((DWORD) 0x7fffffff)

/* ---- errors and strings ---------------------------------------------- */

int mproc__win_error(DWORD err, const char *what)
{
    int status = MPROC_EOS;
    wchar_t wmsg[512];
    char msg[1024];
    DWORD n;
    int len = 0;

    if (err == ERROR_NOT_ENOUGH_MEMORY || err == ERROR_OUTOFMEMORY)
        status = MPROC_ENOMEM;
    else if (err == ERROR_BROKEN_PIPE || err == ERROR_NO_DATA)
        status = MPROC_ECLOSED;

    /*
     * The wide variant, converted to UTF-8, because the sentence is UTF-8
     * text: the "A" variant would give the ANSI code page's bytes, which are
     * not UTF-8 on a localised Windows.
     */
    n = FormatMessageW(
        FORMAT_MESSAGE_FROM_SYSTEM | FORMAT_MESSAGE_IGNORE_INSERTS, NULL, err,
        0, wmsg, (DWORD) MPROC__ARRAY_SIZE(wmsg), NULL);
    /* The system's messages end with a period and CR LF; a sentence goes on. */
    while (n > 0 && (wmsg[n - 1] == L'\r' || wmsg[n - 1] == L'\n' ||
                     wmsg[n - 1] == L' ' || wmsg[n - 1] == L'.'))
        n--;
    if (n > 0)
        len = WideCharToMultiByte(CP_UTF8, 0, wmsg, (int) n, msg,
                                  (int) sizeof msg - 1, NULL, NULL);
    if (len <= 0)
        return mproc__set_error(status, "%s: Windows error %lu", what,
                                (unsigned long) err);
    msg[len] = '\0';
    return mproc__set_error(status, "%s: %s (Windows error %lu)", what, msg,
                            (unsigned long) err);
}

int mproc__win_utf8_to_wide(const char *s, wchar_t **out)
{
    wchar_t *w;
    /* Strict: a string that is not UTF-8 must not become a different name. */
    int n = MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, NULL, 0);
    if (n <= 0) {
        DWORD err = GetLastError();
        if (err == ERROR_NO_UNICODE_TRANSLATION)
            return mproc__set_error(MPROC_EINVAL,
                                    "a string is not valid UTF-8");
        return mproc__win_error(err, "cannot convert a string to UTF-16");
    }
    w = malloc((size_t) n * sizeof *w);
    if (w == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (MultiByteToWideChar(CP_UTF8, MB_ERR_INVALID_CHARS, s, -1, w, n) != n) {
        DWORD err = GetLastError();
        free(w);
        return mproc__win_error(err, "cannot convert a string to UTF-16");
    }
    *out = w;
    return 0;
}

int mproc__os_command_line(int *argc, char ***argv)
{
    wchar_t **w;
    char **u, *d;
    size_t size;
    int n, i, len;
    *argc = 0;
    *argv = NULL;
    /*
     * CommandLineToArgvW splits as the C library's startup code does for
     * wmain, the program name included (its rules for the first word
     * differ, and it knows them).
     */
    w = CommandLineToArgvW(GetCommandLineW(), &n);
    if (w == NULL)
        return mproc__win_error(GetLastError(),
                                "cannot split the program's command line");
    size = ((size_t) n + 1) * sizeof *u;
    for (i = 0; i < n; i++) {
        /*
         * Without MB_ERR_INVALID_CHARS a lone surrogate becomes U+FFFD:
         * an odd argument must not keep the program from starting.
         */
        len = WideCharToMultiByte(CP_UTF8, 0, w[i], -1, NULL, 0, NULL, NULL);
        if (len <= 0) {
            DWORD err = GetLastError();
            LocalFree(w);
            return mproc__win_error(err, "cannot convert an argument");
        }
        size += (size_t) len;
    }
    u = malloc(size);
    if (u == NULL) {
        LocalFree(w);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    d = (char *) (u + n + 1);
    for (i = 0; i < n; i++) {
        len = WideCharToMultiByte(CP_UTF8, 0, w[i], -1, d,
                                  (int) (size - (size_t) (d - (char *) u)),
                                  NULL, NULL);
        u[i] = d;
        d += len;
    }
    u[n] = NULL;
    LocalFree(w);
    *argc = n;
    *argv = u;
    return 0;
}

/* ---- time and waiting ------------------------------------------------ */

void mproc__os_yield(void)
{
    SwitchToThread();
}

void mproc__os_pause(void)
{
    YieldProcessor();
}

double mproc__os_monotonic(void)
{
    LARGE_INTEGER freq, count;
    /*
     * The frequency is fixed at boot and cheap to read; asking each time
     * avoids a cached 64-bit value that another thread could see torn on a
     * 32-bit build.
     */
    QueryPerformanceFrequency(&freq);
    QueryPerformanceCounter(&count);
    return (double) count.QuadPart / (double) freq.QuadPart;
}

void mproc__os_sleep(double seconds)
{
    /* Sleep may end early by a tick: sleep again until the time is up. */
    double deadline = mproc__os_monotonic() + seconds;
    DWORD ms;
    while ((ms = mproc__win_ms_left(deadline)) > 0)
        Sleep(ms);
}

/* ---- the working directory ------------------------------------------ */

int mproc__os_getcwd(char **out)
{
    DWORD n = GetCurrentDirectoryW(0, NULL);
    wchar_t *w;
    char *s;
    int len;
    *out = NULL;
    if (n == 0)
        return mproc__win_error(GetLastError(), "GetCurrentDirectoryW");
    w = malloc((size_t) n * sizeof *w);
    if (w == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (GetCurrentDirectoryW(n, w) == 0) {
        DWORD err = GetLastError();
        free(w);
        return mproc__win_error(err, "GetCurrentDirectoryW");
    }
    len = WideCharToMultiByte(CP_UTF8, 0, w, -1, NULL, 0, NULL, NULL);
    s = len > 0 ? malloc((size_t) len) : NULL;
    if (s == NULL ||
        WideCharToMultiByte(CP_UTF8, 0, w, -1, s, len, NULL, NULL) != len) {
        free(s);
        free(w);
        return mproc__set_error(MPROC_ENOMEM,
                                "cannot convert the working directory");
    }
    free(w);
    *out = s;
    return 0;
}

int mproc__os_chdir(const char *path)
{
    wchar_t *w;
    int rc = mproc__win_utf8_to_wide(path, &w);
    if (rc != 0)
        return rc;
    if (!SetCurrentDirectoryW(w)) {
        DWORD err = GetLastError();
        free(w);
        return mproc__win_error(err, "SetCurrentDirectoryW");
    }
    free(w);
    return 0;
}

/*
 * The milliseconds to wait for the rest of a timeout ending at @deadline,
 * rounded up: a wait rounded down would end before the deadline, and a
 * positive remainder rounded down to 0 would turn a wait into a poll.
 */
DWORD mproc__win_ms_left(double deadline)
{
    double left = (deadline - mproc__os_monotonic()) * 1000.0;
    DWORD ms;
    if (left <= 0)
        return 0;
    if (left >= (double) MAX_WAIT_MS)
        return MAX_WAIT_MS;
    ms = (DWORD) left;
    if ((double) ms < left)
        ms++;
    return ms;
}

int mproc__win_wait_handle(HANDLE h, double timeout)
{
    DWORD result;
    return mproc__win_wait_handle_ex(h, timeout, &result);
}

int mproc__win_wait_handle_ex(HANDLE h, double timeout, DWORD *result)
{
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    for (;;) {
        DWORD ms, r;
        if (timeout < 0)
            ms = INFINITE;
        else if (timeout == 0)
            ms = 0;
        else
            ms = mproc__win_ms_left(deadline);
        r = WaitForSingleObject(h, ms);
        if (r == WAIT_OBJECT_0 || r == WAIT_ABANDONED) {
            *result = r;
            return 0;
        }
        if (r == WAIT_FAILED)
            return mproc__win_error(GetLastError(), "wait failed");
        /*
         * WAIT_TIMEOUT. The system may end a wait up to a clock tick early,
         * and a long timeout is waited for in slices: go on until the
         * deadline has passed, which the final 0 ms poll proves.
         */
        if (ms == 0)
            return MPROC_ETIMEDOUT;
    }
}

/* ---- named kernel objects -------------------------------------------- */

/*
 * Builds "Local\<name>" in @out, after checking @name against the
 * contract's rule: 1 to 31 characters of [A-Za-z0-9_.-]. The check keeps a
 * backslash out (it would name another namespace) and makes the name plain
 * ASCII, so it is widened character by character.
 */
int mproc__win_object_name(const char *name, const char *kind,
                           mproc__win_name_t out)
{
    size_t i, len = strlen(name);
    if (len == 0 || len > MPROC__WIN_NAME_MAX)
        return mproc__set_error(MPROC_EINVAL,
                                "the name of a %s must be 1 to %d characters, "
                                "not %lu",
                                kind, MPROC__WIN_NAME_MAX, (unsigned long) len);
    memcpy(out, MPROC__WIN_NAME_PREFIX,
           MPROC__WIN_NAME_PREFIX_LEN * sizeof(wchar_t));
    for (i = 0; i < len; i++) {
        char c = name[i];
        if (!mproc__name_char_ok(c))
            return mproc__set_error(MPROC_EINVAL,
                                    "the name of a %s may hold only letters, "
                                    "digits, '_', '.' and '-': '%s'",
                                    kind, name);
        out[MPROC__WIN_NAME_PREFIX_LEN + i] = (wchar_t) c;
    }
    out[MPROC__WIN_NAME_PREFIX_LEN + len] = L'\0';
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
int mproc__win_check_created(HANDLE h, DWORD err, const char *name,
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
int mproc__win_check_opened(HANDLE h, DWORD err, const char *name,
                            const char *kind)
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
 * Creates (@create) or opens the kernel object "Local\\<name>" of kind
 * @what ("lock", "semaphore", "event"), through @make or @open; an
 * anonymous one when @name is NULL (create only). The error sentences
 * name the object.
 */
int mproc__win_named_handle(const char *what, const char *name, int create,
                            HANDLE (*make)(const wchar_t *wname,
                                           const void *arg),
                            HANDLE (*open)(const wchar_t *wname),
                            const void *arg, HANDLE *out)
{
    mproc__win_name_t wname;
    DWORD err;
    int rc;
    if (name == NULL && !create)
        return mproc__set_error(MPROC_EINVAL,
                                "an anonymous %s cannot be opened", what);
    if (name != NULL) {
        rc = mproc__win_object_name(name, what, wname);
        if (rc != 0)
            return rc;
    }
    if (create) {
        *out = make(name != NULL ? wname : NULL, arg);
        err = GetLastError();
        return mproc__win_check_created(*out, err, name, what);
    }
    *out = open(wname);
    err = GetLastError();
    return mproc__win_check_opened(*out, err, name, what);
}
