/*
 * The calls of a pool and what they give back: a job per call (its items,
 * their outcomes, the call's outcome), Python's ApplyResult and MapResult
 * (mproc_async_t) and IMapIterator (mproc_imap_t). Sending the items and
 * taking their results is the driver's, in pool.c.
 *
 * A job is referred to by the caller's handle and, while the pool works
 * on it, by the pool's list of calls. Both references count under the
 * pool's lock; once the pool is gone the handle is the only one, and its
 * job is over, so nothing needs the lock any more.
 */
#include <stdlib.h>
#include <string.h>

#include "pack.h"
#include "pool_internal.h"
#include "registry.h"
#include "value_codec.h"

struct mproc_async_t {
    mproc__pool_job_t *job;
};

struct mproc_imap_t {
    mproc__pool_job_t *job;
    size_t index;
};

/* ---- jobs -----------------------------------------------------------------
 */

mproc__pool_item_t *mproc__job_item(mproc__pool_job_t *j, size_t i)
{
    /* Only an imap's places are a ring; the others hold every item. */
    return &j->items[i < j->cap ? i : i % j->cap];
}

static void free_item(mproc__pool_item_t *it)
{
    if (it->owned == NULL && it->result == NULL && it->error == NULL)
        return; /* most of a map's: its result went to the list */
    mproc_value_free(it->owned);
    mproc_value_free(it->result);
    free(it->error);
    it->owned = it->result = NULL;
    it->error = NULL;
    it->arg = NULL;
}

/* Frees @j; its items array goes to pool @p if it keeps it (under its lock). */
static void job_free_in(mproc__pool_job_t *j, mproc_pool_t *p)
{
    size_t i;
    /* A map's items hold nothing of their own but leftovers and failures. */
    int held = j->kind != MPROC__JOB_MAP || j->leftovers > 0 || j->failed > 0;
    for (i = 0; held && j->items != NULL && i < j->cap; i++)
        free_item(&j->items[i]);
    if (p == NULL || j->items == NULL ||
        !mproc__pool_keep_items(p, j->items, j->cap))
        free(j->items);
    free(j->redo);
    free(j->ready_fifo);
    mproc_value_free(j->owned_input);
    mproc_value_free(j->results);
    mproc_value_free(j->value);
    free(j->error);
    free(j);
}

static void job_free(mproc__pool_job_t *j)
{
    job_free_in(j, NULL);
}

void mproc__job_release(mproc__pool_job_t *j)
{
    if (--j->refs > 0)
        return;
    if (j->pool != NULL)
        mproc__pool_untrack(j->pool, j);
    job_free_in(j, j->pool);
}

/* A handle lets go of its job, under the pool's lock while there is one. */
static void drop(mproc__pool_job_t *j)
{
    mproc_pool_t *p = j->pool;
    if (p != NULL && mproc__pool_ours(p) != 0)
        return; /* a fork child's copy: the parent's to free */
    if (p != NULL)
        mproc__pool_lock(p);
    mproc__job_release(j);
    if (p != NULL)
        mproc__pool_unlock(p);
}

void mproc__job_finish(mproc__pool_job_t *j, int status, const char *sentence)
{
    if (j->state != MPROC__JOB_RUNNING)
        return;
    j->state = MPROC__JOB_FINISHING;
    j->status = status;
    free(j->error);
    j->error = status != 0 ? mproc__strdup(sentence ? sentence : "") : NULL;
    j->nredo = 0;
}

/*
 * A map is over: its results, in order, make its value. Most are in
 * their places already (mproc__job_item_result()); the others wait in
 * their items.
 */
static void finish_map(mproc__pool_job_t *j)
{
    mproc_value_t *list = j->results;
    size_t i;
    if (list == NULL)
        list = mproc__value_list_holes(j->n);
    j->results = NULL;
    /* Every place has its result now, in the list or in its item. */
    for (i = 0; list != NULL && j->leftovers > 0 && i < j->n; i++) {
        mproc__pool_item_t *it = mproc__job_item(j, i);
        if (it->result == NULL)
            continue;
        mproc__value_list_put(list, i, it->result);
        it->result = NULL;
        j->leftovers--;
    }
    if (list == NULL) {
        mproc__job_finish(j, MPROC_ENOMEM, "out of memory");
        return;
    }
    j->value = list;
    mproc__job_finish(j, 0, NULL);
}

void mproc__job_item_done(mproc__pool_job_t *j, size_t i, int status,
                          mproc_value_t *result, const char *sentence)
{
    mproc__pool_item_t *it = mproc__job_item(j, i);
    if (it->state == MPROC__ITEM_DONE || it->state == MPROC__ITEM_EMPTY ||
        j->state != MPROC__JOB_RUNNING) {
        /* Too late (the call is over), or answered already. */
        if (it->state != MPROC__ITEM_EMPTY)
            it->state = MPROC__ITEM_DONE;
        mproc_value_free(result);
        return;
    }
    it->state = MPROC__ITEM_DONE;
    it->status = status;
    if (status == 0) {
        it->result = result != NULL ? result : mproc_value_nil();
        if (it->result == NULL) {
            it->status = status = MPROC_ENOMEM;
            sentence = "out of memory";
        } else if (j->kind == MPROC__JOB_MAP) {
            j->leftovers++;
        }
    } else {
        mproc_value_free(result);
    }
    if (status != 0)
        it->error = mproc__strdup(sentence ? sentence : "");
    j->done++;
    if (status != 0)
        j->failed++;
    if (j->opts.progress != NULL)
        j->progress_due = 1;
    switch (j->kind) {
    case MPROC__JOB_APPLY:
        j->value = it->result;
        it->result = NULL;
        mproc__job_finish(j, status, sentence);
        break;
    case MPROC__JOB_MAP:
        /* The first failure to arrive is the map's, as in Python. */
        if (status != 0)
            mproc__job_finish(j, status, sentence);
        else if (j->done == j->n)
            finish_map(j);
        break;
    case MPROC__JOB_IMAP_UN:
        j->ready_fifo[(j->ready_head + j->ready_len++) % j->cap] = i;
        /* fall through */
    case MPROC__JOB_IMAP:
        if (j->input_ended && j->done == j->n)
            mproc__job_finish(j, 0, NULL);
        break;
    }
}

void mproc__job_item_result(mproc__pool_job_t *j, size_t i,
                            mproc_value_t *values, size_t k)
{
    mproc__pool_item_t *it = mproc__job_item(j, i);
    mproc_value_t *v;
    if (j->kind == MPROC__JOB_MAP && j->state == MPROC__JOB_RUNNING &&
        it->state != MPROC__ITEM_DONE && it->state != MPROC__ITEM_EMPTY) {
        if (j->results == NULL)
            j->results = mproc__value_list_holes(j->n);
        if (j->results != NULL &&
            mproc__value_list_move(j->results, i, values, k) == 0) {
            it->state = MPROC__ITEM_DONE;
            it->status = 0;
            j->done++;
            if (j->opts.progress != NULL)
                j->progress_due = 1;
            if (j->done == j->n)
                finish_map(j);
            return;
        }
    }
    v = mproc__value_take(values, k);
    if (v == NULL)
        mproc__job_item_done(j, i, MPROC_ENOMEM, NULL,
                             "out of memory taking a result");
    else
        mproc__job_item_done(j, i, 0, v, NULL);
}

void mproc__job_results_in(mproc__pool_job_t *j, size_t first,
                           mproc_value_t *values, size_t n)
{
    size_t k;
    if (j->kind == MPROC__JOB_MAP && j->state == MPROC__JOB_RUNNING &&
        j->results == NULL)
        j->results = mproc__value_list_holes(j->n);
    for (k = 0; k < n; k++) {
        mproc__pool_item_t *it;
        /* The common case, a map's result on time, without the calls. */
        if (j->kind != MPROC__JOB_MAP || j->state != MPROC__JOB_RUNNING ||
            j->results == NULL || first + k >= j->n ||
            (it = &j->items[first + k])->state == MPROC__ITEM_DONE ||
            mproc__value_list_move(j->results, first + k, values, k) != 0) {
            mproc__job_item_result(j, first + k, values, k);
            continue;
        }
        it->state = MPROC__ITEM_DONE;
        it->status = 0;
        if (j->opts.progress != NULL)
            j->progress_due = 1;
        if (++j->done == j->n)
            finish_map(j);
    }
}

int mproc__job_takes_in_place(const mproc__pool_job_t *j, size_t first,
                              size_t n)
{
    size_t k;
    if (j->kind != MPROC__JOB_MAP || j->state != MPROC__JOB_RUNNING ||
        first > j->n || n > j->n - first)
        return 0;
    for (k = 0; k < n; k++)
        if (j->items[first + k].state == MPROC__ITEM_DONE)
            return 0;
    return 1;
}

int mproc__job_results_decode(mproc__pool_job_t *j, size_t first,
                              const void *bytes, size_t len, size_t n)
{
    size_t k, got = n;
    int rc;
    if (j->results == NULL &&
        (j->results = mproc__value_list_holes(j->n)) == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = mproc__value_decode_into(bytes, len, j->results, first, &got);
    if (rc != 0)
        return rc;
    for (k = 0; k < n; k++) {
        j->items[first + k].state = MPROC__ITEM_DONE;
        j->items[first + k].status = 0;
    }
    j->done += n;
    if (j->opts.progress != NULL && n > 0)
        j->progress_due = 1;
    if (j->done == j->n)
        finish_map(j);
    return 0;
}

int mproc__job_wants_input(const mproc__pool_job_t *j)
{
    return j->state == MPROC__JOB_RUNNING && j->opts.producer != NULL &&
           !j->input_ended && !j->pulling && j->n - j->base < j->cap;
}

void mproc__job_add_input(mproc__pool_job_t *j, mproc_value_t *item)
{
    mproc__pool_item_t *it;
    if (j->state != MPROC__JOB_RUNNING || j->n - j->base >= j->cap) {
        mproc_value_free(item);
        return;
    }
    it = mproc__job_item(j, j->n);
    it->owned = item;
    it->arg = NULL;
    it->state = MPROC__ITEM_WAITING;
    it->losses = 0;
    it->index = j->n++;
}

void mproc__job_fill(mproc__pool_job_t *j)
{
    size_t len;
    if ((j->kind != MPROC__JOB_IMAP && j->kind != MPROC__JOB_IMAP_UN) ||
        j->input == NULL || j->input_ended)
        return;
    len = mproc_value_len(j->input);
    while (j->state == MPROC__JOB_RUNNING && j->n < len &&
           j->n - j->base < j->cap) {
        mproc__pool_item_t *it = mproc__job_item(j, j->n);
        it->arg = mproc_value_at(j->input, j->n);
        it->state = MPROC__ITEM_WAITING;
        it->losses = 0;
        it->index = j->n++;
    }
    if (j->n == len) {
        j->input_ended = 1;
        if (j->state == MPROC__JOB_RUNNING && j->done == j->n)
            mproc__job_finish(j, 0, NULL);
    }
}

int mproc__job_redo(mproc__pool_job_t *j, size_t i)
{
    if (j->nredo == j->redo_cap) {
        size_t cap = j->redo_cap ? j->redo_cap * 2 : 16;
        size_t *r = realloc(j->redo, cap * sizeof *r);
        if (r == NULL)
            return MPROC_ENOMEM;
        j->redo = r;
        j->redo_cap = cap;
    }
    j->redo[j->nredo++] = i;
    return 0;
}

/* The name of the call's pool target, by function or by the opts' name. */
static int resolve_fn(mproc_pool_fn fn, const mproc_pool_call_opts_t *o,
                      const char **name)
{
    const char *target = o != NULL ? o->target : NULL;
    if (fn != NULL) {
        *name = mproc__pool_target_name(fn);
        if (*name == NULL)
            return mproc__set_error(MPROC_ENOTREG,
                                    "the function of the pool call is not a "
                                    "registered pool target (register it "
                                    "with MPROC_POOL_TARGET or "
                                    "mproc_register_pool_target before "
                                    "mproc_main)");
        if (target != NULL && mproc__pool_target_find(target) != fn)
            return mproc__set_error(MPROC_EINVAL,
                                    "the function and .target disagree: the "
                                    "function is registered as '%s'",
                                    *name);
        if (target != NULL)
            *name = mproc__pool_target_find(target) ? target : *name;
        return 0;
    }
    if (target == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "a pool call needs a function, or its name "
                                "in .target");
    if (mproc__pool_target_find(target) == NULL)
        return mproc__set_error(MPROC_ENOTREG,
                                "pool target '%s' is not registered in this "
                                "program (use MPROC_POOL_TARGET or "
                                "mproc_register_pool_target before "
                                "mproc_main)",
                                target);
    *name = target;
    return 0;
}

/* A call's limit: its own, the pool's for 0, none for a negative one. */
static double limit(double own, double pool)
{
    return own > 0 ? own : own < 0 ? 0 : pool;
}

/* A job for a call with @cap places for items, not yet submitted. */
static int make_job(mproc_pool_t *p, mproc__job_kind_e kind, int star,
                    mproc_pool_fn fn, const mproc_pool_call_opts_t *opts,
                    size_t cap, mproc__pool_job_t **out)
{
    mproc__pool_job_t *j;
    const char *name = NULL;
    int rc;
    *out = NULL;
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no pool");
    rc = mproc__pool_ours(p);
    if (rc == 0)
        rc = resolve_fn(fn, opts, &name);
    if (rc != 0)
        return rc;
    if (opts != NULL && (opts->time_limit != opts->time_limit ||
                         opts->soft_time_limit != opts->soft_time_limit))
        return mproc__set_error(MPROC_EINVAL, "a time limit is not a number");
    /* Not calloc, which skips the C library's cache of small chunks. */
    j = malloc(sizeof *j);
    if (j == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    memset(j, 0, sizeof *j);
    if (opts != NULL)
        j->opts = *opts;
    j->kind = kind;
    j->star = star;
    j->fn_name = name;
    j->refs = 1;
    j->chunksize = 1;
    j->cap = cap > 0 ? cap : 1;
    mproc__pool_lock(p);
    /* A map writes each of its items (map_job()), the others only some. */
    j->items = mproc__pool_take_items(p, j->cap, kind != MPROC__JOB_MAP);
    mproc__pool_unlock(p);
    if (j->items == NULL && j->cap <= 16) {
        j->items = malloc(j->cap * sizeof *j->items);
        if (j->items != NULL)
            memset(j->items, 0, j->cap * sizeof *j->items);
    } else if (j->items == NULL) {
        j->items = calloc(j->cap, sizeof *j->items);
    }
    if (kind == MPROC__JOB_IMAP_UN)
        j->ready_fifo = malloc(j->cap * sizeof *j->ready_fifo);
    if (j->items == NULL ||
        (kind == MPROC__JOB_IMAP_UN && j->ready_fifo == NULL)) {
        job_free(j);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    /* The pool's limits are set once, at its creation. */
    j->time_limit = limit(j->opts.time_limit, mproc__pool_time_limit(p));
    j->soft_limit = limit(j->opts.soft_time_limit, mproc__pool_soft_limit(p));
    *out = j;
    return 0;
}

/* Submits @j under the pool's lock; frees it if the pool refuses. */
static int submit(mproc_pool_t *p, mproc__pool_job_t *j)
{
    int rc;
    mproc__pool_lock(p);
    rc = mproc__pool_submit(p, j);
    mproc__pool_unlock(p);
    if (rc != 0)
        job_free(j);
    return rc;
}

static int job_over(void *arg)
{
    const mproc__pool_job_t *j = arg;
    return j->state == MPROC__JOB_READY;
}

/*
 * Waits for @j (with the lock, if it still has its pool) and gives its
 * outcome: the status, its sentence set, and *@value borrowed.
 */
static int wait_job(mproc__pool_job_t *j, double timeout,
                    const mproc_value_t **value, int outcome)
{
    mproc_pool_t *p = j->pool;
    int rc = 0;
    if (value != NULL)
        *value = NULL;
    if (p != NULL && mproc__pool_ours(p) != 0)
        return MPROC_ENOTCHILD;
    if (p != NULL) {
        mproc__pool_lock(p);
        rc = mproc__pool_wait(p, job_over, j, timeout);
    } else if (j->state != MPROC__JOB_READY) {
        rc = mproc__set_error(MPROC_ETERMINATED,
                              "the pool was destroyed before the call "
                              "finished");
    }
    if (rc == 0 && outcome) {
        if (j->status != 0)
            rc = mproc__set_error(j->status, "%s", j->error ? j->error : "");
        else if (value != NULL)
            *value = j->value;
    }
    if (p != NULL)
        mproc__pool_unlock(p);
    return rc;
}

/* Waits for a call made by a function that waits, and frees its job. */
static int run_sync(mproc__pool_job_t *j, mproc_value_t **result)
{
    mproc_pool_t *p = j->pool;
    int rc;
    mproc__pool_lock(p);
    rc = mproc__pool_wait(p, job_over, j, MPROC_FOREVER);
    if (rc == 0 && j->status != 0)
        rc = mproc__set_error(j->status, "%s", j->error ? j->error : "");
    if (rc == 0) {
        *result = j->value;
        j->value = NULL;
    }
    mproc__job_release(j);
    mproc__pool_unlock(p);
    return rc;
}

/* A waiting call from a callback would never return. */
static int check_not_driving(mproc_pool_t *p)
{
    if (p != NULL && mproc__pool_driven_here(p))
        return mproc__set_error(MPROC_EDEADLK,
                                "a callback of the pool cannot wait for the "
                                "pool: it runs in the thread that drives it");
    return 0;
}

/* ---- apply ----------------------------------------------------------------
 */

static int apply_job(mproc_pool_t *p, mproc_pool_fn fn, mproc_value_t *args,
                     const mproc_pool_call_opts_t *opts,
                     mproc__pool_job_t **out)
{
    mproc__pool_job_t *j;
    int rc;
    *out = NULL;
    if (args == NULL) {
        rc = mproc__pack_take_failure();
        if (rc < 0)
            return rc;
        args = mproc_value_list();
        if (args == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    if (mproc_value_type(args) != MPROC_VALUE_LIST) {
        mproc_value_free(args);
        return mproc__set_error(MPROC_EINVAL,
                                "the arguments of a pool call must be a list");
    }
    rc = make_job(p, MPROC__JOB_APPLY, 1, fn, opts, 1, &j);
    if (rc != 0) {
        mproc_value_free(args);
        return rc;
    }
    j->owned_input = args;
    j->input = args;
    j->n = j->total = 1;
    j->input_ended = 1;
    j->items[0].arg = args;
    j->items[0].state = MPROC__ITEM_WAITING;
    rc = submit(p, j);
    if (rc == 0)
        *out = j;
    return rc;
}

int mproc_pool_apply(mproc_pool_t *pool, mproc_pool_fn fn, mproc_value_t *args,
                     const mproc_pool_call_opts_t *opts, mproc_value_t **result)
{
    mproc__pool_job_t *j;
    int rc;
    if (result != NULL)
        *result = NULL;
    rc = check_not_driving(pool);
    if (rc == 0 && result == NULL)
        rc = mproc__set_error(MPROC_EINVAL, "no place for the result");
    if (rc != 0) {
        if (args == NULL)
            mproc__pack_take_failure();
        mproc_value_free(args);
        return rc;
    }
    rc = apply_job(pool, fn, args, opts, &j);
    return rc != 0 ? rc : run_sync(j, result);
}

static int new_async(mproc__pool_job_t *j, mproc_async_t **out)
{
    mproc_async_t *r = malloc(sizeof *r);
    if (r == NULL) {
        drop(j);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    r->job = j;
    *out = r;
    return 0;
}

int mproc_pool_apply_async(mproc_pool_t *pool, mproc_pool_fn fn,
                           mproc_value_t *args,
                           const mproc_pool_call_opts_t *opts,
                           mproc_async_t **out)
{
    mproc__pool_job_t *j;
    int rc;
    if (out == NULL) {
        if (args == NULL)
            mproc__pack_take_failure();
        mproc_value_free(args);
        return mproc__set_error(MPROC_EINVAL, "no place for the result");
    }
    *out = NULL;
    rc = apply_job(pool, fn, args, opts, &j);
    return rc != 0 ? rc : new_async(j, out);
}

/* ---- map and starmap ------------------------------------------------------
 */

/*
 * Python's chunksize for map: the items over four times the workers,
 * rounded up, so that each worker gets about four tasks.
 */
static size_t default_chunksize(size_t n, int processes)
{
    size_t per = (size_t) (processes > 0 ? processes : 1) * 4;
    size_t c = n / per + (n % per != 0);
    return c > 0 ? c : 1;
}

static int map_job(mproc_pool_t *p, mproc_pool_fn fn,
                   const mproc_value_t *items,
                   const mproc_pool_call_opts_t *opts, int star, int copy,
                   mproc__pool_job_t **out)
{
    mproc__pool_job_t *j;
    mproc_value_t *owned = NULL;
    size_t n, i;
    int rc;
    *out = NULL;
    if (items == NULL || mproc_value_type(items) != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_EINVAL, "map needs a list of items");
    n = mproc_value_len(items);
    if (copy) {
        owned = mproc_value_copy(items);
        if (owned == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        items = owned;
    }
    rc = make_job(p, MPROC__JOB_MAP, star, fn, opts, n, &j);
    if (rc != 0) {
        mproc_value_free(owned);
        return rc;
    }
    /* Each item whole, before anything else can fail and free the job. */
    for (i = 0; i < n; i++) {
        mproc__pool_item_t *it = &j->items[i];
        memset(it, 0, sizeof *it);
        it->arg = mproc__value_list_items(items)[i];
        it->state = MPROC__ITEM_WAITING;
        it->index = i;
    }
    j->owned_input = owned;
    j->input = items;
    j->n = j->total = n;
    j->input_ended = 1;
    j->chunksize = opts != NULL && opts->chunksize > 0
                       ? opts->chunksize
                       : default_chunksize(n, mproc__pool_size(p));
    if (n == 0) {
        /* Nothing to run: over at once, with an empty list. */
        j->value = mproc_value_list();
        if (j->value == NULL) {
            job_free(j);
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        }
        mproc__job_finish(j, 0, NULL);
    }
    rc = submit(p, j);
    if (rc == 0)
        *out = j;
    return rc;
}

static int map_sync(mproc_pool_t *p, mproc_pool_fn fn,
                    const mproc_value_t *items,
                    const mproc_pool_call_opts_t *opts, int star,
                    mproc_value_t **results)
{
    mproc__pool_job_t *j;
    int rc;
    if (results != NULL)
        *results = NULL;
    rc = check_not_driving(p);
    if (rc == 0 && results == NULL)
        rc = mproc__set_error(MPROC_EINVAL, "no place for the results");
    if (rc == 0)
        rc = map_job(p, fn, items, opts, star, 0, &j);
    return rc != 0 ? rc : run_sync(j, results);
}

int mproc_pool_map(mproc_pool_t *pool, mproc_pool_fn fn,
                   const mproc_value_t *items,
                   const mproc_pool_call_opts_t *opts, mproc_value_t **results)
{
    return map_sync(pool, fn, items, opts, 0, results);
}

int mproc_pool_starmap(mproc_pool_t *pool, mproc_pool_fn fn,
                       const mproc_value_t *items,
                       const mproc_pool_call_opts_t *opts,
                       mproc_value_t **results)
{
    return map_sync(pool, fn, items, opts, 1, results);
}

static int map_async(mproc_pool_t *p, mproc_pool_fn fn,
                     const mproc_value_t *items,
                     const mproc_pool_call_opts_t *opts, int star,
                     mproc_async_t **out)
{
    mproc__pool_job_t *j;
    int rc;
    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the result");
    *out = NULL;
    rc = map_job(p, fn, items, opts, star, 1, &j);
    return rc != 0 ? rc : new_async(j, out);
}

int mproc_pool_map_async(mproc_pool_t *pool, mproc_pool_fn fn,
                         const mproc_value_t *items,
                         const mproc_pool_call_opts_t *opts,
                         mproc_async_t **out)
{
    return map_async(pool, fn, items, opts, 0, out);
}

int mproc_pool_starmap_async(mproc_pool_t *pool, mproc_pool_fn fn,
                             const mproc_value_t *items,
                             const mproc_pool_call_opts_t *opts,
                             mproc_async_t **out)
{
    return map_async(pool, fn, items, opts, 1, out);
}

/* ---- asynchronous results -------------------------------------------------
 */

int mproc_async_get(mproc_async_t *r, double timeout,
                    const mproc_value_t **value)
{
    if (r == NULL)
        return mproc__set_error(MPROC_EINVAL, "no result");
    return wait_job(r->job, timeout, value, 1);
}

int mproc_async_wait(mproc_async_t *r, double timeout)
{
    if (r == NULL)
        return mproc__set_error(MPROC_EINVAL, "no result");
    return wait_job(r->job, timeout, NULL, 0);
}

int mproc_async_ready(mproc_async_t *r)
{
    mproc_pool_t *p;
    int ready;
    if (r == NULL)
        return 0;
    p = r->job->pool;
    if (p != NULL && mproc__pool_ours(p) != 0)
        return 0;
    if (p != NULL)
        mproc__pool_lock(p);
    ready = r->job->state == MPROC__JOB_READY;
    if (p != NULL)
        mproc__pool_unlock(p);
    return ready;
}

int mproc_async_successful(mproc_async_t *r)
{
    mproc_pool_t *p;
    int rc;
    if (r == NULL)
        return mproc__set_error(MPROC_EINVAL, "no result");
    p = r->job->pool;
    if (p != NULL && mproc__pool_ours(p) != 0)
        return MPROC_ENOTCHILD;
    if (p != NULL)
        mproc__pool_lock(p);
    if (r->job->state != MPROC__JOB_READY)
        rc = mproc__set_error(MPROC_ESTATE, "the call has not finished");
    else
        rc = r->job->status == 0;
    if (p != NULL)
        mproc__pool_unlock(p);
    return rc;
}

void mproc_async_destroy(mproc_async_t *r)
{
    if (r == NULL)
        return;
    drop(r->job);
    free(r);
}

/* ---- imap -----------------------------------------------------------------
 */

static int imap_start(mproc_pool_t *p, mproc_pool_fn fn,
                      const mproc_value_t *items,
                      const mproc_pool_call_opts_t *opts,
                      mproc__job_kind_e kind, mproc_imap_t **out)
{
    mproc__pool_job_t *j;
    mproc_imap_t *it;
    size_t chunk, cap;
    int rc;
    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the iterator");
    *out = NULL;
    if ((items == NULL) == (opts == NULL || opts->producer == NULL))
        return mproc__set_error(MPROC_EINVAL,
                                "imap takes its items from a list or from "
                                ".producer: one of the two");
    if (items != NULL && mproc_value_type(items) != MPROC_VALUE_LIST)
        return mproc__set_error(MPROC_EINVAL, "imap needs a list of items");
    if (p == NULL)
        return mproc__set_error(MPROC_EINVAL, "no pool");
    chunk = opts != NULL && opts->chunksize > 0 ? opts->chunksize : 1;
    cap = (size_t) mproc__pool_size(p) * 4 * chunk;
    if (cap < 1024)
        cap = 1024;
    if (opts != NULL && opts->max_in_flight > 0)
        cap = opts->max_in_flight;
    it = malloc(sizeof *it);
    if (it == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = make_job(p, kind, 0, fn, opts, cap, &j);
    if (rc != 0) {
        free(it);
        return rc;
    }
    j->chunksize = chunk;
    if (items != NULL) {
        j->owned_input = mproc_value_copy(items);
        if (j->owned_input == NULL) {
            job_free(j);
            free(it);
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        }
        j->input = j->owned_input;
        j->total = mproc_value_len(items);
    }
    rc = submit(p, j);
    if (rc != 0) {
        free(it);
        return rc;
    }
    it->job = j;
    it->index = (size_t) -1;
    *out = it;
    return 0;
}

int mproc_pool_imap(mproc_pool_t *pool, mproc_pool_fn fn,
                    const mproc_value_t *items,
                    const mproc_pool_call_opts_t *opts, mproc_imap_t **out)
{
    return imap_start(pool, fn, items, opts, MPROC__JOB_IMAP, out);
}

int mproc_pool_imap_unordered(mproc_pool_t *pool, mproc_pool_fn fn,
                              const mproc_value_t *items,
                              const mproc_pool_call_opts_t *opts,
                              mproc_imap_t **out)
{
    return imap_start(pool, fn, items, opts, MPROC__JOB_IMAP_UN, out);
}

/* Whether mproc_imap_next() would return now. */
static int imap_ready(void *arg)
{
    const mproc__pool_job_t *j = arg;
    if (j->kind == MPROC__JOB_IMAP_UN) {
        if (j->ready_len > 0)
            return 1;
    } else if (j->base < j->n &&
               j->items[j->base % j->cap].state == MPROC__ITEM_DONE) {
        return 1;
    }
    return j->state == MPROC__JOB_READY;
}

/* Gives the next result; the iterator is ready (imap_ready). */
static int imap_take(mproc_imap_t *it, mproc_value_t **value)
{
    mproc__pool_job_t *j = it->job;
    mproc__pool_item_t *item = NULL;
    int rc;
    if (j->kind == MPROC__JOB_IMAP_UN && j->ready_len > 0) {
        size_t i = j->ready_fifo[j->ready_head];
        j->ready_head = (j->ready_head + 1) % j->cap;
        j->ready_len--;
        item = mproc__job_item(j, i);
    } else if (j->kind == MPROC__JOB_IMAP && j->base < j->n &&
               mproc__job_item(j, j->base)->state == MPROC__ITEM_DONE) {
        item = mproc__job_item(j, j->base);
    }
    if (item == NULL) {
        /* Over: a call that failed says so once, then the end. */
        if (j->status != 0 && !j->end_told) {
            j->end_told = 1;
            return mproc__set_error(j->status, "%s", j->error ? j->error : "");
        }
        return mproc__set_error(MPROC_ESTOP, "the imap has no more results");
    }
    it->index = item->index;
    rc = item->status;
    if (rc != 0)
        mproc__set_error(rc, "%s", item->error ? item->error : "");
    else if (value != NULL)
        *value = item->result;
    else
        mproc_value_free(item->result);
    item->result = NULL;
    free_item(item);
    item->state = MPROC__ITEM_EMPTY;
    item->status = 0;
    j->taken++;
    /* The ring's oldest taken places are free again. */
    while (j->base < j->n &&
           mproc__job_item(j, j->base)->state == MPROC__ITEM_EMPTY)
        j->base++;
    return rc;
}

int mproc_imap_next(mproc_imap_t *it, double timeout, mproc_value_t **value)
{
    mproc__pool_job_t *j;
    mproc_pool_t *p;
    int rc = 0;
    if (value != NULL)
        *value = NULL;
    if (it == NULL)
        return mproc__set_error(MPROC_EINVAL, "no iterator");
    j = it->job;
    p = j->pool;
    if (p != NULL && mproc__pool_ours(p) != 0)
        return MPROC_ENOTCHILD;
    if (p != NULL) {
        mproc__pool_lock(p);
        rc = mproc__pool_wait(p, imap_ready, j, timeout);
    }
    if (rc == 0)
        rc = imap_take(it, value);
    if (p != NULL) {
        /* Room was made: more of the input may go. */
        if (j->state == MPROC__JOB_RUNNING) {
            mproc__job_fill(j);
            mproc__pool_dispatch(p);
            if (mproc__job_wants_input(j))
                mproc__pool_kick(p);
        }
        mproc__pool_unlock(p);
    }
    return rc;
}

size_t mproc_imap_index(const mproc_imap_t *it)
{
    return it != NULL ? it->index : (size_t) -1;
}

/* Whether none of the job's callbacks runs now. */
static int quiet(void *arg)
{
    const mproc__pool_job_t *j = arg;
    return !j->pulling && !j->in_callback;
}

void mproc_imap_destroy(mproc_imap_t *it)
{
    mproc__pool_job_t *j;
    mproc_pool_t *p;
    if (it == NULL)
        return;
    j = it->job;
    p = j->pool;
    if (p != NULL && mproc__pool_ours(p) != 0) {
        free(it); /* a fork child's copy: the job is the parent's */
        return;
    }
    if (p != NULL) {
        mproc__pool_lock(p);
        /* No more input; what is still running is dropped as it comes. */
        if (j->state == MPROC__JOB_RUNNING) {
            j->state = MPROC__JOB_READY;
            j->status = MPROC_ETERMINATED;
            j->input_ended = 1;
            j->nredo = 0;
        }
        j->progress_due = 0;
        /*
         * Its producer or progress callback may be running in the thread
         * that drives: once this returns, neither runs again, so that the
         * caller may free what they use. From one of them it cannot wait.
         */
        if (!mproc__pool_driven_here(p))
            mproc__pool_wait(p, quiet, j, MPROC_FOREVER);
        mproc__pool_forget_if_over(p, j);
        mproc__job_release(j);
        mproc__pool_unlock(p);
    } else {
        mproc__job_release(j);
    }
    free(it);
}
