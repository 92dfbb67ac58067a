/*
 * Pipes and connections under each start method: every kind of value and
 * raw bytes, both directions, one-way ends, poll, the size limit,
 * corruption and truncation on the wire, the end of the stream,
 * connections handed to children as start arguments, big messages, and
 * mproc_wait over connections and processes (past Windows' 64 handles).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "mproc_private.h"

#if !defined(_WIN32)
    #include <poll.h>
#endif

/* ---- helpers ---------------------------------------------------------- */

static mproc_value_t *ref(const mproc_conn_t *c)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_conn_export(c, &v), 0);
    return v;
}

/*
 * Connection reference @r with its form and fields a and c changed (a < 0:
 * kept), as another process or another start would have made it.
 */
static mproc_value_t *altered(const mproc_value_t *r, int form, int64_t a,
                              int64_t c)
{
    const mproc_value_t *f = mproc__ref_fields(r);
    mproc_value_t *nf = mproc_value_list();
    size_t i;
    for (i = 0; i < mproc_value_len(f); i++) {
        mproc_value_t *item = mproc_value_copy(mproc_value_at(f, i));
        if (i == 6)
            item = (mproc_value_free(item), mproc_value_int(form));
        else if (i == 7 && a >= 0)
            item = (mproc_value_free(item), mproc_value_int(a));
        else if (i == 9)
            item = (mproc_value_free(item), mproc_value_int(c));
        mproc_value_append(nf, item);
    }
    return mproc__ref_new(MPROC_REF_CONN, nf);
}

/* In a child: the connection of argument @i, or exit 100 + @i. */
static mproc_conn_t *arg_conn(const mproc_value_t *args, size_t i)
{
    mproc_conn_t *c = NULL;
    if (mproc_conn_import(&c, mproc_value_at(args, i)) != 0) {
        fprintf(stderr, "import: %s\n", mproc_last_error());
        mproc_exit(100 + (int) i);
    }
    return c;
}

/* Receives one value and checks that it equals @want (freed). */
static void expect_value(mproc_conn_t *c, mproc_value_t *want)
{
    mproc_value_t *got = NULL;
    CU_ASSERT_EQUAL(mproc_conn_recv(c, &got), 0);
    CU_ASSERT_TRUE(mproc_value_equal(got, want));
    mproc_value_free(got);
    mproc_value_free(want);
}

static void send_str(mproc_conn_t *c, const char *s)
{
    mproc_value_t *v = mproc_value_str(s);
    CU_ASSERT_EQUAL(mproc_conn_send(c, v), 0);
    mproc_value_free(v);
}

/* The first OS handle under @c. */
static mproc__os_fd_t first_handle(mproc_conn_t *c)
{
    mproc__os_fd_t h[2];
    mproc__os_conn_handles(mproc__conn_os(c), h);
    return h[0];
}

/* Writes @n raw bytes past the framing, straight into the transport. */
static void write_raw(mproc_conn_t *c, const void *p, size_t n)
{
    CU_ASSERT_EQUAL(mproc__os_conn_write(mproc__conn_os(c), p, n), 0);
}

/* The frame of value @v, built as mproc_conn_send would. */
static void frame_of(const mproc_value_t *v, mproc__buf_t *out)
{
    mproc__buf_t payload = {0};
    CU_ASSERT_EQUAL(mproc__value_encode(v, &payload), 0);
    CU_ASSERT_EQUAL(
        mproc__frame_encode_flags(payload.data, payload.len, 0, NULL, out), 0);
    mproc__buf_free(&payload);
}

/* ---- children ----------------------------------------------------------- */

/* args: a duplex connection. Sends back every value until nil. */
static void echo(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args, 0);
    for (;;) {
        mproc_value_t *v = NULL;
        int rc = mproc_conn_recv(c, &v);
        CHILD_ASSERT(rc == 0);
        if (mproc_value_type(v) == MPROC_VALUE_NIL) {
            mproc_value_free(v);
            break;
        }
        CHILD_ASSERT(mproc_conn_send(c, v) == 0);
        mproc_value_free(v);
    }
    mproc_conn_close(c);
}
MPROC_TARGET(echo)

/*
 * args: the read end of one pipe, the write end of another: a relay, until
 * an empty message. (Not until the end of the stream: a fork child holds
 * copies of every end, the writing one included.)
 */
static void relay(const mproc_value_t *args)
{
    /* Both arrive as the fields of a record. */
    const mproc_value_t *pair = mproc_value_at(args, 0);
    mproc_conn_t *in = arg_conn(pair, 0), *out = arg_conn(pair, 1);
    void *buf;
    size_t len;
    /* Each end keeps its direction across the start. */
    CHILD_ASSERT(mproc_conn_send_bytes(in, "x", 1) == MPROC_ESTATE);
    CHILD_ASSERT(mproc_conn_recv_bytes(out, &buf, &len) == MPROC_ESTATE);
    for (;;) {
        CHILD_ASSERT(mproc_conn_recv_bytes(in, &buf, &len) == 0);
        if (len == 0) {
            free(buf);
            break;
        }
        CHILD_ASSERT(mproc_conn_send_bytes(out, buf, len) == 0);
        free(buf);
    }
    mproc_conn_close(in);
    mproc_conn_close(out);
}
MPROC_TARGET(relay)
MPROC_RECORD(conn_pair, NULL)

/* args: {"conn": a duplex connection}, handed on to an echo of its own. */
static void pass_on(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL;
    if (mproc_conn_import(
            &c, mproc_value_get(mproc_value_at(args, 0), "conn")) != 0)
        mproc_exit(100);
    mproc_process_opts_t o = {0};
    mproc_process_t *p = NULL;
    mproc_value_t *r = NULL, *list;
    int code = -1;
    CHILD_ASSERT(mproc_conn_export(c, &r) == 0);
    o.target = "echo";
    o.args = list = mproc_value_list_of(1, r);
    CHILD_ASSERT(mproc_process_create(&p, &o) == 0);
    mproc_value_free(list);
    CHILD_ASSERT(mproc_process_start(p) == 0);
    mproc_conn_close(c);
    CHILD_ASSERT(mproc_process_join(p, MPROC_FOREVER) == 0);
    CHILD_ASSERT(mproc_process_exitcode(p, &code) == 0 && code == 0);
    mproc_process_destroy(p);
}
MPROC_TARGET(pass_on)

/* args: a write end. Writes the first half of a frame and dies. */
static void half_frame(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args, 0);
    mproc_value_t *v = mproc_value_str("a message that never ends");
    mproc__buf_t f = {0};
    mproc__buf_t payload = {0};
    CHILD_ASSERT(mproc__value_encode(v, &payload) == 0);
    CHILD_ASSERT(
        mproc__frame_encode_flags(payload.data, payload.len, 0, NULL, &f) == 0);
    CHILD_ASSERT(mproc__os_conn_write(mproc__conn_os(c), f.data, f.len / 2) ==
                 0);
    /* No goodbye: the process ends with the frame cut. */
    mproc__os_exit_now(0);
}
MPROC_TARGET(half_frame)

/* args: a duplex connection. Waits for "go", answers "hello", then nil. */
static void go_then_send(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args, 0);
    mproc_value_t *v = NULL, *hello = mproc_value_str("hello");
    CHILD_ASSERT(mproc_conn_recv(c, &v) == 0);
    CHILD_ASSERT(strcmp(mproc_value_as_str(v), "go") == 0);
    mproc_value_free(v);
    CHILD_ASSERT(mproc_conn_send(c, hello) == 0);
    mproc_value_free(hello);
    /* Stays until told to go, so that its end is not ready before. */
    CHILD_ASSERT(mproc_conn_recv(c, &v) == 0);
    mproc_value_free(v);
    mproc_conn_close(c);
}
MPROC_TARGET(go_then_send)

/* args: a connection. Ends as soon as anything arrives. */
static void exit_on_message(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args, 0);
    CHILD_ASSERT(mproc_conn_poll(c, MPROC_FOREVER) == 0);
    mproc_conn_close(c);
}
MPROC_TARGET(exit_on_message)

/* args: a write end. Sends one value. */
static void send_one(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args, 0);
    mproc_value_t *v = mproc_value_str("from a child");
    CHILD_ASSERT(mproc_conn_send(c, v) == 0);
    mproc_value_free(v);
    mproc_conn_close(c);
}
MPROC_TARGET(send_one)

/*
 * args: a reference of another process, a slot reference of another
 * start, and (spawn and forkserver) the same passed connection twice,
 * which is also tried with a second slot that was never passed.
 */
static void bad_imports(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL;
    CHILD_ASSERT(mproc_conn_import(&c, mproc_value_at(args, 0)) ==
                 MPROC_ENOTSUP);
    CHILD_ASSERT(strstr(mproc_last_error(), "start argument") != NULL);
    CHILD_ASSERT(mproc_conn_import(&c, mproc_value_at(args, 1)) ==
                 MPROC_ENOTSUP);
    if (mproc_value_len(args) > 2) {
        /*
         * The same slot with a second slot of nobody's: refused, and the
         * first slot stays there to import.
         */
        const mproc_value_t *f = mproc__ref_fields(mproc_value_at(args, 2));
        mproc_value_t *nf = mproc_value_list(), *two;
        mproc_conn_t *once;
        size_t i;
        for (i = 0; i < mproc_value_len(f); i++)
            mproc_value_append(nf,
                               i == 8 ? mproc_value_int(99)
                                      : mproc_value_copy(mproc_value_at(f, i)));
        two = mproc__ref_new(MPROC_REF_CONN, nf);
        CHILD_ASSERT(two != NULL);
        CHILD_ASSERT(mproc_conn_import(&c, two) == MPROC_ENOTSUP);
        mproc_value_free(two);
        once = arg_conn(args, 2);
        CHILD_ASSERT(mproc_conn_import(&c, mproc_value_at(args, 3)) ==
                     MPROC_EINVAL);
        mproc_conn_close(once);
    }
}
MPROC_TARGET(bad_imports)

/* ---- values and bytes --------------------------------------------------- */

static mproc_value_t *every_kind(void)
{
    mproc_value_t *m = mproc_value_map(), *nested = mproc_value_map();
    mproc_value_map_set(m, mproc_value_int(7), mproc_value_str("seven"));
    mproc_value_map_set_str(nested, "deep",
                            mproc_value_list_of(1, mproc_value_float(-0.5)));
    mproc_value_map_set_str(m, "nested", nested);
    return mproc_value_list_of(
        16, mproc_value_nil(), mproc_value_bool(1), mproc_value_bool(0),
        mproc_value_int(0), mproc_value_int(-1), mproc_value_int(INT64_MIN),
        mproc_value_int(INT64_MAX), mproc_value_float(3.25),
        mproc_value_str(""), mproc_value_strn("h\xc3\xa9llo\0x", 8),
        mproc_value_bytes("\0\1\2\377", 4), mproc_value_bytes("", 0),
        mproc_value_list(), mproc_value_map(), m,
        mproc_value_list_of(2, mproc_value_list_of(1, mproc_value_int(1)),
                            mproc_value_str("x")));
}

static void test_every_kind_of_value(void)
{
    mproc_conn_t *a, *b;
    mproc_value_t *all = every_kind();
    size_t i;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(all);
    /* One by one, then all of them in one message. */
    for (i = 0; i < mproc_value_len(all); i++) {
        CU_ASSERT_EQUAL(mproc_conn_send(b, mproc_value_at(all, i)), 0);
        expect_value(a, mproc_value_copy(mproc_value_at(all, i)));
    }
    CU_ASSERT_EQUAL(mproc_conn_send(b, all), 0);
    expect_value(a, mproc_value_copy(all));
    mproc_value_free(all);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

static void test_bytes(void)
{
    mproc_conn_t *a, *b;
    mproc_value_t *v = NULL, *seven = mproc_value_int(7);
    void *buf = NULL;
    size_t len = 99;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "ab\0cd", 5), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
    CU_ASSERT_EQUAL(len, 5);
    CU_ASSERT_EQUAL(memcmp(buf, "ab\0cd", 5), 0);
    free(buf);
    /* An empty message is a message. */
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, NULL, 0), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_PTR_NOT_NULL(buf);
    free(buf);
    /* Bytes received as a value are decoded (Python's loads(recv_bytes())):
     * msgpack 0x07 is 7. */
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "\x07", 1), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, seven));
    mproc_value_free(v);
    v = NULL;
    /* Bytes that are no value are corrupt, and the next message arrives. */
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "\xc1", 1), 0);
    send_str(b, "after");
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    expect_value(a, mproc_value_str("after"));
    /* A value received as bytes is its encoding (msgpack 7 is 0x07). */
    CU_ASSERT_EQUAL(mproc_conn_send(b, seven), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
    CU_ASSERT_EQUAL(len, 1);
    CU_ASSERT_EQUAL(((unsigned char *) buf)[0], 7);
    free(buf);
    mproc_value_free(seven);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

static void test_duplex_and_simplex(void)
{
    mproc_conn_t *a, *b, *r, *w;
    mproc_waitable_t item = {0};
    void *buf;
    size_t len;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    send_str(a, "a to b");
    send_str(b, "b to a");
    expect_value(b, mproc_value_str("a to b"));
    expect_value(a, mproc_value_str("b to a"));
    mproc_conn_close(a);
    mproc_conn_close(b);

    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    send_str(w, "one way");
    expect_value(r, mproc_value_str("one way"));
    {
        mproc_value_t *v = mproc_value_nil(), *got = v;
        CU_ASSERT_EQUAL(mproc_conn_send(r, v), MPROC_ESTATE);
        mproc_value_free(v);
        CU_ASSERT_EQUAL(mproc_conn_recv(w, &got), MPROC_ESTATE);
        CU_ASSERT_PTR_NULL(got);
    }
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(r, "x", 1), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(w, &buf, &len), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_conn_poll(w, 0), MPROC_ESTATE);
    item.conn = w;
    CU_ASSERT_EQUAL(mproc_wait(&item, 1, 0), MPROC_ESTATE);
    /* Still usable after the refusals. */
    send_str(w, "again");
    expect_value(r, mproc_value_str("again"));
    mproc_conn_close(r);
    mproc_conn_close(w);
}

static void test_poll(void)
{
    mproc_conn_t *a, *b, *c, *d;
    mproc_process_t *p;
    double t0;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);
    t0 = mproc__os_monotonic();
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0.05), MPROC_ETIMEDOUT);
    CU_ASSERT_TRUE(mproc__os_monotonic() - t0 >= 0.045);
    send_str(b, "first");
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), 0);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 5), 0);
    send_str(b, "second");
    expect_value(a, mproc_value_str("first"));
    /*
     * The read that brought "first" brought "second" too: the OS has
     * nothing more, and poll must still see the message in the buffer.
     */
    CU_ASSERT_EQUAL(mproc__os_conn_wait_readable(mproc__conn_os(a), 0),
                    MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), 0);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 5), 0);
    expect_value(a, mproc_value_str("second"));
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);
    mproc_conn_close(a);
    mproc_conn_close(b);

    /* A positive timeout ends when another process sends. */
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&c, &d, 1, NULL), 0);
    p = harness_start("go_then_send", mproc_value_list_of(1, ref(d)));
    mproc_conn_close(d);
    CU_ASSERT_EQUAL(mproc_conn_poll(c, 0.05), MPROC_ETIMEDOUT);
    send_str(c, "go");
    CU_ASSERT_EQUAL(mproc_conn_poll(c, 60), 0);
    expect_value(c, mproc_value_str("hello"));
    send_str(c, "bye");
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_conn_close(c);
}

static void test_export_with_unread_data(void)
{
    mproc_conn_t *a, *b;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    send_str(b, "one");
    send_str(b, "two");
    /* Waiting takes nothing away: the end can still be handed over. */
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 10), 0);
    CU_ASSERT_EQUAL(mproc_conn_export(a, &v), 0);
    mproc_value_free(v);
    v = NULL;
    /* Reading "one" read "two" ahead, which a child would never see. */
    expect_value(a, mproc_value_str("one"));
    CU_ASSERT_EQUAL(mproc_conn_export(a, &v), MPROC_ESTATE);
    CU_ASSERT_PTR_NULL(v);
    expect_value(a, mproc_value_str("two"));
    CU_ASSERT_EQUAL(mproc_conn_export(a, &v), 0);
    mproc_value_free(v);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

static void test_codec_options_are_checked(void)
{
    mproc_conn_opts_t o = {0};
    mproc_conn_t *a, *b;
    char text[4096];
    void *buf;
    size_t len;
    o.codec.compress_level = 10;
    CU_ASSERT_EQUAL(mproc_pipe(&a, &b, 1, &o), MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "compress_level"));
    CU_ASSERT_PTR_NULL(a);
    CU_ASSERT_PTR_NULL(b);
    /* The strongest level is accepted, and what it deflates round-trips. */
    memset(text, 'm', sizeof text);
    o.codec.compress_level = 9;
    o.codec.compress_threshold = 1024;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, &o), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, text, sizeof text), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
    CU_ASSERT_EQUAL(len, sizeof text);
    CU_ASSERT_EQUAL(memcmp(buf, text, sizeof text), 0);
    free(buf);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

/* A byte-level relay of values: recv_bytes on one pipe, send_bytes on. */
static void test_relay_of_values_as_bytes(void)
{
    mproc_conn_t *a, *b, *c, *d;
    mproc_value_t *v = mproc_value_list_of(3, mproc_value_str("x"),
                                           mproc_value_int(-5),
                                           mproc_value_float(1.5)),
                  *got = NULL;
    void *buf = NULL;
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&c, &d, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_conn_send(b, v), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(d, buf, len), 0);
    free(buf);
    CU_ASSERT_EQUAL(mproc_conn_recv(c, &got), 0);
    CU_ASSERT_TRUE(mproc_value_equal(got, v));
    mproc_value_free(got);
    mproc_value_free(v);
    mproc_conn_close(a);
    mproc_conn_close(b);
    mproc_conn_close(c);
    mproc_conn_close(d);
}

static void test_recv_bytes_into(void)
{
    mproc_conn_t *a, *b;
    char buf[8] = "zzzzzzzz";
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "0123456789", 10), 0);
    /* Too short: the size needed, the buffer and the message untouched. */
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes_into(a, buf, sizeof buf, &len),
                    MPROC_ETOOSHORT);
    CU_ASSERT_EQUAL(len, 10);
    CU_ASSERT_EQUAL(memcmp(buf, "zzzzzzzz", 8), 0);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), 0);
    {
        char big[16];
        len = 0;
        CU_ASSERT_EQUAL(mproc_conn_recv_bytes_into(a, big, sizeof big, &len),
                        0);
        CU_ASSERT_EQUAL(len, 10);
        CU_ASSERT_EQUAL(memcmp(big, "0123456789", 10), 0);
    }
    /* Exactly the size fits; an empty message is one too. */
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "abcdefgh", 8), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "", 0), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes_into(a, buf, sizeof buf, &len), 0);
    CU_ASSERT_EQUAL(len, 8);
    CU_ASSERT_EQUAL(memcmp(buf, "abcdefgh", 8), 0);
    len = 99;
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes_into(a, buf, sizeof buf, &len), 0);
    CU_ASSERT_EQUAL(len, 0);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);
    mproc_conn_close(b);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes_into(a, buf, sizeof buf, &len),
                    MPROC_ECLOSED);
    mproc_conn_close(a);
}

static void test_fileno(void)
{
    mproc_conn_t *a, *b;
    intptr_t ha = -1, hb = -1;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_conn_fileno(a, &ha), 0);
    CU_ASSERT_EQUAL(mproc_conn_fileno(b, &hb), 0);
    CU_ASSERT(ha != hb);
#if defined(_WIN32)
    CU_ASSERT(ha != 0 && ha != (intptr_t) -1);
#else
    CU_ASSERT(ha > 2 && hb > 2);
    /* It is the descriptor the messages travel on. */
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "x", 1), 0);
    {
        struct pollfd pfd = {0};
        pfd.fd = (int) ha;
        pfd.events = POLLIN;
        CU_ASSERT_EQUAL(poll(&pfd, 1, 5000), 1);
    }
#endif
    CU_ASSERT_EQUAL(mproc_conn_fileno(NULL, &ha), MPROC_EINVAL);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

/* The maximum counts the user's payload: exactly that much fits. */
static void test_a_message_of_the_maximum_size_fits(void)
{
    mproc_conn_opts_t o = {0};
    mproc_conn_t *a, *b;
    unsigned char *big = malloc(1000), *got = NULL;
    mproc_value_t *v, *back = NULL;
    size_t i, len = 0, enc_len;
    void *enc = NULL;
    uint32_t x = 12345;
    /* Incompressible, so the frame's body is at least the payload. */
    for (i = 0; i < 1000; i++) {
        x = x * 1103515245u + 12345u;
        big[i] = (unsigned char) (x >> 23);
    }
    o.codec.max_message = 1000;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, &o), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, big, 1000), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, (void **) &got, &len), 0);
    CU_ASSERT_EQUAL(len, 1000);
    CU_ASSERT(got != NULL && memcmp(got, big, 1000) == 0);
    free(got);
    /* A value whose encoding is exactly the maximum (bin 16: 3 bytes). */
    v = mproc_value_bytes(big, 997);
    CU_ASSERT_EQUAL(mproc_conn_send(b, v), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &enc, &enc_len), 0);
    CU_ASSERT_EQUAL(enc_len, 1000);
    free(enc);
    CU_ASSERT_EQUAL(mproc_conn_send(b, v), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &back), 0);
    CU_ASSERT_TRUE(mproc_value_equal(back, v));
    mproc_value_free(back);
    mproc_value_free(v);
    free(big);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

static void test_too_big_sends_nothing(void)
{
    mproc_conn_opts_t o = {0};
    mproc_conn_t *a, *b;
    mproc_value_t *v;
    char *big = calloc(1, 2000);
    o.codec.max_message = 1000;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, &o), 0);
    /* Zeros would deflate to nothing; the limit is on the message itself. */
    v = mproc_value_bytes(big, 2000);
    CU_ASSERT_EQUAL(mproc_conn_send(b, v), MPROC_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "nothing was sent"));
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, big, 1001), MPROC_ETOOBIG);
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, big, 1000), 0);
    send_str(b, "intact");
    {
        void *buf;
        size_t len;
        CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
        CU_ASSERT_EQUAL(len, 1000);
        free(buf);
    }
    expect_value(a, mproc_value_str("intact"));
    free(big);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

/* @n lists, one inside the other, around an integer: depth @n. */
static mproc_value_t *nested_lists(int n)
{
    mproc_value_t *v = mproc_value_int(7);
    while (n-- > 0)
        v = mproc_value_list_of(1, v);
    return v;
}

/*
 * A value nested deeper than any receiver decodes is refused by the send,
 * so nothing arrives; a value at exactly the limit goes through.
 */
static void test_too_deep_sends_nothing(void)
{
    mproc_conn_t *a, *b;
    mproc_value_t *deep = nested_lists(MPROC_VALUE_MAX_DEPTH + 1);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL(mproc_conn_send(b, deep), MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "MPROC_VALUE_MAX_DEPTH"));
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);
    send_str(b, "intact");
    CU_ASSERT_EQUAL(mproc_conn_send(b, mproc_value_at(deep, 0)), 0);
    expect_value(a, mproc_value_str("intact"));
    expect_value(a, nested_lists(MPROC_VALUE_MAX_DEPTH));
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);
    mproc_value_free(deep);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

/* ---- damage ------------------------------------------------------------- */

static void test_corruption_is_skipped(void)
{
    static const char garbage[] = "this is not a frame, MPRC neither";
    mproc_conn_t *a, *b;
    mproc__buf_t f = {0};
    mproc_value_t *v = mproc_value_str("bait");
    mproc_value_t *out = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    frame_of(v, &f);
    mproc_value_free(v);

    /* Garbage and a frame with a flipped body bit, between two goods. */
    send_str(b, "good 1");
    write_raw(b, garbage, sizeof garbage - 1);
    f.data[f.len - 2] ^= 0x10;
    write_raw(b, f.data, f.len);
    send_str(b, "good 2");
    expect_value(a, mproc_value_str("good 1"));
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &out), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(out);
    expect_value(a, mproc_value_str("good 2"));
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), MPROC_ETIMEDOUT);

    /* The flipped frame alone: its checksum. */
    write_raw(b, f.data, f.len);
    send_str(b, "good 3");
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &out), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "checksum"));
    /* The good frame waits in the buffer; poll knows. */
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), 0);
    expect_value(a, mproc_value_str("good 3"));

    /* A damaged length: far beyond the limit. */
    f.data[f.len - 2] ^= 0x10;
    mproc__put_u32(f.data + 8, 0x7fffffffu);
    write_raw(b, f.data, f.len);
    send_str(b, "good 4");
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &out), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "header"));
    expect_value(a, mproc_value_str("good 4"));
    mproc__buf_free(&f);

    /* An intact frame whose content is no msgpack: consumed whole. */
    CU_ASSERT_EQUAL(mproc__frame_encode_flags("\xc1", 1, 0, NULL, &f), 0);
    write_raw(b, f.data, f.len);
    send_str(b, "good 5");
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &out), MPROC_ECORRUPT);
    expect_value(a, mproc_value_str("good 5"));
    mproc__buf_free(&f);

    /* Garbage through recv_bytes too. */
    write_raw(b, garbage, 5);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(b, "good 6", 6), 0);
    {
        void *buf = NULL;
        size_t len = 0;
        CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), MPROC_ECORRUPT);
        CU_ASSERT_EQUAL(mproc_conn_recv_bytes(a, &buf, &len), 0);
        CU_ASSERT_TRUE(len == 6 && memcmp(buf, "good 6", 6) == 0);
        free(buf);
    }
    mproc_conn_close(a);
    mproc_conn_close(b);
}

static void test_peer_dies_mid_message(void)
{
    mproc_conn_t *r, *w;
    mproc_value_t *v = NULL;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    p = harness_start("half_frame", mproc_value_list_of(1, ref(w)));
    /* As a Python program does: the child has its own copy now. */
    mproc_conn_close(w);
    CU_ASSERT_EQUAL(mproc_conn_recv(r, &v), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "truncated"));
    CU_ASSERT_EQUAL(mproc_conn_recv(r, &v), MPROC_ECLOSED);
    CU_ASSERT_EQUAL(mproc_conn_recv(r, &v), MPROC_ECLOSED);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_conn_close(r);
}

static void test_end_of_stream(void)
{
    mproc_conn_t *a, *b, *r, *w;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    send_str(b, "last words");
    mproc_conn_close(b);
    /* What was sent before the close still arrives. */
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), 0);
    expect_value(a, mproc_value_str("last words"));
    CU_ASSERT_EQUAL(mproc_conn_poll(a, 0), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), MPROC_ECLOSED);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), MPROC_ECLOSED);
    CU_ASSERT_PTR_NULL(v);
    /* Writing to a closed peer is an error, not a signal. */
    v = mproc_value_int(1);
    CU_ASSERT_EQUAL(mproc_conn_send(a, v), MPROC_ECLOSED);
    mproc_value_free(v);
    mproc_conn_close(a);

    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    mproc_conn_close(r);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(w, "x", 1), MPROC_ECLOSED);
    mproc_conn_close(w);
}

/* ---- handing over ------------------------------------------------------- */

static void test_connection_as_start_argument(void)
{
    mproc_conn_t *a, *b, *in_r, *in_w, *out_r, *out_w;
    mproc_value_t *all = every_kind();
    mproc_process_t *p;
    size_t i;

    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    p = harness_start("echo", mproc_value_list_of(1, ref(b)));
    /* Closing the parent's copy leaves the child's alone. */
    mproc_conn_close(b);
    for (i = 0; i < mproc_value_len(all); i++) {
        if (mproc_value_type(mproc_value_at(all, i)) == MPROC_VALUE_NIL)
            continue;
        CU_ASSERT_EQUAL(mproc_conn_send(a, mproc_value_at(all, i)), 0);
        expect_value(a, mproc_value_copy(mproc_value_at(all, i)));
    }
    CU_ASSERT_EQUAL(mproc_conn_send(a, all), 0);
    expect_value(a, mproc_value_copy(all));
    mproc_value_free(all);
    all = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_conn_send(a, all), 0);
    mproc_value_free(all);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    /* The child's end went with the child: the stream has ended. */
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &all), MPROC_ECLOSED);
    mproc_conn_close(a);

    /* Two one-way pipes, one end of each, in one start. */
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&in_r, &in_w, 0, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&out_r, &out_w, 0, NULL), 0);
    p = harness_start(
        "relay",
        mproc_value_list_of(
            1, mproc_value_record("conn_pair", mproc_value_list_of(
                                                   2, ref(in_r), ref(out_w)))));
    mproc_conn_close(in_r);
    mproc_conn_close(out_w);
    for (i = 0; i < 20; i++) {
        char msg[32];
        void *buf;
        size_t len;
        snprintf(msg, sizeof msg, "message %d", (int) i);
        CU_ASSERT_EQUAL(mproc_conn_send_bytes(in_w, msg, strlen(msg)), 0);
        CU_ASSERT_EQUAL(mproc_conn_recv_bytes(out_r, &buf, &len), 0);
        CU_ASSERT_TRUE(len == strlen(msg) && memcmp(buf, msg, len) == 0);
        free(buf);
    }
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(in_w, "", 0), 0);
    mproc_conn_close(in_w);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(out_r, &all), MPROC_ECLOSED);
    mproc_conn_close(out_r);
}

static void test_connection_passed_on_to_a_grandchild(void)
{
    mproc_conn_t *a, *b;
    mproc_value_t *v = NULL;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    v = mproc_value_map();
    mproc_value_map_set_str(v, "conn", ref(b));
    p = harness_start("pass_on", mproc_value_list_of(1, v));
    mproc_conn_close(b);
    send_str(a, "to the grandchild");
    expect_value(a, mproc_value_str("to the grandchild"));
    v = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_conn_send(a, v), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), MPROC_ECLOSED);
    mproc_conn_close(a);
}

static void test_big_messages_both_ways(void)
{
    const size_t n = (size_t) 8 << 20;
    unsigned char *noise = malloc(n);
    char *text = malloc(n + 1);
    mproc_conn_t *a, *b;
    mproc_value_t *v;
    mproc_process_t *p;
    uint32_t x = 12345;
    size_t i;

    CU_ASSERT_PTR_NOT_NULL_FATAL(noise);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    /* Incompressible noise, and text that deflate shrinks. */
    for (i = 0; i < n; i++) {
        x = x * 1103515245u + 12345u;
        noise[i] = (unsigned char) (x >> 23);
        text[i] = "the quick brown fox "[i % 20];
    }
    text[n] = '\0';
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    p = harness_start("echo", mproc_value_list_of(1, ref(b)));
    mproc_conn_close(b);

    v = mproc_value_bytes(noise, n);
    CU_ASSERT_EQUAL(mproc_conn_send(a, v), 0);
    expect_value(a, v);
    v = mproc_value_str(text);
    CU_ASSERT_EQUAL(mproc_conn_send(a, v), 0);
    expect_value(a, v);
    /* A value's encoding sent as bytes: the echo receives that value. */
    {
        mproc__buf_t enc = {0};
        v = mproc_value_bytes(noise, n);
        CU_ASSERT_EQUAL(mproc__value_encode(v, &enc), 0);
        CU_ASSERT_EQUAL(mproc_conn_send_bytes(a, enc.data, enc.len), 0);
        expect_value(a, v);
        mproc__buf_free(&enc);
    }

    v = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_conn_send(a, v), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_conn_close(a);
    free(noise);
    free(text);
}

static void test_references_that_did_not_come_as_arguments(void)
{
    mproc_conn_t *a, *b, *c = NULL;
    mproc_value_t *mine, *foreign, *slot, *args;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    mine = ref(b);

    /* In the process that exported it: not a start argument. */
    CU_ASSERT_EQUAL(mproc_conn_import(&c, mine), MPROC_ENOTSUP);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "start argument"));
    CU_ASSERT_PTR_NULL(c);
    /* Not a reference at all. */
    args = mproc_value_int(3);
    CU_ASSERT_EQUAL(mproc_conn_import(&c, args), MPROC_ETYPE);
    CU_ASSERT_EQUAL(mproc_value_to_conn(args, &c), MPROC_ETYPE);
    mproc_value_free(args);

    /* Another process's reference, and a slot of some other start. */
    foreign = altered(mine, MPROC__REF_CONN_OWN, -1, 1);
    slot = altered(mine, MPROC__REF_CONN_SLOT, 0, 42);
    CU_ASSERT_PTR_NOT_NULL_FATAL(foreign);
    CU_ASSERT_PTR_NOT_NULL_FATAL(slot);
    CU_ASSERT_EQUAL(mproc_conn_import(&c, slot), MPROC_ENOTSUP);
    args = mproc_value_list_of(2, foreign, slot);
    /* A fork child shares every descriptor: a slot means nothing there. */
    if (harness_method != MPROC_START_FORK) {
        mproc_value_append(args, mproc_value_copy(mine));
        mproc_value_append(args, mproc_value_copy(mine));
    }
    p = harness_start("bad_imports", args);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_value_free(mine);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

/* ---- waiting ------------------------------------------------------------ */

static void test_wait_for_connections_and_processes(void)
{
    mproc_conn_t *c1, *d1, *c2, *d2, *c3, *d3;
    mproc_process_t *pa, *pb, *unstarted;
    mproc_process_opts_t o = {0};
    mproc_waitable_t it[5];
    mproc_value_t *v = NULL;
    double t0;
    int i;

    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&c1, &d1, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&c2, &d2, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&c3, &d3, 1, NULL), 0);
    pa = harness_start("go_then_send", mproc_value_list_of(1, ref(d1)));
    pb = harness_start("exit_on_message", mproc_value_list_of(1, ref(d2)));
    mproc_conn_close(d1);
    mproc_conn_close(d2);
    memset(it, 0, sizeof it);
    it[0].conn = c1;
    it[1].conn = c2;
    it[2].conn = c3;
    it[3].process = pa;
    it[4].process = pb;

    t0 = mproc__os_monotonic();
    CU_ASSERT_EQUAL(mproc_wait(it, 5, 0.05), MPROC_ETIMEDOUT);
    CU_ASSERT_TRUE(mproc__os_monotonic() - t0 >= 0.045);
    for (i = 0; i < 5; i++)
        CU_ASSERT_FALSE(it[i].ready);

    /* A connection becomes ready. */
    send_str(c1, "go");
    CU_ASSERT_EQUAL(mproc_wait(it, 5, MPROC_FOREVER), 1);
    CU_ASSERT_TRUE(it[0].ready);
    expect_value(c1, mproc_value_str("hello"));

    /* A process ends (its connection then reaches its end too). */
    send_str(c2, "stop");
    CU_ASSERT_EQUAL(mproc_wait(&it[4], 1, MPROC_FOREVER), 1);
    CU_ASSERT_TRUE(it[4].ready);
    /*
     * Its end of the pipe has gone with it, but under fork the other
     * child inherited a copy of that end and keeps it open.
     */
    if (harness_method == MPROC_START_FORK) {
        CU_ASSERT_EQUAL(mproc_wait(it, 5, 0), 1);
        CU_ASSERT_FALSE(it[1].ready);
    } else {
        CU_ASSERT_EQUAL(mproc_wait(it, 5, 0), 2);
        CU_ASSERT_TRUE(it[1].ready);
    }
    CU_ASSERT_TRUE(!it[0].ready && !it[2].ready && !it[3].ready && it[4].ready);
    /* A joined process is ready at once. */
    CU_ASSERT_EQUAL(mproc_process_join(pb, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_wait(&it[4], 1, 0), 1);
    CU_ASSERT_EQUAL(mproc_wait(&it[4], 1, MPROC_FOREVER), 1);

    /* Data waiting in a connection's buffer is ready too. */
    send_str(d3, "x");
    send_str(d3, "y");
    expect_value(c3, mproc_value_str("x"));
    CU_ASSERT_EQUAL(mproc_wait(&it[2], 1, 0), 1);
    expect_value(c3, mproc_value_str("y"));
    CU_ASSERT_EQUAL(mproc_wait(&it[2], 1, 0), MPROC_ETIMEDOUT);

    /* What cannot be waited for. */
    o.target = "send_one";
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&unstarted, &o), 0);
    it[1].process = unstarted;
    it[1].conn = NULL;
    CU_ASSERT_EQUAL(mproc_wait(&it[1], 1, 0), MPROC_ENOTSTARTED);
    it[1].conn = c2;
    CU_ASSERT_EQUAL(mproc_wait(&it[1], 1, 0), MPROC_EINVAL);
    mproc_process_destroy(unstarted);

    send_str(c1, "bye");
    CU_ASSERT_EQUAL(harness_join_code(pa), 0);
    CU_ASSERT_EQUAL(harness_join_code(pb), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(c2, &v), MPROC_ECLOSED);
    mproc_conn_close(c1);
    mproc_conn_close(c2);
    mproc_conn_close(c3);
    mproc_conn_close(d3);
}

#define MANY 70

static void test_wait_for_nothing(void)
{
    mproc_waitable_t item = {0};
    /* Refused at once: with no items nothing can become ready. */
    CU_ASSERT_EQUAL_FATAL(mproc_wait(&item, 0, 0), MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "at least one item"));
    CU_ASSERT_EQUAL_FATAL(mproc_wait(NULL, 0, MPROC_FOREVER), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_wait(&item, 0, 0.05), MPROC_EINVAL);
}

static void test_wait_for_more_than_64(void)
{
    mproc_conn_t *r[MANY], *w[MANY];
    mproc_waitable_t it[MANY + 1];
    mproc_process_t *p;
    int i, n;

    memset(it, 0, sizeof it);
    for (i = 0; i < MANY; i++) {
        CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r[i], &w[i], 0, NULL), 0);
        it[i].conn = r[i];
    }
    CU_ASSERT_EQUAL(mproc_wait(it, MANY, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_wait(it, MANY, 0.05), MPROC_ETIMEDOUT);

    /* Ready before the wait, past the first 64. */
    send_str(w[3], "three");
    send_str(w[MANY - 1], "last");
    CU_ASSERT_EQUAL(mproc_wait(it, MANY, MPROC_FOREVER), 2);
    for (i = 0, n = 0; i < MANY; i++)
        n += it[i].ready;
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_TRUE(it[3].ready && it[MANY - 1].ready);
    expect_value(r[3], mproc_value_str("three"));
    expect_value(r[MANY - 1], mproc_value_str("last"));

    /* Ready while the wait waits, from another process, plus its end. */
    p = harness_start("send_one", mproc_value_list_of(1, ref(w[MANY - 4])));
    it[MANY].process = p;
    CU_ASSERT_TRUE(mproc_wait(it, MANY + 1, MPROC_FOREVER) >= 1);
    CU_ASSERT_TRUE(it[MANY - 4].ready || it[MANY].ready);
    expect_value(r[MANY - 4], mproc_value_str("from a child"));
    CU_ASSERT_EQUAL(harness_join_code(p), 0);

    CU_ASSERT_EQUAL(mproc_wait(it, MANY, 0), MPROC_ETIMEDOUT);
    for (i = 0; i < MANY; i++) {
        mproc_conn_close(r[i]);
        mproc_conn_close(w[i]);
    }
}

/*
 * args: a duplex connection. Receives [lock ref, queue ref]; with the lock
 * held by the parent, a try fails; puts "got it" on the queue and waits
 * for the lock.
 */
static void use_objects_from_pipe(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args, 0);
    mproc_value_t *refs = NULL, *v;
    mproc_lock_t *l;
    mproc_queue_t *q;
    CHILD_ASSERT(mproc_conn_recv(c, &refs) == 0);
    CHILD_ASSERT(mproc_lock_import(&l, mproc_value_at(refs, 0)) == 0);
    CHILD_ASSERT(mproc_queue_import(&q, mproc_value_at(refs, 1)) == 0);
    CHILD_ASSERT(mproc_lock_acquire(l, 0) == MPROC_ETIMEDOUT);
    v = mproc_value_str("got it");
    CHILD_ASSERT(mproc_queue_put(q, v, MPROC_FOREVER) == 0);
    mproc_value_free(v);
    CHILD_ASSERT(mproc_lock_acquire(l, MPROC_FOREVER) == 0);
    mproc_lock_release(l);
    mproc_value_free(refs);
    mproc_lock_destroy(l);
    mproc_queue_destroy(q);
    mproc_conn_close(c);
}
MPROC_TARGET(use_objects_from_pipe)

static void test_objects_sent_through_a_pipe(void)
{
    mproc_conn_t *a, *b;
    mproc_lock_t *l;
    mproc_queue_t *q;
    mproc_value_t *lr, *qr, *refs, *v = NULL;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_export(l, &lr), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_export(q, &qr), 0);
    p = harness_start("use_objects_from_pipe", mproc_value_list_of(1, ref(b)));
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    refs = mproc_value_list_of(2, lr, qr);
    CU_ASSERT_EQUAL(mproc_conn_send(a, refs), 0);
    mproc_value_free(refs);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 30), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "got it");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_lock_destroy(l);
    mproc_queue_destroy(q);
    mproc_conn_close(a);
    mproc_conn_close(b);
}

/* ---- references -----------------------------------------------------------
 */

/*
 * args: a connection, the same reference again, a map shaped like the old
 * connection reference and a queue. The connection opens once; the map
 * arrives as it was sent (the parent sends a copy through the pipe, which
 * nothing rewrites); a connection reference that came through the queue
 * opens too.
 */
static void conn_ref_checks(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL, *again = NULL, *queued = NULL;
    mproc_queue_t *q = NULL;
    mproc_value_t *sent = NULL, *v = NULL;
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &c) == 0);
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 1), &again) == 0);
    CHILD_ASSERT(c == again);
    CHILD_ASSERT(mproc_conn_recv(c, &sent) == 0);
    CHILD_ASSERT(mproc_value_type(mproc_value_at(args, 2)) == MPROC_VALUE_MAP);
    CHILD_ASSERT(mproc_value_equal(sent, mproc_value_at(args, 2)));
    CHILD_ASSERT(mproc_value_to_conn(sent, &again) == MPROC_ETYPE);
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 3), &q) == 0);
    CHILD_ASSERT(mproc_queue_get(q, &v, 30) == 0);
    CHILD_ASSERT(mproc_value_ref_kind(v) == MPROC_REF_CONN);
    /* It travelled as an offer of the parent's, which this process takes. */
    CHILD_ASSERT(mproc_value_to_conn(v, &queued) == 0);
    CHILD_ASSERT(queued != c);
    CHILD_ASSERT(mproc_conn_send(c, mproc_value_at(args, 2)) == 0);
    mproc_value_free(sent);
    mproc_value_free(v);
    /* The runtime closes c at exit. */
}
MPROC_TARGET(conn_ref_checks)

static void test_connection_references(void)
{
    mproc_conn_t *a, *b, *x, *y, *c = NULL;
    mproc_queue_t *q;
    mproc_value_t *fake, *args, *back = NULL, *r;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&x, &y, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    /* What the old reference of @b looked like: a rewrite would take it. */
    fake = mproc_value_map();
    mproc_value_map_set_str(fake, "mproc", mproc_value_str("conn"));
    mproc_value_map_set_str(fake, "handle",
                            mproc_value_int((int64_t) first_handle(b)));
    mproc_value_map_set_str(fake, "pid", mproc_value_int(mproc__os_getpid()));
    mproc_value_map_set_str(fake, "readable", mproc_value_bool(1));
    mproc_value_map_set_str(fake, "writable", mproc_value_bool(1));
    r = mproc_value_conn(b);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(r), MPROC_REF_CONN);
    args = mproc_value_list_of(4, r, mproc_value_copy(r),
                               mproc_value_copy(fake), mproc_value_queue(q));
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    /* In the process that made it, it is no start argument. */
    CU_ASSERT_EQUAL(mproc_value_to_conn(mproc_value_at(args, 0), &c),
                    MPROC_ENOTSUP);
    CU_ASSERT_PTR_NULL(mproc_value_conn(NULL));
    p = harness_start("conn_ref_checks", args);
    /* The child's end is the child's: a child that fails closes the pipe. */
    mproc_conn_close(b);
    CU_ASSERT_EQUAL(mproc_conn_send(a, fake), 0);
    r = mproc_value_conn(y);
    CU_ASSERT_EQUAL(mproc_queue_put(q, r, 30), 0);
    mproc_value_free(r);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &back), 0);
    CU_ASSERT_TRUE(mproc_value_equal(back, fake));
    mproc_value_free(back);
    mproc_value_free(fake);
    mproc_queue_destroy(q);
    mproc_conn_close(a);
    mproc_conn_close(x);
    mproc_conn_close(y);
}

/* ---- connections that travel ----------------------------------------------
 */

/*
 * args: a queue. Gets a connection from it, then "go" (put after the
 * parent closed its own copy), takes the connection (twice: the same
 * object), and sends "from the child" through it; then makes a pipe of its
 * own, puts one end on the queue for the parent, and sends "back" through
 * the other once the parent answered "took it" through the first.
 */
static void use_queued_connection(const mproc_value_t *args)
{
    mproc_queue_t *q = NULL;
    mproc_conn_t *c = NULL, *again = NULL, *mine, *theirs;
    mproc_value_t *v = NULL, *go = NULL, *r;
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 0), &q) == 0);
    CHILD_ASSERT(mproc_queue_get(q, &v, 30) == 0);
    CHILD_ASSERT(mproc_queue_get(q, &go, 30) == 0);
    CHILD_ASSERT(strcmp(mproc_value_as_str(go), "go") == 0);
    CHILD_ASSERT(mproc_value_to_conn(v, &c) == 0);
    /* Taken again in the same process: the same object, as every kind. */
    CHILD_ASSERT(mproc_value_to_conn(v, &again) == 0);
    CHILD_ASSERT(again == c);
    r = mproc_value_str("from the child");
    CHILD_ASSERT(mproc_conn_send(c, r) == 0);
    mproc_value_free(r);

    CHILD_ASSERT(mproc_pipe(&mine, &theirs, 1, NULL) == 0);
    r = mproc_value_conn(theirs);
    CHILD_ASSERT(mproc_queue_put(q, r, 30) == 0);
    mproc_value_free(r);
    mproc_conn_close(theirs);
    mproc_value_free(go);
    CHILD_ASSERT(mproc_conn_recv(c, &go) == 0);
    CHILD_ASSERT(strcmp(mproc_value_as_str(go), "took it") == 0);
    r = mproc_value_str("back");
    CHILD_ASSERT(mproc_conn_send(mine, r) == 0);
    mproc_value_free(r);
    mproc_value_free(go);
    mproc_value_free(v);
    mproc_conn_close(mine);
    /* The runtime closes c and q at exit. */
}
MPROC_TARGET(use_queued_connection)

static void test_connection_through_a_queue(void)
{
    mproc_conn_t *a, *b, *got = NULL;
    mproc_queue_t *q;
    mproc_value_t *v = NULL;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    /* Started first: the connection reaches a running process. */
    p = harness_start("use_queued_connection",
                      mproc_value_list_of(1, mproc_value_queue(q)));
    v = mproc_value_conn(b);
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, 30), 0);
    mproc_value_free(v);
    /* The sender's own copy may go as soon as it was put. */
    mproc_conn_close(b);
    v = mproc_value_str("go");
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, 30), 0);
    mproc_value_free(v);
    expect_value(a, mproc_value_str("from the child"));

    /* The other way: a connection the child made and put on the queue. */
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 30), 0);
    CU_ASSERT_EQUAL(mproc_value_to_conn(v, &got), 0);
    mproc_value_free(v);
    send_str(a, "took it");
    expect_value(got, mproc_value_str("back"));
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    /* The child's end went with the child. */
    CU_ASSERT_EQUAL(mproc_conn_recv(got, &v), MPROC_ECLOSED);
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), MPROC_ECLOSED);
    mproc_queue_destroy(q);
    mproc_conn_close(a);
    /* got belongs to the runtime, which closes it at exit. */
}

/*
 * args: a connection. Receives a connection through it, takes it, and
 * sends "through the pipe" on the received one; then forwards the same
 * reference back unchanged, taken already.
 */
static void use_sent_connection(const mproc_value_t *args)
{
    mproc_conn_t *ctl = NULL, *c = NULL;
    mproc_value_t *v = NULL, *r;
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &ctl) == 0);
    CHILD_ASSERT(mproc_conn_recv(ctl, &v) == 0);
    CHILD_ASSERT(mproc_value_ref_kind(v) == MPROC_REF_CONN);
    CHILD_ASSERT(mproc_value_to_conn(v, &c) == 0);
    r = mproc_value_str("through the pipe");
    CHILD_ASSERT(mproc_conn_send(c, r) == 0);
    mproc_value_free(r);
    CHILD_ASSERT(mproc_conn_send(ctl, v) == 0);
    mproc_value_free(v);
}
MPROC_TARGET(use_sent_connection)

static void test_connection_through_another_connection(void)
{
    mproc_conn_t *x, *y, *a, *b, *c = NULL;
    mproc_value_t *v;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&x, &y, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 0, NULL), 0);
    p = harness_start("use_sent_connection", mproc_value_list_of(1, ref(y)));
    mproc_conn_close(y);
    /* The sending end of a one-way pipe. */
    v = mproc_value_conn(b);
    CU_ASSERT_EQUAL(mproc_conn_send(x, v), 0);
    mproc_value_free(v);
    mproc_conn_close(b);
    expect_value(a, mproc_value_str("through the pipe"));
    /* The reference came back; the child took it, so it is gone. */
    CU_ASSERT_EQUAL(mproc_conn_recv(x, &v), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_value_to_conn(v, &c), MPROC_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "process"));
    CU_ASSERT_PTR_NULL(c);
    mproc_value_free(v);
    /* The child's copy of the writing end went with the child. */
    CU_ASSERT_EQUAL(mproc_conn_recv(a, &v), MPROC_ECLOSED);
    mproc_conn_close(a);
    mproc_conn_close(x);
}

/* args: a queue. Puts one end of a new pipe on it and ends. */
static void offer_and_exit(const mproc_value_t *args)
{
    mproc_queue_t *q = NULL;
    mproc_conn_t *a, *b;
    mproc_value_t *r;
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 0), &q) == 0);
    CHILD_ASSERT(mproc_pipe(&a, &b, 1, NULL) == 0);
    r = mproc_value_conn(b);
    CHILD_ASSERT(mproc_queue_put(q, r, 30) == 0);
    mproc_value_free(r);
    mproc_conn_close(a);
    mproc_conn_close(b);
}
MPROC_TARGET(offer_and_exit)

static void test_sender_gone_before_the_take(void)
{
    mproc_queue_t *q;
    mproc_conn_t *c = NULL;
    mproc_value_t *v = NULL;
    mproc_process_t *p;
    char pid[32];
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    p = harness_start("offer_and_exit",
                      mproc_value_list_of(1, mproc_value_queue(q)));
    snprintf(pid, sizeof pid, "%ld", mproc_process_pid(p));
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, 30), 0);
    CU_ASSERT_EQUAL(mproc_value_to_conn(v, &c), MPROC_ENOTFOUND);
    /* The sentence names the sender. */
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), pid));
    CU_ASSERT_PTR_NULL(c);
    mproc_value_free(v);
    mproc_queue_destroy(q);
}

/*
 * The sharer's address in travelling reference @v, or NULL where there is
 * none (Windows pulls handles by pid).
 */
static const char *sharer_path(const mproc_value_t *v)
{
    const mproc_value_t *f = mproc__ref_fields(v);
    if (mproc_value_as_int(mproc_value_at(f, 6)) != MPROC__REF_CONN_SHARED)
        return NULL;
    return mproc_value_as_str(mproc_value_at(f, 10));
}

/* Travelling reference @v with its offer id (wherever it is) changed. */
static mproc_value_t *with_wrong_id(const mproc_value_t *v)
{
    const mproc_value_t *f = mproc__ref_fields(v);
    int shared =
        mproc_value_as_int(mproc_value_at(f, 6)) == MPROC__REF_CONN_SHARED;
    size_t at = shared ? 7 : 8, i;
    mproc_value_t *nf = mproc_value_list();
    for (i = 0; i < mproc_value_len(f); i++) {
        const mproc_value_t *item = mproc_value_at(f, i);
        mproc_value_append(
            nf, i == at ? mproc_value_int(mproc_value_as_int(item) ^ 0x400)
                        : mproc_value_copy(item));
    }
    return mproc__ref_new(MPROC_REF_CONN, nf);
}

static void test_strangers_on_the_sharer_cost_only_themselves(void)
{
    static const unsigned char junk[] = "\xff\xff\xff\xff not a challenge";
    unsigned char wrong[MPROC__AUTHKEY_SIZE];
    mproc_conn_t *a, *b, *c = NULL;
    mproc_queue_t *q;
    mproc_value_t *v = NULL, *bad;
    mproc__os_fd_t s1, s2;
    const char *path;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    v = mproc_value_conn(b);
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, 30), 0);
    mproc_value_free(v);
    mproc_conn_close(b);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, 30), 0);
    path = sharer_path(v);
    if (path != NULL) {
        /* Bytes that are no protocol at all, and a client with a wrong key. */
        CU_ASSERT_EQUAL_FATAL(mproc__os_local_connect(path, 0, &s1), 0);
        CU_ASSERT_EQUAL(mproc__os_write_all(s1, junk, sizeof junk), 0);
        CU_ASSERT_EQUAL_FATAL(mproc__os_local_connect(path, 0, &s2), 0);
        memset(wrong, 0x5a, sizeof wrong);
        CU_ASSERT_EQUAL(mproc__auth_client(s2, wrong), MPROC_EAUTH);
        mproc__os_close(s2);
        mproc__os_close(s1);
    }
    /* A made-up offer id finds nothing and takes nothing. */
    bad = with_wrong_id(v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(bad);
    CU_ASSERT_EQUAL(mproc_conn_import(&c, bad), MPROC_ENOTFOUND);
    mproc_value_free(bad);
    /* The offer is still there for a proper taker (this process, here). */
    CU_ASSERT_EQUAL(mproc_value_to_conn(v, &c), 0);
    send_str(a, "still served");
    expect_value(c, mproc_value_str("still served"));
    mproc_value_free(v);
    mproc_queue_destroy(q);
    mproc_conn_close(a);
}

static const harness_test tests[] = {
    {"connection references", test_connection_references, 0},
    {"every kind of value", test_every_kind_of_value, 0},
    {"bytes", test_bytes, 0},
    {"duplex and simplex", test_duplex_and_simplex, 0},
    {"poll", test_poll, 0},
    {"export with unread data", test_export_with_unread_data, 0},
    {"relay of values as bytes", test_relay_of_values_as_bytes, 0},
    {"recv bytes into", test_recv_bytes_into, 0},
    {"fileno", test_fileno, 0},
    {"a message of the maximum size fits",
     test_a_message_of_the_maximum_size_fits, 0},
    {"too big sends nothing", test_too_big_sends_nothing, 0},
    {"too deep sends nothing", test_too_deep_sends_nothing, 0},
    {"codec options are checked", test_codec_options_are_checked, 0},
    {"corruption is skipped", test_corruption_is_skipped, 0},
    {"peer dies mid-message", test_peer_dies_mid_message, 0},
    {"end of stream", test_end_of_stream, 0},
    {"connection as start argument", test_connection_as_start_argument, 0},
    {"connection passed on to a grandchild",
     test_connection_passed_on_to_a_grandchild, 0},
    {"big messages both ways", test_big_messages_both_ways, 0},
    {"references that did not come as arguments",
     test_references_that_did_not_come_as_arguments, 0},
    {"wait for connections and processes",
     test_wait_for_connections_and_processes, 0},
    {"wait for more than 64", test_wait_for_more_than_64, 0},
    {"wait for nothing", test_wait_for_nothing, 0},
    {"objects sent through a pipe", test_objects_sent_through_a_pipe, 0},
    {"connection through a queue", test_connection_through_a_queue, 0},
    {"connection through another connection",
     test_connection_through_another_connection, 0},
    {"sender gone before the take", test_sender_gone_before_the_take, 0},
    {"strangers on the sharer cost only themselves",
     test_strangers_on_the_sharer_cost_only_themselves, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "connection", tests);
}
