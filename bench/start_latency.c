/*
 * Process start+join latency: mproc's three start methods beside the raw OS
 * calls they are built on.
 *
 *   bench_start_latency mproc spawn|fork|forkserver N
 *       N sequential mproc_process_create + start + join + destroy of a
 *       child that runs a do-nothing target, under that start method
 *       (opts.method). One untimed warm-up comes first:
 *       it also starts the forkserver, whose start-up is excluded.
 *   bench_start_latency raw fork N
 *       fork(); the child calls _exit(0); the parent waitpid()s.
 *   bench_start_latency raw posix_spawn N
 *       posix_spawn() of /proc/self/exe with argv {exe, "--noop"}, then
 *       waitpid(): the OS floor of spawn, for this very binary (same size,
 *       same dynamic libraries, same constructors), minus mproc's work.
 *   bench_start_latency --noop
 *       exits 0 at once, before mproc_main(): the child of raw posix_spawn.
 *
 * Each iteration is timed with clock_gettime(CLOCK_MONOTONIC). The program
 * prints one JSON line:
 *   {"impl":"mproc"|"raw","method":...,"n":N,"median_us":...,"mean_us":...,
 *    "min_us":...}
 * bench/start_latency.py prints the same line for Python's multiprocessing;
 * bench/run.sh runs both, interleaved, and tabulates them.
 */
#ifndef _GNU_SOURCE
    #define _GNU_SOURCE
#endif
#include <errno.h>
#include <limits.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <mproc.h>

#include "bench_util.h"

const char *prog = "bench_start_latency";

extern char **environ;

static void noop(const mproc_value_t *args)
{
    (void) args;
}
MPROC_TARGET(noop)

static void report(const char *impl, const char *method, double *t, long n)
{
    double sum = 0, mid;
    long i;
    mid = median(t, n);
    for (i = 0; i < n; i++)
        sum += t[i];
    printf("{\"impl\": \"%s\", \"method\": \"%s\", \"n\": %ld, "
           "\"median_us\": %.1f, \"mean_us\": %.1f, \"min_us\": %.1f}\n",
           impl, method, n, mid, sum / (double) n, t[0]);
    fflush(stdout);
}

static int fail(const char *what, int rc)
{
    fprintf(stderr, "bench_start_latency: %s: %s (%s)\n", what,
            mproc_last_error(), mproc_err_name(rc));
    return 1;
}

/* One start+join of the no-op target; 0 on success. */
static int mproc_once(mproc_start_method_e method)
{
    mproc_process_opts_t opts = {0};
    mproc_process_t *p;
    int rc, code = -1;
    opts.target = "noop";
    opts.method = method;
    if ((rc = mproc_process_create(&p, &opts)) != 0)
        return fail("create", rc);
    if ((rc = mproc_process_start(p)) != 0) {
        mproc_process_destroy(p);
        return fail("start", rc);
    }
    if ((rc = mproc_process_join(p, MPROC_FOREVER)) != 0)
        return fail("join", rc);
    if ((rc = mproc_process_exitcode(p, &code)) != 0 || code != 0) {
        fprintf(stderr, "bench_start_latency: child exit code %d\n", code);
        mproc_process_destroy(p);
        return 1;
    }
    mproc_process_destroy(p);
    return 0;
}

static int bench_mproc(const char *method, double *t, long n)
{
    mproc_start_method_e m;
    long i;
    if (strcmp(method, "spawn") == 0)
        m = MPROC_START_SPAWN;
    else if (strcmp(method, "fork") == 0)
        m = MPROC_START_FORK;
    else if (strcmp(method, "forkserver") == 0)
        m = MPROC_START_FORKSERVER;
    else {
        fprintf(stderr, "bench_start_latency: unknown method '%s'\n", method);
        return 2;
    }
    if (!mproc_start_method_available(m)) {
        fprintf(stderr, "bench_start_latency: no %s start method here\n",
                method);
        return 2;
    }
    /* Warm-up: page cache, lazy binding, and the forkserver's start. */
    if (mproc_once(m) != 0)
        return 1;
    for (i = 0; i < n; i++) {
        double t0 = now_us();
        if (mproc_once(m) != 0)
            return 1;
        t[i] = now_us() - t0;
    }
    report("mproc", method, t, n);
    return 0;
}

static int wait_child(pid_t pid)
{
    int status;
    while (waitpid(pid, &status, 0) < 0)
        if (errno != EINTR) {
            perror("bench_start_latency: waitpid");
            return 1;
        }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "bench_start_latency: raw child status %d\n", status);
        return 1;
    }
    return 0;
}

static int raw_fork_once(void)
{
    pid_t pid = fork();
    if (pid < 0) {
        perror("bench_start_latency: fork");
        return 1;
    }
    if (pid == 0)
        _exit(0);
    return wait_child(pid);
}

static int raw_spawn_once(char *exe)
{
    char *argv[] = {exe, "--noop", NULL};
    pid_t pid;
    int err = posix_spawn(&pid, exe, NULL, NULL, argv, environ);
    if (err != 0) {
        fprintf(stderr, "bench_start_latency: posix_spawn: %s\n",
                strerror(err));
        return 1;
    }
    return wait_child(pid);
}

static int bench_raw(const char *method, double *t, long n)
{
    static char exe[PATH_MAX];
    int spawn;
    long i;
    if (strcmp(method, "fork") == 0)
        spawn = 0;
    else if (strcmp(method, "posix_spawn") == 0)
        spawn = 1;
    else {
        fprintf(stderr, "bench_start_latency: unknown raw method '%s'\n",
                method);
        return 2;
    }
    /* Resolved once, as mproc's spawn resolves it on every start. */
    ssize_t len = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (len < 0) {
        perror("bench_start_latency: readlink /proc/self/exe");
        return 1;
    }
    exe[len] = '\0';
    if ((spawn ? raw_spawn_once(exe) : raw_fork_once()) != 0)
        return 1;
    for (i = 0; i < n; i++) {
        double t0 = now_us();
        if ((spawn ? raw_spawn_once(exe) : raw_fork_once()) != 0)
            return 1;
        t[i] = now_us() - t0;
    }
    report("raw", method, t, n);
    return 0;
}

int main(int argc, char **argv)
{
    double *t;
    long n;
    int rc;
    /* The child of `raw posix_spawn`: the bare cost of running this binary. */
    if (argc > 1 && strcmp(argv[1], "--noop") == 0)
        return 0;
    rc = mproc_main(argc, argv);
    if (rc != 0)
        return fail("mproc_main", rc);
    if (argc != 4 || (n = strtol(argv[3], NULL, 10)) <= 0) {
        fprintf(stderr,
                "usage: %s mproc spawn|fork|forkserver N\n"
                "       %s raw fork|posix_spawn N\n",
                argv[0], argv[0]);
        return 2;
    }
    t = malloc((size_t) n * sizeof *t);
    if (t == NULL)
        return 1;
    if (strcmp(argv[1], "mproc") == 0)
        rc = bench_mproc(argv[2], t, n);
    else if (strcmp(argv[1], "raw") == 0)
        rc = bench_raw(argv[2], t, n);
    else {
        fprintf(stderr, "bench_start_latency: unknown impl '%s'\n", argv[1]);
        rc = 2;
    }
    free(t);
    return rc;
}
