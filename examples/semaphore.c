/*
 * Semaphore: at most three of ten workers run at once.
 *
 *     class ActivePool:
 *         def __init__(self):
 *             self.mgr = multiprocessing.Manager()
 *             self.active = self.mgr.list()
 *             self.lock = multiprocessing.Lock()
 *
 *     def worker(s, pool):
 *         with s:
 *             pool.makeActive(name)
 *             print('Activating {} now running {}'.format(name, pool))
 *             time.sleep(random.random())
 *             pool.makeInactive(name)
 *
 * The active set is a list kept by a manager, as in the tour, and the Lock
 * makes each change and the line that shows it one step. A Namespace
 * keeps the most workers seen at once, so the example proves the bound it
 * shows.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

#define WORKERS 10
#define BOUND 3

static void worker(const mproc_value_t *args)
{
    const char *name = mproc_process_name(mproc_current_process());
    mproc_sem_t *s;
    mproc_list_t *active;
    mproc_lock_t *lock;
    mproc_namespace_t *stats;
    mproc_value_t *shown = NULL, *most = NULL;
    char *text;
    size_t n = 0;
    int rc;

    if (mproc_unpack(args, "STLN", &s, &active, &lock, &stats) < 0 ||
        mproc_sem_acquire(s, MPROC_FOREVER) < 0)
        mproc_raise_last();
    MPROC_WITH_LOCK(lock, rc) {
        /* makeActive(name), and the line that shows the pool. */
        if (mproc_list_append(active, mproc_value_str(name)) < 0 ||
            mproc_list_copy(active, &shown) < 0 ||
            mproc_namespace_get(stats, "most", &most) < 0)
            mproc_raise_last();
        n = mproc_value_len(shown);
        if ((int64_t) n > mproc_value_as_int(most) &&
            mproc_namespace_set(stats, "most", mproc_value_int((int64_t) n)) <
                0)
            mproc_raise_last();
        text = mproc_value_repr(shown);
        printf("Activating %s now running %s\n", name, text ? text : "?");
        fflush(stdout);
        free(text);
        mproc_value_free(shown);
        mproc_value_free(most);
    }
    if (rc < 0)
        mproc_raise_last();
    mproc_sleep((double) (rand() % 50) / 1000.0); /* the work */
    MPROC_WITH_LOCK(lock, rc) {
        /* makeInactive(name) */
        if (mproc_list_remove(active, mproc_value_str(name)) < 0)
            mproc_raise_last();
    }
    if (rc < 0)
        mproc_raise_last();
    mproc_sem_release(s);
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_t *jobs[WORKERS];
    mproc_manager_t *mgr;
    mproc_list_t *active;
    mproc_namespace_t *stats;
    mproc_sem_t *s;
    mproc_lock_t *lock;
    mproc_value_t *most = NULL;
    size_t left = 0;
    char name[16];
    int i, failed = 0;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_manager_start(&mgr, NULL) < 0 ||
        mproc_list_create(&active, mgr, NULL) < 0 ||
        mproc_namespace_create(&stats, mgr, NULL) < 0 ||
        mproc_namespace_set(stats, "most", mproc_value_int(0)) < 0 ||
        mproc_sem_create(&s, BOUND, NULL) < 0 ||
        mproc_lock_create(&lock, NULL) < 0)
        return mproc_perror("semaphore"), 1;
    for (i = 0; i < WORKERS; i++) {
        mproc_process_opts_t o = {.fn = worker, .name = name};
        snprintf(name, sizeof name, "%d", i);
        if (mproc_spawn(&jobs[i], &o,
                        mproc_pack("STLN", s, active, lock, stats)) < 0)
            return mproc_perror("cannot start a worker"), 1;
    }
    for (i = 0; i < WORKERS; i++) {
        int code = -1;
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_exitcode(jobs[i], &code);
        failed |= code != 0;
        mproc_process_destroy(jobs[i]);
    }
    if (mproc_namespace_get(stats, "most", &most) < 0 ||
        mproc_list_len(active, &left) < 0)
        return mproc_perror("semaphore"), 1;
    printf("Most active at once: %d (the bound is %d)\n",
           (int) mproc_value_as_int(most), BOUND);
    failed |= mproc_value_as_int(most) > BOUND || left != 0;
    mproc_value_free(most);
    mproc_list_destroy(active);
    mproc_namespace_destroy(stats);
    mproc_manager_destroy(mgr);
    mproc_sem_destroy(s);
    mproc_lock_destroy(lock);
    return failed;
}
