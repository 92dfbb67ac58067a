/*
 * Sharing state: a Value and an Array in shared memory.
 *
 *     def f(n, a):
 *         n.value = 3.1415927
 *         for i in range(len(a)):
 *             a[i] = -a[i]
 *
 *     num = Value('d', 0.0)
 *     arr = Array('i', range(10))
 *     p = Process(target=f, args=(num, arr))
 *     p.start(); p.join()
 *     print(num.value)
 *     print(arr[:])
 *
 * The child reopens the parent's memory by reference; nothing is copied.
 */
#include <stdio.h>

#include <mproc.h>

static void f(const mproc_value_t *args)
{
    mproc_shared_value_t *n;
    mproc_shared_array_t *a;
    size_t i;
    int64_t x;
    if (mproc_unpack(args, "WA", &n, &a) < 0 ||
        mproc_shared_value_set_float(n, 3.1415927) < 0)
        mproc_raise_last();
    for (i = 0; i < mproc_shared_array_len(a); i++) {
        if (mproc_shared_array_get_int(a, i, &x) < 0 ||
            mproc_shared_array_set_int(a, i, -x) < 0)
            mproc_raise_last();
    }
}
MPROC_TARGET(f)

int main(int argc, char **argv)
{
    mproc_process_opts_t o = {.fn = f};
    mproc_shared_value_t *num;
    mproc_shared_array_t *arr;
    mproc_process_t *p;
    int init[10], out[10], i;
    double d = 0.0;

    if (mproc_main(argc, argv) != 0)
        return 1;
    for (i = 0; i < 10; i++)
        init[i] = i;
    if (mproc_shared_value_create(&num, 'd', &d, NULL) < 0 ||
        mproc_shared_array_create(&arr, 'i', 10, init, NULL) < 0 ||
        mproc_spawn(&p, &o, mproc_pack("WA", num, arr)) < 0 ||
        mproc_process_join(p, MPROC_FOREVER) < 0 ||
        mproc_shared_value_get_float(num, &d) < 0 ||
        mproc_shared_array_read(arr, 0, 10, out) < 0)
        return mproc_perror("shared_ctypes"), 1;
    printf("%.7f\n[", d);
    for (i = 0; i < 10; i++)
        printf("%s%d", i ? ", " : "", out[i]);
    printf("]\n");
    mproc_process_destroy(p);
    mproc_shared_value_destroy(num);
    mproc_shared_array_destroy(arr);
    return 0;
}
