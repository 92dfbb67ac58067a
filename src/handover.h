/*
 * Private to src/: handing connections over to other processes
 * (handover.c). Not part of the public API.
 */
#ifndef MPROC_HANDOVER_H
#define MPROC_HANDOVER_H

#include <stddef.h>
#include <stdint.h>

#include "mproc_os.h"
#include "mproc_services.h"

/*
 * The connections that a start hands to a spawn or forkserver child: the
 * exported references of this process found in its arguments, rewritten
 * to slots of the bootstrap message's handle list.
 */
typedef struct mproc__conn_pass_t {
    mproc__buf_t args;       /* the arguments with slot references */
    mproc__os_fd_t *handles; /* this process's handle of each slot */
    size_t n;                /* 0: nothing to pass; @args is unused */
    int64_t token;           /* ties the slots to this one start */
} mproc__conn_pass_t;

/* Finds the connections in the encoded argument list @args. */
int mproc__conn_pass_prepare(const mproc__buf_t *args,
                             mproc__conn_pass_t *pass);
void mproc__conn_pass_free(mproc__conn_pass_t *pass);
/* In a spawn or forkserver child: the handles its start handed over. */
int mproc__conn_boot_handles(const mproc__os_fd_t *handles, size_t n,
                             int64_t token);
/*
 * Encodes @v (as mproc__value_encode) for a process that is already
 * running, the receiver of a queue or a connection: each reference to a
 * connection whose handles are open here becomes a shared reference, which
 * one process can take (handover.c explains how).
 *
 * Why here and not in the encoder itself: the encoder does not know where
 * its bytes go. A start argument travels by other means (slots of the
 * start, mproc__conn_pass_prepare, or a fork child's inherited
 * descriptors), and an offer costs copies of the handles held open until
 * taken, so only the paths that deliver to a running process ask for it:
 * mproc_conn_send() and a queue's put.
 */
int mproc__value_encode_shared(const mproc_value_t *v, mproc__buf_t *out);
/* In a fork child: the descriptors of @parent_pid are this process's too. */
void mproc__conn_after_fork(long parent_pid);

#endif
