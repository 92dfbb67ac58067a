/*
 * The layout of a value, shared by value.c and value_codec.c.
 */
#ifndef MPROC_VALUE_INTERNAL_H
#define MPROC_VALUE_INTERNAL_H

#include "mproc.h"
#include "mproc_services.h"

/*
 * A list that comes whole from a decoder (or is made for a known number of
 * results) keeps its scalar items (nil, bools, integers, floats) in blocks
 * of MPROC__BLOCK_SLOTS values, which a table that follows the list in its
 * own allocation points to: place k of the list has slot k % SLOTS of
 * block k / SLOTS, allocated when a scalar first goes there, and freed
 * with the list. The last block has room for the list's last places only
 * (a list of five has a block of five). Blocks are small, so that the heap
 * reuses them as it reuses small values. Such an item is marked
 * MPROC__IN_BLOCK, and mproc_value_free() leaves it (it owns nothing). It never
 * leaves its list as it is: what takes an item out of a list
 * (mproc__value_take(), a record made of a list, mproc__value_steal_items())
 * copies it out first.
 */
#define MPROC__IN_BLOCK 1u  /* a scalar in its list's block */
#define MPROC__HAS_BLOCK 2u /* a list with a table of blocks after it */
#define MPROC__BLOCK_SLOTS 256
/*
 * A short decoded list (MPROC__SMALL_LIST items at most) has its items
 * array and a slot for each item in its own allocation, after it: one
 * allocation for [1, 2]. Its scalars are MPROC__IN_BLOCK as in a block;
 * the array becomes one of its own when the list grows.
 */
#define MPROC__INLINE 4u
#define MPROC__SMALL_LIST 4

struct mproc_value_t {
    mproc_value_type_e type;
    unsigned char flags; /* MPROC__IN_BLOCK, MPROC__HAS_BLOCK */
    union {
        int b;
        int64_t i;
        double f;
        struct {
            char *ptr; /* NUL-terminated copy */
            size_t len;
        } s;
        struct {
            mproc_value_t **items; /* a map stores key, value, key, ... */
            size_t len;
            size_t cap;
            char *type; /* a record's type name; its fields are the items */
        } c;
        struct {
            mproc_ref_kind_e kind;
            mproc_value_t *fields; /* a list of scalars; see mproc__ref_new */
        } r;
    } u;
};

/* Lists, maps and records keep their items the same way. */
#define MPROC__IS_CONTAINER(v)                                                 \
    ((v)->type == MPROC_VALUE_LIST || (v)->type == MPROC_VALUE_MAP ||          \
     (v)->type == MPROC_VALUE_RECORD)

/* The kinds that own nothing and may live in a list's block. */
#define MPROC__IS_SCALAR(t)                                                    \
    ((t) == MPROC_VALUE_NIL || (t) == MPROC_VALUE_BOOL ||                      \
     (t) == MPROC_VALUE_INT || (t) == MPROC_VALUE_FLOAT)

/*
 * A list with room for @n items and a table for the blocks of their
 * scalars (none allocated yet). NULL when out of memory.
 */
mproc_value_t *mproc__value_list_block(size_t n);
/*
 * The slot of place @i in the blocks of @list (made by
 * mproc__value_list_block(), with room for @i), its block allocated if it
 * has none yet; NULL when out of memory.
 */
mproc_value_t *mproc__value_block_slot(mproc_value_t *list, size_t i);
/*
 * A new scalar of @type (MPROC__IS_SCALAR), zeroed but for its type, from
 * the thread's cells when it has one (value.c); NULL when out of memory.
 */
mproc_value_t *mproc__value_new_scalar(mproc_value_type_e type);
/*
 * A list with room for @n items (at most MPROC__SMALL_LIST), its items
 * array and @n slots in its own allocation: slot k is
 * mproc__value_small_slot(list, k) while the list has not grown (as it is
 * decoded). NULL when out of memory.
 */
mproc_value_t *mproc__value_list_small(size_t n);
mproc_value_t *mproc__value_small_slot(mproc_value_t *list, size_t k);

#endif
