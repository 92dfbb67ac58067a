/*
 * Connections: multiprocessing.Pipe and its Connection objects.
 *
 * A connection is a byte stream of the OS backend that carries frames
 * (frame.c), read through a framed-stream reader (frame_stream.c), which
 * buffers what one read brought and resynchronises after damage. Handing
 * a connection to another process is handover.c's; waiting for several
 * at once (mproc_wait) is wait.c's.
 */
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"

/* ---- creating and closing --------------------------------------------- */

static int apply_opts(mproc_conn_opts_t *o, const mproc_conn_opts_t *given)
{
    memset(o, 0, sizeof *o);
    if (given != NULL)
        *o = *given;
    return mproc__codec_opts_apply(&o->codec, &o->codec);
}

/* Wraps @os, which the new connection owns (and closes on failure). */
int mproc__conn_new(mproc_conn_t **out, mproc__os_conn_t *os, int readable,
                    int writable, const mproc_conn_opts_t *o)
{
    mproc_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        mproc__os_conn_close(os);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    c->os = os;
    c->readable = readable;
    c->writable = writable;
    c->opts = *o;
    c->frame_opts = mproc__codec_frame_opts(&o->codec);
    mproc__stream_init(&c->in, os, o->codec.max_message);
    *out = c;
    return 0;
}

int mproc_pipe(mproc_conn_t **a, mproc_conn_t **b, int duplex,
               const mproc_conn_opts_t *opts)
{
    mproc__os_conn_t *r, *w;
    mproc_conn_opts_t o;
    int rc;
    if (a == NULL || b == NULL)
        return mproc__set_error(MPROC_EINVAL, "mproc_pipe needs two results");
    *a = *b = NULL;
    rc = apply_opts(&o, opts);
    if (rc != 0)
        return rc;
    rc = mproc__os_conn_pair(&r, &w, duplex);
    if (rc != 0)
        return rc;
    rc = mproc__conn_new(a, r, 1, duplex != 0, &o);
    if (rc != 0) {
        mproc__os_conn_close(w);
        return rc;
    }
    rc = mproc__conn_new(b, w, duplex != 0, 1, &o);
    if (rc != 0) {
        mproc_conn_close(*a);
        *a = NULL;
    }
    return rc;
}

void mproc_conn_close(mproc_conn_t *c)
{
    if (c == NULL)
        return;
    mproc__ref_cache_forget(c);
    mproc__owned_unlink(&c->owned);
    mproc__os_conn_close(c->os);
    mproc__stream_free(&c->in);
    free(c);
}

#ifdef MPROC_TESTING
mproc__os_conn_t *mproc__conn_os(mproc_conn_t *c)
{
    return c->os;
}
#endif

/* ---- sending ------------------------------------------------------------ */

static int can_send(const mproc_conn_t *c)
{
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection");
    if (!c->writable)
        return mproc__set_error(MPROC_ESTATE,
                                "this end of a one-way pipe only receives");
    return 0;
}

static int send_frame(mproc_conn_t *c, const void *payload, size_t len,
                      unsigned flags)
{
    mproc__buf_t frame = {0};
    int rc;
    /* Checked before anything is written: the stream stays whole. */
    if (len > c->opts.codec.max_message)
        return mproc__set_error(MPROC_ETOOBIG,
                                "a message of %zu bytes exceeds the "
                                "connection's maximum of %zu bytes; nothing "
                                "was sent",
                                len, c->opts.codec.max_message);
    rc = mproc__frame_encode_flags(payload, len, flags, &c->frame_opts, &frame);
    if (rc == 0)
        rc = mproc__os_conn_write(c->os, frame.data, frame.len);
    mproc__buf_free(&frame);
    return rc;
}

int mproc_conn_send(mproc_conn_t *c, const mproc_value_t *v)
{
    mproc__buf_t frame = {0};
    int rc = can_send(c);
    if (rc != 0)
        return rc;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value to send");
    /*
     * A value sent may carry connection references, which the hand-over
     * (handover.c) offers to their taker; the hand-over in turn makes
     * connections when a reference is opened. That pair calls each other
     * by design, as CPython's connection.py and reduction.py do.
     */
    rc = mproc__buf_reserve(&frame, MPROC__FRAME_HEADER_SIZE);
    if (rc != 0)
        return rc;
    frame.len = MPROC__FRAME_HEADER_SIZE;
    rc = mproc__value_encode_shared(v, &frame);
    if (rc == 0) {
        const unsigned char *payload = frame.data + MPROC__FRAME_HEADER_SIZE;
        size_t len = frame.len - MPROC__FRAME_HEADER_SIZE;
        /*
         * The encoding went in behind room for the header, so that a frame
         * that is not deflated is written as it lies: one buffer, no copy.
         */
        if (len > c->opts.codec.max_message ||
            mproc__frame_wants_deflate(&c->frame_opts, payload, len)) {
            rc = send_frame(c, payload, len, 0);
        } else {
            mproc__frame_put_header(frame.data, 0, len,
                                    mproc__frame_crc(0, payload, len));
            rc = mproc__os_conn_write(c->os, frame.data, frame.len);
        }
    }
    mproc__buf_free(&frame);
    return rc;
}

int mproc_conn_send_bytes(mproc_conn_t *c, const void *buf, size_t len)
{
    int rc = can_send(c);
    if (rc != 0)
        return rc;
    if (buf == NULL && len > 0)
        return mproc__set_error(MPROC_EINVAL, "no bytes to send");
    return send_frame(c, buf != NULL ? buf : "", len, MPROC__FRAME_FLAG_RAW);
}

int mproc__conn_send_framed(mproc_conn_t *c, mproc__buf_t *frame)
{
    const unsigned char *payload;
    size_t len;
    int rc = can_send(c);
    if (rc != 0)
        return rc;
    if (frame->len < MPROC__FRAME_HEADER_SIZE)
        return mproc__set_error(MPROC_EINVAL, "no room for a frame header");
    payload = frame->data + MPROC__FRAME_HEADER_SIZE;
    len = frame->len - MPROC__FRAME_HEADER_SIZE;
    if (len > c->opts.codec.max_message ||
        mproc__frame_wants_deflate(&c->frame_opts, payload, len))
        return send_frame(c, payload, len, MPROC__FRAME_FLAG_RAW);
    mproc__frame_put_header(frame->data, MPROC__FRAME_FLAG_RAW, len,
                            mproc__frame_crc(0, payload, len));
    return mproc__os_conn_write(c->os, frame->data, frame->len);
}

/* ---- receiving ---------------------------------------------------------- */

static int can_recv(const mproc_conn_t *c)
{
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection");
    if (!c->readable)
        return mproc__set_error(MPROC_ESTATE,
                                "this end of a one-way pipe only sends");
    return 0;
}

int mproc_conn_recv(mproc_conn_t *c, mproc_value_t **v)
{
    mproc__buf_t payload = {0};
    unsigned flags = 0;
    int rc;
    if (v != NULL)
        *v = NULL;
    rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the value");
    /*
     * A frame send_bytes sent is decoded too, as Python's recv is
     * loads(recv_bytes()): a byte-level relay of values stays a relay.
     */
    rc = mproc__stream_next_frame(&c->in, &payload, &flags);
    if (rc == 0)
        rc = mproc__value_decode(payload.data, payload.len, v);
    mproc__buf_free(&payload);
    return rc;
}

int mproc_conn_recv_bytes(mproc_conn_t *c, void **buf, size_t *len)
{
    mproc__buf_t payload = {0};
    unsigned flags = 0;
    int rc;
    if (buf != NULL)
        *buf = NULL;
    if (len != NULL)
        *len = 0;
    rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (buf == NULL || len == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the bytes");
    /* A value's frame gives its msgpack encoding, as Python's gives a pickle.
     */
    rc = mproc__stream_next_frame(&c->in, &payload, &flags);
    if (rc != 0) {
        mproc__buf_free(&payload);
        return rc;
    }
    if (payload.data == NULL) {
        payload.data = malloc(1);
        if (payload.data == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    *buf = payload.data;
    *len = payload.len;
    return 0;
}

int mproc_conn_recv_bytes_into(mproc_conn_t *c, void *buf, size_t cap,
                               size_t *len)
{
    mproc__buf_t payload = {0};
    unsigned flags = 0;
    int rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (len == NULL || (buf == NULL && cap > 0))
        return mproc__set_error(MPROC_EINVAL, "no place for the bytes");
    /* Peeked, so that a message too long for @buf stays to be received. */
    rc = mproc__stream_peek_frame(&c->in, &payload, &flags);
    if (rc != 0) {
        mproc__buf_free(&payload);
        return rc;
    }
    if (payload.len > cap) {
        *len = payload.len;
        mproc__buf_free(&payload);
        return mproc__set_error(MPROC_ETOOSHORT,
                                "a message of %zu bytes does not fit in a "
                                "buffer of %zu; nothing was received",
                                *len, cap);
    }
    mproc__stream_drop_kept(&c->in);
    if (payload.len > 0)
        memcpy(buf, payload.data, payload.len);
    *len = payload.len;
    mproc__buf_free(&payload);
    return 0;
}

int mproc_conn_fileno(const mproc_conn_t *c, intptr_t *handle)
{
    mproc__os_fd_t h[2];
    if (c == NULL || handle == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection");
    /* Of two handles (reading, writing), the first is the one to wait on. */
    mproc__os_conn_handles(c->os, h);
    *handle = (intptr_t) h[0];
    return 0;
}

int mproc_conn_poll(mproc_conn_t *c, double timeout)
{
    int rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (mproc__stream_ready(&c->in))
        return 0;
    return mproc__os_conn_wait_readable(c->os, timeout);
}
