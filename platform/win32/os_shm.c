/*
 * Win32 backend: shared memory, a pagefile-backed file mapping named
 * "Local\<name>", so that a spawned child, which inherits no handle, opens
 * the same mapping by name. APR's Windows shared memory is backed by a file
 * whose path names the mapping, which is why it is not used.
 */
/* First: it sets _WIN32_WINNT before any C library header picks one. */
#include "os_internal.h"

#include <stdlib.h>
#include <string.h>

#include "mproc_services.h"

struct mproc__os_shm {
    HANDLE map; /* the file mapping; the kernel frees it with its last handle */
    void *addr; /* this process's view */
};

/* ---- shared memory ----------------------------------------------------- */

int mproc__os_shm_create(mproc__os_shm_t **shm, const char *name, size_t size)
{
    struct mproc__os_shm *s;
    mproc__win_name_t wname;
    uint64_t size64 = (uint64_t) size;
    DWORD err;
    int rc;

    *shm = NULL;
    if (size == 0)
        return mproc__set_error(MPROC_EINVAL,
                                "shared memory needs at least one byte");
    if (name != NULL) {
        rc = mproc__win_object_name(name, "shared memory segment", wname);
        if (rc != 0)
            return rc;
    }
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    /*
     * Backed by the paging file (INVALID_HANDLE_VALUE), not by a file of
     * ours: nothing is left on disk, and the pages a new mapping commits
     * are zeroed by the system. An unnamed mapping is reachable only
     * through its handle; Windows cannot fork, so none of its children will
     * ever see it, but it works in this process all the same.
     */
    s->map = CreateFileMappingW(
        INVALID_HANDLE_VALUE, NULL, PAGE_READWRITE, (DWORD) (size64 >> 32),
        (DWORD) (size64 & 0xffffffffu), name != NULL ? wname : NULL);
    err = GetLastError();
    rc = mproc__win_check_created(s->map, err, name, "shared memory segment");
    if (rc != 0) {
        free(s);
        return rc;
    }
    s->addr = MapViewOfFile(s->map, FILE_MAP_ALL_ACCESS, 0, 0, size);
    if (s->addr == NULL) {
        err = GetLastError();
        CloseHandle(s->map);
        free(s);
        return mproc__win_error(err, "cannot map shared memory");
    }
    *shm = s;
    return 0;
}

int mproc__os_shm_open(mproc__os_shm_t **shm, const char *name, size_t size)
{
    struct mproc__os_shm *s;
    mproc__win_name_t wname;
    MEMORY_BASIC_INFORMATION info;
    DWORD err;
    int rc;

    *shm = NULL;
    if (name == NULL)
        return mproc__set_error(MPROC_EINVAL,
                                "anonymous shared memory cannot be opened");
    rc = mproc__win_object_name(name, "shared memory segment", wname);
    if (rc != 0)
        return rc;
    s = calloc(1, sizeof *s);
    if (s == NULL)
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    s->map = OpenFileMappingW(FILE_MAP_ALL_ACCESS, FALSE, wname);
    err = GetLastError();
    rc = mproc__win_check_opened(s->map, err, name, "shared memory segment");
    if (rc != 0) {
        free(s);
        return rc;
    }
    /* The whole mapping: its size is not known until it is mapped. */
    s->addr = MapViewOfFile(s->map, FILE_MAP_ALL_ACCESS, 0, 0, 0);
    if (s->addr == NULL) {
        err = GetLastError();
        CloseHandle(s->map);
        free(s);
        return mproc__win_error(err, "cannot map shared memory");
    }
    /*
     * The view's size is the mapping's rounded up to whole pages, so this
     * catches a segment of a different layout (another version of the
     * program) but not one a few bytes short within its last page.
     */
    if (VirtualQuery(s->addr, &info, sizeof info) == 0) {
        err = GetLastError();
        mproc__os_shm_close(s);
        return mproc__win_error(err, "cannot query shared memory");
    }
    if (info.RegionSize < size) {
        unsigned long have = (unsigned long) info.RegionSize;
        mproc__os_shm_close(s);
        return mproc__set_error(MPROC_ECORRUPT,
                                "the shared memory segment '%s' has %lu bytes, "
                                "fewer than the %lu expected",
                                name, have, (unsigned long) size);
    }
    *shm = s;
    return 0;
}

void *mproc__os_shm_addr(const mproc__os_shm_t *shm)
{
    return shm->addr;
}

void mproc__os_shm_close(mproc__os_shm_t *shm)
{
    if (shm == NULL)
        return;
    /* The view keeps the mapping alive on its own: the order is free. */
    UnmapViewOfFile(shm->addr);
    CloseHandle(shm->map);
    free(shm);
}

int mproc__os_shm_unlink(const char *name)
{
    /*
     * Nothing to do: a Windows mapping has no name apart from its handles.
     * The kernel removes the name with the last handle or view, in whichever
     * process that is, and also when that process is killed.
     */
    (void) name;
    return 0;
}
