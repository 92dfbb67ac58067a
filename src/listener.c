/*
 * Listeners and clients: multiprocessing.connection.Listener and Client.
 *
 * The backend binds, accepts and connects (mproc__os_listen and friends);
 * this file parses the user's address into the contract's kinds, runs the
 * mutual HMAC handshake of auth.c on the new byte stream under a deadline,
 * and makes the stream a connection like a pipe's end (conn_internal.h),
 * so that everything a connection does (values, bytes, poll, mproc_wait)
 * works on it.
 *
 * The handshake runs before the stream becomes a connection: its reads
 * take exactly the bytes asked for, so nothing the peer sends after it is
 * read ahead, and the connection's framed reader starts at the first
 * frame.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "conn_internal.h"
#include "frame.h"

/* A listener's deadline for a client's handshake, by default (seconds). */
#define HANDSHAKE_TIMEOUT 5.0
/* A client's limit for connecting and its handshake, by default. */
#define CLIENT_TIMEOUT 20.0
#define DEFAULT_BACKLOG 128
/* The prefix of a named pipe's address, as Windows spells it. */
#define PIPE_PREFIX "\\\\.\\pipe\\"
/* The longest pipe name Windows takes, prefix included. */
#define PIPE_NAME_MAX 256

struct mproc_listener_t {
    mproc__os_listener_t *os;
    unsigned char *key; /* a copy, wiped when the listener goes */
    size_t keylen;
    double handshake_timeout; /* negative: none */
    mproc_conn_opts_t conn_opts;
};

/* ---- addresses ---------------------------------------------------------- */

static int is_digit(char c)
{
    return c >= '0' && c <= '9';
}

/* Whether the first @n bytes of @s and @t agree, ASCII case aside. */
static int same_prefix_nocase(const char *s, const char *t, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        char a = s[i], b = t[i];
        if (a >= 'A' && a <= 'Z')
            a = (char) (a - 'A' + 'a');
        if (b >= 'A' && b <= 'Z')
            b = (char) (b - 'A' + 'a');
        if (a != b)
            return 0;
    }
    return 1;
}

/*
 * Whether the @n bytes at @s are a port: 1 with *@port (which may be out
 * of range: the caller says so), or 0 if they are not all digits.
 */
static int parse_port(const char *s, size_t n, long *port)
{
    size_t i;
    *port = 0;
    if (n == 0)
        return 0;
    for (i = 0; i < n; i++) {
        if (!is_digit(s[i]))
            return 0;
        /* Anything past 6 digits is out of range already. */
        if (*port < 1000000)
            *port = *port * 10 + (s[i] - '0');
    }
    return 1;
}

/*
 * Parses @text into *@a. A TCP host goes into @host (@cap bytes), which
 * *@a then points to. Which kinds this OS has is the backend's to say.
 */
static int parse_address(const char *text, mproc__os_addr_t *a, char *host,
                         size_t cap)
{
    const char *colon;
    size_t hlen;
    long port;

    memset(a, 0, sizeof *a);
    a->text = text;
    if (*text == '\0')
        return mproc__set_error(MPROC_EBADADDR,
                                "an empty string is no address; use "
                                "host:port, a socket path or a pipe name");
    if (strncmp(text, "\\\\", 2) == 0) {
        size_t plen = sizeof PIPE_PREFIX - 1;
        /* Windows compares pipe names without regard to case. */
        if (strlen(text) <= plen || strlen(text) > PIPE_NAME_MAX ||
            !same_prefix_nocase(text, PIPE_PREFIX, plen) ||
            strchr(text + plen, '\\') != NULL)
            return mproc__set_error(MPROC_EBADADDR,
                                    "'%s' is no named pipe: a pipe's address "
                                    "is \\\\.\\pipe\\<name>, at most %d "
                                    "characters, with no '\\' in the name",
                                    text, PIPE_NAME_MAX);
        a->kind = MPROC__OS_ADDR_PIPE;
        a->host = text;
        return 0;
    }
    colon = strrchr(text, ':');
    if (strchr(text, '/') != NULL || strchr(text, '\\') != NULL) {
        a->kind = MPROC__OS_ADDR_UNIX;
        a->host = text;
        return 0;
    }
    /*
     * Without a '/', what begins with a bracket or ends in a colon means
     * TCP, and lacks the port: "[::1]" or "localhost:" is refused, not
     * taken for a socket file of that name.
     */
    if (text[0] == '[' || (colon != NULL && colon[1] == '\0')) {
        if (colon == NULL || colon[1] == '\0' ||
            !parse_port(colon + 1, strlen(colon + 1), &port))
            return mproc__set_error(MPROC_EBADADDR,
                                    "'%s' is no address: TCP is host:port "
                                    "([::1]:5000, localhost:5000), a Unix "
                                    "path of that shape has a '/' in it "
                                    "(./%s)",
                                    text, text);
    } else if (colon == NULL ||
               !parse_port(colon + 1, strlen(colon + 1), &port)) {
        a->kind = MPROC__OS_ADDR_UNIX;
        a->host = text;
        return 0;
    }
    /* host:port, with an IPv6 host in brackets. */
    hlen = (size_t) (colon - text);
    if (hlen > 0 && text[0] == '[') {
        if (hlen < 3 || text[hlen - 1] != ']')
            return mproc__set_error(MPROC_EBADADDR,
                                    "'%s' is no address: an IPv6 host is "
                                    "written in brackets, [::1]:5000",
                                    text);
        if (memchr(text + 1, ':', hlen - 2) == NULL)
            return mproc__set_error(MPROC_EBADADDR,
                                    "'%s' is no address: only an IPv6 host "
                                    "is written in brackets (127.0.0.1:5000, "
                                    "[::1]:5000)",
                                    text);
        text++;
        hlen -= 2;
    } else if (memchr(text, ':', hlen) != NULL) {
        return mproc__set_error(MPROC_EBADADDR,
                                "'%s' is no address: an IPv6 host is written "
                                "in brackets, [::1]:5000",
                                text);
    }
    if (hlen >= cap)
        return mproc__set_error(MPROC_EBADADDR,
                                "the host of '%s' is too long (at most %lu "
                                "bytes)",
                                a->text, (unsigned long) cap - 1);
    if (port > 65535)
        return mproc__set_error(MPROC_EBADADDR,
                                "port %s of '%s' is not a port (0 to 65535)",
                                colon + 1, a->text);
    memcpy(host, text, hlen);
    host[hlen] = '\0';
    a->kind = MPROC__OS_ADDR_TCP;
    a->host = host;
    a->port = (int) port;
    return 0;
}

/* ---- the handshake ------------------------------------------------------ */

/* The byte stream of a handshake, with its deadline. */
typedef struct handshake {
    mproc__os_conn_t *c;
    double deadline; /* mproc__os_monotonic() time */
    double limit;    /* the seconds it was given; negative: no deadline */
} handshake_t;

static int hs_read(void *ctx, void *buf, size_t n)
{
    handshake_t *h = ctx;
    unsigned char *p = buf;
    while (n > 0) {
        size_t got;
        int rc;
        if (h->limit >= 0) {
            /*
             * A read that is itself timed: readiness and then a read
             * would trust the read after it not to wait, which a Windows
             * pipe breaks (an empty write makes it ready, with nothing).
             */
            double left = h->deadline - mproc__os_monotonic();
            rc = left > 0 ? mproc__os_conn_read_timed(h->c, p, n, &got, left)
                          : MPROC_ETIMEDOUT;
            if (rc == MPROC_ETIMEDOUT)
                return mproc__set_error(MPROC_ETIMEDOUT,
                                        "the peer did not finish the "
                                        "handshake within %g seconds",
                                        h->limit);
        } else {
            rc = mproc__os_conn_read(h->c, p, n, &got);
        }
        if (rc != 0)
            return rc;
        if (got == 0)
            return mproc__set_error(MPROC_ECLOSED,
                                    "the peer closed the connection during "
                                    "the handshake");
        p += got;
        n -= got;
    }
    return 0;
}

/*
 * Writes need no deadline: a handshake's messages are a few dozen bytes,
 * and a side writes at most two before it reads again, which any socket
 * or pipe buffer holds however slowly the peer reads.
 */
static int hs_write(void *ctx, const void *buf, size_t n)
{
    handshake_t *h = ctx;
    return mproc__os_conn_write(h->c, buf, n);
}

static int handshake(mproc__os_conn_t *c, int server, const void *key,
                     size_t keylen, double deadline, double limit)
{
    handshake_t h;
    mproc__auth_io_t io = {hs_read, hs_write, NULL};
    h.c = c;
    h.deadline = deadline;
    h.limit = limit;
    io.ctx = &h;
    return server ? mproc__auth_serve(&io, key, keylen)
                  : mproc__auth_answer(&io, key, keylen);
}

/*
 * Puts @what before the last failure's sentence, keeping its status: "a
 * client of X failed the handshake: the peer does not know the authkey".
 */
static int explain(int rc, const char *what, const char *where)
{
    char why[384];
    snprintf(why, sizeof why, "%s", mproc_last_error());
    return mproc__set_error(rc, "%s %s: %s", what, where, why);
}

/* The key of a side: the one given, copied, or the process's own. */
static int take_key(const void *given, size_t len, unsigned char **key,
                    size_t *keylen)
{
    if (given != NULL && len == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "an authkey of 0 bytes proves nothing; give "
                                "at least one byte, or NULL for the "
                                "process's authkey");
    if (given == NULL) {
        given = mproc__auth_key();
        len = MPROC__AUTHKEY_SIZE;
    }
    *key = malloc(len);
    if (*key == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    memcpy(*key, given, len);
    *keylen = len;
    return 0;
}

static void drop_key(unsigned char *key, size_t keylen)
{
    if (key == NULL)
        return;
    mproc__wipe(key, keylen);
    free(key);
}

static int conn_opts(mproc_conn_opts_t *o, const mproc_codec_opts_t *codec)
{
    memset(o, 0, sizeof *o);
    return mproc__codec_opts_apply(&o->codec, codec);
}

/* ---- listeners ---------------------------------------------------------- */

int mproc_listener_create(mproc_listener_t **out,
                          const mproc_listener_opts_t *opts)
{
    static const mproc_listener_opts_t none;
    char host[MPROC__OS_ADDR_MAX];
    mproc__os_addr_t a;
    mproc_listener_t *l;
    int rc;

    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the listener");
    *out = NULL;
    if (opts == NULL)
        opts = &none;
    if (opts->backlog < 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a backlog of %d connections; give 0 for the "
                                "default or more",
                                opts->backlog);
    if (opts->address == NULL) {
        memset(&a, 0, sizeof a);
        a.kind = MPROC__OS_ADDR_FRESH;
        a.text = "a fresh local address";
    } else {
        rc = parse_address(opts->address, &a, host, sizeof host);
        if (rc != 0)
            return rc;
    }
    l = calloc(1, sizeof *l);
    if (l == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    l->handshake_timeout = opts->handshake_timeout == 0
                               ? HANDSHAKE_TIMEOUT
                               : opts->handshake_timeout;
    rc = conn_opts(&l->conn_opts, &opts->codec);
    if (rc == 0)
        rc = take_key(opts->authkey, opts->authkey_len, &l->key, &l->keylen);
    if (rc == 0)
        rc = mproc__os_listen(&l->os, &a,
                              opts->backlog ? opts->backlog : DEFAULT_BACKLOG);
    if (rc != 0) {
        drop_key(l->key, l->keylen);
        free(l);
        return rc;
    }
    *out = l;
    return 0;
}

const char *mproc_listener_address(const mproc_listener_t *l)
{
    return l != NULL ? mproc__os_listener_address(l->os) : NULL;
}

int mproc_listener_accept(mproc_listener_t *l, mproc_conn_t **conn,
                          double timeout)
{
    mproc__os_conn_t *c;
    int rc;

    if (conn != NULL)
        *conn = NULL;
    if (l == NULL || conn == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "accept needs a listener and a place for the "
                                "connection");
    rc = mproc__os_listener_accept(l->os, timeout, &c);
    if (rc == MPROC_ETIMEDOUT)
        return mproc__set_error(MPROC_ETIMEDOUT,
                                "no client connected to %s within %g seconds",
                                mproc__os_listener_address(l->os), timeout);
    if (rc != 0)
        return rc;
    /* The deadline starts when the client is ours, whatever it waited. */
    rc = handshake(c, 1, l->key, l->keylen,
                   mproc__os_monotonic() + l->handshake_timeout,
                   l->handshake_timeout);
    if (rc != 0) {
        mproc__os_conn_close(c);
        return explain(rc, "refused a client of",
                       mproc__os_listener_address(l->os));
    }
    return mproc__conn_new(conn, c, 1, 1, &l->conn_opts);
}

int mproc_listener_destroy(mproc_listener_t *l)
{
    if (l == NULL)
        return 0;
    mproc__os_listener_close(l->os);
    drop_key(l->key, l->keylen);
    free(l);
    return 0;
}

/* ---- clients ------------------------------------------------------------ */

int mproc_client_connect(mproc_conn_t **conn, const char *address,
                         const mproc_client_opts_t *opts)
{
    static const mproc_client_opts_t none;
    char host[MPROC__OS_ADDR_MAX];
    mproc__os_addr_t a;
    mproc_conn_opts_t o;
    mproc__os_conn_t *c;
    unsigned char *key = NULL;
    size_t keylen = 0;
    double limit, deadline;
    int rc;

    if (conn != NULL)
        *conn = NULL;
    if (conn == NULL || address == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "connect needs an address and a place for "
                                "the connection");
    if (opts == NULL)
        opts = &none;
    rc = parse_address(address, &a, host, sizeof host);
    if (rc == 0)
        rc = conn_opts(&o, &opts->codec);
    if (rc == 0)
        rc = take_key(opts->authkey, opts->authkey_len, &key, &keylen);
    if (rc != 0)
        return rc;
    limit = opts->timeout == 0 ? CLIENT_TIMEOUT : opts->timeout;
    deadline = mproc__os_monotonic() + limit;
    rc = mproc__os_connect(&a, limit, &c);
    if (rc == MPROC_ETIMEDOUT)
        rc = mproc__set_error(MPROC_ETIMEDOUT,
                              "cannot connect to %s within %g seconds", address,
                              limit);
    if (rc == 0) {
        /* The handshake has what connecting left of the time. */
        rc = handshake(c, 0, key, keylen, deadline, limit);
        if (rc != 0) {
            mproc__os_conn_close(c);
            rc = explain(rc, "the handshake with", address);
        }
    }
    drop_key(key, keylen);
    if (rc != 0)
        return rc;
    return mproc__conn_new(conn, c, 1, 1, &o);
}
