/**
 * @file mproc/pack.h
 * @brief Building and reading argument lists with format strings.
 *
 * Python writes `Process(target=worker, args=(i, name, lock))`. In C the
 * same list is one call, in the idiom of GLib's g_variant_new() and
 * jansson's json_pack():
 * @code
 * mproc_value_t *args = mproc_pack("isL", i, name, lock);
 * @endcode
 * and the target reads it back with the same letters:
 * @code
 * int i;
 * const char *name;
 * mproc_lock_t *lock;
 * if (mproc_unpack(args, "isL", &i, &name, &lock) < 0)
 *     mproc_raise_last();
 * @endcode
 *
 * The letters, each with what mproc_pack() reads -> what mproc_unpack()
 * stores:
 *
 * - `n` nil: nothing -> nothing (the item must be nil)
 * - `b` bool: `int` -> `int *`
 * - `i` integer: `int` -> `int *` (an integer beyond int is MPROC_ERANGE)
 * - `I` integer: `int64_t` -> `int64_t *`
 * - `f` float: `double` -> `double *` (an integer item is converted)
 * - `s` string: `const char *`, not NULL -> `const char **`, borrowed
 * - `y` bytes: `const void *, size_t` -> `const void **, size_t *`,
 *   borrowed
 * - `v` any value: `mproc_value_t *`, taken over ->
 *   `const mproc_value_t **`, borrowed
 * - `V` any value: `const mproc_value_t *`, copied (pack only)
 * - `*` skips one item of any kind (unpack only)
 * - `[ ... ]` a list of the items inside; unpacked, a list of exactly
 *   those items
 * - `{ ... }` a map of alternating keys and values (pack only; read a map
 *   with `v`)
 * - `L` lock: `const mproc_lock_t *` -> `mproc_lock_t **`
 * - `R` rlock: `const mproc_rlock_t *` -> `mproc_rlock_t **`
 * - `S` semaphore: `const mproc_sem_t *` -> `mproc_sem_t **`
 * - `E` event: `const mproc_event_t *` -> `mproc_event_t **`
 * - `C` condition: `const mproc_cond_t *` -> `mproc_cond_t **`
 * - `B` barrier: `const mproc_barrier_t *` -> `mproc_barrier_t **`
 * - `Q` queue: `const mproc_queue_t *` -> `mproc_queue_t **`
 * - `P` connection: `const mproc_conn_t *` -> `mproc_conn_t **`
 * - `M` shared memory block: `const mproc_shm_t *` -> `mproc_shm_t **`
 * - `W` shared Value: `const mproc_shared_value_t *` ->
 *   `mproc_shared_value_t **` (`V` is taken by a copied value)
 * - `A` shared Array: `const mproc_shared_array_t *` ->
 *   `mproc_shared_array_t **`
 * - `D` managed dict: `const mproc_dict_t *` -> `mproc_dict_t **`
 * - `T` managed list: `const mproc_list_t *` -> `mproc_list_t **`
 *   (`L` is the Lock's)
 * - `N` managed Namespace: `const mproc_namespace_t *` ->
 *   `mproc_namespace_t **`
 *
 * A reference letter packs a reference to the object (mproc_value_lock()
 * and its siblings in mproc/synchronize.h, mproc/queue.h and
 * mproc/connection.h, mproc/shared_memory.h and mproc/manager.h). Unpacking it
 * opens the object in the receiving process (mproc_value_to_lock() and its
 * siblings): once per process, so a second unpack of an equal reference gives
 * the same object, which the runtime owns and lets go of at exit; do not
 * destroy it.
 *
 * Whitespace in a format is ignored. Arguments are read with va_arg()
 * exactly as the list says, so an argument of another type is undefined
 * behaviour, as with printf(): `i` reads an `int` (a `char`, `short` or
 * `int` promotes to it), and a 64-bit value needs `I` with an `int64_t` (or
 * a cast to it). Compilers do not check these formats, so keep the letters
 * next to the arguments.
 *
 * @defgroup pack Pack and unpack
 * @{
 */
#ifndef MPROC_PACK_H
#define MPROC_PACK_H

#include "mproc/export.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/**
 * Builds a list of the items @p fmt describes (see the list above).
 *
 * The result is a list even for one item (`mproc_pack("i", 7)` is `[7]`),
 * the shape of a target's arguments; `mproc_pack("")` is the empty list.
 * @return the new list, which the caller owns; NULL on failure, with
 * mproc_last_error() saying why: a bad format (naming the letter and its
 * offset in @p fmt), a NULL string for `s`, a NULL value for `v` or `V`
 * (a constructor that failed), a NULL object for a reference letter, an
 * object that has no reference (a fork-only one; mproc_perror() returns
 * that failure's status, MPROC_EFORKONLY), or memory running out. On failure
 * the values given with `v` are freed too, so none leaks: all of them for a
 * failure of an item, and those before the offending letter for a bad
 * format (what comes after it cannot be read).
 */
MPROC_API mproc_value_t *mproc_pack(const char *fmt, ...);

/**
 * Reads the items of @p list as @p fmt describes (see the list above),
 * storing each into the pointer given for it; a NULL pointer skips the
 * store but still checks the item. @p list may also be a record, whose
 * fields are read as a list's items are (what a record's behaviour does
 * with its argument).
 *
 * Unpacking is strict, as Python's `a, b = args` is: the list and every
 * nested list have exactly as many items as the format has letters at that
 * level, and every item has the type its letter names. Strings, bytes and
 * values are borrowed from @p list and live as long as it does.
 * @return 0; MPROC_ETYPE with a sentence naming the item (its index, and
 * its path in nested lists), what the letter expected and what was found;
 * MPROC_ERANGE when a list is shorter or longer than the format, or an
 * integer does not fit an `int` for `i`; MPROC_EINVAL for a NULL list or
 * a bad format; the status of mproc_value_to_lock() and its siblings when
 * a referenced object cannot be opened (MPROC_ENOTFOUND: it no longer
 * exists). On failure, stores before the failing item may have been
 * made; nothing needs freeing.
 */
MPROC_API int mproc_unpack(const mproc_value_t *list, const char *fmt, ...);

#ifdef __cplusplus
}
#endif

/** @} */
#endif
