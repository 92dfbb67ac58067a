/*
 * CRC-32, the checksum on every frame.
 *
 * The frames keep zlib's CRC-32, but not zlib's code: zlib 1.2.13 goes
 * byte by byte below 47 bytes (about 55 ns for a 16-byte message, more
 * than a raw shared-memory ring spends on the whole message) and runs at
 * about 3 GB/s above, a tenth of what a copy does, so the checksum was
 * most of a queue's time (bench/README.md, "Toward the memory limit").
 *
 * Three paths give the same value:
 *
 * - Slicing by 8 (Intel's, 2006): eight table lookups fold in eight bytes
 *   at once, about a byte per cycle, for short messages, the tails of long
 *   ones and every CPU. The tables are in crc32_table.h, written by
 *   tools/gen-crc32-table.py.
 * - Folding by carry-less multiplication (Gopal et al., "Fast CRC
 *   Computation for Generic Polynomials Using PCLMULQDQ Instruction",
 *   Intel, 2009), on x86-64 CPUs that have PCLMULQDQ (every one since
 *   2010): four 128-bit lanes are each multiplied forward by 512 bits and
 *   added to the next 64 bytes, then folded into one, reduced to 64 bits
 *   and to 32 by Barrett's method. About 11 GB/s on the reference machine
 *   (2.6 GHz), four times zlib.
 * - The same on 256-bit registers where the CPU has VPCLMULQDQ and AVX2
 *   (from 2019 on): two lanes to an instruction, eight lanes, about
 *   20 GB/s, for the bulk of anything from 256 bytes up.
 *
 * Which path runs is decided once, from the CPU, and the tests hold each
 * one to zlib's values.
 */
#include <string.h>

#include "crc32.h"
#include "atomic.h"

#include "crc32_table.h"

static uint32_t slice8(uint32_t c, const unsigned char *b, size_t n)
{
    while (n >= 8) {
        /* Little-endian by construction, whatever the CPU's order. */
        uint32_t a = c ^ ((uint32_t) b[0] | (uint32_t) b[1] << 8 |
                          (uint32_t) b[2] << 16 | (uint32_t) b[3] << 24);
        c = crc32_table[7][a & 0xff] ^ crc32_table[6][(a >> 8) & 0xff] ^
            crc32_table[5][(a >> 16) & 0xff] ^ crc32_table[4][a >> 24] ^
            crc32_table[3][b[4]] ^ crc32_table[2][b[5]] ^ crc32_table[1][b[6]] ^
            crc32_table[0][b[7]];
        b += 8;
        n -= 8;
    }
    while (n-- > 0)
        c = crc32_table[0][(c ^ *b++) & 0xff] ^ (c >> 8);
    return c;
}

#if (defined(__x86_64__) || defined(_M_X64)) &&                                \
    (defined(__GNUC__) || defined(_MSC_VER))
    #define MPROC__CRC32_CLMUL 1
    #include <immintrin.h>
    #if defined(__GNUC__) || defined(__clang__)
        /* The two paths' instructions, for their functions only. */
        #define CLMUL_TARGET __attribute__((target("pclmul,sse2")))
        #define WIDE_TARGET                                                    \
            __attribute__((target("avx2,vpclmulqdq,pclmul,sse2")))
    #else
        #define CLMUL_TARGET
        #define WIDE_TARGET
    #endif
    #if defined(_MSC_VER)
        #include <intrin.h> /* __cpuidex, also under clang-cl */
    #else
        #include <cpuid.h>
    #endif

/* Lane @x carried ahead by the distance of the constants @k, onto @next. */
CLMUL_TARGET static inline __m128i fold(__m128i x, __m128i k, __m128i next)
{
    __m128i lo = _mm_clmulepi64_si128(x, k, 0x00);
    __m128i hi = _mm_clmulepi64_si128(x, k, 0x11);
    return _mm_xor_si128(_mm_xor_si128(lo, hi), next);
}

static inline __m128i load(const unsigned char *b)
{
    return _mm_loadu_si128((const __m128i *) (const void *) b);
}

/*
 * The folding constants (bit-reflected, 33 bits each): the low and high
 * halves of a lane times x^(d+32) and x^(d-32) mod P carry it d bits
 * ahead. Distances: 1024 bits (eight lanes), 512 (four) and 128 (one).
 */
    #define K_1024_LO 0x1e88ef372
    #define K_1024_HI 0x14a7fe880
    #define K_512_LO 0x154442bd4
    #define K_512_HI 0x1c6e41596
    #define K_128_LO 0x1751997d0
    #define K_128_HI 0x0ccaa009e

/*
 * The first @n bytes (a multiple of 128, at least 256) folded into the
 * eight lanes of the last 128, two lanes to a 256-bit register, on CPUs
 * with VPCLMULQDQ: one instruction multiplies two lanes, which on this
 * project's reference machine nearly doubles the rate of the four-lane
 * loop below. The lanes are left in @lanes, in the order of the bytes;
 * and the bytes are copied to @dst unless it is NULL.
 */
WIDE_TARGET static void fold_wide(uint32_t c, const unsigned char *b, size_t n,
                                  __m128i lanes[8], unsigned char *dst)
{
    const __m256i k =
        _mm256_set_epi64x(K_1024_HI, K_1024_LO, K_1024_HI, K_1024_LO);
    __m256i y[4];
    int i;
    for (i = 0; i < 4; i++) {
        y[i] =
            _mm256_loadu_si256((const __m256i *) (const void *) (b + 32 * i));
        if (dst != NULL)
            _mm256_storeu_si256((__m256i *) (void *) (dst + 32 * i), y[i]);
    }
    y[0] = _mm256_xor_si256(y[0],
                            _mm256_zextsi128_si256(_mm_cvtsi32_si128((int) c)));
    for (b += 128, n -= 128; n >= 128; b += 128, n -= 128) {
        if (dst != NULL)
            dst += 128;
        for (i = 0; i < 4; i++) {
            __m256i lo = _mm256_clmulepi64_epi128(y[i], k, 0x00);
            __m256i hi = _mm256_clmulepi64_epi128(y[i], k, 0x11);
            __m256i next = _mm256_loadu_si256(
                (const __m256i *) (const void *) (b + 32 * i));
            /* A copy costs only its stores: the bytes are in registers. */
            if (dst != NULL)
                _mm256_storeu_si256((__m256i *) (void *) (dst + 32 * i), next);
            y[i] = _mm256_xor_si256(_mm256_xor_si256(lo, hi), next);
        }
    }
    for (i = 0; i < 4; i++) {
        lanes[2 * i] = _mm256_castsi256_si128(y[i]);
        lanes[2 * i + 1] = _mm256_extracti128_si256(y[i], 1);
    }
}

/*
 * The CRC register @c (not inverted) after @n bytes, @n a multiple of 16
 * and at least 64: four lanes of 16 bytes, each multiplied 512 bits ahead
 * and added to the next 64 bytes, then folded into one, reduced to 64
 * bits by x^64 mod P and to 32 by Barrett's method (P' and mu = x^64 / P).
 */
CLMUL_TARGET static uint32_t crc32_clmul(uint32_t c, const unsigned char *b,
                                         size_t n, int wide, unsigned char *dst)
{
    const __m128i k512 = _mm_set_epi64x(K_512_HI, K_512_LO);
    const __m128i k128 = _mm_set_epi64x(K_128_HI, K_128_LO);
    const __m128i k64 = _mm_set_epi64x(0, 0x163cd6124);
    const __m128i poly_mu = _mm_set_epi64x(0x1f7011641, 0x1db710641);
    const __m128i low32 = _mm_setr_epi32(-1, 0, -1, 0);
    __m128i x1, x2, x3, x4, t;

    if (wide && n >= 256) {
        __m128i l[8];
        size_t whole = n & ~(size_t) 127;
        fold_wide(c, b, whole, l, dst);
        x1 = fold(l[0], k512, l[4]);
        x2 = fold(l[1], k512, l[5]);
        x3 = fold(l[2], k512, l[6]);
        x4 = fold(l[3], k512, l[7]);
        b += whole;
        n -= whole;
        if (dst != NULL && n > 0)
            memcpy(dst + whole, b, n); /* the last 16 to 112 bytes */
    } else {
        if (dst != NULL)
            memcpy(dst, b, n);
        x1 = _mm_xor_si128(load(b), _mm_cvtsi32_si128((int) c));
        x2 = load(b + 16);
        x3 = load(b + 32);
        x4 = load(b + 48);
        b += 64;
        n -= 64;
    }
    for (; n >= 64; b += 64, n -= 64) {
        x1 = fold(x1, k512, load(b));
        x2 = fold(x2, k512, load(b + 16));
        x3 = fold(x3, k512, load(b + 32));
        x4 = fold(x4, k512, load(b + 48));
    }
    x1 = fold(x1, k128, x2);
    x1 = fold(x1, k128, x3);
    x1 = fold(x1, k128, x4);
    for (; n >= 16; b += 16, n -= 16)
        x1 = fold(x1, k128, load(b));

    /* 128 bits to 64: the low half times x^64 mod P, onto the high half. */
    t = _mm_clmulepi64_si128(x1, k128, 0x10);
    x1 = _mm_xor_si128(_mm_srli_si128(x1, 8), t);
    /* 96 bits to 64: the low 32 times x^64 mod P, onto the rest. */
    t = _mm_srli_si128(x1, 4);
    x1 = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), k64, 0x00);
    x1 = _mm_xor_si128(x1, t);
    /* Barrett: q = floor(x / P) by mu, x - q * P leaves the remainder. */
    t = _mm_clmulepi64_si128(_mm_and_si128(x1, low32), poly_mu, 0x10);
    t = _mm_clmulepi64_si128(_mm_and_si128(t, low32), poly_mu, 0x00);
    x1 = _mm_xor_si128(x1, t);
    return (uint32_t) _mm_cvtsi128_si32(_mm_srli_si128(x1, 4));
}

/*
 * The CPU's answers, by the cpuid instruction itself: the compilers'
 * feature tests (__builtin_cpu_supports) read globals of their runtime
 * library, which a Windows build would then carry among its own symbols.
 */
static void cpuid(unsigned leaf, unsigned r[4])
{
    #if !defined(_MSC_VER)
    __cpuid_count(leaf, 0, r[0], r[1], r[2], r[3]);
    #else
    int v[4];
    __cpuidex(v, (int) leaf, 0);
    r[0] = (unsigned) v[0];
    r[1] = (unsigned) v[1];
    r[2] = (unsigned) v[2];
    r[3] = (unsigned) v[3];
    #endif
}

/* Which register state the OS saves (XCR0). */
static uint64_t os_saved_state(void)
{
    #if defined(__GNUC__) || defined(__clang__)
    uint32_t lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (uint64_t) hi << 32 | lo;
    #else
    return _xgetbv(0);
    #endif
}

/* The best path this CPU has: 2 wide folding, 1 folding, 0 tables. */
static int cpu_best_path(void)
{
    unsigned r1[4], r7[4];
    cpuid(0, r1);
    if (r1[0] < 1)
        return 0;
    cpuid(1, r1);
    /* ECX bit 1 PCLMULQDQ; EDX bit 26 SSE2 (every x86-64 has it). */
    if (!((r1[2] >> 1) & 1) || !((r1[3] >> 26) & 1))
        return 0;
    /* ECX bits 27 OSXSAVE and 28 AVX; the OS saves the SSE and AVX
     * registers (XCR0 bits 1 and 2); leaf 7: EBX bit 5 AVX2, ECX bit 10
     * VPCLMULQDQ. */
    cpuid(0, r7);
    if (r7[0] >= 7 && ((r1[2] >> 27) & 3) == 3 && (os_saved_state() & 6) == 6) {
        cpuid(7, r7);
        if (((r7[1] >> 5) & 1) && ((r7[2] >> 10) & 1))
            return 2;
    }
    return 1;
}

/* 0 not yet asked, else the best path + 1. */
static volatile uint32_t best_path;

int mproc__crc32_best_path(void)
{
    uint32_t s = mproc__atomic_load32(&best_path);
    if (s == 0) {
        /* Threads that race here compute the same answer. */
        s = (uint32_t) cpu_best_path() + 1;
        mproc__atomic_store32(&best_path, s);
    }
    return (int) s - 1;
}

/* The CRC of @n bytes at @src by @path, copied to @dst unless NULL. */
static uint32_t crc_and_copy(int path, uint32_t crc, const unsigned char *b,
                             size_t n, unsigned char *dst)
{
    uint32_t c = ~crc;
    int best = mproc__crc32_best_path();
    if (path > best)
        path = best;
    if (n >= 64 && path > 0) {
        size_t whole = n & ~(size_t) 15;
        c = crc32_clmul(c, b, whole, path > 1, dst);
        b += whole;
        n -= whole;
        if (dst != NULL)
            dst += whole;
    }
    if (dst != NULL && n > 0)
        memcpy(dst, b, n);
    return ~slice8(c, b, n);
}

uint32_t mproc__crc32_path(int path, uint32_t crc, const void *p, size_t n)
{
    return crc_and_copy(path, crc, p, n, NULL);
}

uint32_t mproc__crc32(uint32_t crc, const void *p, size_t n)
{
    return crc_and_copy(2, crc, p, n, NULL);
}

uint32_t mproc__crc32_copy_path(int path, uint32_t crc, void *dst,
                                const void *src, size_t n)
{
    return crc_and_copy(path, crc, src, n, dst);
}

uint32_t mproc__crc32_copy(uint32_t crc, void *dst, const void *src, size_t n)
{
    return crc_and_copy(2, crc, src, n, dst);
}

#else

int mproc__crc32_best_path(void)
{
    return 0;
}

uint32_t mproc__crc32_path(int path, uint32_t crc, const void *p, size_t n)
{
    (void) path;
    return ~slice8(~crc, p, n);
}

uint32_t mproc__crc32(uint32_t crc, const void *p, size_t n)
{
    return ~slice8(~crc, p, n);
}

uint32_t mproc__crc32_copy_path(int path, uint32_t crc, void *dst,
                                const void *src, size_t n)
{
    (void) path;
    return mproc__crc32_copy(crc, dst, src, n);
}

uint32_t mproc__crc32_copy(uint32_t crc, void *dst, const void *src, size_t n)
{
    if (n > 0)
        memcpy(dst, src, n);
    return ~slice8(~crc, src, n);
}

#endif
