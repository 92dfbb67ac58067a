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

static void worker_with(const mproc_value_t *args)
{
    mproc_lock_t *lock;
    int rc;
    if (mproc_unpack(args, "L", &lock) < 0)
        mproc_raise_last();
    MPROC_WITH_LOCK(lock, rc) {
        printf("Lock acquired via with\n");
        fflush(stdout);
    }
    if (rc < 0)
        mproc_raise_last();
}
MPROC_TARGET(worker_with)

static void worker_no_with(const mproc_value_t *args)
{
    mproc_lock_t *lock;
    if (mproc_unpack(args, "L", &lock) < 0 ||
        mproc_lock_acquire(lock, MPROC_FOREVER) < 0)
        mproc_raise_last();
    printf("Lock acquired directly\n");
    fflush(stdout);
    mproc_lock_release(lock);
}
MPROC_TARGET(worker_no_with)

int main(int argc, char **argv)
{
    mproc_process_opts_t with = {.fn = worker_with},
                         no_with = {.fn = worker_no_with};
    mproc_process_t *w, *nw;
    mproc_lock_t *lock;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_lock_create(&lock, NULL) < 0 ||
        mproc_spawn(&w, &with, mproc_pack("L", lock)) < 0 ||
        mproc_spawn(&nw, &no_with, mproc_pack("L", lock)) < 0)
        return mproc_perror("lock"), 1;
    mproc_process_join(w, MPROC_FOREVER);
    mproc_process_join(nw, MPROC_FOREVER);
    mproc_process_destroy(w);
    mproc_process_destroy(nw);
    mproc_lock_destroy(lock);
    return 0;
}
