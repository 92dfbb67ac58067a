/*
 * Queue, SimpleQueue and JoinableQueue under each start method: order,
 * limits, spilling, many producers and consumers, records and references
 * sent through a queue, corruption, and nothing lost when a producer exits
 * at once.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#if defined(__linux__)
    #include <unistd.h>
#endif

#include "harness.h"
#include "mproc_private.h"

/* ---- helpers --------------------------------------------------------- */

static mproc_value_t *ref_of(mproc_queue_t *q)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL(mproc_queue_export(q, &v), 0);
    return v;
}

static mproc_queue_t *queue_arg(const mproc_value_t *args, size_t i)
{
    mproc_queue_t *q;
    if (mproc_queue_import(&q, mproc_value_at(args, i)) != 0)
        mproc_exit(100 + (int) i);
    return q;
}

/* A payload of @n bytes that is the same for the same @seed. */
static mproc_value_t *blob(size_t n, unsigned seed, int compressible)
{
    unsigned char *b = malloc(n ? n : 1);
    mproc_value_t *v;
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        b[i] = compressible ? (unsigned char) ("spam and eggs "[i % 14])
                            : (unsigned char) (seed >> 16);
    }
    v = mproc_value_bytes(b, n);
    free(b);
    return v;
}

/* The queue's size, or -1000 + the status if qsize fails. */
static long qsize(mproc_queue_t *q)
{
    size_t n = 0;
    int rc = mproc_queue_qsize(q, &n);
    return rc < 0 ? -1000 + rc : (long) n;
}

/* Gets the next item at once and checks it is @want. */
static void expect_next(mproc_queue_t *q, const mproc_value_t *want)
{
    mproc_value_t *v;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, 0), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, want));
    mproc_value_free(v);
}

/* ---- one process --------------------------------------------------------- */

static void test_order_and_nowait(void)
{
    mproc_queue_t *q;
    mproc_queue_opts_t o = {0};
    mproc_value_t *v;
    int i;
    o.maxsize = 3;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    CU_ASSERT_EQUAL(mproc_queue_get_nowait(q, &v), MPROC_EEMPTY);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0.02), MPROC_EEMPTY);
    for (i = 0; i < 3; i++) {
        mproc_value_t *item = mproc_value_int(i);
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, MPROC_FOREVER), 0);
        mproc_value_free(item);
    }
    CU_ASSERT_EQUAL(mproc_queue_full(q), 1);
    CU_ASSERT_EQUAL(qsize(q), 3);
    v = mproc_value_str("one too many");
    CU_ASSERT_EQUAL(mproc_queue_put_nowait(q, v), MPROC_EFULL);
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, 0.02), MPROC_EFULL);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(qsize(q), 3);
    for (i = 0; i < 3; i++) {
        CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, MPROC_FOREVER), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(v), i);
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    CU_ASSERT_EQUAL(mproc_queue_full(q), 0);
    /* close: no more puts or gets through this handle. */
    CU_ASSERT_EQUAL(mproc_queue_join_thread(q), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
    CU_ASSERT_EQUAL(mproc_queue_join_thread(q), 0);
    CU_ASSERT_EQUAL(mproc_queue_cancel_join_thread(q), 0);
    v = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, 0), MPROC_ECLOSED);
    mproc_value_free(v);
    mproc_queue_destroy(q);
}

static void test_too_big_puts_nothing(void)
{
    mproc_queue_t *q;
    mproc_queue_opts_t o = {0};
    mproc_value_t *big = blob(2000, 1, 0), *small = mproc_value_str("ok"), *v;
    o.codec.max_message = 1000;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, big, 0), MPROC_ETOOBIG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "nothing was put"));
    CU_ASSERT_EQUAL(qsize(q), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, small, 0), 0);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, small));
    mproc_value_free(v);
    mproc_value_free(big);
    mproc_value_free(small);
    mproc_queue_destroy(q);
}

static void test_corrupt_item_is_reported_and_skipped(void)
{
    mproc_queue_t *q;
    mproc_value_t *v;
    unsigned char *ring;
    size_t cap;
    uint64_t head;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    for (i = 1; i <= 3; i++) {
        mproc_value_t *item = mproc_value_str("some payload");
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
        mproc_value_free(item);
    }
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, 0), 0);
    mproc_value_free(v);
    /* Damage the next record's body in the shared ring. */
    mproc__queue_debug_ring(q, &ring, &cap, &head);
    ring[(head + 4 + MPROC__FRAME_HEADER_SIZE + 2) % cap] ^= 0x40;
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, 0), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "some payload");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    mproc_queue_destroy(q);
}

/*
 * The same for bytes values, which a get copies straight from the ring and
 * checks afterwards: damaged bytes, and a damaged msgpack header, are each
 * reported, and the next item is delivered.
 */
static void test_corrupt_bytes_are_reported_and_skipped(void)
{
    mproc_queue_t *q;
    mproc_value_t *item = blob(300, 7, 0), *v;
    unsigned char *ring;
    size_t cap;
    uint64_t head;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
    mproc__queue_debug_ring(q, &ring, &cap, &head);
    /* Past the frame header and the 3-byte bin header: a payload byte. */
    ring[(head + 4 + MPROC__FRAME_HEADER_SIZE + 3 + 100) % cap] ^= 0x01;
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    mproc__queue_debug_ring(q, &ring, &cap, &head);
    /* The low byte of the bin header's length. */
    ring[(head + 4 + MPROC__FRAME_HEADER_SIZE + 2) % cap] ^= 0x01;
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    expect_next(q, item);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    mproc_value_free(item);
    mproc_queue_destroy(q);
}

/*
 * The same for bytes of 300 kB, damaged near their end and past the
 * ring's end in a record that wraps around it: each is reported, the next
 * delivered; and undamaged, such a record arrives whole.
 */
static void test_corrupt_big_bytes_are_reported_and_skipped(void)
{
    const size_t n = 300000, cap_want = 1 << 20;
    mproc_queue_opts_t o = {.capacity = cap_want};
    mproc_queue_t *q;
    mproc_value_t *item = blob(n, 9, 0), *v;
    unsigned char *ring;
    size_t cap, body = 4 + MPROC__FRAME_HEADER_SIZE + 5; /* bin 32 header */
    uint64_t head, rec = (body + n + 7) / 8 * 8;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    /* Two round trips move the head to 600 kB: the next record but one
     * runs past the end of the 1 MiB ring. */
    for (i = 0; i < 2; i++) {
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
        expect_next(q, item);
    }
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
    mproc__queue_debug_ring(q, &ring, &cap, &head);
    CU_ASSERT_EQUAL_FATAL(cap, cap_want);
    CU_ASSERT_TRUE_FATAL(head % cap + 2 * rec > cap);
    CU_ASSERT_TRUE_FATAL(head % cap + rec < cap);
    ring[(head + body + n - 3) % cap] ^= 0x40;
    /* The second record's first byte past the ring's end. */
    CU_ASSERT_TRUE_FATAL((head + rec + body) % cap < cap - 16);
    ring[0] ^= 0x01;
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    expect_next(q, item);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    /* Undamaged, a record that wraps around the end arrives whole. */
    for (i = 0; i < 2; i++)
        CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
    mproc__queue_debug_ring(q, &ring, &cap, &head);
    CU_ASSERT_TRUE((head + rec) % cap + rec > cap);
    expect_next(q, item);
    expect_next(q, item);
    mproc_value_free(item);
    mproc_queue_destroy(q);
}

/*
 * A record of no bytes in the ring, as a broken or hostile process that
 * maps the queue can leave it, got by a handle that never held a frame (as
 * in another process): reported as corrupt, without undefined behaviour
 * (the sanitizers' build checks that).
 */
static void test_empty_record_is_corrupt(void)
{
    mproc_queue_t *q, *other;
    mproc_value_t *item = mproc_value_str("x"), *ref, *v;
    unsigned char *ring;
    size_t cap;
    uint64_t head;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    ref = mproc_value_queue(q);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_import(&other, ref), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, item, 0), 0);
    mproc__queue_debug_ring(other, &ring, &cap, &head);
    mproc__put_u32(ring + head % cap, 0);
    CU_ASSERT_EQUAL(mproc_queue_get(other, &v, 0), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NULL(v);
    mproc_value_free(ref);
    mproc_value_free(item);
    mproc_queue_destroy(other);
    mproc_queue_destroy(q);
}

static void test_compression_round_trips(void)
{
    mproc_queue_t *q;
    mproc_queue_opts_t o = {0};
    mproc_value_t *text = blob(1 << 20, 3, 1), *noise = blob(1 << 20, 4, 0);
    o.codec.compress_threshold = 1024;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, text, 0), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, noise, 0), 0);
    expect_next(q, text);
    expect_next(q, noise);
    mproc_value_free(text);
    mproc_value_free(noise);
    mproc_queue_destroy(q);
}

static void test_codec_options_are_checked(void)
{
    mproc_queue_t *q = NULL;
    mproc_queue_opts_t o = {0};
    mproc_value_t *text = blob(1 << 16, 5, 1);
    o.codec.compress_level = 10;
    CU_ASSERT_EQUAL(mproc_queue_create(&q, &o), MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "compress_level"));
    CU_ASSERT_PTR_NULL(q);
    o.codec.compress_level = -1;
    CU_ASSERT_EQUAL(mproc_simple_queue_create(&q, &o), MPROC_EINVAL);
    /* The strongest level is accepted, and what it deflates round-trips. */
    o.codec.compress_level = 9;
    o.codec.compress_threshold = 1024;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, text, 0), 0);
    expect_next(q, text);
    mproc_value_free(text);
    mproc_queue_destroy(q);
}

/* ---- across processes ------------------------------------------------ */

/* args: queue, count, size: puts count blobs and exits at once. */
static void put_and_leave(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0);
    int n = (int) mproc_value_as_int(mproc_value_at(args, 1)), i;
    size_t size = (size_t) mproc_value_as_int(mproc_value_at(args, 2));
    for (i = 0; i < n; i++) {
        mproc_value_t *v = mproc_value_list_of(2, mproc_value_int(i),
                                               blob(size, (unsigned) i, 0));
        if (mproc_queue_put(q, v, MPROC_FOREVER) != 0)
            mproc_exit(2);
        mproc_value_free(v);
    }
    /* No destroy, no flush: the items are in shared memory already. */
}
MPROC_TARGET(put_and_leave)

/* Expects the items numbered first .. first+n-1 of size @size. */
static void expect_items(mproc_queue_t *q, int first, int n, size_t size)
{
    int i;
    for (i = first; i < first + n; i++) {
        mproc_value_t *v = NULL, *want;
        CU_ASSERT_EQUAL_FATAL(mproc_queue_get(q, &v, 30), 0);
        want = blob(size, (unsigned) i, 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 0)), i);
        CU_ASSERT_TRUE(mproc_value_equal(mproc_value_at(v, 1), want));
        mproc_value_free(want);
        mproc_value_free(v);
    }
}

static void test_producer_that_exits_loses_nothing(void)
{
    mproc_queue_t *q;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    /* The child exits while all of its items are still queued. */
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "put_and_leave",
                        mproc_value_list_of(3, ref_of(q), mproc_value_int(500),
                                            mproc_value_int(100)))),
                    0);
    CU_ASSERT_EQUAL(qsize(q), 500);
    expect_items(q, 0, 500, 100);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    mproc_queue_destroy(q);
}

static void test_spilling_never_blocks_and_keeps_order(void)
{
    mproc_queue_t *q;
    mproc_queue_opts_t o = {0};
    o.capacity = 4096;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    /* 200 KB through a 4 KB ring, with messages bigger than the ring. */
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "put_and_leave",
                        mproc_value_list_of(3, ref_of(q), mproc_value_int(40),
                                            mproc_value_int(5000)))),
                    0);
    expect_items(q, 0, 20, 5000);
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "put_and_leave",
                        mproc_value_list_of(3, ref_of(q), mproc_value_int(20),
                                            mproc_value_int(10)))),
                    0);
    expect_items(q, 20, 20, 5000);
    expect_items(q, 0, 20, 10);
    mproc_queue_destroy(q);
}

/*
 * Once the consumers have freed room, a put goes back to the ring while
 * what was spilled before it still waits in the spill file, and the items
 * still come out in the order they were put.
 */
static void test_spill_run_gives_the_ring_back(void)
{
    mproc_queue_t *q;
    mproc_queue_opts_t o = {0};
    mproc_value_t *items[8], *v;
    int i;
    /* Four records of 1000 bytes (1024 with their headers) fill the ring. */
    o.capacity = 4096;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, &o), 0);
    for (i = 0; i < 8; i++)
        items[i] = blob(1000, (unsigned) i, 0);
    for (i = 0; i < 6; i++)
        CU_ASSERT_EQUAL(mproc_queue_put(q, items[i], 0), 0);
    CU_ASSERT_EQUAL(mproc__queue_debug_spilled(q), 2);
    expect_next(q, items[0]);
    expect_next(q, items[1]);
    /* Room for one record: item 6 takes it, items 4 and 5 stay spilled. */
    CU_ASSERT_EQUAL(mproc_queue_put(q, items[6], 0), 0);
    CU_ASSERT_EQUAL(mproc__queue_debug_spilled(q), 2);
    CU_ASSERT_EQUAL(mproc_queue_put(q, items[7], 0), 0);
    CU_ASSERT_EQUAL(mproc__queue_debug_spilled(q), 3);
    for (i = 2; i < 8; i++)
        expect_next(q, items[i]);
    CU_ASSERT_EQUAL(mproc__queue_debug_spilled(q), 0);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_EEMPTY);
    for (i = 0; i < 8; i++)
        mproc_value_free(items[i]);
    mproc_queue_destroy(q);
}

static void test_big_messages(void)
{
    mproc_queue_t *q;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "put_and_leave",
                        mproc_value_list_of(3, ref_of(q), mproc_value_int(3),
                                            mproc_value_int(4 << 20)))),
                    0);
    expect_items(q, 0, 3, 4 << 20);
    mproc_queue_destroy(q);
}

/* args: in, out: sums integers until nil, then puts [count, sum]. */
static void summer(const mproc_value_t *args)
{
    mproc_queue_t *in = queue_arg(args, 0), *out = queue_arg(args, 1);
    int64_t count = 0, sum = 0;
    for (;;) {
        mproc_value_t *v = NULL;
        if (mproc_queue_get(in, &v, MPROC_FOREVER) != 0)
            mproc_exit(2);
        if (mproc_value_type(v) == MPROC_VALUE_NIL) {
            mproc_value_free(v);
            break;
        }
        count++;
        sum += mproc_value_as_int(v);
        mproc_value_free(v);
    }
    {
        mproc_value_t *r = mproc_value_list_of(2, mproc_value_int(count),
                                               mproc_value_int(sum));
        mproc_queue_put(out, r, MPROC_FOREVER);
        mproc_value_free(r);
    }
    mproc_queue_destroy(in);
    mproc_queue_destroy(out);
}
MPROC_TARGET(summer)

/* args: queue, first, count: puts first .. first+count-1. */
static void counter(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0);
    int64_t first = mproc_value_as_int(mproc_value_at(args, 1));
    int64_t n = mproc_value_as_int(mproc_value_at(args, 2)), i;
    for (i = first; i < first + n; i++) {
        mproc_value_t *v = mproc_value_int(i);
        if (mproc_queue_put(q, v, MPROC_FOREVER) != 0)
            mproc_exit(2);
        mproc_value_free(v);
    }
    mproc_queue_destroy(q);
}
MPROC_TARGET(counter)

static void test_many_producers_many_consumers(void)
{
    mproc_queue_t *in, *out;
    mproc_queue_opts_t o = {0};
    mproc_process_t *prod[3], *cons[2];
    int64_t count = 0, sum = 0, n = 3 * 400;
    int i;
    o.maxsize = 50; /* bounded, so producers also wait for room */
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&in, &o), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&out, NULL), 0);
    for (i = 0; i < 2; i++)
        cons[i] = harness_start(
            "summer", mproc_value_list_of(2, ref_of(in), ref_of(out)));
    for (i = 0; i < 3; i++)
        prod[i] = harness_start("counter",
                                mproc_value_list_of(3, ref_of(in),
                                                    mproc_value_int(i * 400),
                                                    mproc_value_int(400)));
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(harness_join_code(prod[i]), 0);
    for (i = 0; i < 2; i++) {
        mproc_value_t *stop = mproc_value_nil();
        CU_ASSERT_EQUAL(mproc_queue_put(in, stop, MPROC_FOREVER), 0);
        mproc_value_free(stop);
    }
    for (i = 0; i < 2; i++) {
        mproc_value_t *r = NULL;
        CU_ASSERT_EQUAL_FATAL(mproc_queue_get(out, &r, 60), 0);
        count += mproc_value_as_int(mproc_value_at(r, 0));
        sum += mproc_value_as_int(mproc_value_at(r, 1));
        mproc_value_free(r);
        CU_ASSERT_EQUAL(harness_join_code(cons[i]), 0);
    }
    /* Every item exactly once. */
    CU_ASSERT_EQUAL(count, n);
    CU_ASSERT_EQUAL(sum, n * (n - 1) / 2);
    mproc_queue_destroy(in);
    mproc_queue_destroy(out);
}

/* ---- JoinableQueue and SimpleQueue ----------------------------------- */

/* args: joinable queue: takes items and marks each done, until nil. */
static void worker_done(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0);
    for (;;) {
        mproc_value_t *v = NULL;
        int stop;
        if (mproc_queue_get(q, &v, MPROC_FOREVER) != 0)
            mproc_exit(2);
        stop = mproc_value_type(v) == MPROC_VALUE_NIL;
        mproc_value_free(v);
        if (mproc_queue_task_done(q) != 0)
            mproc_exit(3);
        if (stop)
            break;
    }
    mproc_queue_destroy(q);
}
MPROC_TARGET(worker_done)

static void test_joinable_queue(void)
{
    mproc_queue_t *q;
    mproc_process_t *w;
    mproc_value_t *v;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_joinable_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL(mproc_queue_join(q, 0), 0);
    CU_ASSERT_EQUAL(mproc_queue_task_done(q), MPROC_ETOOMANY);
    for (i = 0; i < 20; i++) {
        v = mproc_value_int(i);
        CU_ASSERT_EQUAL(mproc_queue_put(q, v, 0), 0);
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(mproc_queue_join(q, 0.02), MPROC_ETIMEDOUT);
    v = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, 0), 0);
    mproc_value_free(v);
    w = harness_start("worker_done", mproc_value_list_of(1, ref_of(q)));
    CU_ASSERT_EQUAL(mproc_queue_join(q, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(harness_join_code(w), 0);
    CU_ASSERT_EQUAL(mproc_queue_task_done(q), MPROC_ETOOMANY);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "too many times"));
    mproc_queue_destroy(q);
}

static void test_simple_queue(void)
{
    mproc_queue_t *q;
    mproc_value_t *v = mproc_value_str("simple"), *back = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_simple_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    CU_ASSERT_EQUAL(mproc_queue_put(q, v, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 0);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &back, MPROC_FOREVER), 0);
    CU_ASSERT_TRUE(mproc_value_equal(v, back));
    CU_ASSERT_EQUAL(mproc_queue_task_done(q), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_queue_join(q, 0), MPROC_ESTATE);
    mproc_value_free(v);
    mproc_value_free(back);
    mproc_queue_destroy(q);
}

/* ---- records and references ------------------------------------------ */

static mproc_value_t *multiply(const mproc_value_t *task)
{
    return mproc_value_int(mproc_value_as_int(mproc_value_at(task, 0)) *
                           mproc_value_as_int(mproc_value_at(task, 1)));
}
MPROC_RECORD(Multiply, multiply)

/* args: tasks, results: calls every record it gets, until nil. */
static void call_records(const mproc_value_t *args)
{
    mproc_queue_t *tasks = queue_arg(args, 0), *results = queue_arg(args, 1);
    for (;;) {
        mproc_value_t *t = NULL, *r = NULL;
        if (mproc_queue_get(tasks, &t, MPROC_FOREVER) != 0)
            mproc_exit(2);
        if (mproc_value_type(t) == MPROC_VALUE_NIL) {
            mproc_value_free(t);
            break;
        }
        if (mproc_record_call(t, &r) != 0)
            mproc_exit(3);
        mproc_queue_put(results, r, MPROC_FOREVER);
        mproc_value_free(r);
        mproc_value_free(t);
    }
    mproc_queue_destroy(tasks);
    mproc_queue_destroy(results);
}
MPROC_TARGET(call_records)

static void test_records_through_a_queue(void)
{
    mproc_queue_t *tasks, *results;
    mproc_process_t *w;
    mproc_value_t *v, *stranger;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&tasks, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&results, NULL), 0);
    /* A type the program does not know is refused, and nothing is put. */
    stranger = mproc_value_record("Stranger", NULL);
    CU_ASSERT_EQUAL(mproc_queue_put(tasks, stranger, 0), MPROC_ENOTREG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "'Stranger'"));
    CU_ASSERT_EQUAL(qsize(tasks), 0);
    mproc_value_free(stranger);
    w = harness_start("call_records",
                      mproc_value_list_of(2, ref_of(tasks), ref_of(results)));
    for (i = 0; i < 10; i++) {
        v = mproc_value_record(
            "Multiply",
            mproc_value_list_of(2, mproc_value_int(i), mproc_value_int(i + 1)));
        CU_ASSERT_STRING_EQUAL(mproc_value_record_type(v), "Multiply");
        CU_ASSERT_EQUAL(mproc_queue_put(tasks, v, 0), 0);
        mproc_value_free(v);
    }
    v = mproc_value_nil();
    mproc_queue_put(tasks, v, 0);
    mproc_value_free(v);
    for (i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL_FATAL(mproc_queue_get(results, &v, 30), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(v), i * (i + 1));
        mproc_value_free(v);
    }
    CU_ASSERT_EQUAL(harness_join_code(w), 0);
    mproc_queue_destroy(tasks);
    mproc_queue_destroy(results);
}

/* args: a queue carrying [lock ref, event ref, queue ref]. */
static void use_sent_objects(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0), *reply;
    mproc_value_t *refs = NULL, *v;
    mproc_lock_t *l;
    mproc_event_t *e;
    if (mproc_queue_get(q, &refs, MPROC_FOREVER) != 0 ||
        mproc_lock_import(&l, mproc_value_at(refs, 0)) != 0 ||
        mproc_event_import(&e, mproc_value_at(refs, 1)) != 0 ||
        mproc_queue_import(&reply, mproc_value_at(refs, 2)) != 0)
        mproc_exit(2);
    /* The parent holds the lock: a try fails until it lets go. */
    if (mproc_lock_acquire(l, 0) != MPROC_ETIMEDOUT)
        mproc_exit(3);
    mproc_event_set(e);
    v = mproc_value_str("received");
    mproc_queue_put(reply, v, MPROC_FOREVER);
    mproc_value_free(v);
    if (mproc_lock_acquire(l, MPROC_FOREVER) != 0)
        mproc_exit(4);
    mproc_lock_release(l);
    mproc_value_free(refs);
    mproc_lock_destroy(l);
    mproc_event_destroy(e);
    mproc_queue_destroy(reply);
    mproc_queue_destroy(q);
}
MPROC_TARGET(use_sent_objects)

static void test_objects_sent_through_a_queue(void)
{
    mproc_queue_t *q, *reply;
    mproc_lock_t *l;
    mproc_event_t *e;
    mproc_value_t *lr, *er, *refs, *v = NULL;
    mproc_process_t *w;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&reply, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&e, NULL), 0);
    CU_ASSERT_EQUAL(mproc_lock_export(l, &lr), 0);
    CU_ASSERT_EQUAL(mproc_event_export(e, &er), 0);
    w = harness_start("use_sent_objects", mproc_value_list_of(1, ref_of(q)));
    CU_ASSERT_EQUAL(mproc_lock_acquire(l, MPROC_FOREVER), 0);
    refs = mproc_value_list_of(3, lr, er, ref_of(reply));
    CU_ASSERT_EQUAL(mproc_queue_put(q, refs, 0), 0);
    mproc_value_free(refs);
    CU_ASSERT_EQUAL(mproc_event_wait(e, 15), 0);
    CU_ASSERT_EQUAL(mproc_queue_get(reply, &v, 15), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "received");
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_lock_release(l), 0);
    CU_ASSERT_EQUAL(harness_join_code(w), 0);
    mproc_lock_destroy(l);
    mproc_event_destroy(e);
    mproc_queue_destroy(q);
    mproc_queue_destroy(reply);
}

/* args: a queue, the same reference again, and a lock reference. */
static void queue_opens_once(const mproc_value_t *args)
{
    mproc_queue_t *q = NULL, *again = NULL;
    mproc_value_t *v = mproc_value_str("from the child");
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 0), &q) == 0);
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 1), &again) == 0);
    CHILD_ASSERT(q == again);
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 2), &again) ==
                 MPROC_ETYPE);
    CHILD_ASSERT(strstr(mproc_last_error(),
                        "argument is a lock reference, not a queue") != NULL);
    CHILD_ASSERT(mproc_queue_put(q, v, MPROC_FOREVER) == 0);
    mproc_value_free(v);
    /* The runtime owns q and lets go of it at exit. */
}
MPROC_TARGET(queue_opens_once)

static void test_queue_reference_opens_once(void)
{
    mproc_queue_t *q;
    mproc_lock_t *l;
    mproc_value_t *args, *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&l, NULL), 0);
    args = mproc_value_list_of(3, mproc_value_queue(q), mproc_value_queue(q),
                               mproc_value_lock(l));
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    CU_ASSERT_EQUAL(harness_join_code(harness_start("queue_opens_once", args)),
                    0);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 30), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "from the child");
    mproc_value_free(v);
    mproc_lock_destroy(l);
    mproc_queue_destroy(q);
}

static void test_bad_reference(void)
{
    mproc_queue_t *q;
    mproc_value_t *junk = mproc_value_map(), *ref;
    CU_ASSERT_EQUAL(mproc_queue_import(&q, junk), MPROC_ETYPE);
    mproc_value_free(junk);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    ref = ref_of(q);
    mproc_queue_destroy(q);
    CU_ASSERT_EQUAL(mproc_queue_import(&q, ref), MPROC_ENOTFOUND);
    mproc_value_free(ref);
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
 * A value nested deeper than any receiver decodes is refused by the put, so
 * no get ever consumes it; a value at exactly the limit goes through.
 */
static void test_too_deep_puts_nothing(void)
{
    mproc_queue_t *q;
    mproc_value_t *deep = nested_lists(MPROC_VALUE_MAX_DEPTH + 1);
    mproc_value_t *limit = nested_lists(MPROC_VALUE_MAX_DEPTH);
    mproc_value_t *small = mproc_value_str("ok");
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, deep, 0), MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "MPROC_VALUE_MAX_DEPTH"));
    CU_ASSERT_EQUAL(qsize(q), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, small, 0), 0);
    CU_ASSERT_EQUAL(mproc_queue_put(q, limit, 0), 0);
    expect_next(q, small);
    expect_next(q, limit);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    mproc_value_free(deep);
    mproc_value_free(limit);
    mproc_value_free(small);
    mproc_queue_destroy(q);
}

/* ---- close and shutdown ---------------------------------------------- */

typedef int (*queue_ctor)(mproc_queue_t **, const mproc_queue_opts_t *);

static const queue_ctor every_kind[] = {
    mproc_queue_create, mproc_simple_queue_create, mproc_joinable_queue_create};

static int put_int(mproc_queue_t *q, int64_t i, double timeout)
{
    mproc_value_t *v = mproc_value_int(i);
    int rc = mproc_queue_put(q, v, timeout);
    mproc_value_free(v);
    return rc;
}

/* Gets an integer within @timeout: the integer, or -1000 + the status. */
static int64_t get_int(mproc_queue_t *q, double timeout)
{
    mproc_value_t *v = NULL;
    int64_t i;
    int rc = mproc_queue_get(q, &v, timeout);
    if (rc < 0)
        return -1000 + rc;
    i = mproc_value_as_int(v);
    mproc_value_free(v);
    return i;
}

static void test_closed_queue_says_closed(void)
{
    size_t k;
    for (k = 0; k < 3; k++) {
        mproc_queue_t *q;
        mproc_value_t *v = NULL, *ref;
        size_t n = 7;
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, NULL), 0);
        CU_ASSERT_EQUAL(put_int(q, 1, 0), 0);
        CU_ASSERT_EQUAL(mproc_queue_empty(q), 0);
        CU_ASSERT_EQUAL(mproc_queue_full(q), 0);
        /* Python's SimpleQueue has no qsize(). */
        CU_ASSERT_EQUAL(mproc_queue_qsize(q, &n), k == 1 ? MPROC_ESTATE : 0);
        CU_ASSERT_EQUAL(n, k == 1 ? 7 : 1);
        CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
        CU_ASSERT_EQUAL(mproc_queue_empty(q), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_full(q), MPROC_ECLOSED);
        n = 7;
        CU_ASSERT_EQUAL(mproc_queue_qsize(q, &n), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(n, 7);
        CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(put_int(q, 2, 0), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 0), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_task_done(q),
                        k == 2 ? MPROC_ECLOSED : MPROC_ESTATE);
        CU_ASSERT_EQUAL(mproc_queue_join(q, 0),
                        k == 2 ? MPROC_ECLOSED : MPROC_ESTATE);
        ref = NULL;
        CU_ASSERT_EQUAL(mproc_queue_export(q, &ref), MPROC_ECLOSED);
        CU_ASSERT_PTR_NULL(ref);
        /* Closing twice is fine. */
        CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
        CU_ASSERT_EQUAL(mproc_queue_join_thread(q), 0);
        mproc_queue_destroy(q);
    }
}

static void test_close_then_destroy_lets_go_once(void)
{
    mproc_queue_t *q, *other;
    mproc_value_t *ref;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    ref = ref_of(q);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_import(&other, ref), 0);
    CU_ASSERT_EQUAL(put_int(q, 1, 0), 0);
    CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
    /* One use of the queue is let go of, not two. */
    mproc_queue_destroy(q);
    /* What q put stays, and the other handle goes on working. */
    CU_ASSERT_EQUAL(get_int(other, 5), 1);
    CU_ASSERT_EQUAL(put_int(other, 2, 0), 0);
    CU_ASSERT_EQUAL(get_int(other, 5), 2);
    CU_ASSERT_EQUAL(mproc_queue_close(other), 0);
    mproc_queue_destroy(other);
    /* The last user has let go: nothing of the queue is left. */
    CU_ASSERT_EQUAL(mproc_queue_import(&other, ref), MPROC_ENOTFOUND);
#if defined(__linux__)
    {
        char path[128];
        char *left;
        snprintf(path, sizeof path, "/dev/shm/%s",
                 mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0)));
        left = harness_read_file(path);
        CU_ASSERT_PTR_NULL(left);
        free(left);
    }
#endif
    mproc_value_free(ref);
}

/*
 * A consumer killed between taking an item and counting it leaves the
 * count one short: the next get finds nothing where the count says there
 * is an item. It puts the count right and waits as on any empty queue,
 * instead of failing every get from then on, and the next item comes.
 */
static void test_count_left_by_dead_consumer_is_repaired(void)
{
    mproc_queue_t *q;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL(put_int(q, 1, 0), 0);
    CU_ASSERT_EQUAL(get_int(q, 0), 1);
    mproc__queue_debug_uncount(q);
    CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0.05), MPROC_EEMPTY);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
    CU_ASSERT_EQUAL(put_int(q, 2, 0), 0);
    CU_ASSERT_EQUAL(get_int(q, 0), 2);
    CU_ASSERT_EQUAL(qsize(q), 0);
    mproc_queue_destroy(q);
}

#if defined(__linux__)
/* How many descriptors this process has open. */
static int open_fds(void)
{
    char path[64];
    int n = 0, fd;
    for (fd = 0; fd < 4096; fd++) {
        snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}
#endif

/*
 * close lets go of the handle's use of the queue at once, not at destroy:
 * the only user's close removes the queue (its segment, OS objects and
 * spill file), and gives back the descriptors it held, while every status
 * a closed queue gives stays as it was.
 */
static void test_close_lets_go_at_once(void)
{
    mproc_queue_t *warm;
    size_t k;
    /* The first named object starts the tracker, which keeps descriptors. */
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&warm, NULL), 0);
    mproc_queue_destroy(warm);
    for (k = 0; k < 3; k++) {
        mproc_queue_t *q, *other = NULL;
        mproc_value_t *ref, *v = NULL;
#if defined(__linux__)
        int fds = open_fds();
#endif
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, NULL), 0);
        ref = ref_of(q);
        CU_ASSERT_EQUAL(put_int(q, 1, 0), 0);
        CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
        CU_ASSERT_EQUAL(mproc_queue_import(&other, ref), MPROC_ENOTFOUND);
        CU_ASSERT_PTR_NULL(other);
        mproc_queue_destroy(other);
#if defined(__linux__)
        {
            char path[128];
            char *left;
            CU_ASSERT_EQUAL(open_fds(), fds);
            snprintf(
                path, sizeof path, "/dev/shm/%s",
                mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0)));
            left = harness_read_file(path);
            CU_ASSERT_PTR_NULL(left);
            free(left);
        }
#endif
        CU_ASSERT_EQUAL(mproc_queue_empty(q), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_full(q), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_get(q, &v, 0), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(put_int(q, 2, 0), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 1), MPROC_ECLOSED);
        CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
        mproc_queue_destroy(q);
        mproc_value_free(ref);
    }
}

/*
 * args: queue, go, reply: waits for go, only then opens the queue, and
 * puts what it gets there on reply.
 */
static void open_after_go(const mproc_value_t *args)
{
    mproc_queue_t *go = queue_arg(args, 1), *reply = queue_arg(args, 2), *q;
    CHILD_ASSERT(get_int(go, 30) == 1);
    CHILD_ASSERT(mproc_value_to_queue(mproc_value_at(args, 0), &q) == 0);
    CHILD_ASSERT(put_int(reply, get_int(q, 30), 0) == 0);
}
MPROC_TARGET(open_after_go)

/*
 * A queue given to a child works there even when the parent closed (and
 * destroyed) its only handle right after the start, before the child
 * opened it, as closing a Queue in Python's parent does not break a child
 * that received it; once the child has ended and been joined, the queue
 * goes.
 */
static void test_child_opens_after_parent_closed(void)
{
    mproc_queue_t *q, *go, *reply;
    mproc_value_t *ref, *other_ref;
    mproc_queue_t *other = NULL;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&go, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&reply, NULL), 0);
    ref = ref_of(q);
    other_ref = ref_of(q);
    CU_ASSERT_EQUAL(put_int(q, 41, 0), 0);
    p = harness_start("open_after_go",
                      mproc_value_list_of(3, ref, ref_of(go), ref_of(reply)));
    CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
    mproc_queue_destroy(q);
    CU_ASSERT_EQUAL(put_int(go, 1, 0), 0);
    CU_ASSERT_EQUAL(get_int(reply, 10), 41);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CU_ASSERT_EQUAL(mproc_queue_import(&other, other_ref), MPROC_ENOTFOUND);
    mproc_value_free(other_ref);
    mproc_queue_destroy(go);
    mproc_queue_destroy(reply);
}

/* args: queue, replies: echoes two items, then puts and gets its own. */
static void echo_twice(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0), *r = queue_arg(args, 1);
    int i;
    for (i = 0; i < 2; i++)
        CHILD_ASSERT(put_int(r, get_int(q, 30), 0) == 0);
    /* The parent has closed its handle by now: this one still works. */
    CHILD_ASSERT(put_int(q, 3, 0) == 0);
    CHILD_ASSERT(get_int(q, 30) == 3);
}
MPROC_TARGET(echo_twice)

static void test_close_leaves_other_processes_alone(void)
{
    mproc_queue_t *q, *r;
    mproc_value_t *ref;
    mproc_process_t *p;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&r, NULL), 0);
    ref = ref_of(q);
    p = harness_start("echo_twice",
                      mproc_value_list_of(2, ref_of(q), ref_of(r)));
    CU_ASSERT_EQUAL(put_int(q, 1, 0), 0);
    /* The child has its own handle once it echoes. */
    CU_ASSERT_EQUAL(get_int(r, 30), 1);
    CU_ASSERT_EQUAL(put_int(q, 2, 0), 0);
    CU_ASSERT_EQUAL(mproc_queue_close(q), 0);
    /* The item put before close reaches the child. */
    CU_ASSERT_EQUAL(get_int(r, 30), 2);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_queue_destroy(q);
    /* The child was the last user: nothing of the queue is left. */
    CU_ASSERT_EQUAL(mproc_queue_import(&q, ref), MPROC_ENOTFOUND);
    mproc_value_free(ref);
    mproc_queue_destroy(r);
}

static void test_shutdown_drains_then_fails(void)
{
    size_t k;
    for (k = 0; k < 3; k++) {
        mproc_queue_t *q;
        mproc_queue_opts_t o = {0};
        o.maxsize = 5;
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, &o), 0);
        CU_ASSERT_EQUAL(put_int(q, 1, 0), 0);
        CU_ASSERT_EQUAL(put_int(q, 2, 0), 0);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 0), 0);
        CU_ASSERT_EQUAL(put_int(q, 3, 0), MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(put_int(q, 3, 5), MPROC_ESHUTDOWN);
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "shut down"));
        CU_ASSERT_EQUAL(mproc_queue_empty(q), 0);
        CU_ASSERT_EQUAL(get_int(q, 0), 1);
        CU_ASSERT_EQUAL(get_int(q, 5), 2);
        /* Drained: gets fail at once instead of waiting. */
        CU_ASSERT_EQUAL(get_int(q, 0), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(get_int(q, 5), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(get_int(q, MPROC_FOREVER), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 0), 0);
        if (k == 2) {
            CU_ASSERT_EQUAL(mproc_queue_task_done(q), 0);
            CU_ASSERT_EQUAL(mproc_queue_task_done(q), 0);
            CU_ASSERT_EQUAL(mproc_queue_join(q, 5), 0);
        }
        mproc_queue_destroy(q);
    }
}

static void test_shutdown_immediate_drops_the_rest(void)
{
    size_t k;
    for (k = 0; k < 3; k++) {
        mproc_queue_t *q;
        int i;
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, NULL), 0);
        for (i = 0; i < 3; i++)
            CU_ASSERT_EQUAL(put_int(q, i, 0), 0);
        CU_ASSERT_EQUAL(get_int(q, 0), 0);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 1), 0);
        CU_ASSERT_EQUAL(mproc_queue_empty(q), 1);
        CU_ASSERT_EQUAL(get_int(q, 5), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(put_int(q, 9, 0), MPROC_ESHUTDOWN);
        if (k != 1)
            CU_ASSERT_EQUAL(qsize(q), 0);
        if (k == 2) {
            /* The dropped items count as done; the one taken does not. */
            CU_ASSERT_EQUAL(mproc_queue_join(q, 0), MPROC_ETIMEDOUT);
            CU_ASSERT_EQUAL(mproc_queue_task_done(q), 0);
            CU_ASSERT_EQUAL(mproc_queue_join(q, 5), 0);
            CU_ASSERT_EQUAL(mproc_queue_task_done(q), MPROC_ETOOMANY);
        }
        mproc_queue_destroy(q);
    }
}

/*
 * args: queue, replies, n: gets n items, says so, then gets until the
 * queue is shut down and says what ended it.
 */
static void get_until_shutdown(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0), *r = queue_arg(args, 1);
    int64_t n = mproc_value_as_int(mproc_value_at(args, 2)), i, got;
    for (i = 0; i < n; i++)
        CHILD_ASSERT(get_int(q, 30) == i);
    CHILD_ASSERT(put_int(r, n, 0) == 0);
    /* Blocks until the shutdown; 30 s only so that a regression fails. */
    got = get_int(q, 30);
    CHILD_ASSERT(put_int(r, got, 0) == 0);
}
MPROC_TARGET(get_until_shutdown)

/* args: bounded queue of 1, replies: fills it, says so, then blocks. */
static void put_until_shutdown(const mproc_value_t *args)
{
    mproc_queue_t *q = queue_arg(args, 0), *r = queue_arg(args, 1);
    CHILD_ASSERT(put_int(q, 1, 0) == 0);
    CHILD_ASSERT(put_int(r, 1, 0) == 0);
    CHILD_ASSERT(put_int(r, -1000 + put_int(q, 2, 30), 0) == 0);
}
MPROC_TARGET(put_until_shutdown)

static void test_shutdown_wakes_other_processes(void)
{
    size_t k;
    for (k = 0; k < 3; k++) {
        mproc_queue_t *q, *r;
        mproc_process_t *p;
        int i;
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&r, NULL), 0);
        p = harness_start(
            "get_until_shutdown",
            mproc_value_list_of(3, ref_of(q), ref_of(r), mproc_value_int(4)));
        for (i = 0; i < 4; i++)
            CU_ASSERT_EQUAL(put_int(q, i, 0), 0);
        CU_ASSERT_EQUAL(get_int(r, 30), 4);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 0), 0);
        CU_ASSERT_EQUAL(get_int(r, 30), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(harness_join_code(p), 0);
        mproc_queue_destroy(q);
        mproc_queue_destroy(r);
    }
    /* A put blocked on a full bounded queue wakes up too. */
    for (k = 0; k < 3; k += 2) {
        mproc_queue_t *q, *r;
        mproc_queue_opts_t o = {0};
        mproc_process_t *p;
        o.maxsize = 1;
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, &o), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&r, NULL), 0);
        p = harness_start("put_until_shutdown",
                          mproc_value_list_of(2, ref_of(q), ref_of(r)));
        CU_ASSERT_EQUAL(get_int(r, 30), 1);
        CU_ASSERT_EQUAL(mproc_queue_shutdown(q, 0), 0);
        CU_ASSERT_EQUAL(get_int(r, 30), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(harness_join_code(p), 0);
        CU_ASSERT_EQUAL(get_int(q, 0), 1);
        CU_ASSERT_EQUAL(get_int(q, 0), -1000 + MPROC_ESHUTDOWN);
        mproc_queue_destroy(q);
        mproc_queue_destroy(r);
    }
}

/* args: go, queue: waits for go, then shuts the queue down. */
static void shut_down_on_go(const mproc_value_t *args)
{
    mproc_queue_t *go = queue_arg(args, 0), *q = queue_arg(args, 1);
    CHILD_ASSERT(get_int(go, 30) == 1);
    CHILD_ASSERT(mproc_queue_shutdown(q, 0) == 0);
}
MPROC_TARGET(shut_down_on_go)

static void test_blocked_get_woken_by_another_process(void)
{
    size_t k;
    for (k = 0; k < 3; k++) {
        mproc_queue_t *q, *go;
        mproc_process_t *p;
        CU_ASSERT_EQUAL_FATAL(every_kind[k](&q, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&go, NULL), 0);
        p = harness_start("shut_down_on_go",
                          mproc_value_list_of(2, ref_of(go), ref_of(q)));
        CU_ASSERT_EQUAL(put_int(go, 1, 0), 0);
        /* 30 s only so that a regression fails instead of hanging. */
        CU_ASSERT_EQUAL(get_int(q, 30), -1000 + MPROC_ESHUTDOWN);
        CU_ASSERT_EQUAL(harness_join_code(p), 0);
        CU_ASSERT_EQUAL(put_int(q, 1, 0), MPROC_ESHUTDOWN);
        mproc_queue_destroy(q);
        mproc_queue_destroy(go);
    }
}

static const harness_test tests[] = {
    {"order and nowait", test_order_and_nowait, 0},
    {"too big puts nothing", test_too_big_puts_nothing, 0},
    {"too deep puts nothing", test_too_deep_puts_nothing, 0},
    {"corrupt item is reported and skipped",
     test_corrupt_item_is_reported_and_skipped, 0},
    {"corrupt bytes are reported and skipped",
     test_corrupt_bytes_are_reported_and_skipped, 0},
    {"corrupt big bytes are reported and skipped",
     test_corrupt_big_bytes_are_reported_and_skipped, 0},
    {"empty record is corrupt", test_empty_record_is_corrupt, 0},
    {"count left by dead consumer is repaired",
     test_count_left_by_dead_consumer_is_repaired, 0},
    {"compression round trips", test_compression_round_trips, 0},
    {"codec options are checked", test_codec_options_are_checked, 0},
    {"producer that exits loses nothing",
     test_producer_that_exits_loses_nothing, 0},
    {"spilling never blocks and keeps order",
     test_spilling_never_blocks_and_keeps_order, 0},
    {"spill run gives the ring back", test_spill_run_gives_the_ring_back, 0},
    {"big messages", test_big_messages, 0},
    {"many producers, many consumers", test_many_producers_many_consumers, 0},
    {"joinable queue", test_joinable_queue, 0},
    {"simple queue", test_simple_queue, 0},
    {"records through a queue", test_records_through_a_queue, 0},
    {"objects sent through a queue", test_objects_sent_through_a_queue, 0},
    {"bad reference", test_bad_reference, 0},
    {"queue reference opens once", test_queue_reference_opens_once, 0},
    {"closed queue says closed", test_closed_queue_says_closed, 0},
    {"close then destroy lets go once", test_close_then_destroy_lets_go_once,
     0},
    {"close leaves other processes alone",
     test_close_leaves_other_processes_alone, 0},
    {"close lets go at once", test_close_lets_go_at_once, 0},
    {"child opens after parent closed", test_child_opens_after_parent_closed,
     0},
    {"shutdown drains then fails", test_shutdown_drains_then_fails, 0},
    {"shutdown immediate drops the rest",
     test_shutdown_immediate_drops_the_rest, 0},
    {"shutdown wakes other processes", test_shutdown_wakes_other_processes, 0},
    {"blocked get woken by another process",
     test_blocked_get_woken_by_another_process, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "queue", tests);
}
