/*
 * A remote manager, the server: a manager on TCP with an authkey, holding
 * a shared list under a name that other programs look up (Python's
 * "Using a remote manager"):
 *
 *     queue = queue.Queue()
 *     class QueueManager(BaseManager): pass
 *     QueueManager.register('get_queue', callable=lambda: queue)
 *     m = QueueManager(address=('', 50000), authkey=b'abracadabra')
 *     s = m.get_server()
 *     s.serve_forever()
 *
 * It prints the address it serves at (argv[1], default 127.0.0.1 with a
 * port the OS chooses) as its first line, for manager_remote_client, and
 * serves until a client shuts the manager down.
 */
#include <stdio.h>
#include <string.h>

#include <mproc.h>

int main(int argc, char **argv)
{
    mproc_manager_opts_t o = {0};
    mproc_manager_t *m;
    mproc_list_t *queue;

    if (mproc_main(argc, argv) != 0)
        return 1;
    o.address = argc > 1 ? argv[1] : "127.0.0.1:0";
    o.authkey = "abracadabra";
    o.authkey_len = strlen("abracadabra");
    if (mproc_manager_start(&m, &o) < 0 ||
        mproc_list_create(&queue, m, NULL) < 0 ||
        mproc_manager_register(m, "get_queue", mproc_value_list_proxy(queue)) <
            0)
        return mproc_perror("server"), 1;
    printf("%s\n", mproc_manager_address(m));
    fflush(stdout);
    /* serve_forever(): until a client shuts the manager down. */
    if (mproc_manager_join(m, MPROC_FOREVER) < 0)
        return mproc_perror("server"), 1;
    fprintf(stderr, "server: a client shut the manager down\n");
    mproc_list_destroy(queue);
    mproc_manager_destroy(m);
    return 0;
}
