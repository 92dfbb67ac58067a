/*
 * A process "class": C's version of subclassing Process.
 *
 *     class Worker(multiprocessing.Process):
 *         def run(self):
 *             print('In {}'.format(self.name))
 *
 * In C a class is an options template: the run function (a registered
 * target) and the class name that default names are made of, so the
 * instances are Worker-1 ... Worker-5.
 */
#include <stdio.h>

#include <mproc.h>

static void worker_run(const mproc_value_t *args)
{
    printf("In %s\n", mproc_process_name(mproc_current_process()));
}
MPROC_TARGET(worker_run)

static const mproc_process_opts_t worker_class = {
    .fn = worker_run,
    .class_name = "Worker",
};

int main(int argc, char **argv)
{
    mproc_process_t *jobs[5];
    int i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    for (i = 0; i < 5; i++)
        if (mproc_spawn(&jobs[i], &worker_class, NULL) < 0)
            return mproc_perror("cannot start a worker"), 1;
    for (i = 0; i < 5; i++) {
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_destroy(jobs[i]);
    }
    return 0;
}
