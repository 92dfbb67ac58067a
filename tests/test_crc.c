/*
 * The frames' CRC-32: every path gives zlib's value, for every length and
 * alignment, chained or whole, so a frame checked by one process is
 * accepted by any other, whatever CPU either runs on.
 */
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"
#include "crc32.h"

#define PATHS 3 /* tables, folding, wide folding */

static unsigned char *random_bytes(size_t n)
{
    unsigned char *b = malloc(n);
    uint32_t x = 2463534242u;
    size_t i;
    CU_ASSERT_PTR_NOT_NULL_FATAL(b);
    for (i = 0; i < n; i++) {
        x ^= x << 13; /* xorshift32: any fixed, patternless bytes do */
        x ^= x >> 17;
        x ^= x << 5;
        b[i] = (unsigned char) x;
    }
    return b;
}

static uint32_t zlib_crc(uint32_t crc, const unsigned char *b, size_t n)
{
    return (uint32_t) crc32(crc, b, (uInt) n);
}

/* The check value of the standard (ISO-HDLC), independent of zlib. */
static void test_check_value_of_the_standard(void)
{
    const char *digits = "123456789";
    int path;
    CU_ASSERT_EQUAL(mproc__crc32(0, digits, 9), 0xCBF43926u);
    for (path = 0; path < PATHS; path++)
        CU_ASSERT_EQUAL(mproc__crc32_path(path, 0, digits, 9), 0xCBF43926u);
    CU_ASSERT_EQUAL(mproc__crc32(0, NULL, 0), 0);
    CU_ASSERT_EQUAL(mproc__crc32(0x12345678u, digits, 0), 0x12345678u);
}

/*
 * Every length up to past a few wide blocks, at every alignment within
 * 16 bytes, from a zero and from a running checksum: the lengths cross
 * each path's thresholds (8, 64, 128, 256) and leave every tail.
 */
static void test_every_length_and_alignment_is_zlibs(void)
{
    const size_t max_len = 1100;
    unsigned char *b = random_bytes(max_len + 16);
    size_t len, off, wrong = 0;
    int path;
    for (len = 0; len <= max_len; len++)
        for (off = 0; off < 16; off += (len < 300 ? 1 : 5))
            for (path = 0; path < PATHS; path++) {
                uint32_t seed = (uint32_t) (len * 2654435761u);
                if (mproc__crc32_path(path, 0, b + off, len) !=
                    zlib_crc(0, b + off, len))
                    wrong++;
                if (mproc__crc32_path(path, seed, b + off, len) !=
                    zlib_crc(seed, b + off, len))
                    wrong++;
            }
    CU_ASSERT_EQUAL(wrong, 0);
    free(b);
}

/* Big buffers, odd sizes, and a checksum made of pieces cut anywhere. */
static void test_large_and_chained_are_zlibs(void)
{
    const size_t n = (size_t) 3 << 20;
    unsigned char *b = random_bytes(n + 7);
    size_t sizes[] = {n, n + 7, (size_t) 1 << 20, 65536 + 13, 4093};
    size_t cuts[] = {1, 15, 64, 255, 1000, 70000};
    size_t i;
    int path;
    for (i = 0; i < sizeof sizes / sizeof sizes[0]; i++)
        for (path = 0; path < PATHS; path++)
            CU_ASSERT_EQUAL(mproc__crc32_path(path, 0, b, sizes[i]),
                            zlib_crc(0, b, sizes[i]));
    for (i = 0; i < sizeof cuts / sizeof cuts[0]; i++) {
        size_t at = 0, piece = cuts[i];
        uint32_t crc = 0;
        while (at < n) {
            size_t k = n - at < piece ? n - at : piece;
            crc = mproc__crc32(crc, b + at, k);
            at += k;
            piece = piece * 3 % 100003 + 1; /* pieces of changing sizes */
        }
        CU_ASSERT_EQUAL(crc, zlib_crc(0, b, n));
    }
    free(b);
}

/*
 * The checksum that copies: zlib's value, every byte copied, nothing
 * written past the end, for every length and both buffers' alignments.
 */
static void test_copying_checksum_copies_exactly(void)
{
    const size_t max_len = 1100, guard = 64;
    unsigned char *src = random_bytes(max_len + 16);
    unsigned char *dst = malloc(max_len + 16 + guard);
    size_t len, so, d_off, wrong = 0, i;
    int path;
    CU_ASSERT_PTR_NOT_NULL_FATAL(dst);
    for (len = 0; len <= max_len; len += (len < 300 ? 1 : 7))
        for (so = 0; so < 16; so += 5)
            for (d_off = 0; d_off < 16; d_off += 3)
                for (path = 0; path < PATHS; path++) {
                    uint32_t seed = (uint32_t) (len * 40503u);
                    memset(dst, 0xA5, max_len + 16 + guard);
                    if (mproc__crc32_copy_path(path, seed, dst + d_off,
                                               src + so, len) !=
                        zlib_crc(seed, src + so, len))
                        wrong++;
                    if (memcmp(dst + d_off, src + so, len) != 0)
                        wrong++;
                    for (i = 0; i < d_off; i++)
                        wrong += dst[i] != 0xA5;
                    for (i = d_off + len; i < max_len + 16 + guard; i++)
                        wrong += dst[i] != 0xA5;
                }
    CU_ASSERT_EQUAL(wrong, 0);
    {
        /* A megabyte and a bit, by the best path. */
        const size_t n = ((size_t) 1 << 20) + 77;
        unsigned char *big = random_bytes(n), *copy = malloc(n);
        CU_ASSERT_PTR_NOT_NULL_FATAL(copy);
        CU_ASSERT_EQUAL(mproc__crc32_copy(0, copy, big, n),
                        zlib_crc(0, big, n));
        CU_ASSERT_EQUAL(memcmp(copy, big, n), 0);
        free(big);
        free(copy);
    }
    free(src);
    free(dst);
}

/* A single flipped bit anywhere changes the checksum (what frames rely on). */
static void test_a_flipped_bit_is_seen(void)
{
    const size_t n = 4096 + 77;
    unsigned char *b = random_bytes(n);
    uint32_t good = mproc__crc32(0, b, n);
    size_t i, missed = 0;
    for (i = 0; i < n * 8; i += 7) {
        b[i / 8] ^= (unsigned char) (1u << (i % 8));
        if (mproc__crc32(0, b, n) == good)
            missed++;
        b[i / 8] ^= (unsigned char) (1u << (i % 8));
    }
    CU_ASSERT_EQUAL(missed, 0);
    free(b);
}

static const harness_test tests[] = {
    {"check value of the standard", test_check_value_of_the_standard, 0},
    {"every length and alignment is zlibs",
     test_every_length_and_alignment_is_zlibs, 0},
    {"large and chained are zlibs", test_large_and_chained_are_zlibs, 0},
    {"a flipped bit is seen", test_a_flipped_bit_is_seen, 0},
    {"copying checksum copies exactly", test_copying_checksum_copies_exactly,
     0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "crc", tests);
}
