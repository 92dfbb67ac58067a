/*
 * Managing shared state: ten workers fill one dict that a manager keeps.
 *
 *     def worker(d, key, value):
 *         d[key] = value
 *
 *     mgr = multiprocessing.Manager()
 *     d = mgr.dict()
 *     jobs = [multiprocessing.Process(target=worker, args=(d, i, i * 2))
 *             for i in range(10)]
 *     ...
 *     print('Results:', d)
 *
 * The dict keeps the order its keys arrived in, which the scheduler
 * decides; the results are shown in the order of the keys.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mproc.h>

static void worker(const mproc_value_t *args)
{
    mproc_dict_t *d;
    int key, value;
    if (mproc_unpack(args, "Dii", &d, &key, &value) < 0 ||
        mproc_dict_set(d, mproc_value_int(key), mproc_value_int(value)) < 0)
        mproc_raise_last();
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_t *jobs[10];
    mproc_manager_t *mgr;
    mproc_dict_t *d;
    mproc_value_t *results;
    char *text;
    int i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_manager_start(&mgr, NULL) < 0 ||
        mproc_dict_create(&d, mgr, NULL) < 0)
        return mproc_perror("manager"), 1;
    for (i = 0; i < 10; i++) {
        mproc_process_opts_t o = {.fn = worker};
        if (mproc_spawn(&jobs[i], &o, mproc_pack("Dii", d, i, i * 2)) < 0)
            return mproc_perror("cannot start a worker"), 1;
    }
    for (i = 0; i < 10; i++) {
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_destroy(jobs[i]);
    }
    results = mproc_value_map();
    for (i = 0; i < 10; i++) {
        mproc_value_t *v;
        if (mproc_dict_get(d, mproc_value_int(i), &v) < 0)
            return mproc_perror("results"), 1;
        mproc_value_map_set(results, mproc_value_int(i), v);
    }
    text = mproc_value_repr(results);
    printf("Results: %s\n", text != NULL ? text : "?");
    free(text);
    mproc_value_free(results);
    mproc_dict_destroy(d);
    mproc_manager_destroy(mgr);
    return 0;
}
