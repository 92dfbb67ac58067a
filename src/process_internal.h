/*
 * This file is private to mproc.
 *
 * Process objects (process.c) as the rest of the core sees them: the current
 * process, the children list, and what the start paths, the bootstrap and
 * mproc_wait need of an object. The object's layout is process.c's alone.
 */
#ifndef MPROC_SRC_PROCESS_INTERNAL_H
#define MPROC_SRC_PROCESS_INTERNAL_H

#include <stddef.h>

#include "mproc.h"
#include "mproc_os.h"
#include "auth.h"
#include "mproc_services.h"

/* ---- the current process ---------------------------------------------- */

/* Makes this process the main process (once; later calls return 0). */
int mproc__process_init_main(void);
/*
 * In a spawned or forkserver child: this process is @name with @identity
 * (@n numbers), started by @parent_pid, holding the authkey @authkey
 * (MPROC__AUTHKEY_SIZE bytes).
 */
int mproc__process_become(const char *name, int daemon, const int *identity,
                          size_t n, long parent_pid,
                          const unsigned char *authkey);
/* In a spawned or forkserver child: the name of the process that started it. */
void mproc__process_set_parent_name(const char *name);
/*
 * In a fork child: the child's copy of its own object @p becomes the
 * current process (no allocation, so fewer pages are copied), and the
 * parent's children are forgotten.
 */
void mproc__process_after_fork(mproc_process_t *p);

/* ---- what a fork child runs ------------------------------------------- */

/* The pid of the process that created @p (0 for a current process). */
long mproc__process_creator(const mproc_process_t *p);
mproc_target_fn mproc__process_fn(const mproc_process_t *p);
/* The msgpack of @p's argument list. */
const mproc__buf_t *mproc__process_args(const mproc_process_t *p);

/* ---- children ---------------------------------------------------------- */

/* The started children not yet destroyed, newest first: NULL gives the
 * first, and the last gives NULL. */
mproc_process_t *mproc__process_next_child(mproc_process_t *after);
/*
 * 0 if @p is a started child of this process; else MPROC_ENOTCHILD or
 * MPROC_ENOTSTARTED, without setting the last error (the caller says
 * which item it was). _of: for the process @self, mproc__os_getpid().
 */
int mproc__process_check_child(const mproc_process_t *p);
int mproc__process_check_child_of(const mproc_process_t *p, long self);
/* Whether the started child @p has ended (asking the OS). */
int mproc__process_ended(mproc_process_t *p);
/* Whether @p is known to have ended, without asking the OS. */
int mproc__process_ended_known(const mproc_process_t *p);
/*
 * The OS handle that becomes ready when @p ends, as mproc__os_child_waitable
 * (the parent process's watch for mproc_parent_process()).
 */
int mproc__process_waitable(mproc_process_t *p, mproc__os_fd_t *h);

#endif
