/*
 * Values a person can write: mproc_pack and mproc_unpack, mproc_spawn,
 * targets named by their function, the start method as an option,
 * fork-only objects, mproc_perror and mproc_raise_last.
 */
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* The last sentence contains @part. */
#define CU_ASSERT_ERROR_SAYS(part)                                             \
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), part))

/* ---- pack ----------------------------------------------------------- */

static void test_pack_every_letter(void)
{
    static const char raw[3] = {'a', '\0', 'b'};
    mproc_value_t *copied = mproc_value_str("copied");
    const mproc_value_t *m, *l;
    mproc_value_t *v =
        mproc_pack(" n b i I f s y v V [i [s]] {s i s [n]} [] ", 1, -7,
                   (int64_t) 1 << 40, 2.5, "text", raw, sizeof raw,
                   mproc_value_int(99), copied, 3, "deep", "one", 1, "nils");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(mproc_value_type(v), MPROC_VALUE_LIST);
    CU_ASSERT_EQUAL_FATAL(mproc_value_len(v), 12);
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(v, 0)), MPROC_VALUE_NIL);
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(v, 1)), MPROC_VALUE_BOOL);
    CU_ASSERT_EQUAL(mproc_value_as_bool(mproc_value_at(v, 1)), 1);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 2)), -7);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 3)),
                    (int64_t) 1 << 40);
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(v, 4)), MPROC_VALUE_FLOAT);
    CU_ASSERT_DOUBLE_EQUAL(mproc_value_as_float(mproc_value_at(v, 4)), 2.5, 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(mproc_value_at(v, 5)), "text");
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(v, 6)), MPROC_VALUE_BYTES);
    CU_ASSERT_EQUAL(mproc_value_len(mproc_value_at(v, 6)), 3);
    CU_ASSERT_EQUAL(
        memcmp(mproc_value_as_bytes(mproc_value_at(v, 6), NULL), raw, 3), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 7)), 99);
    /* V copied: the original is still the caller's. */
    CU_ASSERT_TRUE(mproc_value_equal(mproc_value_at(v, 8), copied));
    CU_ASSERT_PTR_NOT_EQUAL(mproc_value_at(v, 8), copied);
    mproc_value_free(copied);
    l = mproc_value_at(v, 9);
    CU_ASSERT_EQUAL(mproc_value_type(l), MPROC_VALUE_LIST);
    CU_ASSERT_EQUAL(mproc_value_len(l), 2);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(l, 0)), 3);
    CU_ASSERT_STRING_EQUAL(
        mproc_value_as_str(mproc_value_at(mproc_value_at(l, 1), 0)), "deep");
    m = mproc_value_at(v, 10);
    CU_ASSERT_EQUAL(mproc_value_type(m), MPROC_VALUE_MAP);
    CU_ASSERT_EQUAL(mproc_value_len(m), 2);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_get(m, "one")), 1);
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_get(m, "nils")),
                    MPROC_VALUE_LIST);
    CU_ASSERT_EQUAL(mproc_value_len(mproc_value_at(v, 11)), 0);
    mproc_value_free(v);

    /* The empty format is the empty list; one item is still a list. */
    v = mproc_pack("");
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(mproc_value_type(v), MPROC_VALUE_LIST);
    CU_ASSERT_EQUAL(mproc_value_len(v), 0);
    mproc_value_free(v);
    v = mproc_pack("b", 0);
    CU_ASSERT_EQUAL(mproc_value_as_bool(mproc_value_at(v, 0)), 0);
    mproc_value_free(v);
    /* Empty bytes may come as NULL. */
    v = mproc_pack("y", NULL, (size_t) 0);
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(v, 0)), MPROC_VALUE_BYTES);
    CU_ASSERT_EQUAL(mproc_value_len(mproc_value_at(v, 0)), 0);
    mproc_value_free(v);
}

static void test_pack_bad_formats(void)
{
    /* Each names the offending letter and its offset. */
    CU_ASSERT_PTR_NULL(mproc_pack("ix", 1));
    CU_ASSERT_ERROR_SAYS("'x' at offset 1 is not a format letter");
    CU_ASSERT_PTR_NULL(mproc_pack("[i", 1));
    CU_ASSERT_ERROR_SAYS("'[' at offset 0 is never closed");
    CU_ASSERT_PTR_NULL(mproc_pack("i]", 1));
    CU_ASSERT_ERROR_SAYS("']' at offset 1 closes nothing");
    CU_ASSERT_PTR_NULL(mproc_pack("[i}", 1));
    CU_ASSERT_ERROR_SAYS("'}' at offset 2 closes nothing");
    CU_ASSERT_PTR_NULL(mproc_pack("{sis}", "a", 1, "b"));
    CU_ASSERT_ERROR_SAYS("'}' at offset 4 ends a map whose last key has no "
                         "value");
    CU_ASSERT_PTR_NULL(mproc_pack("*"));
    CU_ASSERT_ERROR_SAYS("mproc_unpack only");
    CU_ASSERT_PTR_NULL(mproc_pack(NULL));
    CU_ASSERT_ERROR_SAYS("no format");
    /*
     * A value given with 'v' before a bad letter is freed: the sanitizer
     * build reports it otherwise.
     */
    CU_ASSERT_PTR_NULL(mproc_pack("[v]?", mproc_value_str("taken")));
    CU_ASSERT_ERROR_SAYS("'?' at offset 3");
}

static void test_pack_bad_items(void)
{
    /* NULL string: the 'v' values before and after it are freed. */
    CU_ASSERT_PTR_NULL(mproc_pack("v s [v]", mproc_value_str("before"),
                                  (const char *) NULL,
                                  mproc_value_str("after")));
    CU_ASSERT_ERROR_SAYS("mproc_pack(\"v s [v]\"): 's' at offset 2 got a "
                         "NULL string");
    /* A failed constructor given with 'v'. */
    CU_ASSERT_PTR_NULL(mproc_pack("iv{sv}", 1, (mproc_value_t *) NULL, "k",
                                  mproc_value_str("after")));
    CU_ASSERT_ERROR_SAYS("'v' at offset 1 got a NULL value");
    CU_ASSERT_PTR_NULL(mproc_pack("V", (const mproc_value_t *) NULL));
    CU_ASSERT_ERROR_SAYS("'V' at offset 0 got a NULL value to copy");
    CU_ASSERT_PTR_NULL(mproc_pack("y", NULL, (size_t) 3));
    CU_ASSERT_ERROR_SAYS("NULL bytes");
}

/* ---- unpack --------------------------------------------------------- */

static void test_unpack_every_letter(void)
{
    static const char raw[2] = {'\0', 'z'};
    mproc_value_t *v =
        mproc_pack("nbiIfsyv[i[s]]sii", 1, INT_MIN, -((int64_t) 1 << 50), 0.25,
                   "text", raw, sizeof raw, mproc_value_str("any"), 5, "deep",
                   "skipped", 3, INT_MAX);
    int b = -1, i = 0, inner = 0, imax = 0;
    int64_t big = 0;
    double f = 0, from_int = 0;
    const char *s = NULL, *deep = NULL;
    const void *bytes = NULL;
    size_t len = 0;
    const mproc_value_t *any = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    /* 'f' reads an integer too (the 3 packed with 'i'). */
    CU_ASSERT_EQUAL_FATAL(mproc_unpack(v, " n b i I f s y v [i [s]] * f i ", &b,
                                       &i, &big, &f, &s, &bytes, &len, &any,
                                       &inner, &deep, &from_int, &imax),
                          0);
    CU_ASSERT_EQUAL(b, 1);
    CU_ASSERT_EQUAL(i, INT_MIN);
    CU_ASSERT_EQUAL(big, -((int64_t) 1 << 50));
    CU_ASSERT_DOUBLE_EQUAL(f, 0.25, 0);
    CU_ASSERT_STRING_EQUAL(s, "text");
    CU_ASSERT_EQUAL(len, 2);
    CU_ASSERT_EQUAL(memcmp(bytes, raw, 2), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(any), "any");
    CU_ASSERT_EQUAL(inner, 5);
    CU_ASSERT_STRING_EQUAL(deep, "deep");
    CU_ASSERT_DOUBLE_EQUAL(from_int, 3.0, 0);
    CU_ASSERT_EQUAL(imax, INT_MAX);
    /* Borrowed: they point into the list. */
    CU_ASSERT_PTR_EQUAL(s, mproc_value_as_str(mproc_value_at(v, 5)));
    CU_ASSERT_PTR_EQUAL(any, mproc_value_at(v, 7));
    /* NULL pointers skip the store and still check the item. */
    CU_ASSERT_EQUAL(mproc_unpack(v, "nbiIfsyv[is]*fi", NULL, NULL, NULL, NULL,
                                 NULL, NULL, NULL, NULL, NULL, NULL, NULL,
                                 NULL),
                    MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 8.1 ('s' at offset 10) expected a string, "
                         "found a list");
    mproc_value_free(v);

    v = mproc_pack("");
    CU_ASSERT_EQUAL(mproc_unpack(v, ""), 0);
    mproc_value_free(v);
}

static void test_unpack_wrong_types(void)
{
    mproc_value_t *v = mproc_pack("isn[y]", 1, "x", "b", (size_t) 1);
    int i;
    const char *s;
    double f;
    CU_ASSERT_EQUAL(mproc_unpack(v, "iin[y]", &i, &i, NULL, NULL), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 1 ('i' at offset 1) expected an integer, found "
                         "a string");
    CU_ASSERT_EQUAL(mproc_unpack(v, "sis[y]", &s, &i, &s, NULL, NULL),
                    MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 0 ('s' at offset 0) expected a string, found "
                         "an integer");
    CU_ASSERT_EQUAL(mproc_unpack(v, "fsi[y]", &f, &s, &i, NULL, NULL),
                    MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 2 ('i' at offset 2) expected an integer, found "
                         "nil");
    CU_ASSERT_EQUAL(mproc_unpack(v, "isn[s]", &i, &s, &s), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 3.0 ('s' at offset 4) expected a string, found "
                         "bytes");
    CU_ASSERT_EQUAL(mproc_unpack(v, "isnn", &i, &s), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 3 ('n' at offset 3) expected nil, found a list");
    CU_ASSERT_EQUAL(mproc_unpack(v, "[*]***"), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("expected a list, found an integer");
    CU_ASSERT_EQUAL(mproc_unpack(v, "bsn[y]", &i, &s, NULL, NULL), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("expected a bool, found an integer");
    CU_ASSERT_EQUAL(mproc_unpack(v, "f*f*", &f, &f), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("expected a float, found nil");
    mproc_value_free(v);
    /* Not a list at all, or nothing. */
    v = mproc_value_int(3);
    CU_ASSERT_EQUAL(mproc_unpack(v, "i", &i), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("expected a list or a record, found an integer");
    mproc_value_free(v);
    /* A record's fields read as a list's items. */
    v = mproc_value_record("Point", mproc_pack("ii", 3, 4));
    CU_ASSERT_EQUAL(mproc_unpack(v, "i*", &i), 0);
    CU_ASSERT_EQUAL(i, 3);
    CU_ASSERT_EQUAL(mproc_unpack(v, "i", &i), MPROC_ERANGE);
    CU_ASSERT_ERROR_SAYS("the record has 2 items, the format reads 1");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_unpack(NULL, "i", &i), MPROC_EINVAL);
}

static void test_unpack_lengths_and_ranges(void)
{
    mproc_value_t *v = mproc_pack("ii[ii]", 1, 2, 3, 4);
    int a, b, c;
    int64_t big;
    CU_ASSERT_EQUAL(mproc_unpack(v, "i", &a), MPROC_ERANGE);
    CU_ASSERT_ERROR_SAYS("the list has 3 items, the format reads 1");
    CU_ASSERT_EQUAL(mproc_unpack(v, "ii[ii]i", &a, &b, &c, &c, &c),
                    MPROC_ERANGE);
    CU_ASSERT_ERROR_SAYS("the list has 3 items, the format reads 4");
    CU_ASSERT_EQUAL(mproc_unpack(v, "ii[i]", &a, &b, &c), MPROC_ERANGE);
    CU_ASSERT_ERROR_SAYS("item 2 ('[' at offset 2) is a list of 2 items, the "
                         "format reads 1");
    CU_ASSERT_EQUAL(mproc_unpack(v, "ii[iii]", &a, &b, &c, &c, &c),
                    MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_unpack(v, "**[**]"), 0);
    mproc_value_free(v);

    v = mproc_pack("II", (int64_t) INT_MAX + 1, (int64_t) INT_MIN - 1);
    CU_ASSERT_EQUAL(mproc_unpack(v, "i*", &a), MPROC_ERANGE);
    CU_ASSERT_ERROR_SAYS("holds 2147483648, which does not fit an int");
    CU_ASSERT_EQUAL(mproc_unpack(v, "*i", &a), MPROC_ERANGE);
    CU_ASSERT_EQUAL(mproc_unpack(v, "I*", &big), 0);
    CU_ASSERT_EQUAL(big, (int64_t) INT_MAX + 1);
    mproc_value_free(v);
}

static void test_unpack_bad_formats(void)
{
    mproc_value_t *v = mproc_pack("i", 1), *m = mproc_pack("{si}", "k", 1);
    const mproc_value_t *got = NULL;
    int i;
    CU_ASSERT_EQUAL(mproc_unpack(v, "i?", &i), MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("'?' at offset 1 is not a format letter");
    CU_ASSERT_EQUAL(mproc_unpack(v, "V", NULL), MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("use 'v' to read one");
    CU_ASSERT_EQUAL(mproc_unpack(m, "{si}", NULL, NULL), MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("read a map with 'v'");
    CU_ASSERT_EQUAL(mproc_unpack(v, "[i", &i), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_unpack(v, NULL), MPROC_EINVAL);
    /* A map is read with 'v'. */
    CU_ASSERT_EQUAL(mproc_unpack(m, "v", &got), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_get(got, "k")), 1);
    mproc_value_free(v);
    mproc_value_free(m);
}

/* ---- references ----------------------------------------------------- */

/*
 * Receives one object of every kind and uses each: the lock and the rlock
 * are free, it releases the semaphore, sets the event, passes the barrier
 * of one, notifies under the condition, puts on the queue and sends on
 * the connection.
 */
static void use_every_reference(const mproc_value_t *args)
{
    mproc_lock_t *l, *l_again;
    mproc_rlock_t *r;
    mproc_sem_t *s;
    mproc_event_t *e;
    mproc_cond_t *c;
    mproc_barrier_t *b;
    mproc_queue_t *q;
    mproc_conn_t *w;
    mproc_value_t *msg;
    int n;
    if (mproc_unpack(args, "LRSECBQP i [L]", &l, &r, &s, &e, &c, &b, &q, &w, &n,
                     &l_again) < 0)
        mproc_raise_last();
    /* Opened once per process: the same reference, the same object. */
    CHILD_ASSERT(l == l_again);
    CHILD_ASSERT(mproc_lock_acquire(l, 0) == 0 && mproc_lock_release(l) == 0);
    CHILD_ASSERT(mproc_rlock_acquire(r, 0) == 0 && mproc_rlock_release(r) == 0);
    CHILD_ASSERT(mproc_sem_release(s) == 0);
    CHILD_ASSERT(mproc_event_set(e) == 0);
    CHILD_ASSERT(mproc_barrier_wait(b, MPROC_FOREVER) >= 0);
    CHILD_ASSERT(mproc_cond_acquire(c, MPROC_FOREVER) >= 0);
    CHILD_ASSERT(mproc_cond_notify_all(c) == 0);
    CHILD_ASSERT(mproc_cond_release(c) == 0);
    msg = mproc_pack("si", "from the queue", n);
    CHILD_ASSERT(mproc_queue_put(q, msg, MPROC_FOREVER) == 0);
    mproc_value_free(msg);
    msg = mproc_pack("si", "from the pipe", n);
    CHILD_ASSERT(mproc_conn_send(w, msg) == 0);
    mproc_value_free(msg);
    /* Runtime-owned: nothing to destroy. */
}
MPROC_TARGET(use_every_reference)

static void test_every_reference_letter(void)
{
    mproc_lock_t *l;
    mproc_rlock_t *r;
    mproc_sem_t *s;
    mproc_event_t *e;
    mproc_cond_t *c;
    mproc_barrier_t *b;
    mproc_queue_t *q;
    mproc_conn_t *rd, *wr;
    mproc_process_opts_t o = {.fn = use_every_reference};
    mproc_process_t *p;
    mproc_value_t *got = NULL;
    const char *what;
    int n = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&s, 0, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&e, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&c, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&rd, &wr, 0, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o,
                                      mproc_pack("LRSECBQP i [L]", l, r, s, e,
                                                 c, b, q, wr, 41, l)),
                          0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_sem_acquire(s, 0), 0);
    CU_ASSERT_EQUAL(mproc_event_is_set(e), 1);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &got, 0), 0);
    CU_ASSERT_EQUAL(mproc_unpack(got, "si", &what, &n), 0);
    CU_ASSERT_STRING_EQUAL(what, "from the queue");
    CU_ASSERT_EQUAL(n, 41);
    mproc_value_free(got);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(rd, &got), 0);
    CU_ASSERT_EQUAL(mproc_unpack(got, "si", &what, &n), 0);
    CU_ASSERT_STRING_EQUAL(what, "from the pipe");
    mproc_value_free(got);
    mproc_conn_close(rd);
    mproc_conn_close(wr);
    mproc_queue_destroy(q);
    mproc_barrier_destroy(b);
    mproc_cond_destroy(c);
    mproc_event_destroy(e);
    mproc_sem_destroy(s);
    mproc_rlock_destroy(r);
    mproc_lock_destroy(l);
}

static void test_reference_failures(void)
{
    mproc_lock_t *l, *got = NULL;
    mproc_event_t *e;
    mproc_queue_t *q = NULL;
    mproc_value_t *v;
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&e, NULL), 0);
    /* A NULL object, and the 'v' after it freed. */
    CU_ASSERT_PTR_NULL(
        mproc_pack("Lv", (mproc_lock_t *) NULL, mproc_value_str("freed")));
    CU_ASSERT_ERROR_SAYS("'L' at offset 0 got a NULL lock");
    CU_ASSERT_PTR_NULL(mproc_pack("iQ", 1, (mproc_queue_t *) NULL));
    CU_ASSERT_ERROR_SAYS("'Q' at offset 1 got a NULL queue");
    /* The wrong kind, and not a reference at all. */
    v = mproc_pack("LEi", l, e, 3);
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(mproc_unpack(v, "QEi", &q, NULL, NULL), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 0 ('Q' at offset 0) expected a queue "
                         "reference, found a lock reference");
    CU_ASSERT_PTR_NULL(q);
    CU_ASSERT_EQUAL(mproc_unpack(v, "LEL", &got, NULL, &got), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 2 ('L' at offset 2) expected a lock "
                         "reference, found an integer");
    CU_ASSERT_EQUAL(mproc_unpack(v, "iEi", NULL, NULL, NULL), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("expected an integer, found a lock reference");
    CU_ASSERT_EQUAL(mproc_unpack(v, "LLi", NULL, NULL, NULL), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 1 ('L' at offset 1) expected a lock "
                         "reference, found an event reference");
    CU_ASSERT_EQUAL(mproc_unpack(v, "LEE", NULL, NULL, NULL), MPROC_ETYPE);
    CU_ASSERT_ERROR_SAYS("item 2 ('E' at offset 2) expected an event "
                         "reference, found an integer");
    /* A NULL pointer still opens (checks) the object. */
    CU_ASSERT_EQUAL(mproc_unpack(v, "LE*", NULL, NULL), 0);
    CU_ASSERT_EQUAL(mproc_unpack(v, "L**", &got), 0);
    CU_ASSERT_PTR_NOT_NULL(got);
    mproc_value_free(v);
    mproc_event_destroy(e);
    mproc_lock_destroy(l);
    /* A fork-only object has no reference. */
    if (mproc_start_method_available(MPROC_START_FORK)) {
        mproc_sync_opts_t so = {.fork_only = 1};
        mproc_queue_opts_t qo = {.fork_only = 1};
        CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, &so), 0);
        CU_ASSERT_PTR_NULL(mproc_pack("vL", mproc_value_int(1), l));
        CU_ASSERT_ERROR_SAYS("'L' at offset 1 cannot refer to the lock: this "
                             "lock was created fork-only");
        CU_ASSERT_EQUAL(mproc_perror(NULL), MPROC_EFORKONLY);
        mproc_lock_destroy(l);
        CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &qo), 0);
        CU_ASSERT_PTR_NULL(mproc_pack("Q", q));
        CU_ASSERT_ERROR_SAYS("queue was created fork-only");
        mproc_queue_destroy(q);
    }
}

/* ---- targets by function, spawn ------------------------------------- */

static int g_marker; /* set after startup: fork children see it */

/* args: a number and its name; exits with the number if the name fits. */
static void numbered(const mproc_value_t *args)
{
    int n;
    const char *name;
    if (mproc_unpack(args, "is", &n, &name) < 0)
        mproc_raise_last();
    CHILD_ASSERT(strcmp(name, "seven") == 0);
    mproc_exit(n);
}
MPROC_TARGET(numbered)

/* Never registered: naming it by pointer must fail. */
static void unregistered(const mproc_value_t *args)
{
    (void) args;
}

/* Exits 10 if it sees the parent's change of g_marker (fork), else 11. */
static void which_memory(const mproc_value_t *args)
{
    (void) args;
    mproc_exit(g_marker ? 10 : 11);
}
MPROC_TARGET(which_memory)

static void test_spawn_by_function(void)
{
    mproc_process_opts_t o = {.fn = numbered};
    mproc_process_t *p = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, mproc_pack("is", 7, "seven")), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(p);
    CU_ASSERT_EQUAL(harness_join_code(p), 7);
    /* The name and the function may both be given when they agree. */
    o.target = "numbered";
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, mproc_pack("is", 8, "seven")), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 8);
    /* A second name of the same function agrees too. */
    o.target = "numbered_alias";
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, mproc_pack("is", 9, "seven")), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 9);
    /* The name alone still works, with create and start. */
    {
        mproc_process_opts_t named = {0};
        mproc_value_t *args = mproc_pack("is", 6, "seven");
        named.target = "numbered";
        named.args = args;
        CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &named), 0);
        mproc_value_free(args);
        CU_ASSERT_EQUAL_FATAL(mproc_process_start(p), 0);
        CU_ASSERT_EQUAL(harness_join_code(p), 6);
    }
    /* A failure inside the target reaches the parent as exit code 1. */
    o.target = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, mproc_pack("ss", "7", "seven")),
                          0);
    CU_ASSERT_EQUAL(harness_join_code(p), 1);
}

static void test_spawn_failures_leave_nothing(void)
{
    mproc_process_opts_t o = {.fn = unregistered};
    mproc_process_t *p = (mproc_process_t *) &o; /* must become NULL */
    /* The arguments are taken over on every failure (the sanitizer build
     * shows a leak otherwise). */
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("s", "leak?")),
                    MPROC_ENOTREG);
    CU_ASSERT_PTR_NULL(p);
    CU_ASSERT_ERROR_SAYS("the function given as .fn is not a registered "
                         "target");
    CU_ASSERT_ERROR_SAYS("MPROC_TARGET");
    o.target = "numbered";
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, NULL), MPROC_ENOTREG);
    CU_ASSERT_ERROR_SAYS("('numbered')");
    o.fn = numbered;
    o.target = "which_memory";
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("i", 1)), MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS(".fn and .target disagree");
    o.target = "no_such_target";
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("i", 1)), MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("no registered target");
    o.fn = NULL;
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("i", 1)), MPROC_ENOTREG);
    CU_ASSERT_ERROR_SAYS("target 'no_such_target' is not registered");
    o.target = NULL;
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("i", 1)), MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("needs a target");
    CU_ASSERT_EQUAL(mproc_spawn(&p, NULL, mproc_pack("i", 1)), MPROC_EINVAL);
    CU_ASSERT_PTR_NULL(p);
    /* Not a list. */
    o.fn = numbered;
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_value_int(1)), MPROC_EINVAL);
    CU_ASSERT_PTR_NULL(p);
    /* An unknown start method. */
    o.method = (mproc_start_method_e) 42;
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("is", 1, "seven")),
                    MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("unknown start method 42");
    o.method = MPROC_START_DEFAULT;
    /*
     * A pack that failed is that failure, not a child without arguments;
     * the failure is forgotten once spawn has reported it.
     */
    CU_ASSERT_EQUAL(mproc_spawn(&p, &o, mproc_pack("is", 1, (char *) NULL)),
                    MPROC_EINVAL);
    CU_ASSERT_ERROR_SAYS("got a NULL string");
    CU_ASSERT_PTR_NULL(p);
    o.fn = which_memory;
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 11);
}

/* A daemonic child may not have children: start fails after create. */
static void spawn_from_a_daemon(const mproc_value_t *args)
{
    mproc_process_opts_t o = {.fn = numbered};
    mproc_process_t *p = (mproc_process_t *) &o;
    (void) args;
    CHILD_ASSERT(mproc_spawn(&p, &o, mproc_pack("is", 1, "seven")) ==
                 MPROC_EDAEMON);
    CHILD_ASSERT(p == NULL);
    CHILD_ASSERT(mproc_active_children(NULL, 0) == 0);
}
MPROC_TARGET(spawn_from_a_daemon)

static void test_spawn_fails_at_start(void)
{
    mproc_process_opts_t o = {.fn = spawn_from_a_daemon,
                              .daemon = MPROC_DAEMON_YES};
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
}

/* ---- the start method as an option ---------------------------------- */

static void test_method_field(void)
{
    static const mproc_start_method_e methods[] = {
        MPROC_START_SPAWN, MPROC_START_FORK, MPROC_START_FORKSERVER};
    size_t i;
    g_marker = 1;
    for (i = 0; i < 3; i++) {
        mproc_process_opts_t o = {.fn = which_memory, .method = methods[i]};
        mproc_process_t *p = NULL;
        int rc = mproc_spawn(&p, &o, NULL);
        if (!mproc_start_method_available(methods[i])) {
            /* Windows: an answer with a sentence. */
            CU_ASSERT_EQUAL(rc, MPROC_ENOTSUP);
            CU_ASSERT_PTR_NULL(p);
            CU_ASSERT_ERROR_SAYS(mproc_start_method_name(methods[i]));
            CU_ASSERT_ERROR_SAYS("use spawn");
            continue;
        }
        CU_ASSERT_EQUAL_FATAL(rc, 0);
        CU_ASSERT_EQUAL(mproc_process_start_method(p), methods[i]);
        /* Only a fork child shares the parent's memory. */
        CU_ASSERT_EQUAL(harness_join_code(p),
                        methods[i] == MPROC_START_FORK ? 10 : 11);
    }
    /* 0 is the program's method: the one under test. */
    {
        mproc_process_opts_t o = {.fn = which_memory};
        mproc_process_t *p;
        CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, NULL), 0);
        CU_ASSERT_EQUAL(mproc_process_start_method(p), harness_method);
        CU_ASSERT_EQUAL(harness_join_code(p),
                        harness_method == MPROC_START_FORK ? 10 : 11);
    }
    g_marker = 0;
}

/* ---- fork-only objects ---------------------------------------------- */

static void test_fork_only_objects_stay_home(void)
{
    mproc_sync_opts_t so = {.fork_only = 1};
    mproc_cond_opts_t co = {.fork_only = 1};
    mproc_barrier_opts_t bo = {.fork_only = 1};
    mproc_queue_opts_t qo = {.fork_only = 1};
    mproc_event_t *e = NULL;
    mproc_rlock_t *r = NULL;
    mproc_cond_t *c = NULL;
    mproc_barrier_t *b = NULL;
    mproc_queue_t *q = NULL;
    mproc_value_t *ref = NULL;
    if (!mproc_start_method_available(MPROC_START_FORK)) {
        CU_ASSERT_EQUAL(mproc_event_create(&e, &so), MPROC_ENOTSUP);
        CU_ASSERT_ERROR_SAYS("fork-only event");
        CU_ASSERT_EQUAL(mproc_cond_create(&c, &co), MPROC_ENOTSUP);
        CU_ASSERT_EQUAL(mproc_barrier_create(&b, 2, &bo), MPROC_ENOTSUP);
        CU_ASSERT_EQUAL(mproc_queue_create(&q, &qo), MPROC_ENOTSUP);
        CU_ASSERT_ERROR_SAYS("fork-only queue");
        return;
    }
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&e, &so), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_rlock_create(&r, &so), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_cond_create(&c, &co), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_barrier_create(&b, 2, &bo), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_joinable_queue_create(&q, &qo), 0);
    CU_ASSERT_EQUAL(mproc_event_export(e, &ref), MPROC_EFORKONLY);
    CU_ASSERT_EQUAL(mproc_rlock_export(r, &ref), MPROC_EFORKONLY);
    CU_ASSERT_EQUAL(mproc_cond_export(c, &ref), MPROC_EFORKONLY);
    CU_ASSERT_EQUAL(mproc_barrier_export(b, &ref), MPROC_EFORKONLY);
    CU_ASSERT_EQUAL(mproc_queue_export(q, &ref), MPROC_EFORKONLY);
    CU_ASSERT_ERROR_SAYS("queue was created fork-only");
    CU_ASSERT_PTR_NULL(ref);
    /* They work in their own process. */
    CU_ASSERT_EQUAL(mproc_event_set(e), 0);
    CU_ASSERT_EQUAL(mproc_event_is_set(e), 1);
    {
        mproc_value_t *item = mproc_pack("s", "here"), *got = NULL;
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
        CU_ASSERT_EQUAL(mproc_queue_get(q, &got, 0), 0);
        CU_ASSERT_TRUE(mproc_value_equal(item, got));
        CU_ASSERT_EQUAL(mproc_queue_task_done(q), 0);
        CU_ASSERT_EQUAL(mproc_queue_join(q, 0), 0);
        mproc_value_free(item);
        mproc_value_free(got);
    }
    mproc_queue_destroy(q);
    mproc_barrier_destroy(b);
    mproc_cond_destroy(c);
    mproc_rlock_destroy(r);
    mproc_event_destroy(e);
}

#if !defined(_WIN32)
/* The fork child reaches the queue through the parent's memory. */
static mproc_queue_t *g_fork_queue;

static void put_through_memory(const mproc_value_t *args)
{
    static unsigned char big[64 * 1024];
    mproc_value_t *v;
    (void) args;
    memset(big, 'q', sizeof big);
    /* Bigger than the ring: it goes through the anonymous spill file. */
    v = mproc_pack("sy", "big", big, sizeof big);
    CHILD_ASSERT(mproc_queue_put(g_fork_queue, v, MPROC_FOREVER) == 0);
    mproc_value_free(v);
    v = mproc_pack("s", "small");
    CHILD_ASSERT(mproc_queue_put(g_fork_queue, v, MPROC_FOREVER) == 0);
    mproc_value_free(v);
}
MPROC_TARGET(put_through_memory)

static void test_fork_only_queue_in_a_fork_child(void)
{
    mproc_queue_opts_t qo = {.fork_only = 1, .capacity = 4096};
    mproc_process_opts_t o = {.fn = put_through_memory};
    mproc_process_t *p;
    mproc_value_t *got = NULL;
    const char *tag;
    const void *data;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&g_fork_queue, &qo), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(g_fork_queue, &got, 0), 0);
    CU_ASSERT_EQUAL(mproc_unpack(got, "sy", &tag, &data, &len), 0);
    CU_ASSERT_STRING_EQUAL(tag, "big");
    CU_ASSERT_EQUAL(len, 64 * 1024);
    CU_ASSERT_EQUAL(((const unsigned char *) data)[len - 1], 'q');
    mproc_value_free(got);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(g_fork_queue, &got, 0), 0);
    CU_ASSERT_EQUAL(mproc_unpack(got, "s", &tag), 0);
    CU_ASSERT_STRING_EQUAL(tag, "small");
    mproc_value_free(got);
    CU_ASSERT_EQUAL(mproc_queue_get(g_fork_queue, &got, 0), MPROC_EEMPTY);
    mproc_queue_destroy(g_fork_queue);
}
#endif

/* ---- perror and raise_last ------------------------------------------ */

static void test_perror(void)
{
    mproc_process_t *p;
    mproc_process_opts_t none = {0};
    char want[600], *err;
    int rc;
    CU_ASSERT_EQUAL(mproc_process_create(&p, &none), MPROC_EINVAL);
    snprintf(want, sizeof want, "cannot start: %s\n%s\n", mproc_last_error(),
             mproc_last_error());
    harness_capture_stderr_begin();
    rc = mproc_perror("cannot start");
    CU_ASSERT_EQUAL(mproc_perror(NULL), MPROC_EINVAL);
    err = harness_capture_stderr_end();
    CU_ASSERT_EQUAL(rc, MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, want);
    free(err);
    /* The status follows the latest failure. */
    CU_ASSERT_PTR_NULL(mproc_pack("?"));
    harness_capture_stderr_begin();
    rc = mproc_perror("pack");
    err = harness_capture_stderr_end();
    CU_ASSERT_EQUAL(rc, MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(err, "pack: mproc_pack(\"?\"): '?'"));
    free(err);
    {
        mproc_value_t *v = mproc_pack("i", 1);
        const char *s;
        CU_ASSERT_EQUAL(mproc_unpack(v, "s", &s), MPROC_ETYPE);
        harness_capture_stderr_begin();
        rc = mproc_perror("unpack");
        err = harness_capture_stderr_end();
        CU_ASSERT_EQUAL(rc, MPROC_ETYPE);
        free(err);
        mproc_value_free(v);
    }
}

/* Unpacks a string from a list that holds an integer, and raises. */
static void raise_the_last(const mproc_value_t *args)
{
    const char *s;
    if (mproc_unpack(args, "s", &s) < 0)
        mproc_raise_last();
    mproc_exit(5);
}
MPROC_TARGET(raise_the_last)

static void test_raise_last_in_a_child(void)
{
    mproc_process_opts_t o = {.fn = raise_the_last, .name = "unpacker"};
    mproc_process_t *p;
    char *err;
    int code;
    harness_capture_stderr_begin();
    CU_ASSERT_EQUAL_FATAL(mproc_spawn(&p, &o, mproc_pack("i", 42)), 0);
    code = harness_join_code(p);
    err = harness_capture_stderr_end();
    CU_ASSERT_EQUAL(code, 1);
    CU_ASSERT_PTR_NOT_NULL_FATAL(err);
    CU_ASSERT_STRING_EQUAL(err, "Process unpacker:\nmproc_unpack(\"s\"): "
                                "item 0 ('s' at offset 0) expected a string, "
                                "found an integer\n");
    free(err);
}

static const harness_test tests[] = {
    {"pack every letter", test_pack_every_letter, 0},
    {"pack bad formats", test_pack_bad_formats, 0},
    {"pack bad items", test_pack_bad_items, 0},
    {"unpack every letter", test_unpack_every_letter, 0},
    {"unpack wrong types", test_unpack_wrong_types, 0},
    {"unpack lengths and ranges", test_unpack_lengths_and_ranges, 0},
    {"unpack bad formats", test_unpack_bad_formats, 0},
    {"every reference letter", test_every_reference_letter, 0},
    {"reference failures", test_reference_failures, 0},
    {"spawn by function", test_spawn_by_function, 0},
    {"spawn failures leave nothing", test_spawn_failures_leave_nothing, 0},
    {"spawn fails at start", test_spawn_fails_at_start, 0},
    {"method field", test_method_field, 0},
    {"fork-only objects stay home", test_fork_only_objects_stay_home, 0},
#if !defined(_WIN32)
    {"fork-only queue in a fork child", test_fork_only_queue_in_a_fork_child,
     HARNESS_FORK},
#endif
    {"perror", test_perror, 0},
    {"raise_last in a child", test_raise_last_in_a_child, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    /* Before mproc_main, as every registration: a second name. */
    mproc_register_target("numbered_alias", numbered);
    return harness_main(argc, argv, "pack", tests);
}
