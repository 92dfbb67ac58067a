/*
 * A connection's framed-stream reader: the input is what the peer wrote
 * on the pipe, then it closed its end. Every message is read with recv (a
 * value), and in a second pass with recv_bytes, until the end; a
 * corrupt frame is reported and the reader resynchronises, so each call
 * must consume something and the loop must end.
 */
#include "fuzz.h"

MPROC_FUZZ_INIT()

static void read_all(const uint8_t *data, size_t size, int as_bytes)
{
    mproc_conn_t *r, *w;
    mproc_conn_opts_t o = {{0}};
    size_t i;
    o.codec.max_message = 1 << 20;
    FUZZ_ASSERT(mproc_pipe(&r, &w, 0, &o) == 0);
    FUZZ_ASSERT(size == 0 ||
                mproc__os_conn_write(mproc__conn_os(w), data, size) == 0);
    mproc_conn_close(w);
    for (i = 0; i <= size + 1; i++) {
        int rc;
        if (as_bytes) {
            void *buf = NULL;
            size_t len = 0;
            rc = mproc_conn_recv_bytes(r, &buf, &len);
            FUZZ_ASSERT(rc != 0 || len <= o.codec.max_message);
            free(buf);
        } else {
            mproc_value_t *v = NULL;
            rc = mproc_conn_recv(r, &v);
            FUZZ_ASSERT(rc == 0 || v == NULL);
            mproc_value_free(v);
        }
        if (rc == MPROC_ECLOSED)
            break;
        /* A message, a corrupt one or one of the wrong kind or size: the
         * reader must not fail in any other way. */
        FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT || rc == MPROC_ETOOBIG ||
                    rc == MPROC_ETYPE);
    }
    FUZZ_ASSERT(i <= size + 1);
    mproc_conn_close(r);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A pipe holds 64 KiB: the writer never blocks on this much. */
    if (size > 60000)
        return 0;
    read_all(data, size, 0);
    read_all(data, size, 1);
    return 0;
}
