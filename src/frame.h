/*
 * This file is private to mproc.
 *
 * Frames and codec options (frame.c): the framing every message of a
 * connection, a queue, a bootstrap and the forkserver travels in.
 */
#ifndef MPROC_SRC_FRAME_H
#define MPROC_SRC_FRAME_H

#include <stddef.h>

#include "mproc.h"
#include "mproc_os.h"
#include "mproc_services.h"

/*
 * A frame is a 16-byte header and a body:
 *   0  4  magic "MPRC"
 *   4  1  version (1)
 *   5  1  flags: bit 0 = body is deflated, bit 1 = raw bytes
 *   6  2  reserved, zero
 *   8  4  body length, little-endian
 *   12 4  crc32 of the body, little-endian
 * A deflated body starts with the payload's length (4 bytes, LE).
 */
#define MPROC__FRAME_HEADER_SIZE 16
#define MPROC__FRAME_FLAG_DEFLATED 0x01u
/* The payload is raw bytes (send_bytes), not msgpack. */
#define MPROC__FRAME_FLAG_RAW 0x02u

typedef struct mproc__frame_opts_t {
    /* Deflate payloads at least this big; 0: never. */
    size_t compress_threshold;
    /* The zlib level, 1..9. */
    int compress_level;
} mproc__frame_opts_t;

/*
 * Sets @o to @given (NULL: all defaults) with every zero field given its
 * default, as connections and queues both need. A level outside 0..9 is
 * MPROC_EINVAL, and @o is then left as it was.
 */
int mproc__codec_opts_apply(mproc_codec_opts_t *o,
                            const mproc_codec_opts_t *given);
/* The frame options @o (as applied) asks for. */
mproc__frame_opts_t mproc__codec_frame_opts(const mproc_codec_opts_t *o);

/*
 * Appends the frame of @payload to @out. @flags may carry
 * MPROC__FRAME_FLAG_RAW; deflating is decided here. A payload whose sample
 * looks incompressible is not even tried, so incompressible data costs no
 * more than the checksum.
 */
int mproc__frame_encode(const void *payload, size_t len,
                        const mproc__frame_opts_t *opts, mproc__buf_t *out);
int mproc__frame_encode_flags(const void *payload, size_t len, unsigned flags,
                              const mproc__frame_opts_t *opts,
                              mproc__buf_t *out);
/* Checks a header; *@body_len gets the body's length. */
int mproc__frame_check_header(const unsigned char *hdr, size_t max_body,
                              size_t *body_len);
/* Whether @body's checksum is the one its header @hdr carries (1) or not. */
int mproc__frame_body_ok(const unsigned char *hdr, const void *body,
                         size_t body_len);
/* Verifies the body against its header and appends the payload to @out. */
int mproc__frame_open_body(const unsigned char *hdr, const void *body,
                           size_t body_len, size_t max_payload,
                           mproc__buf_t *out);
/*
 * Opens the whole frame @frame of @len bytes (header and body, as a queue
 * record holds it): checks the header, that the body fills the rest, and
 * the body, and appends the payload (at most @max_payload bytes) to @out.
 * MPROC_ECORRUPT for a short or inconsistent frame.
 */
int mproc__frame_open(const unsigned char *frame, size_t len,
                      size_t max_payload, mproc__buf_t *out);
/*
 * The payload of the whole frame @frame (as mproc__frame_open checks it),
 * without a copy where it can: *@payload points into @frame unless the body
 * is deflated, in which case it is inflated into @scratch (emptied first).
 */
int mproc__frame_payload(const unsigned char *frame, size_t len,
                         size_t max_payload, mproc__buf_t *scratch,
                         const unsigned char **payload, size_t *payload_len);
/*
 * The pieces of an encode, for a writer that places the header and the
 * body itself (a queue writes them straight into its ring): the CRC-32 of
 * @n more bytes after @crc (0 to start), the header of a body of
 * @body_len bytes with that checksum, and whether a payload would be
 * deflated (mproc__frame_encode's test).
 */
uint32_t mproc__frame_crc(uint32_t crc, const void *p, size_t n);
void mproc__frame_put_header(unsigned char *h, unsigned flags, size_t body_len,
                             uint32_t crc);
int mproc__frame_wants_deflate(const mproc__frame_opts_t *opts,
                               const void *payload, size_t len);
/* Reads one frame from @fd and appends its payload to @out. */
int mproc__frame_read(mproc__os_fd_t fd, size_t max_payload, mproc__buf_t *out);

#endif
