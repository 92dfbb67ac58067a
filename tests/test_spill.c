/*
 * Spill files (Unix): a queue's overflow lives in /dev/shm under a name
 * that another local user can see as soon as the queue's segment appears.
 * A spill file that user made first must never be adopted: not by the
 * queue's creator, and not by a process that opens the queue later.
 */
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "mproc_private.h"

/* The uid of 'nobody' on Linux systems. */
#define NOBODY 65534

/* A fresh spill name, as a queue would make one. */
static void fresh_name(char *n, size_t cap)
{
    unsigned char r[8];
    mproc__random_bytes(r, sizeof r);
    snprintf(n, cap, "mproc-%02x%02x%02x%02x%02x%02x%02x%02x.sp", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7]);
}

/*
 * Makes "/<name>" in a forked helper running as 'nobody', readable and
 * writable by all, as an attacker watching /dev/shm would: 1 done.
 */
static int create_as_nobody(const char *name)
{
    char path[64];
    int status = 0;
    pid_t pid;
    snprintf(path, sizeof path, "/%s", name);
    pid = fork();
    if (pid == 0) {
        int fd;
        if (setgid(NOBODY) != 0 || setuid(NOBODY) != 0)
            _exit(2);
        fd = shm_open(path, O_RDWR | O_CREAT | O_EXCL, 0666);
        if (fd < 0 || fchmod(fd, 0666) != 0)
            _exit(3);
        _exit(0);
    }
    if (pid < 0 || waitpid(pid, &status, 0) != pid)
        return 0;
    return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static uid_t owner_of(const char *name)
{
    char path[96];
    struct stat st;
    snprintf(path, sizeof path, "/dev/shm/%s", name);
    return stat(path, &st) == 0 ? st.st_uid : (uid_t) -1;
}

static void test_create_does_not_adopt_a_foreign_file(void)
{
    char name[40];
    mproc__os_spill_t *s = NULL;
    if (geteuid() != 0) {
        /* Only root can act as another user here. */
        CU_PASS("not root: cannot play another user");
        return;
    }
    fresh_name(name, sizeof name);
    CU_ASSERT_TRUE_FATAL(create_as_nobody(name));
    CU_ASSERT_EQUAL(mproc__os_spill_open(&s, name, 1), MPROC_EEXIST);
    CU_ASSERT_PTR_NULL(s);
    /* The other user's file is left as it was: still theirs. */
    CU_ASSERT_EQUAL(owner_of(name), NOBODY);
    mproc__os_spill_unlink(name);
}

static void test_open_refuses_a_foreign_file(void)
{
    char name[40];
    mproc__os_spill_t *s = NULL;
    if (geteuid() != 0) {
        CU_PASS("not root: cannot play another user");
        return;
    }
    fresh_name(name, sizeof name);
    CU_ASSERT_TRUE_FATAL(create_as_nobody(name));
    CU_ASSERT_EQUAL(mproc__os_spill_open(&s, name, 0), MPROC_EAUTH);
    CU_ASSERT_PTR_NULL(s);
    mproc__os_spill_unlink(name);
}

static void test_own_file_still_works(void)
{
    char name[40];
    mproc__os_spill_t *a = NULL, *b = NULL;
    char got[6] = {0};
    fresh_name(name, sizeof name);
    CU_ASSERT_EQUAL_FATAL(mproc__os_spill_open(&a, name, 1), 0);
    CU_ASSERT_EQUAL(owner_of(name), geteuid());
    CU_ASSERT_EQUAL(mproc__os_spill_write(a, 0, "hello", 5), 0);
    CU_ASSERT_EQUAL(mproc__os_spill_open(&b, name, 0), 0);
    CU_ASSERT_EQUAL(mproc__os_spill_read(b, 0, got, 5), 0);
    CU_ASSERT_STRING_EQUAL(got, "hello");
    /* A second create of the same name does not adopt it either. */
    {
        mproc__os_spill_t *c = NULL;
        CU_ASSERT_EQUAL(mproc__os_spill_open(&c, name, 1), MPROC_EEXIST);
        CU_ASSERT_PTR_NULL(c);
    }
    mproc__os_spill_close(a);
    mproc__os_spill_close(b);
    mproc__os_spill_unlink(name);
}

static const harness_test tests[] = {
    {"create does not adopt a foreign file",
     test_create_does_not_adopt_a_foreign_file, 0},
    {"open refuses a foreign file", test_open_refuses_a_foreign_file, 0},
    {"own file still works", test_own_file_still_works, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "spill", tests);
}
