/*
 * What every harness shares: the runtime is started once, before the
 * first input, as a program's main() would start it.
 */
#ifndef MPROC_FUZZ_H
#define MPROC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "mproc.h"
#include "mproc_private.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/*
 * mproc_main() first, as in any program: a harness that needs a helper
 * process (the resource tracker) re-runs this binary, and that child must
 * become the helper here instead of fuzzing.
 */
#define MPROC_FUZZ_INIT()                                                      \
    int LLVMFuzzerInitialize(int *argc, char ***argv);                         \
    int LLVMFuzzerInitialize(int *argc, char ***argv)                          \
    {                                                                          \
        if (mproc_main(*argc, *argv) != 0) {                                   \
            fprintf(stderr, "mproc_main: %s\n", mproc_last_error());           \
            abort();                                                           \
        }                                                                      \
        return 0;                                                              \
    }

/* A property that must hold whatever the input: its failure is a finding. */
#define FUZZ_ASSERT(e)                                                         \
    do {                                                                       \
        if (!(e)) {                                                            \
            fprintf(stderr, "%s:%d: %s does not hold (last error: %s)\n",      \
                    __FILE__, __LINE__, #e, mproc_last_error());               \
            abort();                                                           \
        }                                                                      \
    } while (0)

#endif
