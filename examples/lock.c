/*
 * Lock: two workers take turns writing to a shared stream.
 *
 *     def worker_with(lock, stream):
 *         with lock:
 *             stream.write('Lock acquired via with\n')
 *
 *     def worker_no_with(lock, stream):
 *         lock.acquire()
 *         try:
 *             stream.write('Lock acquired directly\n')
 *         finally:
 *             lock.release()
 *
 * C's `with` is MPROC_WITH_LOCK, a scoped acquire; the plain pair works too.
 */
#include <stdio.h>

#include <mproc.h>

static mproc_lock_t *lock_arg(const mproc_value_t *args)
{
    mproc_lock_t *lock;
    if (mproc_lock_import(&lock, mproc_value_at(args, 0)) != 0)
        mproc_raise("%s", mproc_last_error());
    return lock;
}

static void worker_with(const mproc_value_t *args)
{
    mproc_lock_t *lock = lock_arg(args);
    int rc;
    MPROC_WITH_LOCK(lock, rc) {
        printf("Lock acquired via with\n");
        fflush(stdout);
    }
    if (rc < 0)
        mproc_raise("%s", mproc_last_error());
    mproc_lock_destroy(lock);
}
MPROC_TARGET(worker_with)

static void worker_no_with(const mproc_value_t *args)
{
    mproc_lock_t *lock = lock_arg(args);
    mproc_lock_acquire(lock, MPROC_FOREVER);
    printf("Lock acquired directly\n");
    fflush(stdout);
    mproc_lock_release(lock);
    mproc_lock_destroy(lock);
}
MPROC_TARGET(worker_no_with)

int main(int argc, char **argv)
{
    static const char *const targets[] = {"worker_with", "worker_no_with"};
    mproc_process_t *w[2];
    mproc_lock_t *lock;
    mproc_value_t *ref;
    int i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_lock_create(&lock, NULL) != 0 ||
        mproc_lock_export(lock, &ref) != 0) {
        fprintf(stderr, "%s\n", mproc_last_error());
        return 1;
    }
    for (i = 0; i < 2; i++) {
        mproc_value_t *args = mproc_value_list_of(1, mproc_value_copy(ref));
        mproc_process_opts_t o = {.target = targets[i], .args = args};
        if (mproc_process_create(&w[i], &o) != 0 ||
            mproc_process_start(w[i]) != 0) {
            fprintf(stderr, "%s\n", mproc_last_error());
            return 1;
        }
        mproc_value_free(args);
    }
    for (i = 0; i < 2; i++) {
        mproc_process_join(w[i], MPROC_FOREVER);
        mproc_process_destroy(w[i]);
    }
    mproc_value_free(ref);
    mproc_lock_destroy(lock);
    return 0;
}
