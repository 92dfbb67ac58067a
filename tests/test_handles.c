/*
 * Handing OS handles to a process that is already running, at the level of
 * the platform contract: Unix sends descriptors over a Unix socket
 * (SCM_RIGHTS), Windows duplicates handles into the other process by its
 * pid, and a socket by WSADuplicateSocketW. In each test the handles are
 * made after the child started, so it can have them only by being handed
 * them; the child writes through them and the parent reads what it wrote.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
    #include <winsock2.h>
    #include <windows.h>
#else
    #include <sys/socket.h>
    #include <unistd.h>
#endif

#include "harness.h"
#include "mproc_private.h"

#define GREETING "written by the child"

/* In a child: exits with @code, saying why, unless @rc is 0. */
static void expect_ok(int rc, int code, const char *what)
{
    if (rc != 0) {
        fprintf(stderr, "%s: %s\n", what, mproc_last_error());
        mproc_exit(code);
    }
}

/* Reads @fd until the end of the stream; the bytes, NUL-terminated. */
static char *read_all(mproc__os_fd_t fd)
{
    char *buf = calloc(1, 256);
    size_t len = 0, got = 0;
    while (len < 255 && mproc__os_read(fd, buf + len, 255 - len, &got) == 0 &&
           got > 0)
        len += got;
    return buf;
}

#if !defined(_WIN32)

/*
 * args: the path of a local listener. Connects to it, receives a pipe's
 * write end and one end of a socketpair in one message, and writes the
 * greeting through each.
 */
static void write_through_received(const mproc_value_t *args)
{
    mproc__os_fd_t sock;
    mproc__os_handle_t h[2];
    size_t n = 0, i;
    char tag = 0;
    expect_ok(mproc__os_local_connect(
                  mproc_value_as_str(mproc_value_at(args, 0)), 0, &sock),
              2, "connect");
    expect_ok(mproc__os_recv_handles(sock, &tag, h, 2, &n), 3, "recv");
    if (tag != 'T' || n != 2 || h[0].kind != MPROC__OS_HANDLE_FILE ||
        h[1].kind != MPROC__OS_HANDLE_SOCKET)
        mproc_exit(4);
    for (i = 0; i < n; i++) {
        expect_ok(mproc__os_write_all(h[i].h, GREETING, strlen(GREETING)), 5,
                  "write");
        mproc__os_handle_close(&h[i]);
    }
    mproc__os_close(sock);
}
MPROC_TARGET(write_through_received)

static void test_descriptors_reach_a_running_child(void)
{
    mproc__os_fd_t listener, conn;
    mproc__os_handle_t h[2];
    mproc_process_t *p;
    char path[108];
    int pfd[2], sv[2];
    char *got;

    CU_ASSERT_EQUAL_FATAL(
        mproc__os_local_listen("mproc-test", 0, &listener, path, sizeof path),
        0);
    p = harness_start("write_through_received",
                      mproc_value_list_of(1, mproc_value_str(path)));
    CU_ASSERT_EQUAL_FATAL(mproc__os_local_accept(listener, &conn), 0);
    /* Made now: the running child has no copy of these but by the send. */
    CU_ASSERT_EQUAL_FATAL(pipe(pfd), 0);
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    h[0].h = pfd[1];
    h[0].kind = MPROC__OS_HANDLE_FILE;
    h[1].h = sv[1];
    h[1].kind = MPROC__OS_HANDLE_SOCKET;
    CU_ASSERT_EQUAL(mproc__os_send_handles(conn, 'T', h, 2), 0);
    /* The child's copies stay usable after ours are closed. */
    close(pfd[1]);
    close(sv[1]);
    got = read_all(pfd[0]);
    CU_ASSERT_STRING_EQUAL(got, GREETING);
    free(got);
    got = read_all(sv[0]);
    CU_ASSERT_STRING_EQUAL(got, GREETING);
    free(got);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    close(pfd[0]);
    close(sv[0]);
    mproc__os_close(conn);
    mproc__os_close(listener);
    mproc__os_local_remove(path);
}

static void test_receiving_from_a_closed_peer_fails(void)
{
    mproc__os_handle_t h[1];
    size_t n = 7;
    char tag;
    int sv[2];
    CU_ASSERT_EQUAL_FATAL(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    close(sv[1]);
    CU_ASSERT_EQUAL(mproc__os_recv_handles(sv[0], &tag, h, 1, &n),
                    MPROC_ECLOSED);
    CU_ASSERT_EQUAL(n, 0);
    close(sv[0]);
}

static void test_the_other_way_is_not_supported(void)
{
    mproc__os_handle_t h = {0, MPROC__OS_HANDLE_FILE};
    unsigned char blob[MPROC__OS_HANDLE_BLOB_SIZE];
    size_t len;
    CU_ASSERT_EQUAL(mproc__os_handle_export(&h, mproc__os_getpid(), blob, &len),
                    MPROC_ENOTSUP);
}

#else

/* In a child: the connection of argument 0. */
static mproc_conn_t *arg_conn(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL;
    expect_ok(mproc_conn_import(&c, mproc_value_at(args, 0)), 100, "import");
    return c;
}

static mproc_value_t *conn_args(const mproc_conn_t *c)
{
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_conn_export(c, &v), 0);
    return mproc_value_list_of(1, v);
}

/*
 * args: a duplex connection. Receives exported handles as byte messages
 * until an empty one, imports each, and writes the greeting through it
 * (WriteFile for a file handle, send for a socket).
 */
static void write_through_received(const mproc_value_t *args)
{
    mproc_conn_t *c = arg_conn(args);
    for (;;) {
        mproc__os_handle_t h;
        void *blob = NULL;
        size_t len = 0;
        expect_ok(mproc_conn_recv_bytes(c, &blob, &len), 2, "recv");
        if (len == 0) {
            free(blob);
            break;
        }
        expect_ok(mproc__os_handle_import(blob, len, &h), 3, "import");
        free(blob);
        if (h.kind == MPROC__OS_HANDLE_SOCKET) {
            if (send((SOCKET) h.h, GREETING, (int) strlen(GREETING), 0) !=
                (int) strlen(GREETING)) {
                fprintf(stderr, "send: %d\n", WSAGetLastError());
                mproc_exit(4);
            }
        } else {
            expect_ok(mproc__os_write_all(h.h, GREETING, strlen(GREETING)), 5,
                      "write");
        }
        mproc__os_handle_close(&h);
    }
    mproc_conn_close(c);
}
MPROC_TARGET(write_through_received)

/* A connected pair of loopback TCP sockets. */
static void socket_pair(SOCKET *a, SOCKET *b)
{
    struct sockaddr_in addr;
    int alen = sizeof addr;
    SOCKET l = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    CU_ASSERT_FATAL(l != INVALID_SOCKET);
    CU_ASSERT_EQUAL_FATAL(bind(l, (struct sockaddr *) &addr, sizeof addr), 0);
    CU_ASSERT_EQUAL_FATAL(listen(l, 1), 0);
    CU_ASSERT_EQUAL_FATAL(getsockname(l, (struct sockaddr *) &addr, &alen), 0);
    *a = socket(AF_INET, SOCK_STREAM, IPPROTO_TCP);
    CU_ASSERT_EQUAL_FATAL(connect(*a, (struct sockaddr *) &addr, sizeof addr),
                          0);
    *b = accept(l, NULL, NULL);
    CU_ASSERT_FATAL(*b != INVALID_SOCKET);
    closesocket(l);
}

static void send_export(mproc_conn_t *a, const mproc__os_handle_t *h, long pid)
{
    unsigned char blob[MPROC__OS_HANDLE_BLOB_SIZE];
    size_t len = 0;
    CU_ASSERT_EQUAL_FATAL(mproc__os_handle_export(h, pid, blob, &len), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(a, blob, len), 0);
}

static void test_handles_reach_a_running_child(void)
{
    mproc_conn_t *a = NULL, *b = NULL;
    mproc__os_handle_t h;
    mproc_process_t *p;
    HANDLE rd, wr;
    SOCKET mine, theirs;
    WSADATA wsa;
    char buf[64];
    char *got;
    int n, len = 0;

    CU_ASSERT_EQUAL_FATAL(WSAStartup(MAKEWORD(2, 2), &wsa), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&a, &b, 1, NULL), 0);
    p = harness_start("write_through_received", conn_args(b));
    mproc_conn_close(b);
    /* Made now: the running child has no copy of these but by the export. */
    CU_ASSERT_FATAL(CreatePipe(&rd, &wr, NULL, 0));
    socket_pair(&mine, &theirs);
    h.h = (mproc__os_fd_t) wr;
    h.kind = MPROC__OS_HANDLE_FILE;
    send_export(a, &h, mproc_process_pid(p));
    h.h = (mproc__os_fd_t) theirs;
    h.kind = MPROC__OS_HANDLE_SOCKET;
    send_export(a, &h, mproc_process_pid(p));
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(a, "", 0), 0);
    /* The child's copies stay usable after ours are closed. */
    CloseHandle(wr);
    closesocket(theirs);
    got = read_all((mproc__os_fd_t) rd);
    CU_ASSERT_STRING_EQUAL(got, GREETING);
    free(got);
    while (len < (int) sizeof buf - 1 &&
           (n = recv(mine, buf + len, (int) sizeof buf - 1 - len, 0)) > 0)
        len += n;
    buf[len] = '\0';
    CU_ASSERT_STRING_EQUAL(buf, GREETING);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    CloseHandle(rd);
    closesocket(mine);
    mproc_conn_close(a);
    WSACleanup();
}

static void test_handle_copied_out_of_a_process(void)
{
    HANDLE rd, wr;
    mproc__os_fd_t copy = MPROC__OS_FD_INVALID;
    char *got;
    CU_ASSERT_FATAL(CreatePipe(&rd, &wr, NULL, 0));
    CU_ASSERT_EQUAL_FATAL(mproc__os_handle_dup_from(mproc__os_getpid(),
                                                    (mproc__os_fd_t) wr, 0,
                                                    &copy),
                          0);
    CloseHandle(wr);
    /* The copy keeps the pipe open on its own. */
    CU_ASSERT_EQUAL(mproc__os_write_all(copy, GREETING, strlen(GREETING)), 0);
    CloseHandle((HANDLE) copy);
    got = read_all((mproc__os_fd_t) rd);
    CU_ASSERT_STRING_EQUAL(got, GREETING);
    free(got);
    CloseHandle(rd);
}

static void test_a_foreign_blob_is_refused(void)
{
    mproc__os_handle_t h;
    CU_ASSERT_EQUAL(mproc__os_handle_import("nonsense", 8, &h), MPROC_ECORRUPT);
}

#endif

static const harness_test tests[] = {
#if !defined(_WIN32)
    {"descriptors reach a running child",
     test_descriptors_reach_a_running_child, 0},
    {"receiving from a closed peer fails",
     test_receiving_from_a_closed_peer_fails, 0},
    {"the other way is not supported", test_the_other_way_is_not_supported, 0},
#else
    {"handles reach a running child", test_handles_reach_a_running_child, 0},
    {"handle copied out of a process", test_handle_copied_out_of_a_process, 0},
    {"a foreign blob is refused", test_a_foreign_blob_is_refused, 0},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "handles", tests);
}
