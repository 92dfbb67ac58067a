/*
 * The authentication handshake (auth.c), on both sides: the input is what
 * the peer sends, then it closes. Whatever it is, the handshake ends with
 * a verdict (a peer that cannot know the key never passes), reads only
 * within the input, and writes only its own short messages.
 */
#include <string.h>

#include "auth.h"
#include "fuzz.h"

MPROC_FUZZ_INIT()

typedef struct peer {
    const uint8_t *data;
    size_t size, at;
} peer_t;

static int peer_read(void *ctx, void *buf, size_t n)
{
    peer_t *p = ctx;
    if (n > p->size - p->at)
        return mproc__set_error(MPROC_ECLOSED, "the peer closed");
    memcpy(buf, p->data + p->at, n);
    p->at += n;
    return 0;
}

static int peer_write(void *ctx, const void *buf, size_t n)
{
    (void) ctx, (void) buf;
    /* A length prefix and at most one capped message. */
    FUZZ_ASSERT(n >= 4 && n <= 4 + 256);
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const char key[] = "the fuzzer does not know this key";
    int side;
    for (side = 0; side < 2; side++) {
        peer_t p = {data, size, 0};
        mproc__auth_io_t io = {peer_read, peer_write, &p};
        int rc = side == 0 ? mproc__auth_serve(&io, key, sizeof key - 1)
                           : mproc__auth_answer(&io, key, sizeof key - 1);
        FUZZ_ASSERT(rc == MPROC_EAUTH || rc == MPROC_ECORRUPT ||
                    rc == MPROC_ECLOSED);
        FUZZ_ASSERT(p.at <= size);
    }
    return 0;
}
