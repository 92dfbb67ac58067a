/*
 * Win32 backend internals, shared by the files of platform/win32 only.
 *
 * This is the one header of the backend that includes <windows.h>; the
 * portable core never sees it. Each .c file of the backend includes it
 * first, before any C library header, because the C library headers of
 * mingw-w64 already pick a default _WIN32_WINNT.
 */
#ifndef MPROC_OS_INTERNAL_H
#define MPROC_OS_INTERNAL_H

#if !defined(_WIN32)
    #error "the Win32 backend is built on Unix: use platform/unix"
#endif

/*
 * Windows 7 is the oldest system supported: the proc-thread attribute list
 * (PROC_THREAD_ATTRIBUTE_HANDLE_LIST, Vista) and GetActiveProcessorCount
 * (7) are declared only from that version on.
 */
#if !defined(_WIN32_WINNT)
    #define _WIN32_WINNT 0x0601
#elif _WIN32_WINNT < 0x0601
    #error "mproc needs _WIN32_WINNT 0x0601 (Windows 7) or later"
#endif
#if !defined(WIN32_LEAN_AND_MEAN)
    #define WIN32_LEAN_AND_MEAN
#endif
#include <windows.h>

#include "mproc_os.h"

/*
 * The exit code TerminateProcess gives a child that mproc terminates or
 * kills: Python's multiprocessing uses the same value (its TERMINATE
 * constant) and reports it as -SIGTERM, so a program sees the same code
 * from both implementations.
 */
#define MPROC__WIN_TERMINATE_CODE 0x10000
#define MPROC__WIN_TERMINATE_EXITCODE (-15)

/*
 * A child started by spawn. Windows has no zombies: the process handle
 * keeps the exit code readable for as long as we hold it.
 */
struct mproc__os_child {
    HANDLE process; /* owned; closed by mproc__os_child_free */
    DWORD pid;
    int done;     /* the exit code is known */
    int exitcode; /* Python's convention */
};

/*
 * Translates the Windows error @err into a status (MPROC_ENOMEM,
 * MPROC_ECLOSED or MPROC_EOS) and records "@what: <the system's message>".
 * The caller must capture GetLastError() before anything can change it.
 */
int mproc__win_error(DWORD err, const char *what);

/*
 * The milliseconds to wait for the rest of a timeout ending at @deadline
 * (mproc__os_monotonic() seconds), rounded up: a wait rounded down would
 * end before the deadline, and a positive remainder rounded down to 0
 * would turn a wait into a poll.
 */
DWORD mproc__win_ms_left(double deadline);

/*
 * Converts UTF-8 @s into a malloc'ed UTF-16 string in *@out. Invalid UTF-8
 * is MPROC_EINVAL.
 */
int mproc__win_utf8_to_wide(const char *s, wchar_t **out);

/*
 * Waits up to @timeout seconds (negative: forever) for @h to be signalled.
 * Returns 0, MPROC_ETIMEDOUT, or an error status. A positive timeout is
 * never rounded down to a 0 ms poll, and a wait the system ends a little
 * early is resumed until the deadline has really passed.
 */
int mproc__win_wait_handle(HANDLE h, double timeout);
/*
 * The same, telling WAIT_OBJECT_0 from WAIT_ABANDONED in *@result (only a
 * mutex is ever abandoned: its holder ended without releasing it).
 */
int mproc__win_wait_handle_ex(HANDLE h, double timeout, DWORD *result);

/*
 * A connection on @h, which it owns (and closes on failure): a named pipe
 * end, or with @is_socket a TCP socket (a SOCKET, opened for overlapped
 * I/O). os_net.c's accepted and connected ends.
 */
int mproc__win_conn_wrap(mproc__os_conn_t **c, HANDLE h, int is_socket);

#ifdef MPROC_TESTING
/*
 * For the tests (test builds only): called with each pipe instance a
 * listener makes (os_net.c), and the pipe's name, before the instance is
 * asked to wait for a client; NULL (the default) calls nothing.
 */
extern void (*mproc__win_pipe_instance_hook)(HANDLE instance,
                                             const wchar_t *name);
#endif

/* Starts Windows sockets once per process: 0, or the failure's status. */
int mproc__win_wsa_ready(void);

/*
 * Formats handle @fd for a child's command line, the way
 * mproc__os_fd_parse() reads it back: a child inherits a handle under the
 * same value.
 */
void mproc__win_fd_format(mproc__os_fd_t fd, char *buf, size_t cap);

/* The longest name the contract allows, and the namespace prefix. */
#define MPROC__WIN_NAME_MAX 31
#define MPROC__WIN_NAME_PREFIX L"Local\\"
#define MPROC__WIN_NAME_PREFIX_LEN 6

/* "Local\<name>" and its terminator. */
typedef wchar_t
    mproc__win_name_t[MPROC__WIN_NAME_PREFIX_LEN + MPROC__WIN_NAME_MAX + 1];

/*
 * Builds "Local\<name>" in @out, after checking @name against the
 * contract's rule: 1 to 31 characters of [A-Za-z0-9_.-]. @kind names the
 * object in the error sentence.
 */
int mproc__win_object_name(const char *name, const char *kind,
                           mproc__win_name_t out);
/*
 * Checks what a Create*W call of a named object gave (@h, and @err captured
 * right after the call): a name that exists is MPROC_EEXIST (a handle to an
 * existing object of the same kind is closed).
 */
int mproc__win_check_created(HANDLE h, DWORD err, const char *name,
                             const char *kind);
/* Checks what an Open*W call gave: a missing name is MPROC_ENOTFOUND. */
int mproc__win_check_opened(HANDLE h, DWORD err, const char *name,
                            const char *kind);
/*
 * Creates (@create) or opens the kernel object "Local\<name>" of kind
 * @what through @make or @open; an anonymous one when @name is NULL.
 */
int mproc__win_named_handle(const char *what, const char *name, int create,
                            HANDLE (*make)(const wchar_t *wname,
                                           const void *arg),
                            HANDLE (*open)(const wchar_t *wname),
                            const void *arg, HANDLE *out);

#endif
