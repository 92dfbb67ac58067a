/*
 * What the C benchmarks share: the clock, the median, dying with a
 * sentence, placing the two parties of a run on CPUs, and starting and
 * joining children (mproc's, with the fork method, or raw fork ones).
 */
#ifndef MPROC_BENCH_UTIL_H
#define MPROC_BENCH_UTIL_H

#include <sys/types.h>

#include <mproc.h>

/* The program's name, for messages; each benchmark sets it in main(). */
extern const char *prog;

/* CLOCK_MONOTONIC in microseconds. */
double now_us(void);
/* Sorts @t and returns its median. */
double median(double *t, long n);
/* Untimed warm-up rounds before @n timed ones. */
long warmup_rounds(long n);

/* Print "<prog>: @what: <errno's text>" (or mproc's sentence) and exit. */
void die(const char *what);
void die_mproc(const char *what, int rc);

/* Placements: 0 none, 1 same (both on CPU 0), 2 split (CPU 0 and 1). */
extern const char *const affinity_names[3];
/* The placement named @s, or -1. */
int parse_affinity(const char *s);
/* Pins the caller to @cpu. */
void pin(int cpu);
/* Places party @who (0 or 1) of a run with placement @aff. */
void place(int aff, int who);

/* Waits for a raw child; exits unless it exited with 0. */
void wait_raw_child(pid_t pid);
/* Starts @target with @args (taken over) by the fork method. */
mproc_process_t *start_mproc(const char *target, mproc_value_t *args);
/* Joins @p; exits unless it ended with 0; destroys it. */
void join_mproc(mproc_process_t *p);

#endif
