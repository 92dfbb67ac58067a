/*
 * Queues in shared memory: Queue, SimpleQueue and JoinableQueue.
 *
 * A queue is one named segment: a header, the OS objects' slots, and a
 * ring of records ([u32 frame length][frame], padded to 8 bytes). Producers
 * append under the write lock, consumers take under the read lock; the two
 * sides meet only through the ring's positions, each on its own cache line
 * and each written by one side. A record that does not fit in the ring goes
 * to the spill file instead, and the records spilled one after another
 * form a run. The next record that finds room in the ring closes the run:
 * a marker record goes first, which says how many records the spill file
 * must have given before the ring is read past it. So the order holds
 * while the ring is taken back as soon as the consumers free room, instead
 * of every put spilling until the file is drained.
 *
 * A put places its record in the ring itself: the length, the frame's
 * header and (for a bytes value) the msgpack header, then the body, with
 * the checksum computed before the write lock is taken. A get of a bytes
 * value copies the bytes from the ring straight into the value it returns
 * and checks the checksum once the read lock is given back; other values
 * are decoded from one copy of the record.
 *
 * Waiting is an event count: a consumer that finds nothing spins briefly
 * (one at a time), then announces itself (waiters), checks again and
 * sleeps on the wakeup semaphore; a producer posts it only if someone
 * announced and no consumer spins. So a busy
 * queue makes no system calls, and no wakeup is lost: both sides use full
 * barriers between their write and their read of the other side's field.
 *
 * Every put has copied its message into shared memory (ring or spill file)
 * when it returns: nothing is buffered in the process, so a process may
 * exit at once without losing items or waiting for a feeder thread.
 *
 * Shutdown (Python 3.13's) is a state in the header, so it holds in every
 * process: SHUT_PUTS refuses new puts, SHUT_DRAIN follows once every put
 * that got past the check has published its item (the write lock is the
 * barrier between the two), so a get that finds nothing then knows nothing
 * more can come; SHUT_NOW refuses gets too. Sleepers see the state before
 * they sleep or are woken by posts the shutdown makes for each announced
 * one, and a woken sleeper never sleeps again, so none is missed.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "crc32.h"
#include "shared_object.h"
#include "tlock.h"

#define SLOT MPROC__OS_SYNC_SLOT
#define LINE 64

#define DEFAULT_CAPACITY (8u << 20)
/* How long a consumer spins for an item before it sleeps. */
#define SPIN_SECONDS 50e-6
/* At most this many pauses between two looks of a spinning get. */
#ifndef SPIN_PAUSES
    #define SPIN_PAUSES 32
#endif
/*
 * How long a put waits for room in a full ring before it spills. Spilling
 * is the slow path (file I/O), and a consumer that keeps up frees room in
 * microseconds; the bound keeps a put from ever waiting on a slow one.
 */
#define ROOM_WAIT_SECONDS 2e-3
/* The spill file is shrunk when drained only if it grew past this. */
#define SPILL_KEEP (64u << 20)
/*
 * How often a put waiting for room in a bounded queue looks whether
 * another thread closed its handle. Only a close needs this: a shutdown
 * wakes the waiting puts itself, but waking a put of one handle would mean
 * posting a place that is not free.
 */
#define ROOM_SLICE_SECONDS 0.1
/* How long a close waits for this handle's get before it wakes it again. */
#define CLOSE_RETRY_SECONDS 0.01

/*
 * The marker that closes a run of spilled records: [u32 MARK][u32 0][u64
 * spill_puts when it was written]. A frame of MARK bytes never goes to the
 * ring.
 */
#define MARK 0xffffffffu
#define MARK_SIZE 16
/*
 * A bytes body this long is checksummed as it is copied, in one pass
 * (mproc__crc32_copy: where the CPU folds 256-bit registers the copy costs
 * only its stores), by the put inside the write lock and by the get inside
 * the read lock. That takes a third off each side's time at 1 MiB, and
 * keeps a lock held for the checksum instead of the copy, which is about
 * as long. Shorter bodies are checksummed outside the locks, where several
 * producers or consumers compute them side by side.
 */
#define FUSED_MIN (4u << 10)
/* A record's prefix: length, frame header, msgpack bin 32 header. */
#define REC_HEAD_MAX (4 + MPROC__FRAME_HEADER_SIZE + 5)

/* The shutdown states, in the order they are reached. */
enum { SHUT_NO = 0, SHUT_PUTS, SHUT_DRAIN, SHUT_NOW };

enum { FLAG_SIMPLE = 1, FLAG_JOINABLE = 2 };
enum {
    SLOT_WLOCK,   /* producers */
    SLOT_RLOCK,   /* consumers */
    SLOT_WAKEUP,  /* posted for announced sleepers */
    SLOT_ROOM,    /* maxsize: free places (bounded queues) */
    SLOT_JLOCK,   /* joinable: guards unfinished */
    SLOT_ALLDONE, /* joinable: set while unfinished is 0 */
    NSLOTS
};

/*
 * The shared header, in cache lines (the segment starts on a page): the
 * settings, which change rarely and which every put and get reads; the
 * consumers' announcements of sleep and spinning, which they write as
 * they wait; the producers' positions; the consumers' positions. A line
 * that one side writes is never one the other side only reads, so a
 * waiting consumer does not take from a producer the line of the
 * settings it reads on every put.
 */
typedef struct queue_header {
    mproc__shobj_header_t base; /* 12 bytes */
    uint32_t flags;
    int32_t compress_level;
    volatile uint32_t shutdown; /* SHUT_* */
    uint64_t capacity;          /* ring bytes, a multiple of 8 */
    uint64_t max_message;
    uint64_t compress_threshold; /* 0: never */
    uint64_t maxsize;
    char pad0[LINE - 56];
    /* Consumers' waiting (and the joinable count, written by both). */
    volatile uint32_t waiters;  /* consumers announced to sleep */
    volatile uint32_t spinners; /* consumers spinning for an item (0, 1) */
    volatile uint32_t woken;    /* a wakeup posted that no sleeper took yet */
    uint32_t unfinished;        /* joinable, under the jlock */
    char pad1[LINE - 16];
    /* Producers' line. */
    volatile uint64_t tail;         /* ring position after the last record */
    volatile uint64_t puts;         /* items ever put */
    uint64_t spill_write;           /* spill offset to append at */
    volatile uint64_t spill_puts;   /* records ever spilled */
    uint32_t spill_open;            /* records spilled since the last marker */
    volatile uint32_t room_waiters; /* puts waiting for room */
    char pad2[LINE - 40];
    /* Consumers' line. */
    volatile uint64_t head;       /* ring position of the oldest record */
    volatile uint64_t gets;       /* items ever taken */
    uint64_t spill_read;          /* spill offset to read at */
    volatile uint64_t spill_gets; /* spilled records ever taken */
    uint64_t spill_due; /* the last marker passed: spill_gets it asks for */
    char pad3[LINE - 40];
} queue_header;
/* C99 has no static_assert: a negative array size fails the build. */
typedef char
    queue_header_is_four_lines[sizeof(queue_header) == 4 * LINE ? 1 : -1];

struct mproc_queue_t {
    mproc__shobj_t base;
    queue_header *hdr;   /* the base's header, typed */
    unsigned char *ring; /* after the slots */
    mproc__os_mutex_t *wlock, *rlock, *jlock;
    mproc__os_sem_t *wakeup, *room;
    mproc__os_event_t *alldone;
    mproc__os_spill_t *spill; /* opened on first use, under spill_lock */
    mproc__spin_t spill_lock;
    uint32_t flags; /* the header's, kept for after close */
    /*
     * Set by close. Every put and get checks it again once it holds its
     * handle lock, and close releases the segment only holding both.
     */
    volatile uint32_t closed;
    /*
     * A handle serves several threads, as Python's Queue does: one put and
     * one get at a time run on it, each side under its own lock, and each
     * with its own scratch and its own view of the other side.
     */
    mproc__hlock_t *put_lock, *get_lock;
    /* This handle's cached view of the other side (conservative). */
    uint64_t seen_head;                /* put side */
    uint64_t seen_tail, seen_puts;     /* get side */
    mproc__buf_t payload, frame;       /* put side's scratch, reused */
    mproc__buf_t in_payload, in_frame; /* get side's */
    /*
     * The record a put writes: this prefix (its length, the frame header
     * and a bytes value's msgpack header), then the body, which is the
     * value's own bytes or the put's scratch.
     */
    unsigned char rec_head[REC_HEAD_MAX];
    size_t rec_head_len;
    const unsigned char *rec_body;
    size_t rec_body_len;
    /*
     * Set when the body's checksum is left to its copy (FUSED_MIN): the
     * checksum of the prefix's msgpack header so far. The frame header's
     * checksum is written once the copy has computed it.
     */
    int rec_crc_fused;
    uint32_t rec_crc;
    /* The get side's: a fused copy's checksum of the bytes value taken. */
    int in_crc_fused;
    uint32_t in_crc;
};

/* What a new queue is made with. */
typedef struct queue_args {
    uint32_t flags;
    uint64_t capacity;
    uint64_t maxsize;
    uint64_t max_message;
    mproc__frame_opts_t fo;
} queue_args;

/* ---- creation ------------------------------------------------------------ */

/*
 * Opens the spill file of a fork-only queue. A spill file needs a name to
 * be made, so it gets a random one that is removed at once: the open
 * handle keeps the file, fork children inherit the handle, and nothing
 * named is left to leak (fork-only queues exist only on Unix, where
 * removing an open file's name keeps the file).
 */
static int open_anonymous_spill(mproc_queue_t *q)
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    int rc;
    mproc__shobj_random_name(n);
    memcpy(n + 22, ".sp", 4);
    rc = mproc__os_spill_open(&q->spill, n, 1);
    if (rc == 0)
        mproc__os_spill_unlink(n);
    return rc;
}

static int open_os(mproc_queue_t *q, int create)
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    const mproc__shobj_t *b = &q->base;
    queue_header *h = q->hdr;
    int rc;
    rc = mproc__os_mutex_init(&q->wlock, mproc__shobj_slot(b, SLOT_WLOCK),
                              mproc__shobj_sub_name(b, "w", n),
                              MPROC__OS_MUTEX_PLAIN, create);
    if (rc == 0)
        rc = mproc__os_mutex_init(&q->rlock, mproc__shobj_slot(b, SLOT_RLOCK),
                                  mproc__shobj_sub_name(b, "r", n),
                                  MPROC__OS_MUTEX_PLAIN, create);
    if (rc == 0)
        rc = mproc__os_sem_init(&q->wakeup, mproc__shobj_slot(b, SLOT_WAKEUP),
                                mproc__shobj_sub_name(b, "k", n), 0, 0, create);
    if (rc == 0 && h->maxsize > 0)
        rc = mproc__os_sem_init(&q->room, mproc__shobj_slot(b, SLOT_ROOM),
                                mproc__shobj_sub_name(b, "m", n),
                                (unsigned) h->maxsize, 0, create);
    if (rc == 0 && (h->flags & FLAG_JOINABLE)) {
        rc = mproc__os_mutex_init(&q->jlock, mproc__shobj_slot(b, SLOT_JLOCK),
                                  mproc__shobj_sub_name(b, "j", n),
                                  MPROC__OS_MUTEX_PLAIN, create);
        if (rc == 0)
            rc = mproc__os_event_init(&q->alldone,
                                      mproc__shobj_slot(b, SLOT_ALLDONE),
                                      mproc__shobj_sub_name(b, "d", n), create);
        if (rc == 0 && create)
            rc = mproc__os_event_set(q->alldone);
    }
    return rc;
}

/* @arg: the queue_args of a new queue. */
static int queue_setup(void *obj, int create, const void *arg)
{
    mproc_queue_t *q = obj;
    queue_header *h = q->hdr = q->base.hdr;
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    int rc;
    q->ring = mproc__shobj_extra(&q->base);
    if (!create)
        q->flags = h->flags;
    rc = mproc__hlock_create(&q->put_lock);
    if (rc == 0)
        rc = mproc__hlock_create(&q->get_lock);
    if (rc != 0)
        return rc;
    if (create) {
        const queue_args *a = arg;
        h->flags = q->flags = a->flags;
        h->capacity = a->capacity;
        h->max_message = a->max_message;
        h->compress_threshold = a->fo.compress_threshold;
        h->compress_level = a->fo.compress_level;
        h->maxsize = a->maxsize;
    }
    /* The spill file is the queue's too: tracked, and removed with it. */
    rc = mproc__shobj_track_sub(&q->base, "sp", mproc__os_spill_unlink);
    if (rc == 0)
        rc = open_os(q, create);
    /*
     * The spill file exists from the start: importers only open it, and at
     * once rather than on first use, since on Windows it lasts only while
     * some user holds it.
     */
    if (rc == 0 && (create || q->base.name[0] != '\0'))
        rc = q->base.name[0] == '\0'
                 ? open_anonymous_spill(q)
                 : mproc__os_spill_open(
                       &q->spill, mproc__shobj_sub_name(&q->base, "sp", n),
                       create);
    return rc;
}

/* Closes the OS objects, the spill file and the scratch (close's part). */
static void close_os(mproc_queue_t *q)
{
    if (q->wlock != NULL)
        mproc__os_mutex_close(q->wlock);
    if (q->rlock != NULL)
        mproc__os_mutex_close(q->rlock);
    if (q->jlock != NULL)
        mproc__os_mutex_close(q->jlock);
    if (q->wakeup != NULL)
        mproc__os_sem_close(q->wakeup);
    if (q->room != NULL)
        mproc__os_sem_close(q->room);
    if (q->alldone != NULL)
        mproc__os_event_close(q->alldone);
    mproc__os_spill_close(q->spill);
    q->wlock = q->rlock = q->jlock = NULL;
    q->wakeup = q->room = NULL;
    q->alldone = NULL;
    q->spill = NULL;
    mproc__buf_free(&q->payload);
    mproc__buf_free(&q->frame);
    mproc__buf_free(&q->in_payload);
    mproc__buf_free(&q->in_frame);
}

static void queue_teardown(void *obj)
{
    mproc_queue_t *q = obj;
    close_os(q);
    mproc__hlock_destroy(q->put_lock);
    mproc__hlock_destroy(q->get_lock);
}

/* A closed handle has no reference: its segment is let go of. */
static int queue_check_ref(const void *obj)
{
    const mproc_queue_t *q = obj;
    if (q->closed)
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    return 0;
}

/* The ring's size, which follows the slots. */
static uint64_t queue_extra(const void *hdr)
{
    return ((const queue_header *) hdr)->capacity;
}

static const mproc__shobj_class_t queue_class = {
    .kind = MPROC_REF_QUEUE,
    .obj_size = sizeof(mproc_queue_t),
    .header_size = sizeof(queue_header),
    .slots = NSLOTS,
    .extra_of = queue_extra,
    .setup = queue_setup,
    .teardown = queue_teardown,
    .check_ref = queue_check_ref};

static int create(mproc_queue_t **out, const mproc_queue_opts_t *opts,
                  uint32_t flags)
{
    mproc_queue_opts_t o = {0};
    queue_args a;
    int rc;

    if (opts != NULL)
        o = *opts;
    if (flags & FLAG_SIMPLE)
        o.maxsize = 0;
    if (o.maxsize > 0x7fffffffu)
        return mproc__set_error(MPROC_ERANGE, "maxsize too large");
    rc = mproc__codec_opts_apply(&o.codec, &o.codec);
    if (rc != 0)
        return rc;
    a.flags = flags;
    a.fo = mproc__codec_frame_opts(&o.codec);
    a.capacity = o.capacity ? o.capacity : DEFAULT_CAPACITY;
    a.capacity = (a.capacity + 7) / 8 * 8;
    a.maxsize = o.maxsize;
    a.max_message = o.codec.max_message;
    if (a.capacity < 64)
        return mproc__set_error(MPROC_EINVAL, "queue capacity too small");
    return mproc__shobj_create((void **) out, &queue_class, (size_t) a.capacity,
                               o.fork_only, &a);
}

int mproc_queue_create(mproc_queue_t **q, const mproc_queue_opts_t *opts)
{
    return create(q, opts, 0);
}

int mproc_simple_queue_create(mproc_queue_t **q, const mproc_queue_opts_t *opts)
{
    return create(q, opts, FLAG_SIMPLE);
}

int mproc_joinable_queue_create(mproc_queue_t **q,
                                const mproc_queue_opts_t *opts)
{
    return create(q, opts, FLAG_JOINABLE);
}

MPROC__SHOBJ_REFERENCES(queue, queue_class)

void mproc_queue_destroy(mproc_queue_t *q)
{
    mproc__shobj_destroy(q);
}

/* ---- the ring and the spill file ------------------------------------ */

static int lock(mproc__os_mutex_t *m);

static int ensure_spill(mproc_queue_t *q)
{
    char n[MPROC__SHOBJ_SUB_NAME_LEN];
    int rc = 0;
    /* A put and a get of two threads may both be first. */
    mproc__spin_lock(&q->spill_lock);
    if (q->spill == NULL)
        rc = mproc__os_spill_open(&q->spill,
                                  mproc__shobj_sub_name(&q->base, "sp", n), 0);
    mproc__spin_unlock(&q->spill_lock);
    return rc;
}

static void ring_write(mproc_queue_t *q, uint64_t pos, const void *src,
                       size_t n)
{
    uint64_t cap = q->hdr->capacity;
    size_t at = (size_t) (pos % cap), first = n;
    if (at + n > cap)
        first = (size_t) (cap - at);
    memcpy(q->ring + at, src, first);
    if (first < n)
        memcpy(q->ring, (const unsigned char *) src + first, n - first);
}

static void ring_read(mproc_queue_t *q, uint64_t pos, void *dst, size_t n)
{
    uint64_t cap = q->hdr->capacity;
    size_t at = (size_t) (pos % cap), first = n;
    if (at + n > cap)
        first = (size_t) (cap - at);
    memcpy(dst, q->ring + at, first);
    if (first < n)
        memcpy((unsigned char *) dst + first, q->ring, n - first);
}

/* Copies @n bytes and adds them to *@crc (FUSED_MIN). */
static void copy_crc(unsigned char *dst, const unsigned char *src, size_t n,
                     uint32_t *crc)
{
    *crc = mproc__crc32_copy(*crc, dst, src, n);
}

static void ring_write_crc(mproc_queue_t *q, uint64_t pos, const void *src,
                           size_t n, uint32_t *crc)
{
    uint64_t cap = q->hdr->capacity;
    size_t at = (size_t) (pos % cap), first = n;
    if (at + n > cap)
        first = (size_t) (cap - at);
    copy_crc(q->ring + at, src, first, crc);
    if (first < n)
        copy_crc(q->ring, (const unsigned char *) src + first, n - first, crc);
}

static void ring_read_crc(mproc_queue_t *q, uint64_t pos, void *dst, size_t n,
                          uint32_t *crc)
{
    uint64_t cap = q->hdr->capacity;
    size_t at = (size_t) (pos % cap), first = n;
    if (at + n > cap)
        first = (size_t) (cap - at);
    copy_crc(dst, q->ring + at, first, crc);
    if (first < n)
        copy_crc((unsigned char *) dst + first, q->ring, n - first, crc);
}

/* The checksum of a fused record, once known, into its frame header. */
static void put_fused_crc(mproc_queue_t *q, uint32_t crc)
{
    mproc__put_u32(q->rec_head + 4 + 12, crc);
    q->rec_crc_fused = 0;
}

static uint64_t record_size(size_t frame_len)
{
    return (4 + (uint64_t) frame_len + 7) / 8 * 8;
}

/*
 * Waits a little for the consumers to free the ring up to @end. Spinning
 * and yielding: a consumer that keeps up frees room within microseconds,
 * and after ROOM_WAIT_SECONDS the put spills instead of waiting longer.
 */
static void wait_for_room(mproc_queue_t *q, uint64_t end)
{
    queue_header *h = q->hdr;
    double give_up = mproc_monotonic() + ROOM_WAIT_SECONDS;
    unsigned i;
    for (i = 1; end - q->seen_head > h->capacity; i++) {
        if (i % 64 == 0) {
            if (mproc_monotonic() >= give_up)
                return;
            mproc__os_yield();
        }
        q->seen_head = mproc__atomic_load64(&h->head);
    }
}

/* Appends the record q->rec_head + q->rec_body; the caller holds the write
 * lock. */
static int append(mproc_queue_t *q)
{
    queue_header *h = q->hdr;
    size_t flen = q->rec_head_len - 4 + q->rec_body_len;
    uint64_t rec = record_size(flen);
    uint64_t tail = h->tail; /* ours: only producers write it */
    /* A run of spilled records open: the ring's next record closes it. */
    uint64_t need = rec + (h->spill_open ? MARK_SIZE : 0);
    int rc;

    if (flen < MARK && need <= h->capacity) {
        if (tail + need - q->seen_head > h->capacity)
            q->seen_head = mproc__atomic_load64(&h->head);
        /*
         * With a run open the consumers are behind already: the put spills
         * at once rather than wait, and the ring is taken back as soon as
         * they have freed room.
         */
        if (tail + need - q->seen_head > h->capacity && !h->spill_open)
            wait_for_room(q, tail + need);
        if (tail + need - q->seen_head <= h->capacity) {
            if (h->spill_open) {
                unsigned char m[MARK_SIZE];
                mproc__put_u32(m, MARK);
                mproc__put_u32(m + 4, 0);
                mproc__put_i64(m + 8, (int64_t) h->spill_puts);
                ring_write(q, tail, m, MARK_SIZE);
                tail += MARK_SIZE;
                h->spill_open = 0;
            }
            if (q->rec_crc_fused) {
                uint32_t crc = q->rec_crc;
                ring_write_crc(q, tail + q->rec_head_len, q->rec_body,
                               q->rec_body_len, &crc);
                put_fused_crc(q, crc);
            } else {
                ring_write(q, tail + q->rec_head_len, q->rec_body,
                           q->rec_body_len);
            }
            ring_write(q, tail, q->rec_head, q->rec_head_len);
            /*
             * Publish: the record is complete before the position moves. A
             * release store: the full barrier that the wakeup needs comes
             * with the count of puts, which follows.
             */
            mproc__atomic_publish64(&h->tail, tail + rec);
            return 0;
        }
    }
    /* No room in the ring: spill, after what was spilled before. */
    if (q->rec_crc_fused)
        put_fused_crc(
            q, mproc__frame_crc(q->rec_crc, q->rec_body, q->rec_body_len));
    rc = ensure_spill(q);
    if (rc == 0)
        rc = mproc__os_spill_write(q->spill, h->spill_write, q->rec_head,
                                   q->rec_head_len);
    if (rc == 0)
        rc = mproc__os_spill_write(q->spill, h->spill_write + q->rec_head_len,
                                   q->rec_body, q->rec_body_len);
    if (rc != 0)
        return rc;
    h->spill_write += q->rec_head_len + q->rec_body_len;
    h->spill_open = 1;
    mproc__atomic_publish64(&h->spill_puts, h->spill_puts + 1);
    return 0;
}

/* One item taken (the caller holds the read lock). */
static void count_taken(mproc_queue_t *q, int *taken)
{
    mproc__atomic_publish64(&q->hdr->gets, q->hdr->gets + 1);
    *taken = 1;
}

/*
 * Takes the oldest spilled record into q->in_frame; the caller holds the
 * read lock and knows one is there.
 */
static int take_spilled(mproc_queue_t *q, int *taken)
{
    queue_header *h = q->hdr;
    unsigned char len[4];
    size_t n;
    int rc = ensure_spill(q);
    if (rc == 0)
        rc = mproc__os_spill_read(q->spill, h->spill_read, len, 4);
    if (rc != 0)
        return rc;
    n = mproc__get_u32(len);
    if (n > h->max_message + MPROC__FRAME_HEADER_SIZE + 4) {
        /*
         * The file cannot be walked any further: every spilled record is
         * dropped, and the file is rewound below.
         */
        uint64_t left = mproc__atomic_load64(&h->spill_puts) - h->spill_gets;
        mproc__atomic_store64(&h->gets, h->gets + left);
        mproc__atomic_store64(&h->spill_gets, h->spill_gets + left);
        h->spill_due = h->spill_gets;
        *taken = 1;
        rc = mproc__set_error(MPROC_ECORRUPT, "spilled record length is "
                                              "corrupt; the spilled records "
                                              "were dropped");
    } else {
        rc = mproc__buf_reserve(&q->in_frame, n + 1); /* A buffer even for 0. */
        if (rc == 0)
            rc = mproc__os_spill_read(q->spill, h->spill_read + 4,
                                      q->in_frame.data, n);
        if (rc != 0)
            return rc;
        q->in_frame.len = n;
        h->spill_read += 4 + n;
        mproc__atomic_publish64(&h->spill_gets, h->spill_gets + 1);
        count_taken(q, taken);
    }
    if (mproc__atomic_load64(&h->spill_puts) == h->spill_gets) {
        /*
         * Drained: rewind the file. Producers append under the write lock,
         * so take it too (always after the read lock: no producer ever
         * holds the write lock while waiting for the read lock).
         */
        if (lock(q->wlock) == 0) {
            if (mproc__atomic_load64(&h->spill_puts) == h->spill_gets) {
                /* Rewound, and kept unless it grew big: truncating is slow. */
                if (h->spill_write > SPILL_KEEP)
                    mproc__os_spill_truncate(q->spill);
                h->spill_write = h->spill_read = 0;
                /* Nothing spilled is left for a marker to wait for. */
                h->spill_open = 0;
            }
            mproc__os_mutex_unlock(q->wlock);
        }
    }
    return rc;
}

/*
 * The bytes value whose record of frame length @n starts at @head, taken
 * straight from the ring: 1 with *@out and q->in_frame holding the frame
 * header and the msgpack header (for the check that follows); 0 if the
 * record is not one (the caller takes it whole); MPROC_ENOMEM.
 */
static int take_bytes(mproc_queue_t *q, uint64_t head, size_t n,
                      mproc_value_t **out)
{
    unsigned char f[MPROC__FRAME_HEADER_SIZE + 5], *data;
    size_t body, pre, len;
    int rc;
    if (n < MPROC__FRAME_HEADER_SIZE + 2)
        return 0;
    body = n - MPROC__FRAME_HEADER_SIZE;
    ring_read(q, head + 4, f, MPROC__FRAME_HEADER_SIZE + (body < 5 ? body : 5));
    if (f[5] != 0 || mproc__get_u32(f + 8) != body)
        return 0; /* deflated, or not as stated: the slow path says why */
    switch (f[MPROC__FRAME_HEADER_SIZE]) {
    case 0xc4:
        pre = 2;
        len = f[MPROC__FRAME_HEADER_SIZE + 1];
        break;
    case 0xc5:
        pre = 3;
        len = (size_t) f[MPROC__FRAME_HEADER_SIZE + 1] << 8 |
              f[MPROC__FRAME_HEADER_SIZE + 2];
        break;
    case 0xc6:
        pre = 5;
        len = (size_t) f[MPROC__FRAME_HEADER_SIZE + 1] << 24 |
              (size_t) f[MPROC__FRAME_HEADER_SIZE + 2] << 16 |
              (size_t) f[MPROC__FRAME_HEADER_SIZE + 3] << 8 |
              f[MPROC__FRAME_HEADER_SIZE + 4];
        break;
    default:
        return 0;
    }
    if (pre > body || pre + len != body || body > q->hdr->max_message)
        return 0;
    rc = mproc__buf_reserve(&q->in_frame, MPROC__FRAME_HEADER_SIZE + pre);
    if (rc != 0)
        return rc;
    *out = mproc__value_bytes_alloc(len, &data);
    if (*out == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    memcpy(q->in_frame.data, f, MPROC__FRAME_HEADER_SIZE + pre);
    q->in_frame.len = MPROC__FRAME_HEADER_SIZE + pre;
    if (len >= FUSED_MIN) {
        q->in_crc = mproc__frame_crc(0, f + MPROC__FRAME_HEADER_SIZE, pre);
        ring_read_crc(q, head + 4 + MPROC__FRAME_HEADER_SIZE + pre, data, len,
                      &q->in_crc);
        q->in_crc_fused = 1;
    } else {
        ring_read(q, head + 4 + MPROC__FRAME_HEADER_SIZE + pre, data, len);
    }
    return 1;
}

/* take(): there was no item after all (the counts were put right). */
#define TAKE_NONE 1

/*
 * Takes the oldest item: a bytes value straight from the ring into *@fast
 * (q->in_frame then holds its headers), any other record into q->in_frame.
 * The caller holds the read lock and the counts say an item is there;
 * TAKE_NONE if none was. *@taken says whether an item was used up, which a
 * failure may do too (a damaged one is dropped).
 */
static int take(mproc_queue_t *q, mproc_value_t **fast, int *taken)
{
    queue_header *h = q->hdr;
    unsigned char len[4];
    size_t n;
    int rc;

    *fast = NULL;
    *taken = 0;
    q->in_frame.len = 0;
    q->in_crc_fused = 0;
    for (;;) {
        uint64_t head = h->head; /* ours: only consumers write it */
        /* A marker passed asks for spilled records first. */
        if (h->spill_gets < h->spill_due)
            return take_spilled(q, taken);
        /* The producers' position is re-read only when the cached one is
         * spent (or left behind by another consumer). */
        if (q->seen_tail == head || q->seen_tail - head > h->capacity)
            q->seen_tail = mproc__atomic_load64(&h->tail);
        if (q->seen_tail == head) {
            uint64_t puts;
            /*
             * The ring is empty: the item is in the open run of spilled
             * records, older than anything the ring will get after it.
             */
            if (h->spill_gets < mproc__atomic_load64(&h->spill_puts))
                return take_spilled(q, taken);
            /*
             * Nothing is there though the counts said so: a consumer died
             * between taking a record and counting it. The count is put
             * right: a put publishes its record before it counts it, so
             * once the ring and the spill file are seen empty after the
             * count of puts was read, every put in that count was taken.
             */
            puts = mproc__atomic_load64(&h->puts);
            q->seen_tail = mproc__atomic_load64(&h->tail);
            if (q->seen_tail != head)
                continue;
            if (h->spill_gets < mproc__atomic_load64(&h->spill_puts))
                return take_spilled(q, taken);
            if (puts > h->gets)
                mproc__atomic_publish64(&h->gets, puts);
            return TAKE_NONE;
        }
        ring_read(q, head, len, 4);
        n = mproc__get_u32(len);
        if (n == MARK && q->seen_tail - head >= MARK_SIZE) {
            unsigned char m[MARK_SIZE];
            uint64_t due;
            ring_read(q, head, m, MARK_SIZE);
            due = (uint64_t) mproc__get_i64(m + 8);
            /* A marker never asks for more than was spilled. */
            if (due <= mproc__atomic_load64(&h->spill_puts) &&
                due > h->spill_due)
                h->spill_due = due;
            mproc__atomic_store64(&h->head, head + MARK_SIZE);
            continue;
        }
        if (n == MARK || record_size(n) > q->seen_tail - head) {
            /*
             * The length itself is damaged: the ring cannot be walked any
             * further, so everything up to the tail is dropped. What is
             * spilled remains, and is taken once the ring is empty.
             */
            mproc__atomic_store64(&h->head, q->seen_tail);
            mproc__atomic_store64(
                &h->gets,
                mproc__atomic_load64(&h->puts) -
                    (mproc__atomic_load64(&h->spill_puts) - h->spill_gets));
            *taken = 1;
            return mproc__set_error(MPROC_ECORRUPT,
                                    "queue record length is corrupt; the "
                                    "ring was reset");
        }
        rc = take_bytes(q, head, n, fast);
        if (rc < 0)
            return rc;
        if (rc == 0) {
            rc = mproc__buf_reserve(&q->in_frame, n + 1); /* even for 0 */
            if (rc != 0)
                return rc;
            ring_read(q, head + 4, q->in_frame.data, n);
            q->in_frame.len = n;
        }
        mproc__atomic_publish64(&h->head, head + record_size(n));
        count_taken(q, taken);
        return 0;
    }
}

/* ---- put and get ---------------------------------------------------- */

static int lock(mproc__os_mutex_t *m)
{
    int rc = mproc__os_mutex_lock(m, MPROC_FOREVER);
    /*
     * A process that died holding a queue lock had not yet published what
     * it was writing (positions move last): the queue is consistent.
     */
    return rc == MPROC_OWNERDEAD ? 0 : rc;
}

/* The msgpack header of a bin of @len bytes in @p: its size, or 0. */
static size_t bin_header(unsigned char *p, size_t len)
{
    if (len < 0x100) {
        p[0] = 0xc4;
        p[1] = (unsigned char) len;
        return 2;
    }
    if (len < 0x10000) {
        p[0] = 0xc5;
        p[1] = (unsigned char) (len >> 8);
        p[2] = (unsigned char) len;
        return 3;
    }
    if (len <= 0xffffffffu - 5) {
        p[0] = 0xc6;
        p[1] = (unsigned char) (len >> 24);
        p[2] = (unsigned char) (len >> 16);
        p[3] = (unsigned char) (len >> 8);
        p[4] = (unsigned char) len;
        return 5;
    }
    return 0;
}

static int too_big(mproc_queue_t *q, size_t len)
{
    return mproc__set_error(MPROC_ETOOBIG,
                            "message of %zu bytes exceeds the queue's "
                            "maximum of %zu bytes; nothing was put",
                            len, (size_t) q->hdr->max_message);
}

/*
 * Prepares the record of @v in q->rec_head and q->rec_body, outside the
 * write lock. A bytes value that is not to be deflated needs no scratch:
 * its body is the value's own bytes, behind a msgpack header in the prefix.
 */
static int encode(mproc_queue_t *q, const mproc_value_t *v)
{
    unsigned char *fh = q->rec_head + 4, *pre = fh + MPROC__FRAME_HEADER_SIZE;
    mproc__frame_opts_t fo;
    const unsigned char *data = NULL;
    size_t len = 0, pre_len = 0;
    uint32_t crc;
    int rc;
    fo.compress_threshold = (size_t) q->hdr->compress_threshold;
    fo.compress_level = q->hdr->compress_level;
    q->payload.len = 0;
    q->frame.len = 0;
    q->rec_crc_fused = 0;
    if (mproc_value_type(v) == MPROC_VALUE_BYTES) {
        data = mproc_value_as_bytes(v, &len);
        pre_len = bin_header(pre, len);
    }
    if (pre_len > 0 && !mproc__frame_wants_deflate(&fo, data, len)) {
        if (pre_len + len > q->hdr->max_message)
            return too_big(q, pre_len + len);
        crc = mproc__frame_crc(0, pre, pre_len);
        q->rec_crc_fused = len >= FUSED_MIN;
        if (q->rec_crc_fused)
            q->rec_crc = crc; /* the body's part comes with its copy */
        else
            crc = mproc__frame_crc(crc, data, len);
        mproc__frame_put_header(fh, 0, pre_len + len, crc);
        q->rec_head_len = 4 + MPROC__FRAME_HEADER_SIZE + pre_len;
        q->rec_body = data;
        q->rec_body_len = len;
    } else {
        /* A connection in @v is offered to the process that gets it. */
        rc = mproc__value_encode_shared(v, &q->payload);
        if (rc != 0)
            return rc;
        if (q->payload.len > q->hdr->max_message)
            return too_big(q, q->payload.len);
        if (mproc__frame_wants_deflate(&fo, q->payload.data, q->payload.len)) {
            rc = mproc__frame_encode(q->payload.data, q->payload.len, &fo,
                                     &q->frame);
            if (rc != 0)
                return rc;
            memcpy(fh, q->frame.data, MPROC__FRAME_HEADER_SIZE);
            q->rec_body = q->frame.data + MPROC__FRAME_HEADER_SIZE;
            q->rec_body_len = q->frame.len - MPROC__FRAME_HEADER_SIZE;
        } else {
            if (q->payload.len > 0xffffffffu - MPROC__FRAME_HEADER_SIZE - 4)
                return mproc__set_error(MPROC_ETOOBIG,
                                        "message of %zu bytes exceeds 4 GiB",
                                        q->payload.len);
            crc = mproc__frame_crc(0, q->payload.data, q->payload.len);
            mproc__frame_put_header(fh, 0, q->payload.len, crc);
            q->rec_body = q->payload.data;
            q->rec_body_len = q->payload.len;
        }
        q->rec_head_len = 4 + MPROC__FRAME_HEADER_SIZE;
    }
    mproc__put_u32(q->rec_head,
                   (uint32_t) (q->rec_head_len - 4 + q->rec_body_len));
    return 0;
}

static int put_locked(mproc_queue_t *q, const mproc_value_t *v, double timeout);

int mproc_queue_put(mproc_queue_t *q, const mproc_value_t *v, double timeout)
{
    double end = timeout > 0 ? mproc_monotonic() + timeout : 0;
    int rc;
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    rc = mproc__hlock_lock(q->put_lock, timeout);
    if (rc == MPROC_ETIMEDOUT)
        return mproc__set_error(MPROC_EFULL, "the queue is full");
    if (rc != 0)
        return mproc__set_error(rc, "out of memory");
    /*
     * Closed by another thread while this one waited for the lock: the
     * segment may be gone, so the shutdown state is read only after this.
     */
    if (mproc__atomic_load32(&q->closed)) {
        mproc__hlock_unlock(q->put_lock);
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    }
    if (mproc__atomic_load32(&q->hdr->shutdown) != SHUT_NO) {
        mproc__hlock_unlock(q->put_lock);
        return mproc__set_error(MPROC_ESHUTDOWN, "the queue is shut down");
    }
    if (timeout > 0 && (timeout = end - mproc_monotonic()) < 0)
        timeout = 0;
    rc = put_locked(q, v, timeout);
    mproc__hlock_unlock(q->put_lock);
    return rc;
}

/*
 * Waits for a free place in a bounded queue: 0 (one is taken);
 * MPROC_EFULL; MPROC_ESHUTDOWN; MPROC_ECLOSED. The wait is announced in
 * room_waiters (a full barrier before the state is read), so a shutdown
 * either is seen here or posts for this put.
 */
static int wait_room(mproc_queue_t *q, double timeout)
{
    queue_header *h = q->hdr;
    double end = timeout > 0 ? mproc_monotonic() + timeout : 0;
    int rc;
    mproc__atomic_inc32(&h->room_waiters);
    for (;;) {
        double slice = ROOM_SLICE_SECONDS;
        if (mproc__atomic_load32(&h->shutdown) != SHUT_NO) {
            rc = mproc__set_error(MPROC_ESHUTDOWN, "the queue is shut down");
            break;
        }
        if (mproc__atomic_load32(&q->closed)) {
            rc = mproc__set_error(MPROC_ECLOSED, "the queue is closed");
            break;
        }
        if (timeout == 0) {
            slice = 0;
        } else if (timeout > 0) {
            double left = end - mproc_monotonic();
            if (left < slice)
                slice = left > 0 ? left : 0;
        }
        rc = mproc__os_sem_wait(q->room, slice);
        if (rc != MPROC_ETIMEDOUT)
            break;
        if (timeout >= 0 && (timeout == 0 || mproc_monotonic() >= end)) {
            rc = mproc__set_error(MPROC_EFULL, "the queue is full");
            break;
        }
    }
    mproc__atomic_dec32(&h->room_waiters);
    return rc;
}

/* A put, under the handle's put lock. */
static int put_locked(mproc_queue_t *q, const mproc_value_t *v, double timeout)
{
    queue_header *h = q->hdr;
    int rc = encode(q, v);
    if (rc != 0)
        return rc;
    if (q->room != NULL) {
        rc = wait_room(q, timeout);
        if (rc != 0)
            return rc;
    }
    if (q->jlock != NULL) {
        rc = lock(q->jlock);
        if (rc != 0)
            return rc;
        if (h->unfinished++ == 0)
            mproc__os_event_clear(q->alldone);
        mproc__os_mutex_unlock(q->jlock);
    }
    rc = lock(q->wlock);
    /* Under the write lock: a shutdown waits for it before SHUT_DRAIN. */
    if (rc == 0 && mproc__atomic_load32(&h->shutdown) != SHUT_NO) {
        mproc__os_mutex_unlock(q->wlock);
        rc = mproc__set_error(MPROC_ESHUTDOWN, "the queue is shut down");
    } else if (rc == 0) {
        rc = append(q);
        if (rc == 0)
            mproc__atomic_store64(&h->puts, h->puts + 1);
        mproc__os_mutex_unlock(q->wlock);
    }
    if (rc != 0) {
        /* Nothing was put: give back what was taken for it. */
        if (q->room != NULL)
            mproc__os_sem_post(q->room);
        if (q->jlock != NULL && lock(q->jlock) == 0) {
            if (--h->unfinished == 0)
                mproc__os_event_set(q->alldone);
            mproc__os_mutex_unlock(q->jlock);
        }
        return rc;
    }
    /*
     * The set above is a full barrier: waiters and spinners are read after
     * it. A get that spins takes the item without a post.
     */
    if (mproc__atomic_load32(&h->waiters) != 0 &&
        mproc__atomic_load32(&h->spinners) == 0 &&
        mproc__atomic_cas32(&h->woken, 0, 1) == 0)
        mproc__os_sem_post(q->wakeup);
    return 0;
}

/* Whether an item may be there: this handle's view, refreshed if needed. */
static int maybe_item(mproc_queue_t *q)
{
    uint64_t gets = mproc__atomic_load64(&q->hdr->gets);
    if (q->seen_puts > gets)
        return 1;
    q->seen_puts = mproc__atomic_load64(&q->hdr->puts);
    return q->seen_puts > gets;
}

/*
 * Whether a get may go on: 1 if an item may be there; 0 if it must wait;
 * MPROC_ESHUTDOWN or MPROC_ECLOSED if it must stop. The state is read
 * before the positions: once SHUT_DRAIN is seen, every item there will
 * ever be is visible.
 */
static int ready(mproc_queue_t *q)
{
    uint32_t st = mproc__atomic_load32(&q->hdr->shutdown);
    if (st == SHUT_NOW)
        return MPROC_ESHUTDOWN;
    if (maybe_item(q))
        return 1;
    if (st == SHUT_DRAIN)
        return MPROC_ESHUTDOWN;
    if (mproc__atomic_load32(&q->closed))
        return MPROC_ECLOSED;
    return 0;
}

/*
 * Spins until an item may be there or @spin_end: ready()'s answer, or 0
 * once the time is over. Each look reads the producers' cache line, and
 * each read makes the next put wait for that line to come back, so the
 * looks grow further apart (pauses, which touch no memory): a producer
 * then puts several items per look, which the get takes without looking.
 */
static int spin(mproc_queue_t *q, double spin_end)
{
    unsigned pauses = 1, k;
    int i, r;
    for (i = 0;; i++) {
        if ((r = ready(q)) != 0)
            return r;
        if ((i & 63) == 63 && mproc_monotonic() >= spin_end)
            return 0;
        for (k = 0; k < pauses; k++)
            mproc__os_pause();
        if (pauses < SPIN_PAUSES)
            pauses *= 2;
    }
}

/*
 * Posts the wakeup for a sleeping get if items are left that no spinning
 * get will take: what a get does after it took an item, and a spinner that
 * leaves without one. Puts made while a get spun posted nothing, and that
 * get takes one item at most, so whoever may have taken the last item a
 * put announced hands the rest on. Read in this order, the waiters count
 * (a line the producers do not write) spares a busy queue the rest.
 */
static void wake_next(mproc_queue_t *q)
{
    queue_header *h = q->hdr;
    if (mproc__atomic_load32(&h->waiters) != 0 &&
        mproc__atomic_load32(&h->spinners) == 0 &&
        mproc__atomic_load64(&h->puts) > mproc__atomic_load64(&h->gets) &&
        mproc__atomic_cas32(&h->woken, 0, 1) == 0)
        mproc__os_sem_post(q->wakeup);
}

/*
 * Waits until an item may be there: 0; MPROC_ETIMEDOUT; MPROC_ESHUTDOWN;
 * MPROC_ECLOSED (another thread closed the handle and woke this one).
 *
 * One get spins at a time (spinners), briefly: a busy producer is faster
 * than a sleep. The others sleep at once, so that gets waiting in several
 * processes do not take the processors from the producers, and a put
 * posts the wakeup only while no get spins. A spinner gives up its place
 * before it announces itself as a sleeper, and both are full barriers
 * before it looks again, so a put either sees one of them or its item is
 * seen; items put while it spun are handed on by wake_next().
 *
 * One wakeup is in flight at a time (woken): a put or a hand-on posts only
 * if none is, and the sleeper it wakes clears it before it looks, so puts
 * after that look post again. Many puts to a queue whose gets sleep then
 * wake one get, which hands on to the next while items are left, instead
 * of making a system call each.
 */
static int wait_item(mproc_queue_t *q, double timeout)
{
    queue_header *h = q->hdr;
    double end;
    int r;
    if ((r = ready(q)) != 0)
        return r > 0 ? 0 : r; /* a busy queue's common case: no clock read */
    if (timeout == 0)
        return MPROC_ETIMEDOUT;
    end = timeout > 0 ? mproc_monotonic() + timeout : 0;
    for (;;) {
        if (mproc__atomic_cas32(&h->spinners, 0, 1) == 0) {
            r = spin(q, mproc_monotonic() + SPIN_SECONDS);
            mproc__atomic_dec32(&h->spinners);
            if (r < 0)
                wake_next(q);
            if (r != 0)
                return r > 0 ? 0 : r;
        }
        mproc__atomic_inc32(&h->waiters);
        /* Announced (a full barrier): a put or a shutdown from now on
         * posts. */
        if ((r = ready(q)) != 0) {
            mproc__atomic_dec32(&h->waiters);
            return r > 0 ? 0 : r;
        }
        if (timeout < 0) {
            mproc__os_sem_wait(q->wakeup, MPROC_FOREVER);
        } else {
            double left = end - mproc_monotonic();
            if (left <= 0 ||
                mproc__os_sem_wait(q->wakeup, left) == MPROC_ETIMEDOUT) {
                mproc__atomic_dec32(&h->waiters);
                r = ready(q);
                return r > 0 ? 0 : r < 0 ? r : MPROC_ETIMEDOUT;
            }
        }
        /* Woken: the next put or hand-on may post again (before the look
         * that follows, so that nothing put after it goes unannounced). */
        mproc__atomic_store32(&h->woken, 0);
        mproc__atomic_dec32(&h->waiters);
    }
}

static int get_locked(mproc_queue_t *q, mproc_value_t **v, double timeout,
                      double end);

/*
 * A record whose frame claims more than the queue's maximum was never put
 * so (put checks the size): it is damaged, and says so as every damaged
 * item does.
 */
static int corrupt_size(void)
{
    return mproc__set_error(MPROC_ECORRUPT,
                            "queue record is corrupt: its frame claims more "
                            "than the queue's maximum message");
}

int mproc_queue_get(mproc_queue_t *q, mproc_value_t **v, double timeout)
{
    /* No clock for a get that does not wait (the clock costs as much as
     * the rest of a get of a small item on some machines). */
    double end = timeout > 0 ? mproc_monotonic() + timeout : 0;
    int rc;
    *v = NULL;
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    rc = mproc__hlock_lock(q->get_lock, timeout);
    if (rc == MPROC_ETIMEDOUT)
        return mproc__set_error(MPROC_EEMPTY, "the queue is empty");
    if (rc != 0)
        return mproc__set_error(rc, "out of memory");
    if (mproc__atomic_load32(&q->closed)) {
        /* Closed by another thread while this one waited for the lock. */
        mproc__hlock_unlock(q->get_lock);
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    }
    rc = get_locked(q, v, timeout, end);
    mproc__hlock_unlock(q->get_lock);
    return rc;
}

/* A get, under the handle's get lock; @end is when @timeout is over. */
static int get_locked(mproc_queue_t *q, mproc_value_t **v, double timeout,
                      double end)
{
    queue_header *h = q->hdr;
    mproc_value_t *fast;
    const unsigned char *payload;
    size_t payload_len;
    int rc, taken;
    for (;;) {
        double left = timeout == 0 ? 0 : -1;
        if (timeout > 0) {
            left = end - mproc_monotonic();
            if (left < 0)
                left = 0;
        }
        rc = wait_item(q, left);
        if (rc == MPROC_ETIMEDOUT)
            return mproc__set_error(MPROC_EEMPTY, "the queue is empty");
        if (rc == MPROC_ESHUTDOWN)
            return mproc__set_error(rc, "the queue is shut down");
        if (rc == MPROC_ECLOSED)
            return mproc__set_error(rc, "the queue is closed");
        rc = lock(q->rlock);
        if (rc != 0)
            return rc;
        /* Another consumer may have been quicker. */
        if (q->seen_puts > h->gets ||
            mproc__atomic_load64(&h->puts) > h->gets) {
            rc = take(q, &fast, &taken);
            if (rc != TAKE_NONE)
                break;
        }
        mproc__os_mutex_unlock(q->rlock);
    }
    mproc__os_mutex_unlock(q->rlock);
    if (taken && q->room != NULL)
        mproc__os_sem_post(q->room);
    wake_next(q);
    if (rc != 0)
        return rc;
    if (fast != NULL) {
        /* A bytes value, copied from the ring: its checksum is checked here,
         * outside the lock. */
        const unsigned char *f = q->in_frame.data;
        size_t body, len;
        const void *data = mproc_value_as_bytes(fast, &len);
        uint32_t crc = q->in_crc;
        rc = mproc__frame_check_header(f, (size_t) h->max_message + 4, &body);
        if (rc == MPROC_ETOOBIG)
            rc = corrupt_size();
        if (rc == 0 && !q->in_crc_fused)
            crc = mproc__frame_crc(
                mproc__frame_crc(0, f + MPROC__FRAME_HEADER_SIZE,
                                 q->in_frame.len - MPROC__FRAME_HEADER_SIZE),
                data, len);
        if (rc == 0 && crc != mproc__get_u32(f + 12))
            rc = mproc__set_error(MPROC_ECORRUPT, "frame checksum mismatch");
        if (rc != 0) {
            mproc_value_free(fast);
            return rc;
        }
        *v = fast;
        return 0;
    }
    rc = mproc__frame_payload(q->in_frame.data, q->in_frame.len,
                              (size_t) h->max_message, &q->in_payload, &payload,
                              &payload_len);
    if (rc == 0)
        rc = mproc__value_decode(payload, payload_len, v);
    return rc == MPROC_ETOOBIG ? corrupt_size() : rc;
}

/* ---- holding queues for a child ------------------------------------ */

static int hold_one(const mproc_value_t *ref, void *ctx)
{
    mproc__queue_hold_t *hold = ctx;
    const char *name =
        mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0));
    mproc_queue_t *q, **more;
    size_t i;
    for (i = 0; i < hold->n; i++)
        if (name != NULL && strcmp(hold->queues[i]->base.name, name) == 0)
            return 0;
    /* A queue that cannot be opened here will not open in the child either,
     * which says why. */
    if (mproc_queue_import(&q, ref) != 0)
        return 0;
    more = realloc(hold->queues, (hold->n + 1) * sizeof *more);
    if (more == NULL) {
        mproc_queue_destroy(q);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    hold->queues = more;
    hold->queues[hold->n++] = q;
    return 0;
}

int mproc__queue_hold(const mproc__buf_t *args, mproc__queue_hold_t *hold)
{
    mproc_value_t *v = NULL;
    int rc;
    if (args->data == NULL)
        return 0;
    rc = mproc__value_decode(args->data, args->len, &v);
    if (rc != 0)
        return rc;
    hold->pid = mproc__os_getpid();
    if (mproc__value_has_ref(v, MPROC_REF_QUEUE))
        rc = mproc__value_each_ref(v, MPROC_REF_QUEUE, hold_one, hold);
    mproc_value_free(v);
    if (rc != 0)
        mproc__queue_release(hold);
    return rc;
}

void mproc__queue_release(mproc__queue_hold_t *hold)
{
    size_t i;
    if (hold->pid == mproc__os_getpid())
        for (i = 0; i < hold->n; i++)
            mproc_queue_destroy(hold->queues[i]);
    free(hold->queues);
    memset(hold, 0, sizeof *hold);
}

int mproc_queue_put_nowait(mproc_queue_t *q, const mproc_value_t *v)
{
    return mproc_queue_put(q, v, 0);
}

int mproc_queue_get_nowait(mproc_queue_t *q, mproc_value_t **v)
{
    return mproc_queue_get(q, v, 0);
}

/* The approximate number of items. */
static size_t count(mproc_queue_t *q)
{
    uint64_t gets = mproc__atomic_load64(&q->hdr->gets);
    uint64_t puts = mproc__atomic_load64(&q->hdr->puts);
    return puts > gets ? (size_t) (puts - gets) : 0;
}

int mproc_queue_qsize(mproc_queue_t *q, size_t *n)
{
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    if (q->flags & FLAG_SIMPLE)
        return mproc__set_error(MPROC_ESTATE,
                                "a SimpleQueue has no qsize(), as in Python");
    *n = count(q);
    return 0;
}

int mproc_queue_empty(mproc_queue_t *q)
{
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    return count(q) == 0;
}

int mproc_queue_full(mproc_queue_t *q)
{
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    return q->hdr->maxsize > 0 && count(q) >= q->hdr->maxsize;
}

/*
 * Takes this handle's get lock while a get of another thread may be
 * asleep on the wakeup semaphore: that get is woken, again and again
 * until it returns, since a post may go to a sleeper of another process
 * instead. The waking get sees why (close or shutdown) and returns.
 */
static int take_get_lock(mproc_queue_t *q)
{
    int rc;
    while ((rc = mproc__hlock_lock(q->get_lock, CLOSE_RETRY_SECONDS)) ==
           MPROC_ETIMEDOUT) {
        if (mproc__atomic_load32(&q->hdr->waiters) != 0)
            mproc__os_sem_post(q->wakeup);
    }
    return rc;
}

int mproc_queue_close(mproc_queue_t *q)
{
    int rc;
    if (mproc__atomic_cas32(&q->closed, 0, 1) != 0)
        return 0; /* closed already */
    /*
     * This handle's put and get in other threads end first (they see
     * closed), so that nothing of the segment is in use when it goes.
     */
    rc = mproc__hlock_lock(q->put_lock, MPROC_FOREVER);
    if (rc != 0) {
        mproc__atomic_store32(&q->closed, 0);
        return mproc__set_error(rc, "out of memory");
    }
    rc = take_get_lock(q);
    if (rc != 0) {
        mproc__hlock_unlock(q->put_lock);
        mproc__atomic_store32(&q->closed, 0);
        return mproc__set_error(rc, "out of memory");
    }
    /*
     * Nothing of the segment is in use through this handle any more: the
     * OS objects, the spill file and the segment go now, and the last
     * user's close removes the queue. A child given the queue's reference
     * still opens it after this: its start holds the queue open until the
     * child has ended (mproc__queue_hold).
     */
    close_os(q);
    mproc__shobj_let_go(&q->base);
    q->hdr = NULL;
    q->ring = NULL;
    mproc__hlock_unlock(q->get_lock);
    mproc__hlock_unlock(q->put_lock);
    return 0;
}

/*
 * Drops every item left (immediate shutdown): 0 and the count in
 * *@dropped. The caller holds the handle's get lock; the state is
 * SHUT_NOW, so no get takes an item any more.
 */
static int drop_all(mproc_queue_t *q, uint64_t *dropped)
{
    queue_header *h = q->hdr;
    int rc = lock(q->rlock);
    *dropped = 0;
    if (rc != 0)
        return rc;
    while (mproc__atomic_load64(&h->puts) > h->gets) {
        mproc_value_t *fast;
        int taken;
        /* A damaged item is dropped as well; only I/O stops the drop. */
        rc = take(q, &fast, &taken);
        mproc_value_free(fast);
        if (rc == TAKE_NONE) {
            rc = 0;
            break;
        }
        if (!taken || (rc != 0 && rc != MPROC_ECORRUPT))
            break;
        rc = 0;
        ++*dropped;
        if (q->room != NULL)
            mproc__os_sem_post(q->room);
    }
    mproc__os_mutex_unlock(q->rlock);
    return rc;
}

int mproc_queue_shutdown(mproc_queue_t *q, int immediate)
{
    queue_header *h;
    uint32_t n;
    int rc;
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    h = q->hdr;
    mproc__atomic_cas32(&h->shutdown, SHUT_NO, SHUT_PUTS);
    /*
     * A put that checked the state before it changed holds the write lock
     * until its item is published: once the lock is had and given back,
     * every item there will ever be is in.
     */
    rc = lock(q->wlock);
    if (rc != 0)
        return rc;
    mproc__os_mutex_unlock(q->wlock);
    if (immediate)
        mproc__atomic_store32(&h->shutdown, SHUT_NOW);
    else
        mproc__atomic_cas32(&h->shutdown, SHUT_PUTS, SHUT_DRAIN);
    /* Every announced sleeper is woken, and none sleeps again. */
    for (n = mproc__atomic_load32(&h->waiters); n > 0; n--)
        mproc__os_sem_post(q->wakeup);
    if (q->room != NULL)
        for (n = mproc__atomic_load32(&h->room_waiters); n > 0; n--)
            mproc__os_sem_post(q->room);
    if (immediate) {
        uint64_t dropped = 0;
        rc = take_get_lock(q);
        if (rc != 0)
            return mproc__set_error(rc, "out of memory");
        rc = drop_all(q, &dropped);
        mproc__hlock_unlock(q->get_lock);
        /* Python counts the dropped items as done, so join() returns. */
        if (dropped > 0 && q->jlock != NULL && lock(q->jlock) == 0) {
            h->unfinished = h->unfinished > dropped
                                ? h->unfinished - (uint32_t) dropped
                                : 0;
            if (h->unfinished == 0)
                mproc__os_event_set(q->alldone);
            mproc__os_mutex_unlock(q->jlock);
        }
        if (rc != 0)
            return rc;
    }
    return 0;
}

int mproc_queue_join_thread(mproc_queue_t *q)
{
    if (!mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ESTATE,
                                "join_thread() needs close() first");
    return 0;
}

int mproc_queue_cancel_join_thread(mproc_queue_t *q)
{
    (void) q;
    return 0;
}

int mproc_queue_task_done(mproc_queue_t *q)
{
    int rc;
    if (!(q->flags & FLAG_JOINABLE))
        return mproc__set_error(MPROC_ESTATE,
                                "task_done() needs a JoinableQueue");
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    rc = lock(q->jlock);
    if (rc != 0)
        return rc;
    if (q->hdr->unfinished == 0) {
        mproc__os_mutex_unlock(q->jlock);
        return mproc__set_error(MPROC_ETOOMANY,
                                "task_done() called too many times");
    }
    if (--q->hdr->unfinished == 0)
        mproc__os_event_set(q->alldone);
    mproc__os_mutex_unlock(q->jlock);
    return 0;
}

int mproc_queue_join(mproc_queue_t *q, double timeout)
{
    if (!(q->flags & FLAG_JOINABLE))
        return mproc__set_error(MPROC_ESTATE, "join() needs a JoinableQueue");
    if (mproc__atomic_load32(&q->closed))
        return mproc__set_error(MPROC_ECLOSED, "the queue is closed");
    return mproc__os_event_wait(q->alldone, timeout);
}

#ifdef MPROC_TESTING
int mproc__queue_debug_ring(mproc_queue_t *q, unsigned char **ring,
                            size_t *capacity, uint64_t *head)
{
    *ring = q->ring;
    *capacity = (size_t) q->hdr->capacity;
    *head = q->hdr->head;
    return 0;
}

void mproc__queue_debug_uncount(mproc_queue_t *q)
{
    mproc__atomic_store64(&q->hdr->gets, q->hdr->gets - 1);
}

uint64_t mproc__queue_debug_spilled(mproc_queue_t *q)
{
    return mproc__atomic_load64(&q->hdr->spill_puts) -
           mproc__atomic_load64(&q->hdr->spill_gets);
}
#endif
