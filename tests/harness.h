/*
 * The test harness: CUnit suites whose processes run under one start
 * method, given on the command line ("spawn", "fork", "forkserver", or
 * "none" for suites that start no processes).
 */
#ifndef MPROC_TEST_HARNESS_H
#define MPROC_TEST_HARNESS_H

#include <CUnit/Basic.h>

#include "mproc.h"

typedef struct harness_test {
    const char *name;
    CU_TestFunc fn;
    unsigned methods; /* bit mask of HARNESS_*; 0 means all */
} harness_test;

#define HARNESS_SPAWN (1u << MPROC_START_SPAWN)
#define HARNESS_FORK (1u << MPROC_START_FORK)
#define HARNESS_FORKSERVER (1u << MPROC_START_FORKSERVER)

/* The method under test. */
extern mproc_start_method_e harness_method;

/*
 * Runs the suite: mproc_main first (spawned children never come back), then
 * the tests whose mask admits the method. Returns the process exit code.
 */
int harness_main(int argc, char **argv, const char *suite,
                 const harness_test *tests);

/*
 * Starts @target with @args (taken over) under the method under test; the
 * process, for harness_join_code(). A failure fails the test at once.
 */
mproc_process_t *harness_start(const char *target, mproc_value_t *args);
/* Joins @p, destroys it, and returns its exit code (-1000 if unknown). */
int harness_join_code(mproc_process_t *p);

/* Starts @target with @args (taken over), joins it; 0 and its exit code. */
int harness_run(const char *target, mproc_value_t *args, int *exitcode);

/* A fresh path in the temporary directory (caller frees). */
char *harness_temp_path(const char *tag);
/* The whole content of @path (caller frees), or NULL. */
char *harness_read_file(const char *path);
/* The value of "key=value" line @key in @text (caller frees), or NULL. */
char *harness_field(const char *text, const char *key);

/* Redirects this process's stderr (fd 2) into a file until _end. */
void harness_capture_stderr_begin(void);
/* Restores stderr and returns what was written (caller frees). */
char *harness_capture_stderr_end(void);

/* Whether the OS process @pid still exists. */
int harness_pid_alive(long pid);

#endif
