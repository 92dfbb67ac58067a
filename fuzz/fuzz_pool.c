/*
 * The pool's messages (pool_internal.h): the input is what a worker or its
 * pool could have written, read as the pool's worker reads a TASKS message
 * and as the pool reads the entries of a RESULTS message and their
 * failures. Each read succeeds, with counts that agree with what was
 * decoded, or is MPROC_ECORRUPT, and nothing is left to free. A TASKS
 * message's items are read one by one, each read or refused alone; an
 * entry's values decoded straight into places are those decoded as a
 * list, or both ways refuse them.
 */
#include <string.h>

#include "fuzz.h"

MPROC_FUZZ_INIT()

/* Whether @a and @b encode the same (equal() is false for a NaN). */
static int same(const mproc_value_t *a, const mproc_value_t *b)
{
    mproc__buf_t x = {0}, y = {0};
    int rc = mproc__value_encode(a, &x) == 0 &&
             mproc__value_encode(b, &y) == 0 && x.len == y.len &&
             memcmp(x.data, y.data, x.len) == 0;
    mproc__buf_free(&x);
    mproc__buf_free(&y);
    return rc;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mproc__wire_tasks_t t;
    mproc__wire_t r;
    uint32_t n, e, f, k;
    size_t total = 0;
    int rc = mproc__wire_read_tasks(&t, data, size);
    FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT);
    if (rc == 0) {
        for (k = 0; k < t.nunits; k++)
            total += t.counts[k];
        FUZZ_ASSERT(t.items.left == total);
        /* Each item reads, or fails alone, as the worker reads them. */
        for (k = 0; k < total; k++) {
            const mproc_value_t *item;
            rc = mproc__value_reader_next(&t.items, &item);
            FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT || rc == MPROC_ENOMEM);
            FUZZ_ASSERT((rc == 0) == (item != NULL));
        }
        mproc__wire_tasks_free(&t);
    }
    mproc__wire_start(&r, data, size);
    mproc__wire_get_u8(&r);
    n = mproc__wire_get_u32(&r);
    for (e = 0; e < n && !r.bad; e++) {
        mproc__wire_entry_t en;
        mproc_value_t *places;
        size_t count;
        int into;
        rc = mproc__wire_next_entry(&r, &en);
        FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT);
        if (rc != 0)
            break;
        /*
         * Decoded as a list and straight into places, the values are the
         * same, or both are refused (the places are holes again then).
         */
        rc = mproc__value_decode_blocks(en.bytes, en.len, &en.values);
        if (rc == 0 && mproc_value_type(en.values) != MPROC_VALUE_LIST)
            rc = MPROC_ECORRUPT;
        places = mproc__value_list_holes(en.count + 2);
        FUZZ_ASSERT(places != NULL);
        count = en.count;
        into = mproc__value_decode_into(en.bytes, en.len, places, 1, &count);
        FUZZ_ASSERT(into == 0 || into == MPROC_ECORRUPT);
        FUZZ_ASSERT((rc == 0) == (into == 0));
        FUZZ_ASSERT(mproc_value_at(places, 0) == NULL &&
                    mproc_value_at(places, en.count + 1) == NULL);
        for (k = 0; k < en.count; k++)
            FUZZ_ASSERT(into == 0 ? same(mproc_value_at(places, 1 + k),
                                         mproc_value_at(en.values, k))
                                  : mproc_value_at(places, 1 + k) == NULL);
        mproc_value_free(places);
        for (f = 0; rc == 0 && f < en.nfailures; f++) {
            uint32_t place;
            int status;
            const char *s;
            size_t len;
            if (mproc__wire_next_failure(&en, &place, &status, &s, &len) != 0)
                break;
            FUZZ_ASSERT(s != NULL);
        }
        mproc_value_free(en.values);
    }
    return 0;
}
