/*
 * The manager's protocol: its operations, and requests and replies as
 * values on the wire (see manager.h).
 *
 * The server decodes what any authenticated client sends, so a request is
 * checked whole before anything acts on it: the value decoder bounds its
 * size and depth, and here its shape must be that of its operation's row.
 * A request that fails the check is answered, not acted on.
 */
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

int mproc__mgr_request_encode(mproc__mgr_op_e op, int64_t id,
                              mproc_value_t *const *args, size_t nargs,
                              mproc__buf_t *out)
{
    /*
     * A list whose items are borrowed: built by hand around the caller's
     * values, and emptied before it is freed.
     */
    mproc_value_t *head[2 + MPROC__MGR_MAX_ARGS];
    mproc_value_t *msg, *opv = mproc_value_int((int64_t) op);
    mproc_value_t *idv = mproc_value_int(id);
    size_t i;
    int rc;
    if (nargs > MPROC__MGR_MAX_ARGS || opv == NULL || idv == NULL) {
        mproc_value_free(opv);
        mproc_value_free(idv);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    head[0] = opv;
    head[1] = idv;
    for (i = 0; i < nargs; i++)
        head[2 + i] = args[i];
    msg = mproc__value_list_borrowing(head, 2 + nargs);
    if (msg == NULL) {
        mproc_value_free(opv);
        mproc_value_free(idv);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    rc = mproc__value_encode(msg, out);
    mproc__value_list_unborrow(msg);
    mproc_value_free(opv);
    mproc_value_free(idv);
    return rc;
}

int mproc__mgr_reply_encode(int status, const mproc_value_t *payload,
                            mproc__buf_t *out)
{
    mproc_value_t *head[2], *msg, *st = mproc_value_int(status);
    mproc_value_t *nil = payload == NULL ? mproc_value_nil() : NULL;
    int rc;
    if (st == NULL || (payload == NULL && nil == NULL)) {
        mproc_value_free(st);
        mproc_value_free(nil);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    head[0] = st;
    head[1] = payload != NULL ? (mproc_value_t *) payload : nil;
    msg = mproc__value_list_borrowing(head, 2);
    rc = msg == NULL ? mproc__set_error(MPROC_ENOMEM, "out of memory")
                     : mproc__value_encode(msg, out);
    mproc__value_list_unborrow(msg);
    mproc_value_free(st);
    mproc_value_free(nil);
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
