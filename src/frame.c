/*
 * Frames: a checksummed header around a payload, deflated when that pays.
 *
 * Every message between processes travels as a frame, so corruption and
 * truncation are detected where they happen and reported as
 * MPROC_ECORRUPT, never acted upon.
 */
#include <string.h>
#include <zlib.h>

#include "crc32.h"
#include "frame.h"
#include "mproc_services.h"

static const unsigned char frame_magic[4] = {'M', 'P', 'R', 'C'};

/* The defaults of mproc_codec_opts_t, which codec.h documents. */
#define DEFAULT_MAX_MESSAGE ((size_t) 64 * 1024 * 1024)
#define DEFAULT_COMPRESS_THRESHOLD ((size_t) 64 * 1024)
#define DEFAULT_COMPRESS_LEVEL 1

int mproc__codec_opts_apply(mproc_codec_opts_t *o,
                            const mproc_codec_opts_t *given)
{
    mproc_codec_opts_t v = {0};
    if (given != NULL)
        v = *given;
    if (v.compress_level < 0 || v.compress_level > 9)
        return mproc__set_error(MPROC_EINVAL,
                                "compress_level must be 1..9 (0: default), "
                                "not %d",
                                v.compress_level);
    if (v.max_message == 0)
        v.max_message = DEFAULT_MAX_MESSAGE;
    if (v.compress_threshold == 0)
        v.compress_threshold = DEFAULT_COMPRESS_THRESHOLD;
    if (v.compress_level == 0)
        v.compress_level = DEFAULT_COMPRESS_LEVEL;
    v.no_compress = v.no_compress != 0;
    *o = v;
    return 0;
}

mproc__frame_opts_t mproc__codec_frame_opts(const mproc_codec_opts_t *o)
{
    mproc__frame_opts_t f;
    f.compress_threshold = o->no_compress ? 0 : o->compress_threshold;
    f.compress_level = o->compress_level;
    return f;
}

uint32_t mproc__frame_crc(uint32_t crc, const void *p, size_t n)
{
    return mproc__crc32(crc, p, n);
}

static uint32_t checksum(const void *p, size_t n)
{
    return mproc__frame_crc(0, p, n);
}

void mproc__frame_put_header(unsigned char *h, unsigned flags, size_t body_len,
                             uint32_t crc)
{
    memcpy(h, frame_magic, 4);
    h[4] = 1;
    h[5] = (unsigned char) flags;
    h[6] = h[7] = 0;
    mproc__put_u32(h + 8, (uint32_t) body_len);
    mproc__put_u32(h + 12, crc);
}

/*
 * Whether a sample of the payload looks compressible, judged from the byte
 * histogram of its first 1 KiB (enough to tell, and cheap next to a copy): the
 * collision probability sum(f^2) is 1/256 for random (or already compressed)
 * bytes and far more for text or structured data. Below twice the uniform value
 * deflate is not tried at all, so incompressible traffic costs no more than its
 * checksum.
 */
static int looks_compressible(const unsigned char *p, size_t len)
{
    unsigned counts[256] = {0};
    size_t n = len < 1024 ? len : 1024, i;
    uint64_t collisions = 0;
    for (i = 0; i < n; i++)
        counts[p[i]]++;
    for (i = 0; i < 256; i++)
        collisions += (uint64_t) counts[i] * counts[i];
    /* sum(c^2)/n^2 > 2/256, in integers. */
    return 256 * collisions > 2 * (uint64_t) n * n;
}

/* Appends a deflated body (length prefix + stream); 1 if it did not pay. */
static int deflate_body(const void *payload, size_t len, int level,
                        mproc__buf_t *out)
{
    size_t start = out->len;
    uLong bound;
    uLongf got;
    int rc;
    if (len > 0xffffffffu)
        return 1;
    bound = compressBound((uLong) len);
    rc = mproc__buf_reserve(out, 4 + (size_t) bound);
    if (rc != 0)
        return rc;
    mproc__put_u32(out->data + start, (uint32_t) len);
    got = bound;
    if (compress2(out->data + start + 4, &got, payload, (uLong) len, level) !=
        Z_OK)
        return 1;
    /* Only keep it if it saves at least an eighth. */
    if (4 + (size_t) got > len - len / 8)
        return 1;
    out->len = start + 4 + (size_t) got;
    return 0;
}

int mproc__frame_wants_deflate(const mproc__frame_opts_t *opts,
                               const void *payload, size_t len)
{
    return opts != NULL && opts->compress_threshold > 0 &&
           len >= opts->compress_threshold && len <= 0xffffffffu - 4 &&
           looks_compressible(payload, len);
}

int mproc__frame_encode(const void *payload, size_t len,
                        const mproc__frame_opts_t *opts, mproc__buf_t *out)
{
    return mproc__frame_encode_flags(payload, len, 0, opts, out);
}

int mproc__frame_encode_flags(const void *payload, size_t len, unsigned flags,
                              const mproc__frame_opts_t *opts,
                              mproc__buf_t *out)
{
    size_t hdr = out->len;
    int rc;
    if (len > 0xffffffffu - 4)
        return mproc__set_error(MPROC_ETOOBIG,
                                "message of %zu bytes exceeds 4 GiB", len);
    rc = mproc__buf_reserve(out, MPROC__FRAME_HEADER_SIZE);
    if (rc != 0)
        return rc;
    out->len += MPROC__FRAME_HEADER_SIZE;
    if (mproc__frame_wants_deflate(opts, payload, len)) {
        int level = opts->compress_level ? opts->compress_level : 1;
        rc = deflate_body(payload, len, level, out);
        if (rc < 0)
            return rc;
        if (rc == 0)
            flags |= MPROC__FRAME_FLAG_DEFLATED;
    }
    if (!(flags & MPROC__FRAME_FLAG_DEFLATED)) {
        rc = mproc__buf_append(out, payload, len);
        if (rc != 0)
            return rc;
    }
    {
        size_t body = out->len - hdr - MPROC__FRAME_HEADER_SIZE;
        mproc__frame_put_header(
            out->data + hdr, flags, body,
            checksum(out->data + hdr + MPROC__FRAME_HEADER_SIZE, body));
    }
    return 0;
}

int mproc__frame_check_header(const unsigned char *h, size_t max_body,
                              size_t *body_len)
{
    size_t n;
    if (memcmp(h, frame_magic, 4) != 0 || h[4] != 1 || h[6] != 0 || h[7] != 0 ||
        (h[5] & ~(MPROC__FRAME_FLAG_DEFLATED | MPROC__FRAME_FLAG_RAW)) != 0)
        return mproc__set_error(MPROC_ECORRUPT, "bad frame header");
    n = mproc__get_u32(h + 8);
    if (n > max_body)
        return mproc__set_error(MPROC_ETOOBIG,
                                "frame of %zu bytes exceeds the maximum of %zu",
                                n, max_body);
    *body_len = n;
    return 0;
}

int mproc__frame_body_ok(const unsigned char *h, const void *body,
                         size_t body_len)
{
    return mproc__get_u32(h + 8) == body_len &&
           checksum(body, body_len) == mproc__get_u32(h + 12);
}

int mproc__frame_open_body(const unsigned char *h, const void *body,
                           size_t body_len, size_t max_payload,
                           mproc__buf_t *out)
{
    const unsigned char *b = body;
    uLongf got;
    size_t raw;
    int rc;
    if (mproc__get_u32(h + 8) != body_len)
        return mproc__set_error(MPROC_ECORRUPT, "truncated frame");
    if (checksum(body, body_len) != mproc__get_u32(h + 12))
        return mproc__set_error(MPROC_ECORRUPT, "frame checksum mismatch");
    if (!(h[5] & MPROC__FRAME_FLAG_DEFLATED)) {
        if (body_len > max_payload)
            return mproc__set_error(MPROC_ETOOBIG, "message too large");
        return mproc__buf_append(out, body, body_len);
    }
    if (body_len < 4)
        return mproc__set_error(MPROC_ECORRUPT, "truncated deflated frame");
    raw = mproc__get_u32(b);
    if (raw > max_payload)
        return mproc__set_error(MPROC_ETOOBIG,
                                "message of %zu bytes exceeds the maximum "
                                "of %zu",
                                raw, max_payload);
    /*
     * At least one byte, so that @out has memory even for an empty payload:
     * out->data + out->len below is undefined on a NULL buffer, even + 0.
     */
    rc = mproc__buf_reserve(out, raw > 0 ? raw : 1);
    if (rc != 0)
        return rc;
    got = (uLongf) raw;
    if (uncompress(out->data + out->len, &got, b + 4, (uLong) (body_len - 4)) !=
            Z_OK ||
        got != raw)
        return mproc__set_error(MPROC_ECORRUPT, "frame does not inflate");
    out->len += raw;
    return 0;
}

int mproc__frame_open(const unsigned char *frame, size_t len,
                      size_t max_payload, mproc__buf_t *out)
{
    size_t body;
    int rc;
    if (len < MPROC__FRAME_HEADER_SIZE)
        return mproc__set_error(MPROC_ECORRUPT, "frame is short");
    rc = mproc__frame_check_header(frame, max_payload + 4, &body);
    if (rc == 0 && body != len - MPROC__FRAME_HEADER_SIZE)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "frame and its stated length disagree");
    if (rc == 0)
        rc = mproc__frame_open_body(frame, frame + MPROC__FRAME_HEADER_SIZE,
                                    body, max_payload, out);
    return rc;
}

int mproc__frame_payload(const unsigned char *frame, size_t len,
                         size_t max_payload, mproc__buf_t *scratch,
                         const unsigned char **payload, size_t *payload_len)
{
    size_t body;
    int rc;
    if (len < MPROC__FRAME_HEADER_SIZE)
        return mproc__set_error(MPROC_ECORRUPT, "frame is short");
    rc = mproc__frame_check_header(frame, max_payload + 4, &body);
    if (rc == 0 && body != len - MPROC__FRAME_HEADER_SIZE)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "frame and its stated length disagree");
    if (rc != 0)
        return rc;
    if (frame[5] & MPROC__FRAME_FLAG_DEFLATED) {
        scratch->len = 0;
        rc = mproc__frame_open_body(frame, frame + MPROC__FRAME_HEADER_SIZE,
                                    body, max_payload, scratch);
        if (rc == 0) {
            *payload = scratch->data;
            *payload_len = scratch->len;
        }
        return rc;
    }
    if (checksum(frame + MPROC__FRAME_HEADER_SIZE, body) !=
        mproc__get_u32(frame + 12))
        return mproc__set_error(MPROC_ECORRUPT, "frame checksum mismatch");
    if (body > max_payload)
        return mproc__set_error(MPROC_ETOOBIG, "message too large");
    *payload = frame + MPROC__FRAME_HEADER_SIZE;
    *payload_len = body;
    return 0;
}

int mproc__read_exact(mproc__os_fd_t fd, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t got;
        int rc = mproc__os_read(fd, p, n, &got);
        if (rc != 0)
            return rc;
        if (got == 0)
            return mproc__set_error(MPROC_ECLOSED,
                                    "the peer closed the connection");
        p += got;
        n -= got;
    }
    return 0;
}

int mproc__frame_read(mproc__os_fd_t fd, size_t max_payload, mproc__buf_t *out)
{
    unsigned char h[MPROC__FRAME_HEADER_SIZE];
    mproc__buf_t body = {0};
    size_t len, got;
    /*
     * End of file before a frame starts is a clean close; anywhere after
     * its first byte it is a truncated frame.
     */
    int rc = mproc__os_read(fd, h, sizeof h, &got);
    if (rc != 0)
        return rc;
    if (got == 0)
        return mproc__set_error(MPROC_ECLOSED,
                                "the peer closed the connection");
    rc = mproc__read_exact(fd, h + got, sizeof h - got);
    if (rc == 0)
        rc = mproc__frame_check_header(h, max_payload + 4, &len);
    if (rc == 0)
        rc = mproc__buf_reserve(&body, len);
    if (rc == 0)
        rc = mproc__read_exact(fd, body.data, len);
    if (rc == MPROC_ECLOSED)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "truncated frame: the peer closed the "
                              "connection mid-message");
    if (rc == 0)
        rc = mproc__frame_open_body(h, body.data, len, max_payload, out);
    mproc__buf_free(&body);
    return rc;
}
