/*
 * The envelope of the messages between a pool and its workers: fixed-size
 * little-endian fields, as a frame's header has, around the values, which
 * are msgpack (value_codec.c). A pool and its workers are one program, so
 * the envelope is theirs to choose; it keeps a message of one small result
 * to one decoded value where a msgpack envelope would make a value of
 * every field. The layouts are in pool_internal.h.
 */
#include <string.h>

#include "pool_internal.h"

int mproc__wire_u8(mproc__buf_t *b, unsigned v)
{
    unsigned char c = (unsigned char) v;
    return mproc__buf_append(b, &c, 1);
}

int mproc__wire_u32(mproc__buf_t *b, uint32_t v)
{
    unsigned char p[4];
    mproc__put_u32(p, v);
    return mproc__buf_append(b, p, 4);
}

int mproc__wire_f64(mproc__buf_t *b, double v)
{
    unsigned char p[8];
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    mproc__put_i64(p, (int64_t) u);
    return mproc__buf_append(b, p, 8);
}

int mproc__wire_str(mproc__buf_t *b, const char *s)
{
    size_t n = strlen(s);
    int rc = mproc__wire_u32(b, (uint32_t) n);
    return rc != 0 ? rc : mproc__buf_append(b, s, n);
}

void mproc__wire_start(mproc__wire_t *r, const void *data, size_t len)
{
    r->p = data;
    r->end = r->p + len;
    r->bad = 0;
}

/* The next @n bytes, or NULL (and the reader bad) if there are fewer. */
static const unsigned char *take(mproc__wire_t *r, size_t n)
{
    const unsigned char *at = r->p;
    if (r->bad || (size_t) (r->end - r->p) < n) {
        r->bad = 1;
        return NULL;
    }
    r->p += n;
    return at;
}

unsigned mproc__wire_get_u8(mproc__wire_t *r)
{
    const unsigned char *p = take(r, 1);
    return p != NULL ? *p : 0;
}

uint32_t mproc__wire_get_u32(mproc__wire_t *r)
{
    const unsigned char *p = take(r, 4);
    return p != NULL ? mproc__get_u32(p) : 0;
}

double mproc__wire_get_f64(mproc__wire_t *r)
{
    const unsigned char *p = take(r, 8);
    uint64_t u;
    double v = 0;
    if (p != NULL) {
        u = (uint64_t) mproc__get_i64(p);
        memcpy(&v, &u, sizeof v);
    }
    return v;
}

const void *mproc__wire_get_bytes(mproc__wire_t *r, size_t *len)
{
    uint32_t n = mproc__wire_get_u32(r);
    const unsigned char *p = take(r, n);
    *len = p != NULL ? n : 0;
    return p;
}
