/*
 * Values: mproc__value_decode() on any bytes (records and references,
 * msgpack's extension types 1 and 2, included), and the pool's
 * mproc__value_decode_blocks(), which must agree with it: the same status
 * and a value of the same encoding. What decodes encodes
 * again (unless it holds a record type this program does not know), and
 * that encoding is a fixed point: decoded and encoded once more, it gives
 * the same bytes.
 */
#include <string.h>

#include "fuzz.h"

MPROC_FUZZ_INIT()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mproc_value_t *v = NULL, *again = NULL;
    mproc__buf_t a = {0}, b = {0};
    mproc_value_t *blocks = NULL;
    mproc__buf_t c = {0};
    int rc = mproc__value_decode(data, size, &v);
    int rc_blocks = mproc__value_decode_blocks(data, size, &blocks);
    FUZZ_ASSERT(rc <= 0);
    FUZZ_ASSERT(rc_blocks == rc);
    if (rc == 0) {
        /* Compared by their encodings: a NaN is not equal to itself. */
        int ra = mproc__value_encode(v, &a),
            rb = mproc__value_encode(blocks, &c);
        FUZZ_ASSERT(ra == rb);
        FUZZ_ASSERT(a.len == c.len &&
                    (a.len == 0 || memcmp(a.data, c.data, a.len) == 0));
        a.len = 0;
    }
    mproc_value_free(blocks);
    mproc__buf_free(&c);
    if (rc != 0) {
        FUZZ_ASSERT(v == NULL);
        return 0;
    }
    rc = mproc__value_encode(v, &a);
    FUZZ_ASSERT(rc == 0 || rc == MPROC_ENOTREG);
    if (rc == 0) {
        FUZZ_ASSERT(mproc__value_decode(a.data, a.len, &again) == 0);
        FUZZ_ASSERT(mproc__value_encode(again, &b) == 0);
        FUZZ_ASSERT(a.len == b.len && memcmp(a.data, b.data, a.len) == 0);
    }
    mproc_value_free(again);
    mproc_value_free(v);
    mproc__buf_free(&a);
    mproc__buf_free(&b);
    return 0;
}
