/*
 * Internals shared by the files of src/. Nothing here is part of the
 * public API; every non-static name carries the mproc__ prefix. What the OS
 * backends may use too is in mproc_services.h.
 */
#ifndef MPROC_PRIVATE_H
#define MPROC_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "mproc_os.h"
#include "mproc_services.h"

/* ---- values on the wire (value_codec.c) ------------------------------ */

/* Appends the msgpack encoding of @v to @out. */
int mproc__value_encode(const mproc_value_t *v, mproc__buf_t *out);
/*
 * Decodes exactly one value filling @len bytes. Anything else (trailing
 * bytes, truncation, an unknown msgpack type) is MPROC_ECORRUPT.
 */
int mproc__value_decode(const void *data, size_t len, mproc_value_t **out);

/*
 * References (value.c). A reference is a kind and a list of scalar fields,
 * whose shape each kind fixes (mproc__ref_check): a named object's is
 * [name]; a connection's is [readable, writable, max_message,
 * compress_threshold, compress_level, no_compress, form, a, b, c], where
 * form MPROC__REF_CONN_OWN names handles a and b (-1: none) of process c,
 * and form MPROC__REF_CONN_SLOT slots a and b of the start whose token is c.
 */
#define MPROC__REF_CONN_OWN 0
#define MPROC__REF_CONN_SLOT 1
#define MPROC__REF_CONN_FIELDS 10
/* A reference of @kind with the list @fields, which it takes over; NULL
 * with the last error set (MPROC_ENOMEM, or MPROC_EINVAL for a bad shape). */
mproc_value_t *mproc__ref_new(mproc_ref_kind_e kind, mproc_value_t *fields);
/* The fields of reference @v (a list), or NULL. */
const mproc_value_t *mproc__ref_fields(const mproc_value_t *v);
/* 0 if @fields is the field list of a reference of @kind, else -1. */
int mproc__ref_check(int kind, const mproc_value_t *fields);
/* The name of @kind ("lock", "queue", ...) for messages. */
const char *mproc__ref_kind_name(mproc_ref_kind_e kind);
/* 0 if @v is a reference of @kind; else MPROC_ETYPE with a sentence. */
int mproc__ref_expect(const mproc_value_t *v, mproc_ref_kind_e kind);
/* Whether @v holds a reference of @kind anywhere inside. */
int mproc__value_has_ref(const mproc_value_t *v, mproc_ref_kind_e kind);
/*
 * The objects that mproc_value_to_*() imported in this process, one per
 * reference: find gives the object of a reference equal to @ref (or NULL),
 * add records one, forget drops @obj when it is destroyed, and after_fork
 * forgets the parent's (a fork child did not import them).
 */
void *mproc__ref_cache_find(const mproc_value_t *ref);
int mproc__ref_cache_add(const mproc_value_t *ref, void *obj);
void mproc__ref_cache_forget(const void *obj);
void mproc__ref_cache_after_fork(void);
/*
 * What every mproc_value_to_*() does: checks that @v is a reference of
 * @kind, and gives the object this process opened for an equal reference,
 * or opens one with @open (which hands it to the runtime) and records it.
 * @close undoes @open if recording fails.
 */
int mproc__ref_open_once(const mproc_value_t *v, mproc_ref_kind_e kind,
                         int (*open)(const mproc_value_t *ref, void **obj),
                         void (*close)(void *obj), void **out);

/* ---- frames (frame.c) ------------------------------------------------ */

/*
 * A frame is a 16-byte header and a body:
 *   0  4  magic "MPRC"
 *   4  1  version (1)
 *   5  1  flags: bit 0 = body is deflated, bit 1 = raw bytes
 *   6  2  reserved, zero
 *   8  4  body length, little-endian
 *   12 4  crc32 of the body, little-endian
 * A deflated body starts with the payload's length (4 bytes, LE).
 */
#define MPROC__FRAME_HEADER_SIZE 16
#define MPROC__FRAME_FLAG_DEFLATED 0x01u
/* The payload is raw bytes (send_bytes), not msgpack. */
#define MPROC__FRAME_FLAG_RAW 0x02u

typedef struct mproc__frame_opts_t {
    /* Deflate payloads at least this big; 0: never. */
    size_t compress_threshold;
    /* The zlib level, 1..9. */
    int compress_level;
} mproc__frame_opts_t;

/*
 * Sets @o to @given (NULL: all defaults) with every zero field given its
 * default, as connections and queues both need. A level outside 0..9 is
 * MPROC_EINVAL, and @o is then left as it was.
 */
int mproc__codec_opts_apply(mproc_codec_opts_t *o,
                            const mproc_codec_opts_t *given);
/* The frame options @o (as applied) asks for. */
mproc__frame_opts_t mproc__codec_frame_opts(const mproc_codec_opts_t *o);

/*
 * Appends the frame of @payload to @out. @flags may carry
 * MPROC__FRAME_FLAG_RAW; deflating is decided here. A payload whose sample
 * looks incompressible is not even tried, so incompressible data costs no
 * more than the checksum.
 */
int mproc__frame_encode(const void *payload, size_t len,
                        const mproc__frame_opts_t *opts, mproc__buf_t *out);
int mproc__frame_encode_flags(const void *payload, size_t len, unsigned flags,
                              const mproc__frame_opts_t *opts,
                              mproc__buf_t *out);
/* Checks a header; *@body_len gets the body's length. */
int mproc__frame_check_header(const unsigned char *hdr, size_t max_body,
                              size_t *body_len);
/* Whether @body's checksum is the one its header @hdr carries (1) or not. */
int mproc__frame_body_ok(const unsigned char *hdr, const void *body,
                         size_t body_len);
/* Verifies the body against its header and appends the payload to @out. */
int mproc__frame_open_body(const unsigned char *hdr, const void *body,
                           size_t body_len, size_t max_payload,
                           mproc__buf_t *out);
/* Reads one frame from @fd and appends its payload to @out. */
int mproc__frame_read(mproc__os_fd_t fd, size_t max_payload, mproc__buf_t *out);

/* ---- targets and record types (registry.c) --------------------------- */

mproc_target_fn mproc__target_find(const char *name);
/* The name @fn is registered under, or NULL if it is not registered. */
const char *mproc__target_name(mproc_target_fn fn);

/* ---- fork-only objects (synchronize.c) ------------------------------- */

/*
 * 0 if a fork-only object (anonymous memory that fork children share) can
 * be made here; MPROC_ENOTSUP with a sentence naming @what otherwise.
 */
int mproc__check_fork_only(const char *what);

/* ---- pack and unpack (pack.c) ---------------------------------------- */

/*
 * The status of the calling thread's latest mproc_pack() if it failed
 * (and forgets it), else 0: how mproc_spawn() tells a NULL that stands for
 * a failed pack from a NULL that means no arguments.
 */
int mproc__pack_take_failure(void);

/* ---- the runtime (runtime.c) ----------------------------------------- */

/*
 * 0 if @method is known and offered here (MPROC_START_DEFAULT is);
 * MPROC_EINVAL or MPROC_ENOTSUP with a sentence otherwise.
 */
int mproc__check_method(mproc_start_method_e method);

#define MPROC__AUTHKEY_SIZE 32

/* The state of the calling process. */
typedef struct mproc__runtime_t {
    int initialised;       /* mproc_main ran */
    mproc_process_t *self; /* the current process's object */
    long parent_pid;       /* 0 in the main process */
    int *identity;         /* e.g. {1, 2} for "Process-1:2" */
    size_t identity_len;
    int child_counter; /* numbers given to this process's children */
    int is_fork_child; /* end with _exit, not exit */
    unsigned char authkey[MPROC__AUTHKEY_SIZE];
    mproc_start_method_e start_method;
    int start_method_set;
} mproc__runtime_t;

extern mproc__runtime_t mproc__rt;

int mproc__runtime_init_main(void);
/* After fork, in the child: forget the parent's children, set identity. */
void mproc__runtime_after_fork(mproc_process_t *self);
void mproc__runtime_add_child(mproc_process_t *p);
void mproc__runtime_remove_child(mproc_process_t *p);
/* Python's util._exit_function: terminate daemons, join the others. */
void mproc__runtime_shutdown(void);
/* Logs "process exiting", flushes and ends the process with @code. */
MPROC_NORETURN void mproc__runtime_finish(int code);

/*
 * Named objects this process holds open. A process that ends normally lets
 * go of them (Python finalizes them at exit), so the last user's exit
 * removes a name; only a killed tree leaves names for the tracker.
 */
typedef struct mproc__owned_t {
    void (*release)(void *obj);
    void *obj;
    struct mproc__owned_t *prev, *next;
} mproc__owned_t;

void mproc__owned_link(mproc__owned_t *node, void (*release)(void *),
                       void *obj);
void mproc__owned_unlink(mproc__owned_t *node);

/* ---- processes (process.c) ------------------------------------------- */

/*
 * A Process object: what a child is started with (name, target, arguments,
 * method), then its pid, OS handle and exit code once started.
 */
struct mproc_process_t {
    char *name;
    char *target;
    mproc_target_fn fn;
    mproc__buf_t args; /* msgpack of the argument list */
    int daemon;
    mproc_start_method_e method;
    int *identity;
    size_t identity_len;
    int started;
    int is_current; /* the object of the calling process */
    long creator_pid;
    mproc__os_child_t *child;
    long pid;
    int have_exitcode;
    int exitcode;
    mproc_process_t *next_child; /* the runtime's list of children */
    mproc_process_t *prev_child;
};

/* A process object for the calling process (used by bootstrap). */
mproc_process_t *mproc__process_new_current(const char *name, int daemon,
                                            const int *identity,
                                            size_t identity_len);

/* ---- configuration (config.c) ---------------------------------------- */

/* The configuration as a new map of strings; NULL when out of memory. */
mproc_value_t *mproc__config_export(void);
int mproc__config_import(const mproc_value_t *map);

/* ---- logging (log.c) ------------------------------------------------- */

int mproc__log_is_on(void);
void mproc__log_restore(int on, int level);

/* ---- connections (connection.c) -------------------------------------- */

/*
 * The connections that a start hands to a spawn or forkserver child: the
 * exported references of this process found in its arguments, rewritten
 * to slots of the bootstrap message's handle list.
 */
typedef struct mproc__conn_pass_t {
    mproc__buf_t args;       /* the arguments with slot references */
    mproc__os_fd_t *handles; /* this process's handle of each slot */
    size_t n;                /* 0: nothing to pass; @args is unused */
    int64_t token;           /* ties the slots to this one start */
} mproc__conn_pass_t;

/* Finds the connections in the encoded argument list @args. */
int mproc__conn_pass_prepare(const mproc__buf_t *args,
                             mproc__conn_pass_t *pass);
void mproc__conn_pass_free(mproc__conn_pass_t *pass);
/* In a spawn or forkserver child: the handles its start handed over. */
int mproc__conn_boot_handles(const mproc__os_fd_t *handles, size_t n,
                             int64_t token);
/* In a fork child: the descriptors of @parent_pid are this process's too. */
void mproc__conn_after_fork(long parent_pid);
/* For the tests: the transport under @c. */
mproc__os_conn_t *mproc__conn_os(mproc_conn_t *c);

/* ---- bootstrap (bootstrap.c) ----------------------------------------- */

#define MPROC__MAX_BOOTSTRAP (256u * 1024u * 1024u)

/*
 * Builds the bootstrap frame that starts @p in a spawned child. @pass (NULL
 * for none) carries the connections handed over: its rewritten arguments
 * replace @p's, and @child_handles (NULL if the child learns them another
 * way) are the values under which the child sees them.
 */
int mproc__bootstrap_build(const mproc_process_t *p,
                           const mproc__conn_pass_t *pass,
                           const mproc__os_fd_t *child_handles,
                           mproc__buf_t *frame);
/*
 * Decodes and checks a bootstrap payload, its arguments included, as
 * mproc__bootstrap_run() does before it acts, and returns instead of
 * running it: 0, or MPROC_ECORRUPT / MPROC_ENOMEM. For the fuzz harness.
 */
int mproc__bootstrap_check(const void *payload, size_t len);
/*
 * Decodes a bootstrap payload, becomes the process it describes and runs its
 * target. Never returns: a bad payload ends the process with exit code 1 and
 * a sentence on stderr. @forked: end with _exit (forkserver children).
 * @handles (NULL: the message's own list) are the @nhandles handed-over
 * connections where this process found them.
 */
MPROC_NORETURN void mproc__bootstrap_run(const void *payload, size_t len,
                                         int forked,
                                         const mproc__os_fd_t *handles,
                                         size_t nhandles);
/* Reads the bootstrap frame from @fd and runs it. Never returns. */
MPROC_NORETURN void mproc__bootstrap_from_fd(mproc__os_fd_t fd);
/* Runs @p's target in this (forked) process and ends it. Never returns. */
MPROC_NORETURN void mproc__bootstrap_run_forked(mproc_process_t *p);

/* ---- named objects (synchronize.c) ------------------------------------ */

/*
 * Creates a shared segment of @size bytes under a fresh random name,
 * "mproc-<16 hex digits>", written to @name (at least 23 bytes).
 */
int mproc__shm_create_named(mproc__os_shm_t **shm, char *name, size_t size);

/* ---- the forkserver (forkserver.c) ------------------------------------ */

/*
 * Asks the forkserver (started on first use) for a child that runs the
 * bootstrap frame @frame of @len bytes, handing it the @npass handles of
 * @pass (at most MPROC__OS_MAX_PASS). MPROC_ENOTSUP where the OS cannot
 * fork. The request's authenticated connection stays open as the child's
 * sentinel: the server reports the exit status through it. The child finds
 * the handles wherever they landed: the server passes their values to
 * mproc__bootstrap_run(), in @pass's order.
 */
int mproc__forkserver_child(mproc__os_child_t **child, const void *frame,
                            size_t len, const mproc__os_fd_t *pass,
                            size_t npass);
/*
 * The forkserver's main loop, run by mproc_main() in the spawned server
 * process when argv[1] is the forkserver marker. Never returns.
 */
MPROC_NORETURN void mproc__forkserver_main(int argc, char **argv);
/*
 * For the tests: start the server if needed; open an authenticated
 * connection with @key (NULL: the real key); the running server's pid and
 * socket path (0 / NULL if none runs).
 */
int mproc__forkserver_ensure(void);
int mproc__forkserver_connect(const unsigned char *key, mproc__os_fd_t *conn);
long mproc__forkserver_pid(void);
const char *mproc__forkserver_path(void);

/* ---- the resource tracker (tracker.c) -------------------------------- */

/*
 * The tracker's main loop, run by mproc_main() in the spawned tracker
 * process when argv[1] is the tracker marker. Never returns.
 */
MPROC_NORETURN void mproc__tracker_main(int argc, char **argv);

/* ---- queues (queue.c) ------------------------------------------------- */

/* For the tests: the ring of @q and the position of its oldest record. */
int mproc__queue_debug_ring(mproc_queue_t *q, unsigned char **ring,
                            size_t *capacity, uint64_t *head);

/* ---- authentication (auth.c) ------------------------------------------ */

/* Server side of the mutual HMAC-SHA256 challenge: challenge, then answer. */
int mproc__auth_server(mproc__os_fd_t fd, const unsigned char *key);
/* Client side: answer, then challenge. */
int mproc__auth_client(mproc__os_fd_t fd, const unsigned char *key);

#endif
