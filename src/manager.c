/*
 * Managers from the clients' side: starting a manager's server process,
 * connecting to one, and the proxies of its objects (manager.h has the
 * protocol; manager_server.c is the server).
 *
 * A process keeps one client per manager it uses, which every proxy of
 * that manager's objects in this process shares. Each thread that calls
 * through it has a connection of its own (as Python's proxies keep one per
 * thread), so that one thread's slow or blocking call never holds up
 * another's. The server counts each proxy as a reference of the client's
 * session, which all of the process's connections share: the client's
 * home connection, opened when the client is made (and used by the thread
 * that made it), tells the session's token in its HELLO, and every other
 * thread's connection JOINs that session first. A proxy made on one
 * thread may thus be used and freed on any other, and a thread that ends
 * closes its own connection (a per-thread slot's exit function) without
 * dropping anything: the home connection, which is the client's, keeps
 * the session until the client goes. A process that ends, however, lets
 * go of everything it held when its connections close. A client is found
 * again by the manager's identity (the server's random id, which HELLO
 * tells), so that a reference opened here uses the client already there,
 * whatever address it was made with.
 *
 * A fork child inherits its parent's clients and proxies as memory, not
 * as connections: the parent's sockets are the parent's. The first call in
 * the child connects anew (a home of its own, a session of its own), and a
 * proxy inherited this way takes a reference of the child's own (INCREF)
 * before its first call, as Python's proxies do after a fork.
 *
 * Once a call finds the manager gone (its connection closed or broken),
 * the client stays gone: every later call, on every thread, fails at once
 * with MPROC_EMANAGER, since the objects went with the server.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "atomic.h"
#include "conn_internal.h"
#include "manager.h"
#include "tlock.h"

/* How long a start waits for the server, and a connect for the peer. */
#define DEFAULT_TIMEOUT 20.0
/* How long a shutdown waits for the server to end, before each step. */
#define SHUTDOWN_WAIT 1.0
/* The longest key a manager takes: references carry it in hex. */
#define KEY_MAX 256

typedef struct tconn tconn;

typedef struct client {
    char *address;
    unsigned char *key; /* a copy of the manager's key */
    size_t keylen;
    char id[MPROC__MGR_ID_LEN + 1];
    long server_pid;
    char *server_name;
    /*
     * The home connection, the client's own (NULL in a fork child until
     * its first call), and the token of its session, which the other
     * threads' connections join; both under lock.
     */
    mproc__hlock_t *lock;
    mproc_conn_t *home;
    long home_pid; /* the process that opened home */
    char token[MPROC__MGR_TOKEN_LEN + 1];
    tconn *conns;           /* every thread's connection; under clients_lock */
    volatile uint32_t gone; /* 0; 2 while gone_why is written; then 1 */
    char gone_why[300];
    unsigned users; /* managers and proxies that use it; under clients_lock */
    struct client *next;
} client;

/*
 * One thread's connection to one manager: on the thread's list (which
 * only the thread walks) and on its client's (under clients_lock).
 */
struct tconn {
    client *c;          /* NULL once the client has gone; under clients_lock */
    mproc_conn_t *conn; /* the thread's, or the client's home */
    int is_home;
    tconn *next;          /* the thread's list */
    tconn *cprev, *cnext; /* the client's */
};

/* Every proxy type is this. */
typedef struct proxy {
    client *c;
    int64_t id;
    mproc_ref_kind_e kind;
    volatile uint32_t pid; /* the process whose reference this proxy counts */
    int runtime_owned;     /* opened from a reference: the runtime's */
    mproc__owned_t owned;
} proxy;

struct mproc_dict_t {
    proxy p;
};
struct mproc_list_t {
    proxy p;
};
struct mproc_namespace_t {
    proxy p;
};

struct mproc_manager_t {
    client *c;
    mproc_process_t *proc; /* the server, when this process started it */
    int fresh_address;     /* a private local address of the server's own */
    mproc_finalizer_t *fin;
};

static client *clients;
static mproc__spin_t clients_lock = MPROC__SPIN_INIT;

/* Each thread's list of connections (the head), made on first use. */
static mproc__os_tls_t *thread_conns;
static volatile uint32_t thread_conns_made;

/*
 * This process's pid, as its process object knows it (a fork child's is
 * its own): every call asks, and the OS's getpid is a system call.
 */
static long my_pid(void)
{
    return mproc_process_pid(mproc_current_process());
}

/* ---- clients ------------------------------------------------------------- */

static void hex_of(const unsigned char *p, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    size_t i;
    for (i = 0; i < n; i++) {
        out[2 * i] = digits[p[i] >> 4];
        out[2 * i + 1] = digits[p[i] & 15];
    }
    out[2 * n] = '\0';
}

static int hex_digit(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    return -1;
}

/* How this process names the manager in its sentences. */
static void describe(const client *c, char *buf, size_t cap)
{
    if (c->server_name != NULL && c->server_name[0] != '\0')
        snprintf(buf, cap, "the manager '%s' (pid %ld) at %s", c->server_name,
                 c->server_pid, c->address);
    else
        snprintf(buf, cap, "the manager at %s", c->address);
}

/* Whether @c is gone; its sentence is readable once this says so. */
static int is_gone(client *c)
{
    uint32_t g;
    while ((g = mproc__atomic_load32(&c->gone)) == 2)
        mproc__os_yield();
    return g != 0;
}

/* The failure of a call to a manager that is gone. */
static int gone_error(client *c)
{
    char who[400];
    describe(c, who, sizeof who);
    is_gone(c);
    return mproc__set_error(MPROC_EMANAGER, "%s is gone: %s", who, c->gone_why);
}

/*
 * Marks @c gone, for the reason of the last failure (@why), from any
 * thread: the first one to find it says why. The calling thread's own
 * connection @t (NULL: none) closes; the others close with their threads.
 */
static int mark_gone(client *c, tconn *t, const char *why)
{
    if (mproc__atomic_cas32(&c->gone, 0, 2) == 0) {
        snprintf(c->gone_why, sizeof c->gone_why, "%s", why);
        mproc__atomic_store32(&c->gone, 1);
    }
    if (t != NULL && !t->is_home && t->conn != NULL) {
        mproc_conn_close(t->conn);
        t->conn = NULL;
    }
    return gone_error(c);
}

/*
 * Opens a connection to @c's manager in *@out: authenticated with the
 * manager's key, whose first request, HELLO (@join 0: a new session,
 * whose token goes to @c) or JOIN (@join 1: @c's session), must name the
 * manager @c is for (once it is known). Called with @c's lock held, or
 * before @c is listed.
 */
static int open_conn(client *c, mproc_conn_t **out, int join, double timeout)
{
    mproc_client_opts_t o = {0};
    mproc__buf_t req = {0};
    mproc_value_t *hello = NULL, *token = NULL;
    mproc_conn_t *conn = NULL;
    void *buf = NULL;
    size_t len = 0;
    int status = 0, rc;
    o.authkey = c->key;
    o.authkey_len = c->keylen;
    o.timeout = timeout > 0 ? timeout : DEFAULT_TIMEOUT;
    *out = NULL;
    rc = mproc_client_connect(&conn, c->address, &o);
    if (rc == MPROC_ENOTFOUND) {
        char why[300];
        snprintf(why, sizeof why, "%s", mproc_last_error());
        return mproc__set_error(MPROC_EMANAGER, "no manager serves at %s: %s",
                                c->address, why);
    }
    if (rc != 0)
        return rc;
    if (join && (token = mproc_value_str(c->token)) == NULL)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (rc == 0)
        rc =
            mproc__mgr_request_encode(join ? MPROC__MGR_JOIN : MPROC__MGR_HELLO,
                                      0, &token, join ? 1 : 0, &req);
    mproc_value_free(token);
    if (rc == 0)
        rc = mproc_conn_send_bytes(conn, req.data, req.len);
    if (rc == 0)
        rc = mproc_conn_recv_bytes(conn, &buf, &len);
    if (rc == 0)
        rc = mproc__mgr_reply_decode(buf, len, &status, &hello);
    mproc__buf_free(&req);
    free(buf);
    if (rc == 0 && join && status < 0)
        rc = mproc__set_error(MPROC_EMANAGER,
                              "the manager at %s does not know this "
                              "process's session any more: %s",
                              c->address, mproc_value_as_str(hello));
    else if (rc == 0 &&
             (status != 0 || mproc_value_len(hello) != (join ? 3u : 4u) ||
              mproc_value_len(mproc_value_at(hello, 0)) != MPROC__MGR_ID_LEN ||
              mproc_value_type(mproc_value_at(hello, 1)) != MPROC_VALUE_INT ||
              mproc_value_type(mproc_value_at(hello, 2)) != MPROC_VALUE_STR ||
              (!join && mproc_value_len(mproc_value_at(hello, 3)) !=
                            MPROC__MGR_TOKEN_LEN)))
        rc = mproc__set_error(MPROC_ECORRUPT, "what serves at %s is no manager",
                              c->address);
    if (rc == 0 && c->id[0] != '\0' &&
        strcmp(c->id, mproc_value_as_str(mproc_value_at(hello, 0))) != 0)
        rc = mproc__set_error(MPROC_EMANAGER,
                              "the manager at %s is another one than this "
                              "process knew (a new server at the old "
                              "address)",
                              c->address);
    if (rc == 0 && c->id[0] == '\0') {
        char *name =
            mproc__strdup(mproc_value_as_str(mproc_value_at(hello, 2)));
        if (name == NULL) {
            rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
        } else {
            memcpy(c->id, mproc_value_as_str(mproc_value_at(hello, 0)),
                   MPROC__MGR_ID_LEN + 1);
            c->server_pid = (long) mproc_value_as_int(mproc_value_at(hello, 1));
            c->server_name = name;
        }
    }
    if (rc == 0 && !join)
        memcpy(c->token, mproc_value_as_str(mproc_value_at(hello, 3)),
               MPROC__MGR_TOKEN_LEN + 1);
    mproc_value_free(hello);
    if (rc != 0) {
        mproc_conn_close(conn);
        return rc;
    }
    *out = conn;
    return 0;
}

/* Unlinks @t from its client's list; called with clients_lock held. */
static void tconn_unlink(tconn *t)
{
    if (t->cprev != NULL)
        t->cprev->cnext = t->cnext;
    else
        t->c->conns = t->cnext;
    if (t->cnext != NULL)
        t->cnext->cprev = t->cprev;
    t->c = NULL;
    t->cprev = t->cnext = NULL;
}

/*
 * The exit function of a thread's list: its connections close (not a
 * home, which is its client's), and the records go.
 */
static void thread_ends(void *head)
{
    tconn *t, *next;
    mproc__spin_lock(&clients_lock);
    for (t = head; t != NULL; t = t->next)
        if (t->c != NULL)
            tconn_unlink(t);
    mproc__spin_unlock(&clients_lock);
    for (t = head; t != NULL; t = next) {
        next = t->next;
        if (!t->is_home && t->conn != NULL)
            mproc_conn_close(t->conn);
        free(t);
    }
}

/* The slot of the threads' lists, made once. */
static int thread_slot(void)
{
    int rc = 0;
    if (mproc__atomic_load32(&thread_conns_made))
        return 0;
    mproc__spin_lock(&clients_lock);
    if (thread_conns == NULL)
        rc = mproc__os_tls_create(&thread_conns, thread_ends);
    if (rc == 0)
        mproc__atomic_store32(&thread_conns_made, 1);
    mproc__spin_unlock(&clients_lock);
    return rc;
}

/*
 * Records @conn as the calling thread's connection to @c: on the thread's
 * list and the client's. MPROC_ENOMEM: nothing recorded.
 */
static int tconn_add(client *c, mproc_conn_t *conn, int is_home, tconn **out)
{
    tconn *t;
    int rc = thread_slot();
    if (rc != 0)
        return rc;
    t = calloc(1, sizeof *t);
    if (t == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    t->conn = conn;
    t->is_home = is_home;
    t->next = mproc__os_tls_get(thread_conns);
    if (mproc__os_tls_set(thread_conns, t) != 0) {
        free(t);
        return MPROC_ENOMEM;
    }
    mproc__spin_lock(&clients_lock);
    t->c = c;
    t->cnext = c->conns;
    if (c->conns != NULL)
        c->conns->cprev = t;
    c->conns = t;
    mproc__spin_unlock(&clients_lock);
    *out = t;
    return 0;
}

/*
 * The calling thread's connection to @c, made on its first call: the home
 * connection in the thread that made @c (or, in a fork child, in the
 * thread that calls first, which makes it), else one that joins the
 * home's session. Records of clients that have gone go on the way.
 */
static int thread_conn(client *c, tconn **out)
{
    tconn *t = NULL, **pp, *dead = NULL;
    mproc_conn_t *conn = NULL;
    int rc, is_home = 0;
    if (thread_slot() == 0) {
        tconn *head = mproc__os_tls_get(thread_conns);
        mproc__spin_lock(&clients_lock);
        for (pp = &head; *pp != NULL;) {
            tconn *x = *pp;
            if (x->c == NULL) {
                *pp = x->next;
                x->next = dead;
                dead = x;
            } else {
                if (x->c == c)
                    t = x;
                pp = &x->next;
            }
        }
        mproc__spin_unlock(&clients_lock);
        if (dead != NULL)
            mproc__os_tls_set(thread_conns, head);
        while (dead != NULL) {
            tconn *x = dead;
            dead = x->next;
            free(x);
        }
    }
    if (t != NULL && t->conn != NULL) {
        *out = t;
        return 0;
    }
    if (mproc__hlock_lock(c->lock, MPROC_FOREVER) != 0)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (c->home == NULL || c->home_pid != my_pid()) {
        /* A fork child's first call: a home, and a session, of its own. */
        c->home = NULL;
        rc = open_conn(c, &c->home, 0, 0);
        if (rc == 0) {
            c->home_pid = my_pid();
            conn = c->home;
            is_home = 1;
        }
    } else {
        rc = open_conn(c, &conn, 1, 0);
    }
    mproc__hlock_unlock(c->lock);
    if (rc != 0)
        return rc;
    if (t != NULL) {
        t->conn = conn;
        t->is_home = is_home;
        *out = t;
        return 0;
    }
    rc = tconn_add(c, conn, is_home, out);
    if (rc != 0 && !is_home)
        mproc_conn_close(conn);
    return rc;
}

static void client_free(client *c)
{
    tconn *t;
    /*
     * The threads' records stay on their lists, for their threads to free;
     * their connections close here (the client has no user left, so none
     * is in a call).
     */
    mproc__spin_lock(&clients_lock);
    while ((t = c->conns) != NULL) {
        if (!t->is_home && t->conn != NULL)
            mproc_conn_close(t->conn);
        t->conn = NULL;
        tconn_unlink(t);
    }
    mproc__spin_unlock(&clients_lock);
    if (c->home != NULL && c->home_pid == my_pid())
        mproc_conn_close(c->home);
    if (c->key != NULL)
        memset(c->key, 0, c->keylen);
    free(c->key);
    free(c->address);
    free(c->server_name);
    mproc__hlock_destroy(c->lock);
    free(c);
}

/*
 * A new client of the manager at @address with @key (NULL: this process's
 * authkey), connected, and listed. @id, if not NULL, is the manager it
 * must be.
 */
static int client_new(client **out, const char *address, const void *key,
                      size_t keylen, const char *id, double timeout)
{
    client *c = calloc(1, sizeof *c);
    tconn *t;
    int rc;
    if (key == NULL) {
        key = mproc__auth_key();
        keylen = MPROC__AUTHKEY_SIZE;
    }
    if (c == NULL || (c->address = mproc__strdup(address)) == NULL ||
        (c->key = malloc(keylen)) == NULL) {
        if (c != NULL)
            free(c->address);
        free(c);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    memcpy(c->key, key, keylen);
    c->keylen = keylen;
    if (id != NULL)
        snprintf(c->id, sizeof c->id, "%s", id);
    rc = mproc__hlock_create(&c->lock);
    if (rc == 0)
        rc = open_conn(c, &c->home, 0, timeout);
    if (rc != 0) {
        client_free(c);
        return rc;
    }
    c->home_pid = my_pid();
    c->users = 1;
    /*
     * The home serves this thread's calls; if it cannot be recorded, this
     * thread joins on its first call like any other.
     */
    tconn_add(c, c->home, 1, &t);
    mproc__spin_lock(&clients_lock);
    c->next = clients;
    clients = c;
    mproc__spin_unlock(&clients_lock);
    *out = c;
    return 0;
}

/* The listed client of manager @id, with one more user; or NULL. */
static client *client_find(const char *id)
{
    client *c;
    mproc__spin_lock(&clients_lock);
    for (c = clients; c != NULL; c = c->next)
        if (strcmp(c->id, id) == 0 && !mproc__atomic_load32(&c->gone))
            break;
    if (c != NULL)
        c->users++;
    mproc__spin_unlock(&clients_lock);
    return c;
}

/* One user less; the last one unlists and frees the client. */
static void client_unref(client *c)
{
    client **p;
    int last;
    mproc__spin_lock(&clients_lock);
    last = --c->users == 0;
    if (last)
        for (p = &clients; *p != NULL; p = &(*p)->next)
            if (*p == c) {
                *p = c->next;
                break;
            }
    mproc__spin_unlock(&clients_lock);
    if (last)
        client_free(c);
}

void mproc__manager_after_fork(void)
{
    client *c;
    tconn *t;
    /*
     * The parent's connections are the parent's: the child closes its
     * copies (so that the parent's sessions end with the parent) and
     * makes its own on its first call. The records of the parent's
     * threads go; this thread's list starts empty.
     */
    mproc__spin_reset(&clients_lock);
    if (thread_conns != NULL) {
        /* Records of clients gone already are on this thread's list only. */
        tconn *next;
        for (t = mproc__os_tls_get(thread_conns); t != NULL; t = next) {
            next = t->next;
            if (t->c == NULL)
                free(t);
        }
    }
    for (c = clients; c != NULL; c = c->next) {
        while ((t = c->conns) != NULL) {
            if (!t->is_home && t->conn != NULL)
                mproc_conn_close(t->conn);
            tconn_unlink(t);
            free(t);
        }
        if (c->home != NULL)
            mproc_conn_close(c->home);
        c->home = NULL;
    }
    if (thread_conns != NULL)
        mproc__os_tls_set(thread_conns, NULL);
}

/* ---- one call ----------------------------------------------------------- */

typedef struct rewrite_ctx {
    client *c;
    char keyhex[2 * KEY_MAX + 1];
    int failed;
} rewrite_ctx;

/* The key as a reference carries it: "" for this process's own authkey. */
static void key_field(const client *c, char *out, size_t cap)
{
    if ((c->keylen == MPROC__AUTHKEY_SIZE &&
         memcmp(c->key, mproc__auth_key(), MPROC__AUTHKEY_SIZE) == 0) ||
        2 * c->keylen + 1 > cap)
        out[0] = '\0';
    else
        hex_of(c->key, c->keylen, out);
}

/*
 * Every reference to @c's manager in @v, as it came from the server: it
 * gets the address and key this process reaches the manager by, so that
 * it can be sent on to a process that knows only what it says.
 */
static void rewrite(rewrite_ctx *r, mproc_value_t *v)
{
    mproc_value_type_e t = mproc_value_type(v);
    size_t i, n = mproc_value_len(v);
    if (t == MPROC_VALUE_REF) {
        const mproc_value_t *f = mproc__ref_fields(v);
        if (!mproc__mgr_kind_ok(mproc_value_ref_kind(v)) ||
            strcmp(
                mproc_value_as_str(mproc_value_at(f, MPROC__MGR_REF_MANAGER)),
                r->c->id) != 0)
            return;
        if (mproc__ref_set_field(v, MPROC__MGR_REF_ADDRESS,
                                 mproc_value_str(r->c->address)) != 0 ||
            mproc__ref_set_field(v, MPROC__MGR_REF_KEY,
                                 mproc_value_str(r->keyhex)) != 0)
            r->failed = 1;
        return;
    }
    if (t == MPROC_VALUE_LIST || t == MPROC_VALUE_RECORD)
        for (i = 0; i < n; i++)
            rewrite(r, (mproc_value_t *) mproc_value_at(v, i));
    else if (t == MPROC_VALUE_MAP)
        for (i = 0; i < n; i++) {
            rewrite(r, (mproc_value_t *) mproc_value_key_at(v, i));
            rewrite(r, (mproc_value_t *) mproc_value_value_at(v, i));
        }
}

/*
 * Sends @req on @t, the calling thread's connection to @c, and reads the
 * reply. A broken connection makes @c gone.
 */
static int exchange(client *c, tconn *t, const mproc__buf_t *req, void **buf,
                    size_t *len)
{
    int rc;
    if (is_gone(c))
        return gone_error(c);
    rc = mproc_conn_send_bytes(t->conn, req->data, req->len);
    if (rc == MPROC_ETOOBIG)
        return rc; /* nothing was sent: the connection is as it was */
    if (rc == 0) {
        mproc__mgr_spin_for(t->conn);
        rc = mproc_conn_recv_bytes(t->conn, buf, len);
    }
    if (rc != 0) {
        char why[300];
        snprintf(why, sizeof why, "%s", mproc_last_error());
        return mark_gone(c, t, why);
    }
    return 0;
}

/* The calling thread's connection to @c, or the reason there is none. */
static int connection(client *c, tconn **t)
{
    int rc;
    if (is_gone(c))
        return gone_error(c);
    rc = thread_conn(c, t);
    if (rc == MPROC_EMANAGER)
        return mark_gone(c, NULL, "it cannot be reached from this process");
    return rc;
}

/*
 * A proxy this process inherited through fork: its reference was the
 * parent's, so the child takes one of its own first (once, whichever of
 * its threads calls first).
 */
static int adopt_inherited(client *c, tconn *t, proxy *p)
{
    mproc__buf_t inc = {0};
    mproc_value_t *idv, *payload = NULL;
    void *buf = NULL;
    size_t len = 0;
    int status = 0, rc;
    if (mproc__hlock_lock(c->lock, MPROC_FOREVER) != 0)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    if (mproc__atomic_load32(&p->pid) == (uint32_t) my_pid()) {
        mproc__hlock_unlock(c->lock);
        return 0;
    }
    idv = mproc_value_int(p->id);
    rc = idv == NULL
             ? mproc__set_error(MPROC_ENOMEM, "out of memory")
             : mproc__mgr_request_encode(MPROC__MGR_INCREF, 0, &idv, 1, &inc);
    mproc_value_free(idv);
    if (rc == 0)
        rc = exchange(c, t, &inc, &buf, &len);
    if (rc == 0)
        rc = mproc__mgr_reply_decode(buf, len, &status, &payload);
    if (rc == 0 && status < 0)
        rc = mproc__set_error(status, "%s", mproc_value_as_str(payload));
    if (rc == 0)
        mproc__atomic_store32(&p->pid, (uint32_t) my_pid());
    mproc__hlock_unlock(c->lock);
    mproc__buf_free(&inc);
    mproc_value_free(payload);
    free(buf);
    return rc;
}

/*
 * The request [@op, @id, the @n values of @args] to @c: the reply's
 * status, its payload in *@result (NULL: dropped). A refused call's
 * status comes with the server's sentence. @args are borrowed.
 */
static int roundtrip(client *c, proxy *p, mproc__mgr_op_e op, int64_t id,
                     mproc_value_t *const *args, size_t n,
                     mproc_value_t **result)
{
    mproc__buf_t req = {0};
    mproc_value_t *payload = NULL;
    tconn *t = NULL;
    void *buf = NULL;
    size_t len = 0;
    int status = 0, rc;
    if (result != NULL)
        *result = NULL;
    rc = mproc__mgr_request_encode(op, id, args, n, &req);
    if (rc != 0)
        return rc;
    rc = connection(c, &t);
    if (rc == 0 && p != NULL &&
        mproc__atomic_load32(&p->pid) != (uint32_t) my_pid())
        rc = adopt_inherited(c, t, p);
    if (rc == 0)
        rc = exchange(c, t, &req, &buf, &len);
    mproc__buf_free(&req);
    if (rc != 0)
        return rc;
    rc = mproc__mgr_reply_decode(buf, len, &status, &payload);
    free(buf);
    if (rc != 0)
        return rc;
    if (status < 0) {
        char who[400];
        if (status == MPROC_EREMOTE) {
            describe(c, who, sizeof who);
            mproc__set_error(status, "%s refused the call: %s", who,
                             mproc_value_as_str(payload));
        } else {
            mproc__set_error(status, "%s", mproc_value_as_str(payload));
        }
        mproc_value_free(payload);
        return status;
    }
    if (result != NULL) {
        rewrite_ctx r;
        r.c = c;
        r.failed = 0;
        if (mproc__value_holds_proxy(payload)) {
            key_field(c, r.keyhex, sizeof r.keyhex);
            rewrite(&r, payload);
        }
        if (r.failed) {
            mproc_value_free(payload);
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
        }
        *result = payload;
    } else {
        mproc_value_free(payload);
    }
    return status;
}

/*
 * A proxy's call: @n arguments (taken over; a NULL one is a constructor
 * that ran out of memory, and fails the call), the result in *@result.
 */
static int pcall(const void *obj, mproc_ref_kind_e kind, mproc__mgr_op_e op,
                 mproc_value_t **result, size_t n, mproc_value_t *a0,
                 mproc_value_t *a1, mproc_value_t *a2)
{
    proxy *p = (proxy *) obj;
    mproc_value_t *args[3];
    size_t i;
    int rc = 0;
    args[0] = a0;
    args[1] = a1;
    args[2] = a2;
    if (result != NULL)
        *result = NULL;
    for (i = 0; i < n; i++)
        if (args[i] == NULL)
            rc = mproc__set_error(MPROC_ENOMEM,
                                  "a value to send is missing (a constructor "
                                  "ran out of memory)");
    if (rc == 0 && p == NULL)
        rc = mproc__set_error(MPROC_EINVAL, "no %s proxy",
                              mproc__mgr_kind_name((int) kind));
    if (rc == 0)
        rc = roundtrip(p->c, p, op, p->id, args, n, result);
    for (i = 0; i < n; i++)
        mproc_value_free(args[i]);
    return rc;
}

/* ---- starting and connecting -------------------------------------------- */

static void manager_finalize(void *arg)
{
    mproc_manager_t *m = arg;
    m->fin = NULL;
    mproc_manager_shutdown(m);
}

/*
 * Waits for the server's first word on @r, or its end: 0 with the address
 * in *@address; the server's failure; MPROC_EOS if it ended without a
 * word; MPROC_ETIMEDOUT.
 */
static int await_server(mproc_process_t *proc, mproc_conn_t *r, double timeout,
                        char **address)
{
    mproc_waitable_t w[2];
    mproc_value_t *word = NULL;
    int rc, code = 0;
    memset(w, 0, sizeof w);
    w[0].conn = r;
    w[1].process = proc;
    rc = mproc_wait(w, 2, timeout);
    if (rc == MPROC_ETIMEDOUT)
        return mproc__set_error(MPROC_ETIMEDOUT,
                                "the manager process did not serve within "
                                "%g seconds",
                                timeout);
    if (rc < 0)
        return rc;
    /* Its word may be there although it has ended already: read it first. */
    rc = mproc_conn_poll(r, 0) == 0 ? mproc_conn_recv(r, &word) : MPROC_ECLOSED;
    if (rc != 0) {
        mproc_process_join(proc, MPROC_FOREVER);
        mproc_process_exitcode(proc, &code);
        return mproc__set_error(MPROC_EOS,
                                "the manager process ended with exit code %d "
                                "before it served",
                                code);
    }
    rc = 0;
    if (mproc_value_len(word) != 2 ||
        mproc_value_type(mproc_value_at(word, 0)) != MPROC_VALUE_INT ||
        mproc_value_type(mproc_value_at(word, 1)) != MPROC_VALUE_STR)
        rc = mproc__set_error(MPROC_ECORRUPT,
                              "the manager process said something else than "
                              "its address");
    else if (mproc_value_as_int(mproc_value_at(word, 0)) < 0)
        rc =
            mproc__set_error((int) mproc_value_as_int(mproc_value_at(word, 0)),
                             "%s", mproc_value_as_str(mproc_value_at(word, 1)));
    else if ((*address = mproc__strdup(
                  mproc_value_as_str(mproc_value_at(word, 1)))) == NULL)
        rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    mproc_value_free(word);
    return rc;
}

/*
 * A server bound to every interface reports the wildcard (0.0.0.0:port,
 * [::]:port), which is no address to connect to (Windows refuses it): its
 * creator, and the references it makes, reach it on the loopback instead.
 * *@address is replaced if it changes (it stays as it was if memory runs
 * out, which Linux connects to all the same).
 */
static void reachable(char **address)
{
    const char *a = *address, *port = NULL, *host = NULL;
    char *copy;
    if (strncmp(a, "0.0.0.0:", 8) == 0) {
        host = "127.0.0.1:";
        port = a + 8;
    } else if (strncmp(a, "[::]:", 5) == 0) {
        host = "[::1]:";
        port = a + 5;
    }
    if (host == NULL)
        return;
    copy = malloc(strlen(host) + strlen(port) + 1);
    if (copy == NULL)
        return;
    strcpy(copy, host);
    strcat(copy, port);
    free(*address);
    *address = copy;
}

/* Ends a server that did not serve: killed and joined, its address gone. */
static void abandon(mproc_process_t *proc)
{
    mproc_process_kill(proc);
    mproc_process_join(proc, MPROC_FOREVER);
    mproc_process_destroy(proc);
}

int mproc_manager_start(mproc_manager_t **out, const mproc_manager_opts_t *opts)
{
    mproc_manager_opts_t o = {0};
    mproc_process_opts_t po = {0};
    mproc_process_t *proc = NULL;
    mproc_conn_t *r = NULL, *w = NULL;
    mproc_manager_t *m;
    mproc_value_t *args;
    char *address = NULL;
    double timeout;
    int rc;
    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "mproc_manager_start needs a "
                                              "result");
    *out = NULL;
    if (opts != NULL)
        o = *opts;
    if ((o.authkey == NULL) != (o.authkey_len == 0) || o.authkey_len > KEY_MAX)
        return mproc__set_error(MPROC_EINVAL,
                                "a manager's authkey needs its length (at "
                                "most %d bytes), and a length its key",
                                KEY_MAX);
    timeout = o.timeout > 0 ? o.timeout : DEFAULT_TIMEOUT;
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = mproc_pipe(&r, &w, 0, NULL);
    if (rc != 0) {
        free(m);
        return rc;
    }
    /* The key travels as a start argument: only the child ever sees it. */
    args = mproc_pack(
        "Pvv", w,
        o.address != NULL ? mproc_value_str(o.address) : mproc_value_nil(),
        o.authkey != NULL ? mproc_value_bytes(o.authkey, o.authkey_len)
                          : mproc_value_nil());
    po.target = MPROC__MGR_SERVER_TARGET;
    po.name = o.name;
    po.class_name = "Manager";
    po.method = o.method;
    /* A backstop: the runtime terminates daemonic children at exit. */
    po.daemon = MPROC_DAEMON_YES;
    rc = mproc_spawn(&proc, &po, args);
    mproc_conn_close(w);
    if (rc == 0)
        rc = await_server(proc, r, timeout, &address);
    mproc_conn_close(r);
    if (rc != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", mproc_last_error());
        if (proc != NULL)
            abandon(proc);
        free(m);
        return mproc__set_error(rc, "%s", why);
    }
    m->proc = proc;
    m->fresh_address = o.address == NULL;
    reachable(&address);
    rc = client_new(&m->c, address, o.authkey, o.authkey_len, NULL, timeout);
    if (rc == 0)
        rc = mproc_finalize_register(manager_finalize, m, 0, &m->fin);
    if (rc != 0) {
        char why[512];
        snprintf(why, sizeof why, "%s", mproc_last_error());
        if (m->c != NULL)
            client_unref(m->c);
        abandon(proc);
        if (m->fresh_address)
            mproc__os_local_remove(address);
        free(address);
        free(m);
        return mproc__set_error(rc, "%s", why);
    }
    free(address);
    *out = m;
    return 0;
}

int mproc_manager_connect(mproc_manager_t **out, const char *address,
                          const mproc_manager_connect_opts_t *opts)
{
    mproc_manager_connect_opts_t o = {0};
    mproc_manager_t *m;
    int rc;
    if (out == NULL || address == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "mproc_manager_connect needs a result and an "
                                "address");
    *out = NULL;
    if (opts != NULL)
        o = *opts;
    if ((o.authkey == NULL) != (o.authkey_len == 0) || o.authkey_len > KEY_MAX)
        return mproc__set_error(MPROC_EINVAL,
                                "a manager's authkey needs its length (at "
                                "most %d bytes), and a length its key",
                                KEY_MAX);
    m = calloc(1, sizeof *m);
    if (m == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    rc = client_new(&m->c, address, o.authkey, o.authkey_len, NULL, o.timeout);
    if (rc != 0) {
        free(m);
        return rc;
    }
    *out = m;
    return 0;
}

const char *mproc_manager_address(const mproc_manager_t *m)
{
    return m != NULL ? m->c->address : NULL;
}

long mproc_manager_pid(const mproc_manager_t *m)
{
    return m != NULL ? m->c->server_pid : 0;
}

/* Whether this process started @m's server (and may wait for it). */
static int started_here(const mproc_manager_t *m)
{
    return m->proc != NULL && mproc__process_check_child(m->proc) == 0;
}

int mproc_manager_shutdown(mproc_manager_t *m)
{
    client *c;
    if (m == NULL)
        return mproc__set_error(MPROC_EINVAL, "no manager");
    c = m->c;
    /* Asked to stop; it may be gone already, which is as good. */
    if (!is_gone(c)) {
        mproc__buf_t req = {0};
        tconn *t = NULL;
        void *buf = NULL;
        size_t len;
        if (connection(c, &t) == 0 &&
            mproc__mgr_request_encode(MPROC__MGR_SHUTDOWN, 0, NULL, 0, &req) ==
                0)
            exchange(c, t, &req, &buf, &len);
        free(buf);
        mproc__buf_free(&req);
        mark_gone(c, t, "it was shut down");
    }
    if (started_here(m)) {
        /* Python's _finalize_manager: wait, then terminate, then kill. */
        if (mproc_process_join(m->proc, SHUTDOWN_WAIT) == MPROC_ETIMEDOUT) {
            mproc_process_terminate(m->proc);
            if (mproc_process_join(m->proc, SHUTDOWN_WAIT) == MPROC_ETIMEDOUT) {
                mproc_process_kill(m->proc);
                mproc_process_join(m->proc, MPROC_FOREVER);
            }
        }
        /* A server that was killed could not remove its socket: do it. */
        if (m->fresh_address)
            mproc__os_local_remove(c->address);
    }
    return 0;
}

int mproc_manager_join(mproc_manager_t *m, double timeout)
{
    int rc;
    if (m == NULL)
        return mproc__set_error(MPROC_EINVAL, "no manager");
    if (!started_here(m))
        return mproc__set_error(MPROC_ENOTCHILD,
                                "%s was not started by this process",
                                m->c->address);
    rc = mproc_process_join(m->proc, timeout);
    if (rc == 0 && m->fresh_address)
        mproc__os_local_remove(m->c->address);
    return rc;
}

void mproc_manager_destroy(mproc_manager_t *m)
{
    if (m == NULL)
        return;
    if (m->fin != NULL)
        mproc_finalizer_cancel(m->fin);
    if (started_here(m)) {
        mproc_manager_shutdown(m);
        mproc_process_destroy(m->proc);
    }
    client_unref(m->c);
    free(m);
}

/* A manager call: the request with @n arguments (taken over). */
static int mcall(mproc_manager_t *m, mproc__mgr_op_e op, mproc_value_t **result,
                 size_t n, mproc_value_t *a0, mproc_value_t *a1)
{
    mproc_value_t *args[2];
    size_t i;
    int rc = 0;
    args[0] = a0;
    args[1] = a1;
    for (i = 0; i < n; i++)
        if (args[i] == NULL)
            rc = mproc__set_error(MPROC_ENOMEM,
                                  "a value to send is missing (a constructor "
                                  "ran out of memory)");
    if (rc == 0 && m == NULL)
        rc = mproc__set_error(MPROC_EINVAL, "no manager");
    if (rc == 0)
        rc = roundtrip(m->c, NULL, op, 0, args, n, result);
    for (i = 0; i < n; i++)
        mproc_value_free(args[i]);
    return rc;
}

int mproc_manager_register(mproc_manager_t *m, const char *name,
                           mproc_value_t *value)
{
    if (name == NULL || *name == '\0') {
        mproc_value_free(value);
        return mproc__set_error(MPROC_EINVAL, "a registered value needs a "
                                              "name");
    }
    return mcall(m, MPROC__MGR_REGISTER, NULL, 2, mproc_value_str(name), value);
}

int mproc_manager_lookup(mproc_manager_t *m, const char *name,
                         mproc_value_t **value)
{
    if (value != NULL)
        *value = NULL;
    if (name == NULL || *name == '\0' || value == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "mproc_manager_lookup needs a name and a "
                                "result");
    return mcall(m, MPROC__MGR_LOOKUP, value, 1, mproc_value_str(name), NULL);
}

int mproc_manager_count_objects(mproc_manager_t *m, size_t *n)
{
    mproc_value_t *v = NULL;
    int rc = mcall(m, MPROC__MGR_COUNT, &v, 0, NULL, NULL);
    if (rc == 0 && n != NULL)
        *n = (size_t) mproc_value_as_int(v);
    mproc_value_free(v);
    return rc;
}

/* ---- proxies ------------------------------------------------------------- */

static void proxy_release(void *obj);

/* A new proxy of object @id of @kind on @c, whose user it becomes. */
static proxy *proxy_new(client *c, int64_t id, mproc_ref_kind_e kind)
{
    /* The three proxy types are one struct. */
    proxy *p = calloc(1, sizeof(mproc_dict_t));
    if (p == NULL) {
        mproc__set_error(MPROC_ENOMEM, "out of memory");
        return NULL;
    }
    p->c = c;
    p->id = id;
    p->kind = kind;
    p->pid = (uint32_t) my_pid();
    return p;
}

/* Lets go of @p: its reference in the server (if it is this process's). */
static void proxy_release(void *obj)
{
    proxy *p = obj;
    if (p == NULL)
        return;
    if (p->runtime_owned) {
        mproc__ref_cache_forget(p);
        mproc__owned_unlink(&p->owned);
    }
    if (mproc__atomic_load32(&p->pid) == (uint32_t) my_pid()) {
        mproc_value_t *id = mproc_value_int(p->id);
        /* Whatever the answer: a manager that is gone lets go anyway. */
        if (id != NULL)
            roundtrip(p->c, NULL, MPROC__MGR_RELEASE, 0, &id, 1, NULL);
        mproc_value_free(id);
    }
    client_unref(p->c);
    free(p);
}

static int create(void **out, mproc_manager_t *m, mproc_ref_kind_e kind,
                  mproc_value_t *init)
{
    mproc_value_t *id = NULL;
    proxy *p;
    int rc;
    if (out == NULL || m == NULL) {
        mproc_value_free(init);
        return mproc__set_error(MPROC_EINVAL, "no manager or no result");
    }
    *out = NULL;
    rc = mcall(m, MPROC__MGR_CREATE, &id, 2, mproc_value_int(kind),
               init != NULL ? init : mproc_value_nil());
    if (rc != 0)
        return rc;
    mproc__spin_lock(&clients_lock);
    m->c->users++;
    mproc__spin_unlock(&clients_lock);
    p = proxy_new(m->c, mproc_value_as_int(id), kind);
    mproc_value_free(id);
    if (p == NULL) {
        /* The server counts it for this connection until it closes. */
        client_unref(m->c);
        return MPROC_ENOMEM;
    }
    *out = p;
    return 0;
}

/* A reference to @p, with a hold that keeps its object in transit. */
static mproc_value_t *reference_of(const void *obj, mproc_ref_kind_e kind)
{
    proxy *p = (proxy *) obj;
    mproc_value_t *id, *hold = NULL, *ref;
    char keyhex[2 * KEY_MAX + 1];
    int rc;
    if (p == NULL) {
        mproc__set_error(MPROC_EINVAL, "no %s proxy",
                         mproc__mgr_kind_name((int) kind));
        return NULL;
    }
    id = mproc_value_int(p->id);
    if (id == NULL) {
        mproc__set_error(MPROC_ENOMEM, "out of memory");
        return NULL;
    }
    rc = roundtrip(p->c, p, MPROC__MGR_EXPORT, 0, &id, 1, &hold);
    mproc_value_free(id);
    if (rc != 0)
        return NULL;
    key_field(p->c, keyhex, sizeof keyhex);
    ref = mproc__ref_new(
        kind,
        mproc_value_list_of(5, mproc_value_str(p->c->address),
                            mproc_value_str(p->c->id), mproc_value_int(p->id),
                            mproc_value_int(mproc_value_as_int(hold)),
                            mproc_value_str(keyhex)));
    mproc_value_free(hold);
    return ref;
}

/*
 * Opens the proxy reference @ref refers to: through this process's client
 * of its manager, or a new one reached by the address and key it names;
 * the hold it carries becomes this process's reference.
 */
static int open_ref(const mproc_value_t *ref, void **out)
{
    const mproc_value_t *f = mproc__ref_fields(ref);
    const char *address = mproc_value_as_str(mproc_value_at(f, 0));
    const char *id = mproc_value_as_str(mproc_value_at(f, 1));
    const char *keyhex = mproc_value_as_str(mproc_value_at(f, 4));
    mproc_ref_kind_e kind = mproc_value_ref_kind(ref);
    mproc_value_t *args[2], *got = NULL;
    unsigned char key[KEY_MAX];
    size_t keylen = strlen(keyhex) / 2, i;
    client *c;
    proxy *p;
    int rc;
    if (strlen(id) != MPROC__MGR_ID_LEN || strlen(keyhex) % 2 != 0 ||
        keylen > sizeof key)
        return mproc__set_error(MPROC_EINVAL, "malformed %s reference",
                                mproc__ref_kind_name(kind));
    for (i = 0; i < keylen; i++) {
        int hi = hex_digit(keyhex[2 * i]), lo = hex_digit(keyhex[2 * i + 1]);
        if (hi < 0 || lo < 0)
            return mproc__set_error(MPROC_EINVAL, "malformed %s reference",
                                    mproc__ref_kind_name(kind));
        key[i] = (unsigned char) (hi << 4 | lo);
    }
    c = client_find(id);
    if (c == NULL) {
        rc = client_new(&c, address, keylen > 0 ? key : NULL, keylen, id, 0);
        memset(key, 0, sizeof key);
        if (rc != 0)
            return rc;
    }
    args[0] = mproc_value_int(mproc_value_as_int(mproc_value_at(f, 2)));
    args[1] = mproc_value_int(mproc_value_as_int(mproc_value_at(f, 3)));
    rc = args[0] == NULL || args[1] == NULL
             ? mproc__set_error(MPROC_ENOMEM, "out of memory")
             : roundtrip(c, NULL, MPROC__MGR_CLAIM, 0, args, 2, &got);
    mproc_value_free(args[0]);
    mproc_value_free(args[1]);
    if (rc != 0) {
        client_unref(c);
        return rc;
    }
    p = proxy_new(c, mproc_value_as_int(mproc_value_at(f, 2)), kind);
    if (p == NULL) {
        mproc_value_free(got);
        client_unref(c);
        return MPROC_ENOMEM;
    }
    if (mproc_value_as_int(got) != (int64_t) kind) {
        mproc_value_free(got);
        proxy_release(p);
        return mproc__set_error(MPROC_ETYPE,
                                "the reference says %s, but the manager's "
                                "object is no such thing",
                                mproc__ref_kind_name(kind));
    }
    mproc_value_free(got);
    p->runtime_owned = 1;
    mproc__owned_link(&p->owned, proxy_release, p);
    *out = p;
    return 0;
}

static int to_proxy(const mproc_value_t *v, mproc_ref_kind_e kind, void **out)
{
    void *obj = NULL;
    int rc;
    if (out == NULL)
        return mproc__set_error(MPROC_EINVAL, "no result");
    *out = NULL;
    rc = mproc__ref_open_once(v, kind, open_ref, proxy_release, &obj);
    if (rc == 0)
        *out = obj;
    return rc;
}

/* ---- the API, type by type ----------------------------------------------- */

/*
 * As pcall, for a Namespace, with the attribute @name first: a NULL or
 * empty name fails with MPROC_EINVAL.
 */
static int nscall(mproc_namespace_t *ns, mproc__mgr_op_e op,
                  mproc_value_t **result, const char *name, size_t n,
                  mproc_value_t *a1, mproc_value_t *a2)
{
    if (name == NULL || *name == '\0') {
        mproc_value_free(a1);
        mproc_value_free(a2);
        if (result != NULL)
            *result = NULL;
        return mproc__set_error(MPROC_EINVAL, "an attribute needs a name");
    }
    return pcall(ns, MPROC_REF_NAMESPACE, op, result, n + 1,
                 mproc_value_str(name), a1, a2);
}

/* A call whose result is a size, which goes to *@n. */
static int size_call(const void *obj, mproc_ref_kind_e kind, mproc__mgr_op_e op,
                     size_t *n, mproc_value_t *a0)
{
    mproc_value_t *v = NULL;
    int rc = pcall(obj, kind, op, &v, a0 != NULL ? 1 : 0, a0, NULL, NULL);
    if (rc >= 0 && n != NULL)
        *n = (size_t) mproc_value_as_int(v);
    mproc_value_free(v);
    return rc;
}

/* Drops a result the caller did not ask for. */
static mproc_value_t **maybe(mproc_value_t **want, mproc_value_t **scratch)
{
    *scratch = NULL;
    return want != NULL ? want : scratch;
}

/* dicts */

int mproc_dict_create(mproc_dict_t **d, mproc_manager_t *m, mproc_value_t *init)
{
    return create((void **) d, m, MPROC_REF_DICT, init);
}

void mproc_dict_destroy(mproc_dict_t *d)
{
    proxy_release(d);
}

#define DICT(op, result, n, a0, a1, a2)                                        \
    pcall(d, MPROC_REF_DICT, op, result, n, a0, a1, a2)

int mproc_dict_set(mproc_dict_t *d, mproc_value_t *key, mproc_value_t *value)
{
    return DICT(MPROC__MGR_SET, NULL, 2, key, value, NULL);
}

int mproc_dict_get(mproc_dict_t *d, mproc_value_t *key, mproc_value_t **value)
{
    return DICT(MPROC__MGR_GET, value, 1, key, NULL, NULL);
}

int mproc_dict_get_default(mproc_dict_t *d, mproc_value_t *key,
                           mproc_value_t *dflt, mproc_value_t **value)
{
    return DICT(MPROC__MGR_GET_DEFAULT, value, 2, key, dflt, NULL);
}

int mproc_dict_delete(mproc_dict_t *d, mproc_value_t *key)
{
    return DICT(MPROC__MGR_DELETE, NULL, 1, key, NULL, NULL);
}

int mproc_dict_contains(mproc_dict_t *d, mproc_value_t *key)
{
    return DICT(MPROC__MGR_CONTAINS, NULL, 1, key, NULL, NULL);
}

int mproc_dict_len(mproc_dict_t *d, size_t *n)
{
    return size_call(d, MPROC_REF_DICT, MPROC__MGR_LEN, n, NULL);
}

int mproc_dict_keys(mproc_dict_t *d, mproc_value_t **keys)
{
    return DICT(MPROC__MGR_KEYS, keys, 0, NULL, NULL, NULL);
}

int mproc_dict_values(mproc_dict_t *d, mproc_value_t **values)
{
    return DICT(MPROC__MGR_VALUES, values, 0, NULL, NULL, NULL);
}

int mproc_dict_items(mproc_dict_t *d, mproc_value_t **items)
{
    return DICT(MPROC__MGR_ITEMS, items, 0, NULL, NULL, NULL);
}

int mproc_dict_copy(mproc_dict_t *d, mproc_value_t **map)
{
    return DICT(MPROC__MGR_COPY, map, 0, NULL, NULL, NULL);
}

int mproc_dict_pop(mproc_dict_t *d, mproc_value_t *key, mproc_value_t **value)
{
    mproc_value_t *scratch;
    int rc = DICT(MPROC__MGR_POP, maybe(value, &scratch), 1, key, NULL, NULL);
    mproc_value_free(scratch);
    return rc;
}

int mproc_dict_pop_default(mproc_dict_t *d, mproc_value_t *key,
                           mproc_value_t *dflt, mproc_value_t **value)
{
    mproc_value_t *scratch;
    int rc = DICT(MPROC__MGR_POP_DEFAULT, maybe(value, &scratch), 2, key, dflt,
                  NULL);
    mproc_value_free(scratch);
    return rc;
}

int mproc_dict_popitem(mproc_dict_t *d, mproc_value_t **key,
                       mproc_value_t **value)
{
    mproc_value_t *pair = NULL;
    int rc = DICT(MPROC__MGR_POPITEM, &pair, 0, NULL, NULL, NULL);
    if (key != NULL)
        *key = NULL;
    if (value != NULL)
        *value = NULL;
    if (rc == 0) {
        if (key != NULL)
            *key = mproc__value_list_swap(pair, 0, mproc_value_nil());
        if (value != NULL)
            *value = mproc__value_list_swap(pair, 1, mproc_value_nil());
    }
    mproc_value_free(pair);
    if (rc == 0 &&
        ((key != NULL && *key == NULL) || (value != NULL && *value == NULL))) {
        /* The pair is out of the dict, and its halves out of memory. */
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    return rc;
}

int mproc_dict_setdefault(mproc_dict_t *d, mproc_value_t *key,
                          mproc_value_t *dflt, mproc_value_t **value)
{
    mproc_value_t *scratch;
    int rc =
        DICT(MPROC__MGR_SETDEFAULT, maybe(value, &scratch), 2, key, dflt, NULL);
    mproc_value_free(scratch);
    return rc;
}

int mproc_dict_update(mproc_dict_t *d, mproc_value_t *pairs)
{
    return DICT(MPROC__MGR_UPDATE, NULL, 1, pairs, NULL, NULL);
}

int mproc_dict_clear(mproc_dict_t *d)
{
    return DICT(MPROC__MGR_CLEAR, NULL, 0, NULL, NULL, NULL);
}

int mproc_dict_add(mproc_dict_t *d, mproc_value_t *key, mproc_value_t *delta,
                   mproc_value_t **result)
{
    mproc_value_t *scratch;
    int rc = DICT(MPROC__MGR_ADD, maybe(result, &scratch), 2, key, delta, NULL);
    mproc_value_free(scratch);
    return rc;
}

/* The integer of an add's result; a float one was not asked for. */
static int int_result(int rc, mproc_value_t *v, int64_t *result)
{
    if (rc >= 0 && mproc_value_type(v) != MPROC_VALUE_INT)
        rc = mproc__set_error(MPROC_ETYPE,
                              "the number is a float now (%g); read it with "
                              "the add that takes values",
                              mproc_value_as_float(v));
    if (rc >= 0 && result != NULL)
        *result = mproc_value_as_int(v);
    mproc_value_free(v);
    return rc;
}

int mproc_dict_incr(mproc_dict_t *d, mproc_value_t *key, int64_t delta,
                    int64_t *result)
{
    mproc_value_t *v = NULL;
    int rc = DICT(MPROC__MGR_ADD, &v, 2, key, mproc_value_int(delta), NULL);
    return int_result(rc, v, result);
}

int mproc_dict_cas(mproc_dict_t *d, mproc_value_t *key, mproc_value_t *expected,
                   mproc_value_t *desired, mproc_value_t **current)
{
    mproc_value_t *scratch;
    int rc = DICT(MPROC__MGR_CAS, maybe(current, &scratch), 3, key, expected,
                  desired);
    mproc_value_free(scratch);
    return rc;
}

mproc_value_t *mproc_value_dict_proxy(const mproc_dict_t *d)
{
    return reference_of(d, MPROC_REF_DICT);
}

int mproc_value_to_dict_proxy(const mproc_value_t *v, mproc_dict_t **d)
{
    return to_proxy(v, MPROC_REF_DICT, (void **) d);
}

/* lists */

#define LIST(op, result, n, a0, a1, a2)                                        \
    pcall(l, MPROC_REF_LIST, op, result, n, a0, a1, a2)

int mproc_list_create(mproc_list_t **l, mproc_manager_t *m, mproc_value_t *init)
{
    return create((void **) l, m, MPROC_REF_LIST, init);
}

void mproc_list_destroy(mproc_list_t *l)
{
    proxy_release(l);
}

int mproc_list_append(mproc_list_t *l, mproc_value_t *item)
{
    return LIST(MPROC__MGR_APPEND, NULL, 1, item, NULL, NULL);
}

int mproc_list_extend(mproc_list_t *l, mproc_value_t *items)
{
    return LIST(MPROC__MGR_EXTEND, NULL, 1, items, NULL, NULL);
}

int mproc_list_insert(mproc_list_t *l, int64_t index, mproc_value_t *item)
{
    return LIST(MPROC__MGR_INSERT, NULL, 2, mproc_value_int(index), item, NULL);
}

int mproc_list_get(mproc_list_t *l, int64_t index, mproc_value_t **item)
{
    return LIST(MPROC__MGR_LGET, item, 1, mproc_value_int(index), NULL, NULL);
}

int mproc_list_set(mproc_list_t *l, int64_t index, mproc_value_t *item)
{
    return LIST(MPROC__MGR_LSET, NULL, 2, mproc_value_int(index), item, NULL);
}

int mproc_list_delete(mproc_list_t *l, int64_t index)
{
    return LIST(MPROC__MGR_LDELETE, NULL, 1, mproc_value_int(index), NULL,
                NULL);
}

int mproc_list_len(mproc_list_t *l, size_t *n)
{
    return size_call(l, MPROC_REF_LIST, MPROC__MGR_LEN, n, NULL);
}

int mproc_list_index(mproc_list_t *l, mproc_value_t *item, size_t *index)
{
    if (item == NULL)
        return mproc__set_error(MPROC_ENOMEM,
                                "a value to send is missing (a constructor "
                                "ran out of memory)");
    return size_call(l, MPROC_REF_LIST, MPROC__MGR_INDEX, index, item);
}

int mproc_list_count(mproc_list_t *l, mproc_value_t *item, size_t *n)
{
    if (item == NULL)
        return mproc__set_error(MPROC_ENOMEM,
                                "a value to send is missing (a constructor "
                                "ran out of memory)");
    return size_call(l, MPROC_REF_LIST, MPROC__MGR_COUNT_OF, n, item);
}

int mproc_list_contains(mproc_list_t *l, mproc_value_t *item)
{
    return LIST(MPROC__MGR_CONTAINS, NULL, 1, item, NULL, NULL);
}

int mproc_list_remove(mproc_list_t *l, mproc_value_t *item)
{
    return LIST(MPROC__MGR_REMOVE, NULL, 1, item, NULL, NULL);
}

int mproc_list_pop(mproc_list_t *l, int64_t index, mproc_value_t **item)
{
    mproc_value_t *scratch;
    int rc = LIST(MPROC__MGR_LPOP, maybe(item, &scratch), 1,
                  mproc_value_int(index), NULL, NULL);
    mproc_value_free(scratch);
    return rc;
}

int mproc_list_slice(mproc_list_t *l, int64_t start, int64_t stop,
                     mproc_value_t **items)
{
    return LIST(MPROC__MGR_SLICE, items, 2, mproc_value_int(start),
                mproc_value_int(stop), NULL);
}

int mproc_list_set_slice(mproc_list_t *l, int64_t start, int64_t stop,
                         mproc_value_t *items)
{
    return LIST(MPROC__MGR_SET_SLICE, NULL, 3, mproc_value_int(start),
                mproc_value_int(stop), items);
}

int mproc_list_delete_slice(mproc_list_t *l, int64_t start, int64_t stop)
{
    return LIST(MPROC__MGR_DELETE_SLICE, NULL, 2, mproc_value_int(start),
                mproc_value_int(stop), NULL);
}

int mproc_list_reverse(mproc_list_t *l)
{
    return LIST(MPROC__MGR_REVERSE, NULL, 0, NULL, NULL, NULL);
}

int mproc_list_sort(mproc_list_t *l, int reverse)
{
    return LIST(MPROC__MGR_SORT, NULL, 1, mproc_value_bool(reverse), NULL,
                NULL);
}

int mproc_list_clear(mproc_list_t *l)
{
    return LIST(MPROC__MGR_CLEAR, NULL, 0, NULL, NULL, NULL);
}

int mproc_list_copy(mproc_list_t *l, mproc_value_t **items)
{
    return LIST(MPROC__MGR_COPY, items, 0, NULL, NULL, NULL);
}

mproc_value_t *mproc_value_list_proxy(const mproc_list_t *l)
{
    return reference_of(l, MPROC_REF_LIST);
}

int mproc_value_to_list_proxy(const mproc_value_t *v, mproc_list_t **l)
{
    return to_proxy(v, MPROC_REF_LIST, (void **) l);
}

/* Namespaces */

int mproc_namespace_create(mproc_namespace_t **ns, mproc_manager_t *m,
                           mproc_value_t *init)
{
    return create((void **) ns, m, MPROC_REF_NAMESPACE, init);
}

void mproc_namespace_destroy(mproc_namespace_t *ns)
{
    proxy_release(ns);
}

int mproc_namespace_set(mproc_namespace_t *ns, const char *name,
                        mproc_value_t *value)
{
    return nscall(ns, MPROC__MGR_SET, NULL, name, 1, value, NULL);
}

int mproc_namespace_get(mproc_namespace_t *ns, const char *name,
                        mproc_value_t **value)
{
    return nscall(ns, MPROC__MGR_GET, value, name, 0, NULL, NULL);
}

int mproc_namespace_delete(mproc_namespace_t *ns, const char *name)
{
    return nscall(ns, MPROC__MGR_DELETE, NULL, name, 0, NULL, NULL);
}

int mproc_namespace_has(mproc_namespace_t *ns, const char *name)
{
    return nscall(ns, MPROC__MGR_CONTAINS, NULL, name, 0, NULL, NULL);
}

int mproc_namespace_add(mproc_namespace_t *ns, const char *name,
                        mproc_value_t *delta, mproc_value_t **result)
{
    mproc_value_t *scratch;
    int rc = nscall(ns, MPROC__MGR_ADD, maybe(result, &scratch), name, 1, delta,
                    NULL);
    mproc_value_free(scratch);
    return rc;
}

int mproc_namespace_incr(mproc_namespace_t *ns, const char *name, int64_t delta,
                         int64_t *result)
{
    mproc_value_t *v = NULL;
    int rc =
        nscall(ns, MPROC__MGR_ADD, &v, name, 1, mproc_value_int(delta), NULL);
    return int_result(rc, v, result);
}

int mproc_namespace_cas(mproc_namespace_t *ns, const char *name,
                        mproc_value_t *expected, mproc_value_t *desired,
                        mproc_value_t **current)
{
    mproc_value_t *scratch;
    int rc = nscall(ns, MPROC__MGR_CAS, maybe(current, &scratch), name, 2,
                    expected, desired);
    mproc_value_free(scratch);
    return rc;
}

int mproc_namespace_copy(mproc_namespace_t *ns, mproc_value_t **map)
{
    return pcall(ns, MPROC_REF_NAMESPACE, MPROC__MGR_COPY, map, 0, NULL, NULL,
                 NULL);
}

mproc_value_t *mproc_value_namespace_proxy(const mproc_namespace_t *ns)
{
    return reference_of(ns, MPROC_REF_NAMESPACE);
}

int mproc_value_to_namespace_proxy(const mproc_value_t *v,
                                   mproc_namespace_t **ns)
{
    return to_proxy(v, MPROC_REF_NAMESPACE, (void **) ns);
}
