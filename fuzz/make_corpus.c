/*
 * Writes the seed corpora: a few valid inputs per harness, made by the
 * library's own encoders so that they stay what a peer really sends.
 *
 *   mproc_fuzz_corpus <dir>     writes <dir>/<harness>/<seed>
 *
 * The committed fuzz/corpus/ is this program's output; run it again after
 * a change of a wire format.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "mproc.h"
#include "manager.h"
#include "mproc_private.h"

static char root[4096];

static void seed_target(const mproc_value_t *args)
{
    (void) args;
}
MPROC_TARGET(seed_target)

static mproc_value_t *record_call(const mproc_value_t *rec)
{
    (void) rec;
    return NULL;
}

static void die(const char *what)
{
    fprintf(stderr, "mproc_fuzz_corpus: %s: %s\n", what, mproc_last_error());
    exit(1);
}

static void put(const char *harness, const char *name, const void *p, size_t n)
{
    char path[4096];
    FILE *f;
    snprintf(path, sizeof path, "%s/%s/%s", root, harness, name);
    f = fopen(path, "wb");
    if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
        fprintf(stderr, "mproc_fuzz_corpus: cannot write %s\n", path);
        exit(1);
    }
}

/* The value's encoding (freed), or a failure. */
static mproc__buf_t encode(mproc_value_t *v)
{
    mproc__buf_t b = {0};
    if (v == NULL || mproc__value_encode(v, &b) != 0)
        die("encode");
    mproc_value_free(v);
    return b;
}

static mproc__buf_t frame(const mproc__buf_t *payload, unsigned flags,
                          size_t threshold)
{
    mproc__frame_opts_t o = {threshold, 1};
    mproc__buf_t f = {0};
    if (mproc__frame_encode_flags(payload->data, payload->len, flags, &o, &f) !=
        0)
        die("frame");
    return f;
}

/* Appends request [@op, @id, the @n values that follow] as a run's item. */
static void request(mproc__buf_t *run, int op, int64_t id, size_t n, ...)
{
    mproc_value_t *args[MPROC__MGR_MAX_ARGS];
    mproc__buf_t msg = {0};
    unsigned char len[2];
    va_list ap;
    size_t i;
    va_start(ap, n);
    for (i = 0; i < n; i++)
        args[i] = va_arg(ap, mproc_value_t *);
    va_end(ap);
    if (mproc__mgr_request_encode((mproc__mgr_op_e) op, id, args, n, &msg) != 0)
        die("manager request");
    for (i = 0; i < n; i++)
        mproc_value_free(args[i]);
    len[0] = (unsigned char) (msg.len & 0xff);
    len[1] = (unsigned char) (msg.len >> 8);
    mproc__buf_append(run, len, 2);
    mproc__buf_append(run, msg.data, msg.len);
    mproc__buf_free(&msg);
}

/*
 * Runs of requests to a store that holds a dict (1), a list (2) and a
 * Namespace (3), as fuzz_manager.c makes it.
 */
static void manager_seeds(void)
{
    mproc__buf_t run = {0};
    mproc_value_t *ref = mproc__ref_new(
        MPROC_REF_LIST,
        mproc_value_list_of(
            5, mproc_value_str("addr"), mproc_value_str("00112233aabbccdd"),
            mproc_value_int(2), mproc_value_int(1), mproc_value_str("")));
    request(&run, MPROC__MGR_HELLO, 0, 0);
    request(&run, MPROC__MGR_SET, 1, 2, mproc_value_str("k"),
            mproc_value_int(1));
    request(&run, MPROC__MGR_ADD, 1, 2, mproc_value_str("k"),
            mproc_value_int(2));
    request(&run, MPROC__MGR_GET, 1, 1, mproc_value_str("k"));
    request(&run, MPROC__MGR_POPITEM, 1, 0);
    put("manager", "dict", run.data, run.len);
    run.len = 0;
    request(&run, MPROC__MGR_APPEND, 2, 1, mproc_value_float(2.5));
    request(&run, MPROC__MGR_EXTEND, 2, 1,
            mproc_value_list_of(2, mproc_value_str("a"), mproc_value_int(1)));
    request(&run, MPROC__MGR_SORT, 2, 1, mproc_value_bool(1));
    request(&run, MPROC__MGR_SET_SLICE, 2, 3, mproc_value_int(0),
            mproc_value_int(1), mproc_value_list());
    request(&run, MPROC__MGR_LPOP, 2, 1, mproc_value_int(-1));
    put("manager", "list", run.data, run.len);
    run.len = 0;
    request(&run, MPROC__MGR_EXPORT, 0, 1, mproc_value_int(2));
    request(&run, MPROC__MGR_SET, 3, 2, mproc_value_str("inner"), ref);
    request(&run, MPROC__MGR_RELEASE, 0, 1, mproc_value_int(2));
    request(&run, MPROC__MGR_GET, 3, 1, mproc_value_str("inner"));
    request(&run, MPROC__MGR_CLAIM, 0, 2, mproc_value_int(2),
            mproc_value_int(2));
    request(&run, MPROC__MGR_CAS, 3, 3, mproc_value_str("inner"),
            mproc_value_nil(), mproc_value_int(0));
    request(&run, MPROC__MGR_REGISTER, 0, 2, mproc_value_str("name"),
            mproc_value_int(7));
    request(&run, MPROC__MGR_LOOKUP, 0, 1, mproc_value_str("name"));
    put("manager", "references", run.data, run.len);
    mproc__buf_free(&run);
}

/* Appends a handshake message: its length (4 bytes, LE), @text, @n bytes. */
static void auth_msg(mproc__buf_t *b, const char *text, const void *more,
                     size_t n)
{
    unsigned char len[4];
    mproc__put_u32(len, (uint32_t) (strlen(text) + n));
    if (mproc__buf_append(b, len, 4) != 0 ||
        mproc__buf_append(b, text, strlen(text)) != 0 ||
        (n > 0 && mproc__buf_append(b, more, n) != 0))
        die("auth");
}

/*
 * The pool's messages, laid out as pool.c and pool_worker.c write them
 * (pool_internal.h): a TASKS of two units, one item skipped, and a RESULTS
 * of two entries, one with a failure.
 */
static void pool_seeds(void)
{
    mproc__buf_t m = {0}, v;
    v = encode(mproc_value_list_of(3, mproc_value_int(1), mproc_value_nil(),
                                   mproc_value_str("three")));
    mproc__wire_u8(&m, MPROC__POOL_TASKS);
    mproc__wire_str(&m, "seed_fn");
    mproc__wire_f64(&m, 0.5);
    mproc__wire_u8(&m, 1);
    mproc__wire_u8(&m, 1);
    mproc__wire_u32(&m, 7);
    mproc__wire_u32(&m, 2);
    mproc__wire_u32(&m, 2);
    mproc__wire_u32(&m, 1);
    mproc__wire_u32(&m, 1);
    mproc__wire_u32(&m, 1);
    mproc__wire_u32(&m, (uint32_t) v.len);
    mproc__buf_append(&m, v.data, v.len);
    put("pool", "tasks", m.data, m.len);
    m.len = 0;
    mproc__wire_u8(&m, MPROC__POOL_RESULTS);
    mproc__wire_u32(&m, 2);
    mproc__wire_u32(&m, 7);
    mproc__wire_u32(&m, 0);
    mproc__wire_f64(&m, 0.001);
    mproc__wire_u32(&m, 0);
    mproc__wire_u32(&m, (uint32_t) v.len);
    mproc__buf_append(&m, v.data, v.len);
    mproc__wire_u32(&m, 8);
    mproc__wire_u32(&m, 0);
    mproc__wire_f64(&m, 0.002);
    mproc__wire_u32(&m, 1);
    mproc__wire_u32(&m, 1);
    mproc__wire_u32(&m, (uint32_t) MPROC_ETASK);
    mproc__wire_str(&m, "no 3 today");
    mproc__wire_u32(&m, (uint32_t) v.len);
    mproc__buf_append(&m, v.data, v.len);
    put("pool", "results", m.data, m.len);
    m.len = 0;
    mproc__wire_u8(&m, MPROC__POOL_INITFAIL);
    mproc__wire_u32(&m, (uint32_t) MPROC_ETASK);
    mproc__wire_str(&m, "no config");
    put("pool", "initfail", m.data, m.len);
    mproc__buf_free(&m);
    mproc__buf_free(&v);
}

int main(int argc, char **argv)
{
    static const char *const harnesses[] = {"frame",     "conn",    "value",
                                            "bootstrap", "queue",   "tracker",
                                            "auth",      "manager", "pool"};
    mproc__buf_t values[6], f, g, text = {0};
    mproc_queue_t *q;
    char name[32];
    size_t i;
    if (mproc_main(argc, argv) != 0 || argc != 2)
        die("usage: mproc_fuzz_corpus <dir>");
    for (i = 0; i < MPROC__ARRAY_SIZE(harnesses); i++) {
        char cmd[4200];
        snprintf(cmd, sizeof cmd, "mkdir -p '%s/%s'", argv[1], harnesses[i]);
        if (system(cmd) != 0)
            die("mkdir");
    }
    /* The bootstrap message names the working directory: the seed names
     * the root, not the checkout it was made in. */
    if (realpath(argv[1], root) == NULL || chdir("/") != 0)
        die("realpath");
    if (mproc_register_record("point", record_call) != 0)
        die("register");
    if (mproc_queue_create(&q, NULL) != 0)
        die("queue");
    values[0] = encode(mproc_value_nil());
    values[1] = encode(
        mproc_value_list_of(4, mproc_value_int(-7), mproc_value_str("a"),
                            mproc_value_float(2.5), mproc_value_bool(1)));
    values[2] = encode(mproc_value_map());
    {
        mproc_value_t *m = mproc_value_map();
        if (m == NULL || mproc_value_map_set_str(
                             m, "k", mproc_value_bytes("\0\1\2", 3)) != 0)
            die("map");
        mproc__buf_free(&values[2]);
        values[2] = encode(m);
    }
    values[3] = encode(
        mproc_value_record("point", mproc_value_list_of(2, mproc_value_int(1),
                                                        mproc_value_int(2))));
    values[4] = encode(mproc_value_queue(q));
    values[5] = encode(mproc_value_list_of(2, mproc_value_int(INT64_MAX),
                                           mproc_value_str("")));
    for (i = 0; i < MPROC__ARRAY_SIZE(values); i++) {
        snprintf(name, sizeof name, "value-%zu", i);
        put("value", name, values[i].data, values[i].len);
        f = frame(&values[i], 0, 0);
        put("queue", name, f.data, f.len);
        put("frame", name, f.data, f.len);
        mproc__buf_free(&f);
    }
    /*
     * Queue records: a bytes value's frame (which a get copies straight
     * from the ring), and a marker that closes a run of spilled records,
     * followed by that frame (given with its length: see fuzz_queue.c).
     */
    {
        mproc__buf_t b = {0}, rec = {0};
        unsigned char m[16] = {0xff, 0xff, 0xff, 0xff};
        unsigned char len[4];
        mproc_value_t *bytes = mproc_value_bytes("spam and eggs", 13);
        if (bytes == NULL || mproc__value_encode(bytes, &b) != 0)
            die("bytes");
        mproc_value_free(bytes);
        f = frame(&b, 0, 0);
        put("queue", "bytes", f.data, f.len);
        mproc__put_u32(len, (uint32_t) f.len);
        if (mproc__buf_append(&rec, m, sizeof m) != 0 ||
            mproc__buf_append(&rec, len, 4) != 0 ||
            mproc__buf_append(&rec, f.data, f.len) != 0)
            die("marker");
        put("queue", "marker", rec.data, rec.len);
        mproc__buf_free(&f);
        mproc__buf_free(&b);
        mproc__buf_free(&rec);
    }
    /* A deflated frame, a raw one (send_bytes), and a stream of both. */
    for (i = 0; i < 64; i++)
        mproc__buf_append(&text, "all work and no play ", 21);
    f = frame(&text, MPROC__FRAME_FLAG_RAW, 1);
    put("frame", "deflated", f.data, f.len);
    g = frame(&values[1], 0, 0);
    mproc__buf_append(&g, f.data, f.len);
    put("conn", "value-then-bytes", g.data, g.len);
    mproc__buf_free(&f);
    mproc__buf_free(&g);
    f = frame(&values[2], 0, 0);
    put("conn", "map", f.data, f.len);
    mproc__buf_free(&f);
    /* The bootstrap payload a spawn child reads, after its frame. */
    {
        static const int identity[1] = {1};
        static const unsigned char key[MPROC__AUTHKEY_SIZE] = {0};
        mproc__popen_job_t job = {0};
        mproc__buf_t args = {0};
        mproc_value_t *list = mproc_value_list_of(1, mproc_value_str("arg"));
        if (list == NULL || mproc__value_encode(list, &args) != 0)
            die("arguments");
        mproc_value_free(list);
        job.name = "Process-1";
        job.identity = identity;
        job.identity_len = 1;
        job.target = "seed_target";
        job.args = &args;
        job.authkey = key;
        f.data = NULL;
        f.len = f.cap = 0;
        if (mproc__popen_build_bootstrap(&job, NULL, NULL, 0, 0, &f) != 0 ||
            mproc__frame_open_body(f.data, f.data + MPROC__FRAME_HEADER_SIZE,
                                   f.len - MPROC__FRAME_HEADER_SIZE, 1 << 20,
                                   &g) != 0)
            die("bootstrap");
        put("bootstrap", "spawn", g.data, g.len);
        mproc__buf_free(&f);
        mproc__buf_free(&g);
        mproc__buf_free(&args);
    }
    /*
     * The handshake as each side's peer sends it: a challenge, the verdict
     * on our answer and an answer to ours (an answer of the right shape
     * whose MAC no key made); a refusal; a first message past the cap.
     */
    {
        unsigned char nonce[40];
        mproc__buf_t s = {0};
        memset(nonce, 'n', sizeof nonce);
        auth_msg(&s, "#CHALLENGE#{sha256}", nonce, sizeof nonce);
        auth_msg(&s, "#WELCOME#", NULL, 0);
        auth_msg(&s, "{sha256}", nonce, 32);
        put("auth", "challenge-welcome-answer", s.data, s.len);
        s.len = 0;
        auth_msg(&s, "#CHALLENGE#{sha256}", nonce, sizeof nonce);
        auth_msg(&s, "#FAILURE#", NULL, 0);
        put("auth", "challenge-failure", s.data, s.len);
        s.len = 0;
        auth_msg(&s, "{sha256}", nonce, 32);
        put("auth", "answer", s.data, s.len);
        mproc__buf_free(&s);
        put("auth", "too-long", "\xff\xff\xff\xff", 4);
    }
    put("tracker", "queue", "mproc-Ab12_cd.ef-3", 18);
    manager_seeds();
    put("tracker", "spill", "mproc-Ab12_cd.ef-3.sp", 21);
    put("tracker", "socket", "/tmp/mproc-listener-Ab12cd/sock", 31);
    pool_seeds();
    for (i = 0; i < MPROC__ARRAY_SIZE(values); i++)
        mproc__buf_free(&values[i]);
    mproc__buf_free(&text);
    mproc_queue_destroy(q);
    return 0;
}
