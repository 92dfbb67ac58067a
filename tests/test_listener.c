/*
 * Listeners and clients (multiprocessing.connection.Listener and Client):
 * every address family of the OS, port 0 and the address it reports, a
 * child under each start method connecting to its parent, the mutual
 * authentication (a wrong key on either side), strangers that send
 * garbage, stop halfway or say nothing, the address errors, and the
 * connections' poll, wait and hand-over.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_thread_proc.h>

#include "auth.h"
#include "harness.h"
#include "mproc_private.h"

#if defined(_WIN32)
    #include "os_internal.h"
#else
    #include <arpa/inet.h>
    #include <ifaddrs.h>
    #include <netinet/in.h>
    #include <sys/stat.h>
    #include <unistd.h>
#endif

/* ---- helpers ---------------------------------------------------------- */

/* A client run in a thread of its own, as a listener's peer must be. */
typedef struct client_job {
    const char *address;
    mproc_client_opts_t opts;
    int echo; /* after connecting, echo each message until a nil */
    int rc;   /* mproc_client_connect()'s */
    char error[512];
    mproc_conn_t *conn; /* the connection, unless @echo */
    apr_pool_t *pool;
    apr_thread_t *thread;
} client_job;

static void *APR_THREAD_FUNC client_main(apr_thread_t *t, void *arg)
{
    client_job *j = arg;
    (void) t;
    j->rc = mproc_client_connect(&j->conn, j->address, &j->opts);
    snprintf(j->error, sizeof j->error, "%s", mproc_last_error());
    if (j->rc != 0 || !j->echo)
        return NULL;
    for (;;) {
        void *buf;
        size_t len;
        if (mproc_conn_recv_bytes(j->conn, &buf, &len) != 0)
            break;
        /* A nil value is its one-byte msgpack form, 0xc0. */
        if (len == 1 && *(unsigned char *) buf == 0xc0) {
            free(buf);
            break;
        }
        if (mproc_conn_send_bytes(j->conn, buf, len) != 0)
            j->rc = -1000;
        free(buf);
    }
    mproc_conn_close(j->conn);
    j->conn = NULL;
    return NULL;
}

static void client_start(client_job *j)
{
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&j->pool, NULL), APR_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(
        apr_thread_create(&j->thread, NULL, client_main, j, j->pool),
        APR_SUCCESS);
}

/* Joins the client's thread: its status. */
static int client_finish(client_job *j)
{
    apr_status_t ignored;
    apr_thread_join(&ignored, j->thread);
    apr_pool_destroy(j->pool);
    return j->rc;
}

/* Accepts on @l while a client connects to it: the accepted end. */
static mproc_conn_t *accept_with(mproc_listener_t *l, client_job *j)
{
    mproc_conn_t *c = NULL;
    int rc;
    j->address = mproc_listener_address(l);
    client_start(j);
    rc = mproc_listener_accept(l, &c, 30);
    if (rc != 0)
        fprintf(stderr, "accept: %s\n", mproc_last_error());
    CU_ASSERT_EQUAL(rc, 0);
    return c;
}

static void send_int(mproc_conn_t *c, int64_t i)
{
    mproc_value_t *v = mproc_value_int(i);
    CU_ASSERT_EQUAL(mproc_conn_send(c, v), 0);
    mproc_value_free(v);
}

static int64_t recv_int(mproc_conn_t *c)
{
    mproc_value_t *v = NULL;
    int64_t i;
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(c, &v), 0);
    i = mproc_value_as_int(v);
    mproc_value_free(v);
    return i;
}

/*
 * Values, bytes and a big message through @c and the echoing client
 * behind it; then the nil that ends the echo, and the end of the stream.
 */
static void exchange_with_echo(mproc_conn_t *c)
{
    const size_t big = 3u << 20;
    unsigned char *data = malloc(big);
    void *buf = NULL;
    size_t len = 0, i;
    mproc_value_t *v;

    CU_ASSERT_PTR_NOT_NULL_FATAL(data);
    send_int(c, 41);
    CU_ASSERT_EQUAL(recv_int(c), 41);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(c, "raw", 3), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(c, &buf, &len), 0);
    CU_ASSERT(len == 3 && memcmp(buf, "raw", 3) == 0);
    free(buf);
    /* More than any socket or pipe buffer holds: partial reads and writes. */
    for (i = 0; i < big; i++)
        data[i] = (unsigned char) (i * 7 + (i >> 12));
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(c, data, big), 0);
    CU_ASSERT_EQUAL(mproc_conn_recv_bytes(c, &buf, &len), 0);
    CU_ASSERT(len == big && buf != NULL && memcmp(buf, data, big) == 0);
    free(buf);
    free(data);
    v = mproc_value_nil();
    CU_ASSERT_EQUAL(mproc_conn_send(c, v), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_conn_recv(c, &v), MPROC_ECLOSED);
}

/* A listener on @address (NULL: fresh) with the options' other fields 0. */
static mproc_listener_t *listen_on(const char *address)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    int rc;
    o.address = address;
    rc = mproc_listener_create(&l, &o);
    if (rc != 0)
        fprintf(stderr, "listen on %s: %s\n", address ? address : "(fresh)",
                mproc_last_error());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(mproc_listener_address(l));
    return l;
}

/* Whether @s begins with @prefix. */
static int starts_with(const char *s, const char *prefix)
{
    return strncmp(s, prefix, strlen(prefix)) == 0;
}

/* The port of "host:port" @address. */
static int port_of(const char *address)
{
    const char *colon = strrchr(address, ':');
    return colon != NULL ? atoi(colon + 1) : -1;
}

/*
 * A raw byte stream to the listener at @address, as a stranger opens one:
 * no handshake from our side unless the test writes it.
 */
static mproc__os_conn_t *raw_connect(const char *address)
{
    mproc__os_addr_t a;
    mproc__os_conn_t *c = NULL;
    char host[256];
    const char *colon = strrchr(address, ':');
    memset(&a, 0, sizeof a);
    a.text = address;
    if (starts_with(address, "\\\\")) {
        a.kind = MPROC__OS_ADDR_PIPE;
        a.host = address;
    } else if (strchr(address, '/') != NULL) {
        a.kind = MPROC__OS_ADDR_UNIX;
        a.host = address;
    } else {
        size_t n = (size_t) (colon - address);
        CU_ASSERT_FATAL(colon != NULL && n < sizeof host);
        memcpy(host, address, n);
        host[n] = '\0';
        if (host[0] == '[') {
            memmove(host, host + 1, n);
            host[n - 2] = '\0';
        }
        a.kind = MPROC__OS_ADDR_TCP;
        a.host = host;
        a.port = atoi(colon + 1);
    }
    CU_ASSERT_EQUAL_FATAL(mproc__os_connect(&a, 30, &c), 0);
    return c;
}

/* ---- every address family -------------------------------------------- */

static void test_fresh_local_address(void)
{
    mproc_listener_t *l = listen_on(NULL);
    const char *address = mproc_listener_address(l);
    client_job j = {0};
    mproc_conn_t *c;
#if !defined(_WIN32)
    char dir[512];
    struct stat st;
    CU_ASSERT_EQUAL(address[0], '/');
    snprintf(dir, sizeof dir, "%s", address);
    *strrchr(dir, '/') = '\0';
    /* Only this user may reach it. */
    CU_ASSERT_EQUAL(stat(dir, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
#else
    CU_ASSERT(starts_with(address, "\\\\.\\pipe\\mproc-"));
#endif
    j.echo = 1;
    c = accept_with(l, &j);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    exchange_with_echo(c);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(c);
#if !defined(_WIN32)
    {
        char path[512];
        snprintf(path, sizeof path, "%s", address);
        mproc_listener_destroy(l);
        /* Its socket and private directory go with it. */
        CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);
        CU_ASSERT_NOT_EQUAL(stat(dir, &st), 0);
    }
#else
    mproc_listener_destroy(l);
#endif
}

/* The OS's own kind of path address: a Unix socket, or a named pipe. */
static char *local_address(const char *tag)
{
#if !defined(_WIN32)
    return harness_temp_path(tag);
#else
    char buf[128];
    unsigned char r[6];
    mproc__random_bytes(r, sizeof r);
    snprintf(buf, sizeof buf,
             "\\\\.\\pipe\\mproc-test-%ld-%s-%02x%02x%02x%02x%02x%02x",
             mproc_process_pid(mproc_current_process()), tag, r[0], r[1], r[2],
             r[3], r[4], r[5]);
    return strdup(buf);
#endif
}

static void test_named_local_address(void)
{
    char *path = local_address("named");
    mproc_listener_t *l = listen_on(path);
    client_job j = {0};
    mproc_conn_t *c;
    /* It is the address as given. */
    CU_ASSERT_STRING_EQUAL(mproc_listener_address(l), path);
    j.echo = 1;
    c = accept_with(l, &j);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    exchange_with_echo(c);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(c);
    mproc_listener_destroy(l);
#if !defined(_WIN32)
    {
        /* The socket file the listener bound is removed. */
        struct stat st;
        CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);
    }
#endif
    /* The address is free again. */
    l = listen_on(path);
    mproc_listener_destroy(l);
    free(path);
}

static void tcp_family(const char *address, const char *reported_prefix,
                       const char *connect_host)
{
    mproc_listener_t *l = listen_on(address);
    const char *bound = mproc_listener_address(l);
    client_job j = {0};
    char target[128];
    mproc_conn_t *c = NULL;
    int rc;
    /* Port 0: the OS chose one, and the address says which. */
    CU_ASSERT(starts_with(bound, reported_prefix));
    CU_ASSERT(port_of(bound) > 0 && port_of(bound) <= 65535);
    /* NULL: the address as reported. */
    if (connect_host == NULL)
        snprintf(target, sizeof target, "%s", bound);
    else
        snprintf(target, sizeof target, "%s:%d", connect_host, port_of(bound));
    j.address = target;
    j.echo = 1;
    client_start(&j);
    rc = mproc_listener_accept(l, &c, 30);
    CU_ASSERT_EQUAL(rc, 0);
    if (c != NULL)
        exchange_with_echo(c);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    if (j.rc != 0)
        fprintf(stderr, "client of %s: %s\n", target, j.error);
    mproc_conn_close(c);
    mproc_listener_destroy(l);
}

static void test_tcp_port_0_reports_its_port(void)
{
    tcp_family("127.0.0.1:0", "127.0.0.1:", "127.0.0.1");
    /* The name resolves to the same IPv4 socket on both sides. */
    tcp_family("localhost:0", "127.0.0.1:", "localhost");
    /* Every interface: reached through the loopback one. */
    tcp_family(":0", "0.0.0.0:", "127.0.0.1");
}

static void test_tcp_over_ipv6(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    o.address = "[::1]:0";
    if (mproc_listener_create(&l, &o) != 0) {
        /* A host without IPv6 says so as the address being wrong there. */
        CU_ASSERT_EQUAL(mproc__last_status(), MPROC_EBADADDR);
        fprintf(stderr, "no IPv6 loopback here: %s\n", mproc_last_error());
        return;
    }
    mproc_listener_destroy(l);
    tcp_family("[::1]:0", "[::1]:", "[::1]");
}

/*
 * An IPv6 listener takes IPv6 only, on every OS (IPV6_V6ONLY): the IPv4
 * port of the same number stays free for another listener, which Linux
 * would otherwise refuse and Windows allow.
 */
static void test_an_ipv6_listener_leaves_ipv4_alone(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *v6 = NULL, *v4 = NULL;
    char address[64];
    int rc;
    o.address = "[::]:0";
    if (mproc_listener_create(&v6, &o) != 0) {
        CU_ASSERT_EQUAL(mproc__last_status(), MPROC_EBADADDR);
        fprintf(stderr, "no IPv6 here: %s\n", mproc_last_error());
        return;
    }
    /* A wildcard bind reports the wildcard, as Python's Listener does. */
    CU_ASSERT(starts_with(mproc_listener_address(v6), "[::]:"));
    snprintf(address, sizeof address, "127.0.0.1:%d",
             port_of(mproc_listener_address(v6)));
    o.address = address;
    rc = mproc_listener_create(&v4, &o);
    if (rc != 0)
        fprintf(stderr, "%s beside [::]: %s\n", address, mproc_last_error());
    CU_ASSERT_EQUAL(rc, 0);
    mproc_listener_destroy(v4);
    mproc_listener_destroy(v6);
    /* And its clients reach it through the IPv6 loopback. */
    tcp_family("[::]:0", "[::]:", "[::1]");
}

#if !defined(_WIN32)
/*
 * A link-local IPv6 address means nothing without its interface: the
 * address a listener there reports keeps the scope, so that a client can
 * use it. Judged on the first link-local address of this machine, if it
 * has one.
 */
static void test_a_link_local_address_keeps_its_scope(void)
{
    struct ifaddrs *all = NULL, *i;
    char host[INET6_ADDRSTRLEN], address[128], want[160];
    unsigned scope = 0;
    CU_ASSERT_EQUAL_FATAL(getifaddrs(&all), 0);
    for (i = all; i != NULL && scope == 0; i = i->ifa_next) {
        const struct sockaddr_in6 *s6 =
            (const struct sockaddr_in6 *) (const void *) i->ifa_addr;
        if (s6 == NULL || s6->sin6_family != AF_INET6 ||
            !IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr) || s6->sin6_scope_id == 0)
            continue;
        inet_ntop(AF_INET6, &s6->sin6_addr, host, sizeof host);
        snprintf(address, sizeof address, "[%s%%%s]:0", host, i->ifa_name);
        scope = s6->sin6_scope_id;
    }
    freeifaddrs(all);
    if (scope == 0) {
        fprintf(stderr, "no link-local IPv6 address here\n");
        return;
    }
    snprintf(want, sizeof want, "[%s%%%u]:", host, scope);
    tcp_family(address, want, NULL);
}
#endif

/* ---- poll and wait on accepted and connected ends --------------------- */

static void poll_and_wait(mproc_conn_t *server, mproc_conn_t *client)
{
    mproc_waitable_t w[2];
    mproc_value_t *v = NULL;
    memset(w, 0, sizeof w);
    w[0].conn = server;
    w[1].conn = client;
    /* Nothing sent yet: neither end is ready. */
    CU_ASSERT_EQUAL(mproc_conn_poll(server, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_conn_poll(client, 0.01), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_wait(w, 2, 0.01), MPROC_ETIMEDOUT);
    send_int(client, 7);
    CU_ASSERT_EQUAL(mproc_wait(w, 2, 30), 1);
    CU_ASSERT(w[0].ready && !w[1].ready);
    CU_ASSERT_EQUAL(mproc_conn_poll(server, 30), 0);
    CU_ASSERT_EQUAL(recv_int(server), 7);
    send_int(server, 8);
    CU_ASSERT_EQUAL(mproc_wait(w, 2, 30), 1);
    CU_ASSERT(!w[0].ready && w[1].ready);
    CU_ASSERT_EQUAL(recv_int(client), 8);
    /* The end of the stream is readiness too, then ECLOSED. */
    mproc_conn_close(client);
    CU_ASSERT_EQUAL(mproc_wait(w, 1, 30), 1);
    CU_ASSERT_EQUAL(mproc_conn_recv(server, &v), MPROC_ECLOSED);
}

static void test_poll_and_wait_on_every_family(void)
{
    const char *addresses[2] = {"127.0.0.1:0", NULL};
    size_t i;
    for (i = 0; i < 2; i++) {
        mproc_listener_t *l = listen_on(addresses[i]);
        client_job j = {0};
        mproc_conn_t *c = accept_with(l, &j);
        CU_ASSERT_EQUAL(client_finish(&j), 0);
        if (c != NULL && j.conn != NULL)
            poll_and_wait(c, j.conn);
        else
            mproc_conn_close(j.conn);
        mproc_conn_close(c);
        mproc_listener_destroy(l);
    }
}

/* ---- a child as the client -------------------------------------------- */

/*
 * args: addresses and keys, in pairs: connect to each (with the key, or
 * nil for this process's own), receive a number, send it doubled.
 */
static void client_child(const mproc_value_t *args)
{
    size_t i;
    for (i = 0; i + 1 < mproc_value_len(args); i += 2) {
        const mproc_value_t *key = mproc_value_at(args, i + 1);
        mproc_client_opts_t o = {0};
        mproc_conn_t *c = NULL;
        mproc_value_t *v = NULL, *reply;
        int rc;
        if (mproc_value_type(key) == MPROC_VALUE_BYTES)
            o.authkey = mproc_value_as_bytes(key, &o.authkey_len);
        rc = mproc_client_connect(
            &c, mproc_value_as_str(mproc_value_at(args, i)), &o);
        if (rc != 0)
            fprintf(stderr, "child: %s\n", mproc_last_error());
        CHILD_ASSERT(rc == 0);
        CHILD_ASSERT(mproc_conn_recv(c, &v) == 0);
        reply = mproc_value_int(mproc_value_as_int(v) * 2);
        CHILD_ASSERT(mproc_conn_send(c, reply) == 0);
        mproc_value_free(reply);
        mproc_value_free(v);
        mproc_conn_close(c);
    }
}
MPROC_TARGET(client_child)

static void test_a_child_connects_to_its_parent(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *local = listen_on(NULL), *tcp = NULL;
    mproc_process_t *p;
    mproc_conn_t *c = NULL;
    /* The first with the key both inherit, the second with one of ours. */
    o.address = "127.0.0.1:0";
    o.authkey = "a key of its own";
    o.authkey_len = strlen("a key of its own");
    CU_ASSERT_EQUAL_FATAL(mproc_listener_create(&tcp, &o), 0);
    p = harness_start(
        "client_child",
        mproc_value_list_of(4, mproc_value_str(mproc_listener_address(local)),
                            mproc_value_nil(),
                            mproc_value_str(mproc_listener_address(tcp)),
                            mproc_value_bytes(o.authkey, o.authkey_len)));
    CU_ASSERT_EQUAL(mproc_listener_accept(local, &c, 30), 0);
    if (c != NULL) {
        send_int(c, 21);
        CU_ASSERT_EQUAL(recv_int(c), 42);
        mproc_conn_close(c);
        c = NULL;
    }
    CU_ASSERT_EQUAL(mproc_listener_accept(tcp, &c, 30), 0);
    if (c != NULL) {
        send_int(c, 50);
        CU_ASSERT_EQUAL(recv_int(c), 100);
        mproc_conn_close(c);
    }
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_listener_destroy(local);
    mproc_listener_destroy(tcp);
}

/* ---- authentication ---------------------------------------------------- */

static void test_wrong_key_fails_on_both_sides(void)
{
    const char *addresses[2] = {"127.0.0.1:0", NULL};
    size_t i;
    for (i = 0; i < 2; i++) {
        mproc_listener_opts_t o = {0};
        mproc_listener_t *l = NULL;
        client_job bad = {0}, good = {0};
        mproc_conn_t *c = NULL;
        o.address = addresses[i];
        o.authkey = "right";
        o.authkey_len = 5;
        CU_ASSERT_EQUAL_FATAL(mproc_listener_create(&l, &o), 0);
        bad.address = mproc_listener_address(l);
        bad.opts.authkey = "wrong";
        bad.opts.authkey_len = 5;
        client_start(&bad);
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_EAUTH);
        CU_ASSERT_PTR_NULL(c);
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "authkey"));
        CU_ASSERT_EQUAL(client_finish(&bad), MPROC_EAUTH);
        CU_ASSERT_PTR_NOT_NULL(strstr(bad.error, "authkey"));
        CU_ASSERT_PTR_NULL(bad.conn);
        /* No key at all: the process's own, which is not "right" either. */
        memset(&bad.opts, 0, sizeof bad.opts);
        client_start(&bad);
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_EAUTH);
        CU_ASSERT_EQUAL(client_finish(&bad), MPROC_EAUTH);
        /* The listener serves on. */
        good.opts.authkey = "right";
        good.opts.authkey_len = 5;
        c = accept_with(l, &good);
        CU_ASSERT_EQUAL(client_finish(&good), 0);
        if (c != NULL && good.conn != NULL) {
            send_int(good.conn, 5);
            CU_ASSERT_EQUAL(recv_int(c), 5);
        }
        mproc_conn_close(good.conn);
        mproc_conn_close(c);
        mproc_listener_destroy(l);
    }
}

/* The byte stream of a raw connection, for auth.c's side of a handshake. */
static int raw_read(void *ctx, void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        size_t got;
        int rc = mproc__os_conn_read(ctx, p, n, &got);
        if (rc != 0)
            return rc;
        if (got == 0)
            return mproc__set_error(MPROC_ECLOSED, "closed");
        p += got;
        n -= got;
    }
    return 0;
}

static int raw_write(void *ctx, const void *buf, size_t n)
{
    return mproc__os_conn_write(ctx, buf, n);
}

/*
 * A listener that does not know the key: the client refuses it. The
 * server's half runs here by hand: it welcomes any answer, and answers
 * the client's challenge with a key of its own.
 */
static void test_a_listener_without_the_key_is_refused(void)
{
    mproc__os_addr_t a = {MPROC__OS_ADDR_FRESH, NULL, 0, "fresh"};
    mproc__os_listener_t *raw = NULL;
    mproc__os_conn_t *s = NULL;
    mproc__auth_io_t io = {raw_read, raw_write, NULL};
    unsigned char msg[300], len[4];
    client_job j = {0};
    size_t n;

    CU_ASSERT_EQUAL_FATAL(mproc__os_listen(&raw, &a, 4), 0);
    j.address = mproc__os_listener_address(raw);
    client_start(&j);
    CU_ASSERT_EQUAL_FATAL(mproc__os_listener_accept(raw, 30, &s), 0);
    /* Our challenge; whatever the client answers is welcome. */
    memcpy(msg, "#CHALLENGE#{sha256}", 19);
    memset(msg + 19, 'n', 40);
    mproc__put_u32(len, 59);
    CU_ASSERT_EQUAL(mproc__os_conn_write(s, len, 4), 0);
    CU_ASSERT_EQUAL(mproc__os_conn_write(s, msg, 59), 0);
    CU_ASSERT_EQUAL(raw_read(s, len, 4), 0);
    n = mproc__get_u32(len);
    CU_ASSERT_FATAL(n <= sizeof msg);
    CU_ASSERT_EQUAL(raw_read(s, msg, n), 0);
    mproc__put_u32(len, 9);
    CU_ASSERT_EQUAL(mproc__os_conn_write(s, len, 4), 0);
    CU_ASSERT_EQUAL(mproc__os_conn_write(s, "#WELCOME#", 9), 0);
    /* The client's challenge, answered with a key the client lacks. */
    io.ctx = s;
    /* auth.c's client half answers, and learns that it was refused. */
    CU_ASSERT_EQUAL(mproc__auth_answer(&io, "impostor", 8), MPROC_EAUTH);
    CU_ASSERT_EQUAL(client_finish(&j), MPROC_EAUTH);
    CU_ASSERT_PTR_NOT_NULL(strstr(j.error, "does not know the authkey"));
    CU_ASSERT_PTR_NULL(j.conn);
    mproc__os_conn_close(s);
    mproc__os_listener_close(raw);
}

/* ---- strangers --------------------------------------------------------- */

static void test_strangers_cost_only_their_connection(void)
{
    const char *addresses[2] = {"127.0.0.1:0", NULL};
    size_t i;
    for (i = 0; i < 2; i++) {
        static const unsigned char junk[] = "\xff\xff\xff\xff no handshake";
        static const unsigned char cut[] = "\x3b\x00\x00\x00{sha256}abc";
        mproc_listener_opts_t o = {0};
        mproc_listener_t *l = NULL;
        mproc__os_conn_t *r;
        mproc_conn_t *c = NULL;
        client_job good = {0};
        o.address = addresses[i];
        /* Short, so that the silent stranger costs little. */
        o.handshake_timeout = 0.3;
        CU_ASSERT_EQUAL_FATAL(mproc_listener_create(&l, &o), 0);

        /* Garbage: no handshake at all. */
        r = raw_connect(mproc_listener_address(l));
        CU_ASSERT_EQUAL(mproc__os_conn_write(r, junk, sizeof junk), 0);
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ECORRUPT);
        CU_ASSERT_PTR_NULL(c);
        mproc__os_conn_close(r);

        /* A handshake cut short: a message announced, then the end. */
        r = raw_connect(mproc_listener_address(l));
        CU_ASSERT_EQUAL(mproc__os_conn_write(r, cut, sizeof cut - 1), 0);
        mproc__os_conn_close(r);
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ECLOSED);
        CU_ASSERT_PTR_NULL(c);

        /* Part of a message, then silence on an open connection. */
        r = raw_connect(mproc_listener_address(l));
        CU_ASSERT_EQUAL(mproc__os_conn_write(r, cut, 6), 0);
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ETIMEDOUT);
        CU_ASSERT_PTR_NULL(c);
        mproc__os_conn_close(r);

        /* Nothing at all: the deadline ends it. */
        r = raw_connect(mproc_listener_address(l));
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ETIMEDOUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "handshake"));
        CU_ASSERT_PTR_NULL(c);
        mproc__os_conn_close(r);

        /* The listener still takes clients and judges what they send. */
        r = raw_connect(mproc_listener_address(l));
        CU_ASSERT_EQUAL(mproc__os_conn_write(r, junk, sizeof junk), 0);
        CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ECORRUPT);
        mproc__os_conn_close(r);
        mproc_listener_destroy(l);

        /*
         * And a client that knows the key is served: by a listener of the
         * same family with the default deadline, which a loaded machine
         * (or Wine) cannot make it miss as it could 0.3 seconds.
         */
        l = listen_on(addresses[i]);
        c = accept_with(l, &good);
        CU_ASSERT_EQUAL(client_finish(&good), 0);
        if (c != NULL && good.conn != NULL) {
            send_int(c, 3);
            CU_ASSERT_EQUAL(recv_int(good.conn), 3);
        }
        mproc_conn_close(good.conn);
        mproc_conn_close(c);
        mproc_listener_destroy(l);
    }
}

#if defined(_WIN32)
/*
 * A write of zero bytes on the raw pipe end @c, which a named pipe
 * delivers as an empty read (mproc__os_conn_write sends nothing for 0).
 */
static void write_nothing(mproc__os_conn_t *c)
{
    mproc__os_fd_t h[2];
    OVERLAPPED ov;
    DWORD done = 0;
    BOOL ok;
    mproc__os_conn_handles(c, h);
    memset(&ov, 0, sizeof ov);
    ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ov.hEvent);
    ok = WriteFile((HANDLE) h[0], "", 0, NULL, &ov);
    CU_ASSERT(ok || GetLastError() == ERROR_IO_PENDING);
    CU_ASSERT(GetOverlappedResult((HANDLE) h[0], &ov, &done, TRUE));
    CloseHandle(ov.hEvent);
}

/*
 * A client of a pipe that writes nothing, zero bytes long, then stays
 * silent: the empty read it causes is no byte of the handshake, and the
 * deadline still ends it.
 */
static void test_an_empty_write_meets_the_deadline(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    mproc__os_conn_t *r;
    mproc_conn_t *c = NULL;
    o.handshake_timeout = 0.3;
    CU_ASSERT_EQUAL_FATAL(mproc_listener_create(&l, &o), 0);
    r = raw_connect(mproc_listener_address(l));
    write_nothing(r);
    CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "handshake"));
    CU_ASSERT_PTR_NULL(c);
    mproc__os_conn_close(r);
    /* Empty writes among the bytes of a handshake are no harm either. */
    r = raw_connect(mproc_listener_address(l));
    write_nothing(r);
    CU_ASSERT_EQUAL(mproc__os_conn_write(r, "\xff\xff", 2), 0);
    write_nothing(r);
    CU_ASSERT_EQUAL(mproc__os_conn_write(r, "\xff\xff", 2), 0);
    CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 30), MPROC_ECORRUPT);
    mproc__os_conn_close(r);
    mproc_listener_destroy(l);
}
#endif

#if defined(_WIN32)
/* What the instance hook of the pipe listeners saw, and is to do. */
static struct {
    int made;        /* instances made */
    HANDLE last;     /* the newest */
    int come_and_go; /* how many more get a client that leaves at once */
} pipe_hook;

static void on_pipe_instance(HANDLE instance, const wchar_t *name)
{
    pipe_hook.made++;
    pipe_hook.last = instance;
    if (pipe_hook.come_and_go > 0) {
        /* Before the listener asks the instance to wait: opened, closed. */
        HANDLE h = CreateFileW(name, GENERIC_READ | GENERIC_WRITE, 0, NULL,
                               OPEN_EXISTING, 0, NULL);
        pipe_hook.come_and_go--;
        if (h != INVALID_HANDLE_VALUE)
            CloseHandle(h);
    }
}

/* Whether an instance of the pipe @address waits for a client now. */
static int pipe_served(const char *address)
{
    wchar_t name[300];
    CU_ASSERT_FATAL(MultiByteToWideChar(CP_UTF8, 0, address, -1, name, 300) >
                    0);
    return WaitNamedPipeW(name, 1) != 0;
}

/*
 * A client that opens an instance of the pipe and leaves before the
 * listener asks it to wait: ConnectNamedPipe says ERROR_NO_DATA, which
 * costs that client only, at the listener's creation as after an accept.
 */
static void test_a_pipe_client_that_left_costs_only_itself(void)
{
    mproc_listener_t *l;
    client_job j = {0};
    mproc_conn_t *c;
    memset(&pipe_hook, 0, sizeof pipe_hook);
    pipe_hook.come_and_go = 2;
    mproc__win_pipe_instance_hook = on_pipe_instance;
    l = listen_on(NULL);
    CU_ASSERT_EQUAL(pipe_hook.come_and_go, 1);
    c = accept_with(l, &j);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(j.conn);
    mproc_conn_close(c);
    /* The instance made after the accept met the second: it waits still. */
    CU_ASSERT_EQUAL(pipe_hook.come_and_go, 0);
    CU_ASSERT(pipe_served(mproc_listener_address(l)));
    memset(&j, 0, sizeof j);
    c = accept_with(l, &j);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(j.conn);
    mproc_conn_close(c);
    mproc__win_pipe_instance_hook = NULL;
    mproc_listener_destroy(l);
}

/*
 * A wait for a client that fails (here: cut short) leaves the same
 * instance to wait again, so that the name is served throughout.
 */
static void test_a_failed_pipe_wait_keeps_the_name(void)
{
    mproc_listener_t *l;
    client_job j = {0};
    mproc_conn_t *c = NULL;
    memset(&pipe_hook, 0, sizeof pipe_hook);
    mproc__win_pipe_instance_hook = on_pipe_instance;
    l = listen_on(NULL);
    CU_ASSERT_EQUAL_FATAL(pipe_hook.made, 1);
    CU_ASSERT(CancelIoEx(pipe_hook.last, NULL));
    CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 0.2), MPROC_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(c);
    /* No instance was closed and made again. */
    CU_ASSERT_EQUAL(pipe_hook.made, 1);
    CU_ASSERT(pipe_served(mproc_listener_address(l)));
    c = accept_with(l, &j);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(j.conn);
    mproc_conn_close(c);
    mproc__win_pipe_instance_hook = NULL;
    mproc_listener_destroy(l);
}
#endif

/* A listener that accepts and then says nothing: the client's deadline. */
static void test_a_silent_listener_meets_the_client_deadline(void)
{
    mproc__os_addr_t fresh = {MPROC__OS_ADDR_FRESH, NULL, 0, "fresh"};
    mproc__os_addr_t tcp = {MPROC__OS_ADDR_TCP, "127.0.0.1", 0, "tcp"};
    const mproc__os_addr_t *addresses[2] = {&fresh, &tcp};
    size_t i;
    for (i = 0; i < 2; i++) {
        mproc__os_listener_t *raw = NULL;
        mproc__os_conn_t *s = NULL;
        client_job j = {0};
        CU_ASSERT_EQUAL_FATAL(mproc__os_listen(&raw, addresses[i], 4), 0);
        j.address = mproc__os_listener_address(raw);
        j.opts.timeout = 0.3;
        client_start(&j);
        CU_ASSERT_EQUAL(mproc__os_listener_accept(raw, 30, &s), 0);
        /* Not a byte: the client gives up at its deadline. */
        CU_ASSERT_EQUAL(client_finish(&j), MPROC_ETIMEDOUT);
        CU_ASSERT_PTR_NOT_NULL(strstr(j.error, "handshake"));
        CU_ASSERT_PTR_NULL(j.conn);
        mproc__os_conn_close(s);
        mproc__os_listener_close(raw);
    }
}

/* A listener that speaks garbage: the client reports it, and nothing leaks. */
static void test_a_listener_of_garbage_is_refused(void)
{
    mproc__os_addr_t a = {MPROC__OS_ADDR_FRESH, NULL, 0, "fresh"};
    mproc__os_listener_t *raw = NULL;
    mproc__os_conn_t *s = NULL;
    client_job j = {0};
    CU_ASSERT_EQUAL_FATAL(mproc__os_listen(&raw, &a, 4), 0);
    j.address = mproc__os_listener_address(raw);
    client_start(&j);
    CU_ASSERT_EQUAL_FATAL(mproc__os_listener_accept(raw, 30, &s), 0);
    CU_ASSERT_EQUAL(mproc__os_conn_write(s, "\x05\x00\x00\x00HELLO", 9), 0);
    CU_ASSERT_EQUAL(client_finish(&j), MPROC_ECORRUPT);
    CU_ASSERT_PTR_NOT_NULL(strstr(j.error, "no valid challenge"));
    CU_ASSERT_PTR_NULL(j.conn);
    mproc__os_conn_close(s);
    mproc__os_listener_close(raw);
}

/* ---- address errors ------------------------------------------------------ */

static void test_address_in_use(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = listen_on("127.0.0.1:0"), *again = NULL;
    char *path = local_address("inuse");
    o.address = mproc_listener_address(l);
    CU_ASSERT_EQUAL(mproc_listener_create(&again, &o), MPROC_EADDRINUSE);
    CU_ASSERT_PTR_NULL(again);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "in use"));
    mproc_listener_destroy(l);

    l = listen_on(path);
    o.address = path;
    CU_ASSERT_EQUAL(mproc_listener_create(&again, &o), MPROC_EADDRINUSE);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "in use"));
    mproc_listener_destroy(l);
#if !defined(_WIN32)
    {
        /* A file at the path, a dead listener's socket say, is not ours. */
        FILE *f = fopen(path, "w");
        struct stat st;
        CU_ASSERT_PTR_NOT_NULL_FATAL(f);
        fclose(f);
        CU_ASSERT_EQUAL(mproc_listener_create(&again, &o), MPROC_EADDRINUSE);
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "remove it"));
        /* And a refused listener leaves it where it was. */
        CU_ASSERT_EQUAL(stat(path, &st), 0);
        remove(path);
    }
#endif
    free(path);
}

static void test_an_address_of_another_family(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    mproc_conn_t *c = NULL;
    /*
     * Among them what looks like TCP but is not (an IPv6 host without a
     * port, a host without one, IPv4 in brackets), which must not become a
     * socket file of that name instead.
     */
    static const char *malformed[] = {"",
                                      "127.0.0.1:70000",
                                      "::1:5000",
                                      "[::1:5000",
                                      "[::1]",
                                      "[::1]:",
                                      "localhost:",
                                      ":",
                                      "[1.2.3.4]:0",
                                      "[]:80",
                                      "\\\\.\\pipe\\",
                                      "\\\\server\\share"};
    size_t i;
#if !defined(_WIN32)
    const char *other = "\\\\.\\pipe\\mproc-nowhere", *word = "Windows";
#else
    const char *other = "C:\\temp\\app.sock", *word = "Unix";
#endif
    o.address = other;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EBADADDR);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), word));
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_EQUAL(mproc_client_connect(&c, other, NULL), MPROC_EBADADDR);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), word));
    CU_ASSERT_PTR_NULL(c);
    for (i = 0; i < MPROC__ARRAY_SIZE(malformed); i++) {
        int rc;
        o.address = malformed[i];
        rc = mproc_listener_create(&l, &o);
        if (rc != MPROC_EBADADDR)
            fprintf(stderr, "listening on '%s': %d\n", malformed[i], rc);
        CU_ASSERT_EQUAL(rc, MPROC_EBADADDR);
        mproc_listener_destroy(l);
        l = NULL;
        CU_ASSERT_EQUAL(mproc_client_connect(&c, malformed[i], NULL),
                        MPROC_EBADADDR);
    }
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_PTR_NULL(c);
}

#if !defined(_WIN32)
static void test_a_relative_path_is_made_absolute(void)
{
    char *dir = harness_temp_path("cwd"), here[1024], want[1200];
    mproc_listener_t *l;
    client_job j = {0};
    mproc_conn_t *c;
    struct stat st;
    CU_ASSERT_PTR_NOT_NULL_FATAL(getcwd(here, sizeof here));
    CU_ASSERT_EQUAL_FATAL(mkdir(dir, 0700), 0);
    CU_ASSERT_EQUAL_FATAL(chdir(dir), 0);
    l = listen_on("app.sock");
    /* The path as bound, whatever the working directory is later. */
    snprintf(want, sizeof want, "%s/app.sock", dir);
    CU_ASSERT_STRING_EQUAL(mproc_listener_address(l), want);
    CU_ASSERT_EQUAL(chdir(here), 0);
    c = accept_with(l, &j);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(j.conn);
    mproc_conn_close(c);
    mproc_listener_destroy(l);
    /* The file it made is the one removed, from another directory too. */
    CU_ASSERT_NOT_EQUAL(stat(want, &st), 0);
    CU_ASSERT_EQUAL(rmdir(dir), 0);
    free(dir);
}

static void test_a_unix_path_that_cannot_be_bound(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    mproc_conn_t *c = NULL;
    char *missing = harness_temp_path("no-such-dir"), path[1200], *p;
    /* Longer than any sun_path (108 bytes on Linux, 104 on the BSDs). */
    char longest[300];
    memset(longest, 'x', sizeof longest - 1);
    longest[0] = '/';
    longest[sizeof longest - 1] = '\0';
    o.address = longest;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EBADADDR);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "too long"));
    CU_ASSERT_EQUAL(mproc_client_connect(&c, longest, NULL), MPROC_EBADADDR);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "too long"));
    /* A relative path is too long once made absolute too. */
    p = longest + 1;
    o.address = p;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EBADADDR);
    /* A directory that does not exist. */
    snprintf(path, sizeof path, "%s/app.sock", missing);
    o.address = path;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EBADADDR);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "does not exist"));
    CU_ASSERT_PTR_NULL(l);
    CU_ASSERT_PTR_NULL(c);
    free(missing);
}
#endif

static void test_bad_options(void)
{
    mproc_listener_opts_t o = {0};
    mproc_client_opts_t co = {0};
    mproc_listener_t *l = NULL;
    mproc_conn_t *c = NULL;
    o.authkey = "";
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EINVAL);
    o.authkey = NULL;
    o.backlog = -1;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EINVAL);
    o.backlog = 0;
    o.codec.compress_level = 12;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_listener_create(NULL, NULL), MPROC_EINVAL);
    CU_ASSERT_PTR_NULL(l);
    co.authkey = "";
    CU_ASSERT_EQUAL(mproc_client_connect(&c, "127.0.0.1:1", &co), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_client_connect(&c, NULL, NULL), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_client_connect(NULL, "127.0.0.1:1", NULL),
                    MPROC_EINVAL);
    CU_ASSERT_PTR_NULL(c);
    CU_ASSERT_EQUAL(mproc_listener_accept(NULL, &c, 0), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_listener_destroy(NULL), 0);
    CU_ASSERT_PTR_NULL(mproc_listener_address(NULL));
}

static void test_the_codec_options_apply(void)
{
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    client_job j = {0};
    mproc_conn_t *c;
    char big[1000];
    o.codec.max_message = 100;
    CU_ASSERT_EQUAL_FATAL(mproc_listener_create(&l, &o), 0);
    j.opts.codec.max_message = 200;
    c = accept_with(l, &j);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    CU_ASSERT_PTR_NOT_NULL_FATAL(c);
    CU_ASSERT_PTR_NOT_NULL_FATAL(j.conn);
    memset(big, 'x', sizeof big);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(c, big, 150), MPROC_ETOOBIG);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(j.conn, big, 150), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(j.conn, big, 250), MPROC_ETOOBIG);
    mproc_conn_close(j.conn);
    mproc_conn_close(c);
    mproc_listener_destroy(l);
}

static void test_accept_times_out(void)
{
    mproc_listener_t *l = listen_on("127.0.0.1:0"), *local = listen_on(NULL);
    mproc_conn_t *c = NULL;
    CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 0), MPROC_ETIMEDOUT);
    CU_ASSERT_EQUAL(mproc_listener_accept(l, &c, 0.05), MPROC_ETIMEDOUT);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "no client"));
    CU_ASSERT_EQUAL(mproc_listener_accept(local, &c, 0.05), MPROC_ETIMEDOUT);
    CU_ASSERT_PTR_NULL(c);
    mproc_listener_destroy(l);
    mproc_listener_destroy(local);
}

static void test_client_to_a_missing_address(void)
{
    mproc_listener_t *l = listen_on("127.0.0.1:0");
    char tcp[64], *local = local_address("missing");
    mproc_conn_t *c = NULL;
    snprintf(tcp, sizeof tcp, "%s", mproc_listener_address(l));
    mproc_listener_destroy(l);
    CU_ASSERT_EQUAL(mproc_client_connect(&c, local, NULL), MPROC_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "nobody listens"));
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), local));
    CU_ASSERT_EQUAL(mproc_client_connect(&c, tcp, NULL), MPROC_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), tcp));
    CU_ASSERT_PTR_NULL(c);
    free(local);
}

static void test_a_host_that_does_not_resolve(void)
{
    /* .invalid never resolves (RFC 6761), with or without a network. */
    static const char *nowhere = "no-such-host.invalid:5000";
    mproc_listener_opts_t o = {0};
    mproc_listener_t *l = NULL;
    mproc_conn_t *c = NULL;
    CU_ASSERT_EQUAL(mproc_client_connect(&c, nowhere, NULL), MPROC_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "no-such-host.invalid"));
    CU_ASSERT_PTR_NULL(c);
    o.address = nowhere;
    CU_ASSERT_EQUAL(mproc_listener_create(&l, &o), MPROC_ENOTFOUND);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "no-such-host.invalid"));
    CU_ASSERT_PTR_NULL(l);
}

/* ---- several clients at once ------------------------------------------- */

#define CLIENTS 4

/*
 * Four children connect at once, to a local address and then to TCP:
 * each is served in turn, the ones behind waiting in their connect (for
 * a pipe, each waits for a new instance of it).
 */
static void test_several_clients_at_once(void)
{
    mproc_listener_t *local = listen_on(NULL), *tcp = listen_on("127.0.0.1:0");
    mproc_process_t *p[CLIENTS];
    int seen[CLIENTS] = {0};
    size_t i, k;
    for (i = 0; i < CLIENTS; i++)
        p[i] = harness_start(
            "client_child",
            mproc_value_list_of(
                4, mproc_value_str(mproc_listener_address(local)),
                mproc_value_nil(), mproc_value_str(mproc_listener_address(tcp)),
                mproc_value_nil()));
    for (k = 0; k < 2; k++) {
        mproc_listener_t *l = k == 0 ? local : tcp;
        for (i = 0; i < CLIENTS; i++) {
            mproc_conn_t *c = NULL;
            int64_t got;
            int rc = mproc_listener_accept(l, &c, 60);
            if (rc != 0)
                fprintf(stderr, "accept %lu on %s: %s\n", (unsigned long) i,
                        mproc_listener_address(l), mproc_last_error());
            CU_ASSERT_EQUAL_FATAL(rc, 0);
            send_int(c, 100 + (int64_t) i);
            got = recv_int(c);
            CU_ASSERT_EQUAL(got, 2 * (100 + (int64_t) i));
            if (got >= 200 && got < 200 + 2 * CLIENTS)
                seen[(got - 200) / 2]++;
            mproc_conn_close(c);
        }
    }
    for (i = 0; i < CLIENTS; i++) {
        CU_ASSERT_EQUAL(seen[i], 2);
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    }
    mproc_listener_destroy(local);
    mproc_listener_destroy(tcp);
}

/* ---- accepted connections travel --------------------------------------- */

/* args: a connection: echo one number back, doubled. */
static void double_back(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL;
    mproc_value_t *v = NULL, *reply;
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &c) == 0);
    CHILD_ASSERT(mproc_conn_recv(c, &v) == 0);
    reply = mproc_value_int(mproc_value_as_int(v) * 2);
    CHILD_ASSERT(mproc_conn_send(c, reply) == 0);
    mproc_value_free(reply);
    mproc_value_free(v);
}
MPROC_TARGET(double_back)

static void test_an_accepted_connection_goes_to_a_child(void)
{
    const char *addresses[2] = {NULL, "127.0.0.1:0"};
    size_t i;
    for (i = 0; i < 2; i++) {
        mproc_listener_t *l = listen_on(addresses[i]);
        client_job j = {0};
        mproc_conn_t *c = accept_with(l, &j);
        mproc_value_t *r;
        CU_ASSERT_EQUAL(client_finish(&j), 0);
        CU_ASSERT_PTR_NOT_NULL_FATAL(c);
        r = mproc_value_conn(c);
#if defined(_WIN32)
        if (addresses[i] != NULL) {
            /*
             * A Windows socket moves only to a receiver named in advance
             * (WSADuplicateSocketW), and the reference names none: refused.
             */
            CU_ASSERT_PTR_NULL(r);
            CU_ASSERT_EQUAL(mproc__last_status(), MPROC_ENOTSUP);
            mproc_conn_close(j.conn);
            mproc_conn_close(c);
            mproc_listener_destroy(l);
            continue;
        }
#endif
        CU_ASSERT_PTR_NOT_NULL_FATAL(r);
        {
            mproc_process_t *p =
                harness_start("double_back", mproc_value_list_of(1, r));
            mproc_conn_close(c);
            send_int(j.conn, 12);
            CU_ASSERT_EQUAL(recv_int(j.conn), 24);
            CU_ASSERT_EQUAL(harness_join_code(p), 0);
        }
        mproc_conn_close(j.conn);
        mproc_listener_destroy(l);
    }
}

#if !defined(_WIN32)
/* args: the parent's listener, by address in memory (fork only). */
static void drop_inherited(const mproc_value_t *args)
{
    mproc_listener_t *l = (mproc_listener_t *) (intptr_t) mproc_value_as_int(
        mproc_value_at(args, 0));
    CHILD_ASSERT(mproc_listener_destroy(l) == 0);
}
MPROC_TARGET(drop_inherited)

static void test_a_fork_child_leaves_the_socket_file(void)
{
    char *path = harness_temp_path("forked");
    mproc_listener_t *l = listen_on(path);
    client_job j = {0};
    mproc_conn_t *c;
    struct stat st;
    mproc_process_t *p = harness_start(
        "drop_inherited",
        mproc_value_list_of(1, mproc_value_int((int64_t) (intptr_t) l)));
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    /* The child closed its copy; the file and the listener are the parent's. */
    CU_ASSERT_EQUAL(stat(path, &st), 0);
    c = accept_with(l, &j);
    CU_ASSERT_EQUAL(client_finish(&j), 0);
    mproc_conn_close(j.conn);
    mproc_conn_close(c);
    mproc_listener_destroy(l);
    CU_ASSERT_NOT_EQUAL(stat(path, &st), 0);
    free(path);
}
#endif

static const harness_test tests[] = {
    {"fresh local address", test_fresh_local_address, HARNESS_SPAWN},
    {"named local address", test_named_local_address, HARNESS_SPAWN},
    {"tcp port 0 reports its port", test_tcp_port_0_reports_its_port,
     HARNESS_SPAWN},
    {"tcp over ipv6", test_tcp_over_ipv6, HARNESS_SPAWN},
    {"an ipv6 listener leaves ipv4 alone",
     test_an_ipv6_listener_leaves_ipv4_alone, HARNESS_SPAWN},
#if !defined(_WIN32)
    {"a link-local address keeps its scope",
     test_a_link_local_address_keeps_its_scope, HARNESS_SPAWN},
#endif
    {"poll and wait on every family", test_poll_and_wait_on_every_family,
     HARNESS_SPAWN},
    {"a child connects to its parent", test_a_child_connects_to_its_parent, 0},
    {"wrong key fails on both sides", test_wrong_key_fails_on_both_sides,
     HARNESS_SPAWN},
    {"a listener without the key is refused",
     test_a_listener_without_the_key_is_refused, HARNESS_SPAWN},
    {"strangers cost only their connection",
     test_strangers_cost_only_their_connection, HARNESS_SPAWN},
    {"a listener of garbage is refused", test_a_listener_of_garbage_is_refused,
     HARNESS_SPAWN},
#if defined(_WIN32)
    {"an empty write meets the deadline",
     test_an_empty_write_meets_the_deadline, HARNESS_SPAWN},
    {"a pipe client that left costs only itself",
     test_a_pipe_client_that_left_costs_only_itself, HARNESS_SPAWN},
    {"a failed pipe wait keeps the name",
     test_a_failed_pipe_wait_keeps_the_name, HARNESS_SPAWN},
#endif
    {"a silent listener meets the client deadline",
     test_a_silent_listener_meets_the_client_deadline, HARNESS_SPAWN},
    {"address in use", test_address_in_use, HARNESS_SPAWN},
    {"an address of another family", test_an_address_of_another_family,
     HARNESS_SPAWN},
#if !defined(_WIN32)
    {"a relative path is made absolute", test_a_relative_path_is_made_absolute,
     HARNESS_SPAWN},
    {"a unix path that cannot be bound", test_a_unix_path_that_cannot_be_bound,
     HARNESS_SPAWN},
#endif
    {"bad options", test_bad_options, HARNESS_SPAWN},
    {"the codec options apply", test_the_codec_options_apply, HARNESS_SPAWN},
    {"accept times out", test_accept_times_out, HARNESS_SPAWN},
    {"client to a missing address", test_client_to_a_missing_address,
     HARNESS_SPAWN},
    {"a host that does not resolve", test_a_host_that_does_not_resolve,
     HARNESS_SPAWN},
    {"several clients at once", test_several_clients_at_once, 0},
    {"an accepted connection goes to a child",
     test_an_accepted_connection_goes_to_a_child, 0},
#if !defined(_WIN32)
    {"a fork child leaves the socket file",
     test_a_fork_child_leaves_the_socket_file, HARNESS_FORK},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "listener", tests);
}
