/*
 * Win32 backend: starting, watching and stopping children.
 *
 * APR's apr_proc_create on Windows calls CreateProcess with bInheritHandles
 * set and no handle list, so every inheritable handle of the parent, made by
 * any thread, leaks into the child; apr_proc_wait knows only "forever" and
 * "not at all"; apr_proc_kill uses the signal number as the exit code, which
 * breaks Python's exit-code convention. So spawning, waiting and stopping
 * are done here on the Win32 calls: CreateProcessW with
 * PROC_THREAD_ATTRIBUTE_HANDLE_LIST, WaitForSingleObject with a timeout, and
 * TerminateProcess with Python's TERMINATE code.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <fcntl.h>
#include <io.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "mproc_services.h"

/*
 * The bootstrap pipe's buffer. A typical bootstrap message fits, so the
 * parent can write it without waiting for the child to start reading.
 */
#define BOOT_PIPE_SIZE 65536

/* ---- process-wide ---------------------------------------------------- */

static void set_binary(FILE *f)
{
    int fd = _fileno(f);
    /* A GUI program's streams may have no descriptor (-1 or -2). */
    if (fd >= 0)
        _setmode(fd, _O_BINARY);
}

int mproc__os_init(void)
{
    /*
     * A crashing child, or one that touches a missing drive, must end with
     * its code at once: a dialog box would wait forever for a click that a
     * service or a CI machine never gives. The mode is inherited by the
     * children this process starts.
     */
    SetErrorMode(GetErrorMode() | SEM_FAILCRITICALERRORS |
                 SEM_NOGPFAULTERRORBOX | SEM_NOOPENFILEERRORBOX);
    /*
     * Text mode would turn "\n" into "\r\n" (and a ^Z into EOF on input):
     * binary streams make a program's output byte-identical to Linux.
     */
    set_binary(stdin);
    set_binary(stdout);
    set_binary(stderr);
    return 0;
}

long mproc__os_getpid(void)
{
    return (long) GetCurrentProcessId();
}

int mproc__os_cpu_count(void)
{
    /* Every processor group: GetSystemInfo sees only the caller's (64). */
    DWORD n = GetActiveProcessorCount(ALL_PROCESSOR_GROUPS);
    if (n == 0)
        return 1;
    return n > (DWORD) INT_MAX ? INT_MAX : (int) n;
}

int mproc__os_can_fork(void)
{
    return 0;
}

void mproc__os_flush_stdio(void)
{
    fflush(stdout);
    fflush(stderr);
}

void mproc__os_exit_now(int code)
{
    /*
     * Not _exit: that is ExitProcess, whose DLL detach notifications let a
     * C runtime DLL flush its streams (Wine's msvcrt does). Terminating the
     * process itself runs nothing at all; it does not return, and _exit is
     * only the fallback should the call fail.
     */
    TerminateProcess(GetCurrentProcess(), (UINT) code);
    _exit(code);
}

int mproc__os_at_exit_status(void (*fn)(int status))
{
    /* No fork, so no process here inherits exit handlers to stop. */
    (void) fn;
    return mproc__set_error(MPROC_ENOTSUP,
                            "exit statuses are not passed to exit handlers");
}

int mproc__os_stdin_devnull(void)
{
    HANDLE h;
    int fd;
    /*
     * Opened with CreateFileW rather than _open so that a failure comes
     * with the system's own words. The handle is not inheritable: a child
     * gets its own NUL from mproc__os_spawn.
     */
    h = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                    NULL, OPEN_EXISTING, 0, NULL);
    if (h == INVALID_HANDLE_VALUE)
        return mproc__win_error(GetLastError(), "cannot open NUL");
    fd = _open_osfhandle((intptr_t) h, _O_RDONLY | _O_BINARY);
    if (fd < 0) {
        CloseHandle(h);
        return mproc__set_error(MPROC_EOS,
                                "cannot give NUL a C library descriptor");
    }
    if (fd != 0) {
        /* _dup2 closes what descriptor 0 held, then duplicates NUL into it. */
        if (_dup2(fd, 0) != 0) {
            _close(fd);
            return mproc__set_error(MPROC_EOS, "cannot reopen stdin on NUL");
        }
        _close(fd);
    }
    /*
     * Code that reads through the Win32 standard handle (a library, a
     * console call) must see NUL as well, not the handle _dup2 closed.
     */
    SetStdHandle(STD_INPUT_HANDLE, (HANDLE) _get_osfhandle(0));
    /* stdio may hold buffered input of the old stdin, or its EOF flag. */
    clearerr(stdin);
    return 0;
}

/* ---- spawning -------------------------------------------------------- */

/* This program's executable, malloc'ed; paths may exceed MAX_PATH. */
static int exe_path(wchar_t **out)
{
    DWORD cap = MAX_PATH;
    for (;;) {
        wchar_t *p = malloc((size_t) cap * sizeof *p);
        DWORD n;
        if (p == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        n = GetModuleFileNameW(NULL, p, cap);
        if (n == 0) {
            DWORD err = GetLastError();
            free(p);
            return mproc__win_error(err,
                                    "cannot find the program's executable");
        }
        /* A truncated name fills the buffer exactly. */
        if (n < cap) {
            *out = p;
            return 0;
        }
        free(p);
        if (cap >= 65536)
            return mproc__set_error(MPROC_EOS,
                                    "the program's path is too long");
        cap *= 2;
    }
}

/*
 * Appends @arg to @d as one argument that CommandLineToArgvW and the C
 * library's startup code split back unchanged, and returns the new end.
 * Backslashes are literal except in a run before a double quote, so such a
 * run is doubled (and one more escapes the quote itself). Needs room for
 * 2 * wcslen(arg) + 2 characters.
 */
static wchar_t *append_arg(wchar_t *d, const wchar_t *arg)
{
    const wchar_t *p = arg;
    if (*arg != L'\0' && wcspbrk(arg, L" \t\n\v\"") == NULL) {
        while (*p != L'\0')
            *d++ = *p++;
        return d;
    }
    *d++ = L'"';
    for (;;) {
        size_t slashes = 0, i;
        while (*p == L'\\') {
            p++;
            slashes++;
        }
        if (*p == L'\0') {
            /* They precede the closing quote. */
            for (i = 0; i < 2 * slashes; i++)
                *d++ = L'\\';
            break;
        }
        if (*p == L'"') {
            for (i = 0; i < 2 * slashes + 1; i++)
                *d++ = L'\\';
        } else {
            for (i = 0; i < slashes; i++)
                *d++ = L'\\';
        }
        *d++ = *p++;
    }
    *d++ = L'"';
    return d;
}

/*
 * `"<exe>" <marker> <handle>`, malloc'ed. The program name follows other
 * rules than the arguments: it ends at the next quote and knows no
 * backslash escapes. A Windows path holds no quote, so quoting it whole is
 * always right, and it keeps a path with spaces in one piece.
 */
static int build_command_line(const wchar_t *exe, const char *marker,
                              HANDLE boot_r, wchar_t **out)
{
    char handle[32];
    wchar_t *wmarker, *cmd, *d;
    size_t cap;
    int rc, i;

    rc = mproc__win_utf8_to_wide(marker, &wmarker);
    if (rc != 0)
        return rc;
    mproc__win_fd_format((mproc__os_fd_t) boot_r, handle, sizeof handle);
    cap =
        wcslen(exe) + 2 + 1 + 2 * wcslen(wmarker) + 2 + 1 + strlen(handle) + 1;
    cmd = malloc(cap * sizeof *cmd);
    if (cmd == NULL) {
        free(wmarker);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    d = cmd;
    *d++ = L'"';
    wcscpy(d, exe);
    d += wcslen(exe);
    *d++ = L'"';
    *d++ = L' ';
    d = append_arg(d, wmarker);
    *d++ = L' ';
    /* Decimal digits are the same in every encoding. */
    for (i = 0; handle[i] != '\0'; i++)
        *d++ = (wchar_t) handle[i];
    *d = L'\0';
    free(wmarker);
    *out = cmd;
    return 0;
}

/*
 * A Windows 7 console handle is a pseudo-handle with the two low bits set.
 * It reaches the child through the console, and putting it in a handle
 * list makes CreateProcessW fail, so it is passed in STARTUPINFO only (as
 * CPython's subprocess does).
 */
static int is_console_pseudo_handle(HANDLE h)
{
    return ((uintptr_t) h & 3) == 3 && GetFileType(h) == FILE_TYPE_CHAR;
}

/* The handles a child inherits, and the copies made for it. */
struct inherit {
    /*
     * For PROC_THREAD_ATTRIBUTE_HANDLE_LIST, no repeats: the bootstrap
     * pipe, NUL, stdout, stderr (one of them perhaps NUL for writing) and
     * the passed connections.
     */
    HANDLE list[4 + MPROC__OS_MAX_PASS];
    DWORD nlist;
    HANDLE owned[2]; /* inheritable duplicates to close after the call */
    DWORD nowned;
};

static void inherit_add(struct inherit *in, HANDLE h)
{
    DWORD i;
    /* A repeated handle makes CreateProcessW fail with a bad parameter. */
    for (i = 0; i < in->nlist; i++)
        if (in->list[i] == h)
            return;
    in->list[in->nlist++] = h;
}

/*
 * Picks what the child gets as the standard handle @which, in *@out (NULL:
 * none). The handle list accepts only inheritable handles; one that is not
 * is duplicated as an inheritable copy rather than changed, because
 * changing the parent's own handle would race with other threads.
 */
static int std_for_child(DWORD which, struct inherit *in, HANDLE *out)
{
    HANDLE h = GetStdHandle(which);
    DWORD flags;
    *out = NULL;
    if (h == NULL || h == INVALID_HANDLE_VALUE)
        return 0;
    if (is_console_pseudo_handle(h)) {
        *out = h;
        return 0;
    }
    /* A stale standard handle is no output at all: the child goes without. */
    if (!GetHandleInformation(h, &flags))
        return 0;
    if ((flags & HANDLE_FLAG_INHERIT) == 0) {
        HANDLE copy;
        if (!DuplicateHandle(GetCurrentProcess(), h, GetCurrentProcess(), &copy,
                             0, TRUE, DUPLICATE_SAME_ACCESS))
            return mproc__win_error(GetLastError(),
                                    "cannot hand a standard handle over");
        in->owned[in->nowned++] = copy;
        h = copy;
    }
    inherit_add(in, h);
    *out = h;
    return 0;
}

/*
 * The creation flags that decide the child's console. A child shares its
 * parent's console, as Python's children do: Ctrl+C then reaches them all,
 * and a console program's output stays in its one window. A parent with no
 * console (a GUI program, a service, a console program started detached or
 * after FreeConsole) starts its child detached, in the same state: without
 * the flag, Windows would open a new console window for each child of the
 * console subsystem. DETACHED_PROCESS rather than CREATE_NO_WINDOW, which
 * would give every child a hidden console and a console host process of
 * its own (under Wine that host also keeps the child's pipe ends open
 * after the child has ended). For a child of the windows subsystem the flag
 * changes nothing.
 */
static DWORD console_flags(void)
{
    /* GetConsoleCP fails, giving 0, exactly when no console is attached. */
    if (GetConsoleWindow() != NULL || GetConsoleCP() != 0)
        return 0;
    return DETACHED_PROCESS;
}

static int create_process(const wchar_t *exe, wchar_t *cmd, HANDLE in_h,
                          HANDLE out_h, HANDLE err_h, struct inherit *in,
                          PROCESS_INFORMATION *pi)
{
    LPPROC_THREAD_ATTRIBUTE_LIST attrs;
    STARTUPINFOEXW si;
    SIZE_T size = 0;
    DWORD err = 0;
    BOOL ok;

    /* The first call only reports the size; its "failure" is expected. */
    InitializeProcThreadAttributeList(NULL, 1, 0, &size);
    attrs = malloc(size);
    if (attrs == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (!InitializeProcThreadAttributeList(attrs, 1, 0, &size)) {
        err = GetLastError();
        free(attrs);
        return mproc__win_error(err, "cannot prepare the child's handles");
    }
    if (!UpdateProcThreadAttribute(attrs, 0, PROC_THREAD_ATTRIBUTE_HANDLE_LIST,
                                   in->list, in->nlist * sizeof(HANDLE), NULL,
                                   NULL)) {
        err = GetLastError();
        DeleteProcThreadAttributeList(attrs);
        free(attrs);
        return mproc__win_error(err, "cannot prepare the child's handles");
    }

    memset(&si, 0, sizeof si);
    si.StartupInfo.cb = sizeof si;
    si.StartupInfo.dwFlags = STARTF_USESTDHANDLES;
    si.StartupInfo.hStdInput = in_h;
    si.StartupInfo.hStdOutput = out_h;
    si.StartupInfo.hStdError = err_h;
    si.lpAttributeList = attrs;
    /*
     * bInheritHandles must be TRUE for the list to count, and the list
     * limits inheritance to exactly its handles. No environment is passed:
     * the child inherits the parent's, so CREATE_UNICODE_ENVIRONMENT is not
     * needed. The command line buffer must be writable.
     */
    ok = CreateProcessW(exe, cmd, NULL, NULL, TRUE,
                        EXTENDED_STARTUPINFO_PRESENT | console_flags(), NULL,
                        NULL, &si.StartupInfo, pi);
    if (!ok)
        err = GetLastError();
    DeleteProcThreadAttributeList(attrs);
    free(attrs);
    if (!ok)
        return mproc__win_error(err, "cannot start the program again");
    return 0;
}

int mproc__os_spawn_helper(mproc__os_child_t **child, const char *marker,
                           const mproc__os_fd_t *h, size_t n, int own_session)
{
    (void) marker, (void) h, (void) n, (void) own_session;
    *child = NULL;
    return mproc__set_error(MPROC_ENOTSUP, "no helper process runs on Windows");
}

int mproc__os_child_remote(mproc__os_child_t **child, long pid,
                           mproc__os_fd_t status)
{
    (void) pid;
    *child = NULL;
    CloseHandle((HANDLE) status);
    return mproc__set_error(MPROC_ENOTSUP,
                            "Windows children are never started by another "
                            "process");
}

int mproc__os_spawn(mproc__os_child_t **child, const char *marker,
                    mproc__os_fd_t *boot_w, const mproc__os_fd_t *pass,
                    size_t npass)
{
    struct mproc__os_child *c;
    struct inherit in;
    wchar_t *exe = NULL, *cmd = NULL;
    HANDLE r = NULL, w = NULL, nul = INVALID_HANDLE_VALUE;
    HANDLE nul_out = INVALID_HANDLE_VALUE;
    HANDLE out_h = NULL, err_h = NULL;
    PROCESS_INFORMATION pi;
    size_t npassed = 0, k;
    DWORD i;
    int rc;

    memset(&in, 0, sizeof in);
    /* Allocated first: once the child runs, nothing may fail any more. */
    c = calloc(1, sizeof *c);
    if (c == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");

    /*
     * Every handle is created non-inheritable, and the two the child needs
     * become inheritable only just before CreateProcessW and are closed
     * just after it. A spawn in another thread passes its own list, so it
     * cannot take them; only a foreign CreateProcess with no list (such as
     * APR's or system()) running in that short window could.
     */
    if (!CreatePipe(&r, &w, NULL, BOOT_PIPE_SIZE)) {
        rc = mproc__win_error(GetLastError(),
                              "cannot create the bootstrap pipe");
        r = w = NULL;
        goto done;
    }
    nul = CreateFileW(L"NUL", GENERIC_READ, FILE_SHARE_READ | FILE_SHARE_WRITE,
                      NULL, OPEN_EXISTING, 0, NULL);
    if (nul == INVALID_HANDLE_VALUE) {
        rc = mproc__win_error(GetLastError(), "cannot open NUL");
        goto done;
    }
    rc = exe_path(&exe);
    if (rc != 0)
        goto done;
    rc = build_command_line(exe, marker, r, &cmd);
    if (rc != 0)
        goto done;
    rc = std_for_child(STD_OUTPUT_HANDLE, &in, &out_h);
    if (rc == 0)
        rc = std_for_child(STD_ERROR_HANDLE, &in, &err_h);
    if (rc != 0)
        goto done;
    /*
     * A parent with no standard output (a GUI program, or one started with
     * no handles) gives its child NUL instead of nothing: the child's
     * writes then go nowhere and succeed, whether they pass through stdio,
     * a descriptor or the Win32 handle, as its reads of stdin give EOF.
     */
    if (out_h == NULL || err_h == NULL) {
        nul_out = CreateFileW(L"NUL", GENERIC_WRITE,
                              FILE_SHARE_READ | FILE_SHARE_WRITE, NULL,
                              OPEN_EXISTING, 0, NULL);
        if (nul_out == INVALID_HANDLE_VALUE) {
            rc = mproc__win_error(GetLastError(), "cannot open NUL");
            goto done;
        }
        if (!SetHandleInformation(nul_out, HANDLE_FLAG_INHERIT,
                                  HANDLE_FLAG_INHERIT)) {
            rc = mproc__win_error(GetLastError(),
                                  "cannot hand NUL over as output");
            goto done;
        }
        inherit_add(&in, nul_out);
        if (out_h == NULL)
            out_h = nul_out;
        if (err_h == NULL)
            err_h = nul_out;
    }
    if (!SetHandleInformation(r, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT) ||
        !SetHandleInformation(nul, HANDLE_FLAG_INHERIT, HANDLE_FLAG_INHERIT)) {
        rc = mproc__win_error(GetLastError(),
                              "cannot hand the bootstrap pipe over");
        goto done;
    }
    inherit_add(&in, r);
    inherit_add(&in, nul);
    /*
     * The passed connections are inherited under their own values, which
     * the bootstrap message already names (mproc__os_spawn_passed_handle).
     * They are the caller's own handles, so they are inheritable only for
     * the moment of the call, like the bootstrap pipe.
     */
    for (; npassed < npass; npassed++) {
        HANDLE h = (HANDLE) pass[npassed];
        if (!SetHandleInformation(h, HANDLE_FLAG_INHERIT,
                                  HANDLE_FLAG_INHERIT)) {
            rc = mproc__win_error(GetLastError(),
                                  "cannot hand a connection over");
            goto done;
        }
        inherit_add(&in, h);
    }
    rc = create_process(exe, cmd, nul, out_h, err_h, &in, &pi);

done:
    for (k = 0; k < npassed; k++)
        SetHandleInformation((HANDLE) pass[k], HANDLE_FLAG_INHERIT, 0);
    /*
     * The read end and the NULs now live in the child; the parent's copies go,
     * so the child's exit breaks the pipe for the parent's writes.
     */
    for (i = 0; i < in.nowned; i++)
        CloseHandle(in.owned[i]);
    if (nul != INVALID_HANDLE_VALUE)
        CloseHandle(nul);
    if (nul_out != INVALID_HANDLE_VALUE)
        CloseHandle(nul_out);
    if (r != NULL)
        CloseHandle(r);
    free(cmd);
    free(exe);
    if (rc != 0) {
        if (w != NULL)
            CloseHandle(w);
        free(c);
        return rc;
    }
    CloseHandle(pi.hThread);
    c->process = pi.hProcess;
    c->pid = pi.dwProcessId;
    *child = c;
    *boot_w = (mproc__os_fd_t) w;
    return 0;
}

mproc__os_fd_t mproc__os_spawn_passed_handle(size_t i, mproc__os_fd_t h)
{
    (void) i;
    return h;
}

int mproc__os_fork(mproc__os_child_t **child)
{
    *child = NULL;
    return mproc__set_error(
        MPROC_ENOTSUP,
        "the fork start method is not available on Windows; use spawn");
}

/* ---- children -------------------------------------------------------- */

long mproc__os_child_pid(const mproc__os_child_t *child)
{
    return (long) child->pid;
}

int mproc__os_child_wait(mproc__os_child_t *c, double timeout, int *exitcode)
{
    if (!c->done) {
        DWORD code;
        int rc = mproc__win_wait_handle(c->process, timeout);
        if (rc != 0)
            return rc;
        if (!GetExitCodeProcess(c->process, &code))
            return mproc__win_error(GetLastError(),
                                    "cannot read the child's exit code");
        /* Python's convention: its TERMINATE code reads as -SIGTERM. */
        c->exitcode = code == MPROC__WIN_TERMINATE_CODE
                          ? MPROC__WIN_TERMINATE_EXITCODE
                          : (int) code;
        c->done = 1;
    }
    *exitcode = c->exitcode;
    return 0;
}

int mproc__os_child_waitable(mproc__os_child_t *c, mproc__os_fd_t *h)
{
    *h = (mproc__os_fd_t) c->process;
    return 0;
}

/* Whether the child has ended, asked without waiting. */
static int has_ended(mproc__os_child_t *c)
{
    DWORD code;
    if (WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0)
        return 1;
    /*
     * The exit code is asked too, as Python's Popen.terminate does: a
     * process on its way out already refuses TerminateProcess, and its
     * code may be set a moment before its handle is signalled.
     */
    return GetExitCodeProcess(c->process, &code) && code != STILL_ACTIVE;
}

/*
 * Windows has no gentler request than TerminateProcess, so terminate and
 * kill are the same call, with Python's code.
 */
static int stop_child(mproc__os_child_t *c)
{
    DWORD err;
    if (c->done || WaitForSingleObject(c->process, 0) == WAIT_OBJECT_0)
        return 0;
    if (TerminateProcess(c->process, MPROC__WIN_TERMINATE_CODE))
        return 0;
    err = GetLastError();
    /* A process that ended in the meantime refuses with access denied. */
    if (err == ERROR_ACCESS_DENIED && has_ended(c))
        return 0;
    return mproc__win_error(err, "cannot terminate the child");
}

int mproc__os_child_interrupt(mproc__os_child_t *c)
{
    (void) c;
    return mproc__set_error(MPROC_ENOTSUP,
                            "interrupt is not available on Windows: a "
                            "console's Ctrl-C event reaches a whole process "
                            "group, not one child; use terminate");
}

int mproc__os_child_terminate(mproc__os_child_t *c)
{
    return stop_child(c);
}

int mproc__os_child_kill(mproc__os_child_t *c)
{
    return stop_child(c);
}

void mproc__os_child_free(mproc__os_child_t *c)
{
    if (c == NULL)
        return;
    if (c->process != NULL)
        CloseHandle(c->process);
    free(c);
}

/* Whether @a started after @b (1), by their creation times. */
static int started_after(HANDLE a, HANDLE b)
{
    FILETIME ca, cb, x, y, z;
    if (!GetProcessTimes(a, &ca, &x, &y, &z) ||
        !GetProcessTimes(b, &cb, &x, &y, &z))
        return 0;
    return CompareFileTime(&ca, &cb) > 0;
}

int mproc__os_process_watch(long pid, mproc__os_fd_t *h)
{
    HANDLE p = OpenProcess(SYNCHRONIZE | PROCESS_QUERY_LIMITED_INFORMATION,
                           FALSE, (DWORD) pid);
    if (p == NULL) {
        /* No such process (any more). */
        if (GetLastError() == ERROR_INVALID_PARAMETER)
            return 1;
        return mproc__win_error(GetLastError(), "cannot watch process");
    }
    /* A process started after this one got a dead parent's id. */
    if (started_after(p, GetCurrentProcess())) {
        CloseHandle(p);
        return 1;
    }
    *h = (mproc__os_fd_t) p;
    return 0;
}

int mproc__os_pid_alive(long pid)
{
    DWORD code = 0;
    HANDLE p =
        OpenProcess(PROCESS_QUERY_LIMITED_INFORMATION, FALSE, (DWORD) pid);
    int alive;
    if (p == NULL)
        return 0;
    alive = GetExitCodeProcess(p, &code) && code == STILL_ACTIVE;
    CloseHandle(p);
    return alive;
}
