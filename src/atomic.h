/*
 * Atomics on words in memory that several processes share.
 *
 * APR's apr_atomic_* would do on most builds, but its generic build (the
 * one it falls back to where it finds no builtins) implements them with a
 * mutex in the calling process, which another process never sees: a
 * counter in a shared segment would then be updated without any exclusion
 * between processes. So the core uses the compiler's own atomics, which
 * are lock-free instructions on every target mproc builds for: GCC and
 * Clang's __atomic builtins, and MSVC's _Interlocked intrinsics.
 *
 * Every operation is sequentially consistent, as APR's are (full
 * barriers), so replacing them changed no ordering; the one exception is
 * mproc__atomic_publish64(), a release store for a position that only
 * needs to be seen after what it covers. The 64-bit words must
 * be 8-byte aligned, which the shared headers that hold them guarantee on
 * 64-bit targets.
 */
#ifndef MPROC_ATOMIC_H
#define MPROC_ATOMIC_H

#include <stdint.h>

#if defined(_MSC_VER) && !defined(__clang__)
    #include <intrin.h>

static inline uint32_t mproc__atomic_load32(volatile uint32_t *p)
{
    /* A compare-exchange that never changes anything: a full barrier. */
    return (uint32_t) _InterlockedCompareExchange((volatile long *) p, 0, 0);
}

static inline uint64_t mproc__atomic_load64(volatile uint64_t *p)
{
    return (uint64_t) _InterlockedCompareExchange64((volatile __int64 *) p, 0,
                                                    0);
}

static inline void mproc__atomic_store32(volatile uint32_t *p, uint32_t v)
{
    _InterlockedExchange((volatile long *) p, (long) v);
}

static inline uint32_t mproc__atomic_cas32(volatile uint32_t *p,
                                           uint32_t expected, uint32_t desired)
{
    return (uint32_t) _InterlockedCompareExchange(
        (volatile long *) p, (long) desired, (long) expected);
}

static inline uint64_t mproc__atomic_cas64(volatile uint64_t *p,
                                           uint64_t expected, uint64_t desired)
{
    return (uint64_t) _InterlockedCompareExchange64(
        (volatile __int64 *) p, (__int64) desired, (__int64) expected);
}

static inline void mproc__atomic_store64(volatile uint64_t *p, uint64_t v)
{
    /* 32-bit x86 has no 64-bit exchange intrinsic: loop on the CAS. */
    uint64_t old = *p;
    uint64_t seen;
    while ((seen = mproc__atomic_cas64(p, old, v)) != old)
        old = seen;
}

static inline void mproc__atomic_publish64(volatile uint64_t *p, uint64_t v)
{
    /* MSVC's exchange is the store with the barrier it needs anyway. */
    mproc__atomic_store64(p, v);
}

static inline uint32_t mproc__atomic_add32(volatile uint32_t *p, uint32_t v)
{
    return (uint32_t) _InterlockedExchangeAdd((volatile long *) p, (long) v) +
           v;
}

static inline uint64_t mproc__atomic_add64(volatile uint64_t *p, uint64_t v)
{
    uint64_t old = *p;
    uint64_t seen;
    while ((seen = mproc__atomic_cas64(p, old, old + v)) != old)
        old = seen;
    return old + v;
}

#else

/* The value *@p holds. */
static inline uint32_t mproc__atomic_load32(volatile uint32_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

static inline uint64_t mproc__atomic_load64(volatile uint64_t *p)
{
    return __atomic_load_n(p, __ATOMIC_SEQ_CST);
}

/* Sets *@p to @v. */
static inline void mproc__atomic_store32(volatile uint32_t *p, uint32_t v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

static inline void mproc__atomic_store64(volatile uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_SEQ_CST);
}

/*
 * Sets *@p to @v after every earlier write of this thread is visible (a
 * release store: no barrier against later reads, so on x86 a plain store
 * that does not wait for the cache line). For a position that a reader
 * reads before what it covers, where nothing needs a full barrier.
 */
static inline void mproc__atomic_publish64(volatile uint64_t *p, uint64_t v)
{
    __atomic_store_n(p, v, __ATOMIC_RELEASE);
}

/* Sets *@p to @desired if it holds @expected; the value it held. */
static inline uint32_t mproc__atomic_cas32(volatile uint32_t *p,
                                           uint32_t expected, uint32_t desired)
{
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    return expected;
}

static inline uint64_t mproc__atomic_cas64(volatile uint64_t *p,
                                           uint64_t expected, uint64_t desired)
{
    __atomic_compare_exchange_n(p, &expected, desired, 0, __ATOMIC_SEQ_CST,
                                __ATOMIC_SEQ_CST);
    return expected;
}

/* Adds @v to *@p; the new value. */
static inline uint32_t mproc__atomic_add32(volatile uint32_t *p, uint32_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}

static inline uint64_t mproc__atomic_add64(volatile uint64_t *p, uint64_t v)
{
    return __atomic_add_fetch(p, v, __ATOMIC_SEQ_CST);
}

#endif

/* Adds one to *@p; the new value. */
static inline uint32_t mproc__atomic_inc32(volatile uint32_t *p)
{
    return mproc__atomic_add32(p, 1);
}

/* Takes one from *@p; the new value, so 0 tells the last one. */
static inline uint32_t mproc__atomic_dec32(volatile uint32_t *p)
{
    return mproc__atomic_add32(p, (uint32_t) -1);
}

#endif
