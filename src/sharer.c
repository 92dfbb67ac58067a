/*
 * The sharer: hands a connection's descriptors to a running process that
 * asks for them. CPython's multiprocessing/resource_sharer.py.
 *
 * A connection put on a queue or sent through another connection reaches
 * a process that is already running, which can get descriptors only over
 * a Unix socket (SCM_RIGHTS). So the sending process offers copies of
 * them here, under a random one-time id, and the reference it sends names
 * the id and this process's sharer socket. The receiver connects, both
 * sides prove they know the process tree's authkey (auth.c), the receiver
 * names the id, and the sharer sends the descriptors and closes its
 * copies: an id is served once.
 *
 * The sharer is a background thread on a local listener (a Unix socket in
 * a private 0700 directory), started on first offer and stopped when the
 * process lets go of what it holds at exit; a fork child forgets its
 * parent's. One client is served at a time, each with bounded waits, so a
 * client that stalls or talks nonsense costs its own connection and a few
 * seconds, never the sharer. Offers never taken are closed at exit, as
 * Python's are.
 *
 * Windows needs no thread: a receiver pulls handles out of the sender by
 * its pid (handover.c), so offering answers MPROC_ENOTSUP there, since the
 * OS has no local listener. A handle value alone is not safe to pull,
 * though: once one taker closed the sender's copy, the value may name
 * another handle of the sender. So the sender records each offer under a
 * one-time id in a table in named shared memory (offer_by_pid), and a
 * taker claims the id there by compare-and-swap first (claim): one taker
 * wins, every other finds the id gone and touches nothing.
 */
#include <apr_thread_mutex.h>
#include <apr_thread_proc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"
#include "auth.h"
#include "sharer.h"

#include "atomic.h"

/* How long either side waits for the other's next message, in seconds. */
#define IO_TIMEOUT_SEC 5.0
/* The request: 'T' and the id, 8 bytes little-endian. */
#define REQUEST_SIZE 9
/* Offers that can wait untaken at once in the by-pid table. */
#define TABLE_SLOTS 1024

typedef struct offer_t {
    int64_t id;
    mproc__os_fd_t h[2];
    size_t n;
    struct offer_t *next;
} offer_t;

/* The state of this process's sharer; lock guards everything below it. */
static struct {
    volatile uint32_t once; /* 0: no lock yet, 1: being made, 2: made */
    apr_pool_t *pool;
    apr_thread_mutex_t *lock;
    int running;
    int stopping;
    mproc__os_fd_t listener;
    char path[MPROC__OS_LOCAL_PATH_MAX];
    apr_thread_t *thread;
    offer_t *offers;
    mproc__owned_t owned;       /* stops the sharer at exit */
    mproc__os_shm_t *table_shm; /* the by-pid offers: an id per slot, */
    volatile uint64_t *table;   /* 0 where the slot is free */
    char table_name[MPROC__OFFERS_NAME_MAX];
} sh;

/* Makes the lock once, whichever thread comes first. */
static int init_lock(void)
{
    for (;;) {
        uint32_t was = mproc__atomic_cas32(&sh.once, 0, 1);
        if (was == 2)
            return 0;
        if (was == 0)
            break;
        mproc__os_yield();
    }
    if (apr_pool_create(&sh.pool, NULL) != APR_SUCCESS ||
        apr_thread_mutex_create(&sh.lock, APR_THREAD_MUTEX_DEFAULT, sh.pool) !=
            APR_SUCCESS) {
        if (sh.pool != NULL)
            apr_pool_destroy(sh.pool);
        sh.pool = NULL;
        mproc__atomic_store32(&sh.once, 0);
        return mproc__set_error(MPROC_ENOMEM,
                                "cannot make the connection sharer's lock");
    }
    mproc__atomic_store32(&sh.once, 2);
    return 0;
}

/* Whether an offer @id waits. Called with the lock held. */
static int has_offer(int64_t id)
{
    const offer_t *o;
    for (o = sh.offers; o != NULL; o = o->next)
        if (o->id == id)
            return 1;
    return 0;
}

/* Removes and returns the offer @id, or NULL. Called with the lock held. */
static offer_t *unlink_offer(int64_t id)
{
    offer_t **p;
    for (p = &sh.offers; *p != NULL; p = &(*p)->next) {
        if ((*p)->id == id) {
            offer_t *o = *p;
            *p = o->next;
            return o;
        }
    }
    return NULL;
}

static void free_offer(offer_t *o)
{
    size_t i;
    for (i = 0; i < o->n; i++)
        mproc__os_close(o->h[i]);
    free(o);
}

/* Serves one client on @conn: authenticate, read the id, hand over. */
static void serve(mproc__os_fd_t conn)
{
    unsigned char req[REQUEST_SIZE];
    mproc__os_handle_t h[2];
    offer_t *o;
    int64_t id = 0;
    size_t i;
    if (mproc__os_set_recv_timeout(conn, IO_TIMEOUT_SEC) != 0 ||
        mproc__auth_server(conn, mproc__auth_key()) != 0 ||
        mproc__read_exact(conn, req, sizeof req) != 0 || req[0] != 'T')
        return;
    for (i = 0; i < 8; i++)
        id |= (int64_t) ((uint64_t) req[1 + i] << (8 * i));
    apr_thread_mutex_lock(sh.lock);
    o = unlink_offer(id);
    apr_thread_mutex_unlock(sh.lock);
    /* An unknown id gets no answer: the client reads the end as "none". */
    if (o == NULL)
        return;
    for (i = 0; i < o->n; i++) {
        h[i].h = o->h[i];
        h[i].kind = MPROC__OS_HANDLE_FILE;
    }
    /* Served once, whether it arrived or not: the copies go either way. */
    mproc__os_send_handles(conn, 'C', h, o->n);
    free_offer(o);
}

static void *APR_THREAD_FUNC serve_loop(apr_thread_t *t, void *arg)
{
    (void) arg;
    for (;;) {
        mproc__os_fd_t conn;
        int rc = mproc__os_local_accept(sh.listener, &conn);
        int stopping;
        apr_thread_mutex_lock(sh.lock);
        stopping = sh.stopping;
        apr_thread_mutex_unlock(sh.lock);
        if (rc == 0 && !stopping)
            serve(conn);
        if (rc == 0)
            mproc__os_close(conn);
        if (stopping)
            break;
        /* A failed accept (out of descriptors, say) must not spin hot. */
        if (rc != 0)
            mproc_sleep(0.01);
    }
    apr_thread_exit(t, APR_SUCCESS);
    return NULL;
}

/* At exit: stop the thread, remove the socket, close what was not taken. */
static void stop(void *unused)
{
    apr_status_t ignored;
    mproc__os_fd_t wake;
    offer_t *o;
    (void) unused;
    apr_thread_mutex_lock(sh.lock);
    sh.stopping = 1;
    apr_thread_mutex_unlock(sh.lock);
    /* The thread waits in accept: a connection of our own wakes it. */
    if (mproc__os_local_connect(sh.path, 0, &wake) == 0) {
        apr_thread_join(&ignored, sh.thread);
        mproc__os_close(wake);
    }
    apr_thread_mutex_lock(sh.lock);
    mproc__os_close(sh.listener);
    mproc__os_local_remove(sh.path);
    while ((o = sh.offers) != NULL) {
        sh.offers = o->next;
        free_offer(o);
    }
    sh.running = 0;
    sh.stopping = 0;
    apr_thread_mutex_unlock(sh.lock);
}

/* Starts the sharer if it is not running. Called with the lock held. */
static int start(void)
{
    int rc;
    if (sh.running)
        return 0;
    rc = mproc__os_local_listen("mproc-share", 0, &sh.listener, sh.path,
                                sizeof sh.path);
    if (rc != 0)
        return rc;
    if (apr_thread_create(&sh.thread, NULL, serve_loop, NULL, sh.pool) !=
        APR_SUCCESS) {
        mproc__os_close(sh.listener);
        mproc__os_local_remove(sh.path);
        return mproc__set_error(MPROC_EOS,
                                "cannot start the connection sharer's thread");
    }
    sh.running = 1;
    mproc__owned_link(&sh.owned, stop, NULL);
    return 0;
}

int mproc__sharer_offer(const mproc__os_fd_t *h, size_t n, int64_t *id,
                        char *path, size_t cap)
{
    offer_t *o;
    uint64_t r;
    int rc = init_lock();
    if (rc != 0)
        return rc;
    if (n < 1 || n > 2 || cap < sizeof sh.path)
        return mproc__set_error(MPROC_EINVAL, "a bad offer to the sharer");
    o = calloc(1, sizeof *o);
    if (o == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    apr_thread_mutex_lock(sh.lock);
    rc = start();
    if (rc == 0) {
        /* Random, so a taker cannot guess another's offer. */
        do {
            mproc__random_bytes(&r, sizeof r);
            o->id = (int64_t) (r >> 1);
        } while (has_offer(o->id));
        memcpy(o->h, h, n * sizeof *h);
        o->n = n;
        o->next = sh.offers;
        sh.offers = o;
        *id = o->id;
        memcpy(path, sh.path, sizeof sh.path);
    }
    apr_thread_mutex_unlock(sh.lock);
    if (rc != 0)
        free(o);
    return rc;
}

int mproc__sharer_take(const char *path, long pid, int64_t id,
                       mproc__os_fd_t *h, size_t n)
{
    unsigned char req[REQUEST_SIZE];
    mproc__os_handle_t got[2];
    mproc__os_fd_t sock;
    size_t i, k = 0;
    char tag = 0;
    int rc;
    if (n < 1 || n > 2)
        return mproc__set_error(MPROC_ECORRUPT,
                                "connection reference: a bad handle count");
    rc = mproc__os_local_connect(path, 0, &sock);
    if (rc != 0)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "process %ld, which sent this connection, no "
                                "longer offers it (it has ended, or let go "
                                "of it at exit): take a connection while its "
                                "sender runs",
                                pid);
    req[0] = 'T';
    for (i = 0; i < 8; i++)
        req[1 + i] = (unsigned char) ((uint64_t) id >> (8 * i));
    rc = mproc__os_set_recv_timeout(sock, IO_TIMEOUT_SEC);
    if (rc == 0)
        rc = mproc__auth_client(sock, mproc__auth_key());
    if (rc == 0)
        rc = mproc__os_write_all(sock, req, sizeof req);
    if (rc == 0)
        rc = mproc__os_recv_handles(sock, &tag, got, 2, &k);
    mproc__os_close(sock);
    if (rc == MPROC_ECLOSED)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "process %ld has no connection to hand over "
                                "under this reference: it was taken already "
                                "(a reference that travelled is taken once), "
                                "or the process is ending",
                                pid);
    if (rc != 0)
        return rc;
    if (tag != 'C' || k != n) {
        for (i = 0; i < k; i++)
            mproc__os_handle_close(&got[i]);
        return mproc__set_error(MPROC_ECORRUPT,
                                "the sharer of process %ld answered with %zu "
                                "handles, not %zu",
                                pid, k, n);
    }
    for (i = 0; i < n; i++)
        h[i] = got[i].h;
    return 0;
}

/* Makes the by-pid table if it is not there. Called with the lock held. */
static int open_table(void)
{
    int rc, attempt;
    if (sh.table != NULL)
        return 0;
    for (attempt = 0;; attempt++) {
        unsigned char r[8];
        int i;
        mproc__random_bytes(r, sizeof r);
        memcpy(sh.table_name, "mproc-of-", 9);
        for (i = 0; i < 8; i++)
            snprintf(sh.table_name + 9 + 2 * i, 3, "%02x", r[i]);
        rc = mproc__os_shm_create(&sh.table_shm, sh.table_name,
                                  TABLE_SLOTS * sizeof(uint64_t));
        if (rc != MPROC_EEXIST || attempt == 100)
            break;
    }
    if (rc != 0)
        return rc;
    /* Fresh memory is zero: every slot free. */
    sh.table = mproc__os_shm_addr(sh.table_shm);
    return 0;
}

int mproc__sharer_offer_by_pid(int64_t *id, char *name, size_t cap)
{
    uint64_t r, want;
    size_t slot;
    int rc = init_lock();
    if (rc != 0)
        return rc;
    if (cap < sizeof sh.table_name)
        return mproc__set_error(MPROC_EINVAL, "a bad offer to the sharer");
    apr_thread_mutex_lock(sh.lock);
    rc = open_table();
    if (rc == 0) {
        /* The slot is in the id's low bits, so a taker finds it. */
        mproc__random_bytes(&r, sizeof r);
        r = (r >> 12) | 1;
        for (slot = 0; slot < TABLE_SLOTS; slot++) {
            want = (r << 10) | slot;
            if (mproc__atomic_cas64(&sh.table[slot], 0, want) == 0)
                break;
        }
        if (slot == TABLE_SLOTS)
            rc = mproc__set_error(MPROC_ERANGE,
                                  "%d connections wait to be taken from this "
                                  "process already; take some before "
                                  "sending more",
                                  TABLE_SLOTS);
        else {
            *id = (int64_t) want;
            memcpy(name, sh.table_name, sizeof sh.table_name);
        }
    }
    apr_thread_mutex_unlock(sh.lock);
    return rc;
}

int mproc__sharer_claim(const char *name, long pid, int64_t id)
{
    mproc__os_shm_t *shm;
    volatile uint64_t *table;
    uint64_t slot = (uint64_t) id & (TABLE_SLOTS - 1);
    int rc = mproc__os_shm_open(&shm, name, TABLE_SLOTS * sizeof(uint64_t));
    if (rc != 0)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "process %ld, which sent this connection, no "
                                "longer offers it (it has ended): take a "
                                "connection while its sender runs",
                                pid);
    table = mproc__os_shm_addr(shm);
    rc = id != 0 && mproc__atomic_cas64(&table[slot], (uint64_t) id, 0) ==
                        (uint64_t) id
             ? 0
             : mproc__set_error(MPROC_ENOTFOUND,
                                "process %ld has no connection to hand over "
                                "under this reference: it was taken already "
                                "(a reference that travelled is taken once)",
                                pid);
    mproc__os_shm_close(shm);
    return rc;
}

void mproc__sharer_after_fork(void)
{
    offer_t *o;
    /*
     * The thread did not come along, and the lock may have been held by
     * another thread at the fork (or been half made): both are left as
     * they are, and the next offer here makes a sharer of this process's
     * own. The parent's offers are closed: they are the parent's to hand
     * over, and an open copy here would keep a pipe from ever reporting
     * its end. A by-pid table exists only where there is no fork.
     */
    if (mproc__atomic_load32(&sh.once) == 2) {
        if (sh.running)
            mproc__os_close(sh.listener);
        while ((o = sh.offers) != NULL) {
            sh.offers = o->next;
            free_offer(o);
        }
    }
    memset(&sh, 0, sizeof sh);
}
