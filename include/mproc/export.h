/**
 * @file mproc/export.h
 * @brief Symbol visibility for the mproc library.
 *
 * MPROC_API marks every public function. A shared build exports it (and
 * hides everything else on ELF); a static build, or a consumer of a static
 * library, defines MPROC_STATIC so nothing is decorated.
 */
#ifndef MPROC_EXPORT_H
#define MPROC_EXPORT_H

#if defined(MPROC_STATIC)
    #define MPROC_API
#elif defined(_WIN32) || defined(__CYGWIN__)
    #if defined(MPROC_BUILDING)
        #define MPROC_API __declspec(dllexport)
    #else
        #define MPROC_API __declspec(dllimport)
    #endif
#elif defined(__GNUC__)
    #define MPROC_API __attribute__((visibility("default")))
#else
    #define MPROC_API
#endif

#if defined(__MINGW32__)
    /* mingw-w64's stdio is C99-conforming (%zu, %lld): check as GNU printf. */
    #define MPROC_PRINTF(fmt, args)                                            \
        __attribute__((format(gnu_printf, fmt, args)))
    #define MPROC_NORETURN __attribute__((noreturn))
#elif defined(__GNUC__)
    /** Marks a printf-like function so the compiler checks its arguments. */
    #define MPROC_PRINTF(fmt, args) __attribute__((format(printf, fmt, args)))
    /** Marks a function that never returns. */
    #define MPROC_NORETURN __attribute__((noreturn))
#elif defined(_MSC_VER)
    #define MPROC_PRINTF(fmt, args)
    #define MPROC_NORETURN __declspec(noreturn)
#else
    #define MPROC_PRINTF(fmt, args)
    #define MPROC_NORETURN
#endif

#endif
