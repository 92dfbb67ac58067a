/**
 * @file mproc/connection.h
 * @brief Pipes and connections, as multiprocessing.Pipe and
 * multiprocessing.connection.wait.
 *
 * A connection carries messages: values (mproc_conn_send/recv) or byte
 * strings (send_bytes/recv_bytes), each in a checksummed frame, deflated
 * when that pays. A frame that arrives corrupt or truncated is reported
 * with MPROC_ECORRUPT and skipped: the next good message is delivered by
 * the next receive. A closed or dead peer is MPROC_ECLOSED, never a hang.
 *
 * A connection reaches another process as its reference
 * (mproc_value_conn()), taken there with mproc_value_to_conn(), as in
 * Python: in the arguments of a child's start, under every start method,
 * or put on a queue or sent through another connection to a process that
 * is already running. A reference that travels by queue or connection is
 * an offer of the sender's for one taker: the sender copies the
 * connection's handles when the message is encoded, so it may close its
 * own end right after the put or send, and the first process to take the
 * reference gets them (Unix: from the sender's sharer thread, over a
 * private Unix socket, after both prove they know the authkey; Windows:
 * pulled out of the sender by its pid). The sender must still run when
 * the reference is taken; a reference already taken by another process,
 * or whose sender has ended, is MPROC_ENOTFOUND with a sentence. On
 * Windows a second taker cannot always be told from the first: take a
 * travelling reference once.
 *
 * @defgroup connection Connections
 * @{
 */
#ifndef MPROC_CONNECTION_H
#define MPROC_CONNECTION_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/codec.h"
#include "mproc/export.h"
#include "mproc/process.h"
#include "mproc/runtime.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** One end of a pipe. */
typedef struct mproc_conn_t mproc_conn_t;

/** Options of mproc_pipe(); zero means default. */
typedef struct mproc_conn_opts_t {
    /** The messages' size limit and deflating. */
    mproc_codec_opts_t codec;
} mproc_conn_opts_t;

/**
 * Creates a pipe, as multiprocessing.Pipe(duplex).
 * @param a receives (and, if @p duplex, sends too)
 * @param b sends (and, if @p duplex, receives too)
 * @param duplex nonzero: both ends send and receive; 0: @p a only
 * receives and @p b only sends.
 * @param opts the codec options of both ends, or NULL for the defaults.
 * @return 0; MPROC_EINVAL for a codec level outside 0..9; MPROC_EOS;
 * MPROC_ENOMEM.
 */
MPROC_API int mproc_pipe(mproc_conn_t **a, mproc_conn_t **b, int duplex,
                         const mproc_conn_opts_t *opts);

/**
 * Sends a value.
 * @return 0; MPROC_ETOOBIG (nothing is sent); MPROC_ECLOSED; MPROC_ENOTREG
 * for a record whose type is not registered; MPROC_ESTATE if this end
 * cannot send; MPROC_EINVAL for a value nested deeper than
 * MPROC_VALUE_MAX_DEPTH (nothing is sent).
 */
MPROC_API int mproc_conn_send(mproc_conn_t *c, const mproc_value_t *v);
/**
 * Receives a value, waiting for it.
 * @return 0 with *@p v set (the caller frees it); MPROC_ECLOSED when the
 * peer closed and nothing is left; MPROC_ECORRUPT for a damaged frame;
 * MPROC_ETOOBIG; MPROC_ESTATE if this end cannot receive.
 *
 * MPROC_ECORRUPT is the return rule's one stated exception (see
 * mproc/error.h): the call fails and yet consumes the damaged frame, so
 * the next receive delivers the next good message. What was consumed was
 * never a valid message.
 */
MPROC_API int mproc_conn_recv(mproc_conn_t *c, mproc_value_t **v);
/**
 * Sends @p len raw bytes as one message. mproc_conn_recv() decodes it as a
 * value (Python's recv is loads(recv_bytes())), so the bytes of a value
 * that mproc_conn_recv_bytes() gave can be relayed as they are.
 * @return as mproc_conn_send(); @p len counts against the maximum message
 * size as it is (the framing does not).
 */
MPROC_API int mproc_conn_send_bytes(mproc_conn_t *c, const void *buf,
                                    size_t len);
/**
 * Receives one message of raw bytes into a malloc'ed buffer (*@p buf, the
 * caller frees it) of *@p len bytes. Errors as mproc_conn_recv().
 */
MPROC_API int mproc_conn_recv_bytes(mproc_conn_t *c, void **buf, size_t *len);
/**
 * Receives one message of raw bytes into the caller's buffer @p buf of
 * @p cap bytes (Python's recv_bytes_into); *@p len gets its length.
 * @return 0; MPROC_ETOOSHORT if the message is longer than @p cap: *@p len
 * gets the size it needs, and the message stays to be received (nothing is
 * written to @p buf); MPROC_EINVAL; otherwise as mproc_conn_recv().
 */
MPROC_API int mproc_conn_recv_bytes_into(mproc_conn_t *c, void *buf, size_t cap,
                                         size_t *len);
/**
 * The OS handle of @p c (Python's fileno()), to wait on with the OS's own
 * calls or an event loop: a file descriptor on Unix, a HANDLE on Windows
 * (the reading one, where a connection has two). It stays @p c's: do not
 * close it, and do not read or write it while @p c is in use.
 * @return 0 with *@p handle set; MPROC_EINVAL.
 */
MPROC_API int mproc_conn_fileno(const mproc_conn_t *c, intptr_t *handle);
/**
 * Whether a message (or end of file) is ready to be received, waiting at
 * most @p timeout seconds.
 * @return 0 when ready; MPROC_ETIMEDOUT if nothing arrived in time; another
 * negative status.
 */
MPROC_API int mproc_conn_poll(mproc_conn_t *c, double timeout);
/** Closes the connection and frees it. */
MPROC_API void mproc_conn_close(mproc_conn_t *c);
/**
 * A reference to @p c, as a start argument for a child or a message for a
 * queue or another connection: a new value, or NULL with
 * mproc_last_error() set (a NULL connection; MPROC_ESTATE if @p c holds
 * received bytes not yet read, which the receiver would never see; out of
 * memory; MPROC_ENOTSUP for a TCP connection of mproc/listener.h on
 * Windows, whose socket cannot be handed on). For a start, make it before
 * the process is created; either
 * way, close this process's copy after the start, put or send if it is not
 * needed here.
 */
MPROC_API mproc_value_t *mproc_value_conn(const mproc_conn_t *c);
/**
 * The connection that reference @p v refers to, in the child it was given
 * to as a start argument, or in a process that got it from a queue or
 * another connection. It is opened once per process: a second call with
 * an equal reference gives the same connection. The runtime owns it and
 * closes it at the process's normal exit: do not close it.
 * @return 0; MPROC_ETYPE if @p v is not a connection reference;
 * MPROC_ENOTSUP if it is a start argument of another process, or this
 * process's own reference that never travelled; MPROC_ENOTFOUND if it
 * travelled and another process took it already, or its sender has ended.
 */
MPROC_API int mproc_value_to_conn(const mproc_value_t *v, mproc_conn_t **out);
/**
 * mproc_value_conn() as a status, kept for one release.
 * @return 0; MPROC_EINVAL; MPROC_ESTATE; MPROC_ENOTSUP; MPROC_ENOMEM.
 */
MPROC_API int mproc_conn_export(const mproc_conn_t *c, mproc_value_t **ref);
/**
 * Opens a connection from a reference, as mproc_value_to_conn() but not
 * once per process, kept for one release: the caller owns it and closes
 * it. Each reference opens once (with this or mproc_value_to_conn()).
 * @return 0; MPROC_ETYPE; MPROC_EINVAL if a start argument was opened
 * already; MPROC_ENOTSUP as for mproc_value_to_conn(); MPROC_ENOTFOUND if
 * a reference that travelled was taken already or its sender has ended.
 */
MPROC_API int mproc_conn_import(mproc_conn_t **c, const mproc_value_t *ref);

/** One thing to wait for in mproc_wait(). */
typedef struct mproc_waitable_t {
    mproc_conn_t *conn;       /**< a connection (readable), or NULL */
    mproc_process_t *process; /**< a started child (ended), or NULL */
    int ready;                /**< set by mproc_wait() */
} mproc_waitable_t;

/**
 * Waits until at least one of @p n connections is readable or process has
 * ended, at most @p timeout seconds, as multiprocessing.connection.wait().
 * Any number of items works on every OS (past Windows' 64 handles too).
 * @return the number of ready items (> 0), each marked in its `ready`
 * field; MPROC_ETIMEDOUT if none became ready in time; MPROC_EINVAL for
 * no items at all (@p n 0), whatever the timeout, since nothing could ever
 * become ready; another negative status.
 */
MPROC_API int mproc_wait(mproc_waitable_t *items, size_t n, double timeout);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
