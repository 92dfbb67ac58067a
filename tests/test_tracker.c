/*
 * The resource tracker (Unix): when a whole process tree that holds named
 * objects is killed with SIGKILL, nothing of it remains in /dev/shm: not
 * when the tracker was sent SIGINT and SIGTERM first, and not when it was
 * killed itself and replaced.
 *
 * This suite's own process never creates a named object, so the tree it
 * starts has a tracker of its own, which must outlive the tree.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "mproc_private.h"
#include "os_internal.h"

/* args: event "ready_b": opens what it is given, says so, and waits. */
static void tree_grandchild(const mproc_value_t *args)
{
    mproc_lock_t *l;
    mproc_sem_t *s;
    mproc_event_t *ready;
    if (mproc_lock_import(&l, mproc_value_at(args, 0)) != 0 ||
        mproc_sem_import(&s, mproc_value_at(args, 1)) != 0 ||
        mproc_event_import(&ready, mproc_value_at(args, 2)) != 0)
        mproc_exit(2);
    mproc_lock_acquire(l, MPROC_FOREVER);
    mproc_event_set(ready);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(tree_grandchild)

/* The name in a named object's reference. */
static const char *ref_name(const mproc_value_t *ref)
{
    return mproc_value_as_str(mproc_value_at(mproc__ref_fields(ref), 0));
}

/*
 * The parent's fork-only events: the tree says "ready" through memory;
 * after the tracker is killed, "go" asks the root for one more named
 * object, and "again" says it has made it.
 */
static mproc_event_t *g_ready, *g_go, *g_again;

/*
 * Creates several named objects, starts a spawned grandchild that opens
 * them, writes "pid grandchild_pid tracker_pid journal name..." to
 * args[0], sets the parent's event and waits to be killed. When the
 * tracker is to be killed without churn first, it is stopped after the
 * first name, as a tracker that lags behind its clients: the others wait
 * unread in its connection until the parent lets it go. (The churn would
 * fill that connection and wait for it.)
 */
static void tree_root(const mproc_value_t *args)
{
    mproc_lock_t *l;
    mproc_sem_t *s;
    mproc_event_t *ready_b;
    mproc_barrier_t *b;
    mproc_cond_t *c;
    mproc_value_t *lr, *sr, *er, *br, *cr;
    mproc_process_t *g;
    char names[5 * 40], journal[256];
    FILE *f;
    if (mproc_lock_create(&l, NULL) != 0)
        mproc_exit(3);
    if (g_go != NULL && mproc_value_as_int(mproc_value_at(args, 1)) == 0 &&
        kill((pid_t) mproc__unix_tracker_pid(), SIGSTOP) != 0)
        mproc_exit(3);
    if (mproc_sem_create(&s, 1, NULL) ||
        mproc_event_create(&ready_b, NULL) != 0 ||
        mproc_barrier_create(&b, 2, NULL) != 0 ||
        mproc_cond_create(&c, NULL) != 0 || mproc_lock_export(l, &lr) != 0 ||
        mproc_sem_export(s, &sr) != 0 ||
        mproc_event_export(ready_b, &er) != 0 ||
        mproc_barrier_export(b, &br) != 0 || mproc_cond_export(c, &cr) != 0)
        mproc_exit(3);
    snprintf(names, sizeof names, "%s %s %s %s %s", ref_name(lr), ref_name(sr),
             ref_name(er), ref_name(br), ref_name(cr));
    mproc_value_free(br);
    mproc_value_free(cr);
    {
        mproc_value_t *gargs = mproc_value_list_of(3, lr, sr, er);
        mproc_process_opts_t o = {.target = "tree_grandchild",
                                  .args = gargs,
                                  .method = MPROC_START_SPAWN};
        if (mproc_process_create(&g, &o) != 0 || mproc_process_start(g) != 0)
            mproc_exit(4);
        mproc_value_free(gargs);
    }
    if (mproc_event_wait(ready_b, 15) != 0)
        mproc_exit(5);
    /*
     * With args[1] set: many names come and go first, so that the
     * tracker's journal has been rewritten before the tracker is killed.
     */
    if (mproc_value_as_int(mproc_value_at(args, 1)) != 0) {
        int i;
        for (i = 0; i < 1500; i++) {
            mproc_lock_t *churn;
            if (mproc_lock_create(&churn, NULL) != 0)
                mproc_exit(7);
            mproc_lock_destroy(churn);
        }
    }
    if (mproc__unix_tracker_journal(journal, sizeof journal) != 0)
        mproc_exit(8);
    f = fopen(mproc_value_as_str(mproc_value_at(args, 0)), "w");
    fprintf(f, "%ld %ld %ld %s %s\n", mproc__os_getpid(), mproc_process_pid(g),
            mproc__unix_tracker_pid(), journal, names);
    fclose(f);
    mproc_event_set(g_ready);
    if (g_go != NULL && mproc_event_wait(g_go, 60) == 0) {
        mproc_lock_t *more;
        mproc_value_t *mr;
        /* The first named-object call since the tracker was killed. */
        if (mproc_lock_create(&more, NULL) != 0 ||
            mproc_lock_export(more, &mr) != 0)
            mproc_exit(6);
        f = fopen(mproc_value_as_str(mproc_value_at(args, 0)), "w");
        fprintf(f, "%ld %s\n", mproc__unix_tracker_pid(), ref_name(mr));
        fclose(f);
        mproc_event_set(g_again);
    }
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(tree_root)

/* 1 if @name is one of the lines of @list. */
static int has_line(const char *list, const char *name)
{
    size_t n = strlen(name);
    const char *p = list;
    while (p != NULL && (p = strstr(p, name)) != NULL) {
        if ((p == list || p[-1] == '\n') && p[n] == '\n')
            return 1;
        p += n;
    }
    return 0;
}

/* Adds the space-separated names of @text to @names[@n..]; the new count. */
static size_t read_names(const char *text, char names[][40], size_t n)
{
    int used = 0;
    while (n < 8 && sscanf(text, "%39s %n", names[n], &used) == 1) {
        text += used;
        n++;
    }
    return n;
}

/*
 * 1 once the journal at @path registers each of @names[0..@n) (a tracker
 * that is killed knows only what it has written there), 0 if it has not
 * within 30 seconds of its last change.
 */
static int wait_journal_lists(const char *path, char names[][40], size_t n)
{
    char dir[256];
    const char *slash = strrchr(path, '/');
    int fd = inotify_init1(IN_CLOEXEC), ok = 0;
    if (fd < 0 || slash == NULL || (size_t) (slash - path) >= sizeof dir) {
        if (fd >= 0)
            close(fd);
        return 0;
    }
    memcpy(dir, path, (size_t) (slash - path));
    dir[slash - path] = '\0';
    /* The directory, not the file: a rewritten journal is a new file. */
    if (inotify_add_watch(fd, dir, IN_MODIFY | IN_MOVED_TO | IN_CREATE) < 0) {
        close(fd);
        return 0;
    }
    for (;;) {
        char *text = harness_read_file(path), line[48], events[4096];
        size_t i;
        struct pollfd p;
        ok = text != NULL;
        for (i = 0; ok && i < n; i++) {
            snprintf(line, sizeof line, "R %.39s", names[i]);
            ok = has_line(text, line);
        }
        free(text);
        if (ok)
            break;
        p.fd = fd;
        p.events = POLLIN;
        /* A bounded wait for an event that has no other way to be observed. */
        if (poll(&p, 1, 30000) != 1 || read(fd, events, sizeof events) <= 0)
            break;
    }
    close(fd);
    return ok;
}

/* What to do to the tracker before the tree is killed. */
enum {
    TRACKER_LEFT_ALONE,
    TRACKER_SIGNALLED,
    TRACKER_KILLED,
    TRACKER_KILLED_AFTER_CHURN
};

static void kill_tree_and_check(int what)
{
    mproc_sync_opts_t o = {.fork_only = 1};
    mproc_process_t *root;
    mproc_process_opts_t po = {0};
    char *path = harness_temp_path("tree"), *text;
    long root_pid = 0, grandchild = 0, tracker = 0;
    char names[8][40], journal[256] = "";
    size_t nnames = 0, i;
    int at = 0;
    char *before = harness_list_shm(), *during = NULL, *after = NULL;
    int code = 0;

    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&g_ready, &o), 0);
    if (what >= TRACKER_KILLED) {
        CU_ASSERT_EQUAL_FATAL(mproc_event_create(&g_go, &o), 0);
        CU_ASSERT_EQUAL_FATAL(mproc_event_create(&g_again, &o), 0);
    }
    po.target = "tree_root";
    po.method = MPROC_START_FORK;
    po.args = mproc_value_list_of(
        2, mproc_value_str(path),
        mproc_value_int(what == TRACKER_KILLED_AFTER_CHURN));
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&root, &po), 0);
    mproc_value_free((mproc_value_t *) po.args);
    CU_ASSERT_EQUAL_FATAL(mproc_process_start(root), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_wait(g_ready, 15), 0);

    text = harness_read_file(path);
    CU_ASSERT_PTR_NOT_NULL_FATAL(text);
    CU_ASSERT_EQUAL(sscanf(text, "%ld %ld %ld %255s %n", &root_pid, &grandchild,
                           &tracker, journal, &at),
                    4);
    nnames = read_names(text + at, names, nnames);
    during = harness_list_shm();
    CU_ASSERT_PTR_NOT_NULL_FATAL(before);
    CU_ASSERT_PTR_NOT_NULL_FATAL(during);
    CU_ASSERT(harness_count_new_names(before, during, NULL) >= 5);
    if (what == TRACKER_SIGNALLED) {
        /*
         * What a Ctrl-C in the program's terminal or a kill of the program
         * sends: the tracker must take both and still do its work.
         */
        CU_ASSERT_EQUAL(kill((pid_t) tracker, SIGINT), 0);
        CU_ASSERT_EQUAL(kill((pid_t) tracker, SIGTERM), 0);
    }
    if (what >= TRACKER_KILLED) {
        long replacement = 0;
        char *again;
        /*
         * The tracker dies with every name registered: the root's next
         * named object starts a replacement, which must learn them all.
         * Registered means written down by the tracker, not sent to it:
         * what waits unread in its connection dies with it.
         */
        CU_ASSERT_EQUAL(kill((pid_t) tracker, SIGCONT), 0);
        CU_ASSERT_TRUE(wait_journal_lists(journal, names, nnames));
        CU_ASSERT_EQUAL(kill((pid_t) tracker, SIGKILL), 0);
        CU_ASSERT_TRUE(harness_wait_pid_gone(tracker));
        mproc_event_set(g_go);
        CU_ASSERT_EQUAL_FATAL(mproc_event_wait(g_again, 15), 0);
        again = harness_read_file(path);
        CU_ASSERT_PTR_NOT_NULL_FATAL(again);
        CU_ASSERT_EQUAL(sscanf(again, "%ld %n", &replacement, &at), 1);
        nnames = read_names(again + at, names, nnames);
        CU_ASSERT(replacement > 0 && replacement != tracker);
        tracker = replacement;
        free(again);
        free(during);
        during = harness_list_shm();
        CU_ASSERT_PTR_NOT_NULL_FATAL(during);
    }
    /* The whole tree, at once, with no chance to clean up. */
    kill((pid_t) grandchild, SIGKILL);
    CU_ASSERT_EQUAL(mproc_process_kill(root), 0);
    CU_ASSERT_EQUAL(mproc_process_join(root, MPROC_FOREVER), 0);
    CU_ASSERT_EQUAL(mproc_process_exitcode(root, &code), 0);
    CU_ASSERT_EQUAL(code, -9);
    CU_ASSERT_TRUE(harness_wait_pid_gone(grandchild));
    /* The tracker survives the tree, cleans up, and leaves. */
    CU_ASSERT(tracker > 0);
    CU_ASSERT_TRUE(harness_wait_pid_gone(tracker));
    after = harness_list_shm();
    CU_ASSERT_PTR_NOT_NULL_FATAL(after);
    /*
     * Judged by the names the tree made, not by every mproc name that came
     * and stayed meanwhile: other programs on the machine make theirs.
     */
    CU_ASSERT(nnames >= 5);
    for (i = 0; i < nnames; i++) {
        CU_ASSERT_TRUE(has_line(during, names[i]));
        CU_ASSERT_FALSE(has_line(after, names[i]));
    }
    free(before);
    free(during);
    free(after);

    mproc_process_destroy(root);
    mproc_event_destroy(g_ready);
    if (g_go != NULL) {
        mproc_event_destroy(g_go);
        mproc_event_destroy(g_again);
        g_go = g_again = NULL;
    }
    free(text);
    remove(path);
    free(path);
}

static void test_killed_tree_leaves_nothing(void)
{
    kill_tree_and_check(TRACKER_LEFT_ALONE);
}

static void test_tracker_ignores_sigint_and_sigterm(void)
{
    kill_tree_and_check(TRACKER_SIGNALLED);
}

static void test_killed_tracker_is_replaced_with_what_it_knew(void)
{
    kill_tree_and_check(TRACKER_KILLED);
}

static void test_replacement_learns_after_many_names(void)
{
    kill_tree_and_check(TRACKER_KILLED_AFTER_CHURN);
}

static const harness_test tests[] = {
    {"killed tree leaves nothing", test_killed_tree_leaves_nothing, 0},
    {"tracker ignores SIGINT and SIGTERM",
     test_tracker_ignores_sigint_and_sigterm, 0},
    {"killed tracker is replaced with what it knew",
     test_killed_tracker_is_replaced_with_what_it_knew, 0},
    {"replacement learns after many names",
     test_replacement_learns_after_many_names, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "tracker", tests);
}
