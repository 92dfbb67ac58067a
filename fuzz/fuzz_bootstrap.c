/*
 * The bootstrap message a spawned or forkserver child decodes: the
 * payload (after its frame) as mproc__bootstrap_run() checks it before it
 * acts, through mproc__bootstrap_check(), which returns instead of
 * becoming the process the message describes.
 */
#include "fuzz.h"

MPROC_FUZZ_INIT()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    int rc = mproc__bootstrap_check(data, size);
    FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT || rc == MPROC_ENOMEM);
    return 0;
}
