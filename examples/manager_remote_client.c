/*
 * A remote manager, the client: another program, which connects to the
 * server's address with the key and uses the list registered there
 * (Python's "Using a remote manager"):
 *
 *     QueueManager.register('get_queue')
 *     m = QueueManager(address=('foo.bar.org', 50000), authkey=b'abracadabra')
 *     m.connect()
 *     queue = m.get_queue()
 *     queue.put('hello')
 *
 * The address is argv[1], or the first line of stdin (what
 * manager_remote_server prints). When done, it shuts the manager down.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mproc.h>

int main(int argc, char **argv)
{
    mproc_manager_connect_opts_t o = {0};
    mproc_manager_t *m;
    mproc_list_t *queue;
    mproc_value_t *ref, *item;
    char address[256];
    char *text;

    if (mproc_main(argc, argv) != 0)
        return 1;
    if (argc > 1) {
        snprintf(address, sizeof address, "%s", argv[1]);
    } else if (fgets(address, sizeof address, stdin) != NULL) {
        address[strcspn(address, "\r\n")] = '\0';
    } else {
        fprintf(stderr, "client: no address on the command line or stdin\n");
        return 1;
    }
    o.authkey = "abracadabra";
    o.authkey_len = strlen("abracadabra");
    if (mproc_manager_connect(&m, address, &o) < 0 ||
        mproc_manager_lookup(m, "get_queue", &ref) < 0 ||
        mproc_value_to_list_proxy(ref, &queue) < 0)
        return mproc_perror("client"), 1;
    mproc_value_free(ref);
    /* queue.put('hello'), and what another client's get() would see. */
    if (mproc_list_append(queue, mproc_value_str("hello")) < 0 ||
        mproc_list_pop(queue, 0, &item) < 0)
        return mproc_perror("client"), 1;
    text = mproc_value_repr(item);
    printf("client: put 'hello', got %s back\n", text != NULL ? text : "?");
    free(text);
    mproc_value_free(item);
    if (mproc_manager_shutdown(m) < 0)
        return mproc_perror("client"), 1;
    printf("client: shut the manager down\n");
    mproc_manager_destroy(m);
    return 0;
}
