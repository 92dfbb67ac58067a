/*
 * Handing connections over to other processes: their references
 * (mproc_value_conn), importing them (mproc_value_to_conn), and the
 * start-time pass that gives a spawn or forkserver child the connections
 * among its arguments. CPython's multiprocessing/reduction.py.
 *
 * A connection's reference (mproc_value_conn()) is a value of kind
 * MPROC_VALUE_REF that names handles h (and h2) of process p. It travels
 * two ways.
 *
 * As a start argument. When a spawn or forkserver child
 * starts, process.c has mproc__conn_pass_prepare() walk the arguments for
 * the connection references of this process; the backend hands their
 * handles to the child, and each reference becomes one that names slots i
 * (and i2) of start t: i indexes the handles that the bootstrap message
 * lists, t names that one start, so a slot reference that travels on
 * (through a queue, say) is refused elsewhere instead of opening whatever
 * sits in that slot. A fork child inherits every descriptor, so it imports
 * a reference of its parent directly.
 *
 * As a message to a running process (a queue's put, mproc_conn_send:
 * mproc__value_encode_shared). The handles are copied at the encode and
 * offered for one taker; the reference becomes a shared one that names
 * the offer. On Unix the sharer (sharer.c) hands the copies over a Unix
 * socket; on Windows the taker pulls them out of the sender by pid with
 * DUPLICATE_CLOSE_SOURCE (Python's reduction.DupHandle.detach), so the
 * copies leave the sender as they arrive.
 *
 * Nothing but a reference is ever rewritten: a user's map or list arrives
 * as it was sent.
 */
#include <stdlib.h>
#include <string.h>

#include "conn_internal.h"
#include "sharer.h"

/* The connections that this process was handed at its start. */
static struct {
    mproc__os_fd_t *handles; /* by slot, as this process sees them */
    unsigned char *taken;    /* imported already */
    size_t n;
    int64_t token;    /* the start's token, which slot references carry */
    long fork_parent; /* the fork parent whose descriptors we have, or 0 */
} boot;

int mproc__conn_boot_handles(const mproc__os_fd_t *handles, size_t n,
                             int64_t token)
{
    free(boot.handles);
    free(boot.taken);
    memset(&boot, 0, sizeof boot);
    boot.handles = malloc((n ? n : 1) * sizeof *boot.handles);
    boot.taken = calloc(n ? n : 1, 1);
    if (boot.handles == NULL || boot.taken == NULL) {
        free(boot.handles);
        free(boot.taken);
        memset(&boot, 0, sizeof boot);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    if (n > 0)
        memcpy(boot.handles, handles, n * sizeof *handles);
    boot.n = n;
    boot.token = token;
    return 0;
}

void mproc__conn_after_fork(long parent_pid)
{
    /* The parent's slots were the parent's to import. */
    free(boot.handles);
    free(boot.taken);
    memset(&boot, 0, sizeof boot);
    boot.fork_parent = parent_pid;
    mproc__sharer_after_fork();
}

/* The fields of a connection reference, by position (see mproc__ref_new). */
enum {
    F_READABLE,
    F_WRITABLE,
    F_MAX_MESSAGE,
    F_THRESHOLD,
    F_LEVEL,
    F_NO_COMPRESS,
    F_FORM,
    F_A,
    F_B,
    F_C,
    F_WHERE
};

/* The fields that describe @c; its handles or slots are filled in after. */
static mproc_value_t *conn_fields_at(int readable, int writable,
                                     const mproc_conn_opts_t *o, int form,
                                     int64_t a, int64_t b, int64_t c,
                                     const char *where)
{
    return mproc_value_list_of(
        MPROC__REF_CONN_FIELDS, mproc_value_bool(readable),
        mproc_value_bool(writable),
        mproc_value_int((int64_t) o->codec.max_message),
        mproc_value_int((int64_t) o->codec.compress_threshold),
        mproc_value_int(o->codec.compress_level),
        mproc_value_bool(o->codec.no_compress), mproc_value_int(form),
        mproc_value_int(a), mproc_value_int(b), mproc_value_int(c),
        mproc_value_str(where));
}

static mproc_value_t *conn_fields(int readable, int writable,
                                  const mproc_conn_opts_t *o, int form,
                                  int64_t a, int64_t b, int64_t c)
{
    return conn_fields_at(readable, writable, o, form, a, b, c, "");
}

static int conn_ref(const mproc_conn_t *c, mproc_value_t **ref)
{
    mproc__os_fd_t h[2];
    int rc;
    *ref = NULL;
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection to refer to");
    /*
     * Bytes read ahead into this process's buffer would never reach the
     * child: refuse rather than lose them.
     */
    if (mproc__stream_buffered(&c->in) > 0)
        return mproc__set_error(MPROC_ESTATE,
                                "the connection holds %zu bytes received but "
                                "not yet read; receive them before handing "
                                "it on",
                                mproc__stream_buffered(&c->in));
    rc = mproc__os_conn_transferable(c->os);
    if (rc != 0)
        return rc;
    mproc__os_conn_handles(c->os, h);
    *ref = mproc__ref_new(
        MPROC_REF_CONN,
        conn_fields(c->readable, c->writable, &c->opts, MPROC__REF_CONN_OWN,
                    (int64_t) h[0],
                    h[1] == MPROC__OS_FD_INVALID ? -1 : (int64_t) h[1],
                    mproc__os_getpid()));
    return *ref != NULL ? 0 : MPROC_ENOMEM;
}

mproc_value_t *mproc_value_conn(const mproc_conn_t *c)
{
    mproc_value_t *ref;
    return conn_ref(c, &ref) == 0 ? ref : NULL;
}

int mproc_conn_export(const mproc_conn_t *c, mproc_value_t **ref)
{
    if (ref == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the reference");
    return conn_ref(c, ref);
}

/* Field @i of connection reference fields @f: its integer or truth. */
static int64_t field(const mproc_value_t *f, int i)
{
    const mproc_value_t *v = mproc_value_at(f, (size_t) i);
    return mproc_value_type(v) == MPROC_VALUE_BOOL ? mproc_value_as_bool(v)
                                                   : mproc_value_as_int(v);
}

/* The options of a reference, checked: it may come from anywhere. */
static int ref_opts(const mproc_value_t *f, mproc_conn_opts_t *o)
{
    int64_t max_message = field(f, F_MAX_MESSAGE);
    int64_t threshold = field(f, F_THRESHOLD), level = field(f, F_LEVEL);
    if (max_message < 1 || threshold < 1 || level < 1 || level > 9 ||
        (uint64_t) max_message > (uint64_t) SIZE_MAX ||
        (uint64_t) threshold > (uint64_t) SIZE_MAX)
        return mproc__set_error(MPROC_ECORRUPT,
                                "connection reference: options out of range");
    memset(o, 0, sizeof *o);
    o->codec.max_message = (size_t) max_message;
    o->codec.compress_threshold = (size_t) threshold;
    o->codec.compress_level = (int) level;
    o->codec.no_compress = (int) field(f, F_NO_COMPRESS);
    return 0;
}

/* The handle in @slot of the start @token, which it takes (each slot once). */
static int take_slot(int64_t slot, int64_t token, mproc__os_fd_t *h)
{
    if (boot.n == 0 || token != boot.token || slot < 0 ||
        (uint64_t) slot >= boot.n)
        return mproc__set_error(MPROC_ENOTSUP,
                                "this connection was handed to another "
                                "process at its start; a connection can "
                                "only be imported by the child that got it "
                                "as a start argument");
    if (boot.taken[slot])
        return mproc__set_error(MPROC_EINVAL,
                                "the connection in slot %d was imported "
                                "already; import each one once",
                                (int) slot);
    boot.taken[slot] = 1;
    *h = boot.handles[slot];
    return 0;
}

/*
 * The handles of a travelling reference @f, which this process then owns:
 * from the sender's sharer (Unix), or, once the offer is claimed, pulled
 * out of the sender by its pid, closing its copy (Windows; Python's
 * DupHandle.detach).
 */
static int take_shared(const mproc_value_t *f, mproc__os_fd_t *h,
                       mproc__os_fd_t *h2)
{
    const char *where = mproc_value_as_str(mproc_value_at(f, F_WHERE));
    long pid = (long) field(f, F_C);
    int64_t a = field(f, F_A), b = field(f, F_B);
    mproc__os_fd_t got[2];
    int rc;
    if (field(f, F_FORM) == MPROC__REF_CONN_SHARED) {
        rc = mproc__sharer_take(where, pid, a, got, (size_t) b);
        if (rc == 0) {
            *h = got[0];
            *h2 = b == 2 ? got[1] : MPROC__OS_FD_INVALID;
        }
        return rc;
    }
    rc = mproc__sharer_claim(where, pid, b);
    if (rc != 0)
        return rc;
    rc = mproc__os_handle_dup_from(pid, (mproc__os_fd_t) a, 1, h);
    if (rc != 0)
        return mproc__set_error(MPROC_ENOTFOUND,
                                "cannot take the connection that process %ld "
                                "sent: it has ended",
                                pid);
    return 0;
}

int mproc_conn_import(mproc_conn_t **c, const mproc_value_t *ref)
{
    const mproc_value_t *f;
    mproc__os_conn_t *os;
    mproc_conn_opts_t o;
    mproc__os_fd_t h = MPROC__OS_FD_INVALID, h2 = MPROC__OS_FD_INVALID;
    int64_t a, b, pid;
    int rc;
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the connection");
    *c = NULL;
    rc = mproc__ref_expect(ref, MPROC_REF_CONN);
    if (rc != 0)
        return rc;
    f = mproc__ref_fields(ref);
    rc = ref_opts(f, &o);
    if (rc != 0)
        return rc;
    a = field(f, F_A);
    b = field(f, F_B);
    if (field(f, F_FORM) == MPROC__REF_CONN_SLOT) {
        rc = take_slot(a, field(f, F_C), &h);
        if (rc == 0 && b >= 0) {
            rc = take_slot(b, field(f, F_C), &h2);
            /* Nothing changes on failure: the first slot stays to take. */
            if (rc != 0)
                boot.taken[a] = 0;
        }
    } else if (field(f, F_FORM) == MPROC__REF_CONN_OWN && a >= 0) {
        pid = field(f, F_C);
        /* Only a fork child has its parent's descriptors. */
        if (boot.fork_parent == 0 || pid != boot.fork_parent)
            return mproc__set_error(
                MPROC_ENOTSUP,
                "the connection of process %lld did not reach process %ld "
                "as a start argument; a connection can only be handed to a "
                "child as an argument of its start",
                (long long) pid, mproc__os_getpid());
        h = (mproc__os_fd_t) a;
        h2 = b >= 0 ? (mproc__os_fd_t) b : MPROC__OS_FD_INVALID;
    } else if (field(f, F_FORM) == MPROC__REF_CONN_SHARED ||
               field(f, F_FORM) == MPROC__REF_CONN_PULL) {
        rc = take_shared(f, &h, &h2);
    } else {
        return mproc__set_error(MPROC_ECORRUPT,
                                "connection reference of an unknown form");
    }
    if (rc != 0)
        return rc;
    rc = mproc__os_conn_adopt(&os, h, h2);
    if (rc != 0) {
        /* Taken from a sender, they are ours: nobody else will close them. */
        if (field(f, F_FORM) == MPROC__REF_CONN_SHARED ||
            field(f, F_FORM) == MPROC__REF_CONN_PULL) {
            mproc__os_close(h);
            if (h2 != MPROC__OS_FD_INVALID)
                mproc__os_close(h2);
        } else if (field(f, F_FORM) == MPROC__REF_CONN_SLOT) {
            /* Still open in their slots, for another try. */
            boot.taken[a] = 0;
            if (b >= 0)
                boot.taken[b] = 0;
        }
        return rc;
    }
    return mproc__conn_new(c, os, (int) field(f, F_READABLE),
                           (int) field(f, F_WRITABLE), &o);
}

static void release_conn(void *obj)
{
    mproc_conn_close(obj);
}

/* Opens a connection that the runtime owns, and closes at exit. */
static int open_ref(const mproc_value_t *ref, void **obj)
{
    mproc_conn_t *c = NULL;
    int rc = mproc_conn_import(&c, ref);
    if (rc == 0)
        mproc__owned_link(&c->owned, release_conn, c);
    *obj = c;
    return rc;
}

int mproc_value_to_conn(const mproc_value_t *v, mproc_conn_t **out)
{
    void *c = NULL;
    int rc =
        mproc__ref_open_once(v, MPROC_REF_CONN, open_ref, release_conn, &c);
    if (rc == 0)
        *out = c;
    return rc;
}

/* ---- finding the connections of a start --------------------------------- */

/* Whether @v is a connection reference made by this process. */
static int is_own_ref(const mproc_value_t *v)
{
    const mproc_value_t *f = mproc__ref_fields(v);
    return mproc_value_ref_kind(v) == MPROC_REF_CONN &&
           field(f, F_FORM) == MPROC__REF_CONN_OWN &&
           field(f, F_C) == mproc__os_getpid();
}

/*
 * Whether @v names handles that are open in this process under the values
 * it carries: made here, or by the fork parent whose descriptors this
 * process inherited.
 */
static int is_local_ref(const mproc_value_t *v)
{
    const mproc_value_t *f = mproc__ref_fields(v);
    return is_own_ref(v) ||
           (mproc_value_ref_kind(v) == MPROC_REF_CONN &&
            field(f, F_FORM) == MPROC__REF_CONN_OWN && boot.fork_parent != 0 &&
            field(f, F_C) == boot.fork_parent);
}

/* The slot of handle @h in @pass, added if new; -1 (and *@rc) if full. */
static int64_t pass_slot(mproc__conn_pass_t *pass, mproc__os_fd_t h, int *rc)
{
    size_t slot;
    /* The same connection twice in the arguments is one slot. */
    for (slot = 0; slot < pass->n && pass->handles[slot] != h; slot++) {
    }
    if (slot == pass->n) {
        if (pass->n == MPROC__OS_MAX_PASS) {
            *rc = mproc__set_error(MPROC_ERANGE,
                                   "at most %d handles can be handed to one "
                                   "child",
                                   MPROC__OS_MAX_PASS);
            return -1;
        }
        pass->handles[pass->n++] = h;
    }
    return (int64_t) slot;
}

/*
 * The slot reference that replaces @ref, one of this process's, its
 * handles added to the mproc__conn_pass_t @ctx.
 */
static mproc_value_t *slot_ref(const mproc_value_t *ref, void *ctx, int *rc)
{
    mproc__conn_pass_t *pass = ctx;
    const mproc_value_t *f = mproc__ref_fields(ref);
    mproc_conn_opts_t o;
    int64_t slot, slot2 = -1;
    mproc_value_t *out;
    *rc = ref_opts(f, &o);
    if (*rc != 0)
        return NULL;
    slot = pass_slot(pass, (mproc__os_fd_t) field(f, F_A), rc);
    if (slot >= 0 && field(f, F_B) >= 0)
        slot2 = pass_slot(pass, (mproc__os_fd_t) field(f, F_B), rc);
    if (slot < 0 || (field(f, F_B) >= 0 && slot2 < 0))
        return NULL;
    out = mproc__ref_new(MPROC_REF_CONN, conn_fields((int) field(f, F_READABLE),
                                                     (int) field(f, F_WRITABLE),
                                                     &o, MPROC__REF_CONN_SLOT,
                                                     slot, slot2, pass->token));
    if (out == NULL)
        *rc = MPROC_ENOMEM;
    return out;
}

/* What replaces a reference that rewrite() was asked to replace. */
typedef mproc_value_t *(*swap_fn)(const mproc_value_t *ref, void *ctx, int *rc);

/*
 * A copy of @v with the references for which @mine is true replaced by
 * @swap's; NULL with *@rc set on failure. Only references are looked at:
 * maps, lists and records are copied as they are, whatever they hold.
 */
static mproc_value_t *rewrite(const mproc_value_t *v,
                              int (*mine)(const mproc_value_t *), swap_fn swap,
                              void *ctx, int *rc)
{
    mproc_value_t *out = NULL;
    size_t i, n = mproc_value_len(v);
    int bad = 0;
    switch (mproc_value_type(v)) {
    case MPROC_VALUE_REF:
        if (mine(v))
            return swap(v, ctx, rc);
        out = mproc_value_copy(v);
        break;
    case MPROC_VALUE_LIST:
    case MPROC_VALUE_RECORD:
        if (!mproc__value_has_ref(v, MPROC_REF_CONN)) {
            out = mproc_value_copy(v);
            break;
        }
        /* A record's fields are a list, rebuilt the same way. */
        out = mproc_value_list();
        for (i = 0; out != NULL && !bad && i < n; i++) {
            mproc_value_t *item =
                rewrite(mproc_value_at(v, i), mine, swap, ctx, rc);
            bad = item == NULL || mproc_value_append(out, item) != 0;
        }
        if (out != NULL && !bad && mproc_value_type(v) == MPROC_VALUE_RECORD) {
            out = mproc_value_record(mproc_value_record_type(v), out);
            bad = out == NULL;
        }
        break;
    case MPROC_VALUE_MAP:
        if (!mproc__value_has_ref(v, MPROC_REF_CONN)) {
            out = mproc_value_copy(v);
            break;
        }
        out = mproc_value_map();
        for (i = 0; out != NULL && !bad && i < n; i++) {
            mproc_value_t *key =
                rewrite(mproc_value_key_at(v, i), mine, swap, ctx, rc);
            mproc_value_t *item =
                rewrite(mproc_value_value_at(v, i), mine, swap, ctx, rc);
            bad = key == NULL || item == NULL ||
                  mproc_value_map_set(out, key, item) != 0;
            if (bad && (key == NULL || item == NULL)) {
                mproc_value_free(key);
                mproc_value_free(item);
            }
        }
        break;
    default:
        out = mproc_value_copy(v);
        break;
    }
    if (out == NULL || bad) {
        mproc_value_free(out);
        if (*rc == 0)
            *rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
        return NULL;
    }
    return out;
}

int mproc__conn_pass_prepare(const mproc__buf_t *args, mproc__conn_pass_t *pass)
{
    mproc_value_t *argv = NULL, *out;
    uint64_t token;
    int rc = 0;
    memset(pass, 0, sizeof *pass);
    if (args->data == NULL)
        return 0;
    rc = mproc__value_decode(args->data, args->len, &argv);
    if (rc != 0)
        return rc;
    /* Most starts pass no connection: nothing to rewrite then. */
    if (!mproc__value_has_ref(argv, MPROC_REF_CONN)) {
        mproc_value_free(argv);
        return 0;
    }
    pass->handles = malloc(MPROC__OS_MAX_PASS * sizeof *pass->handles);
    if (pass->handles == NULL) {
        mproc_value_free(argv);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    mproc__random_bytes(&token, sizeof token);
    pass->token = (int64_t) (token >> 2);
    out = rewrite(argv, is_own_ref, slot_ref, pass, &rc);
    mproc_value_free(argv);
    if (out != NULL && pass->n > 0)
        rc = mproc__value_encode(out, &pass->args);
    mproc_value_free(out);
    if (rc != 0 || pass->n == 0)
        mproc__conn_pass_free(pass);
    return rc;
}

void mproc__conn_pass_free(mproc__conn_pass_t *pass)
{
    mproc__buf_free(&pass->args);
    free(pass->handles);
    memset(pass, 0, sizeof *pass);
}

/* ---- connections sent to a running process ----------------------------- */

/*
 * The travelling reference that replaces @ref, whose handles are open
 * here. The handles are copied now, so the sender may
 * close its connection as soon as the message is out: the copies are
 * offered to the sharer (Unix) or wait in this process for the receiver
 * to pull them out by pid (Windows, where there is no local listener).
 * Until taken they stay open; an offer never taken is closed at exit
 * (Unix), or with this process (Windows).
 */
static mproc_value_t *shared_ref(const mproc_value_t *ref, void *ctx, int *rc)
{
    const mproc_value_t *f = mproc__ref_fields(ref);
    char where[MPROC__OS_LOCAL_PATH_MAX > MPROC__OFFERS_NAME_MAX
                   ? MPROC__OS_LOCAL_PATH_MAX
                   : MPROC__OFFERS_NAME_MAX] = "";
    mproc__os_fd_t copy[2] = {MPROC__OS_FD_INVALID, MPROC__OS_FD_INVALID};
    mproc_conn_opts_t o;
    mproc_value_t *out;
    size_t i, n;
    int64_t id = 0, a = 0, b = 0;
    int form;
    (void) ctx;
    *rc = ref_opts(f, &o);
    if (*rc != 0)
        return NULL;
    n = field(f, F_B) >= 0 ? 2 : 1;
    for (i = 0; i < n && *rc == 0; i++)
        *rc = mproc__os_dup((mproc__os_fd_t) field(f, F_A + (int) i), &copy[i]);
    form = MPROC__REF_CONN_SHARED;
    if (*rc == 0) {
        *rc = mproc__sharer_offer(copy, n, &id, where, sizeof where);
        a = id;
        b = (int64_t) n;
    }
    if (*rc == MPROC_ENOTSUP && n == 1) {
        /* Windows: the receiver pulls the copy out of this process. */
        form = MPROC__REF_CONN_PULL;
        *rc = mproc__sharer_offer_by_pid(&id, where, sizeof where);
        a = (int64_t) copy[0];
        b = id;
    }
    if (*rc != 0) {
        for (i = 0; i < n; i++)
            if (copy[i] != MPROC__OS_FD_INVALID)
                mproc__os_close(copy[i]);
        return NULL;
    }
    out = mproc__ref_new(MPROC_REF_CONN,
                         conn_fields_at((int) field(f, F_READABLE),
                                        (int) field(f, F_WRITABLE), &o, form, a,
                                        b, mproc__os_getpid(), where));
    if (out == NULL)
        *rc = MPROC_ENOMEM;
    return out;
}

int mproc__value_encode_shared(const mproc_value_t *v, mproc__buf_t *out)
{
    mproc_value_t *copy;
    int rc = 0;
    /* Most messages hold no connection: nothing to rewrite then. */
    if (!mproc__value_has_ref(v, MPROC_REF_CONN))
        return mproc__value_encode(v, out);
    copy = rewrite(v, is_local_ref, shared_ref, NULL, &rc);
    if (copy == NULL)
        return rc != 0 ? rc : MPROC_ENOMEM;
    rc = mproc__value_encode(copy, out);
    mproc_value_free(copy);
    return rc;
}
