/*
 * Dynamic values: construction, containers and inspection.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "mproc_services.h"
#include "registry.h"
#include "tlock.h"
#include "value_codec.h"
#include "value_internal.h"

/*
 * A thread keeps up to CELLS scalars (nil, bools, integers, floats) that
 * it freed, for the next values it makes: a pool worker makes a result
 * and frees it for every task, and the C library's malloc and free of one
 * cost ten times what taking it from here and putting it back do (about
 * 130 instructions against 12). Scalars are always of one size, the
 * value's own. A thread's cells go back to the C library when it ends
 * (the platform's thread slot runs cells_end there); the first thread's
 * stay reachable from it until the process ends.
 */
#define CELLS 64

/*
 * Under AddressSanitizer a kept cell is out of bounds until it is made
 * again, but for its link (which the leak checker follows): a use of a
 * scalar after its free, or a second free, is reported as it would be
 * with the C library's free.
 */
#if defined(__has_feature)
    #if __has_feature(address_sanitizer)
        #define CELLS_POISONED 1
    #endif
#endif
#if defined(__SANITIZE_ADDRESS__) && !defined(CELLS_POISONED)
    #define CELLS_POISONED 1
#endif
#if defined(CELLS_POISONED)
/* The sanitizer's runtime has them (its header may not be installed). */
void __asan_poison_memory_region(void const volatile *addr, size_t size);
void __asan_unpoison_memory_region(void const volatile *addr, size_t size);
    #define CELL_HIDE(c) __asan_poison_memory_region((c), CELL_LINK)
    #define CELL_SHOW(c) __asan_unpoison_memory_region((c), CELL_LINK)
#else
    #define CELL_HIDE(c) ((void) 0)
    #define CELL_SHOW(c) ((void) 0)
#endif

/* Each cell's last bytes link the next: the first are its type and flags. */
#define CELL_LINK (sizeof(mproc_value_t) - sizeof(void *))
/* One thread-local object, so that a thread finds it once per call. */
static MPROC__TLS struct {
    void *head;
    unsigned n;
    int kept; /* 1: freed at the thread's end; -1: not */
} cells;
static mproc__os_tls_t *cells_slot;
static uint32_t cells_slot_made;
static mproc__spin_t cells_lock = MPROC__SPIN_INIT;

static void cells_end(void *unused)
{
    (void) unused;
    while (cells.head != NULL) {
        void *next;
        CELL_SHOW(cells.head);
        memcpy(&next, (char *) cells.head + CELL_LINK, sizeof next);
        free(cells.head);
        cells.head = next;
    }
    cells.n = 0;
    cells.kept = -1; /* what the thread frees from now on goes back at once */
}

/*
 * Arranges for this thread's cells to be freed at its end, once. Done at
 * the thread's first scalar made, not at its first freed: a thread whose
 * first scalar work is a free in its own end (another slot's callback)
 * keeps nothing, where a slot set from inside the end might never call
 * back (Windows' fiber slots).
 */
static void keep_cells(void)
{
    int rc = 0;
    if (!mproc__atomic_load32(&cells_slot_made)) {
        mproc__spin_lock(&cells_lock);
        if (cells_slot == NULL)
            rc = mproc__os_tls_create(&cells_slot, cells_end);
        if (rc == 0)
            mproc__atomic_store32(&cells_slot_made, 1);
        mproc__spin_unlock(&cells_lock);
    }
    /* Any value but NULL has the slot call cells_end at the thread's end. */
    cells.kept =
        rc == 0 && mproc__os_tls_set(cells_slot, &cells_slot) == 0 ? 1 : -1;
}

mproc_value_t *mproc__value_new_scalar(mproc_value_type_e type)
{
    mproc_value_t *v = cells.head;
    if (v != NULL) {
        CELL_SHOW(v);
        memcpy(&cells.head, (char *) v + CELL_LINK, sizeof cells.head);
        cells.n--;
    } else {
        if (cells.kept == 0)
            keep_cells();
        v = malloc(sizeof *v);
    }
    if (v != NULL) {
        memset(v, 0, sizeof *v);
        v->type = type;
    }
    return v;
}

/* Frees scalar @v, or keeps it for the next. */
static void free_scalar(mproc_value_t *v)
{
    if (cells.n < CELLS && cells.kept > 0) {
        memcpy((char *) v + CELL_LINK, &cells.head, sizeof cells.head);
        CELL_HIDE(v);
        cells.head = v;
        cells.n++;
        return;
    }
    free(v);
}

/*
 * malloc and a clear, not calloc: the C library's calloc skips its cache
 * of small chunks, and a value is made for every item that crosses.
 */
static mproc_value_t *new_value(mproc_value_type_e type)
{
    mproc_value_t *v;
    if (MPROC__IS_SCALAR(type))
        return mproc__value_new_scalar(type);
    v = malloc(sizeof *v);
    if (v != NULL) {
        memset(v, 0, sizeof *v);
        v->type = type;
    }
    return v;
}

mproc_value_t *mproc_value_nil(void)
{
    return new_value(MPROC_VALUE_NIL);
}

mproc_value_t *mproc_value_bool(int b)
{
    mproc_value_t *v = new_value(MPROC_VALUE_BOOL);
    if (v != NULL)
        v->u.b = b != 0;
    return v;
}

mproc_value_t *mproc_value_int(int64_t i)
{
    mproc_value_t *v = new_value(MPROC_VALUE_INT);
    if (v != NULL)
        v->u.i = i;
    return v;
}

mproc_value_t *mproc_value_float(double d)
{
    mproc_value_t *v = new_value(MPROC_VALUE_FLOAT);
    if (v != NULL)
        v->u.f = d;
    return v;
}

/*
 * A string or bytes value of @len bytes, uninitialised but for the NUL that
 * always follows them (so a string can be used as a C string). The bytes
 * follow the value in the same allocation: one malloc and one free each,
 * which a queue's get of small messages feels.
 */
static mproc_value_t *new_blob_of(mproc_value_type_e type, size_t len)
{
    mproc_value_t *v;
    if (len > (size_t) -1 - sizeof *v - 1)
        return NULL;
    v = malloc(sizeof *v + len + 1);
    if (v == NULL)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = type;
    v->u.s.ptr = (char *) (v + 1);
    v->u.s.ptr[len] = '\0';
    v->u.s.len = len;
    return v;
}

static mproc_value_t *new_blob(mproc_value_type_e type, const void *data,
                               size_t len)
{
    mproc_value_t *v;
    if (data == NULL && len > 0)
        return NULL;
    v = new_blob_of(type, len);
    if (v != NULL && len > 0)
        memcpy(v->u.s.ptr, data, len);
    return v;
}

mproc_value_t *mproc__value_bytes_alloc(size_t len, unsigned char **data)
{
    mproc_value_t *v = new_blob_of(MPROC_VALUE_BYTES, len);
    if (v != NULL)
        *data = (unsigned char *) v->u.s.ptr;
    return v;
}

mproc_value_t *mproc_value_str(const char *s)
{
    return s == NULL ? NULL : new_blob(MPROC_VALUE_STR, s, strlen(s));
}

mproc_value_t *mproc_value_strn(const char *s, size_t len)
{
    return new_blob(MPROC_VALUE_STR, s, len);
}

mproc_value_t *mproc_value_bytes(const void *data, size_t len)
{
    return new_blob(MPROC_VALUE_BYTES, data, len);
}

mproc_value_t *mproc_value_list(void)
{
    return new_value(MPROC_VALUE_LIST);
}

/* The table of blocks that follows a list with MPROC__HAS_BLOCK. */
typedef struct blocks {
    size_t n;                /* blocks */
    size_t slots;            /* places they hold: the last may hold fewer */
    mproc_value_t *block[1]; /* n of them, NULL until used */
} blocks;

static blocks *blocks_of(mproc_value_t *list)
{
    return (blocks *) (void *) (list + 1);
}

/*
 * Blocks freed with their lists wait here, up to CACHE_BLOCKS of them (5
 * MiB), for the next lists that need some. A process that decodes long
 * lists of scalars again and again (a pool and its workers, a map after
 * another) would otherwise have the C library give the memory back to the
 * system as each list goes and take it again, faulting in every page,
 * which costs more than the decoding. A block's first bytes link it to the
 * next.
 */
#define CACHE_BLOCKS 512
#define BLOCK_BYTES (MPROC__BLOCK_SLOTS * sizeof(mproc_value_t))

static void *block_cache;
static size_t block_cache_n;
static mproc__spin_t block_cache_lock = MPROC__SPIN_INIT;

/*
 * Block @k of @t: a whole one from the cache, or the short last one of a
 * list of fewer places (with memory for those only, so that a short list
 * takes what its items take).
 */
static mproc_value_t *new_block(const blocks *t, size_t k)
{
    void *b;
    size_t slots = t->slots - k * MPROC__BLOCK_SLOTS;
    if (slots < MPROC__BLOCK_SLOTS)
        return malloc(slots * sizeof(mproc_value_t));
    mproc__spin_lock(&block_cache_lock);
    b = block_cache;
    if (b != NULL) {
        memcpy(&block_cache, b, sizeof block_cache);
        block_cache_n--;
    }
    mproc__spin_unlock(&block_cache_lock);
    return b != NULL ? b : malloc(BLOCK_BYTES);
}

/*
 * Keeps the @n whole blocks of @b that the cache has room for; frees the
 * rest.
 */
static void drop_blocks(mproc_value_t **b, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return;
    mproc__spin_lock(&block_cache_lock);
    for (; i < n && block_cache_n < CACHE_BLOCKS; i++) {
        if (b[i] == NULL)
            continue;
        memcpy(b[i], &block_cache, sizeof block_cache);
        block_cache = b[i];
        block_cache_n++;
    }
    mproc__spin_unlock(&block_cache_lock);
    for (; i < n; i++)
        free(b[i]);
}

mproc_value_t *mproc__value_list_block(size_t n)
{
    size_t nb = (n + MPROC__BLOCK_SLOTS - 1) / MPROC__BLOCK_SLOTS;
    mproc_value_t *v;
    blocks *b;
    if (n > ((size_t) -1 >> 1) / sizeof(mproc_value_t *))
        return NULL;
    v = malloc(sizeof *v + sizeof(blocks) + nb * sizeof(mproc_value_t *));
    if (v == NULL)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = MPROC_VALUE_LIST;
    v->flags = MPROC__HAS_BLOCK;
    b = blocks_of(v);
    b->n = nb;
    b->slots = n;
    memset(b->block, 0, (nb + 1) * sizeof b->block[0]);
    if (n > 0 && (v->u.c.items = malloc(n * sizeof *v->u.c.items)) == NULL) {
        free(v);
        return NULL;
    }
    v->u.c.cap = n;
    return v;
}

mproc_value_t *mproc__value_block_slot(mproc_value_t *list, size_t i)
{
    blocks *b = blocks_of(list);
    mproc_value_t **at = &b->block[i / MPROC__BLOCK_SLOTS];
    if (i / MPROC__BLOCK_SLOTS >= b->n)
        return NULL;
    if (*at == NULL && (*at = new_block(b, i / MPROC__BLOCK_SLOTS)) == NULL)
        return NULL;
    return &(*at)[i % MPROC__BLOCK_SLOTS];
}

static void free_blocks(mproc_value_t *list)
{
    blocks *b = blocks_of(list);
    size_t whole = b->slots / MPROC__BLOCK_SLOTS;
    drop_blocks(b->block, whole);
    if (whole < b->n)
        free(b->block[whole]); /* the short last one */
}

mproc_value_t *mproc__value_list_small(size_t n)
{
    mproc_value_t *v;
    if (n > MPROC__SMALL_LIST)
        return NULL;
    v = malloc(sizeof *v + n * sizeof(mproc_value_t *) + n * sizeof *v);
    if (v == NULL)
        return NULL;
    memset(v, 0, sizeof *v);
    v->type = MPROC_VALUE_LIST;
    v->flags = MPROC__INLINE;
    v->u.c.items = (mproc_value_t **) (void *) (v + 1);
    v->u.c.cap = n;
    return v;
}

mproc_value_t *mproc__value_small_slot(mproc_value_t *list, size_t k)
{
    /* The slots follow the array of cap pointers (cap is n until it grows). */
    mproc_value_t *slots =
        (mproc_value_t *) (void *) ((char *) (list + 1) +
                                    list->u.c.cap * sizeof(mproc_value_t *));
    return &slots[k];
}

/*
 * The items array of an inline list as one of its own (the slots stay
 * where they are, with the list); MPROC_ENOMEM, nothing changed.
 */
static int own_items(mproc_value_t *c, size_t cap)
{
    mproc_value_t **p;
    if (!(c->flags & MPROC__INLINE))
        return 0;
    p = malloc((cap > 0 ? cap : 1) * sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    if (c->u.c.len > 0)
        memcpy(p, c->u.c.items, c->u.c.len * sizeof *p);
    c->u.c.items = p;
    c->u.c.cap = cap;
    c->flags &= (unsigned char) ~MPROC__INLINE;
    return 0;
}

/* A scalar of a block as a value of its own; NULL when out of memory. */
static mproc_value_t *copy_out(const mproc_value_t *item)
{
    mproc_value_t *c = new_value(item->type);
    if (c != NULL)
        c->u = item->u;
    return c;
}

/*
 * Gives each item of @c's block an allocation of its own, so that the
 * items can leave the list. MPROC_ENOMEM if one cannot be had (those
 * done stay done: the list is whole either way).
 */
static int unblock(mproc_value_t *c)
{
    size_t i;
    if (!(c->flags & (MPROC__HAS_BLOCK | MPROC__INLINE)))
        return 0;
    for (i = 0; i < c->u.c.len; i++) {
        mproc_value_t *item = c->u.c.items[i];
        if (item != NULL && (item->flags & MPROC__IN_BLOCK)) {
            mproc_value_t *own = copy_out(item);
            if (own == NULL)
                return MPROC_ENOMEM;
            c->u.c.items[i] = own;
        }
    }
    return 0;
}

mproc_value_t *mproc_value_list_of(size_t n, ...)
{
    va_list ap;
    size_t i;
    int failed = 0;
    mproc_value_t *list = mproc_value_list();
    va_start(ap, n);
    for (i = 0; i < n; i++) {
        mproc_value_t *item = va_arg(ap, mproc_value_t *);
        if (list == NULL || failed) {
            /* Keep taking the items over, so none of them leaks. */
            mproc_value_free(item);
            continue;
        }
        if (mproc_value_append(list, item) != 0)
            failed = 1;
    }
    va_end(ap);
    if (failed) {
        mproc_value_free(list);
        return NULL;
    }
    return list;
}

mproc_value_t *mproc_value_map(void)
{
    return new_value(MPROC_VALUE_MAP);
}

mproc_value_t *mproc_value_record(const char *type, mproc_value_t *fields)
{
    mproc_value_t *r;
    if (type == NULL || *type == '\0' ||
        (fields != NULL && fields->type != MPROC_VALUE_LIST)) {
        mproc_value_free(fields);
        return NULL;
    }
    r = new_value(MPROC_VALUE_RECORD);
    if (r == NULL || (r->u.c.type = mproc__strdup(type)) == NULL ||
        (fields != NULL &&
         (unblock(fields) != 0 || own_items(fields, fields->u.c.len) != 0))) {
        if (r != NULL)
            free(r->u.c.type);
        free(r);
        mproc_value_free(fields);
        return NULL;
    }
    if (fields != NULL) {
        /* Take the list's items over; the list shell goes. */
        r->u.c.items = fields->u.c.items;
        r->u.c.len = fields->u.c.len;
        r->u.c.cap = fields->u.c.cap;
        if (fields->flags & MPROC__HAS_BLOCK)
            free_blocks(fields); /* unblock() left them unused */
        free(fields);
    }
    return r;
}

const char *mproc_value_record_type(const mproc_value_t *v)
{
    return v != NULL && v->type == MPROC_VALUE_RECORD ? v->u.c.type : NULL;
}

int mproc_record_call(const mproc_value_t *record, mproc_value_t **result)
{
    mproc_record_fn call;
    *result = NULL;
    if (record == NULL || record->type != MPROC_VALUE_RECORD)
        return mproc__set_error(MPROC_EINVAL, "not a record");
    if (!mproc__record_find(record->u.c.type, &call))
        return mproc__set_error(MPROC_ENOTREG,
                                "record type '%s' is not registered in this "
                                "program",
                                record->u.c.type);
    if (call == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "record type '%s' has no behaviour",
                                record->u.c.type);
    *result = call(record);
    return 0;
}

void mproc_value_free(mproc_value_t *v)
{
    size_t i;
    if (v == NULL || (v->flags & MPROC__IN_BLOCK))
        return; /* its list's block goes with the list */
    if (MPROC__IS_SCALAR(v->type)) {
        free_scalar(v);
        return;
    }
    switch (v->type) {
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        break; /* the bytes are in the value's own allocation */
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_MAP:
    case MPROC_VALUE_RECORD:
        for (i = 0; i < v->u.c.len; i++)
            mproc_value_free(v->u.c.items[i]);
        if (!(v->flags & MPROC__INLINE))
            free(v->u.c.items);
        free(v->u.c.type);
        if (v->flags & MPROC__HAS_BLOCK)
            free_blocks(v);
        break;
    case MPROC_VALUE_REF:
        mproc_value_free(v->u.r.fields);
        break;
    default:
        break;
    }
    free(v);
}

/* Makes room for @extra more items in a list or map. */
static int grow(mproc_value_t *c, size_t extra)
{
    size_t want = c->u.c.len + extra, cap;
    mproc_value_t **p;
    if (want <= c->u.c.cap)
        return 0;
    cap = c->u.c.cap ? c->u.c.cap * 2 : 4;
    while (cap < want)
        cap *= 2;
    if (c->flags & MPROC__INLINE)
        return own_items(c, cap);
    p = realloc(c->u.c.items, cap * sizeof *p);
    if (p == NULL)
        return MPROC_ENOMEM;
    c->u.c.items = p;
    c->u.c.cap = cap;
    return 0;
}

int mproc_value_append(mproc_value_t *list, mproc_value_t *item)
{
    if (list == NULL || list->type != MPROC_VALUE_LIST) {
        mproc_value_free(item);
        return mproc__set_error(MPROC_EINVAL, "append needs a list");
    }
    if (item == NULL)
        return mproc__set_error(MPROC_ENOMEM,
                                "no item to append "
                                "(a constructor ran out of memory)");
    if (grow(list, 1) != 0) {
        mproc_value_free(item);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    list->u.c.items[list->u.c.len++] = item;
    return 0;
}

int mproc_value_map_set(mproc_value_t *map, mproc_value_t *key,
                        mproc_value_t *value)
{
    size_t i;
    if (map == NULL || map->type != MPROC_VALUE_MAP) {
        mproc_value_free(key);
        mproc_value_free(value);
        return mproc__set_error(MPROC_EINVAL, "map_set needs a map");
    }
    if (key == NULL || value == NULL) {
        mproc_value_free(key);
        mproc_value_free(value);
        return mproc__set_error(MPROC_ENOMEM,
                                "no key or value to set "
                                "(a constructor ran out of memory)");
    }
    /* Pairs are stored flat: items[2k] is a key, items[2k+1] its value. */
    for (i = 0; i < map->u.c.len; i += 2) {
        if (mproc_value_equal(map->u.c.items[i], key)) {
            mproc_value_free(map->u.c.items[i + 1]);
            map->u.c.items[i + 1] = value;
            mproc_value_free(key);
            return 0;
        }
    }
    if (grow(map, 2) != 0) {
        mproc_value_free(key);
        mproc_value_free(value);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    map->u.c.items[map->u.c.len++] = key;
    map->u.c.items[map->u.c.len++] = value;
    return 0;
}

int mproc_value_map_set_str(mproc_value_t *map, const char *key,
                            mproc_value_t *value)
{
    return mproc_value_map_set(map, mproc_value_str(key), value);
}

size_t mproc_value_len(const mproc_value_t *v)
{
    if (v == NULL)
        return 0;
    switch (v->type) {
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        return v->u.s.len;
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_RECORD:
        return v->u.c.len;
    case MPROC_VALUE_MAP:
        return v->u.c.len / 2;
    default:
        return 0;
    }
}

const mproc_value_t *mproc_value_at(const mproc_value_t *v, size_t i)
{
    if (v == NULL ||
        (v->type != MPROC_VALUE_LIST && v->type != MPROC_VALUE_RECORD) ||
        i >= v->u.c.len)
        return NULL;
    return v->u.c.items[i];
}

const mproc_value_t *mproc__value_one_list(const mproc_value_t *item)
{
    static MPROC__TLS mproc_value_t list;
    static MPROC__TLS mproc_value_t *slot;
    slot = (mproc_value_t *) item;
    list.type = MPROC_VALUE_LIST;
    list.u.c.items = &slot;
    list.u.c.len = list.u.c.cap = 1;
    list.u.c.type = NULL;
    return &list;
}

mproc_value_t *mproc__value_take(mproc_value_t *list, size_t i)
{
    mproc_value_t *item;
    if (list == NULL || list->type != MPROC_VALUE_LIST || i >= list->u.c.len)
        return NULL;
    item = list->u.c.items[i];
    if (item != NULL && (item->flags & MPROC__IN_BLOCK))
        return copy_out(item); /* the block stays the list's */
    list->u.c.items[i] = NULL;
    return item;
}

mproc_value_t *const *mproc__value_list_items(const mproc_value_t *v)
{
    return v != NULL && v->type == MPROC_VALUE_LIST ? v->u.c.items : NULL;
}

mproc_value_t *mproc__value_list_holes(size_t n)
{
    mproc_value_t *list = mproc__value_list_block(n);
    if (list == NULL)
        return NULL;
    if (n > 0)
        memset(list->u.c.items, 0, n * sizeof *list->u.c.items);
    list->u.c.len = n;
    return list;
}

int mproc__value_list_put(mproc_value_t *list, size_t i, mproc_value_t *item)
{
    if (list == NULL || list->type != MPROC_VALUE_LIST || i >= list->u.c.len) {
        mproc_value_free(item);
        return MPROC_EINVAL;
    }
    mproc_value_free(list->u.c.items[i]); /* a block's scalar just stays */
    list->u.c.items[i] = item;
    return 0;
}

int mproc__value_list_move(mproc_value_t *dst, size_t i, mproc_value_t *src,
                           size_t k)
{
    mproc_value_t *v, *old, *slot = NULL;
    if (dst == NULL || dst->type != MPROC_VALUE_LIST || i >= dst->u.c.len ||
        src == NULL || src->type != MPROC_VALUE_LIST || k >= src->u.c.len ||
        src->u.c.items[k] == NULL)
        return MPROC_EINVAL;
    v = src->u.c.items[k];
    old = dst->u.c.items[i];
    if (v->flags & MPROC__IN_BLOCK) {
        if ((dst->flags & MPROC__HAS_BLOCK) &&
            (slot = mproc__value_block_slot(dst, i)) != NULL) {
            /* old may be this slot: it was a scalar, nothing to free. */
            *slot = *v;
        } else if ((slot = copy_out(v)) == NULL) {
            return MPROC_ENOMEM;
        }
        dst->u.c.items[i] = slot;
    } else {
        dst->u.c.items[i] = v;
        src->u.c.items[k] = NULL;
    }
    if (old != slot)
        mproc_value_free(old);
    return 0;
}

const mproc_value_t *mproc_value_get(const mproc_value_t *map, const char *key)
{
    size_t i, n;
    if (map == NULL || map->type != MPROC_VALUE_MAP || key == NULL)
        return NULL;
    n = strlen(key);
    for (i = 0; i < map->u.c.len; i += 2) {
        const mproc_value_t *k = map->u.c.items[i];
        if (k->type == MPROC_VALUE_STR && k->u.s.len == n &&
            memcmp(k->u.s.ptr, key, n) == 0)
            return map->u.c.items[i + 1];
    }
    return NULL;
}

const mproc_value_t *mproc_value_key_at(const mproc_value_t *map, size_t i)
{
    if (map == NULL || map->type != MPROC_VALUE_MAP || i >= map->u.c.len / 2)
        return NULL;
    return map->u.c.items[2 * i];
}

const mproc_value_t *mproc_value_value_at(const mproc_value_t *map, size_t i)
{
    if (map == NULL || map->type != MPROC_VALUE_MAP || i >= map->u.c.len / 2)
        return NULL;
    return map->u.c.items[2 * i + 1];
}

mproc_value_type_e mproc_value_type(const mproc_value_t *v)
{
    return v == NULL ? MPROC_VALUE_NIL : v->type;
}

int mproc_value_as_bool(const mproc_value_t *v)
{
    return v != NULL && v->type == MPROC_VALUE_BOOL ? v->u.b : 0;
}

int64_t mproc_value_as_int(const mproc_value_t *v)
{
    if (v == NULL)
        return 0;
    if (v->type == MPROC_VALUE_INT)
        return v->u.i;
    if (v->type == MPROC_VALUE_FLOAT)
        return (int64_t) v->u.f;
    return 0;
}

double mproc_value_as_float(const mproc_value_t *v)
{
    if (v == NULL)
        return 0.0;
    if (v->type == MPROC_VALUE_FLOAT)
        return v->u.f;
    if (v->type == MPROC_VALUE_INT)
        return (double) v->u.i;
    return 0.0;
}

const char *mproc_value_as_str(const mproc_value_t *v)
{
    return v != NULL && v->type == MPROC_VALUE_STR ? v->u.s.ptr : NULL;
}

const void *mproc_value_as_bytes(const mproc_value_t *v, size_t *len)
{
    if (v == NULL ||
        (v->type != MPROC_VALUE_BYTES && v->type != MPROC_VALUE_STR)) {
        if (len != NULL)
            *len = 0;
        return NULL;
    }
    if (len != NULL)
        *len = v->u.s.len;
    return v->u.s.ptr;
}

int mproc_value_equal(const mproc_value_t *a, const mproc_value_t *b)
{
    size_t i;
    if (a == NULL || b == NULL)
        return a == b;
    if (a->type != b->type)
        return 0;
    switch (a->type) {
    case MPROC_VALUE_NIL:
        return 1;
    case MPROC_VALUE_BOOL:
        return a->u.b == b->u.b;
    case MPROC_VALUE_INT:
        return a->u.i == b->u.i;
    case MPROC_VALUE_FLOAT:
        return a->u.f == b->u.f;
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        return a->u.s.len == b->u.s.len &&
               memcmp(a->u.s.ptr, b->u.s.ptr, a->u.s.len) == 0;
    case MPROC_VALUE_RECORD:
        if (strcmp(a->u.c.type, b->u.c.type) != 0)
            return 0;
        /* fall through */
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_MAP:
        if (a->u.c.len != b->u.c.len)
            return 0;
        for (i = 0; i < a->u.c.len; i++)
            if (!mproc_value_equal(a->u.c.items[i], b->u.c.items[i]))
                return 0;
        return 1;
    case MPROC_VALUE_REF:
        return a->u.r.kind == b->u.r.kind &&
               mproc_value_equal(a->u.r.fields, b->u.r.fields);
    }
    return 0;
}

mproc_value_t *mproc_value_copy(const mproc_value_t *v)
{
    mproc_value_t *c;
    size_t i;
    if (v == NULL)
        return NULL;
    switch (v->type) {
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        return new_blob(v->type, v->u.s.ptr, v->u.s.len);
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_MAP:
    case MPROC_VALUE_RECORD:
        c = new_value(v->type);
        if (c != NULL && v->type == MPROC_VALUE_RECORD &&
            (c->u.c.type = mproc__strdup(v->u.c.type)) == NULL) {
            free(c);
            return NULL;
        }
        if (c == NULL || grow(c, v->u.c.len) != 0) {
            mproc_value_free(c);
            return NULL;
        }
        for (i = 0; i < v->u.c.len; i++) {
            c->u.c.items[i] = mproc_value_copy(v->u.c.items[i]);
            if (c->u.c.items[i] == NULL) {
                mproc_value_free(c);
                return NULL;
            }
            c->u.c.len = i + 1;
        }
        return c;
    case MPROC_VALUE_REF:
        return mproc__ref_new(v->u.r.kind, mproc_value_copy(v->u.r.fields));
    default:
        c = new_value(v->type);
        if (c != NULL)
            c->u = v->u;
        return c;
    }
}

/* ---- references ----------------------------------------------------- */

static const char *const ref_kind_names[] = {"non-reference",
                                             "lock",
                                             "rlock",
                                             "semaphore",
                                             "event",
                                             "condition",
                                             "barrier",
                                             "queue",
                                             "connection",
                                             "shared memory block",
                                             "shared value",
                                             "shared array",
                                             "managed dict",
                                             "managed list",
                                             "managed namespace"};

/*
 * The shape of each kind's fields, one letter a field: s a string, b a
 * bool, i an integer. A proxy's are the manager's address and identity,
 * the object's id, the hold that keeps it alive in transit and the key
 * (manager_proxy.c).
 */
static const char *const ref_shapes[] = {
    NULL,          "s", "s", "s", "s",     "s",     "s",    "s",
    "bbiiibiiiis", "s", "s", "s", "ssiis", "ssiis", "ssiis"};

const char *mproc__ref_kind_name(mproc_ref_kind_e kind)
{
    return (unsigned) kind <= MPROC__REF_LAST ? ref_kind_names[kind] : "?";
}

int mproc__ref_check(int kind, const mproc_value_t *fields)
{
    const char *shape;
    size_t i;
    if (kind <= MPROC_REF_NONE || kind > MPROC__REF_LAST || fields == NULL ||
        fields->type != MPROC_VALUE_LIST)
        return -1;
    shape = ref_shapes[kind];
    if (fields->u.c.len != strlen(shape))
        return -1;
    for (i = 0; i < fields->u.c.len; i++) {
        mproc_value_type_e t = fields->u.c.items[i]->type;
        if ((shape[i] == 's' && t != MPROC_VALUE_STR) ||
            (shape[i] == 'b' && t != MPROC_VALUE_BOOL) ||
            (shape[i] == 'i' && t != MPROC_VALUE_INT))
            return -1;
    }
    return 0;
}

mproc_value_t *mproc__ref_new(mproc_ref_kind_e kind, mproc_value_t *fields)
{
    mproc_value_t *v;
    if (fields == NULL) {
        mproc__set_error(MPROC_ENOMEM, "out of memory");
        return NULL;
    }
    if (mproc__ref_check((int) kind, fields) != 0) {
        mproc_value_free(fields);
        mproc__set_error(MPROC_EINVAL, "malformed %s reference",
                         mproc__ref_kind_name(kind));
        return NULL;
    }
    v = new_value(MPROC_VALUE_REF);
    if (v == NULL) {
        mproc_value_free(fields);
        mproc__set_error(MPROC_ENOMEM, "out of memory");
        return NULL;
    }
    v->u.r.kind = kind;
    v->u.r.fields = fields;
    return v;
}

const mproc_value_t *mproc__ref_fields(const mproc_value_t *v)
{
    return v != NULL && v->type == MPROC_VALUE_REF ? v->u.r.fields : NULL;
}

mproc_ref_kind_e mproc_value_ref_kind(const mproc_value_t *v)
{
    return v != NULL && v->type == MPROC_VALUE_REF ? v->u.r.kind
                                                   : MPROC_REF_NONE;
}

/* "a" or "an", as the name of @kind needs. */
const char *mproc__ref_kind_article(mproc_ref_kind_e kind)
{
    return strchr("aeior", mproc__ref_kind_name(kind)[0]) != NULL ? "an" : "a";
}

int mproc__ref_expect(const mproc_value_t *v, mproc_ref_kind_e kind)
{
    mproc_ref_kind_e got = mproc_value_ref_kind(v);
    static const char *const type_names[] = {
        "nil",           "a bool", "an integer", "a float",  "a string",
        "a byte string", "a list", "a map",      "a record", "a reference"};
    if (got == kind)
        return 0;
    if (got != MPROC_REF_NONE)
        return mproc__set_error(
            MPROC_ETYPE, "argument is %s %s reference, not %s %s",
            mproc__ref_kind_article(got), mproc__ref_kind_name(got),
            mproc__ref_kind_article(kind), mproc__ref_kind_name(kind));
    return mproc__set_error(MPROC_ETYPE, "argument is %s, not %s %s reference",
                            v == NULL ? "missing" : type_names[v->type],
                            mproc__ref_kind_article(kind),
                            mproc__ref_kind_name(kind));
}

int mproc__value_has_ref(const mproc_value_t *v, mproc_ref_kind_e kind)
{
    size_t i;
    if (v == NULL)
        return 0;
    if (v->type == MPROC_VALUE_REF)
        return v->u.r.kind == kind;
    if (!MPROC__IS_CONTAINER(v))
        return 0;
    for (i = 0; i < v->u.c.len; i++)
        if (mproc__value_has_ref(v->u.c.items[i], kind))
            return 1;
    return 0;
}

int mproc__value_each_ref(const mproc_value_t *v, mproc_ref_kind_e kind,
                          int (*fn)(const mproc_value_t *ref, void *ctx),
                          void *ctx)
{
    size_t i;
    int rc;
    if (v == NULL)
        return 0;
    if (v->type == MPROC_VALUE_REF)
        return v->u.r.kind == kind ? fn(v, ctx) : 0;
    if (!MPROC__IS_CONTAINER(v))
        return 0;
    for (i = 0; i < v->u.c.len; i++)
        if ((rc = mproc__value_each_ref(v->u.c.items[i], kind, fn, ctx)) != 0)
            return rc;
    return 0;
}

/*
 * The objects imported by mproc_value_to_*(). A process imports a handful,
 * so a list searched from the front is enough. The runtime owns the
 * objects (they are on its owned list); this only finds them again.
 */
typedef struct ref_entry {
    mproc_value_t *ref; /* a copy of the reference */
    void *obj;
    struct ref_entry *next;
} ref_entry;

static ref_entry *ref_cache;
/* Threads import and destroy objects at once. */
static mproc__spin_t ref_cache_lock = MPROC__SPIN_INIT;

static void *find_locked(const mproc_value_t *ref)
{
    ref_entry *e;
    for (e = ref_cache; e != NULL; e = e->next)
        if (mproc_value_equal(e->ref, ref))
            return e->obj;
    return NULL;
}

void *mproc__ref_cache_find(const mproc_value_t *ref)
{
    void *obj;
    mproc__spin_lock(&ref_cache_lock);
    obj = find_locked(ref);
    mproc__spin_unlock(&ref_cache_lock);
    return obj;
}

/*
 * Adds @ref for @obj, unless another thread added an equal reference
 * first: then *@known is that thread's object and nothing was added.
 */
static int add_unless_known(const mproc_value_t *ref, void *obj, void **known)
{
    ref_entry *e = malloc(sizeof *e);
    if (e == NULL || (e->ref = mproc_value_copy(ref)) == NULL) {
        free(e);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    e->obj = obj;
    mproc__spin_lock(&ref_cache_lock);
    *known = find_locked(ref);
    if (*known == NULL) {
        e->next = ref_cache;
        ref_cache = e;
    }
    mproc__spin_unlock(&ref_cache_lock);
    if (*known != NULL) {
        mproc_value_free(e->ref);
        free(e);
    }
    return 0;
}

int mproc__ref_cache_add(const mproc_value_t *ref, void *obj)
{
    void *known;
    return add_unless_known(ref, obj, &known);
}

void mproc__ref_cache_forget(const void *obj)
{
    ref_entry **p = &ref_cache;
    ref_entry *gone = NULL;
    mproc__spin_lock(&ref_cache_lock);
    while (*p != NULL) {
        ref_entry *e = *p;
        if (e->obj == obj) {
            *p = e->next;
            e->next = gone;
            gone = e;
        } else {
            p = &e->next;
        }
    }
    mproc__spin_unlock(&ref_cache_lock);
    while (gone != NULL) {
        ref_entry *e = gone;
        gone = e->next;
        mproc_value_free(e->ref);
        free(e);
    }
}

int mproc__ref_open_once(const mproc_value_t *v, mproc_ref_kind_e kind,
                         int (*open)(const mproc_value_t *ref, void **obj),
                         void (*close)(void *obj), void **out)
{
    void *obj;
    int rc = mproc__ref_expect(v, kind);
    if (rc != 0)
        return rc;
    obj = mproc__ref_cache_find(v);
    if (obj == NULL) {
        void *known = NULL;
        /*
         * Opened outside the lock (it may take a while); a thread that
         * opened the same reference meanwhile wins, and this copy goes.
         */
        rc = open(v, &obj);
        if (rc == 0 && (rc = add_unless_known(v, obj, &known)) != 0)
            close(obj);
        if (rc != 0)
            return rc;
        if (known != NULL) {
            close(obj);
            obj = known;
        }
    }
    *out = obj;
    return 0;
}

void mproc__ref_cache_after_fork(void)
{
    /*
     * The entries are this child's copies; the objects stay the parent's.
     * The lock may have been held by a thread that did not come along.
     */
    mproc__spin_reset(&ref_cache_lock);
    /* The blocks are this child's copies, free to use. */
    mproc__spin_reset(&block_cache_lock);
    mproc__spin_reset(&cells_lock);
    while (ref_cache != NULL) {
        ref_entry *e = ref_cache;
        ref_cache = e->next;
        mproc_value_free(e->ref);
        free(e);
    }
}

/* ---- lists for the library's own messages ----------------------------- */

mproc_value_t *mproc__value_list_swap(mproc_value_t *list, size_t i,
                                      mproc_value_t *item)
{
    mproc_value_t *old;
    if (item == NULL || list == NULL || list->type != MPROC_VALUE_LIST ||
        i >= list->u.c.len) {
        mproc_value_free(item);
        return NULL;
    }
    old = list->u.c.items[i];
    if (old == NULL) {
        /* A hole (mproc__value_list_holes()) held nothing: a nil for it. */
        old = mproc_value_nil();
        if (old == NULL) {
            mproc_value_free(item);
            return NULL;
        }
    } else if (old->flags & MPROC__IN_BLOCK) {
        /* The caller owns what it gets back: a copy, the block stays. */
        if ((old = copy_out(old)) == NULL) {
            mproc_value_free(item);
            return NULL;
        }
    }
    list->u.c.items[i] = item;
    return old;
}

mproc_value_t *mproc__value_list_borrowing(mproc_value_t *const *items,
                                           size_t n)
{
    mproc_value_t *list = mproc_value_list();
    if (list == NULL || grow(list, n) != 0) {
        mproc_value_free(list);
        return NULL;
    }
    if (n > 0)
        memcpy(list->u.c.items, items, n * sizeof *items);
    list->u.c.len = n;
    return list;
}

void mproc__value_list_unborrow(mproc_value_t *list)
{
    if (list == NULL)
        return;
    list->u.c.len = 0;
    mproc_value_free(list);
}

int mproc__value_map_append(mproc_value_t *map, mproc_value_t *key,
                            mproc_value_t *value)
{
    if (map == NULL || map->type != MPROC_VALUE_MAP || key == NULL ||
        value == NULL || grow(map, 2) != 0) {
        mproc_value_free(key);
        mproc_value_free(value);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    map->u.c.items[map->u.c.len++] = key;
    map->u.c.items[map->u.c.len++] = value;
    return 0;
}

int mproc__value_reserve(mproc_value_t *c, size_t n)
{
    if (c == NULL || !MPROC__IS_CONTAINER(c))
        return mproc__set_error(MPROC_EINVAL, "not a container");
    if (c->type == MPROC_VALUE_MAP)
        n *= 2;
    if (grow(c, n) != 0)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    return 0;
}

mproc_value_t **mproc__value_steal_items(mproc_value_t *c, size_t *n)
{
    mproc_value_t **items;
    *n = 0;
    if (c == NULL || !MPROC__IS_CONTAINER(c) || unblock(c) != 0 ||
        own_items(c, c->u.c.len) != 0)
        return NULL;
    items = c->u.c.items;
    *n = c->u.c.len;
    c->u.c.items = NULL;
    c->u.c.len = c->u.c.cap = 0;
    return items;
}

int mproc__ref_set_field(mproc_value_t *ref, size_t i, mproc_value_t *field)
{
    mproc_value_t *fields, *old;
    if (field == NULL || ref == NULL || ref->type != MPROC_VALUE_REF ||
        i >= ref->u.r.fields->u.c.len ||
        ref->u.r.fields->u.c.items[i]->type != field->type) {
        mproc_value_free(field);
        return mproc__set_error(MPROC_EINVAL, "no such field of a reference");
    }
    fields = ref->u.r.fields;
    old = fields->u.c.items[i];
    fields->u.c.items[i] = field;
    mproc_value_free(old);
    return 0;
}

void mproc__ref_set_int(mproc_value_t *ref, size_t i, int64_t v)
{
    mproc_value_t *f;
    if (ref == NULL || ref->type != MPROC_VALUE_REF ||
        i >= ref->u.r.fields->u.c.len)
        return;
    f = ref->u.r.fields->u.c.items[i];
    if (f->type == MPROC_VALUE_INT)
        f->u.i = v;
}

/*
 * A hash of @v that equal values (mproc_value_equal) share: a float's
 * zero of either sign hashes alike, since 0.0 == -0.0.
 */
static uint64_t value_hash(const mproc_value_t *v, int depth)
{
    uint64_t h = 1469598103934665603ULL ^ (uint64_t) v->type;
    size_t i;
    double f;
    switch (v->type) {
    case MPROC_VALUE_BOOL:
        return h ^ (uint64_t) v->u.b;
    case MPROC_VALUE_INT:
        return (h ^ (uint64_t) v->u.i) * 1099511628211ULL;
    case MPROC_VALUE_FLOAT: {
        uint64_t bits;
        f = v->u.f == 0.0 ? 0.0 : v->u.f;
        memcpy(&bits, &f, sizeof bits);
        return (h ^ bits) * 1099511628211ULL;
    }
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        for (i = 0; i < v->u.s.len; i++)
            h = (h ^ (unsigned char) v->u.s.ptr[i]) * 1099511628211ULL;
        return h;
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_MAP:
    case MPROC_VALUE_RECORD:
        h ^= v->u.c.len;
        /* A few levels tell keys apart well enough; equality decides. */
        for (i = 0; depth < 4 && i < v->u.c.len; i++)
            h = (h ^ value_hash(v->u.c.items[i], depth + 1)) * 1099511628211ULL;
        return h;
    case MPROC_VALUE_REF:
        return h ^ (uint64_t) v->u.r.kind ^ value_hash(v->u.r.fields, depth);
    default:
        return h;
    }
}

int mproc__value_map_merge_equal_keys(mproc_value_t *map)
{
    size_t n = map->u.c.len / 2, cap = 16, i, k, out;
    size_t *table;
    unsigned char *gone;
    if (n < 2)
        return 0;
    if (n <= 8) {
        /* Few pairs: comparing each with those before it costs less. */
        for (i = 1, out = 1; i < n; i++) {
            mproc_value_t *key = map->u.c.items[2 * i];
            for (k = 0; k < out; k++)
                if (mproc_value_equal(map->u.c.items[2 * k], key))
                    break;
            if (k < out) {
                mproc_value_free(map->u.c.items[2 * k + 1]);
                map->u.c.items[2 * k + 1] = map->u.c.items[2 * i + 1];
                mproc_value_free(key);
            } else {
                map->u.c.items[2 * out] = key;
                map->u.c.items[2 * out + 1] = map->u.c.items[2 * i + 1];
                out++;
            }
        }
        map->u.c.len = 2 * out;
        return 0;
    }
    while (cap < 2 * n)
        cap *= 2;
    table = malloc(cap * sizeof *table);
    gone = calloc(n, 1);
    if (table == NULL || gone == NULL) {
        free(table);
        free(gone);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    /* Places hold a pair's index + 1; 0 is free. */
    memset(table, 0, cap * sizeof *table);
    for (i = 0; i < n; i++) {
        mproc_value_t *key = map->u.c.items[2 * i];
        size_t at = (size_t) value_hash(key, 0) & (cap - 1);
        while (table[at] != 0 &&
               !mproc_value_equal(map->u.c.items[2 * (table[at] - 1)], key))
            at = (at + 1) & (cap - 1);
        if (table[at] == 0) {
            table[at] = i + 1;
            continue;
        }
        k = table[at] - 1;
        mproc_value_free(map->u.c.items[2 * k + 1]);
        map->u.c.items[2 * k + 1] = map->u.c.items[2 * i + 1];
        mproc_value_free(key);
        gone[i] = 1;
    }
    for (i = 0, out = 0; i < n; i++) {
        if (gone[i])
            continue;
        map->u.c.items[2 * out] = map->u.c.items[2 * i];
        map->u.c.items[2 * out + 1] = map->u.c.items[2 * i + 1];
        out++;
    }
    map->u.c.len = 2 * out;
    free(table);
    free(gone);
    return 0;
}

int mproc__value_holds_proxy(const mproc_value_t *v)
{
    size_t i;
    if (v == NULL)
        return 0;
    if (v->type == MPROC_VALUE_REF)
        return v->u.r.kind == MPROC_REF_DICT || v->u.r.kind == MPROC_REF_LIST ||
               v->u.r.kind == MPROC_REF_NAMESPACE;
    if (!MPROC__IS_CONTAINER(v))
        return 0;
    for (i = 0; i < v->u.c.len; i++) {
        const mproc_value_t *item = v->u.c.items[i];
        /* Scalars, the commonest items, need no call. */
        if (item->type != MPROC_VALUE_REF && !MPROC__IS_CONTAINER(item))
            continue;
        if (mproc__value_holds_proxy(item))
            return 1;
    }
    return 0;
}
