/*
 * The test harness: CUnit suites whose processes run under one start
 * method, given on the command line ("spawn", "fork", "forkserver", or
 * "none" for suites that start no processes):
 *
 *   test_sync fork                            every test the method admits
 *   test_sync fork "lock across processes"    one test (ctest runs these)
 *   test_sync --list                          each test and its methods
 *
 * A test may also be named as in ctest (lock_across_processes).
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

/*
 * In a child process: unless @e holds, prints file, line and expression on
 * stderr, records them for the test process, and exits with 1. The test
 * process reports them in its CUnit failure message, from
 * harness_join_code() or harness_run() when a child exits non-zero, and at
 * the end of the test in any case.
 */
#define CHILD_ASSERT(e)                                                        \
    do {                                                                       \
        if (!(e))                                                              \
            harness_child_failed(__FILE__, __LINE__, #e);                      \
    } while (0)

MPROC_NORETURN void harness_child_failed(const char *file, int line,
                                         const char *expr);

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
/*
 * Joins @p, destroys it, and returns its exit code (-1000 if unknown). A
 * non-zero exit after a CHILD_ASSERT fails the test with the assertion.
 */
#define harness_join_code(p) harness_join_code_at((p), __FILE__, __LINE__)
int harness_join_code_at(mproc_process_t *p, const char *file, int line);

/*
 * Starts @target with @args (taken over), joins it; 0 and its exit code.
 * A non-zero exit after a CHILD_ASSERT fails the test with the assertion.
 */
#define harness_run(target, args, exitcode)                                    \
    harness_run_at((target), (args), (exitcode), __FILE__, __LINE__)
int harness_run_at(const char *target, mproc_value_t *args, int *exitcode,
                   const char *file, int line);

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
/* Kills process @pid at once (SIGKILL, TerminateProcess): 1 if it could. */
int harness_kill_pid(long pid);
/* Waits (bounded, 30 s) until process @pid is gone: 1 if it went, else 0. */
int harness_wait_pid_gone(long pid);

#if !defined(_WIN32)
/* The mproc names in /dev/shm, one per line (caller frees), or NULL. */
char *harness_list_shm(void);
/*
 * The mproc names in /dev/shm that process @pid has mapped, one per line
 * (caller frees), or NULL: what that process uses, whatever other programs
 * on the machine make meanwhile.
 */
char *harness_list_shm_mapped(long pid);
/*
 * How many names of @now (harness_list_shm()) are not in @before; with
 * @still, how many of those are in @still too. Only the names that
 * appeared meanwhile are judged, so other programs' objects do not count.
 */
int harness_count_new_names(const char *before, const char *now,
                            const char *still);
#endif

#endif
