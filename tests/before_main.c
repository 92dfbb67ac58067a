/*
 * A program that creates a named object and starts a process before
 * mproc_main(). Every process the runtime starts runs main() again from
 * its top, so each of those calls, if it did its work, would start a
 * tracker or a child that did the same again, without end. Both must be
 * refused with MPROC_ESTATE and "call mproc_main() first" instead, and the
 * program must work as usual once mproc_main() has run.
 *
 * Exit code 0 when all holds; otherwise 1 and a line on stderr.
 */
#include <stdio.h>
#include <string.h>

#include "mproc.h"

#if !defined(_WIN32)
    #include <errno.h>
    #include <sys/wait.h>
#endif

#define CHECK(e)                                                               \
    do {                                                                       \
        if (!(e)) {                                                            \
            fprintf(stderr, "%s:%d: check failed: %s\n", __FILE__, __LINE__,   \
                    #e);                                                       \
            return 1;                                                          \
        }                                                                      \
    } while (0)

static void child(const mproc_value_t *args)
{
    (void) args;
    mproc_exit(42);
}
MPROC_TARGET(child)

/* Whether this process has no child at all (Unix; elsewhere assumed). */
static int no_children(void)
{
#if !defined(_WIN32)
    int status;
    return waitpid(-1, &status, WNOHANG) == -1 && errno == ECHILD;
#else
    return 1;
#endif
}

int main(int argc, char **argv)
{
    mproc_lock_t *lock = NULL;
    mproc_queue_t *queue = NULL;
    mproc_process_t *p = NULL;
    mproc_process_opts_t o = {0};
    int code = -100;

    CHECK(mproc_lock_create(&lock, NULL) == MPROC_ESTATE);
    CHECK(lock == NULL);
    CHECK(strstr(mproc_last_error(), "call mproc_main() first") != NULL);
    CHECK(mproc_queue_create(&queue, NULL) == MPROC_ESTATE);
    CHECK(queue == NULL);
    o.target = "child";
    CHECK(mproc_process_create(&p, &o) == 0);
    CHECK(mproc_process_start(p) == MPROC_ESTATE);
    CHECK(strstr(mproc_last_error(), "call mproc_main() first") != NULL);
    mproc_process_destroy(p);
    p = NULL;
    CHECK(mproc_spawn(&p, &o, NULL) == MPROC_ESTATE);
    CHECK(p == NULL);
    /* Neither a tracker nor a child was started. */
    CHECK(no_children());

    /* A spawned child runs the checks above too, then its target here. */
    CHECK(mproc_main(argc, argv) == 0);

    CHECK(mproc_lock_create(&lock, NULL) == 0);
    CHECK(mproc_lock_acquire(lock, MPROC_FOREVER) == 0);
    CHECK(mproc_lock_release(lock) == 0);
    mproc_lock_destroy(lock);
    CHECK(mproc_spawn(&p, &o, NULL) == 0);
    CHECK(mproc_process_join(p, MPROC_FOREVER) == 0);
    CHECK(mproc_process_exitcode(p, &code) == 0);
    CHECK(code == 42);
    mproc_process_destroy(p);
    return 0;
}
