/*
 * What a process knows of itself and its kin, and how it ends: the
 * authkey and its inheritance, the parent process, interrupt, sentinels,
 * finalizers with exit priorities, and the forkserver's preload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <poll.h>
#endif

/* Whether OS handle @h is ready, waiting at most @ms milliseconds (-1). */
static int handle_ready(intptr_t h, int ms)
{
#if defined(_WIN32)
    return WaitForSingleObject((HANDLE) h, ms < 0 ? INFINITE : (DWORD) ms) ==
           WAIT_OBJECT_0;
#else
    struct pollfd p;
    p.fd = (int) h;
    p.events = POLLIN;
    p.revents = 0;
    return poll(&p, 1, ms) == 1;
#endif
}

/* Sends @v on @c and frees it: 0 or the status of the send. */
static int send_value(mproc_conn_t *c, mproc_value_t *v)
{
    int rc = mproc_conn_send(c, v);
    mproc_value_free(v);
    return rc;
}

/* ---- authkey ------------------------------------------------------------ */

/* Exits 0 if this process's authkey is args[0]. */
static void check_authkey(const mproc_value_t *args)
{
    unsigned char key[MPROC_AUTHKEY_SIZE];
    size_t len;
    const void *want = mproc_value_as_bytes(mproc_value_at(args, 0), &len);
    CHILD_ASSERT(mproc_process_authkey(mproc_current_process(), key) == 0);
    CHILD_ASSERT(len == sizeof key);
    CHILD_ASSERT(memcmp(key, want, sizeof key) == 0);
}
MPROC_TARGET(check_authkey)

static void fill_key(unsigned char *key, unsigned char seed)
{
    size_t i;
    for (i = 0; i < MPROC_AUTHKEY_SIZE; i++)
        key[i] = (unsigned char) (seed + 7 * i);
}

static void test_children_inherit_the_authkey(void)
{
    mproc_process_t *self = mproc_current_process();
    unsigned char key[MPROC_AUTHKEY_SIZE], got[MPROC_AUTHKEY_SIZE];
    int code = -100;

    /* The default key, random per program, is inherited too. */
    CU_ASSERT_EQUAL(mproc_process_authkey(self, got), 0);
    CU_ASSERT_EQUAL(
        harness_run("check_authkey",
                    mproc_value_list_of(1, mproc_value_bytes(got, sizeof got)),
                    &code),
        0);
    CU_ASSERT_EQUAL(code, 0);
    /*
     * A key set after the first start (which, under forkserver, started
     * the server) is the one the next child gets: the key travels with
     * each request, the server's own plays no part.
     */
    fill_key(key, 3);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(self, key, sizeof key), 0);
    CU_ASSERT_EQUAL(mproc_process_authkey(self, got), 0);
    CU_ASSERT_EQUAL(memcmp(got, key, sizeof key), 0);
    code = -100;
    CU_ASSERT_EQUAL(
        harness_run("check_authkey",
                    mproc_value_list_of(1, mproc_value_bytes(key, sizeof key)),
                    &code),
        0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_a_process_object_carries_its_own_authkey(void)
{
    mproc_process_t *self = mproc_current_process(), *p;
    mproc_process_opts_t o = {0};
    unsigned char mine[MPROC_AUTHKEY_SIZE], theirs[MPROC_AUTHKEY_SIZE];
    unsigned char got[MPROC_AUTHKEY_SIZE];

    fill_key(mine, 11);
    fill_key(theirs, 99);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(self, mine, sizeof mine), 0);
    o.target = "check_authkey";
    o.method = harness_method;
    o.args = mproc_value_list_of(1, mproc_value_bytes(theirs, sizeof theirs));
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    mproc_value_free((mproc_value_t *) o.args);
    /* A new object starts with its creator's key, as in Python. */
    CU_ASSERT_EQUAL(mproc_process_authkey(p, got), 0);
    CU_ASSERT_EQUAL(memcmp(got, mine, sizeof mine), 0);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(p, theirs, sizeof theirs), 0);
    CU_ASSERT_EQUAL(mproc_process_start(p), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    /* The parent's own key is unchanged. */
    CU_ASSERT_EQUAL(mproc_process_authkey(self, got), 0);
    CU_ASSERT_EQUAL(memcmp(got, mine, sizeof mine), 0);
}

static void test_an_authkey_has_its_size(void)
{
    unsigned char key[MPROC_AUTHKEY_SIZE + 1] = {0};
    CU_ASSERT_EQUAL(mproc_process_set_authkey(mproc_current_process(), key, 5),
                    MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "32 bytes"));
    CU_ASSERT_EQUAL(
        mproc_process_set_authkey(mproc_current_process(), key, sizeof key),
        MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(NULL, key, MPROC_AUTHKEY_SIZE),
                    MPROC_EINVAL);
}

/* ---- the parent process ------------------------------------------------ */

/* Checks its parent against args[0] (name) and args[1] (pid). */
static void check_parent(const mproc_value_t *args)
{
    mproc_process_t *parent = mproc_parent_process();
    mproc_waitable_t w = {0};
    int code;
    CHILD_ASSERT(parent != NULL);
    CHILD_ASSERT(mproc_parent_process() == parent);
    CHILD_ASSERT(strcmp(mproc_process_name(parent),
                        mproc_value_as_str(mproc_value_at(args, 0))) == 0);
    CHILD_ASSERT(mproc_process_pid(parent) ==
                 (long) mproc_value_as_int(mproc_value_at(args, 1)));
    CHILD_ASSERT(mproc_process_pid(parent) == mproc_parent_pid());
    CHILD_ASSERT(mproc_process_is_alive(parent) == 1);
    /* The parent waits for this child, so it is alive all along. */
    CHILD_ASSERT(mproc_process_join(parent, 0) == MPROC_ETIMEDOUT);
    w.process = parent;
    CHILD_ASSERT(mproc_wait(&w, 1, 0) == MPROC_ETIMEDOUT);
    CHILD_ASSERT(w.ready == 0);
    CHILD_ASSERT(mproc_process_exitcode(parent, &code) == MPROC_EALIVE);
    CHILD_ASSERT(mproc_process_terminate(parent) == MPROC_ENOTCHILD);
    CHILD_ASSERT(mproc_process_destroy(parent) == MPROC_EINVAL);
    {
        unsigned char key[MPROC_AUTHKEY_SIZE] = {0};
        CHILD_ASSERT(mproc_process_authkey(parent, key) == MPROC_ENOTCHILD);
        CHILD_ASSERT(mproc_process_set_authkey(parent, key, sizeof key) ==
                     MPROC_ENOTCHILD);
    }
}
MPROC_TARGET(check_parent)

/*
 * Waits for its parent's death: says "ready" on args[0], waits for the
 * parent in mproc_wait (no timeout: the test's own timeout catches a
 * hang), then reports what it saw.
 */
static void outlive_parent(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL;
    mproc_process_t *parent = mproc_parent_process();
    mproc_waitable_t w = {0};
    int rc;
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &c) == 0);
    CHILD_ASSERT(parent != NULL && mproc_process_is_alive(parent));
    CHILD_ASSERT(send_value(c, mproc_value_str("ready")) == 0);
    w.process = parent;
    rc = mproc_wait(&w, 1, MPROC_FOREVER);
    CHILD_ASSERT(rc == 1 && w.ready);
    CHILD_ASSERT(!mproc_process_is_alive(parent));
    CHILD_ASSERT(mproc_process_join(parent, 0) == 0);
    CHILD_ASSERT(send_value(c, mproc_value_str("parent gone")) == 0);
}
MPROC_TARGET(outlive_parent)

/* Starts outlive_parent with args[0] and waits to be killed. */
static void start_orphan(const mproc_value_t *args)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    mproc_conn_t *c = NULL;
    mproc_value_t *a;
    /* The connection is opened here, then handed on (the runtime owns it). */
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &c) == 0);
    a = mproc_value_list_of(1, mproc_value_conn(c));
    o.target = "outlive_parent";
    o.method = harness_method;
    o.args = a;
    CHILD_ASSERT(mproc_process_create(&p, &o) == 0);
    mproc_value_free(a);
    CHILD_ASSERT(mproc_process_start(p) == 0);
    /* Killed by the test while the child runs: joining never ends. */
    mproc_process_join(p, MPROC_FOREVER);
}
MPROC_TARGET(start_orphan)

static void test_the_main_process_has_no_parent(void)
{
    CU_ASSERT_PTR_NULL(mproc_parent_process());
    CU_ASSERT_EQUAL(mproc_parent_pid(), 0);
}

static void test_a_child_sees_its_parent(void)
{
    mproc_process_t *self = mproc_current_process();
    int code = -100;
    CU_ASSERT_EQUAL(
        harness_run(
            "check_parent",
            mproc_value_list_of(2, mproc_value_str(mproc_process_name(self)),
                                mproc_value_int(mproc_process_pid(self))),
            &code),
        0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_a_child_can_wait_for_its_parent_s_death(void)
{
    mproc_conn_t *r, *w;
    mproc_process_t *middle;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    middle = harness_start("start_orphan",
                           mproc_value_list_of(1, mproc_value_conn(w)));
    mproc_conn_close(w);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_poll(r, 20), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(r, &v), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "ready");
    mproc_value_free(v);
    v = NULL;
    CU_ASSERT_EQUAL(mproc_process_kill(middle), 0);
    CU_ASSERT(harness_join_code(middle) < 0);
    /* The grandchild saw it and said so. */
    CU_ASSERT_EQUAL_FATAL(mproc_conn_poll(r, 20), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(r, &v), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "parent gone");
    mproc_value_free(v);
    mproc_conn_close(r);
}

/* ---- interrupt and sentinel -------------------------------------------- */

/*
 * Says "ready" on args[0], then waits for a message on it, then exits
 * with 0.
 */
static void ready_then_wait(const mproc_value_t *args)
{
    mproc_conn_t *c = NULL;
    mproc_value_t *v = NULL;
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &c) == 0);
    CHILD_ASSERT(send_value(c, mproc_value_str("ready")) == 0);
    mproc_conn_recv(c, &v);
    mproc_value_free(v);
}
MPROC_TARGET(ready_then_wait)

/* Starts ready_then_wait on a duplex pipe and waits for its "ready". */
static mproc_process_t *start_ready(mproc_conn_t **mine)
{
    mproc_conn_t *theirs;
    mproc_process_t *p;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(mine, &theirs, 1, NULL), 0);
    p = harness_start("ready_then_wait",
                      mproc_value_list_of(1, mproc_value_conn(theirs)));
    mproc_conn_close(theirs);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(*mine, &v), 0);
    CU_ASSERT_STRING_EQUAL(mproc_value_as_str(v), "ready");
    mproc_value_free(v);
    return p;
}

static void test_interrupt(void)
{
    mproc_conn_t *c;
    mproc_process_t *p = start_ready(&c);
    int rc = mproc_process_interrupt(p);
#if defined(_WIN32)
    CU_ASSERT_EQUAL(rc, MPROC_ENOTSUP);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "Windows"));
    CU_ASSERT_EQUAL(send_value(c, mproc_value_nil()), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
#else
    CU_ASSERT_EQUAL(rc, 0);
    /* SIGINT, not handled by the child, ends it as Python reports it. */
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_interrupt(p), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), -2);
#endif
    mproc_conn_close(c);
}

static void test_interrupt_needs_a_started_child(void)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    o.target = "ready_then_wait";
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_EQUAL(mproc_process_interrupt(p), MPROC_ENOTSTARTED);
    CU_ASSERT_EQUAL(mproc_process_interrupt(mproc_current_process()),
                    MPROC_EJOINSELF);
    mproc_process_destroy(p);
}

static void test_a_sentinel_for_one_s_own_loop(void)
{
    mproc_conn_t *c;
    mproc_process_t *p = start_ready(&c);
    intptr_t h = -1, again = -1;
    int code;
    CU_ASSERT_EQUAL_FATAL(mproc_process_sentinel(p, &h), 0);
    CU_ASSERT_FALSE(handle_ready(h, 0));
    CU_ASSERT_EQUAL(send_value(c, mproc_value_nil()), 0);
    CU_ASSERT_TRUE(handle_ready(h, -1));
    /* Ready means ended: the exit code is there without waiting. */
    CU_ASSERT_EQUAL(mproc_process_join(p, 0), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(p, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
    /* It stays valid, and ready, until the object is destroyed. */
    CU_ASSERT_EQUAL(mproc_process_sentinel(p, &again), 0);
    CU_ASSERT_EQUAL(again, h);
    CU_ASSERT_TRUE(handle_ready(h, -1));
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_conn_close(c);
}

static void test_no_sentinel_before_start(void)
{
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    intptr_t h;
    o.target = "ready_then_wait";
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_EQUAL(mproc_process_sentinel(p, &h), MPROC_ENOTSTARTED);
    CU_ASSERT_EQUAL(mproc_process_sentinel(mproc_current_process(), &h),
                    MPROC_ENOTCHILD);
    mproc_process_destroy(p);
}

/* The parent's sentinel is not ready while the parent waits for us. */
static void check_parent_sentinel(const mproc_value_t *args)
{
    intptr_t h;
    (void) args;
    CHILD_ASSERT(mproc_process_sentinel(mproc_parent_process(), &h) == 0);
    CHILD_ASSERT(!handle_ready(h, 0));
}
MPROC_TARGET(check_parent_sentinel)

static void test_the_parent_s_sentinel(void)
{
    int code = -100;
    CU_ASSERT_EQUAL(harness_run("check_parent_sentinel", NULL, &code), 0);
    CU_ASSERT_EQUAL(code, 0);
}

/* ---- finalizers ---------------------------------------------------------- */

/* Where the finalizers of this process say that they ran. */
static mproc_conn_t *g_fin_conn;

static void say(void *arg)
{
    send_value(g_fin_conn, mproc_value_str((const char *) arg));
}

/*
 * Registers finalizers that name themselves on args[0], cancels one, runs
 * one now, and ends as args[1] says: 0 return, 1 mproc_exit(7).
 */
static void register_finalizers(const mproc_value_t *args)
{
    mproc_finalizer_t *e = NULL, *f = NULL;
    CHILD_ASSERT(mproc_value_to_conn(mproc_value_at(args, 0), &g_fin_conn) ==
                 0);
    CHILD_ASSERT(mproc_finalize_register(say, "A0", 0, NULL) == 0);
    CHILD_ASSERT(mproc_finalize_register(say, "B5", 5, NULL) == 0);
    CHILD_ASSERT(mproc_finalize_register(say, "C0", 0, NULL) == 0);
    CHILD_ASSERT(mproc_finalize_register(say, "D-5", -5, NULL) == 0);
    CHILD_ASSERT(mproc_finalize_register(say, "E1", 1, &e) == 0);
    CHILD_ASSERT(mproc_finalize_register(say, "F3", 3, &f) == 0);
    CHILD_ASSERT(mproc_finalizer_cancel(e) == 0);
    CHILD_ASSERT(mproc_finalizer_run(f) == 0);
    CHILD_ASSERT(send_value(g_fin_conn, mproc_value_str("body")) == 0);
    if (mproc_value_as_int(mproc_value_at(args, 1)) == 1)
        mproc_exit(7);
}
MPROC_TARGET(register_finalizers)

/* Receives what the child said until the connection ends: "F3,body,...". */
static char *said(mproc_conn_t *r)
{
    char *all = calloc(1, 256);
    mproc_value_t *v = NULL;
    while (mproc_conn_recv(r, &v) == 0) {
        if (all[0] != '\0')
            strcat(all, ",");
        strncat(all, mproc_value_as_str(v), 32);
        mproc_value_free(v);
        v = NULL;
    }
    return all;
}

static void check_finalizers(int how, int want_code)
{
    mproc_conn_t *r, *w;
    mproc_process_t *p;
    char *text;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    p = harness_start(
        "register_finalizers",
        mproc_value_list_of(2, mproc_value_conn(w), mproc_value_int(how)));
    mproc_conn_close(w);
    text = said(r);
    /*
     * Highest priority first, the newest first among equals; the
     * cancelled one never, the one run early once; the connection, one of
     * the runtime's objects, after the user's finalizers above its
     * priority.
     */
    CU_ASSERT_STRING_EQUAL(text, "F3,body,B5,C0,A0,D-5");
    free(text);
    CU_ASSERT_EQUAL(harness_join_code(p), want_code);
    mproc_conn_close(r);
}

static void test_finalizers_run_in_priority_order(void)
{
    check_finalizers(0, 0);
}

static void test_finalizers_run_at_mproc_exit(void)
{
    check_finalizers(1, 7);
}

static int g_parent_ran;

static void parent_finalizer(void *arg)
{
    (void) arg;
    g_parent_ran++;
}

static void test_a_child_runs_none_of_its_parent_s_finalizers(void)
{
    mproc_conn_t *r, *w;
    mproc_process_t *p;
    mproc_finalizer_t *mine;
    char *text;
    /* A fork child would say so at its exit, since it has this memory. */
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    g_fin_conn = w;
    CU_ASSERT_EQUAL(mproc_finalize_register(say, "parent's", 10, &mine), 0);
    p = harness_start(
        "register_finalizers",
        mproc_value_list_of(2, mproc_value_conn(w), mproc_value_int(0)));
    mproc_conn_close(w);
    g_fin_conn = NULL;
    text = said(r);
    CU_ASSERT_STRING_EQUAL(text, "F3,body,B5,C0,A0,D-5");
    free(text);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    mproc_conn_close(r);
    CU_ASSERT_EQUAL(mproc_finalizer_cancel(mine), 0);
    /* And run-now runs it here, once. */
    CU_ASSERT_EQUAL(mproc_finalize_register(parent_finalizer, NULL, 0, &mine),
                    0);
    CU_ASSERT_EQUAL(mproc_finalizer_run(mine), 0);
    CU_ASSERT_EQUAL(g_parent_ran, 1);
    CU_ASSERT_EQUAL(mproc_finalize_register(NULL, NULL, 0, NULL), MPROC_EINVAL);
}

/* ---- forkserver preload ------------------------------------------------- */

/* Set by the preload, in the server: its children inherit it. */
static int g_preloaded;

static void preload_mark(const mproc_value_t *args)
{
    (void) args;
    g_preloaded = g_preloaded * 10 + 4;
}
MPROC_TARGET(preload_mark)

static void preload_mark_again(const mproc_value_t *args)
{
    (void) args;
    g_preloaded = g_preloaded * 10 + 2;
}
MPROC_TARGET(preload_mark_again)

static void preload_fail(const mproc_value_t *args)
{
    (void) args;
    mproc_exit(3);
}
MPROC_TARGET(preload_fail)

static void check_preloaded(const mproc_value_t *args)
{
    CHILD_ASSERT(g_preloaded ==
                 (int) mproc_value_as_int(mproc_value_at(args, 0)));
}
MPROC_TARGET(check_preloaded)

static void test_forkserver_preload_runs_once_before_serving(void)
{
    static const char *const list[] = {"preload_mark", "preload_mark_again"};
    int code = -100;
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(list, 2), 0);
    /* In order, once: the second child sees what the first saw. */
    CU_ASSERT_EQUAL(harness_run("check_preloaded",
                                mproc_value_list_of(1, mproc_value_int(42)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
    code = -100;
    CU_ASSERT_EQUAL(harness_run("check_preloaded",
                                mproc_value_list_of(1, mproc_value_int(42)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
    /* It ran in the server, not here. */
    CU_ASSERT_EQUAL(g_preloaded, 0);
}

static void test_a_failing_preload_fails_the_start(void)
{
    static const char *const list[] = {"preload_mark", "preload_fail"};
    mproc_process_t *p;
    mproc_process_opts_t o = {0};
    int code = -100;
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(list, 2), 0);
    o.target = "check_preloaded";
    o.method = MPROC_START_FORKSERVER;
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    CU_ASSERT_EQUAL(mproc_process_start(p), MPROC_EOS);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "'preload_fail'"));
    CU_ASSERT_EQUAL(mproc_process_destroy(p), 0);
    /* Without it, the next start gets a new server that serves. */
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(list, 1), 0);
    CU_ASSERT_EQUAL(harness_run("check_preloaded",
                                mproc_value_list_of(1, mproc_value_int(4)),
                                &code),
                    0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_preload_targets_are_registered_ones(void)
{
    static const char *const list[] = {"preload_mark", "no_such_target"};
#if defined(_WIN32)
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(list, 1), MPROC_ENOTSUP);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "not available"));
    return;
#endif
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(list, 2), MPROC_ENOTREG);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "'no_such_target'"));
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(NULL, 1), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_set_forkserver_preload(NULL, 0), 0);
}

/* ---- the suite ------------------------------------------------------------
 */

static const harness_test tests[] = {
    {"children inherit the authkey", test_children_inherit_the_authkey, 0},
    {"a process object carries its own authkey",
     test_a_process_object_carries_its_own_authkey, 0},
    {"an authkey has its size", test_an_authkey_has_its_size, 0},
    {"the main process has no parent", test_the_main_process_has_no_parent, 0},
    {"a child sees its parent", test_a_child_sees_its_parent, 0},
    {"a child can wait for its parent's death",
     test_a_child_can_wait_for_its_parent_s_death, 0},
    {"interrupt", test_interrupt, 0},
    {"interrupt needs a started child", test_interrupt_needs_a_started_child,
     0},
    {"a sentinel for one's own loop", test_a_sentinel_for_one_s_own_loop, 0},
    {"no sentinel before start", test_no_sentinel_before_start, 0},
    {"the parent's sentinel", test_the_parent_s_sentinel, 0},
    {"finalizers run in priority order", test_finalizers_run_in_priority_order,
     0},
    {"finalizers run at mproc_exit", test_finalizers_run_at_mproc_exit, 0},
    {"a child runs none of its parent's finalizers",
     test_a_child_runs_none_of_its_parent_s_finalizers, 0},
    {"forkserver preload runs once before serving",
     test_forkserver_preload_runs_once_before_serving, HARNESS_FORKSERVER},
    {"a failing preload fails the start",
     test_a_failing_preload_fails_the_start, HARNESS_FORKSERVER},
    {"preload targets are registered ones",
     test_preload_targets_are_registered_ones, HARNESS_SPAWN},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "lifecycle", tests);
}
