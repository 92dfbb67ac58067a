/*
 * The contract between the portable core (src/) and the OS backends
 * (platform/unix, platform/win32). It is the only header src/ includes from
 * platform/, and nothing OS-specific appears in it.
 *
 * Conventions: every fallible function returns 0 or a negative MPROC_E*
 * status and, on failure, sets the thread's last-error sentence with
 * mproc__set_error() (the OS's own words included). Timeouts are seconds as
 * doubles, negative meaning forever. Text is UTF-8.
 */
#ifndef MPROC_OS_H
#define MPROC_OS_H

#include <stddef.h>
#include <stdint.h>

/*
 * An I/O handle: a file descriptor on Unix, a HANDLE on Windows, carried in
 * an integer wide enough for both.
 */
typedef intptr_t mproc__os_fd_t;
#define MPROC__OS_FD_INVALID ((mproc__os_fd_t) -1)

/* A started child process, owned by the process that started it. */
typedef struct mproc__os_child mproc__os_child_t;

/* ---- process-wide ---------------------------------------------------- */

/*
 * Once per process, from mproc_main(): e.g. ignore SIGPIPE on Unix (a dead
 * peer must be an error, not a signal), set binary stdio on Windows.
 */
int mproc__os_init(void);

/* The calling process's id. */
long mproc__os_getpid(void);

/* The number of CPUs (at least 1). */
int mproc__os_cpu_count(void);

/* Whether the OS can fork (1) or not (0). */
int mproc__os_can_fork(void);

/* Flushes the C library's stdout and stderr. */
void mproc__os_flush_stdio(void);

/*
 * Ends the process with @code at once, without atexit handlers or stdio
 * flushing: _exit on Unix, ExitProcess's raw sibling on Windows. Used by
 * forked children so the parent's handlers never run twice.
 */
void mproc__os_exit_now(int code);

/* A monotonic clock in seconds; only differences mean anything. */
double mproc__os_monotonic(void);

/* Reopens stdin on the null device (reading it gives EOF). */
int mproc__os_stdin_devnull(void);

/* ---- I/O on handles -------------------------------------------------- */

/*
 * Reads up to @n bytes into @buf; *@got is the count, 0 at end of file.
 * Blocks until at least one byte or EOF. Retries on EINTR.
 */
int mproc__os_read(mproc__os_fd_t fd, void *buf, size_t n, size_t *got);

/* Writes all @n bytes. A closed peer gives MPROC_ECLOSED, never a signal. */
int mproc__os_write_all(mproc__os_fd_t fd, const void *buf, size_t n);

/*
 * Waits until @fd is readable (data or EOF).
 * Returns 0 when readable, MPROC_ETIMEDOUT otherwise.
 */
int mproc__os_wait_readable(mproc__os_fd_t fd, double timeout);

/* Closes @fd; MPROC__OS_FD_INVALID is ignored. */
void mproc__os_close(mproc__os_fd_t fd);

/* Formats @fd for a command line, and parses it back (MPROC_EINVAL). */
void mproc__os_fd_format(mproc__os_fd_t fd, char *buf, size_t cap);
int mproc__os_fd_parse(const char *text, mproc__os_fd_t *fd);

/* ---- children -------------------------------------------------------- */

/*
 * Spawn: runs this program's own executable again as
 *     <exe> <marker> <handle>
 * where <handle> is the read end of a fresh pipe, formatted with
 * mproc__os_fd_format(), the only handle the child inherits besides its
 * stdout and stderr; its stdin is the null device. The write end comes back
 * in *@boot_w (not inheritable) for the bootstrap message.
 *
 * Unix: posix_spawn with every other descriptor closed. Windows:
 * CreateProcessW with PROC_THREAD_ATTRIBUTE_HANDLE_LIST.
 */
int mproc__os_spawn(mproc__os_child_t **child, const char *marker,
                    mproc__os_fd_t *boot_w);

/*
 * Fork: returns 0 in the parent with *@child set, 1 in the child with
 * *@child NULL. MPROC_ENOTSUP where the OS cannot fork. The caller flushes
 * stdio first.
 */
int mproc__os_fork(mproc__os_child_t **child);

/*
 * Asks the forkserver (started on first use) for a child that runs the
 * bootstrap frame @frame of @len bytes. MPROC_ENOTSUP where the OS cannot
 * fork. The frame's authkey-protected connection stays open as the child's
 * sentinel: the server reports the exit status through it.
 */
int mproc__os_forkserver_child(mproc__os_child_t **child, const void *frame,
                               size_t len);

/*
 * The forkserver's main loop, run by mproc_main() in the spawned server
 * process when argv[1] is the forkserver marker. Never returns.
 */
void mproc__os_forkserver_main(int argc, char **argv);

/* The child's OS process id. */
long mproc__os_child_pid(const mproc__os_child_t *child);

/*
 * Waits up to @timeout seconds for the child to end. Returns 0 with
 * *@exitcode in Python's convention (-N for death by signal N; a Windows
 * child ended by mproc__os_child_terminate or _kill reads -15), or
 * MPROC_ETIMEDOUT. Once it returned 0, later calls return 0 and the same
 * code at once.
 */
int mproc__os_child_wait(mproc__os_child_t *child, double timeout,
                         int *exitcode);

/* SIGTERM / TerminateProcess. An ended child is not an error. */
int mproc__os_child_terminate(mproc__os_child_t *child);

/* SIGKILL / TerminateProcess. An ended child is not an error. */
int mproc__os_child_kill(mproc__os_child_t *child);

/* Frees the handle. It neither waits for nor stops the child. */
void mproc__os_child_free(mproc__os_child_t *child);

#endif
