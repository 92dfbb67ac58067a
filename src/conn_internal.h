/*
 * Private to src/: the Connection object (connection.c) as the files that
 * hand connections over (handover.c) and wait for them (wait.c) see it.
 * Not part of the public API.
 */
#ifndef MPROC_CONN_INTERNAL_H
#define MPROC_CONN_INTERNAL_H

#include "mproc_private.h"

struct mproc_conn_t {
    mproc__os_conn_t *os;
    int readable;
    int writable;
    mproc_conn_opts_t opts;         /* with the defaults filled in */
    mproc__frame_opts_t frame_opts; /* what sending hands to frame.c */
    mproc__frame_stream_t in;       /* the frames received, as read */
    mproc__owned_t owned; /* closed at exit if mproc_value_to_conn() made it */
};

/*
 * A connection on @os, which it owns (and closes on failure), with the
 * options @o as applied.
 */
int mproc__conn_new(mproc_conn_t **out, mproc__os_conn_t *os, int readable,
                    int writable, const mproc_conn_opts_t *o);

/*
 * mproc_conn_send_bytes() of the payload that @frame holds after
 * MPROC__FRAME_HEADER_SIZE bytes of room: the header is written into the
 * room and the frame as it lies, with no copy (unless it is to be
 * deflated). For senders of many messages that build them in a buffer of
 * their own (the pool).
 */
int mproc__conn_send_framed(mproc_conn_t *c, mproc__buf_t *frame);

#endif
