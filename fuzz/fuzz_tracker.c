/*
 * The resource tracker's packets: "R <name>" or "U <name>", where a name
 * is accepted only by mproc__tracker_name_ok() (the prefix, then letters,
 * digits, '_', '.', '-'), or is the path of a socket that
 * mproc__tracker_socket_ok() takes (absolute, no newline, ending in
 * "/<such a name>/sock"). An accepted entry is one the tracker may
 * remove, so acceptance is checked against that grammar, byte by byte.
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

/* A socket's path: "/", anything but NUL and newline, "/<name>/sock". */
static int socket_grammar_ok(const uint8_t *p, size_t n)
{
    size_t i, start;
    if (n > MPROC__TRACKER_PATH_MAX || n < 6 || p[0] != '/' ||
        memcmp(p + n - 5, "/sock", 5) != 0)
        return 0;
    for (i = 0; i < n; i++)
        if (p[i] == '\0' || p[i] == '\n')
            return 0;
    for (start = n - 5; start > 0 && p[start - 1] != '/'; start--)
        ;
    return start > 0 && grammar_ok(p + start, n - 5 - start);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    /* A packet's entry is at most a path's length, as the tracker reads it. */
    if (size > MPROC__TRACKER_PATH_MAX + 8)
        return 0;
    FUZZ_ASSERT(mproc__tracker_name_ok((const char *) data, size) ==
                grammar_ok(data, size));
    FUZZ_ASSERT(mproc__tracker_socket_ok((const char *) data, size) ==
                socket_grammar_ok(data, size));
    FUZZ_ASSERT(mproc__tracker_entry_ok((const char *) data, size) ==
                (size > 0 && data[0] == '/' ? socket_grammar_ok(data, size)
                                            : grammar_ok(data, size)));
    return 0;
}
