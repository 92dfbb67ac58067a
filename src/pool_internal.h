/*
 * This file is private to mproc.
 *
 * The process pool: what its three files share. pool.c is the pool and
 * its driver (workers, dispatch, results, losses, limits); pool_call.c the
 * calls and what they give back (jobs, async results, imap iterators);
 * pool_worker.c the worker's side. Not part of the public API.
 */
#ifndef MPROC_SRC_POOL_INTERNAL_H
#define MPROC_SRC_POOL_INTERNAL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "mproc_services.h"
#include "value_codec.h"

/* ---- the wire ------------------------------------------------------------
 *
 * Every message is a frame (frame.c) holding an envelope of little-endian
 * fields (pool_wire.c): u8, u32, f64, and str (a u32 length, then that
 * many bytes), around msgpack-encoded values. Its first byte is its kind.
 *
 * Pool to worker:
 *   TASKS: u8 kind, str fn (the pool target's name), f64 soft (the soft
 *       limit in seconds, 0: none), u8 limited (the calls have a hard
 *       limit, so that their start times matter), u8 wrap (an item is its
 *       call's one argument, as for map; else its argument list), u32 seq
 *       (the first unit's number; the next ones count on), u32 nunits,
 *       nunits times u32 (the items of each unit, in order), u32 nskips,
 *       nskips times u32 (the places, among all the message's items, of
 *       those not to run: they failed before they were sent, and nil
 *       stands there), then str: the msgpack list of every unit's items.
 *   STOP: u8 kind. Finish what was sent, then end.
 * Worker to pool:
 *   HELLO: u8 kind. The initializer has run; tasks may come.
 *   INITFAIL: u8 kind, u32 status (as a signed number), str sentence. The
 *       initializer failed; the worker ends.
 *   RESULTS: u8 kind, u32 nentries, then each entry: u32 seq (its unit),
 *       u32 offset (its first item's place in the unit), f64 elapsed (the
 *       seconds its calls took), u32 nfailures, nfailures times (u32 place
 *       among the entry's values, u32 status, str sentence), then str: the
 *       msgpack list of the values, in order, nil where an item failed.
 */
enum {
    MPROC__POOL_TASKS = 1,
    MPROC__POOL_STOP = 2,
    MPROC__POOL_HELLO = 3,
    MPROC__POOL_INITFAIL = 4,
    MPROC__POOL_RESULTS = 5
};

/* Appending fields to a message (0, or MPROC_ENOMEM). */
int mproc__wire_u8(mproc__buf_t *b, unsigned v);
int mproc__wire_u32(mproc__buf_t *b, uint32_t v);
int mproc__wire_f64(mproc__buf_t *b, double v);
int mproc__wire_str(mproc__buf_t *b, const char *s);

/*
 * The same fields stored at @p, for a writer that made room for all of
 * them at once: each gives the place after it.
 */
unsigned char *mproc__wire_put_u8(unsigned char *p, unsigned v);
unsigned char *mproc__wire_put_u32(unsigned char *p, uint32_t v);
unsigned char *mproc__wire_put_f64(unsigned char *p, double v);
unsigned char *mproc__wire_put_bytes(unsigned char *p, const void *s, size_t n);

/* Reading them: a read past the end gives 0 and makes the reader bad. */
typedef struct mproc__wire {
    const unsigned char *p, *end;
    int bad;
} mproc__wire_t;

void mproc__wire_start(mproc__wire_t *r, const void *data, size_t len);
unsigned mproc__wire_get_u8(mproc__wire_t *r);
uint32_t mproc__wire_get_u32(mproc__wire_t *r);
double mproc__wire_get_f64(mproc__wire_t *r);
/* A str's bytes (not NUL-terminated), *@len of them; NULL if bad. */
const void *mproc__wire_get_bytes(mproc__wire_t *r, size_t *len);

/*
 * The messages decoded, whatever their bytes (a fuzz harness feeds them
 * anything): a malformed one is MPROC_ECORRUPT and leaves nothing to free.
 */

/* A unit's counts and skips that need no memory of the heap. */
#define MPROC__WIRE_FEW 16

/* A TASKS message as read; its strings point into the message. */
typedef struct mproc__wire_tasks {
    const char *fn; /* not NUL-terminated */
    size_t fn_len;
    double soft;
    int limited;
    int wrap; /* an item is its call's one argument (map) */
    uint32_t seq;
    uint32_t nunits;
    uint32_t *counts; /* the items of each unit; they add up to the list's */
    uint32_t nskips;
    uint32_t *skips; /* places of items not to run, among all */
    /* The items, checked and counted, to be decoded one by one as they run. */
    mproc__value_reader_t items;
    uint32_t few_counts[MPROC__WIRE_FEW], few_skips[MPROC__WIRE_FEW];
} mproc__wire_tasks_t;

int mproc__wire_read_tasks(mproc__wire_tasks_t *t, const void *data,
                           size_t len);
void mproc__wire_tasks_free(mproc__wire_tasks_t *t);

/* An entry of a RESULTS message as read. */
typedef struct mproc__wire_entry {
    uint32_t seq, offset, nfailures;
    double elapsed;
    mproc__wire_t failures; /* where they start, for _next_failure */
    const void *bytes;      /* the msgpack list of the values, in the message */
    size_t len;
    size_t count;          /* the values in it, by its header */
    mproc_value_t *values; /* the list, once decoded: the caller's to free */
} mproc__wire_entry_t;

/*
 * Reads the next entry from @r, which is past a RESULTS message's kind
 * and count, without decoding the values: 0 with *@e, whose bytes and
 * count say where the values are and how many, for a reader that decodes
 * them straight into their places (mproc__job_results_decode()) or as a
 * list (e->values, NULL until then); or MPROC_ECORRUPT (and @r bad).
 */
int mproc__wire_next_entry(mproc__wire_t *r, mproc__wire_entry_t *e);
/* The entry's next failure: its place among the values, status, sentence. */
int mproc__wire_next_failure(mproc__wire_entry_t *e, uint32_t *place,
                             int *status, const char **sentence, size_t *len);

/*
 * Each worker has a slot in a block of shared memory, where it says which
 * item it is running (unit, item, busy) and since when: a plain store per
 * item, which the pool reads when the worker has died (to learn which call
 * killed it) and, for calls with a time limit, while it runs. A call with a
 * limit writes under the version (odd while the fields change), so that a
 * live reading is never torn.
 */
typedef struct mproc__pool_slot {
    volatile uint32_t version;
    volatile uint32_t busy; /* 1 while an item runs */
    volatile uint32_t unit; /* its unit's number */
    volatile uint32_t item; /* its position in the unit */
    volatile double started;
    unsigned char pad[40];
} mproc__pool_slot_t;

typedef char mproc__pool_slot_fits[sizeof(mproc__pool_slot_t) == 64 ? 1 : -1];

/* The name the worker's process target is registered under. */
#define MPROC__POOL_WORKER_TARGET "mproc.pool-worker"

/* The worker: a process target (pool_worker.c). */
void mproc__pool_worker_main(const mproc_value_t *args);

/*
 * Whether the calling thread runs a pool task (or a worker's initializer)
 * now, in which mproc_raise() ends the task instead of the process.
 */
int mproc__pool_in_task(void);
/* Ends the running task as failed with @status and the sentence. */
MPROC_NORETURN void mproc__pool_task_raise(int status, const char *fmt,
                                           va_list ap);

/* ---- jobs (pool_call.c) and the pool (pool.c) ---------------------------- */

typedef struct mproc__pool_job mproc__pool_job_t;
typedef struct mproc__pool_worker mproc__pool_worker_t;

/* What a call is. */
typedef enum {
    MPROC__JOB_APPLY,
    MPROC__JOB_MAP,    /* map and starmap */
    MPROC__JOB_IMAP,   /* imap, ordered */
    MPROC__JOB_IMAP_UN /* imap_unordered */
} mproc__job_kind_e;

/* Where an item is. */
enum {
    MPROC__ITEM_EMPTY = 0, /* a free place of an imap ring */
    MPROC__ITEM_WAITING,   /* to be sent */
    MPROC__ITEM_SENT,      /* with a worker */
    MPROC__ITEM_DONE       /* its result or failure is here */
};

typedef struct mproc__pool_item {
    const mproc_value_t *arg; /* the input item, borrowed from the job */
    mproc_value_t *owned;     /* a producer's item, owned */
    mproc_value_t *result;
    char *error; /* the sentence of a failure */
    int status;
    unsigned char state;
    unsigned char losses; /* times lost with a worker, no culprit named */
    size_t index;         /* its place in the input */
} mproc__pool_item_t;

/* What a job is at. */
enum {
    MPROC__JOB_RUNNING = 0, /* items to send, run or take */
    MPROC__JOB_FINISHING,   /* over; its callbacks are to run */
    MPROC__JOB_READY        /* over, callbacks run: waiters may see it */
};

struct mproc__pool_job {
    mproc__job_kind_e kind;
    mproc_pool_t *pool; /* NULL once the pool is gone */
    volatile uint32_t refs;
    const char *fn_name; /* the registry's */
    int star;            /* each item is the argument list itself */
    size_t chunksize;
    double time_limit; /* 0: none */
    double soft_limit; /* 0: none */
    mproc_pool_call_opts_t opts;
    /* The input: a list (borrowed, or owned_input) or a producer. */
    const mproc_value_t *input;
    mproc_value_t *owned_input;
    size_t n;        /* the items known so far (all, for a list) */
    int input_ended; /* no more will come */
    int pulling;     /* the producer is being called */
    int in_callback; /* a callback of its own runs (the lock let go) */
    /*
     * The items: for map and apply every one (cap == n); for imap a ring
     * of cap places, item i at place i % cap, from base (the oldest not
     * yet given back) to n.
     */
    mproc__pool_item_t *items;
    size_t cap;
    size_t base;
    size_t next;  /* the next new item to send */
    size_t *redo; /* items to send again (their worker was lost) */
    size_t nredo, redo_cap;
    size_t *ready_fifo; /* imap_unordered: finished, in that order */
    size_t ready_head, ready_len;
    size_t total; /* the input's length, 0 while not known */
    size_t done, failed, taken;
    size_t units_out; /* units with workers */
    double estimate;  /* seconds per item, 0 while unknown */
    int state;
    int status; /* the outcome, once over */
    char *error;
    mproc_value_t *value; /* the result: apply's, map's list */
    /*
     * A map's results as they come, each in its place: a list of n, a
     * hole where none has come yet, whose block holds the scalars
     * (mproc__value_list_holes()); it becomes the value. NULL until the
     * first result, and for the other calls.
     */
    mproc_value_t *results;
    size_t leftovers; /* a map's results that wait in their items */
    int progress_due;
    int end_told;                /* an imap that ended early has said so once */
    uint64_t serial;             /* its number among its pool's calls, from 1 */
    mproc__pool_job_t *next_job; /* the pool's calls not yet over */
    mproc__pool_job_t *all_prev, *all_next; /* every job of the pool */
    int tracked;
};

/* The pool's lock; the job's pool must be there. */
void mproc__pool_lock(mproc_pool_t *p);
void mproc__pool_unlock(mproc_pool_t *p);
/*
 * Submits @j (its items made, refs 1 for the caller): checks the pool,
 * links the job (a second reference, the pool's), sends what it can and
 * makes sure some thread drives. Under the lock. On failure the job is
 * not linked.
 */
int mproc__pool_submit(mproc_pool_t *p, mproc__pool_job_t *j);
/*
 * Waits, driving the pool when no other thread does, until @done(@arg)
 * holds or @timeout runs out. Under the lock.
 * @return 0; MPROC_ETIMEDOUT; MPROC_EDEADLK from a callback.
 */
int mproc__pool_wait(mproc_pool_t *p, int (*done)(void *arg), void *arg,
                     double timeout);
/*
 * Makes sure that some thread drives: the pool's thread is woken if
 * nobody drives, the driver's wait is cut short if somebody does.
 */
void mproc__pool_kick(mproc_pool_t *p);
/* Sends what can be sent now. Under the lock, from any thread. */
void mproc__pool_dispatch(mproc_pool_t *p);
/*
 * The items array of a call that ends, kept for the next if it is big
 * (1: the pool has it now), and taken by a new call of @cap items (zeroed
 * if @zero, else for a caller that writes every item; NULL if there is
 * none that fits). Under the lock.
 */
int mproc__pool_keep_items(mproc_pool_t *p, mproc__pool_item_t *items,
                           size_t cap);
mproc__pool_item_t *mproc__pool_take_items(mproc_pool_t *p, size_t cap,
                                           int zero);
/* Forgets @j, which is being freed, from the pool's jobs. */
void mproc__pool_untrack(mproc_pool_t *p, mproc__pool_job_t *j);
/* Drops @j from the pool's calls if it is over and no worker has any of it. */
void mproc__pool_forget_if_over(mproc_pool_t *p, mproc__pool_job_t *j);
/* Whether the calling thread drives @p now (runs one of its callbacks). */
int mproc__pool_driven_here(const mproc_pool_t *p);
/* 0 in the process that made @p; MPROC_ENOTCHILD (said) in a fork child. */
int mproc__pool_ours(const mproc_pool_t *p);
/* The pool's defaults for a call. */
double mproc__pool_time_limit(const mproc_pool_t *p);
double mproc__pool_soft_limit(const mproc_pool_t *p);
int mproc__pool_size(const mproc_pool_t *p);

/* Drops a reference to @j, freeing it with the last. */
void mproc__job_release(mproc__pool_job_t *j);
/* The place of item @i. */
mproc__pool_item_t *mproc__job_item(mproc__pool_job_t *j, size_t i);
/*
 * Item @i is over: @status 0 with @result (taken over), or a failure
 * with @sentence (copied). Under the pool's lock, by the driver.
 */
void mproc__job_item_done(mproc__pool_job_t *j, size_t i, int status,
                          mproc_value_t *result, const char *sentence);
/*
 * Item @i is over with item @k of the decoded list @values as its result:
 * mproc__job_item_done(), but a map's result goes straight to its place
 * among the map's results, a scalar with no allocation of its own.
 */
void mproc__job_item_result(mproc__pool_job_t *j, size_t i,
                            mproc_value_t *values, size_t k);
/* mproc__job_item_result() for items @first.. @first + @n - 1, in turn. */
void mproc__job_results_in(mproc__pool_job_t *j, size_t first,
                           mproc_value_t *values, size_t n);
/*
 * Whether the @n results of items @first.. of @j may be decoded straight
 * into their places (mproc__job_results_decode()): a map that runs, and
 * none of them answered yet. Else they are taken one by one.
 */
int mproc__job_takes_in_place(const mproc__pool_job_t *j, size_t first,
                              size_t n);
/*
 * The @n results of items @first.. of map @j, the msgpack list of @n
 * values in @len bytes at @bytes, decoded straight into their places
 * among the map's results, with no list of their own on the way: 0; a
 * negative status if the bytes cannot be decoded, and nothing was taken.
 */
int mproc__job_results_decode(mproc__pool_job_t *j, size_t first,
                              const void *bytes, size_t len, size_t n);
/* The job is over: the outcome is set and its callbacks are due. */
void mproc__job_finish(mproc__pool_job_t *j, int status, const char *sentence);
/* Whether the job may take items from its producer now. */
int mproc__job_wants_input(const mproc__pool_job_t *j);
/* Adds an item from the producer (taken over). */
void mproc__job_add_input(mproc__pool_job_t *j, mproc_value_t *item);
/* An imap over a list: takes the list's items into the ring's room. */
void mproc__job_fill(mproc__pool_job_t *j);
/* Item @i is to be sent again (its worker was lost). */
int mproc__job_redo(mproc__pool_job_t *j, size_t i);

#endif
