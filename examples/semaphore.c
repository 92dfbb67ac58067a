/*
 * Semaphore: at most three of ten workers run at once.
 *
 *     def worker(s, pool):
 *         with s:
 *             pool.makeActive(name)
 *             print('Activating {} now running {}'.format(name, pool))
 *             time.sleep(random.random())
 *             pool.makeInactive(name)
 *
 * The tour keeps the active set in a Manager list; until the manager
 * exists, this keeps it in a small file guarded by a Lock. Each worker
 * checks the set it joins, so the example proves the bound it shows.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

#define WORKERS 10
#define BOUND 3

/* The active set: one name per line in the file named by the config. */
typedef struct pool {
    char names[WORKERS][16];
    int n;
    int most; /* the largest n seen; kept on the file's first line */
} pool;

static void pool_load(pool *p)
{
    FILE *f = fopen(mproc_config_get("pool_file"), "r");
    memset(p, 0, sizeof *p);
    if (f == NULL)
        return;
    if (fscanf(f, "%d\n", &p->most) != 1)
        p->most = 0;
    while (p->n < WORKERS && fscanf(f, "%15s\n", p->names[p->n]) == 1)
        p->n++;
    fclose(f);
}

static void pool_save(const pool *p)
{
    FILE *f = fopen(mproc_config_get("pool_file"), "w");
    int i;
    if (f == NULL)
        mproc_raise("cannot write the pool file");
    fprintf(f, "%d\n", p->most);
    for (i = 0; i < p->n; i++)
        fprintf(f, "%s\n", p->names[i]);
    fclose(f);
}

static void pool_format(const pool *p, char *buf, size_t cap)
{
    size_t used = (size_t) snprintf(buf, cap, "[");
    int i;
    for (i = 0; i < p->n && used < cap; i++)
        used += (size_t) snprintf(buf + used, cap - used, "%s'%s'",
                                  i ? ", " : "", p->names[i]);
    if (used < cap)
        snprintf(buf + used, cap - used, "]");
}

static void worker(const mproc_value_t *args)
{
    const char *name = mproc_process_name(mproc_current_process());
    mproc_sem_t *s;
    mproc_lock_t *lock;
    pool p;
    char shown[256];
    int i, rc;

    if (mproc_unpack(args, "SL", &s, &lock) < 0 ||
        mproc_sem_acquire(s, MPROC_FOREVER) < 0)
        mproc_raise_last();
    MPROC_WITH_LOCK(lock, rc) {
        pool_load(&p);
        snprintf(p.names[p.n++], sizeof p.names[0], "%s", name);
        if (p.n > p.most)
            p.most = p.n;
        pool_save(&p);
        pool_format(&p, shown, sizeof shown);
        printf("Activating %s now running %s\n", name, shown);
        fflush(stdout);
    }
    if (rc < 0)
        mproc_raise_last();
    mproc_sleep((double) (rand() % 50) / 1000.0); /* the work */
    MPROC_WITH_LOCK(lock, rc) {
        pool_load(&p);
        for (i = 0; i < p.n; i++)
            if (strcmp(p.names[i], name) == 0)
                memcpy(p.names[i], p.names[--p.n], sizeof p.names[0]);
        pool_save(&p);
    }
    if (rc < 0)
        mproc_raise_last();
    mproc_sem_release(s);
}
MPROC_TARGET(worker)

int main(int argc, char **argv)
{
    mproc_process_t *jobs[WORKERS];
    mproc_sem_t *s;
    mproc_lock_t *lock;
    char path[64], name[16];
    pool p;
    int i, failed = 0;

    if (mproc_main(argc, argv) != 0)
        return 1;
    snprintf(path, sizeof path, "mproc-semaphore-%ld.pool",
             mproc_process_pid(mproc_current_process()));
    mproc_config_set("pool_file", path);
    remove(path);
    if (mproc_sem_create(&s, BOUND, NULL) < 0 ||
        mproc_lock_create(&lock, NULL) < 0)
        return mproc_perror("semaphore"), 1;
    for (i = 0; i < WORKERS; i++) {
        mproc_process_opts_t o = {.fn = worker, .name = name};
        snprintf(name, sizeof name, "%d", i);
        if (mproc_spawn(&jobs[i], &o, mproc_pack("SL", s, lock)) < 0)
            return mproc_perror("cannot start a worker"), 1;
    }
    for (i = 0; i < WORKERS; i++) {
        int code = -1;
        mproc_process_join(jobs[i], MPROC_FOREVER);
        mproc_process_exitcode(jobs[i], &code);
        failed |= code != 0;
        mproc_process_destroy(jobs[i]);
    }
    pool_load(&p);
    printf("Most active at once: %d (the bound is %d)\n", p.most, BOUND);
    remove(path);
    mproc_sem_destroy(s);
    mproc_lock_destroy(lock);
    return failed || p.most > BOUND || p.n != 0;
}
