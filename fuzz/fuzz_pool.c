/*
 * The pool's messages (pool_internal.h): the input is what a worker or its
 * pool could have written, read as the pool's worker reads a TASKS message
 * and as the pool reads the entries of a RESULTS message and their
 * failures. Each read succeeds, with counts that agree with what was
 * decoded, or is MPROC_ECORRUPT, and nothing is left to free.
 */
#include "fuzz.h"

MPROC_FUZZ_INIT()

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
        FUZZ_ASSERT(mproc_value_type(t.items) == MPROC_VALUE_LIST);
        FUZZ_ASSERT(mproc_value_len(t.items) == total);
        mproc__wire_tasks_free(&t);
    }
    mproc__wire_start(&r, data, size);
    mproc__wire_get_u8(&r);
    n = mproc__wire_get_u32(&r);
    for (e = 0; e < n && !r.bad; e++) {
        mproc__wire_entry_t en;
        rc = mproc__wire_next_entry(&r, &en);
        FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT);
        if (rc != 0)
            break;
        FUZZ_ASSERT(mproc_value_type(en.values) == MPROC_VALUE_LIST);
        for (f = 0; f < en.nfailures; f++) {
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
