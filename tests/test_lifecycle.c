/*
 * What a process knows of itself and its kin, and how it ends: the
 * authkey and its inheritance, the parent process, interrupt, sentinels,
 * finalizers with exit priorities, and the forkserver's preload.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

/* ---- authkey ------------------------------------------------------------ */

/* Exits 0 if this process's authkey is args[0]. */
static void check_authkey(const mproc_value_t *args)
{
    unsigned char key[MPROC_AUTHKEY_SIZE];
    size_t len;
    const void *want = mproc_value_as_bytes(mproc_value_at(args, 0), &len);
    CHILD_ASSERT(mproc_process_authkey(mproc_current_process(), key) == 0);
    CHILD_ASSERT(len == sizeof key);
    CHILD_ASSERT(memcmp(key, want, sizeof key) == 0);
}
MPROC_TARGET(check_authkey)

static void fill_key(unsigned char *key, unsigned char seed)
{
    size_t i;
    for (i = 0; i < MPROC_AUTHKEY_SIZE; i++)
        key[i] = (unsigned char) (seed + 7 * i);
}

static void test_children_inherit_the_authkey(void)
{
    mproc_process_t *self = mproc_current_process();
    unsigned char key[MPROC_AUTHKEY_SIZE], got[MPROC_AUTHKEY_SIZE];
    int code = -100;

    /* The default key, random per program, is inherited too. */
    CU_ASSERT_EQUAL(mproc_process_authkey(self, got), 0);
    CU_ASSERT_EQUAL(
        harness_run("check_authkey",
                    mproc_value_list_of(1, mproc_value_bytes(got, sizeof got)),
                    &code),
        0);
    CU_ASSERT_EQUAL(code, 0);
    /*
     * A key set after the first start (which, under forkserver, started
     * the server) is the one the next child gets: the key travels with
     * each request, the server's own plays no part.
     */
    fill_key(key, 3);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(self, key, sizeof key), 0);
    CU_ASSERT_EQUAL(mproc_process_authkey(self, got), 0);
    CU_ASSERT_EQUAL(memcmp(got, key, sizeof key), 0);
    code = -100;
    CU_ASSERT_EQUAL(
        harness_run("check_authkey",
                    mproc_value_list_of(1, mproc_value_bytes(key, sizeof key)),
                    &code),
        0);
    CU_ASSERT_EQUAL(code, 0);
}

static void test_a_process_object_carries_its_own_authkey(void)
{
    mproc_process_t *self = mproc_current_process(), *p;
    mproc_process_opts_t o = {0};
    unsigned char mine[MPROC_AUTHKEY_SIZE], theirs[MPROC_AUTHKEY_SIZE];
    unsigned char got[MPROC_AUTHKEY_SIZE];

    fill_key(mine, 11);
    fill_key(theirs, 99);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(self, mine, sizeof mine), 0);
    o.target = "check_authkey";
    o.method = harness_method;
    o.args = mproc_value_list_of(1, mproc_value_bytes(theirs, sizeof theirs));
    CU_ASSERT_EQUAL_FATAL(mproc_process_create(&p, &o), 0);
    mproc_value_free((mproc_value_t *) o.args);
    /* A new object starts with its creator's key, as in Python. */
    CU_ASSERT_EQUAL(mproc_process_authkey(p, got), 0);
    CU_ASSERT_EQUAL(memcmp(got, mine, sizeof mine), 0);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(p, theirs, sizeof theirs), 0);
    CU_ASSERT_EQUAL(mproc_process_start(p), 0);
    CU_ASSERT_EQUAL(harness_join_code(p), 0);
    /* The parent's own key is unchanged. */
    CU_ASSERT_EQUAL(mproc_process_authkey(self, got), 0);
    CU_ASSERT_EQUAL(memcmp(got, mine, sizeof mine), 0);
}

static void test_an_authkey_has_its_size(void)
{
    unsigned char key[MPROC_AUTHKEY_SIZE + 1] = {0};
    CU_ASSERT_EQUAL(mproc_process_set_authkey(mproc_current_process(), key, 5),
                    MPROC_EINVAL);
    CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "32 bytes"));
    CU_ASSERT_EQUAL(
        mproc_process_set_authkey(mproc_current_process(), key, sizeof key),
        MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_process_set_authkey(NULL, key, MPROC_AUTHKEY_SIZE),
                    MPROC_EINVAL);
}

/* ---- the suite ------------------------------------------------------------
 */

static const harness_test tests[] = {
    {"children inherit the authkey", test_children_inherit_the_authkey, 0},
    {"a process object carries its own authkey",
     test_a_process_object_carries_its_own_authkey, 0},
    {"an authkey has its size", test_an_authkey_has_its_size, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "lifecycle", tests);
}
