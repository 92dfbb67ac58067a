/*
 * This file is private to mproc.
 *
 * The forkserver (forkserver.c): a server that forks children on request.
 */
#ifndef MPROC_SRC_FORKSERVER_H
#define MPROC_SRC_FORKSERVER_H

#include <stddef.h>

#include "mproc.h"
#include "mproc_os.h"

/*
 * Asks the forkserver (started on first use) for a child that runs the
 * bootstrap frame @frame of @len bytes, handing it the @npass handles of
 * @pass (at most MPROC__OS_MAX_PASS). MPROC_ENOTSUP where the OS cannot
 * fork. The request's authenticated connection stays open as the child's
 * sentinel: the server reports the exit status through it. The child finds
 * the handles wherever they landed: the server passes their values to
 * mproc__bootstrap_run(), in @pass's order.
 */
int mproc__forkserver_child(mproc__os_child_t **child, const void *frame,
                            size_t len, const mproc__os_fd_t *pass,
                            size_t npass);
/*
 * The forkserver's main loop, run by mproc_main() in the spawned server
 * process when argv[1] is the forkserver marker. Never returns.
 */
MPROC_NORETURN void mproc__forkserver_main(int argc, char **argv);
/*
 * Starts the server if none runs; opens an authenticated connection to it
 * with @key (NULL: the real key; the tests try a wrong one).
 */
int mproc__forkserver_ensure(void);
int mproc__forkserver_connect(const unsigned char *key, mproc__os_fd_t *conn);
#ifdef MPROC_TESTING
/* For the tests: the running server's pid and socket path (0 / NULL if
 * none runs). */
long mproc__forkserver_pid(void);
const char *mproc__forkserver_path(void);
#endif

/*
 * The preload (preload.c). Client: sends the list on the server's start
 * pipe @server and waits until the server has run it; 0, or MPROC_EOS
 * with a sentence naming what failed. Server: reads and runs the list
 * from @client before serving, then answers on @answer (the start pipe's
 * way back); 0, or a negative status.
 */
int mproc__preload_client(mproc__os_conn_t *server);
int mproc__preload_serve(mproc__os_fd_t client, mproc__os_fd_t answer);

#endif
