/*
 * Shared memory (mproc/shared_memory.h): SharedMemory blocks, and the
 * typed Values and Arrays of sharedctypes.
 *
 * A SharedMemory block is a named segment of its own, not a shared object
 * (shared_object.h): a shared object's last user removes its name, while
 * a block's name belongs to its creator, as Python's does, and stays until
 * the creator unlinks it. The creator registers the name with the resource
 * tracker and only its unlink unregisters it, so the tracker removes what
 * a creator neither unlinked nor could (killed), once the whole tree has
 * ended; a process that attached registers nothing and removes nothing.
 * The segment starts with a small header (the size the creator asked
 * for), so that attaching by name alone finds the size.
 *
 * A Value or an Array is a shared object: its header gives the typecode,
 * the number of elements and the name of its lock (an RLock of its own,
 * the caller's Lock or RLock, or none), and its elements follow the slots.
 * Reopening it maps the segment and opens the lock by that name, so its
 * reference is the object's name alone.
 */
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "bootstrap.h"
#include "lock.h"
#include "mproc/shared_memory.h"
#include "shared_object.h"
#include "value_codec.h"

/* ---- SharedMemory ------------------------------------------------------ */

#define SHM_MAGIC 0x4d505348u /* "MPSH" */
/* The header takes 64 bytes so that the user's bytes start on a line. */
#define SHM_HEADER 64

typedef struct shm_header {
    uint32_t magic;
    uint32_t kind; /* MPROC_REF_SHM */
    uint64_t size; /* the bytes the creator asked for */
} shm_header;

struct mproc_shm_t {
    mproc__os_shm_t *os;
    shm_header *hdr;
    size_t size;
    char name[MPROC__SHOBJ_NAME_LEN];
    int creator;
    /* The creator's registration with the tracker, until unlink. */
    int tracked;
    mproc__owned_t owned; /* closed at exit if still open */
};

static void shm_release(void *obj)
{
    mproc_shm_close(obj);
}

static int shm_new(mproc_shm_t **out, const char *what)
{
    mproc_shm_t *s;
    int rc;
    *out = NULL;
    /* The creator's name is tracked, and the tracker is a process. */
    rc = mproc__runtime_check(what);
    if (rc != 0)
        return rc;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    *out = s;
    return 0;
}

static int shm_name_ok(const char *name)
{
    size_t n = strlen(name);
    if (n >= MPROC__SHOBJ_NAME_LEN - 6 || !mproc__tracker_name_ok(name, n))
        return mproc__set_error(MPROC_EINVAL,
                                "'%s' is not a shared memory name: it must "
                                "start with \"mproc-\" and have at most 25 "
                                "characters of A-Z a-z 0-9 _ . -",
                                name);
    return 0;
}

int mproc_shm_create(mproc_shm_t **shm, const char *name, size_t size)
{
    mproc_shm_t *s;
    int rc, attempt;
    if (shm == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the block");
    *shm = NULL;
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a shared memory block needs a size above 0");
    if (size > (size_t) -1 - SHM_HEADER)
        return mproc__set_error(MPROC_ERANGE, "shared memory size too large");
    if (name != NULL && (rc = shm_name_ok(name)) != 0)
        return rc;
    rc = shm_new(&s, "create shared memory");
    if (rc != 0)
        return rc;
    for (attempt = 0;; attempt++) {
        if (name != NULL)
            strcpy(s->name, name);
        else
            mproc__shobj_random_name(s->name);
        rc = mproc__os_shm_create(&s->os, s->name, SHM_HEADER + size);
        /* A random name that clashes is retried; a given one is an error. */
        if (rc != MPROC_EEXIST || name != NULL || attempt == 100)
            break;
    }
    if (rc == 0) {
        rc = mproc__os_track(s->name);
        if (rc != 0) {
            mproc__os_shm_close(s->os);
            mproc__os_shm_unlink(s->name);
        }
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->hdr = mproc__os_shm_addr(s->os);
    s->hdr->magic = SHM_MAGIC;
    s->hdr->kind = MPROC_REF_SHM;
    s->hdr->size = size;
    s->size = size;
    s->creator = 1;
    s->tracked = 1;
    mproc__owned_link(&s->owned, shm_release, s);
    *shm = s;
    return 0;
}

int mproc_shm_attach(mproc_shm_t **shm, const char *name)
{
    mproc__os_shm_t *probe;
    const shm_header *h;
    mproc_shm_t *s;
    uint64_t size;
    int rc;
    if (shm == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the block");
    *shm = NULL;
    if (name == NULL)
        return mproc__set_error(MPROC_EINVAL, "no shared memory name");
    if ((rc = shm_name_ok(name)) != 0)
        return rc;
    rc = shm_new(&s, "attach shared memory");
    if (rc != 0)
        return rc;
    /* The header first, for the size; then the whole block. */
    rc = mproc__os_shm_open(&probe, name, SHM_HEADER);
    if (rc == 0) {
        h = mproc__os_shm_addr(probe);
        size = h->magic == SHM_MAGIC && h->kind == MPROC_REF_SHM ? h->size : 0;
        mproc__os_shm_close(probe);
        if (size == 0 || size > (uint64_t) ((size_t) -1 - SHM_HEADER))
            rc = mproc__set_error(
                MPROC_EINVAL, "'%s' is not an mproc shared memory block", name);
        else
            rc = mproc__os_shm_open(&s->os, name, SHM_HEADER + (size_t) size);
    }
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->hdr = mproc__os_shm_addr(s->os);
    s->size = (size_t) size;
    strcpy(s->name, name);
    mproc__owned_link(&s->owned, shm_release, s);
    *shm = s;
    return 0;
}

const char *mproc_shm_name(const mproc_shm_t *shm)
{
    return shm != NULL ? shm->name : NULL;
}

size_t mproc_shm_size(const mproc_shm_t *shm)
{
    return shm != NULL ? shm->size : 0;
}

void *mproc_shm_buf(const mproc_shm_t *shm)
{
    return shm != NULL ? (char *) shm->hdr + SHM_HEADER : NULL;
}

int mproc_shm_is_creator(const mproc_shm_t *shm)
{
    return shm != NULL && shm->creator;
}

int mproc_shm_unlink(mproc_shm_t *shm)
{
    int rc;
    if (shm == NULL)
        return mproc__set_error(MPROC_EINVAL, "no shared memory block");
    if (!shm->creator)
        return mproc__set_error(MPROC_ESTATE,
                                "shared memory '%s' was attached here, not "
                                "created: only its creator removes it",
                                shm->name);
    if (!shm->tracked)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "shared memory '%s' was unlinked already",
                                shm->name);
    rc = mproc__os_shm_unlink(shm->name);
    if (rc != 0 && rc != MPROC_ENOTFOUND)
        return rc;
    /*
     * Not found: a fork child's copy of this handle removed it first, so
     * the name is gone as asked and this is done too. The tracker has
     * nothing left to remove either way.
     */
    mproc__os_untrack(shm->name);
    shm->tracked = 0;
    return 0;
}

void mproc_shm_close(mproc_shm_t *shm)
{
    if (shm == NULL)
        return;
    mproc__ref_cache_forget(shm);
    mproc__owned_unlink(&shm->owned);
    /*
     * The name stays, and stays registered: the creator may hand it on,
     * and the tracker removes it when the tree ends if nobody unlinks it.
     */
    mproc__os_shm_close(shm->os);
    free(shm);
}

mproc_value_t *mproc_value_shm(const mproc_shm_t *shm)
{
    if (shm == NULL) {
        mproc__set_error(MPROC_EINVAL, "no shared memory block to refer to");
        return NULL;
    }
    return mproc__ref_new(MPROC_REF_SHM,
                          mproc_value_list_of(1, mproc_value_str(shm->name)));
}

static int shm_open_ref(const mproc_value_t *ref, void **obj)
{
    mproc_shm_t *s = NULL;
    int rc = mproc_shm_attach(
        &s, mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0)));
    *obj = s;
    return rc;
}

static void shm_close_ref(void *obj)
{
    mproc_shm_close(obj);
}

int mproc_value_to_shm(const mproc_value_t *v, mproc_shm_t **out)
{
    void *obj = NULL;
    int rc = mproc__ref_open_once(v, MPROC_REF_SHM, shm_open_ref, shm_close_ref,
                                  &obj);
    if (rc == 0)
        *out = obj;
    return rc;
}

/* ---- the typecodes -------------------------------------------------- */

enum { T_SIGNED, T_UNSIGNED, T_FLOAT };

typedef struct type_info {
    char code;
    unsigned char size;
    unsigned char sort;
} type_info;

static const type_info typecodes[] = {
    {'b', sizeof(signed char), T_SIGNED},
    {'B', sizeof(unsigned char), T_UNSIGNED},
    {'h', sizeof(short), T_SIGNED},
    {'H', sizeof(unsigned short), T_UNSIGNED},
    {'i', sizeof(int), T_SIGNED},
    {'I', sizeof(unsigned int), T_UNSIGNED},
    {'l', sizeof(long), T_SIGNED},
    {'L', sizeof(unsigned long), T_UNSIGNED},
    {'q', sizeof(long long), T_SIGNED},
    {'Q', sizeof(unsigned long long), T_UNSIGNED},
    {'f', sizeof(float), T_FLOAT},
    {'d', sizeof(double), T_FLOAT},
    /* A char is a byte, 0 to 255, as Python's c_char is. */
    {'c', sizeof(char), T_UNSIGNED},
};

static const type_info *typecode_of(char code)
{
    size_t i;
    for (i = 0; i < MPROC__ARRAY_SIZE(typecodes); i++)
        if (typecodes[i].code == code)
            return &typecodes[i];
    return NULL;
}

/* The bits of integer element @p, sign-extended for a signed type. */
static uint64_t load_bits(const type_info *t, const void *p)
{
    switch (t->size) {
    case 1: {
        uint8_t x;
        memcpy(&x, p, 1);
        return t->sort == T_SIGNED ? (uint64_t) (int64_t) (int8_t) x : x;
    }
    case 2: {
        uint16_t x;
        memcpy(&x, p, 2);
        return t->sort == T_SIGNED ? (uint64_t) (int64_t) (int16_t) x : x;
    }
    case 4: {
        uint32_t x;
        memcpy(&x, p, 4);
        return t->sort == T_SIGNED ? (uint64_t) (int64_t) (int32_t) x : x;
    }
    default: {
        uint64_t x;
        memcpy(&x, p, 8);
        return x;
    }
    }
}

/* Stores the low bits of @x into integer element @p. */
static void store_bits(const type_info *t, void *p, uint64_t x)
{
    uint8_t b1 = (uint8_t) x;
    uint16_t b2 = (uint16_t) x;
    uint32_t b4 = (uint32_t) x;
    switch (t->size) {
    case 1:
        memcpy(p, &b1, 1);
        break;
    case 2:
        memcpy(p, &b2, 2);
        break;
    case 4:
        memcpy(p, &b4, 4);
        break;
    default:
        memcpy(p, &x, 8);
        break;
    }
}

static double load_float(const type_info *t, const void *p)
{
    if (t->code == 'f') {
        float f;
        memcpy(&f, p, sizeof f);
        return f;
    }
    if (t->code == 'd') {
        double d;
        memcpy(&d, p, sizeof d);
        return d;
    }
    if (t->sort == T_SIGNED)
        return (double) (int64_t) load_bits(t, p);
    return (double) load_bits(t, p);
}

/* The range of integer type @t, as an int64_t's low end and a uint64_t. */
static void int_range(const type_info *t, int64_t *lo, uint64_t *hi)
{
    unsigned bits = 8u * t->size;
    if (t->sort == T_SIGNED) {
        *hi = (UINT64_C(1) << (bits - 1)) - 1;
        *lo = -(int64_t) *hi - 1;
    } else {
        *hi = bits == 64 ? UINT64_MAX : (UINT64_C(1) << bits) - 1;
        *lo = 0;
    }
}

static int get_int(const type_info *t, const void *p, int64_t *out)
{
    if (t->sort == T_FLOAT) {
        double d = load_float(t, p);
        if (!(d >= -9223372036854775808.0 && d < 9223372036854775808.0))
            return mproc__set_error(MPROC_ERANGE,
                                    "%g does not fit a 64-bit integer", d);
        *out = (int64_t) d;
        return 0;
    }
    if (t->sort == T_UNSIGNED && load_bits(t, p) > (uint64_t) INT64_MAX)
        return mproc__set_error(MPROC_ERANGE,
                                "the value is above INT64_MAX; read it with "
                                "the _read call instead");
    *out = (int64_t) load_bits(t, p);
    return 0;
}

static int set_int(const type_info *t, void *p, int64_t x)
{
    int64_t lo;
    uint64_t hi;
    if (t->code == 'f') {
        float f = (float) x;
        memcpy(p, &f, sizeof f);
        return 0;
    }
    if (t->code == 'd') {
        double d = (double) x;
        memcpy(p, &d, sizeof d);
        return 0;
    }
    int_range(t, &lo, &hi);
    if (x < lo || (x > 0 && (uint64_t) x > hi))
        return mproc__set_error(MPROC_ERANGE, "%lld does not fit typecode '%c'",
                                (long long) x, t->code);
    store_bits(t, p, (uint64_t) x);
    return 0;
}

static int set_float(const type_info *t, void *p, double x)
{
    int64_t lo;
    uint64_t hi;
    if (t->code == 'f') {
        float f = (float) x;
        memcpy(p, &f, sizeof f);
        return 0;
    }
    if (t->code == 'd') {
        memcpy(p, &x, sizeof x);
        return 0;
    }
    int_range(t, &lo, &hi);
    /* Truncated toward zero, as C's conversion does. */
    if (!(x > (double) lo - 1.0 && x < (double) hi + 1.0))
        return mproc__set_error(MPROC_ERANGE, "%g does not fit typecode '%c'",
                                x, t->code);
    if (x < 0)
        store_bits(t, p, (uint64_t) (int64_t) x);
    else
        store_bits(t, p, (uint64_t) x);
    return 0;
}

/*
 * Adds @delta to integer element @p as one atomic step: the 4- and 8-byte
 * types directly, the smaller ones by a compare-and-swap of the aligned
 * 32-bit word that holds them (their storage is padded so that the word
 * lies inside it). The new bits.
 */
static uint64_t atomic_add(const type_info *t, void *p, int64_t delta)
{
    uintptr_t off;
    volatile uint32_t *word;
    uint32_t old, cur, next;
    unsigned char b[8]; /* 4 used; 8 keeps every size in bounds */
    if (t->size == 8)
        return mproc__atomic_add64((volatile uint64_t *) p, (uint64_t) delta);
    if (t->size == 4)
        return mproc__atomic_add32((volatile uint32_t *) p, (uint32_t) delta);
    off = (uintptr_t) p & 3u;
    word = (volatile uint32_t *) (void *) ((char *) p - off);
    cur = mproc__atomic_load32(word);
    for (;;) {
        old = cur;
        memcpy(b, &old, 4);
        store_bits(t, b + off, load_bits(t, b + off) + (uint64_t) delta);
        memcpy(&next, b, 4);
        cur = mproc__atomic_cas32(word, old, next);
        if (cur == old)
            return load_bits(t, b + off);
    }
}

/* ---- Value and Array ------------------------------------------------ */

enum { LOCK_NONE, LOCK_PLAIN, LOCK_RECURSIVE };

typedef struct shared_header {
    mproc__shobj_header_t base;
    uint32_t code;  /* the type_info */
    uint32_t lock;  /* LOCK_* */
    uint64_t count; /* elements */
    uint64_t bytes; /* the element bytes after the slots, padded */
    char lock_name[MPROC__SHOBJ_NAME_LEN]; /* "" for none or fork-only */
} shared_header;

/* A Value is an Array of one; both are this. */
typedef struct shared_obj {
    mproc__shobj_t base;
    const type_info *type;
    size_t count;
    unsigned char *data;
    mproc_lock_t *plain;  /* the lock, if a Lock */
    mproc_rlock_t *rlock; /* the lock, if an RLock */
    int owns_lock;
} shared_obj;

struct mproc_shared_value_t {
    shared_obj o;
};

struct mproc_shared_array_t {
    shared_obj o;
};

/* What a new one is made of (setup's @arg). */
typedef struct shared_args {
    const type_info *type;
    size_t count;
    const void *init;
    const mproc_shared_opts_t *opts;
} shared_args;

static uint64_t shared_extra_of(const void *hdr)
{
    return ((const shared_header *) hdr)->bytes;
}

static int shared_lock_create(shared_obj *o, shared_header *h,
                              const mproc_shared_opts_t *opts)
{
    mproc_sync_opts_t lock_opts = {0};
    int rc;
    if (opts != NULL && opts->no_lock) {
        h->lock = LOCK_NONE;
        return 0;
    }
    if (opts != NULL && opts->lock != NULL) {
        o->plain = opts->lock;
        h->lock = LOCK_PLAIN;
        memcpy(h->lock_name, opts->lock->base.name, MPROC__SHOBJ_NAME_LEN);
        return 0;
    }
    if (opts != NULL && opts->rlock != NULL) {
        o->rlock = opts->rlock;
        h->lock = LOCK_RECURSIVE;
        memcpy(h->lock_name, opts->rlock->lock.base.name,
               MPROC__SHOBJ_NAME_LEN);
        return 0;
    }
    /* Fork-only as the object is, which then has no name. */
    lock_opts.fork_only = o->base.name[0] == '\0';
    rc = mproc_rlock_create(&o->rlock, &lock_opts);
    if (rc != 0)
        return rc;
    /* Its own lock goes with the object, not on its own. */
    mproc__owned_unlink(&o->rlock->lock.base.owned);
    o->owns_lock = 1;
    h->lock = LOCK_RECURSIVE;
    memcpy(h->lock_name, o->rlock->lock.base.name, MPROC__SHOBJ_NAME_LEN);
    return 0;
}

static int shared_lock_open(shared_obj *o, const shared_header *h)
{
    char lname[MPROC__SHOBJ_NAME_LEN];
    int rc;
    if (h->lock == LOCK_NONE)
        return 0;
    memcpy(lname, h->lock_name, sizeof lname);
    lname[sizeof lname - 1] = '\0';
    if (h->lock == LOCK_RECURSIVE)
        rc = mproc__shobj_open((void **) &o->rlock, &mproc__rlock_class, lname);
    else
        rc = mproc__shobj_open((void **) &o->plain, &mproc__lock_class, lname);
    if (rc != 0)
        return rc;
    mproc__owned_unlink(o->rlock != NULL ? &o->rlock->lock.base.owned
                                         : &o->plain->base.owned);
    o->owns_lock = 1;
    return 0;
}

static int shared_setup(void *obj, int create, const void *arg)
{
    shared_obj *o = obj;
    shared_header *h = o->base.hdr;
    int rc;
    if (create) {
        const shared_args *a = arg;
        h->code = (uint32_t) (unsigned char) a->type->code;
        h->count = a->count;
        h->bytes = (a->count * a->type->size + 7) / 8 * 8;
        rc = shared_lock_create(o, h, a->opts);
    } else {
        o->type = typecode_of((char) h->code);
        if (o->type == NULL || h->count == 0 ||
            h->bytes < h->count * o->type->size)
            return mproc__set_error(
                MPROC_ECORRUPT, "shared %s '%s' has a bad header",
                mproc__ref_kind_name(o->base.cls->kind), o->base.name);
        rc = shared_lock_open(o, h);
    }
    if (rc != 0)
        return rc;
    o->type = typecode_of((char) h->code);
    o->count = (size_t) h->count;
    o->data = mproc__shobj_extra(&o->base);
    if (create && ((const shared_args *) arg)->init != NULL)
        memcpy(o->data, ((const shared_args *) arg)->init,
               o->count * o->type->size);
    return 0;
}

static void shared_teardown(void *obj)
{
    shared_obj *o = obj;
    if (o->owns_lock) {
        mproc_rlock_destroy(o->rlock);
        mproc_lock_destroy(o->plain);
    }
}

/* A named object whose lock is fork-only cannot go to a spawned child. */
static int shared_check_ref(const void *obj)
{
    const shared_obj *o = obj;
    const shared_header *h = o->base.hdr;
    if (h->lock != LOCK_NONE && h->lock_name[0] == '\0')
        return mproc__set_error(MPROC_EFORKONLY,
                                "its lock was created fork-only, so it "
                                "cannot be passed to a spawned child; give "
                                "it a lock made without .fork_only");
    return 0;
}

static const mproc__shobj_class_t value_class = {
    .kind = MPROC_REF_VALUE,
    .obj_size = sizeof(mproc_shared_value_t),
    .header_size = sizeof(shared_header),
    .slots = 0,
    .extra_of = shared_extra_of,
    .setup = shared_setup,
    .teardown = shared_teardown,
    .check_ref = shared_check_ref};

static const mproc__shobj_class_t array_class = {
    .kind = MPROC_REF_ARRAY,
    .obj_size = sizeof(mproc_shared_array_t),
    .header_size = sizeof(shared_header),
    .slots = 0,
    .extra_of = shared_extra_of,
    .setup = shared_setup,
    .teardown = shared_teardown,
    .check_ref = shared_check_ref};

static int shared_create(void **out, const mproc__shobj_class_t *cls, char code,
                         size_t n, const void *init,
                         const mproc_shared_opts_t *opts)
{
    shared_args a;
    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the object");
    *out = NULL;
    a.type = typecode_of(code);
    if (a.type == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "'%c' is not a typecode (one of "
                                "bBhHiIlLqQfdc)",
                                code);
    if (n == 0)
        return mproc__set_error(MPROC_EINVAL, "an array needs an element");
    if (n > ((size_t) -1 / 2) / a.type->size)
        return mproc__set_error(MPROC_ERANGE, "array too large");
    if (opts != NULL && ((opts->lock != NULL) + (opts->rlock != NULL) +
                         (opts->no_lock != 0)) > 1)
        return mproc__set_error(MPROC_EINVAL,
                                "give at most one of .lock, .rlock and "
                                ".no_lock");
    a.count = n;
    a.init = init;
    a.opts = opts;
    return mproc__shobj_create(out, cls, (n * a.type->size + 7) / 8 * 8,
                               opts != NULL && opts->fork_only, &a);
}

static int obj_acquire(shared_obj *o, double timeout)
{
    if (o->rlock != NULL)
        return mproc_rlock_acquire(o->rlock, timeout);
    if (o->plain != NULL)
        return mproc_lock_acquire(o->plain, timeout);
    return mproc__set_error(MPROC_ESTATE, "it was made with no lock");
}

static int obj_release(shared_obj *o)
{
    if (o->rlock != NULL)
        return mproc_rlock_release(o->rlock);
    if (o->plain != NULL)
        return mproc_lock_release(o->plain);
    return mproc__set_error(MPROC_ESTATE, "it was made with no lock");
}

/* Takes the lock, if there is one, for one call. */
static int enter(shared_obj *o)
{
    int rc;
    if (o->rlock == NULL && o->plain == NULL)
        return 0;
    rc = obj_acquire(o, MPROC_FOREVER);
    /* A dead holder's lock is ours now; the call goes on. */
    return rc > 0 ? 0 : rc;
}

static void leave(shared_obj *o)
{
    if (o->rlock != NULL || o->plain != NULL)
        obj_release(o);
}

static int check_index(const shared_obj *o, size_t i, size_t count)
{
    if (o == NULL)
        return mproc__set_error(MPROC_EINVAL, "no shared object");
    if (i > o->count || count > o->count - i)
        return mproc__set_error(MPROC_ERANGE,
                                "elements %zu to %zu pass the end of %zu", i,
                                i + count, o->count);
    return 0;
}

static int obj_get_int(shared_obj *o, size_t i, int64_t *out)
{
    int64_t x = 0;
    int rc = check_index(o, i, 1);
    if (rc == 0 && (rc = enter(o)) == 0) {
        rc = get_int(o->type, o->data + i * o->type->size, &x);
        leave(o);
    }
    if (rc == 0 && out != NULL)
        *out = x;
    return rc;
}

static int obj_set_int(shared_obj *o, size_t i, int64_t x)
{
    int rc = check_index(o, i, 1);
    if (rc == 0 && (rc = enter(o)) == 0) {
        rc = set_int(o->type, o->data + i * o->type->size, x);
        leave(o);
    }
    return rc;
}

static int obj_get_float(shared_obj *o, size_t i, double *out)
{
    double x = 0;
    int rc = check_index(o, i, 1);
    if (rc == 0 && (rc = enter(o)) == 0) {
        x = load_float(o->type, o->data + i * o->type->size);
        leave(o);
    }
    if (rc == 0 && out != NULL)
        *out = x;
    return rc;
}

static int obj_set_float(shared_obj *o, size_t i, double x)
{
    int rc = check_index(o, i, 1);
    if (rc == 0 && (rc = enter(o)) == 0) {
        rc = set_float(o->type, o->data + i * o->type->size, x);
        leave(o);
    }
    return rc;
}

static int obj_add(shared_obj *o, size_t i, int64_t delta, int64_t *result)
{
    unsigned char *p;
    uint64_t bits;
    int rc = check_index(o, i, 1);
    if (rc != 0)
        return rc;
    if (o->type->sort == T_FLOAT)
        return mproc__set_error(
            MPROC_ETYPE, "add takes an integer type, not '%c'", o->type->code);
    p = o->data + i * o->type->size;
    if (o->rlock == NULL && o->plain == NULL) {
        bits = atomic_add(o->type, p, delta);
    } else {
        rc = enter(o);
        if (rc != 0)
            return rc;
        bits = load_bits(o->type, p) + (uint64_t) delta;
        store_bits(o->type, p, bits);
        bits = load_bits(o->type, p);
        leave(o);
    }
    if (result != NULL) {
        unsigned char tmp[8];
        store_bits(o->type, tmp, bits);
        *result = (int64_t) load_bits(o->type, tmp);
    }
    return 0;
}

static int obj_copy(shared_obj *o, size_t start, size_t count, void *out,
                    const void *in)
{
    int rc = check_index(o, start, count);
    if (rc == 0 && count > 0 && (out == NULL && in == NULL))
        rc = mproc__set_error(MPROC_EINVAL, "no buffer");
    if (rc != 0 || count == 0)
        return rc;
    rc = enter(o);
    if (rc != 0)
        return rc;
    if (out != NULL)
        memcpy(out, o->data + start * o->type->size, count * o->type->size);
    else
        memcpy(o->data + start * o->type->size, in, count * o->type->size);
    leave(o);
    return 0;
}

/* ---- Value ---------------------------------------------------------- */

int mproc_shared_value_create(mproc_shared_value_t **value, char typecode,
                              const void *init, const mproc_shared_opts_t *opts)
{
    return shared_create((void **) value, &value_class, typecode, 1, init,
                         opts);
}

char mproc_shared_value_typecode(const mproc_shared_value_t *v)
{
    return v != NULL ? v->o.type->code : '\0';
}

void *mproc_shared_value_ptr(const mproc_shared_value_t *v)
{
    return v != NULL ? v->o.data : NULL;
}

int mproc_shared_value_get_int(mproc_shared_value_t *v, int64_t *out)
{
    return obj_get_int(v != NULL ? &v->o : NULL, 0, out);
}

int mproc_shared_value_set_int(mproc_shared_value_t *v, int64_t x)
{
    return obj_set_int(v != NULL ? &v->o : NULL, 0, x);
}

int mproc_shared_value_get_float(mproc_shared_value_t *v, double *out)
{
    return obj_get_float(v != NULL ? &v->o : NULL, 0, out);
}

int mproc_shared_value_set_float(mproc_shared_value_t *v, double x)
{
    return obj_set_float(v != NULL ? &v->o : NULL, 0, x);
}

int mproc_shared_value_read(mproc_shared_value_t *v, void *out)
{
    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no buffer");
    return obj_copy(v != NULL ? &v->o : NULL, 0, 1, out, NULL);
}

int mproc_shared_value_write(mproc_shared_value_t *v, const void *in)
{
    if (in == NULL)
        return mproc__set_error(MPROC_EINVAL, "no buffer");
    return obj_copy(v != NULL ? &v->o : NULL, 0, 1, NULL, in);
}

int mproc_shared_value_add(mproc_shared_value_t *v, int64_t delta,
                           int64_t *result)
{
    return obj_add(v != NULL ? &v->o : NULL, 0, delta, result);
}

int mproc_shared_value_acquire(mproc_shared_value_t *v, double timeout)
{
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value");
    return obj_acquire(&v->o, timeout);
}

int mproc_shared_value_release(mproc_shared_value_t *v)
{
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value");
    return obj_release(&v->o);
}

void mproc_shared_value_destroy(mproc_shared_value_t *v)
{
    mproc__shobj_destroy(v);
}

MPROC__SHOBJ_REFERENCES(shared_value, value_class)

/* ---- Array ---------------------------------------------------------- */

int mproc_shared_array_create(mproc_shared_array_t **array, char typecode,
                              size_t n, const void *init,
                              const mproc_shared_opts_t *opts)
{
    return shared_create((void **) array, &array_class, typecode, n, init,
                         opts);
}

size_t mproc_shared_array_len(const mproc_shared_array_t *a)
{
    return a != NULL ? a->o.count : 0;
}

char mproc_shared_array_typecode(const mproc_shared_array_t *a)
{
    return a != NULL ? a->o.type->code : '\0';
}

size_t mproc_shared_array_itemsize(const mproc_shared_array_t *a)
{
    return a != NULL ? a->o.type->size : 0;
}

void *mproc_shared_array_ptr(const mproc_shared_array_t *a)
{
    return a != NULL ? a->o.data : NULL;
}

int mproc_shared_array_get_int(mproc_shared_array_t *a, size_t i, int64_t *out)
{
    return obj_get_int(a != NULL ? &a->o : NULL, i, out);
}

int mproc_shared_array_set_int(mproc_shared_array_t *a, size_t i, int64_t x)
{
    return obj_set_int(a != NULL ? &a->o : NULL, i, x);
}

int mproc_shared_array_get_float(mproc_shared_array_t *a, size_t i, double *out)
{
    return obj_get_float(a != NULL ? &a->o : NULL, i, out);
}

int mproc_shared_array_set_float(mproc_shared_array_t *a, size_t i, double x)
{
    return obj_set_float(a != NULL ? &a->o : NULL, i, x);
}

int mproc_shared_array_add(mproc_shared_array_t *a, size_t i, int64_t delta,
                           int64_t *result)
{
    return obj_add(a != NULL ? &a->o : NULL, i, delta, result);
}

int mproc_shared_array_read(mproc_shared_array_t *a, size_t start, size_t count,
                            void *out)
{
    if (out == NULL && count > 0)
        return mproc__set_error(MPROC_EINVAL, "no buffer");
    return obj_copy(a != NULL ? &a->o : NULL, start, count, out, NULL);
}

int mproc_shared_array_write(mproc_shared_array_t *a, size_t start,
                             const void *in, size_t count)
{
    if (in == NULL && count > 0)
        return mproc__set_error(MPROC_EINVAL, "no buffer");
    return obj_copy(a != NULL ? &a->o : NULL, start, count, NULL, in);
}

static int check_chars(const mproc_shared_array_t *a)
{
    if (a == NULL)
        return mproc__set_error(MPROC_EINVAL, "no array");
    if (a->o.type->code != 'c')
        return mproc__set_error(MPROC_ETYPE,
                                "a string needs a 'c' array, not '%c'",
                                a->o.type->code);
    return 0;
}

int mproc_shared_array_set_str(mproc_shared_array_t *a, const char *s)
{
    size_t n;
    int rc = check_chars(a);
    if (rc != 0)
        return rc;
    if (s == NULL)
        return mproc__set_error(MPROC_EINVAL, "no string");
    n = strlen(s);
    if (n > a->o.count)
        return mproc__set_error(MPROC_ERANGE,
                                "a string of %zu bytes is longer than the "
                                "array's %zu",
                                n, a->o.count);
    rc = enter(&a->o);
    if (rc != 0)
        return rc;
    memcpy(a->o.data, s, n);
    if (n < a->o.count)
        a->o.data[n] = '\0';
    leave(&a->o);
    return 0;
}

int mproc_shared_array_get_str(mproc_shared_array_t *a, char *buf, size_t size)
{
    size_t n;
    int rc = check_chars(a);
    if (rc != 0)
        return rc;
    if (buf == NULL)
        return mproc__set_error(MPROC_EINVAL, "no buffer");
    rc = enter(&a->o);
    if (rc != 0)
        return rc;
    for (n = 0; n < a->o.count && a->o.data[n] != '\0'; n++)
        ;
    if (n >= size || n > 0x7fffffff) {
        leave(&a->o);
        return mproc__set_error(MPROC_ETOOSHORT,
                                "the string has %zu bytes; the buffer holds "
                                "%zu with its NUL",
                                n, size);
    }
    memcpy(buf, a->o.data, n);
    buf[n] = '\0';
    leave(&a->o);
    return (int) n;
}

int mproc_shared_array_acquire(mproc_shared_array_t *a, double timeout)
{
    if (a == NULL)
        return mproc__set_error(MPROC_EINVAL, "no array");
    return obj_acquire(&a->o, timeout);
}

int mproc_shared_array_release(mproc_shared_array_t *a)
{
    if (a == NULL)
        return mproc__set_error(MPROC_EINVAL, "no array");
    return obj_release(&a->o);
}

void mproc_shared_array_destroy(mproc_shared_array_t *a)
{
    mproc__shobj_destroy(a);
}

MPROC__SHOBJ_REFERENCES(shared_array, array_class)
