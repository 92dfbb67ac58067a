/**
 * @file mproc/manager.h
 * @brief Managers: a dict, a list and a Namespace kept in a server process
 * and used from any process through proxies, as multiprocessing.Manager.
 *
 * A manager is a server process that the program starts
 * (mproc_manager_start(), Python's `Manager()`), or that another program
 * started and serves on TCP (mproc_manager_connect(), Python's
 * `BaseManager(address=..., authkey=...).connect()`). It holds shared
 * objects, a **dict**, a **list** and a **Namespace**, and every process
 * reaches them through a **proxy** (mproc_dict_t, mproc_list_t,
 * mproc_namespace_t): each call of a proxy is a request to the server,
 * which runs it on the object and answers. One object's operations are
 * atomic: a call never sees another half done.
 *
 * @code
 * mproc_manager_t *m;
 * mproc_dict_t *d;
 * if (mproc_manager_start(&m, NULL) < 0 || mproc_dict_create(&d, m, NULL) < 0)
 *     return mproc_perror("manager"), 1;
 * // a child: mproc_spawn(&p, &o, mproc_pack("iD", i, d)), and there
 * //     mproc_dict_set(d, mproc_value_int(i), mproc_value_int(i * 2));
 * @endcode
 *
 * **Values are copies.** What a call stores is a copy of the value given,
 * and what it returns is a copy of the value stored, exactly as in Python:
 * a list read from a dict and appended to changes only the copy (store it
 * again to change the dict's). A *proxy* stored in a managed object is a
 * live reference instead: a list proxy kept in a dict refers to the same
 * managed list from every process that reads it.
 *
 * **Taking over.** As mproc_value_map_set() does, every call here takes
 * over each `mproc_value_t *` it is given (keys, values, defaults), also
 * when it fails, so that a constructor can be written inline:
 * @code
 * mproc_dict_set(d, mproc_value_str("k"), mproc_value_int(1));
 * @endcode
 * A NULL value (a constructor that ran out of memory) fails the call with
 * MPROC_ENOMEM. A value returned through an out-parameter is new, and
 * the caller frees it with mproc_value_free().
 *
 * **Keys** of a dict are nil, bools, integers, floats, strings and byte
 * strings (Python's hashable values); equal numbers are one key, as in
 * Python (`1`, `1.0` and `True`). A dict keeps its insertion order.
 *
 * **Proxies are values.** mproc_value_dict_proxy() (pack letter `D`),
 * mproc_value_list_proxy() (`T`) and mproc_value_namespace_proxy() (`N`)
 * make references that travel as Process arguments under every start
 * method, through Queues and Pipes, and into managed objects; the
 * receiver opens them with mproc_value_to_dict_proxy() and its siblings.
 * A reference keeps its object alive until a process opens it, or until
 * the process that made it ends. The server frees an object when no proxy,
 * no reference in transit and no managed object refers to it any more;
 * objects that refer to each other in a cycle, once nothing else does,
 * within a number of releases (docs/manager.md), at a client's end or at
 * mproc_manager_count_objects().
 *
 * **Failure.** A call whose manager has ended (shut down, killed, its host
 * gone) fails at once with MPROC_EMANAGER and a sentence that names the
 * manager; it never hangs. What the object refuses has the status of
 * Python's exception: MPROC_ENOTFOUND for a KeyError (`KeyError: 'a'`) or
 * a value not in a list, MPROC_ERANGE for an IndexError, MPROC_ETYPE for a
 * TypeError, MPROC_ENOATTR for a Namespace attribute that is not there
 * (`'Namespace' object has no attribute 'value'`). A request the server
 * cannot serve (an object it no longer has, a method the object's type
 * lacks) fails with MPROC_EREMOTE and the server's sentence, Python's
 * RemoteError.
 *
 * Threads: proxies may be used from several threads, and made on one and
 * used or destroyed on another. Each thread that calls has a connection of
 * its own (made on its first call, closed when the thread ends), so that
 * one thread's long call never holds up another's.
 *
 * @defgroup manager Managers
 * @{
 */
#ifndef MPROC_MANAGER_H
#define MPROC_MANAGER_H

#include <stddef.h>
#include <stdint.h>

#include "mproc/export.h"
#include "mproc/process.h"
#include "mproc/value.h"

#ifdef __cplusplus
extern "C" {
#endif

/** A manager: one that this process started, or one it connected to. */
typedef struct mproc_manager_t mproc_manager_t;
/** A proxy of a managed dict (Python's DictProxy). */
typedef struct mproc_dict_t mproc_dict_t;
/** A proxy of a managed list (Python's ListProxy). */
typedef struct mproc_list_t mproc_list_t;
/** A proxy of a managed Namespace (Python's NamespaceProxy). */
typedef struct mproc_namespace_t mproc_namespace_t;

/** @name Managers */
/** @{ */

/** Options of mproc_manager_start(); zero means default everywhere. */
typedef struct mproc_manager_opts_t {
    /**
     * Where the server listens: NULL for a fresh private local address (a
     * Unix socket only this user can reach; a named pipe on Windows), or
     * "host:port" for TCP, port 0 letting the OS choose
     * (mproc_manager_address() then tells the port).
     */
    const char *address;
    /**
     * The key that clients must prove they know, @ref authkey_len bytes
     * (1 to 256); NULL: this process's authkey (mproc_process_authkey()),
     * which its children hold too.
     */
    const void *authkey;
    /** The length of @ref authkey in bytes. */
    size_t authkey_len;
    /** How the server process starts; default: the program's method. */
    mproc_start_method_e method;
    /** The server process's name; default "Manager-N". */
    const char *name;
    /**
     * Seconds to wait for the server to listen; 0: 20 seconds (Python's
     * connection timeout).
     */
    double timeout;
} mproc_manager_opts_t;

/**
 * Starts a manager: a server process, started as any child (spawn unless
 * @p opts says otherwise), that serves managed objects until
 * mproc_manager_shutdown(). It never outlives the process that started
 * it: it ends by itself when that process ends, however (killed
 * included). A process that ends normally shuts down the managers it
 * still has, as Python's finalizer does.
 * @param m receives the manager.
 * @param opts the options, or NULL for the defaults.
 * @return 0; MPROC_EINVAL (an authkey length without a key, or over 256
 * bytes); the status of the server's failure to listen, with its sentence
 * (MPROC_EADDRINUSE for a TCP port in use); MPROC_ETIMEDOUT if it did not
 * listen in time; MPROC_EOS if it ended before serving; any status of
 * mproc_process_start() (MPROC_EDAEMON in a daemonic process). Nothing is
 * left behind on failure.
 */
MPROC_API int mproc_manager_start(mproc_manager_t **m,
                                  const mproc_manager_opts_t *opts);

/** Options of mproc_manager_connect(); zero means default everywhere. */
typedef struct mproc_manager_connect_opts_t {
    /**
     * The server's key, @ref authkey_len bytes (1 to 256); NULL: this
     * process's authkey.
     */
    const void *authkey;
    /** The length of @ref authkey in bytes. */
    size_t authkey_len;
    /** Seconds to wait for the connection; 0: 20 seconds. */
    double timeout;
} mproc_manager_connect_opts_t;

/**
 * Connects to the manager serving at @p address: one that another program
 * started (Python's `BaseManager.connect()`), a TCP "host:port" or a local
 * address. The connection is authenticated both ways with the key.
 * @return 0; MPROC_EAUTH if the server does not know the key (or this
 * process does not know the server's); MPROC_EMANAGER if nothing serves
 * there; MPROC_ETIMEDOUT; MPROC_EBADADDR for an address of a form this
 * OS has not; MPROC_EINVAL for a NULL address, or an authkey length
 * without a key or over 256 bytes.
 */
MPROC_API int mproc_manager_connect(mproc_manager_t **m, const char *address,
                                    const mproc_manager_connect_opts_t *opts);

/**
 * The address the manager serves at: what mproc_manager_connect() takes,
 * with the port the OS chose for a TCP port 0. A manager this process
 * started on every interface (":port", "[::]:port") reads as the
 * loopback address with its port, by which this process and its children
 * reach it; other machines use one of the host's own addresses with that
 * port. Valid until mproc_manager_destroy().
 */
MPROC_API const char *mproc_manager_address(const mproc_manager_t *m);

/**
 * The server process's pid (as the server says, for a manager this process
 * connected to), or 0 for NULL.
 */
MPROC_API long mproc_manager_pid(const mproc_manager_t *m);

/**
 * Stops the server, as Python's `shutdown()`: it stops serving, every
 * proxy of its objects in every process then fails with MPROC_EMANAGER,
 * and its address is removed. The process that started it waits (a
 * second) for its end, then terminates and at last kills it; a manager
 * connected to is asked to stop, and stops, since any client that knows
 * its key may stop it. Shutting down a manager that has ended already
 * succeeds.
 * @return 0; MPROC_EINVAL for NULL.
 */
MPROC_API int mproc_manager_shutdown(mproc_manager_t *m);

/**
 * Waits at most @p timeout seconds for the server process to end (a
 * program that serves remote clients waits here until one of them shuts
 * the manager down).
 * @return 0 once it has ended; MPROC_ETIMEDOUT; MPROC_ENOTCHILD for a
 * manager this process connected to rather than started.
 */
MPROC_API int mproc_manager_join(mproc_manager_t *m, double timeout);

/**
 * Shuts the manager down if this process started it and it still runs,
 * and frees @p m. Proxies made through it stay valid objects, whose calls
 * fail with MPROC_EMANAGER once the server has gone; destroy them too.
 * NULL is ignored.
 */
MPROC_API void mproc_manager_destroy(mproc_manager_t *m);

/**
 * Gives @p value (taken over) the name @p name in the server, Python's
 * `BaseManager.register(name, callable)` for a program that serves other
 * programs: a client looks it up with mproc_manager_lookup(). A proxy in
 * @p value keeps its object alive for as long as the name holds it. A
 * name given again is replaced.
 * @return 0; MPROC_EINVAL for a NULL or empty name; MPROC_EMANAGER;
 * MPROC_ENOMEM.
 */
MPROC_API int mproc_manager_register(mproc_manager_t *m, const char *name,
                                     mproc_value_t *value);

/**
 * The value that @p name holds in the server, in *@p value (a copy; a
 * proxy in it opens with mproc_value_to_dict_proxy() and its siblings).
 * @return 0; MPROC_ENOTFOUND if no such name is registered; MPROC_EMANAGER.
 */
MPROC_API int mproc_manager_lookup(mproc_manager_t *m, const char *name,
                                   mproc_value_t **value);

/**
 * How many objects the server holds, in *@p n: a diagnostic for leaks, as
 * Python's `_number_of_objects()`. Cycles that nothing else refers to are
 * collected first, so the count is of what something can still reach.
 * @return 0; MPROC_EMANAGER.
 */
MPROC_API int mproc_manager_count_objects(mproc_manager_t *m, size_t *n);
/** @} */

/** @name Dict proxies
 * Python's DictProxy. Each call takes over the values it is given (see
 * above); a missing key is MPROC_ENOTFOUND with Python's sentence
 * (`KeyError: 3`), a key that is not nil, a bool, a number, a string or a
 * byte string MPROC_ETYPE (`unhashable type: 'list'`).
 */
/** @{ */

/**
 * Creates a managed dict in @p m, holding the pairs of the map @p init
 * (taken over; NULL for none), and a proxy of it in *@p d.
 * @return 0; MPROC_ETYPE if @p init is no map or holds an unhashable key;
 * MPROC_EMANAGER; MPROC_ENOMEM.
 */
MPROC_API int mproc_dict_create(mproc_dict_t **d, mproc_manager_t *m,
                                mproc_value_t *init);
/**
 * Lets go of this process's proxy (Python's `del d`); the dict lives on
 * while anything else refers to it. NULL is ignored; a proxy opened from
 * a reference may be destroyed too.
 */
MPROC_API void mproc_dict_destroy(mproc_dict_t *d);
/** `d[key] = value`. @return 0; MPROC_ETYPE; MPROC_EMANAGER. */
MPROC_API int mproc_dict_set(mproc_dict_t *d, mproc_value_t *key,
                             mproc_value_t *value);
/**
 * `d[key]`, a copy in *@p value.
 * @return 0; MPROC_ENOTFOUND; MPROC_ETYPE; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_get(mproc_dict_t *d, mproc_value_t *key,
                             mproc_value_t **value);
/**
 * `d.get(key, dflt)`: a copy of the value of @p key, or @p dflt (taken
 * over) if there is none.
 * @return 0; MPROC_ETYPE; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_get_default(mproc_dict_t *d, mproc_value_t *key,
                                     mproc_value_t *dflt,
                                     mproc_value_t **value);
/** `del d[key]`. @return 0; MPROC_ENOTFOUND; MPROC_ETYPE; MPROC_EMANAGER. */
MPROC_API int mproc_dict_delete(mproc_dict_t *d, mproc_value_t *key);
/** `key in d`. @return 1 or 0; MPROC_ETYPE; MPROC_EMANAGER. */
MPROC_API int mproc_dict_contains(mproc_dict_t *d, mproc_value_t *key);
/** `len(d)`, in *@p n. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_dict_len(mproc_dict_t *d, size_t *n);
/** `list(d.keys())`, in insertion order. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_dict_keys(mproc_dict_t *d, mproc_value_t **keys);
/** `list(d.values())`. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_dict_values(mproc_dict_t *d, mproc_value_t **values);
/**
 * `list(d.items())`: a list of two-item lists [key, value].
 * @return 0; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_items(mproc_dict_t *d, mproc_value_t **items);
/**
 * `d.copy()`: a snapshot of the whole dict as a map, in insertion order.
 * @return 0; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_copy(mproc_dict_t *d, mproc_value_t **map);
/**
 * `d.pop(key)`: removes @p key and gives its value.
 * @return 0; MPROC_ENOTFOUND; MPROC_ETYPE; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_pop(mproc_dict_t *d, mproc_value_t *key,
                             mproc_value_t **value);
/**
 * `d.pop(key, dflt)`: as mproc_dict_pop(), but a missing key gives
 * @p dflt (taken over).
 * @return 0; MPROC_ETYPE; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_pop_default(mproc_dict_t *d, mproc_value_t *key,
                                     mproc_value_t *dflt,
                                     mproc_value_t **value);
/**
 * `d.popitem()`: removes the pair inserted last and gives it (either
 * pointer may be NULL to drop that half).
 * @return 0; MPROC_ENOTFOUND for an empty dict (`popitem(): dictionary is
 * empty`); MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_popitem(mproc_dict_t *d, mproc_value_t **key,
                                 mproc_value_t **value);
/**
 * `d.setdefault(key, dflt)`: the value of @p key, after storing @p dflt
 * (taken over) under it if it had none. @p value may be NULL.
 * @return 0; MPROC_ETYPE; MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_setdefault(mproc_dict_t *d, mproc_value_t *key,
                                    mproc_value_t *dflt, mproc_value_t **value);
/**
 * `d.update(pairs)`: stores every pair of @p pairs (taken over), a map or
 * a list of two-item lists, at once.
 * @return 0; MPROC_ETYPE (nothing is stored); MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_update(mproc_dict_t *d, mproc_value_t *pairs);
/** `d.clear()`. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_dict_clear(mproc_dict_t *d);
/**
 * Adds the number @p delta (taken over; an integer or a float) to the
 * number under @p key, in the server in one step: `d[key] += delta` that
 * no other process's update can come between, which Python's proxies
 * cannot do. A missing key counts from 0. Integers stay integers; a float
 * on either side makes a float. The new number goes to *@p result unless
 * it is NULL.
 * @return 0; MPROC_ETYPE if the value under @p key or @p delta is no
 * number; MPROC_ERANGE if an integer sum overflows 64 bits (nothing
 * changes); MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_add(mproc_dict_t *d, mproc_value_t *key,
                             mproc_value_t *delta, mproc_value_t **result);
/**
 * mproc_dict_add() with an integer: the new value goes to *@p result
 * unless it is NULL.
 * @return as mproc_dict_add(); MPROC_ETYPE also if the value under @p key
 * is a float.
 */
MPROC_API int mproc_dict_incr(mproc_dict_t *d, mproc_value_t *key,
                              int64_t delta, int64_t *result);
/**
 * Compare and set: stores @p desired under @p key if the value there
 * equals @p expected (both taken over), in one step. With @p current not
 * NULL, *@p current gets the value found (a copy), whether it was
 * replaced or not.
 * @return 1 if it stored @p desired; 0 if the value differed (nothing
 * changed); MPROC_ENOTFOUND for a missing key; MPROC_ETYPE;
 * MPROC_EMANAGER.
 */
MPROC_API int mproc_dict_cas(mproc_dict_t *d, mproc_value_t *key,
                             mproc_value_t *expected, mproc_value_t *desired,
                             mproc_value_t **current);
/** @} */

/** @name List proxies
 * Python's ListProxy. Indexes count from 0, and from the end when
 * negative (-1 is the last item), as in Python.
 */
/** @{ */

/** The end of a list, as a slice bound: `l[i:]` is (i, MPROC_SLICE_END). */
#define MPROC_SLICE_END INT64_MAX

/**
 * Creates a managed list in @p m holding the items of the list @p init
 * (taken over; NULL for none), and a proxy of it in *@p l.
 * @return 0; MPROC_ETYPE if @p init is no list; MPROC_EMANAGER;
 * MPROC_ENOMEM.
 */
MPROC_API int mproc_list_create(mproc_list_t **l, mproc_manager_t *m,
                                mproc_value_t *init);
/** Lets go of this process's proxy, as mproc_dict_destroy(). */
MPROC_API void mproc_list_destroy(mproc_list_t *l);
/** `l.append(item)`. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_append(mproc_list_t *l, mproc_value_t *item);
/**
 * `l.extend(items)`: appends every item of the list @p items.
 * @return 0; MPROC_ETYPE if @p items is no list; MPROC_EMANAGER.
 */
MPROC_API int mproc_list_extend(mproc_list_t *l, mproc_value_t *items);
/**
 * `l.insert(index, item)`: before item @p index; an index past either end
 * inserts at that end, as Python's does.
 * @return 0; MPROC_EMANAGER.
 */
MPROC_API int mproc_list_insert(mproc_list_t *l, int64_t index,
                                mproc_value_t *item);
/**
 * `l[index]`, a copy in *@p item.
 * @return 0; MPROC_ERANGE (`list index out of range`); MPROC_EMANAGER.
 */
MPROC_API int mproc_list_get(mproc_list_t *l, int64_t index,
                             mproc_value_t **item);
/**
 * `l[index] = item`.
 * @return 0; MPROC_ERANGE (`list assignment index out of range`);
 * MPROC_EMANAGER.
 */
MPROC_API int mproc_list_set(mproc_list_t *l, int64_t index,
                             mproc_value_t *item);
/**
 * `del l[index]`.
 * @return 0; MPROC_ERANGE; MPROC_EMANAGER.
 */
MPROC_API int mproc_list_delete(mproc_list_t *l, int64_t index);
/** `len(l)`, in *@p n. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_len(mproc_list_t *l, size_t *n);
/**
 * `l.index(item)`: the index of the first item equal to @p item.
 * @return 0; MPROC_ENOTFOUND (`3 is not in list`); MPROC_EMANAGER.
 */
MPROC_API int mproc_list_index(mproc_list_t *l, mproc_value_t *item,
                               size_t *index);
/** `l.count(item)`, in *@p n. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_count(mproc_list_t *l, mproc_value_t *item, size_t *n);
/** `item in l`. @return 1 or 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_contains(mproc_list_t *l, mproc_value_t *item);
/**
 * `l.remove(item)`: removes the first item equal to @p item.
 * @return 0; MPROC_ENOTFOUND (`list.remove(x): x not in list`);
 * MPROC_EMANAGER.
 */
MPROC_API int mproc_list_remove(mproc_list_t *l, mproc_value_t *item);
/**
 * `l.pop(index)`: removes item @p index (-1: the last, Python's default)
 * and gives it; @p item may be NULL.
 * @return 0; MPROC_ERANGE (`pop from empty list`, `pop index out of
 * range`); MPROC_EMANAGER.
 */
MPROC_API int mproc_list_pop(mproc_list_t *l, int64_t index,
                             mproc_value_t **item);
/**
 * `l[start:stop]`: a list of copies. Bounds are clamped to the list, as
 * Python's are; MPROC_SLICE_END is the end.
 * @return 0; MPROC_EMANAGER.
 */
MPROC_API int mproc_list_slice(mproc_list_t *l, int64_t start, int64_t stop,
                               mproc_value_t **items);
/**
 * `l[start:stop] = items`: replaces the slice with the items of the list
 * @p items (taken over), which may be longer or shorter.
 * @return 0; MPROC_ETYPE if @p items is no list; MPROC_EMANAGER.
 */
MPROC_API int mproc_list_set_slice(mproc_list_t *l, int64_t start, int64_t stop,
                                   mproc_value_t *items);
/** `del l[start:stop]`. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_delete_slice(mproc_list_t *l, int64_t start,
                                      int64_t stop);
/** `l.reverse()`. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_reverse(mproc_list_t *l);
/**
 * `l.sort(reverse=reverse)`: a stable sort of numbers, strings, byte
 * strings or lists of such (compared item by item), as Python's.
 * @return 0; MPROC_ETYPE for items that do not compare (`'<' not
 * supported between instances of 'str' and 'int'`), and the list is left
 * as it was; MPROC_EMANAGER.
 */
MPROC_API int mproc_list_sort(mproc_list_t *l, int reverse);
/** `l.clear()`. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_clear(mproc_list_t *l);
/** `l[:]`: a snapshot of the whole list. @return 0; MPROC_EMANAGER. */
MPROC_API int mproc_list_copy(mproc_list_t *l, mproc_value_t **items);
/** @} */

/** @name Namespace proxies
 * Python's NamespaceProxy: attributes by name. Reading one that is not
 * there is MPROC_ENOATTR with Python's sentence, `'Namespace' object has
 * no attribute 'value'`.
 */
/** @{ */

/**
 * Creates a managed Namespace in @p m with the attributes of the map
 * @p init (taken over; string keys; NULL for none), and a proxy of it.
 * @return 0; MPROC_ETYPE if @p init is no map of strings; MPROC_EMANAGER;
 * MPROC_ENOMEM.
 */
MPROC_API int mproc_namespace_create(mproc_namespace_t **ns, mproc_manager_t *m,
                                     mproc_value_t *init);
/** Lets go of this process's proxy, as mproc_dict_destroy(). */
MPROC_API void mproc_namespace_destroy(mproc_namespace_t *ns);
/**
 * `ns.name = value`.
 * @return 0; MPROC_EINVAL for a NULL or empty name; MPROC_EMANAGER.
 */
MPROC_API int mproc_namespace_set(mproc_namespace_t *ns, const char *name,
                                  mproc_value_t *value);
/**
 * `ns.name`, a copy in *@p value.
 * @return 0; MPROC_ENOATTR; MPROC_EINVAL; MPROC_EMANAGER.
 */
MPROC_API int mproc_namespace_get(mproc_namespace_t *ns, const char *name,
                                  mproc_value_t **value);
/** `del ns.name`. @return 0; MPROC_ENOATTR; MPROC_EINVAL; MPROC_EMANAGER. */
MPROC_API int mproc_namespace_delete(mproc_namespace_t *ns, const char *name);
/** `hasattr(ns, name)`. @return 1 or 0; MPROC_EINVAL; MPROC_EMANAGER. */
MPROC_API int mproc_namespace_has(mproc_namespace_t *ns, const char *name);
/**
 * mproc_dict_add() for an attribute: `ns.name += delta` in one step; a
 * missing attribute counts from 0.
 * @return 0; MPROC_ETYPE; MPROC_ERANGE; MPROC_EINVAL; MPROC_EMANAGER.
 */
MPROC_API int mproc_namespace_add(mproc_namespace_t *ns, const char *name,
                                  mproc_value_t *delta, mproc_value_t **result);
/** mproc_dict_incr() for an attribute. */
MPROC_API int mproc_namespace_incr(mproc_namespace_t *ns, const char *name,
                                   int64_t delta, int64_t *result);
/**
 * mproc_dict_cas() for an attribute.
 * @return 1 if it stored @p desired; 0 if the value differed;
 * MPROC_ENOATTR; MPROC_EINVAL; MPROC_EMANAGER.
 */
MPROC_API int mproc_namespace_cas(mproc_namespace_t *ns, const char *name,
                                  mproc_value_t *expected,
                                  mproc_value_t *desired,
                                  mproc_value_t **current);
/**
 * Every attribute as a map from name to value (`vars(ns)`), in the order
 * they were first set.
 * @return 0; MPROC_EMANAGER.
 */
MPROC_API int mproc_namespace_copy(mproc_namespace_t *ns, mproc_value_t **map);
/** @} */

/** @name Proxies as values */
/** @{ */

/**
 * A reference to the dict of @p d, as a start argument, a message for a
 * queue or a connection, or a value to store in a managed object: a new
 * value, or NULL with mproc_last_error() set (MPROC_EMANAGER, MPROC_EINVAL
 * for NULL, out of memory). Making it asks the server to keep the dict
 * alive until the reference is opened or this process ends, so this
 * process may destroy its proxy right after the start, put or send.
 *
 * The reference names the manager's address; when the manager's key is
 * not this process's own authkey (a manager started or connected with an
 * explicit key), it carries that key too, so that a child can reach the
 * manager: such a reference is as secret as the key.
 */
MPROC_API mproc_value_t *mproc_value_dict_proxy(const mproc_dict_t *d);
/** mproc_value_dict_proxy() for a list. */
MPROC_API mproc_value_t *mproc_value_list_proxy(const mproc_list_t *l);
/** mproc_value_dict_proxy() for a Namespace. */
MPROC_API mproc_value_t *
mproc_value_namespace_proxy(const mproc_namespace_t *ns);
/**
 * The proxy that reference @p v refers to, in any process that received
 * it. It is opened once per process: a second call with an equal reference
 * gives the same proxy. The runtime owns it and lets go of it at exit; it
 * may also be destroyed earlier with mproc_dict_destroy().
 * @return 0; MPROC_ETYPE if @p v is not a dict reference; MPROC_EREMOTE
 * if the server no longer has the dict; MPROC_EMANAGER if the manager is
 * gone; MPROC_EAUTH if this process does not know the manager's key.
 */
MPROC_API int mproc_value_to_dict_proxy(const mproc_value_t *v,
                                        mproc_dict_t **d);
/** mproc_value_to_dict_proxy() for a list. */
MPROC_API int mproc_value_to_list_proxy(const mproc_value_t *v,
                                        mproc_list_t **l);
/** mproc_value_to_dict_proxy() for a Namespace. */
MPROC_API int mproc_value_to_namespace_proxy(const mproc_value_t *v,
                                             mproc_namespace_t **ns);
/** @} */

#ifdef __cplusplus
}
#endif

/** @} */
#endif
