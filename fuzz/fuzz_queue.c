/*
 * Queue records: the input is the record a get finds in the shared ring
 * (what any process that maps the queue could have written there). A
 * placeholder item at least as long is put, its record is overwritten
 * with the input and its length, and a second handle, opened as another
 * process opens the queue, gets it: a value or MPROC_ECORRUPT (or nothing,
 * if the input hid the item), nothing else, and the queue works on
 * afterwards (the placeholder's record may be longer than the input's, so
 * what follows may be corrupt too). An input that starts with the marker
 * length (0xffffffff) is written as it is, length fields and all, so that
 * the marker that closes a run of spilled records and what follows it are
 * read too.
 */
#include <string.h>

#include "fuzz.h"

MPROC_FUZZ_INIT()

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    mproc_queue_opts_t o = {0};
    mproc_queue_t *q, *other;
    mproc_value_t *ref, *item, *v = NULL;
    unsigned char *ring;
    size_t cap;
    uint64_t head;
    int rc;
    if (size > 60000)
        return 0;
    o.capacity = 1 << 16;
    o.codec.no_compress = 1;
    FUZZ_ASSERT(mproc_queue_create(&q, &o) == 0);
    ref = mproc_value_queue(q);
    FUZZ_ASSERT(ref != NULL);
    FUZZ_ASSERT(mproc_queue_import(&other, ref) == 0);
    mproc_value_free(ref);
    /* A bytes item's frame is longer than its content. */
    item = mproc_value_bytes(data, size);
    FUZZ_ASSERT(item != NULL && mproc_queue_put(q, item, 0) == 0);
    mproc__queue_debug_ring(other, &ring, &cap, &head);
    FUZZ_ASSERT(head == 0 && cap >= 4 + size);
    if (size >= 4 && mproc__get_u32(data) == 0xffffffffu) {
        memcpy(ring, data, size);
    } else {
        mproc__put_u32(ring, (uint32_t) size);
        if (size > 0)
            memcpy(ring + 4, data, size);
    }
    rc = mproc_queue_get(other, &v, 0);
    /* MPROC_EEMPTY: the input was only markers, which hid the item. */
    FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT || rc == MPROC_ETOOBIG ||
                rc == MPROC_EEMPTY);
    FUZZ_ASSERT(rc == 0 || v == NULL);
    mproc_value_free(v);
    /* Whatever the record held, the queue goes on working. */
    FUZZ_ASSERT(mproc_queue_put(q, item, 0) == 0);
    rc = mproc_queue_get(other, &v, 0);
    FUZZ_ASSERT(rc == 0 || rc == MPROC_ECORRUPT);
    mproc_value_free(v);
    mproc_value_free(item);
    mproc_queue_destroy(other);
    mproc_queue_destroy(q);
    return 0;
}
