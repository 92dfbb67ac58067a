/*
 * Randomness and the mutual HMAC-SHA256 challenge on a connection.
 *
 * The scheme is Python's (multiprocessing.connection, 3.12+): the server
 * sends "#CHALLENGE#{sha256}" and 40 random bytes, the client answers with
 * "{sha256}" and the HMAC of the message after "#CHALLENGE#" under the
 * shared key, the server replies "#WELCOME#" or "#FAILURE#"; then the
 * roles swap, so each side proves it knows the key. The wire format is
 * not: messages are length-prefixed with 4 bytes little-endian (Python's
 * socket Connection sends a big-endian length, its Windows PipeConnection
 * none), so neither side talks to the other's. They are capped at 256
 * bytes, so a hostile peer cannot make us allocate.
 *
 * The peer's bytes are judged in two ways. What is no handshake at all (a
 * length past the cap, a challenge without its prefix, an answer or a
 * verdict of another shape) is MPROC_ECORRUPT; an answer of the right
 * shape whose MAC is wrong, or a "#FAILURE#" verdict, is MPROC_EAUTH. The
 * server still says "#FAILURE#" to a malformed answer, so that a client of
 * another version learns why it is cut off.
 */
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "auth.h"
#include "mproc_services.h"
#include "tlock.h"

#define CHALLENGE "#CHALLENGE#"
#define DIGEST "{sha256}"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define NONCE_SIZE 40
/*
 * The shortest nonce an answer is given for (Python's
 * _MD5ONLY_MESSAGE_LENGTH): a server that offered less would make our
 * answers nearly the same every time, and replayable.
 */
#define MIN_NONCE 20
#define MAX_AUTH_MSG 256
#define PREFIX_LEN (sizeof CHALLENGE - 1)
#define DIGEST_LEN (sizeof DIGEST - 1)

void mproc__random_bytes(void *buf, size_t n)
{
    /*
     * sodium_init is idempotent and thread-safe; it only fails when the
     * system has no randomness source at all. Keys, nonces and private
     * names are made of these bytes, and a key of zeros would let anyone
     * in: the process stops rather than go on without them.
     */
    if (sodium_init() < 0) {
        fputs("mproc: the system gives no random bytes (sodium_init "
              "failed); authkeys and nonces cannot be made, and never "
              "of zeros: aborting\n",
              stderr);
        abort();
    }
    randombytes_buf(buf, n);
}

void mproc__wipe(void *buf, size_t n)
{
    sodium_memzero(buf, n);
}

static int send_msg(const mproc__auth_io_t *io, const void *data, size_t n)
{
    unsigned char buf[4 + MAX_AUTH_MSG];
    mproc__put_u32(buf, (uint32_t) n);
    memcpy(buf + 4, data, n);
    return io->write(io->ctx, buf, 4 + n);
}

static int recv_msg(const mproc__auth_io_t *io, unsigned char *buf, size_t *n)
{
    unsigned char len[4];
    uint32_t want;
    int rc = io->read(io->ctx, len, sizeof len);
    if (rc != 0)
        return rc;
    want = mproc__get_u32(len);
    if (want > MAX_AUTH_MSG)
        return mproc__set_error(MPROC_ECORRUPT,
                                "the peer's handshake message claims %lu "
                                "bytes (at most %d): it is no mproc "
                                "handshake",
                                (unsigned long) want, MAX_AUTH_MSG);
    *n = want;
    return io->read(io->ctx, buf, want);
}

/* The answer to the challenge @msg of @n bytes: "{sha256}" and its MAC. */
static void
answer_for(const unsigned char *key, size_t keylen, const unsigned char *msg,
           size_t n,
           unsigned char out[DIGEST_LEN + crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256_state st;
    memcpy(out, DIGEST, DIGEST_LEN);
    /* Any key length: HMAC hashes a long key and pads a short one. */
    crypto_auth_hmacsha256_init(&st, key, keylen);
    crypto_auth_hmacsha256_update(&st, msg, n);
    crypto_auth_hmacsha256_final(&st, out + DIGEST_LEN);
    sodium_memzero(&st, sizeof st);
}

static int deliver_challenge(const mproc__auth_io_t *io,
                             const unsigned char *key, size_t keylen)
{
    unsigned char msg[PREFIX_LEN + DIGEST_LEN + NONCE_SIZE];
    unsigned char reply[MAX_AUTH_MSG];
    unsigned char want[DIGEST_LEN + crypto_auth_hmacsha256_BYTES];
    size_t n;
    int rc;

    memcpy(msg, CHALLENGE, PREFIX_LEN);
    memcpy(msg + PREFIX_LEN, DIGEST, DIGEST_LEN);
    mproc__random_bytes(msg + PREFIX_LEN + DIGEST_LEN, NONCE_SIZE);
    rc = send_msg(io, msg, sizeof msg);
    if (rc == 0)
        rc = recv_msg(io, reply, &n);
    if (rc != 0)
        return rc;
    if (n != sizeof want || memcmp(reply, DIGEST, DIGEST_LEN) != 0) {
        send_msg(io, FAILURE, sizeof FAILURE - 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "the peer's answer to the challenge (%lu "
                                "bytes) is no {sha256} digest: it is no mproc "
                                "handshake",
                                (unsigned long) n);
    }
    /* The MAC covers the digest name too, so it cannot be downgraded. */
    answer_for(key, keylen, msg + PREFIX_LEN, sizeof msg - PREFIX_LEN, want);
    if (sodium_memcmp(reply, want, sizeof want) != 0) {
        send_msg(io, FAILURE, sizeof FAILURE - 1);
        return mproc__set_error(MPROC_EAUTH,
                                "the peer does not know the authkey");
    }
    return send_msg(io, WELCOME, sizeof WELCOME - 1);
}

static int answer_challenge(const mproc__auth_io_t *io,
                            const unsigned char *key, size_t keylen)
{
    unsigned char msg[MAX_AUTH_MSG];
    unsigned char reply[DIGEST_LEN + crypto_auth_hmacsha256_BYTES];
    size_t n;
    int rc = recv_msg(io, msg, &n);
    if (rc != 0)
        return rc;
    if (n < PREFIX_LEN + DIGEST_LEN + MIN_NONCE ||
        memcmp(msg, CHALLENGE, PREFIX_LEN) != 0 ||
        memcmp(msg + PREFIX_LEN, DIGEST, DIGEST_LEN) != 0)
        return mproc__set_error(MPROC_ECORRUPT,
                                "the peer sent no valid challenge: it is no "
                                "mproc handshake");
    answer_for(key, keylen, msg + PREFIX_LEN, n - PREFIX_LEN, reply);
    rc = send_msg(io, reply, sizeof reply);
    if (rc == 0)
        rc = recv_msg(io, msg, &n);
    if (rc != 0)
        return rc;
    if (n == sizeof FAILURE - 1 && memcmp(msg, FAILURE, n) == 0)
        return mproc__set_error(MPROC_EAUTH,
                                "authentication failed: the peer rejected "
                                "our authkey");
    if (n != sizeof WELCOME - 1 || memcmp(msg, WELCOME, n) != 0)
        return mproc__set_error(MPROC_ECORRUPT,
                                "the peer's verdict on our answer is neither "
                                "#WELCOME# nor #FAILURE#: it is no mproc "
                                "handshake");
    return 0;
}

int mproc__auth_serve(const mproc__auth_io_t *io, const void *key,
                      size_t keylen)
{
    int rc = deliver_challenge(io, key, keylen);
    return rc != 0 ? rc : answer_challenge(io, key, keylen);
}

int mproc__auth_answer(const mproc__auth_io_t *io, const void *key,
                       size_t keylen)
{
    int rc = answer_challenge(io, key, keylen);
    return rc != 0 ? rc : deliver_challenge(io, key, keylen);
}

/* ---- on a plain handle ------------------------------------------------ */

static int fd_read(void *ctx, void *buf, size_t n)
{
    return mproc__read_exact(*(mproc__os_fd_t *) ctx, buf, n);
}

static int fd_write(void *ctx, const void *buf, size_t n)
{
    return mproc__os_write_all(*(mproc__os_fd_t *) ctx, buf, n);
}

int mproc__auth_server(mproc__os_fd_t fd, const unsigned char *key)
{
    mproc__auth_io_t io = {fd_read, fd_write, NULL};
    io.ctx = &fd;
    return mproc__auth_serve(&io, key, MPROC__AUTHKEY_SIZE);
}

int mproc__auth_client(mproc__os_fd_t fd, const unsigned char *key)
{
    mproc__auth_io_t io = {fd_read, fd_write, NULL};
    io.ctx = &fd;
    return mproc__auth_answer(&io, key, MPROC__AUTHKEY_SIZE);
}

unsigned char *mproc__auth_key(void)
{
    static unsigned char key[MPROC__AUTHKEY_SIZE];
    static volatile uint32_t made;
    static mproc__spin_t making = MPROC__SPIN_INIT;
    /*
     * Random from the first use on, whoever comes first (a listener made
     * before mproc_main(), the process object, the forkserver client), and
     * once: a child's key then overwrites it, the main process's stays.
     * No fork can find the lock held: a process object copies the key
     * before its child is forked, so the key is made by then.
     */
    if (!mproc__atomic_load32(&made)) {
        mproc__spin_lock(&making);
        if (!mproc__atomic_load32(&made)) {
            mproc__random_bytes(key, sizeof key);
            mproc__atomic_store32(&made, 1);
        }
        mproc__spin_unlock(&making);
    }
    return key;
}
