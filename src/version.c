/* The library's version, from the one source CMake generates. */
#include "mproc.h"

const char *mproc_version(void)
{
    return MPROC_VERSION_STRING;
}
