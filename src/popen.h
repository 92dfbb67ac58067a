/*
 * This file is private to mproc.
 *
 * Starting a child under a start method (popen.c): Python's popen_fork,
 * popen_spawn_* and popen_forkserver.
 */
#ifndef MPROC_SRC_POPEN_H
#define MPROC_SRC_POPEN_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "mproc_os.h"
#include "mproc_services.h"

/*
 * What a start hands to the child, filled in by process.c from a Process
 * object, so that this module needs nothing of the object itself.
 */
typedef struct mproc__popen_job_t {
    const char *name;
    const int *identity;
    size_t identity_len;
    int daemon;
    const char *target;
    const mproc__buf_t *args;     /* the msgpack of the argument list */
    const unsigned char *authkey; /* the starting process's */
    mproc_process_t *process;     /* fork: the object the child becomes */
    /*
     * The method the child is started with, which it reports as its own
     * (Python's BaseProcess._start_method); MPROC_START_DEFAULT: the
     * program's, if it chose one.
     */
    mproc_start_method_e method;
} mproc__popen_job_t;

/*
 * Starts @job as a child under @method (not MPROC_START_DEFAULT); *@child
 * gets its OS handle. Under fork the child never returns from here: it
 * runs the target of @job->process and ends.
 */
int mproc__popen_start(const mproc__popen_job_t *job,
                       mproc_start_method_e method, mproc__os_child_t **child);

/*
 * Builds the bootstrap frame that starts @job in a spawned or forkserver
 * child into @frame. @args (NULL: @job's own) is the encoded argument
 * list; with @nhandles > 0 connections are handed over under @token, and
 * @child_handles (NULL if the child learns them from the forkserver) are
 * the @nhandles values under which the child sees them.
 */
int mproc__popen_build_bootstrap(const mproc__popen_job_t *job,
                                 const mproc__buf_t *args,
                                 const mproc__os_fd_t *child_handles,
                                 size_t nhandles, int64_t token,
                                 mproc__buf_t *frame);

#endif
