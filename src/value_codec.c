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
 * that remain and the nesting must stay within the limit, before msgpack
 * allocates anything by a count or the converter recurses.
 */
#include <msgpack.h>
#include <msgpack/unpack_define.h>
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
 * msgpack's unpacker holds at most MSGPACK_EMBED_STACK_SIZE open arrays and
 * maps per call and reports more as out of memory. The scan keeps every
 * message within MPROC_VALUE_MAX_DEPTH, so that limit must not be larger.
 */
typedef char mproc__depth_fits_msgpack
    [MPROC_VALUE_MAX_DEPTH <= MSGPACK_EMBED_STACK_SIZE ? 1 : -1];

static int buf_write(void *data, const char *p, size_t n)
{
    return mproc__buf_append(data, p, n) == 0 ? 0 : -1;
}

static int pack(msgpack_packer *pk, const mproc_value_t *v, int depth);

/* The items of a container whose own levels make @depth. */
static int pack_items(msgpack_packer *pk, const mproc_value_t *v, int depth)
{
    size_t i;
    int rc = 0;
    for (i = 0; rc == 0 && i < v->u.c.len; i++)
        rc = pack(pk, v->u.c.items[i], depth);
    return rc;
}

/*
 * Packs the bytes of @inner as an extension of @type if @rc is 0 so far,
 * and frees them either way; the status.
 */
static int pack_ext(msgpack_packer *pk, int rc, mproc__buf_t *inner,
                    int8_t type)
{
    if (rc == 0)
        rc = msgpack_pack_ext(pk, inner->len, type);
    if (rc == 0)
        rc = msgpack_pack_ext_body(pk, inner->data, inner->len);
    mproc__buf_free(inner);
    return rc;
}

/* A record: its type must be known here, or the receiver could not be. */
static int pack_record(msgpack_packer *pk, const mproc_value_t *v, int depth)
{
    mproc__buf_t inner = {0};
    msgpack_packer ipk;
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
    msgpack_packer_init(&ipk, &inner, buf_write);
    rc = msgpack_pack_array(&ipk, 2);
    if (rc == 0)
        rc = msgpack_pack_str(&ipk, tlen);
    if (rc == 0)
        rc = msgpack_pack_str_body(&ipk, v->u.c.type, tlen);
    if (rc == 0)
        rc = msgpack_pack_array(&ipk, v->u.c.len);
    if (rc == 0)
        rc = pack_items(&ipk, v, depth + 2);
    return pack_ext(pk, rc, &inner, EXT_RECORD);
}

/*
 * A reference: its kind byte, then its fields as a msgpack array, which
 * counts one level like any list.
 */
static int pack_ref(msgpack_packer *pk, const mproc_value_t *v, int depth)
{
    mproc__buf_t inner = {0};
    msgpack_packer ipk;
    unsigned char kind = (unsigned char) v->u.r.kind;
    int rc = mproc__buf_append(&inner, &kind, 1) == 0 ? 0 : -1;
    msgpack_packer_init(&ipk, &inner, buf_write);
    if (rc == 0)
        rc = pack(&ipk, v->u.r.fields, depth);
    return pack_ext(pk, rc, &inner, EXT_REF);
}

/* @v inside containers whose levels make @depth. */
static int pack(msgpack_packer *pk, const mproc_value_t *v, int depth)
{
    int rc = 0;
    switch (v->type) {
    case MPROC_VALUE_NIL:
        return msgpack_pack_nil(pk);
    case MPROC_VALUE_BOOL:
        return v->u.b ? msgpack_pack_true(pk) : msgpack_pack_false(pk);
    case MPROC_VALUE_INT:
        return msgpack_pack_int64(pk, v->u.i);
    case MPROC_VALUE_FLOAT:
        return msgpack_pack_double(pk, v->u.f);
    case MPROC_VALUE_STR:
        if (v->u.s.len > UINT32_MAX)
            return -1;
        rc = msgpack_pack_str(pk, v->u.s.len);
        return rc ? rc : msgpack_pack_str_body(pk, v->u.s.ptr, v->u.s.len);
    case MPROC_VALUE_BYTES:
        if (v->u.s.len > UINT32_MAX)
            return -1;
        rc = msgpack_pack_bin(pk, v->u.s.len);
        return rc ? rc : msgpack_pack_bin_body(pk, v->u.s.ptr, v->u.s.len);
    case MPROC_VALUE_LIST:
        if (depth + 1 > MPROC_VALUE_MAX_DEPTH)
            return PACK_TOO_DEEP;
        rc = msgpack_pack_array(pk, v->u.c.len);
        return rc ? rc : pack_items(pk, v, depth + 1);
    case MPROC_VALUE_MAP:
        if (depth + 1 > MPROC_VALUE_MAX_DEPTH)
            return PACK_TOO_DEEP;
        rc = msgpack_pack_map(pk, v->u.c.len / 2);
        return rc ? rc : pack_items(pk, v, depth + 1);
    case MPROC_VALUE_RECORD:
        return pack_record(pk, v, depth);
    case MPROC_VALUE_REF:
        return pack_ref(pk, v, depth);
    }
    return -1;
}

int mproc__value_encode(const mproc_value_t *v, mproc__buf_t *out)
{
    msgpack_packer pk;
    size_t start = out->len;
    int rc;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value to encode");
    msgpack_packer_init(&pk, out, buf_write);
    rc = pack(&pk, v, 0);
    if (rc != 0)
        out->len = start; /* nothing half-encoded stays behind */
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
        /* One-byte items, the commonest kind, need no call. */
        b = at < len ? p[at] : 0xc1;
        if (b <= 0x7f || b >= 0xe0 || b == 0xc0 || b == 0xc2 || b == 0xc3) {
            at++;
            continue;
        }
        rc = scan(p, len, &at, depth + 1);
        if (rc != 0)
            return rc;
    }
    *off = at;
    return 0;
}

/* ---- conversion ------------------------------------------------------- */

static int unpack_value(const void *data, size_t len, mproc_value_t **out);
static int convert(const msgpack_object *o, mproc_value_t **out);

/*
 * A reference: a known kind, then exactly one array of scalars of the
 * kind's shape. The fields are checked before they are converted, so no
 * payload, however hostile, makes decoding recurse.
 */
static int convert_ref(const msgpack_object *o, mproc_value_t **out)
{
    const unsigned char *p = (const unsigned char *) o->via.ext.ptr;
    size_t len = o->via.ext.size, off = 0;
    msgpack_zone zone;
    msgpack_object fo;
    msgpack_unpack_return ur;
    mproc_value_t *fields = NULL;
    int rc = 0;
    uint32_t i;
    if (len < 2 || p[0] == MPROC_REF_NONE || p[0] > MPROC__REF_LAST)
        return mproc__set_error(MPROC_ECORRUPT,
                                "malformed reference in message");
    if (!msgpack_zone_init(&zone, 256))
        return mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    ur = msgpack_unpack((const char *) p + 1, len - 1, &off, &zone, &fo);
    if (ur != MSGPACK_UNPACK_SUCCESS || fo.type != MSGPACK_OBJECT_ARRAY)
        rc = ur == MSGPACK_UNPACK_NOMEM_ERROR ? MPROC_ENOMEM : MPROC_ECORRUPT;
    for (i = 0; rc == 0 && i < fo.via.array.size; i++) {
        msgpack_object_type t = fo.via.array.ptr[i].type;
        if (t != MSGPACK_OBJECT_STR && t != MSGPACK_OBJECT_BOOLEAN &&
            t != MSGPACK_OBJECT_POSITIVE_INTEGER &&
            t != MSGPACK_OBJECT_NEGATIVE_INTEGER)
            rc = MPROC_ECORRUPT;
    }
    if (rc == 0)
        rc = convert(&fo, &fields);
    msgpack_zone_destroy(&zone);
    if (rc == 0 && mproc__ref_check(p[0], fields) != 0)
        rc = MPROC_ECORRUPT;
    if (rc == 0) {
        *out = mproc__ref_new((mproc_ref_kind_e) p[0], fields);
        return *out != NULL ? 0 : MPROC_ENOMEM;
    }
    mproc_value_free(fields);
    if (rc == MPROC_ENOMEM)
        return mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    return mproc__set_error(MPROC_ECORRUPT, "malformed reference in message");
}

/* A record arrives whatever its type; calling it needs the type here. */
static int convert_record(const msgpack_object *o, mproc_value_t **out)
{
    mproc_value_t *inner, *rec;
    const mproc_value_t *type, *fields;
    int rc;
    if (o->via.ext.type == EXT_REF)
        return convert_ref(o, out);
    if (o->via.ext.type != EXT_RECORD)
        return mproc__set_error(MPROC_ECORRUPT,
                                "message holds an unknown extension type %d",
                                (int) o->via.ext.type);
    rc = unpack_value(o->via.ext.ptr, o->via.ext.size, &inner);
    if (rc != 0)
        return rc;
    type = mproc_value_at(inner, 0);
    fields = mproc_value_at(inner, 1);
    if (mproc_value_len(inner) != 2 ||
        mproc_value_type(type) != MPROC_VALUE_STR ||
        mproc_value_type(fields) != MPROC_VALUE_LIST) {
        mproc_value_free(inner);
        return mproc__set_error(MPROC_ECORRUPT, "malformed record in message");
    }
    rec =
        mproc_value_record(mproc_value_as_str(type), mproc_value_copy(fields));
    mproc_value_free(inner);
    if (rec == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    *out = rec;
    return 0;
}

static int convert(const msgpack_object *o, mproc_value_t **out)
{
    mproc_value_t *v = NULL;
    uint32_t i;
    switch (o->type) {
    case MSGPACK_OBJECT_NIL:
        v = mproc_value_nil();
        break;
    case MSGPACK_OBJECT_BOOLEAN:
        v = mproc_value_bool(o->via.boolean);
        break;
    case MSGPACK_OBJECT_POSITIVE_INTEGER:
        if (o->via.u64 > (uint64_t) INT64_MAX)
            return mproc__set_error(MPROC_ECORRUPT,
                                    "integer out of range in message");
        v = mproc_value_int((int64_t) o->via.u64);
        break;
    case MSGPACK_OBJECT_NEGATIVE_INTEGER:
        v = mproc_value_int(o->via.i64);
        break;
    case MSGPACK_OBJECT_FLOAT32:
    case MSGPACK_OBJECT_FLOAT64:
        v = mproc_value_float(o->via.f64);
        break;
    case MSGPACK_OBJECT_STR:
        v = mproc_value_strn(o->via.str.ptr, o->via.str.size);
        break;
    case MSGPACK_OBJECT_BIN:
        v = mproc_value_bytes(o->via.bin.ptr, o->via.bin.size);
        break;
    case MSGPACK_OBJECT_ARRAY:
        v = mproc_value_list();
        /* The scan bounded the count by the message's size. */
        if (v != NULL && mproc__value_reserve(v, o->via.array.size) != 0) {
            mproc_value_free(v);
            v = NULL;
        }
        for (i = 0; v != NULL && i < o->via.array.size; i++) {
            mproc_value_t *item;
            int rc = convert(&o->via.array.ptr[i], &item);
            if (rc != 0) {
                mproc_value_free(v);
                return rc;
            }
            if (mproc_value_append(v, item) != 0) {
                mproc_value_free(v);
                v = NULL;
            }
        }
        break;
    case MSGPACK_OBJECT_MAP:
        v = mproc_value_map();
        if (v != NULL && mproc__value_reserve(v, o->via.map.size) != 0) {
            mproc_value_free(v);
            v = NULL;
        }
        for (i = 0; v != NULL && i < o->via.map.size; i++) {
            mproc_value_t *k, *val;
            int rc = convert(&o->via.map.ptr[i].key, &k);
            if (rc == 0) {
                rc = convert(&o->via.map.ptr[i].val, &val);
                if (rc != 0)
                    mproc_value_free(k);
            }
            if (rc != 0) {
                mproc_value_free(v);
                return rc;
            }
            /* Appended as they come; equal keys are merged after. */
            if (mproc__value_map_append(v, k, val) != 0) {
                mproc_value_free(v);
                v = NULL;
            }
        }
        if (v != NULL && mproc__value_map_merge_equal_keys(v) != 0) {
            mproc_value_free(v);
            v = NULL;
        }
        break;
    case MSGPACK_OBJECT_EXT:
        return convert_record(o, out);
    default:
        return mproc__set_error(MPROC_ECORRUPT,
                                "message holds an unknown msgpack type %d",
                                (int) o->type);
    }
    if (v == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    *out = v;
    return 0;
}

/* Decodes a message that scan() has passed (or a record's body in one). */
static int unpack_value(const void *data, size_t len, mproc_value_t **out)
{
    msgpack_zone zone;
    msgpack_object obj;
    size_t off = 0;
    msgpack_unpack_return ur;
    int rc;

    *out = NULL;
    /*
     * A small zone on the stack, not msgpack_unpacked's fresh 8 KiB one:
     * the objects live only until they are converted, and a queue decodes
     * millions of small messages.
     */
    if (!msgpack_zone_init(&zone, 512))
        return mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    ur = msgpack_unpack(data, len, &off, &zone, &obj);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    else if (ur == MSGPACK_UNPACK_EXTRA_BYTES)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "message has %zu stray bytes after its value",
                              len - off);
    else if (ur != MSGPACK_UNPACK_SUCCESS)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "message is not a valid msgpack value");
    else
        rc = convert(&obj, out);
    msgpack_zone_destroy(&zone);
    return rc;
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

int mproc__value_decode(const void *data, size_t len, mproc_value_t **out)
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
    return unpack_value(data, len, out);
}
