/*
 * Private to src/: the framed-stream reader under a connection
 * (frame_stream.c). Not part of the public API.
 */
#ifndef MPROC_FRAME_STREAM_H
#define MPROC_FRAME_STREAM_H

#include <stddef.h>

#include "mproc_os.h"
#include "mproc_services.h"

/* The read side of a framed byte stream: what was read and not consumed. */
typedef struct mproc__frame_stream_t {
    mproc__os_conn_t *os; /* the stream, which the owner closes */
    size_t max_message;   /* the longest payload accepted */
    size_t max_body;      /* the longest plausible frame body */
    mproc__buf_t in;      /* bytes read and not yet consumed, */
    size_t pos;           /* from in.data + pos on */
    int eof;              /* the stream has ended */
    int resync;           /* the next receive scans for a frame */
} mproc__frame_stream_t;

/* Sets up @s to read frames of payloads up to @max_message bytes from @os. */
void mproc__stream_init(mproc__frame_stream_t *s, mproc__os_conn_t *os,
                        size_t max_message);
/* Frees the buffer of @s (not its stream). */
void mproc__stream_free(mproc__frame_stream_t *s);
/* The bytes read from the stream and not yet consumed. */
size_t mproc__stream_buffered(const mproc__frame_stream_t *s);
/*
 * Reads the next frame: its payload is appended to @payload, its flags go
 * to *@flags. Damage is MPROC_ECORRUPT once and resynchronises; the end
 * of the stream is MPROC_ECLOSED.
 */
int mproc__stream_next_frame(mproc__frame_stream_t *s, mproc__buf_t *payload,
                             unsigned *flags);
/*
 * Reads once what the stream has into the buffer, for a reader that must
 * not wait for a whole frame: call it when the stream is readable (data or
 * its end), and it does not block. Frames made whole are then received
 * with mproc__stream_next_frame() while mproc__stream_ready() says so.
 * Returns 0; 1 if the read filled the buffer's room, so that more may wait
 * on the stream; a negative status.
 */
int mproc__stream_read_some(mproc__frame_stream_t *s);
/*
 * mproc__stream_next_frame(), except that an intact frame (0) stays in
 * the buffer: mproc__stream_drop_kept() consumes it, and the next read
 * reads it again. Damage is consumed as by mproc__stream_next_frame().
 */
int mproc__stream_peek_frame(mproc__frame_stream_t *s, mproc__buf_t *payload,
                             unsigned *flags);
/* Consumes the frame the last successful peek kept. */
void mproc__stream_drop_kept(mproc__frame_stream_t *s);
/*
 * Whether a receive would return at once, judged from the buffer alone
 * (1 or 0): a whole frame is there, or an error that it reports without
 * reading.
 */
int mproc__stream_ready(const mproc__frame_stream_t *s);

#endif
