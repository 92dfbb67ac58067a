/*
 * Connections: multiprocessing.Pipe, its Connection objects and
 * multiprocessing.connection.wait.
 *
 * A connection is a byte stream of the OS backend that carries frames
 * (frame.c), plus a read buffer. The stream is read in chunks, so one read
 * may bring several frames, or the start of the next one, which then wait
 * in the buffer for the next receive. poll() and mproc_wait() look there
 * before they ask the OS: a message already read is not on the stream any
 * more, and the OS would say that nothing is ready.
 *
 * Damage. A frame whose header is impossible (magic, version, flags,
 * reserved bytes, length) or whose body fails its checksum is reported
 * once, as MPROC_ECORRUPT. Its length cannot be trusted then, so the
 * stream is resynchronised byte by byte: the next receive scans on from
 * the byte after the bad frame's start for a plausible header whose body
 * also passes its checksum, and delivers that message. A frame that is
 * intact but whose content is not (it does not inflate, or is not
 * msgpack) is consumed whole. The end of the stream inside a frame is
 * reported once as a truncated frame (MPROC_ECORRUPT), then as
 * MPROC_ECLOSED.
 *
 * Handing over. A connection reaches a child only as a start argument, as
 * its reference (mproc_value_conn()): a value of kind MPROC_VALUE_REF that
 * names handles h (and h2) of process p. When a spawn or forkserver child
 * starts, process.c has mproc__conn_pass_prepare() walk the arguments for
 * the connection references of this process; the backend hands their
 * handles to the child, and each reference becomes one that names slots i
 * (and i2) of start t: i indexes the handles that the bootstrap message
 * lists, t names that one start, so a slot reference that travels on
 * (through a queue, say) is refused elsewhere instead of opening whatever
 * sits in that slot. A fork child inherits every descriptor, so it imports
 * a reference of its parent directly. Nothing but a reference is ever
 * rewritten: a user's map or list arrives as it was sent.
 */
#include <stdlib.h>
#include <string.h>

#include "mproc_private.h"

/* What one read asks the OS for at least. */
#define READ_CHUNK ((size_t) 64 * 1024)
/* A read buffer larger than this is given back once it is empty. */
#define KEEP_BUFFER ((size_t) 1024 * 1024)
#define HDR MPROC__FRAME_HEADER_SIZE

struct mproc_conn_t {
    mproc__os_conn_t *os;
    int readable;
    int writable;
    mproc_conn_opts_t opts;         /* with the defaults filled in */
    mproc__frame_opts_t frame_opts; /* what sending hands to frame.c */
    size_t max_body;                /* the longest plausible frame body */
    mproc__buf_t in;                /* bytes read and not yet consumed, */
    size_t pos;                     /* from in.data + pos on */
    int eof;                        /* the stream has ended */
    int resync;                     /* the next receive scans for a frame */
    mproc__owned_t owned; /* closed at exit if mproc_value_to_conn() made it */
};

/* ---- creating and closing --------------------------------------------- */

static int apply_opts(mproc_conn_opts_t *o, const mproc_conn_opts_t *given)
{
    memset(o, 0, sizeof *o);
    if (given != NULL)
        *o = *given;
    return mproc__codec_opts_apply(&o->codec, &o->codec);
}

/* Wraps @os, which the new connection owns (and closes on failure). */
static int conn_new(mproc_conn_t **out, mproc__os_conn_t *os, int readable,
                    int writable, const mproc_conn_opts_t *o)
{
    mproc_conn_t *c = calloc(1, sizeof *c);
    if (c == NULL) {
        mproc__os_conn_close(os);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    c->os = os;
    c->readable = readable;
    c->writable = writable;
    c->opts = *o;
    c->frame_opts = mproc__codec_frame_opts(&o->codec);
    /*
     * A deflated body is smaller than its payload (frame.c keeps it only
     * then) but adds the payload's 4-byte length; the length field of a
     * header has 32 bits.
     */
    c->max_body = o->codec.max_message > 0xfffffffbu ? 0xffffffffu
                                                     : o->codec.max_message + 4;
    *out = c;
    return 0;
}

int mproc_pipe(mproc_conn_t **a, mproc_conn_t **b, int duplex,
               const mproc_conn_opts_t *opts)
{
    mproc__os_conn_t *r, *w;
    mproc_conn_opts_t o;
    int rc;
    if (a == NULL || b == NULL)
        return mproc__set_error(MPROC_EINVAL, "mproc_pipe needs two results");
    *a = *b = NULL;
    rc = apply_opts(&o, opts);
    if (rc != 0)
        return rc;
    rc = mproc__os_conn_pair(&r, &w, duplex);
    if (rc != 0)
        return rc;
    rc = conn_new(a, r, 1, duplex != 0, &o);
    if (rc != 0) {
        mproc__os_conn_close(w);
        return rc;
    }
    rc = conn_new(b, w, duplex != 0, 1, &o);
    if (rc != 0) {
        mproc_conn_close(*a);
        *a = NULL;
    }
    return rc;
}

void mproc_conn_close(mproc_conn_t *c)
{
    if (c == NULL)
        return;
    mproc__ref_cache_forget(c);
    mproc__owned_unlink(&c->owned);
    mproc__os_conn_close(c->os);
    mproc__buf_free(&c->in);
    free(c);
}

#ifdef MPROC_TESTING
mproc__os_conn_t *mproc__conn_os(mproc_conn_t *c)
{
    return c->os;
}
#endif

/* ---- sending ------------------------------------------------------------ */

static int can_send(const mproc_conn_t *c)
{
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection");
    if (!c->writable)
        return mproc__set_error(MPROC_ESTATE,
                                "this end of a one-way pipe only receives");
    return 0;
}

static int send_frame(mproc_conn_t *c, const void *payload, size_t len,
                      unsigned flags)
{
    mproc__buf_t frame = {0};
    int rc;
    /* Checked before anything is written: the stream stays whole. */
    if (len > c->opts.codec.max_message)
        return mproc__set_error(MPROC_ETOOBIG,
                                "a message of %zu bytes exceeds the "
                                "connection's maximum of %zu bytes; nothing "
                                "was sent",
                                len, c->opts.codec.max_message);
    rc = mproc__frame_encode_flags(payload, len, flags, &c->frame_opts, &frame);
    if (rc == 0)
        rc = mproc__os_conn_write(c->os, frame.data, frame.len);
    mproc__buf_free(&frame);
    return rc;
}

int mproc_conn_send(mproc_conn_t *c, const mproc_value_t *v)
{
    mproc__buf_t payload = {0};
    int rc = can_send(c);
    if (rc != 0)
        return rc;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no value to send");
    rc = mproc__value_encode(v, &payload);
    if (rc == 0)
        rc = send_frame(c, payload.data, payload.len, 0);
    mproc__buf_free(&payload);
    return rc;
}

int mproc_conn_send_bytes(mproc_conn_t *c, const void *buf, size_t len)
{
    int rc = can_send(c);
    if (rc != 0)
        return rc;
    if (buf == NULL && len > 0)
        return mproc__set_error(MPROC_EINVAL, "no bytes to send");
    return send_frame(c, buf != NULL ? buf : "", len, MPROC__FRAME_FLAG_RAW);
}

/* ---- the read buffer ---------------------------------------------------- */

static size_t buffered(const mproc_conn_t *c)
{
    return c->in.len - c->pos;
}

static const unsigned char *head(const mproc_conn_t *c)
{
    return c->in.data + c->pos;
}

/* Consumes @n buffered bytes. */
static void drop(mproc_conn_t *c, size_t n)
{
    c->pos += n;
    if (c->pos == c->in.len) {
        c->pos = c->in.len = 0;
        /* One big message must not pin its buffer for good. */
        if (c->in.cap > KEEP_BUFFER)
            mproc__buf_free(&c->in);
    }
}

/*
 * Makes at least @need bytes available from c->pos on, reading as much as
 * the OS has. MPROC_ECLOSED, with no sentence (the caller knows what the
 * end means there), if the stream ends first.
 */
static int fill(mproc_conn_t *c, size_t need)
{
    while (buffered(c) < need) {
        size_t got, want;
        int rc;
        if (c->eof)
            return MPROC_ECLOSED;
        if (c->pos > 0) {
            memmove(c->in.data, c->in.data + c->pos, buffered(c));
            c->in.len -= c->pos;
            c->pos = 0;
        }
        want = need - c->in.len;
        if (want < READ_CHUNK)
            want = READ_CHUNK;
        rc = mproc__buf_reserve(&c->in, want);
        if (rc != 0)
            return rc;
        rc = mproc__os_conn_read(c->os, c->in.data + c->in.len,
                                 c->in.cap - c->in.len, &got);
        if (rc != 0)
            return rc;
        if (got == 0) {
            c->eof = 1;
            return MPROC_ECLOSED;
        }
        c->in.len += got;
    }
    return 0;
}

static int closed(void)
{
    return mproc__set_error(MPROC_ECLOSED, "the peer closed the connection");
}

/*
 * Whether @h starts a frame that this connection could carry; *@body gets
 * its body's length. Deliberately quiet: the resync scan asks it often.
 */
static int plausible(const mproc_conn_t *c, const unsigned char *h,
                     size_t *body)
{
    size_t n;
    if (memcmp(h, "MPRC", 4) != 0 || h[4] != 1 || h[6] != 0 || h[7] != 0 ||
        (h[5] & ~(MPROC__FRAME_FLAG_DEFLATED | MPROC__FRAME_FLAG_RAW)) != 0)
        return 0;
    n = mproc__get_u32(h + 8);
    if (n > c->max_body || ((h[5] & MPROC__FRAME_FLAG_DEFLATED) && n < 4))
        return 0;
    *body = n;
    return 1;
}

/* The offset of the first "MPRC" in @p[0..n), or n if there is none. */
static size_t find_magic(const unsigned char *p, size_t n)
{
    size_t i = 0;
    while (n >= 4 && i <= n - 4) {
        const unsigned char *m = memchr(p + i, 'M', n - 3 - i);
        if (m == NULL)
            break;
        i = (size_t) (m - p);
        if (memcmp(m, "MPRC", 4) == 0)
            return i;
        i++;
    }
    return n;
}

/*
 * Scans from c->pos on for the next frame whose header is plausible and
 * whose body passes its checksum, reading as needed, and leaves c->pos
 * there. MPROC_ECLOSED if the stream ends first.
 *
 * A candidate's body has to arrive before its checksum can be known, so a
 * damaged stream that happens to hold a plausible header of a long frame
 * waits for that many bytes (or the end) before it moves on.
 */
static int resync(mproc_conn_t *c)
{
    for (;;) {
        size_t n = buffered(c), at = find_magic(head(c), n), body;
        int rc;
        if (at == n) {
            /* Keep a tail that may be the start of the next magic. */
            size_t keep = n < 3 ? n : 3;
            drop(c, n - keep);
            rc = fill(c, keep + 1);
            if (rc == MPROC_ECLOSED) {
                drop(c, buffered(c));
                return closed();
            }
            if (rc != 0)
                return rc;
            continue;
        }
        drop(c, at);
        rc = fill(c, HDR);
        if (rc == MPROC_ECLOSED) {
            drop(c, buffered(c));
            return closed();
        }
        if (rc != 0)
            return rc;
        if (!plausible(c, head(c), &body)) {
            drop(c, 1);
            continue;
        }
        rc = fill(c, HDR + body);
        if (rc != 0 && rc != MPROC_ECLOSED)
            return rc;
        /* At the end, a candidate cut short is just more junk to skip. */
        if (rc == 0 && mproc__frame_body_ok(head(c), head(c) + HDR, body)) {
            c->resync = 0;
            return 0;
        }
        drop(c, 1);
    }
}

/*
 * Reads the next frame: its payload is appended to @payload, its flags go
 * to *@flags.
 */
static int next_frame(mproc_conn_t *c, mproc__buf_t *payload, unsigned *flags)
{
    const unsigned char *h;
    size_t body;
    int rc;
    if (c->resync) {
        rc = resync(c);
        if (rc != 0)
            return rc;
    }
    rc = fill(c, HDR);
    if (rc == MPROC_ECLOSED) {
        if (buffered(c) == 0)
            return closed();
        drop(c, buffered(c));
        return mproc__set_error(MPROC_ECORRUPT,
                                "truncated frame: the peer closed the "
                                "connection mid-message");
    }
    if (rc != 0)
        return rc;
    if (!plausible(c, head(c), &body)) {
        /* Its length is no guide: look for the next frame byte by byte. */
        c->resync = 1;
        drop(c, 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "bad frame header (skipped to the next "
                                "message)");
    }
    rc = fill(c, HDR + body);
    if (rc == MPROC_ECLOSED) {
        /*
         * Either the peer died mid-message, or the length was damaged
         * upwards and good frames hide in what did arrive: scan that.
         */
        c->resync = 1;
        drop(c, 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "truncated frame: the peer closed the "
                                "connection mid-message");
    }
    if (rc != 0)
        return rc;
    h = head(c);
    *flags = h[5];
    rc = mproc__frame_open_body(h, h + HDR, body, c->opts.codec.max_message,
                                payload);
    if (rc == MPROC_ECORRUPT && !mproc__frame_body_ok(h, h + HDR, body)) {
        c->resync = 1;
        drop(c, 1);
        return mproc__set_error(MPROC_ECORRUPT,
                                "frame checksum mismatch (skipped to the "
                                "next message)");
    }
    /* Intact, so consumed whole, even if it does not inflate. */
    drop(c, HDR + body);
    return rc;
}

/*
 * Whether a receive would return at once, judged from the buffer alone:
 * a whole frame is there, or an error that it reports without reading.
 */
static int ready_in_buffer(const mproc_conn_t *c)
{
    const unsigned char *p = head(c);
    size_t n = buffered(c), body, i;
    /* At the end of the stream nothing blocks any more. */
    if (c->eof)
        return 1;
    if (!c->resync) {
        if (n < HDR)
            return 0;
        if (!plausible(c, p, &body))
            return 1;
        return n - HDR >= body;
    }
    /* The scan of the next receive, done on what is here. */
    for (i = 0; i + HDR <= n; i++) {
        i += find_magic(p + i, n - i);
        if (i + HDR > n)
            break;
        if (plausible(c, p + i, &body) && n - i - HDR >= body &&
            mproc__frame_body_ok(p + i, p + i + HDR, body))
            return 1;
    }
    return 0;
}

/* ---- receiving ---------------------------------------------------------- */

static int can_recv(const mproc_conn_t *c)
{
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection");
    if (!c->readable)
        return mproc__set_error(MPROC_ESTATE,
                                "this end of a one-way pipe only sends");
    return 0;
}

int mproc_conn_recv(mproc_conn_t *c, mproc_value_t **v)
{
    mproc__buf_t payload = {0};
    unsigned flags = 0;
    int rc;
    if (v != NULL)
        *v = NULL;
    rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (v == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the value");
    rc = next_frame(c, &payload, &flags);
    if (rc == 0 && (flags & MPROC__FRAME_FLAG_RAW)) {
        /* send_bytes sent it: it arrives as the bytes it was. */
        *v = mproc_value_bytes(payload.data ? (void *) payload.data : "",
                               payload.len);
        if (*v == NULL)
            rc = mproc__set_error(MPROC_ENOMEM, "out of memory");
    } else if (rc == 0) {
        rc = mproc__value_decode(payload.data, payload.len, v);
    }
    mproc__buf_free(&payload);
    return rc;
}

int mproc_conn_recv_bytes(mproc_conn_t *c, void **buf, size_t *len)
{
    mproc__buf_t payload = {0};
    unsigned flags = 0;
    int rc;
    if (buf != NULL)
        *buf = NULL;
    if (len != NULL)
        *len = 0;
    rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (buf == NULL || len == NULL)
        return mproc__set_error(MPROC_EINVAL, "no place for the bytes");
    /* A value's frame gives its msgpack encoding, as Python's gives a pickle.
     */
    rc = next_frame(c, &payload, &flags);
    if (rc != 0) {
        mproc__buf_free(&payload);
        return rc;
    }
    if (payload.data == NULL) {
        payload.data = malloc(1);
        if (payload.data == NULL)
            return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    *buf = payload.data;
    *len = payload.len;
    return 0;
}

int mproc_conn_poll(mproc_conn_t *c, double timeout)
{
    int rc = can_recv(c);
    if (rc != 0)
        return rc;
    if (ready_in_buffer(c))
        return 0;
    return mproc__os_conn_wait_readable(c->os, timeout);
}

/* ---- handing over ------------------------------------------------------- */

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
    F_C
};

/* The fields that describe @c; its handles or slots are filled in after. */
static mproc_value_t *conn_fields(int readable, int writable,
                                  const mproc_conn_opts_t *o, int form,
                                  int64_t a, int64_t b, int64_t c)
{
    return mproc_value_list_of(
        MPROC__REF_CONN_FIELDS, mproc_value_bool(readable),
        mproc_value_bool(writable),
        mproc_value_int((int64_t) o->codec.max_message),
        mproc_value_int((int64_t) o->codec.compress_threshold),
        mproc_value_int(o->codec.compress_level),
        mproc_value_bool(o->codec.no_compress), mproc_value_int(form),
        mproc_value_int(a), mproc_value_int(b), mproc_value_int(c));
}

static int conn_ref(const mproc_conn_t *c, mproc_value_t **ref)
{
    mproc__os_fd_t h2;
    *ref = NULL;
    if (c == NULL)
        return mproc__set_error(MPROC_EINVAL, "no connection to refer to");
    /*
     * Bytes read ahead into this process's buffer would never reach the
     * child: refuse rather than lose them.
     */
    if (buffered(c) > 0)
        return mproc__set_error(MPROC_ESTATE,
                                "the connection holds %zu bytes received but "
                                "not yet read; receive them before handing "
                                "it on",
                                buffered(c));
    h2 = mproc__os_conn_handle2(c->os);
    *ref = mproc__ref_new(
        MPROC_REF_CONN,
        conn_fields(c->readable, c->writable, &c->opts, MPROC__REF_CONN_OWN,
                    (int64_t) mproc__os_conn_handle(c->os),
                    h2 == MPROC__OS_FD_INVALID ? -1 : (int64_t) h2,
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
        if (rc == 0 && b >= 0)
            rc = take_slot(b, field(f, F_C), &h2);
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
    } else {
        return mproc__set_error(MPROC_ECORRUPT,
                                "connection reference of an unknown form");
    }
    if (rc != 0)
        return rc;
    rc = mproc__os_conn_adopt(&os, h, h2);
    if (rc != 0)
        return rc;
    return conn_new(c, os, (int) field(f, F_READABLE),
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

/* The slot reference that replaces @ref, its handles added to @pass. */
static mproc_value_t *slot_ref(const mproc_value_t *ref,
                               mproc__conn_pass_t *pass, int *rc)
{
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

/*
 * A copy of @v with this process's connection references rewritten; NULL
 * with *@rc set on failure. Only references are looked at: maps, lists and
 * records are copied as they are, whatever they hold.
 */
static mproc_value_t *rewrite(const mproc_value_t *v, mproc__conn_pass_t *pass,
                              int *rc)
{
    mproc_value_t *out = NULL;
    size_t i, n = mproc_value_len(v);
    int bad = 0;
    switch (mproc_value_type(v)) {
    case MPROC_VALUE_REF:
        if (is_own_ref(v))
            return slot_ref(v, pass, rc);
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
            mproc_value_t *item = rewrite(mproc_value_at(v, i), pass, rc);
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
            mproc_value_t *key = rewrite(mproc_value_key_at(v, i), pass, rc);
            mproc_value_t *item = rewrite(mproc_value_value_at(v, i), pass, rc);
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
    out = rewrite(argv, pass, &rc);
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

/* ---- waiting ------------------------------------------------------------ */

static int check_items(const mproc_waitable_t *items, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        const mproc_waitable_t *w = &items[i];
        if ((w->conn == NULL) == (w->process == NULL))
            return mproc__set_error(MPROC_EINVAL,
                                    "item %zu of mproc_wait needs a "
                                    "connection or a process, not both",
                                    i);
        if (w->conn != NULL && !w->conn->readable)
            return mproc__set_error(MPROC_ESTATE,
                                    "item %zu of mproc_wait is the sending "
                                    "end of a one-way pipe",
                                    i);
        if (w->process != NULL) {
            int rc = mproc__process_check_child(w->process);
            if (rc == MPROC_ENOTCHILD)
                return mproc__set_error(MPROC_ENOTCHILD,
                                        "item %zu of mproc_wait is not a "
                                        "child of this process",
                                        i);
            if (rc != 0)
                return mproc__set_error(MPROC_ENOTSTARTED,
                                        "item %zu of mproc_wait is a "
                                        "process that was not started",
                                        i);
        }
    }
    return 0;
}

/* How often children without a waitable handle are asked, in seconds. */
#define POLL_SLICE 0.01

int mproc_wait(mproc_waitable_t *items, size_t n, double timeout)
{
    double deadline = timeout > 0 ? mproc__os_monotonic() + timeout : 0;
    mproc__os_wait_item_t *os;
    size_t *which;
    size_t i, k;
    int rc, count;

    /*
     * Nothing can ever become ready: Python's wait([]) without a timeout
     * blocks forever, and returning at once is the one useful answer.
     */
    if (items == NULL || n == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "mproc_wait needs at least one item; with "
                                "none, nothing could ever become ready");
    rc = check_items(items, n);
    if (rc != 0)
        return rc;
    os = malloc(n * sizeof *os);
    which = malloc(n * sizeof *which);
    if (os == NULL || which == NULL) {
        free(os);
        free(which);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    for (;;) {
        double wait;
        int polling = 0;
        /* What is ready without the OS: buffered frames, ended children. */
        count = 0;
        for (i = k = 0; i < n; i++) {
            mproc_waitable_t *w = &items[i];
            mproc__os_fd_t h;
            w->ready = w->conn != NULL ? ready_in_buffer(w->conn)
                                       : mproc__process_ended(w->process);
            if (w->ready) {
                count++;
                continue;
            }
            if (w->conn != NULL) {
                os[k].conn = w->conn->os;
                os[k].handle = MPROC__OS_FD_INVALID;
            } else if (mproc__process_waitable(w->process, &h) == 0) {
                os[k].conn = NULL;
                os[k].handle = h;
            } else {
                polling = 1;
                continue;
            }
            os[k].ready = 0;
            which[k++] = i;
        }
        /* With something ready, the others are only looked at. */
        if (count > 0 || timeout == 0)
            wait = 0;
        else if (timeout < 0)
            wait = -1;
        else {
            wait = deadline - mproc__os_monotonic();
            if (wait < 0)
                wait = 0;
        }
        if (polling && (wait < 0 || wait > POLL_SLICE))
            wait = POLL_SLICE;
        if (k > 0) {
            rc = mproc__os_wait_many(os, k, wait);
            if (rc < 0)
                break;
        } else if (wait > 0) {
            mproc_sleep(wait);
        }
        for (i = 0; i < k; i++) {
            mproc_waitable_t *w = &items[which[i]];
            /* A child's handle is ready once it ended; reap it now. */
            if (os[i].ready &&
                (w->conn != NULL || mproc__process_ended(w->process))) {
                w->ready = 1;
                count++;
            }
        }
        if (polling) {
            for (i = 0; i < n; i++) {
                mproc_waitable_t *w = &items[i];
                if (w->process != NULL && !w->ready &&
                    mproc__process_ended(w->process)) {
                    w->ready = 1;
                    count++;
                }
            }
        }
        /* Nothing ready when the time ran out is a timeout, as for a poll. */
        rc = count > 0 ? count : MPROC_ETIMEDOUT;
        if (count > 0 || timeout == 0 ||
            (timeout > 0 && mproc__os_monotonic() >= deadline))
            break;
    }
    free(os);
    free(which);
    return rc;
}
