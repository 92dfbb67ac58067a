/*
 * This file is private to mproc.
 *
 * Values on the wire (value_codec.c) and references to mproc objects
 * (value.c): their msgpack form, their fields, and the objects a process
 * imported from them.
 */
#ifndef MPROC_SRC_VALUE_CODEC_H
#define MPROC_SRC_VALUE_CODEC_H

#include <stddef.h>

#include "mproc.h"
#include "mproc_services.h"

/* Appends the msgpack encoding of @v to @out. */
int mproc__value_encode(const mproc_value_t *v, mproc__buf_t *out);
/*
 * Decodes exactly one value filling @len bytes. Anything else (trailing
 * bytes, truncation, an unknown msgpack type) is MPROC_ECORRUPT.
 */
int mproc__value_decode(const void *data, size_t len, mproc_value_t **out);

/*
 * mproc__value_decode(), but a decoded list of scalars keeps them in one
 * block with the list (value_internal.h): for the pool's messages, whose
 * lists of items and results are long.
 */
int mproc__value_decode_blocks(const void *data, size_t len,
                               mproc_value_t **out);

/*
 * A bytes value of @len bytes whose contents the caller fills in through
 * *@data (a decoder that copies them from where they arrived); NULL when
 * out of memory.
 */
mproc_value_t *mproc__value_bytes_alloc(size_t len, unsigned char **data);

/*
 * Takes item @i out of @list, leaving a hole (NULL) that only
 * mproc_value_free() may meet: for a reader that moves a decoded
 * message's items elsewhere and then frees the rest. An item of the
 * list's block is copied out instead (and stays). NULL if there is no
 * such item, or no memory for the copy.
 */
mproc_value_t *mproc__value_take(mproc_value_t *list, size_t i);

/*
 * The items of list @v, mproc_value_len() of them, for a reader that walks
 * a long list without a call per item; NULL if @v is no list.
 */
mproc_value_t *const *mproc__value_list_items(const mproc_value_t *v);
/*
 * A list of @n places with a table for blocks (value_internal.h), each
 * place a hole (NULL) until it is filled: for a map's results, which
 * arrive in any order, without writing a nil to each place first. Only
 * the functions below and mproc_value_free() may meet a hole; the list is
 * given to anyone else only once every place is filled. NULL when out of
 * memory.
 */
mproc_value_t *mproc__value_list_holes(size_t n);
/*
 * Puts @item (taken over, also on failure) in place @i of @list, freeing
 * what was there (a hole, a scalar of the block, or a value of its own).
 * 0, or MPROC_EINVAL if there is no such place.
 */
int mproc__value_list_put(mproc_value_t *list, size_t i, mproc_value_t *item);
/*
 * Decodes a msgpack list of at most *@n values straight into places
 * @first, @first + 1, ... of @list (from mproc__value_list_holes(), or
 * any list of as many places), freeing what each place held; a scalar
 * goes into the list's block. *@n becomes the number of values. On
 * failure (MPROC_ECORRUPT: the bytes are no list, or of more values, or
 * malformed; MPROC_ENOMEM) the places it had filled are holes again and
 * the others are as they were.
 */
int mproc__value_decode_into(const void *data, size_t len, mproc_value_t *list,
                             size_t first, size_t *n);
/*
 * A msgpack list read item by item, for a reader that uses each item once
 * and then lets it go (a pool worker runs a task per item), with no list
 * of them all. Start reads the list's header (MPROC_ECORRUPT if there is
 * none, or if it counts more items than there are bytes) and sets @left
 * to its count. Next checks and decodes the next item into *@out, which
 * stays the reader's (a scalar in the reader's one slot) until the next
 * call or the end, which frees it. An item that cannot be decoded
 * (MPROC_ENOMEM, or MPROC_ECORRUPT) is passed by, so the next call reads
 * the one after; once an item is malformed so that the next one cannot be
 * found, each one left is MPROC_ECORRUPT. Bytes after the last item are
 * not looked at.
 */
typedef struct mproc__value_reader {
    const unsigned char *p;
    size_t len, at;
    size_t left;         /* items still to read */
    int broken;          /* the place of the next item is not known */
    mproc_value_t *slot; /* for scalars, made at the first */
    mproc_value_t *item; /* the last item read, if it is not the slot */
} mproc__value_reader_t;

int mproc__value_reader_start(mproc__value_reader_t *r, const void *data,
                              size_t len);
int mproc__value_reader_next(mproc__value_reader_t *r,
                             const mproc_value_t **out);
void mproc__value_reader_end(mproc__value_reader_t *r);

/*
 * The count of the msgpack list that @data (@len bytes) starts with: 0
 * and *@n, or MPROC_ECORRUPT if it starts with no list header or counts
 * more items than there are bytes. The items are not looked at.
 */
int mproc__value_list_count(const void *data, size_t len, size_t *n);
/*
 * Appends the msgpack encodings of items @first .. @first + @n - 1 of
 * @list, as mproc__value_encode() of each one after the other would: 0,
 * or a status with nothing appended. An item that holds a connection is
 * MPROC_EINVAL: only mproc__value_encode_shared() (handover.c) encodes
 * one, item by item.
 */
int mproc__value_encode_run(const mproc_value_t *list, size_t first, size_t n,
                            mproc__buf_t *out);
/*
 * Moves item @k of list @src into place @i of list @dst (one of
 * mproc__value_list_holes(), say), freeing what was there: a scalar of @src's
 * block is copied into @dst's block, anything else moves and leaves a hole in
 * @src (as mproc__value_take()). 0; MPROC_EINVAL if a place is missing;
 * MPROC_ENOMEM (nothing changed).
 */
int mproc__value_list_move(mproc_value_t *dst, size_t i, mproc_value_t *src,
                           size_t k);

/*
 * The list [@item], borrowing @item, in memory of the calling thread's
 * that the next call reuses: an argument list made without allocating
 * (a pool worker calls a map's function with [item] for each item). It
 * must not be freed or kept.
 */
const mproc_value_t *mproc__value_one_list(const mproc_value_t *item);

/*
 * References (value.c). A reference is a kind and a list of scalar fields,
 * whose shape each kind fixes (mproc__ref_check): a named object's is
 * [name]; a connection's is [readable, writable, max_message,
 * compress_threshold, compress_level, no_compress, form, a, b, c, where],
 * where form MPROC__REF_CONN_OWN names handles a and b (-1: none) of
 * process c, form MPROC__REF_CONN_SLOT slots a and b of the start whose
 * token is c, and form MPROC__REF_CONN_SHARED a connection that process c
 * offers to one taker (handover.c): the offer a of b handles at the
 * sharer socket "where"; form MPROC__REF_CONN_PULL (Windows) c's handle a,
 * to be pulled out of c once offer b of c's table "where" is claimed.
 */
#define MPROC__REF_CONN_OWN 0
#define MPROC__REF_CONN_SLOT 1
#define MPROC__REF_CONN_SHARED 2
#define MPROC__REF_CONN_PULL 3
#define MPROC__REF_CONN_FIELDS 11
/* The last kind of mproc_ref_kind_e; every kind up to it has a shape. */
#define MPROC__REF_LAST MPROC_REF_NAMESPACE
/* A reference of @kind with the list @fields, which it takes over; NULL
 * with the last error set (MPROC_ENOMEM, or MPROC_EINVAL for a bad shape). */
mproc_value_t *mproc__ref_new(mproc_ref_kind_e kind, mproc_value_t *fields);
/* The fields of reference @v (a list), or NULL. */
const mproc_value_t *mproc__ref_fields(const mproc_value_t *v);
/*
 * Changing a reference's fields in place, keeping its shape: set_field
 * puts @field (taken over) in place @i, which must hold a value of the
 * same type (else MPROC_EINVAL); set_int changes integer field @i (any
 * other does not change).
 */
int mproc__ref_set_field(mproc_value_t *ref, size_t i, mproc_value_t *field);
void mproc__ref_set_int(mproc_value_t *ref, size_t i, int64_t v);
/* 0 if @fields is the field list of a reference of @kind, else -1. */
int mproc__ref_check(int kind, const mproc_value_t *fields);
/* The name of @kind ("lock", "queue", ...) for messages. */
const char *mproc__ref_kind_name(mproc_ref_kind_e kind);
/* "a" or "an", as the name of @kind needs. */
const char *mproc__ref_kind_article(mproc_ref_kind_e kind);
/* 0 if @v is a reference of @kind; else MPROC_ETYPE with a sentence. */
int mproc__ref_expect(const mproc_value_t *v, mproc_ref_kind_e kind);
/*
 * Whether @v holds a managed object's reference (a dict's, a list's or a
 * Namespace's) anywhere inside: one quick walk, for the manager, whose
 * values mostly hold none.
 */
int mproc__value_holds_proxy(const mproc_value_t *v);
/* Whether @v holds a reference of @kind anywhere inside. */
int mproc__value_has_ref(const mproc_value_t *v, mproc_ref_kind_e kind);
/*
 * Calls @fn for every reference of @kind inside @v, in order, until one
 * call gives nonzero, which is then the result; 0 otherwise.
 */
int mproc__value_each_ref(const mproc_value_t *v, mproc_ref_kind_e kind,
                          int (*fn)(const mproc_value_t *ref, void *ctx),
                          void *ctx);
/*
 * The objects that mproc_value_to_*() imported in this process, one per
 * reference: find gives the object of a reference equal to @ref (or NULL),
 * add records one, forget drops @obj when it is destroyed, and after_fork
 * forgets the parent's (a fork child did not import them) and makes the
 * value module's locks usable in the child.
 */
void *mproc__ref_cache_find(const mproc_value_t *ref);
int mproc__ref_cache_add(const mproc_value_t *ref, void *obj);
void mproc__ref_cache_forget(const void *obj);
void mproc__ref_cache_after_fork(void);
/*
 * What every mproc_value_to_*() does: checks that @v is a reference of
 * @kind, and gives the object this process opened for an equal reference,
 * or opens one with @open (which hands it to the runtime) and records it.
 * @close undoes @open if recording fails, or if another thread recorded
 * an object for an equal reference first, which is then the answer.
 */
int mproc__ref_open_once(const mproc_value_t *v, mproc_ref_kind_e kind,
                         int (*open)(const mproc_value_t *ref, void **obj),
                         void (*close)(void *obj), void **out);

/*
 * Lists for the library's own messages (value.c). swap puts @item (taken
 * over) in place @i of @list and gives back what was there (NULL, and
 * @item freed, if there is no such place). A borrowing list holds the @n
 * values of @items without owning them, so that a message can be encoded
 * around values that stay the caller's; unborrow frees it and leaves them.
 */
mproc_value_t *mproc__value_list_swap(mproc_value_t *list, size_t i,
                                      mproc_value_t *item);
mproc_value_t *mproc__value_list_borrowing(mproc_value_t *const *items,
                                           size_t n);
void mproc__value_list_unborrow(mproc_value_t *list);
/*
 * For callers that know a map's keys are distinct (the manager's store,
 * whose dicts keep them so): appends the pair without looking for an
 * equal key. Both are taken over, also on failure (MPROC_ENOMEM).
 */
int mproc__value_map_append(mproc_value_t *map, mproc_value_t *key,
                            mproc_value_t *value);
/*
 * Makes the pairs appended to @map a map again, as mproc_value_map_set()
 * would have made them one by one: of the pairs with equal keys the first
 * keeps its place and takes the last one's value. In time about linear in
 * the pairs (a decoded map of 10,000 pairs must not cost 10^8
 * comparisons). MPROC_ENOMEM, with @map as it was, if the table for it
 * cannot be had.
 */
int mproc__value_map_merge_equal_keys(mproc_value_t *map);
/* Makes room for @n more items (pairs, for a map) in container @c. */
int mproc__value_reserve(mproc_value_t *c, size_t n);
/*
 * Takes the items out of list, map (key, value, key, ...) or record @c,
 * which is left empty: the malloc'ed array of *@n items, which the caller
 * now owns (NULL for none; NULL and *@n 0, with @c as it was, if the
 * items of a list's block cannot be given memory of their own).
 */
mproc_value_t **mproc__value_steal_items(mproc_value_t *c, size_t *n);

#endif
