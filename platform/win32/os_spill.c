/*
 * Win32 backend: spill files, a queue's overflow.
 *
 * A pagefile-backed mapping disappears with its last handle, so a producer
 * that exits would take its spilled items with it. The overflow is
 * therefore a real file in the temporary directory, shared for reading,
 * writing and deletion, which outlives every handle until it is deleted.
 * (APR's file calls would do, but they want a pool per call site; these
 * four calls are simpler on the Win32 API directly.)
 */
#include "os_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <wchar.h>

#include "mproc_services.h"

struct mproc__os_spill {
    HANDLE h;
};

/* <temp dir>\<name> as UTF-16; names are plain ASCII. */
static int spill_path(const char *name, wchar_t *path, size_t cap)
{
    DWORD n = GetTempPathW((DWORD) cap, path);
    size_t i, len = strlen(name);
    if (n == 0 || n + len + 1 > cap)
        return mproc__win_error(GetLastError(),
                                "cannot find the temporary directory");
    for (i = 0; i <= len; i++)
        path[n + i] = (wchar_t) (unsigned char) name[i];
    return 0;
}

int mproc__os_spill_open(mproc__os_spill_t **s, const char *name, int create)
{
    wchar_t path[MAX_PATH + 64];
    HANDLE h;
    int rc = spill_path(name, path, sizeof path / sizeof path[0]);
    if (rc != 0)
        return rc;
    h = CreateFileW(path, GENERIC_READ | GENERIC_WRITE,
                    FILE_SHARE_READ | FILE_SHARE_WRITE | FILE_SHARE_DELETE,
                    NULL, create ? OPEN_ALWAYS : OPEN_EXISTING,
                    FILE_ATTRIBUTE_TEMPORARY, NULL);
    if (h == INVALID_HANDLE_VALUE) {
        DWORD err = GetLastError();
        if (err == ERROR_FILE_NOT_FOUND)
            return mproc__set_error(MPROC_ENOTFOUND, "spill file '%s' is gone",
                                    name);
        return mproc__win_error(err, "cannot open a spill file");
    }
    *s = malloc(sizeof **s);
    if (*s == NULL) {
        CloseHandle(h);
        return mproc__set_error(MPROC_ENOMEM, "out of memory");
    }
    (*s)->h = h;
    return 0;
}

/* One positioned transfer of at most 1 GiB, as a DWORD count allows. */
static int transfer(HANDLE h, uint64_t offset, void *buf, size_t n, int write)
{
    char *p = buf;
    while (n > 0) {
        OVERLAPPED ov;
        DWORD chunk = n > (1u << 30) ? (1u << 30) : (DWORD) n, done = 0;
        BOOL ok;
        memset(&ov, 0, sizeof ov);
        ov.Offset = (DWORD) offset;
        ov.OffsetHigh = (DWORD) (offset >> 32);
        ok = write ? WriteFile(h, p, chunk, &done, &ov)
                   : ReadFile(h, p, chunk, &done, &ov);
        if (!ok)
            return mproc__win_error(GetLastError(),
                                    write ? "cannot write the spill file"
                                          : "cannot read the spill file");
        if (done == 0)
            return mproc__set_error(MPROC_ECORRUPT, "the spill file is short");
        p += done;
        n -= done;
        offset += done;
    }
    return 0;
}

int mproc__os_spill_write(mproc__os_spill_t *s, uint64_t offset,
                          const void *buf, size_t n)
{
    return transfer(s->h, offset, (void *) buf, n, 1);
}

int mproc__os_spill_read(mproc__os_spill_t *s, uint64_t offset, void *buf,
                         size_t n)
{
    return transfer(s->h, offset, buf, n, 0);
}

int mproc__os_spill_truncate(mproc__os_spill_t *s)
{
    LARGE_INTEGER zero;
    zero.QuadPart = 0;
    if (!SetFilePointerEx(s->h, zero, NULL, FILE_BEGIN) || !SetEndOfFile(s->h))
        return mproc__win_error(GetLastError(),
                                "cannot truncate the spill file");
    return 0;
}

void mproc__os_spill_close(mproc__os_spill_t *s)
{
    if (s == NULL)
        return;
    CloseHandle(s->h);
    free(s);
}

void mproc__os_spill_unlink(const char *name)
{
    wchar_t path[MAX_PATH + 64];
    if (spill_path(name, path, sizeof path / sizeof path[0]) == 0)
        DeleteFileW(path);
}
