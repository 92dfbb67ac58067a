/*
 * Progress of a long map: a one-line bar over an imap_unordered of 3000
 * tasks, drawn by the call's progress callback in this process, as tqdm
 * draws one over pool.imap_unordered in Python:
 *
 *     for r in tqdm(pool.imap_unordered(work, range(3000)), total=3000):
 *         total += r
 *
 * On a terminal the bar is redrawn in place; into a pipe or a file it is a
 * plain line at each tenth of the way, and nothing is redrawn.
 */
#if !defined(_WIN32) && !defined(_POSIX_C_SOURCE)
    #define _POSIX_C_SOURCE 200809L /* isatty() */
#endif
#include <stdio.h>

#if defined(_WIN32)
    #include <io.h>
    #define stdout_is_terminal() _isatty(_fileno(stdout))
#else
    #include <unistd.h>
    #define stdout_is_terminal() isatty(STDOUT_FILENO)
#endif

#include <mproc.h>

#define TASKS 3000
#define WIDTH 40

/* A small task: a sum of squares, a few microseconds of work. */
static mproc_value_t *work(const mproc_value_t *args)
{
    int64_t n, i, sum = 0;
    if (mproc_unpack(args, "I", &n) < 0)
        mproc_raise_last();
    for (i = 0; i < 2000; i++)
        sum += (n + i) % 7 * ((n + i) % 7);
    return mproc_value_int(sum);
}
MPROC_POOL_TARGET(work)

typedef struct bar {
    int terminal;
    size_t tenths; /* the tenths of the way printed so far */
} bar;

static void show(void *arg, size_t done, size_t total, size_t failed)
{
    bar *b = arg;
    if (total == 0)
        return;
    if (b->terminal) {
        size_t fill = done * WIDTH / total, i;
        printf("\r[");
        for (i = 0; i < WIDTH; i++)
            putchar(i < fill ? '#' : '.');
        printf("] %3zu%% %zu/%zu", done * 100 / total, done, total);
        if (failed > 0)
            printf(" (%zu failed)", failed);
        if (done == total)
            putchar('\n');
        fflush(stdout);
        return;
    }
    /* A line for each tenth passed, however many at once. */
    while (b->tenths < done * 10 / total) {
        b->tenths++;
        printf("progress: %3zu%% (%zu/%zu done, %zu failed)\n", b->tenths * 10,
               done, total, failed);
    }
}

int main(int argc, char **argv)
{
    mproc_pool_call_opts_t call = {0};
    mproc_value_t *inputs, *r;
    mproc_pool_t *pool;
    mproc_imap_t *it;
    bar b = {0, 0};
    int64_t total = 0;
    size_t n = 0;
    int i, rc;

    if (mproc_main(argc, argv) != 0)
        return 1;
    b.terminal = stdout_is_terminal();
    inputs = mproc_value_list();
    for (i = 0; i < TASKS; i++)
        mproc_value_append(inputs, mproc_value_int(i));
    call.progress = show;
    call.arg = &b;
    if (mproc_pool_create(&pool, NULL) < 0 ||
        mproc_pool_imap_unordered(pool, work, inputs, &call, &it) < 0)
        return mproc_perror("pool"), 1;
    while ((rc = mproc_imap_next(it, MPROC_FOREVER, &r)) != MPROC_ESTOP) {
        if (rc < 0)
            return mproc_perror("task"), 1;
        total += mproc_value_as_int(r);
        n++;
        mproc_value_free(r);
    }
    mproc_imap_destroy(it);
    mproc_pool_close(pool);
    mproc_pool_join(pool, MPROC_FOREVER);
    mproc_pool_destroy(pool);
    printf("done: %zu results, total %lld\n", n, (long long) total);
    mproc_value_free(inputs);
    return 0;
}
