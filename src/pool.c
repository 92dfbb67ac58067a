/*
 * The process pool (Python's multiprocessing.pool.Pool): its workers and
 * the driver that feeds them, reads their results and replaces them.
 *
 * Transport. Each worker has a duplex pipe of its own, rather than one
 * task queue and one result queue that all workers share as Python's do.
 * That choice is what makes a lost worker exact: the pool knows which
 * units (chunks) it sent to which worker, and a worker answers its units
 * in order, so when a worker dies, what it had and had not answered is
 * known without asking anyone. A shared queue cannot tell (a task taken
 * from it is anonymous), and a worker killed while it holds a shared
 * queue's lock stops every other worker (python/cpython#96062). The price
 * is that the pool balances the load itself: it keeps each worker a
 * little work ahead, as much as about 2 ms of it by the time the items of
 * that function have been seen to take, and one unit while that is not
 * known, so that slow tasks are handed out one at a time as a shared
 * queue would.
 *
 * Which item a dead worker was running is in its slot of a block of
 * shared memory (pool_internal.h): results travel in batches, so the
 * first unanswered item is not necessarily the one that was running. The
 * items it had finished whose results had not left yet run again
 * elsewhere; the one it was running fails alone with MPROC_EWORKERLOST
 * (or MPROC_ETIMEDOUT if the pool killed it for its time limit).
 *
 * Writes never block the driver: every pipe takes some bytes while its
 * reader reads none (mproc__os_conn_capacity), and the pool keeps what it
 * has sent and not seen answered within that, except for a batch to a
 * worker that has nothing at all, which is reading. So a worker stuck
 * writing results to a pool that is writing tasks to it cannot happen.
 *
 * Threads. A pool has a thread of its own, which drives it (waits for the
 * workers' pipes and processes, reads results, sends tasks, starts
 * replacements, enforces time limits, runs callbacks) whenever there is
 * work and no caller drives. A caller that waits for a result drives
 * itself instead, so that a result's way back is the worker's write and
 * the caller's read, as in a raw pipe round trip, with no thread between:
 * it takes the lead (the pool's thread, asked over a wake-up pipe, lets
 * go) and gives it back when its result is there. One thread drives at a
 * time: only the driver reads the pipes and removes workers, while any
 * thread may send tasks, all under the pool's lock.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_allocator.h>
#include <apr_pools.h>
#include <apr_thread_cond.h>
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <msgpack.h>

#include "atomic.h"
#include "conn_internal.h"
#include "pool_internal.h"
#include "registry.h"

/* The pipe size asked for in each direction (the OS may give less). */
#define PIPE_WANT ((size_t) 256 * 1024)
/* A batch of tasks grows to about this many bytes, or units. */
#define BATCH_BYTES ((size_t) 64 * 1024)
#define BATCH_UNITS 4096
/* The work, in seconds by the estimate, kept queued for each worker. */
#define QUEUE_TIME 0.002
/* How long terminated workers have before they are killed. */
#define TERMINATE_GRACE 0.5
/*
 * The pool's thread, after it last had work, looks every NAP seconds for
 * a while (LINGER) before it parks: a caller that submits calls in a row
 * and waits for each need not wake it, and a call that nobody waits for is
 * taken up within NAP. Woken from its park, it naps once first, which
 * leaves a caller about to wait the moment to take the lead itself.
 */
#define NAP 0.001
#define LINGER 0.05
/* How long a driver that waits for a caller's result looks before it sleeps. */
#define SPIN 0.00005
/* After a failed start of a worker, when to try again. */
#define RETRY_START 0.1
/* Deaths before a worker was ready, in a row, that break a pool. */
#define MAX_EARLY_DEATHS 3
/* Reads of one pipe in one round, so that one worker cannot starve others. */
#define MAX_READS 16

/* ---- the structures -------------------------------------------------------
 */

/* A unit (a chunk of items) sent to a worker and not yet all answered. */
typedef struct unit {
    mproc__pool_job_t *job;
    size_t first;    /* the index of its first item */
    size_t n;        /* its items, first to first + n - 1 */
    size_t answered; /* the answered ones: always the first ones */
    uint32_t seq;
    int redo;     /* an item sent again, alone */
    size_t bytes; /* pipe bytes that its first answer frees */
} unit;

enum {
    W_STARTING = 0, /* started, not yet ready */
    W_READY,
    W_RETIRING, /* had its last task (maxtasksperchild); ends by itself */
    W_STOPPING, /* was told to stop */
    W_LOST      /* a write failed: its end is awaited */
};

struct mproc__pool_worker {
    mproc_process_t *proc;
    mproc_conn_t *conn; /* the results, from the worker */
    mproc_conn_t *tx;   /* the tasks, to the worker */
    long pid;
    int slot;
    int state;
    unit *units; /* a ring of count units from head */
    size_t head, count, cap;
    uint32_t next_seq;
    size_t items_out; /* items sent and not answered */
    size_t bytes_out; /* bytes sent, at most capacity (see above) */
    size_t capacity;
    int tasks_sent;
    int conn_ended;
    int ready_conn, ready_proc;
    /* Killed for a time limit: which item, and the limit. */
    int killed;
    uint32_t killed_unit, killed_item;
    double killed_limit;
    mproc__pool_worker_t *next;
};

enum { POOL_RUN = 0, POOL_CLOSED, POOL_TERMINATED };
enum { DRIVER_NONE = 0, DRIVER_THREAD, DRIVER_CALLER, DRIVER_TERMINATE };

/* Seconds per item, learnt per pool target, for the first units of a job. */
#define ESTIMATES 8

struct mproc_pool_t {
    apr_allocator_t *allocator;
    apr_pool_t *apool;
    apr_thread_mutex_t *mu;
    apr_thread_cond_t *cond;    /* callers wait for results or the lead */
    apr_thread_cond_t *bg_cond; /* the pool's thread waits for work */
    int waiters;                /* callers waiting on cond */
    int bg_parked;              /* the thread waits on bg_cond with no end */
    apr_thread_t *thread;
    int thread_running;
    int thread_stop;

    int processes;
    int maxtasks;
    mproc_start_method_e method;
    const char *class_name;
    const char *init_name; /* the registry's */
    mproc_value_t *initargs;
    double time_limit, soft_limit;
    mproc_codec_opts_t codec;

    mproc_shm_t *shm;
    mproc__pool_slot_t *slots;
    unsigned char *slot_used;
    int nslots;

    mproc__pool_worker_t *workers;
    mproc__pool_job_t *jobs, *jobs_tail; /* not yet over, in order */
    mproc__pool_job_t *all;              /* every job that refers to the pool */
    /* A batch of tasks is built here (under the lock), reused. */
    mproc__buf_t tx_items, tx_counts, tx_skips, tx_msg;
    /* The items of a big call that has ended, for the next one. */
    mproc__pool_item_t *spare_items;
    size_t spare_cap;
    /* What the driver waits for, reused round after round. */
    mproc_waitable_t *wait_items;
    mproc__pool_worker_t **wait_who;
    size_t wait_cap;
    int state;
    int creating;
    int early_deaths;
    int broken; /* a status: the pool cannot run calls any more */
    char *broken_msg;
    int driver;
    int lead_wanted;
    mproc_conn_t *wake_r, *wake_w;
    int wake_pending;
    double retry_at;
    uint64_t serial; /* calls submitted so far */
    const char *est_fn[ESTIMATES];
    double est[ESTIMATES];
    unsigned est_next;
    mproc_finalizer_t *finalizer;
    int joined;
    long creator; /* the process that made the pool */
};

/* The pool the calling thread drives now (its callbacks run then). */
static MPROC__TLS mproc_pool_t *driving;

/* ---- small things ---------------------------------------------------------
 */

void mproc__pool_lock(mproc_pool_t *p)
{
    apr_thread_mutex_lock(p->mu);
}

void mproc__pool_unlock(mproc_pool_t *p)
{
    apr_thread_mutex_unlock(p->mu);
}

double mproc__pool_time_limit(const mproc_pool_t *p)
{
    return p->time_limit;
}

double mproc__pool_soft_limit(const mproc_pool_t *p)
{
    return p->soft_limit;
}

int mproc__pool_size(const mproc_pool_t *p)
{
    return p->processes;
}

int mproc_pool_processes(const mproc_pool_t *pool)
{
    return pool != NULL ? pool->processes : 0;
}

int mproc__pool_ours(const mproc_pool_t *p)
{
    /*
     * A fork child has a copy of its parent's pool, whose lock another
     * thread may have held at the fork and whose workers are the parent's
     * children: it must not touch either.
     */
    if (p->creator != mproc__os_getpid())
        return mproc__set_error(MPROC_ENOTCHILD,
                                "a pool belongs to the process that made it "
                                "(pid %ld): a fork child cannot use its copy",
                                p->creator);
    return 0;
}

static void wait_on(apr_thread_cond_t *c, apr_thread_mutex_t *mu,
                    double seconds)
{
    if (seconds < 0)
        apr_thread_cond_wait(c, mu);
    else
        apr_thread_cond_timedwait(c, mu,
                                  (apr_interval_time_t) (seconds * 1e6) + 1);
}

/* A caller waits for a result, the lead or the driver's end. */
static void cond_wait(mproc_pool_t *p, double seconds)
{
    p->waiters++;
    wait_on(p->cond, p->mu, seconds);
    p->waiters--;
}

/* Wakes the callers that wait (the state changed). */
static void broadcast(mproc_pool_t *p)
{
    if (p->waiters > 0)
        apr_thread_cond_broadcast(p->cond);
}

/* Wakes the pool's thread if it is parked (a napping one looks itself). */
static void bg_wake(mproc_pool_t *p)
{
    if (p->bg_parked)
        apr_thread_cond_signal(p->bg_cond);
}

/* msgpack's writer into a growable buffer. */
static int buf_write(void *data, const char *buf, size_t len)
{
    return mproc__buf_append(data, buf, len) == 0 ? 0 : -1;
}

/* Makes the driver's wait return, once however often it is asked. */
static void wake(mproc_pool_t *p)
{
    if (!p->wake_pending && mproc_conn_send_bytes(p->wake_w, "", 0) == 0)
        p->wake_pending = 1;
}

void mproc__pool_kick(mproc_pool_t *p)
{
    if (p->driver == DRIVER_NONE)
        bg_wake(p);
    else if (driving != p && p->driver != DRIVER_TERMINATE)
        wake(p);
}

/* "item 3 of a map of 'square'", for sentences. */
static void describe_item(const mproc__pool_job_t *j, size_t i, char *buf,
                          size_t cap)
{
    const char *what = j->kind == MPROC__JOB_IMAP      ? "an imap"
                       : j->kind == MPROC__JOB_IMAP_UN ? "an imap_unordered"
                       : j->star                       ? "a starmap"
                                                       : "a map";
    if (j->kind == MPROC__JOB_APPLY)
        snprintf(buf, cap, "the call of '%s'", j->fn_name);
    else
        snprintf(buf, cap, "item %zu of %s of '%s'", i, what, j->fn_name);
}

/* ---- estimates ------------------------------------------------------------
 */

static double estimate_of(const mproc_pool_t *p, const char *fn)
{
    int i;
    for (i = 0; i < ESTIMATES; i++)
        if (p->est_fn[i] == fn)
            return p->est[i];
    return 0;
}

static void learn(mproc_pool_t *p, mproc__pool_job_t *j, double per_item)
{
    int i;
    /* A moving average: recent items count most, one odd item little. */
    j->estimate =
        j->estimate > 0 ? 0.75 * j->estimate + 0.25 * per_item : per_item;
    for (i = 0; i < ESTIMATES; i++)
        if (p->est_fn[i] == j->fn_name) {
            p->est[i] = j->estimate;
            return;
        }
    i = (int) (p->est_next++ % ESTIMATES);
    p->est_fn[i] = j->fn_name;
    p->est[i] = j->estimate;
}

/* ---- jobs in the pool -----------------------------------------------------
 */

static void link_job(mproc_pool_t *p, mproc__pool_job_t *j)
{
    j->next_job = NULL;
    if (p->jobs_tail != NULL)
        p->jobs_tail->next_job = j;
    else
        p->jobs = j;
    p->jobs_tail = j;
    j->refs++;
}

/*
 * Drops @j from the pool's list once it is over and no worker has any of
 * its units: nothing of the pool refers to it then.
 */
static void unlink_if_over(mproc_pool_t *p, mproc__pool_job_t *j)
{
    mproc__pool_job_t *prev = NULL, *k;
    if (j->state != MPROC__JOB_READY || j->units_out > 0 || j->pulling)
        return;
    for (k = p->jobs; k != NULL && k != j; k = k->next_job)
        prev = k;
    if (k == NULL)
        return;
    if (prev != NULL)
        prev->next_job = j->next_job;
    else
        p->jobs = j->next_job;
    if (p->jobs_tail == j)
        p->jobs_tail = prev;
    j->next_job = NULL;
    mproc__job_release(j);
}

/* Every call not yet over fails with @status. */
static void fail_all(mproc_pool_t *p, int status, const char *sentence)
{
    mproc__pool_job_t *j;
    for (j = p->jobs; j != NULL; j = j->next_job)
        if (j->state == MPROC__JOB_RUNNING)
            mproc__job_finish(j, status, sentence);
}

static void set_broken(mproc_pool_t *p, int status, const char *fmt, ...)
    MPROC_PRINTF(3, 4);

static void set_broken(mproc_pool_t *p, int status, const char *fmt, ...)
{
    char buf[512];
    va_list ap;
    if (p->broken)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    p->broken = status;
    p->broken_msg = mproc__strdup(buf);
    fail_all(p, status, buf);
}

/*
 * Runs what is due in the calling process, the lock let go around each:
 * progress callbacks, then the callbacks of calls that are over; then
 * the call is ready for its waiters.
 */
static void run_callbacks(mproc_pool_t *p)
{
    for (;;) {
        mproc__pool_job_t *j;
        for (j = p->jobs; j != NULL; j = j->next_job)
            if (j->progress_due || j->state == MPROC__JOB_FINISHING)
                break;
        if (j == NULL)
            return;
        j->refs++; /* it stays while the lock is let go */
        if (j->state == MPROC__JOB_FINISHING) {
            /* The last progress call, which shows the whole, then the end. */
            size_t done = j->done, failed = j->failed, total = j->total;
            int status = j->status, progress = j->opts.progress != NULL;
            j->progress_due = 0;
            mproc__pool_unlock(p);
            if (progress)
                j->opts.progress(j->opts.arg, done, total, failed);
            if (status == 0 && j->opts.callback != NULL)
                j->opts.callback(j->opts.arg, j->value);
            else if (status != 0 && j->opts.error_callback != NULL)
                j->opts.error_callback(j->opts.arg, status,
                                       j->error ? j->error : "");
            mproc__pool_lock(p);
            j->state = MPROC__JOB_READY;
            broadcast(p);
        } else {
            size_t done = j->done, failed = j->failed, total = j->total;
            j->progress_due = 0;
            j->in_callback = 1;
            mproc__pool_unlock(p);
            j->opts.progress(j->opts.arg, done, total, failed);
            mproc__pool_lock(p);
            j->in_callback = 0;
            broadcast(p);
        }
        unlink_if_over(p, j);
        mproc__job_release(j);
    }
}

/* ---- workers -------------------------------------------------------------
 */

static int take_slot(mproc_pool_t *p)
{
    int i;
    for (i = 0; i < p->nslots; i++)
        if (!p->slot_used[i]) {
            p->slot_used[i] = 1;
            memset((void *) &p->slots[i], 0, sizeof p->slots[i]);
            return i;
        }
    return -1;
}

/* The workers that are or will be ready for tasks. */
static int active(const mproc_pool_t *p)
{
    const mproc__pool_worker_t *w;
    int n = 0;
    for (w = p->workers; w != NULL; w = w->next)
        if (w->state == W_STARTING || w->state == W_READY ||
            (w->state == W_RETIRING && w->count > 0))
            n++;
    return n;
}

static void free_worker(mproc__pool_worker_t *w)
{
    if (w == NULL)
        return;
    mproc_conn_close(w->conn);
    mproc_conn_close(w->tx);
    if (w->proc != NULL) {
        mproc_process_join(w->proc, MPROC_FOREVER);
        mproc_process_destroy(w->proc);
    }
    free(w->units);
    free(w);
}

/*
 * Starts a worker in slot @slot, without the lock: its pipe, its process
 * (a daemon, as Python's are), with the pool's end grown. *@out is
 * STARTING until it says hello.
 */
static int start_worker(mproc_pool_t *p, int slot, mproc__pool_worker_t **out)
{
    mproc_process_opts_t po = {0};
    mproc__pool_worker_t *w;
    mproc_conn_t *mine = NULL, *theirs = NULL, *tx = NULL, *rx = NULL;
    mproc_conn_opts_t co = {0};
    mproc_value_t *args;
    int rc;

    *out = NULL;
    w = calloc(1, sizeof *w);
    if (w == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    co.codec = p->codec;
    /*
     * Two one-way pipes, the tasks' and the results': a round trip over
     * pipes costs about half of one over a duplex socket.
     */
    rc = mproc_pipe(&mine, &theirs, 0, &co);
    if (rc == 0 && (rc = mproc_pipe(&rx, &tx, 0, &co)) != 0) {
        mproc_conn_close(mine);
        mproc_conn_close(theirs);
    }
    if (rc != 0) {
        free(w);
        return rc;
    }
    w->conn = mine;
    w->tx = tx;
    w->slot = slot;
    w->capacity = mproc__os_conn_capacity(tx->os, PIPE_WANT);
    args = mproc_pack("PPMiivV", rx, theirs, p->shm, slot, p->maxtasks,
                      p->init_name != NULL ? mproc_value_str(p->init_name)
                                           : mproc_value_nil(),
                      p->initargs);
    po.fn = mproc__pool_worker_main;
    po.class_name = p->class_name;
    po.daemon = MPROC_DAEMON_YES;
    po.method = p->method;
    rc = args != NULL ? mproc_spawn(&w->proc, &po, args)
                      : mproc__pack_take_failure();
    if (rc == 0 && w->proc == NULL)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    /* The worker has its own copies now (or there is no worker). */
    mproc_conn_close(rx);
    mproc_conn_close(theirs);
    if (rc != 0) {
        w->proc = NULL;
        free_worker(w);
        return rc;
    }
    w->pid = mproc_process_pid(w->proc);
    w->state = W_STARTING;
    *out = w;
    return 0;
}

/* Starts workers until the pool has its number, unless it may not. */
static void maintain(mproc_pool_t *p)
{
    mproc__pool_worker_t *w;
    if (p->state == POOL_TERMINATED)
        return;
    /* Closed and done: each worker is told to end. */
    if (p->state == POOL_CLOSED && p->jobs == NULL) {
        static const unsigned char stop[] = {MPROC__POOL_STOP};
        for (w = p->workers; w != NULL; w = w->next)
            if (w->state == W_READY || w->state == W_STARTING)
                w->state = mproc_conn_send_bytes(w->tx, stop, sizeof stop) == 0
                               ? W_STOPPING
                               : W_LOST;
        return;
    }
    while (!p->broken && active(p) < p->processes &&
           (p->state == POOL_RUN || p->jobs != NULL) &&
           mproc__os_monotonic() >= p->retry_at) {
        int slot = take_slot(p), rc;
        if (slot < 0)
            return; /* every slot waits for its dead worker's reaping */
        mproc__pool_unlock(p);
        rc = start_worker(p, slot, &w);
        mproc__pool_lock(p);
        if (rc != 0) {
            p->slot_used[slot] = 0;
            p->retry_at = mproc__os_monotonic() + RETRY_START;
            /* With no worker at all, nothing could run the calls. */
            if (p->workers == NULL)
                set_broken(p, rc, "the pool cannot start a worker: %s",
                           mproc_last_error());
            return;
        }
        w->next = p->workers;
        p->workers = w;
    }
}

/* ---- dispatch -------------------------------------------------------------
 */

/* Room for @used + @more units, keeping the first @used (from head). */
static int ring_reserve(mproc__pool_worker_t *w, size_t used, size_t more)
{
    size_t cap = w->cap ? w->cap : 16, i;
    unit *u;
    if (used + more <= w->cap)
        return 0;
    while (cap < used + more)
        cap *= 2;
    u = malloc(cap * sizeof *u);
    if (u == NULL)
        return MPROC_ENOMEM;
    for (i = 0; i < used; i++)
        u[i] = w->units[(w->head + i) % w->cap];
    free(w->units);
    w->units = u;
    w->head = 0;
    w->cap = cap;
    return 0;
}

static unit *unit_at(mproc__pool_worker_t *w, size_t i)
{
    return &w->units[(w->head + i) % w->cap];
}

/*
 * Whether @w, with @planned items more on their way, may have another
 * unit of @j's by the queue time rule: a worker with nothing may have one,
 * and one with less than QUEUE_TIME of work by the estimate another, so
 * that the next unit is there when it finishes one.
 */
static int fits_window(const mproc__pool_worker_t *w,
                       const mproc__pool_job_t *j, size_t planned)
{
    if (w->items_out + planned == 0)
        return 1;
    if (j->estimate <= 0)
        return 0; /* unknown: one unit at a time */
    return (double) (w->items_out + planned) * j->estimate <= QUEUE_TIME;
}

static int may_send(const mproc_pool_t *p, const mproc__pool_worker_t *w)
{
    return w->state == W_READY && w->bytes_out < w->capacity &&
           (p->maxtasks == 0 || w->tasks_sent < p->maxtasks);
}

/* Whether @j has an item to send: one to send again, or a new one. */
static int has_sendable(mproc__pool_job_t *j)
{
    if (j->state != MPROC__JOB_RUNNING)
        return 0;
    if (j->nredo > 0)
        return 1;
    while (j->next < j->n &&
           mproc__job_item(j, j->next)->state != MPROC__ITEM_WAITING)
        j->next++; /* failed before they were sent */
    return j->next < j->n;
}

/*
 * The next unit of @j: an item to send again (alone), or up to chunksize
 * new items in a row. 0 if there is none.
 */
static size_t next_unit(mproc__pool_job_t *j, size_t *first, int *redo)
{
    size_t n = 0;
    if (j->nredo > 0) {
        *first = j->redo[--j->nredo];
        *redo = 1;
        return 1;
    }
    *redo = 0;
    *first = j->next;
    while (n < j->chunksize && j->next < j->n) {
        j->next++;
        n++;
    }
    return n;
}

/*
 * Puts back a unit that next_unit() gave and that was not sent, newest
 * first: new items are taken in a row, so the oldest one's first item is
 * where the next one starts again.
 */
static void put_back(mproc__pool_job_t *j, size_t first, int redo)
{
    if (redo)
        j->redo[j->nredo++] = first;
    else
        j->next = first;
}

/*
 * Item @i as it travels: the item itself (map) or its argument list
 * (starmap, apply). One that is not to run (it failed here, now or
 * before) is nil, and 0 is returned: its place goes to the skips.
 */
static int encode_item(mproc__pool_job_t *j, size_t i, mproc__buf_t *b)
{
    mproc__pool_item_t *it = mproc__job_item(j, i);
    const mproc_value_t *a = it->owned != NULL ? it->owned : it->arg;
    msgpack_packer pk;
    size_t mark = b->len;
    char what[300];
    int rc;
    msgpack_packer_init(&pk, b, buf_write);
    if (it->state == MPROC__ITEM_WAITING && j->star &&
        mproc_value_type(a) != MPROC_VALUE_LIST)
        mproc__job_item_done(j, i, MPROC_ETYPE, NULL,
                             j->kind == MPROC__JOB_APPLY
                                 ? "the arguments of a pool call must be a "
                                   "list"
                                 : "a starmap item must be a list of "
                                   "arguments");
    if (it->state != MPROC__ITEM_WAITING) {
        msgpack_pack_nil(&pk);
        return 0;
    }
    rc = mproc__value_encode_shared(a, b);
    if (rc != 0) {
        char sentence[512];
        b->len = mark;
        describe_item(j, i, what, sizeof what);
        snprintf(sentence, sizeof sentence, "%s cannot be sent: %s", what,
                 mproc_last_error());
        mproc__job_item_done(j, i, rc, NULL, sentence);
        msgpack_pack_nil(&pk);
        return 0;
    }
    return 1;
}

/*
 * Encodes the @n items of a map's unit from @first on at once, when each
 * is to be sent as it is: 1 if they are in @b, 0 if they are to be
 * encoded one by one (encode_item()), which also says what is wrong.
 */
static int encode_run(mproc__pool_job_t *j, size_t first, size_t n,
                      mproc__buf_t *b)
{
    size_t i;
    if (j->kind != MPROC__JOB_MAP || j->star || j->input == NULL)
        return 0;
    for (i = 0; i < n; i++)
        if (j->items[first + i].state != MPROC__ITEM_WAITING)
            return 0;
    return mproc__value_encode_run(j->input, first, n, b) == 0;
}

/* Items back to be sent, after a send that failed. */
static void unsend(mproc__pool_job_t *j, size_t first, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        mproc__pool_item_t *it = mproc__job_item(j, first + i);
        if (it->state == MPROC__ITEM_SENT)
            it->state = MPROC__ITEM_WAITING;
    }
}

/*
 * Sends @w one batch of @j's units: as many as its window, its pipe's room
 * and the batch's size allow, at least one. Under the lock; the message is
 * built in the pool's buffers (pool_internal.h has its layout).
 * @return 1 if a batch went, 0 if none could, a negative status if the
 * worker is lost.
 */
static int send_batch(mproc_pool_t *p, mproc__pool_worker_t *w,
                      mproc__pool_job_t *j)
{
    mproc__buf_t *items = &p->tx_items, *counts = &p->tx_counts;
    mproc__buf_t *skips = &p->tx_skips, *msg = &p->tx_msg;
    unsigned char head[8];
    mproc__buf_t h = {head, 0, sizeof head};
    msgpack_packer pk;
    size_t room = w->capacity - w->bytes_out, nunits = 0, nitems = 0, i, k;
    size_t limit_units = BATCH_UNITS, nskips = 0, frame;
    size_t fixed = strlen(j->fn_name) + 64;
    int rc;

    if (p->maxtasks > 0 && (size_t) (p->maxtasks - w->tasks_sent) < limit_units)
        limit_units = (size_t) (p->maxtasks - w->tasks_sent);
    items->len = counts->len = skips->len = msg->len = 0;
    while (nunits < limit_units && has_sendable(j)) {
        size_t first, n, mark = items->len, skip_mark = skips->len;
        size_t skip_count = nskips;
        int redo;
        unit *u;
        n = next_unit(j, &first, &redo);
        if (n == 0)
            break;
        if (!fits_window(w, j, nitems) ||
            ring_reserve(w, w->count + nunits, 1) != 0) {
            put_back(j, first, redo);
            break;
        }
        if (!encode_run(j, first, n, items))
            for (i = 0; i < n; i++)
                if (!encode_item(j, first + i, items)) {
                    mproc__wire_u32(skips, (uint32_t) (nitems + i));
                    nskips++;
                }
        /*
         * The frame must fit the pipe's room, unless the worker has
         * nothing else to do: then it only reads, and a write of any size
         * goes through.
         */
        if (items->len + skips->len + counts->len + fixed > room &&
            (nunits > 0 || w->items_out > 0)) {
            items->len = mark;
            skips->len = skip_mark;
            nskips = skip_count;
            put_back(j, first, redo);
            break;
        }
        mproc__wire_u32(counts, (uint32_t) n);
        for (i = 0; i < n; i++) {
            /* In a row, unless the unit crosses the end of an imap's ring. */
            mproc__pool_item_t *it = first + n <= j->cap
                                         ? &j->items[first + i]
                                         : mproc__job_item(j, first + i);
            if (it->state == MPROC__ITEM_WAITING)
                it->state = MPROC__ITEM_SENT;
        }
        u = unit_at(w, w->count + nunits);
        u->job = j;
        u->first = first;
        u->n = n;
        u->answered = 0;
        u->seq = w->next_seq + (uint32_t) nunits;
        u->redo = redo;
        u->bytes = 0;
        nunits++;
        nitems += n;
        if (items->len >= BATCH_BYTES || j->state != MPROC__JOB_RUNNING)
            break;
    }
    if (nunits == 0)
        return 0;
    msgpack_packer_init(&pk, &h, buf_write);
    msgpack_pack_array(&pk, nitems);
    /*
     * Room for all of it at once, written in place behind room for the
     * frame's header, which the send writes there.
     */
    {
        size_t fn_len = strlen(j->fn_name);
        rc = mproc__buf_reserve(msg, MPROC__FRAME_HEADER_SIZE + 1 + 4 + fn_len +
                                         8 + 2 + 12 + counts->len + skips->len +
                                         4 + h.len + items->len);
        if (rc == 0) {
            unsigned char *at = msg->data + MPROC__FRAME_HEADER_SIZE;
            at = mproc__wire_put_u8(at, MPROC__POOL_TASKS);
            at = mproc__wire_put_u32(at, (uint32_t) fn_len);
            at = mproc__wire_put_bytes(at, j->fn_name, fn_len);
            at = mproc__wire_put_f64(at, j->soft_limit);
            at = mproc__wire_put_u8(at, j->time_limit > 0);
            at = mproc__wire_put_u8(at, !j->star);
            at = mproc__wire_put_u32(at, w->next_seq);
            at = mproc__wire_put_u32(at, (uint32_t) nunits);
            at = mproc__wire_put_bytes(at, counts->data, counts->len);
            at = mproc__wire_put_u32(at, (uint32_t) nskips);
            at = mproc__wire_put_bytes(at, skips->data,
                                       nskips > 0 ? skips->len : 0);
            at = mproc__wire_put_u32(at, (uint32_t) (h.len + items->len));
            at = mproc__wire_put_bytes(at, head, h.len);
            at = mproc__wire_put_bytes(at, items->data, items->len);
            msg->len = (size_t) (at - msg->data);
        }
    }
    /* What the pipe holds of it at most (the frame may be deflated). */
    frame = msg->len + 4;
    if (rc == 0)
        rc = mproc__conn_send_framed(w->tx, msg);
    /* A big batch's buffers are not kept for good. */
    if (msg->cap > 4 * BATCH_BYTES) {
        mproc__buf_free(msg);
        mproc__buf_free(items);
    }
    if (rc != 0) {
        /* Nothing went: the items are to be sent again. */
        for (k = nunits; k-- > 0;) {
            unit *u = unit_at(w, w->count + k);
            unsend(j, u->first, u->n);
            put_back(j, u->first, u->redo);
        }
        if (rc == MPROC_ETOOBIG && nunits == 1) {
            unit *u = unit_at(w, w->count);
            char what[300], sentence[512];
            describe_item(j, u->first, what, sizeof what);
            snprintf(sentence, sizeof sentence, "%s: %s", what,
                     mproc_last_error());
            for (i = 0; i < u->n; i++)
                mproc__job_item_done(j, u->first + i, rc, NULL, sentence);
            if (u->redo)
                j->nredo--;
            return 0;
        }
        w->state = W_LOST;
        return rc;
    }
    unit_at(w, w->count)->bytes = frame;
    w->count += nunits;
    w->next_seq += (uint32_t) nunits;
    w->items_out += nitems;
    w->bytes_out += frame;
    w->tasks_sent += (int) nunits;
    j->units_out += nunits;
    if (p->maxtasks > 0 && w->tasks_sent >= p->maxtasks)
        w->state = W_RETIRING;
    return 1;
}

/* The worker with room that has the least to do, or NULL. */
static mproc__pool_worker_t *pick_worker(mproc_pool_t *p,
                                         const mproc__pool_job_t *j)
{
    mproc__pool_worker_t *w, *best = NULL;
    for (w = p->workers; w != NULL; w = w->next)
        if (may_send(p, w) && fits_window(w, j, 0) &&
            (best == NULL || w->items_out < best->items_out))
            best = w;
    return best;
}

/* Sends what can go now, the oldest calls first, as a shared queue would. */
static void dispatch(mproc_pool_t *p)
{
    mproc__pool_job_t *j;
    if (p->state == POOL_TERMINATED || p->broken)
        return;
    for (j = p->jobs; j != NULL; j = j->next_job) {
        while (has_sendable(j)) {
            mproc__pool_worker_t *w = pick_worker(p, j);
            if (w == NULL)
                return; /* later calls wait their turn, as in a queue */
            /* Nothing fits the least busy worker: it must answer first. */
            if (send_batch(p, w, j) == 0)
                break;
        }
    }
}

void mproc__pool_dispatch(mproc_pool_t *p)
{
    dispatch(p);
}

void mproc__pool_forget_if_over(mproc_pool_t *p, mproc__pool_job_t *j)
{
    unlink_if_over(p, j);
}

int mproc__pool_driven_here(const mproc_pool_t *p)
{
    return driving == p;
}

/*
 * A call's items take megabytes for a big map, which the C library would
 * give back to the system as the call ends and fault in again for the
 * next: the pool keeps the biggest array of its last calls for the next.
 */
#define SPARE_MIN 4096

int mproc__pool_keep_items(mproc_pool_t *p, mproc__pool_item_t *items,
                           size_t cap)
{
    if (cap < SPARE_MIN || p->spare_cap >= cap)
        return 0;
    free(p->spare_items);
    p->spare_items = items;
    p->spare_cap = cap;
    return 1;
}

mproc__pool_item_t *mproc__pool_take_items(mproc_pool_t *p, size_t cap,
                                           int zero)
{
    mproc__pool_item_t *items = p->spare_items;
    /* Not for a call of a small part of its size. */
    if (items == NULL || cap < SPARE_MIN || p->spare_cap < cap ||
        p->spare_cap / 4 > cap)
        return NULL;
    p->spare_items = NULL;
    p->spare_cap = 0;
    if (zero)
        memset(items, 0, cap * sizeof *items);
    return items;
}

void mproc__pool_untrack(mproc_pool_t *p, mproc__pool_job_t *j)
{
    if (!j->tracked)
        return;
    if (j->all_prev != NULL)
        j->all_prev->all_next = j->all_next;
    else
        p->all = j->all_next;
    if (j->all_next != NULL)
        j->all_next->all_prev = j->all_prev;
    j->all_prev = j->all_next = NULL;
    j->tracked = 0;
}

/* Takes items from the list or producer of each imap that has room. */
static void pull_inputs(mproc_pool_t *p)
{
    mproc__pool_job_t *j;
    for (j = p->jobs; j != NULL; j = j->next_job)
        mproc__job_fill(j);
    for (j = p->jobs; j != NULL; j = j->next_job) {
        mproc_value_t *got[64];
        size_t n = 0, i, room;
        int more = 1;
        if (!mproc__job_wants_input(j))
            continue;
        room = j->cap - (j->n - j->base);
        if (room > MPROC__ARRAY_SIZE(got))
            room = MPROC__ARRAY_SIZE(got);
        j->pulling = 1;
        j->refs++;
        mproc__pool_unlock(p);
        while (n < room) {
            mproc_value_t *v = NULL;
            if (j->opts.producer(j->opts.producer_arg, &v) <= 0) {
                mproc_value_free(v);
                more = 0;
                break;
            }
            got[n++] = v != NULL ? v : mproc_value_nil();
        }
        mproc__pool_lock(p);
        j->pulling = 0;
        broadcast(p);
        for (i = 0; i < n; i++)
            mproc__job_add_input(j, got[i]);
        if (!more && !j->input_ended) {
            /* The producer's end: now the call's size is known. */
            j->input_ended = 1;
            j->total = j->n;
            if (j->state == MPROC__JOB_RUNNING && j->done == j->n)
                mproc__job_finish(j, 0, NULL);
        }
        unlink_if_over(p, j);
        mproc__job_release(j);
        /* The list may have changed while it was let go: start again. */
        pull_inputs(p);
        return;
    }
}

/* ---- results ---------------------------------------------------------------
 */

/* The unit numbered @seq among @w's, or NULL. */
static unit *find_unit(mproc__pool_worker_t *w, uint32_t seq, size_t *at)
{
    size_t i;
    for (i = 0; i < w->count; i++)
        if (unit_at(w, i)->seq == seq) {
            *at = i;
            return unit_at(w, i);
        }
    return NULL;
}

/* Drops the answered units at the head of @w's ring. */
static void pop_answered(mproc_pool_t *p, mproc__pool_worker_t *w)
{
    while (w->count > 0 && unit_at(w, 0)->answered == unit_at(w, 0)->n) {
        mproc__pool_job_t *j = unit_at(w, 0)->job;
        w->head = (w->head + 1) % w->cap;
        w->count--;
        j->units_out--;
        unlink_if_over(p, j);
    }
}

/* A sentence of the envelope, as a C string in @buf. */
static const char *get_sentence(mproc__wire_t *r, char *buf, size_t cap)
{
    size_t n;
    const char *p = mproc__wire_get_bytes(r, &n);
    if (p == NULL)
        n = 0;
    if (n >= cap)
        n = cap - 1;
    if (n > 0)
        memcpy(buf, p, n);
    buf[n] = '\0';
    return buf;
}

/*
 * One entry of a RESULTS message (pool_internal.h): the results of unit
 * seq's items from offset on. 0, or -1 if the message is malformed.
 */
static int take_entry(mproc_pool_t *p, mproc__pool_worker_t *w,
                      mproc__wire_t *r)
{
    mproc__wire_entry_t e;
    mproc__pool_job_t *j;
    size_t at, n, i, len;
    uint32_t f = 0, place = 0;
    int status = 0, more, rc, placed;
    const char *s = "";
    char sentence[512];
    unit *u;

    if (mproc__wire_next_entry(r, &e) != 0)
        return -1;
    n = e.count;
    u = find_unit(w, e.seq, &at);
    if (u == NULL || e.offset != u->answered || e.offset + n > u->n)
        return 0; /* not what this worker was sent: ignored */
    j = u->job;
    if (u->bytes > 0) {
        /* The whole batch left the pipe before this unit ran. */
        w->bytes_out -= u->bytes < w->bytes_out ? u->bytes : w->bytes_out;
        u->bytes = 0;
    }
    /* A map's results, the commonest, go straight to their places. */
    placed = e.nfailures == 0 &&
             mproc__job_takes_in_place(j, u->first + e.offset, n);
    if (placed)
        rc = mproc__job_results_decode(j, u->first + e.offset, e.bytes, e.len,
                                       n);
    else if ((rc = mproc__value_decode_blocks(e.bytes, e.len, &e.values)) ==
                 0 &&
             mproc_value_len(e.values) != n)
        rc = mproc__set_error(MPROC_ECORRUPT, "a malformed result message");
    if (rc < 0) {
        /* Answered, but not readable here: each item fails, none waits. */
        snprintf(sentence, sizeof sentence,
                 "the results of %s (pid %ld) cannot be read: %s",
                 mproc_process_name(w->proc), w->pid, mproc_last_error());
        for (i = 0; i < n; i++)
            mproc__job_item_done(j, u->first + e.offset + i, rc, NULL,
                                 sentence);
    } else if (!placed && e.nfailures == 0) {
        mproc__job_results_in(j, u->first + e.offset, e.values, n);
    } else if (!placed) {
        /* The failures come in the order of their items. */
        more = mproc__wire_next_failure(&e, &place, &status, &s, &len) == 0;
        for (i = 0; i < n; i++) {
            size_t idx = u->first + e.offset + i;
            if (more && place == i) {
                snprintf(
                    sentence, sizeof sentence, "%.*s",
                    (int) (len < sizeof sentence ? len : sizeof sentence - 1),
                    s);
                mproc__job_item_done(j, idx, status < 0 ? status : MPROC_ETASK,
                                     NULL, sentence);
                more = ++f < e.nfailures &&
                       mproc__wire_next_failure(&e, &place, &status, &s,
                                                &len) == 0;
                continue;
            }
            mproc__job_item_result(j, idx, e.values, i);
        }
    }
    mproc_value_free(e.values);
    u->answered += n;
    w->items_out -= n;
    if (n > 0 && e.elapsed >= 0)
        learn(p, j, e.elapsed / (double) n);
    pop_answered(p, w);
    return 0;
}

/* A message from worker @w (its payload, @len bytes). */
static void take_message(mproc_pool_t *p, mproc__pool_worker_t *w,
                         const void *data, size_t len)
{
    mproc__wire_t r;
    unsigned kind;
    uint32_t n, e;
    char sentence[512];
    mproc__wire_start(&r, data, len);
    kind = mproc__wire_get_u8(&r);
    if (kind == MPROC__POOL_HELLO && w->state == W_STARTING) {
        w->state = W_READY;
        p->early_deaths = 0;
    } else if (kind == MPROC__POOL_INITFAIL) {
        mproc__wire_get_u32(&r);
        get_sentence(&r, sentence, sizeof sentence);
        set_broken(p, MPROC_EINITIALIZER,
                   "the pool's initializer '%s' failed in %s (pid %ld): %s",
                   p->init_name ? p->init_name : "?",
                   mproc_process_name(w->proc), w->pid, sentence);
    } else if (kind == MPROC__POOL_RESULTS) {
        n = mproc__wire_get_u32(&r);
        for (e = 0; e < n && !r.bad; e++)
            if (take_entry(p, w, &r) != 0)
                break;
    }
}

/* ---- losses --------------------------------------------------------------
 */

/* What the slot of a worker says: busy with item (unit, item) since @at. */
static int read_slot(const mproc_pool_t *p, const mproc__pool_worker_t *w,
                     uint32_t *unit_seq, uint32_t *item, double *at)
{
    volatile mproc__pool_slot_t *s = &p->slots[w->slot];
    int tries;
    for (tries = 0; tries < 100; tries++) {
        uint32_t v = mproc__atomic_load32(&s->version), busy;
        if (v & 1u)
            continue;
        busy = s->busy;
        *unit_seq = s->unit;
        *item = s->item;
        *at = s->started;
        if (mproc__atomic_load32(&s->version) == v)
            return busy != 0;
    }
    return 0;
}

static void exit_text(int code, char *buf, size_t cap)
{
    /* -N is death by signal N, in Python's convention. */
    if (code < 0 && code > -65)
        snprintf(buf, cap, "exit code %d, signal %d", code, -code);
    else
        snprintf(buf, cap, "exit code %d", code);
}

/*
 * Worker @w has ended: what it sent is read, the item that killed it (if
 * any is known) fails, the others it had go to other workers, and it is
 * gone. Its replacement is maintain()'s.
 */
static void bury(mproc_pool_t *p, mproc__pool_worker_t *w)
{
    mproc__pool_worker_t **pp;
    uint32_t cu = 0, ci = 0;
    double at;
    int code = 0, culprit, reads = 0;
    char how[64];
    size_t i, k;

    /* What it wrote before it went is in its pipe: the answers first. */
    while (!w->conn_ended && reads++ < 100000 &&
           mproc__os_conn_wait_readable(w->conn->os, 0) == 0) {
        if (mproc__stream_read_some(&w->conn->in) < 0)
            break;
        while (mproc__stream_ready(&w->conn->in)) {
            void *m = NULL;
            size_t len = 0;
            int rc = mproc_conn_recv_bytes(w->conn, &m, &len);
            if (rc == MPROC_ECLOSED) {
                w->conn_ended = 1;
                break;
            }
            if (rc == 0)
                take_message(p, w, m, len);
            free(m);
        }
    }
    mproc_process_join(w->proc, MPROC_FOREVER);
    mproc_process_exitcode(w->proc, &code);
    exit_text(code, how, sizeof how);
    if (w->state == W_STARTING && !p->broken) {
        if (p->init_name != NULL)
            set_broken(p, MPROC_EINITIALIZER,
                       "the pool's initializer '%s' ended %s (pid %ld) "
                       "before it was ready (%s)",
                       p->init_name, mproc_process_name(w->proc), w->pid, how);
        else if (p->creating || ++p->early_deaths >= MAX_EARLY_DEATHS)
            set_broken(p, MPROC_EWORKERLOST,
                       "pool worker %s (pid %ld) ended before it was ready "
                       "(%s)",
                       mproc_process_name(w->proc), w->pid, how);
    }
    if (w->killed) {
        culprit = 1;
        cu = w->killed_unit;
        ci = w->killed_item;
    } else {
        culprit = read_slot(p, w, &cu, &ci, &at);
    }
    /* Each unit's job stays until all are seen to, whatever they finish. */
    for (k = 0; k < w->count; k++)
        unit_at(w, k)->job->refs++;
    for (k = 0; k < w->count; k++) {
        unit *u = unit_at(w, k);
        mproc__pool_job_t *j = u->job;
        for (i = u->answered; i < u->n; i++) {
            size_t idx = u->first + i;
            mproc__pool_item_t *it = mproc__job_item(j, idx);
            char what[300], sentence[512];
            if (it->state != MPROC__ITEM_SENT)
                continue;
            describe_item(j, idx, what, sizeof what);
            if (culprit && u->seq == cu && i == ci) {
                if (w->killed)
                    snprintf(sentence, sizeof sentence,
                             "%s ran past its time limit of %g s: pool "
                             "worker %s (pid %ld) was killed",
                             what, w->killed_limit, mproc_process_name(w->proc),
                             w->pid);
                else
                    snprintf(sentence, sizeof sentence,
                             "pool worker %s (pid %ld) died while running "
                             "%s (%s)",
                             mproc_process_name(w->proc), w->pid, what, how);
                mproc__job_item_done(
                    j, idx, w->killed ? MPROC_ETIMEDOUT : MPROC_EWORKERLOST,
                    NULL, sentence);
            } else if (!culprit && ++it->losses >= 2) {
                /*
                 * Lost twice with no call named: it is the likeliest
                 * cause, and it does not go round for ever.
                 */
                snprintf(sentence, sizeof sentence,
                         "%s was lost with two pool workers, the last %s "
                         "(pid %ld, %s)",
                         what, mproc_process_name(w->proc), w->pid, how);
                mproc__job_item_done(j, idx, MPROC_EWORKERLOST, NULL, sentence);
            } else if (j->state == MPROC__JOB_RUNNING) {
                it->state = MPROC__ITEM_WAITING;
                if (mproc__job_redo(j, idx) != 0)
                    mproc__job_item_done(j, idx, MPROC_ENOMEM, NULL,
                                         "out of memory");
            } else {
                it->state = MPROC__ITEM_WAITING;
            }
        }
        j->units_out--;
    }
    for (k = 0; k < w->count; k++) {
        unlink_if_over(p, unit_at(w, k)->job);
        mproc__job_release(unit_at(w, k)->job);
    }
    w->count = 0;
    for (pp = &p->workers; *pp != NULL; pp = &(*pp)->next)
        if (*pp == w) {
            *pp = w->next;
            break;
        }
    p->slot_used[w->slot] = 0;
    free_worker(w);
}

/* Kills the workers past their calls' time limits; when to look again. */
static double check_limits(mproc_pool_t *p, double now)
{
    mproc__pool_worker_t *w;
    double next = 0;
    for (w = p->workers; w != NULL; w = w->next) {
        uint32_t us, item;
        double at, limit = 0, poll;
        size_t k, where;
        unit *u;
        int busy;
        if (w->killed || w->count == 0)
            continue;
        for (k = 0; k < w->count; k++)
            if (unit_at(w, k)->job->time_limit > 0) {
                limit = unit_at(w, k)->job->time_limit;
                break;
            }
        if (limit == 0)
            continue;
        busy = read_slot(p, w, &us, &item, &at);
        u = busy ? find_unit(w, us, &where) : NULL;
        if (u != NULL && u->job->time_limit > 0 && item >= u->answered) {
            double end = at + u->job->time_limit;
            if (now >= end) {
                w->killed = 1;
                w->killed_unit = us;
                w->killed_item = item;
                w->killed_limit = u->job->time_limit;
                mproc_process_kill(w->proc);
                continue;
            }
            if (next == 0 || end < next)
                next = end;
        }
        /* A limited item may start any moment: look again soon. */
        poll = limit / 4;
        poll = poll < 0.001 ? 0.001 : poll > 0.05 ? 0.05 : poll;
        if (next == 0 || now + poll < next)
            next = now + poll;
    }
    return next;
}

/* ---- the driver ------------------------------------------------------------
 */

/* Whether a call's callbacks wait to run (then the round must not block). */
static int callbacks_due(const mproc_pool_t *p)
{
    const mproc__pool_job_t *j;
    for (j = p->jobs; j != NULL; j = j->next_job)
        if (j->progress_due || j->state == MPROC__JOB_FINISHING)
            return 1;
    return 0;
}

/*
 * Looks for a while (SPIN, yielding the processor between looks) before
 * the driver sleeps: a result that comes within it is taken without the
 * wake-up of a sleeping process, which across CPUs costs more than the
 * round trip itself.
 */
static int spin_wait(mproc_waitable_t *items, const size_t *look, size_t n)
{
    double until = 0;
    size_t i;
    for (;;) {
        /* Only the pipes of the workers that have work: one poll each. */
        for (i = 0; i < n; i++) {
            mproc_conn_t *c = items[look[i]].conn;
            if (mproc__stream_ready(&c->in) ||
                mproc__os_conn_wait_readable(c->os, 0) == 0) {
                items[look[i]].ready = 1;
                return 1;
            }
        }
        /*
         * Looked first, yielded after: on one CPU the worker that was sent
         * a call has mostly answered by the time the sender runs again.
         */
        if (until == 0)
            until = mproc__os_monotonic() + SPIN;
        else if (mproc__os_monotonic() >= until)
            return MPROC_ETIMEDOUT;
        mproc__os_yield();
    }
}

/* A message read in a round, for the lock's return. */
typedef struct inbox {
    mproc__pool_worker_t *w;
    void *m;
    size_t len;
} inbox;

/* The messages a round holds without asking for memory. */
#define FEW_MESSAGES 4

/*
 * Reads what @w's pipe has, without waiting, into @box, which starts as
 * the round's @few places on the stack.
 */
static void read_worker(mproc__pool_worker_t *w, inbox **box, size_t *n,
                        size_t *cap, inbox *few)
{
    int reads = 0, more;
    do {
        more = mproc__stream_read_some(&w->conn->in);
        if (more < 0) {
            w->conn_ended = 1;
            return;
        }
        while (mproc__stream_ready(&w->conn->in)) {
            void *m = NULL;
            size_t len = 0;
            int rc = mproc_conn_recv_bytes(w->conn, &m, &len);
            if (rc == MPROC_ECLOSED) {
                w->conn_ended = 1;
                return;
            }
            if (rc != 0)
                continue; /* a damaged frame is skipped */
            if (*n == *cap) {
                size_t c = *cap * 2;
                inbox *b = realloc(*box != few ? *box : NULL, c * sizeof *b);
                if (b == NULL) {
                    free(m);
                    return;
                }
                if (*box == few)
                    memcpy(b, few, *n * sizeof *b);
                *box = b;
                *cap = c;
            }
            (*box)[*n].w = w;
            (*box)[*n].m = m;
            (*box)[(*n)++].len = len;
        }
    } while (more && ++reads < MAX_READS && !w->conn_ended &&
             mproc__os_conn_wait_readable(w->conn->os, 0) == 0);
}

/*
 * One round of driving, by the thread that holds the lead, under the lock:
 * start workers, take input, send, then wait (at most until @until, 0:
 * no end) for pipes and processes, take what came, bury the dead and run
 * the callbacks that are due.
 */
static void drive(mproc_pool_t *p, double until)
{
    mproc_waitable_t *items = NULL;
    mproc__pool_worker_t **who = NULL, *w;
    inbox few[FEW_MESSAGES], *box = few;
    size_t n = 0, nw = 0, nbox = 0, boxcap = FEW_MESSAGES, i;
    double now, deadline, wait;
    int rc, wake_ready = 0;
    size_t look[8], nlook = 0; /* the pipes to look at before sleeping */

    if (p->state == POOL_TERMINATED)
        return;
    maintain(p);
    pull_inputs(p);
    dispatch(p);
    now = mproc__os_monotonic();
    deadline = check_limits(p, now);
    if (until > 0 && (deadline == 0 || until < deadline))
        deadline = until;
    if (!p->broken && active(p) < p->processes && p->retry_at > now &&
        (deadline == 0 || p->retry_at < deadline))
        deadline = p->retry_at;
    for (w = p->workers; w != NULL; w = w->next)
        nw++;
    if (2 * nw + 1 > p->wait_cap) {
        size_t cap = 2 * nw + 1;
        mproc_waitable_t *a = realloc(p->wait_items, cap * sizeof *a);
        mproc__pool_worker_t **b =
            a != NULL ? realloc(p->wait_who, cap * sizeof *b) : NULL;
        if (a != NULL)
            p->wait_items = a;
        if (b == NULL)
            return;
        p->wait_who = b;
        p->wait_cap = cap;
    }
    /* The driver's own: nobody else uses them while it drives. */
    items = p->wait_items;
    who = p->wait_who;
    memset(items, 0, (2 * nw + 1) * sizeof *items);
    items[n++].conn = p->wake_r;
    for (w = p->workers, i = 0; w != NULL; w = w->next, i++) {
        /*
         * A caller that waits for a result looks before it sleeps, when
         * the work in flight is short by the estimate (or not yet known):
         * for long tasks looking would only take a CPU from the workers.
         */
        if (p->driver == DRIVER_CALLER && w->items_out > 0 && w->count > 0 &&
            !w->conn_ended && nlook < MPROC__ARRAY_SIZE(look)) {
            double est = unit_at(w, 0)->job->estimate;
            if (est <= 0 || (double) w->items_out * est <= SPIN)
                look[nlook++] = n;
        }
        who[i] = w;
        w->ready_conn = w->ready_proc = 0;
        if (!w->conn_ended)
            items[n++].conn = w->conn;
        items[n++].process = w->proc;
    }
    wait = deadline == 0 ? MPROC_FOREVER : deadline - now;
    if ((deadline != 0 && wait < 0) || callbacks_due(p))
        wait = 0;
    mproc__pool_unlock(p);
    rc = MPROC_ETIMEDOUT;
    if (wait != 0 && nlook > 0)
        rc = spin_wait(items, look, nlook);
    if (rc == MPROC_ETIMEDOUT)
        rc = mproc_wait(items, n, wait);
    if (rc > 0) {
        size_t at = 1;
        wake_ready = items[0].ready;
        for (i = 0; i < nw; i++) {
            w = who[i];
            if (!w->conn_ended)
                w->ready_conn = items[at++].ready;
            w->ready_proc = items[at++].ready;
            if (w->ready_conn && !w->ready_proc)
                read_worker(w, &box, &nbox, &boxcap, few);
        }
    }
    mproc__pool_lock(p);
    if (wake_ready) {
        while (mproc_conn_poll(p->wake_r, 0) == 0) {
            void *b = NULL;
            size_t len;
            if (mproc_conn_recv_bytes(p->wake_r, &b, &len) != 0)
                break;
            free(b);
        }
        p->wake_pending = 0;
    }
    for (i = 0; i < nbox; i++) {
        take_message(p, box[i].w, box[i].m, box[i].len);
        free(box[i].m);
    }
    if (box != few)
        free(box);
    for (i = 0; i < nw; i++)
        if (who[i]->ready_proc)
            bury(p, who[i]);
    run_callbacks(p);
}

/* Whether the pool has anything for a driver to do. */
static int has_work(const mproc_pool_t *p)
{
    const mproc__pool_worker_t *w;
    if (p->state == POOL_TERMINATED)
        return 0;
    if (p->jobs != NULL)
        return 1;
    for (w = p->workers; w != NULL; w = w->next)
        if (w->state != W_READY)
            return 1;
    if (p->state == POOL_CLOSED)
        return p->workers != NULL;
    return !p->broken && active(p) < p->processes;
}

static void *APR_THREAD_FUNC thread_main(apr_thread_t *t, void *arg)
{
    mproc_pool_t *p = arg;
    double last_work = 0;
    uint64_t seen = (uint64_t) -1;
    mproc__pool_lock(p);
    while (!p->thread_stop) {
        double now = mproc__os_monotonic();
        if (p->driver == DRIVER_NONE && p->lead_wanted == 0 && has_work(p)) {
            /*
             * Work seen for the first time is left to a caller for a nap:
             * one that submits a call and then waits for it drives its own
             * round trip. The oldest call's number tells what was seen.
             */
            uint64_t oldest = p->jobs != NULL ? p->jobs->serial : 0;
            last_work = now;
            if (oldest != seen) {
                seen = oldest;
                wait_on(p->bg_cond, p->mu, NAP);
                continue;
            }
            p->driver = DRIVER_THREAD;
            driving = p;
            drive(p, 0);
            driving = NULL;
            p->driver = DRIVER_NONE;
            broadcast(p);
            continue;
        }
        if (has_work(p))
            last_work = now;
        if (now - last_work < LINGER) {
            wait_on(p->bg_cond, p->mu, NAP);
        } else {
            seen = (uint64_t) -1;
            p->bg_parked = 1;
            wait_on(p->bg_cond, p->mu, MPROC_FOREVER);
            p->bg_parked = 0;
        }
    }
    mproc__pool_unlock(p);
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* One round with the lead, for a caller (until: 0, none). */
static void caller_round(mproc_pool_t *p, double until)
{
    p->driver = DRIVER_CALLER;
    driving = p;
    drive(p, until);
    driving = NULL;
    p->driver = DRIVER_NONE;
    broadcast(p);
}

int mproc__pool_wait(mproc_pool_t *p, int (*done)(void *arg), void *arg,
                     double timeout)
{
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    int rc = 0;
    /* What is there already may be had from a callback too. */
    if (done(arg))
        return 0;
    if (driving == p)
        return mproc__set_error(MPROC_EDEADLK,
                                "a callback of the pool cannot wait for the "
                                "pool: it runs in the thread that drives it");
    if (timeout == 0) {
        /* A poll still takes what has come, when nobody else does. */
        if (p->driver == DRIVER_NONE && p->state != POOL_TERMINATED)
            caller_round(p, mproc__os_monotonic());
        return done(arg) ? 0 : MPROC_ETIMEDOUT;
    }
    p->lead_wanted++;
    if (p->driver == DRIVER_THREAD)
        wake(p);
    while (!done(arg)) {
        double now = mproc__os_monotonic();
        if (timeout > 0 && now >= deadline) {
            rc = MPROC_ETIMEDOUT;
            break;
        }
        if (p->driver == DRIVER_NONE && p->state != POOL_TERMINATED)
            caller_round(p, deadline);
        else
            cond_wait(p, timeout < 0 ? MPROC_FOREVER : deadline - now);
    }
    /* The pool's thread takes up what is left. */
    if (--p->lead_wanted == 0)
        bg_wake(p);
    return rc;
}

int mproc__pool_submit(mproc_pool_t *p, mproc__pool_job_t *j)
{
    if (p->state != POOL_RUN)
        return mproc__set_error(MPROC_ESTATE, "the pool is %s",
                                p->state == POOL_CLOSED ? "closed"
                                                        : "terminated");
    if (p->broken)
        return mproc__set_error(p->broken, "%s",
                                p->broken_msg ? p->broken_msg : "");
    j->estimate = estimate_of(p, j->fn_name);
    j->serial = ++p->serial;
    link_job(p, j);
    j->pool = p;
    j->all_prev = NULL;
    j->all_next = p->all;
    if (p->all != NULL)
        p->all->all_prev = j;
    p->all = j;
    j->tracked = 1;
    mproc__job_fill(j);
    dispatch(p);
    mproc__pool_kick(p);
    return 0;
}

/* ---- creating and ending -------------------------------------------------
 */

/* Takes the lead for the calling thread, waiting for the driver to go. */
static void take_lead(mproc_pool_t *p, int as)
{
    p->lead_wanted++;
    while (p->driver != DRIVER_NONE) {
        wake(p);
        cond_wait(p, 0.05);
    }
    p->lead_wanted--;
    p->driver = as;
}

/* Ends every worker, in bounded time: terminated, then killed. */
static void end_workers(mproc_pool_t *p)
{
    mproc__pool_worker_t *w, *list = p->workers;
    double deadline;
    p->workers = NULL;
    mproc__pool_unlock(p);
    for (w = list; w != NULL; w = w->next)
        mproc_process_terminate(w->proc);
    deadline = mproc__os_monotonic() + TERMINATE_GRACE;
    for (w = list; w != NULL; w = w->next) {
        double left = deadline - mproc__os_monotonic();
        if (mproc_process_join(w->proc, left > 0 ? left : 0) != 0)
            mproc_process_kill(w->proc);
    }
    mproc__pool_lock(p);
    while (list != NULL) {
        size_t k;
        w = list;
        list = w->next;
        for (k = 0; k < w->count; k++) {
            unit_at(w, k)->job->refs++;
            unit_at(w, k)->job->units_out--;
        }
        for (k = 0; k < w->count; k++) {
            unlink_if_over(p, unit_at(w, k)->job);
            mproc__job_release(unit_at(w, k)->job);
        }
        w->count = 0;
        p->slot_used[w->slot] = 0;
        free_worker(w);
    }
}

static void stop_thread(mproc_pool_t *p)
{
    apr_status_t st;
    if (!p->thread_running || p->thread == NULL)
        return;
    p->thread_stop = 1;
    /* The pool's own thread (from a callback) cannot wait for itself. */
    if (driving == p && p->driver == DRIVER_THREAD)
        return;
    apr_thread_cond_signal(p->bg_cond);
    mproc__pool_unlock(p);
    apr_thread_join(&st, p->thread);
    mproc__pool_lock(p);
    p->thread_running = 0;
}

int mproc_pool_close(mproc_pool_t *p)
{
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no pool");
    if (mproc__pool_ours(p) != 0)
        return MPROC_ENOTCHILD;
    mproc__pool_lock(p);
    if (p->state == POOL_RUN)
        p->state = POOL_CLOSED;
    mproc__pool_kick(p);
    mproc__pool_unlock(p);
    return 0;
}

int mproc_pool_terminate(mproc_pool_t *p)
{
    int mine;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no pool");
    if (mproc__pool_ours(p) != 0)
        return MPROC_ENOTCHILD;
    mproc__pool_lock(p);
    if (p->state == POOL_TERMINATED && p->workers == NULL) {
        stop_thread(p);
        mproc__pool_unlock(p);
        return 0;
    }
    p->state = POOL_TERMINATED;
    fail_all(p, MPROC_ETERMINATED,
             "the pool was terminated before the call finished");
    /* From a callback the lead is this thread's already. */
    mine = driving == p;
    if (!mine)
        take_lead(p, DRIVER_TERMINATE);
    end_workers(p);
    run_callbacks(p);
    if (!mine)
        p->driver = DRIVER_NONE;
    broadcast(p);
    stop_thread(p);
    mproc__pool_unlock(p);
    return 0;
}

static int joined(void *arg)
{
    const mproc_pool_t *p = arg;
    return p->workers == NULL && p->jobs == NULL;
}

int mproc_pool_join(mproc_pool_t *p, double timeout)
{
    int rc;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no pool");
    if (mproc__pool_ours(p) != 0)
        return MPROC_ENOTCHILD;
    mproc__pool_lock(p);
    if (p->state == POOL_RUN) {
        mproc__pool_unlock(p);
        return mproc__set_error(MPROC_ESTATE,
                                "join a pool after closing or terminating "
                                "it");
    }
    rc = mproc__pool_wait(p, joined, p, timeout);
    if (rc == 0) {
        stop_thread(p);
        p->joined = 1;
    }
    mproc__pool_unlock(p);
    return rc;
}

static void free_parts(mproc_pool_t *p);

static void at_exit(void *arg)
{
    mproc_pool_t *p = arg;
    p->finalizer = NULL;
    mproc_pool_terminate(p);
}

void mproc_pool_destroy(mproc_pool_t *p)
{
    mproc__pool_job_t *j;
    if (p == NULL)
        return;
    if (mproc__pool_ours(p) != 0) {
        /* A fork child's copy: only its copies of the handles go. */
        mproc__pool_worker_t *w;
        for (w = p->workers; w != NULL; w = w->next) {
            mproc_conn_close(w->conn);
            mproc_conn_close(w->tx);
        }
        mproc_conn_close(p->wake_r);
        mproc_conn_close(p->wake_w);
        mproc_shm_close(p->shm);
        return;
    }
    if (p->finalizer != NULL)
        mproc_finalizer_cancel(p->finalizer);
    mproc__pool_lock(p);
    if (!p->joined && (p->workers != NULL || p->jobs != NULL ||
                       p->state != POOL_TERMINATED)) {
        mproc__pool_unlock(p);
        mproc_pool_terminate(p);
        mproc__pool_lock(p);
    }
    stop_thread(p);
    /* The calls that outlive the pool keep their outcomes. */
    while ((j = p->jobs) != NULL) {
        p->jobs = j->next_job;
        j->next_job = NULL;
        mproc__job_release(j);
    }
    p->jobs_tail = NULL;
    while ((j = p->all) != NULL) {
        p->all = j->all_next;
        j->all_prev = j->all_next = NULL;
        j->tracked = 0;
        j->pool = NULL;
    }
    mproc__pool_unlock(p);
    free_parts(p);
}

/* Whether every worker of a pool that is being made has said hello. */
static int all_ready(const mproc_pool_t *p)
{
    const mproc__pool_worker_t *w;
    for (w = p->workers; w != NULL; w = w->next)
        if (w->state != W_READY)
            return 0;
    return 1;
}

/* The initializer of @o, by function or name; its name in *@name. */
static int resolve_initializer(const mproc_pool_opts_t *o, const char **name)
{
    *name = NULL;
    if (o->initializer != NULL) {
        *name = mproc__target_name(o->initializer);
        if (*name == NULL)
            return mproc__set_error(MPROC_ENOTREG,
                                    "the pool's initializer is not a "
                                    "registered target (register it with "
                                    "MPROC_TARGET or mproc_register_target "
                                    "before mproc_main)");
        if (o->initializer_name != NULL &&
            mproc__target_find(o->initializer_name) != o->initializer)
            return mproc__set_error(MPROC_EINVAL,
                                    ".initializer and .initializer_name "
                                    "disagree: the function is registered "
                                    "as '%s'",
                                    *name);
        if (o->initializer_name != NULL)
            *name = o->initializer_name;
    } else if (o->initializer_name != NULL) {
        if (mproc__target_find(o->initializer_name) == NULL)
            return mproc__set_error(MPROC_ENOTREG,
                                    "the pool's initializer '%s' is not a "
                                    "registered target",
                                    o->initializer_name);
        *name = o->initializer_name;
    }
    return 0;
}

static int check_opts(const mproc_pool_opts_t *o)
{
    if (o->processes < 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a pool needs at least one process, not %d",
                                o->processes);
    if (o->maxtasksperchild < 0)
        return mproc__set_error(MPROC_EINVAL,
                                "maxtasksperchild must be positive (0: no "
                                "limit), not %d",
                                o->maxtasksperchild);
    if (o->time_limit < 0 || o->soft_time_limit < 0)
        return mproc__set_error(MPROC_EINVAL,
                                "a pool's time limits are seconds (0: none), "
                                "not negative");
    if (o->initargs != NULL &&
        mproc_value_type(o->initargs) != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_EINVAL,
                                "the initializer's arguments must be a list");
    return mproc__check_method(o->method);
}

/*
 * The block of the workers' slots, named after this process and a count
 * ("mproc-pl<pid>-<n>", in hex), so that what a process's pools leave can
 * be told from other programs' names; a random name if that one is taken.
 */
static int make_slots(mproc_pool_t *p)
{
    static volatile uint32_t blocks;
    size_t size = (size_t) p->nslots * sizeof(mproc__pool_slot_t);
    char name[32];
    int rc;
    snprintf(name, sizeof name, "mproc-pl%lx-%x",
             (unsigned long) mproc__os_getpid() & 0xffffffffu,
             (unsigned) mproc__atomic_inc32(&blocks));
    rc = mproc_shm_create(&p->shm, name, size);
    if (rc == MPROC_EEXIST)
        rc = mproc_shm_create(&p->shm, NULL, size);
    return rc;
}

/* Makes the pool's lock, condition, wake-up pipe and slots. */
static int make_parts(mproc_pool_t *p)
{
    int rc;
    if (apr_allocator_create(&p->allocator) != APR_SUCCESS)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (apr_pool_create_unmanaged_ex(&p->apool, NULL, p->allocator) !=
        APR_SUCCESS) {
        apr_allocator_destroy(p->allocator);
        p->allocator = NULL;
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    apr_allocator_owner_set(p->allocator, p->apool);
    if (apr_thread_mutex_create(&p->mu, APR_THREAD_MUTEX_DEFAULT, p->apool) !=
            APR_SUCCESS ||
        apr_thread_cond_create(&p->cond, p->apool) != APR_SUCCESS ||
        apr_thread_cond_create(&p->bg_cond, p->apool) != APR_SUCCESS)
        return mproc__set_error(MPROC_ENOMEM, "cannot make the pool's lock");
    p->slot_used = calloc((size_t) p->nslots, 1);
    if (p->slot_used == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (mproc_pipe(&p->wake_r, &p->wake_w, 0, NULL) != 0)
        return mproc__last_status();
    rc = make_slots(p);
    if (rc != 0)
        return rc;
    p->slots = mproc_shm_buf(p->shm);
    return 0;
}

/* Frees what a pool that never ran holds. */
static void free_parts(mproc_pool_t *p)
{
    free(p->spare_items);
    mproc__buf_free(&p->tx_items);
    mproc__buf_free(&p->tx_counts);
    mproc__buf_free(&p->tx_skips);
    mproc__buf_free(&p->tx_msg);
    free(p->wait_items);
    free(p->wait_who);
    mproc_conn_close(p->wake_r);
    mproc_conn_close(p->wake_w);
    if (p->shm != NULL) {
        mproc_shm_unlink(p->shm);
        mproc_shm_close(p->shm);
    }
    free(p->slot_used);
    mproc_value_free(p->initargs);
    free(p->broken_msg);
    if (p->apool != NULL)
        apr_pool_destroy(p->apool);
    free(p);
}

int mproc_pool_create(mproc_pool_t **out, const mproc_pool_opts_t *opts)
{
    mproc_pool_opts_t o = {0};
    mproc_start_method_e m;
    mproc_pool_t *p;
    const char *init;
    char sentence[512];
    int rc, i;

    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the pool");
    *out = NULL;
    if (opts != NULL)
        o = *opts;
    rc = check_opts(&o);
    if (rc == 0)
        rc = resolve_initializer(&o, &init);
    /*
     * Tasks and results stay on one machine, where deflating a batch costs
     * more than writing the bytes it saves: only a threshold the caller
     * gives turns it on.
     */
    if (o.codec.compress_threshold == 0)
        o.codec.no_compress = 1;
    if (rc == 0)
        rc = mproc__codec_opts_apply(&o.codec, &o.codec);
    if (rc == 0)
        rc = mproc__runtime_check("create a pool");
    if (rc != 0)
        return rc;
    if (mproc_process_daemon(mproc_current_process()))
        return mproc__set_error(MPROC_EDAEMON,
                                "daemonic processes are not allowed to have "
                                "children, so '%s' cannot make a pool",
                                mproc_process_name(mproc_current_process()));
    p = calloc(1, sizeof *p);
    if (p == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    p->creator = mproc__os_getpid();
    p->processes = o.processes > 0 ? o.processes : mproc_cpu_count();
    p->nslots = 2 * p->processes;
    p->maxtasks = o.maxtasksperchild;
    m = o.method != MPROC_START_DEFAULT ? o.method : mproc_get_start_method();
    p->method = m;
    p->class_name = m == MPROC_START_FORK         ? "ForkPoolWorker"
                    : m == MPROC_START_FORKSERVER ? "ForkServerPoolWorker"
                                                  : "SpawnPoolWorker";
    p->init_name = init;
    p->initargs =
        o.initargs != NULL ? mproc_value_copy(o.initargs) : mproc_value_list();
    p->time_limit = o.time_limit;
    p->soft_limit = o.soft_time_limit;
    p->codec = o.codec;
    rc = p->initargs != NULL ? make_parts(p)
                             : mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (rc != 0) {
        free_parts(p);
        return rc;
    }

    /* The workers start and say hello; this thread drives till then. */
    mproc__pool_lock(p);
    p->creating = 1;
    p->driver = DRIVER_CALLER;
    driving = p;
    for (i = 0; i < p->processes && rc == 0; i++) {
        mproc__pool_worker_t *w;
        int slot = take_slot(p);
        rc = start_worker(p, slot, &w);
        if (rc == 0) {
            w->next = p->workers;
            p->workers = w;
        }
    }
    while (rc == 0 && !p->broken && !all_ready(p))
        drive(p, 0);
    if (rc == 0 && p->broken)
        rc = mproc__set_error(p->broken, "%s", p->broken_msg);
    if (rc == 0 && apr_thread_create(&p->thread, NULL, thread_main, p,
                                     p->apool) != APR_SUCCESS)
        rc = mproc__set_error(MPROC_EOS, "cannot start the pool's thread");
    driving = NULL;
    p->driver = DRIVER_NONE;
    p->creating = 0;
    if (rc != 0) {
        /* Nothing is left: the workers that did start are ended. */
        snprintf(sentence, sizeof sentence, "%s", mproc_last_error());
        p->state = POOL_TERMINATED;
        end_workers(p);
        mproc__pool_unlock(p);
        free_parts(p);
        return mproc__set_error(rc, "%s", sentence);
    }
    p->thread_running = 1;
    mproc__pool_unlock(p);
    /* At exit a pool left running is terminated, as Python's is. */
    mproc_finalize_register(at_exit, p, 15, &p->finalizer);
    *out = p;
    return 0;
}
