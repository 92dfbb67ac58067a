/*
 * This file is private to mproc.
 *
 * The child side of a start (bootstrap.c): Python's spawn.py.
 */
#ifndef MPROC_SRC_BOOTSTRAP_H
#define MPROC_SRC_BOOTSTRAP_H

#include <stddef.h>

#include "mproc.h"
#include "mproc_os.h"

#define MPROC__MAX_BOOTSTRAP (256u * 1024u * 1024u)

/*
 * Decodes and checks a bootstrap payload, its arguments included, as
 * mproc__bootstrap_run() does before it acts, and returns instead of
 * running it: 0, or MPROC_ECORRUPT / MPROC_ENOMEM. For the fuzz harness.
 */
int mproc__bootstrap_check(const void *payload, size_t len);
/*
 * Decodes a bootstrap payload, becomes the process it describes and runs its
 * target. Never returns: a bad payload ends the process with exit code 1 and
 * a sentence on stderr. @forked: end with _exit (forkserver children).
 * @handles (NULL: the message's own list) are the @nhandles handed-over
 * connections where this process found them.
 */
MPROC_NORETURN void mproc__bootstrap_run(const void *payload, size_t len,
                                         int forked,
                                         const mproc__os_fd_t *handles,
                                         size_t nhandles);
/* Reads the bootstrap frame from @fd and runs it. Never returns. */
MPROC_NORETURN void mproc__bootstrap_from_fd(mproc__os_fd_t fd);
/* Runs @p's target in this (forked) process and ends it. Never returns. */
MPROC_NORETURN void mproc__bootstrap_run_forked(mproc_process_t *p);

#endif
