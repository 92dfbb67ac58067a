/*
 * The manager's object store and the dispatcher that serves one request on
 * it: what the server process runs for each message of each client.
 *
 * Objects. A dict keeps its pairs in insertion order in an array of
 * entries, found through a hash index beside it (CPython's compact dict),
 * so that iteration, keys() and popitem() (the last pair) follow the
 * order Python's do. Keys are Python's hashable values, and equal numbers
 * are one key (1, 1.0 and True). A Namespace is a dict whose keys are
 * names. A list is an array.
 *
 * Locks. The store's lock guards the table of objects, every count of
 * references, the holds and the sessions; it is held for a few steps at a
 * time. An object's contents are guarded by one of a fixed set of stripe
 * locks, chosen by its id, so that calls on different objects rarely wait
 * for each other and one object's calls run one at a time (atomic). A
 * call takes its object's stripe first and the store's lock inside it,
 * never the other way round, and never two stripes. Outside its stripe it
 * holds the contents lock shared, which the cycle collector alone takes
 * whole.
 *
 * References. An object lives while anything refers to it: a session's
 * count (a proxy in a client process), a hold (a reference in transit,
 * see below), or a reference stored in an object or under a registered
 * name. The server frees it when the count of all of them reaches zero;
 * freeing it lets go of what its contents refer to, in turn. A request
 * being served pins its object, so that it is freed after the request,
 * not under it. Objects that refer to each other in a cycle never reach
 * zero: the collector (see "cycles" below) frees those that nothing
 * outside the cycles refers to.
 *
 * Holds. A reference travels (a start argument, a queue, a pipe, a value
 * stored in another object) while the process that made it may let go of
 * its own proxy. So making one (EXPORT) creates a hold, counted as a
 * reference and owned by the exporting session; the reference names it.
 * The process that opens the reference (CLAIM), or the server when it
 * stores the reference in an object, takes the hold over: the count stays
 * as it was and the hold is gone. A reference copied and opened twice
 * finds its hold gone the second time and is counted anew. Holds never
 * taken go with the session that owns them. A reference the server sends
 * (a stored proxy read back) gets a hold of the reading session's in the
 * same way, one per session and object however often it is read.
 */
#include <apr_pools.h>
#include <apr_thread_mutex.h>
#include <apr_thread_rwlock.h>
#include <math.h>
#include <msgpack.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "manager.h"
#include "value_codec.h"

/* How many stripe locks guard the objects' contents. */
#define STRIPES 64

/* ---- Python's view of values: names, equality, order, hashes ----------- */

/* Python's name of the type a value stands for, as its sentences say it. */
static const char *py_type(const mproc_value_t *v)
{
    switch (mproc_value_type(v)) {
    case MPROC_VALUE_NIL:
        return "NoneType";
    case MPROC_VALUE_BOOL:
        return "bool";
    case MPROC_VALUE_INT:
        return "int";
    case MPROC_VALUE_FLOAT:
        return "float";
    case MPROC_VALUE_STR:
        return "str";
    case MPROC_VALUE_BYTES:
        return "bytes";
    case MPROC_VALUE_LIST:
        return "list";
    case MPROC_VALUE_MAP:
        return "dict";
    case MPROC_VALUE_RECORD:
        return mproc_value_record_type(v);
    case MPROC_VALUE_REF:
        switch (mproc_value_ref_kind(v)) {
        case MPROC_REF_DICT:
            return "DictProxy";
        case MPROC_REF_LIST:
            return "ListProxy";
        case MPROC_REF_NAMESPACE:
            return "NamespaceProxy";
        default:
            return "reference";
        }
    }
    return "?";
}

static int is_number(const mproc_value_t *v)
{
    mproc_value_type_e t = mproc_value_type(v);
    return v != NULL && (t == MPROC_VALUE_BOOL || t == MPROC_VALUE_INT ||
                         t == MPROC_VALUE_FLOAT);
}

/* An integer or bool as the integer Python takes it for. */
static int64_t int_of(const mproc_value_t *v)
{
    return mproc_value_type(v) == MPROC_VALUE_BOOL
               ? (int64_t) mproc_value_as_bool(v)
               : mproc_value_as_int(v);
}

/* Whether double @f is a whole number that an int64_t holds exactly. */
static int whole_int64(double f, int64_t *i)
{
    /* In range, the conversion truncates: whole if nothing was cut. */
    if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0) ||
        (double) (int64_t) f != f)
        return 0;
    *i = (int64_t) f;
    return 1;
}

/*
 * Compares two numbers exactly, as Python does (an integer beyond 2^53 is
 * no float): -1, 0 or 1, or 2 when a NaN makes them unordered.
 */
static int num_cmp(const mproc_value_t *a, const mproc_value_t *b)
{
    int af = mproc_value_type(a) == MPROC_VALUE_FLOAT;
    int bf = mproc_value_type(b) == MPROC_VALUE_FLOAT;
    if (!af && !bf) {
        int64_t x = int_of(a), y = int_of(b);
        return x < y ? -1 : x > y;
    }
    if (af && bf) {
        double x = mproc_value_as_float(a), y = mproc_value_as_float(b);
        if (isnan(x) || isnan(y))
            return 2;
        return x < y ? -1 : x > y;
    }
    {
        /* One integer @i against one float @f; the sign flips for b. */
        int64_t i = int_of(af ? b : a), t;
        double f = mproc_value_as_float(af ? a : b);
        int r; /* the order of i against f */
        if (isnan(f))
            return 2;
        if (f >= 9223372036854775808.0)
            r = -1;
        else if (f < -9223372036854775808.0)
            r = 1;
        else {
            t = (int64_t) f; /* truncated towards zero */
            if (i != t)
                r = i < t ? -1 : 1;
            else
                r = (double) t == f ? 0 : (f > (double) t ? -1 : 1);
        }
        return af ? -r : r;
    }
}

static int same_ref(const mproc_value_t *a, const mproc_value_t *b)
{
    const mproc_value_t *fa = mproc__ref_fields(a), *fb = mproc__ref_fields(b);
    if (mproc_value_ref_kind(a) != mproc_value_ref_kind(b))
        return 0;
    if (!mproc__mgr_kind_ok(mproc_value_ref_kind(a)))
        return mproc_value_equal(a, b);
    /* Whoever made them, two references to one object are equal. */
    return mproc_value_equal(mproc_value_at(fa, MPROC__MGR_REF_MANAGER),
                             mproc_value_at(fb, MPROC__MGR_REF_MANAGER)) &&
           mproc_value_as_int(mproc_value_at(fa, MPROC__MGR_REF_OBJECT)) ==
               mproc_value_as_int(mproc_value_at(fb, MPROC__MGR_REF_OBJECT));
}

static int py_equal(const mproc_value_t *a, const mproc_value_t *b);

/* Whether map @b has a key equal to @k with a value equal to @v. */
static int map_has_pair(const mproc_value_t *b, const mproc_value_t *k,
                        const mproc_value_t *v)
{
    size_t i, n = mproc_value_len(b);
    for (i = 0; i < n; i++)
        if (py_equal(mproc_value_key_at(b, i), k))
            return py_equal(mproc_value_value_at(b, i), v);
    return 0;
}

/* Python's ==: numbers by value, containers item by item, dicts unordered. */
static int py_equal(const mproc_value_t *a, const mproc_value_t *b)
{
    mproc_value_type_e ta = mproc_value_type(a), tb = mproc_value_type(b);
    size_t i, n;
    if (is_number(a) && is_number(b))
        return num_cmp(a, b) == 0;
    if (ta != tb)
        return 0;
    switch (ta) {
    case MPROC_VALUE_NIL:
        return 1;
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        return mproc_value_equal(a, b);
    case MPROC_VALUE_RECORD:
        if (strcmp(mproc_value_record_type(a), mproc_value_record_type(b)) != 0)
            return 0;
        /* fall through */
    case MPROC_VALUE_LIST:
        n = mproc_value_len(a);
        if (n != mproc_value_len(b))
            return 0;
        for (i = 0; i < n; i++)
            if (!py_equal(mproc_value_at(a, i), mproc_value_at(b, i)))
                return 0;
        return 1;
    case MPROC_VALUE_MAP:
        n = mproc_value_len(a);
        if (n != mproc_value_len(b))
            return 0;
        for (i = 0; i < n; i++)
            if (!map_has_pair(b, mproc_value_key_at(a, i),
                              mproc_value_value_at(a, i)))
                return 0;
        return 1;
    case MPROC_VALUE_REF:
        return same_ref(a, b);
    default:
        return 0;
    }
}

/*
 * Python's a < b for sorting: 0 with *@lt, or MPROC_ETYPE with Python's
 * sentence for values that have no order between them.
 */
static int py_less(const mproc_value_t *a, const mproc_value_t *b, int *lt)
{
    mproc_value_type_e ta = mproc_value_type(a), tb = mproc_value_type(b);
    *lt = 0;
    if (is_number(a) && is_number(b)) {
        *lt = num_cmp(a, b) == -1;
        return 0;
    }
    if (ta == tb && (ta == MPROC_VALUE_STR || ta == MPROC_VALUE_BYTES)) {
        size_t la, lb;
        const void *pa = mproc_value_as_bytes(a, &la);
        const void *pb = mproc_value_as_bytes(b, &lb);
        int c = memcmp(pa, pb, la < lb ? la : lb);
        *lt = c < 0 || (c == 0 && la < lb);
        return 0;
    }
    if (ta == MPROC_VALUE_LIST && tb == MPROC_VALUE_LIST) {
        size_t i, la = mproc_value_len(a), lb = mproc_value_len(b);
        for (i = 0; i < la && i < lb; i++)
            if (!py_equal(mproc_value_at(a, i), mproc_value_at(b, i)))
                return py_less(mproc_value_at(a, i), mproc_value_at(b, i), lt);
        *lt = la < lb;
        return 0;
    }
    return mproc__set_error(MPROC_ETYPE,
                            "'<' not supported between instances of '%s' and "
                            "'%s'",
                            py_type(a), py_type(b));
}

/* A 64-bit mix of @x (splitmix64's finalizer). */
static uint64_t mix64(uint64_t x)
{
    x ^= x >> 30;
    x *= 0xbf58476d1ce4e5b9ULL;
    x ^= x >> 27;
    x *= 0x94d049bb133111ebULL;
    x ^= x >> 31;
    return x;
}

/*
 * The hash of key @k, equal for keys Python takes for equal (so a whole
 * float hashes as its integer); the bytes of strings are hashed with a
 * key random to this server (SipHash), so that no client can choose keys
 * that collide. MPROC_ETYPE with Python's sentence for a value that is no
 * key.
 */
static int key_hash(const unsigned char *hkey, const mproc_value_t *k,
                    uint64_t *h)
{
    int64_t i;
    double f;
    unsigned char out[crypto_shorthash_BYTES];
    const void *p;
    size_t n;
    switch (mproc_value_type(k)) {
    case MPROC_VALUE_NIL:
        *h = 0x6e6f6e65ULL;
        return 0;
    case MPROC_VALUE_BOOL:
    case MPROC_VALUE_INT:
        *h = mix64((uint64_t) int_of(k));
        return 0;
    case MPROC_VALUE_FLOAT:
        f = mproc_value_as_float(k);
        if (whole_int64(f, &i)) {
            *h = mix64((uint64_t) i);
        } else {
            uint64_t bits;
            memcpy(&bits, &f, sizeof bits);
            *h = mix64(bits ^ 0x5bd1e995ULL);
        }
        return 0;
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        p = mproc_value_as_bytes(k, &n);
        crypto_shorthash(out, p, n, hkey);
        memcpy(h, out, sizeof *h);
        /* A string and a byte string of the same bytes are two keys. */
        if (mproc_value_type(k) == MPROC_VALUE_BYTES)
            *h = mix64(*h);
        return 0;
    default:
        return mproc__set_error(MPROC_ETYPE, "unhashable type: '%s'",
                                py_type(k));
    }
}

/* "KeyError: <repr>", Python's last line for a missing key. */
static int key_error(const mproc_value_t *k)
{
    char *r = mproc_value_repr(k);
    int rc = mproc__set_error(MPROC_ENOTFOUND, "KeyError: %.400s",
                              r != NULL ? r : "?");
    free(r);
    return rc;
}

/* ---- a map of 64-bit ids ------------------------------------------------ */

/*
 * Open addressing with linear probing; id 0 marks a free place, so ids
 * start at 1. Deletion shifts the entries after it back, leaving no
 * tombstones.
 */
typedef struct imap {
    int64_t *keys;
    void **vals;
    size_t cap; /* a power of two, or 0 */
    size_t n;
} imap;

static size_t islot(int64_t k, size_t cap)
{
    return (size_t) mix64((uint64_t) k) & (cap - 1);
}

static void *imap_get(const imap *m, int64_t k)
{
    size_t i;
    if (m->cap == 0)
        return NULL;
    for (i = islot(k, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == k)
            return m->vals[i];
    return NULL;
}

static int imap_grow(imap *m)
{
    size_t cap = m->cap ? m->cap * 2 : 16, i;
    int64_t *keys = calloc(cap, sizeof *keys);
    void **vals = calloc(cap, sizeof *vals);
    if (keys == NULL || vals == NULL) {
        free(keys);
        free(vals);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    for (i = 0; i < m->cap; i++) {
        size_t j;
        if (m->keys[i] == 0)
            continue;
        for (j = islot(m->keys[i], cap); keys[j] != 0; j = (j + 1) & (cap - 1))
            ;
        keys[j] = m->keys[i];
        vals[j] = m->vals[i];
    }
    free(m->keys);
    free(m->vals);
    m->keys = keys;
    m->vals = vals;
    m->cap = cap;
    return 0;
}

/* Sets @k to @v (a new entry or a replaced one); MPROC_ENOMEM. */
static int imap_put(imap *m, int64_t k, void *v)
{
    size_t i;
    if ((m->n + 1) * 4 > m->cap * 3 && imap_grow(m) != 0)
        return MPROC_ENOMEM;
    for (i = islot(k, m->cap); m->keys[i] != 0; i = (i + 1) & (m->cap - 1))
        if (m->keys[i] == k) {
            m->vals[i] = v;
            return 0;
        }
    m->keys[i] = k;
    m->vals[i] = v;
    m->n++;
    return 0;
}

/* Removes @k; what it held, or NULL. */
static void *imap_del(imap *m, int64_t k)
{
    size_t i, j, mask = m->cap - 1;
    void *v;
    if (m->cap == 0)
        return NULL;
    for (i = islot(k, m->cap); m->keys[i] != k; i = (i + 1) & mask)
        if (m->keys[i] == 0)
            return NULL;
    v = m->vals[i];
    /* Shift back every entry of the run that probed past place i. */
    for (j = (i + 1) & mask; m->keys[j] != 0; j = (j + 1) & mask) {
        size_t home = islot(m->keys[j], m->cap);
        if ((j > i && (home <= i || home > j)) ||
            (j < i && (home <= i && home > j))) {
            m->keys[i] = m->keys[j];
            m->vals[i] = m->vals[j];
            i = j;
        }
    }
    m->keys[i] = 0;
    m->vals[i] = NULL;
    m->n--;
    return v;
}

static void imap_free(imap *m)
{
    free(m->keys);
    free(m->vals);
    memset(m, 0, sizeof *m);
}

/* ---- dicts ----------------------------------------------------------------
 */

typedef struct dentry {
    mproc_value_t *key; /* NULL: removed */
    mproc_value_t *value;
    uint64_t hash;
} dentry;

typedef struct mdict {
    dentry *e;    /* in insertion order, removed ones included */
    size_t n;     /* entries used, removed ones included */
    size_t cap;   /* entries allocated */
    size_t live;  /* entries not removed: the dict's length */
    int64_t *idx; /* the hash index: an entry, EMPTY or GONE */
    size_t nidx;  /* a power of two, or 0 */
} mdict;

#define IDX_EMPTY (-1)
#define IDX_GONE (-2)

/* CPython's probe sequence: every place of the index, in a hashed order. */
#define PROBE_NEXT(i, perturb, mask)                                           \
    ((perturb) >>= 5, ((i) *5 + 1 + (size_t) (perturb)) & (mask))

static int64_t mdict_find(const mdict *d, const mproc_value_t *key, uint64_t h)
{
    size_t mask, i;
    uint64_t perturb = h;
    if (d->nidx == 0)
        return -1;
    mask = d->nidx - 1;
    for (i = (size_t) h & mask;; i = PROBE_NEXT(i, perturb, mask)) {
        int64_t j = d->idx[i];
        if (j == IDX_EMPTY)
            return -1;
        if (j >= 0 && d->e[j].hash == h && py_equal(d->e[j].key, key))
            return j;
    }
}

/* The place of the index that holds entry @j. */
static size_t mdict_place(const mdict *d, int64_t j)
{
    size_t mask = d->nidx - 1, i;
    uint64_t perturb = d->e[j].hash;
    for (i = (size_t) d->e[j].hash & mask; d->idx[i] != j;
         i = PROBE_NEXT(i, perturb, mask))
        ;
    return i;
}

static void mdict_index_one(mdict *d, int64_t j)
{
    size_t mask = d->nidx - 1, i;
    uint64_t perturb = d->e[j].hash;
    for (i = (size_t) d->e[j].hash & mask; d->idx[i] >= 0;
         i = PROBE_NEXT(i, perturb, mask))
        ;
    d->idx[i] = j;
}

/*
 * Drops the removed entries and makes an index for @want entries (kept
 * under two thirds full). Nothing changes if memory runs out.
 */
static int mdict_rebuild(mdict *d, size_t want)
{
    size_t nidx = 8, i, k = 0;
    int64_t *idx;
    while (nidx * 2 < want * 3)
        nidx *= 2;
    idx = malloc(nidx * sizeof *idx);
    if (idx == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    for (i = 0; i < nidx; i++)
        idx[i] = IDX_EMPTY;
    for (i = 0; i < d->n; i++)
        if (d->e[i].key != NULL)
            d->e[k++] = d->e[i];
    d->n = k;
    free(d->idx);
    d->idx = idx;
    d->nidx = nidx;
    for (i = 0; i < d->n; i++)
        mdict_index_one(d, (int64_t) i);
    return 0;
}

/* Makes room for one more entry. */
static int mdict_reserve(mdict *d)
{
    if (d->n == d->cap) {
        if (d->cap > 0 && d->n - d->live >= d->cap / 4) {
            if (mdict_rebuild(d, d->live + 1) != 0)
                return MPROC_ENOMEM;
        } else {
            size_t cap = d->cap ? d->cap * 2 : 8;
            dentry *e = realloc(d->e, cap * sizeof *e);
            if (e == NULL)
                return mproc__set_error(MPROC_ENOMEM, "out of memory");
            d->e = e;
            d->cap = cap;
        }
    }
    if ((d->n + 1) * 3 > d->nidx * 2)
        return mdict_rebuild(d, d->n + 1);
    return 0;
}

/*
 * Adds @key (known to be absent) with @value; both are the dict's from
 * here on, or stay the caller's on failure.
 */
static int mdict_insert(mdict *d, mproc_value_t *key, mproc_value_t *value,
                        uint64_t h)
{
    if (mdict_reserve(d) != 0)
        return MPROC_ENOMEM;
    d->e[d->n].key = key;
    d->e[d->n].value = value;
    d->e[d->n].hash = h;
    mdict_index_one(d, (int64_t) d->n);
    d->n++;
    d->live++;
    return 0;
}

/* Takes entry @j out: its key and value go to the caller. */
static void mdict_remove(mdict *d, int64_t j, mproc_value_t **key,
                         mproc_value_t **value)
{
    d->idx[mdict_place(d, j)] = IDX_GONE;
    *key = d->e[j].key;
    *value = d->e[j].value;
    d->e[j].key = d->e[j].value = NULL;
    d->live--;
    /* Trailing removed entries are simply forgotten. */
    while (d->n > 0 && d->e[d->n - 1].key == NULL)
        d->n--;
    if (d->live == 0) {
        free(d->idx);
        d->idx = NULL;
        d->nidx = 0;
        d->n = 0;
    }
}

/* ---- lists ----------------------------------------------------------------
 */

typedef struct mlist {
    mproc_value_t **v;
    size_t n, cap;
} mlist;

static int mlist_reserve(mlist *l, size_t extra)
{
    size_t cap = l->cap ? l->cap : 8;
    mproc_value_t **v;
    if (extra > SIZE_MAX / sizeof *v - l->n)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (l->n + extra <= l->cap)
        return 0;
    while (cap < l->n + extra)
        cap *= 2;
    v = realloc(l->v, cap * sizeof *v);
    if (v == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    l->v = v;
    l->cap = cap;
    return 0;
}

/* ---- objects, sessions, holds ------------------------------------------- */

typedef struct mobj {
    int64_t id;
    int kind;  /* MPROC_REF_DICT, _LIST or _NAMESPACE */
    long refs; /* sessions' counts, holds, stored references, names */
    long pins; /* requests serving it now */
    /*
     * Whether a reference was ever stored in it (it may be in a cycle),
     * and the collector's scratch: the references from outside the
     * objects' contents, and whether a root reaches it.
     */
    volatile uint32_t may_refer;
    long external;
    int reached;
    mdict d; /* a dict's or a Namespace's */
    mlist l; /* a list's */
    struct mobj *next_free;
} mobj;

typedef struct hold {
    int64_t id;
    mobj *obj;
    mproc__mgr_session_t *owner;
    int served; /* made for a reply (one per session and object) */
    struct hold *prev, *next;
} hold;

struct mproc__mgr_session_t {
    mproc__mgr_store_t *s;
    char token[MPROC__MGR_TOKEN_LEN + 1]; /* what JOIN names it by */
    long conns;                           /* connections that use it */
    imap counts; /* object id -> how many references it holds */
    imap served; /* object id -> its hold made for replies */
    hold *holds; /* every hold it owns */
    mproc__mgr_session_t *prev, *next;
};

struct mproc__mgr_store_t {
    char id[MPROC__MGR_ID_LEN + 1];
    char *name;
    long pid;
    apr_pool_t *pool;
    apr_thread_mutex_t *lock;
    apr_thread_mutex_t *stripes[STRIPES];
    /*
     * Held shared by every call on an object's contents (outside its
     * stripe), and whole by the collector, which so sees no contents change.
     */
    apr_thread_rwlock_t *contents;
    unsigned char hkey[crypto_shorthash_KEYBYTES];
    imap objects;
    int64_t next_id;
    imap holds;
    int64_t next_hold;
    mobj names; /* the registered names: a dict of id 0, never freed */
    mproc__mgr_session_t *sessions;
    /* Releases since the last pass that may have left a cycle (collect()). */
    volatile uint32_t suspects;
};

static void lock(apr_thread_mutex_t *m)
{
    apr_thread_mutex_lock(m);
}

static void unlock(apr_thread_mutex_t *m)
{
    apr_thread_mutex_unlock(m);
}

static apr_thread_mutex_t *stripe(mproc__mgr_store_t *s, const mobj *o)
{
    return s->stripes[(uint64_t) o->id % STRIPES];
}

/* Whether @v is a reference to an object of this store's server. */
static int own_ref(const mproc__mgr_store_t *s, const mproc_value_t *v)
{
    const mproc_value_t *f;
    if (!mproc__mgr_kind_ok(mproc_value_ref_kind(v)))
        return 0;
    f = mproc_value_at(mproc__ref_fields(v), MPROC__MGR_REF_MANAGER);
    return mproc_value_len(f) == MPROC__MGR_ID_LEN &&
           memcmp(mproc_value_as_str(f), s->id, MPROC__MGR_ID_LEN) == 0;
}

static int64_t ref_field(const mproc_value_t *ref, size_t i)
{
    return mproc_value_as_int(mproc_value_at(mproc__ref_fields(ref), i));
}

/*
 * Calls @fn for every reference to this server's objects anywhere in @v,
 * until one returns nonzero, which is then the answer.
 */
static int walk(const mproc__mgr_store_t *s, mproc_value_t *v,
                int (*fn)(void *ctx, mproc_value_t *ref), void *ctx)
{
    mproc_value_type_e t = mproc_value_type(v);
    size_t i, n;
    int rc;
    if (t == MPROC_VALUE_REF)
        return own_ref(s, v) ? fn(ctx, v) : 0;
    if (t == MPROC_VALUE_LIST || t == MPROC_VALUE_RECORD) {
        n = mproc_value_len(v);
        for (i = 0; i < n; i++)
            if ((rc = walk(s, (mproc_value_t *) mproc_value_at(v, i), fn,
                           ctx)) != 0)
                return rc;
    } else if (t == MPROC_VALUE_MAP) {
        n = mproc_value_len(v);
        for (i = 0; i < n; i++) {
            if ((rc = walk(s, (mproc_value_t *) mproc_value_key_at(v, i), fn,
                           ctx)) != 0 ||
                (rc = walk(s, (mproc_value_t *) mproc_value_value_at(v, i), fn,
                           ctx)) != 0)
                return rc;
        }
    }
    return 0;
}

static int found_one(void *ctx, mproc_value_t *ref)
{
    (void) ctx;
    (void) ref;
    return 1;
}

/* Whether @v refers to any of this server's objects (most values do not). */
static int has_refs(const mproc__mgr_store_t *s, mproc_value_t *v)
{
    if (!mproc__value_holds_proxy(v))
        return 0;
    return walk(s, v, found_one, NULL);
}

/*
 * One reference less on @o; called with the store's lock held. An object
 * that nothing refers to leaves the table, and goes on *@dead to be freed
 * once no request is serving it.
 */
static void decref_locked(mproc__mgr_store_t *s, mobj *o, mobj **dead)
{
    if (--o->refs > 0) {
        /* What refers to others may be kept alive by a cycle alone now. */
        if (mproc__atomic_load32(&o->may_refer))
            mproc__atomic_inc32(&s->suspects);
        return;
    }
    imap_del(&s->objects, o->id);
    if (o->pins == 0) {
        o->next_free = *dead;
        *dead = o;
    }
}

typedef struct drop_ctx {
    mproc__mgr_store_t *s;
    mobj **dead;
} drop_ctx;

static int drop_one(void *ctx, mproc_value_t *ref)
{
    drop_ctx *c = ctx;
    mobj *o = imap_get(&c->s->objects, ref_field(ref, MPROC__MGR_REF_OBJECT));
    if (o != NULL)
        decref_locked(c->s, o, c->dead);
    return 0;
}

static void free_objects(mproc__mgr_store_t *s, mobj *dead);

/*
 * Frees @v (NULL: nothing), which was counted as referring to what its
 * references name: those counts go, and objects left with none are freed.
 */
static void drop(mproc__mgr_store_t *s, mproc_value_t *v)
{
    mobj *dead = NULL;
    drop_ctx c;
    if (v == NULL)
        return;
    if (has_refs(s, v)) {
        c.s = s;
        c.dead = &dead;
        lock(s->lock);
        walk(s, v, drop_one, &c);
        unlock(s->lock);
    }
    mproc_value_free(v);
    free_objects(s, dead);
}

/* Frees the contents of @o, dropping what they refer to, and @o. */
static void free_contents(mproc__mgr_store_t *s, mobj *o, mobj **dead)
{
    drop_ctx c;
    size_t i;
    c.s = s;
    c.dead = dead;
    lock(s->lock);
    for (i = 0; i < o->d.n; i++) {
        if (o->d.e[i].key == NULL)
            continue;
        walk(s, o->d.e[i].value, drop_one, &c);
    }
    for (i = 0; i < o->l.n; i++)
        walk(s, o->l.v[i], drop_one, &c);
    unlock(s->lock);
    for (i = 0; i < o->d.n; i++) {
        mproc_value_free(o->d.e[i].key);
        mproc_value_free(o->d.e[i].value);
    }
    for (i = 0; i < o->l.n; i++)
        mproc_value_free(o->l.v[i]);
    free(o->d.e);
    free(o->d.idx);
    free(o->l.v);
    memset(&o->d, 0, sizeof o->d);
    memset(&o->l, 0, sizeof o->l);
}

/*
 * Frees a list of objects that nothing refers to; what they referred to
 * may follow, so this works through a list rather than recursing.
 */
static void free_objects(mproc__mgr_store_t *s, mobj *dead)
{
    while (dead != NULL) {
        mobj *o = dead;
        dead = o->next_free;
        free_contents(s, o, &dead);
        free(o);
    }
}

/* ---- cycles ------------------------------------------------------------- */

/*
 * Objects that refer to each other in a cycle keep their counts above
 * zero when nothing else refers to them any more. The collector finds
 * them as CPython's does: an object's count less the references to it
 * from objects' contents is what refers to it from outside (a session's
 * count, a hold, a registered name, a value a request is storing or has
 * just taken out); an object with any, or that a request is serving, is a
 * root, and what no root reaches, through contents, is garbage. A pass
 * holds the contents lock whole (every call on contents holds it shared)
 * and the store's lock, so that no count and no contents change under it,
 * and costs time in proportion to the objects (about a microsecond each
 * when they hold references), every object's calls held up meanwhile.
 *
 * So it does not run on every release that may leave a cycle (a count
 * gone down and still above zero on an object that ever had a reference
 * stored in it, which a cycle needs): it runs once such releases number
 * GC_SHARE-th of the objects, as CPython's oldest generation waits for a
 * quarter more objects, so that a release pays for a few objects' share
 * of a pass and not for all of them. A small store collects after every
 * such release or nearly; one of 16,000 objects after 4,000. A client's
 * end, and a count of the objects, collect whenever any is suspect, so a
 * count tells the objects that something can still reach.
 */
#define GC_SHARE 4
typedef struct gc_ctx {
    mproc__mgr_store_t *s;
    mobj **stack;
    size_t n;
    mobj **dead;
} gc_ctx;

static int gc_uncount(void *ctx, mproc_value_t *ref)
{
    gc_ctx *g = ctx;
    mobj *t = imap_get(&g->s->objects, ref_field(ref, MPROC__MGR_REF_OBJECT));
    if (t != NULL)
        t->external--;
    return 0;
}

static int gc_reach(void *ctx, mproc_value_t *ref)
{
    gc_ctx *g = ctx;
    mobj *t = imap_get(&g->s->objects, ref_field(ref, MPROC__MGR_REF_OBJECT));
    if (t != NULL && !t->reached) {
        t->reached = 1;
        g->stack[g->n++] = t;
    }
    return 0;
}

/* A garbage object's reference: a count less on what is still there. */
static int gc_release(void *ctx, mproc_value_t *ref)
{
    gc_ctx *g = ctx;
    mobj *t = imap_get(&g->s->objects, ref_field(ref, MPROC__MGR_REF_OBJECT));
    if (t != NULL)
        decref_locked(g->s, t, g->dead);
    return 0;
}

/* Calls @fn for every reference in @o's contents. */
static void each_ref(mproc__mgr_store_t *s, mobj *o,
                     int (*fn)(void *ctx, mproc_value_t *ref), gc_ctx *g)
{
    size_t i;
    for (i = 0; i < o->d.n; i++)
        if (o->d.e[i].key != NULL)
            walk(s, o->d.e[i].value, fn, g);
    for (i = 0; i < o->l.n; i++)
        walk(s, o->l.v[i], fn, g);
}

/* Frees what @o holds, and @o, counting nothing. */
static void free_memory(mobj *o)
{
    size_t k;
    for (k = 0; k < o->d.n; k++) {
        mproc_value_free(o->d.e[k].key);
        mproc_value_free(o->d.e[k].value);
    }
    for (k = 0; k < o->l.n; k++)
        mproc_value_free(o->l.v[k]);
    free(o->d.e);
    free(o->d.idx);
    free(o->l.v);
    free(o);
}

static void collect(mproc__mgr_store_t *s)
{
    mobj *garbage = NULL, *dead = NULL, *o;
    gc_ctx g;
    size_t i;
    apr_thread_rwlock_wrlock(s->contents);
    lock(s->lock);
    g.s = s;
    g.n = 0;
    g.dead = &dead;
    g.stack = NULL;
    /* Another thread's pass may have run since this one was asked for. */
    if (!mproc__atomic_load32(&s->suspects))
        goto out;
    g.stack = malloc((s->objects.n + 1) * sizeof *g.stack);
    /* Out of memory: the next release that may leave a cycle tries again. */
    if (g.stack == NULL)
        goto out;
    mproc__atomic_store32(&s->suspects, 0);
    for (i = 0; i < s->objects.cap; i++)
        if (s->objects.keys[i] != 0) {
            o = s->objects.vals[i];
            o->external = o->refs;
            o->reached = 0;
        }
    for (i = 0; i < s->objects.cap; i++)
        if (s->objects.keys[i] != 0) {
            o = s->objects.vals[i];
            if (mproc__atomic_load32(&o->may_refer))
                each_ref(s, o, gc_uncount, &g);
        }
    for (i = 0; i < s->objects.cap; i++)
        if (s->objects.keys[i] != 0) {
            o = s->objects.vals[i];
            if ((o->external > 0 || o->pins > 0) && !o->reached) {
                o->reached = 1;
                g.stack[g.n++] = o;
            }
        }
    while (g.n > 0) {
        o = g.stack[--g.n];
        if (mproc__atomic_load32(&o->may_refer))
            each_ref(s, o, gc_reach, &g);
    }
    for (i = 0; i < s->objects.cap; i++)
        if (s->objects.keys[i] != 0) {
            o = s->objects.vals[i];
            if (!o->reached) {
                o->next_free = garbage;
                garbage = o;
            }
        }
    for (o = garbage; o != NULL; o = o->next_free)
        imap_del(&s->objects, o->id);
    /* What the garbage refers to that lives loses those counts. */
    for (o = garbage; o != NULL; o = o->next_free)
        each_ref(s, o, gc_release, &g);
    /* Those were reached from a root, so they leave no new cycle. */
    mproc__atomic_store32(&s->suspects, 0);
out:
    unlock(s->lock);
    apr_thread_rwlock_unlock(s->contents);
    free(g.stack);
    while (garbage != NULL) {
        o = garbage;
        garbage = o->next_free;
        free_memory(o);
    }
    free_objects(s, dead);
}

/*
 * Collects cycles if releases may have left one, and, unless @now, only
 * once they are a share of the objects (GC_SHARE); called holding no lock.
 */
static void maybe_collect(mproc__mgr_store_t *s, int now)
{
    uint32_t suspects = mproc__atomic_load32(&s->suspects);
    size_t n;
    if (suspects == 0)
        return;
    if (!now) {
        lock(s->lock);
        n = s->objects.n;
        unlock(s->lock);
        if ((size_t) suspects * GC_SHARE < n)
            return;
    }
    collect(s);
}

/* The object @id, pinned for a request (NULL if there is none). */
static mobj *pin(mproc__mgr_store_t *s, int64_t id)
{
    mobj *o;
    lock(s->lock);
    o = imap_get(&s->objects, id);
    if (o != NULL)
        o->pins++;
    unlock(s->lock);
    return o;
}

static void unpin(mproc__mgr_store_t *s, mobj *o)
{
    int gone;
    lock(s->lock);
    /* Out of the table already once nothing refers to it. */
    gone = --o->pins == 0 && o->refs == 0;
    unlock(s->lock);
    if (gone) {
        o->next_free = NULL;
        free_objects(s, o);
    }
}

/* Adds @n to @sess's count on @o; called with the store's lock held. */
static int count_add(mproc__mgr_session_t *sess, mobj *o, long n)
{
    intptr_t was = (intptr_t) imap_get(&sess->counts, o->id);
    if (was + n == 0) {
        imap_del(&sess->counts, o->id);
        return 0;
    }
    return imap_put(&sess->counts, o->id, (void *) (was + n));
}

static void hold_unlink(hold *h)
{
    mproc__mgr_session_t *sess = h->owner;
    if (h->prev != NULL)
        h->prev->next = h->next;
    else
        sess->holds = h->next;
    if (h->next != NULL)
        h->next->prev = h->prev;
    imap_del(&sess->s->holds, h->id);
    if (h->served)
        imap_del(&sess->served, h->obj->id);
}

/*
 * A new hold on @o for @sess, counted as a reference; called with the
 * store's lock held.
 */
static hold *hold_new(mproc__mgr_session_t *sess, mobj *o, int served)
{
    mproc__mgr_store_t *s = sess->s;
    hold *h = calloc(1, sizeof *h);
    if (h == NULL)
        return NULL;
    h->id = ++s->next_hold;
    h->obj = o;
    h->owner = sess;
    h->served = served;
    if (imap_put(&s->holds, h->id, h) != 0 ||
        (served && imap_put(&sess->served, o->id, h) != 0)) {
        imap_del(&s->holds, h->id);
        free(h);
        return NULL;
    }
    h->next = sess->holds;
    if (sess->holds != NULL)
        sess->holds->prev = h;
    sess->holds = h;
    o->refs++;
    return h;
}

/*
 * Takes over hold @hold_id when it is one for object @o:
 * its count becomes the taker's (1), and the hold is gone. Else 0: the
 * taker counts a reference of its own. Called with the store's lock held.
 */
static int hold_take(mproc__mgr_store_t *s, int64_t hold_id, mobj *o)
{
    hold *h = imap_get(&s->holds, hold_id);
    if (h == NULL || h->obj != o)
        return 0;
    hold_unlink(h);
    free(h);
    return 1;
}

/* ---- taking values in, sending values out -------------------------------- */

typedef struct adopt_ctx {
    mproc__mgr_store_t *s;
    int64_t missing; /* the first object that is not there */
} adopt_ctx;

static int check_one(void *ctx, mproc_value_t *ref)
{
    adopt_ctx *c = ctx;
    int64_t id = ref_field(ref, MPROC__MGR_REF_OBJECT);
    if (imap_get(&c->s->objects, id) != NULL)
        return 0;
    c->missing = id;
    return 1;
}

static int adopt_one(void *ctx, mproc_value_t *ref)
{
    adopt_ctx *c = ctx;
    mobj *o = imap_get(&c->s->objects, ref_field(ref, MPROC__MGR_REF_OBJECT));
    if (!hold_take(c->s, ref_field(ref, MPROC__MGR_REF_HOLD), o))
        o->refs++;
    /* Stored without its hold, which is spent. */
    mproc__ref_set_int(ref, MPROC__MGR_REF_HOLD, 0);
    return 0;
}

static int no_object(int64_t id)
{
    return mproc__set_error(MPROC_EREMOTE,
                            "the manager has no object %lld: nothing referred "
                            "to it any more, and it was freed",
                            (long long) id);
}

/*
 * Counts every reference to this server's objects in @v as held by @v,
 * taking over the hold each carries where it can: what a request brings
 * in. 1 if there were any, 0 if none; MPROC_EREMOTE (nothing counted) if
 * one names an object that is not there.
 */
static int adopt(mproc__mgr_store_t *s, mproc_value_t *v)
{
    adopt_ctx c;
    if (!has_refs(s, v))
        return 0;
    c.s = s;
    c.missing = 0;
    lock(s->lock);
    if (walk(s, v, check_one, &c) != 0) {
        unlock(s->lock);
        return no_object(c.missing);
    }
    walk(s, v, adopt_one, &c);
    unlock(s->lock);
    return 1;
}

typedef struct serve_ctx {
    mproc__mgr_session_t *sess;
    int failed;
} serve_ctx;

static int serve_one(void *ctx, mproc_value_t *ref)
{
    serve_ctx *c = ctx;
    mproc__mgr_store_t *s = c->sess->s;
    int64_t id = ref_field(ref, MPROC__MGR_REF_OBJECT);
    mobj *o = imap_get(&s->objects, id);
    hold *h;
    if (o == NULL)
        return 0;
    h = imap_get(&c->sess->served, id);
    if (h == NULL)
        h = hold_new(c->sess, o, 1);
    if (h == NULL) {
        c->failed = 1;
        return 1;
    }
    mproc__ref_set_int(ref, MPROC__MGR_REF_HOLD, h->id);
    return 0;
}

/*
 * Gives every reference in @v, a copy about to be sent to @sess, a hold
 * of @sess's, so that what it names lives until the client opens it.
 * Called while the stripe of the object @v was copied from is held, so
 * that nothing frees those objects between the copy and the holds.
 */
static int serve_refs(mproc__mgr_session_t *sess, mproc_value_t *v)
{
    serve_ctx c;
    if (!has_refs(sess->s, v))
        return 0;
    c.sess = sess;
    c.failed = 0;
    lock(sess->s->lock);
    walk(sess->s, v, serve_one, &c);
    unlock(sess->s->lock);
    return c.failed ? mproc__set_error(MPROC_ENOMEM, "out of memory") : 0;
}

/* ---- the store ----------------------------------------------------------- */

int mproc__mgr_store_create(mproc__mgr_store_t **out, const char *id,
                            const char *name, long pid)
{
    mproc__mgr_store_t *s = calloc(1, sizeof *s);
    int i;
    if (s == NULL || strlen(id) != MPROC__MGR_ID_LEN ||
        (s->name = mproc__strdup(name != NULL ? name : "")) == NULL) {
        free(s);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    memcpy(s->id, id, MPROC__MGR_ID_LEN + 1);
    s->pid = pid;
    if (sodium_init() < 0 || apr_pool_create(&s->pool, NULL) != APR_SUCCESS ||
        apr_thread_mutex_create(&s->lock, APR_THREAD_MUTEX_DEFAULT, s->pool) !=
            APR_SUCCESS ||
        apr_thread_rwlock_create(&s->contents, s->pool) != APR_SUCCESS) {
        if (s->pool != NULL)
            apr_pool_destroy(s->pool);
        free(s->name);
        free(s);
        return mproc__set_error(MPROC_ENOMEM, "cannot make the store's locks");
    }
    for (i = 0; i < STRIPES; i++) {
        if (apr_thread_mutex_create(&s->stripes[i], APR_THREAD_MUTEX_DEFAULT,
                                    s->pool) != APR_SUCCESS) {
            apr_pool_destroy(s->pool);
            free(s->name);
            free(s);
            return mproc__set_error(MPROC_ENOMEM,
                                    "cannot make the store's locks");
        }
    }
    crypto_shorthash_keygen(s->hkey);
    s->names.kind = MPROC_REF_DICT;
    s->names.refs = 1;
    *out = s;
    return 0;
}

size_t mproc__mgr_store_count(mproc__mgr_store_t *s)
{
    maybe_collect(s, 1);
    return mproc__mgr_store_held(s);
}

size_t mproc__mgr_store_held(mproc__mgr_store_t *s)
{
    size_t n;
    lock(s->lock);
    n = s->objects.n;
    unlock(s->lock);
    return n;
}

void mproc__mgr_store_destroy(mproc__mgr_store_t *s)
{
    size_t i;
    mobj *dead = NULL;
    if (s == NULL)
        return;
    while (s->sessions != NULL)
        mproc__mgr_session_close(s->sessions);
    free_contents(s, &s->names, &dead);
    free_objects(s, dead);
    /* What is left refers to itself in cycles: free it all as it is. */
    for (i = 0; i < s->objects.cap; i++) {
        mobj *o = s->objects.vals[i];
        if (s->objects.keys[i] == 0)
            continue;
        lock(s->lock);
        o->refs = 1 << 30; /* so that its own contents do not free it */
        unlock(s->lock);
    }
    for (i = 0; i < s->objects.cap; i++)
        if (s->objects.keys[i] != 0)
            free_memory(s->objects.vals[i]);
    imap_free(&s->objects);
    imap_free(&s->holds);
    apr_pool_destroy(s->pool);
    free(s->name);
    free(s);
}

int mproc__mgr_session_open(mproc__mgr_store_t *s, mproc__mgr_session_t **out)
{
    static const char digits[] = "0123456789abcdef";
    unsigned char bytes[MPROC__MGR_TOKEN_LEN / 2];
    mproc__mgr_session_t *sess = calloc(1, sizeof *sess);
    size_t i;
    if (sess == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    sess->s = s;
    sess->conns = 1;
    randombytes_buf(bytes, sizeof bytes);
    for (i = 0; i < sizeof bytes; i++) {
        sess->token[2 * i] = digits[bytes[i] >> 4];
        sess->token[2 * i + 1] = digits[bytes[i] & 15];
    }
    lock(s->lock);
    sess->next = s->sessions;
    if (s->sessions != NULL)
        s->sessions->prev = sess;
    s->sessions = sess;
    unlock(s->lock);
    *out = sess;
    return 0;
}

void mproc__mgr_session_close(mproc__mgr_session_t *sess)
{
    mproc__mgr_store_t *s;
    mobj *dead = NULL;
    size_t i;
    if (sess == NULL)
        return;
    s = sess->s;
    lock(s->lock);
    if (--sess->conns > 0) {
        /* Another connection of the client's still uses it. */
        unlock(s->lock);
        return;
    }
    while (sess->holds != NULL) {
        hold *h = sess->holds;
        mobj *o = h->obj;
        hold_unlink(h);
        free(h);
        decref_locked(s, o, &dead);
    }
    for (i = 0; i < sess->counts.cap; i++) {
        long k, n = (long) (intptr_t) sess->counts.vals[i];
        mobj *o;
        if (sess->counts.keys[i] == 0)
            continue;
        o = imap_get(&s->objects, sess->counts.keys[i]);
        for (k = 0; o != NULL && k < n; k++)
            decref_locked(s, o, &dead);
    }
    if (sess->prev != NULL)
        sess->prev->next = sess->next;
    else
        s->sessions = sess->next;
    if (sess->next != NULL)
        sess->next->prev = sess->prev;
    unlock(s->lock);
    imap_free(&sess->counts);
    imap_free(&sess->served);
    free(sess);
    free_objects(s, dead);
    maybe_collect(s, 1);
}

void mproc__mgr_store_clients(mproc__mgr_store_t *s, size_t *sessions,
                              size_t *connections)
{
    mproc__mgr_session_t *sess;
    size_t n = 0, c = 0;
    lock(s->lock);
    for (sess = s->sessions; sess != NULL; sess = sess->next) {
        n++;
        c += (size_t) sess->conns;
    }
    unlock(s->lock);
    *sessions = n;
    *connections = c;
}

/* ---- one call on one object ------------------------------------------- */

/*
 * What a handler works with. It may take arguments out of the request
 * (mproc__mgr_request_take) to store them; what it removes from the
 * object it throws away, which drops what that referred to. Its result,
 * a new value, goes in @result (NULL: nil). A handler that fails changes
 * nothing.
 */
typedef struct call {
    mproc__mgr_session_t *sess;
    mproc__mgr_store_t *s;
    mobj *o;
    mproc__mgr_request_t *req;
    mproc_value_t *result;
    /*
     * Or the result already encoded (has_raw): a view of a whole object,
     * written straight from its entries rather than copied first.
     */
    mproc__buf_t raw;
    int has_raw;
} call;

/*
 * Dropping takes the store's lock inside the object's stripe, the order
 * every call keeps, and frees only objects nobody can reach any more,
 * which need no stripe: so it is done at once.
 */
static void throw_away(call *c, mproc_value_t *v)
{
    drop(c->s, v);
}

static int oom(void)
{
    return mproc__set_error(MPROC_ENOMEM, "out of memory");
}

/* The result: @v, a new value (NULL means it could not be made). */
static int give(call *c, mproc_value_t *v)
{
    if (v == NULL)
        return oom();
    c->result = v;
    return 0;
}

static int give_copy(call *c, const mproc_value_t *v)
{
    return give(c, mproc_value_copy(v));
}

static int give_int(call *c, int64_t i)
{
    return give(c, mproc_value_int(i));
}

/* A Namespace's attribute name (the protocol says it is a string). */
static int attr_check(const mproc_value_t *name)
{
    if (mproc_value_type(name) != MPROC_VALUE_STR || mproc_value_len(name) == 0)
        return mproc__set_error(MPROC_EREMOTE,
                                "a Namespace's attributes are named by "
                                "strings");
    return 0;
}

static int no_attr(const mproc_value_t *name)
{
    return mproc__set_error(MPROC_ENOATTR,
                            "'Namespace' object has no attribute '%.200s'",
                            mproc_value_as_str(name));
}

/*
 * The entry of key (or name) argument @arg, or -1: with *@h its hash. For
 * a Namespace the key must be a name.
 */
static int find_key(call *c, const mproc_value_t *key, uint64_t *h, int64_t *j)
{
    int rc;
    if (c->o->kind == MPROC_REF_NAMESPACE && (rc = attr_check(key)) != 0)
        return rc;
    rc = key_hash(c->s->hkey, key, h);
    if (rc != 0)
        return rc;
    *j = mdict_find(&c->o->d, key, *h);
    return 0;
}

/* The failure of a missing key or name. */
static int missing(call *c, const mproc_value_t *key)
{
    return c->o->kind == MPROC_REF_NAMESPACE ? no_attr(key) : key_error(key);
}

/* Stores argument @vi under key argument @ki (both taken from the request). */
static int set_pair(call *c, size_t ki, size_t vi)
{
    uint64_t h;
    int64_t j;
    int rc = find_key(c, c->req->args[ki], &h, &j);
    mproc_value_t *v;
    if (rc != 0)
        return rc;
    if (j >= 0) {
        v = mproc__mgr_request_take(c->req, vi);
        if (v == NULL)
            return oom();
        throw_away(c, c->o->d.e[j].value);
        c->o->d.e[j].value = v;
        return 0;
    }
    rc = mdict_reserve(&c->o->d);
    if (rc != 0)
        return rc;
    {
        mproc_value_t *k = mproc__mgr_request_take(c->req, ki);
        v = mproc__mgr_request_take(c->req, vi);
        if (k == NULL || v == NULL || mdict_insert(&c->o->d, k, v, h) != 0) {
            /* Back in the garbage: counted, and to be dropped. */
            throw_away(c, k);
            throw_away(c, v);
            return oom();
        }
    }
    return 0;
}

static int h_set(call *c)
{
    return set_pair(c, 0, 1);
}

static int h_get(call *c)
{
    uint64_t h;
    int64_t j;
    int rc = find_key(c, c->req->args[0], &h, &j);
    if (rc != 0)
        return rc;
    if (j < 0) {
        if (c->req->op == MPROC__MGR_GET_DEFAULT)
            return give(c, mproc__mgr_request_take(c->req, 1));
        return missing(c, c->req->args[0]);
    }
    return give_copy(c, c->o->d.e[j].value);
}

static int h_delete(call *c)
{
    uint64_t h;
    int64_t j;
    mproc_value_t *k, *v;
    int rc = find_key(c, c->req->args[0], &h, &j);
    if (rc != 0)
        return rc;
    if (j < 0)
        return missing(c, c->req->args[0]);
    mdict_remove(&c->o->d, j, &k, &v);
    throw_away(c, k);
    throw_away(c, v);
    return 0;
}

static int h_pop(call *c)
{
    uint64_t h;
    int64_t j;
    mproc_value_t *k, *v;
    int rc = find_key(c, c->req->args[0], &h, &j);
    if (rc != 0)
        return rc;
    if (j < 0) {
        if (c->req->op == MPROC__MGR_POP_DEFAULT)
            return give(c, mproc__mgr_request_take(c->req, 1));
        return missing(c, c->req->args[0]);
    }
    rc = give_copy(c, c->o->d.e[j].value);
    if (rc != 0)
        return rc;
    mdict_remove(&c->o->d, j, &k, &v);
    throw_away(c, k);
    throw_away(c, v);
    return 0;
}

static int h_popitem(call *c)
{
    mproc_value_t *k, *v, *pair;
    if (c->o->d.live == 0)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "KeyError: 'popitem(): dictionary is empty'");
    /* The last entry is live: removed ones at the end are trimmed away. */
    pair =
        mproc_value_list_of(2, mproc_value_copy(c->o->d.e[c->o->d.n - 1].key),
                            mproc_value_copy(c->o->d.e[c->o->d.n - 1].value));
    if (pair == NULL)
        return oom();
    mdict_remove(&c->o->d, (int64_t) c->o->d.n - 1, &k, &v);
    throw_away(c, k);
    throw_away(c, v);
    return give(c, pair);
}

static int h_setdefault(call *c)
{
    uint64_t h;
    int64_t j;
    int rc = find_key(c, c->req->args[0], &h, &j);
    if (rc != 0)
        return rc;
    if (j < 0) {
        rc = set_pair(c, 0, 1);
        if (rc != 0)
            return rc;
        j = (int64_t) c->o->d.n - 1;
    }
    return give_copy(c, c->o->d.e[j].value);
}

static int h_contains(call *c)
{
    uint64_t h;
    int64_t j;
    size_t i;
    int rc;
    if (c->o->kind == MPROC_REF_LIST) {
        for (i = 0; i < c->o->l.n; i++)
            if (py_equal(c->o->l.v[i], c->req->args[0]))
                return 1;
        return 0;
    }
    rc = find_key(c, c->req->args[0], &h, &j);
    return rc != 0 ? rc : j >= 0;
}

static int h_len(call *c)
{
    return give_int(
        c, (int64_t) (c->o->kind == MPROC_REF_LIST ? c->o->l.n : c->o->d.live));
}

static int raw_write(void *data, const char *p, size_t n)
{
    return mproc__buf_append(data, p, n) == 0 ? 0 : -1;
}

/* Whether any entry of the object refers to another object. */
static int any_refs(call *c)
{
    size_t i;
    for (i = 0; i < c->o->d.n; i++)
        if (c->o->d.e[i].key != NULL && has_refs(c->s, c->o->d.e[i].value))
            return 1;
    for (i = 0; i < c->o->l.n; i++)
        if (has_refs(c->s, c->o->l.v[i]))
            return 1;
    return 0;
}

/*
 * A view of the whole dict, or of items [@lo, @hi) of the list, encoded
 * straight into c->raw: copying every value only to encode and free it
 * would cost more than the rest of the call. Only for objects whose
 * values refer to no object, whose references would need holds (the
 * caller copies those). 1 when done; 0 if not for this object.
 */
static int view_direct(call *c, size_t lo, size_t hi)
{
    mproc__mgr_op_e op = c->req->op;
    msgpack_packer pk;
    size_t i;
    int rc = 0;
    if (any_refs(c))
        return 0;
    msgpack_packer_init(&pk, &c->raw, raw_write);
    if (c->o->kind == MPROC_REF_LIST) {
        rc = msgpack_pack_array(&pk, hi - lo);
        for (i = lo; rc == 0 && i < hi; i++)
            rc = mproc__value_encode(c->o->l.v[i], &c->raw);
    } else {
        rc = op == MPROC__MGR_COPY ? msgpack_pack_map(&pk, c->o->d.live)
                                   : msgpack_pack_array(&pk, c->o->d.live);
        for (i = 0; rc == 0 && i < c->o->d.n; i++) {
            const dentry *e = &c->o->d.e[i];
            if (e->key == NULL)
                continue;
            if (op == MPROC__MGR_ITEMS)
                rc = msgpack_pack_array(&pk, 2);
            if (rc == 0 && op != MPROC__MGR_VALUES)
                rc = mproc__value_encode(e->key, &c->raw);
            if (rc == 0 && op != MPROC__MGR_KEYS)
                rc = mproc__value_encode(e->value, &c->raw);
        }
    }
    if (rc != 0) {
        mproc__buf_free(&c->raw);
        return oom();
    }
    c->has_raw = 1;
    return 1;
}

/* keys(), values(), items() and copy(): new values of the whole dict. */
static int h_view(call *c)
{
    mproc__mgr_op_e op = c->req->op;
    mproc_value_t *out;
    size_t i;
    int rc = view_direct(c, 0, 0);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    out = op == MPROC__MGR_COPY ? mproc_value_map() : mproc_value_list();
    if (out == NULL || mproc__value_reserve(out, c->o->d.live) != 0) {
        mproc_value_free(out);
        return oom();
    }
    for (i = 0; i < c->o->d.n; i++) {
        const dentry *e = &c->o->d.e[i];
        if (e->key == NULL)
            continue;
        if (op == MPROC__MGR_COPY)
            rc = mproc__value_map_append(out, mproc_value_copy(e->key),
                                         mproc_value_copy(e->value));
        else if (op == MPROC__MGR_ITEMS)
            rc = mproc_value_append(
                out, mproc_value_list_of(2, mproc_value_copy(e->key),
                                         mproc_value_copy(e->value)));
        else
            rc = mproc_value_append(
                out,
                mproc_value_copy(op == MPROC__MGR_KEYS ? e->key : e->value));
        if (rc != 0) {
            mproc_value_free(out);
            return oom();
        }
    }
    return give(c, out);
}

static int h_clear(call *c)
{
    /*
     * The old contents go to the garbage as one list, whose references
     * are dropped after the call.
     */
    mproc_value_t *old = mproc_value_list();
    size_t i;
    if (old == NULL || mproc__value_reserve(old, c->o->kind == MPROC_REF_LIST
                                                     ? c->o->l.n
                                                     : 2 * c->o->d.live) != 0) {
        mproc_value_free(old);
        return oom();
    }
    if (c->o->kind == MPROC_REF_LIST) {
        for (i = 0; i < c->o->l.n; i++)
            mproc_value_append(old, c->o->l.v[i]);
        c->o->l.n = 0;
    } else {
        for (i = 0; i < c->o->d.n; i++) {
            if (c->o->d.e[i].key == NULL)
                continue;
            mproc_value_append(old, c->o->d.e[i].key);
            mproc_value_append(old, c->o->d.e[i].value);
        }
        free(c->o->d.e);
        free(c->o->d.idx);
        memset(&c->o->d, 0, sizeof c->o->d);
    }
    throw_away(c, old);
    return 0;
}

/*
 * The pairs of a map, or of a list of two-item lists, checked: their
 * keys must be keys (names, for a Namespace). 0, or the failure.
 */
static int check_pairs(call *c, const mproc_value_t *pairs)
{
    size_t i, n = mproc_value_len(pairs);
    uint64_t h;
    int rc;
    mproc_value_type_e t = mproc_value_type(pairs);
    if (t != MPROC_VALUE_MAP && t != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_ETYPE, "'%s' object is not iterable",
                                py_type(pairs));
    for (i = 0; i < n; i++) {
        const mproc_value_t *k;
        if (t == MPROC_VALUE_LIST) {
            const mproc_value_t *p = mproc_value_at(pairs, i);
            if (mproc_value_type(p) != MPROC_VALUE_LIST ||
                mproc_value_len(p) != 2)
                return mproc__set_error(
                    MPROC_ETYPE,
                    "dictionary update sequence element #%lu is not a pair",
                    (unsigned long) i);
            k = mproc_value_at(p, 0);
        } else {
            k = mproc_value_key_at(pairs, i);
        }
        if (c->o->kind == MPROC_REF_NAMESPACE &&
            (mproc_value_type(k) != MPROC_VALUE_STR || mproc_value_len(k) == 0))
            return mproc__set_error(MPROC_ETYPE,
                                    "a Namespace's attributes are named by "
                                    "strings that are not empty");
        if ((rc = key_hash(c->s->hkey, k, &h)) != 0)
            return rc;
    }
    return 0;
}

/* Stores @k and @v (taken over) in the object's dict. */
static int store_pair(call *c, mproc_value_t *k, mproc_value_t *v)
{
    uint64_t h;
    int64_t j;
    key_hash(c->s->hkey, k, &h);
    j = mdict_find(&c->o->d, k, h);
    if (j >= 0) {
        throw_away(c, c->o->d.e[j].value);
        c->o->d.e[j].value = v;
        mproc_value_free(k);
        return 0;
    }
    if (mdict_insert(&c->o->d, k, v, h) != 0) {
        mproc_value_t *two = mproc_value_list_of(2, k, v);
        /* Dropped, so that what they refer to is let go of. */
        if (two != NULL)
            throw_away(c, two);
        return oom();
    }
    return 0;
}

/*
 * update(pairs), and a new dict's or Namespace's contents: the pairs go in
 * one by one. A pair that runs out of memory stops it there: every pair
 * is checked first, so nothing else can fail half way.
 */
static int put_pairs(call *c, mproc_value_t *pairs)
{
    size_t i, n;
    mproc_value_t **items;
    int rc = 0;
    if (mproc_value_type(pairs) == MPROC_VALUE_MAP) {
        items = mproc__value_steal_items(pairs, &n);
        for (i = 0; i < n; i += 2) {
            if (rc == 0)
                rc = store_pair(c, items[i], items[i + 1]);
            else {
                mproc_value_t *two =
                    mproc_value_list_of(2, items[i], items[i + 1]);
                if (two != NULL)
                    throw_away(c, two);
            }
        }
    } else {
        items = mproc__value_steal_items(pairs, &n);
        for (i = 0; i < n; i++) {
            size_t two;
            mproc_value_t **kv = mproc__value_steal_items(items[i], &two);
            if (rc == 0)
                rc = store_pair(c, kv[0], kv[1]);
            else {
                mproc_value_t *pair = mproc_value_list_of(2, kv[0], kv[1]);
                if (pair != NULL)
                    throw_away(c, pair);
            }
            free(kv);
            mproc_value_free(items[i]);
        }
    }
    free(items);
    mproc_value_free(pairs);
    return rc;
}

static int h_update(call *c)
{
    int rc = check_pairs(c, c->req->args[0]);
    if (rc != 0)
        return rc;
    return put_pairs(c, mproc__mgr_request_take(c->req, 0));
}

/*
 * @a + @b for two numbers, as a new value in *@sum: integers stay
 * integers (MPROC_ERANGE if they overflow), a float makes a float.
 */
static int add_numbers(const mproc_value_t *a, const mproc_value_t *b,
                       mproc_value_t **sum)
{
    int fa = mproc_value_type(a) == MPROC_VALUE_FLOAT;
    int fb = mproc_value_type(b) == MPROC_VALUE_FLOAT;
    if (!is_number(a) || !is_number(b))
        return mproc__set_error(MPROC_ETYPE,
                                "unsupported operand type(s) for +=: '%s' "
                                "and '%s'",
                                py_type(a), py_type(b));
    if (!fa && !fb) {
        int64_t x = int_of(a), y = int_of(b);
        if ((y > 0 && x > INT64_MAX - y) || (y < 0 && x < INT64_MIN - y))
            return mproc__set_error(MPROC_ERANGE,
                                    "%lld + %lld does not fit a 64-bit "
                                    "integer",
                                    (long long) x, (long long) y);
        *sum = mproc_value_int(x + y);
    } else {
        *sum = mproc_value_float(mproc_value_as_float(a) +
                                 mproc_value_as_float(b));
    }
    return *sum != NULL ? 0 : oom();
}

static int h_add(call *c)
{
    uint64_t h;
    int64_t j;
    mproc_value_t *zero = NULL, *sum = NULL;
    const mproc_value_t *was;
    int rc = find_key(c, c->req->args[0], &h, &j);
    if (rc != 0)
        return rc;
    if (j >= 0) {
        was = c->o->d.e[j].value;
    } else {
        zero = mproc_value_int(0);
        if (zero == NULL)
            return oom();
        was = zero;
    }
    rc = add_numbers(was, c->req->args[1], &sum);
    mproc_value_free(zero);
    if (rc == 0 && (c->result = mproc_value_copy(sum)) == NULL)
        rc = oom();
    if (rc != 0) {
        mproc_value_free(sum);
        return rc;
    }
    if (j >= 0) {
        /* A number refers to nothing: no need to drop it. */
        mproc_value_free(c->o->d.e[j].value);
        c->o->d.e[j].value = sum;
        return 0;
    }
    {
        mproc_value_t *k = mproc__mgr_request_take(c->req, 0);
        if (k == NULL || mdict_insert(&c->o->d, k, sum, h) != 0) {
            throw_away(c, k);
            mproc_value_free(sum);
            mproc_value_free(c->result);
            c->result = NULL;
            return oom();
        }
    }
    return 0;
}

static int h_cas(call *c)
{
    uint64_t h;
    int64_t j;
    int rc = find_key(c, c->req->args[0], &h, &j), swapped;
    if (rc != 0)
        return rc;
    if (j < 0)
        return missing(c, c->req->args[0]);
    rc = give_copy(c, c->o->d.e[j].value);
    if (rc != 0)
        return rc;
    swapped = py_equal(c->o->d.e[j].value, c->req->args[1]);
    if (swapped) {
        mproc_value_t *v = mproc__mgr_request_take(c->req, 2);
        if (v == NULL) {
            mproc_value_free(c->result);
            c->result = NULL;
            return oom();
        }
        throw_away(c, c->o->d.e[j].value);
        c->o->d.e[j].value = v;
    }
    return swapped;
}

/* ---- list calls ---------------------------------------------------------- */

/* Python's index @i of a list of @n: 0 with *@at, or -1 if out of range. */
static int norm_index(int64_t i, size_t n, size_t *at)
{
    if (i < 0)
        i += (int64_t) n;
    if (i < 0 || (uint64_t) i >= n)
        return -1;
    *at = (size_t) i;
    return 0;
}

/* A slice bound clamped to the list, as Python clamps it. */
static size_t clamp(int64_t i, size_t n)
{
    if (i < 0) {
        i += (int64_t) n;
        return i < 0 ? 0 : (size_t) i;
    }
    return (uint64_t) i > n ? n : (size_t) i;
}

static int h_append(call *c)
{
    mproc_value_t *v;
    if (mlist_reserve(&c->o->l, 1) != 0)
        return oom();
    v = mproc__mgr_request_take(c->req, 0);
    if (v == NULL)
        return oom();
    c->o->l.v[c->o->l.n++] = v;
    return 0;
}

static int h_insert(call *c)
{
    mlist *l = &c->o->l;
    int64_t i = mproc_value_as_int(c->req->args[0]);
    size_t at;
    mproc_value_t *v;
    if (i < 0)
        i += (int64_t) l->n;
    at = i < 0 ? 0 : ((uint64_t) i > l->n ? l->n : (size_t) i);
    if (mlist_reserve(l, 1) != 0)
        return oom();
    v = mproc__mgr_request_take(c->req, 1);
    if (v == NULL)
        return oom();
    memmove(l->v + at + 1, l->v + at, (l->n - at) * sizeof *l->v);
    l->v[at] = v;
    l->n++;
    return 0;
}

/*
 * Replaces items [@lo, @hi) of the list with the @n items of @items (taken
 * over, with the array): the slice assignment every list change is made of.
 */
static int splice(call *c, size_t lo, size_t hi, mproc_value_t **items,
                  size_t n)
{
    mlist *l = &c->o->l;
    mproc_value_t *old;
    size_t i, cut = hi - lo;
    if ((n > cut && mlist_reserve(l, n - cut) != 0) ||
        (old = mproc_value_list()) == NULL ||
        (cut > 0 && mproc__value_reserve(old, cut) != 0)) {
        mproc_value_t *back = mproc_value_list();
        /* Counted: they must be dropped, not just freed. */
        for (i = 0; i < n; i++) {
            if (back != NULL)
                mproc_value_append(back, items[i]);
            else
                mproc_value_free(items[i]);
        }
        free(items);
        if (back != NULL)
            throw_away(c, back);
        return oom();
    }
    for (i = lo; i < hi; i++)
        mproc_value_append(old, l->v[i]);
    /* An empty list may have no array at all. */
    if (l->n > hi)
        memmove(l->v + lo + n, l->v + hi, (l->n - hi) * sizeof *l->v);
    if (n > 0)
        memcpy(l->v + lo, items, n * sizeof *items);
    l->n = l->n - cut + n;
    free(items);
    throw_away(c, old);
    return 0;
}

static int h_extend(call *c)
{
    size_t n;
    mproc_value_t *items;
    if (mproc_value_type(c->req->args[0]) != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_ETYPE, "'%s' object is not iterable",
                                py_type(c->req->args[0]));
    items = mproc__mgr_request_take(c->req, 0);
    if (items == NULL)
        return oom();
    {
        mproc_value_t **v = mproc__value_steal_items(items, &n);
        mproc_value_free(items);
        return splice(c, c->o->l.n, c->o->l.n, v, n);
    }
}

static int h_lget(call *c)
{
    size_t at;
    if (norm_index(mproc_value_as_int(c->req->args[0]), c->o->l.n, &at) != 0)
        return mproc__set_error(MPROC_ERANGE, "list index out of range");
    return give_copy(c, c->o->l.v[at]);
}

static int h_lset(call *c)
{
    size_t at;
    mproc_value_t *v;
    if (norm_index(mproc_value_as_int(c->req->args[0]), c->o->l.n, &at) != 0)
        return mproc__set_error(MPROC_ERANGE,
                                "list assignment index out of range");
    v = mproc__mgr_request_take(c->req, 1);
    if (v == NULL)
        return oom();
    throw_away(c, c->o->l.v[at]);
    c->o->l.v[at] = v;
    return 0;
}

/* Removes item @at, to the garbage or as the result. */
static void remove_at(call *c, size_t at, int as_result)
{
    mlist *l = &c->o->l;
    mproc_value_t *v = l->v[at];
    memmove(l->v + at, l->v + at + 1, (l->n - at - 1) * sizeof *l->v);
    l->n--;
    if (as_result)
        c->result = v;
    else
        throw_away(c, v);
}

static int h_ldelete(call *c)
{
    size_t at;
    if (norm_index(mproc_value_as_int(c->req->args[0]), c->o->l.n, &at) != 0)
        return mproc__set_error(MPROC_ERANGE,
                                "list assignment index out of range");
    remove_at(c, at, 0);
    return 0;
}

static int h_lpop(call *c)
{
    size_t at;
    mproc_value_t *copy;
    if (c->o->l.n == 0)
        return mproc__set_error(MPROC_ERANGE, "pop from empty list");
    if (norm_index(mproc_value_as_int(c->req->args[0]), c->o->l.n, &at) != 0)
        return mproc__set_error(MPROC_ERANGE, "pop index out of range");
    /*
     * The result is sent as a copy with holds of its own; the item itself
     * goes to the garbage, dropping what the list counted for it.
     */
    copy = mproc_value_copy(c->o->l.v[at]);
    if (copy == NULL)
        return oom();
    remove_at(c, at, 0);
    c->result = copy;
    return 0;
}

/* The first index of an item equal to the argument, or -1. */
static int64_t find_item(call *c)
{
    size_t i;
    for (i = 0; i < c->o->l.n; i++)
        if (py_equal(c->o->l.v[i], c->req->args[0]))
            return (int64_t) i;
    return -1;
}

static int h_index(call *c)
{
    int64_t i = find_item(c);
    if (i < 0) {
        char *r = mproc_value_repr(c->req->args[0]);
        int rc = mproc__set_error(MPROC_ENOTFOUND, "%.400s is not in list",
                                  r != NULL ? r : "?");
        free(r);
        return rc;
    }
    return give_int(c, i);
}

static int h_count_of(call *c)
{
    size_t i, n = 0;
    for (i = 0; i < c->o->l.n; i++)
        n += (size_t) py_equal(c->o->l.v[i], c->req->args[0]);
    return give_int(c, (int64_t) n);
}

static int h_remove(call *c)
{
    int64_t i = find_item(c);
    if (i < 0)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "list.remove(x): x not in list");
    remove_at(c, (size_t) i, 0);
    return 0;
}

static int h_slice(call *c)
{
    size_t lo = clamp(mproc_value_as_int(c->req->args[0]), c->o->l.n);
    size_t hi = clamp(mproc_value_as_int(c->req->args[1]), c->o->l.n), i;
    mproc_value_t *out;
    int rc;
    if (hi < lo)
        hi = lo;
    rc = view_direct(c, lo, hi);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    out = mproc_value_list();
    if (out == NULL || mproc__value_reserve(out, hi - lo) != 0) {
        mproc_value_free(out);
        return oom();
    }
    for (i = lo; i < hi; i++) {
        if (mproc_value_append(out, mproc_value_copy(c->o->l.v[i])) != 0) {
            mproc_value_free(out);
            return oom();
        }
    }
    return give(c, out);
}

static int h_set_slice(call *c)
{
    size_t lo = clamp(mproc_value_as_int(c->req->args[0]), c->o->l.n);
    size_t hi = clamp(mproc_value_as_int(c->req->args[1]), c->o->l.n), n;
    mproc_value_t *items, **v;
    if (mproc_value_type(c->req->args[2]) != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_ETYPE, "can only assign an iterable");
    if (hi < lo)
        hi = lo;
    items = mproc__mgr_request_take(c->req, 2);
    if (items == NULL)
        return oom();
    v = mproc__value_steal_items(items, &n);
    mproc_value_free(items);
    return splice(c, lo, hi, v, n);
}

static int h_delete_slice(call *c)
{
    size_t lo = clamp(mproc_value_as_int(c->req->args[0]), c->o->l.n);
    size_t hi = clamp(mproc_value_as_int(c->req->args[1]), c->o->l.n);
    if (hi <= lo)
        return 0;
    return splice(c, lo, hi, NULL, 0);
}

static int h_reverse(call *c)
{
    mlist *l = &c->o->l;
    size_t i;
    for (i = 0; i < l->n / 2; i++) {
        mproc_value_t *t = l->v[i];
        l->v[i] = l->v[l->n - 1 - i];
        l->v[l->n - 1 - i] = t;
    }
    return 0;
}

/*
 * A stable merge sort of @n items of @a, @tmp a scratch array as long;
 * the first failed comparison stops it (MPROC_ETYPE).
 */
static int merge_sort(mproc_value_t **a, mproc_value_t **tmp, size_t n)
{
    size_t mid = n / 2, i = 0, j, k = 0;
    int rc, lt;
    if (n < 2)
        return 0;
    if ((rc = merge_sort(a, tmp, mid)) != 0 ||
        (rc = merge_sort(a + mid, tmp, n - mid)) != 0)
        return rc;
    j = mid;
    while (i < mid && j < n) {
        /* Only a strictly smaller right item goes first: stable. */
        if ((rc = py_less(a[j], a[i], &lt)) != 0)
            return rc;
        tmp[k++] = lt ? a[j++] : a[i++];
    }
    while (i < mid)
        tmp[k++] = a[i++];
    while (j < n)
        tmp[k++] = a[j++];
    memcpy(a, tmp, n * sizeof *a);
    return 0;
}

static int h_sort(call *c)
{
    mlist *l = &c->o->l;
    size_t n = l->n, i;
    int reverse = mproc_value_as_bool(c->req->args[0]), rc;
    /* Sorted in a copy, so that a failed comparison leaves the list be. */
    mproc_value_t **a = malloc((n ? n : 1) * sizeof *a);
    mproc_value_t **tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (a == NULL || tmp == NULL) {
        free(a);
        free(tmp);
        return oom();
    }
    for (i = 0; i < n; i++)
        a[i] = l->v[reverse ? n - 1 - i : i];
    /*
     * reverse=True is Python's: reversed, sorted, reversed again, so that
     * equal items keep their order.
     */
    rc = merge_sort(a, tmp, n);
    if (rc == 0)
        for (i = 0; i < n; i++)
            l->v[i] = a[reverse ? n - 1 - i : i];
    free(a);
    free(tmp);
    return rc;
}

static int h_list_copy(call *c)
{
    mproc_value_t *out;
    size_t i;
    int rc = view_direct(c, 0, c->o->l.n);
    if (rc != 0)
        return rc < 0 ? rc : 0;
    out = mproc_value_list();
    if (out == NULL || mproc__value_reserve(out, c->o->l.n) != 0) {
        mproc_value_free(out);
        return oom();
    }
    for (i = 0; i < c->o->l.n; i++) {
        if (mproc_value_append(out, mproc_value_copy(c->o->l.v[i])) != 0) {
            mproc_value_free(out);
            return oom();
        }
    }
    return give(c, out);
}

static int h_copy(call *c)
{
    return c->o->kind == MPROC_REF_LIST ? h_list_copy(c) : h_view(c);
}

typedef int (*handler_fn)(call *c);

static const handler_fn handlers[MPROC__MGR_OP_END] = {
    [MPROC__MGR_LEN] = h_len,
    [MPROC__MGR_COPY] = h_copy,
    [MPROC__MGR_CLEAR] = h_clear,
    [MPROC__MGR_CONTAINS] = h_contains,
    [MPROC__MGR_GET] = h_get,
    [MPROC__MGR_GET_DEFAULT] = h_get,
    [MPROC__MGR_SET] = h_set,
    [MPROC__MGR_DELETE] = h_delete,
    [MPROC__MGR_KEYS] = h_view,
    [MPROC__MGR_VALUES] = h_view,
    [MPROC__MGR_ITEMS] = h_view,
    [MPROC__MGR_POP] = h_pop,
    [MPROC__MGR_POP_DEFAULT] = h_pop,
    [MPROC__MGR_POPITEM] = h_popitem,
    [MPROC__MGR_SETDEFAULT] = h_setdefault,
    [MPROC__MGR_UPDATE] = h_update,
    [MPROC__MGR_ADD] = h_add,
    [MPROC__MGR_CAS] = h_cas,
    [MPROC__MGR_APPEND] = h_append,
    [MPROC__MGR_EXTEND] = h_extend,
    [MPROC__MGR_INSERT] = h_insert,
    [MPROC__MGR_LGET] = h_lget,
    [MPROC__MGR_LSET] = h_lset,
    [MPROC__MGR_LDELETE] = h_ldelete,
    [MPROC__MGR_INDEX] = h_index,
    [MPROC__MGR_COUNT_OF] = h_count_of,
    [MPROC__MGR_REMOVE] = h_remove,
    [MPROC__MGR_LPOP] = h_lpop,
    [MPROC__MGR_SLICE] = h_slice,
    [MPROC__MGR_SET_SLICE] = h_set_slice,
    [MPROC__MGR_DELETE_SLICE] = h_delete_slice,
    [MPROC__MGR_REVERSE] = h_reverse,
    [MPROC__MGR_SORT] = h_sort,
};

static unsigned kind_bit(int kind)
{
    return kind == MPROC_REF_DICT   ? MPROC__MGR_FOR_DICT
           : kind == MPROC_REF_LIST ? MPROC__MGR_FOR_LIST
                                    : MPROC__MGR_FOR_NAMESPACE;
}

/*
 * Runs handler @fn on pinned object @o (NULL: the registered names) for
 * @req, after counting the references the request brings in. The status;
 * the result in *@result.
 */
static int run_on(mproc__mgr_session_t *sess, mobj *o, handler_fn fn,
                  mproc__mgr_request_t *req, mproc_value_t **result,
                  mproc__buf_t *raw)
{
    mproc__mgr_store_t *s = sess->s;
    call c;
    int rc = adopt(s, req->msg);
    *result = NULL;
    if (raw != NULL)
        memset(raw, 0, sizeof *raw);
    if (rc < 0)
        return rc;
    /* It may store a reference: from now on it may be in a cycle. */
    if (rc > 0 && o != &s->names)
        mproc__atomic_store32(&o->may_refer, 1);
    memset(&c, 0, sizeof c);
    c.sess = sess;
    c.s = s;
    c.o = o;
    c.req = req;
    apr_thread_rwlock_rdlock(s->contents);
    lock(stripe(s, o));
    rc = fn(&c);
    if (rc >= 0 && serve_refs(sess, c.result) != 0) {
        /* Nothing changed can be undone here; the reply says so. */
        mproc_value_free(c.result);
        c.result = NULL;
        rc = oom();
    }
    unlock(stripe(s, o));
    apr_thread_rwlock_unlock(s->contents);
    /* The arguments the call left are dropped. */
    drop(s, req->msg);
    req->msg = NULL;
    *result = c.result;
    if (c.has_raw) {
        if (raw != NULL && rc >= 0)
            *raw = c.raw;
        else
            mproc__buf_free(&c.raw);
    }
    return rc;
}

/* ---- the manager's own calls --------------------------------------------- */

static int ctl_hello(mproc__mgr_session_t *sess, mproc_value_t **result)
{
    mproc__mgr_store_t *s = sess->s;
    *result = mproc_value_list_of(
        4, mproc_value_str(s->id), mproc_value_int((int64_t) s->pid),
        mproc_value_str(s->name), mproc_value_str(sess->token));
    return *result != NULL ? 0 : oom();
}

/*
 * The connection of fresh session *@sessp joins the session whose token
 * is @token: *@sessp becomes that one, and the fresh one goes. Only a
 * connection's first request may (its session holds nothing yet, and no
 * other connection uses it).
 */
static int ctl_join(mproc__mgr_session_t **sessp, const char *token,
                    mproc_value_t **result)
{
    mproc__mgr_session_t *sess = *sessp, *to = NULL;
    mproc__mgr_store_t *s = sess->s;
    int well_formed = token != NULL && strlen(token) == MPROC__MGR_TOKEN_LEN;
    lock(s->lock);
    /* Compared in constant time: the token is all a session's secret. */
    for (to = well_formed ? s->sessions : NULL; to != NULL; to = to->next)
        if (to != sess &&
            sodium_memcmp(to->token, token, MPROC__MGR_TOKEN_LEN) == 0)
            break;
    if (to == NULL || sess->conns != 1 || sess->counts.n != 0 ||
        sess->holds != NULL) {
        unlock(s->lock);
        return mproc__set_error(MPROC_EREMOTE,
                                to == NULL ? "no client of the manager has "
                                             "that token"
                                           : "only a new connection joins a "
                                             "client");
    }
    to->conns++;
    unlock(s->lock);
    *result = mproc_value_list_of(3, mproc_value_str(s->id),
                                  mproc_value_int((int64_t) s->pid),
                                  mproc_value_str(s->name));
    if (*result == NULL) {
        mproc__mgr_session_close(to);
        return oom();
    }
    mproc__mgr_session_close(sess);
    *sessp = to;
    return 0;
}

/* A new object of the kind argument, filled from the init argument. */
static int ctl_create(mproc__mgr_session_t *sess, mproc__mgr_request_t *req,
                      mproc_value_t **result)
{
    mproc__mgr_store_t *s = sess->s;
    int64_t kind = mproc_value_as_int(req->args[0]);
    const mproc_value_t *init = req->args[1];
    mobj *o;
    call c;
    int rc = 0;
    if (!mproc__mgr_kind_ok((int) kind))
        return mproc__set_error(MPROC_EREMOTE,
                                "the manager makes no objects of kind %lld",
                                (long long) kind);
    if (mproc_value_type(init) != MPROC_VALUE_NIL &&
        mproc_value_type(init) !=
            (kind == MPROC_REF_LIST ? MPROC_VALUE_LIST : MPROC_VALUE_MAP))
        return mproc__set_error(MPROC_ETYPE, "a %s starts from %s, not '%s'",
                                mproc__mgr_kind_name((int) kind),
                                kind == MPROC_REF_LIST ? "a list" : "a map",
                                py_type(init));
    o = calloc(1, sizeof *o);
    if (o == NULL)
        return oom();
    o->kind = (int) kind;
    memset(&c, 0, sizeof c);
    c.sess = sess;
    c.s = s;
    c.o = o;
    c.req = req;
    if (kind != MPROC_REF_LIST && mproc_value_type(init) == MPROC_VALUE_MAP)
        rc = check_pairs(&c, init);
    if (rc == 0 && (rc = adopt(s, req->msg)) > 0) {
        o->may_refer = 1;
        rc = 0;
    }
    if (rc != 0) {
        free(o);
        return rc;
    }
    /* Nobody else can see the object yet: no stripe is needed. */
    if (mproc_value_type(init) != MPROC_VALUE_NIL) {
        mproc_value_t *v = mproc__mgr_request_take(req, 1);
        if (v == NULL)
            rc = oom();
        else if (kind == MPROC_REF_LIST) {
            size_t n;
            mproc_value_t **items = mproc__value_steal_items(v, &n);
            mproc_value_free(v);
            rc = splice(&c, 0, 0, items, n);
        } else {
            rc = put_pairs(&c, v);
        }
    }
    if (rc == 0) {
        lock(s->lock);
        o->id = ++s->next_id;
        o->refs = 1;
        if (imap_put(&s->objects, o->id, o) != 0) {
            rc = oom();
        } else if (count_add(sess, o, 1) != 0) {
            imap_del(&s->objects, o->id);
            rc = oom();
        }
        unlock(s->lock);
    }
    drop(s, req->msg);
    req->msg = NULL;
    if (rc != 0) {
        mobj *dead = NULL;
        free_contents(s, o, &dead);
        free(o);
        free_objects(s, dead);
        return rc;
    }
    *result = mproc_value_int(o->id);
    return *result != NULL ? 0 : oom();
}

static int ctl_release(mproc__mgr_session_t *sess, int64_t id)
{
    mproc__mgr_store_t *s = sess->s;
    mobj *o, *dead = NULL;
    int rc = 0;
    lock(s->lock);
    o = imap_get(&s->objects, id);
    if (o == NULL || imap_get(&sess->counts, id) == NULL)
        rc = mproc__set_error(MPROC_EREMOTE,
                              "this client holds no reference to object %lld",
                              (long long) id);
    else if ((rc = count_add(sess, o, -1)) == 0)
        decref_locked(s, o, &dead);
    unlock(s->lock);
    free_objects(s, dead);
    return rc;
}

/*
 * INCREF, EXPORT and CLAIM: one reference more on object @id, counted
 * for the session (a proxy), for a new hold (a reference in transit,
 * whose id is the result), or for the session out of hold @hold_id if it
 * is one of @id's (the result is the object's kind, for the proxy to
 * check).
 */
static int ctl_more(mproc__mgr_session_t *sess, mproc__mgr_op_e op, int64_t id,
                    int64_t hold_id, mproc_value_t **result)
{
    mproc__mgr_store_t *s = sess->s;
    mobj *o;
    hold *h = NULL;
    int rc = 0, taken = 0;
    lock(s->lock);
    o = imap_get(&s->objects, id);
    if (o == NULL) {
        unlock(s->lock);
        return no_object(id);
    }
    if (op == MPROC__MGR_EXPORT) {
        h = hold_new(sess, o, 0);
        rc = h == NULL ? oom() : 0;
    } else {
        rc = count_add(sess, o, 1);
        if (rc == 0 && op == MPROC__MGR_CLAIM)
            taken = hold_take(s, hold_id, o);
        if (rc == 0 && !taken)
            o->refs++;
    }
    unlock(s->lock);
    if (rc != 0)
        return rc;
    if (op == MPROC__MGR_INCREF)
        return 0;
    *result = mproc_value_int(op == MPROC__MGR_EXPORT ? h->id : o->kind);
    if (*result == NULL) {
        /* The count stays: the client lets go of it when it ends. */
        return oom();
    }
    return 0;
}

static int ctl_lookup(mproc__mgr_session_t *sess, mproc__mgr_request_t *req,
                      mproc_value_t **result)
{
    char name[256];
    int rc;
    snprintf(name, sizeof name, "%s", mproc_value_as_str(req->args[0]));
    rc = run_on(sess, &sess->s->names, h_get, req, result, NULL);
    if (rc == MPROC_ENOTFOUND)
        rc = mproc__set_error(
            MPROC_ENOTFOUND, "no name '%s' is registered in the manager", name);
    return rc;
}

/* The manager's own operations; 1 (after the reply) for SHUTDOWN. */
static int control(mproc__mgr_session_t **sessp, mproc__mgr_request_t *req,
                   mproc_value_t **result)
{
    mproc__mgr_session_t *sess = *sessp;
    switch (req->op) {
    case MPROC__MGR_HELLO:
        return ctl_hello(sess, result);
    case MPROC__MGR_CREATE:
        return ctl_create(sess, req, result);
    case MPROC__MGR_RELEASE:
        return ctl_release(sess, mproc_value_as_int(req->args[0]));
    case MPROC__MGR_INCREF:
    case MPROC__MGR_EXPORT:
        return ctl_more(sess, req->op, mproc_value_as_int(req->args[0]), 0,
                        result);
    case MPROC__MGR_CLAIM:
        return ctl_more(sess, req->op, mproc_value_as_int(req->args[0]),
                        mproc_value_as_int(req->args[1]), result);
    case MPROC__MGR_REGISTER:
        return run_on(sess, &sess->s->names, h_set, req, result, NULL);
    case MPROC__MGR_LOOKUP:
        return ctl_lookup(sess, req, result);
    case MPROC__MGR_COUNT:
        *result = mproc_value_int((int64_t) mproc__mgr_store_count(sess->s));
        return *result != NULL ? 0 : oom();
    case MPROC__MGR_SHUTDOWN:
        return 0;
    case MPROC__MGR_JOIN:
        return ctl_join(sessp, mproc_value_as_str(req->args[0]), result);
    default:
        return mproc__set_error(MPROC_EREMOTE, "no such operation");
    }
}

/* ---- serving a request --------------------------------------------------- */

int mproc__mgr_serve(mproc__mgr_session_t **sessp, const void *data, size_t len,
                     mproc__buf_t *reply)
{
    mproc__mgr_session_t *sess = *sessp;
    mproc__mgr_request_t req;
    mproc_value_t *result = NULL, *sentence;
    mproc__buf_t raw = {0};
    int rc, stop = 0;
    rc = mproc__mgr_request_decode(data, len, &req);
    if (rc == MPROC_ECORRUPT) {
        /* The same sentence, under the status of a refused request. */
        char why[512];
        snprintf(why, sizeof why, "%s", mproc_last_error());
        rc = mproc__set_error(MPROC_EREMOTE, "%s", why);
    } else if (rc == 0 &&
               mproc__mgr_ops[req.op].kinds == MPROC__MGR_FOR_MANAGER) {
        rc = control(sessp, &req, &result);
        stop = rc == 0 && req.op == MPROC__MGR_SHUTDOWN;
    } else if (rc == 0) {
        mobj *o = pin(sess->s, req.id);
        if (o == NULL) {
            rc = no_object(req.id);
        } else if ((mproc__mgr_ops[req.op].kinds & kind_bit(o->kind)) == 0) {
            rc = mproc__set_error(
                MPROC_EREMOTE, "'%s' object has no method '%s'",
                mproc__mgr_kind_name(o->kind), mproc__mgr_ops[req.op].name);
        } else {
            rc = run_on(sess, o, handlers[req.op], &req, &result, &raw);
        }
        if (o != NULL)
            unpin(sess->s, o);
    }
    mproc__mgr_request_free(&req);
    /* A JOIN may have replaced the session: the store is the same. */
    maybe_collect((*sessp)->s, 0);
    if (rc < 0) {
        mproc_value_free(result);
        result = NULL;
        sentence = mproc_value_str(mproc_last_error());
        if (sentence == NULL ||
            mproc__mgr_reply_encode(rc, sentence, reply) != 0) {
            mproc_value_free(sentence);
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        }
        mproc_value_free(sentence);
        return stop;
    }
    if (raw.len > 0) {
        rc = mproc__mgr_reply_encode_raw(rc, &raw, reply);
        mproc__buf_free(&raw);
        if (rc != 0)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        return stop;
    }
    if (mproc__mgr_reply_encode(rc, result, reply) != 0) {
        mproc_value_free(result);
        /* The reply that says so is small enough to be made. */
        sentence = mproc_value_str("out of memory encoding the result");
        rc = sentence != NULL
                 ? mproc__mgr_reply_encode(MPROC_ENOMEM, sentence, reply)
                 : MPROC_ENOMEM;
        mproc_value_free(sentence);
        return rc != 0 ? mproc__set_error(MPROC_ENOMEM, "out of memory") : stop;
    }
    mproc_value_free(result);
    return stop;
}
