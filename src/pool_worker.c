/*
 * A pool's worker (Python's pool.worker): it runs the initializer, says
 * hello, then runs the units of tasks it is sent, in order, and sends
 * their results back; it ends when told to, after maxtasksperchild units,
 * or when the pool has gone (its pipe closed).
 *
 * Results go in batches: a worker writes when nothing more is at hand to
 * run, when results have waited FLUSH_AGE, or when they fill FLUSH_BYTES.
 * Before each call it says in its slot of shared memory which item it
 * runs (pool_internal.h), so that the pool knows whom to blame if the
 * worker dies, whatever was or was not written yet.
 *
 * mproc_raise() in a task (or in the initializer) does not end the worker:
 * exit.c hands it here, and it jumps back to the loop, which records the
 * failure as that item's result, as Python's worker catches a task's
 * exception.
 */
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <msgpack.h>

#include "atomic.h"
#include "conn_internal.h"
#include "pool_internal.h"

/* How long results may wait while there is more to run. */
#define FLUSH_AGE 0.002
#define FLUSH_BYTES ((size_t) 64 * 1024)
/* How often, in items of a long unit, the clock is read. */
#define CHECK_EVERY 64
/* The pipe size asked for (as the pool does for its end). */
#define PIPE_WANT ((size_t) 256 * 1024)
/* Room kept in a results message for its framing. */
#define MESSAGE_SLACK 1024

/* Where mproc_raise() goes in a task: set while one runs on this thread. */
static MPROC__TLS jmp_buf *task_env;
static MPROC__TLS int raised_status;
static MPROC__TLS char raised_msg[512];
/* When the running call passes its soft limit (0: it has none). */
static double soft_deadline;

int mproc__pool_in_task(void)
{
    return task_env != NULL;
}

void mproc__pool_task_raise(int status, const char *fmt, va_list ap)
{
    jmp_buf *env = task_env;
    vsnprintf(raised_msg, sizeof raised_msg, fmt, ap);
    raised_status = status < 0 ? status : MPROC_ETASK;
    task_env = NULL;
    longjmp(*env, 1);
}

int mproc_pool_past_soft_limit(void)
{
    return soft_deadline > 0 && mproc__os_monotonic() >= soft_deadline;
}

typedef struct worker {
    mproc_conn_t *conn; /* the tasks, from the pool */
    mproc_conn_t *out;  /* the results, to the pool */
    volatile mproc__pool_slot_t *slot;
    int maxtasks, tasks;
    size_t max_message;
    mproc_pool_fn fn;
    char *fn_name;
    /* Results not yet sent: closed entries, then the one being filled. */
    mproc__buf_t entries;
    size_t nentries;
    mproc__buf_t values, failures; /* msgpack values; envelope failures */
    size_t nvalues, nfailures;
    uint32_t seq;
    size_t offset;
    double opened;
    double oldest; /* when the oldest unsent result was made; 0: none */
    int open;
} worker;

static int buf_write(void *data, const char *buf, size_t len)
{
    return mproc__buf_append(data, buf, len) == 0 ? 0 : -1;
}

static size_t pending(const worker *w)
{
    return w->entries.len + w->values.len + w->failures.len;
}

static void open_entry(worker *w, uint32_t seq, size_t offset)
{
    w->seq = seq;
    w->offset = offset;
    w->values.len = w->failures.len = 0;
    w->nvalues = w->nfailures = 0;
    w->opened = mproc__os_monotonic();
    w->open = 1;
}

/* The entry being filled joins the closed ones (pool_internal.h). */
static void close_entry(worker *w)
{
    unsigned char head[8];
    mproc__buf_t h = {head, 0, sizeof head};
    msgpack_packer pk;
    mproc__buf_t *e = &w->entries;
    if (!w->open)
        return;
    w->open = 0;
    if (w->nvalues == 0)
        return;
    /* The list's header, into the bytes on the stack (at most 5). */
    msgpack_packer_init(&pk, &h, buf_write);
    msgpack_pack_array(&pk, w->nvalues);
    if (w->nentries == 0)
        e->len = 0;
    /* Room for all of it at once, written in place. */
    if (mproc__buf_reserve(e, MPROC__FRAME_HEADER_SIZE + 5 + 20 +
                                  w->failures.len + 4 + h.len +
                                  w->values.len) == 0) {
        unsigned char *p = e->data + e->len;
        if (w->nentries == 0) {
            /* The frame's header goes there at the send; the count too. */
            p += MPROC__FRAME_HEADER_SIZE;
            p = mproc__wire_put_u8(p, MPROC__POOL_RESULTS);
            p = mproc__wire_put_u32(p, 0);
        }
        p = mproc__wire_put_u32(p, w->seq);
        p = mproc__wire_put_u32(p, (uint32_t) w->offset);
        p = mproc__wire_put_f64(p, mproc__os_monotonic() - w->opened);
        p = mproc__wire_put_u32(p, (uint32_t) w->nfailures);
        p = mproc__wire_put_bytes(p, w->failures.data, w->failures.len);
        p = mproc__wire_put_u32(p, (uint32_t) (h.len + w->values.len));
        p = mproc__wire_put_bytes(p, head, h.len);
        p = mproc__wire_put_bytes(p, w->values.data, w->values.len);
        e->len = (size_t) (p - e->data);
        w->nentries++;
        return;
    }
    /* The message's own head comes first, its count filled in at flush. */
    if (w->nentries == 0) {
        /* After room for the frame's header, which the send fills in. */
        if (mproc__buf_reserve(e, MPROC__FRAME_HEADER_SIZE) == 0)
            e->len = MPROC__FRAME_HEADER_SIZE;
        mproc__wire_u8(e, MPROC__POOL_RESULTS);
        mproc__wire_u32(e, 0);
    }
    mproc__wire_u32(e, w->seq);
    mproc__wire_u32(e, (uint32_t) w->offset);
    mproc__wire_f64(e, mproc__os_monotonic() - w->opened);
    mproc__wire_u32(e, (uint32_t) w->nfailures);
    mproc__buf_append(e, w->failures.data, w->failures.len);
    mproc__wire_u32(e, (uint32_t) (h.len + w->values.len));
    mproc__buf_append(e, head, h.len);
    mproc__buf_append(e, w->values.data, w->values.len);
    w->nentries++;
}

/* Sends the closed entries. */
static int flush(worker *w)
{
    int rc;
    if (w->nentries == 0)
        return 0;
    /*
     * The head is there (close_entry()): room for the frame's header, a
     * u8 kind and this u32.
     */
    if (w->entries.len < MPROC__FRAME_HEADER_SIZE + 5)
        rc = MPROC_ENOMEM;
    else {
        mproc__put_u32(w->entries.data + MPROC__FRAME_HEADER_SIZE + 1,
                       (uint32_t) w->nentries);
        rc = mproc__conn_send_framed(w->out, &w->entries);
    }
    w->entries.len = 0;
    w->nentries = 0;
    w->oldest = 0;
    /* A big batch's buffers are not kept for good. */
    if (w->entries.cap > 4 * FLUSH_BYTES)
        mproc__buf_free(&w->entries);
    return rc;
}

/* Sends what is pending, the entry being filled included, and goes on. */
static int flush_now(worker *w)
{
    uint32_t seq = w->seq;
    size_t at = w->offset + w->nvalues;
    int was_open = w->open, rc;
    close_entry(w);
    rc = flush(w);
    if (was_open)
        open_entry(w, seq, at);
    return rc;
}

static void fail_item(worker *w, int status, const char *sentence)
{
    msgpack_packer pk;
    msgpack_packer_init(&pk, &w->values, buf_write);
    msgpack_pack_nil(&pk);
    mproc__wire_u32(&w->failures, (uint32_t) w->nvalues);
    mproc__wire_u32(&w->failures, (uint32_t) status);
    mproc__wire_str(&w->failures, sentence);
    w->nvalues++;
    w->nfailures++;
}

/* Appends the result @r (freed here), or its failure to be sent. */
static void add_result(worker *w, mproc_value_t *r)
{
    size_t mark = w->values.len, size;
    int rc;
    if (w->oldest == 0)
        w->oldest = mproc__os_monotonic();
    if (r == NULL) {
        msgpack_packer pk;
        msgpack_packer_init(&pk, &w->values, buf_write);
        rc = msgpack_pack_nil(&pk) == 0 ? 0 : MPROC_ENOMEM;
    } else {
        rc = mproc__value_encode_shared(r, &w->values);
    }
    mproc_value_free(r);
    size = w->values.len - mark;
    if (rc == 0 && size + MESSAGE_SLACK > w->max_message) {
        w->values.len = mark;
        rc = mproc__set_error(MPROC_ETOOBIG,
                              "a result of %zu bytes exceeds the pool's "
                              "maximum message of %zu bytes",
                              size, w->max_message);
    }
    if (rc != 0) {
        char sentence[600];
        w->values.len = mark;
        snprintf(sentence, sizeof sentence, "the result cannot be sent: %s",
                 mproc_last_error());
        fail_item(w, rc, sentence);
        return;
    }
    if (pending(w) + MESSAGE_SLACK > w->max_message && w->nvalues > 0) {
        /* Too much for one message: what came before goes first. */
        mproc__buf_t tmp = {0};
        if (mproc__buf_append(&tmp, w->values.data + mark, size) == 0) {
            w->values.len = mark;
            flush_now(w);
            mproc__buf_append(&w->values, tmp.data, tmp.len);
        }
        mproc__buf_free(&tmp);
    }
    w->nvalues++;
}

/* The slot says which item runs now, and since when if that matters. */
static void mark_busy(worker *w, uint32_t seq, size_t i, int limited,
                      double soft)
{
    volatile mproc__pool_slot_t *s = w->slot;
    double now = limited || soft > 0 ? mproc__os_monotonic() : 0;
    if (limited)
        mproc__atomic_store32(&s->version, s->version + 1);
    s->unit = seq;
    s->item = (uint32_t) i;
    s->started = now;
    s->busy = 1;
    if (limited)
        mproc__atomic_store32(&s->version, s->version + 1);
    soft_deadline = soft > 0 ? now + soft : 0;
}

static void mark_idle(worker *w)
{
    w->slot->busy = 0;
    soft_deadline = 0;
}

typedef mproc__wire_tasks_t batch;

/* Whether the message's item @at (among all) is not to run. */
static int skipped(const batch *b, size_t at)
{
    uint32_t s;
    for (s = 0; s < b->nskips; s++)
        if (b->skips[s] == at)
            return 1;
    return 0;
}

/*
 * Runs the @n items of a unit, the message's items from @first on (the
 * next ones of its reader), each result or failure into the entry being
 * filled.
 */
static void run_unit(worker *w, batch *b, size_t first, size_t n, uint32_t seq)
{
    jmp_buf env;
    volatile size_t i = 0;
    open_entry(w, seq, 0);
    /* A raise in a call comes back here: that item failed, the next runs. */
    if (setjmp(env) != 0) {
        mark_idle(w);
        fail_item(w, raised_status, raised_msg);
        i++;
    }
    while (i < n) {
        const mproc_value_t *item, *args;
        mproc_value_t *r;
        /* The item stays the reader's: a raise leaves nothing to free. */
        int rc = mproc__value_reader_next(&b->items, &item);
        if (b->nskips > 0 && skipped(b, first + i)) {
            /* Failed in the pool before it was sent: its answer is known. */
            fail_item(w, MPROC_ETYPE, "not sent");
            i++;
            continue;
        }
        if (rc != 0) {
            char sentence[600];
            snprintf(sentence, sizeof sentence,
                     "the item cannot be read in the worker: %s",
                     mproc_last_error());
            fail_item(w, rc, sentence);
            i++;
            continue;
        }
        args = b->wrap ? mproc__value_one_list(item) : item;
        mark_busy(w, seq, i, b->limited, b->soft);
        task_env = &env;
        r = w->fn(args);
        task_env = NULL;
        add_result(w, r);
        mark_idle(w);
        i++;
        if ((n <= CHECK_EVERY || i % CHECK_EVERY == 0) && w->oldest > 0 &&
            (pending(w) >= FLUSH_BYTES ||
             mproc__os_monotonic() - w->oldest >= FLUSH_AGE))
            flush_now(w);
    }
    close_entry(w);
}

/* A unit whose pool target is not known here: each item fails. */
static void fail_unit(worker *w, size_t n, uint32_t seq, batch *b)
{
    char sentence[400];
    const mproc_value_t *item;
    size_t i;
    snprintf(sentence, sizeof sentence,
             "pool target '%.*s' is not registered in the worker",
             (int) (b->fn_len < 256 ? b->fn_len : 256), b->fn);
    open_entry(w, seq, 0);
    for (i = 0; i < n; i++) {
        /* Read past, so that the next unit reads its own items. */
        mproc__value_reader_next(&b->items, &item);
        fail_item(w, MPROC_ENOTREG, sentence);
    }
    close_entry(w);
}

/* Runs a TASKS message; 1 when the worker has run its last task. */
static int run_batch(worker *w, const void *data, size_t len)
{
    batch b;
    size_t first = 0;
    uint32_t k;
    int last = 0;
    if (mproc__wire_read_tasks(&b, data, len) != 0)
        return 0; /* not the pool's: ignored */
    /* The last batch's function, most likely this one's too. */
    if (w->fn_name == NULL || strlen(w->fn_name) != b.fn_len ||
        memcmp(w->fn_name, b.fn, b.fn_len) != 0) {
        free(w->fn_name);
        w->fn_name = malloc(b.fn_len + 1);
        if (w->fn_name != NULL) {
            memcpy(w->fn_name, b.fn, b.fn_len);
            w->fn_name[b.fn_len] = '\0';
        }
        w->fn = w->fn_name != NULL ? mproc__pool_target_find(w->fn_name) : NULL;
    }
    for (k = 0; k < b.nunits && !last; k++) {
        if (w->fn != NULL)
            run_unit(w, &b, first, b.counts[k], b.seq + k);
        else
            fail_unit(w, b.counts[k], b.seq + k, &b);
        first += b.counts[k];
        /* A chunk is one task, as in Python. */
        if (w->maxtasks > 0 && ++w->tasks >= w->maxtasks)
            last = 1;
    }
    mproc__wire_tasks_free(&b);
    return last;
}

static int send_simple(worker *w, int kind, int status, const char *sentence)
{
    mproc__buf_t msg = {0};
    int rc = mproc__wire_u8(&msg, (unsigned) kind);
    if (rc == 0 && sentence != NULL) {
        rc = mproc__wire_u32(&msg, (uint32_t) status);
        if (rc == 0)
            rc = mproc__wire_str(&msg, sentence);
    }
    if (rc == 0)
        rc = mproc_conn_send_bytes(w->out, msg.data, msg.len);
    mproc__buf_free(&msg);
    return rc;
}

/* Runs the initializer; 0, or -1 once its failure has been told. */
static int run_initializer(worker *w, const char *name,
                           const mproc_value_t *initargs)
{
    jmp_buf env;
    mproc_target_fn fn = mproc__target_find(name);
    if (fn == NULL) {
        char sentence[400];
        snprintf(sentence, sizeof sentence,
                 "target '%s' is not registered in the worker", name);
        send_simple(w, MPROC__POOL_INITFAIL, MPROC_ENOTREG, sentence);
        return -1;
    }
    if (setjmp(env) != 0) {
        send_simple(w, MPROC__POOL_INITFAIL, raised_status, raised_msg);
        return -1;
    }
    task_env = &env;
    fn(initargs);
    task_env = NULL;
    return 0;
}

/*
 * Waits until a message comes or the pool's process has gone: 1 for a
 * message (or anything to read, the end included), 0 once the pool is gone.
 */
static int pool_still_there(worker *w)
{
    mproc_waitable_t items[2];
    if (mproc__stream_ready(&w->conn->in))
        return 1;
    memset(items, 0, sizeof items);
    items[0].conn = w->conn;
    items[1].process = mproc_parent_process();
    if (items[1].process == NULL)
        return 1;
    if (mproc_wait(items, 2, MPROC_FOREVER) < 0)
        return 1;
    return items[0].ready || !items[1].ready;
}

void mproc__pool_worker_main(const mproc_value_t *args)
{
    worker w;
    mproc_shm_t *shm;
    const mproc_value_t *init, *initargs;
    int slot, done = 0, watch;

    memset(&w, 0, sizeof w);
    if (mproc_unpack(args, "PPMiivv", &w.conn, &w.out, &shm, &slot, &w.maxtasks,
                     &init, &initargs) < 0)
        mproc_raise_last();
    w.slot = (volatile mproc__pool_slot_t *) mproc_shm_buf(shm) + slot;
    w.max_message = w.conn->opts.codec.max_message;
    mproc__os_conn_capacity(w.out->os, PIPE_WANT);
    if (mproc_value_type(init) == MPROC_VALUE_STR &&
        run_initializer(&w, mproc_value_as_str(init), initargs) != 0)
        mproc_exit(1);
    if (send_simple(&w, MPROC__POOL_HELLO, 0, NULL) != 0)
        return;
    /*
     * A fork child holds copies of its parent's ends of the pipes, its own
     * pipe's among them, so the end of the pool does not close its pipe:
     * it watches the pool's process instead. Other workers start with no
     * such copy, and their pipe's end is the pool's end.
     */
    watch = mproc_get_start_method() == MPROC_START_FORK;
    while (!done) {
        void *m = NULL;
        size_t len = 0;
        int rc;
        /*
         * About to wait for the next message: what is done goes first. A
         * message read already (the pool sent several) runs first, as one
         * batch of results is cheaper than several.
         */
        if (w.nentries > 0 && !mproc__stream_ready(&w.conn->in) &&
            flush(&w) != 0)
            break;
        if (watch && !pool_still_there(&w))
            break;
        rc = mproc_conn_recv_bytes(w.conn, &m, &len);
        if (rc == MPROC_ECLOSED)
            break; /* the pool has gone */
        if (rc != 0)
            continue;
        switch (len > 0 ? *(unsigned char *) m : 0) {
        case MPROC__POOL_STOP:
            done = 1;
            break;
        case MPROC__POOL_TASKS:
            done = run_batch(&w, m, len);
            break;
        default:
            break;
        }
        free(m);
    }
    flush(&w);
    mproc__buf_free(&w.entries);
    mproc__buf_free(&w.values);
    mproc__buf_free(&w.failures);
    free(w.fn_name);
}
MPROC__ON_LOAD(mproc__register_pool_worker_,
               mproc_register_target(MPROC__POOL_WORKER_TARGET,
                                     mproc__pool_worker_main))
