/* Starts one spawned child through an installed mproc; exits with 0 if
 * the child's exit code came back. */
#include <stdio.h>

#include <mproc.h>

static void child(const mproc_value_t *args)
{
    mproc_exit((int) mproc_value_as_int(mproc_value_at(args, 0)));
}
MPROC_TARGET(child)

int main(int argc, char **argv)
{
    mproc_process_t *p;
    mproc_value_t *args;
    int code = -1;
    if (mproc_main(argc, argv) != 0)
        return 1;
    args = mproc_value_list_of(1, mproc_value_int(42));
    mproc_process_opts_t opts = {.target = "child", .args = args};
    if (mproc_process_create(&p, &opts) != 0 || mproc_process_start(p) != 0 ||
        mproc_process_join(p, MPROC_FOREVER) != 0 ||
        mproc_process_exitcode(p, &code) != 0)
        return 2;
    mproc_value_free(args);
    mproc_process_destroy(p);
    printf("child exit code %d\n", code);
    return code == 42 ? 0 : 3;
}
