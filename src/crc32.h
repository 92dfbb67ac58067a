/*
 * CRC-32 of the frames: zlib's checksum (ISO-HDLC, reflected polynomial
 * 0xEDB88320), computed here because zlib's is the slowest step of a
 * queue (see crc32.c).
 */
#ifndef MPROC_CRC32_H
#define MPROC_CRC32_H

#include <stddef.h>
#include <stdint.h>

/*
 * The CRC-32 of @n bytes at @p after @crc (0 to start): the value zlib's
 * crc32(crc, p, n) gives, so chained calls give the checksum of the
 * concatenation.
 */
uint32_t mproc__crc32(uint32_t crc, const void *p, size_t n);

/*
 * The same by a given path, for the tests: 0 table lookups (every CPU),
 * 1 carry-less multiplication, 2 the same on 256-bit registers. A path
 * this CPU lacks gives way to the best one it has.
 */
uint32_t mproc__crc32_path(int path, uint32_t crc, const void *p, size_t n);

/*
 * The CRC-32 of @n bytes at @src after @crc, copied to @dst as they are
 * read (the buffers do not overlap): on the wide path a copy costs only
 * its stores, since the checksum has the bytes in registers; elsewhere it
 * is a memcpy beside the checksum. And the same by a given path.
 */
uint32_t mproc__crc32_copy(uint32_t crc, void *dst, const void *src, size_t n);
uint32_t mproc__crc32_copy_path(int path, uint32_t crc, void *dst,
                                const void *src, size_t n);

/* The best path of this CPU, the one mproc__crc32 takes. */
int mproc__crc32_best_path(void);

#endif
