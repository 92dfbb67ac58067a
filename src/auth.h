/*
 * This file is private to mproc.
 *
 * The authentication challenge (auth.c).
 */
#ifndef MPROC_SRC_AUTH_H
#define MPROC_SRC_AUTH_H

#include "mproc_os.h"

/* Server side of the mutual HMAC-SHA256 challenge: challenge, then answer. */
int mproc__auth_server(mproc__os_fd_t fd, const unsigned char *key);
/* Client side: answer, then challenge. */
int mproc__auth_client(mproc__os_fd_t fd, const unsigned char *key);

#endif
