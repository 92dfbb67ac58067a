/*
 * A program whose first call into mproc makes a listener: no mproc_main(),
 * no mproc_current_process() before it. The listener must prove the
 * process's real authkey all the same, random and never 32 zero bytes,
 * and that key must stay the process's own when the program asks for it
 * later (mproc_process_authkey()), so that a child it starts would meet
 * the listener made before.
 *
 * Exit code 0 when all holds; otherwise 1 and a line on stderr.
 */
#include <stdio.h>
#include <string.h>

#include <apr_general.h>
#include <apr_thread_proc.h>

#include "mproc.h"

#define CHECK(e)                                                               \
    do {                                                                       \
        if (!(e)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s (%s)\n", __FILE__,        \
                    __LINE__, #e, mproc_last_error());                         \
            return 1;                                                          \
        }                                                                      \
    } while (0)

/* A client in a thread of its own, with @key (NULL: the process's). */
typedef struct client_job {
    const char *address;
    const unsigned char *key;
    int rc;
    apr_thread_t *thread;
} client_job;

static void *APR_THREAD_FUNC client_main(apr_thread_t *t, void *arg)
{
    client_job *j = arg;
    mproc_client_opts_t o = {0};
    mproc_conn_t *c = NULL;
    (void) t;
    o.authkey = j->key;
    o.authkey_len = j->key != NULL ? MPROC_AUTHKEY_SIZE : 0;
    j->rc = mproc_client_connect(&c, j->address, &o);
    mproc_conn_close(c);
    return NULL;
}

/*
 * Accepts one client that proves @key: the accept's status, and the
 * client's in *@client.
 */
static int serve_one(mproc_listener_t *l, apr_pool_t *pool,
                     const unsigned char *key, int *client)
{
    client_job j = {0};
    mproc_conn_t *c = NULL;
    apr_status_t ignored;
    int rc;
    j.address = mproc_listener_address(l);
    j.key = key;
    if (apr_thread_create(&j.thread, NULL, client_main, &j, pool) !=
        APR_SUCCESS) {
        fprintf(stderr, "cannot start a thread\n");
        return -1000;
    }
    rc = mproc_listener_accept(l, &c, 30);
    apr_thread_join(&ignored, j.thread);
    mproc_conn_close(c);
    *client = j.rc;
    return rc;
}

int main(void)
{
    static const unsigned char zeros[MPROC_AUTHKEY_SIZE];
    unsigned char key[MPROC_AUTHKEY_SIZE];
    mproc_listener_t *l = NULL;
    apr_pool_t *pool = NULL;
    int client = -1000;

    CHECK(apr_initialize() == APR_SUCCESS);
    CHECK(apr_pool_create(&pool, NULL) == APR_SUCCESS);

    /* The first call: a listener under the process's key. */
    CHECK(mproc_listener_create(&l, NULL) == 0);
    /* Whoever knows 32 zero bytes knows no key of ours. */
    CHECK(serve_one(l, pool, zeros, &client) == MPROC_EAUTH);
    CHECK(client == MPROC_EAUTH);

    /* The process's key, asked for only now, is the one it proves. */
    CHECK(mproc_process_authkey(mproc_current_process(), key) == 0);
    CHECK(memcmp(key, zeros, sizeof key) != 0);
    CHECK(serve_one(l, pool, key, &client) == 0);
    CHECK(client == 0);
    CHECK(serve_one(l, pool, NULL, &client) == 0);
    CHECK(client == 0);

    mproc_listener_destroy(l);
    apr_pool_destroy(pool);
    apr_terminate();
    return 0;
}
