/*
 * The flagship demo: one child under each start method, and what it sees.
 *
 * spawn runs the program again: the child has the globals of a fresh
 * start, no handle but stdio, and only what it is handed explicitly (the
 * configuration, its arguments, the environment). fork copies the parent
 * as it is at start time: globals changed since startup, open files and
 * all. forkserver forks from a server that was spawned on first use: as
 * fresh as spawn, as quick as fork. Only spawn exists on Windows, so a
 * program that works under spawn works everywhere.
 */
/* putenv and fileno are POSIX, and in every C library mproc runs on. */
#define _XOPEN_SOURCE 700
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>

#include <mproc.h>

/* Changed by main() after startup. */
static int g_setting = 1;

/* args: the start method's name, a descriptor opened before start, its size. */
static void observe(const mproc_value_t *args)
{
    const char *config = mproc_config_get("color");
    const char *env = getenv("MPROC_DEMO_RUNTIME");
    const char *method;
    int fd, has_file;
    int64_t size;
    struct stat st;

    if (mproc_unpack(args, "siI", &method, &fd, &size) < 0)
        mproc_raise_last();
    has_file = fstat(fd, &st) == 0 && (int64_t) st.st_size == size;
    printf("%-11s %-15s %-14s %-13s %-15s", method,
           g_setting == 2 ? "yes" : "no", config ? config : "(none)",
           has_file ? "yes" : "no", env ? "yes" : "no");
    fflush(stdout);
}
MPROC_TARGET(observe)

static void noop(const mproc_value_t *args)
{
    (void) args;
}
MPROC_TARGET(noop)

static int compare_doubles(const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

/* The median start+join time under @method, in milliseconds. */
static double start_latency_ms(mproc_start_method_e method)
{
    mproc_process_opts_t opts = {.fn = noop, .method = method};
    double t[21];
    int i;
    for (i = 0; i < 21; i++) {
        mproc_process_t *p;
        double t0 = mproc_monotonic();
        if (mproc_spawn(&p, &opts, NULL) < 0)
            return -1;
        mproc_process_join(p, MPROC_FOREVER);
        t[i] = (mproc_monotonic() - t0) * 1e3;
        mproc_process_destroy(p);
    }
    qsort(t, 21, sizeof t[0], compare_doubles);
    return t[10];
}

int main(int argc, char **argv)
{
    static const mproc_start_method_e methods[] = {
        MPROC_START_SPAWN, MPROC_START_FORK, MPROC_START_FORKSERVER};
    static char env_entry[] = "MPROC_DEMO_RUNTIME=1";
    FILE *held;
    struct stat st;
    size_t i;

    /* Everything above this line runs again in every spawned child. */
    if (mproc_main(argc, argv) != 0)
        return 1;

    /* What a program does once it runs: */
    g_setting = 2;                     /* changes a global, */
    mproc_config_set("color", "blue"); /* keeps what its config file says, */
    held = fopen(argv[0], "rb");       /* opens a file, */
    putenv(env_entry);                 /* sets an environment variable. */
    if (held == NULL || fstat(fileno(held), &st) != 0) {
        fprintf(stderr, "cannot open %s\n", argv[0]);
        return 1;
    }

    printf("What a child sees under each start method\n\n");
    printf("%-11s %-15s %-14s %-13s %-15s%s\n", "method", "global changed",
           "configuration", "file opened", "env variable", "start+join");
    printf("%-11s %-15s %-14s %-13s %-15s%s\n", "", "after startup",
           "(explicit)", "before start", "set at runtime", "(median)");
    for (i = 0; i < sizeof methods / sizeof methods[0]; i++) {
        const char *name = mproc_start_method_name(methods[i]);
        mproc_process_opts_t opts = {.fn = observe, .method = methods[i]};
        mproc_process_t *p;
        double ms;
        int code = -1, rc;

        fflush(stdout);
        rc = mproc_spawn(
            &p, &opts,
            mproc_pack("siI", name, fileno(held), (int64_t) st.st_size));
        if (rc == MPROC_ENOTSUP) {
            printf("%-11s not available here: %s\n", name, mproc_last_error());
            continue;
        }
        if (rc < 0)
            return mproc_perror(name), 1;
        mproc_process_join(p, MPROC_FOREVER);
        mproc_process_exitcode(p, &code);
        mproc_process_destroy(p);
        ms = start_latency_ms(methods[i]);
        if (code != 0 || ms < 0) {
            fprintf(stderr, "\n%s: child ended with %d (%s)\n", name, code,
                    mproc_last_error());
            return 1;
        }
        printf("%6.2f ms\n", ms);
    }
    printf("\nspawn re-runs the program: the child starts fresh and gets only "
           "what it is given.\n"
           "fork copies the parent as it is now. forkserver forks a fresh "
           "server: spawn's\n"
           "isolation at fork's speed. spawn is the default on every OS: "
           "what works under\n"
           "spawn works on Windows and Linux alike.\n");
    fclose(held);
    return 0;
}
