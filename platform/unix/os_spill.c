/*
 * Unix backend: spill files, a queue's overflow.
 *
 * APR's files would do, but the overflow belongs with the queue's other
 * names in /dev/shm: memory-backed, and removed by the resource tracker
 * when a killed process tree leaves it behind. So it is a POSIX shared
 * memory object used as a file, with pread and pwrite.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "mproc_services.h"

struct mproc__os_spill {
    int fd;
};

int mproc__os_spill_open(mproc__os_spill_t **s, const char *name, int create)
{
    char path[64];
    struct stat st;
    int fd;
    *s = NULL;
    snprintf(path, sizeof path, "/%s", name);
    /*
     * The name is guessable as soon as the queue's segment shows in
     * /dev/shm, which every local user can list. So a create is exclusive
     * (a file someone made first is never adopted: it could be read,
     * filled with forged records or truncated by its owner), and an open
     * takes only a file of our own user: mode 0600 then keeps everyone
     * else out.
     */
    fd = shm_open(path, O_RDWR | O_CLOEXEC | (create ? O_CREAT | O_EXCL : 0),
                  0600);
    if (fd < 0) {
        if (errno == ENOENT)
            return mproc__set_error(MPROC_ENOTFOUND, "spill file '%s' is gone",
                                    name);
        if (errno == EEXIST)
            return mproc__set_error(MPROC_EEXIST,
                                    "spill file '%s' exists already (made by "
                                    "another process); refusing to adopt it",
                                    name);
        return mproc__unix_error(errno, "cannot open a spill file");
    }
    if (fstat(fd, &st) != 0) {
        int e = errno;
        close(fd);
        return mproc__unix_error(e, "cannot check a spill file");
    }
    if (st.st_uid != geteuid() || (st.st_mode & 077) != 0) {
        close(fd);
        return mproc__set_error(MPROC_EAUTH,
                                "spill file '%s' belongs to another user or "
                                "is open to others; refusing to use it",
                                name);
    }
    *s = malloc(sizeof **s);
    if (*s == NULL) {
        close(fd);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    (*s)->fd = fd;
    return 0;
}

int mproc__os_spill_write(mproc__os_spill_t *s, uint64_t offset,
                          const void *buf, size_t n)
{
    const char *p = buf;
    while (n > 0) {
        ssize_t w = pwrite(s->fd, p, n, (off_t) offset);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return mproc__unix_error(errno, "cannot write the spill file");
        }
        p += w;
        n -= (size_t) w;
        offset += (uint64_t) w;
    }
    return 0;
}

int mproc__os_spill_read(mproc__os_spill_t *s, uint64_t offset, void *buf,
                         size_t n)
{
    char *p = buf;
    while (n > 0) {
        ssize_t r = pread(s->fd, p, n, (off_t) offset);
        if (r < 0) {
            if (errno == EINTR)
                continue;
            return mproc__unix_error(errno, "cannot read the spill file");
        }
        if (r == 0)
            return mproc__set_error(MPROC_ECORRUPT, "the spill file is short");
        p += r;
        n -= (size_t) r;
        offset += (uint64_t) r;
    }
    return 0;
}

int mproc__os_spill_truncate(mproc__os_spill_t *s)
{
    if (ftruncate(s->fd, 0) < 0)
        return mproc__unix_error(errno, "cannot truncate the spill file");
    return 0;
}

void mproc__os_spill_close(mproc__os_spill_t *s)
{
    if (s == NULL)
        return;
    close(s->fd);
    free(s);
}

void mproc__os_spill_unlink(const char *name)
{
    char path[64];
    snprintf(path, sizeof path, "/%s", name);
    shm_unlink(path);
}
