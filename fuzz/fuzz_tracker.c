/*
 * The resource tracker's packets: "R <name>" or "U <name>", where a name
 * is accepted only by mproc__tracker_name_ok() (the prefix, then letters,
 * digits, '_', '.', '-'). An accepted name is one the tracker may unlink,
 * so acceptance is checked against that grammar, byte by byte.
 */
#include <string.h>

#include "fuzz.h"

MPROC_FUZZ_INIT()

static int grammar_ok(const uint8_t *p, size_t n)
{
    size_t i, plen = sizeof MPROC__TRACKER_PREFIX - 1;
    if (n <= plen || n > MPROC__TRACKER_NAME_MAX ||
        memcmp(p, MPROC__TRACKER_PREFIX, plen) != 0)
        return 0;
    for (i = plen; i < n; i++)
        if (!(p[i] == '_' || p[i] == '.' || p[i] == '-' ||
              (p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'z') ||
              (p[i] >= 'A' && p[i] <= 'Z')))
            return 0;
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A packet is at most 64 bytes, as the tracker reads it. */
    if (size > 64)
        return 0;
    FUZZ_ASSERT(mproc__tracker_name_ok((const char *) data, size) ==
                grammar_ok(data, size));
    return 0;
}
