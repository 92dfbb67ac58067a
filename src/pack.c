/*
 * mproc_pack() and mproc_unpack(): argument lists from format strings.
 *
 * Both first check the whole format, so that a bad one is reported with
 * the offset of its offending letter before any argument is read. Packing
 * then walks the format once, reading one variadic argument per letter;
 * after a failure it keeps walking without building, only to take over
 * (and free) the values given with 'v', since the caller handed them over
 * whatever happens.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "mproc_services.h"
#include "pack.h"
#include "value_codec.h"

/*
 * The status of this thread's latest mproc_pack(), if it failed; see
 * mproc__pack_take_failure().
 */
static MPROC__TLS int pack_failure;

int mproc__pack_take_failure(void)
{
    int rc = pack_failure;
    pack_failure = 0;
    return rc;
}

/* ---- formats -------------------------------------------------------- */

/* The letters each direction accepts, brackets aside. */
#define PACK_LETTERS "nbiIfsyvVLRSECBQPMWADTN"
#define UNPACK_LETTERS "nbiIfsyv*LRSECBQPMWADTN"

/*
 * The reference letters: one per kind of shared object, whose name is the
 * one every sentence about references uses (mproc__ref_kind_name).
 */
static const struct ref_letter {
    char letter;
    mproc_ref_kind_e kind;
} ref_letters[] = {
    {'L', MPROC_REF_LOCK},  {'R', MPROC_REF_RLOCK},
    {'S', MPROC_REF_SEM},   {'E', MPROC_REF_EVENT},
    {'C', MPROC_REF_COND},  {'B', MPROC_REF_BARRIER},
    {'Q', MPROC_REF_QUEUE}, {'P', MPROC_REF_CONN},
    {'M', MPROC_REF_SHM},   {'W', MPROC_REF_VALUE},
    {'A', MPROC_REF_ARRAY}, {'D', MPROC_REF_DICT},
    {'T', MPROC_REF_LIST},  {'N', MPROC_REF_NAMESPACE},
};

static const struct ref_letter *ref_letter(char c)
{
    size_t i;
    for (i = 0; i < MPROC__ARRAY_SIZE(ref_letters); i++)
        if (ref_letters[i].letter == c)
            return &ref_letters[i];
    return NULL;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static const char *skip_space(const char *p)
{
    while (is_space(*p))
        p++;
    return p;
}

/* Sentences quote the format, cut to a readable length. */
#define QUOTE_MAX 60

/*
 * Checks @fmt for direction @what ("mproc_pack" or "mproc_unpack") with
 * letters @letters, and whether maps are allowed. Returns 0, or
 * MPROC_EINVAL with a sentence and *@bad at the offending character.
 */
static int check_format(const char *what, const char *fmt, const char *letters,
                        int maps, const char **bad)
{
    /* The open brackets, and each map's item count (to pair keys). */
    const char *open[32];
    size_t items[32];
    int depth = 0;
    const char *p;
    *bad = NULL;
    for (p = fmt; *p != '\0'; p++) {
        const char *why = NULL;
        char c = *p;
        if (is_space(c))
            continue;
        if (c == '[' || (c == '{' && maps)) {
            if (depth == (int) MPROC__ARRAY_SIZE(open))
                why = "nests containers too deeply";
            else {
                if (depth > 0)
                    items[depth - 1]++;
                open[depth] = p;
                items[depth] = 0;
                depth++;
            }
        } else if (c == ']' || (c == '}' && maps)) {
            char want = c == ']' ? '[' : '{';
            if (depth == 0 || *open[depth - 1] != want)
                why = "closes nothing that it opened";
            else if (c == '}' && items[depth - 1] % 2 != 0)
                why = "ends a map whose last key has no value";
            else
                depth--;
        } else if (c != '\0' && strchr(letters, c) != NULL) {
            if (depth > 0)
                items[depth - 1]++;
        } else if (c == '{' || c == '}') {
            why = "is not a letter of mproc_unpack (read a map with 'v')";
        } else if (c == 'V') {
            why = "copies a value in mproc_pack only (use 'v' to read one)";
        } else if (c == '*') {
            why = "skips an item in mproc_unpack only";
        } else {
            why = "is not a format letter";
        }
        if (why != NULL) {
            *bad = p;
            return mproc__set_error(MPROC_EINVAL,
                                    "%s(\"%.*s\"): '%c' at offset %d %s", what,
                                    QUOTE_MAX, fmt, c, (int) (p - fmt), why);
        }
    }
    if (depth > 0) {
        *bad = p;
        return mproc__set_error(MPROC_EINVAL,
                                "%s(\"%.*s\"): '%c' at offset %d is never "
                                "closed",
                                what, QUOTE_MAX, fmt, *open[depth - 1],
                                (int) (open[depth - 1] - fmt));
    }
    return 0;
}

/* ---- pack ----------------------------------------------------------- */

typedef struct packer {
    const char *fmt; /* the whole format, for sentences */
    const char *p;   /* the next character */
    const char *end; /* where to stop: the end, or a bad letter */
    va_list *ap;
    int status; /* the first failure; from then on, nothing is built */
} packer;

static void pack_fail(packer *pk, int status, const char *at, const char *why)
{
    if (pk->status != 0)
        return;
    pk->status = status;
    if (*at == '\0')
        mproc__set_error(status, "mproc_pack(\"%.*s\"): the list %s", QUOTE_MAX,
                         pk->fmt, why);
    else
        mproc__set_error(status, "mproc_pack(\"%.*s\"): '%c' at offset %d %s",
                         QUOTE_MAX, pk->fmt, *at, (int) (at - pk->fmt), why);
}

/* A new value from a constructor, or a failure if it ran out of memory. */
static mproc_value_t *made(packer *pk, const char *at, mproc_value_t *v)
{
    if (v == NULL)
        pack_fail(pk, MPROC_ENOMEM, at, "ran out of memory");
    return v;
}

static mproc_value_t *pack_seq(packer *pk, int map, char close);

/*
 * The reference @ref that a constructor made of object @obj (for the
 * letter at @at), or the failure: a NULL object, or the constructor's own
 * (a fork-only object has no reference), whose sentence is kept.
 */
static mproc_value_t *pack_ref(packer *pk, const char *at, const void *obj,
                               mproc_value_t *ref)
{
    char why[400];
    if (pk->status != 0 || ref != NULL)
        return ref;
    if (obj == NULL) {
        snprintf(why, sizeof why, "got a NULL %s",
                 mproc__ref_kind_name(ref_letter(*at)->kind));
        pack_fail(pk, MPROC_EINVAL, at, why);
        return NULL;
    }
    /* The sentence is copied first: pack_fail() rewrites it. */
    snprintf(why, sizeof why, "cannot refer to the %s: %s",
             mproc__ref_kind_name(ref_letter(*at)->kind), mproc_last_error());
    pack_fail(pk,
              mproc__last_status() < 0 ? mproc__last_status() : MPROC_ENOMEM,
              at, why);
    return NULL;
}

/* Reads the item at pk->p (not a space) and its arguments. */
static mproc_value_t *pack_item(packer *pk)
{
    const char *at = pk->p++;
    int live = pk->status == 0;
    switch (*at) {
    case 'n':
        return live ? made(pk, at, mproc_value_nil()) : NULL;
    case 'b': {
        int b = va_arg(*pk->ap, int);
        return live ? made(pk, at, mproc_value_bool(b != 0)) : NULL;
    }
    case 'i': {
        int i = va_arg(*pk->ap, int);
        return live ? made(pk, at, mproc_value_int(i)) : NULL;
    }
    case 'I': {
        int64_t i = va_arg(*pk->ap, int64_t);
        return live ? made(pk, at, mproc_value_int(i)) : NULL;
    }
    case 'f': {
        double f = va_arg(*pk->ap, double);
        return live ? made(pk, at, mproc_value_float(f)) : NULL;
    }
    case 's': {
        const char *s = va_arg(*pk->ap, const char *);
        if (!live)
            return NULL;
        if (s == NULL) {
            pack_fail(pk, MPROC_EINVAL, at, "got a NULL string");
            return NULL;
        }
        return made(pk, at, mproc_value_str(s));
    }
    case 'y': {
        const void *data = va_arg(*pk->ap, const void *);
        size_t len = va_arg(*pk->ap, size_t);
        if (!live)
            return NULL;
        if (data == NULL && len > 0) {
            pack_fail(pk, MPROC_EINVAL, at, "got NULL bytes of nonzero length");
            return NULL;
        }
        return made(pk, at, mproc_value_bytes(data ? data : "", len));
    }
    case 'v': {
        mproc_value_t *v = va_arg(*pk->ap, mproc_value_t *);
        if (!live) {
            /* Taken over also on failure, so that nothing leaks. */
            mproc_value_free(v);
            return NULL;
        }
        if (v == NULL)
            pack_fail(pk, MPROC_ENOMEM, at,
                      "got a NULL value (a constructor that failed?)");
        return v;
    }
    case 'V': {
        const mproc_value_t *v = va_arg(*pk->ap, const mproc_value_t *);
        if (!live)
            return NULL;
        if (v == NULL) {
            pack_fail(pk, MPROC_EINVAL, at, "got a NULL value to copy");
            return NULL;
        }
        return made(pk, at, mproc_value_copy(v));
    }
    case '[':
        return pack_seq(pk, 0, ']');
    case '{':
        return pack_seq(pk, 1, '}');
    /*
     * Each object pointer is read with its own type, as va_arg requires;
     * they differ only in that.
     */
    case 'L': {
        const mproc_lock_t *o = va_arg(*pk->ap, const mproc_lock_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_lock(o) : NULL);
    }
    case 'R': {
        const mproc_rlock_t *o = va_arg(*pk->ap, const mproc_rlock_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_rlock(o) : NULL);
    }
    case 'S': {
        const mproc_sem_t *o = va_arg(*pk->ap, const mproc_sem_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_sem(o) : NULL);
    }
    case 'E': {
        const mproc_event_t *o = va_arg(*pk->ap, const mproc_event_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_event(o) : NULL);
    }
    case 'C': {
        const mproc_cond_t *o = va_arg(*pk->ap, const mproc_cond_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_cond(o) : NULL);
    }
    case 'B': {
        const mproc_barrier_t *o = va_arg(*pk->ap, const mproc_barrier_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_barrier(o) : NULL);
    }
    case 'Q': {
        const mproc_queue_t *o = va_arg(*pk->ap, const mproc_queue_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_queue(o) : NULL);
    }
    case 'P': {
        const mproc_conn_t *o = va_arg(*pk->ap, const mproc_conn_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_conn(o) : NULL);
    }
    case 'M': {
        const mproc_shm_t *o = va_arg(*pk->ap, const mproc_shm_t *);
        return pack_ref(pk, at, o, live && o ? mproc_value_shm(o) : NULL);
    }
    case 'W': {
        const mproc_shared_value_t *o =
            va_arg(*pk->ap, const mproc_shared_value_t *);
        return pack_ref(pk, at, o,
                        live && o ? mproc_value_shared_value(o) : NULL);
    }
    case 'A': {
        const mproc_shared_array_t *o =
            va_arg(*pk->ap, const mproc_shared_array_t *);
        return pack_ref(pk, at, o,
                        live && o ? mproc_value_shared_array(o) : NULL);
    }
    case 'D': {
        const mproc_dict_t *o = va_arg(*pk->ap, const mproc_dict_t *);
        return pack_ref(pk, at, o,
                        live && o ? mproc_value_dict_proxy(o) : NULL);
    }
    case 'T': {
        const mproc_list_t *o = va_arg(*pk->ap, const mproc_list_t *);
        return pack_ref(pk, at, o,
                        live && o ? mproc_value_list_proxy(o) : NULL);
    }
    case 'N': {
        const mproc_namespace_t *o = va_arg(*pk->ap, const mproc_namespace_t *);
        return pack_ref(pk, at, o,
                        live && o ? mproc_value_namespace_proxy(o) : NULL);
    }
    default:
        /* check_format() let nothing else through. */
        pack_fail(pk, MPROC_EINVAL, at, "is not a format letter");
        return NULL;
    }
}

/* Reads items up to @close into a new list (or map, keys and values). */
static mproc_value_t *pack_seq(packer *pk, int map, char close)
{
    /* The bracket that opened it; "" for the list of the whole format. */
    const char *at = close == '\0' ? "" : pk->p - 1;
    mproc_value_t *c = NULL, *key = NULL;
    if (pk->status == 0)
        c = made(pk, at, map ? mproc_value_map() : mproc_value_list());
    for (;;) {
        mproc_value_t *item;
        pk->p = skip_space(pk->p);
        if (pk->p >= pk->end || *pk->p == close)
            break;
        item = pack_item(pk);
        if (pk->status != 0) {
            mproc_value_free(item);
            continue;
        }
        if (!map) {
            if (mproc_value_append(c, item) != 0)
                pack_fail(pk, MPROC_ENOMEM, at, "ran out of memory");
        } else if (key == NULL) {
            key = item;
        } else {
            if (mproc_value_map_set(c, key, item) != 0)
                pack_fail(pk, MPROC_ENOMEM, at, "ran out of memory");
            key = NULL;
        }
    }
    if (pk->p < pk->end && *pk->p == close && close != '\0')
        pk->p++;
    if (pk->status != 0) {
        mproc_value_free(key);
        mproc_value_free(c);
        return NULL;
    }
    return c;
}

mproc_value_t *mproc_pack(const char *fmt, ...)
{
    packer pk;
    va_list ap;
    const char *bad;
    mproc_value_t *list;
    int rc;
    if (fmt == NULL) {
        pack_failure = mproc__set_error(MPROC_EINVAL, "mproc_pack: no format");
        return NULL;
    }
    rc = check_format("mproc_pack", fmt, PACK_LETTERS, 1, &bad);
    va_start(ap, fmt);
    pk.fmt = pk.p = fmt;
    pk.end = rc == 0 ? fmt + strlen(fmt) : bad;
    pk.ap = &ap;
    /*
     * A bad format is walked up to the offending letter only to free the
     * values given with 'v' before it; its sentence is already set.
     */
    pk.status = rc;
    list = pack_seq(&pk, 0, '\0');
    va_end(ap);
    pack_failure = pk.status;
    return list;
}

/* ---- unpack --------------------------------------------------------- */

typedef struct unpacker {
    const char *fmt;
    const char *p;
    va_list *ap;
} unpacker;

/* "a string", "an integer", ...: what a sentence says was found. */
static const char *kind_of(const mproc_value_t *v)
{
    switch (mproc_value_type(v)) {
    case MPROC_VALUE_NIL:
        return "nil";
    case MPROC_VALUE_BOOL:
        return "a bool";
    case MPROC_VALUE_INT:
        return "an integer";
    case MPROC_VALUE_FLOAT:
        return "a float";
    case MPROC_VALUE_STR:
        return "a string";
    case MPROC_VALUE_BYTES:
        return "bytes";
    case MPROC_VALUE_LIST:
        return "a list";
    case MPROC_VALUE_MAP:
        return "a map";
    case MPROC_VALUE_RECORD:
        return "a record";
    case MPROC_VALUE_REF:
        return "a reference";
    }
    return "a value of an unknown kind";
}

/* kind_of(), with the object a reference refers to: "a lock reference". */
static const char *kind_of_ref(const mproc_value_t *v, char *buf, size_t cap)
{
    if (mproc_value_type(v) != MPROC_VALUE_REF)
        return kind_of(v);
    snprintf(buf, cap, "%s %s reference",
             mproc__ref_kind_article(mproc_value_ref_kind(v)),
             mproc__ref_kind_name(mproc_value_ref_kind(v)));
    return buf;
}

/* The path of an item: "item 2", or "item 2.0" inside a nested list. */
#define PATH_MAX_LEN 96

static int unpack_fail(const unpacker *uk, int status, const char *at,
                       const char *path, const char *fmt, ...)
    MPROC_PRINTF(5, 6);

static int unpack_fail(const unpacker *uk, int status, const char *at,
                       const char *path, const char *fmt, ...)
{
    char why[160];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(why, sizeof why, fmt, ap);
    va_end(ap);
    return mproc__set_error(status,
                            "mproc_unpack(\"%.*s\"): %s ('%c' at offset %d) "
                            "%s",
                            QUOTE_MAX, uk->fmt, path, *at, (int) (at - uk->fmt),
                            why);
}

/* The number of items the format has at this level, up to @close. */
static size_t count_items(const char *p, char close)
{
    size_t n = 0;
    int depth = 0;
    for (; *p != '\0'; p++) {
        if (is_space(*p))
            continue;
        if (depth == 0 && *p == close)
            break;
        if (depth == 0)
            n++;
        if (*p == '[')
            depth++;
        else if (*p == ']')
            depth--;
    }
    return n;
}

static int unpack_seq(unpacker *uk, const mproc_value_t *list, char close,
                      const char *at, const char *path);

/*
 * Opens the object that reference @v refers to (once per process: the
 * runtime owns it) into the pointer the letter at @at reads.
 */
static int unpack_ref(unpacker *uk, const mproc_value_t *v, const char *at,
                      const char *path)
{
    const struct ref_letter *r = ref_letter(*at);
    char found[48], why[400];
    int rc;
    if (mproc_value_ref_kind(v) != r->kind)
        return unpack_fail(
            uk, MPROC_ETYPE, at, path, "expected %s %s reference, found %s",
            mproc__ref_kind_article(r->kind), mproc__ref_kind_name(r->kind),
            kind_of_ref(v, found, sizeof found));
/*
 * Reads the out pointer of type @type and opens into it (or into a
 * scratch pointer for a NULL one, to check the item all the same).
 */
#define OPEN_REF(type, open)                                                   \
    do {                                                                       \
        type **out = va_arg(*uk->ap, type **), *scratch;                       \
        rc = open(v, out != NULL ? out : &scratch);                            \
    } while (0)
    switch (*at) {
    case 'L':
        OPEN_REF(mproc_lock_t, mproc_value_to_lock);
        break;
    case 'R':
        OPEN_REF(mproc_rlock_t, mproc_value_to_rlock);
        break;
    case 'S':
        OPEN_REF(mproc_sem_t, mproc_value_to_sem);
        break;
    case 'E':
        OPEN_REF(mproc_event_t, mproc_value_to_event);
        break;
    case 'C':
        OPEN_REF(mproc_cond_t, mproc_value_to_cond);
        break;
    case 'B':
        OPEN_REF(mproc_barrier_t, mproc_value_to_barrier);
        break;
    case 'Q':
        OPEN_REF(mproc_queue_t, mproc_value_to_queue);
        break;
    case 'M':
        OPEN_REF(mproc_shm_t, mproc_value_to_shm);
        break;
    case 'W':
        OPEN_REF(mproc_shared_value_t, mproc_value_to_shared_value);
        break;
    case 'A':
        OPEN_REF(mproc_shared_array_t, mproc_value_to_shared_array);
        break;
    case 'D':
        OPEN_REF(mproc_dict_t, mproc_value_to_dict_proxy);
        break;
    case 'T':
        OPEN_REF(mproc_list_t, mproc_value_to_list_proxy);
        break;
    case 'N':
        OPEN_REF(mproc_namespace_t, mproc_value_to_namespace_proxy);
        break;
    default:
        OPEN_REF(mproc_conn_t, mproc_value_to_conn);
        break;
    }
#undef OPEN_REF
    if (rc >= 0)
        return 0;
    /* The sentence is copied first: unpack_fail() rewrites it. */
    snprintf(why, sizeof why, "cannot open the %s: %s",
             mproc__ref_kind_name(r->kind), mproc_last_error());
    return unpack_fail(uk, rc, at, path, "%s", why);
}

static int unpack_item(unpacker *uk, const mproc_value_t *v, const char *path)
{
    const char *at = uk->p++;
    mproc_value_type_e t = mproc_value_type(v);
    const char *want = NULL;
    char found[48];
    switch (*at) {
    case 'n':
        if (t != MPROC_VALUE_NIL)
            want = "nil";
        break;
    case 'b': {
        int *out = va_arg(*uk->ap, int *);
        if (t != MPROC_VALUE_BOOL)
            want = "a bool";
        else if (out != NULL)
            *out = mproc_value_as_bool(v);
        break;
    }
    case 'i': {
        int *out = va_arg(*uk->ap, int *);
        int64_t i = mproc_value_as_int(v);
        if (t != MPROC_VALUE_INT)
            want = "an integer";
        else if (i < INT_MIN || i > INT_MAX)
            return unpack_fail(uk, MPROC_ERANGE, at, path,
                               "holds %lld, which does not fit an int (read "
                               "it with 'I')",
                               (long long) i);
        else if (out != NULL)
            *out = (int) i;
        break;
    }
    case 'I': {
        int64_t *out = va_arg(*uk->ap, int64_t *);
        if (t != MPROC_VALUE_INT)
            want = "an integer";
        else if (out != NULL)
            *out = mproc_value_as_int(v);
        break;
    }
    case 'f': {
        double *out = va_arg(*uk->ap, double *);
        /* An integer is a number too, as Python's float() takes it. */
        if (t != MPROC_VALUE_FLOAT && t != MPROC_VALUE_INT)
            want = "a float";
        else if (out != NULL)
            *out = mproc_value_as_float(v);
        break;
    }
    case 's': {
        const char **out = va_arg(*uk->ap, const char **);
        if (t != MPROC_VALUE_STR)
            want = "a string";
        else if (out != NULL)
            *out = mproc_value_as_str(v);
        break;
    }
    case 'y': {
        const void **out = va_arg(*uk->ap, const void **);
        size_t *len = va_arg(*uk->ap, size_t *);
        size_t n = 0;
        const void *data = mproc_value_as_bytes(v, &n);
        if (t != MPROC_VALUE_BYTES) {
            want = "bytes";
        } else {
            if (out != NULL)
                *out = data;
            if (len != NULL)
                *len = n;
        }
        break;
    }
    case 'v': {
        const mproc_value_t **out = va_arg(*uk->ap, const mproc_value_t **);
        if (out != NULL)
            *out = v;
        break;
    }
    case '*':
        break;
    case 'L':
    case 'R':
    case 'S':
    case 'E':
    case 'C':
    case 'B':
    case 'Q':
    case 'P':
    case 'M':
    case 'W':
    case 'A':
    case 'D':
    case 'T':
    case 'N':
        return unpack_ref(uk, v, at, path);
    case '[':
        if (t != MPROC_VALUE_LIST)
            want = "a list";
        else
            return unpack_seq(uk, v, ']', at, path);
        break;
    default:
        return unpack_fail(uk, MPROC_EINVAL, at, path, "is not a letter");
    }
    if (want != NULL)
        return unpack_fail(uk, MPROC_ETYPE, at, path, "expected %s, found %s",
                           want, kind_of_ref(v, found, sizeof found));
    return 0;
}

/*
 * Reads the items of @list up to @close; @at is the bracket that opened
 * it (the format's start at the top) and @path the list's own path.
 */
static int unpack_seq(unpacker *uk, const mproc_value_t *list, char close,
                      const char *at, const char *path)
{
    size_t want = count_items(uk->p, close), have = mproc_value_len(list), i;
    char sub[PATH_MAX_LEN];
    if (have != want) {
        if (*path == '\0')
            return mproc__set_error(MPROC_ERANGE,
                                    "mproc_unpack(\"%.*s\"): the %s has "
                                    "%lu item%s, the format reads %lu",
                                    QUOTE_MAX, uk->fmt,
                                    mproc_value_type(list) == MPROC_VALUE_RECORD
                                        ? "record"
                                        : "list",
                                    (unsigned long) have, have == 1 ? "" : "s",
                                    (unsigned long) want);
        return unpack_fail(uk, MPROC_ERANGE, at, path,
                           "is a list of %lu item%s, the format reads %lu",
                           (unsigned long) have, have == 1 ? "" : "s",
                           (unsigned long) want);
    }
    for (i = 0; i < want; i++) {
        int rc;
        uk->p = skip_space(uk->p);
        if (*path == '\0')
            snprintf(sub, sizeof sub, "item %lu", (unsigned long) i);
        else
            snprintf(sub, sizeof sub, "%s.%lu", path, (unsigned long) i);
        rc = unpack_item(uk, mproc_value_at(list, i), sub);
        if (rc != 0)
            return rc;
    }
    uk->p = skip_space(uk->p);
    if (*uk->p == close && close != '\0')
        uk->p++;
    return 0;
}

int mproc_unpack(const mproc_value_t *list, const char *fmt, ...)
{
    unpacker uk;
    va_list ap;
    const char *bad;
    int rc;
    if (fmt == NULL)
        return mproc__set_error(MPROC_EINVAL, "mproc_unpack: no format");
    rc = check_format("mproc_unpack", fmt, UNPACK_LETTERS, 0, &bad);
    if (rc != 0)
        return rc;
    /* A record's fields are read as a list is: what its behaviour needs. */
    if (mproc_value_type(list) != MPROC_VALUE_LIST &&
        mproc_value_type(list) != MPROC_VALUE_RECORD)
        return mproc__set_error(list == NULL ? MPROC_EINVAL : MPROC_ETYPE,
                                "mproc_unpack(\"%.*s\"): expected a list or "
                                "a record, found %s",
                                QUOTE_MAX, fmt,
                                list == NULL ? "NULL" : kind_of(list));
    va_start(ap, fmt);
    uk.fmt = uk.p = fmt;
    uk.ap = &ap;
    rc = unpack_seq(&uk, list, '\0', fmt, "");
    va_end(ap);
    return rc;
}
