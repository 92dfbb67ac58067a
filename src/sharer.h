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
/*
 * Where handles are pulled out of the sender by pid (Windows): the sender
 * keeps handle @h, offered, and records the offer under a one-time id in
 * a table of its own that other processes can open by name (@name, @cap
 * bytes, at least MPROC__OFFERS_NAME_MAX). The table is what makes a
 * handle value safe to pull: a taker first claims the id there, so only
 * one taker ever closes the sender's copy, and a stale or second taker,
 * whose id is gone, never touches a handle that value names by then.
 * MPROC_ERANGE if too many offers wait untaken.
 */
#define MPROC__OFFERS_NAME_MAX 32
int mproc__sharer_offer_by_pid(int64_t *id, char *name, size_t cap);
/*
 * Claims offer @id in the table @name of process @pid; 0 if this caller
 * won it (and may pull the handle), MPROC_ENOTFOUND with a sentence if the
 * table is gone (the sender ended) or the offer was taken already.
 */
int mproc__sharer_claim(const char *name, long pid, int64_t id);
/* In a fork child: the parent's sharer is the parent's; forget it. */
void mproc__sharer_after_fork(void);

#endif
