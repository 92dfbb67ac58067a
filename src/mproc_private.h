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

#ifdef MPROC_TESTING
/* For the tests: the ring of @q and the position of its oldest record. */
int mproc__queue_debug_ring(mproc_queue_t *q, unsigned char **ring,
                            size_t *capacity, uint64_t *head);
#endif

/* The modules' own private headers, which build on the above. */
#include "pool_internal.h"
#include "shared_object.h"

#endif
