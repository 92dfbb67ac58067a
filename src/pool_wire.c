/*
 * The envelope of the messages between a pool and its workers: fixed-size
 * little-endian fields, as a frame's header has, around the values, which
 * are msgpack (value_codec.c). A pool and its workers are one program, so
 * the envelope is theirs to choose; it keeps a message of one small result
 * to one decoded value where a msgpack envelope would make a value of
 * every field. The layouts are in pool_internal.h.
 */
#include <stdlib.h>
#include <string.h>

#include "pool_internal.h"
#include "value_codec.h"

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

unsigned char *mproc__wire_put_u8(unsigned char *p, unsigned v)
{
    *p = (unsigned char) v;
    return p + 1;
}

unsigned char *mproc__wire_put_u32(unsigned char *p, uint32_t v)
{
    mproc__put_u32(p, v);
    return p + 4;
}

unsigned char *mproc__wire_put_f64(unsigned char *p, double v)
{
    uint64_t u;
    memcpy(&u, &v, sizeof u);
    mproc__put_i64(p, (int64_t) u);
    return p + 8;
}

unsigned char *mproc__wire_put_bytes(unsigned char *p, const void *s, size_t n)
{
    if (n > 0)
        memcpy(p, s, n);
    return p + n;
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

/* Room for @n numbers: the message's own for a few, else from the heap. */
static uint32_t *numbers(uint32_t *few, uint32_t n, const mproc__wire_t *r)
{
    if (r->bad || n > (size_t) (r->end - r->p) / 4)
        return NULL;
    return n <= MPROC__WIRE_FEW ? few : malloc(n * sizeof(uint32_t));
}

int mproc__wire_read_tasks(mproc__wire_tasks_t *t, const void *data, size_t len)
{
    mproc__wire_t r;
    const void *p;
    size_t n, total = 0;
    uint32_t i;
    t->counts = t->skips = NULL;
    memset(&t->items, 0, sizeof t->items);
    mproc__wire_start(&r, data, len);
    if (mproc__wire_get_u8(&r) != MPROC__POOL_TASKS)
        r.bad = 1;
    t->fn = mproc__wire_get_bytes(&r, &t->fn_len);
    t->soft = mproc__wire_get_f64(&r);
    t->limited = (int) mproc__wire_get_u8(&r);
    t->wrap = (int) mproc__wire_get_u8(&r);
    t->seq = mproc__wire_get_u32(&r);
    t->nunits = mproc__wire_get_u32(&r);
    t->counts = numbers(t->few_counts, t->nunits, &r);
    for (i = 0; t->counts != NULL && i < t->nunits; i++)
        total += t->counts[i] = mproc__wire_get_u32(&r);
    t->nskips = mproc__wire_get_u32(&r);
    t->skips = numbers(t->few_skips, t->nskips, &r);
    for (i = 0; t->skips != NULL && i < t->nskips; i++)
        t->skips[i] = mproc__wire_get_u32(&r);
    p = mproc__wire_get_bytes(&r, &n);
    if (r.bad || r.p != r.end || t->fn == NULL || t->counts == NULL ||
        t->skips == NULL || !(t->soft >= 0) ||
        mproc__value_reader_start(&t->items, p, n) != 0 ||
        t->items.left != total) {
        mproc__wire_tasks_free(t);
        return mproc__set_error(MPROC_ECORRUPT,
                                "a malformed task message of %zu bytes", len);
    }
    return 0;
}

void mproc__wire_tasks_free(mproc__wire_tasks_t *t)
{
    if (t->counts != t->few_counts)
        free(t->counts);
    if (t->skips != t->few_skips)
        free(t->skips);
    t->counts = t->skips = NULL;
    mproc__value_reader_end(&t->items);
}

int mproc__wire_next_entry(mproc__wire_t *r, mproc__wire_entry_t *e)
{
    uint32_t f;
    size_t n;
    e->values = NULL;
    e->seq = mproc__wire_get_u32(r);
    e->offset = mproc__wire_get_u32(r);
    e->elapsed = mproc__wire_get_f64(r);
    e->nfailures = mproc__wire_get_u32(r);
    e->failures = *r;
    /* The failures are read in turn with the values; here only passed. */
    for (f = 0; f < e->nfailures && !r->bad; f++) {
        mproc__wire_get_u32(r);
        mproc__wire_get_u32(r);
        mproc__wire_get_bytes(r, &n);
    }
    e->bytes = mproc__wire_get_bytes(r, &e->len);
    if (r->bad || mproc__value_list_count(e->bytes, e->len, &e->count) != 0) {
        r->bad = 1;
        return mproc__set_error(MPROC_ECORRUPT, "a malformed result message");
    }
    return 0;
}

int mproc__wire_next_failure(mproc__wire_entry_t *e, uint32_t *place,
                             int *status, const char **sentence, size_t *len)
{
    *place = mproc__wire_get_u32(&e->failures);
    *status = (int) (int32_t) mproc__wire_get_u32(&e->failures);
    *sentence = mproc__wire_get_bytes(&e->failures, len);
    if (e->failures.bad || *sentence == NULL) {
        *sentence = "";
        *len = 0;
        return MPROC_ECORRUPT;
    }
    return 0;
}
