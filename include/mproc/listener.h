/**
 * @file mproc/listener.h
 * @brief Listeners and clients, as multiprocessing.connection.Listener and
 * Client: connections between processes that are not parent and child.
 *
 * A listener binds an address and accepts connections on it; a client
 * connects to an address. What both get is an ordinary connection
 * (mproc_conn_t of mproc/connection.h): values and bytes both ways,
 * mproc_conn_poll(), mproc_wait() among other connections and processes,
 * mproc_conn_close().
 *
 * An address is a string in one of these forms:
 *
 * - `host:port`: TCP, on every OS. @c host is a name, an IPv4 address or
 *   an IPv6 one in brackets (`[::1]:5000`; brackets around anything else
 *   are MPROC_EBADADDR); an empty host (`:5000`) binds every IPv4
 *   interface. An IPv6 listener takes IPv6 clients only (IPV6_V6ONLY, on
 *   every OS), so `[::]:5000` and `:5000` are two listeners, one per
 *   family. Port 0 lets the OS choose a free port, which
 *   mproc_listener_address() then tells. A string is TCP when it has no
 *   `/` and ends in `:` and digits; a Unix path of that form is written
 *   with a `/` in it (`./name:80`). Without a `/`, a string that begins
 *   with `[` or ends in `:` (`[::1]`, `localhost:`) is a TCP address
 *   without its port: MPROC_EBADADDR, never a socket file of that name.
 * - a path (`/tmp/app.sock`, `run/app`): a Unix socket, on Unix. A
 *   listener makes a relative path absolute against the working directory
 *   at its creation, and reports and later removes that file, wherever
 *   the program has moved since.
 * - `\\.\pipe\name`: a named pipe, on Windows.
 *
 * A Unix path on Windows, or a named pipe on Unix, is MPROC_EBADADDR with
 * a sentence naming the forms that work there. A listener created without
 * an address gets a fresh private one of the local kind: a Unix socket in
 * a new 0700 directory on Unix, a new `\\.\pipe\mproc-<pid>-<random>` on
 * Windows.
 *
 * Both sides prove that they know the same authkey before the connection
 * is theirs: a mutual HMAC-SHA256 challenge and response, the scheme of
 * Python 3.12's multiprocessing.connection (deliver_challenge and
 * answer_challenge: 40 random bytes each way, the digest's name under the
 * MAC, a constant-time comparison). It is Python's scheme, not its wire
 * format: each message here has a 4-byte little-endian length before it,
 * where Python's sockets send a big-endian one and its Windows pipes none
 * (message mode), so an mproc client and a Python listener (or the
 * reverse) do not understand each other. A wrong key is MPROC_EAUTH on
 * both sides.
 * The key is the calling process's own (mproc_process_authkey(), which
 * every child inherits under every start method) unless the options name
 * one, so a parent and the children it started meet without saying
 * anything. Unlike Python, there is no listener without authentication: a
 * NULL key means the process's key, not none.
 *
 * The handshake runs inside mproc_listener_accept(), one client at a
 * time, under a deadline (the listener's handshake_timeout, 5 seconds by
 * default). A client that sends garbage, stops halfway or knows the wrong
 * key costs only its own connection: accept returns the failure and the
 * listener goes on serving. A client that says nothing, or drips its
 * bytes, holds up the clients behind it for at most that deadline.
 *
 * Accepted and connected ends reach other processes as any connection
 * does (mproc_value_conn()), except a TCP connection on Windows:
 * MPROC_ENOTSUP there. A socket moves between Windows processes only by
 * WSADuplicateSocketW, which the sending process calls for a receiver
 * named in advance, and a connection's reference is made before it is
 * known which process will take it.
 *
 * @defgroup listener Listeners and clients
 * @{
 */
#ifndef MPROC_LISTENER_H
#define MPROC_LISTENER_H

#include <stddef.h>

#include "mproc/codec.h"
#include "mproc/connection.h"
#include "mproc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A listener, as multiprocessing.connection.Listener. Opaque. */
typedef struct mproc_listener_t mproc_listener_t;

/** Options of mproc_listener_create(); zero means default. */
typedef struct mproc_listener_opts_t {
    /**
     * The address to bind (the forms are above), or NULL for a fresh
     * private local one.
     */
    const char *address;
    /**
     * The key clients must prove they know, @c authkey_len bytes (any
     * length from 1), copied; NULL: the calling process's authkey
     * (mproc_process_authkey()), as it is at the creation.
     */
    const void *authkey;
    /** The length of @c authkey; ignored when it is NULL. */
    size_t authkey_len;
    /**
     * How many connections may wait to be accepted (the listen() backlog
     * of a socket); 0: the default, 128. Named pipes have no backlog:
     * clients that find every instance taken wait in
     * mproc_client_connect() until their timeout.
     */
    int backlog;
    /**
     * How long, in seconds, a client that has connected may take to
     * finish the handshake; 0: the default, 5 seconds; negative: no
     * deadline (a silent client then holds accept up for ever).
     */
    double handshake_timeout;
    /** The message options of the connections accepted. */
    mproc_codec_opts_t codec;
} mproc_listener_opts_t;

/**
 * Creates a listener bound to an address.
 * @param l receives the listener.
 * @param opts the address, key and limits, or NULL for a fresh private
 * local address and the process's authkey.
 * @return 0; MPROC_EADDRINUSE if another socket holds the port, the Unix
 * path exists already (a socket a dead listener left behind too: remove
 * it first) or another listener serves the pipe name; MPROC_EBADADDR for
 * an address of a form this OS has not (a Unix path on Windows, a pipe on
 * Unix), a malformed one (a port past 65535, no port after `[...]` or
 * `host:`, an IPv4 host in brackets), a Unix path too long for a socket
 * (once made absolute) or in a directory that does not exist, or a host
 * that is not an address of this machine; MPROC_ENOTFOUND for a host name
 * that does not resolve; MPROC_EINVAL for a NULL @p l, an authkey of
 * length 0, a negative backlog or bad codec options; MPROC_EOS;
 * MPROC_ENOMEM.
 */
MPROC_API int mproc_listener_create(mproc_listener_t **l,
                                    const mproc_listener_opts_t *opts);

/**
 * The address @p l is bound to, for clients to connect to: the Unix path
 * (absolute), the pipe's name, or `host:port` with the host numeric (a
 * link-local IPv6 one with its scope as a number, `[fe80::1%2]:41234`) and
 * the port the OS chose if it was asked for port 0 (`127.0.0.1:41234`,
 * `[::1]:41234`). A listener bound to every interface (`:0`, `[::]:0`)
 * reports the wildcard as bound, as Python's Listener.address does:
 * `0.0.0.0:41234` or `[::]:41234`, which names no host a client can reach
 * on every OS; a client on this machine connects to the loopback with
 * that port (`127.0.0.1:41234`, `[::1]:41234`). It belongs to @p l and
 * lives as long as it does. Any thread may ask, at any time.
 */
MPROC_API const char *mproc_listener_address(const mproc_listener_t *l);

/**
 * Accepts one client and authenticates it, as Listener.accept().
 *
 * Waits at most @p timeout seconds for a client to connect (0 polls;
 * negative waits for ever), then runs the handshake with it under the
 * listener's handshake deadline. A client that fails costs only its own
 * connection, which is closed: the listener stays as it was, and the
 * next call serves the next client.
 *
 * One thread at a time may accept on a listener; other threads may use the
 * connections it gave.
 * @param l the listener.
 * @param conn receives the connection (close it with mproc_conn_close()).
 * @param timeout seconds to wait for a client to connect.
 * @return 0; MPROC_ETIMEDOUT if no client came in time, or if one came but
 * did not finish the handshake by the deadline; MPROC_EAUTH if the client
 * does not know the key, or does not know ours; MPROC_ECORRUPT if what it
 * sent is no handshake; MPROC_ECLOSED if it went away during the
 * handshake; MPROC_EINVAL for a NULL argument; MPROC_EOS; MPROC_ENOMEM.
 * Every failure leaves *@p conn NULL.
 */
MPROC_API int mproc_listener_accept(mproc_listener_t *l, mproc_conn_t **conn,
                                    double timeout);

/**
 * Stops listening and frees @p l; the connections it accepted stay open.
 * A Unix socket file the listener bound (and the private directory of a
 * fresh address) is removed, in the process that created the listener
 * only: a fork child that inherited it leaves it to its parent. Not while
 * another thread accepts on it. NULL is ignored.
 * @return 0.
 */
MPROC_API int mproc_listener_destroy(mproc_listener_t *l);

/** Options of mproc_client_connect(); zero means default. */
typedef struct mproc_client_opts_t {
    /**
     * The key to prove, @c authkey_len bytes (any length from 1); NULL:
     * the calling process's authkey (mproc_process_authkey()).
     */
    const void *authkey;
    /** The length of @c authkey; ignored when it is NULL. */
    size_t authkey_len;
    /**
     * How long, in seconds, connecting and the handshake may take all
     * told; 0: the default, 20 seconds (Python's CONNECTION_TIMEOUT);
     * negative: no limit.
     */
    double timeout;
    /** The message options of the connection. */
    mproc_codec_opts_t codec;
} mproc_client_opts_t;

/**
 * Connects to the listener at @p address and authenticates, as
 * multiprocessing.connection.Client().
 * @param conn receives the connection (close it with mproc_conn_close()).
 * @param address a listener's address (the forms are above), e.g. what
 * mproc_listener_address() gave.
 * @param opts the key and timeout, or NULL for the process's authkey and
 * 20 seconds.
 * @return 0; MPROC_ENOTFOUND if nobody listens at @p address (no such
 * Unix socket or pipe, a TCP connection refused) or its host name does not
 * resolve; MPROC_EAUTH if the listener does not know our key, or we do
 * not know its key; MPROC_ECORRUPT if the listener's part of the
 * handshake is no handshake; MPROC_ECLOSED if it closed the connection
 * during the handshake; MPROC_ETIMEDOUT if connecting and the handshake
 * took longer than the timeout; MPROC_EBADADDR for an address of a form
 * this OS has not, a malformed one, or a Unix path too long for a socket;
 * MPROC_EINVAL for a NULL argument or an authkey of
 * length 0; MPROC_EOS; MPROC_ENOMEM. Every failure leaves *@p conn NULL.
 */
MPROC_API int mproc_client_connect(mproc_conn_t **conn, const char *address,
                                   const mproc_client_opts_t *opts);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
