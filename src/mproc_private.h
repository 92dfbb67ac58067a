/*
 * This file is private to mproc.
 *
 * The core's internals in one include, for the tests that reach them. Each
 * module of src/ has its own private header, included here; a file of src/
 * includes the headers of the modules it uses. The modules not yet cut that
 * way (connection.c, queue.c) keep their sections below.
 * Nothing here is part of the public API; every non-static name carries the
 * mproc__ prefix. What the OS backends may use too is in mproc_services.h.
 */
#ifndef MPROC_PRIVATE_H
#define MPROC_PRIVATE_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "mproc_os.h"
#include "mproc_services.h"

#include "auth.h"
#include "bootstrap.h"
#include "config.h"
#include "context.h"
#include "exit.h"
#include "finalize.h"
#include "forkserver.h"
#include "frame.h"
#include "frame_stream.h"
#include "handover.h"
#include "log.h"
#include "pack.h"
#include "popen.h"
#include "process_internal.h"
#include "registry.h"
#include "tracker.h"
#include "value_codec.h"

/* ---- connections (connection.c) -------------------------------------- */

#ifdef MPROC_TESTING
/* For the tests: the transport under @c. */
mproc__os_conn_t *mproc__conn_os(mproc_conn_t *c);
#endif

/* ---- queues (queue.c) ------------------------------------------------- */

/*
 * The queues a child's start arguments name, held open by the process that
 * starts it until the child has ended: a child then opens a queue there
 * even if its parent closed or destroyed its own handle right after the
 * start (on Windows the named objects would go with the last handle, on
 * Unix the last user's close removes the names).
 */
typedef struct mproc__queue_hold_t {
    mproc_queue_t **queues;
    size_t n;
    long pid; /* the process they were opened in */
} mproc__queue_hold_t;

/*
 * Opens a handle on each queue that the encoded arguments @args name, into
 * @hold (zeroed by the caller). A queue that is gone already is left out:
 * the child's own open reports that. 0; MPROC_ECORRUPT, MPROC_ENOMEM
 * (nothing held).
 */
int mproc__queue_hold(const mproc__buf_t *args, mproc__queue_hold_t *hold);
/*
 * Lets go of what @hold holds, if this process opened it (a fork child's
 * copy is forgotten instead), and empties it.
 */
void mproc__queue_release(mproc__queue_hold_t *hold);

#ifdef MPROC_TESTING
/* For the tests: the ring of @q and the position of its oldest record. */
int mproc__queue_debug_ring(mproc_queue_t *q, unsigned char **ring,
                            size_t *capacity, uint64_t *head);
/*
 * For the tests: the count of items taken one lower, as a consumer leaves
 * it that dies between taking a record and counting it.
 */
void mproc__queue_debug_uncount(mproc_queue_t *q);
/* For the tests: how many records of @q wait in its spill file. */
uint64_t mproc__queue_debug_spilled(mproc_queue_t *q);
#endif

/* The modules' own private headers, which build on the above. */
#include "pool_internal.h"
#include "shared_object.h"

#endif
