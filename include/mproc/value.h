/**
 * @file mproc/value.h
 * @brief Dynamic values: what crosses a process boundary.
 *
 * A value is nil, a bool, a 64-bit integer, a double, a UTF-8 string, a byte
 * string, a list of values or a map from values to values: the subset of
 * Python objects that every child can rebuild, whatever its start method.
 * Values are encoded with msgpack on the wire.
 *
 * A reference (MPROC_VALUE_REF) stands for a shared mproc object: a lock,
 * a queue, a connection... It is built from the object (mproc_value_lock(),
 * mproc_value_queue(), ...) and turned back into one in the receiving process
 * (mproc_value_to_lock(), ...), as pickling a multiprocessing.Lock does. On
 * the wire it is a msgpack extension type of its own, so no user value,
 * whatever its shape, is ever taken for one.
 *
 * A record is C's version of a pickled class instance: a registered type
 * name and a list of fields. The receiving process finds the type's
 * behaviour by its name (mproc_record_call()), as unpickling finds a class
 * by its qualified name.
 *
 * Ownership is simple: a constructor returns a new value that the caller
 * owns and frees with mproc_value_free(). Adding a value to a list or a map
 * moves it into the container, which then frees it. The accessors return
 * borrowed pointers that live as long as the container.
 *
 * Constructors return NULL when memory runs out. The container functions
 * accept a NULL item and then fail with MPROC_ENOMEM, so a chain of
 * constructions can be checked once at the end:
 * @code
 * mproc_value_t *args = mproc_value_list_of(2, mproc_value_int(7),
 *                                           mproc_value_str("seven"));
 * if (args == NULL) return MPROC_ENOMEM;
 * @endcode
 *
 * @defgroup value Values
 * @{
 */
#ifndef MPROC_VALUE_H
#define MPROC_VALUE_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/export.h"

#ifdef __cplusplus
extern "C" {
#endif

/** The kinds of value. */
typedef enum mproc_value_type_e {
    MPROC_VALUE_NIL = 0, /**< Python's None */
    MPROC_VALUE_BOOL,    /**< true or false */
    MPROC_VALUE_INT,     /**< a signed 64-bit integer */
    MPROC_VALUE_FLOAT,   /**< a double */
    MPROC_VALUE_STR,     /**< UTF-8 text (may hold NUL bytes; has a length) */
    MPROC_VALUE_BYTES,   /**< an opaque byte string */
    MPROC_VALUE_LIST,    /**< an ordered list of values */
    MPROC_VALUE_MAP,     /**< ordered key/value pairs, keys of any kind */
    MPROC_VALUE_RECORD,  /**< a user record: a type name and its fields */
    MPROC_VALUE_REF      /**< a reference to a shared mproc object */
} mproc_value_type_e;

/** What a reference (MPROC_VALUE_REF) refers to. */
typedef enum mproc_ref_kind_e {
    MPROC_REF_NONE = 0, /**< not a reference */
    MPROC_REF_LOCK,     /**< a Lock (mproc_value_lock()) */
    MPROC_REF_RLOCK,    /**< an RLock (mproc_value_rlock()) */
    MPROC_REF_SEM,      /**< a Semaphore or BoundedSemaphore */
    MPROC_REF_EVENT,    /**< an Event */
    MPROC_REF_COND,     /**< a Condition, with its lock */
    MPROC_REF_BARRIER,  /**< a Barrier */
    MPROC_REF_QUEUE,    /**< a Queue, SimpleQueue or JoinableQueue */
    MPROC_REF_CONN,     /**< a connection (one end of a Pipe) */
    MPROC_REF_SHM,      /**< a SharedMemory block (mproc_value_shm()) */
    MPROC_REF_VALUE,    /**< a shared Value (mproc_value_shared_value()) */
    MPROC_REF_ARRAY,    /**< a shared Array (mproc_value_shared_array()) */
    MPROC_REF_DICT,     /**< a managed dict (mproc_value_dict_proxy()) */
    MPROC_REF_LIST,     /**< a managed list (mproc_value_list_proxy()) */
    MPROC_REF_NAMESPACE /**< a managed Namespace (mproc_value_namespace_proxy())
                         */
} mproc_ref_kind_e;

/**
 * The deepest nesting a value may have to cross a process boundary.
 *
 * Each list, map and reference counts one level, and a record two (on the
 * wire its fields are a list inside the record), wherever it sits: as an
 * item, a key, a value or a field. A list of integers has depth 1, a list
 * holding that list depth 2, a scalar depth 0.
 *
 * Sending a deeper value (mproc_queue_put(), mproc_conn_send(), a start
 * argument) fails with MPROC_EINVAL and a sentence naming this limit, and
 * nothing is sent, because no receiver could decode it. A received message
 * that nests deeper is corrupt input (MPROC_ECORRUPT): the receiver's
 * stack and memory stay bounded whatever a peer sends.
 */
#define MPROC_VALUE_MAX_DEPTH 32

/** An opaque dynamic value. */
typedef struct mproc_value_t mproc_value_t;

/** @name Construction (each returns NULL when out of memory) */
/** @{ */
/** Nil, Python's None. */
MPROC_API mproc_value_t *mproc_value_nil(void);
/** A bool: true if @p b is nonzero. */
MPROC_API mproc_value_t *mproc_value_bool(int b);
/** A 64-bit integer. */
MPROC_API mproc_value_t *mproc_value_int(int64_t i);
/** A double. */
MPROC_API mproc_value_t *mproc_value_float(double d);
/** A string copied from NUL-terminated @p s; NULL @p s gives NULL. */
MPROC_API mproc_value_t *mproc_value_str(const char *s);
/** A string of @p len bytes copied from @p s. */
MPROC_API mproc_value_t *mproc_value_strn(const char *s, size_t len);
/** A byte string of @p len bytes copied from @p data. */
MPROC_API mproc_value_t *mproc_value_bytes(const void *data, size_t len);
/** An empty list. */
MPROC_API mproc_value_t *mproc_value_list(void);
/**
 * A list of @p n items, which it takes over. If any item is NULL (a failed
 * constructor), the others are freed and the result is NULL.
 */
MPROC_API mproc_value_t *mproc_value_list_of(size_t n, ...);
/** An empty map. */
MPROC_API mproc_value_t *mproc_value_map(void);
/** A deep copy of @p v; NULL when out of memory. */
MPROC_API mproc_value_t *mproc_value_copy(const mproc_value_t *v);
/** Frees @p v and everything in it. NULL is ignored. */
MPROC_API void mproc_value_free(mproc_value_t *v);
/** @} */

/** @name Records */
/** @{ */
/**
 * A record of type @p type with the fields of the list @p fields, which it
 * takes over (NULL for none). The type need not be registered to build one,
 * but sending an unregistered type fails with MPROC_ENOTREG.
 */
MPROC_API mproc_value_t *mproc_value_record(const char *type,
                                            mproc_value_t *fields);
/**
 * A record's behaviour: what Python's __call__ would return, as a new value
 * (or NULL for None).
 */
typedef mproc_value_t *(*mproc_record_fn)(const mproc_value_t *record);
/**
 * Registers @p type, with @p call as its behaviour (may be NULL). Like
 * targets, types must be registered before mproc_main().
 * @return 0; MPROC_EINVAL for an empty name or a name already registered to
 * another function; MPROC_ENOMEM.
 */
MPROC_API int mproc_register_record(const char *type, mproc_record_fn call);
/** Registers record type @p type with behaviour @p fn when the program loads.
 */
#define MPROC_RECORD(type, fn)                                                 \
    MPROC__ON_LOAD(mproc_record_##type##_, mproc_register_record(#type, fn))
/** The type name of a record, or NULL. */
MPROC_API const char *mproc_value_record_type(const mproc_value_t *v);
/**
 * Calls the behaviour registered for @p record's type in this process.
 * @return 0 with *@p result (the caller frees it; NULL for none);
 * MPROC_ENOTREG if this program has no such type; MPROC_EINVAL if @p record
 * is not a record or its type has no behaviour.
 */
MPROC_API int mproc_record_call(const mproc_value_t *record,
                                mproc_value_t **result);
/** @} */

/** @name Containers */
/** @{ */
/**
 * Appends @p item to @p list, which takes it over (also on failure).
 * @return 0; MPROC_EINVAL if @p list is not a list; MPROC_ENOMEM if @p item
 * is NULL or the list cannot grow.
 */
MPROC_API int mproc_value_append(mproc_value_t *list, mproc_value_t *item);
/**
 * Sets @p map[@p key] = @p value, replacing an equal key's value. The map
 * takes over both (also on failure).
 * @return 0; MPROC_EINVAL if @p map is not a map; MPROC_ENOMEM.
 */
MPROC_API int mproc_value_map_set(mproc_value_t *map, mproc_value_t *key,
                                  mproc_value_t *value);
/** mproc_value_map_set() with a string key copied from @p key. */
MPROC_API int mproc_value_map_set_str(mproc_value_t *map, const char *key,
                                      mproc_value_t *value);
/**
 * The number of items of a list, fields of a record, pairs of a map, bytes
 * of a string; else 0.
 */
MPROC_API size_t mproc_value_len(const mproc_value_t *v);
/** Item @p i of a list (field @p i of a record), or NULL. */
MPROC_API const mproc_value_t *mproc_value_at(const mproc_value_t *v, size_t i);
/** The value stored under string key @p key, or NULL. */
MPROC_API const mproc_value_t *mproc_value_get(const mproc_value_t *map,
                                               const char *key);
/** The key of pair @p i of a map, or NULL. */
MPROC_API const mproc_value_t *mproc_value_key_at(const mproc_value_t *map,
                                                  size_t i);
/** The value of pair @p i of a map, or NULL. */
MPROC_API const mproc_value_t *mproc_value_value_at(const mproc_value_t *map,
                                                    size_t i);
/** @} */

/** @name Inspection */
/** @{ */
/** The kind of @p v; MPROC_VALUE_NIL for a NULL pointer. */
MPROC_API mproc_value_type_e mproc_value_type(const mproc_value_t *v);
/** The truth of a bool, or 0 for any other kind. */
MPROC_API int mproc_value_as_bool(const mproc_value_t *v);
/** An integer (a float is truncated), or 0 for any other kind. */
MPROC_API int64_t mproc_value_as_int(const mproc_value_t *v);
/** A float (an integer is converted), or 0.0 for any other kind. */
MPROC_API double mproc_value_as_float(const mproc_value_t *v);
/**
 * The text of a string (always NUL-terminated), or NULL for any other kind.
 * mproc_value_len() gives its length in bytes.
 */
MPROC_API const char *mproc_value_as_str(const mproc_value_t *v);
/** The bytes of a byte string or a string, or NULL; @p len gets the size. */
MPROC_API const void *mproc_value_as_bytes(const mproc_value_t *v, size_t *len);
/**
 * What reference @p v refers to; MPROC_REF_NONE if @p v is not a reference
 * (or NULL).
 */
MPROC_API mproc_ref_kind_e mproc_value_ref_kind(const mproc_value_t *v);
/**
 * Deep equality: same kinds and contents (1), or not (0). Two references
 * are equal when they refer to the same object in the same way.
 */
MPROC_API int mproc_value_equal(const mproc_value_t *a, const mproc_value_t *b);
/**
 * @p v as Python's repr() writes the value it stands for, for example:
 * @code
 * None   True   3   0.1   1e+16   'text'   b'\x00'   [1, 'two']   {0: 0, 1: 2}
 * @endcode
 * A record reads as its type and fields, point(1, 2), and a reference as
 * its kind, lock reference in angle brackets; a value nested deeper than
 * 100 levels is cut short with an ellipsis. Strings are quoted and
 * escaped as Python quotes them (single quotes unless the text holds one
 * and no double quote; backslash, quotes, tabs, newlines and other
 * control characters escaped).
 * @return a new NUL-terminated string that the caller frees with free();
 * NULL when out of memory.
 */
MPROC_API char *mproc_value_repr(const mproc_value_t *v);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
