/*
 * This file is private to mproc.
 *
 * The authentication challenge (auth.c).
 */
#ifndef MPROC_SRC_AUTH_H
#define MPROC_SRC_AUTH_H

#include "mproc_os.h"

/* The length of an authkey: a process's, and the forkserver's. */
#define MPROC__AUTHKEY_SIZE 32

/*
 * The calling process's own authkey (MPROC__AUTHKEY_SIZE bytes), which
 * process.c fills in (random in the main process, the parent's in a
 * child) and every server of this process (the connection sharer, the
 * forkserver client) proves. Kept here, at the bottom, so that those
 * servers need nothing above them.
 */
unsigned char *mproc__auth_key(void);

/* Server side of the mutual HMAC-SHA256 challenge: challenge, then answer. */
int mproc__auth_server(mproc__os_fd_t fd, const unsigned char *key);
/* Client side: answer, then challenge. */
int mproc__auth_client(mproc__os_fd_t fd, const unsigned char *key);

#endif
