/*
 * Values on the wire: msgpack encoding and decoding.
 *
 * A string is a msgpack str, a byte string a msgpack bin; integers use
 * msgpack's smallest form. A record is the msgpack extension type 1 whose
 * data is the array [type name, [fields...]]. A reference is the extension
 * type 2 whose data is one byte, its kind, and the msgpack array of its
 * fields. Decoding validates everything: a
 * frame that passed its checksum can still come from a buggy or hostile peer.
 *
 * Both sides keep to one depth, MPROC_VALUE_MAX_DEPTH, counted in msgpack
 * arrays and maps across extension bodies (so a record is two levels: its
 * [type, fields] array and its fields). The encoder refuses a deeper value,
 * so that nothing is sent that no receiver could decode. The decoder first
 * walks the message's headers (scan()): every count must fit in the bytes
 * that remain and the nesting must stay within the limit, before the
 * decoder allocates anything by a count or recurses. The decoder builds
 * the values straight from the bytes, with no tree of msgpack objects in
 * between.
 */
#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"
#include "registry.h"
#include "value_codec.h"
#include "value_internal.h"

#define EXT_RECORD 1
#define EXT_REF 2

/* pack() failed because a record type is not registered (not memory). */
#define PACK_UNREGISTERED (-2)
/* pack() failed because the value nests deeper than MPROC_VALUE_MAX_DEPTH. */
#define PACK_TOO_DEEP (-3)

/*
 * The encoder writes msgpack straight into the buffer, in msgpack's
 * smallest forms (as msgpack-c's packer chooses them). Each put makes room
 * for what it writes; -1 when there is none.
 */

/* Room for @n more bytes: where they go, or NULL. */
static unsigned char *room(mproc__buf_t *b, size_t n)
{
    unsigned char *at;
    if (b->cap - b->len < n && mproc__buf_reserve(b, n) != 0)
        return NULL;
    at = b->data + b->len;
    b->len += n;
    return at;
}

/* A header byte @h followed by the @n-byte big-endian number @v. */
static int put_head(mproc__buf_t *b, unsigned char h, uint64_t v, int n)
{
    unsigned char *p = room(b, 1 + (size_t) n);
    int i;
    if (p == NULL)
        return -1;
    p[0] = h;
    for (i = n; i > 0; i--) {
        p[i] = (unsigned char) v;
        v >>= 8;
    }
    return 0;
}

static void put_be32(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char) (v >> 24);
    p[1] = (unsigned char) (v >> 16);
    p[2] = (unsigned char) (v >> 8);
    p[3] = (unsigned char) v;
}

/*
 * An integer in its shortest msgpack form. The commonest item there is,
 * so it asks for room once and stores its bytes without a loop.
 */
static int put_int(mproc__buf_t *b, int64_t v)
{
    unsigned char *p;
    uint64_t u = (uint64_t) v;
    int n;
    unsigned char h;
    if (b->cap - b->len < 9 && mproc__buf_reserve(b, 9) != 0)
        return -1;
    p = b->data + b->len;
    if (v >= -32 && v < 128) {
        p[0] = (unsigned char) (int8_t) v; /* a fixint is its own header */
        b->len++;
        return 0;
    }
    if (v >= 0) {
        n = u < 256 ? 1 : u < 65536 ? 2 : u <= 0xffffffffu ? 4 : 8;
        h = n == 1 ? 0xcc : n == 2 ? 0xcd : n == 4 ? 0xce : 0xcf;
    } else {
        n = v >= -128 ? 1 : v >= -32768 ? 2 : v >= -2147483647 - 1 ? 4 : 8;
        h = n == 1 ? 0xd0 : n == 2 ? 0xd1 : n == 4 ? 0xd2 : 0xd3;
    }
    p[0] = h;
    switch (n) {
    case 1:
        p[1] = (unsigned char) u;
        break;
    case 2:
        p[1] = (unsigned char) (u >> 8);
        p[2] = (unsigned char) u;
        break;
    case 4:
        put_be32(p + 1, (uint32_t) u);
        break;
    default:
        put_be32(p + 1, (uint32_t) (u >> 32));
        put_be32(p + 5, (uint32_t) u);
        break;
    }
    b->len += 1 + (size_t) n;
    return 0;
}

/* The header of @n bytes of str (0xa0, 0xd9) or bin (0, 0xc4). */
static int put_bytes_head(mproc__buf_t *b, int str, size_t n)
{
    if (str && n < 32)
        return put_head(b, (unsigned char) (0xa0 | n), 0, 0);
    if (n < 256)
        return put_head(b, str ? 0xd9 : 0xc4, n, 1);
    if (n < 65536)
        return put_head(b, str ? 0xda : 0xc5, n, 2);
    return put_head(b, str ? 0xdb : 0xc6, n, 4);
}

/* The header of @n items (0x90, 0xdc) or pairs (0x80, 0xde). */
static int put_count(mproc__buf_t *b, int pairs, size_t n)
{
    if (n < 16)
        return put_head(b, (unsigned char) ((pairs ? 0x80 : 0x90) | n), 0, 0);
    if (n < 65536)
        return put_head(b, pairs ? 0xde : 0xdc, n, 2);
    return put_head(b, pairs ? 0xdf : 0xdd, n, 4);
}

static int put_raw(mproc__buf_t *b, const void *p, size_t n)
{
    unsigned char *at = room(b, n);
    if (at == NULL)
        return -1;
    if (n > 0)
        memcpy(at, p, n);
    return 0;
}

/* An extension of @type whose body is the @n bytes at @p. */
static int put_ext(mproc__buf_t *b, int8_t type, const void *p, size_t n)
{
    int rc;
    unsigned char t = (unsigned char) type;
    if (n == 1 || n == 2 || n == 4 || n == 8 || n == 16) {
        int k = n == 1 ? 0 : n == 2 ? 1 : n == 4 ? 2 : n == 8 ? 3 : 4;
        rc = put_head(b, (unsigned char) (0xd4 + k), t, 1);
    } else if (n < 256) {
        rc = put_head(b, 0xc7, (uint64_t) n << 8 | t, 2);
    } else if (n < 65536) {
        rc = put_head(b, 0xc8, (uint64_t) n << 8 | t, 3);
    } else {
        rc = put_head(b, 0xc9, (uint64_t) n << 8 | t, 5);
    }
    return rc != 0 ? rc : put_raw(b, p, n);
}

static int pack(mproc__buf_t *b, const mproc_value_t *v, int depth);

/* The items of a container whose own levels make @depth. */
static int pack_items(mproc__buf_t *b, const mproc_value_t *v, int depth)
{
    size_t i;
    int rc = 0;
    for (i = 0; rc == 0 && i < v->u.c.len; i++)
        rc = pack(b, v->u.c.items[i], depth);
    return rc;
}

/*
 * Packs the bytes of @inner as an extension of @type if @rc is 0 so far,
 * and frees them either way; the status.
 */
static int pack_ext(mproc__buf_t *b, int rc, mproc__buf_t *inner, int8_t type)
{
    if (rc == 0)
        rc = put_ext(b, type, inner->data, inner->len);
    mproc__buf_free(inner);
    return rc;
}

/* A record: its type must be known here, or the receiver could not be. */
static int pack_record(mproc__buf_t *b, const mproc_value_t *v, int depth)
{
    mproc__buf_t inner = {0};
    mproc_record_fn call;
    size_t tlen = strlen(v->u.c.type);
    int rc;
    if (!mproc__record_find(v->u.c.type, &call)) {
        mproc__set_error(MPROC_ENOTREG,
                         "record type '%s' is not registered in this program "
                         "(use MPROC_RECORD or mproc_register_record)",
                         v->u.c.type);
        return PACK_UNREGISTERED;
    }
    if (depth + 2 > MPROC_VALUE_MAX_DEPTH)
        return PACK_TOO_DEEP;
    rc = put_count(&inner, 0, 2);
    if (rc == 0)
        rc = put_bytes_head(&inner, 1, tlen);
    if (rc == 0)
        rc = put_raw(&inner, v->u.c.type, tlen);
    if (rc == 0)
        rc = put_count(&inner, 0, v->u.c.len);
    if (rc == 0)
        rc = pack_items(&inner, v, depth + 2);
    return pack_ext(b, rc, &inner, EXT_RECORD);
}

/*
 * A reference: its kind byte, then its fields as a msgpack array, which
 * counts one level like any list.
 */
static int pack_ref(mproc__buf_t *b, const mproc_value_t *v, int depth)
{
    mproc__buf_t inner = {0};
    unsigned char kind = (unsigned char) v->u.r.kind;
    int rc = put_raw(&inner, &kind, 1);
    if (rc == 0)
        rc = pack(&inner, v->u.r.fields, depth);
    return pack_ext(b, rc, &inner, EXT_REF);
}

/* @v inside containers whose levels make @depth. */
static int pack(mproc__buf_t *b, const mproc_value_t *v, int depth)
{
    int rc = 0;
    uint64_t bits;
    switch (v->type) {
    case MPROC_VALUE_NIL:
        return put_head(b, 0xc0, 0, 0);
    case MPROC_VALUE_BOOL:
        return put_head(b, v->u.b ? 0xc3 : 0xc2, 0, 0);
    case MPROC_VALUE_INT:
        return put_int(b, v->u.i);
    case MPROC_VALUE_FLOAT:
        memcpy(&bits, &v->u.f, sizeof bits);
        return put_head(b, 0xcb, bits, 8);
    case MPROC_VALUE_STR:
    case MPROC_VALUE_BYTES:
        if (v->u.s.len > UINT32_MAX)
            return -1;
        rc = put_bytes_head(b, v->type == MPROC_VALUE_STR, v->u.s.len);
        return rc ? rc : put_raw(b, v->u.s.ptr, v->u.s.len);
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_MAP:
        if (depth + 1 > MPROC_VALUE_MAX_DEPTH)
            return PACK_TOO_DEEP;
        rc = v->type == MPROC_VALUE_LIST ? put_count(b, 0, v->u.c.len)
                                         : put_count(b, 1, v->u.c.len / 2);
        return rc ? rc : pack_items(b, v, depth + 1);
    case MPROC_VALUE_RECORD:
        return pack_record(b, v, depth);
    case MPROC_VALUE_REF:
        return pack_ref(b, v, depth);
    }
    return -1;
}

/* The status of pack()'s @rc, with its sentence. */
static int pack_status(int rc)
{
    if (rc == PACK_UNREGISTERED)
        return MPROC_ENOTREG;
    if (rc == PACK_TOO_DEEP)
        return mproc__set_error(
            MPROC_EINVAL,
            "value nests deeper than MPROC_VALUE_MAX_DEPTH (%d levels), "
            "which no receiver decodes; nothing was encoded",
            MPROC_VALUE_MAX_DEPTH);
    if (rc != 0)
        return mproc__set_error(MPROC_ENOMEM,
                                "cannot encode value: out of memory or a "
                                "string over 4 GiB");
    return 0;
}

int mproc__value_encode(const mproc_value_t *v, mproc__buf_t *out)
{
    size_t start = out->len;
    int rc;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value to encode");
    /* An integer, the commonest result, straight. */
    rc = v->type == MPROC_VALUE_INT ? put_int(out, v->u.i) : pack(out, v, 0);
    if (rc != 0)
        out->len = start; /* nothing half-encoded stays behind */
    return pack_status(rc);
}

int mproc__value_encode_run(const mproc_value_t *list, size_t first, size_t n,
                            mproc__buf_t *out)
{
    size_t start = out->len, i;
    int rc = 0;
    if (list == NULL || list->type != MPROC_VALUE_LIST ||
        first > list->u.c.len || n > list->u.c.len - first)
        return mproc__set_error(MPROC_EINVAL, "no such items to encode");
    /* Room for a map's small integers at once; room() grows it if not. */
    if (mproc__buf_reserve(out, n * 2) != 0)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    for (i = 0; i < n && rc == 0; i++) {
        const mproc_value_t *v = list->u.c.items[first + i];
        if (v == NULL) {
            rc = -1;
        } else if (v->type == MPROC_VALUE_INT) {
            rc = put_int(out, v->u.i);
        } else if (MPROC__IS_SCALAR(v->type)) {
            rc = pack(out, v, 0);
        } else if (mproc__value_has_ref(v, MPROC_REF_CONN)) {
            out->len = start;
            return mproc__set_error(MPROC_EINVAL,
                                    "item %zu holds a connection, which only "
                                    "mproc__value_encode_shared() encodes",
                                    first + i);
        } else {
            rc = pack(out, v, 0);
        }
    }
    if (rc != 0)
        out->len = start;
    return pack_status(rc);
}

/* ---- the header scan -------------------------------------------------- */

/* What scan() reports for every fault: the message is not ours to decode. */
static int scan_corrupt(const char *why)
{
    return mproc__set_error(MPROC_ECORRUPT, "message %s", why);
}

/* The @n-byte big-endian number at @p. */
static size_t be(const unsigned char *p, int n)
{
    size_t v = 0;
    int i;
    for (i = 0; i < n; i++)
        v = v << 8 | p[i];
    return v;
}

/* Whether the byte opens a msgpack array. */
static int is_array(unsigned char b)
{
    return (b >= 0x90 && b <= 0x9f) || b == 0xdc || b == 0xdd;
}

static int scan(const unsigned char *p, size_t len, size_t *off, int depth);

/*
 * An extension body of @n bytes at @p. A record's body is its [type,
 * fields] array and a reference's is its kind byte and its fields array:
 * both nest on at the depth of the extension itself, and both must open
 * with an array, so a chain of extension headers alone cannot make the scan
 * recurse without the depth growing. Other types are left to the
 * converter, which refuses them.
 */
static int scan_ext(int type, const unsigned char *p, size_t n, int depth)
{
    size_t at = type == EXT_REF ? 1 : 0;
    int rc;
    if (type != EXT_RECORD && type != EXT_REF)
        return 0;
    if (n <= at || !is_array(p[at]))
        return scan_corrupt("holds a malformed record or reference");
    rc = scan(p, n, &at, depth);
    if (rc == 0 && at != n)
        rc = scan_corrupt("holds a record or reference with stray bytes");
    return rc;
}

/* What a msgpack header opens: bytes, an extension, items or pairs. */
enum { HEAD_BYTES, HEAD_EXT, HEAD_ITEMS, HEAD_PAIRS };

/*
 * The header byte @b beyond the fix* ranges: its kind, and either its fixed
 * size (*@n) or the width in bytes of the count that follows (*@width).
 * 0 for the one byte that is no msgpack type.
 */
static int head(unsigned char b, int *kind, size_t *n, int *width)
{
    *kind = HEAD_BYTES;
    *n = 0;
    *width = 0;
    if (b == 0xc0 || b == 0xc2 || b == 0xc3) /* nil, false, true */
        return 1;
    if (b == 0xca || b == 0xcb) { /* float 32, 64 */
        *n = b == 0xca ? 4 : 8;
        return 1;
    }
    if (b >= 0xcc && b <= 0xd3) { /* uint and int of 8 to 64 bits */
        *n = (size_t) 1 << (b & 3);
        return 1;
    }
    if (b >= 0xd4 && b <= 0xd8) { /* fixext 1 to 16 */
        *kind = HEAD_EXT;
        *n = (size_t) 1 << (b - 0xd4);
        return 1;
    }
    switch (b) {
    case 0xc4: /* bin 8, 16, 32 */
    case 0xc5:
    case 0xc6:
        *width = 1 << (b - 0xc4);
        return 1;
    case 0xd9: /* str 8, 16, 32 */
    case 0xda:
    case 0xdb:
        *width = 1 << (b - 0xd9);
        return 1;
    case 0xc7: /* ext 8, 16, 32 */
    case 0xc8:
    case 0xc9:
        *kind = HEAD_EXT;
        *width = 1 << (b - 0xc7);
        return 1;
    case 0xdc: /* array 16, 32 */
    case 0xdd:
        *kind = HEAD_ITEMS;
        *width = b == 0xdc ? 2 : 4;
        return 1;
    case 0xde: /* map 16, 32 */
    case 0xdf:
        *kind = HEAD_PAIRS;
        *width = b == 0xde ? 2 : 4;
        return 1;
    }
    return 0;
}

/*
 * The whole size of the scalars of fixed size whose header byte is 0xc0 +
 * the index (nil, bools, floats, integers), 0 for the others.
 */
static const unsigned char scalar_size[0xd4 - 0xc0] = {
    1, 0, 1, 1, 0, 0, 0, 0, 0, 0, 5, 9, 2, 3, 5, 9, 2, 3, 5, 9};

/*
 * Walks the msgpack value at @p + *@off without building anything, and
 * moves *@off past it. Every count is checked against the bytes that
 * remain (an item takes at least one byte, a pair two) and every array and
 * map against MPROC_VALUE_MAX_DEPTH, with @depth the levels around it. So
 * the recursion is bounded by the limit, and msgpack then never allocates
 * more than a small multiple of the message's size.
 */
static int scan(const unsigned char *p, size_t len, size_t *off, int depth)
{
    size_t at = *off, n, i;
    int kind, width, ext = 0, rc;
    unsigned char b;
    if (at >= len)
        return scan_corrupt("is truncated");
    b = p[at++];
    if (b <= 0x7f || b >= 0xe0) { /* fixint */
        kind = HEAD_BYTES;
        n = 0;
        width = 0;
    } else if (b <= 0x9f) { /* fixmap, fixarray */
        kind = b <= 0x8f ? HEAD_PAIRS : HEAD_ITEMS;
        n = b & 0x0f;
        width = 0;
    } else if (b <= 0xbf) { /* fixstr */
        kind = HEAD_BYTES;
        n = b & 0x1f;
        width = 0;
    } else if (!head(b, &kind, &n, &width)) {
        return scan_corrupt("holds a byte that is no msgpack type");
    }
    if (len - at < (size_t) width + (kind == HEAD_EXT))
        return scan_corrupt("is truncated");
    if (width > 0)
        n = be(p + at, width);
    at += (size_t) width;
    if (kind == HEAD_EXT)
        ext = p[at++];
    if (kind == HEAD_BYTES || kind == HEAD_EXT) {
        if (n > len - at)
            return scan_corrupt("claims more bytes than it holds");
        rc = kind == HEAD_EXT ? scan_ext(ext, p + at, n, depth) : 0;
        if (rc == 0)
            *off = at + n;
        return rc;
    }
    if (depth >= MPROC_VALUE_MAX_DEPTH)
        return mproc__set_error(MPROC_ECORRUPT,
                                "message nests deeper than "
                                "MPROC_VALUE_MAX_DEPTH (%d levels)",
                                MPROC_VALUE_MAX_DEPTH);
    if (kind == HEAD_PAIRS && n > (len - at) / 2)
        return scan_corrupt("claims more pairs than it holds");
    if (n > len - at)
        return scan_corrupt("claims more items than it holds");
    if (kind == HEAD_PAIRS)
        n *= 2;
    for (i = 0; i < n; i++) {
        /* Scalars, the commonest items, need no call. */
        size_t size;
        b = at < len ? p[at] : 0xc1;
        if (b <= 0x7f || b >= 0xe0) {
            at++;
            continue;
        }
        if (b >= 0xc0 && b <= 0xd3 && (size = scalar_size[b - 0xc0]) != 0) {
            if (len - at < size)
                return scan_corrupt("is truncated");
            at += size;
            continue;
        }
        rc = scan(p, len, &at, depth + 1);
        if (rc != 0)
            return rc;
    }
    *off = at;
    return 0;
}

/* ---- decoding --------------------------------------------------------- */

/*
 * The decoder builds values straight from the bytes that scan() has
 * passed: every count fits and the nesting is bounded, so it only checks
 * what the scan leaves (integer ranges, extension types and shapes).
 */
typedef struct dec {
    const unsigned char *p;
    size_t len, at;
    int blocks; /* lists keep their scalars in a block (value_internal.h) */
} dec;

/* Lists this long have blocks; shorter ones are small (value_internal.h). */
#define BLOCK_MIN (MPROC__SMALL_LIST + 1)

static int dec_nomem(void)
{
    return mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
}

/* The next @n bytes as a big-endian number (the scan made them be there). */
static uint64_t dec_be(dec *d, int n)
{
    uint64_t v = 0;
    int i;
    for (i = 0; i < n; i++)
        v = v << 8 | d->p[d->at++];
    return v;
}

/* Whether the header byte @b opens a scalar (nil, bool, integer, float). */
static int opens_scalar(unsigned char b)
{
    return b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3 ||
           (b >= 0xca && b <= 0xd3);
}

static int dec_value(dec *d, mproc_value_t *slot, mproc_value_t **out);

/* A list of @n items. */
static int dec_list(dec *d, size_t n, mproc_value_t **out)
{
    mproc_value_t *v;
    size_t k;
    int blocks = d->blocks && n >= BLOCK_MIN;
    int small = d->blocks && n > 0 && n <= MPROC__SMALL_LIST;
    if (blocks) {
        v = mproc__value_list_block(n);
    } else if (small) {
        v = mproc__value_list_small(n);
    } else {
        v = mproc_value_list();
        if (v != NULL && mproc__value_reserve(v, n) != 0) {
            mproc_value_free(v);
            v = NULL;
        }
    }
    if (v == NULL)
        return dec_nomem();
    for (k = 0; k < n; k++) {
        mproc_value_t *slot = NULL;
        int rc = 0;
        if (small && opens_scalar(d->p[d->at]))
            slot = mproc__value_small_slot(v, k);
        else if (blocks && opens_scalar(d->p[d->at]) &&
                 (slot = mproc__value_block_slot(v, k)) == NULL)
            rc = dec_nomem();
        if (rc == 0)
            rc = dec_value(d, slot, &v->u.c.items[k]);
        if (rc != 0) {
            mproc_value_free(v);
            return rc;
        }
        v->u.c.len = k + 1;
    }
    *out = v;
    return 0;
}

/* A map of @n pairs; of equal keys, the first keeps its place. */
static int dec_map(dec *d, size_t n, mproc_value_t **out)
{
    mproc_value_t *v = mproc_value_map();
    size_t k;
    if (v != NULL && mproc__value_reserve(v, n) != 0) {
        mproc_value_free(v);
        v = NULL;
    }
    if (v == NULL)
        return dec_nomem();
    for (k = 0; k < n; k++) {
        mproc_value_t *key, *val;
        int rc = dec_value(d, NULL, &key);
        if (rc == 0 && (rc = dec_value(d, NULL, &val)) != 0)
            mproc_value_free(key);
        if (rc == 0 && mproc__value_map_append(v, key, val) != 0)
            rc = MPROC_ENOMEM;
        if (rc != 0) {
            mproc_value_free(v);
            return rc;
        }
    }
    if (mproc__value_map_merge_equal_keys(v) != 0) {
        mproc_value_free(v);
        return MPROC_ENOMEM;
    }
    *out = v;
    return 0;
}

/* The one value that fills @n bytes at @p, with no blocks. */
static int dec_body(const unsigned char *p, size_t n, mproc_value_t **out)
{
    dec inner = {p, n, 0, 0};
    int rc = dec_value(&inner, NULL, out);
    if (rc == 0 && inner.at != n) {
        mproc_value_free(*out);
        return mproc__set_error(MPROC_ECORRUPT,
                                "message has %zu stray bytes after its value",
                                n - inner.at);
    }
    return rc;
}

static int bad_ref(int rc)
{
    if (rc == MPROC_ENOMEM)
        return dec_nomem();
    return mproc__set_error(MPROC_ECORRUPT, "malformed reference in message");
}

/*
 * A reference: a known kind, then exactly one list of scalars of the
 * kind's shape.
 */
static int dec_ref(const unsigned char *p, size_t n, mproc_value_t **out)
{
    mproc_value_t *fields = NULL;
    size_t i;
    int rc;
    if (n < 2 || p[0] == MPROC_REF_NONE || p[0] > MPROC__REF_LAST)
        return bad_ref(MPROC_ECORRUPT);
    rc = dec_body(p + 1, n - 1, &fields);
    if (rc != 0)
        return bad_ref(rc);
    for (i = 0; rc == 0 && i < mproc_value_len(fields); i++) {
        mproc_value_type_e t = mproc_value_type(mproc_value_at(fields, i));
        if (t != MPROC_VALUE_STR && t != MPROC_VALUE_BOOL &&
            t != MPROC_VALUE_INT)
            rc = MPROC_ECORRUPT;
    }
    if (rc == 0 && mproc__ref_check(p[0], fields) != 0)
        rc = MPROC_ECORRUPT;
    if (rc != 0) {
        mproc_value_free(fields);
        return bad_ref(rc);
    }
    *out = mproc__ref_new((mproc_ref_kind_e) p[0], fields);
    return *out != NULL ? 0 : dec_nomem();
}

/* A record arrives whatever its type; calling it needs the type here. */
static int dec_record(const unsigned char *p, size_t n, mproc_value_t **out)
{
    mproc_value_t *inner, *fields, *rec;
    const mproc_value_t *type;
    int rc = dec_body(p, n, &inner);
    if (rc != 0)
        return rc;
    type = mproc_value_at(inner, 0);
    if (mproc_value_type(inner) != MPROC_VALUE_LIST ||
        mproc_value_len(inner) != 2 ||
        mproc_value_type(type) != MPROC_VALUE_STR ||
        mproc_value_type(mproc_value_at(inner, 1)) != MPROC_VALUE_LIST) {
        mproc_value_free(inner);
        return mproc__set_error(MPROC_ECORRUPT, "malformed record in message");
    }
    fields = mproc__value_take(inner, 1);
    rec = mproc_value_record(mproc_value_as_str(type), fields);
    mproc_value_free(inner);
    if (rec == NULL)
        return dec_nomem();
    *out = rec;
    return 0;
}

static uint32_t get_be32(const unsigned char *p)
{
    return (uint32_t) p[0] << 24 | (uint32_t) p[1] << 16 |
           (uint32_t) p[2] << 8 | p[3];
}

/*
 * The commonest scalars (integers of up to 63 bits, nil, bools, doubles)
 * at @p, with @avail bytes there (at least one), into @slot of a block:
 * the bytes they took, or 0 for anything else (or for one cut short),
 * which the slow path scans and dec_value() decodes. It does what
 * dec_value() does for them, without its calls.
 */
static size_t dec_scalar(const unsigned char *p, size_t avail,
                         mproc_value_t *slot)
{
    unsigned char b = p[0];
    mproc_value_type_e t = MPROC_VALUE_INT;
    uint64_t u;
    size_t used;
    /* Not all there: the scan of the slow path says what is wrong. */
    if (b >= 0xc0 && b <= 0xd3 && scalar_size[b - 0xc0] > avail)
        return 0;
    /*
     * Nothing is written for a byte passed on: the slot may be the scalar
     * that a place holds, to stay as it is if the slow path fails.
     */
    if (b <= 0x7f || b >= 0xe0) {
        slot->u.i = (int8_t) b;
        if (b <= 0x7f)
            slot->u.i = b;
        used = 1;
    } else {
        switch (b) {
        case 0xc0:
            t = MPROC_VALUE_NIL;
            slot->u.i = 0;
            used = 1;
            break;
        case 0xc2:
        case 0xc3:
            t = MPROC_VALUE_BOOL;
            slot->u.b = b == 0xc3;
            used = 1;
            break;
        case 0xcc:
            slot->u.i = p[1];
            used = 2;
            break;
        case 0xcd:
            slot->u.i = (int64_t) p[1] << 8 | p[2];
            used = 3;
            break;
        case 0xce:
            slot->u.i = (int64_t) get_be32(p + 1);
            used = 5;
            break;
        case 0xd0:
            slot->u.i = (int8_t) p[1];
            used = 2;
            break;
        case 0xd1:
            slot->u.i = (int16_t) (p[1] << 8 | p[2]);
            used = 3;
            break;
        case 0xd2:
            slot->u.i = (int32_t) get_be32(p + 1);
            used = 5;
            break;
        case 0xd3:
        case 0xcb:
            u = (uint64_t) get_be32(p + 1) << 32 | get_be32(p + 5);
            if (b == 0xcb) {
                t = MPROC_VALUE_FLOAT;
                memcpy(&slot->u.f, &u, sizeof u);
            } else {
                slot->u.i = (int64_t) u;
            }
            used = 9;
            break;
        default:
            return 0;
        }
    }
    slot->type = t;
    slot->flags = MPROC__IN_BLOCK;
    return used;
}

/*
 * The value at the decoder's place, moving past it. A scalar goes into
 * @slot when there is one (a list's block), else into a value of its own.
 */
static int dec_value(dec *d, mproc_value_t *slot, mproc_value_t **out)
{
    unsigned char b;
    mproc_value_type_e t;
    mproc_value_t *v;
    int64_t i = 0;
    double f = 0;
    uint64_t u;
    size_t n;
    int ext;
    if (d->at >= d->len)
        return scan_corrupt("is truncated");
    if (opens_scalar(d->p[d->at])) {
        /* The commonest scalars, as the fast paths read them. */
        mproc_value_t got;
        size_t used = dec_scalar(d->p + d->at, d->len - d->at, &got);
        if (used > 0) {
            d->at += used;
            v = slot != NULL ? slot : mproc__value_new_scalar(got.type);
            if (v == NULL)
                return dec_nomem();
            v->type = got.type;
            v->flags = slot != NULL ? MPROC__IN_BLOCK : 0;
            v->u = got.u;
            *out = v;
            return 0;
        }
    }
    b = d->p[d->at++];
    if (b <= 0x8f) {
        return dec_map(d, b & 0x0f, out);
    } else if (b <= 0x9f) {
        return dec_list(d, b & 0x0f, out);
    } else if (b <= 0xbf) {
        n = b & 0x1f;
        goto str;
    } else {
        /* The other scalars were dec_scalar()'s, whole after a scan. */
        switch (b) {
        case 0xca: {
            uint32_t w = (uint32_t) dec_be(d, 4);
            float x;
            memcpy(&x, &w, sizeof x);
            t = MPROC_VALUE_FLOAT;
            f = x;
            break;
        }
        case 0xcf:
            u = dec_be(d, 8);
            if (u > (uint64_t) INT64_MAX)
                return mproc__set_error(MPROC_ECORRUPT,
                                        "integer out of range in message");
            t = MPROC_VALUE_INT;
            i = (int64_t) u;
            break;
        case 0xd9:
        case 0xda:
        case 0xdb:
            n = (size_t) dec_be(d, 1 << (b - 0xd9));
        str:
            if (n > d->len - d->at)
                return scan_corrupt("claims more bytes than it holds");
            *out = mproc_value_strn((const char *) d->p + d->at, n);
            d->at += n;
            return *out != NULL ? 0 : dec_nomem();
        case 0xc4:
        case 0xc5:
        case 0xc6:
            n = (size_t) dec_be(d, 1 << (b - 0xc4));
            if (n > d->len - d->at)
                return scan_corrupt("claims more bytes than it holds");
            *out = mproc_value_bytes(d->p + d->at, n);
            d->at += n;
            return *out != NULL ? 0 : dec_nomem();
        case 0xdc:
        case 0xdd:
            return dec_list(d, (size_t) dec_be(d, b == 0xdc ? 2 : 4), out);
        case 0xde:
        case 0xdf:
            return dec_map(d, (size_t) dec_be(d, b == 0xde ? 2 : 4), out);
        case 0xc7:
        case 0xc8:
        case 0xc9:
        case 0xd4:
        case 0xd5:
        case 0xd6:
        case 0xd7:
        case 0xd8:
            n = b >= 0xd4 ? (size_t) 1 << (b - 0xd4)
                          : (size_t) dec_be(d, 1 << (b - 0xc7));
            ext = (int8_t) d->p[d->at++];
            if (n > d->len - d->at)
                return scan_corrupt("claims more bytes than it holds");
            d->at += n;
            if (ext == EXT_REF)
                return dec_ref(d->p + d->at - n, n, out);
            if (ext == EXT_RECORD)
                return dec_record(d->p + d->at - n, n, out);
            return mproc__set_error(MPROC_ECORRUPT,
                                    "message holds an unknown extension type "
                                    "%d",
                                    ext);
        default:
            return scan_corrupt(b >= 0xc0 && b <= 0xd3 &&
                                        scalar_size[b - 0xc0] != 0
                                    ? "is truncated" /* a scalar cut short */
                                    : "holds a byte that is no msgpack type");
        }
    }
    if (slot != NULL) {
        v = slot;
        v->flags = MPROC__IN_BLOCK;
    } else {
        v = mproc__value_new_scalar(t);
        if (v == NULL)
            return dec_nomem();
    }
    v->type = t;
    if (t == MPROC_VALUE_FLOAT)
        v->u.f = f;
    else if (t == MPROC_VALUE_BOOL)
        v->u.b = (int) i;
    else
        v->u.i = i;
    *out = v;
    return 0;
}

/*
 * The size of the msgpack bin header that @p (of @len bytes) starts with,
 * if the bin fills exactly the rest, with its length in *@n; else 0.
 */
static size_t whole_bin(const unsigned char *p, size_t len, size_t *n)
{
    size_t pre;
    if (len < 2)
        return 0;
    switch (p[0]) {
    case 0xc4:
        pre = 2;
        *n = p[1];
        break;
    case 0xc5:
        pre = 3;
        if (len < pre)
            return 0;
        *n = (size_t) p[1] << 8 | p[2];
        break;
    case 0xc6:
        pre = 5;
        if (len < pre)
            return 0;
        *n = (size_t) p[1] << 24 | (size_t) p[2] << 16 | (size_t) p[3] << 8 |
             p[4];
        break;
    default:
        return 0;
    }
    return pre + *n == len ? pre : 0;
}

static int decode(const void *data, size_t len, int blocks, mproc_value_t **out)
{
    size_t off = 0, n;
    size_t pre = whole_bin(data, len, &n);
    int rc;
    *out = NULL;
    /* A message that is one bytes value, the commonest, needs no unpacker. */
    if (pre > 0) {
        *out = mproc_value_bytes((const unsigned char *) data + pre, n);
        return *out != NULL ? 0
                            : mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    rc = scan(data, len, &off, 0);
    if (rc != 0)
        return rc;
    if (off != len)
        return mproc__set_error(MPROC_ECORRUPT,
                                "message has %zu stray bytes after its value",
                                len - off);
    {
        dec d = {data, len, 0, blocks};
        return dec_value(&d, NULL, out);
    }
}

int mproc__value_decode(const void *data, size_t len, mproc_value_t **out)
{
    return decode(data, len, 0, out);
}

int mproc__value_decode_blocks(const void *data, size_t len,
                               mproc_value_t **out)
{
    return decode(data, len, 1, out);
}

/* A list's count from its header byte(s) at @p, or -1 if it opens none. */
static int list_head(const unsigned char *p, size_t len, size_t *n,
                     size_t *head)
{
    if (len >= 1 && p[0] >= 0x90 && p[0] <= 0x9f) {
        *n = p[0] & 0x0f;
        *head = 1;
    } else if (len >= 3 && p[0] == 0xdc) {
        *n = (size_t) p[1] << 8 | p[2];
        *head = 3;
    } else if (len >= 5 && p[0] == 0xdd) {
        *n = (size_t) p[1] << 24 | (size_t) p[2] << 16 | (size_t) p[3] << 8 |
             p[4];
        *head = 5;
    } else {
        return -1;
    }
    return 0;
}

int mproc__value_list_count(const void *data, size_t len, size_t *n)
{
    size_t head;
    if (data == NULL || list_head(data, len, n, &head) != 0)
        return mproc__set_error(MPROC_ECORRUPT, "message is not a list");
    if (*n > len - head)
        return scan_corrupt("claims more items than it holds");
    return 0;
}

int mproc__value_reader_start(mproc__value_reader_t *r, const void *data,
                              size_t len)
{
    size_t head;
    r->p = data;
    r->len = len;
    r->at = r->left = 0;
    r->slot = r->item = NULL;
    r->broken = 0;
    if (data == NULL || list_head(data, len, &r->left, &head) != 0 ||
        r->left > len - head) {
        r->left = 0;
        return mproc__set_error(MPROC_ECORRUPT, "message is not a list");
    }
    r->at = head;
    return 0;
}

static int reader_next_slow(mproc__value_reader_t *r,
                            const mproc_value_t **out);

int mproc__value_reader_next(mproc__value_reader_t *r,
                             const mproc_value_t **out)
{
    size_t used;
    /* A scalar, the commonest item, with the slot there already. */
    if (r->item == NULL && r->slot != NULL && r->left > 0 && !r->broken &&
        r->at < r->len &&
        (used = dec_scalar(r->p + r->at, r->len - r->at, r->slot)) > 0) {
        r->left--;
        r->at += used;
        *out = r->slot;
        return 0;
    }
    return reader_next_slow(r, out);
}

static int reader_next_slow(mproc__value_reader_t *r, const mproc_value_t **out)
{
    mproc_value_t *slot = NULL, *v = NULL;
    size_t end;
    dec d;
    int rc;
    *out = NULL;
    if (r->item != NULL) {
        mproc_value_free(r->item);
        r->item = NULL;
    }
    if (r->left == 0)
        return mproc__set_error(MPROC_EINVAL, "no items left to read");
    r->left--;
    if (r->broken)
        return mproc__set_error(MPROC_ECORRUPT,
                                "message is malformed before this item");
    end = r->at;
    if (r->at >= r->len || (rc = scan(r->p, r->len, &end, 1)) != 0) {
        /* Where the next item starts is not known: the rest fail too. */
        r->broken = 1;
        return r->at >= r->len ? scan_corrupt("is truncated") : rc;
    }
    if (opens_scalar(r->p[r->at])) {
        if (r->slot == NULL)
            r->slot = malloc(sizeof *r->slot);
        slot = r->slot;
    }
    d.p = r->p;
    d.len = r->len;
    d.at = r->at;
    d.blocks = 1;
    rc = slot == NULL && opens_scalar(r->p[r->at]) ? dec_nomem()
                                                   : dec_value(&d, slot, &v);
    /* Past the item whether or not it could be decoded. */
    r->at = end;
    if (rc != 0)
        return rc;
    if (v != slot)
        r->item = v;
    *out = v;
    return 0;
}

void mproc__value_reader_end(mproc__value_reader_t *r)
{
    mproc_value_free(r->item);
    free(r->slot);
    r->item = r->slot = NULL;
    r->left = 0;
}

/* Place @i of @list back to a hole, freeing what was decoded there. */
static void unfill(mproc_value_t *list, size_t i)
{
    mproc_value_free(list->u.c.items[i]);
    list->u.c.items[i] = NULL;
}

/*
 * Decodes the item at @d's place into *@place (a scalar into @slot if
 * there is one), after a scan of the item alone: a list's items are
 * checked as they come, not all of them first.
 */
static int dec_item(dec *d, mproc_value_t *slot, mproc_value_t **place)
{
    size_t end = d->at;
    int rc = scan(d->p, d->len, &end, 1);
    if (rc != 0)
        return rc;
    if (slot == NULL && opens_scalar(d->p[d->at]) && d->blocks)
        return dec_nomem(); /* no block for it */
    return dec_value(d, slot, place);
}

int mproc__value_decode_into(const void *data, size_t len, mproc_value_t *list,
                             size_t first, size_t *n)
{
    const unsigned char *p = data;
    size_t head, count, k, block_at = 0;
    mproc_value_t *block = NULL;
    int blocks, rc = 0;
    dec d;
    if (list == NULL || list->type != MPROC_VALUE_LIST || first > list->u.c.len)
        return mproc__set_error(MPROC_EINVAL, "no places to decode into");
    if (p == NULL || list_head(p, len, &count, &head) != 0)
        return mproc__set_error(MPROC_ECORRUPT, "message is not a list");
    if (count > len - head)
        return scan_corrupt("claims more items than it holds");
    if (count > *n || count > list->u.c.len - first)
        return mproc__set_error(MPROC_ECORRUPT,
                                "message holds %zu values where %zu were "
                                "expected",
                                count, *n);
    d.p = p;
    d.len = len;
    d.at = head;
    blocks = d.blocks = (list->flags & MPROC__HAS_BLOCK) != 0;
    for (k = 0; k < count && rc == 0; k++) {
        size_t i = first + k, used;
        mproc_value_t *old = list->u.c.items[i], *slot = NULL;
        if (d.at >= len) {
            rc = scan_corrupt("is truncated");
            break;
        }
        if (blocks && opens_scalar(p[d.at])) {
            /* The block's start, looked up once for its places. */
            if (block == NULL || i / MPROC__BLOCK_SLOTS != block_at) {
                block = mproc__value_block_slot(list, i);
                if (block != NULL)
                    block -= i % MPROC__BLOCK_SLOTS;
                block_at = i / MPROC__BLOCK_SLOTS;
            }
            if (block != NULL)
                slot = block + i % MPROC__BLOCK_SLOTS;
        }
        if (slot != NULL &&
            (used = dec_scalar(p + d.at, len - d.at, slot)) > 0) {
            d.at += used;
            list->u.c.items[i] = slot;
        } else if ((rc = dec_item(&d, slot, &list->u.c.items[i])) != 0) {
            list->u.c.items[i] = old;
            break;
        }
        /* The slot may be where old is: a scalar, nothing to free then. */
        if (old != NULL && old != list->u.c.items[i])
            mproc_value_free(old);
    }
    if (rc == 0 && d.at != len)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "message has %zu stray bytes after its value",
                              len - d.at);
    if (rc != 0) {
        while (k-- > 0)
            unfill(list, first + k);
        return rc;
    }
    *n = count;
    return 0;
}
