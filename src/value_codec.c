/*
 * Values on the wire: msgpack encoding and decoding.
 *
 * A string is a msgpack str, a byte string a msgpack bin; integers use
 * msgpack's smallest form. A record is the msgpack extension type 1 whose
 * data is the array [type name, [fields...]]. A reference is the extension
 * type 2 whose data is one byte, its kind, and the msgpack array of its
 * fields. Decoding validates everything: a
 * frame that passed its checksum can still come from a buggy or hostile peer.
 */
#include <msgpack.h>
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

static int buf_write(void *data, const char *p, size_t n)
{
    return mproc__buf_append(data, p, n) == 0 ? 0 : -1;
}

static int pack(msgpack_packer *pk, const mproc_value_t *v);

static int pack_items(msgpack_packer *pk, const mproc_value_t *v)
{
    size_t i;
    int rc = 0;
    for (i = 0; rc == 0 && i < v->u.c.len; i++)
        rc = pack(pk, v->u.c.items[i]);
    return rc;
}

/* A record: its type must be known here, or the receiver could not be. */
static int pack_record(msgpack_packer *pk, const mproc_value_t *v)
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
    msgpack_packer_init(&ipk, &inner, buf_write);
    rc = msgpack_pack_array(&ipk, 2);
    if (rc == 0)
        rc = msgpack_pack_str(&ipk, tlen);
    if (rc == 0)
        rc = msgpack_pack_str_body(&ipk, v->u.c.type, tlen);
    if (rc == 0)
        rc = msgpack_pack_array(&ipk, v->u.c.len);
    if (rc == 0)
        rc = pack_items(&ipk, v);
    if (rc == 0)
        rc = msgpack_pack_ext(pk, inner.len, EXT_RECORD);
    if (rc == 0)
        rc = msgpack_pack_ext_body(pk, inner.data, inner.len);
    mproc__buf_free(&inner);
    return rc;
}

/* A reference: its kind byte, then its fields as a msgpack array. */
static int pack_ref(msgpack_packer *pk, const mproc_value_t *v)
{
    mproc__buf_t inner = {0};
    msgpack_packer ipk;
    unsigned char kind = (unsigned char) v->u.r.kind;
    int rc = mproc__buf_append(&inner, &kind, 1) == 0 ? 0 : -1;
    msgpack_packer_init(&ipk, &inner, buf_write);
    if (rc == 0)
        rc = pack(&ipk, v->u.r.fields);
    if (rc == 0)
        rc = msgpack_pack_ext(pk, inner.len, EXT_REF);
    if (rc == 0)
        rc = msgpack_pack_ext_body(pk, inner.data, inner.len);
    mproc__buf_free(&inner);
    return rc;
}

static int pack(msgpack_packer *pk, const mproc_value_t *v)
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
        rc = msgpack_pack_array(pk, v->u.c.len);
        return rc ? rc : pack_items(pk, v);
    case MPROC_VALUE_MAP:
        rc = msgpack_pack_map(pk, v->u.c.len / 2);
        return rc ? rc : pack_items(pk, v);
    case MPROC_VALUE_RECORD:
        return pack_record(pk, v);
    case MPROC_VALUE_REF:
        return pack_ref(pk, v);
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
    rc = pack(&pk, v);
    if (rc != 0)
        out->len = start; /* nothing half-encoded stays behind */
    if (rc == PACK_UNREGISTERED)
        return MPROC_ENOTREG;
    if (rc != 0)
        return mproc__set_error(MPROC_ENOMEM,
                                "cannot encode value: out of memory or a "
                                "string over 4 GiB");
    return 0;
}

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
    if (len < 2 || p[0] == MPROC_REF_NONE || p[0] > MPROC_REF_CONN)
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
    rc = mproc__value_decode(o->via.ext.ptr, o->via.ext.size, &inner);
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
            if (mproc_value_map_set(v, k, val) != 0) {
                mproc_value_free(v);
                v = NULL;
            }
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

int mproc__value_decode(const void *data, size_t len, mproc_value_t **out)
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
