/*
 * The contract between the portable core (src/) and the OS backends
 * (platform/unix, platform/win32). It is the only header src/ includes from
 * platform/, and nothing OS-specific appears in it.
 *
 * Conventions: every fallible function returns a negative MPROC_E* status
 * when it failed, 0 when it is done, and a positive value only where its
 * prose says so (a count, the child's side of a fork); on failure it sets
 * the thread's last-error sentence with mproc__set_error() (the OS's own
 * words included). Timeouts are seconds as
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

/*
 * Registers @fn to run among the atexit handlers, in the same newest-first
 * order, with the status that exit() was called with: 0 when registered,
 * MPROC_ENOTSUP (nothing registered) where the C library cannot pass the
 * status on. Unix: on_exit, where the C library has it (glibc); elsewhere
 * MPROC_ENOTSUP. Windows: MPROC_ENOTSUP; without fork no process inherits
 * exit handlers there. One handler per process: a forked child that
 * registers its own replaces the one it inherited, whose entry, still in
 * the list and older, then runs the child's only if the child's returned.
 */
int mproc__os_at_exit_status(void (*fn)(int status));

/* Gives the processor to another runnable thread, if any. */
void mproc__os_yield(void);
/*
 * Tells the processor this thread is spinning (x86 pause), which spends a
 * few dozen cycles without touching memory; nothing where there is no such
 * hint.
 */
void mproc__os_pause(void);

/* A monotonic clock in seconds; only differences mean anything. */
double mproc__os_monotonic(void);

/*
 * Sleeps for @seconds (> 0), resuming after signals until the time is up:
 * clock_nanosleep on CLOCK_MONOTONIC on Unix, Sleep in slices on Windows.
 */
void mproc__os_sleep(double seconds);

/*
 * The working directory as a new UTF-8 string in *@out (free() it):
 * getcwd on Unix, GetCurrentDirectoryW on Windows.
 */
int mproc__os_getcwd(char **out);

/* Makes the UTF-8 path @path the working directory. */
int mproc__os_chdir(const char *path);

/*
 * The program's own command line split into arguments as the C library
 * splits it for main(), in UTF-8: *@argv is one malloc'ed block (one free()
 * releases it) ending with a NULL entry. Windows only (GetCommandLineW);
 * MPROC_ENOTSUP on Unix, where main() is given the arguments.
 */
int mproc__os_command_line(int *argc, char ***argv);

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

/* Closes @fd; MPROC__OS_FD_INVALID is ignored. */
void mproc__os_close(mproc__os_fd_t fd);

/*
 * Parses a handle's value that a parent put on this process's command line
 * (MPROC_EINVAL if @text is none).
 */
int mproc__os_fd_parse(const char *text, mproc__os_fd_t *fd);

/* ---- children -------------------------------------------------------- */

/*
 * Spawn: runs this program's own executable again as
 *     <exe> <marker> <handle>
 * where <handle> is the read end of a fresh pipe, in the form
 * mproc__os_fd_parse() reads, the only handle the child inherits besides its
 * stdout and stderr and the @npass handles of @pass (connections given to
 * it as start arguments; at most MPROC__OS_MAX_PASS, which the core checks
 * once, when it collects them); its stdin is the null
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
 * Spawns this program's own executable as a helper process of the library
 * (the forkserver, the resource tracker):
 *     <exe> <marker> <h0> <h1> ...
 * where <hi> is the value under which the helper sees the i-th of the @n
 * handles of @h (at most 8), formatted for mproc__os_fd_parse(): the only
 * handles it inherits besides stdout and stderr; its stdin is the null
 * device. @own_session: it starts a session of its own, so that a signal
 * to the program's process group or terminal does not reach it. The caller
 * keeps its own @h. Unix: posix_spawn, the handles at descriptors 3, 4, ...
 * Windows: MPROC_ENOTSUP (no helper runs there).
 */
int mproc__os_spawn_helper(mproc__os_child_t **child, const char *marker,
                           const mproc__os_fd_t *h, size_t n, int own_session);

/*
 * A child that another process (the forkserver) started for this one:
 * @pid, and @status, a connection on which that process writes the child's
 * exit code (8 bytes, little-endian, Python's convention) when it has
 * ended. *@child owns @status from here on, on failure too (it is closed);
 * waiting for the child reads it, and a peer that closes it without a word
 * reads as exit code 255. Windows: MPROC_ENOTSUP.
 */
int mproc__os_child_remote(mproc__os_child_t **child, long pid,
                           mproc__os_fd_t status);

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

/*
 * Reads as mproc__os_conn_read() does, but waits at most @timeout seconds
 * (>= 0) for the first byte: 0 with *@got (0: the end of the stream), or
 * MPROC_ETIMEDOUT (no sentence) if none came in time. Nothing the peer
 * can send holds it past @timeout: an empty write, which a Windows pipe
 * delivers as a read of nothing, is no byte, and the wait goes on.
 */
int mproc__os_conn_read_timed(mproc__os_conn_t *c, void *buf, size_t n,
                              size_t *got, double timeout);

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
 * The bytes that writes to @c can place while its reader takes none, so
 * that a writer that keeps within them never blocks: first grown towards
 * @want where the OS allows. Linux: the pipe's size (F_SETPIPE_SZ, then
 * F_GETPIPE_SZ); a socket, or a pipe the OS will not tell about: 4096, a
 * page, which every one takes. Windows: the named pipe's buffer, 64 KiB.
 */
size_t mproc__os_conn_capacity(mproc__os_conn_t *c, size_t want);

/*
 * The OS handles of @c, as this process knows them: what is passed on.
 * Writes them to @out and returns their count: one, or two where reading
 * and writing use separate ones (a Unix one-way pipe end has one, a
 * socketpair end one; a connection made of two pipes has two, reading
 * first). Unused places of @out are MPROC__OS_FD_INVALID.
 */
int mproc__os_conn_handles(const mproc__os_conn_t *c, mproc__os_fd_t out[2]);

/*
 * Wraps the handles this process received (passed at its start, or
 * inherited through fork), which @c then owns: @h, and @h2 unless it is
 * MPROC__OS_FD_INVALID, in mproc__os_conn_handles() order. They are made
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

/*
 * A process this one did not start (its parent), watched: *@h, a handle
 * of this process's own, becomes ready for mproc__os_wait_many() when
 * process @pid ends (a pidfd on Linux, OpenProcess(SYNCHRONIZE) on
 * Windows); the caller closes it with mproc__os_close(). Returns 0 with
 * *@h; 1 if @pid has ended already, which includes a pid that now names a
 * process started after this one (the parent ended and its pid was
 * reused); MPROC_ENOTSUP where the OS has no such handle (Unix without
 * pidfds): the caller then asks mproc__os_pid_alive().
 */
int mproc__os_process_watch(long pid, mproc__os_fd_t *h);

/* Whether a process @pid exists (1) or not (0): kill(pid, 0), say. */
int mproc__os_pid_alive(long pid);

/*
 * Sends the child an interrupt: SIGINT on Unix (Python's
 * Process.interrupt). An ended child is not an error. Windows:
 * MPROC_ENOTSUP, since a console's Ctrl-C event goes to a whole process
 * group and cannot be aimed at one child.
 */
int mproc__os_child_interrupt(mproc__os_child_t *child);

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

/* ---- handing handles to a running process ------------------------------
 */

/*
 * A spawned child gets its handles at its start (mproc__os_spawn's @pass).
 * These calls hand OS handles to a process that is already running, which
 * is how an object that owns a handle (a connection) can travel through a
 * queue or another connection. The two OSes do it differently, so both ways
 * are here and each side answers MPROC_ENOTSUP for the other's:
 *
 * - Unix: descriptors travel as SCM_RIGHTS over a connected Unix socket
 *   (mproc__os_send_handles / _recv_handles); the local listener below
 *   makes such a socket between unrelated processes.
 * - Windows: a handle is duplicated into the receiving process by its pid
 *   (mproc__os_handle_export), and the receiver turns what it was told
 *   into its own handle (mproc__os_handle_import). A socket cannot be
 *   duplicated as a plain handle (the copy is not a socket there:
 *   WSAENOTSOCK), so it travels as WSADuplicateSocketW's protocol blob.
 *
 * What kind of handle it is matters on Windows only; on Unix a received
 * descriptor says what it is (a socket reads as MPROC__OS_HANDLE_SOCKET).
 */
typedef enum mproc__os_handle_kind_e {
    MPROC__OS_HANDLE_FILE = 0, /* a pipe end, file or other I/O handle */
    MPROC__OS_HANDLE_SOCKET    /* a socket (Windows: a SOCKET) */
} mproc__os_handle_kind_e;

typedef struct mproc__os_handle {
    mproc__os_fd_t h;
    mproc__os_handle_kind_e kind;
} mproc__os_handle_t;

/*
 * The most handles one call hands over: a child's start handles and its
 * stdout and stderr (what the forkserver hands over per child).
 */
#define MPROC__OS_MAX_HANDLES (MPROC__OS_MAX_PASS + 2)

/*
 * Unix: sends copies of the @n handles of @h (1 to MPROC__OS_MAX_HANDLES)
 * in one message over the connected Unix socket @sock, with one data byte
 * @tag: the receiver gets all of them or none. The caller keeps its own
 * handles either way: closing them afterwards does not affect the
 * receiver's copies. A closed peer is MPROC_ECLOSED, never a signal.
 * Windows: MPROC_ENOTSUP.
 */
int mproc__os_send_handles(mproc__os_fd_t sock, char tag,
                           const mproc__os_handle_t *h, size_t n);

/*
 * Unix: receives one message of mproc__os_send_handles() from @sock: its
 * data byte in *@tag, and its handles (close-on-exec) in @h, *@n of them,
 * at most @cap. The caller then owns them. On failure none is left open:
 * a message with no handles, more than @cap, or cut short is
 * MPROC_ECORRUPT and whatever did arrive is closed; the end of the stream
 * is MPROC_ECLOSED. Windows: MPROC_ENOTSUP.
 */
int mproc__os_recv_handles(mproc__os_fd_t sock, char *tag,
                           mproc__os_handle_t *h, size_t cap, size_t *n);

/*
 * What mproc__os_handle_export() writes for the receiver: room for a kind
 * and a WSAPROTOCOL_INFOW. It is plain bytes, to be sent on any channel.
 */
#define MPROC__OS_HANDLE_BLOB_SIZE 640

/*
 * Windows: makes handle @h usable by the running process @pid, and writes
 * into @blob (MPROC__OS_HANDLE_BLOB_SIZE bytes) what that process gives
 * mproc__os_handle_import(); *@len is the count of bytes used. A file
 * handle is duplicated into @pid (DuplicateHandle, the target opened with
 * PROCESS_DUP_HANDLE); a socket becomes WSADuplicateSocketW's protocol
 * information for @pid. The caller keeps @h. If the blob never reaches
 * @pid, a duplicated file handle stays open there until that process ends
 * (a socket's blob holds nothing open). Unix: MPROC_ENOTSUP.
 */
int mproc__os_handle_export(const mproc__os_handle_t *h, long pid, void *blob,
                            size_t *len);

/*
 * Windows, in the process named at the export: turns the @len bytes of
 * @blob into a handle this process owns, in *@h (not inheritable). A
 * socket is rebuilt with WSASocketW; a file handle is already this
 * process's. MPROC_ECORRUPT if @blob is no export. Each blob may be
 * imported once. Unix: MPROC_ENOTSUP.
 */
int mproc__os_handle_import(const void *blob, size_t len,
                            mproc__os_handle_t *h);

/*
 * Windows: copies handle @theirs of the running process @pid into this
 * process, in *@ours (not inheritable); the caller owns the copy. With
 * @close_theirs, @pid's handle is closed by the same call
 * (DUPLICATE_CLOSE_SOURCE), as a handle offered for one taker is; else it
 * stays open. Not for sockets: a socket copied this way is no socket
 * here, so sockets travel by mproc__os_handle_export(). Unix:
 * MPROC_ENOTSUP.
 */
int mproc__os_handle_dup_from(long pid, mproc__os_fd_t theirs, int close_theirs,
                              mproc__os_fd_t *ours);

/*
 * A second handle of @h in this process, in *@copy, not inherited by
 * children (close-on-exec on Unix): it stays open when @h is closed.
 */
int mproc__os_dup(mproc__os_fd_t h, mproc__os_fd_t *copy);

/*
 * Closes @h as its kind asks (closesocket for a Windows socket);
 * MPROC__OS_FD_INVALID is ignored.
 */
void mproc__os_handle_close(const mproc__os_handle_t *h);

/*
 * A local listener (Unix): a listening Unix socket named "sock" in a fresh
 * 0700 directory "<TMPDIR or /tmp>/<prefix>-XXXXXX", so only this user can
 * reach it. @packets makes it SOCK_SEQPACKET (message boundaries kept)
 * instead of a byte stream. On success *@listener is the socket
 * (close-on-exec) and @path (@cap bytes) its path; on failure nothing is
 * left behind. Windows: MPROC_ENOTSUP.
 */
int mproc__os_local_listen(const char *prefix, int packets,
                           mproc__os_fd_t *listener, char *path, size_t cap);

/* Accepts one connection on @listener, close-on-exec; retries on EINTR. */
int mproc__os_local_accept(mproc__os_fd_t listener, mproc__os_fd_t *conn);

/*
 * Connects to the listener at @path (of the same @packets kind), close-on-
 * exec. A path where nobody listens any more is MPROC_ENOTFOUND (the
 * listener died without removing its files); other failures MPROC_EOS.
 */
int mproc__os_local_connect(const char *path, int packets,
                            mproc__os_fd_t *conn);

/* The path of local listener @listener, in @path of @cap bytes. */
int mproc__os_local_path(mproc__os_fd_t listener, char *path, size_t cap);

/*
 * Receives one packet waiting on @sock of a packet listener (at most @cap
 * bytes), without blocking: 0 with its length in *@n; MPROC_ETIMEDOUT if
 * none waits; MPROC_ECLOSED at the end of the connection; MPROC_ECORRUPT
 * for a packet longer than @cap, which is dropped.
 */
int mproc__os_recv_packet(mproc__os_fd_t sock, void *buf, size_t cap,
                          size_t *n);

/* The longest path of a local listener, its terminator included. */
#define MPROC__OS_LOCAL_PATH_MAX 108

/* Removes the socket file at @path and its private directory. */
void mproc__os_local_remove(const char *path);
/*
 * The same, for the resource tracker, which is told paths by other
 * processes: only if @path is a socket of this user's in a directory of
 * this user's that nobody else may enter (0700). 0 if it was removed;
 * MPROC_ENOTFOUND if there is no such socket (its owner removed it);
 * MPROC_ENOTSUP on Windows, whose named pipes go with their last handle.
 */
int mproc__os_local_leftover_remove(const char *path);

/* ---- listeners and clients ------------------------------------------- */

/*
 * The transport of mproc_listener_t and mproc_client_connect(): a socket
 * or pipe that connections are accepted on, and connecting to one. The
 * core parses the user's address string (listener.c) into one of these
 * kinds; each backend serves the kinds its OS has and answers
 * MPROC_EBADADDR, with a sentence naming the forms it takes, for the
 * others. The handshake is the core's: these calls only move bytes.
 */
typedef enum mproc__os_addr_kind_e {
    MPROC__OS_ADDR_FRESH = 0, /* a new private local address (listen only) */
    MPROC__OS_ADDR_TCP,       /* @host and @port */
    MPROC__OS_ADDR_UNIX,      /* a Unix socket at the path @host */
    MPROC__OS_ADDR_PIPE       /* a Windows named pipe \\.\pipe\<...> @host */
} mproc__os_addr_kind_e;

typedef struct mproc__os_addr {
    mproc__os_addr_kind_e kind;
    /*
     * TCP: the host as written, without the brackets of an IPv6 address
     * ("" for every IPv4 interface); UNIX and PIPE: the whole address.
     */
    const char *host;
    int port;         /* TCP: 0 to 65535 (0: the OS chooses, listen only) */
    const char *text; /* the address as the user wrote it, for sentences */
} mproc__os_addr_t;

/* The longest address mproc__os_listener_address() gives, NUL included. */
#define MPROC__OS_ADDR_MAX 512

typedef struct mproc__os_listener mproc__os_listener_t;

/*
 * Binds @a and listens with @backlog (> 0; named pipes have none).
 * MPROC_EADDRINUSE if something holds the address (a port taken, a path
 * that exists, a pipe name served); MPROC_EBADADDR for a kind this OS has
 * not, or an address that cannot be bound here (a host not of this
 * machine, a path too long); MPROC_ENOTFOUND for a host name that does
 * not resolve. Not inherited by children. A fresh address is a Unix
 * socket "sock" in a new 0700 directory (Unix), a pipe
 * \\.\pipe\mproc-<pid>-<random> (Windows).
 */
int mproc__os_listen(mproc__os_listener_t **l, const mproc__os_addr_t *a,
                     int backlog);

/*
 * The bound address in the form the core parses back: the path or pipe
 * name, or "<numeric host>:<port>" with the port that was bound
 * ("[<v6>]:<port>" for IPv6). It belongs to @l.
 */
const char *mproc__os_listener_address(const mproc__os_listener_t *l);

/*
 * Waits at most @timeout seconds for a client to connect to @l and takes
 * it: 0 with *@c, a byte stream as mproc__os_conn_pair() makes (readable
 * with mproc__os_conn_wait_readable and mproc__os_wait_many), or
 * MPROC_ETIMEDOUT. One thread at a time.
 */
int mproc__os_listener_accept(mproc__os_listener_t *l, double timeout,
                              mproc__os_conn_t **c);

/*
 * Stops listening and frees @l; NULL is ignored. A Unix socket it bound is
 * removed (with the private directory of a fresh one) if this is the
 * process that bound it and the path still names that socket.
 */
void mproc__os_listener_close(mproc__os_listener_t *l);

/*
 * Connects to the listener at @a within @timeout seconds (negative: no
 * limit): 0 with *@c; MPROC_ENOTFOUND if nobody listens there (no such
 * path or pipe, a TCP connection refused) or the host does not resolve;
 * MPROC_ETIMEDOUT; MPROC_EBADADDR for a kind this OS has not (or
 * MPROC__OS_ADDR_FRESH).
 */
int mproc__os_connect(const mproc__os_addr_t *a, double timeout,
                      mproc__os_conn_t **c);

/*
 * Whether @c can be handed to another process (0) or not (MPROC_ENOTSUP
 * with a sentence): a Windows TCP socket cannot. A socket moves only by
 * WSADuplicateSocketW, called by the sender for a receiver it names, and
 * a connection's reference is made before the process that takes it is
 * known (the taker pulls pipe handles out by pid, which a socket does not
 * survive).
 */
int mproc__os_conn_transferable(const mproc__os_conn_t *c);

/* ---- the library's helper processes ------------------------------------
 */

/*
 * What the forkserver and the resource tracker (src/forkserver.c,
 * src/tracker.c) need of the OS beyond fork and the local listener. Unix
 * only; Windows, where neither runs, answers MPROC_ENOTSUP (or does
 * nothing, for the calls that cannot fail).
 */

/*
 * Watches for ended children of this single-threaded process: *@h becomes
 * readable (for mproc__os_wait_many) when one has ended. Unix: a SIGCHLD
 * handler writing to a self-pipe.
 */
int mproc__os_reaper_init(mproc__os_fd_t *h);
/*
 * Collects one ended child: 1 with its *@pid and *@exitcode (Python's
 * convention), 0 when none is left to collect. It also clears the
 * readiness of the reaper's handle.
 */
int mproc__os_reap(long *pid, int *exitcode);
/* In a child forked by the server: undoes mproc__os_reaper_init(). */
void mproc__os_reaper_forget(void);

/*
 * Ignores (@ignore) the terminal's interrupt and the request to terminate
 * (SIGINT and SIGTERM on Unix), or restores their default actions: a
 * Ctrl-C or a kill meant for the program must not kill a server that the
 * program's own children need.
 */
void mproc__os_ignore_interrupts(int ignore);

/*
 * Ignores every signal meant to stop the program (Unix: SIGINT, SIGTERM,
 * SIGHUP; SIGPIPE too): for a helper that must outlive it, the resource
 * tracker.
 */
void mproc__os_detach_signals(void);

/*
 * Makes @h, a handle this process got at its start, private to it again:
 * not inherited by the children it starts (close-on-exec).
 */
int mproc__os_fd_private(mproc__os_fd_t h);

/* This process's stdout (@which 1) or stderr (2), as a handle. */
mproc__os_fd_t mproc__os_std_handle(int which);

/*
 * Makes copies of @out and @err this process's stdout and stderr (dup2 on
 * Unix); the caller still owns @out and @err.
 */
int mproc__os_set_stdio(mproc__os_fd_t out, mproc__os_fd_t err);

/*
 * Makes a read from socket @sock that waits longer than @seconds fail
 * (SO_RCVTIMEO): a client that stalls must not block a server that serves
 * one request at a time.
 */
int mproc__os_set_recv_timeout(mproc__os_fd_t sock, double seconds);

/*
 * Ends this process (as a signal would: Unix SIGALRM) if it still runs
 * @seconds from now; 0 cancels. For the forkserver's process that reads a
 * request: one overall deadline, however slowly the client sends.
 */
void mproc__os_exit_after(double seconds);

/* ---- threads ---------------------------------------------------------- */

/* The calling thread's id, unique in the system while it runs (cached). */
long mproc__os_thread_id(void);

/*
 * A slot that holds one pointer per thread, with a function that runs in
 * a thread that ends (returns from its function or exits) while its value
 * is not NULL, given that value: a POSIX thread key, a fiber-local slot on
 * Windows. The value of the thread that ends the process (exit(), or a
 * return from main) is not given, whatever the OS. Slots are few (four on
 * Windows) and never freed: create one once per use, under the caller's
 * own once-guard.
 */
typedef struct mproc__os_tls mproc__os_tls_t;
int mproc__os_tls_create(mproc__os_tls_t **slot, void (*at_exit)(void *value));
void *mproc__os_tls_get(mproc__os_tls_t *slot);
/* 0, or MPROC_ENOMEM (the value is not set). */
int mproc__os_tls_set(mproc__os_tls_t *slot, void *value);

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
/*
 * Removes the name (Unix): 0, or MPROC_ENOTFOUND if there is none. The
 * kernel counts references on Windows, where this does nothing and
 * returns 0.
 */
int mproc__os_shm_unlink(const char *name);

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

/*
 * The tracker's journal (Unix): a file of "R <name>" and "U <name>" lines
 * beside its listener at @listener_path, in the listener's private
 * directory, so that a tracker that replaces a killed one can learn what
 * it knew. Open makes it (empty) for appending; replace swaps in @n bytes
 * of @data at once and makes *@fd (closed by it) the new file's; take
 * reads a dead tracker's journal, only if its directory is private and
 * ours, and removes its files and directory (a malloc'd string, NULL if
 * there is none); remove deletes the journal of a tracker that finishes.
 * Windows has no tracker: MPROC_ENOTSUP, NULL, nothing.
 */
int mproc__os_journal_open(const char *listener_path, mproc__os_fd_t *fd);
int mproc__os_journal_replace(const char *listener_path, const void *data,
                              size_t n, mproc__os_fd_t *fd);
char *mproc__os_journal_take(const char *listener_path);
void mproc__os_journal_remove(const char *listener_path);

/* ---- spill files ----------------------------------------------------- */

/*
 * A byte file that outlives the process that wrote it: a queue's overflow,
 * whose items must survive a producer that exits right after putting.
 * Unix: a POSIX shared memory object "/<name>" (memory-backed, and the
 * resource tracker can remove it); Windows: the file <temp dir>\<name>
 * (a kernel mapping would vanish with its last handle, and with it the
 * items of a producer that exits), which the kernel deletes with the last
 * handle to it: every user holds a duplicate of the creator's, so the file
 * lasts while any user does, and goes when every one has gone, killed or
 * not.
 */
typedef struct mproc__os_spill mproc__os_spill_t;

/*
 * Opens @name, or with @create makes it (empty): MPROC_EEXIST if it exists
 * already, since it is never adopted. An open of a missing file answers
 * MPROC_ENOTFOUND, one of another user's (Unix) MPROC_EAUTH.
 */
int mproc__os_spill_open(mproc__os_spill_t **s, const char *name, int create);
/* Writes / reads exactly @n bytes at @offset. */
int mproc__os_spill_write(mproc__os_spill_t *s, uint64_t offset,
                          const void *buf, size_t n);
int mproc__os_spill_read(mproc__os_spill_t *s, uint64_t offset, void *buf,
                         size_t n);
/* Shrinks the file to nothing. */
int mproc__os_spill_truncate(mproc__os_spill_t *s);
void mproc__os_spill_close(mproc__os_spill_t *s);
/*
 * Removes the file; a missing one is not an error. Windows: nothing, as
 * the file goes with its last handle.
 */
void mproc__os_spill_unlink(const char *name);

/* ---- kernel synchronization objects ---------------------------------- */

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
