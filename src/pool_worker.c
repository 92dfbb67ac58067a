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
    mproc_conn_t *conn;
    volatile mproc__pool_slot_t *slot;
    int maxtasks, tasks;
    size_t max_message;
    mproc_pool_fn fn;
    char *fn_name;
    /* Results not yet sent: closed entries, then the one being filled. */
    mproc__buf_t entries;
    size_t nentries;
    mproc__buf_t values, failures;
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

/* The entry being filled joins the closed ones: [seq, offset, ...]. */
static void close_entry(worker *w)
{
    msgpack_packer pk;
    if (!w->open)
        return;
    w->open = 0;
    if (w->nvalues == 0)
        return;
    msgpack_packer_init(&pk, &w->entries, buf_write);
    msgpack_pack_array(&pk, 5);
    msgpack_pack_uint32(&pk, w->seq);
    msgpack_pack_uint64(&pk, w->offset);
    msgpack_pack_array(&pk, w->nvalues);
    mproc__buf_append(&w->entries, w->values.data, w->values.len);
    msgpack_pack_array(&pk, w->nfailures);
    mproc__buf_append(&w->entries, w->failures.data, w->failures.len);
    msgpack_pack_double(&pk, mproc__os_monotonic() - w->opened);
    w->nentries++;
}

/* Sends the closed entries. */
static int flush(worker *w)
{
    mproc__buf_t msg = {0};
    msgpack_packer pk;
    int rc;
    if (w->nentries == 0)
        return 0;
    msgpack_packer_init(&pk, &msg, buf_write);
    msgpack_pack_array(&pk, 2);
    msgpack_pack_int(&pk, MPROC__POOL_RESULTS);
    msgpack_pack_array(&pk, w->nentries);
    rc = mproc__buf_append(&msg, w->entries.data, w->entries.len);
    if (rc == 0)
        rc = mproc_conn_send_bytes(w->conn, msg.data, msg.len);
    mproc__buf_free(&msg);
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
    size_t len = strlen(sentence);
    msgpack_packer_init(&pk, &w->values, buf_write);
    msgpack_pack_nil(&pk);
    msgpack_packer_init(&pk, &w->failures, buf_write);
    msgpack_pack_array(&pk, 3);
    msgpack_pack_uint64(&pk, w->nvalues);
    msgpack_pack_int(&pk, status);
    msgpack_pack_str(&pk, len);
    msgpack_pack_str_body(&pk, sentence, len);
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

/*
 * Runs the items of unit @unit (a list of argument lists, nil for one not
 * to run), each result or failure into the entry being filled.
 */
static void run_unit(worker *w, const mproc_value_t *unit, uint32_t seq,
                     int limited, double soft)
{
    jmp_buf env;
    volatile size_t i = 0;
    size_t n = mproc_value_len(unit);
    open_entry(w, seq, 0);
    /* A raise in a call comes back here: that item failed, the next runs. */
    if (setjmp(env) != 0) {
        mark_idle(w);
        fail_item(w, raised_status, raised_msg);
        i++;
    }
    while (i < n) {
        const mproc_value_t *args = mproc_value_at(unit, i);
        mproc_value_t *r;
        if (mproc_value_type(args) != MPROC_VALUE_LIST) {
            /* Failed in the pool before it was sent: its answer is known. */
            fail_item(w, MPROC_ETYPE, "not sent");
            i++;
            continue;
        }
        mark_busy(w, seq, i, limited, soft);
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
static void fail_unit(worker *w, const mproc_value_t *unit, uint32_t seq,
                      const char *name)
{
    char sentence[400];
    size_t i, n = mproc_value_len(unit);
    snprintf(sentence, sizeof sentence,
             "pool target '%s' is not registered in the worker", name);
    open_entry(w, seq, 0);
    for (i = 0; i < n; i++)
        fail_item(w, MPROC_ENOTREG, sentence);
    close_entry(w);
}

/*
 * A TASKS message: [TASKS, fn, soft, limited, seq, units].
 * @return 1 when the worker has run its last task (maxtasksperchild).
 */
static int run_batch(worker *w, const mproc_value_t *m)
{
    const char *name = mproc_value_as_str(mproc_value_at(m, 1));
    double soft = mproc_value_as_float(mproc_value_at(m, 2));
    int limited = mproc_value_as_bool(mproc_value_at(m, 3));
    uint32_t seq = (uint32_t) mproc_value_as_int(mproc_value_at(m, 4));
    const mproc_value_t *units = mproc_value_at(m, 5);
    size_t k;
    if (name == NULL)
        return 0;
    if (w->fn_name == NULL || strcmp(w->fn_name, name) != 0) {
        free(w->fn_name);
        w->fn_name = mproc__strdup(name);
        w->fn = mproc__pool_target_find(name);
    }
    for (k = 0; k < mproc_value_len(units); k++) {
        const mproc_value_t *u = mproc_value_at(units, k);
        if (w->fn != NULL)
            run_unit(w, u, seq + (uint32_t) k, limited, soft);
        else
            fail_unit(w, u, seq + (uint32_t) k, name);
        /* A chunk is one task, as in Python. */
        if (w->maxtasks > 0 && ++w->tasks >= w->maxtasks)
            return 1;
    }
    return 0;
}

static int send_simple(worker *w, int kind, int status, const char *sentence)
{
    mproc__buf_t msg = {0};
    msgpack_packer pk;
    int rc;
    msgpack_packer_init(&pk, &msg, buf_write);
    msgpack_pack_array(&pk, sentence != NULL ? 3 : 1);
    msgpack_pack_int(&pk, kind);
    if (sentence != NULL) {
        size_t len = strlen(sentence);
        msgpack_pack_int(&pk, status);
        msgpack_pack_str(&pk, len);
        msgpack_pack_str_body(&pk, sentence, len);
    }
    rc = msg.data != NULL ? mproc_conn_send_bytes(w->conn, msg.data, msg.len)
                          : MPROC_ENOMEM;
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

void mproc__pool_worker_main(const mproc_value_t *args)
{
    worker w;
    mproc_shm_t *shm;
    const mproc_value_t *init, *initargs;
    int slot, done = 0;

    memset(&w, 0, sizeof w);
    if (mproc_unpack(args, "PMiivv", &w.conn, &shm, &slot, &w.maxtasks, &init,
                     &initargs) < 0)
        mproc_raise_last();
    w.slot = (volatile mproc__pool_slot_t *) mproc_shm_buf(shm) + slot;
    w.max_message = w.conn->opts.codec.max_message;
    mproc__os_conn_capacity(w.conn->os, PIPE_WANT);
    if (mproc_value_type(init) == MPROC_VALUE_STR &&
        run_initializer(&w, mproc_value_as_str(init), initargs) != 0)
        mproc_exit(1);
    if (send_simple(&w, MPROC__POOL_HELLO, 0, NULL) != 0)
        return;
    while (!done) {
        mproc_value_t *m = NULL;
        int rc;
        /* About to wait: what is done goes first. */
        if (w.nentries > 0 && mproc_conn_poll(w.conn, 0) != 0 && flush(&w) != 0)
            break;
        rc = mproc_conn_recv(w.conn, &m);
        if (rc == MPROC_ECLOSED)
            break; /* the pool has gone */
        if (rc != 0)
            continue;
        switch ((int) mproc_value_as_int(mproc_value_at(m, 0))) {
        case MPROC__POOL_STOP:
            done = 1;
            break;
        case MPROC__POOL_TASKS:
            done = run_batch(&w, m);
            break;
        default:
            break;
        }
        mproc_value_free(m);
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
