/*
 * Randomness and the mutual HMAC-SHA256 challenge on a connection.
 *
 * The protocol is Python's (multiprocessing.connection, 3.12+): the server
 * sends "#CHALLENGE#{sha256}" and 40 random bytes, the client answers with
 * "{sha256}" and the HMAC of the whole message under the shared key, the
 * server replies "#WELCOME#" or "#FAILURE#"; then the roles swap, so each
 * side proves it knows the key. Messages are length-prefixed (4 bytes, LE)
 * and capped at 256 bytes, so a hostile peer cannot make us allocate.
 */
#include <sodium.h>
#include <string.h>

#include "auth.h"
#include "mproc_services.h"

#define CHALLENGE "#CHALLENGE#"
#define DIGEST "{sha256}"
#define WELCOME "#WELCOME#"
#define FAILURE "#FAILURE#"
#define NONCE_SIZE 40
#define MAX_AUTH_MSG 256

void mproc__random_bytes(void *buf, size_t n)
{
    /*
     * sodium_init is idempotent and thread-safe; it only fails when the
     * system has no randomness source at all, which leaves nothing to do.
     */
    if (sodium_init() < 0) {
        memset(buf, 0, n);
        return;
    }
    randombytes_buf(buf, n);
}

static int send_msg(mproc__os_fd_t fd, const void *data, size_t n)
{
    unsigned char buf[4 + MAX_AUTH_MSG];
    mproc__put_u32(buf, (uint32_t) n);
    memcpy(buf + 4, data, n);
    return mproc__os_write_all(fd, buf, 4 + n);
}

static int recv_msg(mproc__os_fd_t fd, unsigned char *buf, size_t *n)
{
    unsigned char len[4];
    uint32_t want;
    int rc = mproc__read_exact(fd, len, sizeof len);
    if (rc != 0)
        return rc;
    want = mproc__get_u32(len);
    if (want > MAX_AUTH_MSG)
        return mproc__set_error(MPROC_EAUTH,
                                "authentication message too long (%u bytes)",
                                (unsigned) want);
    *n = want;
    return mproc__read_exact(fd, buf, want);
}

static void mac(const unsigned char *key, const unsigned char *msg, size_t n,
                unsigned char out[crypto_auth_hmacsha256_BYTES])
{
    crypto_auth_hmacsha256(out, msg, n, key);
}

static int deliver_challenge(mproc__os_fd_t fd, const unsigned char *key)
{
    unsigned char msg[sizeof CHALLENGE - 1 + sizeof DIGEST - 1 + NONCE_SIZE];
    unsigned char reply[MAX_AUTH_MSG];
    unsigned char want[sizeof DIGEST - 1 + crypto_auth_hmacsha256_BYTES];
    const size_t prefix = sizeof CHALLENGE - 1;
    size_t n;
    int rc;

    memcpy(msg, CHALLENGE, prefix);
    memcpy(msg + prefix, DIGEST, sizeof DIGEST - 1);
    mproc__random_bytes(msg + prefix + sizeof DIGEST - 1, NONCE_SIZE);
    rc = send_msg(fd, msg, sizeof msg);
    if (rc == 0)
        rc = recv_msg(fd, reply, &n);
    if (rc != 0)
        return rc;
    /* The MAC covers the digest name too, so it cannot be downgraded. */
    memcpy(want, DIGEST, sizeof DIGEST - 1);
    mac(key, msg + prefix, sizeof msg - prefix, want + sizeof DIGEST - 1);
    if (n != sizeof want || sodium_memcmp(reply, want, sizeof want) != 0) {
        send_msg(fd, FAILURE, sizeof FAILURE - 1);
        return mproc__set_error(MPROC_EAUTH,
                                "the peer does not know the authkey");
    }
    return send_msg(fd, WELCOME, sizeof WELCOME - 1);
}

static int answer_challenge(mproc__os_fd_t fd, const unsigned char *key)
{
    unsigned char msg[MAX_AUTH_MSG];
    unsigned char reply[sizeof DIGEST - 1 + crypto_auth_hmacsha256_BYTES];
    const size_t prefix = sizeof CHALLENGE - 1;
    size_t n;
    int rc = recv_msg(fd, msg, &n);
    if (rc != 0)
        return rc;
    if (n < prefix + sizeof DIGEST - 1 || memcmp(msg, CHALLENGE, prefix) != 0 ||
        memcmp(msg + prefix, DIGEST, sizeof DIGEST - 1) != 0)
        return mproc__set_error(MPROC_EAUTH,
                                "the peer sent no valid challenge");
    memcpy(reply, DIGEST, sizeof DIGEST - 1);
    mac(key, msg + prefix, n - prefix, reply + sizeof DIGEST - 1);
    rc = send_msg(fd, reply, sizeof reply);
    if (rc == 0)
        rc = recv_msg(fd, msg, &n);
    if (rc != 0)
        return rc;
    if (n != sizeof WELCOME - 1 || memcmp(msg, WELCOME, n) != 0)
        return mproc__set_error(MPROC_EAUTH,
                                "authentication failed: the peer rejected "
                                "our authkey");
    return 0;
}

int mproc__auth_server(mproc__os_fd_t fd, const unsigned char *key)
{
    int rc = deliver_challenge(fd, key);
    return rc != 0 ? rc : answer_challenge(fd, key);
}

int mproc__auth_client(mproc__os_fd_t fd, const unsigned char *key)
{
    int rc = answer_challenge(fd, key);
    return rc != 0 ? rc : deliver_challenge(fd, key);
}

unsigned char *mproc__auth_key(void)
{
    static unsigned char key[MPROC__AUTHKEY_SIZE];
    return key;
}
