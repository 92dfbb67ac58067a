/*
 * Values and frames, without processes: what the wire format promises.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if !defined(_WIN32)
    #if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
/* The sanitizer's runtime has it (its header may not be installed). */
size_t __sanitizer_get_current_allocated_bytes(void);
        #if defined(__SANITIZE_ADDRESS__)
int __asan_address_is_poisoned(void const volatile *addr);
        #endif
    #else
        #include <malloc.h>
    #endif
#endif

#include <apr_thread_proc.h>

#include "harness.h"
#include "mproc_private.h"

static void test_construction_and_inspection(void)
{
    mproc_value_t *m = mproc_value_map();
    mproc_value_t *l = mproc_value_list_of(
        3, mproc_value_int(1), mproc_value_str("two"), mproc_value_float(3.5));
    size_t n;
    CU_ASSERT_PTR_NOT_NULL_FATAL(l);
    CU_ASSERT_EQUAL(mproc_value_type(l), MPROC_VALUE_LIST);
    CU_ASSERT_EQUAL(mproc_value_len(l), 3);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(l, 0)), 1);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(mproc_value_at(l, 1)), "two");
    CU_ASSERT_EQUAL(mproc_value_len(mproc_value_at(l, 1)), 3);
    CU_ASSERT_DOUBLE_EQUAL(mproc_value_as_float(mproc_value_at(l, 2)), 3.5, 0);
    CU_ASSERT_PTR_NULL(mproc_value_at(l, 3));
    /* Wrong kinds read as zero values, never crash. */
    CU_ASSERT_PTR_NULL(mproc_value_as_str(mproc_value_at(l, 0)));
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(l, 1)), 0);
    CU_ASSERT_EQUAL(mproc_value_type(NULL), MPROC_VALUE_NIL);

    CU_ASSERT_EQUAL(mproc_value_map_set_str(m, "a", mproc_value_int(1)), 0);
    CU_ASSERT_EQUAL(mproc_value_map_set_str(m, "b", l), 0);
    CU_ASSERT_EQUAL(mproc_value_map_set_str(m, "a", mproc_value_int(2)), 0);
    CU_ASSERT_EQUAL(mproc_value_len(m), 2);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_get(m, "a")), 2);
    CU_ASSERT_PTR_NULL(mproc_value_get(m, "c"));
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(mproc_value_key_at(m, 1)), "b");
    CU_ASSERT_PTR_EQUAL(mproc_value_value_at(m, 1), l);
    CU_ASSERT_EQUAL(mproc_value_append(m, mproc_value_nil()), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_value_append(l, NULL), MPROC_ENOMEM);
    {
        mproc_value_t *b = mproc_value_bytes("a\0b", 3);
        const char *p = mproc_value_as_bytes(b, &n);
        CU_ASSERT_EQUAL(n, 3);
        CU_ASSERT_EQUAL(memcmp(p, "a\0b", 3), 0);
        mproc_value_free(b);
    }
    {
        mproc_value_t *c = mproc_value_copy(m);
        CU_ASSERT_TRUE(mproc_value_equal(c, m));
        mproc_value_map_set_str(c, "a", mproc_value_int(3));
        CU_ASSERT_FALSE(mproc_value_equal(c, m));
        mproc_value_free(c);
    }
    /* A failed constructor inside list_of gives NULL and leaks nothing. */
    CU_ASSERT_PTR_NULL(mproc_value_list_of(2, mproc_value_int(1), NULL));
    mproc_value_free(m);
}

static mproc_value_t *sample(void)
{
    mproc_value_t *m = mproc_value_map();
    mproc_value_map_set(m, mproc_value_int(-1), mproc_value_bool(0));
    mproc_value_map_set_str(m, "nested",
                            mproc_value_list_of(2, mproc_value_nil(),
                                                mproc_value_bytes("\xff", 1)));
    return mproc_value_list_of(
        5, mproc_value_int(INT64_MIN), mproc_value_int(INT64_MAX),
        mproc_value_float(-0.125), mproc_value_str(""), m);
}

static void test_encode_decode_round_trip(void)
{
    mproc_value_t *v = sample(), *back = NULL;
    mproc__buf_t b = {0};
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(v, &b), 0);
    CU_ASSERT_EQUAL(mproc__value_decode(b.data, b.len, &back), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, back));
    mproc_value_free(back);
    /* Truncation and trailing bytes are corruption, not a crash. */
    CU_ASSERT_EQUAL(mproc__value_decode(b.data, b.len - 1, &back),
                    MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(back);
    mproc__buf_append(&b, "\x01", 1);
    CU_ASSERT_EQUAL(mproc__value_decode(b.data, b.len, &back), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "stray"));
    mproc__buf_free(&b);
    /* An unsigned integer beyond int64 cannot be represented. */
    CU_ASSERT_EQUAL(
        mproc__value_decode("\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 9, &back),
        MPROC_ECORRUPT);
    mproc_value_free(v);
}

static void frame_round_trip(size_t size, int compressible, int expect_deflated)
{
    mproc__frame_opts_t opts = {64, 1};
    unsigned char *payload = malloc(size);
    mproc__buf_t f = {0}, back = {0};
    size_t i, body;
    unsigned seed = 12345;
    for (i = 0; i < size; i++) {
        seed = seed * 1103515245u + 12345u;
        payload[i] = compressible ? (unsigned char) ("abcd"[i % 4])
                                  : (unsigned char) (seed >> 16);
    }
    CU_ASSERT_EQUAL_FATAL(mproc__frame_encode(payload, size, &opts, &f), 0);
    CU_ASSERT_EQUAL(!!(f.data[5] & MPROC__FRAME_FLAG_DEFLATED),
                    expect_deflated);
    CU_ASSERT_EQUAL(mproc__frame_check_header(f.data, 1u << 30, &body), 0);
    CU_ASSERT_EQUAL(body, f.len - MPROC__FRAME_HEADER_SIZE);
    CU_ASSERT_EQUAL(mproc__frame_open_body(f.data,
                                           f.data + MPROC__FRAME_HEADER_SIZE,
                                           body, 1u << 30, &back),
                    0);
    CU_ASSERT_EQUAL_FATAL(back.len, size);
    CU_ASSERT(size == 0 || memcmp(back.data, payload, size) == 0);
    mproc__buf_free(&f);
    mproc__buf_free(&back);
    free(payload);
}

/*
 * A deflated frame of an empty payload (the encoder never makes one, a
 * hostile peer can): it opens to nothing, into a buffer that holds nothing
 * yet, without undefined behaviour (the sanitizers' build checks that).
 */
static void test_empty_deflated_frame_opens_to_nothing(void)
{
    /* The payload's length (0), then zlib's stream of no bytes. */
    static const unsigned char body[12] = {0,    0,    0,    0,    0x78, 0x9c,
                                           0x03, 0x00, 0x00, 0x00, 0x00, 0x01};
    mproc__buf_t f = {0}, out = {0};
    size_t len;
    /* Framed as is, then marked deflated: the checksum covers the body. */
    CU_ASSERT_EQUAL_FATAL(
        mproc__frame_encode_flags(body, sizeof body, 0, NULL, &f), 0);
    f.data[5] |= MPROC__FRAME_FLAG_DEFLATED;
    CU_ASSERT_EQUAL(mproc__frame_check_header(f.data, 1000, &len), 0);
    CU_ASSERT_EQUAL(len, sizeof body);
    CU_ASSERT_EQUAL(mproc__frame_open_body(f.data,
                                           f.data + MPROC__FRAME_HEADER_SIZE,
                                           len, 1000, &out),
                    0);
    CU_ASSERT_EQUAL(out.len, 0);
    mproc__buf_free(&f);
    mproc__buf_free(&out);
}

static void test_frames_deflate_only_when_it_pays(void)
{
    frame_round_trip(10, 1, 0);     /* below the threshold */
    frame_round_trip(100000, 1, 1); /* text: deflated */
    frame_round_trip(100000, 0, 0); /* random: sent as is */
    frame_round_trip(0, 0, 0);
}

static void test_corrupt_frames_are_reported(void)
{
    mproc__frame_opts_t opts = {64, 1};
    mproc__buf_t f = {0}, out = {0};
    size_t body;
    char text[1000];
    memset(text, 'x', sizeof text);
    CU_ASSERT_EQUAL_FATAL(mproc__frame_encode(text, sizeof text, &opts, &f), 0);
    body = f.len - MPROC__FRAME_HEADER_SIZE;
    /* A flipped bit in the body fails the checksum. */
    f.data[MPROC__FRAME_HEADER_SIZE + 2] ^= 0x10;
    CU_ASSERT_EQUAL(mproc__frame_open_body(f.data,
                                           f.data + MPROC__FRAME_HEADER_SIZE,
                                           body, 1u << 20, &out),
                    MPROC_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "checksum"));
    f.data[MPROC__FRAME_HEADER_SIZE + 2] ^= 0x10;
    /* A short body is a truncated frame. */
    CU_ASSERT_EQUAL(mproc__frame_open_body(f.data,
                                           f.data + MPROC__FRAME_HEADER_SIZE,
                                           body - 1, 1u << 20, &out),
                    MPROC_ECORRUPT);
    /* A bad magic. */
    f.data[0] = 'X';
    CU_ASSERT_EQUAL(mproc__frame_check_header(f.data, 1u << 20, &body),
                    MPROC_ECORRUPT);
    f.data[0] = 'M';
    /* Too large for the receiver's limit, and a payload that lies. */
    CU_ASSERT_EQUAL(mproc__frame_check_header(f.data, 4, &body), MPROC_ETOOBIG);
    CU_ASSERT_EQUAL(mproc__frame_open_body(f.data,
                                           f.data + MPROC__FRAME_HEADER_SIZE,
                                           body, 10, &out),
                    MPROC_ETOOBIG);
    CU_ASSERT_EQUAL(out.len, 0);
    /* The intact frame still opens. */
    CU_ASSERT_EQUAL(mproc__frame_check_header(f.data, 1u << 20, &body), 0);
    CU_ASSERT_EQUAL(mproc__frame_open_body(f.data,
                                           f.data + MPROC__FRAME_HEADER_SIZE,
                                           body, 1u << 20, &out),
                    0);
    CU_ASSERT_EQUAL(out.len, sizeof text);
    mproc__buf_free(&f);
    mproc__buf_free(&out);
}

/* ---- references ---------------------------------------------------------- */

MPROC_RECORD(point, NULL)

static mproc_value_t *named_ref(mproc_ref_kind_e kind, const char *name)
{
    return mproc__ref_new(kind, mproc_value_list_of(1, mproc_value_str(name)));
}

static void test_references_copy_compare_and_free(void)
{
    mproc_value_t *a = named_ref(MPROC_REF_LOCK, "mproc-0123456789abcdef");
    mproc_value_t *b = named_ref(MPROC_REF_LOCK, "mproc-0123456789abcdef");
    mproc_value_t *other = named_ref(MPROC_REF_LOCK, "mproc-fedcba9876543210");
    mproc_value_t *queue = named_ref(MPROC_REF_QUEUE, "mproc-0123456789abcdef");
    mproc_value_t *c, *list;
    CU_ASSERT_PTR_NOT_NULL_FATAL(a);
    CU_ASSERT_EQUAL(mproc_value_type(a), MPROC_VALUE_REF);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(a), MPROC_REF_LOCK);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(queue), MPROC_REF_QUEUE);
    /* Equal: the same object the same way; a kind or a name tells apart. */
    CU_ASSERT_TRUE(mproc_value_equal(a, b));
    CU_ASSERT_FALSE(mproc_value_equal(a, other));
    CU_ASSERT_FALSE(mproc_value_equal(a, queue));
    c = mproc_value_copy(a);
    CU_ASSERT_TRUE(mproc_value_equal(a, c));
    CU_ASSERT_EQUAL(mproc_value_ref_kind(c), MPROC_REF_LOCK);
    /* Nothing else is a reference. */
    list = mproc_value_list_of(2, mproc_value_int(1), c);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(list), MPROC_REF_NONE);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(NULL), MPROC_REF_NONE);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(mproc_value_at(list, 1)),
                    MPROC_REF_LOCK);
    CU_ASSERT_EQUAL(mproc_value_len(a), 0);
    /* A reference of the wrong shape is not made. */
    CU_ASSERT_PTR_NULL(mproc__ref_new(
        MPROC_REF_LOCK, mproc_value_list_of(1, mproc_value_int(3))));
    CU_ASSERT_PTR_NULL(mproc__ref_new(MPROC_REF_NONE, mproc_value_list()));
    mproc_value_free(a);
    mproc_value_free(b);
    mproc_value_free(other);
    mproc_value_free(queue);
    mproc_value_free(list);
}

static void test_references_round_trip_inside_containers(void)
{
    mproc_value_t *conn = mproc__ref_new(
        MPROC_REF_CONN,
        mproc_value_list_of(
            MPROC__REF_CONN_FIELDS, mproc_value_bool(1), mproc_value_bool(0),
            mproc_value_int(1 << 20), mproc_value_int(4096), mproc_value_int(1),
            mproc_value_bool(0), mproc_value_int(MPROC__REF_CONN_OWN),
            mproc_value_int(7), mproc_value_int(-1), mproc_value_int(1234),
            mproc_value_str("")));
    mproc_value_t *map = mproc_value_map(), *v, *back = NULL;
    mproc__buf_t b = {0};
    mproc_ref_kind_e k;
    CU_ASSERT_PTR_NOT_NULL_FATAL(conn);
    mproc_value_map_set_str(map, "conn", conn);
    v = mproc_value_list_of(
        3, map,
        mproc_value_record(
            "point",
            mproc_value_list_of(
                1, named_ref(MPROC_REF_EVENT, "mproc-0123456789abcdef"))),
        mproc_value_list());
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    for (k = MPROC_REF_LOCK; k <= MPROC_REF_QUEUE; k++)
        mproc_value_append((mproc_value_t *) mproc_value_at(v, 2),
                           named_ref(k, "mproc-0123456789abcdef"));
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(v, &b), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode(b.data, b.len, &back), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, back));
    CU_ASSERT_EQUAL(
        mproc_value_ref_kind(mproc_value_get(mproc_value_at(back, 0), "conn")),
        MPROC_REF_CONN);
    CU_ASSERT_EQUAL(
        mproc_value_ref_kind(mproc_value_at(mproc_value_at(back, 1), 0)),
        MPROC_REF_EVENT);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(mproc_value_at(mproc_value_at(back, 2),
                                                        MPROC_REF_QUEUE - 1)),
                    MPROC_REF_QUEUE);
    mproc__buf_free(&b);
    mproc_value_free(back);
    mproc_value_free(v);
}

/* Decodes ext type 2 with @payload: what a hostile peer could send. */
static int decode_ext(const void *payload, size_t len)
{
    unsigned char msg[64];
    mproc_value_t *back = (mproc_value_t *) 1;
    int rc;
    msg[0] = 0xc7; /* ext 8: one byte of length, one of type */
    msg[1] = (unsigned char) len;
    msg[2] = 2;
    memcpy(msg + 3, payload, len);
    rc = mproc__value_decode(msg, len + 3, &back);
    CU_ASSERT_PTR_NULL(back);
    return rc;
}

static void test_hostile_references_are_corrupt(void)
{
    /* fixarray of 1: fixstr "mproc-x"; and variations around it. */
    static const unsigned char good[] = {1,   0x91, 0xa7, 'm', 'p',
                                         'r', 'o',  'c',  '-', 'x'};
    unsigned char bad[sizeof good];
    mproc_value_t *back = NULL;
    unsigned char msg[64];
    /* The good one decodes, so the others fail for their fault alone. */
    msg[0] = 0xc7;
    msg[1] = sizeof good;
    msg[2] = 2;
    memcpy(msg + 3, good, sizeof good);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode(msg, sizeof good + 3, &back), 0);
    CU_ASSERT_EQUAL(mproc_value_ref_kind(back), MPROC_REF_LOCK);
    mproc_value_free(back);

    CU_ASSERT_EQUAL(decode_ext("", 0), MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(decode_ext("\x01", 1), MPROC_ECORRUPT);
    memcpy(bad, good, sizeof good);
    bad[0] = 0; /* no kind */
    CU_ASSERT_EQUAL(decode_ext(bad, sizeof bad), MPROC_ECORRUPT);
    bad[0] = 99; /* an unknown kind */
    CU_ASSERT_EQUAL(decode_ext(bad, sizeof bad), MPROC_ECORRUPT);
    bad[0] = MPROC_REF_CONN; /* a connection needs ten fields */
    CU_ASSERT_EQUAL(decode_ext(bad, sizeof bad), MPROC_ECORRUPT);
    memcpy(bad, good, sizeof good);
    bad[1] = 0x92; /* the array claims more than there is */
    CU_ASSERT_EQUAL(decode_ext(bad, sizeof bad), MPROC_ECORRUPT);
    memcpy(bad, good, sizeof good);
    bad[1] = 0x81; /* a map instead of the array */
    CU_ASSERT_EQUAL(decode_ext(bad, sizeof bad), MPROC_ECORRUPT);
    /* Stray bytes after the fields. */
    CU_ASSERT_EQUAL(decode_ext("\x01\x91\xa1x\xc0", 5), MPROC_ECORRUPT);
    /* A field of the wrong type, and a reference nested as a field. */
    CU_ASSERT_EQUAL(decode_ext("\x01\x91\x05", 3), MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(decode_ext("\x01\x91\xd4\x02\x01", 5), MPROC_ECORRUPT);
    /* An extension type nobody defined. */
    msg[2] = 9;
    CU_ASSERT_EQUAL(mproc__value_decode(msg, sizeof good + 3, &back),
                    MPROC_ECORRUPT);
}

/*
 * A user's map shaped like the old references is a map: nothing reads it as
 * a reference, before or after the wire.
 */
static void test_user_map_is_not_a_reference(void)
{
    mproc_value_t *m = mproc_value_map(), *back = NULL;
    mproc__buf_t b = {0};
    mproc_value_map_set_str(m, "mproc", mproc_value_str("lock"));
    mproc_value_map_set_str(m, "name",
                            mproc_value_str("mproc-0123456789abcdef"));
    CU_ASSERT_EQUAL(mproc_value_ref_kind(m), MPROC_REF_NONE);
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(m, &b), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode(b.data, b.len, &back), 0);
    CU_ASSERT_EQUAL(mproc_value_type(back), MPROC_VALUE_MAP);
    CU_ASSERT_TRUE(mproc_value_equal(m, back));
    mproc__buf_free(&b);
    mproc_value_free(back);
    mproc_value_free(m);
}

/* ---- hostile and unusual shapes ------------------------------------------ */

/* @n lists, one inside the other, around an integer: depth @n. */
static mproc_value_t *nested_lists(int n)
{
    mproc_value_t *v = mproc_value_int(7);
    while (n-- > 0)
        v = mproc_value_list_of(1, v);
    return v;
}

/* Encodes @v (freed), decodes it and checks it comes back equal. */
static void expect_round_trip(mproc_value_t *v)
{
    mproc__buf_t b = {0};
    mproc_value_t *back = NULL;
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(mproc__value_encode(v, &b), 0);
    CU_ASSERT_EQUAL(mproc__value_decode(b.data, b.len, &back), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, back));
    mproc_value_free(back);
    mproc_value_free(v);
    mproc__buf_free(&b);
}

/* Checks that @v (freed) is refused by the encoder, naming the limit. */
static void expect_too_deep(mproc_value_t *v)
{
    mproc__buf_t b = {0};
    CU_ASSERT_PTR_NOT_NULL_FATAL(v);
    CU_ASSERT_EQUAL(mproc__value_encode(v, &b), MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "MPROC_VALUE_MAX_DEPTH"));
    CU_ASSERT_EQUAL(b.len, 0);
    mproc_value_free(v);
    mproc__buf_free(&b);
}

static void test_depth_is_one_limit_for_both_sides(void)
{
    mproc_value_t *v, *m;
    int i;
    expect_round_trip(nested_lists(MPROC_VALUE_MAX_DEPTH));
    expect_too_deep(nested_lists(MPROC_VALUE_MAX_DEPTH + 1));
    /* A record is two levels: its fields are a list of their own. */
    v = mproc_value_int(1);
    for (i = 0; i < MPROC_VALUE_MAX_DEPTH / 2; i++)
        v = mproc_value_record("point", mproc_value_list_of(1, v));
    expect_round_trip(mproc_value_copy(v));
    expect_too_deep(mproc_value_list_of(1, v));
    /* A record's fields nest on from the record's own depth. */
    expect_round_trip(mproc_value_record(
        "point",
        mproc_value_list_of(1, nested_lists(MPROC_VALUE_MAX_DEPTH - 2))));
    expect_too_deep(mproc_value_record(
        "point",
        mproc_value_list_of(1, nested_lists(MPROC_VALUE_MAX_DEPTH - 1))));
    /* Keys count as much as values. */
    m = mproc_value_map();
    mproc_value_map_set(m, nested_lists(MPROC_VALUE_MAX_DEPTH - 1),
                        mproc_value_nil());
    expect_round_trip(mproc_value_copy(m));
    mproc_value_map_set(m, nested_lists(MPROC_VALUE_MAX_DEPTH),
                        mproc_value_nil());
    expect_too_deep(m);
    /* A reference is one level. */
    v = named_ref(MPROC_REF_LOCK, "mproc-0123456789abcdef");
    for (i = 0; i < MPROC_VALUE_MAX_DEPTH - 1; i++)
        v = mproc_value_list_of(1, v);
    expect_round_trip(mproc_value_copy(v));
    expect_too_deep(mproc_value_list_of(1, v));
}

/* Decodes @len bytes and checks they are corrupt input, nothing else. */
static void expect_corrupt(const void *msg, size_t len)
{
    mproc_value_t *back = (mproc_value_t *) 1;
    CU_ASSERT_EQUAL(mproc__value_decode(msg, len, &back), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(back);
    CU_ASSERT_PTR_NULL(strstr(mproc_last_error(), "memory"));
}

static void test_too_deep_a_message_is_corrupt(void)
{
    unsigned char msg[MPROC_VALUE_MAX_DEPTH + 2];
    mproc_value_t *back = NULL;
    memset(msg, 0x91, sizeof msg); /* fixarray of one item */
    msg[MPROC_VALUE_MAX_DEPTH] = 0xc0;
    CU_ASSERT_EQUAL(mproc__value_decode(msg, MPROC_VALUE_MAX_DEPTH + 1, &back),
                    0);
    mproc_value_free(back);
    msg[MPROC_VALUE_MAX_DEPTH] = 0x91;
    msg[MPROC_VALUE_MAX_DEPTH + 1] = 0xc0;
    expect_corrupt(msg, MPROC_VALUE_MAX_DEPTH + 2);
}

/*
 * Records nested in records, 30,000 deep (300 KB): each level is an ext 32
 * header, [ "p", [ the next level ] ]. Decoding stops at the depth limit
 * instead of recursing down the whole message.
 */
static void test_nested_record_headers_are_corrupt(void)
{
    enum { LEVELS = 30000, LEVEL_SIZE = 10 };
    size_t len = (size_t) LEVELS * LEVEL_SIZE + 1, off = 0, body;
    unsigned char *msg = malloc(len);
    int i;
    CU_ASSERT_PTR_NOT_NULL_FATAL(msg);
    for (i = 0; i < LEVELS; i++) {
        body = len - off - 6;
        msg[off++] = 0xc9;
        msg[off++] = (unsigned char) (body >> 24);
        msg[off++] = (unsigned char) (body >> 16);
        msg[off++] = (unsigned char) (body >> 8);
        msg[off++] = (unsigned char) body;
        msg[off++] = 1; /* a record */
        msg[off++] = 0x92;
        msg[off++] = 0xa1;
        msg[off++] = 'p';
        msg[off++] = 0x91;
    }
    msg[off] = 0xc0;
    expect_corrupt(msg, len);
    free(msg);
}

/*
 * Headers that claim more items or bytes than the message holds: each is
 * corrupt at once, before anything the size of the claim is allocated.
 */
static void test_counts_beyond_the_message_are_corrupt(void)
{
    /* array 32, map 32, str 32, bin 32 and ext 32 of 4 Gi - 1 */
    static const char *const claims[] = {"\xdd", "\xdf", "\xdb", "\xc6",
                                         "\xc9"};
    unsigned char claim[6], msg[16];
    size_t i;
    for (i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        claim[0] = (unsigned char) claims[i][0];
        memset(claim + 1, 0xff, 4);
        claim[5] = 1; /* the ext's type; a first item for the others */
        expect_corrupt(claim, 5);
        expect_corrupt(claim, 6);
        /* The same inside a list, and inside a record's fields. */
        msg[0] = 0x91;
        memcpy(msg + 1, claim, 6);
        expect_corrupt(msg, 7);
        memcpy(msg, "\xc7\x0a\x01\x92\xa1p\x91", 7); /* ext 8 of 10 bytes */
        memcpy(msg + 7, claim, 6);
        expect_corrupt(msg, 13);
    }
    /* A count the message could hold, yet does not: still corrupt. */
    expect_corrupt("\xdc\x00\x04\xc0\xc0", 5);     /* array 16 of 4, 2 items */
    expect_corrupt("\xde\x00\x02\xc0\xc0\xc0", 6); /* map 16 of 2, 3 items */
    expect_corrupt("\x92\x91\x92\xc0", 4);
    expect_corrupt("\x93\xa2"
                   "ab",
                   4); /* the items run out with the bytes */
    expect_corrupt("\x93\xc0", 2);
}

/* Checks that repr(@v) (freed) is @want. */
static void expect_repr(mproc_value_t *v, const char *want)
{
    char *r = mproc_value_repr(v);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    if (strcmp(r, want) != 0)
        fprintf(stderr, "repr: got %s, want %s\n", r, want);
    CU_ASSERT_STRING_EQUAL(r, want);
    free(r);
    mproc_value_free(v);
}

static void test_repr_is_pythons(void)
{
    mproc_value_t *m = mproc_value_map();
    int i;
    expect_repr(mproc_value_nil(), "None");
    expect_repr(mproc_value_bool(1), "True");
    expect_repr(mproc_value_bool(0), "False");
    expect_repr(mproc_value_int(-42), "-42");
    expect_repr(mproc_value_int(INT64_MIN), "-9223372036854775808");
    /* Floats: the shortest digits that read back, Python's forms. */
    expect_repr(mproc_value_float(0.1), "0.1");
    expect_repr(mproc_value_float(2.0), "2.0");
    expect_repr(mproc_value_float(-0.0), "-0.0");
    expect_repr(mproc_value_float(1.5e-3), "0.0015");
    expect_repr(mproc_value_float(1e-4), "0.0001");
    expect_repr(mproc_value_float(1e-5), "1e-05");
    expect_repr(mproc_value_float(1e15), "1000000000000000.0");
    expect_repr(mproc_value_float(1e16), "1e+16");
    expect_repr(mproc_value_float(1.25e22), "1.25e+22");
    expect_repr(mproc_value_float(1.0 / 3.0), "0.3333333333333333");
    expect_repr(mproc_value_float(123456.789), "123456.789");
    expect_repr(mproc_value_float(1e300 * 1e300), "inf");
    expect_repr(mproc_value_float(-1e300 * 1e300), "-inf");
    /* Strings: Python's quotes and escapes; UTF-8 text stays. */
    expect_repr(mproc_value_str("text"), "'text'");
    expect_repr(mproc_value_str("it's"), "\"it's\"");
    expect_repr(mproc_value_str("'\""), "'\\'\"'");
    expect_repr(mproc_value_str("a\\b\tc\n\x01"), "'a\\\\b\\tc\\n\\x01'");
    expect_repr(mproc_value_str("gr\xc3\xbc\xc3\x9f"), "'gr\xc3\xbc\xc3\x9f'");
    expect_repr(mproc_value_bytes("\0\xff"
                                  "a",
                                  3),
                "b'\\x00\\xffa'");
    /* Containers, records, references. */
    for (i = 0; i < 3; i++)
        mproc_value_map_set(m, mproc_value_int(i), mproc_value_int(i * 2));
    expect_repr(m, "{0: 0, 1: 2, 2: 4}");
    expect_repr(mproc_value_list_of(3, mproc_value_list(), mproc_value_map(),
                                    mproc_value_str("x")),
                "[[], {}, 'x']");
    expect_repr(
        mproc_value_record("point", mproc_value_list_of(2, mproc_value_int(1),
                                                        mproc_value_int(2))),
        "point(1, 2)");
    expect_repr(mproc__ref_new(MPROC_REF_LOCK,
                               mproc_value_list_of(1, mproc_value_str("x"))),
                "<lock reference>");
    {
        /* Too deep to read: cut short, never a crash. */
        mproc_value_t *v = mproc_value_int(0);
        char *r;
        for (i = 0; i < 200; i++)
            v = mproc_value_list_of(1, v);
        r = mproc_value_repr(v);
        CU_ASSERT_PTR_NOT_NULL(r);
        CU_ASSERT_PTR_NOT_NULL(strstr(r, "[...]"));
        free(r);
        mproc_value_free(v);
    }
}

/*
 * A list decoded for the pool keeps its scalars in blocks with it: every
 * way an item can leave the list or the list change gives the same values
 * as the plain decoder's, and frees all (the sanitizer build checks it).
 */
static void test_block_lists_behave_as_plain_lists(void)
{
    mproc_value_t *src = mproc_value_list(), *plain, *blk, *taken, *swapped;
    mproc_value_t *rec, *nils, **items, *copy;
    mproc__buf_t b = {0};
    size_t i, n;
    /* Past one block of slots, scalars of every kind among strings. */
    for (i = 0; i < 600; i++) {
        mproc_value_t *item = i % 5 == 0   ? mproc_value_int((int64_t) i - 300)
                              : i % 5 == 1 ? mproc_value_float(i / 4.0)
                              : i % 5 == 2 ? mproc_value_bool((int) i & 1)
                              : i % 5 == 3 ? mproc_value_nil()
                                           : mproc_value_str("s");
        CU_ASSERT_EQUAL_FATAL(mproc_value_append(src, item), 0);
    }
    CU_ASSERT_EQUAL_FATAL(mproc_value_append(src, sample()), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(src, &b), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode(b.data, b.len, &plain), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    CU_ASSERT_TRUE(mproc_value_equal(plain, src));
    CU_ASSERT_TRUE(mproc_value_equal(blk, src));
    /* A copy is a list of its own. */
    copy = mproc_value_copy(blk);
    CU_ASSERT_TRUE(mproc_value_equal(copy, src));
    /* Taken out, an item lives on after its list. */
    taken = mproc__value_take(blk, 5);
    swapped = mproc__value_list_swap(blk, 10, mproc_value_str("new"));
    CU_ASSERT_EQUAL(mproc_value_as_int(taken), -295);
    CU_ASSERT_EQUAL(mproc_value_as_int(swapped), -290);
    CU_ASSERT_EQUAL(mproc_value_len(blk), 601);
    /* It grows and takes new items like any list. */
    CU_ASSERT_EQUAL(mproc_value_append(blk, mproc_value_int(7)), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(blk, 601)), 7);
    CU_ASSERT_DOUBLE_EQUAL(mproc_value_as_float(mproc_value_at(blk, 1)), 0.25,
                           0);
    mproc_value_free(blk);
    CU_ASSERT_EQUAL(mproc_value_as_int(taken), -295);
    mproc_value_free(taken);
    mproc_value_free(swapped);
    /* A record takes a decoded list's items over, its scalars with them. */
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    rec = mproc_value_record("point", blk);
    CU_ASSERT_PTR_NOT_NULL_FATAL(rec);
    CU_ASSERT_EQUAL(mproc_value_len(rec), 601);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(rec, 595)), 295);
    mproc_value_free(rec);
    /* Stolen items are the caller's, whatever happens to the list. */
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    items = mproc__value_steal_items(blk, &n);
    CU_ASSERT_EQUAL(n, 601);
    CU_ASSERT_EQUAL(mproc_value_len(blk), 0);
    mproc_value_free(blk);
    CU_ASSERT_EQUAL(mproc_value_as_int(items[300]), 0);
    for (i = 0; i < n; i++)
        mproc_value_free(items[i]);
    free(items);
    /* Results moved into holes, scalars and the rest alike. */
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    nils = mproc__value_list_holes(601);
    CU_ASSERT_PTR_NOT_NULL_FATAL(nils);
    CU_ASSERT_PTR_NULL(mproc_value_at(nils, 600));
    for (i = 0; i < 601; i++)
        CU_ASSERT_EQUAL(mproc__value_list_move(nils, 600 - i, blk, i), 0);
    CU_ASSERT_EQUAL(mproc__value_list_move(nils, 601, blk, 0), MPROC_EINVAL);
    mproc_value_free(blk);
    for (i = 0; i < 601; i++)
        CU_ASSERT_TRUE(mproc_value_equal(mproc_value_at(nils, 600 - i),
                                         mproc_value_at(src, i)));
    mproc_value_free(nils);
    mproc_value_free(copy);
    mproc_value_free(plain);
    mproc_value_free(src);
    mproc__buf_free(&b);
    /* Short lists, whose items live in the list's own allocation. */
    src = mproc_value_list_of(3, mproc_value_int(1), mproc_value_str("two"),
                              mproc_value_list_of(1, mproc_value_float(3)));
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(src, &b), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    CU_ASSERT_TRUE(mproc_value_equal(blk, src));
    /* It grows past its room, and keeps every item. */
    for (i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(mproc_value_append(blk, mproc_value_int((int) i)), 0);
    CU_ASSERT_EQUAL(mproc_value_len(blk), 13);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(blk, 0)), 1);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(blk, 12)), 9);
    taken = mproc__value_take(blk, 0);
    mproc_value_free(blk);
    CU_ASSERT_EQUAL(mproc_value_as_int(taken), 1);
    mproc_value_free(taken);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    rec = mproc_value_record("point", blk);
    CU_ASSERT_EQUAL(mproc_value_len(rec), 3);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(rec, 0)), 1);
    mproc_value_free(rec);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    items = mproc__value_steal_items(blk, &n);
    mproc_value_free(blk);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(mproc_value_as_int(items[0]), 1);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(items[1]), "two");
    for (i = 0; i < n; i++)
        mproc_value_free(items[i]);
    free(items);
    mproc_value_free(src);
    mproc__buf_free(&b);
}

#if !defined(_WIN32)
/* The bytes the allocator has handed out. */
static size_t heap_in_use(void)
{
    #if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
    return __sanitizer_get_current_allocated_bytes();
    #else
    struct mallinfo2 mi = mallinfo2();
    return mi.uordblks + mi.hblkhd;
    #endif
}

/*
 * A message of many short lists (of five scalars: the arguments of a
 * starmap's items) decoded for the pool takes about the memory the plain
 * decoder's values take, not a block of slots a list.
 */
static void test_block_lists_take_memory_as_their_items(void)
{
    mproc_value_t *src = mproc_value_list(), *plain = NULL, *blk = NULL;
    mproc__buf_t b = {0};
    size_t i, before, plain_bytes, block_bytes;
    for (i = 0; i < 2000; i++)
        CU_ASSERT_EQUAL_FATAL(
            mproc_value_append(src, mproc_pack("[iiiii]", 1, 2, 3, 4, 5)), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(src, &b), 0);
    before = heap_in_use();
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode(b.data, b.len, &plain), 0);
    plain_bytes = heap_in_use() - before;
    mproc_value_free(plain);
    before = heap_in_use();
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &blk), 0);
    block_bytes = heap_in_use() - before;
    CU_ASSERT_TRUE(mproc_value_equal(blk, src));
    CU_ASSERT(block_bytes <= 2 * plain_bytes);
    mproc_value_free(blk);
    mproc_value_free(src);
    mproc__buf_free(&b);
}
#endif

/*
 * A decoded map merges equal keys as mproc_value_map_set() does (the
 * first keeps its place, the last value wins), few pairs or many.
 */
static void test_decoded_map_merges_equal_keys(void)
{
    size_t sizes[2] = {6, 3000}, s, i;
    for (s = 0; s < 2; s++) {
        size_t n = sizes[s];
        mproc_value_t *raw = mproc_value_map(), *want = mproc_value_map();
        mproc_value_t *got = NULL;
        mproc__buf_t b = {0};
        for (i = 0; i < n; i++) {
            /* Keys 0..n/2-1 each twice, with a string key among them. */
            int64_t k = (int64_t) (i % (n / 2));
            mproc_value_t *key =
                k == 1 ? mproc_value_str("one") : mproc_value_int(k);
            mproc_value_t *key2 = mproc_value_copy(key);
            CU_ASSERT_EQUAL(
                mproc__value_map_append(raw, key, mproc_value_int((int64_t) i)),
                0);
            CU_ASSERT_EQUAL(
                mproc_value_map_set(want, key2, mproc_value_int((int64_t) i)),
                0);
        }
        CU_ASSERT_EQUAL(mproc_value_len(raw), n);
        CU_ASSERT_EQUAL(mproc__value_encode(raw, &b), 0);
        CU_ASSERT_EQUAL_FATAL(mproc__value_decode(b.data, b.len, &got), 0);
        CU_ASSERT_EQUAL(mproc_value_len(got), n / 2);
        CU_ASSERT_TRUE(mproc_value_equal(got, want));
        mproc_value_free(raw);
        mproc_value_free(want);
        mproc_value_free(got);
        mproc__buf_free(&b);
    }
}

/*
 * 600 items of every scalar kind (with integers of every width) among
 * strings, then a list and a map: what the pool's messages carry.
 */
static mproc_value_t *mixed(void)
{
    static const int64_t widths[] = {
        5,      -7,         200,         -100,      40000,
        -30000, 3000000000, -2000000000, INT64_MAX, INT64_MIN};
    mproc_value_t *l = mproc_value_list();
    size_t i;
    for (i = 0; i < 600; i++) {
        mproc_value_t *item = i % 6 == 0 ? mproc_value_int(widths[(i / 6) % 10])
                              : i % 6 == 1 ? mproc_value_float(i / 4.0)
                              : i % 6 == 2 ? mproc_value_bool((int) i & 1)
                              : i % 6 == 3 ? mproc_value_nil()
                              : i % 6 == 4 ? mproc_value_int((int64_t) i)
                                           : mproc_value_str("s");
        CU_ASSERT_EQUAL_FATAL(mproc_value_append(l, item), 0);
    }
    CU_ASSERT_EQUAL_FATAL(mproc_value_append(l, sample()), 0);
    return l;
}

/* Whether places @first.. of @list hold @src's items, in order. */
static int holds(const mproc_value_t *list, size_t first,
                 const mproc_value_t *src)
{
    size_t k;
    for (k = 0; k < mproc_value_len(src); k++)
        if (!mproc_value_equal(mproc_value_at(list, first + k),
                               mproc_value_at(src, k)))
            return 0;
    return 1;
}

/* Whether places @first.. @first + @n - 1 of @list are holes. */
static int holes(const mproc_value_t *list, size_t first, size_t n)
{
    size_t k;
    for (k = 0; k < n; k++)
        if (mproc_value_at(list, first + k) != NULL)
            return 0;
    return 1;
}

static void test_a_list_decodes_straight_into_places(void)
{
    mproc_value_t *src = mixed(), *list, *copy;
    mproc__buf_t b = {0};
    size_t n, i;
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(src, &b), 0);
    list = mproc__value_list_holes(1000);
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    CU_ASSERT_EQUAL(mproc_value_len(list), 1000);
    CU_ASSERT_TRUE(holes(list, 0, 1000));
    /* Into holes, past one block, at a place that is no block's start. */
    n = 700;
    CU_ASSERT_EQUAL(mproc__value_decode_into(b.data, b.len, list, 100, &n), 0);
    CU_ASSERT_EQUAL(n, 601);
    CU_ASSERT_TRUE(holds(list, 100, src));
    CU_ASSERT_TRUE(holes(list, 0, 100));
    CU_ASSERT_TRUE(holes(list, 701, 299));
    /* Over places that hold values: those are freed (ASan would tell). */
    n = 601;
    CU_ASSERT_EQUAL(mproc__value_decode_into(b.data, b.len, list, 100, &n), 0);
    CU_ASSERT_TRUE(holds(list, 100, src));
    /* More values than asked for, or than places: nothing changes. */
    n = 600;
    CU_ASSERT_EQUAL(mproc__value_decode_into(b.data, b.len, list, 100, &n),
                    MPROC_ECORRUPT);
    n = 601;
    CU_ASSERT_EQUAL(mproc__value_decode_into(b.data, b.len, list, 500, &n),
                    MPROC_ECORRUPT);
    CU_ASSERT_TRUE(holds(list, 100, src));
    CU_ASSERT_TRUE(holes(list, 701, 299));
    /* Bytes that are no list. */
    n = 10;
    CU_ASSERT_EQUAL(mproc__value_decode_into("\x05", 1, list, 0, &n),
                    MPROC_ECORRUPT);
    /*
     * Lists that go bad after two values (an integer past int64, one cut
     * short, stray bytes after it): the places filled are holes again, and
     * the place after them is as it was.
     */
    {
        static const struct {
            const char *bytes;
            size_t len;
        } bad[] = {{"\x93\x01\x02\xcf\xff\xff\xff\xff\xff\xff\xff\xff", 12},
                   {"\x93\x01\x02\xcd\x01", 5},
                   {"\x93\x01\x02\x03\x01", 5}};
        for (i = 0; i < 3; i++) {
            n = 3;
            CU_ASSERT_EQUAL(mproc__value_decode_into(bad[i].bytes, bad[i].len,
                                                     list, 97, &n),
                            MPROC_ECORRUPT);
            CU_ASSERT_TRUE(holes(list, 97, 3));
            CU_ASSERT_TRUE(mproc_value_equal(mproc_value_at(list, 100),
                                             mproc_value_at(src, 0)));
        }
    }
    /* Put into the places, a hole becomes a list like any other. */
    for (i = 0; i < 1000; i++)
        if (mproc_value_at(list, i) == NULL)
            CU_ASSERT_EQUAL(mproc__value_list_put(list, i, mproc_value_int(-1)),
                            0);
    CU_ASSERT_EQUAL(mproc__value_list_put(list, 1000, mproc_value_int(0)),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(list, 0)), -1);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(list, 999)), -1);
    copy = mproc_value_copy(list);
    CU_ASSERT_TRUE(mproc_value_equal(copy, list));
    mproc_value_free(copy);
    mproc_value_free(list);
    mproc_value_free(src);
    mproc__buf_free(&b);
}

/*
 * A decode into places that goes bad at a place holding a scalar of the
 * list's block (a float, a nil) leaves that scalar as it was.
 */
static void test_a_decode_gone_bad_leaves_its_place_alone(void)
{
    /* [1, 2, 2^64 - 1]: the third is past int64. */
    static const char bad[] =
        "\x93\x01\x02\xcf\xff\xff\xff\xff\xff\xff\xff\xff";
    mproc_value_t *nils = mproc_value_list(), *list = NULL;
    mproc_value_t *one = mproc_value_list_of(1, mproc_value_float(1.5));
    mproc__buf_t b = {0};
    size_t n;
    /* 600 nils, each in the block of a decoded list. */
    for (n = 0; n < 600; n++)
        CU_ASSERT_EQUAL_FATAL(mproc_value_append(nils, mproc_value_nil()), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(nils, &b), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_decode_blocks(b.data, b.len, &list), 0);
    b.len = 0;
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    CU_ASSERT_PTR_NOT_NULL_FATAL(one);
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(one, &b), 0);
    n = 1;
    CU_ASSERT_EQUAL_FATAL(
        mproc__value_decode_into(b.data, b.len, list, 299, &n), 0);
    n = 3;
    CU_ASSERT_EQUAL(
        mproc__value_decode_into(bad, sizeof bad - 1, list, 297, &n),
        MPROC_ECORRUPT);
    CU_ASSERT_TRUE(holes(list, 297, 2));
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(list, 299)),
                    MPROC_VALUE_FLOAT);
    CU_ASSERT_EQUAL(mproc_value_as_float(mproc_value_at(list, 299)), 1.5);
    n = 3;
    CU_ASSERT_EQUAL(
        mproc__value_decode_into(bad, sizeof bad - 1, list, 298, &n),
        MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(mproc_value_type(mproc_value_at(list, 300)),
                    MPROC_VALUE_NIL);
    mproc_value_free(one);
    mproc_value_free(list);
    mproc_value_free(nils);
    mproc__buf_free(&b);
}

static void test_a_hole_swapped_out_is_a_nil(void)
{
    mproc_value_t *list = mproc__value_list_holes(3), *old;
    CU_ASSERT_PTR_NOT_NULL_FATAL(list);
    old = mproc__value_list_swap(list, 1, mproc_value_int(5));
    CU_ASSERT_PTR_NOT_NULL(old);
    CU_ASSERT_EQUAL(mproc_value_type(old), MPROC_VALUE_NIL);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(list, 1)), 5);
    mproc_value_free(old);
    /* A list with holes left is still freed whole. */
    mproc_value_free(list);
}

static void test_a_reader_reads_a_list_item_by_item(void)
{
    mproc_value_t *src = mixed();
    mproc__value_reader_t r;
    const mproc_value_t *item;
    mproc__buf_t b = {0};
    size_t k;
    CU_ASSERT_EQUAL_FATAL(mproc__value_encode(src, &b), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__value_reader_start(&r, b.data, b.len), 0);
    CU_ASSERT_EQUAL(r.left, 601);
    for (k = 0; k < 601; k++) {
        CU_ASSERT_EQUAL_FATAL(mproc__value_reader_next(&r, &item), 0);
        CU_ASSERT_TRUE(mproc_value_equal(item, mproc_value_at(src, k)));
    }
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), MPROC_EINVAL);
    CU_ASSERT_PTR_NULL(item);
    mproc__value_reader_end(&r);

    /* [7, an unknown extension, "x", 2^64 - 1, 8]: the bad ones fail alone. */
    CU_ASSERT_EQUAL_FATAL(
        mproc__value_reader_start(&r,
                                  "\x95\x07\xd4\x63\x00\xa1x"
                                  "\xcf\xff\xff\xff\xff\xff\xff\xff\xff\x08",
                                  17),
        0);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(item), 7);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(item), "x");
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(item), 8);
    mproc__value_reader_end(&r);

    /* [1, a uint16 cut short, 2]: the rest cannot be found, and fails. */
    CU_ASSERT_EQUAL_FATAL(mproc__value_reader_start(&r, "\x93\x01\xcd\x01", 4),
                          0);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), 0);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(mproc__value_reader_next(&r, &item), MPROC_EINVAL);
    mproc__value_reader_end(&r);

    /* A count past the bytes, or no list at all, is refused at the start. */
    CU_ASSERT_EQUAL(mproc__value_reader_start(&r, "\xdc\x01\x00\x01", 4),
                    MPROC_ECORRUPT);
    CU_ASSERT_EQUAL(mproc__value_reader_start(&r, "\xc0", 1), MPROC_ECORRUPT);
    mproc__value_reader_end(&r);
    mproc_value_free(src);
    mproc__buf_free(&b);
}

static void test_a_run_of_items_encodes_as_each_would(void)
{
    mproc_value_t *src = mixed(), *with_ref, *with_record;
    mproc__buf_t run = {0}, each = {0};
    mproc_conn_t *a, *z;
    size_t k;
    CU_ASSERT_EQUAL_FATAL(mproc__buf_append(&run, "ab", 2), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__buf_append(&each, "ab", 2), 0);
    CU_ASSERT_EQUAL(mproc__value_encode_run(src, 7, 594, &run), 0);
    for (k = 7; k < 601; k++)
        CU_ASSERT_EQUAL_FATAL(
            mproc__value_encode(mproc_value_at(src, k), &each), 0);
    CU_ASSERT_EQUAL_FATAL(run.len, each.len);
    CU_ASSERT_EQUAL(memcmp(run.data, each.data, run.len), 0);
    /* Past the end: refused, nothing appended. */
    CU_ASSERT_EQUAL(mproc__value_encode_run(src, 7, 595, &run), MPROC_EINVAL);
    CU_ASSERT_EQUAL(run.len, each.len);
    /* A connection among them: refused, for one by one; nothing appended. */
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &z, 1, NULL), 0);
    with_ref = mproc_value_list_of(2, mproc_value_int(1), mproc_value_conn(a));
    CU_ASSERT_PTR_NOT_NULL_FATAL(with_ref);
    CU_ASSERT_EQUAL(mproc__value_encode_run(with_ref, 0, 2, &run),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc__value_encode_run(with_ref, 0, 1, &run), 0);
    CU_ASSERT_EQUAL(run.len, each.len + 1);
    /* A record of a type not registered: its status, nothing appended. */
    with_record = mproc_value_list_of(
        2, mproc_value_int(1),
        mproc_value_record("no such type here", mproc_value_list()));
    run.len = each.len;
    CU_ASSERT_EQUAL(mproc__value_encode_run(with_record, 0, 2, &run),
                    MPROC_ENOTREG);
    CU_ASSERT_EQUAL(run.len, each.len);
    mproc_value_free(with_record);
    mproc_value_free(with_ref);
    mproc_conn_close(a);
    mproc_conn_close(z);
    mproc_value_free(src);
    mproc__buf_free(&run);
    mproc__buf_free(&each);
}

/* Makes and frees scalars, in an order that keeps some between rounds. */
static void *APR_THREAD_FUNC churn(apr_thread_t *t, void *arg)
{
    mproc_value_t *kept[100];
    int *bad = arg, r, i;
    (void) t;
    for (r = 0; r < 50; r++) {
        for (i = 0; i < 100; i++)
            kept[i] = i % 2 ? mproc_value_int(r * 100 + i)
                            : mproc_value_float(r + i / 4.0);
        for (i = 0; i < 100; i++) {
            if (i % 2 ? mproc_value_as_int(kept[i]) != r * 100 + i
                      : mproc_value_as_float(kept[i]) != r + i / 4.0)
                (*bad)++;
            mproc_value_free(kept[i]);
        }
    }
    return NULL;
}

/*
 * A thread keeps some of the scalars it frees for the next it makes; each
 * comes out as new, and when the thread ends they go back (under ASan a
 * leak of them fails the run).
 */
static void test_scalars_freed_are_made_again_whole(void)
{
    apr_pool_t *pool;
    apr_thread_t *t[4];
    apr_status_t ignored;
    int bad[4] = {0};
    mproc_value_t *mine[200], *nil;
    int i;
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (i = 0; i < 4; i++)
        CU_ASSERT_EQUAL_FATAL(
            apr_thread_create(&t[i], NULL, churn, &bad[i], pool), APR_SUCCESS);
    /* Meanwhile this thread: a kept int comes back as a nil. */
    for (i = 0; i < 200; i++)
        mine[i] = mproc_value_int(i);
    for (i = 0; i < 200; i++)
        mproc_value_free(mine[i]);
    nil = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_value_type(nil), MPROC_VALUE_NIL);
    mproc_value_free(nil);
    for (i = 0; i < 4; i++) {
        apr_thread_join(&ignored, t[i]);
        CU_ASSERT_EQUAL(bad[i], 0);
    }
    apr_pool_destroy(pool);
}

/*
 * Under AddressSanitizer a scalar that a thread keeps once freed is out of
 * bounds until it is made again, so that a use of it after its free, or a
 * second free, is reported as one of the C library's memory would be.
 */
static void test_a_kept_scalar_is_out_of_bounds(void)
{
    mproc_value_t *v[4];
    int i;
    v[0] = mproc_value_nil();
    v[1] = mproc_value_bool(1);
    v[2] = mproc_value_int(7);
    v[3] = mproc_value_float(0.5);
    for (i = 0; i < 4; i++) {
        CU_ASSERT_PTR_NOT_NULL_FATAL(v[i]);
#if defined(__SANITIZE_ADDRESS__)
        CU_ASSERT_FALSE(__asan_address_is_poisoned(v[i]));
#endif
    }
    for (i = 0; i < 4; i++) {
        mproc_value_free(v[i]);
#if defined(__SANITIZE_ADDRESS__)
        CU_ASSERT_TRUE(__asan_address_is_poisoned(v[i]));
        CU_ASSERT_TRUE(__asan_address_is_poisoned((char *) v[i] + 8));
#endif
    }
    /* Made again, a kept one is whole and usable. */
    for (i = 0; i < 4; i++) {
        v[i] = mproc_value_int(i);
        CU_ASSERT_PTR_NOT_NULL_FATAL(v[i]);
#if defined(__SANITIZE_ADDRESS__)
        CU_ASSERT_FALSE(__asan_address_is_poisoned(v[i]));
#endif
        CU_ASSERT_EQUAL(mproc_value_type(v[i]), MPROC_VALUE_INT);
        CU_ASSERT_EQUAL(mproc_value_as_int(v[i]), i);
    }
    for (i = 0; i < 4; i++)
        mproc_value_free(v[i]);
}

static const harness_test tests[] = {
    {"a list decodes straight into places",
     test_a_list_decodes_straight_into_places, 0},
    {"a decode gone bad leaves its place alone",
     test_a_decode_gone_bad_leaves_its_place_alone, 0},
    {"a hole swapped out is a nil", test_a_hole_swapped_out_is_a_nil, 0},
    {"a reader reads a list item by item",
     test_a_reader_reads_a_list_item_by_item, 0},
    {"a run of items encodes as each would",
     test_a_run_of_items_encodes_as_each_would, 0},
    {"scalars freed are made again whole",
     test_scalars_freed_are_made_again_whole, 0},
    {"a kept scalar is out of bounds", test_a_kept_scalar_is_out_of_bounds, 0},
    {"decoded map merges equal keys", test_decoded_map_merges_equal_keys, 0},
    {"block lists behave as plain lists",
     test_block_lists_behave_as_plain_lists, 0},
#if !defined(_WIN32)
    {"block lists take memory as their items",
     test_block_lists_take_memory_as_their_items, 0},
#endif
    {"repr is pythons", test_repr_is_pythons, 0},
    {"references: copy, compare and free",
     test_references_copy_compare_and_free, 0},
    {"references round trip inside containers",
     test_references_round_trip_inside_containers, 0},
    {"hostile references are corrupt", test_hostile_references_are_corrupt, 0},
    {"a user map is not a reference", test_user_map_is_not_a_reference, 0},
    {"depth is one limit for both sides",
     test_depth_is_one_limit_for_both_sides, 0},
    {"too deep a message is corrupt", test_too_deep_a_message_is_corrupt, 0},
    {"nested record headers are corrupt",
     test_nested_record_headers_are_corrupt, 0},
    {"counts beyond the message are corrupt",
     test_counts_beyond_the_message_are_corrupt, 0},
    {"construction and inspection", test_construction_and_inspection, 0},
    {"encode/decode round trip", test_encode_decode_round_trip, 0},
    {"empty deflated frame opens to nothing",
     test_empty_deflated_frame_opens_to_nothing, 0},
    {"frames deflate only when it pays", test_frames_deflate_only_when_it_pays,
     0},
    {"corrupt frames are reported", test_corrupt_frames_are_reported, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "value", tests);
}
