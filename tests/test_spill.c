/*
 * Spill files, a queue's overflow. Unix: it lives in /dev/shm under a name
 * that another local user can see as soon as the queue's segment appears;
 * a spill file that user made first must never be adopted, not by the
 * queue's creator and not by a process that opens the queue later.
 * Windows: it lives in %TEMP%, where nothing removes it if its users are
 * killed, so it must go with the last handle to it, yet stay open to new
 * users while any user holds it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(_WIN32)
    #include <windows.h>
#else
    #include <fcntl.h>
    #include <sys/mman.h>
    #include <sys/stat.h>
    #include <sys/wait.h>
    #include <unistd.h>
#endif

#include "harness.h"
#include "mproc_private.h"

/* A fresh spill name, as a queue would make one. */
static void fresh_name(char *n, size_t cap)
{
    unsigned char r[8];
    mproc__random_bytes(r, sizeof r);
    snprintf(n, cap, "mproc-%02x%02x%02x%02x%02x%02x%02x%02x.sp", r[0], r[1],
             r[2], r[3], r[4], r[5], r[6], r[7]);
}

#if defined(_WIN32)

/* 1 if %TEMP%\<name> exists. */
static int file_exists(const char *name)
{
    char path[MAX_PATH + 64];
    DWORD n = GetTempPathA(MAX_PATH, path);
    snprintf(path + n, sizeof path - n, "%s", name);
    return GetFileAttributesA(path) != INVALID_FILE_ATTRIBUTES;
}

static void test_file_lasts_while_a_user_holds_it(void)
{
    char name[40], got[6] = {0};
    mproc__os_spill_t *a = NULL, *b = NULL, *c = NULL;
    fresh_name(name, sizeof name);
    CU_ASSERT_EQUAL_FATAL(mproc__os_spill_open(&a, name, 1), 0);
    CU_ASSERT_EQUAL(mproc__os_spill_write(a, 0, "hello", 5), 0);
    CU_ASSERT_EQUAL_FATAL(mproc__os_spill_open(&b, name, 0), 0);
    /* The creator goes first; a new user still gets the file. */
    mproc__os_spill_close(a);
    CU_ASSERT_EQUAL_FATAL(mproc__os_spill_open(&c, name, 0), 0);
    CU_ASSERT_EQUAL(mproc__os_spill_read(c, 0, got, 5), 0);
    CU_ASSERT_STRING_EQUAL(got, "hello");
    CU_ASSERT_EQUAL(mproc__os_spill_truncate(c), 0);
    CU_ASSERT(mproc__os_spill_read(b, 0, got, 1) < 0);
    CU_ASSERT_TRUE(file_exists(name));
    mproc__os_spill_close(b);
    mproc__os_spill_close(c);
    /* With the last handle, the file is gone, and so is the name. */
    CU_ASSERT_FALSE(file_exists(name));
    CU_ASSERT_EQUAL(mproc__os_spill_open(&a, name, 0), MPROC_ENOTFOUND);
}

/* args: name, event: makes the spill file, says so, and waits. */
static void hold_spill(const mproc_value_t *args)
{
    mproc__os_spill_t *s;
    mproc_event_t *ready;
    if (mproc__os_spill_open(&s, mproc_value_as_str(mproc_value_at(args, 0)),
                             1) != 0 ||
        mproc__os_spill_write(s, 0, "spilled", 7) != 0 ||
        mproc_event_import(&ready, mproc_value_at(args, 1)) != 0)
        mproc_exit(2);
    mproc_event_set(ready);
    for (;;)
        mproc_sleep(60);
}
MPROC_TARGET(hold_spill)

static void test_file_goes_when_its_users_are_killed(void)
{
    char name[40];
    mproc_event_t *ready;
    mproc_value_t *er;
    mproc_process_t *p;
    mproc__os_spill_t *s = NULL;
    fresh_name(name, sizeof name);
    CU_ASSERT_EQUAL_FATAL(mproc_event_create(&ready, NULL), 0);
    CU_ASSERT_EQUAL_FATAL(mproc_event_export(ready, &er), 0);
    p = harness_start("hold_spill",
                      mproc_value_list_of(2, mproc_value_str(name), er));
    CU_ASSERT_EQUAL_FATAL(mproc_event_wait(ready, 30), 0);
    CU_ASSERT_TRUE(file_exists(name));
    /* Another user, who is killed too. */
    CU_ASSERT_EQUAL(mproc__os_spill_open(&s, name, 0), 0);
    CU_ASSERT_EQUAL(mproc_process_kill(p), 0);
    CU_ASSERT_EQUAL(mproc_process_join(p, MPROC_FOREVER), 0);
    CU_ASSERT_TRUE(file_exists(name));
    mproc__os_spill_close(s);
    CU_ASSERT_FALSE(file_exists(name));
    mproc_process_destroy(p);
    mproc_event_destroy(ready);
}

static void test_create_does_not_adopt_an_existing_file(void)
{
    char name[40], path[MAX_PATH + 64];
    mproc__os_spill_t *s = NULL;
    DWORD n = GetTempPathA(MAX_PATH, path);
    HANDLE h;
    fresh_name(name, sizeof name);
    snprintf(path + n, sizeof path - n, "%s", name);
    h = CreateFileA(path, GENERIC_WRITE, 0, NULL, CREATE_NEW, 0, NULL);
    CU_ASSERT_FATAL(h != INVALID_HANDLE_VALUE);
    CloseHandle(h);
    CU_ASSERT_EQUAL(mproc__os_spill_open(&s, name, 1), MPROC_EEXIST);
    CU_ASSERT_PTR_NULL(s);
    DeleteFileA(path);
}

#else

/* The uid of 'nobody' on Linux systems. */
    #define NOBODY 65534

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

#endif

static const harness_test tests[] = {
#if defined(_WIN32)
    {"file lasts while a user holds it", test_file_lasts_while_a_user_holds_it,
     HARNESS_SPAWN},
    {"file goes when its users are killed",
     test_file_goes_when_its_users_are_killed, HARNESS_SPAWN},
    {"create does not adopt an existing file",
     test_create_does_not_adopt_an_existing_file, HARNESS_SPAWN},
#else
    {"create does not adopt a foreign file",
     test_create_does_not_adopt_a_foreign_file, HARNESS_SPAWN},
    {"open refuses a foreign file", test_open_refuses_a_foreign_file,
     HARNESS_SPAWN},
    {"own file still works", test_own_file_still_works, HARNESS_SPAWN},
#endif
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "spill", tests);
}
