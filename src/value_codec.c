/*
 * Values on the wire: msgpack encoding and decoding.
 *
 * A string is a msgpack str, a byte string a msgpack bin; integers use
 * msgpack's smallest form. Decoding validates everything: a frame that
 * passed its checksum can still come from a buggy or hostile peer.
 */
#include <msgpack.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"
#include "value_internal.h"

static int buf_write(void *data, const char *p, size_t n)
{
    return mproc__buf_append(data, p, n) == 0 ? 0 : -1;
}

static int pack(msgpack_packer *pk, const mproc_value_t *v)
{
    size_t i;
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
        for (i = 0; rc == 0 && i < v->u.c.len; i++)
            rc = pack(pk, v->u.c.items[i]);
        return rc;
    case MPROC_VALUE_MAP:
        rc = msgpack_pack_map(pk, v->u.c.len / 2);
        for (i = 0; rc == 0 && i < v->u.c.len; i++)
            rc = pack(pk, v->u.c.items[i]);
        return rc;
    }
    return -1;
}

int mproc__value_encode(const mproc_value_t *v, mproc__buf_t *out)
{
    msgpack_packer pk;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value to encode");
    msgpack_packer_init(&pk, out, buf_write);
    if (pack(&pk, v) != 0)
        return mproc__set_error(MPROC_ENOMEM,
                                "cannot encode value: out of memory or a "
                                "string over 4 GiB");
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
    msgpack_unpacked up;
    size_t off = 0;
    msgpack_unpack_return ur;
    int rc;

    *out = NULL;
    msgpack_unpacked_init(&up);
    ur = msgpack_unpack_next(&up, data, len, &off);
    if (ur == MSGPACK_UNPACK_NOMEM_ERROR)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory decoding a value");
    else if (ur != MSGPACK_UNPACK_SUCCESS)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "message is not a valid msgpack value");
    else if (off != len)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "message has %zu stray bytes after its value",
                              len - off);
    else
        rc = convert(&up.data, out);
    msgpack_unpacked_destroy(&up);
    return rc;
}
