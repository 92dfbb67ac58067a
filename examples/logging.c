/*
 * Logging: the runtime tells what it does, in Python's words.
 *
 *     multiprocessing.log_to_stderr(logging.DEBUG)      # "debug"
 *
 *     logger = multiprocessing.log_to_stderr()          # "info"
 *     logger.setLevel(logging.INFO)
 *
 * The child inherits the level, whatever the start method.
 */
#include <stdio.h>
#include <string.h>

#include <mproc.h>

static void worker(const mproc_value_t *args)
{
    printf("Doing some work\n");
    fflush(stdout);
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_t *p;
    mproc_process_opts_t opts = {.fn = worker};

    if (mproc_main(argc, argv) != 0)
        return 1;

    if (argc > 1 && strcmp(argv[1], "info") == 0) {
        /* A logger whose level is changed after it was set up. */
        mproc_log_to_stderr(MPROC_LOG_NOTSET);
        mproc_log_set_level(MPROC_LOG_INFO);
    } else {
        mproc_log_to_stderr(MPROC_LOG_DEBUG);
    }
    if (mproc_spawn(&p, &opts, NULL) < 0)
        return mproc_perror("cannot start worker"), 1;
    mproc_process_join(p, MPROC_FOREVER);
    mproc_process_destroy(p);
    return 0;
}
