/*
 * The forkserver (Unix): authentication, survival of bad and slow clients,
 * its signals, restart
 * after its death, its private directory, and its exit with the program.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "mproc_private.h"
#include "os_internal.h"

static void exit_with(const mproc_value_t *args)
{
    mproc_exit((int) mproc_value_as_int(mproc_value_at(args, 0)));
}
MPROC_TARGET(exit_with)

/* Starts a forkserver child of its own and reports the server's pid. */
static void use_forkserver(const mproc_value_t *args)
{
    FILE *f;
    int code = -1;
    mproc_set_start_method(MPROC_START_FORKSERVER, 1);
    if (harness_run("exit_with", mproc_value_list_of(1, mproc_value_int(3)),
                    &code) != 0 ||
        code != 3)
        mproc_exit(96);
    f = fopen(mproc_value_as_str(mproc_value_at(args, 0)), "w");
    fprintf(f, "%ld\n%s\n", mproc__forkserver_pid(), mproc__forkserver_path());
    fclose(f);
}
MPROC_TARGET(use_forkserver)

static void expect_child_works(void)
{
    int code = -1;
    CU_ASSERT_EQUAL(harness_run("exit_with",
                                mproc_value_list_of(1, mproc_value_int(5)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 5);
}

static void test_wrong_key_is_refused(void)
{
    unsigned char wrong[MPROC__AUTHKEY_SIZE] = {0};
    mproc__os_fd_t conn = -1;
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_ensure(), 0);
    CU_ASSERT_EQUAL(mproc__forkserver_connect(wrong, &conn), MPROC_EAUTH);
    CU_ASSERT_EQUAL(conn, -1);
    /* The right key passes, and the server still serves. */
    CU_ASSERT_EQUAL(mproc__forkserver_connect(NULL, &conn), 0);
    close(conn);
    expect_child_works();
}

static void test_garbage_client_does_not_hurt(void)
{
    mproc__os_fd_t conn = -1;
    /* Each test runs in a process of its own: start the server here. */
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_ensure(), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_connect(NULL, &conn), 0);
    /* Authenticated, then junk instead of stdio and a frame. */
    CU_ASSERT_EQUAL(write(conn, "junk", 4), 4);
    close(conn);
    expect_child_works();
}

static void test_private_directory(void)
{
    struct stat st;
    char dir[256];
    const char *path;
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_ensure(), 0);
    path = mproc__forkserver_path();
    CU_ASSERT_PTR_NOT_NULL_FATAL(path);
    snprintf(dir, sizeof dir, "%s", path);
    *strrchr(dir, '/') = '\0';
    CU_ASSERT_EQUAL_FATAL(stat(dir, &st), 0);
    CU_ASSERT_EQUAL(st.st_mode & 0777, 0700);
}

static void test_restart_after_the_server_dies(void)
{
    long pid;
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_ensure(), 0);
    pid = mproc__forkserver_pid();
    CU_ASSERT_FATAL(pid > 0);
    CU_ASSERT_EQUAL(kill((pid_t) pid, SIGKILL), 0);
    CU_ASSERT_TRUE(harness_wait_pid_gone(pid));
    expect_child_works();
    CU_ASSERT_NOT_EQUAL(mproc__forkserver_pid(), pid);
}

/* How a slow client ended, as its thread saw it. */
enum { DRIPPING, DROPPED, GAVE_UP };

static struct {
    pthread_mutex_t lock;
    int state;
    mproc__os_fd_t fd;
} drip = {PTHREAD_MUTEX_INITIALIZER, DRIPPING, -1};

static int drip_state(void)
{
    int s;
    pthread_mutex_lock(&drip.lock);
    s = drip.state;
    pthread_mutex_unlock(&drip.lock);
    return s;
}

/*
 * A client that never authenticates: it sends one byte a second of an
 * answer to the challenge, each
 * time after a second's wait for the server to hang up, and gives up
 * after 20 bytes. A server that waits for it byte by byte serves nobody
 * else meanwhile.
 */
static void *dripper(void *arg)
{
    /* The start of a well-formed 40-byte answer (little-endian length), never
     * finished. */
    static const char reply[] = {40, 0, 0, 0, 'x'};
    int i, end = GAVE_UP;
    (void) arg;
    for (i = 0; i < 20; i++) {
        struct pollfd p = {drip.fd, POLLRDHUP, 0};
        char junk[64];
        /* The pace of the drip; a hang-up ends it early. */
        if (poll(&p, 1, 1000) == 1 && (p.revents & (POLLRDHUP | POLLHUP))) {
            end = DROPPED;
            break;
        }
        /* Whatever the server says (its challenge) is of no interest. */
        while (recv(drip.fd, junk, sizeof junk, MSG_DONTWAIT) > 0) {
        }
        if (send(drip.fd, &reply[i < 4 ? i : 4], 1, MSG_NOSIGNAL) != 1) {
            end = DROPPED;
            break;
        }
    }
    pthread_mutex_lock(&drip.lock);
    drip.state = end;
    pthread_mutex_unlock(&drip.lock);
    return NULL;
}

/* 1 if the server has closed @fd's other end. */
static int hung_up(mproc__os_fd_t fd, int wait_ms)
{
    struct pollfd p = {fd, POLLRDHUP, 0};
    return poll(&p, 1, wait_ms) == 1 && (p.revents & (POLLRDHUP | POLLHUP));
}

static void test_slow_clients_do_not_delay_others(void)
{
    mproc__os_fd_t silent = -1;
    pthread_t t;
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_ensure(), 0);
    /* One connects and says nothing; one drips a byte a second. */
    CU_ASSERT_EQUAL_FATAL(
        mproc__os_local_connect(mproc__forkserver_path(), 0, &silent), 0);
    CU_ASSERT_EQUAL_FATAL(
        mproc__os_local_connect(mproc__forkserver_path(), 0, &drip.fd), 0);
    CU_ASSERT_EQUAL_FATAL(pthread_create(&t, NULL, dripper, NULL), 0);
    /* Another start is served while both are still connected. */
    expect_child_works();
    CU_ASSERT_EQUAL(drip_state(), DRIPPING);
    CU_ASSERT_FALSE(hung_up(silent, 0));
    /* Neither keeps its connection: a request has a deadline. */
    pthread_join(t, NULL);
    CU_ASSERT_EQUAL(drip_state(), DROPPED);
    CU_ASSERT_TRUE(hung_up(silent, 20000));
    close(silent);
    close(drip.fd);
    expect_child_works();
}

static void test_server_ignores_sigint_and_sigterm(void)
{
    long pid;
    CU_ASSERT_EQUAL_FATAL(mproc__forkserver_ensure(), 0);
    pid = mproc__forkserver_pid();
    CU_ASSERT_FATAL(pid > 0);
    /* One request first: the server is past its start. */
    expect_child_works();
    /*
     * A Ctrl-C or a kill meant for the program must not take its server
     * down. The request below is served only after the server has taken
     * both signals, so a server they kill would be a new one.
     */
    CU_ASSERT_EQUAL(kill((pid_t) pid, SIGINT), 0);
    CU_ASSERT_EQUAL(kill((pid_t) pid, SIGTERM), 0);
    expect_child_works();
    CU_ASSERT_EQUAL(mproc__forkserver_pid(), pid);
    CU_ASSERT_EQUAL(kill((pid_t) pid, 0), 0);
}

static void test_server_exits_with_its_program(void)
{
    char *path = harness_temp_path("fs"), *text, sock[256];
    long pid;
    int code = -1;
    struct stat st;
    /* A spawned child is a program of its own with its own server. */
    mproc_set_start_method(MPROC_START_SPAWN, 1);
    CU_ASSERT_EQUAL(harness_run("use_forkserver",
                                mproc_value_list_of(1, mproc_value_str(path)),
                                &code),
                    0);
    mproc_set_start_method(MPROC_START_FORKSERVER, 1);
    CU_ASSERT_EQUAL(code, 0);
    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(sscanf(text, "%ld\n%255s", &pid, sock), 2);
    CU_ASSERT(pid > 0 && pid != mproc__forkserver_pid());
    CU_ASSERT_TRUE(harness_wait_pid_gone(pid));
    /* It removed its socket and directory on the way out. */
    CU_ASSERT_NOT_EQUAL(stat(sock, &st), 0);
    *strrchr(sock, '/') = '\0';
    CU_ASSERT_NOT_EQUAL(stat(sock, &st), 0);
    free(text);
    remove(path);
    free(path);
}

static const harness_test tests[] = {
    {"wrong key is refused", test_wrong_key_is_refused, 0},
    {"garbage client does not hurt", test_garbage_client_does_not_hurt, 0},
    {"private directory", test_private_directory, 0},
    {"restart after the server dies", test_restart_after_the_server_dies, 0},
    {"server exits with its program", test_server_exits_with_its_program, 0},
    {"slow clients do not delay others", test_slow_clients_do_not_delay_others,
     0},
    {"server ignores SIGINT and SIGTERM",
     test_server_ignores_sigint_and_sigterm, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "forkserver", tests);
}
