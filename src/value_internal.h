/*
 * The layout of a value, shared by value.c and value_codec.c.
 */
#ifndef MPROC_VALUE_INTERNAL_H
#define MPROC_VALUE_INTERNAL_H

#include "mproc_private.h"

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
        } c;
    } u;
};

#endif
