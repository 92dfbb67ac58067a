/**
 * @file mproc/codec.h
 * @brief How messages are framed: the options connections and queues share.
 *
 * Pipes and queues carry the same checksummed frames, so they take the same
 * options for them, embedded as `.codec` in mproc_conn_opts_t and
 * mproc_queue_opts_t. Every field's zero means its default.
 *
 * @defgroup codec Message options
 * @{
 */
#ifndef MPROC_CODEC_H
#define MPROC_CODEC_H

#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

/** How messages are limited and deflated; zero means default. */
typedef struct mproc_codec_opts_t {
    /**
     * The largest message accepted, in bytes; default 64 MiB. A bigger one
     * is refused with MPROC_ETOOBIG before anything is sent.
     */
    size_t max_message;
    /** Deflate messages at least this big, in bytes; default 64 KiB. */
    size_t compress_threshold;
    /**
     * The zlib level, 1 (fastest) to 9 (smallest); default 1. Anything
     * else is MPROC_EINVAL.
     */
    int compress_level;
    /** Nonzero: never deflate, whatever the threshold. */
    int no_compress;
} mproc_codec_opts_t;

#ifdef __cplusplus
}
#endif

/** @} */

#endif
