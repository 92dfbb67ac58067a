/*
 * Managers under each start method: a server process that serves a dict,
 * a list and a Namespace to proxies in any process; proxies through every
 * channel; many processes and threads at once; references in transit and
 * inside managed objects (shared memory among them); when objects are
 * freed; a manager killed while clients use it, and one whose program is
 * killed; keys, TCP, names registered for other programs, and garbage on
 * the socket.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <apr_thread_proc.h>

#include "harness.h"
#include "manager.h"
#include "mproc_private.h"

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <errno.h>
    #include <poll.h>
    #include <sys/inotify.h>
    #include <unistd.h>

    #include "os_internal.h"
#endif

#define KEY "abracadabra"

static mproc_value_t *I(int64_t i)
{
    return mproc_value_int(i);
}

static mproc_value_t *S(const char *s)
{
    return mproc_value_str(s);
}

static mproc_manager_t *start(void)
{
    mproc_manager_t *m = NULL;
    mproc_manager_opts_t o = {0};
    int rc;
    o.method = harness_method;
    rc = mproc_manager_start(&m, &o);
    if (rc != 0)
        fprintf(stderr, "mproc_manager_start: %s\n", mproc_last_error());
    CU_ASSERT_EQUAL_FATAL(rc, 0);
    return m;
}

/* repr() of @v (which is freed), kept until the next call. */
static const char *show(mproc_value_t *v)
{
    static char *last;
    free(last);
    last = mproc_value_repr(v);
    mproc_value_free(v);
    return last != NULL ? last : "?";
}

static size_t objects(mproc_manager_t *m)
{
    size_t n = 9999;
    CU_ASSERT_EQUAL(mproc_manager_count_objects(m, &n), 0);
    return n;
}

/*
 * Waits (bounded) until the server holds @want objects: a client that
 * ended (or was killed) lets go when the server reads the end of its
 * connection, which happens on the server's time.
 */
static int objects_become(mproc_manager_t *m, size_t want)
{
    double deadline = mproc_monotonic() + 20;
    while (mproc_monotonic() < deadline) {
        size_t n = 0;
        if (mproc_manager_count_objects(m, &n) != 0)
            return 0;
        if (n == want)
            return 1;
        mproc_sleep(0.01);
    }
    return 0;
}

/* Whether the manager's local address still names something (Unix). */
static int address_exists(const char *address)
{
#if defined(_WIN32)
    (void) address;
    return 0;
#else
    return access(address, F_OK) == 0;
#endif
}

/* ---- one process ----------------------------------------------------- */

static void test_start_serve_and_shut_down(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_value_t *v = NULL;
    const char *address = mproc_manager_address(m);
    char *kept;
    long pid = mproc_manager_pid(m);
    CU_ASSERT_PTR_NOT_NULL_FATAL(address);
    kept = malloc(strlen(address) + 1);
    strcpy(kept, address);
    CU_ASSERT_TRUE(pid > 0 &&
                   pid != mproc_process_pid(mproc_current_process()));
    CU_ASSERT_TRUE(harness_pid_alive(pid));
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("k"), I(1)), 0);
    CU_ASSERT_EQUAL(mproc_dict_get(d, S("k"), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "1");
    CU_ASSERT_EQUAL(objects(m), 1);
    CU_ASSERT_EQUAL(mproc_manager_shutdown(m), 0);
    CU_ASSERT_TRUE(harness_wait_pid_gone(pid));
    CU_ASSERT_FALSE(address_exists(kept));
    /* Every call now fails at once, naming the manager. */
    CU_ASSERT_EQUAL(mproc_dict_get(d, S("k"), &v), MPROC_EMANAGER);
    CU_ASSERT_PTR_NULL(v);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "the manager 'Manager-"));
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "is gone"));
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("k"), I(2)), MPROC_EMANAGER);
    CU_ASSERT_PTR_NULL(mproc_value_dict_proxy(d));
    CU_ASSERT_EQUAL(mproc_manager_shutdown(m), 0);
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
    free(kept);
}

static void test_every_call_through_proxies(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_list_t *l;
    mproc_namespace_t *ns;
    mproc_value_t *v = NULL, *k = NULL, *init = mproc_value_map();
    size_t n = 0;
    int64_t i = 0;

    mproc_value_map_set(init, S("a"), I(1));
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, init), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(d, I(2), S("two")), 0);
    CU_ASSERT_EQUAL(mproc_dict_get(d, S("zz"), &v), MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "KeyError: 'zz'");
    CU_ASSERT_EQUAL(mproc_dict_get_default(d, S("zz"), I(0), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "0");
    CU_ASSERT_EQUAL(mproc_dict_contains(d, I(2)), 1);
    CU_ASSERT_EQUAL(mproc_dict_contains(d, I(3)), 0);
    CU_ASSERT_EQUAL(mproc_dict_len(d, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    CU_ASSERT_EQUAL(mproc_dict_keys(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "['a', 2]");
    CU_ASSERT_EQUAL(mproc_dict_values(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[1, 'two']");
    CU_ASSERT_EQUAL(mproc_dict_items(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[['a', 1], [2, 'two']]");
    CU_ASSERT_EQUAL(mproc_dict_copy(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "{'a': 1, 2: 'two'}");
    CU_ASSERT_EQUAL(mproc_dict_setdefault(d, S("s"), I(5), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "5");
    CU_ASSERT_EQUAL(mproc_dict_setdefault(d, S("s"), I(6), NULL), 0);
    k = mproc_value_map();
    mproc_value_map_set(k, S("u"), I(7));
    CU_ASSERT_EQUAL(mproc_dict_update(d, k), 0);
    CU_ASSERT_EQUAL(mproc_dict_pop(d, S("u"), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "7");
    CU_ASSERT_EQUAL(mproc_dict_pop(d, S("u"), NULL), MPROC_ENOTFOUND);
    CU_ASSERT_EQUAL(mproc_dict_pop_default(d, S("u"), S("none"), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "'none'");
    CU_ASSERT_EQUAL(mproc_dict_popitem(d, &k, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(k), "'s'");
    CU_ASSERT_STRING_EQUAL(show(v), "5");
    CU_ASSERT_EQUAL(mproc_dict_delete(d, S("a")), 0);
    CU_ASSERT_EQUAL(mproc_dict_delete(d, S("a")), MPROC_ENOTFOUND);
    /* Server-side arithmetic and compare-and-set. */
    CU_ASSERT_EQUAL(mproc_dict_incr(d, S("n"), 5, &i), 0);
    CU_ASSERT_EQUAL(i, 5);
    CU_ASSERT_EQUAL(mproc_dict_incr(d, S("n"), -2, NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_add(d, S("n"), mproc_value_float(0.5), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "3.5");
    CU_ASSERT_EQUAL(mproc_dict_incr(d, S("n"), 1, &i), MPROC_ETYPE);
    CU_ASSERT_EQUAL(mproc_dict_cas(d, S("n"), mproc_value_float(4.5), I(0), &v),
                    1);
    CU_ASSERT_STRING_EQUAL(show(v), "4.5");
    CU_ASSERT_EQUAL(mproc_dict_cas(d, S("n"), I(1), I(2), NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_cas(d, S("zz"), I(1), I(2), NULL),
                    MPROC_ENOTFOUND);
    CU_ASSERT_EQUAL(mproc_dict_set(d, mproc_value_list(), I(1)), MPROC_ETYPE);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "unhashable type: 'list'");
    /* A value that could not be made fails the call, which sends nothing. */
    CU_ASSERT_EQUAL(mproc_dict_set(d, NULL, I(1)), MPROC_ENOMEM);
    CU_ASSERT_EQUAL(mproc_dict_clear(d), 0);
    CU_ASSERT_EQUAL(mproc_dict_copy(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "{}");

    CU_ASSERT_EQUAL(mproc_list_create(&l, m, mproc_value_map()), MPROC_ETYPE);
    CU_ASSERT_EQUAL_FATAL(
        mproc_list_create(&l, m, mproc_value_list_of(2, I(3), I(1))), 0);
    CU_ASSERT_EQUAL(mproc_list_append(l, I(2)), 0);
    CU_ASSERT_EQUAL(mproc_list_extend(l, mproc_value_list_of(1, I(5))), 0);
    CU_ASSERT_EQUAL(mproc_list_insert(l, 0, S("first")), 0);
    CU_ASSERT_EQUAL(mproc_list_get(l, -1, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "5");
    CU_ASSERT_EQUAL(mproc_list_get(l, 10, &v), MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "list index out of range");
    CU_ASSERT_EQUAL(mproc_list_set(l, 0, I(0)), 0);
    CU_ASSERT_EQUAL(mproc_list_len(l, &n), 0);
    CU_ASSERT_EQUAL(n, 5);
    CU_ASSERT_EQUAL(mproc_list_index(l, I(2), &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    CU_ASSERT_EQUAL(mproc_list_index(l, I(9), &n), MPROC_ENOTFOUND);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "9 is not in list");
    CU_ASSERT_EQUAL(mproc_list_count(l, I(1), &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    CU_ASSERT_EQUAL(mproc_list_contains(l, I(5)), 1);
    CU_ASSERT_EQUAL(mproc_list_sort(l, 1), 0);
    CU_ASSERT_EQUAL(mproc_list_copy(l, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[5, 3, 2, 1, 0]");
    CU_ASSERT_EQUAL(mproc_list_reverse(l), 0);
    CU_ASSERT_EQUAL(mproc_list_remove(l, I(0)), 0);
    CU_ASSERT_EQUAL(mproc_list_remove(l, I(0)), MPROC_ENOTFOUND);
    CU_ASSERT_EQUAL(mproc_list_pop(l, -1, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "5");
    CU_ASSERT_EQUAL(mproc_list_pop(l, 0, NULL), 0);
    CU_ASSERT_EQUAL(mproc_list_slice(l, 0, MPROC_SLICE_END, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[2, 3]");
    CU_ASSERT_EQUAL(
        mproc_list_set_slice(l, 1, 1, mproc_value_list_of(1, S("x"))), 0);
    CU_ASSERT_EQUAL(mproc_list_delete(l, 0), 0);
    CU_ASSERT_EQUAL(mproc_list_delete_slice(l, -1, MPROC_SLICE_END), 0);
    CU_ASSERT_EQUAL(mproc_list_copy(l, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "['x']");
    CU_ASSERT_EQUAL(mproc_list_append(l, I(1)), 0);
    CU_ASSERT_EQUAL(mproc_list_sort(l, 0), MPROC_ETYPE);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(mproc_last_error(), "'<' not supported between instances of"));
    CU_ASSERT_EQUAL(mproc_list_clear(l), 0);
    CU_ASSERT_EQUAL(mproc_list_pop(l, -1, &v), MPROC_ERANGE);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(), "pop from empty list");

    CU_ASSERT_EQUAL_FATAL(mproc_namespace_create(&ns, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_namespace_get(ns, "value", &v), MPROC_ENOATTR);
    CU_ASSERT_STRING_EQUAL(mproc_last_error(),
                           "'Namespace' object has no attribute 'value'");
    CU_ASSERT_EQUAL(mproc_namespace_set(ns, "value", S("This is the value")),
                    0);
    CU_ASSERT_EQUAL(mproc_namespace_get(ns, "value", &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "'This is the value'");
    CU_ASSERT_EQUAL(mproc_namespace_has(ns, "value"), 1);
    CU_ASSERT_EQUAL(mproc_namespace_has(ns, "other"), 0);
    CU_ASSERT_EQUAL(mproc_namespace_incr(ns, "count", 2, &i), 0);
    CU_ASSERT_EQUAL(i, 2);
    CU_ASSERT_EQUAL(mproc_namespace_add(ns, "count", I(3), &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "5");
    CU_ASSERT_EQUAL(mproc_namespace_cas(ns, "count", I(5), I(6), NULL), 1);
    CU_ASSERT_EQUAL(mproc_namespace_cas(ns, "none", I(5), I(6), NULL),
                    MPROC_ENOATTR);
    CU_ASSERT_EQUAL(mproc_namespace_copy(ns, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v),
                           "{'value': 'This is the value', 'count': 6}");
    CU_ASSERT_EQUAL(mproc_namespace_delete(ns, "value"), 0);
    CU_ASSERT_EQUAL(mproc_namespace_delete(ns, "value"), MPROC_ENOATTR);
    CU_ASSERT_EQUAL(mproc_namespace_set(ns, "", I(1)), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_namespace_get(ns, NULL, &v), MPROC_EINVAL);

    CU_ASSERT_EQUAL(objects(m), 3);
    mproc_dict_destroy(d);
    mproc_list_destroy(l);
    mproc_namespace_destroy(ns);
    CU_ASSERT_EQUAL(objects(m), 0);
    mproc_manager_destroy(m);
}

static void test_values_stored_are_copies(void)
{
    mproc_manager_t *m = start();
    mproc_namespace_t *ns;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_namespace_create(&ns, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_namespace_set(ns, "my_list", mproc_value_list()), 0);
    CU_ASSERT_EQUAL(mproc_namespace_get(ns, "my_list", &v), 0);
    CU_ASSERT_EQUAL(mproc_value_append(v, S("This is the value")), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_namespace_get(ns, "my_list", &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[]");
    mproc_namespace_destroy(ns);
    mproc_manager_destroy(m);
}

/* ---- proxies in children --------------------------------------------- */

/* [how, ...]: the three proxies come in the arguments, a queue or a pipe. */
static void touch_all(const mproc_value_t *args)
{
    const char *how = mproc_value_as_str(mproc_value_at(args, 0));
    mproc_value_t *item = NULL;
    mproc_dict_t *d;
    mproc_list_t *l;
    mproc_namespace_t *ns;
    if (strcmp(how, "args") == 0) {
        CHILD_ASSERT(mproc_unpack(args, "sDTN", NULL, &d, &l, &ns) == 0);
    } else if (strcmp(how, "queue") == 0) {
        mproc_queue_t *q;
        CHILD_ASSERT(mproc_unpack(args, "sQ", NULL, &q) == 0);
        CHILD_ASSERT(mproc_queue_get(q, &item, 30) == 0);
        CHILD_ASSERT(mproc_unpack(item, "DTN", &d, &l, &ns) == 0);
    } else {
        mproc_conn_t *c;
        CHILD_ASSERT(mproc_unpack(args, "sP", NULL, &c) == 0);
        CHILD_ASSERT(mproc_conn_recv(c, &item) == 0);
        CHILD_ASSERT(mproc_unpack(item, "DTN", &d, &l, &ns) == 0);
    }
    CHILD_ASSERT(mproc_dict_set(d, S("child"), I(mproc_parent_pid())) == 0);
    CHILD_ASSERT(mproc_list_append(l, S(how)) == 0);
    CHILD_ASSERT(mproc_namespace_set(ns, "seen", mproc_value_bool(1)) == 0);
    mproc_value_free(item);
}
MPROC_TARGET(touch_all)

static void proxies_by(const char *how)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_list_t *l;
    mproc_namespace_t *ns;
    mproc_queue_t *q = NULL;
    mproc_conn_t *r = NULL, *w = NULL;
    mproc_process_t *p;
    mproc_value_t *three = NULL, *args, *v = NULL;
    char want[64];
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_list_create(&l, m, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_namespace_create(&ns, m, NULL), 0);
    if (strcmp(how, "args") == 0) {
        args = mproc_pack("sDTN", how, d, l, ns);
    } else {
        three = mproc_pack("DTN", d, l, ns);
        CU_ASSERT_PTR_NOT_NULL_FATAL(three);
        if (strcmp(how, "queue") == 0) {
            CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
            CU_ASSERT_EQUAL_FATAL(mproc_queue_put(q, three, MPROC_FOREVER), 0);
            args = mproc_pack("sQ", how, q);
        } else {
            CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
            args = mproc_pack("sP", how, r);
        }
    }
    CU_ASSERT_PTR_NOT_NULL_FATAL(args);
    p = harness_start("touch_all", args);
    if (w != NULL)
        CU_ASSERT_EQUAL(mproc_conn_send(w, three), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    snprintf(want, sizeof want, "{'child': %ld}",
             mproc_process_pid(mproc_current_process()));
    CU_ASSERT_EQUAL(mproc_dict_copy(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), want);
    CU_ASSERT_EQUAL(mproc_list_copy(l, &v), 0);
    snprintf(want, sizeof want, "['%s']", how);
    CU_ASSERT_STRING_EQUAL(show(v), want);
    CU_ASSERT_EQUAL(mproc_namespace_copy(ns, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "{'seen': True}");
    /* The child let go of its proxies when it ended: only ours are left. */
    CU_ASSERT_EQUAL(objects(m), 3);
    mproc_dict_destroy(d);
    mproc_list_destroy(l);
    mproc_namespace_destroy(ns);
    CU_ASSERT_EQUAL(objects(m), 0);
    mproc_value_free(three);
    mproc_queue_destroy(q);
    mproc_conn_close(r);
    mproc_conn_close(w);
    mproc_manager_destroy(m);
}

static void test_proxies_as_arguments(void)
{
    proxies_by("args");
}

static void test_proxies_through_a_queue(void)
{
    proxies_by("queue");
}

static void test_proxies_through_a_pipe(void)
{
    proxies_by("pipe");
}

/* [i, d]: d[i] = i * 2, as the tour's workers do. */
static void fill_worker(const mproc_value_t *args)
{
    mproc_dict_t *d;
    int i;
    CHILD_ASSERT(mproc_unpack(args, "iD", &i, &d) == 0);
    CHILD_ASSERT(mproc_dict_set(d, I(i), I(i * 2)) == 0);
}
MPROC_TARGET(fill_worker)

static void test_ten_workers_fill_a_dict(void)
{
    mproc_manager_t *m = start();
    mproc_process_t *p[10];
    mproc_dict_t *d;
    mproc_value_t *v = NULL;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    for (i = 0; i < 10; i++)
        p[i] = harness_start("fill_worker", mproc_pack("iD", i, d));
    for (i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    for (i = 0; i < 10; i++) {
        CU_ASSERT_EQUAL(mproc_dict_get(d, I(i), &v), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(v), i * 2);
        mproc_value_free(v);
    }
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
}

#define ADDERS 8
#define ADDS 10000

/* [d]: ADDS increments of d['n']. */
static void adder(const mproc_value_t *args)
{
    mproc_dict_t *d;
    int i;
    CHILD_ASSERT(mproc_unpack(args, "D", &d) == 0);
    for (i = 0; i < ADDS; i++)
        CHILD_ASSERT(mproc_dict_incr(d, S("n"), 1, NULL) == 0);
}
MPROC_TARGET(adder)

static void test_many_processes_lose_no_increment(void)
{
    mproc_manager_t *m = start();
    mproc_process_t *p[ADDERS];
    mproc_dict_t *d;
    mproc_value_t *v = NULL;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    for (i = 0; i < ADDERS; i++)
        p[i] = harness_start("adder", mproc_pack("D", d));
    for (i = 0; i < ADDERS; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    CU_ASSERT_EQUAL(mproc_dict_get(d, S("n"), &v), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(v), ADDERS * ADDS);
    mproc_value_free(v);
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
}

/* ---- threads, each on a connection of its own ------------------------- */

/* ---- per-thread slots ------------------------------------------------- */

/*
 * What a per-thread slot's exit function saw, one line per value, in the
 * file named by slot_log (a child's): the function may run only as its
 * thread ends.
 */
static char slot_log[600];
static mproc__os_tls_t *slot;

static void slot_ends(void *value)
{
    FILE *f = fopen(slot_log, "a");
    if (f != NULL) {
        fprintf(f, "%s\n", (const char *) value);
        fclose(f);
    }
}

static void *APR_THREAD_FUNC slot_setter(apr_thread_t *t, void *arg)
{
    (void) t;
    (void) arg;
    mproc__os_tls_set(slot, "thread");
    return NULL;
}

/*
 * Sets a slot's value on a thread, which ends, and on the main thread,
 * then returns: the process exits (exit(), its handlers, then the OS).
 */
static void slot_child(const mproc_value_t *args)
{
    apr_pool_t *pool = NULL;
    apr_thread_t *t;
    apr_status_t ignored;
    snprintf(slot_log, sizeof slot_log, "%s",
             mproc_value_as_str(mproc_value_at(args, 0)));
    CHILD_ASSERT(mproc__os_tls_create(&slot, slot_ends) == 0);
    CHILD_ASSERT(apr_pool_create(&pool, NULL) == APR_SUCCESS);
    CHILD_ASSERT(apr_thread_create(&t, NULL, slot_setter, NULL, pool) ==
                 APR_SUCCESS);
    apr_thread_join(&ignored, t);
    CHILD_ASSERT(mproc__os_tls_get(slot) == NULL);
    CHILD_ASSERT(mproc__os_tls_set(slot, "main") == 0);
    CHILD_ASSERT(strcmp(mproc__os_tls_get(slot), "main") == 0);
}
MPROC_TARGET(slot_child)

/*
 * A per-thread slot's exit function runs for a thread that ends, and not
 * for the thread that ends the process, whose other threads may have
 * been stopped holding a lock that function takes (POSIX never runs it
 * at exit(); Windows would, from ExitProcess, for a fiber-local slot).
 */
static void test_slot_exit_runs_for_threads_not_at_process_exit(void)
{
    char path[600], text[64] = "";
    FILE *f;
    size_t n = 0;
    snprintf(path, sizeof path, "slot-exit-%ld.log",
             (long) mproc_process_pid(mproc_current_process()));
    remove(path);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start(
            "slot_child", mproc_value_list_of(1, mproc_value_str(path)))),
        0);
    f = fopen(path, "r");
    CU_ASSERT_PTR_NOT_NULL_FATAL(f);
    n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    CU_ASSERT_STRING_EQUAL(text, "thread\n");
    remove(path);
}

/*
 * A link between clients and a manager that the test controls: a listener
 * whose every connection it carries to the manager on one of its own,
 * message by message (each side authenticated with the process's key). It
 * counts the connections that come and go, and can hold the reply to the
 * next request on connection number @hold (1 for the first accepted) until
 * released: a slow link, or a call that takes long, for one connection.
 */
#define RELAY_MAX 64

typedef struct relay {
    mproc_listener_t *l;
    char upstream[600];
    apr_pool_t *pool;
    apr_thread_t *acceptor, *links[RELAY_MAX];
    mproc_lock_t *lock; /* guards what follows */
    int accepted, closed, stopping;
    int hold;               /* the connection whose next reply is held */
    mproc_event_t *held;    /* set when that reply waits */
    mproc_event_t *release; /* set to let it go */
    mproc_event_t *changed; /* set when a connection closes */
} relay;

typedef struct link {
    relay *r;
    mproc_conn_t *down, *up;
    int number;
} link_t;

static void *APR_THREAD_FUNC relay_link(apr_thread_t *t, void *arg)
{
    link_t *k = arg;
    relay *r = k->r;
    (void) t;
    for (;;) {
        void *buf = NULL;
        size_t len = 0;
        int held;
        if (mproc_conn_recv_bytes(k->down, &buf, &len) != 0)
            break;
        if (mproc_conn_send_bytes(k->up, buf, len) != 0) {
            free(buf);
            break;
        }
        free(buf);
        buf = NULL;
        if (mproc_conn_recv_bytes(k->up, &buf, &len) != 0)
            break;
        mproc_lock_acquire(r->lock, MPROC_FOREVER);
        held = r->hold == k->number;
        if (held)
            r->hold = 0;
        mproc_lock_release(r->lock);
        if (held) {
            mproc_event_set(r->held);
            mproc_event_wait(r->release, MPROC_FOREVER);
        }
        if (mproc_conn_send_bytes(k->down, buf, len) != 0) {
            free(buf);
            break;
        }
        free(buf);
    }
    mproc_conn_close(k->down);
    mproc_conn_close(k->up);
    mproc_lock_acquire(r->lock, MPROC_FOREVER);
    r->closed++;
    mproc_lock_release(r->lock);
    mproc_event_set(r->changed);
    free(k);
    return NULL;
}

static void *APR_THREAD_FUNC relay_accept(apr_thread_t *t, void *arg)
{
    relay *r = arg;
    (void) t;
    for (;;) {
        mproc_client_opts_t o = {0};
        mproc_conn_t *down = NULL, *up = NULL;
        link_t *k;
        int stop;
        if (mproc_listener_accept(r->l, &down, MPROC_FOREVER) != 0)
            continue;
        mproc_lock_acquire(r->lock, MPROC_FOREVER);
        stop = r->stopping || r->accepted == RELAY_MAX;
        mproc_lock_release(r->lock);
        if (stop || mproc_client_connect(&up, r->upstream, &o) != 0 ||
            (k = calloc(1, sizeof *k)) == NULL) {
            mproc_conn_close(down);
            mproc_conn_close(up);
            if (stop)
                break;
            continue;
        }
        k->r = r;
        k->down = down;
        k->up = up;
        mproc_lock_acquire(r->lock, MPROC_FOREVER);
        k->number = ++r->accepted;
        mproc_lock_release(r->lock);
        if (apr_thread_create(&r->links[k->number - 1], NULL, relay_link, k,
                              r->pool) != APR_SUCCESS) {
            /* Never: the test then fails on its counts. */
            r->links[k->number - 1] = NULL;
            mproc_conn_close(down);
            mproc_conn_close(up);
            free(k);
        }
    }
    return NULL;
}

static relay *relay_start(mproc_manager_t *m)
{
    relay *r = calloc(1, sizeof *r);
    CU_ASSERT_PTR_NOT_NULL_FATAL(r);
    snprintf(r->upstream, sizeof r->upstream, "%s", mproc_manager_address(m));
    CU_ASSERT_EQUAL_FATAL(mproc_listener_create(&r->l, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_lock_create(&r->lock, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&r->held, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&r->release, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&r->changed, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&r->pool, NULL), APR_SUCCESS);
    CU_ASSERT_EQUAL_FATAL(
        apr_thread_create(&r->acceptor, NULL, relay_accept, r, r->pool),
        APR_SUCCESS);
    return r;
}

/* How many connections are open through @r. */
static int relay_open(relay *r)
{
    int n;
    mproc_lock_acquire(r->lock, MPROC_FOREVER);
    n = r->accepted - r->closed;
    mproc_lock_release(r->lock);
    return n;
}

/*
 * Waits until @want connections are open through @r: a connection that a
 * client closes ends its link when the link reads that end. Bounded, so
 * that a leak fails the test rather than hanging it.
 */
static int relay_open_becomes(relay *r, int want)
{
    double deadline = mproc_monotonic() + 20;
    while (relay_open(r) != want) {
        double left = deadline - mproc_monotonic();
        if (left <= 0)
            return 0;
        mproc_event_wait(r->changed, left);
        mproc_event_clear(r->changed);
    }
    return 1;
}

/* Stops @r once every client of it has gone. */
static void relay_stop(relay *r)
{
    mproc_client_opts_t o = {0};
    mproc_conn_t *wake = NULL;
    apr_status_t ignored;
    int i, n;
    mproc_event_set(r->release);
    mproc_lock_acquire(r->lock, MPROC_FOREVER);
    r->stopping = 1;
    n = r->accepted;
    mproc_lock_release(r->lock);
    if (mproc_client_connect(&wake, mproc_listener_address(r->l), &o) == 0)
        mproc_conn_close(wake);
    apr_thread_join(&ignored, r->acceptor);
    for (i = 0; i < n; i++)
        if (r->links[i] != NULL)
            apr_thread_join(&ignored, r->links[i]);
    mproc_listener_destroy(r->l);
    mproc_event_destroy(r->held);
    mproc_event_destroy(r->release);
    mproc_event_destroy(r->changed);
    mproc_lock_destroy(r->lock);
    apr_pool_destroy(r->pool);
    free(r);
}

/* A client of the manager through relay @r (its connection number 1). */
static mproc_manager_t *connect_through(relay *r)
{
    mproc_manager_t *m = NULL;
    CU_ASSERT_EQUAL_FATAL(
        mproc_manager_connect(&m, mproc_listener_address(r->l), NULL), 0);
    return m;
}

typedef struct stall_arg {
    mproc_dict_t *d;
    mproc_event_t *ready, *go, *done;
    int rc, calls, failures;
} stall_arg;

/* Makes its connection, then (on go) one call, which the link holds. */
static void *APR_THREAD_FUNC stalled_caller(apr_thread_t *t, void *arg)
{
    stall_arg *a = arg;
    int64_t n = 0;
    (void) t;
    a->rc = mproc_dict_incr(a->d, S("stalled"), 1, &n);
    mproc_event_set(a->ready);
    mproc_event_wait(a->go, MPROC_FOREVER);
    a->rc = mproc_dict_incr(a->d, S("stalled"), 1, &n);
    mproc_event_set(a->done);
    return NULL;
}

/* Many calls, while the other thread's call waits. */
static void *APR_THREAD_FUNC free_caller(apr_thread_t *t, void *arg)
{
    stall_arg *a = arg;
    int i;
    (void) t;
    for (i = 0; i < 200; i++)
        if (mproc_dict_incr(a->d, S("free"), 1, NULL) == 0)
            a->calls++;
        else
            a->failures++;
    mproc_event_set(a->done);
    return NULL;
}

static void test_a_stalled_call_holds_up_no_other_thread(void)
{
    mproc_manager_t *m = start(), *mc;
    relay *r = relay_start(m);
    apr_pool_t *pool = NULL;
    apr_thread_t *ta, *tb;
    apr_status_t ignored;
    stall_arg a, b;
    int64_t n = 0;
    memset(&a, 0, sizeof a);
    memset(&b, 0, sizeof b);
    mc = connect_through(r);
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&a.d, mc, NULL), 0);
    b.d = a.d;
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&a.ready, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&a.go, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&a.done, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&b.done, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    /* The stalled thread's first call makes its connection, number 2. */
    CU_ASSERT_EQUAL_FATAL(
        apr_thread_create(&ta, NULL, stalled_caller, &a, pool), APR_SUCCESS);
    CU_ASSERT_EQUAL(mproc_event_wait(a.ready, 30), 0);
    CU_ASSERT_EQUAL(a.rc, 0);
    CU_ASSERT_EQUAL(relay_open(r), 2);
    /* Its next call's reply waits on the link... */
    mproc_lock_acquire(r->lock, MPROC_FOREVER);
    r->hold = 2;
    mproc_lock_release(r->lock);
    mproc_event_set(a.go);
    CU_ASSERT_EQUAL(mproc_event_wait(r->held, 30), 0);
    /* ...while another thread's calls, and this one's, go through. */
    CU_ASSERT_EQUAL_FATAL(apr_thread_create(&tb, NULL, free_caller, &b, pool),
                          APR_SUCCESS);
    CU_ASSERT_EQUAL(mproc_event_wait(b.done, 30), 0);
    CU_ASSERT_EQUAL(b.calls, 200);
    CU_ASSERT_EQUAL(b.failures, 0);
    CU_ASSERT_EQUAL(mproc_dict_incr(a.d, S("free"), 1, &n), 0);
    CU_ASSERT_EQUAL(n, 201);
    CU_ASSERT_FALSE(mproc_event_is_set(a.done));
    /* The held call ends once its reply is let go. */
    mproc_event_set(r->release);
    CU_ASSERT_EQUAL(mproc_event_wait(a.done, 30), 0);
    apr_thread_join(&ignored, ta);
    apr_thread_join(&ignored, tb);
    CU_ASSERT_EQUAL(a.rc, 0);
    CU_ASSERT_EQUAL(mproc_dict_incr(a.d, S("stalled"), 0, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    apr_pool_destroy(pool);
    mproc_dict_destroy(a.d);
    mproc_manager_destroy(mc);
    CU_ASSERT_TRUE(relay_open_becomes(r, 0));
    CU_ASSERT_EQUAL(objects(m), 0);
    relay_stop(r);
    mproc_event_destroy(a.ready);
    mproc_event_destroy(a.go);
    mproc_event_destroy(a.done);
    mproc_event_destroy(b.done);
    mproc_manager_destroy(m);
}

#define MANY_THREADS 16
#define INCREMENTS 1000

typedef struct thread_arg {
    mproc_dict_t *d;
    int failures;
} thread_arg;

static void *APR_THREAD_FUNC thread_adder(apr_thread_t *t, void *arg)
{
    thread_arg *a = arg;
    int i;
    (void) t;
    for (i = 0; i < INCREMENTS; i++)
        if (mproc_dict_incr(a->d, S("n"), 1, NULL) != 0)
            a->failures++;
    return NULL;
}

static void test_threads_share_proxies(void)
{
    mproc_manager_t *m = start(), *mc;
    relay *r = relay_start(m);
    apr_pool_t *pool = NULL;
    apr_thread_t *t[MANY_THREADS];
    thread_arg a[MANY_THREADS];
    mproc_dict_t *d;
    int64_t n = 0;
    int i;
    mc = connect_through(r);
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, mc, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (i = 0; i < MANY_THREADS; i++) {
        a[i].d = d;
        a[i].failures = 0;
        CU_ASSERT_EQUAL_FATAL(
            apr_thread_create(&t[i], NULL, thread_adder, &a[i], pool),
            APR_SUCCESS);
    }
    for (i = 0; i < MANY_THREADS; i++) {
        apr_status_t ignored;
        apr_thread_join(&ignored, t[i]);
        CU_ASSERT_EQUAL(a[i].failures, 0);
    }
    apr_pool_destroy(pool);
    CU_ASSERT_EQUAL(mproc_dict_incr(d, S("n"), 0, &n), 0);
    CU_ASSERT_EQUAL(n, MANY_THREADS * INCREMENTS);
    /* Each thread had a connection of its own, closed when it ended. */
    CU_ASSERT_TRUE(relay_open_becomes(r, 1));
    mproc_lock_acquire(r->lock, MPROC_FOREVER);
    CU_ASSERT_EQUAL(r->accepted, 1 + MANY_THREADS);
    mproc_lock_release(r->lock);
    CU_ASSERT_EQUAL(objects(m), 1);
    mproc_dict_destroy(d);
    mproc_manager_destroy(mc);
    CU_ASSERT_TRUE(relay_open_becomes(r, 0));
    relay_stop(r);
    CU_ASSERT_EQUAL(objects(m), 0);
    mproc_manager_destroy(m);
}

typedef struct hand_arg {
    mproc_manager_t *m;
    mproc_dict_t *d;
    mproc_list_t *l;
    mproc_value_t *ref;
    int rc;
} hand_arg;

/* Makes a dict, a list and a reference to the list, and ends. */
static void *APR_THREAD_FUNC maker(apr_thread_t *t, void *arg)
{
    hand_arg *h = arg;
    (void) t;
    h->rc = mproc_dict_create(&h->d, h->m, NULL);
    if (h->rc == 0)
        h->rc = mproc_dict_set(h->d, S("k"), I(1));
    if (h->rc == 0)
        h->rc = mproc_list_create(&h->l, h->m, NULL);
    if (h->rc == 0 && (h->ref = mproc_value_list_proxy(h->l)) == NULL)
        h->rc = -1;
    if (h->rc == 0)
        mproc_list_destroy(h->l);
    return NULL;
}

/* Opens the reference, uses what the other thread made, frees it all. */
static void *APR_THREAD_FUNC user(apr_thread_t *t, void *arg)
{
    hand_arg *h = arg;
    mproc_value_t *v = NULL;
    (void) t;
    h->rc = mproc_value_to_list_proxy(h->ref, &h->l);
    if (h->rc == 0)
        h->rc = mproc_list_append(h->l, I(5));
    if (h->rc == 0)
        h->rc = mproc_dict_get(h->d, S("k"), &v);
    if (h->rc == 0 && mproc_value_as_int(v) != 1)
        h->rc = -1;
    mproc_value_free(v);
    mproc_dict_destroy(h->d);
    mproc_list_destroy(h->l);
    return NULL;
}

static void *APR_THREAD_FUNC destroyer(apr_thread_t *t, void *arg)
{
    hand_arg *h = arg;
    (void) t;
    mproc_dict_destroy(h->d);
    return NULL;
}

static void test_proxies_made_on_one_thread_freed_on_another(void)
{
    mproc_manager_t *m = start();
    apr_pool_t *pool = NULL;
    apr_thread_t *t;
    apr_status_t ignored;
    mproc_dict_t *mine;
    hand_arg h;
    size_t n = 0;
    memset(&h, 0, sizeof h);
    h.m = m;
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    /*
     * What a thread made outlives the thread and its connection: the
     * process holds it, and the list lives in transit.
     */
    CU_ASSERT_EQUAL_FATAL(apr_thread_create(&t, NULL, maker, &h, pool),
                          APR_SUCCESS);
    apr_thread_join(&ignored, t);
    CU_ASSERT_EQUAL_FATAL(h.rc, 0);
    CU_ASSERT_EQUAL(objects(m), 2);
    CU_ASSERT_EQUAL(mproc_dict_len(h.d, &n), 0);
    CU_ASSERT_EQUAL(n, 1);
    /* Another thread opens the reference and frees both. */
    CU_ASSERT_EQUAL_FATAL(apr_thread_create(&t, NULL, user, &h, pool),
                          APR_SUCCESS);
    apr_thread_join(&ignored, t);
    CU_ASSERT_EQUAL(h.rc, 0);
    CU_ASSERT_EQUAL(objects(m), 0);
    /* One made here, freed by a thread whose only call is the release. */
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&mine, m, NULL), 0);
    CU_ASSERT_EQUAL(objects(m), 1);
    h.d = mine;
    CU_ASSERT_EQUAL_FATAL(apr_thread_create(&t, NULL, destroyer, &h, pool),
                          APR_SUCCESS);
    apr_thread_join(&ignored, t);
    CU_ASSERT_EQUAL(objects(m), 0);
    mproc_value_free(h.ref);
    apr_pool_destroy(pool);
    mproc_manager_destroy(m);
}

/* ---- references ------------------------------------------------------- */

/* [d]: opens d['inner'], a list, and appends 7 to it. */
static void nested_user(const mproc_value_t *args)
{
    mproc_dict_t *d;
    mproc_list_t *l;
    mproc_value_t *v = NULL;
    CHILD_ASSERT(mproc_unpack(args, "D", &d) == 0);
    CHILD_ASSERT(mproc_dict_get(d, S("inner"), &v) == 0);
    CHILD_ASSERT(mproc_value_ref_kind(v) == MPROC_REF_LIST);
    CHILD_ASSERT(mproc_value_to_list_proxy(v, &l) == 0);
    CHILD_ASSERT(mproc_list_append(l, I(7)) == 0);
    mproc_value_free(v);
}
MPROC_TARGET(nested_user)

static void test_nested_proxies_live_and_go(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_list_t *l, *l2;
    mproc_value_t *v = NULL;
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_list_create(&l, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("inner"), mproc_value_list_proxy(l)),
                    0);
    /* The dict's reference keeps the list; ours may go. */
    mproc_list_destroy(l);
    CU_ASSERT_EQUAL(objects(m), 2);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start("nested_user", mproc_pack("D", d))), 0);
    CU_ASSERT_EQUAL(mproc_dict_get(d, S("inner"), &v), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_value_to_list_proxy(v, &l2), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL(mproc_list_copy(l2, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "[7]");
    mproc_list_destroy(l2);
    /* Python leaks it here; the last reference going frees it. */
    CU_ASSERT_EQUAL(mproc_dict_delete(d, S("inner")), 0);
    CU_ASSERT_EQUAL(objects(m), 1);
    mproc_dict_destroy(d);
    CU_ASSERT_EQUAL(objects(m), 0);
    mproc_manager_destroy(m);
}

/* [d]: stores a reference to d in d, and ends holding it. */
static void cycle_maker(const mproc_value_t *args)
{
    mproc_dict_t *d;
    CHILD_ASSERT(mproc_unpack(args, "D", &d) == 0);
    CHILD_ASSERT(mproc_dict_set(d, S("me"), mproc_value_dict_proxy(d)) == 0);
}
MPROC_TARGET(cycle_maker)

static void test_proxies_in_a_cycle_are_freed(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *a, *b, *c;
    mproc_list_t *l;
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&a, m, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&b, m, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_list_create(&l, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(a, S("b"), mproc_value_dict_proxy(b)), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(b, S("a"), mproc_value_dict_proxy(a)), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(b, S("l"), mproc_value_list_proxy(l)), 0);
    CU_ASSERT_EQUAL(mproc_list_append(l, mproc_value_list_proxy(l)), 0);
    CU_ASSERT_EQUAL(objects(m), 3);
    /* a and b hold each other, and b the list, which holds itself. */
    mproc_dict_destroy(a);
    CU_ASSERT_EQUAL(objects(m), 3);
    mproc_list_destroy(l);
    CU_ASSERT_EQUAL(objects(m), 3);
    mproc_dict_destroy(b);
    CU_ASSERT_EQUAL(objects(m), 0);
    /* A cycle made in a child, which ends holding its part: freed too. */
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&c, m, NULL), 0);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start("cycle_maker", mproc_pack("D", c))), 0);
    CU_ASSERT_EQUAL(objects(m), 1);
    mproc_dict_destroy(c);
    CU_ASSERT_TRUE(objects_become(m, 0));
    mproc_manager_destroy(m);
}

/*
 * [d]: opens the Value, Array and block that d holds and writes through
 * them: the Value 3.1415927, the Array negated, the block's first byte 42.
 */
static void shared_user(const mproc_value_t *args)
{
    mproc_dict_t *d;
    mproc_shared_value_t *v;
    mproc_shared_array_t *a;
    mproc_shm_t *s;
    mproc_value_t *rv = NULL, *ra = NULL, *rs = NULL;
    size_t i;
    int64_t x;
    CHILD_ASSERT(mproc_unpack(args, "D", &d) == 0);
    CHILD_ASSERT(mproc_dict_get(d, S("value"), &rv) == 0);
    CHILD_ASSERT(mproc_dict_get(d, S("array"), &ra) == 0);
    CHILD_ASSERT(mproc_dict_get(d, S("block"), &rs) == 0);
    CHILD_ASSERT(mproc_value_to_shared_value(rv, &v) == 0);
    CHILD_ASSERT(mproc_value_to_shared_array(ra, &a) == 0);
    CHILD_ASSERT(mproc_value_to_shm(rs, &s) == 0);
    CHILD_ASSERT(mproc_shared_value_set_float(v, 3.1415927) == 0);
    for (i = 0; i < mproc_shared_array_len(a); i++) {
        CHILD_ASSERT(mproc_shared_array_get_int(a, i, &x) == 0);
        CHILD_ASSERT(mproc_shared_array_set_int(a, i, -x) == 0);
    }
    ((unsigned char *) mproc_shm_buf(s))[0] = 42;
    mproc_value_free(rv);
    mproc_value_free(ra);
    mproc_value_free(rs);
}
MPROC_TARGET(shared_user)

static void test_shared_memory_in_a_dict(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_shared_value_t *v;
    mproc_shared_array_t *a;
    mproc_shm_t *s;
    int init[10], out[10], i;
    double f = 0;
    for (i = 0; i < 10; i++)
        init[i] = i;
    CU_ASSERT_EQUAL_FATAL(mproc_shared_value_create(&v, 'd', NULL, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_shared_array_create(&a, 'i', 10, init, NULL),
                          0);
    CU_ASSERT_EQUAL_FATAL(mproc_shm_create(&s, NULL, 100), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("value"), mproc_value_shared_value(v)),
                    0);
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("array"), mproc_value_shared_array(a)),
                    0);
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("block"), mproc_value_shm(s)), 0);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start("shared_user", mproc_pack("D", d))), 0);
    /* The child wrote into our memory, not into a copy. */
    CU_ASSERT_EQUAL(mproc_shared_value_get_float(v, &f), 0);
    CU_ASSERT_DOUBLE_EQUAL(f, 3.1415927, 1e-12);
    CU_ASSERT_EQUAL(mproc_shared_array_read(a, 0, 10, out), 0);
    for (i = 0; i < 10; i++)
        CU_ASSERT_EQUAL(out[i], -i);
    CU_ASSERT_EQUAL(((unsigned char *) mproc_shm_buf(s))[0], 42);
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
    mproc_shared_value_destroy(v);
    mproc_shared_array_destroy(a);
    CU_ASSERT_EQUAL(mproc_shm_unlink(s), 0);
    mproc_shm_close(s);
}

/* [q]: takes a list proxy from the queue and appends to it. */
static void late_taker(const mproc_value_t *args)
{
    mproc_queue_t *q;
    mproc_list_t *l;
    mproc_value_t *item = NULL;
    CHILD_ASSERT(mproc_unpack(args, "Q", &q) == 0);
    CHILD_ASSERT(mproc_queue_get(q, &item, 30) == 0);
    CHILD_ASSERT(mproc_unpack(item, "T", &l) == 0);
    CHILD_ASSERT(mproc_list_append(l, S("taken")) == 0);
    /* Let go early: the list goes with its last proxy. */
    mproc_list_destroy(l);
    mproc_value_free(item);
}
MPROC_TARGET(late_taker)

static void test_a_reference_keeps_its_object_in_transit(void)
{
    mproc_manager_t *m = start();
    mproc_list_t *l;
    mproc_queue_t *q;
    mproc_value_t *ref, *stale;
    CU_ASSERT_EQUAL_FATAL(mproc_queue_create(&q, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_list_create(&l, m, NULL), 0);
    ref = mproc_pack("T", l);
    CU_ASSERT_PTR_NOT_NULL_FATAL(ref);
    stale = mproc_value_copy(ref);
    CU_ASSERT_EQUAL(mproc_queue_put(q, ref, MPROC_FOREVER), 0);
    mproc_value_free(ref);
    /* Put, then let go at once: the reference in the queue holds it. */
    mproc_list_destroy(l);
    CU_ASSERT_EQUAL(objects(m), 1);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start("late_taker", mproc_pack("Q", q))), 0);
    CU_ASSERT_EQUAL(objects(m), 0);
    /* The same reference once more names an object the server freed. */
    CU_ASSERT_EQUAL(mproc_unpack(stale, "T", &l), MPROC_EREMOTE);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "no object"));
    mproc_value_free(stale);
    mproc_queue_destroy(q);
    mproc_manager_destroy(m);
}

/* [d, s]: one call, s released, then calls until the manager is gone. */
static void until_gone(const mproc_value_t *args)
{
    mproc_dict_t *d;
    mproc_sem_t *s;
    double deadline = mproc_monotonic() + 30;
    int rc = 0;
    CHILD_ASSERT(mproc_unpack(args, "DS", &d, &s) == 0);
    CHILD_ASSERT(mproc_dict_incr(d, S("n"), 1, NULL) == 0);
    CHILD_ASSERT(mproc_sem_release(s) == 0);
    while (rc == 0 && mproc_monotonic() < deadline)
        rc = mproc_dict_incr(d, S("n"), 1, NULL);
    CHILD_ASSERT(rc == MPROC_EMANAGER);
    CHILD_ASSERT(strstr(mproc_last_error(), "is gone") != NULL);
    /* And the next call fails as fast, without trying again. */
    CHILD_ASSERT(mproc_dict_incr(d, S("n"), 1, NULL) == MPROC_EMANAGER);
}
MPROC_TARGET(until_gone)

static void test_a_killed_manager_fails_every_call(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_sem_t *s;
    mproc_process_t *p[3];
    mproc_value_t *v = NULL;
    char *address;
    long pid = mproc_manager_pid(m);
    int i;
    address = malloc(strlen(mproc_manager_address(m)) + 1);
    strcpy(address, mproc_manager_address(m));
    CU_ASSERT_EQUAL_FATAL(mproc_sem_create(&s, 0, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    for (i = 0; i < 3; i++)
        p[i] = harness_start("until_gone", mproc_pack("DS", d, s));
    /* Every client is calling. */
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(mproc_sem_acquire(s, 30), 0);
    /* SIGKILL or TerminateProcess while the clients call. */
    CU_ASSERT_TRUE(harness_kill_pid(pid));
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(harness_join_code(p[i]), 0);
    CU_ASSERT_EQUAL(mproc_dict_get(d, S("n"), &v), MPROC_EMANAGER);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "the manager 'Manager-"));
    /* Its creator removes what a killed server could not. */
    CU_ASSERT_EQUAL(mproc_manager_shutdown(m), 0);
    CU_ASSERT_FALSE(address_exists(address));
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
    mproc_sem_destroy(s);
    free(address);
}

typedef struct gone_arg {
    mproc_dict_t *d;
    mproc_event_t *calling;
    int rc, again;
    char why[300];
} gone_arg;

/* Calls (on its own connection) until the manager has gone. */
static void *APR_THREAD_FUNC thread_until_gone(apr_thread_t *t, void *arg)
{
    gone_arg *a = arg;
    double deadline = mproc_monotonic() + 30;
    (void) t;
    a->rc = mproc_dict_incr(a->d, S("n"), 1, NULL);
    mproc_event_set(a->calling);
    while (a->rc == 0 && mproc_monotonic() < deadline)
        a->rc = mproc_dict_incr(a->d, S("n"), 1, NULL);
    snprintf(a->why, sizeof a->why, "%s", mproc_last_error());
    a->again = mproc_dict_incr(a->d, S("n"), 1, NULL);
    return NULL;
}

static void test_a_killed_manager_fails_the_calls_of_every_thread(void)
{
    mproc_manager_t *m = start();
    apr_pool_t *pool = NULL;
    apr_thread_t *t[3];
    gone_arg a[3];
    mproc_dict_t *d;
    int i;
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(apr_pool_create(&pool, NULL), APR_SUCCESS);
    for (i = 0; i < 3; i++) {
        memset(&a[i], 0, sizeof a[i]);
        a[i].d = d;
        CU_ASSERT_EQUAL_FATAL(mproc_event_create(&a[i].calling, NULL), 0);
        CU_ASSERT_EQUAL_FATAL(
            apr_thread_create(&t[i], NULL, thread_until_gone, &a[i], pool),
            APR_SUCCESS);
    }
    for (i = 0; i < 3; i++)
        CU_ASSERT_EQUAL(mproc_event_wait(a[i].calling, 30), 0);
    /* SIGKILL or TerminateProcess while every thread calls. */
    CU_ASSERT_TRUE(harness_kill_pid(mproc_manager_pid(m)));
    for (i = 0; i < 3; i++) {
        apr_status_t ignored;
        apr_thread_join(&ignored, t[i]);
        CU_ASSERT_EQUAL(a[i].rc, MPROC_EMANAGER);
        CU_ASSERT_PTR_NOT_NULL(strstr(a[i].why, "is gone"));
        CU_ASSERT_EQUAL(a[i].again, MPROC_EMANAGER);
        mproc_event_destroy(a[i].calling);
    }
    /* This thread's connection fails at once too. */
    CU_ASSERT_EQUAL(mproc_dict_incr(d, S("n"), 1, NULL), MPROC_EMANAGER);
    apr_pool_destroy(pool);
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
}

/*
 * [w]: a program of its own, with a manager; killed by the test. It
 * reports on a pipe, which leaves no name behind when it is killed.
 */
static void manager_program(const mproc_value_t *args)
{
    mproc_conn_t *w;
    mproc_manager_t *m;
    mproc_manager_opts_t o = {0};
    mproc_value_t *word;
    CHILD_ASSERT(mproc_unpack(args, "P", &w) == 0);
    o.method = mproc_get_start_method();
    CHILD_ASSERT(mproc_manager_start(&m, &o) == 0);
    word = mproc_pack("sI", mproc_manager_address(m),
                      (int64_t) mproc_manager_pid(m));
    CHILD_ASSERT(mproc_conn_send(w, word) == 0);
    mproc_value_free(word);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(manager_program)

static void test_the_manager_ends_with_its_killed_program(void)
{
    mproc_conn_t *r, *w;
    mproc_process_t *program;
    mproc_value_t *word = NULL;
    const char *address = NULL;
    int64_t pid = 0;
    int code = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    program = harness_start("manager_program", mproc_pack("P", w));
    mproc_conn_close(w);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_poll(r, 30), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(r, &word), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_unpack(word, "sI", &address, &pid), 0);
    CU_ASSERT_TRUE(harness_pid_alive((long) pid));
    CU_ASSERT_EQUAL(mproc_process_kill(program), 0);
    CU_ASSERT_EQUAL(mproc_process_join(program, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(program, &code), 0);
    CU_ASSERT_NOT_EQUAL(code, 0);
    /* It ends by itself, and removes its address as it goes. */
    CU_ASSERT_TRUE(harness_wait_pid_gone((long) pid));
    CU_ASSERT_FALSE(address_exists(address));
    mproc_value_free(word);
    mproc_process_destroy(program);
    mproc_conn_close(r);
}

#if !defined(_WIN32)
/*
 * [w, with tracker]: a program with a manager, both killed together by
 * the test. With a tracker of the program's first (a block of shared
 * memory made and removed starts it), which the manager then shares, it
 * tells that tracker's pid; otherwise the manager starts one of its own.
 */
static void killed_with_its_manager(const mproc_value_t *args)
{
    mproc_conn_t *w;
    mproc_manager_t *m;
    mproc_manager_opts_t o = {0};
    mproc_value_t *word;
    int with_tracker = 0;
    long tracker = 0;
    CHILD_ASSERT(mproc_unpack(args, "Pb", &w, &with_tracker) == 0);
    if (with_tracker) {
        mproc_shm_t *shm;
        CHILD_ASSERT(mproc_shm_create(&shm, NULL, 64) == 0);
        CHILD_ASSERT(mproc_shm_unlink(shm) == 0);
        mproc_shm_close(shm);
        tracker = mproc__unix_tracker_pid();
        CHILD_ASSERT(tracker > 0);
    }
    o.method = mproc_get_start_method();
    CHILD_ASSERT(mproc_manager_start(&m, &o) == 0);
    word = mproc_pack("sII", mproc_manager_address(m),
                      (int64_t) mproc_manager_pid(m), (int64_t) tracker);
    CHILD_ASSERT(mproc_conn_send(w, word) == 0);
    mproc_value_free(word);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(killed_with_its_manager)

/*
 * Waits (bounded) until directory @dir is removed: 1 once it is gone, 0
 * if it is still there after 30 s.
 */
static int dir_goes(const char *dir)
{
    int fd = inotify_init1(IN_CLOEXEC), gone = 0;
    struct pollfd p;
    if (fd < 0)
        return 0;
    if (inotify_add_watch(fd, dir, IN_DELETE_SELF) < 0) {
        gone = errno == ENOENT;
    } else {
        p.fd = fd;
        p.events = POLLIN;
        /* A bounded wait for an event that has no other way to be seen. */
        poll(&p, 1, 30000);
        gone = access(dir, F_OK) != 0;
    }
    close(fd);
    return gone;
}

static void killed_together(int with_tracker)
{
    mproc_conn_t *r, *w;
    mproc_process_t *program;
    mproc_value_t *word = NULL;
    const char *address = NULL;
    int64_t pid = 0, tracker = 0;
    char dir[600], *slash;
    CU_ASSERT_EQUAL_FATAL(mproc_pipe(&r, &w, 0, NULL), 0);
    program = harness_start("killed_with_its_manager",
                            mproc_pack("Pb", w, with_tracker));
    mproc_conn_close(w);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_poll(r, 30), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(r, &word), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_unpack(word, "sII", &address, &pid, &tracker),
                          0);
    snprintf(dir, sizeof dir, "%s", address);
    slash = strrchr(dir, '/');
    CU_ASSERT_PTR_NOT_NULL_FATAL(slash);
    *slash = '\0';
    CU_ASSERT_TRUE(address_exists(address));
    /*
     * The manager first, so that it cannot see its program end and remove
     * its address as it would: neither of them removes anything.
     */
    CU_ASSERT_TRUE(harness_kill_pid((long) pid));
    CU_ASSERT_EQUAL(mproc_process_kill(program), 0);
    CU_ASSERT_EQUAL(mproc_process_join(program, MPROC_FOREVER), 0);
    CU_ASSERT_TRUE(harness_wait_pid_gone((long) pid));
    /* The tracker removes the socket and its directory as the tree ends. */
    if (with_tracker)
        CU_ASSERT_TRUE(harness_wait_pid_gone((long) tracker));
    CU_ASSERT_TRUE(dir_goes(dir));
    CU_ASSERT_FALSE(address_exists(address));
    mproc_value_free(word);
    mproc_process_destroy(program);
    mproc_conn_close(r);
}

static void test_a_manager_killed_with_its_program_leaves_no_socket(void)
{
    killed_together(0);
}

static void test_the_program_tracker_removes_a_killed_manager_socket(void)
{
    killed_together(1);
}
#endif

/* ---- keys, TCP, names --------------------------------------------------- */

/* [address, key, list reference]: a client of its own, by address. */
static void remote_client(const mproc_value_t *args)
{
    const char *address;
    const void *key;
    size_t keylen;
    mproc_manager_t *m;
    mproc_manager_connect_opts_t o = {0};
    mproc_value_t *v = NULL;
    mproc_list_t *jobs, *direct;
    CHILD_ASSERT(mproc_unpack(args, "syT", &address, &key, &keylen, &direct) ==
                 0);
    /* The reference carried the manager's key: it works here too. */
    CHILD_ASSERT(mproc_list_append(direct, S("by reference")) == 0);
    CHILD_ASSERT(mproc_manager_connect(&m, address, NULL) == MPROC_EAUTH);
    o.authkey = key;
    o.authkey_len = keylen;
    CHILD_ASSERT(mproc_manager_connect(&m, address, &o) == 0);
    CHILD_ASSERT(mproc_manager_lookup(m, "missing", &v) == MPROC_ENOTFOUND);
    CHILD_ASSERT(mproc_manager_lookup(m, "jobs", &v) == 0);
    CHILD_ASSERT(mproc_value_to_list_proxy(v, &jobs) == 0);
    CHILD_ASSERT(mproc_list_append(jobs, S("by name")) == 0);
    mproc_value_free(v);
    mproc_manager_destroy(m);
}
MPROC_TARGET(remote_client)

static void test_tcp_with_a_key_and_names(void)
{
    mproc_manager_t *m, *c;
    mproc_manager_opts_t o = {0};
    mproc_manager_connect_opts_t co = {0};
    mproc_list_t *jobs;
    mproc_value_t *v = NULL;
    const char *address;
    size_t n = 0;
    o.address = "127.0.0.1:0";
    o.authkey = KEY;
    o.authkey_len = strlen(KEY);
    CU_ASSERT_EQUAL_FATAL(mproc_manager_start(&m, &o), 0);
    address = mproc_manager_address(m);
    CU_ASSERT_EQUAL(strncmp(address, "127.0.0.1:", 10), 0);
    CU_ASSERT_NOT_EQUAL(strcmp(address, "127.0.0.1:0"), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_list_create(&jobs, m, NULL), 0);
    CU_ASSERT_EQUAL(
        mproc_manager_register(m, "jobs", mproc_value_list_proxy(jobs)), 0);
    CU_ASSERT_EQUAL(mproc_manager_register(m, "", I(1)), MPROC_EINVAL);
    /* A wrong key is refused, and the manager goes on serving. */
    co.authkey = "wrong";
    co.authkey_len = 5;
    CU_ASSERT_EQUAL(mproc_manager_connect(&c, address, &co), MPROC_EAUTH);
    CU_ASSERT_EQUAL(harness_join_code(harness_start(
                        "remote_client",
                        mproc_pack("syT", address, KEY, strlen(KEY), jobs))),
                    0);
    CU_ASSERT_EQUAL(mproc_list_copy(jobs, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "['by reference', 'by name']");
    mproc_list_destroy(jobs);
    mproc_manager_destroy(m);
    /* Every interface: reached on the loopback, by children too. */
    o.address = ":0";
    CU_ASSERT_EQUAL_FATAL(mproc_manager_start(&m, &o), 0);
    CU_ASSERT_EQUAL(strncmp(mproc_manager_address(m), "127.0.0.1:", 10), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_list_create(&jobs, m, NULL), 0);
    CU_ASSERT_EQUAL(
        mproc_manager_register(m, "jobs", mproc_value_list_proxy(jobs)), 0);
    CU_ASSERT_EQUAL(
        harness_join_code(harness_start(
            "remote_client", mproc_pack("syT", mproc_manager_address(m), KEY,
                                        strlen(KEY), jobs))),
        0);
    CU_ASSERT_EQUAL(mproc_list_len(jobs, &n), 0);
    CU_ASSERT_EQUAL(n, 2);
    /* Nothing listens here: a clear failure, not a hang. */
    CU_ASSERT_EQUAL(mproc_manager_connect(&c, "127.0.0.1:1", &co),
                    MPROC_EMANAGER);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "no manager serves"));
    mproc_list_destroy(jobs);
    mproc_manager_destroy(m);
}

static void test_start_failures_are_clear(void)
{
    mproc_manager_t *a, *b = NULL;
    mproc_manager_opts_t o = {0};
    o.address = "127.0.0.1:0";
    CU_ASSERT_EQUAL_FATAL(mproc_manager_start(&a, &o), 0);
    o.address = mproc_manager_address(a);
    CU_ASSERT_EQUAL(mproc_manager_start(&b, &o), MPROC_EADDRINUSE);
    CU_ASSERT_PTR_NULL(b);
#if defined(_WIN32)
    o.address = "/tmp/manager.sock";
#else
    o.address = "\\\\.\\pipe\\manager";
#endif
    CU_ASSERT_EQUAL(mproc_manager_start(&b, &o), MPROC_EBADADDR);
    o.address = NULL;
    o.authkey_len = 3;
    CU_ASSERT_EQUAL(mproc_manager_start(&b, &o), MPROC_EINVAL);
    {
        /* A key longer than a reference carries. */
        static const char big[300] = "k";
        o.authkey = big;
        o.authkey_len = sizeof big;
        CU_ASSERT_EQUAL(mproc_manager_start(&b, &o), MPROC_EINVAL);
        o.authkey = NULL;
        o.authkey_len = 0;
    }
    CU_ASSERT_EQUAL(mproc_manager_join(a, 0), MPROC_ETIMEDOUT);
    mproc_manager_destroy(a);
}

static void test_garbage_on_the_socket(void)
{
    mproc_manager_t *m = start();
    mproc_dict_t *d;
    mproc_conn_t *raw;
    mproc_client_opts_t co = {0};
    mproc_value_t *v = NULL;
    static const char junk[] = "\xc1\xc1 not a request";
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&d, m, NULL), 0);
    /* A client that knows the key but not the protocol: answered. */
    CU_ASSERT_EQUAL_FATAL(
        mproc_client_connect(&raw, mproc_manager_address(m), &co), 0);
    CU_ASSERT_EQUAL(mproc_conn_send_bytes(raw, junk, sizeof junk), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(raw, &v), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 0)), MPROC_EREMOTE);
    CU_ASSERT_PTR_NOT_NULL(
        strstr(mproc_value_as_str(mproc_value_at(v, 1)), "malformed request"));
    mproc_value_free(v);
    v = mproc_value_list_of(2, I(999), I(0));
    CU_ASSERT_EQUAL(mproc_conn_send(raw, v), 0);
    mproc_value_free(v);
    CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(raw, &v), 0);
    CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 0)), MPROC_EREMOTE);
    mproc_value_free(v);
    {
        /* A method the object's type lacks: keys() of a list. */
        mproc_list_t *l;
        mproc_value_t *ref;
        int64_t id;
        CU_ASSERT_EQUAL_FATAL(mproc_list_create(&l, m, NULL), 0);
        ref = mproc_value_list_proxy(l);
        id = mproc_value_as_int(
            mproc_value_at(mproc__ref_fields(ref), MPROC__MGR_REF_OBJECT));
        v = mproc_value_list_of(2, I(MPROC__MGR_KEYS), I(id));
        CU_ASSERT_EQUAL(mproc_conn_send(raw, v), 0);
        mproc_value_free(v);
        CU_ASSERT_EQUAL_FATAL(mproc_conn_recv(raw, &v), 0);
        CU_ASSERT_EQUAL(mproc_value_as_int(mproc_value_at(v, 0)),
                        MPROC_EREMOTE);
        CU_ASSERT_STRING_EQUAL(mproc_value_as_str(mproc_value_at(v, 1)),
                               "'list' object has no method 'keys'");
        mproc_value_free(v);
        mproc_value_free(ref);
        mproc_list_destroy(l);
    }
    {
        /* Bytes that are no frame at all: that connection is dropped. */
        intptr_t h = 0;
        static const char noise[64] = "noise noise noise";
        CU_ASSERT_EQUAL(mproc_conn_fileno(raw, &h), 0);
#if defined(_WIN32)
        {
            DWORD wrote = 0;
            OVERLAPPED ov;
            memset(&ov, 0, sizeof ov);
            ov.hEvent = CreateEventW(NULL, TRUE, FALSE, NULL);
            if (!WriteFile((HANDLE) h, noise, sizeof noise, &wrote, &ov))
                GetOverlappedResult((HANDLE) h, &ov, &wrote, TRUE);
            CloseHandle(ov.hEvent);
        }
#else
        CU_ASSERT_EQUAL(write((int) h, noise, sizeof noise),
                        (ssize_t) sizeof noise);
#endif
        CU_ASSERT_EQUAL(mproc_conn_recv(raw, &v), MPROC_ECLOSED);
    }
    mproc_conn_close(raw);
    /* A wrong key costs only that connection. */
    co.authkey = "wrong";
    co.authkey_len = 5;
    CU_ASSERT_EQUAL(mproc_client_connect(&raw, mproc_manager_address(m), &co),
                    MPROC_EAUTH);
    /* The proxies never noticed. */
    CU_ASSERT_EQUAL(mproc_dict_set(d, S("still"), S("here")), 0);
    CU_ASSERT_EQUAL(mproc_dict_copy(d, &v), 0);
    CU_ASSERT_STRING_EQUAL(show(v), "{'still': 'here'}");
    mproc_dict_destroy(d);
    mproc_manager_destroy(m);
}

#if !defined(_WIN32)
static mproc_dict_t *inherited;

/* A fork child's copy of the parent's proxy, used as it is. */
static void use_inherited(const mproc_value_t *args)
{
    (void) args;
    CHILD_ASSERT(mproc_dict_incr(inherited, S("n"), 1, NULL) == 0);
    CHILD_ASSERT(mproc_dict_incr(inherited, S("n"), 1, NULL) == 0);
}
MPROC_TARGET(use_inherited)

static void test_a_fork_child_uses_an_inherited_proxy(void)
{
    mproc_manager_t *m = start();
    int64_t n = 0;
    CU_ASSERT_EQUAL_FATAL(mproc_dict_create(&inherited, m, NULL), 0);
    CU_ASSERT_EQUAL(mproc_dict_incr(inherited, S("n"), 1, NULL), 0);
    CU_ASSERT_EQUAL(harness_join_code(harness_start("use_inherited", NULL)), 0);
    CU_ASSERT_EQUAL(mproc_dict_incr(inherited, S("n"), 0, &n), 0);
    CU_ASSERT_EQUAL(n, 3);
    /* The child's own reference went with it; the parent's stays. */
    CU_ASSERT_EQUAL(objects(m), 1);
    mproc_dict_destroy(inherited);
    CU_ASSERT_TRUE(objects_become(m, 0));
    mproc_manager_destroy(m);
}
#endif

static const harness_test tests[] = {
    {"start, serve and shut down", test_start_serve_and_shut_down, 0},
    {"every call through proxies", test_every_call_through_proxies, 0},
    {"values stored are copies", test_values_stored_are_copies, 0},
    {"proxies as arguments", test_proxies_as_arguments, 0},
    {"proxies through a queue", test_proxies_through_a_queue, 0},
    {"proxies through a pipe", test_proxies_through_a_pipe, 0},
    {"ten workers fill a dict", test_ten_workers_fill_a_dict, 0},
    {"many processes lose no increment", test_many_processes_lose_no_increment,
     0},
    {"threads share proxies", test_threads_share_proxies, 0},
    {"slot exit runs for threads not at process exit",
     test_slot_exit_runs_for_threads_not_at_process_exit, 0},
    {"a stalled call holds up no other thread",
     test_a_stalled_call_holds_up_no_other_thread, HARNESS_SPAWN},
    {"proxies made on one thread freed on another",
     test_proxies_made_on_one_thread_freed_on_another, HARNESS_SPAWN},
    {"nested proxies live and go", test_nested_proxies_live_and_go, 0},
    {"proxies in a cycle are freed", test_proxies_in_a_cycle_are_freed, 0},
    {"shared memory in a dict", test_shared_memory_in_a_dict, 0},
    {"a reference keeps its object in transit",
     test_a_reference_keeps_its_object_in_transit, 0},
    {"a killed manager fails every call",
     test_a_killed_manager_fails_every_call, 0},
    {"a killed manager fails the calls of every thread",
     test_a_killed_manager_fails_the_calls_of_every_thread, HARNESS_SPAWN},
    {"the manager ends with its killed program",
     test_the_manager_ends_with_its_killed_program, 0},
#if !defined(_WIN32)
    {"a manager killed with its program leaves no socket",
     test_a_manager_killed_with_its_program_leaves_no_socket, 0},
    {"the program tracker removes a killed manager socket",
     test_the_program_tracker_removes_a_killed_manager_socket, 0},
#endif
    {"tcp with a key and names", test_tcp_with_a_key_and_names, 0},
    {"start failures are clear", test_start_failures_are_clear, 0},
    {"garbage on the socket", test_garbage_on_the_socket, 0},
#if !defined(_WIN32)
    {"a fork child uses an inherited proxy",
     test_a_fork_child_uses_an_inherited_proxy, HARNESS_FORK},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "manager", tests);
}
