/*
 * What the OS backends may use of the core: the error setter, growable
 * buffers and little-endian integers, exact reads, random bytes, and the
 * markers of the library's helper processes. This file is private to
 * mproc; it plays the role of libuv's uv-common.h. The backends include it
 * and mproc_os.h, never mproc_private.h (a layout test checks it), so that
 * the core's protocols and objects stay out of platform/.
 */
#ifndef MPROC_SERVICES_H
#define MPROC_SERVICES_H

#include <stddef.h>
#include <stdint.h>

#include "mproc.h"
#include "mproc_os.h"

#if defined(_MSC_VER)
    #define MPROC__TLS __declspec(thread)
#else
    #define MPROC__TLS __thread
#endif

#define MPROC__ARRAY_SIZE(a) (sizeof(a) / sizeof((a)[0]))

/*
 * Whether @c may stand in a name of the OS contract (shared memory,
 * semaphores, the tracker's names): A-Z a-z 0-9 _ . -, which every OS
 * takes as it is.
 */
static inline int mproc__name_char_ok(char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
           (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-';
}

/* ---- errors (error.c) ------------------------------------------------ */

/*
 * Records the sentence for the calling thread's last failure and returns
 * @status, so that `return mproc__set_error(MPROC_EINVAL, "...");` reads
 * naturally.
 */
int mproc__set_error(int status, const char *fmt, ...) MPROC_PRINTF(2, 3);
/* The status that went with the calling thread's last mproc__set_error(). */
int mproc__last_status(void);

/* ---- growable byte buffers (buf.c) ----------------------------------- */

typedef struct mproc__buf_t {
    unsigned char *data; /* malloc'ed, or NULL while empty */
    size_t len;          /* bytes in use */
    size_t cap;          /* bytes allocated */
} mproc__buf_t;

int mproc__buf_reserve(mproc__buf_t *b, size_t extra);
int mproc__buf_append(mproc__buf_t *b, const void *data, size_t n);
void mproc__buf_free(mproc__buf_t *b);
char *mproc__strdup(const char *s);
void mproc__put_u32(unsigned char *p, uint32_t v);
uint32_t mproc__get_u32(const unsigned char *p);
void mproc__put_i64(unsigned char *p, int64_t v);
int64_t mproc__get_i64(const unsigned char *p);

/* ---- reading and randomness (frame.c, auth.c) ------------------------ */

/* Reads exactly @n bytes; EOF before that is MPROC_ECLOSED. */
int mproc__read_exact(mproc__os_fd_t fd, void *buf, size_t n);

/*
 * Fills @buf with @n cryptographically random bytes. A system that gives
 * none aborts the process with a sentence on stderr: key material is
 * never made of zeros.
 */
void mproc__random_bytes(void *buf, size_t n);

/* ---- helper processes (bootstrap.c) ---------------------------------- */

/* argv[1] of the processes the library starts of its own program. */
#define MPROC__SPAWN_MARKER "--mproc-spawn"
#define MPROC__FORKSERVER_MARKER "--mproc-forkserver"
#define MPROC__TRACKER_MARKER "--mproc-tracker"

/* ---- the resource tracker's names (tracker.c) ------------------------ */

/*
 * The tracker takes only names of ours, ^mproc-[A-Za-z0-9_.-]{1,25}$ (the
 * contract's 31 characters at most): it removes whatever it is told about,
 * so it is no general unlink service. A message to it is one packet,
 * "R <name>" to register a name or "U <name>" to unregister it.
 */
#define MPROC__TRACKER_PREFIX "mproc-"
#define MPROC__TRACKER_NAME_MAX 31
/* Whether the @n bytes of @name are such a name (1) or not (0). */
int mproc__tracker_name_ok(const char *name, size_t n);
/*
 * It also takes the paths of local listeners of ours, a socket "sock" in
 * a private directory "mproc-*" (a manager's fresh address): an absolute
 * path of at most MPROC__TRACKER_PATH_MAX bytes, no newline, that ends in
 * "/mproc-<letters, digits, _ . ->/sock". It removes one that is still
 * registered when its tree ends (the directory too), and only if it is
 * such a socket, ours, in a directory of ours that only we may enter.
 */
#define MPROC__TRACKER_PATH_MAX 107
int mproc__tracker_socket_ok(const char *path, size_t n);
/* Either of the two: what a packet or a journal line may name. */
int mproc__tracker_entry_ok(const char *entry, size_t n);

#endif
