/*
 * Private to src/: the per-process sharer that hands descriptors to a
 * process that asks for them (sharer.c). Not part of the public API.
 */
#ifndef MPROC_SHARER_H
#define MPROC_SHARER_H

#include <stddef.h>
#include <stdint.h>

#include "mproc_os.h"

/*
 * Offers the @n handles of @h (at most 2), which the sharer then owns, to
 * one taker: *@id is the offer's one-time id, @path (@cap bytes, at least
 * MPROC__OS_LOCAL_PATH_MAX) the sharer's address. Starts the sharer on
 * first use. MPROC_ENOTSUP where the OS has no local listener (Windows);
 * the caller keeps @h on failure.
 */
int mproc__sharer_offer(const mproc__os_fd_t *h, size_t n, int64_t *id,
                        char *path, size_t cap);
/*
 * Takes offer @id of the sharer at @path, that process @pid runs: its
 * handles, exactly @n of them, in @h. MPROC_ENOTFOUND with a sentence if
 * the sharer is gone (its process ended) or has no such offer (taken
 * already, or never made); bounded waits, so a stalled sharer is an error,
 * not a hang.
 */
int mproc__sharer_take(const char *path, long pid, int64_t id,
                       mproc__os_fd_t *h, size_t n);
/* In a fork child: the parent's sharer is the parent's; forget it. */
void mproc__sharer_after_fork(void);

#endif
