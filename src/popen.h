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
 * Starts the process object @p as a child under @method (not
 * MPROC_START_DEFAULT); *@child gets its OS handle. Under fork the child
 * never returns from here: it runs @p's target and ends.
 */
int mproc__popen_start(mproc_process_t *p, mproc_start_method_e method,
                       mproc__os_child_t **child);

/*
 * Builds the bootstrap frame that starts @p in a spawned or forkserver
 * child into @frame. @args (NULL: @p's own) is the encoded argument list;
 * with @nhandles > 0 connections are handed over under @token, and
 * @child_handles (NULL if the child learns them from the forkserver) are
 * the @nhandles values under which the child sees them.
 */
int mproc__popen_build_bootstrap(const mproc_process_t *p,
                                 const mproc__buf_t *args,
                                 const mproc__os_fd_t *child_handles,
                                 size_t nhandles, int64_t token,
                                 mproc__buf_t *frame);

#endif
