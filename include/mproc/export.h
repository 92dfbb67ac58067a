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
    /**
     * Marks a public function: exported from a shared build, imported by
     * its users on Windows, nothing in a static build.
     */
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

/*
 * MPROC__ON_LOAD(id, stmt) defines a function @id that runs @stmt when the
 * program (or the library holding it) loads, before main(); MPROC_TARGET()
 * and MPROC_RECORD() are built on it. It is internal: use those two.
 *
 * GCC and Clang (mingw too) have constructors. MSVC runs the function
 * pointers its CRT finds in the section .CRT$XCU. The linker's /OPT:REF
 * drops data nothing refers to, and an object file of a static library
 * that nothing refers to is not linked at all, so each pointer is external
 * (as id_ptr_, in C linkage) and named to the linker with /include. Its
 * decorated name has a leading underscore on 32-bit x86 only. Being
 * external, two MPROC_TARGET()s of one name in one program are a link error
 * with MSVC (elsewhere the registry refuses a name bound to two functions).
 */
#if defined(_MSC_VER)
    #pragma section(".CRT$XCU", read)
    #if defined(__cplusplus)
        #define MPROC__EXTERN_C extern "C"
    #else
        #define MPROC__EXTERN_C
    #endif
    #if defined(_M_IX86)
        #define MPROC__LINKER_PREFIX "_"
    #else
        #define MPROC__LINKER_PREFIX ""
    #endif
    #define MPROC__ON_LOAD(id, stmt)                                           \
        static void id(void)                                                   \
        {                                                                      \
            stmt;                                                              \
        }                                                                      \
        MPROC__EXTERN_C __declspec(allocate(".CRT$XCU")) void (*id##ptr_)(     \
            void) = id;                                                        \
        __pragma(comment(linker, "/include:" MPROC__LINKER_PREFIX #id "ptr_"))
#else
    #define MPROC__ON_LOAD(id, stmt)                                           \
        __attribute__((constructor)) static void id(void)                      \
        {                                                                      \
            stmt;                                                              \
        }
#endif

#endif
