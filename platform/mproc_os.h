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

/* Gives the processor to another runnable thread, if any. */
void mproc__os_yield(void);

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
 * stdout and stderr and the @npass handles of @pass (connections given to
 * it as start arguments; at most MPROC__OS_MAX_PASS); its stdin is the null
 * device. The write end comes back in *@boot_w (not inheritable) for the
 * bootstrap message. The caller keeps its own @pass handles: closing them
 * afterwards does not affect the child.
 *
 * Unix: posix_spawn with every other descriptor closed. Windows:
 * CreateProcessW with PROC_THREAD_ATTRIBUTE_HANDLE_LIST.
 */
#define MPROC__OS_MAX_PASS 128
int mproc__os_spawn(mproc__os_child_t **child, const char *marker,
                    mproc__os_fd_t *boot_w, const mproc__os_fd_t *pass,
                    size_t npass);

/*
 * The value under which a child started by mproc__os_spawn() sees the
 * @i-th handle of its @pass list, @h in this process: descriptor 4 + @i on
 * Unix, the same value on Windows. Known before the spawn, so that the
 * bootstrap message can name it.
 */
mproc__os_fd_t mproc__os_spawn_passed_handle(size_t i, mproc__os_fd_t h);

/*
 * Fork: returns 0 in the parent with *@child set, 1 in the child with
 * *@child NULL. MPROC_ENOTSUP where the OS cannot fork. The caller flushes
 * stdio first.
 */
int mproc__os_fork(mproc__os_child_t **child);

/*
 * Asks the forkserver (started on first use) for a child that runs the
 * bootstrap frame @frame of @len bytes, handing it the @npass handles of
 * @pass (at most MPROC__OS_MAX_PASS). MPROC_ENOTSUP where the OS cannot
 * fork. The frame's authkey-protected connection stays open as the child's
 * sentinel: the server reports the exit status through it. The child finds
 * the handles wherever they landed: the server passes their values to
 * mproc__bootstrap_run(), in @pass's order.
 */
int mproc__os_forkserver_child(mproc__os_child_t **child, const void *frame,
                               size_t len, const mproc__os_fd_t *pass,
                               size_t npass);

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

/* ---- connections ------------------------------------------------------ */

/*
 * One end of a byte stream between processes: the transport under
 * mproc_conn_t, which frames the messages itself. Unix: two pipes
 * (duplex; a pipe round trip costs half a socket's) or one (simplex). Windows:
 * a named pipe opened for overlapped I/O, so that its readiness can be waited
 * for beside other handles. An end serves one reading and one writing thread at
 * a time.
 */
typedef struct mproc__os_conn mproc__os_conn_t;

/*
 * Creates a connected pair: @r reads (and writes too if @duplex), @w
 * writes (and reads too if @duplex). Neither is inherited by children
 * unless passed explicitly (close-on-exec; not inheritable).
 */
int mproc__os_conn_pair(mproc__os_conn_t **r, mproc__os_conn_t **w, int duplex);

/*
 * Reads up to @n bytes into @buf, blocking until at least one byte or the
 * end of the stream; *@got is the count, 0 once the peer has closed (a
 * reset by the peer counts as a close too).
 */
int mproc__os_conn_read(mproc__os_conn_t *c, void *buf, size_t n, size_t *got);

/* Writes all @n bytes. A closed peer gives MPROC_ECLOSED, never a signal. */
int mproc__os_conn_write(mproc__os_conn_t *c, const void *buf, size_t n);

/*
 * Waits until @c is readable (data or end of stream): 0, or
 * MPROC_ETIMEDOUT. Waiting takes nothing from the stream, so an end that
 * was waited for can still be passed to a child whole.
 */
int mproc__os_conn_wait_readable(mproc__os_conn_t *c, double timeout);

/* Closes the handle and frees @c; NULL is ignored. */
void mproc__os_conn_close(mproc__os_conn_t *c);

/*
 * The OS handles of @c, as this process knows them: what is passed on. A
 * connection has one, or two where reading and writing use separate ones
 * (a Unix duplex pipe is two pipes); the second is MPROC__OS_FD_INVALID
 * otherwise.
 */
mproc__os_fd_t mproc__os_conn_handle(const mproc__os_conn_t *c);
mproc__os_fd_t mproc__os_conn_handle2(const mproc__os_conn_t *c);

/*
 * Wraps the handles this process received (passed at its start, or
 * inherited through fork), which @c then owns: @h, and @h2 unless it is
 * MPROC__OS_FD_INVALID, in mproc__os_conn_handle() order. They are made
 * close-on-exec (not inheritable) again. MPROC_EINVAL if they are no such
 * handles here.
 */
int mproc__os_conn_adopt(mproc__os_conn_t **c, mproc__os_fd_t h,
                         mproc__os_fd_t h2);

/*
 * A handle that becomes ready when @child ends, for
 * mproc__os_wait_many(): a pidfd (own children) or the forkserver's status
 * connection on Unix, the process handle on Windows. It belongs to
 * @child. MPROC_ENOTSUP where there is none (Linux without pidfds): the
 * caller then polls mproc__os_child_wait().
 */
int mproc__os_child_waitable(mproc__os_child_t *child, mproc__os_fd_t *h);

/* One thing for mproc__os_wait_many() to wait for. */
typedef struct mproc__os_wait_item {
    mproc__os_conn_t *conn; /* readable (data or end), or NULL for: */
    mproc__os_fd_t handle;  /* a waitable of mproc__os_child_waitable() */
    int ready;              /* set by the wait */
} mproc__os_wait_item_t;

/*
 * Waits until at least one of the @n items is ready, at most @timeout
 * seconds, and sets each item's @ready. Any @n works (past Windows' 64
 * handles of one WaitForMultipleObjects too). Returns the number of ready
 * items, 0 on timeout, or a negative status.
 */
int mproc__os_wait_many(mproc__os_wait_item_t *items, size_t n, double timeout);

/* ---- threads ---------------------------------------------------------- */

/* The calling thread's id, unique in the system while it runs (cached). */
long mproc__os_thread_id(void);

/* ---- shared memory ------------------------------------------------------ */

/*
 * A segment of memory shared between processes. A named segment can be
 * opened by name in any process (a spawned child included): POSIX shared
 * memory ("/<name>") on Unix, a pagefile-backed mapping ("Local\<name>")
 * on Windows. A NULL name makes an anonymous segment that only fork
 * children share. Names are at most 31 characters of [A-Za-z0-9_.-].
 */
typedef struct mproc__os_shm mproc__os_shm_t;

/* Creates @name with @size zeroed bytes; MPROC_EEXIST if it exists. */
int mproc__os_shm_create(mproc__os_shm_t **shm, const char *name, size_t size);
/* Opens @name, which must be at least @size bytes; MPROC_ENOTFOUND. */
int mproc__os_shm_open(mproc__os_shm_t **shm, const char *name, size_t size);
void *mproc__os_shm_addr(const mproc__os_shm_t *shm);
/* Unmaps the segment in this process; the name stays. */
void mproc__os_shm_close(mproc__os_shm_t *shm);
/* Removes the name (Unix); the kernel counts references on Windows. */
void mproc__os_shm_unlink(const char *name);

/*
 * The resource tracker (Unix): a process of its own session that removes
 * the names of shared memory still registered when every process that
 * registered them has ended, killed or not. Windows needs none: the kernel
 * frees an object with its last handle.
 */
int mproc__os_track(const char *name);
int mproc__os_untrack(const char *name);
/* The tracker's address for children ("" if none), and adoption of it. */
const char *mproc__os_tracker_address(void);
int mproc__os_tracker_adopt(const char *address);
/* The tracker's main loop (argv[1] is the tracker marker). Never returns. */
void mproc__os_tracker_main(int argc, char **argv);

/* ---- spill files -----------------------------------------------------------
 */

/*
 * A byte file that outlives the process that wrote it: a queue's overflow,
 * whose items must survive a producer that exits right after putting.
 * Unix: a POSIX shared memory object "/<name>" (memory-backed, and the
 * resource tracker can remove it); Windows: the file <temp dir>\<name>,
 * since a kernel mapping would vanish with its last handle.
 */
typedef struct mproc__os_spill mproc__os_spill_t;

/* Opens @name, creating it (empty) if @create; MPROC_ENOTFOUND otherwise. */
int mproc__os_spill_open(mproc__os_spill_t **s, const char *name, int create);
/* Writes / reads exactly @n bytes at @offset. */
int mproc__os_spill_write(mproc__os_spill_t *s, uint64_t offset,
                          const void *buf, size_t n);
int mproc__os_spill_read(mproc__os_spill_t *s, uint64_t offset, void *buf,
                         size_t n);
/* Shrinks the file to nothing. */
int mproc__os_spill_truncate(mproc__os_spill_t *s);
void mproc__os_spill_close(mproc__os_spill_t *s);
/* Removes the file; a missing one is not an error. */
void mproc__os_spill_unlink(const char *name);

/* ---- kernel synchronization objects ---------------------------------------
 */

/*
 * Each object has a slot of MPROC__OS_SYNC_SLOT bytes in a shared segment.
 * The Unix backend keeps the object itself there (a robust futex lock, a
 * sem_t, a futex word); the Windows backend ignores the slot and uses a
 * named kernel object "Local\<name>". @create makes the object, otherwise
 * an existing one is opened. A NULL @name makes an anonymous object (fork
 * children only on Unix; never reopened by name). The handles returned are
 * this process's; _close frees them.
 */
#define MPROC__OS_SYNC_SLOT 64

typedef struct mproc__os_mutex mproc__os_mutex_t;
typedef enum mproc__os_mutex_kind_e {
    MPROC__OS_MUTEX_PLAIN = 0, /* relocking by the holder is MPROC_EDEADLK */
    MPROC__OS_MUTEX_RECURSIVE  /* the holder may lock again */
} mproc__os_mutex_kind_e;

int mproc__os_mutex_init(mproc__os_mutex_t **m, void *slot, const char *name,
                         mproc__os_mutex_kind_e kind, int create);
/*
 * 0; MPROC_OWNERDEAD (> 0: held now, but the previous holder died);
 * MPROC_ETIMEDOUT; MPROC_EDEADLK (a plain mutex relocked forever by its
 * holder; with a timeout that just times out).
 */
int mproc__os_mutex_lock(mproc__os_mutex_t *m, double timeout);
/* 0; MPROC_ENOTHELD (nobody holds it); MPROC_ENOTOWNER (someone else). */
int mproc__os_mutex_unlock(mproc__os_mutex_t *m);
/* Whether the calling thread holds plain mutex @m (1) or not (0). */
int mproc__os_mutex_is_mine(mproc__os_mutex_t *m);
void mproc__os_mutex_close(mproc__os_mutex_t *m);

typedef struct mproc__os_sem mproc__os_sem_t;
/* @max: the bound of a bounded semaphore, 0 for none. */
int mproc__os_sem_init(mproc__os_sem_t **s, void *slot, const char *name,
                       unsigned value, unsigned max, int create);
/* 0; MPROC_ETIMEDOUT. */
int mproc__os_sem_wait(mproc__os_sem_t *s, double timeout);
/* 0; MPROC_ETOOMANY at the bound (the value is unchanged). */
int mproc__os_sem_post(mproc__os_sem_t *s);
int mproc__os_sem_value(mproc__os_sem_t *s, int *value);
void mproc__os_sem_close(mproc__os_sem_t *s);

typedef struct mproc__os_event mproc__os_event_t;
int mproc__os_event_init(mproc__os_event_t **e, void *slot, const char *name,
                         int create);
int mproc__os_event_set(mproc__os_event_t *e);
int mproc__os_event_clear(mproc__os_event_t *e);
/* 1 set, 0 clear. */
int mproc__os_event_is_set(mproc__os_event_t *e);
/* 0 once set; MPROC_ETIMEDOUT. */
int mproc__os_event_wait(mproc__os_event_t *e, double timeout);
void mproc__os_event_close(mproc__os_event_t *e);

#endif
