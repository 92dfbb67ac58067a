/*
 * Frames and inflate: a frame as frame.c opens it (header checked, then
 * checksum and inflate), the same bytes read from a pipe by
 * mproc__frame_read() as the bootstrap and the forkserver read theirs, and
 * the input as a payload that must survive its own frame (deflated when it
 * is compressible).
 */
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

MPROC_FUZZ_INIT()

#define MAX_PAYLOAD ((size_t) 1 << 20)

static void open_frame(const uint8_t *data, size_t size)
{
    mproc__buf_t out = {0};
    size_t body;
    if (size < MPROC__FRAME_HEADER_SIZE)
        return;
    if (mproc__frame_check_header(data, MAX_PAYLOAD + 4, &body) == 0 &&
        body <= size - MPROC__FRAME_HEADER_SIZE) {
        int rc = mproc__frame_open_body(data, data + MPROC__FRAME_HEADER_SIZE,
                                        body, MAX_PAYLOAD, &out);
        FUZZ_ASSERT(rc <= 0);
        FUZZ_ASSERT(rc != 0 || out.len <= MAX_PAYLOAD);
    }
    mproc__buf_free(&out);
}

/* The frames of a stream, one after the other, until the first error. */
static void read_stream(const uint8_t *data, size_t size)
{
    int fds[2];
    size_t i;
    /* A pipe holds 64 KiB: the writer never blocks on this much. */
    if (size > 60000 || pipe(fds) != 0)
        return;
    FUZZ_ASSERT(write(fds[1], data, size) == (ssize_t) size);
    close(fds[1]);
    for (i = 0; i <= size; i++) {
        mproc__buf_t out = {0};
        int rc = mproc__frame_read(fds[0], MAX_PAYLOAD, &out);
        mproc__buf_free(&out);
        if (rc != 0)
            break;
    }
    close(fds[0]);
}

/* Whatever the payload, its frame opens to it again. */
static void round_trip(const uint8_t *data, size_t size)
{
    mproc__frame_opts_t o = {1, 1};
    mproc__buf_t frame = {0}, out = {0};
    FUZZ_ASSERT(mproc__frame_encode(data, size, &o, &frame) == 0);
    FUZZ_ASSERT(frame.len >= MPROC__FRAME_HEADER_SIZE);
    FUZZ_ASSERT(mproc__frame_open_body(
                    frame.data, frame.data + MPROC__FRAME_HEADER_SIZE,
                    frame.len - MPROC__FRAME_HEADER_SIZE, size, &out) == 0);
    FUZZ_ASSERT(out.len == size);
    FUZZ_ASSERT(size == 0 || memcmp(out.data, data, size) == 0);
    mproc__buf_free(&frame);
    mproc__buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    open_frame(data, size);
    read_stream(data, size);
    round_trip(data, size);
    return 0;
}
