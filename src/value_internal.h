/*
 * The layout of a value, shared by value.c and value_codec.c.
 */
#ifndef MPROC_VALUE_INTERNAL_H
#define MPROC_VALUE_INTERNAL_H

#include "mproc.h"
#include "mproc_services.h"

struct mproc_value_t {
    mproc_value_type_e type;
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

#endif
