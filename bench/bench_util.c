/*
 * What the C benchmarks share; see bench_util.h.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include "bench_util.h"

#include <errno.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

const char *const affinity_names[3] = {"none", "same", "split"};

double now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double) ts.tv_sec * 1e6 + (double) ts.tv_nsec / 1e3;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return (x > y) - (x < y);
}

double median(double *t, long n)
{
    qsort(t, (size_t) n, sizeof *t, cmp_double);
    return n % 2 ? t[n / 2] : (t[n / 2 - 1] + t[n / 2]) / 2;
}

long warmup_rounds(long n)
{
    return n / 10 < 100 ? 100 : n / 10;
}

void die(const char *what)
{
    fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
    exit(1);
}

void die_mproc(const char *what, int rc)
{
    fprintf(stderr, "%s: %s: %s (%s)\n", prog, what, mproc_last_error(),
            mproc_err_name(rc));
    exit(1);
}

int parse_affinity(const char *s)
{
    int i;
    for (i = 0; i < 3; i++)
        if (strcmp(s, affinity_names[i]) == 0)
            return i;
    return -1;
}

void pin(int cpu)
{
    cpu_set_t set;
    CPU_ZERO(&set);
    CPU_SET(cpu, &set);
    if (sched_setaffinity(0, sizeof set, &set) < 0)
        die("sched_setaffinity");
}

void place(int aff, int who)
{
    if (aff != 0)
        pin(aff == 2 && who == 1 ? 1 : 0);
}

void wait_raw_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR)
            die("waitpid");
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "%s: raw child status %d\n", prog, status);
        exit(1);
    }
}

mproc_process_t *start_mproc(const char *target, mproc_value_t *args)
{
    mproc_process_opts_t opts = {.target = target, .method = MPROC_START_FORK};
    mproc_process_t *p;
    int rc;
    if (args == NULL)
        die_mproc("arguments", MPROC_ENOMEM);
    if ((rc = mproc_spawn(&p, &opts, args)) != 0)
        die_mproc("spawn", rc);
    return p;
}

void join_mproc(mproc_process_t *p)
{
    int rc, code = -1;
    if ((rc = mproc_process_join(p, MPROC_FOREVER)) != 0)
        die_mproc("join", rc);
    if (mproc_process_exitcode(p, &code) != 0 || code != 0) {
        fprintf(stderr, "%s: child exit code %d\n", prog, code);
        exit(1);
    }
    mproc_process_destroy(p);
}
