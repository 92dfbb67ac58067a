/*
 * Poison pills: consumers take tasks from a JoinableQueue until each gets
 * a stop value.
 *
 *     class Consumer(multiprocessing.Process):
 *         def run(self):
 *             while True:
 *                 next_task = self.task_queue.get()
 *                 if next_task is None:
 *                     print('{}: Exiting'.format(proc_name))
 *                     self.task_queue.task_done()
 *                     break
 *                 print('{}: {}'.format(proc_name, next_task))
 *                 answer = next_task()
 *                 self.task_queue.task_done()
 *                 self.result_queue.put(answer)
 *
 *     class Task:
 *         def __call__(self):
 *             time.sleep(0.1)  # pretend to take time to do the work
 *             return '{self.a} * {self.b} = {product}'.format(...)
 *
 * Task is a record; None, the poison pill, is nil; the consumers are a
 * process "class" (class name Consumer).
 */
#include <stdio.h>

#include <mproc.h>

static mproc_value_t *task_call(const mproc_value_t *task)
{
    int64_t a, b;
    char text[64];
    if (mproc_unpack(task, "II", &a, &b) < 0)
        return NULL;
    mproc_sleep(0.1); /* pretend to take time to do the work */
    snprintf(text, sizeof text, "%lld * %lld = %lld", (long long) a,
             (long long) b, (long long) (a * b));
    return mproc_value_str(text);
}
MPROC_RECORD(Task, task_call)

static void consumer_run(const mproc_value_t *args)
{
    const char *name = mproc_process_name(mproc_current_process());
    mproc_queue_t *tasks, *results;
    if (mproc_unpack(args, "QQ", &tasks, &results) < 0)
        mproc_raise_last();
    for (;;) {
        mproc_value_t *task, *answer;
        int64_t a, b;
        if (mproc_queue_get(tasks, &task, MPROC_FOREVER) < 0)
            mproc_raise_last();
        if (mproc_value_type(task) == MPROC_VALUE_NIL) {
            printf("%s: Exiting\n", name);
            fflush(stdout);
            mproc_queue_task_done(tasks);
            mproc_value_free(task);
            break;
        }
        if (mproc_unpack(task, "II", &a, &b) < 0)
            mproc_raise_last();
        printf("%s: %lld * %lld\n", name, (long long) a, (long long) b);
        fflush(stdout);
        mproc_record_call(task, &answer);
        mproc_queue_task_done(tasks);
        mproc_queue_put(results, answer, MPROC_FOREVER);
        mproc_value_free(answer);
        mproc_value_free(task);
    }
}
MPROC_TARGET(consumer_run)

int main(int argc, char **argv)
{
    mproc_process_opts_t consumer = {.fn = consumer_run,
                                     .class_name = "Consumer"};
    mproc_queue_t *tasks, *results;
    mproc_process_t *consumers[64];
    int num_consumers, num_jobs = 10, i;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (mproc_joinable_queue_create(&tasks, NULL) < 0 ||
        mproc_queue_create(&results, NULL) < 0)
        return mproc_perror("queues"), 1;

    /* Start consumers. */
    num_consumers = mproc_cpu_count() * 2;
    if (num_consumers > 64)
        num_consumers = 64;
    printf("Creating %d consumers\n", num_consumers);
    for (i = 0; i < num_consumers; i++)
        if (mproc_spawn(&consumers[i], &consumer,
                        mproc_pack("QQ", tasks, results)) < 0)
            return mproc_perror("cannot start a consumer"), 1;

    /* Enqueue jobs. */
    for (i = 0; i < num_jobs; i++) {
        mproc_value_t *task =
            mproc_value_record("Task", mproc_pack("ii", i, i));
        if (mproc_queue_put(tasks, task, MPROC_FOREVER) < 0)
            return mproc_perror("put"), 1;
        mproc_value_free(task);
    }
    /* Add a poison pill for each consumer. */
    for (i = 0; i < num_consumers; i++) {
        mproc_value_t *pill = mproc_value_nil();
        mproc_queue_put(tasks, pill, MPROC_FOREVER);
        mproc_value_free(pill);
    }
    /* Wait for all of the tasks to finish. */
    mproc_queue_join(tasks, MPROC_FOREVER);

    /* Start printing results. */
    while (num_jobs-- > 0) {
        mproc_value_t *result;
        if (mproc_queue_get(results, &result, MPROC_FOREVER) < 0)
            return mproc_perror("get"), 1;
        printf("Result: %s\n", mproc_value_as_str(result));
        mproc_value_free(result);
    }
    for (i = 0; i < num_consumers; i++) {
        mproc_process_join(consumers[i], MPROC_FOREVER);
        mproc_process_destroy(consumers[i]);
    }
    mproc_queue_destroy(tasks);
    mproc_queue_destroy(results);
    return 0;
}
