/*
 * The manager's server side: each input is a run of requests, each a
 * 2-byte little-endian length and that many bytes (the last takes what is
 * left), served in turn by three connections of one fresh store that
 * already holds a dict (object 1), a list (2) and a Namespace (3): two
 * clients, the third connection joined to the first one's session (as a
 * second thread of its process). Whatever a client sends, every request
 * gets a reply that decodes, a refused one with a sentence; the store
 * never crashes or leaks, and what the clients held goes with them.
 */
#include <string.h>

#include "fuzz.h"
#include "manager.h"

MPROC_FUZZ_INIT()

#define STORE_ID "00112233aabbccdd"

/* Serves the @n bytes at @p for @s; the reply must be a reply. */
static int serve(mproc__mgr_session_t **s, const void *p, size_t n,
                 mproc_value_t **out)
{
    mproc__buf_t reply = {0};
    mproc_value_t *payload = NULL;
    int status = 0, rc = mproc__mgr_serve(s, p, n, &reply);
    FUZZ_ASSERT(rc == 0 || rc == 1);
    FUZZ_ASSERT(
        mproc__mgr_reply_decode(reply.data, reply.len, &status, &payload) == 0);
    FUZZ_ASSERT(status >= 0 || mproc_value_type(payload) == MPROC_VALUE_STR);
    if (out != NULL && status >= 0)
        *out = payload;
    else
        mproc_value_free(payload);
    mproc__buf_free(&reply);
    return rc;
}

/* Sends the request [@op, 0, @arg (taken over, or none)] on *@s. */
static mproc_value_t *ask(mproc__mgr_session_t **s, mproc__mgr_op_e op,
                          mproc_value_t *arg)
{
    mproc__buf_t msg = {0};
    mproc_value_t *got = NULL;
    FUZZ_ASSERT(
        mproc__mgr_request_encode(op, 0, &arg, arg != NULL ? 1 : 0, &msg) == 0);
    mproc_value_free(arg);
    serve(s, msg.data, msg.len, &got);
    mproc__buf_free(&msg);
    return got;
}

static void create(mproc__mgr_session_t **s, int kind)
{
    mproc_value_t *args[2];
    mproc__buf_t msg = {0};
    args[0] = mproc_value_int(kind);
    args[1] = mproc_value_nil();
    FUZZ_ASSERT(
        mproc__mgr_request_encode(MPROC__MGR_CREATE, 0, args, 2, &msg) == 0);
    serve(s, msg.data, msg.len, NULL);
    mproc_value_free(args[0]);
    mproc_value_free(args[1]);
    mproc__buf_free(&msg);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mproc__mgr_store_t *store = NULL;
    mproc__mgr_session_t *s[3] = {NULL, NULL, NULL};
    mproc__mgr_request_t req;
    mproc_value_t *hello, *joined;
    size_t at = 0, k = 0;
    FUZZ_ASSERT(mproc__mgr_store_create(&store, STORE_ID, "Manager-1", 1) == 0);
    FUZZ_ASSERT(mproc__mgr_session_open(store, &s[0]) == 0);
    FUZZ_ASSERT(mproc__mgr_session_open(store, &s[1]) == 0);
    FUZZ_ASSERT(mproc__mgr_session_open(store, &s[2]) == 0);
    create(&s[0], MPROC_REF_DICT);
    create(&s[0], MPROC_REF_LIST);
    create(&s[1], MPROC_REF_NAMESPACE);
    hello = ask(&s[0], MPROC__MGR_HELLO, NULL);
    FUZZ_ASSERT(mproc_value_len(hello) == 4);
    joined = ask(&s[2], MPROC__MGR_JOIN,
                 mproc_value_str(mproc_value_as_str(mproc_value_at(hello, 3))));
    FUZZ_ASSERT(joined != NULL && s[2] == s[0]);
    mproc_value_free(hello);
    mproc_value_free(joined);
    while (at < size && k < 32) {
        size_t n = size - at;
        if (n >= 2) {
            size_t want = (size_t) data[at] | (size_t) data[at + 1] << 8;
            at += 2;
            n = size - at;
            if (want < n)
                n = want;
        } else {
            at = size;
            n = 0;
        }
        /* The decoder alone: a request decodes whole or not at all. */
        if (mproc__mgr_request_decode(data + at, n, &req) == 0) {
            FUZZ_ASSERT(req.op > 0 && req.op < MPROC__MGR_OP_END);
            FUZZ_ASSERT(req.nargs <= MPROC__MGR_MAX_ARGS);
            mproc__mgr_request_free(&req);
        } else {
            FUZZ_ASSERT(req.msg == NULL);
        }
        serve(&s[k % 3], data + at, n, NULL);
        at += n;
        k++;
    }
    mproc__mgr_session_close(s[0]);
    mproc__mgr_session_close(s[1]);
    mproc__mgr_session_close(s[2]);
    mproc__mgr_store_destroy(store);
    return 0;
}
