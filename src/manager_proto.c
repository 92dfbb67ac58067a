/*
 * The manager's protocol: its operations, and requests and replies as
 * values on the wire (see manager.h).
 *
 * The server decodes what any authenticated client sends, so a request is
 * checked whole before anything acts on it: the value decoder bounds its
 * size and depth, and here its shape must be that of its operation's row.
 * A request that fails the check is answered, not acted on.
 */
#include <msgpack.h>
#include <stdio.h>
#include <string.h>

#include "manager.h"
#include "value_codec.h"

#define D MPROC__MGR_FOR_DICT
#define L MPROC__MGR_FOR_LIST
#define N MPROC__MGR_FOR_NAMESPACE
#define M MPROC__MGR_FOR_MANAGER

const mproc__mgr_op_info_t mproc__mgr_ops[MPROC__MGR_OP_END] = {
    {NULL, NULL, 0},
    {"hello", "", M},
    {"create", "iv", M},
    {"release", "i", M},
    {"incref", "i", M},
    {"export", "i", M},
    {"claim", "ii", M},
    {"register", "sv", M},
    {"lookup", "s", M},
    {"count", "", M},
    {"shutdown", "", M},
    {"join", "s", M},
    {"__len__", "", D | L},
    {"copy", "", D | L | N},
    {"clear", "", D | L},
    {"__contains__", "v", D | L | N},
    {"__getitem__", "v", D | N},
    {"get", "vv", D},
    {"__setitem__", "vv", D | N},
    {"__delitem__", "v", D | N},
    {"keys", "", D},
    {"values", "", D},
    {"items", "", D},
    {"pop", "v", D},
    {"pop", "vv", D},
    {"popitem", "", D},
    {"setdefault", "vv", D},
    {"update", "v", D},
    {"add", "vv", D | N},
    {"cas", "vvv", D | N},
    {"append", "v", L},
    {"extend", "v", L},
    {"insert", "iv", L},
    {"__getitem__", "i", L},
    {"__setitem__", "iv", L},
    {"__delitem__", "i", L},
    {"index", "v", L},
    {"count", "v", L},
    {"remove", "v", L},
    {"pop", "i", L},
    {"__getitem__", "ii", L},
    {"__setitem__", "iiv", L},
    {"__delitem__", "ii", L},
    {"reverse", "", L},
    {"sort", "b", L},
};

#undef D
#undef L
#undef N
#undef M

int mproc__mgr_kind_ok(int kind)
{
    return kind == MPROC_REF_DICT || kind == MPROC_REF_LIST ||
           kind == MPROC_REF_NAMESPACE;
}

const char *mproc__mgr_kind_name(int kind)
{
    switch (kind) {
    case MPROC_REF_DICT:
        return "dict";
    case MPROC_REF_LIST:
        return "list";
    case MPROC_REF_NAMESPACE:
        return "Namespace";
    default:
        return "?";
    }
}

static int corrupt(mproc__mgr_request_t *req, const char *why)
{
    /* @why may be the last error itself, which the sentence replaces. */
    char copy[256];
    snprintf(copy, sizeof copy, "%s", why);
    mproc_value_free(req->msg);
    memset(req, 0, sizeof *req);
    return mproc__set_error(MPROC_ECORRUPT, "malformed request: %s", copy);
}

int mproc__mgr_request_decode(const void *data, size_t len,
                              mproc__mgr_request_t *req)
{
    const mproc__mgr_op_info_t *row;
    const mproc_value_t *op, *id;
    size_t i, n;
    int rc;
    memset(req, 0, sizeof *req);
    rc = mproc__value_decode(data, len, &req->msg);
    if (rc != 0)
        return rc == MPROC_ENOMEM ? rc : corrupt(req, mproc_last_error());
    n = mproc_value_len(req->msg);
    op = mproc_value_at(req->msg, 0);
    id = mproc_value_at(req->msg, 1);
    if (mproc_value_type(req->msg) != MPROC_VALUE_LIST || n < 2)
        return corrupt(req, "not a list of an operation and an object");
    if (mproc_value_type(op) != MPROC_VALUE_INT ||
        mproc_value_as_int(op) <= 0 ||
        mproc_value_as_int(op) >= MPROC__MGR_OP_END)
        return corrupt(req, "no such operation");
    row = &mproc__mgr_ops[mproc_value_as_int(op)];
    if (mproc_value_type(id) != MPROC_VALUE_INT || mproc_value_as_int(id) < 0)
        return corrupt(req, "the object is not an id");
    if ((row->kinds == MPROC__MGR_FOR_MANAGER) != (mproc_value_as_int(id) == 0))
        return corrupt(req, "the manager's operations are for object 0 "
                            "alone, and only they are");
    if (n - 2 != strlen(row->shape))
        return corrupt(req, "the operation has another number of arguments");
    for (i = 0; i < n - 2; i++) {
        const mproc_value_t *a = mproc_value_at(req->msg, i + 2);
        mproc_value_type_e t = mproc_value_type(a);
        char want = row->shape[i];
        if ((want == 'i' && t != MPROC_VALUE_INT) ||
            (want == 'b' && t != MPROC_VALUE_BOOL) ||
            (want == 's' && (t != MPROC_VALUE_STR || mproc_value_len(a) == 0)))
            return corrupt(req, "an argument has the wrong type");
        /* The list owns its items; the request lends them out. */
        req->args[i] = (mproc_value_t *) a;
    }
    req->op = (mproc__mgr_op_e) mproc_value_as_int(op);
    req->id = mproc_value_as_int(id);
    req->nargs = n - 2;
    return 0;
}

mproc_value_t *mproc__mgr_request_take(mproc__mgr_request_t *req, size_t i)
{
    mproc_value_t *v, *nil;
    if (i >= req->nargs || req->args[i] == NULL)
        return NULL;
    nil = mproc_value_nil();
    if (nil == NULL)
        return mproc_value_copy(req->args[i]);
    /* Swap a nil in, so that freeing the list does not free the item. */
    v = mproc__value_list_swap(req->msg, i + 2, nil);
    req->args[i] = NULL;
    return v;
}

void mproc__mgr_request_free(mproc__mgr_request_t *req)
{
    mproc_value_free(req->msg);
    memset(req, 0, sizeof *req);
}

static int buf_write(void *data, const char *p, size_t n)
{
    return mproc__buf_append(data, p, n) == 0 ? 0 : -1;
}

/*
 * The head of a message, the array of @n items and its first integer,
 * packed straight onto @out: every request and reply is one, and making
 * values for them only to encode them costs more than the rest.
 */
static int pack_head(mproc__buf_t *out, size_t n, int64_t first)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, out, buf_write);
    if (msgpack_pack_array(&pk, n) != 0 || msgpack_pack_int64(&pk, first) != 0)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    return 0;
}

int mproc__mgr_request_encode(mproc__mgr_op_e op, int64_t id,
                              mproc_value_t *const *args, size_t nargs,
                              mproc__buf_t *out)
{
    size_t start = out->len, i;
    msgpack_packer pk;
    int rc = pack_head(out, 2 + nargs, (int64_t) op);
    msgpack_packer_init(&pk, out, buf_write);
    if (rc == 0 && msgpack_pack_int64(&pk, id) != 0)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    for (i = 0; rc == 0 && i < nargs; i++)
        rc = mproc__value_encode(args[i], out);
    if (rc != 0)
        out->len = start;
    return rc;
}

int mproc__mgr_reply_encode(int status, const mproc_value_t *payload,
                            mproc__buf_t *out)
{
    size_t start = out->len;
    msgpack_packer pk;
    int rc = pack_head(out, 2, status);
    msgpack_packer_init(&pk, out, buf_write);
    if (rc == 0)
        rc = payload != NULL ? mproc__value_encode(payload, out)
             : msgpack_pack_nil(&pk) != 0
                 ? mproc__set_error(MPROC_ENOMEM, "out of memory")
                 : 0;
    if (rc != 0)
        out->len = start;
    return rc;
}

int mproc__mgr_reply_encode_raw(int status, const mproc__buf_t *payload,
                                mproc__buf_t *out)
{
    size_t start = out->len;
    int rc = pack_head(out, 2, status);
    if (rc == 0 && mproc__buf_append(out, payload->data, payload->len) != 0)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (rc != 0)
        out->len = start;
    return rc;
}

int mproc__mgr_reply_decode(const void *data, size_t len, int *status,
                            mproc_value_t **payload)
{
    mproc_value_t *msg;
    const mproc_value_t *st;
    int rc = mproc__value_decode(data, len, &msg);
    *payload = NULL;
    if (rc != 0)
        return rc;
    st = mproc_value_at(msg, 0);
    if (mproc_value_type(msg) != MPROC_VALUE_LIST ||
        mproc_value_len(msg) != 2 || mproc_value_type(st) != MPROC_VALUE_INT ||
        mproc_value_as_int(st) < -1000 || mproc_value_as_int(st) > INT32_MAX ||
        (mproc_value_as_int(st) < 0 &&
         mproc_value_type(mproc_value_at(msg, 1)) != MPROC_VALUE_STR)) {
        mproc_value_free(msg);
        return mproc__set_error(MPROC_ECORRUPT,
                                "the manager's reply is malformed");
    }
    *status = (int) mproc_value_as_int(st);
    *payload = mproc__value_list_swap(msg, 1, mproc_value_nil());
    mproc_value_free(msg);
    if (*payload == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    return 0;
}

void mproc__mgr_spin_for(mproc_conn_t *c)
{
    double deadline = mproc__os_monotonic() + MPROC__MGR_SPIN_SEC;
    while (mproc_conn_poll(c, 0) == MPROC_ETIMEDOUT &&
           mproc__os_monotonic() < deadline)
        mproc__os_yield();
}
