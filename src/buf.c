/*
 * Growable byte buffers and little-endian integer helpers.
 */
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

int mproc__buf_reserve(mproc__buf_t *b, size_t extra)
{
    size_t want, cap;
    unsigned char *p;
    if (extra > SIZE_MAX - b->len)
        return mproc__set_error(MPROC_ENOMEM, "buffer size overflow");
    want = b->len + extra;
    if (want <= b->cap)
        return 0;
    cap = b->cap ? b->cap : 64;
    while (cap < want)
        cap = cap > SIZE_MAX / 2 ? want : cap * 2;
    p = realloc(b->data, cap);
    if (p == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory (%zu bytes)", cap);
    b->data = p;
    b->cap = cap;
    return 0;
}

int mproc__buf_append(mproc__buf_t *b, const void *data, size_t n)
{
    int rc;
    if (n == 0)
        return 0;
    rc = mproc__buf_reserve(b, n);
    if (rc != 0)
        return rc;
    memcpy(b->data + b->len, data, n);
    b->len += n;
    return 0;
}

void mproc__buf_free(mproc__buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

char *mproc__strdup(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d != NULL)
        memcpy(d, s, n);
    return d;
}

void mproc__put_u32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) v;
    p[1] = (unsigned char) (v >> 8);
    p[2] = (unsigned char) (v >> 16);
    p[3] = (unsigned char) (v >> 24);
}

uint32_t mproc__get_u32(const unsigned char *p)
{
    return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 |
           (uint32_t) p[3] << 24;
}

void mproc__put_i64(unsigned char *p, int64_t v)
{
    uint64_t u = (uint64_t) v;
    mproc__put_u32(p, (uint32_t) u);
    mproc__put_u32(p + 4, (uint32_t) (u >> 32));
}

int64_t mproc__get_i64(const unsigned char *p)
{
    uint64_t u = (uint64_t) mproc__get_u32(p) | (uint64_t) mproc__get_u32(p + 4)
                                                    << 32;
    return (int64_t) u;
}
