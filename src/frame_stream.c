/*
 * The framed-stream reader under a connection: a byte stream of the OS
 * backend read in chunks into a buffer, cut into frames (frame.c), and
 * resynchronised after damage.
 *
 * One read may bring several frames, or the start of the next one, which
 * then wait in the buffer for the next receive. poll() and mproc_wait()
 * look there (mproc__stream_ready) before they ask the OS: a message
 * already read is not on the stream any more, and the OS would say that
 * nothing is ready.
 *
 * Damage. A frame whose header is impossible (magic, version, flags,
 * reserved bytes, length) or whose body fails its checksum is reported
 * once, as MPROC_ECORRUPT. Its length cannot be trusted then, so the
 * stream is resynchronised byte by byte: the next receive scans on from
 * the byte after the bad frame's start for a plausible header whose body
 * also passes its checksum, and delivers that message. A frame that is
 * intact but whose content is not (it does not inflate, or is not
 * msgpack) is consumed whole. The end of the stream inside a frame is
 * reported once as a truncated frame (MPROC_ECORRUPT), then as
 * MPROC_ECLOSED.
 */
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

/* What one read asks the OS for at least. */
#define READ_CHUNK ((size_t) 64 * 1024)
/* A read buffer larger than this is given back once it is empty. */
#define KEEP_BUFFER ((size_t) 1024 * 1024)
#define HDR MPROC__FRAME_HEADER_SIZE

void mproc__stream_init(mproc__frame_stream_t *c, mproc__os_conn_t *os,
                        size_t max_message)
{
    memset(c, 0, sizeof *c);
    c->os = os;
    c->max_message = max_message;
    /*
     * A deflated body is smaller than its payload (frame.c keeps it only
     * then) but adds the payload's 4-byte length; the length field of a
     * header has 32 bits.
     */
    c->max_body = max_message > 0xfffffffbu ? 0xffffffffu : max_message + 4;
}

void mproc__stream_free(mproc__frame_stream_t *c)
{
    mproc__buf_free(&c->in);
}

size_t mproc__stream_buffered(const mproc__frame_stream_t *c)
{
    return c->in.len - c->pos;
}

static const unsigned char *head(const mproc__frame_stream_t *c)
{
    return c->in.data + c->pos;
}

/* Consumes @n buffered bytes. */
static void drop(mproc__frame_stream_t *c, size_t n)
{
    c->pos += n;
    if (c->pos == c->in.len) {
        c->pos = c->in.len = 0;
        /* One big message must not pin its buffer for good. */
        if (c->in.cap > KEEP_BUFFER)
            mproc__buf_free(&c->in);
    }
}

/*
 * Makes at least @need bytes available from c->pos on, reading as much as
 * the OS has. MPROC_ECLOSED, with no sentence (the caller knows what the
 * end means there), if the stream ends first.
 */
static int fill(mproc__frame_stream_t *c, size_t need)
{
    while (mproc__stream_buffered(c) < need) {
        size_t got, want;
        int rc;
        if (c->eof)
            return MPROC_ECLOSED;
        if (c->pos > 0) {
            memmove(c->in.data, c->in.data + c->pos, mproc__stream_buffered(c));
            c->in.len -= c->pos;
            c->pos = 0;
        }
        want = need - c->in.len;
        if (want < READ_CHUNK)
            want = READ_CHUNK;
        rc = mproc__buf_reserve(&c->in, want);
        if (rc != 0)
            return rc;
        rc = mproc__os_conn_read(c->os, c->in.data + c->in.len,
                                 c->in.cap - c->in.len, &got);
        if (rc != 0)
            return rc;
        if (got == 0) {
            c->eof = 1;
            return MPROC_ECLOSED;
        }
        c->in.len += got;
    }
    return 0;
}

static int closed(void)
{
    return mproc__set_error(MPROC_ECLOSED, "the peer closed the connection");
}

/*
 * Whether @h starts a frame that this connection could carry; *@body gets
 * its body's length. Deliberately quiet: the resync scan asks it often.
 */
static int plausible(const mproc__frame_stream_t *c, const unsigned char *h,
                     size_t *body)
{
    size_t n;
    if (memcmp(h, "MPRC", 4) != 0 || h[4] != 1 || h[6] != 0 || h[7] != 0 ||
        (h[5] & ~(MPROC__FRAME_FLAG_DEFLATED | MPROC__FRAME_FLAG_RAW)) != 0)
        return 0;
    n = mproc__get_u32(h + 8);
    if (n > c->max_body || ((h[5] & MPROC__FRAME_FLAG_DEFLATED) && n < 4))
        return 0;
    *body = n;
    return 1;
}

/* The offset of the first "MPRC" in @p[0..n), or n if there is none. */
static size_t find_magic(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (n >= 4 && i <= n - 4) {
        const unsigned char *m = memchr(p + i, 'M', n - 3 - i);
        if (m == NULL)
            break;
        i = (size_t) (m - p);
        if (memcmp(m, "MPRC", 4) == 0)
            return i;
        i++;
    }
    return n;
}

/*
 * Scans from c->pos on for the next frame whose header is plausible and
 * whose body passes its checksum, reading as needed, and leaves c->pos
 * there. MPROC_ECLOSED if the stream ends first.
 *
 * A candidate's body has to arrive before its checksum can be known, so a
 * damaged stream that happens to hold a plausible header of a long frame
 * waits for that many bytes (or the end) before it moves on.
 */
static int resync(mproc__frame_stream_t *c)
{
    for (;;) {
        size_t n = mproc__stream_buffered(c), at = find_magic(head(c), n), body;
        int rc;
        if (at == n) {
            /* Keep a tail that may be the start of the next magic. */
            size_t keep = n < 3 ? n : 3;
            drop(c, n - keep);
            rc = fill(c, keep + 1);
            if (rc == MPROC_ECLOSED) {
                drop(c, mproc__stream_buffered(c));
                return closed();
            }
            if (rc != 0)
                return rc;
            continue;
        }
        drop(c, at);
        rc = fill(c, HDR);
        if (rc == MPROC_ECLOSED) {
            drop(c, mproc__stream_buffered(c));
            return closed();
        }
        if (rc != 0)
            return rc;
        if (!plausible(c, head(c), &body)) {
            drop(c, 1);
            continue;
        }
        rc = fill(c, HDR + body);
        if (rc != 0 && rc != MPROC_ECLOSED)
            return rc;
        /* At the end, a candidate cut short is just more junk to skip. */
        if (rc == 0 && mproc__frame_body_ok(head(c), head(c) + HDR, body)) {
            c->resync = 0;
            return 0;
        }
        drop(c, 1);
    }
}

/*
 * Reads the next frame: its payload is appended to @payload, its flags go
 * to *@flags. With @keep an intact frame stays in the buffer, to be
 * dropped by mproc__stream_drop_kept() or read again; damage is consumed
 * either way.
 */
static int read_frame(mproc__frame_stream_t *c, mproc__buf_t *payload,
                      unsigned *flags, int keep)
{
    const unsigned char *h;
    size_t body;
    int rc;
    if (c->resync) {
        rc = resync(c);
        if (rc != 0)
            return rc;
    }
    rc = fill(c, HDR);
    if (rc == MPROC_ECLOSED) {
        if (mproc__stream_buffered(c) == 0)
            return closed();
        drop(c, mproc__stream_buffered(c));
        return mproc__set_error(MPROC_ECORRUPT,
                                "truncated frame: the peer closed the "
                                "connection mid-message");
    }
    if (rc != 0)
        return rc;
    if (!plausible(c, head(c), &body)) {
        /* Its length is no guide: look for the next frame byte by byte. */
        c->resync = 1;
        drop(c, 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "bad frame header (skipped to the next "
                                "message)");
    }
    rc = fill(c, HDR + body);
    if (rc == MPROC_ECLOSED) {
        /*
         * Either the peer died mid-message, or the length was damaged
         * upwards and good frames hide in what did arrive: scan that.
         */
        c->resync = 1;
        drop(c, 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "truncated frame: the peer closed the "
                                "connection mid-message");
    }
    if (rc != 0)
        return rc;
    h = head(c);
    *flags = h[5];
    rc = mproc__frame_open_body(h, h + HDR, body, c->max_message, payload);
    if (rc == MPROC_ECORRUPT && !mproc__frame_body_ok(h, h + HDR, body)) {
        c->resync = 1;
        drop(c, 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "frame checksum mismatch (skipped to the "
                                "next message)");
    }
    /* Intact, so consumed whole, even if it does not inflate. */
    if (!keep || rc != 0)
        drop(c, HDR + body);
    return rc;
}

int mproc__stream_next_frame(mproc__frame_stream_t *c, mproc__buf_t *payload,
                             unsigned *flags)
{
    return read_frame(c, payload, flags, 0);
}

int mproc__stream_peek_frame(mproc__frame_stream_t *c, mproc__buf_t *payload,
                             unsigned *flags)
{
    return read_frame(c, payload, flags, 1);
}

void mproc__stream_drop_kept(mproc__frame_stream_t *c)
{
    size_t body;
    /* The frame mproc__stream_peek_frame() kept is whole at the head. */
    if (mproc__stream_buffered(c) >= HDR && plausible(c, head(c), &body))
        drop(c, HDR + body);
}

int mproc__stream_read_some(mproc__frame_stream_t *c)
{
    size_t got, want = READ_CHUNK, body, n;
    int rc;
    if (c->eof)
        return 0;
    if (c->pos > 0) {
        memmove(c->in.data, c->in.data + c->pos, mproc__stream_buffered(c));
        c->in.len -= c->pos;
        c->pos = 0;
    }
    /* Room for the rest of a frame whose header is here, in one read. */
    n = c->in.len;
    if (!c->resync && n >= HDR && plausible(c, c->in.data, &body) &&
        HDR + body - n > want)
        want = HDR + body - n;
    rc = mproc__buf_reserve(&c->in, want);
    if (rc != 0)
        return rc;
    rc = mproc__os_conn_read(c->os, c->in.data + c->in.len,
                             c->in.cap - c->in.len, &got);
    if (rc != 0)
        return rc;
    if (got == 0)
        c->eof = 1;
    c->in.len += got;
    /* The count, or the room: a read that filled it may have left more. */
    return got < c->in.cap - (c->in.len - got) ? 0 : 1;
}

/*
 * Whether a receive would return at once, judged from the buffer alone:
 * a whole frame is there, or an error that it reports without reading.
 */
int mproc__stream_ready(const mproc__frame_stream_t *c)
{
    const unsigned char *p = head(c);
    size_t n = mproc__stream_buffered(c), body, i;
    /* At the end of the stream nothing blocks any more. */
    if (c->eof)
        return 1;
    if (!c->resync) {
        if (n < HDR)
            return 0;
        if (!plausible(c, p, &body))
            return 1;
        return n - HDR >= body;
    }
    /* The scan of the next receive, done on what is here. */
    for (i = 0; i + HDR <= n; i++) {
        i += find_magic(p + i, n - i);
        if (i + HDR > n)
            break;
        if (plausible(c, p + i, &body) && n - i - HDR >= body &&
            mproc__frame_body_ok(p + i, p + i + HDR, body))
            return 1;
    }
    return 0;
}
