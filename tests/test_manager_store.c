/*
 * The manager's object store and dispatcher, without processes: every
 * operation on a dict, a list and a Namespace as requests in the wire
 * format, the statuses and sentences of their failures, references and
 * holds and when objects are freed, malformed requests, and many threads
 * updating one key.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <apr_thread_proc.h>

#include "harness.h"
#include "manager.h"
#include "mproc_private.h"

#define STORE_ID "0123456789abcdef"

static mproc__mgr_store_t *store;
/* The sentence of the last failed request. */
static char sentence[512];

static mproc__mgr_session_t *session(void)
{
    mproc__mgr_session_t *s = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc__mgr_session_open(store, &s), 0);
    return s;
}

/* Sends the @n bytes at @data as a request; its status and payload. */
static int raw(mproc__mgr_session_t *s, const void *data, size_t n,
               mproc_value_t **out)
{
    mproc__buf_t reply = {0};
    mproc_value_t *payload = NULL;
    int status = -1000, rc;
    rc = mproc__mgr_serve(&s, data, n, &reply);
    CU_ASSERT_TRUE(rc == 0 || rc == 1);
    CU_ASSERT_EQUAL_FATAL(
        mproc__mgr_reply_decode(reply.data, reply.len, &status, &payload), 0);
    mproc__buf_free(&reply);
    sentence[0] = '\0';
    if (status < 0) {
        snprintf(sentence, sizeof sentence, "%s", mproc_value_as_str(payload));
        mproc_value_free(payload);
        payload = NULL;
    }
    if (out != NULL)
        *out = payload;
    else
        mproc_value_free(payload);
    return status;
}

/*
 * Serves [@op, @id, the @n values that follow] (taken over) in @s: the
 * reply's status, and its payload in *@out (NULL: freed).
 */
static int req(mproc__mgr_session_t *s, mproc_value_t **out, int op, int64_t id,
               int n, ...)
{
    mproc_value_t *args[MPROC__MGR_MAX_ARGS];
    mproc__buf_t msg = {0};
    va_list ap;
    int i, status;
    va_start(ap, n);
    for (i = 0; i < n; i++)
        args[i] = va_arg(ap, mproc_value_t *);
    va_end(ap);
    for (i = 0; i < n; i++)
        CU_ASSERT_PTR_NOT_NULL_FATAL(args[i]);
    CU_ASSERT_EQUAL_FATAL(mproc__mgr_request_encode((mproc__mgr_op_e) op, id,
                                                    args, (size_t) n, &msg),
                          0);
    for (i = 0; i < n; i++)
        mproc_value_free(args[i]);
    status = raw(s, msg.data, msg.len, out);
    mproc__buf_free(&msg);
    return status;
}

static mproc_value_t *I(int64_t i)
{
    return mproc_value_int(i);
}

static mproc_value_t *S(const char *s)
{
    return mproc_value_str(s);
}

/* A new object of @kind (empty: @init NULL); its id. */
static int64_t create(mproc__mgr_session_t *s, int kind, mproc_value_t *init)
{
    mproc_value_t *id = NULL;
    int rc = req(s, &id, MPROC__MGR_CREATE, 0, 2, I(kind),
                 init != NULL ? init : mproc_value_nil());
    int64_t n;
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    n = mproc_value_as_int(id);
    mproc_value_free(id);
    return n;
}

/* A reference to object @id of @kind with hold @hold, as a client makes. */
static mproc_value_t *ref(int kind, int64_t id, int64_t hold)
{
    return mproc__ref_new((mproc_ref_kind_e) kind,
                          mproc_value_list_of(5, S("somewhere"), S(STORE_ID),
                                              I(id), I(hold), S("")));
}

/* repr() of @v, freed with the next call. */
static const char *show(const mproc_value_t *v)
{
    static char *last;
    free(last);
    last = mproc_value_repr(v);
    return last != NULL ? last : "?";
}

/* The repr of object @id's copy(). */
static const char *contents(mproc__mgr_session_t *s, int64_t id)
{
    mproc_value_t *v = NULL;
    const char *r;
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_COPY, id, 0), 0);
    r = show(v);
    mproc_value_free(v);
    return r;
}

static int64_t count_objects(void)
{
    return (int64_t) mproc__mgr_store_count(store);
}

static void setup(void)
{
    CU_ASSERT_EQUAL_FATAL(
        mproc__mgr_store_create(&store, STORE_ID, "Manager-1", 1234), 0);
}

static void teardown(void)
{
    mproc__mgr_store_destroy(store);
    store = NULL;
}

/* ---- dicts ------------------------------------------------------------ */

static void test_dict_operations(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL, *k = NULL;
    int64_t d;
    setup();
    s = session();
    d = create(s, MPROC_REF_DICT, NULL);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, S("a"), I(1)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, I(2), S("two")), 0);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, d, 1, S("a")), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "1");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_GET, d, 1, S("zz")),
                    MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(sentence, "KeyError: 'zz'");
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET_DEFAULT, d, 2, S("zz"), I(9)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "9");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, d, 1, I(2)), 1);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, d, 1, I(3)), 0);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_LEN, d, 0), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 2);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_KEYS, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "['a', 2]");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_VALUES, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[1, 'two']");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_ITEMS, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[['a', 1], [2, 'two']]");
    mproc_value_free(v);
    CU_ASSERT_STRING_EQUAL(contents(s, d), "{'a': 1, 2: 'two'}");

    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_DELETE, d, 1, S("a")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_DELETE, d, 1, S("a")),
                    MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(sentence, "KeyError: 'a'");
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_POP, d, 1, I(2)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "'two'");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_POP, d, 1, I(2)), MPROC_ENOTFOUND);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_POP_DEFAULT, d, 2, I(2), S("none")),
                    0);
    CU_ASSERT_STRING_EQUAL(show(v), "'none'");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_POPITEM, d, 0), MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(sentence,
                           "KeyError: 'popitem(): dictionary is empty'");

    /* setdefault stores only what is missing; update takes both forms. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_SETDEFAULT, d, 2, S("x"), I(1)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "1");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_SETDEFAULT, d, 2, S("x"), I(2)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "1");
    mproc_value_free(v);
    k = mproc_value_map();
    mproc_value_map_set(k, S("y"), I(2));
    mproc_value_map_set(k, S("x"), I(10));
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_UPDATE, d, 1, k), 0);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_UPDATE, d, 1,
            mproc_value_list_of(2, mproc_value_list_of(2, S("z"), I(3)),
                                mproc_value_list_of(2, S("y"), I(20)))),
        0);
    CU_ASSERT_STRING_EQUAL(contents(s, d), "{'x': 10, 'y': 20, 'z': 3}");
    /* popitem takes the last pair inserted. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_POPITEM, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "['z', 3]");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CLEAR, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, d), "{}");
    mproc__mgr_session_close(s);
    CU_ASSERT_EQUAL(count_objects(), 0);
    teardown();
}

static void test_dict_keys_follow_python(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    int64_t d;
    setup();
    s = session();
    d = create(s, MPROC_REF_DICT, NULL);
    /* 1, 1.0 and True are one key, which keeps the first spelling. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, I(1), S("int")), 0);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, d, 2, mproc_value_float(1.0), S("float")),
        0);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, d, 2, mproc_value_bool(1), S("bool")), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, d), "{1: 'bool'}");
    /* A string and a byte string of the same bytes are two keys. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, S("k"), I(1)), 0);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, d, 2, mproc_value_bytes("k", 1), I(2)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, mproc_value_nil(), I(3)),
                    0);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, d, 2, mproc_value_float(2.5), I(4)), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, d),
                           "{1: 'bool', 'k': 1, b'k': 2, None: 3, 2.5: 4}");
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, d, 1, mproc_value_float(2.5)),
                    0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 4);
    mproc_value_free(v);
    /* Containers are not keys, and a failed update stores nothing. */
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, d, 2, mproc_value_list(), I(1)),
        MPROC_ETYPE);
    CU_ASSERT_STRING_EQUAL(sentence, "unhashable type: 'list'");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, d, 1, mproc_value_map()),
                    MPROC_ETYPE);
    CU_ASSERT_STRING_EQUAL(sentence, "unhashable type: 'dict'");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_UPDATE, d, 1,
                        mproc_value_list_of(
                            2, mproc_value_list_of(2, S("new"), I(1)),
                            mproc_value_list_of(2, mproc_value_list(), I(2)))),
                    MPROC_ETYPE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, d, 1, S("new")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_UPDATE, d, 1, I(3)), MPROC_ETYPE);
    CU_ASSERT_STRING_EQUAL(sentence, "'int' object is not iterable");
    mproc__mgr_session_close(s);
    teardown();
}

static void test_dict_keeps_order_through_many_changes(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    int64_t d, i, expect = 0;
    setup();
    s = session();
    d = create(s, MPROC_REF_DICT, NULL);
    for (i = 0; i < 5000; i++)
        CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, I(i), I(i * 2)), 0);
    /* Every odd key goes, then comes back at the end. */
    for (i = 1; i < 5000; i += 2)
        CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_DELETE, d, 1, I(i)), 0);
    for (i = 1; i < 5000; i += 2)
        CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, I(i), I(-i)), 0);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_KEYS, d, 0), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_value_len(v), 5000);
    for (i = 0; i < 5000; i++) {
        int64_t want = i < 2500 ? 2 * i : 2 * (i - 2500) + 1;
        if (mproc_value_as_int(mproc_value_at(v, (size_t) i)) != want)
            expect = -1;
    }
    CU_ASSERT_EQUAL(expect, 0);
    mproc_value_free(v);
    for (i = 0; i < 5000; i++) {
        CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, d, 1, I(i)), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(v), i % 2 ? -i : 2 * i);
        mproc_value_free(v);
    }
    /* popitem goes backwards through the order. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_POPITEM, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[4999, -4999]");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_POPITEM, d, 0), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[4997, -4997]");
    mproc_value_free(v);
    mproc__mgr_session_close(s);
    teardown();
}

static void test_add_and_compare_and_set(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    int64_t d, ns;
    setup();
    s = session();
    d = create(s, MPROC_REF_DICT, NULL);
    /* A missing key counts from 0; integers stay integers. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_ADD, d, 2, S("n"), I(5)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "5");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_ADD, d, 2, S("n"), I(-7)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "-2");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(
        req(s, &v, MPROC__MGR_ADD, d, 2, S("n"), mproc_value_float(0.5)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "-1.5");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, d, 2, S("big"), I(INT64_MAX - 1)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_ADD, d, 2, S("big"), I(2)),
                    MPROC_ERANGE);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, d, 1, S("big")), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), INT64_MAX - 1);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, d, 2, S("s"), S("text")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_ADD, d, 2, S("s"), I(1)),
                    MPROC_ETYPE);
    CU_ASSERT_STRING_EQUAL(sentence,
                           "unsupported operand type(s) for +=: 'str' and "
                           "'int'");

    /* Compare and set: 1 when it stored, 0 with the value it found. */
    CU_ASSERT_EQUAL(
        req(s, &v, MPROC__MGR_CAS, d, 3, S("s"), S("text"), S("new")), 1);
    CU_ASSERT_STRING_EQUAL(show(v), "'text'");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(
        req(s, &v, MPROC__MGR_CAS, d, 3, S("s"), S("text"), S("newer")), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "'new'");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CAS, d, 3, S("none"), I(0), I(1)),
                    MPROC_ENOTFOUND);

    ns = create(s, MPROC_REF_NAMESPACE, NULL);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_ADD, ns, 2, S("count"), I(3)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "3");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_CAS, ns, 3, S("missing"), I(0), I(1)),
        MPROC_ENOATTR);
    CU_ASSERT_STRING_EQUAL(sentence,
                           "'Namespace' object has no attribute 'missing'");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CAS, ns, 3, S("count"), I(3), I(4)),
                    1);
    CU_ASSERT_STRING_EQUAL(contents(s, ns), "{'count': 4}");
    mproc__mgr_session_close(s);
    teardown();
}

/* ---- lists ------------------------------------------------------------ */

static void test_list_operations(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    size_t i;
    int64_t l;
    setup();
    s = session();
    l = create(s, MPROC_REF_LIST, mproc_value_list_of(2, I(1), I(2)));
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_APPEND, l, 1, I(3)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_EXTEND, l, 1,
                        mproc_value_list_of(2, I(4), S("five"))),
                    0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_EXTEND, l, 1, I(4)), MPROC_ETYPE);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[1, 2, 3, 4, 'five']");
    /* insert clamps its index, as Python's does. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_INSERT, l, 2, I(0), I(0)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_INSERT, l, 2, I(-1), S("x")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_INSERT, l, 2, I(100), S("end")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_INSERT, l, 2, I(-100), S("start")),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l),
                           "['start', 0, 1, 2, 3, 4, 'x', 'five', 'end']");
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_LGET, l, 1, I(-1)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "'end'");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LGET, l, 1, I(9)), MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(sentence, "list index out of range");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LSET, l, 2, I(-10), I(0)),
                    MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(sentence, "list assignment index out of range");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LSET, l, 2, I(1), S("zero")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LDELETE, l, 1, I(0)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LDELETE, l, 1, I(50)),
                    MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(contents(s, l),
                           "['zero', 1, 2, 3, 4, 'x', 'five', 'end']");
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_LEN, l, 0), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 8);
    mproc_value_free(v);

    /* index, count, contains and remove compare as Python does. */
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_APPEND, l, 1, mproc_value_float(2.0)), 0);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_INDEX, l, 1, mproc_value_float(3.0)),
                    0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 3);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_INDEX, l, 1, I(42)),
                    MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(sentence, "42 is not in list");
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_COUNT_OF, l, 1, I(2)), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 2);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, l, 1, S("x")), 1);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, l, 1, S("y")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_REMOVE, l, 1, I(2)), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_REMOVE, l, 1, S("y")),
                    MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(sentence, "list.remove(x): x not in list");
    CU_ASSERT_STRING_EQUAL(contents(s, l),
                           "['zero', 1, 3, 4, 'x', 'five', 'end', 2.0]");

    /* pop: the last by default, any by index. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_LPOP, l, 1, I(-1)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "2.0");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_LPOP, l, 1, I(0)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "'zero'");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LPOP, l, 1, I(6)), MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(sentence, "pop index out of range");

    /* Slices clamp their bounds. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_SLICE, l, 2, I(1), I(3)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[3, 4]");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_SLICE, l, 2, I(-2), I(INT64_MAX)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "['five', 'end']");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_SLICE, l, 2, I(4), I(2)), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[]");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(1), I(3),
                        mproc_value_list_of(3, S("a"), S("b"), S("c"))),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l),
                           "[1, 'a', 'b', 'c', 'x', 'five', 'end']");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(0), I(100),
                        mproc_value_list_of(1, S("only"))),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "['only']");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(5), I(5),
                        mproc_value_list_of(2, I(1), I(2))),
                    0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(0), I(0), I(1)),
                    MPROC_ETYPE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_DELETE_SLICE, l, 2, I(0), I(1)), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[1, 2]");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_REVERSE, l, 0), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[2, 1]");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CLEAR, l, 0), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LPOP, l, 1, I(-1)), MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(sentence, "pop from empty list");

    for (i = 0; i < 1000; i++)
        CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_INSERT, l, 2, I(0), I(0)), 0);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_DELETE_SLICE, l, 2, I(10), I(INT64_MAX)), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[0, 0, 0, 0, 0, 0, 0, 0, 0, 0]");
    mproc__mgr_session_close(s);
    teardown();
}

static void test_list_sort_is_pythons(void)
{
    mproc__mgr_session_t *s;
    int64_t l;
    setup();
    s = session();
    l = create(s, MPROC_REF_LIST,
               mproc_value_list_of(6, I(3), mproc_value_float(-1.5), I(10),
                                   mproc_value_bool(0), I(2),
                                   mproc_value_float(2.5)));
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(0)),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[-1.5, False, 2, 2.5, 3, 10]");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(1)),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[10, 3, 2.5, 2, False, -1.5]");
    /* Stable both ways: equal items keep their order. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(0), I(100),
                        mproc_value_list_of(4, mproc_value_float(1.0), I(0),
                                            mproc_value_bool(1), I(1))),
                    0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(0)),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[0, 1.0, True, 1]");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(1)),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[1.0, True, 1, 0]");
    /* Strings, byte strings, and lists item by item. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(0), I(100),
                        mproc_value_list_of(3, S("pear"), S("apple"), S("b"))),
                    0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(0)),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "['apple', 'b', 'pear']");
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(0), I(100),
            mproc_value_list_of(3, mproc_value_list_of(2, I(1), S("b")),
                                mproc_value_list_of(1, I(1)),
                                mproc_value_list_of(2, I(0), S("z")))),
        0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(0)),
                    0);
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[[0, 'z'], [1], [1, 'b']]");
    /* Items that do not compare leave the list as it was. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET_SLICE, l, 3, I(0), I(100),
                        mproc_value_list_of(3, I(3), S("a"), I(1))),
                    0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SORT, l, 1, mproc_value_bool(0)),
                    MPROC_ETYPE);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(sentence, "'<' not supported between instances of '"));
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[3, 'a', 1]");
    mproc__mgr_session_close(s);
    teardown();
}

/* ---- Namespaces, copies ------------------------------------------------- */

static void test_namespace_operations(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL, *init = mproc_value_map();
    int64_t ns;
    setup();
    s = session();
    mproc_value_map_set(init, S("x"), I(1));
    ns = create(s, MPROC_REF_NAMESPACE, init);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_GET, ns, 1, S("value")),
                    MPROC_ENOATTR);
    CU_ASSERT_STRING_EQUAL(sentence,
                           "'Namespace' object has no attribute 'value'");
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, ns, 2, S("value"), S("This is the value")),
        0);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, ns, 1, S("value")), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "This is the value");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, ns, 1, S("value")), 1);
    CU_ASSERT_STRING_EQUAL(contents(s, ns),
                           "{'x': 1, 'value': 'This is the value'}");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_DELETE, ns, 1, S("x")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_DELETE, ns, 1, S("x")),
                    MPROC_ENOATTR);
    CU_ASSERT_STRING_EQUAL(sentence, "'Namespace' object has no attribute 'x'");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CONTAINS, ns, 1, S("x")), 0);
    /* Attributes have names. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, ns, 2, I(1), I(1)),
                    MPROC_EREMOTE);
    init = mproc_value_map();
    mproc_value_map_set(init, I(1), I(1));
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_CREATE, 0, 2, I(MPROC_REF_NAMESPACE), init),
        MPROC_ETYPE);
    mproc__mgr_session_close(s);
    CU_ASSERT_EQUAL(count_objects(), 0);
    teardown();
}

static void test_values_stored_are_copies(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    int64_t ns;
    setup();
    s = session();
    /* The tour's lesson: appending to a list read back changes a copy. */
    ns = create(s, MPROC_REF_NAMESPACE, NULL);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_SET, ns, 2, S("my_list"), mproc_value_list()),
        0);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, ns, 1, S("my_list")), 0);
    CU_ASSERT_EQUAL(mproc_value_append(v, S("This is the value")), 0);
    mproc_value_free(v);
    CU_ASSERT_STRING_EQUAL(contents(s, ns), "{'my_list': []}");
    /* The fix: store the changed list again. */
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, ns, 1, S("my_list")), 0);
    CU_ASSERT_EQUAL(mproc_value_append(v, S("This is the value")), 0);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_SET, ns, 2, S("my_list"), v), 0);
    CU_ASSERT_STRING_EQUAL(contents(s, ns),
                           "{'my_list': ['This is the value']}");
    mproc__mgr_session_close(s);
    teardown();
}

/* ---- failures ---------------------------------------------------------- */

static void test_server_refusals(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    mproc__buf_t msg = {0};
    int64_t l, d;
    static const unsigned char garbage[] = {0xc1, 0xff, 0x00, 0x93};
    setup();
    s = session();
    l = create(s, MPROC_REF_LIST, NULL);
    d = create(s, MPROC_REF_DICT, NULL);
    /* A method the type lacks. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_KEYS, l, 0), MPROC_EREMOTE);
    CU_ASSERT_STRING_EQUAL(sentence, "'list' object has no method 'keys'");
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_APPEND, d, 1, I(1)), MPROC_EREMOTE);
    CU_ASSERT_STRING_EQUAL(sentence, "'dict' object has no method 'append'");
    /* An object the server does not have. */
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LEN, 999, 0), MPROC_EREMOTE);
    CU_ASSERT_PTR_NOT_NULL(strstr(sentence, "no object 999"));
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_RELEASE, 0, 1, I(999)),
                    MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CLAIM, 0, 2, I(999), I(1)),
                    MPROC_EREMOTE);
    CU_ASSERT_EQUAL(
        req(s, NULL, MPROC__MGR_CREATE, 0, 2, I(99), mproc_value_nil()),
        MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_CREATE, 0, 2, I(MPROC_REF_LIST),
                        mproc_value_map()),
                    MPROC_ETYPE);
    /* Malformed requests are answered, never acted on. */
    CU_ASSERT_EQUAL(raw(s, garbage, sizeof garbage, NULL), MPROC_EREMOTE);
    CU_ASSERT_PTR_NOT_NULL(strstr(sentence, "malformed request"));
    CU_ASSERT_EQUAL(req(s, NULL, 0, l, 0), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_OP_END, l, 0), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LEN, 0, 0), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_COUNT, l, 0), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_APPEND, l, 0), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LGET, l, 1, S("0")), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(req(s, NULL, MPROC__MGR_LOOKUP, 0, 1, S("")),
                    MPROC_EREMOTE);
    v = mproc_value_list_of(1, I(MPROC__MGR_LEN));
    CU_ASSERT_EQUAL(mproc__value_encode(v, &msg), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(raw(s, msg.data, msg.len, NULL), MPROC_EREMOTE);
    mproc__buf_free(&msg);
    /* The list is as it was after all that. */
    CU_ASSERT_STRING_EQUAL(contents(s, l), "[]");
    mproc__mgr_session_close(s);
    teardown();
}

static void test_hello_count_and_shutdown(void)
{
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    mproc__buf_t msg = {0}, reply = {0};
    setup();
    s = session();
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_HELLO, 0, 0), 0);
    /* The id, the pid, the name, and the token a thread's connection joins. */
    CU_ASSERT_EQUAL_FATAL(mproc_value_len(v), 4);
    CU_ASSERT_EQUAL(mproc_value_len(mproc_value_at(v, 3)),
                    MPROC__MGR_TOKEN_LEN);
    mproc_value_free(mproc__value_list_swap(v, 3, mproc_value_nil()));
    CU_ASSERT_STRING_EQUAL(show(v),
                           "['" STORE_ID "', 1234, 'Manager-1', None]");
    mproc_value_free(v);
    create(s, MPROC_REF_LIST, NULL);
    create(s, MPROC_REF_DICT, NULL);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_COUNT, 0, 0), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 2);
    mproc_value_free(v);
    /* shutdown is answered, and tells the server to stop. */
    CU_ASSERT_EQUAL(
        mproc__mgr_request_encode(MPROC__MGR_SHUTDOWN, 0, NULL, 0, &msg), 0);
    CU_ASSERT_EQUAL(mproc__mgr_serve(&s, msg.data, msg.len, &reply), 1);
    CU_ASSERT_TRUE(reply.len > 0);
    mproc__buf_free(&msg);
    mproc__buf_free(&reply);
    /* The store frees what sessions still hold when it goes. */
    teardown();
}

/* ---- references and holds -------------------------------------------- */

static void test_objects_go_with_their_last_reference(void)
{
    mproc__mgr_session_t *a, *b;
    int64_t l1, l2;
    setup();
    a = session();
    b = session();
    l1 = create(a, MPROC_REF_LIST, NULL);
    l2 = create(a, MPROC_REF_LIST, NULL);
    CU_ASSERT_EQUAL(count_objects(), 2);
    /* Another client takes a reference of its own, then both let go. */
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_INCREF, 0, 1, I(l1)), 0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(l1)), 0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(l1)),
                    MPROC_EREMOTE);
    CU_ASSERT_EQUAL(count_objects(), 2);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_RELEASE, 0, 1, I(l1)), 0);
    CU_ASSERT_EQUAL(count_objects(), 1);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_LEN, l1, 0), MPROC_EREMOTE);
    /* A client that ends lets go of everything it held. */
    mproc__mgr_session_close(a);
    CU_ASSERT_EQUAL(count_objects(), 0);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_LEN, l2, 0), MPROC_EREMOTE);
    mproc__mgr_session_close(b);
    teardown();
}

static void test_holds_keep_references_in_transit(void)
{
    mproc__mgr_session_t *a, *b, *c;
    mproc_value_t *v = NULL;
    int64_t l, hold, hold2;
    setup();
    a = session();
    b = session();
    c = session();
    l = create(a, MPROC_REF_LIST, NULL);
    /* a exports, then lets go of its proxy: the hold keeps the list. */
    CU_ASSERT_EQUAL(req(a, &v, MPROC__MGR_EXPORT, 0, 1, I(l)), 0);
    hold = mproc_value_as_int(v);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(a, &v, MPROC__MGR_EXPORT, 0, 1, I(l)), 0);
    hold2 = mproc_value_as_int(v);
    mproc_value_free(v);
    CU_ASSERT_NOT_EQUAL(hold, hold2);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(l)), 0);
    CU_ASSERT_EQUAL(count_objects(), 1);
    /* b opens the reference: the hold is its count now. */
    CU_ASSERT_EQUAL(req(b, &v, MPROC__MGR_CLAIM, 0, 2, I(l), I(hold)), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), MPROC_REF_LIST);
    mproc_value_free(v);
    /* The same reference opened again is counted anew. */
    CU_ASSERT_EQUAL(req(c, NULL, MPROC__MGR_CLAIM, 0, 2, I(l), I(hold)), 0);
    CU_ASSERT_EQUAL(req(c, NULL, MPROC__MGR_RELEASE, 0, 1, I(l)), 0);
    /* a ends: its hold never taken goes with it; b's count stays. */
    mproc__mgr_session_close(a);
    CU_ASSERT_EQUAL(count_objects(), 1);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_APPEND, l, 1, I(1)), 0);
    CU_ASSERT_EQUAL(req(c, NULL, MPROC__MGR_CLAIM, 0, 2, I(l), I(hold2)), 0);
    CU_ASSERT_EQUAL(req(c, NULL, MPROC__MGR_RELEASE, 0, 1, I(l)), 0);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_RELEASE, 0, 1, I(l)), 0);
    CU_ASSERT_EQUAL(count_objects(), 0);
    mproc__mgr_session_close(b);
    mproc__mgr_session_close(c);
    teardown();
}

static void test_nested_proxies_live_and_go(void)
{
    mproc__mgr_session_t *a, *b;
    mproc_value_t *v = NULL;
    int64_t d, l, hold, got;
    setup();
    a = session();
    b = session();
    d = create(a, MPROC_REF_DICT, NULL);
    l = create(a, MPROC_REF_LIST, NULL);
    /* d['inner'] = l, by a reference with its hold. */
    CU_ASSERT_EQUAL(req(a, &v, MPROC__MGR_EXPORT, 0, 1, I(l)), 0);
    hold = mproc_value_as_int(v);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_SET, d, 2, S("inner"),
                        ref(MPROC_REF_LIST, l, hold)),
                    0);
    /* The hold was taken over by the dict: a's own release leaves it. */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(l)), 0);
    CU_ASSERT_EQUAL(count_objects(), 2);
    /* A copy of an object that refers to others copies the references. */
    CU_ASSERT_STRING_EQUAL(contents(b, d),
                           "{'inner': <managed list reference>}");
    /* b reads it back: a reference with a hold of b's. */
    CU_ASSERT_EQUAL(req(b, &v, MPROC__MGR_GET, d, 1, S("inner")), 0);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(v), MPROC_REF_LIST);
    got = mproc_value_as_int(
        mproc_value_at(mproc__ref_fields(v), MPROC__MGR_REF_HOLD));
    CU_ASSERT_TRUE(got > 0 && got != hold);
    mproc_value_free(v);
    /* Read again: the same hold (the copy's too), not another. */
    CU_ASSERT_EQUAL(req(b, &v, MPROC__MGR_GET, d, 1, S("inner")), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(mproc__ref_fields(v),
                                                      MPROC__MGR_REF_HOLD)),
                    got);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_CLAIM, 0, 2, I(l), I(got)), 0);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_APPEND, l, 1, I(7)), 0);
    /*
     * A stored reference compares equal to another of the same object
     * (and the value found comes back to b with a hold of b's).
     */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_SET, d, 2, S("k"),
                        mproc_value_list_of(1, ref(MPROC_REF_LIST, l, 0))),
                    0);
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_CAS, d, 3, S("k"),
                        mproc_value_list_of(1, ref(MPROC_REF_LIST, l, 55)),
                        I(0)),
                    1);
    /* b lets go; the dict's reference keeps the list until it is deleted. */
    CU_ASSERT_EQUAL(req(b, NULL, MPROC__MGR_RELEASE, 0, 1, I(l)), 0);
    CU_ASSERT_EQUAL(count_objects(), 2);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_DELETE, d, 1, S("inner")), 0);
    /* b's hold from the read still keeps it; b ends, and it goes. */
    mproc__mgr_session_close(b);
    CU_ASSERT_EQUAL(count_objects(), 1);
    /* A reference to an object that is gone is refused, storing nothing. */
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_SET, d, 2, S("x"), ref(MPROC_REF_LIST, l, 0)),
        MPROC_EREMOTE);
    CU_ASSERT_PTR_NOT_NULL(strstr(sentence, "no object"));
    CU_ASSERT_STRING_EQUAL(contents(a, d), "{'k': 0}");
    mproc__mgr_session_close(a);
    CU_ASSERT_EQUAL(count_objects(), 0);
    teardown();
}

static void test_freeing_follows_chains_and_names(void)
{
    mproc__mgr_session_t *a;
    mproc_value_t *v = NULL;
    int64_t ids[50], i;
    setup();
    a = session();
    /* Each list holds the next: a chain of 50, held by its head alone. */
    for (i = 0; i < 50; i++)
        ids[i] = create(a, MPROC_REF_LIST, NULL);
    for (i = 0; i < 49; i++) {
        CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_APPEND, ids[i], 1,
                            ref(MPROC_REF_LIST, ids[i + 1], 0)),
                        0);
        CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(ids[i + 1])),
                        0);
    }
    CU_ASSERT_EQUAL(count_objects(), 50);
    /* A registered name holds the head; releasing the proxy keeps it. */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_REGISTER, 0, 2, S("chain"),
                        ref(MPROC_REF_LIST, ids[0], 0)),
                    0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(ids[0])), 0);
    CU_ASSERT_EQUAL(count_objects(), 50);
    CU_ASSERT_EQUAL(req(a, &v, MPROC__MGR_LOOKUP, 0, 1, S("chain")), 0);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(v), MPROC_REF_LIST);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_LOOKUP, 0, 1, S("nothing")),
                    MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(sentence,
                           "no name 'nothing' is registered in the manager");
    /* Replacing the name lets go of the chain (a's read hold aside). */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_REGISTER, 0, 2, S("chain"), I(0)),
                    0);
    CU_ASSERT_EQUAL(count_objects(), 50);
    mproc__mgr_session_close(a);
    CU_ASSERT_EQUAL(count_objects(), 0);
    teardown();
}

static void test_cycles_are_collected(void)
{
    mproc__mgr_session_t *a, *b;
    mproc_value_t *v = NULL;
    int64_t x, y, z, hold;
    setup();
    a = session();
    x = create(a, MPROC_REF_DICT, NULL);
    y = create(a, MPROC_REF_LIST, NULL);
    z = create(a, MPROC_REF_NAMESPACE, NULL);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_SET, x, 2, S("y"), ref(MPROC_REF_LIST, y, 0)),
        0);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_APPEND, y, 1, ref(MPROC_REF_DICT, x, 0)), 0);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_APPEND, y, 1, ref(MPROC_REF_LIST, y, 0)), 0);
    /* The cycle refers to z, which the client holds too. */
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_APPEND, y, 1, ref(MPROC_REF_NAMESPACE, z, 0)),
        0);
    /* One member let go of: the other's proxy still holds the cycle. */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(x)), 0);
    CU_ASSERT_EQUAL(count_objects(), 3);
    CU_ASSERT_EQUAL(req(a, &v, MPROC__MGR_LEN, x, 0), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), 1);
    mproc_value_free(v);
    /* The last one: the cycle goes, and what it referred to stays. */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(y)), 0);
    CU_ASSERT_EQUAL(count_objects(), 1);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_SET, z, 2, S("n"), I(1)), 0);
    /* z had one count of the client's and one of the cycle's: one left. */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(z)), 0);
    CU_ASSERT_EQUAL(count_objects(), 0);

    /* A cycle that a name reaches lives until the name lets go. */
    x = create(a, MPROC_REF_DICT, NULL);
    y = create(a, MPROC_REF_DICT, NULL);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_SET, x, 2, S("y"), ref(MPROC_REF_DICT, y, 0)),
        0);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_SET, y, 2, S("x"), ref(MPROC_REF_DICT, x, 0)),
        0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_REGISTER, 0, 2, S("cycle"),
                        ref(MPROC_REF_DICT, x, 0)),
                    0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(x)), 0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(y)), 0);
    CU_ASSERT_EQUAL(count_objects(), 2);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_REGISTER, 0, 2, S("cycle"), mproc_value_nil()),
        0);
    CU_ASSERT_EQUAL(count_objects(), 0);

    /*
     * One in transit (a hold of another session's) lives until that
     * session ends; a self-referring list whose holder ends goes with it.
     */
    b = session();
    x = create(a, MPROC_REF_LIST, NULL);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_APPEND, x, 1, ref(MPROC_REF_LIST, x, 0)), 0);
    CU_ASSERT_EQUAL(req(a, &v, MPROC__MGR_EXPORT, 0, 1, I(x)), 0);
    hold = mproc_value_as_int(v);
    mproc_value_free(v);
    CU_ASSERT_TRUE(hold > 0);
    CU_ASSERT_EQUAL(req(b, &v, MPROC__MGR_CLAIM, 0, 2, I(x), I(hold)), 0);
    mproc_value_free(v);
    y = create(b, MPROC_REF_LIST, NULL);
    CU_ASSERT_EQUAL(
        req(b, NULL, MPROC__MGR_APPEND, y, 1, ref(MPROC_REF_LIST, y, 0)), 0);
    mproc__mgr_session_close(a);
    CU_ASSERT_EQUAL(count_objects(), 2);
    mproc__mgr_session_close(b);
    CU_ASSERT_EQUAL(count_objects(), 0);
    teardown();
}

/* ---- threads ------------------------------------------------------------ */

#define THREADS 4
#define ADDS 5000

typedef struct adder {
    int64_t d;
    int failures;
} adder;

static void *APR_THREAD_FUNC add_many(apr_thread_t *t, void *arg)
{
    adder *a = arg;
    mproc__mgr_session_t *s = NULL;
    mproc_value_t *args[2];
    mproc__buf_t msg = {0}, reply = {0};
    int i;
    (void) t;
    if (mproc__mgr_session_open(store, &s) != 0)
        a->failures++;
    args[0] = S("n");
    args[1] = I(1);
    mproc__mgr_request_encode(MPROC__MGR_ADD, a->d, args, 2, &msg);
    mproc_value_free(args[0]);
    mproc_value_free(args[1]);
    for (i = 0; s != NULL && i < ADDS; i++) {
        mproc_value_t *v = NULL;
        int status = -1;
        reply.len = 0;
        if (mproc__mgr_serve(&s, msg.data, msg.len, &reply) != 0 ||
            mproc__mgr_reply_decode(reply.data, reply.len, &status, &v) != 0 ||
            status != 0)
            a->failures++;
        mproc_value_free(v);
    }
    mproc__buf_free(&msg);
    mproc__buf_free(&reply);
    mproc__mgr_session_close(s);
    return NULL;
}

static void test_threads_lose_no_update(void)
{
    apr_pool_t *pool = NULL;
    apr_thread_t *t[THREADS];
    adder a[THREADS];
    mproc__mgr_session_t *s;
    mproc_value_t *v = NULL;
    int64_t d;
    int i;
    setup();
    s = session();
    d = create(s, MPROC_REF_DICT, NULL);
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (i = 0; i < THREADS; i++) {
        a[i].d = d;
        a[i].failures = 0;
        CU_ASSERT_EQUAL_FATAL(
            apr_thread_create(&t[i], NULL, add_many, &a[i], pool), APR_SUCCESS);
    }
    for (i = 0; i < THREADS; i++) {
        apr_status_t ignored;
        apr_thread_join(&ignored, t[i]);
        CU_ASSERT_EQUAL(a[i].failures, 0);
    }
    apr_pool_destroy(pool);
    CU_ASSERT_EQUAL(req(s, &v, MPROC__MGR_GET, d, 1, S("n")), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), THREADS * ADDS);
    mproc_value_free(v);
    mproc__mgr_session_close(s);
    teardown();
}

/* Serves a JOIN of @token on the connection whose session is *@s. */
static int join(mproc__mgr_session_t **s, const char *token)
{
    mproc_value_t *arg = S(token), *payload = NULL;
    mproc__buf_t msg = {0}, reply = {0};
    int status = -1000;
    CU_ASSERT_EQUAL_FATAL(
        mproc__mgr_request_encode(MPROC__MGR_JOIN, 0, &arg, 1, &msg), 0);
    mproc_value_free(arg);
    CU_ASSERT_EQUAL(mproc__mgr_serve(s, msg.data, msg.len, &reply), 0);
    CU_ASSERT_EQUAL_FATAL(
        mproc__mgr_reply_decode(reply.data, reply.len, &status, &payload), 0);
    if (status == 0)
        CU_ASSERT_STRING_EQUAL(show(payload),
                               "['" STORE_ID "', 1234, 'Manager-1']");
    mproc_value_free(payload);
    mproc__buf_free(&msg);
    mproc__buf_free(&reply);
    return status;
}

static void test_connections_join_a_client(void)
{
    mproc__mgr_session_t *home, *other, *third;
    mproc_value_t *v = NULL;
    char token[MPROC__MGR_TOKEN_LEN + 1];
    size_t sessions = 0, conns = 0;
    int64_t d, l;
    setup();
    home = session();
    CU_ASSERT_EQUAL(req(home, &v, MPROC__MGR_HELLO, 0, 0), 0);
    snprintf(token, sizeof token, "%s",
             mproc_value_as_str(mproc_value_at(v, 3)));
    mproc_value_free(v);
    d = create(home, MPROC_REF_DICT, NULL);
    /* Another connection of the same client: its counts are the home's. */
    other = session();
    CU_ASSERT_EQUAL(join(&other, token), 0);
    CU_ASSERT_PTR_EQUAL(other, home);
    mproc__mgr_store_clients(store, &sessions, &conns);
    CU_ASSERT_EQUAL(sessions, 1);
    CU_ASSERT_EQUAL(conns, 2);
    /* Made on one connection, let go of on the other. */
    l = create(other, MPROC_REF_LIST, NULL);
    CU_ASSERT_EQUAL(req(other, NULL, MPROC__MGR_RELEASE, 0, 1, I(d)), 0);
    CU_ASSERT_EQUAL(mproc__mgr_store_count(store), 1);
    /* A token nobody has, and a connection that holds something already. */
    third = session();
    CU_ASSERT_EQUAL(join(&third, "0123456789abcdef0123456789abcdef"),
                    MPROC_EREMOTE);
    create(third, MPROC_REF_DICT, NULL);
    CU_ASSERT_EQUAL(join(&third, token), MPROC_EREMOTE);
    CU_ASSERT_EQUAL(mproc__mgr_store_count(store), 2);
    mproc__mgr_session_close(third);
    CU_ASSERT_EQUAL(mproc__mgr_store_count(store), 1);
    /* The first connection closes: what the client holds stays... */
    mproc__mgr_session_close(home);
    CU_ASSERT_EQUAL(mproc__mgr_store_count(store), 1);
    CU_ASSERT_EQUAL(req(other, &v, MPROC__MGR_LEN, l, 0), 0);
    mproc_value_free(v);
    /* ...until the last one does. */
    mproc__mgr_session_close(other);
    CU_ASSERT_EQUAL(mproc__mgr_store_count(store), 0);
    mproc__mgr_store_clients(store, &sessions, &conns);
    CU_ASSERT_EQUAL(sessions, 0);
    CU_ASSERT_EQUAL(conns, 0);
    teardown();
}

/*
 * In a store of many objects a cycle is not collected on the release that
 * leaves it, but once such releases are a quarter of the objects; a count
 * collects at once.
 */
static void test_cycles_wait_for_a_share_of_releases(void)
{
    mproc__mgr_session_t *a;
    int64_t x, y, p, i;
    setup();
    a = session();
    for (i = 0; i < 40; i++)
        create(a, MPROC_REF_LIST, NULL);
    x = create(a, MPROC_REF_DICT, NULL);
    y = create(a, MPROC_REF_DICT, NULL);
    p = create(a, MPROC_REF_LIST, NULL);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_SET, x, 2, S("y"), ref(MPROC_REF_DICT, y, 0)),
        0);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_SET, y, 2, S("x"), ref(MPROC_REF_DICT, x, 0)),
        0);
    /* Two releases that may leave a cycle, against 43 objects. */
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(x)), 0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(y)), 0);
    CU_ASSERT_EQUAL(mproc__mgr_store_held(store), 43);
    /* Eight more (p stored in itself, then taken out): ten of 43. */
    for (i = 0; i < 8; i++) {
        CU_ASSERT_EQUAL(
            req(a, NULL, MPROC__MGR_APPEND, p, 1, ref(MPROC_REF_LIST, p, 0)),
            0);
        CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_LDELETE, p, 1, I(-1)), 0);
    }
    CU_ASSERT_EQUAL(mproc__mgr_store_held(store), 43);
    /* The eleventh passes a quarter: the cycle goes. */
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_APPEND, p, 1, ref(MPROC_REF_LIST, p, 0)), 0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_LDELETE, p, 1, I(-1)), 0);
    CU_ASSERT_EQUAL(mproc__mgr_store_held(store), 41);
    /* A new cycle left by one release: a count sees it gone. */
    x = create(a, MPROC_REF_LIST, NULL);
    CU_ASSERT_EQUAL(
        req(a, NULL, MPROC__MGR_APPEND, x, 1, ref(MPROC_REF_LIST, x, 0)), 0);
    CU_ASSERT_EQUAL(req(a, NULL, MPROC__MGR_RELEASE, 0, 1, I(x)), 0);
    CU_ASSERT_EQUAL(mproc__mgr_store_held(store), 42);
    CU_ASSERT_EQUAL(count_objects(), 41);
    mproc__mgr_session_close(a);
    CU_ASSERT_EQUAL(count_objects(), 0);
    teardown();
}

static const harness_test tests[] = {
    {"dict operations", test_dict_operations, 0},
    {"dict keys follow python", test_dict_keys_follow_python, 0},
    {"dict keeps order through many changes",
     test_dict_keeps_order_through_many_changes, 0},
    {"add and compare and set", test_add_and_compare_and_set, 0},
    {"list operations", test_list_operations, 0},
    {"list sort is pythons", test_list_sort_is_pythons, 0},
    {"namespace operations", test_namespace_operations, 0},
    {"values stored are copies", test_values_stored_are_copies, 0},
    {"server refusals", test_server_refusals, 0},
    {"hello, count and shutdown", test_hello_count_and_shutdown, 0},
    {"connections join a client", test_connections_join_a_client, 0},
    {"objects go with their last reference",
     test_objects_go_with_their_last_reference, 0},
    {"holds keep references in transit", test_holds_keep_references_in_transit,
     0},
    {"nested proxies live and go", test_nested_proxies_live_and_go, 0},
    {"freeing follows chains and names", test_freeing_follows_chains_and_names,
     0},
    {"cycles are collected", test_cycles_are_collected, 0},
    {"cycles wait for a share of releases",
     test_cycles_wait_for_a_share_of_releases, 0},
    {"threads lose no update", test_threads_lose_no_update, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "manager_store", tests);
}
