/**
 * @file mproc/shared_memory.h
 * @brief Shared memory: named blocks, and typed Values and Arrays in them.
 *
 * Python's `multiprocessing.shared_memory.SharedMemory` and
 * `multiprocessing.sharedctypes.Value` / `Array`, in C.
 *
 * A SharedMemory (mproc_shm_t) is a block of bytes that any process can
 * attach by its name. Its creator owns the name: only the creator's
 * mproc_shm_unlink() removes it, and a process that merely attached never
 * does, whatever it does or however it ends (Python's tracker deletes a
 * block another process still uses, python/cpython#82300; this one does
 * not). A block that its creator closes without unlinking stays until the
 * process tree ends, when the resource tracker removes it, as it removes
 * what a killed tree leaves; a normal exit thus leaves nothing in
 * /dev/shm. On Windows a block is a named file mapping, which the kernel
 * frees when its last handle closes: there, unlinking removes nothing, and
 * a block no process has open is gone.
 *
 * A Value (mproc_shared_value_t) is one C scalar, an Array
 * (mproc_shared_array_t) n of them, in shared memory, named by one of
 * Python's typecodes:
 *
 * | code | C type          | code | C type               |
 * |------|-----------------|------|----------------------|
 * | `b`  | `signed char`   | `B`  | `unsigned char`      |
 * | `h`  | `short`         | `H`  | `unsigned short`     |
 * | `i`  | `int`           | `I`  | `unsigned int`       |
 * | `l`  | `long`          | `L`  | `unsigned long`      |
 * | `q`  | `long long`     | `Q`  | `unsigned long long` |
 * | `f`  | `float`         | `d`  | `double`             |
 * | `c`  | `char`          |      |                      |
 *
 * (`l` and `L` are 4 bytes on Windows and 8 on 64-bit Unix, as C's long;
 * both ends of a process tree are the same program, so they agree.)
 *
 * Each Value and Array has a lock, as Python's do: an RLock of its own by
 * default, or the Lock or RLock the caller gives, or none. Every get, set,
 * slice copy and add takes it; hold it yourself (mproc_shared_value_acquire())
 * to make several calls one step, e.g. a read followed by a write. A call
 * that takes the lock itself and finds that its holder died (MPROC_OWNERDEAD)
 * goes on, since the lock is then its own; acquire it yourself to learn of
 * such a death.
 *
 * All three are values: mproc_value_shm(), mproc_value_shared_value() and
 * mproc_value_shared_array() make references that travel as Process
 * arguments, through Queues and Pipes (pack letters `M`, `W` and `A`), and
 * the receiver reopens the same memory under every start method, with no
 * copy of the data. Unpacking a reference opens it once per process; the
 * runtime owns what it opened and lets go of it at exit: do not destroy it.
 *
 * @defgroup shared_memory Shared memory
 * @{
 */
#ifndef MPROC_SHARED_MEMORY_H
#define MPROC_SHARED_MEMORY_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/export.h"
#include "mproc/synchronize.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** @name SharedMemory */
/** @{ */

/** A process's handle on a named block of shared memory. */
typedef struct mproc_shm_t mproc_shm_t;

/**
 * Creates a block of @p size zeroed bytes named @p name, or a fresh random
 * name "mproc-<16 hex digits>" when @p name is NULL. This handle is the
 * block's creator (see mproc_shm_unlink()).
 *
 * A given name starts with "mproc-" and has at most 25 characters of
 * A-Z a-z 0-9 _ . - in all, so that the resource tracker may remove it.
 * @return 0 with *@p shm; MPROC_EEXIST if a block of that name exists;
 * MPROC_EINVAL for a size of 0 or a name not of that form; MPROC_ENOMEM;
 * MPROC_EOS.
 */
MPROC_API int mproc_shm_create(mproc_shm_t **shm, const char *name,
                               size_t size);

/**
 * Attaches the block named @p name. An attached handle never removes the
 * block: closing it and ending the process leave the block as it was.
 * @return 0 with *@p shm; MPROC_ENOTFOUND if there is no such block;
 * MPROC_EINVAL for a NULL name or one that is not a block's;
 * MPROC_ENOMEM; MPROC_EOS.
 */
MPROC_API int mproc_shm_attach(mproc_shm_t **shm, const char *name);

/** The block's name (valid as long as the handle). */
MPROC_API const char *mproc_shm_name(const mproc_shm_t *shm);
/** The block's size in bytes, as its creator asked. */
MPROC_API size_t mproc_shm_size(const mproc_shm_t *shm);
/**
 * The block's first byte in this process (aligned to 64 bytes); another
 * process maps it at another address.
 */
MPROC_API void *mproc_shm_buf(const mproc_shm_t *shm);
/** 1 if this handle created the block, else 0. */
MPROC_API int mproc_shm_is_creator(const mproc_shm_t *shm);

/**
 * Removes the block's name, so that no process attaches it any more; the
 * memory lives on while some process has it open. Only the creator's
 * handle may do it (or a fork child's copy of it).
 * @return 0; MPROC_ESTATE from an attached handle (nothing removed);
 * MPROC_ENOTFOUND if the name is gone already; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_shm_unlink(mproc_shm_t *shm);

/**
 * Closes this process's handle and unmaps the block (its name stays unless
 * it was unlinked). NULL is ignored. Do not close a block that
 * mproc_value_to_shm() opened: the runtime owns it.
 */
MPROC_API void mproc_shm_close(mproc_shm_t *shm);

/**
 * A reference to block @p shm for another process (see the file
 * comment); NULL for a NULL block or when out of memory.
 */
MPROC_API mproc_value_t *mproc_value_shm(const mproc_shm_t *shm);
/**
 * Attaches the block that reference @p v names, once per process (a second
 * call with an equal reference gives the same handle, which the runtime
 * owns).
 * @return 0 with *@p out; MPROC_ETYPE if @p v is not a block's reference;
 * the errors of mproc_shm_attach().
 */
MPROC_API int mproc_value_to_shm(const mproc_value_t *v, mproc_shm_t **out);
/** @} */

/** @name Options of Values and Arrays */
/** @{ */

/**
 * How a Value or an Array is made. A NULL pointer to options, or all
 * fields zero, gives a named object guarded by an RLock of its own.
 */
typedef struct mproc_shared_opts_t {
    /** Nonzero: no lock at all (Python's lock=False). */
    int no_lock;
    /**
     * The Lock that guards it instead of an RLock of its own; the caller
     * keeps it alive as long as the object. At most one of @c lock and
     * @c rlock.
     */
    mproc_lock_t *lock;
    /** The RLock that guards it instead of one of its own. */
    mproc_rlock_t *rlock;
    /**
     * Nonzero: anonymous memory that only fork children share (no
     * reference; MPROC_ENOTSUP where there is no fork).
     */
    int fork_only;
} mproc_shared_opts_t;
/** @} */

/** @name Value */
/** @{ */

/** A typed scalar in shared memory. */
typedef struct mproc_shared_value_t mproc_shared_value_t;

/**
 * Creates a Value of @p typecode (see the table above), whose first
 * content is the @p typecode's C type at @p init (NULL: zero).
 * @return 0 with *@p value; MPROC_EINVAL for an unknown typecode or
 * options that name two locks, or a lock and no_lock; MPROC_ENOTSUP for a
 * fork-only Value where there is no fork; MPROC_ENOMEM; MPROC_EOS.
 */
MPROC_API int mproc_shared_value_create(mproc_shared_value_t **value,
                                        char typecode, const void *init,
                                        const mproc_shared_opts_t *opts);
/** The typecode of @p v. */
MPROC_API char mproc_shared_value_typecode(const mproc_shared_value_t *v);
/**
 * The scalar itself in this process's memory (Python's get_obj()), to use
 * under the lock or with atomic operations of one's own.
 */
MPROC_API void *mproc_shared_value_ptr(const mproc_shared_value_t *v);

/**
 * Reads the scalar as an integer into *@p out (a float or double is
 * truncated toward zero), under the lock.
 * @return 0; MPROC_ERANGE for a 'Q' above INT64_MAX or a float out of
 * range (*@p out untouched); the lock's errors.
 */
MPROC_API int mproc_shared_value_get_int(mproc_shared_value_t *v, int64_t *out);
/**
 * Sets the scalar to integer @p x, under the lock.
 * @return 0; MPROC_ERANGE if @p x does not fit the type (nothing
 * changed); the lock's errors.
 */
MPROC_API int mproc_shared_value_set_int(mproc_shared_value_t *v, int64_t x);
/** Reads the scalar as a double into *@p out, under the lock. @return 0. */
MPROC_API int mproc_shared_value_get_float(mproc_shared_value_t *v,
                                           double *out);
/**
 * Sets the scalar to @p x (an integer type takes @p x truncated toward
 * zero), under the lock.
 * @return 0; MPROC_ERANGE if it does not fit (nothing changed).
 */
MPROC_API int mproc_shared_value_set_float(mproc_shared_value_t *v, double x);
/**
 * Copies the scalar's bytes, of its C type, to @p out, under the lock.
 * @return 0; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_shared_value_read(mproc_shared_value_t *v, void *out);
/** Copies a scalar of the C type from @p in, under the lock. @return 0. */
MPROC_API int mproc_shared_value_write(mproc_shared_value_t *v, const void *in);
/**
 * Adds @p delta to an integer Value as one step: under its lock, or, with
 * no lock, as one atomic operation of the CPU. The sum wraps as C's
 * unsigned arithmetic does. *@p result (unless NULL) gets the new value.
 * @return 0; MPROC_ETYPE for 'f' and 'd'; the lock's errors.
 */
MPROC_API int mproc_shared_value_add(mproc_shared_value_t *v, int64_t delta,
                                     int64_t *result);
/**
 * Acquires the Value's lock (Python's get_lock().acquire()), waiting at
 * most @p timeout seconds (MPROC_FOREVER: no limit).
 * @return 0; MPROC_OWNERDEAD (> 0) when a process died holding it (it is
 * held now, the data may be half-written); MPROC_ETIMEDOUT; MPROC_ESTATE
 * for a Value made with no lock.
 */
MPROC_API int mproc_shared_value_acquire(mproc_shared_value_t *v,
                                         double timeout);
/**
 * Releases the lock. @return 0; MPROC_ENOTOWNER; MPROC_ESTATE.
 */
MPROC_API int mproc_shared_value_release(mproc_shared_value_t *v);
/**
 * Closes this process's handle; the last handle in any process frees the
 * Value. NULL is ignored. Do not destroy a Value that
 * mproc_value_to_shared_value() opened.
 */
MPROC_API void mproc_shared_value_destroy(mproc_shared_value_t *v);

/** A reference to @p v (NULL for a fork-only Value or out of memory). */
MPROC_API mproc_value_t *
mproc_value_shared_value(const mproc_shared_value_t *v);
/**
 * The reference to @p v in *@p ref.
 * @return 0; MPROC_EFORKONLY for a fork-only Value or one whose lock is
 * fork-only; MPROC_ENOMEM.
 */
MPROC_API int mproc_shared_value_export(const mproc_shared_value_t *v,
                                        mproc_value_t **ref);
/**
 * Opens the Value reference @p ref names, a handle of the caller's own.
 * @return 0; MPROC_ETYPE; MPROC_ENOTFOUND if it no longer exists.
 */
MPROC_API int mproc_shared_value_import(mproc_shared_value_t **out,
                                        const mproc_value_t *ref);
/**
 * Opens the Value @p v refers to, once per process; the runtime owns it.
 * @return as mproc_shared_value_import().
 */
MPROC_API int mproc_value_to_shared_value(const mproc_value_t *v,
                                          mproc_shared_value_t **out);
/** @} */

/** @name Array */
/** @{ */

/** n typed elements in shared memory. */
typedef struct mproc_shared_array_t mproc_shared_array_t;

/**
 * Creates an Array of @p n elements of @p typecode, whose first content is
 * @p n elements of the C type at @p init (NULL: zeros).
 * @return 0 with *@p array; MPROC_EINVAL for an unknown typecode, @p n of
 * 0, or bad options (as mproc_shared_value_create()); MPROC_ERANGE for a
 * size beyond memory; MPROC_ENOMEM; MPROC_EOS.
 */
MPROC_API int mproc_shared_array_create(mproc_shared_array_t **array,
                                        char typecode, size_t n,
                                        const void *init,
                                        const mproc_shared_opts_t *opts);
/** The number of elements. */
MPROC_API size_t mproc_shared_array_len(const mproc_shared_array_t *a);
/** The typecode of the elements. */
MPROC_API char mproc_shared_array_typecode(const mproc_shared_array_t *a);
/** The size of one element in bytes. */
MPROC_API size_t mproc_shared_array_itemsize(const mproc_shared_array_t *a);
/**
 * The first element in this process's memory (Python's get_obj()),
 * aligned to 64 bytes; for loops of one's own under the lock, or without
 * it when nobody else writes.
 */
MPROC_API void *mproc_shared_array_ptr(const mproc_shared_array_t *a);

/**
 * Reads element @p i as an integer, under the lock.
 * @return 0; MPROC_ERANGE for @p i out of bounds or a value beyond
 * int64_t (as mproc_shared_value_get_int()).
 */
MPROC_API int mproc_shared_array_get_int(mproc_shared_array_t *a, size_t i,
                                         int64_t *out);
/**
 * Sets element @p i to integer @p x, under the lock.
 * @return 0; MPROC_ERANGE for @p i out of bounds or @p x beyond the type.
 */
MPROC_API int mproc_shared_array_set_int(mproc_shared_array_t *a, size_t i,
                                         int64_t x);
/** Reads element @p i as a double. @return 0; MPROC_ERANGE. */
MPROC_API int mproc_shared_array_get_float(mproc_shared_array_t *a, size_t i,
                                           double *out);
/** Sets element @p i to @p x. @return 0; MPROC_ERANGE. */
MPROC_API int mproc_shared_array_set_float(mproc_shared_array_t *a, size_t i,
                                           double x);
/**
 * Adds @p delta to integer element @p i as one step (see
 * mproc_shared_value_add()). @return 0; MPROC_ERANGE; MPROC_ETYPE.
 */
MPROC_API int mproc_shared_array_add(mproc_shared_array_t *a, size_t i,
                                     int64_t delta, int64_t *result);
/**
 * Copies elements [@p start, @p start + @p count) to @p out, as one step
 * under the lock (Python's `a[start:stop]`).
 * @return 0; MPROC_ERANGE if the slice passes the end (nothing copied).
 */
MPROC_API int mproc_shared_array_read(mproc_shared_array_t *a, size_t start,
                                      size_t count, void *out);
/**
 * Copies @p count elements from @p in to [@p start, @p start + @p count),
 * as one step under the lock (Python's `a[start:stop] = ...`).
 * @return 0; MPROC_ERANGE if the slice passes the end (nothing changed).
 */
MPROC_API int mproc_shared_array_write(mproc_shared_array_t *a, size_t start,
                                       const void *in, size_t count);
/**
 * A char Array ('c') as a string buffer (Python's `.value = b"..."`):
 * copies @p s and a terminating NUL if there is room for one.
 * @return 0; MPROC_ETYPE for another typecode; MPROC_ERANGE if @p s is
 * longer than the Array (nothing changed).
 */
MPROC_API int mproc_shared_array_set_str(mproc_shared_array_t *a,
                                         const char *s);
/**
 * Copies a char Array's string (its bytes up to the first NUL or its end)
 * to @p buf of @p size bytes, NUL-terminated.
 * @return the string's length (>= 0); MPROC_ETYPE for another typecode;
 * MPROC_ETOOSHORT if @p buf is too small (nothing copied).
 */
MPROC_API int mproc_shared_array_get_str(mproc_shared_array_t *a, char *buf,
                                         size_t size);
/** Acquires the Array's lock, as mproc_shared_value_acquire(). */
MPROC_API int mproc_shared_array_acquire(mproc_shared_array_t *a,
                                         double timeout);
/** Releases the Array's lock, as mproc_shared_value_release(). */
MPROC_API int mproc_shared_array_release(mproc_shared_array_t *a);
/** Closes this process's handle, as mproc_shared_value_destroy(). */
MPROC_API void mproc_shared_array_destroy(mproc_shared_array_t *a);

/** A reference to @p a (NULL for a fork-only Array or out of memory). */
MPROC_API mproc_value_t *
mproc_value_shared_array(const mproc_shared_array_t *a);
/** The reference to @p a in *@p ref; as mproc_shared_value_export(). */
MPROC_API int mproc_shared_array_export(const mproc_shared_array_t *a,
                                        mproc_value_t **ref);
/** Opens the Array @p ref names; as mproc_shared_value_import(). */
MPROC_API int mproc_shared_array_import(mproc_shared_array_t **out,
                                        const mproc_value_t *ref);
/** Opens the Array @p v refers to, once per process; the runtime owns it. */
MPROC_API int mproc_value_to_shared_array(const mproc_value_t *v,
                                          mproc_shared_array_t **out);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
