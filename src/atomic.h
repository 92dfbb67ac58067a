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
 * barriers), so replacing them changed no ordering. The 64-bit words must
 * be 8-byte aligned, which the shared headers that hold them guarantee on
 * 64-bit targets.
 */
#ifndef MPROC_ATOMIC_H
#define MPROC_ATOMIC_H

#include <stdint.h>

#include "mproc_os.h"

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

/*
 * A lock of one word (0 free, 1 held) for the runtime's lists in this
 * process, whose changes are a few pointer moves: a thread that finds it
 * held gives the processor away until it is free. Nothing that waits is
 * ever done under it. A fork child sets the word back to 0, since the
 * thread that held it did not come along.
 */
static inline void mproc__spin_lock(volatile uint32_t *w)
{
    while (mproc__atomic_cas32(w, 0, 1) != 0)
        mproc__os_yield();
}

static inline void mproc__spin_unlock(volatile uint32_t *w)
{
    mproc__atomic_store32(w, 0);
}

#endif
