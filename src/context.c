/*
 * The program's start method: which are offered here, which one the
 * program chose, and their names (Python's context.py, without the
 * context objects: a start method is an option of the objects that need
 * one).
 */
#include "context.h"
#include "mproc_services.h"

static mproc_start_method_e start_method;
static int start_method_set;

const char *mproc_start_method_name(mproc_start_method_e method)
{
    switch (method) {
    case MPROC_START_SPAWN:
        return "spawn";
    case MPROC_START_FORK:
        return "fork";
    case MPROC_START_FORKSERVER:
        return "forkserver";
    default:
        return "default";
    }
}

int mproc_start_method_available(mproc_start_method_e method)
{
    switch (method) {
    case MPROC_START_DEFAULT:
    case MPROC_START_SPAWN:
        return 1;
    case MPROC_START_FORK:
    case MPROC_START_FORKSERVER:
        return mproc__os_can_fork();
    }
    return 0;
}

int mproc__check_method(mproc_start_method_e method)
{
    if ((int) method < MPROC_START_DEFAULT ||
        (int) method > MPROC_START_FORKSERVER)
        return mproc__set_error(MPROC_EINVAL, "unknown start method %d",
                                (int) method);
    if (!mproc_start_method_available(method))
        return mproc__set_error(MPROC_ENOTSUP,
                                "the %s start method is not available on "
                                "this platform; use spawn",
                                mproc_start_method_name(method));
    return 0;
}

int mproc__context_explicit(mproc_start_method_e *method)
{
    if (start_method_set)
        *method = start_method;
    return start_method_set;
}

int mproc_set_start_method(mproc_start_method_e method, int force)
{
    int rc;
    if (method == MPROC_START_DEFAULT)
        return mproc__set_error(MPROC_EINVAL,
                                "set_start_method needs a concrete method");
    rc = mproc__check_method(method);
    if (rc != 0)
        return rc;
    if (start_method_set && !force)
        return mproc__set_error(MPROC_ESTATE,
                                "the start method has already been set");
    start_method = method;
    start_method_set = 1;
    return 0;
}

mproc_start_method_e mproc_get_start_method(void)
{
    return start_method_set ? start_method : MPROC_START_SPAWN;
}

/* mproc_main() ran. */
static int runtime_up;

int mproc__runtime_up(void)
{
    return runtime_up;
}

void mproc__runtime_set_up(void)
{
    runtime_up = 1;
}

int mproc__runtime_check(const char *what)
{
    if (runtime_up)
        return 0;
    /*
     * Every process the runtime starts runs main() from its top: a tracker
     * or child started from here would do the same again, without end.
     */
    return mproc__set_error(MPROC_ESTATE,
                            "cannot %s before the runtime is up: call "
                            "mproc_main() first",
                            what);
}
