/*
 * The runtime without children: status codes, start methods,
 * configuration and logging levels.
 */
#include <string.h>
#include <wchar.h>

#include "harness.h"

static void test_status_codes(void)
{
    CU_ASSERT_STRING_EQUAL(mproc_err_name(0), "MPROC_OK");
    CU_ASSERT_STRING_EQUAL(mproc_err_name(MPROC_ETIMEDOUT), "MPROC_ETIMEDOUT");
    CU_ASSERT_STRING_EQUAL(mproc_err_name(MPROC_ENOTREG), "MPROC_ENOTREG");
    CU_ASSERT_STRING_EQUAL(mproc_strerror(MPROC_ECORRUPT),
                           "corrupt or truncated message");
    CU_ASSERT_STRING_EQUAL(mproc_err_name(-9999), "MPROC_E?");
    /* A success with news, outside the error table; its old code is free. */
    CU_ASSERT_EQUAL(MPROC_OWNERDEAD, 1);
    CU_ASSERT_STRING_EQUAL(mproc_err_name(MPROC_OWNERDEAD), "MPROC_OWNERDEAD");
    CU_ASSERT_STRING_EQUAL(mproc_strerror(MPROC_OWNERDEAD),
                           "acquired, but the previous holder died holding it");
    CU_ASSERT_STRING_EQUAL(mproc_err_name(-25), "MPROC_E?");
    CU_ASSERT_STRING_EQUAL(mproc_strerror(-9999), "unknown error");
    CU_ASSERT(MPROC_EINVAL < 0 && MPROC_ENOTFOUND < 0);
}

static void test_start_methods(void)
{
    int unix_like = mproc_start_method_available(MPROC_START_FORK);

    CU_ASSERT_EQUAL(mproc_get_start_method(), MPROC_START_SPAWN);
    CU_ASSERT_TRUE(mproc_start_method_available(MPROC_START_SPAWN));
    CU_ASSERT_EQUAL(mproc_start_method_available(MPROC_START_FORKSERVER),
                    unix_like);
    CU_ASSERT_STRING_EQUAL(mproc_start_method_name(MPROC_START_FORKSERVER),
                           "forkserver");
    CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_DEFAULT, 0),
                    MPROC_EINVAL);
    if (unix_like) {
        CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_FORKSERVER, 0), 0);
    } else {
        /* Windows: an answer with a sentence, never a crash. */
        CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_FORK, 0),
                        MPROC_ENOTSUP);
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "fork"));
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "use spawn"));
        CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_FORKSERVER, 0),
                        MPROC_ENOTSUP);
        CU_ASSERT_PTR_NOT_NULL(strstr(mproc_last_error(), "forkserver"));
        CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_SPAWN, 0), 0);
    }
    /* Once set, the method stays unless forced. */
    CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_SPAWN, 0), MPROC_ESTATE);
    CU_ASSERT_EQUAL(mproc_set_start_method(MPROC_START_SPAWN, 1), 0);
    CU_ASSERT_EQUAL(mproc_get_start_method(), MPROC_START_SPAWN);
    CU_ASSERT_EQUAL(mproc_set_start_method((mproc_start_method_e) 42, 1),
                    MPROC_EINVAL);
}

static void test_configuration(void)
{
    CU_ASSERT_PTR_NULL(mproc_config_get("missing"));
    CU_ASSERT_EQUAL(mproc_config_set("db", "postgres://x"), 0);
    CU_ASSERT_STRING_EQUAL(mproc_config_get("db"), "postgres://x");
    CU_ASSERT_EQUAL(mproc_config_set("db", "sqlite"), 0);
    CU_ASSERT_STRING_EQUAL(mproc_config_get("db"), "sqlite");
    CU_ASSERT_EQUAL(mproc_config_set("", "x"), MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_config_set("k", NULL), MPROC_EINVAL);
    CU_ASSERT_PTR_NULL(mproc_config_get(NULL));
}

static void test_log_levels(void)
{
    CU_ASSERT_STRING_EQUAL(mproc_log_level_name(MPROC_LOG_SUBDEBUG),
                           "SUBDEBUG");
    CU_ASSERT_STRING_EQUAL(mproc_log_level_name(MPROC_LOG_SUBWARNING),
                           "SUBWARNING");
    CU_ASSERT_STRING_EQUAL(mproc_log_level_name(17), "Level 17");
    CU_ASSERT_EQUAL(mproc_log_level(), MPROC_LOG_WARNING);
    /* Off until log_to_stderr, whatever the level. */
    CU_ASSERT_FALSE(mproc_log_enabled(MPROC_LOG_CRITICAL));
    mproc_log_to_stderr(MPROC_LOG_ERROR);
    CU_ASSERT_TRUE(mproc_log_enabled(MPROC_LOG_ERROR));
    CU_ASSERT_FALSE(mproc_log_enabled(MPROC_LOG_WARNING));
    mproc_log_set_level(MPROC_LOG_SUBDEBUG);
    CU_ASSERT_TRUE(mproc_log_enabled(MPROC_LOG_SUBDEBUG));
    CU_ASSERT_EQUAL(mproc_log_level(), MPROC_LOG_SUBDEBUG);
    mproc_log_set_level(MPROC_LOG_CRITICAL + 1);
}

static void test_process_wide_facts(void)
{
    CU_ASSERT(mproc_cpu_count() >= 1);
    CU_ASSERT_EQUAL(mproc_parent_pid(), 0);
    CU_ASSERT_STRING_EQUAL(mproc_process_name(mproc_current_process()),
                           "MainProcess");
    CU_ASSERT_TRUE(mproc_process_is_alive(mproc_current_process()));
    CU_ASSERT_EQUAL(mproc_process_destroy(mproc_current_process()),
                    MPROC_EINVAL);
    CU_ASSERT_EQUAL(mproc_active_children(NULL, 0), 0);
    {
        /* One source: the string, the numbers and the library agree. */
        char numbers[32];
        snprintf(numbers, sizeof numbers, "%d.%d.%d", MPROC_VERSION_MAJOR,
                 MPROC_VERSION_MINOR, MPROC_VERSION_PATCH);
        CU_ASSERT_STRING_EQUAL(mproc_version(), MPROC_VERSION_STRING);
        CU_ASSERT_STRING_EQUAL(numbers, MPROC_VERSION_STRING);
    }
    CU_ASSERT_EQUAL(mproc_register_target("", NULL), MPROC_EINVAL);
}

/*
 * The wide entry points, in a program that already entered through
 * mproc_main() (the harness): a second entry changes nothing, and the
 * command-line form exists on Windows only.
 */
static void test_wide_entry_points(void)
{
    wchar_t arg0[] = L"program", arg1[] = {L'G', L'r', 0xFC, 0xDF, L'e', 0};
    wchar_t *argv[] = {arg0, arg1, NULL};
    int unix_like = mproc_start_method_available(MPROC_START_FORK);

    CU_ASSERT_EQUAL(mproc_main_w(2, argv), 0);
    CU_ASSERT_EQUAL(mproc_main_w(0, NULL), 0);
    CU_ASSERT_EQUAL(mproc_main_cmdline(), unix_like ? MPROC_ENOTSUP : 0);
}

static const harness_test tests[] = {
    {"status codes", test_status_codes, 0},
    {"start methods", test_start_methods, 0},
    {"configuration", test_configuration, 0},
    {"log levels", test_log_levels, 0},
    {"process-wide facts", test_process_wide_facts, 0},
    {"wide entry points", test_wide_entry_points, 0},
    {NULL, NULL, 0}};

int main(int argc, char **argv)
{
    return harness_main(argc, argv, "runtime", tests);
}
