/*
 * Time and the machine: sleeping, the monotonic clock and the CPU count,
 * each the platform contract's.
 */
#include "mproc.h"
#include "mproc_os.h"

void mproc_sleep(double seconds)
{
    if (seconds > 0)
        mproc__os_sleep(seconds);
}

double mproc_monotonic(void)
{
    return mproc__os_monotonic();
}

int mproc_cpu_count(void)
{
    return mproc__os_cpu_count();
}
