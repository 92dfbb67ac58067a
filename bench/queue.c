/*
 * Queues and pipes: mproc's Queue and Pipe beside the raw OS transports.
 *
 *   bench_queue tput IMPL SIZE N [AFFINITY]
 *   bench_queue rtt  IMPL AFFINITY N
 *
 * tput: one-way throughput, one producer process -> one consumer process,
 * unpinned unless AFFINITY is given (the consumer is party A, the producer
 * party B; see below). The consumer is the parent; the producer is a child
 * started after the consumer's transport exists. The parent makes one payload
 * of SIZE random bytes (getrandom: incompressible) that the producer sends N
 * times (for mproc, the bytes value of its start arguments); the
 * consumer receives N messages and checks each one's length, and the last
 * one's bytes. The clock (CLOCK_MONOTONIC) is read when the consumer's
 * first receive returns and when its last one returns; the value is
 * (N - 1) / that time, in messages/s, and "mb_per_s" is the same in MB/s
 * (10^6 B of payload). "wall_s" is the whole run, from before the producer
 * is started to the last receive (it includes the start).
 *   mproc         mproc_queue_create() with the default options (deflate
 *                 is tried from 64 KiB on; random bytes are never deflated,
 *                 see frame.c); a bytes value, mproc_queue_put/get. The
 *                 producer is an mproc child started with the fork method
 *                 that imports the queue from mproc_queue_export()'s value.
 *   mproc_comp1k  the same with codec.compress_threshold = 1024: every
 *                 message of at least 1 KiB goes through the
 *                 compressibility test.
 *   mproc_nocomp  the same with codec.no_compress = 1.
 *   mproc_bounded[_comp1k|_nocomp]
 *                 for diagnosis: the same, but with maxsize set so that
 *                 the items fill at most half the ring (4 MiB / (SIZE +
 *                 64), at least 1). A put then waits for room (the room
 *                 semaphore) and nothing is ever spilled.
 *   mproc_p4c4    4 producers and 4 consumers on one default queue: the
 *                 producers are fork-method mproc children that put N/4
 *                 messages each; the consumers are 4 more that get until
 *                 the nil the parent puts for each once every producer
 *                 has ended. Each consumer notes its first and last
 *                 receive (and checks each message's length) in a shared
 *                 page (below 1 KiB the clock is read every 32nd message); the
 * value is N - 4 messages over the time from the first consumer's first receive
 * to the last one's last. The aggregate to set beside one producer's (mproc).
 *   raw_pipe1m    a pipe enlarged to 1 MiB (F_SETPIPE_SZ) and a fork()
 *                 child; the producer write()s each message whole, the
 *                 consumer read()s exactly SIZE bytes per message into one
 *                 buffer: baseline.md's "C pipe, F_SETPIPE_SZ 1 MiB".
 *   raw_shmring   a 4 MiB single-producer single-consumer ring in a
 *                 MAP_SHARED|MAP_ANONYMOUS segment, both sides busy-wait
 *                 (pause; sched_yield after 64 spins); each message is
 *                 copied in and copied out: baseline.md's "C shm SPSC
 *                 ring". An upper bound that burns CPU, not a fair design.
 *   raw_shmring_crc32
 *                 the same ring with the queue's checksum: the producer
 *                 puts the frames' CRC-32 of each message before it (the
 *                 library's own src/crc32.c, built in; a slot is 8 + SIZE
 *                 bytes) and the consumer checks it on the copy it took
 *                 out. The floor under any design that keeps this CRC-32
 *                 on every message.
 *
 * rtt: ping-pong of a 16-byte message between the parent (A, pinned by
 * AFFINITY) and a child (B). A sends and waits for the reply; B receives
 * and sends back what it got. N timed round trips after N/10 (at least
 * 100) untimed; the value is the median round trip, in microseconds.
 *   mproc_bytes          one duplex mproc_pipe (a socketpair), with
 *                        mproc_conn_send_bytes / mproc_conn_recv_bytes
 *   mproc_bytes_simplex  two one-way mproc_pipes (pipes), the same calls
 *   mproc_value          one duplex mproc_pipe, mproc_conn_send /
 *                        mproc_conn_recv of a 16-byte bytes value
 *   raw_pipe             two pipe()s, write 16 bytes, read exactly 16
 *   raw_socketpair       one AF_UNIX SOCK_STREAM socketpair, the same
 * The mproc children are mproc processes started with the fork method,
 * given their ends as start arguments (mproc_conn_export/import); the raw
 * ones are fork() children.
 *
 * AFFINITY: none; same (both on CPU 0); split (A on CPU 0, B on CPU 1).
 * The JSON line of tput carries it too ("none" when it is not given).
 *
 * The program prints one JSON line:
 *   {"impl", "bench", "size" or "affinity", "n", "unit", "value", ...}
 * bench/queue.py prints the same for Python's multiprocessing;
 * bench/run_queue.sh runs both, interleaved, and tabulates.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "crc32.h"

#include <mproc.h>

#include "bench_util.h"

#define RTT_SIZE 16
#define RING_CAP ((size_t) 4 << 20)

const char *prog = "bench_queue";
/* tput: the placement (0 none, 1 same, 2 split). */
static int tput_aff;

static void random_fill(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            if (errno == EINTR)
                continue;
            die("getrandom");
        }
        p += got;
        n -= (size_t) got;
    }
}

static void *xmalloc(size_t n)
{
    void *p = malloc(n ? n : 1);
    if (p == NULL)
        die("malloc");
    return p;
}

/* ---- placement ---------------------------------------------------------- */

/* ---- children ----------------------------------------------------------- */

static void read_exact(int fd, void *buf, size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = read(fd, p, n);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            die("read");
        }
        if (r == 0) {
            fprintf(stderr, "%s: unexpected end of stream\n", prog);
            exit(1);
        }
        p += r;
        n -= (size_t) r;
    }
}

static void write_all(int fd, const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            die("write");
        }
        p += w;
        n -= (size_t) w;
    }
}

/* ---- 1. throughput ------------------------------------------------------ */

/* The consumer's clock: first and last receive, and the start. */
typedef struct tput_clock {
    double start, first, last;
} tput_clock;

static void report_tput(const char *impl, size_t size, long n,
                        const tput_clock *c)
{
    double secs = (c->last - c->first) / 1e6;
    double rate = (double) (n - 1) / secs;
    printf("{\"impl\": \"%s\", \"bench\": \"tput\", \"size\": %zu, "
           "\"affinity\": \"%s\", \"n\": %ld, \"unit\": \"msgs/s\", "
           "\"value\": %.1f, \"mb_per_s\": %.2f, \"wall_s\": %.4f}\n",
           impl, size, affinity_names[tput_aff], n, rate,
           rate * (double) size / 1e6, (c->last - c->start) / 1e6);
    fflush(stdout);
}

/* The producer: args {queue ref, payload (bytes), n, affinity}. */
static void producer_mproc(const mproc_value_t *args)
{
    mproc_queue_t *q;
    const mproc_value_t *v = mproc_value_at(args, 1);
    long n = (long) mproc_value_as_int(mproc_value_at(args, 2)), i;
    int rc = mproc_queue_import(&q, mproc_value_at(args, 0));
    if (rc != 0)
        die_mproc("queue_import", rc);
    place((int) mproc_value_as_int(mproc_value_at(args, 3)), 1);
    for (i = 0; i < n; i++)
        if ((rc = mproc_queue_put(q, v, MPROC_FOREVER)) != 0)
            die_mproc("queue_put", rc);
    mproc_queue_destroy(q);
}
MPROC_TARGET(producer_mproc)

/*
 * mproc_bounded: as many items as fill half the default 8 MiB ring, so that
 * a put waits for room instead of spilling.
 */
static size_t bounded_maxsize(size_t size)
{
    size_t m = ((size_t) 4 << 20) / (size + 64);
    return m < 1 ? 1 : m;
}

static void tput_mproc(const char *impl, size_t size, long n)
{
    mproc_queue_opts_t o = {0};
    mproc_queue_t *q;
    mproc_value_t *ref, *v = NULL;
    mproc_process_t *p;
    tput_clock c;
    const void *got;
    size_t len = 0;
    char *payload = xmalloc(size);
    long i;
    int rc;
    if (strstr(impl, "_bounded") != NULL)
        o.maxsize = bounded_maxsize(size);
    if (strstr(impl, "_comp1k") != NULL)
        o.codec.compress_threshold = 1024;
    if (strstr(impl, "_nocomp") != NULL)
        o.codec.no_compress = 1;
    random_fill(payload, size);
    if ((rc = mproc_queue_create(&q, &o)) != 0 ||
        (rc = mproc_queue_export(q, &ref)) != 0)
        die_mproc("queue_create", rc);
    c.start = now_us();
    p = start_mproc(
        "producer_mproc",
        mproc_value_list_of(4, ref, mproc_value_bytes(payload, size),
                            mproc_value_int(n), mproc_value_int(tput_aff)));
    for (i = 0; i < n; i++) {
        mproc_value_free(v);
        if ((rc = mproc_queue_get(q, &v, MPROC_FOREVER)) != 0)
            die_mproc("queue_get", rc);
        if (i == 0)
            c.first = now_us();
        if ((got = mproc_value_as_bytes(v, &len)) == NULL || len != size) {
            fprintf(stderr, "%s: message %ld has %zu bytes, not %zu\n", prog, i,
                    len, size);
            exit(1);
        }
    }
    c.last = now_us();
    if (memcmp(got, payload, size) != 0) {
        fprintf(stderr, "%s: the last message differs from the payload\n",
                prog);
        exit(1);
    }
    join_mproc(p);
    mproc_value_free(v);
    mproc_queue_destroy(q);
    free(payload);
    report_tput(impl, size, n, &c);
}

/* mproc_p4c4: what each consumer notes, in a page the children share. */
#define P4C4 4
typedef struct p4c4_note {
    double first, last; /* CLOCK_MONOTONIC, us; 0: nothing received */
    long got;
    int bad; /* a message of the wrong length */
} p4c4_note;

static p4c4_note *p4c4_notes;

/* A consumer: args {queue ref, size, slot}; gets until nil. */
static void consumer_p4c4(const mproc_value_t *args)
{
    mproc_queue_t *q;
    size_t size = (size_t) mproc_value_as_int(mproc_value_at(args, 1));
    p4c4_note *note = &p4c4_notes[mproc_value_as_int(mproc_value_at(args, 2))];
    int rc = mproc_queue_import(&q, mproc_value_at(args, 0));
    if (rc != 0)
        die_mproc("queue_import", rc);
    for (;;) {
        mproc_value_t *v = NULL;
        size_t len = 0;
        if ((rc = mproc_queue_get(q, &v, MPROC_FOREVER)) != 0)
            die_mproc("queue_get", rc);
        if (mproc_value_type(v) == MPROC_VALUE_NIL) {
            mproc_value_free(v);
            break;
        }
        /*
         * The clock is read for every message of 1 KiB or more, and for
         * every 32nd below, where a read would cost as much as a get: the
         * last receive is then known to 31 messages.
         */
        if (size >= 1024 || (note->got & 31) == 0)
            note->last = now_us();
        if (note->got++ == 0)
            note->first = note->last;
        if (mproc_value_as_bytes(v, &len) == NULL || len != size)
            note->bad = 1;
        mproc_value_free(v);
    }
    mproc_queue_destroy(q);
}
MPROC_TARGET(consumer_p4c4)

static void tput_p4c4(size_t size, long n)
{
    mproc_queue_t *q;
    mproc_value_t *ref, *nil = mproc_value_nil();
    mproc_process_t *prod[P4C4], *cons[P4C4];
    char *payload = xmalloc(size);
    long each = n / P4C4, total = 0;
    tput_clock c = {0, 0, 0};
    int i, rc;
    p4c4_notes = mmap(NULL, P4C4 * sizeof *p4c4_notes, PROT_READ | PROT_WRITE,
                      MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p4c4_notes == MAP_FAILED)
        die("mmap");
    random_fill(payload, size);
    if ((rc = mproc_queue_create(&q, NULL)) != 0 ||
        (rc = mproc_queue_export(q, &ref)) != 0)
        die_mproc("queue_create", rc);
    c.start = now_us();
    for (i = 0; i < P4C4; i++)
        cons[i] =
            start_mproc("consumer_p4c4",
                        mproc_value_list_of(3, mproc_value_copy(ref),
                                            mproc_value_int((int64_t) size),
                                            mproc_value_int(i)));
    for (i = 0; i < P4C4; i++)
        prod[i] = start_mproc(
            "producer_mproc",
            mproc_value_list_of(4, mproc_value_copy(ref),
                                mproc_value_bytes(payload, size),
                                mproc_value_int(each), mproc_value_int(0)));
    for (i = 0; i < P4C4; i++)
        join_mproc(prod[i]);
    for (i = 0; i < P4C4; i++)
        if ((rc = mproc_queue_put(q, nil, MPROC_FOREVER)) != 0)
            die_mproc("queue_put", rc);
    for (i = 0; i < P4C4; i++)
        join_mproc(cons[i]);
    for (i = 0; i < P4C4; i++) {
        const p4c4_note *note = &p4c4_notes[i];
        if (note->bad) {
            fprintf(stderr, "%s: a message of the wrong length\n", prog);
            exit(1);
        }
        total += note->got;
        if (note->got == 0)
            continue;
        if (c.first == 0 || note->first < c.first)
            c.first = note->first;
        if (note->last > c.last)
            c.last = note->last;
    }
    if (total != each * P4C4) {
        fprintf(stderr, "%s: %ld messages received, not %ld\n", prog, total,
                each * P4C4);
        exit(1);
    }
    mproc_value_free(nil);
    mproc_value_free(ref);
    mproc_queue_destroy(q);
    munmap(p4c4_notes, P4C4 * sizeof *p4c4_notes);
    free(payload);
    /* The rate over the whole span from the first receive to the last. */
    report_tput("mproc_p4c4", size, total, &c);
}

static void tput_pipe(size_t size, long n)
{
    int fds[2];
    pid_t pid;
    tput_clock c;
    char *buf = xmalloc(size);
    long i;
    if (pipe(fds) < 0)
        die("pipe");
    if (fcntl(fds[1], F_SETPIPE_SZ, 1 << 20) < 0)
        die("F_SETPIPE_SZ");
    random_fill(buf, size);
    c.start = now_us();
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        place(tput_aff, 1);
        close(fds[0]);
        for (i = 0; i < n; i++)
            write_all(fds[1], buf, size);
        _exit(0);
    }
    close(fds[1]);
    for (i = 0; i < n; i++) {
        read_exact(fds[0], buf, size);
        if (i == 0)
            c.first = now_us();
    }
    c.last = now_us();
    wait_raw_child(pid);
    close(fds[0]);
    free(buf);
    report_tput("raw_pipe1m", size, n, &c);
}

/* The raw ring: positions on their own lines, then the bytes. */
typedef struct ring {
    __attribute__((aligned(64))) uint64_t head; /* written by the consumer */
    __attribute__((aligned(64))) uint64_t tail; /* written by the producer */
    __attribute__((aligned(64))) unsigned char data[];
} ring;

static void spin_pause(unsigned *spins)
{
    if (++*spins < 64) {
        __builtin_ia32_pause();
    } else {
        *spins = 0;
        sched_yield();
    }
}

static void ring_copy_in(ring *r, uint64_t pos, const void *src, size_t n)
{
    size_t at = (size_t) (pos % RING_CAP), first = n;
    if (at + n > RING_CAP)
        first = RING_CAP - at;
    memcpy(r->data + at, src, first);
    memcpy(r->data, (const char *) src + first, n - first);
}

static void ring_copy_out(ring *r, uint64_t pos, void *dst, size_t n)
{
    size_t at = (size_t) (pos % RING_CAP), first = n;
    if (at + n > RING_CAP)
        first = RING_CAP - at;
    memcpy(dst, r->data + at, first);
    memcpy((char *) dst + first, r->data, n - first);
}

static uint32_t crc_of(const void *p, size_t n)
{
    return mproc__crc32(0, p, n);
}

/* @crc: each slot is [u32 crc32][u32 0][SIZE bytes], checked on the way out. */
static void tput_shmring(size_t size, long n, int crc)
{
    ring *r = mmap(NULL, sizeof(ring) + RING_CAP, PROT_READ | PROT_WRITE,
                   MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    size_t slot = crc ? size + 8 : size;
    char *buf = xmalloc(slot);
    tput_clock c;
    pid_t pid;
    long i;
    if (r == MAP_FAILED)
        die("mmap");
    if (slot > RING_CAP) {
        fprintf(stderr, "%s: raw_shmring takes at most %zu bytes\n", prog,
                RING_CAP);
        exit(1);
    }
    random_fill(buf, slot);
    memset(buf, 0, slot - size);
    c.start = now_us();
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        uint64_t tail = 0;
        place(tput_aff, 1);
        for (i = 0; i < n; i++) {
            unsigned spins = 0;
            if (crc) {
                uint32_t v = crc_of(buf + 8, size);
                memcpy(buf, &v, 4);
            }
            while (tail + slot - __atomic_load_n(&r->head, __ATOMIC_ACQUIRE) >
                   RING_CAP)
                spin_pause(&spins);
            ring_copy_in(r, tail, buf, slot);
            tail += slot;
            __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
        }
        _exit(0);
    }
    {
        uint64_t head = 0;
        for (i = 0; i < n; i++) {
            unsigned spins = 0;
            while (__atomic_load_n(&r->tail, __ATOMIC_ACQUIRE) == head)
                spin_pause(&spins);
            ring_copy_out(r, head, buf, slot);
            head += slot;
            __atomic_store_n(&r->head, head, __ATOMIC_RELEASE);
            if (crc) {
                uint32_t v;
                memcpy(&v, buf, 4);
                if (v != crc_of(buf + 8, size)) {
                    fprintf(stderr, "%s: message %ld fails its crc32\n", prog,
                            i);
                    exit(1);
                }
            }
            if (i == 0)
                c.first = now_us();
        }
    }
    c.last = now_us();
    wait_raw_child(pid);
    munmap(r, sizeof(ring) + RING_CAP);
    free(buf);
    report_tput(crc ? "raw_shmring_crc32" : "raw_shmring", size, n, &c);
}

/* ---- 2. round trips ----------------------------------------------------- */

enum {
    RTT_MPROC_BYTES,
    RTT_MPROC_BYTES_SIMPLEX,
    RTT_MPROC_VALUE,
    RTT_RAW_PIPE,
    RTT_RAW_SOCKETPAIR
};

static void report_rtt(const char *impl, int aff, double *t, long n)
{
    double sum = 0, med;
    long i;
    for (i = 0; i < n; i++)
        sum += t[i];
    med = median(t, n);
    printf("{\"impl\": \"%s\", \"bench\": \"rtt\", \"affinity\": \"%s\", "
           "\"n\": %ld, \"unit\": \"us\", \"value\": %.2f, "
           "\"median_us\": %.2f, \"mean_us\": %.2f, \"min_us\": %.2f}\n",
           impl, affinity_names[aff], n, med, med, sum / (double) n, t[0]);
    fflush(stdout);
}

/* One end's round: send a message, receive one (A) or the reverse (B). */
static void mproc_exchange(int kind, mproc_conn_t *in, mproc_conn_t *out,
                           const void *msg, const mproc_value_t *v, int a_side)
{
    void *buf = NULL;
    size_t len = 0;
    mproc_value_t *got = NULL;
    int rc, step;
    for (step = 0; step < 2; step++) {
        int sending = (step == 0) == a_side;
        if (sending) {
            rc = kind == RTT_MPROC_VALUE
                     ? mproc_conn_send(out, v)
                     : mproc_conn_send_bytes(out, msg, RTT_SIZE);
            if (rc != 0)
                die_mproc("send", rc);
        } else if (kind == RTT_MPROC_VALUE) {
            if ((rc = mproc_conn_recv(in, &got)) != 0)
                die_mproc("recv", rc);
            if (mproc_value_as_bytes(got, &len) == NULL || len != RTT_SIZE)
                die_mproc("recv: wrong message", MPROC_ECORRUPT);
            mproc_value_free(got);
        } else {
            if ((rc = mproc_conn_recv_bytes(in, &buf, &len)) != 0)
                die_mproc("recv_bytes", rc);
            if (len != RTT_SIZE)
                die_mproc("recv_bytes: wrong length", MPROC_ECORRUPT);
            free(buf);
        }
    }
}

/* B's side: args {kind, in ref, out ref (or nil: the same), aff, total}. */
static void pong_mproc(const mproc_value_t *args)
{
    int kind = (int) mproc_value_as_int(mproc_value_at(args, 0));
    int aff = (int) mproc_value_as_int(mproc_value_at(args, 3));
    long total = (long) mproc_value_as_int(mproc_value_at(args, 4)), i;
    mproc_conn_t *in, *out;
    unsigned char msg[RTT_SIZE];
    mproc_value_t *v;
    int rc;
    if ((rc = mproc_conn_import(&in, mproc_value_at(args, 1))) != 0)
        die_mproc("conn_import", rc);
    out = in;
    if (mproc_value_type(mproc_value_at(args, 2)) != MPROC_VALUE_NIL &&
        (rc = mproc_conn_import(&out, mproc_value_at(args, 2))) != 0)
        die_mproc("conn_import", rc);
    place(aff, 1);
    memset(msg, 'b', sizeof msg);
    v = mproc_value_bytes(msg, sizeof msg);
    for (i = 0; i < total; i++)
        mproc_exchange(kind, in, out, msg, v, 0);
    mproc_value_free(v);
    if (out != in)
        mproc_conn_close(out);
    mproc_conn_close(in);
}
MPROC_TARGET(pong_mproc)

static void rtt_mproc(const char *impl, int kind, int aff, long n, double *t)
{
    long w = warmup_rounds(n), i;
    mproc_conn_t *a_in, *a_out, *b_in, *b_out = NULL;
    mproc_value_t *r_in, *r_out, *v;
    mproc_process_t *p;
    unsigned char msg[RTT_SIZE];
    int rc;
    if (kind == RTT_MPROC_BYTES_SIMPLEX) {
        /* A -> B: b_in reads, a_out writes; B -> A: a_in reads, b_out. */
        if ((rc = mproc_pipe(&b_in, &a_out, 0, NULL)) != 0 ||
            (rc = mproc_pipe(&a_in, &b_out, 0, NULL)) != 0)
            die_mproc("pipe", rc);
    } else {
        if ((rc = mproc_pipe(&a_in, &b_in, 1, NULL)) != 0)
            die_mproc("pipe", rc);
        a_out = a_in;
    }
    if ((rc = mproc_conn_export(b_in, &r_in)) != 0)
        die_mproc("conn_export", rc);
    if (b_out == NULL)
        r_out = mproc_value_nil();
    else if ((rc = mproc_conn_export(b_out, &r_out)) != 0)
        die_mproc("conn_export", rc);
    p = start_mproc("pong_mproc",
                    mproc_value_list_of(5, mproc_value_int(kind), r_in, r_out,
                                        mproc_value_int(aff),
                                        mproc_value_int(n + w)));
    /* B has its ends now. */
    mproc_conn_close(b_in);
    mproc_conn_close(b_out);
    memset(msg, 'a', sizeof msg);
    v = mproc_value_bytes(msg, sizeof msg);
    for (i = -w; i < n; i++) {
        double t0 = now_us();
        mproc_exchange(kind, a_in, a_out, msg, v, 1);
        if (i >= 0)
            t[i] = now_us() - t0;
    }
    join_mproc(p);
    mproc_value_free(v);
    if (a_out != a_in)
        mproc_conn_close(a_out);
    mproc_conn_close(a_in);
    report_rtt(impl, aff, t, n);
}

static void rtt_raw(const char *impl, int kind, int aff, long n, double *t)
{
    long w = warmup_rounds(n), total = n + w, i;
    int ab[2], ba[2]; /* A -> B, B -> A: [0] reads, [1] writes */
    char msg[RTT_SIZE];
    pid_t pid;
    if (kind == RTT_RAW_PIPE) {
        if (pipe(ab) < 0 || pipe(ba) < 0)
            die("pipe");
    } else {
        int sv[2];
        if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) < 0)
            die("socketpair");
        /* A uses sv[0] both ways, B sv[1]. */
        ab[1] = ba[0] = sv[0];
        ab[0] = ba[1] = sv[1];
    }
    memset(msg, 'a', sizeof msg);
    pid = fork();
    if (pid < 0)
        die("fork");
    if (pid == 0) {
        place(aff, 1);
        for (i = 0; i < total; i++) {
            read_exact(ab[0], msg, sizeof msg);
            write_all(ba[1], msg, sizeof msg);
        }
        _exit(0);
    }
    for (i = -w; i < n; i++) {
        double t0 = now_us();
        write_all(ab[1], msg, sizeof msg);
        read_exact(ba[0], msg, sizeof msg);
        if (i >= 0)
            t[i] = now_us() - t0;
    }
    wait_raw_child(pid);
    report_rtt(impl, aff, t, n);
}

/* ---- main --------------------------------------------------------------- */

/*
 * crc IMPL SIZE N: the checksum alone, in one process. N checksums of one
 * buffer of SIZE random bytes, timed in CPU time (so load on the machine
 * does not count) in 10 chunks after an untimed one; the value is the
 * median chunk's rate in GB/s (10^9 B), and ns_per_call its time per
 * checksum. IMPL zlib: zlib's crc32_z; mproc: the frames' CRC-32
 * (src/crc32.c, the best path of this CPU); mproc_tables: its table path,
 * what CPUs without carry-less multiplication run.
 */
static double cpu_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static void bench_crc(const char *impl, size_t size, long n)
{
    unsigned char *b = xmalloc(size);
    double t[10];
    volatile uint32_t sink = 0;
    long per = n / 10 > 0 ? n / 10 : 1, i;
    int kind = strcmp(impl, "zlib") == 0    ? 0
               : strcmp(impl, "mproc") == 0 ? 1
                                            : 2;
    int chunk;
    random_fill(b, size);
    for (chunk = -1; chunk < 10; chunk++) {
        double t0 = cpu_us();
        for (i = 0; i < per; i++) {
            uint32_t c = sink;
            if (kind == 0)
                c = (uint32_t) crc32_z(c, b, size);
            else if (kind == 1)
                c = mproc__crc32(c, b, size);
            else
                c = mproc__crc32_path(0, c, b, size);
            sink = c;
        }
        if (chunk >= 0)
            t[chunk] = (cpu_us() - t0) / (double) per; /* us per call */
    }
    {
        double us = median(t, 10);
        printf("{\"impl\": \"%s\", \"bench\": \"crc\", \"size\": %zu, "
               "\"n\": %ld, \"unit\": \"GB/s\", \"value\": %.3f, "
               "\"ns_per_call\": %.1f}\n",
               impl, size, per * 10, (double) size / us / 1e3, us * 1e3);
    }
    free(b);
}

/* mproc, then optionally _bounded, then optionally _comp1k or _nocomp. */
static int is_mproc_tput(const char *impl)
{
    static const char *const ok[] = {
        "mproc",         "mproc_comp1k",         "mproc_nocomp",
        "mproc_bounded", "mproc_bounded_comp1k", "mproc_bounded_nocomp"};
    size_t i;
    for (i = 0; i < sizeof ok / sizeof ok[0]; i++)
        if (strcmp(impl, ok[i]) == 0)
            return 1;
    return 0;
}

static int usage(void)
{
    fprintf(stderr,
            "usage: %s tput IMPL SIZE N [AFFINITY]\n"
            "         IMPL mproc[_bounded][_comp1k|_nocomp] | mproc_p4c4 | "
            "raw_pipe1m | raw_shmring | raw_shmring_crc32\n"
            "       %s rtt IMPL AFFINITY N\n"
            "         IMPL mproc_bytes | mproc_bytes_simplex | mproc_value | "
            "raw_pipe | raw_socketpair\n"
            "         AFFINITY none | same | split\n"
            "       %s crc IMPL SIZE N\n"
            "         IMPL zlib | mproc | mproc_tables\n",
            prog, prog, prog);
    return 2;
}

int main(int argc, char **argv)
{
    const char *bench, *impl;
    long n;
    int rc;
    rc = mproc_main(argc, argv);
    if (rc != 0)
        die_mproc("mproc_main", rc);
    if (argc < 5 || (n = strtol(argv[4], NULL, 10)) < 2)
        return usage();
    bench = argv[1];
    impl = argv[2];
    if (strcmp(bench, "tput") == 0 && argc <= 6) {
        long size = strtol(argv[3], NULL, 10);
        if (size <= 0 ||
            (argc == 6 && (tput_aff = parse_affinity(argv[5])) < 0))
            return usage();
        if (tput_aff == 2 && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
            fprintf(stderr, "%s: split needs 2 CPUs\n", prog);
            return 1;
        }
        place(tput_aff, 0);
        if (is_mproc_tput(impl))
            tput_mproc(impl, (size_t) size, n);
        else if (strcmp(impl, "raw_pipe1m") == 0)
            tput_pipe((size_t) size, n);
        else if (strcmp(impl, "mproc_p4c4") == 0)
            tput_p4c4((size_t) size, n);
        else if (strcmp(impl, "raw_shmring") == 0)
            tput_shmring((size_t) size, n, 0);
        else if (strcmp(impl, "raw_shmring_crc32") == 0)
            tput_shmring((size_t) size, n, 1);
        else
            return usage();
    } else if (strcmp(bench, "crc") == 0 && argc == 5) {
        long size = strtol(argv[3], NULL, 10);
        if (size <= 0 ||
            (strcmp(impl, "zlib") != 0 && strcmp(impl, "mproc") != 0 &&
             strcmp(impl, "mproc_tables") != 0))
            return usage();
        bench_crc(impl, (size_t) size, n);
    } else if (strcmp(bench, "rtt") == 0 && argc == 5) {
        static const char *names[] = {"mproc_bytes", "mproc_bytes_simplex",
                                      "mproc_value", "raw_pipe",
                                      "raw_socketpair"};
        int aff = parse_affinity(argv[3]), kind;
        double *t;
        for (kind = 0; kind < 5 && strcmp(impl, names[kind]) != 0; kind++) {
        }
        if (aff < 0 || kind == 5)
            return usage();
        if (aff == 2 && sysconf(_SC_NPROCESSORS_ONLN) < 2) {
            fprintf(stderr, "%s: split needs 2 CPUs\n", prog);
            return 1;
        }
        t = xmalloc((size_t) n * sizeof *t);
        place(aff, 0);
        if (kind <= RTT_MPROC_VALUE)
            rtt_mproc(impl, kind, aff, n, t);
        else
            rtt_raw(impl, kind, aff, n, t);
        free(t);
    } else {
        return usage();
    }
    return 0;
}
