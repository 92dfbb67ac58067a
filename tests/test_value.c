/*
 * Values and frames, without processes: what the wire format promises.
 */
#include <stdlib.h>
#include <string.h>

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

static const harness_test tests[] = {
    {"construction and inspection", test_construction_and_inspection, 0},
    {"encode/decode round trip", test_encode_decode_round_trip, 0},
    {"frames deflate only when it pays", test_frames_deflate_only_when_it_pays,
     0},
    {"corrupt frames are reported", test_corrupt_frames_are_reported, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "value", tests);
}
