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
 * every server of this process (the connection sharer, the forkserver
 * client, a listener given no key) proves. It is random from its first
 * use on (made once, whichever thread asks first); process.c overwrites
 * it with the parent's in a child, and with the key a program sets. Kept
 * here, at the bottom, so that those servers need nothing above them.
 */
unsigned char *mproc__auth_key(void);

/*
 * The byte stream a handshake runs on: @read gets exactly @n bytes (the
 * end of the stream before that is MPROC_ECLOSED, a deadline passed
 * MPROC_ETIMEDOUT), @write sends all @n. Both set the sentence of their
 * failures; @ctx is theirs.
 */
typedef struct mproc__auth_io {
    int (*read)(void *ctx, void *buf, size_t n);
    int (*write)(void *ctx, const void *buf, size_t n);
    void *ctx;
} mproc__auth_io_t;

/*
 * Server side of the mutual HMAC-SHA256 challenge under @key of @keylen
 * bytes (any length from 1): challenge, then answer. 0; MPROC_EAUTH (a
 * wrong key: the peer's or, as it told us, ours); MPROC_ECORRUPT (the
 * peer's bytes are no handshake); or @io's failure.
 */
int mproc__auth_serve(const mproc__auth_io_t *io, const void *key,
                      size_t keylen);
/* Client side: answer, then challenge. The same statuses. */
int mproc__auth_answer(const mproc__auth_io_t *io, const void *key,
                       size_t keylen);

/*
 * Both sides on the plain handle @fd (blocking reads, no deadline) under
 * a process key of MPROC__AUTHKEY_SIZE bytes.
 */
int mproc__auth_server(mproc__os_fd_t fd, const unsigned char *key);
int mproc__auth_client(mproc__os_fd_t fd, const unsigned char *key);

/* Overwrites @n bytes of @buf with zeros, in a way no compiler drops. */
void mproc__wipe(void *buf, size_t n);

#endif
