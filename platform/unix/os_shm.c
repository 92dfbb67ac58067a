/*
 * Unix backend: named and anonymous shared memory segments.
 *
 * APR's shared memory cannot be reopened by name from a spawned child (APR
 * unlinks the name at once), so this is POSIX shm_open directly.
 */
#include "os_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "mproc_services.h"

/* The longest shared memory name the contract allows. */
#define SHM_NAME_MAX 31

/* ---- shared memory ----------------------------------------------------- */

struct mproc__os_shm {
    void *addr;
    size_t size;
};

/* The contract's names: 1 to 31 characters of [A-Za-z0-9_.-]. */
static int check_shm_name(const char *name, char path[SHM_NAME_MAX + 2])
{
    size_t i, n = strlen(name);
    if (n == 0 || n > SHM_NAME_MAX)
        return mproc__set_error(MPROC_EINVAL,
                                "shared memory name '%s' is not 1 to %d "
                                "characters long",
                                name, SHM_NAME_MAX);
    for (i = 0; i < n; i++) {
        if (!mproc__name_char_ok(name[i]))
            return mproc__set_error(MPROC_EINVAL,
                                    "shared memory name '%s' has a character "
                                    "other than A-Z a-z 0-9 _ . -",
                                    name);
    }
    path[0] = '/';
    memcpy(path + 1, name, n + 1);
    return 0;
}

static int shm_wrap(mproc__os_shm_t **shm, void *addr, size_t size)
{
    mproc__os_shm_t *s = malloc(sizeof *s);
    if (s == NULL) {
        munmap(addr, size);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    s->addr = addr;
    s->size = size;
    *shm = s;
    return 0;
}

int mproc__os_shm_create(mproc__os_shm_t **shm, const char *name, size_t size)
{
    char path[SHM_NAME_MAX + 2];
    void *addr;
    int fd, rc, err;

    *shm = NULL;
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL, "empty shared memory segment");
    if (name == NULL) {
        /* Anonymous: fork children share it through the inherited mapping. */
        addr = mmap(NULL, size, PROT_READ | PROT_WRITE,
                    MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (addr == MAP_FAILED)
            return mproc__unix_error(errno,
                                     "cannot map anonymous shared memory");
        return shm_wrap(shm, addr, size);
    }
    rc = check_shm_name(name, path);
    if (rc != 0)
        return rc;
    /* 0600: only this user's processes may open it, as Python does. */
    fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
    if (fd < 0) {
        if (errno == EEXIST)
            return mproc__set_error(MPROC_EEXIST,
                                    "shared memory '%s' exists already", name);
        return mproc__unix_error(errno, "cannot create shared memory");
    }
    /* ftruncate zero-fills: the contract's "zeroed bytes". */
    if (ftruncate(fd, (off_t) size) < 0) {
        err = errno;
        close(fd);
        shm_unlink(path);
        return mproc__unix_error(err, "cannot size shared memory");
    }
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    /* The mapping keeps the object alive; the descriptor is not needed. */
    close(fd);
    if (addr == MAP_FAILED) {
        shm_unlink(path);
        return mproc__unix_error(err, "cannot map shared memory");
    }
    rc = shm_wrap(shm, addr, size);
    if (rc != 0)
        shm_unlink(path);
    return rc;
}

int mproc__os_shm_open(mproc__os_shm_t **shm, const char *name, size_t size)
{
    char path[SHM_NAME_MAX + 2];
    struct stat st;
    void *addr;
    int fd, rc, err;

    *shm = NULL;
    if (name == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "anonymous shared memory cannot be opened");
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL, "empty shared memory segment");
    rc = check_shm_name(name, path);
    if (rc != 0)
        return rc;
    fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return mproc__set_error(MPROC_ENOTFOUND,
                                    "shared memory '%s' does not exist (its "
                                    "last user removed it)",
                                    name);
        return mproc__unix_error(errno, "cannot open shared memory");
    }
    if (fstat(fd, &st) < 0) {
        err = errno;
        close(fd);
        return mproc__unix_error(err, "cannot inspect shared memory");
    }
    if (st.st_size < 0 || (unsigned long long) st.st_size < size) {
        close(fd);
        return mproc__set_error(MPROC_ECORRUPT,
                                "shared memory '%s' has %lld bytes, fewer "
                                "than the %zu expected",
                                name, (long long) st.st_size, size);
    }
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    err = errno;
    close(fd);
    if (addr == MAP_FAILED)
        return mproc__unix_error(err, "cannot map shared memory");
    return shm_wrap(shm, addr, size);
}

void *mproc__os_shm_addr(const mproc__os_shm_t *shm)
{
    return shm->addr;
}

void mproc__os_shm_close(mproc__os_shm_t *shm)
{
    if (shm == NULL)
        return;
    /* A lock held by one of our threads in it keeps it mapped. */
    if (!mproc__unix_is_pinned(shm->addr, shm->size))
        munmap(shm->addr, shm->size);
    free(shm);
}

int mproc__os_shm_unlink(const char *name)
{
    char path[SHM_NAME_MAX + 2];
    if (name == NULL)
        return mproc__set_error(MPROC_EINVAL, "no shared memory name");
    if (check_shm_name(name, path) != 0)
        return MPROC_EINVAL;
    /* ENOENT: someone else removed it first, which is what we wanted. */
    if (shm_unlink(path) != 0) {
        if (errno == ENOENT)
            return mproc__set_error(
                MPROC_ENOTFOUND, "there is no shared memory named '%s'", name);
        return mproc__unix_error(errno, "cannot remove shared memory");
    }
    return 0;
}
